/* Unit tests for dataplane/dp_file_response: request headers in, exact
 * status, header text, Content-Length and parts out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_file_response.h"

#include <string.h>
#include <sys/stat.h>

/* The file: 10000 bytes, mtime Sun, 06 Nov 1994 08:49:37 GMT; now is a
 * day later. */
#define LM ((time_t)784111777)
#define NOW (LM + 86400)
#define ETAG "\"803-1234-2710-2ebc98a1-0\""
#define LM_TEXT "Sun, 06 Nov 1994 08:49:37 GMT"

static const uint8_t rnd[DP_BOUNDARY_RANDOM] = {
    0xde, 0xad, 0xbe, 0xef, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
};
#define BOUNDARY "deadbeef000102030405060708090a0b"

static struct dp_file_meta meta;
static struct dp_file_xattrs xattrs;

static void
build_meta(const char *content_type, uint32_t max_age)
{
    struct stat st;
    memset(&st, 0, sizeof(st));
    st.st_dev = 0x803;
    st.st_ino = 0x1234;
    st.st_size = 10000;
    st.st_mtim.tv_sec = LM;
    memset(&xattrs, 0, sizeof(xattrs));
    if (max_age > 0) {
        xattrs.has_max_age = true;
        xattrs.max_age = max_age;
    }
    dp_file_meta_build(&meta, &st, &xattrs, content_type,
                       content_type ? strlen(content_type) : 0, NOW);
}

static struct dp_file_request
request(const char *method)
{
    struct dp_file_request req;
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.method_len = strlen(method);
    return req;
}

static void
set_range(struct dp_file_request *req, const char *range)
{
    req->range = range;
    req->range_len = strlen(range);
}

static void
expect(const struct dp_file_response *r, int status, bool body,
       uint64_t length, const char *headers)
{
    char text[2048];
    int n = dp_file_response_headers_text(r, text, sizeof(text));
    assert_true(n >= 0);
    if (r->status != status)
        fail_msg("status %d, want %d", r->status, status);
    assert_int_equal(r->body, body);
    if (r->content_length != length)
        fail_msg("Content-Length %llu, want %llu",
                 (unsigned long long)r->content_length,
                 (unsigned long long)length);
    assert_string_equal(text, headers);
    assert_int_equal((size_t)n, strlen(headers));
}

static void
plan(struct dp_file_response *r, const struct dp_file_request *req,
     const struct dp_file_options *opt)
{
    memset(r, 0x5a, sizeof(*r));
    dp_file_response_plan(r, req, &meta, opt, NOW);
}

static void
test_get_and_head(void **state)
{
    build_meta(NULL, 0);
    struct dp_file_response r;
    struct dp_file_request req = request("GET");
    plan(&r, &req, NULL);
    const char *h = "Content-Type: application/octet-stream\r\n"
                    "ETag: " ETAG "\r\n"
                    "Last-Modified: " LM_TEXT "\r\n"
                    "Accept-Ranges: bytes\r\n";
    expect(&r, 200, true, 10000, h);

    req = request("HEAD");
    plan(&r, &req, NULL);
    expect(&r, 200, false, 10000, h);

    /* HEAD ignores Range */
    set_range(&req, "bytes=0-9");
    plan(&r, &req, NULL);
    expect(&r, 200, false, 10000, h);
}

static void
test_method_not_allowed(void **state)
{
    build_meta(NULL, 0);
    static const char *const methods[] = { "POST", "PUT", "DELETE",
                                           "OPTIONS", "get", "PATCH" };
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
        struct dp_file_response r;
        struct dp_file_request req = request(methods[i]);
        /* even with preconditions that would fail */
        req.cond.if_match = "\"nope\"";
        req.cond.if_match_len = 6;
        plan(&r, &req, NULL);
        expect(&r, 405, false, 0, "Allow: GET, HEAD\r\n");
    }
}

static void
test_options_and_expiry(void **state)
{
    build_meta("text/css", 600);
    struct dp_file_response r;
    struct dp_file_request req = request("GET");
    struct dp_file_options opt = { "gzip", true, 0, NULL };
    plan(&r, &req, &opt);
    expect(&r, 200, true, 10000,
           "Content-Type: text/css\r\n"
           "Content-Encoding: gzip\r\n"
           "ETag: " ETAG "\r\n"
           "Last-Modified: " LM_TEXT "\r\n"
           "Accept-Ranges: bytes\r\n"
           "Cache-Control: max-age=600\r\n"
           "Expires: Mon, 07 Nov 1994 08:59:37 GMT\r\n"
           "Vary: Accept-Encoding\r\n");

    /* EXPIRES_RELATIVE wins over user.MaxAge */
    opt.expires_relative = 3600;
    opt.content_encoding = NULL;
    opt.vary_accept_encoding = false;
    plan(&r, &req, &opt);
    expect(&r, 200, true, 10000,
           "Content-Type: text/css\r\n"
           "ETag: " ETAG "\r\n"
           "Last-Modified: " LM_TEXT "\r\n"
           "Accept-Ranges: bytes\r\n"
           "Cache-Control: max-age=3600\r\n"
           "Expires: Mon, 07 Nov 1994 09:49:37 GMT\r\n");
}

static void
test_not_modified(void **state)
{
    build_meta("text/css", 600);
    struct dp_file_options opt = { "br", true, 0, NULL };
    const char *h304 = "ETag: " ETAG "\r\n"
                       "Last-Modified: " LM_TEXT "\r\n"
                       "Cache-Control: max-age=600\r\n"
                       "Expires: Mon, 07 Nov 1994 08:59:37 GMT\r\n"
                       "Vary: Accept-Encoding\r\n";
    struct dp_file_response r;
    struct dp_file_request req = request("GET");
    req.cond.if_none_match = ETAG;
    req.cond.if_none_match_len = strlen(ETAG);
    plan(&r, &req, &opt);
    expect(&r, 304, false, 0, h304);

    req = request("HEAD");
    req.cond.if_modified_since = LM_TEXT;
    req.cond.if_modified_since_len = strlen(LM_TEXT);
    plan(&r, &req, &opt);
    expect(&r, 304, false, 0, h304);

    /* 304 wins over Range */
    req = request("GET");
    req.cond.if_none_match = "W/" ETAG;
    req.cond.if_none_match_len = strlen("W/" ETAG);
    set_range(&req, "bytes=0-0");
    plan(&r, &req, &opt);
    expect(&r, 304, false, 0, h304);
}

static void
test_precondition_failed(void **state)
{
    build_meta(NULL, 0);
    struct dp_file_response r;
    struct dp_file_request req = request("GET");
    req.cond.if_match = "\"other\"";
    req.cond.if_match_len = 7;
    set_range(&req, "bytes=0-0");
    plan(&r, &req, NULL);
    expect(&r, 412, false, 0, "");

    req = request("HEAD");
    req.cond.if_unmodified_since = "Sun, 06 Nov 1994 08:49:36 GMT";
    req.cond.if_unmodified_since_len = 29;
    plan(&r, &req, NULL);
    expect(&r, 412, false, 0, "");
}

static void
test_single_range(void **state)
{
    build_meta("text/plain", 0);
    struct dp_file_response r;
    struct dp_file_request req = request("GET");
    set_range(&req, "bytes=9500-");
    plan(&r, &req, NULL);
    expect(&r, 206, true, 500,
           "Content-Type: text/plain\r\n"
           "Content-Range: bytes 9500-9999/10000\r\n"
           "ETag: " ETAG "\r\n"
           "Last-Modified: " LM_TEXT "\r\n"
           "Accept-Ranges: bytes\r\n");
    assert_int_equal(r.ranges.count, 1);
    assert_false(r.multipart);
    assert_int_equal(r.ranges.r[0].first, 9500);

    /* overlapping ranges folded into one part */
    set_range(&req, "bytes=0-499,400-999");
    plan(&r, &req, NULL);
    assert_int_equal(r.status, 206);
    assert_int_equal(r.content_length, 1000);
    assert_string_equal(r.content_range, "bytes 0-999/10000");
}

static void
test_multi_range(void **state)
{
    build_meta("application/pdf", 0);
    struct dp_file_response r;
    struct dp_file_request req = request("GET");
    set_range(&req, "bytes=500-999,7000-7999");
    struct dp_file_options opt = { NULL, false, 0, rnd };
    plan(&r, &req, &opt);
    /* part headers: "--B\r\n" 36, Content-Type 31, Content-Range 36 or
     * 38, empty line 2, and CRLF before the second; trailer 40 */
    uint64_t part1 = 36 + 31 + 36 + 2, part2 = 2 + 36 + 31 + 38 + 2;
    expect(&r, 206, true, part1 + 500 + part2 + 1000 + 40,
           "Content-Type: multipart/byteranges; boundary=" BOUNDARY "\r\n"
           "ETag: " ETAG "\r\n"
           "Last-Modified: " LM_TEXT "\r\n"
           "Accept-Ranges: bytes\r\n");
    assert_true(r.multipart);
    assert_string_equal(r.boundary, BOUNDARY);
    assert_int_equal(r.ranges.count, 2);

    /* check the announced length against the helpers' own output */
    char h[DP_MULTIPART_HEADER_SIZE(15)];
    int n1 = dp_multipart_part_header(h, sizeof(h), r.boundary,
                                      meta.content_type,
                                      meta.content_type_len, &r.ranges.r[0],
                                      10000, true);
    assert_int_equal(n1, part1);
    assert_string_equal(h, "--" BOUNDARY "\r\n"
                           "Content-Type: application/pdf\r\n"
                           "Content-Range: bytes 500-999/10000\r\n\r\n");

    /* without random bytes, no multipart: the whole file */
    opt.boundary_random = NULL;
    plan(&r, &req, &opt);
    expect(&r, 200, true, 10000,
           "Content-Type: application/pdf\r\n"
           "ETag: " ETAG "\r\n"
           "Last-Modified: " LM_TEXT "\r\n"
           "Accept-Ranges: bytes\r\n");
    assert_false(r.multipart);
    assert_int_equal(r.ranges.count, 0);

    /* a compressed variant: one range is fine, several give 200 */
    struct dp_file_options gz = { "gzip", true, 0, rnd };
    plan(&r, &req, &gz);
    expect(&r, 200, true, 10000,
           "Content-Type: application/pdf\r\n"
           "Content-Encoding: gzip\r\n"
           "ETag: " ETAG "\r\n"
           "Last-Modified: " LM_TEXT "\r\n"
           "Accept-Ranges: bytes\r\n"
           "Vary: Accept-Encoding\r\n");
    set_range(&req, "bytes=500-999");
    plan(&r, &req, &gz);
    expect(&r, 206, true, 500,
           "Content-Type: application/pdf\r\n"
           "Content-Encoding: gzip\r\n"
           "Content-Range: bytes 500-999/10000\r\n"
           "ETag: " ETAG "\r\n"
           "Last-Modified: " LM_TEXT "\r\n"
           "Accept-Ranges: bytes\r\n"
           "Vary: Accept-Encoding\r\n");
    set_range(&req, "bytes=10000-");
    plan(&r, &req, &gz);
    expect(&r, 416, false, 0,
           "Content-Range: bytes */10000\r\n"
           "Accept-Ranges: bytes\r\n"
           "Vary: Accept-Encoding\r\n");
}

static void
test_unsatisfiable_and_ignored(void **state)
{
    build_meta(NULL, 0);
    struct dp_file_response r;
    struct dp_file_request req = request("GET");
    set_range(&req, "bytes=10000-");
    plan(&r, &req, NULL);
    expect(&r, 416, false, 0,
           "Content-Range: bytes */10000\r\n"
           "Accept-Ranges: bytes\r\n");

    const char *h200 = "Content-Type: application/octet-stream\r\n"
                       "ETag: " ETAG "\r\n"
                       "Last-Modified: " LM_TEXT "\r\n"
                       "Accept-Ranges: bytes\r\n";
    set_range(&req, "lines=1-2");
    plan(&r, &req, NULL);
    expect(&r, 200, true, 10000, h200);
    set_range(&req, "bytes=5-1");
    plan(&r, &req, NULL);
    expect(&r, 200, true, 10000, h200);
}

static void
test_if_range(void **state)
{
    build_meta(NULL, 0);
    struct dp_file_response r;
    struct dp_file_request req = request("GET");
    set_range(&req, "bytes=0-9");
    req.if_range = ETAG;
    req.if_range_len = strlen(ETAG);
    plan(&r, &req, NULL);
    assert_int_equal(r.status, 206);
    assert_int_equal(r.content_length, 10);

    req.if_range = LM_TEXT;
    req.if_range_len = strlen(LM_TEXT);
    plan(&r, &req, NULL);
    assert_int_equal(r.status, 206);

    /* a stale validator: the whole file, even for an unsatisfiable Range */
    req.if_range = "\"old\"";
    req.if_range_len = 5;
    plan(&r, &req, NULL);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.content_length, 10000);
    set_range(&req, "bytes=20000-");
    plan(&r, &req, NULL);
    assert_int_equal(r.status, 200);
}

static void
test_headers_text_bounds(void **state)
{
    build_meta(NULL, 0);
    struct dp_file_response r;
    struct dp_file_request req = request("POST");
    plan(&r, &req, NULL);
    char buf[32];
    /* "Allow: GET, HEAD\r\n" is 18 bytes and needs 19 with the NUL */
    assert_int_equal(dp_file_response_headers_text(&r, buf, 18), -1);
    assert_int_equal(dp_file_response_headers_text(&r, buf, 19), 18);
    assert_int_equal(dp_file_response_headers_text(&r, buf, 0), -1);
    req = request("GET");
    req.cond.if_match = "\"x\"";
    req.cond.if_match_len = 3;
    plan(&r, &req, NULL);
    assert_int_equal(dp_file_response_headers_text(&r, buf, 1), 0);
    assert_string_equal(buf, "");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_and_head),
        cmocka_unit_test(test_method_not_allowed),
        cmocka_unit_test(test_options_and_expiry),
        cmocka_unit_test(test_not_modified),
        cmocka_unit_test(test_precondition_failed),
        cmocka_unit_test(test_single_range),
        cmocka_unit_test(test_multi_range),
        cmocka_unit_test(test_unsatisfiable_and_ignored),
        cmocka_unit_test(test_if_range),
        cmocka_unit_test(test_headers_text_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
