/* Unit tests: dp_body (the body-source contract, memory and file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_body.h"
#include "dp_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A consumer that takes at most `limit` bytes per data() call. */
struct sink {
    uint8_t got[300000];
    size_t len;
    size_t limit;
    int eofs, errors, err;
    char msg[300];
};

static size_t
sink_data(void *ctx, const uint8_t *data, size_t len)
{
    struct sink *s = ctx;
    size_t take = len < s->limit ? len : s->limit;
    assert_true(s->len + take <= sizeof(s->got));
    memcpy(s->got + s->len, data, take);
    s->len += take;
    return take;
}

static void
sink_eof(void *ctx)
{
    ((struct sink *)ctx)->eofs++;
}

static void
sink_error(void *ctx, int err, const char *msg)
{
    struct sink *s = ctx;
    s->errors++;
    s->err = err;
    snprintf(s->msg, sizeof(s->msg), "%s", msg);
}

static const struct dp_body_handler sink_handler = {
    sink_data, sink_eof, sink_error,
};

/* Read until eof/error, one dp_body_read() per round; returns rounds. */
static int
drain(struct dp_body *body, struct sink *s)
{
    int rounds = 0;
    while (s->eofs == 0 && s->errors == 0) {
        dp_body_read(body);
        assert_true(++rounds < 100000);
    }
    return rounds;
}

static void
test_memory_backpressure(void **state)
{
    (void)state;
    struct dp_pool *pool = dp_pool_new(0);
    static struct sink s;
    memset(&s, 0, sizeof(s));
    s.limit = 3;
    struct dp_body *b = dp_body_new_memory(pool, "hello world", 11);
    assert_int_equal(b->length, 11);
    dp_body_set_handler(b, &sink_handler, &s);
    dp_body_read(b);
    assert_int_equal(s.len, 3);
    assert_int_equal(b->length, 8);
    assert_int_equal(s.eofs, 0);
    int rounds = drain(b, &s);
    assert_int_equal(rounds, 3);     /* 3+3+2 then eof in the last */
    assert_memory_equal(s.got, "hello world", 11);
    assert_int_equal(s.eofs, 1);
    dp_body_read(b);                 /* after eof: nothing more */
    assert_int_equal(s.eofs, 1);

    memset(&s, 0, sizeof(s));
    s.limit = 100;
    b = dp_body_new_memory(pool, "", 0);
    dp_body_set_handler(b, &sink_handler, &s);
    dp_body_read(b);
    assert_int_equal(s.eofs, 1);
    assert_int_equal(s.len, 0);

    memset(&s, 0, sizeof(s));
    b = dp_body_new_memory(pool, "abc", 3);
    dp_body_set_handler(b, &sink_handler, &s);
    dp_body_close(b);
    dp_body_read(b);
    assert_int_equal(s.len + (size_t)s.eofs, 0);
    dp_pool_free(pool);
}

static int
temp_file(const uint8_t *data, size_t len, char *path)
{
    strcpy(path, "/tmp/portier-test-body-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    return fd;
}

static bool
fd_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

static void
test_file_read_with_backpressure(void **state)
{
    (void)state;
    static uint8_t data[200000];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7 + i / 256);
    char path[64];
    int fd = temp_file(data, sizeof(data), path);

    struct dp_pool *pool = dp_pool_new(0);
    static struct sink s;
    memset(&s, 0, sizeof(s));
    s.limit = 50000;
    /* a region in the middle */
    struct dp_body *b = dp_body_new_file(pool, fd, 1000, 150000, path);
    dp_body_set_handler(b, &sink_handler, &s);
    drain(b, &s);
    assert_int_equal(s.eofs, 1);
    assert_int_equal(s.len, 150000);
    assert_memory_equal(s.got, data + 1000, 150000);
    assert_false(fd_open(fd));       /* released at eof */
    dp_pool_free(pool);
    unlink(path);
}

static void
test_file_fast_path(void **state)
{
    (void)state;
    char path[64];
    int fd = temp_file((const uint8_t *)"0123456789", 10, path);
    struct dp_pool *pool = dp_pool_new(0);
    struct dp_body *b = dp_body_new_file(pool, fd, 2, 8, path);
    struct dp_body_file region;
    assert_true(dp_body_file(b, &region));
    assert_int_equal(region.fd, fd);
    assert_int_equal(region.offset, 2);
    assert_int_equal(region.length, 8);
    dp_body_file_advance(b, 5);
    assert_true(dp_body_file(b, &region));
    assert_int_equal(region.offset, 7);
    assert_int_equal(region.length, 3);
    assert_int_equal(b->length, 3);

    /* switching to reads continues where the consumer stopped */
    static struct sink s;
    memset(&s, 0, sizeof(s));
    s.limit = 100;
    dp_body_set_handler(b, &sink_handler, &s);
    drain(b, &s);
    assert_int_equal(s.len, 3);
    assert_memory_equal(s.got, "789", 3);
    assert_false(dp_body_file(b, &region));
    dp_pool_free(pool);
    unlink(path);
}

static void
test_file_close_and_pool_cleanup_release_fd(void **state)
{
    (void)state;
    char path[64];
    int fd = temp_file((const uint8_t *)"abc", 3, path);
    struct dp_pool *pool = dp_pool_new(0);
    struct dp_body *b = dp_body_new_file(pool, fd, 0, 3, path);
    dp_body_close(b);
    assert_false(fd_open(fd));
    dp_pool_free(pool);              /* cleanup after close: harmless */

    fd = open(path, O_RDONLY);
    pool = dp_pool_new(0);
    dp_body_new_file(pool, fd, 0, 3, path);
    assert_true(fd_open(fd));
    dp_pool_free(pool);              /* never read: the pool closes it */
    assert_false(fd_open(fd));
    unlink(path);
}

static void
test_file_shrank(void **state)
{
    (void)state;
    char path[64];
    int fd = temp_file((const uint8_t *)"abcdef", 6, path);
    struct dp_pool *pool = dp_pool_new(0);
    static struct sink s;
    memset(&s, 0, sizeof(s));
    s.limit = 100;
    struct dp_body *b = dp_body_new_file(pool, fd, 0, 10, path);
    dp_body_set_handler(b, &sink_handler, &s);
    drain(b, &s);
    assert_int_equal(s.len, 6);
    assert_int_equal(s.errors, 1);
    assert_int_equal(s.err, EIO);
    assert_non_null(strstr(s.msg, "file shrank while reading"));
    assert_non_null(strstr(s.msg, path));
    assert_false(fd_open(fd));
    dp_pool_free(pool);
    unlink(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_backpressure),
        cmocka_unit_test(test_file_read_with_backpressure),
        cmocka_unit_test(test_file_fast_path),
        cmocka_unit_test(test_file_close_and_pool_cleanup_release_fd),
        cmocka_unit_test(test_file_shrank),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
