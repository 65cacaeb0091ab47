/*
 * dp_fcgi: the FASTCGI resource address (spec/protocols.md §1.7.4, §6.2;
 * docs/translation.md): a FastCGI client with pools ("stocks") of
 * connections to running servers and of spawned application processes.
 *
 * Promises:
 * - One stock per worker loop.  Within it, one pool per application:
 *   a remote server (FASTCGI with ADDRESS/ADDRESS_STRING; the addresses
 *   are tried in order when a connect fails) or a spawned program (no
 *   ADDRESS; keyed by everything that shapes the process: program,
 *   ACTION, INTERPRETER, APPEND, SETENV, CHDIR, stderr options,
 *   CHILD_TAG).
 * - A spawned application is started by dp_spawn (the worker's spawner:
 *   process group, clean environment of exactly the SETENV variables,
 *   the spawn {} user policy, CHDIR, STDERR_PATH/STDERR_NULL, UMASK,
 *   RLIMITS, NO_NEW_PRIVS, stderr lines to the error log, SIGKILL when
 *   the worker dies) with a listening AF_LOCAL stream socket (an
 *   abstract name, backlog 2) on fd 0 and /dev/null on fd 1.  One
 *   request per process at a time (CONCURRENCY above 1 is treated as 1).
 * - Each request: BEGIN_REQUEST (RESPONDER, KEEP_CONN), PARAMS
 *   (dp_fcgi_params), STDIN streamed from dp_request_body() with
 *   back-pressure, STDOUT parsed as a CGI head (cgi_head) and streamed to
 *   the client as a body source with back-pressure (ending at the empty
 *   STDOUT record; an answer that is buffered whole when its head is
 *   complete gets a Content-Length), STDERR logged one line at a time
 *   with the application's name, END_REQUEST.  A connection goes back to
 *   its pool only after a complete exchange (END_REQUEST with
 *   REQUEST_COMPLETE, all STDIN sent, nothing extra).
 * - A client that goes away: a request still waiting for a slot is
 *   dropped; one whose STDIN was sent completely runs to its end with the
 *   answer discarded (the process stays pooled); one whose application
 *   still waits for STDIN is ended at once with its connection and
 *   process.
 * - Limits: at most `stock_limit` connections (remote) or processes
 *   (spawned) per application (0: no limit; PARALLELISM lowers it);
 *   requests over the limit wait in order.  At most `stock_max_idle`
 *   idle ones are kept; idle ones older than `idle_timeout_ms` are
 *   stopped a few at a time.
 * - Failures: connect or spawn failure, a malformed head, a crash or
 *   close before the head is 502; no progress for `timeout_ms` (or no
 *   free slot within it) is 504; after the head was sent the client's
 *   connection is closed instead.  Every failure is one log line naming
 *   the application; the connection (and a spawned process) is
 *   discarded, so the next request gets a fresh one.
 * - dp_fcgi_stock_fade() / _terminate() act on the applications with a
 *   CHILD_TAG (or all): fade stops idle processes now and busy ones when
 *   their request is done; terminate stops all now (their requests
 *   fail).  dp_fcgi_stock_free() releases every process (SIGTERM now,
 *   SIGKILL 2 s later; dp_spawn reaps them while the loop keeps running)
 *   and closes every connection.
 */
#ifndef PORTIER_DP_FCGI_H
#define PORTIER_DP_FCGI_H

#include "dp_http.h"
#include "tp_response.h"

#include <uv.h>

#include <stdint.h>

struct dp_fcgi_stock;

struct dp_fcgi_settings {
    unsigned stock_limit;             /* per application; 0 = no limit */
    unsigned stock_max_idle;          /* idle ones kept per application */
    uint64_t idle_timeout_ms;         /* 0 = 60 s */
    uint64_t timeout_ms;              /* no progress; 0 = 120 s */
    const char *server_software;      /* SERVER_SOFTWARE; NULL "Portier" */
};

/** A stock on `loop`; NULL when out of memory. */
struct dp_fcgi_stock *
dp_fcgi_stock_new(uv_loop_t *loop, const struct dp_fcgi_settings *settings);

/** Terminate every process and connection; the memory goes once the
 *  processes are reaped (keep running the loop).  NULL is harmless. */
void
dp_fcgi_stock_free(struct dp_fcgi_stock *stock);

/**
 * Serve `req` with the FASTCGI address of `r` (r->address).  `headers`
 * are extra response headers from the translation (pool memory of the
 * request).  Answers the request in every case.  GET and HEAD go
 * through the HTTP cache unless UNCACHED (`user`: the request's user or
 * NULL, for its rules): the key is the application and the request
 * target; stale entries with a validator are revalidated (the entry's
 * ETag and Last-Modified replace the client's If-* headers; a 304
 * refreshes the entry).
 */
void
dp_fcgi_serve(struct dp_fcgi_stock *stock, struct dp_request *req,
              const struct tp_response *r,
              struct dp_response_headers *headers, const char *user);

/** FADE_CHILDREN: for the applications with CHILD_TAG `tag` (NULL: all
 *  spawned ones), stop idle processes now, busy ones when done.  Returns
 *  the number of processes affected. */
unsigned
dp_fcgi_stock_fade(struct dp_fcgi_stock *stock, const char *tag);

/** TERMINATE_CHILDREN: stop the matching processes now (SIGTERM); their
 *  requests fail.  Returns the number of processes affected. */
unsigned
dp_fcgi_stock_terminate(struct dp_fcgi_stock *stock, const char *tag);

struct dp_fcgi_stats {
    unsigned applications;
    unsigned processes;               /* spawned, alive */
    unsigned connections;             /* to remote servers */
    unsigned idle, busy, waiting;
};

void
dp_fcgi_stock_stats(const struct dp_fcgi_stock *stock,
                    struct dp_fcgi_stats *out);

#endif
