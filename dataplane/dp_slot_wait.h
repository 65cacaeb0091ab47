/*
 * dp_slot_wait: the queue of requests waiting for a connection slot of
 * one backend address (dp_http_client, `tcp_stock_limit`), and the
 * bound on how long each may wait.
 *
 * Promises:
 * - A struct dp_slot_queue is a FIFO of waiters embedded in the callers'
 *   objects (no allocation), which it hands out as the owners given to
 *   dp_slot_queue_push().  A waiter is in the queue exactly while its
 *   `waiting` is true; it leaves it in constant time from anywhere
 *   (dp_slot_queue_remove(), a no-op when it is not waiting).
 * - Each waiter keeps the time it started waiting (`since`, in the
 *   caller's milliseconds, which must not go backwards).  All waiters of
 *   one queue share one bound, so the first waiter is always the first
 *   to reach it: dp_slot_queue_pop_expired() takes out waiters that have
 *   waited the bound or longer, in queue order, and
 *   dp_slot_queue_next_expiry() says when the next one will have.
 * - Pure: no clock, no I/O; the caller passes `now` and runs the timer.
 */
#ifndef PORTIER_DP_SLOT_WAIT_H
#define PORTIER_DP_SLOT_WAIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dp_slot_waiter {
    struct dp_slot_waiter *prev, *next;
    void *owner;                  /* what the queue hands out */
    uint64_t since;               /* when it started waiting (ms) */
    bool waiting;                 /* in a queue */
};

struct dp_slot_queue {
    struct dp_slot_waiter *head, *tail;
    size_t n;                     /* waiters in the queue */
};

/** Append `w` (not waiting) for `owner` (the object `w` is part of),
 *  waiting since `now`; a `now` earlier than the last waiter's start
 *  counts as that start (the queue stays in order of the bound). */
void
dp_slot_queue_push(struct dp_slot_queue *q, struct dp_slot_waiter *w,
                   void *owner, uint64_t now);

/** The owner of the first waiter, NULL when the queue is empty. */
void *
dp_slot_queue_first(const struct dp_slot_queue *q);

/** Take the first waiter out (no longer waiting); its owner, NULL when
 *  the queue is empty. */
void *
dp_slot_queue_pop(struct dp_slot_queue *q);

/** Take `w` out of the queue if it is waiting there; else nothing. */
void
dp_slot_queue_remove(struct dp_slot_queue *q, struct dp_slot_waiter *w);

/** Take out the first waiter if it has waited `bound` ms or more at
 *  `now`; its owner, or NULL (empty, or the first one still in time). */
void *
dp_slot_queue_pop_expired(struct dp_slot_queue *q, uint64_t now,
                          uint64_t bound);

/** Milliseconds from `now` until the first waiter has waited `bound`:
 *  0 when it already has, UINT64_MAX when the queue is empty. */
uint64_t
dp_slot_queue_next_expiry(const struct dp_slot_queue *q, uint64_t now,
                          uint64_t bound);

#endif
