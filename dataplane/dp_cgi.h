/*
 * dp_cgi: the CGI resource address (spec/protocols.md §1.7.3, §6.3;
 * RFC 3875; docs/translation.md "CGI").
 *
 * Promises:
 * - One child per request, started with dp_spawn (argv per §6: ACTION,
 *   INTERPRETER, APPEND, PROCESS_NAME; the child options of §1.8).  The
 *   environment is exactly the meta-variables of dp_cgi_environment()
 *   plus PAIR and SETENV.
 * - The request body (dp_request_body) is streamed to the child's stdin
 *   with back-pressure; without a body stdin is /dev/null.  A child that
 *   stops reading early is fine (the rest is dropped).  A body known to
 *   be larger than 64 KiB gets a 256 KiB stdin pipe (best effort).
 * - The response head is parsed with cgi_head: Status, Content-Type,
 *   Location (an absolute one is a client redirect, 302 unless Status
 *   says otherwise; a local "/path" without Status is a local redirect:
 *   the request is handled again for that URI as a GET without body, at
 *   most DP_CGI_MAX_LOCAL_REDIRECTS times), other headers passed on
 *   (framing headers excepted: Content-Length sets the body length and is
 *   enforced).  A malformed head, or output that ends before the head, is
 *   502 with one log line naming the program and the cause.
 * - The body is streamed from the child's stdout with back-pressure.
 * - Timeout (`cgi_timeout`): no response head, or no output while the
 *   response waits for the child, for that long: 504 before the head,
 *   the connection closed after it; the child is killed.
 * - A client that goes away, a timeout or the end of the request kills
 *   the child's process group (dp_spawn); nothing outlives the request.
 *   A child that could not be started (not allowed, not executable) is
 *   502 with the spawner's sentence in the log.
 */
#ifndef PORTIER_DP_CGI_H
#define PORTIER_DP_CGI_H

#include "dp_http_cache_request.h"
#include "dp_http.h"
#include "tp_response.h"

#include <stdbool.h>
#include <stdint.h>

#define DP_CGI_MAX_LOCAL_REDIRECTS 4
/** DOCUMENT_ROOT when the translation gave none (as upstream). */
#define DP_CGI_DEFAULT_DOCUMENT_ROOT "/var/www"

/** Settings: the timeout (0: 60 s) and SERVER_SOFTWARE (NULL:
 *  "Portier"). */
void
dp_cgi_configure(uint64_t timeout_ms, const char *server_software);

/** The configured timeout in milliseconds (PIPE filters use it too). */
uint64_t
dp_cgi_timeout(void);

/** How the handler takes a local redirect: fn(ctx, "/path?query"). */
struct dp_cgi_redirect {
    void (*fn)(void *ctx, const char *uri);
    void *ctx;
};

/**
 * Serve `address` (type CGI) for `req`.  `headers` hold the
 * translation's response headers (kept, before the program's).
 * `redirect` (may be NULL: then a local redirect is 502) is called for a
 * local redirect once the child has been released; the address must not
 * be used afterwards.  `with_body`: false for a request re-handled after
 * a local redirect (its body is not the new request's).  GET and HEAD
 * go through the HTTP cache (docs/http-cache.md): the key is the program
 * and the request target; `cache` NULL (UNCACHED) keeps it out.  Stale
 * entries with a validator are revalidated (the entry's ETag and
 * Last-Modified replace the client's If-* headers; a 304 refreshes the
 * entry).
 */
void
dp_cgi_serve(struct dp_request *req, const struct tp_address *address,
             struct dp_response_headers *headers,
             const struct dp_cgi_redirect *redirect, bool with_body,
             const struct dp_hcache_info *cache);

/**
 * Pure: the environment of a CGI child for `req` and `address` (RFC 3875
 * §4.1; spec §6.3): GATEWAY_INTERFACE, SERVER_PROTOCOL, REQUEST_METHOD,
 * SCRIPT_FILENAME and PATH_TRANSLATED (the CGI path, also with ACTION),
 * REQUEST_URI, SCRIPT_NAME, PATH_INFO, QUERY_STRING, DOCUMENT_ROOT,
 * SERVER_SOFTWARE, SERVER_NAME and SERVER_PORT (from Host; 80, or 443
 * with HTTPS, when it names no port), REMOTE_ADDR and REMOTE_PORT (IP
 * peers only), CONTENT_TYPE and CONTENT_LENGTH (when the request has a
 * body of known length), HTTPS=on (a TLS listener, or X-CM4all-HTTPS: on
 * from a TLS front end), one HTTP_NAME per
 * request header (upper case, '-' and other non-alphanumerics as '_';
 * repeated headers joined with ", "; Content-Type, Content-Length,
 * Proxy, X-CM4all-HTTPS and hop-by-hop headers left out), then PAIR and
 * SETENV (which replace a variable of the same name).  NULL when out of
 * memory.
 */
char **
dp_cgi_environment(struct dp_pool *pool, const struct dp_request *req,
                   const struct tp_address *address,
                   const char *server_software, bool with_body);

#endif
