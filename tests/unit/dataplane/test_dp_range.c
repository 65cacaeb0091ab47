/* Unit tests for dataplane/dp_range: Range parsing against a size
 * (RFC 9110 §14.1.2 examples, boundaries, overflow, coalescing, limits)
 * and the exact 206/416 framing text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_range.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum dp_range_status
parse(const char *s, uint64_t size, struct dp_range_set *set)
{
    memset(set, 0xa5, sizeof(*set));
    enum dp_range_status st = dp_range_parse(s, strlen(s), size, set);
    if (st != DP_RANGE_PARTIAL)
        assert_int_equal(set->count, 0);
    else
        assert_true(set->count >= 1 && set->count <= DP_RANGE_MAX_SPECS);
    return st;
}

static void
expect_ignore(const char *s, uint64_t size)
{
    struct dp_range_set set;
    enum dp_range_status st = parse(s, size, &set);
    if (st != DP_RANGE_IGNORE)
        fail_msg("\"%s\" (size %llu): status %d, want IGNORE", s,
                 (unsigned long long)size, st);
}

static void
expect_416(const char *s, uint64_t size)
{
    struct dp_range_set set;
    enum dp_range_status st = parse(s, size, &set);
    if (st != DP_RANGE_UNSATISFIABLE)
        fail_msg("\"%s\" (size %llu): status %d, want UNSATISFIABLE", s,
                 (unsigned long long)size, st);
}

/* `want` lists first,last pairs; n pairs. */
static void
expect_ranges(const char *s, uint64_t size, unsigned n, const uint64_t *want)
{
    struct dp_range_set set;
    enum dp_range_status st = parse(s, size, &set);
    if (st != DP_RANGE_PARTIAL)
        fail_msg("\"%s\" (size %llu): status %d, want PARTIAL", s,
                 (unsigned long long)size, st);
    if (set.count != n)
        fail_msg("\"%s\": %u ranges, want %u", s, set.count, n);
    for (unsigned i = 0; i < n; i++) {
        if (set.r[i].first != want[2 * i] || set.r[i].last != want[2 * i + 1])
            fail_msg("\"%s\" range %u: %llu-%llu, want %llu-%llu", s, i,
                     (unsigned long long)set.r[i].first,
                     (unsigned long long)set.r[i].last,
                     (unsigned long long)want[2 * i],
                     (unsigned long long)want[2 * i + 1]);
    }
}

#define RANGES(s, size, ...)                                               \
    do {                                                                   \
        static const uint64_t w_[] = { __VA_ARGS__ };                      \
        expect_ranges(s, size, sizeof(w_) / sizeof(w_[0]) / 2, w_);        \
    } while (0)

static void
test_rfc_examples(void **state)
{
    /* RFC 9110 §14.1.2, a representation of 10000 bytes */
    RANGES("bytes=0-499", 10000, 0, 499);
    RANGES("bytes=500-999", 10000, 500, 999);
    RANGES("bytes=-500", 10000, 9500, 9999);
    RANGES("bytes=9500-", 10000, 9500, 9999);
    RANGES("bytes=0-0,-1", 10000, 0, 0, 9999, 9999);
    RANGES("bytes=500-600,601-999", 10000, 500, 999);
    RANGES("bytes=500-700,601-999", 10000, 500, 999);
}

static void
test_boundaries(void **state)
{
    /* the last byte, first-pos = size, beyond */
    RANGES("bytes=99-99", 100, 99, 99);
    RANGES("bytes=99-", 100, 99, 99);
    RANGES("bytes=0-99", 100, 0, 99);
    RANGES("bytes=0-100", 100, 0, 99);
    RANGES("bytes=0-", 100, 0, 99);
    expect_416("bytes=100-", 100);
    expect_416("bytes=100-100", 100);
    expect_416("bytes=101-200", 100);
    /* suffixes */
    RANGES("bytes=-1", 100, 99, 99);
    RANGES("bytes=-100", 100, 0, 99);
    RANGES("bytes=-101", 100, 0, 99);
    RANGES("bytes=-99999", 100, 0, 99);
    expect_416("bytes=-0", 100);
    /* a one-byte file */
    RANGES("bytes=0-0", 1, 0, 0);
    RANGES("bytes=-5", 1, 0, 0);
    expect_416("bytes=1-", 1);
    /* an empty file: nothing is satisfiable */
    expect_416("bytes=0-", 0);
    expect_416("bytes=0-0", 0);
    expect_416("bytes=-1", 0);
    expect_416("bytes=-0", 0);
    /* unsatisfiable specs are dropped if another one is satisfiable */
    RANGES("bytes=200-300,0-9", 100, 0, 9);
    RANGES("bytes=-0,5-9", 100, 5, 9);
    expect_416("bytes=100-,200-,-0", 100);
}

static void
test_huge_numbers(void **state)
{
    RANGES("bytes=0-99999999999999999999999", 1000, 0, 999);
    RANGES("bytes=0-18446744073709551615", 1000, 0, 999);
    RANGES("bytes=0-18446744073709551616", 1000, 0, 999);
    RANGES("bytes=-99999999999999999999999", 1000, 0, 999);
    expect_416("bytes=99999999999999999999999-", 1000);
    expect_416("bytes=18446744073709551615-", 1000);
    expect_416("bytes=99999999999999999999999-99999999999999999999999",
               1000);
    /* both saturate to UINT64_MAX: last < first is not claimed */
    expect_416("bytes=99999999999999999999998-99999999999999999999999",
               1000);
    /* a file larger than 4 GiB */
    RANGES("bytes=4294967296-", 5000000000ULL, 4294967296ULL, 4999999999ULL);
    RANGES("bytes=-1", UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 1);
    RANGES("bytes=18446744073709551614-", UINT64_MAX, UINT64_MAX - 1,
           UINT64_MAX - 1);
    expect_416("bytes=18446744073709551615-", UINT64_MAX);
    /* leading zeros are digits */
    RANGES("bytes=0000000000000000000000000010-00020", 100, 10, 20);
}

static void
test_syntax(void **state)
{
    /* unit is case-insensitive */
    RANGES("Bytes=1-2", 100, 1, 2);
    RANGES("BYTES=1-2", 100, 1, 2);
    /* OWS around the value and around commas, empty elements */
    RANGES("  bytes=1-2\t", 100, 1, 2);
    RANGES("bytes=1-2 ,\t300-", 1000, 1, 2, 300, 999);
    RANGES("bytes=,1-2,,  ,300-,", 1000, 1, 2, 300, 999);
    /* unknown units and garbage: ignored */
    expect_ignore("items=0-5", 100);
    expect_ignore("byte=0-5", 100);
    expect_ignore("bytesx=0-5", 100);
    expect_ignore("lines=-5", 100);
    expect_ignore("", 100);
    expect_ignore("bytes", 100);
    expect_ignore("bytes=", 100);
    expect_ignore("bytes=,", 100);
    expect_ignore("bytes= 0-5", 100);
    expect_ignore("bytes =0-5", 100);
    expect_ignore("=0-5", 100);
    expect_ignore("bytes=0 -5", 100);
    expect_ignore("bytes=0- 5", 100);
    expect_ignore("bytes=0-5 6", 100);
    expect_ignore("bytes=5", 100);
    expect_ignore("bytes=-", 100);
    expect_ignore("bytes=--5", 100);
    expect_ignore("bytes=0--5", 100);
    expect_ignore("bytes=0-5-6", 100);
    expect_ignore("bytes=+1-5", 100);
    expect_ignore("bytes=1-+5", 100);
    expect_ignore("bytes=0x10-20", 100);
    expect_ignore("bytes=1-2;x", 100);
    expect_ignore("bytes=1-2,x", 100);
    /* last < first makes the whole header invalid */
    expect_ignore("bytes=5-4", 100);
    expect_ignore("bytes=0-1,5-4", 100);
    /* even when the size would make it unsatisfiable */
    expect_ignore("bytes=500-400", 100);
    struct dp_range_set set;
    assert_int_equal(dp_range_parse(NULL, 0, 10, &set), DP_RANGE_IGNORE);
    assert_int_equal(set.count, 0);
    /* the length argument is respected */
    assert_int_equal(dp_range_parse("bytes=1-2,x", 9, 100, &set),
                     DP_RANGE_PARTIAL);
    assert_int_equal(set.count, 1);
}

static void
test_limit(void **state)
{
    char buf[512];
    size_t n = (size_t)snprintf(buf, sizeof(buf), "bytes=");
    for (int i = 0; i < DP_RANGE_MAX_SPECS; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%d-%d",
                              i ? "," : "", i * 1000, i * 1000 + 9);
    struct dp_range_set set;
    assert_int_equal(parse(buf, 100000, &set), DP_RANGE_PARTIAL);
    assert_int_equal(set.count, DP_RANGE_MAX_SPECS);
    assert_int_equal(set.r[15].first, 15000);
    /* one more: ignored */
    snprintf(buf + n, sizeof(buf) - n, ",99000-99001");
    expect_ignore(buf, 100000);
    /* empty elements do not count */
    snprintf(buf + n, sizeof(buf) - n, ",,,,");
    assert_int_equal(parse(buf, 100000, &set), DP_RANGE_PARTIAL);
    /* the classic amplification: many overlapping whole-file ranges
     * become one */
    expect_ranges("bytes=0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-",
                  100000, 1, (const uint64_t[]){ 0, 99999 });
    expect_ignore(
        "bytes=0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-,0-", 100000);
}

static void
test_coalesce(void **state)
{
    /* requested order kept when nothing merges */
    RANGES("bytes=5000-5099,0-99", 10000, 5000, 5099, 0, 99);
    RANGES("bytes=-100,0-99", 10000, 9900, 9999, 0, 99);
    /* overlap, containment, duplicates, adjacency: merged and sorted */
    RANGES("bytes=50-150,0-99", 10000, 0, 150);
    RANGES("bytes=0-999,100-199", 10000, 0, 999);
    RANGES("bytes=100-199,100-199", 10000, 100, 199);
    RANGES("bytes=100-199,200-299", 10000, 100, 299);
    /* gap of 79 bytes merges, 80 does not */
    RANGES("bytes=0-99,179-199", 10000, 0, 199);
    RANGES("bytes=0-99,180-199", 10000, 0, 99, 180, 199);
    /* a merge happened: the whole result comes out sorted */
    RANGES("bytes=9000-9099,0-99,50-60", 10000, 0, 99, 9000, 9099);
    /* chains */
    RANGES("bytes=0-10,11-20,21-30,31-40,5000-", 10000, 0, 40, 5000, 9999);
    RANGES("bytes=-500,0-", 10000, 0, 9999);
}

static void
test_content_range_text(void **state)
{
    char buf[DP_CONTENT_RANGE_SIZE];
    struct dp_byte_range r = { 42, 1233 };
    /* RFC 9110 §14.4 examples */
    assert_int_equal(dp_content_range(buf, sizeof(buf), &r, 1234), 18);
    assert_string_equal(buf, "bytes 42-1233/1234");
    assert_int_equal(dp_content_range_unsatisfied(buf, sizeof(buf), 1234),
                     12);
    assert_string_equal(buf, "bytes */1234");
    assert_int_equal(dp_content_range_unsatisfied(buf, sizeof(buf), 0), 9);
    assert_string_equal(buf, "bytes */0");
    /* the largest values fit */
    r.first = UINT64_MAX - 1;
    r.last = UINT64_MAX - 1;
    int n = dp_content_range(buf, sizeof(buf), &r, UINT64_MAX);
    assert_int_equal(n, 68);
    assert_string_equal(buf, "bytes 18446744073709551614-18446744073709551614"
                             "/18446744073709551615");
    /* too small a buffer */
    assert_int_equal(dp_content_range(buf, 10, &r, UINT64_MAX), -1);
    assert_int_equal(dp_content_range(buf, 0, &r, UINT64_MAX), -1);
    assert_int_equal(dp_content_range_unsatisfied(buf, 12, 1234), -1);
    assert_int_equal(dp_content_range_unsatisfied(buf, 13, 1234), 12);
    assert_int_equal(dp_byte_range_length(&(struct dp_byte_range){ 5, 5 }),
                     1);
}

static void
test_boundary(void **state)
{
    uint8_t rnd[DP_BOUNDARY_RANDOM];
    for (int i = 0; i < DP_BOUNDARY_RANDOM; i++)
        rnd[i] = (uint8_t)(i * 17 + 0x0f);
    char b[DP_BOUNDARY_SIZE];
    dp_multipart_boundary(b, rnd);
    assert_string_equal(b, "0f2031425364758697a8b9cadbecfd0e");
    char ct[128];
    assert_int_equal(dp_multipart_content_type(ct, sizeof(ct), b), 63);
    assert_string_equal(ct, "multipart/byteranges; "
                            "boundary=0f2031425364758697a8b9cadbecfd0e");
    assert_int_equal(dp_multipart_content_type(ct, 63, b), -1);
    assert_int_equal(dp_multipart_content_type(ct, 64, b), 63);
    assert_int_equal(dp_multipart_content_type(ct, sizeof(ct), ""), -1);
    assert_int_equal(dp_multipart_content_type(ct, sizeof(ct), "a b"), -1);
    assert_int_equal(dp_multipart_content_type(ct, sizeof(ct), "a\r\nb"),
                     -1);
    assert_int_equal(dp_multipart_content_type(ct, sizeof(ct), NULL), -1);

    /* any boundary up to 70 characters fits the documented buffers */
    char b70[72];
    memset(b70, 'B', 70);
    b70[70] = '\0';
    struct dp_range_set set = { 2, { { 0, 0 }, { 500, 999 } } };
    char h[DP_MULTIPART_HEADER_SIZE(4)];
    assert_true(dp_multipart_part_header(h, sizeof(h), b70, "a/bc", 4,
                                         &set.r[1], UINT64_MAX, false) > 0);
    char t[DP_MULTIPART_TRAILER_SIZE];
    assert_int_equal(dp_multipart_trailer(t, sizeof(t), b70), 78);
    uint64_t total;
    assert_int_equal(dp_multipart_length(&set, b70, "a/bc", 4, 1000, &total),
                     0);
    b70[70] = 'B';
    b70[71] = '\0';
    assert_int_equal(dp_multipart_trailer(t, sizeof(t), b70), -1);
    assert_int_equal(dp_multipart_length(&set, b70, "a/bc", 4, 1000, &total),
                     -1);
}

/* RFC 9110 §14.6's example: two parts of an 8000-byte PDF. */
static void
test_multipart_framing(void **state)
{
    const char *bd = "THIS_STRING_SEPARATES";
    const char *ct = "application/pdf";
    struct dp_range_set set = { 2, { { 500, 999 }, { 7000, 7999 } } };
    char h[DP_MULTIPART_HEADER_SIZE(15)];

    int n = dp_multipart_part_header(h, sizeof(h), bd, ct, strlen(ct),
                                     &set.r[0], 8000, true);
    const char *want0 = "--THIS_STRING_SEPARATES\r\n"
                        "Content-Type: application/pdf\r\n"
                        "Content-Range: bytes 500-999/8000\r\n"
                        "\r\n";
    assert_int_equal(n, strlen(want0));
    assert_string_equal(h, want0);

    n = dp_multipart_part_header(h, sizeof(h), bd, ct, strlen(ct),
                                 &set.r[1], 8000, false);
    const char *want1 = "\r\n--THIS_STRING_SEPARATES\r\n"
                        "Content-Type: application/pdf\r\n"
                        "Content-Range: bytes 7000-7999/8000\r\n"
                        "\r\n";
    assert_int_equal(n, strlen(want1));
    assert_string_equal(h, want1);

    char t[DP_MULTIPART_TRAILER_SIZE];
    n = dp_multipart_trailer(t, sizeof(t), bd);
    assert_string_equal(t, "\r\n--THIS_STRING_SEPARATES--\r\n");
    assert_int_equal(n, 29);

    uint64_t total = 0;
    assert_int_equal(
        dp_multipart_length(&set, bd, ct, strlen(ct), 8000, &total), 0);
    assert_int_equal(total, 93 + 500 + 97 + 1000 + 29);

    /* without a content type, the line is left out */
    n = dp_multipart_part_header(h, sizeof(h), bd, NULL, 0, &set.r[0], 8000,
                                 true);
    assert_string_equal(h, "--THIS_STRING_SEPARATES\r\n"
                           "Content-Range: bytes 500-999/8000\r\n\r\n");
    assert_int_equal(dp_multipart_length(&set, bd, NULL, 0, 8000, &total),
                     0);
    assert_int_equal(total, 93 - 31 + 500 + 97 - 31 + 1000 + 29);

    /* a header-splitting content type is refused */
    assert_int_equal(dp_multipart_part_header(h, sizeof(h), bd,
                                              "text/html\r\nX: y", 16,
                                              &set.r[0], 8000, true),
                     -1);
    assert_int_equal(dp_multipart_length(&set, bd, "a\nb", 3, 8000, &total),
                     -1);
    /* the buffer bound: one byte short fails, exact fits */
    n = dp_multipart_part_header(h, strlen(want0), bd, ct, strlen(ct),
                                 &set.r[0], 8000, true);
    assert_int_equal(n, -1);
    n = dp_multipart_part_header(h, strlen(want0) + 1, bd, ct, strlen(ct),
                                 &set.r[0], 8000, true);
    assert_int_equal(n, strlen(want0));
    /* ranges outside the size, an empty set */
    struct dp_range_set bad = { 1, { { 0, 8000 } } };
    assert_int_equal(dp_multipart_length(&bad, bd, ct, 15, 8000, &total),
                     -1);
    bad.count = 0;
    assert_int_equal(dp_multipart_length(&bad, bd, ct, 15, 8000, &total),
                     -1);
}

/* Build a whole multipart body from a parsed set; its length must be
 * what dp_multipart_length() promised, and every part must carry the
 * file's bytes. */
static void
test_multipart_assembled(void **state)
{
    enum { SIZE = 20000 };
    char *file = malloc(SIZE);
    assert_non_null(file);
    for (int i = 0; i < SIZE; i++)
        file[i] = (char)('a' + i % 26);
    struct dp_range_set set;
    assert_int_equal(parse("bytes=-300,100-199,19999-,5000-5999", SIZE, &set),
                     DP_RANGE_PARTIAL);
    /* 19999- lies inside -300: three parts, sorted */
    assert_int_equal(set.count, 3);
    assert_int_equal(set.r[0].first, 100);
    assert_int_equal(set.r[1].first, 5000);
    assert_int_equal(set.r[2].first, 19700);

    char bd[DP_BOUNDARY_SIZE];
    uint8_t rnd[DP_BOUNDARY_RANDOM] = { 1, 2, 3 };
    dp_multipart_boundary(bd, rnd);
    const char *ct = "text/plain; charset=utf-8";
    uint64_t want = 0;
    assert_int_equal(
        dp_multipart_length(&set, bd, ct, strlen(ct), SIZE, &want), 0);

    char *body = malloc(want + 1);
    assert_non_null(body);
    size_t len = 0;
    for (unsigned k = 0; k < set.count; k++) {
        char h[DP_MULTIPART_HEADER_SIZE(64)];
        int n = dp_multipart_part_header(h, sizeof(h), bd, ct, strlen(ct),
                                         &set.r[k], SIZE, k == 0);
        assert_true(n > 0);
        assert_true(len + (size_t)n <= want);
        memcpy(body + len, h, (size_t)n);
        len += (size_t)n;
        uint64_t part = dp_byte_range_length(&set.r[k]);
        assert_true(len + part <= want);
        memcpy(body + len, file + set.r[k].first, part);
        len += part;
    }
    char t[DP_MULTIPART_TRAILER_SIZE];
    int n = dp_multipart_trailer(t, sizeof(t), bd);
    assert_true(len + (size_t)n == want);
    memcpy(body + len, t, (size_t)n);
    len += (size_t)n;
    assert_int_equal(len, want);
    body[len] = '\0';
    /* spot checks of the framing */
    assert_memory_equal(body, "--", 2);
    assert_memory_equal(body + 2, bd, DP_BOUNDARY_LEN);
    assert_non_null(strstr(body, "Content-Range: bytes 19700-19999/20000"));
    assert_non_null(strstr(body, "Content-Range: bytes 100-199/20000\r\n"
                                 "\r\nwxyz"));
    free(body);
    free(file);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_examples),
        cmocka_unit_test(test_boundaries),
        cmocka_unit_test(test_huge_numbers),
        cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_coalesce),
        cmocka_unit_test(test_content_range_text),
        cmocka_unit_test(test_boundary),
        cmocka_unit_test(test_multipart_framing),
        cmocka_unit_test(test_multipart_assembled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
