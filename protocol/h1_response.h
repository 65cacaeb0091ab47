/*
 * h1_response: small formatting helpers for HTTP/1.1 response heads.
 *
 * Promises:
 * - Pure: no I/O, no clock (the caller passes the time), no allocation,
 *   no locale or time-zone dependence.
 * - h1_format_date() writes the IMF-fixdate of RFC 9110 §5.6.7
 *   ("Sun, 06 Nov 1994 08:49:37 GMT", always 29 bytes) for the Date and
 *   Last-Modified headers; h1_format_date_checked() is the same formatter
 *   without the clamping, for every time whose year IMF-fixdate can
 *   express (0000 to 9999; dataplane/dp_http_date builds on it).
 * - h1_format_status_line() writes "HTTP/1.1 <code> <reason>\r\n" with
 *   the reason phrase of h1_reason_phrase().
 * - Outputs are truncated never: a buffer too small gives 0 and is left
 *   unspecified.
 */
#ifndef PORTIER_H1_RESPONSE_H
#define PORTIER_H1_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

/** Length of an IMF-fixdate, without a terminating NUL. */
#define H1_DATE_LEN 29

/**
 * Write the IMF-fixdate of `t` (seconds since the epoch, UTC) into out
 * (room for H1_DATE_LEN bytes; no NUL is written).  Times before 1970 are
 * written as 1970-01-01 00:00:00, times after 9999-12-31 23:59:59 as that
 * second.  Returns H1_DATE_LEN.
 */
size_t
h1_format_date(char *out, int64_t t);

/**
 * Write the IMF-fixdate of `t` into out (room for H1_DATE_LEN bytes; no
 * NUL is written) and return 0; or return -1, writing nothing, when the
 * year of `t` lies outside 0000..9999.
 */
int
h1_format_date_checked(char *out, int64_t t);

/** The reason phrase of a status ("Not Found"); "Unknown" for codes
 *  without one. */
const char *
h1_reason_phrase(int status);

/**
 * Write "HTTP/1.1 <status> <reason>\r\n" into out[0..cap).  Returns the
 * length (no NUL counted, one written when there is room), or 0 when
 * status is not 100..999 or cap is too small.
 */
size_t
h1_format_status_line(char *out, size_t cap, int status);

#endif
