/* Unit tests for nfs/pnfs_client without an NFS server: configuration
 * checks, libuv's callback rule, and the failure paths against peers on
 * loopback that refuse, stay silent or hang up (a real server is in
 * integration/test_nfs.py).  Every test ends with uv_loop_close() == 0:
 * no handle is left behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pnfs_client.h"
#include "pnfs_registry.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* ---- a TCP peer on loopback ---- */

enum peer_mode {
    PEER_SILENT = 1,   /* accept, read, never answer */
    PEER_HANGUP,       /* accept and close at once */
};

struct peer {
    uv_tcp_t listener;
    enum peer_mode mode;
    int port;
    int accepted;
};

struct peer_conn {
    uv_tcp_t tcp;
    char buf[4096];
};

static void
peer_conn_closed(uv_handle_t *h)
{
    free(h->data);
}

static void
peer_alloc(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
    struct peer_conn *c = h->data;
    buf->base = c->buf;
    buf->len = sizeof(c->buf);
}

static void
peer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    if (n < 0)
        uv_close((uv_handle_t *)s, peer_conn_closed);
}

static void
peer_on_connection(uv_stream_t *server, int status)
{
    struct peer *p = server->data;
    struct peer_conn *c = calloc(1, sizeof(*c));
    uv_tcp_init(server->loop, &c->tcp);
    c->tcp.data = c;
    assert_int_equal(uv_accept(server, (uv_stream_t *)&c->tcp), 0);
    p->accepted++;
    if (p->mode == PEER_HANGUP)
        uv_close((uv_handle_t *)&c->tcp, peer_conn_closed);
    else
        uv_read_start((uv_stream_t *)&c->tcp, peer_alloc, peer_read);
}

static void
peer_start(uv_loop_t *loop, struct peer *p, enum peer_mode mode)
{
    struct sockaddr_in addr;
    uv_ip4_addr("127.0.0.1", 0, &addr);
    p->mode = mode;
    p->accepted = 0;
    uv_tcp_init(loop, &p->listener);
    p->listener.data = p;
    assert_int_equal(uv_tcp_bind(&p->listener, (struct sockaddr *)&addr, 0),
                     0);
    assert_int_equal(uv_listen((uv_stream_t *)&p->listener, 16,
                               peer_on_connection), 0);
    struct sockaddr_in got;
    int len = sizeof(got);
    uv_tcp_getsockname(&p->listener, (struct sockaddr *)&got, &len);
    p->port = ntohs(got.sin_port);
}

/* A port on which nothing listens (bound, then released). */
static int
dead_port(void)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct peer p;
    peer_start(&loop, &p, PEER_SILENT);
    int port = p.port;
    uv_close((uv_handle_t *)&p.listener, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return port;
}

static void
close_all(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void
finish_loop(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT);
    uv_walk(loop, close_all, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
}

/* ---- results ---- */

struct result {
    int calls;
    int status;
    char error[1024];
    uint64_t at;
    uv_loop_t *loop;
};

static void
on_open(void *ctx, int status, struct pnfs_file *file,
        const struct pnfs_stat *st, const char *error)
{
    struct result *r = ctx;
    r->calls++;
    r->status = status;
    r->at = uv_now(r->loop);
    snprintf(r->error, sizeof(r->error), "%s", error != NULL ? error : "");
    if (file != NULL)
        pnfs_file_close(file);
}

static void
on_stat(void *ctx, int status, const struct pnfs_stat *st,
        const char *error)
{
    on_open(ctx, status, NULL, st, error);
}

static struct pnfs_client *
new_client(uv_loop_t *loop, int port, unsigned timeout_ms)
{
    struct pnfs_client_config cfg;
    pnfs_client_config_init(&cfg, "127.0.0.1", "/srv/export");
    cfg.nfs_port = (unsigned)port;
    cfg.mount_port = (unsigned)port;
    cfg.timeout_ms = timeout_ms;
    char err[256];
    struct pnfs_client *c = pnfs_client_new(loop, &cfg, err, sizeof(err));
    assert_non_null(c);
    return c;
}

/* ---- tests ---- */

static void
test_config_checked(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct pnfs_client_config cfg;
    char err[256];

    pnfs_client_config_init(&cfg, "", "/e");
    assert_null(pnfs_client_new(&loop, &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "server"));
    pnfs_client_config_init(&cfg, "nfs1", "relative/path");
    assert_null(pnfs_client_new(&loop, &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "nfs1"));
    pnfs_client_config_init(&cfg, "nfs1", "/e?nfsport=1");
    assert_null(pnfs_client_new(&loop, &cfg, err, sizeof(err)));
    pnfs_client_config_init(&cfg, "nfs1", "/e");
    cfg.nfs_port = 70000;
    assert_null(pnfs_client_new(&loop, &cfg, err, sizeof(err)));

    pnfs_client_config_init(&cfg, "nfs1", "/e");
    struct pnfs_client *c = pnfs_client_new(&loop, &cfg, err, sizeof(err));
    assert_non_null(c);
    assert_string_equal(pnfs_client_server(c), "nfs1");
    assert_string_equal(pnfs_client_export(c), "/e");
    assert_false(pnfs_client_mounted(c));

    /* Synchronous refusals never call back. */
    struct result r = {.loop = &loop};
    struct pnfs_op *op;
    assert_int_equal(pnfs_open(c, "relative", on_open, &r, &op), -EINVAL);
    assert_int_equal(pnfs_stat(c, NULL, on_stat, &r, &op), -EINVAL);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(r.calls, 0);
    pnfs_client_free(c);
    finish_loop(&loop);
}

static void
test_refused(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct pnfs_client *c = new_client(&loop, dead_port(), 2000);
    struct result r = {.loop = &loop};
    struct pnfs_op *op;

    assert_int_equal(pnfs_open(c, "/a/b.txt", on_open, &r, &op), 0);
    assert_int_equal(r.calls, 0);  /* never from inside the call */
    while (r.calls == 0)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, -ECONNREFUSED);
    assert_non_null(strstr(r.error, "open /a/b.txt on NFS server 127.0.0.1 "
                                    "export /srv/export: "));
    assert_false(pnfs_client_mounted(c));
    pnfs_client_free(c);
    finish_loop(&loop);
}

static void
test_name_resolved_off_the_loop(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct pnfs_client_config cfg;
    pnfs_client_config_init(&cfg, "localhost", "/srv/export");
    cfg.nfs_port = cfg.mount_port = (unsigned)dead_port();
    cfg.timeout_ms = 3000;
    char err[256];
    struct pnfs_client *c = pnfs_client_new(&loop, &cfg, err, sizeof(err));
    assert_non_null(c);
    struct result r = {.loop = &loop};
    struct pnfs_op *op;

    assert_int_equal(pnfs_stat(c, "/a", on_stat, &r, &op), 0);
    while (r.calls == 0)
        uv_run(&loop, UV_RUN_ONCE);
    /* Resolved, connected, refused; the message keeps the name. */
    assert_int_equal(r.status, -ECONNREFUSED);
    assert_non_null(strstr(r.error, "stat /a on NFS server localhost "
                                    "export /srv/export"));
    pnfs_client_free(c);
    finish_loop(&loop);
}

static void
test_silent_server_times_out(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct peer peer;
    peer_start(&loop, &peer, PEER_SILENT);
    struct pnfs_client *c = new_client(&loop, peer.port, 300);
    struct result r[5];
    struct pnfs_op *op[5];

    uv_update_time(&loop);
    uint64_t t0 = uv_now(&loop);
    for (int i = 0; i < 5; i++) {
        memset(&r[i], 0, sizeof(r[i]));
        r[i].loop = &loop;
        assert_int_equal(pnfs_stat(c, "/x", on_stat, &r[i], &op[i]), 0);
    }
    /* One of the queued operations is cancelled: it must stay silent. */
    pnfs_cancel(op[2]);
    while (r[0].calls + r[1].calls + r[3].calls + r[4].calls < 4)
        uv_run(&loop, UV_RUN_ONCE);
    for (int i = 0; i < 5; i++) {
        if (i == 2) {
            assert_int_equal(r[i].calls, 0);
            continue;
        }
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].status, -ETIMEDOUT);
        assert_true(r[i].at - t0 >= 250);
        assert_true(r[i].at - t0 < 2000);
        assert_non_null(strstr(r[i].error, "stat /x on NFS server "
                                           "127.0.0.1 export /srv/export"));
    }
    assert_int_equal(peer.accepted, 1);

    /* The next operation mounts again: a second connection. */
    struct result again = {.loop = &loop};
    struct pnfs_op *op2;
    assert_int_equal(pnfs_open(c, "/y", on_open, &again, &op2), 0);
    while (again.calls == 0)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(again.status, -ETIMEDOUT);
    assert_int_equal(peer.accepted, 2);

    pnfs_client_free(c);
    uv_close((uv_handle_t *)&peer.listener, NULL);
    finish_loop(&loop);
}

static void
stop_cb(uv_timer_t *t)
{
    uv_stop(t->loop);
}

static void
test_cancel_during_mount(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct peer peer;
    peer_start(&loop, &peer, PEER_SILENT);
    struct pnfs_client *c = new_client(&loop, peer.port, 200);
    struct result r = {.loop = &loop};
    struct pnfs_op *op;

    assert_int_equal(pnfs_open(c, "/a", on_open, &r, &op), 0);
    pnfs_cancel(op);
    /* Run past the deadline: the mount times out with nobody waiting. */
    uv_timer_t t;
    uv_timer_init(&loop, &t);
    uv_timer_start(&t, stop_cb, 400, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(r.calls, 0);
    assert_false(pnfs_client_mounted(c));
    pnfs_client_free(c);
    uv_close((uv_handle_t *)&peer.listener, NULL);
    finish_loop(&loop);
}

static void
test_hangup_fails_cleanly(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct peer peer;
    peer_start(&loop, &peer, PEER_HANGUP);
    struct pnfs_client *c = new_client(&loop, peer.port, 5000);
    struct result r = {.loop = &loop};
    struct pnfs_op *op;

    uv_update_time(&loop);
    uint64_t t0 = uv_now(&loop);
    assert_int_equal(pnfs_open(c, "/index.html", on_open, &r, &op), 0);
    while (r.calls == 0)
        uv_run(&loop, UV_RUN_ONCE);
    /* Long before the deadline: a hang-up is an error at once. */
    assert_true(r.at - t0 < 2000);
    assert_true(r.status < 0);
    assert_int_not_equal(r.status, -ETIMEDOUT);
    assert_non_null(strstr(r.error, "open /index.html on NFS server "
                                    "127.0.0.1 export /srv/export: "));
    pnfs_client_free(c);
    uv_close((uv_handle_t *)&peer.listener, NULL);
    finish_loop(&loop);
}

static void
test_free_while_mounting(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct peer peer;
    peer_start(&loop, &peer, PEER_SILENT);
    struct pnfs_client *c = new_client(&loop, peer.port, 5000);
    struct result r = {.loop = &loop};
    struct pnfs_op *op;

    assert_int_equal(pnfs_stat(c, "/a", on_stat, &r, &op), 0);
    while (peer.accepted == 0)
        uv_run(&loop, UV_RUN_ONCE);
    pnfs_cancel(op);
    pnfs_client_free(c);
    uv_close((uv_handle_t *)&peer.listener, NULL);
    finish_loop(&loop);
    assert_int_equal(r.calls, 0);
}

static void
test_registry_shares_clients(void **state)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct pnfs_client_config defaults;
    pnfs_client_config_init(&defaults, NULL, NULL);
    defaults.nfs_port = (unsigned)dead_port();
    defaults.mount_port = defaults.nfs_port;
    defaults.timeout_ms = 1000;
    struct pnfs_registry *reg = pnfs_registry_new(&loop, &defaults);
    char err[256];

    struct pnfs_client *a = pnfs_registry_get(reg, "127.0.0.1", "/e1", err,
                                              sizeof(err));
    struct pnfs_client *b = pnfs_registry_get(reg, "127.0.0.1", "/e2", err,
                                              sizeof(err));
    struct pnfs_client *c = pnfs_registry_get(reg, "127.0.0.2", "/e1", err,
                                              sizeof(err));
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_ptr_not_equal(a, b);
    assert_ptr_not_equal(a, c);
    assert_ptr_equal(pnfs_registry_get(reg, "127.0.0.1", "/e1", err,
                                       sizeof(err)), a);
    assert_int_equal(pnfs_registry_count(reg), 3);
    assert_null(pnfs_registry_get(reg, "127.0.0.1", "no-slash", err,
                                  sizeof(err)));
    assert_non_null(strstr(err, "absolute"));
    assert_int_equal(pnfs_registry_count(reg), 3);

    /* The defaults reach the clients: the dead port refuses. */
    struct result r = {.loop = &loop};
    struct pnfs_op *op;
    assert_int_equal(pnfs_stat(b, "/f", on_stat, &r, &op), 0);
    while (r.calls == 0)
        uv_run(&loop, UV_RUN_ONCE);
    assert_int_equal(r.status, -ECONNREFUSED);
    assert_non_null(strstr(r.error, "export /e2"));

    pnfs_registry_free(reg);
    finish_loop(&loop);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_checked),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_name_resolved_off_the_loop),
        cmocka_unit_test(test_silent_server_times_out),
        cmocka_unit_test(test_cancel_during_mount),
        cmocka_unit_test(test_hangup_fails_cleanly),
        cmocka_unit_test(test_free_while_mounting),
        cmocka_unit_test(test_registry_shares_clients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
