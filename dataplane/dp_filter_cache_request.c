/*
 * dp_filter_cache_request: the filter cache in a request.  See
 * dp_filter_cache_request.h.
 */
#include "dp_filter_cache_request.h"

#include "dp_cache_tee.h"
#include "dp_http_cache_request.h"
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
    while (*n < cap + 1 && dp_hc_header_next(&p, end, &out[*n]))
        (*n)++;
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
    return dp_hcache_entry_headers(h, e, pool);
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

/* ---- the tee (dp_cache_tee) storing the entry ---- */

struct store_ctx {
    struct dp_filter_cache_use *use;
    unsigned status;
    int64_t lifetime_ms;
};

static void
store_complete(void *ctx, const char *headers, size_t headers_len,
               const uint8_t *body, size_t len)
{
    struct store_ctx *c = ctx;
    dp_filter_cache_put(c->use->key, c->status, headers, headers_len, body,
                        len, c->use->tag, c->lifetime_ms, now_ms());
}

static const struct dp_cache_tee_ops store_ops = { store_complete, NULL };

static char *
stored_headers(const struct dp_response_headers *h, size_t *len)
{
    return h != NULL ? dp_hc_stored_lines(h->data, h->len, len)
                     : dp_hc_stored_lines("", 0, len);
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
    struct store_ctx *c = dp_pool_calloc(req->pool, sizeof(*c));
    if (c == NULL)
        return;
    char *lines = NULL;
    size_t hlen = 0;
    if (!u->pipe) {
        lines = stored_headers(h, &hlen);
        if (lines == NULL)
            return;
    }
    c->use = u;
    c->status = status;
    c->lifetime_ms = life;
    struct dp_body *t = dp_cache_tee_new(req->pool, *body, limit, lines, hlen,
                                         &store_ops, c);
    if (t != NULL)
        *body = t;
}
