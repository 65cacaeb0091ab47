/* HTTP-date formatting and parsing; the contract is in dp_http_date.h. */
#include "dp_http_date.h"

#include "h1_chars.h"
#include "h1_response.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static const char day_names[7][4] = {
    "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat",
};
static const char *const long_day_names[7] = {
    "Sunday", "Monday", "Tuesday", "Wednesday",
    "Thursday", "Friday", "Saturday",
};
static const char month_names[12][4] = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

#define SECONDS_PER_DAY 86400

long long
dp_days_from_civil(long long year, unsigned month, unsigned day)
{
    /* Count years from March, so the leap day is the last day of a
     * "year"; then a 400-year era has a fixed 146097 days. */
    long long y = year - (month <= 2);
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned mp = month > 2 ? month - 3 : month + 9;
    unsigned doy = (153 * mp + 2) / 5 + day - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

/* The inverse of dp_days_from_civil(). */
static void
civil_from_days(long long days, long long *year, unsigned *month,
                unsigned *day)
{
    long long z = days + 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *day = doy - (153 * mp + 2) / 5 + 1;
    *month = mp < 10 ? mp + 3 : mp - 9;
    *year = (long long)yoe + era * 400 + (*month <= 2);
}

static bool
is_leap(long long y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned
month_days(long long y, unsigned m)
{
    static const unsigned char days[12] = { 31, 28, 31, 30, 31, 30,
                                            31, 31, 30, 31, 30, 31 };
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Floor division and modulo for a possibly negative time. */
static long long
floor_div(long long a, long long b)
{
    long long q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The formatting is protocol/h1_response's; this adds the NUL. */
_Static_assert(DP_HTTP_DATE_LEN == H1_DATE_LEN, "one IMF-fixdate length");

int
dp_http_date_format(time_t t, char out[DP_HTTP_DATE_SIZE])
{
    if (h1_format_date_checked(out, (int64_t)t) != 0) {
        out[0] = '\0';
        return -1;
    }
    out[DP_HTTP_DATE_LEN] = '\0';
    return 0;
}

/* A cursor over the value being parsed. */
struct cursor {
    const char *p, *end;
};

static bool
take(struct cursor *c, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return false;
    c->p += n;
    return true;
}

/* Exactly `n` digits. */
static bool
digits(struct cursor *c, unsigned n, unsigned *v)
{
    if ((size_t)(c->end - c->p) < n)
        return false;
    unsigned r = 0;
    for (unsigned i = 0; i < n; i++) {
        char ch = c->p[i];
        if (ch < '0' || ch > '9')
            return false;
        r = r * 10 + (unsigned)(ch - '0');
    }
    c->p += n;
    *v = r;
    return true;
}

/* A three-letter name out of `table`; its index in *idx. */
static bool
name3(struct cursor *c, const char (*table)[4], unsigned count,
      unsigned *idx)
{
    if (c->end - c->p < 3)
        return false;
    for (unsigned i = 0; i < count; i++) {
        if (memcmp(c->p, table[i], 3) == 0) {
            c->p += 3;
            *idx = i;
            return true;
        }
    }
    return false;
}

/* time-of-day = hour ":" minute ":" second */
static bool
time_of_day(struct cursor *c, unsigned *h, unsigned *m, unsigned *s)
{
    return digits(c, 2, h) && *h <= 23 && take(c, ":") && digits(c, 2, m) &&
           *m <= 59 && take(c, ":") && digits(c, 2, s) && *s <= 60;
}

/* Check the fields and combine them; the weekday must agree. */
static bool
assemble(long long year, unsigned month, unsigned day, unsigned wday,
         unsigned h, unsigned m, unsigned s, time_t *out)
{
    if (month < 1 || month > 12 || day < 1 || day > month_days(year, month))
        return false;
    long long days = dp_days_from_civil(year, month, day);
    if ((unsigned)(((days % 7) + 7 + 4) % 7) != wday)
        return false;
    long long t = days * SECONDS_PER_DAY + (long long)h * 3600 +
                  (long long)m * 60 + (long long)s;
    if ((long long)(time_t)t != t)
        return false;
    *out = (time_t)t;
    return true;
}

/* "Sun, 06 Nov 1994 08:49:37 GMT", after the day-name and ", ". */
static bool
parse_imf(struct cursor *c, unsigned wday, time_t *out)
{
    unsigned day, month, cy, yy, h, m, s;
    if (!(digits(c, 2, &day) && take(c, " ") &&
          name3(c, month_names, 12, &month) && take(c, " ") &&
          digits(c, 2, &cy) && digits(c, 2, &yy) && take(c, " ") &&
          time_of_day(c, &h, &m, &s) && take(c, " GMT") && c->p == c->end))
        return false;
    return assemble((long long)cy * 100 + yy, month + 1, day, wday, h, m, s,
                    out);
}

/* "Sunday, 06-Nov-94 08:49:37 GMT", after the day-name-l and ", ". */
static bool
parse_rfc850(struct cursor *c, unsigned wday, time_t now, time_t *out)
{
    unsigned day, month, yy, h, m, s;
    if (!(digits(c, 2, &day) && take(c, "-") &&
          name3(c, month_names, 12, &month) && take(c, "-") &&
          digits(c, 2, &yy) && take(c, " ") && time_of_day(c, &h, &m, &s) &&
          take(c, " GMT") && c->p == c->end))
        return false;

    /* RFC 9110 §5.6.7: a year more than 50 years in the future is the
     * most recent past year with the same last two digits; so the year
     * is the latest one ending in yy that is at most now + 50. */
    long long now_days = floor_div((long long)now, SECONDS_PER_DAY);
    long long now_year;
    unsigned now_month, now_day;
    civil_from_days(now_days, &now_year, &now_month, &now_day);
    long long limit = now_year + 50;
    long long year = floor_div(limit, 100) * 100 + yy;
    if (year > limit)
        year -= 100;
    return assemble(year, month + 1, day, wday, h, m, s, out);
}

/* "Sun Nov  6 08:49:37 1994", after the day-name and " ". */
static bool
parse_asctime(struct cursor *c, unsigned wday, time_t *out)
{
    unsigned month, day, h, m, s, cy, yy;
    if (!(name3(c, month_names, 12, &month) && take(c, " ")))
        return false;
    if (c->p < c->end && *c->p == ' ') {
        c->p++;
        if (!digits(c, 1, &day))
            return false;
    } else if (!digits(c, 2, &day)) {
        return false;
    }
    if (!(take(c, " ") && time_of_day(c, &h, &m, &s) && take(c, " ") &&
          digits(c, 2, &cy) && digits(c, 2, &yy) && c->p == c->end))
        return false;
    return assemble((long long)cy * 100 + yy, month + 1, day, wday, h, m, s,
                    out);
}

int
dp_http_date_parse(const char *s, size_t len, time_t now, time_t *out)
{
    if (s == NULL)
        return -1;
    struct cursor c = { s, s + len };
    while (c.p < c.end && h1_is_ows(*c.p))
        c.p++;
    while (c.end > c.p && h1_is_ows(c.end[-1]))
        c.end--;

    unsigned wday;
    if (!name3(&c, day_names, 7, &wday))
        return -1;
    time_t t;
    bool ok;
    if (take(&c, ", ")) {
        ok = parse_imf(&c, wday, &t);
    } else if (take(&c, " ")) {
        ok = parse_asctime(&c, wday, &t);
    } else {
        /* RFC 850: the rest of the long day name, then ", ". */
        c.p -= 3;
        ok = take(&c, long_day_names[wday]) && take(&c, ", ") &&
             parse_rfc850(&c, wday, now, &t);
    }
    if (!ok)
        return -1;
    *out = t;
    return 0;
}
