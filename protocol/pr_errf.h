/*
 * pr_errf: the message formatter of the codecs whose functions write their
 * error into a caller's buffer (fcgi_codec, ctl_protocol, was_protocol,
 * tp_request, and ctl/'s argument and STATS parsers).
 *
 * Promises:
 * - pr_errf() is snprintf() into a buffer that may be absent (NULL or
 *   size 0: nothing is written); it returns how many characters were
 *   stored, so a caller can append after them.  A formatting failure
 *   leaves an empty string.  pr_verrf() is the same with a va_list, for
 *   the wrappers that return an error code of their own.
 * - Internal: header-only and static, so it adds no symbol to
 *   libportier-translator (whose version script exports every pr_*), and
 *   it is not one of the installed headers.
 */
#ifndef PORTIER_PR_ERRF_H
#define PORTIER_PR_ERRF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

static inline size_t
pr_verrf(char *err, size_t size, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static inline size_t
pr_verrf(char *err, size_t size, const char *fmt, va_list ap)
{
    if (err == NULL || size == 0)
        return 0;
    int n = vsnprintf(err, size, fmt, ap);
    if (n < 0) {
        err[0] = '\0';
        return 0;
    }
    return (size_t)n < size ? (size_t)n : size - 1;
}

static inline size_t
pr_errf(char *err, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline size_t
pr_errf(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t n = pr_verrf(err, size, fmt, ap);
    va_end(ap);
    return n;
}

#endif
