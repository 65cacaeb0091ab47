/*
 * dp_auth: the pure parts of the authentication flows of spec §1.12
 * (docs/sessions.md): the TOKEN_AUTH token in the query string, the
 * AUTH_FILE payload, and the payload with APPEND_AUTH.
 *
 * Promises:
 * - No event loop, no global state; dp_auth_read_file() is the only
 *   I/O.  Results live in the caller's pool.
 * - The token is the value of the first `access_token` parameter of the
 *   query (the name as the current beng-proxy code uses it, §1.12),
 *   %-unescaped; the rest of the query keeps its other parameters in
 *   their order and encoding.  A malformed %-escape in the token is an
 *   error (the caller answers 400), never a silently altered token.
 */
#ifndef PORTIER_DP_AUTH_H
#define PORTIER_DP_AUTH_H

#include "dp_pool.h"
#include "pr_bytes.h"

#include <stddef.h>

/** The most bytes AUTH_FILE may hold (beng-proxy manual). */
#define DP_AUTH_FILE_MAX 64

/** The query parameter TOKEN_AUTH reads. */
#define DP_AUTH_TOKEN_PARAM "access_token"

/**
 * Split `query` (without '?', may be NULL): *token gets the unescaped
 * access_token value (NULL when absent), *rest the query without that
 * parameter (NULL when nothing is left).  0, -EINVAL (bad %-escape or a
 * NUL in the token) or -ENOMEM.
 */
int
dp_auth_query_token(struct dp_pool *pool, const char *query,
                    const char **token, const char **rest);

/**
 * Read an AUTH_FILE: at most DP_AUTH_FILE_MAX bytes into out.  0 with
 * *len, or -errno with a sentence in err (a larger file is -EFBIG).
 */
int
dp_auth_read_file(const char *path, uint8_t out[DP_AUTH_FILE_MAX],
                  size_t *len, char *err, size_t errlen);

/** base followed by append (either may be unset) in the pool; an unset
 *  result only when both are unset. */
struct pr_slice
dp_auth_payload(struct dp_pool *pool, struct pr_slice base,
                struct pr_slice append);

#endif
