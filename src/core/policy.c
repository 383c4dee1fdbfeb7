/*
 * policy.c: the policy file loader (docs/policy.md).
 *
 * Two passes. First libyaml's event parser builds a small tree of mappings, sequences and
 * scalars, each with its line, and refuses what the format never needs: aliases and anchors
 * (no expansion bombs), tags, more than one document, duplicate keys, NUL bytes, deep nesting
 * and more than CU_POLICY_MAX_NODES nodes. Then every section is checked against its schema
 * and copied into the policy's arena: unknown keys, missing keys, values of the wrong type,
 * bad durations and dangling references are refused, and the first error found is reported as
 * "FILE:LINE: where: reason". Sections are read in dependency order (categories, then the
 * purposes that name them, then what names purposes or categories), whatever their order in
 * the file.
 *
 * The rules a policy cannot break, whatever it says: advertising cookies are never set and
 * analytics or preference cookies need consent (P-CON-3); advertising and third-party sharing
 * need consent (P-CON-1); a field named like a card number can only be forbidden (P-ENC-3).
 */
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "core_int.h"
#include "policy.h"
#include "util.h"

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

/* 1 if key is root or below it in the taxonomy ("marketing.advertising.serving" is below
 * "marketing.advertising"). */
static int fides_under(const char *key, const char *root)
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

/* The index of s in names (NULL entries skipped), or -1. */
static int name_index(const char *const *names, size_t n, const char *s)
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

/* --- the arena: every string and array of a policy, freed at once ------------------------- */

#define CHUNK_SIZE 16384

struct cu_policy_chunk {
    cu_policy_chunk *next;
    size_t used, cap;
    max_align_t mem[];
};

/* n zeroed bytes owned by p, or NULL when out of memory. */
static void *pol_alloc(cu_policy *p, size_t n)
{
    const size_t a = sizeof(max_align_t);
    cu_policy_chunk *c = p->arena;
    void *r;

    if (n > SIZE_MAX / 2)
        return NULL;
    n = n == 0 ? a : (n + a - 1) / a * a;
    if (c == NULL || c->cap - c->used < n) {
        size_t cap = n > CHUNK_SIZE ? n : CHUNK_SIZE;
        if ((c = malloc(sizeof(*c) + cap)) == NULL)
            return NULL;
        c->next = p->arena;
        c->used = 0;
        c->cap = cap;
        p->arena = c;
    }
    r = (char *)c->mem + c->used;
    c->used += n;
    memset(r, 0, n);
    return r;
}

static void *pol_array(cu_policy *p, size_t count, size_t size)
{
    return count > SIZE_MAX / 2 / size ? NULL : pol_alloc(p, count * size);
}

static char *pol_strdup(cu_policy *p, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = pol_alloc(p, n);

    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

/* --- pass 1: the YAML tree ---------------------------------------------------------------- */

typedef enum pn_kind { PN_SCALAR, PN_MAP, PN_SEQ } pn_kind;

/* A node of the document. A mapping's kids alternate key and value; keys are scalars. */
typedef struct pnode pnode;
struct pnode {
    pn_kind kind;
    int line;        /* 1-based */
    int plain;       /* a scalar written without quotes */
    char *text;      /* a scalar's value, NUL-terminated, no NUL inside */
    const char *key; /* a mapping value's key (a list item: its list's), for messages */
    size_t len;
    pnode **kids;
    size_t n, cap;
};

#define MAP_LEN(m) ((m)->n / 2)
#define MAP_KEY(m, i) ((m)->kids[2 * (i)])
#define MAP_VAL(m, i) ((m)->kids[2 * (i) + 1])
#define MAX_KEYS_PER_MAP 1024 /* keeps the duplicate-key scan cheap */

static void tree_free(pnode *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->n; i++)
        tree_free(n->kids[i]);
    free(n->kids);
    free(n->text);
    free(n);
}

/* The parser's state: where messages point, and the policy being filled. */
typedef struct pctx {
    const char *name; /* the file, as messages name it */
    const char *text;
    size_t len;
    cu_err *err;
    cu_policy *p;
    size_t nodes;
    char where[160]; /* "categories.billing.retention" */
} pctx;

static cu_rc bad(pctx *c, int line, const char *fmt, ...) CU_PRINTF(3, 4);
static cu_rc vbad(pctx *c, const pnode *v, const char *fmt, ...) CU_PRINTF(3, 4);
static const char *show(const char *s, char buf[48]);
static cu_rc bad_in(pctx *c, int line, const char *where, const char *fmt, va_list ap)
    CU_PRINTF(4, 0);

/* Sets the error "NAME:LINE: where: reason" and returns CU_ERR_INVALID. */
static cu_rc bad_in(pctx *c, int line, const char *where, const char *fmt, va_list ap)
{
    char reason[CU_ERR_MSG];

    vsnprintf(reason, sizeof(reason), fmt, ap);
    if (where[0] != '\0')
        return cu_err_set(c->err, CU_ERR_INVALID, "%s:%d: %s: %s", c->name, line, where, reason);
    return cu_err_set(c->err, CU_ERR_INVALID, "%s:%d: %s", c->name, line, reason);
}

/* An error at a line, located by the mapping being read. */
static cu_rc bad(pctx *c, int line, const char *fmt, ...)
{
    va_list ap;
    cu_rc rc;

    va_start(ap, fmt);
    rc = bad_in(c, line, c->where, fmt, ap);
    va_end(ap);
    return rc;
}

/* An error in value v, located by the mapping being read and v's key ("dsr.answer"), unless
 * the location already ends with that key (a section, or a list's items). */
static cu_rc vbad(pctx *c, const pnode *v, const char *fmt, ...)
{
    char where[sizeof(c->where) + 64], b[48];
    size_t wl = strlen(c->where), kl;
    const char *k = v->key ? show(v->key, b) : NULL;
    va_list ap;
    cu_rc rc;

    kl = k ? strlen(k) : 0;
    if (k == NULL || (wl >= kl && strcmp(c->where + wl - kl, k) == 0 &&
                      (wl == kl || c->where[wl - kl - 1] == '.')))
        snprintf(where, sizeof(where), "%s", c->where);
    else
        snprintf(where, sizeof(where), "%s%s%s", c->where, wl ? "." : "", k);
    va_start(ap, fmt);
    rc = bad_in(c, v->line, where, fmt, ap);
    va_end(ap);
    return rc;
}

static cu_rc nomem(pctx *c)
{
    return cu_err_set(c->err, CU_ERR_NOMEM, "out of memory");
}

/* A scalar's text fit for a message: at most 40 bytes, anything but printable ASCII as '?'. */
static const char *show(const char *s, char buf[48])
{
    size_t i;

    for (i = 0; s[i] != '\0' && i < 40; i++)
        buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    if (s[i] != '\0') {
        memcpy(buf + i, "...", 3);
        i += 3;
    }
    buf[i] = '\0';
    return buf;
}

static int line_of_mark(size_t line0)
{
    return line0 >= INT_MAX ? INT_MAX : (int)line0 + 1;
}

/* The line of byte offset off of the input. */
static int line_at(const pctx *c, size_t off)
{
    int line = 1;

    for (size_t i = 0; i < off && i < c->len; i++)
        if (c->text[i] == '\n' && line < INT_MAX)
            line++;
    return line;
}

static cu_rc yaml_failed(pctx *c, const yaml_parser_t *yp)
{
    int line;

    if (yp->error == YAML_MEMORY_ERROR)
        return nomem(c);
    if (yp->error == YAML_READER_ERROR)
        line = line_at(c, yp->problem_offset);
    else if (yp->context != NULL && yp->problem_mark.index >= c->len)
        line = line_of_mark(yp->context_mark.line); /* at the end: where the construct began */
    else
        line = line_of_mark(yp->problem_mark.line);
    return bad(c, line, "invalid YAML: %s", yp->problem ? yp->problem : "syntax error");
}

/* Adds n under the innermost open container (or as the root). Takes n, freeing it on error. */
static cu_rc tree_attach(pctx *c, pnode **stack, size_t depth, pnode **root, pnode *n)
{
    pnode *parent;
    char b[48];

    if (depth == 0) {
        *root = n;
        return CU_OK;
    }
    parent = stack[depth - 1];
    if (parent->kind == PN_MAP && parent->n % 2 == 0) {
        if (n->kind != PN_SCALAR) {
            int line = n->line;
            tree_free(n);
            return bad(c, line, "mapping keys must be plain text");
        }
        if (parent->n / 2 >= MAX_KEYS_PER_MAP) {
            tree_free(n);
            return bad(c, parent->line, "more than %d keys in one mapping", MAX_KEYS_PER_MAP);
        }
        for (size_t k = 0; k < parent->n; k += 2)
            if (strcmp(parent->kids[k]->text, n->text) == 0) {
                cu_rc rc = bad(c, n->line, "duplicate key \"%s\"", show(n->text, b));
                tree_free(n);
                return rc;
            }
    } else if (parent->kind == PN_MAP && n->kind == PN_SCALAR && n->plain && n->len == 0) {
        n->line = parent->kids[parent->n - 1]->line; /* "key:" alone: point at the key */
    }
    if (parent->n == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 8;
        pnode **k = realloc(parent->kids, cap * sizeof(*k));
        if (k == NULL) {
            tree_free(n);
            return nomem(c);
        }
        parent->kids = k;
        parent->cap = cap;
    }
    if (parent->kind == PN_MAP && parent->n % 2 == 1)
        n->key = parent->kids[parent->n - 1]->text;
    else if (parent->kind == PN_SEQ)
        n->key = parent->key;
    parent->kids[parent->n++] = n;
    return CU_OK;
}

/* A new node for a scalar, mapping or sequence event. */
static cu_rc tree_node(pctx *c, const yaml_event_t *ev, pnode **out)
{
    const yaml_char_t *anchor, *tag;
    int line = line_of_mark(ev->start_mark.line);
    pnode *n;

    if (ev->type == YAML_SCALAR_EVENT) {
        anchor = ev->data.scalar.anchor;
        tag = ev->data.scalar.tag;
    } else if (ev->type == YAML_MAPPING_START_EVENT) {
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
    } else {
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
    }
    if (anchor != NULL)
        return bad(c, line, "anchors and aliases are not allowed");
    if (tag != NULL)
        return bad(c, line, "tags are not allowed");
    if (++c->nodes > CU_POLICY_MAX_NODES)
        return bad(c, line, "more than %d YAML nodes", CU_POLICY_MAX_NODES);
    if ((n = calloc(1, sizeof(*n))) == NULL)
        return nomem(c);
    n->line = line;
    if (ev->type == YAML_SCALAR_EVENT) {
        const char *v = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        n->kind = PN_SCALAR;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (memchr(v, '\0', len) != NULL) {
            free(n);
            return bad(c, line, "NUL characters are not allowed");
        }
        if ((n->text = malloc(len + 1)) == NULL) {
            free(n);
            return nomem(c);
        }
        memcpy(n->text, v, len);
        n->text[len] = '\0';
        n->len = len;
    } else {
        n->kind = ev->type == YAML_MAPPING_START_EVENT ? PN_MAP : PN_SEQ;
    }
    *out = n;
    return CU_OK;
}

typedef struct tree_state {
    pnode *stack[CU_POLICY_MAX_DEPTH];
    size_t depth;
    int docs;
    int done;
    pnode *root;
} tree_state;

static cu_rc tree_event(pctx *c, const yaml_event_t *ev, tree_state *t)
{
    int line = line_of_mark(ev->start_mark.line);
    pnode *n = NULL;
    cu_rc rc;

    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        t->done = 1;
        return CU_OK;
    case YAML_DOCUMENT_START_EVENT:
        if (t->docs++ > 0)
            return bad(c, line, "a policy file holds one YAML document");
        return CU_OK;
    case YAML_ALIAS_EVENT:
        return bad(c, line, "anchors and aliases are not allowed");
    case YAML_SCALAR_EVENT:
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
        if (ev->type != YAML_SCALAR_EVENT && t->depth == CU_POLICY_MAX_DEPTH)
            return bad(c, line, "nested more than %d levels deep", CU_POLICY_MAX_DEPTH);
        if ((rc = tree_node(c, ev, &n)) != CU_OK)
            return rc;
        if ((rc = tree_attach(c, t->stack, t->depth, &t->root, n)) != CU_OK)
            return rc;
        if (n->kind != PN_SCALAR)
            t->stack[t->depth++] = n;
        return CU_OK;
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
        if (t->depth > 0)
            t->depth--;
        return CU_OK;
    default:
        return CU_OK;
    }
}

/* Parses the input into *root (the caller frees it with tree_free, also on error). */
static cu_rc tree_build(pctx *c, pnode **root)
{
    yaml_parser_t yp;
    yaml_event_t ev;
    tree_state t;
    cu_rc rc = CU_OK;

    memset(&t, 0, sizeof(t));
    if (!yaml_parser_initialize(&yp))
        return nomem(c);
    yaml_parser_set_input_string(&yp, (const unsigned char *)c->text, c->len);
    while (rc == CU_OK && !t.done) {
        if (!yaml_parser_parse(&yp, &ev)) {
            rc = yaml_failed(c, &yp);
            break;
        }
        rc = tree_event(c, &ev, &t);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&yp);
    *root = t.root;
    if (rc == CU_OK && t.root == NULL)
        rc = bad(c, 1, "the policy is empty");
    return rc;
}

/* --- pass 2: values ----------------------------------------------------------------------- */

/* Appends ".seg" (or "seg" at the top) to the error location; returns the length to restore. */
static size_t where_push(pctx *c, const char *fmt, ...) CU_PRINTF(2, 3);

static size_t where_push(pctx *c, const char *fmt, ...)
{
    size_t n = strlen(c->where), at = n;
    va_list ap;

    if (n > 0 && fmt[0] != '[' && n + 1 < sizeof(c->where))
        c->where[at++] = '.';
    va_start(ap, fmt);
    vsnprintf(c->where + at, sizeof(c->where) - at, fmt, ap);
    va_end(ap);
    return n;
}

static void where_pop(pctx *c, size_t n)
{
    c->where[n] = '\0';
}

/* Matches the keys of mapping m against keys[0..n): an unknown key is refused at its line, a
 * missing required one (bit i of req for keys[i]) at line `at`. vals[i] gets the value of
 * keys[i], or NULL. */
static cu_rc want_keys(pctx *c, const pnode *m, int at, const char *const *keys, size_t n,
                       uint32_t req, const pnode **vals)
{
    char b[48];

    if (m->kind != PN_MAP)
        return vbad(c, m, "expected a mapping of keys");
    for (size_t i = 0; i < n; i++)
        vals[i] = NULL;
    for (size_t k = 0; k < MAP_LEN(m); k++) {
        const pnode *key = MAP_KEY(m, k);
        int i = name_index(keys, n, key->text);
        if (i < 0)
            return vbad(c, key, "unknown key \"%s\"", show(key->text, b));
        vals[i] = MAP_VAL(m, k);
    }
    for (size_t i = 0; i < n; i++)
        if ((req >> i & 1u) && vals[i] == NULL)
            return bad(c, at, "missing required key \"%s\"", keys[i]);
    return CU_OK;
}

/* The line of key in mapping m (m's own line if absent), for "missing key" messages inside
 * that key's value. */
static int key_line(const pnode *m, const char *key)
{
    for (size_t i = 0; i < MAP_LEN(m); i++)
        if (strcmp(MAP_KEY(m, i)->text, key) == 0)
            return MAP_KEY(m, i)->line;
    return m->line;
}

static cu_rc want_map(pctx *c, const pnode *v)
{
    return v->kind == PN_MAP ? CU_OK : vbad(c, v, "expected a mapping");
}

static cu_rc want_seq(pctx *c, const pnode *v)
{
    return v->kind == PN_SEQ ? CU_OK : vbad(c, v, "expected a list");
}

/* Text of 1 to max-1 bytes without control characters. */
static cu_rc want_text(pctx *c, const pnode *v, size_t max, const char **out)
{
    if (v->kind != PN_SCALAR)
        return vbad(c, v, "expected text");
    if (v->len == 0)
        return vbad(c, v, "must not be empty");
    if (v->len >= max)
        return vbad(c, v, "longer than %zu bytes", max - 1);
    for (size_t i = 0; i < v->len; i++)
        if ((unsigned char)v->text[i] < 0x20 || v->text[i] == 0x7f)
            return vbad(c, v, "must not contain control characters");
    *out = v->text;
    return CU_OK;
}

static int ident_ok(const char *s)
{
    size_t i;

    if (s[0] < 'a' || s[0] > 'z')
        return 0;
    for (i = 0; s[i] != '\0'; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return 0;
    return i < CU_POLICY_IDENT_MAX;
}

/* A name the policy defines or refers to: [a-z][a-z0-9_]*, under 64 bytes. */
static cu_rc want_ident(pctx *c, const pnode *v, const char *what, const char **out)
{
    char b[48];

    if (v->kind != PN_SCALAR)
        return vbad(c, v, "expected a %s", what);
    if (!ident_ok(v->text))
        return vbad(c, v, "%s \"%s\" must match [a-z][a-z0-9_]* and be under %d bytes", what,
                    show(v->text, b), CU_POLICY_IDENT_MAX);
    *out = v->text;
    return CU_OK;
}

/* An unquoted decimal integer in [lo, hi]. */
static cu_rc want_uint(pctx *c, const pnode *v, unsigned lo, unsigned hi, unsigned *out)
{
    unsigned long x = 0;
    size_t i;

    if (v->kind != PN_SCALAR || !v->plain || v->len == 0 || v->len > 9 ||
        (v->text[0] == '0' && v->len > 1))
        goto fail;
    for (i = 0; i < v->len; i++) {
        if (v->text[i] < '0' || v->text[i] > '9')
            goto fail;
        x = x * 10 + (unsigned long)(v->text[i] - '0');
    }
    if (x < lo || x > hi)
        goto fail;
    *out = (unsigned)x;
    return CU_OK;
fail:
    return vbad(c, v, "must be a whole number from %u to %u", lo, hi);
}

static cu_rc want_bool(pctx *c, const pnode *v, int *out)
{
    if (v->kind == PN_SCALAR && v->plain && strcmp(v->text, "true") == 0)
        *out = 1;
    else if (v->kind == PN_SCALAR && v->plain && strcmp(v->text, "false") == 0)
        *out = 0;
    else
        return vbad(c, v, "must be true or false");
    return CU_OK;
}

/* One of names[0..n) (NULL entries are not choices); *out is its index. */
static cu_rc want_enum(pctx *c, const pnode *v, const char *const *names, size_t n,
                       const char *what, int *out)
{
    char list[160] = "", b[48];
    size_t len = 0;
    int i = v->kind == PN_SCALAR ? name_index(names, n, v->text) : -1;

    if (i >= 0) {
        *out = i;
        return CU_OK;
    }
    for (size_t k = 0; k < n; k++)
        if (names[k] != NULL && len < sizeof(list))
            len +=
                (size_t)snprintf(list + len, sizeof(list) - len, "%s%s", len ? ", " : "", names[k]);
    if (v->kind != PN_SCALAR)
        return vbad(c, v, "expected a %s: %s", what, list);
    return vbad(c, v, "unknown %s \"%s\" (expected %s)", what, show(v->text, b), list);
}

static cu_rc want_duration(pctx *c, const pnode *v, int nonzero, cu_duration *out)
{
    char b[48];

    if (v->kind != PN_SCALAR || cu_duration_parse(v->text, out) != CU_OK)
        return vbad(c, v,
                    "bad duration \"%s\": expected a count and a unit h, d, mo or y, such as "
                    "72h, 30d, 12mo or 7y (at most 100 years)",
                    v->kind == PN_SCALAR ? show(v->text, b) : "");
    if (nonzero && out->count == 0)
        return vbad(c, v, "must be longer than 0");
    return CU_OK;
}

static cu_rc want_date(pctx *c, const pnode *v, int64_t *out);

/* --- pass 2: sections --------------------------------------------------------------------- */

static cu_rc parse_retention(pctx *c, const pnode *v, int at, cu_retention *r)
{
    static const char *const keys[] = {"keep", "from", "then"};
    const pnode *val[3];
    int ev, act = CU_RETAIN_THEN_DELETE;
    cu_rc rc;

    if ((rc = want_keys(c, v, at, keys, 3, 0x3, val)) != CU_OK ||
        (rc = want_duration(c, val[0], 0, &r->keep)) != CU_OK ||
        (rc = want_enum(c, val[1], event_names, CU_ARRAY_LEN(event_names), "event", &ev)) !=
            CU_OK ||
        (val[2] && (rc = want_enum(c, val[2], action_names, CU_ARRAY_LEN(action_names), "action",
                                   &act)) != CU_OK))
        return rc;
    r->from = (cu_retention_event)ev;
    r->then = (cu_retention_action)act;
    return CU_OK;
}

/* fides: one fideslang data category, or a list of them. */
static cu_rc parse_fides(pctx *c, const pnode *v, cu_policy_category *cat)
{
    const pnode *one = v;
    const pnode *const *items = &one;
    size_t n = 1;
    const char **keys;
    char b[48];

    if (v->kind == PN_SEQ) {
        items = (const pnode *const *)v->kids;
        n = v->n;
    }
    if (n == 0)
        return vbad(c, v, "must name at least one fideslang data category");
    if (n > CU_POLICY_MAX_FIDES)
        return vbad(c, v, "more than %d data categories", CU_POLICY_MAX_FIDES);
    if ((keys = pol_array(c->p, n, sizeof(*keys))) == NULL)
        return nomem(c);
    for (size_t i = 0; i < n; i++) {
        const pnode *k = items[i];
        if (k->kind != PN_SCALAR)
            return vbad(c, k, "expected a fideslang data category such as user.contact.email");
        if (!cu_fides_category_known(k->text))
            return vbad(c, k, "unknown fideslang data category \"%s\"", show(k->text, b));
        for (size_t j = 0; j < i; j++)
            if (strcmp(keys[j], k->text) == 0)
                return vbad(c, k, "\"%s\" listed twice", show(k->text, b));
        if ((keys[i] = pol_strdup(c->p, k->text)) == NULL)
            return nomem(c);
    }
    cat->fides = keys;
    cat->n_fides = n;
    return CU_OK;
}

static cu_rc parse_category(pctx *c, const pnode *v, int at, cu_policy_category *cat)
{
    static const char *const keys[] = {"description", "fides", "role", "retention"};
    const pnode *val[4];
    const char *desc = NULL;
    int role = c->p->role;
    size_t w;
    cu_rc rc;

    if ((rc = want_keys(c, v, at, keys, 4, 0xa, val)) != CU_OK)
        return rc;
    if (val[0] && (rc = want_text(c, val[0], CU_POLICY_TEXT_MAX, &desc)) != CU_OK)
        return rc;
    if (desc && (cat->description = pol_strdup(c->p, desc)) == NULL)
        return nomem(c);
    w = where_push(c, "fides");
    rc = parse_fides(c, val[1], cat);
    where_pop(c, w);
    if (rc != CU_OK)
        return rc;
    if (val[2] &&
        (rc = want_enum(c, val[2], role_names, CU_ARRAY_LEN(role_names), "role", &role)) != CU_OK)
        return rc;
    cat->role = (cu_data_role)role;
    w = where_push(c, "retention");
    rc = parse_retention(c, val[3], key_line(v, "retention"), &cat->retention);
    where_pop(c, w);
    return rc;
}

/* Parses a mapping of name -> entry, with 1 (or min) to max entries, through fn. */
static cu_rc parse_named(pctx *c, const pnode *v, size_t min, size_t max, const char *what,
                         void *array, size_t size,
                         cu_rc (*fn)(pctx *, const pnode *, int, void *, const char *))
{
    cu_rc rc;

    if ((rc = want_map(c, v)) != CU_OK)
        return rc;
    if (MAP_LEN(v) < min)
        return vbad(c, v, "must declare at least one %s", what);
    if (MAP_LEN(v) > max)
        return vbad(c, v, "more than %zu entries", max);
    for (size_t i = 0; i < MAP_LEN(v); i++) {
        const pnode *k = MAP_KEY(v, i);
        const char *name;
        size_t w;
        if ((rc = want_ident(c, k, what, &name)) != CU_OK)
            return rc;
        w = where_push(c, "%s", name);
        rc = fn(c, MAP_VAL(v, i), k->line, (char *)array + i * size, name);
        where_pop(c, w);
        if (rc != CU_OK)
            return rc;
    }
    return CU_OK;
}

static cu_rc category_entry(pctx *c, const pnode *v, int at, void *slot, const char *name)
{
    cu_policy_category *cat = slot;

    if ((cat->name = pol_strdup(c->p, name)) == NULL)
        return nomem(c);
    return parse_category(c, v, at, cat);
}

static cu_rc parse_categories(pctx *c, const pnode *v, int at)
{
    cu_policy *p = c->p;

    (void)at;
    if (v->kind == PN_MAP && MAP_LEN(v) <= CU_POLICY_MAX_CATEGORIES) {
        if ((p->categories = pol_array(p, MAP_LEN(v), sizeof(*p->categories))) == NULL)
            return nomem(c);
        p->n_categories = MAP_LEN(v);
    }
    return parse_named(c, v, 1, CU_POLICY_MAX_CATEGORIES, "category", p->categories,
                       sizeof(*p->categories), category_entry);
}

/* A category named by the value v, which must exist. */
static cu_rc want_category(pctx *c, const pnode *v, const cu_policy_category **out)
{
    const char *name;
    char b[48];
    cu_rc rc;

    if ((rc = want_ident(c, v, "category", &name)) != CU_OK)
        return rc;
    if ((*out = cu_policy_category_get(c->p, name)) == NULL)
        return vbad(c, v, "unknown category \"%s\"", show(name, b));
    return CU_OK;
}

static cu_rc want_purpose(pctx *c, const pnode *v, cu_policy_purpose **out)
{
    const char *name;
    char b[48];
    cu_rc rc;

    if ((rc = want_ident(c, v, "purpose", &name)) != CU_OK)
        return rc;
    for (size_t i = 0; i < c->p->n_purposes; i++)
        if (strcmp(c->p->purposes[i].name, name) == 0) {
            *out = &c->p->purposes[i];
            return CU_OK;
        }
    return vbad(c, v, "unknown purpose \"%s\"", show(name, b));
}

static cu_rc parse_purpose_categories(pctx *c, const pnode *v, cu_policy_purpose *pu)
{
    const cu_policy_category **cats;
    cu_rc rc;

    if ((rc = want_seq(c, v)) != CU_OK)
        return rc;
    if (v->n == 0)
        return vbad(c, v, "must name at least one category");
    if (v->n > CU_POLICY_MAX_CATEGORIES)
        return vbad(c, v, "more than %d categories", CU_POLICY_MAX_CATEGORIES);
    if ((cats = pol_array(c->p, v->n, sizeof(*cats))) == NULL)
        return nomem(c);
    for (size_t i = 0; i < v->n; i++) {
        if ((rc = want_category(c, v->kids[i], &cats[i])) != CU_OK)
            return rc;
        for (size_t j = 0; j < i; j++)
            if (cats[j] == cats[i])
                return vbad(c, v->kids[i], "category \"%s\" listed twice", cats[i]->name);
    }
    pu->categories = cats;
    pu->n_categories = v->n;
    return CU_OK;
}

/* P-CON-1: the legal basis must fit the data use. Advertising and selling or sharing data need
 * consent; the service itself cannot hang on consent; legal-obligation uses need that basis. */
static cu_rc check_basis(pctx *c, const pnode *at, const cu_policy_purpose *pu)
{
    const char *u = pu->data_use;

    if (strcmp(u, "essential.legal_obligation") == 0 ||
        strcmp(u, "third_party_sharing.legal_obligation") == 0) {
        if (pu->basis != CU_BASIS_LEGAL_OBLIGATION)
            return vbad(c, at, "data use %s needs basis legal_obligation", u);
        return CU_OK;
    }
    if ((fides_under(u, "marketing.advertising") || fides_under(u, "third_party_sharing")) &&
        pu->basis != CU_BASIS_CONSENT)
        return vbad(c, at, "data use %s needs basis consent (P-CON-1)", u);
    if (fides_under(u, "essential") && pu->basis == CU_BASIS_CONSENT)
        return vbad(c, at,
                    "data use %s is essential to the service and cannot rest on consent: use "
                    "contract, legitimate_interest or legal_obligation",
                    u);
    return CU_OK;
}

static cu_rc purpose_entry(pctx *c, const pnode *v, int at, void *slot, const char *name)
{
    static const char *const keys[] = {"description", "data_use", "basis", "categories"};
    cu_policy_purpose *pu = slot;
    const pnode *val[4];
    const char *desc = NULL;
    char b[48];
    int basis;
    size_t w;
    cu_rc rc;

    if ((pu->name = pol_strdup(c->p, name)) == NULL)
        return nomem(c);
    if ((rc = want_keys(c, v, at, keys, 4, 0xe, val)) != CU_OK)
        return rc;
    if (val[0] && (rc = want_text(c, val[0], CU_POLICY_TEXT_MAX, &desc)) != CU_OK)
        return rc;
    if (desc && (pu->description = pol_strdup(c->p, desc)) == NULL)
        return nomem(c);
    if (val[1]->kind != PN_SCALAR || !cu_fides_use_known(val[1]->text))
        return vbad(c, val[1], "unknown fideslang data use \"%s\"",
                    val[1]->kind == PN_SCALAR ? show(val[1]->text, b) : "");
    if ((pu->data_use = pol_strdup(c->p, val[1]->text)) == NULL)
        return nomem(c);
    if ((rc = want_enum(c, val[2], basis_names, CU_ARRAY_LEN(basis_names), "legal basis",
                        &basis)) != CU_OK)
        return rc;
    pu->basis = (cu_legal_basis)basis;
    w = where_push(c, "categories");
    rc = parse_purpose_categories(c, val[3], pu);
    where_pop(c, w);
    if (rc != CU_OK)
        return rc;
    return check_basis(c, val[2], pu);
}

static cu_rc parse_purposes(pctx *c, const pnode *v, int at)
{
    cu_policy *p = c->p;

    (void)at;
    /* Names first, so that want_purpose sees every purpose whatever the order. */
    if (v->kind == PN_MAP && MAP_LEN(v) <= CU_POLICY_MAX_PURPOSES) {
        if ((p->purposes = pol_array(p, MAP_LEN(v), sizeof(*p->purposes))) == NULL)
            return nomem(c);
        p->n_purposes = MAP_LEN(v);
    }
    return parse_named(c, v, 1, CU_POLICY_MAX_PURPOSES, "purpose", p->purposes,
                       sizeof(*p->purposes), purpose_entry);
}

/* P-ACC-4: the purposes platform staff may state, each a declared purpose. */
static cu_rc parse_operator_purposes(pctx *c, const pnode *v, int at)
{
    cu_rc rc;

    (void)at;
    if ((rc = want_seq(c, v)) != CU_OK)
        return rc;
    for (size_t i = 0; i < v->n; i++) {
        cu_policy_purpose *pu;
        if ((rc = want_purpose(c, v->kids[i], &pu)) != CU_OK)
            return rc;
        if (pu->operator_ok)
            return vbad(c, v->kids[i], "purpose \"%s\" listed twice", pu->name);
        pu->operator_ok = 1;
    }
    return CU_OK;
}

/* P-SHR-1: who data may leave to, for which purpose, and where it goes. */
static cu_rc parse_subprocessors(pctx *c, const pnode *v, int at)
{
    static const char *const keys[] = {"name", "purpose", "location"};
    cu_policy *p = c->p;
    cu_rc rc = CU_OK;

    (void)at;
    if ((rc = want_seq(c, v)) != CU_OK)
        return rc;
    if (v->n > CU_POLICY_MAX_SUBPROCESSORS)
        return vbad(c, v, "more than %d sub-processors", CU_POLICY_MAX_SUBPROCESSORS);
    if (v->n && (p->subprocessors = pol_array(p, v->n, sizeof(*p->subprocessors))) == NULL)
        return nomem(c);
    for (size_t i = 0; i < v->n && rc == CU_OK; i++) {
        cu_policy_subprocessor *s = &p->subprocessors[i];
        const pnode *val[3];
        const char *name, *loc;
        cu_policy_purpose *pu;
        size_t w = where_push(c, "[%zu]", i);
        if ((rc = want_keys(c, v->kids[i], v->kids[i]->line, keys, 3, 0x7, val)) == CU_OK &&
            (rc = want_text(c, val[0], CU_POLICY_TEXT_MAX, &name)) == CU_OK &&
            (rc = want_purpose(c, val[1], &pu)) == CU_OK &&
            (rc = want_text(c, val[2], CU_POLICY_TEXT_MAX, &loc)) == CU_OK) {
            s->purpose = pu;
            if ((s->name = pol_strdup(p, name)) == NULL ||
                (s->location = pol_strdup(p, loc)) == NULL)
                rc = nomem(c);
        }
        where_pop(c, w);
    }
    p->n_subprocessors = v->n;
    return rc;
}

/* P-CON-3: essential cookies always (or never), analytics and preference cookies only with
 * consent (or never), advertising cookies never. */
static cu_rc parse_cookies(pctx *c, const pnode *v, int at)
{
    cu_rc rc;

    (void)at;
    if ((rc = want_map(c, v)) != CU_OK)
        return rc;
    for (size_t i = 0; i < MAP_LEN(v); i++) {
        const pnode *k = MAP_KEY(v, i), *r = MAP_VAL(v, i);
        int cat, rule;
        if ((rc = want_enum(c, k, cookie_names, CU_ARRAY_LEN(cookie_names), "cookie category",
                            &cat)) != CU_OK ||
            (rc = want_enum(c, r, rule_names, CU_ARRAY_LEN(rule_names), "cookie rule", &rule)) !=
                CU_OK)
            return rc;
        if (cat == CU_COOKIE_ADVERTISING && rule != CU_COOKIE_NEVER)
            return vbad(c, r, "advertising cookies are never allowed (P-CON-3)");
        if (cat == CU_COOKIE_ESSENTIAL && rule == CU_COOKIE_WITH_CONSENT)
            return vbad(c, r, "essential cookies need no consent: always or never");
        if ((cat == CU_COOKIE_ANALYTICS || cat == CU_COOKIE_PREFERENCE) && rule == CU_COOKIE_ALWAYS)
            return vbad(c, r, "%s cookies need consent (P-CON-3): consent or never",
                        cookie_names[cat]);
        c->p->cookies[cat] = (cu_cookie_rule)rule;
    }
    return CU_OK;
}

/* P-DSR-7. */
static cu_rc parse_dsr(pctx *c, const pnode *v, int at)
{
    static const char *const keys[] = {"acknowledge_business_days", "answer", "extension"};
    cu_dsr_deadlines *d = &c->p->dsr;
    const pnode *val[3];
    cu_rc rc;

    if ((rc = want_keys(c, v, at, keys, 3, 0x7, val)) != CU_OK ||
        (rc = want_uint(c, val[0], 1, 60, &d->acknowledge_business_days)) != CU_OK ||
        (rc = want_duration(c, val[1], 1, &d->answer)) != CU_OK)
        return rc;
    return want_duration(c, val[2], 0, &d->extension);
}

/* P-NOT-1, P-NOT-2. */
static cu_rc parse_changes(pctx *c, const pnode *v, int at)
{
    static const char *const keys[] = {"notice_period", "fresh_consent"};
    const pnode *val[2];
    cu_rc rc;

    if ((rc = want_keys(c, v, at, keys, 2, 0x1, val)) != CU_OK ||
        (rc = want_duration(c, val[0], 0, &c->p->notice_period)) != CU_OK)
        return rc;
    return val[1] ? want_bool(c, val[1], &c->p->fresh_consent) : CU_OK;
}

/* P-RET-2, P-RET-3. */
static cu_rc parse_termination(pctx *c, const pnode *v, int at)
{
    static const char *const keys[] = {"export_window", "backup_window"};
    const pnode *val[2];
    cu_rc rc;

    if ((rc = want_keys(c, v, at, keys, 2, 0x3, val)) != CU_OK ||
        (rc = want_duration(c, val[0], 0, &c->p->export_window)) != CU_OK)
        return rc;
    return want_duration(c, val[1], 0, &c->p->backup_window);
}

/* P-ANA-1. */
static cu_rc parse_analytics(pctx *c, const pnode *v, int at)
{
    static const char *const keys[] = {"min_group_size"};
    const pnode *val[1];
    cu_rc rc;

    if ((rc = want_keys(c, v, at, keys, 1, 0x1, val)) != CU_OK)
        return rc;
    return want_uint(c, val[0], 2, CU_POLICY_GROUP_MAX, &c->p->analytics_min_group);
}

/* The name rules of cu_collection_define: 1 to 128 bytes, no leading '$', no control bytes. */
static int field_name_ok(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 128 || name[0] == '$')
        return 0;
    for (; *name; name++)
        if ((unsigned char)*name < 0x20 || *name == 0x7f)
            return 0;
    return 1;
}

/* One field: a class name, or {class: ..., indexed: true|false}. */
static cu_rc parse_field(pctx *c, const pnode *k, const pnode *v, cu_field_def *f)
{
    static const char *const keys[] = {"class", "indexed"};
    const pnode *val[2] = {v, NULL};
    char b[48];
    int cls, ix = -1;
    cu_rc rc;

    if (!field_name_ok(k->text))
        return vbad(c, k,
                    "field name \"%s\" must be 1 to 128 bytes, without a leading '$' or control "
                    "characters",
                    show(k->text, b));
    if (v->kind == PN_MAP && (rc = want_keys(c, v, k->line, keys, 2, 0x1, val)) != CU_OK)
        return rc;
    if ((rc = want_enum(c, val[0], class_names, CU_ARRAY_LEN(class_names), "field class", &cls)) !=
            CU_OK ||
        (val[1] && (rc = want_bool(c, val[1], &ix)) != CU_OK))
        return rc;
    if (cu_field_is_card_name(k->text) && cls != CU_FIELD_FORBIDDEN)
        return vbad(c, val[0],
                    "field \"%s\" holds card numbers and can only be forbidden (P-ENC-3)",
                    show(k->text, b));
    if (cls == CU_FIELD_FORBIDDEN && ix == 1)
        return vbad(c, val[1], "a forbidden field is never stored, so never indexed");
    if (cls == CU_FIELD_SENSITIVE && ix == 0)
        return vbad(c, val[1], "sensitive fields are always indexed (P-ENC-6)");
    if ((f->name = pol_strdup(c->p, k->text)) == NULL)
        return nomem(c);
    f->cls = (cu_field_class)cls;
    f->indexed = cls == CU_FIELD_SENSITIVE || ix == 1;
    return CU_OK;
}

static cu_rc parse_fields(pctx *c, const pnode *v, cu_policy_collection *col)
{
    cu_field_def *defs = NULL;
    cu_rc rc;

    if ((rc = want_map(c, v)) != CU_OK)
        return rc;
    if (MAP_LEN(v) > CU_POLICY_MAX_FIELDS)
        return vbad(c, v, "more than %d fields", CU_POLICY_MAX_FIELDS);
    if (MAP_LEN(v) && (defs = pol_array(c->p, MAP_LEN(v), sizeof(*defs))) == NULL)
        return nomem(c);
    for (size_t i = 0; i < MAP_LEN(v); i++) {
        char b[48];
        size_t w = where_push(c, "%s", show(MAP_KEY(v, i)->text, b));
        rc = parse_field(c, MAP_KEY(v, i), MAP_VAL(v, i), &defs[i]);
        where_pop(c, w);
        if (rc != CU_OK)
            return rc;
    }
    col->fields = defs;
    col->n_fields = MAP_LEN(v);
    return CU_OK;
}

static cu_rc parse_collections(pctx *c, const pnode *v, int at)
{
    static const char *const keys[] = {"description", "category", "fields"};
    cu_policy *p = c->p;
    cu_rc rc;

    (void)at;
    if ((rc = want_map(c, v)) != CU_OK)
        return rc;
    if (MAP_LEN(v) > CU_POLICY_MAX_COLLECTIONS)
        return vbad(c, v, "more than %d collections", CU_POLICY_MAX_COLLECTIONS);
    if (MAP_LEN(v) && (p->collections = pol_array(p, MAP_LEN(v), sizeof(*p->collections))) == NULL)
        return nomem(c);
    for (size_t i = 0; i < MAP_LEN(v); i++) {
        cu_policy_collection *col = &p->collections[i];
        const pnode *k = MAP_KEY(v, i), *val[3];
        const char *desc;
        char b[48];
        size_t w;
        if (!cu_collection_name_ok(k->text))
            return vbad(c, k,
                        "collection name \"%s\" must match [a-z][a-z0-9_]* and be under %d bytes",
                        show(k->text, b), CU_COLLECTION_MAX);
        if ((col->name = pol_strdup(p, k->text)) == NULL)
            return nomem(c);
        p->n_collections = i + 1;
        w = where_push(c, "%s", k->text);
        if ((rc = want_keys(c, MAP_VAL(v, i), k->line, keys, 3, 0x6, val)) == CU_OK &&
            (!val[0] || (rc = want_text(c, val[0], CU_POLICY_TEXT_MAX, &desc)) == CU_OK) &&
            (rc = want_category(c, val[1], &col->category)) == CU_OK) {
            size_t w2 = where_push(c, "fields");
            rc = parse_fields(c, val[2], col);
            where_pop(c, w2);
        }
        where_pop(c, w);
        if (rc != CU_OK)
            return rc;
    }
    return CU_OK;
}

/* --- the file as a whole ------------------------------------------------------------------ */

enum {
    K_FORMAT,
    K_ID,
    K_NAME,
    K_VERSION,
    K_EFFECTIVE,
    K_ROLE,
    K_CATEGORIES,
    K_PURPOSES,
    K_OPERATOR,
    K_SUBPROC,
    K_COOKIES,
    K_MIN_AGE,
    K_DSR,
    K_CHANGES,
    K_TERMINATION,
    K_ANALYTICS,
    K_COLLECTIONS,
    K__COUNT
};

static const char *const root_keys[K__COUNT] = {
    [K_FORMAT] = "custos_policy",
    [K_ID] = "id",
    [K_NAME] = "name",
    [K_VERSION] = "version",
    [K_EFFECTIVE] = "effective_date",
    [K_ROLE] = "role",
    [K_CATEGORIES] = "categories",
    [K_PURPOSES] = "purposes",
    [K_OPERATOR] = "operator_purposes",
    [K_SUBPROC] = "sub_processors",
    [K_COOKIES] = "cookies",
    [K_MIN_AGE] = "minimum_age",
    [K_DSR] = "dsr",
    [K_CHANGES] = "changes",
    [K_TERMINATION] = "termination",
    [K_ANALYTICS] = "analytics",
    [K_COLLECTIONS] = "collections",
};

/* One of the scalars at the top of the file, id to role. */
static cu_rc header_value(pctx *c, int k, const pnode *v)
{
    cu_policy *p = c->p;
    const char *text = NULL;
    unsigned format;
    int role;
    cu_rc rc;

    switch (k) {
    case K_FORMAT:
        if ((rc = want_uint(c, v, 1, 1000, &format)) == CU_OK && format != CU_POLICY_FORMAT)
            rc = vbad(c, v, "format %u is not supported (this Custos reads %d)", format,
                      CU_POLICY_FORMAT);
        return rc;
    case K_ID:
        if ((rc = want_ident(c, v, "policy id", &text)) == CU_OK && !(p->id = pol_strdup(p, text)))
            rc = nomem(c);
        return rc;
    case K_NAME:
        if ((rc = want_text(c, v, CU_POLICY_TEXT_MAX, &text)) == CU_OK &&
            !(p->name = pol_strdup(p, text)))
            rc = nomem(c);
        return rc;
    case K_VERSION:
        if ((rc = want_text(c, v, CU_POLICY_IDENT_MAX, &text)) == CU_OK &&
            !(p->version = pol_strdup(p, text)))
            rc = nomem(c);
        return rc;
    case K_EFFECTIVE:
        if ((rc = want_date(c, v, &p->effective)) == CU_OK)
            memcpy(p->effective_date, v->text, 10);
        return rc;
    default:
        if ((rc = want_enum(c, v, role_names, CU_ARRAY_LEN(role_names), "role", &role)) == CU_OK)
            p->role = (cu_data_role)role;
        return rc;
    }
}

static cu_rc parse_header(pctx *c, const pnode *const *val)
{
    for (int k = K_FORMAT; k <= K_ROLE; k++) {
        size_t w = where_push(c, "%s", root_keys[k]);
        cu_rc rc = header_value(c, k, val[k]);
        where_pop(c, w);
        if (rc != CU_OK)
            return rc;
    }
    return CU_OK;
}

/* Runs one section's parser with the error location set to its key. */
static cu_rc section(pctx *c, const pnode *root, const pnode *const *val, int k,
                     cu_rc (*fn)(pctx *, const pnode *, int))
{
    size_t w = where_push(c, "%s", root_keys[k]);
    cu_rc rc = fn(c, val[k], key_line(root, root_keys[k]));

    where_pop(c, w);
    return rc;
}

/* P-AGE-1. */
static cu_rc parse_min_age(pctx *c, const pnode *v, int at)
{
    (void)at;
    return want_uint(c, v, 1, CU_POLICY_MIN_AGE_MAX, &c->p->min_age);
}

static cu_rc parse_root(pctx *c, const pnode *root)
{
    static const struct {
        int key;
        cu_rc (*fn)(pctx *, const pnode *, int);
    } order[] = {
        {K_CATEGORIES, parse_categories},
        {K_PURPOSES, parse_purposes},
        {K_OPERATOR, parse_operator_purposes},
        {K_SUBPROC, parse_subprocessors},
        {K_COOKIES, parse_cookies},
        {K_MIN_AGE, parse_min_age},
        {K_DSR, parse_dsr},
        {K_CHANGES, parse_changes},
        {K_TERMINATION, parse_termination},
        {K_ANALYTICS, parse_analytics},
        {K_COLLECTIONS, parse_collections},
    };
    const pnode *val[K__COUNT];
    cu_rc rc;

    if (root->kind != PN_MAP)
        return vbad(c, root, "a policy is a mapping of the keys in docs/policy.md");
    if ((rc = want_keys(c, root, root->line, root_keys, K__COUNT, (1u << K__COUNT) - 1, val)) !=
            CU_OK ||
        (rc = parse_header(c, val)) != CU_OK)
        return rc;
    for (size_t i = 0; i < CU_ARRAY_LEN(order); i++)
        if ((rc = section(c, root, val, order[i].key, order[i].fn)) != CU_OK)
            return rc;
    return CU_OK;
}

cu_rc cu_policy_parse(const char *text, size_t len, const char *name, cu_policy **out, cu_err *err)
{
    pctx c;
    pnode *root = NULL;
    cu_policy *p;
    cu_rc rc;

    *out = NULL;
    if (name == NULL)
        name = "policy";
    if (len > CU_POLICY_MAX)
        return cu_err_set(err, CU_ERR_LIMIT, "%s: larger than %d bytes", name, CU_POLICY_MAX);
    if ((p = calloc(1, sizeof(*p))) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    memset(&c, 0, sizeof(c));
    c.name = name;
    c.text = text != NULL ? text : "";
    c.len = text != NULL ? len : 0;
    c.err = err;
    c.p = p;
    rc = tree_build(&c, &root);
    if (rc == CU_OK)
        rc = parse_root(&c, root);
    tree_free(root);
    if (rc != CU_OK) {
        cu_policy_free(p);
        return rc;
    }
    *out = p;
    return CU_OK;
}

cu_rc cu_policy_load(const char *path, cu_policy **out, cu_err *err)
{
    char *text = NULL;
    size_t n = 0;
    cu_rc rc;

    *out = NULL;
    if ((rc = cu_file_read(path, CU_POLICY_MAX, &text, &n, err)) != CU_OK)
        return rc;
    rc = cu_policy_parse(text, n, path, out, err);
    free(text);
    return rc;
}

void cu_policy_free(cu_policy *p)
{
    if (p == NULL)
        return;
    while (p->arena != NULL) {
        cu_policy_chunk *next = p->arena->next;
        free(p->arena);
        p->arena = next;
    }
    free(p);
}

/* --- getters ------------------------------------------------------------------------------ */

const char *cu_policy_id(const cu_policy *p)
{
    return p->id;
}

const char *cu_policy_name(const cu_policy *p)
{
    return p->name;
}

const char *cu_policy_version(const cu_policy *p)
{
    return p->version;
}

int64_t cu_policy_effective(const cu_policy *p)
{
    return p->effective;
}

cu_data_role cu_policy_role(const cu_policy *p)
{
    return p->role;
}

unsigned cu_policy_min_age(const cu_policy *p)
{
    return p->min_age;
}

cu_dsr_deadlines cu_policy_dsr(const cu_policy *p)
{
    return p->dsr;
}

cu_duration cu_policy_notice_period(const cu_policy *p)
{
    return p->notice_period;
}

int cu_policy_category_is_log(const cu_policy_category *c)
{
    for (size_t f = 0; f < c->n_fides; f++)
        if (strncmp(c->fides[f], "system.operations", 17) == 0)
            return 1;
    return 0;
}

/* P-RET-4: a log category counted from its entries' creation keeps them at least floor_days.
 * One counted from the subscription's end keeps the whole log while the tenant is active; the
 * sweep keeps the floor after it too. */
cu_rc cu_policy_log_floor_check(const cu_policy *p, unsigned floor_days, cu_err *err)
{
    for (size_t i = 0; i < p->n_categories; i++) {
        const cu_policy_category *c = &p->categories[i];
        const cu_retention *r = &c->retention;
        if (!cu_policy_category_is_log(c) || r->from == CU_RETAIN_FROM_SUBSCRIPTION_END ||
            r->from == CU_RETAIN_FROM_REQUEST_RECEIVED)
            continue;
        if (cu_duration_add(0, r->keep) < (int64_t)floor_days * 86400)
            return cu_err_set(err, CU_ERR_INVALID,
                              "category %s keeps the audit log less than the platform's floor "
                              "of %u days",
                              c->name, floor_days);
    }
    return CU_OK;
}

int cu_policy_fresh_consent(const cu_policy *p)
{
    return p->fresh_consent;
}

cu_duration cu_policy_export_window(const cu_policy *p)
{
    return p->export_window;
}

cu_duration cu_policy_backup_window(const cu_policy *p)
{
    return p->backup_window;
}

unsigned cu_policy_analytics_min_group(const cu_policy *p)
{
    return p->analytics_min_group;
}

cu_cookie_rule cu_policy_cookie(const cu_policy *p, cu_cookie_category c)
{
    return (unsigned)c < CU_COOKIE__COUNT ? p->cookies[c] : CU_COOKIE_NEVER;
}

size_t cu_policy_category_count(const cu_policy *p)
{
    return p->n_categories;
}

const cu_policy_category *cu_policy_category_at(const cu_policy *p, size_t i)
{
    return i < p->n_categories ? &p->categories[i] : NULL;
}

const cu_policy_category *cu_policy_category_get(const cu_policy *p, const char *name)
{
    /* While loading, entries past the one being read have no name yet. */
    for (size_t i = 0; i < p->n_categories && p->categories[i].name != NULL; i++)
        if (strcmp(p->categories[i].name, name) == 0)
            return &p->categories[i];
    return NULL;
}

size_t cu_policy_purpose_count(const cu_policy *p)
{
    return p->n_purposes;
}

const cu_policy_purpose *cu_policy_purpose_at(const cu_policy *p, size_t i)
{
    return i < p->n_purposes ? &p->purposes[i] : NULL;
}

const cu_policy_purpose *cu_policy_purpose_get(const cu_policy *p, const char *name)
{
    for (size_t i = 0; i < p->n_purposes && p->purposes[i].name != NULL; i++)
        if (strcmp(p->purposes[i].name, name) == 0)
            return &p->purposes[i];
    return NULL;
}

const cu_policy_purpose *cu_policy_operator_purpose(const cu_policy *p, const char *name)
{
    const cu_policy_purpose *pu = cu_policy_purpose_get(p, name);

    return pu != NULL && pu->operator_ok ? pu : NULL;
}

int cu_policy_purpose_covers(const cu_policy_purpose *pu, const char *category)
{
    for (size_t i = 0; i < pu->n_categories; i++)
        if (strcmp(pu->categories[i]->name, category) == 0)
            return 1;
    return 0;
}

size_t cu_policy_subprocessor_count(const cu_policy *p)
{
    return p->n_subprocessors;
}

const cu_policy_subprocessor *cu_policy_subprocessor_at(const cu_policy *p, size_t i)
{
    return i < p->n_subprocessors ? &p->subprocessors[i] : NULL;
}

size_t cu_policy_collection_count(const cu_policy *p)
{
    return p->n_collections;
}

const cu_policy_collection *cu_policy_collection_at(const cu_policy *p, size_t i)
{
    return i < p->n_collections ? &p->collections[i] : NULL;
}

const cu_policy_collection *cu_policy_collection_get(const cu_policy *p, const char *name)
{
    for (size_t i = 0; i < p->n_collections; i++)
        if (strcmp(p->collections[i].name, name) == 0)
            return &p->collections[i];
    return NULL;
}

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
    if ((u = name_index(units, CU_ARRAY_LEN(units), s + i)) < 0 || n > unit_max[u])
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

/* YYYY-MM-DD, a real date from 1970 on; *out is its midnight UTC. */
static cu_rc want_date(pctx *c, const pnode *v, int64_t *out)
{
    const char *s = v->text;
    unsigned y = 0, m, d;

    if (v->kind != PN_SCALAR || v->len != 10 || s[4] != '-' || s[7] != '-')
        goto fail;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            goto fail;
    for (int i = 0; i < 4; i++)
        y = y * 10 + (unsigned)(s[i] - '0');
    m = (unsigned)(s[5] - '0') * 10 + (unsigned)(s[6] - '0');
    d = (unsigned)(s[8] - '0') * 10 + (unsigned)(s[9] - '0');
    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
        goto fail;
    *out = days_from_civil(y, m, d) * 86400;
    return CU_OK;
fail:
    return vbad(c, v, "must be a date YYYY-MM-DD from 1970 on");
}
