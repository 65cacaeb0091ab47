/*
 * Unit tests: dp_translate (translation client stock) against a scripted
 * translation server running in a thread of the test, on an abstract
 * socket with a unique name.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_translate.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- the scripted server ---- */

enum behaviour {
    ANSWER = 1,        /* BEGIN 3, PATH /srv/<n>, END */
    ANSWER_THEN_CLOSE, /* answer, then close the connection */
    GARBAGE,           /* BEGIN 3 + unknown command 287 */
    CLOSE_EARLY,       /* close without answering */
    CLOSE_MIDWAY,      /* half a response, then close */
    HANG,              /* read the request, never answer */
    EXTRA_AFTER_END,   /* a valid response plus bytes after END */
};

struct server {
    int listen_fd;
    char address[64];
    pthread_t thread;
    enum behaviour behaviour;
    int accepts;        /* connections accepted */
    int requests;       /* requests read */
    int stop_pipe[2];
    pthread_mutex_t lock;
};

static void
put_packet(uint8_t **p, uint16_t cmd, const void *payload, uint16_t len)
{
    memcpy(*p, &len, 2);
    memcpy(*p + 2, &cmd, 2);
    if (len > 0)
        memcpy(*p + 4, payload, len);
    *p += 4 + len;
}

/* Read one request (up to END: 00 00 02 00); false on EOF. */
static bool
read_request(int fd)
{
    uint8_t hdr[4];
    for (;;) {
        size_t got = 0;
        while (got < 4) {
            ssize_t n = read(fd, hdr + got, 4 - got);
            if (n <= 0)
                return false;
            got += (size_t)n;
        }
        uint16_t len, cmd;
        memcpy(&len, hdr, 2);
        memcpy(&cmd, hdr + 2, 2);
        uint8_t skip[65536];
        got = 0;
        while (got < len) {
            ssize_t n = read(fd, skip, len - got);
            if (n <= 0)
                return false;
            got += (size_t)n;
        }
        if (cmd == 2)
            return true;
    }
}

static void *
serve_conn(void *arg)
{
    struct server *srv = ((void **)arg)[0];
    int fd = (int)(intptr_t)((void **)arg)[1];
    free(arg);
    while (read_request(fd)) {
        pthread_mutex_lock(&srv->lock);
        int n = ++srv->requests;
        enum behaviour b = srv->behaviour;
        pthread_mutex_unlock(&srv->lock);
        uint8_t out[256], *p = out;
        char path[32];
        int plen = snprintf(path, sizeof(path), "/srv/%d", n);
        put_packet(&p, 1, "\x03", 1);
        switch (b) {
        case GARBAGE:
            put_packet(&p, 287, NULL, 0);
            break;
        case CLOSE_MIDWAY:
            put_packet(&p, 6, path, (uint16_t)plen);
            p -= 2;     /* cut the payload short */
            break;
        default:
            put_packet(&p, 6, path, (uint16_t)plen);
            put_packet(&p, 2, NULL, 0);
            if (b == EXTRA_AFTER_END)
                put_packet(&p, 6, "/x", 2);
        }
        if (b == CLOSE_EARLY)
            break;
        if (b == HANG) {
            char c;
            while (read(fd, &c, 1) > 0) {
            }
            break;
        }
        if (write(fd, out, (size_t)(p - out)) < 0)
            break;
        if (b == ANSWER_THEN_CLOSE || b == CLOSE_MIDWAY || b == GARBAGE)
            break;
    }
    close(fd);
    return NULL;
}

static void *
accept_loop(void *arg)
{
    struct server *srv = arg;
    for (;;) {
        int fd = accept(srv->listen_fd, NULL, NULL);
        if (fd < 0)
            return NULL;        /* listener shut down */
        pthread_mutex_lock(&srv->lock);
        srv->accepts++;
        pthread_mutex_unlock(&srv->lock);
        void **a = malloc(2 * sizeof(void *));
        a[0] = srv;
        a[1] = (void *)(intptr_t)fd;
        pthread_t t;
        pthread_create(&t, NULL, serve_conn, a);
        pthread_detach(t);
    }
}

static void
server_start(struct server *srv, enum behaviour b)
{
    static int counter;
    memset(srv, 0, sizeof(*srv));
    pthread_mutex_init(&srv->lock, NULL);
    srv->behaviour = b;
    snprintf(srv->address, sizeof(srv->address), "@portier-test-dpt-%d-%d",
             (int)getpid(), ++counter);
    struct sockaddr_un sun = { .sun_family = AF_LOCAL };
    size_t n = strlen(srv->address);
    memcpy(sun.sun_path + 1, srv->address + 1, n - 1);
    srv->listen_fd = socket(AF_LOCAL, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(srv->listen_fd >= 0);
    assert_int_equal(bind(srv->listen_fd, (struct sockaddr *)&sun,
                          (socklen_t)(offsetof(struct sockaddr_un, sun_path)
                                      + n)), 0);
    assert_int_equal(listen(srv->listen_fd, 64), 0);
    pthread_create(&srv->thread, NULL, accept_loop, srv);
}

static void
server_stop(struct server *srv)
{
    shutdown(srv->listen_fd, SHUT_RDWR);
    pthread_join(srv->thread, NULL);
    close(srv->listen_fd);
}

static int
server_get(struct server *srv, int *field)
{
    pthread_mutex_lock(&srv->lock);
    int v = *field;
    pthread_mutex_unlock(&srv->lock);
    return v;
}

static void
server_set(struct server *srv, enum behaviour b)
{
    pthread_mutex_lock(&srv->lock);
    srv->behaviour = b;
    pthread_mutex_unlock(&srv->lock);
}

/* ---- the client side ---- */

struct result {
    int calls;
    int status;
    char path[64];
    char msg[300];
};

static void
on_result(void *ctx, struct tp_response *response, int status,
          const char *msg)
{
    struct result *r = ctx;
    r->calls++;
    r->status = status;
    if (response != NULL) {
        assert_int_equal(status, 0);
        assert_null(msg);
        snprintf(r->path, sizeof(r->path), "%s",
                 response->address.path ? response->address.path : "");
        tp_response_free(response);
        free(response);
    } else {
        assert_non_null(msg);
        snprintf(r->msg, sizeof(r->msg), "%s", msg);
    }
}

static void
make_request(struct tp_request *req)
{
    tp_request_init(req);
    req->host = tp_slice_str("example.com");
    req->uri = tp_slice_str("/index.html");
}

/* Run the loop until every result has been called (bounded). */
static void
run_until(uv_loop_t *loop, struct result *r, int n)
{
    for (int spins = 0; spins < 20000; spins++) {
        bool all = true;
        for (int i = 0; i < n; i++)
            if (r[i].calls == 0)
                all = false;
        if (all)
            return;
        uv_run(loop, UV_RUN_ONCE);
    }
    fail_msg("callbacks did not run");
}

static void
finish(uv_loop_t *loop, struct dp_translate_stock *stock)
{
    dp_translate_stock_free(stock);
    uv_run(loop, UV_RUN_DEFAULT);   /* close callbacks free everything */
    assert_int_equal(uv_loop_close(loop), 0);
}

static void
test_answer_and_reuse(void **state)
{
    (void)state;
    struct server srv;
    server_start(&srv, ANSWER);
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[200];
    struct dp_translate_stock *stock =
        dp_translate_stock_new(&loop, srv.address, NULL, err, sizeof(err));
    assert_non_null(stock);
    struct tp_request req;
    make_request(&req);
    for (int i = 1; i <= 3; i++) {
        struct result r = {0};
        assert_non_null(dp_translate(stock, &req, 0, on_result, &r, NULL));
        run_until(&loop, &r, 1);
        assert_int_equal(r.calls, 1);
        char want[32];
        snprintf(want, sizeof(want), "/srv/%d", i);
        assert_string_equal(r.path, want);
    }
    /* one connection served all three */
    assert_int_equal(server_get(&srv, &srv.accepts), 1);
    struct dp_translate_stats st;
    dp_translate_stock_stats(stock, &st);
    assert_int_equal(st.requests, 3);
    assert_int_equal(st.failures, 0);
    assert_int_equal(st.connections, 1);
    assert_int_equal(st.idle, 1);
    finish(&loop, stock);
    server_stop(&srv);
}

static void
test_limit_and_waiting(void **state)
{
    (void)state;
    struct server srv;
    server_start(&srv, ANSWER);
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[200];
    struct dp_translate_options opt = { .limit = 2 };
    struct dp_translate_stock *stock =
        dp_translate_stock_new(&loop, srv.address, &opt, err, sizeof(err));
    struct tp_request req;
    make_request(&req);
    struct result r[6] = {0};
    for (int i = 0; i < 6; i++)
        assert_non_null(dp_translate(stock, &req, 0, on_result, &r[i],
                                     NULL));
    struct dp_translate_stats st;
    dp_translate_stock_stats(stock, &st);
    assert_int_equal(st.connections, 2);
    assert_int_equal(st.waiting, 4);
    run_until(&loop, r, 6);
    for (int i = 0; i < 6; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].status, 0);
    }
    assert_int_equal(server_get(&srv, &srv.accepts), 2);
    finish(&loop, stock);
    server_stop(&srv);
}

static void
test_failures_name_the_cause(void **state)
{
    (void)state;
    static const struct {
        enum behaviour b;
        int status;
        const char *msg;
    } cases[] = {
        { GARBAGE, 502, "unknown translation packet 287" },
        { CLOSE_EARLY, 502, "closed the connection without answering" },
        { CLOSE_MIDWAY, 502, "in the middle of the response" },
        { HANG, 504, "no complete response within 200 ms" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct server srv;
        server_start(&srv, cases[i].b);
        uv_loop_t loop;
        uv_loop_init(&loop);
        char err[200];
        struct dp_translate_options opt = { .read_timeout_ms = 200 };
        struct dp_translate_stock *stock = dp_translate_stock_new(
            &loop, srv.address, &opt, err, sizeof(err));
        struct tp_request req;
        make_request(&req);
        struct result r = {0};
        dp_translate(stock, &req, 0, on_result, &r, NULL);
        run_until(&loop, &r, 1);
        assert_int_equal(r.calls, 1);
        assert_int_equal(r.status, cases[i].status);
        if (strstr(r.msg, cases[i].msg) == NULL ||
            strstr(r.msg, srv.address) == NULL)
            fail_msg("case %zu: message \"%s\"", i, r.msg);
        struct dp_translate_stats st;
        dp_translate_stock_stats(stock, &st);
        assert_int_equal(st.failures, 1);
        assert_int_equal(st.connections, 0);
        finish(&loop, stock);
        server_stop(&srv);
    }
}

static void
test_not_running_then_recovers(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[200];
    struct server srv;
    server_start(&srv, ANSWER);
    server_stop(&srv);          /* nobody listens on this name any more */
    struct dp_translate_stock *stock =
        dp_translate_stock_new(&loop, srv.address, NULL, err, sizeof(err));
    struct tp_request req;
    make_request(&req);
    struct result r = {0};
    assert_non_null(dp_translate(stock, &req, 0, on_result, &r, NULL));
    assert_int_equal(r.calls, 0);   /* never from inside dp_translate() */
    run_until(&loop, &r, 1);
    assert_int_equal(r.status, 502);
    assert_non_null(strstr(r.msg, "cannot connect to translation server"));
    assert_non_null(strstr(r.msg, "Connection refused"));

    /* the server comes back under the same name */
    struct server srv2;
    server_start(&srv2, ANSWER);
    dp_translate_stock_free(stock);
    uv_run(&loop, UV_RUN_DEFAULT);
    stock = dp_translate_stock_new(&loop, srv2.address, NULL, err,
                                   sizeof(err));
    struct result r2 = {0};
    dp_translate(stock, &req, 0, on_result, &r2, NULL);
    run_until(&loop, &r2, 1);
    assert_int_equal(r2.status, 0);
    finish(&loop, stock);
    server_stop(&srv2);
}

static void
test_idle_close_is_retried_once(void **state)
{
    (void)state;
    struct server srv;
    server_start(&srv, ANSWER_THEN_CLOSE);
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[200];
    struct dp_translate_stock *stock =
        dp_translate_stock_new(&loop, srv.address, NULL, err, sizeof(err));
    struct tp_request req;
    make_request(&req);
    for (int i = 0; i < 3; i++) {
        struct result r = {0};
        dp_translate(stock, &req, 0, on_result, &r, NULL);
        run_until(&loop, &r, 1);
        assert_int_equal(r.status, 0);
    }
    /* each request needed a fresh connection; none failed */
    assert_int_equal(server_get(&srv, &srv.accepts), 3);
    finish(&loop, stock);
    server_stop(&srv);
}

static void
test_extra_after_end_closes_connection(void **state)
{
    (void)state;
    struct server srv;
    server_start(&srv, EXTRA_AFTER_END);
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[200];
    struct dp_translate_stock *stock =
        dp_translate_stock_new(&loop, srv.address, NULL, err, sizeof(err));
    struct tp_request req;
    make_request(&req);
    struct result r = {0};
    dp_translate(stock, &req, 0, on_result, &r, NULL);
    run_until(&loop, &r, 1);
    assert_int_equal(r.status, 0);     /* the response itself is valid */
    struct dp_translate_stats st;
    dp_translate_stock_stats(stock, &st);
    assert_int_equal(st.connections, 0);  /* but not reused */
    server_set(&srv, ANSWER);
    struct result r2 = {0};
    dp_translate(stock, &req, 0, on_result, &r2, NULL);
    run_until(&loop, &r2, 1);
    assert_int_equal(r2.status, 0);
    assert_int_equal(server_get(&srv, &srv.accepts), 2);
    finish(&loop, stock);
    server_stop(&srv);
}

static void
test_cancel(void **state)
{
    (void)state;
    struct server srv;
    server_start(&srv, HANG);
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[200];
    struct dp_translate_options opt = { .limit = 1 };
    struct dp_translate_stock *stock =
        dp_translate_stock_new(&loop, srv.address, &opt, err, sizeof(err));
    struct tp_request req;
    make_request(&req);
    struct result r1 = {0}, r2 = {0};
    struct dp_translate_op *op1 =
        dp_translate(stock, &req, 0, on_result, &r1, NULL);
    struct dp_translate_op *op2 =
        dp_translate(stock, &req, 0, on_result, &r2, NULL);
    for (int i = 0; i < 20; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    dp_translate_cancel(op2);          /* waiting */
    dp_translate_cancel(op1);          /* in flight */
    for (int i = 0; i < 20; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(r1.calls + r2.calls, 0);
    struct dp_translate_stats st;
    dp_translate_stock_stats(stock, &st);
    assert_int_equal(st.connections, 0);
    assert_int_equal(st.waiting, 0);

    /* a failure waiting to be reported can be cancelled too */
    server_stop(&srv);
    struct dp_translate_stock *gone =
        dp_translate_stock_new(&loop, srv.address, NULL, err, sizeof(err));
    struct result r3 = {0};
    dp_translate_cancel(dp_translate(gone, &req, 0, on_result, &r3, NULL));
    dp_translate_stock_free(gone);
    finish(&loop, stock);
    assert_int_equal(r3.calls, 0);
}

static void
test_bad_addresses(void **state)
{
    (void)state;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char err[200];
    assert_null(dp_translate_stock_new(&loop, "127.0.0.1:80", NULL, err,
                                       sizeof(err)));
    assert_non_null(strstr(err, "is not a local socket"));
    assert_null(dp_translate_stock_new(&loop, "@", NULL, err, sizeof(err)));
    char longpath[200];
    memset(longpath, 'a', sizeof(longpath));
    longpath[0] = '/';
    longpath[199] = '\0';
    assert_null(dp_translate_stock_new(&loop, longpath, NULL, err,
                                       sizeof(err)));
    assert_int_equal(uv_loop_close(&loop), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_and_reuse),
        cmocka_unit_test(test_limit_and_waiting),
        cmocka_unit_test(test_failures_name_the_cause),
        cmocka_unit_test(test_not_running_then_recovers),
        cmocka_unit_test(test_idle_close_is_retried_once),
        cmocka_unit_test(test_extra_after_end_closes_connection),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_bad_addresses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
