/*
 * Fuzz target for protocol/fcgi_codec: the record decoder (an
 * application's answer to request id 1) and the name-value pair decoder.
 *
 * Invariants, checked with abort():
 * - the decoder's result does not depend on how the input is split: fed
 *   whole, in two pieces cut where the first byte says, and one byte at a
 *   time, it gives the same STDOUT and STDERR bytes, the same event
 *   sequence, END_REQUEST statuses, error message and finish() result;
 * - every STDOUT/STDERR span is non-empty and lies inside the bytes just
 *   consumed; consumed counts never exceed what was offered; NEED_MORE
 *   consumes everything; an error has a message and is final;
 * - a decode that succeeded re-encodes (our encoder, with padding) into
 *   a stream that decodes to the same bytes and statuses;
 * - the input read as name-value pairs yields slices inside it, each pair
 *   advancing the position; accepted pairs re-encode and decode to the
 *   same pairs.
 */
#include "fcgi_codec.h"

#include <errno.h>
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

struct result {
    struct pr_buf out, err;
    char events[64];
    size_t n_events;        /* may exceed sizeof(events); counted only */
    uint32_t app_status;
    uint8_t protocol_status;
    int finish;
    char error[FCGI_ERROR_SIZE];
};

static void
add_event(struct result *r, char c)
{
    if (r->n_events < sizeof(r->events) - 1)
        r->events[r->n_events] = c;
    r->n_events++;
}

/* Feed data[0..len); returns false on a decoder error. */
static bool
feed(struct fcgi_decoder *d, const uint8_t *data, size_t len,
     struct result *r)
{
    size_t pos = 0;
    for (;;) {
        size_t used = (size_t)-1;
        struct fcgi_event ev;
        enum fcgi_decoder_status st =
            fcgi_decoder_feed(d, data + pos, len - pos, &used, &ev);
        if (st == FCGI_DEC_ERROR) {
            CHECK(fcgi_decoder_error(d)[0] != '\0');
            size_t again;
            CHECK(fcgi_decoder_feed(d, data, len, &again, &ev) ==
                  FCGI_DEC_ERROR);
            return false;
        }
        CHECK(used <= len - pos);
        pos += used;
        switch (st) {
        case FCGI_DEC_STDOUT:
        case FCGI_DEC_STDERR:
            CHECK(ev.data.len > 0);
            CHECK(ev.data.data >= data && ev.data.data <= data + pos &&
                  ev.data.len <= (size_t)(data + pos - ev.data.data));
            CHECK(pr_buf_append(st == FCGI_DEC_STDOUT ? &r->out : &r->err,
                                ev.data.data, ev.data.len) == 0);
            /* consecutive spans of one stream count as one event */
            {
                char c = st == FCGI_DEC_STDOUT ? 'o' : 'e';
                if (r->n_events == 0 ||
                    r->n_events > sizeof(r->events) - 1 ||
                    r->events[r->n_events - 1] != c)
                    add_event(r, c);
            }
            break;
        case FCGI_DEC_STDOUT_END:
            add_event(r, 'O');
            break;
        case FCGI_DEC_STDERR_END:
            add_event(r, 'E');
            break;
        case FCGI_DEC_END_REQUEST:
            add_event(r, 'X');
            CHECK(fcgi_decoder_done(d));
            r->app_status = ev.app_status;
            r->protocol_status = ev.protocol_status;
            break;
        case FCGI_DEC_MANAGEMENT:
            CHECK(ev.type == FCGI_GET_VALUES_RESULT ||
                  ev.type == FCGI_UNKNOWN_TYPE);
            CHECK(ev.data.len <= FCGI_MAX_MANAGEMENT);
            CHECK(ev.type != FCGI_UNKNOWN_TYPE || ev.data.len == 8);
            add_event(r, ev.type == FCGI_GET_VALUES_RESULT ? 'G' : 'U');
            break;
        case FCGI_DEC_NEED_MORE:
            CHECK(pos == len);
            return true;
        default:
            abort();
        }
    }
}

/* Decode with the given cut points (increasing, <= size). */
static void
run(const uint8_t *data, size_t size, const size_t *cuts, size_t ncuts,
    struct result *r)
{
    memset(r, 0, sizeof(*r));
    struct fcgi_decoder d;
    fcgi_decoder_init(&d, 1);
    size_t start = 0;
    bool ok = true;
    for (size_t i = 0; i <= ncuts && ok; i++) {
        size_t end = i < ncuts ? cuts[i] : size;
        ok = feed(&d, data + start, end - start, r);
        start = end;
    }
    r->finish = fcgi_decoder_finish(&d);
    CHECK(r->finish == 0 || r->finish == -1);
    CHECK((r->finish == 0) == (fcgi_decoder_error(&d)[0] == '\0'));
    CHECK(r->finish != 0 || fcgi_decoder_done(&d));
    snprintf(r->error, sizeof(r->error), "%s", fcgi_decoder_error(&d));
    CHECK(d.stdout_bytes == r->out.len && d.stderr_bytes == r->err.len);
}

static void
result_free(struct result *r)
{
    pr_buf_free(&r->out);
    pr_buf_free(&r->err);
}

static bool
buf_equal(const struct pr_buf *a, const struct pr_buf *b)
{
    return a->len == b->len &&
           (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void
same(const struct result *a, const struct result *b)
{
    CHECK(a->finish == b->finish);
    CHECK(strcmp(a->error, b->error) == 0);
    CHECK(a->n_events == b->n_events);
    CHECK(memcmp(a->events, b->events, sizeof(a->events)) == 0);
    CHECK(buf_equal(&a->out, &b->out) && buf_equal(&a->err, &b->err));
    CHECK(a->app_status == b->app_status);
    CHECK(a->protocol_status == b->protocol_status);
}

static void
check_records(const uint8_t *data, size_t size)
{
    struct result whole, two, bytes;
    run(data, size, NULL, 0, &whole);

    size_t cut = size > 0 ? data[0] % (size + 1) : 0;
    run(data, size, &cut, 1, &two);
    same(&whole, &two);
    result_free(&two);

    if (size <= 4096) {
        size_t *cuts = malloc((size + 1) * sizeof(*cuts));
        CHECK(cuts != NULL);
        for (size_t i = 0; i < size; i++)
            cuts[i] = i;
        run(data, size, cuts, size, &bytes);
        same(&whole, &bytes);
        result_free(&bytes);
        free(cuts);
    }

    if (whole.finish == 0) {
        /* Re-encode what came out, padded, and decode that. */
        struct pr_buf b = PR_BUF_INIT;
        CHECK(fcgi_append_stream(&b, FCGI_STDOUT, 1, whole.out.data,
                                 whole.out.len, FCGI_ENC_PAD) == 0);
        CHECK(fcgi_append_stream(&b, FCGI_STDERR, 1, whole.err.data,
                                 whole.err.len, FCGI_ENC_PAD) == 0);
        CHECK(fcgi_append_stream_end(&b, FCGI_STDOUT, 1) == 0);
        CHECK(fcgi_append_end_request(&b, 1, whole.app_status,
                                      whole.protocol_status) == 0);
        struct result again;
        run(b.data, b.len, NULL, 0, &again);
        CHECK(again.finish == 0);
        CHECK(buf_equal(&again.out, &whole.out));
        CHECK(buf_equal(&again.err, &whole.err));
        CHECK(again.app_status == whole.app_status);
        CHECK(again.protocol_status == whole.protocol_status);
        result_free(&again);
        pr_buf_free(&b);
    }
    result_free(&whole);
}

static void
check_pairs(const uint8_t *data, size_t size)
{
    struct pr_buf b = PR_BUF_INIT;
    size_t pos = 0, n = 0;
    struct fcgi_pair p;
    char err[FCGI_ERROR_SIZE];
    int r;
    while ((r = fcgi_nv_next(data, size, &pos, &p, err, sizeof(err))) == 1) {
        CHECK(err[0] == '\0');
        CHECK(pos <= size);
        CHECK(p.name.data >= data && p.name.len <= size &&
              p.name.data + p.name.len <= data + size);
        CHECK(p.value.data == p.name.data + p.name.len);
        CHECK(p.value.data + p.value.len == data + pos);
        CHECK(fcgi_nv_append(&b, p.name.data, p.name.len, p.value.data,
                             p.value.len) == 0);
        n++;
    }
    if (r == 0) {
        CHECK(pos == size && err[0] == '\0');
        /* canonical re-encoding decodes to the same pairs */
        size_t pos2 = 0, pos1 = 0, m = 0;
        struct fcgi_pair q;
        while (fcgi_nv_next(b.data, b.len, &pos2, &q, NULL, 0) == 1) {
            CHECK(fcgi_nv_next(data, size, &pos1, &p, NULL, 0) == 1);
            CHECK(q.name.len == p.name.len && q.value.len == p.value.len);
            CHECK(q.name.len == 0 ||
                  memcmp(q.name.data, p.name.data, q.name.len) == 0);
            CHECK(q.value.len == 0 ||
                  memcmp(q.value.data, p.value.data, q.value.len) == 0);
            m++;
        }
        CHECK(m == n && pos2 == b.len);
    } else {
        CHECK(r == -EBADMSG);
        CHECK(err[0] != '\0');
    }
    pr_buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_records(data, size);
    check_pairs(data, size);
    return 0;
}
