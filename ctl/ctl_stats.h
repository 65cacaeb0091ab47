/*
 * ctl_stats: the answer to a STATS request, turned into text for
 * portierctl (docs/portierctl.md, "stats").
 *
 * Promises:
 * - A reply datagram is the historic reply framing of spec §2.5:
 *   length:u16 BE, command:u16 BE (6 = STATS), payload, no padding.  A
 *   leading control magic (63 04 61 01) and up to 3 bytes of padding
 *   after the payload are tolerated, so a server that frames its reply
 *   like a request is understood too.
 * - The payload is Portier's msgpack map (any schema: nested maps and
 *   arrays are flattened or nested, map order is kept) or, when it does
 *   not start with a msgpack map marker, the 120-byte big-endian STATS
 *   struct of beng-proxy (spec §2.5), printed with its field names.
 * - Lengths are never trusted: before msgpack-c sees a payload, a walk over
 *   its bytes checks that it is exactly one complete object, that every
 *   container's element count fits the bytes left, and that containers
 *   nest at most CTL_STATS_MAX_DEPTH deep.  So msgpack-c never allocates
 *   more than a small multiple of the datagram size.
 * - Output is appended to a struct pr_buf; on failure the buffer may hold
 *   a partial text (the caller discards it).  Errors are sentences naming
 *   the offset, written to a caller buffer; nothing here prints.
 * - Text is made printable: in JSON, strings are escaped per RFC 8259 and
 *   invalid UTF-8 bytes become U+FFFD; the same escaping (without quotes,
 *   and leaving '"' alone) applies to keys and strings of the "key: value"
 *   form, so every line stays one line.  bin and ext
 *   values are printed as lower-case hex strings.
 */
#ifndef PORTIER_CTL_STATS_H
#define PORTIER_CTL_STATS_H

#include "pr_bytes.h"

#include <stddef.h>
#include <stdint.h>

/** Deepest accepted nesting of msgpack maps and arrays (the top map is
 *  level 1). */
#define CTL_STATS_MAX_DEPTH 16
/** Size of beng-proxy's binary STATS struct (spec §2.5). */
#define CTL_STATS_LEGACY_SIZE 120

enum ctl_stats_format {
    CTL_STATS_LINES = 1,   /* "key: value" lines, nested keys joined by
                            * '.', array elements by their index */
    CTL_STATS_JSON,        /* one JSON object and a newline */
};

/**
 * Check that payload[0..len) is exactly one well-formed msgpack object
 * within the limits above.  Returns 0, or -EBADMSG with a message such as
 * "msgpack array at offset 3 declares 1000 elements, 2 bytes follow".
 */
int
ctl_stats_msgpack_check(const uint8_t *payload, size_t len, char *err,
                        size_t err_size);

/**
 * Format a STATS payload (msgpack map or the 120-byte struct) in `format`,
 * appending to out.  Returns 0; -EBADMSG (message in err) when it is
 * neither; -ENOMEM.
 */
int
ctl_stats_format_payload(struct pr_buf *out, const uint8_t *payload,
                         size_t len, enum ctl_stats_format format, char *err,
                         size_t err_size);

/**
 * Unframe a reply datagram (see above) and format its payload, appending
 * to out.  Returns 0; -EBADMSG (message in err) for a datagram that is
 * not a STATS reply or whose payload is malformed; -ENOMEM.
 */
int
ctl_stats_format_reply(struct pr_buf *out, const uint8_t *data, size_t len,
                       enum ctl_stats_format format, char *err,
                       size_t err_size);

#endif
