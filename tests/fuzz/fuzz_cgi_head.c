/*
 * Fuzz target for protocol/cgi_head: CGI response heads.
 *
 * The input is parsed with small limits (512 bytes, 12 lines) and with the
 * defaults.  Invariants, checked with abort():
 * - the result does not depend on the split: fed whole, in two pieces cut
 *   where the first byte says, and one byte at a time, the status, the
 *   bytes consumed, the error message and every result field agree;
 * - consumed counts never exceed what was offered; NEED_MORE consumes all;
 *   an error has a message and is final; finish() agrees with the state;
 * - an accepted head ends with LF at input[head_len - 1], is within the
 *   size limit, has at least one of Status, Content-Type and Location, a
 *   status of 200..599 (0 exactly for a local redirect), and headers whose
 *   names are non-empty tokens other than Status and the hop-by-hop ones,
 *   whose values have no control characters nor surrounding blanks, all
 *   slices inside the parser's buffer.
 */
#include "cgi_head.h"

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

static bool
ieq(struct pr_slice s, const char *name)
{
    size_t n = strlen(name);
    if (s.len != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        int a = s.data[i], b = (unsigned char)name[i];
        if (a >= 'A' && a <= 'Z')
            a += 32;
        if (b >= 'A' && b <= 'Z')
            b += 32;
        if (a != b)
            return false;
    }
    return true;
}

static bool
in_buf(const struct cgi_head *h, struct pr_slice s)
{
    if (s.len == 0)
        return true;
    return s.data >= h->buf.data && s.len <= h->buf.len &&
           s.data + s.len <= h->buf.data + h->buf.len;
}

static bool
is_tchar(uint8_t c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static const char *const hop[] = { "Connection", "Keep-Alive",
                                   "Proxy-Connection", "TE", "Trailer",
                                   "Transfer-Encoding", "Upgrade", "Status" };

static void
check_done(const struct cgi_head *h, const uint8_t *data, size_t size)
{
    CHECK(h->head_len > 0 && h->head_len <= size);
    CHECK(h->head_len <= h->max_size && h->head_len == h->buf.len);
    CHECK(data[h->head_len - 1] == '\n');
    CHECK(memcmp(h->buf.data, data, h->head_len) == 0);
    CHECK(h->has_status || h->has_content_type ||
          h->location_kind != CGI_LOCATION_NONE);
    CHECK(h->local_redirect == (h->status == 0));
    if (h->local_redirect)
        CHECK(!h->has_status && h->location_kind == CGI_LOCATION_LOCAL);
    else
        CHECK(h->status >= 200 && h->status <= 599);
    if (!h->has_status && !h->local_redirect)
        CHECK(h->status ==
              (h->location_kind != CGI_LOCATION_NONE ? 302u : 200u));
    if (h->location_kind == CGI_LOCATION_LOCAL)
        CHECK(h->location.data[0] == '/');
    CHECK(in_buf(h, h->reason) && in_buf(h, h->location) &&
          in_buf(h, h->content_type));
    CHECK(h->n_headers + h->dropped + (h->has_status ? 1 : 0) <=
          h->max_lines);
    size_t ct = 0, loc = 0, cl = 0;
    for (size_t i = 0; i < h->n_headers; i++) {
        struct pr_slice n = h->headers[i].name, v = h->headers[i].value;
        CHECK(n.len > 0 && in_buf(h, n) && in_buf(h, v));
        for (size_t j = 0; j < n.len; j++)
            CHECK(is_tchar(n.data[j]));
        for (size_t j = 0; j < sizeof(hop) / sizeof(hop[0]); j++)
            CHECK(!ieq(n, hop[j]));
        for (size_t j = 0; j < v.len; j++)
            CHECK(v.data[j] >= 0x20 ? v.data[j] != 0x7f : v.data[j] == '\t');
        if (v.len > 0)
            CHECK(v.data[0] != ' ' && v.data[0] != '\t' &&
                  v.data[v.len - 1] != ' ' && v.data[v.len - 1] != '\t');
        ct += ieq(n, "Content-Type");
        loc += ieq(n, "Location");
        cl += ieq(n, "Content-Length");
        CHECK(cgi_head_find(h, "Content-Type") != NULL || ct == 0);
    }
    CHECK(ct == (h->has_content_type ? 1u : 0u));
    CHECK(loc == (h->location_kind != CGI_LOCATION_NONE ? 1u : 0u));
    CHECK(cl == (h->has_content_length ? 1u : 0u));
    CHECK(h->content_length <= INT64_MAX);
}

struct outcome {
    enum cgi_head_status st;
    size_t consumed;
    char error[CGI_HEAD_ERROR_SIZE];
};

/* Parse with the given cuts; leaves h alive for comparison. */
static void
run(struct cgi_head *h, const uint8_t *data, size_t size, const size_t *cuts,
    size_t ncuts, size_t max_size, size_t max_lines, struct outcome *o)
{
    cgi_head_init(h, max_size, max_lines);
    o->st = CGI_HEAD_NEED_MORE;
    o->consumed = 0;
    size_t start = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : size;
        size_t used = (size_t)-1;
        enum cgi_head_status st =
            cgi_head_feed(h, data + start, end - start, &used);
        if (st == CGI_HEAD_ERROR) {
            o->st = st;
            break;
        }
        CHECK(used <= end - start);
        if (o->st == CGI_HEAD_DONE)
            CHECK(st == CGI_HEAD_DONE && used == 0);
        if (st == CGI_HEAD_NEED_MORE)
            CHECK(used == end - start);
        o->consumed += used;
        o->st = st;
        start = end;
    }
    int f = cgi_head_finish(h);
    CHECK((f == 0) == (o->st == CGI_HEAD_DONE));
    CHECK((f == 0) == (cgi_head_error(h)[0] == '\0'));
    if (o->st == CGI_HEAD_ERROR) {
        size_t used;
        CHECK(cgi_head_feed(h, data, size, &used) == CGI_HEAD_ERROR);
    }
    snprintf(o->error, sizeof(o->error), "%s", cgi_head_error(h));
}

static bool
slice_eq(struct pr_slice a, struct pr_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

static void
same(const struct cgi_head *a, const struct outcome *oa,
     const struct cgi_head *b, const struct outcome *ob)
{
    CHECK(oa->st == ob->st);
    CHECK(strcmp(oa->error, ob->error) == 0);
    if (oa->st == CGI_HEAD_ERROR)
        return;
    CHECK(oa->consumed == ob->consumed);
    if (oa->st != CGI_HEAD_DONE)
        return;
    CHECK(a->status == b->status && a->has_status == b->has_status);
    CHECK(slice_eq(a->reason, b->reason));
    CHECK(a->has_content_type == b->has_content_type);
    CHECK(slice_eq(a->content_type, b->content_type));
    CHECK(a->location_kind == b->location_kind);
    CHECK(slice_eq(a->location, b->location));
    CHECK(a->local_redirect == b->local_redirect);
    CHECK(a->has_content_length == b->has_content_length);
    CHECK(a->content_length == b->content_length);
    CHECK(a->dropped == b->dropped && a->n_headers == b->n_headers);
    CHECK(a->head_len == b->head_len);
    for (size_t i = 0; i < a->n_headers; i++) {
        CHECK(slice_eq(a->headers[i].name, b->headers[i].name));
        CHECK(slice_eq(a->headers[i].value, b->headers[i].value));
    }
}

static void
check(const uint8_t *data, size_t size, size_t max_size, size_t max_lines)
{
    static struct cgi_head whole, other;
    struct outcome ow, oo;
    run(&whole, data, size, NULL, 0, max_size, max_lines, &ow);
    if (ow.st == CGI_HEAD_DONE) {
        CHECK(ow.consumed == whole.head_len);
        check_done(&whole, data, size);
    } else {
        CHECK(ow.error[0] != '\0');
    }

    size_t cut = size > 0 ? data[0] % (size + 1) : 0;
    run(&other, data, size, &cut, 1, max_size, max_lines, &oo);
    same(&whole, &ow, &other, &oo);
    cgi_head_destroy(&other);

    if (size <= 2048) {
        size_t *cuts = malloc((size + 1) * sizeof(*cuts));
        CHECK(cuts != NULL);
        for (size_t i = 0; i < size; i++)
            cuts[i] = i;
        run(&other, data, size, cuts, size, max_size, max_lines, &oo);
        same(&whole, &ow, &other, &oo);
        cgi_head_destroy(&other);
        free(cuts);
    }
    cgi_head_destroy(&whole);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check(data, size, 512, 12);
    check(data, size, 0, 0);
    return 0;
}
