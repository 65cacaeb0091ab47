/*
 * fuzz_h1: the invariants both HTTP/1.1 head fuzz targets check on a
 * parsed head (fuzz_h1_request, fuzz_h1_response_head).
 *
 * Promises: fuzz_h1_check_lines() aborts unless buf[0..n) ends with
 * CRLF CRLF and has no NUL, bare CR or bare LF; fuzz_h1_check_fields()
 * aborts unless each of the `count` headers has a non-empty token name,
 * both slices inside buf[0..n), and a value of field-value bytes (HTAB,
 * SP and up, no DEL) without outer whitespace.  The token test is written
 * out here, independent of protocol/h1_chars.  Header-only (test code).
 */
#ifndef PORTIER_FUZZ_H1_H
#define PORTIER_FUZZ_H1_H

#include "h1_request.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_H1_CHECK(cond)                                                \
    do {                                                                   \
        if (!(cond))                                                       \
            abort();                                                       \
    } while (0)

static inline bool
fuzz_h1_is_tchar(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || (c != 0 && strchr("!#$%&'*+-.^_`|~",
                                                         c) != NULL);
}

static inline void
fuzz_h1_check_lines(const uint8_t *buf, size_t n)
{
    FUZZ_H1_CHECK(memcmp(buf + n - 4, "\r\n\r\n", 4) == 0);
    for (size_t i = 0; i < n; i++) {
        FUZZ_H1_CHECK(buf[i] != 0);
        if (buf[i] == '\r')
            FUZZ_H1_CHECK(i + 1 < n && buf[i + 1] == '\n');
        if (buf[i] == '\n')
            FUZZ_H1_CHECK(i > 0 && buf[i - 1] == '\r');
    }
}

static inline bool
fuzz_h1_inside(struct pr_slice s, const uint8_t *base, size_t len)
{
    return s.data >= base && s.len <= len && s.data <= base + len - s.len;
}

static inline void
fuzz_h1_check_fields(const struct h1_header *h, size_t count,
                     const uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < count; i++) {
        struct pr_slice nm = h[i].name, v = h[i].value;
        FUZZ_H1_CHECK(nm.len > 0 && fuzz_h1_inside(nm, buf, n) &&
                      fuzz_h1_inside(v, buf, n));
        for (size_t k = 0; k < nm.len; k++)
            FUZZ_H1_CHECK(fuzz_h1_is_tchar(nm.data[k]));
        for (size_t k = 0; k < v.len; k++)
            FUZZ_H1_CHECK(v.data[k] == '\t' || (v.data[k] >= 0x20 &&
                                                v.data[k] != 0x7f));
        if (v.len > 0) {
            FUZZ_H1_CHECK(v.data[0] != ' ' && v.data[0] != '\t');
            FUZZ_H1_CHECK(v.data[v.len - 1] != ' ' &&
                          v.data[v.len - 1] != '\t');
        }
    }
}

#endif
