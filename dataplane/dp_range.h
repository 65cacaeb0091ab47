/*
 * dp_range: byte Range requests (RFC 9110 §14) against a file of known
 * size, and the exact framing of 206 responses (Content-Range,
 * multipart/byteranges per RFC 9110 §14.6 and RFC 2046 §5.1).
 *
 * Promises:
 * - Pure: no I/O, no allocation, no clock, no randomness (the caller
 *   brings the random bytes of a boundary).
 * - dp_range_parse() says one of three things:
 *   IGNORE (send 200 with the whole file): the unit is not "bytes"
 *   (compared case-insensitively), the value breaks the grammar
 *   (`bytes=` range-set of int-range / suffix-range, no OWS around "="
 *   or "-"), an int-range ends before it starts, or the header has more
 *   than DP_RANGE_MAX_SPECS range-specs (RFC 9110 §14.2 lets a server
 *   ignore such requests);
 *   UNSATISFIABLE (416 with `Content-Range: bytes *\/SIZE`; the
 *   backslash only protects this comment): no range-spec selects a
 *   byte (first-pos >= size, a zero suffix, any range of an empty file);
 *   PARTIAL (206): at least one range selects bytes.  Unsatisfiable
 *   specs are dropped, last-pos is clamped to size - 1, a suffix longer
 *   than the file selects all of it.  Overlapping, adjacent and nearly
 *   adjacent (gap < DP_RANGE_COALESCE_GAP bytes) ranges are merged; when
 *   nothing was merged the ranges keep the order of the request,
 *   otherwise they come out sorted.  After merging the ranges are
 *   disjoint, so a response never carries more file bytes than the file
 *   has (no amplification), and at most DP_RANGE_MAX_SPECS parts.
 * - Numbers of any length are read with saturation at UINT64_MAX, so
 *   "bytes=0-99999999999999999999999" is the whole file and a huge
 *   first-pos is simply unsatisfiable; nothing overflows.
 * - The text helpers write into caller buffers, NUL-terminate, and return
 *   the length written, or -1 if the buffer is too small or an argument
 *   is unusable (a content type with control characters); they never
 *   write more than `cap` bytes.
 */
#ifndef PORTIER_DP_RANGE_H
#define PORTIER_DP_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Most range-specs accepted in one Range header (more: ignored). */
#define DP_RANGE_MAX_SPECS 16
/** Ranges separated by fewer bytes than this are sent as one part (a
 *  part header costs about as much). */
#define DP_RANGE_COALESCE_GAP 80

/** An inclusive byte range inside the file: first <= last < size. */
struct dp_byte_range {
    uint64_t first;
    uint64_t last;
};

struct dp_range_set {
    /** Number of ranges in r[]; 1 means a single-part 206. */
    unsigned count;
    struct dp_byte_range r[DP_RANGE_MAX_SPECS];
};

enum dp_range_status {
    /** Ignore the Range header: 200 with the whole representation. */
    DP_RANGE_IGNORE = 1,
    /** 206 with the ranges of the set. */
    DP_RANGE_PARTIAL,
    /** 416 with Content-Range: bytes *\/size. */
    DP_RANGE_UNSATISFIABLE,
};

/**
 * Parse the Range value `s[0..len)` for a representation of `size` bytes.
 * `out` is filled (count > 0) only for DP_RANGE_PARTIAL; otherwise its
 * count is 0.
 */
enum dp_range_status
dp_range_parse(const char *s, size_t len, uint64_t size,
               struct dp_range_set *out);

/** Number of bytes in `r`. */
static inline uint64_t
dp_byte_range_length(const struct dp_byte_range *r)
{
    return r->last - r->first + 1;
}

/** Enough for any Content-Range value we write, with the NUL. */
#define DP_CONTENT_RANGE_SIZE 72

/**
 * Write the Content-Range value "bytes FIRST-LAST/SIZE" of `r`.
 */
int
dp_content_range(char *buf, size_t cap, const struct dp_byte_range *r,
                 uint64_t size);

/**
 * Write the Content-Range value of a 416: "bytes *\/SIZE".
 */
int
dp_content_range_unsatisfied(char *buf, size_t cap, uint64_t size);

/** Random bytes a boundary is made of, and the boundary's length (hex). */
#define DP_BOUNDARY_RANDOM 16
#define DP_BOUNDARY_LEN (2 * DP_BOUNDARY_RANDOM)
#define DP_BOUNDARY_SIZE (DP_BOUNDARY_LEN + 1)
/** The longest boundary the helpers accept (RFC 2046 §5.1.1). */
#define DP_BOUNDARY_MAX 70

/**
 * Make a multipart boundary from `random` (e.g. from getrandom()): 32
 * lowercase hex digits and a NUL.  Random bytes make a collision with the
 * file contents as unlikely as guessing them.
 */
void
dp_multipart_boundary(char out[DP_BOUNDARY_SIZE],
                      const uint8_t random[DP_BOUNDARY_RANDOM]);

/**
 * Write the Content-Type value of the 206: "multipart/byteranges;
 * boundary=BOUNDARY".
 */
int
dp_multipart_content_type(char *buf, size_t cap, const char *boundary);

/** Room for a part header with a content type of `ct_len` bytes. */
#define DP_MULTIPART_HEADER_SIZE(ct_len)                                   \
    (2 + 2 + DP_BOUNDARY_MAX + 2 + 14 + (ct_len) + 2 + 15 +                \
     DP_CONTENT_RANGE_SIZE + 2 + 2 + 1)

/**
 * Write the bytes that precede part `r` of a multipart/byteranges body:
 * "--BOUNDARY\r\n" (with a leading "\r\n" unless `first`), then
 * "Content-Type: CT\r\n" (left out when `content_type` is NULL),
 * "Content-Range: bytes F-L/SIZE\r\n" and the empty line.  The part's
 * bytes follow directly.
 */
int
dp_multipart_part_header(char *buf, size_t cap, const char *boundary,
                         const char *content_type, size_t content_type_len,
                         const struct dp_byte_range *r, uint64_t size,
                         bool first);

/** Room for the closing delimiter. */
#define DP_MULTIPART_TRAILER_SIZE (2 + 2 + DP_BOUNDARY_MAX + 2 + 2 + 1)

/**
 * Write the close delimiter that ends the body: "\r\n--BOUNDARY--\r\n".
 */
int
dp_multipart_trailer(char *buf, size_t cap, const char *boundary);

/**
 * The exact Content-Length of the multipart/byteranges body made of the
 * part headers, the parts and the trailer above, for `set` (count >= 1).
 * Returns 0 and sets `*out`, or -1 if an argument is unusable.
 */
int
dp_multipart_length(const struct dp_range_set *set, const char *boundary,
                    const char *content_type, size_t content_type_len,
                    uint64_t size, uint64_t *out);

#endif
