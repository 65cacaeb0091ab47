/* Unit tests for dataplane/dp_forward: request and response header
 * forwarding by group and mode (spec §1.13), compared as the exact list
 * of header lines emitted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_forward.h"
#include "tp_response.h"

#include <stdio.h>
#include <string.h>

struct out {
    char text[4096];
    size_t len;
    int stop_after;     /* return 7 after this many calls; 0 = never */
    int calls;
};

static int
collect(void *ctx, const char *name, size_t nn, const char *value, size_t vn)
{
    struct out *o = ctx;
    int w = snprintf(o->text + o->len, sizeof(o->text) - o->len,
                     "%.*s: %.*s\n", (int)nn, name, (int)vn, value);
    o->len += (size_t)w;
    o->calls++;
    if (o->stop_after > 0 && o->calls >= o->stop_after)
        return 7;
    return 0;
}

#define H(n, v) { { (const uint8_t *)(n), sizeof(n) - 1 }, \
                  { (const uint8_t *)(v), sizeof(v) - 1 } }

static const struct h1_header client[] = {
    H("Host", "example.com"),
    H("Accept", "*/*"),
    H("Accept-Encoding", "gzip"),
    H("User-Agent", "curl/8"),
    H("Cookie", "a=1; beng_proxy_session=xyz; b=2"),
    H("Authorization", "Basic eA=="),
    H("Connection", "keep-alive, X-Hop"),
    H("X-Hop", "1"),
    H("Keep-Alive", "timeout=5"),
    H("Content-Type", "text/plain"),
    H("Content-Length", "5"),
    H("X-Forwarded-For", "10.0.0.1"),
    H("X-CM4all-BENG-User", "mallory"),
    H("X-CM4all-DocRoot", "/etc"),
    H("X-Custom", "c"),
    H("Referer", "http://r/"),
    H("Via", "1.0 other"),
    H("If-None-Match", "\"e\""),
    H("Expect", "100-continue"),
    H("Transfer-Encoding", "chunked"),
    H("TE", "trailers"),
};

static void
defaults(uint8_t *req, uint8_t *resp)
{
    struct tp_response r;
    struct tp_response_parser p;
    tp_response_parser_init(&p, &r);
    memcpy(req, r.request_header_forward, TP_HG_COUNT);
    memcpy(resp, r.response_header_forward, TP_HG_COUNT);
    tp_response_free(&r);
}

static void
run_request(const uint8_t *modes, bool body, const char *want)
{
    struct dp_forward_request in = {
        .headers = client,
        .n_headers = sizeof(client) / sizeof(client[0]),
        .modes = modes,
        .with_body = body,
        .remote_host = "192.0.2.7",
        .local_host = "proxy1",
        .product = "Portier",
        .session_cookie = "beng_proxy_session",
    };
    struct out o = { .len = 0 };
    assert_int_equal(dp_forward_request_headers(&in, collect, &o), 0);
    assert_string_equal(o.text, want);
}

static void
test_request_defaults(void **state)
{
    (void)state;
    uint8_t req[TP_HG_COUNT], resp[TP_HG_COUNT];
    defaults(req, resp);
    run_request(req, false,
                "Accept: */*\n"
                "Accept-Encoding: gzip\n"
                "If-None-Match: \"e\"\n"
                "User-Agent: curl/8\n"
                "Via: 1.0 other, 1.1 proxy1\n"
                "X-Forwarded-For: 10.0.0.1, 192.0.2.7\n");
    run_request(req, true,
                "Accept: */*\n"
                "Accept-Encoding: gzip\n"
                "Content-Type: text/plain\n"
                "If-None-Match: \"e\"\n"
                "User-Agent: curl/8\n"
                "Via: 1.0 other, 1.1 proxy1\n"
                "X-Forwarded-For: 10.0.0.1, 192.0.2.7\n");
}

static void
test_request_all_yes(void **state)
{
    (void)state;
    uint8_t m[TP_HG_COUNT];
    memset(m, TP_HF_YES, sizeof(m));
    run_request(m, false,
                "Accept: */*\n"
                "Accept-Encoding: gzip\n"
                "Cookie: a=1; beng_proxy_session=xyz; b=2\n"
                "Authorization: Basic eA==\n"
                "X-Custom: c\n"
                "Referer: http://r/\n"
                "If-None-Match: \"e\"\n"
                "User-Agent: curl/8\n"
                "Via: 1.0 other\n"
                "X-Forwarded-For: 10.0.0.1\n");
}

static void
test_request_mangle_and_both(void **state)
{
    (void)state;
    uint8_t m[TP_HG_COUNT];
    memset(m, TP_HF_NO, sizeof(m));
    m[TP_HG_CAPABILITIES] = TP_HF_MANGLE;
    m[TP_HG_COOKIE] = TP_HF_BOTH;
    m[TP_HG_FORWARD] = TP_HF_MANGLE;
    m[TP_HG_SECURE] = TP_HF_YES;
    run_request(m, false,
                "Accept: */*\n"
                "Accept-Encoding: gzip\n"
                "Cookie: a=1; b=2\n"
                "If-None-Match: \"e\"\n"
                "User-Agent: Portier\n"
                "X-Forwarded-Host: example.com\n");
}

static void
test_request_no_identity_no_agent(void **state)
{
    (void)state;
    uint8_t m[TP_HG_COUNT];
    memset(m, TP_HF_NO, sizeof(m));
    m[TP_HG_IDENTITY] = TP_HF_MANGLE;
    static const struct h1_header bare[] = { H("Host", "h") };
    struct dp_forward_request in = {
        .headers = bare, .n_headers = 1, .modes = m,
        .remote_host = "::1", .local_host = NULL,
    };
    struct out o = { .len = 0 };
    assert_int_equal(dp_forward_request_headers(&in, collect, &o), 0);
    assert_string_equal(o.text, "X-Forwarded-For: ::1\n");
    /* CAPABILITIES YES without a client User-Agent: the product token */
    m[TP_HG_CAPABILITIES] = TP_HF_YES;
    in.remote_host = NULL;
    o.len = 0;
    o.text[0] = '\0';
    assert_int_equal(dp_forward_request_headers(&in, collect, &o), 0);
    assert_string_equal(o.text, "User-Agent: Portier\n");
}

static void
test_request_ssl_mangle(void **state)
{
    (void)state;
    uint8_t m[TP_HG_COUNT];
    memset(m, TP_HF_NO, sizeof(m));
    m[TP_HG_SSL] = TP_HF_MANGLE;
    static const struct h1_header forged[] = {
        H("X-CM4all-BENG-Peer-Subject", "CN=forged"),
        H("X-CM4all-HTTPS", "on"),
    };
    struct dp_forward_request in = {
        .headers = forged, .n_headers = 2, .modes = m,
        .peer_subject = "CN=alice,O=Example",
        .peer_issuer_subject = "CN=Test CA",
    };
    struct out o = { .len = 0 };
    assert_int_equal(dp_forward_request_headers(&in, collect, &o), 0);
    assert_string_equal(o.text,
                        "X-CM4all-BENG-Peer-Subject: CN=alice,O=Example\n"
                        "X-CM4all-BENG-Peer-Issuer-Subject: CN=Test CA\n");
    /* YES passes the client's, generates nothing */
    m[TP_HG_SSL] = TP_HF_YES;
    o.len = 0;
    o.text[0] = '\0';
    assert_int_equal(dp_forward_request_headers(&in, collect, &o), 0);
    assert_string_equal(o.text,
                        "X-CM4all-BENG-Peer-Subject: CN=forged\n"
                        "X-CM4all-HTTPS: on\n");
}

static void
test_request_user(void **state)
{
    (void)state;
    uint8_t m[TP_HG_COUNT];
    memset(m, TP_HF_NO, sizeof(m));
    static const struct h1_header forged[] = {
        H("X-CM4all-BENG-User", "mallory"),
    };
    struct dp_forward_request in = {
        .headers = forged, .n_headers = 1, .modes = m, .user = "alice",
    };
    struct out o = { .len = 0 };
    /* SECURE NO and YES: no user header, never the client's */
    assert_int_equal(dp_forward_request_headers(&in, collect, &o), 0);
    m[TP_HG_SECURE] = TP_HF_YES;
    assert_int_equal(dp_forward_request_headers(&in, collect, &o), 0);
    assert_string_equal(o.text, "");
    m[TP_HG_SECURE] = TP_HF_MANGLE;
    assert_int_equal(dp_forward_request_headers(&in, collect, &o), 0);
    assert_string_equal(o.text, "X-CM4all-BENG-User: alice\n");
    /* a value unfit for a header is not sent */
    in.user = "al\r\nice";
    o.len = 0;
    o.text[0] = '\0';
    assert_int_equal(dp_forward_request_headers(&in, collect, &o), 0);
    assert_string_equal(o.text, "");
}

static void
test_emit_stops(void **state)
{
    (void)state;
    uint8_t req[TP_HG_COUNT], resp[TP_HG_COUNT];
    defaults(req, resp);
    struct dp_forward_request in = {
        .headers = client, .n_headers = sizeof(client) / sizeof(client[0]),
        .modes = req,
    };
    struct out o = { .len = 0, .stop_after = 2 };
    assert_int_equal(dp_forward_request_headers(&in, collect, &o), 7);
    assert_int_equal(o.calls, 2);
}

static const struct h1_header backend[] = {
    H("Date", "Mon, 23 Nov 2026 18:00:00 GMT"),
    H("Server", "nginx"),
    H("Content-Type", "text/html"),
    H("Content-Length", "12"),
    H("Transfer-Encoding", "chunked"),
    H("Connection", "keep-alive, X-Secret"),
    H("X-Secret", "s"),
    H("ETag", "\"x\""),
    H("Location", "http://backend/next"),
    H("Set-Cookie", "beng_proxy_session=evil; Path=/"),
    H("Set-Cookie", "app=1; Path=/"),
    H("WWW-Authenticate", "Basic realm=x"),
    H("X-CM4all-View", "v"),
    H("X-Custom", "c"),
    H("Access-Control-Allow-Origin", "*"),
    H("Via", "1.1 backend"),
    H("X-CM4all-Generator", "gen"),
    H("Vary", "Accept-Encoding"),
};

static void
run_response(const uint8_t *modes, const char *want)
{
    struct dp_forward_response in = {
        .headers = backend,
        .n_headers = sizeof(backend) / sizeof(backend[0]),
        .modes = modes,
        .local_host = "proxy1",
        .session_cookie = "beng_proxy_session",
    };
    struct out o = { .len = 0 };
    assert_int_equal(dp_forward_response_headers(&in, collect, &o), 0);
    assert_string_equal(o.text, want);
}

static void
test_response_defaults(void **state)
{
    (void)state;
    uint8_t req[TP_HG_COUNT], resp[TP_HG_COUNT];
    defaults(req, resp);
    run_response(resp,
                 "Content-Type: text/html\n"
                 "ETag: \"x\"\n"
                 "Location: http://backend/next\n"
                 "WWW-Authenticate: Basic realm=x\n"
                 "Vary: Accept-Encoding\n");
}

static void
test_response_modes(void **state)
{
    (void)state;
    uint8_t m[TP_HG_COUNT];
    memset(m, TP_HF_YES, sizeof(m));
    run_response(m,
                 "Content-Type: text/html\n"
                 "ETag: \"x\"\n"
                 "Location: http://backend/next\n"
                 "Set-Cookie: beng_proxy_session=evil; Path=/\n"
                 "Set-Cookie: app=1; Path=/\n"
                 "WWW-Authenticate: Basic realm=x\n"
                 "X-CM4all-View: v\n"
                 "X-Custom: c\n"
                 "Access-Control-Allow-Origin: *\n"
                 "X-CM4all-Generator: gen\n"
                 "Vary: Accept-Encoding\n"
                 "Via: 1.1 backend\n");
    memset(m, TP_HF_NO, sizeof(m));
    m[TP_HG_COOKIE] = TP_HF_BOTH;
    m[TP_HG_IDENTITY] = TP_HF_MANGLE;
    run_response(m,
                 "Content-Type: text/html\n"
                 "ETag: \"x\"\n"
                 "Set-Cookie: app=1; Path=/\n"
                 "X-CM4all-Generator: gen\n"
                 "Vary: Accept-Encoding\n"
                 "Via: 1.1 backend, 1.1 proxy1\n");
}

/* The relocation cases of beng-proxy's own test (spec §8's "URI
 * helpers"), plus unix and no-BASE cases. */
/* An Upgrade request (RFC 9110 §7.8): Upgrade, Origin and
 * Sec-WebSocket-* pass whatever the groups say (CORS and OTHER are NO by
 * default), "Connection: Upgrade" is added; without `upgrade` they are
 * hop-by-hop or dropped by their groups. */
static const struct h1_header ws_client[] = {
    H("Host", "example.com"),
    H("Connection", "keep-alive, Upgrade"),
    H("Upgrade", "websocket"),
    H("Origin", "http://example.com"),
    H("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    H("Sec-WebSocket-Version", "13"),
    H("Sec-WebSocket-Protocol", "chat"),
    H("X-Custom", "c"),
};

static const struct h1_header ws_backend[] = {
    H("Upgrade", "websocket"),
    H("Connection", "Upgrade"),
    H("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
    H("Sec-WebSocket-Protocol", "chat"),
    H("X-Custom", "c"),
};

static void
test_upgrade(void **state)
{
    (void)state;
    uint8_t req[TP_HG_COUNT], resp[TP_HG_COUNT];
    defaults(req, resp);
    req[TP_HG_IDENTITY] = TP_HF_NO;
    req[TP_HG_CAPABILITIES] = TP_HF_NO;
    struct dp_forward_request in = {
        .headers = ws_client,
        .n_headers = sizeof(ws_client) / sizeof(ws_client[0]),
        .modes = req,
        .upgrade = true,
    };
    struct out o = { .len = 0 };
    assert_int_equal(dp_forward_request_headers(&in, collect, &o), 0);
    assert_string_equal(o.text,
                        "Upgrade: websocket\n"
                        "Origin: http://example.com\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\n"
                        "Sec-WebSocket-Version: 13\n"
                        "Sec-WebSocket-Protocol: chat\n"
                        "Connection: Upgrade\n");
    in.upgrade = false;
    o.len = 0;
    o.text[0] = '\0';
    assert_int_equal(dp_forward_request_headers(&in, collect, &o), 0);
    assert_string_equal(o.text, "");

    struct dp_forward_response rin = {
        .headers = ws_backend,
        .n_headers = sizeof(ws_backend) / sizeof(ws_backend[0]),
        .modes = resp,
        .upgrade = true,
    };
    o.len = 0;
    assert_int_equal(dp_forward_response_headers(&rin, collect, &o), 0);
    assert_string_equal(o.text,
                        "Upgrade: websocket\n"
                        "Sec-WebSocket-Accept: "
                        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\n"
                        "Sec-WebSocket-Protocol: chat\n");
    rin.upgrade = false;
    o.len = 0;
    o.text[0] = '\0';
    assert_int_equal(dp_forward_response_headers(&rin, collect, &o), 0);
    assert_string_equal(o.text, "");
}

static void
test_relocate(void **state)
{
    (void)state;
    static const struct {
        const char *uri, *internal_host, *internal_path, *external_path,
            *base, *expected;
    } v[] = {
        { "http://internal-host/int-base/c", "internal-host",
          "/int-base/request", "/ext-base/request", "/ext-base/",
          "https://external-host:80/ext-base/c" },
        { "//internal-host/int-base/c", "internal-host",
          "/int-base/request", "/ext-base/request", "/ext-base/",
          "https://external-host:80/ext-base/c" },
        { "/int-base/c", "i", "/int-base/request", "/ext-base/request",
          "/ext-base/", "https://external-host:80/ext-base/c" },
        { "http://internal-host/int-base/c?x=1", "internal-host",
          "/int-base/", "/ext-base/", "/ext-base/",
          "https://external-host:80/ext-base/c?x=1" },
        /* failures */
        { "c", "internal-host", "/int-base/request", "/ext-base/request",
          "/ext-base/", NULL },
        { "//host-mismatch/int-base/c", "internal-host",
          "/int-base/request", "/ext-base/request", "/ext-base/", NULL },
        { "http://internal-host/wrong-base/c", "internal-host",
          "/int-base/request", "/ext-base/request", "/ext-base/", NULL },
        { "http://internal-host/int-base/c", "internal-host",
          "/int-base/request", "/wrong-base/request", "/ext-base/", NULL },
        { "http://internal-host:8080/int-base/c", "internal-host",
          "/int-base/request", "/ext-base/request", "/ext-base/", NULL },
        /* unix: only a path can match */
        { "http://x/int-base/c", NULL, "/int-base/request",
          "/ext-base/request", "/ext-base/", NULL },
        { "/int-base/c", NULL, "/int-base/request", "/ext-base/request",
          "/ext-base/", "https://external-host:80/ext-base/c" },
        /* no BASE: the prefix must still end with a slash */
        { "/b/foo", "h", "/b/foo", "/foo", "", NULL },
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        char out[256] = "unchanged";
        bool ok = dp_forward_relocate(
            v[i].uri, strlen(v[i].uri), v[i].internal_host,
            v[i].internal_path, strlen(v[i].internal_path), "https",
            "external-host:80", v[i].external_path,
            strlen(v[i].external_path), v[i].base, out, sizeof(out));
        if (v[i].expected == NULL) {
            assert_false(ok);
            assert_string_equal(out, "unchanged");
        } else {
            assert_true(ok);
            assert_string_equal(out, v[i].expected);
        }
    }
    /* too small a buffer: refused */
    char tiny[8];
    assert_false(dp_forward_relocate("/int-base/c", 11, "h",
                                     "/int-base/request", 17, "https", "x",
                                     "/ext-base/request", 17, "/ext-base/",
                                     tiny, sizeof(tiny)));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_defaults),
        cmocka_unit_test(test_request_all_yes),
        cmocka_unit_test(test_request_mangle_and_both),
        cmocka_unit_test(test_request_no_identity_no_agent),
        cmocka_unit_test(test_request_ssl_mangle),
        cmocka_unit_test(test_request_user),
        cmocka_unit_test(test_emit_stops),
        cmocka_unit_test(test_response_defaults),
        cmocka_unit_test(test_response_modes),
        cmocka_unit_test(test_relocate),
        cmocka_unit_test(test_upgrade),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
