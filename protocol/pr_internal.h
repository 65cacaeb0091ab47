/*
 * pr_internal: small helpers shared by the codecs of protocol/ (and by
 * ctl/), kept out of the installed headers.
 *
 * Promises:
 * - pr_errf() is snprintf() into a buffer that may be absent (NULL or
 *   size 0: nothing is written); it returns how many characters were
 *   stored, so a caller can append after them.  A formatting failure
 *   leaves an empty string.  pr_verrf() is the same with a va_list, for
 *   the wrappers that return an error code of their own.  Used by the
 *   codecs whose functions write their error into a caller's buffer
 *   (fcgi_codec, ctl_protocol, was_protocol, tp_request, ctl/).
 * - pr_fill() is the step every framer takes to assemble a header or a
 *   payload that arrives in pieces (tp_reader, was_protocol, fcgi_codec):
 *   copy what is there, up to what is missing.
 * - Header-only and static, so it adds no symbol to libportier-translator
 *   (whose version script exports every pr_*), and it is not one of the
 *   installed headers.
 */
#ifndef PORTIER_PR_INTERNAL_H
#define PORTIER_PR_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

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

/**
 * Move bytes from data[*pos..len) to buf[*fill..want) as far as both go,
 * advancing *pos and *fill.  True when buf holds all `want` bytes.
 * *fill <= want and *pos <= len on entry; data may be NULL only when
 * *pos == len.
 */
static inline bool
pr_fill(uint8_t *buf, size_t *fill, size_t want, const uint8_t *data,
        size_t len, size_t *pos)
{
    size_t n = want - *fill;
    if (n > len - *pos)
        n = len - *pos;
    if (n > 0)
        memcpy(buf + *fill, data + *pos, n);
    *fill += n;
    *pos += n;
    return *fill == want;
}

#endif
