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

const struct h1_header *
h1_response_find(const struct h1_response_head *r, const char *name)
{
    return h1_header_find(r->headers, r->header_count, name);
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
    uint64_t x;
    const char *why = h1_content_length_parse(v, n, &x);
    if (why != NULL)
        return fail(p, "%s (header %zu)", why, hn);
    if (r->has_content_length && r->content_length != x)
        return fail(p, "Content-Length values differ (headers %zu and %zu)",
                    f->cl_header, hn);
    if (!r->has_content_length)
        f->cl_header = hn;
    r->has_content_length = true;
    r->content_length = x;
    return H1_DONE;
}

/* Transfer-Encoding: the only coding accepted is one "chunked". */
static enum h1_result
on_transfer_encoding(struct h1_response_parser *p, struct facts *f,
                     const uint8_t *v, size_t n, size_t hn)
{
    f->te_seen = true;
    size_t i = 0;
    for (;;) {
        i = h1_skip_ows(v, i, n);
        size_t s = i;
        i = h1_skip_token(v, i, n);
        if (i == s)
            return fail(p, "empty or invalid element in Transfer-Encoding "
                        "(header %zu)", hn);
        if (!h1_eq_lower(v + s, i - s, "chunked"))
            return fail(p, "transfer coding \"%.*s\" not supported "
                        "(header %zu)", (int)(i - s > 40 ? 40 : i - s),
                        (const char *)v + s, hn);
        if (f->te_chunked)
            return fail(p, "chunked applied more than once (header %zu)",
                        hn);
        f->te_chunked = true;
        i = h1_skip_ows(v, i, n);
        if (i == n)
            return H1_DONE;
        if (v[i] != ',')
            return fail(p, "invalid Transfer-Encoding (header %zu)", hn);
        i++;
    }
}

static enum h1_result
on_header(struct h1_response_parser *p, struct h1_response_head *r,
          struct facts *f, const struct h1_header *h, size_t hn)
{
    const uint8_t *name = h->name.data, *v = h->value.data;
    size_t n = h->value.len;
    if (h->name.len == 10 && h1_eq_lower(name, 10, "connection"))
        r->connection |= h1_connection_bits(v, n);
    else if (h->name.len == 14 && h1_eq_lower(name, 14, "content-length"))
        return on_content_length(p, r, f, v, n, hn);
    else if (h->name.len == 17 && h1_eq_lower(name, 17, "transfer-encoding"))
        return on_transfer_encoding(p, f, v, n, hn);
    return H1_DONE;
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
        struct h1_field_line fl;
        char why[H1_FIELD_ERROR_SIZE];
        enum h1_line line = h1_next_header_line(buf, i, p->head_len, hn,
                                                "status line", &fl, why);
        if (line == H1_LINE_BAD)
            return fail(p, "%s", why);
        i = fl.next;
        if (line == H1_LINE_END)
            break;
        hn++;
        struct h1_header *h = &p->headers[hn - 1];
        h->name.data = buf + fl.name_start;
        h->name.len = fl.name_end - fl.name_start;
        h->value.data = buf + fl.value_start;
        h->value.len = fl.value_end - fl.value_start;
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
