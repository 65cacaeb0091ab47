/*
 * dp_forward: which request headers go to an HTTP backend and which
 * response headers come back to the client (spec/protocols.md §1.13, the
 * beng-proxy manual's "Forwarded headers").
 *
 * Promises:
 * - Pure: no I/O, no allocation; headers go in as slices and come out
 *   through the caller's emit callback, in their order, one call per
 *   header line (a value the caller must not change).
 * - Hop-by-hop headers (Connection and every header it names,
 *   Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade) and
 *   the framing headers (Content-Length, Expect) are never forwarded;
 *   the caller writes its own framing.  Host is never forwarded (the
 *   caller writes the backend's); Date and Server of a response are the
 *   server's own.
 * - Request headers: Accept, Cache-Control and From always; the body
 *   headers (Content-Type, -Encoding, -Language, -MD5, -Range,
 *   -Disposition) only with a body; Accept-Charset, -Encoding,
 *   -Language, Range and the If-* headers (no session, cache or filter
 *   decides otherwise yet); X-CM4all-DocRoot and X-CM4all-BENG-User
 *   from the client never.  Every other header by its group's mode
 *   (REQUEST_HEADER_FORWARD): NO drops, YES forwards; MANGLE generates:
 *   User-Agent becomes the product token (YES: the client's, or the
 *   token when it sent none), Via gets "1.1 <local host>" and
 *   X-Forwarded-For the client's address appended (YES: passed
 *   unchanged), FORWARD adds X-Forwarded-Host from the client's Host;
 *   BOTH for COOKIE forwards Cookie2 and Cookie without the proxy's
 *   session cookie.  MANGLE of COOKIE, AUTH, SECURE and SSL generates
 *   nothing yet (no sessions, no TLS listener): the client's headers of
 *   those groups are dropped.
 * - Response headers: Accept-Ranges, Age, Allow, Cache-Control, the
 *   body headers and Content-Security-Policy..., Digest, ETag, Expires,
 *   Last-Modified, Retry-After, Vary, X-Content-Type-Options and
 *   X-Frame-Options always; the others by RESPONSE_HEADER_FORWARD: YES
 *   forwards, NO drops; MANGLE forwards LINK (Location, Content-Location:
 *   no relocation yet) and AUTH, appends "1.1 <local host>" to Via
 *   (IDENTITY), and drops COOKIE (Set-Cookie goes to a session's cookie
 *   jar in beng-proxy; Portier has none yet) and TRANSFORMATION; BOTH
 *   forwards Set-Cookie except the proxy's session cookie.
 */
#ifndef PORTIER_DP_FORWARD_H
#define PORTIER_DP_FORWARD_H

#include "h1_request.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** Receives one header line; returns 0, or non-zero to stop (the
 *  forwarding function then returns that value). */
typedef int (*dp_forward_emit)(void *ctx, const char *name, size_t name_len,
                               const char *value, size_t value_len);

struct dp_forward_request {
    const struct h1_header *headers;  /* the client's */
    size_t n_headers;
    const uint8_t *modes;             /* REQUEST_HEADER_FORWARD, indexed
                                         by enum tp_header_group */
    bool with_body;                   /* a request body is forwarded */
    const char *remote_host;          /* client address without port, or
                                         NULL (unix socket) */
    const char *local_host;           /* for Via; NULL: no Via added */
    const char *product;              /* User-Agent product token */
    const char *session_cookie;       /* cookie name BOTH excludes */
};

/** Emit the request headers for the backend.  Returns 0 or the first
 *  non-zero value of emit. */
int
dp_forward_request_headers(const struct dp_forward_request *in,
                           dp_forward_emit emit, void *ctx);

struct dp_forward_response {
    const struct h1_header *headers;  /* the backend's */
    size_t n_headers;
    const uint8_t *modes;             /* RESPONSE_HEADER_FORWARD */
    const char *local_host;           /* for Via; NULL: no Via added */
    const char *session_cookie;
};

/** Emit the response headers for the client.  Returns 0 or the first
 *  non-zero value of emit. */
int
dp_forward_response_headers(const struct dp_forward_response *in,
                            dp_forward_emit emit, void *ctx);

#endif
