/*
 * dp_uri: the request URI as the translation protocol sees it.
 *
 * Promises (pure functions, no allocation):
 * - dp_uri_dissect() splits a request path "BASE;ARGS/PATH_INFO?QUERY"
 *   the way spec/protocols.md §1.5.2 describes: the first '?' starts the
 *   query, the first ';' before it the args, the first '/' after the ';'
 *   the path info.  Pieces are views into the input.
 * - dp_uri_path_safe() is the data plane's half of "no path outside what
 *   the translation server named": it refuses (with a reason) a path that
 *   is not absolute, contains control characters or a backslash, an
 *   encoded NUL or slash (%00, %2F), or a dot segment, literal or
 *   percent-encoded ("/../", "/%2e%2E/", "/./", a trailing "/..").  A
 *   request whose path is refused gets 400 before any translation.
 */
#ifndef PORTIER_DP_URI_H
#define PORTIER_DP_URI_H

#include <stdbool.h>
#include <stddef.h>

struct dp_uri_view {
    const char *p;
    size_t n;
};

struct dp_uri_parts {
    struct dp_uri_view base;        /* always present */
    struct dp_uri_view args;        /* p == NULL when there is no ';' */
    struct dp_uri_view path_info;   /* p == NULL when none */
    struct dp_uri_view query;       /* p == NULL when there is no '?' */
};

void
dp_uri_dissect(const char *uri, size_t len, struct dp_uri_parts *out);

/** NULL when the path is acceptable, otherwise why not (static text). */
const char *
dp_uri_path_safe(const char *path, size_t len);

#endif
