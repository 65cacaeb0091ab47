/*
 * dp_pool: the per-request (and per-connection) memory pool.
 *
 * Promises:
 * - Memory from a pool lives until dp_pool_reset() or dp_pool_free(); it
 *   is never freed one piece at a time.  Allocations are 16-byte aligned.
 * - Cleanups registered with dp_pool_cleanup() run exactly once, newest
 *   first, when the pool is reset or freed: that is how a request's file
 *   descriptors and borrowed references are released whatever way the
 *   request ends.
 * - dp_pool_reset() keeps the first block, so a keep-alive connection
 *   that serves request after request reuses the same memory without
 *   touching malloc; large blocks (over the block size) are returned.
 * - Out of memory: the allocation functions return NULL, the pool stays
 *   usable.  Nothing here logs.
 * - Not thread-safe (one pool belongs to one worker loop).
 */
#ifndef PORTIER_DP_POOL_H
#define PORTIER_DP_POOL_H

#include <stddef.h>

struct dp_pool;

/** A new pool whose blocks are `block_size` bytes (0 = 4 KiB).  NULL when
 *  out of memory. */
struct dp_pool *
dp_pool_new(size_t block_size);

/** Run the cleanups, free every block: the pool is gone. */
void
dp_pool_free(struct dp_pool *pool);

/** Run the cleanups and forget every allocation, keeping the first block
 *  for the next user. */
void
dp_pool_reset(struct dp_pool *pool);

/** `size` bytes, uninitialised (zero size gives a valid unique pointer). */
void *
dp_pool_alloc(struct dp_pool *pool, size_t size);

/** `size` bytes, zero-filled. */
void *
dp_pool_calloc(struct dp_pool *pool, size_t size);

/** A NUL-terminated copy of src[0..len). */
char *
dp_pool_strndup(struct dp_pool *pool, const void *src, size_t len);

/** A copy of a NUL-terminated string. */
char *
dp_pool_strdup(struct dp_pool *pool, const char *s);

/** Register fn(arg) to run at reset/free.  Returns 0 or -ENOMEM (then fn
 *  was not registered and the caller must release what it guards). */
int
dp_pool_cleanup(struct dp_pool *pool, void (*fn)(void *arg), void *arg);

/** Bytes handed out since creation or the last reset (statistics). */
size_t
dp_pool_used(const struct dp_pool *pool);

#endif
