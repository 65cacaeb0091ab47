/* Unit tests: dp_ratelog, the control servers' log limiters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_ratelog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
test_allow(void **state)
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

/* What was written to f since the last call, NUL-terminated in buf. */
static const char *
drain(FILE *f, char *buf, size_t size)
{
    long end = ftell(f);
    assert_true(end >= 0 && (size_t)end < size);
    rewind(f);
    size_t n = fread(buf, 1, (size_t)end, f);
    assert_int_equal(n, (size_t)end);
    buf[n] = '\0';
    rewind(f);
    assert_int_equal(ftruncate(fileno(f), 0), 0);
    return buf;
}

static void
print_at(struct dp_ratelog *r, uint64_t now, FILE *f, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
print_at(struct dp_ratelog *r, uint64_t now, FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dp_ratelog_vprintf(r, now, f, fmt, ap);
    va_end(ap);
    fflush(f);
}

static void
test_vprintf(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    char buf[2048];
    struct dp_ratelog r;
    memset(&r, 0, sizeof(r));

    print_at(&r, 10, f, "dropped %d from %s", 1, "uid 0");
    assert_string_equal(drain(f, buf, sizeof(buf)),
                        "portierd: control: dropped 1 from uid 0\n");
    print_at(&r, 20, f, "dropped %d", 2);
    print_at(&r, 30, f, "dropped %d", 3);
    assert_string_equal(drain(f, buf, sizeof(buf)), "");
    print_at(&r, 1010, f, "dropped %d", 4);
    assert_string_equal(drain(f, buf, sizeof(buf)),
                        "portierd: control: dropped 4 (2 similar lines "
                        "suppressed)\n");

    /* A long message is cut to DP_RATELOG_LINE_MAX - 1 bytes. */
    char *big = malloc(1000);
    assert_non_null(big);
    memset(big, 'x', 999);
    big[999] = '\0';
    print_at(&r, 5000, f, "%s", big);
    const char *out = drain(f, buf, sizeof(buf));
    assert_int_equal(strlen(out), strlen("portierd: control: ") +
                                      DP_RATELOG_LINE_MAX - 1 + 1);
    assert_int_equal(out[strlen(out) - 1], '\n');
    free(big);
    fclose(f);
}

static void
test_once(void **state)
{
    (void)state;
    FILE *f = tmpfile();
    assert_non_null(f);
    char buf[256];
    struct dp_ratelog_once *o = calloc(1, sizeof(*o));
    assert_non_null(o);

    assert_true(dp_ratelog_once(o, 7, f, "unknown command 7"));
    fflush(f);
    assert_string_equal(drain(f, buf, sizeof(buf)),
                        "portierd: control: unknown command 7 (logged once)\n");
    assert_false(dp_ratelog_once(o, 7, f, "unknown command 7"));
    fflush(f);
    assert_string_equal(drain(f, buf, sizeof(buf)), "");
    /* Neighbours in the same byte, and the ends of the range, are apart. */
    assert_true(dp_ratelog_once(o, 6, f, "six"));
    assert_true(dp_ratelog_once(o, 0, f, "zero"));
    assert_true(dp_ratelog_once(o, 65535, f, "last"));
    assert_false(dp_ratelog_once(o, 65535, f, "last"));
    assert_false(dp_ratelog_once(o, 0, f, "zero"));
    fflush(f);
    assert_string_equal(drain(f, buf, sizeof(buf)),
                        "portierd: control: six (logged once)\n"
                        "portierd: control: zero (logged once)\n"
                        "portierd: control: last (logged once)\n");
    free(o);
    fclose(f);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allow),
        cmocka_unit_test(test_vprintf),
        cmocka_unit_test(test_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
