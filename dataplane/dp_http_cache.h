/*
 * dp_http_cache: the HTTP cache's rules and store (docs/http-cache.md):
 * RFC 9111 freshness and cacheability for a shared cache, Vary, and a
 * size-bounded in-memory store with LRU eviction and CACHE_TAG flushes.
 * Pure: no I/O, no event loop; times are passed in (milliseconds of
 * wall-clock time, as Date headers are).
 *
 * Promises:
 * - dp_hc_parse_cache_control() reads the directives this cache acts on;
 *   unknown directives are ignored, a bad number makes the directive
 *   count as absent (max-age) or as 0 (s-maxage: never fresh).
 * - dp_hc_request_check(): only GET and HEAD use the cache.  Request
 *   no-cache (Cache-Control or Pragma) or max-age=0 means "reload": the
 *   cached entry is not used, but the new response may be stored — only
 *   when obey_no_cache is set; otherwise it is ignored.  Request
 *   no-store bypasses the cache.
 * - dp_hc_response_check(): stored are responses with status 200, 203,
 *   300, 301, 308, 404, 410 that are not no-store, not private, have no
 *   Vary: * and have explicit freshness (s-maxage, max-age, Expires),
 *   or, for 200 only, a Last-Modified heuristic (10 % of Date minus
 *   Last-Modified, at most one day, RFC 9111 section 4.2.2), or a
 *   validator (ETag, Last-Modified: stored with lifetime 0, so every use
 *   revalidates).  no-cache and must-revalidate with a zero lifetime also
 *   give lifetime 0.  A request with Authorization or a session user is
 *   stored only when the response says public, s-maxage or
 *   must-revalidate (RFC 9111 section 3.5); such entries are "shared"
 *   and only they may answer requests with Authorization or a user.
 * - dp_hc_response_check_eager() (EAGER_CACHE): the same, but a
 *   response without explicit freshness and without a heuristic one gets
 *   DP_HC_EAGER_LIFETIME_MS (validator or not); no-store, private,
 *   no-cache, the status and the Authorization rules still apply.
 * - Age (RFC 9111 section 4.2.3): corrected initial age from Age, Date
 *   and the request/response times; the current age adds the time in
 *   the cache.  Fresh while the lifetime exceeds the current age.
 * - The store: entries under a key (any string; the caller's URI + Host)
 *   and the request values of the headers the response's Vary names;
 *   a lookup finds the entry whose Vary values match the request's (an
 *   absent header matches only an absent one).  Storing replaces the
 *   entry of the same key and variant.  The sum of the entries' sizes
 *   (their bytes plus a fixed overhead) stays within the store's
 *   capacity by evicting the least recently used; an entry over the
 *   per-entry limit (an eighth of the capacity, at most 4 MiB) is never
 *   stored.  dp_hc_store_remove_key() drops every variant of a key.
 *   Entries are reference-counted: a flushed or evicted entry
 *   in use lives until its last reference is released.
 */
#ifndef PORTIER_DP_HTTP_CACHE_H
#define PORTIER_DP_HTTP_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the rules ---- */

struct dp_hc_cc {
    bool no_store, no_cache, private_, public_, must_revalidate;
    bool proxy_revalidate;
    int64_t max_age;                  /* seconds; -1 when absent */
    int64_t s_maxage;                 /* seconds; -1 when absent */
};

void
dp_hc_cc_init(struct dp_hc_cc *cc);

/** Add the directives of one Cache-Control field value to *cc. */
void
dp_hc_parse_cache_control(struct dp_hc_cc *cc, const char *v, size_t n);

/** A header as name/value strings (not NUL-terminated). */
struct dp_hc_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/**
 * The next header of "Name: value\r\n" lines (an entry's stored lines,
 * a dp_response_headers' text) from *pos up to end: true with *out
 * pointing into the lines (the value without its leading spaces) and
 * *pos after the line; a line without a colon is skipped.  False, with
 * *pos at end, when no header is left.
 */
bool
dp_hc_header_next(const char **pos, const char *end,
                  struct dp_hc_header *out);

enum dp_hc_request_mode {
    DP_HC_BYPASS,                     /* neither use nor store */
    DP_HC_LOOKUP,                     /* use a fresh entry, or store */
    DP_HC_RELOAD,                     /* go to the backend, may store */
};

struct dp_hc_request {
    bool get_or_head;
    const struct dp_hc_header *headers;
    size_t n_headers;
    bool has_user;                    /* a session or HTTP_AUTH user */
    bool obey_no_cache;               /* http_cache_obey_no_cache */
};

enum dp_hc_request_mode
dp_hc_request_check(const struct dp_hc_request *r);

/** False for a response header line that no cache entry keeps:
 *  Set-Cookie, Set-Cookie2 and Age (a hit sends its own Age). */
bool
dp_hc_header_stored(const char *line, size_t n);

/** The header lines of `data` (n bytes, CRLF- or LF-terminated lines)
 *  that dp_hc_header_stored() keeps, malloc'd and NUL-terminated, their
 *  length in *len; NULL when out of memory. */
char *
dp_hc_stored_lines(const char *data, size_t n, size_t *len);

/** True when the request carries Authorization or a user: only shared
 *  entries may answer it. */
bool
dp_hc_request_personal(const struct dp_hc_request *r);

struct dp_hc_response {
    unsigned status;
    const struct dp_hc_header *headers;
    size_t n_headers;
    int64_t request_ms, response_ms;  /* when sent, when the head came */
};

/** What the cache keeps of a storable response. */
struct dp_hc_facts {
    int64_t lifetime_ms;              /* freshness lifetime */
    int64_t initial_age_ms;           /* corrected initial age */
    int64_t response_ms;
    bool shared;                      /* may answer personal requests */
    bool revalidate_always;           /* must-revalidate (no stale use) */
    /* Pointers into the response's headers (NULL when absent). */
    const char *etag;
    size_t etag_len;
    const char *last_modified;
    size_t last_modified_len;
    const char *vary;                 /* the joined Vary values */
    size_t vary_len;
};

/**
 * Decide whether the response to `req` may be stored; true and *out
 * filled when it may, false with `why` ("no-store", "private", ...)
 * otherwise.
 */
bool
dp_hc_response_check(const struct dp_hc_request *req,
                     const struct dp_hc_response *resp,
                     struct dp_hc_facts *out, const char **why);

/** The lifetime EAGER_CACHE gives a response without freshness
 *  information: one hour. */
#define DP_HC_EAGER_LIFETIME_MS (3600 * 1000LL)

/** dp_hc_response_check(), with EAGER_CACHE when `eager`. */
bool
dp_hc_response_check_eager(const struct dp_hc_request *req,
                           const struct dp_hc_response *resp, bool eager,
                           struct dp_hc_facts *out, const char **why);

/** The current age of an entry at `now_ms`. */
int64_t
dp_hc_current_age(int64_t initial_age_ms, int64_t response_ms,
                  int64_t now_ms);

/* ---- a body's copy ---- */

/* A bounded copy of a body as it passes through a cache's tee: the bytes
 * up to limit.  Past the limit, or when memory runs out, the copy is
 * dropped (buf freed) and stays dropped; nothing is stored then.  Zero
 * it and set limit before the first append. */
struct dp_hc_copy {
    uint8_t *buf;                     /* malloc'd */
    size_t len, cap, limit;
    bool dropped;
};

void
dp_hc_copy_append(struct dp_hc_copy *c, const uint8_t *data, size_t n);

void
dp_hc_copy_drop(struct dp_hc_copy *c);

/* ---- the store ---- */

struct dp_hc_store;

struct dp_hc_entry {
    /* read-only for users */
    char *key;
    unsigned status;
    char *headers;                    /* "Name: value\r\n" lines */
    size_t headers_len;
    uint8_t *body;
    size_t body_len;
    char *tag;                        /* CACHE_TAG or NULL */
    char *etag;                       /* or NULL */
    char *last_modified;              /* or NULL */
    struct dp_hc_facts facts;         /* etag etc. point into the entry */
    /* Vary: n names with the request's values (value NULL = absent). */
    size_t n_vary;
    char **vary_names;
    char **vary_values;

    /* private */
    size_t size;
    unsigned refs;
    bool linked;
    struct dp_hc_entry *hnext;        /* hash chain */
    struct dp_hc_entry *lru_prev, *lru_next;
    uint64_t hash;
};

/** A store of `capacity` bytes (0: a store that keeps nothing); NULL
 *  when out of memory. */
struct dp_hc_store *
dp_hc_store_new(size_t capacity);

void
dp_hc_store_free(struct dp_hc_store *s);

/** The largest entry the store takes. */
size_t
dp_hc_store_entry_limit(const struct dp_hc_store *s);

/**
 * Find the entry for `key` whose Vary values match the request headers;
 * it becomes the most recently used and gains a reference (release it
 * with dp_hc_entry_unref()).  NULL when none.
 */
struct dp_hc_entry *
dp_hc_store_lookup(struct dp_hc_store *s, const char *key,
                   const struct dp_hc_header *req_headers, size_t n);

/** A new entry (not stored, one reference); NULL when out of memory.
 *  The Vary values are taken from the request headers. */
struct dp_hc_entry *
dp_hc_entry_new(const char *key, unsigned status, const char *headers,
                size_t headers_len, const uint8_t *body, size_t body_len,
                const char *tag, const struct dp_hc_facts *facts,
                const struct dp_hc_header *req_headers, size_t n);

/** Store e (the store takes a reference of its own); an entry of the
 *  same key and variant is replaced.  False (not stored) when it is over
 *  the per-entry limit. */
bool
dp_hc_store_put(struct dp_hc_store *s, struct dp_hc_entry *e);

/** Refresh an entry's freshness from a 304 (new facts: lifetime, age,
 *  response time; validators kept unless the 304 has new ones). */
void
dp_hc_entry_refresh(struct dp_hc_entry *e, const struct dp_hc_facts *f);

void
dp_hc_entry_unref(struct dp_hc_entry *e);

/** Remove an entry from the store (if it is there). */
void
dp_hc_store_remove(struct dp_hc_store *s, struct dp_hc_entry *e);

/** Remove every variant stored under `key`; returns how many. */
size_t
dp_hc_store_remove_key(struct dp_hc_store *s, const char *key);

/** Remove every entry (tag NULL) or those with CACHE_TAG `tag`;
 *  returns how many were removed. */
size_t
dp_hc_store_flush(struct dp_hc_store *s, const char *tag);

struct dp_hc_stats {
    size_t entries, bytes, capacity;
    uint64_t hits, misses, stores, evictions, revalidations;
};

void
dp_hc_store_stats(const struct dp_hc_store *s, struct dp_hc_stats *out);

/** Counters the caller keeps in the store's statistics. */
void
dp_hc_store_count(struct dp_hc_store *s, bool hit, bool miss,
                  bool revalidation);

#endif
