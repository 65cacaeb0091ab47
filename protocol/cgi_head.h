/*
 * cgi_head: the CGI response head parser (RFC 3875 §6), for a CGI
 * program's stdout and a FastCGI application's STDOUT stream
 * (docs/codecs.md lists what is accepted and refused).
 *
 * Promises:
 * - Pure: no I/O, no clock.  Accepts its input split at any byte; the
 *   result does not depend on the split.  The head is copied into the
 *   parser's own buffer (at most max_size bytes); every slice in the
 *   result points into that buffer and lives until cgi_head_destroy().
 * - Lines end with CRLF or with a bare LF (CGI scripts commonly write LF
 *   only; RFC 3875 §6.3 allows the system's newline).  The head ends at
 *   the first empty line.  A CR not followed by LF is refused.
 * - Header names must be tokens (RFC 9110 §5.1), values free of control
 *   characters other than HTAB; obs-fold continuation lines are refused.
 * - Status ("Status: 404 Not Found") must be three digits from 200 to 599
 *   with an optional reason phrase.  Location starting with one '/' is a
 *   local path: without a Status field the head is a local redirect
 *   (RFC 3875 §6.2.2).  Any other Location is a client redirect with
 *   status 302 unless Status says otherwise.
 * - A head without any of Content-Type, Location and Status is refused
 *   (RFC 3875 §6.2: a response has at least one CGI field).
 * - Hop-by-hop headers (Connection, Keep-Alive, Proxy-Connection, TE,
 *   Trailer, Transfer-Encoding, Upgrade) are dropped and counted;
 *   Content-Length is kept and its value reported separately.
 * - Errors are final, precise sentences naming the line
 *   ("line 3: invalid Status \"20\"").
 */
#ifndef PORTIER_CGI_HEAD_H
#define PORTIER_CGI_HEAD_H

#include "pr_bytes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Default and largest limits. */
#define CGI_HEAD_DEFAULT_MAX_SIZE 16384
#define CGI_HEAD_DEFAULT_MAX_LINES 100
#define CGI_HEAD_MAX_LINES 256
#define CGI_HEAD_ERROR_SIZE 160

struct cgi_header {
    struct pr_slice name;         /* as sent (case kept) */
    struct pr_slice value;        /* without surrounding blanks */
};

enum cgi_location_kind {
    CGI_LOCATION_NONE = 0,
    CGI_LOCATION_LOCAL,           /* "/path?query" (one leading '/') */
    CGI_LOCATION_ABSOLUTE,        /* "scheme:..." */
    CGI_LOCATION_RELATIVE,        /* anything else, e.g. "//host/x", "../x" */
};

enum cgi_head_status {
    CGI_HEAD_DONE = 1,            /* the head is complete; see the fields */
    CGI_HEAD_NEED_MORE,           /* every byte consumed; feed more */
    CGI_HEAD_ERROR,               /* see cgi_head_error() */
};

struct cgi_head {
    /* limits, set by cgi_head_init() */
    size_t max_size;              /* bytes of head, empty line included */
    size_t max_lines;             /* header lines, dropped ones included */

    /* the result, valid after DONE */
    unsigned status;              /* the HTTP status to send; 0 for a local
                                   * redirect */
    bool has_status;              /* a Status field was present */
    struct pr_slice reason;       /* its reason phrase (may be empty) */
    bool has_content_type;
    struct pr_slice content_type;
    enum cgi_location_kind location_kind;
    struct pr_slice location;
    bool local_redirect;          /* local Location and no Status */
    bool has_content_length;
    uint64_t content_length;
    size_t dropped;               /* hop-by-hop headers dropped */
    size_t n_headers;             /* headers[] to pass to the client: all
                                   * fields but Status and hop-by-hop ones,
                                   * in order, Content-Type and Location
                                   * included */
    struct cgi_header headers[CGI_HEAD_MAX_LINES];
    size_t head_len;              /* bytes of input that were the head */

    /* private */
    struct pr_buf buf;
    size_t line_len;              /* bytes of the current line so far */
    bool line_cr;                 /* the current line ends with CR so far */
    int state;
    char error[CGI_HEAD_ERROR_SIZE];
};

/** Start a parser.  max_size 0 means CGI_HEAD_DEFAULT_MAX_SIZE; max_lines
 *  0 means CGI_HEAD_DEFAULT_MAX_LINES (at most CGI_HEAD_MAX_LINES). */
void
cgi_head_init(struct cgi_head *h, size_t max_size, size_t max_lines);

/** Free the parser's buffer (the result's slices die with it). */
void
cgi_head_destroy(struct cgi_head *h);

/**
 * Consume bytes from data[0..len) (data may be NULL when len is 0).  Sets
 * *consumed to the number of bytes that belonged to the head.  DONE: the
 * head is complete and parsed; data[*consumed..len) is the beginning of
 * the body.  NEED_MORE: all bytes were head.  ERROR: final (*consumed is
 * then meaningless); out of memory is an error too.  After DONE, further
 * calls return DONE and consume nothing.
 */
enum cgi_head_status
cgi_head_feed(struct cgi_head *h, const uint8_t *data, size_t len,
              size_t *consumed);

/** Call when the output ended before DONE: sets and returns the error
 *  (-1).  Returns 0 when the head was complete. */
int
cgi_head_finish(struct cgi_head *h);

/** The first header of that name (ASCII case-insensitive) among
 *  headers[], or NULL. */
const struct cgi_header *
cgi_head_find(const struct cgi_head *h, const char *name);

/** The error message ("" when there was none). */
const char *
cgi_head_error(const struct cgi_head *h);

#endif
