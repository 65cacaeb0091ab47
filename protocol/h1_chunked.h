/*
 * h1_chunked: the chunked transfer coding (RFC 9112 §7.1): an incremental
 * decoder for request bodies and the framing helpers for writing chunked
 * responses.
 *
 * Promises:
 * - Pure and allocation-free.  The decoder is a byte state machine fed
 *   any split of the body; it hands out the chunk data as spans of the
 *   bytes it was given (zero copy) and consumes the framing itself.
 * - Strict, the same policy as the head parser (h1_request): CRLF only
 *   (a bare LF or a CR not followed by LF is an error), chunk-size
 *   1*HEXDIG with at most 16 digits and a value of at most 2^63-1, no
 *   whitespace after the size except before a ';', chunk extensions
 *   checked against the RFC grammar (name, optional token or
 *   quoted-string value) and bounded per chunk line, CRLF required after
 *   each chunk's data, a trailer section of well-formed field lines
 *   (no obsolete folding, no control characters) bounded in size.
 * - Extensions and trailer fields are checked and discarded: trailers
 *   may span calls, keeping them would need a copy.
 * - Errors are final, with a precise sentence kept in the decoder; the
 *   server answers 400 and closes.
 */
#ifndef PORTIER_H1_CHUNKED_H
#define PORTIER_H1_CHUNKED_H

#include "pr_bytes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Default limits: extension bytes per chunk line (everything between
 *  the size and the CRLF), and the trailer section's bytes (from the
 *  end of the last-chunk line up to and including the final CRLF). */
#define H1_CHUNKED_DEFAULT_MAX_EXTENSION 1024
#define H1_CHUNKED_DEFAULT_MAX_TRAILER 8192
/** The most hex digits a chunk size may have (leading zeros count). */
#define H1_CHUNKED_MAX_DIGITS 16

enum h1_chunked_status {
    H1_CHUNKED_DATA = 1,   /* *out is a span of body bytes */
    H1_CHUNKED_NEED_MORE,  /* every byte consumed, no data in them */
    H1_CHUNKED_END,        /* last chunk and trailer section complete */
    H1_CHUNKED_ERROR,      /* see h1_chunked_error() */
};

struct h1_chunked {
    uint64_t remaining;    /* data bytes left in the current chunk */
    uint64_t total;        /* body bytes handed out so far */
    size_t digits;
    size_t ext_len;
    size_t max_extension;
    size_t trailer_len;
    size_t max_trailer;
    size_t trailer_fields;
    int state;             /* private */
    char error[96];
};

/** Start a decoder; 0 for a limit means its default. */
void
h1_chunked_init(struct h1_chunked *c, size_t max_extension,
                size_t max_trailer);

/**
 * Decode from data[0..len).  Sets *consumed to the bytes used:
 * - DATA: *out points into data (out->len > 0); *consumed includes the
 *   span and the framing before it.  Call again with the rest.
 * - NEED_MORE: *consumed == len.
 * - END: *consumed ends just after the final CRLF; later bytes belong to
 *   the next request.  Further calls return END and consume nothing.
 * - ERROR: *consumed is meaningless; the decoder stays in error.
 */
enum h1_chunked_status
h1_chunked_feed(struct h1_chunked *c, const uint8_t *data, size_t len,
                size_t *consumed, struct pr_slice *out);

/** The error sentence ("" when there was none). */
const char *
h1_chunked_error(const struct h1_chunked *c);

/* ---- encoder ----------------------------------------------------------- */

/** Room for a chunk header: 16 hex digits and CRLF. */
#define H1_CHUNK_HEADER_MAX 18
/** What follows each chunk's data. */
#define H1_CHUNK_DATA_END "\r\n"
/** The last chunk with an empty trailer section. */
#define H1_CHUNK_LAST "0\r\n\r\n"

/**
 * Write the header of a chunk of `size` bytes (lower-case hex and CRLF)
 * into out, which has room for H1_CHUNK_HEADER_MAX bytes.  Returns its
 * length, or 0 when size is 0 (that would be the last chunk: use
 * H1_CHUNK_LAST).
 */
size_t
h1_chunk_header(uint8_t *out, uint64_t size);

#endif
