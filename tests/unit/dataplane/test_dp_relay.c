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
#include <string.h>

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
        .accepted = 10 * base,
        .requests = 100 * base,
        .status_class = {0, 0, 90 * base, 0, 10 * base, 0},
        .bytes_out = 1000 * base,
        .translation_requests = base + 1,
        .tcache_entries = base + 2,
        .tcache_hits = 5 * base,
        .fcache_misses = base,
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
    assert_int_equal(get_u64(m, "accepted"), 80);
    assert_int_equal(get_u64(m, "bytes_out"), 8000);
    assert_int_equal(get_u64(get(m, "requests"), "total"), 800);
    assert_int_equal(get_u64(get(m, "requests"), "2xx"), 720);
    assert_int_equal(get_u64(get(m, "requests"), "4xx"), 80);
    assert_int_equal(get_u64(get(m, "translation"), "requests"), 10);
    assert_int_equal(get_u64(get(m, "translation_cache"), "entries"), 12);
    assert_int_equal(get_u64(get(m, "translation_cache"), "hits"), 40);
    assert_int_equal(get_u64(get(m, "file_cache"), "misses"), 8);
    /* The keys keep the workers' order, ours come last. */
    assert_int_equal(m->via.map.size, 8 + 2);
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
    struct dp_control_pool pa = {"fastcgi", fake_fade, fake_terminate, &a};
    struct dp_control_pool pb = {"was", fake_fade, NULL, &b};
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

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sum_two_workers),
        cmocka_unit_test(test_no_answer_and_bad_map),
        cmocka_unit_test(test_too_many_workers_for_one_datagram),
        cmocka_unit_test(test_channel_codec),
        cmocka_unit_test(test_pool_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
