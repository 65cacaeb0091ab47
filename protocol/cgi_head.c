#include "cgi_head.h"

#include "h1_chars.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ST_SCAN, ST_DONE, ST_ERROR };

void
cgi_head_init(struct cgi_head *h, size_t max_size, size_t max_lines)
{
    memset(h, 0, sizeof(*h));
    h->max_size = max_size != 0 ? max_size : CGI_HEAD_DEFAULT_MAX_SIZE;
    if (max_lines == 0)
        max_lines = CGI_HEAD_DEFAULT_MAX_LINES;
    if (max_lines > CGI_HEAD_MAX_LINES)
        max_lines = CGI_HEAD_MAX_LINES;
    h->max_lines = max_lines;
    h->state = ST_SCAN;
}

void
cgi_head_destroy(struct cgi_head *h)
{
    pr_buf_free(&h->buf);
    h->n_headers = 0;
}

static int
fail(struct cgi_head *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
fail(struct cgi_head *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->error, sizeof(h->error), fmt, ap);
    va_end(ap);
    h->state = ST_ERROR;
    return -1;
}

static bool
slice_ieq(struct pr_slice s, const char *name)
{
    size_t n = strlen(name);
    if (s.len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        uint8_t a = s.data[i], b = (uint8_t)name[i];
        if (a >= 'A' && a <= 'Z')
            a = (uint8_t)(a + 32);
        if (b >= 'A' && b <= 'Z')
            b = (uint8_t)(b + 32);
        if (a != b)
            return false;
    }
    return true;
}

static const char *const hop_by_hop[] = {
    "Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer",
    "Transfer-Encoding", "Upgrade",
};

/* Printable length for quoting a value in a message. */
#define QUOTE_MAX 40
static int
qlen(struct pr_slice s)
{
    return (int)(s.len < QUOTE_MAX ? s.len : QUOTE_MAX);
}

static int
parse_status(struct cgi_head *h, size_t line, struct pr_slice v)
{
    if (h->has_status)
        return fail(h, "line %zu: duplicate Status", line);
    bool ok = v.len >= 3 && (v.len == 3 || h1_is_ows(v.data[3]));
    unsigned code = 0;
    for (size_t i = 0; ok && i < 3; i++) {
        if (v.data[i] < '0' || v.data[i] > '9')
            ok = false;
        else
            code = code * 10 + (unsigned)(v.data[i] - '0');
    }
    if (!ok)
        return fail(h, "line %zu: invalid Status \"%.*s\"", line, qlen(v),
                    (const char *)v.data);
    if (code < 200 || code > 599)
        return fail(h, "line %zu: Status %u is not a final status "
                    "(200..599)", line, code);
    size_t r = 3;
    while (r < v.len && h1_is_ows(v.data[r]))
        r++;
    h->has_status = true;
    h->status = code;
    h->reason = (struct pr_slice){ v.data + r, v.len - r };
    return 0;
}

static bool
has_scheme(struct pr_slice v)
{
    /* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
    if (v.len == 0 || !((v.data[0] | 0x20) >= 'a' && (v.data[0] | 0x20) <= 'z'))
        return false;
    for (size_t i = 1; i < v.len; i++) {
        uint8_t c = v.data[i];
        if (c == ':')
            return true;
        if (!(((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
              (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'))
            return false;
    }
    return false;
}

static int
parse_location(struct cgi_head *h, size_t line, struct pr_slice v)
{
    if (h->location_kind != CGI_LOCATION_NONE)
        return fail(h, "line %zu: duplicate Location", line);
    if (v.len == 0)
        return fail(h, "line %zu: empty Location", line);
    for (size_t i = 0; i < v.len; i++)
        if (h1_is_ows(v.data[i]))
            return fail(h, "line %zu: whitespace in Location", line);
    h->location = v;
    if (v.data[0] == '/' && (v.len == 1 || v.data[1] != '/'))
        h->location_kind = CGI_LOCATION_LOCAL;
    else if (has_scheme(v))
        h->location_kind = CGI_LOCATION_ABSOLUTE;
    else
        h->location_kind = CGI_LOCATION_RELATIVE;
    return 0;
}

static int
parse_content_length(struct cgi_head *h, size_t line, struct pr_slice v)
{
    if (h->has_content_length)
        return fail(h, "line %zu: duplicate Content-Length", line);
    uint64_t n = 0;
    bool ok = v.len > 0;
    for (size_t i = 0; ok && i < v.len; i++) {
        uint8_t c = v.data[i];
        if (c < '0' || c > '9' || n > (UINT64_C(1) << 62) / 5)
            ok = false;
        else
            n = n * 10 + (uint64_t)(c - '0');
    }
    if (!ok || n > INT64_MAX)
        return fail(h, "line %zu: invalid Content-Length \"%.*s\"", line,
                    qlen(v), (const char *)v.data);
    h->has_content_length = true;
    h->content_length = n;
    return 0;
}

/* One header line without its line end. */
static int
parse_line(struct cgi_head *h, size_t line, const uint8_t *p, size_t len)
{
    if (h1_is_ows(p[0]))
        return fail(h, "line %zu: obs-fold continuation lines are refused",
                    line);
    const uint8_t *colon = memchr(p, ':', len);
    if (colon == NULL)
        return fail(h, "line %zu: no colon in the header line", line);
    struct pr_slice name = { p, (size_t)(colon - p) };
    if (name.len == 0)
        return fail(h, "line %zu: empty header name", line);
    for (size_t i = 0; i < name.len; i++)
        if (!h1_is_tchar(name.data[i]))
            return fail(h, "line %zu: invalid character 0x%02x in the "
                        "header name", line, (unsigned)name.data[i]);

    size_t vs = name.len + 1, ve = len;
    while (vs < ve && h1_is_ows(p[vs]))
        vs++;
    while (ve > vs && h1_is_ows(p[ve - 1]))
        ve--;
    struct pr_slice value = { p + vs, ve - vs };
    for (size_t i = 0; i < value.len; i++) {
        uint8_t c = value.data[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return fail(h, "line %zu: control character 0x%02x in the "
                        "value of %.*s", line, (unsigned)c, qlen(name),
                        (const char *)name.data);
    }

    if (slice_ieq(name, "Status"))
        return parse_status(h, line, value);
    for (size_t i = 0; i < sizeof(hop_by_hop) / sizeof(hop_by_hop[0]); i++)
        if (slice_ieq(name, hop_by_hop[i])) {
            h->dropped++;
            return 0;
        }
    int r = 0;
    if (slice_ieq(name, "Location")) {
        r = parse_location(h, line, value);
    } else if (slice_ieq(name, "Content-Type")) {
        if (h->has_content_type)
            return fail(h, "line %zu: duplicate Content-Type", line);
        if (value.len == 0)
            return fail(h, "line %zu: empty Content-Type", line);
        h->has_content_type = true;
        h->content_type = value;
    } else if (slice_ieq(name, "Content-Length")) {
        r = parse_content_length(h, line, value);
    }
    if (r != 0)
        return r;
    h->headers[h->n_headers++] = (struct cgi_header){ name, value };
    return 0;
}

/* The whole head is in h->buf (ending with the empty line): parse it. */
static int
parse_head(struct cgi_head *h)
{
    const uint8_t *p = h->buf.data, *end = p + h->buf.len;
    size_t line = 0;
    for (;;) {
        const uint8_t *lf = memchr(p, '\n', (size_t)(end - p));
        /* the scanner stopped at the empty line's LF: lf is never NULL */
        size_t len = (size_t)(lf - p);
        line++;
        if (len > 0 && p[len - 1] == '\r')
            len--;
        const uint8_t *cr = memchr(p, '\r', len);
        if (cr != NULL)
            return fail(h, "line %zu: CR not followed by LF", line);
        if (len == 0)
            break;
        if (line > h->max_lines)
            return fail(h, "more than %zu header lines", h->max_lines);
        if (parse_line(h, line, p, len) != 0)
            return -1;
        p = lf + 1;
    }

    if (!h->has_status && !h->has_content_type &&
        h->location_kind == CGI_LOCATION_NONE)
        return fail(h, "the response head has none of Content-Type, "
                    "Location and Status (RFC 3875 §6.2)");
    if (!h->has_status) {
        if (h->location_kind == CGI_LOCATION_LOCAL) {
            h->local_redirect = true;
            h->status = 0;
        } else if (h->location_kind != CGI_LOCATION_NONE) {
            h->status = 302;
        } else {
            h->status = 200;
        }
    }
    return 0;
}

enum cgi_head_status
cgi_head_feed(struct cgi_head *h, const uint8_t *data, size_t len,
              size_t *consumed)
{
    *consumed = 0;
    if (h->state == ST_ERROR)
        return CGI_HEAD_ERROR;
    if (h->state == ST_DONE)
        return CGI_HEAD_DONE;

    /* Find the end of the empty line, if it is in this input. */
    size_t i = 0;
    bool found = false;
    for (; i < len; i++) {
        uint8_t c = data[i];
        if (h->buf.len + i + 1 > h->max_size)
            goto too_long;
        if (c == '\n') {
            if (h->line_len == 0 || (h->line_len == 1 && h->line_cr)) {
                i++;
                found = true;
                break;
            }
            h->line_len = 0;
            h->line_cr = false;
        } else {
            h->line_len++;
            h->line_cr = c == '\r';
        }
    }
    if (pr_buf_append(&h->buf, data, i) != 0) {
        fail(h, "out of memory for a %zu-byte response head",
             h->buf.len + i);
        return CGI_HEAD_ERROR;
    }
    *consumed = i;
    if (!found)
        return CGI_HEAD_NEED_MORE;
    h->head_len = h->buf.len;
    if (parse_head(h) != 0)
        return CGI_HEAD_ERROR;
    h->state = ST_DONE;
    return CGI_HEAD_DONE;

too_long:
    fail(h, "response head longer than %zu bytes", h->max_size);
    return CGI_HEAD_ERROR;
}

int
cgi_head_finish(struct cgi_head *h)
{
    if (h->state == ST_DONE)
        return 0;
    if (h->state == ST_SCAN) {
        if (h->buf.len == 0)
            fail(h, "the output ended before any response head");
        else
            fail(h, "the output ended inside the response head, after "
                 "%zu bytes", h->buf.len);
    }
    return -1;
}

const struct cgi_header *
cgi_head_find(const struct cgi_head *h, const char *name)
{
    for (size_t i = 0; i < h->n_headers; i++)
        if (slice_ieq(h->headers[i].name, name))
            return &h->headers[i];
    return NULL;
}

const char *
cgi_head_error(const struct cgi_head *h)
{
    return h->error;
}
