/* Unit tests for dataplane/dp_file_meta: xattr value validation, the
 * stat ETag format, Last-Modified, Content-Type precedence, max-age, and
 * dp_file_xattrs_read() on a real temporary file.  Where the temporary
 * directory refuses user xattrs, those cases are left out of the plan and
 * a "# SKIP" comment names the reason: cmocka 1.1 reports skip() as
 * "not ok ... # SKIP", which meson counts as a failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_file_meta.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

static int
etag(const char *raw, char out[DP_ETAG_SIZE])
{
    size_t n = 9999;
    memset(out, 'z', DP_ETAG_SIZE);
    int r = dp_xattr_etag(raw, strlen(raw), out, &n);
    if (r == 0)
        assert_int_equal(n, strlen(out));
    return r;
}

static void
test_xattr_etag(void **state)
{
    char out[DP_ETAG_SIZE];
    /* beng-proxy stores the bare tag; we quote it */
    assert_int_equal(etag("abc123", out), 0);
    assert_string_equal(out, "\"abc123\"");
    /* complete entity-tags are sent as they are */
    assert_int_equal(etag("\"abc\"", out), 0);
    assert_string_equal(out, "\"abc\"");
    assert_int_equal(etag("W/\"abc\"", out), 0);
    assert_string_equal(out, "W/\"abc\"");
    assert_int_equal(etag("W/abc", out), 0);
    assert_string_equal(out, "\"W/abc\"");
    assert_int_equal(etag("\"\"", out), 0);
    assert_string_equal(out, "\"\"");
    assert_int_equal(etag("\xc3\xa9t\xc3\xa9", out), 0);
    /* invalid: empty, spaces, a stray quote, controls, trailing newline */
    assert_int_equal(etag("", out), -1);
    assert_int_equal(etag("a b", out), -1);
    assert_int_equal(etag("a\"b", out), -1);
    assert_int_equal(etag("\"abc", out), -1);
    assert_int_equal(etag("\"abc\"x", out), -1);
    assert_int_equal(etag("abc\n", out), -1);
    assert_int_equal(etag("a\tb", out), -1);
    assert_int_equal(etag("a\x7f", out), -1);
    size_t n;
    assert_int_equal(dp_xattr_etag("abc\0", 4, out, &n), -1);
    assert_int_equal(dp_xattr_etag(NULL, 0, out, &n), -1);
    /* length limits, both shapes */
    char big[DP_ETAG_MAX + 8];
    memset(big, 'a', sizeof(big));
    assert_int_equal(dp_xattr_etag(big, DP_ETAG_MAX, out, &n), 0);
    assert_int_equal(n, DP_ETAG_MAX + 2);
    assert_int_equal(dp_xattr_etag(big, DP_ETAG_MAX + 1, out, &n), -1);
    big[0] = 'W';
    big[1] = '/';
    big[2] = '"';
    big[DP_ETAG_MAX + 3] = '"';
    assert_int_equal(dp_xattr_etag(big, DP_ETAG_MAX + 4, out, &n), 0);
    assert_int_equal(n, DP_ETAG_MAX + 4);
    assert_int_equal(out[DP_ETAG_MAX + 4], '\0');
    big[DP_ETAG_MAX + 3] = 'a';
    big[DP_ETAG_MAX + 4] = '"';
    assert_int_equal(dp_xattr_etag(big, DP_ETAG_MAX + 5, out, &n), -1);
}

static bool
mt(const char *s)
{
    return dp_media_type_valid(s, strlen(s));
}

static void
test_media_type(void **state)
{
    assert_true(mt("text/html"));
    /* the beng-proxy manual's example */
    assert_true(mt("text/html; charset=utf8"));
    /* RFC 9110 §8.3.1: equivalent spellings */
    assert_true(mt("text/html;charset=utf-8"));
    assert_true(mt("text/html;charset=UTF-8"));
    assert_true(mt("Text/HTML;Charset=\"utf-8\""));
    assert_true(mt("text/html; charset=\"utf-8\""));
    assert_true(mt("application/vnd.api+json"));
    assert_true(mt("multipart/form-data; boundary=\"a b\\\"c\""));
    assert_true(mt("text/plain;"));
    assert_true(mt("text/plain; ;a=b"));
    assert_true(mt("text/plain\t;\ta=b ; c=d"));

    assert_false(mt(""));
    assert_false(mt("text"));
    assert_false(mt("text/"));
    assert_false(mt("/html"));
    assert_false(mt("text /html"));
    assert_false(mt("text/ html"));
    assert_false(mt("text/html "));
    assert_false(mt("text/html\n"));
    assert_false(mt("text/html\r\nX-Evil: 1"));
    assert_false(mt("text/html; charset"));
    assert_false(mt("text/html; charset="));
    assert_false(mt("text/html; charset =utf-8"));
    assert_false(mt("text/html; charset= utf-8"));
    assert_false(mt("text/html; charset=\"utf-8"));
    assert_false(mt("text/html; charset=\"a\nb\""));
    assert_false(mt("text/html, text/plain"));
    assert_false(mt("text/html/x"));
    assert_false(dp_media_type_valid("text/html\0", 10));
    assert_false(dp_media_type_valid(NULL, 0));
    char big[DP_CONTENT_TYPE_MAX + 2];
    memset(big, 'a', sizeof(big));
    big[4] = '/';
    assert_true(dp_media_type_valid(big, DP_CONTENT_TYPE_MAX));
    assert_false(dp_media_type_valid(big, DP_CONTENT_TYPE_MAX + 1));
}

static int
max_age(const char *s, uint32_t *v)
{
    *v = 7;
    return dp_xattr_max_age(s, strlen(s), v);
}

static void
test_max_age(void **state)
{
    uint32_t v;
    assert_int_equal(max_age("3600", &v), 0);
    assert_int_equal(v, 3600);
    assert_int_equal(max_age("1", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(max_age("0003600", &v), 0);
    assert_int_equal(v, 3600);
    assert_int_equal(max_age("31536000", &v), 0);
    assert_int_equal(v, 31536000);
    /* clamped to one year */
    assert_int_equal(max_age("31536001", &v), 0);
    assert_int_equal(v, DP_MAX_AGE_LIMIT);
    assert_int_equal(max_age("99999999999999999999999999", &v), 0);
    assert_int_equal(v, DP_MAX_AGE_LIMIT);
    /* zero means none; no sign, no space, no unit */
    assert_int_equal(max_age("0", &v), -1);
    assert_int_equal(max_age("000", &v), -1);
    assert_int_equal(v, 7);
    assert_int_equal(max_age("", &v), -1);
    assert_int_equal(max_age("-1", &v), -1);
    assert_int_equal(max_age("+1", &v), -1);
    assert_int_equal(max_age(" 1", &v), -1);
    assert_int_equal(max_age("1\n", &v), -1);
    assert_int_equal(max_age("1s", &v), -1);
    assert_int_equal(max_age("0x10", &v), -1);
    assert_int_equal(dp_xattr_max_age("12\0", 3, &v), -1);
}

static struct stat
make_stat(void)
{
    struct stat st;
    memset(&st, 0, sizeof(st));
    st.st_dev = 0x803;
    st.st_ino = 0x1234;
    st.st_size = 1000;
    st.st_mtim.tv_sec = 784111777;
    st.st_mtim.tv_nsec = 500000000;
    st.st_mode = S_IFREG | 0644;
    return st;
}

#define NOW ((time_t)784111777 + 86400)

static void
test_meta_from_stat(void **state)
{
    struct stat st = make_stat();
    struct dp_file_meta m;
    dp_file_meta_build(&m, &st, NULL, NULL, 0, NOW);
    assert_string_equal(m.etag, "\"803-1234-3e8-2ebc98a1-1dcd6500\"");
    assert_int_equal(m.etag_len, strlen(m.etag));
    assert_false(m.etag_weak);
    assert_true(dp_etag_valid(m.etag, m.etag_len));
    assert_true(m.has_last_modified);
    assert_int_equal(m.last_modified, 784111777);
    assert_string_equal(m.last_modified_text,
                        "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_int_equal(m.content_type_len, 24);
    assert_memory_equal(m.content_type, "application/octet-stream", 24);
    assert_false(m.has_max_age);
    assert_int_equal(m.size, 1000);
    char cc[DP_CACHE_CONTROL_SIZE];
    assert_int_equal(dp_file_meta_cache_control(&m, cc, sizeof(cc)), -1);

    /* zeros and the largest values */
    st.st_dev = 0;
    st.st_ino = 0;
    st.st_size = 0;
    st.st_mtim.tv_sec = 0;
    st.st_mtim.tv_nsec = 0;
    dp_file_meta_build(&m, &st, NULL, NULL, 0, NOW);
    assert_string_equal(m.etag, "\"0-0-0-0-0\"");
    assert_string_equal(m.last_modified_text,
                        "Thu, 01 Jan 1970 00:00:00 GMT");
    st.st_dev = (dev_t)UINT64_MAX;
    st.st_ino = (ino_t)UINT64_MAX;
    st.st_size = INT64_MAX;
    st.st_mtim.tv_sec = -1;
    st.st_mtim.tv_nsec = 999999999;
    dp_file_meta_build(&m, &st, NULL, NULL, 0, NOW);
    assert_string_equal(m.etag, "\"ffffffffffffffff-ffffffffffffffff-"
                                "7fffffffffffffff-ffffffffffffffff-"
                                "3b9ac9ff\"");
    assert_string_equal(m.last_modified_text,
                        "Wed, 31 Dec 1969 23:59:59 GMT");

    /* each ingredient changes the tag */
    struct stat a = make_stat();
    char base[DP_ETAG_SIZE];
    dp_file_meta_build(&m, &a, NULL, NULL, 0, NOW);
    memcpy(base, m.etag, sizeof(base));
    for (int k = 0; k < 5; k++) {
        struct stat b = make_stat();
        if (k == 0)
            b.st_dev++;
        else if (k == 1)
            b.st_ino++;
        else if (k == 2)
            b.st_size++;
        else if (k == 3)
            b.st_mtim.tv_sec++;
        else
            b.st_mtim.tv_nsec++;
        dp_file_meta_build(&m, &b, NULL, NULL, 0, NOW);
        assert_string_not_equal(m.etag, base);
    }
}

static void
test_last_modified(void **state)
{
    struct stat st = make_stat();
    struct dp_file_meta m;
    /* an mtime in the future is replaced by now */
    dp_file_meta_build(&m, &st, NULL, NULL, 0, 784111777 - 10);
    assert_int_equal(m.last_modified, 784111777 - 10);
    assert_string_equal(m.last_modified_text,
                        "Sun, 06 Nov 1994 08:49:27 GMT");
    /* an mtime beyond year 9999: none at all (now is later still) */
    st.st_mtim.tv_sec = 253402300800LL;
    dp_file_meta_build(&m, &st, NULL, NULL, 0, 253402300900LL);
    assert_false(m.has_last_modified);
    struct dp_validators v;
    dp_file_meta_validators(&m, &v);
    assert_false(v.has_last_modified);
    assert_ptr_equal(v.etag, m.etag);
    assert_int_equal(v.etag_len, m.etag_len);
}

static void
test_meta_with_xattrs(void **state)
{
    struct stat st = make_stat();
    struct dp_file_xattrs x;
    memset(&x, 0, sizeof(x));
    x.has_content_type = true;
    snprintf(x.content_type, sizeof(x.content_type), "%s",
             "text/html; charset=utf8");
    x.content_type_len = strlen(x.content_type);
    x.has_etag = true;
    snprintf(x.etag, sizeof(x.etag), "%s", "W/\"v2\"");
    x.etag_len = 6;
    x.has_max_age = true;
    x.max_age = 600;

    struct dp_file_meta m;
    dp_file_meta_build(&m, &st, &x, NULL, 0, NOW);
    assert_string_equal(m.etag, "W/\"v2\"");
    assert_true(m.etag_weak);
    assert_int_equal(m.content_type_len, x.content_type_len);
    assert_ptr_equal(m.content_type, x.content_type);
    assert_true(m.has_max_age);
    char cc[DP_CACHE_CONTROL_SIZE];
    assert_int_equal(dp_file_meta_cache_control(&m, cc, sizeof(cc)), 11);
    assert_string_equal(cc, "max-age=600");
    assert_int_equal(dp_file_meta_cache_control(&m, cc, 11), -1);
    m.max_age = UINT32_MAX;
    assert_int_equal(dp_file_meta_cache_control(&m, cc, sizeof(cc)), 18);

    /* CONTENT_TYPE from the translation wins */
    const char *tct = "image/png";
    dp_file_meta_build(&m, &st, &x, tct, strlen(tct), NOW);
    assert_ptr_equal(m.content_type, tct);
    assert_int_equal(m.content_type_len, 9);
    /* ... unless it could split the header */
    const char *evil = "text/html\r\nSet-Cookie: a=b";
    dp_file_meta_build(&m, &st, &x, evil, strlen(evil), NOW);
    assert_ptr_equal(m.content_type, x.content_type);
    dp_file_meta_build(&m, &st, NULL, evil, strlen(evil), NOW);
    assert_memory_equal(m.content_type, "application/octet-stream", 24);
    dp_file_meta_build(&m, &st, NULL, "", 0, NOW);
    assert_memory_equal(m.content_type, "application/octet-stream", 24);

    /* flags off: the values are not used */
    x.has_etag = false;
    x.has_content_type = false;
    x.has_max_age = false;
    dp_file_meta_build(&m, &st, &x, NULL, 0, NOW);
    assert_string_equal(m.etag, "\"803-1234-3e8-2ebc98a1-1dcd6500\"");
    assert_memory_equal(m.content_type, "application/octet-stream", 24);
    assert_false(m.has_max_age);
}

static void
test_expires(void **state)
{
    char out[DP_HTTP_DATE_SIZE];
    assert_int_equal(dp_expires_format(784111777, 3600, out), 0);
    assert_string_equal(out, "Sun, 06 Nov 1994 09:49:37 GMT");
    assert_int_equal(dp_expires_format(784111777, 0, out), 0);
    assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_int_equal(dp_expires_format(INT64_MAX - 5, 10, out), -1);
    assert_string_equal(out, "");
    assert_int_equal(dp_expires_format(253402300799LL, 1, out), -1);
}

/* A temporary file with user xattrs, in the build tree's directory
 * (TMPDIR or /tmp).  Returns -1 and a reason if xattrs are refused. */
static int
temp_with_xattrs(char *path, size_t cap, const char *ct, size_t ct_len,
                 const char *et, size_t et_len, const char *ma,
                 size_t ma_len, char *why, size_t why_cap)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path, cap, "%s/dp_file_meta_XXXXXX", dir ? dir : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "hello\n", 6), 6);
    struct {
        const char *name, *v;
        size_t n;
    } attrs[] = {
        { "user.Content-Type", ct, ct_len },
        { "user.ETag", et, et_len },
        { "user.MaxAge", ma, ma_len },
    };
    for (int i = 0; i < 3; i++) {
        if (attrs[i].v == NULL)
            continue;
        if (fsetxattr(fd, attrs[i].name, attrs[i].v, attrs[i].n, 0) < 0) {
            snprintf(why, why_cap, "fsetxattr(%s) on %s: %s", attrs[i].name,
                     path, strerror(errno));
            close(fd);
            unlink(path);
            return -1;
        }
    }
    return fd;
}

static void
test_xattrs_read(void **state)
{
    char path[512], why[600];
    const char *ct = "text/html; charset=utf8";
    int fd = temp_with_xattrs(path, sizeof(path), ct, strlen(ct), "abc", 3,
                              "86400", 5, why, sizeof(why));
    if (fd < 0)
        fail_msg("%s", why);
    struct dp_file_xattrs x;
    memset(&x, 0x5a, sizeof(x));
    assert_int_equal(dp_file_xattrs_read(fd, &x), 0);
    assert_true(x.has_content_type);
    assert_string_equal(x.content_type, ct);
    assert_int_equal(x.content_type_len, strlen(ct));
    assert_true(x.has_etag);
    assert_string_equal(x.etag, "\"abc\"");
    assert_true(x.has_max_age);
    assert_int_equal(x.max_age, 86400);

    /* and through the whole path, with the real stat */
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    struct dp_file_meta m;
    dp_file_meta_build(&m, &st, &x, NULL, 0, st.st_mtim.tv_sec + 5);
    assert_string_equal(m.etag, "\"abc\"");
    assert_memory_equal(m.content_type, ct, strlen(ct));
    assert_int_equal(m.size, 6);
    close(fd);
    unlink(path);
}

static void
test_xattrs_read_invalid(void **state)
{
    char path[512], why[600];
    /* all three invalid: ignored, the stat ETag is used */
    int fd = temp_with_xattrs(path, sizeof(path), "text/html\n", 10, "a b", 3,
                              "-5", 2, why, sizeof(why));
    if (fd < 0)
        fail_msg("%s", why);
    struct dp_file_xattrs x;
    assert_int_equal(dp_file_xattrs_read(fd, &x), 0);
    assert_false(x.has_content_type);
    assert_false(x.has_etag);
    assert_false(x.has_max_age);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    struct dp_file_meta m;
    dp_file_meta_build(&m, &st, &x, NULL, 0, st.st_mtim.tv_sec + 5);
    assert_int_equal(m.etag[0], '"');
    assert_non_null(strchr(m.etag + 1, '-'));
    close(fd);
    unlink(path);

    /* oversized values (ERANGE from the kernel) are ignored too */
    char big[1024], many[40];
    memset(big, 'a', sizeof(big));
    big[4] = '/';
    memset(many, '1', sizeof(many));
    fd = temp_with_xattrs(path, sizeof(path), big, sizeof(big), big,
                          DP_ETAG_MAX + 1, many, sizeof(many), why,
                          sizeof(why));
    if (fd < 0)
        fail_msg("%s", why);
    assert_int_equal(dp_file_xattrs_read(fd, &x), 0);
    assert_false(x.has_content_type);
    assert_false(x.has_etag);
    assert_false(x.has_max_age);
    close(fd);
    unlink(path);

    /* a value of exactly the limit is read */
    char digits[DP_MAX_AGE_TEXT_MAX];
    memset(digits, '9', sizeof(digits));
    fd = temp_with_xattrs(path, sizeof(path), big, DP_CONTENT_TYPE_MAX, big,
                          DP_ETAG_MAX, digits, sizeof(digits), why,
                          sizeof(why));
    if (fd < 0)
        fail_msg("%s", why);
    assert_int_equal(dp_file_xattrs_read(fd, &x), 0);
    assert_true(x.has_content_type);
    assert_int_equal(x.content_type_len, DP_CONTENT_TYPE_MAX);
    assert_true(x.has_etag);
    assert_int_equal(x.etag_len, DP_ETAG_MAX + 2);
    assert_true(x.has_max_age);
    assert_int_equal(x.max_age, DP_MAX_AGE_LIMIT);
    close(fd);
    unlink(path);
}

static void
test_xattrs_read_none(void **state)
{
    char path[512], why[600];
    int fd = temp_with_xattrs(path, sizeof(path), NULL, 0, NULL, 0, NULL, 0,
                              why, sizeof(why));
    assert_true(fd >= 0);
    struct dp_file_xattrs x;
    memset(&x, 0x5a, sizeof(x));
    assert_int_equal(dp_file_xattrs_read(fd, &x), 0);
    assert_false(x.has_content_type);
    assert_false(x.has_etag);
    assert_false(x.has_max_age);
    close(fd);
    unlink(path);
    /* a bad descriptor is an error, and *x is still usable */
    memset(&x, 0x5a, sizeof(x));
    assert_int_equal(dp_file_xattrs_read(-1, &x), -EBADF);
    assert_false(x.has_content_type);
    assert_false(x.has_etag);
    assert_false(x.has_max_age);
}

/* Whether the temporary directory takes user xattrs; if not, why. */
static bool
xattrs_supported(char *why, size_t cap)
{
    char path[512];
    int fd = temp_with_xattrs(path, sizeof(path), NULL, 0, NULL, 0, NULL, 0,
                              why, cap);
    if (fd < 0)
        return false;
    bool ok = fsetxattr(fd, "user.portier-probe", "1", 1, 0) == 0;
    if (!ok)
        snprintf(why, cap, "fsetxattr(user.portier-probe) on %s: %s", path,
                 strerror(errno));
    close(fd);
    unlink(path);
    return ok;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xattr_etag),
        cmocka_unit_test(test_media_type),
        cmocka_unit_test(test_max_age),
        cmocka_unit_test(test_meta_from_stat),
        cmocka_unit_test(test_last_modified),
        cmocka_unit_test(test_meta_with_xattrs),
        cmocka_unit_test(test_expires),
        cmocka_unit_test(test_xattrs_read_none),
        /* these need user xattrs on the temporary directory */
        cmocka_unit_test(test_xattrs_read),
        cmocka_unit_test(test_xattrs_read_invalid),
    };
    const size_t n_io = 2;
    size_t n = sizeof(tests) / sizeof(tests[0]);
    char why[600] = "";
    if (!xattrs_supported(why, sizeof(why))) {
        printf("# SKIP %zu xattr cases (test_xattrs_read, "
               "test_xattrs_read_invalid): %s\n",
               n_io, why);
        n -= n_io;
    }
    return _cmocka_run_group_tests("tests", tests, n, NULL, NULL);
}
