/* The character-class table of h1_chars.h, computed by macros from the
 * RFC definitions so no row is typed by hand. */
#include "h1_chars.h"

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
