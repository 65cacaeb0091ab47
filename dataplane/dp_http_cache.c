/*
 * The HTTP cache's rules (RFC 9111 for a shared cache) and its store: a
 * chained hash table of entries plus an LRU list, bounded in bytes.
 */
#include "dp_http_cache.h"

#include "dp_http_date.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ENTRY_OVERHEAD 256
#define ENTRY_LIMIT_MAX ((size_t)4 << 20)
#define HEURISTIC_MAX_MS (24 * 3600 * 1000LL)

/* ---- Cache-Control ---- */

void
dp_hc_cc_init(struct dp_hc_cc *cc)
{
    memset(cc, 0, sizeof(*cc));
    cc->max_age = -1;
    cc->s_maxage = -1;
}

static bool
is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool
token_is(const char *t, size_t n, const char *word)
{
    return strlen(word) == n && strncasecmp(t, word, n) == 0;
}

/* delta-seconds (RFC 9111 section 1.2.2), optionally quoted; -1 when it
 * is not one.  Overflow saturates at 2^31 (section 1.2.2). */
static int64_t
delta_seconds(const char *v, size_t n)
{
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
        v++;
        n -= 2;
    }
    if (n == 0)
        return -1;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        if (x < (1LL << 31))
            x = x * 10 + (v[i] - '0');
    }
    return x < (1LL << 31) ? x : (1LL << 31);
}

bool
dp_hc_header_next(const char **pos, const char *end,
                  struct dp_hc_header *out)
{
    const char *p = *pos;
    while (p < end) {
        const char *line = p;
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        p = end - eol > 2 ? eol + 2 : end;
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon != NULL) {
            const char *v = colon + 1;
            while (v < eol && *v == ' ')
                v++;
            out->name = line;
            out->name_len = (size_t)(colon - line);
            out->value = v;
            out->value_len = (size_t)(eol - v);
            *pos = p;
            return true;
        }
    }
    *pos = end;
    return false;
}

void
dp_hc_parse_cache_control(struct dp_hc_cc *cc, const char *v, size_t n)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (is_blank(v[i]) || v[i] == ','))
            i++;
        size_t ns = i;
        while (i < n && v[i] != '=' && v[i] != ',' && !is_blank(v[i]))
            i++;
        const char *name = v + ns;
        size_t nn = i - ns;
        while (i < n && is_blank(v[i]))
            i++;
        const char *arg = NULL;
        size_t an = 0;
        if (i < n && v[i] == '=') {
            i++;
            while (i < n && is_blank(v[i]))
                i++;
            size_t as = i;
            if (i < n && v[i] == '"') {
                i++;
                while (i < n && v[i] != '"')
                    i += v[i] == '\\' && i + 1 < n ? 2 : 1;
                if (i < n)
                    i++;
            } else {
                while (i < n && v[i] != ',' && !is_blank(v[i]))
                    i++;
            }
            arg = v + as;
            an = i - as;
        }
        while (i < n && v[i] != ',')
            i++;
        if (nn == 0)
            continue;
        if (token_is(name, nn, "no-store"))
            cc->no_store = true;
        else if (token_is(name, nn, "no-cache"))
            cc->no_cache = true;   /* with field names too: all of it */
        else if (token_is(name, nn, "private"))
            cc->private_ = true;
        else if (token_is(name, nn, "public"))
            cc->public_ = true;
        else if (token_is(name, nn, "must-revalidate"))
            cc->must_revalidate = true;
        else if (token_is(name, nn, "proxy-revalidate"))
            cc->proxy_revalidate = true;
        else if (token_is(name, nn, "max-age")) {
            int64_t x = arg != NULL ? delta_seconds(arg, an) : -1;
            if (x >= 0 && (cc->max_age < 0 || x < cc->max_age))
                cc->max_age = x;
        } else if (token_is(name, nn, "s-maxage")) {
            int64_t x = arg != NULL ? delta_seconds(arg, an) : -1;
            if (x < 0)
                x = 0;      /* invalid: treat as stale (section 4.2.1) */
            if (cc->s_maxage < 0 || x < cc->s_maxage)
                cc->s_maxage = x;
        }
    }
}

/* ---- headers ---- */

static const struct dp_hc_header *
find_header(const struct dp_hc_header *h, size_t n, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (h[i].name_len == len && strncasecmp(h[i].name, name, len) == 0)
            return &h[i];
    return NULL;
}

static void
collect_cc(struct dp_hc_cc *cc, const struct dp_hc_header *h, size_t n)
{
    dp_hc_cc_init(cc);
    for (size_t i = 0; i < n; i++)
        if (h[i].name_len == 13 &&
            strncasecmp(h[i].name, "Cache-Control", 13) == 0)
            dp_hc_parse_cache_control(cc, h[i].value, h[i].value_len);
}

static bool
pragma_no_cache(const struct dp_hc_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (h[i].name_len != 6 || strncasecmp(h[i].name, "Pragma", 6) != 0)
            continue;
        const char *v = h[i].value;
        size_t vn = h[i].value_len;
        for (size_t j = 0; j + 8 <= vn; j++)
            if (strncasecmp(v + j, "no-cache", 8) == 0)
                return true;
    }
    return false;
}

enum dp_hc_request_mode
dp_hc_request_check(const struct dp_hc_request *r)
{
    if (!r->get_or_head)
        return DP_HC_BYPASS;
    struct dp_hc_cc cc;
    collect_cc(&cc, r->headers, r->n_headers);
    if (cc.no_store)
        return DP_HC_BYPASS;
    if (r->obey_no_cache &&
        (cc.no_cache || cc.max_age == 0 ||
         pragma_no_cache(r->headers, r->n_headers)))
        return DP_HC_RELOAD;
    return DP_HC_LOOKUP;
}

bool
dp_hc_request_personal(const struct dp_hc_request *r)
{
    return r->has_user ||
           find_header(r->headers, r->n_headers, "Authorization") != NULL;
}

static bool
status_storable(unsigned s)
{
    return s == 200 || s == 203 || s == 300 || s == 301 || s == 308 ||
           s == 404 || s == 410;
}

static bool
parse_date(const struct dp_hc_header *h, int64_t now_ms, int64_t *out_ms)
{
    time_t t;
    if (h == NULL ||
        dp_http_date_parse(h->value, h->value_len, (time_t)(now_ms / 1000),
                           &t) != 0)
        return false;
    *out_ms = (int64_t)t * 1000;
    return true;
}

bool
dp_hc_response_check(const struct dp_hc_request *req,
                     const struct dp_hc_response *resp,
                     struct dp_hc_facts *out, const char **why)
{
    return dp_hc_response_check_eager(req, resp, false, out, why);
}

bool
dp_hc_response_check_eager(const struct dp_hc_request *req,
                           const struct dp_hc_response *resp, bool eager,
                           struct dp_hc_facts *out, const char **why)
{
    const struct dp_hc_header *h = resp->headers;
    size_t n = resp->n_headers;
    memset(out, 0, sizeof(*out));
    if (!status_storable(resp->status)) {
        *why = "status not cacheable";
        return false;
    }
    struct dp_hc_cc cc;
    collect_cc(&cc, h, n);
    if (cc.no_store) {
        *why = "no-store";
        return false;
    }
    if (cc.private_) {
        *why = "private";
        return false;
    }
    bool shared = cc.public_ || cc.s_maxage >= 0 || cc.must_revalidate;
    if (dp_hc_request_personal(req) && !shared) {
        *why = "Authorization or user without public, s-maxage or "
               "must-revalidate";
        return false;
    }
    /* Vary: the named request headers become part of the match. */
    for (size_t i = 0; i < n; i++) {
        if (h[i].name_len != 4 || strncasecmp(h[i].name, "Vary", 4) != 0)
            continue;
        for (size_t j = 0; j < h[i].value_len; j++)
            if (h[i].value[j] == '*') {
                *why = "Vary: *";
                return false;
            }
        if (out->vary == NULL) {
            out->vary = h[i].value;
            out->vary_len = h[i].value_len;
        } else {
            /* several Vary lines: treat as uncacheable rather than
             * join them (rare) */
            *why = "several Vary fields";
            return false;
        }
    }
    const struct dp_hc_header *etag = find_header(h, n, "ETag");
    const struct dp_hc_header *lm = find_header(h, n, "Last-Modified");
    if (etag != NULL) {
        out->etag = etag->value;
        out->etag_len = etag->value_len;
    }
    if (lm != NULL) {
        out->last_modified = lm->value;
        out->last_modified_len = lm->value_len;
    }

    int64_t now = resp->response_ms;
    int64_t date_ms;
    bool has_date = parse_date(find_header(h, n, "Date"), now, &date_ms);
    if (!has_date)
        date_ms = now;

    /* the freshness lifetime (section 4.2.1) */
    int64_t lifetime = -1;
    int64_t expires_ms;
    if (cc.s_maxage >= 0) {
        lifetime = cc.s_maxage * 1000;
    } else if (cc.max_age >= 0) {
        lifetime = cc.max_age * 1000;
    } else if (find_header(h, n, "Expires") != NULL) {
        if (parse_date(find_header(h, n, "Expires"), now, &expires_ms))
            lifetime = expires_ms > date_ms ? expires_ms - date_ms : 0;
        else
            lifetime = 0;   /* invalid Expires: already expired */
    } else {
        int64_t lm_ms;
        if (resp->status == 200 && parse_date(lm, now, &lm_ms) &&
            lm_ms < date_ms) {
            lifetime = (date_ms - lm_ms) / 10;
            if (lifetime > HEURISTIC_MAX_MS)
                lifetime = HEURISTIC_MAX_MS;
        }
    }
    if (lifetime < 0 && eager)
        lifetime = DP_HC_EAGER_LIFETIME_MS;
    if (lifetime < 0) {
        if (etag == NULL && lm == NULL) {
            *why = "no freshness information and no validator";
            return false;
        }
        lifetime = 0;
    }
    if (cc.no_cache)
        lifetime = 0;

    /* the corrected initial age (section 4.2.3) */
    int64_t age_value = 0;
    const struct dp_hc_header *ah = find_header(h, n, "Age");
    if (ah != NULL) {
        int64_t a = delta_seconds(ah->value, ah->value_len);
        if (a > 0)
            age_value = a * 1000;
    }
    int64_t apparent = now - date_ms;
    if (apparent < 0)
        apparent = 0;
    int64_t delay = resp->response_ms - resp->request_ms;
    if (delay < 0)
        delay = 0;
    int64_t corrected = age_value + delay;
    out->initial_age_ms = apparent > corrected ? apparent : corrected;
    out->lifetime_ms = lifetime;
    out->response_ms = resp->response_ms;
    out->shared = shared;
    out->revalidate_always = cc.must_revalidate || cc.proxy_revalidate ||
                             cc.s_maxage >= 0;
    *why = NULL;
    return true;
}

int64_t
dp_hc_current_age(int64_t initial_age_ms, int64_t response_ms,
                  int64_t now_ms)
{
    int64_t resident = now_ms - response_ms;
    if (resident < 0)
        resident = 0;
    return initial_age_ms + resident;
}

/* ---- the store ---- */

struct dp_hc_store {
    size_t capacity, bytes, count;
    struct dp_hc_entry **buckets;
    size_t n_buckets;
    struct dp_hc_entry lru;           /* list head: next = most recent */
    uint64_t hits, misses, stores, evictions, revalidations;
};

static uint64_t
hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

struct dp_hc_store *
dp_hc_store_new(size_t capacity)
{
    struct dp_hc_store *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->capacity = capacity;
    s->n_buckets = 1024;
    s->buckets = calloc(s->n_buckets, sizeof(*s->buckets));
    if (s->buckets == NULL) {
        free(s);
        return NULL;
    }
    s->lru.lru_next = s->lru.lru_prev = &s->lru;
    return s;
}

void
dp_hc_store_free(struct dp_hc_store *s)
{
    if (s == NULL)
        return;
    dp_hc_store_flush(s, NULL);
    free(s->buckets);
    free(s);
}

size_t
dp_hc_store_entry_limit(const struct dp_hc_store *s)
{
    size_t l = s->capacity / 8;
    return l < ENTRY_LIMIT_MAX ? l : ENTRY_LIMIT_MAX;
}

static void
entry_free(struct dp_hc_entry *e)
{
    for (size_t i = 0; i < e->n_vary; i++) {
        free(e->vary_names[i]);
        free(e->vary_values[i]);
    }
    free(e->vary_names);
    free(e->vary_values);
    free(e->key);
    free(e->headers);
    free(e->body);
    free(e->tag);
    free(e->etag);
    free(e->last_modified);
    free(e);
}

void
dp_hc_entry_unref(struct dp_hc_entry *e)
{
    if (--e->refs == 0)
        entry_free(e);
}

static bool
variant_matches(const struct dp_hc_entry *e, const struct dp_hc_header *h,
                size_t n)
{
    for (size_t i = 0; i < e->n_vary; i++) {
        const struct dp_hc_header *x = find_header(h, n, e->vary_names[i]);
        const char *v = e->vary_values[i];
        if ((x == NULL) != (v == NULL))
            return false;
        if (x != NULL &&
            (strlen(v) != x->value_len ||
             memcmp(v, x->value, x->value_len) != 0))
            return false;
    }
    return true;
}

static bool
same_variant(const struct dp_hc_entry *a, const struct dp_hc_entry *b)
{
    if (a->n_vary != b->n_vary)
        return false;
    for (size_t i = 0; i < a->n_vary; i++) {
        if (strcasecmp(a->vary_names[i], b->vary_names[i]) != 0)
            return false;
        const char *x = a->vary_values[i], *y = b->vary_values[i];
        if ((x == NULL) != (y == NULL) || (x != NULL && strcmp(x, y) != 0))
            return false;
    }
    return true;
}

static void
lru_unlink(struct dp_hc_entry *e)
{
    e->lru_prev->lru_next = e->lru_next;
    e->lru_next->lru_prev = e->lru_prev;
}

static void
lru_push_front(struct dp_hc_store *s, struct dp_hc_entry *e)
{
    e->lru_next = s->lru.lru_next;
    e->lru_prev = &s->lru;
    s->lru.lru_next->lru_prev = e;
    s->lru.lru_next = e;
}

struct dp_hc_entry *
dp_hc_store_lookup(struct dp_hc_store *s, const char *key,
                   const struct dp_hc_header *req_headers, size_t n)
{
    uint64_t h = hash_key(key);
    for (struct dp_hc_entry *e = s->buckets[h % s->n_buckets]; e != NULL;
         e = e->hnext) {
        if (e->hash != h || strcmp(e->key, key) != 0 ||
            !variant_matches(e, req_headers, n))
            continue;
        lru_unlink(e);
        lru_push_front(s, e);
        e->refs++;
        return e;
    }
    return NULL;
}

static char *
dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

/* Split the Vary value into names and take the request's values. */
static int
take_vary(struct dp_hc_entry *e, const char *v, size_t n,
          const struct dp_hc_header *rh, size_t rn)
{
    size_t cap = 1;
    for (size_t i = 0; i < n; i++)
        cap += v[i] == ',';
    e->vary_names = calloc(cap, sizeof(char *));
    e->vary_values = calloc(cap, sizeof(char *));
    if (e->vary_names == NULL || e->vary_values == NULL)
        return -1;
    size_t i = 0;
    while (i < n) {
        while (i < n && (is_blank(v[i]) || v[i] == ','))
            i++;
        size_t st = i;
        while (i < n && v[i] != ',' && !is_blank(v[i]))
            i++;
        if (i == st)
            continue;
        char *name = dup_n(v + st, i - st);
        if (name == NULL)
            return -1;
        e->vary_names[e->n_vary] = name;
        const struct dp_hc_header *x = find_header(rh, rn, name);
        if (x != NULL && memchr(x->value, '\0', x->value_len) != NULL) {
            /* not from an HTTP head (the parser refuses NUL), and
             * variant_matches() compares C strings: not stored */
            e->vary_names[e->n_vary] = NULL;
            free(name);
            return -1;
        }
        if (x != NULL) {
            e->vary_values[e->n_vary] = dup_n(x->value, x->value_len);
            if (e->vary_values[e->n_vary] == NULL) {
                e->n_vary++;
                return -1;
            }
        }
        e->n_vary++;
        while (i < n && v[i] != ',')
            i++;
    }
    return 0;
}

struct dp_hc_entry *
dp_hc_entry_new(const char *key, unsigned status, const char *headers,
                size_t headers_len, const uint8_t *body, size_t body_len,
                const char *tag, const struct dp_hc_facts *facts,
                const struct dp_hc_header *req_headers, size_t n)
{
    struct dp_hc_entry *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->refs = 1;
    e->status = status;
    e->facts = *facts;
    e->key = dup_n(key, strlen(key));
    e->headers = dup_n(headers, headers_len);
    e->headers_len = headers_len;
    e->body = malloc(body_len > 0 ? body_len : 1);
    e->body_len = body_len;
    if (e->body != NULL && body_len > 0)
        memcpy(e->body, body, body_len);
    bool ok = e->key != NULL && e->headers != NULL && e->body != NULL;
    if (ok && tag != NULL)
        ok = (e->tag = dup_n(tag, strlen(tag))) != NULL;
    if (ok && facts->etag != NULL)
        ok = (e->etag = dup_n(facts->etag, facts->etag_len)) != NULL;
    if (ok && facts->last_modified != NULL)
        ok = (e->last_modified = dup_n(facts->last_modified,
                                       facts->last_modified_len)) != NULL;
    if (ok && facts->vary != NULL)
        ok = take_vary(e, facts->vary, facts->vary_len, req_headers,
                       n) == 0;
    if (!ok) {
        entry_free(e);
        return NULL;
    }
    e->facts.etag = e->etag;
    e->facts.last_modified = e->last_modified;
    e->facts.vary = NULL;
    e->facts.vary_len = 0;
    e->hash = hash_key(e->key);
    e->size = ENTRY_OVERHEAD + strlen(e->key) + headers_len + body_len;
    for (size_t i = 0; i < e->n_vary; i++)
        e->size += strlen(e->vary_names[i]) +
                   (e->vary_values[i] ? strlen(e->vary_values[i]) : 0);
    return e;
}

void
dp_hc_store_remove(struct dp_hc_store *s, struct dp_hc_entry *e)
{
    if (!e->linked)
        return;
    struct dp_hc_entry **pp = &s->buckets[e->hash % s->n_buckets];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(e);
    e->linked = false;
    s->bytes -= e->size;
    s->count--;
    dp_hc_entry_unref(e);
}

bool
dp_hc_store_put(struct dp_hc_store *s, struct dp_hc_entry *e)
{
    if (e->size > dp_hc_store_entry_limit(s) || e->size > s->capacity)
        return false;
    struct dp_hc_entry **chain = &s->buckets[e->hash % s->n_buckets];
    for (struct dp_hc_entry *x = *chain; x != NULL; x = x->hnext)
        if (x->hash == e->hash && strcmp(x->key, e->key) == 0 &&
            same_variant(x, e)) {
            dp_hc_store_remove(s, x);
            break;
        }
    while (s->bytes + e->size > s->capacity && s->lru.lru_prev != &s->lru) {
        dp_hc_store_remove(s, s->lru.lru_prev);
        s->evictions++;
    }
    e->refs++;
    e->linked = true;
    e->hnext = *chain;
    *chain = e;
    lru_push_front(s, e);
    s->bytes += e->size;
    s->count++;
    s->stores++;
    return true;
}

void
dp_hc_entry_refresh(struct dp_hc_entry *e, const struct dp_hc_facts *f)
{
    e->facts.lifetime_ms = f->lifetime_ms;
    e->facts.initial_age_ms = f->initial_age_ms;
    e->facts.response_ms = f->response_ms;
    e->facts.revalidate_always = f->revalidate_always;
}

size_t
dp_hc_store_flush(struct dp_hc_store *s, const char *tag)
{
    size_t n = 0;
    struct dp_hc_entry *e = s->lru.lru_next;
    while (e != &s->lru) {
        struct dp_hc_entry *next = e->lru_next;
        if (tag == NULL || (e->tag != NULL && strcmp(e->tag, tag) == 0)) {
            dp_hc_store_remove(s, e);
            n++;
        }
        e = next;
    }
    return n;
}

size_t
dp_hc_store_remove_key(struct dp_hc_store *s, const char *key)
{
    uint64_t h = hash_key(key);
    size_t n = 0;
    struct dp_hc_entry *e = s->buckets[h % s->n_buckets];
    while (e != NULL) {
        struct dp_hc_entry *next = e->hnext;
        if (e->hash == h && strcmp(e->key, key) == 0) {
            dp_hc_store_remove(s, e);
            n++;
        }
        e = next;
    }
    return n;
}

void
dp_hc_store_stats(const struct dp_hc_store *s, struct dp_hc_stats *out)
{
    out->entries = s->count;
    out->bytes = s->bytes;
    out->capacity = s->capacity;
    out->hits = s->hits;
    out->misses = s->misses;
    out->stores = s->stores;
    out->evictions = s->evictions;
    out->revalidations = s->revalidations;
}

void
dp_hc_store_count(struct dp_hc_store *s, bool hit, bool miss,
                  bool revalidation)
{
    s->hits += hit;
    s->misses += miss;
    s->revalidations += revalidation;
}

/* ---- a body's copy ---- */

void
dp_hc_copy_drop(struct dp_hc_copy *c)
{
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
    c->dropped = true;
}

void
dp_hc_copy_append(struct dp_hc_copy *c, const uint8_t *data, size_t n)
{
    if (c->dropped || n == 0)
        return;
    if (n > c->limit - c->len) {
        dp_hc_copy_drop(c);
        return;
    }
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4096;
        while (cap < c->len + n)
            cap *= 2;
        if (cap > c->limit)
            cap = c->limit;
        uint8_t *b = realloc(c->buf, cap);
        if (b == NULL) {
            dp_hc_copy_drop(c);
            return;
        }
        c->buf = b;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, data, n);
    c->len += n;
}

bool
dp_hc_header_stored(const char *line, size_t n)
{
    return !((n >= 11 && strncasecmp(line, "Set-Cookie:", 11) == 0) ||
             (n >= 12 && strncasecmp(line, "Set-Cookie2:", 12) == 0) ||
             (n >= 4 && strncasecmp(line, "Age:", 4) == 0));
}

char *
dp_hc_stored_lines(const char *data, size_t n, size_t *len)
{
    char *d = malloc(n + 1);
    if (d == NULL)
        return NULL;
    size_t k = 0;
    const char *p = data, *end = data + n;
    while (p < end) {
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
