/*
 * Unit tests: dp_client_ban (REJECT_CLIENT / TARPIT_CLIENT payloads and
 * the ban table).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_client_ban.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static int
parse(const char *payload, size_t len, struct dp_ban_request *r, char *err)
{
    return dp_client_ban_parse((const uint8_t *)payload, len, r, err, 160);
}

static void
test_parse(void **state)
{
    (void)state;
    struct dp_ban_request r;
    char err[160];
    assert_int_equal(parse("\x00\x00\x03\x84" "192.0.2.7", 13, &r, err), 0);
    assert_int_equal(r.seconds, 900);
    assert_string_equal(r.text, "192.0.2.7");
    static const uint8_t v4mapped[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                          0xff, 0xff, 192, 0, 2, 7 };
    assert_memory_equal(r.addr, v4mapped, 16);

    assert_int_equal(parse("\x01\x02\x03\x04" "[2001:db8::5]", 17, &r, err),
                     0);
    assert_int_equal(r.seconds, 0x01020304);
    assert_int_equal(r.addr[0], 0x20);
    assert_int_equal(r.addr[15], 5);

    assert_int_equal(parse("\x00\x00\x00", 3, &r, err), -1);
    assert_string_equal(err, "payload of 3 bytes: expected 4 bytes of "
                             "seconds and an address");
    assert_int_equal(parse("\x00\x00\x00\x01" "host", 8, &r, err), -1);
    assert_string_equal(err, "'host' is not an IPv4 or IPv6 address");
    assert_int_equal(parse("\x00\x00\x00\x01" "1.2.3.4\x00", 12, &r, err),
                     -1);
    assert_string_equal(err, "address contains byte 0x00");
    assert_int_equal(parse("\x00\x00\x00\x01" "1.2.3.4:80", 14, &r, err),
                     -1);
    char big[80] = "\x00\x00\x00\x01";
    memset(big + 4, '1', 70);
    assert_int_equal(parse(big, 74, &r, err), -1);
    assert_string_equal(err, "address of 70 bytes is too long");
}

static struct sockaddr_in
v4(const char *ip)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = 1234 };
    inet_pton(AF_INET, ip, &sin.sin_addr);
    return sin;
}

static struct dp_ban_request
req(const char *ip, uint32_t seconds)
{
    struct dp_ban_request r;
    char payload[64], err[160];
    payload[0] = (char)(seconds >> 24);
    payload[1] = (char)(seconds >> 16);
    payload[2] = (char)(seconds >> 8);
    payload[3] = (char)seconds;
    size_t n = strlen(ip);
    memcpy(payload + 4, ip, n);
    assert_int_equal(parse(payload, 4 + n, &r, err), 0);
    return r;
}

static void
test_table(void **state)
{
    (void)state;
    struct dp_client_ban *b = dp_client_ban_new(2);
    assert_non_null(b);
    struct sockaddr_in a = v4("192.0.2.1"), c = v4("192.0.2.2");
    assert_int_equal(dp_client_ban_check(b, (struct sockaddr *)&a, 0),
                     DP_BAN_NONE);
    struct dp_ban_request r = req("192.0.2.1", 10);
    assert_false(dp_client_ban_add(b, DP_BAN_REJECT, &r, 1000));
    assert_int_equal(dp_client_ban_check(b, (struct sockaddr *)&a, 1000),
                     DP_BAN_REJECT);
    assert_int_equal(dp_client_ban_check(b, (struct sockaddr *)&c, 1000),
                     DP_BAN_NONE);
    /* the IPv6 form of the same client */
    struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
    inet_pton(AF_INET6, "::ffff:192.0.2.1", &a6.sin6_addr);
    assert_int_equal(dp_client_ban_check(b, (struct sockaddr *)&a6, 1000),
                     DP_BAN_REJECT);
    /* expiry: 10 s after 1000 ms */
    assert_int_equal(dp_client_ban_check(b, (struct sockaddr *)&a, 10999),
                     DP_BAN_REJECT);
    assert_int_equal(dp_client_ban_check(b, (struct sockaddr *)&a, 11000),
                     DP_BAN_NONE);
    /* replace the kind, then lift with 0 seconds */
    assert_false(dp_client_ban_add(b, DP_BAN_TARPIT, &r, 2000));
    assert_int_equal(dp_client_ban_check(b, (struct sockaddr *)&a, 2000),
                     DP_BAN_TARPIT);
    assert_int_equal(dp_client_ban_count(b, 2000), 1);
    struct dp_ban_request lift = req("192.0.2.1", 0);
    assert_false(dp_client_ban_add(b, DP_BAN_TARPIT, &lift, 2000));
    assert_int_equal(dp_client_ban_check(b, (struct sockaddr *)&a, 2000),
                     DP_BAN_NONE);
    assert_int_equal(dp_client_ban_count(b, 2000), 0);

    /* full: the entry that ends first gives way */
    struct dp_ban_request r1 = req("192.0.2.1", 100), r2 = req("192.0.2.2", 5),
                          r3 = req("2001:db8::1", 50);
    assert_false(dp_client_ban_add(b, DP_BAN_REJECT, &r1, 0));
    assert_false(dp_client_ban_add(b, DP_BAN_REJECT, &r2, 0));
    assert_true(dp_client_ban_add(b, DP_BAN_REJECT, &r3, 0));
    assert_int_equal(dp_client_ban_check(b, (struct sockaddr *)&c, 1),
                     DP_BAN_NONE);
    assert_int_equal(dp_client_ban_check(b, (struct sockaddr *)&a, 1),
                     DP_BAN_REJECT);
    /* an expired entry gives way without counting as an eviction */
    struct dp_ban_request r4 = req("192.0.2.2", 5);
    assert_false(dp_client_ban_add(b, DP_BAN_REJECT, &r4, 60000));
    /* capped at a week */
    struct dp_ban_request r5 = req("192.0.2.9", 0xffffffffu);
    struct dp_client_ban *b2 = dp_client_ban_new(0);
    dp_client_ban_add(b2, DP_BAN_REJECT, &r5, 0);
    struct sockaddr_in n9 = v4("192.0.2.9");
    assert_int_equal(dp_client_ban_check(b2, (struct sockaddr *)&n9,
                                         DP_BAN_MAX_SECONDS * 1000ull - 1),
                     DP_BAN_REJECT);
    assert_int_equal(dp_client_ban_check(b2, (struct sockaddr *)&n9,
                                         DP_BAN_MAX_SECONDS * 1000ull),
                     DP_BAN_NONE);
    /* other families never match */
    struct sockaddr un = { .sa_family = AF_UNIX };
    assert_int_equal(dp_client_ban_check(b2, &un, 0), DP_BAN_NONE);
    assert_int_equal(dp_client_ban_check(NULL, (struct sockaddr *)&n9, 0),
                     DP_BAN_NONE);
    dp_client_ban_free(b2);
    dp_client_ban_free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
