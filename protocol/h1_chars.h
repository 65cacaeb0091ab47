/*
 * h1_chars: the character classes of HTTP/1.1 syntax (RFC 9110 §5.5,
 * §5.6.2; RFC 9112 §3.2; RFC 3986 §3.2.2), as one 256-entry table shared
 * by the head parser and the chunked codec.
 *
 * Promises:
 * - A byte's classes are h1_char_class[byte], a bit set of H1_C_*; the
 *   table is a compile-time constant computed from the definitions below
 *   (no hand-written rows).
 * - H1_C_TCHAR: token characters.  H1_C_VALUE: field-value characters
 *   (VCHAR, obs-text, SP, HTAB; no other control character).
 *   H1_C_TARGET: request-target characters (VCHAR except '#', see
 *   docs/http.md).  H1_C_HOST: reg-name / IP-literal characters of a host
 *   (unreserved, sub-delims, '%', ':', '[', ']').  H1_C_HEX: HEXDIG.
 *   H1_C_QDTEXT: quoted-string text (HTAB, SP, VCHAR except '"' and '\',
 *   obs-text).
 * - h1_is_tchar(), h1_is_ows(), h1_is_field_value() and h1_hex_value()
 *   are the small helpers every parser of header fields, URIs and site
 *   files needs (protocol/, dataplane/, translator/ alike): token
 *   character, optional whitespace (SP or HTAB, RFC 9110 §5.6.3), bytes
 *   fit for a field value, and the value of a HEXDIG (-1 for any other
 *   byte).
 */
#ifndef PORTIER_H1_CHARS_H
#define PORTIER_H1_CHARS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define H1_C_TCHAR 0x01u
#define H1_C_VALUE 0x02u
#define H1_C_TARGET 0x04u
#define H1_C_HOST 0x08u
#define H1_C_HEX 0x10u
#define H1_C_QDTEXT 0x20u

extern const uint8_t h1_char_class[256];

/** ASCII lower case of a byte (other bytes unchanged). */
static inline uint8_t
h1_lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/** A token character (RFC 9110 §5.6.2 tchar). */
static inline bool
h1_is_tchar(uint8_t c)
{
    return (h1_char_class[c] & H1_C_TCHAR) != 0;
}

/** Optional whitespace: SP or HTAB. */
static inline bool
h1_is_ows(uint8_t c)
{
    return c == ' ' || c == '\t';
}

/** True when every byte of s[0..len) is a field-value character: no
 *  control character but HTAB, so the bytes may go into a header line. */
static inline bool
h1_is_field_value(const void *s, size_t len)
{
    const uint8_t *p = s;
    for (size_t i = 0; i < len; i++)
        if (!(h1_char_class[p[i]] & H1_C_VALUE))
            return false;
    return true;
}

/** The value of a hex digit, either case; -1 for any other byte. */
static inline int
h1_hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = h1_lower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

#endif
