/* Unit tests for dataplane/dp_conditional: entity-tag grammar and
 * comparison (RFC 9110 §8.8.3), the precondition order of §13.2.2,
 * If-Range (§13.1.5). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_conditional.h"

#include <string.h>

/* Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT; now one day later. */
#define LM ((time_t)784111777)
#define NOW (LM + 86400)
#define LM_TEXT "Sun, 06 Nov 1994 08:49:37 GMT"
#define BEFORE_TEXT "Sun, 06 Nov 1994 08:49:36 GMT"
#define AFTER_TEXT "Sun, 06 Nov 1994 08:49:38 GMT"

static const struct dp_validators file_v = {
    .etag = "\"xyzzy\"",
    .etag_len = 7,
    .has_last_modified = true,
    .last_modified = LM,
};

static size_t
slen(const char *s)
{
    return s == NULL ? 0 : strlen(s);
}

static struct dp_cond_headers
hdrs(const char *im, const char *inm, const char *ims, const char *ius)
{
    struct dp_cond_headers h = {
        .if_match = im,
        .if_match_len = slen(im),
        .if_none_match = inm,
        .if_none_match_len = slen(inm),
        .if_modified_since = ims,
        .if_modified_since_len = slen(ims),
        .if_unmodified_since = ius,
        .if_unmodified_since_len = slen(ius),
    };
    return h;
}

static enum dp_cond_result
eval(enum dp_method_class m, const char *im, const char *inm,
     const char *ims, const char *ius)
{
    struct dp_cond_headers h = hdrs(im, inm, ims, ius);
    return dp_conditional_evaluate(m, &h, &file_v, NOW);
}

static enum dp_etag_list_result
list(const char *l, const char *etag, bool strong)
{
    return dp_etag_list_match(l, strlen(l), etag, slen(etag), strong);
}

static void
test_etag_scan(void **state)
{
    bool weak = true;
    const char *o = NULL;
    size_t ol = 99;
    assert_int_equal(dp_etag_scan("\"xyzzy\"", 7, &weak, &o, &ol), 7);
    assert_false(weak);
    assert_int_equal(ol, 5);
    assert_memory_equal(o, "xyzzy", 5);
    assert_int_equal(dp_etag_scan("W/\"xyzzy\", x", 12, &weak, &o, &ol), 9);
    assert_true(weak);
    assert_int_equal(dp_etag_scan("\"\"", 2, &weak, &o, &ol), 2);
    assert_false(weak);
    assert_int_equal(ol, 0);
    /* obs-text is an etagc; DQUOTE, SP, DEL and controls are not */
    assert_int_equal(dp_etag_scan("\"\xc3\xa9\"", 4, NULL, NULL, NULL), 4);
    assert_int_equal(dp_etag_scan("\"a b\"", 5, NULL, NULL, NULL), 0);
    assert_int_equal(dp_etag_scan("\"a\x7f\"", 4, NULL, NULL, NULL), 0);
    assert_int_equal(dp_etag_scan("\"a\tb\"", 5, NULL, NULL, NULL), 0);
    assert_int_equal(dp_etag_scan("\"a", 2, NULL, NULL, NULL), 0);
    assert_int_equal(dp_etag_scan("\"", 1, NULL, NULL, NULL), 0);
    assert_int_equal(dp_etag_scan("xyzzy", 5, NULL, NULL, NULL), 0);
    assert_int_equal(dp_etag_scan("w/\"x\"", 5, NULL, NULL, NULL), 0);
    assert_int_equal(dp_etag_scan("W\"x\"", 4, NULL, NULL, NULL), 0);
    assert_int_equal(dp_etag_scan("W/", 2, NULL, NULL, NULL), 0);
    assert_int_equal(dp_etag_scan(NULL, 0, NULL, NULL, NULL), 0);
    /* the limit of the length argument is respected */
    assert_int_equal(dp_etag_scan("\"abc\"", 4, NULL, NULL, NULL), 0);

    assert_true(dp_etag_valid("\"x\"", 3));
    assert_true(dp_etag_valid("W/\"x\"", 5));
    assert_false(dp_etag_valid("\"x\" ", 4));
    assert_false(dp_etag_valid(" \"x\"", 4));
    assert_false(dp_etag_valid("", 0));
}

static void
test_etag_compare_rfc_table(void **state)
{
    /* RFC 9110 §8.8.3.2, the example table. */
    static const struct {
        const char *a, *b;
        bool strong, weak;
    } rows[] = {
        { "W/\"1\"", "W/\"1\"", false, true },
        { "W/\"1\"", "W/\"2\"", false, false },
        { "W/\"1\"", "\"1\"", false, true },
        { "\"1\"", "\"1\"", true, true },
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *a = rows[i].a, *b = rows[i].b;
        assert_int_equal(dp_etag_equal(a, strlen(a), b, strlen(b), true),
                         rows[i].strong);
        assert_int_equal(dp_etag_equal(a, strlen(a), b, strlen(b), false),
                         rows[i].weak);
        assert_int_equal(dp_etag_equal(b, strlen(b), a, strlen(a), true),
                         rows[i].strong);
    }
    /* case matters; invalid tags never match */
    assert_false(dp_etag_equal("\"a\"", 3, "\"A\"", 3, false));
    assert_false(dp_etag_equal("a", 1, "a", 1, false));
    assert_false(dp_etag_equal("\"a\"x", 4, "\"a\"x", 4, false));
}

static void
test_etag_list(void **state)
{
    const char *e = "\"xyzzy\"";
    assert_int_equal(list("*", e, true), DP_ETAG_LIST_ANY);
    assert_int_equal(list("  *\t", e, true), DP_ETAG_LIST_ANY);
    assert_int_equal(list("*", NULL, true), DP_ETAG_LIST_ANY);
    assert_int_equal(list("\"xyzzy\"", e, true), DP_ETAG_LIST_MATCH);
    /* RFC 9110 §13.1.1 example lists */
    assert_int_equal(list("\"xyzzy\", \"r2d2xxxx\", \"c3piozzzz\"", e, true),
                     DP_ETAG_LIST_MATCH);
    assert_int_equal(list("\"r2d2xxxx\", \"c3piozzzz\", \"xyzzy\"", e, true),
                     DP_ETAG_LIST_MATCH);
    assert_int_equal(list("\"r2d2xxxx\", \"c3piozzzz\"", e, true),
                     DP_ETAG_LIST_NO_MATCH);
    /* weak vs strong */
    assert_int_equal(list("W/\"xyzzy\"", e, true), DP_ETAG_LIST_NO_MATCH);
    assert_int_equal(list("W/\"xyzzy\"", e, false), DP_ETAG_LIST_MATCH);
    assert_int_equal(list("\"xyzzy\"", "W/\"xyzzy\"", true),
                     DP_ETAG_LIST_NO_MATCH);
    assert_int_equal(list("\"xyzzy\"", "W/\"xyzzy\"", false),
                     DP_ETAG_LIST_MATCH);
    /* empty elements and OWS */
    assert_int_equal(list("", e, false), DP_ETAG_LIST_NO_MATCH);
    assert_int_equal(list(" , ,\t", e, false), DP_ETAG_LIST_NO_MATCH);
    assert_int_equal(list(",\"a\",,  ,\"xyzzy\" ,", e, false),
                     DP_ETAG_LIST_MATCH);
    assert_int_equal(list("\"a\"\t,\t\"xyzzy\"", e, false),
                     DP_ETAG_LIST_MATCH);
    /* no current ETag: nothing matches, "*" still does */
    assert_int_equal(list("\"xyzzy\"", NULL, false), DP_ETAG_LIST_NO_MATCH);
    /* malformed: unquoted, "*" in a list, missing comma, bad chars,
     * trailing garbage after a match */
    assert_int_equal(list("xyzzy", e, false), DP_ETAG_LIST_MALFORMED);
    assert_int_equal(list("*, \"xyzzy\"", e, false), DP_ETAG_LIST_MALFORMED);
    assert_int_equal(list("\"xyzzy\", *", e, false), DP_ETAG_LIST_MALFORMED);
    assert_int_equal(list("**", e, false), DP_ETAG_LIST_MALFORMED);
    assert_int_equal(list("\"a\" \"xyzzy\"", e, false),
                     DP_ETAG_LIST_MALFORMED);
    assert_int_equal(list("\"xyzzy\"x", e, false), DP_ETAG_LIST_MALFORMED);
    assert_int_equal(list("\"xyzzy\", \"un", e, false),
                     DP_ETAG_LIST_MALFORMED);
    assert_int_equal(list("\"xy zzy\"", e, false), DP_ETAG_LIST_MALFORMED);
    assert_int_equal(list("w/\"xyzzy\"", e, false), DP_ETAG_LIST_MALFORMED);
    assert_int_equal(list("\"xyzzy\";q=1", e, false),
                     DP_ETAG_LIST_MALFORMED);
}

static void
test_no_conditions(void **state)
{
    assert_int_equal(eval(DP_METHOD_GET, NULL, NULL, NULL, NULL), 200);
    assert_int_equal(eval(DP_METHOD_HEAD, NULL, NULL, NULL, NULL), 200);
    assert_int_equal(eval(DP_METHOD_OTHER, NULL, NULL, NULL, NULL), 200);
}

static void
test_if_match(void **state)
{
    assert_int_equal(eval(DP_METHOD_GET, "\"xyzzy\"", NULL, NULL, NULL),
                     200);
    assert_int_equal(eval(DP_METHOD_GET, "*", NULL, NULL, NULL), 200);
    assert_int_equal(eval(DP_METHOD_GET, "\"other\"", NULL, NULL, NULL),
                     412);
    /* strong comparison: a weak tag never matches */
    assert_int_equal(eval(DP_METHOD_GET, "W/\"xyzzy\"", NULL, NULL, NULL),
                     412);
    assert_int_equal(eval(DP_METHOD_HEAD, "\"other\"", NULL, NULL, NULL),
                     412);
    assert_int_equal(eval(DP_METHOD_OTHER, "\"other\"", NULL, NULL, NULL),
                     412);
    /* malformed: fails; an empty list fails too (nothing matches) */
    assert_int_equal(eval(DP_METHOD_GET, "xyzzy", NULL, NULL, NULL), 412);
    assert_int_equal(eval(DP_METHOD_GET, "", NULL, NULL, NULL), 412);

    /* a weak current ETag never satisfies If-Match, "*" does */
    struct dp_validators weak = file_v;
    weak.etag = "W/\"xyzzy\"";
    weak.etag_len = 9;
    struct dp_cond_headers h = hdrs("\"xyzzy\"", NULL, NULL, NULL);
    assert_int_equal(dp_conditional_evaluate(DP_METHOD_GET, &h, &weak, NOW),
                     412);
    h = hdrs("W/\"xyzzy\"", NULL, NULL, NULL);
    assert_int_equal(dp_conditional_evaluate(DP_METHOD_GET, &h, &weak, NOW),
                     412);
    h = hdrs("*", NULL, NULL, NULL);
    assert_int_equal(dp_conditional_evaluate(DP_METHOD_GET, &h, &weak, NOW),
                     200);
}

static void
test_if_unmodified_since(void **state)
{
    assert_int_equal(eval(DP_METHOD_GET, NULL, NULL, NULL, LM_TEXT), 200);
    assert_int_equal(eval(DP_METHOD_GET, NULL, NULL, NULL, AFTER_TEXT), 200);
    assert_int_equal(eval(DP_METHOD_GET, NULL, NULL, NULL, BEFORE_TEXT),
                     412);
    assert_int_equal(eval(DP_METHOD_OTHER, NULL, NULL, NULL, BEFORE_TEXT),
                     412);
    /* invalid dates and lists of dates are ignored */
    assert_int_equal(eval(DP_METHOD_GET, NULL, NULL, NULL, "yesterday"),
                     200);
    assert_int_equal(eval(DP_METHOD_GET, NULL, NULL, NULL,
                          BEFORE_TEXT ", " BEFORE_TEXT),
                     200);
    /* other date formats count */
    assert_int_equal(eval(DP_METHOD_GET, NULL, NULL, NULL,
                          "Sunday, 06-Nov-94 08:49:36 GMT"),
                     412);
    /* If-Match present: If-Unmodified-Since is not looked at */
    assert_int_equal(eval(DP_METHOD_GET, "\"xyzzy\"", NULL, NULL,
                          BEFORE_TEXT),
                     200);
    assert_int_equal(eval(DP_METHOD_GET, "garbage", NULL, NULL, AFTER_TEXT),
                     412);
    /* no modification date: ignored */
    struct dp_validators nolm = file_v;
    nolm.has_last_modified = false;
    struct dp_cond_headers h = hdrs(NULL, NULL, NULL, BEFORE_TEXT);
    assert_int_equal(dp_conditional_evaluate(DP_METHOD_GET, &h, &nolm, NOW),
                     200);
}

static void
test_if_none_match(void **state)
{
    assert_int_equal(eval(DP_METHOD_GET, NULL, "\"xyzzy\"", NULL, NULL),
                     304);
    assert_int_equal(eval(DP_METHOD_HEAD, NULL, "\"xyzzy\"", NULL, NULL),
                     304);
    assert_int_equal(eval(DP_METHOD_OTHER, NULL, "\"xyzzy\"", NULL, NULL),
                     412);
    /* weak comparison */
    assert_int_equal(eval(DP_METHOD_GET, NULL, "W/\"xyzzy\"", NULL, NULL),
                     304);
    assert_int_equal(eval(DP_METHOD_GET, NULL, "\"a\", W/\"xyzzy\"", NULL,
                          NULL),
                     304);
    assert_int_equal(eval(DP_METHOD_GET, NULL, "*", NULL, NULL), 304);
    assert_int_equal(eval(DP_METHOD_OTHER, NULL, "*", NULL, NULL), 412);
    assert_int_equal(eval(DP_METHOD_GET, NULL, "\"other\"", NULL, NULL),
                     200);
    /* malformed: proceeds, never 304 */
    assert_int_equal(eval(DP_METHOD_GET, NULL, "xyzzy", NULL, NULL), 200);
    assert_int_equal(eval(DP_METHOD_GET, NULL, "\"xyzzy\" junk", NULL, NULL),
                     200);
}

static void
test_if_modified_since(void **state)
{
    assert_int_equal(eval(DP_METHOD_GET, NULL, NULL, LM_TEXT, NULL), 304);
    assert_int_equal(eval(DP_METHOD_HEAD, NULL, NULL, LM_TEXT, NULL), 304);
    assert_int_equal(eval(DP_METHOD_GET, NULL, NULL, AFTER_TEXT, NULL), 304);
    assert_int_equal(eval(DP_METHOD_GET, NULL, NULL, BEFORE_TEXT, NULL),
                     200);
    assert_int_equal(eval(DP_METHOD_GET, NULL, NULL,
                          "Sun Nov  6 08:49:37 1994", NULL),
                     304);
    /* other methods: ignored */
    assert_int_equal(eval(DP_METHOD_OTHER, NULL, NULL, LM_TEXT, NULL), 200);
    /* invalid, a list, a date after now: ignored */
    assert_int_equal(eval(DP_METHOD_GET, NULL, NULL, "0", NULL), 200);
    assert_int_equal(eval(DP_METHOD_GET, NULL, NULL,
                          LM_TEXT ", " LM_TEXT, NULL),
                     200);
    assert_int_equal(eval(DP_METHOD_GET, NULL, NULL,
                          "Mon, 07 Nov 1994 08:49:38 GMT", NULL),
                     200);
    /* exactly now is fine */
    assert_int_equal(eval(DP_METHOD_GET, NULL, NULL,
                          "Mon, 07 Nov 1994 08:49:37 GMT", NULL),
                     304);
    /* If-None-Match present: If-Modified-Since is not looked at */
    assert_int_equal(eval(DP_METHOD_GET, NULL, "\"other\"", LM_TEXT, NULL),
                     200);
    assert_int_equal(eval(DP_METHOD_GET, NULL, "bad list", LM_TEXT, NULL),
                     200);
    assert_int_equal(eval(DP_METHOD_GET, NULL, "", LM_TEXT, NULL), 200);
}

/* RFC 9110 §13.2.2: the evaluation order across headers. */
static void
test_precedence(void **state)
{
    /* If-Match fails before If-None-Match could give 304 */
    assert_int_equal(eval(DP_METHOD_GET, "\"other\"", "\"xyzzy\"", NULL,
                          NULL),
                     412);
    /* If-Unmodified-Since fails before If-Modified-Since gives 304 */
    assert_int_equal(eval(DP_METHOD_GET, NULL, NULL, LM_TEXT, BEFORE_TEXT),
                     412);
    /* both pass, then 304 from If-None-Match */
    assert_int_equal(eval(DP_METHOD_GET, "*", "*", NULL, NULL), 304);
    assert_int_equal(eval(DP_METHOD_HEAD, "\"xyzzy\"", "\"xyzzy\"",
                          LM_TEXT, LM_TEXT),
                     304);
    /* If-Match passes, If-None-Match does not match: If-Modified-Since
     * is still ignored */
    assert_int_equal(eval(DP_METHOD_GET, "\"xyzzy\"", "\"a\"", LM_TEXT,
                          NULL),
                     200);
    /* all four given and passing */
    assert_int_equal(eval(DP_METHOD_GET, "\"xyzzy\"", "\"a\"", BEFORE_TEXT,
                          AFTER_TEXT),
                     200);
    /* other method, If-None-Match "*" after If-Match "*" */
    assert_int_equal(eval(DP_METHOD_OTHER, "*", "*", NULL, NULL), 412);
}

static bool
if_range(const char *v, const struct dp_validators *val, time_t now)
{
    return dp_if_range_matches(v, strlen(v), val, now);
}

static void
test_if_range(void **state)
{
    assert_true(if_range("\"xyzzy\"", &file_v, NOW));
    assert_true(if_range(" \"xyzzy\" ", &file_v, NOW));
    assert_false(if_range("\"other\"", &file_v, NOW));
    assert_false(if_range("W/\"xyzzy\"", &file_v, NOW));
    assert_false(if_range("\"xyzzy\", \"a\"", &file_v, NOW));
    assert_false(if_range("*", &file_v, NOW));
    assert_false(if_range("", &file_v, NOW));
    assert_false(dp_if_range_matches(NULL, 0, &file_v, NOW));
    /* dates: exact match only */
    assert_true(if_range(LM_TEXT, &file_v, NOW));
    assert_true(if_range("Sunday, 06-Nov-94 08:49:37 GMT", &file_v, NOW));
    assert_false(if_range(AFTER_TEXT, &file_v, NOW));
    assert_false(if_range(BEFORE_TEXT, &file_v, NOW));
    assert_false(if_range("garbage", &file_v, NOW));
    /* a date starting with W is a date, not a weak tag */
    struct dp_validators wed = file_v;
    wed.last_modified = LM + 3 * 86400;
    assert_true(
        if_range("Wed, 09 Nov 1994 08:49:37 GMT", &wed, LM + 4 * 86400));
    /* not a strong date: modified within the current second */
    assert_false(if_range(LM_TEXT, &file_v, LM));
    assert_true(if_range(LM_TEXT, &file_v, LM + 1));
    /* a weak current ETag never matches */
    struct dp_validators weak = file_v;
    weak.etag = "W/\"xyzzy\"";
    weak.etag_len = 9;
    assert_false(if_range("\"xyzzy\"", &weak, NOW));
    assert_false(if_range("W/\"xyzzy\"", &weak, NOW));
    /* no ETag / no date */
    struct dp_validators none = { 0 };
    assert_false(if_range("\"xyzzy\"", &none, NOW));
    assert_false(if_range(LM_TEXT, &none, NOW));
}

static void
test_range_wanted(void **state)
{
    assert_true(
        dp_range_wanted(DP_METHOD_GET, true, NULL, 0, &file_v, NOW));
    assert_false(
        dp_range_wanted(DP_METHOD_GET, false, NULL, 0, &file_v, NOW));
    assert_false(
        dp_range_wanted(DP_METHOD_HEAD, true, NULL, 0, &file_v, NOW));
    assert_false(
        dp_range_wanted(DP_METHOD_OTHER, true, NULL, 0, &file_v, NOW));
    assert_true(
        dp_range_wanted(DP_METHOD_GET, true, "\"xyzzy\"", 7, &file_v, NOW));
    assert_false(
        dp_range_wanted(DP_METHOD_GET, true, "\"other\"", 7, &file_v, NOW));
    /* If-Range without Range: nothing to do */
    assert_false(
        dp_range_wanted(DP_METHOD_GET, false, "\"xyzzy\"", 7, &file_v, NOW));
}

static void
test_method_classify(void **state)
{
    assert_int_equal(dp_method_classify("GET", 3), DP_METHOD_GET);
    assert_int_equal(dp_method_classify("HEAD", 4), DP_METHOD_HEAD);
    /* methods are case-sensitive */
    assert_int_equal(dp_method_classify("get", 3), DP_METHOD_OTHER);
    assert_int_equal(dp_method_classify("Head", 4), DP_METHOD_OTHER);
    assert_int_equal(dp_method_classify("POST", 4), DP_METHOD_OTHER);
    assert_int_equal(dp_method_classify("OPTIONS", 7), DP_METHOD_OTHER);
    assert_int_equal(dp_method_classify("GETX", 4), DP_METHOD_OTHER);
    assert_int_equal(dp_method_classify("GET", 2), DP_METHOD_OTHER);
    assert_int_equal(dp_method_classify(NULL, 0), DP_METHOD_OTHER);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_etag_scan),
        cmocka_unit_test(test_etag_compare_rfc_table),
        cmocka_unit_test(test_etag_list),
        cmocka_unit_test(test_no_conditions),
        cmocka_unit_test(test_if_match),
        cmocka_unit_test(test_if_unmodified_since),
        cmocka_unit_test(test_if_none_match),
        cmocka_unit_test(test_if_modified_since),
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_if_range),
        cmocka_unit_test(test_range_wanted),
        cmocka_unit_test(test_method_classify),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
