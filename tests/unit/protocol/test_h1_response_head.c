/* Unit tests for protocol/h1_response_head: the HTTP/1.1 response-head
 * parser of the HTTP client.  Every vector is parsed whole and then fed
 * growing by every step size from 1 byte up (into a buffer that moves
 * between calls); all feeds must give the same result, byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "h1_response_head.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_HDRS 16

struct outcome {
    enum h1_result res;
    char error[H1_ERROR_SIZE];
    char canon[2048];   /* the head as text, slices as their bytes */
};

static void
canon(const struct h1_response_head *r, char *out, size_t size)
{
    int n = snprintf(out, size, "len=%zu 1.%u %u [%.*s] framing=%d cl=%d:%llu"
                     " ka=%d conn=%u n=%zu", r->head_len, r->version_minor,
                     r->status, (int)r->reason.len,
                     (const char *)r->reason.data, (int)r->framing,
                     (int)r->has_content_length,
                     (unsigned long long)r->content_length,
                     (int)r->keep_alive, r->connection, r->header_count);
    for (size_t i = 0; i < r->header_count && n > 0 && (size_t)n < size;
         i++)
        n += snprintf(out + n, size - (size_t)n, " <%.*s|%.*s>",
                      (int)r->headers[i].name.len,
                      (const char *)r->headers[i].name.data,
                      (int)r->headers[i].value.len,
                      (const char *)r->headers[i].value.data);
}

/* Feed in[0..len) growing by `step` bytes (0: all at once). */
static void
feed(const char *in, size_t len, size_t step, bool head, size_t max_head,
     struct outcome *o)
{
    struct h1_header hdrs[MAX_HDRS];
    struct h1_response_parser p;
    h1_response_parser_init(&p, 0, max_head, hdrs, MAX_HDRS, head);
    memset(o, 0, sizeof(*o));
    size_t avail = 0;
    o->res = H1_NEED_MORE;
    while (avail < len) {
        avail = (step == 0 || len - avail < step) ? len : avail + step;
        /* a fresh copy each call: the buffer moves */
        uint8_t *buf = malloc(avail + 1);
        assert_non_null(buf);
        memcpy(buf, in, avail);
        struct h1_response_head r;
        o->res = h1_parse_response(&p, buf, avail, &r);
        if (o->res == H1_DONE) {
            canon(&r, o->canon, sizeof(o->canon));
            free(buf);
            return;
        }
        free(buf);
        if (o->res == H1_ERROR) {
            snprintf(o->error, sizeof(o->error), "%s",
                     h1_response_parser_error(&p));
            assert_true(o->error[0] != '\0');
            return;
        }
    }
}

static void
feed_all_ways(const char *in, bool head, size_t max_head, struct outcome *o)
{
    size_t len = strlen(in);
    feed(in, len, 0, head, max_head, o);
    for (size_t step = 1; step <= len; step++) {
        struct outcome x;
        feed(in, len, step, head, max_head, &x);
        if (x.res != o->res || strcmp(x.error, o->error) != 0 ||
            strcmp(x.canon, o->canon) != 0) {
            print_error("step %zu: %d '%s' '%s' / %d '%s' '%s'\n", step,
                        x.res, x.error, x.canon, o->res, o->error,
                        o->canon);
            fail();
        }
    }
}

static void
expect_head(const char *in, bool head, const char *want)
{
    struct outcome o;
    feed_all_ways(in, head, 0, &o);
    if (o.res != H1_DONE || strcmp(o.canon, want) != 0) {
        print_error("got %d '%s' '%s'\nwant '%s'\n", o.res, o.error, o.canon,
                    want);
        fail();
    }
}

static void
expect_error(const char *in, const char *want)
{
    struct outcome o;
    feed_all_ways(in, false, 0, &o);
    if (o.res != H1_ERROR || strcmp(o.error, want) != 0) {
        print_error("got %d '%s' '%s'\nwant error '%s'\n", o.res, o.error,
                    o.canon, want);
        fail();
    }
}

static void
test_content_length(void **state)
{
    (void)state;
    expect_head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                "Content-Type: text/plain\r\n\r\nhello", false,
                "len=64 1.1 200 [OK] framing=2 cl=1:5 ka=1 conn=0 n=2"
                " <Content-Length|5> <Content-Type|text/plain>");
}

static void
test_chunked(void **state)
{
    (void)state;
    expect_head("HTTP/1.1 201 Created\r\ntransfer-encoding:  Chunked \r\n"
                "\r\n5\r\n", false,
                "len=54 1.1 201 [Created] framing=3 cl=0:0 ka=1 conn=0 n=1"
                " <transfer-encoding|Chunked>");
}

static void
test_close_delimited(void **state)
{
    (void)state;
    expect_head("HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", false,
                "len=30 1.1 200 [OK] framing=4 cl=0:0 ka=0 conn=0 n=1"
                " <Server|x>");
    /* HTTP/1.0 without keep-alive */
    expect_head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false,
                "len=38 1.0 200 [OK] framing=2 cl=1:0 ka=0 conn=0 n=1"
                " <Content-Length|0>");
    expect_head("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n"
                "Content-Length: 0\r\n\r\n", false,
                "len=62 1.0 200 [OK] framing=2 cl=1:0 ka=1 conn=2 n=2"
                " <Connection|Keep-Alive> <Content-Length|0>");
    expect_head("HTTP/1.1 200 OK\r\nConnection: foo, close\r\n"
                "Content-Length: 0\r\n\r\n", false,
                "len=62 1.1 200 [OK] framing=2 cl=1:0 ka=0 conn=1 n=2"
                " <Connection|foo, close> <Content-Length|0>");
}

static void
test_no_body(void **state)
{
    (void)state;
    expect_head("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", true,
                "len=40 1.1 200 [OK] framing=1 cl=1:100 ka=1 conn=0 n=1"
                " <Content-Length|100>");
    expect_head("HTTP/1.1 204 No Content\r\n\r\n", false,
                "len=27 1.1 204 [No Content] framing=1 cl=0:0 ka=1 conn=0"
                " n=0");
    expect_head("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: "
                "chunked\r\n\r\n", false,
                "len=57 1.1 304 [Not Modified] framing=1 cl=0:0 ka=1 "
                "conn=0 n=1 <Transfer-Encoding|chunked>");
    expect_head("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n", false,
                "len=25 1.1 100 [Continue] framing=1 cl=0:0 ka=1 conn=0"
                " n=0");
}

static void
test_reason_forms(void **state)
{
    (void)state;
    expect_head("HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n", false,
                "len=36 1.1 404 [] framing=2 cl=1:0 ka=1 conn=0 n=1"
                " <Content-Length|0>");
    expect_head("HTTP/1.1 599\r\nContent-Length: 0\r\n\r\n", false,
                "len=35 1.1 599 [] framing=2 cl=1:0 ka=1 conn=0 n=1"
                " <Content-Length|0>");
    expect_head("HTTP/1.1 200 Very\tOK \xe9\r\nContent-Length: 1\r\n"
                "Content-Length: 1\r\n\r\n", false,
                "len=64 1.1 200 [Very\tOK \xe9] framing=2 cl=1:1 ka=1 conn=0"
                " n=2 <Content-Length|1> <Content-Length|1>");
}

static void
test_limits(void **state)
{
    (void)state;
    struct outcome o;
    feed_all_ways("HTTP/1.1 200 OK\r\nX-Long: aaaaaaaaaaaaaaaaaaaa\r\n\r\n",
                  false, 32, &o);
    assert_int_equal(o.res, H1_ERROR);
    assert_string_equal(o.error, "response head larger than 32 bytes");
    /* more header lines than the array */
    char big[1024] = "HTTP/1.1 200 OK\r\n";
    for (int i = 0; i < MAX_HDRS + 1; i++)
        strcat(big, "A: b\r\n");
    strcat(big, "\r\n");
    expect_error(big, "more than 16 header lines");
}

static void
test_need_more(void **state)
{
    (void)state;
    struct outcome o;
    feed_all_ways("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", false, 0, &o);
    assert_int_equal(o.res, H1_NEED_MORE);
    feed_all_ways("HTTP/", false, 0, &o);
    assert_int_equal(o.res, H1_NEED_MORE);
}

struct reject {
    const char *name;
    const char *in;
    const char *error;
};

static struct reject rejects[] = {
    { "not_http", "<html>\r\n\r\n",
      "the response does not start with \"HTTP/\"" },
    { "lower_http", "http/1.1 200 OK\r\n\r\n",
      "the response does not start with \"HTTP/\"" },
    { "http2", "HTTP/2.0 200 OK\r\n\r\n",
      "HTTP version 2.0 in the status line" },
    { "bad_version", "HTTP/1.x 200 OK\r\n\r\n",
      "invalid HTTP version in the status line" },
    { "two_spaces", "HTTP/1.1  200 OK\r\n\r\n",
      "the status code is not three digits" },
    { "short_status", "HTTP/1.1 20 OK\r\n\r\n",
      "the status code is not three digits" },
    { "status_099", "HTTP/1.1 099 Hm\r\n\r\n",
      "status code 99 out of range" },
    { "status_600", "HTTP/1.1 600 Hm\r\n\r\n",
      "status code 600 out of range" },
    { "status_4digits", "HTTP/1.1 2000 OK\r\n\r\n",
      "invalid byte 0x30 in the status line" },
    { "bare_lf_status", "HTTP/1.1 200 OK\n\r\n",
      "bare LF at the end of the status line" },
    { "bare_cr_status", "HTTP/1.1 200 OK\rX\r\n\r\n",
      "bare CR in the status line" },
    { "nul_reason", "HTTP/1.1 200 O\0K\r\n\r\n", "NUL in the status line" },
    { "bare_lf_header", "HTTP/1.1 200 OK\r\nA: b\n\r\n",
      "bare LF in header 1" },
    { "bare_lf_end", "HTTP/1.1 200 OK\r\nA: b\r\n\n",
      "bare LF at the end of the head" },
    { "bare_cr_header", "HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n",
      "bare CR in header 1" },
    { "ctl_header", "HTTP/1.1 200 OK\r\nA: b\x01\r\n\r\n",
      "control character 0x01 in header 1" },
    { "obs_fold", "HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n",
      "obsolete line folding in header 1" },
    { "leading_ws", "HTTP/1.1 200 OK\r\n A: b\r\n\r\n",
      "whitespace between the status line and the first header" },
    { "ws_colon", "HTTP/1.1 200 OK\r\nA : b\r\n\r\n",
      "whitespace between the name and the colon in header 1" },
    { "no_colon", "HTTP/1.1 200 OK\r\nAb\r\n\r\n", "no colon in header 1" },
    { "empty_name", "HTTP/1.1 200 OK\r\n: b\r\n\r\n",
      "empty name in header 1" },
    { "bad_name", "HTTP/1.1 200 OK\r\nA(b: c\r\n\r\n",
      "invalid byte 0x28 in the name of header 1" },
    { "cl_differ", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
      "Content-Length: 6\r\n\r\n",
      "Content-Length values differ (headers 1 and 2)" },
    { "cl_list", "HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n",
      "Content-Length is not a decimal number (header 1)" },
    { "cl_sign", "HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n",
      "Content-Length is not a decimal number (header 1)" },
    { "cl_empty", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
      "empty Content-Length (header 1)" },
    { "cl_huge", "HTTP/1.1 200 OK\r\nContent-Length: "
      "9223372036854775808\r\n\r\n",
      "Content-Length over 2^63-1 (header 1)" },
    { "cl_te", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
      "Transfer-Encoding: chunked\r\n\r\n",
      "Content-Length and Transfer-Encoding both present" },
    { "te_gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n"
      "\r\n", "transfer coding \"gzip\" not supported (header 1)" },
    { "te_twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
      "Transfer-Encoding: chunked\r\n\r\n",
      "chunked applied more than once (header 2)" },
    { "te_empty", "HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\n\r\n",
      "empty or invalid element in Transfer-Encoding (header 1)" },
    { "te_http10", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
      "Transfer-Encoding in an HTTP/1.0 response" },
};

static void
test_reject(void **state)
{
    const struct reject *r = *state;
    struct outcome o;
    size_t len = strlen(r->in);
    if (strcmp(r->name, "nul_reason") == 0)
        len = 20;   /* the vector holds a NUL */
    feed(r->in, len, 0, false, 0, &o);
    if (len != strlen(r->in)) {
        assert_int_equal(o.res, H1_ERROR);
        assert_string_equal(o.error, r->error);
        return;
    }
    feed_all_ways(r->in, false, 0, &o);
    if (o.res != H1_ERROR || strcmp(o.error, r->error) != 0) {
        print_error("got %d '%s' '%s'\nwant error '%s'\n", o.res, o.error,
                    o.canon, r->error);
        fail();
    }
}

/* Long values go through the word-at-a-time scan: a control character
 * or DEL at any position is still found, obs-text and HTAB pass. */
static void
test_long_values(void **state)
{
    (void)state;
    static const char bad[] = { 0x00, 0x01, 0x1f, 0x7f, '\r' };
    for (size_t pos = 0; pos < 40; pos++) {
        for (size_t b = 0; b < sizeof(bad); b++) {
            uint8_t in[128];
            size_t n = (size_t)snprintf((char *)in, sizeof(in),
                                        "HTTP/1.1 200 OK\r\nX-V: ");
            size_t vs = n;
            for (size_t k = 0; k < 40; k++)
                in[n++] = (uint8_t)(k % 2 ? 0xe9 : 'a' + k % 26);
            in[vs + pos] = (uint8_t)bad[b];
            memcpy(in + n, "\r\n\r\n", 4);
            n += 4;
            struct h1_header hdrs[4];
            struct h1_response_parser p;
            struct h1_response_head r;
            h1_response_parser_init(&p, 0, 0, hdrs, 4, false);
            assert_int_equal(h1_parse_response(&p, in, n, &r), H1_ERROR);
        }
    }
    const char *ok = "HTTP/1.1 200 OK\r\nX-V: aaaaaaaa\tbbbbbbbb \xff\xfe"
                     "cccccccccccccccc  \r\n\r\n";
    struct h1_header hdrs[4];
    struct h1_response_parser p;
    struct h1_response_head r;
    h1_response_parser_init(&p, 0, 0, hdrs, 4, false);
    assert_int_equal(h1_parse_response(&p, (const uint8_t *)ok, strlen(ok),
                                       &r), H1_DONE);
    assert_int_equal(r.headers[0].value.len, 36);
}

static void
test_error_is_sticky(void **state)
{
    (void)state;
    struct h1_header hdrs[4];
    struct h1_response_parser p;
    struct h1_response_head r;
    h1_response_parser_init(&p, 0, 0, hdrs, 4, false);
    const char *bad = "HTTP/1.1 200 OK\r\nA : b\r\n\r\n";
    assert_int_equal(h1_parse_response(&p, (const uint8_t *)bad, strlen(bad),
                                       &r), H1_ERROR);
    const char *good = "HTTP/1.1 200 OK\r\n\r\n";
    assert_int_equal(h1_parse_response(&p, (const uint8_t *)good,
                                       strlen(good), &r), H1_ERROR);
}

static void
test_find(void **state)
{
    (void)state;
    struct h1_header hdrs[4];
    struct h1_response_parser p;
    struct h1_response_head r;
    h1_response_parser_init(&p, 0, 0, hdrs, 4, false);
    const char *in = "HTTP/1.1 200 OK\r\nX-A: 1\r\nx-b: 2\r\n\r\n";
    assert_int_equal(h1_parse_response(&p, (const uint8_t *)in, strlen(in),
                                       &r), H1_DONE);
    const struct h1_header *h = h1_response_find(&r, "X-B");
    assert_non_null(h);
    assert_memory_equal(h->value.data, "2", 1);
    assert_null(h1_response_find(&r, "X-C"));
}

int
main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_close_delimited),
        cmocka_unit_test(test_no_body),
        cmocka_unit_test(test_reason_forms),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_need_more),
        cmocka_unit_test(test_long_values),
        cmocka_unit_test(test_error_is_sticky),
        cmocka_unit_test(test_find),
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
    int rc = _cmocka_run_group_tests("h1_response_head", all, nfixed + nrej,
                                     NULL, NULL);
    free(all);
    return rc;
}
