/*
 * The chunked decoder: one state per position in the grammar of RFC 9112
 * §7.1 (chunk, chunk-ext, last-chunk, trailer-section), a switch per
 * framing byte, and data handed out as spans without touching it.
 */
#include "h1_chunked.h"

#include "h1_chars.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum {
    S_SIZE_START = 0,  /* first hex digit of a chunk size */
    S_SIZE,            /* more hex digits, ';', BWS or CR */
    S_SIZE_BWS,        /* whitespace after the size: ';' must follow */
    S_EXT_NAME_START,  /* after ';': BWS, then a token */
    S_EXT_NAME,
    S_EXT_AFTER_NAME,  /* BWS, then '=', ';' or CR */
    S_EXT_VAL_START,   /* BWS, then a token or a quoted-string */
    S_EXT_VAL_TOKEN,
    S_EXT_QUOTED,
    S_EXT_QUOTED_ESC,
    S_EXT_AFTER_VAL,   /* BWS, then ';' or CR */
    S_SIZE_LF,
    S_DATA,
    S_DATA_CR,
    S_DATA_LF,
    S_TRAILER_START,   /* a field line or the final CRLF */
    S_TR_NAME,
    S_TR_VALUE,
    S_TR_LF,
    S_END_LF,
    S_END,
    S_ERROR,
};

static enum h1_chunked_status
fail(struct h1_chunked *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum h1_chunked_status
fail(struct h1_chunked *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof(c->error), fmt, ap);
    va_end(ap);
    c->state = S_ERROR;
    return H1_CHUNKED_ERROR;
}

void
h1_chunked_init(struct h1_chunked *c, size_t max_extension,
                size_t max_trailer)
{
    memset(c, 0, sizeof(*c));
    c->max_extension =
        max_extension ? max_extension : H1_CHUNKED_DEFAULT_MAX_EXTENSION;
    c->max_trailer = max_trailer ? max_trailer : H1_CHUNKED_DEFAULT_MAX_TRAILER;
    c->state = S_SIZE_START;
}

const char *
h1_chunked_error(const struct h1_chunked *c)
{
    return c->error;
}

/* A byte that cannot continue the chunk line here. */
static enum h1_chunked_status
bad_line_byte(struct h1_chunked *c, uint8_t b, const char *where)
{
    if (b == '\n')
        return fail(c, "bare LF in %s", where);
    return fail(c, "invalid byte 0x%02x in %s", b, where);
}

/* The two bytes that end an extension name or value: ';' opens the next
 * extension, CR ends the chunk line.  Moves to the state that follows and
 * says whether `b` was one of them. */
static bool
ext_delimiter(struct h1_chunked *c, uint8_t b)
{
    if (b == ';')
        c->state = S_EXT_NAME_START;
    else if (b == '\r')
        c->state = S_SIZE_LF;
    else
        return false;
    return true;
}

enum h1_chunked_status
h1_chunked_feed(struct h1_chunked *c, const uint8_t *data, size_t len,
                size_t *consumed, struct pr_slice *out)
{
    size_t i = 0;
    *consumed = 0;
    if (c->state == S_ERROR)
        return H1_CHUNKED_ERROR;
    if (c->state == S_END)
        return H1_CHUNKED_END;

    while (i < len) {
        if (c->state == S_DATA) {
            size_t n = len - i;
            if ((uint64_t)n > c->remaining)
                n = (size_t)c->remaining;
            out->data = data + i;
            out->len = n;
            c->remaining -= n;
            c->total += n;
            if (c->remaining == 0)
                c->state = S_DATA_CR;
            *consumed = i + n;
            return H1_CHUNKED_DATA;
        }

        uint8_t b = data[i++];
        if (c->state >= S_SIZE_BWS && c->state <= S_EXT_AFTER_VAL &&
            b != '\r' && ++c->ext_len > c->max_extension)
            return fail(c, "chunk extension longer than %zu bytes",
                        c->max_extension);
        if (c->state >= S_TRAILER_START && c->state <= S_END_LF &&
            ++c->trailer_len > c->max_trailer)
            return fail(c, "trailer section longer than %zu bytes",
                        c->max_trailer);

        switch (c->state) {
        case S_SIZE_START:
            if (!(h1_char_class[b] & H1_C_HEX)) {
                if (b == '\r' || b == '\n')
                    return fail(c, "missing chunk size");
                return fail(c, "invalid byte 0x%02x in a chunk size", b);
            }
            c->remaining = (unsigned)h1_hex_value(b);
            c->digits = 1;
            c->ext_len = 0;
            c->state = S_SIZE;
            break;
        case S_SIZE:
            if (h1_char_class[b] & H1_C_HEX) {
                if (++c->digits > H1_CHUNKED_MAX_DIGITS)
                    return fail(c, "chunk size with more than %d hex digits",
                                H1_CHUNKED_MAX_DIGITS);
                if (c->remaining > ((uint64_t)INT64_MAX >> 4))
                    return fail(c, "chunk size over 2^63-1");
                c->remaining =
                    (c->remaining << 4) | (unsigned)h1_hex_value(b);
            } else if (b == '\r') {
                c->state = S_SIZE_LF;
            } else if (b == ';') {
                c->ext_len = 1;
                c->state = S_EXT_NAME_START;
            } else if (h1_is_ows(b)) {
                c->ext_len = 1;
                c->state = S_SIZE_BWS;
            } else {
                return bad_line_byte(c, b, "a chunk size");
            }
            break;
        case S_SIZE_BWS:
            if (b == ';')
                c->state = S_EXT_NAME_START;
            else if (!h1_is_ows(b))
                return b == '\r' ? fail(c, "whitespace after a chunk size")
                                 : bad_line_byte(c, b, "a chunk line");
            break;
        case S_EXT_NAME_START:
            if (h1_is_tchar(b))
                c->state = S_EXT_NAME;
            else if (!h1_is_ows(b))
                return bad_line_byte(c, b, "a chunk extension name");
            break;
        case S_EXT_NAME:
            if (h1_is_tchar(b))
                break;
            if (b == '=')
                c->state = S_EXT_VAL_START;
            else if (h1_is_ows(b))
                c->state = S_EXT_AFTER_NAME;
            else if (!ext_delimiter(c, b))
                return bad_line_byte(c, b, "a chunk extension name");
            break;
        case S_EXT_AFTER_NAME:
            if (b == '=')
                c->state = S_EXT_VAL_START;
            else if (!h1_is_ows(b) && !ext_delimiter(c, b))
                return bad_line_byte(c, b, "a chunk extension");
            break;
        case S_EXT_VAL_START:
            if (b == '"')
                c->state = S_EXT_QUOTED;
            else if (h1_is_tchar(b))
                c->state = S_EXT_VAL_TOKEN;
            else if (!h1_is_ows(b))
                return bad_line_byte(c, b, "a chunk extension value");
            break;
        case S_EXT_VAL_TOKEN:
            if (h1_is_tchar(b))
                break;
            if (h1_is_ows(b))
                c->state = S_EXT_AFTER_VAL;
            else if (!ext_delimiter(c, b))
                return bad_line_byte(c, b, "a chunk extension value");
            break;
        case S_EXT_QUOTED:
            if (b == '"')
                c->state = S_EXT_AFTER_VAL;
            else if (b == '\\')
                c->state = S_EXT_QUOTED_ESC;
            else if (!(h1_char_class[b] & H1_C_QDTEXT))
                return bad_line_byte(c, b, "a quoted chunk extension value");
            break;
        case S_EXT_QUOTED_ESC:
            if (!(h1_char_class[b] & H1_C_VALUE))
                return bad_line_byte(c, b, "a quoted chunk extension value");
            c->state = S_EXT_QUOTED;
            break;
        case S_EXT_AFTER_VAL:
            if (!h1_is_ows(b) && !ext_delimiter(c, b))
                return bad_line_byte(c, b, "a chunk extension");
            break;
        case S_SIZE_LF:
            if (b != '\n')
                return fail(c, "CR not followed by LF in a chunk line");
            if (c->remaining == 0) {
                c->trailer_len = 0;
                c->state = S_TRAILER_START;
            } else {
                c->state = S_DATA;
            }
            break;
        case S_DATA_CR:
            if (b != '\r')
                return fail(c, b == '\n' ? "bare LF after chunk data"
                                         : "chunk data longer than its size");
            c->state = S_DATA_LF;
            break;
        case S_DATA_LF:
            if (b != '\n')
                return fail(c, "CR not followed by LF after chunk data");
            c->state = S_SIZE_START;
            break;
        case S_TRAILER_START:
            if (b == '\r') {
                c->state = S_END_LF;
            } else if (h1_is_tchar(b)) {
                c->trailer_fields++;
                c->state = S_TR_NAME;
            } else if (h1_is_ows(b)) {
                return fail(c, "obsolete line folding in the trailer section");
            } else if (b == ':') {
                return fail(c, "empty trailer field name");
            } else {
                return bad_line_byte(c, b, "the trailer section");
            }
            break;
        case S_TR_NAME:
            if (b == ':')
                c->state = S_TR_VALUE;
            else if (h1_is_ows(b))
                return fail(c, "whitespace before the colon in a trailer "
                               "field");
            else if (!h1_is_tchar(b))
                return bad_line_byte(c, b, "a trailer field name");
            break;
        case S_TR_VALUE:
            if (b == '\r')
                c->state = S_TR_LF;
            else if (!(h1_char_class[b] & H1_C_VALUE))
                return bad_line_byte(c, b, "a trailer field value");
            break;
        case S_TR_LF:
            if (b != '\n')
                return fail(c, "CR not followed by LF in the trailer section");
            c->state = S_TRAILER_START;
            break;
        case S_END_LF:
            if (b != '\n')
                return fail(c, "CR not followed by LF at the end of the "
                               "chunked body");
            c->state = S_END;
            *consumed = i;
            return H1_CHUNKED_END;
        default:
            return fail(c, "internal error: chunked state %d", c->state);
        }
    }
    *consumed = len;
    return H1_CHUNKED_NEED_MORE;
}

size_t
h1_chunk_header(uint8_t *out, uint64_t size)
{
    static const char digits[] = "0123456789abcdef";
    if (size == 0)
        return 0;
    size_t n = 0;
    for (uint64_t s = size; s != 0; s >>= 4)
        n++;
    for (size_t k = n; k > 0; k--) {
        out[k - 1] = (uint8_t)digits[size & 15];
        size >>= 4;
    }
    out[n] = '\r';
    out[n + 1] = '\n';
    return n + 2;
}
