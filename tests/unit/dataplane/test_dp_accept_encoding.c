/* Unit tests for dataplane/dp_accept_encoding: the Accept-Encoding
 * grammar (RFC 9110 §12.5.3 examples), qvalues, refusals and the choice
 * between identity, gzip and br variants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_accept_encoding.h"

#include <string.h>

static struct dp_accept_encoding
ae(const char *s)
{
    struct dp_accept_encoding a;
    memset(&a, 0x5a, sizeof(a));
    int r = dp_accept_encoding_parse(s, s == NULL ? 0 : strlen(s), &a);
    assert_int_equal(r, a.valid || s == NULL ? 0 : -1);
    return a;
}

/* Choose with both variants, only gzip, only br, none: a 4-letter code
 * of i/g/b. */
static void
expect_choice(const char *s, const char *want)
{
    struct dp_accept_encoding a = ae(s);
    const bool have[4][2] = {
        { true, true }, { false, true }, { true, false }, { false, false },
    };
    char got[5] = { 0 };
    for (int k = 0; k < 4; k++) {
        enum dp_coding c =
            dp_accept_encoding_choose(&a, have[k][0], have[k][1]);
        got[k] = c == DP_CODING_BR ? 'b' : c == DP_CODING_GZIP ? 'g' : 'i';
    }
    if (strcmp(got, want) != 0)
        fail_msg("\"%s\": got %s, want %s", s ? s : "(absent)", got, want);
}

static void
test_rfc_examples(void **state)
{
    /* RFC 9110 §12.5.3 */
    struct dp_accept_encoding a = ae("compress, gzip");
    assert_true(a.valid);
    assert_int_equal(a.q_gzip, 1000);
    assert_int_equal(a.q_br, -1);
    assert_true(dp_accept_encoding_accepts(&a, DP_CODING_GZIP));
    assert_false(dp_accept_encoding_accepts(&a, DP_CODING_BR));

    a = ae("");
    assert_true(a.valid);
    assert_false(dp_accept_encoding_accepts(&a, DP_CODING_GZIP));
    assert_true(dp_accept_encoding_accepts(&a, DP_CODING_IDENTITY));

    a = ae("*");
    assert_true(dp_accept_encoding_accepts(&a, DP_CODING_GZIP));
    assert_true(dp_accept_encoding_accepts(&a, DP_CODING_BR));
    assert_int_equal(dp_accept_encoding_q(&a, DP_CODING_IDENTITY), 1000);

    a = ae("compress;q=0.5, gzip;q=1.0");
    assert_int_equal(dp_accept_encoding_q(&a, DP_CODING_GZIP), 1000);

    a = ae("gzip;q=1.0, identity; q=0.5, *;q=0");
    assert_int_equal(dp_accept_encoding_q(&a, DP_CODING_GZIP), 1000);
    assert_int_equal(dp_accept_encoding_q(&a, DP_CODING_IDENTITY), 500);
    assert_int_equal(dp_accept_encoding_q(&a, DP_CODING_BR), 0);
}

static void
test_qvalues(void **state)
{
    static const struct {
        const char *s;
        int q;
    } ok[] = {
        { "gzip;q=0", 0 },       { "gzip;q=0.", 0 },
        { "gzip;q=0.5", 500 },   { "gzip;q=0.05", 50 },
        { "gzip;q=0.001", 1 },   { "gzip;q=0.999", 999 },
        { "gzip;q=1", 1000 },    { "gzip;q=1.", 1000 },
        { "gzip;q=1.000", 1000 }, { "gzip;Q=0.3", 300 },
        { "gzip ; q=0.3", 300 }, { "gzip\t;\tq=0.3 ", 300 },
        { "GZIP;q=0.3", 300 },   { "x-gzip;q=0.3", 300 },
        { "gzip;q=0.2, x-gzip;q=0.4", 400 },
        { "gzip;q=0, gzip", 1000 },
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct dp_accept_encoding a = ae(ok[i].s);
        if (!a.valid)
            fail_msg("rejected \"%s\"", ok[i].s);
        if (dp_accept_encoding_q(&a, DP_CODING_GZIP) != ok[i].q)
            fail_msg("\"%s\": q %d, want %d", ok[i].s,
                     dp_accept_encoding_q(&a, DP_CODING_GZIP), ok[i].q);
    }
    static const char *const bad[] = {
        "gzip;q=1.5",     "gzip;q=1.001", "gzip;q=2",  "gzip;q=0.5000",
        "gzip;q=.5",      "gzip;q=",      "gzip;q",    "gzip;",
        "gzip;level=1",   "gzip;q=0.5;x=1", "gzip q=1", "gzip br",
        "gzip;q = 0.5",   "gzip;q=-0",    "gzip/x",    "\"gzip\"",
        "gzip;q=0.5x",    "gzip\x01",     "gzip;q=+1", ";q=1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct dp_accept_encoding a = ae(bad[i]);
        if (a.valid)
            fail_msg("accepted \"%s\"", bad[i]);
        /* invalid: identity only */
        assert_false(dp_accept_encoding_accepts(&a, DP_CODING_GZIP));
        assert_false(dp_accept_encoding_accepts(&a, DP_CODING_BR));
        assert_int_equal(dp_accept_encoding_q(&a, DP_CODING_IDENTITY), 1000);
    }
}

static void
test_lists(void **state)
{
    struct dp_accept_encoding a = ae(" , gzip,,deflate ,\tbr;q=0.9 , ");
    assert_true(a.valid);
    assert_int_equal(a.q_gzip, 1000);
    assert_int_equal(a.q_br, 900);
    assert_int_equal(a.q_identity, -1);
    assert_int_equal(a.q_star, -1);
    /* a typical browser */
    a = ae("gzip, deflate, br, zstd");
    assert_true(a.valid);
    assert_int_equal(a.q_br, 1000);
}

static void
test_absent(void **state)
{
    struct dp_accept_encoding a = ae(NULL);
    assert_false(a.valid);
    assert_false(dp_accept_encoding_accepts(&a, DP_CODING_GZIP));
    assert_false(dp_accept_encoding_accepts(&a, DP_CODING_BR));
    assert_true(dp_accept_encoding_accepts(&a, DP_CODING_IDENTITY));
}

static void
test_choose(void **state)
{
    /* codes: both variants, gzip only, br only, none */
    expect_choice(NULL, "iiii");
    expect_choice("", "iiii");
    expect_choice("identity", "iiii");
    expect_choice("gzip", "ggii");
    expect_choice("br", "bibi");
    expect_choice("gzip, br", "bgbi");
    expect_choice("br, gzip", "bgbi");
    expect_choice("gzip;q=1, br;q=0.8", "ggbi");
    expect_choice("gzip;q=0.8, br;q=1", "bgbi");
    expect_choice("*", "bgbi");
    expect_choice("*;q=0.5, gzip", "ggbi");
    expect_choice("*, br;q=0", "ggii");
    expect_choice("gzip;q=0, br;q=0", "iiii");
    expect_choice("gzip;q=0, *", "bibi");
    /* identity explicitly preferred over the variants */
    expect_choice("gzip;q=0.5, identity", "iiii");
    expect_choice("gzip;q=0.5, identity;q=0.5", "ggii");
    /* identity not named: it only wins when nothing else is acceptable */
    expect_choice("gzip;q=0.001", "ggii");
    /* identity refused, nothing fits: the file anyway */
    expect_choice("identity;q=0", "iiii");
    expect_choice("*;q=0", "iiii");
    expect_choice("br, *;q=0", "bibi");
    /* garbage: identity */
    expect_choice("gzip;q=2", "iiii");

    struct dp_accept_encoding a = ae("identity;q=0");
    assert_false(dp_accept_encoding_accepts(&a, DP_CODING_IDENTITY));
    a = ae("*;q=0, identity;q=0.1");
    assert_true(dp_accept_encoding_accepts(&a, DP_CODING_IDENTITY));
    assert_false(dp_accept_encoding_accepts(&a, DP_CODING_GZIP));
}

static void
test_names(void **state)
{
    assert_string_equal(dp_coding_name(DP_CODING_GZIP), "gzip");
    assert_string_equal(dp_coding_name(DP_CODING_BR), "br");
    assert_null(dp_coding_name(DP_CODING_IDENTITY));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_examples),
        cmocka_unit_test(test_qvalues),
        cmocka_unit_test(test_lists),
        cmocka_unit_test(test_absent),
        cmocka_unit_test(test_choose),
        cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
