/*
 * Unit tests: dp_request_body(), the request body as a source, on a real
 * dp_http server (loop in the test's main thread) with a blocking client
 * in a second thread, over loopback TCP.
 *
 * The handler's behaviour is chosen by the request path:
 *   /echo   read the whole body, answer it back
 *   /slow   the same, taking at most 1000 bytes per data() call and
 *           resuming from a timer (back-pressure)
 *   /early  answer at once without reading the body
 *   /none   answer whether a body source exists ("none" or "body")
 *   /fd     the same as /echo through the readable-descriptor fast path
 *           (dp_body_fd): ask for the descriptor before every read and
 *           recv() from it directly when offered, counting those bytes
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* ---- the server side ---- */

struct reader {
    struct dp_request *req;
    struct dp_body *body;
    uint8_t *data;
    size_t len, cap;
    bool slow;
    uv_timer_t timer;     /* /slow, /fd: resume reading */
    bool fd;              /* /fd */
    bool fd_off;          /* the descriptor ended: read the source */
    bool in_pull;         /* inside reader_pull() */
    bool ended;           /* eof() or error() came */
};

static uv_loop_t loop;
static struct dp_http_server *server;
static uv_async_t done_async;
static int listen_port;

/* What the last body's consumer saw. */
static char last_error[256];
static unsigned n_errors, n_eofs;
static uint64_t fd_bytes;       /* /fd: bytes taken from the descriptor */
static unsigned n_fd_waits;     /* /fd: dp_body_fd_wait() calls */

static void reader_pull(struct reader *r);

static void
reader_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void
reader_free(struct reader *r)
{
    free(r->data);
    r->data = NULL;
    uv_close((uv_handle_t *)&r->timer, reader_timer_closed);
}

/* reader_data() must not call dp_body_read(); /slow resumes from a
 * timer after taking part of what was offered. */
static void
reader_resume(uv_timer_t *t)
{
    struct reader *r = t->data;
    if (r->fd)
        reader_pull(r);
    else
        dp_body_read(r->body);
}

static void
reader_append(struct reader *r, const uint8_t *data, size_t len)
{
    if (r->len + len > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4096;
        while (cap < r->len + len)
            cap *= 2;
        r->data = realloc(r->data, cap);
        assert_non_null(r->data);
        r->cap = cap;
    }
    memcpy(r->data + r->len, data, len);
    r->len += len;
}

static size_t
reader_data(void *ctx, const uint8_t *data, size_t len)
{
    struct reader *r = ctx;
    bool partial = r->slow && len > 1000;
    if (partial)
        len = 1000;
    reader_append(r, data, len);
    /* /fd: data that came from the loop (not inside reader_pull) */
    if (partial || (r->fd && !r->in_pull))
        uv_timer_start(&r->timer, reader_resume, 0, 0);
    return len;
}

/* The source's descriptor is readable (dp_body_fd_wait). */
static void
reader_fd_ready(void *ctx)
{
    reader_pull(ctx);
}

/* /fd: the descriptor when offered, else dp_body_read(); after a read
 * that delivered data, the descriptor is asked for again. */
static void
reader_pull(struct reader *r)
{
    r->in_pull = true;
    for (;;) {
        struct dp_body_fd src;
        if (!r->fd_off && dp_body_fd(r->body, &src)) {
            assert_false(src.is_pipe);
            assert_true(src.length > 0);
            assert_int_equal(r->body->length, src.length);
            uint8_t buf[8192];
            size_t want = src.length < (int64_t)sizeof(buf)
                              ? (size_t)src.length : sizeof(buf);
            ssize_t n = recv(src.fd, buf, want, MSG_DONTWAIT);
            if (n > 0) {
                reader_append(r, buf, (size_t)n);
                fd_bytes += (uint64_t)n;
                dp_body_fd_advance(r->body, (uint64_t)n);
                continue;
            }
            if (n < 0 && errno == EAGAIN) {
                n_fd_waits++;
                dp_body_fd_wait(r->body, reader_fd_ready);
                break;
            }
            r->fd_off = true;   /* the source reports the end itself */
            continue;
        }
        size_t before = r->len;
        dp_body_read(r->body);
        if (r->ended)
            return;             /* r goes with its timer's close */
        if (r->len == before)
            break;              /* the source calls back */
    }
    r->in_pull = false;
}

static void
reader_eof(void *ctx)
{
    struct reader *r = ctx;
    n_eofs++;
    r->ended = true;
    uv_timer_stop(&r->timer);
    struct dp_response_headers h;
    dp_response_headers_init(&h, r->req->pool);
    uint8_t *copy = dp_pool_alloc(r->req->pool, r->len + 1);
    assert_non_null(copy);
    if (r->len > 0)
        memcpy(copy, r->data, r->len);
    struct dp_body *out = dp_body_new_memory(r->req->pool, copy, r->len);
    struct dp_request *req = r->req;
    reader_free(r);
    dp_request_respond(req, 200, &h, out);
}

static void
reader_error(void *ctx, int err, const char *msg)
{
    struct reader *r = ctx;
    (void)err;
    n_errors++;
    r->ended = true;
    snprintf(last_error, sizeof(last_error), "%s", msg);
    uv_timer_stop(&r->timer);
    struct dp_request *req = r->req;
    reader_free(r);
    /* Ignored when the connection is gone or the response started. */
    dp_request_error(req, 400, NULL);
}

static const struct dp_body_handler reader_handler = {
    reader_data, reader_eof, reader_error,
};

static void
reader_abort(void *ctx)
{
    (void)ctx;   /* the body's error() already released the reader */
}

static void
respond_text(struct dp_request *req, const char *text)
{
    struct dp_response_headers h;
    dp_response_headers_init(&h, req->pool);
    dp_request_respond(req, 200, &h,
                       dp_body_new_memory(req->pool, text, strlen(text)));
}

static void
handler(struct dp_request *req, void *ctx)
{
    (void)ctx;
    if (strcmp(req->path, "/early") == 0) {
        respond_text(req, "early");
        return;
    }
    if (strcmp(req->path, "/none") == 0) {
        respond_text(req, dp_request_body(req) == NULL ? "none" : "body");
        return;
    }
    struct dp_body *body = dp_request_body(req);
    if (body == NULL) {
        respond_text(req, "");
        return;
    }
    assert_ptr_equal(dp_request_body(req), body);   /* same source */
    struct reader *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->req = req;
    r->body = body;
    r->slow = strcmp(req->path, "/slow") == 0;
    r->fd = strcmp(req->path, "/fd") == 0;
    uv_timer_init(&loop, &r->timer);
    r->timer.data = r;
    dp_request_set_abort(req, reader_abort, r);
    dp_body_set_handler(body, &reader_handler, r);
    if (r->fd)
        reader_pull(r);
    else
        dp_body_read(body);
}

/* ---- the client thread ---- */

typedef void (*client_fn)(void);

static client_fn client_script;
static pthread_t client_thread;

static void *
client_main(void *arg)
{
    (void)arg;
    client_script();
    uv_async_send(&done_async);
    return NULL;
}

static void
done_cb(uv_async_t *a)
{
    (void)a;
    uv_stop(&loop);
}

static int
client_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_port = htons((uint16_t)listen_port) };
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    struct timeval tv = { .tv_sec = 10 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void
send_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        assert_true(n > 0);
        p += n;
        len -= (size_t)n;
    }
}

static void
send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
}

/* Read one response (Content-Length framed); returns its status and the
 * body (malloc'ed, NUL-terminated) in *body; -1 on EOF. */
static int
read_response(int fd, char **body, size_t *body_len)
{
    char head[8192];
    size_t n = 0;
    char *end = NULL;
    while (end == NULL) {
        assert_true(n < sizeof(head) - 1);
        ssize_t r = recv(fd, head + n, 1, 0);
        if (r <= 0)
            return -1;
        n++;
        head[n] = '\0';
        end = strstr(head, "\r\n\r\n");
    }
    int status = atoi(head + 9);
    const char *cl = strcasestr(head, "\r\nContent-Length: ");
    assert_non_null(cl);
    size_t len = (size_t)strtoull(cl + 18, NULL, 10);
    char *b = malloc(len + 1);
    assert_non_null(b);
    size_t got = 0;
    while (got < len) {
        ssize_t r = recv(fd, b + got, len - got, 0);
        assert_true(r > 0);
        got += (size_t)r;
    }
    b[len] = '\0';
    *body = b;
    *body_len = len;
    return status;
}

static void
expect_response(int fd, int status, const char *body)
{
    char *b;
    size_t len;
    assert_int_equal(read_response(fd, &b, &len), status);
    assert_string_equal(b, body);
    free(b);
}

/* True when the server closes the connection (within SO_RCVTIMEO),
 * whatever it sends before. */
static bool
peer_closed(int fd)
{
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
        ;
    return n == 0;
}

static void
run_client(client_fn fn)
{
    last_error[0] = '\0';
    n_errors = n_eofs = 0;
    fd_bytes = 0;
    n_fd_waits = 0;
    client_script = fn;
    assert_int_equal(pthread_create(&client_thread, NULL, client_main,
                                    NULL), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    pthread_join(client_thread, NULL);
}

/* ---- scripts ---- */

static void
script_content_length(void)
{
    int fd = client_connect();
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                 "\r\nhello");
    expect_response(fd, 200, "hello");
    /* keep-alive: a second request on the same connection */
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                 "\r\nabc");
    expect_response(fd, 200, "abc");
    close(fd);
}

static void
script_chunked_pipelined(void)
{
    int fd = client_connect();
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n"
                 "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nT: v\r\n\r\n"
                 "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
                 "\r\nok");
    expect_response(fd, 200, "hello world");
    expect_response(fd, 200, "ok");
    close(fd);
}

#define BIG (4 * 1024 * 1024 + 123)

static void
script_big_slow(void)
{
    int fd = client_connect();
    uint8_t *big = malloc(BIG);
    assert_non_null(big);
    for (size_t i = 0; i < BIG; i++)
        big[i] = (uint8_t)(i * 7 + (i >> 13));
    char head[128];
    snprintf(head, sizeof(head), "POST /slow HTTP/1.1\r\nHost: x\r\n"
             "Content-Length: %d\r\n\r\n", BIG);
    send_str(fd, head);
    send_all(fd, big, BIG);
    char *b;
    size_t len;
    assert_int_equal(read_response(fd, &b, &len), 200);
    assert_int_equal(len, BIG);
    assert_memory_equal(b, big, BIG);
    free(b);
    free(big);
    close(fd);
}

static void
script_chunked_big(void)
{
    /* Many chunks, sent in odd pieces. */
    int fd = client_connect();
    send_str(fd, "POST /slow HTTP/1.1\r\nHost: x\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n");
    char expect[40000];
    size_t elen = 0;
    for (int i = 0; i < 40; i++) {
        char chunk[1100];
        size_t len = 500 + (size_t)i * 13;
        for (size_t j = 0; j < len; j++)
            chunk[j] = (char)('a' + (i + j) % 26);
        memcpy(expect + elen, chunk, len);
        elen += len;
        char line[32];
        snprintf(line, sizeof(line), "%zx\r\n", len);
        send_str(fd, line);
        send_all(fd, chunk, len);
        send_str(fd, "\r\n");
    }
    send_str(fd, "0\r\n\r\n");
    expect[elen] = '\0';
    expect_response(fd, 200, expect);
    close(fd);
}

static void
script_expect_continue(void)
{
    int fd = client_connect();
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                 "Expect: 100-continue\r\n\r\n");
    char buf[64];
    const char want[] = "HTTP/1.1 100 Continue\r\n\r\n";
    size_t n = 0;
    while (n < sizeof(want) - 1) {
        ssize_t r = recv(fd, buf + n, sizeof(want) - 1 - n, 0);
        assert_true(r > 0);
        n += (size_t)r;
    }
    assert_memory_equal(buf, want, sizeof(want) - 1);
    send_str(fd, "data");
    expect_response(fd, 200, "data");
    close(fd);
}

static void
script_premature_close(void)
{
    int fd = client_connect();
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                 "\r\n0123456789");
    usleep(100 * 1000);
    shutdown(fd, SHUT_WR);
    assert_true(peer_closed(fd));
    close(fd);
}

static void
script_bad_chunk(void)
{
    int fd = client_connect();
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n");
    char *b;
    size_t len;
    assert_int_equal(read_response(fd, &b, &len), 400);
    free(b);
    assert_true(peer_closed(fd));
    close(fd);
}

static void
script_early(void)
{
    int fd = client_connect();
    send_str(fd, "POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
                 "\r\n0123456789");
    expect_response(fd, 200, "early");
    /* the unread body was drained: the connection goes on */
    send_str(fd, "GET /none HTTP/1.1\r\nHost: x\r\n\r\n");
    expect_response(fd, 200, "none");
    send_str(fd, "POST /none HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n"
                 "\r\nx");
    expect_response(fd, 200, "body");
    close(fd);
}

static void
script_timeout(void)
{
    int fd = client_connect();
    send_str(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
                 "\r\n012");
    assert_true(peer_closed(fd));   /* closed by the body timeout */
    close(fd);
}

/* /fd: part of the body with the head (read from the buffer), the rest
 * later (from the socket), and a request right behind the body. */
#define FD_BIG (1024 * 1024 + 77)
static uint8_t fd_big[FD_BIG];

static void
script_fd(void)
{
    for (size_t i = 0; i < FD_BIG; i++)
        fd_big[i] = (uint8_t)(i * 13 + (i >> 11));
    int fd = client_connect();
    char head[128];
    snprintf(head, sizeof(head), "POST /fd HTTP/1.1\r\nHost: x\r\n"
             "Content-Length: %d\r\n\r\n", FD_BIG);
    uint8_t first[1024];
    size_t hn = strlen(head);
    memcpy(first, head, hn);
    memcpy(first + hn, fd_big, sizeof(first) - hn);
    send_all(fd, first, sizeof(first));
    usleep(50 * 1000);
    send_all(fd, fd_big + (sizeof(first) - hn),
             FD_BIG - (sizeof(first) - hn));
    send_str(fd, "POST /fd HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                 "\r\nnext");
    char *b;
    size_t len;
    assert_int_equal(read_response(fd, &b, &len), 200);
    assert_int_equal(len, FD_BIG);
    assert_memory_equal(b, fd_big, FD_BIG);
    free(b);
    expect_response(fd, 200, "next");
    close(fd);
}

static void
script_fd_chunked(void)
{
    int fd = client_connect();
    send_str(fd, "POST /fd HTTP/1.1\r\nHost: x\r\n"
                 "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    usleep(50 * 1000);
    send_str(fd, "6\r\n world\r\n0\r\n\r\n");
    expect_response(fd, 200, "hello world");
    close(fd);
}

static void
script_fd_expect_continue(void)
{
    int fd = client_connect();
    send_str(fd, "POST /fd HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                 "Expect: 100-continue\r\n\r\n");
    char buf[64];
    const char want[] = "HTTP/1.1 100 Continue\r\n\r\n";
    size_t n = 0;
    while (n < sizeof(want) - 1) {
        ssize_t r = recv(fd, buf + n, sizeof(want) - 1 - n, 0);
        assert_true(r > 0);
        n += (size_t)r;
    }
    assert_memory_equal(buf, want, sizeof(want) - 1);
    send_str(fd, "data");
    expect_response(fd, 200, "data");
    close(fd);
}

static void
script_fd_premature_close(void)
{
    int fd = client_connect();
    send_str(fd, "POST /fd HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
                 "\r\n0123456789");
    usleep(50 * 1000);
    send_str(fd, "abcdefghij");
    usleep(50 * 1000);
    shutdown(fd, SHUT_WR);
    assert_true(peer_closed(fd));
    close(fd);
}

static void
script_fd_timeout(void)
{
    int fd = client_connect();
    send_str(fd, "POST /fd HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
                 "\r\n");
    usleep(50 * 1000);
    send_str(fd, "012");
    assert_true(peer_closed(fd));   /* closed by the body timeout */
    close(fd);
}

/* ---- fixtures and tests ---- */

static int
setup(void **state)
{
    (void)state;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct dp_http_settings s = { .body_timeout_ms = 300 };
    server = dp_http_server_new(&loop, &s, handler, NULL);
    assert_non_null(server);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = { .sin_family = AF_INET };
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    socklen_t len = sizeof(sin);
    getsockname(fd, (struct sockaddr *)&sin, &len);
    listen_port = ntohs(sin.sin_port);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(dp_http_server_add_listener(server, fd, NULL, NULL), 0);
    uv_async_init(&loop, &done_async, done_cb);
    return 0;
}

static void
shutdown_done(void *ctx)
{
    (void)ctx;
}

static void
close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int
teardown(void **state)
{
    (void)state;
    dp_http_server_shutdown(server, shutdown_done, NULL);
    uv_close((uv_handle_t *)&done_async, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_walk(&loop, close_walk, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    dp_http_server_free(server);
    assert_int_equal(uv_loop_close(&loop), 0);
    return 0;
}

static void
test_content_length(void **state)
{
    (void)state;
    run_client(script_content_length);
    assert_int_equal(n_eofs, 2);
    assert_int_equal(n_errors, 0);
}

static void
test_chunked_pipelined(void **state)
{
    (void)state;
    run_client(script_chunked_pipelined);
    assert_int_equal(n_eofs, 2);
}

static void
test_big_slow(void **state)
{
    (void)state;
    run_client(script_big_slow);
    assert_int_equal(n_eofs, 1);
}

static void
test_chunked_big(void **state)
{
    (void)state;
    run_client(script_chunked_big);
    assert_int_equal(n_eofs, 1);
}

static void
test_expect_continue(void **state)
{
    (void)state;
    run_client(script_expect_continue);
    assert_int_equal(n_eofs, 1);
}

static void
test_premature_close(void **state)
{
    (void)state;
    run_client(script_premature_close);
    assert_int_equal(n_errors, 1);
    assert_string_equal(last_error, "connection closed after 10 body bytes");
}

static void
test_bad_chunk(void **state)
{
    (void)state;
    run_client(script_bad_chunk);
    assert_int_equal(n_errors, 1);
    assert_non_null(strstr(last_error, "bad chunked encoding: "));
}

static void
test_early(void **state)
{
    (void)state;
    run_client(script_early);
    assert_int_equal(n_eofs, 0);
    assert_int_equal(n_errors, 0);
}

static void
test_timeout(void **state)
{
    (void)state;
    run_client(script_timeout);
    assert_int_equal(n_errors, 1);
    assert_string_equal(last_error, "the connection closed before the "
                                    "request body was read");
}

static uint64_t
spliced_stat(void)
{
    struct dp_http_stats st;
    dp_http_server_stats(server, &st);
    return st.request_bytes_spliced;
}

static void
test_fd(void **state)
{
    (void)state;
    run_client(script_fd);
    assert_int_equal(n_eofs, 2);
    assert_int_equal(n_errors, 0);
    /* the bytes after the first send came from the socket (some of them
     * may have been read with the head's buffer), "next" never did: it
     * came in the same segment as the second head */
    assert_true(fd_bytes >= FD_BIG - 16 * 1024);
    assert_true(fd_bytes <= FD_BIG);
    assert_true(n_fd_waits >= 1);
    assert_int_equal(spliced_stat(), fd_bytes);
}

static void
test_fd_chunked(void **state)
{
    (void)state;
    run_client(script_fd_chunked);
    assert_int_equal(n_eofs, 1);
    assert_int_equal(fd_bytes, 0);
    assert_int_equal(spliced_stat(), 0);
}

static void
test_fd_expect_continue(void **state)
{
    (void)state;
    run_client(script_fd_expect_continue);
    assert_int_equal(n_eofs, 1);
    assert_int_equal(fd_bytes, 4);
    assert_int_equal(spliced_stat(), 4);
}

static void
test_fd_premature_close(void **state)
{
    (void)state;
    run_client(script_fd_premature_close);
    assert_int_equal(n_errors, 1);
    assert_string_equal(last_error, "connection closed after 20 body bytes");
    assert_int_equal(fd_bytes, 10);
}

static void
test_fd_timeout(void **state)
{
    (void)state;
    run_client(script_fd_timeout);
    assert_int_equal(n_errors, 1);
    assert_string_equal(last_error, "the connection closed before the "
                                    "request body was read");
    assert_int_equal(fd_bytes, 3);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_content_length, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_chunked_pipelined, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_big_slow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chunked_big, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expect_continue, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_premature_close, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_chunk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_early, setup, teardown),
        cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_chunked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fd_expect_continue, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fd_premature_close, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fd_timeout, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
