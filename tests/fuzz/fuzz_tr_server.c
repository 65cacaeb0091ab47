/*
 * Fuzz target: the translation server's connection handling
 * (translator/tr_server): framing, parsing, requests split anywhere or
 * sent back to back, the bytes kept for after an answer, bad requests.
 *
 * The first input byte chooses the write chunk size and whether the
 * handler answers at once or from the next loop turn; the rest is sent
 * over a socketpair served with tr_server_adopt(), then the write side is
 * shut down.
 *
 * Invariants (abort() when one breaks):
 * - The server closes the connection within a bounded number of loop
 *   turns after the input ends (no hang, no timer needed).
 * - Every handler call produced exactly one response on the wire, in
 *   order: the peer reads complete responses only (BEGIN 3, MESSAGE with
 *   the request's number, END), as many as the handler was called.
 * - One request in flight: the handler is never called while an answer
 *   is pending.
 * - At most one log line (one bad request ends the connection).
 * - Closing the server afterwards completes and leaves the loop empty.
 */
#include "tr_server.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>
#include <uv.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct state {
    uv_loop_t loop;
    struct tr_server *server;
    bool deferred;
    struct tr_request_ctx *held;
    uv_idle_t idle;
    unsigned calls;
    unsigned logs;
    char last_log[512];
    bool closed;
};

static void
answer(struct state *st, struct tr_request_ctx *ctx)
{
    char text[32];
    snprintf(text, sizeof(text), "%u", st->calls);
    struct tr_response *r = tr_request_ctx_response(ctx);
    if (tr_response_message(r, text) != 0)
        abort();
    tr_request_ctx_reply(ctx, r);
}

static void
on_idle(uv_idle_t *h)
{
    struct state *st = h->data;
    uv_idle_stop(h);
    struct tr_request_ctx *ctx = st->held;
    st->held = NULL;
    answer(st, ctx);
}

static void
handler(struct tr_request_ctx *ctx, const struct tp_request *req,
        void *userdata)
{
    struct state *st = userdata;
    (void)req;
    if (st->held != NULL)
        abort();        /* two requests in flight on one connection */
    st->calls++;
    if (st->deferred) {
        st->held = ctx;
        uv_idle_start(&st->idle, on_idle);
        return;
    }
    answer(st, ctx);
}

static void
on_log(const char *line, void *userdata)
{
    struct state *st = userdata;
    st->logs++;
    snprintf(st->last_log, sizeof(st->last_log), "%s", line);
}

static void
on_closed(struct tr_server *s, void *arg)
{
    (void)s;
    ((struct state *)arg)->closed = true;
}

/* Check the responses the peer received: n of them, numbered 1..n. */
static void
check_responses(const uint8_t *d, size_t len, unsigned n)
{
    size_t pos = 0;
    for (unsigned i = 1; i <= n; i++) {
        char text[32];
        int tl = snprintf(text, sizeof(text), "%u", i);
        uint8_t want[64];
        size_t w = 0;
        const uint8_t begin[] = { 1, 0, 1, 0, 3 };
        memcpy(want, begin, 5);
        w = 5;
        uint16_t l = (uint16_t)tl, c = 188;    /* MESSAGE */
        memcpy(want + w, &l, 2);
        memcpy(want + w + 2, &c, 2);
        memcpy(want + w + 4, text, (size_t)tl);
        w += 4 + (size_t)tl;
        const uint8_t end[] = { 0, 0, 2, 0 };
        memcpy(want + w, end, 4);
        w += 4;
        if (len - pos < w || memcmp(d + pos, want, w) != 0)
            abort();
        pos += w;
    }
    if (pos != len)
        abort();        /* bytes beyond the answered requests */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t chunk = (data[0] & 0x3f) + 1;
    bool deferred = (data[0] & 0x40) != 0;
    data++;
    size--;

    struct state st;
    memset(&st, 0, sizeof(st));
    if (uv_loop_init(&st.loop) != 0)
        abort();
    st.deferred = deferred;
    uv_idle_init(&st.loop, &st.idle);
    st.idle.data = &st;
    st.server = tr_server_new(&st.loop, handler, &st);
    if (st.server == NULL)
        abort();
    tr_server_set_log(st.server, on_log, &st);

    int sv[2];
    if (socketpair(AF_LOCAL, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    if (tr_server_adopt(st.server, sv[0]) != 0)
        abort();
    fcntl(sv[1], F_SETFL, O_NONBLOCK);

    uint8_t *got = NULL;
    size_t got_len = 0, got_cap = 0, pos = 0;
    bool shut = false;
    for (unsigned turn = 0; turn < 100000; turn++) {
        if (pos < size) {
            size_t n = size - pos < chunk ? size - pos : chunk;
            ssize_t w = send(sv[1], data + pos, n, MSG_NOSIGNAL);
            if (w > 0)
                pos += (size_t)w;
        } else if (!shut) {
            shutdown(sv[1], SHUT_WR);
            shut = true;
        }
        uv_run(&st.loop, UV_RUN_NOWAIT);
        for (;;) {
            if (got_cap - got_len < 4096) {
                got_cap = got_cap * 2 + 4096;
                got = realloc(got, got_cap);
                if (got == NULL)
                    abort();
            }
            ssize_t r = recv(sv[1], got + got_len, got_cap - got_len, 0);
            if (r <= 0)
                break;
            got_len += (size_t)r;
        }
        if (tr_server_connection_count(st.server) == 0)
            break;
    }
    if (tr_server_connection_count(st.server) != 0)
        abort();        /* did not close after the input ended */
    /* a bad request ends the input early: pos may be < size */
    check_responses(got, got_len, st.calls);
    if (st.logs > 1)
        abort();

    tr_server_close(st.server, on_closed, &st);
    uv_close((uv_handle_t *)&st.idle, NULL);
    uv_run(&st.loop, UV_RUN_DEFAULT);
    if (!st.closed || uv_loop_close(&st.loop) != 0)
        abort();
    close(sv[1]);
    free(got);
    return 0;
}
