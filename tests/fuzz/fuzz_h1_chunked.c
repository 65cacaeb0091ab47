/*
 * Fuzz target for protocol/h1_chunked: the chunked decoder and encoder.
 *
 * Input: one configuration byte, then the body bytes.
 *   bits 0-1: limits (0 defaults; 1 extension 8, trailer 16; 2 extension
 *             1, trailer 3; 3 defaults);
 *   bits 2-7: the piece size of the incremental feed, minus one.
 * Invariants (abort() when one breaks):
 * - every DATA span lies inside the bytes given and ends where *consumed
 *   says; NEED_MORE consumes everything; END consumes at most the input
 *   and is sticky; ERROR has a message and is sticky;
 * - decoding whole and in pieces gives the same status, the same bytes
 *   consumed, the same data and the same message;
 * - total equals the data handed out;
 * - on END: re-encoding the data as chunks (h1_chunk_header) and
 *   decoding that gives the same data back.
 */
#include "h1_chunked.h"

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

struct run {
    enum h1_chunked_status st;
    size_t used;
    uint8_t *out;
    size_t out_len;
    char error[96];
};

static void
decode(const uint8_t *in, size_t len, size_t piece, size_t max_ext,
       size_t max_trailer, struct run *r)
{
    struct h1_chunked c;
    h1_chunked_init(&c, max_ext, max_trailer);
    memset(r, 0, sizeof(*r));
    r->out = malloc(len + 1);
    CHECK(r->out != NULL);
    r->st = H1_CHUNKED_NEED_MORE;
    size_t pos = 0, avail = 0;
    for (;;) {
        if (pos == avail) {
            if (avail == len)
                break;
            avail = (piece == 0 || len - avail < piece) ? len : avail + piece;
        }
        size_t used = (size_t)-1;
        struct pr_slice out = { NULL, 0 };
        const uint8_t *base = in + pos;
        size_t n = avail - pos;
        enum h1_chunked_status st = h1_chunked_feed(&c, base, n, &used, &out);
        if (st == H1_CHUNKED_ERROR) {
            r->st = st;
            snprintf(r->error, sizeof(r->error), "%s", h1_chunked_error(&c));
            CHECK(r->error[0] != '\0');
            CHECK(h1_chunked_feed(&c, base, n, &used, &out) ==
                  H1_CHUNKED_ERROR);
            break;
        }
        CHECK(used <= n);
        switch (st) {
        case H1_CHUNKED_DATA:
            CHECK(out.len > 0 && out.data >= base);
            CHECK(out.data + out.len == base + used);
            memcpy(r->out + r->out_len, out.data, out.len);
            r->out_len += out.len;
            break;
        case H1_CHUNKED_NEED_MORE:
            CHECK(used == n);
            break;
        case H1_CHUNKED_END:
            r->st = st;
            r->used = pos + used;
            CHECK(h1_chunked_feed(&c, base + used, n - used, &used, &out) ==
                  H1_CHUNKED_END);
            CHECK(used == 0);
            break;
        default:
            abort();
        }
        if (st == H1_CHUNKED_END)
            break;
        pos += used;
    }
    CHECK(c.total == r->out_len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    uint8_t cfg = data[0];
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    size_t piece = 1 + (cfg >> 2);
    size_t max_ext = 0, max_trailer = 0;
    switch (cfg & 3) {
    case 1:
        max_ext = 8;
        max_trailer = 16;
        break;
    case 2:
        max_ext = 1;
        max_trailer = 3;
        break;
    default:
        break;
    }

    struct run whole, pieces;
    decode(in, len, 0, max_ext, max_trailer, &whole);
    decode(in, len, piece, max_ext, max_trailer, &pieces);
    CHECK(whole.st == pieces.st && whole.used == pieces.used &&
          whole.out_len == pieces.out_len &&
          memcmp(whole.out, pieces.out, whole.out_len) == 0 &&
          strcmp(whole.error, pieces.error) == 0);
    CHECK(whole.used <= len);

    if (whole.st == H1_CHUNKED_END) {
        /* Re-encode in chunks of `piece` bytes and decode again. */
        size_t cap = whole.out_len * 2 + (whole.out_len / piece + 1) * 20 +
                     16;
        uint8_t *enc = malloc(cap);
        CHECK(enc != NULL);
        size_t n = 0;
        for (size_t off = 0; off < whole.out_len; off += piece) {
            size_t k = whole.out_len - off < piece ? whole.out_len - off
                                                   : piece;
            size_t h = h1_chunk_header(enc + n, k);
            CHECK(h >= 3 && h <= H1_CHUNK_HEADER_MAX);
            n += h;
            memcpy(enc + n, whole.out + off, k);
            n += k;
            memcpy(enc + n, H1_CHUNK_DATA_END, 2);
            n += 2;
        }
        memcpy(enc + n, H1_CHUNK_LAST, 5);
        n += 5;
        CHECK(n <= cap);
        struct run again;
        decode(enc, n, 0, 0, 0, &again);
        CHECK(again.st == H1_CHUNKED_END && again.used == n &&
              again.out_len == whole.out_len &&
              memcmp(again.out, whole.out, whole.out_len) == 0);
        free(again.out);
        free(enc);
    }
    free(whole.out);
    free(pieces.out);
    return 0;
}
