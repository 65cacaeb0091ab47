/* Unit tests for protocol/was_protocol: WAS control packets
 * (spec/protocols.md §3).  The byte vectors are written out by hand in
 * little-endian order (host order on x86-64 and arm64, where the spec's
 * observations were made); on a big-endian host those cases are skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "was_protocol.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A packet header in little-endian order: u16 length, u16 command. */
#define HDR(len, cmd)                                                      \
    (uint8_t)((len) & 0xff), (uint8_t)((len) >> 8), (uint8_t)((cmd) & 0xff), \
        (uint8_t)((cmd) >> 8)

static void
need_little_endian(void)
{
    const uint16_t one = 1;
    if (*(const uint8_t *)&one != 1)
        skip();
}

/* A packet copied out of the reader. */
struct got {
    uint16_t command;
    uint8_t payload[256];
    size_t len;
    uint32_t number;
    uint64_t u64;
    char name[128], value[128];
    float metric;
};

struct got_list {
    struct got v[24];
    size_t n;
    char error[WAS_ERROR_SIZE];
};

/* Copy a slice as a string, truncated to the buffer. */
static void
copy_slice(char *dst, size_t size, struct pr_slice s)
{
    size_t n = s.len < size - 1 ? s.len : size - 1;
    if (n > 0)
        memcpy(dst, s.data, n);
    dst[n] = '\0';
}

/* Read `data` cut at `cuts` (increasing offsets), each piece copied to
 * its own buffer; returns 0 or -1 (error kept in l->error). */
static int
read_cut(enum was_side side, size_t max_payload, const uint8_t *data,
         size_t len, const size_t *cuts, size_t ncuts, struct got_list *l)
{
    memset(l, 0, sizeof(*l));
    struct was_reader r;
    was_reader_init(&r, side, max_payload);
    size_t start = 0;
    int result = 0;
    for (size_t i = 0; i <= ncuts && result == 0; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        uint8_t *piece = malloc(end - start + 1);
        assert_non_null(piece);
        memcpy(piece, data + start, end - start);
        size_t pos = 0;
        for (;;) {
            size_t used = 999;
            struct was_packet pkt;
            enum was_reader_status st = was_reader_feed(
                &r, piece + pos, end - start - pos, &used, &pkt);
            if (st == WAS_READER_ERROR) {
                result = -1;
                break;
            }
            assert_true(used <= end - start - pos);
            pos += used;
            if (st == WAS_READER_NEED_MORE) {
                assert_int_equal(pos, end - start);
                break;
            }
            assert_true(l->n < ARRAY_SIZE(l->v));
            struct got *g = &l->v[l->n++];
            g->command = pkt.command;
            assert_non_null(pkt.payload.data);
            g->len = pkt.payload.len;
            memcpy(g->payload, pkt.payload.data,
                   g->len < sizeof(g->payload) ? g->len
                                               : sizeof(g->payload));
            g->number = pkt.number;
            g->u64 = pkt.u64;
            copy_slice(g->name, sizeof(g->name), pkt.name);
            copy_slice(g->value, sizeof(g->value), pkt.value);
            g->metric = pkt.metric;
        }
        free(piece);
        start = end;
    }
    if (result == 0)
        result = was_reader_finish(&r);
    else
        assert_int_equal(was_reader_finish(&r), -1);
    snprintf(l->error, sizeof(l->error), "%s", was_reader_error(&r));
    assert_int_equal(result == 0, l->error[0] == '\0');
    was_reader_destroy(&r);
    return result;
}

static int
read_all(enum was_side side, const uint8_t *data, size_t len,
         struct got_list *l)
{
    return read_cut(side, 0, data, len, NULL, 0, l);
}

static void
test_tables(void **state)
{
    assert_int_equal(WAS_CMD_NOP, 0);
    assert_int_equal(WAS_CMD_STATUS, 9);
    assert_int_equal(WAS_CMD_PREMATURE, 14);
    assert_int_equal(WAS_CMD_TLS, 18);
    assert_string_equal(was_command_name(16), "METRIC");
    assert_string_equal(was_command_name(19), "?");
    assert_string_equal(was_command_name(0xffff), "?");
    assert_null(was_command_info(19));
    assert_int_equal(was_command_info(9)->direction, WAS_DIR_A2C);
    assert_int_equal(was_command_info(3)->direction, WAS_DIR_C2A);
    assert_int_equal(was_command_info(7)->direction, WAS_DIR_BOTH);
    for (uint16_t i = 0; i <= WAS_CMD_MAX; i++)
        assert_int_equal(was_command_info(i)->number, i);

    assert_string_equal(was_method_name(1), "HEAD");
    assert_string_equal(was_method_name(2), "GET");
    assert_string_equal(was_method_name(17), "QUERY");
    assert_null(was_method_name(0));
    assert_null(was_method_name(18));
    assert_int_equal(was_method_from_name("POST", 4), WAS_METHOD_POST);
    assert_int_equal(was_method_from_name("PROPPATCH", 9), 9);
    assert_int_equal(was_method_from_name("post", 4), WAS_METHOD_NONE);
    assert_int_equal(was_method_from_name("GETX", 3), WAS_METHOD_GET);
    assert_int_equal(was_method_from_name("CONNECT", 7), WAS_METHOD_NONE);
}

/* Spec §3.5: what libwas' hello sends, as observed on the wire. */
static const uint8_t hello[] = {
    HDR(4, 9), 0xc8, 0x00, 0x00, 0x00,                  /* STATUS 200 */
    HDR(23, 7), 'c', 'o', 'n', 't', 'e', 'n', 't', '-', 't', 'y', 'p', 'e',
    '=', 't', 'e', 'x', 't', '/', 'p', 'l', 'a', 'i', 'n', /* HEADER */
    HDR(0, 11),                                          /* DATA */
    HDR(8, 12), 0x0e, 0, 0, 0, 0, 0, 0, 0,               /* LENGTH 14 */
};

static void
check_hello(const struct got_list *l)
{
    assert_int_equal(l->n, 4);
    assert_int_equal(l->v[0].command, WAS_CMD_STATUS);
    assert_int_equal(l->v[0].number, 200);
    assert_int_equal(l->v[1].command, WAS_CMD_HEADER);
    assert_string_equal(l->v[1].name, "content-type");
    assert_string_equal(l->v[1].value, "text/plain");
    assert_int_equal(l->v[2].command, WAS_CMD_DATA);
    assert_int_equal(l->v[2].len, 0);
    assert_int_equal(l->v[3].command, WAS_CMD_LENGTH);
    assert_int_equal(l->v[3].u64, 14);
}

static void
test_read_hello(void **state)
{
    need_little_endian();
    struct got_list l;
    assert_int_equal(read_all(WAS_SIDE_CONTAINER, hello, sizeof(hello), &l),
                     0);
    check_hello(&l);

    /* zero copy when whole */
    struct was_reader r;
    was_reader_init(&r, WAS_SIDE_CONTAINER, 0);
    size_t used;
    struct was_packet pkt;
    assert_int_equal(was_reader_feed(&r, hello + 8, sizeof(hello) - 8, &used,
                                     &pkt), WAS_READER_PACKET);
    assert_int_equal(used, 27);
    assert_ptr_equal(pkt.payload.data, hello + 12);
    assert_ptr_equal(pkt.name.data, hello + 12);
    assert_ptr_equal(pkt.value.data, hello + 25);
    assert_true(was_reader_idle(&r));
    assert_null(r.frame.payload);   /* nothing assembled, nothing allocated */
    was_reader_destroy(&r);

    /* the other side does not accept STATUS */
    assert_int_equal(read_all(WAS_SIDE_APPLICATION, hello, sizeof(hello),
                              &l), -1);
    assert_string_equal(l.error, "STATUS packet from the container");
}

static void
test_split_everywhere(void **state)
{
    need_little_endian();
    struct got_list l;
    for (size_t cut = 0; cut <= sizeof(hello); cut++) {
        assert_int_equal(read_cut(WAS_SIDE_CONTAINER, 0, hello,
                                  sizeof(hello), &cut, 1, &l), 0);
        check_hello(&l);
    }
    for (size_t a = 0; a <= sizeof(hello); a++)
        for (size_t b = a; b <= sizeof(hello); b++) {
            size_t cuts[] = { a, b };
            assert_int_equal(read_cut(WAS_SIDE_CONTAINER, 0, hello,
                                      sizeof(hello), cuts, 2, &l), 0);
            check_hello(&l);
        }
    size_t cuts[sizeof(hello)];
    for (size_t i = 0; i < sizeof(hello); i++)
        cuts[i] = i;
    assert_int_equal(read_cut(WAS_SIDE_CONTAINER, 0, hello, sizeof(hello),
                              cuts, sizeof(hello), &l), 0);
    check_hello(&l);
}

/* A request as beng-proxy sends it (spec §3.4), byte by byte. */
static const uint8_t request[] = {
    HDR(0, 1),                                           /* REQUEST */
    HDR(4, 2), 0x03, 0x00, 0x00, 0x00,                   /* METHOD POST */
    HDR(6, 3), '/', 'a', '?', 'b', '=', 'c',             /* URI */
    HDR(2, 4), '/', 'a',                                 /* SCRIPT_NAME */
    HDR(3, 6), 'b', '=', 'c',                            /* QUERY_STRING */
    HDR(16, 7), 'h', 'o', 's', 't', '=', 'e', 'x', 'a', 'm', 'p', 'l', 'e',
    '.', 'c', 'o', 'm',                                  /* HEADER */
    HDR(3, 8), 'x', '=', '1',                            /* PARAMETER */
    HDR(9, 15), '1', '9', '2', '.', '0', '.', '2', '.', '1', /* REMOTE_HOST */
    HDR(0, 18),                                          /* TLS */
    HDR(0, 11),                                          /* DATA */
    HDR(8, 12), 0x05, 0, 0, 0, 0, 0, 0, 0,               /* LENGTH 5 */
};

static void
test_encode_request(void **state)
{
    need_little_endian();
    struct pr_buf b = PR_BUF_INIT;
    assert_int_equal(was_append_empty(&b, WAS_CMD_REQUEST), 0);
    assert_int_equal(was_append_method(&b, WAS_METHOD_POST), 0);
    assert_int_equal(was_append_string(&b, WAS_CMD_URI, "/a?b=c", 6), 0);
    assert_int_equal(was_append_string(&b, WAS_CMD_SCRIPT_NAME, "/a", 2), 0);
    assert_int_equal(was_append_string(&b, WAS_CMD_QUERY_STRING, "b=c", 3),
                     0);
    assert_int_equal(was_append_pair(&b, WAS_CMD_HEADER, "host", 4,
                                     "example.com", 11), 0);
    assert_int_equal(was_append_pair(&b, WAS_CMD_PARAMETER, "x", 1, "1", 1),
                     0);
    assert_int_equal(was_append_string(&b, WAS_CMD_REMOTE_HOST, "192.0.2.1",
                                       9), 0);
    assert_int_equal(was_append_empty(&b, WAS_CMD_TLS), 0);
    assert_int_equal(was_append_empty(&b, WAS_CMD_DATA), 0);
    assert_int_equal(was_append_u64(&b, WAS_CMD_LENGTH, 5), 0);
    assert_int_equal(b.len, sizeof(request));
    assert_memory_equal(b.data, request, sizeof(request));
    pr_buf_free(&b);

    /* an application reads it */
    struct got_list l;
    assert_int_equal(read_all(WAS_SIDE_APPLICATION, request,
                              sizeof(request), &l), 0);
    assert_int_equal(l.n, 11);
    assert_int_equal(l.v[1].number, WAS_METHOD_POST);
    assert_int_equal(l.v[2].len, 6);
    assert_memory_equal(l.v[2].payload, "/a?b=c", 6);
    assert_string_equal(l.v[5].name, "host");
    assert_string_equal(l.v[5].value, "example.com");
    assert_string_equal(l.v[6].name, "x");
    assert_string_equal(l.v[6].value, "1");
    assert_int_equal(l.v[10].u64, 5);

    /* a container refuses the request-only commands */
    assert_int_equal(read_all(WAS_SIDE_CONTAINER, request, sizeof(request),
                              &l), -1);
    assert_string_equal(l.error, "REQUEST packet from the application");
}

static void
test_encode_application_side(void **state)
{
    need_little_endian();
    struct pr_buf b = PR_BUF_INIT;
    assert_int_equal(was_append_status(&b, 200), 0);
    assert_int_equal(was_append_pair(&b, WAS_CMD_HEADER, "content-type", 12,
                                     "text/plain", 10), 0);
    assert_int_equal(was_append_empty(&b, WAS_CMD_DATA), 0);
    assert_int_equal(was_append_u64(&b, WAS_CMD_LENGTH, 14), 0);
    assert_int_equal(b.len, sizeof(hello));
    assert_memory_equal(b.data, hello, sizeof(hello));
    b.len = 0;

    /* METRIC 1.5 "requests": f32 0x3fc00000 */
    assert_int_equal(was_append_metric(&b, "requests", 8, 1.5f), 0);
    static const uint8_t metric[] = { HDR(12, 16), 0x00, 0x00, 0xc0, 0x3f,
                                      'r', 'e', 'q', 'u', 'e', 's', 't',
                                      's' };
    assert_int_equal(b.len, sizeof(metric));
    assert_memory_equal(b.data, metric, sizeof(metric));
    struct got_list l;
    assert_int_equal(read_all(WAS_SIDE_CONTAINER, b.data, b.len, &l), 0);
    assert_string_equal(l.v[0].name, "requests");
    assert_true(l.v[0].metric == 1.5f);
    b.len = 0;

    /* PREMATURE, STOP, NO_DATA */
    assert_int_equal(was_append_u64(&b, WAS_CMD_PREMATURE,
                                    0x0102030405060708ull), 0);
    assert_int_equal(was_append_empty(&b, WAS_CMD_STOP), 0);
    assert_int_equal(was_append_empty(&b, WAS_CMD_NO_DATA), 0);
    static const uint8_t prem[] = { HDR(8, 14), 8, 7, 6, 5, 4, 3, 2, 1,
                                    HDR(0, 13), HDR(0, 10) };
    assert_int_equal(b.len, sizeof(prem));
    assert_memory_equal(b.data, prem, sizeof(prem));
    pr_buf_free(&b);
}

static void
test_encode_errors(void **state)
{
    struct pr_buf b = PR_BUF_INIT;
    assert_int_equal(was_append_method(&b, WAS_METHOD_NONE), -EINVAL);
    assert_int_equal(was_append_method(&b, 18), -EINVAL);
    assert_int_equal(was_append_status(&b, 199), -EINVAL);
    assert_int_equal(was_append_status(&b, 600), -EINVAL);
    assert_int_equal(was_append_string(&b, WAS_CMD_URI, "a\0b", 3), -EINVAL);
    assert_int_equal(was_append_string(&b, WAS_CMD_HEADER, "a=b", 3),
                     -EINVAL);
    assert_int_equal(was_append_pair(&b, WAS_CMD_HEADER, "", 0, "v", 1),
                     -EINVAL);
    assert_int_equal(was_append_pair(&b, WAS_CMD_HEADER, "a=b", 3, "v", 1),
                     -EINVAL);
    assert_int_equal(was_append_pair(&b, WAS_CMD_PARAMETER, "a", 1, "v\0", 2),
                     -EINVAL);
    assert_int_equal(was_append_pair(&b, WAS_CMD_URI, "a", 1, "v", 1),
                     -EINVAL);
    assert_int_equal(was_append_u64(&b, WAS_CMD_STATUS, 1), -EINVAL);
    assert_int_equal(was_append_u64(&b, WAS_CMD_LENGTH,
                                    0x8000000000000000ull), -EINVAL);
    assert_int_equal(was_append_metric(&b, "", 0, 1.0f), -EINVAL);
    assert_int_equal(was_append_metric(&b, "a-b", 3, 1.0f), -EINVAL);
    assert_int_equal(was_append_metric(&b, "a", 1, NAN), -EINVAL);
    assert_int_equal(was_append_metric(&b, "a", 1, INFINITY), -EINVAL);
    char name[65];
    memset(name, 'n', sizeof(name));
    assert_int_equal(was_append_metric(&b, name, 64, 1.0f), -EINVAL);
    assert_int_equal(was_append_metric(&b, name, 63, 1.0f), 0);
    b.len = 0;

    static char big[65536];
    memset(big, 'x', sizeof(big));
    assert_int_equal(was_append_packet(&b, 3, big, 65536), -EMSGSIZE);
    assert_int_equal(was_append_string(&b, WAS_CMD_URI, big, 65536),
                     -EMSGSIZE);
    assert_int_equal(was_append_pair(&b, WAS_CMD_HEADER, "a", 1, big, 65534),
                     -EMSGSIZE);
    assert_int_equal(b.len, 0);
    assert_int_equal(was_append_pair(&b, WAS_CMD_HEADER, "a", 1, big, 65533),
                     0);
    assert_int_equal(b.len, 4 + 65535);
    b.len = 0;
    assert_int_equal(was_append_packet(&b, 3, big, 65535), 0);
    assert_int_equal(b.len, 4 + 65535);
    pr_buf_free(&b);
}

static void
expect_error(enum was_side side, const uint8_t *v, size_t len,
             const char *msg)
{
    struct got_list l;
    for (size_t cut = 0; cut <= len; cut++) {
        assert_int_equal(read_cut(side, 0, v, len, &cut, 1, &l), -1);
        assert_string_equal(l.error, msg);
    }
    /* was_packet_check() says the same about the payload */
    if (len >= 4 && len - 4 == (size_t)(v[0] | v[1] << 8)) {
        struct was_packet pkt;
        char err[WAS_ERROR_SIZE];
        assert_int_equal(was_packet_check(side, (uint16_t)(v[2] | v[3] << 8),
                                          v + 4, len - 4, &pkt, err,
                                          sizeof(err)), -1);
        assert_string_equal(err, msg);
        assert_int_equal(was_packet_check(side, (uint16_t)(v[2] | v[3] << 8),
                                          v + 4, len - 4, &pkt, NULL, 0),
                         -1);
    }
}

#define EXPECT_C(msg, ...)                                                 \
    do {                                                                   \
        static const uint8_t v_[] = { __VA_ARGS__ };                       \
        expect_error(WAS_SIDE_CONTAINER, v_, sizeof(v_), msg);             \
    } while (0)
#define EXPECT_A(msg, ...)                                                 \
    do {                                                                   \
        static const uint8_t v_[] = { __VA_ARGS__ };                       \
        expect_error(WAS_SIDE_APPLICATION, v_, sizeof(v_), msg);           \
    } while (0)

static void
test_errors(void **state)
{
    need_little_endian();
    EXPECT_C("unknown command 19", HDR(0, 19));
    EXPECT_C("unknown command 65535", HDR(1, 0xffff), 'x');
    EXPECT_C("URI packet from the application", HDR(1, 3), '/');
    EXPECT_C("TLS packet from the application", HDR(0, 18));
    EXPECT_A("STATUS packet from the container", HDR(2, 9), 200, 0);
    EXPECT_C("DATA: payload must be empty, got 1 byte", HDR(1, 11), 0);
    EXPECT_A("REQUEST: payload must be empty, got 2 bytes", HDR(2, 1), 0, 0);
    EXPECT_C("STATUS: payload must be 2 or 4 bytes, got 3", HDR(3, 9),
             200, 0, 0);
    EXPECT_C("STATUS: payload must be 2 or 4 bytes, got 0", HDR(0, 9));
    EXPECT_C("STATUS: payload must be 2 or 4 bytes, got 8", HDR(8, 9),
             200, 0, 0, 0, 0, 0, 0, 0);
    EXPECT_C("STATUS 199 is not a final HTTP status (200..599)", HDR(2, 9),
             199, 0);
    EXPECT_C("STATUS 600 is not a final HTTP status (200..599)", HDR(4, 9),
             0x58, 0x02, 0, 0);
    EXPECT_C("STATUS 65736 is not a final HTTP status (200..599)",
             HDR(4, 9), 200, 0, 1, 0);
    EXPECT_A("METHOD 0 is not a known method (1..17)", HDR(4, 2), 0, 0, 0,
             0);
    EXPECT_A("METHOD 18 is not a known method (1..17)", HDR(2, 2), 18, 0);
    EXPECT_A("METHOD: payload must be 2 or 4 bytes, got 1", HDR(1, 2), 2);
    EXPECT_C("HEADER: no '=' in the payload", HDR(3, 7), 'a', 'b', 'c');
    EXPECT_C("HEADER: no '=' in the payload", HDR(0, 7));
    EXPECT_C("HEADER: empty name", HDR(2, 7), '=', 'x');
    EXPECT_C("HEADER: NUL byte at offset 3", HDR(4, 7), 'a', '=', 'b', 0);
    EXPECT_C("HEADER: NUL byte at offset 0", HDR(3, 7), 0, '=', 'b');
    EXPECT_C("HEADER: invalid character 0x20 in the name", HDR(5, 7), 'a',
             ' ', 'b', '=', 'c');
    EXPECT_C("HEADER: control character 0x01 in the value", HDR(4, 7), 'a',
             '=', 'b', 1);
    EXPECT_C("HEADER: control character 0x7f in the value", HDR(3, 7), 'a',
             '=', 0x7f);
    EXPECT_A("PARAMETER: no '=' in the payload", HDR(1, 8), 'x');
    EXPECT_A("PARAMETER: NUL byte at offset 2", HDR(3, 8), 'x', '=', 0);
    EXPECT_A("URI: NUL byte at offset 1", HDR(2, 3), '/', 0);
    EXPECT_C("LENGTH: payload must be 8 bytes, got 4", HDR(4, 12), 1, 0, 0,
             0);
    EXPECT_C("PREMATURE: payload must be 8 bytes, got 9", HDR(9, 14), 1, 0,
             0, 0, 0, 0, 0, 0, 0);
    EXPECT_C("LENGTH 9223372036854775808 is over 2^63-1", HDR(8, 12), 0, 0,
             0, 0, 0, 0, 0, 0x80);
    EXPECT_A("PREMATURE 18446744073709551615 is over 2^63-1", HDR(8, 14),
             0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
    EXPECT_C("METRIC: payload must be 4 bytes of value and a name, got 4 "
             "bytes", HDR(4, 16), 0, 0, 0xc0, 0x3f);
    EXPECT_C("METRIC: payload must be 4 bytes of value and a name, got 0 "
             "bytes", HDR(0, 16));
    EXPECT_C("METRIC: invalid character 0x2d in the name", HDR(7, 16), 0, 0,
             0xc0, 0x3f, 'a', '-', 'b');
    EXPECT_C("METRIC: value is not finite", HDR(5, 16), 0, 0, 0xc0, 0x7f,
             'a');
    EXPECT_C("METRIC: value is not finite", HDR(5, 16), 0, 0, 0x80, 0xff,
             'a');
    EXPECT_A("METRIC: payload from the container must be empty, got 1 byte",
             HDR(1, 16), 'x');

    /* limits */
    uint8_t v[4 + 8192];
    memset(v, 'a', sizeof(v));
    v[0] = 0x00;
    v[1] = 0x20;
    v[2] = 7;
    v[3] = 0;
    v[5] = '=';
    expect_error(WAS_SIDE_CONTAINER, v, sizeof(v),
                 "HEADER: payload of 8192 bytes over the limit of 8191");
    struct got_list l;
    assert_int_equal(read_all(WAS_SIDE_APPLICATION, v, sizeof(v), &l), 0);
    v[0] = 0xff;
    v[1] = 0x1f;
    assert_int_equal(read_all(WAS_SIDE_CONTAINER, v, sizeof(v) - 1, &l), 0);
    assert_string_equal(l.v[0].name, "a");

    uint8_t m[4 + 4 + 64];
    memset(m, 'n', sizeof(m));
    m[0] = 68;
    m[1] = 0;
    m[2] = 16;
    m[3] = 0;
    memcpy(m + 4, "\0\0\x80\x3f", 4);
    expect_error(WAS_SIDE_CONTAINER, m, 4 + 4 + 64,
                 "METRIC: name of 64 characters over the limit of 63");
    m[0] = 67;
    assert_int_equal(read_all(WAS_SIDE_CONTAINER, m, 4 + 4 + 63, &l), 0);
    assert_true(l.v[0].metric == 1.0f);

    static const uint8_t uri17[] = { HDR(17, 3), '/', 'a', 'a', 'a', 'a',
                                     'a', 'a', 'a', 'a', 'a', 'a', 'a', 'a',
                                     'a', 'a', 'a', 'a' };
    assert_int_equal(read_cut(WAS_SIDE_APPLICATION, 16, uri17,
                              sizeof(uri17), NULL, 0, &l), -1);
    assert_string_equal(l.error,
                        "URI: payload of 17 bytes over the limit of 16");
    assert_int_equal(read_cut(WAS_SIDE_APPLICATION, 17, uri17,
                              sizeof(uri17), NULL, 0, &l), 0);
    static const uint8_t odd[] = { HDR(17, 300) };
    assert_int_equal(read_cut(WAS_SIDE_APPLICATION, 16, odd, sizeof(odd),
                              NULL, 0, &l), -1);
    assert_string_equal(l.error,
                        "command 300: payload of 17 bytes over the limit "
                        "of 16");

    /* an error is final */
    struct was_reader r;
    was_reader_init(&r, WAS_SIDE_CONTAINER, 0);
    size_t used;
    struct was_packet pkt;
    static const uint8_t bad[] = { HDR(0, 19) };
    assert_int_equal(was_reader_feed(&r, bad, sizeof(bad), &used, &pkt),
                     WAS_READER_ERROR);
    assert_int_equal(was_reader_feed(&r, hello, sizeof(hello), &used, &pkt),
                     WAS_READER_ERROR);
    assert_int_equal(used, 0);
    assert_int_equal(was_reader_finish(&r), -1);
    assert_string_equal(was_reader_error(&r), "unknown command 19");
    was_reader_destroy(&r);
}

static void
test_accepted_forms(void **state)
{
    need_little_endian();
    static const uint8_t v[] = {
        HDR(3, 0), 1, 2, 3,                      /* NOP with a payload */
        HDR(2, 9), 0x94, 0x01,                   /* STATUS 404, 2 bytes */
        HDR(2, 7), 'a', '=',                     /* HEADER a= */
        HDR(5, 7), 'a', '=', 'b', '=', 'c',      /* HEADER a=b=c */
        HDR(4, 7), 'a', '=', '\t', 0x80,         /* HTAB and obs-text */
        HDR(8, 14), 0, 0, 0, 0, 0, 0, 0, 0,      /* PREMATURE 0 */
        HDR(8, 12), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
        HDR(0, 13),                              /* STOP */
        HDR(0, 10),                              /* NO_DATA */
    };
    struct got_list l;
    assert_int_equal(read_all(WAS_SIDE_CONTAINER, v, sizeof(v), &l), 0);
    assert_int_equal(l.n, 9);
    assert_int_equal(l.v[0].command, WAS_CMD_NOP);
    assert_int_equal(l.v[0].len, 3);
    assert_int_equal(l.v[1].number, 404);
    assert_string_equal(l.v[2].name, "a");
    assert_string_equal(l.v[2].value, "");
    assert_string_equal(l.v[3].value, "b=c");
    assert_string_equal(l.v[4].value, "\t\x80");
    assert_int_equal(l.v[5].u64, 0);
    assert_int_equal(l.v[6].u64, 0x7fffffffffffffffull);
    assert_int_equal(l.v[7].command, WAS_CMD_STOP);
    assert_int_equal(l.v[8].command, WAS_CMD_NO_DATA);

    /* application side: METHOD in 2 bytes, empty strings, METRIC request */
    static const uint8_t a[] = {
        HDR(2, 2), 0x05, 0x00, HDR(0, 4), HDR(0, 17), HDR(0, 16),
        HDR(3, 8), 'a', ' ', '=',
    };
    assert_int_equal(read_all(WAS_SIDE_APPLICATION, a, sizeof(a), &l), 0);
    assert_int_equal(l.n, 5);
    assert_int_equal(l.v[0].number, WAS_METHOD_DELETE);
    assert_int_equal(l.v[2].command, WAS_CMD_DOCUMENT_ROOT);
    assert_int_equal(l.v[3].command, WAS_CMD_METRIC);
    assert_string_equal(l.v[4].name, "a ");
}

static void
test_finish(void **state)
{
    need_little_endian();
    struct got_list l;
    assert_int_equal(read_all(WAS_SIDE_CONTAINER, hello, 2, &l), -1);
    assert_string_equal(l.error, "stream ended after 2 of 4 header bytes");
    assert_int_equal(read_all(WAS_SIDE_CONTAINER, hello, 13, &l), -1);
    assert_string_equal(l.error,
                        "stream ended after 1 of 23 payload bytes (HEADER)");
    assert_int_equal(read_all(WAS_SIDE_CONTAINER, hello, 0, &l), 0);
    static const uint8_t odd[] = { HDR(5, 300), 1, 2 };
    assert_int_equal(read_all(WAS_SIDE_CONTAINER, odd, sizeof(odd), &l), -1);
    assert_string_equal(l.error,
                        "stream ended after 2 of 5 payload bytes "
                        "(command 300)");
    for (size_t len = 1; len < sizeof(hello); len++) {
        int r = read_all(WAS_SIDE_CONTAINER, hello, len, &l);
        bool boundary = len == 8 || len == 35 || len == 39;
        assert_int_equal(r, boundary ? 0 : -1);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_read_hello),
        cmocka_unit_test(test_split_everywhere),
        cmocka_unit_test(test_encode_request),
        cmocka_unit_test(test_encode_application_side),
        cmocka_unit_test(test_encode_errors),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_accepted_forms),
        cmocka_unit_test(test_finish),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
