/*
 * dp_file_response: the whole HTTP decision for one static file, as data:
 * status, response headers (exact text), Content-Length, body ranges.
 * It ties dp_conditional, dp_range and dp_file_meta together in the order
 * docs/static-files.md describes, so the libuv handler only opens and
 * stats the file, reads the xattrs, calls dp_file_response_plan() and
 * writes what it says.
 *
 * Promises:
 * - Pure: no I/O, no clock (`now` is passed in), no allocation; the
 *   random bytes of a multipart boundary come from the caller.
 * - Decision order: 405 for methods other than GET/HEAD (with Allow);
 *   then the preconditions of RFC 9110 §13.2.2 (412 / 304); then, for GET
 *   only, If-Range and Range (206 / 416 / 200).
 * - Header values point into the plan itself, into the dp_file_meta and
 *   into the options (content encoding); all three must outlive the use
 *   of the headers.  Names are static strings.  Date, Server, Connection
 *   and Content-Length are the HTTP writer's: Content-Length is given as
 *   a number (for HEAD: what GET would have sent).
 * - Headers by status (each only if it has a value):
 *   200/206: Content-Type, Content-Encoding, Content-Range (single-part
 *            206), ETag, Last-Modified, Accept-Ranges, Cache-Control,
 *            Expires, Vary; a multipart 206 has Content-Type
 *            multipart/byteranges and the file's type inside the parts;
 *   304:     ETag, Last-Modified, Cache-Control, Expires, Vary
 *            (RFC 9110 §15.4.5), no body;
 *   412:     nothing, no body;  405: Allow, no body;
 *   416:     Content-Range: bytes *\/SIZE, Accept-Ranges, Vary, no body.
 *   (The backslash only protects this comment.)
 * - Several ranges become a multipart/byteranges 206, except for a
 *   compressed variant (Content-Encoding would then describe the
 *   multipart body) or without boundary random bytes: then 200.
 * - Expiry: the translation's EXPIRES_RELATIVE, if given, wins over
 *   user.MaxAge (as CONTENT_TYPE wins over user.Content-Type); either
 *   yields "Cache-Control: max-age=N" and "Expires: now + N".
 */
#ifndef PORTIER_DP_FILE_RESPONSE_H
#define PORTIER_DP_FILE_RESPONSE_H

#include "dp_conditional.h"
#include "dp_file_meta.h"
#include "dp_range.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/** The most headers a plan carries. */
#define DP_FILE_HEADERS_MAX 10

/** One response header; `value` is not NUL-terminated. */
struct dp_file_header {
    const char *name;
    const char *value;
    size_t value_len;
};

/** The request, as far as a file cares.  NULL values: header absent. */
struct dp_file_request {
    const char *method;
    size_t method_len;
    struct dp_cond_headers cond;
    const char *range;
    size_t range_len;
    const char *if_range;
    size_t if_range_len;
};

/** What the translation and the variant selection decided. */
struct dp_file_options {
    /** "gzip" / "br" when a compressed variant is sent, else NULL. */
    const char *content_encoding;
    /** A compressed variant exists: add "Vary: Accept-Encoding". */
    bool vary_accept_encoding;
    /** EXPIRES_RELATIVE seconds; 0 = none (then user.MaxAge applies). */
    uint32_t expires_relative;
    /** DP_BOUNDARY_RANDOM random bytes, used only for a multipart 206;
     *  NULL then means a multipart answer is not possible and a
     *  multi-range request gets the whole file (200). */
    const uint8_t *boundary_random;
};

struct dp_file_response {
    /** 200, 206, 304, 405, 412 or 416. */
    int status;
    /** Whether the body follows (false for HEAD and every non-2xx). */
    bool body;
    /** The Content-Length value (for HEAD: that of the GET). */
    uint64_t content_length;

    unsigned n_headers;
    struct dp_file_header headers[DP_FILE_HEADERS_MAX];

    /** For 206: the parts in order; one part = single-part 206. */
    struct dp_range_set ranges;
    bool multipart;
    char boundary[DP_BOUNDARY_SIZE];

    /* storage for the values that are not borrowed */
    char content_range[DP_CONTENT_RANGE_SIZE];
    char multipart_type[64];
    char cache_control[DP_CACHE_CONTROL_SIZE];
    char expires[DP_HTTP_DATE_SIZE];
};

/**
 * Plan the response to `req` for the file described by `meta`, with
 * `opt` (NULL: no options) and the server's clock `now`.
 */
void
dp_file_response_plan(struct dp_file_response *out,
                      const struct dp_file_request *req,
                      const struct dp_file_meta *meta,
                      const struct dp_file_options *opt, time_t now);

/**
 * Write the plan's headers as "Name: value\r\n" lines into `buf`
 * (NUL-terminated); returns the length, or -1 if `cap` is too small.
 */
int
dp_file_response_headers_text(const struct dp_file_response *r, char *buf,
                              size_t cap);

#endif
