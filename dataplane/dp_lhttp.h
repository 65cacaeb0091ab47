/*
 * dp_lhttp: local HTTP servers of a worker (`LHTTP_PATH`,
 * spec/protocols.md §1.7.6, §6.1; docs/translation.md): programs
 * portierd starts with a listening socket on fd 0 and talks HTTP/1.1 to.
 *
 * Promises:
 * - A pool per program (path, arguments, environment, child options,
 *   CONCURRENCY, NON_BLOCKING): each process gets a listening AF_LOCAL
 *   stream socket on fd 0 (an abstract address unique to the worker and
 *   the process; backlog 2 × CONCURRENCY; O_NONBLOCK with NON_BLOCKING)
 *   and /dev/null on fd 1.  A process carries up to CONCURRENCY (default
 *   1) requests at a time; up to `lhttp_stock_limit` processes per program
 *   (0: no limit; PARALLELISM when the translation sets it); requests
 *   beyond wait in arrival order.  Processes without a request beyond
 *   `lhttp_stock_max_idle` are ended.
 * - Readiness without sleeping: the socket is bound and listening before
 *   the program starts, so a connect succeeds at once and the request
 *   waits in the backlog until the program accepts.
 * - The HTTP exchange is the reverse proxy's (dp_proxy over
 *   dp_http_client): request-target LHTTP_URI plus the query string,
 *   Host LHTTP_HOST (the client's Host without it), the headers of
 *   REQUEST_HEADER_FORWARD, keep-alive connections per process, the
 *   backend_* timeouts, bodies streamed both ways.  Its errors are 502 /
 *   504 naming the socket; during a body the body is cut.
 * - A process that exits is taken out of the pool at once (its requests
 *   in flight fail through the HTTP client) and the next request starts
 *   a new one when needed; an abnormal exit is logged by dp_spawn with
 *   the program's name and pid.
 */
#ifndef PORTIER_DP_LHTTP_H
#define PORTIER_DP_LHTTP_H

#include "dp_http.h"
#include "tp_response.h"

#include <uv.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dp_lhttp_settings {
    unsigned stock_limit;         /* processes per program; 0: any */
    unsigned stock_max_idle;      /* idle processes kept per program */
};

/** Start on `loop` (after dp_spawn_init()).  0 or -errno. */
int
dp_lhttp_init(uv_loop_t *loop, const struct dp_lhttp_settings *settings);

/** The worker stops: idle processes end now, busy ones after their
 *  requests; no new process is started. */
void
dp_lhttp_shutdown(void);

/**
 * FADE_CHILDREN / TERMINATE_CHILDREN (docs/control.md) for the pools
 * whose CHILD_TAG list holds `tag` (tag_len 0: every pool): processes
 * leave the pool; idle ones get SIGTERM now, busy ones after their last
 * request (fade) or now (terminate: their requests fail).  Returns the
 * processes affected.
 */
size_t
dp_lhttp_fade(const char *tag, size_t tag_len, bool terminate);

/** Processes of every LHTTP pool (tests, statistics). */
size_t
dp_lhttp_process_count(void);

/**
 * Serve `req` with the program of r's address (TP_ADDRESS_LHTTP);
 * `headers` are the translation's extra response headers (copied).  `r`
 * must live as long as req->pool.  Answers the request in every case,
 * now or later.
 */
void
dp_lhttp_request(struct dp_request *req, const struct tp_response *r,
                 const struct dp_response_headers *headers);

/** dp_lhttp_request() for a request that runs as `user` (NULL: none):
 *  X-CM4all-BENG-User as for HTTP addresses, and the HTTP cache's rules
 *  for personal requests.  The HTTP cache names the backend by the
 *  program (path, arguments, environment, child options), not by the
 *  process's socket. */
void
dp_lhttp_request_user(struct dp_request *req, const struct tp_response *r,
                      const struct dp_response_headers *headers,
                      const char *user);

#endif
