/*
 * Fuzz target for protocol/h1_response_head: the HTTP/1.1 response-head
 * parser of the HTTP client.
 *
 * Input: one configuration byte, then the bytes from the backend.
 *   bit 0: the request was HEAD; bit 1: small limits (4 headers, head
 *   128 bytes); bits 2-7: the step of the incremental feed, minus one.
 * Invariants (abort() when one breaks):
 * - whole feed and incremental feed (a moved buffer each call) give the
 *   same answer (result, message, head with slices as offsets);
 * - ERROR has a message; NEED_MORE only while the input is shorter than
 *   the head limit;
 * - DONE: the head ends with CRLF CRLF, has no NUL, no bare CR or LF;
 *   slices lie inside the head; names are tokens and values have no
 *   control character but HTAB and no outer whitespace; the status is
 *   100..599; the framing follows the rules (NONE for HEAD, 1xx, 204,
 *   304; CLOSE never keeps the connection alive; LENGTH has a
 *   Content-Length).
 */
#include "fuzz_h1.h"
#include "h1_response_head.h"

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

#define MAX_HDRS 64

struct outcome {
    enum h1_result res;
    char error[H1_ERROR_SIZE];
    char canon[4096];
};

static void
put_slice(char **p, char *end, struct pr_slice s, const uint8_t *base)
{
    int n = snprintf(*p, (size_t)(end - *p), " %td+%zu",
                     s.data - base, s.len);
    if (n > 0 && n < end - *p)
        *p += n;
}

static void
canon(const struct h1_response_head *r, const uint8_t *base, char *out,
      size_t cap)
{
    char *p = out, *end = out + cap;
    int n = snprintf(p, cap, "%zu %u %u %d %d:%llu %d %u %zu", r->head_len,
                     r->version_minor, r->status, (int)r->framing,
                     r->has_content_length,
                     (unsigned long long)r->content_length, r->keep_alive,
                     r->connection, r->header_count);
    p += n;
    put_slice(&p, end, r->reason, base);
    for (size_t i = 0; i < r->header_count; i++) {
        put_slice(&p, end, r->headers[i].name, base);
        put_slice(&p, end, r->headers[i].value, base);
    }
}

static void
check_done(const struct h1_response_head *r, const uint8_t *buf, size_t len,
           bool head)
{
    size_t n = r->head_len;
    CHECK(n <= len && n >= 16);
    CHECK(memcmp(buf, "HTTP/1.", 7) == 0);
    fuzz_h1_check_lines(buf, n);
    CHECK(r->status >= 100 && r->status <= 599);
    CHECK(fuzz_h1_inside(r->reason, buf, n));
    fuzz_h1_check_fields(r->headers, r->header_count, buf, n);
    bool none = head || r->status < 200 || r->status == 204 ||
                r->status == 304;
    CHECK(none == (r->framing == H1_BODY_NONE));
    if (r->framing == H1_BODY_CLOSE)
        CHECK(!r->keep_alive && !r->has_content_length);
    if (r->framing == H1_BODY_LENGTH)
        CHECK(r->has_content_length);
    if (r->framing == H1_BODY_CHUNKED)
        CHECK(!r->has_content_length && r->version_minor >= 1);
    if (r->connection & H1_CONN_CLOSE)
        CHECK(!r->keep_alive);
    CHECK(r->content_length <= (uint64_t)INT64_MAX);
}

static void
run(const uint8_t *in, size_t len, size_t step, uint8_t cfg,
    struct outcome *o)
{
    struct h1_header hdrs[MAX_HDRS];
    struct h1_response_parser p;
    bool small = (cfg & 2) != 0;
    h1_response_parser_init(&p, small ? 4 : 0, small ? 128 : 0, hdrs,
                            MAX_HDRS, (cfg & 1) != 0);
    memset(o, 0, sizeof(*o));
    o->res = H1_NEED_MORE;
    size_t avail = 0;
    while (avail < len) {
        avail = (step == 0 || len - avail < step) ? len : avail + step;
        uint8_t *buf = malloc(avail > 0 ? avail : 1);
        CHECK(buf != NULL);
        memcpy(buf, in, avail);
        struct h1_response_head r;
        o->res = h1_parse_response(&p, buf, avail, &r);
        if (o->res == H1_DONE) {
            check_done(&r, buf, avail, (cfg & 1) != 0);
            canon(&r, buf, o->canon, sizeof(o->canon));
            free(buf);
            return;
        }
        free(buf);
        if (o->res == H1_ERROR) {
            snprintf(o->error, sizeof(o->error), "%s",
                     h1_response_parser_error(&p));
            CHECK(o->error[0] != '\0');
            return;
        }
        CHECK(o->res == H1_NEED_MORE);
        CHECK(avail < (small ? 128u : H1_RESPONSE_DEFAULT_MAX_HEAD));
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t cfg = data[0];
    const uint8_t *in = data + 1;
    size_t len = size - 1;
    size_t step = (size_t)(cfg >> 2) + 1;
    if (step < len / 128)
        step = len / 128;
    struct outcome whole, part;
    run(in, len, 0, cfg, &whole);
    run(in, len, step, cfg, &part);
    CHECK(whole.res == part.res);
    CHECK(strcmp(whole.error, part.error) == 0);
    CHECK(strcmp(whole.canon, part.canon) == 0);
    return 0;
}
