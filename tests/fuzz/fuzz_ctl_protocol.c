/*
 * Fuzz target for protocol/ctl_protocol: control datagrams and
 * TCACHE_INVALIDATE payloads.
 *
 * The input is decoded twice: as a whole datagram (and every
 * TCACHE_INVALIDATE command's payload in it), and as a bare
 * TCACHE_INVALIDATE payload.  Invariants, checked with abort():
 * - a rejected datagram has a message and hands out no command; an
 *   accepted one starts with the magic and is a multiple of 4 long;
 * - every command's header and padded payload lie inside the input, the
 *   payload slice points at the input's own bytes, its status agrees with
 *   ctl_payload_check() and the command table;
 * - re-encoding the commands gives the input back, padding aside;
 * - a decoded TCACHE_INVALIDATE payload has at most 13 distinct match
 *   commands, all accepted, its slices inside the payload, and it
 *   survives an encode/decode round trip.
 */
#include "ctl_protocol.h"
#include "tp_command.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond))                                                       \
            abort();                                                       \
    } while (0)

static bool
inside(struct pr_slice s, const uint8_t *data, size_t size)
{
    if (s.len == 0)
        return s.data == NULL || (s.data >= data && s.data <= data + size);
    return s.data != NULL && s.data >= data && s.len <= size &&
           s.data <= data + size - s.len;
}

static bool
slice_equal(struct pr_slice a, struct pr_slice b)
{
    return a.len == b.len &&
           (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

static void
check_tcache(const uint8_t *payload, size_t len, bool expect_ok)
{
    struct ctl_tcache_invalidate tc;
    char err[CTL_ERROR_SIZE];
    int r = ctl_tcache_decode(&tc, payload, len, err, sizeof(err));
    CHECK(r == 0 || r == -EBADMSG);
    CHECK(strlen(err) < sizeof(err));
    if (r != 0) {
        CHECK(!expect_ok);
        CHECK(err[0] != '\0');
        return;
    }
    CHECK(err[0] == '\0');
    CHECK(tc.flush_all == (len == 0));
    CHECK(len % 4 == 0);
    CHECK(tc.n_values <= CTL_TCACHE_MATCH_COMMANDS);
    for (size_t i = 0; i < tc.n_values; i++) {
        uint16_t c = tc.values[i].command;
        CHECK(ctl_tcache_command_accepted(c));
        CHECK(c != TP_CMD_SITE && c != TP_CMD_CACHE_TAG);
        CHECK(inside(tc.values[i].value, payload, len));
        for (size_t j = 0; j < i; j++)
            CHECK(tc.values[j].command != c);
    }
    CHECK(!tc.has_site || inside(tc.site, payload, len));
    CHECK(!tc.has_cache_tag || inside(tc.cache_tag, payload, len));
    CHECK(tc.has_site || tc.site.len == 0);
    CHECK(tc.has_cache_tag || tc.cache_tag.len == 0);

    /* Encode what was decoded (duplicates are folded now) and decode
     * again: the same values, filters and order. */
    struct ctl_tcache_value v[CTL_TCACHE_MATCH_COMMANDS + 2];
    size_t n = 0;
    for (size_t i = 0; i < tc.n_values; i++)
        v[n++] = tc.values[i];
    if (tc.has_site)
        v[n++] = (struct ctl_tcache_value){ TP_CMD_SITE, tc.site };
    if (tc.has_cache_tag)
        v[n++] = (struct ctl_tcache_value){ TP_CMD_CACHE_TAG, tc.cache_tag };
    struct pr_buf b = PR_BUF_INIT;
    r = ctl_tcache_encode(&b, v, n, NULL, 0);
    if (r == -ENOMEM) {
        pr_buf_free(&b);
        return;
    }
    CHECK(r == 0);
    CHECK(b.len <= len);
    struct ctl_tcache_invalidate again;
    CHECK(ctl_tcache_decode(&again, b.data, b.len, NULL, 0) == 0);
    CHECK(again.n_values == tc.n_values);
    for (size_t i = 0; i < tc.n_values; i++) {
        CHECK(again.values[i].command == tc.values[i].command);
        CHECK(slice_equal(again.values[i].value, tc.values[i].value));
    }
    CHECK(again.has_site == tc.has_site);
    CHECK(slice_equal(again.site, tc.site));
    CHECK(again.has_cache_tag == tc.has_cache_tag);
    CHECK(slice_equal(again.cache_tag, tc.cache_tag));
    pr_buf_free(&b);
}

static void
check_datagram(const uint8_t *data, size_t size)
{
    struct ctl_datagram d;
    struct ctl_packet pkt;
    enum ctl_datagram_status st = ctl_datagram_parse(&d, data, size);
    CHECK(st == d.status);
    CHECK(strlen(ctl_datagram_error(&d)) < CTL_ERROR_SIZE);
    if (st != CTL_DGRAM_OK) {
        CHECK(ctl_datagram_error(&d)[0] != '\0');
        CHECK(d.count == 0);
        CHECK(!ctl_datagram_next(&d, &pkt));
        CHECK((st == CTL_DGRAM_SHORT) == (size < CTL_MAGIC_SIZE));
        if (st != CTL_DGRAM_SHORT && st != CTL_DGRAM_BAD_MAGIC)
            CHECK(pr_load_be32(data) == CTL_MAGIC);
        return;
    }
    CHECK(ctl_datagram_error(&d)[0] == '\0');
    CHECK(size >= CTL_MAGIC_SIZE && size % 4 == 0);
    CHECK(pr_load_be32(data) == CTL_MAGIC);

    /* Re-encode every command; compare with the input, padding zeroed. */
    struct pr_buf b = PR_BUF_INIT;
    uint8_t *want = malloc(size);
    bool encode = want != NULL && size <= CTL_MAX_DATAGRAM &&
                  ctl_datagram_begin(&b) == 0;
    if (want != NULL)
        memcpy(want, data, size);

    size_t count = 0, end = CTL_MAGIC_SIZE;
    while (ctl_datagram_next(&d, &pkt)) {
        size_t len = pkt.payload.len;
        size_t pad = ctl_padding(len);
        CHECK(pkt.offset == end);
        CHECK(pkt.offset % 4 == 0);
        CHECK(pkt.offset + CTL_HEADER_SIZE + len + pad <= size);
        CHECK(pkt.payload.data == data + pkt.offset + CTL_HEADER_SIZE);
        CHECK(pkt.command == pr_load_be16(data + pkt.offset + 2));
        CHECK(len == pr_load_be16(data + pkt.offset));
        end = pkt.offset + CTL_HEADER_SIZE + len + pad;

        CHECK(strlen(pkt.error) < sizeof(pkt.error));
        CHECK((pkt.status == CTL_COMMAND_OK) == (pkt.error[0] == '\0'));
        CHECK((pkt.status == CTL_COMMAND_UNKNOWN) ==
              (ctl_command_info(pkt.command) == NULL));
        CHECK(ctl_payload_check(pkt.command, pkt.payload.data, len, NULL,
                                0) == pkt.status);
        CHECK(ctl_command_name(pkt.command) != NULL);
        if (pkt.command == CTL_CMD_TCACHE_INVALIDATE)
            check_tcache(pkt.payload.data, len,
                         pkt.status == CTL_COMMAND_OK);

        if (encode)
            encode = ctl_datagram_append(&b, pkt.command, pkt.payload.data,
                                         len) == 0;
        if (want != NULL)
            memset(want + end - pad, 0, pad);
        count++;
    }
    CHECK(count == d.count);
    CHECK(end == size);
    if (encode) {
        CHECK(b.len == size);
        CHECK(memcmp(b.data, want, size) == 0);
    }
    free(want);
    pr_buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_datagram(data, size);
    /* the input as a bare TCACHE_INVALIDATE payload, too */
    check_tcache(data, size, false);
    return 0;
}
