/*
 * policy.h: the layout of a loaded policy (core-internal; the public face is the policy section
 * of include/custos.h) and the limits the loader enforces.
 *
 * A cu_policy owns every byte it points to through one arena (policy.c), so the public structs
 * can hand out const pointers that all die together in cu_policy_free(). References between
 * sections are resolved at load time: a purpose points at its categories, a collection at its
 * category, a sub-processor at its purpose. Nothing in a policy is personal data.
 *
 * The loader behind this face is split by job over policy_*.c; what those files share is in
 * policy_int.h, which nothing outside them includes.
 */
#ifndef CU_POLICY_H
#define CU_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "custos.h"

/* The one format version this loader reads (the file's `custos_policy:` key). */
#define CU_POLICY_FORMAT 1

/* Limits: a policy is a page of rules, not a data set. */
#define CU_POLICY_IDENT_MAX 64  /* names of categories, purposes, policy id: < 64 bytes */
#define CU_POLICY_TEXT_MAX 1024 /* names, descriptions, locations, version */
#define CU_POLICY_MAX_CATEGORIES 128
#define CU_POLICY_MAX_PURPOSES 128
#define CU_POLICY_MAX_SUBPROCESSORS 128
#define CU_POLICY_MAX_COLLECTIONS 256
#define CU_POLICY_MAX_FIELDS 256  /* per collection */
#define CU_POLICY_MAX_FIDES 32    /* fideslang keys per category */
#define CU_POLICY_MAX_DEPTH 12    /* YAML nesting */
#define CU_POLICY_MAX_NODES 50000 /* YAML nodes in a file */
#define CU_POLICY_MIN_AGE_MAX 120
#define CU_POLICY_GROUP_MAX 1000000

typedef struct cu_policy_chunk cu_policy_chunk;

struct cu_policy {
    cu_policy_chunk *arena; /* owns every string and array below */
    char *id;
    char *name;
    char *version;
    char effective_date[11]; /* YYYY-MM-DD as written */
    int64_t effective;
    cu_data_role role;

    cu_policy_category *categories;
    size_t n_categories;
    cu_policy_purpose *purposes;
    size_t n_purposes;
    cu_policy_subprocessor *subprocessors;
    size_t n_subprocessors;
    cu_policy_collection *collections;
    size_t n_collections;

    /* P-CON-3: the rule of each cookie category, the four first (cu_cookie_category), then
     * the further ones the section names (cookie_more, in file order). */
    cu_cookie_rule cookies[CU_COOKIE_MAX];
    const char *cookie_more[CU_COOKIE_MORE_MAX];
    size_t n_cookie_more;
    /* P-CON-3: bit c set if Sec-GPC turns cookie category c off (the cookies section's `gpc`
     * list; without one, every category but essential). */
    uint32_t cookies_gpc;
    unsigned min_age;
    cu_dsr_deadlines dsr;
    cu_duration notice_period;
    int fresh_consent;
    cu_duration export_window;
    cu_duration backup_window;
    unsigned analytics_min_group;
    unsigned never; /* P-CON-5: the CU_NEVER_* bits the policy promises */
    /* P-NOT-2: per purpose (parallel to purposes), consents given before this time no longer
     * count; 0: any. Not from the file: the policy cache sets it from the version history. */
    int64_t *fresh_since;
};

/* 1 if key is in the fideslang default taxonomy (v3, without its deprecated keys): a data
 * category such as "user.contact.email", or a data use such as "essential.service". */
int cu_fides_category_known(const char *key);
int cu_fides_use_known(const char *key);

#endif
