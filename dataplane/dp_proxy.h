/*
 * dp_proxy: the HTTP resource address (spec/protocols.md §1.7.2): the
 * request goes to an HTTP backend through dp_http_client and its
 * response comes back to the client.
 *
 * Promises:
 * - The backend request: the client's method, the address's path with
 *   the client's query string appended ("&" when the path has a query
 *   already), HTTP/1.1, Host from the URL (the client's Host for unix:
 *   addresses), the request headers dp_forward lets through by the
 *   REQUEST_HEADER_FORWARD modes, then the REQUEST_HEADER packets
 *   (replacing forwarded headers of the same name).  The request body
 *   streams from dp_request_body() (Content-Length, or chunked when the
 *   client sent it chunked); POST, PUT and PATCH without a body send
 *   Content-Length: 0.
 * - The response: the backend's status, the response headers dp_forward
 *   lets through by RESPONSE_HEADER_FORWARD after the translation's
 *   HEADER packets, and the body streamed with back-pressure (its length
 *   when the backend gave one, else chunked to the client).  A HEAD
 *   response keeps the backend's Content-Length.
 * - Errors before the response are answered with the client's status
 *   (502, 504; 503 when every connection of the backend address stays
 *   busy, tcp_stock_limit, for the bound of the wait) and one log line
 *   naming the backend; after the response
 *   started, a failing backend closes the client connection with one log
 *   line.
 * - ADDRESS_STRING host names are resolved first (dp_resolve, cached);
 *   every address of every name joins the list.  A name that does not
 *   resolve is 502 naming it.
 * - https:// URLs: TLS to the backend (dp_http_client), SNI and the
 *   verified name from the URL host, CERTIFICATE choosing an ssl_client
 *   certificate (502 naming it when none has that name).
 * - The HTTP cache (dp_http_cache_request) sees GET and HEAD requests
 *   unless UNCACHED: a fresh entry answers without the backend, a stale
 *   one makes the request conditional (the client's If-* headers are then
 *   not forwarded), and storable responses are teed into it.  The user
 *   (dp_proxy_serve_user) counts for its rules.  The key is the URL and
 *   the query; for unix: addresses the socket paths (or abstract names)
 *   take the host's place.
 * - Protocol switches (WebSocket and other Upgrade requests without a
 *   body, RFC 9110 §7.8) are passed on: the backend's 101 goes to the
 *   client and the two connections are relayed by dp_tunnel; a 101 that
 *   cannot be passed on (a response filter is set) is 502 with a log
 *   line.
 * - Not yet (502 naming the packet): HTTP2.
 */
#ifndef PORTIER_DP_PROXY_H
#define PORTIER_DP_PROXY_H

#include "dp_http.h"
#include "dp_http_client.h"
#include "tp_response.h"

#include <uv.h>

/** Create the worker's HTTP client (once, before serving); `certs` are
 *  the ssl_client certificates CERTIFICATE chooses from (may be NULL;
 *  they must outlive the client).  Returns 0 or -1 (out of memory). */
int
dp_proxy_init(uv_loop_t *loop, const struct dp_http_client_options *options,
              const struct dp_tls_client *certs);

/** Free the worker's HTTP client (at shutdown, no request in progress). */
void
dp_proxy_shutdown(void);

/** Serve `r` (address type HTTP) for `req`; `headers` hold the
 *  translation's response headers (copied). */
void
dp_proxy_serve(struct dp_request *req, const struct tp_response *r,
               const struct dp_response_headers *headers);

/** dp_proxy_serve() for a request that runs as `user` (the session's
 *  USER or the HTTP_AUTH user; NULL: none): X-CM4all-BENG-User with
 *  SECURE MANGLE. */
void
dp_proxy_serve_user(struct dp_request *req, const struct tp_response *r,
                    const struct dp_response_headers *headers,
                    const char *user);

/** dp_proxy_serve_user() for an address whose unix: sockets change
 *  (LHTTP's processes): `cache_id` (not NULL) names the backend in the
 *  HTTP cache's key instead of the sockets. */
void
dp_proxy_serve_keyed(struct dp_request *req, const struct tp_response *r,
                     const struct dp_response_headers *headers,
                     const char *user, const char *cache_id);

/** The answer of an HTTP filter: the filtered response (status per spec
 *  §1.9, the filter's headers as RESPONSE_HEADER_FORWARD lets them
 *  through, its body), or err_status (502, 504, 500) and a message. */
typedef void (*dp_proxy_filter_cb)(void *ctx, unsigned status,
                                   const struct dp_response_headers *h,
                                   struct dp_body *body,
                                   unsigned err_status, const char *err);

/**
 * FILTER with an HTTP address: POST `body` (may be NULL) with the header
 * lines of `headers` (but the framing ones) to the filter's URL; cb gets
 * the result later.  The filter takes `body` over.  0, or -1 with err set
 * (the body is closed; cb does not run).
 */
int
dp_proxy_filter(struct dp_request *req, const struct tp_response *r,
                const struct tp_filter *filter, unsigned status,
                const struct dp_response_headers *headers,
                struct dp_body *body, dp_proxy_filter_cb cb, void *ctx,
                char *err, size_t errlen);

#endif
