/*
 * Fuzz target for protocol/h1_request: the HTTP/1.1 request-head parser.
 *
 * Input: one configuration byte, then the bytes of the connection.
 *   bits 0-1: limits (0 defaults; 1 small: line 64, 4 headers, head 256;
 *             2 tiny: line 20, 1 header, head 48; 3 defaults with an
 *             array of 8 headers);
 *   bits 2-7: the step of the incremental feed, minus one (at least
 *             len / 128, so long inputs stay fast).
 * Invariants (abort() when one breaks):
 * - whole feed and incremental feed (growing by the step, into a buffer
 *   reallocated, so moved, before each call) give the same answer: the
 *   same status, message and request (slices compared as offsets), and
 *   split into two calls at every offset for short inputs;
 * - NEED_MORE only while the input is shorter than the limits allow;
 *   ERROR has a status of 400, 414, 431, 501 or 505 and a message;
 * - DONE: head_len <= len, the head ends with CRLF CRLF, has no bare CR
 *   or LF and no NUL, every slice lies inside the head, names are
 *   tokens, values have no CR, LF, NUL or outer whitespace, the count is
 *   within the limit, framing facts are consistent (chunked excludes
 *   Content-Length and HTTP/1.0, HTTP/1.1 has a host); parsing only the
 *   head_len bytes gives the same request.
 */
#include "fuzz_h1.h"
#include "h1_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond))                                                       \
            abort();                                                       \
    } while (0)

#define MAX_HDRS 128

struct outcome {
    enum h1_result res;
    int status;
    char error[H1_ERROR_SIZE];
    char canon[8192];
};

static void
put_slice(char **p, char *end, struct pr_slice s, const uint8_t *base)
{
    int n;
    if (s.data == NULL)
        n = snprintf(*p, (size_t)(end - *p), " -");
    else
        n = snprintf(*p, (size_t)(end - *p), " %td+%zu", s.data - base,
                     s.len);
    if (n > 0 && n < end - *p)
        *p += n;
}

static void
canon(const struct h1_request *r, const uint8_t *base, char *out,
      size_t cap)
{
    char *p = out, *end = out + cap;
    int n = snprintf(p, cap, "%zu %d %d %d %u.%u %d:%llu %d %d %u %d %d %zu",
                     r->head_len, (int)r->method, (int)r->target_form,
                     r->has_query, r->version_major, r->version_minor,
                     r->has_content_length,
                     (unsigned long long)r->content_length, r->chunked,
                     r->keep_alive, r->connection, r->expect_continue,
                     r->expect_other, r->header_count);
    p += n;
    put_slice(&p, end, r->method_token, base);
    put_slice(&p, end, r->target, base);
    put_slice(&p, end, r->path, base);
    put_slice(&p, end, r->query, base);
    put_slice(&p, end, r->scheme, base);
    put_slice(&p, end, r->host, base);
    for (size_t i = 0; i < r->header_count; i++) {
        put_slice(&p, end, r->headers[i].name, base);
        put_slice(&p, end, r->headers[i].value, base);
    }
}

static void
record(struct outcome *o, enum h1_result res, const struct h1_parser *p,
       const struct h1_request *r, const uint8_t *base)
{
    o->res = res;
    o->status = h1_parser_status(p);
    snprintf(o->error, sizeof(o->error), "%s", h1_parser_error(p));
    o->canon[0] = '\0';
    if (res == H1_DONE)
        canon(r, base, o->canon, sizeof(o->canon));
}

static bool
same(const struct outcome *a, const struct outcome *b)
{
    return a->res == b->res && a->status == b->status &&
           strcmp(a->error, b->error) == 0 && strcmp(a->canon, b->canon) == 0;
}

static bool
inside(struct pr_slice s, const uint8_t *base, size_t len)
{
    if (s.data == NULL)
        return s.len == 0;
    return s.data >= base && s.len <= len && s.data <= base + len - s.len;
}

static void
check_done(const struct h1_request *r, const uint8_t *buf, size_t len,
           const struct h1_parser *p)
{
    size_t n = r->head_len;
    CHECK(n <= len && n >= 16);
    fuzz_h1_check_lines(buf, n);
    CHECK(r->header_count <= p->limits.max_headers);
    CHECK(r->headers == p->headers);
    CHECK(r->method_token.len > 0 && inside(r->method_token, buf, n));
    for (size_t i = 0; i < r->method_token.len; i++)
        CHECK(fuzz_h1_is_tchar(r->method_token.data[i]));
    if (r->method != H1_METHOD_OTHER) {
        const char *name = h1_method_name(r->method);
        CHECK(strlen(name) == r->method_token.len &&
              memcmp(name, r->method_token.data, r->method_token.len) == 0);
    }
    CHECK(r->target.len > 0 && inside(r->target, buf, n));
    CHECK(inside(r->path, buf, n) && inside(r->query, buf, n) &&
          inside(r->scheme, buf, n) && inside(r->host, buf, n));
    CHECK(r->version_major == 1);
    CHECK(r->target_form >= H1_TARGET_ORIGIN &&
          r->target_form <= H1_TARGET_ASTERISK);
    CHECK((r->method == H1_METHOD_CONNECT) ==
          (r->target_form == H1_TARGET_AUTHORITY));
    if (r->target_form == H1_TARGET_ASTERISK)
        CHECK(r->method == H1_METHOD_OPTIONS);
    if (r->target_form == H1_TARGET_ORIGIN)
        CHECK(r->path.len > 0 && r->path.data[0] == '/');
    CHECK(r->has_query == (r->query.data != NULL));
    for (size_t i = 0; i < r->target.len; i++)
        CHECK(r->target.data[i] > 0x20 && r->target.data[i] < 0x7f &&
              r->target.data[i] != '#');
    fuzz_h1_check_fields(r->headers, r->header_count, buf, n);
    if (r->chunked)
        CHECK(!r->has_content_length && r->version_minor >= 1);
    if (r->has_content_length)
        CHECK(r->content_length <= (uint64_t)INT64_MAX);
    if (r->version_minor >= 1)
        CHECK(r->host.data != NULL && r->host.len > 0);
    if (r->connection & H1_CONN_CLOSE)
        CHECK(!r->keep_alive);
    if (r->version_minor == 0)
        CHECK(!r->expect_continue);
}

static void
limits_for(uint8_t cfg, struct h1_limits *lim, size_t *cap)
{
    memset(lim, 0, sizeof(*lim));
    *cap = MAX_HDRS;
    switch (cfg & 3) {
    case 1:
        lim->max_request_line = 64;
        lim->max_headers = 4;
        lim->max_head = 256;
        break;
    case 2:
        lim->max_request_line = 20;
        lim->max_headers = 1;
        lim->max_head = 48;
        break;
    case 3:
        *cap = 8;
        break;
    default:
        break;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536)
        return 0;
    uint8_t cfg = data[0];
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    size_t step = 1 + (cfg >> 2);
    /* Keep long inputs fast: at most about 128 incremental calls. */
    if (step < len / 128)
        step = len / 128;
    struct h1_limits lim;
    size_t cap;
    limits_for(cfg, &lim, &cap);

    static struct h1_header hdrs[MAX_HDRS];
    struct h1_parser p;
    struct h1_request r;
    static struct outcome whole, other;

    /* Whole. */
    h1_parser_init(&p, &lim, hdrs, cap);
    enum h1_result res = h1_parse_request(&p, in, len, &r);
    record(&whole, res, &p, &r, in);
    CHECK(strlen(h1_parser_error(&p)) < H1_ERROR_SIZE);
    switch (res) {
    case H1_NEED_MORE:
        CHECK(p.status == 0 && p.error[0] == '\0');
        CHECK(len < p.limits.max_head + 2 * H1_MAX_LEADING_EMPTY_LINES + 2);
        break;
    case H1_ERROR:
        CHECK(p.status == 400 || p.status == 414 || p.status == 431 ||
              p.status == 501 || p.status == 505);
        CHECK(p.error[0] != '\0');
        break;
    case H1_DONE:
        CHECK(p.status == 0);
        check_done(&r, in, len, &p);
        break;
    default:
        abort();
    }

    /* Incremental, into a moving buffer. */
    {
        uint8_t *buf = NULL;
        h1_parser_init(&p, &lim, hdrs, cap);
        size_t n = 0;
        for (;;) {
            n = len - n < step ? len : n + step;
            uint8_t *nb = malloc(n + 1);
            CHECK(nb != NULL);
            memcpy(nb, in, n);
            free(buf);
            buf = nb;
            res = h1_parse_request(&p, buf, n, &r);
            if (res != H1_NEED_MORE || n == len)
                break;
        }
        record(&other, res, &p, &r, buf);
        free(buf);
        CHECK(same(&whole, &other));
    }

    /* Two calls, split at every offset (short inputs only). */
    if (len <= 512) {
        for (size_t k = 0; k <= len; k += 1 + len / 64) {
            h1_parser_init(&p, &lim, hdrs, cap);
            res = h1_parse_request(&p, in, k, &r);
            if (res == H1_NEED_MORE)
                res = h1_parse_request(&p, in, len, &r);
            record(&other, res, &p, &r, in);
            CHECK(same(&whole, &other));
        }
    }

    /* The head is self-delimiting. */
    if (whole.res == H1_DONE) {
        size_t n = r.head_len;
        h1_parser_init(&p, &lim, hdrs, cap);
        res = h1_parse_request(&p, in, len, &r);
        CHECK(res == H1_DONE && r.head_len == n);
        h1_parser_init(&p, &lim, hdrs, cap);
        res = h1_parse_request(&p, in, n, &r);
        record(&other, res, &p, &r, in);
        CHECK(same(&whole, &other));
    }
    return 0;
}
