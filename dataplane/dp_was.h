/*
 * dp_was: the WAS client of a worker (spec/protocols.md §1.7.5, §3,
 * §6.4; docs/was.md): serves the `WAS` resource address with spawned
 * application processes, one request at a time per process.
 *
 * Promises:
 * - A pool ("stock") per application: the program, its APPEND
 *   arguments, SETENV environment and child options are its identity.
 *   At most `was_stock_limit` processes per application (0: no limit);
 *   requests beyond wait in order for a free process.  At most
 *   `was_stock_max_idle` idle processes are kept; more are ended.
 * - A process gets a control socketpair on fd 3, the request-body pipe
 *   on fd 0 and the response-body pipe on fd 1 (dp_spawn), all ours
 *   non-blocking, the request pipe sized 256 KiB and the response pipe
 *   1 MiB when the system allows.
 * - Each request is sent as REQUEST, METHOD (4 bytes; omitted for GET),
 *   URI, SCRIPT_NAME, PATH_INFO, QUERY_STRING, HEADER (the request
 *   headers without the hop-by-hop ones and Content-Length), PARAMETER
 *   (PAIR), REMOTE_HOST, TLS (X-CM4all-HTTPS: on), DOCUMENT_ROOT, then
 *   DATA with LENGTH when the length is known (later otherwise) or
 *   NO_DATA.  The request body streams from dp_request_body() into the
 *   pipe with back-pressure; a STOP from the application is answered
 *   with PREMATURE and the rest of the body is not sent; a request body
 *   that fails (client gone) is cut with PREMATURE.
 * - The response: STATUS (200 when missing), HEADER (the framing headers
 *   Content-Length, Transfer-Encoding, Connection, Keep-Alive, Date and
 *   Server are dropped), NO_DATA or DATA.  The body is a dp_body source
 *   over the pipe with back-pressure, its length known once LENGTH
 *   arrived; it ends at LENGTH bytes, or with an error when the
 *   application cuts it with PREMATURE.  A consumer that closes the body
 *   (client gone, HEAD) makes us send STOP and drain the pipe up to the
 *   application's PREMATURE or LENGTH.
 * - A process is reused only when both bodies are complete and in step
 *   (all bytes up to LENGTH or PREMATURE moved) and its response pipe
 *   is empty; otherwise, and on any protocol error, it is ended.  Bytes
 *   on the pipe past the announced end (checked before the process is
 *   reused) end it with a log line; past a PREMATURE they fail the response (502 or a cut
 *   body: a malformed PREMATURE).  A process that closes the control
 *   socket or exits during a request gives 502 (or cuts the body), one
 *   that makes no progress for `was_timeout` gives 504; the log line
 *   names the program and its pid.  The next request gets a new
 *   process.
 * - WAS with CONCURRENCY (Multi-WAS, Remote-WAS) is answered 502 naming
 *   the missing feature.
 * - One set of pools per worker, on its loop: dp_was_init() after
 *   dp_spawn_init(), dp_was_shutdown() when the worker stops (idle
 *   processes end at once, busy ones after their request).
 */
#ifndef PORTIER_DP_WAS_H
#define PORTIER_DP_WAS_H

#include "dp_http.h"
#include "dp_http_cache_request.h"
#include "tp_response.h"

#include <uv.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dp_was_settings {
    unsigned stock_limit;         /* processes per application; 0: any */
    unsigned stock_max_idle;      /* idle processes kept per application */
    uint64_t timeout_ms;          /* no progress from the application; 0:
                                     60 s */
};

/** Start the WAS client on `loop`.  0 or -errno. */
int
dp_was_init(uv_loop_t *loop, const struct dp_was_settings *settings);

/** The worker stops: idle processes are ended now, busy ones when their
 *  request is done; no new process is started. */
void
dp_was_shutdown(void);

/**
 * FADE_CHILDREN / TERMINATE_CHILDREN (docs/control.md) for the pools
 * whose CHILD_TAG list holds `tag` (tag_len 0: every pool): idle
 * processes end now; busy ones end after their request (fade) or now,
 * their request failing (terminate).  Returns the processes affected.
 */
size_t
dp_was_fade(const char *tag, size_t tag_len, bool terminate);

/** Processes of every WAS pool (tests, statistics). */
size_t
dp_was_process_count(void);

/**
 * Serve `req` with the WAS application of `address` (type
 * TP_ADDRESS_WAS).  `headers` (may be NULL) are extra response headers
 * from the translation; they and `address` must live as long as
 * req->pool.  Answers the request in every case, now or later.  GET and
 * HEAD go through the HTTP cache unless `cache` is NULL (UNCACHED): the
 * key is the application's path and the request target; stale
 * entries with a validator are revalidated (the entry's ETag and
 * Last-Modified replace the client's If-* headers; a 304 refreshes the
 * entry).
 */
void
dp_was_request(struct dp_request *req, const struct tp_address *address,
               const struct dp_response_headers *headers,
               const struct dp_hcache_info *cache);

#endif
