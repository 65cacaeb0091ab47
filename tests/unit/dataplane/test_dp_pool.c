/* Unit tests: dp_pool (per-request memory with cleanups). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_pool.h"

#include <string.h>

static void
test_alignment_and_contents(void **state)
{
    (void)state;
    struct dp_pool *pool = dp_pool_new(0);
    assert_non_null(pool);
    char *prev = NULL;
    for (size_t size = 0; size < 300; size++) {
        char *p = dp_pool_alloc(pool, size);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        assert_true(p != prev);
        memset(p, 0xab, size);
        prev = p;
    }
    char *z = dp_pool_calloc(pool, 100);
    for (int i = 0; i < 100; i++)
        assert_int_equal(z[i], 0);
    assert_string_equal(dp_pool_strndup(pool, "abcdef", 3), "abc");
    assert_string_equal(dp_pool_strdup(pool, "xyz"), "xyz");
    assert_string_equal(dp_pool_strndup(pool, NULL, 0), "");
    dp_pool_free(pool);
}

static void
test_large_allocations(void **state)
{
    (void)state;
    struct dp_pool *pool = dp_pool_new(1024);
    char *small1 = dp_pool_alloc(pool, 16);
    char *big = dp_pool_alloc(pool, 100000);
    char *small2 = dp_pool_alloc(pool, 16);
    assert_non_null(big);
    memset(big, 1, 100000);
    /* the big one does not waste the current block */
    assert_ptr_equal(small2, small1 + 16);
    assert_null(dp_pool_alloc(pool, SIZE_MAX));
    assert_null(dp_pool_strndup(pool, "", SIZE_MAX));
    assert_true(dp_pool_used(pool) >= 100032);
    dp_pool_free(pool);
}

static int order[8];
static int n_order;

static void
record(void *arg)
{
    order[n_order++] = (int)(intptr_t)arg;
}

static struct dp_pool *nested_pool;

static void
register_more(void *arg)
{
    record(arg);
    /* a cleanup that registers another: it still runs */
    assert_int_equal(dp_pool_cleanup(nested_pool, record, (void *)9), 0);
}

static void
test_cleanups_run_newest_first_once(void **state)
{
    (void)state;
    struct dp_pool *pool = dp_pool_new(0);
    n_order = 0;
    for (intptr_t i = 1; i <= 3; i++)
        assert_int_equal(dp_pool_cleanup(pool, record, (void *)i), 0);
    dp_pool_reset(pool);
    assert_int_equal(n_order, 3);
    assert_int_equal(order[0], 3);
    assert_int_equal(order[2], 1);
    dp_pool_reset(pool);            /* nothing registered: nothing runs */
    assert_int_equal(n_order, 3);
    assert_int_equal(dp_pool_used(pool), 0);

    nested_pool = pool;
    assert_int_equal(dp_pool_cleanup(pool, register_more, (void *)5), 0);
    dp_pool_free(pool);
    assert_int_equal(n_order, 5);
    assert_int_equal(order[3], 5);
    assert_int_equal(order[4], 9);
}

static void
test_reset_reuses_first_block(void **state)
{
    (void)state;
    struct dp_pool *pool = dp_pool_new(0);
    char *a = dp_pool_alloc(pool, 32);
    for (int i = 0; i < 1000; i++)
        assert_non_null(dp_pool_alloc(pool, 100));   /* several blocks */
    dp_pool_reset(pool);
    assert_ptr_equal(dp_pool_alloc(pool, 32), a);
    dp_pool_free(pool);
    dp_pool_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alignment_and_contents),
        cmocka_unit_test(test_large_allocations),
        cmocka_unit_test(test_cleanups_run_newest_first_once),
        cmocka_unit_test(test_reset_reuses_first_block),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
