/*
 * policy_int.h: what the files of the policy loader share, and nothing else includes.
 *
 * The loader reads a policy file in two passes (docs/policy.md). policy_yaml.c turns the text
 * into a small tree of pnodes (pass 1) and words every error as "FILE:LINE: where: reason";
 * policy_value.c reads single values of that tree against their schema (text, names, numbers,
 * durations, dates, one of a closed set); policy_sections.c fills the policy's categories,
 * purposes, sub-processors and collections, with the rules P-CON-1 and P-ENC-3;
 * policy_parse.c reads the file as a whole, the header and the small sections (P-CON-3), and is
 * cu_policy_parse and cu_policy_load; policy_vocab.c holds the fideslang taxonomy, the names of
 * enum values and durations and dates; policy.c the arena, cu_policy_free and the getters.
 *
 * Everything a loaded policy points to lives in its arena (pol_alloc): nothing here is freed
 * one by one, and a half-filled policy is released whole by cu_policy_free.
 */
#ifndef CU_POLICY_INT_H
#define CU_POLICY_INT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "util.h"

/* --- the arena (policy.c) ------------------------------------------------------------------ */

/* n zeroed bytes owned by p (freed with it), or NULL when out of memory. */
void *pol_alloc(cu_policy *p, size_t n);
/* An array of count zeroed elements of size bytes owned by p, or NULL. */
void *pol_array(cu_policy *p, size_t count, size_t size);
/* A copy of s owned by p, or NULL. */
char *pol_strdup(cu_policy *p, const char *s);

/* --- vocabulary, durations and dates (policy_vocab.c) --------------------------------------- */

/* A closed set of names as the file spells them, indexed by an enum's values (NULL entries are
 * no value). */
typedef struct pol_vocab {
    const char *const *names;
    size_t n;
} pol_vocab;

extern const pol_vocab pol_basis;  /* cu_legal_basis */
extern const pol_vocab pol_role;   /* cu_data_role */
extern const pol_vocab pol_event;  /* cu_retention_event */
extern const pol_vocab pol_action; /* cu_retention_action */
extern const pol_vocab pol_cookie; /* cu_cookie_category */
extern const pol_vocab pol_rule;   /* cu_cookie_rule */
extern const pol_vocab pol_class;  /* cu_field_class */

/* The index of s in names[0..n) (NULL entries skipped), or -1. */
int pol_name_index(const char *const *names, size_t n, const char *s);
/* 1 if key is root or below it in the taxonomy ("marketing.advertising.serving" is below
 * "marketing.advertising"). */
int pol_fides_under(const char *key, const char *root);
/* Parses s, len bytes "YYYY-MM-DD", a real date from 1970 on, into its midnight UTC in *out;
 * CU_ERR_INVALID otherwise. */
cu_rc pol_date_parse(const char *s, size_t len, int64_t *out);

/* --- pass 1: the YAML tree (policy_yaml.c) -------------------------------------------------- */

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

/* Parses c's input into *root; the caller frees it with pol_tree_free, also on error. */
cu_rc pol_tree_build(pctx *c, pnode **root);
/* Frees a tree (NULL is a no-op). */
void pol_tree_free(pnode *n);

/* An error at a line, located by the mapping being read: sets "NAME:LINE: where: reason" and
 * returns CU_ERR_INVALID. */
cu_rc pol_bad(pctx *c, int line, const char *fmt, ...) CU_PRINTF(3, 4);
/* An error in value v, located by the mapping being read and v's key ("dsr.answer"), unless
 * the location already ends with that key (a section, or a list's items). */
cu_rc pol_vbad(pctx *c, const pnode *v, const char *fmt, ...) CU_PRINTF(3, 4);
/* Sets "out of memory" and returns CU_ERR_NOMEM. */
cu_rc pol_nomem(pctx *c);
/* A scalar's text fit for a message in buf: at most 40 bytes, anything but printable ASCII as
 * '?'. Returns buf. */
const char *pol_show(const char *s, char buf[48]);

/* --- pass 2: values (policy_value.c) -------------------------------------------------------- */

/* Appends ".seg" (or "seg" at the top) to the error location; returns the length to restore
 * with pol_where_pop. */
size_t pol_where_push(pctx *c, const char *fmt, ...) CU_PRINTF(2, 3);
void pol_where_pop(pctx *c, size_t n);
/* Matches the keys of mapping m against keys[0..n): an unknown key is refused at its line, a
 * missing required one (bit i of req for keys[i]) at line `at`. vals[i] gets the value of
 * keys[i], or NULL. */
cu_rc pol_want_keys(pctx *c, const pnode *m, int at, const char *const *keys, size_t n,
                    uint32_t req, const pnode **vals);
/* The line of key in mapping m (m's own line if absent), for "missing key" messages inside
 * that key's value. */
int pol_key_line(const pnode *m, const char *key);
cu_rc pol_want_map(pctx *c, const pnode *v);
cu_rc pol_want_seq(pctx *c, const pnode *v);
/* Text of 1 to max-1 bytes without control characters; *out points into the tree. */
cu_rc pol_want_text(pctx *c, const pnode *v, size_t max, const char **out);
/* A name the policy defines or refers to: [a-z][a-z0-9_]*, under 64 bytes. */
cu_rc pol_want_ident(pctx *c, const pnode *v, const char *what, const char **out);
/* An unquoted decimal integer in [lo, hi]. */
cu_rc pol_want_uint(pctx *c, const pnode *v, unsigned lo, unsigned hi, unsigned *out);
cu_rc pol_want_bool(pctx *c, const pnode *v, int *out);
/* One of the names of vocab; *out is its index. */
cu_rc pol_want_enum(pctx *c, const pnode *v, const pol_vocab *vocab, const char *what, int *out);
/* A duration such as 30d (cu_duration_parse); with nonzero, longer than 0. */
cu_rc pol_want_duration(pctx *c, const pnode *v, int nonzero, cu_duration *out);
/* YYYY-MM-DD, a real date from 1970 on; *out is its midnight UTC. */
cu_rc pol_want_date(pctx *c, const pnode *v, int64_t *out);

/* --- pass 2: the sections that name each other (policy_sections.c) ------------------------- */

/* Each reads the value v of its top-level key (at: the key's line) into c->p. Categories come
 * first, then purposes, then what names them. */
cu_rc pol_parse_categories(pctx *c, const pnode *v, int at);
cu_rc pol_parse_purposes(pctx *c, const pnode *v, int at);
cu_rc pol_parse_operator_purposes(pctx *c, const pnode *v, int at);
cu_rc pol_parse_subprocessors(pctx *c, const pnode *v, int at);
cu_rc pol_parse_collections(pctx *c, const pnode *v, int at);
/* P-CON-5 (policy_never.c): the optional `never` list (v NULL: none), after the purposes, whose
 * data uses it then checks against it. */
cu_rc pol_parse_never(pctx *c, const pnode *v, int at);
/* P-CON-3 (policy_cookies.c): the `cookies` section, its further categories and its `gpc`
 * list. */
cu_rc pol_parse_cookies(pctx *c, const pnode *v, int at);

#endif
