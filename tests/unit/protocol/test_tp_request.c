/* Unit tests for protocol/tp_request: the translation request codec
 * (spec/protocols.md §1.5).  Every expected byte string is written out by
 * hand from the spec — u16 length, u16 command (numbers from §1.4), payload
 * — in little-endian order (the spec's x86-64 examples); on a big-endian
 * host the vector cases are skipped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tp_request.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A packet header in little-endian order: u16 length, u16 command. */
#define HDR(len, cmd)                                                      \
    (uint8_t)((len)&0xff), (uint8_t)((len) >> 8), (uint8_t)((cmd)&0xff),   \
        (uint8_t)((cmd) >> 8)

#define BEGIN3 HDR(1, 1), 0x03
#define END HDR(0, 2)

/* A slice over a C string literal, or over bytes that may hold NULs. */
#define S(lit) tp_slice_str(lit)
#define B(lit) ((struct pr_slice){ (const uint8_t *)(lit), sizeof(lit) - 1 })

static void
need_little_endian(void)
{
    const uint16_t one = 1;
    if (*(const uint8_t *)&one != 1)
        skip();
}

/* ---- helpers ---- */

/* Parse through tp_reader + tp_request_parser, feeding data[0..k) and then
 * data[k..len) (k == SIZE_MAX: byte by byte).  Returns the parser's final
 * status; a reader error fails the test. */
static enum tp_request_status
parse_split(const uint8_t *data, size_t len, size_t k, struct tp_request *req,
            struct pr_arena *arena)
{
    struct tp_reader r;
    struct tp_request_parser p;
    tp_reader_init(&r, 0);
    tp_request_parser_init(&p, req, arena);

    enum tp_request_status st = TP_REQUEST_NEED_MORE;
    size_t pos = 0;
    while (pos < len && st == TP_REQUEST_NEED_MORE) {
        size_t end = k == SIZE_MAX ? pos + 1 : (pos < k ? k : len);
        while (pos < end && st == TP_REQUEST_NEED_MORE) {
            size_t used;
            struct tp_packet pkt;
            enum tp_reader_status rs =
                tp_reader_feed(&r, data + pos, end - pos, &used, &pkt);
            assert_int_not_equal(rs, TP_READER_ERROR);
            pos += used;
            if (rs == TP_READER_PACKET)
                st = tp_request_parser_feed(&p, &pkt);
        }
    }
    tp_reader_destroy(&r);
    return st;
}

/* The full check of one vector: marshal `req` to exactly `want`, parse
 * `want` back to an equal request (whole, at every split offset and byte
 * by byte). */
static void
check_vector(const struct tp_request *req, const uint8_t *want,
             size_t want_len)
{
    struct pr_buf out = PR_BUF_INIT;
    const char *error = NULL;
    assert_int_equal(tp_request_marshal(req, &out, &error), 0);
    assert_null(error);
    assert_int_equal(out.len, want_len);
    assert_memory_equal(out.data, want, want_len);
    pr_buf_free(&out);

    struct pr_arena arena = PR_ARENA_INIT;
    struct tp_request back;
    char err[128] = "";
    assert_int_equal(tp_request_parse(want, want_len, &back, &arena, err,
                                      sizeof(err)),
                     0);
    assert_string_equal(err, "");
    assert_true(tp_request_equal(req, &back));
    assert_true(tp_request_equal(&back, req));
    pr_arena_free(&arena);

    for (size_t k = 0; k <= want_len; k++) {
        assert_int_equal(parse_split(want, want_len, k, &back, &arena),
                         TP_REQUEST_DONE);
        assert_true(tp_request_equal(req, &back));
        pr_arena_free(&arena);
    }
    assert_int_equal(parse_split(want, want_len, SIZE_MAX, &back, &arena),
                     TP_REQUEST_DONE);
    assert_true(tp_request_equal(req, &back));
    pr_arena_free(&arena);
}

#define CHECK_VECTOR(req, bytes) check_vector(req, bytes, sizeof(bytes))

static void
assert_slice(struct pr_slice s, const char *want, size_t len)
{
    assert_non_null(s.data);
    assert_int_equal(s.len, len);
    assert_memory_equal(s.data, want, len);
    /* The parser NUL-terminates what it copies. */
    assert_int_equal(s.data[len], 0);
}

#define ASSERT_SLICE(s, lit) assert_slice(s, lit, sizeof(lit) - 1)

/* Parse must fail with exactly this message (and -EINVAL); failures are
 * reported at the caller's line. */
static void
expect_parse_error_at(const uint8_t *data, size_t len, const char *message,
                      const char *file, int line)
{
    struct pr_arena arena = PR_ARENA_INIT;
    struct tp_request req;
    char err[160] = "(parsed)";
    int rc = tp_request_parse(data, len, &req, &arena, err, sizeof(err));
    pr_arena_free(&arena);
    _assert_string_equal(err, message, file, line);
    _assert_int_equal(cast_to_largest_integral_type(rc),
                      cast_to_largest_integral_type(-EINVAL), file, line);
}

#define expect_parse_error(data, len, message)                             \
    expect_parse_error_at(data, len, message, __FILE__, __LINE__)
#define EXPECT_PARSE_ERROR(bytes, message)                                 \
    expect_parse_error(bytes, sizeof(bytes), message)

/* Marshal must fail with this message, leaving `out` as it was. */
static void
expect_marshal_error(const struct tp_request *req, const char *message)
{
    struct pr_buf out = PR_BUF_INIT;
    assert_int_equal(pr_buf_append(&out, "keep", 4), 0);
    const char *error = NULL;
    assert_int_equal(tp_request_marshal(req, &out, &error), -EINVAL);
    assert_non_null(error);
    assert_string_equal(error, message);
    assert_int_equal(out.len, 4);
    assert_memory_equal(out.data, "keep", 4);
    /* A NULL error pointer is allowed. */
    assert_int_equal(tp_request_marshal(req, &out, NULL), -EINVAL);
    assert_int_equal(out.len, 4);
    pr_buf_free(&out);
}

/* ---- vectors: §1.5.2 ---- */

/* The main request: BEGIN 3, LISTENER_TAG, HOST, URI, SESSION, PARAM, END. */
static void
test_main_request(void **state)
{
    need_little_endian();
    static const uint8_t want[] = {
        0x01, 0x00, 0x01, 0x00, 0x03,                       /* BEGIN 3 */
        0x04, 0x00, 0x94, 0x00, 'm', 'a', 'i', 'n',         /* LISTENER_TAG */
        0x0b, 0x00, 0x03, 0x00, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.',
        'c', 'o', 'm',                                      /* HOST */
        0x0b, 0x00, 0x04, 0x00, '/', 'i', 'n', 'd', 'e', 'x', '.', 'h',
        't', 'm', 'l',                                      /* URI */
        0x04, 0x00, 0x0c, 0x00, 0x01, 0x02, 0x00, 0xff,     /* SESSION */
        0x03, 0x00, 0x0d, 0x00, 'f', 'o', 'o',              /* PARAM */
        0x00, 0x00, 0x02, 0x00,                             /* END */
    };
    struct tp_request req;
    tp_request_init(&req);
    /* Set in an order unlike the wire's: the marshaller decides. */
    req.param = S("foo");
    req.session = B("\x01\x02\x00\xff");
    req.uri = S("/index.html");
    req.host = S("example.com");
    req.listener_tag = S("main");
    CHECK_VECTOR(&req, want);

    /* Spot checks of what the parser built. */
    struct pr_arena arena = PR_ARENA_INIT;
    struct tp_request back;
    assert_int_equal(
        tp_request_parse(want, sizeof(want), &back, &arena, NULL, 0), 0);
    assert_int_equal(back.version, 3);
    ASSERT_SLICE(back.listener_tag, "main");
    ASSERT_SLICE(back.host, "example.com");
    ASSERT_SLICE(back.uri, "/index.html");
    ASSERT_SLICE(back.session, "\x01\x02\x00\xff");
    ASSERT_SLICE(back.param, "foo");
    assert_null(back.remote_host.data);
    assert_null(back.layout.data);
    assert_int_equal(back.layout_item.kind, TP_LAYOUT_ITEM_NONE);
    assert_int_equal(back.status, 0);
    assert_int_equal(back.want_count, 0);
    assert_false(back.path_exists);
    pr_arena_free(&arena);
}

/* The repeat after WANT: REMOTE_HOST, USER_AGENT, LANGUAGE, ARGS,
 * QUERY_STRING, USER and the WANT echo. */
static void
test_want_repeat(void **state)
{
    need_little_endian();
    static const uint8_t want[] = {
        BEGIN3,
        HDR(14, 16), '1', '9', '2', '.', '0', '.', '2', '.', '1', ':', '4',
        '7', '1', '1',                                      /* REMOTE_HOST */
        HDR(1, 3), 'h',                                     /* HOST */
        HDR(6, 35), 'c', 'u', 'r', 'l', '/', '8',           /* USER_AGENT */
        HDR(2, 15), 'd', 'e',                               /* LANGUAGE */
        HDR(2, 4), '/', 'x',                                /* URI */
        HDR(3, 55), 'a', '=', 'b',                          /* ARGS */
        HDR(3, 38), 'q', '=', '1',                          /* QUERY_STRING */
        HDR(4, 115), 0x10, 0x00, 0x23, 0x00,                /* WANT 16, 35 */
        HDR(5, 14), 'a', 'l', 'i', 'c', 'e',                /* USER */
        END,
    };
    struct tp_request req;
    tp_request_init(&req);
    req.user = S("alice");
    req.want[0] = 16;   /* REMOTE_HOST */
    req.want[1] = 35;   /* USER_AGENT */
    req.want_count = 2;
    req.query_string = S("q=1");
    req.args = S("a=b");
    req.uri = S("/x");
    req.language = S("de");
    req.user_agent = S("curl/8");
    req.host = S("h");
    req.remote_host = S("192.0.2.1:4711");
    CHECK_VECTOR(&req, want);

    struct pr_arena arena = PR_ARENA_INIT;
    struct tp_request back;
    assert_int_equal(
        tp_request_parse(want, sizeof(want), &back, &arena, NULL, 0), 0);
    assert_int_equal(back.want_count, 2);
    assert_int_equal(back.want[0], 16);
    assert_int_equal(back.want[1], 35);
    ASSERT_SLICE(back.remote_host, "192.0.2.1:4711");
    ASSERT_SLICE(back.query_string, "q=1");
    pr_arena_free(&arena);
}

/* CHECK repeat: the echo, CHECK_HEADER "name:value" and AUTHORIZATION. */
static void
test_check_request(void **state)
{
    need_little_endian();
    static const uint8_t want[] = {
        BEGIN3,
        HDR(1, 3), 'h',                                     /* HOST */
        HDR(10, 58), 'B', 'a', 's', 'i', 'c', ' ', 'Z', 'm', '9',
        'v',                                                /* AUTHORIZATION */
        HDR(2, 4), '/', 'c',                                /* URI */
        HDR(3, 64), 'c', 'h', 'k',                          /* CHECK */
        HDR(9, 240), 'x', '-', 'f', 'o', 'o', ':', 'b', 'a', 'r',
                                                            /* CHECK_HEADER */
        END,
    };
    struct tp_request req;
    tp_request_init(&req);
    req.check_header = S("x-foo:bar");
    req.check = S("chk");
    req.authorization = S("Basic Zm9v");
    req.uri = S("/c");
    req.host = S("h");
    CHECK_VECTOR(&req, want);
}

/* LAYOUT with the mirrored URI item: two URI packets, the request URI
 * first. */
static void
test_layout_uri_item(void **state)
{
    need_little_endian();
    static const uint8_t want[] = {
        BEGIN3,
        HDR(1, 3), 'h',                                     /* HOST */
        HDR(4, 4), '/', 'a', '/', 'b',                      /* URI */
        HDR(2, 227), 'L', '1',                              /* LAYOUT */
        HDR(3, 4), '/', 'a', '/',                           /* URI (item) */
        END,
    };
    struct tp_request req;
    tp_request_init(&req);
    req.layout_item.kind = TP_LAYOUT_ITEM_URI;
    req.layout_item.value = S("/a/");
    req.layout = S("L1");
    req.uri = S("/a/b");
    req.host = S("h");
    CHECK_VECTOR(&req, want);

    struct pr_arena arena = PR_ARENA_INIT;
    struct tp_request back;
    assert_int_equal(
        tp_request_parse(want, sizeof(want), &back, &arena, NULL, 0), 0);
    ASSERT_SLICE(back.uri, "/a/b");
    ASSERT_SLICE(back.layout, "L1");
    assert_int_equal(back.layout_item.kind, TP_LAYOUT_ITEM_URI);
    ASSERT_SLICE(back.layout_item.value, "/a/");
    pr_arena_free(&arena);
}

/* LAYOUT with a BASE item, and with a REGEX item, followed by more
 * packets; and a LAYOUT without an item (none matched). */
static void
test_layout_base_regex_none(void **state)
{
    need_little_endian();
    static const uint8_t base[] = {
        BEGIN3,
        HDR(2, 4), '/', 'x',                                /* URI */
        HDR(1, 227), 'L',                                   /* LAYOUT */
        HDR(3, 40), '/', 'b', '/',                          /* BASE (item) */
        HDR(2, 64), 'c', 'k',                               /* CHECK */
        END,
    };
    static const uint8_t regex[] = {
        BEGIN3,
        HDR(2, 4), '/', 'x',                                /* URI */
        HDR(1, 227), 'L',                                   /* LAYOUT */
        HDR(4, 79), '^', '/', 'r', '/',                     /* REGEX (item) */
        HDR(0, 247),                                        /* PATH_EXISTS */
        END,
    };
    static const uint8_t none[] = {
        BEGIN3,
        HDR(2, 4), '/', 'x',                                /* URI */
        HDR(1, 227), 'L',                                   /* LAYOUT */
        HDR(2, 163), 'i', 'r',                              /* INTERNAL_R. */
        END,
    };
    struct tp_request req;
    tp_request_init(&req);
    req.uri = S("/x");
    req.layout = S("L");
    req.layout_item.kind = TP_LAYOUT_ITEM_BASE;
    req.layout_item.value = S("/b/");
    req.check = S("ck");
    CHECK_VECTOR(&req, base);

    tp_request_init(&req);
    req.uri = S("/x");
    req.layout = S("L");
    req.layout_item.kind = TP_LAYOUT_ITEM_REGEX;
    req.layout_item.value = S("^/r/");
    req.path_exists = true;
    CHECK_VECTOR(&req, regex);

    tp_request_init(&req);
    req.uri = S("/x");
    req.layout = S("L");
    req.internal_redirect = S("ir");
    CHECK_VECTOR(&req, none);
}

/* ---- vectors: §1.5.3 ---- */

static void
test_content_type_lookup(void **state)
{
    need_little_endian();
    static const uint8_t want[] = {
        BEGIN3,
        HDR(3, 121), 'c', 't', 'l',                  /* CONTENT_TYPE_LOOKUP */
        HDR(4, 122), 'h', 't', 'm', 'l',             /* SUFFIX */
        END,
    };
    struct tp_request req;
    tp_request_init(&req);
    req.suffix = S("html");
    req.content_type_lookup = S("ctl");
    CHECK_VECTOR(&req, want);
}

static void
test_error_document(void **state)
{
    need_little_endian();
    static const uint8_t want[] = {
        BEGIN3,
        HDR(2, 63), 'e', 'd',                        /* ERROR_DOCUMENT */
        HDR(2, 5), 0x94, 0x01,                       /* STATUS 404 */
        HDR(1, 3), 'h',                              /* HOST */
        HDR(2, 4), '/', 'e',                         /* URI */
        END,
    };
    struct tp_request req;
    tp_request_init(&req);
    req.uri = S("/e");
    req.host = S("h");
    req.status = 404;
    req.error_document = S("ed");
    CHECK_VECTOR(&req, want);

    struct pr_arena arena = PR_ARENA_INIT;
    struct tp_request back;
    assert_int_equal(
        tp_request_parse(want, sizeof(want), &back, &arena, NULL, 0), 0);
    assert_int_equal(back.status, 404);
    ASSERT_SLICE(back.error_document, "ed");
    pr_arena_free(&arena);
}

/* AUTH: echo, full URI, HOST, SESSION, LISTENER_TAG, ALT_HOST. */
static void
test_auth(void **state)
{
    need_little_endian();
    static const uint8_t want[] = {
        BEGIN3,
        HDR(2, 148), 'l', 't',                       /* LISTENER_TAG */
        HDR(1, 3), 'h',                              /* HOST */
        HDR(2, 206), 'a', 'h',                       /* ALT_HOST */
        HDR(7, 4), '/', 'p', ';', 'a', '?', 'q', '=',   /* URI */
        HDR(2, 12), 0x00, 0x07,                      /* SESSION */
        HDR(4, 133), 'a', 'u', 't', 'h',             /* AUTH */
        END,
    };
    struct tp_request req;
    tp_request_init(&req);
    req.auth = S("auth");
    req.session = B("\x00\x07");
    req.uri = S("/p;a?q=");
    req.alt_host = S("ah");
    req.host = S("h");
    req.listener_tag = S("lt");
    CHECK_VECTOR(&req, want);
}

/* HTTP_AUTH: echo, AUTHORIZATION, LISTENER_TAG, HOST. */
static void
test_http_auth(void **state)
{
    need_little_endian();
    static const uint8_t want[] = {
        BEGIN3,
        HDR(2, 148), 'l', 't',                       /* LISTENER_TAG */
        HDR(1, 3), 'h',                              /* HOST */
        HDR(8, 58), 'B', 'e', 'a', 'r', 'e', 'r', ' ', 'x', /* AUTHORIZ. */
        HDR(3, 219), 'h', 'a', 0x00,                 /* HTTP_AUTH (bytes) */
        END,
    };
    struct tp_request req;
    tp_request_init(&req);
    req.http_auth = B("ha\0");
    req.authorization = S("Bearer x");
    req.host = S("h");
    req.listener_tag = S("lt");
    CHECK_VECTOR(&req, want);
}

/* TOKEN_AUTH, once with AUTH_TOKEN and once with RECOVER_SESSION. */
static void
test_token_auth(void **state)
{
    need_little_endian();
    static const uint8_t with_token[] = {
        BEGIN3,
        HDR(2, 148), 'l', 't',                       /* LISTENER_TAG */
        HDR(1, 3), 'h',                              /* HOST */
        HDR(2, 4), '/', 't',                         /* URI */
        HDR(1, 12), 0x05,                            /* SESSION */
        HDR(1, 245), 0x06,                           /* REALM_SESSION */
        HDR(2, 220), 't', 'a',                       /* TOKEN_AUTH */
        HDR(3, 221), 't', 'o', 'k',                  /* AUTH_TOKEN */
        END,
    };
    static const uint8_t with_recover[] = {
        BEGIN3,
        HDR(1, 3), 'h',                              /* HOST */
        HDR(2, 4), '/', 't',                         /* URI */
        HDR(2, 228), 'r', 'c',                       /* RECOVER_SESSION */
        HDR(0, 220),                                 /* TOKEN_AUTH "" */
        END,
    };
    struct tp_request req;
    tp_request_init(&req);
    req.auth_token = S("tok");
    req.token_auth = S("ta");
    req.realm_session = B("\x06");
    req.session = B("\x05");
    req.uri = S("/t");
    req.host = S("h");
    req.listener_tag = S("lt");
    CHECK_VECTOR(&req, with_token);

    tp_request_init(&req);
    req.token_auth = S("");
    req.recover_session = S("rc");
    req.uri = S("/t");
    req.host = S("h");
    CHECK_VECTOR(&req, with_recover);
}

/* PATH_EXISTS (empty) accompanied by STATUS 200. */
static void
test_path_exists(void **state)
{
    need_little_endian();
    static const uint8_t want[] = {
        BEGIN3,
        HDR(2, 5), 0xc8, 0x00,                       /* STATUS 200 */
        HDR(1, 3), 'h',                              /* HOST */
        HDR(2, 4), '/', 'f',                         /* URI */
        HDR(0, 247),                                 /* PATH_EXISTS */
        END,
    };
    struct tp_request req;
    tp_request_init(&req);
    req.path_exists = true;
    req.uri = S("/f");
    req.host = S("h");
    req.status = 200;
    CHECK_VECTOR(&req, want);

    struct pr_arena arena = PR_ARENA_INIT;
    struct tp_request back;
    assert_int_equal(
        tp_request_parse(want, sizeof(want), &back, &arena, NULL, 0), 0);
    assert_true(back.path_exists);
    assert_int_equal(back.status, 200);
    pr_arena_free(&arena);
}

/* CHAIN, widget registry, listen-stream, beng-lb pool. */
static void
test_other_kinds(void **state)
{
    need_little_endian();
    static const uint8_t chain[] = {
        BEGIN3,
        HDR(2, 5), 0xf6, 0x01,                       /* STATUS 502 */
        HDR(2, 215), 'c', 'h',                       /* CHAIN */
        HDR(3, 217), 'n', 'x', 't',                  /* CHAIN_HEADER */
        END,
    };
    static const uint8_t widget[] = {
        BEGIN3,
        HDR(3, 21), 'f', 'o', 'o',                   /* WIDGET_TYPE */
        END,
    };
    static const uint8_t listen[] = {
        BEGIN3,
        HDR(6, 257), '/', 's', 0x00, 'k', 'e', 'y',  /* MOUNT_LISTEN_STREAM */
        END,
    };
    static const uint8_t pool[] = {
        BEGIN3,
        HDR(2, 148), 'l', 't',                       /* LISTENER_TAG */
        HDR(1, 3), 'h',                              /* HOST */
        HDR(2, 187), 'p', '1',                       /* POOL */
        END,
    };
    struct tp_request req;

    tp_request_init(&req);
    req.chain_header = S("nxt");
    req.chain = S("ch");
    req.status = 502;
    CHECK_VECTOR(&req, chain);

    tp_request_init(&req);
    req.widget_type = S("foo");
    CHECK_VECTOR(&req, widget);

    tp_request_init(&req);
    req.mount_listen_stream = B("/s\0key");
    CHECK_VECTOR(&req, listen);

    tp_request_init(&req);
    req.pool = S("p1");
    req.listener_tag = S("lt");
    req.host = S("h");
    CHECK_VECTOR(&req, pool);
}

/* Set-but-empty fields are sent as empty packets; unset ones not at all. */
static void
test_empty_but_set(void **state)
{
    need_little_endian();
    static const uint8_t want[] = {
        BEGIN3,
        HDR(0, 3),                                   /* HOST "" */
        HDR(1, 4), '/',                              /* URI */
        HDR(0, 12),                                  /* SESSION "" */
        HDR(0, 64),                                  /* CHECK "" */
        HDR(0, 130),                                 /* ENOTDIR_ "" */
        END,
    };
    struct tp_request req;
    tp_request_init(&req);
    req.enotdir = S("");
    req.check = S("");
    req.session = B("");
    req.uri = S("/");
    req.host = S("");
    req.user = tp_slice_str(NULL);      /* unset, explicitly */
    CHECK_VECTOR(&req, want);

    struct pr_arena arena = PR_ARENA_INIT;
    struct tp_request back;
    assert_int_equal(
        tp_request_parse(want, sizeof(want), &back, &arena, NULL, 0), 0);
    ASSERT_SLICE(back.host, "");
    ASSERT_SLICE(back.session, "");
    ASSERT_SLICE(back.check, "");
    ASSERT_SLICE(back.enotdir, "");
    assert_null(back.user.data);
    assert_null(back.check_header.data);
    pr_arena_free(&arena);

    /* Nothing set: BEGIN and END only. */
    static const uint8_t bare[] = { BEGIN3, END };
    tp_request_init(&req);
    CHECK_VECTOR(&req, bare);
}

/* Every field at once: the complete order of §1.5.1, group by group. */
static void
fill_all(struct tp_request *req)
{
    tp_request_init(req);
    req->version = 2;
    req->error_document = S("E");
    req->status = 404;
    req->listener_tag = S("lt");
    req->remote_host = S("rh");
    req->host = S("ho");
    req->alt_host = S("ah");
    req->user_agent = S("ua");
    req->language = S("la");
    req->authorization = S("az");
    req->uri = S("/u");
    req->args = S("ar");
    req->query_string = S("qs");
    req->widget_type = S("wt");
    req->session = B("\x00\x01");
    req->realm_session = B("\x02");
    req->recover_session = S("rs");
    req->layout = S("LY");
    req->layout_item.kind = TP_LAYOUT_ITEM_REGEX;
    req->layout_item.value = S("^/r");
    req->internal_redirect = S("ir");
    req->check = S("ck");
    req->check_header = S("a:b");
    req->auth = S("au");
    req->http_auth = S("ha");
    req->token_auth = S("ta");
    req->auth_token = S("at");
    req->mount_listen_stream = B("/s\0k");
    req->want_full_uri = S("wf");
    req->chain = S("ch");
    req->chain_header = S("cx");
    req->want[0] = 3;
    req->want[1] = 16;
    req->want_count = 2;
    req->file_not_found = S("fn");
    req->content_type_lookup = S("ct");
    req->suffix = S("sx");
    req->enotdir = S("en");
    req->directory_index = S("di");
    req->param = S("pa");
    req->probe_path_suffixes = S("pp");
    req->probe_suffix = S("ps");
    req->read_file = B("r\0");
    req->user = S("us");
    req->pool = S("po");
    req->path_exists = true;
}

static const uint8_t all_fields[] = {
    HDR(1, 1), 0x02,                                 /* BEGIN 2 */
    /* 2 */
    HDR(1, 63), 'E',                                 /* ERROR_DOCUMENT */
    HDR(2, 5), 0x94, 0x01,                           /* STATUS 404 */
    /* 3 */
    HDR(2, 148), 'l', 't',                           /* LISTENER_TAG */
    HDR(2, 16), 'r', 'h',                            /* REMOTE_HOST */
    HDR(2, 3), 'h', 'o',                             /* HOST */
    HDR(2, 206), 'a', 'h',                           /* ALT_HOST */
    HDR(2, 35), 'u', 'a',                            /* USER_AGENT */
    HDR(2, 15), 'l', 'a',                            /* LANGUAGE */
    HDR(2, 58), 'a', 'z',                            /* AUTHORIZATION */
    /* 4 */
    HDR(2, 4), '/', 'u',                             /* URI */
    HDR(2, 55), 'a', 'r',                            /* ARGS */
    HDR(2, 38), 'q', 's',                            /* QUERY_STRING */
    HDR(2, 21), 'w', 't',                            /* WIDGET_TYPE */
    /* 5 */
    HDR(2, 12), 0x00, 0x01,                          /* SESSION */
    HDR(1, 245), 0x02,                               /* REALM_SESSION */
    HDR(2, 228), 'r', 's',                           /* RECOVER_SESSION */
    /* 6 */
    HDR(2, 227), 'L', 'Y',                           /* LAYOUT */
    HDR(3, 79), '^', '/', 'r',                       /* REGEX (item) */
    /* 7 */
    HDR(2, 163), 'i', 'r',                           /* INTERNAL_REDIRECT */
    HDR(2, 64), 'c', 'k',                            /* CHECK */
    HDR(3, 240), 'a', ':', 'b',                      /* CHECK_HEADER */
    HDR(2, 133), 'a', 'u',                           /* AUTH */
    HDR(2, 219), 'h', 'a',                           /* HTTP_AUTH */
    HDR(2, 220), 't', 'a',                           /* TOKEN_AUTH */
    HDR(2, 221), 'a', 't',                           /* AUTH_TOKEN */
    HDR(4, 257), '/', 's', 0x00, 'k',                /* MOUNT_LISTEN_STREAM */
    HDR(2, 102), 'w', 'f',                           /* WANT_FULL_URI */
    HDR(2, 215), 'c', 'h',                           /* CHAIN */
    HDR(2, 217), 'c', 'x',                           /* CHAIN_HEADER */
    HDR(4, 115), 0x03, 0x00, 0x10, 0x00,             /* WANT 3, 16 */
    /* 8 */
    HDR(2, 120), 'f', 'n',                           /* FILE_NOT_FOUND */
    HDR(2, 121), 'c', 't',                           /* CONTENT_TYPE_LOOKUP */
    HDR(2, 122), 's', 'x',                           /* SUFFIX */
    HDR(2, 130), 'e', 'n',                           /* ENOTDIR_ */
    HDR(2, 123), 'd', 'i',                           /* DIRECTORY_INDEX */
    HDR(2, 13), 'p', 'a',                            /* PARAM */
    HDR(2, 142), 'p', 'p',                           /* PROBE_PATH_SUFFIXES */
    HDR(2, 143), 'p', 's',                           /* PROBE_SUFFIX */
    HDR(2, 152), 'r', 0x00,                          /* READ_FILE */
    HDR(2, 14), 'u', 's',                            /* USER */
    HDR(2, 187), 'p', 'o',                           /* POOL */
    HDR(0, 247),                                     /* PATH_EXISTS */
    /* 9 */
    END,
};

static void
test_all_fields_order(void **state)
{
    need_little_endian();
    struct tp_request req;
    fill_all(&req);
    CHECK_VECTOR(&req, all_fields);
}

/* The parser does not depend on the order (§1.5.1): the same packets
 * reversed (BEGIN/END and the LAYOUT+item pair kept) give the same
 * request. */
static void
test_parse_any_order(void **state)
{
    need_little_endian();
    static const uint8_t shuffled[] = {
        HDR(1, 1), 0x03,                             /* BEGIN 3 */
        HDR(0, 247),                                 /* PATH_EXISTS */
        HDR(2, 13), 'p', 'a',                        /* PARAM */
        HDR(1, 227), 'L',                            /* LAYOUT */
        HDR(2, 40), '/', 'b',                        /* BASE (item) */
        HDR(2, 115), 0x05, 0x00,                     /* WANT 5 */
        HDR(2, 5), 0x2d, 0x01,                       /* STATUS 301 */
        HDR(2, 4), '/', 'u',                         /* URI */
        HDR(2, 3), 'h', 'o',                         /* HOST */
        END,
    };
    struct tp_request req;
    tp_request_init(&req);
    req.host = S("ho");
    req.uri = S("/u");
    req.status = 301;
    req.want[0] = 5;
    req.want_count = 1;
    req.layout = S("L");
    req.layout_item.kind = TP_LAYOUT_ITEM_BASE;
    req.layout_item.value = S("/b");
    req.param = S("pa");
    req.path_exists = true;

    struct pr_arena arena = PR_ARENA_INIT;
    struct tp_request back;
    assert_int_equal(tp_request_parse(shuffled, sizeof(shuffled), &back,
                                      &arena, NULL, 0),
                     0);
    assert_true(tp_request_equal(&req, &back));
    pr_arena_free(&arena);

    /* LAYOUT before the request URI: the URI after it is the request URI
     * (there is none before it to mirror). */
    static const uint8_t layout_first[] = {
        BEGIN3,
        HDR(1, 227), 'L',                            /* LAYOUT */
        HDR(2, 4), '/', 'u',                         /* URI */
        END,
    };
    assert_int_equal(tp_request_parse(layout_first, sizeof(layout_first),
                                      &back, &arena, NULL, 0),
                     0);
    ASSERT_SLICE(back.uri, "/u");
    assert_int_equal(back.layout_item.kind, TP_LAYOUT_ITEM_NONE);
    pr_arena_free(&arena);
}

/* BEGIN without a version byte is version 0; the marshaller always sends
 * the byte. */
static void
test_begin_versions(void **state)
{
    need_little_endian();
    static const uint8_t bare[] = { HDR(0, 1), END };
    struct pr_arena arena = PR_ARENA_INIT;
    struct tp_request back;
    assert_int_equal(
        tp_request_parse(bare, sizeof(bare), &back, &arena, NULL, 0), 0);
    assert_int_equal(back.version, 0);
    pr_arena_free(&arena);

    static const uint8_t v0[] = { HDR(1, 1), 0x00, END };
    struct tp_request req;
    tp_request_init(&req);
    assert_int_equal(req.version, TP_REQUEST_VERSION);
    req.version = 0;
    CHECK_VECTOR(&req, v0);

    static const uint8_t v255[] = { HDR(1, 1), 0xff, END };
    req.version = 255;
    CHECK_VECTOR(&req, v255);
}

/* ---- marshaller limits and refusals ---- */

/* 65534 bytes go out (§9.20), 65535 do not — for text, opaque and layout
 * item fields; the buffer is untouched on refusal. */
static void
test_payload_boundary(void **state)
{
    need_little_endian();
    uint8_t *big = malloc(65535);
    assert_non_null(big);
    memset(big, 'a', 65535);

    struct tp_request req;
    tp_request_init(&req);
    req.host = (struct pr_slice){ big, 65534 };
    struct pr_buf out = PR_BUF_INIT;
    assert_int_equal(tp_request_marshal(&req, &out, NULL), 0);
    assert_int_equal(out.len, 5 + 4 + 65534 + 4);
    static const uint8_t head[] = { BEGIN3, 0xfe, 0xff, 0x03, 0x00 };
    assert_memory_equal(out.data, head, sizeof(head));
    assert_memory_equal(out.data + sizeof(head), big, 65534);
    assert_memory_equal(out.data + sizeof(head) + 65534, "\0\0\x02\0", 4);

    /* ... and parses back. */
    struct pr_arena arena = PR_ARENA_INIT;
    struct tp_request back;
    assert_int_equal(
        tp_request_parse(out.data, out.len, &back, &arena, NULL, 0), 0);
    assert_int_equal(back.host.len, 65534);
    assert_true(tp_request_equal(&req, &back));
    pr_arena_free(&arena);
    pr_buf_free(&out);

    req.host.len = 65535;
    expect_marshal_error(
        &req, "HOST payload is 65535 bytes or more (at most 65534 are sent)");

    tp_request_init(&req);
    req.session = (struct pr_slice){ big, 65535 };
    expect_marshal_error(&req, "SESSION payload is 65535 bytes or more "
                               "(at most 65534 are sent)");

    tp_request_init(&req);
    req.uri = S("/");
    req.layout = S("L");
    req.layout_item.kind = TP_LAYOUT_ITEM_URI;
    req.layout_item.value = (struct pr_slice){ big, 65535 };
    expect_marshal_error(&req, "layout item payload is 65535 bytes or more "
                               "(at most 65534 are sent)");
    req.layout_item.value.len = 65534;
    assert_int_equal(tp_request_marshal(&req, &out, NULL), 0);
    pr_buf_free(&out);

    /* The parser takes the 65535 bytes the format allows. */
    uint8_t *in = malloc(5 + 4 + 65535 + 4);
    assert_non_null(in);
    static const uint8_t max_head[] = { BEGIN3, 0xff, 0xff, 0x04, 0x00 };
    memcpy(in, max_head, sizeof(max_head));
    memset(in + 9, '/', 65535);
    memcpy(in + 9 + 65535, "\0\0\x02\0", 4);
    assert_int_equal(
        tp_request_parse(in, 9 + 65535 + 4, &back, &arena, NULL, 0), 0);
    assert_int_equal(back.uri.len, 65535);
    pr_arena_free(&arena);
    free(in);
    free(big);
}

static void
test_marshal_refusals(void **state)
{
    struct tp_request req;

    tp_request_init(&req);
    req.uri = B("/a\0b");
    expect_marshal_error(&req, "URI payload contains a NUL byte");

    /* Opaque fields may carry NULs. */
    tp_request_init(&req);
    req.check = B("a\0b");
    struct pr_buf out = PR_BUF_INIT;
    assert_int_equal(tp_request_marshal(&req, &out, NULL), 0);
    pr_buf_free(&out);

    tp_request_init(&req);
    req.status = 99;
    expect_marshal_error(&req, "STATUS must be an HTTP status (100..599)");
    req.status = 600;
    expect_marshal_error(&req, "STATUS must be an HTTP status (100..599)");

    tp_request_init(&req);
    req.want_count = TP_REQUEST_MAX_WANT + 1;
    expect_marshal_error(&req, "WANT lists more than 64 commands");

    tp_request_init(&req);
    req.layout_item.kind = TP_LAYOUT_ITEM_BASE;
    req.layout_item.value = S("/b/");
    expect_marshal_error(&req, "layout item without LAYOUT");

    tp_request_init(&req);
    req.layout = S("L");
    req.layout_item.kind = TP_LAYOUT_ITEM_URI;
    req.layout_item.value = S("/b/");
    expect_marshal_error(&req, "layout item URI needs the request URI");

    tp_request_init(&req);
    req.layout = S("L");
    req.layout_item.kind = (enum tp_layout_item_kind)TP_CMD_HOST;
    expect_marshal_error(&req, "layout item of an invalid kind");

    tp_request_init(&req);
    req.uri = S("/");
    req.layout = S("L");
    req.layout_item.kind = TP_LAYOUT_ITEM_REGEX;
    req.layout_item.value = B("^\0");
    expect_marshal_error(&req, "layout item contains a NUL byte");

    /* A late failure rolls back everything written before it. */
    fill_all(&req);
    req.pool = B("p\0");
    expect_marshal_error(&req, "POOL payload contains a NUL byte");
}

/* The marshaller appends; 64 WANT entries are the most. */
static void
test_marshal_appends_and_want_limit(void **state)
{
    need_little_endian();
    struct tp_request req;
    tp_request_init(&req);
    for (size_t i = 0; i < TP_REQUEST_MAX_WANT; i++)
        req.want[i] = (uint16_t)(i + 1);
    req.want_count = TP_REQUEST_MAX_WANT;

    struct pr_buf out = PR_BUF_INIT;
    assert_int_equal(pr_buf_append(&out, "xy", 2), 0);
    assert_int_equal(tp_request_marshal(&req, &out, NULL), 0);
    assert_int_equal(out.len, 2 + 5 + 4 + 128 + 4);
    assert_memory_equal(out.data, "xy", 2);
    static const uint8_t head[] = { BEGIN3, HDR(128, 115), 0x01, 0x00 };
    assert_memory_equal(out.data + 2, head, sizeof(head));
    assert_int_equal(out.data[2 + 9 + 126], 64);

    struct pr_arena arena = PR_ARENA_INIT;
    struct tp_request back;
    assert_int_equal(tp_request_parse(out.data + 2, out.len - 2, &back,
                                      &arena, NULL, 0),
                     0);
    assert_true(tp_request_equal(&req, &back));
    pr_arena_free(&arena);
    pr_buf_free(&out);
}

/* tp_request_equal notices a change in any single field. */
static void
test_equal_sees_every_field(void **state)
{
    static const size_t slices[] = {
#define O(m) offsetof(struct tp_request, m)
        O(error_document), O(listener_tag), O(remote_host), O(host),
        O(alt_host), O(user_agent), O(language), O(authorization), O(uri),
        O(args), O(query_string), O(widget_type), O(session),
        O(realm_session), O(recover_session), O(layout),
        O(internal_redirect), O(check), O(check_header), O(auth),
        O(http_auth), O(token_auth), O(auth_token), O(mount_listen_stream),
        O(want_full_uri), O(chain), O(chain_header), O(file_not_found),
        O(content_type_lookup), O(suffix), O(enotdir), O(directory_index),
        O(param), O(probe_path_suffixes), O(probe_suffix), O(read_file),
        O(user), O(pool),
#undef O
    };
    struct tp_request a, b;
    fill_all(&a);
    b = a;
    assert_true(tp_request_equal(&a, &b));

    for (size_t i = 0; i < sizeof(slices) / sizeof(slices[0]); i++) {
        struct pr_slice *s = (struct pr_slice *)((char *)&b + slices[i]);
        const struct pr_slice saved = *s;
        *s = S("other value");
        assert_false(tp_request_equal(&a, &b));
        *s = tp_slice_str(NULL);        /* unset */
        assert_false(tp_request_equal(&a, &b));
        s->data = saved.data;           /* same bytes, other length */
        s->len = saved.len - 1;
        assert_false(tp_request_equal(&a, &b));
        *s = saved;
        assert_true(tp_request_equal(&a, &b));
    }

    b.version = 3;
    assert_false(tp_request_equal(&a, &b));
    b = a;
    b.status = 405;
    assert_false(tp_request_equal(&a, &b));
    b = a;
    b.want[1] = 17;
    assert_false(tp_request_equal(&a, &b));
    b = a;
    b.want_count = 1;
    assert_false(tp_request_equal(&a, &b));
    b = a;
    b.path_exists = false;
    assert_false(tp_request_equal(&a, &b));
    b = a;
    b.layout_item.kind = TP_LAYOUT_ITEM_BASE;
    assert_false(tp_request_equal(&a, &b));
    b = a;
    b.layout_item.value = S("^/x");
    assert_false(tp_request_equal(&a, &b));

    /* Unset vs set-but-empty differ. */
    struct tp_request c, d;
    tp_request_init(&c);
    tp_request_init(&d);
    d.session = B("");
    assert_false(tp_request_equal(&c, &d));
    /* A NONE item's value does not count. */
    d = c;
    d.layout_item.value = S("junk");
    assert_true(tp_request_equal(&c, &d));
}

/* ---- parser error paths ---- */

static void
test_parse_framing_errors(void **state)
{
    need_little_endian();
    expect_parse_error(NULL, 0, "request ended before END");
    static const uint8_t only_begin[] = { BEGIN3 };
    EXPECT_PARSE_ERROR(only_begin, "request ended before END");
    static const uint8_t in_header[] = { BEGIN3, 0x02, 0x00 };
    EXPECT_PARSE_ERROR(in_header, "request ended before END: stream ended "
                                  "after 2 of 4 header bytes");
    static const uint8_t in_payload[] = { BEGIN3, HDR(5, 3), 'a', 'b' };
    EXPECT_PARSE_ERROR(in_payload, "request ended before END: stream ended "
                                   "after 2 of 5 payload bytes (HOST)");
    static const uint8_t trailing[] = { BEGIN3, END, HDR(0, 2) };
    EXPECT_PARSE_ERROR(trailing, "trailing data after END (4 bytes)");
    static const uint8_t trailing1[] = { BEGIN3, END, 0x00 };
    EXPECT_PARSE_ERROR(trailing1, "trailing data after END (1 bytes)");
}

static void
test_parse_begin_end_errors(void **state)
{
    need_little_endian();
    static const uint8_t no_begin[] = { HDR(1, 3), 'h', END };
    EXPECT_PARSE_ERROR(no_begin,
                       "request does not start with BEGIN (got HOST)");
    static const uint8_t end_first[] = { END };
    EXPECT_PARSE_ERROR(end_first,
                       "request does not start with BEGIN (got END)");
    static const uint8_t unknown_first[] = { HDR(0, 25), END };
    EXPECT_PARSE_ERROR(unknown_first,
                       "request does not start with BEGIN (got packet 25)");
    static const uint8_t begin_long[] = { HDR(2, 1), 3, 0, END };
    EXPECT_PARSE_ERROR(begin_long, "malformed BEGIN packet in request: "
                                   "payload must be empty or one byte");
    static const uint8_t begin_twice[] = { BEGIN3, BEGIN3, END };
    EXPECT_PARSE_ERROR(begin_twice, "duplicate BEGIN packet in request");
    static const uint8_t end_payload[] = { BEGIN3, HDR(1, 2), 0 };
    EXPECT_PARSE_ERROR(end_payload,
                       "malformed END packet in request: "
                       "payload must be empty");
}

static void
test_parse_packet_errors(void **state)
{
    need_little_endian();
    static const uint8_t dup_host[] = { BEGIN3, HDR(1, 3), 'a',
                                        HDR(1, 3), 'b', END };
    EXPECT_PARSE_ERROR(dup_host, "duplicate HOST packet in request");
    static const uint8_t dup_empty[] = { BEGIN3, HDR(0, 12), HDR(0, 12),
                                         END };
    EXPECT_PARSE_ERROR(dup_empty, "duplicate SESSION packet in request");
    static const uint8_t dup_status[] = { BEGIN3, HDR(2, 5), 0xc8, 0,
                                          HDR(2, 5), 0xc8, 0, END };
    EXPECT_PARSE_ERROR(dup_status, "duplicate STATUS packet in request");
    static const uint8_t dup_want[] = { BEGIN3, HDR(2, 115), 3, 0,
                                        HDR(2, 115), 4, 0, END };
    EXPECT_PARSE_ERROR(dup_want, "duplicate WANT packet in request");
    static const uint8_t dup_flag[] = { BEGIN3, HDR(0, 247), HDR(0, 247),
                                        END };
    EXPECT_PARSE_ERROR(dup_flag, "duplicate PATH_EXISTS packet in request");
    static const uint8_t dup_layout[] = { BEGIN3, HDR(1, 227), 'L',
                                          HDR(1, 227), 'M', END };
    EXPECT_PARSE_ERROR(dup_layout, "duplicate LAYOUT packet in request");
    static const uint8_t dup_uri[] = { BEGIN3, HDR(1, 4), '/',
                                       HDR(1, 4), '/', END };
    EXPECT_PARSE_ERROR(dup_uri, "duplicate URI packet in request");
    /* Two URIs, but the second does not follow LAYOUT directly. */
    static const uint8_t late_item[] = { BEGIN3, HDR(1, 4), '/',
                                         HDR(1, 227), 'L', HDR(0, 64),
                                         HDR(1, 4), '/', END };
    EXPECT_PARSE_ERROR(late_item, "duplicate URI packet in request");
    /* LAYOUT first: its URI is the request URI, a second one is extra. */
    static const uint8_t three_uri[] = { BEGIN3, HDR(1, 227), 'L',
                                         HDR(1, 4), '/', HDR(1, 4), '/',
                                         END };
    EXPECT_PARSE_ERROR(three_uri, "duplicate URI packet in request");

    static const uint8_t path[] = { BEGIN3, HDR(2, 6), '/', 'p', END };
    EXPECT_PARSE_ERROR(path, "response-only packet PATH in request");
    static const uint8_t content_type[] = { BEGIN3, HDR(1, 7), 't', END };
    EXPECT_PARSE_ERROR(content_type,
                       "response-only packet CONTENT_TYPE in request");
    static const uint8_t unknown25[] = { BEGIN3, HDR(0, 25), END };
    EXPECT_PARSE_ERROR(unknown25, "unknown packet 25 in request");
    static const uint8_t unknown0[] = { BEGIN3, HDR(0, 0), END };
    EXPECT_PARSE_ERROR(unknown0, "unknown packet 0 in request");
    static const uint8_t unknown287[] = { BEGIN3, HDR(1, 287), 'x', END };
    EXPECT_PARSE_ERROR(unknown287, "unknown packet 287 in request");
    static const uint8_t unknown_max[] = { BEGIN3, HDR(0, 0xffff), END };
    EXPECT_PARSE_ERROR(unknown_max, "unknown packet 65535 in request");
    /* Request packets of other clients, which struct tp_request cannot
     * carry. */
    static const uint8_t login[] = { BEGIN3, HDR(0, 164), END };
    EXPECT_PARSE_ERROR(login, "unsupported packet LOGIN in request");
    static const uint8_t local_addr[] = { BEGIN3, HDR(2, 44), 'a', 'b',
                                          END };
    EXPECT_PARSE_ERROR(local_addr,
                       "unsupported packet LOCAL_ADDRESS_STRING in request");
}

static void
test_parse_payload_errors(void **state)
{
    need_little_endian();
    static const uint8_t status1[] = { BEGIN3, HDR(1, 5), 0xc8, END };
    EXPECT_PARSE_ERROR(status1, "malformed STATUS packet in request: "
                                "payload must be a 2-byte integer");
    static const uint8_t status0[] = { BEGIN3, HDR(2, 5), 0, 0, END };
    EXPECT_PARSE_ERROR(status0, "malformed STATUS packet in request: 0 is "
                                "not an HTTP status (100..599)");
    static const uint8_t status600[] = { BEGIN3, HDR(2, 5), 0x58, 0x02,
                                         END };
    EXPECT_PARSE_ERROR(status600, "malformed STATUS packet in request: 600 "
                                  "is not an HTTP status (100..599)");
    static const uint8_t want_odd[] = { BEGIN3, HDR(3, 115), 3, 0, 4, END };
    EXPECT_PARSE_ERROR(want_odd,
                       "malformed WANT packet in request: payload must be "
                       "a non-empty array of 2-byte integers");
    static const uint8_t want_empty[] = { BEGIN3, HDR(0, 115), END };
    EXPECT_PARSE_ERROR(want_empty,
                       "malformed WANT packet in request: payload must be "
                       "a non-empty array of 2-byte integers");
    static const uint8_t nul_host[] = { BEGIN3, HDR(3, 3), 'a', 0, 'b',
                                        END };
    EXPECT_PARSE_ERROR(nul_host, "malformed HOST packet in request: "
                                 "payload contains a NUL byte");
    static const uint8_t flag_payload[] = { BEGIN3, HDR(1, 247), 'x', END };
    EXPECT_PARSE_ERROR(flag_payload, "malformed PATH_EXISTS packet in "
                                     "request: payload must be empty");
    static const uint8_t nul_item[] = { BEGIN3, HDR(1, 4), '/',
                                        HDR(1, 227), 'L',
                                        HDR(2, 4), '/', 0, END };
    EXPECT_PARSE_ERROR(nul_item, "malformed URI packet in request: "
                                 "payload contains a NUL byte");

    /* 65 WANT entries. */
    uint8_t want65[5 + 4 + 130 + 4] = { BEGIN3, HDR(130, 115) };
    memcpy(want65 + 5 + 4 + 130, "\0\0\x02\0", 4);
    for (size_t i = 0; i < 65; i++)
        want65[9 + 2 * i] = (uint8_t)(i + 1);
    EXPECT_PARSE_ERROR(want65, "malformed WANT packet in request: 65 "
                               "commands (at most 64)");
}

static void
test_parse_layout_item_errors(void **state)
{
    need_little_endian();
    static const uint8_t base_alone[] = { BEGIN3, HDR(2, 40), '/', 'b',
                                          END };
    EXPECT_PARSE_ERROR(base_alone, "misplaced BASE packet in request (a "
                                   "layout item must follow LAYOUT)");
    static const uint8_t regex_late[] = { BEGIN3, HDR(1, 227), 'L',
                                          HDR(0, 64), HDR(1, 79), 'r',
                                          END };
    EXPECT_PARSE_ERROR(regex_late, "misplaced REGEX packet in request (a "
                                   "layout item must follow LAYOUT)");
    static const uint8_t two_items[] = { BEGIN3, HDR(1, 227), 'L',
                                         HDR(2, 40), '/', 'b',
                                         HDR(1, 79), 'r', END };
    EXPECT_PARSE_ERROR(two_items, "misplaced REGEX packet in request (a "
                                  "layout item must follow LAYOUT)");
    static const uint8_t base_then_uri_item[] = {
        BEGIN3, HDR(1, 4), '/', HDR(1, 227), 'L', HDR(2, 40), '/', 'b',
        HDR(1, 4), '/', END };
    EXPECT_PARSE_ERROR(base_then_uri_item,
                       "duplicate URI packet in request");
}

/* Parser state machine: sticky errors, packets after END. */
static void
test_parser_states(void **state)
{
    struct pr_arena arena = PR_ARENA_INIT;
    struct tp_request req;
    struct tp_request_parser p;
    static const uint8_t three = 3;
    const struct tp_packet begin = { TP_CMD_BEGIN, 1, &three };
    const struct tp_packet end = { TP_CMD_END, 0, (const uint8_t *)"" };
    const struct tp_packet host = { TP_CMD_HOST, 1, (const uint8_t *)"h" };
    const struct tp_packet path = { TP_CMD_PATH, 1, (const uint8_t *)"/" };
    const struct tp_packet odd = { 300, 0, (const uint8_t *)"" };

    tp_request_parser_init(&p, &req, &arena);
    assert_string_equal(tp_request_parser_error(&p), "");
    assert_int_equal(tp_request_parser_feed(&p, &begin),
                     TP_REQUEST_NEED_MORE);
    assert_int_equal(tp_request_parser_feed(&p, &host),
                     TP_REQUEST_NEED_MORE);
    assert_int_equal(tp_request_parser_feed(&p, &end), TP_REQUEST_DONE);
    ASSERT_SLICE(req.host, "h");
    assert_int_equal(tp_request_parser_feed(&p, &host), TP_REQUEST_ERROR);
    assert_string_equal(tp_request_parser_error(&p),
                        "HOST packet after END");
    /* Sticky: even BEGIN or END fail now, and the message stays. */
    assert_int_equal(tp_request_parser_feed(&p, &begin), TP_REQUEST_ERROR);
    assert_int_equal(tp_request_parser_feed(&p, &end), TP_REQUEST_ERROR);
    assert_string_equal(tp_request_parser_error(&p),
                        "HOST packet after END");

    tp_request_parser_init(&p, &req, &arena);
    assert_int_equal(tp_request_parser_feed(&p, &begin),
                     TP_REQUEST_NEED_MORE);
    assert_int_equal(tp_request_parser_feed(&p, &end), TP_REQUEST_DONE);
    assert_int_equal(tp_request_parser_feed(&p, &odd), TP_REQUEST_ERROR);
    assert_string_equal(tp_request_parser_error(&p), "packet 300 after END");

    tp_request_parser_init(&p, &req, &arena);
    assert_int_equal(tp_request_parser_feed(&p, &begin),
                     TP_REQUEST_NEED_MORE);
    assert_int_equal(tp_request_parser_feed(&p, &path), TP_REQUEST_ERROR);
    assert_int_equal(tp_request_parser_feed(&p, &host), TP_REQUEST_ERROR);
    assert_int_equal(tp_request_parser_feed(&p, &end), TP_REQUEST_ERROR);
    assert_string_equal(tp_request_parser_error(&p),
                        "response-only packet PATH in request");
    assert_null(req.host.data);

    /* init clears the request it is given. */
    req.host = S("stale");
    req.status = 200;
    tp_request_parser_init(&p, &req, &arena);
    assert_null(req.host.data);
    assert_int_equal(req.status, 0);
    assert_int_equal(req.version, 0);

    /* tp_request_parse with err NULL or errlen 0 still fails cleanly. */
    static const uint8_t bad[] = { 0x00, 0x00, 0x03, 0x00 };
    char err[4] = "zzz";
    assert_int_equal(
        tp_request_parse(bad, sizeof(bad), &req, &arena, NULL, 0), -EINVAL);
    assert_int_equal(
        tp_request_parse(bad, sizeof(bad), &req, &arena, err, 0), -EINVAL);
    assert_string_equal(err, "zzz");
    /* A short buffer gets a truncated message. */
    assert_int_equal(tp_request_parse(bad, sizeof(bad), &req, &arena, err,
                                      sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "req");
    pr_arena_free(&arena);
}

/* tp_slice_str and tp_request_init. */
static void
test_helpers(void **state)
{
    struct pr_slice s = tp_slice_str("abc");
    assert_int_equal(s.len, 3);
    assert_memory_equal(s.data, "abc", 3);
    s = tp_slice_str("");
    assert_non_null(s.data);
    assert_int_equal(s.len, 0);
    s = tp_slice_str(NULL);
    assert_null(s.data);
    assert_int_equal(s.len, 0);

    struct tp_request req;
    memset(&req, 0xa5, sizeof(req));
    tp_request_init(&req);
    assert_int_equal(req.version, 3);
    assert_null(req.host.data);
    assert_null(req.layout_item.value.data);
    assert_int_equal(req.layout_item.kind, TP_LAYOUT_ITEM_NONE);
    assert_int_equal(req.want_count, 0);
    assert_false(req.path_exists);
    assert_int_equal(TP_LAYOUT_ITEM_URI, 4);
    assert_int_equal(TP_LAYOUT_ITEM_BASE, 40);
    assert_int_equal(TP_LAYOUT_ITEM_REGEX, 79);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_main_request),
        cmocka_unit_test(test_want_repeat),
        cmocka_unit_test(test_check_request),
        cmocka_unit_test(test_layout_uri_item),
        cmocka_unit_test(test_layout_base_regex_none),
        cmocka_unit_test(test_content_type_lookup),
        cmocka_unit_test(test_error_document),
        cmocka_unit_test(test_auth),
        cmocka_unit_test(test_http_auth),
        cmocka_unit_test(test_token_auth),
        cmocka_unit_test(test_path_exists),
        cmocka_unit_test(test_other_kinds),
        cmocka_unit_test(test_empty_but_set),
        cmocka_unit_test(test_all_fields_order),
        cmocka_unit_test(test_parse_any_order),
        cmocka_unit_test(test_begin_versions),
        cmocka_unit_test(test_payload_boundary),
        cmocka_unit_test(test_marshal_refusals),
        cmocka_unit_test(test_marshal_appends_and_want_limit),
        cmocka_unit_test(test_equal_sees_every_field),
        cmocka_unit_test(test_parse_framing_errors),
        cmocka_unit_test(test_parse_begin_end_errors),
        cmocka_unit_test(test_parse_packet_errors),
        cmocka_unit_test(test_parse_payload_errors),
        cmocka_unit_test(test_parse_layout_item_errors),
        cmocka_unit_test(test_parser_states),
        cmocka_unit_test(test_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
