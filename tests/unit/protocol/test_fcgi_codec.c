/* Unit tests for protocol/fcgi_codec: FastCGI 1.0 records.  The vectors
 * are written out byte by byte from the FastCGI specification (8-byte
 * header: version, type, request id BE, content length BE, padding
 * length, reserved). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fcgi_codec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct fcgi_pair
pair(const char *name, const char *value)
{
    return (struct fcgi_pair){
        { (const uint8_t *)name, strlen(name) },
        { (const uint8_t *)value, strlen(value) },
    };
}

static void
assert_buf(const struct pr_buf *b, const uint8_t *want, size_t len)
{
    assert_int_equal(b->len, len);
    assert_memory_equal(b->data, want, len);
}

/* ------------------------------------------------------------------ */
/* Encoders                                                            */

static void
test_type_names(void **state)
{
    assert_string_equal(fcgi_type_name(1), "BEGIN_REQUEST");
    assert_string_equal(fcgi_type_name(6), "STDOUT");
    assert_string_equal(fcgi_type_name(11), "UNKNOWN_TYPE");
    assert_string_equal(fcgi_type_name(0), "?");
    assert_string_equal(fcgi_type_name(12), "?");
    assert_string_equal(fcgi_type_name(255), "?");
    assert_int_equal(FCGI_GET_VALUES_RESULT, 10);
}

static void
test_encode_begin_request(void **state)
{
    static const uint8_t want[] = {
        0x01, 0x01, 0x00, 0x01, 0x00, 0x08, 0x00, 0x00,
        0x00, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00,
        /* id 0x1234, AUTHORIZER, no flags */
        0x01, 0x01, 0x12, 0x34, 0x00, 0x08, 0x00, 0x00,
        0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    struct pr_buf b = PR_BUF_INIT;
    assert_int_equal(fcgi_append_begin_request(&b, 1, FCGI_RESPONDER,
                                               FCGI_KEEP_CONN), 0);
    assert_int_equal(fcgi_append_begin_request(&b, 0x1234, FCGI_AUTHORIZER,
                                               0), 0);
    assert_buf(&b, want, sizeof(want));
    assert_int_equal(fcgi_append_begin_request(&b, 0, FCGI_RESPONDER, 0),
                     -EINVAL);
    assert_int_equal(b.len, sizeof(want));
    pr_buf_free(&b);
}

static void
test_encode_params(void **state)
{
    static const uint8_t want[] = {
        0x01, 0x04, 0x00, 0x01, 0x00, 0x0f, 0x00, 0x00,
        0x0b, 0x02, 'S', 'C', 'R', 'I', 'P', 'T', '_', 'N', 'A', 'M', 'E',
        '/', 'x',
        0x01, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    };
    struct pr_buf b = PR_BUF_INIT;
    struct fcgi_pair p = pair("SCRIPT_NAME", "/x");
    assert_int_equal(fcgi_append_pairs(&b, FCGI_PARAMS, 1, &p, 1, 0), 0);
    assert_buf(&b, want, sizeof(want));
    pr_buf_free(&b);

    /* the same, padded: 15 content bytes + 1 */
    static const uint8_t padded[] = {
        0x01, 0x04, 0x00, 0x01, 0x00, 0x0f, 0x01, 0x00,
        0x0b, 0x02, 'S', 'C', 'R', 'I', 'P', 'T', '_', 'N', 'A', 'M', 'E',
        '/', 'x', 0x00,
        0x01, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    };
    assert_int_equal(fcgi_append_pairs(&b, FCGI_PARAMS, 1, &p, 1,
                                       FCGI_ENC_PAD), 0);
    assert_buf(&b, padded, sizeof(padded));
    pr_buf_free(&b);

    /* no pairs: only the terminator */
    static const uint8_t term[] = { 0x01, 0x04, 0x00, 0x07, 0, 0, 0, 0 };
    assert_int_equal(fcgi_append_pairs(&b, FCGI_PARAMS, 7, NULL, 0, 0), 0);
    assert_buf(&b, term, sizeof(term));
    assert_int_equal(fcgi_append_pairs(&b, FCGI_STDIN, 7, NULL, 0, 0),
                     -EINVAL);
    assert_buf(&b, term, sizeof(term));
    pr_buf_free(&b);
}

/* Lengths of 127 use one byte, 128 and more four with the high bit. */
static void
test_encode_nv_lengths(void **state)
{
    char name[128], value[300];
    memset(name, 'n', sizeof(name));
    memset(value, 'v', sizeof(value));
    struct pr_buf b = PR_BUF_INIT;

    assert_int_equal(fcgi_nv_append(&b, name, 127, value, 0), 0);
    assert_int_equal(b.len, 1 + 1 + 127);
    assert_int_equal(b.data[0], 0x7f);
    assert_int_equal(b.data[1], 0x00);
    b.len = 0;

    assert_int_equal(fcgi_nv_append(&b, name, 128, value, 300), 0);
    static const uint8_t head[] = { 0x80, 0x00, 0x00, 0x80,
                                    0x80, 0x00, 0x01, 0x2c };
    assert_int_equal(b.len, 8 + 128 + 300);
    assert_memory_equal(b.data, head, sizeof(head));
    assert_memory_equal(b.data + 8, name, 128);
    assert_memory_equal(b.data + 136, value, 300);
    b.len = 0;

    assert_int_equal(fcgi_nv_append(&b, "A", 1, value, 200), 0);
    static const uint8_t head2[] = { 0x01, 0x80, 0x00, 0x00, 0xc8, 'A' };
    assert_memory_equal(b.data, head2, sizeof(head2));
    b.len = 0;

    /* over 31 bits: refused before any byte is read */
    assert_int_equal(fcgi_nv_append(&b, name, 0x80000000u, value, 0),
                     -EMSGSIZE);
    assert_int_equal(fcgi_nv_append(&b, name, 1, value, 0x80000000u),
                     -EMSGSIZE);
    assert_int_equal(b.len, 0);
    pr_buf_free(&b);
}

static void
test_encode_get_values(void **state)
{
    struct fcgi_pair p[] = { pair("FCGI_MAX_CONNS", ""),
                             pair("FCGI_MAX_REQS", ""),
                             pair("FCGI_MPXS_CONNS", "") };
    struct pr_buf b = PR_BUF_INIT;
    assert_int_equal(fcgi_append_pairs(&b, FCGI_GET_VALUES, 0, p, 3, 0), 0);
    static const uint8_t want[] = {
        0x01, 0x09, 0x00, 0x00, 0x00, 0x30, 0x00, 0x00,
        0x0e, 0x00, 'F', 'C', 'G', 'I', '_', 'M', 'A', 'X', '_',
        'C', 'O', 'N', 'N', 'S',
        0x0d, 0x00, 'F', 'C', 'G', 'I', '_', 'M', 'A', 'X', '_',
        'R', 'E', 'Q', 'S',
        0x0f, 0x00, 'F', 'C', 'G', 'I', '_', 'M', 'P', 'X', 'S', '_',
        'C', 'O', 'N', 'N', 'S',
    };
    assert_buf(&b, want, sizeof(want));

    /* GET_VALUES is one record: pairs beyond 65535 bytes are refused */
    static char big[70000];
    memset(big, 'x', sizeof(big));
    struct fcgi_pair huge = { { (const uint8_t *)big, sizeof(big) },
                              { NULL, 0 } };
    assert_int_equal(fcgi_append_pairs(&b, FCGI_GET_VALUES, 0, &huge, 1, 0),
                     -EMSGSIZE);
    assert_buf(&b, want, sizeof(want));
    pr_buf_free(&b);
}

static void
test_encode_stdin_split(void **state)
{
    size_t len = 65536;
    uint8_t *body = malloc(len);
    assert_non_null(body);
    for (size_t i = 0; i < len; i++)
        body[i] = (uint8_t)(i * 7);
    struct pr_buf b = PR_BUF_INIT;
    assert_int_equal(fcgi_append_stream(&b, FCGI_STDIN, 3, body, len, 0), 0);
    assert_int_equal(fcgi_append_stream_end(&b, FCGI_STDIN, 3), 0);
    static const uint8_t h1[] = { 1, 5, 0, 3, 0xff, 0xff, 0, 0 };
    static const uint8_t h2[] = { 1, 5, 0, 3, 0x00, 0x01, 0, 0 };
    static const uint8_t h3[] = { 1, 5, 0, 3, 0x00, 0x00, 0, 0 };
    assert_int_equal(b.len, 8 + 65535 + 8 + 1 + 8);
    assert_memory_equal(b.data, h1, 8);
    assert_memory_equal(b.data + 8, body, 65535);
    assert_memory_equal(b.data + 8 + 65535, h2, 8);
    assert_int_equal(b.data[16 + 65535], body[65535]);
    assert_memory_equal(b.data + 17 + 65535, h3, 8);
    b.len = 0;

    /* padded: 65535 + 1 padding, then 1 + 7 padding */
    assert_int_equal(fcgi_append_stream(&b, FCGI_STDIN, 3, body, len,
                                        FCGI_ENC_PAD), 0);
    static const uint8_t p1[] = { 1, 5, 0, 3, 0xff, 0xff, 1, 0 };
    static const uint8_t p2[] = { 1, 5, 0, 3, 0x00, 0x01, 7, 0 };
    assert_int_equal(b.len, 8 + 65536 + 8 + 8);
    assert_memory_equal(b.data, p1, 8);
    assert_memory_equal(b.data + 8 + 65536, p2, 8);
    assert_int_equal(b.len % 8, 0);
    b.len = 0;

    assert_int_equal(fcgi_append_stream(&b, FCGI_STDIN, 3, body, 0, 0), 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(fcgi_append_stream(&b, FCGI_BEGIN_REQUEST, 3, body, 1,
                                        0), -EINVAL);
    assert_int_equal(fcgi_append_stream_end(&b, FCGI_END_REQUEST, 3),
                     -EINVAL);
    assert_int_equal(fcgi_append_record(&b, FCGI_STDIN, 3, body, 65536, 0),
                     -EMSGSIZE);
    assert_int_equal(b.len, 0);
    pr_buf_free(&b);
    free(body);
}

/* PARAMS longer than one record: the pair straddles the boundary. */
static void
test_encode_params_split(void **state)
{
    static char value[70000];
    memset(value, 'v', sizeof(value));
    struct fcgi_pair p = { { (const uint8_t *)"X", 1 },
                           { (const uint8_t *)value, sizeof(value) } };
    struct pr_buf b = PR_BUF_INIT;
    assert_int_equal(fcgi_append_pairs(&b, FCGI_PARAMS, 9, &p, 1, 0), 0);
    size_t content = 1 + 4 + 1 + sizeof(value);
    assert_int_equal(b.len, 8 + 65535 + 8 + (content - 65535) + 8);
    static const uint8_t h1[] = { 1, 4, 0, 9, 0xff, 0xff, 0, 0,
                                  0x01, 0x80, 0x01, 0x11, 0x70, 'X' };
    assert_memory_equal(b.data, h1, sizeof(h1));
    const uint8_t *r2 = b.data + 8 + 65535;
    assert_int_equal(r2[0], 1);
    assert_int_equal(r2[1], FCGI_PARAMS);
    assert_int_equal(pr_load_be16(r2 + 4), content - 65535);
    static const uint8_t term[] = { 1, 4, 0, 9, 0, 0, 0, 0 };
    assert_memory_equal(b.data + b.len - 8, term, 8);
    pr_buf_free(&b);
}

static void
test_encode_end_and_abort(void **state)
{
    static const uint8_t want[] = {
        0x01, 0x03, 0x00, 0x05, 0x00, 0x08, 0x00, 0x00,
        0x12, 0x34, 0x56, 0x78, 0x02, 0x00, 0x00, 0x00,
        0x01, 0x02, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00,
    };
    struct pr_buf b = PR_BUF_INIT;
    assert_int_equal(fcgi_append_end_request(&b, 5, 0x12345678,
                                             FCGI_OVERLOADED), 0);
    assert_int_equal(fcgi_append_abort_request(&b, 5), 0);
    assert_buf(&b, want, sizeof(want));
    assert_int_equal(fcgi_append_abort_request(&b, 0), -EINVAL);
    assert_buf(&b, want, sizeof(want));
    pr_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* Name-value pair decoder                                             */

static void
test_nv_decode(void **state)
{
    static const uint8_t v[] = {
        0x0e, 0x02, 'F', 'C', 'G', 'I', '_', 'M', 'A', 'X', '_',
        'C', 'O', 'N', 'N', 'S', '1', '0',
        /* a short length written with four bytes is accepted */
        0x80, 0x00, 0x00, 0x01, 0x00, 'A',
        0x00, 0x00,
    };
    size_t pos = 0;
    struct fcgi_pair p;
    char err[FCGI_ERROR_SIZE];
    assert_int_equal(fcgi_nv_next(v, sizeof(v), &pos, &p, err, sizeof(err)),
                     1);
    assert_int_equal(p.name.len, 14);
    assert_memory_equal(p.name.data, "FCGI_MAX_CONNS", 14);
    assert_ptr_equal(p.name.data, v + 2);
    assert_int_equal(p.value.len, 2);
    assert_memory_equal(p.value.data, "10", 2);
    assert_int_equal(pos, 18);
    assert_int_equal(fcgi_nv_next(v, sizeof(v), &pos, &p, err, sizeof(err)),
                     1);
    assert_int_equal(p.name.len, 1);
    assert_int_equal(p.name.data[0], 'A');
    assert_int_equal(p.value.len, 0);
    assert_int_equal(fcgi_nv_next(v, sizeof(v), &pos, &p, err, sizeof(err)),
                     1);
    assert_int_equal(p.name.len, 0);
    assert_int_equal(p.value.len, 0);
    assert_int_equal(fcgi_nv_next(v, sizeof(v), &pos, &p, err, sizeof(err)),
                     0);
    assert_string_equal(err, "");
    assert_int_equal(pos, sizeof(v));
}

static void
expect_nv_error(const uint8_t *v, size_t len, const char *msg)
{
    size_t pos = 0;
    struct fcgi_pair p;
    char err[FCGI_ERROR_SIZE];
    int r;
    while ((r = fcgi_nv_next(v, len, &pos, &p, err, sizeof(err))) == 1)
        ;
    assert_int_equal(r, -EBADMSG);
    assert_string_equal(err, msg);
    /* no buffer for the message: same result */
    pos = 0;
    while ((r = fcgi_nv_next(v, len, &pos, &p, NULL, 0)) == 1)
        ;
    assert_int_equal(r, -EBADMSG);
}

static void
test_nv_errors(void **state)
{
    static const uint8_t name_trunc[] = { 0x80, 0x00, 0x00 };
    expect_nv_error(name_trunc, sizeof(name_trunc),
                    "name-value pair at offset 0: name length truncated");
    static const uint8_t value_missing[] = { 0x01, 0x00, 'a', 0x05 };
    expect_nv_error(value_missing, sizeof(value_missing),
                    "name-value pair at offset 3: value length truncated");
    static const uint8_t value_trunc[] = { 0x01, 0x81, 0x00, 0x00 };
    expect_nv_error(value_trunc, sizeof(value_trunc),
                    "name-value pair at offset 0: value length truncated");
    static const uint8_t past_end[] = { 0x02, 0x03, 'a', 'b', 'c', 'd' };
    expect_nv_error(past_end, sizeof(past_end),
                    "name-value pair at offset 0: 2 name and 3 value bytes, "
                    "only 4 left");
    static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 0x00 };
    expect_nv_error(huge, sizeof(huge),
                    "name-value pair at offset 0: 2147483647 name and 0 "
                    "value bytes, only 0 left");
}

/* ------------------------------------------------------------------ */
/* Record decoder                                                      */

/* What a decoder run produced, flattened for comparison. */
struct run {
    char out[256];
    size_t out_len;
    char err[256];
    size_t err_len;
    char events[64];     /* one letter per event kind, in order */
    size_t n_events;
    uint32_t app_status;
    uint8_t protocol_status;
    uint8_t mgmt[64];
    size_t mgmt_len;
    enum fcgi_decoder_status last;
    char error[FCGI_ERROR_SIZE];
};

static void
event(struct run *r, char c)
{
    assert_true(r->n_events < sizeof(r->events) - 1);
    r->events[r->n_events++] = c;
}

/* Feed one piece completely (or up to an error); collect events.  When
 * `in_input` is set, spans must lie inside the piece (zero copy). */
static enum fcgi_decoder_status
feed_piece(struct fcgi_decoder *d, const uint8_t *data, size_t len,
           struct run *r)
{
    size_t pos = 0;
    for (;;) {
        size_t used = 9999;
        struct fcgi_event ev;
        enum fcgi_decoder_status st =
            fcgi_decoder_feed(d, data + pos, len - pos, &used, &ev);
        r->last = st;
        if (st == FCGI_DEC_ERROR)
            return st;
        assert_true(used <= len - pos);
        pos += used;
        switch (st) {
        case FCGI_DEC_STDOUT:
        case FCGI_DEC_STDERR:
            assert_true(ev.data.len > 0);
            /* zero copy: the span lies in the bytes just consumed */
            assert_true(ev.data.data >= data &&
                        ev.data.data + ev.data.len <= data + pos);
            if (st == FCGI_DEC_STDOUT) {
                assert_true(r->out_len + ev.data.len <= sizeof(r->out));
                memcpy(r->out + r->out_len, ev.data.data, ev.data.len);
                r->out_len += ev.data.len;
                if (r->n_events == 0 || r->events[r->n_events - 1] != 'o')
                    event(r, 'o');
            } else {
                assert_true(r->err_len + ev.data.len <= sizeof(r->err));
                memcpy(r->err + r->err_len, ev.data.data, ev.data.len);
                r->err_len += ev.data.len;
                if (r->n_events == 0 || r->events[r->n_events - 1] != 'e')
                    event(r, 'e');
            }
            break;
        case FCGI_DEC_STDOUT_END:
            event(r, 'O');
            break;
        case FCGI_DEC_STDERR_END:
            event(r, 'E');
            break;
        case FCGI_DEC_END_REQUEST:
            event(r, 'X');
            r->app_status = ev.app_status;
            r->protocol_status = ev.protocol_status;
            break;
        case FCGI_DEC_MANAGEMENT:
            event(r, ev.type == FCGI_GET_VALUES_RESULT ? 'G' : 'U');
            assert_true(ev.data.len <= sizeof(r->mgmt));
            memcpy(r->mgmt, ev.data.data, ev.data.len);
            r->mgmt_len = ev.data.len;
            break;
        case FCGI_DEC_NEED_MORE:
            assert_int_equal(pos, len);
            return st;
        default:
            fail();
        }
    }
}

/* Decode `v` in pieces cut at `cuts` (offsets, increasing); then finish. */
static int
decode_cut(const uint8_t *v, size_t len, uint16_t id, const size_t *cuts,
           size_t ncuts, struct run *r)
{
    memset(r, 0, sizeof(*r));
    struct fcgi_decoder d;
    fcgi_decoder_init(&d, id);
    size_t start = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        /* copy each piece so that spans cannot point at other pieces */
        uint8_t *piece = malloc(end - start + 1);
        assert_non_null(piece);
        memcpy(piece, v + start, end - start);
        enum fcgi_decoder_status st =
            feed_piece(&d, piece, end - start, r);
        free(piece);
        if (st == FCGI_DEC_ERROR) {
            snprintf(r->error, sizeof(r->error), "%s",
                     fcgi_decoder_error(&d));
            assert_int_equal(fcgi_decoder_finish(&d), -1);
            assert_string_equal(fcgi_decoder_error(&d), r->error);
            return -1;
        }
        start = end;
    }
    int f = fcgi_decoder_finish(&d);
    snprintf(r->error, sizeof(r->error), "%s", fcgi_decoder_error(&d));
    if (f == 0) {
        assert_true(fcgi_decoder_done(&d));
        assert_string_equal(r->error, "");
    }
    return f;
}

static int
decode(const uint8_t *v, size_t len, uint16_t id, struct run *r)
{
    return decode_cut(v, len, id, NULL, 0, r);
}

/* A typical answer: padded STDOUT, STDERR, both terminators, a
 * GET_VALUES_RESULT in between, END_REQUEST. */
static const uint8_t answer[] = {
    /* @0 STDOUT "hello" + 3 padding */
    0x01, 0x06, 0x00, 0x01, 0x00, 0x05, 0x03, 0x00,
    'h', 'e', 'l', 'l', 'o', 0x00, 0x00, 0x00,
    /* @16 STDERR "err" */
    0x01, 0x07, 0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 'e', 'r', 'r',
    /* @27 management: GET_VALUES_RESULT FCGI_MAX_REQS=1 + 1 padding */
    0x01, 0x0a, 0x00, 0x00, 0x00, 0x10, 0x01, 0x00,
    0x0d, 0x01, 'F', 'C', 'G', 'I', '_', 'M', 'A', 'X', '_',
    'R', 'E', 'Q', 'S', '1', 0xee,
    /* @52 STDOUT " world" */
    0x01, 0x06, 0x00, 0x01, 0x00, 0x06, 0x00, 0x00,
    ' ', 'w', 'o', 'r', 'l', 'd',
    /* @66 empty STDOUT with 2 padding bytes, empty STDERR */
    0x01, 0x06, 0x00, 0x01, 0x00, 0x00, 0x02, 0x00, 0xaa, 0xbb,
    0x01, 0x07, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    /* @84 END_REQUEST app 258, REQUEST_COMPLETE, 8 padding bytes */
    0x01, 0x03, 0x00, 0x01, 0x00, 0x08, 0x08, 0x00,
    0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00,
    0, 0, 0, 0, 0, 0, 0, 0,
};

static void
check_answer(const struct run *r)
{
    assert_int_equal(r->out_len, 11);
    assert_memory_equal(r->out, "hello world", 11);
    assert_int_equal(r->err_len, 3);
    assert_memory_equal(r->err, "err", 3);
    assert_string_equal(r->events, "oeGoOEX");
    assert_int_equal(r->app_status, 258);
    assert_int_equal(r->protocol_status, FCGI_REQUEST_COMPLETE);
    assert_int_equal(r->mgmt_len, 16);
    assert_memory_equal(r->mgmt, "\x0d\x01" "FCGI_MAX_REQS1", 16);
}

static void
test_decode_answer(void **state)
{
    struct run r;
    assert_int_equal(decode(answer, sizeof(answer), 1, &r), 0);
    check_answer(&r);

    /* whole in one input: STDOUT comes out as one span per record */
    struct fcgi_decoder d;
    fcgi_decoder_init(&d, 1);
    size_t used;
    struct fcgi_event ev;
    assert_int_equal(fcgi_decoder_feed(&d, answer, sizeof(answer), &used,
                                       &ev), FCGI_DEC_STDOUT);
    assert_int_equal(used, 13);
    assert_ptr_equal(ev.data.data, answer + 8);
    assert_int_equal(ev.data.len, 5);
    assert_int_equal(ev.type, FCGI_STDOUT);
    assert_false(fcgi_decoder_done(&d));
    assert_int_equal(d.stdout_bytes, 5);
}

static void
test_decode_split_everywhere(void **state)
{
    struct run r;
    for (size_t cut = 0; cut <= sizeof(answer); cut++) {
        assert_int_equal(decode_cut(answer, sizeof(answer), 1, &cut, 1, &r),
                         0);
        check_answer(&r);
    }
    /* two cuts, every pair */
    for (size_t a = 0; a <= sizeof(answer); a++)
        for (size_t b = a; b <= sizeof(answer); b++) {
            size_t cuts[] = { a, b };
            assert_int_equal(decode_cut(answer, sizeof(answer), 1, cuts, 2,
                                        &r), 0);
            check_answer(&r);
        }
    /* one byte at a time */
    size_t cuts[sizeof(answer)];
    for (size_t i = 0; i < sizeof(answer); i++)
        cuts[i] = i;
    assert_int_equal(decode_cut(answer, sizeof(answer), 1, cuts,
                                sizeof(answer), &r), 0);
    check_answer(&r);
}

/* The answer cut short anywhere: finish() names where it stopped. */
static void
test_decode_truncated_everywhere(void **state)
{
    struct run r;
    for (size_t len = 0; len < sizeof(answer); len++) {
        assert_int_equal(decode(answer, len, 1, &r), -1);
        assert_true(strncmp(r.error, "stream ended ", 13) == 0);
    }
    assert_int_equal(decode(answer, 0, 1, &r), -1);
    assert_string_equal(r.error, "stream ended before END_REQUEST");
    assert_int_equal(decode(answer, 3, 1, &r), -1);
    assert_string_equal(r.error, "stream ended after 3 of 8 header bytes");
    assert_int_equal(decode(answer, 10, 1, &r), -1);
    assert_string_equal(r.error,
                        "stream ended after 2 of 5 content bytes "
                        "(STDOUT record)");
    assert_int_equal(decode(answer, 14, 1, &r), -1);
    assert_string_equal(r.error,
                        "stream ended after 1 of 3 padding bytes "
                        "(STDOUT record)");
    assert_int_equal(decode(answer, 16, 1, &r), -1);
    assert_string_equal(r.error, "stream ended before END_REQUEST");
    assert_int_equal(decode(answer, 40, 1, &r), -1);
    assert_string_equal(r.error,
                        "stream ended after 5 of 16 content bytes "
                        "(GET_VALUES_RESULT record)");
    assert_int_equal(decode(answer, 96, 1, &r), -1);
    assert_string_equal(r.error,
                        "stream ended after 4 of 8 content bytes "
                        "(END_REQUEST record)");
    assert_int_equal(decode(answer, sizeof(answer) - 1, 1, &r), -1);
    assert_string_equal(r.error,
                        "stream ended after 7 of 8 padding bytes "
                        "(END_REQUEST record)");
}

static void
expect_error(const uint8_t *v, size_t len, uint16_t id, const char *msg)
{
    struct run r;
    assert_int_equal(decode(v, len, id, &r), -1);
    assert_int_equal(r.last, FCGI_DEC_ERROR);
    assert_string_equal(r.error, msg);
    /* the same error whatever the split */
    for (size_t cut = 0; cut <= len; cut++) {
        assert_int_equal(decode_cut(v, len, id, &cut, 1, &r), -1);
        assert_string_equal(r.error, msg);
    }
}

static void
test_decode_errors(void **state)
{
    static const uint8_t version[] = { 0x02, 0x06, 0x00, 0x01, 0, 0, 0, 0 };
    expect_error(version, sizeof(version), 1, "record version 2, expected 1");
    static const uint8_t version0[] = { 0x00, 0x06, 0x00, 0x01, 0, 0, 0, 0 };
    expect_error(version0, sizeof(version0), 1,
                 "record version 0, expected 1");

    static const uint8_t other_id[] = { 0x01, 0x06, 0x00, 0x02, 0, 1, 0, 0,
                                        'x' };
    expect_error(other_id, sizeof(other_id), 1,
                 "STDOUT record for request id 2, expected 1");
    static const uint8_t end_other[] = { 0x01, 0x03, 0x01, 0x00, 0, 8, 0, 0,
                                         0, 0, 0, 0, 0, 0, 0, 0 };
    expect_error(end_other, sizeof(end_other), 1,
                 "END_REQUEST record for request id 256, expected 1");
    static const uint8_t stderr0[] = { 0x01, 0x07, 0x00, 0x00, 0, 0, 0, 0 };
    expect_error(stderr0, sizeof(stderr0), 1,
                 "STDERR record for request id 0, expected 1");
    static const uint8_t gvr_id[] = { 0x01, 0x0a, 0x00, 0x01, 0, 0, 0, 0 };
    expect_error(gvr_id, sizeof(gvr_id), 1,
                 "GET_VALUES_RESULT record for request id 1, expected 0");

    static const uint8_t type0[] = { 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0 };
    expect_error(type0, sizeof(type0), 1, "unknown record type 0");
    static const uint8_t type12[] = { 0x01, 0x0c, 0x00, 0x01, 0, 0, 0, 0 };
    expect_error(type12, sizeof(type12), 1, "unknown record type 12");
    static const uint8_t type255[] = { 0x01, 0xff, 0x00, 0x01, 0, 0, 0, 0 };
    expect_error(type255, sizeof(type255), 1, "unknown record type 255");

    static const char *const from_app[] = {
        NULL, "BEGIN_REQUEST", "ABORT_REQUEST", NULL, "PARAMS", "STDIN",
        NULL, NULL, "DATA", "GET_VALUES",
    };
    for (uint8_t t = 1; t < ARRAY_SIZE(from_app); t++) {
        if (from_app[t] == NULL)
            continue;
        uint8_t v[] = { 0x01, t, 0x00, 0x01, 0, 0, 0, 0 };
        char msg[64];
        snprintf(msg, sizeof(msg), "%s record from the application",
                 from_app[t]);
        expect_error(v, sizeof(v), 1, msg);
    }

    static const uint8_t end9[] = { 0x01, 0x03, 0x00, 0x01, 0, 9, 0, 0 };
    expect_error(end9, sizeof(end9), 1,
                 "END_REQUEST record with 9 content bytes, expected 8");
    static const uint8_t end0[] = { 0x01, 0x03, 0x00, 0x01, 0, 0, 0, 0 };
    expect_error(end0, sizeof(end0), 1,
                 "END_REQUEST record with 0 content bytes, expected 8");
    static const uint8_t unk7[] = { 0x01, 0x0b, 0x00, 0x00, 0, 7, 0, 0 };
    expect_error(unk7, sizeof(unk7), 1,
                 "UNKNOWN_TYPE record with 7 content bytes, expected 8");
    static const uint8_t gvr_big[] = { 0x01, 0x0a, 0x00, 0x00, 0x04, 0x01,
                                       0, 0 };
    expect_error(gvr_big, sizeof(gvr_big), 1,
                 "GET_VALUES_RESULT record of 1025 content bytes over the "
                 "limit of 1024");

    static const uint8_t after_end[] = {
        0x01, 0x06, 0x00, 0x01, 0, 0, 0, 0,
        0x01, 0x06, 0x00, 0x01, 0, 1, 0, 0, 'x',
    };
    expect_error(after_end, sizeof(after_end), 1,
                 "STDOUT record after the end of STDOUT");
    static const uint8_t stderr_twice[] = {
        0x01, 0x07, 0x00, 0x01, 0, 0, 0, 0,
        0x01, 0x07, 0x00, 0x01, 0, 0, 0, 0,
    };
    expect_error(stderr_twice, sizeof(stderr_twice), 1,
                 "STDERR record after the end of STDERR");

    static const uint8_t trailing[] = {
        0x01, 0x03, 0x00, 0x01, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
    };
    struct run r;
    assert_int_equal(decode(trailing, sizeof(trailing), 1, &r), -1);
    assert_string_equal(r.error, "data after END_REQUEST");
    assert_string_equal(r.events, "X");

    /* an error is final */
    struct fcgi_decoder d;
    fcgi_decoder_init(&d, 1);
    size_t used;
    struct fcgi_event ev;
    assert_int_equal(fcgi_decoder_feed(&d, version, sizeof(version), &used,
                                       &ev), FCGI_DEC_ERROR);
    assert_int_equal(fcgi_decoder_feed(&d, answer, sizeof(answer), &used,
                                       &ev), FCGI_DEC_ERROR);
    assert_int_equal(used, 0);
    assert_string_equal(fcgi_decoder_error(&d),
                        "record version 2, expected 1");
}

static void
test_decode_management_and_statuses(void **state)
{
    static const uint8_t v[] = {
        /* UNKNOWN_TYPE for type 42 */
        0x01, 0x0b, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00,
        0x2a, 0, 0, 0, 0, 0, 0, 0,
        /* empty GET_VALUES_RESULT */
        0x01, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        /* END_REQUEST 0xffffffff, UNKNOWN_ROLE; no STDOUT at all */
        0x01, 0x03, 0xff, 0xff, 0x00, 0x08, 0x00, 0x00,
        0xff, 0xff, 0xff, 0xff, 0x03, 0x01, 0x02, 0x03,
    };
    struct run r;
    assert_int_equal(decode(v, sizeof(v), 0xffff, &r), 0);
    assert_string_equal(r.events, "UGX");
    assert_int_equal(r.mgmt_len, 0);
    assert_int_equal(r.app_status, 0xffffffffu);
    assert_int_equal(r.protocol_status, FCGI_UNKNOWN_ROLE);
    assert_int_equal(r.out_len, 0);

    assert_int_equal(decode(v, 16, 0xffff, &r), -1);
    assert_string_equal(r.events, "U");
    assert_int_equal(r.mgmt[0], 42);
}

/* Our encoder's records decode back (an application-side round trip). */
static void
test_round_trip(void **state)
{
    uint8_t body[1000];
    for (size_t i = 0; i < sizeof(body); i++)
        body[i] = (uint8_t)(i % 251);
    for (unsigned flags = 0; flags <= FCGI_ENC_PAD; flags++) {
        struct pr_buf b = PR_BUF_INIT;
        assert_int_equal(fcgi_append_stream(&b, FCGI_STDOUT, 77, body, 200,
                                            flags), 0);
        assert_int_equal(fcgi_append_stream(&b, FCGI_STDERR, 77, "warn", 4,
                                            flags), 0);
        assert_int_equal(fcgi_append_stream(&b, FCGI_STDOUT, 77, body + 200,
                                            56, flags), 0);
        assert_int_equal(fcgi_append_stream_end(&b, FCGI_STDOUT, 77), 0);
        assert_int_equal(fcgi_append_end_request(&b, 77, 3, 0), 0);
        struct run r;
        assert_int_equal(decode(b.data, b.len, 77, &r), 0);
        assert_string_equal(r.events, "oeoOX");
        assert_int_equal(r.out_len, 256);
        assert_memory_equal(r.out, body, 256);
        assert_int_equal(r.err_len, 4);
        assert_int_equal(r.app_status, 3);
        pr_buf_free(&b);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_type_names),
        cmocka_unit_test(test_encode_begin_request),
        cmocka_unit_test(test_encode_params),
        cmocka_unit_test(test_encode_nv_lengths),
        cmocka_unit_test(test_encode_get_values),
        cmocka_unit_test(test_encode_stdin_split),
        cmocka_unit_test(test_encode_params_split),
        cmocka_unit_test(test_encode_end_and_abort),
        cmocka_unit_test(test_nv_decode),
        cmocka_unit_test(test_nv_errors),
        cmocka_unit_test(test_decode_answer),
        cmocka_unit_test(test_decode_split_everywhere),
        cmocka_unit_test(test_decode_truncated_everywhere),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_decode_management_and_statuses),
        cmocka_unit_test(test_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
