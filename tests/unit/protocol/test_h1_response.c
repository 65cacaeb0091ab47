/* Unit tests for protocol/h1_response: the IMF-fixdate formatter (vectors
 * from RFC 9110 §5.6.7 and calendar edge cases, then a sweep checked
 * against the C library's gmtime_r) and the status line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "h1_response.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static void
expect_date(int64_t t, const char *want)
{
    char out[H1_DATE_LEN + 1];
    memset(out, 0, sizeof(out));
    assert_int_equal(h1_format_date(out, t), H1_DATE_LEN);
    assert_string_equal(out, want);
}

static void
test_date_vectors(void **state)
{
    expect_date(784111777, "Sun, 06 Nov 1994 08:49:37 GMT");  /* RFC 9110 */
    expect_date(0, "Thu, 01 Jan 1970 00:00:00 GMT");
    expect_date(951782400, "Tue, 29 Feb 2000 00:00:00 GMT");
    expect_date(951868799, "Tue, 29 Feb 2000 23:59:59 GMT");
    expect_date(951868800, "Wed, 01 Mar 2000 00:00:00 GMT");
    expect_date(4107542400, "Mon, 01 Mar 2100 00:00:00 GMT");
    expect_date(4107456000, "Sun, 28 Feb 2100 00:00:00 GMT");
    expect_date(2147483647, "Tue, 19 Jan 2038 03:14:07 GMT");
    expect_date(1798761599, "Thu, 31 Dec 2026 23:59:59 GMT");
    /* Clamped. */
    expect_date(-1, "Thu, 01 Jan 1970 00:00:00 GMT");
    expect_date(253402300799, "Fri, 31 Dec 9999 23:59:59 GMT");
    expect_date(INT64_MAX, "Fri, 31 Dec 9999 23:59:59 GMT");
}

static void
test_date_sweep_against_gmtime(void **state)
{
    /* Every ~1.3 days over 200 years, with a moving time of day. */
    for (int64_t t = 0; t < 6311433600; t += 112233) {
        char want[64], got[H1_DATE_LEN + 1];
        time_t tt = (time_t)t;
        struct tm tm;
        assert_non_null(gmtime_r(&tt, &tm));
        static const char *const wd[] = { "Sun", "Mon", "Tue", "Wed",
                                          "Thu", "Fri", "Sat" };
        static const char *const mo[] = { "Jan", "Feb", "Mar", "Apr",
                                          "May", "Jun", "Jul", "Aug",
                                          "Sep", "Oct", "Nov", "Dec" };
        snprintf(want, sizeof(want), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                 wd[tm.tm_wday], tm.tm_mday, mo[tm.tm_mon],
                 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        got[H1_DATE_LEN] = '\0';
        h1_format_date(got, t);
        assert_string_equal(got, want);
    }
}

static void
test_status_line(void **state)
{
    char out[64];
    assert_int_equal(h1_format_status_line(out, sizeof(out), 200), 17);
    assert_string_equal(out, "HTTP/1.1 200 OK\r\n");
    assert_int_equal(h1_format_status_line(out, sizeof(out), 431), 46);
    assert_string_equal(out, "HTTP/1.1 431 Request Header Fields Too Large"
                             "\r\n");
    assert_int_equal(h1_format_status_line(out, sizeof(out), 599), 22);
    assert_string_equal(out, "HTTP/1.1 599 Unknown\r\n");
    assert_int_equal(h1_format_status_line(out, sizeof(out), 99), 0);
    assert_int_equal(h1_format_status_line(out, sizeof(out), 1000), 0);
    /* Too small: 0, never a truncated line. */
    assert_int_equal(h1_format_status_line(out, 17, 200), 0);
    assert_int_equal(h1_format_status_line(out, 18, 200), 17);
    assert_string_equal(h1_reason_phrase(404), "Not Found");
    assert_string_equal(h1_reason_phrase(414), "URI Too Long");
    assert_string_equal(h1_reason_phrase(505), "HTTP Version Not Supported");
}

int
main(void)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_date_vectors),
        cmocka_unit_test(test_date_sweep_against_gmtime),
        cmocka_unit_test(test_status_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
