/* Unit tests: dp_uri (dissect per spec §1.5.2, path safety). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_uri.h"

#include <string.h>

static void
check_view(struct dp_uri_view v, const char *want)
{
    if (want == NULL) {
        assert_null(v.p);
        return;
    }
    assert_non_null(v.p);
    assert_int_equal(v.n, strlen(want));
    assert_memory_equal(v.p, want, v.n);
}

static void
test_dissect(void **state)
{
    (void)state;
    static const struct {
        const char *uri, *base, *args, *path_info, *query;
    } cases[] = {
        { "/", "/", NULL, NULL, NULL },
        { "/a/b.html", "/a/b.html", NULL, NULL, NULL },
        { "/a?x=1", "/a", NULL, NULL, "x=1" },
        { "/a?", "/a", NULL, NULL, "" },
        { "/a;k=v", "/a", "k=v", NULL, NULL },
        { "/a;k=v/pi/x?q", "/a", "k=v", "/pi/x", "q" },
        { "/a;/pi", "/a", "", "/pi", NULL },
        { "/a?q;x/y", "/a", NULL, NULL, "q;x/y" },
        { "/a;k;l?q", "/a", "k;l", NULL, "q" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dp_uri_parts p;
        dp_uri_dissect(cases[i].uri, strlen(cases[i].uri), &p);
        check_view(p.base, cases[i].base);
        check_view(p.args, cases[i].args);
        check_view(p.path_info, cases[i].path_info);
        check_view(p.query, cases[i].query);
    }
}

static void
test_path_safe(void **state)
{
    (void)state;
    static const char *const good[] = {
        "/", "/a", "/a/b/", "/a.b", "/..a", "/a..", "/.well-known/x",
        "/%41%42", "/a%20b", "/...", "/a/.b/c", "/%2e%2e%2e",
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        if (dp_uri_path_safe(good[i], strlen(good[i])) != NULL)
            fail_msg("refused %s", good[i]);
    static const struct {
        const char *path, *why;
    } bad[] = {
        { "", "does not start" },
        { "a/b", "does not start" },
        { "/a/../b", "dot segment" },
        { "/..", "dot segment" },
        { "/a/..", "dot segment" },
        { "/./a", "dot segment" },
        { "/a/.", "dot segment" },
        { "/%2e%2e/etc", "dot segment" },
        { "/%2E./etc", "dot segment" },
        { "/.%2e", "dot segment" },
        { "/%2e", "dot segment" },
        { "/a%2fb", "encoded slash" },
        { "/a%2F..%2Fb", "encoded slash" },
        { "/a%5cb", "encoded slash" },
        { "/a%00b", "encoded NUL" },
        { "/a%0a", "encoded control" },
        { "/a\\b", "backslash" },
        { "/a\tb", "control character" },
        { "/a%", "malformed" },
        { "/a%4", "malformed" },
        { "/a%zz", "malformed" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *why = dp_uri_path_safe(bad[i].path, strlen(bad[i].path));
        if (why == NULL || strstr(why, bad[i].why) == NULL)
            fail_msg("%s: got %s", bad[i].path, why ? why : "accepted");
    }
    /* an embedded NUL byte is a control character */
    assert_non_null(dp_uri_path_safe("/a\0b", 4));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dissect),
        cmocka_unit_test(test_path_safe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
