/*
 * pr_frame: the packet framer the translation protocol (tp_reader, spec
 * §1.2) and the WAS control protocol (was_reader) share, whose packets
 * have one layout: a 4-byte header (u16 payload length, u16 command,
 * both host order) and `length` payload bytes.
 *
 * Promises:
 * - Turns a byte stream, split anywhere, into packets.  Pure: no I/O, no
 *   clock.  Zero-copy when a packet lies whole inside the bytes fed (the
 *   payload then points into them, at their end for an empty one);
 *   otherwise the packet is assembled in the framer's own buffer of
 *   max_payload bytes, allocated at the first packet that needs it.  A
 *   delivered payload stays valid until the next call.
 * - Knows no command and writes no message: it reports a payload over
 *   max_payload or a failed allocation as a result, and the protocol's
 *   reader words it (the two protocols word them differently) and keeps
 *   its own error state.  pr_frame_finish_error() is the one sentence both
 *   use for a stream that ends inside a packet.
 * - struct pr_frame is the readers' state, embedded in struct tp_reader
 *   and struct was_reader; its fields are private to this module.
 */
#ifndef PORTIER_PR_FRAME_H
#define PORTIER_PR_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PR_FRAME_HEADER_SIZE 4

struct pr_frame {
    size_t max_payload;
    uint8_t header[PR_FRAME_HEADER_SIZE];
    size_t header_fill;      /* PR_FRAME_HEADER_SIZE while in a payload */
    uint8_t *payload;        /* framer-owned, max_payload bytes, lazily */
    size_t payload_fill;
};

enum pr_frame_result {
    PR_FRAME_PACKET,         /* *command, *length, *payload set */
    PR_FRAME_NEED_MORE,      /* every byte consumed; feed more */
    PR_FRAME_OVER_LIMIT,     /* *command and *length set (over the limit) */
    PR_FRAME_NO_MEMORY,      /* *command and *length set (no buffer) */
};

/** Start a framer that refuses payloads over max_payload bytes (the
 *  caller bounds it; not 0). */
void
pr_frame_init(struct pr_frame *f, size_t max_payload);

/** Release the framer's buffer. */
void
pr_frame_destroy(struct pr_frame *f);

/**
 * Consume bytes from data[0..len) (len > 0, data not NULL).  Sets
 * *consumed to the number of bytes used (bytes after a packet are not).
 * After OVER_LIMIT or NO_MEMORY the framer must not be fed again.
 */
enum pr_frame_result
pr_frame_feed(struct pr_frame *f, const uint8_t *data, size_t len,
              size_t *consumed, uint16_t *command, uint16_t *length,
              const uint8_t **payload);

/** True when the framer is between packets (nothing partial buffered). */
bool
pr_frame_idle(const struct pr_frame *f);

/** The command of the packet being assembled (meaningful while a payload
 *  is, see pr_frame_finish_error()). */
uint16_t
pr_frame_command(const struct pr_frame *f);

/**
 * At end of stream: false when it ended between packets; else true with
 * "stream ended after N of 4 header bytes" or "stream ended after N of M
 * payload bytes (<label>)" in err[0..size), `label` naming the command of
 * pr_frame_command().
 */
bool
pr_frame_finish_error(const struct pr_frame *f, const char *label, char *err,
                      size_t size);

#endif
