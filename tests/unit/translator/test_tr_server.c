/* Unit tests for translator/tr_server.
 *
 * Connections are socketpairs handed to the server with tr_server_adopt();
 * the test plays the data plane on the other end with plain non-blocking
 * socket calls and turns the uv loop between them.  Listening is tested on
 * abstract sockets with unique names and on a path in a temporary
 * directory; tr_server_run() in a forked child.  Request bytes are
 * written out by hand (little-endian, command numbers of spec §1.4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tr_server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#define HDR(len, cmd)                                                      \
    (uint8_t)((len)&0xff), (uint8_t)((len) >> 8), (uint8_t)((cmd)&0xff),   \
        (uint8_t)((cmd) >> 8)

/* BEGIN 3, HOST "a.b", URI "/x", END */
static const uint8_t REQ[] = {
    HDR(1, 1), 0x03,
    HDR(3, 3), 'a', '.', 'b',
    HDR(2, 4), '/', 'x',
    HDR(0, 2),
};

/* BEGIN 3, URI "/y", WANT [USER_AGENT], USER_AGENT "ua", END */
static const uint8_t REQ2[] = {
    HDR(1, 1), 0x03,
    HDR(2, 4), '/', 'y',
    HDR(2, 115), 35, 0,
    HDR(2, 35), 'u', 'a',
    HDR(0, 2),
};

/* The answer of the test handler to REQ: BEGIN 3, MESSAGE "/x", END */
static const uint8_t RESP_X[] = {
    HDR(1, 1), 0x03,
    HDR(2, 188), '/', 'x',
    HDR(0, 2),
};
static const uint8_t RESP_Y[] = {
    HDR(1, 1), 0x03,
    HDR(2, 188), '/', 'y',
    HDR(0, 2),
};

enum mode {
    M_SYNC = 1,     /* answer inside the handler */
    M_ASYNC,        /* answer from a timer */
    M_HOLD,         /* keep the ctx; the test answers */
    M_REFUSED,      /* a response the builder refuses at finish */
    M_NULL,         /* no response at all */
    M_STOP,         /* answer, then close the server */
};

struct fx {
    uv_loop_t loop;
    struct tr_server *s;
    enum mode mode;
    int peer;
    int calls;
    int in_flight, max_in_flight;
    char uri[64];
    char user_agent[64];
    uint8_t version;
    struct tr_request_ctx *held;
    uv_timer_t timer;
    bool timer_open;
    char log[8][512];
    int n_log;
    bool closed;
};

static struct fx *current;

static void
on_log(const char *line, void *userdata)
{
    struct fx *f = userdata;
    if (f->n_log < 8)
        snprintf(f->log[f->n_log], sizeof(f->log[0]), "%s", line);
    f->n_log++;
}

static struct tr_response *
answer_for(struct tr_request_ctx *ctx)
{
    const struct tp_request *req = tr_request_ctx_request(ctx);
    struct tr_response *r = tr_request_ctx_response(ctx);
    assert_non_null(r);
    assert_int_equal(tr_response_message(r, (const char *)req->uri.data), 0);
    return r;
}

static void
on_async(uv_timer_t *t)
{
    struct fx *f = t->data;
    struct tr_request_ctx *ctx = f->held;
    f->held = NULL;
    f->in_flight--;
    tr_request_ctx_reply(ctx, answer_for(ctx));
}

static void
handler(struct tr_request_ctx *ctx, const struct tp_request *req,
        void *userdata)
{
    struct fx *f = userdata;
    assert_ptr_equal(tr_request_ctx_request(ctx), req);
    assert_ptr_equal(tr_request_ctx_server(ctx), f->s);
    f->calls++;
    if (++f->in_flight > f->max_in_flight)
        f->max_in_flight = f->in_flight;
    f->version = req->version;
    snprintf(f->uri, sizeof(f->uri), "%s",
             req->uri.data ? (const char *)req->uri.data : "");
    snprintf(f->user_agent, sizeof(f->user_agent), "%s",
             req->user_agent.data ? (const char *)req->user_agent.data : "");

    switch (f->mode) {
    case M_SYNC:
    case M_STOP:
        f->in_flight--;
        tr_request_ctx_reply(ctx, answer_for(ctx));
        if (f->mode == M_STOP)
            tr_server_close(f->s, NULL, NULL);
        return;
    case M_ASYNC:
        f->held = ctx;
        uv_timer_start(&f->timer, on_async, 5, 0);
        return;
    case M_HOLD:
        f->held = ctx;
        return;
    case M_REFUSED: {
        struct tr_response *r = tr_request_ctx_response(ctx);
        assert_int_equal(tr_response_http(r, "http://h/"), 0);
        f->in_flight--;
        tr_request_ctx_reply(ctx, r);   /* fails at finish: no ADDRESS */
        return;
    }
    case M_NULL:
        f->in_flight--;
        tr_request_ctx_reply(ctx, NULL);
        return;
    }
}

static void
on_closed(struct tr_server *s, void *arg)
{
    struct fx *f = arg;
    assert_ptr_equal(s, f->s);
    f->closed = true;
}

static struct fx *
fx_new(enum mode mode)
{
    const uint16_t one = 1;
    if (*(const uint8_t *)&one != 1)
        skip();
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(uv_loop_init(&f->loop), 0);
    f->mode = mode;
    f->peer = -1;
    f->s = tr_server_new(&f->loop, handler, f);
    assert_non_null(f->s);
    tr_server_set_log(f->s, on_log, f);
    uv_timer_init(&f->loop, &f->timer);
    f->timer.data = f;
    f->timer_open = true;
    current = f;
    return f;
}

/* A socketpair: one end served, the other returned (non-blocking). */
static int
fx_pair(struct fx *f)
{
    int sv[2];
    assert_int_equal(socketpair(AF_LOCAL, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
                     0);
    assert_int_equal(tr_server_adopt(f->s, sv[0]), 0);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    return sv[1];
}

static void
turn(struct fx *f)
{
    uv_run(&f->loop, UV_RUN_NOWAIT);
    struct timespec ts = { 0, 1000000 };
    nanosleep(&ts, NULL);
}

static void
send_bytes(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EAGAIN)
            continue;
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

/* Read until `want` bytes arrived, or EOF (returns what came), within 3 s;
 * *eof tells whether the peer closed. */
static size_t
read_some(struct fx *f, int fd, uint8_t *buf, size_t want, bool *eof)
{
    size_t got = 0;
    *eof = false;
    uint64_t deadline = uv_hrtime() + 3000000000ull;
    while (got < want && uv_hrtime() < deadline) {
        turn(f);
        ssize_t n = recv(fd, buf + got, want - got, 0);
        if (n == 0) {
            *eof = true;
            break;
        }
        if (n > 0)
            got += (size_t)n;
    }
    return got;
}

static void
expect_bytes(struct fx *f, int fd, const uint8_t *want, size_t len)
{
    uint8_t buf[256];
    bool eof;
    assert_true(len <= sizeof(buf));
    size_t got = read_some(f, fd, buf, len, &eof);
    assert_int_equal(got, len);
    assert_memory_equal(buf, want, len);
}

/* The peer sees EOF within 3 s, with nothing before it. */
static void
expect_eof(struct fx *f, int fd)
{
    uint8_t buf[64];
    bool eof;
    size_t got = read_some(f, fd, buf, sizeof(buf), &eof);
    assert_int_equal(got, 0);
    assert_true(eof);
}

static bool
logged(const struct fx *f, const char *needle)
{
    for (int i = 0; i < f->n_log && i < 8; i++)
        if (strstr(f->log[i], needle) != NULL)
            return true;
    return false;
}

#define assert_logged(f, needle)                                           \
    do {                                                                   \
        if (!logged((f), (needle)))                                        \
            fail_msg("no log line contains \"%s\" (%d lines; first: %s)",  \
                     (needle), (f)->n_log, (f)->log[0]);                   \
    } while (0)

static void
fx_free(struct fx *f)
{
    if (f->peer >= 0)
        close(f->peer);
    if (f->s != NULL && !f->closed) {
        tr_server_close(f->s, on_closed, f);
        for (int i = 0; i < 3000 && !f->closed; i++)
            turn(f);
    }
    assert_true(f->closed);
    if (f->timer_open)
        uv_close((uv_handle_t *)&f->timer, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    free(f);
    current = NULL;
}

/* ---- requests and answers ---- */

static void
test_one_request(void **state)
{
    (void)state;
    struct fx *f = fx_new(M_SYNC);
    f->peer = fx_pair(f);
    assert_int_equal(tr_server_connection_count(f->s), 1);
    send_bytes(f->peer, REQ, sizeof(REQ));
    expect_bytes(f, f->peer, RESP_X, sizeof(RESP_X));
    assert_int_equal(f->calls, 1);
    assert_int_equal(f->version, 3);
    assert_string_equal(f->uri, "/x");
    assert_int_equal(f->n_log, 0);
    fx_free(f);
}

static void
test_sequential_requests(void **state)
{
    (void)state;
    struct fx *f = fx_new(M_SYNC);
    f->peer = fx_pair(f);
    for (int i = 0; i < 3; i++) {
        send_bytes(f->peer, REQ, sizeof(REQ));
        expect_bytes(f, f->peer, RESP_X, sizeof(RESP_X));
        send_bytes(f->peer, REQ2, sizeof(REQ2));
        expect_bytes(f, f->peer, RESP_Y, sizeof(RESP_Y));
    }
    assert_int_equal(f->calls, 6);
    assert_string_equal(f->user_agent, "ua");   /* fields of the second */
    assert_int_equal(f->n_log, 0);
    fx_free(f);
}

/* Both requests in one write: answered in order, one at a time. */
static void
test_pipelined_requests_one_at_a_time(void **state)
{
    (void)state;
    struct fx *f = fx_new(M_ASYNC);
    f->peer = fx_pair(f);
    uint8_t both[sizeof(REQ) + sizeof(REQ2)];
    memcpy(both, REQ, sizeof(REQ));
    memcpy(both + sizeof(REQ), REQ2, sizeof(REQ2));
    send_bytes(f->peer, both, sizeof(both));
    uint8_t want[sizeof(RESP_X) + sizeof(RESP_Y)];
    memcpy(want, RESP_X, sizeof(RESP_X));
    memcpy(want + sizeof(RESP_X), RESP_Y, sizeof(RESP_Y));
    expect_bytes(f, f->peer, want, sizeof(want));
    assert_int_equal(f->calls, 2);
    assert_int_equal(f->max_in_flight, 1);
    fx_free(f);
}

static void
test_byte_by_byte(void **state)
{
    (void)state;
    struct fx *f = fx_new(M_SYNC);
    f->peer = fx_pair(f);
    for (size_t i = 0; i < sizeof(REQ); i++) {
        send_bytes(f->peer, REQ + i, 1);
        turn(f);
    }
    expect_bytes(f, f->peer, RESP_X, sizeof(RESP_X));
    assert_int_equal(f->calls, 1);
    fx_free(f);
}

static void
test_async_reply(void **state)
{
    (void)state;
    struct fx *f = fx_new(M_ASYNC);
    f->peer = fx_pair(f);
    send_bytes(f->peer, REQ, sizeof(REQ));
    expect_bytes(f, f->peer, RESP_X, sizeof(RESP_X));
    send_bytes(f->peer, REQ, sizeof(REQ));
    expect_bytes(f, f->peer, RESP_X, sizeof(RESP_X));
    assert_int_equal(f->calls, 2);
    fx_free(f);
}

/* Many connections at once, each answered. */
static void
test_many_connections(void **state)
{
    (void)state;
    struct fx *f = fx_new(M_ASYNC);
    int peers[20];
    for (int i = 0; i < 20; i++)
        peers[i] = fx_pair(f);
    assert_int_equal(tr_server_connection_count(f->s), 20);
    /* the async handler holds one ctx at a time in this fixture: answer
     * them in turn */
    for (int i = 0; i < 20; i++) {
        send_bytes(peers[i], REQ2, sizeof(REQ2));
        expect_bytes(f, peers[i], RESP_Y, sizeof(RESP_Y));
    }
    assert_int_equal(f->calls, 20);
    for (int i = 0; i < 20; i++)
        close(peers[i]);
    for (int i = 0; i < 1000 && tr_server_connection_count(f->s) > 0; i++)
        turn(f);
    assert_int_equal(tr_server_connection_count(f->s), 0);
    assert_int_equal(f->n_log, 0);   /* closing between requests is fine */
    fx_free(f);
}

/* ---- bad requests ---- */

static void
bad_request_case(const uint8_t *bytes, size_t len, const char *why)
{
    struct fx *f = fx_new(M_SYNC);
    f->peer = fx_pair(f);
    int other = fx_pair(f);
    send_bytes(f->peer, bytes, len);
    expect_eof(f, f->peer);
    assert_int_equal(f->calls, 0);
    assert_int_equal(f->n_log, 1);
    assert_logged(f, "translation connection 1");
    assert_logged(f, "bad request: ");
    assert_logged(f, why);
    /* the other connection still works */
    send_bytes(other, REQ, sizeof(REQ));
    expect_bytes(f, other, RESP_X, sizeof(RESP_X));
    close(other);
    fx_free(f);
}

static void
test_bad_requests(void **state)
{
    (void)state;
    static const uint8_t not_begin[] = { HDR(2, 4), '/', 'x' };
    bad_request_case(not_begin, sizeof(not_begin),
                     "request does not start with BEGIN (got URI)");
    /* PATH (6) is a response packet */
    static const uint8_t response_packet[] = {
        HDR(1, 1), 3, HDR(2, 6), '/', 'x', HDR(0, 2),
    };
    bad_request_case(response_packet, sizeof(response_packet),
                     "response-only packet PATH in request");
    static const uint8_t duplicate[] = {
        HDR(1, 1), 3, HDR(1, 3), 'a', HDR(1, 3), 'b', HDR(0, 2),
    };
    bad_request_case(duplicate, sizeof(duplicate), "duplicate HOST");
    static const uint8_t unknown[] = { HDR(1, 1), 3, HDR(0, 25) };
    bad_request_case(unknown, sizeof(unknown), "unknown packet 25");
}

static void
test_eof_inside_request(void **state)
{
    (void)state;
    struct fx *f = fx_new(M_SYNC);
    int peer = fx_pair(f);
    send_bytes(peer, REQ, 7);
    turn(f);
    close(peer);
    for (int i = 0; i < 1000 && tr_server_connection_count(f->s) > 0; i++)
        turn(f);
    assert_int_equal(tr_server_connection_count(f->s), 0);
    assert_logged(f, "connection closed inside a request (7 bytes");
    fx_free(f);
}

static void
test_read_timeout(void **state)
{
    (void)state;
    struct fx *f = fx_new(M_SYNC);
    tr_server_set_read_timeout(f->s, 50);
    f->peer = fx_pair(f);
    send_bytes(f->peer, REQ, 9);
    uint64_t t0 = uv_hrtime();
    expect_eof(f, f->peer);
    assert_true(uv_hrtime() - t0 >= 40000000ull);
    assert_logged(f, "request incomplete after 50 ms without data");
    fx_free(f);
}

static void
test_idle_timeout(void **state)
{
    (void)state;
    struct fx *f = fx_new(M_SYNC);
    tr_server_set_idle_timeout(f->s, 30);
    f->peer = fx_pair(f);
    send_bytes(f->peer, REQ, sizeof(REQ));
    expect_bytes(f, f->peer, RESP_X, sizeof(RESP_X));
    expect_eof(f, f->peer);
    assert_int_equal(f->n_log, 0);      /* idle close is not an error */
    fx_free(f);
}

static void
test_no_idle_timeout_by_default(void **state)
{
    (void)state;
    struct fx *f = fx_new(M_SYNC);
    tr_server_set_read_timeout(f->s, 20);
    f->peer = fx_pair(f);
    send_bytes(f->peer, REQ, sizeof(REQ));
    expect_bytes(f, f->peer, RESP_X, sizeof(RESP_X));
    for (int i = 0; i < 60; i++)
        turn(f);   /* > 3 read timeouts */
    assert_int_equal(tr_server_connection_count(f->s), 1);
    send_bytes(f->peer, REQ, sizeof(REQ));
    expect_bytes(f, f->peer, RESP_X, sizeof(RESP_X));
    fx_free(f);
}

static void
test_max_request_size(void **state)
{
    (void)state;
    struct fx *f = fx_new(M_SYNC);
    tr_server_set_max_request_size(f->s, 16);
    f->peer = fx_pair(f);
    send_bytes(f->peer, REQ, sizeof(REQ));     /* 23 bytes */
    expect_eof(f, f->peer);
    assert_logged(f, "bad request: request longer than 16 bytes");
    assert_int_equal(f->calls, 0);
    fx_free(f);
}

static void
test_refused_response(void **state)
{
    (void)state;
    struct fx *f = fx_new(M_REFUSED);
    f->peer = fx_pair(f);
    send_bytes(f->peer, REQ, sizeof(REQ));
    expect_eof(f, f->peer);
    assert_logged(f, "response refused: no ADDRESS for HTTP address");
    fx_free(f);

    f = fx_new(M_NULL);
    f->peer = fx_pair(f);
    send_bytes(f->peer, REQ, sizeof(REQ));
    expect_eof(f, f->peer);
    assert_logged(f, "no response for the request");
    fx_free(f);
}

/* ---- closing ---- */

/* A pending request keeps the server open until it is answered. */
static void
test_close_with_pending_request(void **state)
{
    (void)state;
    struct fx *f = fx_new(M_HOLD);
    f->peer = fx_pair(f);
    send_bytes(f->peer, REQ, sizeof(REQ));
    for (int i = 0; i < 1000 && f->held == NULL; i++)
        turn(f);
    assert_non_null(f->held);
    tr_server_close(f->s, on_closed, f);
    tr_server_close(f->s, on_closed, f);   /* a second call does nothing */
    expect_eof(f, f->peer);
    for (int i = 0; i < 20; i++)
        turn(f);
    assert_false(f->closed);
    assert_int_equal(tr_server_connection_count(f->s), 1);
    /* the request is still readable */
    assert_string_equal(
        (const char *)tr_request_ctx_request(f->held)->uri.data, "/x");
    assert_int_equal(tr_server_adopt(f->s, 0), -ESHUTDOWN);
    assert_int_equal(tr_server_listen(f->s, "@x"), -ESHUTDOWN);
    struct tr_request_ctx *ctx = f->held;
    f->held = NULL;
    tr_request_ctx_reply(ctx, answer_for(ctx));
    assert_false(f->closed);   /* from the loop, not inside the reply */
    for (int i = 0; i < 100 && !f->closed; i++)
        turn(f);
    assert_true(f->closed);
    fx_free(f);
}

static void
test_close_idle_server(void **state)
{
    (void)state;
    struct fx *f = fx_new(M_SYNC);
    tr_server_close(f->s, on_closed, f);
    assert_false(f->closed);   /* always from the loop */
    turn(f);
    assert_true(f->closed);
    fx_free(f);
}

static void
test_handler_closes_server(void **state)
{
    (void)state;
    struct fx *f = fx_new(M_STOP);
    f->peer = fx_pair(f);
    send_bytes(f->peer, REQ, sizeof(REQ));
    /* the answer on its way is delivered, then the connection closes */
    expect_bytes(f, f->peer, RESP_X, sizeof(RESP_X));
    expect_eof(f, f->peer);
    f->closed = true;   /* closed without our callback */
    for (int i = 0; i < 10; i++)
        turn(f);
    fx_free(f);
}

/* ---- listening ---- */

static int name_counter;

static void
unique_name(char *buf, size_t len)
{
    snprintf(buf, len, "@portier-test-tr-server-%d-%d", (int)getpid(),
             ++name_counter);
}

static int
connect_to(const char *address)
{
    struct sockaddr_un sun = { .sun_family = AF_LOCAL };
    size_t n = strlen(address);
    memcpy(sun.sun_path, address, n);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    if (address[0] == '@')
        sun.sun_path[0] = '\0';
    else
        len++;
    int fd = socket(AF_LOCAL, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    if (connect(fd, (const struct sockaddr *)&sun, len) < 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

static void
test_listen_abstract_and_limit(void **state)
{
    (void)state;
    struct fx *f = fx_new(M_SYNC);
    char name[108];
    unique_name(name, sizeof(name));
    tr_server_set_max_connections(f->s, 1);
    assert_int_equal(tr_server_listen(f->s, name), 0);
    assert_int_equal(tr_server_listen(f->s, name), -EBUSY);

    int a = connect_to(name), b = connect_to(name);
    assert_true(a >= 0 && b >= 0);    /* both wait in the backlog */
    send_bytes(a, REQ, sizeof(REQ));
    send_bytes(b, REQ2, sizeof(REQ2));
    expect_bytes(f, a, RESP_X, sizeof(RESP_X));
    /* b is not accepted while a is open */
    uint8_t buf[8];
    bool eof;
    assert_int_equal(read_some(f, b, buf, 0, &eof), 0);
    for (int i = 0; i < 30; i++)
        turn(f);
    assert_true(recv(b, buf, sizeof(buf), 0) < 0 && errno == EAGAIN);
    assert_int_equal(tr_server_connection_count(f->s), 1);
    close(a);
    expect_bytes(f, b, RESP_Y, sizeof(RESP_Y));
    close(b);
    assert_int_equal(f->n_log, 0);
    fx_free(f);

    /* the name is free again */
    f = fx_new(M_SYNC);
    assert_int_equal(tr_server_listen(f->s, name), 0);
    /* a second server on the same name */
    struct fx *g = fx_new(M_SYNC);
    assert_int_equal(tr_server_listen(g->s, name), -EADDRINUSE);
    fx_free(g);
    current = f;
    fx_free(f);
}

static void
test_listen_path(void **state)
{
    (void)state;
    char dir[] = "/tmp/portier-test-tr-server-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%.40s/t.sock", dir);

    /* a stale socket file from a dead server */
    int stale = socket(AF_LOCAL, SOCK_STREAM, 0);
    struct sockaddr_un sun = { .sun_family = AF_LOCAL };
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    assert_int_equal(bind(stale, (const struct sockaddr *)&sun, sizeof(sun)),
                     0);
    close(stale);

    struct fx *f = fx_new(M_SYNC);
    assert_int_equal(tr_server_listen(f->s, path), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    /* a live server's socket is not taken over */
    struct fx *g = fx_new(M_SYNC);
    assert_int_equal(tr_server_listen(g->s, path), -EADDRINUSE);
    fx_free(g);
    current = f;
    int a = connect_to(path);
    assert_true(a >= 0);
    send_bytes(a, REQ, sizeof(REQ));
    expect_bytes(f, a, RESP_X, sizeof(RESP_X));
    close(a);
    fx_free(f);
    assert_int_equal(stat(path, &st), -1);    /* removed at close */

    /* a regular file is not replaced */
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fclose(file);
    f = fx_new(M_SYNC);
    assert_int_equal(tr_server_listen(f->s, path), -EADDRINUSE);
    fx_free(f);
    unlink(path);
    rmdir(dir);
}

static void
test_listen_errors(void **state)
{
    (void)state;
    struct fx *f = fx_new(M_SYNC);
    assert_int_equal(tr_server_listen(f->s, NULL), -EINVAL);
    assert_int_equal(tr_server_listen(f->s, ""), -EINVAL);
    assert_int_equal(tr_server_listen(f->s, "@"), -EINVAL);
    assert_int_equal(tr_server_listen(f->s, "relative.sock"), -EINVAL);
    char longname[200];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[0] = '@';
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(tr_server_listen(f->s, longname), -ENAMETOOLONG);
    assert_int_equal(tr_server_listen(f->s, "/nonexistent-dir/x.sock"),
                     -ENOENT);

    int file = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_int_equal(tr_server_listen_fd(f->s, file), -ENOTSOCK);
    assert_int_equal(tr_server_adopt(f->s, file), -ENOTSOCK);
    close(file);
    int sv[2];
    assert_int_equal(socketpair(AF_LOCAL, SOCK_DGRAM, 0, sv), 0);
    assert_int_equal(tr_server_adopt(f->s, sv[0]), -EINVAL);
    close(sv[0]);
    close(sv[1]);
    int notlistening = socket(AF_LOCAL, SOCK_STREAM, 0);
    assert_int_equal(tr_server_listen_fd(f->s, notlistening), -EINVAL);
    close(notlistening);
    assert_int_equal(f->n_log, 0);
    fx_free(f);
}

static void
test_listen_fd(void **state)
{
    (void)state;
    char name[108];
    unique_name(name, sizeof(name));
    struct sockaddr_un sun = { .sun_family = AF_LOCAL };
    memcpy(sun.sun_path + 1, name + 1, strlen(name) - 1);
    int fd = socket(AF_LOCAL, SOCK_STREAM | SOCK_CLOEXEC, 0);
    socklen_t len =
        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
    assert_int_equal(bind(fd, (const struct sockaddr *)&sun, len), 0);
    assert_int_equal(listen(fd, 8), 0);

    struct fx *f = fx_new(M_SYNC);
    assert_int_equal(tr_server_listen_fd(f->s, fd), 0);
    assert_int_equal(tr_server_listen_fd(f->s, fd), -EBUSY);
    int a = connect_to(name);
    assert_true(a >= 0);
    send_bytes(a, REQ, sizeof(REQ));
    expect_bytes(f, a, RESP_X, sizeof(RESP_X));
    close(a);
    fx_free(f);
    /* the server owned the fd: the name is gone */
    assert_int_equal(connect_to(name), -1);
}

/* ---- the blocking API ---- */

static void
run_handler(struct tr_request_ctx *ctx, const struct tp_request *req,
            void *userdata)
{
    (void)userdata;
    struct tr_response *r = tr_request_ctx_response(ctx);
    tr_response_message(r, (const char *)req->uri.data);
    tr_request_ctx_reply(ctx, r);
}

static void
test_run_blocking(void **state)
{
    (void)state;
    char name[108];
    unique_name(name, sizeof(name));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 2);    /* the shutdown line */
        _exit(tr_server_run(name, run_handler, NULL) == 0 ? 0 : 1);
    }
    int a = -1;
    for (int i = 0; i < 3000 && a < 0; i++) {
        a = connect_to(name);
        if (a < 0) {
            struct timespec ts = { 0, 1000000 };
            nanosleep(&ts, NULL);
        }
    }
    assert_true(a >= 0);
    send_bytes(a, REQ, sizeof(REQ));
    uint8_t buf[sizeof(RESP_X)];
    size_t got = 0;
    for (int i = 0; i < 3000 && got < sizeof(buf); i++) {
        ssize_t n = recv(a, buf + got, sizeof(buf) - got, 0);
        if (n > 0)
            got += (size_t)n;
        else {
            struct timespec ts = { 0, 1000000 };
            nanosleep(&ts, NULL);
        }
    }
    assert_int_equal(got, sizeof(RESP_X));
    assert_memory_equal(buf, RESP_X, sizeof(RESP_X));
    close(a);
    kill(pid, SIGTERM);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* a bad address: returns the error at once */
    assert_int_equal(tr_server_run("nowhere", run_handler, NULL), -EINVAL);
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_request),
        cmocka_unit_test(test_sequential_requests),
        cmocka_unit_test(test_pipelined_requests_one_at_a_time),
        cmocka_unit_test(test_byte_by_byte),
        cmocka_unit_test(test_async_reply),
        cmocka_unit_test(test_many_connections),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_eof_inside_request),
        cmocka_unit_test(test_read_timeout),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_no_idle_timeout_by_default),
        cmocka_unit_test(test_max_request_size),
        cmocka_unit_test(test_refused_response),
        cmocka_unit_test(test_close_with_pending_request),
        cmocka_unit_test(test_close_idle_server),
        cmocka_unit_test(test_handler_closes_server),
        cmocka_unit_test(test_listen_abstract_and_limit),
        cmocka_unit_test(test_listen_path),
        cmocka_unit_test(test_listen_errors),
        cmocka_unit_test(test_listen_fd),
        cmocka_unit_test(test_run_blocking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
