/* Unit tests: dp_fcgi_params (FastCGI PARAMS, spec §6.2, §1.13). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_fcgi_params.h"
#include "dp_pool.h"

#include <stdio.h>
#include <string.h>

/* The §1.13 request defaults. */
static void
default_modes(uint8_t *m)
{
    memset(m, TP_HF_NO, TP_HG_COUNT);
    m[TP_HG_IDENTITY] = TP_HF_MANGLE;
    m[TP_HG_CAPABILITIES] = TP_HF_YES;
    m[TP_HG_COOKIE] = TP_HF_MANGLE;
}

struct fixture {
    struct dp_pool *pool;
    struct tp_address address;
    uint8_t modes[TP_HG_COUNT];
    struct dp_fcgi_params_input in;
    struct dp_fcgi_params out;
};

static int
setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    f.pool = dp_pool_new(0);
    f.address.type = TP_ADDRESS_FASTCGI;
    f.address.path = "/usr/lib/cgi-bin/app.fcgi";
    default_modes(f.modes);
    f.in.method = "GET";
    f.in.path = "/app;x=1/more";
    f.in.query = "a=b";
    f.in.content_length = -1;
    f.in.remote_addr = "192.0.2.7";
    f.in.server_software = "Portier";
    f.in.address = &f.address;
    f.in.header_forward = f.modes;
    *state = &f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;
    dp_pool_free(f->pool);
    return 0;
}

/* The value of `name` (NUL-terminated copy), or NULL; *index is set to
 * its position. */
static const char *
get(struct fixture *f, const char *name, size_t *index)
{
    static char buf[512];
    for (size_t i = 0; i < f->out.n; i++) {
        const struct fcgi_pair *p = &f->out.v[i];
        if (p->name.len == strlen(name) &&
            memcmp(p->name.data, name, p->name.len) == 0) {
            snprintf(buf, sizeof(buf), "%.*s", (int)p->value.len,
                     (const char *)p->value.data);
            if (index != NULL)
                *index = i;
            return buf;
        }
    }
    return NULL;
}

static void
build(struct fixture *f)
{
    assert_int_equal(dp_fcgi_params_build(f->pool, &f->in, &f->out), 0);
}

static void
test_get_order_and_values(void **state)
{
    struct fixture *f = *state;
    const struct dp_header h[] = {
        { "Host", "example.com" },
        { "User-Agent", "curl/8" },
        { "Connection", "keep-alive" },
        { "X-Custom", "nope" },
        { "Accept", "*/*" },
        { "Cookie", "a=1" },
        { "Authorization", "Basic eA==" },
    };
    f->in.headers = h;
    f->in.n_headers = sizeof(h) / sizeof(h[0]);
    build(f);
    static const char *const order[] = {
        "REQUEST_METHOD", "REQUEST_URI", "SCRIPT_FILENAME", "SCRIPT_NAME",
        "PATH_INFO", "QUERY_STRING", "DOCUMENT_ROOT", "SERVER_SOFTWARE",
        "REMOTE_ADDR", "HTTP_CONTENT_LENGTH", "CONTENT_LENGTH",
    };
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        size_t at = 99;
        assert_non_null(get(f, order[i], &at));
        assert_int_equal(at, i);
    }
    assert_string_equal(get(f, "REQUEST_METHOD", NULL), "GET");
    /* ";args" removed, path info kept, query appended */
    assert_string_equal(get(f, "REQUEST_URI", NULL), "/app/more?a=b");
    assert_string_equal(get(f, "SCRIPT_FILENAME", NULL),
                        "/usr/lib/cgi-bin/app.fcgi");
    assert_string_equal(get(f, "SCRIPT_NAME", NULL), "");
    assert_string_equal(get(f, "QUERY_STRING", NULL), "a=b");
    assert_string_equal(get(f, "REMOTE_ADDR", NULL), "192.0.2.7");
    assert_string_equal(get(f, "CONTENT_LENGTH", NULL), "0");
    assert_string_equal(get(f, "HTTP_CONTENT_LENGTH", NULL), "0");
    assert_null(get(f, "CONTENT_TYPE", NULL));
    assert_null(get(f, "HTTPS", NULL));
    assert_string_equal(get(f, "HTTP_HOST", NULL), "example.com");
    assert_string_equal(get(f, "HTTP_USER_AGENT", NULL), "curl/8");
    assert_string_equal(get(f, "HTTP_ACCEPT", NULL), "*/*");
    /* COOKIE MANGLE: no cookie jar yet, the client's are not passed on */
    assert_null(get(f, "HTTP_COOKIE", NULL));
    assert_string_equal(get(f, "HTTP_X_FORWARDED_FOR", NULL), "192.0.2.7");
    assert_null(get(f, "HTTP_CONNECTION", NULL));
    assert_null(get(f, "HTTP_X_CUSTOM", NULL));        /* OTHER: NO */
    assert_null(get(f, "HTTP_AUTHORIZATION", NULL));   /* AUTH: NO */
    /* never sent for FastCGI */
    assert_null(get(f, "GATEWAY_INTERFACE", NULL));
    assert_null(get(f, "SERVER_PROTOCOL", NULL));
    assert_null(get(f, "SERVER_NAME", NULL));
    assert_null(get(f, "REMOTE_PORT", NULL));
}

static void
test_body_known_and_chunked(void **state)
{
    struct fixture *f = *state;
    const struct dp_header h[] = {
        { "Content-Type", "text/plain" },
        { "Content-Length", "5" },
        { "Content-Encoding", "identity" },
    };
    f->in.method = "POST";
    f->in.headers = h;
    f->in.n_headers = 3;
    f->in.has_body = true;
    f->in.content_length = 5;
    build(f);
    assert_string_equal(get(f, "CONTENT_LENGTH", NULL), "5");
    assert_string_equal(get(f, "HTTP_CONTENT_LENGTH", NULL), "5");
    assert_string_equal(get(f, "CONTENT_TYPE", NULL), "text/plain");
    assert_string_equal(get(f, "HTTP_CONTENT_TYPE", NULL), "text/plain");
    assert_string_equal(get(f, "HTTP_CONTENT_ENCODING", NULL), "identity");
    /* Content-Length is not a forwarded header: only the two above */
    size_t n = 0;
    for (size_t i = 0; i < f->out.n; i++)
        if (memmem(f->out.v[i].name.data, f->out.v[i].name.len,
                   "CONTENT_LENGTH", 14) != NULL)
            n++;
    assert_int_equal(n, 2);

    f->in.content_length = -1;     /* chunked: length unknown */
    build(f);
    assert_null(get(f, "CONTENT_LENGTH", NULL));
    assert_null(get(f, "HTTP_CONTENT_LENGTH", NULL));
    assert_string_equal(get(f, "CONTENT_TYPE", NULL), "text/plain");
}

static void
test_script_name_rebuilds_uri(void **state)
{
    struct fixture *f = *state;
    f->address.script_name = "/cgi/app";
    f->address.path_info = "/x/y";
    f->address.document_root = "/srv/www";
    build(f);
    assert_string_equal(get(f, "REQUEST_URI", NULL), "/cgi/app/x/y?a=b");
    assert_string_equal(get(f, "SCRIPT_NAME", NULL), "/cgi/app");
    assert_string_equal(get(f, "PATH_INFO", NULL), "/x/y");
    assert_string_equal(get(f, "DOCUMENT_ROOT", NULL), "/srv/www");
    f->address.request_uri_verbatim = true;
    f->in.query = NULL;
    build(f);
    assert_string_equal(get(f, "REQUEST_URI", NULL), "/app/more");
    assert_string_equal(get(f, "QUERY_STRING", NULL), "");
}

static void
test_forwarded_for_merged(void **state)
{
    struct fixture *f = *state;
    const struct dp_header h[] = {
        { "X-Forwarded-For", "10.0.0.1" },
        { "Via", "1.1 front" },
        { "X-Forwarded-For", "10.0.0.2" },
    };
    f->in.headers = h;
    f->in.n_headers = 3;
    build(f);
    assert_string_equal(get(f, "HTTP_X_FORWARDED_FOR", NULL),
                        "10.0.0.1, 10.0.0.2, 192.0.2.7");
    assert_string_equal(get(f, "HTTP_VIA", NULL), "1.1 front");
    size_t n = 0;
    for (size_t i = 0; i < f->out.n; i++)
        if (f->out.v[i].name.len == 20 &&
            memcmp(f->out.v[i].name.data, "HTTP_X_FORWARDED_FOR", 20) == 0)
            n++;
    assert_int_equal(n, 1);

    /* IDENTITY NO: neither REMOTE_ADDR nor X-Forwarded-For */
    f->modes[TP_HG_IDENTITY] = TP_HF_NO;
    build(f);
    assert_null(get(f, "REMOTE_ADDR", NULL));
    assert_null(get(f, "HTTP_X_FORWARDED_FOR", NULL));
    assert_null(get(f, "HTTP_VIA", NULL));

    /* unknown client (unix socket): no REMOTE_ADDR */
    f->modes[TP_HG_IDENTITY] = TP_HF_MANGLE;
    f->in.remote_addr = NULL;
    f->in.n_headers = 0;
    build(f);
    assert_null(get(f, "REMOTE_ADDR", NULL));
    assert_null(get(f, "HTTP_X_FORWARDED_FOR", NULL));
}

static void
test_groups_and_https(void **state)
{
    struct fixture *f = *state;
    const struct dp_header h[] = {
        { "X-CM4all-HTTPS", "on" },
        { "X-Custom-Thing", "v" },
        { "User-Agent", "curl/8" },
        { "X-CM4all-DocRoot", "/secret" },
        { "If-None-Match", "\"e\"" },
    };
    f->in.headers = h;
    f->in.n_headers = 5;
    build(f);
    assert_null(get(f, "HTTPS", NULL));                /* SSL: NO */
    assert_string_equal(get(f, "HTTP_IF_NONE_MATCH", NULL), "\"e\"");
    f->modes[TP_HG_SSL] = TP_HF_YES;
    f->modes[TP_HG_OTHER] = TP_HF_YES;
    f->modes[TP_HG_CAPABILITIES] = TP_HF_MANGLE;
    build(f);
    assert_string_equal(get(f, "HTTPS", NULL), "on");
    assert_null(get(f, "HTTP_X_CM4ALL_HTTPS", NULL));
    assert_string_equal(get(f, "HTTP_X_CUSTOM_THING", NULL), "v");
    assert_string_equal(get(f, "HTTP_USER_AGENT", NULL), "Portier");
    assert_null(get(f, "HTTP_X_CM4ALL_DOCROOT", NULL));
    /* COOKIE YES: passed on */
    const struct dp_header c[] = { { "Cookie", "a=1; b=2" } };
    f->in.headers = c;
    f->in.n_headers = 1;
    f->modes[TP_HG_COOKIE] = TP_HF_YES;
    build(f);
    assert_string_equal(get(f, "HTTP_COOKIE", NULL), "a=1; b=2");
}

/* REQUEST_HEADER packets become parameters after the forwarded ones;
 * Via gets the local host with IDENTITY MANGLE. */
static void
test_request_header_packets(void **state)
{
    struct fixture *f = *state;
    struct tp_header extra[] = {
        { "x-from-translation", "yes", false },
        { "x-template", "\\1", true },
    };
    struct tp_header_list list = { extra, 2, 2 };
    const struct dp_header h[] = { { "Host", "h" } };
    f->in.headers = h;
    f->in.n_headers = 1;
    f->in.request_headers = &list;
    f->in.local_host = "proxy.example";
    build(f);
    assert_string_equal(get(f, "HTTP_X_FROM_TRANSLATION", NULL), "yes");
    assert_null(get(f, "HTTP_X_TEMPLATE", NULL));     /* not expanded */
    assert_string_equal(get(f, "HTTP_VIA", NULL), "1.1 proxy.example");
}

static void
test_pairs_last(void **state)
{
    struct fixture *f = *state;
    struct tp_expandable pairs[] = {
        { "APP_MODE=production", NULL },
        { "EMPTY=", NULL },
        { "NOEQ", NULL },
        { "EQ=a=b", NULL },
    };
    f->address.params.v = pairs;
    f->address.params.n = 4;
    const struct dp_header h[] = { { "Host", "h" } };
    f->in.headers = h;
    f->in.n_headers = 1;
    build(f);
    size_t host = 0, mode = 0;
    assert_non_null(get(f, "HTTP_HOST", &host));
    assert_string_equal(get(f, "APP_MODE", &mode), "production");
    assert_true(mode > host);
    assert_int_equal(mode, f->out.n - 4);
    assert_string_equal(get(f, "EMPTY", NULL), "");
    assert_string_equal(get(f, "NOEQ", NULL), "");
    assert_string_equal(get(f, "EQ", NULL), "a=b");
}

/* The pairs encode as PARAMS records that fcgi_nv_next() reads back. */
static void
test_encodes(void **state)
{
    struct fixture *f = *state;
    char big[300];
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    const struct dp_header h[] = { { "Accept", big } };
    f->in.headers = h;
    f->in.n_headers = 1;
    build(f);
    struct pr_buf out = { 0 };
    assert_int_equal(fcgi_append_pairs(&out, FCGI_PARAMS, 1, f->out.v,
                                       f->out.n, 0), 0);
    /* one record with content, then the empty one */
    size_t len = ((size_t)out.data[4] << 8) | out.data[5];
    assert_int_equal(out.len, 8 + len + out.data[6] + 8);
    size_t pos = 0, n = 0;
    struct fcgi_pair p;
    while (fcgi_nv_next(out.data + 8, len, &pos, &p, NULL, 0) == 1) {
        assert_int_equal(p.name.len, f->out.v[n].name.len);
        assert_int_equal(p.value.len, f->out.v[n].value.len);
        n++;
    }
    assert_int_equal(n, f->out.n);
    pr_buf_free(&out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_order_and_values, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_body_known_and_chunked, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_script_name_rebuilds_uri,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_forwarded_for_merged, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_groups_and_https, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_pairs_last, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_header_packets, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_encodes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
