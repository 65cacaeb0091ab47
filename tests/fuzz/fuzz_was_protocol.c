/*
 * Fuzz target for protocol/was_protocol: WAS control packets read by a
 * container (what applications send) and by an application (what
 * containers send).
 *
 * Invariants, checked with abort():
 * - the result does not depend on the split: fed whole, in two pieces cut
 *   where the first byte says, and one byte at a time, the reader gives
 *   the same packets (command, payload, decoded fields), the same error
 *   message and the same finish() result;
 * - consumed counts never exceed what was offered; NEED_MORE consumes all;
 *   an error has a message and is final; a packet fed whole is zero copy;
 * - every packet passes was_packet_check() with the same decoded fields,
 *   its command is known and allowed for the reading side;
 * - re-encoding the packets (was_append_packet) gives back the bytes that
 *   were consumed, and the typed encoders (status, method, pair, u64,
 *   metric) build payloads that decode to the same values.
 */
#include "was_protocol.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond))                                                       \
            abort();                                                       \
    } while (0)

struct result {
    struct pr_buf encoded;    /* the packets re-encoded */
    size_t n;
    uint64_t digest;          /* over the decoded fields */
    int finish;
    char error[WAS_ERROR_SIZE];
};

static uint64_t
mix(uint64_t h, const void *p, size_t len)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static bool
slice_in(struct pr_slice s, struct pr_slice outer)
{
    return s.len == 0 || (s.data >= outer.data && s.len <= outer.len &&
                          s.data + s.len <= outer.data + outer.len);
}

static void
check_typed(enum was_side side, const struct was_packet *pkt)
{
    struct pr_buf b = PR_BUF_INIT;
    struct was_packet again;
    int r = 1;
    switch (pkt->command) {
    case WAS_CMD_STATUS:
        r = was_append_status(&b, pkt->number);
        break;
    case WAS_CMD_METHOD:
        r = was_append_method(&b, (enum was_method)pkt->number);
        break;
    case WAS_CMD_HEADER:
    case WAS_CMD_PARAMETER:
        r = was_append_pair(&b, (enum was_command)pkt->command,
                            pkt->name.data, pkt->name.len, pkt->value.data,
                            pkt->value.len);
        break;
    case WAS_CMD_LENGTH:
    case WAS_CMD_PREMATURE:
        r = was_append_u64(&b, (enum was_command)pkt->command, pkt->u64);
        break;
    case WAS_CMD_METRIC:
        if (side == WAS_SIDE_CONTAINER)
            r = was_append_metric(&b, (const char *)pkt->name.data,
                                  pkt->name.len, pkt->metric);
        break;
    default:
        break;
    }
    if (r == 1)
        return;
    CHECK(r == 0);
    CHECK(b.len >= WAS_HEADER_SIZE);
    CHECK(pr_load_u16(b.data) == b.len - WAS_HEADER_SIZE);
    CHECK(pr_load_u16(b.data + 2) == pkt->command);
    CHECK(was_packet_check(side, pkt->command, b.data + WAS_HEADER_SIZE,
                           b.len - WAS_HEADER_SIZE, &again, NULL, 0) == 0);
    CHECK(again.number == pkt->number && again.u64 == pkt->u64);
    if (pkt->command != WAS_CMD_STATUS && pkt->command != WAS_CMD_METHOD) {
        /* everything but the integer width is canonical */
        CHECK(b.len - WAS_HEADER_SIZE == pkt->payload.len);
        CHECK(memcmp(b.data + WAS_HEADER_SIZE, pkt->payload.data,
                     pkt->payload.len) == 0);
    }
    pr_buf_free(&b);
}

static void
on_packet(enum was_side side, const struct was_packet *pkt,
          struct result *res)
{
    const struct was_command_info *info = was_command_info(pkt->command);
    CHECK(info != NULL);
    CHECK(info->direction != (side == WAS_SIDE_CONTAINER ? WAS_DIR_C2A
                                                          : WAS_DIR_A2C));
    CHECK(pkt->payload.data != NULL);
    CHECK(slice_in(pkt->name, pkt->payload));
    CHECK(slice_in(pkt->value, pkt->payload));

    struct was_packet again;
    char err[WAS_ERROR_SIZE];
    CHECK(was_packet_check(side, pkt->command, pkt->payload.data,
                           pkt->payload.len, &again, err, sizeof(err)) == 0);
    CHECK(err[0] == '\0');
    CHECK(again.number == pkt->number && again.u64 == pkt->u64);
    CHECK(again.name.data == pkt->name.data &&
          again.name.len == pkt->name.len);
    CHECK(again.value.data == pkt->value.data &&
          again.value.len == pkt->value.len);
    if (pkt->command == WAS_CMD_STATUS)
        CHECK(pkt->number >= 200 && pkt->number <= 599);
    if (pkt->command == WAS_CMD_LENGTH || pkt->command == WAS_CMD_PREMATURE)
        CHECK(pkt->u64 <= (uint64_t)INT64_MAX);
    if (pkt->command == WAS_CMD_METRIC && side == WAS_SIDE_CONTAINER)
        CHECK(isfinite(pkt->metric) && pkt->name.len >= 1 &&
              pkt->name.len <= WAS_MAX_METRIC_NAME);
    check_typed(side, pkt);

    CHECK(was_append_packet(&res->encoded, pkt->command, pkt->payload.data,
                            pkt->payload.len) == 0);
    uint64_t h = res->digest;
    h = mix(h, &pkt->command, sizeof(pkt->command));
    h = mix(h, pkt->payload.data, pkt->payload.len);
    h = mix(h, &pkt->number, sizeof(pkt->number));
    h = mix(h, &pkt->u64, sizeof(pkt->u64));
    h = mix(h, &pkt->name.len, sizeof(pkt->name.len));
    h = mix(h, &pkt->value.len, sizeof(pkt->value.len));
    res->digest = h;
    res->n++;
}

static void
run(enum was_side side, size_t max_payload, const uint8_t *data, size_t size,
    const size_t *cuts, size_t ncuts, struct result *res)
{
    memset(res, 0, sizeof(*res));
    struct was_reader r;
    was_reader_init(&r, side, max_payload);
    size_t start = 0;
    bool ok = true;
    for (size_t i = 0; i <= ncuts && ok; i++) {
        size_t end = i < ncuts ? cuts[i] : size;
        size_t pos = start;
        for (;;) {
            size_t used = (size_t)-1;
            struct was_packet pkt;
            bool was_idle = was_reader_idle(&r);
            enum was_reader_status st =
                was_reader_feed(&r, data + pos, end - pos, &used, &pkt);
            if (st == WAS_READER_ERROR) {
                CHECK(was_reader_error(&r)[0] != '\0');
                CHECK(was_reader_feed(&r, data, size, &used, &pkt) ==
                      WAS_READER_ERROR);
                ok = false;
                break;
            }
            CHECK(used <= end - pos);
            if (st == WAS_READER_NEED_MORE) {
                CHECK(used == end - pos);
                break;
            }
            CHECK(st == WAS_READER_PACKET);
            if (was_idle)  /* whole in the input: zero copy */
                CHECK(pkt.payload.len == 0 ||
                      pkt.payload.data == data + pos + WAS_HEADER_SIZE);
            pos += used;
            CHECK(was_reader_idle(&r));
            on_packet(side, &pkt, res);
        }
        start = end;
    }
    res->finish = was_reader_finish(&r);
    CHECK(res->finish == 0 || res->finish == -1);
    CHECK((res->finish == 0) == (was_reader_error(&r)[0] == '\0'));
    CHECK(!ok ? res->finish == -1 : true);
    if (res->finish == 0) {
        /* every byte was a packet: re-encoding gives the input back */
        CHECK(res->encoded.len == size);
        CHECK(size == 0 || memcmp(res->encoded.data, data, size) == 0);
    } else {
        CHECK(res->encoded.len <= size);
        CHECK(res->encoded.len == 0 ||
              memcmp(res->encoded.data, data, res->encoded.len) == 0);
    }
    snprintf(res->error, sizeof(res->error), "%s", was_reader_error(&r));
    was_reader_destroy(&r);
}

static void
same(const struct result *a, const struct result *b)
{
    CHECK(a->n == b->n && a->digest == b->digest);
    CHECK(a->finish == b->finish);
    CHECK(strcmp(a->error, b->error) == 0);
    CHECK(a->encoded.len == b->encoded.len);
}

static void
check(enum was_side side, size_t max_payload, const uint8_t *data,
      size_t size)
{
    struct result whole, other;
    run(side, max_payload, data, size, NULL, 0, &whole);

    size_t cut = size > 0 ? data[0] % (size + 1) : 0;
    run(side, max_payload, data, size, &cut, 1, &other);
    same(&whole, &other);
    pr_buf_free(&other.encoded);

    if (size <= 4096) {
        size_t *cuts = malloc((size + 1) * sizeof(*cuts));
        CHECK(cuts != NULL);
        for (size_t i = 0; i < size; i++)
            cuts[i] = i;
        run(side, max_payload, data, size, cuts, size, &other);
        same(&whole, &other);
        pr_buf_free(&other.encoded);
        free(cuts);
    }
    pr_buf_free(&whole.encoded);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(WAS_SIDE_CONTAINER, 0, data, size);
    check(WAS_SIDE_APPLICATION, 0, data, size);
    check(WAS_SIDE_CONTAINER, 64, data, size);
    return 0;
}
