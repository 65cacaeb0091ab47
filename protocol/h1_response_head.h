/*
 * h1_response_head: the HTTP/1.1 response-head parser of the HTTP client
 * (RFC 9112 §4-§6, RFC 9110 §6.4.1, §15), as strict as the request side
 * (h1_request).
 *
 * Promises:
 * - Pure and allocation-free: header names and values, and the reason
 *   phrase, are slices into the caller's buffer.
 * - Incremental in the same way as h1_request: the caller passes every
 *   byte received since the start of the response, again on each call;
 *   the parser keeps offsets, so the buffer may move between calls.  The
 *   answer depends only on the bytes, never on how they were split.
 * - Strict on everything that decides framing or could desynchronise the
 *   connection: CRLF only (a bare LF or CR is an error), "HTTP/1.x",
 *   exactly one SP, a three-digit status 100-599, no obsolete line
 *   folding, no whitespace before the colon, no control characters (NUL
 *   included) in names or values, Content-Length a plain decimal
 *   repeated only with the same value, never together with
 *   Transfer-Encoding, Transfer-Encoding only in HTTP/1.1 and only as
 *   "chunked" (the proxy implements no other transfer coding, and a
 *   close-delimited body after another coding would be ambiguous).
 * - The framing decision (RFC 9112 §6.3): no body for a response to HEAD,
 *   for 1xx, 204 and 304 (whatever the headers say; Content-Length is
 *   still checked and reported); else chunked, else Content-Length, else
 *   the body runs until the server closes (and the connection cannot be
 *   reused).
 * - Errors are final, with a precise sentence kept in the parser; the
 *   proxy answers 502 and closes the backend connection.
 */
#ifndef PORTIER_H1_RESPONSE_HEAD_H
#define PORTIER_H1_RESPONSE_HEAD_H

#include "h1_request.h"
#include "pr_bytes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Default limits: header lines and bytes of the whole head. */
#define H1_RESPONSE_DEFAULT_MAX_HEADERS 100
#define H1_RESPONSE_DEFAULT_MAX_HEAD 32768

enum h1_body_framing {
    H1_BODY_NONE = 1,      /* no body (HEAD, 1xx, 204, 304) */
    H1_BODY_LENGTH,        /* content_length bytes (may be 0) */
    H1_BODY_CHUNKED,       /* chunked transfer coding */
    H1_BODY_CLOSE,         /* until the server closes the connection */
};

/** The response head, filled in when h1_parse_response() returns DONE. */
struct h1_response_head {
    size_t head_len;              /* bytes of the head (consumed) */
    unsigned version_minor;       /* HTTP/1.x */
    unsigned status;              /* 100..599 */
    struct pr_slice reason;       /* may be empty */
    struct h1_header *headers;    /* the caller's array */
    size_t header_count;

    enum h1_body_framing framing;
    bool has_content_length;      /* a valid Content-Length was present */
    uint64_t content_length;      /* its value (also with NONE) */
    bool keep_alive;              /* the connection may carry the next
                                     request once the body is read */
    unsigned connection;          /* H1_CONN_* bits */
};

struct h1_response_parser {
    size_t max_headers;
    size_t max_head;
    struct h1_header *headers;
    bool head_request;            /* the request was HEAD: no body */
    size_t scan;                  /* bytes searched for line ends */
    size_t line_start;
    size_t lines;                 /* lines found, the status line too */
    size_t head_len;
    int state;                    /* private */
    char error[H1_ERROR_SIZE];
};

/**
 * Start a parser.  max_headers and max_head of 0 mean the defaults;
 * max_headers is clamped to headers_cap (at least 1).  head_request:
 * the request was HEAD, so the response has no body.
 */
void
h1_response_parser_init(struct h1_response_parser *p, size_t max_headers,
                        size_t max_head, struct h1_header *headers,
                        size_t headers_cap, bool head_request);

/**
 * Parse the response head at the start of buf[0..len), passing the whole
 * buffer each time.  NEED_MORE, DONE (*out filled in; out->head_len bytes
 * belong to the head, the rest is body) or ERROR (the parser stays in
 * error; *out is not touched).  A 1xx head other than 101 is an interim
 * response: the caller drops its head_len bytes, re-inits the parser and
 * parses the next head.
 */
enum h1_result
h1_parse_response(struct h1_response_parser *p, const uint8_t *buf,
                  size_t len, struct h1_response_head *out);

/** The error sentence ("" when there was none). */
const char *
h1_response_parser_error(const struct h1_response_parser *p);

/** Find a header by name (ASCII case-insensitive); NULL when absent. */
const struct h1_header *
h1_response_find(const struct h1_response_head *r, const char *name);

#endif
