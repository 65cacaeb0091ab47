/*
 * dp_stock: what the child-process stocks of LHTTP (dp_lhttp) and WAS
 * (dp_was) share: the identity of a program, its CHILD_TAG values, and
 * the queue of requests waiting for one of its processes.
 *
 * Promises:
 * - dp_stock_key() writes the identity of the program an address starts
 *   (path, process name, arguments, environment, child options, tags) as
 *   NUL-terminated strings, in a fixed order; two addresses that start
 *   the same process give the same bytes.  `extra` (a caller's own
 *   options that change the process, may be "") stands in the string of
 *   child option numbers, before them.
 * - A struct dp_stock_id owns its malloc'ed key, name ("<kind> <path>")
 *   and tags (NUL-separated); an empty tag matches every id.
 * - A struct dp_stock_queue is a FIFO of waiters embedded in the
 *   callers' objects (no allocation), which it hands out as the owners
 *   given to dp_stock_queue_push(); a waiter is in the queue exactly
 *   while its `waiting` is true, and may leave it from anywhere
 *   (dp_stock_queue_remove()).
 */
#ifndef PORTIER_DP_STOCK_H
#define PORTIER_DP_STOCK_H

#include "pr_bytes.h"
#include "tp_response.h"

#include <stdbool.h>
#include <stddef.h>

struct dp_stock_id {
    char *key;                    /* dp_stock_key()'s bytes */
    size_t key_len;
    char *name;                   /* "<kind> <path>", for logs */
    char *tags;                   /* CHILD_TAG values, NUL-separated */
    size_t tags_len;
};

struct dp_stock_waiter {
    struct dp_stock_waiter *next;
    void *owner;                  /* what the queue hands out */
    bool waiting;                 /* in a queue */
};

struct dp_stock_queue {
    struct dp_stock_waiter *head, *tail;
};

/**
 * Append the identity of the program `a` starts to `k` (see above).
 * Returns 0, or -1 when out of memory (then `k` holds a part: free it).
 */
int
dp_stock_key(struct pr_buf *k, const struct tp_address *a,
             const char *extra);

/** True when `id` was made from the key bytes of `k`. */
bool
dp_stock_id_is(const struct dp_stock_id *id, const struct pr_buf *k);

/**
 * Fill `id`: its name "<kind> <a->path>", its tags a copy of
 * a->child.tags, its key the bytes of `k`, which it takes over (k is
 * empty afterwards).  Returns 0, or -1 when out of memory: then `id`
 * holds nothing and `k` is unchanged.
 */
int
dp_stock_id_init(struct dp_stock_id *id, struct pr_buf *k,
                 const char *kind, const struct tp_address *a);

/**
 * True when `tag` (tag_len bytes, no NUL needed) is one of the id's tags,
 * or empty.
 */
bool
dp_stock_id_tagged(const struct dp_stock_id *id, const char *tag,
                   size_t tag_len);

/** Append `w` (not waiting) to the queue for `owner` (the object `w` is
 *  part of); it is waiting then. */
void
dp_stock_queue_push(struct dp_stock_queue *q, struct dp_stock_waiter *w,
                    void *owner);

/** The owner of the first waiter, NULL when the queue is empty. */
void *
dp_stock_queue_first(const struct dp_stock_queue *q);

/** Take the first waiter out (no longer waiting); its owner, NULL when
 *  the queue is empty. */
void *
dp_stock_queue_pop(struct dp_stock_queue *q);

/** Take `w` out of the queue if it is waiting there; else nothing. */
void
dp_stock_queue_remove(struct dp_stock_queue *q, struct dp_stock_waiter *w);

#endif
