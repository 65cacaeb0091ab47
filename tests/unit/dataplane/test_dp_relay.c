/* Unit tests: the master's STATS sum (dp_relay_stats_reply()), the
 * channel message codec and the child-pool registry of dp_control. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ctl_protocol.h"
#include "dp_control.h"
#include "dp_relay.h"

#include <msgpack.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const msgpack_object *
get(const msgpack_object *map, const char *key)
{
    assert_int_equal(map->type, MSGPACK_OBJECT_MAP);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR &&
            kv->key.via.str.size == strlen(key) &&
            memcmp(kv->key.via.str.ptr, key, strlen(key)) == 0)
            return &kv->val;
    }
    return NULL;
}

static uint64_t
get_u64(const msgpack_object *map, const char *key)
{
    const msgpack_object *o = get(map, key);
    assert_non_null(o);
    assert_int_equal(o->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    return o->via.u64;
}

/* One worker's map, as dp_control_stats_encode() makes it. */
static void
worker_map(struct pr_buf *out, uint64_t base)
{
    struct dp_control_stats st = {
        .connections = base,
        .tunnels = 2 * base,
        .accepted = 10 * base,
        .requests = 100 * base,
        .status_class = {0, 0, 90 * base, 0, 10 * base, 0},
        .bytes_out = 1000 * base,
        .bytes_spliced = 600 * base,
        .request_bytes_spliced = 300 * base,
        .translation_requests = base + 1,
        .tcache_entries = base + 2,
        .tcache_hits = 5 * base,
        .fcache_misses = base,
        .filter_cache_entries = 4 * base,
        .filter_cache_hits = 6 * base,
        .children = 3 * base,
        .n_pools = 1,
        .pools = {{"fastcgi", 2 * base}},
    };
    struct pr_buf full = PR_BUF_INIT;
    assert_int_equal(dp_control_stats_encode(&full, &st), 0);
    assert_int_equal(pr_buf_append(out, full.data + CTL_HEADER_SIZE,
                                   full.len - CTL_HEADER_SIZE),
                     0);
    pr_buf_free(&full);
}

/* Decode a whole reply datagram; checks the framing. */
static void
decode_reply(const struct pr_buf *out, msgpack_unpacked *u)
{
    assert_true(out->len > CTL_HEADER_SIZE);
    const uint8_t *d = out->data;
    assert_int_equal((size_t)(d[0] << 8 | d[1]), out->len - 4);
    assert_int_equal(d[2], 0);
    assert_int_equal(d[3], CTL_CMD_STATS);
    msgpack_unpacked_init(u);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(u, (const char *)d + 4,
                                         out->len - 4, &off),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, out->len - 4);
}

static void
test_sum_two_workers(void **state)
{
    (void)state;
    struct pr_buf a = PR_BUF_INIT, b = PR_BUF_INIT, out = PR_BUF_INIT;
    worker_map(&a, 1);
    worker_map(&b, 7);
    const uint8_t *maps[] = {a.data, b.data};
    size_t lens[] = {a.len, b.len};
    pid_t pids[] = {101, 202};
    assert_int_equal(dp_relay_stats_reply(&out, maps, lens, pids, 2, 3), 0);
    msgpack_unpacked u;
    decode_reply(&out, &u);
    const msgpack_object *m = &u.data;
    /* Summed: the workers' own "workers": 1 adds up to those answering. */
    assert_int_equal(get_u64(m, "workers"), 2);
    assert_int_equal(get_u64(m, "workers_asked"), 3);
    assert_int_equal(get_u64(m, "connections"), 8);
    assert_int_equal(get_u64(m, "tunnels"), 16);
    assert_int_equal(get_u64(m, "accepted"), 80);
    assert_int_equal(get_u64(m, "bytes_out"), 8000);
    assert_int_equal(get_u64(m, "bytes_spliced"), 4800);
    assert_int_equal(get_u64(m, "request_bytes_spliced"), 2400);
    assert_int_equal(get_u64(get(m, "requests"), "total"), 800);
    assert_int_equal(get_u64(get(m, "requests"), "2xx"), 720);
    assert_int_equal(get_u64(get(m, "requests"), "4xx"), 80);
    assert_int_equal(get_u64(get(m, "translation"), "requests"), 10);
    assert_int_equal(get_u64(get(m, "translation_cache"), "entries"), 12);
    assert_int_equal(get_u64(get(m, "translation_cache"), "hits"), 40);
    assert_int_equal(get_u64(get(m, "file_cache"), "misses"), 8);
    assert_int_equal(get_u64(get(m, "filter_cache"), "entries"), 32);
    assert_int_equal(get_u64(get(m, "filter_cache"), "hits"), 48);
    assert_int_equal(get_u64(get(m, "children"), "total"), 24);
    assert_int_equal(get_u64(get(m, "children"), "fastcgi"), 16);
    /* The keys keep the workers' order, ours come last. */
    assert_int_equal(m->via.map.size, 15 + 2);
    assert_int_equal(m->via.map.ptr[0].key.via.str.size, 7); /* workers */
    /* Per worker: pid first, no "workers" key, its own numbers. */
    const msgpack_object *pw = get(m, "per_worker");
    assert_non_null(pw);
    assert_int_equal(pw->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(pw->via.array.size, 2);
    const msgpack_object *w0 = &pw->via.array.ptr[0];
    const msgpack_object *w1 = &pw->via.array.ptr[1];
    assert_int_equal(w0->via.map.ptr[0].key.via.str.size, 3);
    assert_int_equal(get_u64(w0, "pid"), 101);
    assert_int_equal(get_u64(w1, "pid"), 202);
    assert_null(get(w0, "workers"));
    assert_int_equal(get_u64(w0, "connections"), 1);
    assert_int_equal(get_u64(w1, "connections"), 7);
    assert_int_equal(get_u64(get(w1, "requests"), "total"), 700);
    assert_null(get(m, "per_worker_omitted"));
    msgpack_unpacked_destroy(&u);
    pr_buf_free(&a);
    pr_buf_free(&b);
    pr_buf_free(&out);
}

static void
test_no_answer_and_bad_map(void **state)
{
    (void)state;
    struct pr_buf out = PR_BUF_INIT;
    /* Nobody answered. */
    assert_int_equal(dp_relay_stats_reply(&out, NULL, NULL, NULL, 0, 2), 0);
    msgpack_unpacked u;
    decode_reply(&out, &u);
    assert_int_equal(get_u64(&u.data, "workers"), 0);
    assert_int_equal(get_u64(&u.data, "workers_asked"), 2);
    assert_int_equal(get(&u.data, "per_worker")->via.array.size, 0);
    msgpack_unpacked_destroy(&u);
    /* A map that does not decode is left out. */
    struct pr_buf a = PR_BUF_INIT;
    worker_map(&a, 4);
    static const uint8_t junk[] = {0xc1};
    const uint8_t *maps[] = {junk, a.data};
    size_t lens[] = {sizeof(junk), a.len};
    pid_t pids[] = {1, 2};
    out.len = 0;
    assert_int_equal(dp_relay_stats_reply(&out, maps, lens, pids, 2, 2), 0);
    decode_reply(&out, &u);
    assert_int_equal(get_u64(&u.data, "workers"), 1);
    assert_int_equal(get_u64(&u.data, "connections"), 4);
    assert_int_equal(get(&u.data, "per_worker")->via.array.size, 1);
    msgpack_unpacked_destroy(&u);
    pr_buf_free(&a);
    pr_buf_free(&out);
}

static void
test_too_many_workers_for_one_datagram(void **state)
{
    (void)state;
    enum { N = 256 };
    struct pr_buf a = PR_BUF_INIT, out = PR_BUF_INIT;
    worker_map(&a, 123456789);
    const uint8_t *maps[N];
    size_t lens[N];
    pid_t pids[N];
    for (size_t i = 0; i < N; i++) {
        maps[i] = a.data;
        lens[i] = a.len;
        pids[i] = (pid_t)(100000 + i);
    }
    assert_true(N * a.len > CTL_MAX_DATAGRAM);
    assert_int_equal(dp_relay_stats_reply(&out, maps, lens, pids, N, N), 0);
    assert_true(out.len <= CTL_MAX_DATAGRAM);
    msgpack_unpacked u;
    decode_reply(&out, &u);
    assert_int_equal(get_u64(&u.data, "workers"), N);
    assert_int_equal(get_u64(&u.data, "connections"), N * 123456789ull);
    assert_null(get(&u.data, "per_worker"));
    const msgpack_object *o = get(&u.data, "per_worker_omitted");
    assert_non_null(o);
    assert_int_equal(o->type, MSGPACK_OBJECT_BOOLEAN);
    assert_true(o->via.boolean);
    msgpack_unpacked_destroy(&u);
    pr_buf_free(&a);
    pr_buf_free(&out);
}

static void
test_channel_codec(void **state)
{
    (void)state;
    struct pr_buf m = PR_BUF_INIT;
    static const uint8_t dgram[] = {0x63, 0x04, 0x61, 0x01, 0, 0, 0, 6};
    assert_int_equal(dp_control_channel_encode(&m, DP_CHANNEL_COMMANDS,
                                               0x01020304u, "uid 0 pid 7",
                                               dgram, sizeof(dgram)),
                     0);
    static const uint8_t head[] = {1, 11, 0, 0, 1, 2, 3, 4};
    assert_int_equal(m.len, 8 + 11 + sizeof(dgram));
    assert_memory_equal(m.data, head, sizeof(head));
    uint8_t type;
    uint32_t id;
    struct pr_slice peer, payload;
    assert_int_equal(dp_control_channel_decode(m.data, m.len, &type, &id,
                                               &peer, &payload),
                     0);
    assert_int_equal(type, DP_CHANNEL_COMMANDS);
    assert_int_equal(id, 0x01020304u);
    assert_int_equal(peer.len, 11);
    assert_memory_equal(peer.data, "uid 0 pid 7", 11);
    assert_int_equal(payload.len, sizeof(dgram));
    assert_memory_equal(payload.data, dgram, sizeof(dgram));
    /* Shorter than the head, or than the peer text it announces. */
    assert_int_equal(dp_control_channel_decode(m.data, 7, &type, &id, &peer,
                                               &payload),
                     -EINVAL);
    assert_int_equal(dp_control_channel_decode(m.data, 18, &type, &id,
                                               &peer, &payload),
                     -EINVAL);
    /* A long peer text is cut at 255 bytes; no peer at all is fine. */
    char longpeer[400];
    memset(longpeer, 'p', sizeof(longpeer) - 1);
    longpeer[sizeof(longpeer) - 1] = '\0';
    assert_int_equal(dp_control_channel_encode(&m, DP_CHANNEL_STATS, 9,
                                               longpeer, "x", 1),
                     0);
    assert_int_equal(m.len, 8 + 255 + 1);
    assert_int_equal(dp_control_channel_encode(&m, DP_CHANNEL_STATS, 9, NULL,
                                               NULL, 0),
                     0);
    assert_int_equal(m.len, 8);
    pr_buf_free(&m);
}

struct fake_pool {
    char last_tag[32];
    size_t fades, terminates, children;
};

static size_t
fake_fade(void *ctx, const char *tag, size_t len)
{
    struct fake_pool *p = ctx;
    p->fades++;
    memcpy(p->last_tag, tag, len);
    p->last_tag[len] = '\0';
    return p->children;
}

static size_t
fake_terminate(void *ctx, const char *tag, size_t len)
{
    struct fake_pool *p = ctx;
    p->terminates++;
    memcpy(p->last_tag, tag, len);
    p->last_tag[len] = '\0';
    return p->children;
}

static void
test_pool_registry(void **state)
{
    (void)state;
    assert_int_equal(dp_control_pool_count(), 0);
    assert_int_equal(dp_control_children(false, "", 0), 0);
    struct fake_pool a = {.children = 2}, b = {.children = 5};
    struct dp_control_pool pa = {"fastcgi", fake_fade, fake_terminate, &a,
                                 NULL};
    struct dp_control_pool pb = {"was", fake_fade, NULL, &b, NULL};
    assert_int_equal(dp_control_register_pool(&pa), 0);
    assert_int_equal(dp_control_register_pool(&pb), 0);
    assert_int_equal(dp_control_pool_count(), 2);
    /* The tag is passed with its length, not NUL-terminated. */
    assert_int_equal(dp_control_children(false, "bluex", 4), 7);
    assert_string_equal(a.last_tag, "blue");
    assert_string_equal(b.last_tag, "blue");
    /* A pool without a terminate callback is skipped for it. */
    assert_int_equal(dp_control_children(true, "", 0), 2);
    assert_int_equal(a.terminates, 1);
    assert_int_equal(b.terminates, 0);
    assert_string_equal(a.last_tag, "");
    dp_control_unregister_pool(&a);
    assert_int_equal(dp_control_pool_count(), 1);
    assert_int_equal(dp_control_children(false, "", 0), 5);
    assert_int_equal(a.fades, 1);
    assert_int_equal(b.fades, 2);
    dp_control_unregister_pool(&b);
    assert_int_equal(dp_control_pool_count(), 0);
}

/* Poll the relay's descriptors (up to 2 s) and dispatch at now. */
static void
pump(struct dp_relay *r, uint64_t now)
{
    struct pollfd fds[8];
    size_t n = dp_relay_pollfds(r, fds, 8);
    assert_true(poll(fds, n, 2000) > 0);
    dp_relay_dispatch(r, fds, n, now);
}

/* One message from a worker's end of its channel (non-blocking: -1 when
 * there is none). */
static ssize_t
take(int fd, uint8_t *buf, size_t size)
{
    return recv(fd, buf, size, MSG_DONTWAIT);
}

static void
answer_stats(int fd, uint32_t id, uint64_t base)
{
    struct pr_buf map = PR_BUF_INIT, msg = PR_BUF_INIT;
    worker_map(&map, base);
    assert_int_equal(dp_control_channel_encode(&msg, DP_CHANNEL_STATS, id,
                                               NULL, map.data, map.len),
                     0);
    assert_int_equal(send(fd, msg.data, msg.len, 0), (ssize_t)msg.len);
    pr_buf_free(&map);
    pr_buf_free(&msg);
}

/* The live path without processes: a local control socket, two "workers"
 * that are socket pairs in this process. */
static void
test_relay_forwards_and_sums(void **state)
{
    (void)state;
    struct dp_config_control cc;
    memset(&cc, 0, sizeof(cc));
    char name[64];
    snprintf(name, sizeof(name), "@portier-test-relay-%d", (int)getpid());
    struct sockaddr_un *un = (struct sockaddr_un *)&cc.bind.addr;
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path + 1, name + 1, strlen(name) - 1);
    cc.bind.kind = DP_CONFIG_ADDRESS_ABSTRACT;
    cc.bind.text = name;
    cc.bind.addr_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
                                   strlen(name));
    char err[300];
    int fd = dp_control_bind(&cc, err, sizeof(err));
    assert_true(fd >= 0);
    struct dp_relay *r = dp_relay_new(geteuid());
    assert_non_null(r);
    assert_int_equal(dp_relay_add_socket(r, &cc, fd), 0);
    int w1[2], w2[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, w1), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, w2), 0);
    assert_int_equal(dp_relay_add_worker(r, 4242, w1[0]), 0);
    assert_int_equal(dp_relay_add_worker(r, 4343, w2[0]), 0);
    assert_int_equal(dp_relay_timeout_ms(r, 0), -1);

    /* A client with an address to answer to (autobind). */
    int c = socket(AF_UNIX, SOCK_DGRAM, 0);
    assert_true(c >= 0);
    struct sockaddr_un autobind = {.sun_family = AF_UNIX};
    assert_int_equal(bind(c, (struct sockaddr *)&autobind,
                          sizeof(sa_family_t)),
                     0);
    struct pr_buf dg = PR_BUF_INIT;
    assert_int_equal(ctl_datagram_begin(&dg), 0);
    assert_int_equal(ctl_datagram_append(&dg, CTL_CMD_NOP, NULL, 0), 0);
    assert_int_equal(ctl_datagram_append(&dg, CTL_CMD_STATS, NULL, 0), 0);
    assert_int_equal(ctl_datagram_append(&dg, CTL_CMD_VERBOSE, "\x03", 1),
                     0);
    assert_int_equal(sendto(c, dg.data, dg.len, 0,
                            (struct sockaddr *)&cc.bind.addr,
                            cc.bind.addr_len),
                     (ssize_t)dg.len);
    pump(r, 1000);

    /* Both workers got the same batch, the commands in their order. */
    uint8_t buf[70000];
    uint32_t ids[2];
    int ends[2] = {w1[1], w2[1]};
    for (int i = 0; i < 2; i++) {
        ssize_t n = take(ends[i], buf, sizeof(buf));
        assert_true(n > 0);
        uint8_t type;
        struct pr_slice peer, payload;
        assert_int_equal(dp_control_channel_decode(buf, (size_t)n, &type,
                                                   &ids[i], &peer, &payload),
                         0);
        assert_int_equal(type, DP_CHANNEL_COMMANDS);
        assert_true(ids[i] != 0);
        assert_true(peer.len > 4 && memcmp(peer.data, "uid ", 4) == 0);
        assert_int_equal(payload.len, dg.len);
        assert_memory_equal(payload.data, dg.data, dg.len);
    }
    assert_int_equal(ids[0], ids[1]);
    assert_int_equal(dp_relay_timeout_ms(r, 1000), DP_RELAY_STATS_TIMEOUT_MS);

    /* One answers, the other does not: the reply comes at the timeout. */
    answer_stats(w1[1], ids[0], 3);
    answer_stats(w1[1], ids[0], 3);     /* a repeat is ignored */
    pump(r, 1100);
    assert_int_equal(take(c, buf, sizeof(buf)), -1);
    assert_int_equal(dp_relay_timeout_ms(r, 1100),
                     DP_RELAY_STATS_TIMEOUT_MS - 100);
    dp_relay_dispatch(r, NULL, 0, 1000 + DP_RELAY_STATS_TIMEOUT_MS);
    ssize_t n = take(c, buf, sizeof(buf));
    assert_true(n > 0);
    struct pr_buf reply = {buf, (size_t)n, sizeof(buf)};
    msgpack_unpacked u;
    decode_reply(&reply, &u);
    assert_int_equal(get_u64(&u.data, "workers"), 1);
    assert_int_equal(get_u64(&u.data, "workers_asked"), 2);
    assert_int_equal(get_u64(&u.data, "connections"), 3);
    assert_int_equal(
        get_u64(&get(&u.data, "per_worker")->via.array.ptr[0], "pid"), 4242);
    msgpack_unpacked_destroy(&u);
    assert_int_equal(dp_relay_timeout_ms(r, 5000), -1);

    /* A late answer to a finished request changes nothing. */
    answer_stats(w2[1], ids[1], 9);
    pump(r, 3000);
    assert_int_equal(take(c, buf, sizeof(buf)), -1);

    /* Worker 4343 is gone: the next STATS waits for 4242 only and is
     * answered as soon as it answers. */
    dp_relay_remove_worker(r, 4343);
    assert_int_equal(ctl_datagram_begin(&dg), 0);
    assert_int_equal(ctl_datagram_append(&dg, CTL_CMD_STATS, NULL, 0), 0);
    assert_int_equal(sendto(c, dg.data, dg.len, 0,
                            (struct sockaddr *)&cc.bind.addr,
                            cc.bind.addr_len),
                     (ssize_t)dg.len);
    pump(r, 4000);
    n = take(w1[1], buf, sizeof(buf));
    assert_true(n > 0);
    uint8_t type;
    uint32_t id;
    struct pr_slice peer, payload;
    assert_int_equal(dp_control_channel_decode(buf, (size_t)n, &type, &id,
                                               &peer, &payload),
                     0);
    assert_true(id != ids[0]);
    answer_stats(w1[1], id, 5);
    pump(r, 4001);
    n = take(c, buf, sizeof(buf));
    assert_true(n > 0);
    reply = (struct pr_buf){buf, (size_t)n, sizeof(buf)};
    decode_reply(&reply, &u);
    assert_int_equal(get_u64(&u.data, "workers"), 1);
    assert_int_equal(get_u64(&u.data, "workers_asked"), 1);
    assert_int_equal(get_u64(&u.data, "connections"), 5);
    msgpack_unpacked_destroy(&u);

    /* A malformed datagram and an empty batch reach nobody. */
    assert_int_equal(sendto(c, "garbage!", 8, 0,
                            (struct sockaddr *)&cc.bind.addr,
                            cc.bind.addr_len),
                     8);
    pump(r, 6000);
    assert_int_equal(take(w1[1], buf, sizeof(buf)), -1);
    assert_int_equal(ctl_datagram_begin(&dg), 0);
    assert_int_equal(sendto(c, dg.data, dg.len, 0,
                            (struct sockaddr *)&cc.bind.addr,
                            cc.bind.addr_len),
                     (ssize_t)dg.len);
    pump(r, 7000);
    assert_int_equal(take(w1[1], buf, sizeof(buf)), -1);

    pr_buf_free(&dg);
    close(c);
    close(w1[1]);
    close(w2[1]);
    dp_relay_free(r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sum_two_workers),
        cmocka_unit_test(test_no_answer_and_bad_map),
        cmocka_unit_test(test_too_many_workers_for_one_datagram),
        cmocka_unit_test(test_channel_codec),
        cmocka_unit_test(test_pool_registry),
        cmocka_unit_test(test_relay_forwards_and_sums),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
