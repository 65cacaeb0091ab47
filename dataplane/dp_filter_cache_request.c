/*
 * dp_filter_cache_request: the filter cache in a request.  See
 * dp_filter_cache_request.h.
 */
#include "dp_filter_cache_request.h"

#include "dp_pool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>


static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *
dp_filter_cache_source_id(struct dp_request *req,
                          const struct tp_response *r)
{
    struct pr_buf b = PR_BUF_INIT;
    char *id = NULL;
    if (dp_filter_cache_source(&b, req->host, req->path, req->query,
                               &r->address) == 0)
        id = dp_pool_strndup(req->pool, b.data, b.len);
    pr_buf_free(&b);
    return id;
}

struct dp_filter_cache_use {
    struct dp_request *req;
    char *key;
    const char *tag;
    bool pipe;                        /* keep the body only */
    unsigned in_status;               /* of the response entering it */
    int64_t start_ms;
};

/* The header lines of h as dp_hc_headers, in pool. */
static struct dp_hc_header *
split_headers(struct dp_pool *pool, const struct dp_response_headers *h,
              size_t *n)
{
    *n = 0;
    if (h == NULL || h->len == 0)
        return NULL;
    size_t cap = 0;
    for (size_t i = 0; i < h->len; i++)
        cap += h->data[i] == '\n';
    struct dp_hc_header *out = dp_pool_alloc(pool, (cap + 1) * sizeof(*out));
    if (out == NULL)
        return NULL;
    const char *p = h->data, *end = h->data + h->len;
    while (p < end && *n < cap + 1) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon != NULL) {
            const char *v = colon + 1;
            while (v < eol && *v == ' ')
                v++;
            out[*n].name = p;
            out[*n].name_len = (size_t)(colon - p);
            out[*n].value = v;
            out[*n].value_len = (size_t)(eol - v);
            (*n)++;
        }
        p = eol + 2;
    }
    return out;
}

static void
entry_cleanup(void *arg)
{
    dp_hc_entry_unref(arg);
}

/* Copy the stored lines of e into a new header set. */
static int
entry_headers(struct dp_pool *pool, const struct dp_hc_entry *e,
              struct dp_response_headers *h)
{
    dp_response_headers_init(h, pool);
    const char *p = e->headers, *end = e->headers + e->headers_len;
    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon != NULL) {
            const char *v = colon + 1;
            while (v < eol && *v == ' ')
                v++;
            char *nm = dp_pool_strndup(pool, p, (size_t)(colon - p));
            char *vv = dp_pool_strndup(pool, v, (size_t)(eol - v));
            if (nm == NULL || vv == NULL || dp_response_header(h, nm, vv) != 0)
                return -ENOMEM;
        }
        p = eol + 2;
    }
    return 0;
}

bool
dp_filter_cache_begin(struct dp_request *req, const char *source_id,
                      const struct tp_filter *const *filters, size_t n,
                      unsigned *status,
                      const struct dp_response_headers **h,
                      struct dp_body **body,
                      struct dp_filter_cache_use **use)
{
    *use = NULL;
    if (!dp_filter_cache_enabled() || source_id == NULL || n == 0)
        return false;
    size_t nh;
    struct dp_hc_header *hs = split_headers(req->pool, *h, &nh);
    const struct dp_hc_header *etag =
        dp_filter_cache_find_header(hs, nh, "ETag");
    if (etag == NULL || etag->value_len == 0)
        return false;               /* only a source with an ETag */
    char *et = dp_pool_strndup(req->pool, etag->value, etag->value_len);
    struct pr_buf k = PR_BUF_INIT;
    char *key = NULL;
    if (et != NULL &&
        dp_filter_cache_key(&k, source_id, *status, et, filters, n) == 0)
        key = dp_pool_strndup(req->pool, k.data, k.len);
    pr_buf_free(&k);
    struct dp_filter_cache_use *u = dp_pool_calloc(req->pool, sizeof(*u));
    if (key == NULL || u == NULL)
        return false;
    const struct tp_filter *f = filters[n - 1];
    int64_t now = now_ms();
    struct dp_hc_entry *e = dp_filter_cache_get(key, now);
    if (e != NULL) {
        if (dp_pool_cleanup(req->pool, entry_cleanup, e) != 0) {
            dp_hc_entry_unref(e);
            return false;
        }
        struct dp_body *nb = dp_body_new_memory(req->pool, e->body,
                                                e->body_len);
        struct dp_response_headers *eh = NULL;
        if (f->address.type != TP_ADDRESS_PIPE) {
            eh = dp_pool_alloc(req->pool, sizeof(*eh));
            if (eh == NULL || entry_headers(req->pool, e, eh) != 0)
                nb = NULL;
        }
        if (nb == NULL)
            return false;
        dp_filter_cache_count(true);
        if (*body != NULL)
            dp_body_close(*body);
        *body = nb;
        if (eh != NULL) {
            *status = e->status;
            *h = eh;
        }
        return true;
    }
    dp_filter_cache_count(false);
    u->req = req;
    u->key = key;
    u->tag = f->cache_tag;
    u->pipe = f->address.type == TP_ADDRESS_PIPE;
    u->in_status = *status;
    u->start_ms = now;
    *use = u;
    return false;
}

/* ---- the tee ---- */

struct tee {
    struct dp_body base;
    struct dp_body *inner;
    struct dp_filter_cache_use *use;
    unsigned status;
    int64_t lifetime_ms;
    char *headers;                    /* malloc'd, the stored lines */
    size_t headers_len;
    struct dp_hc_copy copy;           /* of the body */
};

static void
tee_drop(struct tee *t)
{
    dp_hc_copy_drop(&t->copy);
    free(t->headers);
    t->headers = NULL;
}

static void
tee_cleanup(void *arg)
{
    tee_drop(arg);
}

static size_t
tee_data(void *ctx, const uint8_t *data, size_t len)
{
    struct tee *t = ctx;
    size_t n = t->base.handler->data(t->base.ctx, data, len);
    t->base.length = t->inner->length;
    dp_hc_copy_append(&t->copy, data, n);
    return n;
}

static void
tee_eof(void *ctx)
{
    struct tee *t = ctx;
    if (!t->copy.dropped)
        dp_filter_cache_put(t->use->key, t->status, t->headers,
                            t->headers_len, t->copy.buf, t->copy.len, t->use->tag,
                            t->lifetime_ms, now_ms());
    tee_drop(t);
    t->base.handler->eof(t->base.ctx);
}

static void
tee_error(void *ctx, int err, const char *msg)
{
    struct tee *t = ctx;
    tee_drop(t);
    t->base.handler->error(t->base.ctx, err, msg);
}

static const struct dp_body_handler tee_handler = {
    tee_data, tee_eof, tee_error,
};

static void
tee_read(struct dp_body *body)
{
    struct tee *t = (struct tee *)body;
    dp_body_read(t->inner);
}

static void
tee_close(struct dp_body *body)
{
    struct tee *t = (struct tee *)body;
    tee_drop(t);
    dp_body_close(t->inner);
}

static const struct dp_body_class tee_class = {
    .name = "filter-cache-tee",
    .read = tee_read,
    .close = tee_close,
};

static char *
stored_headers(const struct dp_response_headers *h, size_t *len)
{
    size_t n = h != NULL ? h->len : 0;
    char *d = malloc(n + 1);
    if (d == NULL)
        return NULL;
    size_t k = 0;
    const char *p = h != NULL ? h->data : NULL;
    const char *end = p != NULL ? p + n : NULL;
    while (p != NULL && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *next = eol != NULL ? eol + 1 : end;
        if (dp_hc_header_stored(p, (size_t)(next - p))) {
            memcpy(d + k, p, (size_t)(next - p));
            k += (size_t)(next - p);
        }
        p = next;
    }
    d[k] = '\0';
    *len = k;
    return d;
}

void
dp_filter_cache_result(struct dp_filter_cache_use *u, unsigned status,
                       const struct dp_response_headers *h,
                       struct dp_body **body)
{
    if (u == NULL || !dp_filter_cache_enabled())
        return;
    /* A filter that failed (its own error status replaced the one it
     * was given) is not stored. */
    if (status != u->in_status && (status < 200 || status > 299))
        return;
    struct dp_request *req = u->req;
    size_t nh;
    struct dp_hc_header *hs = split_headers(req->pool, h, &nh);
    if (h != NULL && h->len > 0 && hs == NULL)
        return;
    int64_t life;
    const char *why;
    if (!dp_filter_cache_lifetime(hs, nh, now_ms(), &life, &why))
        return;
    size_t limit = dp_filter_cache_entry_limit();
    if (*body == NULL) {
        size_t hl = 0;
        char *lines = u->pipe ? NULL : stored_headers(h, &hl);
        if (u->pipe || lines != NULL)
            dp_filter_cache_put(u->key, status, lines, hl, NULL, 0, u->tag,
                                life, now_ms());
        free(lines);
        return;
    }
    if ((*body)->length > (int64_t)limit)
        return;
    struct tee *t = dp_pool_calloc(req->pool, sizeof(*t));
    if (t == NULL || dp_pool_cleanup(req->pool, tee_cleanup, t) != 0)
        return;
    if (!u->pipe) {
        t->headers = stored_headers(h, &t->headers_len);
        if (t->headers == NULL)
            return;
    }
    t->use = u;
    t->status = status;
    t->lifetime_ms = life;
    t->copy.limit = limit;
    t->inner = *body;
    dp_body_init(&t->base, &tee_class, t->inner->length);
    dp_body_set_handler(t->inner, &tee_handler, t);
    *body = &t->base;
}
