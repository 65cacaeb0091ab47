/* Response-head formatting: the IMF-fixdate from a civil-date
 * conversion in integer arithmetic, and the status line. */
#include "h1_response.h"

#include <stdio.h>
#include <string.h>

static const char wkday[7][4] = { "Sun", "Mon", "Tue", "Wed",
                                  "Thu", "Fri", "Sat" };
static const char month[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static void
put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

/* Days since 1970-01-01 to year/month/day in the proleptic Gregorian
 * calendar: shift to years starting on March 1st so the leap day comes
 * last, then split into 400-year eras of 146097 days (floored, so days
 * before 0000-03-01 work too). */
static void
civil_from_days(int64_t days, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t z = days + 719468;  /* days since 0000-03-01 */
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    /* day of the era [0, 146096], year of the era [0, 399], day of the
     * (March-based) year [0, 365], month with March = 0 */
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2 ? 1 : 0);
}

int
h1_format_date_checked(char *out, int64_t t)
{
    /* 0000-01-01 and 10000-01-01 as days since the epoch */
    const int64_t first_day = -719528, end_day = 2932897;
    int64_t days = t / 86400;
    if (t % 86400 < 0)
        days--;                 /* floor */
    if (days < first_day || days >= end_day)
        return -1;
    unsigned secs = (unsigned)(t - days * 86400);
    int64_t y;
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);

    /* 1970-01-01 was a Thursday (4) */
    memcpy(out, wkday[((days % 7) + 7 + 4) % 7], 3);
    out[3] = ',';
    out[4] = ' ';
    put2(out + 5, d);
    out[7] = ' ';
    memcpy(out + 8, month[m - 1], 3);
    out[11] = ' ';
    put2(out + 12, (unsigned)(y / 100));
    put2(out + 14, (unsigned)(y % 100));
    out[16] = ' ';
    put2(out + 17, secs / 3600);
    out[19] = ':';
    put2(out + 20, secs / 60 % 60);
    out[22] = ':';
    put2(out + 23, secs % 60);
    memcpy(out + 25, " GMT", 4);
    return 0;
}

size_t
h1_format_date(char *out, int64_t t)
{
    const int64_t max = 253402300799;  /* 9999-12-31 23:59:59 */
    if (t < 0)
        t = 0;
    if (t > max)
        t = max;
    h1_format_date_checked(out, t);
    return H1_DATE_LEN;
}

static const struct {
    int status;
    const char *phrase;
} reasons[] = {
    { 100, "Continue" },
    { 101, "Switching Protocols" },
    { 200, "OK" },
    { 201, "Created" },
    { 202, "Accepted" },
    { 203, "Non-Authoritative Information" },
    { 204, "No Content" },
    { 205, "Reset Content" },
    { 206, "Partial Content" },
    { 207, "Multi-Status" },
    { 300, "Multiple Choices" },
    { 301, "Moved Permanently" },
    { 302, "Found" },
    { 303, "See Other" },
    { 304, "Not Modified" },
    { 307, "Temporary Redirect" },
    { 308, "Permanent Redirect" },
    { 400, "Bad Request" },
    { 401, "Unauthorized" },
    { 402, "Payment Required" },
    { 403, "Forbidden" },
    { 404, "Not Found" },
    { 405, "Method Not Allowed" },
    { 406, "Not Acceptable" },
    { 407, "Proxy Authentication Required" },
    { 408, "Request Timeout" },
    { 409, "Conflict" },
    { 410, "Gone" },
    { 411, "Length Required" },
    { 412, "Precondition Failed" },
    { 413, "Content Too Large" },
    { 414, "URI Too Long" },
    { 415, "Unsupported Media Type" },
    { 416, "Range Not Satisfiable" },
    { 417, "Expectation Failed" },
    { 421, "Misdirected Request" },
    { 422, "Unprocessable Content" },
    { 423, "Locked" },
    { 424, "Failed Dependency" },
    { 426, "Upgrade Required" },
    { 428, "Precondition Required" },
    { 429, "Too Many Requests" },
    { 431, "Request Header Fields Too Large" },
    { 451, "Unavailable For Legal Reasons" },
    { 500, "Internal Server Error" },
    { 501, "Not Implemented" },
    { 502, "Bad Gateway" },
    { 503, "Service Unavailable" },
    { 504, "Gateway Timeout" },
    { 505, "HTTP Version Not Supported" },
    { 507, "Insufficient Storage" },
};

const char *
h1_reason_phrase(int status)
{
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (reasons[i].status == status)
            return reasons[i].phrase;
    }
    return "Unknown";
}

size_t
h1_format_status_line(char *out, size_t cap, int status)
{
    if (status < 100 || status > 999)
        return 0;
    int n = snprintf(out, cap, "HTTP/1.1 %d %s\r\n", status,
                     h1_reason_phrase(status));
    if (n < 0 || (size_t)n >= cap)
        return 0;
    return (size_t)n;
}
