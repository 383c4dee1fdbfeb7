/*
 * policy_yaml.c: pass 1 of the policy loader, and its error messages.
 *
 * libyaml's event parser builds a small tree of mappings, sequences and scalars, each with its
 * line, and this file refuses what the format never needs: aliases and anchors (no expansion
 * bombs), tags, more than one document, duplicate keys, NUL bytes, nesting deeper than
 * CU_POLICY_MAX_DEPTH and more than CU_POLICY_MAX_NODES nodes. Every error of the loader is
 * worded here as "FILE:LINE: where: reason", the first one found being the one reported.
 * This is the only file of the core that includes <yaml.h>.
 */
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "policy_int.h"

#define MAX_KEYS_PER_MAP 1024 /* keeps the duplicate-key scan cheap */

void pol_tree_free(pnode *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->n; i++)
        pol_tree_free(n->kids[i]);
    free(n->kids);
    free(n->text);
    free(n);
}

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
cu_rc pol_bad(pctx *c, int line, const char *fmt, ...)
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
cu_rc pol_vbad(pctx *c, const pnode *v, const char *fmt, ...)
{
    char where[sizeof(c->where) + 64], b[48];
    size_t wl = strlen(c->where), kl;
    const char *k = v->key ? pol_show(v->key, b) : NULL;
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

cu_rc pol_nomem(pctx *c)
{
    return cu_err_set(c->err, CU_ERR_NOMEM, "out of memory");
}

/* A scalar's text fit for a message: at most 40 bytes, anything but printable ASCII as '?'. */
const char *pol_show(const char *s, char buf[48])
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
        return pol_nomem(c);
    if (yp->error == YAML_READER_ERROR)
        line = line_at(c, yp->problem_offset);
    else if (yp->context != NULL && yp->problem_mark.index >= c->len)
        line = line_of_mark(yp->context_mark.line); /* at the end: where the construct began */
    else
        line = line_of_mark(yp->problem_mark.line);
    return pol_bad(c, line, "invalid YAML: %s", yp->problem ? yp->problem : "syntax error");
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
            pol_tree_free(n);
            return pol_bad(c, line, "mapping keys must be plain text");
        }
        if (parent->n / 2 >= MAX_KEYS_PER_MAP) {
            pol_tree_free(n);
            return pol_bad(c, parent->line, "more than %d keys in one mapping", MAX_KEYS_PER_MAP);
        }
        for (size_t k = 0; k < parent->n; k += 2)
            if (strcmp(parent->kids[k]->text, n->text) == 0) {
                cu_rc rc = pol_bad(c, n->line, "duplicate key \"%s\"", pol_show(n->text, b));
                pol_tree_free(n);
                return rc;
            }
    } else if (parent->kind == PN_MAP && n->kind == PN_SCALAR && n->plain && n->len == 0) {
        n->line = parent->kids[parent->n - 1]->line; /* "key:" alone: point at the key */
    }
    if (parent->n == parent->cap) {
        size_t cap = parent->cap ? parent->cap * 2 : 8;
        pnode **k = realloc(parent->kids, cap * sizeof(*k));
        if (k == NULL) {
            pol_tree_free(n);
            return pol_nomem(c);
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
        return pol_bad(c, line, "anchors and aliases are not allowed");
    if (tag != NULL)
        return pol_bad(c, line, "tags are not allowed");
    if (++c->nodes > CU_POLICY_MAX_NODES)
        return pol_bad(c, line, "more than %d YAML nodes", CU_POLICY_MAX_NODES);
    if ((n = calloc(1, sizeof(*n))) == NULL)
        return pol_nomem(c);
    n->line = line;
    if (ev->type == YAML_SCALAR_EVENT) {
        const char *v = (const char *)ev->data.scalar.value;
        size_t len = ev->data.scalar.length;
        n->kind = PN_SCALAR;
        n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (memchr(v, '\0', len) != NULL) {
            free(n);
            return pol_bad(c, line, "NUL characters are not allowed");
        }
        if ((n->text = malloc(len + 1)) == NULL) {
            free(n);
            return pol_nomem(c);
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
            return pol_bad(c, line, "a policy file holds one YAML document");
        return CU_OK;
    case YAML_ALIAS_EVENT:
        return pol_bad(c, line, "anchors and aliases are not allowed");
    case YAML_SCALAR_EVENT:
    case YAML_MAPPING_START_EVENT:
    case YAML_SEQUENCE_START_EVENT:
        if (ev->type != YAML_SCALAR_EVENT && t->depth == CU_POLICY_MAX_DEPTH)
            return pol_bad(c, line, "nested more than %d levels deep", CU_POLICY_MAX_DEPTH);
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
cu_rc pol_tree_build(pctx *c, pnode **root)
{
    yaml_parser_t yp;
    yaml_event_t ev;
    tree_state t;
    cu_rc rc = CU_OK;

    memset(&t, 0, sizeof(t));
    if (!yaml_parser_initialize(&yp))
        return pol_nomem(c);
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
        rc = pol_bad(c, 1, "the policy is empty");
    return rc;
}
