/*
 * dp_relay: the control server of portierd's master (docs/control.md,
 * "With workers").  With workers the master owns the control sockets;
 * this module receives their datagrams, checks each command once
 * (dp_control_check(), the same rule and log lines as a single process),
 * and hands the allowed commands to every worker over its channel
 * (dp_control.h, "the master's channel").  A STATS is answered by the
 * master with the sum of the workers' maps (dp_relay_stats_reply()).
 *
 * Promises:
 * - No event loop and no threads: the master polls the descriptors that
 *   dp_relay_pollfds() lists (with the timeout of dp_relay_timeout_ms())
 *   and calls dp_relay_dispatch(); nothing here blocks.
 * - A STATS waits at most DP_RELAY_STATS_TIMEOUT_MS for the workers that
 *   were asked; a worker that does not answer in time is named in the log
 *   and left out of the sums, and the reply says how many answered
 *   ("workers") of how many were asked ("workers_asked").  A worker that
 *   goes away (dp_relay_remove_worker()) is not waited for.
 * - Malformed datagrams, malformed and refused commands are logged,
 *   rate-limited (dp_ratelog_allow()); unknown command numbers once.
 * - Descriptors that arrive with a datagram (SCM_RIGHTS) are closed.
 */
#ifndef PORTIER_DP_RELAY_H
#define PORTIER_DP_RELAY_H

#include "dp_config.h"
#include "pr_bytes.h"

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DP_RELAY_STATS_TIMEOUT_MS 1000
#define DP_RELAY_MAX_PENDING 16

struct dp_relay;

/** A relay without sockets or workers; self is the uid the workers serve
 *  as (the permission rule's "portierd's uid").  NULL: out of memory. */
struct dp_relay *
dp_relay_new(uid_t self);

/**
 * Take over fd, a socket from dp_control_bind(cc) (closed on failure
 * too).  0 or -ENOMEM.
 */
int
dp_relay_add_socket(struct dp_relay *r, const struct dp_config_control *cc,
                    int fd);

/** A worker and the master's end of its channel (owned from now on,
 *  closed on failure too).  0 or -ENOMEM. */
int
dp_relay_add_worker(struct dp_relay *r, pid_t pid, int fd);

/** The worker is gone (or retiring): close its channel; pending STATS
 *  stop waiting for it. */
void
dp_relay_remove_worker(struct dp_relay *r, pid_t pid);

/** Fill out[0..max) with the descriptors to poll for reading; returns how
 *  many (at most max). */
size_t
dp_relay_pollfds(const struct dp_relay *r, struct pollfd *out, size_t max);

/** Handle what poll() reported in fds[0..n) (the entries that
 *  dp_relay_pollfds() filled, in any order), then answer the STATS whose
 *  time is up.  now_ms: a monotonic clock in milliseconds. */
void
dp_relay_dispatch(struct dp_relay *r, const struct pollfd *fds, size_t n,
                  uint64_t now_ms);

/** Milliseconds until the next pending STATS times out; -1 if none. */
int
dp_relay_timeout_ms(const struct dp_relay *r, uint64_t now_ms);

/** In a freshly forked worker: close every descriptor of the relay
 *  (without removing socket files) and free it. */
void
dp_relay_forget(struct dp_relay *r);

/** Close everything, removing `/path` sockets it bound; r may be NULL. */
void
dp_relay_free(struct dp_relay *r);

/**
 * The STATS reply of several workers (pure): maps[i] (maps_len[i] bytes)
 * is the msgpack map worker pids[i] sent, for n workers that answered out
 * of `asked`.  Appends the whole reply datagram (u16 BE length, u16 BE
 * command STATS, then the map) to out:
 *   - every key of the first map, in its order, with unsigned integers
 *     summed over the maps (nested maps likewise; other values from the
 *     first map); so "workers" is the number that answered;
 *   - "workers_asked": asked;
 *   - "per_worker": an array with each worker's map, "pid" first and its
 *     own "workers" key left out; omitted (then "per_worker_omitted":
 *     true) when the reply would not fit in one datagram.
 * A map that does not decode is skipped.  0, -ENOMEM or -EMSGSIZE.
 */
int
dp_relay_stats_reply(struct pr_buf *out, const uint8_t *const *maps,
                     const size_t *maps_len, const pid_t *pids, size_t n,
                     size_t asked);

#endif
