/*
 * dp_http_cache_request: the HTTP cache in a request's path — the hook a
 * backend handler (HTTP and LHTTP through dp_proxy, CGI, FastCGI, WAS)
 * calls before it asks its backend and when the response head is back.  The
 * rules and the store are dp_http_cache's; this module keeps one store
 * per worker (docs/http-cache.md).
 *
 * Promises:
 * - dp_hcache_begin(): a GET or HEAD whose key (the backend URI and the
 *   request's Host) has a fresh entry matching its Vary values is
 *   answered from memory: the translation's headers, the stored ones,
 *   Age; 304 when the client's If-None-Match (weak comparison) or, without
 *   it, If-Modified-Since matches.  A request with Authorization or a
 *   user is answered only from an entry whose response allowed it.  A
 *   stale entry with a validator makes the backend request conditional
 *   (dp_hcache_conditional(), or dp_hcache_revalidate_request()); one
 *   without is dropped.
 * - dp_hcache_response(): a 304 to a conditional request of ours
 *   refreshes the entry and the client gets the entry (or its own 304);
 *   a storable response's body is teed: the client gets every byte as it
 *   comes, with the backend's back-pressure, and a copy is kept up to
 *   the per-entry limit; only a body that reached its end becomes an
 *   entry (too large, an error, or a client gone: dropped).  Set-Cookie
 *   and Age are never stored (a hit sends its own Age).
 * - Flags of the translation response (dp_hcache_begin_flags()):
 *   EAGER_CACHE stores responses without freshness information for
 *   DP_HC_EAGER_LIFETIME_MS; IGNORE_NO_CACHE ignores the request's
 *   no-cache, Pragma: no-cache and max-age=0; AUTO_FLUSH_CACHE makes a
 *   request with a method other than GET, HEAD, OPTIONS and TRACE flush
 *   the address's CACHE_TAG, before it goes to the backend and again
 *   when the backend's response head comes.
 * - A request with a method other than GET, HEAD, OPTIONS and TRACE
 *   whose backend answers with a 2xx or 3xx status drops every variant
 *   of its key (RFC 9111 section 4.4): a POST to a URI invalidates
 *   the entries of a GET to it.
 * - dp_hcache_revalidate_request(): for backends that take the client's
 *   request headers as they are (CGI, FastCGI, WAS), a stale entry's
 *   validators replace the client's If-* headers in the request for as
 *   long as the backend is asked; the client's are back when the
 *   response head comes (a 304 then refreshes the entry as for HTTP).
 * - Everything a request holds (entry references, a partial copy) is
 *   released by the request pool's cleanups whatever way it ends.
 */
#ifndef PORTIER_DP_HTTP_CACHE_REQUEST_H
#define PORTIER_DP_HTTP_CACHE_REQUEST_H

#include "dp_http.h"
#include "dp_http_cache.h"
#include "h1_response_head.h"

#include <stdbool.h>
#include <stddef.h>

/** The worker's cache: `size` bytes (0 disables it).  0 or -1. */
int
dp_hcache_configure(size_t size, bool obey_no_cache);

void
dp_hcache_shutdown(void);

/** FLUSH_HTTP_CACHE: every entry (tag NULL or empty) or those with the
 *  CACHE_TAG; returns how many were dropped. */
size_t
dp_hcache_flush(const char *tag);

/** Statistics (all zero without a cache). */
void
dp_hcache_stats(struct dp_hc_stats *out);

struct dp_hcache_use;

/** Flags of the translation response for dp_hcache_begin_flags(). */
enum {
    DP_HCACHE_EAGER = 1,              /* EAGER_CACHE */
    DP_HCACHE_IGNORE_NO_CACHE = 2,    /* IGNORE_NO_CACHE */
    DP_HCACHE_AUTO_FLUSH = 4,         /* AUTO_FLUSH_CACHE */
};

/** The DP_HCACHE_* flags of EAGER_CACHE, IGNORE_NO_CACHE and
 *  AUTO_FLUSH_CACHE. */
unsigned
dp_hcache_flags(bool eager, bool ignore_no_cache, bool auto_flush);

/** Add the stored header lines of entry e (the HTTP cache's or the
 *  filter cache's) to h, names and values copied into pool; -ENOMEM. */
int
dp_hcache_entry_headers(struct dp_response_headers *h,
                        const struct dp_hc_entry *e, struct dp_pool *pool);

/** What a backend handler passes on for the cache (NULL: UNCACHED). */
struct dp_hcache_info {
    const char *tag;                  /* the address's CACHE_TAG or NULL */
    const char *user;                 /* the request's user or NULL */
    unsigned flags;                   /* DP_HCACHE_* */
};

/**
 * Before the backend.  True: the request was answered from the cache.
 * False: go on to the backend; *use is the handle for
 * dp_hcache_response() (NULL when the cache is not involved).  `uri`
 * identifies the backend resource (method-independent), `tag` is the
 * address's CACHE_TAG (may be NULL), `headers` the translation's
 * response headers.
 */
bool
dp_hcache_begin(struct dp_request *req, const char *uri, const char *tag,
                bool has_user, const struct dp_response_headers *headers,
                struct dp_hcache_use **use);

/** dp_hcache_begin() with DP_HCACHE_* `flags`. */
bool
dp_hcache_begin_flags(struct dp_request *req, const char *uri,
                      const char *tag, bool has_user,
                      const struct dp_response_headers *headers,
                      unsigned flags, struct dp_hcache_use **use);

/** For a backend that reads the request's headers (CGI, FastCGI, WAS):
 *  when a stale entry is to be revalidated, req's headers become the
 *  client's without If-Match, If-None-Match, If-Modified-Since,
 *  If-Unmodified-Since and If-Range, plus the entry's validators, until
 *  dp_hcache_response() (or dp_hcache_response_text()) puts the
 *  client's back.  Out of memory: as dp_hcache_no_revalidation().  use
 *  may be NULL. */
void
dp_hcache_revalidate_request(struct dp_hcache_use *use);

/** Put the client's request headers back now (what
 *  dp_hcache_response() does first), for a backend answer that does not
 *  go there (CGI's local redirect).  use may be NULL. */
void
dp_hcache_restore_request(struct dp_hcache_use *use);

/** For a backend that cannot be asked conditionally (CGI: the program
 *  sees the client's request): a stale entry is not revalidated, the
 *  backend's answer replaces it.  use may be NULL. */
void
dp_hcache_no_revalidation(struct dp_hcache_use *use);

/** Header lines ("Name: value\r\n") that make the backend request
 *  conditional, or NULL; when set, the client's own If-* headers must
 *  not be forwarded. */
const char *
dp_hcache_conditional(const struct dp_hcache_use *use);

/**
 * The backend's response head: `raw` its headers, `out` the client's
 * response headers of which those from byte `from` on came from the
 * backend.  True: the cache answered the request (the body was closed).
 * False: the caller answers with *body, which may now be a tee.
 */
bool
dp_hcache_response(struct dp_hcache_use *use, unsigned status,
                   const struct h1_header *raw, size_t n_raw,
                   const struct dp_response_headers *out, size_t from,
                   struct dp_body **body);

/**
 * dp_hcache_response() for a backend whose header lines went straight
 * into `out` (from byte `from` on; WAS, FastCGI): they are read back as
 * the raw head.  True: the cache answered (a 304 to a revalidation).
 */
bool
dp_hcache_response_text(struct dp_hcache_use *use, unsigned status,
                        const struct dp_response_headers *out, size_t from,
                        struct dp_body **body);

#endif
