/*
 * The HTTP/1.1 response-head parser.  As in h1_request, two stages: a
 * resumable scan for the line ends (memchr, limits in byte order), then
 * one parse over the complete head.  Every loop of the parse stops at
 * the head's last byte, a LF.
 */
#include "h1_response_head.h"

#include "h1_chars.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum {
    ST_SCAN = 0,
    ST_DONE,
    ST_ERROR,
};

static enum h1_result
fail(struct h1_response_parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum h1_result
fail(struct h1_response_parser *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->error, sizeof(p->error), fmt, ap);
    va_end(ap);
    p->state = ST_ERROR;
    return H1_ERROR;
}

void
h1_response_parser_init(struct h1_response_parser *p, size_t max_headers,
                        size_t max_head, struct h1_header *headers,
                        size_t headers_cap, bool head_request)
{
    memset(p, 0, sizeof(*p));
    if (max_headers == 0)
        max_headers = H1_RESPONSE_DEFAULT_MAX_HEADERS;
    if (max_headers > headers_cap)
        max_headers = headers_cap;
    if (max_head == 0)
        max_head = H1_RESPONSE_DEFAULT_MAX_HEAD;
    if (max_head < 16)
        max_head = 16;
    p->max_headers = max_headers;
    p->max_head = max_head;
    p->headers = headers;
    p->head_request = head_request;
    p->state = ST_SCAN;
}

const char *
h1_response_parser_error(const struct h1_response_parser *p)
{
    return p->error;
}

/* ASCII case-insensitive comparison with a lower-case literal. */
static bool
eq_ci(const uint8_t *s, size_t n, const char *lower)
{
    size_t i = 0;
    for (; i < n; i++) {
        if (lower[i] == '\0' || h1_lower(s[i]) != (uint8_t)lower[i])
            return false;
    }
    return lower[i] == '\0';
}

const struct h1_header *
h1_response_find(const struct h1_response_head *r, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < r->header_count; i++) {
        const struct h1_header *h = &r->headers[i];
        if (h->name.len != n)
            continue;
        size_t k = 0;
        while (k < n && h1_lower(h->name.data[k]) ==
                            h1_lower((uint8_t)name[k]))
            k++;
        if (k == n)
            return h;
    }
    return NULL;
}

/* ---- scan ------------------------------------------------------------ */

static enum h1_result
scan(struct h1_response_parser *p, const uint8_t *buf, size_t len)
{
    size_t limit = p->max_head;
    size_t avail = len < limit ? len : limit;
    for (;;) {
        const uint8_t *lf = NULL;
        if (p->scan < avail)
            lf = memchr(buf + p->scan, '\n', avail - p->scan);
        if (lf == NULL) {
            if (p->scan < avail)
                p->scan = avail;
            if (len >= limit)
                return fail(p, "response head larger than %zu bytes", limit);
            return H1_NEED_MORE;
        }
        size_t end = (size_t)(lf - buf);
        size_t n = end - p->line_start;
        if (p->lines > 0 &&
            (n == 0 || (n == 1 && buf[p->line_start] == '\r'))) {
            p->head_len = end + 1;
            return H1_DONE;
        }
        if (++p->lines > p->max_headers + 1)
            return fail(p, "more than %zu header lines", p->max_headers);
        p->line_start = p->scan = end + 1;
    }
}

/* ---- parse ----------------------------------------------------------- */

/* Field-value bytes from i, eight at a time while a word holds none of
 * the bytes the fast path does not take (controls, HTAB too, and DEL:
 * the SWAR tests "some byte < 0x20" and "some byte == 0x7f" have no false
 * negatives); the table decides the rest.  No load passes `end`. */
#define ONES 0x0101010101010101u
#define HIGHS 0x8080808080808080u

static size_t
skip_value(const uint8_t *buf, size_t i, size_t end)
{
    while (end - i >= 8) {
        uint64_t x;
        memcpy(&x, buf + i, sizeof(x));
        uint64_t y = x ^ (ONES * 0x7f);
        if (((x - ONES * 0x20) & ~x & HIGHS) | ((y - ONES) & ~y & HIGHS))
            break;
        i += 8;
    }
    while (h1_char_class[buf[i]] & H1_C_VALUE)
        i++;
    return i;
}

static enum h1_result
parse_status_line(struct h1_response_parser *p, const uint8_t *buf,
                  size_t *pos, struct h1_response_head *r)
{
    const uint8_t *v = buf;
    for (size_t k = 0; k < 5; k++)
        if (v[k] != (uint8_t)"HTTP/"[k])
            return fail(p, "the response does not start with \"HTTP/\"");
    if (!(v[5] >= '0' && v[5] <= '9' && v[6] == '.' && v[7] >= '0' &&
          v[7] <= '9'))
        return fail(p, "invalid HTTP version in the status line");
    if (v[5] != '1')
        return fail(p, "HTTP version %c.%c in the status line", v[5], v[7]);
    if (v[8] != ' ')
        return fail(p, "no SP after the HTTP version");
    unsigned status = 0;
    for (size_t k = 9; k < 12; k++) {
        if (v[k] < '0' || v[k] > '9')
            return fail(p, "the status code is not three digits");
        status = status * 10 + (unsigned)(v[k] - '0');
    }
    if (status < 100 || status > 599)
        return fail(p, "status code %u out of range", status);
    size_t i = 12;
    if (v[i] == ' ') {
        i++;
        size_t s = i;
        while (h1_char_class[v[i]] & H1_C_VALUE)
            i++;
        r->reason.data = v + s;
        r->reason.len = i - s;
    } else {
        r->reason.data = v + i;
        r->reason.len = 0;
    }
    if (v[i] != '\r') {
        if (v[i] == '\n')
            return fail(p, "bare LF at the end of the status line");
        if (v[i] == 0)
            return fail(p, "NUL in the status line");
        return fail(p, "invalid byte 0x%02x in the status line", v[i]);
    }
    if (v[i + 1] != '\n')
        return fail(p, "bare CR in the status line");
    r->version_minor = (unsigned)(v[7] - '0');
    r->status = status;
    *pos = i + 2;
    return H1_DONE;
}

struct facts {
    size_t cl_header;
    bool te_seen;
    bool te_chunked;
};

static enum h1_result
on_content_length(struct h1_response_parser *p, struct h1_response_head *r,
                  struct facts *f, const uint8_t *v, size_t n, size_t hn)
{
    if (n == 0)
        return fail(p, "empty Content-Length (header %zu)", hn);
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return fail(p, "Content-Length is not a decimal number "
                        "(header %zu)", hn);
        unsigned d = (unsigned)(v[i] - '0');
        if (x > ((uint64_t)INT64_MAX - d) / 10)
            return fail(p, "Content-Length over 2^63-1 (header %zu)", hn);
        x = x * 10 + d;
    }
    if (r->has_content_length && r->content_length != x)
        return fail(p, "Content-Length values differ (headers %zu and %zu)",
                    f->cl_header, hn);
    if (!r->has_content_length)
        f->cl_header = hn;
    r->has_content_length = true;
    r->content_length = x;
    return H1_DONE;
}

static size_t
skip_ows(const uint8_t *v, size_t i, size_t n)
{
    while (i < n && (v[i] == ' ' || v[i] == '\t'))
        i++;
    return i;
}

/* Transfer-Encoding: the only coding accepted is one "chunked". */
static enum h1_result
on_transfer_encoding(struct h1_response_parser *p, struct facts *f,
                     const uint8_t *v, size_t n, size_t hn)
{
    f->te_seen = true;
    size_t i = 0;
    for (;;) {
        i = skip_ows(v, i, n);
        size_t s = i;
        while (i < n && (h1_char_class[v[i]] & H1_C_TCHAR))
            i++;
        if (i == s)
            return fail(p, "empty or invalid element in Transfer-Encoding "
                        "(header %zu)", hn);
        if (!eq_ci(v + s, i - s, "chunked"))
            return fail(p, "transfer coding \"%.*s\" not supported "
                        "(header %zu)", (int)(i - s > 40 ? 40 : i - s),
                        (const char *)v + s, hn);
        if (f->te_chunked)
            return fail(p, "chunked applied more than once (header %zu)",
                        hn);
        f->te_chunked = true;
        i = skip_ows(v, i, n);
        if (i == n)
            return H1_DONE;
        if (v[i] != ',')
            return fail(p, "invalid Transfer-Encoding (header %zu)", hn);
        i++;
    }
}

/* Connection: 1#token; only close, keep-alive and upgrade matter. */
static void
on_connection(struct h1_response_head *r, const uint8_t *v, size_t n)
{
    size_t i = 0;
    while (i < n) {
        i = skip_ows(v, i, n);
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (eq_ci(v + s, e - s, "close"))
            r->connection |= H1_CONN_CLOSE;
        else if (eq_ci(v + s, e - s, "keep-alive"))
            r->connection |= H1_CONN_KEEP_ALIVE;
        else if (eq_ci(v + s, e - s, "upgrade"))
            r->connection |= H1_CONN_UPGRADE;
        if (i < n)
            i++;
    }
}

static enum h1_result
on_header(struct h1_response_parser *p, struct h1_response_head *r,
          struct facts *f, const struct h1_header *h, size_t hn)
{
    const uint8_t *name = h->name.data, *v = h->value.data;
    size_t n = h->value.len;
    if (h->name.len == 10 && eq_ci(name, 10, "connection"))
        on_connection(r, v, n);
    else if (h->name.len == 14 && eq_ci(name, 14, "content-length"))
        return on_content_length(p, r, f, v, n, hn);
    else if (h->name.len == 17 && eq_ci(name, 17, "transfer-encoding"))
        return on_transfer_encoding(p, f, v, n, hn);
    return H1_DONE;
}

static enum h1_result
bad_line_end(struct h1_response_parser *p, uint8_t c, size_t hn)
{
    if (c == '\n')
        return fail(p, "bare LF in header %zu", hn);
    if (c == '\r')
        return fail(p, "bare CR in header %zu", hn);
    if (c == 0)
        return fail(p, "NUL in header %zu", hn);
    return fail(p, "control character 0x%02x in header %zu", c, hn);
}

static enum h1_result
parse_head(struct h1_response_parser *p, const uint8_t *buf,
           struct h1_response_head *out)
{
    struct h1_response_head r;
    struct facts f;
    memset(&r, 0, sizeof(r));
    memset(&f, 0, sizeof(f));
    r.headers = p->headers;

    size_t i = 0;
    enum h1_result res = parse_status_line(p, buf, &i, &r);
    if (res != H1_DONE)
        return res;

    size_t hn = 0;
    for (;;) {
        uint8_t c = buf[i];
        if (c == '\r') {
            if (buf[i + 1] != '\n')
                return fail(p, "bare CR in header %zu", hn + 1);
            i += 2;
            break;
        }
        if (c == '\n')
            return fail(p, "bare LF at the end of the head");
        if (c == ' ' || c == '\t') {
            if (hn == 0)
                return fail(p, "whitespace between the status line and "
                            "the first header");
            return fail(p, "obsolete line folding in header %zu", hn);
        }
        hn++;
        size_t s = i;
        while (h1_char_class[buf[i]] & H1_C_TCHAR)
            i++;
        if (buf[i] != ':') {
            c = buf[i];
            if (c == ' ' || c == '\t')
                return fail(p, "whitespace between the name and the colon "
                            "in header %zu", hn);
            if (c == '\r' || c == '\n')
                return fail(p, "no colon in header %zu", hn);
            return fail(p, "invalid byte 0x%02x in the name of header %zu",
                        c, hn);
        }
        if (i == s)
            return fail(p, "empty name in header %zu", hn);
        size_t name_end = i++;
        while (buf[i] == ' ' || buf[i] == '\t')
            i++;
        size_t vs = i;
        i = skip_value(buf, i, p->head_len);
        if (buf[i] != '\r' || buf[i + 1] != '\n')
            return bad_line_end(p, buf[i], hn);
        size_t ve = i;
        while (ve > vs && (buf[ve - 1] == ' ' || buf[ve - 1] == '\t'))
            ve--;
        i += 2;
        struct h1_header *h = &p->headers[hn - 1];
        h->name.data = buf + s;
        h->name.len = name_end - s;
        h->value.data = buf + vs;
        h->value.len = ve - vs;
        res = on_header(p, &r, &f, h, hn);
        if (res != H1_DONE)
            return res;
    }
    if (i != p->head_len)
        return fail(p, "internal error: head end mismatch");
    r.header_count = hn;
    r.head_len = p->head_len;

    if (f.te_seen) {
        if (r.has_content_length)
            return fail(p, "Content-Length and Transfer-Encoding both "
                        "present");
        if (r.version_minor == 0)
            return fail(p, "Transfer-Encoding in an HTTP/1.0 response");
    }
    if (r.connection & H1_CONN_CLOSE)
        r.keep_alive = false;
    else if (r.version_minor >= 1)
        r.keep_alive = true;
    else
        r.keep_alive = (r.connection & H1_CONN_KEEP_ALIVE) != 0;

    if (p->head_request || r.status < 200 || r.status == 204 ||
        r.status == 304) {
        r.framing = H1_BODY_NONE;
    } else if (f.te_chunked) {
        r.framing = H1_BODY_CHUNKED;
    } else if (r.has_content_length) {
        r.framing = H1_BODY_LENGTH;
    } else {
        r.framing = H1_BODY_CLOSE;
        r.keep_alive = false;
    }
    *out = r;
    return H1_DONE;
}

enum h1_result
h1_parse_response(struct h1_response_parser *p, const uint8_t *buf,
                  size_t len, struct h1_response_head *out)
{
    switch (p->state) {
    case ST_ERROR:
        return H1_ERROR;
    case ST_DONE:
        if (len < p->head_len)
            return fail(p, "fewer bytes than in the previous call");
        return parse_head(p, buf, out);
    default:
        break;
    }
    if (len < p->scan)
        return fail(p, "fewer bytes than in the previous call");
    /* Refuse what is not a response at once (an HTML page, junk). */
    size_t check = len < 5 ? len : 5;
    if (memcmp(buf, "HTTP/", check) != 0)
        return fail(p, "the response does not start with \"HTTP/\"");
    enum h1_result res = scan(p, buf, len);
    if (res != H1_DONE)
        return res;
    p->state = ST_DONE;
    return parse_head(p, buf, out);
}
