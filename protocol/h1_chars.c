/* The character-class table of h1_chars.h, computed by macros from the
 * RFC definitions so no row is typed by hand, and the field-line checks
 * of the head parsers. */
#include "h1_chars.h"

#include <stdio.h>

#define IS_ALPHA(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z'))
#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_VCHAR(c) ((c) >= 0x21 && (c) <= 0x7e)
#define IS_OBS_TEXT(c) ((c) >= 0x80)

/* tchar: "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." /
 * "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA (RFC 9110 §5.6.2). */
#define IS_TCHAR(c)                                                        \
    (IS_ALPHA(c) || IS_DIGIT(c) || (c) == '!' || (c) == '#' ||             \
     (c) == '$' || (c) == '%' || (c) == '&' || (c) == '\'' ||              \
     (c) == '*' || (c) == '+' || (c) == '-' || (c) == '.' || (c) == '^' || \
     (c) == '_' || (c) == '`' || (c) == '|' || (c) == '~')

#define IS_VALUE(c)                                                        \
    (IS_VCHAR(c) || IS_OBS_TEXT(c) || (c) == ' ' || (c) == '\t')

#define IS_TARGET(c) (IS_VCHAR(c) && (c) != '#')

/* unreserved / sub-delims / pct-encoded's '%' / ':' / IP-literal's
 * brackets (RFC 3986 §3.2.2). */
#define IS_HOST(c)                                                         \
    (IS_ALPHA(c) || IS_DIGIT(c) || (c) == '-' || (c) == '.' ||             \
     (c) == '_' || (c) == '~' || (c) == '!' || (c) == '$' || (c) == '&' || \
     (c) == '\'' || (c) == '(' || (c) == ')' || (c) == '*' || (c) == '+' || \
     (c) == ',' || (c) == ';' || (c) == '=' || (c) == '%' || (c) == ':' || \
     (c) == '[' || (c) == ']')

#define IS_HEX(c)                                                          \
    (IS_DIGIT(c) || ((c) >= 'a' && (c) <= 'f') || ((c) >= 'A' && (c) <= 'F'))

#define IS_QDTEXT(c)                                                       \
    ((c) == '\t' || (c) == ' ' || (c) == 0x21 ||                           \
     ((c) >= 0x23 && (c) <= 0x5b) || ((c) >= 0x5d && (c) <= 0x7e) ||       \
     IS_OBS_TEXT(c))

#define CLS(c)                                                             \
    (uint8_t)((IS_TCHAR(c) ? H1_C_TCHAR : 0u) |                            \
              (IS_VALUE(c) ? H1_C_VALUE : 0u) |                            \
              (IS_TARGET(c) ? H1_C_TARGET : 0u) |                          \
              (IS_HOST(c) ? H1_C_HOST : 0u) | (IS_HEX(c) ? H1_C_HEX : 0u) | \
              (IS_QDTEXT(c) ? H1_C_QDTEXT : 0u))

#define R4(b) CLS((b)), CLS((b) + 1), CLS((b) + 2), CLS((b) + 3)
#define R16(b) R4(b), R4((b) + 4), R4((b) + 8), R4((b) + 12)
#define R64(b) R16(b), R16((b) + 16), R16((b) + 32), R16((b) + 48)

const uint8_t h1_char_class[256] = {
    R64(0), R64(64), R64(128), R64(192),
};

bool
h1_eq_lower(const uint8_t *s, size_t n, const char *lower)
{
    size_t i = 0;
    for (; i < n; i++) {
        if (lower[i] == '\0' || h1_lower(s[i]) != (uint8_t)lower[i])
            return false;
    }
    return lower[i] == '\0';
}

bool
h1_parse_field_line(const uint8_t *buf, size_t i, size_t end, size_t hn,
                    struct h1_field_line *out,
                    char err[H1_FIELD_ERROR_SIZE])
{
    size_t s = i;
    while (h1_is_tchar(buf[i]))
        i++;
    if (buf[i] != ':') {
        uint8_t c = buf[i];
        if (h1_is_ows(c))
            snprintf(err, H1_FIELD_ERROR_SIZE,
                     "whitespace between the name and the colon in "
                     "header %zu", hn);
        else if (c == '\r' || c == '\n')
            snprintf(err, H1_FIELD_ERROR_SIZE, "no colon in header %zu", hn);
        else
            snprintf(err, H1_FIELD_ERROR_SIZE,
                     "invalid byte 0x%02x in the name of header %zu", c, hn);
        return false;
    }
    if (i == s) {
        snprintf(err, H1_FIELD_ERROR_SIZE, "empty name in header %zu", hn);
        return false;
    }
    size_t name_end = i++;
    while (h1_is_ows(buf[i]))
        i++;
    size_t vs = i;
    i = h1_skip_field_value(buf, i, end);
    if (buf[i] != '\r' || buf[i + 1] != '\n') {
        uint8_t c = buf[i];
        if (c == '\n' || c == '\r' || c == 0)
            snprintf(err, H1_FIELD_ERROR_SIZE, "%s in header %zu",
                     c == '\n' ? "bare LF" : c == '\r' ? "bare CR" : "NUL",
                     hn);
        else
            snprintf(err, H1_FIELD_ERROR_SIZE,
                     "control character 0x%02x in header %zu", c, hn);
        return false;
    }
    size_t ve = i;
    while (ve > vs && h1_is_ows(buf[ve - 1]))
        ve--;
    out->name_start = s;
    out->name_end = name_end;
    out->value_start = vs;
    out->value_end = ve;
    out->next = i + 2;
    return true;
}

void
h1_header_line_start_error(const uint8_t *buf, size_t i, size_t hn,
                           const char *start_line,
                           char err[H1_FIELD_ERROR_SIZE])
{
    uint8_t c = buf[i];
    if (c == '\r')
        snprintf(err, H1_FIELD_ERROR_SIZE, "bare CR in header %zu", hn + 1);
    else if (c == '\n')
        snprintf(err, H1_FIELD_ERROR_SIZE, "bare LF at the end of the head");
    else if (hn == 0)
        snprintf(err, H1_FIELD_ERROR_SIZE,
                 "whitespace between the %s and the first header",
                 start_line);
    else
        snprintf(err, H1_FIELD_ERROR_SIZE,
                 "obsolete line folding in header %zu", hn);
}
