/*
 * dp_filter_cache: the filter cache (`filter_cache_size`,
 * docs/filter-cache.md): the results of FILTER stages
 * (spec/protocols.md §1.9) kept per worker, so a filter does not run
 * again for a source response it has already transformed.  The store is
 * dp_http_cache's (LRU, per-entry limit, CACHE_TAG flushes), a second
 * instance of it.  This module is pure but for the worker's store (no
 * I/O, no event loop; times are passed in); the request side is
 * dp_filter_cache_request.
 *
 * Promises:
 * - A filter's result is looked up and stored only when the response it
 *   transforms has an ETag.  The key (dp_filter_cache_key()) is the
 *   source's identity (Host, request path and query, the main address),
 *   the status and ETag of the response entering the filter, and the
 *   identities of this filter and every filter before it in the chain
 *   (kind, URL or program, arguments, environment, PAIR parameters).
 * - What is kept: for an HTTP filter its status, its header lines (as
 *   RESPONSE_HEADER_FORWARD let them through, without Set-Cookie and
 *   Age) and its body; for a PIPE filter the body only (a PIPE keeps the
 *   status and headers of the response it filters, which are the current
 *   request's on a hit).
 * - A result whose status is neither 2xx nor the status the filter was
 *   given (the filter's own error) is not stored.
 * - The result's headers decide (dp_filter_cache_lifetime()): no-store,
 *   no-cache or private are not stored; s-maxage, then max-age, then
 *   Expires (against Date, or now) give the lifetime; without any of
 *   them the lifetime is DP_FILTER_CACHE_DEFAULT_TTL_MS.  A lifetime of
 *   0 is not stored.  An entry past its lifetime is dropped at lookup.
 * - The per-entry limit is an eighth of filter_cache_size, at most
 *   4 MiB (dp_hc_store's); a larger result is never stored.
 * - CACHE_TAG after FILTER tags the entry; dp_filter_cache_flush()
 *   (FLUSH_FILTER_CACHE) drops every entry or those with a tag.
 * - Statistics: a hit is a filter stage answered from the store, a miss
 *   a stage with a source ETag that had to run; stages whose input has
 *   no ETag are neither.
 */
#ifndef PORTIER_DP_FILTER_CACHE_H
#define PORTIER_DP_FILTER_CACHE_H

#include "dp_http_cache.h"
#include "pr_bytes.h"
#include "tp_response.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** The lifetime of a result whose headers give none: one hour. */
#define DP_FILTER_CACHE_DEFAULT_TTL_MS (3600 * 1000ll)

/* ---- pure ---- */

/** Append the identity of address a (a filter's or the main one). */
int
dp_filter_cache_address_id(struct pr_buf *out, const struct tp_address *a);

/**
 * The key of the result of filter filters[n-1] in a chain: `source_id`
 * (dp_filter_cache_source_id()), the status and ETag of the response
 * entering it, and the identities of filters[0..n-1].  0 or -ENOMEM.
 */
int
dp_filter_cache_key(struct pr_buf *out, const char *source_id,
                    unsigned status, const char *etag,
                    const struct tp_filter *const *filters, size_t n);

/**
 * Whether a filter result with these headers may be stored, and for how
 * long: true with *lifetime_ms > 0, or false with *why set.
 */
bool
dp_filter_cache_lifetime(const struct dp_hc_header *h, size_t n,
                         int64_t now_ms, int64_t *lifetime_ms,
                         const char **why);

/* ---- the worker's store ---- */

/** filter_cache_size bytes (0 disables the cache).  0 or -1. */
int
dp_filter_cache_configure(size_t size);

void
dp_filter_cache_shutdown(void);

/** True when the cache is on. */
bool
dp_filter_cache_enabled(void);

/** FLUSH_FILTER_CACHE: every entry (tag NULL or "") or those with the
 *  CACHE_TAG; how many were dropped. */
size_t
dp_filter_cache_flush(const char *tag);

/** Statistics (all zero without a cache). */
void
dp_filter_cache_stats(struct dp_hc_stats *out);

/** Store a result under key (copies everything); false when not stored
 *  (no cache, over the per-entry limit, out of memory). */
bool
dp_filter_cache_put(const char *key, unsigned status, const char *headers,
                    size_t headers_len, const uint8_t *body, size_t body_len,
                    const char *tag, int64_t lifetime_ms, int64_t now_ms);

/** The fresh entry of key with a reference (dp_hc_entry_unref()), or
 *  NULL; an expired one is dropped.  Counts no hit or miss. */
struct dp_hc_entry *
dp_filter_cache_get(const char *key, int64_t now_ms);

/** The largest result the store takes (0 without a cache). */
size_t
dp_filter_cache_entry_limit(void);

/** Count a hit (true) or a miss (false) in the statistics. */
void
dp_filter_cache_count(bool hit);

/** Append the identity of a source: the request's Host, path, query and
 *  the main address a.  0 or -ENOMEM. */
int
dp_filter_cache_source(struct pr_buf *out, const char *host,
                       const char *path, const char *query,
                       const struct tp_address *a);

/** The first header named `name` (case-insensitive), or NULL. */
const struct dp_hc_header *
dp_filter_cache_find_header(const struct dp_hc_header *h, size_t n,
                            const char *name);

#endif
