/* Unit tests: dp_control's pure helpers (the log limiter, the permission
 * rule, the STATS reply encoding). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ctl_protocol.h"
#include "dp_control.h"

#include <msgpack.h>

#include <string.h>

static void
test_ratelog(void **state)
{
    (void)state;
    struct dp_ratelog r;
    memset(&r, 0, sizeof(r));
    uint64_t sup = 99;
    /* The first line is always allowed, even at time 0. */
    assert_true(dp_ratelog_allow(&r, 0, &sup));
    assert_int_equal(sup, 0);
    sup = 99;
    assert_false(dp_ratelog_allow(&r, 1, &sup));
    assert_false(dp_ratelog_allow(&r, 500, &sup));
    assert_false(dp_ratelog_allow(&r, 999, &sup));
    assert_int_equal(sup, 99); /* untouched when refused */
    assert_true(dp_ratelog_allow(&r, 1000, &sup));
    assert_int_equal(sup, 3);
    /* The count restarts; the interval runs from the allowed line. */
    assert_false(dp_ratelog_allow(&r, 1999, &sup));
    assert_true(dp_ratelog_allow(&r, 5000, &sup));
    assert_int_equal(sup, 1);
    assert_true(dp_ratelog_allow(&r, 6000, &sup));
    assert_int_equal(sup, 0);
}

static void
test_permissions(void **state)
{
    (void)state;
    /* Over UDP: exactly TCACHE_INVALIDATE and FLUSH_FILTER_CACHE. */
    for (unsigned cmd = 0; cmd <= CTL_CMD_MAX + 2; cmd++) {
        enum dp_control_verdict v =
            dp_control_check((uint16_t)cmd, false, false, 0, 1000);
        if (cmd == CTL_CMD_TCACHE_INVALIDATE ||
            cmd == CTL_CMD_FLUSH_FILTER_CACHE)
            assert_int_equal(v, DP_CONTROL_ALLOW);
        else
            assert_int_equal(v, DP_CONTROL_DENY_IP);
    }
    /* Credentials that come with a UDP datagram would not matter. */
    assert_int_equal(dp_control_check(CTL_CMD_STATS, false, true, 1000, 1000),
                     DP_CONTROL_DENY_IP);
    /* Local: our uid and root may send anything, others nothing. */
    for (unsigned cmd = 0; cmd <= CTL_CMD_MAX; cmd++) {
        assert_int_equal(
            dp_control_check((uint16_t)cmd, true, true, 1000, 1000),
            DP_CONTROL_ALLOW);
        assert_int_equal(dp_control_check((uint16_t)cmd, true, true, 0, 1000),
                         DP_CONTROL_ALLOW);
        assert_int_equal(
            dp_control_check((uint16_t)cmd, true, true, 1001, 1000),
            DP_CONTROL_DENY_UID);
        assert_int_equal(
            dp_control_check((uint16_t)cmd, true, false, 1000, 1000),
            DP_CONTROL_DENY_NO_CREDS);
    }
    /* portierd running as root: only root. */
    assert_int_equal(dp_control_check(CTL_CMD_NOP, true, true, 5, 0),
                     DP_CONTROL_DENY_UID);
}

/* The value of key in a msgpack map, or NULL. */
static const msgpack_object *
get(const msgpack_object *map, const char *key)
{
    assert_int_equal(map->type, MSGPACK_OBJECT_MAP);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        assert_int_equal(kv->key.type, MSGPACK_OBJECT_STR);
        if (kv->key.via.str.size == strlen(key) &&
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

static void
test_stats_encode(void **state)
{
    (void)state;
    struct dp_control_stats st = {
        .connections = 3,
        .accepted = 70,
        .requests = 120,
        .status_class = {0, 1, 100, 12, 6, 1},
        .bytes_out = 5000000000ull,
        .translation_requests = 40,
        .translation_failures = 2,
        .translation_timeouts = 1,
        .tcache_entries = 9,
        .tcache_hits = 80,
        .tcache_misses = 11,
        .fcache_entries = 4,
        .fcache_hits = 50,
        .fcache_misses = 7,
        .nfs_cache_entries = 3,
        .nfs_cache_hits = 30,
        .nfs_cache_misses = 5,
        .http_cache_entries = 6,
        .http_cache_hits = 60,
        .http_cache_misses = 8,
        .filter_cache_entries = 2,
        .filter_cache_hits = 20,
        .filter_cache_misses = 9,
        .children = 6,
        .n_pools = 2,
        .pools = {{"fastcgi", 4}, {"was", 2}},
    };
    struct pr_buf out = PR_BUF_INIT;
    assert_int_equal(pr_buf_append(&out, "x", 1), 0); /* appends */
    assert_int_equal(dp_control_stats_encode(&out, &st), 0);
    assert_true(out.len > 5);
    const uint8_t *d = out.data + 1;
    size_t len = out.len - 1;
    /* Header: u16 BE payload length, u16 BE command 6. */
    assert_int_equal((size_t)(d[0] << 8 | d[1]), len - 4);
    assert_int_equal(d[2], 0);
    assert_int_equal(d[3], CTL_CMD_STATS);

    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&u, (const char *)d + 4, len - 4,
                                         &off),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, len - 4); /* exactly one object */
    const msgpack_object *m = &u.data;
    assert_int_equal(m->via.map.size, 12);
    assert_int_equal(get_u64(m, "workers"), 1);
    assert_int_equal(get_u64(m, "connections"), 3);
    assert_int_equal(get_u64(m, "accepted"), 70);
    assert_int_equal(get_u64(m, "bytes_out"), 5000000000ull);
    const msgpack_object *r = get(m, "requests");
    assert_non_null(r);
    assert_int_equal(get_u64(r, "total"), 120);
    assert_int_equal(get_u64(r, "1xx"), 1);
    assert_int_equal(get_u64(r, "2xx"), 100);
    assert_int_equal(get_u64(r, "3xx"), 12);
    assert_int_equal(get_u64(r, "4xx"), 6);
    assert_int_equal(get_u64(r, "5xx"), 1);
    const msgpack_object *t = get(m, "translation");
    assert_int_equal(get_u64(t, "requests"), 40);
    assert_int_equal(get_u64(t, "failures"), 2);
    assert_int_equal(get_u64(t, "timeouts"), 1);
    const msgpack_object *tc = get(m, "translation_cache");
    assert_int_equal(get_u64(tc, "entries"), 9);
    assert_int_equal(get_u64(tc, "hits"), 80);
    assert_int_equal(get_u64(tc, "misses"), 11);
    const msgpack_object *fc = get(m, "file_cache");
    assert_int_equal(get_u64(fc, "entries"), 4);
    assert_int_equal(get_u64(fc, "hits"), 50);
    assert_int_equal(get_u64(fc, "misses"), 7);
    const msgpack_object *nc = get(m, "nfs_cache");
    assert_int_equal(get_u64(nc, "entries"), 3);
    assert_int_equal(get_u64(nc, "hits"), 30);
    assert_int_equal(get_u64(nc, "misses"), 5);
    const msgpack_object *hc = get(m, "http_cache");
    assert_int_equal(get_u64(hc, "entries"), 6);
    assert_int_equal(get_u64(hc, "hits"), 60);
    assert_int_equal(get_u64(hc, "misses"), 8);
    const msgpack_object *flc = get(m, "filter_cache");
    assert_int_equal(get_u64(flc, "entries"), 2);
    assert_int_equal(get_u64(flc, "hits"), 20);
    assert_int_equal(get_u64(flc, "misses"), 9);
    const msgpack_object *ch = get(m, "children");
    assert_non_null(ch);
    assert_int_equal(ch->via.map.size, 3);
    assert_int_equal(get_u64(ch, "total"), 6);
    assert_int_equal(get_u64(ch, "fastcgi"), 4);
    assert_int_equal(get_u64(ch, "was"), 2);
    msgpack_unpacked_destroy(&u);
    pr_buf_free(&out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratelog),
        cmocka_unit_test(test_permissions),
        cmocka_unit_test(test_stats_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
