/* Unit tests: dp_cgi_vars, the CGI/1.1 variables dp_cgi and
 * dp_fcgi_params share (spec §6.2, §6.3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_cgi_vars.h"
#include "dp_pool.h"

#include <string.h>

static void
test_http_var(void **state)
{
    (void)state;
    struct dp_pool *pool = dp_pool_new(0);
    assert_non_null(pool);
    assert_string_equal(dp_cgi_http_var(pool, "Host"), "HTTP_HOST");
    assert_string_equal(dp_cgi_http_var(pool, "x-Forwarded-For"),
                        "HTTP_X_FORWARDED_FOR");
    assert_string_equal(dp_cgi_http_var(pool, "A1.b_c~9"), "HTTP_A1_B_C_9");
    assert_string_equal(dp_cgi_http_var(pool, "caf\xc3\xa9"),
                        "HTTP_CAF__");
    assert_string_equal(dp_cgi_http_var(pool, ""), "HTTP_");
    dp_pool_free(pool);
}

static void
test_request_uri(void **state)
{
    (void)state;
    struct dp_pool *pool = dp_pool_new(0);
    assert_non_null(pool);
    struct tp_address a;
    memset(&a, 0, sizeof(a));
    a.type = TP_ADDRESS_CGI;
    a.path = "/usr/lib/cgi-bin/app";

    /* No SCRIPT_NAME: the client's path without ;args, then the query. */
    assert_string_equal(dp_cgi_request_uri(pool, &a, "/app;x=1/more", "a=b"),
                        "/app/more?a=b");
    assert_string_equal(dp_cgi_request_uri(pool, &a, "/app;x=1", NULL),
                        "/app");
    assert_string_equal(dp_cgi_request_uri(pool, &a, "/app", ""), "/app?");
    assert_string_equal(dp_cgi_request_uri(pool, &a, "/a%20b", NULL),
                        "/a%20b");

    /* SCRIPT_NAME + PATH_INFO (+ query). */
    a.script_name = "/s.cgi";
    a.path_info = "/p/i";
    assert_string_equal(dp_cgi_request_uri(pool, &a, "/other;x", "q=1"),
                        "/s.cgi/p/i?q=1");
    a.path_info = NULL;
    assert_string_equal(dp_cgi_request_uri(pool, &a, "/other", NULL),
                        "/s.cgi");

    /* REQUEST_URI_VERBATIM: the client's path again. */
    a.path_info = "/p/i";
    a.request_uri_verbatim = true;
    assert_string_equal(dp_cgi_request_uri(pool, &a, "/x;y/z", "q"),
                        "/x/z?q");
    dp_pool_free(pool);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_var),
        cmocka_unit_test(test_request_uri),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
