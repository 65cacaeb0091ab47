/*
 * dp_tls_name: which certificate of a TLS listener answers a server name
 * (SNI).  Pure functions: no OpenSSL, no allocation, no I/O.
 *
 * Promises:
 * - A pattern is a DNS name from a certificate (subjectAltName dNSName,
 *   or the subject CN when there is none): either exact ("www.example.com")
 *   or a wildcard whose whole left-most label is "*" ("*.example.com").
 *   A wildcard stands for exactly one non-empty label: "*.example.com"
 *   matches "a.example.com", not "example.com" nor "a.b.example.com".
 *   Other uses of '*' ("w*.example.com", "*.com") never match.
 * - Comparison ignores ASCII case and one trailing dot on either side.
 * - dp_tls_name_select() prefers an exact match over a wildcard, and the
 *   earlier entry among equals; it never picks a default itself (the
 *   caller uses its first certificate when nothing matches).
 */
#ifndef PORTIER_DP_TLS_NAME_H
#define PORTIER_DP_TLS_NAME_H

#include <stdbool.h>
#include <stddef.h>

/** One name a certificate is valid for, and the certificate's index. */
struct dp_tls_name {
    const char *name;
    unsigned index;
};

/** Is `pattern` usable as a name at all (exact, or "*." followed by at
 *  least two labels)?  Unusable names are skipped when a table is built. */
bool
dp_tls_name_valid(const char *pattern);

/** Does `pattern` (exact or wildcard) cover the server name `host`? */
bool
dp_tls_name_matches(const char *pattern, const char *host);

/** The index of the certificate for `host` among names[0..n), or -1 when
 *  none matches (or host is NULL or empty). */
int
dp_tls_name_select(const struct dp_tls_name *names, size_t n,
                   const char *host);

#endif
