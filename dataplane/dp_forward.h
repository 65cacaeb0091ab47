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
 *   the caller writes its own framing.  Exception, `upgrade` (a
 *   protocol switch, RFC 9110 §7.8): the request's Upgrade, Origin and
 *   Sec-WebSocket-* headers are forwarded whatever the groups say, and
 *   "Connection: Upgrade" is added; the 101 response's Upgrade and
 *   Sec-WebSocket-* are forwarded (the caller writes its Connection).
 *   Host is never forwarded (the
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
 *   session cookie; SSL generates X-CM4all-BENG-Peer-Subject and
 *   -Peer-Issuer-Subject from the client's verified certificate; SECURE
 *   generates X-CM4all-BENG-User from the request's user (a value fit
 *   for a header only).  MANGLE of COOKIE and AUTH generates nothing
 *   yet: the client's headers of those groups are dropped.
 * - Response headers: Accept-Ranges, Age, Allow, Cache-Control, the
 *   body headers and Content-Security-Policy..., Digest, ETag, Expires,
 *   Last-Modified, Retry-After, Vary, X-Content-Type-Options and
 *   X-Frame-Options always; the others by RESPONSE_HEADER_FORWARD: YES
 *   forwards, NO drops; MANGLE forwards LINK (Location, Content-Location;
 *   the caller relocates them with dp_forward_relocate()) and AUTH,
 *   appends "1.1 <local host>" to Via
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
    const char *peer_subject;         /* verified client certificate over
                                         TLS (SSL MANGLE), or NULL */
    const char *peer_issuer_subject;
    const char *user;                 /* the request's user (session USER
                                         or HTTP_AUTH), or NULL */
    bool upgrade;                     /* an Upgrade request is forwarded */
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
    bool upgrade;                     /* a 101 to an Upgrade request */
};

/** Emit the response headers for the client.  Returns 0 or the first
 *  non-zero value of emit. */
int
dp_forward_response_headers(const struct dp_forward_response *in,
                            dp_forward_emit emit, void *ctx);

/**
 * LINK MANGLE (beng-proxy's relocation): a Location from the backend
 * that points into the backend's URL space, rewritten to the client's.
 * `uri` must be "scheme://HOST/path", "//HOST/path" with HOST equal to
 * `internal_host` (NULL for unix: then only "/path" matches), or
 * "/path"; `internal_path` is the backend request's path (query
 * removed), `external_path` the client's (no query, no ;args), `base` the
 * translation's BASE ("" when none).  With tail = external_path after
 * base and prefix = internal_path without tail (it must end in '/'), the
 * result is external_scheme "://" external_host base + (path after
 * prefix), written into out (size bytes).  Returns false when anything
 * does not match (out untouched) or the result does not fit (out
 * undefined): the header is then passed on unchanged.
 */
bool
dp_forward_relocate(const char *uri, size_t uri_len,
                    const char *internal_host, const char *internal_path,
                    size_t internal_path_len, const char *external_scheme,
                    const char *external_host, const char *external_path,
                    size_t external_path_len, const char *base, char *out,
                    size_t size);

#endif
