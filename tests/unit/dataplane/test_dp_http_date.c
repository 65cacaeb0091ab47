/* Unit tests for dataplane/dp_http_date: IMF-fixdate output, the three
 * HTTP-date input formats, strictness, and a sweep against gmtime_r(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_http_date.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

/* 2026-11-23 00:00:00 UTC, a fixed "now" for the RFC 850 year rule. */
#define NOW ((time_t)1795392000)

static int
parse(const char *s, time_t *t)
{
    return dp_http_date_parse(s, strlen(s), NOW, t);
}

static void
expect_date(const char *s, time_t want)
{
    time_t t = 12345;
    int r = parse(s, &t);
    if (r != 0)
        fail_msg("rejected: \"%s\"", s);
    if (t != want)
        fail_msg("\"%s\": got %lld, want %lld", s, (long long)t,
                 (long long)want);
}

static void
expect_invalid(const char *s)
{
    time_t t = 12345;
    if (parse(s, &t) != -1)
        fail_msg("accepted: \"%s\" as %lld", s, (long long)t);
    assert_int_equal(t, 12345);
}

static void
expect_format(time_t t, const char *want)
{
    char buf[DP_HTTP_DATE_SIZE];
    memset(buf, 'x', sizeof(buf));
    assert_int_equal(dp_http_date_format(t, buf), 0);
    assert_string_equal(buf, want);
    assert_int_equal(strlen(buf), DP_HTTP_DATE_LEN);
}

static void
test_format_vectors(void **state)
{
    /* RFC 9110 §5.6.7 example. */
    expect_format(784111777, "Sun, 06 Nov 1994 08:49:37 GMT");
    expect_format(0, "Thu, 01 Jan 1970 00:00:00 GMT");
    expect_format(-1, "Wed, 31 Dec 1969 23:59:59 GMT");
    expect_format(951782400, "Tue, 29 Feb 2000 00:00:00 GMT");
    expect_format(951868800, "Wed, 01 Mar 2000 00:00:00 GMT");
    expect_format(2147483647, "Tue, 19 Jan 2038 03:14:07 GMT");
    expect_format(2147483648LL, "Tue, 19 Jan 2038 03:14:08 GMT");
    expect_format(4107542399LL, "Sun, 28 Feb 2100 23:59:59 GMT");
    expect_format(4107542400LL, "Mon, 01 Mar 2100 00:00:00 GMT");
    expect_format(253402300799LL, "Fri, 31 Dec 9999 23:59:59 GMT");
    expect_format(-62167219200LL, "Sat, 01 Jan 0000 00:00:00 GMT");
    expect_format(-2208988800LL, "Mon, 01 Jan 1900 00:00:00 GMT");
}

static void
test_format_out_of_range(void **state)
{
    char buf[DP_HTTP_DATE_SIZE] = "junk";
    assert_int_equal(dp_http_date_format(253402300800LL, buf), -1);
    assert_string_equal(buf, "");
    assert_int_equal(dp_http_date_format(-62167219201LL, buf), -1);
    assert_int_equal(dp_http_date_format((time_t)INT64_MAX, buf), -1);
    assert_int_equal(dp_http_date_format((time_t)INT64_MIN, buf), -1);
}

static void
test_parse_rfc_examples(void **state)
{
    /* The three formats of RFC 9110 §5.6.7, same instant. */
    expect_date("Sun, 06 Nov 1994 08:49:37 GMT", 784111777);
    expect_date("Sunday, 06-Nov-94 08:49:37 GMT", 784111777);
    expect_date("Sun Nov  6 08:49:37 1994", 784111777);
    expect_date("Thu, 01 Jan 1970 00:00:00 GMT", 0);
    expect_date("Wed, 31 Dec 1969 23:59:59 GMT", -1);
    expect_date("Fri, 31 Dec 9999 23:59:59 GMT", 253402300799LL);
    expect_date("Sat, 01 Jan 0000 00:00:00 GMT", -62167219200LL);
    expect_date("Tue, 29 Feb 2000 00:00:00 GMT", 951782400);
    /* asctime with a two-digit day */
    expect_date("Thu Nov 16 08:49:37 1995", 816511777);
    expect_date("Tuesday, 09-Nov-99 23:12:40 GMT", 942189160);
}

static void
test_parse_ows(void **state)
{
    expect_date("  Sun, 06 Nov 1994 08:49:37 GMT", 784111777);
    expect_date("Sun, 06 Nov 1994 08:49:37 GMT \t", 784111777);
    expect_date("\tSun Nov  6 08:49:37 1994 ", 784111777);
    expect_invalid("");
    expect_invalid("   ");
    time_t t = 7;
    assert_int_equal(dp_http_date_parse(NULL, 0, NOW, &t), -1);
    assert_int_equal(t, 7);
}

static void
test_parse_leap_second(void **state)
{
    /* The grammar allows second 60; it counts as the next second. */
    expect_date("Sat, 31 Dec 2016 23:59:60 GMT", 1483228800);
    expect_invalid("Sat, 31 Dec 2016 23:59:61 GMT");
}

static void
test_parse_rfc850_year(void **state)
{
    /* now = 2026: years up to 2076 are taken as they come, later ones
     * from the previous century. */
    expect_date("Tuesday, 01-Jan-30 00:00:00 GMT", 1893456000);
    expect_date("Wednesday, 01-Jan-76 00:00:00 GMT", 3345062400LL);
    expect_date("Saturday, 01-Jan-77 00:00:00 GMT", 220924800);
    expect_date("Saturday, 01-Jan-00 00:00:00 GMT", 946684800);
    expect_date("Wednesday, 01-Jan-70 00:00:00 GMT", 3155760000LL);
    /* Another "now": in 1995, "70" means 1970 (a Thursday). */
    time_t t;
    const char *s = "Thursday, 01-Jan-70 00:00:00 GMT";
    assert_int_equal(dp_http_date_parse(s, strlen(s), 800000000, &t), 0);
    assert_int_equal(t, 0);
}

static void
test_parse_strict(void **state)
{
    /* lowercase names, GMT spelled differently, other zones */
    expect_invalid("sun, 06 Nov 1994 08:49:37 GMT");
    expect_invalid("Sun, 06 nov 1994 08:49:37 GMT");
    expect_invalid("Sun, 06 Nov 1994 08:49:37 gmt");
    expect_invalid("Sun, 06 Nov 1994 08:49:37 UTC");
    expect_invalid("Sun, 06 Nov 1994 08:49:37 +0000");
    expect_invalid("Sun, 06 Nov 1994 08:49:37");
    /* field widths */
    expect_invalid("Sun, 6 Nov 1994 08:49:37 GMT");
    expect_invalid("Sun, 06 Nov 94 08:49:37 GMT");
    expect_invalid("Sun, 06 Nov 1994 8:49:37 GMT");
    expect_invalid("Sun, 06 Nov 01994 08:49:37 GMT");
    expect_invalid("Sun,  06 Nov 1994 08:49:37 GMT");
    expect_invalid("Sun,06 Nov 1994 08:49:37 GMT");
    expect_invalid("Sun, 06-Nov-1994 08:49:37 GMT");
    /* ranges */
    expect_invalid("Sun, 00 Nov 1994 08:49:37 GMT");
    expect_invalid("Thu, 31 Nov 1994 08:49:37 GMT");
    expect_invalid("Sun, 06 Nov 1994 24:00:00 GMT");
    expect_invalid("Sun, 06 Nov 1994 08:60:00 GMT");
    expect_invalid("Sat, 29 Feb 1900 00:00:00 GMT");
    expect_invalid("Sun, 29 Feb 2001 00:00:00 GMT");
    /* weekday must agree with the date */
    expect_invalid("Mon, 06 Nov 1994 08:49:37 GMT");
    expect_invalid("Monday, 06-Nov-94 08:49:37 GMT");
    expect_invalid("Mon Nov  6 08:49:37 1994");
    /* trailing garbage, lists, comments */
    expect_invalid("Sun, 06 Nov 1994 08:49:37 GMTx");
    expect_invalid("Sun, 06 Nov 1994 08:49:37 GMT, "
                   "Sun, 06 Nov 1994 08:49:37 GMT");
    expect_invalid("Sun, 06 Nov 1994 08:49:37 GMT (comment)");
    expect_invalid("Sun, 06 Nov 1994 08:49:37 GMT; length=12");
    /* RFC 850 shapes */
    expect_invalid("Sun, 06-Nov-94 08:49:37 GMT");
    expect_invalid("Sunday 06-Nov-94 08:49:37 GMT");
    expect_invalid("Sunday, 06-Nov-1994 08:49:37 GMT");
    expect_invalid("Sunday, 06 Nov 94 08:49:37 GMT");
    expect_invalid("Sundays, 06-Nov-94 08:49:37 GMT");
    /* asctime shapes */
    expect_invalid("Sun Nov 6 08:49:37 1994");
    expect_invalid("Sun Nov 06 08:49:37 94");
    expect_invalid("Sun Nov  6 08:49:37 1994 GMT");
    expect_invalid("Sun Nov   6 08:49:37 1994");
    /* truncated at every length */
    const char *full = "Sun, 06 Nov 1994 08:49:37 GMT";
    for (size_t n = 0; n < strlen(full); n++) {
        time_t t;
        if (dp_http_date_parse(full, n, NOW, &t) == 0)
            fail_msg("accepted a prefix of %zu bytes", n);
    }
    /* an embedded NUL */
    time_t t;
    assert_int_equal(dp_http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT\0",
                                        30, NOW, &t),
                     -1);
    /* signs and non-digits where digits belong */
    expect_invalid("Sun, +6 Nov 1994 08:49:37 GMT");
    expect_invalid("Sun, 06 Nov 19a4 08:49:37 GMT");
    expect_invalid("Sun, 06 Nov 1994 08:49:-7 GMT");
}

/* Every ~13 hours from 1600 to 2400: our format equals strftime() of
 * gmtime_r() (C locale), and all three formats parse back. */
static void
test_sweep_against_libc(void **state)
{
    const long long from = -11676096000LL, to = 13569465600LL;
    unsigned n = 0;
    for (long long t = from; t < to; t += 46801 + (t & 1023)) {
        struct tm tm;
        time_t tt = (time_t)t;
        assert_non_null(gmtime_r(&tt, &tm));
        char want[64], got[DP_HTTP_DATE_SIZE];
        strftime(want, sizeof(want), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        assert_int_equal(dp_http_date_format(tt, got), 0);
        if (strcmp(want, got) != 0)
            fail_msg("%lld: got \"%s\", want \"%s\"", t, got, want);

        time_t back = 0;
        assert_int_equal(dp_http_date_parse(got, DP_HTTP_DATE_LEN, NOW,
                                            &back),
                         0);
        assert_int_equal(back, tt);

        char asc[64];
        strftime(asc, sizeof(asc), "%a %b %e %H:%M:%S %Y", &tm);
        back = 0;
        assert_int_equal(dp_http_date_parse(asc, strlen(asc), NOW, &back),
                         0);
        assert_int_equal(back, tt);

        /* RFC 850 is only unambiguous within 50 years of now */
        if (tm.tm_year + 1900 > 1977 && tm.tm_year + 1900 <= 2076) {
            char r850[96];
            char head[32], tail[32];
            strftime(head, sizeof(head), "%A, %d-%b-", &tm);
            strftime(tail, sizeof(tail), "%H:%M:%S GMT", &tm);
            snprintf(r850, sizeof(r850), "%s%02d %s", head,
                     tm.tm_year % 100, tail);
            back = 0;
            assert_int_equal(
                dp_http_date_parse(r850, strlen(r850), NOW, &back), 0);
            assert_int_equal(back, tt);
        }
        n++;
    }
    assert_true(n > 100000);
}

static void
test_days_from_civil(void **state)
{
    assert_int_equal(dp_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(dp_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(dp_days_from_civil(2000, 3, 1), 11017);
    assert_int_equal(dp_days_from_civil(0, 1, 1), -719528);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format_vectors),
        cmocka_unit_test(test_format_out_of_range),
        cmocka_unit_test(test_parse_rfc_examples),
        cmocka_unit_test(test_parse_ows),
        cmocka_unit_test(test_parse_leap_second),
        cmocka_unit_test(test_parse_rfc850_year),
        cmocka_unit_test(test_parse_strict),
        cmocka_unit_test(test_sweep_against_libc),
        cmocka_unit_test(test_days_from_civil),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
