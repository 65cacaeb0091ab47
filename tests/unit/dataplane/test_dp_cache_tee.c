/* Unit tests: dp_cache_tee (the pass-through with a bounded copy). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_body.h"
#include "dp_cache_tee.h"
#include "dp_pool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A consumer that takes at most `limit` bytes per data() call. */
struct sink {
    uint8_t got[4096];
    size_t len, limit;
    int eofs, errors;
    int complete_at_eof;              /* completes seen when eof() came */
    int release_at_eof;
};

/* What the tee's owner sees. */
struct owner {
    int completes, releases;
    uint8_t kept[4096];
    size_t kept_len;
    char *owned;                      /* freed in release() */
};

#define LINES "A: b\r\n"            /* the stored header lines */

static struct owner *current;

static size_t
sink_data(void *ctx, const uint8_t *data, size_t len)
{
    struct sink *s = ctx;
    size_t take = len < s->limit ? len : s->limit;
    memcpy(s->got + s->len, data, take);
    s->len += take;
    return take;
}

static void
sink_eof(void *ctx)
{
    struct sink *s = ctx;
    s->eofs++;
    s->complete_at_eof = current->completes;
    s->release_at_eof = current->releases;
}

static void
sink_error(void *ctx, int err, const char *msg)
{
    (void)err;
    (void)msg;
    ((struct sink *)ctx)->errors++;
}

static const struct dp_body_handler sink_handler = {
    sink_data, sink_eof, sink_error,
};

static void
owner_complete(void *ctx, const char *headers, size_t headers_len,
               const uint8_t *body, size_t len)
{
    struct owner *o = ctx;
    assert_int_equal(headers_len, 6);
    assert_memory_equal(headers, LINES, 6);
    o->completes++;
    memcpy(o->kept, body, len);
    o->kept_len = len;
}

static void
owner_release(void *ctx)
{
    struct owner *o = ctx;
    o->releases++;
    free(o->owned);
    o->owned = NULL;
}

static const struct dp_cache_tee_ops ops = { owner_complete, owner_release };

static void
drain(struct dp_body *b, struct sink *s)
{
    for (int i = 0; s->eofs == 0 && s->errors == 0; i++) {
        assert_true(i < 1000);
        dp_body_read(b);
    }
}

static void
test_passes_and_keeps(void **state)
{
    (void)state;
    struct dp_pool *pool = dp_pool_new(0);
    struct owner o = { .owned = strdup("lines") };
    current = &o;
    struct sink s = { .limit = 4 };
    const char *text = "hello, cache tee";
    struct dp_body *inner = dp_body_new_memory(pool, text, strlen(text));
    struct dp_body *t = dp_cache_tee_new(pool, inner, 100, strdup(LINES), 6,
            &ops, &o);
    assert_non_null(t);
    assert_int_equal(t->length, (int64_t)strlen(text));
    dp_body_set_handler(t, &sink_handler, &s);
    drain(t, &s);
    assert_int_equal(s.eofs, 1);
    assert_int_equal(s.len, strlen(text));
    assert_memory_equal(s.got, text, strlen(text));
    /* complete() and release() both ran before the consumer's eof() */
    assert_int_equal(s.complete_at_eof, 1);
    assert_int_equal(s.release_at_eof, 1);
    assert_int_equal(o.kept_len, strlen(text));
    assert_memory_equal(o.kept, text, strlen(text));
    assert_null(o.owned);
    dp_pool_free(pool);
    assert_int_equal(o.releases, 1);             /* not again */
}

static void
test_over_limit_not_kept(void **state)
{
    (void)state;
    struct dp_pool *pool = dp_pool_new(0);
    struct owner o = { .owned = strdup("lines") };
    current = &o;
    struct sink s = { .limit = 5 };
    const char *text = "0123456789abcdef";
    struct dp_body *inner = dp_body_new_memory(pool, text, strlen(text));
    struct dp_body *t = dp_cache_tee_new(pool, inner, 10, strdup(LINES), 6,
            &ops, &o);
    dp_body_set_handler(t, &sink_handler, &s);
    drain(t, &s);
    assert_int_equal(s.len, strlen(text));       /* the consumer got all */
    assert_int_equal(o.completes, 0);            /* nothing to store */
    assert_int_equal(o.releases, 1);
    dp_pool_free(pool);
    assert_int_equal(o.releases, 1);
}

static void
test_close_and_pool_end_release_once(void **state)
{
    (void)state;
    struct dp_pool *pool = dp_pool_new(0);
    struct owner o = { .owned = strdup("lines") };
    current = &o;
    struct sink s = { .limit = 2 };
    struct dp_body *inner = dp_body_new_memory(pool, "abcdef", 6);
    struct dp_body *t = dp_cache_tee_new(pool, inner, 100, strdup(LINES), 6,
            &ops, &o);
    dp_body_set_handler(t, &sink_handler, &s);
    dp_body_read(t);                             /* part of it */
    dp_body_close(t);
    assert_int_equal(o.completes, 0);
    assert_int_equal(o.releases, 1);
    dp_pool_free(pool);
    assert_int_equal(o.releases, 1);

    /* a tee never read: the pool's end releases it */
    pool = dp_pool_new(0);
    struct owner o2 = { .owned = strdup("lines") };
    current = &o2;
    inner = dp_body_new_memory(pool, "abcdef", 6);
    t = dp_cache_tee_new(pool, inner, 100, strdup(LINES), 6,
            &ops, &o2);
    assert_non_null(t);
    dp_pool_free(pool);
    assert_int_equal(o2.completes, 0);
    assert_int_equal(o2.releases, 1);
    assert_null(o2.owned);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_passes_and_keeps),
        cmocka_unit_test(test_over_limit_not_kept),
        cmocka_unit_test(test_close_and_pool_end_release_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
