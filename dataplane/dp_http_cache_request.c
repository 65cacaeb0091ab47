/*
 * The HTTP cache's hook for backend handlers: lookup and answers from
 * memory, conditional revalidation, and the body tee that fills entries.
 */
#include "dp_http_cache_request.h"

#include "dp_cache_tee.h"
#include "dp_conditional.h"
#include "dp_http_date.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static struct dp_hc_store *store;
static bool obey_no_cache = true;

int
dp_hcache_configure(size_t size, bool obey)
{
    obey_no_cache = obey;
    if (size == 0)
        return 0;
    store = dp_hc_store_new(size);
    return store != NULL ? 0 : -1;
}

void
dp_hcache_shutdown(void)
{
    dp_hc_store_free(store);
    store = NULL;
}

size_t
dp_hcache_flush(const char *tag)
{
    if (store == NULL)
        return 0;
    return dp_hc_store_flush(store, tag != NULL && tag[0] != '\0' ? tag
                                                                   : NULL);
}

void
dp_hcache_stats(struct dp_hc_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (store != NULL)
        dp_hc_store_stats(store, out);
}

static int64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

unsigned
dp_hcache_flags(bool eager, bool ignore_no_cache, bool auto_flush)
{
    return (eager ? DP_HCACHE_EAGER : 0u) |
           (ignore_no_cache ? DP_HCACHE_IGNORE_NO_CACHE : 0u) |
           (auto_flush ? DP_HCACHE_AUTO_FLUSH : 0u);
}

struct dp_hcache_use {
    struct dp_request *req;
    char *key;
    const char *tag;
    struct dp_response_headers headers;   /* the translation's */
    struct dp_hc_request hreq;
    int64_t request_ms;
    bool may_store;
    struct dp_hc_entry *stale;            /* being revalidated */
    char *conditional;
    unsigned flags;                       /* DP_HCACHE_* */
    bool flush_on_response;               /* AUTO_FLUSH_CACHE */
    bool invalidate;                      /* an unsafe method */
    /* the client's request headers while the backend sees ours
     * (dp_hcache_revalidate_request()) */
    const struct dp_header *client_headers;
    size_t n_client_headers;
    bool swapped;
};

/* Methods that do not modify (RFC 9110 section 9.2.1's safe ones). */
static bool
safe_method(enum dp_http_method m)
{
    return m == DP_HTTP_GET || m == DP_HTTP_HEAD ||
           m == DP_HTTP_OPTIONS || m == DP_HTTP_TRACE;
}

static void
use_cleanup(void *arg)
{
    struct dp_hcache_use *u = arg;
    if (u->stale != NULL) {
        dp_hc_entry_unref(u->stale);
        u->stale = NULL;
    }
}

static void
entry_cleanup(void *arg)
{
    dp_hc_entry_unref(arg);
}

int
dp_hcache_entry_headers(struct dp_response_headers *h,
                        const struct dp_hc_entry *e, struct dp_pool *pool)
{
    const char *p = e->headers, *end = e->headers + e->headers_len;
    struct dp_hc_header l;
    while (dp_hc_header_next(&p, end, &l)) {
        char *n = dp_pool_strndup(pool, l.name, l.name_len);
        char *vv = dp_pool_strndup(pool, l.value, l.value_len);
        if (n == NULL || vv == NULL || dp_response_header(h, n, vv) != 0)
            return -ENOMEM;
    }
    return 0;
}

/* Answer req from entry e (a reference the request pool now holds). */
static void
serve_entry(struct dp_request *req, const struct dp_response_headers *th,
            struct dp_hc_entry *e, int64_t now)
{
    if (dp_pool_cleanup(req->pool, entry_cleanup, e) != 0) {
        dp_hc_entry_unref(e);
        dp_request_error(req, 500, "out of memory");
        return;
    }
    struct dp_response_headers h = *th;
    char age[32];
    int64_t a = dp_hc_current_age(e->facts.initial_age_ms,
                                  e->facts.response_ms, now) / 1000;
    snprintf(age, sizeof(age), "%lld", (long long)a);
    if (dp_hcache_entry_headers(&h, e, req->pool) != 0 ||
        dp_response_header(&h, "Age", age) != 0) {
        dp_request_error(req, 500, "out of memory");
        return;
    }
    unsigned status = e->status;
    if (status == 200) {
        struct dp_cond_headers ch = { 0 };
        ch.if_none_match = dp_request_header(req, "If-None-Match");
        ch.if_none_match_len = ch.if_none_match ? strlen(ch.if_none_match)
                                                : 0;
        ch.if_modified_since = dp_request_header(req, "If-Modified-Since");
        ch.if_modified_since_len =
            ch.if_modified_since ? strlen(ch.if_modified_since) : 0;
        struct dp_validators v = { 0 };
        if (e->etag != NULL && dp_etag_valid(e->etag, strlen(e->etag))) {
            v.etag = e->etag;
            v.etag_len = strlen(e->etag);
        }
        time_t lm;
        if (e->last_modified != NULL &&
            dp_http_date_parse(e->last_modified, strlen(e->last_modified),
                               (time_t)(now / 1000), &lm) == 0) {
            v.has_last_modified = true;
            v.last_modified = lm;
        }
        enum dp_method_class mc = req->method == DP_HTTP_HEAD
                                      ? DP_METHOD_HEAD
                                      : DP_METHOD_GET;
        if (dp_conditional_evaluate(mc, &ch, &v, (time_t)(now / 1000)) ==
            DP_COND_NOT_MODIFIED) {
            dp_request_respond(req, 304, &h, NULL);
            return;
        }
    }
    struct dp_body *body = dp_body_new_memory(req->pool, e->body,
                                              e->body_len);
    if (body == NULL) {
        dp_request_error(req, 500, "out of memory");
        return;
    }
    dp_request_respond(req, status, &h, body);
}

static bool
fresh(const struct dp_hc_entry *e, int64_t now)
{
    return e->facts.lifetime_ms >
           dp_hc_current_age(e->facts.initial_age_ms, e->facts.response_ms,
                             now);
}

bool
dp_hcache_begin(struct dp_request *req, const char *uri, const char *tag,
                bool has_user, const struct dp_response_headers *headers,
                struct dp_hcache_use **use)
{
    return dp_hcache_begin_flags(req, uri, tag, has_user, headers, 0, use);
}

bool
dp_hcache_begin_flags(struct dp_request *req, const char *uri,
                      const char *tag, bool has_user,
                      const struct dp_response_headers *headers,
                      unsigned flags, struct dp_hcache_use **use)
{
    *use = NULL;
    if (store == NULL)
        return false;
    bool auto_flush = (flags & DP_HCACHE_AUTO_FLUSH) != 0 && tag != NULL &&
                      tag[0] != '\0' && !safe_method(req->method);
    struct dp_hc_header *hs = NULL;
    if (req->n_headers > 0) {
        hs = dp_pool_alloc(req->pool, req->n_headers * sizeof(*hs));
        if (hs == NULL)
            return false;
    }
    for (size_t i = 0; i < req->n_headers; i++) {
        hs[i].name = req->headers[i].name;
        hs[i].name_len = strlen(req->headers[i].name);
        hs[i].value = req->headers[i].value;
        hs[i].value_len = strlen(req->headers[i].value);
    }
    struct dp_hc_request hr = {
        .get_or_head = req->method == DP_HTTP_GET ||
                       req->method == DP_HTTP_HEAD,
        .headers = hs,
        .n_headers = req->n_headers,
        .has_user = has_user,
        .obey_no_cache = obey_no_cache &&
                         (flags & DP_HCACHE_IGNORE_NO_CACHE) == 0,
    };
    enum dp_hc_request_mode mode = dp_hc_request_check(&hr);
    bool invalidate = !safe_method(req->method);
    if (mode == DP_HC_BYPASS && !auto_flush && !invalidate)
        return false;
    const char *host = req->host != NULL ? req->host : "";
    size_t kn = strlen(uri) + strlen(host) + 2;
    char *key = dp_pool_alloc(req->pool, kn);
    struct dp_hcache_use *u = dp_pool_calloc(req->pool, sizeof(*u));
    if (key == NULL || u == NULL ||
        dp_pool_cleanup(req->pool, use_cleanup, u) != 0)
        return false;
    snprintf(key, kn, "%s\n%s", uri, host);
    u->req = req;
    u->key = key;
    u->tag = tag;
    u->headers = *headers;
    u->hreq = hr;
    u->request_ms = now_ms();
    u->may_store = mode != DP_HC_BYPASS;
    u->flags = flags;
    u->invalidate = invalidate;
    if (auto_flush) {
        /* a modifying request: the tag's entries go now and again when
         * the backend has answered (an entry stored in between) */
        dp_hc_store_flush(store, tag);
        u->flush_on_response = true;
    }
    if (mode == DP_HC_LOOKUP) {
        struct dp_hc_entry *e = dp_hc_store_lookup(store, key, hs,
                                                   req->n_headers);
        if (e != NULL && dp_hc_request_personal(&hr) && !e->facts.shared) {
            dp_hc_entry_unref(e);
            e = NULL;
        }
        if (e != NULL && fresh(e, u->request_ms)) {
            dp_hc_store_count(store, true, false, false);
            serve_entry(req, headers, e, u->request_ms);
            return true;
        }
        dp_hc_store_count(store, false, true, false);
        if (e != NULL && e->etag == NULL && e->last_modified == NULL) {
            dp_hc_store_remove(store, e);
            dp_hc_entry_unref(e);
            e = NULL;
        }
        if (e != NULL) {
            size_t cn = 64 + (e->etag ? strlen(e->etag) : 0) +
                        (e->last_modified ? strlen(e->last_modified) : 0);
            u->conditional = dp_pool_alloc(req->pool, cn);
            if (u->conditional == NULL) {
                dp_hc_entry_unref(e);
                return false;
            }
            u->stale = e;
            size_t off = 0;
            if (e->etag != NULL)
                off += (size_t)snprintf(u->conditional + off, cn - off,
                                        "If-None-Match: %s\r\n", e->etag);
            if (e->last_modified != NULL)
                snprintf(u->conditional + off, cn - off,
                         "If-Modified-Since: %s\r\n", e->last_modified);
        }
    } else if (mode == DP_HC_RELOAD) {
        dp_hc_store_count(store, false, true, false);
    }
    *use = u;
    return false;
}

/* An If-* header the client's conditional request consists of. */
static bool
client_conditional(const char *name)
{
    return strcasecmp(name, "If-Match") == 0 ||
           strcasecmp(name, "If-None-Match") == 0 ||
           strcasecmp(name, "If-Modified-Since") == 0 ||
           strcasecmp(name, "If-Unmodified-Since") == 0 ||
           strcasecmp(name, "If-Range") == 0;
}

void
dp_hcache_revalidate_request(struct dp_hcache_use *u)
{
    if (u == NULL || u->stale == NULL)
        return;
    struct dp_request *req = u->req;
    struct dp_header *h = dp_pool_alloc(req->pool, (req->n_headers + 2) *
                                                       sizeof(*h));
    if (h == NULL) {
        dp_hcache_no_revalidation(u);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < req->n_headers; i++)
        if (!client_conditional(req->headers[i].name))
            h[n++] = req->headers[i];
    if (u->stale->etag != NULL) {
        h[n].name = "If-None-Match";
        h[n].value = u->stale->etag;
        n++;
    }
    if (u->stale->last_modified != NULL) {
        h[n].name = "If-Modified-Since";
        h[n].value = u->stale->last_modified;
        n++;
    }
    u->client_headers = req->headers;
    u->n_client_headers = req->n_headers;
    u->swapped = true;
    req->headers = h;
    req->n_headers = n;
}

void
dp_hcache_restore_request(struct dp_hcache_use *u)
{
    if (u == NULL || !u->swapped)
        return;
    u->req->headers = u->client_headers;
    u->req->n_headers = u->n_client_headers;
    u->swapped = false;
}

void
dp_hcache_no_revalidation(struct dp_hcache_use *u)
{
    if (u == NULL || u->stale == NULL)
        return;
    dp_hc_store_remove(store, u->stale);
    dp_hc_entry_unref(u->stale);
    u->stale = NULL;
    u->conditional = NULL;
}

const char *
dp_hcache_conditional(const struct dp_hcache_use *use)
{
    return use != NULL ? use->conditional : NULL;
}

/* ---- the tee (dp_cache_tee) storing the entry ---- */

struct store_ctx {
    struct dp_hcache_use *use;
    struct dp_hc_facts facts;
    unsigned status;
};

static void
store_complete(void *ctx, const char *headers, size_t headers_len,
               const uint8_t *body, size_t len)
{
    struct store_ctx *c = ctx;
    if (store == NULL)
        return;
    struct dp_hcache_use *u = c->use;
    struct dp_hc_entry *e = dp_hc_entry_new(
        u->key, c->status, headers, headers_len, body, len, u->tag,
        &c->facts, u->hreq.headers, u->hreq.n_headers);
    if (e != NULL) {
        dp_hc_store_put(store, e);
        dp_hc_entry_unref(e);
    }
}

static const struct dp_cache_tee_ops store_ops = { store_complete, NULL };

static void
raw_headers(struct dp_pool *pool, const struct h1_header *raw, size_t n,
            struct dp_hc_header **out)
{
    *out = n > 0 ? dp_pool_alloc(pool, n * sizeof(**out)) : NULL;
    for (size_t i = 0; *out != NULL && i < n; i++) {
        (*out)[i].name = (const char *)raw[i].name.data;
        (*out)[i].name_len = raw[i].name.len;
        (*out)[i].value = (const char *)raw[i].value.data;
        (*out)[i].value_len = raw[i].value.len;
    }
}

/* A 304 to our conditional request: refresh the stale entry from the
 * 304's headers over the stored ones, then answer from it. */
static void
revalidated(struct dp_hcache_use *u, const struct h1_header *raw,
            size_t n_raw, int64_t now)
{
    struct dp_request *req = u->req;
    struct dp_hc_entry *e = u->stale;
    u->stale = NULL;
    /* the stored lines as headers, then the 304's (which win: first) */
    size_t cap = n_raw + 64;
    struct dp_hc_header *hs = dp_pool_alloc(req->pool, cap * sizeof(*hs));
    size_t n = 0;
    if (hs != NULL) {
        for (size_t i = 0; i < n_raw; i++) {
            hs[n].name = (const char *)raw[i].name.data;
            hs[n].name_len = raw[i].name.len;
            hs[n].value = (const char *)raw[i].value.data;
            hs[n].value_len = raw[i].value.len;
            n++;
        }
        const char *p = e->headers, *end = e->headers + e->headers_len;
        while (n < cap && dp_hc_header_next(&p, end, &hs[n]))
            n++;
    }
    /* find_header() takes the first: the 304's Date, Cache-Control... but
     * Cache-Control lines are all parsed; keep the 304's when it has one */
    bool cc304 = false;
    for (size_t i = 0; i < n_raw; i++)
        if (raw[i].name.len == 13 &&
            strncasecmp((const char *)raw[i].name.data, "Cache-Control",
                        13) == 0)
            cc304 = true;
    if (cc304)
        for (size_t i = n_raw; i < n; i++)
            if (hs[i].name_len == 13 &&
                strncasecmp(hs[i].name, "Cache-Control", 13) == 0)
                hs[i].name_len = 0;
    struct dp_hc_response rs = { e->status, hs, n, u->request_ms, now };
    struct dp_hc_facts f;
    const char *why;
    struct dp_hc_request anon = u->hreq;
    anon.has_user = false;
    anon.n_headers = 0;  /* the entry's shared flag is kept as stored */
    if (hs != NULL && dp_hc_response_check(&anon, &rs, &f, &why))
        dp_hc_entry_refresh(e, &f);
    else
        dp_hc_store_remove(store, e);
    dp_hc_store_count(store, false, false, true);
    serve_entry(req, &u->headers, e, now);
}

bool
dp_hcache_response(struct dp_hcache_use *u, unsigned status,
                   const struct h1_header *raw, size_t n_raw,
                   const struct dp_response_headers *out, size_t from,
                   struct dp_body **body)
{
    if (u == NULL || store == NULL)
        return false;
    struct dp_request *req = u->req;
    dp_hcache_restore_request(u);
    if (u->flush_on_response) {
        u->flush_on_response = false;
        dp_hc_store_flush(store, u->tag);
    }
    if (u->invalidate && status >= 200 && status < 400) {
        /* RFC 9111 section 4.4: an unsafe method's non-error answer
         * invalidates the target URI */
        u->invalidate = false;
        dp_hc_store_remove_key(store, u->key);
    }
    int64_t now = now_ms();
    if (status == 304 && u->stale != NULL) {
        if (*body != NULL)
            dp_body_close(*body);
        *body = NULL;
        revalidated(u, raw, n_raw, now);
        return true;
    }
    if (u->stale != NULL && status != 304) {
        /* the backend answered anew: the stale variant goes */
        dp_hc_store_remove(store, u->stale);
    }
    if (!u->may_store || req->method != DP_HTTP_GET || *body == NULL)
        return false;
    struct dp_hc_header *hs;
    raw_headers(req->pool, raw, n_raw, &hs);
    if (n_raw > 0 && hs == NULL)
        return false;
    struct dp_hc_response rs = { status, hs, n_raw, u->request_ms, now };
    struct dp_hc_facts f;
    const char *why;
    if (!dp_hc_response_check_eager(&u->hreq, &rs,
                                    (u->flags & DP_HCACHE_EAGER) != 0, &f,
                                    &why))
        return false;
    size_t limit = dp_hc_store_entry_limit(store);
    if ((*body)->length > (int64_t)limit)
        return false;
    struct store_ctx *c = dp_pool_calloc(req->pool, sizeof(*c));
    if (c == NULL)
        return false;
    size_t skip = out->len > from ? from : out->len, hlen;
    char *lines = dp_hc_stored_lines(out->data + skip, out->len - skip,
                                     &hlen);
    if (lines == NULL)
        return false;
    /* the facts point into the raw head: the entry copies them at the
     * end, so keep copies in the pool now */
    if (f.etag != NULL)
        f.etag = dp_pool_strndup(req->pool, f.etag, f.etag_len);
    if (f.last_modified != NULL)
        f.last_modified = dp_pool_strndup(req->pool, f.last_modified,
                                          f.last_modified_len);
    if (f.vary != NULL)
        f.vary = dp_pool_strndup(req->pool, f.vary, f.vary_len);
    c->facts = f;
    c->status = status;
    c->use = u;
    struct dp_body *t = dp_cache_tee_new(req->pool, *body, limit, lines, hlen,
                                         &store_ops, c);
    if (t != NULL)
        *body = t;
    return false;
}

bool
dp_hcache_response_text(struct dp_hcache_use *u, unsigned status,
                        const struct dp_response_headers *out, size_t from,
                        struct dp_body **body)
{
    if (u == NULL || store == NULL)
        return false;
    struct dp_request *req = u->req;
    const char *p = out->data + from;
    const char *end = out->data + out->len;
    size_t n = 0;
    for (const char *x = p; x < end; x++)
        n += *x == '\n';
    struct h1_header *raw = dp_pool_alloc(req->pool,
                                          (n + 1) * sizeof(*raw));
    if (raw == NULL)
        return false;
    size_t k = 0;
    while (p < end && k < n) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (eol == NULL)
            break;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon != NULL) {
            const char *v = colon + 1;
            while (v < eol && *v == ' ')
                v++;
            raw[k].name.data = (const uint8_t *)p;
            raw[k].name.len = (size_t)(colon - p);
            raw[k].value.data = (const uint8_t *)v;
            raw[k].value.len = (size_t)(eol - v);
            k++;
        }
        p = eol + 2;
    }
    /* a 304 answers our revalidation when there is a stale entry
     * (dp_hcache_revalidate_request()); otherwise it is the client's own
     * and passes through */
    return dp_hcache_response(u, status, raw, k, out, from, body);
}
