/* Unit tests: dp_session_request (one request's session: the cookie in,
 * packets applied, Set-Cookie out, ATTACH_SESSION, the COOKIE group). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_session_request.h"

#include <stdio.h>
#include <string.h>

static struct dp_sessions *
sessions(void)
{
    struct dp_sessions_config c = {
        .cookie_name = "sid",
        .same_site = DP_SESSION_SAME_SITE_LAX,
        .store = { .idle_timeout_ms = 60000, .max_sessions = 10 },
    };
    struct dp_sessions *s = dp_sessions_new(&c);
    assert_non_null(s);
    return s;
}

/* A request with an optional Cookie header, in its own pool. */
struct fake {
    struct dp_request req;
    struct dp_header headers[2];
};

static void
fake_init(struct fake *f, const char *cookie)
{
    memset(f, 0, sizeof(*f));
    f->req.pool = dp_pool_new(4096);
    assert_non_null(f->req.pool);
    f->req.host = "Example.COM";
    f->req.headers = f->headers;
    f->headers[0].name = "Accept";
    f->headers[0].value = "*/*";
    f->req.n_headers = 1;
    if (cookie != NULL) {
        f->headers[1].name = "cookie";
        f->headers[1].value = cookie;
        f->req.n_headers = 2;
    }
}

static void
response(struct tp_response *r)
{
    memset(r, 0, sizeof(*r));
    r->max_age = r->user_max_age = TP_MAX_AGE_UNSET;
    r->request_header_forward[TP_HG_COOKIE] = TP_HF_MANGLE;
    r->response_header_forward[TP_HG_COOKIE] = TP_HF_MANGLE;
}

static struct pr_slice
slice(const char *s)
{
    return (struct pr_slice){ (const uint8_t *)s, strlen(s) };
}

/* The Set-Cookie the request sends ("" when none). */
static const char *
set_cookie(struct dp_session_request *sr, const struct tp_response *r,
           char *buf, size_t n)
{
    struct dp_response_headers h;
    dp_response_headers_init(&h, sr->req->pool);
    assert_int_equal(dp_session_request_add_cookie(sr, r, &h), 0);
    snprintf(buf, n, "%.*s", (int)h.len, h.data != NULL ? h.data : "");
    return buf;
}

static void
test_create_and_find(void **state)
{
    (void)state;
    struct dp_sessions *ss = sessions();
    struct fake a;
    fake_init(&a, NULL);
    struct dp_session_request sr;
    dp_session_request_begin(&sr, ss, &a.req);
    assert_string_equal(sr.realm, "example.com");
    assert_null(dp_session_request_session(&sr));
    struct tp_response r;
    response(&r);
    char buf[512];
    /* nothing that needs a session: none made, no cookie */
    r.session = slice("");
    assert_null(dp_session_request_apply(&sr, &r));
    assert_null(dp_session_request_session(&sr));
    assert_string_equal(set_cookie(&sr, &r, buf, sizeof(buf)), "");
    r.session = slice("val");
    r.user = "hans";
    assert_null(dp_session_request_apply(&sr, &r));
    struct dp_session *copy = dp_session_request_session(&sr);
    assert_non_null(copy);
    dp_session_free(copy);
    set_cookie(&sr, &r, buf, sizeof(buf));
    char hex[DP_SESSION_ID_HEX + 1];
    dp_session_id_format(&sr.id, hex);
    char want[300];
    snprintf(want, sizeof(want),
             "Set-Cookie: sid=%s; HttpOnly; Path=/; SameSite=Lax\r\n", hex);
    assert_string_equal(buf, want);
    assert_string_equal(dp_session_request_user(&sr), "hans");

    /* the next request with the cookie finds it and sends no cookie */
    struct fake b;
    char cookie[100];
    snprintf(cookie, sizeof(cookie), "x=1; sid=%s", hex);
    fake_init(&b, cookie);
    struct dp_session_request sr2;
    dp_session_request_begin(&sr2, ss, &b.req);
    struct pr_slice t = dp_session_request_translate(&sr2);
    assert_int_equal(t.len, 3);
    assert_memory_equal(t.data, "val", 3);
    assert_string_equal(dp_session_request_session_user(&sr2), "hans");
    struct tp_response plain;
    response(&plain);
    assert_string_equal(set_cookie(&sr2, &plain, buf, sizeof(buf)), "");
    /* HTTP_AUTH's user wins for its request */
    sr2.http_auth_user = "aladdin";
    assert_string_equal(dp_session_request_user(&sr2), "aladdin");
    /* another realm has no user */
    dp_session_request_set_realm(&sr2, "other\0x", 7);
    assert_string_equal(sr2.realm, "other");
    assert_null(dp_session_request_session_user(&sr2));

    /* logout, then DISCARD_SESSION */
    struct tp_response out;
    response(&out);
    out.user = "";
    dp_session_request_begin(&sr2, ss, &b.req);
    assert_null(dp_session_request_apply(&sr2, &out));
    assert_null(dp_session_request_session_user(&sr2));
    response(&out);
    out.discard_session = true;
    assert_null(dp_session_request_apply(&sr2, &out));
    assert_null(dp_session_request_session(&sr2));
    dp_session_request_begin(&sr2, ss, &b.req);
    assert_false(sr2.has_session);

    dp_pool_free(a.req.pool);
    dp_pool_free(b.req.pool);
    dp_sessions_free(ss);
}

static void
test_cookie_group_off(void **state)
{
    (void)state;
    struct dp_sessions *ss = sessions();
    struct fake a;
    fake_init(&a, NULL);
    struct dp_session_request sr;
    dp_session_request_begin(&sr, ss, &a.req);
    struct tp_response r;
    response(&r);
    r.session = slice("v");
    for (int mode = TP_HF_NO; mode <= TP_HF_BOTH; mode++) {
        r.request_header_forward[TP_HG_COOKIE] = (uint8_t)mode;
        assert_int_equal(dp_session_managed(&r),
                         mode == TP_HF_MANGLE || mode == TP_HF_BOTH);
    }
    r.request_header_forward[TP_HG_COOKIE] = TP_HF_MANGLE;
    r.response_header_forward[TP_HG_COOKIE] = TP_HF_YES;
    assert_null(dp_session_request_apply(&sr, &r));
    assert_null(dp_session_request_session(&sr));
    dp_pool_free(a.req.pool);
    dp_sessions_free(ss);
}

static void
test_attach_joins(void **state)
{
    (void)state;
    struct dp_sessions *ss = sessions();
    struct fake a, b;
    fake_init(&a, NULL);
    fake_init(&b, NULL);
    struct dp_session_request sa, sb;
    dp_session_request_begin(&sa, ss, &a.req);
    dp_session_request_begin(&sb, ss, &b.req);
    struct tp_response r;
    response(&r);
    r.attach_session = slice("acct");
    r.session = slice("first");
    assert_null(dp_session_request_apply(&sa, &r));
    response(&r);
    r.language = "de";
    assert_null(dp_session_request_apply(&sb, &r));
    struct dp_session_id before = sb.id;
    response(&r);
    r.attach_session = slice("acct");
    assert_null(dp_session_request_apply(&sb, &r));
    /* b continues in a's session, which got b's language */
    assert_true(dp_session_id_equal(&sb.id, &sa.id));
    assert_false(dp_session_id_equal(&sb.id, &before));
    assert_true(sb.send_cookie);
    struct dp_session *s = dp_session_request_session(&sb);
    assert_string_equal(s->language, "de");
    assert_memory_equal(s->translate.data, "first", 5);
    dp_session_free(s);
    struct dp_session_stats st;
    dp_session_get_stats(dp_sessions_manager(ss), &st);
    assert_int_equal(st.sessions, 1);
    dp_pool_free(a.req.pool);
    dp_pool_free(b.req.pool);
    dp_sessions_free(ss);
}

static void
test_cookie_attributes_from_response(void **state)
{
    (void)state;
    struct dp_sessions *ss = sessions();
    struct fake a;
    fake_init(&a, NULL);
    struct dp_session_request sr;
    dp_session_request_begin(&sr, ss, &a.req);
    struct tp_response r;
    response(&r);
    r.session = slice("v");
    r.secure_cookie = true;
    r.cookie_domain = "example.com";
    r.cookie_path = "/app";
    r.session_cookie_same_site = TP_SAME_SITE_NONE;
    assert_null(dp_session_request_apply(&sr, &r));
    char buf[512];
    set_cookie(&sr, &r, buf, sizeof(buf));
    assert_non_null(strstr(buf, "; HttpOnly; Path=/app; Domain=example.com; "
                                "Secure; SameSite=None\r\n"));
    /* a COOKIE_DOMAIN that would inject an attribute is dropped */
    r.cookie_domain = "a.com; Max-Age=0";
    set_cookie(&sr, &r, buf, sizeof(buf));
    assert_null(strstr(buf, "Max-Age"));
    assert_non_null(strstr(buf, "; HttpOnly; Path=/; Secure"));
    dp_pool_free(a.req.pool);
    dp_sessions_free(ss);
}

static void
test_no_context(void **state)
{
    (void)state;
    struct fake a;
    fake_init(&a, "sid=00000000000000000000000000000000");
    struct dp_session_request sr;
    dp_session_request_begin(&sr, NULL, &a.req);
    struct tp_response r;
    response(&r);
    r.session = slice("v");
    assert_null(dp_session_request_apply(&sr, &r));
    assert_null(dp_session_request_translate(&sr).data);
    assert_null(dp_session_request_user(&sr));
    char buf[64];
    assert_string_equal(set_cookie(&sr, &r, buf, sizeof(buf)), "");
    dp_pool_free(a.req.pool);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_and_find),
        cmocka_unit_test(test_cookie_group_off),
        cmocka_unit_test(test_attach_joins),
        cmocka_unit_test(test_cookie_attributes_from_response),
        cmocka_unit_test(test_no_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
