/* Unit tests for ctl/ctl_stats: STATS reply datagrams (spec §2.5 framing),
 * the msgpack walk that guards msgpack-c, and the two text forms.  The
 * msgpack vectors are written out byte by byte from the msgpack format
 * (fixmap 0x8N, fixstr 0xaN, uint8 0xcc, ...), not produced by an
 * encoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ctl_stats.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P(s) (const uint8_t *)(s), sizeof(s) - 1

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

static void
expect_text(const uint8_t *payload, size_t len, enum ctl_stats_format f,
            const char *text)
{
    struct pr_buf out = PR_BUF_INIT;
    char err[256] = "";
    int r = ctl_stats_format_payload(&out, payload, len, f, err, sizeof(err));
    if (r != 0)
        fail_msg("format failed (%d): %s", r, err);
    assert_int_equal(out.len, strlen(text));
    assert_memory_equal(out.data, text, out.len);
    pr_buf_free(&out);
}

static void
expect_payload_error(const uint8_t *payload, size_t len, const char *msg)
{
    struct pr_buf out = PR_BUF_INIT;
    char err[256] = "";
    assert_int_equal(ctl_stats_format_payload(&out, payload, len,
                                              CTL_STATS_JSON, err,
                                              sizeof(err)), -EBADMSG);
    assert_string_equal(err, msg);
    pr_buf_free(&out);
}

static void
expect_check_error(const uint8_t *payload, size_t len, const char *msg)
{
    char err[256] = "";
    assert_int_equal(ctl_stats_msgpack_check(payload, len, err, sizeof(err)),
                     -EBADMSG);
    assert_string_equal(err, msg);
}

static void
expect_reply(const uint8_t *data, size_t len, const char *text)
{
    struct pr_buf out = PR_BUF_INIT;
    char err[256] = "";
    int r = ctl_stats_format_reply(&out, data, len, CTL_STATS_LINES, err,
                                   sizeof(err));
    if (r != 0)
        fail_msg("reply failed (%d): %s", r, err);
    assert_int_equal(out.len, strlen(text));
    assert_memory_equal(out.data, text, out.len);
    pr_buf_free(&out);
}

static void
expect_reply_error(const uint8_t *data, size_t len, const char *msg)
{
    struct pr_buf out = PR_BUF_INIT;
    char err[256] = "";
    assert_int_equal(ctl_stats_format_reply(&out, data, len, CTL_STATS_LINES,
                                            err, sizeof(err)), -EBADMSG);
    assert_string_equal(err, msg);
    pr_buf_free(&out);
}

/* ------------------------------------------------------------------ */
/* Vectors                                                             */

/*
 * {"connections": 3,
 *  "requests": {"2xx": 10, "5xx": 0},
 *  "workers": [{"c": 1}, {"c": 300}],
 *  "bytes": 4294967296,
 *  "ratio": 0.5,
 *  "delta": -2,
 *  "none": nil,
 *  "up": true,
 *  "name": "a\"b\n\xc3\xa9",
 *  "id": bin 01 ff,
 *  "empty": {}}
 */
static const char stats_map[] =
    "\x8b"
    "\xab" "connections" "\x03"
    "\xa8" "requests" "\x82" "\xa3" "2xx" "\x0a" "\xa3" "5xx" "\x00"
    "\xa7" "workers" "\x92" "\x81" "\xa1" "c" "\x01"
                            "\x81" "\xa1" "c" "\xcd\x01\x2c"
    "\xa5" "bytes" "\xcf\x00\x00\x00\x01\x00\x00\x00\x00"
    "\xa5" "ratio" "\xcb\x3f\xe0\x00\x00\x00\x00\x00\x00"
    "\xa5" "delta" "\xfe"
    "\xa4" "none" "\xc0"
    "\xa2" "up" "\xc3"
    "\xa4" "name" "\xa6" "a\"b\n\xc3\xa9"
    "\xa2" "id" "\xc4\x02\x01\xff"
    "\xa5" "empty" "\x80";

static void
test_lines(void **state)
{
    (void)state;
    expect_text(P(stats_map), CTL_STATS_LINES,
                "connections: 3\n"
                "requests.2xx: 10\n"
                "requests.5xx: 0\n"
                "workers.0.c: 1\n"
                "workers.1.c: 300\n"
                "bytes: 4294967296\n"
                "ratio: 0.5\n"
                "delta: -2\n"
                "none: null\n"
                "up: true\n"
                "name: a\"b\\n\xc3\xa9\n"
                "id: 01ff\n"
                "empty: {}\n");
}

static void
test_json(void **state)
{
    (void)state;
    expect_text(P(stats_map), CTL_STATS_JSON,
                "{\"connections\": 3, "
                "\"requests\": {\"2xx\": 10, \"5xx\": 0}, "
                "\"workers\": [{\"c\": 1}, {\"c\": 300}], "
                "\"bytes\": 4294967296, "
                "\"ratio\": 0.5, "
                "\"delta\": -2, "
                "\"none\": null, "
                "\"up\": true, "
                "\"name\": \"a\\\"b\\n\xc3\xa9\", "
                "\"id\": \"01ff\", "
                "\"empty\": {}}\n");
}

static void
test_scalars(void **state)
{
    (void)state;
    /* {} */
    expect_text(P("\x80"), CTL_STATS_JSON, "{}\n");
    expect_text(P("\x80"), CTL_STATS_LINES, "");
    /* map16 {1: float32 1.5, -1: int64 min, "k": []} */
    static const char m[] =
        "\xde\x00\x03"
        "\x01" "\xca\x3f\xc0\x00\x00"
        "\xff" "\xd3\x80\x00\x00\x00\x00\x00\x00\x00"
        "\xa1" "k" "\x90";
    expect_text(P(m), CTL_STATS_JSON,
                "{\"1\": 1.5, \"-1\": -9223372036854775808, \"k\": []}\n");
    expect_text(P(m), CTL_STATS_LINES,
                "1: 1.5\n-1: -9223372036854775808\nk: []\n");
    /* control characters, invalid UTF-8 (lone continuation byte, an
     * overlong form, a surrogate), a backslash, DEL */
    static const char s[] =
        "\x81\xa1" "s" "\xaa" "\x01\t\x80" "\xc0\xaf" "\xed\xa0\x80" "\\\x7f";
    expect_text(P(s), CTL_STATS_JSON,
                "{\"s\": \"\\u0001\\t\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd"
                "\\ufffd\\\\\\u007f\"}\n");
    /* NaN and infinity are not JSON numbers */
    static const char nan[] = "\x82\xa1" "n" "\xcb\x7f\xf8\x00\x00\x00\x00"
                              "\x00\x00" "\xa1" "i" "\xca\x7f\x80\x00\x00";
    expect_text(P(nan), CTL_STATS_JSON, "{\"n\": null, \"i\": null}\n");
    /* a key that is itself a map, ext values as hex */
    static const char k[] = "\x81\x81\xa1" "a" "\x01" "\xd4\x05\x2a";
    expect_text(P(k), CTL_STATS_JSON, "{\"{\\\"a\\\": 1}\": \"2a\"}\n");
    expect_text(P(k), CTL_STATS_LINES, "{\"a\": 1}: 2a\n");
}

/* The 120-byte big-endian struct of spec §2.5 */
static void
test_legacy(void **state)
{
    (void)state;
    uint8_t p[CTL_STATS_LEGACY_SIZE];
    memset(p, 0, sizeof(p));
    p[3] = 7;                 /* incoming_connections */
    p[4] = 1;                 /* outgoing_connections = 0x01000000 */
    p[11] = 2;                /* children */
    p[23] = 9;                /* http_requests */
    for (int i = 0; i < 8; i++)
        p[112 + i] = (uint8_t)(i + 1); /* http_traffic_sent */
    expect_text(p, sizeof(p), CTL_STATS_LINES,
                "incoming_connections: 7\n"
                "outgoing_connections: 16777216\n"
                "children: 2\n"
                "sessions: 0\n"
                "http_requests: 9\n"
                "translation_cache_size: 0\n"
                "http_cache_size: 0\n"
                "filter_cache_size: 0\n"
                "translation_cache_brutto_size: 0\n"
                "http_cache_brutto_size: 0\n"
                "filter_cache_brutto_size: 0\n"
                "nfs_cache_size: 0\n"
                "nfs_cache_brutto_size: 0\n"
                "io_buffers_size: 0\n"
                "io_buffers_brutto_size: 0\n"
                "http_traffic_received: 0\n"
                "http_traffic_sent: 72623859790382856\n");
    struct pr_buf out = PR_BUF_INIT;
    char err[64];
    assert_int_equal(ctl_stats_format_payload(&out, p, sizeof(p),
                                              CTL_STATS_JSON, err,
                                              sizeof(err)), 0);
    const char *head = "{\"incoming_connections\": 7, ";
    const char *tail = ", \"http_traffic_sent\": 72623859790382856}\n";
    assert_true(out.len > strlen(head) + strlen(tail));
    assert_memory_equal(out.data, head, strlen(head));
    assert_memory_equal(out.data + out.len - strlen(tail), tail,
                        strlen(tail));
    pr_buf_free(&out);
}

static void
test_payload_errors(void **state)
{
    (void)state;
    expect_payload_error(P(""), "STATS payload of 0 bytes is neither a "
                                "msgpack map nor the 120-byte STATS struct");
    expect_payload_error(P("\x91\x01"), "STATS payload of 2 bytes is neither "
                         "a msgpack map nor the 120-byte STATS struct");
    expect_payload_error(P("\x81\xa3" "a" "\x01"), "STATS payload: "
                         "truncated msgpack str at offset 1: 3 bytes needed, "
                         "2 follow");
    expect_payload_error(P("\x81\xa2" "a" "\x01"), "STATS payload: "
                         "truncated msgpack data: an object is missing at "
                         "offset 4");
    expect_payload_error(P("\x80\x00"), "STATS payload: 1 bytes after the "
                         "msgpack object at offset 1");
}

static void
test_msgpack_check(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(ctl_stats_msgpack_check(P("\x81\xa1" "a" "\x01"), err,
                                             sizeof(err)), 0);
    assert_string_equal(err, "");
    /* every fixed-size form, in an array */
    static const char all[] =
        "\x9f"
        "\xcc\x01" "\xcd\x01\x02" "\xce\x01\x02\x03\x04"
        "\xcf\x01\x02\x03\x04\x05\x06\x07\x08"
        "\xd0\xff" "\xd1\xff\xff" "\xd2\xff\xff\xff\xff"
        "\xd3\xff\xff\xff\xff\xff\xff\xff\xff"
        "\xd4\x01\x02" "\xd5\x01\x02\x03" "\xd6\x01\x02\x03\x04\x05"
        "\xd7\x01" "12345678" "\xd8\x01" "1234567812345678"
        "\xc2" "\xe0";
    assert_int_equal(ctl_stats_msgpack_check(P(all), err, sizeof(err)), 0);
    /* every length-prefixed form */
    static const char var[] =
        "\x9c"
        "\xc4\x01" "a" "\xc5\x00\x01" "a" "\xc6\x00\x00\x00\x01" "a"
        "\xc7\x01\x05" "a" "\xc8\x00\x01\x05" "a"
        "\xc9\x00\x00\x00\x01\x05" "a"
        "\xd9\x01" "a" "\xda\x00\x01" "a" "\xdb\x00\x00\x00\x01" "a"
        "\xdc\x00\x01\xc0" "\xdd\x00\x00\x00\x01\xc0"
        "\xdf\x00\x00\x00\x01\xc0\xc0";
    assert_int_equal(ctl_stats_msgpack_check(P(var), err, sizeof(err)), 0);

    /* lengths are not trusted */
    expect_check_error(P("\xdd\xff\xff\xff\xff"),
                       "msgpack array at offset 0 declares 4294967295 "
                       "elements, 0 bytes follow");
    expect_check_error(P("\x81\xa1" "a" "\xdf\x00\x01\x00\x00\xc0"),
                       "msgpack map at offset 3 declares 65536 elements, "
                       "1 bytes follow");
    expect_check_error(P("\x82\x01\x02\x03"),
                       "msgpack map at offset 0 declares 2 elements, "
                       "3 bytes follow");
    expect_check_error(P("\xdb\x00\x00\x01\x00" "abc"),
                       "truncated msgpack str at offset 0: 256 bytes "
                       "needed, 3 follow");
    expect_check_error(P("\xc7\x02\x01" "a"),
                       "truncated msgpack ext at offset 0: 3 bytes needed, "
                       "2 follow");
    expect_check_error(P("\xda\x00"),
                       "truncated msgpack str header at offset 0");
    expect_check_error(P("\xcf\x00"),
                       "truncated msgpack integer at offset 0: 8 bytes "
                       "needed, 1 follow");
    expect_check_error(P("\x91\xc1"),
                       "invalid msgpack marker 0xc1 at offset 1");
    expect_check_error(P(""),
                       "truncated msgpack data: an object is missing at "
                       "offset 0");
    expect_check_error(P("\xc0\xc0"),
                       "1 bytes after the msgpack object at offset 1");

    /* nesting: 16 levels pass, 17 fail */
    uint8_t deep[18];
    memset(deep, 0x91, sizeof(deep));
    deep[15] = 0x90;
    assert_int_equal(ctl_stats_msgpack_check(deep, 16, err, sizeof(err)), 0);
    deep[15] = 0x91;
    deep[16] = 0x90;
    expect_check_error(deep, 17, "msgpack array at offset 16 nests deeper "
                                 "than 16 levels");
}

/* Reply framing: length:u16 BE, command:u16 BE = 6, payload (§2.5). */
static void
test_reply(void **state)
{
    (void)state;
    expect_reply(P("\x00\x04\x00\x06" "\x81\xa1" "a" "\x01"), "a: 1\n");
    /* with the control magic in front, and with padding */
    expect_reply(P("\x63\x04\x61\x01" "\x00\x04\x00\x06"
                   "\x81\xa1" "a" "\x01"), "a: 1\n");
    expect_reply(P("\x00\x03\x00\x06" "\x81\x01\x02" "\x00"), "1: 2\n");

    expect_reply_error(P("\x00\x04"),
                       "reply of 2 bytes is too short for a header");
    expect_reply_error(P("\x63\x04\x61\x01\x00"),
                       "reply of 5 bytes is too short for a header");
    expect_reply_error(P("\x00\x01\x00\x04" "\x80"),
                       "reply carries command 4 (NODE_STATUS), expected "
                       "STATS (6)");
    expect_reply_error(P("\x00\x01\x00\x63" "\x80"),
                       "reply carries command 99 (?), expected STATS (6)");
    expect_reply_error(P("\x00\x08\x00\x06" "\x81\xa1" "a" "\x01"),
                       "truncated reply: STATS declares 8 bytes, 4 follow");
    expect_reply_error(P("\x00\x01\x00\x06" "\x80\x00\x00\x00\x00"),
                       "4 bytes after the 1-byte STATS payload of the reply");
    expect_reply_error(P("\x00\x01\x00\x06" "\x81"),
                       "STATS payload: msgpack map at offset 0 declares 1 "
                       "elements, 0 bytes follow");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_scalars),
        cmocka_unit_test(test_legacy),
        cmocka_unit_test(test_payload_errors),
        cmocka_unit_test(test_msgpack_check),
        cmocka_unit_test(test_reply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
