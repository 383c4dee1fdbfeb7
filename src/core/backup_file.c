/*
 * backup_file.c: a backup's two files (P-BAK-1; docs/backup.md).
 *
 * <id>.manifest: one line of JSON (what the backup holds: time, vault, schema version, audit
 * chain heads, size and hash of the backup file, the master key versions it needs, tenants,
 * expiry), then "signature <base64>": Ed25519 with the vault's audit key over
 * "custos-backup-manifest 1\n" and the JSON. No secret, no personal value.
 *
 * <id>.cbk: "custos-backup 1 <id>\n", the secretstream header, then messages each
 * [4-byte big-endian length][ciphertext], every one with the id as associated data: the audit
 * key file, the database in CU_BACKUP_CHUNK pieces, and an empty final message. A file cut
 * short, a message altered, dropped or moved from another backup fails to open; its hash is
 * in the signed manifest besides, so a manifest put beside another backup's file is refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup_int.h"
#include "util.h"

#define MANIFEST_SIG_PREFIX "custos-backup-manifest 1\n"
#define MANIFEST_MAX (16u * 1024 * 1024)
#define FILE_MAGIC "custos-backup 1 "

void cu_manifest_cleanup(cu_manifest *m)
{
    free(m->heads);
    m->heads = NULL;
    m->nheads = 0;
}

static void add_id(cJSON *o, const char *name, cu_id id)
{
    char b[24];

    snprintf(b, sizeof(b), "%" PRIu64, (uint64_t)id);
    cJSON_AddStringToObject(o, name, b);
}

static void add_hex(cJSON *o, const char *name, const uint8_t *p, size_t n)
{
    char hex[129];

    cu_hex_encode(p, n, hex);
    cJSON_AddStringToObject(o, name, hex);
}

static cJSON *manifest_json(const cu_manifest *m)
{
    cJSON *o = cJSON_CreateObject(), *a;

    cJSON_AddStringToObject(o, "format", "custos-backup 1");
    cJSON_AddStringToObject(o, "id", m->info.id);
    add_hex(o, "vault", m->vault, 32);
    cJSON_AddNumberToObject(o, "created_at", (double)m->info.created_at);
    cJSON_AddNumberToObject(o, "expires_at", (double)m->info.expires_at);
    cJSON_AddNumberToObject(o, "schema_version", m->info.schema_version);
    cJSON_AddNumberToObject(o, "db_bytes", (double)m->info.db_bytes);
    cJSON_AddNumberToObject(o, "bytes", (double)m->info.bytes);
    add_hex(o, "sha256", m->sha256, 32);
    cJSON_AddStringToObject(o, "key_id", m->info.id);
    cJSON_AddNumberToObject(o, "journal_seq", (double)m->info.journal_seq);
    a = cJSON_AddArrayToObject(o, "master_versions");
    for (size_t i = 0; i < m->nmaster; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(m->master_versions[i]));
    a = cJSON_AddArrayToObject(o, "heads");
    for (size_t i = 0; i < m->nheads; i++) {
        cJSON *h = cJSON_CreateObject();
        add_id(h, "tenant", m->heads[i].tenant);
        cJSON_AddNumberToObject(h, "seq", (double)m->heads[i].seq);
        add_hex(h, "hash", m->heads[i].hash, 32);
        cJSON_AddItemToArray(a, h);
    }
    return o;
}

cu_rc cu_manifest_write(const char *path, const cu_manifest *m, const uint8_t *sk, cu_err *err)
{
    cJSON *o = manifest_json(m);
    char *json = o ? cJSON_PrintUnformatted(o) : NULL, *msg = NULL, sb64[100];
    size_t jl, pl = strlen(MANIFEST_SIG_PREFIX);
    uint8_t sig[CU_SIGNBYTES];
    cu_rc rc = CU_OK;

    cJSON_Delete(o);
    if (json == NULL || (msg = malloc(pl + (jl = strlen(json)) + 128)) == NULL) {
        free(json);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    memcpy(msg, MANIFEST_SIG_PREFIX, pl);
    memcpy(msg + pl, json, jl);
    cu_sign(sk, (const uint8_t *)msg, pl + jl, sig);
    if (cu_b64_encode(sig, sizeof(sig), sb64, sizeof(sb64)) != CU_OK)
        rc = cu_err_set(err, CU_ERR_INVALID, "could not encode the manifest's signature");
    if (rc == CU_OK) {
        int n = snprintf(msg, pl + jl + 128, "%s\nsignature %s\n", json, sb64);
        rc = cu_file_write_atomic(path, msg, (size_t)n, 0644, err);
    }
    free(msg);
    free(json);
    return rc;
}

static int hex_get(const cJSON *o, const char *name, uint8_t *out, size_t n)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, name));

    if (s == NULL || strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned b;
        if (sscanf(s + 2 * i, "%2x", &b) != 1)
            return -1;
        out[i] = (uint8_t)b;
    }
    return 0;
}

static double num_get(const cJSON *o, const char *name, int *bad)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, name);

    if (!cJSON_IsNumber(x) || x->valuedouble < 0) {
        *bad = 1;
        return 0;
    }
    return x->valuedouble;
}

static int parse_heads(const cJSON *a, cu_manifest *m)
{
    size_t n = (size_t)cJSON_GetArraySize(a);
    const cJSON *h;
    int bad = 0;

    if (!cJSON_IsArray(a) || n > CU_BACKUP_MAX_TENANTS + 1 ||
        (n > 0 && (m->heads = calloc(n, sizeof(*m->heads))) == NULL))
        return -1;
    cJSON_ArrayForEach(h, a) {
        const char *t = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(h, "tenant"));
        cu_bhead *b = &m->heads[m->nheads++];
        if (t == NULL || hex_get(h, "hash", b->hash, 32) != 0)
            return -1;
        b->tenant = strtoull(t, NULL, 10);
        b->seq = (uint64_t)num_get(h, "seq", &bad);
    }
    m->info.tenants = m->nheads > 0 ? m->nheads - 1 : 0;
    return bad ? -1 : 0;
}

static int parse_manifest(const cJSON *o, cu_manifest *m)
{
    const char *id = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "id"));
    const char *fmt = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "format"));
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "master_versions"), *x;
    int bad = 0;

    if (fmt == NULL || strcmp(fmt, "custos-backup 1") != 0 || id == NULL ||
        !cu_backup_id_ok(id) || hex_get(o, "vault", m->vault, 32) != 0 ||
        hex_get(o, "sha256", m->sha256, 32) != 0 || !cJSON_IsArray(a))
        return -1;
    memcpy(m->info.id, id, 33);
    m->info.created_at = (int64_t)num_get(o, "created_at", &bad);
    m->info.expires_at = (int64_t)num_get(o, "expires_at", &bad);
    m->info.schema_version = (int)num_get(o, "schema_version", &bad);
    m->info.db_bytes = (uint64_t)num_get(o, "db_bytes", &bad);
    m->info.bytes = (uint64_t)num_get(o, "bytes", &bad);
    m->info.journal_seq = (uint64_t)num_get(o, "journal_seq", &bad);
    cJSON_ArrayForEach(x, a) {
        if (!cJSON_IsNumber(x) || m->nmaster == CU_ARRAY_LEN(m->master_versions))
            return -1;
        m->master_versions[m->nmaster++] = (uint32_t)x->valuedouble;
    }
    if (bad)
        return -1;
    return parse_heads(cJSON_GetObjectItemCaseSensitive(o, "heads"), m);
}

cu_rc cu_manifest_read(const char *path, const uint8_t pk[32], cu_manifest *m, cu_err *err)
{
    char *text = NULL, *nl, *msg = NULL;
    size_t len = 0, pl = strlen(MANIFEST_SIG_PREFIX), sl = 0;
    uint8_t sig[CU_SIGNBYTES + 8];
    cJSON *o = NULL;
    cu_rc rc;

    memset(m, 0, sizeof(*m));
    if ((rc = cu_file_read(path, MANIFEST_MAX, &text, &len, err)) != CU_OK)
        return rc;
    nl = strchr(text, '\n');
    if (nl == NULL || strncmp(nl + 1, "signature ", 10) != 0 ||
        cu_b64_decode(nl + 11, strcspn(nl + 11, "\n"), sig, sizeof(sig), &sl) != CU_OK ||
        sl != CU_SIGNBYTES) {
        rc = cu_err_set(err, CU_ERR_CRYPTO, "the backup manifest \"%s\" is malformed", path);
        goto out;
    }
    if ((msg = malloc(pl + (size_t)(nl - text))) == NULL) {
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
        goto out;
    }
    memcpy(msg, MANIFEST_SIG_PREFIX, pl);
    memcpy(msg + pl, text, (size_t)(nl - text));
    if (!cu_sign_verify(pk, (const uint8_t *)msg, pl + (size_t)(nl - text), sig)) {
        rc = cu_err_set(err, CU_ERR_CRYPTO, "the backup manifest \"%s\" is not signed by this "
                        "vault's audit key", path);
        goto out;
    }
    *nl = '\0';
    if ((o = cJSON_Parse(text)) == NULL || parse_manifest(o, m) != 0 ||
        !cu_ct_equal(m->vault, pk, 32))
        rc = cu_err_set(err, CU_ERR_CRYPTO, "the backup manifest \"%s\" is malformed", path);
out:
    cJSON_Delete(o);
    free(msg);
    free(text);
    if (rc != CU_OK)
        cu_manifest_cleanup(m);
    return rc;
}

/* --- the encrypted file ---------------------------------------------------------------------- */

struct cu_bwriter {
    int fd;
    char path[PATH_MAX];
    char id[33];
    cu_stream *st;
    cu_sha256_ctx *h;
    uint64_t bytes;
    uint8_t *buf; /* CU_BACKUP_CHUNK + CU_STREAM_ABYTES + 4 */
};

static cu_rc put_raw(cu_bwriter *w, const uint8_t *p, size_t n, cu_err *err)
{
    cu_sha256_update(w->h, p, n);
    w->bytes += n;
    while (n > 0) {
        ssize_t k = write(w->fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return cu_err_set(err, CU_ERR_IO, "could not write the backup: %s", strerror(errno));
        p += k;
        n -= (size_t)k;
    }
    return CU_OK;
}

void cu_bwriter_abort(cu_bwriter *w)
{
    if (w == NULL)
        return;
    if (w->fd >= 0) {
        close(w->fd);
        unlink(w->path);
    }
    cu_stream_free(w->st);
    if (w->h) {
        uint8_t ignored[32];
        cu_sha256_final(w->h, ignored);
    }
    free(w->buf);
    free(w);
}

cu_rc cu_bwriter_open(const char *path, const char *id, const uint8_t key[CU_KEYBYTES],
                      cu_bwriter **out, cu_err *err)
{
    uint8_t header[CU_STREAM_HEADERBYTES];
    char magic[64];
    cu_bwriter *w = calloc(1, sizeof(*w));
    cu_rc rc;

    *out = NULL;
    if (w == NULL || (w->buf = malloc(CU_BACKUP_CHUNK + CU_STREAM_ABYTES + 4)) == NULL ||
        (w->h = cu_sha256_new()) == NULL) {
        w ? (w->fd = -1) : 0;
        cu_bwriter_abort(w);
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    }
    cu_strlcpy(w->path, path, sizeof(w->path));
    cu_strlcpy(w->id, id, sizeof(w->id));
    w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (w->fd < 0) {
        rc = cu_err_set(err, CU_ERR_IO, "could not create \"%s\": %s", path, strerror(errno));
        cu_bwriter_abort(w);
        return rc;
    }
    if (cu_stream_push_init(key, header, &w->st) != CU_OK) {
        cu_bwriter_abort(w);
        return cu_err_set(err, CU_ERR_CRYPTO, "could not start the backup's stream");
    }
    snprintf(magic, sizeof(magic), "%s%s\n", FILE_MAGIC, id);
    if ((rc = put_raw(w, (const uint8_t *)magic, strlen(magic), err)) != CU_OK ||
        (rc = put_raw(w, header, sizeof(header), err)) != CU_OK) {
        cu_bwriter_abort(w);
        return rc;
    }
    *out = w;
    return CU_OK;
}

static cu_rc put_msg(cu_bwriter *w, const uint8_t *p, size_t n, int final, cu_err *err)
{
    size_t clen = 0;

    if (n > CU_BACKUP_CHUNK)
        return cu_err_set(err, CU_ERR_LIMIT, "backup message too large");
    if (cu_stream_push(w->st, p, n, (const uint8_t *)w->id, 32, final, w->buf + 4, &clen) !=
        CU_OK)
        return cu_err_set(err, CU_ERR_CRYPTO, "could not encrypt the backup");
    w->buf[0] = (uint8_t)(clen >> 24);
    w->buf[1] = (uint8_t)(clen >> 16);
    w->buf[2] = (uint8_t)(clen >> 8);
    w->buf[3] = (uint8_t)clen;
    return put_raw(w, w->buf, clen + 4, err);
}

cu_rc cu_bwriter_put(cu_bwriter *w, const uint8_t *p, size_t n, cu_err *err)
{
    return put_msg(w, p, n, 0, err);
}

cu_rc cu_bwriter_finish(cu_bwriter *w, uint64_t *bytes, uint8_t sha256[32], cu_err *err)
{
    cu_rc rc = put_msg(w, NULL, 0, 1, err);

    if (rc == CU_OK && fsync(w->fd) != 0)
        rc = cu_err_set(err, CU_ERR_IO, "could not sync the backup: %s", strerror(errno));
    if (rc != CU_OK) {
        cu_bwriter_abort(w);
        return rc;
    }
    close(w->fd);
    *bytes = w->bytes;
    cu_sha256_final(w->h, sha256);
    cu_stream_free(w->st);
    free(w->buf);
    free(w);
    return CU_OK;
}

typedef struct breader {
    FILE *f;
    cu_sha256_ctx *h;
    uint64_t bytes;
} breader;

static int get_raw(breader *r, uint8_t *p, size_t n)
{
    if (fread(p, 1, n, r->f) != n)
        return -1;
    cu_sha256_update(r->h, p, n);
    r->bytes += n;
    return 0;
}

/* Every message through fn, in order, until the final one. */
static cu_rc read_msgs(breader *r, cu_stream *st, const char *id, uint8_t *ct, uint8_t *pt,
                       const cu_bread_fn fn, void *arg, cu_backup_progress_fn progress,
                       void *parg, uint64_t total, cu_err *err)
{
    int final = 0;
    cu_rc rc = CU_OK;

    for (size_t i = 0; !final && rc == CU_OK; i++) {
        uint8_t lb[4];
        size_t clen, plen = 0;
        if (get_raw(r, lb, 4) != 0)
            return cu_err_set(err, CU_ERR_CRYPTO, "the backup is cut short");
        clen = (size_t)lb[0] << 24 | (size_t)lb[1] << 16 | (size_t)lb[2] << 8 | lb[3];
        if (clen < CU_STREAM_ABYTES || clen > CU_BACKUP_CHUNK + CU_STREAM_ABYTES ||
            get_raw(r, ct, clen) != 0)
            return cu_err_set(err, CU_ERR_CRYPTO, "the backup is cut short or malformed");
        if (cu_stream_pull(st, ct, clen, (const uint8_t *)id, 32, pt, &plen, &final) != CU_OK)
            return cu_err_set(err, CU_ERR_CRYPTO, "the backup does not decrypt: altered, or "
                              "not this backup's");
        if (!final || plen > 0)
            rc = fn(arg, i, pt, plen, err);
        cu_wipe(pt, plen);
        if (progress)
            progress(parg, r->bytes, total);
    }
    return rc;
}

static cu_rc bread_open(const char *path, const char *id, breader *r, uint8_t *header,
                        cu_err *err)
{
    char magic[64], line[64];
    size_t ml;

    if ((r->f = fopen(path, "rb")) == NULL)
        return cu_err_set(err, errno == ENOENT ? CU_ERR_NOT_FOUND : CU_ERR_IO,
                          "could not open \"%s\": %s", path, strerror(errno));
    if ((r->h = cu_sha256_new()) == NULL)
        return cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    ml = (size_t)snprintf(magic, sizeof(magic), "%s%s\n", FILE_MAGIC, id);
    if (get_raw(r, (uint8_t *)line, ml) != 0 || memcmp(line, magic, ml) != 0 ||
        get_raw(r, header, CU_STREAM_HEADERBYTES) != 0)
        return cu_err_set(err, CU_ERR_CRYPTO, "\"%s\" is not the file of backup %s", path, id);
    return CU_OK;
}

cu_rc cu_bread(const char *path, const char *id, const uint8_t key[CU_KEYBYTES],
               const uint8_t want[32], uint64_t bytes, cu_bread_fn fn, void *arg,
               cu_backup_progress_fn progress, void *parg, cu_err *err)
{
    uint8_t header[CU_STREAM_HEADERBYTES], got[32], extra;
    uint8_t *ct = malloc(CU_BACKUP_CHUNK + CU_STREAM_ABYTES);
    uint8_t *pt = cu_secure_alloc(CU_BACKUP_CHUNK);
    cu_stream *st = NULL;
    breader r = {0};
    cu_rc rc;

    if (ct == NULL || pt == NULL)
        rc = cu_err_set(err, CU_ERR_NOMEM, "out of memory");
    else
        rc = bread_open(path, id, &r, header, err);
    if (rc == CU_OK && cu_stream_pull_init(key, header, &st) != CU_OK)
        rc = cu_err_set(err, CU_ERR_CRYPTO, "the backup's stream header is malformed");
    if (rc == CU_OK)
        rc = read_msgs(&r, st, id, ct, pt, fn, arg, progress, parg, bytes, err);
    if (rc == CU_OK && fread(&extra, 1, 1, r.f) == 1)
        rc = cu_err_set(err, CU_ERR_CRYPTO, "the backup has bytes after its end");
    if (r.h)
        cu_sha256_final(r.h, got);
    if (rc == CU_OK && (r.bytes != bytes || !cu_ct_equal(got, want, 32)))
        rc = cu_err_set(err, CU_ERR_CRYPTO, "the backup's hash or size differs from its "
                        "signed manifest");
    if (r.f)
        fclose(r.f);
    cu_stream_free(st);
    cu_secure_free(pt);
    free(ct);
    return rc;
}
