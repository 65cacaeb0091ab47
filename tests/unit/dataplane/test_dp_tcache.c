/* Unit tests for dataplane/dp_tcache: the translation cache
 * (spec/protocols.md §1.11, §1.14, §1.15).  Responses are built as
 * translation packets and parsed by tp_response_parse(), so every
 * response here is one the real parser accepts; requests are filled in
 * directly.  Time is a number the tests move by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_tcache.h"
#include "tp_command.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define S(lit) tp_slice_str(lit)

/* ---- building responses ---- */

static struct pr_buf rb;

static void
pkt(uint16_t cmd, const void *data, size_t len)
{
    uint8_t h[4];
    pr_store_u16(h, (uint16_t)len);
    pr_store_u16(h + 2, cmd);
    assert_int_equal(pr_buf_append(&rb, h, 4), 0);
    assert_int_equal(pr_buf_append(&rb, data, len), 0);
}

static void
pstr(uint16_t cmd, const char *s)
{
    pkt(cmd, s, strlen(s));
}

static void
pflag(uint16_t cmd)
{
    pkt(cmd, NULL, 0);
}

static void
pu32(uint16_t cmd, uint32_t v)
{
    pkt(cmd, &v, 4);
}

/* VARY / INVALIDATE with up to 4 commands (0 ends the list). */
static void
plist(uint16_t cmd, uint16_t a, uint16_t b, uint16_t c)
{
    uint16_t v[3] = { a, b, c };
    size_t n = 1 + (b != 0) + (c != 0);
    pkt(cmd, v, n * 2);
}

/* Start a response with BEGIN version `version`. */
static void
begin_v(uint8_t version)
{
    pr_buf_free(&rb);
    pkt(TP_CMD_BEGIN, &version, 1);
}

static void
begin(void)
{
    begin_v(3);
}

/* Finish with END and parse; the test fails if the parser refuses. */
static struct tp_response
end(void)
{
    pflag(TP_CMD_END);
    struct tp_response r;
    char err[256] = "";
    int rc = tp_response_parse(rb.data, rb.len, &r, err, sizeof(err));
    if (rc != 0)
        fail_msg("response refused: %s", err);
    pr_buf_free(&rb);
    return r;
}

/* An HTTP address string packet pair: HTTP url + ADDRESS_STRING. */
static void
phttp(const char *url)
{
    pstr(TP_CMD_HTTP, url);
    pstr(TP_CMD_ADDRESS_STRING, "127.0.0.1:8080");
}

/* ---- requests ---- */

static struct tp_request
req_for(const char *host, const char *uri)
{
    struct tp_request r;
    tp_request_init(&r);
    r.host = S(host);
    r.uri = S(uri);
    return r;
}

/* ---- cache helpers ---- */

static uint64_t now = 1000000;

static struct dp_tcache *
new_cache(size_t items, size_t bytes)
{
    struct dp_tcache *c = dp_tcache_new(items, bytes);
    assert_non_null(c);
    dp_tcache_activate(c);
    return c;
}

/* Store a response (must succeed) and drop the effective response. */
static void
store_ok(struct dp_tcache *c, const struct tp_request *req,
         struct tp_response resp, bool expect_stored)
{
    struct dp_tcache_hit hit;
    enum dp_tcache_status st = dp_tcache_store(c, req, &resp, now, &hit);
    if (st != DP_TCACHE_HIT)
        fail_msg("store failed: %d %s", hit.error_status, hit.error);
    assert_int_equal(hit.stored, expect_stored);
    dp_tcache_hit_release(&hit);
}

/* Store and expect an error with this status. */
static void
store_err(struct dp_tcache *c, const struct tp_request *req,
          struct tp_response resp, int status)
{
    struct dp_tcache_hit hit;
    enum dp_tcache_status st = dp_tcache_store(c, req, &resp, now, &hit);
    assert_int_equal(st, DP_TCACHE_ERROR);
    assert_int_equal(hit.error_status, status);
    assert_true(hit.error[0] != '\0');
    dp_tcache_hit_release(&hit);
}

/* Look up; returns the main address path (copied into a static buffer,
 * "" for NULL) on a hit, NULL on a miss; an error fails the test. */
static char last_path[4096];

static const char *
lookup_path(struct dp_tcache *c, const struct tp_request *req)
{
    struct dp_tcache_hit hit;
    enum dp_tcache_status st = dp_tcache_lookup(c, req, now, &hit);
    if (st == DP_TCACHE_ERROR)
        fail_msg("lookup error %d: %s", hit.error_status, hit.error);
    if (st == DP_TCACHE_MISS) {
        dp_tcache_hit_release(&hit);
        return NULL;
    }
    const char *p = hit.response.address.path;
    snprintf(last_path, sizeof(last_path), "%s", p != NULL ? p : "");
    dp_tcache_hit_release(&hit);
    return last_path;
}

static bool
is_hit(struct dp_tcache *c, const struct tp_request *req)
{
    return lookup_path(c, req) != NULL;
}

static size_t
entries(struct dp_tcache *c)
{
    struct dp_tcache_stats s;
    dp_tcache_get_stats(c, &s);
    return s.entries;
}

/* A plain PATH response with optional MAX_AGE (UINT32_MAX: none). */
static struct tp_response
path_resp(const char *path, uint32_t max_age)
{
    begin();
    if (max_age != UINT32_MAX)
        pu32(TP_CMD_MAX_AGE, max_age);
    pstr(TP_CMD_PATH, path);
    return end();
}

/* ================================================================== */

static void
test_request_cacheable(void **state)
{
    (void)state;
    struct tp_request r = req_for("h", "/x");
    assert_true(dp_tcache_request_cacheable(&r));

    struct tp_request none;
    tp_request_init(&none);
    none.host = S("h");
    assert_false(dp_tcache_request_cacheable(&none));

    const size_t off[] = {
        offsetof(struct tp_request, chain_header),
        offsetof(struct tp_request, recover_session),
        offsetof(struct tp_request, http_auth),
        offsetof(struct tp_request, token_auth),
        offsetof(struct tp_request, auth),
        offsetof(struct tp_request, authorization),
    };
    for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++) {
        struct tp_request q = req_for("h", "/x");
        *(struct pr_slice *)((char *)&q + off[i]) = S("v");
        assert_false(dp_tcache_request_cacheable(&q));
    }

    static char big[300];
    memset(big, 'c', sizeof(big) - 1);
    struct tp_request q = req_for("h", "/x");
    q.check = (struct pr_slice){ (const uint8_t *)big, 255 };
    assert_true(dp_tcache_request_cacheable(&q));
    q.check.len = 256;                  /* CHECK < 256 */
    assert_false(dp_tcache_request_cacheable(&q));
    q = req_for("h", "/x");
    q.file_not_found = (struct pr_slice){ (const uint8_t *)big, 256 };
    assert_true(dp_tcache_request_cacheable(&q));   /* ≤ 256 */
    q.file_not_found.len = 257;
    assert_false(dp_tcache_request_cacheable(&q));

    /* other kinds */
    tp_request_init(&q);
    q.widget_type = S("w");
    assert_true(dp_tcache_request_cacheable(&q));
    tp_request_init(&q);
    q.content_type_lookup = S("x");
    assert_false(dp_tcache_request_cacheable(&q));  /* needs SUFFIX */
    q.suffix = S("html");
    assert_true(dp_tcache_request_cacheable(&q));
    tp_request_init(&q);
    q.chain = S("c");
    q.status = 200;
    assert_true(dp_tcache_request_cacheable(&q));
    q.chain_header = S("x");
    assert_false(dp_tcache_request_cacheable(&q));
}

static void
test_inactive_until_first_response(void **state)
{
    (void)state;
    struct dp_tcache *c = dp_tcache_new(100, 0);
    struct tp_request r = req_for("h", "/a");
    assert_false(is_hit(c, &r));
    /* the first response activates the cache and is not stored */
    store_ok(c, &r, path_resp("/srv/a", UINT32_MAX), false);
    assert_false(is_hit(c, &r));
    store_ok(c, &r, path_resp("/srv/a", UINT32_MAX), true);
    assert_string_equal(lookup_path(c, &r), "/srv/a");
    dp_tcache_free(c);

    /* any first response activates, even one that may not be stored */
    c = dp_tcache_new(100, 0);
    struct tp_request auth = r;
    auth.authorization = S("Basic eA==");
    store_ok(c, &auth, path_resp("/srv/a", UINT32_MAX), false);
    store_ok(c, &r, path_resp("/srv/a", UINT32_MAX), true);
    assert_true(is_hit(c, &r));
    dp_tcache_free(c);

    /* size 0 = disabled */
    c = new_cache(0, 0);
    store_ok(c, &r, path_resp("/srv/a", UINT32_MAX), false);
    assert_false(is_hit(c, &r));
    dp_tcache_free(c);

    /* no cache at all: the response still comes back */
    struct dp_tcache_hit hit;
    struct tp_response resp = path_resp("/srv/a", UINT32_MAX);
    assert_int_equal(dp_tcache_store(NULL, &r, &resp, now, &hit),
                     DP_TCACHE_HIT);
    assert_string_equal(hit.response.address.path, "/srv/a");
    assert_false(hit.stored);
    assert_null(resp.address.path);     /* moved */
    dp_tcache_hit_release(&hit);
}

static void
test_exact_key_and_host(void **state)
{
    (void)state;
    struct dp_tcache *c = new_cache(100, 0);
    struct tp_request r = req_for("example.com", "/index.html");
    store_ok(c, &r, path_resp("/srv/index.html", UINT32_MAX), true);

    assert_string_equal(lookup_path(c, &r), "/srv/index.html");
    struct tp_request other = req_for("example.com", "/other.html");
    assert_false(is_hit(c, &other));
    /* HOST is always part of the key, without VARY */
    struct tp_request h2 = req_for("example.org", "/index.html");
    assert_false(is_hit(c, &h2));
    struct tp_request nohost = req_for("x", "/index.html");
    nohost.host = (struct pr_slice){ NULL, 0 };
    assert_false(is_hit(c, &nohost));
    /* not part of the key: SESSION, LISTENER_TAG, USER_AGENT ... */
    struct tp_request s = r;
    s.session = S("abc");
    s.listener_tag = S("tag");
    s.user_agent = S("curl");
    s.param = S("p");
    assert_true(is_hit(c, &s));

    struct dp_tcache_stats st;
    dp_tcache_get_stats(c, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.hits, 2);
    assert_int_equal(st.misses, 3);
    assert_int_equal(st.stores, 1);
    assert_true(st.bytes > 0);
    dp_tcache_free(c);
}

static void
test_key_parts(void **state)
{
    (void)state;
    struct dp_tcache *c = new_cache(100, 0);
    struct tp_request base = req_for("h", "/k");
    store_ok(c, &base, path_resp("/srv/plain", UINT32_MAX), true);

    /* every one of these is keyed apart from the plain request */
    struct tp_request v[12];
    for (size_t i = 0; i < 12; i++)
        v[i] = base;
    v[0].status = 404;
    v[1].check = S("chk");
    v[2].want[0] = TP_CMD_USER_AGENT;
    v[2].want_count = 1;
    v[3].layout = S("L");
    v[3].layout_item = (struct tp_request_layout_item){ TP_LAYOUT_ITEM_BASE,
                                               S("/k/") };
    v[4].want_full_uri = S("w");
    v[5].file_not_found = S("f");
    v[6].directory_index = S("d");
    v[7].read_file = S("contents");
    v[8].path_exists = true;
    v[9].probe_path_suffixes = S("p");
    v[9].probe_suffix = S("html");
    v[10].check = S("chk");
    v[10].check_header = S("x-a:1");
    v[11].enotdir = S("e");             /* not part of the key */

    for (size_t i = 0; i < 11; i++) {
        assert_false(is_hit(c, &v[i]));
        char path[32];
        snprintf(path, sizeof(path), "/srv/v%zu", i);
        store_ok(c, &v[i], path_resp(path, UINT32_MAX), true);
    }
    for (size_t i = 0; i < 11; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/srv/v%zu", i);
        assert_string_equal(lookup_path(c, &v[i]), path);
    }
    assert_string_equal(lookup_path(c, &v[11]), "/srv/plain");
    assert_string_equal(lookup_path(c, &base), "/srv/plain");

    /* WANT is keyed by its presence only */
    struct tp_request w = base;
    w.want[0] = TP_CMD_LANGUAGE;
    w.want[1] = TP_CMD_QUERY_STRING;
    w.want_count = 2;
    assert_string_equal(lookup_path(c, &w), "/srv/v2");

    /* the layout item's kind counts */
    struct tp_request l = v[3];
    l.layout_item.kind = TP_LAYOUT_ITEM_URI;
    assert_false(is_hit(c, &l));
    /* PROBE_SUFFIX counts */
    struct tp_request p = v[9];
    p.probe_suffix = S("php");
    assert_false(is_hit(c, &p));

    /* other request kinds */
    struct tp_request ctl;
    tp_request_init(&ctl);
    ctl.content_type_lookup = S("opaque");
    ctl.suffix = S("html");
    begin();
    pstr(TP_CMD_CONTENT_TYPE, "text/html");
    pflag(TP_CMD_END);
    struct tp_response resp;
    char err[128];
    assert_int_equal(tp_response_parse_request(rb.data, rb.len,
                                               TP_REQUEST_CONTENT_TYPE_LOOKUP,
                                               &resp, err, sizeof(err)),
                     0);
    pr_buf_free(&rb);
    store_ok(c, &ctl, resp, true);
    struct dp_tcache_hit hit;
    assert_int_equal(dp_tcache_lookup(c, &ctl, now, &hit), DP_TCACHE_HIT);
    assert_string_equal(hit.response.content_type, "text/html");
    dp_tcache_hit_release(&hit);
    ctl.suffix = S("css");
    assert_false(is_hit(c, &ctl));

    struct tp_request ch;
    tp_request_init(&ch);
    ch.chain = S("c1");
    ch.status = 200;
    begin();
    pflag(TP_CMD_BREAK_CHAIN);
    pflag(TP_CMD_END);
    assert_int_equal(tp_response_parse_request(rb.data, rb.len,
                                               TP_REQUEST_CHAIN, &resp, err,
                                               sizeof(err)),
                     0);
    pr_buf_free(&rb);
    store_ok(c, &ch, resp, true);
    assert_true(is_hit(c, &ch));
    ch.status = 404;                    /* CHAIN + "=" + status */
    assert_false(is_hit(c, &ch));

    struct tp_request mls;
    tp_request_init(&mls);
    mls.mount_listen_stream = S("key1");
    store_ok(c, &mls, path_resp("/srv/mls", UINT32_MAX), true);
    assert_string_equal(lookup_path(c, &mls), "/srv/mls");
    mls.mount_listen_stream = S("key2");
    assert_false(is_hit(c, &mls));

    struct tp_request wt;
    tp_request_init(&wt);
    wt.widget_type = S("clock");
    store_ok(c, &wt, path_resp("/srv/clock", UINT32_MAX), true);
    assert_string_equal(lookup_path(c, &wt), "/srv/clock");
    dp_tcache_free(c);
}

static void
test_max_age(void **state)
{
    (void)state;
    struct dp_tcache *c = new_cache(100, 0);
    uint64_t t0 = now;
    struct tp_request r = req_for("h", "/ten");
    store_ok(c, &r, path_resp("/srv/ten", 10), true);
    now = t0 + 9999;
    assert_true(is_hit(c, &r));
    now = t0 + 10000;
    assert_false(is_hit(c, &r));
    assert_int_equal(entries(c), 0);

    /* MAX_AGE 0: not stored */
    now = t0;
    struct tp_request z = req_for("h", "/zero");
    store_ok(c, &z, path_resp("/srv/zero", 0), false);
    assert_false(is_hit(c, &z));

    /* no MAX_AGE: 24 h; a longer MAX_AGE is capped to 24 h */
    struct tp_request d = req_for("h", "/day");
    struct tp_request w = req_for("h", "/week");
    store_ok(c, &d, path_resp("/srv/day", UINT32_MAX), true);
    store_ok(c, &w, path_resp("/srv/week", 7 * 86400), true);
    now = t0 + DP_TCACHE_MAX_LIFETIME_MS - 1;
    assert_true(is_hit(c, &d));
    assert_true(is_hit(c, &w));
    now = t0 + DP_TCACHE_MAX_LIFETIME_MS;
    assert_int_equal(dp_tcache_expire(c, now), 2);
    assert_false(is_hit(c, &d));
    assert_false(is_hit(c, &w));

    /* a MAX_AGE after USER is the user's, not the response's */
    now = t0;
    struct tp_request u = req_for("h", "/user");
    begin();
    pstr(TP_CMD_PATH, "/srv/user");
    pstr(TP_CMD_USER, "hans");
    pu32(TP_CMD_MAX_AGE, 0);
    store_ok(c, &u, end(), true);
    assert_true(is_hit(c, &u));

    /* the replayed response has no MAX_AGE */
    struct dp_tcache_hit hit;
    assert_int_equal(dp_tcache_lookup(c, &u, now, &hit), DP_TCACHE_HIT);
    assert_int_equal(hit.response.max_age, TP_MAX_AGE_UNSET);
    assert_string_equal(hit.response.user, "hans");
    dp_tcache_hit_release(&hit);
    dp_tcache_free(c);
}

static void
test_auth_headers_not_stored(void **state)
{
    (void)state;
    struct dp_tcache *c = new_cache(100, 0);
    struct tp_request r = req_for("h", "/p");
    begin();
    pstr(TP_CMD_PATH, "/srv/p");
    pstr(TP_CMD_WWW_AUTHENTICATE, "Basic realm=\"x\"");
    store_ok(c, &r, end(), false);
    begin();
    pstr(TP_CMD_PATH, "/srv/p");
    pstr(TP_CMD_AUTHENTICATION_INFO, "x");
    store_ok(c, &r, end(), false);
    assert_false(is_hit(c, &r));
    /* a request with AUTHORIZATION is neither stored nor looked up */
    struct tp_request a = r;
    a.authorization = S("Basic eA==");
    store_ok(c, &a, path_resp("/srv/p", UINT32_MAX), false);
    store_ok(c, &r, path_resp("/srv/p", UINT32_MAX), true);
    assert_false(is_hit(c, &a));
    struct dp_tcache_stats st;
    dp_tcache_get_stats(c, &st);
    assert_int_equal(st.skipped, 1);
    dp_tcache_free(c);
}

static void
test_vary(void **state)
{
    (void)state;
    struct dp_tcache *c = new_cache(100, 0);
    struct tp_request a = req_for("h", "/v");
    a.session = S("A");
    begin();
    plist(TP_CMD_VARY, TP_CMD_SESSION, 0, 0);
    pstr(TP_CMD_PATH, "/srv/session-a");
    store_ok(c, &a, end(), true);

    assert_string_equal(lookup_path(c, &a), "/srv/session-a");
    struct tp_request b = a;
    b.session = S("B");
    assert_false(is_hit(c, &b));
    struct tp_request none = a;
    none.session = (struct pr_slice){ NULL, 0 };
    assert_false(is_hit(c, &none));     /* one absent = mismatch */
    struct tp_request empty = a;
    empty.session = S("");
    assert_false(is_hit(c, &empty));    /* "" is a value */

    /* a second variant for "absent" lives next to the first */
    begin();
    plist(TP_CMD_VARY, TP_CMD_SESSION, 0, 0);
    pstr(TP_CMD_PATH, "/srv/no-session");
    store_ok(c, &none, end(), true);
    assert_string_equal(lookup_path(c, &none), "/srv/no-session");
    assert_string_equal(lookup_path(c, &a), "/srv/session-a");
    assert_int_equal(entries(c), 2);

    /* storing the same variant again replaces it */
    begin();
    plist(TP_CMD_VARY, TP_CMD_SESSION, 0, 0);
    pstr(TP_CMD_PATH, "/srv/session-a2");
    store_ok(c, &a, end(), true);
    assert_int_equal(entries(c), 2);
    assert_string_equal(lookup_path(c, &a), "/srv/session-a2");

    /* several commands: all must match */
    struct tp_request m = req_for("h", "/multi");
    m.listener_tag = S("l1");
    m.language = S("de");
    m.user = S("u");
    begin();
    plist(TP_CMD_VARY, TP_CMD_LISTENER_TAG, TP_CMD_LANGUAGE, TP_CMD_USER);
    pstr(TP_CMD_PATH, "/srv/multi");
    store_ok(c, &m, end(), true);
    assert_true(is_hit(c, &m));
    struct tp_request m2 = m;
    m2.language = S("en");
    assert_false(is_hit(c, &m2));
    m2 = m;
    m2.listener_tag = S("l2");
    assert_false(is_hit(c, &m2));
    m2 = m;
    m2.user = S("v");
    assert_false(is_hit(c, &m2));
    m2 = m;
    m2.query_string = S("q");           /* not in VARY */
    assert_true(is_hit(c, &m2));

    /* VARY=URI compares the key's URI part: for a BASE item that is the
     * BASE, so only the BASE itself matches */
    struct tp_request vu = req_for("h", "/vu/");
    begin();
    pstr(TP_CMD_BASE, "/vu/");
    plist(TP_CMD_VARY, TP_CMD_URI, 0, 0);
    pstr(TP_CMD_PATH, "/srv/vu/");
    store_ok(c, &vu, end(), true);
    assert_string_equal(lookup_path(c, &vu), "/srv/vu/");
    vu.uri = S("/vu/x");
    assert_false(is_hit(c, &vu));

    /* unsupported commands in VARY are ignored */
    struct tp_request x = req_for("h", "/x");
    begin();
    plist(TP_CMD_VARY, TP_CMD_ALT_HOST, TP_CMD_QUERY_STRING, 0);
    pstr(TP_CMD_PATH, "/srv/x");
    store_ok(c, &x, end(), true);
    struct tp_request x2 = x;
    x2.alt_host = S("alt");
    assert_true(is_hit(c, &x2));
    x2.query_string = S("a=b");
    assert_false(is_hit(c, &x2));
    dp_tcache_free(c);
}

/* ---- BASE ---- */

static void
test_base_local_classic(void **state)
{
    (void)state;
    struct dp_tcache *c = new_cache(100, 0);
    struct tp_request r = req_for("h", "/base/sub/file.html");
    begin();
    pstr(TP_CMD_BASE, "/base/");
    pstr(TP_CMD_PATH, "/srv/www/sub/file.html");
    pstr(TP_CMD_CONTENT_TYPE, "text/html");
    struct tp_response resp = end();
    struct dp_tcache_hit hit;
    assert_int_equal(dp_tcache_store(c, &r, &resp, now, &hit), DP_TCACHE_HIT);
    assert_true(hit.stored);
    /* the fresh response describes the request as it is */
    assert_string_equal(hit.response.address.path, "/srv/www/sub/file.html");
    dp_tcache_hit_release(&hit);

    struct tp_request q = req_for("h", "/base/other/x.txt");
    assert_string_equal(lookup_path(c, &q), "/srv/www/other/x.txt");
    q.uri = S("/base/sub/file.html");
    assert_string_equal(lookup_path(c, &q), "/srv/www/sub/file.html");
    q.uri = S("/base/");
    assert_string_equal(lookup_path(c, &q), "/srv/www/");
    q.uri = S("/base/a%20b/c%2Bd");     /* file paths get the unescaped tail */
    assert_string_equal(lookup_path(c, &q), "/srv/www/a b/c+d");
    q.uri = S("/base/a//b/./c");        /* normalised */
    assert_string_equal(lookup_path(c, &q), "/srv/www/a/b/c");
    q.uri = S("/base///x");
    assert_string_equal(lookup_path(c, &q), "/srv/www/x");
    q.uri = S("/base/a/.");
    assert_string_equal(lookup_path(c, &q), "/srv/www/a/");
    q.uri = S("/base/./");
    assert_string_equal(lookup_path(c, &q), "/srv/www/");
    q.uri = S("/base/a/./");
    assert_string_equal(lookup_path(c, &q), "/srv/www/a/");
    q.uri = S("/base");                 /* not below BASE */
    assert_false(is_hit(c, &q));
    q.uri = S("/basement/x");
    assert_false(is_hit(c, &q));
    q = req_for("other", "/base/x");    /* HOST still in the key */
    assert_false(is_hit(c, &q));

    /* the modifiers come along */
    q = req_for("h", "/base/deep/er/file");
    assert_int_equal(dp_tcache_lookup(c, &q, now, &hit), DP_TCACHE_HIT);
    assert_string_equal(hit.response.address.path, "/srv/www/deep/er/file");
    assert_string_equal(hit.response.address.content_type, "text/html");
    assert_string_equal(hit.response.base, "/base/");
    dp_tcache_hit_release(&hit);

    /* an exact item wins over the BASE item */
    struct tp_request e = req_for("h", "/base/exact");
    store_ok(c, &e, path_resp("/elsewhere", UINT32_MAX), true);
    assert_string_equal(lookup_path(c, &e), "/elsewhere");
    /* the longest BASE wins */
    struct tp_request d = req_for("h", "/base/deep/x");
    begin();
    pstr(TP_CMD_BASE, "/base/deep/");
    pstr(TP_CMD_PATH, "/deep/x");
    store_ok(c, &d, end(), true);
    d.uri = S("/base/deep/y/z");
    assert_string_equal(lookup_path(c, &d), "/deep/y/z");
    d.uri = S("/base/shallow");
    assert_string_equal(lookup_path(c, &d), "/srv/www/shallow");
    dp_tcache_free(c);
}

static void
test_base_mismatch(void **state)
{
    (void)state;
    struct dp_tcache *c = new_cache(100, 0);
    /* BASE not a prefix of the URI */
    struct tp_request r = req_for("h", "/other/x");
    begin();
    pstr(TP_CMD_BASE, "/base/");
    pstr(TP_CMD_PATH, "/srv/x");
    store_err(c, &r, end(), 502);
    /* the address does not end with the tail */
    r.uri = S("/base/x.html");
    begin();
    pstr(TP_CMD_BASE, "/base/");
    pstr(TP_CMD_PATH, "/srv/y.html");
    store_err(c, &r, end(), 502);
    /* ... or ends with it, but not at a '/' */
    begin();
    pstr(TP_CMD_BASE, "/base/");
    pstr(TP_CMD_PATH, "/srv/ax.html");
    store_err(c, &r, end(), 502);
    assert_int_equal(entries(c), 0);

    /* a classic response for the BASE itself whose PATH cannot take a
     * tail serves only that URI */
    struct tp_request ix = req_for("h", "/docs/");
    begin();
    pstr(TP_CMD_BASE, "/docs/");
    pstr(TP_CMD_PATH, "/srv/docs/index.html");
    store_ok(c, &ix, end(), true);
    assert_string_equal(lookup_path(c, &ix), "/srv/docs/index.html");
    ix.uri = S("/docs/x");
    assert_false(is_hit(c, &ix));
    /* ... while one whose PATH is a directory serves the subtree */
    struct tp_request dd = req_for("h", "/dir/");
    begin();
    pstr(TP_CMD_BASE, "/dir/");
    pstr(TP_CMD_PATH, "/srv/dir/");
    store_ok(c, &dd, end(), true);
    dd.uri = S("/dir/x");
    assert_string_equal(lookup_path(c, &dd), "/srv/dir/x");
    size_t kept = entries(c);

    /* a malformed tail in the request: 400 */
    r.uri = S("/base/../x.html");
    begin();
    pstr(TP_CMD_BASE, "/base/");
    pstr(TP_CMD_PATH, "/srv/x.html");
    store_err(c, &r, end(), 400);
    assert_int_equal(entries(c), kept);
    dp_tcache_free(c);
}

static void
test_base_easy(void **state)
{
    (void)state;
    struct dp_tcache *c = new_cache(100, 0);
    struct tp_request r = req_for("h", "/e/dir/f.txt");
    begin();
    pstr(TP_CMD_BASE, "/e/");
    pflag(TP_CMD_EASY_BASE);
    pstr(TP_CMD_PATH, "/srv/easy/");
    struct tp_response resp = end();
    struct dp_tcache_hit hit;
    assert_int_equal(dp_tcache_store(c, &r, &resp, now, &hit), DP_TCACHE_HIT);
    /* the tail is appended for the very first response too */
    assert_string_equal(hit.response.address.path, "/srv/easy/dir/f.txt");
    dp_tcache_hit_release(&hit);
    r.uri = S("/e/");
    assert_string_equal(lookup_path(c, &r), "/srv/easy/");
    r.uri = S("/e/x%41y");
    assert_string_equal(lookup_path(c, &r), "/srv/easy/xAy");
    dp_tcache_free(c);
}

/* Many BASE hits alive at once, released in another order, then taken
 * again: the reused scratch blocks of released hits never show through
 * (each hit keeps its own path), and an unescaped and a plain tail both
 * come out right after reuse. */
static void
test_base_hits_reuse_scratch(void **state)
{
    (void)state;
    struct dp_tcache *c = new_cache(100, 0);
    struct tp_request r = req_for("h", "/e/first");
    begin();
    pstr(TP_CMD_BASE, "/e/");
    pflag(TP_CMD_EASY_BASE);
    pstr(TP_CMD_PATH, "/srv/easy/");
    store_ok(c, &r, end(), true);
    enum { N = 20 };
    struct dp_tcache_hit hits[N];
    char uris[N][64], want[N][64];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            bool esc = (i + round) % 3 == 0;
            snprintf(uris[i], sizeof(uris[i]), "/e/r%d/%s%d", round,
                     esc ? "a%41" : "plain", i);
            snprintf(want[i], sizeof(want[i]), "/srv/easy/r%d/%s%d", round,
                     esc ? "aA" : "plain", i);
            r.uri = S(uris[i]);
            assert_int_equal(dp_tcache_lookup(c, &r, now, &hits[i]),
                             DP_TCACHE_HIT);
        }
        for (int i = 0; i < N; i++)
            assert_string_equal(hits[i].response.address.path, want[i]);
        for (int i = 0; i < N; i += 2)
            dp_tcache_hit_release(&hits[i]);
        for (int i = 1; i < N; i += 2)
            assert_string_equal(hits[i].response.address.path, want[i]);
        for (int i = 1; i < N; i += 2)
            dp_tcache_hit_release(&hits[i]);
    }
    /* a long tail needs a block of its own (not a spare one) */
    char longuri[1200] = "/e/";
    memset(longuri + 3, 'x', 1000);
    longuri[1003] = '\0';
    r.uri = S(longuri);
    assert_int_equal(dp_tcache_lookup(c, &r, now, &hits[0]), DP_TCACHE_HIT);
    assert_int_equal(strlen(hits[0].response.address.path),
                     strlen("/srv/easy/") + 1000);
    dp_tcache_hit_release(&hits[0]);
    dp_tcache_free(c);
}

/* Every traversal attempt is refused (400) or finds nothing; none ever
 * yields a path outside the base. */
static void
check_traversal(struct dp_tcache *c, const char *prefix, const char *base)
{
    static const char *const evil[] = {
        "..", "../etc/passwd", "a/../../etc/passwd", "%2e%2e/etc/passwd",
        "%2E%2E/etc/passwd", ".%2e/etc/passwd", "%2e./etc/passwd",
        "a/%2e%2e/%2e%2e/x", "..%2fetc%2fpasswd", "a%2f..%2f..%2fx",
        "a%00b", "a%2Fb", "./../x", "a/./../../x", "//../x", "a/..",
        "%2e", "a/%2e/b", "x/%2", "x/%zz", "a\\..\\b", "a/..%5cx",
        ".%2E", "%2e%2E%2f", "a\nb", "a\rb", "a\x7f",
    };
    for (size_t i = 0; i < sizeof(evil) / sizeof(evil[0]); i++) {
        char uri[256];
        snprintf(uri, sizeof(uri), "%s%s", prefix, evil[i]);
        struct tp_request q = req_for("h", uri);
        struct dp_tcache_hit hit;
        enum dp_tcache_status st = dp_tcache_lookup(c, &q, now, &hit);
        if (st == DP_TCACHE_HIT) {
            const char *p = hit.response.address.path;
            fail_msg("traversal %s gave a hit: %s", uri, p ? p : "(null)");
        }
        if (st == DP_TCACHE_ERROR)
            assert_int_equal(hit.error_status, 400);
        dp_tcache_hit_release(&hit);
    }
    /* and harmless names that look similar still work */
    static const char *const fine[] = {
        "...", "a..b", "..a", "a.", ".hidden", "a%2e", "a%2Eb", "%41",
    };
    for (size_t i = 0; i < sizeof(fine) / sizeof(fine[0]); i++) {
        char uri[256];
        snprintf(uri, sizeof(uri), "%s%s", prefix, fine[i]);
        struct tp_request q = req_for("h", uri);
        const char *p = lookup_path(c, &q);
        if (p == NULL)
            fail_msg("harmless %s missed", uri);
        assert_memory_equal(p, base, strlen(base));
        assert_null(strstr(p, "/../"));
        assert_null(strstr(p, "/./"));
    }
}

static void
test_base_traversal(void **state)
{
    (void)state;
    struct dp_tcache *c = new_cache(100, 0);
    struct tp_request r = req_for("h", "/b/x");
    begin();
    pstr(TP_CMD_BASE, "/b/");
    pstr(TP_CMD_PATH, "/srv/b/x");
    store_ok(c, &r, end(), true);
    check_traversal(c, "/b/", "/srv/b/");

    struct tp_request e = req_for("h", "/easy/x");
    begin();
    pstr(TP_CMD_BASE, "/easy/");
    pflag(TP_CMD_EASY_BASE);
    pstr(TP_CMD_PATH, "/srv/easy/");
    store_ok(c, &e, end(), true);
    check_traversal(c, "/easy/", "/srv/easy/");

    /* the first request of an EASY_BASE response is checked as well */
    struct tp_request bad = req_for("h", "/easy2/%2e%2e/x");
    begin();
    pstr(TP_CMD_BASE, "/easy2/");
    pflag(TP_CMD_EASY_BASE);
    pstr(TP_CMD_PATH, "/srv/easy/");
    store_err(c, &bad, end(), 400);

    /* UNSAFE_BASE: no check, the tail goes through as is */
    struct tp_request u = req_for("h", "/u/x");
    begin();
    pstr(TP_CMD_BASE, "/u/");
    pflag(TP_CMD_EASY_BASE);
    pflag(TP_CMD_UNSAFE_BASE);
    pstr(TP_CMD_PATH, "/srv/u/");
    store_ok(c, &u, end(), true);
    u.uri = S("/u/a/../b");
    assert_string_equal(lookup_path(c, &u), "/srv/u/a/../b");
    dp_tcache_free(c);
}

static void
test_base_cgi(void **state)
{
    (void)state;
    struct dp_tcache *c = new_cache(100, 0);
    struct tp_request r = req_for("h", "/app/foo/bar");
    begin();
    pstr(TP_CMD_BASE, "/app/");
    pstr(TP_CMD_CGI, "/usr/lib/cgi-bin/app.cgi");
    pstr(TP_CMD_SCRIPT_NAME, "/app/");
    pstr(TP_CMD_PATH_INFO, "/foo/bar");
    struct tp_response resp = end();
    struct dp_tcache_hit hit;
    assert_int_equal(dp_tcache_store(c, &r, &resp, now, &hit), DP_TCACHE_HIT);
    assert_string_equal(hit.response.address.path_info, "/foo/bar");
    dp_tcache_hit_release(&hit);

    r.uri = S("/app/zzz%20y");
    assert_int_equal(dp_tcache_lookup(c, &r, now, &hit), DP_TCACHE_HIT);
    assert_int_equal(hit.response.address.type, TP_ADDRESS_CGI);
    assert_string_equal(hit.response.address.path, "/usr/lib/cgi-bin/app.cgi");
    assert_string_equal(hit.response.address.path_info, "/zzz y");
    assert_string_equal(hit.response.address.script_name, "/app/");
    dp_tcache_hit_release(&hit);

    /* EASY_BASE without PATH_INFO (SCRIPT_NAME is the base): the tail
     * becomes the PATH_INFO, so SCRIPT_NAME + PATH_INFO is the URI */
    struct tp_request e = req_for("h", "/easy-cgi/x");
    begin();
    pstr(TP_CMD_BASE, "/easy-cgi/");
    pflag(TP_CMD_EASY_BASE);
    pstr(TP_CMD_WAS, "/usr/lib/app.was");
    pstr(TP_CMD_SCRIPT_NAME, "/easy-cgi/");
    assert_int_equal(dp_tcache_store(c, &e, (resp = end(), &resp), now, &hit),
                     DP_TCACHE_HIT);
    assert_string_equal(hit.response.address.path_info, "x");
    dp_tcache_hit_release(&hit);
    e.uri = S("/easy-cgi/a/b%20c");
    assert_int_equal(dp_tcache_lookup(c, &e, now, &hit), DP_TCACHE_HIT);
    assert_int_equal(hit.response.address.type, TP_ADDRESS_WAS);
    assert_string_equal(hit.response.address.path_info, "a/b c");
    dp_tcache_hit_release(&hit);

    /* PATH_INFO that does not end with the tail: Base mismatch */
    struct tp_request m = req_for("h", "/app2/foo");
    begin();
    pstr(TP_CMD_BASE, "/app2/");
    pstr(TP_CMD_FASTCGI, "/usr/bin/app");
    pstr(TP_CMD_PATH_INFO, "/bar");
    store_err(c, &m, end(), 502);
    dp_tcache_free(c);
}

static void
test_base_http_lhttp_nfs(void **state)
{
    (void)state;
    struct dp_tcache *c = new_cache(100, 0);
    struct dp_tcache_hit hit;

    /* HTTP: the URL path takes the raw (still escaped) tail */
    struct tp_request r = req_for("h", "/p/foo");
    begin();
    pstr(TP_CMD_BASE, "/p/");
    phttp("http://backend:8080/app/foo");
    store_ok(c, &r, end(), true);
    r.uri = S("/p/x%20y/z");
    assert_int_equal(dp_tcache_lookup(c, &r, now, &hit), DP_TCACHE_HIT);
    assert_int_equal(hit.response.address.type, TP_ADDRESS_HTTP);
    assert_string_equal(hit.response.address.path, "/app/x%20y/z");
    assert_string_equal(hit.response.address.host_and_port, "backend:8080");
    assert_int_equal(hit.response.address.addresses.n, 1);
    dp_tcache_hit_release(&hit);

    /* LHTTP: LHTTP_URI takes the raw tail */
    struct tp_request l = req_for("h", "/l/a/b");
    begin();
    pstr(TP_CMD_BASE, "/l/");
    pstr(TP_CMD_LHTTP_PATH, "/usr/bin/server");
    pstr(TP_CMD_LHTTP_URI, "/root/a/b");
    store_ok(c, &l, end(), true);
    l.uri = S("/l/c%2Bd");
    assert_int_equal(dp_tcache_lookup(c, &l, now, &hit), DP_TCACHE_HIT);
    assert_string_equal(hit.response.address.lhttp_uri, "/root/c%2Bd");
    assert_string_equal(hit.response.address.path, "/usr/bin/server");
    dp_tcache_hit_release(&hit);

    /* NFS: the path inside the export takes the unescaped tail */
    struct tp_request n = req_for("h", "/n/x");
    begin();
    pstr(TP_CMD_BASE, "/n/");
    pstr(TP_CMD_NFS_SERVER, "10.0.0.1");
    pstr(TP_CMD_NFS_EXPORT, "/export");
    pstr(TP_CMD_PATH, "/data/x");
    store_ok(c, &n, end(), true);
    n.uri = S("/n/sub/f%20g");
    assert_int_equal(dp_tcache_lookup(c, &n, now, &hit), DP_TCACHE_HIT);
    assert_int_equal(hit.response.address.type, TP_ADDRESS_NFS);
    assert_string_equal(hit.response.address.path, "/data/sub/f g");
    assert_string_equal(hit.response.address.nfs_export, "/export");
    dp_tcache_hit_release(&hit);

    /* EASY_BASE with HTTP */
    struct tp_request e = req_for("h", "/eh/q");
    begin();
    pstr(TP_CMD_BASE, "/eh/");
    pflag(TP_CMD_EASY_BASE);
    phttp("http://backend/x/");
    store_ok(c, &e, end(), true);
    e.uri = S("/eh/a/b");
    assert_string_equal(lookup_path(c, &e), "/x/a/b");
    dp_tcache_free(c);
}

static void
test_base_uri_redirect_test_path(void **state)
{
    (void)state;
    struct dp_tcache *c = new_cache(100, 0);
    struct dp_tcache_hit hit;

    /* classic: REDIRECT, TEST_PATH and URI are cut like the address */
    struct tp_request r = req_for("h", "/r/a.html");
    begin();
    pstr(TP_CMD_BASE, "/r/");
    pstr(TP_CMD_REDIRECT, "https://new.example/r/a.html");
    pstr(TP_CMD_TEST_PATH, "/srv/r/a.html");
    store_ok(c, &r, end(), true);
    r.uri = S("/r/b%20c.html");
    assert_int_equal(dp_tcache_lookup(c, &r, now, &hit), DP_TCACHE_HIT);
    assert_string_equal(hit.response.redirect,
                        "https://new.example/r/b%20c.html");
    assert_string_equal(hit.response.test_path, "/srv/r/b c.html");
    dp_tcache_hit_release(&hit);

    /* a REDIRECT that does not end with the tail is dropped */
    struct tp_request d = req_for("h", "/d/a.html");
    begin();
    pstr(TP_CMD_BASE, "/d/");
    pstr(TP_CMD_PATH, "/srv/d/a.html");
    pstr(TP_CMD_REDIRECT, "https://fixed.example/");
    struct tp_response resp = end();
    assert_int_equal(dp_tcache_store(c, &d, &resp, now, &hit), DP_TCACHE_HIT);
    assert_string_equal(hit.response.redirect, "https://fixed.example/");
    dp_tcache_hit_release(&hit);
    d.uri = S("/d/b.html");
    assert_int_equal(dp_tcache_lookup(c, &d, now, &hit), DP_TCACHE_HIT);
    assert_null(hit.response.redirect);
    assert_string_equal(hit.response.address.path, "/srv/d/b.html");
    dp_tcache_hit_release(&hit);

    /* URI with INTERNAL_REDIRECT that does not end with the tail: 502 */
    struct tp_request i = req_for("h", "/i/a");
    begin();
    pstr(TP_CMD_BASE, "/i/");
    pstr(TP_CMD_INTERNAL_REDIRECT, "x");
    pstr(TP_CMD_URI, "/elsewhere");
    store_err(c, &i, end(), 502);
    begin();
    pstr(TP_CMD_BASE, "/i/");
    pstr(TP_CMD_INTERNAL_REDIRECT, "x");
    pstr(TP_CMD_URI, "/new/a");
    store_ok(c, &i, end(), true);
    i.uri = S("/i/b%20");
    assert_int_equal(dp_tcache_lookup(c, &i, now, &hit), DP_TCACHE_HIT);
    assert_string_equal(hit.response.uri, "/new/b%20");     /* raw tail */
    dp_tcache_hit_release(&hit);
    dp_tcache_free(c);
}

static void
test_auto_base_and_append_path(void **state)
{
    (void)state;
    struct dp_tcache *c = new_cache(100, 0);
    struct dp_tcache_hit hit;

    struct tp_request r = req_for("h", "/cgi/script/extra/path");
    begin();
    pstr(TP_CMD_CGI, "/usr/lib/cgi-bin/script");
    pstr(TP_CMD_PATH_INFO, "/extra/path");
    pflag(TP_CMD_AUTO_BASE);
    store_ok(c, &r, end(), true);
    r.uri = S("/cgi/script/other");
    assert_int_equal(dp_tcache_lookup(c, &r, now, &hit), DP_TCACHE_HIT);
    assert_string_equal(hit.response.address.path_info, "/other");
    assert_string_equal(hit.response.address.path, "/usr/lib/cgi-bin/script");
    dp_tcache_hit_release(&hit);

    /* APPEND_PATH after the BASE handling */
    struct tp_request a = req_for("h", "/ap/x");
    begin();
    pstr(TP_CMD_BASE, "/ap/");
    pflag(TP_CMD_EASY_BASE);
    pstr(TP_CMD_PATH, "/srv/ap/");
    pstr(TP_CMD_APPEND_PATH, "/index.html");
    struct tp_response resp = end();
    assert_int_equal(dp_tcache_store(c, &a, &resp, now, &hit), DP_TCACHE_HIT);
    assert_string_equal(hit.response.address.path, "/srv/ap/x/index.html");
    assert_null(hit.response.address.append_path);
    dp_tcache_hit_release(&hit);
    a.uri = S("/ap/y/z");
    assert_string_equal(lookup_path(c, &a), "/srv/ap/y/z/index.html");
    dp_tcache_free(c);
}

/* ---- REGEX ---- */

static void
test_regex_and_inverse(void **state)
{
    (void)state;
    struct dp_tcache *c = new_cache(100, 0);
    struct tp_request r = req_for("h", "/rx/a.html");
    begin();
    pstr(TP_CMD_BASE, "/rx/");
    pstr(TP_CMD_REGEX, "/rx/[a-z]+\\.html$");
    pflag(TP_CMD_EASY_BASE);
    pstr(TP_CMD_PATH, "/srv/html/");
    store_ok(c, &r, end(), true);

    r.uri = S("/rx/abc.html");
    assert_string_equal(lookup_path(c, &r), "/srv/html/abc.html");
    r.uri = S("/rx/ABC.html");
    assert_false(is_hit(c, &r));
    r.uri = S("/rx/a.html.png");
    assert_false(is_hit(c, &r));

    /* version 3: anchored at the start (not at the end) */
    struct tp_request s = req_for("h", "/s/x");
    begin();
    pstr(TP_CMD_BASE, "/s/");
    pstr(TP_CMD_REGEX, "x");
    pflag(TP_CMD_EASY_BASE);
    pstr(TP_CMD_PATH, "/srv/s/");
    store_ok(c, &s, end(), true);
    s.uri = S("/s/x");
    assert_false(is_hit(c, &s));        /* "x" must match at 0: no */
    struct tp_request s2 = req_for("h", "/s2/x");
    begin_v(2);
    pstr(TP_CMD_BASE, "/s2/");
    pstr(TP_CMD_REGEX, "x");
    pflag(TP_CMD_EASY_BASE);
    pstr(TP_CMD_PATH, "/srv/s2/");
    store_ok(c, &s2, end(), true);
    s2.uri = S("/s2/ax");
    assert_true(is_hit(c, &s2));        /* version 2: not anchored */

    /* INVERSE_REGEX: not reused when it matches */
    struct tp_request v = req_for("h", "/inv/a.txt");
    begin();
    pstr(TP_CMD_BASE, "/inv/");
    pstr(TP_CMD_INVERSE_REGEX, ".*\\.php$");
    pflag(TP_CMD_EASY_BASE);
    pstr(TP_CMD_PATH, "/srv/inv/");
    store_ok(c, &v, end(), true);
    v.uri = S("/inv/b.txt");
    assert_true(is_hit(c, &v));
    v.uri = S("/inv/b.php");
    assert_false(is_hit(c, &v));

    /* REGEX_UNESCAPE / INVERSE_REGEX_UNESCAPE */
    struct tp_request u = req_for("h", "/ue/a");
    begin();
    pstr(TP_CMD_BASE, "/ue/");
    pstr(TP_CMD_REGEX, "/ue/[a-z ]+$");
    pflag(TP_CMD_REGEX_UNESCAPE);
    pflag(TP_CMD_EASY_BASE);
    pstr(TP_CMD_PATH, "/srv/ue/");
    store_ok(c, &u, end(), true);
    u.uri = S("/ue/a%20b");
    assert_true(is_hit(c, &u));

    /* REGEX_ON_HOST_URI: "host/uri-without-slash" */
    struct tp_request h = req_for("www.example.com", "/oh/a");
    begin();
    pstr(TP_CMD_BASE, "/oh/");
    pstr(TP_CMD_REGEX, "www\\.example\\.com/oh/");
    pflag(TP_CMD_REGEX_ON_HOST_URI);
    pflag(TP_CMD_EASY_BASE);
    pstr(TP_CMD_PATH, "/srv/oh/");
    store_ok(c, &h, end(), true);
    h.uri = S("/oh/b");
    assert_true(is_hit(c, &h));

    /* REGEX_ON_USER_URI: "user@uri" (also with REGEX_ON_HOST_URI:
     * "user@host/uri") */
    struct tp_request us = req_for("h", "/uu/a");
    us.user = S("alice");
    begin();
    pstr(TP_CMD_BASE, "/uu/");
    pstr(TP_CMD_REGEX, "alice@/uu/");
    pflag(TP_CMD_REGEX_ON_USER_URI);
    pflag(TP_CMD_EASY_BASE);
    pstr(TP_CMD_PATH, "/srv/uu/");
    store_ok(c, &us, end(), true);
    us.uri = S("/uu/b");
    assert_true(is_hit(c, &us));
    us.user = S("bob");
    assert_false(is_hit(c, &us));
    us.user = (struct pr_slice){ NULL, 0 };
    assert_false(is_hit(c, &us));

    /* INVERSE_REGEX_UNESCAPE applies to INVERSE_REGEX only */
    struct tp_request iu = req_for("h", "/iu/a");
    begin();
    pstr(TP_CMD_BASE, "/iu/");
    pstr(TP_CMD_INVERSE_REGEX, "/iu/secret");
    pflag(TP_CMD_INVERSE_REGEX_UNESCAPE);
    pflag(TP_CMD_EASY_BASE);
    pstr(TP_CMD_PATH, "/srv/iu/");
    store_ok(c, &iu, end(), true);
    iu.uri = S("/iu/%73ecret");         /* "secret" encoded */
    assert_false(is_hit(c, &iu));
    iu.uri = S("/iu/public");
    assert_true(is_hit(c, &iu));

    /* a REGEX that does not compile: 502, nothing stored */
    struct tp_request bad = req_for("h", "/bad/x");
    size_t before = entries(c);
    begin();
    pstr(TP_CMD_BASE, "/bad/");
    pstr(TP_CMD_REGEX, "([a-z");
    pstr(TP_CMD_PATH, "/srv/bad/x");
    store_err(c, &bad, end(), 502);
    assert_int_equal(entries(c), before);
    dp_tcache_free(c);
}

static void
test_expand(void **state)
{
    (void)state;
    struct dp_tcache *c = new_cache(100, 0);
    struct dp_tcache_hit hit;

    struct tp_request r = req_for("h", "/x/alice/pic.jpg");
    begin();
    pstr(TP_CMD_BASE, "/x/");
    pstr(TP_CMD_REGEX, "([^/]+)/(.*)$");
    pflag(TP_CMD_REGEX_TAIL);
    pstr(TP_CMD_PATH, "/unused");
    pstr(TP_CMD_EXPAND_PATH, "/home/\\1/files/\\2");
    pstr(TP_CMD_SITE, "unused");
    pstr(TP_CMD_EXPAND_SITE, "site-\\1");
    pstr(TP_CMD_EXPAND_HEADER, "x-user:\\1\\\\");
    struct tp_response resp = end();
    assert_int_equal(dp_tcache_store(c, &r, &resp, now, &hit), DP_TCACHE_HIT);
    assert_true(hit.stored);
    assert_string_equal(hit.response.address.path,
                        "/home/alice/files/pic.jpg");
    assert_null(hit.response.address.expand_path);
    dp_tcache_hit_release(&hit);

    r.uri = S("/x/bob/a%20b.txt");
    assert_int_equal(dp_tcache_lookup(c, &r, now, &hit), DP_TCACHE_HIT);
    assert_string_equal(hit.response.address.path, "/home/bob/files/a b.txt");
    assert_string_equal(hit.response.site, "site-bob");
    assert_int_equal(hit.response.response_headers.n, 1);
    assert_string_equal(hit.response.response_headers.v[0].value, "bob\\");
    assert_false(hit.response.response_headers.v[0].expand);
    dp_tcache_hit_release(&hit);

    /* the tail does not match REGEX: no hit */
    r.uri = S("/x/nosub");
    assert_false(is_hit(c, &r));
    /* traversal through a capture is refused */
    r.uri = S("/x/bob/../../etc/passwd");
    assert_int_equal(dp_tcache_lookup(c, &r, now, &hit), DP_TCACHE_ERROR);
    assert_int_equal(hit.error_status, 400);
    dp_tcache_hit_release(&hit);
    r.uri = S("/x/bob/%2e%2e/x");
    assert_int_equal(dp_tcache_lookup(c, &r, now, &hit), DP_TCACHE_ERROR);
    assert_int_equal(hit.error_status, 400);
    dp_tcache_hit_release(&hit);

    /* REGEX_RAW: the expansion input is not normalised ("//" stays) */
    struct tp_request rw = req_for("h", "/raw/a");
    begin();
    pstr(TP_CMD_BASE, "/raw/");
    pstr(TP_CMD_REGEX, "/raw/(.*)");
    pflag(TP_CMD_REGEX_RAW);
    pstr(TP_CMD_PATH, "/x");
    pstr(TP_CMD_EXPAND_PATH, "/srv/raw/\\1");
    store_ok(c, &rw, end(), true);
    rw.uri = S("/raw/a//b");
    assert_string_equal(lookup_path(c, &rw), "/srv/raw/a//b");
    /* without it, "//" and "/./" are collapsed first */
    r.uri = S("/x/bob//a/./b");
    assert_string_equal(lookup_path(c, &r), "/home/bob/files/a/b");

    /* expansion of CGI fields, APPEND and PAIR lists, REDIRECT */
    struct tp_request g = req_for("h", "/g/tool/run");
    begin();
    pstr(TP_CMD_BASE, "/g/");
    pstr(TP_CMD_REGEX, "/g/([a-z]+)/(.*)");
    pstr(TP_CMD_FASTCGI, "/usr/bin/app");
    pstr(TP_CMD_EXPAND_PATH_INFO, "/\\2");
    pstr(TP_CMD_EXPAND_SCRIPT_NAME, "/g/\\1");
    pstr(TP_CMD_APPEND, "--tool");
    pstr(TP_CMD_EXPAND_APPEND, "--tool=\\1");
    pstr(TP_CMD_PAIR, "TOOL=x");
    pstr(TP_CMD_EXPAND_PAIR, "TOOL=\\1");
    store_ok(c, &g, end(), true);
    g.uri = S("/g/grep/a/b");
    assert_int_equal(dp_tcache_lookup(c, &g, now, &hit), DP_TCACHE_HIT);
    const struct tp_address *a = &hit.response.address;
    assert_string_equal(a->path_info, "/a/b");
    assert_string_equal(a->script_name, "/g/grep");
    assert_int_equal(a->args.n, 1);
    assert_string_equal(a->args.v[0].value, "--tool=grep");
    assert_null(a->args.v[0].expand);
    assert_int_equal(a->params.n, 1);
    assert_string_equal(a->params.v[0].value, "TOOL=grep");
    dp_tcache_hit_release(&hit);

    /* an expandable classic BASE response keeps URI/REDIRECT as sent:
     * the templates do the work of the tail */
    struct tp_request k = req_for("h", "/kb/a");
    begin();
    pstr(TP_CMD_BASE, "/kb/");
    pstr(TP_CMD_REGEX, "/kb/(.*)");
    pstr(TP_CMD_PATH, "/unused");
    pstr(TP_CMD_EXPAND_PATH, "/srv/kb/\\1");
    pstr(TP_CMD_TEST_PATH, "/fixed/test");
    store_ok(c, &k, end(), true);
    k.uri = S("/kb/b/c");
    assert_int_equal(dp_tcache_lookup(c, &k, now, &hit), DP_TCACHE_HIT);
    assert_string_equal(hit.response.address.path, "/srv/kb/b/c");
    assert_string_equal(hit.response.test_path, "/fixed/test");
    dp_tcache_hit_release(&hit);

    struct tp_request x = req_for("h", "/rd/abc");
    begin();
    pstr(TP_CMD_BASE, "/rd/");
    pstr(TP_CMD_REGEX, "/rd/(.*)");
    pstr(TP_CMD_REDIRECT, "https://x/");
    pstr(TP_CMD_EXPAND_REDIRECT, "https://new.example/\\1");
    store_ok(c, &x, end(), true);
    x.uri = S("/rd/def");
    assert_int_equal(dp_tcache_lookup(c, &x, now, &hit), DP_TCACHE_HIT);
    assert_string_equal(hit.response.redirect, "https://new.example/def");
    dp_tcache_hit_release(&hit);
    /* a URI-valued template keeps the capture encoded */
    x.uri = S("/rd/a%20b/%252e%252e");
    assert_int_equal(dp_tcache_lookup(c, &x, now, &hit), DP_TCACHE_HIT);
    assert_string_equal(hit.response.redirect,
                        "https://new.example/a%20b/%252e%252e");
    dp_tcache_hit_release(&hit);

    struct tp_request hp = req_for("h", "/hp/x");
    begin();
    pstr(TP_CMD_BASE, "/hp/");
    pstr(TP_CMD_REGEX, "/hp/(.*)");
    phttp("http://backend/");
    pstr(TP_CMD_EXPAND_PATH, "/api/\\1");
    pstr(TP_CMD_EXPAND_REQUEST_HEADER, "x-name:\\1");
    store_ok(c, &hp, end(), true);
    hp.uri = S("/hp/a%20b/%252e%252e");
    assert_int_equal(dp_tcache_lookup(c, &hp, now, &hit), DP_TCACHE_HIT);
    assert_string_equal(hit.response.address.path, "/api/a%20b/%252e%252e");
    /* a header value gets the decoded text */
    assert_string_equal(hit.response.request_headers.v[0].value,
                        "a b/%2e%2e");
    dp_tcache_hit_release(&hit);
    dp_tcache_free(c);
}

static void
test_expand_errors(void **state)
{
    (void)state;
    struct dp_tcache *c = new_cache(100, 0);
    struct tp_request r = req_for("h", "/e/a");

    /* a group the pattern does not have */
    begin();
    pstr(TP_CMD_BASE, "/e/");
    pstr(TP_CMD_REGEX, "/e/(.*)");
    pstr(TP_CMD_PATH, "/x");
    pstr(TP_CMD_EXPAND_PATH, "/srv/\\2");
    store_err(c, &r, end(), 502);
    assert_int_equal(entries(c), 0);    /* not stored either */
    /* an invalid escape and a trailing backslash */
    begin();
    pstr(TP_CMD_BASE, "/e/");
    pstr(TP_CMD_REGEX, "/e/(.*)");
    pstr(TP_CMD_PATH, "/x");
    pstr(TP_CMD_EXPAND_PATH, "/srv/\\q");
    store_err(c, &r, end(), 502);
    begin();
    pstr(TP_CMD_BASE, "/e/");
    pstr(TP_CMD_REGEX, "/e/(.*)");
    pstr(TP_CMD_PATH, "/x");
    pstr(TP_CMD_EXPAND_PATH, "/srv/\\");
    store_err(c, &r, end(), 502);
    /* an unset optional group is empty */
    begin();
    pstr(TP_CMD_BASE, "/e/");
    pstr(TP_CMD_REGEX, "/e/(a)?(.*)");
    pstr(TP_CMD_PATH, "/x");
    pstr(TP_CMD_EXPAND_PATH, "/srv/[\\1]\\2");
    struct tp_response resp = end();
    r.uri = S("/e/bcd");
    struct dp_tcache_hit hit;
    assert_int_equal(dp_tcache_store(c, &r, &resp, now, &hit), DP_TCACHE_HIT);
    assert_string_equal(hit.response.address.path, "/srv/[]bcd");
    dp_tcache_hit_release(&hit);
    /* a malformed escape in the captured text: 400; an error holds no
     * resources, so not releasing it leaks nothing (ASan checks) */
    r.uri = S("/e/b%zz");
    assert_int_equal(dp_tcache_lookup(c, &r, now, &hit), DP_TCACHE_ERROR);
    assert_int_equal(hit.error_status, 400);
    assert_null(hit.item);
    assert_null(hit.response.address.path);
    dp_tcache_free(c);
}

/* ---- invalidation ---- */

/* Store a PATH response with VARY=cmds for a request. */
static void
store_vary(struct dp_tcache *c, const struct tp_request *req, uint16_t v1,
           uint16_t v2, const char *site, const char *tag)
{
    begin();
    if (tag != NULL)
        pstr(TP_CMD_CACHE_TAG, tag);
    if (site != NULL)
        pstr(TP_CMD_SITE, site);
    if (v1 != 0)
        plist(TP_CMD_VARY, v1, v2, 0);
    pstr(TP_CMD_PATH, "/srv/v");
    store_ok(c, req, end(), true);
}

static void
test_invalidate_response(void **state)
{
    (void)state;
    struct dp_tcache *c = new_cache(100, 0);
    struct tp_request a1 = req_for("h", "/1");
    a1.session = S("A");
    struct tp_request a2 = req_for("h", "/2");
    a2.session = S("A");
    struct tp_request b1 = req_for("h", "/1");
    b1.session = S("B");
    struct tp_request n1 = req_for("h", "/3");
    n1.session = S("A");
    store_vary(c, &a1, TP_CMD_SESSION, 0, NULL, NULL);
    store_vary(c, &a2, TP_CMD_SESSION, 0, NULL, NULL);
    store_vary(c, &b1, TP_CMD_SESSION, 0, NULL, NULL);
    store_vary(c, &n1, 0, 0, NULL, NULL);   /* no VARY: never strict */
    assert_int_equal(entries(c), 4);

    /* a response with INVALIDATE=SESSION for a request of session A */
    struct tp_request q = req_for("h", "/logout");
    q.session = S("A");
    begin();
    plist(TP_CMD_INVALIDATE, TP_CMD_SESSION, 0, 0);
    pstr(TP_CMD_PATH, "/srv/logout");
    pu32(TP_CMD_MAX_AGE, 0);
    store_ok(c, &q, end(), false);
    assert_false(is_hit(c, &a1));
    assert_false(is_hit(c, &a2));
    assert_true(is_hit(c, &b1));
    assert_true(is_hit(c, &n1));

    /* URI compares the key's URI; all commands must match */
    store_vary(c, &a1, TP_CMD_SESSION, 0, NULL, NULL);
    store_vary(c, &a2, TP_CMD_SESSION, 0, NULL, NULL);
    struct tp_request q2 = req_for("h", "/1");
    q2.session = S("A");
    begin();
    plist(TP_CMD_INVALIDATE, TP_CMD_URI, TP_CMD_SESSION, 0);
    pstr(TP_CMD_PATH, "/srv/new1");
    store_ok(c, &q2, end(), true);
    assert_string_equal(lookup_path(c, &a1), "/srv/new1");
    assert_true(is_hit(c, &a2));
    assert_true(is_hit(c, &b1));

    /* an unsupported command never matches */
    begin();
    plist(TP_CMD_INVALIDATE, TP_CMD_ALT_HOST, 0, 0);
    pstr(TP_CMD_PATH, "/srv/z");
    pu32(TP_CMD_MAX_AGE, 0);
    size_t before = entries(c);
    struct tp_request q3 = req_for("h", "/z");
    q3.alt_host = S("x");
    store_ok(c, &q3, end(), false);
    assert_int_equal(entries(c), before);
    dp_tcache_free(c);
}

static void
control_invalidate(struct dp_tcache *c, const struct ctl_tcache_value *v,
                   size_t n, size_t expect_removed);

static void
test_invalidate_host_index(void **state)
{
    (void)state;
    /* enough items to make the tables grow a few times */
    struct dp_tcache *c = new_cache(10000, 0);
    static char hosts[4][16], uris[300][16];
    for (int h = 0; h < 4; h++)
        snprintf(hosts[h], sizeof(hosts[h]), "host%d.example", h);
    for (int i = 0; i < 300; i++) {
        snprintf(uris[i], sizeof(uris[i]), "/p%d", i);
        struct tp_request r = req_for(hosts[i % 4], uris[i]);
        /* every third item does not vary by HOST */
        store_vary(c, &r, i % 3 == 0 ? TP_CMD_SESSION : TP_CMD_HOST, 0, NULL,
                   NULL);
    }
    assert_int_equal(entries(c), 300);

    /* a response with INVALIDATE=HOST for host1 */
    struct tp_request q = req_for(hosts[1], "/logout");
    begin();
    plist(TP_CMD_INVALIDATE, TP_CMD_HOST, 0, 0);
    pstr(TP_CMD_PATH, "/srv/x");
    pu32(TP_CMD_MAX_AGE, 0);
    store_ok(c, &q, end(), false);
    size_t expect = 0;
    for (int i = 0; i < 300; i++) {
        struct tp_request r = req_for(hosts[i % 4], uris[i]);
        bool gone = i % 4 == 1 && i % 3 != 0;
        expect += gone;
        assert_int_equal(is_hit(c, &r), !gone);
    }
    assert_int_equal(entries(c), 300 - expect);

    /* the control packet with HOST + URI finds one item */
    struct ctl_tcache_value v[2] = {
        { TP_CMD_HOST, S("host2.example") },
        { TP_CMD_URI, S("/p2") },
    };
    control_invalidate(c, v, 2, 1);
    struct tp_request r2 = req_for(hosts[2], "/p2");
    assert_false(is_hit(c, &r2));
    struct ctl_tcache_value hv = { TP_CMD_HOST, S("host3.example") };
    control_invalidate(c, &hv, 1, 50);      /* 75 items, 25 without HOST */
    dp_tcache_free(c);
}

static void
control_invalidate(struct dp_tcache *c, const struct ctl_tcache_value *v,
                   size_t n, size_t expect_removed)
{
    struct pr_buf b = PR_BUF_INIT;
    char err[CTL_ERROR_SIZE];
    assert_int_equal(ctl_tcache_encode(&b, v, n, err, sizeof(err)), 0);
    struct ctl_tcache_invalidate inv;
    assert_int_equal(ctl_tcache_decode(&inv, b.data, b.len, err,
                                       sizeof(err)),
                     0);
    assert_int_equal(dp_tcache_invalidate(c, &inv), expect_removed);
    pr_buf_free(&b);
}

static void
test_control_invalidate(void **state)
{
    (void)state;
    struct dp_tcache *c = new_cache(100, 0);
    struct tp_request h1 = req_for("one.example", "/a");
    struct tp_request h1b = req_for("one.example", "/b");
    struct tp_request h2 = req_for("two.example", "/a");
    struct tp_request s1 = req_for("one.example", "/site");
    struct tp_request t1 = req_for("two.example", "/tagged");
    h1.listener_tag = S("L1");
    store_vary(c, &h1, TP_CMD_HOST, TP_CMD_LISTENER_TAG, NULL, NULL);
    store_vary(c, &h1b, TP_CMD_HOST, 0, NULL, NULL);
    store_vary(c, &h2, TP_CMD_HOST, 0, NULL, NULL);
    store_vary(c, &s1, 0, 0, "site1", NULL);
    store_vary(c, &t1, 0, 0, "site2", "tagX");
    assert_int_equal(entries(c), 5);

    /* HOST + URI: only items that stored HOST and have that URI */
    struct ctl_tcache_value v[2] = {
        { TP_CMD_HOST, S("one.example") },
        { TP_CMD_URI, S("/b") },
    };
    control_invalidate(c, v, 2, 1);
    assert_false(is_hit(c, &h1b));
    assert_true(is_hit(c, &h1));

    /* LISTENER_TAG: the item must have stored it */
    struct ctl_tcache_value lt = { TP_CMD_LISTENER_TAG, S("L2") };
    control_invalidate(c, &lt, 1, 0);
    lt.value = S("L1");
    control_invalidate(c, &lt, 1, 1);
    assert_false(is_hit(c, &h1));

    /* HOST alone does not hit items without VARY=HOST */
    struct ctl_tcache_value hv = { TP_CMD_HOST, S("one.example") };
    control_invalidate(c, &hv, 1, 0);
    assert_true(is_hit(c, &s1));

    /* SITE only: all items of that site */
    struct ctl_tcache_value sv = { TP_CMD_SITE, S("site1") };
    control_invalidate(c, &sv, 1, 1);
    assert_false(is_hit(c, &s1));

    /* CACHE_TAG */
    struct ctl_tcache_value tv[2] = {
        { TP_CMD_CACHE_TAG, S("tagX") },
        { TP_CMD_SITE, S("other") },
    };
    control_invalidate(c, tv, 2, 0);    /* SITE must match too */
    control_invalidate(c, tv, 1, 1);
    assert_false(is_hit(c, &t1));
    assert_true(is_hit(c, &h2));

    /* empty payload: flush */
    control_invalidate(c, NULL, 0, 1);
    assert_int_equal(entries(c), 0);
    dp_tcache_free(c);
}

struct expired {
    size_t n;
    uint64_t at[4];
    const char *site[4];
};

static void
on_expired(const struct tp_response *resp, uint64_t expires_ms, void *ctx)
{
    struct expired *e = ctx;
    assert_true(e->n < 4);
    e->at[e->n] = expires_ms;
    e->site[e->n] = resp->site;
    e->n++;
}

static void
test_expire_tag(void **state)
{
    (void)state;
    struct dp_tcache *c = new_cache(100, 0);
    struct tp_request a = req_for("h", "/a");
    struct tp_request b = req_for("h", "/b");
    struct tp_request d = req_for("h", "/d");
    store_vary(c, &a, 0, 0, NULL, "t");
    store_vary(c, &b, 0, 0, "some-site", "t");
    store_vary(c, &d, 0, 0, NULL, "other");
    struct expired e = { 0 };
    assert_int_equal(dp_tcache_expire_tag(c, S("t"), now, on_expired, &e),
                     2);
    assert_int_equal(e.n, 2);
    for (size_t i = 0; i < 2; i++) {
        if (e.site[i] == NULL) {
            assert_int_equal(e.at[i], now);
        } else {
            assert_string_equal(e.site[i], "some-site");
            assert_true(e.at[i] >= now && e.at[i] <= now + 549756);
        }
    }
    assert_int_equal(dp_tcache_expire_tag(c, S("none"), now, NULL, NULL), 0);
    /* without SITE: at once */
    assert_false(is_hit(c, &a));
    assert_true(is_hit(c, &d));
    /* with SITE: at most 2^39 ns (≈550 s) later */
    now += 550 * 1000;
    assert_false(is_hit(c, &b));
    assert_true(is_hit(c, &d));
    dp_tcache_free(c);
}

/* ---- limits ---- */

static void
test_eviction_items(void **state)
{
    (void)state;
    struct dp_tcache *c = new_cache(3, 0);
    struct tp_request r[5];
    char uris[5][8];
    for (int i = 0; i < 3; i++) {
        snprintf(uris[i], sizeof(uris[i]), "/%d", i);
        r[i] = req_for("h", uris[i]);
        store_ok(c, &r[i], path_resp("/srv", UINT32_MAX), true);
    }
    /* touch /0: /1 is now the least recently used */
    assert_true(is_hit(c, &r[0]));
    snprintf(uris[3], sizeof(uris[3]), "/3");
    r[3] = req_for("h", uris[3]);
    store_ok(c, &r[3], path_resp("/srv", UINT32_MAX), true);
    assert_int_equal(entries(c), 3);
    assert_true(is_hit(c, &r[0]));
    assert_false(is_hit(c, &r[1]));
    assert_true(is_hit(c, &r[2]));
    assert_true(is_hit(c, &r[3]));
    struct dp_tcache_stats st;
    dp_tcache_get_stats(c, &st);
    assert_int_equal(st.evictions, 1);
    dp_tcache_free(c);
}

static void
test_eviction_bytes(void **state)
{
    (void)state;
    /* find out what one item costs */
    struct dp_tcache *c = new_cache(1000, 0);
    struct tp_request r0 = req_for("h", "/0");
    store_ok(c, &r0, path_resp("/srv", UINT32_MAX), true);
    struct dp_tcache_stats st;
    dp_tcache_get_stats(c, &st);
    size_t one = st.bytes;
    dp_tcache_free(c);

    c = new_cache(1000, one * 3 + one / 2);
    char uris[20][8];
    for (int i = 0; i < 20; i++) {
        snprintf(uris[i], sizeof(uris[i]), "/%d", i);
        struct tp_request r = req_for("h", uris[i]);
        store_ok(c, &r, path_resp("/srv", UINT32_MAX), true);
        dp_tcache_get_stats(c, &st);
        assert_true(st.bytes <= one * 3 + one / 2);
    }
    assert_int_equal(entries(c), 3);
    struct tp_request last = req_for("h", "/19");
    assert_true(is_hit(c, &last));
    dp_tcache_free(c);

    /* an item larger than the whole cache is not stored */
    c = new_cache(1000, one / 2);
    store_ok(c, &r0, path_resp("/srv", UINT32_MAX), false);
    assert_int_equal(entries(c), 0);
    dp_tcache_free(c);
}

static void
test_hit_outlives_cache(void **state)
{
    (void)state;
    struct dp_tcache *c = new_cache(100, 0);
    struct tp_request r = req_for("h", "/b/x");
    begin();
    pstr(TP_CMD_BASE, "/b/");
    pflag(TP_CMD_EASY_BASE);
    pstr(TP_CMD_PATH, "/srv/");
    pstr(TP_CMD_CONTENT_TYPE, "text/plain");
    store_ok(c, &r, end(), true);
    struct dp_tcache_hit hit;
    r.uri = S("/b/y");
    assert_int_equal(dp_tcache_lookup(c, &r, now, &hit), DP_TCACHE_HIT);
    /* replace, invalidate, flush, free: the hit stays valid */
    begin();
    pstr(TP_CMD_BASE, "/b/");
    pflag(TP_CMD_EASY_BASE);
    pstr(TP_CMD_PATH, "/other/");
    store_ok(c, &r, end(), true);
    dp_tcache_flush(c);
    dp_tcache_free(c);
    assert_string_equal(hit.response.address.path, "/srv/y");
    assert_string_equal(hit.response.address.content_type, "text/plain");
    dp_tcache_hit_release(&hit);
    dp_tcache_hit_release(&hit);        /* harmless twice */
}

static void
test_validate_mtime(void **state)
{
    (void)state;
    char dir[] = "/tmp/dp_tcache_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[64];
    snprintf(file, sizeof(file), "%s/f", dir);
    int fd = open(file, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    close(fd);
    struct timeval tv[2] = { { 1000000, 0 }, { 1000000, 0 } };
    assert_int_equal(utimes(file, tv), 0);

    struct dp_tcache *c = new_cache(100, 0);
    uint8_t payload[80];
    uint64_t mtime = 1000000;
    memcpy(payload, &mtime, 8);
    memcpy(payload + 8, file, strlen(file));
    struct tp_request r = req_for("h", "/m");
    begin();
    pstr(TP_CMD_PATH, "/srv/m");
    pkt(TP_CMD_VALIDATE_MTIME, payload, 8 + strlen(file));
    store_ok(c, &r, end(), true);
    assert_true(is_hit(c, &r));
    tv[1].tv_sec = 2000000;
    assert_int_equal(utimes(file, tv), 0);
    assert_false(is_hit(c, &r));
    assert_int_equal(entries(c), 0);

    /* mtime 0: valid while the file does not exist */
    char missing[80];
    snprintf(missing, sizeof(missing), "%s/missing", dir);
    mtime = 0;
    memcpy(payload, &mtime, 8);
    memcpy(payload + 8, missing, strlen(missing));
    struct tp_request m = req_for("h", "/missing");
    begin();
    pstr(TP_CMD_PATH, "/srv/m");
    pkt(TP_CMD_VALIDATE_MTIME, payload, 8 + strlen(missing));
    store_ok(c, &m, end(), true);
    assert_true(is_hit(c, &m));
    fd = open(missing, O_CREAT | O_WRONLY, 0644);
    assert_true(fd >= 0);
    close(fd);
    assert_false(is_hit(c, &m));

    /* a directory is not a regular file */
    mtime = 1000000;
    assert_int_equal(utimes(dir, tv), 0);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    mtime = (uint64_t)st.st_mtime;
    memcpy(payload, &mtime, 8);
    memcpy(payload + 8, dir, strlen(dir));
    struct tp_request d = req_for("h", "/dir");
    begin();
    pstr(TP_CMD_PATH, "/srv/m");
    pkt(TP_CMD_VALIDATE_MTIME, payload, 8 + strlen(dir));
    store_ok(c, &d, end(), true);
    assert_false(is_hit(c, &d));

    unlink(missing);
    unlink(file);
    rmdir(dir);
    dp_tcache_free(c);
}

static void
test_deep_uri(void **state)
{
    (void)state;
    /* more '/' than the lookup's stack array holds */
    struct dp_tcache *c = new_cache(100, 0);
    struct tp_request r = req_for("h", "/d/x");
    begin();
    pstr(TP_CMD_BASE, "/d/");
    pflag(TP_CMD_EASY_BASE);
    pstr(TP_CMD_PATH, "/srv/d/");
    store_ok(c, &r, end(), true);
    static char uri[1024];
    size_t n = 0;
    n += (size_t)snprintf(uri + n, sizeof(uri) - n, "/d");
    for (int i = 0; i < 300; i++)
        n += (size_t)snprintf(uri + n, sizeof(uri) - n, "/a");
    r.uri = S(uri);
    const char *p = lookup_path(c, &r);
    assert_non_null(p);
    assert_memory_equal(p, "/srv/d/a/a/", 11);
    assert_int_equal(strlen(p), strlen("/srv/d/") + 2 * 300 - 1);
    dp_tcache_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_cacheable),
        cmocka_unit_test(test_inactive_until_first_response),
        cmocka_unit_test(test_exact_key_and_host),
        cmocka_unit_test(test_key_parts),
        cmocka_unit_test(test_max_age),
        cmocka_unit_test(test_auth_headers_not_stored),
        cmocka_unit_test(test_vary),
        cmocka_unit_test(test_base_local_classic),
        cmocka_unit_test(test_base_mismatch),
        cmocka_unit_test(test_base_easy),
        cmocka_unit_test(test_base_traversal),
        cmocka_unit_test(test_base_cgi),
        cmocka_unit_test(test_base_http_lhttp_nfs),
        cmocka_unit_test(test_base_uri_redirect_test_path),
        cmocka_unit_test(test_auto_base_and_append_path),
        cmocka_unit_test(test_regex_and_inverse),
        cmocka_unit_test(test_expand),
        cmocka_unit_test(test_expand_errors),
        cmocka_unit_test(test_invalidate_response),
        cmocka_unit_test(test_control_invalidate),
        cmocka_unit_test(test_invalidate_host_index),
        cmocka_unit_test(test_expire_tag),
        cmocka_unit_test(test_eviction_items),
        cmocka_unit_test(test_eviction_bytes),
        cmocka_unit_test(test_hit_outlives_cache),
        cmocka_unit_test(test_validate_mtime),
        cmocka_unit_test(test_deep_uri),
        cmocka_unit_test(test_base_hits_reuse_scratch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
