/* Unit tests: dp_auth (access_token in the query, AUTH_FILE,
 * APPEND_AUTH). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_auth.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
check_token(const char *query, int rc_want, const char *token_want,
            const char *rest_want)
{
    struct dp_pool *pool = dp_pool_new(1024);
    assert_non_null(pool);
    const char *token = "unset", *rest = "unset";
    int rc = dp_auth_query_token(pool, query, &token, &rest);
    assert_int_equal(rc, rc_want);
    if (rc == 0) {
        if (token_want == NULL)
            assert_null(token);
        else
            assert_string_equal(token, token_want);
        if (rest_want == NULL)
            assert_null(rest);
        else
            assert_string_equal(rest, rest_want);
    }
    dp_pool_free(pool);
}

static void
test_query_token(void **state)
{
    (void)state;
    check_token(NULL, 0, NULL, NULL);
    check_token("", 0, NULL, "");
    check_token("a=1&b=2", 0, NULL, "a=1&b=2");
    check_token("access_token=abc", 0, "abc", NULL);
    check_token("access_token=", 0, "", NULL);
    check_token("x=1&access_token=a%20b%2Fc&y=2", 0, "a b/c", "x=1&y=2");
    check_token("x=1&access_token=t", 0, "t", "x=1");
    check_token("access_token=t&y=2", 0, "t", "y=2");
    /* the first one counts; the second stays in the rest */
    check_token("access_token=1&access_token=2", 0, "1", "access_token=2");
    /* not the parameter: other names, the name inside a value */
    check_token("xaccess_token=1&q=access_token=2", 0, NULL,
                "xaccess_token=1&q=access_token=2");
    check_token("auth_token=1", 0, NULL, "auth_token=1");
    /* '+' is kept (not form decoding) */
    check_token("access_token=a+b", 0, "a+b", NULL);
    /* malformed escapes and NUL are refused */
    check_token("access_token=%zz", -EINVAL, NULL, NULL);
    check_token("access_token=%4", -EINVAL, NULL, NULL);
    check_token("access_token=abc%", -EINVAL, NULL, NULL);
    check_token("access_token=%00", -EINVAL, NULL, NULL);
}

static void
test_read_file(void **state)
{
    (void)state;
    char path[] = "/tmp/portier-test-auth-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    uint8_t out[DP_AUTH_FILE_MAX];
    size_t len = 99;
    char err[300];
    /* empty, exactly 64 bytes, 65 bytes */
    assert_int_equal(dp_auth_read_file(path, out, &len, err, sizeof(err)),
                     0);
    assert_int_equal(len, 0);
    char buf[65];
    memset(buf, 'k', sizeof(buf));
    assert_int_equal(write(fd, buf, 64), 64);
    assert_int_equal(dp_auth_read_file(path, out, &len, err, sizeof(err)),
                     0);
    assert_int_equal(len, 64);
    assert_memory_equal(out, buf, 64);
    assert_int_equal(write(fd, buf, 1), 1);
    assert_int_equal(dp_auth_read_file(path, out, &len, err, sizeof(err)),
                     -EFBIG);
    assert_non_null(strstr(err, "more than 64 bytes"));
    close(fd);
    unlink(path);
    assert_int_equal(dp_auth_read_file(path, out, &len, err, sizeof(err)),
                     -ENOENT);
    assert_non_null(strstr(err, "cannot open AUTH_FILE"));
}

static void
test_payload(void **state)
{
    (void)state;
    struct dp_pool *pool = dp_pool_new(1024);
    struct pr_slice none = { NULL, 0 };
    struct pr_slice a = { (const uint8_t *)"ab\0c", 4 };
    struct pr_slice b = { (const uint8_t *)"", 0 };
    struct pr_slice x = dp_auth_payload(pool, none, none);
    assert_null(x.data);
    x = dp_auth_payload(pool, a, none);
    assert_int_equal(x.len, 4);
    assert_memory_equal(x.data, "ab\0c", 4);
    x = dp_auth_payload(pool, a, a);
    assert_int_equal(x.len, 8);
    assert_memory_equal(x.data, "ab\0cab\0c", 8);
    x = dp_auth_payload(pool, b, none);    /* set but empty stays set */
    assert_non_null(x.data);
    assert_int_equal(x.len, 0);
    dp_pool_free(pool);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_token),
        cmocka_unit_test(test_read_file),
        cmocka_unit_test(test_payload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
