/* Unit tests for protocol/tp_reader: the translation packet framer
 * (spec/protocols.md §1.2).  The byte vectors are written out by hand in
 * little-endian order (the spec's x86-64 examples); on a big-endian host
 * those cases are skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tp_reader.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A packet header in little-endian order: u16 length, u16 command. */
#define HDR(len, cmd)                                                      \
    (uint8_t)((len)&0xff), (uint8_t)((len) >> 8), (uint8_t)((cmd)&0xff),   \
        (uint8_t)((cmd) >> 8)

static int
host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

static void
need_little_endian(void)
{
    if (!host_is_little_endian())
        skip();
}

/* A packet copied out of the reader (payloads are transient). */
struct got {
    uint16_t command;
    uint16_t length;
    uint8_t *payload;
};

struct got_list {
    struct got v[32];
    size_t n;
};

static void
got_list_free(struct got_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].payload);
    l->n = 0;
}

static void
got_add(struct got_list *l, const struct tp_packet *pkt)
{
    assert_true(l->n < sizeof(l->v) / sizeof(l->v[0]));
    assert_non_null(pkt->payload);
    struct got *g = &l->v[l->n++];
    g->command = pkt->command;
    g->length = pkt->length;
    g->payload = malloc(pkt->length + 1u);
    assert_non_null(g->payload);
    memcpy(g->payload, pkt->payload, pkt->length);
}

/* Feed data[0..len) completely; every packet goes to `l`.  Fails the test
 * on a reader error. */
static void
feed_all(struct tp_reader *r, const uint8_t *data, size_t len,
         struct got_list *l)
{
    size_t pos = 0;
    do {
        size_t used = 12345;
        struct tp_packet pkt;
        enum tp_reader_status st =
            tp_reader_feed(r, data + pos, len - pos, &used, &pkt);
        assert_int_not_equal(st, TP_READER_ERROR);
        assert_true(used <= len - pos);
        pos += used;
        if (st == TP_READER_PACKET)
            got_add(l, &pkt);
        else
            assert_int_equal(pos, len);
    } while (pos < len);
}

/* Feed `data` in chunks whose sizes cycle through `chunks` (0 = the rest). */
static void
feed_chunked(const uint8_t *data, size_t len, const size_t *chunks,
             size_t nchunks, struct got_list *l)
{
    struct tp_reader r;
    tp_reader_init(&r, 0);
    size_t pos = 0, i = 0;
    while (pos < len) {
        size_t n = chunks[i++ % nchunks];
        if (n == 0 || n > len - pos)
            n = len - pos;
        feed_all(&r, data + pos, n, l);
        pos += n;
    }
    assert_true(tp_reader_idle(&r));
    assert_int_equal(tp_reader_finish(&r), 0);
    tp_reader_destroy(&r);
}

static void
assert_same_packets(const struct got_list *a, const struct got_list *b)
{
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->v[i].command, b->v[i].command);
        assert_int_equal(a->v[i].length, b->v[i].length);
        assert_memory_equal(a->v[i].payload, b->v[i].payload,
                            a->v[i].length + 0u);
    }
}

/* Spec §1.2: BEGIN v3 = 01 00 01 00 03, END = 00 00 02 00. */
static void
test_spec_begin_end(void **state)
{
    need_little_endian();
    static const uint8_t stream[] = { 0x01, 0x00, 0x01, 0x00, 0x03,
                                      0x00, 0x00, 0x02, 0x00 };
    struct tp_reader r;
    tp_reader_init(&r, 0);
    assert_true(tp_reader_idle(&r));

    size_t used;
    struct tp_packet pkt;
    assert_int_equal(tp_reader_feed(&r, stream, sizeof(stream), &used, &pkt),
                     TP_READER_PACKET);
    assert_int_equal(used, 5);
    assert_int_equal(pkt.command, 1);
    assert_int_equal(pkt.length, 1);
    assert_int_equal(pkt.payload[0], 3);
    /* Whole in the input: zero-copy. */
    assert_ptr_equal(pkt.payload, stream + 4);
    assert_true(tp_reader_idle(&r));

    assert_int_equal(tp_reader_feed(&r, stream + 5, 4, &used, &pkt),
                     TP_READER_PACKET);
    assert_int_equal(used, 4);
    assert_int_equal(pkt.command, 2);
    assert_int_equal(pkt.length, 0);
    assert_non_null(pkt.payload);
    assert_int_equal(tp_reader_finish(&r), 0);
    assert_string_equal(tp_reader_error(&r), "");
    tp_reader_destroy(&r);
}

/* BEGIN 3, HOST "example.com", URI "/index.html", SESSION "", a 300-byte
 * READ_FILE, END: the multi-packet stream most tests use. */
static uint8_t *
make_stream(size_t *len)
{
    static const uint8_t head[] = {
        HDR(1, 1), 0x03,                                    /* BEGIN 3 */
        HDR(11, 3), 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o',
        'm',                                                /* HOST */
        HDR(11, 4), '/', 'i', 'n', 'd', 'e', 'x', '.', 'h', 't', 'm',
        'l',                                                /* URI */
        HDR(0, 12),                                         /* SESSION "" */
        HDR(300, 152),                                      /* READ_FILE */
    };
    static const uint8_t tail[] = { HDR(0, 2) };            /* END */
    *len = sizeof(head) + 300 + sizeof(tail);
    uint8_t *s = malloc(*len);
    assert_non_null(s);
    memcpy(s, head, sizeof(head));
    for (size_t i = 0; i < 300; i++)
        s[sizeof(head) + i] = (uint8_t)(i * 7 + 1);
    memcpy(s + sizeof(head) + 300, tail, sizeof(tail));
    return s;
}

static void
test_several_packets_in_one_buffer(void **state)
{
    need_little_endian();
    size_t len;
    uint8_t *s = make_stream(&len);
    struct got_list l = { .n = 0 };
    const size_t whole[] = { 0 };
    feed_chunked(s, len, whole, 1, &l);

    assert_int_equal(l.n, 6);
    static const uint16_t cmds[] = { 1, 3, 4, 12, 152, 2 };
    static const uint16_t lens[] = { 1, 11, 11, 0, 300, 0 };
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(l.v[i].command, cmds[i]);
        assert_int_equal(l.v[i].length, lens[i]);
    }
    assert_memory_equal(l.v[1].payload, "example.com", 11);
    assert_memory_equal(l.v[2].payload, "/index.html", 11);
    for (size_t i = 0; i < 300; i++)
        assert_int_equal(l.v[4].payload[i], (uint8_t)(i * 7 + 1));
    got_list_free(&l);
    free(s);
}

/* Feeding stops after each packet: the bytes after it are not consumed. */
static void
test_consumed_stops_at_packet_end(void **state)
{
    need_little_endian();
    static const uint8_t stream[] = { HDR(2, 5), 0x94, 0x01,  /* STATUS */
                                      HDR(0, 2) };
    struct tp_reader r;
    tp_reader_init(&r, 0);
    size_t used;
    struct tp_packet pkt;
    assert_int_equal(tp_reader_feed(&r, stream, sizeof(stream), &used, &pkt),
                     TP_READER_PACKET);
    assert_int_equal(used, 6);
    assert_int_equal(pkt.command, 5);
    assert_int_equal(pkt.payload[0] | pkt.payload[1] << 8, 404);
    assert_int_equal(
        tp_reader_feed(&r, stream + 6, sizeof(stream) - 6, &used, &pkt),
        TP_READER_PACKET);
    assert_int_equal(used, 4);
    assert_int_equal(pkt.command, 2);
    tp_reader_destroy(&r);
}

static void
test_every_split_offset(void **state)
{
    need_little_endian();
    size_t len;
    uint8_t *s = make_stream(&len);
    struct got_list ref = { .n = 0 };
    const size_t whole[] = { 0 };
    feed_chunked(s, len, whole, 1, &ref);

    for (size_t k = 0; k <= len; k++) {
        /* One split at k: data[0..k) then data[k..len). */
        struct got_list l = { .n = 0 };
        struct tp_reader r;
        tp_reader_init(&r, 0);
        if (k > 0)
            feed_all(&r, s, k, &l);
        if (k < len)
            feed_all(&r, s + k, len - k, &l);
        assert_int_equal(tp_reader_finish(&r), 0);
        tp_reader_destroy(&r);
        assert_same_packets(&ref, &l);
        got_list_free(&l);
    }

    /* Every pair of splits too (k1 <= k2), for the header/payload seams. */
    for (size_t k1 = 0; k1 <= 40; k1++) {
        for (size_t k2 = k1; k2 <= len; k2 += 3) {
            struct got_list l = { .n = 0 };
            struct tp_reader r;
            tp_reader_init(&r, 0);
            feed_all(&r, s, k1, &l);
            feed_all(&r, s + k1, k2 - k1, &l);
            feed_all(&r, s + k2, len - k2, &l);
            assert_int_equal(tp_reader_finish(&r), 0);
            tp_reader_destroy(&r);
            assert_same_packets(&ref, &l);
            got_list_free(&l);
        }
    }
    got_list_free(&ref);
    free(s);
}

static void
test_byte_by_byte_and_odd_chunks(void **state)
{
    need_little_endian();
    size_t len;
    uint8_t *s = make_stream(&len);
    struct got_list ref = { .n = 0 }, l = { .n = 0 };
    const size_t whole[] = { 0 };
    feed_chunked(s, len, whole, 1, &ref);

    const size_t one[] = { 1 };
    feed_chunked(s, len, one, 1, &l);
    assert_same_packets(&ref, &l);
    got_list_free(&l);

    const size_t odd[] = { 3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 97 };
    feed_chunked(s, len, odd, sizeof(odd) / sizeof(odd[0]), &l);
    assert_same_packets(&ref, &l);
    got_list_free(&l);
    got_list_free(&ref);
    free(s);
}

/* Zero-length payloads, whole and with the header in pieces: the payload
 * pointer is never NULL. */
static void
test_zero_length_payloads(void **state)
{
    need_little_endian();
    static const uint8_t stream[] = { HDR(0, 247), HDR(0, 12), HDR(0, 2) };
    struct got_list ref = { .n = 0 }, l = { .n = 0 };
    const size_t whole[] = { 0 }, one[] = { 1 }, three[] = { 3 };
    feed_chunked(stream, sizeof(stream), whole, 1, &ref);
    assert_int_equal(ref.n, 3);
    assert_int_equal(ref.v[0].command, 247);
    assert_int_equal(ref.v[1].command, 12);
    assert_int_equal(ref.v[2].command, 2);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(ref.v[i].length, 0);
    feed_chunked(stream, sizeof(stream), one, 1, &l);
    assert_same_packets(&ref, &l);
    got_list_free(&l);
    feed_chunked(stream, sizeof(stream), three, 1, &l);
    assert_same_packets(&ref, &l);
    got_list_free(&l);
    got_list_free(&ref);
}

/* The largest payload the format can carry (65535), whole and in pieces. */
static void
test_max_payload(void **state)
{
    need_little_endian();
    const size_t len = 4 + 65535;
    uint8_t *s = malloc(len);
    assert_non_null(s);
    const uint8_t hdr[] = { HDR(65535, 4) };
    memcpy(s, hdr, 4);
    for (size_t i = 0; i < 65535; i++)
        s[4 + i] = (uint8_t)(i ^ (i >> 8));

    const size_t chunks[][2] = { { 0, 0 }, { 1, 1 }, { 1000, 7 } };
    for (size_t c = 0; c < 3; c++) {
        struct got_list l = { .n = 0 };
        feed_chunked(s, len, chunks[c], 2, &l);
        assert_int_equal(l.n, 1);
        assert_int_equal(l.v[0].command, 4);
        assert_int_equal(l.v[0].length, 65535);
        assert_memory_equal(l.v[0].payload, s + 4, 65535);
        got_list_free(&l);
    }
    free(s);
}

/* A payload over the configured limit: an error naming the command. */
static void
test_limit(void **state)
{
    need_little_endian();
    struct tp_reader r;
    size_t used;
    struct tp_packet pkt;

    tp_reader_init(&r, 100);
    static const uint8_t ok_hdr[] = { HDR(100, 3) };
    assert_int_equal(tp_reader_feed(&r, ok_hdr, 4, &used, &pkt),
                     TP_READER_NEED_MORE);
    tp_reader_destroy(&r);

    tp_reader_init(&r, 100);
    static const uint8_t over[] = { HDR(101, 3) };
    assert_int_equal(tp_reader_feed(&r, over, 4, &used, &pkt),
                     TP_READER_ERROR);
    assert_string_equal(tp_reader_error(&r),
                        "payload of 101 bytes over the limit of 100 (HOST)");
    tp_reader_destroy(&r);

    /* The same when the header arrives byte by byte. */
    tp_reader_init(&r, 100);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(tp_reader_feed(&r, over + i, 1, &used, &pkt),
                         TP_READER_NEED_MORE);
    assert_int_equal(tp_reader_feed(&r, over + 3, 1, &used, &pkt),
                     TP_READER_ERROR);
    assert_string_equal(tp_reader_error(&r),
                        "payload of 101 bytes over the limit of 100 (HOST)");
    tp_reader_destroy(&r);

    /* An unassigned command is still named, by its number. */
    tp_reader_init(&r, 10);
    static const uint8_t unknown[] = { HDR(11, 25) };
    assert_int_equal(tp_reader_feed(&r, unknown, 4, &used, &pkt),
                     TP_READER_ERROR);
    assert_string_equal(tp_reader_error(&r),
                        "payload of 11 bytes over the limit of 10 "
                        "(command 25)");
    tp_reader_destroy(&r);

    /* 0 and anything too large mean the format's own limit. */
    tp_reader_init(&r, 0);
    assert_int_equal(r.frame.max_payload, TP_MAX_PAYLOAD);
    tp_reader_destroy(&r);
    tp_reader_init(&r, 100000);
    assert_int_equal(r.frame.max_payload, TP_MAX_PAYLOAD);
    tp_reader_destroy(&r);
}

static void
test_finish_inside_header(void **state)
{
    need_little_endian();
    static const uint8_t stream[] = { HDR(0, 2), HDR(5, 3) };
    for (size_t cut = 1; cut < 4; cut++) {
        struct tp_reader r;
        size_t used;
        struct tp_packet pkt;
        tp_reader_init(&r, 0);
        assert_int_equal(tp_reader_feed(&r, stream, 4, &used, &pkt),
                         TP_READER_PACKET);
        assert_int_equal(tp_reader_feed(&r, stream + 4, cut, &used, &pkt),
                         TP_READER_NEED_MORE);
        assert_int_equal(used, cut);
        assert_false(tp_reader_idle(&r));
        assert_int_equal(tp_reader_finish(&r), -1);
        char want[64];
        snprintf(want, sizeof(want),
                 "stream ended after %zu of 4 header bytes", cut);
        assert_string_equal(tp_reader_error(&r), want);
        tp_reader_destroy(&r);
    }
}

static void
test_finish_inside_payload(void **state)
{
    need_little_endian();
    static const uint8_t stream[] = { HDR(10, 3), 'a', 'b', 'c' };
    struct tp_reader r;
    size_t used;
    struct tp_packet pkt;

    /* Header complete, no payload byte yet. */
    tp_reader_init(&r, 0);
    assert_int_equal(tp_reader_feed(&r, stream, 4, &used, &pkt),
                     TP_READER_NEED_MORE);
    assert_false(tp_reader_idle(&r));
    assert_int_equal(tp_reader_finish(&r), -1);
    assert_string_equal(tp_reader_error(&r),
                        "stream ended after 0 of 10 payload bytes (HOST)");
    tp_reader_destroy(&r);

    tp_reader_init(&r, 0);
    assert_int_equal(tp_reader_feed(&r, stream, sizeof(stream), &used, &pkt),
                     TP_READER_NEED_MORE);
    assert_int_equal(used, sizeof(stream));
    assert_int_equal(tp_reader_finish(&r), -1);
    assert_string_equal(tp_reader_error(&r),
                        "stream ended after 3 of 10 payload bytes (HOST)");
    tp_reader_destroy(&r);

    /* An unassigned command is named by its number. */
    static const uint8_t unknown[] = { HDR(2, 300), 'x' };
    tp_reader_init(&r, 0);
    assert_int_equal(
        tp_reader_feed(&r, unknown, sizeof(unknown), &used, &pkt),
        TP_READER_NEED_MORE);
    assert_int_equal(tp_reader_finish(&r), -1);
    assert_string_equal(tp_reader_error(&r),
                        "stream ended after 1 of 2 payload bytes "
                        "(command 300)");
    tp_reader_destroy(&r);
}

/* After an error every call fails again and the message stays. */
static void
test_error_is_sticky(void **state)
{
    need_little_endian();
    static const uint8_t over[] = { HDR(9, 4) };
    static const uint8_t good[] = { HDR(0, 2) };
    struct tp_reader r;
    size_t used;
    struct tp_packet pkt;
    tp_reader_init(&r, 8);
    assert_int_equal(tp_reader_feed(&r, over, 4, &used, &pkt),
                     TP_READER_ERROR);
    const char *want = "payload of 9 bytes over the limit of 8 (URI)";
    assert_string_equal(tp_reader_error(&r), want);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(tp_reader_feed(&r, good, 4, &used, &pkt),
                         TP_READER_ERROR);
        assert_int_equal(tp_reader_feed(&r, good, 0, &used, &pkt),
                         TP_READER_ERROR);
        assert_int_equal(tp_reader_finish(&r), -1);
        assert_false(tp_reader_idle(&r));
        assert_string_equal(tp_reader_error(&r), want);
    }
    tp_reader_destroy(&r);

    /* A finish error is final as well. */
    tp_reader_init(&r, 0);
    assert_int_equal(tp_reader_feed(&r, good, 2, &used, &pkt),
                     TP_READER_NEED_MORE);
    assert_int_equal(tp_reader_finish(&r), -1);
    assert_int_equal(tp_reader_feed(&r, good + 2, 2, &used, &pkt),
                     TP_READER_ERROR);
    assert_string_equal(tp_reader_error(&r),
                        "stream ended after 2 of 4 header bytes");
    tp_reader_destroy(&r);
}

/* The framer knows no semantics: 0, 25, 287 and 65535 come out as they
 * went in. */
static void
test_unknown_commands_delivered(void **state)
{
    need_little_endian();
    static const uint8_t stream[] = {
        HDR(0, 0),
        HDR(2, 25), 0xde, 0xad,
        HDR(1, 287), 0x00,
        HDR(3, 0xffff), 'x', 'y', 'z',
    };
    struct got_list l = { .n = 0 };
    const size_t whole[] = { 0 }, one[] = { 1 };
    feed_chunked(stream, sizeof(stream), whole, 1, &l);
    assert_int_equal(l.n, 4);
    assert_int_equal(l.v[0].command, 0);
    assert_int_equal(l.v[0].length, 0);
    assert_int_equal(l.v[1].command, 25);
    assert_memory_equal(l.v[1].payload, "\xde\xad", 2);
    assert_int_equal(l.v[2].command, 287);
    assert_int_equal(l.v[2].length, 1);
    assert_int_equal(l.v[2].payload[0], 0);
    assert_int_equal(l.v[3].command, 0xffff);
    assert_memory_equal(l.v[3].payload, "xyz", 3);

    struct got_list l1 = { .n = 0 };
    feed_chunked(stream, sizeof(stream), one, 1, &l1);
    assert_same_packets(&l, &l1);
    got_list_free(&l1);
    got_list_free(&l);
}

/* Feeding nothing (even a NULL pointer) is harmless, in every state. */
static void
test_feed_empty(void **state)
{
    need_little_endian();
    static const uint8_t stream[] = { HDR(2, 3), 'h', 'i' };
    struct tp_reader r;
    size_t used = 99;
    struct tp_packet pkt;
    tp_reader_init(&r, 0);
    assert_int_equal(tp_reader_feed(&r, NULL, 0, &used, &pkt),
                     TP_READER_NEED_MORE);
    assert_int_equal(used, 0);
    assert_true(tp_reader_idle(&r));
    assert_int_equal(tp_reader_feed(&r, stream, 2, &used, &pkt),
                     TP_READER_NEED_MORE);
    assert_int_equal(tp_reader_feed(&r, NULL, 0, &used, &pkt),
                     TP_READER_NEED_MORE);
    assert_int_equal(used, 0);
    assert_int_equal(tp_reader_feed(&r, stream + 2, 3, &used, &pkt),
                     TP_READER_NEED_MORE);
    assert_int_equal(tp_reader_feed(&r, NULL, 0, &used, &pkt),
                     TP_READER_NEED_MORE);
    assert_int_equal(tp_reader_feed(&r, stream + 5, 1, &used, &pkt),
                     TP_READER_PACKET);
    assert_int_equal(pkt.command, 3);
    assert_memory_equal(pkt.payload, "hi", 2);
    assert_int_equal(tp_reader_finish(&r), 0);
    tp_reader_destroy(&r);
}

/* destroy then init again gives a fresh reader; destroy twice is safe. */
static void
test_reinit(void **state)
{
    need_little_endian();
    static const uint8_t stream[] = { HDR(3, 4), '/', 'a', 'b' };
    struct tp_reader r;
    size_t used;
    struct tp_packet pkt;
    tp_reader_init(&r, 0);
    /* Force the reassembly buffer into existence. */
    assert_int_equal(tp_reader_feed(&r, stream, 5, &used, &pkt),
                     TP_READER_NEED_MORE);
    tp_reader_destroy(&r);
    tp_reader_destroy(&r);
    tp_reader_init(&r, 0);
    assert_int_equal(tp_reader_feed(&r, stream, sizeof(stream), &used, &pkt),
                     TP_READER_PACKET);
    assert_memory_equal(pkt.payload, "/ab", 3);
    tp_reader_destroy(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_begin_end),
        cmocka_unit_test(test_several_packets_in_one_buffer),
        cmocka_unit_test(test_consumed_stops_at_packet_end),
        cmocka_unit_test(test_every_split_offset),
        cmocka_unit_test(test_byte_by_byte_and_odd_chunks),
        cmocka_unit_test(test_zero_length_payloads),
        cmocka_unit_test(test_max_payload),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_finish_inside_header),
        cmocka_unit_test(test_finish_inside_payload),
        cmocka_unit_test(test_error_is_sticky),
        cmocka_unit_test(test_unknown_commands_delivered),
        cmocka_unit_test(test_feed_empty),
        cmocka_unit_test(test_reinit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
