/* Unit tests: dp_session_file (byte-exact encoding, strict decoding of
 * corrupt and foreign input, atomic save and load). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_session_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "\xb0portier-sessions"

/* The store of the vectors: one session, id 0x11.., expiring at 0x1234,
 * SESSION "ab", SESSION_SITE "s", realm "h" with USER "u". */
static const uint8_t one_session[] =
    "\x93" MAGIC "\x01\x91"
    "\x97\xc4\x10"
    "\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11"
    "\xcd\x12\x34"
    "\xc4\x02" "ab"
    "\xc0"
    "\xa1" "s"
    "\xc0"
    "\x91\x94\xa1" "h" "\xa1" "u" "\x00\xc0";

static struct dp_session_manager *
manager(void)
{
    struct dp_session_config c = { .idle_timeout_ms = 1u << 20,
                                   .max_sessions = 100 };
    struct dp_session_manager *m = dp_session_manager_new(&c);
    assert_non_null(m);
    return m;
}

static struct dp_session *
vector_session(void)
{
    struct dp_session *s = dp_session_new();
    assert_non_null(s);
    memset(s->id.b, 0x11, sizeof(s->id.b));
    s->expires_ms = 0x1234;
    assert_int_equal(dp_session_bytes_set(&s->translate, "ab", 2), 0);
    assert_int_equal(dp_session_string_set(&s->site, "s"), 0);
    struct dp_realm_session *r = dp_session_realm_make(s, "h");
    assert_non_null(r);
    assert_int_equal(dp_session_string_set(&r->user, "u"), 0);
    return s;
}

static void
test_encode_empty(void **state)
{
    (void)state;
    struct dp_session_manager *m = manager();
    struct pr_buf out = PR_BUF_INIT;
    assert_int_equal(dp_session_file_encode(m, &out), 0);
    static const uint8_t want[] = "\x93" MAGIC "\x01\x90";
    assert_int_equal(out.len, sizeof(want) - 1);
    assert_memory_equal(out.data, want, out.len);
    struct dp_session_list l;
    char err[200];
    assert_int_equal(dp_session_file_decode(out.data, out.len, &l, err,
                                            sizeof(err)), 0);
    assert_int_equal(l.n, 0);
    dp_session_list_free(&l);
    pr_buf_free(&out);
    dp_session_manager_free(m);
}

static void
test_encode_vector(void **state)
{
    (void)state;
    struct dp_session_manager *m = manager();
    assert_true(dp_session_adopt(m, vector_session(), 0x1000));
    struct pr_buf out = PR_BUF_INIT;
    assert_int_equal(dp_session_file_encode(m, &out), 0);
    assert_int_equal(out.len, sizeof(one_session) - 1);
    assert_memory_equal(out.data, one_session, out.len);
    pr_buf_free(&out);
    dp_session_manager_free(m);
}

static void
test_decode_vector(void **state)
{
    (void)state;
    struct dp_session_list l;
    char err[200];
    assert_int_equal(dp_session_file_decode(one_session,
                                            sizeof(one_session) - 1, &l,
                                            err, sizeof(err)), 0);
    assert_int_equal(l.n, 1);
    struct dp_session *s = l.v[0];
    for (int i = 0; i < 16; i++)
        assert_int_equal(s->id.b[i], 0x11);
    assert_int_equal(s->expires_ms, 0x1234);
    assert_int_equal(s->translate.len, 2);
    assert_memory_equal(s->translate.data, "ab", 2);
    assert_null(s->attach.data);
    assert_string_equal(s->site, "s");
    assert_null(s->language);
    assert_int_equal(s->n_realms, 1);
    assert_string_equal(s->realms[0].realm, "h");
    assert_string_equal(s->realms[0].user, "u");
    assert_int_equal(s->realms[0].user_expires_ms, 0);
    assert_null(s->realms[0].translate.data);
    dp_session_list_free(&l);
}

/* Wider encodings msgpack allows are read too (uint32 expiry, str8,
 * bin16, array16). */
static void
test_decode_wide_forms(void **state)
{
    (void)state;
    static const uint8_t wide[] =
        "\xdc\x00\x03" "\xd9\x10portier-sessions" "\xcf\0\0\0\0\0\0\0\x01"
        "\xdd\x00\x00\x00\x01"
        "\x97\xc5\x00\x10"
        "\x22\x22\x22\x22\x22\x22\x22\x22\x22\x22\x22\x22\x22\x22\x22\x22"
        "\xce\x00\x01\x00\x00"
        "\xc0\xc6\x00\x00\x00\x01" "A" "\xc0\xda\x00\x02" "de" "\x90";
    struct dp_session_list l;
    char err[200];
    assert_int_equal(dp_session_file_decode(wide, sizeof(wide) - 1, &l, err,
                                            sizeof(err)), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0]->expires_ms, 0x10000);
    assert_int_equal(l.v[0]->attach.len, 1);
    assert_string_equal(l.v[0]->language, "de");
    dp_session_list_free(&l);
}

static void
expect_error(const uint8_t *data, size_t len, const char *needle)
{
    struct dp_session_list l = { (void *)1, 99 };
    char err[300];
    int rc = dp_session_file_decode(data, len, &l, err, sizeof(err));
    if (rc != -EINVAL)
        fail_msg("accepted (%d) where \"%s\" was expected", rc, needle);
    assert_null(l.v);
    assert_int_equal(l.n, 0);
    if (strstr(err, needle) == NULL)
        fail_msg("error \"%s\" does not say \"%s\"", err, needle);
}

static void
test_decode_truncated(void **state)
{
    (void)state;
    /* every proper prefix is refused */
    for (size_t n = 0; n + 1 < sizeof(one_session) - 1; n++)
        expect_error(one_session, n, "");
    expect_error(one_session, 0, "truncated");
    expect_error(one_session, 20, "declares 1 items, only 0 bytes");
    expect_error(one_session, 30, "truncated session file: session id");
}

static void
test_decode_corrupt(void **state)
{
    (void)state;
    /* foreign files */
    expect_error((const uint8_t *)"{\"a\": 1}\n", 9, "not an array");
    expect_error((const uint8_t *)"\x93\xa3" "abc\x01\x90", 7,
                 "not a Portier session file");
    expect_error((const uint8_t *)"\x92" MAGIC "\x01", 19,
                 "not a Portier session file");
    expect_error((const uint8_t *)"\x93" MAGIC "\x02\x90", 20,
                 "version 2 is not supported");
    /* trailing bytes */
    static const uint8_t trailing[] = "\x93" MAGIC "\x01\x90\x00";
    expect_error(trailing, sizeof(trailing) - 1, "1 bytes after the end");
    /* counts larger than the input */
    expect_error((const uint8_t *)"\x93" MAGIC "\x01\xdd\xff\xff\xff\xff",
                 24, "declares 4294967295 items");
    /* a session with a short id */
    static const uint8_t short_id[] =
        "\x93" MAGIC "\x01\x91\x97\xc4\x02\x11\x11\x00\xc0\xc0\xc0\xc0\x90";
    expect_error(short_id, sizeof(short_id) - 1, "has 2 bytes, not 16");
    /* wrong item types */
    uint8_t v[sizeof(one_session)];
    memcpy(v, one_session, sizeof(v));
    v[39] = 0xff;     /* the expiry's marker (cd) becomes a negative int */
    expect_error(v, sizeof(v) - 1, "not an unsigned integer");
    memcpy(v, one_session, sizeof(v));
    v[46] = 0xa1;     /* ATTACH_SESSION nil becomes a str */
    expect_error(v, sizeof(v) - 1, "");
    memcpy(v, one_session, sizeof(v));
    v[48] = 0x00;     /* a NUL in SESSION_SITE */
    expect_error(v, sizeof(v) - 1, "contains a NUL byte");
    memcpy(v, one_session, sizeof(v));
    v[50] = 0x92;     /* two realms declared, one present */
    expect_error(v, sizeof(v) - 1, "");
    memcpy(v, one_session, sizeof(v));
    v[51] = 0x93;     /* a realm of three items */
    expect_error(v, sizeof(v) - 1, "has 3 items, not 4");
}

static void
test_decode_limits(void **state)
{
    (void)state;
    /* nine realms in one session */
    struct pr_buf b = PR_BUF_INIT;
    static const uint8_t head[] =
        "\x93" MAGIC "\x01\x91\x97\xc4\x10"
        "\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11"
        "\x01\xc0\xc0\xc0\xc0\x99";
    pr_buf_append(&b, head, sizeof(head) - 1);
    for (int i = 0; i < 9; i++) {
        uint8_t realm[] = { 0x94, 0xa1, (uint8_t)('a' + i), 0xc0, 0x00,
                            0xc0 };
        pr_buf_append(&b, realm, sizeof(realm));
    }
    expect_error(b.data, b.len, "more than 8 realms");
    /* a realm twice */
    b.len = sizeof(head) - 1;
    b.data[b.len - 1] = 0x92;
    for (int i = 0; i < 2; i++) {
        uint8_t realm[] = { 0x94, 0xa1, 'x', 0xc0, 0x00, 0xc0 };
        pr_buf_append(&b, realm, sizeof(realm));
    }
    expect_error(b.data, b.len, "realm \"x\" twice");
    /* a SESSION value over the limit */
    b.len = 0;
    static const uint8_t big_head[] =
        "\x93" MAGIC "\x01\x91\x97\xc4\x10"
        "\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11\x11"
        "\x01\xc5\x10\x01";
    pr_buf_append(&b, big_head, sizeof(big_head) - 1);
    static uint8_t filler[4097];
    pr_buf_append(&b, filler, sizeof(filler));
    static const uint8_t tail[] = "\xc0\xc0\xc0\x90";
    pr_buf_append(&b, tail, 4);
    expect_error(b.data, b.len, "longer than 4096 bytes");
    /* the same session twice */
    b.len = 0;
    static const uint8_t twice_head[] = "\x93" MAGIC "\x01\x92";
    pr_buf_append(&b, twice_head, sizeof(twice_head) - 1);
    for (int i = 0; i < 2; i++)
        pr_buf_append(&b, one_session + 20, sizeof(one_session) - 21);
    expect_error(b.data, b.len, "repeated");
    pr_buf_free(&b);
}

static void
test_save_load(void **state)
{
    (void)state;
    char dir[] = "/tmp/portier-test-sessions-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/sessions", dir);
    char err[400];

    /* no file yet: nothing, no error */
    struct dp_session_manager *m = manager();
    assert_int_equal(dp_session_file_load(m, path, 0x1000, err,
                                          sizeof(err)), 0);
    assert_true(dp_session_adopt(m, vector_session(), 0x1000));
    const char *e = NULL;
    struct dp_session *fresh = dp_session_create(m, 0x1000, NULL, &e);
    assert_non_null(fresh);
    struct dp_session_id fresh_id = fresh->id;
    assert_int_equal(dp_session_bytes_set(&fresh->attach, "k", 1), 0);
    assert_int_equal(dp_session_put(m, fresh, 0x1000, NULL), 0);
    dp_session_free(fresh);
    assert_int_equal(dp_session_file_save(m, path, err, sizeof(err)), 0);
    dp_session_manager_free(m);

    /* only the target is left: the temporary file was renamed */
    char tmp[300];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    assert_int_equal(access(tmp, F_OK), -1);

    m = manager();
    assert_int_equal(dp_session_file_load(m, path, 0x1100, err,
                                          sizeof(err)), 2);
    struct dp_session *s = dp_session_get(m, &fresh_id, 0x1100);
    assert_non_null(s);
    assert_int_equal(s->attach.len, 1);
    dp_session_free(s);
    struct dp_session_id vid;
    memset(vid.b, 0x11, sizeof(vid.b));
    s = dp_session_get(m, &vid, 0x1100);
    assert_non_null(s);
    assert_string_equal(dp_realm_session_user(dp_session_realm(s, "h"),
                                              0x1100), "u");
    dp_session_free(s);
    dp_session_manager_free(m);

    /* loaded later, the vector session has expired: dropped */
    m = manager();
    assert_int_equal(dp_session_file_load(m, path, 0x1234, err,
                                          sizeof(err)), 1);
    dp_session_manager_free(m);

    /* a corrupt file: refused, nothing adopted, the store unchanged */
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fwrite(one_session, 1, 30, f);
    fclose(f);
    m = manager();
    assert_true(dp_session_file_load(m, path, 0x1000, err, sizeof(err)) <
                0);
    assert_non_null(strstr(err, "skipped"));
    assert_non_null(strstr(err, "truncated"));
    struct dp_session_stats st;
    dp_session_get_stats(m, &st);
    assert_int_equal(st.sessions, 0);

    /* a directory where the file should be */
    assert_true(dp_session_file_load(m, dir, 0x1000, err, sizeof(err)) <
                0);
    /* an unwritable target directory */
    char bad[300];
    snprintf(bad, sizeof(bad), "%s/missing/sessions", dir);
    assert_true(dp_session_file_save(m, bad, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "cannot save sessions"));
    dp_session_manager_free(m);
    unlink(path);
    rmdir(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_empty),
        cmocka_unit_test(test_encode_vector),
        cmocka_unit_test(test_decode_vector),
        cmocka_unit_test(test_decode_wide_forms),
        cmocka_unit_test(test_decode_truncated),
        cmocka_unit_test(test_decode_corrupt),
        cmocka_unit_test(test_decode_limits),
        cmocka_unit_test(test_save_load),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
