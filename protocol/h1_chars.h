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
 * - The field-line checks of both head parsers (h1_request,
 *   h1_response_head): h1_skip_ows(), h1_skip_token() and
 *   h1_skip_field_value() step over a run of one class; h1_eq_lower()
 *   compares with a lower-case literal, ignoring ASCII case;
 *   h1_parse_field_line() takes one "name: value CRLF" line apart and
 *   explains a malformed one in a sentence naming the header's number;
 *   h1_next_header_line() is the step of both header loops: the empty
 *   line that ends the head, a field line, or the sentence that refuses
 *   the line (the same words for a request and a response head).
 *   The word-at-a-time tests (h1_word_*) are exact: they may send a word
 *   to the byte loop for nothing, never let a wrong byte through.
 */
#ifndef PORTIER_H1_CHARS_H
#define PORTIER_H1_CHARS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

/* ---- word-at-a-time tests (SWAR) ----------------------------------- */

#define H1_WORD_ONES 0x0101010101010101u
#define H1_WORD_HIGHS 0x8080808080808080u

/** Eight bytes from p, any alignment. */
static inline uint64_t
h1_word_load(const uint8_t *p)
{
    uint64_t x;
    memcpy(&x, p, sizeof(x));
    return x;
}

/** Non-zero when some byte of x is below n (n <= 128); may also be
 *  non-zero for a word without one (never zero for a word with one). */
static inline uint64_t
h1_word_has_less(uint64_t x, uint8_t n)
{
    return (x - H1_WORD_ONES * n) & ~x & H1_WORD_HIGHS;
}

/** Non-zero when some byte of x equals v (the same caveat). */
static inline uint64_t
h1_word_has_byte(uint64_t x, uint8_t v)
{
    uint64_t y = x ^ (H1_WORD_ONES * v);
    return (y - H1_WORD_ONES) & ~y & H1_WORD_HIGHS;
}

/* ---- field lines ----------------------------------------------------- */

/** The first index from i below n that is not SP or HTAB (n if none). */
static inline size_t
h1_skip_ows(const uint8_t *v, size_t i, size_t n)
{
    while (i < n && h1_is_ows(v[i]))
        i++;
    return i;
}

/** The first index from i below n that is not a tchar (n if none). */
static inline size_t
h1_skip_token(const uint8_t *v, size_t i, size_t n)
{
    while (i < n && h1_is_tchar(v[i]))
        i++;
    return i;
}

/**
 * The first index from i whose byte is not a field-value character.
 * There must be one before `end` (a head ends in LF, which is not), and
 * no load goes past `end`: words of eight while they hold no control
 * character (HTAB included) and no DEL, then the table byte by byte.
 */
static inline size_t
h1_skip_field_value(const uint8_t *buf, size_t i, size_t end)
{
    while (end - i >= 8) {
        uint64_t x = h1_word_load(buf + i);
        if (h1_word_has_less(x, 0x20) | h1_word_has_byte(x, 0x7f))
            break;
        i += 8;
    }
    while (h1_char_class[buf[i]] & H1_C_VALUE)
        i++;
    return i;
}

/** Do the n bytes of s equal `lower` (a lower-case literal), ignoring
 *  ASCII case?  Lengths must match too. */
bool
h1_eq_lower(const uint8_t *s, size_t n, const char *lower);

/** One field line, as offsets into the buffer h1_parse_field_line() read. */
struct h1_field_line {
    size_t name_start, name_end;    /* the name, without the colon */
    size_t value_start, value_end;  /* without leading and trailing OWS */
    size_t next;                    /* after its CRLF */
};

/** Room for every sentence of h1_parse_field_line(). */
#define H1_FIELD_ERROR_SIZE 80

/**
 * Take apart the field line at buf[i] (RFC 9110 §5, RFC 9112 §5):
 * a non-empty token, a colon right after it, OWS, a field value, OWS and
 * CRLF.  `end` is the length of the head, whose last byte is a LF; hn is
 * the line's header number, for the messages.  Returns true with *out
 * filled, or false with a sentence in err ("no colon in header 3",
 * "bare LF in header 2", "control character 0x01 in header 1", ...).
 */
bool
h1_parse_field_line(const uint8_t *buf, size_t i, size_t end, size_t hn,
                    struct h1_field_line *out,
                    char err[H1_FIELD_ERROR_SIZE]);

/** What h1_next_header_line() found. */
enum h1_line {
    H1_LINE_FIELD,   /* a field line, in *out */
    H1_LINE_END,     /* the empty line that ends the head; out->next only */
    H1_LINE_BAD,     /* a sentence in err */
};

/** The sentence of h1_next_header_line() for a line that starts with CR,
 *  LF, SP or HTAB and is not the CRLF that ends the head. */
void
h1_header_line_start_error(const uint8_t *buf, size_t i, size_t hn,
                           const char *start_line,
                           char err[H1_FIELD_ERROR_SIZE]);

/**
 * The line at buf[i] of a head's header section, after `hn` field lines
 * (RFC 9112 §2.1, §5.2): CRLF ends the head; a CR without LF is "bare CR
 * in header <hn + 1>", a LF "bare LF at the end of the head"; SP or HTAB
 * first is "whitespace between the <start_line> and the first header"
 * when hn is 0, else "obsolete line folding in header <hn>"; any other
 * line is taken apart by h1_parse_field_line() as header hn + 1.
 * start_line names the head's first line ("request line", "status
 * line").  `end` is as for h1_parse_field_line().  Inline, so that the
 * loops pay no call of their own.
 */
static inline enum h1_line
h1_next_header_line(const uint8_t *buf, size_t i, size_t end, size_t hn,
                    const char *start_line, struct h1_field_line *out,
                    char err[H1_FIELD_ERROR_SIZE])
{
    uint8_t c = buf[i];
    if (c == '\r' && buf[i + 1] == '\n') {
        out->next = i + 2;
        return H1_LINE_END;
    }
    if (c == '\r' || c == '\n' || h1_is_ows(c)) {
        h1_header_line_start_error(buf, i, hn, start_line, err);
        return H1_LINE_BAD;
    }
    if (!h1_parse_field_line(buf, i, end, hn + 1, out, err))
        return H1_LINE_BAD;
    return H1_LINE_FIELD;
}

#endif
