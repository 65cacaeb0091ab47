/* Unit tests for protocol/h1_request: the HTTP/1.1 request-head parser.
 * Every vector is written out byte by byte; every vector is also fed
 * progressively, one more byte per call, into a buffer that moves
 * (realloc) between calls, and must give the same answer at the same
 * byte as when fed whole.  Rejection vectors (RFC 9112, RFC 9110 and the
 * request-smuggling literature: CL.TE, TE.CL, TE.TE obfuscations) each
 * run as their own test case with the expected status and message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "h1_request.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HDRS 128

/* What one run produced, with slices turned into offsets so runs over
 * different buffers compare. */
struct outcome {
    enum h1_result res;
    size_t at;          /* bytes given when the answer came */
    int status;
    char error[H1_ERROR_SIZE];
    char canon[4096];   /* the request, as text (DONE only) */
};

static void
put_slice(char **p, char *end, const char *label, struct pr_slice s,
          const uint8_t *base)
{
    int n;
    if (s.data == NULL)
        n = snprintf(*p, (size_t)(end - *p), " %s=-", label);
    else
        n = snprintf(*p, (size_t)(end - *p), " %s=%td+%zu", label,
                     s.data - base, s.len);
    if (n > 0 && n < end - *p)
        *p += n;
}

static void
canon(const struct h1_request *r, const uint8_t *base, char *out,
      size_t cap)
{
    char *p = out, *end = out + cap;
    int n = snprintf(p, cap,
                     "len=%zu m=%d form=%d q=%d v=%u.%u cl=%d:%llu ch=%d "
                     "ka=%d conn=%u ec=%d eo=%d n=%zu",
                     r->head_len, (int)r->method, (int)r->target_form,
                     r->has_query, r->version_major, r->version_minor,
                     r->has_content_length,
                     (unsigned long long)r->content_length, r->chunked,
                     r->keep_alive, r->connection, r->expect_continue,
                     r->expect_other, r->header_count);
    p += n;
    put_slice(&p, end, "tok", r->method_token, base);
    put_slice(&p, end, "target", r->target, base);
    put_slice(&p, end, "path", r->path, base);
    put_slice(&p, end, "query", r->query, base);
    put_slice(&p, end, "scheme", r->scheme, base);
    put_slice(&p, end, "host", r->host, base);
    for (size_t i = 0; i < r->header_count; i++) {
        put_slice(&p, end, "n", r->headers[i].name, base);
        put_slice(&p, end, "v", r->headers[i].value, base);
    }
}

static void
run_whole(const uint8_t *in, size_t len, const struct h1_limits *lim,
          size_t cap, struct outcome *o, struct h1_request *out_req,
          struct h1_header *out_hdrs)
{
    struct h1_header local[MAX_HDRS];
    struct h1_header *hdrs = out_hdrs ? out_hdrs : local;
    struct h1_parser p;
    struct h1_request r;
    memset(o, 0, sizeof(*o));
    h1_parser_init(&p, lim, hdrs, cap);
    o->res = h1_parse_request(&p, in, len, &r);
    o->at = len;
    o->status = h1_parser_status(&p);
    snprintf(o->error, sizeof(o->error), "%s", h1_parser_error(&p));
    if (o->res == H1_DONE) {
        assert_int_equal(o->status, 0);
        canon(&r, in, o->canon, sizeof(o->canon));
        if (out_req != NULL)
            *out_req = r;
    } else if (o->res == H1_ERROR) {
        assert_true(o->error[0] != '\0');
    }
}

/* Feed one more byte per call into a buffer that is reallocated each
 * time (so it may move).  Stops at the first answer that is not
 * NEED_MORE. */
static void
run_progressive(const uint8_t *in, size_t len, const struct h1_limits *lim,
                size_t cap, struct outcome *o)
{
    struct h1_header hdrs[MAX_HDRS];
    struct h1_parser p;
    struct h1_request r;
    uint8_t *buf = NULL;
    memset(o, 0, sizeof(*o));
    h1_parser_init(&p, lim, hdrs, cap);
    o->res = H1_NEED_MORE;
    for (size_t n = 0; n <= len; n++) {
        uint8_t *nb = malloc(n + 1);
        assert_non_null(nb);
        if (n > 0)
            memcpy(nb, in, n);
        /* Poison the old buffer before freeing, so a kept pointer shows. */
        if (buf != NULL)
            memset(buf, 0xAA, n);
        free(buf);
        buf = nb;
        o->res = h1_parse_request(&p, buf, n, &r);
        o->at = n;
        if (o->res != H1_NEED_MORE)
            break;
    }
    o->status = h1_parser_status(&p);
    snprintf(o->error, sizeof(o->error), "%s", h1_parser_error(&p));
    if (o->res == H1_DONE)
        canon(&r, buf, o->canon, sizeof(o->canon));
    free(buf);
}

/* Whole and progressive agree; when the whole run answered, the
 * progressive one answered at the same byte or earlier with the same
 * answer (errors are found in byte order). */
static void
check_split(const uint8_t *in, size_t len, const struct h1_limits *lim,
            size_t cap, const struct outcome *whole)
{
    struct outcome prog;
    run_progressive(in, len, lim, cap, &prog);
    if (whole->res != prog.res || whole->status != prog.status ||
        strcmp(whole->error, prog.error) != 0 ||
        strcmp(whole->canon, prog.canon) != 0) {
        print_error("whole: %d %d '%s' %s\nprogressive (at %zu): %d %d "
                    "'%s' %s\n",
                    whole->res, whole->status, whole->error, whole->canon,
                    prog.at, prog.res, prog.status, prog.error, prog.canon);
        fail();
    }
    /* Every split into two calls gives the same answer as well. */
    for (size_t k = 0; k <= len; k++) {
        struct h1_header hdrs[MAX_HDRS];
        struct h1_parser p;
        struct h1_request r;
        struct outcome o;
        memset(&o, 0, sizeof(o));
        h1_parser_init(&p, lim, hdrs, cap);
        o.res = h1_parse_request(&p, in, k, &r);
        if (o.res == H1_NEED_MORE)
            o.res = h1_parse_request(&p, in, len, &r);
        o.status = h1_parser_status(&p);
        assert_int_equal(o.res, whole->res);
        assert_int_equal(o.status, whole->status);
        assert_string_equal(h1_parser_error(&p), whole->error);
        if (o.res == H1_DONE) {
            canon(&r, in, o.canon, sizeof(o.canon));
            assert_string_equal(o.canon, whole->canon);
        }
    }
}

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

static void
parse_ok_lim(const uint8_t *in, size_t len, const struct h1_limits *lim,
             size_t cap, struct h1_request *r, struct h1_header *hdrs)
{
    struct outcome o;
    run_whole(in, len, lim, cap, &o, r, hdrs);
    if (o.res != H1_DONE) {
        print_error("expected DONE, got %d: %d %s\n", o.res, o.status,
                    o.error);
        fail();
    }
    check_split(in, len, lim, cap, &o);
}

/* Parse a complete head with the defaults; the slices point into `in`. */
static struct h1_header hdrs_g[MAX_HDRS];

static void
parse_ok(const uint8_t *in, size_t len, struct h1_request *r)
{
    parse_ok_lim(in, len, NULL, MAX_HDRS, r, hdrs_g);
}

static void
expect_error_lim(const uint8_t *in, size_t len, const struct h1_limits *lim,
                 size_t cap, int status, const char *msg)
{
    struct outcome o;
    run_whole(in, len, lim, cap, &o, NULL, NULL);
    if (o.res != H1_ERROR || o.status != status ||
        (msg != NULL && strcmp(o.error, msg) != 0)) {
        print_error("expected ERROR %d '%s', got %d %d '%s'\n", status,
                    msg ? msg : "", o.res, o.status, o.error);
        fail();
    }
    check_split(in, len, lim, cap, &o);
}

static void
assert_slice(struct pr_slice s, const char *want)
{
    if (want == NULL) {
        assert_null(s.data);
        assert_int_equal(s.len, 0);
        return;
    }
    assert_non_null(s.data);
    if (s.len != strlen(want) || memcmp(s.data, want, s.len) != 0) {
        print_error("slice '%.*s' != '%s'\n", (int)s.len,
                    (const char *)s.data, want);
        fail();
    }
}

/* ---- valid requests ---------------------------------------------------- */

static void
test_simple_get(void **state)
{
    static const char in[] = "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
    struct h1_request r;
    parse_ok(S(in), &r);
    assert_int_equal(r.head_len, sizeof(in) - 1);
    assert_int_equal(r.method, H1_METHOD_GET);
    assert_slice(r.method_token, "GET");
    assert_int_equal(r.target_form, H1_TARGET_ORIGIN);
    assert_slice(r.target, "/");
    assert_slice(r.path, "/");
    assert_false(r.has_query);
    assert_slice(r.query, NULL);
    assert_slice(r.scheme, NULL);
    assert_int_equal(r.version_major, 1);
    assert_int_equal(r.version_minor, 1);
    assert_slice(r.host, "example.com");
    assert_int_equal(r.header_count, 1);
    assert_slice(r.headers[0].name, "Host");
    assert_slice(r.headers[0].value, "example.com");
    assert_false(r.has_content_length);
    assert_false(r.chunked);
    assert_true(r.keep_alive);
    assert_int_equal(r.connection, 0);
    assert_false(r.expect_continue);
    /* The slices point into the input. */
    assert_ptr_equal(r.method_token.data, (const uint8_t *)in);
    assert_ptr_equal(r.headers[0].value.data, (const uint8_t *)in + 22);
}

static void
test_path_and_query(void **state)
{
    static const char in[] =
        "GET /a/b%20c?x=1&y=/?z HTTP/1.1\r\nHost: h\r\n"
        "User-Agent: curl/8.0\r\nAccept: */*\r\n\r\n";
    struct h1_request r;
    parse_ok(S(in), &r);
    assert_slice(r.target, "/a/b%20c?x=1&y=/?z");
    assert_slice(r.path, "/a/b%20c");
    assert_true(r.has_query);
    assert_slice(r.query, "x=1&y=/?z");
    assert_int_equal(r.header_count, 3);
    assert_slice(r.headers[1].name, "User-Agent");
    assert_slice(r.headers[1].value, "curl/8.0");
    assert_slice(r.headers[2].value, "*/*");
    const struct h1_header *h = h1_request_find(&r, "user-agent");
    assert_non_null(h);
    assert_ptr_equal(h, &r.headers[1]);
    assert_null(h1_request_find(&r, "Cookie"));
}

static void
test_empty_query_and_browser_chars(void **state)
{
    /* '{', '}', '|', '^', '`', '"', '\', '<', '>' are not in RFC 3986
     * but browsers send some of them raw in queries: accepted. */
    static const char in[] =
        "GET /p?{a}|^`\"\\<>[] HTTP/1.1\r\nHost: h\r\n\r\n";
    struct h1_request r;
    parse_ok(S(in), &r);
    assert_slice(r.query, "{a}|^`\"\\<>[]");
    static const char in2[] = "GET /p? HTTP/1.1\r\nHost: h\r\n\r\n";
    parse_ok(S(in2), &r);
    assert_true(r.has_query);
    assert_slice(r.path, "/p");
    assert_int_equal(r.query.len, 0);
    assert_non_null(r.query.data);
}

static void
test_http10(void **state)
{
    static const char in[] = "GET /x HTTP/1.0\r\n\r\n";
    struct h1_request r;
    parse_ok(S(in), &r);
    assert_int_equal(r.version_minor, 0);
    assert_false(r.keep_alive);
    assert_slice(r.host, NULL);
    assert_int_equal(r.header_count, 0);

    static const char ka[] =
        "GET /x HTTP/1.0\r\nConnection: Keep-Alive\r\nHost: h\r\n\r\n";
    parse_ok(S(ka), &r);
    assert_true(r.keep_alive);
    assert_int_equal(r.connection, H1_CONN_KEEP_ALIVE);
    assert_slice(r.host, "h");

    static const char both[] =
        "GET /x HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n";
    parse_ok(S(both), &r);
    assert_false(r.keep_alive);
    assert_int_equal(r.connection, H1_CONN_KEEP_ALIVE | H1_CONN_CLOSE);
}

static void
test_connection_tokens(void **state)
{
    static const char in[] =
        "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
    struct h1_request r;
    parse_ok(S(in), &r);
    assert_false(r.keep_alive);
    assert_int_equal(r.connection, H1_CONN_CLOSE);

    static const char up[] = "GET /ws HTTP/1.1\r\nHost: h\r\n"
                             "Connection: keep-alive ,\tUpgrade,,x-foo\r\n"
                             "Upgrade: websocket\r\n\r\n";
    parse_ok(S(up), &r);
    assert_true(r.keep_alive);
    assert_int_equal(r.connection, H1_CONN_KEEP_ALIVE | H1_CONN_UPGRADE);

    /* Two Connection lines combine. */
    static const char two[] = "GET / HTTP/1.1\r\nHost: h\r\n"
                              "Connection: upgrade\r\nConnection: CLOSE\r\n"
                              "\r\n";
    parse_ok(S(two), &r);
    assert_false(r.keep_alive);
    assert_int_equal(r.connection, H1_CONN_CLOSE | H1_CONN_UPGRADE);
}

static void
test_content_length_body(void **state)
{
    /* The body and the next pipelined request are not consumed. */
    static const char in[] = "POST /f HTTP/1.1\r\nHost: h\r\n"
                             "Content-Length: 5\r\n\r\nhelloGET / HTTP/1.1";
    struct h1_request r;
    struct outcome o;
    run_whole(S(in), NULL, MAX_HDRS, &o, &r, hdrs_g);
    assert_int_equal(o.res, H1_DONE);
    assert_int_equal(r.head_len, sizeof(in) - 1 - 19);
    assert_int_equal(r.method, H1_METHOD_POST);
    assert_true(r.has_content_length);
    assert_int_equal(r.content_length, 5);
    assert_false(r.chunked);
    assert_true(r.keep_alive);
    check_split(S(in), NULL, MAX_HDRS, &o);
}

static void
test_content_length_forms(void **state)
{
    struct h1_request r;
    static const char zero[] =
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n";
    parse_ok(S(zero), &r);
    assert_true(r.has_content_length);
    assert_int_equal(r.content_length, 0);

    /* Leading zeros are 1*DIGIT: decimal 7. */
    static const char lz[] =
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 007\r\n\r\n";
    parse_ok(S(lz), &r);
    assert_int_equal(r.content_length, 7);

    /* OWS around the value is not part of it. */
    static const char ows[] =
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: \t12 \t\r\n\r\n";
    parse_ok(S(ows), &r);
    assert_int_equal(r.content_length, 12);

    /* Repeated with the same value (RFC 9110 §8.6): one length. */
    static const char rep[] = "POST / HTTP/1.1\r\nHost: h\r\n"
                              "Content-Length: 5\r\ncontent-length: 05\r\n"
                              "\r\n";
    parse_ok(S(rep), &r);
    assert_int_equal(r.content_length, 5);

    static const char max[] = "POST / HTTP/1.1\r\nHost: h\r\n"
                              "Content-Length: 9223372036854775807\r\n\r\n";
    parse_ok(S(max), &r);
    assert_int_equal(r.content_length, INT64_MAX);
}

static void
test_chunked(void **state)
{
    struct h1_request r;
    static const char in[] = "POST /u HTTP/1.1\r\nHost: h\r\n"
                             "Transfer-Encoding: chunked\r\n\r\n5\r\nhello";
    parse_ok(S(in), &r);
    assert_true(r.chunked);
    assert_false(r.has_content_length);
    assert_int_equal(r.head_len, sizeof(in) - 1 - 8);

    /* Coding names are case-insensitive; OWS with a tab is fine. */
    static const char tab[] = "POST /u HTTP/1.1\r\nHost: h\r\n"
                              "Transfer-Encoding:\tChunked \r\n\r\n";
    parse_ok(S(tab), &r);
    assert_true(r.chunked);
}

static void
test_expect(void **state)
{
    struct h1_request r;
    static const char in[] = "PUT /u HTTP/1.1\r\nHost: h\r\n"
                             "Content-Length: 10\r\n"
                             "Expect: 100-Continue\r\n\r\n";
    parse_ok(S(in), &r);
    assert_int_equal(r.method, H1_METHOD_PUT);
    assert_true(r.expect_continue);
    assert_false(r.expect_other);

    /* RFC 9110 §10.1.1: ignored in HTTP/1.0. */
    static const char old[] = "PUT /u HTTP/1.0\r\nContent-Length: 10\r\n"
                              "Expect: 100-continue\r\n\r\n";
    parse_ok(S(old), &r);
    assert_false(r.expect_continue);

    static const char other[] =
        "GET / HTTP/1.1\r\nHost: h\r\nExpect: something\r\n\r\n";
    parse_ok(S(other), &r);
    assert_false(r.expect_continue);
    assert_true(r.expect_other);
}

static void
test_methods(void **state)
{
    static const struct {
        const char *in;
        enum h1_method m;
        const char *tok;
    } v[] = {
        { "GET / HTTP/1.1\r\nHost: h\r\n\r\n", H1_METHOD_GET, "GET" },
        { "HEAD / HTTP/1.1\r\nHost: h\r\n\r\n", H1_METHOD_HEAD, "HEAD" },
        { "POST / HTTP/1.1\r\nHost: h\r\n\r\n", H1_METHOD_POST, "POST" },
        { "PUT / HTTP/1.1\r\nHost: h\r\n\r\n", H1_METHOD_PUT, "PUT" },
        { "DELETE / HTTP/1.1\r\nHost: h\r\n\r\n", H1_METHOD_DELETE,
          "DELETE" },
        { "TRACE / HTTP/1.1\r\nHost: h\r\n\r\n", H1_METHOD_TRACE, "TRACE" },
        { "PATCH / HTTP/1.1\r\nHost: h\r\n\r\n", H1_METHOD_PATCH, "PATCH" },
        { "OPTIONS / HTTP/1.1\r\nHost: h\r\n\r\n", H1_METHOD_OPTIONS,
          "OPTIONS" },
        /* Methods are case-sensitive: "get" is some other token. */
        { "get / HTTP/1.1\r\nHost: h\r\n\r\n", H1_METHOD_OTHER, "get" },
        { "PROPFIND / HTTP/1.1\r\nHost: h\r\n\r\n", H1_METHOD_OTHER,
          "PROPFIND" },
        { "M-SEARCH! / HTTP/1.1\r\nHost: h\r\n\r\n", H1_METHOD_OTHER,
          "M-SEARCH!" },
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct h1_request r;
        parse_ok((const uint8_t *)v[i].in, strlen(v[i].in), &r);
        assert_int_equal(r.method, v[i].m);
        assert_slice(r.method_token, v[i].tok);
        if (v[i].m != H1_METHOD_OTHER)
            assert_string_equal(h1_method_name(v[i].m), v[i].tok);
    }
    assert_null(h1_method_name(H1_METHOD_OTHER));
}

static void
test_absolute_form(void **state)
{
    /* RFC 9112 §3.2.2: the target's authority overrides Host. */
    static const char in[] = "GET http://Example.com:8080/p/q?x=1 HTTP/1.1"
                             "\r\nHost: other.example\r\n\r\n";
    struct h1_request r;
    parse_ok(S(in), &r);
    assert_int_equal(r.target_form, H1_TARGET_ABSOLUTE);
    assert_slice(r.scheme, "http");
    assert_slice(r.host, "Example.com:8080");
    assert_slice(r.path, "/p/q");
    assert_slice(r.query, "x=1");
    assert_slice(r.headers[0].value, "other.example");

    /* No path: empty (the server uses "/"). */
    static const char np[] = "GET HTTPS://h HTTP/1.1\r\nHost: h\r\n\r\n";
    parse_ok(S(np), &r);
    assert_slice(r.scheme, "HTTPS");
    assert_slice(r.host, "h");
    assert_int_equal(r.path.len, 0);
    assert_false(r.has_query);

    static const char nq[] = "GET http://h?q HTTP/1.1\r\nHost: h\r\n\r\n";
    parse_ok(S(nq), &r);
    assert_int_equal(r.path.len, 0);
    assert_slice(r.query, "q");

    /* IPv6 literal. */
    static const char v6[] =
        "GET http://[2001:db8::1]:80/ HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n"
        "\r\n";
    parse_ok(S(v6), &r);
    assert_slice(r.host, "[2001:db8::1]:80");

    /* HTTP/1.0 absolute-form without Host. */
    static const char old[] = "GET http://h/ HTTP/1.0\r\n\r\n";
    parse_ok(S(old), &r);
    assert_slice(r.host, "h");
}

static void
test_connect_and_asterisk(void **state)
{
    static const char in[] =
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n";
    struct h1_request r;
    parse_ok(S(in), &r);
    assert_int_equal(r.method, H1_METHOD_CONNECT);
    assert_int_equal(r.target_form, H1_TARGET_AUTHORITY);
    assert_slice(r.host, "example.com:443");
    assert_int_equal(r.path.len, 0);

    static const char ast[] = "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n";
    parse_ok(S(ast), &r);
    assert_int_equal(r.target_form, H1_TARGET_ASTERISK);
    assert_slice(r.target, "*");
    assert_slice(r.host, "h");
}

static void
test_leading_empty_lines(void **state)
{
    /* RFC 9112 §2.2: CRLFs before the request line are skipped (up to
     * H1_MAX_LEADING_EMPTY_LINES) and counted in head_len. */
    static const char in[] = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
    struct h1_request r;
    parse_ok(S(in), &r);
    assert_int_equal(r.head_len, sizeof(in) - 1);
    assert_ptr_equal(r.method_token.data, (const uint8_t *)in + 4);

    static const char eight[] = "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"
                                "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    parse_ok(S(eight), &r);
    static const char nine[] = "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n"
                               "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    expect_error_lim(S(nine), NULL, MAX_HDRS, 400,
                     "more than 8 empty lines before the request line");
}

static void
test_header_values(void **state)
{
    /* Empty values, inner whitespace kept, outer trimmed, obs-text. */
    static const char in[] = "GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\n"
                             "X-Ws:   \t \r\nX-In: a  b\tc \r\n"
                             "X-Obs: caf\xc3\xa9\r\n"
                             "x_under~score: 1\r\n\r\n";
    struct h1_request r;
    parse_ok(S(in), &r);
    assert_int_equal(r.header_count, 6);
    assert_int_equal(r.headers[1].value.len, 0);
    assert_int_equal(r.headers[2].value.len, 0);
    assert_slice(r.headers[3].value, "a  b\tc");
    assert_slice(r.headers[4].value, "caf\xc3\xa9");
    assert_slice(r.headers[5].name, "x_under~score");
}

static void
test_version_1x(void **state)
{
    /* A later 1.x minor is understood as 1.1 (RFC 9110 §2.5). */
    static const char in[] = "GET / HTTP/1.9\r\nHost: h\r\n\r\n";
    struct h1_request r;
    parse_ok(S(in), &r);
    assert_int_equal(r.version_major, 1);
    assert_int_equal(r.version_minor, 9);
    assert_true(r.keep_alive);
}

static void
test_need_more(void **state)
{
    static const char in[] = "GET / HTTP/1.1\r\nHost: h\r\n\r";
    struct h1_header hdrs[4];
    struct h1_parser p;
    struct h1_request r;
    h1_parser_init(&p, NULL, hdrs, 4);
    assert_int_equal(h1_parse_request(&p, NULL, 0, &r), H1_NEED_MORE);
    assert_int_equal(h1_parse_request(&p, S(in), &r), H1_NEED_MORE);
    assert_int_equal(h1_parser_status(&p), 0);
    assert_string_equal(h1_parser_error(&p), "");
}

static void
test_done_repeat_and_reinit(void **state)
{
    static const char in[] = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
                             "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
    struct h1_header hdrs[4];
    struct h1_parser p;
    struct h1_request r;
    h1_parser_init(&p, NULL, hdrs, 4);
    assert_int_equal(h1_parse_request(&p, S(in), &r), H1_DONE);
    size_t first = r.head_len;
    assert_int_equal(first, (sizeof(in) - 1) / 2);
    assert_int_equal(h1_parse_request(&p, S(in), &r), H1_DONE);
    assert_int_equal(r.head_len, first);
    /* The next request on the connection. */
    h1_parser_init(&p, NULL, hdrs, 4);
    assert_int_equal(h1_parse_request(&p, (const uint8_t *)in + first,
                                      sizeof(in) - 1 - first, &r),
                     H1_DONE);
    assert_slice(r.path, "/2");
}

static void
test_error_is_sticky(void **state)
{
    static const char in[] = "GET / HTTP/1.1\r\nHost: h\r\n\n";
    struct h1_header hdrs[4];
    struct h1_parser p;
    struct h1_request r;
    h1_parser_init(&p, NULL, hdrs, 4);
    assert_int_equal(h1_parse_request(&p, S(in), &r), H1_ERROR);
    assert_int_equal(h1_parse_request(&p, S(in), &r), H1_ERROR);
    assert_int_equal(h1_parser_status(&p), 400);
}

/* The word-at-a-time scans of values and targets: a byte at every
 * position of a long run, against the byte-by-byte rule. */
static void
test_long_runs_every_position(void **state)
{
    static const uint8_t value_bytes[] = { 0x00, 0x01, 0x09, 0x1f, 0x20,
                                           0x7e, 0x7f, 0x80, 0xff };
    for (size_t b = 0; b < sizeof(value_bytes); b++) {
        for (size_t pos = 0; pos < 40; pos++) {
            uint8_t in[128];
            size_t n = (size_t)sprintf((char *)in,
                                       "GET / HTTP/1.1\r\nHost: h\r\nX: ");
            size_t vs = n;
            memset(in + n, 'v', 40);
            in[vs + pos] = value_bytes[b];
            n += 40;
            memcpy(in + n, "z\r\n\r\n", 5);
            n += 5;
            uint8_t c = value_bytes[b];
            bool ok = c == 0x09 || c == 0x20 || (c >= 0x21 && c != 0x7f);
            struct outcome o;
            run_whole(in, n, NULL, MAX_HDRS, &o, NULL, NULL);
            if (ok) {
                assert_int_equal(o.res, H1_DONE);
            } else {
                char want[64];
                if (c == 0)
                    snprintf(want, sizeof(want), "NUL in header 2");
                else
                    snprintf(want, sizeof(want),
                             "control character 0x%02x in header 2", c);
                assert_int_equal(o.res, H1_ERROR);
                assert_string_equal(o.error, want);
            }
        }
    }
    static const uint8_t target_bytes[] = { 0x00, 0x09, 0x21, 0x22, 0x23,
                                            0x7e, 0x7f, 0x80, 0xc3 };
    for (size_t b = 0; b < sizeof(target_bytes); b++) {
        for (size_t pos = 1; pos < 40; pos++) {
            uint8_t in[128];
            memcpy(in, "GET ", 4);
            memset(in + 4, 'a', 40);
            in[4] = '/';
            in[4 + pos] = target_bytes[b];
            memcpy(in + 44, " HTTP/1.1\r\nHost: h\r\n\r\n", 23);
            uint8_t c = target_bytes[b];
            bool ok = c > 0x20 && c < 0x7f && c != '#';
            struct outcome o;
            run_whole(in, 67, NULL, MAX_HDRS, &o, NULL, NULL);
            if (ok) {
                assert_int_equal(o.res, H1_DONE);
            } else {
                char want[64];
                snprintf(want, sizeof(want),
                         "invalid byte 0x%02x in the request-target", c);
                assert_int_equal(o.res, H1_ERROR);
                assert_string_equal(o.error, want);
            }
        }
    }
}

/* ---- limits ------------------------------------------------------------ */

static void
test_limit_request_line(void **state)
{
    struct h1_limits lim = { .max_request_line = 20 };
    /* "GET /aaaaaaaaaaaaaaa HTTP/1.1" is 29; build 20 and 21 exactly. */
    static const char ok[] = "GET /abcd HTTP/1.1\r\nHost: h\r\n\r\n";
    /* request line "GET /abcd HTTP/1.1" = 18; pad to 20. */
    static const char ok20[] = "GET /abcdef HTTP/1.1\r\nHost: h\r\n\r\n";
    static const char bad21[] = "GET /abcdefg HTTP/1.1\r\nHost: h\r\n\r\n";
    struct h1_request r;
    struct h1_header hdrs[8];
    parse_ok_lim(S(ok), &lim, 8, &r, hdrs);
    parse_ok_lim(S(ok20), &lim, 8, &r, hdrs);
    expect_error_lim(S(bad21), &lim, 8, 414,
                     "request line longer than 20 bytes");
    /* Without a CRLF in sight: refused as soon as 21 bytes + CR... */
    static const char open[] = "GET /abcdefghijklmnopqrstuvwxyz";
    expect_error_lim(S(open), &lim, 8, 414,
                     "request line longer than 20 bytes");
    /* ...also inside a long method. */
    static const char meth[] = "GETGETGETGETGETGETGETGET / HTTP/1.1\r\n";
    expect_error_lim(S(meth), &lim, 8, 414,
                     "request line longer than 20 bytes");
    /* The default: 8192. */
    size_t n = 8192 - 14 + 1;  /* "GET " + "/" * k + " HTTP/1.1" */
    char *big = malloc(8300);
    assert_non_null(big);
    memcpy(big, "GET ", 4);
    memset(big + 4, '/', n - 4 + 4);
    size_t tlen = 8192 - 4 - 9;  /* the request line is then 8192 */
    memset(big + 4, 'a', tlen);
    big[4] = '/';
    memcpy(big + 4 + tlen, " HTTP/1.1\r\nHost: h\r\n\r\n", 23);
    struct outcome o;
    run_whole((uint8_t *)big, 4 + tlen + 23, NULL, MAX_HDRS, &o, NULL,
              NULL);
    assert_int_equal(o.res, H1_DONE);
    memset(big + 4, 'a', tlen + 1);
    big[4] = '/';
    memcpy(big + 4 + tlen + 1, " HTTP/1.1\r\nHost: h\r\n\r\n", 23);
    run_whole((uint8_t *)big, 4 + tlen + 24, NULL, MAX_HDRS, &o, NULL,
              NULL);
    assert_int_equal(o.res, H1_ERROR);
    assert_int_equal(o.status, 414);
    assert_string_equal(o.error, "request line longer than 8192 bytes");
    free(big);
}

static void
test_limit_header_count(void **state)
{
    struct h1_limits lim = { .max_headers = 3 };
    static const char three[] = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2"
                                "\r\n\r\n";
    static const char four[] = "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2"
                               "\r\nC: 3\r\n\r\n";
    struct h1_request r;
    struct h1_header hdrs[8];
    parse_ok_lim(S(three), &lim, 8, &r, hdrs);
    assert_int_equal(r.header_count, 3);
    expect_error_lim(S(four), &lim, 8, 431, "more than 3 header lines");
    /* The array's capacity limits too. */
    parse_ok_lim(S(three), NULL, 3, &r, hdrs);
    expect_error_lim(S(four), NULL, 3, 431, "more than 3 header lines");
    /* The default: 100. */
    char *buf = malloc(4096);
    assert_non_null(buf);
    size_t len = 0;
    len += (size_t)sprintf(buf + len, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 1; i < 100; i++)
        len += (size_t)sprintf(buf + len, "X%d: y\r\n", i);
    len += (size_t)sprintf(buf + len, "\r\n");
    struct outcome o;
    run_whole((uint8_t *)buf, len, NULL, MAX_HDRS, &o, NULL, NULL);
    assert_int_equal(o.res, H1_DONE);
    len -= 2;
    len += (size_t)sprintf(buf + len, "X100: y\r\n\r\n");
    run_whole((uint8_t *)buf, len, NULL, MAX_HDRS, &o, NULL, NULL);
    assert_int_equal(o.res, H1_ERROR);
    assert_int_equal(o.status, 431);
    assert_string_equal(o.error, "more than 100 header lines");
    free(buf);
}

static void
test_limit_head_size(void **state)
{
    struct h1_limits lim = { .max_head = 40 };
    /* 16 + 9 + 13 + 2 = 40 bytes exactly. */
    static const char ok[] = "GET / HTTP/1.1\r\nHost: h\r\nX: 12345678"
                             "\r\n\r\n";
    static const char over[] = "GET / HTTP/1.1\r\nHost: h\r\nX: 123456789"
                               "\r\n\r\n";
    assert_int_equal(sizeof(ok) - 1, 40);
    struct h1_request r;
    struct h1_header hdrs[8];
    parse_ok_lim(S(ok), &lim, 8, &r, hdrs);
    assert_int_equal(r.head_len, 40);
    expect_error_lim(S(over), &lim, 8, 431,
                     "request head larger than 40 bytes");
    /* An endless header line is refused once the limit is passed. */
    static const char open[] = "GET / HTTP/1.1\r\nHost: h\r\nX: "
                               "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    expect_error_lim(S(open), &lim, 8, 431,
                     "request head larger than 40 bytes");
    /* The request line is clamped to max_head - 2 (so 414 comes first). */
    static const char longline[] = "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                   "aaaaaaaa HTTP/1.1\r\n\r\n";
    expect_error_lim(S(longline), &lim, 8, 414,
                     "request line longer than 38 bytes");

    /* The default: 32768 bytes, e.g. 4 cookie lines of about 8 KiB. */
    char *big = malloc(33000);
    assert_non_null(big);
    size_t n = (size_t)sprintf(big, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 0; i < 4; i++) {
        size_t k = i < 3 ? 8000 : 32768 - n - 2 - 10;
        memcpy(big + n, "Cookie: ", 8);
        memset(big + n + 8, 'c', k);
        memcpy(big + n + 8 + k, "\r\n", 2);
        n += 8 + k + 2;
    }
    memcpy(big + n, "\r\n", 2);
    n += 2;
    assert_int_equal(n, 32768);
    struct outcome o;
    run_whole((uint8_t *)big, n, NULL, MAX_HDRS, &o, NULL, NULL);
    assert_int_equal(o.res, H1_DONE);
    memmove(big + 30, big + 29, n - 29);
    big[29] = 'c';
    run_whole((uint8_t *)big, n + 1, NULL, MAX_HDRS, &o, NULL, NULL);
    assert_int_equal(o.res, H1_ERROR);
    assert_int_equal(o.status, 431);
    assert_string_equal(o.error, "request head larger than 32768 bytes");
    free(big);
}

/* ---- rejections, one test case each ------------------------------------ */

struct reject {
    const char *name;
    const char *in;
    size_t len;        /* 0: strlen(in) */
    int status;
    const char *msg;
};

#define RQ "GET / HTTP/1.1\r\n"
#define RH "GET / HTTP/1.1\r\nHost: h\r\n"
#define PH "POST / HTTP/1.1\r\nHost: h\r\n"

static struct reject rejects[] = {
    /* Line endings. */
    { "bare LF request line", "GET / HTTP/1.1\nHost: h\n\n", 0, 400,
      "bare LF at the end of the request line" },
    { "bare LF header", RQ "Host: h\n\r\n", 0, 400, "bare LF in header 1" },
    { "bare LF end of head", RH "\n", 0, 400,
      "bare LF at the end of the head" },
    { "LF only everywhere", "GET / HTTP/1.1\n\n", 0, 400,
      "bare LF at the end of the request line" },
    { "bare CR in value", RH "X: a\rb\r\n\r\n", 0, 400,
      "bare CR in header 2" },
    { "bare CR end of request line", "GET / HTTP/1.1\rX\r\nHost: h\r\n\r\n",
      0, 400, "bare CR at the end of the request line" },
    { "bare CR at end of head", RH "\rX\r\n\r\n", 0, 400,
      "bare CR in header 2" },
    { "bare CR before request line", "\rGET / HTTP/1.1\r\n\r\n", 0, 400,
      "bare CR before the request line" },
    { "leading bare LF", "\nGET / HTTP/1.1\r\n\r\n", 0, 400,
      "request line ends inside the method" },
    /* NUL and control characters. */
    { "NUL in value", RH "X: a\0b\r\n\r\n", sizeof(RH "X: a\0b\r\n\r\n") - 1,
      400, "NUL in header 2" },
    { "NUL in name", RH "X\0: a\r\n\r\n", sizeof(RH "X\0: a\r\n\r\n") - 1,
      400, "invalid byte 0x00 in the name of header 2" },
    { "NUL in method", "G\0T / HTTP/1.1\r\n\r\n",
      sizeof("G\0T / HTTP/1.1\r\n\r\n") - 1, 400,
      "invalid byte 0x00 in the method" },
    { "NUL in target", "GET /\0 HTTP/1.1\r\n\r\n",
      sizeof("GET /\0 HTTP/1.1\r\n\r\n") - 1, 400,
      "invalid byte 0x00 in the request-target" },
    { "control char in value", RH "X: a\x01" "b\r\n\r\n", 0, 400,
      "control character 0x01 in header 2" },
    { "DEL in value", RH "X: a\x7f\r\n\r\n", 0, 400,
      "control character 0x7f in header 2" },
    { "ESC in value", RH "X: \x1b[31m\r\n\r\n", 0, 400,
      "control character 0x1b in header 2" },
    { "TLS handshake", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 0,
      400, "invalid byte 0x16 in the method" },
    /* Folding and whitespace. */
    { "obs-fold", RH "X: a\r\n  b\r\n\r\n", 0, 400,
      "obsolete line folding in header 2" },
    { "obs-fold tab", RH "X: a\r\n\tb\r\n\r\n", 0, 400,
      "obsolete line folding in header 2" },
    { "whitespace before first header", RQ " Host: h\r\n\r\n", 0, 400,
      "whitespace between the request line and the first header" },
    { "space before colon", RQ "Host : h\r\n\r\n", 0, 400,
      "whitespace between the name and the colon in header 1" },
    { "tab before colon", RQ "Host\t: h\r\n\r\n", 0, 400,
      "whitespace between the name and the colon in header 1" },
    { "space in name", RH "X Y: 1\r\n\r\n", 0, 400,
      "whitespace between the name and the colon in header 2" },
    { "no colon", RH "XY\r\n\r\n", 0, 400, "no colon in header 2" },
    { "empty name", RH ": v\r\n\r\n", 0, 400, "empty name in header 2" },
    { "invalid name char", RH "X(Y): 1\r\n\r\n", 0, 400,
      "invalid byte 0x28 in the name of header 2" },
    { "non-ASCII name", RH "X\xc3\xa9: 1\r\n\r\n", 0, 400,
      "invalid byte 0xc3 in the name of header 2" },
    /* Method. */
    { "empty method", " / HTTP/1.1\r\n\r\n", 0, 400, "empty method" },
    { "bad method char", "G(ET / HTTP/1.1\r\n\r\n", 0, 400,
      "invalid byte 0x28 in the method" },
    { "method only", "GET\r\n\r\n", 0, 400,
      "request line ends inside the method" },
    { "tab after method", "GET\t/ HTTP/1.1\r\n\r\n", 0, 400,
      "invalid byte 0x09 in the method" },
    /* Request-target. */
    { "two spaces", "GET  / HTTP/1.1\r\n\r\n", 0, 400,
      "empty request-target" },
    { "HTTP/0.9 style", "GET /\r\n\r\n", 0, 400,
      "request line has no HTTP version" },
    { "no target", "GET \r\n\r\n", 0, 400,
      "request line has no request-target" },
    { "fragment", "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400,
      "invalid byte 0x23 in the request-target" },
    { "non-ASCII target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", 0,
      400, "invalid byte 0xc3 in the request-target" },
    { "bare CR in target", "GET /a\rb HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400,
      "bare CR in the request-target" },
    { "tab in target", "GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400,
      "invalid byte 0x09 in the request-target" },
    { "relative target", "GET a/b HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400,
      "request-target is neither a path nor an http(s) URI" },
    { "ftp scheme", "GET ftp://h/ HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400,
      "request-target is neither a path nor an http(s) URI" },
    { "userinfo", "GET http://u:p@h/ HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400,
      "userinfo in the request-target" },
    { "empty authority", "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", 0,
      400, "invalid authority in the request-target" },
    { "bad authority", "GET http://a!b\"c/ HTTP/1.1\r\nHost: h\r\n\r\n", 0,
      400, "invalid authority in the request-target" },
    { "asterisk with GET", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400,
      "asterisk-form request-target without OPTIONS" },
    { "CONNECT with path", "CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n", 0, 400,
      "CONNECT needs a host:port request-target" },
    { "CONNECT without port", "CONNECT h HTTP/1.1\r\nHost: h\r\n\r\n", 0,
      400, "CONNECT needs a host:port request-target" },
    { "authority-form with GET", "GET h:80 HTTP/1.1\r\nHost: h\r\n\r\n", 0,
      400, "request-target is neither a path nor an http(s) URI" },
    /* Version. */
    { "lower-case version", "GET / http/1.1\r\nHost: h\r\n\r\n", 0, 400,
      "invalid HTTP version" },
    { "short version", "GET / HTTP/1\r\nHost: h\r\n\r\n", 0, 400,
      "invalid HTTP version" },
    { "two-digit minor", "GET / HTTP/1.10\r\nHost: h\r\n\r\n", 0, 400,
      "invalid HTTP version" },
    { "space after version", "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", 0, 400,
      "invalid HTTP version" },
    { "extra words", "GET / HTTP/1.1 x\r\nHost: h\r\n\r\n", 0, 400,
      "invalid HTTP version" },
    { "HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 0, 505,
      "HTTP version 2.0 not supported" },
    { "HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", 0, 505,
      "HTTP version 0.9 not supported" },
    { "HTTP/3.0 before headers", "GET / HTTP/3.0\r\nX\r\n\r\n", 0, 505,
      "HTTP version 3.0 not supported" },
    /* Host. */
    { "missing Host", RQ "\r\n", 0, 400,
      "missing Host header (required in HTTP/1.1)" },
    { "missing Host, absolute-form", "GET http://h/ HTTP/1.1\r\n\r\n", 0,
      400, "missing Host header (required in HTTP/1.1)" },
    { "two Host", RH "Host: h\r\n\r\n", 0, 400,
      "more than one Host header (header 2)" },
    { "two different Host", RQ "Host: a\r\nhost: b\r\n\r\n", 0, 400,
      "more than one Host header (header 2)" },
    { "empty Host", RQ "Host:\r\n\r\n", 0, 400,
      "empty Host header (header 1)" },
    { "Host with path", RQ "Host: h/x\r\n\r\n", 0, 400,
      "invalid Host header (header 1)" },
    { "Host with space", RQ "Host: a b\r\n\r\n", 0, 400,
      "invalid Host header (header 1)" },
    { "Host bad port", RQ "Host: h:8x\r\n\r\n", 0, 400,
      "invalid Host header (header 1)" },
    { "Host userinfo", RQ "Host: u@h\r\n\r\n", 0, 400,
      "invalid Host header (header 1)" },
    /* Content-Length (smuggling set: "+", "-", lists, spaces, hex,
     * huge, differing duplicates). */
    { "CL plus", PH "Content-Length: +5\r\n\r\n", 0, 400,
      "Content-Length is not a decimal number (header 2)" },
    { "CL negative", PH "Content-Length: -1\r\n\r\n", 0, 400,
      "Content-Length is not a decimal number (header 2)" },
    { "CL list", PH "Content-Length: 5, 5\r\n\r\n", 0, 400,
      "Content-Length is not a decimal number (header 2)" },
    { "CL list no space", PH "Content-Length: 5,5\r\n\r\n", 0, 400,
      "Content-Length is not a decimal number (header 2)" },
    { "CL inner space", PH "Content-Length: 1 2\r\n\r\n", 0, 400,
      "Content-Length is not a decimal number (header 2)" },
    { "CL hex", PH "Content-Length: 0x10\r\n\r\n", 0, 400,
      "Content-Length is not a decimal number (header 2)" },
    { "CL empty", PH "Content-Length: \r\n\r\n", 0, 400,
      "empty Content-Length (header 2)" },
    { "CL 2^63", PH "Content-Length: 9223372036854775808\r\n\r\n", 0, 400,
      "Content-Length over 2^63-1 (header 2)" },
    { "CL huge", PH "Content-Length: 99999999999999999999999999\r\n\r\n", 0,
      400, "Content-Length over 2^63-1 (header 2)" },
    { "CL differing", PH "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
      0, 400, "Content-Length values differ (headers 2 and 3)" },
    { "CL differing later", PH "Content-Length: 5\r\nX: 1\r\n"
      "Content-Length: 5\r\ncontent-length: 50\r\n\r\n", 0, 400,
      "Content-Length values differ (headers 2 and 5)" },
    { "CL with space before colon", PH "Content-Length : 5\r\n\r\n", 0,
      400, "whitespace between the name and the colon in header 2" },
    /* CL.TE and TE.CL. */
    { "CL.TE", PH "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n",
      0, 400, "Content-Length and Transfer-Encoding both present" },
    { "TE.CL", PH "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
      0, 400, "Content-Length and Transfer-Encoding both present" },
    { "CL.TE unknown coding", PH "Content-Length: 6\r\n"
      "Transfer-Encoding: xchunked\r\n\r\n", 0, 400,
      "Content-Length and Transfer-Encoding both present" },
    /* TE.TE obfuscations. */
    { "TE xchunked", PH "Transfer-Encoding: xchunked\r\n\r\n", 0, 400,
      "Transfer-Encoding without chunked as the final coding" },
    { "TE chunkedx", PH "Transfer-Encoding: chunkedx\r\n\r\n", 0, 400,
      "Transfer-Encoding without chunked as the final coding" },
    { "TE chunked, identity", PH "Transfer-Encoding: chunked, identity\r\n"
      "\r\n", 0, 400,
      "Transfer-Encoding without chunked as the final coding" },
    { "TE identity", PH "Transfer-Encoding: identity\r\n\r\n", 0, 400,
      "Transfer-Encoding without chunked as the final coding" },
    { "TE gzip only", PH "Transfer-Encoding: gzip\r\n\r\n", 0, 400,
      "Transfer-Encoding without chunked as the final coding" },
    { "TE gzip, chunked", PH "Transfer-Encoding: gzip, chunked\r\n\r\n", 0,
      501, "transfer coding \"gzip\" not implemented" },
    { "TE identity, chunked", PH "Transfer-Encoding: identity,chunked\r\n"
      "\r\n", 0, 501, "transfer coding \"identity\" not implemented" },
    { "TE two lines gzip then chunked", PH "Transfer-Encoding: gzip\r\n"
      "Transfer-Encoding: chunked\r\n\r\n", 0, 501,
      "transfer coding \"gzip\" not implemented" },
    { "TE duplicated", PH "Transfer-Encoding: chunked\r\n"
      "Transfer-Encoding: chunked\r\n\r\n", 0, 400,
      "chunked applied more than once (header 3)" },
    { "TE chunked, chunked", PH "Transfer-Encoding: chunked, chunked\r\n"
      "\r\n", 0, 400, "chunked applied more than once (header 2)" },
    { "TE two lines chunked then x", PH "Transfer-Encoding: chunked\r\n"
      "Transfer-Encoding: x\r\n\r\n", 0, 400,
      "Transfer-Encoding without chunked as the final coding" },
    { "TE empty", PH "Transfer-Encoding:\r\n\r\n", 0, 400,
      "empty or invalid element in Transfer-Encoding (header 2)" },
    { "TE trailing comma", PH "Transfer-Encoding: chunked,\r\n\r\n", 0, 400,
      "empty or invalid element in Transfer-Encoding (header 2)" },
    { "TE leading comma", PH "Transfer-Encoding: , chunked\r\n\r\n", 0, 400,
      "empty or invalid element in Transfer-Encoding (header 2)" },
    { "TE quoted", PH "Transfer-Encoding: \"chunked\"\r\n\r\n", 0, 400,
      "empty or invalid element in Transfer-Encoding (header 2)" },
    { "TE space inside", PH "Transfer-Encoding: chun ked\r\n\r\n", 0, 400,
      "invalid Transfer-Encoding (header 2)" },
    { "TE chunked with params", PH "Transfer-Encoding: chunked;x=1\r\n\r\n",
      0, 400, "chunked with parameters (header 2)" },
    { "TE bad params", PH "Transfer-Encoding: gzip;=1, chunked\r\n\r\n", 0,
      400, "invalid transfer-coding parameter (header 2)" },
    { "TE params then chunked", PH "Transfer-Encoding: gzip;q=\"a,b\" ; "
      "x=y, chunked\r\n\r\n", 0, 501,
      "transfer coding \"gzip\" not implemented" },
    { "TE space before colon", PH "Transfer-Encoding : chunked\r\n\r\n", 0,
      400, "whitespace between the name and the colon in header 2" },
    { "TE folded", PH "X: y\r\n Transfer-Encoding: chunked\r\n\r\n", 0, 400,
      "obsolete line folding in header 2" },
    { "TE folded value", PH "Transfer-Encoding:\r\n chunked\r\n\r\n", 0,
      400, "empty or invalid element in Transfer-Encoding (header 2)" },
    { "TE vertical tab", PH "Transfer-Encoding:\x0b" "chunked\r\n\r\n", 0,
      400, "control character 0x0b in header 2" },
    { "TE NUL", PH "Transfer-Encoding: chunked\0\r\n\r\n",
      sizeof(PH "Transfer-Encoding: chunked\0\r\n\r\n") - 1, 400,
      "NUL in header 2" },
    { "TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n"
      "\r\n", 0, 400, "Transfer-Encoding in an HTTP/1.0 request" },
    { "TE LF-only", "POST / HTTP/1.1\r\nHost: h\r\n"
      "Transfer-Encoding: chunked\n\r\n", 0, 400, "bare LF in header 2" },
};

static void
test_reject(void **state)
{
    const struct reject *v = *state;
    size_t len = v->len ? v->len : strlen(v->in);
    expect_error_lim((const uint8_t *)v->in, len, NULL, MAX_HDRS, v->status,
                     v->msg);
}

/* An underscore name is an ordinary header, not Transfer-Encoding. */
static void
test_underscore_is_not_te(void **state)
{
    static const char in[] = "POST / HTTP/1.1\r\nHost: h\r\n"
                             "Transfer_Encoding: chunked\r\n"
                             "Content_Length: 5\r\n\r\n";
    struct h1_request r;
    parse_ok(S(in), &r);
    assert_false(r.chunked);
    assert_false(r.has_content_length);
}

int
main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_path_and_query),
        cmocka_unit_test(test_empty_query_and_browser_chars),
        cmocka_unit_test(test_http10),
        cmocka_unit_test(test_connection_tokens),
        cmocka_unit_test(test_content_length_body),
        cmocka_unit_test(test_content_length_forms),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_expect),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_absolute_form),
        cmocka_unit_test(test_connect_and_asterisk),
        cmocka_unit_test(test_leading_empty_lines),
        cmocka_unit_test(test_header_values),
        cmocka_unit_test(test_version_1x),
        cmocka_unit_test(test_need_more),
        cmocka_unit_test(test_done_repeat_and_reinit),
        cmocka_unit_test(test_error_is_sticky),
        cmocka_unit_test(test_long_runs_every_position),
        cmocka_unit_test(test_limit_request_line),
        cmocka_unit_test(test_limit_header_count),
        cmocka_unit_test(test_limit_head_size),
        cmocka_unit_test(test_underscore_is_not_te),
    };
    size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
    size_t nrej = sizeof(rejects) / sizeof(rejects[0]);
    struct CMUnitTest *all = calloc(nfixed + nrej, sizeof(*all));
    if (all == NULL)
        return 2;
    memcpy(all, fixed, sizeof(fixed));
    for (size_t i = 0; i < nrej; i++) {
        all[nfixed + i].name = rejects[i].name;
        all[nfixed + i].test_func = test_reject;
        all[nfixed + i].initial_state = &rejects[i];
    }
    int rc = _cmocka_run_group_tests("h1_request", all, nfixed + nrej, NULL,
                                     NULL);
    free(all);
    return rc;
}
