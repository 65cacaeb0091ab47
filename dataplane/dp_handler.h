/*
 * dp_handler: what portierd does with a request: translate it (through
 * the translation cache and the DEFER chain of translation servers), apply
 * the response-wide policy packets, and execute the resource address.
 *
 * Promises:
 * - Every request gets exactly one answer.  Translation failures are 502
 *   (504 for timeouts) with one log line naming the server and the cause;
 *   a translation response that uses a packet whose feature Portier does
 *   not have yet is 502 naming the packet, so nothing is served with a
 *   policy half applied.
 * - The repeat requests implemented here follow spec/protocols.md §1.5.2
 *   (WANT) and §1.16 (DEFER); version < 2 in a response to an HTTP
 *   request is 502 (§1.3).
 * - Resource kinds: LOCAL files (dp_file), HTTP backends (dp_proxy), CGI
 *   (dp_cgi), FASTCGI (dp_fcgi, when a stock was set), NFS files (dp_nfs,
 *   when built with libnfs).  Others answer 502 naming the packet until
 *   their issue lands.
 * - Sessions and authentication (§1.12, docs/sessions.md): the session
 *   packets of every response are applied (dp_session_request) before
 *   anything else; CHECK repeats and PREVIOUS uses the kept response (at
 *   most 4 CHECK repeats); the effective response then runs HTTP_AUTH,
 *   TOKEN_AUTH or AUTH with their sub-requests (never cached) before the
 *   policy packets.  Set-Cookie goes into every response built from a
 *   translation response.
 */
#ifndef PORTIER_DP_HANDLER_H
#define PORTIER_DP_HANDLER_H

#include "dp_fcgi.h"
#include "dp_http.h"
#include "dp_tcache.h"
#include "dp_translate.h"

#include <uv.h>

#include <stddef.h>

/** One translation server of a DEFER chain, with its cache (may be
 *  NULL: no caching). */
struct dp_handler_server {
    struct dp_translate_stock *stock;
    struct dp_tcache *cache;
};

struct dp_handler;

/** A handler over `n` servers (the array is copied; the stocks and
 *  caches stay the caller's). */
struct dp_handler *
dp_handler_new(uv_loop_t *loop, const struct dp_handler_server *servers,
               size_t n);

void
dp_handler_free(struct dp_handler *handler);

/** Serve FASTCGI addresses with `stock` (the caller's; may be NULL). */
void
dp_handler_set_fcgi(struct dp_handler *handler, struct dp_fcgi_stock *stock);

struct dp_sessions;

/** Manage browser sessions with this context (dp_session_request.h;
 *  NULL: none).  It must outlive the handler's requests. */
void
dp_handler_set_sessions(struct dp_handler *handler,
                        struct dp_sessions *sessions);

/** The dp_http_handler: ctx is a struct dp_handler. */
void
dp_handler_request(struct dp_request *req, void *ctx);

#endif
