/*
 * dp_http_date: HTTP-date (RFC 9110 §5.6.7) formatting and parsing.
 *
 * Promises:
 * - Pure: no I/O, no allocation, no locale, no time zone, no clock; the
 *   calendar is the proleptic Gregorian one computed here, not gmtime().
 * - dp_http_date_format() writes exactly 29 characters of IMF-fixdate
 *   ("Sun, 06 Nov 1994 08:49:37 GMT") and a NUL; years 0000 to 9999.
 *   It is cheap enough to call per request, but the server is expected to
 *   cache the Date value once per second.
 * - dp_http_date_parse() accepts the three formats a recipient must
 *   accept (IMF-fixdate, obsolete RFC 850, asctime), each exactly as its
 *   grammar says: names are case-sensitive, field widths fixed, every
 *   field range-checked (month length and leap years included, second 60
 *   allowed as the grammar allows it), the day-name must be the weekday of
 *   the date.  Leading and trailing spaces and tabs (OWS) are skipped,
 *   anything else — a list of dates, a trailing comment, a time zone other
 *   than GMT — makes the value invalid and the result -1.
 * - The two-digit year of RFC 850 is read as RFC 9110 says: a year that
 *   would be more than 50 years after `now` is taken from the previous
 *   century.
 */
#ifndef PORTIER_DP_HTTP_DATE_H
#define PORTIER_DP_HTTP_DATE_H

#include <stddef.h>
#include <time.h>

/** Length of an IMF-fixdate, without the NUL. */
#define DP_HTTP_DATE_LEN 29
/** Buffer size for dp_http_date_format(): the date and a NUL. */
#define DP_HTTP_DATE_SIZE 30

/**
 * Format `t` (seconds since the epoch, UTC) as IMF-fixdate into `out`:
 * exactly DP_HTTP_DATE_LEN characters followed by a NUL.
 *
 * Returns 0, or -1 (and `out` holds an empty string) when the year of `t`
 * lies outside 0000..9999, which IMF-fixdate cannot express.
 */
int
dp_http_date_format(time_t t, char out[DP_HTTP_DATE_SIZE]);

/**
 * Parse the HTTP-date in `s[0..len)` (not NUL-terminated; `s` may be NULL
 * when `len` is 0).  `now` is only used to place the two-digit year of
 * the RFC 850 format.
 *
 * Returns 0 and stores the time in `*out`, or -1 when the value is not a
 * valid HTTP-date (then `*out` is untouched).
 */
int
dp_http_date_parse(const char *s, size_t len, time_t now, time_t *out);

/**
 * Days since 1970-01-01 of the proleptic Gregorian date year-month-day
 * (month 1..12, day 1..31; not range-checked).  Exposed for tests and for
 * other modules that build dates.
 */
long long
dp_days_from_civil(long long year, unsigned month, unsigned day);

#endif
