/*
 * tp_reader: the translation protocol's packet framer (spec §1.2).
 *
 * Promises:
 * - Turns a byte stream, split anywhere, into packets: a 4-byte header
 *   (u16 length, u16 command, both host order) and `length` payload bytes.
 * - Pure: no I/O, no clock.  Zero-copy when a packet lies whole inside the
 *   bytes fed; otherwise the packet is assembled in the reader's own
 *   buffer.  A delivered packet's payload stays valid until the next call.
 * - Knows nothing of command semantics: unassigned command numbers are
 *   delivered as they are (the interpreter decides).
 * - Errors are final and precise: a payload over the configured limit, or
 *   (from tp_reader_finish) a stream that ended inside a packet.
 */
#ifndef PORTIER_TP_READER_H
#define PORTIER_TP_READER_H

#include "pr_frame.h"

#include <stddef.h>
#include <stdint.h>

#define TP_HEADER_SIZE PR_FRAME_HEADER_SIZE
#define TP_MAX_PAYLOAD 65535

struct tp_packet {
    uint16_t command;
    uint16_t length;
    const uint8_t *payload;  /* never NULL; "" when length is 0 */
};

enum tp_reader_status {
    TP_READER_PACKET = 1,    /* *pkt holds a packet */
    TP_READER_NEED_MORE,     /* every byte consumed; feed more */
    TP_READER_ERROR,         /* see tp_reader_error() */
};

struct tp_reader {
    struct pr_frame frame;   /* private: the framing, shared with WAS */
    int state;               /* private */
    char error[96];
};

/** Start a reader that refuses payloads longer than max_payload (at most
 *  TP_MAX_PAYLOAD; 0 means TP_MAX_PAYLOAD). */
void
tp_reader_init(struct tp_reader *r, size_t max_payload);

/** Release the reader's buffer.  The reader may be initialised again. */
void
tp_reader_destroy(struct tp_reader *r);

/**
 * Consume bytes from data[0..len) (len may be 0, data then may be NULL).
 * Sets *consumed to the number of bytes used.  Returns PACKET when a
 * packet is complete (bytes after it are not consumed), NEED_MORE when
 * all bytes were used without completing one, or
 * ERROR (then *consumed is meaningless and the reader stays in error).
 * Allocation of the reassembly buffer may fail: that is an ERROR too.
 */
enum tp_reader_status
tp_reader_feed(struct tp_reader *r, const uint8_t *data, size_t len,
               size_t *consumed, struct tp_packet *pkt);

/** True when the reader is between packets (nothing partial buffered). */
int
tp_reader_idle(const struct tp_reader *r);

/**
 * Call at end of stream.  Returns 0 when the stream ended between packets,
 * -1 (with an error message set) when it ended inside a header or payload.
 */
int
tp_reader_finish(struct tp_reader *r);

/** The last error message ("" when there was none). */
const char *
tp_reader_error(const struct tp_reader *r);

#endif
