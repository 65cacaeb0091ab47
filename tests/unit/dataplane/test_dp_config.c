/* Unit tests: dp_config (the portierd configuration file). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* Parse `text` into a fresh config; returns the result, error in err. */
static int
parse_ex(const char *text, struct dp_config *cfg, struct dp_config_error *err,
         bool lenient)
{
    dp_config_init(cfg);
    cfg->accept_unsupported = lenient;
    memset(err, 0, sizeof(*err));
    return dp_config_parse_buffer("portierd.conf", (const uint8_t *)text,
                                  strlen(text), cfg, err);
}

/* Expect `text` to fail with exactly `expected`. */
static void
expect_error_ex(const char *text, const char *expected, bool lenient)
{
    struct dp_config cfg;
    struct dp_config_error err;
    int r = parse_ex(text, &cfg, &err, lenient);
    if (r == 0 || strcmp(err.text, expected) != 0)
        print_error("text:\n%s\nexpected: %s\ngot (%d): %s\n", text, expected,
                    r, err.text);
    assert_int_equal(r, -EINVAL);
    assert_string_equal(err.text, expected);
    dp_config_free(&cfg);
}

static void
expect_error(const char *text, const char *expected)
{
    expect_error_ex(text, expected, false);
}

static void
parse_ok_ex(const char *text, struct dp_config *cfg, bool lenient)
{
    struct dp_config_error err;
    int r = parse_ex(text, cfg, &err, lenient);
    if (r != 0)
        print_error("text:\n%s\nunexpected error: %s\n", text, err.text);
    assert_int_equal(r, 0);
}

static void
parse_ok(const char *text, struct dp_config *cfg)
{
    parse_ok_ex(text, cfg, false);
}

static const struct sockaddr_in6 *
in6(const struct dp_config_address *a)
{
    return (const struct sockaddr_in6 *)&a->addr;
}

static const struct sockaddr_in *
in4(const struct dp_config_address *a)
{
    return (const struct sockaddr_in *)&a->addr;
}

static const struct sockaddr_un *
un(const struct dp_config_address *a)
{
    return (const struct sockaddr_un *)&a->addr;
}

/* ------------------------------------------------------------------ */

static void
test_defaults(void **state)
{
    (void)state;
    struct dp_config cfg;
    dp_config_init(&cfg);
    assert_int_equal(cfg.n_listeners, 0);
    assert_int_equal(cfg.n_translation_sockets, 0);
    const struct dp_config_settings *s = &cfg.settings;
    assert_string_equal(s->session_cookie, "beng_proxy_session");
    assert_null(s->session_cookie_same_site);
    assert_false(s->dynamic_session_cookie);
    assert_int_equal(s->session_idle_timeout, 30 * 60 * 1000);
    assert_null(s->session_save_path);
    assert_int_equal(s->max_connections, 8192);
    assert_int_equal(s->tcp_stock_limit, 0);
    assert_int_equal(s->fastcgi_stock_max_idle, 16);
    assert_int_equal(s->http_cache_size, 512u * 1024 * 1024);
    assert_true(s->http_cache_obey_no_cache);
    assert_int_equal(s->filter_cache_size, 128u * 1024 * 1024);
    assert_int_equal(s->translate_cache_size, 131072);
    assert_int_equal(s->translate_stock_limit, 32);
    assert_false(s->verbose_response);

    /* an empty text changes nothing */
    parse_ok("", &cfg);
    assert_int_equal(cfg.n_listeners, 0);
    assert_int_equal(cfg.settings.max_connections, 8192);
    dp_config_free(&cfg);
}

static void
test_listener_full(void **state)
{
    (void)state;
    struct dp_config cfg;
    parse_ok("listener {\n"
             "   bind \"*:80\"\n"
             "   tag \"foo\"\n"
             "   interface \"eth0\"\n"
             "   reuse_port yes\n"
             "   free_bind yes\n"
             "   v6only no\n"
             "   keepalive yes\n"
             "   ack_timeout 30\n"
             "}\n"
             "listener {\n"
             "\tbind '192.168.1.42:8080'\n"
             "}\n"
             "listener {\n"
             "  bind \"[::1]:8443\"\n"
             "  v6only yes\n"
             "  ack_timeout \"1500 ms\"\n"
             "  translation_socket \"@t1\"\n"
             "  translation_socket \"/run/t2.sock\"\n"
             "}\n"
             "listener {\n"
             "  bind \"@portier-http\"\n"
             "  reuse_port no\n"
             "}\n",
             &cfg);
    assert_int_equal(cfg.n_listeners, 4);

    const struct dp_config_listener *l = &cfg.listeners[0];
    assert_int_equal(l->bind.kind, DP_CONFIG_ADDRESS_IPV6);
    assert_true(l->bind.wildcard);
    assert_int_equal(l->bind.port, 80);
    assert_string_equal(l->bind.text, "*:80");
    assert_int_equal(l->bind.addr_len, sizeof(struct sockaddr_in6));
    assert_int_equal(in6(&l->bind)->sin6_family, AF_INET6);
    assert_int_equal(ntohs(in6(&l->bind)->sin6_port), 80);
    assert_memory_equal(&in6(&l->bind)->sin6_addr, &in6addr_any, 16);
    assert_string_equal(l->tag, "foo");
    assert_string_equal(l->interface, "eth0");
    assert_true(l->reuse_port);
    assert_true(l->free_bind);
    assert_false(l->v6only);
    assert_true(l->keepalive);
    assert_int_equal(l->ack_timeout_ms, 30000);
    assert_int_equal(l->n_translation_sockets, 0);
    assert_string_equal(l->file, "portierd.conf");
    assert_int_equal(l->line, 1);

    l = &cfg.listeners[1];
    assert_int_equal(l->bind.kind, DP_CONFIG_ADDRESS_IPV4);
    assert_false(l->bind.wildcard);
    assert_int_equal(l->bind.port, 8080);
    assert_int_equal(in4(&l->bind)->sin_family, AF_INET);
    assert_int_equal(ntohl(in4(&l->bind)->sin_addr.s_addr), 0xc0a8012a);
    assert_null(l->tag);
    assert_null(l->interface);
    assert_false(l->reuse_port || l->free_bind || l->keepalive);
    assert_int_equal(l->ack_timeout_ms, 0);
    assert_int_equal(l->line, 11);

    l = &cfg.listeners[2];
    assert_int_equal(l->line, 14);
    assert_int_equal(l->bind.kind, DP_CONFIG_ADDRESS_IPV6);
    assert_int_equal(l->bind.port, 8443);
    assert_memory_equal(&in6(&l->bind)->sin6_addr, &in6addr_loopback, 16);
    assert_true(l->v6only);
    assert_int_equal(l->ack_timeout_ms, 1500);
    assert_int_equal(l->n_translation_sockets, 2);
    assert_int_equal(l->translation_sockets[0].kind,
                     DP_CONFIG_ADDRESS_ABSTRACT);
    assert_string_equal(l->translation_sockets[0].text, "@t1");
    assert_int_equal(l->translation_sockets[1].kind, DP_CONFIG_ADDRESS_LOCAL);
    assert_string_equal(un(&l->translation_sockets[1])->sun_path,
                        "/run/t2.sock");

    l = &cfg.listeners[3];
    assert_int_equal(l->bind.kind, DP_CONFIG_ADDRESS_ABSTRACT);
    assert_int_equal(un(&l->bind)->sun_family, AF_LOCAL);
    assert_int_equal(un(&l->bind)->sun_path[0], 0);
    assert_memory_equal(un(&l->bind)->sun_path + 1, "portier-http", 12);
    assert_int_equal(l->bind.addr_len,
                     offsetof(struct sockaddr_un, sun_path) + 13);
    assert_int_equal(l->bind.port, 0);
    dp_config_free(&cfg);
}

static void
test_addresses(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        enum dp_config_address_kind kind;
        uint16_t port;
        const char *ip; /* expected address, inet_ntop form */
    } ok[] = {
        {"*", DP_CONFIG_ADDRESS_IPV6, 80, "::"},
        {"*:0", DP_CONFIG_ADDRESS_IPV6, 0, "::"},
        {"*:65535", DP_CONFIG_ADDRESS_IPV6, 65535, "::"},
        {"127.0.0.1", DP_CONFIG_ADDRESS_IPV4, 80, "127.0.0.1"},
        {"0.0.0.0:8080", DP_CONFIG_ADDRESS_IPV4, 8080, "0.0.0.0"},
        {"[::]", DP_CONFIG_ADDRESS_IPV6, 80, "::"},
        {"[2001:db8::7]:443", DP_CONFIG_ADDRESS_IPV6, 443, "2001:db8::7"},
        {"2001:db8::7", DP_CONFIG_ADDRESS_IPV6, 80, "2001:db8::7"},
        {"::1", DP_CONFIG_ADDRESS_IPV6, 80, "::1"},
        {"[fe80::1%3]:81", DP_CONFIG_ADDRESS_IPV6, 81, "fe80::1"},
        {"/run/portier.sock", DP_CONFIG_ADDRESS_LOCAL, 0, NULL},
        {"@x", DP_CONFIG_ADDRESS_ABSTRACT, 0, NULL},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct dp_config_address a;
        char why[200] = "";
        int r = dp_config_parse_address(ok[i].text, 80, false, &a, why,
                                        sizeof(why));
        if (r != 0)
            print_error("%s: %s\n", ok[i].text, why);
        assert_int_equal(r, 0);
        assert_int_equal(a.kind, ok[i].kind);
        assert_int_equal(a.port, ok[i].port);
        if (ok[i].ip != NULL) {
            char buf[INET6_ADDRSTRLEN];
            const void *src = a.kind == DP_CONFIG_ADDRESS_IPV4
                                  ? (const void *)&in4(&a)->sin_addr
                                  : (const void *)&in6(&a)->sin6_addr;
            int af = a.kind == DP_CONFIG_ADDRESS_IPV4 ? AF_INET : AF_INET6;
            assert_non_null(inet_ntop(af, src, buf, sizeof(buf)));
            assert_string_equal(buf, ok[i].ip);
        }
    }
    struct dp_config_address a;
    char why[200];
    assert_int_equal(dp_config_parse_address("[fe80::1%3]:81", 80, false, &a,
                                             why, sizeof(why)),
                     0);
    assert_int_equal(in6(&a)->sin6_scope_id, 3);

    /* the longest path that fits, and one byte more */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 2];
    memset(path, 'a', sizeof(path));
    path[0] = '/';
    path[sizeof(path) - 2] = '\0'; /* 108 bytes: too long */
    assert_int_equal(
        dp_config_parse_address(path, 80, false, &a, why, sizeof(why)),
        -EINVAL);
    path[sizeof(path) - 3] = '\0'; /* 107 bytes + NUL */
    assert_int_equal(
        dp_config_parse_address(path, 80, false, &a, why, sizeof(why)), 0);
    assert_int_equal(a.addr_len, sizeof(struct sockaddr_un));

    static const struct {
        const char *text;
        bool local_only;
        const char *why;
    } bad[] = {
        {"", false, "empty address"},
        {"@", false, "empty abstract socket name after '@'"},
        {"localhost:80", false,
         "'localhost' is not a numeric IPv4 or IPv6 address (host names "
         "are not resolved; IPv6 goes in brackets: '[::1]:80')"},
        {"1.2.3.4:65536", false,
         "invalid port '65536' (expected 0 to "
         "65535)"},
        {"1.2.3.4:", false, "invalid port '' (expected 0 to 65535)"},
        {"1.2.3.4:+80", false,
         "invalid port '+80' (expected 0 to "
         "65535)"},
        {"*:http", false, "invalid port 'http' (expected 0 to 65535)"},
        {"[::1", false, "missing ']' in '[::1'"},
        {"[::1]80", false, "expected ':PORT' after ']' in '[::1]80'"},
        {"[1.2.3.4]:80", false,
         "'1.2.3.4' is not a numeric IPv4 or IPv6 "
         "address (host names are not resolved; IPv6 goes in brackets: "
         "'[::1]:80')"},
        {"[fe80::1%eth0]", false,
         "'fe80::1%eth0' is not a numeric IPv4 "
         "or IPv6 address (host names are not resolved; IPv6 goes in "
         "brackets: '[::1]:80')"},
        {"1.2.3:80", false,
         "'1.2.3' is not a numeric IPv4 or IPv6 "
         "address (host names are not resolved; IPv6 goes in brackets: "
         "'[::1]:80')"},
        {"*:80", true,
         "'*:80' is not a local socket address (expected "
         "'/path' or '@name')"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = dp_config_parse_address(bad[i].text, 80, bad[i].local_only, &a,
                                        why, sizeof(why));
        assert_int_equal(r, -EINVAL);
        assert_string_equal(why, bad[i].why);
    }
}

static void
test_translation_sockets(void **state)
{
    (void)state;
    struct dp_config cfg;
    parse_ok("translation_socket \"@translation1\"\n"
             "translation_socket '/run/cm4all/translation.sock'\n"
             "translation_socket \"@translation2\"\n",
             &cfg);
    assert_int_equal(cfg.n_translation_sockets, 3);
    assert_string_equal(cfg.translation_sockets[0].text, "@translation1");
    assert_int_equal(cfg.translation_sockets[0].kind,
                     DP_CONFIG_ADDRESS_ABSTRACT);
    assert_string_equal(cfg.translation_sockets[1].text,
                        "/run/cm4all/translation.sock");
    assert_int_equal(cfg.translation_sockets[1].kind, DP_CONFIG_ADDRESS_LOCAL);
    assert_string_equal(cfg.translation_sockets[2].text, "@translation2");
    dp_config_free(&cfg);

    expect_error("translation_socket \"127.0.0.1:8080\"\n",
                 "portierd.conf:1: invalid translation_socket: "
                 "'127.0.0.1:8080' is not a local socket address "
                 "(expected '/path' or '@name')");

    /* the limit */
    char text[4096] = "";
    for (int i = 0; i <= DP_CONFIG_MAX_TRANSLATION_SOCKETS; i++) {
        char line[64];
        snprintf(line, sizeof(line), "translation_socket \"@t%d\"\n", i);
        strcat(text, line);
    }
    expect_error(text, "portierd.conf:33: more than 32 translation "
                       "sockets");
}

static void
test_comments_blanks_quoting(void **state)
{
    (void)state;
    struct dp_config cfg;
    parse_ok("# a comment\n"
             "\n"
             "   \t# indented comment\n"
             "listener {   # trailing comment\r\n"
             "  bind \"*:81\"# right after the quote\n"
             "  tag 'a \"b\" ${c} #d'\n"
             "\n"
             "  # comment inside the block\n"
             "}\r\n"
             "listener{\n"
             "  bind 127.0.0.1:82\n"
             "  tag foo-bar.baz_1:2\n"
             "}",
             &cfg);
    assert_int_equal(cfg.n_listeners, 2);
    assert_int_equal(cfg.listeners[0].bind.port, 81);
    assert_string_equal(cfg.listeners[0].tag, "a \"b\" ${c} #d");
    assert_int_equal(cfg.listeners[1].bind.port, 82);
    assert_int_equal(cfg.listeners[1].bind.kind, DP_CONFIG_ADDRESS_IPV4);
    assert_string_equal(cfg.listeners[1].tag, "foo-bar.baz_1:2");
    assert_int_equal(cfg.listeners[1].line, 10);
    dp_config_free(&cfg);
}

static void
test_variables(void **state)
{
    (void)state;
    struct dp_config cfg;
    parse_ok("@set foo = \"192.168.1.42\"\n"
             "@set bar = \"${foo}:80\"\n"
             "@set tag='t${foo}'\n"
             "@set empty = \"\"\n"
             "@set plain = abc\n"
             "listener {\n"
             "  bind \"${bar}\"\n"
             "  tag \"${empty}[${plain}]$x$${plain}\"\n"
             "}\n"
             "@set bar = \"[::1]:${plain}\"\n"
             "@set plain = 8080\n"
             "listener {\n"
             "  bind \"[::1]:${plain}\"\n"
             "  tag ${tag}\n"
             "}\n",
             &cfg);
    assert_int_equal(cfg.n_listeners, 2);
    assert_string_equal(cfg.listeners[0].bind.text, "192.168.1.42:80");
    assert_int_equal(cfg.listeners[0].bind.kind, DP_CONFIG_ADDRESS_IPV4);
    assert_string_equal(cfg.listeners[0].tag, "[abc]$x$abc");
    assert_string_equal(cfg.listeners[1].bind.text, "[::1]:8080");
    assert_int_equal(cfg.listeners[1].bind.port, 8080);
    /* single quotes are literal, also in @set */
    assert_string_equal(cfg.listeners[1].tag, "t${foo}");
    dp_config_free(&cfg);

    expect_error("listener {\n  bind \"${nope}:80\"\n}\n",
                 "portierd.conf:2: undefined variable 'nope'");
    expect_error("@set a = \"${a}\"\n",
                 "portierd.conf:1: undefined variable 'a'");
    expect_error("@set a = \"x\"\nlistener {\n  tag \"${a\"\n}\n",
                 "portierd.conf:3: missing '}' after the variable name");
    expect_error("@set a = \"x\"\nlistener {\n  tag \"${}\"\n}\n",
                 "portierd.conf:3: expected a variable name after '${'");
    expect_error("@set a-b = \"x\"\n",
                 "portierd.conf:1: unexpected character '-' in a variable "
                 "name (letters, digits and '_')");
    expect_error("@set = \"x\"\n",
                 "portierd.conf:1: expected a variable name after '@set'");
    expect_error("@set a \"x\"\n",
                 "portierd.conf:1: expected '=' after the variable name");
    expect_error("@set a =\n", "portierd.conf:1: expected a value after '='");
    expect_error("@set a = \"x\" y\n",
                 "portierd.conf:1: unexpected 'y' at the end of the line");
}

static void
test_settings_unsupported_and_unknown(void **state)
{
    (void)state;
    expect_error("\nset verbose_response = \"yes\"\n",
                 "portierd.conf:2: setting 'verbose_response' is not "
                 "supported yet");
    expect_error("set foo = \"1\"\n", "portierd.conf:1: unknown setting 'foo'");
    expect_error_ex("set foo = \"1\"\n",
                    "portierd.conf:1: unknown setting 'foo'", true);
    expect_error("set = \"1\"\n",
                 "portierd.conf:1: expected a setting name after 'set', "
                 "found '='");

    /* every setting of the table is either accepted or named */
    size_t n;
    const struct dp_setting_info *t = dp_config_setting_table(&n);
    assert_true(n >= 20);
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++)
            assert_string_not_equal(t[i].name, t[j].name);
        if (t[i].supported)
            continue;
        char text[200], expected[200];
        snprintf(text, sizeof(text), "set %s = \"1\"\n", t[i].name);
        snprintf(expected, sizeof(expected),
                 "portierd.conf:1: setting "
                 "'%s' is not supported yet",
                 t[i].name);
        expect_error(text, expected);
    }
}

static void
test_settings_values(void **state)
{
    (void)state;
    struct dp_config cfg;
    parse_ok_ex("set session_cookie = \"sid\"\n"
                "set session_cookie_same_site = \"lax\"\n"
                "set dynamic_session_cookie = yes\n"
                "set session_idle_timeout = \"1 h 30 min\"\n"
                "set session_save_path = \"/var/lib/portier/sessions\"\n"
                "set max_connections = \"1048576\"\n"
                "set tcp_stock_limit = 0\n"
                "set http_cache_size = \"16 GB\"\n"
                "set http_cache_obey_no_cache = \"no\"\n"
                "set filter_cache_size = \"64kB\"\n"
                "set nfs_cache_size = 0\n"
                "set translate_cache_size = 0\n"
                "set translate_stock_limit=\"8\"\n"
                "set verbose_response = 'yes'\n"
                "set translate_stock_limit = 9\n",
                &cfg, true);
    const struct dp_config_settings *s = &cfg.settings;
    assert_string_equal(s->session_cookie, "sid");
    assert_string_equal(s->session_cookie_same_site, "lax");
    assert_true(s->dynamic_session_cookie);
    assert_int_equal(s->session_idle_timeout, 5400000);
    assert_string_equal(s->session_save_path, "/var/lib/portier/sessions");
    assert_int_equal(s->max_connections, 1048576);
    assert_int_equal(s->tcp_stock_limit, 0);
    assert_int_equal(s->http_cache_size, 16ull << 30);
    assert_false(s->http_cache_obey_no_cache);
    assert_int_equal(s->filter_cache_size, 65536);
    assert_int_equal(s->nfs_cache_size, 0);
    assert_int_equal(s->translate_cache_size, 0);
    assert_int_equal(s->translate_stock_limit, 9); /* the last one wins */
    assert_true(s->verbose_response);
    dp_config_free(&cfg);

    static const struct {
        const char *text;
        const char *error;
    } bad[] = {
        {"set max_connections = \"0\"",
         "invalid value '0' for setting 'max_connections': expected an "
         "integer from 1 to 1048576"},
        {"set max_connections = \"1048577\"",
         "invalid value '1048577' for setting 'max_connections': expected "
         "an integer from 1 to 1048576"},
        {"set max_connections = \"-1\"",
         "invalid value '-1' for setting 'max_connections': expected an "
         "integer from 1 to 1048576"},
        {"set max_connections = \"99999999999999999999999\"",
         "invalid value '99999999999999999999999' for setting "
         "'max_connections': expected an integer from 1 to 1048576"},
        {"set max_connections = \" 5\"",
         "invalid value ' 5' for setting 'max_connections': expected an "
         "integer from 1 to 1048576"},
        {"set max_connections = \"\"",
         "empty value for setting 'max_connections'"},
        {"set verbose_response = \"true\"",
         "invalid value 'true' for setting 'verbose_response': expected "
         "yes or no"},
        {"set session_cookie_same_site = \"none\"",
         "invalid value 'none' for setting 'session_cookie_same_site': "
         "expected one of strict|lax"},
        {"set http_cache_size = \"1 TB\"",
         "invalid value '1 TB' for setting 'http_cache_size': unknown unit "
         "'TB' (expected kB, MB or GB)"},
        {"set http_cache_size = \"1025 GB\"",
         "invalid value '1025 GB' for setting 'http_cache_size': more than "
         "the maximum of 1099511627776 bytes"},
        {"set http_cache_size = \"1kb\"",
         "invalid value '1kb' for setting 'http_cache_size': unknown unit "
         "'kb' (expected kB, MB or GB)"},
        {"set http_cache_size = \"MB\"",
         "invalid value 'MB' for setting 'http_cache_size': expected a "
         "size in bytes, optionally followed by kB, MB or GB"},
        {"set http_cache_size = \"1.5 GB\"",
         "invalid value '1.5 GB' for setting 'http_cache_size': expected a "
         "size in bytes, optionally followed by kB, MB or GB"},
        {"set session_idle_timeout = \"0\"",
         "invalid value '0' for setting 'session_idle_timeout': expected a "
         "duration from 1 s to 2592000 s"},
        {"set session_idle_timeout = \"5 fortnights\"",
         "invalid value '5 fortnights' for setting 'session_idle_timeout': "
         "unknown unit 'fortnights' (expected a duration such as '30 s', "
         "'500 ms' or '5 minutes' (units: ms, s, min, h, d; no unit means "
         "seconds))"},
        {"set session_idle_timeout = \"1 2\"",
         "invalid value '1 2' for setting 'session_idle_timeout': expected "
         "a duration such as '30 s', '500 ms' or '5 minutes' (units: ms, s, "
         "min, h, d; no unit means seconds)"},
        {"set session_cookie = ''", "empty value for setting 'session_cookie'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char expected[600];
        snprintf(expected, sizeof(expected), "portierd.conf:1: %s",
                 bad[i].error);
        expect_error_ex(bad[i].text, expected, true);
    }
}

static void
test_size_and_duration(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t value;
    } sizes[] = {
        {"0", 0},
        {"1", 1},
        {"1kB", 1024},
        {"2 kB", 2048},
        {"3\tMB", 3u << 20},
        {"4GB ", 4ull << 30},
        {"1024 GB", 1ull << 40},
    };
    char why[300];
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        uint64_t v = 99;
        assert_int_equal(dp_config_parse_size(sizes[i].text, 1ull << 40, &v,
                                              why, sizeof(why)),
                         0);
        assert_int_equal(v, sizes[i].value);
    }
    uint64_t v;
    assert_int_equal(dp_config_parse_size("18446744073709551615 kB", UINT64_MAX,
                                          &v, why, sizeof(why)),
                     -EINVAL);
    assert_string_equal(why, "more than the maximum of "
                             "18446744073709551615 bytes");
    assert_int_equal(dp_config_parse_size("18446744073709551616", UINT64_MAX,
                                          &v, why, sizeof(why)),
                     -EINVAL);
    assert_int_equal(dp_config_parse_size("", 10, &v, why, sizeof(why)),
                     -EINVAL);

    static const struct {
        const char *text;
        uint64_t ms;
    } durations[] = {
        {"30", 30000},         {"30 s", 30000},
        {"30s", 30000},        {"2 seconds", 2000},
        {"1 second", 1000},    {"250 ms", 250},
        {"5 minutes", 300000}, {"5 min", 300000},
        {"1 minute", 60000},   {"2 h", 7200000},
        {"1 hour", 3600000},   {"1 d", 86400000},
        {"2 days", 172800000}, {" 1 h 1 min 1 s 1 ms ", 3661001},
    };
    for (size_t i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
        v = 0;
        int r = dp_config_parse_duration(durations[i].text, 0, UINT64_MAX, &v,
                                         why, sizeof(why));
        if (r != 0)
            print_error("%s: %s\n", durations[i].text, why);
        assert_int_equal(r, 0);
        assert_int_equal(v, durations[i].ms);
    }
    static const char *const bad[] = {
        "",
        " ",
        "s",
        "1 2",
        "1 s 2",
        "-1 s",
        "1.5 s",
        "1 S",
        "1 sec x",
        "99999999999999999999 d",
        "18446744073709551 d",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = dp_config_parse_duration(bad[i], 0, UINT64_MAX, &v, why,
                                         sizeof(why));
        if (r == 0)
            print_error("accepted: '%s'\n", bad[i]);
        assert_int_equal(r, -EINVAL);
        assert_true(why[0] != '\0');
    }
    assert_int_equal(
        dp_config_parse_duration("999 ms", 1000, 2000, &v, why, sizeof(why)),
        -EINVAL);
    assert_string_equal(why, "expected a duration from 1 s to 2 s");
    assert_int_equal(
        dp_config_parse_duration("1 ms", 2, 1500, &v, why, sizeof(why)),
        -EINVAL);
    assert_string_equal(why, "expected a duration from 2 ms to 1500 ms");
}

/* Every error of the language, with its exact text. */
static void
test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *error;
    } cases[] = {
        /* keywords */
        {"foo\n", "portierd.conf:1: unknown keyword 'foo'"},
        {"\n\n  bar \"x\"\n", "portierd.conf:3: unknown keyword 'bar'"},
        /* control blocks */
        {"control {\n", "portierd.conf:1: control block is not closed at "
                        "the end of the file"},
        {"control {\n}\n", "portierd.conf:2: control block (opened at "
                           "line 1) has no 'bind' address"},
        {"control {\n  foo \"x\"\n}\n",
         "portierd.conf:2: unknown control option 'foo'"},
        {"control {\n  bind \"@a\"\n  bind \"@b\"\n}\n",
         "portierd.conf:3: control option 'bind' given twice"},
        {"control {\n  bind \"127.0.0.1:99999\"\n}\n",
         "portierd.conf:2: invalid control bind address: invalid port "
         "'99999' (expected 0 to 65535)"},
        {"control {\n  bind \"0.0.0.0\"\n  multicast_group "
         "\"10.0.0.1\"\n}\n",
         "portierd.conf:3: invalid multicast_group '10.0.0.1': not an IPv4 "
         "(224.0.0.0/4) or IPv6 (ff00::/8) multicast address"},
        {"control {\n  bind \"0.0.0.0\"\n  multicast_group "
         "\"224.0.0.1:5\"\n}\n",
         "portierd.conf:3: invalid multicast_group '224.0.0.1:5': a group "
         "has no port (the port is the one of 'bind')"},
        {"control {\n  bind \"@c\"\n  multicast_group "
         "\"224.0.0.1\"\n}\n",
         "portierd.conf:4: control option 'multicast_group' needs a UDP "
         "bind address, not a local socket"},
        {"control {\n  bind \"0.0.0.0\"\n  interface \"lo\"\n}\n",
         "portierd.conf:4: control option 'interface' needs a "
         "'multicast_group' (it names where the group is joined)"},
        {"control {\n  bind \"*\"\n  multicast_group "
         "\"224.0.0.1\"\n}\n",
         "portierd.conf:4: multicast_group '224.0.0.1' and bind address "
         "'*' are of different IP versions (write 0.0.0.0 for an IPv4 "
         "group; '*' is IPv6)"},
        {"control {\n  bind \"0.0.0.0\"\n  multicast_group "
         "\"224.0.0.1\"\n  interface \"a/b\"\n}\n",
         "portierd.conf:4: invalid interface name 'a/b' (1 to 15 bytes, "
         "no '/')"},
        {"control {\n  bind \"@x\"\n}\ncontrol {\n  bind \"@x\"\n}\n",
         "portierd.conf:6: control block binds '@x' like the control block "
         "at portierd.conf:1"},
        {"access_logger {\n", "portierd.conf:1: block 'access_logger' is "
                              "not supported yet"},
        {"child_error_logger {\n", "portierd.conf:1: block "
                                   "'child_error_logger' is not supported yet"},
        {"spawn {\n", "portierd.conf:1: spawn block is not closed at the "
                      "end of the file"},
        {"ssl_client {\n", "portierd.conf:1: ssl_client block is not "
                           "closed at the end of the file"},
        {"ssl_client {\n cert \"a\"\n}\n",
         "portierd.conf:2: 'cert' needs a certificate file, a key file and "
         "optionally a name"},
        {"ssl_client {\n cert \"a\" \"b\" \"n\" \"x\"\n}\n",
         "portierd.conf:2: too many values for 'cert' (a certificate file, a "
         "key file and optionally a name)"},
        {"ssl_client {\n cert \"a\" \"\"\n}\n",
         "portierd.conf:2: empty value for 'cert'"},
        {"ssl_client {\n key \"a\"\n}\n",
         "portierd.conf:2: unknown ssl_client option 'key' (expected "
         "'cert')"},
        {"ssl_client {\n cert \"a\" \"b\" n\n}\nssl_client {\n"
         " cert \"c\" \"d\" n\n}\n",
         "portierd.conf:5: ssl_client certificate name 'n' is already used "
         "at portierd.conf:2"},
        {"emulate_mod_auth_easy yes\n",
         "portierd.conf:1: "
         "'emulate_mod_auth_easy' is not supported yet"},
        {"\"listener\" {\n", "portierd.conf:1: expected a keyword, found "
                             "'\"'"},
        {"@foo\n", "portierd.conf:1: unknown directive '@foo'"},
        {"@\n", "portierd.conf:1: expected a directive name after '@'"},
        {"@ set x = \"y\"\n",
         "portierd.conf:1: expected a directive name after '@'"},
        /* blocks */
        {"listener\n", "portierd.conf:1: expected '{' after 'listener'"},
        {"listener {bind \"*\"\n", "portierd.conf:1: unexpected 'bind "
                                   "\"*\"' at the end of the line"},
        {"listener {\n  bind \"*\"\n", "portierd.conf:1: listener block is "
                                       "not closed at the end of the file"},
        {"listener {\n  bind \"*\" }\n", "portierd.conf:2: unexpected '}' "
                                         "at the end of the line"},
        {"}\n", "portierd.conf:1: '}' without an open block"},
        {"listener {\n}\n", "portierd.conf:2: listener (opened at line 1) "
                            "has no 'bind' address"},
        {"listener {\n bind \"*\"\n} x\n", "portierd.conf:3: unexpected 'x' "
                                           "at the end of the line"},
        {"listener {\n listener {\n", "portierd.conf:2: unknown listener "
                                      "option 'listener'"},
        /* listener options */
        {"listener {\n foo \"x\"\n}\n", "portierd.conf:2: unknown listener "
                                        "option 'foo'"},
        {"listener {\n bind \"*\"\n ssl yes\n}\n",
         "portierd.conf:4: listener (opened at line 1) has 'ssl yes' but "
         "no 'ssl_cert'"},
        {"listener {\n bind \"*\"\n ssl_cert \"a\" \"b\"\n}\n",
         "portierd.conf:4: listener (opened at line 1): option 'ssl_cert' "
         "needs 'ssl yes'"},
        {"listener {\n bind \"*\"\n sts yes\n}\n",
         "portierd.conf:4: listener (opened at line 1): option 'sts' "
         "needs 'ssl yes'"},
        {"listener {\n bind \"*\"\n redirect-http yes\n}\n",
         "portierd.conf:4: listener (opened at line 1): option "
         "'redirect-http' needs 'ssl yes'"},
        {"listener {\n ssl maybe\n}\n",
         "portierd.conf:2: invalid value 'maybe' for 'ssl': expected yes "
         "or no"},
        {"listener {\n ssl yes\n ssl no\n}\n",
         "portierd.conf:3: listener option 'ssl' given twice"},
        {"listener {\n ssl_cert \"a\"\n}\n",
         "portierd.conf:2: 'ssl_cert' needs a certificate file and a key "
         "file"},
        {"listener {\n ssl_cert\n}\n",
         "portierd.conf:2: 'ssl_cert' needs a certificate file and a key "
         "file"},
        {"listener {\n ssl_cert \"a\" \"b\" \"c\"\n}\n",
         "portierd.conf:2: too many values for 'ssl_cert' (a certificate "
         "file and a key file)"},
        {"listener {\n ssl_cert \"a\" b#c\n}\n",
         "portierd.conf:2: unexpected character '#' in an unquoted value "
         "(only letters, digits and '_.-:' may stand without quotes)"},
        {"listener {\n ssl_verify sometimes\n}\n",
         "portierd.conf:2: invalid value 'sometimes' for 'ssl_verify': "
         "expected yes, no or optional"},
        {"listener {\n bind \"*\"\n ssl yes\n ssl_cert a b\n"
         " ssl_verify yes\n}\n",
         "portierd.conf:6: listener (opened at line 1): 'ssl_verify yes' "
         "needs 'ssl_ca_cert' (the CA that signs client certificates)"},
        {"listener {\n bind \"*\"\n ssl yes\n ssl_cert a b\n"
         " ssl_verify optional\n}\n",
         "portierd.conf:6: listener (opened at line 1): 'ssl_verify "
         "optional' needs 'ssl_ca_cert' (the CA that signs client "
         "certificates)"},
        {"listener {\n bind \"*\"\n ssl yes\n ssl_cert a b\n"
         " ssl_ca_cert ca\n}\n",
         "portierd.conf:6: listener (opened at line 1): 'ssl_ca_cert' has "
         "no effect without 'ssl_verify yes' or 'ssl_verify optional'"},
        {"listener {\n zeroconf_service \"x\"\n}\n",
         "portierd.conf:2: "
         "listener option 'zeroconf_service' is not supported yet"},
        {"listener {\n auth_alt_host yes\n}\n",
         "portierd.conf:2: listener "
         "option 'auth_alt_host' is not supported yet"},
        {"listener {\n bind \"*\"\n bind \"*:81\"\n}\n",
         "portierd.conf:3: "
         "listener option 'bind' given twice"},
        {"listener {\n tag \"a\"\n tag \"b\"\n}\n",
         "portierd.conf:3: "
         "listener option 'tag' given twice"},
        {"listener {\n bind *:80\n}\n",
         "portierd.conf:2: expected a value "
         "for 'bind', found '*' (quote values with other characters than "
         "letters, digits and '_.-:')"},
        {"listener {\n bind a#b\n}\n",
         "portierd.conf:2: unexpected "
         "character '#' in an unquoted value (only letters, digits and "
         "'_.-:' may stand without quotes)"},
        {"listener {\n bind 1.2.3.4/8\n}\n",
         "portierd.conf:2: unexpected "
         "character '/' in an unquoted value (only letters, digits and "
         "'_.-:' may stand without quotes)"},
        {"listener {\n bind\n}\n", "portierd.conf:2: expected a value for "
                                   "'bind'"},
        {"listener {\n bind # comment\n}\n", "portierd.conf:2: expected a "
                                             "value for 'bind'"},
        {"listener {\n bind \"\"\n}\n", "portierd.conf:2: empty value for "
                                        "'bind'"},
        {"listener {\n bind \"*:80\n}\n", "portierd.conf:2: missing closing "
                                          "double quote"},
        {"listener {\n bind '*:80\n}\n", "portierd.conf:2: missing closing "
                                         "single quote"},
        {"listener {\n bind \"*:80\"x\n}\n",
         "portierd.conf:2: unexpected "
         "character 'x' after a value for 'bind'"},
        {"listener {\n bind \"*:80\" \"x\"\n}\n",
         "portierd.conf:2: "
         "unexpected '\"x\"' at the end of the line"},
        {"listener {\n bind \"host.example:80\"\n}\n",
         "portierd.conf:2: "
         "invalid bind address: 'host.example' is not a numeric IPv4 or "
         "IPv6 address (host names are not resolved; IPv6 goes in "
         "brackets: '[::1]:80')"},
        {"listener {\n bind \"*\"\n keepalive maybe\n}\n",
         "portierd.conf:3: invalid value 'maybe' for 'keepalive': expected "
         "yes or no"},
        {"listener {\n bind \"*\"\n reuse_port \"YES\"\n}\n",
         "portierd.conf:3: invalid value 'YES' for 'reuse_port': expected "
         "yes or no"},
        {"listener {\n bind \"*\"\n ack_timeout 0\n}\n",
         "portierd.conf:3: invalid value '0' for 'ack_timeout': expected a "
         "duration from 1 ms to 86400 s"},
        {"listener {\n bind \"*\"\n ack_timeout \"soon\"\n}\n",
         "portierd.conf:3: invalid value 'soon' for 'ack_timeout': expected "
         "a duration such as '30 s', '500 ms' or '5 minutes' (units: ms, s, "
         "min, h, d; no unit means seconds)"},
        {"listener {\n bind \"*\"\n interface \"a-very-long-name0\"\n}\n",
         "portierd.conf:3: invalid interface name 'a-very-long-name0' (at "
         "most 15 bytes, no '/')"},
        {"listener {\n bind \"1.2.3.4\"\n v6only yes\n}\n",
         "portierd.conf:4: listener option 'v6only' needs an IPv6 bind "
         "address"},
        {"listener {\n bind \"/run/x.sock\"\n keepalive yes\n}\n",
         "portierd.conf:4: listener option 'keepalive' needs an IP bind "
         "address, not a local socket"},
        {"listener {\n bind \"@x\"\n interface \"lo\"\n}\n",
         "portierd.conf:4: listener option 'interface' needs an IP bind "
         "address, not a local socket"},
        {"listener {\n bind \"*\"\n translation_socket \"1.2.3.4:9\"\n}\n",
         "portierd.conf:3: invalid translation_socket: '1.2.3.4:9' is not a "
         "local socket address (expected '/path' or '@name')"},
        {"listener {\n bind \"*:80\"\n}\nlistener {\n bind \"[::]\"\n}\n",
         "portierd.conf:6: listener binds '[::]' like the listener at "
         "portierd.conf:1 (set 'reuse_port yes' in both to share the "
         "address)"},
        {"listener {\n bind \"@a\"\n reuse_port yes\n}\n"
         "listener {\n bind \"@a\"\n}\n",
         "portierd.conf:7: listener binds '@a' like the listener at "
         "portierd.conf:1 (set 'reuse_port yes' in both to share the "
         "address)"},
        /* set */
        {"set max_connections \"5\"\n", "portierd.conf:1: expected '=' "
                                        "after the setting name"},
        {"set\n", "portierd.conf:1: expected a setting name after 'set'"},
        /* includes need files */
        {"@include \"x.conf\"\n",
         "portierd.conf:1: '@include' is not "
         "available here (the text is parsed without file access)"},
        {"@include_optional \"x.conf\"\n",
         "portierd.conf:1: "
         "'@include_optional' is not available here (the text is parsed "
         "without file access)"},
        {"@include\n", "portierd.conf:1: expected a value for '@include'"},
        /* bytes */
        {"listener {\n bind \"\x01\"\n}\n",
         "portierd.conf:2: invalid bind "
         "address: '\\x01' is not a numeric IPv4 or IPv6 address (host "
         "names are not resolved; IPv6 goes in brackets: '[::1]:80')"},
        {"\xff\n", "portierd.conf:1: expected a keyword, found '\\xff'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_error(cases[i].text, cases[i].error);

    /* a NUL byte */
    struct dp_config cfg;
    struct dp_config_error err;
    dp_config_init(&cfg);
    static const uint8_t nul[] = "# ok\nlistener {\n bind \"*\0\"\n}\n";
    assert_int_equal(
        dp_config_parse_buffer("x.conf", nul, sizeof(nul) - 1, &cfg, &err),
        -EINVAL);
    assert_string_equal(err.text, "x.conf:3: NUL byte in the text");
    assert_string_equal(err.file, "x.conf");
    assert_int_equal(err.line, 3);
    assert_int_equal(err.column, 9);
    assert_string_equal(err.message, "NUL byte in the text");
    dp_config_free(&cfg);

    /* the column */
    assert_int_equal(parse_ex("listener {\n  bind \"*\"\n  fo \"x\"\n}\n", &cfg,
                              &err, false),
                     -EINVAL);
    assert_int_equal(err.line, 3);
    assert_int_equal(err.column, 3);
    dp_config_free(&cfg);

    /* a long value is cut in the message */
    char text[8000];
    snprintf(text, sizeof(text), "set session_cookie_same_site = \"%0200d\"",
             7);
    assert_int_equal(parse_ex(text, &cfg, &err, true), -EINVAL);
    assert_non_null(strstr(err.text, "0000...' for setting"));
    dp_config_free(&cfg);

    /* a value over the limit */
    int n = snprintf(text, sizeof(text), "set session_cookie = \"");
    memset(text + n, 'a', DP_CONFIG_MAX_STRING + 1);
    strcpy(text + n + DP_CONFIG_MAX_STRING + 1, "\"\n");
    assert_int_equal(parse_ex(text, &cfg, &err, true), -EINVAL);
    assert_string_equal(err.text, "portierd.conf:1: value longer than 4096 "
                                  "bytes");
    dp_config_free(&cfg);
    text[n + DP_CONFIG_MAX_STRING] = '"';
    text[n + DP_CONFIG_MAX_STRING + 1] = '\0';
    assert_int_equal(parse_ex(text, &cfg, &err, true), 0);
    assert_int_equal(strlen(cfg.settings.session_cookie), DP_CONFIG_MAX_STRING);
    dp_config_free(&cfg);
}

static void
test_control(void **state)
{
    (void)state;
    struct dp_config cfg;
    parse_ok("control {\n"
             "  bind \"@portier-control\"\n"
             "}\n"
             "control {\n"
             "  bind \"/run/portier/control\"\n"
             "}\n"
             "control {\n"
             "  bind \"127.0.0.1\"\n"
             "}\n"
             "control {\n"
             "  bind \"0.0.0.0:7000\"\n"
             "  multicast_group \"239.192.0.1\"\n"
             "  interface \"lo\"\n"
             "}\n"
             "control {\n"
             "  bind \"*\"\n"
             "  multicast_group \"ff02::1:5\"\n"
             "}\n",
             &cfg);
    assert_int_equal(cfg.n_controls, 5);
    const struct dp_config_control *c = cfg.controls;
    assert_int_equal(c[0].bind.kind, DP_CONFIG_ADDRESS_ABSTRACT);
    assert_string_equal(c[0].bind.text, "@portier-control");
    assert_int_equal(c[0].multicast_group.kind, 0);
    assert_null(c[0].interface);
    assert_int_equal(c[0].line, 1);
    assert_int_equal(c[1].bind.kind, DP_CONFIG_ADDRESS_LOCAL);
    assert_string_equal(un(&c[1].bind)->sun_path, "/run/portier/control");
    assert_int_equal(c[2].bind.kind, DP_CONFIG_ADDRESS_IPV4);
    assert_int_equal(c[2].bind.port, 5478);
    assert_int_equal(ntohs(in4(&c[2].bind)->sin_port), 5478);
    assert_int_equal(c[3].bind.port, 7000);
    assert_int_equal(c[3].multicast_group.kind, DP_CONFIG_ADDRESS_IPV4);
    assert_int_equal(ntohl(in4(&c[3].multicast_group)->sin_addr.s_addr),
                     0xefc00001u);
    assert_string_equal(c[3].interface, "lo");
    assert_int_equal(c[3].line, 10);
    assert_int_equal(c[4].bind.kind, DP_CONFIG_ADDRESS_IPV6);
    assert_true(c[4].bind.wildcard);
    assert_int_equal(c[4].bind.port, 5478);
    assert_int_equal(c[4].multicast_group.kind, DP_CONFIG_ADDRESS_IPV6);
    assert_int_equal(in6(&c[4].multicast_group)->sin6_addr.s6_addr[0],
                     0xff);
    /* Listeners are not affected. */
    assert_int_equal(cfg.n_listeners, 0);
    dp_config_free(&cfg);
    assert_int_equal(cfg.n_controls, 0);
}

static void
test_spawn(void **state)
{
    (void)state;
    struct dp_config cfg;
    parse_ok_ex("spawn {\n  default_user \"www-data\"\n"
                "  allow_user \"www-data\"\n  allow_user 1000\n"
                "  allow_user \"2000-2999\"\n  allow_user 2147483648-\n"
                "  allow_group \"nogroup\"\n  allow_group \"100-\"\n}\n",
                &cfg, false);
    const struct dp_config_spawn *sp = &cfg.spawn;
    assert_true(sp->present);
    assert_int_equal(sp->line, 1);
    assert_true(sp->has_default_user);
    assert_string_equal(sp->default_user.name, "www-data");
    assert_int_equal(sp->n_allow_users, 4);
    assert_string_equal(sp->allow_users[0].name, "www-data");
    assert_int_equal(sp->allow_users[0].line, 3);
    assert_null(sp->allow_users[1].name);
    assert_int_equal(sp->allow_users[1].first, 1000);
    assert_int_equal(sp->allow_users[1].last, 1000);
    assert_int_equal(sp->allow_users[2].first, 2000);
    assert_int_equal(sp->allow_users[2].last, 2999);
    assert_int_equal(sp->allow_users[3].first, 2147483648u);
    assert_int_equal(sp->allow_users[3].last, UINT32_MAX - 1);
    assert_int_equal(sp->n_allow_groups, 2);
    assert_string_equal(sp->allow_groups[0].name, "nogroup");
    assert_int_equal(sp->allow_groups[1].first, 100);
    assert_int_equal(sp->allow_groups[1].file[0], 'p');
    dp_config_free(&cfg);

    parse_ok_ex("set workers = \"2\"\n", &cfg, false);
    assert_false(cfg.spawn.present);
    dp_config_free(&cfg);

    static const struct {
        const char *text, *error;
    } cases[] = {
        {"spawn {\n  allow_user \"2000-1000\"\n}\n",
         "portierd.conf:2: invalid allow_user '2000-1000': the range ends "
         "before it starts"},
        {"spawn {\n  allow_user \"4294967295\"\n}\n",
         "portierd.conf:2: invalid allow_user '4294967295': a number from 0 "
         "to 4294967294"},
        {"spawn {\n  allow_group \"10-x\"\n}\n",
         "portierd.conf:2: invalid allow_group '10-x': the end of the range "
         "is not a number from 0 to 4294967294"},
        {"spawn {\n  allow_user \"a b\"\n}\n",
         "portierd.conf:2: invalid allow_user 'a b': expected a name, a "
         "number or a range (1000-1999, 2000-)"},
        {"spawn {\n  default_user \"100-\"\n}\n",
         "portierd.conf:2: invalid default_user '100-': expected a name, a "
         "number"},
        {"spawn {\n  default_user \"a\"\n  default_user \"b\"\n}\n",
         "portierd.conf:3: spawn option 'default_user' given twice"},
        {"spawn {\n  MemoryMax \"16 GB\"\n}\n",
         "portierd.conf:2: spawn option 'MemoryMax' is not supported yet"},
        {"spawn {\n  allow \"x\"\n}\n",
         "portierd.conf:2: unknown spawn option 'allow'"},
        {"spawn {\n}\nspawn {\n}\n",
         "portierd.conf:3: a second spawn block (the first is at "
         "portierd.conf:1)"},
        {"spawn {\n  allow_user\n}\n",
         "portierd.conf:2: expected a value for 'allow_user'"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_error(cases[i].text, cases[i].error);
}

static void
test_listener_limit(void **state)
{
    (void)state;
    size_t size = (DP_CONFIG_MAX_LISTENERS + 1) * 40 + 1;
    char *text = malloc(size);
    assert_non_null(text);
    size_t len = 0;
    for (int i = 0; i <= DP_CONFIG_MAX_LISTENERS; i++)
        len += (size_t)snprintf(text + len, size - len,
                                "listener {\nbind \"*:%d\"\n}\n", 1000 + i);
    expect_error(text, "portierd.conf:769: more than 256 listeners");
    free(text);
}

/* The repeatable options of the spawn and ssl_client blocks: at most 256
 * lines each, the 256th still taken. */
static void
test_repeat_limits(void **state)
{
    (void)state;
    const struct {
        const char *open, *before, *after, *error; /* before N after */
        int max;
    } cases[] = {
        {"spawn {\n", "allow_user ", "",
         "portierd.conf:258: more than 256 'allow_user' lines",
         DP_CONFIG_MAX_SPAWN_IDS},
        {"spawn {\n", "allow_group ", "",
         "portierd.conf:258: more than 256 'allow_group' lines",
         DP_CONFIG_MAX_SPAWN_IDS},
        {"ssl_client {\n", "cert \"c\" \"k\" \"n", "\"",
         "portierd.conf:258: more than 256 'cert' lines",
         DP_CONFIG_MAX_SSL_CERTS},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        size_t size = (size_t)(cases[k].max + 1) * 40 + 64;
        char *text = malloc(size);
        assert_non_null(text);
        size_t len = (size_t)snprintf(text, size, "%s", cases[k].open);
        for (int i = 0; i < cases[k].max; i++)
            len += (size_t)snprintf(text + len, size - len, "%s%d%s\n",
                                    cases[k].before, 1000 + i,
                                    cases[k].after);
        snprintf(text + len, size - len, "}\n");
        if (k == 0) {
            struct dp_config cfg;
            struct dp_config_error err;
            assert_int_equal(parse_ex(text, &cfg, &err, false), 0);
            assert_int_equal(cfg.spawn.n_allow_users, cases[k].max);
            assert_int_equal(cfg.spawn.allow_users[255].first, 1255);
            dp_config_free(&cfg);
        }
        len += (size_t)snprintf(text + len, size - len, "%s%d%s\n",
                                cases[k].before, 7, cases[k].after);
        snprintf(text + len, size - len, "}\n");
        expect_error(text, cases[k].error);
        free(text);
    }
}

static void
test_add_listen_and_finish(void **state)
{
    (void)state;
    struct dp_config cfg;
    struct dp_config_error err;
    dp_config_init(&cfg);
    assert_int_equal(dp_config_finish(&cfg, &err), 0);
    assert_int_equal(cfg.n_listeners, 1);
    assert_string_equal(cfg.listeners[0].bind.text, "*:80");
    assert_true(cfg.listeners[0].bind.wildcard);
    assert_int_equal(cfg.n_translation_sockets, 1);
    assert_string_equal(cfg.translation_sockets[0].text, "@translation");
    assert_int_equal(cfg.translation_sockets[0].kind,
                     DP_CONFIG_ADDRESS_ABSTRACT);
    dp_config_free(&cfg);

    dp_config_init(&cfg);
    assert_int_equal(dp_config_add_listen(&cfg, "127.0.0.1:8080", &err), 0);
    assert_int_equal(dp_config_add_listen(&cfg, "[::1]", &err), 0);
    assert_int_equal(
        dp_config_add_translation_socket(&cfg, "/run/t.sock", &err), 0);
    assert_int_equal(dp_config_finish(&cfg, &err), 0);
    /* the same address twice: fine with reuse_port in both, or port 0 */
    struct dp_config other;
    parse_ok("listener {\n bind \"*:81\"\n reuse_port yes\n}\n"
             "listener {\n bind \"*:81\"\n reuse_port yes\n}\n"
             "listener {\n bind \"*:0\"\n}\n"
             "listener {\n bind \"*:0\"\n}\n"
             "listener {\n bind \"127.0.0.1:81\"\n}\n",
             &other);
    assert_int_equal(other.n_listeners, 5);
    assert_int_equal(dp_config_add_listen(&other, "127.0.0.1:81", &err),
                     -EINVAL);
    assert_string_equal(err.text, "--listen: '127.0.0.1:81' is already "
                                  "bound by the listener at "
                                  "portierd.conf:15");
    dp_config_free(&other);
    assert_int_equal(dp_config_add_listen(&cfg, "127.0.0.1:8080", &err),
                     -EINVAL);
    assert_string_equal(err.text, "--listen: '127.0.0.1:8080' is already "
                                  "bound by the listener at --listen");

    assert_int_equal(cfg.n_listeners, 2);
    assert_int_equal(cfg.listeners[0].bind.port, 8080);
    assert_string_equal(cfg.listeners[0].file, "--listen");
    assert_int_equal(cfg.listeners[0].line, 0);
    assert_int_equal(cfg.listeners[1].bind.port, 80);
    assert_int_equal(cfg.n_translation_sockets, 1);
    assert_string_equal(cfg.translation_sockets[0].text, "/run/t.sock");

    assert_int_equal(dp_config_add_listen(&cfg, "nowhere:80", &err), -EINVAL);
    assert_string_equal(err.text,
                        "--listen: 'nowhere' is not a numeric "
                        "IPv4 or IPv6 address (host names are not resolved;"
                        " IPv6 goes in brackets: '[::1]:80')");
    assert_string_equal(err.file, "");
    assert_int_equal(err.line, 0);
    assert_int_equal(dp_config_add_translation_socket(&cfg, "*:80", &err),
                     -EINVAL);
    assert_string_equal(err.text, "--translation-socket: '*:80' is not a "
                                  "local socket address (expected '/path' or "
                                  "'@name')");
    assert_int_equal(cfg.n_listeners, 2);
    assert_int_equal(cfg.n_translation_sockets, 1);
    dp_config_free(&cfg);
    assert_int_equal(cfg.n_listeners, 0);
    assert_null(cfg.listeners);
}

/* ------------------------------------------------------------------ */
/* Files. */

/* "dir/name" into out; fails the test when it does not fit. */
static void
join(char *out, size_t size, const char *dir, const char *name)
{
    int n = snprintf(out, size, "%s/%s", dir, name);
    assert_true(n > 0 && (size_t)n < size);
}

struct tmpdir {
    char path[256];
    char files[64][PATH_MAX];
    unsigned n_files;
    char dirs[8][PATH_MAX];
    unsigned n_dirs;
};

static void
tmp_file(struct tmpdir *t, const char *name, const char *text)
{
    assert_true(t->n_files < 64);
    char *p = t->files[t->n_files++];
    char buf[PATH_MAX];
    join(buf, sizeof(buf), t->path, name);
    memcpy(p, buf, PATH_MAX);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

static void
tmp_dir(struct tmpdir *t, const char *name)
{
    assert_true(t->n_dirs < 8);
    char *p = t->dirs[t->n_dirs++];
    char buf[PATH_MAX];
    join(buf, sizeof(buf), t->path, name);
    memcpy(p, buf, PATH_MAX);
    assert_int_equal(mkdir(p, 0700), 0);
}

static int
tmp_setup(void **state)
{
    struct tmpdir *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -1;
    snprintf(t->path, sizeof(t->path), "%s/test_dp_config.XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(t->path) == NULL) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static int
tmp_teardown(void **state)
{
    struct tmpdir *t = *state;
    for (unsigned i = 0; i < t->n_files; i++)
        unlink(t->files[i]);
    for (unsigned i = t->n_dirs; i > 0; i--)
        rmdir(t->dirs[i - 1]);
    int r = rmdir(t->path);
    free(t);
    return r;
}

static int
load(struct tmpdir *t, const char *name, struct dp_config *cfg,
     struct dp_config_error *err)
{
    char path[PATH_MAX];
    join(path, sizeof(path), t->path, name);
    dp_config_init(cfg);
    memset(err, 0, sizeof(*err));
    return dp_config_load_file(path, cfg, err);
}

/* err->text with the temporary directory replaced by "T". */
static const char *
relative(struct tmpdir *t, const struct dp_config_error *err)
{
    static char out[2000];
    size_t plen = strlen(t->path);
    size_t o = 0;
    for (const char *p = err->text; *p != '\0' && o + 2 < sizeof(out);) {
        if (strncmp(p, t->path, plen) == 0) {
            out[o++] = 'T';
            p += plen;
        } else {
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
    return out;
}

static void
expect_load_error(struct tmpdir *t, const char *name, int code,
                  const char *expected)
{
    struct dp_config cfg;
    struct dp_config_error err;
    int r = load(t, name, &cfg, &err);
    if (r != code || strcmp(relative(t, &err), expected) != 0)
        print_error("expected (%d) %s\ngot (%d) %s\n", code, expected, r,
                    relative(t, &err));
    assert_int_equal(r, code);
    assert_string_equal(relative(t, &err), expected);
    dp_config_free(&cfg);
}

static void
test_include(void **state)
{
    struct tmpdir *t = *state;
    tmp_dir(t, "conf.d");
    tmp_dir(t, "empty.d");
    tmp_dir(t, "sub");
    tmp_file(t, "main.conf",
             "@set port = \"81\"\n"
             "@include \"sub/a.conf\"\n"
             "@include_optional \"missing.conf\"\n"
             "@include_optional \"nodir/missing.conf\"\n"
             "@include_optional \"nodir/*.conf\"\n"
             "@include \"conf.d/*.conf\"\n"
             "@include \"empty.d/*.conf\"\n"
             "listener {\n"
             "  bind \"*:${port}\"\n"
             "  @include \"sub/options.inc\"\n"
             "}\n"
             "translation_socket \"${ts}\"\n");
    /* relative to the including file: sub/b.conf */
    tmp_file(t, "sub/a.conf", "@include 'b.conf'\n");
    tmp_file(t, "sub/b.conf", "@set ts = \"@from-b\"\n");
    tmp_file(t, "sub/options.inc", "tag \"inc\"\nkeepalive yes\n");
    tmp_file(t, "conf.d/20-b.conf",
             "listener {\n  bind \"*:20\"\n}\n@set port = \"82\"\n");
    tmp_file(t, "conf.d/10-a.conf", "listener {\n  bind \"*:10\"\n}\n");
    tmp_file(t, "conf.d/a.conf", "listener {\n  bind \"*:40\"\n}\n");
    tmp_file(t, "conf.d/Z.conf", "listener {\n  bind \"*:30\"\n}\n");
    tmp_file(t, "conf.d/30-c.conf.disabled", "garbage\n");
    tmp_file(t, "conf.d/.hidden.conf", "garbage\n");

    struct dp_config cfg;
    struct dp_config_error err;
    int r = load(t, "main.conf", &cfg, &err);
    if (r != 0)
        print_error("%s\n", err.text);
    assert_int_equal(r, 0);
    assert_int_equal(cfg.n_listeners, 5);
    /* wildcards are expanded in byte order */
    assert_int_equal(cfg.listeners[0].bind.port, 10);
    assert_int_equal(cfg.listeners[1].bind.port, 20);
    assert_int_equal(cfg.listeners[2].bind.port, 30);
    assert_int_equal(cfg.listeners[3].bind.port, 40);
    /* variables set in included files stay set */
    assert_int_equal(cfg.listeners[4].bind.port, 82);
    assert_string_equal(cfg.listeners[4].tag, "inc");
    assert_true(cfg.listeners[4].keepalive);
    assert_int_equal(cfg.listeners[4].line, 8);
    char expected[PATH_MAX];
    join(expected, sizeof(expected), t->path, "conf.d/10-a.conf");
    assert_string_equal(cfg.listeners[0].file, expected);
    assert_int_equal(cfg.n_translation_sockets, 1);
    assert_string_equal(cfg.translation_sockets[0].text, "@from-b");
    dp_config_free(&cfg);

    /* errors name the file they are in */
    tmp_file(t, "bad1.conf", "# x\n@include \"sub/bad2.conf\"\n");
    tmp_file(t, "sub/bad2.conf", "\n\nset foo = \"1\"\n");
    expect_load_error(t, "bad1.conf", -EINVAL,
                      "T/sub/bad2.conf:3: unknown setting 'foo'");

    /* a missing file */
    expect_load_error(t, "nothing.conf", -ENOENT,
                      "T/nothing.conf: cannot open: No such file or "
                      "directory");
    tmp_file(t, "bad3.conf", "\n@include \"missing.conf\"\n");
    expect_load_error(t, "bad3.conf", -ENOENT,
                      "T/bad3.conf:2: cannot open 'T/missing.conf': No such "
                      "file or directory");
    /* a wildcard in a directory that does not exist */
    tmp_file(t, "bad4.conf", "@include \"nodir/*.conf\"\n");
    expect_load_error(t, "bad4.conf", -EINVAL,
                      "T/bad4.conf:1: no directory 'T/nodir' for "
                      "'@include \"nodir/*.conf\"'");
    tmp_file(t, "bad5.conf", "@include \"*/x.conf\"\n");
    expect_load_error(t, "bad5.conf", -EINVAL,
                      "T/bad5.conf:1: wildcards are allowed in the last "
                      "component of '*/x.conf' only");
    /* a directory is not a file, also when a wildcard matches it */
    tmp_file(t, "bad6.conf", "@include \"sub\"\n");
    expect_load_error(t, "bad6.conf", -EINVAL,
                      "T/bad6.conf:1: 'T/sub' is not a regular file");
    tmp_file(t, "bad7.conf", "@include_optional \"s?b\"\n");
    expect_load_error(t, "bad7.conf", -EINVAL,
                      "T/bad7.conf:1: 'T/sub' is not a regular file");
    expect_load_error(t, "sub", -EINVAL,
                      "T/sub: 'T/sub' is not a regular file");
    tmp_file(t, "bad10.conf", "@include_optional \"sub\"\n");
    expect_load_error(t, "bad10.conf", -EINVAL,
                      "T/bad10.conf:1: 'T/sub' is not a regular file");

    /* blocks end in the file that opened them */
    tmp_file(t, "bad8.conf", "listener {\n  @include \"close.inc\"\n");
    tmp_file(t, "close.inc", "  bind \"*\"\n}\n");
    expect_load_error(t, "bad8.conf", -EINVAL,
                      "T/close.inc:2: '}' closes a block opened in another "
                      "file");
    tmp_file(t, "bad9.conf", "@include \"open.inc\"\n}\n");
    tmp_file(t, "open.inc", "\nlistener {\n  bind \"*\"\n");
    expect_load_error(t, "bad9.conf", -EINVAL,
                      "T/open.inc:2: listener block is not closed at the end "
                      "of the file");
}

static void
test_include_cycles(void **state)
{
    struct tmpdir *t = *state;
    tmp_file(t, "self.conf", "\n@include \"self.conf\"\n");
    expect_load_error(t, "self.conf", -ELOOP,
                      "T/self.conf:2: 'T/self.conf' includes itself "
                      "(include cycle)");
    tmp_file(t, "a.conf", "@include \"b.conf\"\n");
    tmp_file(t, "b.conf", "@set x = \"1\"\n@include \"./a.conf\"\n");
    expect_load_error(t, "a.conf", -ELOOP,
                      "T/b.conf:2: 'T/./a.conf' includes itself (include "
                      "cycle)");

    /* a chain as deep as allowed, then one level more */
    for (int i = 1; i <= DP_CONFIG_MAX_INCLUDE_DEPTH + 1; i++) {
        char name[32], text[64];
        snprintf(name, sizeof(name), "d%d.conf", i);
        snprintf(text, sizeof(text), "@include_optional \"d%d.conf\"\n", i + 1);
        tmp_file(t, name, text);
    }
    /* d2 .. d17 are 16 levels (d18 is optional and missing): fine */
    char path[PATH_MAX];
    join(path, sizeof(path), t->path, "d2.conf");
    struct dp_config cfg;
    struct dp_config_error err;
    dp_config_init(&cfg);
    int r = dp_config_load_file(path, &cfg, &err);
    if (r != 0)
        print_error("%s\n", err.text);
    assert_int_equal(r, 0);
    dp_config_free(&cfg);
    /* from d1, d17 would be the 17th level */
    expect_load_error(t, "d1.conf", -ELOOP,
                      "T/d16.conf:1: '@include' nested more than 16 levels "
                      "deep");
}

static void
test_limits(void **state)
{
    struct tmpdir *t = *state;
    /* a file of exactly the maximum size loads; one byte more does not */
    size_t size = DP_CONFIG_MAX_FILE_SIZE + 1;
    char *text = malloc(size + 1);
    assert_non_null(text);
    memset(text, '#', size);
    text[size - 2] = '\n';
    text[size - 1] = '\n';
    text[size] = '\0';
    tmp_file(t, "big.conf", text);
    expect_load_error(t, "big.conf", -EFBIG,
                      "T/big.conf: 'T/big.conf' is larger than 1048576 "
                      "bytes");
    text[size - 1] = '\0';
    tmp_file(t, "max.conf", text);
    struct dp_config cfg;
    struct dp_config_error err;
    assert_int_equal(load(t, "max.conf", &cfg, &err), 0);
    dp_config_free(&cfg);
    free(text);

    /* variables */
    size = (DP_CONFIG_MAX_VARIABLES + 1) * 32;
    text = malloc(size);
    assert_non_null(text);
    size_t len = 0;
    for (int i = 0; i <= DP_CONFIG_MAX_VARIABLES; i++)
        len +=
            (size_t)snprintf(text + len, size - len, "@set v%d = \"x\"\n", i);
    expect_error(text, "portierd.conf:1025: more than 1024 variables");
    /* redefining one does not count */
    len = 0;
    for (int i = 0; i <= DP_CONFIG_MAX_VARIABLES; i++)
        len += (size_t)snprintf(text + len, size - len, "@set v%d = \"x\"\n",
                                i % 10);
    parse_ok(text, &cfg);
    dp_config_free(&cfg);
    free(text);
}

static void
test_tls_options(void **state)
{
    (void)state;
    struct dp_config cfg;
    parse_ok_ex("@set dir = \"/etc/ssl\"\n"
                "listener {\n"
                "  bind \"*:443\"\n"
                "  ssl yes\n"
                "  ssl_cert \"${dir}/a.pem\" \"${dir}/a.key\"\n"
                "  ssl_cert b.pem 'b.key'\n"
                "  ssl_verify optional\n"
                "  ssl_ca_cert \"/etc/ssl/ca.pem\"\n"
                "  sts yes\n"
                "  redirect-http yes\n"
                "}\n"
                "listener {\n"
                "  bind \"*:80\"\n"
                "}\n"
                "ssl_client {\n"
                "  cert \"c.pem\" \"c.key\"\n"
                "  cert \"d.pem\" \"d.key\" \"thename\"  # named\n"
                "}\n",
                &cfg, false);
    assert_int_equal(cfg.n_listeners, 2);
    const struct dp_config_listener *l = &cfg.listeners[0];
    assert_true(l->ssl);
    assert_int_equal(l->n_ssl_certs, 2);
    assert_string_equal(l->ssl_certs[0].cert, "/etc/ssl/a.pem");
    assert_string_equal(l->ssl_certs[0].key, "/etc/ssl/a.key");
    assert_null(l->ssl_certs[0].name);
    assert_string_equal(l->ssl_certs[0].file, "portierd.conf");
    assert_int_equal(l->ssl_certs[0].line, 5);
    assert_string_equal(l->ssl_certs[1].cert, "b.pem");
    assert_string_equal(l->ssl_certs[1].key, "b.key");
    assert_int_equal(l->ssl_certs[1].line, 6);
    assert_int_equal(l->ssl_verify, DP_CONFIG_SSL_VERIFY_OPTIONAL);
    assert_string_equal(l->ssl_ca_cert, "/etc/ssl/ca.pem");
    assert_int_equal(l->ssl_ca_cert_line, 8);
    assert_true(l->sts);
    assert_true(l->redirect_http);
    const struct dp_config_listener *p = &cfg.listeners[1];
    assert_false(p->ssl);
    assert_int_equal(p->n_ssl_certs, 0);
    assert_int_equal(p->ssl_verify, DP_CONFIG_SSL_VERIFY_NO);
    assert_false(p->sts);
    assert_int_equal(cfg.n_ssl_client_certs, 2);
    assert_string_equal(cfg.ssl_client_certs[0].cert, "c.pem");
    assert_null(cfg.ssl_client_certs[0].name);
    assert_string_equal(cfg.ssl_client_certs[1].key, "d.key");
    assert_string_equal(cfg.ssl_client_certs[1].name, "thename");
    assert_int_equal(cfg.ssl_client_certs[1].line, 17);
    dp_config_free(&cfg);

    /* ssl_verify yes, and no certificates for a plain listener */
    parse_ok_ex("listener {\n bind \"*\"\n ssl yes\n ssl_cert a b\n"
                " ssl_verify yes\n ssl_ca_cert ca\n}\n",
                &cfg, false);
    dp_config_free(&cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_listener_full),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_translation_sockets),
        cmocka_unit_test(test_comments_blanks_quoting),
        cmocka_unit_test(test_variables),
        cmocka_unit_test(test_settings_unsupported_and_unknown),
        cmocka_unit_test(test_settings_values),
        cmocka_unit_test(test_size_and_duration),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_control),
        cmocka_unit_test(test_spawn),
        cmocka_unit_test(test_listener_limit),
        cmocka_unit_test(test_repeat_limits),
        cmocka_unit_test(test_add_listen_and_finish),
        cmocka_unit_test(test_tls_options),
        cmocka_unit_test_setup_teardown(test_include, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_include_cycles, tmp_setup,
                                        tmp_teardown),
        cmocka_unit_test_setup_teardown(test_limits, tmp_setup, tmp_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
