/*
 * was_app: the application side of WAS (Web Application Socket,
 * spec/protocols.md §3, §6.4) for writing WAS applications in C.  A
 * small blocking library in the manner of libwas' was_simple; docs/was.md
 * shows its use, examples/was/ has three programs.
 *
 * Promises:
 * - One struct was_app serves one WAS connection: the control socket
 *   (fd 3 by default), the request-body pipe it reads (fd 0) and the
 *   response-body pipe it writes (fd 1).  Requests are served one at a
 *   time: was_app_accept() waits for the next one, the application reads
 *   the request, answers, and calls was_app_end() (or was_app_accept()
 *   does it).
 * - Blocking, single-threaded, no signals.  Every wait polls the control
 *   socket too, so a STOP, LENGTH or PREMATURE from the container is
 *   seen while the application reads or writes a body, and a container
 *   that stops reading cannot dead-lock the application.
 * - Response body bytes go to the pipe (made non-blocking) at once, one
 *   write() for as much as the pipe takes; the control socket is looked
 *   at when the pipe is full and after every 256 KiB written, so a STOP
 *   ends a long body within that much, without a system call per
 *   was_app_write().  The first write of a body puts what the pipe
 *   takes at once into it before the head (STATUS ... DATA) goes out,
 *   so the container finds the first bytes there.  As for any pipe, a
 *   write after the container closed its end raises SIGPIPE unless the
 *   application ignores it.
 * - The connection stays in step: when a request ends, the unread rest of
 *   its body is discarded (STOP, then the pipe drained up to LENGTH or
 *   PREMATURE), and a response body is finished with LENGTH or cut with
 *   PREMATURE, so the container may reuse the process.
 * - A STOP that arrives after the response ended (it crossed our
 *   PREMATURE or the end of the body) is ignored.
 * - Packets are encoded and checked with protocol/was_protocol: STATUS
 *   and METHOD travel as 4-byte values; both widths are accepted.
 * - Errors: functions return 0 (or a count) on success and -1 on
 *   failure, with a sentence in was_app_error().  An error of the
 *   connection (the container closed it, sent a packet out of place) is
 *   final: every later call fails and was_app_accept() returns -1.  The
 *   container's STOP of the response body is not a connection error:
 *   was_app_write() returns -1 with was_app_stopped() true, and the
 *   request should be ended.
 * - Strings returned by the getters live until the request ends (the
 *   next was_app_accept() or was_app_end()).
 */
#ifndef PORTIER_WAS_APP_H
#define PORTIER_WAS_APP_H

#include "was_protocol.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct was_app;

/** Serve the descriptors a container gives a WAS child: control 3,
 *  request body 0, response body 1.  NULL when out of memory. */
struct was_app *
was_app_new(void);

/** Serve other descriptors (tests, Multi-WAS).  The library owns none of
 *  them (was_app_free() does not close them); output_fd is made
 *  non-blocking. */
struct was_app *
was_app_new_fds(int control_fd, int input_fd, int output_fd);

/** Release everything (a request in progress is not finished). */
void
was_app_free(struct was_app *app);

/** The last error ("" when there was none). */
const char *
was_app_error(const struct was_app *app);

/**
 * Wait for the next request; a request still open is ended first.
 * Returns 1 with a request, 0 when the container closed the control
 * socket between requests (the normal end: exit), -1 on an error.
 */
int
was_app_accept(struct was_app *app);

/* ---- the request (valid between was_app_accept() and the end) ---- */

/** The method (WAS_METHOD_GET when the container sent no METHOD). */
enum was_method
was_app_method(const struct was_app *app);

/** The request URI (with the query string); never NULL. */
const char *
was_app_uri(const struct was_app *app);

/** SCRIPT_NAME, PATH_INFO, QUERY_STRING, REMOTE_HOST, DOCUMENT_ROOT:
 *  NULL when the container did not send them. */
const char *
was_app_script_name(const struct was_app *app);
const char *
was_app_path_info(const struct was_app *app);
const char *
was_app_query_string(const struct was_app *app);
const char *
was_app_remote_host(const struct was_app *app);
const char *
was_app_document_root(const struct was_app *app);

/** True when the container said the request came over TLS. */
bool
was_app_is_tls(const struct was_app *app);

/** The first request header `name` (case-insensitive), or NULL. */
const char *
was_app_header(const struct was_app *app, const char *name);

/** Number of request headers; was_app_header_at() gives the i-th
 *  (names as the container sent them, lower case from Portier). */
size_t
was_app_header_count(const struct was_app *app);
void
was_app_header_at(const struct was_app *app, size_t i, const char **name,
                  const char **value);

/** The PARAMETER `name` (case-sensitive), or NULL. */
const char *
was_app_parameter(const struct was_app *app, const char *name);

/* ---- the request body ---- */

/** True when the request has a body (the container sent DATA). */
bool
was_app_has_body(const struct was_app *app);

/** The body's total length when the container announced it (LENGTH),
 *  else -1. */
int64_t
was_app_input_length(const struct was_app *app);

/** Body bytes read so far. */
uint64_t
was_app_input_received(const struct was_app *app);

/**
 * Read up to `n` body bytes (blocking until at least one is there).
 * Returns the count, 0 at the end of the body (or without a body), -1 on
 * an error, also when the container aborted the body (PREMATURE): the
 * request's body is then incomplete and the response should say so.
 */
ssize_t
was_app_read(struct was_app *app, void *buf, size_t n);

/** The application wants no more body: STOP and discard the rest.
 *  0 or -1. */
int
was_app_input_close(struct was_app *app);

/* ---- the response ---- */

/** Set the status (200..599) before anything was sent.  Without it the
 *  status is 200 once a header or body byte is given, 204 otherwise. */
int
was_app_status(struct was_app *app, unsigned status);

/** Add a response header (before the body starts).  name must not
 *  contain '='; neither may contain NUL, CR or LF. */
int
was_app_set_header(struct was_app *app, const char *name,
                   const char *value);

/** Announce the body's total length (before or while it is written; not
 *  less than what was written).  Without it the length is sent when the
 *  request ends. */
int
was_app_set_length(struct was_app *app, uint64_t length);

/** Start the response body now (STATUS, headers, DATA) without a byte of
 *  it, e.g. to make the container send the head early. */
int
was_app_output_begin(struct was_app *app);

/**
 * Write `n` body bytes (starts the body when needed).  Returns 0 when all
 * were written, -1 on an error or when the container stopped the body
 * (was_app_stopped()); then the request should be ended.
 */
int
was_app_write(struct was_app *app, const void *data, size_t n);

/** was_app_write() of a NUL-terminated string. */
int
was_app_puts(struct was_app *app, const char *s);

/** printf-style body text (at most 8 KiB per call). */
int
was_app_printf(struct was_app *app, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** Bytes of response body written so far. */
uint64_t
was_app_output_sent(const struct was_app *app);

/** True when the container sent STOP for this response body. */
bool
was_app_stopped(const struct was_app *app);

/**
 * Finish the request: a response without body is sent as STATUS, headers,
 * NO_DATA; a body is completed with LENGTH (or, when it is shorter than
 * the announced length, cut with PREMATURE and -1); the unread request
 * body is discarded.  0 or -1.  Without a request: 0.
 */
int
was_app_end(struct was_app *app);

/**
 * Abort the request: before the head was sent, STATUS 500 without body;
 * afterwards PREMATURE with the bytes written, so the container knows the
 * body is cut.  The request body is discarded.  0 or -1 (connection
 * error).
 */
int
was_app_abort(struct was_app *app);

#endif
