/*
 * dp_tcache: the translation cache (spec/protocols.md §1.11, §1.14,
 * §1.15; docs/translation-cache.md).
 *
 * Promises:
 * - Pure logic: no event loop, no clock (every call that needs the time
 *   takes `now_ms`, a monotonic millisecond count chosen by the caller),
 *   no I/O except one lstat() per hit on an item with VALIDATE_MTIME.
 *   Single-threaded: one cache per worker and translation server.
 * - Keys are built from the request exactly as §1.15 lists (HOST is
 *   always part of a URI key); BASE items are found by walking the
 *   request URI's '/'-prefixes from the longest, so a lookup costs one
 *   hash probe per path segment, never a scan of the items.
 * - Capacity: at most `max_items` items (`translate_cache_size`; 0
 *   disables the cache) and, when `max_bytes` is not 0, at most that many
 *   bytes of accounted memory.  The least recently used items go first.
 * - Ownership: dp_tcache_store() takes the parsed response (it is moved
 *   into a refcounted item and the caller's struct is zeroed).  A hit
 *   (struct dp_tcache_hit) holds a reference on its item plus small heap
 *   blocks of its own for the fields that were rewritten for this request
 *   (BASE tails, EXPAND_* results), so it stays valid after any later
 *   mutation of the cache, even after dp_tcache_free(), until
 *   dp_tcache_hit_release(); the struct itself may be moved (copied)
 *   freely before that.
 * - Errors are a status (400 for a malformed URI tail, 502 for a response
 *   the cache cannot use: "Base mismatch", a REGEX that does not compile,
 *   a bad expansion template) and a precise sentence, both kept in the
 *   hit; nothing here logs or prints.
 */
#ifndef PORTIER_DP_TCACHE_H
#define PORTIER_DP_TCACHE_H

#include "ctl_protocol.h"
#include "tp_request.h"
#include "tp_response.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** The default of `translate_cache_size` (items, §1.15). */
#define DP_TCACHE_DEFAULT_ITEMS 131072
/** The longest an item lives (24 h, also the lifetime without MAX_AGE). */
#define DP_TCACHE_MAX_LIFETIME_MS (24u * 3600u * 1000u)
/** Room for an error message in a hit. */
#define DP_TCACHE_ERROR_SIZE 192

struct dp_tcache;
struct dp_tcache_item;
struct dp_tcache_scratch;

enum dp_tcache_status {
    DP_TCACHE_MISS = 0,        /* lookup only: ask the translation server */
    DP_TCACHE_HIT,             /* hit->response is the response to use */
    DP_TCACHE_ERROR,           /* hit->error_status / hit->error */
};

/**
 * The effective response for one request.  `response` is read-only and
 * already rewritten for this request: BASE tails appended (§1.11),
 * EXPAND_* templates expanded and cleared, APPEND_PATH applied and
 * cleared, MAX_AGE, cache tags and INVALIDATE removed.  Never pass
 * `response` to tp_response_free(); call dp_tcache_hit_release().
 */
struct dp_tcache_hit {
    struct tp_response response;
    bool stored;                         /* dp_tcache_store(): cached */
    int error_status;                    /* 400 or 502 after ERROR */
    char error[DP_TCACHE_ERROR_SIZE];    /* "" unless ERROR */

    /* private */
    struct dp_tcache_item *item;
    struct dp_tcache_scratch *scratch;   /* heap blocks for the rewritten
                                            fields */
};

/** Counters for STATS; `entries` and `bytes` are current values. */
struct dp_tcache_stats {
    size_t entries;
    size_t bytes;
    uint64_t hits;
    uint64_t misses;          /* cacheable lookups that found nothing */
    uint64_t skipped;         /* lookups of requests that may not be cached */
    uint64_t stores;
    uint64_t evictions;       /* removed for the item or byte limit */
    uint64_t expirations;     /* removed because of MAX_AGE or mtime */
    uint64_t invalidations;   /* removed by INVALIDATE, control packets or
                                 replacement (flushes not counted) */
};

/**
 * A new, *inactive* cache (§1.15: it starts working with the first
 * response from its server, see dp_tcache_store()).  max_items 0 gives a
 * cache that never stores; max_bytes 0 means no byte limit.  NULL when
 * out of memory.
 */
struct dp_tcache *
dp_tcache_new(size_t max_items, size_t max_bytes);

/** Drop every item (hits keep theirs alive) and free the cache.
 *  NULL is allowed. */
void
dp_tcache_free(struct dp_tcache *cache);

/** Mark the cache active (normally done by the first dp_tcache_store()). */
void
dp_tcache_activate(struct dp_tcache *cache);

/** §1.15 "which requests may use the cache". */
bool
dp_tcache_request_cacheable(const struct tp_request *req);

/**
 * Make *hit a hit that holds nothing (releasing it does nothing), with
 * no error; cheaper than zeroing it: its response stays undefined until
 * dp_tcache_lookup() or dp_tcache_store() fills it.
 */
void
dp_tcache_hit_init(struct dp_tcache_hit *hit);

/**
 * Look the request up.  MISS when the cache is inactive, the request is
 * not cacheable or no item fits (exact key first, then BASE items for
 * the URI's prefixes; REGEX must match, INVERSE_REGEX must not, VARY
 * values must be equal, the item must not have expired and its
 * VALIDATE_MTIME file must be unchanged).  HIT: *hit holds the effective
 * response.  ERROR: an item fits but cannot serve this URI (malformed
 * tail → 400, failed expansion → 400/502); *hit holds only the error.
 * Release a HIT with dp_tcache_hit_release(); after MISS and ERROR *hit
 * holds no resources (releasing it anyway is harmless).
 */
enum dp_tcache_status
dp_tcache_lookup(struct dp_tcache *cache, const struct tp_request *req,
                 uint64_t now_ms, struct dp_tcache_hit *hit);

/**
 * Handle a response fresh from the translation server for `req`: take
 * ownership of *resp (always; *resp is zeroed), apply its INVALIDATE,
 * store it when cache, request and response allow it (an inactive cache
 * is activated instead, storing nothing), and produce the effective
 * response for `req` in *hit (EASY_BASE tails appended, EXPAND_*
 * expanded).  Returns HIT (hit->stored tells whether it was cached) or
 * ERROR (400/502 with a message; nothing stored; *hit holds no
 * resources).  `cache` may be NULL (no caching, only the rewriting).
 * Release a HIT with dp_tcache_hit_release().
 */
enum dp_tcache_status
dp_tcache_store(struct dp_tcache *cache, const struct tp_request *req,
                struct tp_response *resp, uint64_t now_ms,
                struct dp_tcache_hit *hit);

/** Drop the hit's reference and its memory; *hit is then as after
 *  dp_tcache_hit_init() (its response must not be read any more).
 *  Harmless on a zeroed or initialised hit. */
void
dp_tcache_hit_release(struct dp_tcache_hit *hit);

/**
 * TCACHE_INVALIDATE (§1.15, §2.3): flush_all flushes; otherwise remove
 * every item that matches all values strictly (the item stored that
 * command through its VARY and the value is equal; URI compares the
 * key's URI part) and, when given, whose SITE equals `site` and which is
 * tagged with `cache_tag`.  Returns the number of items removed.
 */
size_t
dp_tcache_invalidate(struct dp_tcache *cache,
                     const struct ctl_tcache_invalidate *inv);

/**
 * EXPIRE_TCACHE_TAG: every item tagged `tag` expires at now +
 * (djb_hash(SITE) & (2^39-1)) ns, immediately when it has no SITE (an
 * earlier expiry is kept).  For each such item `on_item` (may be NULL)
 * is called with the stored response and the new expiry, so the caller
 * can expire the child processes of its LHTTP/FastCGI/WAS addresses at
 * the same moment; it must not call back into the cache.  Returns the
 * number of items affected.
 */
size_t
dp_tcache_expire_tag(struct dp_tcache *cache, struct pr_slice tag,
                     uint64_t now_ms,
                     void (*on_item)(const struct tp_response *resp,
                                     uint64_t expires_ms, void *ctx),
                     void *ctx);

/** Remove every expired item; returns how many. */
size_t
dp_tcache_expire(struct dp_tcache *cache, uint64_t now_ms);

/** Remove every item. */
void
dp_tcache_flush(struct dp_tcache *cache);

/** Copy the counters (all zero for a NULL cache). */
void
dp_tcache_get_stats(const struct dp_tcache *cache,
                    struct dp_tcache_stats *stats);

#endif
