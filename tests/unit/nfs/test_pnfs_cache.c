/* Unit tests for nfs/pnfs_cache: the NFS attribute and small-file cache.
 * Time is a number the tests move by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pnfs_cache.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static struct pnfs_stat
file_stat(uint64_t ino, uint64_t size, int64_t mtime)
{
    struct pnfs_stat st = {
        .size = size, .ino = ino, .dev = 7, .mode = S_IFREG | 0644,
        .nlink = 1, .mtime_sec = mtime, .ctime_sec = mtime,
    };
    return st;
}

static void
test_attr_lifetime(void **state)
{
    struct pnfs_cache *c = pnfs_cache_new(1 << 20, PNFS_CACHE_ATTR_TTL_MS);
    struct pnfs_stat st = file_stat(11, 5, 1000), out;

    assert_int_equal(pnfs_cache_get_attr(c, "s", "/e", "/a", &out, 0),
                     -ENOENT);
    assert_int_equal(pnfs_cache_put_attr(c, "s", "/e", "/a", &st, 100), 0);
    assert_int_equal(pnfs_cache_get_attr(c, "s", "/e", "/a", &out, 100), 0);
    assert_int_equal(out.ino, 11);
    assert_int_equal(out.size, 5);
    /* Fresh until 1 s after the put, not a millisecond longer. */
    assert_int_equal(pnfs_cache_get_attr(c, "s", "/e", "/a", &out, 1099), 0);
    assert_int_equal(pnfs_cache_get_attr(c, "s", "/e", "/a", &out, 1100),
                     -ENOENT);
    /* The expired entry (no contents) is gone. */
    struct pnfs_cache_stats s;
    pnfs_cache_get_stats(c, &s);
    assert_int_equal(s.entries, 0);
    assert_int_equal(s.bytes, 0);
    assert_int_equal(s.attr_hits, 2);
    assert_int_equal(s.attr_misses, 2);
    pnfs_cache_free(c);
}

static void
test_keys_are_distinct(void **state)
{
    struct pnfs_cache *c = pnfs_cache_new(1 << 20, 1000);
    struct pnfs_stat a = file_stat(1, 1, 1), b = file_stat(2, 2, 2), out;

    /* "s" + "/e/x" + "/y" must not collide with "s" + "/e" + "/x/y". */
    assert_int_equal(pnfs_cache_put_attr(c, "s", "/e/x", "/y", &a, 0), 0);
    assert_int_equal(pnfs_cache_put_attr(c, "s", "/e", "/x/y", &b, 0), 0);
    assert_int_equal(pnfs_cache_get_attr(c, "s", "/e/x", "/y", &out, 0), 0);
    assert_int_equal(out.ino, 1);
    assert_int_equal(pnfs_cache_get_attr(c, "s", "/e", "/x/y", &out, 0), 0);
    assert_int_equal(out.ino, 2);
    assert_int_equal(pnfs_cache_get_attr(c, "t", "/e", "/x/y", &out, 0),
                     -ENOENT);
    pnfs_cache_free(c);
}

static void
test_data_validated_by_attributes(void **state)
{
    struct pnfs_cache *c = pnfs_cache_new(1 << 20, 1000);
    struct pnfs_stat st = file_stat(3, 5, 50);

    assert_null(pnfs_cache_get_data(c, "s", "/e", "/f", &st));
    assert_int_equal(pnfs_cache_put_data(c, "s", "/e", "/f", &st, "hello", 5,
                                         0), 0);
    struct pnfs_blob *b = pnfs_cache_get_data(c, "s", "/e", "/f", &st);
    assert_non_null(b);
    assert_int_equal(pnfs_blob_size(b), 5);
    assert_memory_equal(pnfs_blob_data(b), "hello", 5);

    /* Contents outlive the attributes' lifetime: the caller revalidates
     * with fresh attributes of the same version and still hits. */
    struct pnfs_stat out;
    assert_int_equal(pnfs_cache_get_attr(c, "s", "/e", "/f", &out, 5000),
                     -ENOENT);
    struct pnfs_blob *b2 = pnfs_cache_get_data(c, "s", "/e", "/f", &st);
    assert_ptr_equal(b2, b);
    pnfs_blob_unref(b2);
    /* Storing the same version's attributes keeps the contents. */
    assert_int_equal(pnfs_cache_put_attr(c, "s", "/e", "/f", &st, 6000), 0);
    b2 = pnfs_cache_get_data(c, "s", "/e", "/f", &st);
    assert_ptr_equal(b2, b);
    pnfs_blob_unref(b2);

    /* A newer mtime: a miss, and the stale bytes are dropped. */
    struct pnfs_stat changed = st;
    changed.mtime_nsec = 1;
    assert_null(pnfs_cache_get_data(c, "s", "/e", "/f", &changed));
    assert_null(pnfs_cache_get_data(c, "s", "/e", "/f", &st));
    /* The reference handed out earlier is still valid. */
    assert_memory_equal(pnfs_blob_data(b), "hello", 5);
    pnfs_blob_unref(b);

    /* New attributes for another version drop stored contents. */
    assert_int_equal(pnfs_cache_put_data(c, "s", "/e", "/f", &st, "hello", 5,
                                         0), 0);
    struct pnfs_stat other = file_stat(4, 5, 50);
    assert_int_equal(pnfs_cache_put_attr(c, "s", "/e", "/f", &other, 0), 0);
    assert_null(pnfs_cache_get_data(c, "s", "/e", "/f", &st));
    pnfs_cache_free(c);
}

static void
test_data_limits(void **state)
{
    struct pnfs_cache *c = pnfs_cache_new(1 << 20, 1000);
    static char big[PNFS_CACHE_MAX_FILE + 1];
    struct pnfs_stat st = file_stat(1, sizeof(big), 1);

    assert_int_equal(pnfs_cache_put_data(c, "s", "/e", "/big", &st, big,
                                         sizeof(big), 0), -EINVAL);
    st.size = PNFS_CACHE_MAX_FILE;
    assert_int_equal(pnfs_cache_put_data(c, "s", "/e", "/big", &st, big,
                                         PNFS_CACHE_MAX_FILE, 0), 0);
    /* Length must match the attributes; directories are not cached. */
    assert_int_equal(pnfs_cache_put_data(c, "s", "/e", "/x", &st, big, 10, 0),
                     -EINVAL);
    struct pnfs_stat dir = file_stat(2, 10, 1);
    dir.mode = S_IFDIR | 0755;
    assert_int_equal(pnfs_cache_put_data(c, "s", "/e", "/d", &dir, big, 10,
                                         0), -EINVAL);
    /* Empty files are cached too. */
    struct pnfs_stat empty = file_stat(3, 0, 1);
    assert_int_equal(pnfs_cache_put_data(c, "s", "/e", "/empty", &empty,
                                         NULL, 0, 0), 0);
    struct pnfs_blob *b = pnfs_cache_get_data(c, "s", "/e", "/empty", &empty);
    assert_non_null(b);
    assert_int_equal(pnfs_blob_size(b), 0);
    pnfs_blob_unref(b);
    pnfs_cache_free(c);
}

static void
test_lru_under_byte_limit(void **state)
{
    /* Room for about three 10 KiB files. */
    const size_t limit = 3 * 10240 + 1024;
    struct pnfs_cache *c = pnfs_cache_new(limit, 1000);
    static char data[10240];
    struct pnfs_stat st[5];
    char path[16];
    struct pnfs_cache_stats s;

    for (int i = 0; i < 5; i++) {
        st[i] = file_stat((uint64_t)i + 1, sizeof(data), 1);
        memset(data, 'a' + i, sizeof(data));
        snprintf(path, sizeof(path), "/f%d", i);
        assert_int_equal(pnfs_cache_put_data(c, "s", "/e", path, &st[i],
                                             data, sizeof(data), 0), 0);
        pnfs_cache_get_stats(c, &s);
        assert_true(s.bytes <= limit);
        if (i == 2) {
            /* Touch /f0 so that /f1 is the least recently used. */
            struct pnfs_blob *b = pnfs_cache_get_data(c, "s", "/e", "/f0",
                                                      &st[0]);
            assert_non_null(b);
            pnfs_blob_unref(b);
        }
    }
    pnfs_cache_get_stats(c, &s);
    assert_int_equal(s.entries, 3);
    assert_int_equal(s.evictions, 2);
    struct pnfs_blob *b;
    assert_null(pnfs_cache_get_data(c, "s", "/e", "/f1", &st[1]));
    assert_null(pnfs_cache_get_data(c, "s", "/e", "/f2", &st[2]));
    assert_non_null(b = pnfs_cache_get_data(c, "s", "/e", "/f0", &st[0]));
    assert_int_equal(pnfs_blob_data(b)[0], 'a');
    pnfs_blob_unref(b);
    assert_non_null(b = pnfs_cache_get_data(c, "s", "/e", "/f4", &st[4]));
    assert_int_equal(pnfs_blob_data(b)[100], 'e');
    pnfs_blob_unref(b);

    /* An entry larger than the whole cache is refused. */
    struct pnfs_cache *tiny = pnfs_cache_new(1000, 1000);
    struct pnfs_stat one = file_stat(9, sizeof(data), 1);
    assert_int_equal(pnfs_cache_put_data(tiny, "s", "/e", "/x", &one, data,
                                         sizeof(data), 0), -E2BIG);
    pnfs_cache_get_stats(tiny, &s);
    assert_int_equal(s.entries, 0);
    pnfs_cache_free(tiny);
    pnfs_cache_free(c);
}

static void
test_many_entries_and_flush(void **state)
{
    struct pnfs_cache *c = pnfs_cache_new(64 << 20, 1000);
    char path[32];
    struct pnfs_stat out;

    for (int i = 0; i < 5000; i++) {
        struct pnfs_stat st = file_stat((uint64_t)i, (uint64_t)i, i);
        snprintf(path, sizeof(path), "/dir/%d", i);
        assert_int_equal(pnfs_cache_put_attr(c, "srv", "/x", path, &st, 0),
                         0);
    }
    for (int i = 0; i < 5000; i += 7) {
        snprintf(path, sizeof(path), "/dir/%d", i);
        assert_int_equal(pnfs_cache_get_attr(c, "srv", "/x", path, &out, 1),
                         0);
        assert_int_equal(out.ino, (uint64_t)i);
    }
    struct pnfs_stat st = file_stat(1, 3, 1);
    assert_int_equal(pnfs_cache_put_data(c, "srv", "/x", "/d", &st, "abc", 3,
                                         0), 0);
    struct pnfs_blob *held = pnfs_cache_get_data(c, "srv", "/x", "/d", &st);
    assert_non_null(held);

    pnfs_cache_flush(c);
    struct pnfs_cache_stats s;
    pnfs_cache_get_stats(c, &s);
    assert_int_equal(s.entries, 0);
    assert_int_equal(s.bytes, 0);
    assert_int_equal(pnfs_cache_get_attr(c, "srv", "/x", "/dir/7", &out, 1),
                     -ENOENT);
    assert_null(pnfs_cache_get_data(c, "srv", "/x", "/d", &st));
    /* A blob held across the flush and the free stays readable. */
    pnfs_cache_free(c);
    assert_memory_equal(pnfs_blob_data(held), "abc", 3);
    pnfs_blob_unref(held);
}

static void
test_disabled(void **state)
{
    struct pnfs_cache *c = pnfs_cache_new(0, 1000);
    struct pnfs_stat st = file_stat(1, 3, 1), out;
    assert_int_equal(pnfs_cache_put_attr(c, "s", "/e", "/a", &st, 0), 0);
    assert_int_equal(pnfs_cache_put_data(c, "s", "/e", "/a", &st, "abc", 3,
                                         0), 0);
    assert_int_equal(pnfs_cache_get_attr(c, "s", "/e", "/a", &out, 0),
                     -ENOENT);
    assert_null(pnfs_cache_get_data(c, "s", "/e", "/a", &st));
    pnfs_cache_free(c);
    pnfs_cache_free(NULL);
    pnfs_blob_unref(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attr_lifetime),
        cmocka_unit_test(test_keys_are_distinct),
        cmocka_unit_test(test_data_validated_by_attributes),
        cmocka_unit_test(test_data_limits),
        cmocka_unit_test(test_lru_under_byte_limit),
        cmocka_unit_test(test_many_entries_and_flush),
        cmocka_unit_test(test_disabled),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
