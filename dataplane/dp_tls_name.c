/* dp_tls_name: SNI name matching (see dp_tls_name.h). */
#include "dp_tls_name.h"

#include <string.h>

static char
lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Length without one trailing dot. */
static size_t
name_len(const char *s)
{
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == '.')
        n--;
    return n;
}

static bool
equal_nocase(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

static bool
is_wildcard(const char *pattern)
{
    return pattern[0] == '*' && pattern[1] == '.';
}

bool
dp_tls_name_valid(const char *pattern)
{
    if (pattern == NULL)
        return false;
    size_t n = name_len(pattern);
    if (n == 0 || n > 253)
        return false;
    size_t start = 0;
    if (is_wildcard(pattern)) {
        if (n < 3)
            return false;       /* "*." */
        /* "*.example.com": the rest has at least two labels, so that a
         * wildcard never covers a whole top-level domain. */
        const char *rest = pattern + 2;
        const char *dot = memchr(rest, '.', n - 2);
        if (dot == NULL || dot == rest || (size_t)(dot - pattern) + 1 >= n)
            return false;
        start = 2;
    }
    size_t label = 0;
    for (size_t i = start; i < n; i++) {
        char c = pattern[i];
        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (c == '*' || c <= ' ' || c == 0x7f || ++label > 63)
            return false;
    }
    return label > 0;
}

bool
dp_tls_name_matches(const char *pattern, const char *host)
{
    if (pattern == NULL || host == NULL || !dp_tls_name_valid(pattern))
        return false;
    size_t pn = name_len(pattern), hn = name_len(host);
    if (hn == 0)
        return false;
    if (!is_wildcard(pattern))
        return pn == hn && equal_nocase(pattern, host, hn);
    /* "*.rest": host is "label.rest" with a non-empty label free of
     * dots. */
    const char *dot = memchr(host, '.', hn);
    if (dot == NULL || dot == host)
        return false;
    size_t suffix = hn - (size_t)(dot - host);     /* ".rest" */
    return suffix == pn - 1 && equal_nocase(dot, pattern + 1, suffix);
}

int
dp_tls_name_select(const struct dp_tls_name *names, size_t n,
                   const char *host)
{
    if (host == NULL || host[0] == '\0')
        return -1;
    int wildcard = -1;
    for (size_t i = 0; i < n; i++) {
        if (!dp_tls_name_matches(names[i].name, host))
            continue;
        if (!is_wildcard(names[i].name))
            return (int)names[i].index;
        if (wildcard < 0)
            wildcard = (int)names[i].index;
    }
    return wildcard;
}
