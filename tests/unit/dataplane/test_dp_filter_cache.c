/* Unit tests for dataplane/dp_filter_cache: the key (every part of it
 * counts, the chain prefix), the lifetime rule of a filter result, the
 * store (expiry, tag flushes, the per-entry limit, LRU, statistics, size
 * 0), and the request hook: a miss tees the result into the store, the
 * next begin answers from it, a source without ETag is never looked up,
 * a PIPE hit keeps the current status and headers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_body.h"
#include "dp_filter_cache_request.h"
#include "dp_pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H(n, v) { n, sizeof(n) - 1, v, sizeof(v) - 1 }

/* Sun, 06 Nov 1994 08:49:37 GMT */
#define T0 (784111777LL * 1000)

static char *
key_of(const char *source, unsigned status, const char *etag,
       const struct tp_filter *const *f, size_t n)
{
    struct pr_buf b = PR_BUF_INIT;
    assert_int_equal(dp_filter_cache_key(&b, source, status, etag, f, n),
                     0);
    char *s = malloc(b.len + 1);
    assert_non_null(s);
    memcpy(s, b.data, b.len);
    s[b.len] = '\0';
    pr_buf_free(&b);
    return s;
}

static void
test_key(void **state)
{
    (void)state;
    struct tp_expandable arg1 = { "--a", NULL }, arg2 = { "--b", NULL };
    struct tp_filter a = { 0 }, b = { 0 }, c = { 0 };
    a.address.type = TP_ADDRESS_PIPE;
    a.address.path = "/bin/up";
    a.address.args.v = &arg1;
    a.address.args.n = 1;
    b = a;
    b.address.args.v = &arg2;
    c.address.type = TP_ADDRESS_HTTP;
    c.address.host_and_port = "f:80";
    c.address.path = "/bin/up";
    const struct tp_filter *fa[] = { &a, &c };
    const struct tp_filter *fb[] = { &b, &c };
    const struct tp_filter *fc[] = { &c };

    char *k0 = key_of("src", 200, "\"e1\"", fa, 1);
    char *same = key_of("src", 200, "\"e1\"", fa, 1);
    assert_string_equal(k0, same);
    char *others[] = {
        key_of("src2", 200, "\"e1\"", fa, 1),   /* another source */
        key_of("src", 404, "\"e1\"", fa, 1),    /* another status */
        key_of("src", 200, "\"e2\"", fa, 1),    /* another ETag */
        key_of("src", 200, "\"e1\"", fb, 1),    /* other arguments */
        key_of("src", 200, "\"e1\"", fc, 1),    /* HTTP, same path */
        key_of("src", 200, "\"e1\"", fa, 2),    /* the second filter */
    };
    for (size_t i = 0; i < sizeof(others) / sizeof(*others); i++) {
        assert_string_not_equal(k0, others[i]);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(others[i], others[j]);
    }
    /* the second filter after another first one is another key */
    char *k2b = key_of("src", 200, "\"e1\"", fb, 2);
    assert_string_not_equal(others[5], k2b);
    /* the strings are length-prefixed: no ambiguous concatenation */
    char *x1 = key_of("ab", 200, "c", fa, 1);
    char *x2 = key_of("a", 200, "bc", fa, 1);
    assert_string_not_equal(x1, x2);
    free(k0);
    free(same);
    free(k2b);
    free(x1);
    free(x2);
    for (size_t i = 0; i < sizeof(others) / sizeof(*others); i++)
        free(others[i]);
}

static int64_t
life_of(const struct dp_hc_header *h, size_t n, const char **why)
{
    int64_t l = -1;
    *why = NULL;
    if (!dp_filter_cache_lifetime(h, n, T0, &l, why))
        return -1;
    return l;
}

static void
test_lifetime(void **state)
{
    (void)state;
    const char *why;
    assert_int_equal(life_of(NULL, 0, &why),
                     DP_FILTER_CACHE_DEFAULT_TTL_MS);
    struct dp_hc_header ns[] = { H("Cache-Control", "max-age=60, no-store") };
    assert_int_equal(life_of(ns, 1, &why), -1);
    assert_string_equal(why, "no-store");
    struct dp_hc_header nc[] = { H("cache-control", "no-cache") };
    assert_int_equal(life_of(nc, 1, &why), -1);
    assert_string_equal(why, "no-cache");
    struct dp_hc_header pr[] = { H("Cache-Control", "private") };
    assert_int_equal(life_of(pr, 1, &why), -1);
    assert_string_equal(why, "private");
    struct dp_hc_header ma[] = { H("Cache-Control", "max-age=60") };
    assert_int_equal(life_of(ma, 1, &why), 60000);
    struct dp_hc_header sm[] = { H("Cache-Control", "max-age=60"),
                                 H("Cache-Control", "s-maxage=5") };
    assert_int_equal(life_of(sm, 2, &why), 5000);
    struct dp_hc_header zero[] = { H("Cache-Control", "max-age=0") };
    assert_int_equal(life_of(zero, 1, &why), -1);
    /* Expires against Date, max-age wins over Expires */
    struct dp_hc_header ex[] = {
        H("Date", "Sun, 06 Nov 1994 08:49:37 GMT"),
        H("Expires", "Sun, 06 Nov 1994 08:59:37 GMT"),
    };
    assert_int_equal(life_of(ex, 2, &why), 600000);
    struct dp_hc_header exm[] = {
        H("Expires", "Sun, 06 Nov 1994 08:59:37 GMT"),
        H("Cache-Control", "max-age=7"),
    };
    assert_int_equal(life_of(exm, 2, &why), 7000);
    /* Expires without Date: against now (T0) */
    struct dp_hc_header exn[] = {
        H("Expires", "Sun, 06 Nov 1994 08:50:37 GMT"),
    };
    assert_int_equal(life_of(exn, 1, &why), 60000);
    /* in the past, invalid: not stored */
    struct dp_hc_header past[] = {
        H("Expires", "Sun, 06 Nov 1994 08:00:00 GMT"),
    };
    assert_int_equal(life_of(past, 1, &why), -1);
    struct dp_hc_header bad[] = { H("Expires", "0") };
    assert_int_equal(life_of(bad, 1, &why), -1);
}

static void
test_store(void **state)
{
    (void)state;
    struct dp_hc_stats st;
    /* disabled: nothing stored, nothing found */
    assert_int_equal(dp_filter_cache_configure(0), 0);
    assert_false(dp_filter_cache_enabled());
    assert_false(dp_filter_cache_put("k", 200, "", 0, (const uint8_t *)"x",
                                     1, NULL, 1000, T0));
    assert_null(dp_filter_cache_get("k", T0));
    dp_filter_cache_stats(&st);
    assert_int_equal(st.entries, 0);
    assert_int_equal(dp_filter_cache_flush(NULL), 0);

    /* 64 KiB: the per-entry limit is 8 KiB */
    assert_int_equal(dp_filter_cache_configure(64 * 1024), 0);
    assert_true(dp_filter_cache_enabled());
    static uint8_t big[9000];
    assert_false(dp_filter_cache_put("big", 200, "", 0, big, sizeof(big),
                                     NULL, 1000, T0));
    const char *hl = "Content-Type: text/x\r\n";
    assert_true(dp_filter_cache_put("a", 203, hl, strlen(hl),
                                    (const uint8_t *)"AAA", 3, "news", 1000,
                                    T0));
    assert_true(dp_filter_cache_put("b", 200, NULL, 0, (const uint8_t *)"B",
                                    1, "sport", 1000, T0));
    assert_true(dp_filter_cache_put("c", 200, NULL, 0, (const uint8_t *)"C",
                                    1, NULL, 1000, T0));
    struct dp_hc_entry *e = dp_filter_cache_get("a", T0 + 999);
    assert_non_null(e);
    assert_int_equal(e->status, 203);
    assert_int_equal(e->body_len, 3);
    assert_memory_equal(e->body, "AAA", 3);
    assert_int_equal(e->headers_len, strlen(hl));
    assert_string_equal(e->tag, "news");
    dp_hc_entry_unref(e);
    /* expired at lookup: dropped */
    assert_null(dp_filter_cache_get("a", T0 + 1000));
    dp_filter_cache_stats(&st);
    assert_int_equal(st.entries, 2);
    /* flush by tag, then all */
    assert_int_equal(dp_filter_cache_flush("sport"), 1);
    assert_null(dp_filter_cache_get("b", T0));
    assert_non_null(e = dp_filter_cache_get("c", T0));
    dp_hc_entry_unref(e);
    assert_int_equal(dp_filter_cache_flush("none"), 0);
    assert_int_equal(dp_filter_cache_flush(""), 1);
    assert_null(dp_filter_cache_get("c", T0));

    /* LRU: fill with 4 KiB entries; the least recently used goes */
    static uint8_t four[4096];
    char key[16];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_true(dp_filter_cache_put(key, 200, NULL, 0, four,
                                        sizeof(four), NULL, 60000, T0));
        if (i == 1) {
            /* k0 becomes the most recently used */
            assert_non_null(e = dp_filter_cache_get("k0", T0));
            dp_hc_entry_unref(e);
        }
    }
    dp_filter_cache_stats(&st);
    assert_true(st.entries < 20 && st.entries >= 10);
    assert_true(st.bytes <= 64 * 1024);
    assert_true(st.evictions > 0);
    assert_null(dp_filter_cache_get("k1", T0));      /* evicted first */
    assert_non_null(e = dp_filter_cache_get("k19", T0));
    dp_hc_entry_unref(e);
    dp_filter_cache_shutdown();
    assert_false(dp_filter_cache_enabled());
}

/* ---- the request hook ---- */

struct sink {
    struct pr_buf got;
    bool eof;
};

static size_t
sink_data(void *ctx, const uint8_t *data, size_t len)
{
    struct sink *s = ctx;
    assert_int_equal(pr_buf_append(&s->got, data, len), 0);
    return len;
}

static void
sink_eof(void *ctx)
{
    ((struct sink *)ctx)->eof = true;
}

static void
sink_error(void *ctx, int err, const char *msg)
{
    (void)ctx;
    (void)err;
    fail_msg("body error: %s", msg);
}

static const struct dp_body_handler sink_handler = {
    sink_data, sink_eof, sink_error,
};

static void
drain(struct dp_body *b, struct sink *s)
{
    memset(s, 0, sizeof(*s));
    dp_body_set_handler(b, &sink_handler, s);
    for (int i = 0; i < 100 && !s->eof; i++)
        dp_body_read(b);
    assert_true(s->eof);
}

static struct dp_request *
new_request(struct dp_pool *pool)
{
    struct dp_request *req = dp_pool_calloc(pool, sizeof(*req));
    assert_non_null(req);
    req->pool = pool;
    req->host = "example.com";
    req->path = "/doc";
    return req;
}

static void
test_request_hook(void **state)
{
    (void)state;
    assert_int_equal(dp_filter_cache_configure(1 << 20), 0);
    struct tp_filter http = { 0 }, pipe = { 0 };
    http.address.type = TP_ADDRESS_HTTP;
    http.address.host_and_port = "f:80";
    http.address.path = "/f";
    http.cache_tag = "t1";
    pipe.address.type = TP_ADDRESS_PIPE;
    pipe.address.path = "/bin/up";
    const struct tp_filter *fs[] = { &http };
    const struct tp_filter *ps[] = { &pipe };

    for (int round = 0; round < 2; round++) {
        struct dp_pool *pool = dp_pool_new(4096);
        assert_non_null(pool);
        struct dp_request *req = new_request(pool);
        struct dp_response_headers src;
        dp_response_headers_init(&src, pool);
        assert_int_equal(dp_response_header(&src, "ETag", "\"s1\""), 0);
        const struct dp_response_headers *h = &src;
        unsigned status = 200;
        struct dp_body *body = dp_body_new_memory(pool, "source", 6);
        struct dp_filter_cache_use *use = NULL;
        bool hit = dp_filter_cache_begin(req, "SRC", fs, 1, &status, &h,
                                         &body, &use);
        struct sink s;
        if (round == 0) {
            assert_false(hit);
            assert_non_null(use);
            /* the filter's answer: 201 with its headers and body */
            struct dp_response_headers fh;
            dp_response_headers_init(&fh, pool);
            assert_int_equal(dp_response_header(&fh, "X-F", "1"), 0);
            assert_int_equal(dp_response_header(&fh, "Set-Cookie", "a=b"),
                             0);
            dp_body_close(body);
            struct dp_body *fb = dp_body_new_memory(pool, "SOURCE", 6);
            dp_filter_cache_result(use, 201, &fh, &fb);
            drain(fb, &s);
            assert_int_equal(s.got.len, 6);
            assert_memory_equal(s.got.data, "SOURCE", 6);
        } else {
            assert_true(hit);
            assert_int_equal(status, 201);
            assert_non_null(strstr(h->data, "X-F: 1\r\n"));
            assert_null(strstr(h->data, "Set-Cookie"));
            drain(body, &s);
            assert_int_equal(s.got.len, 6);
            assert_memory_equal(s.got.data, "SOURCE", 6);
        }
        pr_buf_free(&s.got);
        dp_pool_free(pool);
    }
    struct dp_hc_stats st;
    dp_filter_cache_stats(&st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 1);

    /* without an ETag: neither looked up nor counted */
    struct dp_pool *pool = dp_pool_new(4096);
    struct dp_request *req = new_request(pool);
    struct dp_response_headers plain;
    dp_response_headers_init(&plain, pool);
    assert_int_equal(dp_response_header(&plain, "Content-Type", "t/x"), 0);
    const struct dp_response_headers *h = &plain;
    unsigned status = 200;
    struct dp_body *body = dp_body_new_memory(pool, "source", 6);
    struct dp_filter_cache_use *use = (void *)1;
    assert_false(dp_filter_cache_begin(req, "SRC", fs, 1, &status, &h,
                                       &body, &use));
    assert_null(use);
    dp_filter_cache_stats(&st);
    assert_int_equal(st.hits + st.misses, 2);

    /* a PIPE hit: only the body comes from the store */
    struct dp_response_headers src;
    dp_response_headers_init(&src, pool);
    assert_int_equal(dp_response_header(&src, "ETag", "\"p1\""), 0);
    h = &src;
    assert_false(dp_filter_cache_begin(req, "SRC", ps, 1, &status, &h,
                                       &body, &use));
    assert_non_null(use);
    struct dp_body *out = dp_body_new_memory(pool, "PIPED", 5);
    dp_filter_cache_result(use, 200, &src, &out);
    struct sink s;
    drain(out, &s);
    pr_buf_free(&s.got);
    status = 404;   /* FILTER_4XX: another key */
    body = dp_body_new_memory(pool, "source", 6);
    assert_false(dp_filter_cache_begin(req, "SRC", ps, 1, &status, &h,
                                       &body, &use));
    status = 200;
    assert_true(dp_filter_cache_begin(req, "SRC", ps, 1, &status, &h,
                                      &body, &use));
    assert_int_equal(status, 200);
    assert_ptr_equal(h, &src);
    drain(body, &s);
    assert_int_equal(s.got.len, 5);
    assert_memory_equal(s.got.data, "PIPED", 5);
    pr_buf_free(&s.got);
    /* an HTTP filter's own error status is not stored */
    struct dp_response_headers s2;
    dp_response_headers_init(&s2, pool);
    assert_int_equal(dp_response_header(&s2, "ETag", "\"s2\""), 0);
    h = &s2;
    status = 200;
    body = NULL;
    assert_false(dp_filter_cache_begin(req, "SRC", fs, 1, &status, &h,
                                       &body, &use));
    assert_non_null(use);
    out = dp_body_new_memory(pool, "oops", 4);
    dp_filter_cache_result(use, 500, NULL, &out);
    drain(out, &s);
    pr_buf_free(&s.got);
    dp_filter_cache_stats(&st);
    assert_int_equal(st.entries, 2);
    /* flush by the HTTP filter's tag leaves the PIPE entry */
    assert_int_equal(dp_filter_cache_flush("t1"), 1);
    dp_filter_cache_stats(&st);
    assert_int_equal(st.entries, 1);
    dp_pool_free(pool);
    dp_filter_cache_shutdown();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_lifetime),
        cmocka_unit_test(test_store),
        cmocka_unit_test(test_request_hook),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
