/* Unit tests: dp_log, a log line in one write to stderr. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Run dp_log_line's calls in f with stderr on a temporary file; what was
 * written, NUL-terminated, into out. */
static size_t
captured(void (*f)(void), char *out, size_t size)
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fileno(tmp), 2), 2);
    f();
    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(out, 1, size - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return n;
}

static void
short_lines(void)
{
    dp_log_line("conn %d %s: %s", 7, "127.0.0.1:80", "closed");
    dp_log_line("x");
}

static void
test_short(void **state)
{
    (void)state;
    char out[256];
    size_t n = captured(short_lines, out, sizeof(out));
    assert_int_equal(n, strlen("conn 7 127.0.0.1:80: closed\nx\n"));
    assert_string_equal(out, "conn 7 127.0.0.1:80: closed\nx\n");
}

static void
long_line(void)
{
    static char big[3000];
    memset(big, 'a', sizeof(big) - 1);
    dp_log_line("<%s>", big);
}

static void
test_cut(void **state)
{
    (void)state;
    static char out[4096];
    size_t n = captured(long_line, out, sizeof(out));
    /* 1022 bytes of the line, then the newline */
    assert_int_equal(n, 1023);
    assert_int_equal(out[0], '<');
    assert_int_equal(out[1021], 'a');
    assert_int_equal(out[1022], '\n');
}

static void
exact_line(void)
{
    static char line[1023];
    memset(line, 'b', 1022);
    line[1022] = '\0';
    dp_log_line("%s", line);         /* 1022: just fits */
}

static void
test_exact(void **state)
{
    (void)state;
    static char out[4096];
    size_t n = captured(exact_line, out, sizeof(out));
    assert_int_equal(n, 1023);
    assert_int_equal(out[1021], 'b');
    assert_int_equal(out[1022], '\n');
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short),
        cmocka_unit_test(test_cut),
        cmocka_unit_test(test_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
