/* Unit tests for protocol/pr_bytes: buffer, arena, byte-order helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pr_bytes.h"

#include <string.h>

static void
test_buf_append_grows(void **state)
{
    struct pr_buf b = PR_BUF_INIT;
    uint8_t chunk[100];
    memset(chunk, 'x', sizeof(chunk));
    for (int i = 0; i < 100; i++)
        assert_int_equal(pr_buf_append(&b, chunk, sizeof(chunk)), 0);
    assert_int_equal(b.len, 10000);
    assert_true(b.cap >= b.len);
    assert_int_equal(b.data[9999], 'x');
    assert_int_equal(pr_buf_append(&b, NULL, 0), 0);
    assert_int_equal(b.len, 10000);
    pr_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
}

static void
test_buf_reserve_overflow(void **state)
{
    struct pr_buf b = PR_BUF_INIT;
    assert_int_equal(pr_buf_append(&b, "ab", 2), 0);
    assert_true(pr_buf_reserve(&b, SIZE_MAX) < 0);
    assert_int_equal(b.len, 2);
    assert_memory_equal(b.data, "ab", 2);
    pr_buf_free(&b);
}

static void
test_arena_alloc_aligned_and_zeroed(void **state)
{
    struct pr_arena a = PR_ARENA_INIT;
    for (size_t size = 1; size < 3000; size += 7) {
        uint8_t *p = pr_arena_alloc(&a, size);
        assert_non_null(p);
        assert_int_equal((uintptr_t)p % _Alignof(max_align_t), 0);
        for (size_t i = 0; i < size; i++)
            assert_int_equal(p[i], 0);
        memset(p, 0xa5, size);
    }
    /* A large allocation gets its own block. */
    uint8_t *big = pr_arena_alloc(&a, 100000);
    assert_non_null(big);
    memset(big, 1, 100000);
    assert_non_null(pr_arena_alloc(&a, 8));
    assert_true(a.total >= 100000);
    pr_arena_free(&a);
    assert_null(a.head);
    assert_int_equal(a.total, 0);
}

static void
test_arena_strndup(void **state)
{
    struct pr_arena a = PR_ARENA_INIT;
    char *s = pr_arena_strndup(&a, "hello world", 5);
    assert_string_equal(s, "hello");
    char *e = pr_arena_strndup(&a, NULL, 0);
    assert_string_equal(e, "");
    pr_arena_free(&a);
}

static void
test_byte_order(void **state)
{
    const uint8_t be[] = { 0x63, 0x04, 0x61, 0x01 };
    assert_int_equal(pr_load_be32(be), 0x63046101u);
    assert_int_equal(pr_load_be16(be + 2), 0x6101);
    uint8_t out[4];
    pr_store_be32(out, 0x63046101u);
    assert_memory_equal(out, be, 4);
    pr_store_be16(out, 0x0102);
    assert_int_equal(out[0], 1);
    assert_int_equal(out[1], 2);

    /* Host order at an odd (unaligned) offset. */
    uint8_t host[9] = { 0 };
    pr_store_u16(host + 1, 0x1234);
    assert_int_equal(pr_load_u16(host + 1), 0x1234);
    uint16_t v = 0x1234;
    assert_memory_equal(host + 1, &v, 2);
    uint32_t v32 = 0xdeadbeef;
    memcpy(host + 3, &v32, 4);
    assert_int_equal(pr_load_u32(host + 3), 0xdeadbeefu);
    uint64_t v64 = 0x0102030405060708ull;
    uint8_t h64[9];
    memcpy(h64 + 1, &v64, 8);
    assert_true(pr_load_u64(h64 + 1) == v64);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_append_grows),
        cmocka_unit_test(test_buf_reserve_overflow),
        cmocka_unit_test(test_arena_alloc_aligned_and_zeroed),
        cmocka_unit_test(test_arena_strndup),
        cmocka_unit_test(test_byte_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
