/*
 * dp_session_file: the session save file (msgpack), encoder, strict
 * decoder, atomic save and load.
 */
#include "dp_session_file.h"

#include <msgpack.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void
dp_session_list_free(struct dp_session_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        dp_session_free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* ---- encoder (msgpack-c) ---- */

struct encoder {
    msgpack_packer pk;
    struct pr_buf *out;
    int rc;
};

static int
write_buf(void *data, const char *buf, size_t len)
{
    struct encoder *e = data;
    if (pr_buf_append(e->out, buf, len) != 0) {
        e->rc = -ENOMEM;
        return -1;
    }
    return 0;
}

static void
pack_bytes(msgpack_packer *pk, const struct dp_session_bytes *b)
{
    if (b->data == NULL) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_bin(pk, b->len);
    msgpack_pack_bin_body(pk, b->data, b->len);
}

static void
pack_string(msgpack_packer *pk, const char *s)
{
    if (s == NULL) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void
pack_session(const struct dp_session *s, void *ctx)
{
    struct encoder *e = ctx;
    msgpack_packer *pk = &e->pk;
    msgpack_pack_array(pk, 7);
    msgpack_pack_bin(pk, sizeof(s->id.b));
    msgpack_pack_bin_body(pk, s->id.b, sizeof(s->id.b));
    msgpack_pack_uint64(pk, s->expires_ms);
    pack_bytes(pk, &s->translate);
    pack_bytes(pk, &s->attach);
    pack_string(pk, s->site);
    pack_string(pk, s->language);
    msgpack_pack_array(pk, s->n_realms);
    for (size_t i = 0; i < s->n_realms; i++) {
        const struct dp_realm_session *r = &s->realms[i];
        msgpack_pack_array(pk, 4);
        pack_string(pk, r->realm);
        pack_string(pk, r->user);
        msgpack_pack_uint64(pk, r->user_expires_ms);
        pack_bytes(pk, &r->translate);
    }
}

int
dp_session_file_encode_one(const struct dp_session *s, struct pr_buf *out)
{
    size_t before = out->len;
    struct encoder e = { .out = out, .rc = 0 };
    msgpack_packer_init(&e.pk, &e, write_buf);
    pack_session(s, &e);
    if (e.rc != 0)
        out->len = before;
    return e.rc;
}

struct count_ctx {
    struct encoder *e;
    size_t n;
};

static void
count_and_pack(const struct dp_session *s, void *ctx)
{
    struct count_ctx *c = ctx;
    pack_session(s, c->e);
    c->n++;
}

int
dp_session_file_encode(struct dp_session_manager *m, struct pr_buf *out)
{
    size_t before = out->len;
    struct encoder e = { .out = out, .rc = 0 };
    msgpack_packer_init(&e.pk, &e, write_buf);
    /* A snapshot: the sessions are counted and packed in one pass. */
    struct pr_buf body = PR_BUF_INIT;
    struct encoder eb = { .out = &body, .rc = 0 };
    msgpack_packer_init(&eb.pk, &eb, write_buf);
    struct count_ctx cc = { .e = &eb, .n = 0 };
    if (dp_session_foreach(m, count_and_pack, &cc) != 0)
        eb.rc = -ENOMEM;
    size_t n = cc.n;
    msgpack_pack_array(&e.pk, 3);
    msgpack_pack_str_with_body(&e.pk, DP_SESSION_FILE_MAGIC,
                               strlen(DP_SESSION_FILE_MAGIC));
    msgpack_pack_uint64(&e.pk, DP_SESSION_FILE_VERSION);
    msgpack_pack_array(&e.pk, n);
    if (e.rc == 0 && eb.rc == 0 && body.len > 0 &&
        pr_buf_append(out, body.data, body.len) != 0)
        e.rc = -ENOMEM;
    if (eb.rc != 0)
        e.rc = eb.rc;
    pr_buf_free(&body);
    if (e.rc != 0)
        out->len = before;
    return e.rc;
}

/* ---- decoder: a strict msgpack reader over the few types we use ---- */

struct reader {
    const uint8_t *p;
    size_t len, pos;
    char *err;
    size_t errlen;
    bool failed;
    bool nomem;
};

static void fail(struct reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
fail(struct reader *r, const char *fmt, ...)
{
    if (r->failed)
        return;
    r->failed = true;
    r->nomem = strcmp(fmt, "out of memory") == 0;
    if (r->err == NULL || r->errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->errlen, fmt, ap);
    va_end(ap);
}

static bool
need(struct reader *r, size_t n, const char *what)
{
    if (r->len - r->pos < n) {
        fail(r, "truncated session file: %s at offset %zu needs %zu bytes, "
             "%zu remain", what, r->pos, n, r->len - r->pos);
        return false;
    }
    return true;
}

static uint64_t
be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Read a big-endian length of n bytes after the marker. */
static bool
read_len(struct reader *r, size_t n, const char *what, uint64_t *out)
{
    if (!need(r, n, what))
        return false;
    *out = be(r->p + r->pos, n);
    r->pos += n;
    return true;
}

static bool
peek_nil(struct reader *r)
{
    if (r->pos < r->len && r->p[r->pos] == 0xc0) {
        r->pos++;
        return true;
    }
    return false;
}

/* An array header; its count must fit in the remaining bytes (each item
 * takes at least one). */
static bool
read_array(struct reader *r, const char *what, uint64_t *count)
{
    if (!need(r, 1, what))
        return false;
    size_t at = r->pos;
    uint8_t b = r->p[r->pos++];
    if ((b & 0xf0) == 0x90)
        *count = b & 0x0f;
    else if (b == 0xdc) {
        if (!read_len(r, 2, what, count))
            return false;
    } else if (b == 0xdd) {
        if (!read_len(r, 4, what, count))
            return false;
    } else {
        fail(r, "session file: %s at offset %zu is not an array (marker "
             "0x%02x)", what, at, b);
        return false;
    }
    if (*count > r->len - r->pos) {
        fail(r, "session file: %s at offset %zu declares %llu items, only "
             "%zu bytes remain", what, at, (unsigned long long)*count,
             r->len - r->pos);
        return false;
    }
    return true;
}

static bool
read_uint(struct reader *r, const char *what, uint64_t *v)
{
    if (!need(r, 1, what))
        return false;
    size_t at = r->pos;
    uint8_t b = r->p[r->pos++];
    if (b <= 0x7f) {
        *v = b;
        return true;
    }
    static const size_t sizes[] = { 1, 2, 4, 8 };
    if (b >= 0xcc && b <= 0xcf)
        return read_len(r, sizes[b - 0xcc], what, v);
    fail(r, "session file: %s at offset %zu is not an unsigned integer "
         "(marker 0x%02x)", what, at, b);
    return false;
}

/* A str (text) or bin (bytes) item: *data points into the input. */
static bool
read_raw(struct reader *r, bool text, const char *what, const uint8_t **data,
         size_t *n)
{
    if (!need(r, 1, what))
        return false;
    size_t at = r->pos;
    uint8_t b = r->p[r->pos++];
    uint64_t len;
    bool ok;
    if (text && (b & 0xe0) == 0xa0) {
        len = b & 0x1f;
        ok = true;
    } else if (b == (text ? 0xd9 : 0xc4)) {
        ok = read_len(r, 1, what, &len);
    } else if (b == (text ? 0xda : 0xc5)) {
        ok = read_len(r, 2, what, &len);
    } else if (b == (text ? 0xdb : 0xc6)) {
        ok = read_len(r, 4, what, &len);
    } else {
        fail(r, "session file: %s at offset %zu is not %s (marker 0x%02x)",
             what, at, text ? "a string" : "binary data", b);
        return false;
    }
    if (!ok || !need(r, len, what))
        return false;
    *data = r->p + r->pos;
    *n = (size_t)len;
    r->pos += len;
    return true;
}

static bool
store_failed(struct reader *r, int rc, const char *what, size_t at)
{
    if (rc == 0)
        return false;
    if (rc == -ENOMEM)
        fail(r, "out of memory");
    else
        fail(r, "session file: %s at offset %zu is longer than %u bytes",
             what, at, DP_SESSION_MAX_VALUE);
    return true;
}

/* bin or nil into *dst */
static bool
read_bytes(struct reader *r, const char *what, struct dp_session_bytes *dst)
{
    if (peek_nil(r))
        return true;
    size_t at = r->pos;
    const uint8_t *d;
    size_t n;
    if (!read_raw(r, false, what, &d, &n))
        return false;
    return !store_failed(r, dp_session_bytes_set(dst, d, n), what, at);
}

/* str or nil (when nil_ok) into *dst: no NUL inside */
static bool
read_text(struct reader *r, const char *what, bool nil_ok, char **dst)
{
    if (nil_ok && peek_nil(r))
        return true;
    size_t at = r->pos;
    const uint8_t *d;
    size_t n;
    if (!read_raw(r, true, what, &d, &n))
        return false;
    if (memchr(d, 0, n) != NULL) {
        fail(r, "session file: %s at offset %zu contains a NUL byte", what,
             at);
        return false;
    }
    if (n > DP_SESSION_MAX_VALUE)
        return !store_failed(r, -E2BIG, what, at);
    char *copy = malloc(n + 1);
    if (copy == NULL)
        return !store_failed(r, -ENOMEM, what, at);
    memcpy(copy, d, n);
    copy[n] = '\0';
    free(*dst);
    *dst = copy;
    return true;
}

static bool
read_realm(struct reader *r, struct dp_session *s)
{
    size_t at = r->pos;
    uint64_t n;
    if (!read_array(r, "realm", &n))
        return false;
    if (n != 4) {
        fail(r, "session file: the realm at offset %zu has %llu items, not "
             "4", at, (unsigned long long)n);
        return false;
    }
    if (s->n_realms == DP_SESSION_MAX_REALMS) {
        fail(r, "session file: more than %u realms in the session at "
             "offset %zu", DP_SESSION_MAX_REALMS, at);
        return false;
    }
    struct dp_realm_session *rs = &s->realms[s->n_realms++];
    if (!read_text(r, "realm name", false, &rs->realm) ||
        !read_text(r, "USER", true, &rs->user) ||
        !read_uint(r, "user expiry", &rs->user_expires_ms) ||
        !read_bytes(r, "REALM_SESSION", &rs->translate))
        return false;
    for (size_t i = 0; i + 1 < s->n_realms; i++)
        if (strcmp(s->realms[i].realm, rs->realm) == 0) {
            fail(r, "session file: realm \"%s\" twice in one session "
                 "(offset %zu)", rs->realm, at);
            return false;
        }
    return true;
}

static bool
read_session(struct reader *r, struct dp_session *s)
{
    size_t at = r->pos;
    uint64_t n;
    if (!read_array(r, "session", &n))
        return false;
    if (n != 7) {
        fail(r, "session file: the session at offset %zu has %llu items, "
             "not 7", at, (unsigned long long)n);
        return false;
    }
    const uint8_t *id;
    size_t id_len;
    size_t id_at = r->pos;
    if (!read_raw(r, false, "session id", &id, &id_len))
        return false;
    if (id_len != DP_SESSION_ID_SIZE) {
        fail(r, "session file: the session id at offset %zu has %zu bytes, "
             "not %u", id_at, id_len, DP_SESSION_ID_SIZE);
        return false;
    }
    memcpy(s->id.b, id, DP_SESSION_ID_SIZE);
    uint64_t realms;
    if (!read_uint(r, "session expiry", &s->expires_ms) ||
        !read_bytes(r, "SESSION", &s->translate) ||
        !read_bytes(r, "ATTACH_SESSION", &s->attach) ||
        !read_text(r, "SESSION_SITE", true, &s->site) ||
        !read_text(r, "LANGUAGE", true, &s->language) ||
        !read_array(r, "realm list", &realms))
        return false;
    for (uint64_t i = 0; i < realms; i++)
        if (!read_realm(r, s))
            return false;
    return true;
}

int
dp_session_file_decode(const uint8_t *data, size_t len,
                       struct dp_session_list *out, char *err, size_t errlen)
{
    struct reader r = { .p = data, .len = len, .err = err,
                        .errlen = errlen };
    out->v = NULL;
    out->n = 0;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    uint64_t n, version;
    const uint8_t *magic;
    size_t magic_len;
    if (!read_array(&r, "file header", &n))
        goto failed;
    if (n != 3) {
        fail(&r, "not a Portier session file: the top-level array has "
             "%llu items, not 3", (unsigned long long)n);
        goto failed;
    }
    if (!read_raw(&r, true, "file magic", &magic, &magic_len))
        goto failed;
    if (magic_len != strlen(DP_SESSION_FILE_MAGIC) ||
        memcmp(magic, DP_SESSION_FILE_MAGIC, magic_len) != 0) {
        fail(&r, "not a Portier session file: the magic string is not "
             "\"%s\"", DP_SESSION_FILE_MAGIC);
        goto failed;
    }
    if (!read_uint(&r, "file version", &version))
        goto failed;
    if (version != DP_SESSION_FILE_VERSION) {
        fail(&r, "session file version %llu is not supported (only %u)",
             (unsigned long long)version, DP_SESSION_FILE_VERSION);
        goto failed;
    }
    if (!read_array(&r, "session list", &n))
        goto failed;
    if (n > 0) {
        out->v = calloc((size_t)n, sizeof(*out->v));
        if (out->v == NULL) {
            fail(&r, "out of memory");
            goto failed;
        }
    }
    for (uint64_t i = 0; i < n; i++) {
        struct dp_session *s = dp_session_new();
        if (s == NULL) {
            fail(&r, "out of memory");
            goto failed;
        }
        out->v[out->n++] = s;
        if (!read_session(&r, s))
            goto failed;
        for (size_t j = 0; j + 1 < out->n; j++)
            if (dp_session_id_equal(&out->v[j]->id, &s->id)) {
                fail(&r, "session file: session id at offset %zu is "
                     "repeated", r.pos);
                goto failed;
            }
    }
    if (r.pos != len) {
        fail(&r, "session file: %zu bytes after the end at offset %zu",
             len - r.pos, r.pos);
        goto failed;
    }
    return 0;
failed:
    dp_session_list_free(out);
    return r.nomem ? -ENOMEM : -EINVAL;
}

int
dp_session_file_decode_one(const uint8_t *data, size_t len,
                           struct dp_session *s, char *err, size_t errlen)
{
    struct reader r = { .p = data, .len = len, .err = err,
                        .errlen = errlen };
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (!read_session(&r, s))
        return r.nomem ? -ENOMEM : -EINVAL;
    if (r.pos != len) {
        fail(&r, "session record: %zu bytes after the end at offset %zu",
             len - r.pos, r.pos);
        return -EINVAL;
    }
    return 0;
}

/* ---- files ---- */

int
dp_session_file_save(struct dp_session_manager *m, const char *path,
                     char *err, size_t errlen)
{
    struct pr_buf buf = PR_BUF_INIT;
    if (dp_session_file_encode(m, &buf) != 0) {
        snprintf(err, errlen, "cannot save sessions to %s: out of memory",
                 path);
        return -ENOMEM;
    }
    char tmp[4096];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof(tmp)) {
        pr_buf_free(&buf);
        snprintf(err, errlen, "cannot save sessions: path too long");
        return -ENAMETOOLONG;
    }
    int rc = 0;
    const char *step = "open";
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
    } else {
        size_t done = 0;
        step = "write";
        while (rc == 0 && done < buf.len) {
            ssize_t w = write(fd, buf.data + done, buf.len - done);
            if (w < 0 && errno != EINTR)
                rc = -errno;
            else if (w > 0)
                done += (size_t)w;
        }
        if (rc == 0) {
            step = "fsync";
            if (fsync(fd) != 0)
                rc = -errno;
        }
        if (close(fd) != 0 && rc == 0) {
            step = "close";
            rc = -errno;
        }
        if (rc == 0) {
            step = "rename";
            if (rename(tmp, path) != 0)
                rc = -errno;
        }
        if (rc != 0)
            unlink(tmp);
    }
    if (rc != 0)
        snprintf(err, errlen, "cannot save sessions: %s %s: %s", step,
                 rc == 0 ? path : tmp, strerror(-rc));
    pr_buf_free(&buf);
    return rc;
}

long
dp_session_file_load(struct dp_session_manager *m, const char *path,
                     uint64_t now_ms, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        int e = errno;
        snprintf(err, errlen, "cannot open session file %s: %s", path,
                 strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size > (off_t)DP_SESSION_FILE_MAX_SIZE) {
        close(fd);
        snprintf(err, errlen, "session file %s: not a regular file of at "
                 "most %u bytes", path, DP_SESSION_FILE_MAX_SIZE);
        return -EINVAL;
    }
    size_t size = (size_t)st.st_size;
    uint8_t *data = malloc(size > 0 ? size : 1);
    if (data == NULL) {
        close(fd);
        snprintf(err, errlen, "session file %s: out of memory", path);
        return -ENOMEM;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, data + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    struct dp_session_list list;
    char why[300];
    int rc = dp_session_file_decode(data, got, &list, why, sizeof(why));
    free(data);
    if (rc != 0) {
        snprintf(err, errlen, "session file %s skipped: %s", path, why);
        return rc;
    }
    long adopted = 0;
    for (size_t i = 0; i < list.n; i++) {
        if (dp_session_adopt(m, list.v[i], now_ms))
            adopted++;
        list.v[i] = NULL;       /* adopted or freed */
    }
    list.n = 0;
    dp_session_list_free(&list);
    return adopted;
}
