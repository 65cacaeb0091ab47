/* Unit tests for dataplane/dp_file_h1: raw HTTP/1.1 request bytes in
 * (through protocol/h1_request), the static-file decision out; repeated
 * header lines joined or invalidated as RFC 9110 §5.3 says. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_accept_encoding.h"
#include "dp_file_h1.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#define LM ((time_t)784111777)
#define NOW (LM + 86400)
#define ETAG "\"803-1234-2710-2ebc98a1-0\""
#define LM_TEXT "Sun, 06 Nov 1994 08:49:37 GMT"

struct parsed {
    struct h1_parser p;
    struct h1_header headers[32];
    struct h1_request req;
};

static void
parse(struct parsed *ps, const char *raw)
{
    h1_parser_init(&ps->p, NULL, ps->headers, 32);
    enum h1_result r = h1_parse_request(&ps->p, (const uint8_t *)raw,
                                        strlen(raw), &ps->req);
    if (r != H1_DONE)
        fail_msg("h1 parse: %d %s", r, h1_parser_error(&ps->p));
}

static struct dp_file_meta meta;

static void
build_meta(void)
{
    struct stat st;
    memset(&st, 0, sizeof(st));
    st.st_dev = 0x803;
    st.st_ino = 0x1234;
    st.st_size = 10000;
    st.st_mtim.tv_sec = LM;
    dp_file_meta_build(&meta, &st, NULL, "text/plain", 10, NOW);
}

/* Raw request in, status and header text out. */
static int
run(const char *raw, char *text, size_t cap)
{
    struct parsed ps;
    parse(&ps, raw);
    char scratch[1024];
    struct dp_file_h1 f;
    assert_int_equal(dp_file_from_h1(&ps.req, scratch, sizeof(scratch), &f),
                     0);
    struct dp_file_response r;
    dp_file_response_plan(&r, &f.req, &meta, NULL, NOW);
    assert_true(dp_file_response_headers_text(&r, text, cap) >= 0);
    return r.status;
}

#define H200                                                               \
    "Content-Type: text/plain\r\n"                                         \
    "ETag: " ETAG "\r\n"                                                   \
    "Last-Modified: " LM_TEXT "\r\n"                                       \
    "Accept-Ranges: bytes\r\n"

static void
test_plain_get(void **state)
{
    build_meta();
    char text[1024];
    assert_int_equal(run("GET /f HTTP/1.1\r\nHost: x\r\n\r\n", text,
                         sizeof(text)),
                     200);
    assert_string_equal(text, H200);
    assert_int_equal(run("POST /f HTTP/1.1\r\nHost: x\r\n"
                         "Content-Length: 0\r\n\r\n",
                         text, sizeof(text)),
                     405);
    assert_string_equal(text, "Allow: GET, HEAD\r\n");
}

static void
test_lists_joined(void **state)
{
    build_meta();
    char text[1024];
    /* the matching tag on the second line still counts */
    assert_int_equal(run("GET /f HTTP/1.1\r\nHost: x\r\n"
                         "If-None-Match: \"a\", \"b\"\r\n"
                         "if-none-match: " ETAG "\r\n\r\n",
                         text, sizeof(text)),
                     304);
    /* If-Match on two lines, the match on the first */
    assert_int_equal(run("GET /f HTTP/1.1\r\nHost: x\r\n"
                         "If-Match: " ETAG "\r\n"
                         "If-Match: \"zzz\"\r\n"
                         "Range: bytes=0-9\r\n\r\n",
                         text, sizeof(text)),
                     206);
    /* a malformed second line spoils the whole list */
    assert_int_equal(run("GET /f HTTP/1.1\r\nHost: x\r\n"
                         "If-None-Match: " ETAG "\r\n"
                         "If-None-Match: junk\r\n\r\n",
                         text, sizeof(text)),
                     200);
}

static void
test_singletons_repeated(void **state)
{
    build_meta();
    char text[1024];
    /* one date: 304; the same date twice: ignored */
    assert_int_equal(run("GET /f HTTP/1.1\r\nHost: x\r\n"
                         "If-Modified-Since: " LM_TEXT "\r\n\r\n",
                         text, sizeof(text)),
                     304);
    assert_int_equal(run("GET /f HTTP/1.1\r\nHost: x\r\n"
                         "If-Modified-Since: " LM_TEXT "\r\n"
                         "If-Modified-Since: " LM_TEXT "\r\n\r\n",
                         text, sizeof(text)),
                     200);
    assert_string_equal(text, H200);
    /* two Range lines: ignored */
    assert_int_equal(run("GET /f HTTP/1.1\r\nHost: x\r\n"
                         "Range: bytes=0-9\r\n"
                         "Range: bytes=20-29\r\n\r\n",
                         text, sizeof(text)),
                     200);
    /* two If-Range lines: no match, the whole file */
    assert_int_equal(run("GET /f HTTP/1.1\r\nHost: x\r\n"
                         "Range: bytes=0-9\r\n"
                         "If-Range: " ETAG "\r\n"
                         "If-Range: " ETAG "\r\n\r\n",
                         text, sizeof(text)),
                     200);
    assert_int_equal(run("GET /f HTTP/1.1\r\nHost: x\r\n"
                         "Range: bytes=0-9\r\n"
                         "If-Range: " ETAG "\r\n\r\n",
                         text, sizeof(text)),
                     206);
}

static void
test_fields(void **state)
{
    struct parsed ps;
    parse(&ps, "GET /f HTTP/1.1\r\nHost: x\r\n"
               "Accept-Encoding: gzip;q=0.5\r\n"
               "X: 1\r\n"
               "accept-encoding: br\r\n"
               "If-Match:\r\n\r\n");
    char scratch[64];
    struct dp_file_h1 f;
    assert_int_equal(dp_file_from_h1(&ps.req, scratch, sizeof(scratch), &f),
                     0);
    assert_int_equal(f.req.method_len, 3);
    assert_memory_equal(f.req.method, "GET", 3);
    assert_int_equal(f.accept_encoding_len, 14);
    assert_memory_equal(f.accept_encoding, "gzip;q=0.5, br", 14);
    assert_ptr_equal(f.accept_encoding, scratch);
    /* an empty field is present */
    assert_non_null(f.req.cond.if_match);
    assert_int_equal(f.req.cond.if_match_len, 0);
    /* absent ones are NULL */
    assert_null(f.req.cond.if_none_match);
    assert_null(f.req.range);
    assert_null(f.req.if_range);

    struct dp_accept_encoding ae;
    assert_int_equal(dp_accept_encoding_parse(f.accept_encoding,
                                              f.accept_encoding_len, &ae),
                     0);
    assert_int_equal(dp_accept_encoding_choose(&ae, true, true),
                     DP_CODING_BR);

    /* scratch too small: -ENOSPC, nothing filled in */
    assert_int_equal(dp_file_from_h1(&ps.req, scratch, 13, &f), -ENOSPC);
    assert_null(f.accept_encoding);
    assert_null(f.req.method);
    /* exactly enough */
    assert_int_equal(dp_file_from_h1(&ps.req, scratch, 14, &f), 0);
    /* head_len is always enough */
    char big[512];
    assert_true(ps.req.head_len <= sizeof(big));
    assert_int_equal(dp_file_from_h1(&ps.req, big, ps.req.head_len, &f), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_get),
        cmocka_unit_test(test_lists_joined),
        cmocka_unit_test(test_singletons_repeated),
        cmocka_unit_test(test_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
