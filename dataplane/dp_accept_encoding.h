/*
 * dp_accept_encoding: read Accept-Encoding (RFC 9110 §12.5.3) far enough
 * to decide whether a precompressed variant of a static file (GZIPPED,
 * AUTO_GZIPPED: gzip; AUTO_BROTLI_PATH: br) may be sent instead of the
 * file itself.
 *
 * Promises:
 * - Pure: no I/O, no allocation; the value is borrowed during the call.
 * - Grammar: `#( codings [ OWS ";" OWS "q=" qvalue ] )` with codings a
 *   token (compared case-insensitively), qvalue "0[.ddd]" or "1[.000]",
 *   the parameter name "q" in either case; empty list elements and OWS
 *   around commas are accepted.  Any other shape (another parameter, a
 *   qvalue like "0.5000" or "1.5", stray characters) makes the whole
 *   value invalid, and an invalid value allows no content coding:
 *   identity only.
 * - Policy: a coding is acceptable when its qvalue (named explicitly,
 *   "x-gzip" counting as "gzip", the highest if named twice; else the
 *   qvalue of "*"; else 0) is above 0.  Without the header, or with an
 *   empty one, only identity is used: RFC 9110 would allow any coding
 *   then, but no client that can decode gzip or br omits the header, and
 *   one that omits it (curl without --compressed, scripts) would receive
 *   bytes it did not ask for.
 * - dp_accept_encoding_choose() picks the variant with the highest
 *   qvalue among those that exist; ties go to br, then gzip, then
 *   identity.  Identity that the header does not name and "*" does not
 *   cover competes with the lowest qvalue (0.001), so "gzip;q=0.5" still
 *   gets gzip.  When identity is refused (identity;q=0 or *;q=0) and no
 *   variant fits, the result is identity all the same: the file handler
 *   sends the file rather than a 406 (RFC 9110 §12.5.3 lets the server
 *   disregard the header).
 */
#ifndef PORTIER_DP_ACCEPT_ENCODING_H
#define PORTIER_DP_ACCEPT_ENCODING_H

#include <stdbool.h>
#include <stddef.h>

enum dp_coding {
    DP_CODING_IDENTITY = 0,
    DP_CODING_GZIP,
    DP_CODING_BR,
};

/** The qvalues that matter, in thousandths; -1 = not named. */
struct dp_accept_encoding {
    /** The header was present and valid. */
    bool valid;
    short q_gzip;
    short q_br;
    short q_identity;
    short q_star;
};

/**
 * Parse the Accept-Encoding value `s[0..len)` (`s` NULL: header absent).
 * Returns 0, or -1 when the value is invalid; either way `*out` is set
 * and usable (invalid = identity only).
 */
int
dp_accept_encoding_parse(const char *s, size_t len,
                         struct dp_accept_encoding *out);

/**
 * The qvalue (0..1000) the client gives to `coding` under the policy of
 * this module; for identity, 1 when only acceptable by default.
 */
int
dp_accept_encoding_q(const struct dp_accept_encoding *ae,
                     enum dp_coding coding);

/** Whether `coding` may be sent (its qvalue is above 0). */
bool
dp_accept_encoding_accepts(const struct dp_accept_encoding *ae,
                           enum dp_coding coding);

/**
 * Choose what to send among the identity file and the variants that
 * exist (`have_br`, `have_gzip`).
 */
enum dp_coding
dp_accept_encoding_choose(const struct dp_accept_encoding *ae, bool have_br,
                          bool have_gzip);

/** The Content-Encoding token of `coding` (NULL for identity). */
const char *
dp_coding_name(enum dp_coding coding);

#endif
