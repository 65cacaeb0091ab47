/* Unit tests: dp_tls_name (which certificate answers an SNI name). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_tls_name.h"

static void
test_valid(void **state)
{
    (void)state;
    assert_true(dp_tls_name_valid("example.com"));
    assert_true(dp_tls_name_valid("www.example.com."));
    assert_true(dp_tls_name_valid("*.example.com"));
    assert_true(dp_tls_name_valid("localhost"));
    assert_false(dp_tls_name_valid(NULL));
    assert_false(dp_tls_name_valid(""));
    assert_false(dp_tls_name_valid("."));
    assert_false(dp_tls_name_valid("*"));
    assert_false(dp_tls_name_valid("*.com"));
    assert_false(dp_tls_name_valid("*."));
    assert_false(dp_tls_name_valid("w*.example.com"));
    assert_false(dp_tls_name_valid("a.*.example.com"));
    assert_false(dp_tls_name_valid("*.*.example.com"));
    assert_false(dp_tls_name_valid("a..example.com"));
    assert_false(dp_tls_name_valid(".example.com"));
    assert_false(dp_tls_name_valid("exa mple.com"));
    /* a label of 64 bytes */
    assert_false(dp_tls_name_valid(
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        ".com"));
    assert_true(dp_tls_name_valid(
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        ".com"));
}

static void
test_exact(void **state)
{
    (void)state;
    assert_true(dp_tls_name_matches("www.example.com", "www.example.com"));
    assert_true(dp_tls_name_matches("www.example.com", "WWW.Example.COM"));
    assert_true(dp_tls_name_matches("www.example.com.", "www.example.com"));
    assert_true(dp_tls_name_matches("www.example.com", "www.example.com."));
    assert_false(dp_tls_name_matches("www.example.com", "example.com"));
    assert_false(dp_tls_name_matches("www.example.com", "xwww.example.com"));
    assert_false(dp_tls_name_matches("www.example.com", "www.example.co"));
    assert_false(dp_tls_name_matches("www.example.com", ""));
    assert_false(dp_tls_name_matches("www.example.com", NULL));
    assert_false(dp_tls_name_matches(NULL, "www.example.com"));
}

static void
test_wildcard(void **state)
{
    (void)state;
    assert_true(dp_tls_name_matches("*.example.com", "a.example.com"));
    assert_true(dp_tls_name_matches("*.example.com", "Shop.EXAMPLE.com"));
    assert_true(dp_tls_name_matches("*.example.com", "a.example.com."));
    assert_false(dp_tls_name_matches("*.example.com", "example.com"));
    assert_false(dp_tls_name_matches("*.example.com", ".example.com"));
    assert_false(dp_tls_name_matches("*.example.com", "a.b.example.com"));
    assert_false(dp_tls_name_matches("*.example.com", "a.example.org"));
    assert_false(dp_tls_name_matches("*.example.com", "aexample.com"));
    assert_false(dp_tls_name_matches("*.com", "example.com"));
    assert_false(dp_tls_name_matches("w*.example.com", "www.example.com"));
    /* a literal "*" in the host is not a wildcard */
    assert_false(dp_tls_name_matches("a.example.com", "*.example.com"));
}

static void
test_select(void **state)
{
    (void)state;
    const struct dp_tls_name names[] = {
        {"a.test", 0},
        {"*.wild.test", 1},
        {"b.test", 2},
        {"exact.wild.test", 3},
        {"*.wild.test", 4},
        {"b.test", 5},
    };
    size_t n = sizeof(names) / sizeof(names[0]);
    assert_int_equal(dp_tls_name_select(names, n, "a.test"), 0);
    assert_int_equal(dp_tls_name_select(names, n, "B.TEST"), 2);
    /* exact wins over an earlier wildcard */
    assert_int_equal(dp_tls_name_select(names, n, "exact.wild.test"), 3);
    /* the first wildcard among equals */
    assert_int_equal(dp_tls_name_select(names, n, "x.wild.test"), 1);
    assert_int_equal(dp_tls_name_select(names, n, "wild.test"), -1);
    assert_int_equal(dp_tls_name_select(names, n, "unknown.test"), -1);
    assert_int_equal(dp_tls_name_select(names, n, ""), -1);
    assert_int_equal(dp_tls_name_select(names, n, NULL), -1);
    assert_int_equal(dp_tls_name_select(names, 0, "a.test"), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_exact),
        cmocka_unit_test(test_wildcard),
        cmocka_unit_test(test_select),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
