/* Unit tests for dataplane/dp_http_cache: Cache-Control parsing, request
 * and response cacheability, freshness lifetimes and ages with exact
 * vectors (RFC 9111), Vary matching, the LRU store, the per-entry limit,
 * tag flushes and references. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_http_cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H(n, v) { n, sizeof(n) - 1, v, sizeof(v) - 1 }

/* Sun, 06 Nov 1994 08:49:37 GMT */
#define T0 (784111777LL * 1000)

static struct dp_hc_cc
cc_of(const char *s)
{
    struct dp_hc_cc cc;
    dp_hc_cc_init(&cc);
    dp_hc_parse_cache_control(&cc, s, strlen(s));
    return cc;
}

static void
test_cache_control(void **state)
{
    (void)state;
    struct dp_hc_cc cc = cc_of("public, max-age=60, s-maxage=\"30\"");
    assert_true(cc.public_);
    assert_int_equal(cc.max_age, 60);
    assert_int_equal(cc.s_maxage, 30);
    assert_false(cc.no_store);
    cc = cc_of("No-Store,PRIVATE=\"Set-Cookie, X\", no-cache");
    assert_true(cc.no_store && cc.private_ && cc.no_cache);
    assert_int_equal(cc.max_age, -1);
    cc = cc_of("max-age=abc, must-revalidate");
    assert_int_equal(cc.max_age, -1);
    assert_true(cc.must_revalidate);
    cc = cc_of("max-age=100, max-age=10");   /* the smaller wins */
    assert_int_equal(cc.max_age, 10);
    cc = cc_of("s-maxage=-5");
    assert_int_equal(cc.s_maxage, 0);
    cc = cc_of("max-age=99999999999999999999");
    assert_int_equal(cc.max_age, 1LL << 31);
    cc = cc_of(",, ,max-age = 7 ,");
    assert_int_equal(cc.max_age, 7);
}

static enum dp_hc_request_mode
req_mode(const struct dp_hc_header *h, size_t n, bool get, bool obey)
{
    struct dp_hc_request r = { get, h, n, false, obey };
    return dp_hc_request_check(&r);
}

static void
test_request(void **state)
{
    (void)state;
    assert_int_equal(req_mode(NULL, 0, true, true), DP_HC_LOOKUP);
    assert_int_equal(req_mode(NULL, 0, false, true), DP_HC_BYPASS);
    struct dp_hc_header nc[] = { H("cache-control", "no-cache") };
    assert_int_equal(req_mode(nc, 1, true, true), DP_HC_RELOAD);
    assert_int_equal(req_mode(nc, 1, true, false), DP_HC_LOOKUP);
    struct dp_hc_header pr[] = { H("Pragma", "no-cache") };
    assert_int_equal(req_mode(pr, 1, true, true), DP_HC_RELOAD);
    struct dp_hc_header ma[] = { H("Cache-Control", "max-age=0") };
    assert_int_equal(req_mode(ma, 1, true, true), DP_HC_RELOAD);
    struct dp_hc_header ns[] = { H("Cache-Control", "no-store") };
    assert_int_equal(req_mode(ns, 1, true, false), DP_HC_BYPASS);

    struct dp_hc_header au[] = { H("authorization", "Basic eDp5") };
    struct dp_hc_request r = { true, au, 1, false, true };
    assert_true(dp_hc_request_personal(&r));
    r.n_headers = 0;
    assert_false(dp_hc_request_personal(&r));
    r.has_user = true;
    assert_true(dp_hc_request_personal(&r));
}

static bool
check(const struct dp_hc_header *rh, size_t rn, bool user, unsigned status,
      const struct dp_hc_header *h, size_t n, int64_t req_ms,
      int64_t resp_ms, struct dp_hc_facts *f, const char **why)
{
    struct dp_hc_request rq = { true, rh, rn, user, true };
    struct dp_hc_response rs = { status, h, n, req_ms, resp_ms };
    return dp_hc_response_check(&rq, &rs, f, why);
}

static void
test_response_lifetimes(void **state)
{
    (void)state;
    struct dp_hc_facts f;
    const char *why;
    /* max-age, Date equal to the response time: age 0 */
    struct dp_hc_header a[] = { H("Date", "Sun, 06 Nov 1994 08:49:37 GMT"),
                                H("Cache-Control", "max-age=60") };
    assert_true(check(NULL, 0, false, 200, a, 2, T0, T0, &f, &why));
    assert_int_equal(f.lifetime_ms, 60000);
    assert_int_equal(f.initial_age_ms, 0);
    assert_false(f.shared);
    /* s-maxage beats max-age; Age 5 plus 2 s delay = 7 s corrected age;
     * apparent age 3 s; the larger wins */
    struct dp_hc_header b[] = { H("Date", "Sun, 06 Nov 1994 08:49:34 GMT"),
                                H("Cache-Control", "max-age=60, s-maxage=10"),
                                H("Age", "5") };
    assert_true(check(NULL, 0, false, 200, b, 3, T0 - 2000, T0, &f, &why));
    assert_int_equal(f.lifetime_ms, 10000);
    assert_int_equal(f.initial_age_ms, 7000);
    assert_true(f.shared);
    assert_int_equal(dp_hc_current_age(f.initial_age_ms, f.response_ms,
                                       T0 + 2500), 9500);
    /* Expires minus Date */
    struct dp_hc_header c[] = { H("Date", "Sun, 06 Nov 1994 08:49:37 GMT"),
                                H("Expires", "Sun, 06 Nov 1994 09:49:37 GMT") };
    assert_true(check(NULL, 0, false, 200, c, 2, T0, T0, &f, &why));
    assert_int_equal(f.lifetime_ms, 3600000);
    /* an invalid Expires is already expired; max-age beats Expires */
    struct dp_hc_header d[] = { H("Expires", "0"), H("ETag", "\"x\"") };
    assert_true(check(NULL, 0, false, 200, d, 2, T0, T0, &f, &why));
    assert_int_equal(f.lifetime_ms, 0);
    assert_string_equal(f.etag, "\"x\"");
    struct dp_hc_header e[] = { H("Expires", "Sun, 06 Nov 1994 08:49:37 GMT"),
                                H("Cache-Control", "max-age=5") };
    assert_true(check(NULL, 0, false, 200, e, 2, T0, T0, &f, &why));
    assert_int_equal(f.lifetime_ms, 5000);
    /* heuristic: 10 % of Date - Last-Modified (1000 s -> 100 s) */
    struct dp_hc_header g[] = { H("Date", "Sun, 06 Nov 1994 08:49:37 GMT"),
                                H("Last-Modified",
                                  "Sun, 06 Nov 1994 08:32:57 GMT") };
    assert_true(check(NULL, 0, false, 200, g, 2, T0, T0, &f, &why));
    assert_int_equal(f.lifetime_ms, 100000);
    /* ... capped at a day, and only for 200 */
    struct dp_hc_header g2[] = { H("Date", "Sun, 06 Nov 1994 08:49:37 GMT"),
                                 H("Last-Modified",
                                   "Tue, 06 Nov 1984 08:49:37 GMT") };
    assert_true(check(NULL, 0, false, 200, g2, 2, T0, T0, &f, &why));
    assert_int_equal(f.lifetime_ms, 24 * 3600000LL);
    assert_false(check(NULL, 0, false, 404, g2 + 0, 1, T0, T0, &f, &why));
    /* no-cache: stored with lifetime 0 */
    struct dp_hc_header h[] = { H("Cache-Control", "no-cache, max-age=60"),
                                H("ETag", "W/\"1\"") };
    assert_true(check(NULL, 0, false, 200, h, 2, T0, T0, &f, &why));
    assert_int_equal(f.lifetime_ms, 0);
    /* a Date in the future: apparent age 0 */
    struct dp_hc_header k[] = { H("Date", "Sun, 06 Nov 1994 08:59:37 GMT"),
                                H("Cache-Control", "max-age=60") };
    assert_true(check(NULL, 0, false, 200, k, 2, T0, T0 + 1000, &f, &why));
    assert_int_equal(f.initial_age_ms, 1000);
}

/* EAGER_CACHE: a response without freshness information gets an hour;
 * explicit freshness, the heuristic, no-cache and the refusals stay. */
static void
test_response_eager(void **state)
{
    (void)state;
    struct dp_hc_facts f;
    const char *why;
    struct dp_hc_request rq = { true, NULL, 0, false, true };
    /* nothing at all: refused without, an hour with */
    struct dp_hc_header a[] = { H("Content-Type", "text/plain") };
    struct dp_hc_response rs = { 200, a, 1, T0, T0 };
    assert_false(dp_hc_response_check(&rq, &rs, &f, &why));
    assert_string_equal(why, "no freshness information and no validator");
    assert_false(dp_hc_response_check_eager(&rq, &rs, false, &f, &why));
    assert_true(dp_hc_response_check_eager(&rq, &rs, true, &f, &why));
    assert_int_equal(f.lifetime_ms, 3600000);
    assert_int_equal(DP_HC_EAGER_LIFETIME_MS, 3600000);
    /* a validator alone: lifetime 0 without, an hour with */
    struct dp_hc_header b[] = { H("ETag", "\"v\"") };
    struct dp_hc_response rb = { 200, b, 1, T0, T0 };
    assert_true(dp_hc_response_check_eager(&rq, &rb, false, &f, &why));
    assert_int_equal(f.lifetime_ms, 0);
    assert_true(dp_hc_response_check_eager(&rq, &rb, true, &f, &why));
    assert_int_equal(f.lifetime_ms, 3600000);
    assert_string_equal(f.etag, "\"v\"");
    /* explicit freshness wins, max-age=0 included */
    struct dp_hc_header c[] = { H("Cache-Control", "max-age=0") };
    struct dp_hc_response rc = { 200, c, 1, T0, T0 };
    assert_true(dp_hc_response_check_eager(&rq, &rc, true, &f, &why));
    assert_int_equal(f.lifetime_ms, 0);
    /* the heuristic too (10 % of 1000 s) */
    struct dp_hc_header d[] = { H("Date", "Sun, 06 Nov 1994 08:49:37 GMT"),
                                H("Last-Modified",
                                  "Sun, 06 Nov 1994 08:32:57 GMT") };
    struct dp_hc_response rd = { 200, d, 2, T0, T0 };
    assert_true(dp_hc_response_check_eager(&rq, &rd, true, &f, &why));
    assert_int_equal(f.lifetime_ms, 100000);
    /* no-cache keeps lifetime 0 */
    struct dp_hc_header e[] = { H("Cache-Control", "no-cache") };
    struct dp_hc_response re = { 200, e, 1, T0, T0 };
    assert_true(dp_hc_response_check_eager(&rq, &re, true, &f, &why));
    assert_int_equal(f.lifetime_ms, 0);
    /* no-store, private, the status, Vary: * and a user still refuse */
    struct dp_hc_header g[] = { H("Cache-Control", "no-store") };
    struct dp_hc_response rg = { 200, g, 1, T0, T0 };
    assert_false(dp_hc_response_check_eager(&rq, &rg, true, &f, &why));
    assert_string_equal(why, "no-store");
    struct dp_hc_header p[] = { H("Cache-Control", "private") };
    struct dp_hc_response rp = { 200, p, 1, T0, T0 };
    assert_false(dp_hc_response_check_eager(&rq, &rp, true, &f, &why));
    assert_string_equal(why, "private");
    struct dp_hc_response r500 = { 500, a, 1, T0, T0 };
    assert_false(dp_hc_response_check_eager(&rq, &r500, true, &f, &why));
    struct dp_hc_header v[] = { H("Vary", "*") };
    struct dp_hc_response rv = { 200, v, 1, T0, T0 };
    assert_false(dp_hc_response_check_eager(&rq, &rv, true, &f, &why));
    struct dp_hc_request ru = { true, NULL, 0, true, true };
    assert_false(dp_hc_response_check_eager(&ru, &rs, true, &f, &why));
}

static void
test_response_refusals(void **state)
{
    (void)state;
    struct dp_hc_facts f;
    const char *why;
    struct dp_hc_header ns[] = { H("Cache-Control", "max-age=60, no-store") };
    assert_false(check(NULL, 0, false, 200, ns, 1, T0, T0, &f, &why));
    assert_string_equal(why, "no-store");
    struct dp_hc_header pv[] = { H("Cache-Control", "private, max-age=60") };
    assert_false(check(NULL, 0, false, 200, pv, 1, T0, T0, &f, &why));
    assert_string_equal(why, "private");
    struct dp_hc_header vs[] = { H("Cache-Control", "max-age=60"),
                                 H("Vary", "Accept, *") };
    assert_false(check(NULL, 0, false, 200, vs, 2, T0, T0, &f, &why));
    assert_string_equal(why, "Vary: *");
    struct dp_hc_header none[] = { H("Content-Type", "text/plain") };
    assert_false(check(NULL, 0, false, 200, none, 1, T0, T0, &f, &why));
    struct dp_hc_header ma[] = { H("Cache-Control", "max-age=60") };
    assert_false(check(NULL, 0, false, 500, ma, 1, T0, T0, &f, &why));
    assert_false(check(NULL, 0, false, 206, ma, 1, T0, T0, &f, &why));
    assert_true(check(NULL, 0, false, 404, ma, 1, T0, T0, &f, &why));

    /* Authorization or a user: only public, s-maxage, must-revalidate */
    struct dp_hc_header au[] = { H("Authorization", "Basic eDp5") };
    assert_false(check(au, 1, false, 200, ma, 1, T0, T0, &f, &why));
    assert_false(check(NULL, 0, true, 200, ma, 1, T0, T0, &f, &why));
    struct dp_hc_header pu[] = { H("Cache-Control", "public, max-age=60") };
    assert_true(check(au, 1, false, 200, pu, 1, T0, T0, &f, &why));
    assert_true(f.shared);
    struct dp_hc_header sm[] = { H("Cache-Control", "s-maxage=60") };
    assert_true(check(NULL, 0, true, 200, sm, 1, T0, T0, &f, &why));
    struct dp_hc_header mr[] = { H("Cache-Control",
                                   "max-age=60, must-revalidate") };
    assert_true(check(au, 1, false, 200, mr, 1, T0, T0, &f, &why));
    assert_true(f.revalidate_always);
}

static struct dp_hc_entry *
entry(const char *key, const char *body, const char *tag,
      const char *vary, const struct dp_hc_header *rh, size_t rn)
{
    struct dp_hc_facts f;
    memset(&f, 0, sizeof(f));
    f.lifetime_ms = 1000;
    if (vary != NULL) {
        f.vary = vary;
        f.vary_len = strlen(vary);
    }
    return dp_hc_entry_new(key, 200, "A: b\r\n", 6, (const uint8_t *)body,
                           strlen(body), tag, &f, rh, rn);
}

static void
test_store_vary(void **state)
{
    (void)state;
    struct dp_hc_store *s = dp_hc_store_new(1 << 20);
    struct dp_hc_header gz[] = { H("accept-encoding", "gzip"),
                                 H("X", "1") };
    struct dp_hc_header br[] = { H("Accept-Encoding", "br") };
    struct dp_hc_entry *e1 = entry("k", "gzip-body", NULL,
                                   "Accept-Encoding, Accept", gz, 2);
    struct dp_hc_entry *e2 = entry("k", "br-body", NULL,
                                   "Accept-Encoding,Accept", br, 1);
    assert_true(dp_hc_store_put(s, e1));
    assert_true(dp_hc_store_put(s, e2));
    dp_hc_entry_unref(e1);
    dp_hc_entry_unref(e2);
    struct dp_hc_entry *x = dp_hc_store_lookup(s, "k", br, 1);
    assert_non_null(x);
    assert_memory_equal(x->body, "br-body", 7);
    dp_hc_entry_unref(x);
    x = dp_hc_store_lookup(s, "k", gz, 2);
    assert_non_null(x);
    assert_memory_equal(x->body, "gzip-body", 9);
    dp_hc_entry_unref(x);
    /* absent matches only absent; a different value misses */
    assert_null(dp_hc_store_lookup(s, "k", NULL, 0));
    struct dp_hc_header id[] = { H("Accept-Encoding", "identity") };
    assert_null(dp_hc_store_lookup(s, "k", id, 1));
    /* gzip plus an Accept header: Accept was absent when stored */
    struct dp_hc_header gza[] = { H("Accept-Encoding", "gzip"),
                                  H("Accept", "*/*") };
    assert_null(dp_hc_store_lookup(s, "k", gza, 2));
    assert_null(dp_hc_store_lookup(s, "other", br, 1));
    /* the same variant replaces */
    struct dp_hc_entry *e3 = entry("k", "br-2", NULL, "Accept-Encoding, Accept",
                                   br, 1);
    assert_true(dp_hc_store_put(s, e3));
    dp_hc_entry_unref(e3);
    struct dp_hc_stats st;
    dp_hc_store_stats(s, &st);
    assert_int_equal(st.entries, 2);
    x = dp_hc_store_lookup(s, "k", br, 1);
    assert_memory_equal(x->body, "br-2", 4);
    /* every variant of a key goes at once (an unsafe request); an entry
     * in use lives on; other keys stay */
    struct dp_hc_entry *o = entry("other", "o", NULL, NULL, NULL, 0);
    assert_true(dp_hc_store_put(s, o));
    dp_hc_entry_unref(o);
    assert_int_equal(dp_hc_store_remove_key(s, "k"), 2);
    assert_int_equal(dp_hc_store_remove_key(s, "k"), 0);
    assert_null(dp_hc_store_lookup(s, "k", br, 1));
    assert_null(dp_hc_store_lookup(s, "k", gz, 2));
    assert_memory_equal(x->body, "br-2", 4);
    dp_hc_entry_unref(x);
    dp_hc_store_stats(s, &st);
    assert_int_equal(st.entries, 1);
    o = dp_hc_store_lookup(s, "other", NULL, 0);
    assert_non_null(o);
    dp_hc_entry_unref(o);
    dp_hc_store_free(s);
}

static void
test_store_lru_and_limit(void **state)
{
    (void)state;
    /* capacity 8 KiB: the per-entry limit is 1 KiB */
    struct dp_hc_store *s = dp_hc_store_new(8192);
    assert_int_equal(dp_hc_store_entry_limit(s), 1024);
    char big[1024];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct dp_hc_entry *e = entry("big", big, NULL, NULL, NULL, 0);
    assert_false(dp_hc_store_put(s, e));
    dp_hc_entry_unref(e);
    /* each entry: 256 + 2 + 6 + 500 = 764 bytes; 10 of them fit */
    char mid[501];
    memset(mid, 'm', 500);
    mid[500] = '\0';
    char key[8];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        e = entry(key, mid, NULL, NULL, NULL, 0);
        assert_int_equal(e->size, 764);
        assert_true(dp_hc_store_put(s, e));
        dp_hc_entry_unref(e);
    }
    /* use k0 so k1 is the least recently used */
    e = dp_hc_store_lookup(s, "k0", NULL, 0);
    assert_non_null(e);
    dp_hc_entry_unref(e);
    e = entry("k10", mid, NULL, NULL, NULL, 0);
    assert_true(dp_hc_store_put(s, e));
    dp_hc_entry_unref(e);
    struct dp_hc_stats st;
    dp_hc_store_stats(s, &st);
    assert_int_equal(st.entries, 10);
    assert_int_equal(st.evictions, 1);
    assert_true(st.bytes <= 8192);
    assert_null(dp_hc_store_lookup(s, "k1", NULL, 0));
    e = dp_hc_store_lookup(s, "k0", NULL, 0);
    assert_non_null(e);
    dp_hc_entry_unref(e);
    dp_hc_store_free(s);

    /* the per-entry limit is at most 4 MiB */
    s = dp_hc_store_new((size_t)512 << 20);
    assert_int_equal(dp_hc_store_entry_limit(s), 4 << 20);
    dp_hc_store_free(s);

    /* capacity 0 keeps nothing */
    s = dp_hc_store_new(0);
    e = entry("a", "b", NULL, NULL, NULL, 0);
    assert_false(dp_hc_store_put(s, e));
    dp_hc_entry_unref(e);
    dp_hc_store_free(s);
}

static void
test_store_flush_and_refs(void **state)
{
    (void)state;
    struct dp_hc_store *s = dp_hc_store_new(1 << 20);
    const char *tags[] = { "t1", "t2", NULL, "t1" };
    char key[8];
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        struct dp_hc_entry *e = entry(key, "body", tags[i], NULL, NULL, 0);
        assert_true(dp_hc_store_put(s, e));
        dp_hc_entry_unref(e);
    }
    /* an entry in use survives its flush */
    struct dp_hc_entry *held = dp_hc_store_lookup(s, "k0", NULL, 0);
    assert_int_equal(dp_hc_store_flush(s, "t1"), 2);
    assert_null(dp_hc_store_lookup(s, "k3", NULL, 0));
    assert_memory_equal(held->body, "body", 4);
    assert_string_equal(held->tag, "t1");
    dp_hc_entry_unref(held);
    assert_int_equal(dp_hc_store_flush(s, "nope"), 0);
    assert_int_equal(dp_hc_store_flush(s, NULL), 2);
    struct dp_hc_stats st;
    dp_hc_store_stats(s, &st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(st.bytes, 0);
    dp_hc_store_free(s);
}

static void
test_copy_bounded(void **state)
{
    (void)state;
    static uint8_t data[10000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)i;
    struct dp_hc_copy c = { .limit = 9000 };
    dp_hc_copy_append(&c, data, 0);
    assert_int_equal(c.len, 0);
    for (size_t off = 0; off < 8000; off += 1000)
        dp_hc_copy_append(&c, data + off, 1000);
    assert_false(c.dropped);
    assert_int_equal(c.len, 8000);
    assert_true(c.cap >= 8000 && c.cap <= 9000);
    assert_memory_equal(c.buf, data, 8000);
    dp_hc_copy_append(&c, data + 8000, 1000);   /* exactly the limit */
    assert_false(c.dropped);
    assert_int_equal(c.len, 9000);
    dp_hc_copy_append(&c, data, 1);             /* one byte past it */
    assert_true(c.dropped);
    assert_null(c.buf);
    assert_int_equal(c.len, 0);
    dp_hc_copy_append(&c, data, 1);             /* dropped stays dropped */
    assert_true(c.dropped);
    assert_null(c.buf);
    dp_hc_copy_drop(&c);                        /* twice is fine */
}

static void
test_header_stored(void **state)
{
    (void)state;
    assert_false(dp_hc_header_stored("Set-Cookie: a=b", 15));
    assert_false(dp_hc_header_stored("set-cookie2: a=b", 16));
    assert_false(dp_hc_header_stored("Age: 5", 6));
    assert_true(dp_hc_header_stored("Content-Type: text/plain", 24));
    assert_true(dp_hc_header_stored("Ag", 2));
    assert_true(dp_hc_header_stored("Agent: x", 8));
}

static void
test_stored_lines(void **state)
{
    (void)state;
    const char *head = "Content-Type: text/plain\r\n"
                       "Set-Cookie: a=b\r\n"
                       "Age: 7\r\n"
                       "ETag: \"x\"\r\n"
                       "X-Last: no newline";
    size_t len = 0;
    char *d = dp_hc_stored_lines(head, strlen(head), &len);
    assert_non_null(d);
    assert_string_equal(d, "Content-Type: text/plain\r\n"
                           "ETag: \"x\"\r\n"
                           "X-Last: no newline");
    assert_int_equal(len, strlen(d));
    free(d);
    d = dp_hc_stored_lines("", 0, &len);
    assert_non_null(d);
    assert_int_equal(len, 0);
    assert_string_equal(d, "");
    free(d);
}

/* dp_hc_header_next(): the headers of "Name: value\r\n" lines. */
static void
test_header_next(void **state)
{
    (void)state;
    static const char lines[] =
        "Content-Type: text/plain\r\n"
        "no colon here\r\n"
        "X-Empty:\r\n"
        "Vary:   Accept\r\n"
        "Last:x";
    const char *p = lines, *end = lines + sizeof(lines) - 1;
    struct dp_hc_header h;
    assert_true(dp_hc_header_next(&p, end, &h));
    assert_int_equal(h.name_len, 12);
    assert_memory_equal(h.name, "Content-Type", 12);
    assert_int_equal(h.value_len, 10);
    assert_memory_equal(h.value, "text/plain", 10);
    /* the line without a colon is passed over */
    assert_true(dp_hc_header_next(&p, end, &h));
    assert_int_equal(h.name_len, 7);
    assert_memory_equal(h.name, "X-Empty", 7);
    assert_int_equal(h.value_len, 0);
    /* leading spaces are not part of the value */
    assert_true(dp_hc_header_next(&p, end, &h));
    assert_int_equal(h.value_len, 6);
    assert_memory_equal(h.value, "Accept", 6);
    /* a last line without CRLF counts */
    assert_true(dp_hc_header_next(&p, end, &h));
    assert_int_equal(h.name_len, 4);
    assert_memory_equal(h.value, "x", 1);
    assert_int_equal(h.value_len, 1);
    assert_ptr_equal(p, end);
    assert_false(dp_hc_header_next(&p, end, &h));
    assert_ptr_equal(p, end);

    /* nothing, or only lines without a colon: no header, at the end */
    p = end;
    assert_false(dp_hc_header_next(&p, end, &h));
    static const char none[] = "a\r\nb\r\n";
    p = none;
    assert_false(dp_hc_header_next(&p, none + 6, &h));
    assert_ptr_equal(p, none + 6);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_control),
        cmocka_unit_test(test_request),
        cmocka_unit_test(test_response_lifetimes),
        cmocka_unit_test(test_response_eager),
        cmocka_unit_test(test_response_refusals),
        cmocka_unit_test(test_store_vary),
        cmocka_unit_test(test_store_lru_and_limit),
        cmocka_unit_test(test_store_flush_and_refs),
        cmocka_unit_test(test_copy_bounded),
        cmocka_unit_test(test_header_stored),
        cmocka_unit_test(test_stored_lines),
        cmocka_unit_test(test_header_next),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
