/* Unit tests for protocol/h1_chars (the field-line checks both head
 * parsers share) and the header-field rules h1_request exports for
 * h1_response_head (h1_header_find, h1_connection_bits,
 * h1_content_length_parse). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "h1_chars.h"
#include "h1_request.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define U(s) ((const uint8_t *)(s))

static void
test_eq_lower(void **state)
{
    (void)state;
    assert_true(h1_eq_lower(U("Chunked"), 7, "chunked"));
    assert_true(h1_eq_lower(U("CHUNKED"), 7, "chunked"));
    assert_true(h1_eq_lower(U(""), 0, ""));
    assert_false(h1_eq_lower(U("chunke"), 6, "chunked"));   /* shorter */
    assert_false(h1_eq_lower(U("chunkeds"), 8, "chunked")); /* longer */
    assert_false(h1_eq_lower(U("chunked"), 7, "chunkef"));
    /* Only ASCII letters fold: '@' (0x40) is not '`' (0x60). */
    assert_false(h1_eq_lower(U("@"), 1, "`"));
    assert_false(h1_eq_lower(U("\xc3"), 1, "\xe3"));
}

static void
test_skip_ows_token(void **state)
{
    (void)state;
    const uint8_t *v = U(" \t gzip ;q=1");
    assert_int_equal(h1_skip_ows(v, 0, 12), 3);
    assert_int_equal(h1_skip_ows(v, 3, 12), 3);
    assert_int_equal(h1_skip_ows(v, 0, 2), 2); /* stops at n */
    assert_int_equal(h1_skip_token(v, 3, 12), 7);
    assert_int_equal(h1_skip_token(v, 3, 5), 5);
    assert_int_equal(h1_skip_token(v, 0, 12), 0);
    /* Every tchar of RFC 9110 §5.6.2, and nothing else of ASCII. */
    const char *tchars = "!#$%&'*+-.^_`|~0123456789"
                         "abcdefghijklmnopqrstuvwxyz"
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    for (unsigned c = 0; c < 256; c++) {
        bool want = c != 0 && strchr(tchars, (int)c) != NULL;
        uint8_t b = (uint8_t)c;
        assert_int_equal(h1_is_tchar(b), want);
        assert_int_equal(h1_skip_token(&b, 0, 1), want ? 1 : 0);
    }
}

/* The byte-at-a-time rule the fast path must agree with. */
static size_t
slow_skip_value(const uint8_t *buf, size_t i)
{
    while (buf[i] == '\t' || (buf[i] >= 0x20 && buf[i] != 0x7f))
        i++;
    return i;
}

static void
test_skip_field_value(void **state)
{
    (void)state;
    /* Each stop byte at each position of a long run, from each start:
     * the word loop must never step over it. */
    const uint8_t stops[] = {0x00, 0x01, '\t', '\r', '\n', 0x1f, 0x7f};
    const uint8_t fill[] = {'a', ' ', 0x80, 0xff, '~'};
    uint8_t buf[48];
    for (size_t f = 0; f < sizeof(fill); f++) {
        for (size_t s = 0; s < sizeof(stops); s++) {
            for (size_t at = 0; at < 40; at++) {
                memset(buf, fill[f], sizeof(buf));
                buf[at] = stops[s];
                buf[sizeof(buf) - 1] = '\n';
                for (size_t from = 0; from <= at; from++) {
                    size_t got = h1_skip_field_value(buf, from, sizeof(buf));
                    assert_int_equal(got, slow_skip_value(buf, from));
                }
            }
        }
    }
    /* HTAB is a field-value byte but stops a word: the table goes on. */
    memcpy(buf, "abcdefg\thijklmnopq\r\n", 20);
    assert_int_equal(h1_skip_field_value(buf, 0, 20), 18);
}

struct line_case {
    const char *head;  /* one line, then the head's final CRLF */
    size_t hn;
    const char *error; /* NULL: accepted */
    const char *name, *value;
};

static const struct line_case lines[] = {
    {"Host: example.com\r\n\r\n", 1, NULL, "Host", "example.com"},
    {"X-A:v\r\n\r\n", 1, NULL, "X-A", "v"},
    {"X-A: \t \r\n\r\n", 1, NULL, "X-A", ""},
    {"X-A:  a  b \t\r\n\r\n", 2, NULL, "X-A", "a  b"},
    {"X-A: caf\xc3\xa9\r\n\r\n", 1, NULL, "X-A", "caf\xc3\xa9"},
    {"X-A : v\r\n\r\n", 3,
     "whitespace between the name and the colon in header 3", NULL, NULL},
    {"X-A\t: v\r\n\r\n", 1,
     "whitespace between the name and the colon in header 1", NULL, NULL},
    {"X-A v\r\n\r\n", 1, "whitespace between the name and the colon in "
                         "header 1", NULL, NULL},
    {"X-A\r\n\r\n", 4, "no colon in header 4", NULL, NULL},
    {"X-A\n\r\n", 4, "no colon in header 4", NULL, NULL},
    {"X(A: v\r\n\r\n", 1, "invalid byte 0x28 in the name of header 1", NULL,
     NULL},
    {": v\r\n\r\n", 2, "empty name in header 2", NULL, NULL},
    {"X-A: v\n\r\n", 1, "bare LF in header 1", NULL, NULL},
    {"X-A: v\rw\r\n\r\n", 5, "bare CR in header 5", NULL, NULL},
    {"X-A: v\r\r\n\r\n", 5, "bare CR in header 5", NULL, NULL},
    {"X-A: v\x00w\r\n\r\n", 1, "NUL in header 1", NULL, NULL},
    {"X-A: v\x01w\r\n\r\n", 1, "control character 0x01 in header 1", NULL,
     NULL},
    {"X-A: v\x7fw\r\n\r\n", 1, "control character 0x7f in header 1", NULL,
     NULL},
};

static size_t
case_len(const char *head)
{
    /* The vectors with a NUL hold "\r\n\r\n" or "\n\r\n" at their end. */
    size_t n = 0;
    while (!(head[n] == '\r' && head[n + 1] == '\n' && head[n + 2] == '\r' &&
             head[n + 3] == '\n') &&
           !(head[n] == '\n' && head[n + 1] == '\r' && head[n + 2] == '\n'))
        n++;
    return head[n] == '\n' ? n + 3 : n + 4;
}

static void
test_parse_field_line(void **state)
{
    (void)state;
    for (size_t k = 0; k < sizeof(lines) / sizeof(lines[0]); k++) {
        const struct line_case *c = &lines[k];
        const uint8_t *buf = U(c->head);
        size_t end = case_len(c->head);
        struct h1_field_line fl;
        char err[H1_FIELD_ERROR_SIZE];
        memset(err, 0, sizeof(err));
        bool ok = h1_parse_field_line(buf, 0, end, c->hn, &fl, err);
        if (c->error != NULL) {
            assert_false(ok);
            assert_string_equal(err, c->error);
            continue;
        }
        assert_true(ok);
        assert_int_equal(fl.name_start, 0);
        assert_int_equal(fl.name_end - fl.name_start, strlen(c->name));
        assert_memory_equal(buf + fl.name_start, c->name, strlen(c->name));
        assert_int_equal(fl.value_end - fl.value_start, strlen(c->value));
        assert_memory_equal(buf + fl.value_start, c->value,
                            strlen(c->value));
        assert_int_equal(fl.next, end - 2); /* the head's final CRLF */
    }
    /* From an offset, and the longest sentence fits. */
    const char *two = "A: 1\r\nBb:2\r\n\r\n";
    struct h1_field_line fl;
    char err[H1_FIELD_ERROR_SIZE];
    assert_true(h1_parse_field_line(U(two), 6, 14, 2, &fl, err));
    assert_int_equal(fl.name_start, 6);
    assert_int_equal(fl.name_end, 8);
    assert_int_equal(fl.value_start, 9);
    assert_int_equal(fl.value_end, 10);
    assert_int_equal(fl.next, 12);
    assert_false(h1_parse_field_line(U("A : 1\r\n\r\n"), 0, 9, SIZE_MAX, &fl,
                                     err));
    char want[100];
    snprintf(want, sizeof(want),
             "whitespace between the name and the colon in header %zu",
             (size_t)SIZE_MAX);
    assert_string_equal(err, want);
}

/* The step of both header loops: the end of the head, a field line
 * numbered hn + 1, and every sentence for a line that starts wrong. */
static void
test_next_header_line(void **state)
{
    (void)state;
    struct h1_field_line fl;
    char err[H1_FIELD_ERROR_SIZE];
    const char *head = "A: 1\r\n\r\n";
    assert_int_equal(h1_next_header_line(U(head), 0, 8, 0, "request line",
                                         &fl, err), H1_LINE_FIELD);
    assert_int_equal(fl.name_end, 1);
    assert_int_equal(fl.value_start, 3);
    assert_int_equal(fl.next, 6);
    assert_int_equal(h1_next_header_line(U(head), 6, 8, 1, "request line",
                                         &fl, err), H1_LINE_END);
    assert_int_equal(fl.next, 8);
    static const struct {
        const char *head;
        size_t hn;
        const char *start_line, *error;
    } bad[] = {
        {"\rX\r\n\r\n", 2, "request line", "bare CR in header 3"},
        {"\n", 4, "status line", "bare LF at the end of the head"},
        {" A: 1\r\n\r\n", 0, "request line",
         "whitespace between the request line and the first header"},
        {"\tA: 1\r\n\r\n", 0, "status line",
         "whitespace between the status line and the first header"},
        {" A: 1\r\n\r\n", 5, "status line",
         "obsolete line folding in header 5"},
        {"A1\r\n\r\n", 6, "request line", "no colon in header 7"},
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        memset(err, 0, sizeof(err));
        assert_int_equal(h1_next_header_line(U(bad[k].head), 0,
                                             strlen(bad[k].head), bad[k].hn,
                                             bad[k].start_line, &fl, err),
                         H1_LINE_BAD);
        assert_string_equal(err, bad[k].error);
    }
}

static void
test_header_find(void **state)
{
    (void)state;
    struct h1_header h[3] = {
        {.name = {U("Host"), 4}, .value = {U("a"), 1}},
        {.name = {U("X-Y"), 3}, .value = {U("b"), 1}},
        {.name = {U("x-y"), 3}, .value = {U("c"), 1}},
    };
    assert_ptr_equal(h1_header_find(h, 3, "host"), &h[0]);
    assert_ptr_equal(h1_header_find(h, 3, "HOST"), &h[0]);
    assert_ptr_equal(h1_header_find(h, 3, "x-Y"), &h[1]); /* the first */
    assert_null(h1_header_find(h, 3, "hos"));
    assert_null(h1_header_find(h, 3, "hostx"));
    assert_null(h1_header_find(h, 1, "x-y"));
    assert_null(h1_header_find(h, 0, "host"));
}

static void
test_connection_bits(void **state)
{
    (void)state;
    const struct {
        const char *v;
        unsigned bits;
    } cases[] = {
        {"", 0},
        {"close", H1_CONN_CLOSE},
        {"Keep-Alive", H1_CONN_KEEP_ALIVE},
        {" upgrade , CLOSE\t", H1_CONN_UPGRADE | H1_CONN_CLOSE},
        {"te, foo,,keep-alive", H1_CONN_KEEP_ALIVE},
        {"closed, keep-alive2", 0},
        {"close keep-alive", 0},
        {",", 0},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++)
        assert_int_equal(h1_connection_bits(U(cases[k].v),
                                            strlen(cases[k].v)),
                         cases[k].bits);
}

static void
test_content_length(void **state)
{
    (void)state;
    uint64_t x = 7;
    assert_null(h1_content_length_parse(U("0"), 1, &x));
    assert_int_equal(x, 0);
    assert_null(h1_content_length_parse(U("00123"), 5, &x));
    assert_int_equal(x, 123);
    assert_null(h1_content_length_parse(U("9223372036854775807"), 19, &x));
    assert_int_equal(x, INT64_MAX);
    x = 7;
    assert_string_equal(h1_content_length_parse(U(""), 0, &x),
                        "empty Content-Length");
    assert_string_equal(h1_content_length_parse(U("9223372036854775808"), 19,
                                                &x),
                        "Content-Length over 2^63-1");
    assert_string_equal(h1_content_length_parse(U("+1"), 2, &x),
                        "Content-Length is not a decimal number");
    assert_string_equal(h1_content_length_parse(U("1 "), 2, &x),
                        "Content-Length is not a decimal number");
    assert_string_equal(h1_content_length_parse(U("1,1"), 3, &x),
                        "Content-Length is not a decimal number");
    assert_int_equal(x, 7); /* untouched on error */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eq_lower),
        cmocka_unit_test(test_skip_ows_token),
        cmocka_unit_test(test_skip_field_value),
        cmocka_unit_test(test_parse_field_line),
        cmocka_unit_test(test_next_header_line),
        cmocka_unit_test(test_header_find),
        cmocka_unit_test(test_connection_bits),
        cmocka_unit_test(test_content_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
