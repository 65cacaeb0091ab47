/* Unit tests: the STDOUT side of a FastCGI exchange without I/O: the
 * record decoder, the CGI head parser and dp_fcgi_head as dp_fcgi chains
 * them, for record streams split at every byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_fcgi_head.h"
#include "dp_pool.h"
#include "fcgi_codec.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* What the client would get. */
struct outcome {
    int rc;                     /* dp_fcgi_head_response(), or 1: no head */
    struct dp_fcgi_head head;
    char headers[2048];
    char body[4096];
    size_t body_len;
    char stderr_text[256];
    size_t stderr_len;
    bool ended;
    char msg[300];
};

/* Feed `stream` in pieces of `step` bytes (0: at the split point
 * `split` only), as dp_fcgi's read loop does. */
static void
run(const uint8_t *stream, size_t len, size_t step, size_t split,
    struct outcome *o)
{
    memset(o, 0, sizeof(*o));
    o->rc = 1;
    struct dp_pool *pool = dp_pool_new(0);
    struct dp_response_headers rh;
    dp_response_headers_init(&rh, pool);
    struct fcgi_decoder dec;
    fcgi_decoder_init(&dec, 1);
    struct cgi_head head;
    cgi_head_init(&head, 0, 0);
    bool head_done = false;
    size_t pos = 0;
    while (pos < len && !o->ended) {
        size_t n = step > 0 ? step : (pos < split ? split : len - pos);
        if (n > len - pos)
            n = len - pos;
        const uint8_t *p = stream + pos;
        size_t left = n;
        while (left > 0 && !o->ended) {
            size_t used = 0;
            struct fcgi_event ev;
            enum fcgi_decoder_status st =
                fcgi_decoder_feed(&dec, p, left, &used, &ev);
            assert_int_not_equal(st, FCGI_DEC_ERROR);
            p += used;
            left -= used;
            if (st == FCGI_DEC_STDOUT) {
                const uint8_t *d = ev.data.data;
                size_t dn = ev.data.len;
                if (!head_done) {
                    size_t consumed = 0;
                    enum cgi_head_status hs =
                        cgi_head_feed(&head, d, dn, &consumed);
                    assert_int_not_equal(hs, CGI_HEAD_ERROR);
                    if (hs == CGI_HEAD_NEED_MORE)
                        continue;
                    head_done = true;
                    o->rc = dp_fcgi_head_response(&head, &rh, &o->head,
                                                  o->msg, sizeof(o->msg));
                    d += consumed;
                    dn -= consumed;
                }
                assert_true(o->body_len + dn <= sizeof(o->body));
                memcpy(o->body + o->body_len, d, dn);
                o->body_len += dn;
            } else if (st == FCGI_DEC_STDERR) {
                memcpy(o->stderr_text + o->stderr_len, ev.data.data,
                       ev.data.len);
                o->stderr_len += ev.data.len;
            } else if (st == FCGI_DEC_END_REQUEST) {
                o->ended = true;
            }
        }
        pos += n;
    }
    snprintf(o->headers, sizeof(o->headers), "%.*s", (int)rh.len,
             rh.data != NULL ? rh.data : "");
    cgi_head_destroy(&head);
    dp_pool_free(pool);
}

static size_t
build(uint8_t *out, size_t cap, const char *const *stdout_parts, size_t n,
      const char *err)
{
    struct pr_buf b = { 0 };
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(fcgi_append_stream(&b, FCGI_STDOUT, 1,
                                            stdout_parts[i],
                                            strlen(stdout_parts[i]),
                                            FCGI_ENC_PAD), 0);
        if (i == 0 && err != NULL)
            assert_int_equal(fcgi_append_stream(&b, FCGI_STDERR, 1, err,
                                                strlen(err), 0), 0);
    }
    assert_int_equal(fcgi_append_stream_end(&b, FCGI_STDOUT, 1), 0);
    assert_int_equal(fcgi_append_end_request(&b, 1, 0, 0), 0);
    assert_true(b.len <= cap);
    memcpy(out, b.data, b.len);
    size_t len = b.len;
    pr_buf_free(&b);
    return len;
}

static void
test_every_split(void **state)
{
    (void)state;
    static const char *const parts[] = {
        "Content-Type: text/plain\r\nX-A: 1\r\n",
        ("Date: Mon, 1 Jan 2024 00:00:00 GMT\r\nServer: app\r\n"
         "Content-Length: 11\r\n\r\nhello"),
        " world",
    };
    uint8_t stream[1024];
    size_t len = build(stream, sizeof(stream), parts, 3, "oops\n");
    for (size_t step = 0; step <= 9; step++) {
        for (size_t split = 1; split < (step == 0 ? len : 2); split++) {
            struct outcome o;
            run(stream, len, step, split, &o);
            assert_int_equal(o.rc, 0);
            assert_true(o.ended);
            assert_int_equal(o.head.status, 200);
            assert_int_equal(o.head.length, 11);
            /* Date, Server and Content-Length are the server's */
            assert_string_equal(o.headers,
                                "Content-Type: text/plain\r\nX-A: 1\r\n");
            assert_int_equal(o.body_len, 11);
            assert_memory_equal(o.body, "hello world", 11);
            assert_int_equal(o.stderr_len, 5);
            assert_memory_equal(o.stderr_text, "oops\n", 5);
        }
    }
}

static void
test_status_and_redirects(void **state)
{
    (void)state;
    uint8_t stream[1024];
    struct outcome o;
    static const char *const notfound[] = {
        "Status: 404 Gone Fishing\nContent-Type: text/html\n\n<p>",
    };
    size_t len = build(stream, sizeof(stream), notfound, 1, NULL);
    run(stream, len, 1, 0, &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.head.status, 404);
    assert_int_equal(o.head.length, -1);
    assert_string_equal(o.headers, "Content-Type: text/html\r\n");

    static const char *const away[] = {
        "Location: https://example.com/x\r\n\r\n",
    };
    len = build(stream, sizeof(stream), away, 1, NULL);
    run(stream, len, 3, 0, &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.head.status, 302);
    assert_string_equal(o.headers, "Location: https://example.com/x\r\n");
    assert_int_equal(o.body_len, 0);

    static const char *const local[] = {
        "Location: /elsewhere?q\r\n\r\n",
    };
    len = build(stream, sizeof(stream), local, 1, NULL);
    run(stream, len, 0, 5, &o);
    assert_int_equal(o.rc, -EPROTO);
    assert_non_null(strstr(o.msg, "local redirect to \"/elsewhere?q\""));

    /* hop-by-hop headers never reach the client */
    static const char *const hop[] = {
        "Content-Type: a/b\r\nConnection: close\r\n"
        "Transfer-Encoding: chunked\r\nKeep-Alive: 5\r\n\r\nx",
    };
    len = build(stream, sizeof(stream), hop, 1, NULL);
    run(stream, len, 2, 0, &o);
    assert_int_equal(o.rc, 0);
    assert_string_equal(o.headers, "Content-Type: a/b\r\n");
    assert_int_equal(o.body_len, 1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_status_and_redirects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
