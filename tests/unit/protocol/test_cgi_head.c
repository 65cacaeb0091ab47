/* Unit tests for protocol/cgi_head: the CGI response head parser
 * (RFC 3875 §6).  The heads are written out as CGI programs print them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cgi_head.h"
#include "fcgi_codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

/* Parse data[0..len) fed in two pieces cut at `cut` (each piece copied
 * to its own buffer).  Returns the final status; *head_bytes is the sum
 * of the bytes consumed. */
static enum cgi_head_status
parse_cut(struct cgi_head *h, const uint8_t *data, size_t len, size_t cut,
          size_t max_size, size_t max_lines, size_t *head_bytes)
{
    cgi_head_init(h, max_size, max_lines);
    *head_bytes = 0;
    enum cgi_head_status st = CGI_HEAD_NEED_MORE;
    size_t bounds[3] = { 0, cut, len };
    for (int i = 0; i < 2; i++) {
        size_t n = bounds[i + 1] - bounds[i];
        uint8_t *piece = malloc(n + 1);
        assert_non_null(piece);
        memcpy(piece, data + bounds[i], n);
        size_t used = 12345;
        st = cgi_head_feed(h, piece, n, &used);
        free(piece);
        if (st == CGI_HEAD_ERROR)
            return st;
        assert_true(used <= n);
        *head_bytes += used;
        if (st == CGI_HEAD_NEED_MORE)
            assert_int_equal(used, n);
        if (st == CGI_HEAD_DONE && i == 0) {
            /* the second piece is all body */
            size_t more = 1;
            assert_int_equal(cgi_head_feed(h, data + cut, len - cut, &more),
                             CGI_HEAD_DONE);
            assert_int_equal(more, 0);
            break;
        }
    }
    return st;
}

static enum cgi_head_status
parse(struct cgi_head *h, const uint8_t *data, size_t len, size_t *used)
{
    return parse_cut(h, data, len, len, 0, 0, used);
}

static void
assert_slice(struct pr_slice s, const char *want)
{
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.data, want, s.len);
}

static void
assert_header(const struct cgi_head *h, size_t i, const char *name,
              const char *value)
{
    assert_true(i < h->n_headers);
    assert_slice(h->headers[i].name, name);
    assert_slice(h->headers[i].value, value);
}

static void
test_status_and_headers_crlf(void **state)
{
    static const char v[] = "Status: 404 Not Found\r\n"
                            "Content-Type: text/html; charset=utf-8\r\n"
                            "X-Foo:bar\r\n"
                            "Set-Cookie: a=b\r\n"
                            "\r\n"
                            "<p>gone</p>";
    struct cgi_head h;
    size_t used;
    assert_int_equal(parse(&h, S(v), &used), CGI_HEAD_DONE);
    assert_int_equal(used, sizeof(v) - 1 - 11);
    assert_int_equal(h.head_len, used);
    assert_int_equal(h.status, 404);
    assert_true(h.has_status);
    assert_slice(h.reason, "Not Found");
    assert_true(h.has_content_type);
    assert_slice(h.content_type, "text/html; charset=utf-8");
    assert_int_equal(h.location_kind, CGI_LOCATION_NONE);
    assert_false(h.local_redirect);
    assert_false(h.has_content_length);
    assert_int_equal(h.dropped, 0);
    assert_int_equal(h.n_headers, 3);
    assert_header(&h, 0, "Content-Type", "text/html; charset=utf-8");
    assert_header(&h, 1, "X-Foo", "bar");
    assert_header(&h, 2, "Set-Cookie", "a=b");
    assert_ptr_equal(cgi_head_find(&h, "x-foo"), &h.headers[1]);
    assert_ptr_equal(cgi_head_find(&h, "SET-COOKIE"), &h.headers[2]);
    assert_null(cgi_head_find(&h, "Status"));
    assert_null(cgi_head_find(&h, "X-Fo"));
    assert_int_equal(cgi_head_finish(&h), 0);
    assert_string_equal(cgi_head_error(&h), "");
    cgi_head_destroy(&h);
}

/* Bare LF line ends (what most scripts print), and a mix. */
static void
test_bare_lf(void **state)
{
    static const char v[] = "Content-type: text/plain\n\nhello\n";
    struct cgi_head h;
    size_t used;
    assert_int_equal(parse(&h, S(v), &used), CGI_HEAD_DONE);
    assert_int_equal(used, 26);
    assert_int_equal(h.status, 200);
    assert_false(h.has_status);
    assert_slice(h.content_type, "text/plain");
    assert_int_equal(h.n_headers, 1);
    cgi_head_destroy(&h);

    static const char mixed[] = "X-A: 1\r\nContent-Type: a/b\nX-B: 2\r\n\n!";
    assert_int_equal(parse(&h, S(mixed), &used), CGI_HEAD_DONE);
    assert_int_equal(used, sizeof(mixed) - 2);
    assert_int_equal(h.n_headers, 3);
    assert_header(&h, 2, "X-B", "2");
    cgi_head_destroy(&h);

    static const char mixed2[] = "Status: 200\n\r\nbody";
    assert_int_equal(parse(&h, S(mixed2), &used), CGI_HEAD_DONE);
    assert_int_equal(used, 14);
    assert_int_equal(h.status, 200);
    assert_slice(h.reason, "");
    cgi_head_destroy(&h);
}

static void
test_redirects(void **state)
{
    struct cgi_head h;
    size_t used;

    /* client redirect (RFC 3875 §6.2.3): 302 */
    assert_int_equal(parse(&h, S("Location: http://example.com/x?y\r\n\r\n"),
                           &used), CGI_HEAD_DONE);
    assert_int_equal(h.status, 302);
    assert_int_equal(h.location_kind, CGI_LOCATION_ABSOLUTE);
    assert_slice(h.location, "http://example.com/x?y");
    assert_false(h.local_redirect);
    assert_int_equal(h.n_headers, 1);
    assert_header(&h, 0, "Location", "http://example.com/x?y");
    cgi_head_destroy(&h);

    /* local redirect (§6.2.2) */
    assert_int_equal(parse(&h, S("Location: /other?a=1\n\n"), &used),
                     CGI_HEAD_DONE);
    assert_true(h.local_redirect);
    assert_int_equal(h.status, 0);
    assert_int_equal(h.location_kind, CGI_LOCATION_LOCAL);
    assert_slice(h.location, "/other?a=1");
    cgi_head_destroy(&h);

    assert_int_equal(parse(&h, S("Location: /\n\n"), &used), CGI_HEAD_DONE);
    assert_true(h.local_redirect);
    cgi_head_destroy(&h);

    /* with a Status, a local path is a plain header */
    assert_int_equal(parse(&h, S("Status: 301 Moved\nLocation: /new\n"
                                 "Content-Type: text/html\n\n"), &used),
                     CGI_HEAD_DONE);
    assert_false(h.local_redirect);
    assert_int_equal(h.status, 301);
    assert_int_equal(h.location_kind, CGI_LOCATION_LOCAL);
    assert_int_equal(h.n_headers, 2);
    cgi_head_destroy(&h);

    /* client redirect with document (§6.2.4): Status wins */
    assert_int_equal(parse(&h, S("Location: https://a.example/\n"
                                 "Status: 303 See Other\n"
                                 "Content-Type: text/html\n\n<a>"), &used),
                     CGI_HEAD_DONE);
    assert_int_equal(h.status, 303);
    assert_int_equal(h.location_kind, CGI_LOCATION_ABSOLUTE);
    cgi_head_destroy(&h);

    /* network-path and relative references: client redirects */
    assert_int_equal(parse(&h, S("Location: //host.example/x\n\n"), &used),
                     CGI_HEAD_DONE);
    assert_int_equal(h.location_kind, CGI_LOCATION_RELATIVE);
    assert_int_equal(h.status, 302);
    assert_false(h.local_redirect);
    cgi_head_destroy(&h);
    assert_int_equal(parse(&h, S("Location: ../up\n\n"), &used),
                     CGI_HEAD_DONE);
    assert_int_equal(h.location_kind, CGI_LOCATION_RELATIVE);
    cgi_head_destroy(&h);
    assert_int_equal(parse(&h, S("Location: x1+.-:y\n\n"), &used),
                     CGI_HEAD_DONE);
    assert_int_equal(h.location_kind, CGI_LOCATION_ABSOLUTE);
    cgi_head_destroy(&h);
    assert_int_equal(parse(&h, S("Location: 1x:y\n\n"), &used),
                     CGI_HEAD_DONE);
    assert_int_equal(h.location_kind, CGI_LOCATION_RELATIVE);
    cgi_head_destroy(&h);
    assert_int_equal(parse(&h, S("Location: a_b:c\n\n"), &used),
                     CGI_HEAD_DONE);
    assert_int_equal(h.location_kind, CGI_LOCATION_RELATIVE);
    cgi_head_destroy(&h);
}

static void
test_status_forms(void **state)
{
    struct cgi_head h;
    size_t used;
    assert_int_equal(parse(&h, S("Status: 204\n\n"), &used), CGI_HEAD_DONE);
    assert_int_equal(h.status, 204);
    assert_slice(h.reason, "");
    assert_int_equal(h.n_headers, 0);
    cgi_head_destroy(&h);
    assert_int_equal(parse(&h, S("status:500\t Internal \tError \r\n\r\n"),
                           &used), CGI_HEAD_DONE);
    assert_int_equal(h.status, 500);
    assert_slice(h.reason, "Internal \tError");
    cgi_head_destroy(&h);
    assert_int_equal(parse(&h, S("STATUS: 599\n\n"), &used), CGI_HEAD_DONE);
    assert_int_equal(h.status, 599);
    cgi_head_destroy(&h);
    assert_int_equal(parse(&h, S("Status: 200 \xc3\xa9\n\n"), &used),
                     CGI_HEAD_DONE);
    assert_slice(h.reason, "\xc3\xa9");
    cgi_head_destroy(&h);
}

static void
test_hop_by_hop_and_length(void **state)
{
    static const char v[] = "Connection: close\n"
                            "keep-alive: timeout=5\n"
                            "Proxy-Connection: x\n"
                            "TE: trailers\n"
                            "Trailer: X\n"
                            "TRANSFER-ENCODING: chunked\n"
                            "Upgrade: h2c\n"
                            "Content-Length: 1234\n"
                            "Content-Type: a/b\n"
                            "X-Empty:\n"
                            "X-Blank:   \t \n"
                            "X-Trim: \t v  v \t\n"
                            "\n";
    struct cgi_head h;
    size_t used;
    assert_int_equal(parse(&h, S(v), &used), CGI_HEAD_DONE);
    assert_int_equal(h.dropped, 7);
    assert_true(h.has_content_length);
    assert_int_equal(h.content_length, 1234);
    assert_int_equal(h.n_headers, 5);
    assert_header(&h, 0, "Content-Length", "1234");
    assert_header(&h, 1, "Content-Type", "a/b");
    assert_header(&h, 2, "X-Empty", "");
    assert_header(&h, 3, "X-Blank", "");
    assert_header(&h, 4, "X-Trim", "v  v");
    assert_null(cgi_head_find(&h, "Connection"));
    cgi_head_destroy(&h);

    assert_int_equal(parse(&h, S("Content-Type: a/b\n"
                                 "Content-Length: 9223372036854775807\n\n"),
                           &used), CGI_HEAD_DONE);
    assert_int_equal(h.content_length, 9223372036854775807ull);
    cgi_head_destroy(&h);
}

static void
expect_error(const char *v, const char *msg)
{
    size_t len = strlen(v), used;
    struct cgi_head h;
    for (size_t cut = 0; cut <= len; cut++) {
        assert_int_equal(parse_cut(&h, (const uint8_t *)v, len, cut, 0, 0,
                                   &used), CGI_HEAD_ERROR);
        assert_string_equal(cgi_head_error(&h), msg);
        /* final */
        assert_int_equal(cgi_head_feed(&h, (const uint8_t *)"\n\n", 2,
                                       &used), CGI_HEAD_ERROR);
        assert_int_equal(cgi_head_finish(&h), -1);
        assert_string_equal(cgi_head_error(&h), msg);
        cgi_head_destroy(&h);
    }
}

static void
test_errors(void **state)
{
    expect_error("Status: 20\n\n", "line 1: invalid Status \"20\"");
    expect_error("Status: 2000\n\n", "line 1: invalid Status \"2000\"");
    expect_error("Status: 2x0 OK\n\n", "line 1: invalid Status \"2x0 OK\"");
    expect_error("Status:\n\n", "line 1: invalid Status \"\"");
    expect_error("Status: 200OK\n\n", "line 1: invalid Status \"200OK\"");
    expect_error("X: 1\nStatus: 101 Switching Protocols\n\n",
                 "line 2: Status 101 is not a final status (200..599)");
    expect_error("Status: 199\n\n",
                 "line 1: Status 199 is not a final status (200..599)");
    expect_error("Status: 600\n\n",
                 "line 1: Status 600 is not a final status (200..599)");
    expect_error("Status: 200\nStatus: 200\n\n", "line 2: duplicate Status");
    expect_error("Location: /a\r\nLocation: /b\r\n\r\n",
                 "line 2: duplicate Location");
    expect_error("Content-Type: a/b\ncontent-type: a/b\n\n",
                 "line 2: duplicate Content-Type");
    expect_error("Content-Type:\n\n", "line 1: empty Content-Type");
    expect_error("Location:  \n\n", "line 1: empty Location");
    expect_error("Location: /a b\n\n", "line 1: whitespace in Location");
    expect_error("Status: 200\nContent-Length: 1\nContent-Length: 1\n\n",
                 "line 3: duplicate Content-Length");
    expect_error("Status: 200\nContent-Length: 12a\n\n",
                 "line 2: invalid Content-Length \"12a\"");
    expect_error("Status: 200\nContent-Length: -1\n\n",
                 "line 2: invalid Content-Length \"-1\"");
    expect_error("Status: 200\nContent-Length:\n\n",
                 "line 2: invalid Content-Length \"\"");
    expect_error("Status: 200\nContent-Length: 9223372036854775808\n\n",
                 "line 2: invalid Content-Length \"9223372036854775808\"");
    expect_error("Status: 200\nContent-Length: 99999999999999999999999\n\n",
                 "line 2: invalid Content-Length "
                 "\"99999999999999999999999\"");
    expect_error("Content-Type: a/b\n continued\n\n",
                 "line 2: obs-fold continuation lines are refused");
    expect_error("\tx: y\n\n",
                 "line 1: obs-fold continuation lines are refused");
    expect_error("HTTP/1.1 200 OK\r\nContent-Type: a/b\r\n\r\n",
                 "line 1: no colon in the header line");
    expect_error(": x\n\n", "line 1: empty header name");
    expect_error("X Foo: y\n\n",
                 "line 1: invalid character 0x20 in the header name");
    expect_error("X-Foo : y\n\n",
                 "line 1: invalid character 0x20 in the header name");
    expect_error("X\x80: y\n\n",
                 "line 1: invalid character 0x80 in the header name");
    expect_error("Content-Type: a/b\nX-Foo: a\x01z\n\n",
                 "line 2: control character 0x01 in the value of X-Foo");
    expect_error("X-Foo: a\x7f\n\n",
                 "line 1: control character 0x7f in the value of X-Foo");
    expect_error("X-Foo: a\rb\nStatus: 200\n\n",
                 "line 1: CR not followed by LF");
    expect_error("Status: 200\n\r\r\n\n",
                 "line 2: CR not followed by LF");
    expect_error("X-Foo: bar\n\nbody",
                 "the response head has none of Content-Type, Location and "
                 "Status (RFC 3875 §6.2)");
    expect_error("\r\n", "the response head has none of Content-Type, "
                 "Location and Status (RFC 3875 §6.2)");
    expect_error("\nStatus: 200\n\n", "the response head has none of "
                 "Content-Type, Location and Status (RFC 3875 §6.2)");
    expect_error("Connection: close\n\n", "the response head has none of "
                 "Content-Type, Location and Status (RFC 3875 §6.2)");

    /* NUL in a value (not a C string: fed by hand) */
    static const uint8_t nul[] = "X: a\0b\nStatus: 200\n\n";
    struct cgi_head h;
    size_t used;
    assert_int_equal(parse(&h, nul, sizeof(nul) - 1, &used), CGI_HEAD_ERROR);
    assert_string_equal(cgi_head_error(&h),
                        "line 1: control character 0x00 in the value of X");
    cgi_head_destroy(&h);
}

static void
test_limits(void **state)
{
    /* exactly 32 bytes, empty line included */
    static const char v32[] = "Content-Type: text/plain\nX: 12\n\n";
    assert_int_equal(sizeof(v32) - 1, 32);
    struct cgi_head h;
    size_t used;
    for (size_t cut = 0; cut <= 32; cut++) {
        assert_int_equal(parse_cut(&h, S(v32), cut, 32, 0, &used),
                         CGI_HEAD_DONE);
        assert_int_equal(used, 32);
        cgi_head_destroy(&h);
        assert_int_equal(parse_cut(&h, S(v32), cut, 31, 0, &used),
                         CGI_HEAD_ERROR);
        assert_string_equal(cgi_head_error(&h),
                            "response head longer than 31 bytes");
        cgi_head_destroy(&h);
    }
    /* CRLF version is 35 bytes */
    assert_int_equal(parse_cut(&h, S("Content-Type: text/plain\r\nX: 12\r\n"
                                     "\r\n"), 0, 34, 0, &used),
                     CGI_HEAD_ERROR);
    cgi_head_destroy(&h);

    /* lines: dropped ones count too */
    static const char three[] = "Status: 200\nConnection: x\nX: 1\n\n";
    assert_int_equal(parse_cut(&h, S(three), 5, 0, 3, &used), CGI_HEAD_DONE);
    cgi_head_destroy(&h);
    assert_int_equal(parse_cut(&h, S(three), 5, 0, 2, &used),
                     CGI_HEAD_ERROR);
    assert_string_equal(cgi_head_error(&h), "more than 2 header lines");
    cgi_head_destroy(&h);

    /* defaults, and the cap on max_lines */
    cgi_head_init(&h, 0, 0);
    assert_int_equal(h.max_size, CGI_HEAD_DEFAULT_MAX_SIZE);
    assert_int_equal(h.max_lines, CGI_HEAD_DEFAULT_MAX_LINES);
    cgi_head_destroy(&h);
    cgi_head_init(&h, 1, 100000);
    assert_int_equal(h.max_lines, CGI_HEAD_MAX_LINES);
    cgi_head_destroy(&h);

    /* CGI_HEAD_MAX_LINES lines: the limit is reachable */
    for (int with_status = 0; with_status < 2; with_status++) {
        struct pr_buf b = PR_BUF_INIT;
        for (int i = 0; i < CGI_HEAD_MAX_LINES; i++) {
            char line[32];
            int n = with_status && i == 0
                        ? snprintf(line, sizeof(line), "Status: 200\n")
                        : snprintf(line, sizeof(line), "X-%d: %d\n", i, i);
            assert_int_equal(pr_buf_append(&b, line, (size_t)n), 0);
        }
        assert_int_equal(pr_buf_append(&b, "\n", 1), 0);
        cgi_head_init(&h, 65536, CGI_HEAD_MAX_LINES);
        if (with_status) {
            assert_int_equal(cgi_head_feed(&h, b.data, b.len, &used),
                             CGI_HEAD_DONE);
            assert_int_equal(h.n_headers, CGI_HEAD_MAX_LINES - 1);
            assert_header(&h, CGI_HEAD_MAX_LINES - 2, "X-255", "255");
        } else {
            assert_int_equal(cgi_head_feed(&h, b.data, b.len, &used),
                             CGI_HEAD_ERROR);
        }
        cgi_head_destroy(&h);
        pr_buf_free(&b);
    }
}

static void
test_finish(void **state)
{
    struct cgi_head h;
    size_t used;
    cgi_head_init(&h, 0, 0);
    assert_int_equal(cgi_head_finish(&h), -1);
    assert_string_equal(cgi_head_error(&h),
                        "the output ended before any response head");
    cgi_head_destroy(&h);

    cgi_head_init(&h, 0, 0);
    assert_int_equal(cgi_head_feed(&h, S("Status: 200\r\n\r"), &used),
                     CGI_HEAD_NEED_MORE);
    assert_int_equal(used, 14);
    assert_int_equal(cgi_head_finish(&h), -1);
    assert_string_equal(cgi_head_error(&h), "the output ended inside the "
                        "response head, after 14 bytes");
    assert_int_equal(cgi_head_feed(&h, S("\n"), &used), CGI_HEAD_ERROR);
    cgi_head_destroy(&h);

    /* an empty feed is harmless */
    cgi_head_init(&h, 0, 0);
    assert_int_equal(cgi_head_feed(&h, NULL, 0, &used), CGI_HEAD_NEED_MORE);
    assert_int_equal(used, 0);
    cgi_head_destroy(&h);
}

/* A rich head, cut at every offset and fed one byte at a time: the same
 * result each time. */
static void
test_split_everywhere(void **state)
{
    static const char v[] = "Status: 302 Found\r\n"
                            "Location: https://example.com/a\r\n"
                            "Content-Type: text/html\n"
                            "Connection: close\r\n"
                            "X-Multi: one\r\n"
                            "X-Multi: two\r\n"
                            "Content-Length: 7\r\n"
                            "\r\n"
                            "<html>\n";
    size_t head = sizeof(v) - 1 - 7;
    for (size_t cut = 0; cut <= sizeof(v) - 1; cut++) {
        struct cgi_head h;
        size_t used;
        assert_int_equal(parse_cut(&h, S(v), cut, 0, 0, &used),
                         CGI_HEAD_DONE);
        assert_int_equal(used, head);
        assert_int_equal(h.head_len, head);
        assert_int_equal(h.status, 302);
        assert_slice(h.reason, "Found");
        assert_slice(h.location, "https://example.com/a");
        assert_int_equal(h.dropped, 1);
        assert_int_equal(h.n_headers, 5);
        assert_header(&h, 0, "Location", "https://example.com/a");
        assert_header(&h, 1, "Content-Type", "text/html");
        assert_header(&h, 2, "X-Multi", "one");
        assert_header(&h, 3, "X-Multi", "two");
        assert_header(&h, 4, "Content-Length", "7");
        assert_int_equal(h.content_length, 7);
        cgi_head_destroy(&h);
    }

    struct cgi_head h;
    cgi_head_init(&h, 0, 0);
    size_t total = 0;
    enum cgi_head_status st = CGI_HEAD_NEED_MORE;
    for (size_t i = 0; i < sizeof(v) - 1; i++) {
        size_t used;
        st = cgi_head_feed(&h, (const uint8_t *)v + i, 1, &used);
        total += used;
        if (i < head - 1)
            assert_int_equal(st, CGI_HEAD_NEED_MORE);
        else
            assert_int_equal(st, CGI_HEAD_DONE);
    }
    assert_int_equal(total, head);
    assert_int_equal(h.n_headers, 5);
    cgi_head_destroy(&h);
}

/* The way FastCGI uses it: STDOUT spans from fcgi_codec, the head split
 * across records, the body starting inside the second record. */
static void
test_fed_from_fastcgi_spans(void **state)
{
    static const uint8_t records[] = {
        0x01, 0x06, 0x00, 0x01, 0x00, 0x0a, 0x06, 0x00,
        'S', 't', 'a', 't', 'u', 's', ':', ' ', '2', '0',
        0, 0, 0, 0, 0, 0,
        0x01, 0x06, 0x00, 0x01, 0x00, 0x13, 0x00, 0x00,
        '1', '\r', '\n', 'X', ':', ' ', 'y', '\r', '\n', '\r', '\n',
        'b', 'o', 'd', 'y', '.', '.', '.', '\n',
        0x01, 0x06, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x03, 0x00, 0x01, 0x00, 0x08, 0x00, 0x00,
        0, 0, 0, 0, 0, 0, 0, 0,
    };
    for (size_t cut = 0; cut <= sizeof(records); cut++) {
        struct fcgi_decoder d;
        fcgi_decoder_init(&d, 1);
        struct cgi_head h;
        cgi_head_init(&h, 0, 0);
        char body[32];
        size_t body_len = 0;
        bool in_body = false, ended = false;
        size_t bounds[3] = { 0, cut, sizeof(records) };
        for (int i = 0; i < 2; i++) {
            const uint8_t *p = records + bounds[i];
            size_t len = bounds[i + 1] - bounds[i], pos = 0;
            for (;;) {
                size_t used;
                struct fcgi_event ev;
                enum fcgi_decoder_status st =
                    fcgi_decoder_feed(&d, p + pos, len - pos, &used, &ev);
                assert_int_not_equal(st, FCGI_DEC_ERROR);
                pos += used;
                if (st == FCGI_DEC_NEED_MORE)
                    break;
                if (st == FCGI_DEC_END_REQUEST)
                    ended = true;
                if (st != FCGI_DEC_STDOUT)
                    continue;
                struct pr_slice span = ev.data;
                if (!in_body) {
                    size_t head;
                    enum cgi_head_status hs =
                        cgi_head_feed(&h, span.data, span.len, &head);
                    assert_int_not_equal(hs, CGI_HEAD_ERROR);
                    in_body = hs == CGI_HEAD_DONE;
                    span.data += head;
                    span.len -= head;
                }
                assert_true(body_len + span.len <= sizeof(body));
                if (span.len > 0)
                    memcpy(body + body_len, span.data, span.len);
                body_len += span.len;
            }
        }
        assert_int_equal(fcgi_decoder_finish(&d), 0);
        assert_true(ended && in_body);
        assert_int_equal(h.status, 201);
        assert_int_equal(h.head_len, 21);
        assert_int_equal(h.n_headers, 1);
        assert_header(&h, 0, "X", "y");
        assert_int_equal(body_len, 8);
        assert_memory_equal(body, "body...\n", 8);
        cgi_head_destroy(&h);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_and_headers_crlf),
        cmocka_unit_test(test_bare_lf),
        cmocka_unit_test(test_redirects),
        cmocka_unit_test(test_status_forms),
        cmocka_unit_test(test_hop_by_hop_and_length),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_finish),
        cmocka_unit_test(test_split_everywhere),
        cmocka_unit_test(test_fed_from_fastcgi_spans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
