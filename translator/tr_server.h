/*
 * tr_server: the server side of the translation protocol (spec
 * protocols.md §1.1) on a libuv loop, for translation servers written in
 * C.  docs/translator-sdk.md shows a complete program.
 *
 * Promises:
 * - Listens on an AF_LOCAL stream socket: an abstract one ("@name"), a
 *   path ("/run/x.sock"; a stale socket file there is replaced, and the
 *   file is removed again by tr_server_close()), or an inherited listening
 *   socket (tr_server_listen_fd()).  Accepts many connections at once; at
 *   the connection limit further clients wait in the kernel's backlog
 *   until a connection closes (nobody is refused).
 * - Reads each request with tp_reader and tp_request's parser into a
 *   struct tp_request (every request packet of §1.5, echoes included) and
 *   calls the handler once per request.  One request per connection is in
 *   flight, as the data plane sends them: the next request on a
 *   connection is read only after the previous one was answered.  Several
 *   requests one after the other on one connection are normal (the data
 *   plane pools connections).
 * - The handler answers now or later with tr_request_ctx_reply(), exactly
 *   once per call.  Until then the ctx and the request it points to stay
 *   valid, even when the connection or the whole server is closed
 *   meanwhile (the answer is then dropped).
 * - A bad request (a framing or parser error, a request over the size
 *   limit, a stream that ends inside a request, a partial request idle
 *   for longer than the read timeout) and a response the builder refused
 *   are logged as one line naming the connection and the cause, and that
 *   connection is closed; other connections are not affected.
 * - Nothing is printed except through the log callback (default: one line
 *   on stderr).  Single-threaded: every call from the loop's thread.
 * - Writing to a connection the peer closed raises SIGPIPE: a program that
 *   runs its own loop should ignore SIGPIPE (tr_server_run() does).
 */
#ifndef PORTIER_TR_SERVER_H
#define PORTIER_TR_SERVER_H

#include "tp_request.h"
#include "tr_response.h"

#include <stddef.h>

struct uv_loop_s;   /* uv_loop_t (uv.h) */
struct tr_server;
struct tr_request_ctx;

/** Called once per request; answer with tr_request_ctx_reply(). */
typedef void (*tr_handler_cb)(struct tr_request_ctx *ctx,
                              const struct tp_request *request,
                              void *userdata);
/** One log line, without a trailing newline. */
typedef void (*tr_log_cb)(const char *line, void *userdata);
/** The server is closed; it is freed when this returns. */
typedef void (*tr_close_cb)(struct tr_server *server, void *arg);

#define TR_SERVER_MAX_CONNECTIONS 256        /* default connection limit */
#define TR_SERVER_READ_TIMEOUT_MS 10000      /* default for partial requests */
#define TR_SERVER_MAX_REQUEST_SIZE (1u << 20) /* default, bytes */

/* ---- the asynchronous API (a libuv program) ---- */

/**
 * A server on `loop` that calls handler(ctx, request, userdata) for every
 * request.  It does nothing until tr_server_listen*() or
 * tr_server_adopt().  NULL when out of memory.
 */
struct tr_server *
tr_server_new(struct uv_loop_s *loop, tr_handler_cb handler, void *userdata);

/** Where log lines go (NULL: stderr, the default). */
void
tr_server_set_log(struct tr_server *s, tr_log_cb log, void *userdata);

/** At most this many connections at once (0: the default, 256). */
void
tr_server_set_max_connections(struct tr_server *s, unsigned n);

/** Close a connection whose request stays incomplete for this long
 *  without a byte arriving (0: the default, 10 s). */
void
tr_server_set_read_timeout(struct tr_server *s, unsigned ms);

/** Close connections idle between requests for this long (0, the
 *  default: never; the data plane keeps its connections pooled). */
void
tr_server_set_idle_timeout(struct tr_server *s, unsigned ms);

/** Refuse requests longer than this many bytes (0: the default, 1 MiB). */
void
tr_server_set_max_request_size(struct tr_server *s, size_t bytes);

/**
 * Listen on "@name" (abstract) or "/path".  Returns 0, -EINVAL (another
 * form, or an empty name), -ENAMETOOLONG, -EBUSY (already listening), or
 * the error of socket(), bind() or listen() (-EADDRINUSE when another
 * process listens there).
 */
int
tr_server_listen(struct tr_server *s, const char *address);

/**
 * Listen on an inherited socket (systemd socket activation, a parent
 * process): it must be a listening AF_LOCAL stream socket (-ENOTSOCK,
 * -EINVAL otherwise; -EBUSY when already listening).  The server owns the
 * fd from a successful call on.
 */
int
tr_server_listen_fd(struct tr_server *s, int fd);

/**
 * Serve one already connected stream socket (an inetd-style child, a
 * socketpair in a test).  The server owns the fd from a successful call
 * on.  Counts towards the connection count but is not refused at the
 * limit.  Returns 0, -ENOTSOCK, -EINVAL (not a stream socket), -ENOMEM,
 * or -ESHUTDOWN after tr_server_close().
 */
int
tr_server_adopt(struct tr_server *s, int fd);

/** Connections open right now (including ones closed while their
 *  handler has not answered yet). */
size_t
tr_server_connection_count(const struct tr_server *s);

/**
 * Stop listening (removing a path socket), close every connection, and
 * call cb(s, arg) (cb may be NULL) from the loop once every handle is
 * closed and every pending request has been answered; then free the
 * server.  A second call does nothing.
 */
void
tr_server_close(struct tr_server *s, tr_close_cb cb, void *arg);

/* ---- requests ---- */

/** The request being answered (valid until tr_request_ctx_reply()). */
const struct tp_request *
tr_request_ctx_request(const struct tr_request_ctx *ctx);

/** The server the request came to. */
struct tr_server *
tr_request_ctx_server(const struct tr_request_ctx *ctx);

/** A new response builder for this request: tr_response_new_for() with
 *  the request.  NULL when out of memory. */
struct tr_response *
tr_request_ctx_response(const struct tr_request_ctx *ctx);

/**
 * Answer the request; exactly once per handler call, now or later, from
 * the loop's thread.  Takes `response` over (frees it in every case),
 * finishes it (tr_response_finish()) and sends it.  A NULL response or
 * one the builder refused is logged with its error and the connection is
 * closed instead (the data plane answers 502).  After this call `ctx` and
 * the request are gone.
 */
void
tr_request_ctx_reply(struct tr_request_ctx *ctx, struct tr_response *response);

/* ---- the blocking API (a simple program) ---- */

/**
 * Serve on `address` ("@name" or "/path") with a loop of its own until
 * SIGINT or SIGTERM arrives, or a handler closes the server
 * (tr_server_close(tr_request_ctx_server(ctx), NULL, NULL)).  The handler
 * is the same as above; a simple program answers inside it.  Ignores
 * SIGPIPE for the process.  Logs to stderr.  Returns 0 after a clean
 * shutdown, or the negative errno of tr_server_listen() (or -ENOMEM).
 */
int
tr_server_run(const char *address, tr_handler_cb handler, void *userdata);

#endif
