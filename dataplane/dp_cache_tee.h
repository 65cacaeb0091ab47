/*
 * dp_cache_tee: a body source that passes another one through unchanged
 * and keeps a bounded copy of it for a cache (the HTTP cache, the filter
 * cache).
 *
 * Promises:
 * - The consumer reads the tee exactly as it would read the inner body:
 *   the same bytes, back-pressure, eof() or error(), and the inner
 *   body's `length`.  It offers neither fast path (the bytes must pass
 *   through the copy).
 * - The copy keeps at most `limit` bytes; past that, or when memory
 *   runs out, it is dropped and nothing is stored.
 * - The tee owns `headers` (malloc'd, the stored header lines, may be
 *   NULL) from the call on and frees it when it ends.
 * - complete(ctx, headers, headers_len, body, len) is called once, right
 *   before the consumer's eof(), when the whole body went through and
 *   was kept; the bytes are valid only during the call.
 * - release(ctx), when not NULL, is called exactly once in every case
 *   (after complete(), on error(), on close, or when the pool ends
 *   first), before the consumer's eof()/error(): the caller frees there
 *   what else ctx owns.
 */
#ifndef PORTIER_DP_CACHE_TEE_H
#define PORTIER_DP_CACHE_TEE_H

#include <stddef.h>
#include <stdint.h>

struct dp_body;
struct dp_pool;

struct dp_cache_tee_ops {
    void (*complete)(void *ctx, const char *headers, size_t headers_len,
                     const uint8_t *body, size_t len);
    void (*release)(void *ctx);
};

/** The tee around `inner`, living in `pool`; NULL when out of memory
 * (then `headers` was freed, release() called and `inner` is
 * untouched). */
struct dp_body *
dp_cache_tee_new(struct dp_pool *pool, struct dp_body *inner, size_t limit,
                 char *headers, size_t headers_len,
                 const struct dp_cache_tee_ops *ops, void *ctx);

#endif
