/* Unit tests: dp_fcache (open-file cache). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_fcache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[64];

static int
setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/portier-test-fcache-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof(path), "%s/small", dir);
    FILE *f = fopen(path, "w");
    fputs("small file", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/big", dir);
    f = fopen(path, "w");
    for (int i = 0; i < 20000; i++)
        fputc('x', f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/sub", dir);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/sub/escape", dir);
    assert_int_equal(symlink("../small", path), 0);
    snprintf(path, sizeof(path), "%s/sub/out", dir);
    assert_int_equal(symlink("/etc/hostname", path), 0);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    dp_fcache_configure(0, 0);
    return 0;
}

static const char *
in_dir(const char *name)
{
    static char buf[4][128];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
    return buf[i];
}

static void
test_hits_and_small_data(void **state)
{
    (void)state;
    dp_fcache_configure(16, 60000);
    struct dp_pool *pool = dp_pool_new(0);
    const struct dp_fcache_file *a, *b;
    assert_int_equal(dp_fcache_open(pool, in_dir("small"), NULL, &a), 0);
    assert_int_equal(a->st.st_size, 10);
    assert_non_null(a->data);
    assert_memory_equal(a->data, "small file", 10);
    assert_int_equal(dp_fcache_open(pool, in_dir("small"), NULL, &b), 0);
    assert_ptr_equal(a, b);                 /* the same entry */
    assert_int_equal(dp_fcache_open(pool, in_dir("big"), NULL, &b), 0);
    assert_null(b->data);                   /* over the small-file size */
    assert_true(b->fd >= 0);
    struct dp_fcache_stats st;
    dp_fcache_get_stats(&st);
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.hits, 1);
    assert_int_equal(st.misses, 2);
    assert_int_equal(dp_fcache_open(pool, in_dir("none"), NULL, &b),
                     -ENOENT);
    /* the miss is remembered: a hit now, until the entry expires */
    assert_int_equal(dp_fcache_open(pool, in_dir("none"), NULL, &b),
                     -ENOENT);
    dp_fcache_get_stats(&st);
    assert_int_equal(st.hits, 2);
    assert_int_equal(dp_fcache_open(pool, in_dir("small/x"), NULL, &b),
                     -ENOTDIR);
    dp_pool_free(pool);
}

static void
test_expiry_and_eviction_keep_fds_in_use(void **state)
{
    (void)state;
    dp_fcache_configure(1, 0);          /* one entry, always stale */
    struct dp_pool *pool = dp_pool_new(0);
    const struct dp_fcache_file *a, *b;
    assert_int_equal(dp_fcache_open(pool, in_dir("small"), NULL, &a), 0);
    int fd = a->fd;
    assert_int_equal(dp_fcache_open(pool, in_dir("big"), NULL, &b), 0);
    /* evicted, but still in use by the pool: open */
    assert_true(fcntl(fd, F_GETFD) != -1);
    assert_int_equal(dp_fcache_open(pool, in_dir("small"), NULL, &b), 0);
    assert_ptr_not_equal(a, b);         /* stale: reopened */
    dp_pool_free(pool);
    assert_int_equal(fcntl(fd, F_GETFD), -1);

    dp_fcache_configure(0, 0);          /* off: open and close per use */
    pool = dp_pool_new(0);
    assert_int_equal(dp_fcache_open(pool, in_dir("small"), NULL, &a), 0);
    assert_null(a->data);
    fd = a->fd;
    dp_pool_free(pool);
    assert_int_equal(fcntl(fd, F_GETFD), -1);
}

static void
test_beneath(void **state)
{
    (void)state;
    dp_fcache_configure(16, 60000);
    struct dp_pool *pool = dp_pool_new(0);
    const struct dp_fcache_file *f;
    const char *sub = in_dir("sub");
    char beneath_sub[160];
    snprintf(beneath_sub, sizeof(beneath_sub), "%s/", sub);
    assert_int_equal(dp_fcache_open(pool, in_dir("sub/escape"), sub, &f),
                     -EXDEV);
    assert_int_equal(dp_fcache_open(pool, in_dir("sub/out"), beneath_sub,
                                    &f), -EXDEV);
    /* a path that is not below the directory at all */
    assert_int_equal(dp_fcache_open(pool, in_dir("small"), sub, &f),
                     -EXDEV);
    /* inside is fine, with and without BENEATH */
    assert_int_equal(dp_fcache_open(pool, in_dir("small"), dir, &f), 0);
    assert_int_equal(dp_fcache_open(pool, in_dir("sub/escape"), dir, &f),
                     0);
    assert_int_equal(dp_fcache_open(pool, in_dir("sub/escape"), NULL, &f),
                     0);
    dp_pool_free(pool);
}

/* The metadata kept with an entry is what a request would build, and a
 * changed file gets new metadata once its entry is stale. */
static void
test_meta_kept_and_renewed(void **state)
{
    (void)state;
    dp_fcache_configure(16, 60000);
    const char *path = in_dir("meta");
    FILE *fp = fopen(path, "w");
    fputs("one", fp);
    fclose(fp);
    struct timespec old[2] = { { 1000000000, 0 }, { 1000000000, 0 } };
    assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);

    struct dp_pool *pool = dp_pool_new(0);
    const struct dp_fcache_file *a, *b;
    assert_int_equal(dp_fcache_open(pool, path, NULL, &a), 0);
    assert_non_null(a->meta);
    struct dp_file_meta want;
    dp_file_meta_build(&want, &a->st, &a->xattrs, NULL, 0, time(NULL));
    assert_string_equal(a->meta->etag, want.etag);
    assert_true(a->meta->has_last_modified);
    assert_int_equal(a->meta->last_modified, 1000000000);
    assert_string_equal(a->meta->last_modified_text,
                        "Sun, 09 Sep 2001 01:46:40 GMT");
    assert_int_equal(a->meta->content_type_len,
                     strlen(DP_DEFAULT_CONTENT_TYPE));
    assert_int_equal(a->meta->size, 3);

    /* the translation's type goes on top of a copy */
    struct dp_file_meta m = *a->meta;
    dp_file_meta_set_content_type(&m, &a->xattrs, "text/plain", 10);
    assert_memory_equal(m.content_type, "text/plain", 10);
    dp_file_meta_set_content_type(&m, &a->xattrs, "bad\ntype", 8);
    assert_int_equal(m.content_type_len, strlen(DP_DEFAULT_CONTENT_TYPE));

    /* changed on disk: the same entry until it is stale */
    fp = fopen(path, "w");
    fputs("second", fp);
    fclose(fp);
    struct timespec newer[2] = { { 1100000000, 0 }, { 1100000000, 5 } };
    assert_int_equal(utimensat(AT_FDCWD, path, newer, 0), 0);
    assert_int_equal(dp_fcache_open(pool, path, NULL, &b), 0);
    assert_ptr_equal(a, b);
    dp_fcache_configure(16, 0);         /* always stale from now on */
    assert_int_equal(dp_fcache_open(pool, path, NULL, &b), 0);
    assert_ptr_not_equal(a, b);
    assert_non_null(b->meta);
    assert_string_not_equal(b->meta->etag, want.etag);
    dp_file_meta_build(&want, &b->st, &b->xattrs, NULL, 0, time(NULL));
    assert_string_equal(b->meta->etag, want.etag);
    assert_int_equal(b->meta->last_modified, 1100000000);
    assert_int_equal(b->meta->size, 6);

    /* an mtime in the future: Last-Modified depends on the request's
     * time, nothing is kept */
    struct timespec future[2] = { { 0, UTIME_OMIT },
                                  { time(NULL) + 3600, 0 } };
    assert_int_equal(utimensat(AT_FDCWD, path, future, 0), 0);
    assert_int_equal(dp_fcache_open(pool, path, NULL, &b), 0);
    assert_null(b->meta);

    /* the cache off: nothing kept either */
    dp_fcache_configure(0, 0);
    assert_int_equal(dp_fcache_open(pool, path, NULL, &b), 0);
    assert_null(b->meta);
    dp_pool_free(pool);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hits_and_small_data),
        cmocka_unit_test(test_expiry_and_eviction_keep_fds_in_use),
        cmocka_unit_test(test_beneath),
        cmocka_unit_test(test_meta_kept_and_renewed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
