/*
 * dp_session: the browser sessions of one portierd (spec/protocols.md
 * §1.12, docs/sessions.md): session ids, the session cookie, and the
 * session store that all worker processes share.
 *
 * Promises:
 * - A session id is 128 bits from the kernel's CSPRNG (getrandom()).  Its
 *   last 32 bits, read big-endian, are the "cluster hash": with
 *   `--cluster-size N --cluster-node K` every id this node generates has
 *   cluster hash % N == K, so a load balancer that takes the modulo of
 *   those bits (beng-lb's sticky "session_modulo") routes the session
 *   back to its node.  The other 96 bits stay uniformly random, and the
 *   cluster hash keeps all but log2(N) of its bits random.
 * - In the cookie an id is 32 lower-case hex digits (the cluster hash is
 *   the last 8).  Parsing accepts exactly that (either case) and nothing
 *   else.
 * - Pure helpers (ids, cookie parsing and formatting) have no I/O and no
 *   global state; the store has no clock: every call that needs the time
 *   takes `now_ms`, wall-clock milliseconds chosen by the caller (wall
 *   clock so that saved sessions keep their expiry across a restart).
 * - The store lives in one shared memory region (mmap MAP_SHARED |
 *   MAP_ANONYMOUS) made by dp_session_manager_new(): every process
 *   forked afterwards (the workers) sees and changes the same sessions.
 *   The region holds no pointers, only slot and chunk indices: a slot
 *   array (one per session, max_sessions of them) with an open hash and
 *   the LRU list, and a chunk heap for the sessions' values (each kept
 *   as one record in the save file's session layout).  Its size is fixed
 *   at creation: max_sessions slots and DP_SESSION_AVG_RECORD bytes of
 *   values per slot on average (at least two of the largest records).
 * - One process-shared robust mutex guards the region.  Critical sections
 *   copy bytes and move indices; no I/O, no allocation.  A process that
 *   dies holding the lock (kill -9) is noticed by the next one to lock:
 *   if it was only reading, nothing is lost; if it was changing the
 *   store, every link (hash, LRU list, free lists) is rebuilt from the
 *   slots, and only a session whose record was half written is dropped
 *   (the store is emptied only when the repair finds no memory).  Either
 *   way the store is usable again and one line is logged to stderr.
 * - Callers never hold a pointer into the region: dp_session_get() hands
 *   out a private copy (struct dp_session, heap-allocated) and
 *   dp_session_put() writes a changed copy back.  Two processes that
 *   change the same session at once: the last put wins.
 * - The store holds at most `max_sessions` sessions: creating one more
 *   evicts the least recently used one, counted in the statistics (the
 *   caller logs).  When the values of a put do not fit the chunk heap,
 *   the least recently used other sessions are evicted until they do.
 *   A session not used for `idle_timeout_ms` has expired: lookups do not
 *   find it and dp_session_expire() frees it.  The LRU list is ordered by
 *   expiry, so expiry and eviction take the list's head, O(1) each.
 * - Values from translation responses are copied and bounded
 *   (DP_SESSION_MAX_VALUE bytes each, DP_SESSION_MAX_REALMS realms per
 *   session); a larger value is refused (-E2BIG), never truncated.
 */
#ifndef PORTIER_DP_SESSION_H
#define PORTIER_DP_SESSION_H

#include "pr_bytes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DP_SESSION_ID_SIZE 16
/** Hex digits of an id in the cookie, without the NUL. */
#define DP_SESSION_ID_HEX 32
/** The longest SESSION, REALM_SESSION, ATTACH_SESSION, USER, realm,
 *  site or language a session keeps. */
#define DP_SESSION_MAX_VALUE 4096
#define DP_SESSION_MAX_REALMS 8
/** Default of the session limit (`session_max_count`). */
#define DP_SESSION_DEFAULT_MAX 65536
/** Chunk heap bytes the shared store reserves per session slot. */
#define DP_SESSION_AVG_RECORD 1024
/** The largest record of one session (all values at their limits). */
#define DP_SESSION_MAX_RECORD (160u * 1024u)

struct dp_session_id {
    uint8_t b[DP_SESSION_ID_SIZE];
};

/* ---- ids ---- */

/** The cluster hash: the id's last four bytes, big-endian. */
uint32_t
dp_session_id_cluster_hash(const struct dp_session_id *id);

/**
 * Change the cluster hash as little as needed so that hash % size ==
 * node (size 0 or 1: nothing changes).  node must be < size.
 */
void
dp_session_id_set_node(struct dp_session_id *id, unsigned size,
                       unsigned node);

/** A new random id for this node; 0 or -errno (getrandom() failed). */
int
dp_session_id_generate(struct dp_session_id *id, unsigned cluster_size,
                       unsigned cluster_node);

/** 32 lower-case hex digits and a NUL into out. */
void
dp_session_id_format(const struct dp_session_id *id,
                     char out[DP_SESSION_ID_HEX + 1]);

/** Parse exactly 32 hex digits; false for anything else. */
bool
dp_session_id_parse(const char *s, size_t n, struct dp_session_id *id);

bool
dp_session_id_equal(const struct dp_session_id *a,
                    const struct dp_session_id *b);

/* ---- the cookie ---- */

/**
 * The cookie name: `base`, and with `dynamic` (dynamic_session_cookie) a
 * suffix of four hex digits hashed from the Host (lower-cased, without
 * the port), so hosts under one domain get different cookies.  Returns
 * the length, or -1 when it does not fit out[0..size).
 */
int
dp_session_cookie_name(char *out, size_t size, const char *base,
                       bool dynamic, const char *host);

/**
 * Find cookie `name` in one Cookie header value ("a=1; b=2", RFC 6265
 * syntax, blanks around pairs tolerated, a quoted value unquoted).  The
 * first match wins.  True with *value pointing into `header`.
 */
bool
dp_session_cookie_find(const char *header, const char *name,
                       struct pr_slice *value);

enum dp_session_same_site {
    DP_SESSION_SAME_SITE_NONE_SET = 0,  /* no attribute */
    DP_SESSION_SAME_SITE_STRICT,
    DP_SESSION_SAME_SITE_LAX,
    DP_SESSION_SAME_SITE_NONE,          /* "SameSite=None" */
};

struct dp_session_cookie_options {
    bool secure;                        /* request over TLS, or
                                           SECURE_COOKIE */
    enum dp_session_same_site same_site;
    const char *domain;                 /* COOKIE_DOMAIN or NULL */
    const char *path;                   /* COOKIE_PATH or NULL = "/" */
};

/**
 * The Set-Cookie value: "NAME=HEX; HttpOnly; Path=/" plus Domain,
 * Secure and SameSite as the options say.  Returns the length, or -1
 * when it does not fit, or when domain/path hold a ';' or a control
 * character.
 */
int
dp_session_set_cookie(char *out, size_t size, const char *name,
                      const struct dp_session_id *id,
                      const struct dp_session_cookie_options *o);

/* ---- sessions ---- */

/** Bytes a session keeps: data == NULL is "not set"; a set value is
 *  followed by a NUL that len does not count. */
struct dp_session_bytes {
    uint8_t *data;
    size_t len;
};

/** The part of a session that belongs to one realm (§1.12). */
struct dp_realm_session {
    char *realm;                      /* lower-cased host or AUTH base */
    char *user;                       /* USER; NULL = not logged in */
    uint64_t user_expires_ms;         /* 0 = valid while the session is */
    struct dp_session_bytes translate;  /* REALM_SESSION */
};

struct dp_session {
    struct dp_session_id id;
    uint64_t expires_ms;              /* last use + idle timeout */
    struct dp_session_bytes translate;  /* SESSION */
    struct dp_session_bytes attach;     /* ATTACH_SESSION */
    char *site;                       /* SESSION_SITE */
    char *language;                   /* LANGUAGE */
    struct dp_realm_session realms[DP_SESSION_MAX_REALMS];
    size_t n_realms;
};

/** Set *dst to a copy of data[0..len) (data NULL: unset).  0, -E2BIG
 *  (over DP_SESSION_MAX_VALUE) or -ENOMEM; *dst unchanged on failure. */
int
dp_session_bytes_set(struct dp_session_bytes *dst, const void *data,
                     size_t len);

/** Like dp_session_bytes_set() for a C string (NULL: unset). */
int
dp_session_string_set(char **dst, const char *s);

/** The realm's part of the session, or NULL. */
struct dp_realm_session *
dp_session_realm(struct dp_session *s, const char *realm);

/** The realm's part, created when missing (the oldest realm is dropped
 *  when all DP_SESSION_MAX_REALMS are in use); NULL when out of memory
 *  or the name is too long. */
struct dp_realm_session *
dp_session_realm_make(struct dp_session *s, const char *realm);

/** Drop the realm's part (DISCARD_REALM_SESSION). */
void
dp_session_realm_discard(struct dp_session *s, const char *realm);

/** The realm's user unless it has expired at now_ms; NULL otherwise. */
const char *
dp_realm_session_user(const struct dp_realm_session *r, uint64_t now_ms);

/** A private session on the heap (a copy out of the store, or one from
 *  the file decoder), all fields unset; NULL when out of memory. */
struct dp_session *
dp_session_new(void);

/** Free a private session (NULL: nothing). */
void
dp_session_free(struct dp_session *s);

/* ---- the store ---- */

struct dp_session_config {
    unsigned cluster_size;            /* 0 or 1: no cluster */
    unsigned cluster_node;
    uint64_t idle_timeout_ms;         /* session_idle_timeout */
    size_t max_sessions;              /* 0 = DP_SESSION_DEFAULT_MAX */
};

struct dp_session_stats {
    size_t sessions;
    uint64_t created, expired, evicted, discarded;
    uint64_t recovered;               /* locks taken over from the dead */
    size_t chunks_used, chunks_total; /* the value heap */
};

struct dp_session_manager;

/** A new shared store (its region is mapped now), or NULL (mmap() or
 *  the mutex failed, or out of memory). */
struct dp_session_manager *
dp_session_manager_new(const struct dp_session_config *config);

/** Unmap this process's view (the region goes with its last process). */
void
dp_session_manager_free(struct dp_session_manager *m);

const struct dp_session_config *
dp_session_manager_config(const struct dp_session_manager *m);

/** Change the idle timeout (a reload); the size cannot change. */
void
dp_session_manager_set_idle_timeout(struct dp_session_manager *m,
                                    uint64_t idle_timeout_ms);

/** Refresh the live session with this id (its expiry moves to now +
 *  idle timeout); false when there is none or it has expired. */
bool
dp_session_touch(struct dp_session_manager *m, const struct dp_session_id *id,
                 uint64_t now_ms);

/** A private copy of the live session with this id, refreshed like
 *  dp_session_touch() (free it with dp_session_free()); NULL when there
 *  is none, it has expired, or out of memory. */
struct dp_session *
dp_session_get(struct dp_session_manager *m, const struct dp_session_id *id,
               uint64_t now_ms);

/** Like dp_session_get() without refreshing it or expiring anything. */
struct dp_session *
dp_session_peek(struct dp_session_manager *m, const struct dp_session_id *id);

/**
 * Write a changed copy back and refresh the session.  0, -ENOENT (the
 * session is gone meanwhile: discarded, expired, evicted), -ENOMEM, or
 * -ENOSPC (its record does not fit even in an empty heap).  *evicted
 * (may be NULL) counts the other sessions evicted to make room.
 */
int
dp_session_put(struct dp_session_manager *m, const struct dp_session *s,
               uint64_t now_ms, size_t *evicted);

/**
 * A new empty session with a fresh id: a private copy, or NULL
 * (getrandom() failed or out of memory; *err says which).  At the limit
 * the least recently used session is evicted first; *evicted (may be
 * NULL) tells whether one was.
 */
struct dp_session *
dp_session_create(struct dp_session_manager *m, uint64_t now_ms,
                  bool *evicted, const char **err);

/**
 * Take over a session from the file decoder: dropped (false) when it has
 * expired at now_ms, its id is already in the store, or it does not fit;
 * otherwise stored (true), evicting the least recently used session at
 * the limit.  Its expiry is kept (capped at now + idle timeout).  s is
 * freed either way.
 */
bool
dp_session_adopt(struct dp_session_manager *m, struct dp_session *s,
                 uint64_t now_ms);

/** Remove one session; false when it was not there. */
bool
dp_session_discard(struct dp_session_manager *m,
                   const struct dp_session_id *id);

/** DISCARD_SESSION (control): remove every session whose ATTACH_SESSION
 *  value equals attach[0..len); returns how many. */
size_t
dp_session_discard_attached(struct dp_session_manager *m, const void *attach,
                            size_t len);

/** The most recently used other live session with this ATTACH_SESSION
 *  value: true with its id in *out. */
bool
dp_session_find_attached(struct dp_session_manager *m,
                         const struct dp_session_id *except,
                         const void *attach, size_t len, uint64_t now_ms,
                         struct dp_session_id *out);

/** Free every session that has expired at now_ms; returns how many. */
size_t
dp_session_expire(struct dp_session_manager *m, uint64_t now_ms);

/** Call fn for a copy of every session, least recently used first, as
 *  the store was when the call began (sessions removed meanwhile are
 *  skipped).  fn runs outside the lock.  0 or -ENOMEM. */
int
dp_session_foreach(struct dp_session_manager *m,
                   void (*fn)(const struct dp_session *s, void *ctx),
                   void *ctx);

void
dp_session_get_stats(struct dp_session_manager *m,
                     struct dp_session_stats *out);

/** For tests: take the lock and return holding it, marked as changing
 *  the store when `changing` (a child then dies with it). */
void
dp_session_manager_test_hold_lock(struct dp_session_manager *m,
                                  bool changing);

#endif
