/* Unit tests for protocol/tp_command: the command table and payload kinds.
 * (tests/spec/check_commands.py compares the table with the spec.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tp_command.h"

#include <string.h>

static void
test_count_and_gaps(void **state)
{
    assert_int_equal(tp_command_count(), 285);
    assert_null(tp_command_info(0));
    assert_null(tp_command_info(25));
    assert_null(tp_command_info(287));
    assert_null(tp_command_info(65535));
    assert_string_equal(tp_command_name(25), "?");
    for (unsigned n = 1; n <= TP_CMD_MAX; n++) {
        const struct tp_command_info *info = tp_command_info((uint16_t)n);
        if (n == 25)
            continue;
        assert_non_null(info);
        assert_int_equal(info->number, n);
        assert_non_null(info->name);
    }
}

static void
test_known_numbers(void **state)
{
    /* Spot checks straight from spec §1.4. */
    assert_int_equal(TP_CMD_BEGIN, 1);
    assert_int_equal(TP_CMD_END, 2);
    assert_int_equal(TP_CMD_ADDRESS_STRING, 24);
    assert_int_equal(TP_CMD_JAILCGI, 26);
    assert_int_equal(TP_CMD_NFS_SERVER, 95);
    assert_int_equal(TP_CMD_NFS_EXPORT, 96);
    assert_int_equal(TP_CMD_ENOTDIR_, 130);
    assert_int_equal(TP_CMD_LISTENER_TAG, 148);
    assert_int_equal(TP_CMD_DEFER, 213);
    assert_int_equal(TP_CMD_PROCESS_NAME, 286);
    assert_string_equal(tp_command_name(TP_CMD_WANT_FULL_URI),
                        "WANT_FULL_URI");
    assert_int_equal(tp_command_info(TP_CMD_REMOTE_HOST)->direction,
                     TP_DIR_Q);
    assert_int_equal(tp_command_info(TP_CMD_PATH)->direction, TP_DIR_R);
    assert_int_equal(tp_command_info(TP_CMD_URI)->direction, TP_DIR_QR);
}

static void
test_payload_kinds(void **state)
{
    const uint8_t two[2] = { 1, 0 }, four[4] = { 0 };
    assert_null(tp_payload_check(TP_PL_NONE, NULL, 0));
    assert_non_null(tp_payload_check(TP_PL_NONE, two, 1));
    assert_null(tp_payload_check(TP_PL_U8_OPT, two, 1));
    assert_non_null(tp_payload_check(TP_PL_U8_OPT, two, 2));
    assert_null(tp_payload_check(TP_PL_U16, two, 2));
    assert_non_null(tp_payload_check(TP_PL_U16, four, 4));
    assert_null(tp_payload_check(TP_PL_U32, four, 4));
    assert_non_null(tp_payload_check(TP_PL_U32, two, 2));
    assert_null(tp_payload_check(TP_PL_OPT_U16, NULL, 0));
    assert_non_null(tp_payload_check(TP_PL_OPT_U16, four, 3));
    assert_null(tp_payload_check(TP_PL_U16_ARRAY, four, 4));
    assert_non_null(tp_payload_check(TP_PL_U16_ARRAY, four, 3));
    assert_non_null(tp_payload_check(TP_PL_U16_ARRAY, NULL, 0));
    assert_null(tp_payload_check(TP_PL_STR, (const uint8_t *)"abc", 3));
    assert_non_null(tp_payload_check(TP_PL_STR, (const uint8_t *)"a\0c", 3));
    assert_null(tp_payload_check(TP_PL_NAME, (const uint8_t *)"a-Z_9", 5));
    assert_non_null(tp_payload_check(TP_PL_NAME, (const uint8_t *)"a b", 3));
    assert_non_null(tp_payload_check(TP_PL_NAME, NULL, 0));
    assert_null(tp_payload_check(TP_PL_ABS_PATH, (const uint8_t *)"/x", 2));
    assert_non_null(tp_payload_check(TP_PL_ABS_PATH, (const uint8_t *)"x", 1));
    assert_non_null(
        tp_payload_check(TP_PL_ABS_PATH, (const uint8_t *)"/\0", 2));
    assert_non_null(tp_payload_check(TP_PL_ABS_PATH, NULL, 0));
    assert_null(tp_payload_check(TP_PL_STR0, (const uint8_t *)"a\0b", 3));
    assert_null(tp_payload_check(TP_PL_BYTES, (const uint8_t *)"\0", 1));
    assert_non_null(tp_payload_check(TP_PL_SOCKADDR, two, 1));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_and_gaps),
        cmocka_unit_test(test_known_numbers),
        cmocka_unit_test(test_payload_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
