/*
 * Unit tests: pr_frame, the packet framer of the translation and WAS
 * control protocols, on byte-exact streams: whole packets (zero copy),
 * a stream split at every byte, empty payloads, the limit, and the
 * end-of-stream sentences.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pr_frame.h"

#include <string.h>

/* Two packets, host order: (cmd 7, "abc") and (cmd 0x102, empty). */
static size_t
two_packets(uint8_t *out)
{
    uint16_t h[2];
    size_t n = 0;
    h[0] = 3;
    h[1] = 7;
    memcpy(out + n, h, 4);
    n += 4;
    memcpy(out + n, "abc", 3);
    n += 3;
    h[0] = 0;
    h[1] = 0x102;
    memcpy(out + n, h, 4);
    n += 4;
    return n;
}

static void
test_whole_packets_zero_copy(void **state)
{
    (void)state;
    uint8_t buf[32];
    size_t len = two_packets(buf);
    struct pr_frame f;
    pr_frame_init(&f, 16);
    size_t used;
    uint16_t cmd, plen;
    const uint8_t *payload;
    assert_int_equal(pr_frame_feed(&f, buf, len, &used, &cmd, &plen,
                                   &payload), PR_FRAME_PACKET);
    assert_int_equal(used, 7);
    assert_int_equal(cmd, 7);
    assert_int_equal(plen, 3);
    assert_ptr_equal(payload, buf + 4);        /* points into the input */
    assert_memory_equal(payload, "abc", 3);
    assert_true(pr_frame_idle(&f));
    assert_int_equal(pr_frame_feed(&f, buf + 7, len - 7, &used, &cmd, &plen,
                                   &payload), PR_FRAME_PACKET);
    assert_int_equal(used, 4);
    assert_int_equal(cmd, 0x102);
    assert_int_equal(plen, 0);
    assert_true(pr_frame_idle(&f));
    char err[80];
    assert_false(pr_frame_finish_error(&f, "X", err, sizeof(err)));
    pr_frame_destroy(&f);
}

static void
test_split_at_every_byte(void **state)
{
    (void)state;
    uint8_t buf[32];
    size_t len = two_packets(buf);
    struct pr_frame f;
    pr_frame_init(&f, 16);
    int packets = 0;
    for (size_t i = 0; i < len; i++) {
        size_t used;
        uint16_t cmd, plen;
        const uint8_t *payload;
        enum pr_frame_result r = pr_frame_feed(&f, buf + i, 1, &used, &cmd,
                                               &plen, &payload);
        assert_int_equal(used, 1);
        if (i == 6) {
            assert_int_equal(r, PR_FRAME_PACKET);
            assert_int_equal(cmd, 7);
            assert_int_equal(plen, 3);
            assert_memory_equal(payload, "abc", 3);   /* assembled copy */
            packets++;
        } else if (i == 10) {
            assert_int_equal(r, PR_FRAME_PACKET);
            assert_int_equal(cmd, 0x102);
            assert_int_equal(plen, 0);
            packets++;
        } else {
            assert_int_equal(r, PR_FRAME_NEED_MORE);
            assert_false(pr_frame_idle(&f));
        }
    }
    assert_int_equal(packets, 2);
    assert_true(pr_frame_idle(&f));
    pr_frame_destroy(&f);
}

static void
test_over_limit(void **state)
{
    (void)state;
    uint16_t h[2] = { 17, 9 };
    uint8_t buf[4];
    memcpy(buf, h, 4);
    struct pr_frame f;
    pr_frame_init(&f, 16);
    size_t used;
    uint16_t cmd = 0, plen = 0;
    const uint8_t *payload;
    assert_int_equal(pr_frame_feed(&f, buf, 4, &used, &cmd, &plen, &payload),
                     PR_FRAME_OVER_LIMIT);
    assert_int_equal(cmd, 9);
    assert_int_equal(plen, 17);
    pr_frame_destroy(&f);
}

static void
test_finish_errors(void **state)
{
    (void)state;
    uint8_t buf[32];
    two_packets(buf);
    struct pr_frame f;
    size_t used;
    uint16_t cmd, plen;
    const uint8_t *payload;
    char err[80];

    pr_frame_init(&f, 16);
    assert_int_equal(pr_frame_feed(&f, buf, 3, &used, &cmd, &plen,
                                   &payload), PR_FRAME_NEED_MORE);
    assert_true(pr_frame_finish_error(&f, "X", err, sizeof(err)));
    assert_string_equal(err, "stream ended after 3 of 4 header bytes");
    pr_frame_destroy(&f);

    pr_frame_init(&f, 16);
    assert_int_equal(pr_frame_feed(&f, buf, 5, &used, &cmd, &plen,
                                   &payload), PR_FRAME_NEED_MORE);
    assert_int_equal(pr_frame_command(&f), 7);
    assert_true(pr_frame_finish_error(&f, "SEVEN", err, sizeof(err)));
    assert_string_equal(err, "stream ended after 1 of 3 payload bytes "
                        "(SEVEN)");
    pr_frame_destroy(&f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_packets_zero_copy),
        cmocka_unit_test(test_split_at_every_byte),
        cmocka_unit_test(test_over_limit),
        cmocka_unit_test(test_finish_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
