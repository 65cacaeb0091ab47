/*
 * dp_resolve: host names of backend addresses (ADDRESS_STRING with a
 * name, spec §1.7.2) to socket addresses, off the event loop, with a
 * small cache.
 *
 * Promises:
 * - getaddrinfo() runs in libuv's thread pool (uv_getaddrinfo); the loop
 *   never blocks.  The addresses of the answer are kept (IPv4 and IPv6,
 *   stream sockets, duplicates dropped, DP_RESOLVE_MAX_ADDRESSES at
 *   most), in the resolver's order, with the given port.
 * - Answers are cached per (name, port) for 60 s, failures for 5 s; at
 *   most 256 names are kept (the oldest goes first).
 * - The callback runs exactly once, unless the lookup is cancelled
 *   first; a cached answer is given from inside dp_resolve() (which then
 *   returns NULL).  On failure the addresses are NULL and `error` names
 *   the host and the cause.
 */
#ifndef PORTIER_DP_RESOLVE_H
#define PORTIER_DP_RESOLVE_H

#include "tp_response.h"

#include <uv.h>

#include <stddef.h>
#include <stdint.h>

struct dp_resolve_op;

/** The most addresses one name gives. */
#define DP_RESOLVE_MAX_ADDRESSES 16

/** addresses: n entries (len > 0), valid during the call only. */
typedef void (*dp_resolve_cb)(void *ctx,
                              const struct tp_socket_address *addresses,
                              size_t n, const char *error);

/**
 * Resolve `host` (port in host order).  Returns the pending lookup, or
 * NULL when the callback has already run (a cached answer, or a failure
 * to start: out of memory).
 */
struct dp_resolve_op *
dp_resolve(uv_loop_t *loop, const char *host, uint16_t port,
           dp_resolve_cb cb, void *ctx);

/** Cancel a pending lookup: its callback will not run. */
void
dp_resolve_cancel(struct dp_resolve_op *op);

/** Drop every cached answer (tests, shutdown). */
void
dp_resolve_flush(void);

#endif
