/*
 * fuzz_packets: the incremental half of the translation fuzz targets.
 *
 * Promises: fuzz_feed_packets() frames data[0..size) with a tp_reader that
 * receives the bytes in chunks of `chunk` bytes (so every target also
 * exercises resumption at arbitrary offsets), and hands each packet to
 * on_packet until that returns true ("stop"), the framing fails or the
 * input ends.  *consumed is the number of bytes the reader took.  Returns
 * true when on_packet asked to stop.  Header-only (test code).
 */
#ifndef PORTIER_FUZZ_PACKETS_H
#define PORTIER_FUZZ_PACKETS_H

#include "tp_reader.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline bool
fuzz_feed_packets(const uint8_t *data, size_t size, size_t chunk,
                  bool (*on_packet)(void *ctx, const struct tp_packet *pkt),
                  void *ctx, size_t *consumed)
{
    struct tp_reader reader;
    tp_reader_init(&reader, 0);
    bool stopped = false;
    size_t pos = 0, avail = 0;
    while (!stopped) {
        if (pos == avail) {
            if (avail == size)
                break;          /* input ended */
            avail = size - avail > chunk ? avail + chunk : size;
        }
        size_t used;
        struct tp_packet pkt;
        enum tp_reader_status rs =
            tp_reader_feed(&reader, data + pos, avail - pos, &used, &pkt);
        if (rs == TP_READER_ERROR)
            break;
        pos += used;
        if (rs == TP_READER_PACKET)
            stopped = on_packet(ctx, &pkt);
    }
    tp_reader_destroy(&reader);
    *consumed = pos;
    return stopped;
}

#endif
