/*
 * Unit tests: dp_splice, the splice(2) step and the pipe pool, on real
 * pipes and socket pairs (no event loop: each step is driven by hand).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_splice.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>

static void
pattern(uint8_t *buf, size_t len, size_t from)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)((from + i) * 131 + 7);
}

static bool
fd_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* A non-blocking stream socket pair: [0] is written by the step. */
static void
sockets(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
                                sv), 0);
}

/* Read what the peer has into buf at *got (up to cap). */
static void
drain(int fd, uint8_t *buf, size_t *got, size_t cap)
{
    for (;;) {
        ssize_t n = read(fd, buf + *got, cap - *got);
        if (n <= 0)
            return;
        *got += (size_t)n;
    }
}

static void
write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        assert_true(n > 0);
        buf += n;
        len -= (size_t)n;
    }
}

static void
test_pipe_to_socket_budget(void **state)
{
    (void)state;
    int p[2], sv[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    (void)fcntl(p[1], F_SETPIPE_SZ, 256 * 1024);
    sockets(sv);
    int sz = 1024 * 1024;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    enum { LEN = 100000 };
    static uint8_t src[LEN], got[LEN];
    pattern(src, LEN, 0);
    write_all(p[1], src, LEN);
    struct dp_splice_result r;
    size_t n = 0;
    /* the budget stops the first step */
    assert_int_equal(dp_splice_step(p[0], true, -1, NULL, sv[0], 65536, &r),
                     DP_SPLICE_BUDGET);
    assert_int_equal(r.in, 65536);
    assert_int_equal(r.out, 65536);
    drain(sv[1], got, &n, LEN);
    /* the rest, then the pipe is empty: wait for the source */
    assert_int_equal(dp_splice_step(p[0], true, -1, NULL, sv[0], 1 << 20,
                                    &r), DP_SPLICE_SRC_AGAIN);
    assert_int_equal(r.in, LEN - 65536);
    drain(sv[1], got, &n, LEN);
    assert_int_equal(n, LEN);
    assert_memory_equal(got, src, LEN);
    /* end of file on the source */
    close(p[1]);
    assert_int_equal(dp_splice_step(p[0], true, -1, NULL, sv[0], 1 << 20,
                                    &r), DP_SPLICE_SRC_END);
    assert_int_equal(r.err, 0);
    close(p[0]);
    close(sv[0]);
    close(sv[1]);
}

static void
test_pipe_src_left_and_full_destination(void **state)
{
    (void)state;
    int p[2], sv[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    sockets(sv);
    uint8_t buf[5000];
    pattern(buf, sizeof(buf), 0);
    write_all(p[1], buf, sizeof(buf));
    struct dp_splice_result r;
    /* never more than src_left out of the source */
    assert_int_equal(dp_splice_step(p[0], true, 1000, NULL, sv[0], 1 << 20,
                                    &r), DP_SPLICE_SRC_DONE);
    assert_int_equal(r.in, 1000);
    int avail = 0;
    assert_int_equal(ioctl(p[0], FIONREAD, &avail), 0);
    assert_int_equal(avail, 4000);
    /* fill the socket: bytes left in the source pipe mean the
     * destination is the one that waits */
    uint8_t junk[4096];
    memset(junk, 'x', sizeof(junk));
    while (write(sv[0], junk, sizeof(junk)) > 0)
        ;
    assert_int_equal(dp_splice_step(p[0], true, -1, NULL, sv[0], 1 << 20,
                                    &r), DP_SPLICE_DST_AGAIN);
    /* the peer gone: a destination error */
    close(sv[1]);
    assert_int_equal(dp_splice_step(p[0], true, -1, NULL, sv[0], 1 << 20,
                                    &r), DP_SPLICE_DST_ERROR);
    assert_int_equal(r.err, EPIPE);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
}

/* A splice that moves fewer bytes than asked stops the step at once: a
 * socket that filled up means the destination waits, a pipe that ran
 * dry means the source does (the pipe's count tells which). */
static void
test_pipe_short_splice(void **state)
{
    (void)state;
    int p[2], sv[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    (void)fcntl(p[1], F_SETPIPE_SZ, 256 * 1024);
    int cap = fcntl(p[1], F_GETPIPE_SZ);
    sockets(sv);
    int sz = 16384;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    size_t len = (size_t)cap < 200000 ? (size_t)cap : 200000;
    uint8_t *src = malloc(len), *got = malloc(len);
    assert_non_null(src);
    assert_non_null(got);
    pattern(src, len, 0);
    write_all(p[1], src, len);
    struct dp_splice_result r;
    size_t n = 0;
    /* the socket takes part of it: the destination waits, bytes are
     * left in the pipe */
    assert_int_equal(dp_splice_step(p[0], true, -1, NULL, sv[0], 1 << 20,
                                    &r), DP_SPLICE_DST_AGAIN);
    assert_true(r.out > 0 && r.out < len);
    assert_int_equal(r.in, r.out);
    int avail = 0;
    assert_int_equal(ioctl(p[0], FIONREAD, &avail), 0);
    assert_int_equal((size_t)avail, len - r.out);
    /* the peer reads as the steps go on, until the pipe runs dry: the
     * source waits */
    enum dp_splice_status st;
    uint64_t moved = r.out;
    do {
        drain(sv[1], got, &n, len);
        st = dp_splice_step(p[0], true, -1, NULL, sv[0], 1 << 20, &r);
        moved += r.out;
        assert_true(st == DP_SPLICE_DST_AGAIN || st == DP_SPLICE_SRC_AGAIN);
    } while (st == DP_SPLICE_DST_AGAIN);
    assert_int_equal(moved, len);
    drain(sv[1], got, &n, len);
    assert_int_equal(n, len);
    assert_memory_equal(got, src, len);
    free(src);
    free(got);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
}

static void
test_socket_to_socket_through_pipe(void **state)
{
    (void)state;
    struct dp_pipe_pool pool;
    dp_pipe_pool_init(&pool, DP_PIPE_SIZE);
    struct dp_pipe pipe;
    assert_int_equal(dp_pipe_pool_get(&pool, &pipe), 0);
    assert_int_equal(pool.open, 1);
    assert_true(pipe.cap >= 4096);
    int in[2], out[2];
    sockets(in);
    sockets(out);
    int small = 8192;     /* the destination fills up now and then */
    setsockopt(out[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    enum { LEN = 3000000, PIECE = 50000 };
    uint8_t *src = malloc(LEN), *got = malloc(LEN);
    assert_non_null(src);
    assert_non_null(got);
    pattern(src, LEN, 0);
    size_t written = 0, n = 0;
    uint64_t taken = 0;
    unsigned dst_waits = 0;
    /* Interleave: the sender writes a piece, the step moves what it can
     * (stopping for either end), the receiver reads now and then. */
    for (int round = 0; round < 100000 && n < LEN; round++) {
        if (written < LEN) {
            ssize_t w = write(in[1], src + written,
                              LEN - written < PIECE ? LEN - written : PIECE);
            if (w > 0)
                written += (size_t)w;
        }
        struct dp_splice_result r;
        enum dp_splice_status st = dp_splice_step(
            in[0], false, (int64_t)(LEN - taken), &pipe, out[0], 200000, &r);
        taken += r.in;
        assert_true(st == DP_SPLICE_BUDGET || st == DP_SPLICE_SRC_AGAIN ||
                    st == DP_SPLICE_DST_AGAIN || st == DP_SPLICE_SRC_DONE);
        if (st == DP_SPLICE_DST_AGAIN)
            dst_waits++;
        if (round % 3 == 0 || st == DP_SPLICE_DST_AGAIN)
            drain(out[1], got, &n, LEN);
    }
    assert_int_equal(n, LEN);
    assert_int_equal(taken, LEN);
    assert_int_equal(pipe.fill, 0);
    assert_memory_equal(got, src, LEN);
    assert_true(dst_waits > 0);
    /* the sender closes: end of file */
    close(in[1]);
    struct dp_splice_result r;
    assert_int_equal(dp_splice_step(in[0], false, -1, &pipe, out[0], 4096,
                                    &r), DP_SPLICE_SRC_END);
    assert_int_equal(r.err, 0);
    dp_pipe_pool_put(&pool, &pipe);
    assert_int_equal(pipe.r, -1);
    dp_pipe_pool_clear(&pool);
    assert_int_equal(pool.open, 0);
    free(src);
    free(got);
    close(in[0]);
    close(out[0]);
    close(out[1]);
}

static void
test_only_the_pipe_drains(void **state)
{
    (void)state;
    struct dp_pipe_pool pool;
    dp_pipe_pool_init(&pool, 0);
    struct dp_pipe pipe;
    assert_int_equal(dp_pipe_pool_get(&pool, &pipe), 0);
    int sv[2];
    sockets(sv);
    write_all(pipe.w, (const uint8_t *)"hello", 5);
    pipe.fill = 5;
    struct dp_splice_result r;
    /* no source: what the pipe holds goes out, then done */
    assert_int_equal(dp_splice_step(-1, false, 0, &pipe, sv[0], 4096, &r),
                     DP_SPLICE_SRC_DONE);
    assert_int_equal(r.out, 5);
    assert_int_equal(r.in, 0);
    char buf[8];
    assert_int_equal(read(sv[1], buf, sizeof(buf)), 5);
    assert_memory_equal(buf, "hello", 5);
    dp_pipe_pool_put(&pool, &pipe);
    dp_pipe_pool_clear(&pool);
    close(sv[0]);
    close(sv[1]);
}

static void
test_pool_reuse_limit_and_no_leak(void **state)
{
    (void)state;
    struct dp_pipe_pool pool;
    dp_pipe_pool_init(&pool, DP_PIPE_SIZE);
    struct dp_pipe a;
    assert_int_equal(dp_pipe_pool_get(&pool, &a), 0);
    int ar = a.r, aw = a.w;
    dp_pipe_pool_put(&pool, &a);
    assert_int_equal(pool.n_free, 1);
    assert_true(fd_open(ar));
    /* reused */
    assert_int_equal(dp_pipe_pool_get(&pool, &a), 0);
    assert_int_equal(a.r, ar);
    assert_int_equal(a.w, aw);
    assert_int_equal(pool.open, 1);
    /* a pipe with bytes in it is not kept */
    a.fill = 3;
    dp_pipe_pool_put(&pool, &a);
    assert_false(fd_open(ar));
    assert_false(fd_open(aw));
    assert_int_equal(pool.open, 0);
    assert_int_equal(pool.n_free, 0);
    /* at most DP_PIPE_POOL_MAX stay */
    struct dp_pipe many[DP_PIPE_POOL_MAX + 3];
    int fds[DP_PIPE_POOL_MAX + 3][2];
    for (int i = 0; i < DP_PIPE_POOL_MAX + 3; i++) {
        assert_int_equal(dp_pipe_pool_get(&pool, &many[i]), 0);
        fds[i][0] = many[i].r;
        fds[i][1] = many[i].w;
    }
    assert_int_equal(pool.open, DP_PIPE_POOL_MAX + 3);
    for (int i = 0; i < DP_PIPE_POOL_MAX + 3; i++)
        dp_pipe_pool_put(&pool, &many[i]);
    assert_int_equal(pool.n_free, DP_PIPE_POOL_MAX);
    assert_int_equal(pool.open, DP_PIPE_POOL_MAX);
    dp_pipe_pool_clear(&pool);
    assert_int_equal(pool.open, 0);
    for (int i = 0; i < DP_PIPE_POOL_MAX + 3; i++) {
        assert_false(fd_open(fds[i][0]));
        assert_false(fd_open(fds[i][1]));
    }
    /* putting an empty slot is harmless */
    struct dp_pipe none = { -1, -1, 0, 0 };
    dp_pipe_pool_put(&pool, &none);
    assert_int_equal(pool.open, 0);
}

static struct sockaddr_storage
addr(const char *text)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, text, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(80);
    } else {
        assert_int_equal(inet_pton(AF_INET6, text, &a6->sin6_addr), 1);
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(80);
    }
    return ss;
}

static void
test_peer_on_host(void **state)
{
    (void)state;
    struct sockaddr_storage lo = addr("127.0.0.1"), lo2 = addr("127.3.2.1"),
        lo6 = addr("::1"), mapped = addr("::ffff:127.0.0.2"),
        here = addr("192.0.2.2"), there = addr("192.0.2.3"),
        here6 = addr("fd00::2"), there6 = addr("fd00::3"),
        mapped_there = addr("::ffff:192.0.2.3");
    assert_true(dp_splice_peer_on_host(&lo, NULL));
    assert_true(dp_splice_peer_on_host(&lo2, &here));
    assert_true(dp_splice_peer_on_host(&lo6, NULL));
    assert_true(dp_splice_peer_on_host(&mapped, NULL));
    /* another host, unless it is the connection's own address */
    assert_false(dp_splice_peer_on_host(&there, NULL));
    assert_false(dp_splice_peer_on_host(&there, &here));
    assert_true(dp_splice_peer_on_host(&here, &here));
    assert_false(dp_splice_peer_on_host(&there6, &here6));
    assert_true(dp_splice_peer_on_host(&here6, &here6));
    assert_false(dp_splice_peer_on_host(&mapped_there, &here6));
    /* families differ: not the same address */
    assert_false(dp_splice_peer_on_host(&here, &here6));
    /* unix sockets are not TCP peers */
    struct sockaddr_storage un;
    memset(&un, 0, sizeof(un));
    un.ss_family = AF_UNIX;
    assert_false(dp_splice_peer_on_host(&un, &un));
}

/* On real connected sockets: a loopback TCP peer gets the copy, a unix
 * socket peer the splice. */
static void
test_pipe_suits(void **state)
{
    (void)state;
    int l = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(l >= 0);
    struct sockaddr_in a = { .sin_family = AF_INET };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(l, 1), 0);
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(l, (struct sockaddr *)&a, &len), 0);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(c, (struct sockaddr *)&a, sizeof(a)), 0);
    struct sockaddr_storage peer;
    len = sizeof(peer);
    int s = accept(l, (struct sockaddr *)&peer, &len);
    assert_true(s >= 0);
    assert_false(dp_splice_pipe_suits(s, &peer));
    close(s);
    close(c);
    close(l);

    int sv[2];
    sockets(sv);
    memset(&peer, 0, sizeof(peer));
    peer.ss_family = AF_UNIX;
    assert_true(dp_splice_pipe_suits(sv[0], &peer));
    close(sv[0]);
    close(sv[1]);
}

/* Read what a pipe holds into buf at *got (non-blocking read end). */
static size_t
pipe_drain(int fd, uint8_t *buf, size_t *got, size_t cap)
{
    size_t before = *got;
    drain(fd, buf, got, cap);
    return *got - before;
}

static void
test_socket_to_pipe_budget_and_full_pipe(void **state)
{
    (void)state;
    int p[2], sv[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    int cap = fcntl(p[1], F_GETPIPE_SZ);
    assert_true(cap > 0);
    sockets(sv);
    int sz = 1024 * 1024;
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    enum { LEN = 300000 };
    static uint8_t src[LEN], got[LEN];
    pattern(src, LEN, 0);
    size_t put = 0;
    while (put < LEN) {
        ssize_t n = write(sv[1], src + put, LEN - put);
        if (n <= 0)
            break;
        put += (size_t)n;
    }
    assert_true(put > 100000);

    /* a budget below the pipe's capacity: BUDGET, exactly max bytes */
    struct dp_splice_result r;
    assert_int_equal(dp_splice_to_pipe(sv[0], -1, p[1], 1000, &r),
                     DP_SPLICE_BUDGET);
    assert_int_equal(r.in, 1000);
    assert_int_equal(r.out, 1000);
    size_t got_len = 0;
    assert_int_equal(pipe_drain(p[0], got, &got_len, LEN), 1000);

    /* no budget to speak of: the pipe fills up while the socket still
     * has bytes, and the step says the destination must be waited for */
    size_t total = 1000;
    enum dp_splice_status st = dp_splice_to_pipe(sv[0], -1, p[1], LEN, &r);
    assert_int_equal(st, DP_SPLICE_DST_AGAIN);
    /* (a pipe slot may hold more than a page of a socket's buffer, so
     * the count may pass the byte capacity) */
    assert_true(r.in > 0 && r.in < put - 1000);
    assert_int_equal(r.out, r.in);
    total += r.in;
    /* drain and go on until the socket is empty: then SRC_AGAIN */
    for (int i = 0; i < 1000 && st != DP_SPLICE_SRC_AGAIN; i++) {
        pipe_drain(p[0], got, &got_len, LEN);
        st = dp_splice_to_pipe(sv[0], -1, p[1], LEN, &r);
        assert_true(st == DP_SPLICE_DST_AGAIN || st == DP_SPLICE_SRC_AGAIN);
        total += r.in;
    }
    assert_int_equal(st, DP_SPLICE_SRC_AGAIN);
    pipe_drain(p[0], got, &got_len, LEN);
    assert_int_equal(total, put);
    assert_int_equal(got_len, put);
    assert_memory_equal(got, src, put);
    close(p[0]);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
}

static void
test_socket_to_pipe_src_left_and_end(void **state)
{
    (void)state;
    int p[2], sv[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    sockets(sv);
    uint8_t src[5000], got[5000];
    pattern(src, sizeof(src), 3);
    write_all(sv[1], src, sizeof(src));

    /* src_left stops the step: the rest (a pipelined request) stays in
     * the socket */
    struct dp_splice_result r;
    assert_int_equal(dp_splice_to_pipe(sv[0], 3000, p[1], 1 << 20, &r),
                     DP_SPLICE_SRC_DONE);
    assert_int_equal(r.in, 3000);
    int avail = 0;
    assert_int_equal(ioctl(sv[0], FIONREAD, &avail), 0);
    assert_int_equal(avail, 2000);
    /* src_left 0: nothing moves */
    assert_int_equal(dp_splice_to_pipe(sv[0], 0, p[1], 1 << 20, &r),
                     DP_SPLICE_SRC_DONE);
    assert_int_equal(r.in, 0);

    /* the rest, then the peer's end of file: SRC_END without an error */
    close(sv[1]);
    assert_int_equal(dp_splice_to_pipe(sv[0], -1, p[1], 1 << 20, &r),
                     DP_SPLICE_SRC_END);
    assert_int_equal(r.in, 2000);
    assert_int_equal(r.err, 0);
    size_t got_len = 0;
    pipe_drain(p[0], got, &got_len, sizeof(got));
    assert_int_equal(got_len, sizeof(src));
    assert_memory_equal(got, src, sizeof(src));
    close(p[0]);
    close(p[1]);
    close(sv[0]);
}

static void
test_socket_to_pipe_reader_gone(void **state)
{
    (void)state;
    int p[2], sv[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    sockets(sv);
    uint8_t src[100];
    pattern(src, sizeof(src), 0);
    write_all(sv[1], src, sizeof(src));
    close(p[0]);        /* the application closed its stdin */
    struct dp_splice_result r;
    assert_int_equal(dp_splice_to_pipe(sv[0], 100, p[1], 1 << 20, &r),
                     DP_SPLICE_DST_ERROR);
    assert_int_equal(r.err, EPIPE);
    assert_int_equal(r.in, 0);
    /* the bytes stay in the socket */
    int avail = 0;
    assert_int_equal(ioctl(sv[0], FIONREAD, &avail), 0);
    assert_int_equal(avail, 100);
    close(p[1]);
    close(sv[0]);
    close(sv[1]);
}

static void
test_pipe_to_pipe(void **state)
{
    (void)state;
    int a[2], b[2];
    assert_int_equal(pipe2(a, O_NONBLOCK), 0);
    assert_int_equal(pipe2(b, O_NONBLOCK), 0);
    uint8_t src[10000], got[10000];
    pattern(src, sizeof(src), 9);
    write_all(a[1], src, sizeof(src));
    struct dp_splice_result r;
    assert_int_equal(dp_splice_to_pipe(a[0], 4000, b[1], 1 << 20, &r),
                     DP_SPLICE_SRC_DONE);
    assert_int_equal(r.in, 4000);
    assert_int_equal(dp_splice_to_pipe(a[0], -1, b[1], 1 << 20, &r),
                     DP_SPLICE_SRC_AGAIN);
    assert_int_equal(r.in, 6000);
    size_t got_len = 0;
    pipe_drain(b[0], got, &got_len, sizeof(got));
    assert_int_equal(got_len, sizeof(src));
    assert_memory_equal(got, src, sizeof(src));
    for (int i = 0; i < 2; i++) {
        close(a[i]);
        close(b[i]);
    }
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);   /* splice() to a closed socket: EPIPE */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipe_to_socket_budget),
        cmocka_unit_test(test_pipe_src_left_and_full_destination),
        cmocka_unit_test(test_pipe_short_splice),
        cmocka_unit_test(test_socket_to_socket_through_pipe),
        cmocka_unit_test(test_only_the_pipe_drains),
        cmocka_unit_test(test_pool_reuse_limit_and_no_leak),
        cmocka_unit_test(test_peer_on_host),
        cmocka_unit_test(test_pipe_suits),
        cmocka_unit_test(test_socket_to_pipe_budget_and_full_pipe),
        cmocka_unit_test(test_socket_to_pipe_src_left_and_end),
        cmocka_unit_test(test_socket_to_pipe_reader_gone),
        cmocka_unit_test(test_pipe_to_pipe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
