/* Unit tests: dp_session (ids and cluster node, cookie parsing and
 * formatting, the shared store: expiry, eviction, attach, realms, hash
 * collisions, a full heap, sharing with a child, a dead lock holder). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_session.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void
test_id_format_parse(void **state)
{
    (void)state;
    struct dp_session_id id;
    for (int i = 0; i < 16; i++)
        id.b[i] = (uint8_t)(i * 17 + 1);
    char hex[DP_SESSION_ID_HEX + 1];
    dp_session_id_format(&id, hex);
    assert_string_equal(hex, "0112233445566778899aabbccddeef00");
    struct dp_session_id back;
    assert_true(dp_session_id_parse(hex, strlen(hex), &back));
    assert_true(dp_session_id_equal(&id, &back));
    assert_true(dp_session_id_parse("0112233445566778899AABBCCDDEEF00", 32,
                                    &back));
    assert_true(dp_session_id_equal(&id, &back));
    assert_int_equal(dp_session_id_cluster_hash(&id), 0xcddeef00u);
    /* wrong length, bad digits */
    assert_false(dp_session_id_parse(hex, 31, &back));
    assert_false(dp_session_id_parse("0112233445566778899aabbccddeeff01",
                                     33, &back));
    assert_false(dp_session_id_parse("g112233445566778899aabbccddeeff0",
                                     32, &back));
    assert_false(dp_session_id_parse("0112233445566778899aabbccddeef 0",
                                     32, &back));
    assert_false(dp_session_id_parse("", 0, &back));
}

static void
test_set_node(void **state)
{
    (void)state;
    struct dp_session_id id;
    memset(&id, 0xab, sizeof(id));
    /* every (size, node) lands where asked, changing only the last 4
     * bytes and by less than size */
    for (unsigned size = 2; size <= 17; size++)
        for (unsigned node = 0; node < size; node++) {
            struct dp_session_id x = id;
            dp_session_id_set_node(&x, size, node);
            assert_int_equal(dp_session_id_cluster_hash(&x) % size, node);
            assert_memory_equal(x.b, id.b, 12);
            uint32_t a = dp_session_id_cluster_hash(&id);
            uint32_t b = dp_session_id_cluster_hash(&x);
            assert_true((a > b ? a - b : b - a) < size);
        }
    /* the last partial bucket below 2^32 goes one bucket down */
    memset(&id, 0xff, sizeof(id));
    dp_session_id_set_node(&id, 3, 2);      /* 0xffffffff % 3 == 0 */
    assert_int_equal(dp_session_id_cluster_hash(&id), 0xfffffffeu);
    assert_int_equal(dp_session_id_cluster_hash(&id) % 3, 2);
    /* no cluster: unchanged */
    struct dp_session_id y;
    memset(&y, 0x42, sizeof(y));
    struct dp_session_id z = y;
    dp_session_id_set_node(&z, 1, 0);
    dp_session_id_set_node(&z, 0, 0);
    assert_true(dp_session_id_equal(&y, &z));
}

static void
test_generate(void **state)
{
    (void)state;
    struct dp_session_id a, b;
    assert_int_equal(dp_session_id_generate(&a, 0, 0), 0);
    assert_int_equal(dp_session_id_generate(&b, 0, 0), 0);
    assert_false(dp_session_id_equal(&a, &b));
    /* 200 ids for node 3 of 5: all on node 3, all distinct, and each bit
     * outside the cluster hash takes both values */
    struct dp_session_id ids[200];
    uint8_t ones[16], zeros[16];
    memset(ones, 0, sizeof(ones));
    memset(zeros, 0xff, sizeof(zeros));
    for (int i = 0; i < 200; i++) {
        assert_int_equal(dp_session_id_generate(&ids[i], 5, 3), 0);
        assert_int_equal(dp_session_id_cluster_hash(&ids[i]) % 5, 3);
        for (int j = 0; j < i; j++)
            assert_false(dp_session_id_equal(&ids[i], &ids[j]));
        for (int k = 0; k < 16; k++) {
            ones[k] |= ids[i].b[k];
            zeros[k] &= ids[i].b[k];
        }
    }
    for (int k = 0; k < 12; k++) {
        assert_int_equal(ones[k], 0xff);
        assert_int_equal(zeros[k], 0);
    }
}

static void
test_cookie_find(void **state)
{
    (void)state;
    struct pr_slice v;
    assert_true(dp_session_cookie_find("a=1; beng=xyz; c=3", "beng", &v));
    assert_int_equal(v.len, 3);
    assert_memory_equal(v.data, "xyz", 3);
    assert_true(dp_session_cookie_find("beng=first;beng=second", "beng",
                                       &v));
    assert_memory_equal(v.data, "first", 5);
    assert_true(dp_session_cookie_find("  x = 1 ;  beng =  \"q\"  ",
                                       "beng", &v));
    assert_int_equal(v.len, 1);
    assert_memory_equal(v.data, "q", 1);
    assert_true(dp_session_cookie_find("beng=", "beng", &v));
    assert_int_equal(v.len, 0);
    /* names are exact: no prefix, no suffix, case-sensitive */
    assert_false(dp_session_cookie_find("bengx=1; xbeng=2; BENG=3", "beng",
                                        &v));
    assert_false(dp_session_cookie_find("", "beng", &v));
    assert_false(dp_session_cookie_find(";;; beng ;", "beng", &v));
    assert_true(dp_session_cookie_find("novalue; beng=7", "beng", &v));
    assert_memory_equal(v.data, "7", 1);
}

static void
test_cookie_name(void **state)
{
    (void)state;
    char a[64], b[64], c[64];
    assert_int_equal(dp_session_cookie_name(a, sizeof(a), "sess", false,
                                            "example.com"), 4);
    assert_string_equal(a, "sess");
    assert_int_equal(dp_session_cookie_name(a, sizeof(a), "sess", true,
                                            "example.com"), 8);
    assert_int_equal(dp_session_cookie_name(b, sizeof(b), "sess", true,
                                            "EXAMPLE.com:8080"), 8);
    assert_string_equal(a, b);     /* case and port do not matter */
    assert_int_equal(dp_session_cookie_name(c, sizeof(c), "sess", true,
                                            "example.org"), 8);
    assert_string_not_equal(a, c);
    assert_int_equal(strncmp(a, "sess", 4), 0);
    assert_int_equal(dp_session_cookie_name(a, 5, "sess", true, "x"), -1);
}

static void
test_set_cookie(void **state)
{
    (void)state;
    struct dp_session_id id;
    memset(&id, 0, sizeof(id));
    id.b[15] = 0x2a;
    char out[256];
    struct dp_session_cookie_options o = { 0 };
    assert_true(dp_session_set_cookie(out, sizeof(out), "beng", &id, &o) >
                0);
    assert_string_equal(out, "beng=0000000000000000000000000000002a; "
                             "HttpOnly; Path=/");
    o.secure = true;
    o.same_site = DP_SESSION_SAME_SITE_LAX;
    o.domain = "example.com";
    o.path = "/app";
    int n = dp_session_set_cookie(out, sizeof(out), "beng", &id, &o);
    assert_string_equal(out, "beng=0000000000000000000000000000002a; "
                             "HttpOnly; Path=/app; Domain=example.com; "
                             "Secure; SameSite=Lax");
    assert_int_equal(n, (int)strlen(out));
    o.same_site = DP_SESSION_SAME_SITE_STRICT;
    o.domain = NULL;
    o.path = NULL;
    o.secure = false;
    dp_session_set_cookie(out, sizeof(out), "beng", &id, &o);
    assert_string_equal(out, "beng=0000000000000000000000000000002a; "
                             "HttpOnly; Path=/; SameSite=Strict");
    /* no attribute injection, no truncation */
    o.domain = "a.com; Secure";
    assert_int_equal(dp_session_set_cookie(out, sizeof(out), "beng", &id,
                                           &o), -1);
    o.domain = "a.com\r\nX: y";
    assert_int_equal(dp_session_set_cookie(out, sizeof(out), "beng", &id,
                                           &o), -1);
    o.domain = NULL;
    assert_int_equal(dp_session_set_cookie(out, 20, "beng", &id, &o), -1);
}

static struct dp_session_manager *
manager(size_t max, uint64_t idle)
{
    struct dp_session_config c = {
        .cluster_size = 4, .cluster_node = 1,
        .idle_timeout_ms = idle, .max_sessions = max,
    };
    struct dp_session_manager *m = dp_session_manager_new(&c);
    assert_non_null(m);
    return m;
}

static struct dp_session *
create(struct dp_session_manager *m, uint64_t now, bool *evicted)
{
    const char *err = NULL;
    struct dp_session *s = dp_session_create(m, now, evicted, &err);
    assert_non_null(s);
    return s;
}

/* create and keep only the id */
static struct dp_session_id
create_id(struct dp_session_manager *m, uint64_t now, bool *evicted)
{
    struct dp_session *s = create(m, now, evicted);
    struct dp_session_id id = s->id;
    dp_session_free(s);
    return id;
}

static bool
alive(struct dp_session_manager *m, const struct dp_session_id *id,
      uint64_t now)
{
    struct dp_session *s = dp_session_get(m, id, now);
    dp_session_free(s);
    return s != NULL;
}

static void
test_store_find_expire(void **state)
{
    (void)state;
    struct dp_session_manager *m = manager(10, 1000);
    struct dp_session *s = create(m, 5000, NULL);
    assert_int_equal(dp_session_id_cluster_hash(&s->id) % 4, 1);
    struct dp_session_id id = s->id;
    assert_int_equal(s->expires_ms, 6000);
    dp_session_free(s);
    s = dp_session_get(m, &id, 5500);
    assert_non_null(s);
    assert_true(dp_session_id_equal(&s->id, &id));
    assert_int_equal(s->expires_ms, 6500);     /* refreshed */
    dp_session_free(s);
    assert_true(dp_session_touch(m, &id, 6499));
    s = dp_session_peek(m, &id);
    assert_int_equal(s->expires_ms, 7499);
    dp_session_free(s);
    assert_null(dp_session_get(m, &id, 7499 + 1000));   /* idle too long */
    assert_false(dp_session_touch(m, &id, 7499));
    struct dp_session_stats st;
    dp_session_get_stats(m, &st);
    assert_int_equal(st.sessions, 0);
    assert_int_equal(st.expired, 1);
    assert_int_equal(st.chunks_used, 0);
    /* dp_session_expire frees the idle ones, oldest first */
    create_id(m, 10000, NULL);
    struct dp_session_id bid = create_id(m, 10500, NULL);
    assert_int_equal(dp_session_expire(m, 10999), 0);
    assert_int_equal(dp_session_expire(m, 11000), 1);
    assert_true(alive(m, &bid, 11000));
    assert_int_equal(dp_session_expire(m, 13000), 1);
    dp_session_get_stats(m, &st);
    assert_int_equal(st.sessions, 0);
    assert_int_equal(st.created, 3);
    assert_int_equal(st.chunks_used, 0);
    dp_session_manager_free(m);
}

static void
test_store_evicts_lru(void **state)
{
    (void)state;
    struct dp_session_manager *m = manager(3, 100000);
    struct dp_session_id ids[4];
    bool ev;
    for (int i = 0; i < 3; i++) {
        ids[i] = create_id(m, 1000 + (uint64_t)i, &ev);
        assert_false(ev);
    }
    /* using the first makes the second the least recently used */
    assert_true(dp_session_touch(m, &ids[0], 2000));
    ids[3] = create_id(m, 2001, &ev);
    assert_true(ev);
    assert_false(alive(m, &ids[1], 2002));
    assert_true(alive(m, &ids[0], 2002));
    assert_true(alive(m, &ids[2], 2002));
    assert_true(alive(m, &ids[3], 2002));
    struct dp_session_stats st;
    dp_session_get_stats(m, &st);
    assert_int_equal(st.sessions, 3);
    assert_int_equal(st.evicted, 1);
    /* the freed slot is reused: many more rounds stay at the limit */
    for (int i = 0; i < 50; i++)
        create_id(m, 3000 + (uint64_t)i, &ev);
    dp_session_get_stats(m, &st);
    assert_int_equal(st.sessions, 3);
    assert_int_equal(st.evicted, 51);
    dp_session_manager_free(m);
}

static void
test_put_roundtrip(void **state)
{
    (void)state;
    struct dp_session_manager *m = manager(10, 100000);
    struct dp_session *s = create(m, 1, NULL);
    assert_int_equal(dp_session_bytes_set(&s->translate, "tr\0x", 4), 0);
    assert_int_equal(dp_session_string_set(&s->language, "de"), 0);
    struct dp_realm_session *r = dp_session_realm_make(s, "example.com");
    assert_int_equal(dp_session_string_set(&r->user, "hans"), 0);
    r->user_expires_ms = 77;
    assert_int_equal(dp_session_put(m, s, 2, NULL), 0);
    struct dp_session *c = dp_session_get(m, &s->id, 3);
    assert_non_null(c);
    assert_int_equal(c->translate.len, 4);
    assert_memory_equal(c->translate.data, "tr\0x", 4);
    assert_string_equal(c->language, "de");
    assert_null(c->site);
    assert_int_equal(c->n_realms, 1);
    assert_string_equal(c->realms[0].user, "hans");
    assert_int_equal(c->realms[0].user_expires_ms, 77);
    dp_session_free(c);
    /* a gone session cannot be put back */
    assert_true(dp_session_discard(m, &s->id));
    assert_false(dp_session_discard(m, &s->id));
    assert_int_equal(dp_session_put(m, s, 4, NULL), -ENOENT);
    dp_session_free(s);
    dp_session_manager_free(m);
}

/* The value heap: records at their limits evict others, never the one
 * being written, and every chunk comes back. */
static void
test_heap_full_evicts(void **state)
{
    (void)state;
    struct dp_session_manager *m = manager(12, 100000);
    struct dp_session_stats st;
    dp_session_get_stats(m, &st);
    size_t total = st.chunks_total;
    static char big[DP_SESSION_MAX_VALUE];
    memset(big, 'v', sizeof(big));
    struct dp_session_id ids[12];
    size_t evicted_total = 0;
    for (int i = 0; i < 12; i++) {
        struct dp_session *s = create(m, 10 + (uint64_t)i, NULL);
        ids[i] = s->id;
        assert_int_equal(dp_session_bytes_set(&s->translate, big,
                                              sizeof(big)), 0);
        for (int k = 0; k < DP_SESSION_MAX_REALMS; k++) {
            char name[16];
            snprintf(name, sizeof(name), "realm%d", k);
            struct dp_realm_session *r = dp_session_realm_make(s, name);
            assert_int_equal(dp_session_bytes_set(&r->translate, big,
                                                  sizeof(big)), 0);
            assert_int_equal(dp_session_string_set(&r->user, "u"), 0);
        }
        size_t ev = 99;
        assert_int_equal(dp_session_put(m, s, 20 + (uint64_t)i, &ev), 0);
        evicted_total += ev;
        dp_session_free(s);
        /* the one just written is always there, whole */
        struct dp_session *c = dp_session_get(m, &ids[i], 30);
        assert_non_null(c);
        assert_int_equal(c->translate.len, sizeof(big));
        assert_int_equal(c->n_realms, DP_SESSION_MAX_REALMS);
        assert_memory_equal(c->realms[7].translate.data, big, sizeof(big));
        dp_session_free(c);
    }
    /* the heap (at least two of the largest records) holds about nine
     * such sessions, not twelve: some were evicted, oldest first */
    assert_true(evicted_total >= 1);
    assert_false(alive(m, &ids[0], 40));
    assert_true(alive(m, &ids[11], 40));
    dp_session_get_stats(m, &st);
    assert_int_equal(st.evicted, evicted_total);
    assert_int_equal(st.sessions, 12 - evicted_total);
    assert_true(st.chunks_used <= total);
    assert_int_equal(dp_session_expire(m, UINT64_MAX), st.sessions);
    dp_session_get_stats(m, &st);
    assert_int_equal(st.chunks_used, 0);
    dp_session_manager_free(m);
}

/* Ids that share a hash bucket (same first 8 bytes) stay apart. */
static void
test_hash_collisions(void **state)
{
    (void)state;
    struct dp_session_manager *m = manager(64, 100000);
    for (int i = 0; i < 20; i++) {
        struct dp_session *s = dp_session_new();
        memset(&s->id, 0x5a, sizeof(s->id));
        s->id.b[15] = (uint8_t)i;
        s->expires_ms = 1000;
        char v[8];
        snprintf(v, sizeof(v), "s%d", i);
        assert_int_equal(dp_session_string_set(&s->site, v), 0);
        assert_true(dp_session_adopt(m, s, 1));
    }
    /* remove every third, then each finds its own */
    for (int i = 0; i < 20; i += 3) {
        struct dp_session_id id;
        memset(&id, 0x5a, sizeof(id));
        id.b[15] = (uint8_t)i;
        assert_true(dp_session_discard(m, &id));
    }
    for (int i = 0; i < 20; i++) {
        struct dp_session_id id;
        memset(&id, 0x5a, sizeof(id));
        id.b[15] = (uint8_t)i;
        struct dp_session *s = dp_session_peek(m, &id);
        if (i % 3 == 0) {
            assert_null(s);
            continue;
        }
        assert_non_null(s);
        char v[8];
        snprintf(v, sizeof(v), "s%d", i);
        assert_string_equal(s->site, v);
        dp_session_free(s);
    }
    struct dp_session_id other;
    memset(&other, 0x5a, sizeof(other));
    other.b[15] = 200;
    assert_null(dp_session_peek(m, &other));
    dp_session_manager_free(m);
}

static void
test_attach_and_discard(void **state)
{
    (void)state;
    struct dp_session_manager *m = manager(10, 100000);
    struct dp_session *a = create(m, 1, NULL);
    struct dp_session *b = create(m, 2, NULL);
    struct dp_session *c = create(m, 3, NULL);
    struct dp_session *d = create(m, 3, NULL);
    assert_int_equal(dp_session_bytes_set(&a->attach, "acct1", 5), 0);
    assert_int_equal(dp_session_bytes_set(&b->attach, "acct1", 5), 0);
    assert_int_equal(dp_session_bytes_set(&c->attach, "acct2", 5), 0);
    assert_int_equal(dp_session_bytes_set(&d->attach, "acct1x", 6), 0);
    assert_int_equal(dp_session_put(m, a, 4, NULL), 0);
    assert_int_equal(dp_session_put(m, b, 4, NULL), 0);
    assert_int_equal(dp_session_put(m, c, 4, NULL), 0);
    assert_int_equal(dp_session_put(m, d, 4, NULL), 0);
    struct dp_session_id found;
    assert_true(dp_session_find_attached(m, &a->id, "acct1", 5, 4, &found));
    assert_true(dp_session_id_equal(&found, &b->id));
    assert_true(dp_session_find_attached(m, &b->id, "acct1", 5, 4, &found));
    assert_true(dp_session_id_equal(&found, &a->id));
    assert_false(dp_session_find_attached(m, &c->id, "acct2", 5, 4, &found));
    assert_false(dp_session_find_attached(m, NULL, "acct", 4, 4, &found));
    assert_int_equal(dp_session_discard_attached(m, "acct1", 5), 2);
    assert_int_equal(dp_session_discard_attached(m, "acct", 4), 0);
    assert_true(alive(m, &c->id, 5));
    assert_true(alive(m, &d->id, 5));
    struct dp_session_stats st;
    dp_session_get_stats(m, &st);
    assert_int_equal(st.sessions, 2);
    assert_int_equal(st.discarded, 2);
    dp_session_free(a);
    dp_session_free(b);
    dp_session_free(c);
    dp_session_free(d);
    dp_session_manager_free(m);
}

static void
test_realms_and_values(void **state)
{
    (void)state;
    struct dp_session *s = dp_session_new();
    assert_non_null(s);
    assert_null(dp_session_realm(s, "a"));
    struct dp_realm_session *r = dp_session_realm_make(s, "a");
    assert_non_null(r);
    assert_int_equal(dp_session_string_set(&r->user, "hans"), 0);
    r->user_expires_ms = 100;
    assert_string_equal(dp_realm_session_user(r, 99), "hans");
    assert_null(dp_realm_session_user(r, 100));
    r->user_expires_ms = 0;
    assert_string_equal(dp_realm_session_user(r, 1u << 30), "hans");
    for (int i = 0; i < DP_SESSION_MAX_REALMS; i++) {
        char name[8];
        snprintf(name, sizeof(name), "r%d", i);
        assert_non_null(dp_session_realm_make(s, name));
    }
    /* the oldest ("a") made room */
    assert_int_equal(s->n_realms, DP_SESSION_MAX_REALMS);
    assert_null(dp_session_realm(s, "a"));
    dp_session_realm_discard(s, "r3");
    assert_null(dp_session_realm(s, "r3"));
    assert_non_null(dp_session_realm(s, "r4"));
    assert_int_equal(s->n_realms, DP_SESSION_MAX_REALMS - 1);
    /* values: set-but-empty, bounded */
    assert_int_equal(dp_session_bytes_set(&s->translate, "", 0), 0);
    assert_non_null(s->translate.data);
    assert_int_equal(s->translate.len, 0);
    static char big[DP_SESSION_MAX_VALUE + 1];
    assert_int_equal(dp_session_bytes_set(&s->translate, big, sizeof(big)),
                     -E2BIG);
    assert_non_null(s->translate.data);     /* unchanged */
    assert_int_equal(dp_session_bytes_set(&s->translate, NULL, 0), 0);
    assert_null(s->translate.data);
    dp_session_free(s);
}

static void
test_adopt(void **state)
{
    (void)state;
    struct dp_session_manager *m = manager(10, 1000);
    struct dp_session *s = dp_session_new();
    memset(&s->id, 7, sizeof(s->id));
    s->expires_ms = 1500;
    assert_true(dp_session_adopt(m, s, 1000));
    struct dp_session *dup = dp_session_new();
    memset(&dup->id, 7, sizeof(dup->id));
    dup->expires_ms = 1800;
    assert_false(dp_session_adopt(m, dup, 1000));     /* same id */
    struct dp_session *old = dp_session_new();
    memset(&old->id, 8, sizeof(old->id));
    old->expires_ms = 900;
    assert_false(dp_session_adopt(m, old, 1000));     /* expired */
    struct dp_session *far = dp_session_new();
    memset(&far->id, 9, sizeof(far->id));
    far->expires_ms = 99999;                          /* capped */
    assert_true(dp_session_adopt(m, far, 1000));
    struct dp_session_id fid;
    memset(&fid, 9, sizeof(fid));
    struct dp_session *p = dp_session_peek(m, &fid);
    assert_int_equal(p->expires_ms, 2000);
    dp_session_free(p);
    struct dp_session_id id;
    memset(&id, 7, sizeof(id));
    struct dp_session *q = dp_session_peek(m, &id);
    assert_int_equal(q->expires_ms, 1500);            /* kept */
    dp_session_free(q);
    /* sorted by expiry: the adopted ones expire in order */
    assert_int_equal(dp_session_expire(m, 1999), 1);
    assert_int_equal(dp_session_expire(m, 2000), 1);
    dp_session_manager_free(m);
}

/* A child process (a worker) changes a session; the parent sees it. */
static void
test_shared_across_fork(void **state)
{
    (void)state;
    struct dp_session_manager *m = manager(10, 100000);
    struct dp_session_id id = create_id(m, 1, NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct dp_session *s = dp_session_get(m, &id, 2);
        int ok = s != NULL &&
                 dp_session_string_set(&s->language, "fr") == 0 &&
                 dp_session_put(m, s, 2, NULL) == 0;
        dp_session_free(s);
        bool ev;
        const char *err;
        struct dp_session *n = dp_session_create(m, 3, &ev, &err);
        ok = ok && n != NULL;
        dp_session_free(n);
        _exit(ok ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    struct dp_session *s = dp_session_get(m, &id, 4);
    assert_non_null(s);
    assert_string_equal(s->language, "fr");
    dp_session_free(s);
    struct dp_session_stats st;
    dp_session_get_stats(m, &st);
    assert_int_equal(st.sessions, 2);
    assert_int_equal(st.created, 2);
    dp_session_manager_free(m);
}

/* A process killed while holding the lock: the next lock recovers. */
static void
killed_holder(bool changing)
{
    struct dp_session_manager *m = manager(10, 100000);
    struct dp_session_id id = create_id(m, 1, NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dp_session_manager_test_hold_lock(m, changing);
        raise(SIGKILL);
        _exit(3);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    /* this would hang without the robust mutex */
    struct dp_session_stats st;
    dp_session_get_stats(m, &st);
    assert_int_equal(st.recovered, 1);
    /* changing or not, the links are rebuilt from the slots: kept */
    assert_int_equal(st.sessions, 1);
    assert_true(alive(m, &id, 2));
    /* usable again, and the lock is consistent for everyone after */
    struct dp_session_id id2 = create_id(m, 3, NULL);
    assert_true(alive(m, &id2, 4));
    dp_session_get_stats(m, &st);
    assert_int_equal(st.recovered, 1);
    assert_int_equal(st.chunks_used, 2);
    dp_session_manager_free(m);
}

static void
test_killed_holder_reading(void **state)
{
    (void)state;
    killed_holder(false);
}

static void
test_killed_holder_changing(void **state)
{
    (void)state;
    killed_holder(true);
}

static void
count_one(const struct dp_session *s, void *ctx);

/* A child changing the store without pause is killed at random moments,
 * many times: whenever that was under the lock, the next lock repairs
 * the store, and the sessions the child did not touch are intact. */
static void
test_killed_in_the_middle(void **state)
{
    (void)state;
    /* room for what killed children leave behind: no eviction */
    struct dp_session_manager *m = manager(1000, 1000000);
    struct dp_session_id base[10];
    for (int i = 0; i < 10; i++) {
        struct dp_session *s = create(m, 1, NULL);
        base[i] = s->id;
        char v[16];
        snprintf(v, sizeof(v), "base%d", i);
        assert_int_equal(dp_session_string_set(&s->site, v), 0);
        assert_int_equal(dp_session_put(m, s, 1, NULL), 0);
        dp_session_free(s);
    }
    struct dp_session_stats st;
    unsigned seed = 12345;
    /* a kill lands under the lock by chance, rarely under ASan (its
       allocator makes the unlocked part slow): try for up to 20 s */
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int round = 0; round < 20000; round++) {
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= 20)
            break;
        /* the child says when its loop runs: a fork can take longer
           than the sleep below (it does under ASan), and a kill before
           the loop tests nothing */
        int ready[2];
        assert_int_equal(pipe(ready), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            static char val[600];
            memset(val, 'x', sizeof(val));
            close(ready[0]);
            for (uint64_t t = 2;; t++) {
                if (t == 3) {
                    if (write(ready[1], "r", 1) != 1)
                        _exit(1);
                    close(ready[1]);
                }
                bool ev;
                const char *err;
                struct dp_session *s = dp_session_create(m, t, &ev, &err);
                if (s == NULL)
                    _exit(1);
                dp_session_bytes_set(&s->translate, val, sizeof(val));
                dp_session_put(m, s, t, NULL);
                dp_session_touch(m, &base[t % 10], t);
                dp_session_discard(m, &s->id);
                dp_session_free(s);
            }
        }
        close(ready[1]);
        char byte;
        assert_int_equal(read(ready[0], &byte, 1), 1);
        close(ready[0]);
        struct timespec ts = { 0, 200000 + (long)(rand_r(&seed) % 800000) };
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        for (int i = 0; i < 10; i++) {
            struct dp_session *s = dp_session_peek(m, &base[i]);
            assert_non_null(s);
            char v[16];
            snprintf(v, sizeof(v), "base%d", i);
            assert_string_equal(s->site, v);
            dp_session_free(s);
        }
        size_t n = 0;
        assert_int_equal(dp_session_foreach(m, count_one, &n), 0);
        dp_session_get_stats(m, &st);
        assert_int_equal(n, st.sessions);
        if (st.recovered >= 5)
            break;
    }
    assert_true(st.recovered >= 1);
    /* everything expires; every chunk comes back */
    assert_int_equal(dp_session_expire(m, UINT64_MAX), st.sessions);
    dp_session_get_stats(m, &st);
    assert_int_equal(st.sessions, 0);
    assert_int_equal(st.chunks_used, 0);
    create_id(m, 5, NULL);
    dp_session_manager_free(m);
}

static void
count_one(const struct dp_session *s, void *ctx)
{
    (void)s;
    ++*(size_t *)ctx;
}

static void
test_foreach(void **state)
{
    (void)state;
    struct dp_session_manager *m = manager(10, 100000);
    for (int i = 0; i < 5; i++)
        create_id(m, 1, NULL);
    size_t n = 0;
    assert_int_equal(dp_session_foreach(m, count_one, &n), 0);
    assert_int_equal(n, 5);
    dp_session_manager_free(m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_format_parse),
        cmocka_unit_test(test_set_node),
        cmocka_unit_test(test_generate),
        cmocka_unit_test(test_cookie_find),
        cmocka_unit_test(test_cookie_name),
        cmocka_unit_test(test_set_cookie),
        cmocka_unit_test(test_store_find_expire),
        cmocka_unit_test(test_store_evicts_lru),
        cmocka_unit_test(test_attach_and_discard),
        cmocka_unit_test(test_realms_and_values),
        cmocka_unit_test(test_adopt),
        cmocka_unit_test(test_put_roundtrip),
        cmocka_unit_test(test_heap_full_evicts),
        cmocka_unit_test(test_hash_collisions),
        cmocka_unit_test(test_shared_across_fork),
        cmocka_unit_test(test_killed_holder_reading),
        cmocka_unit_test(test_killed_holder_changing),
        cmocka_unit_test(test_foreach),
        cmocka_unit_test(test_killed_in_the_middle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
