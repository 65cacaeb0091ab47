/*
 * Fuzz target for dataplane/dp_tcache: BASE tails and REGEX expansion
 * with hostile URIs.
 *
 * Input: one flag byte, then lines separated by '\n'.  The first line is
 * the tail of the URI ("/b/" + line) whose response is stored; every
 * further line is the tail of a URI that is looked up.  Flags: bit 0
 * EASY_BASE, bit 1 UNSAFE_BASE, bit 2 REGEX "/b/(.*)" with EXPAND_PATH
 * "/srv/\1" instead of a BASE tail, bits 3-4 the address kind (PATH,
 * HTTP, CGI PATH_INFO, LHTTP_URI), bit 5 REGEX_TAIL + REGEX_UNESCAPE.
 *
 * With bit 7 set the input is instead: the flag byte, a u16 little-endian
 * length, that many bytes of a translation response (any, as the
 * response fuzzer would send), then '\n'-separated request URIs used as
 * they are: the response is stored for the first URI, the others are
 * looked up (and stored again, every second one), and every string of
 * each effective response is read.
 *
 * Invariants (abort() on failure): store and lookup never crash; without
 * UNSAFE_BASE every path a hit produces stays below its base and has no
 * "." or ".." segment, in plain or (for URI fields) %-decoded form; the
 * hit stays valid after the cache is flushed.
 */
#include "dp_tcache.h"
#include "tp_command.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct pr_buf rb;

static bool
pkt(uint16_t cmd, const void *data, size_t len)
{
    uint8_t h[4];
    pr_store_u16(h, (uint16_t)len);
    pr_store_u16(h + 2, cmd);
    return pr_buf_append(&rb, h, 4) == 0 &&
           pr_buf_append(&rb, data, len) == 0;
}

static bool
pstr(uint16_t cmd, const char *s)
{
    return pkt(cmd, s, strlen(s));
}

static int
hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* No "." or ".." segment, in s or in its %-decoding (when decode). */
static bool
segments_ok(const char *s, bool decode)
{
    char buf[4096];
    size_t n = 0;
    for (const char *p = s; *p != '\0' && n + 1 < sizeof(buf); p++) {
        if (decode && p[0] == '%' && hexval(p[1]) >= 0 &&
            hexval(p[2]) >= 0) {
            buf[n++] = (char)(hexval(p[1]) << 4 | hexval(p[2]));
            p += 2;
        } else {
            buf[n++] = *p;
        }
    }
    buf[n] = '\0';
    const char *seg = buf;
    for (;;) {
        const char *end = strchr(seg, '/');
        size_t len = end != NULL ? (size_t)(end - seg) : strlen(seg);
        if ((len == 1 && seg[0] == '.') ||
            (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return false;
        if (end == NULL)
            return true;
        seg = end + 1;
    }
}

static bool
clean_tail(const char *s)
{
    bool after_slash = true;
    for (; *s != '\0'; s++) {
        if (*s == '/') {
            if (after_slash)
                return false;
            after_slash = true;
        } else if ((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') ||
                   *s == '_' || *s == '-') {
            after_slash = false;
        } else {
            return false;
        }
    }
    return true;
}

static void
check_path(const char *p, const char *base, bool decode)
{
    if (p == NULL)
        return;
    if (strncmp(p, base, strlen(base)) != 0)
        abort();
    if (!segments_ok(p, decode))
        abort();
}

/* Read every string an effective response may have had rewritten. */
static size_t
touch(const struct tp_response *r)
{
    size_t n = 0;
    const char *f[] = {
        r->address.path, r->address.path_info, r->address.script_name,
        r->address.document_root, r->address.lhttp_uri, r->uri,
        r->redirect, r->test_path, r->site, r->read_file, r->cookie_host,
        r->auth_file, r->document_root, r->address.child.stderr_path,
    };
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        n += f[i] != NULL ? strlen(f[i]) : 0;
    for (size_t i = 0; i < r->address.args.n; i++)
        n += strlen(r->address.args.v[i].value);
    for (size_t i = 0; i < r->address.params.n; i++)
        n += strlen(r->address.params.v[i].value);
    for (size_t i = 0; i < r->response_headers.n; i++)
        n += strlen(r->response_headers.v[i].value);
    for (size_t i = 0; i < r->request_headers.n; i++)
        n += strlen(r->request_headers.v[i].value);
    for (size_t i = 0; i < r->n_filters; i++)
        n += r->filters[i]->address.path != NULL
                 ? strlen(r->filters[i]->address.path)
                 : 0;
    return n;
}

static void
raw_mode(const uint8_t *data, size_t size)
{
    if (size < 3)
        return;
    size_t rlen = (size_t)data[1] | (size_t)data[2] << 8;
    if (rlen > size - 3)
        rlen = size - 3;
    struct tp_response resp;
    char err[200];
    if (tp_response_parse(data + 3, rlen, &resp, err, sizeof(err)) != 0)
        return;

    char *uris[8];
    size_t n_uris = 0;
    const uint8_t *p = data + 3 + rlen, *end = data + size;
    while (p < end && n_uris < 8) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        char *u = malloc(len + 1);
        if (u == NULL)
            break;
        memcpy(u, p, len);
        u[len] = '\0';
        uris[n_uris++] = u;
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    struct dp_tcache *c = dp_tcache_new(4, 0);
    if (c == NULL || n_uris == 0) {
        tp_response_free(&resp);
        goto done;
    }
    dp_tcache_activate(c);
    struct tp_request req;
    tp_request_init(&req);
    req.host = tp_slice_str("h");
    req.session = tp_slice_str("s");
    req.uri = (struct pr_slice){ (const uint8_t *)uris[0], strlen(uris[0]) };
    struct dp_tcache_hit hit;
    enum dp_tcache_status st = dp_tcache_store(c, &req, &resp, 0, &hit);
    if (st == DP_TCACHE_HIT && touch(&hit.response) == (size_t)-1)
        abort();
    if (st == DP_TCACHE_ERROR && hit.error_status != 400 &&
        hit.error_status != 502)
        abort();
    for (size_t i = 1; i < n_uris; i++) {
        req.uri = (struct pr_slice){ (const uint8_t *)uris[i],
                                     strlen(uris[i]) };
        struct dp_tcache_hit h2;
        st = dp_tcache_lookup(c, &req, i, &h2);
        if (st == DP_TCACHE_HIT && touch(&h2.response) == (size_t)-1)
            abort();
        if (i % 2 == 0) {
            /* store the same response again: replacement, INVALIDATE */
            struct tp_response again;
            if (tp_response_parse(data + 3, rlen, &again, err,
                                  sizeof(err)) == 0) {
                struct dp_tcache_hit h3;
                dp_tcache_store(c, &req, &again, i, &h3);
                dp_tcache_hit_release(&h3);
            }
        }
        dp_tcache_hit_release(&h2);
    }
    dp_tcache_free(c);
    c = NULL;
    /* the first hit outlives the cache */
    if (st == DP_TCACHE_HIT || hit.item != NULL)
        (void)touch(&hit.response);
    dp_tcache_hit_release(&hit);
done:
    dp_tcache_free(c);
    for (size_t i = 0; i < n_uris; i++)
        free(uris[i]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4000)
        return 0;
    const unsigned flags = data[0];
    if (flags & 0x80) {
        raw_mode(data, size);
        return 0;
    }
    const bool easy = flags & 1, unsafe = flags & 2, expand = flags & 4;
    const unsigned kind = (flags >> 3) & 3;
    const bool tail_unescape = flags & 32;

    /* split the lines into NUL-terminated URIs "/b/<line>" */
    char *uris[16];
    size_t n_uris = 0;
    const uint8_t *p = data + 1, *end = data + size;
    while (p <= end && n_uris < 16) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        if (memchr(p, '\0', len) != NULL)
            break;
        char *u = malloc(len + 4);
        if (u == NULL)
            break;
        memcpy(u, "/b/", 3);
        memcpy(u + 3, p, len);
        u[len + 3] = '\0';
        uris[n_uris++] = u;
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    if (n_uris == 0)
        return 0;

    /* the response */
    rb.len = 0;
    uint8_t version = 3;
    const char *base_path = kind == 1 ? "/app/" : "/srv/";
    bool ok = pkt(TP_CMD_BEGIN, &version, 1) && pstr(TP_CMD_BASE, "/b/");
    if (expand) {
        ok = ok && pstr(TP_CMD_REGEX, tail_unescape ? "(.*)" : "/b/(.*)");
        if (tail_unescape)
            ok = ok && pkt(TP_CMD_REGEX_TAIL, NULL, 0) &&
                 pkt(TP_CMD_REGEX_UNESCAPE, NULL, 0);
    }
    if (easy)
        ok = ok && pkt(TP_CMD_EASY_BASE, NULL, 0);
    if (unsafe)
        ok = ok && pkt(TP_CMD_UNSAFE_BASE, NULL, 0);
    /* classic BASE: the address describes the first URI, which the
     * server built from a clean tail (names and single slashes); other
     * first lines are stored for "/b/" itself */
    char first[4200];
    const char *tail0 = easy || expand ? "" : uris[0] + 3;
    if (!clean_tail(tail0)) {
        uris[0][3] = '\0';
        tail0 = "";
    }
    switch (kind) {
    case 0:
        snprintf(first, sizeof(first), "/srv/%s", tail0);
        ok = ok && pstr(TP_CMD_PATH, first);
        if (expand)
            ok = ok && pstr(TP_CMD_EXPAND_PATH, "/srv/\\1");
        break;
    case 1:
        snprintf(first, sizeof(first), "http://backend/app/%s", tail0);
        ok = ok && pstr(TP_CMD_HTTP, first) &&
             pstr(TP_CMD_ADDRESS_STRING, "127.0.0.1:80");
        if (expand)
            ok = ok && pstr(TP_CMD_EXPAND_PATH, "/app/\\1");
        break;
    case 2:
        snprintf(first, sizeof(first), "/srv/%s", tail0);
        ok = ok && pstr(TP_CMD_CGI, "/usr/lib/cgi-bin/x") &&
             pstr(TP_CMD_PATH_INFO, first);
        if (expand)
            ok = ok && pstr(TP_CMD_EXPAND_PATH_INFO, "/srv/\\1");
        break;
    default:
        snprintf(first, sizeof(first), "/srv/%s", tail0);
        ok = ok && pstr(TP_CMD_LHTTP_PATH, "/usr/bin/srv") &&
             pstr(TP_CMD_LHTTP_URI, first);
        if (expand)
            ok = ok && pstr(TP_CMD_EXPAND_LHTTP_URI, "/srv/\\1");
        break;
    }
    ok = ok && pkt(TP_CMD_END, NULL, 0);

    struct tp_response resp;
    char err[200];
    if (!ok || tp_response_parse(rb.data, rb.len, &resp, err, sizeof(err)) !=
                   0)
        goto done;

    struct dp_tcache *c = dp_tcache_new(16, 0);
    if (c == NULL) {
        tp_response_free(&resp);
        goto done;
    }
    dp_tcache_activate(c);
    struct tp_request req;
    tp_request_init(&req);
    req.host = tp_slice_str("h");
    req.uri = tp_slice_str(uris[0]);
    struct dp_tcache_hit hit;
    enum dp_tcache_status st = dp_tcache_store(c, &req, &resp, 0, &hit);
    if (st == DP_TCACHE_ERROR &&
        hit.error_status != 400 && hit.error_status != 502)
        abort();
    dp_tcache_hit_release(&hit);

    /* HTTP and LHTTP carry the raw tail: check it decoded too */
    const bool decode = kind == 1 || kind == 3;
    for (size_t i = 1; i < n_uris; i++) {
        req.uri = tp_slice_str(uris[i]);
        st = dp_tcache_lookup(c, &req, 1, &hit);
        if (st == DP_TCACHE_HIT) {
            const struct tp_address *a = &hit.response.address;
            const char *path = kind == 2   ? a->path_info
                               : kind == 3 ? a->lhttp_uri
                                           : a->path;
            if (path == NULL)
                abort();
            if (!unsafe)
                check_path(path, base_path, decode);
            if (i + 1 == n_uris) {
                /* the hit outlives the items */
                char copy[64];
                snprintf(copy, sizeof(copy), "%s", path);
                dp_tcache_flush(c);
                if (strncmp(copy, path, sizeof(copy) - 1) != 0)
                    abort();
            }
        } else if (st == DP_TCACHE_ERROR) {
            if (hit.error_status != 400 && hit.error_status != 502)
                abort();
        }
        dp_tcache_hit_release(&hit);
    }
    dp_tcache_free(c);

done:
    for (size_t i = 0; i < n_uris; i++)
        free(uris[i]);
    return 0;
}
