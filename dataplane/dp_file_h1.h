/*
 * dp_file_h1: the header values a static file needs, taken from a parsed
 * HTTP/1.1 request head (protocol/h1_request), ready for
 * dp_file_response_plan() and dp_accept_encoding_parse().
 *
 * Promises:
 * - Pure: no I/O, no allocation.  Values are slices of the request
 *   buffer, except where a field was sent on several lines: those lines
 *   are joined, in order, with ", " (RFC 9110 §5.3) into the caller's
 *   scratch buffer.  A joined list header (If-Match, If-None-Match,
 *   Accept-Encoding) means what the separate lines meant; a joined
 *   singleton (the dates, Range, If-Range) becomes invalid and is ignored
 *   downstream, which is what RFC 9110 asks for repeated dates and allows
 *   for the rest.
 * - A scratch buffer of h1_request.head_len bytes is always enough (every
 *   joined byte came from a header line that was longer); with less room
 *   the result is -ENOSPC and nothing is half-joined.
 */
#ifndef PORTIER_DP_FILE_H1_H
#define PORTIER_DP_FILE_H1_H

#include "dp_file_response.h"
#include "h1_request.h"

#include <stddef.h>

/** What dp_file_from_h1() extracts. */
struct dp_file_h1 {
    struct dp_file_request req;
    /** Accept-Encoding (NULL: absent), for the variant choice. */
    const char *accept_encoding;
    size_t accept_encoding_len;
};

/**
 * The value of header `name` (case-insensitive) in `h`: NULL/0 when
 * absent, the value itself when sent once, the lines joined with ", " in
 * `scratch[*used..cap)` (advancing `*used`) when sent several times.
 * Returns 0, or -ENOSPC when the scratch buffer is too small.
 */
int
dp_h1_field(const struct h1_request *h, const char *name, char *scratch,
            size_t cap, size_t *used, const char **value, size_t *len);

/**
 * Fill `out` from the request head `h`, using `scratch[0..cap)` for
 * repeated fields.  The result borrows from the request buffer and from
 * `scratch`.  Returns 0 or -ENOSPC.
 */
int
dp_file_from_h1(const struct h1_request *h, char *scratch, size_t cap,
                struct dp_file_h1 *out);

#endif
