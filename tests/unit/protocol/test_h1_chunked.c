/* Unit tests for protocol/h1_chunked: the chunked decoder (RFC 9112 §7.1)
 * and the chunk-header encoder.  Every vector is decoded whole and then
 * in pieces of every size from 1 byte up, and must give the same data,
 * the same end and the same error.  Rejection vectors run as their own
 * test cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "h1_chunked.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct decoded {
    enum h1_chunked_status st;  /* END, ERROR or NEED_MORE */
    size_t used;                /* bytes consumed up to END */
    uint8_t data[2048];
    size_t data_len;
    uint64_t total;
    size_t trailer_fields;
    char error[96];
};

/* Decode in[0..len) in pieces of `piece` bytes (0: all at once). */
static void
decode(const uint8_t *in, size_t len, size_t piece, size_t max_ext,
       size_t max_trailer, struct decoded *d)
{
    struct h1_chunked c;
    h1_chunked_init(&c, max_ext, max_trailer);
    memset(d, 0, sizeof(*d));
    size_t pos = 0, avail = 0;
    d->st = H1_CHUNKED_NEED_MORE;
    for (;;) {
        if (pos == avail) {
            /* Everything given was consumed: more bytes arrive. */
            if (avail == len)
                break;
            avail = (piece == 0 || len - avail < piece) ? len : avail + piece;
        }
        size_t used = 0;
        struct pr_slice out = { NULL, 0 };
        enum h1_chunked_status st =
            h1_chunked_feed(&c, in + pos, avail - pos, &used, &out);
        if (st == H1_CHUNKED_ERROR) {
            d->st = st;
            snprintf(d->error, sizeof(d->error), "%s", h1_chunked_error(&c));
            assert_true(d->error[0] != '\0');
            return;
        }
        assert_true(used <= avail - pos);
        if (st == H1_CHUNKED_DATA) {
            /* Zero copy: the span lies inside what was fed, at its end. */
            assert_true(out.len > 0);
            assert_true(out.data >= in + pos);
            assert_ptr_equal(out.data + out.len, in + pos + used);
            assert_true(d->data_len + out.len <= sizeof(d->data));
            memcpy(d->data + d->data_len, out.data, out.len);
            d->data_len += out.len;
        } else if (st == H1_CHUNKED_NEED_MORE) {
            assert_int_equal(used, avail - pos);
            assert_null(out.data);
        }
        pos += used;
        if (st == H1_CHUNKED_END) {
            d->st = st;
            d->used = pos;
            d->total = c.total;
            d->trailer_fields = c.trailer_fields;
            /* Further calls: END, nothing consumed. */
            assert_int_equal(h1_chunked_feed(&c, in + pos, len - pos, &used,
                                             &out),
                             H1_CHUNKED_END);
            assert_int_equal(used, 0);
            return;
        }
    }
    d->total = c.total;
}

/* Decode whole and in every piece size; all must agree.  Returns the
 * whole result in *d. */
static void
decode_all_ways(const uint8_t *in, size_t len, size_t max_ext,
                size_t max_trailer, struct decoded *d)
{
    decode(in, len, 0, max_ext, max_trailer, d);
    for (size_t piece = 1; piece <= len; piece++) {
        struct decoded p;
        decode(in, len, piece, max_ext, max_trailer, &p);
        if (p.st != d->st || p.used != d->used ||
            p.data_len != d->data_len ||
            memcmp(p.data, d->data, d->data_len) != 0 ||
            strcmp(p.error, d->error) != 0) {
            print_error("piece %zu: st %d/%d used %zu/%zu '%s'/'%s'\n",
                        piece, p.st, d->st, p.used, d->used, p.error,
                        d->error);
            fail();
        }
    }
}

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

static void
expect_body(const uint8_t *in, size_t len, const char *body, size_t used)
{
    struct decoded d;
    decode_all_ways(in, len, 0, 0, &d);
    if (d.st != H1_CHUNKED_END) {
        print_error("expected END, got %d '%s'\n", d.st, d.error);
        fail();
    }
    assert_int_equal(d.used, used);
    assert_int_equal(d.data_len, strlen(body));
    assert_memory_equal(d.data, body, d.data_len);
    assert_int_equal(d.total, d.data_len);
}

static void
test_one_chunk(void **state)
{
    static const char in[] = "5\r\nhello\r\n0\r\n\r\n";
    expect_body(S(in), "hello", sizeof(in) - 1);
}

static void
test_several_chunks(void **state)
{
    static const char in[] = "3\r\nabc\r\nA\r\n0123456789\r\n"
                             "a\r\nABCDEFGHIJ\r\n1\r\n\n\r\n0\r\n\r\n";
    expect_body(S(in), "abc0123456789ABCDEFGHIJ\n", sizeof(in) - 1);
}

static void
test_empty_body(void **state)
{
    static const char in[] = "0\r\n\r\n";
    expect_body(S(in), "", sizeof(in) - 1);
    static const char zeros[] = "000\r\n\r\n";
    expect_body(S(zeros), "", sizeof(zeros) - 1);
}

static void
test_leading_zeros_and_case(void **state)
{
    static const char in[] = "0005\r\nhello\r\n00B\r\nhello world\r\n"
                             "0\r\n\r\n";
    expect_body(S(in), "hellohello world", sizeof(in) - 1);
}

static void
test_extensions(void **state)
{
    static const char in[] =
        "5;name=value\r\nhello\r\n"
        "1 ; a = b ;c=\"q \\\" \\\\ x\";flag\t;d=\"\"\r\n!\r\n"
        "0;last\r\n\r\n";
    expect_body(S(in), "hello!", sizeof(in) - 1);
}

static void
test_trailers(void **state)
{
    static const char in[] = "2\r\nhi\r\n0\r\nX-Sum: abc\r\nY:\r\n"
                             "Z: \xc3\xa9 \t v\r\n\r\n";
    struct decoded d;
    expect_body(S(in), "hi", sizeof(in) - 1);
    decode(S(in), 0, 0, 0, &d);
    assert_int_equal(d.trailer_fields, 3);
}

static void
test_next_request_not_consumed(void **state)
{
    static const char in[] = "1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    expect_body(S(in), "x", sizeof(in) - 1 - 16);
}

static void
test_largest_size(void **state)
{
    /* 2^63-1 with 16 digits is accepted: data follows. */
    static const char in[] = "7fffffffffffffff\r\nabc";
    struct h1_chunked c;
    h1_chunked_init(&c, 0, 0);
    size_t used;
    struct pr_slice out;
    assert_int_equal(h1_chunked_feed(&c, S(in), &used, &out),
                     H1_CHUNKED_DATA);
    assert_int_equal(used, sizeof(in) - 1);
    assert_int_equal(out.len, 3);
    assert_int_equal(c.remaining, (uint64_t)INT64_MAX - 3);
    assert_int_equal(c.total, 3);
}

static void
test_data_then_need_more(void **state)
{
    static const char in[] = "a\r\n01234";
    struct h1_chunked c;
    h1_chunked_init(&c, 0, 0);
    size_t used;
    struct pr_slice out = { NULL, 0 };
    assert_int_equal(h1_chunked_feed(&c, S(in), &used, &out),
                     H1_CHUNKED_DATA);
    assert_ptr_equal(out.data, (const uint8_t *)in + 3);
    assert_int_equal(out.len, 5);
    assert_int_equal(used, sizeof(in) - 1);
    assert_int_equal(h1_chunked_feed(&c, NULL, 0, &used, &out),
                     H1_CHUNKED_NEED_MORE);
    assert_int_equal(used, 0);
}

static void
test_error_is_sticky(void **state)
{
    struct h1_chunked c;
    h1_chunked_init(&c, 0, 0);
    size_t used;
    struct pr_slice out;
    assert_int_equal(h1_chunked_feed(&c, S("g\r\n"), &used, &out),
                     H1_CHUNKED_ERROR);
    assert_int_equal(h1_chunked_feed(&c, S("0\r\n\r\n"), &used, &out),
                     H1_CHUNKED_ERROR);
    assert_string_equal(h1_chunked_error(&c),
                        "invalid byte 0x67 in a chunk size");
}

static void
test_extension_limit(void **state)
{
    /* The extension is everything between the size and the CRLF. */
    static const char ok[] = "1;abcdefg\r\nx\r\n0\r\n\r\n";     /* 8 */
    static const char over[] = "1;abcdefgh\r\nx\r\n0\r\n\r\n";  /* 9 */
    struct decoded d;
    decode_all_ways(S(ok), 8, 0, &d);
    assert_int_equal(d.st, H1_CHUNKED_END);
    decode_all_ways(S(over), 8, 0, &d);
    assert_int_equal(d.st, H1_CHUNKED_ERROR);
    assert_string_equal(d.error, "chunk extension longer than 8 bytes");
    /* The default: 1024. */
    char big[1100];
    big[0] = '1';
    big[1] = ';';
    memset(big + 2, 'e', 1023);
    memcpy(big + 1025, "\r\nx\r\n0\r\n\r\n", 10);
    decode((uint8_t *)big, 1035, 0, 0, 0, &d);
    assert_int_equal(d.st, H1_CHUNKED_END);
    big[1025] = 'e';
    memcpy(big + 1026, "\r\nx\r\n0\r\n\r\n", 10);
    decode((uint8_t *)big, 1036, 0, 0, 0, &d);
    assert_int_equal(d.st, H1_CHUNKED_ERROR);
    assert_string_equal(d.error, "chunk extension longer than 1024 bytes");
}

static void
test_trailer_limit(void **state)
{
    /* Trailer bytes: from after "0\r\n" to the final CRLF included. */
    static const char ok[] = "0\r\nA: 12345\r\n\r\n";    /* 10 + 2 */
    static const char over[] = "0\r\nA: 123456\r\n\r\n"; /* 13 */
    struct decoded d;
    decode_all_ways(S(ok), 0, 12, &d);
    assert_int_equal(d.st, H1_CHUNKED_END);
    decode_all_ways(S(over), 0, 12, &d);
    assert_int_equal(d.st, H1_CHUNKED_ERROR);
    assert_string_equal(d.error, "trailer section longer than 12 bytes");
}

/* ---- rejections -------------------------------------------------------- */

struct reject {
    const char *name;
    const char *in;
    size_t len;
    const char *msg;
};

static struct reject rejects[] = {
    { "empty size", "\r\n", 0, "missing chunk size" },
    { "bare LF as size", "\n", 0, "missing chunk size" },
    { "non-hex size", "g\r\n", 0, "invalid byte 0x67 in a chunk size" },
    { "negative size", "-5\r\nhello\r\n0\r\n\r\n", 0,
      "invalid byte 0x2d in a chunk size" },
    { "plus size", "+5\r\nhello\r\n0\r\n\r\n", 0,
      "invalid byte 0x2b in a chunk size" },
    { "0x prefix", "0x5\r\nhello\r\n0\r\n\r\n", 0,
      "invalid byte 0x78 in a chunk size" },
    { "space before size", " 5\r\nhello\r\n0\r\n\r\n", 0,
      "invalid byte 0x20 in a chunk size" },
    { "whitespace after size", "5 \r\nhello\r\n0\r\n\r\n", 0,
      "whitespace after a chunk size" },
    { "tab after size", "5\t\r\nhello\r\n0\r\n\r\n", 0,
      "whitespace after a chunk size" },
    { "junk after size", "5 x\r\nhello\r\n0\r\n\r\n", 0,
      "invalid byte 0x78 in a chunk line" },
    { "17 digits", "00000000000000005\r\nhello\r\n0\r\n\r\n", 0,
      "chunk size with more than 16 hex digits" },
    { "2^63", "8000000000000000\r\n", 0, "chunk size over 2^63-1" },
    { "2^64-1", "ffffffffffffffff\r\n", 0, "chunk size over 2^63-1" },
    { "2^64 wraps to 0", "10000000000000000\r\n\r\n", 0,
      "chunk size with more than 16 hex digits" },
    { "bare LF after size", "5\nhello\r\n0\r\n\r\n", 0,
      "bare LF in a chunk size" },
    { "CR without LF after size", "5\rhello\r\n0\r\n\r\n", 0,
      "CR not followed by LF in a chunk line" },
    { "bare LF after data", "5\r\nhello\n0\r\n\r\n", 0,
      "bare LF after chunk data" },
    { "data longer than size", "5\r\nhello!\r\n0\r\n\r\n", 0,
      "chunk data longer than its size" },
    { "CR without LF after data", "5\r\nhello\r0\r\n\r\n", 0,
      "CR not followed by LF after chunk data" },
    { "no CRLF after data", "3\r\nabc0\r\n\r\n", 0,
      "chunk data longer than its size" },
    { "empty extension", "5;\r\nhello\r\n0\r\n\r\n", 0,
      "invalid byte 0x0d in a chunk extension name" },
    { "extension without value", "5;a=\r\nhello\r\n0\r\n\r\n", 0,
      "invalid byte 0x0d in a chunk extension value" },
    { "extension bare LF", "2;a\nxx\r\n0\r\n\r\n", 0,
      "bare LF in a chunk extension name" },
    { "extension bare LF after value", "2;a=b\nxx\r\n0\r\n\r\n", 0,
      "bare LF in a chunk extension value" },
    { "extension NUL", "2;a\0\r\nxx\r\n0\r\n\r\n",
      sizeof("2;a\0\r\nxx\r\n0\r\n\r\n") - 1,
      "invalid byte 0x00 in a chunk extension name" },
    { "extension unterminated quote", "2;a=\"b\r\nxx\r\n0\r\n\r\n", 0,
      "invalid byte 0x0d in a quoted chunk extension value" },
    { "extension junk after quote", "2;a=\"b\"c\r\nxx\r\n0\r\n\r\n", 0,
      "invalid byte 0x63 in a chunk extension" },
    { "extension bad name", "2;(a)\r\nxx\r\n0\r\n\r\n", 0,
      "invalid byte 0x28 in a chunk extension name" },
    { "extension two names", "2;a b\r\nxx\r\n0\r\n\r\n", 0,
      "invalid byte 0x62 in a chunk extension" },
    { "trailer obs-fold", "0\r\nX: a\r\n b\r\n\r\n", 0,
      "obsolete line folding in the trailer section" },
    { "trailer space before colon", "0\r\nX : a\r\n\r\n", 0,
      "whitespace before the colon in a trailer field" },
    { "trailer empty name", "0\r\n: a\r\n\r\n", 0,
      "empty trailer field name" },
    { "trailer no colon", "0\r\nXa\r\n\r\n", 0,
      "invalid byte 0x0d in a trailer field name" },
    { "trailer bare LF", "0\r\nX: a\n\r\n", 0,
      "bare LF in a trailer field value" },
    { "trailer NUL", "0\r\nX: a\0\r\n\r\n", sizeof("0\r\nX: a\0\r\n\r\n") - 1,
      "invalid byte 0x00 in a trailer field value" },
    { "trailer CR without LF", "0\r\nX: a\rb\r\n\r\n", 0,
      "CR not followed by LF in the trailer section" },
    { "end bare LF", "0\r\n\n", 0, "bare LF in the trailer section" },
    { "end CR without LF", "0\r\n\rX", 0,
      "CR not followed by LF at the end of the chunked body" },
    { "last chunk bare LF", "0\n\r\n", 0, "bare LF in a chunk size" },
};

static void
test_reject(void **state)
{
    const struct reject *v = *state;
    size_t len = v->len ? v->len : strlen(v->in);
    struct decoded d;
    decode_all_ways((const uint8_t *)v->in, len, 0, 0, &d);
    if (d.st != H1_CHUNKED_ERROR || strcmp(d.error, v->msg) != 0) {
        print_error("expected '%s', got %d '%s'\n", v->msg, d.st, d.error);
        fail();
    }
}

/* ---- encoder ----------------------------------------------------------- */

static void
test_chunk_header(void **state)
{
    uint8_t out[H1_CHUNK_HEADER_MAX];
    assert_int_equal(h1_chunk_header(out, 0), 0);
    assert_int_equal(h1_chunk_header(out, 1), 3);
    assert_memory_equal(out, "1\r\n", 3);
    assert_int_equal(h1_chunk_header(out, 255), 4);
    assert_memory_equal(out, "ff\r\n", 4);
    assert_int_equal(h1_chunk_header(out, 4096), 6);
    assert_memory_equal(out, "1000\r\n", 6);
    assert_int_equal(h1_chunk_header(out, UINT64_MAX), 18);
    assert_memory_equal(out, "ffffffffffffffff\r\n", 18);
    assert_string_equal(H1_CHUNK_LAST, "0\r\n\r\n");
    assert_string_equal(H1_CHUNK_DATA_END, "\r\n");
}

static void
test_encode_decode_round_trip(void **state)
{
    static const size_t sizes[] = { 1, 15, 16, 17, 100, 255, 256 };
    uint8_t buf[4096];
    char body[1024];
    size_t len = 0, blen = 0;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        len += h1_chunk_header(buf + len, sizes[i]);
        for (size_t k = 0; k < sizes[i]; k++) {
            char ch = (char)('a' + (blen + k) % 26);
            body[blen + k] = ch;
            buf[len + k] = (uint8_t)ch;
        }
        blen += sizes[i];
        len += sizes[i];
        memcpy(buf + len, H1_CHUNK_DATA_END, 2);
        len += 2;
    }
    memcpy(buf + len, H1_CHUNK_LAST, 5);
    len += 5;
    body[blen] = '\0';
    struct decoded d;
    decode(buf, len, 0, 0, 0, &d);
    assert_int_equal(d.st, H1_CHUNKED_END);
    assert_int_equal(d.used, len);
    assert_int_equal(d.data_len, blen);
    assert_memory_equal(d.data, body, blen);
    decode(buf, len, 7, 0, 0, &d);
    assert_int_equal(d.st, H1_CHUNKED_END);
    assert_int_equal(d.data_len, blen);
}

int
main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_one_chunk),
        cmocka_unit_test(test_several_chunks),
        cmocka_unit_test(test_empty_body),
        cmocka_unit_test(test_leading_zeros_and_case),
        cmocka_unit_test(test_extensions),
        cmocka_unit_test(test_trailers),
        cmocka_unit_test(test_next_request_not_consumed),
        cmocka_unit_test(test_largest_size),
        cmocka_unit_test(test_data_then_need_more),
        cmocka_unit_test(test_error_is_sticky),
        cmocka_unit_test(test_extension_limit),
        cmocka_unit_test(test_trailer_limit),
        cmocka_unit_test(test_chunk_header),
        cmocka_unit_test(test_encode_decode_round_trip),
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
    int rc = _cmocka_run_group_tests("h1_chunked", all, nfixed + nrej, NULL,
                                     NULL);
    free(all);
    return rc;
}
