/* Unit tests: dp_cgi_environment (the CGI meta-variables, a pure
 * function of the request and the address). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_cgi.h"
#include "dp_pipe.h"
#include "dp_pool.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* dp_request_header() lives in dp_http.c; the unit links the server
 * library, so the real one is used. */

static const char *
get(char **env, const char *name)
{
    size_t n = strlen(name);
    const char *found = NULL;
    for (char **e = env; *e != NULL; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') {
            assert_null(found);     /* every name once */
            found = *e + n + 1;
        }
    return found;
}

struct fixture {
    struct dp_pool *pool;
    struct dp_request req;
    struct dp_header headers[8];
    struct sockaddr_in6 peer6;
    struct sockaddr_in peer4;
    struct tp_address a;
};

static void
setup_request(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    f->pool = dp_pool_new(0);
    f->req.pool = f->pool;
    f->req.method = DP_HTTP_GET;
    f->req.method_name = "GET";
    f->req.target = "/app;x=1/tail?q=1";
    f->req.path = "/app;x=1/tail";
    f->req.query = "q=1";
    f->req.version_minor = 1;
    f->req.host = "example.org";
    f->req.content_length = -1;
    f->peer4.sin_family = AF_INET;
    f->peer4.sin_port = htons(40000);
    inet_pton(AF_INET, "192.0.2.7", &f->peer4.sin_addr);
    f->req.peer = (const struct sockaddr *)&f->peer4;
    f->headers[0] = (struct dp_header){ "Host", "example.org" };
    f->headers[1] = (struct dp_header){ "Accept-Language", "de" };
    f->headers[2] = (struct dp_header){ "Cookie", "a=1" };
    f->headers[3] = (struct dp_header){ "cookie", "b=2" };
    f->headers[4] = (struct dp_header){ "Proxy", "http://evil" };
    f->headers[5] = (struct dp_header){ "Connection", "keep-alive" };
    f->headers[6] = (struct dp_header){ "x.weird~name", "v" };
    f->req.headers = f->headers;
    f->req.n_headers = 7;
    f->a.type = TP_ADDRESS_CGI;
    f->a.path = "/usr/lib/cgi-bin/app";
    f->a.child.umask = TP_UMASK_UNSET;
}

static void
test_defaults(void **state)
{
    (void)state;
    struct fixture f;
    setup_request(&f);
    char **env = dp_cgi_environment(f.pool, &f.req, &f.a, "Portier/1",
                                    true);
    assert_non_null(env);
    assert_string_equal(get(env, "GATEWAY_INTERFACE"), "CGI/1.1");
    assert_string_equal(get(env, "SERVER_PROTOCOL"), "HTTP/1.1");
    assert_string_equal(get(env, "REQUEST_METHOD"), "GET");
    assert_string_equal(get(env, "SCRIPT_FILENAME"), "/usr/lib/cgi-bin/app");
    assert_string_equal(get(env, "PATH_TRANSLATED"), "/usr/lib/cgi-bin/app");
    /* without ;args, with the path info and the query */
    assert_string_equal(get(env, "REQUEST_URI"), "/app/tail?q=1");
    assert_string_equal(get(env, "SCRIPT_NAME"), "");
    assert_string_equal(get(env, "PATH_INFO"), "");
    assert_string_equal(get(env, "QUERY_STRING"), "q=1");
    assert_string_equal(get(env, "DOCUMENT_ROOT"), "/var/www");
    assert_string_equal(get(env, "SERVER_SOFTWARE"), "Portier/1");
    assert_string_equal(get(env, "SERVER_NAME"), "example.org");
    assert_string_equal(get(env, "SERVER_PORT"), "80");
    assert_string_equal(get(env, "REMOTE_ADDR"), "192.0.2.7");
    assert_string_equal(get(env, "REMOTE_PORT"), "40000");
    assert_string_equal(get(env, "HTTP_HOST"), "example.org");
    assert_string_equal(get(env, "HTTP_ACCEPT_LANGUAGE"), "de");
    assert_string_equal(get(env, "HTTP_COOKIE"), "a=1, b=2");
    assert_string_equal(get(env, "HTTP_X_WEIRD_NAME"), "v");
    assert_null(get(env, "HTTP_PROXY"));
    assert_null(get(env, "HTTP_CONNECTION"));
    assert_null(get(env, "CONTENT_LENGTH"));
    assert_null(get(env, "CONTENT_TYPE"));
    assert_null(get(env, "HTTPS"));
    assert_null(get(env, "PATH"));
    dp_pool_free(f.pool);
}

static void
test_address_and_body(void **state)
{
    (void)state;
    struct fixture f;
    setup_request(&f);
    f.req.method = DP_HTTP_POST;
    f.req.method_name = "POST";
    f.req.version_minor = 0;
    f.req.host = "[2001:db8::1]:8443";
    f.req.content_length = 42;
    f.headers[7] = (struct dp_header){ "Content-Type", "text/plain" };
    f.headers[1] = (struct dp_header){ "X-CM4all-HTTPS", "on" };
    f.req.n_headers = 8;
    memset(&f.peer6, 0, sizeof(f.peer6));
    f.peer6.sin6_family = AF_INET6;
    f.peer6.sin6_port = htons(1234);
    inet_pton(AF_INET6, "2001:db8::2", &f.peer6.sin6_addr);
    f.req.peer = (const struct sockaddr *)&f.peer6;
    f.a.script_name = "/app";
    f.a.path_info = "/tail";
    f.a.document_root = "/srv/site";
    f.a.action = "/usr/bin/php-cgi";
    struct tp_expandable env_items[3] = {
        { "FOO=bar", NULL }, { "QUERY_STRING=forced", NULL },
        { "EMPTY=", NULL },
    };
    f.a.child.env.v = env_items;
    f.a.child.env.n = 3;
    char **env = dp_cgi_environment(f.pool, &f.req, &f.a, NULL, true);
    assert_non_null(env);
    assert_string_equal(get(env, "SERVER_PROTOCOL"), "HTTP/1.0");
    assert_string_equal(get(env, "REQUEST_METHOD"), "POST");
    /* SCRIPT_NAME set: REQUEST_URI rebuilt from it */
    assert_string_equal(get(env, "REQUEST_URI"), "/app/tail?q=1");
    assert_string_equal(get(env, "SCRIPT_NAME"), "/app");
    assert_string_equal(get(env, "PATH_INFO"), "/tail");
    /* ACTION: SCRIPT_FILENAME is still the CGI path */
    assert_string_equal(get(env, "SCRIPT_FILENAME"), "/usr/lib/cgi-bin/app");
    assert_string_equal(get(env, "DOCUMENT_ROOT"), "/srv/site");
    assert_string_equal(get(env, "SERVER_SOFTWARE"), "Portier");
    assert_string_equal(get(env, "SERVER_NAME"), "[2001:db8::1]");
    assert_string_equal(get(env, "SERVER_PORT"), "8443");
    assert_string_equal(get(env, "REMOTE_ADDR"), "2001:db8::2");
    assert_string_equal(get(env, "REMOTE_PORT"), "1234");
    assert_string_equal(get(env, "CONTENT_LENGTH"), "42");
    assert_string_equal(get(env, "CONTENT_TYPE"), "text/plain");
    assert_null(get(env, "HTTP_CONTENT_TYPE"));
    assert_null(get(env, "HTTP_X_CM4ALL_HTTPS"));
    assert_string_equal(get(env, "HTTPS"), "on");
    assert_string_equal(get(env, "FOO"), "bar");
    assert_string_equal(get(env, "QUERY_STRING"), "forced");
    assert_string_equal(get(env, "EMPTY"), "");

    /* REQUEST_URI_VERBATIM; no body after a local redirect; HTTPS
     * without a port in Host is 443; a local peer has no address */
    f.a.request_uri_verbatim = true;
    f.req.host = "secure.example";
    f.req.peer = NULL;
    env = dp_cgi_environment(f.pool, &f.req, &f.a, NULL, false);
    assert_string_equal(get(env, "REQUEST_URI"), "/app/tail?q=1");
    assert_string_equal(get(env, "SERVER_PORT"), "443");
    assert_null(get(env, "CONTENT_LENGTH"));
    assert_null(get(env, "CONTENT_TYPE"));
    assert_null(get(env, "REMOTE_ADDR"));
    f.req.path = "/other;a";
    f.req.query = NULL;
    env = dp_cgi_environment(f.pool, &f.req, &f.a, NULL, false);
    assert_string_equal(get(env, "REQUEST_URI"), "/other");
    assert_string_equal(get(env, "QUERY_STRING"), "forced");

    /* a TLS listener, without the front end's header */
    dp_pool_free(f.pool);
    setup_request(&f);
    f.req.tls = true;
    f.req.n_headers = 1;
    env = dp_cgi_environment(f.pool, &f.req, &f.a, NULL, true);
    assert_string_equal(get(env, "HTTPS"), "on");
    assert_string_equal(get(env, "SERVER_PORT"), "443");
    dp_pool_free(f.pool);
}

static void
test_pipe_etag(void **state)
{
    (void)state;
    struct dp_pool *pool = dp_pool_new(0);
    struct tp_expandable args[1] = { { "-x", NULL } };
    struct tp_expandable_list list = { args, 1, 1 };
    char *a = dp_pipe_etag(pool, "\"abc\"", "/usr/bin/f", NULL);
    char *b = dp_pipe_etag(pool, "\"abc\"", "/usr/bin/f", &list);
    char *c = dp_pipe_etag(pool, "W/\"abc\"", "/usr/bin/f", NULL);
    char *d = dp_pipe_etag(pool, "\"abc\"", "/usr/bin/g", NULL);
    assert_non_null(a);
    assert_int_equal(strncmp(a, "\"abc-p", 6), 0);
    assert_int_equal(a[strlen(a) - 1], '"');
    assert_string_not_equal(a, b);          /* arguments count */
    assert_string_not_equal(a, d);          /* the program counts */
    assert_string_equal(c + 2, a);          /* weak stays weak */
    assert_int_equal(strncmp(c, "W/", 2), 0);
    /* stable: the same input gives the same tag */
    assert_string_equal(a, dp_pipe_etag(pool, "\"abc\"", "/usr/bin/f",
                                        NULL));
    dp_pool_free(pool);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_address_and_body),
        cmocka_unit_test(test_pipe_etag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
