/*
 * policy_vocab.c: the words a policy file is written in (docs/policy.md): the fideslang
 * default taxonomy its categories and purposes name, the spelling of every enum value it sets,
 * and its durations and dates (UTC, proleptic Gregorian), with the arithmetic that adds a
 * duration to a time. Nothing here reads the YAML tree; policy_value.c does, with these.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "policy_int.h"

/* --- the fideslang default taxonomy (fideslang 3.x, deprecated keys left out) -------------- */

/* clang-format off */
static const char *const fides_categories[] = {
    "system", "system.authentication", "system.operations",
    "user", "user.account", "user.account.username",
    "user.authorization", "user.authorization.biometrics", "user.authorization.credentials",
    "user.authorization.password",
    "user.behavior", "user.behavior.browsing_history", "user.behavior.media_consumption",
    "user.behavior.purchase_history", "user.behavior.search_history",
    "user.biometrics", "user.biometrics.fingerprint", "user.biometrics.retinal",
    "user.biometrics.voice",
    "user.children", "user.children.children_under_thirteen", "user.children.thirteen_to_sixteen",
    "user.contact", "user.contact.address", "user.contact.address.city",
    "user.contact.address.country", "user.contact.address.mailing_address",
    "user.contact.address.postal_code", "user.contact.address.state",
    "user.contact.address.street", "user.contact.email", "user.contact.fax_number",
    "user.contact.phone_number", "user.contact.social_url",
    "user.content", "user.content.private", "user.content.public", "user.content.self_image",
    "user.criminal_history",
    "user.demographic", "user.demographic.age_range",
    "user.demographic.citizenship_or_immigration_status", "user.demographic.date_of_birth",
    "user.demographic.gender", "user.demographic.language", "user.demographic.marital_status",
    "user.demographic.philosophical_belief", "user.demographic.political_opinion",
    "user.demographic.profile", "user.demographic.protected_classifications",
    "user.demographic.race_ethnicity", "user.demographic.religious_belief",
    "user.demographic.sexual_orientation", "user.demographic.union_membership",
    "user.device", "user.device.cookie", "user.device.cookie_id", "user.device.device_id",
    "user.device.ip_address", "user.device.sensor", "user.device.telemetry",
    "user.financial", "user.financial.bank_account", "user.financial.credit_card",
    "user.government_id", "user.government_id.birth_certificate",
    "user.government_id.drivers_license_number", "user.government_id.immigration",
    "user.government_id.national_identification_number", "user.government_id.passport_number",
    "user.government_id.vehicle_registration",
    "user.health", "user.health.baby_formula", "user.health.condition", "user.health.genetic",
    "user.health.insurance_beneficiary_id", "user.health.maternity_clothing",
    "user.health.medical_diagnosis", "user.health.medications", "user.health.prescriptions",
    "user.health.record_id", "user.health.reproductive_or_sexual",
    "user.health.social_psychological_behavioral", "user.health.symptons",
    "user.health.treatment",
    "user.location", "user.location.coarse", "user.location.precise",
    "user.name", "user.name.first", "user.name.last",
    "user.payment",
    "user.privacy_preferences",
    "user.professional_information", "user.professional_information.job_title",
    "user.professional_information.workplace",
    "user.settings",
    "user.social_activity",
    "user.unique_id", "user.unique_id.deterministic", "user.unique_id.probablistic",
};

static const char *const fides_uses[] = {
    "analytics", "analytics.reporting", "analytics.reporting.ad_performance",
    "analytics.reporting.campaign_insights", "analytics.reporting.content_performance",
    "analytics.reporting.system", "analytics.reporting.system.performance",
    "collect",
    "employment", "employment.recruitment",
    "essential", "essential.fraud_detection", "essential.legal_obligation", "essential.service",
    "essential.service.authentication", "essential.service.notifications",
    "essential.service.notifications.email", "essential.service.notifications.sms",
    "essential.service.operations", "essential.service.operations.improve",
    "essential.service.operations.support", "essential.service.payment_processing",
    "essential.service.security", "essential.service.upgrades",
    "finance",
    "functional", "functional.service", "functional.service.improve", "functional.storage",
    "functional.storage.privacy_preferences",
    "marketing", "marketing.advertising", "marketing.advertising.first_party",
    "marketing.advertising.first_party.contextual", "marketing.advertising.first_party.targeted",
    "marketing.advertising.frequency_capping", "marketing.advertising.negative_targeting",
    "marketing.advertising.profiling", "marketing.advertising.serving",
    "marketing.advertising.third_party", "marketing.advertising.third_party.targeted",
    "marketing.communications", "marketing.communications.email",
    "marketing.communications.sms",
    "operations",
    "personalize", "personalize.content", "personalize.content.limited",
    "personalize.content.profiled", "personalize.content.profiling", "personalize.system",
    "sales",
    "third_party_sharing", "third_party_sharing.legal_obligation",
    "train_ai_system",
};
/* clang-format on */

static int in_list(const char *const *list, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

int cu_fides_category_known(const char *key)
{
    return in_list(fides_categories, CU_ARRAY_LEN(fides_categories), key);
}

int cu_fides_use_known(const char *key)
{
    return in_list(fides_uses, CU_ARRAY_LEN(fides_uses), key);
}

int pol_fides_under(const char *key, const char *root)
{
    size_t n = strlen(root);

    return strncmp(key, root, n) == 0 && (key[n] == '\0' || key[n] == '.');
}

/* --- names of enum values, as the file spells them ------------------------------------------ */

static const char *const basis_names[] = {
    [CU_BASIS_CONTRACT] = "contract",
    [CU_BASIS_LEGITIMATE_INTEREST] = "legitimate_interest",
    [CU_BASIS_CONSENT] = "consent",
    [CU_BASIS_LEGAL_OBLIGATION] = "legal_obligation",
};
static const char *const role_names[] = {
    [CU_DATA_CONTROLLER] = "controller",
    [CU_DATA_PROCESSOR] = "processor",
};
static const char *const event_names[] = {
    [CU_RETAIN_FROM_CREATED] = "created",
    [CU_RETAIN_FROM_LAST_ACTIVITY] = "last_activity",
    [CU_RETAIN_FROM_SUBSCRIPTION_END] = "subscription_end",
    [CU_RETAIN_FROM_REQUEST_RECEIVED] = "request_received",
};
static const char *const action_names[] = {
    [CU_RETAIN_THEN_DELETE] = "delete",
    [CU_RETAIN_THEN_ANONYMIZE] = "anonymize",
};
static const char *const cookie_names[] = {
    [CU_COOKIE_ESSENTIAL] = "essential",
    [CU_COOKIE_ANALYTICS] = "analytics",
    [CU_COOKIE_PREFERENCE] = "preference",
    [CU_COOKIE_ADVERTISING] = "advertising",
};
static const char *const rule_names[] = {
    [CU_COOKIE_NEVER] = "never",
    [CU_COOKIE_WITH_CONSENT] = "consent",
    [CU_COOKIE_ALWAYS] = "always",
};
static const char *const class_names[] = {
    [CU_FIELD_PLAIN] = "plain",
    [CU_FIELD_PERSONAL] = "personal",
    [CU_FIELD_SENSITIVE] = "sensitive",
    [CU_FIELD_FORBIDDEN] = "forbidden",
};

int pol_name_index(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (names[i] != NULL && strcmp(names[i], s) == 0)
            return (int)i;
    return -1;
}

static const char *name_of(const char *const *names, size_t n, unsigned i)
{
    return i < n && names[i] != NULL ? names[i] : "?";
}

const char *cu_legal_basis_name(cu_legal_basis b)
{
    return name_of(basis_names, CU_ARRAY_LEN(basis_names), (unsigned)b);
}

const char *cu_data_role_name(cu_data_role r)
{
    return name_of(role_names, CU_ARRAY_LEN(role_names), (unsigned)r);
}

const char *cu_retention_event_name(cu_retention_event e)
{
    return name_of(event_names, CU_ARRAY_LEN(event_names), (unsigned)e);
}

const char *cu_retention_action_name(cu_retention_action a)
{
    return name_of(action_names, CU_ARRAY_LEN(action_names), (unsigned)a);
}

#define VOCAB(names)                                                                               \
    {                                                                                              \
        names, CU_ARRAY_LEN(names)                                                                 \
    }

const pol_vocab pol_basis = VOCAB(basis_names);
const pol_vocab pol_role = VOCAB(role_names);
const pol_vocab pol_event = VOCAB(event_names);
const pol_vocab pol_action = VOCAB(action_names);
const pol_vocab pol_cookie = VOCAB(cookie_names);
const pol_vocab pol_rule = VOCAB(rule_names);
const pol_vocab pol_class = VOCAB(class_names);

/* --- durations and dates (UTC, proleptic Gregorian) --------------------------------------- */

/* Days since 1970-01-01 of a civil date (H. Hinnant's days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : dim[m - 1];
}

/* The largest count of each unit: 100 years. */
static const uint32_t unit_max[] = {
    [CU_DURATION_HOURS] = 876600,
    [CU_DURATION_DAYS] = 36525,
    [CU_DURATION_MONTHS] = 1200,
    [CU_DURATION_YEARS] = 100,
};

cu_rc cu_duration_parse(const char *s, cu_duration *out)
{
    static const char *const units[] = {
        [CU_DURATION_HOURS] = "h",
        [CU_DURATION_DAYS] = "d",
        [CU_DURATION_MONTHS] = "mo",
        [CU_DURATION_YEARS] = "y",
    };
    uint32_t n = 0;
    size_t i = 0;
    int u;

    if (s[0] < '0' || s[0] > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
        return CU_ERR_INVALID;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        if (n > 1000000)
            return CU_ERR_INVALID;
        n = n * 10 + (uint32_t)(s[i] - '0');
    }
    if ((u = pol_name_index(units, CU_ARRAY_LEN(units), s + i)) < 0 || n > unit_max[u])
        return CU_ERR_INVALID;
    out->count = n;
    out->unit = (cu_duration_unit)u;
    return CU_OK;
}

int64_t cu_duration_add(int64_t t, cu_duration d)
{
    int64_t days, secs, y, months, r;
    unsigned m, day;

    if ((unsigned)d.unit > CU_DURATION_YEARS)
        return t;
    if (d.unit == CU_DURATION_HOURS || d.unit == CU_DURATION_DAYS) {
        int64_t add = (int64_t)d.count * (d.unit == CU_DURATION_HOURS ? 3600 : 86400);
        if (__builtin_add_overflow(t, add, &r))
            return INT64_MAX;
        return r;
    }
    /* Calendar arithmetic for months and years; beyond year +-10^11 there is none to do. */
    if (t > INT64_C(3) * 1000000000 * 1000000 || t < -INT64_C(3) * 1000000000 * 1000000)
        return t;
    days = t / 86400;
    secs = t % 86400;
    if (secs < 0) {
        secs += 86400;
        days--;
    }
    civil_from_days(days, &y, &m, &day);
    months = y * 12 + (m - 1) + (int64_t)d.count * (d.unit == CU_DURATION_YEARS ? 12 : 1);
    y = months >= 0 ? months / 12 : (months - 11) / 12;
    m = (unsigned)(months - y * 12) + 1;
    if (day > days_in_month(y, m))
        day = days_in_month(y, m);
    return days_from_civil(y, m, day) * 86400 + secs;
}

cu_rc pol_date_parse(const char *s, size_t len, int64_t *out)
{
    unsigned y = 0, m, d;

    if (len != 10 || s[4] != '-' || s[7] != '-')
        return CU_ERR_INVALID;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return CU_ERR_INVALID;
    for (int i = 0; i < 4; i++)
        y = y * 10 + (unsigned)(s[i] - '0');
    m = (unsigned)(s[5] - '0') * 10 + (unsigned)(s[6] - '0');
    d = (unsigned)(s[8] - '0') * 10 + (unsigned)(s[9] - '0');
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        return CU_ERR_INVALID;
    *out = days_from_civil(y, m, d) * 86400;
    return CU_OK;
}
