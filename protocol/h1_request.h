/*
 * h1_request: the HTTP/1.1 request-head parser (RFC 9112 §2-§7, RFC 9110
 * §5, §7.2, §8.6, §10.1.1).  docs/http.md lists what it accepts and
 * rejects, with which status.
 *
 * Promises:
 * - Pure and allocation-free: no I/O, no clock, no malloc.  Header names,
 *   values, the method, the target and its parts are slices into the
 *   caller's buffer (zero copy), valid as long as that buffer is.
 * - Incremental: the caller passes the buffer holding every byte received
 *   since the start of the request, again on each call, with more bytes
 *   each time.  The parser keeps offsets, not pointers, so the buffer may
 *   move (grow by realloc) between calls; only its first `len` bytes are
 *   read.  Each byte is looked at by the line scan once (memchr) and by
 *   the parse once, when the head is complete.
 * - The answer depends only on the bytes, never on how they were split
 *   into calls: NEED_MORE, DONE (the head's length, the request) or ERROR
 *   (an HTTP status and a precise sentence, kept in the parser).  Limits
 *   and errors are checked in byte order, so a prefix that already breaks
 *   a rule gives the same error whatever follows.
 * - Strict on everything that decides framing or could smuggle a request:
 *   CRLF only (a bare LF or bare CR is an error), exactly one SP between
 *   the request-line parts, no obsolete line folding, no whitespace before
 *   the colon, no control characters, Content-Length a plain decimal,
 *   repeated only with the same value, never together with
 *   Transfer-Encoding, Transfer-Encoding only in HTTP/1.1 with chunked
 *   as its final and only coding, Host present exactly once in HTTP/1.1.
 * - Statuses: 400 for malformed requests; 414 for a request line over
 *   the limit; 431 for too many header lines or a head over the size
 *   limit; 501 for a Transfer-Encoding that ends in chunked but carries
 *   another coding before it (a coding we do not implement, RFC 9112
 *   §6.1; a final coding other than chunked is 400, RFC 9112 §6.3); 505
 *   for an HTTP major version other than 1.
 * - Target forms (RFC 9112 §3.2): origin-form for every method;
 *   absolute-form with http or https (its authority overrides the Host
 *   header, §3.2.2; Host is still required in HTTP/1.1 and still checked);
 *   authority-form only with CONNECT and asterisk-form only with OPTIONS.
 *   CONNECT and OPTIONS * are parse results, the server decides whether
 *   it serves them.
 */
#ifndef PORTIER_H1_REQUEST_H
#define PORTIER_H1_REQUEST_H

#include "pr_bytes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Default limits (docs/http.md). */
#define H1_DEFAULT_MAX_REQUEST_LINE 8192
#define H1_DEFAULT_MAX_HEADERS 100
#define H1_DEFAULT_MAX_HEAD 32768
/** Empty lines (CRLF) ignored before a request line (RFC 9112 §2.2). */
#define H1_MAX_LEADING_EMPTY_LINES 8
/** Room for every error message this module writes. */
#define H1_ERROR_SIZE 160

enum h1_result {
    H1_NEED_MORE = 1,  /* the head is not complete yet: feed more */
    H1_DONE,           /* the head is complete: see struct h1_request */
    H1_ERROR,          /* see h1_parser_status() and h1_parser_error() */
};

enum h1_method {
    H1_METHOD_OTHER = 0,  /* a valid token we have no constant for */
    H1_METHOD_GET,
    H1_METHOD_HEAD,
    H1_METHOD_POST,
    H1_METHOD_PUT,
    H1_METHOD_DELETE,
    H1_METHOD_CONNECT,
    H1_METHOD_OPTIONS,
    H1_METHOD_TRACE,
    H1_METHOD_PATCH,
};

enum h1_target_form {
    H1_TARGET_ORIGIN = 1,  /* "/path?query" */
    H1_TARGET_ABSOLUTE,    /* "http://authority/path?query" */
    H1_TARGET_AUTHORITY,   /* "host:port", CONNECT only */
    H1_TARGET_ASTERISK,    /* "*", OPTIONS only */
};

/** Tokens seen in Connection headers (bits of h1_request.connection). */
#define H1_CONN_CLOSE 0x1u
#define H1_CONN_KEEP_ALIVE 0x2u
#define H1_CONN_UPGRADE 0x4u

/** A header field line: name as sent (case kept), value without the
 *  leading and trailing whitespace. */
struct h1_header {
    struct pr_slice name;
    struct pr_slice value;
};

/**
 * Limits, in bytes and lines.  0 in a field means its default.
 * - max_request_line: bytes of the request line without its CRLF; over
 *   it: 414.  Clamped to max_head - 2.
 * - max_headers: header field lines; one more: 431.  Also clamped to the
 *   capacity of the caller's header array.
 * - max_head: bytes of the whole head, from the first byte (ignored
 *   leading empty lines included) to the CRLF of the empty line; over
 *   it: 431.
 */
struct h1_limits {
    size_t max_request_line;
    size_t max_headers;
    size_t max_head;
};

/** The request head, filled in when h1_parse_request() returns DONE. */
struct h1_request {
    size_t head_len;              /* bytes of the head (consumed) */
    enum h1_method method;
    struct pr_slice method_token; /* always set, also for known methods */
    enum h1_target_form target_form;
    struct pr_slice target;       /* the request-target as sent */
    /* The path: origin-form: up to '?'; absolute-form: after the
     * authority, up to '?' (empty when the URI has none: the server uses
     * "/", RFC 9112 §3.2.2); empty for the other forms. */
    struct pr_slice path;
    bool has_query;
    struct pr_slice query;        /* after '?', without it */
    struct pr_slice scheme;       /* absolute-form: "http" or "https" */
    /* The host to serve: the absolute-form or authority-form authority,
     * else the Host header value; data NULL when there is none
     * (HTTP/1.0 without Host, OPTIONS * in HTTP/1.0). */
    struct pr_slice host;
    unsigned version_major;       /* always 1 */
    unsigned version_minor;       /* 0, 1, or a later 1.x digit */

    struct h1_header *headers;    /* the caller's array */
    size_t header_count;

    /* Framing and connection facts. */
    bool has_content_length;
    uint64_t content_length;      /* at most INT64_MAX */
    bool chunked;                 /* Transfer-Encoding: chunked */
    bool keep_alive;              /* after this request, per version and
                                     Connection (not per the body: the
                                     server must read or discard it) */
    unsigned connection;          /* H1_CONN_* bits */
    bool expect_continue;         /* Expect: 100-continue (HTTP/1.1) */
    bool expect_other;            /* another expectation: 417 is allowed */
};

/** Parser state.  Treat as opaque; the public fields are for the caller
 *  to read after an ERROR through the accessors. */
struct h1_parser {
    struct h1_limits limits;      /* effective (defaults, clamps) */
    struct h1_header *headers;
    size_t headers_cap;
    /* Scan state, offsets into the caller's buffer. */
    size_t req_start;             /* request line start (after CRLFs) */
    size_t line_start;            /* the line being scanned */
    size_t scan;                  /* bytes of that line searched so far */
    size_t method_scan;           /* method bytes checked so far */
    bool method_done;
    size_t header_lines;
    size_t empty_lines;
    size_t head_len;              /* 0 until the end of the head */
    int state;                    /* private */
    int status;
    char error[H1_ERROR_SIZE];
};

/**
 * Start (or restart, for the next request on the connection) a parser.
 * `limits` may be NULL for the defaults.  `headers` is the caller's array
 * of `headers_cap` entries (at least 1) that the parsed headers are
 * written to; it must live as long as the request.
 */
void
h1_parser_init(struct h1_parser *p, const struct h1_limits *limits,
               struct h1_header *headers, size_t headers_cap);

/**
 * Parse the request head at the start of buf[0..len).  Pass the whole
 * buffer each time (the bytes of earlier calls first, unchanged).
 * Returns NEED_MORE, DONE (req filled in; req->head_len bytes belong to
 * the head, the rest is body or the next request) or ERROR (req is not
 * touched; the parser stays in error).  After DONE, a call with the same
 * bytes returns DONE again; init the parser for the next request.
 */
enum h1_result
h1_parse_request(struct h1_parser *p, const uint8_t *buf, size_t len,
                 struct h1_request *req);

/** The HTTP status to answer after an ERROR (400, 414, 431, 501, 505). */
int
h1_parser_status(const struct h1_parser *p);

/** The error sentence ("" when there was none). */
const char *
h1_parser_error(const struct h1_parser *p);

/** Name of a method constant ("GET"), NULL for H1_METHOD_OTHER. */
const char *
h1_method_name(enum h1_method m);

/** Find a header by name (ASCII case-insensitive); NULL when absent. */
const struct h1_header *
h1_request_find(const struct h1_request *req, const char *name);

/* The header-field rules both head parsers (this one and
 * h1_response_head) apply. */

/** The first of headers[0..count) named `name`, ignoring ASCII case;
 *  NULL when there is none. */
const struct h1_header *
h1_header_find(const struct h1_header *headers, size_t count,
               const char *name);

/** The H1_CONN_* bits of a Connection field value: its comma-separated
 *  elements close, keep-alive and upgrade, in any case; others ignored. */
unsigned
h1_connection_bits(const uint8_t *v, size_t n);

/**
 * A Content-Length field value: a plain decimal number up to 2^63-1.
 * Returns NULL with *value set, or the reason it is not one ("empty
 * Content-Length", "Content-Length is not a decimal number",
 * "Content-Length over 2^63-1").
 */
const char *
h1_content_length_parse(const uint8_t *v, size_t n, uint64_t *value);

#endif
