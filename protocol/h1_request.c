/*
 * The HTTP/1.1 request-head parser.  Two stages:
 * - scan (incremental, resumable through offsets): find the end of each
 *   line with memchr, skip leading empty lines, check the method bytes as
 *   they arrive (so a TLS handshake or binary junk is refused at once),
 *   and enforce the limits in byte order;
 * - parse (once, over the complete head): one pass over each line with
 *   the character table, the header slices and the framing facts.
 * Every read in the parse stays below head_len because the last byte of
 * the head is a LF, which stops every loop and fails every comparison
 * with a non-LF character.
 */
#include "h1_request.h"

#include "h1_chars.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum {
    ST_SCAN_LINE0 = 0,  /* leading empty lines and the request line */
    ST_SCAN_HEADERS,
    ST_DONE,
    ST_ERROR,
};

static enum h1_result
fail(struct h1_parser *p, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum h1_result
fail(struct h1_parser *p, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->error, sizeof(p->error), fmt, ap);
    va_end(ap);
    p->status = status;
    p->state = ST_ERROR;
    return H1_ERROR;
}

void
h1_parser_init(struct h1_parser *p, const struct h1_limits *limits,
               struct h1_header *headers, size_t headers_cap)
{
    memset(p, 0, sizeof(*p));
    struct h1_limits l = { 0, 0, 0 };
    if (limits != NULL)
        l = *limits;
    if (l.max_head == 0)
        l.max_head = H1_DEFAULT_MAX_HEAD;
    if (l.max_head < 16)
        l.max_head = 16;
    if (l.max_request_line == 0)
        l.max_request_line = H1_DEFAULT_MAX_REQUEST_LINE;
    if (l.max_request_line > l.max_head - 2)
        l.max_request_line = l.max_head - 2;
    if (l.max_headers == 0)
        l.max_headers = H1_DEFAULT_MAX_HEADERS;
    if (l.max_headers > headers_cap)
        l.max_headers = headers_cap;
    p->limits = l;
    p->headers = headers;
    p->headers_cap = headers_cap;
    p->state = ST_SCAN_LINE0;
}

int
h1_parser_status(const struct h1_parser *p)
{
    return p->status;
}

const char *
h1_parser_error(const struct h1_parser *p)
{
    return p->error;
}

static const char *const method_names[] = {
    [H1_METHOD_GET] = "GET",         [H1_METHOD_HEAD] = "HEAD",
    [H1_METHOD_POST] = "POST",       [H1_METHOD_PUT] = "PUT",
    [H1_METHOD_DELETE] = "DELETE",   [H1_METHOD_CONNECT] = "CONNECT",
    [H1_METHOD_OPTIONS] = "OPTIONS", [H1_METHOD_TRACE] = "TRACE",
    [H1_METHOD_PATCH] = "PATCH",
};

const char *
h1_method_name(enum h1_method m)
{
    if ((size_t)m >= sizeof(method_names) / sizeof(method_names[0]))
        return NULL;
    return method_names[m];
}

/* Methods are case-sensitive (RFC 9110 §9.1). */
static enum h1_method
method_from_token(const uint8_t *s, size_t n)
{
    for (size_t m = 1; m < sizeof(method_names) / sizeof(method_names[0]);
         m++) {
        if (strlen(method_names[m]) == n && memcmp(method_names[m], s, n) == 0)
            return (enum h1_method)m;
    }
    return H1_METHOD_OTHER;
}

const struct h1_header *
h1_header_find(const struct h1_header *headers, size_t count,
               const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < count; i++) {
        const struct h1_header *h = &headers[i];
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

const struct h1_header *
h1_request_find(const struct h1_request *req, const char *name)
{
    return h1_header_find(req->headers, req->header_count, name);
}

unsigned
h1_connection_bits(const uint8_t *v, size_t n)
{
    unsigned bits = 0;
    size_t i = 0;
    while (i < n) {
        i = h1_skip_ows(v, i, n);
        size_t s = i;
        while (i < n && v[i] != ',')
            i++;
        size_t e = i;
        while (e > s && h1_is_ows(v[e - 1]))
            e--;
        if (h1_eq_lower(v + s, e - s, "close"))
            bits |= H1_CONN_CLOSE;
        else if (h1_eq_lower(v + s, e - s, "keep-alive"))
            bits |= H1_CONN_KEEP_ALIVE;
        else if (h1_eq_lower(v + s, e - s, "upgrade"))
            bits |= H1_CONN_UPGRADE;
        if (i < n)
            i++;
    }
    return bits;
}

const char *
h1_content_length_parse(const uint8_t *v, size_t n, uint64_t *value)
{
    if (n == 0)
        return "empty Content-Length";
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return "Content-Length is not a decimal number";
        unsigned d = (unsigned)(v[i] - '0');
        if (x > ((uint64_t)INT64_MAX - d) / 10)
            return "Content-Length over 2^63-1";
        x = x * 10 + d;
    }
    *value = x;
    return NULL;
}

/* ---- scan ------------------------------------------------------------ */

static enum h1_result
bad_method_byte(struct h1_parser *p, uint8_t c)
{
    if (c == '\r' || c == '\n')
        return fail(p, 400, "request line ends inside the method");
    return fail(p, 400, "invalid byte 0x%02x in the method", c);
}

/* The request line: returns DONE when its LF has been found (the scan
 * goes on with the header lines), NEED_MORE or ERROR. */
static enum h1_result
scan_line0(struct h1_parser *p, const uint8_t *buf, size_t len)
{
    /* Empty lines before the request line (RFC 9112 §2.2), CRLF only. */
    while (!p->method_done && p->method_scan == p->req_start) {
        if (len <= p->req_start)
            return H1_NEED_MORE;
        if (buf[p->req_start] != '\r')
            break;
        if (len < p->req_start + 2)
            return H1_NEED_MORE;
        if (buf[p->req_start + 1] != '\n')
            return fail(p, 400, "bare CR before the request line");
        if (++p->empty_lines > H1_MAX_LEADING_EMPTY_LINES)
            return fail(p, 400,
                        "more than %d empty lines before the request line",
                        H1_MAX_LEADING_EMPTY_LINES);
        p->req_start += 2;
        p->method_scan = p->scan = p->line_start = p->req_start;
    }

    /* The LF of a request line within the limit lies below `bound`. */
    size_t bound = p->req_start + p->limits.max_request_line + 2;
    size_t avail = len < bound ? len : bound;

    if (!p->method_done) {
        size_t i = p->method_scan;
        while (i < avail && h1_is_tchar(buf[i]))
            i++;
        p->method_scan = i;
        if (i < avail) {
            if (buf[i] != ' ')
                return bad_method_byte(p, buf[i]);
            if (i == p->req_start)
                return fail(p, 400, "empty method");
            p->method_done = true;
        }
        if (p->scan < i)
            p->scan = i;
    }
    if (!p->method_done) {
        if (len >= bound)
            return fail(p, 414, "request line longer than %zu bytes",
                        p->limits.max_request_line);
        return H1_NEED_MORE;
    }

    const uint8_t *lf = NULL;
    if (p->scan < avail)
        lf = memchr(buf + p->scan, '\n', avail - p->scan);
    if (lf == NULL) {
        if (p->scan < avail)
            p->scan = avail;
        if (len >= bound)
            return fail(p, 414, "request line longer than %zu bytes",
                        p->limits.max_request_line);
        return H1_NEED_MORE;
    }
    size_t end = (size_t)(lf - buf);
    size_t content = end - p->req_start;
    if (buf[end - 1] == '\r')
        content--;
    if (content > p->limits.max_request_line)
        return fail(p, 414, "request line longer than %zu bytes",
                    p->limits.max_request_line);
    p->line_start = p->scan = end + 1;
    p->state = ST_SCAN_HEADERS;
    return H1_DONE;
}

/* Header lines up to the empty line: DONE sets p->head_len. */
static enum h1_result
scan_headers(struct h1_parser *p, const uint8_t *buf, size_t len)
{
    size_t limit = p->limits.max_head;
    size_t avail = len < limit ? len : limit;
    for (;;) {
        const uint8_t *lf = NULL;
        if (p->scan < avail)
            lf = memchr(buf + p->scan, '\n', avail - p->scan);
        if (lf == NULL) {
            if (p->scan < avail)
                p->scan = avail;
            if (len >= limit)
                return fail(p, 431, "request head larger than %zu bytes",
                            limit);
            return H1_NEED_MORE;
        }
        size_t end = (size_t)(lf - buf);
        size_t n = end - p->line_start;
        if (n == 0 || (n == 1 && buf[p->line_start] == '\r')) {
            p->head_len = end + 1;
            return H1_DONE;
        }
        if (++p->header_lines > p->limits.max_headers)
            return fail(p, 431, "more than %zu header lines",
                        p->limits.max_headers);
        p->line_start = p->scan = end + 1;
    }
}

/* ---- parse ----------------------------------------------------------- */

/*
 * A word-at-a-time fast path for the request-target, as
 * h1_skip_field_value() has for field values: eight bytes are loaded at
 * once and tested with the SWAR tests of h1_chars.h, which have no false
 * negatives; a word that may hold a byte the fast path does not take goes
 * to the byte loop with the table, which decides.  `end` is the head's
 * length: no load goes past it.
 */
/* Request-target bytes from i: SP and below, '#', DEL and non-ASCII stop
 * the words. */
static size_t
skip_target(const uint8_t *buf, size_t i, size_t end)
{
    while (end - i >= 8) {
        uint64_t x = h1_word_load(buf + i);
        if (h1_word_has_less(x, 0x21) | h1_word_has_byte(x, '#') |
            h1_word_has_byte(x, 0x7f) | (x & H1_WORD_HIGHS))
            break;
        i += 8;
    }
    while (h1_char_class[buf[i]] & H1_C_TARGET)
        i++;
    return i;
}

/* host [ ":" port ] (RFC 3986 §3.2.2, §3.2.3); the port is required in
 * authority-form.  IP literals are checked for their characters only. */
static bool
valid_host(const uint8_t *s, size_t n, bool need_port)
{
    size_t i = 0;
    if (n == 0)
        return false;
    if (s[0] == '[') {
        i = 1;
        while (i < n && s[i] != ']') {
            if (!(h1_char_class[s[i]] & H1_C_HOST) || s[i] == '[')
                return false;
            i++;
        }
        if (i == n || i == 1)
            return false;
        i++;
    } else {
        while (i < n && s[i] != ':') {
            if (!(h1_char_class[s[i]] & H1_C_HOST) || s[i] == '[' ||
                s[i] == ']')
                return false;
            i++;
        }
        if (i == 0)
            return false;
    }
    if (i == n)
        return !need_port;
    if (s[i] != ':')
        return false;
    i++;
    if (need_port && i == n)
        return false;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return true;
}

struct head_facts {
    bool seen_host;
    struct pr_slice host_header;
    size_t cl_header;           /* header number of the first one */
    bool te_seen;
    bool te_chunked;            /* chunked appeared */
    bool te_final_chunked;
    struct pr_slice te_other;   /* the first other coding */
};

static void
split_query(const uint8_t *s, size_t n, struct h1_request *r)
{
    const uint8_t *q = memchr(s, '?', n);
    r->path.data = s;
    if (q == NULL) {
        r->path.len = n;
        return;
    }
    r->path.len = (size_t)(q - s);
    r->has_query = true;
    r->query.data = q + 1;
    r->query.len = n - r->path.len - 1;
}

static enum h1_result
parse_target(struct h1_parser *p, struct h1_request *r)
{
    const uint8_t *t = r->target.data;
    size_t n = r->target.len;

    if (r->method == H1_METHOD_CONNECT) {
        /* authority-form (RFC 9112 §3.2.3): host and port only. */
        if (!valid_host(t, n, true))
            return fail(p, 400, "CONNECT needs a host:port request-target");
        r->target_form = H1_TARGET_AUTHORITY;
        r->host = r->target;
        return H1_DONE;
    }
    if (t[0] == '/') {
        r->target_form = H1_TARGET_ORIGIN;
        split_query(t, n, r);
        return H1_DONE;
    }
    if (n == 1 && t[0] == '*') {
        if (r->method != H1_METHOD_OPTIONS)
            return fail(p, 400, "asterisk-form request-target without OPTIONS");
        r->target_form = H1_TARGET_ASTERISK;
        return H1_DONE;
    }

    /* absolute-form (RFC 9112 §3.2.2), http and https only. */
    size_t slen;
    if (n > 7 && h1_eq_lower(t, 7, "http://"))
        slen = 4;
    else if (n > 8 && h1_eq_lower(t, 8, "https://"))
        slen = 5;
    else
        return fail(p, 400,
                    "request-target is neither a path nor an http(s) URI");
    r->target_form = H1_TARGET_ABSOLUTE;
    r->scheme.data = t;
    r->scheme.len = slen;
    size_t a = slen + 3, e = a;
    while (e < n && t[e] != '/' && t[e] != '?') {
        if (t[e] == '@')
            return fail(p, 400, "userinfo in the request-target");
        e++;
    }
    if (!valid_host(t + a, e - a, false))
        return fail(p, 400, "invalid authority in the request-target");
    r->host.data = t + a;
    r->host.len = e - a;
    split_query(t + e, n - e, r);
    return H1_DONE;
}

/* Request line at p->req_start; *pos is set to the first header line. */
static enum h1_result
parse_request_line(struct h1_parser *p, const uint8_t *buf, size_t *pos,
                   struct h1_request *r)
{
    size_t i = p->req_start;
    while (h1_char_class[buf[i]] & H1_C_TCHAR)
        i++;
    /* The scan saw the SP already. */
    r->method_token.data = buf + p->req_start;
    r->method_token.len = i - p->req_start;
    r->method = method_from_token(r->method_token.data, r->method_token.len);
    i++;

    size_t t = i;
    i = skip_target(buf, i, p->head_len);
    if (buf[i] != ' ') {
        if (buf[i] == '\r' && buf[i + 1] != '\n')
            return fail(p, 400, "bare CR in the request-target");
        if (buf[i] == '\r' || buf[i] == '\n')
            return fail(p, 400, i == t ? "request line has no request-target"
                                       : "request line has no HTTP version");
        return fail(p, 400, "invalid byte 0x%02x in the request-target",
                    buf[i]);
    }
    if (i == t)
        return fail(p, 400, "empty request-target");
    r->target.data = buf + t;
    r->target.len = i - t;
    i++;

    const uint8_t *v = buf + i;
    if (!(v[0] == 'H' && v[1] == 'T' && v[2] == 'T' && v[3] == 'P' &&
          v[4] == '/' && v[5] >= '0' && v[5] <= '9' && v[6] == '.' &&
          v[7] >= '0' && v[7] <= '9'))
        return fail(p, 400, "invalid HTTP version");
    if (v[8] != '\r') {
        if (v[8] == '\n')
            return fail(p, 400, "bare LF at the end of the request line");
        return fail(p, 400, "invalid HTTP version");
    }
    if (v[9] != '\n')
        return fail(p, 400, "bare CR at the end of the request line");
    if (v[5] != '1')
        return fail(p, 505, "HTTP version %c.%c not supported", v[5], v[7]);
    r->version_major = 1;
    r->version_minor = (unsigned)(v[7] - '0');
    *pos = i + 10;
    return parse_target(p, r);
}

static enum h1_result
on_content_length(struct h1_parser *p, struct h1_request *r,
                  struct head_facts *f, const uint8_t *v, size_t n,
                  size_t hn)
{
    uint64_t x;
    const char *why = h1_content_length_parse(v, n, &x);
    if (why != NULL)
        return fail(p, 400, "%s (header %zu)", why, hn);
    if (r->has_content_length && r->content_length != x)
        return fail(p, 400,
                    "Content-Length values differ (headers %zu and %zu)",
                    f->cl_header, hn);
    if (!r->has_content_length)
        f->cl_header = hn;
    r->has_content_length = true;
    r->content_length = x;
    return H1_DONE;
}

/* transfer-parameter list after a coding: *( OWS ";" OWS token BWS "="
 * BWS ( token / quoted-string ) ) (RFC 9110 §10.1.4).  Returns the index
 * after it or (size_t)-1 when malformed. */
static size_t
skip_params(const uint8_t *v, size_t i, size_t n, bool *any)
{
    for (;;) {
        size_t j = h1_skip_ows(v, i, n);
        if (j == n || v[j] != ';')
            return i;
        *any = true;
        j = h1_skip_ows(v, j + 1, n);
        size_t k = h1_skip_token(v, j, n);
        if (k == j)
            return (size_t)-1;
        k = h1_skip_ows(v, k, n);
        if (k == n || v[k] != '=')
            return (size_t)-1;
        k = h1_skip_ows(v, k + 1, n);
        if (k < n && v[k] == '"') {
            k++;
            for (;;) {
                if (k == n)
                    return (size_t)-1;
                if (v[k] == '"')
                    break;
                if (v[k] == '\\') {
                    if (k + 1 == n || !(h1_char_class[v[k + 1]] & H1_C_VALUE))
                        return (size_t)-1;
                    k += 2;
                    continue;
                }
                if (!(h1_char_class[v[k]] & H1_C_QDTEXT))
                    return (size_t)-1;
                k++;
            }
            k++;
        } else {
            size_t e = h1_skip_token(v, k, n);
            if (e == k)
                return (size_t)-1;
            k = e;
        }
        i = k;
    }
}

/* Transfer-Encoding: 1#transfer-coding, accumulated over every line. */
static enum h1_result
on_transfer_encoding(struct h1_parser *p, struct head_facts *f,
                     const uint8_t *v, size_t n, size_t hn)
{
    f->te_seen = true;
    size_t i = 0;
    for (;;) {
        i = h1_skip_ows(v, i, n);
        size_t s = i;
        i = h1_skip_token(v, i, n);
        if (i == s)
            return fail(p, 400,
                        "empty or invalid element in Transfer-Encoding "
                        "(header %zu)",
                        hn);
        bool params = false;
        size_t e = skip_params(v, i, n, &params);
        if (e == (size_t)-1)
            return fail(p, 400,
                        "invalid transfer-coding parameter (header %zu)", hn);
        if (h1_eq_lower(v + s, i - s, "chunked")) {
            if (params)
                return fail(p, 400,
                            "chunked with parameters (header %zu)", hn);
            if (f->te_chunked)
                return fail(p, 400,
                            "chunked applied more than once (header %zu)",
                            hn);
            f->te_chunked = true;
            f->te_final_chunked = true;
        } else {
            f->te_final_chunked = false;
            if (f->te_other.data == NULL) {
                f->te_other.data = v + s;
                f->te_other.len = i - s;
            }
        }
        i = h1_skip_ows(v, e, n);
        if (i == n)
            return H1_DONE;
        if (v[i] != ',')
            return fail(p, 400, "invalid Transfer-Encoding (header %zu)", hn);
        i++;
    }
}

static enum h1_result
on_header(struct h1_parser *p, struct h1_request *r, struct head_facts *f,
          const struct h1_header *h, size_t hn)
{
    const uint8_t *name = h->name.data, *v = h->value.data;
    size_t n = h->value.len;
    switch (h->name.len) {
    case 4:
        if (!h1_eq_lower(name, 4, "host"))
            break;
        if (f->seen_host)
            return fail(p, 400, "more than one Host header (header %zu)",
                        hn);
        f->seen_host = true;
        if (n == 0)
            return fail(p, 400, "empty Host header (header %zu)", hn);
        if (!valid_host(v, n, false))
            return fail(p, 400, "invalid Host header (header %zu)", hn);
        f->host_header = h->value;
        break;
    case 6:
        if (!h1_eq_lower(name, 6, "expect"))
            break;
        if (h1_eq_lower(v, n, "100-continue"))
            r->expect_continue = true;
        else if (n > 0)
            r->expect_other = true;
        break;
    case 10:
        if (h1_eq_lower(name, 10, "connection"))
            r->connection |= h1_connection_bits(v, n);
        break;
    case 14:
        if (h1_eq_lower(name, 14, "content-length"))
            return on_content_length(p, r, f, v, n, hn);
        break;
    case 17:
        if (h1_eq_lower(name, 17, "transfer-encoding"))
            return on_transfer_encoding(p, f, v, n, hn);
        break;
    default:
        break;
    }
    return H1_DONE;
}

static enum h1_result
parse_head(struct h1_parser *p, const uint8_t *buf, struct h1_request *req)
{
    struct h1_request r;
    struct head_facts f;
    memset(&r, 0, sizeof(r));
    memset(&f, 0, sizeof(f));
    r.headers = p->headers;

    size_t i = 0;
    enum h1_result res = parse_request_line(p, buf, &i, &r);
    if (res != H1_DONE)
        return res;

    size_t hn = 0;
    for (;;) {
        struct h1_field_line fl;
        char why[H1_FIELD_ERROR_SIZE];
        enum h1_line line = h1_next_header_line(buf, i, p->head_len, hn,
                                                "request line", &fl, why);
        if (line == H1_LINE_BAD)
            return fail(p, 400, "%s", why);
        i = fl.next;
        if (line == H1_LINE_END)
            break;
        hn++;
        if (hn > p->limits.max_headers) /* the scan counted already */
            return fail(p, 431, "more than %zu header lines",
                        p->limits.max_headers);
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
        return fail(p, 500, "internal error: head end mismatch");
    r.header_count = hn;
    r.head_len = p->head_len;

    if (f.te_seen) {
        if (r.has_content_length)
            return fail(p, 400,
                        "Content-Length and Transfer-Encoding both present");
        if (r.version_minor == 0)
            return fail(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
        if (!f.te_final_chunked)
            return fail(p, 400,
                        "Transfer-Encoding without chunked as the final "
                        "coding");
        if (f.te_other.data != NULL)
            return fail(p, 501, "transfer coding \"%.*s\" not implemented",
                        (int)(f.te_other.len > 40 ? 40 : f.te_other.len),
                        (const char *)f.te_other.data);
        r.chunked = true;
    }
    if (r.version_minor >= 1 && !f.seen_host)
        return fail(p, 400, "missing Host header (required in HTTP/1.1)");
    if (r.target_form != H1_TARGET_ABSOLUTE &&
        r.target_form != H1_TARGET_AUTHORITY && f.seen_host)
        r.host = f.host_header;

    if (r.connection & H1_CONN_CLOSE)
        r.keep_alive = false;
    else if (r.version_minor >= 1)
        r.keep_alive = true;
    else
        r.keep_alive = (r.connection & H1_CONN_KEEP_ALIVE) != 0;
    if (r.version_minor == 0) {
        /* RFC 9110 §10.1.1: ignore 100-continue from HTTP/1.0. */
        r.expect_continue = false;
    }
    *req = r;
    return H1_DONE;
}

enum h1_result
h1_parse_request(struct h1_parser *p, const uint8_t *buf, size_t len,
                 struct h1_request *req)
{
    enum h1_result res;
    switch (p->state) {
    case ST_ERROR:
        return H1_ERROR;
    case ST_DONE:
        if (len < p->head_len)
            return fail(p, 500, "fewer bytes than in the previous call");
        return parse_head(p, buf, req);
    default:
        break;
    }
    if (len < p->scan || len < p->method_scan)
        return fail(p, 500, "fewer bytes than in the previous call");
    if (p->state == ST_SCAN_LINE0) {
        res = scan_line0(p, buf, len);
        if (res != H1_DONE)
            return res;
    }
    res = scan_headers(p, buf, len);
    if (res != H1_DONE)
        return res;
    p->state = ST_DONE;
    return parse_head(p, buf, req);
}
