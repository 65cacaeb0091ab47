/* Unit tests for protocol/ctl_protocol: the control datagram codec and the
 * TCACHE_INVALIDATE payload.  Vectors are written out byte by byte from
 * spec/protocols.md §2 (magic 63 04 61 01, big-endian headers, padding to
 * 4); the encoder is checked against the same bytes, and round trips come
 * on top of that. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ctl_protocol.h"
#include "tp_command.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* A string literal as (pointer, length), embedded NULs included. */
#define P(s) (const uint8_t *)(s), sizeof(s) - 1

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

static void
parse_ok(struct ctl_datagram *d, const uint8_t *v, size_t len, size_t count)
{
    assert_int_equal(ctl_datagram_parse(d, v, len), CTL_DGRAM_OK);
    assert_string_equal(ctl_datagram_error(d), "");
    assert_int_equal(d->count, count);
}

static void
parse_fail(const uint8_t *v, size_t len, enum ctl_datagram_status status,
           const char *msg)
{
    struct ctl_datagram d;
    struct ctl_packet pkt;
    assert_int_equal(ctl_datagram_parse(&d, v, len), status);
    assert_string_equal(ctl_datagram_error(&d), msg);
    assert_int_equal(d.count, 0);
    /* A rejected datagram hands out nothing, not even its good prefix. */
    assert_false(ctl_datagram_next(&d, &pkt));
}

static void
expect_packet(struct ctl_datagram *d, uint16_t command, size_t offset,
              const void *payload, size_t len,
              enum ctl_command_status status, const char *msg)
{
    struct ctl_packet pkt;
    assert_true(ctl_datagram_next(d, &pkt));
    assert_int_equal(pkt.command, command);
    assert_int_equal(pkt.offset, offset);
    assert_int_equal(pkt.payload.len, len);
    assert_non_null(pkt.payload.data);
    /* zero copy: the payload is the datagram's own bytes */
    assert_ptr_equal(pkt.payload.data, d->data + offset + CTL_HEADER_SIZE);
    if (len > 0)
        assert_memory_equal(pkt.payload.data, payload, len);
    assert_int_equal(pkt.status, status);
    assert_string_equal(pkt.error, msg);
}

static void
expect_end(struct ctl_datagram *d)
{
    struct ctl_packet pkt;
    assert_false(ctl_datagram_next(d, &pkt));
    assert_false(ctl_datagram_next(d, &pkt));
}

/* Frame one command by hand (test-local, not the library's encoder),
 * padding with `pad`. */
static size_t
frame(uint8_t *out, uint16_t command, const uint8_t *payload, size_t len,
      uint8_t pad)
{
    static const uint8_t magic[4] = { 0x63, 0x04, 0x61, 0x01 };
    memcpy(out, magic, 4);
    out[4] = (uint8_t)(len >> 8);
    out[5] = (uint8_t)len;
    out[6] = (uint8_t)(command >> 8);
    out[7] = (uint8_t)command;
    if (len > 0)
        memcpy(out + 8, payload, len);
    size_t total = 8 + len;
    while (total % 4 != 0)
        out[total++] = pad;
    return total;
}

/* ------------------------------------------------------------------ */
/* Command table                                                       */

static void
test_command_table(void **state)
{
    /* Spec §2.3, in order. */
    static const char *const names[] = {
        "NOP", "TCACHE_INVALIDATE", "ENABLE_NODE", "FADE_NODE",
        "NODE_STATUS", "DUMP_POOLS", "STATS", "VERBOSE", "FADE_CHILDREN",
        "DISABLE_ZEROCONF", "ENABLE_ZEROCONF", "FLUSH_NFS_CACHE",
        "FLUSH_FILTER_CACHE", "STOPWATCH_PIPE", "DISCARD_SESSION",
        "FLUSH_HTTP_CACHE", "TERMINATE_CHILDREN", "DISABLE_QUEUE",
        "ENABLE_QUEUE", "RELOAD_STATE", "DISCONNECT_DATABASE",
        "DISABLE_URING", "RESET_LIMITER", "REJECT_CLIENT", "TARPIT_CLIENT",
        "CANCEL_JOB", "EXPIRE_TCACHE_TAG",
    };
    assert_int_equal(ARRAY_SIZE(names), CTL_COMMAND_COUNT);
    for (unsigned n = 0; n < ARRAY_SIZE(names); n++) {
        const struct ctl_command_info *info =
            ctl_command_info((uint16_t)n);
        assert_non_null(info);
        assert_int_equal(info->number, n);
        assert_string_equal(info->name, names[n]);
        assert_string_equal(ctl_command_name((uint16_t)n), names[n]);
    }
    assert_null(ctl_command_info(27));
    assert_null(ctl_command_info(0xffff));
    assert_string_equal(ctl_command_name(27), "?");
    assert_string_equal(ctl_command_name(0xffff), "?");

    assert_int_equal(CTL_CMD_NOP, 0);
    assert_int_equal(CTL_CMD_VERBOSE, 7);
    assert_int_equal(CTL_CMD_STOPWATCH_PIPE, 13);
    assert_int_equal(CTL_CMD_DISABLE_URING, 21);
    assert_int_equal(CTL_CMD_EXPIRE_TCACHE_TAG, 26);
    assert_int_equal(ctl_command_info(CTL_CMD_VERBOSE)->rule, CTL_PL_U8);
    assert_int_equal(ctl_command_info(CTL_CMD_TCACHE_INVALIDATE)->rule,
                     CTL_PL_TCACHE);
    assert_int_equal(ctl_command_info(CTL_CMD_TARPIT_CLIENT)->rule,
                     CTL_PL_BAN);
}

/* ------------------------------------------------------------------ */
/* Datagram vectors                                                    */

static void
test_spec_example(void **state)
{
    /* spec §2.2, captured from the Python client (space padding) */
    static const uint8_t v[] = {
        0x63, 0x04, 0x61, 0x01, 0x00, 0x03, 0x00, 0x08,
        0x66, 0x6f, 0x6f, 0x20,
    };
    struct ctl_datagram d;
    parse_ok(&d, v, sizeof(v), 1);
    expect_packet(&d, CTL_CMD_FADE_CHILDREN, 4, "foo", 3, CTL_COMMAND_OK,
                  "");
    expect_end(&d);
}

static void
test_nop_alone(void **state)
{
    static const uint8_t v[] = { 0x63, 0x04, 0x61, 0x01, 0, 0, 0, 0 };
    struct ctl_datagram d;
    parse_ok(&d, v, sizeof(v), 1);
    expect_packet(&d, CTL_CMD_NOP, 4, NULL, 0, CTL_COMMAND_OK, "");
    expect_end(&d);
}

static void
test_magic_only(void **state)
{
    static const uint8_t v[] = { 0x63, 0x04, 0x61, 0x01 };
    struct ctl_datagram d;
    parse_ok(&d, v, sizeof(v), 0);
    expect_end(&d);
}

/* Seven commands, four kinds of padding (0, 1, 2 and 3 bytes). */
static const uint8_t batch[] = {
    0x63, 0x04, 0x61, 0x01,
    /* @4  NOP */
    0x00, 0x00, 0x00, 0x00,
    /* @8  VERBOSE 5 */
    0x00, 0x01, 0x00, 0x07, 0x05, 0x00, 0x00, 0x00,
    /* @16 FLUSH_HTTP_CACHE "ab", padded with spaces */
    0x00, 0x02, 0x00, 0x0f, 0x61, 0x62, 0x20, 0x20,
    /* @24 DISABLE_URING 60 s */
    0x00, 0x04, 0x00, 0x15, 0x00, 0x00, 0x00, 0x3c,
    /* @32 EXPIRE_TCACHE_TAG "tag1" */
    0x00, 0x04, 0x00, 0x1a, 0x74, 0x61, 0x67, 0x31,
    /* @40 REJECT_CLIENT 300 s "1.2.3.4" */
    0x00, 0x0b, 0x00, 0x17, 0x00, 0x00, 0x01, 0x2c,
    0x31, 0x2e, 0x32, 0x2e, 0x33, 0x2e, 0x34, 0x00,
    /* @56 CANCEL_JOB "p\0j1" */
    0x00, 0x04, 0x00, 0x19, 0x70, 0x00, 0x6a, 0x31,
};
static const size_t batch_boundaries[] = { 4, 8, 16, 24, 32, 40, 56, 64 };

static void
test_batch(void **state)
{
    struct ctl_datagram d;
    parse_ok(&d, batch, sizeof(batch), 7);
    expect_packet(&d, CTL_CMD_NOP, 4, NULL, 0, CTL_COMMAND_OK, "");
    expect_packet(&d, CTL_CMD_VERBOSE, 8, "\x05", 1, CTL_COMMAND_OK, "");
    expect_packet(&d, CTL_CMD_FLUSH_HTTP_CACHE, 16, "ab", 2, CTL_COMMAND_OK,
                  "");
    expect_packet(&d, CTL_CMD_DISABLE_URING, 24, "\0\0\0\x3c", 4,
                  CTL_COMMAND_OK, "");
    expect_packet(&d, CTL_CMD_EXPIRE_TCACHE_TAG, 32, "tag1", 4,
                  CTL_COMMAND_OK, "");
    expect_packet(&d, CTL_CMD_REJECT_CLIENT, 40, "\0\0\x01\x2c" "1.2.3.4", 11,
                  CTL_COMMAND_OK, "");
    expect_packet(&d, CTL_CMD_CANCEL_JOB, 56, "p\0j1", 4, CTL_COMMAND_OK,
                  "");
    expect_end(&d);
}

static void
test_padding_content_ignored(void **state)
{
    /* FADE_CHILDREN "x": three padding bytes of NUL, space, 0xff, mixed */
    static const uint8_t pads[][3] = {
        { 0, 0, 0 }, { ' ', ' ', ' ' }, { 0xff, 0xff, 0xff }, { 0, ' ', 7 },
    };
    for (size_t i = 0; i < ARRAY_SIZE(pads); i++) {
        uint8_t v[12] = { 0x63, 0x04, 0x61, 0x01, 0x00, 0x01, 0x00, 0x08,
                          'x' };
        memcpy(v + 9, pads[i], 3);
        struct ctl_datagram d;
        parse_ok(&d, v, sizeof(v), 1);
        expect_packet(&d, CTL_CMD_FADE_CHILDREN, 4, "x", 1, CTL_COMMAND_OK,
                      "");
        expect_end(&d);
    }
}

static void
test_unknown_commands(void **state)
{
    static const uint8_t v[] = {
        0x63, 0x04, 0x61, 0x01,
        0x00, 0x01, 0x00, 0x1b, 0x41, 0x00, 0x00, 0x00, /* @4  27 "A" */
        0x00, 0x00, 0xff, 0xff,                         /* @12 65535 */
        0x00, 0x00, 0x00, 0x13,                         /* @16 RELOAD_STATE */
    };
    struct ctl_datagram d;
    parse_ok(&d, v, sizeof(v), 3);
    expect_packet(&d, 27, 4, "A", 1, CTL_COMMAND_UNKNOWN,
                  "unknown command 27 at offset 4");
    expect_packet(&d, 0xffff, 12, NULL, 0, CTL_COMMAND_UNKNOWN,
                  "unknown command 65535 at offset 12");
    expect_packet(&d, CTL_CMD_RELOAD_STATE, 16, NULL, 0, CTL_COMMAND_OK, "");
    expect_end(&d);
}

static void
test_malformed_commands_do_not_stop_the_batch(void **state)
{
    static const uint8_t v[] = {
        0x63, 0x04, 0x61, 0x01,
        0x00, 0x02, 0x00, 0x07, 0x01, 0x02, 0x00, 0x00, /* @4  VERBOSE */
        0x00, 0x00, 0x00, 0x0e,             /* @12 DISCARD_SESSION "" */
        0x00, 0x00, 0x00, 0x1a,             /* @16 EXPIRE_TCACHE_TAG "" */
        0x00, 0x04, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05, /* @20 TCACHE */
        0x00, 0x00, 0x00, 0x08,             /* @28 FADE_CHILDREN "" */
    };
    struct ctl_datagram d;
    parse_ok(&d, v, sizeof(v), 5);
    expect_packet(&d, CTL_CMD_VERBOSE, 4, "\x01\x02", 2,
                  CTL_COMMAND_MALFORMED,
                  "VERBOSE at offset 4: payload must be exactly 1 byte, "
                  "got 2");
    expect_packet(&d, CTL_CMD_DISCARD_SESSION, 12, NULL, 0,
                  CTL_COMMAND_MALFORMED,
                  "DISCARD_SESSION at offset 12: payload must not be empty");
    expect_packet(&d, CTL_CMD_EXPIRE_TCACHE_TAG, 16, NULL, 0,
                  CTL_COMMAND_MALFORMED,
                  "EXPIRE_TCACHE_TAG at offset 16: payload must not be "
                  "empty");
    expect_packet(&d, CTL_CMD_TCACHE_INVALIDATE, 20, "\0\0\0\x05", 4,
                  CTL_COMMAND_MALFORMED,
                  "TCACHE_INVALIDATE at offset 20: STATUS at payload "
                  "offset 0 is not allowed in TCACHE_INVALIDATE");
    expect_packet(&d, CTL_CMD_FADE_CHILDREN, 28, NULL, 0, CTL_COMMAND_OK,
                  "");
    expect_end(&d);
}

/* ------------------------------------------------------------------ */
/* Datagram errors                                                     */

static void
test_error_short(void **state)
{
    static const uint8_t v[] = { 0x63, 0x04, 0x61 };
    parse_fail(NULL, 0, CTL_DGRAM_SHORT,
               "datagram of 0 bytes is too short for the magic");
    parse_fail(v, 3, CTL_DGRAM_SHORT,
               "datagram of 3 bytes is too short for the magic");
}

static void
test_error_magic(void **state)
{
    static const uint8_t v1[] = { 0x63, 0x04, 0x61, 0x02, 0, 0, 0, 0 };
    /* the magic in little-endian byte order */
    static const uint8_t v2[] = { 0x01, 0x61, 0x04, 0x63, 0, 0, 0, 0 };
    /* the logging protocol's magic */
    static const uint8_t v3[] = { 0x63, 0x04, 0x61, 0x03 };
    parse_fail(v1, sizeof(v1), CTL_DGRAM_BAD_MAGIC,
               "wrong magic 0x63046102 at offset 0 (expected 0x63046101)");
    parse_fail(v2, sizeof(v2), CTL_DGRAM_BAD_MAGIC,
               "wrong magic 0x01610463 at offset 0 (expected 0x63046101)");
    parse_fail(v3, sizeof(v3), CTL_DGRAM_BAD_MAGIC,
               "wrong magic 0x63046103 at offset 0 (expected 0x63046101)");
}

static void
test_error_odd_length(void **state)
{
    /* the spec example without its padding byte */
    static const uint8_t unpadded[] = {
        0x63, 0x04, 0x61, 0x01, 0x00, 0x03, 0x00, 0x08, 0x66, 0x6f, 0x6f,
    };
    parse_fail(unpadded, sizeof(unpadded), CTL_DGRAM_TRUNCATED_PADDING,
               "odd control packet (7 bytes after the magic): truncated "
               "padding at offset 11: 0 of 1 padding bytes after the "
               "3-byte FADE_CHILDREN payload");
    /* padding of 3 with only 1 present */
    static const uint8_t short_pad[] = {
        0x63, 0x04, 0x61, 0x01, 0x00, 0x01, 0x00, 0x0c, 0x74, 0x00,
    };
    parse_fail(short_pad, sizeof(short_pad), CTL_DGRAM_TRUNCATED_PADDING,
               "odd control packet (6 bytes after the magic): truncated "
               "padding at offset 9: 1 of 3 padding bytes after the "
               "1-byte FLUSH_FILTER_CACHE payload");
}

static void
test_error_truncated_header(void **state)
{
    static const uint8_t v[] = {
        0x63, 0x04, 0x61, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    parse_fail(v, sizeof(v), CTL_DGRAM_TRUNCATED_HEADER,
               "odd control packet (6 bytes after the magic): truncated "
               "header at offset 8 (2 of 4 bytes)");
    static const uint8_t v1[] = { 0x63, 0x04, 0x61, 0x01, 0x00 };
    parse_fail(v1, sizeof(v1), CTL_DGRAM_TRUNCATED_HEADER,
               "odd control packet (1 byte after the magic): truncated "
               "header at offset 4 (1 of 4 bytes)");
}

static void
test_error_truncated_payload(void **state)
{
    /* aligned: the length field says 16, four bytes follow */
    static const uint8_t v1[] = {
        0x63, 0x04, 0x61, 0x01, 0x00, 0x10, 0x00, 0x08,
        0x66, 0x6f, 0x6f, 0x20,
    };
    parse_fail(v1, sizeof(v1), CTL_DGRAM_TRUNCATED_PAYLOAD,
               "truncated payload at offset 8: FADE_CHILDREN declares 16 "
               "bytes, 4 follow");
    /* odd: the second packet's payload crosses the end */
    static const uint8_t v2[] = {
        0x63, 0x04, 0x61, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x05, 0x00, 0x01, 0x41,
    };
    parse_fail(v2, sizeof(v2), CTL_DGRAM_TRUNCATED_PAYLOAD,
               "odd control packet (9 bytes after the magic): truncated "
               "payload at offset 12: TCACHE_INVALIDATE declares 5 bytes, "
               "1 follow");
    /* a good first command is not delivered when a later one is cut */
    static const uint8_t v3[] = {
        0x63, 0x04, 0x61, 0x01, 0x00, 0x00, 0x00, 0x13,
        0x00, 0x08, 0x00, 0x0e, 0x41, 0x42, 0x43, 0x44,
    };
    parse_fail(v3, sizeof(v3), CTL_DGRAM_TRUNCATED_PAYLOAD,
               "truncated payload at offset 12: DISCARD_SESSION declares "
               "8 bytes, 4 follow");
    /* an unknown command is named by its number */
    static const uint8_t v4[] = {
        0x63, 0x04, 0x61, 0x01, 0xff, 0xff, 0x00, 0x63,
    };
    parse_fail(v4, sizeof(v4), CTL_DGRAM_TRUNCATED_PAYLOAD,
               "truncated payload at offset 8: command 99 declares 65535 "
               "bytes, 0 follow");
}

/* ------------------------------------------------------------------ */
/* Payload rules, every command accepted and rejected                  */

struct rule_case {
    uint16_t command;
    const uint8_t *payload;
    size_t len;
    enum ctl_command_status status;
    const char *msg;
};

#define OK_(cmd, s) { CTL_CMD_##cmd, P(s), CTL_COMMAND_OK, "" }
#define BAD(cmd, s, m) { CTL_CMD_##cmd, P(s), CTL_COMMAND_MALFORMED, m }

/* A valid TCACHE_INVALIDATE payload: URI "/foo", SITE "s1" */
#define TC_OK "\0\x04\0\x04/foo\0\x02\0\x12s1\0\0"

static const struct rule_case rule_cases[] = {
    OK_(NOP, ""),
    BAD(NOP, "x", "NOP: payload must be empty, got 1 byte"),
    OK_(TCACHE_INVALIDATE, ""),
    OK_(TCACHE_INVALIDATE, TC_OK),
    BAD(TCACHE_INVALIDATE, "\0\0\0\x05",
        "TCACHE_INVALIDATE: STATUS at payload offset 0 is not allowed in "
        "TCACHE_INVALIDATE"),
    BAD(TCACHE_INVALIDATE, "\0\x01\0\x04/",
        "TCACHE_INVALIDATE: payload of 5 bytes is not padded to a multiple "
        "of 4: truncated padding at payload offset 5: 0 of 3 padding bytes "
        "after the 1-byte URI payload"),
    OK_(ENABLE_NODE, "web1:80"),
    BAD(ENABLE_NODE, "web1", "ENABLE_NODE: payload must be \"node:port\""),
    BAD(ENABLE_NODE, ":80", "ENABLE_NODE: payload must be \"node:port\""),
    BAD(ENABLE_NODE, "", "ENABLE_NODE: payload must be \"node:port\""),
    BAD(ENABLE_NODE, "web1:",
        "ENABLE_NODE: port must be a number from 1 to 65535"),
    OK_(FADE_NODE, "n:65535"),
    BAD(FADE_NODE, "n:0", "FADE_NODE: port must be a number from 1 to 65535"),
    BAD(FADE_NODE, "n:65536",
        "FADE_NODE: port must be a number from 1 to 65535"),
    BAD(FADE_NODE, "n:8a", "FADE_NODE: port must be a number from 1 to 65535"),
    BAD(FADE_NODE, "n:123456",
        "FADE_NODE: port must be a number from 1 to 65535"),
    OK_(NODE_STATUS, "n:1"),
    BAD(NODE_STATUS, "n\0:1", "NODE_STATUS: payload contains a NUL byte"),
    OK_(DUMP_POOLS, ""),
    BAD(DUMP_POOLS, "\0", "DUMP_POOLS: payload must be empty, got 1 byte"),
    OK_(STATS, ""),
    BAD(STATS, "abcd", "STATS: payload must be empty, got 4 bytes"),
    OK_(VERBOSE, "\x05"),
    OK_(VERBOSE, "\0"),
    BAD(VERBOSE, "", "VERBOSE: payload must be exactly 1 byte, got 0"),
    BAD(VERBOSE, "\x01\x02", "VERBOSE: payload must be exactly 1 byte, got 2"),
    OK_(FADE_CHILDREN, ""),
    OK_(FADE_CHILDREN, "foo"),
    BAD(FADE_CHILDREN, "f\0o", "FADE_CHILDREN: payload contains a NUL byte"),
    OK_(DISABLE_ZEROCONF, ""),
    BAD(DISABLE_ZEROCONF, "x",
        "DISABLE_ZEROCONF: payload must be empty, got 1 byte"),
    OK_(ENABLE_ZEROCONF, ""),
    BAD(ENABLE_ZEROCONF, "xy",
        "ENABLE_ZEROCONF: payload must be empty, got 2 bytes"),
    OK_(FLUSH_NFS_CACHE, ""),
    BAD(FLUSH_NFS_CACHE, "x",
        "FLUSH_NFS_CACHE: payload must be empty, got 1 byte"),
    OK_(FLUSH_FILTER_CACHE, ""),
    OK_(FLUSH_FILTER_CACHE, "tag"),
    BAD(FLUSH_FILTER_CACHE, "\0",
        "FLUSH_FILTER_CACHE: payload contains a NUL byte"),
    OK_(STOPWATCH_PIPE, ""),
    BAD(STOPWATCH_PIPE, "x",
        "STOPWATCH_PIPE: payload must be empty, got 1 byte"),
    OK_(DISCARD_SESSION, "\0\x01"),
    OK_(DISCARD_SESSION, "0123456789abcdef"),
    BAD(DISCARD_SESSION, "", "DISCARD_SESSION: payload must not be empty"),
    OK_(FLUSH_HTTP_CACHE, ""),
    OK_(FLUSH_HTTP_CACHE, "t"),
    BAD(FLUSH_HTTP_CACHE, "t\0",
        "FLUSH_HTTP_CACHE: payload contains a NUL byte"),
    OK_(TERMINATE_CHILDREN, ""),
    OK_(TERMINATE_CHILDREN, "t"),
    BAD(TERMINATE_CHILDREN, "\0",
        "TERMINATE_CHILDREN: payload contains a NUL byte"),
    OK_(DISABLE_QUEUE, ""),
    OK_(DISABLE_QUEUE, "q"),
    BAD(DISABLE_QUEUE, "q\0", "DISABLE_QUEUE: payload contains a NUL byte"),
    OK_(ENABLE_QUEUE, ""),
    OK_(ENABLE_QUEUE, "q"),
    BAD(ENABLE_QUEUE, "\0q", "ENABLE_QUEUE: payload contains a NUL byte"),
    OK_(RELOAD_STATE, ""),
    BAD(RELOAD_STATE, "x", "RELOAD_STATE: payload must be empty, got 1 byte"),
    OK_(DISCONNECT_DATABASE, "acct"),
    BAD(DISCONNECT_DATABASE, "",
        "DISCONNECT_DATABASE: payload must not be empty"),
    BAD(DISCONNECT_DATABASE, "a\0",
        "DISCONNECT_DATABASE: payload contains a NUL byte"),
    OK_(DISABLE_URING, ""),
    OK_(DISABLE_URING, "\0\0\0\x3c"),
    OK_(DISABLE_URING, "\0\0\0\0"),
    BAD(DISABLE_URING, "\0\0\x3c",
        "DISABLE_URING: payload must be empty or a 4-byte integer, got 3 "
        "bytes"),
    BAD(DISABLE_URING, "\0\0\0\0\0",
        "DISABLE_URING: payload must be empty or a 4-byte integer, got 5 "
        "bytes"),
    OK_(RESET_LIMITER, "site"),
    BAD(RESET_LIMITER, "", "RESET_LIMITER: payload must not be empty"),
    OK_(REJECT_CLIENT, "\0\0\x01\x2c" "1.2.3.4"),
    OK_(REJECT_CLIENT, "\0\0\0\0::1"),
    BAD(REJECT_CLIENT, "\0\0\x01\x2c",
        "REJECT_CLIENT: payload must be a 4-byte duration and an address, "
        "got 4 bytes"),
    BAD(REJECT_CLIENT, "",
        "REJECT_CLIENT: payload must be a 4-byte duration and an address, "
        "got 0 bytes"),
    BAD(REJECT_CLIENT, "\0\0\x01\x2c" "1.2\x01",
        "REJECT_CLIENT: address must be printable ASCII"),
    OK_(TARPIT_CLIENT, "\xff\xff\xff\xff" "h"),
    BAD(TARPIT_CLIENT, "abc",
        "TARPIT_CLIENT: payload must be a 4-byte duration and an address, "
        "got 3 bytes"),
    BAD(TARPIT_CLIENT, "\0\0\0\x01" "a b\x7f",
        "TARPIT_CLIENT: address must be printable ASCII"),
    OK_(CANCEL_JOB, "p\0j"),
    OK_(CANCEL_JOB, "partition\0" "12345"),
    BAD(CANCEL_JOB, "pj",
        "CANCEL_JOB: payload must be \"partition\\0job\" with both parts "
        "non-empty"),
    BAD(CANCEL_JOB, "\0j",
        "CANCEL_JOB: payload must be \"partition\\0job\" with both parts "
        "non-empty"),
    BAD(CANCEL_JOB, "p\0",
        "CANCEL_JOB: payload must be \"partition\\0job\" with both parts "
        "non-empty"),
    BAD(CANCEL_JOB, "p\0j\0",
        "CANCEL_JOB: payload contains more than one NUL byte"),
    OK_(EXPIRE_TCACHE_TAG, "tag"),
    BAD(EXPIRE_TCACHE_TAG, "", "EXPIRE_TCACHE_TAG: payload must not be empty"),
    BAD(EXPIRE_TCACHE_TAG, "t\0g",
        "EXPIRE_TCACHE_TAG: payload contains a NUL byte"),
    { 27, P(""), CTL_COMMAND_UNKNOWN, "unknown command 27" },
    { 0xffff, P("x"), CTL_COMMAND_UNKNOWN, "unknown command 65535" },
};

static void
test_payload_rules(void **state)
{
    bool accepted[CTL_COMMAND_COUNT] = { false };
    bool rejected[CTL_COMMAND_COUNT] = { false };
    for (size_t i = 0; i < ARRAY_SIZE(rule_cases); i++) {
        const struct rule_case *c = &rule_cases[i];
        char err[CTL_ERROR_SIZE];
        enum ctl_command_status st =
            ctl_payload_check(c->command, c->payload, c->len, err,
                              sizeof(err));
        if (st != c->status || strcmp(err, c->msg) != 0)
            fail_msg("case %zu (%s): status %d \"%s\", expected %d \"%s\"",
                     i, ctl_command_name(c->command), (int)st, err,
                     (int)c->status, c->msg);
        /* no message buffer at all is fine too */
        assert_int_equal(ctl_payload_check(c->command, c->payload, c->len,
                                           NULL, 0),
                         c->status);

        /* The same payload inside a datagram, padded with spaces. */
        uint8_t v[64];
        assert_true(c->len <= sizeof(v) - 12);
        size_t len = frame(v, c->command, c->payload, c->len, ' ');
        struct ctl_datagram d;
        struct ctl_packet pkt;
        parse_ok(&d, v, len, 1);
        assert_true(ctl_datagram_next(&d, &pkt));
        assert_int_equal(pkt.status, c->status);
        assert_int_equal(pkt.payload.len, c->len);
        if (c->status == CTL_COMMAND_MALFORMED) {
            /* "NAME: detail" becomes "NAME at offset 4: detail" */
            const char *detail = strchr(c->msg, ':');
            char want[CTL_ERROR_SIZE];
            snprintf(want, sizeof(want), "%s at offset 4%s",
                     ctl_command_name(c->command), detail);
            assert_string_equal(pkt.error, want);
        }
        expect_end(&d);

        if (c->command < CTL_COMMAND_COUNT) {
            if (c->status == CTL_COMMAND_OK)
                accepted[c->command] = true;
            else
                rejected[c->command] = true;
        }
    }
    for (unsigned n = 0; n < CTL_COMMAND_COUNT; n++) {
        if (!accepted[n] || !rejected[n])
            fail_msg("%s lacks an accepted or a rejected case",
                     ctl_command_name((uint16_t)n));
    }
}

static void
test_error_message_truncation(void **state)
{
    /* A tiny buffer gets a NUL-terminated prefix, never an overflow. */
    char err[8];
    memset(err, 'Z', sizeof(err));
    assert_int_equal(ctl_payload_check(CTL_CMD_VERBOSE, NULL, 0, err,
                                       sizeof(err)),
                     CTL_COMMAND_MALFORMED);
    assert_string_equal(err, "VERBOSE");
    /* the prefix fits, the detail is cut */
    char err16[16];
    assert_int_equal(ctl_payload_check(CTL_CMD_VERBOSE, NULL, 0, err16,
                                       sizeof(err16)),
                     CTL_COMMAND_MALFORMED);
    assert_string_equal(err16, "VERBOSE: payloa");
    char one[1] = { 'Z' };
    assert_int_equal(ctl_payload_check(CTL_CMD_STATS, P("x"), one, 1),
                     CTL_COMMAND_MALFORMED);
    assert_int_equal(one[0], '\0');
    char tc[12];
    struct ctl_tcache_invalidate out;
    assert_int_equal(ctl_tcache_decode(&out, P("\0\x01\0\x04/"), tc,
                                       sizeof(tc)),
                     -EBADMSG);
    assert_string_equal(tc, "payload of ");
}

/* ------------------------------------------------------------------ */
/* TCACHE_INVALIDATE payload                                           */

/* URI "/foo", HOST "example.com", SITE "s1", SESSION 00 ff, CACHE_TAG "t",
 * USER "" */
static const uint8_t tc_payload[] = {
    0x00, 0x04, 0x00, 0x04, 0x2f, 0x66, 0x6f, 0x6f,             /* @0 */
    0x00, 0x0b, 0x00, 0x03, 0x65, 0x78, 0x61, 0x6d,             /* @8 */
    0x70, 0x6c, 0x65, 0x2e, 0x63, 0x6f, 0x6d, 0x00,
    0x00, 0x02, 0x00, 0x12, 0x73, 0x31, 0x00, 0x00,             /* @24 */
    0x00, 0x02, 0x00, 0x0c, 0x00, 0xff, 0x00, 0x00,             /* @32 */
    0x00, 0x01, 0x00, 0xd0, 0x74, 0x00, 0x00, 0x00,             /* @40 */
    0x00, 0x00, 0x00, 0x0e,                                     /* @48 */
};

static void
expect_tc_value(const struct ctl_tcache_invalidate *tc, size_t i,
             uint16_t command, const void *value, size_t len)
{
    assert_true(i < tc->n_values);
    assert_int_equal(tc->values[i].command, command);
    assert_int_equal(tc->values[i].value.len, len);
    if (len > 0)
        assert_memory_equal(tc->values[i].value.data, value, len);
}

static void
test_tcache_valid(void **state)
{
    struct ctl_tcache_invalidate tc;
    char err[CTL_ERROR_SIZE];
    assert_int_equal(ctl_tcache_decode(&tc, tc_payload, sizeof(tc_payload),
                                       err, sizeof(err)),
                     0);
    assert_string_equal(err, "");
    assert_false(tc.flush_all);
    assert_int_equal(tc.n_values, 4);
    expect_tc_value(&tc, 0, TP_CMD_URI, "/foo", 4);
    assert_ptr_equal(tc.values[0].value.data, tc_payload + 4);
    expect_tc_value(&tc, 1, TP_CMD_HOST, "example.com", 11);
    expect_tc_value(&tc, 2, TP_CMD_SESSION, "\0\xff", 2);
    expect_tc_value(&tc, 3, TP_CMD_USER, NULL, 0);
    assert_true(tc.has_site);
    assert_int_equal(tc.site.len, 2);
    assert_memory_equal(tc.site.data, "s1", 2);
    assert_true(tc.has_cache_tag);
    assert_int_equal(tc.cache_tag.len, 1);
    assert_memory_equal(tc.cache_tag.data, "t", 1);

    /* the same payload inside a datagram (52 = 0x34 bytes) */
    uint8_t v[8 + sizeof(tc_payload)] = { 0x63, 0x04, 0x61, 0x01,
                                          0x00, 0x34, 0x00, 0x01 };
    memcpy(v + 8, tc_payload, sizeof(tc_payload));
    struct ctl_datagram d;
    parse_ok(&d, v, sizeof(v), 1);
    expect_packet(&d, CTL_CMD_TCACHE_INVALIDATE, 4, tc_payload,
                  sizeof(tc_payload), CTL_COMMAND_OK, "");
    expect_end(&d);
}

static void
test_tcache_flush_all_and_filters_only(void **state)
{
    struct ctl_tcache_invalidate tc;
    assert_int_equal(ctl_tcache_decode(&tc, NULL, 0, NULL, 0), 0);
    assert_true(tc.flush_all);
    assert_int_equal(tc.n_values, 0);
    assert_false(tc.has_site);
    assert_false(tc.has_cache_tag);

    /* SITE only: every item of that site */
    assert_int_equal(ctl_tcache_decode(&tc, P("\0\x02\0\x12s1\0\0"), NULL, 0),
                     0);
    assert_false(tc.flush_all);
    assert_int_equal(tc.n_values, 0);
    assert_true(tc.has_site);
    assert_false(tc.has_cache_tag);

    /* an empty SITE is present, not absent */
    assert_int_equal(ctl_tcache_decode(&tc, P("\0\0\0\x12"), NULL, 0), 0);
    assert_true(tc.has_site);
    assert_int_equal(tc.site.len, 0);

    /* space padding is accepted here too */
    assert_int_equal(ctl_tcache_decode(&tc, P("\0\x01\0\xd0t   "), NULL, 0),
                     0);
    assert_true(tc.has_cache_tag);
    assert_int_equal(tc.cache_tag.len, 1);
}

static void
test_tcache_every_accepted_command(void **state)
{
    static const uint16_t match[] = {
        4, 13, 12, 245, 148, 16, 3, 15, 35, 38, 163, 130, 14,
    };
    assert_int_equal(ARRAY_SIZE(match), CTL_TCACHE_MATCH_COMMANDS);
    uint8_t v[4 * ARRAY_SIZE(match)];
    for (size_t i = 0; i < ARRAY_SIZE(match); i++) {
        assert_true(ctl_tcache_command_accepted(match[i]));
        uint8_t *p = v + 4 * i;
        p[0] = 0;
        p[1] = 0;
        p[2] = (uint8_t)(match[i] >> 8);
        p[3] = (uint8_t)match[i];
    }
    struct ctl_tcache_invalidate tc;
    assert_int_equal(ctl_tcache_decode(&tc, v, sizeof(v), NULL, 0), 0);
    assert_int_equal(tc.n_values, CTL_TCACHE_MATCH_COMMANDS);
    for (size_t i = 0; i < ARRAY_SIZE(match); i++)
        assert_int_equal(tc.values[i].command, match[i]);

    assert_true(ctl_tcache_command_accepted(18));
    assert_true(ctl_tcache_command_accepted(208));
    assert_false(ctl_tcache_command_accepted(0));
    assert_false(ctl_tcache_command_accepted(5));
    assert_false(ctl_tcache_command_accepted(55));   /* ARGS */
    assert_false(ctl_tcache_command_accepted(43));   /* LOCAL_ADDRESS */
}

static void
tcache_fail(const uint8_t *v, size_t len, const char *msg)
{
    struct ctl_tcache_invalidate tc;
    char err[CTL_ERROR_SIZE];
    assert_int_equal(ctl_tcache_decode(&tc, v, len, err, sizeof(err)),
                     -EBADMSG);
    assert_string_equal(err, msg);
}

static void
test_tcache_errors(void **state)
{
    /* STATUS inside: the whole payload is malformed */
    tcache_fail(P("\0\x04\0\x04/foo" "\0\x02\0\x05" "20\0\0"),
                "STATUS at payload offset 8 is not allowed in "
                "TCACHE_INVALIDATE");
    /* an unassigned translation number */
    tcache_fail(P("\0\0\0\x19"),
                "command 25 at payload offset 0 is not allowed in "
                "TCACHE_INVALIDATE");
    /* BEGIN, and a number far beyond the table */
    tcache_fail(P("\0\0\0\x01"),
                "BEGIN at payload offset 0 is not allowed in "
                "TCACHE_INVALIDATE");
    tcache_fail(P("\0\0\xff\xff"),
                "command 65535 at payload offset 0 is not allowed in "
                "TCACHE_INVALIDATE");
    /* not a multiple of 4 */
    tcache_fail(P("\0\x01\0\x04" "A"),
                "payload of 5 bytes is not padded to a multiple of 4: "
                "truncated padding at payload offset 5: 0 of 3 padding bytes "
                "after the 1-byte URI payload");
    tcache_fail(P("\0\0\0\x04" "\0\0"),
                "payload of 6 bytes is not padded to a multiple of 4: "
                "truncated header at payload offset 4 (2 of 4 bytes)");
    tcache_fail(P("\0\x09\0\x04" "ABCDEF"),
                "payload of 10 bytes is not padded to a multiple of 4: "
                "truncated payload at payload offset 4: URI declares 9 "
                "bytes, 6 follow");
    /* aligned, but the length points past the end */
    tcache_fail(P("\0\x08\0\x04" "ABCD"),
                "truncated payload at payload offset 4: URI declares 8 "
                "bytes, 4 follow");
    /* NUL in a string value; binary values may hold NUL */
    tcache_fail(P("\0\x03\0\x04" "a\0b\0"),
                "URI value at payload offset 0 contains a NUL byte");
    tcache_fail(P("\0\x04\0\x04/foo" "\0\x01\0\x12" "\0\0\0\0"),
                "SITE value at payload offset 8 contains a NUL byte");
    struct ctl_tcache_invalidate tc;
    assert_int_equal(ctl_tcache_decode(&tc, P("\0\x03\0\xa3" "a\0b\0"), NULL,
                                       0),
                     0);
    expect_tc_value(&tc, 0, TP_CMD_INTERNAL_REDIRECT, "a\0b", 3);
}

static void
test_tcache_value_limit(void **state)
{
    /* 33 packets "URI" with an empty value, then 2 filters */
    uint8_t v[35 * 4];
    for (size_t i = 0; i < 33; i++) {
        static const uint8_t uri[4] = { 0x00, 0x00, 0x00, 0x04 };
        memcpy(v + 4 * i, uri, 4);
    }
    struct ctl_tcache_invalidate tc;
    char err[CTL_ERROR_SIZE];
    assert_int_equal(ctl_tcache_decode(&tc, v, 33 * 4, err, sizeof(err)),
                     -EBADMSG);
    assert_string_equal(err,
                        "more than 32 match values: URI at payload offset "
                        "128");

    /* 32 are fine, and SITE/CACHE_TAG do not count */
    static const uint8_t filters[8] = { 0x00, 0x00, 0x00, 0x12,
                                        0x00, 0x00, 0x00, 0xd0 };
    memcpy(v + 32 * 4, filters, 8);
    assert_int_equal(ctl_tcache_decode(&tc, v, 34 * 4, err, sizeof(err)),
                     0);
    assert_int_equal(tc.n_values, 1);
    assert_true(tc.has_site);
    assert_true(tc.has_cache_tag);
}

static void
test_tcache_repeated_command_last_wins(void **state)
{
    static const uint8_t v[] = {
        0x00, 0x02, 0x00, 0x04, 0x2f, 0x61, 0x00, 0x00, /* URI "/a" */
        0x00, 0x01, 0x00, 0x03, 0x68, 0x00, 0x00, 0x00, /* HOST "h" */
        0x00, 0x02, 0x00, 0x04, 0x2f, 0x62, 0x00, 0x00, /* URI "/b" */
        0x00, 0x01, 0x00, 0x12, 0x31, 0x00, 0x00, 0x00, /* SITE "1" */
        0x00, 0x01, 0x00, 0x12, 0x32, 0x00, 0x00, 0x00, /* SITE "2" */
    };
    struct ctl_tcache_invalidate tc;
    assert_int_equal(ctl_tcache_decode(&tc, v, sizeof(v), NULL, 0), 0);
    assert_int_equal(tc.n_values, 2);
    expect_tc_value(&tc, 0, TP_CMD_URI, "/b", 2);
    expect_tc_value(&tc, 1, TP_CMD_HOST, "h", 1);
    assert_memory_equal(tc.site.data, "2", 1);
}

/* ------------------------------------------------------------------ */
/* Encoders                                                            */

static void
test_encode_spec_example(void **state)
{
    /* our encoder pads with NUL where the Python client pads with ' ' */
    static const uint8_t want[] = {
        0x63, 0x04, 0x61, 0x01, 0x00, 0x03, 0x00, 0x08,
        0x66, 0x6f, 0x6f, 0x00,
    };
    struct pr_buf b = PR_BUF_INIT;
    assert_int_equal(ctl_datagram_begin(&b), 0);
    assert_int_equal(ctl_datagram_append(&b, CTL_CMD_FADE_CHILDREN, "foo", 3),
                     0);
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));

    /* begin discards what was there */
    assert_int_equal(ctl_datagram_begin(&b), 0);
    assert_int_equal(ctl_datagram_append(&b, CTL_CMD_NOP, NULL, 0), 0);
    static const uint8_t nop[] = { 0x63, 0x04, 0x61, 0x01, 0, 0, 0, 0 };
    assert_int_equal(b.len, sizeof(nop));
    assert_memory_equal(b.data, nop, sizeof(nop));
    pr_buf_free(&b);
}

static void
test_encode_batch_bytes(void **state)
{
    /* the hand-written batch, rebuilt (its only space padding becomes
     * NUL) */
    struct pr_buf b = PR_BUF_INIT;
    assert_int_equal(ctl_datagram_begin(&b), 0);
    assert_int_equal(ctl_datagram_append(&b, CTL_CMD_NOP, NULL, 0), 0);
    assert_int_equal(ctl_datagram_append(&b, CTL_CMD_VERBOSE, "\x05", 1), 0);
    assert_int_equal(ctl_datagram_append(&b, CTL_CMD_FLUSH_HTTP_CACHE, "ab",
                                         2),
                     0);
    assert_int_equal(ctl_datagram_append(&b, CTL_CMD_DISABLE_URING,
                                         "\0\0\0\x3c", 4),
                     0);
    assert_int_equal(ctl_datagram_append(&b, CTL_CMD_EXPIRE_TCACHE_TAG,
                                         "tag1", 4),
                     0);
    assert_int_equal(ctl_datagram_append(&b, CTL_CMD_REJECT_CLIENT,
                                         "\0\0\x01\x2c" "1.2.3.4", 11),
                     0);
    assert_int_equal(ctl_datagram_append(&b, CTL_CMD_CANCEL_JOB, "p\0j1", 4),
                     0);
    uint8_t want[sizeof(batch)];
    memcpy(want, batch, sizeof(batch));
    want[22] = want[23] = 0;
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    pr_buf_free(&b);
}

static void
test_encode_limits(void **state)
{
    struct pr_buf b = PR_BUF_INIT;
    uint8_t *big = calloc(1, CTL_MAX_PAYLOAD + 1);
    assert_non_null(big);

    /* no magic yet */
    assert_int_equal(ctl_datagram_append(&b, CTL_CMD_NOP, NULL, 0), -EINVAL);
    assert_int_equal(b.len, 0);

    assert_int_equal(ctl_datagram_begin(&b), 0);
    assert_int_equal(ctl_datagram_append(&b, CTL_CMD_DISCARD_SESSION, big,
                                         CTL_MAX_PAYLOAD + 1),
                     -EMSGSIZE);
    assert_int_equal(b.len, 4);
    /* 65535 fits the length field but not a UDP datagram */
    assert_int_equal(ctl_datagram_append(&b, CTL_CMD_DISCARD_SESSION, big,
                                         CTL_MAX_PAYLOAD),
                     -EMSGSIZE);
    /* 4 + 4 + 65497 + 3 = 65508 > 65507 */
    assert_int_equal(ctl_datagram_append(&b, CTL_CMD_DISCARD_SESSION, big,
                                         65497),
                     -EMSGSIZE);
    assert_int_equal(b.len, 4);
    /* 4 + 4 + 65496 = 65504 fits; then no packet (>= 4 bytes) does */
    assert_int_equal(ctl_datagram_append(&b, CTL_CMD_DISCARD_SESSION, big,
                                         65496),
                     0);
    assert_int_equal(b.len, 65504);
    assert_int_equal(ctl_datagram_append(&b, CTL_CMD_NOP, NULL, 0),
                     -EMSGSIZE);
    assert_int_equal(b.len, 65504);

    struct ctl_datagram d;
    parse_ok(&d, b.data, b.len, 1);
    expect_packet(&d, CTL_CMD_DISCARD_SESSION, 4, big, 65496, CTL_COMMAND_OK,
                  "");

    /* a buffer that does not start with the magic */
    b.data[0] = 0;
    assert_int_equal(ctl_datagram_append(&b, CTL_CMD_NOP, NULL, 0), -EINVAL);

    /* the decoder itself takes datagrams above the UDP size (AF_LOCAL):
     * DISCARD_SESSION with 65535 bytes, then FLUSH_HTTP_CACHE "x" */
    size_t hlen = 4 + 4 + CTL_MAX_PAYLOAD + 1 + 4 + 4;
    uint8_t *huge = calloc(1, hlen);
    assert_non_null(huge);
    static const uint8_t head[8] = { 0x63, 0x04, 0x61, 0x01,
                                     0xff, 0xff, 0x00, 0x0e };
    static const uint8_t tail[8] = { 0x00, 0x01, 0x00, 0x0f, 'x', 0, 0, 0 };
    memcpy(huge, head, 8);
    memset(huge + 8, 'A', CTL_MAX_PAYLOAD);
    memcpy(huge + hlen - 8, tail, 8);
    parse_ok(&d, huge, hlen, 2);
    expect_packet(&d, CTL_CMD_DISCARD_SESSION, 4, huge + 8, CTL_MAX_PAYLOAD,
                  CTL_COMMAND_OK, "");
    expect_packet(&d, CTL_CMD_FLUSH_HTTP_CACHE, hlen - 8, "x", 1,
                  CTL_COMMAND_OK, "");
    expect_end(&d);
    free(huge);

    pr_buf_free(&b);
    free(big);
}

static void
test_tcache_encode(void **state)
{
    const struct ctl_tcache_value values[] = {
        { TP_CMD_URI, { (const uint8_t *)"/foo", 4 } },
        { TP_CMD_HOST, { (const uint8_t *)"example.com", 11 } },
        { TP_CMD_SITE, { (const uint8_t *)"s1", 2 } },
        { TP_CMD_SESSION, { (const uint8_t *)"\0\xff", 2 } },
        { TP_CMD_CACHE_TAG, { (const uint8_t *)"t", 1 } },
        { TP_CMD_USER, { NULL, 0 } },
    };
    struct pr_buf b = PR_BUF_INIT;
    char err[CTL_ERROR_SIZE];
    assert_int_equal(ctl_tcache_encode(&b, values, ARRAY_SIZE(values), err,
                                       sizeof(err)),
                     0);
    assert_int_equal(b.len, sizeof(tc_payload));
    assert_memory_equal(b.data, tc_payload, sizeof(tc_payload));

    /* n == 0 is the flush-all payload: nothing */
    assert_int_equal(ctl_tcache_encode(&b, values, 0, err, sizeof(err)), 0);
    assert_int_equal(b.len, sizeof(tc_payload));

    /* refused: the buffer keeps what it had */
    const struct ctl_tcache_value bad[] = {
        { TP_CMD_URI, { (const uint8_t *)"/x", 2 } },
        { TP_CMD_STATUS, { (const uint8_t *)"\0\xc8", 2 } },
    };
    assert_int_equal(ctl_tcache_encode(&b, bad, 2, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err,
                        "STATUS at payload offset 8 is not allowed in "
                        "TCACHE_INVALIDATE");
    assert_int_equal(b.len, sizeof(tc_payload));
    assert_memory_equal(b.data, tc_payload, sizeof(tc_payload));

    const struct ctl_tcache_value nul[] = {
        { TP_CMD_HOST, { (const uint8_t *)"a\0", 2 } },
    };
    assert_int_equal(ctl_tcache_encode(&b, nul, 1, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err,
                        "HOST value at payload offset 0 contains a NUL byte");

    struct ctl_tcache_value many[33];
    for (size_t i = 0; i < ARRAY_SIZE(many); i++)
        many[i] = (struct ctl_tcache_value){ TP_CMD_PARAM,
                                             { (const uint8_t *)"p", 1 } };
    assert_int_equal(ctl_tcache_encode(&b, many, 33, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err,
                        "more than 32 match values: PARAM at payload offset "
                        "256");
    assert_int_equal(ctl_tcache_encode(&b, many, 32, err, sizeof(err)), 0);
    assert_int_equal(b.len, sizeof(tc_payload) + 32 * 8);

    uint8_t *big = calloc(1, CTL_MAX_PAYLOAD + 1);
    assert_non_null(big);
    const struct ctl_tcache_value huge[] = {
        { TP_CMD_URI, { big, CTL_MAX_PAYLOAD + 1 } },
    };
    size_t before = b.len;
    assert_int_equal(ctl_tcache_encode(&b, huge, 1, err, sizeof(err)),
                     -EMSGSIZE);
    assert_string_equal(err, "URI value of 65536 bytes exceeds 65535 bytes");
    assert_int_equal(b.len, before);
    free(big);
    pr_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* Round trips                                                         */

static void
test_round_trip_every_command(void **state)
{
    /* one valid payload per command, encoded then decoded */
    static const struct {
        uint16_t command;
        const char *payload;
        size_t len;
    } cases[] = {
        { CTL_CMD_NOP, "", 0 },
        { CTL_CMD_TCACHE_INVALIDATE, TC_OK, sizeof(TC_OK) - 1 },
        { CTL_CMD_ENABLE_NODE, "a:1", 3 },
        { CTL_CMD_FADE_NODE, "node:8080", 9 },
        { CTL_CMD_NODE_STATUS, "n:2", 3 },
        { CTL_CMD_DUMP_POOLS, "", 0 },
        { CTL_CMD_STATS, "", 0 },
        { CTL_CMD_VERBOSE, "\x07", 1 },
        { CTL_CMD_FADE_CHILDREN, "tag", 3 },
        { CTL_CMD_DISABLE_ZEROCONF, "", 0 },
        { CTL_CMD_ENABLE_ZEROCONF, "", 0 },
        { CTL_CMD_FLUSH_NFS_CACHE, "", 0 },
        { CTL_CMD_FLUSH_FILTER_CACHE, "ft", 2 },
        { CTL_CMD_STOPWATCH_PIPE, "", 0 },
        { CTL_CMD_DISCARD_SESSION, "\x01\x02\x03\x04\x05", 5 },
        { CTL_CMD_FLUSH_HTTP_CACHE, "", 0 },
        { CTL_CMD_TERMINATE_CHILDREN, "child", 5 },
        { CTL_CMD_DISABLE_QUEUE, "q", 1 },
        { CTL_CMD_ENABLE_QUEUE, "", 0 },
        { CTL_CMD_RELOAD_STATE, "", 0 },
        { CTL_CMD_DISCONNECT_DATABASE, "account", 7 },
        { CTL_CMD_DISABLE_URING, "\0\0\0\x0a", 4 },
        { CTL_CMD_RESET_LIMITER, "site", 4 },
        { CTL_CMD_REJECT_CLIENT, "\0\0\0\x10" "10.0.0.1", 12 },
        { CTL_CMD_TARPIT_CLIENT, "\0\0\0\x10" "::1", 7 },
        { CTL_CMD_CANCEL_JOB, "part\0job", 8 },
        { CTL_CMD_EXPIRE_TCACHE_TAG, "t", 1 },
    };
    assert_int_equal(ARRAY_SIZE(cases), CTL_COMMAND_COUNT);

    struct pr_buf b = PR_BUF_INIT;
    assert_int_equal(ctl_datagram_begin(&b), 0);
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        assert_int_equal(ctl_payload_check(cases[i].command,
                                           (const uint8_t *)cases[i].payload,
                                           cases[i].len, NULL, 0),
                         CTL_COMMAND_OK);
        assert_int_equal(ctl_datagram_append(&b, cases[i].command,
                                             cases[i].payload, cases[i].len),
                         0);
    }
    assert_int_equal(b.len % 4, 0);

    struct ctl_datagram d;
    parse_ok(&d, b.data, b.len, ARRAY_SIZE(cases));
    size_t offset = 4;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        expect_packet(&d, cases[i].command, offset, cases[i].payload,
                      cases[i].len, CTL_COMMAND_OK, "");
        offset += 4 + cases[i].len + ctl_padding(cases[i].len);
    }
    expect_end(&d);
    assert_int_equal(offset, b.len);
    pr_buf_free(&b);
}

static void
test_round_trip_tcache(void **state)
{
    /* every accepted command, binary values with NUL, an empty value */
    const struct ctl_tcache_value in[] = {
        { TP_CMD_SITE, { (const uint8_t *)"site", 4 } },
        { TP_CMD_URI, { (const uint8_t *)"/a/b?c", 6 } },
        { TP_CMD_PARAM, { (const uint8_t *)"p", 1 } },
        { TP_CMD_SESSION, { (const uint8_t *)"\0\x01\0", 3 } },
        { TP_CMD_REALM_SESSION, { (const uint8_t *)"\xff", 1 } },
        { TP_CMD_LISTENER_TAG, { (const uint8_t *)"l", 1 } },
        { TP_CMD_REMOTE_HOST, { (const uint8_t *)"192.0.2.1", 9 } },
        { TP_CMD_HOST, { (const uint8_t *)"h.example", 9 } },
        { TP_CMD_LANGUAGE, { (const uint8_t *)"de", 2 } },
        { TP_CMD_USER_AGENT, { (const uint8_t *)"curl/8", 6 } },
        { TP_CMD_QUERY_STRING, { NULL, 0 } },
        { TP_CMD_INTERNAL_REDIRECT, { (const uint8_t *)"\0", 1 } },
        { TP_CMD_ENOTDIR_, { (const uint8_t *)"/x", 2 } },
        { TP_CMD_USER, { (const uint8_t *)"u", 1 } },
        { TP_CMD_CACHE_TAG, { (const uint8_t *)"tag", 3 } },
    };
    struct pr_buf payload = PR_BUF_INIT;
    assert_int_equal(ctl_tcache_encode(&payload, in, ARRAY_SIZE(in), NULL, 0),
                     0);

    struct pr_buf b = PR_BUF_INIT;
    assert_int_equal(ctl_datagram_begin(&b), 0);
    assert_int_equal(ctl_datagram_append(&b, CTL_CMD_TCACHE_INVALIDATE,
                                         payload.data, payload.len),
                     0);
    struct ctl_datagram d;
    struct ctl_packet pkt;
    parse_ok(&d, b.data, b.len, 1);
    assert_true(ctl_datagram_next(&d, &pkt));
    assert_int_equal(pkt.status, CTL_COMMAND_OK);

    struct ctl_tcache_invalidate tc;
    assert_int_equal(ctl_tcache_decode(&tc, pkt.payload.data, pkt.payload.len,
                                       NULL, 0),
                     0);
    assert_int_equal(tc.n_values, ARRAY_SIZE(in) - 2);
    for (size_t i = 1; i < ARRAY_SIZE(in) - 1; i++)
        expect_tc_value(&tc, i - 1, in[i].command, in[i].value.data,
                     in[i].value.len);
    assert_true(tc.has_site);
    assert_memory_equal(tc.site.data, "site", 4);
    assert_true(tc.has_cache_tag);
    assert_memory_equal(tc.cache_tag.data, "tag", 3);
    pr_buf_free(&payload);
    pr_buf_free(&b);
}

/* ------------------------------------------------------------------ */
/* Truncation at every offset                                          */

/* Decode v[0..n) from an exact-size heap copy, so ASan sees any read past
 * the end; check that every slice lies inside. */
static enum ctl_datagram_status
decode_copy(const uint8_t *v, size_t n, size_t *count)
{
    uint8_t *copy = malloc(n > 0 ? n : 1);
    assert_non_null(copy);
    if (n > 0)
        memcpy(copy, v, n);
    struct ctl_datagram d;
    struct ctl_packet pkt;
    enum ctl_datagram_status st = ctl_datagram_parse(&d, copy, n);
    assert_int_equal(st, d.status);
    if (st != CTL_DGRAM_OK)
        assert_true(strlen(ctl_datagram_error(&d)) > 0);
    *count = 0;
    while (ctl_datagram_next(&d, &pkt)) {
        assert_true(pkt.payload.data >= copy + 4);
        assert_true(pkt.payload.data + pkt.payload.len <= copy + n);
        if (pkt.command == CTL_CMD_TCACHE_INVALIDATE) {
            struct ctl_tcache_invalidate tc;
            int r = ctl_tcache_decode(&tc, pkt.payload.data, pkt.payload.len,
                                      NULL, 0);
            assert_int_equal(r == 0, pkt.status == CTL_COMMAND_OK);
        }
        ++*count;
    }
    assert_int_equal(*count, d.count);
    free(copy);
    return st;
}

static void
test_truncation_at_every_offset(void **state)
{
    for (size_t n = 0; n <= sizeof(batch); n++) {
        size_t count;
        enum ctl_datagram_status st = decode_copy(batch, n, &count);
        bool boundary = false;
        size_t packets = 0;
        for (size_t i = 0; i < ARRAY_SIZE(batch_boundaries); i++)
            if (batch_boundaries[i] == n) {
                boundary = true;
                packets = i;
            }
        if (n < 4)
            assert_int_equal(st, CTL_DGRAM_SHORT);
        else if (boundary)
            assert_int_equal(st, CTL_DGRAM_OK);
        else
            assert_int_not_equal(st, CTL_DGRAM_OK);
        assert_int_equal(count, boundary ? packets : 0);
    }

    /* the TCACHE datagram, and the payload alone */
    uint8_t v[8 + sizeof(tc_payload)] = { 0x63, 0x04, 0x61, 0x01,
                                          0x00, 0x34, 0x00, 0x01 };
    memcpy(v + 8, tc_payload, sizeof(tc_payload));
    for (size_t n = 0; n <= sizeof(v); n++) {
        size_t count;
        enum ctl_datagram_status st = decode_copy(v, n, &count);
        assert_int_equal(st == CTL_DGRAM_OK, n == 4 || n == sizeof(v));
    }
    for (size_t n = 0; n <= sizeof(tc_payload); n++) {
        uint8_t *copy = malloc(n > 0 ? n : 1);
        assert_non_null(copy);
        memcpy(copy, tc_payload, n);
        struct ctl_tcache_invalidate tc;
        char err[CTL_ERROR_SIZE];
        int r = ctl_tcache_decode(&tc, copy, n, err, sizeof(err));
        bool boundary = n == 0 || n == 8 || n == 24 || n == 32 || n == 40 ||
                        n == 48 || n == 52;
        assert_int_equal(r == 0, boundary);
        if (r == 0)
            for (size_t i = 0; i < tc.n_values; i++)
                assert_true(tc.values[i].value.data + tc.values[i].value.len <=
                            copy + n);
        free(copy);
    }
}

static void
test_length_field_sweep(void **state)
{
    /* every value of the first length field over a 16-byte datagram */
    uint8_t v[16] = { 0x63, 0x04, 0x61, 0x01, 0x00, 0x00, 0x00, 0x08,
                      'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h' };
    for (unsigned len = 0; len <= 0xffff; len++) {
        v[4] = (uint8_t)(len >> 8);
        v[5] = (uint8_t)len;
        size_t count;
        enum ctl_datagram_status st = decode_copy(v, sizeof(v), &count);
        /* 5..8 end exactly at the end; 0..4 leave a header that reads
         * "ab" or "ef" as a length: truncated */
        if (len >= 5 && len <= 8)
            assert_int_equal(st, CTL_DGRAM_OK);
        else
            assert_int_not_equal(st, CTL_DGRAM_OK);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_table),
        cmocka_unit_test(test_spec_example),
        cmocka_unit_test(test_nop_alone),
        cmocka_unit_test(test_magic_only),
        cmocka_unit_test(test_batch),
        cmocka_unit_test(test_padding_content_ignored),
        cmocka_unit_test(test_unknown_commands),
        cmocka_unit_test(test_malformed_commands_do_not_stop_the_batch),
        cmocka_unit_test(test_error_short),
        cmocka_unit_test(test_error_magic),
        cmocka_unit_test(test_error_odd_length),
        cmocka_unit_test(test_error_truncated_header),
        cmocka_unit_test(test_error_truncated_payload),
        cmocka_unit_test(test_payload_rules),
        cmocka_unit_test(test_error_message_truncation),
        cmocka_unit_test(test_tcache_valid),
        cmocka_unit_test(test_tcache_flush_all_and_filters_only),
        cmocka_unit_test(test_tcache_every_accepted_command),
        cmocka_unit_test(test_tcache_errors),
        cmocka_unit_test(test_tcache_value_limit),
        cmocka_unit_test(test_tcache_repeated_command_last_wins),
        cmocka_unit_test(test_encode_spec_example),
        cmocka_unit_test(test_encode_batch_bytes),
        cmocka_unit_test(test_encode_limits),
        cmocka_unit_test(test_tcache_encode),
        cmocka_unit_test(test_round_trip_every_command),
        cmocka_unit_test(test_round_trip_tcache),
        cmocka_unit_test(test_truncation_at_every_offset),
        cmocka_unit_test(test_length_field_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
