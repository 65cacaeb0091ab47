/*
 * Unit tests: dp_tunnel's release callbacks (the limit slots a stream's
 * socket holds), on socket pairs and a private libuv loop: called once,
 * right after the socket is closed, the backend's before the client's;
 * by dp_stream_close() too; dp_tunnel_close_all() counts and survives a
 * callback that closes the other tunnels.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_tunnel.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* What the release callbacks saw, in order. */
static char events[256];

struct slot {
    const char *name;
    int fd;                     /* must be closed when released */
    bool close_all;             /* then call dp_tunnel_close_all() */
    unsigned inner;             /* what that returned */
};

static void
released(void *ctx)
{
    struct slot *s = ctx;
    strncat(events, s->name, sizeof(events) - strlen(events) - 1);
    strncat(events, " ", sizeof(events) - strlen(events) - 1);
    assert_int_equal(fcntl(s->fd, F_GETFD), -1);    /* closed already */
    if (s->close_all)
        s->inner = dp_tunnel_close_all();
}

static void
reset(void)
{
    events[0] = '\0';
}

/* A socket pair: [0] goes to the tunnel, [1] is the test's peer. */
static void
pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
                                sv), 0);
}

static void
stream(struct dp_stream *st, int fd, const char *name, struct slot *slot)
{
    memset(st, 0, sizeof(*st));
    st->fd = fd;
    snprintf(st->name, sizeof(st->name), "%s", name);
    slot->name = name;
    slot->fd = fd;
    st->release = released;
    st->release_ctx = slot;
}

/* Run the loop until its handles are closed. */
static void
drain(uv_loop_t *loop)
{
    for (int i = 0; i < 100 && uv_loop_alive(loop); i++)
        uv_run(loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(loop), 0);
}

static void
test_clean_end_releases_once_backend_first(void **state)
{
    (void)state;
    reset();
    uv_loop_t loop;
    uv_loop_init(&loop);
    int c[2], b[2];
    pair(c);
    pair(b);
    struct slot sc = {0}, sb = {0};
    struct dp_stream cs, bs;
    stream(&cs, c[0], "client", &sc);
    stream(&bs, b[0], "backend", &sb);
    assert_int_equal(dp_tunnel_start(&loop, &cs, (const uint8_t *)"101", 3,
                                     &bs, 5000), 0);
    assert_null(cs.release);    /* the tunnel owns the slots now */
    assert_int_equal(dp_tunnel_count(), 1);
    assert_int_equal(write(c[1], "hi", 2), 2);
    char buf[8];
    ssize_t n = -1;
    for (int i = 0; i < 100 && n < 0; i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        n = read(b[1], buf, sizeof(buf));
    }
    assert_int_equal(n, 2);
    assert_int_equal(read(c[1], buf, sizeof(buf)), 3);     /* "101" */
    assert_string_equal(events, "");
    close(c[1]);                /* both ends: a clean close */
    close(b[1]);
    for (int i = 0; i < 100 && dp_tunnel_count() > 0; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(dp_tunnel_count(), 0);
    assert_string_equal(events, "backend client ");
    drain(&loop);
    assert_string_equal(events, "backend client ");
}

static void
test_close_all_counts_and_allows_reentry(void **state)
{
    (void)state;
    reset();
    uv_loop_t loop;
    uv_loop_init(&loop);
    int c[2][2], b[2][2];
    struct slot sc[2] = {{0}}, sb[2] = {{0}};
    static const char *const names[2][2] = {
        {"client0", "backend0"}, {"client1", "backend1"},
    };
    for (int i = 0; i < 2; i++) {
        pair(c[i]);
        pair(b[i]);
        struct dp_stream cs, bs;
        stream(&cs, c[i][0], names[i][0], &sc[i]);
        stream(&bs, b[i][0], names[i][1], &sb[i]);
        assert_int_equal(dp_tunnel_start(&loop, &cs, NULL, 0, &bs, 5000),
                         0);
    }
    assert_int_equal(dp_tunnel_count(), 2);
    /* The first client slot to go ends the "shutdown", which closes the
     * rest from inside the callback (the list is newest first). */
    sc[1].close_all = true;
    assert_int_equal(dp_tunnel_close_all(), 2);
    assert_int_equal(sc[1].inner, 1);
    assert_int_equal(dp_tunnel_count(), 0);
    assert_string_equal(events, "backend1 client1 backend0 client0 ");
    assert_int_equal(dp_tunnel_close_all(), 0);
    drain(&loop);
    for (int i = 0; i < 2; i++) {
        /* the peers see the end of the stream */
        char x;
        assert_int_equal(read(c[i][1], &x, 1), 0);
        assert_int_equal(read(b[i][1], &x, 1), 0);
        close(c[i][1]);
        close(b[i][1]);
    }
}

static void
test_stream_close_releases(void **state)
{
    (void)state;
    reset();
    int c[2];
    pair(c);
    struct slot s = {0};
    struct dp_stream st;
    stream(&st, c[0], "client", &s);
    dp_stream_close(&st);
    assert_string_equal(events, "client ");
    assert_int_equal(st.fd, -1);
    dp_stream_close(&st);       /* nothing twice */
    assert_string_equal(events, "client ");
    close(c[1]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clean_end_releases_once_backend_first),
        cmocka_unit_test(test_close_all_counts_and_allows_reentry),
        cmocka_unit_test(test_stream_close_releases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
