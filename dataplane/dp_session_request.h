/*
 * dp_session_request: what one HTTP request does with the browser
 * session (spec/protocols.md §1.12, docs/sessions.md): the session cookie
 * in, the session packets of translation responses applied, the
 * Set-Cookie out, and the user the request runs as.
 *
 * Promises:
 * - struct dp_sessions is the session context (the shared store, cookie
 *   settings): made before the workers are forked, so all of them share
 *   the store; it outlives every request.  A request keeps only the id of
 *   its session and copies the session out of the store for each step
 *   (dp_session_get()); dp_session_request_apply() writes its changes
 *   back in one dp_session_put().  A session discarded meanwhile
 *   (DISCARD_SESSION, expiry, eviction, by any worker) is simply gone.
 * - The cookie is read from every Cookie header; only a well-formed id
 *   of a live session counts.  Set-Cookie is sent when the request
 *   created the session or switched to another one (ATTACH_SESSION), and
 *   never when session management is off for the response (its COOKIE
 *   header group is neither MANGLE nor BOTH in both directions, §1.12).
 * - Applying a response: DISCARD_SESSION first, then SESSION (empty
 *   clears), ATTACH_SESSION (joins the live session with the same value:
 *   the request continues in that one and the client gets its cookie),
 *   LANGUAGE, SESSION_SITE, and for the request's realm
 *   DISCARD_REALM_SESSION, REALM_SESSION and USER (empty = logout; the
 *   MAX_AGE after USER bounds the login).  A session is created only when
 *   a packet needs one.
 * - The user of a request (dp_session_request_user()): the HTTP_AUTH user
 *   of this request if there is one, otherwise the unexpired USER of the
 *   session's realm.  It is what backends receive in X-CM4all-BENG-User;
 *   that header is never taken from the client (dp_forward drops it).
 * - Nothing here logs except the session context (evictions when the
 *   store is full, one line each, with the count).
 */
#ifndef PORTIER_DP_SESSION_REQUEST_H
#define PORTIER_DP_SESSION_REQUEST_H

#include "dp_http.h"
#include "dp_session.h"
#include "tp_response.h"

#include <stdbool.h>
#include <stdint.h>

struct dp_sessions_config {
    const char *cookie_name;          /* session_cookie */
    bool dynamic_cookie;              /* dynamic_session_cookie */
    enum dp_session_same_site same_site;   /* session_cookie_same_site */
    struct dp_session_config store;
};

struct dp_sessions;

/** The session context with a new shared store, or NULL (out of memory,
 *  or the shared region could not be mapped). */
struct dp_sessions *
dp_sessions_new(const struct dp_sessions_config *config);

void
dp_sessions_free(struct dp_sessions *s);

/** A reload: new cookie settings and idle timeout, same store (its size
 *  stays).  0 or -ENOMEM (nothing changed). */
int
dp_sessions_reconfigure(struct dp_sessions *s,
                        const struct dp_sessions_config *config);

struct dp_session_manager *
dp_sessions_manager(struct dp_sessions *s);

/** Wall-clock milliseconds (the sessions' time base). */
uint64_t
dp_sessions_now(void);

/** The per-request state; lives in the request's pool. */
struct dp_session_request {
    struct dp_sessions *ctx;
    struct dp_request *req;
    bool has_session;
    struct dp_session_id id;
    bool send_cookie;                 /* created or switched */
    const char *cookie_name;          /* incl. the dynamic suffix */
    const char *realm;                /* lower-cased host, or AUTH base */
    const char *http_auth_user;       /* HTTP_AUTH: this request only */
};

/** Start: find the session of the request's cookie.  ctx may be NULL
 *  (no sessions: every other call does nothing). */
void
dp_session_request_begin(struct dp_session_request *sr,
                         struct dp_sessions *ctx, struct dp_request *req);

/** A copy of the session, looked up now (NULL when there is none); the
 *  caller frees it with dp_session_free(). */
struct dp_session *
dp_session_request_session(struct dp_session_request *sr);

/** SESSION for translation requests (copied into the request's pool);
 *  unset when there is none. */
struct pr_slice
dp_session_request_translate(struct dp_session_request *sr);

/** REALM_SESSION of the request's realm, likewise. */
struct pr_slice
dp_session_request_realm_translate(struct dp_session_request *sr);

/** Use this realm (REALM_FROM_AUTH_BASE) instead of the host. */
void
dp_session_request_set_realm(struct dp_session_request *sr,
                             const char *realm, size_t len);

/** True when the response lets the proxy manage sessions (§1.12). */
bool
dp_session_managed(const struct tp_response *r);

/**
 * Apply the session packets of a translation response.  Returns NULL,
 * or a sentence for the log when something could not be stored (out of
 * memory, a value over DP_SESSION_MAX_VALUE); the request goes on.
 */
const char *
dp_session_request_apply(struct dp_session_request *sr,
                         const struct tp_response *r);

/** The user of the request (see the header comment) or NULL. */
const char *
dp_session_request_user(struct dp_session_request *sr);

/** The user logged in to the request's realm through the session. */
const char *
dp_session_request_session_user(struct dp_session_request *sr);

/** True when the request came over a TLS listener (dp_request.tls): the
 *  cookie gets "Secure" and the TOKEN_AUTH redirect "https". */
bool
dp_session_request_over_tls(const struct dp_request *req);

/** Add Set-Cookie to h when the request must send the cookie; r (may be
 *  NULL) supplies COOKIE_DOMAIN, COOKIE_PATH, SECURE_COOKIE and
 *  SESSION_COOKIE_SAME_SITE.  0 or -ENOMEM. */
int
dp_session_request_add_cookie(struct dp_session_request *sr,
                              const struct tp_response *r,
                              struct dp_response_headers *h);

#endif
