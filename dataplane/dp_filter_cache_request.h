/*
 * dp_filter_cache_request: the filter cache (dp_filter_cache,
 * docs/filter-cache.md) in a request's FILTER chain: dp_pipe calls
 * dp_filter_cache_begin() before each stage and dp_filter_cache_result()
 * with the stage's answer.
 *
 * Promises:
 * - begin: only when the cache is on and the response entering the stage
 *   has an ETag; a fresh entry answers the stage (the input body is
 *   closed unread; for a PIPE stage only the body is replaced, for an
 *   HTTP stage status, headers and body); otherwise a miss is counted.
 * - result: a storable result's body becomes a tee (the client gets
 *   every byte as it comes, with the filter's back-pressure); the copy is
 *   stored at the body's end, dropped past the per-entry limit, on an
 *   error or when the body is closed early.  A result without a body is
 *   stored at once.
 * - Everything a request holds (entry references, a partial copy) is
 *   released by the request pool's cleanups whatever way it ends.
 */
#ifndef PORTIER_DP_FILTER_CACHE_REQUEST_H
#define PORTIER_DP_FILTER_CACHE_REQUEST_H

#include "dp_filter_cache.h"
#include "dp_http.h"

/** The source identity of req's response under translation r, in the
 *  request's pool; NULL when out of memory. */
char *
dp_filter_cache_source_id(struct dp_request *req,
                          const struct tp_response *r);

struct dp_filter_cache_use;

/**
 * Before filter filters[n-1] runs on (*status, *h, *body): true when the
 * store had its result: *body was closed and replaced by the stored one
 * (and, for an HTTP filter, *status and *h by the stored ones).  False:
 * run the filter; *use is the handle for dp_filter_cache_result() (NULL
 * when nothing will be stored).
 */
bool
dp_filter_cache_begin(struct dp_request *req, const char *source_id,
                      const struct tp_filter *const *filters, size_t n,
                      unsigned *status,
                      const struct dp_response_headers **h,
                      struct dp_body **body,
                      struct dp_filter_cache_use **use);

/** The filter's result: when storable, *body becomes a tee that stores
 *  the result at its end.  use may be NULL. */
void
dp_filter_cache_result(struct dp_filter_cache_use *use, unsigned status,
                       const struct dp_response_headers *h,
                       struct dp_body **body);

#endif
