/* Unit tests for ctl/ctl_args: portierctl's command table, --server ADDR
 * parsing and the datagrams built from the command line.  Datagrams are
 * compared with vectors written out byte by byte from spec/protocols.md §2
 * (magic 63 04 61 01, big-endian length and command, NUL padding to 4;
 * TCACHE_INVALIDATE payload packets big-endian too). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ctl_args.h"
#include "ctl_protocol.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* A string literal as (pointer, length), embedded NULs included. */
#define P(s) (const uint8_t *)(s), sizeof(s) - 1
#define MAGIC "\x63\x04\x61\x01"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

/* Parse a NULL-terminated argument list (without argv[0]). */
static int
parse(struct ctl_args *a, char *err, const char *first, ...)
{
    /* ctl_args_parse() takes argv as main() gets it: mutable copies */
    static char store[32][256];
    char *argv[32];
    int argc = 0;
    snprintf(store[argc], sizeof(store[argc]), "portierctl");
    argv[argc] = store[argc];
    argc++;
    va_list ap;
    va_start(ap, first);
    for (const char *s = first; s != NULL; s = va_arg(ap, const char *)) {
        assert_true(argc < (int)ARRAY_SIZE(argv) - 1);
        assert_true(strlen(s) < sizeof(store[argc]));
        snprintf(store[argc], sizeof(store[argc]), "%s", s);
        argv[argc] = store[argc];
        argc++;
    }
    va_end(ap);
    argv[argc] = NULL;
    return ctl_args_parse(a, argc, argv, err, CTL_ARGS_ERROR_SIZE);
}

#define PARSE(a, err, ...) parse(a, err, __VA_ARGS__, (const char *)NULL)

static void
expect_bytes(const struct pr_buf *b, const uint8_t *v, size_t len)
{
    assert_int_equal(b->len, len);
    assert_memory_equal(b->data, v, len);
}

/* The command line must give exactly this datagram. */
#define EXPECT_DGRAM(vec, ...)                                             \
    do {                                                                   \
        struct ctl_args a_;                                                \
        char err_[CTL_ARGS_ERROR_SIZE];                                    \
        assert_int_equal(PARSE(&a_, err_, __VA_ARGS__), 0);                \
        assert_string_equal(err_, "");                                     \
        assert_int_equal(a_.action, CTL_ARGS_SEND);                        \
        expect_bytes(&a_.datagram, P(vec));                                \
        ctl_args_free(&a_);                                                \
    } while (0)

/* The command line must be refused with exactly this message. */
#define EXPECT_USAGE(msg, ...)                                             \
    do {                                                                   \
        struct ctl_args a_;                                                \
        char err_[CTL_ARGS_ERROR_SIZE];                                    \
        assert_int_equal(PARSE(&a_, err_, __VA_ARGS__), -EINVAL);          \
        assert_string_equal(err_, msg);                                    \
        ctl_args_free(&a_);                                                \
    } while (0)

static void
addr_fails(const char *text, const char *msg)
{
    struct ctl_addr addr;
    char err[CTL_ARGS_ERROR_SIZE] = "";
    assert_int_equal(ctl_addr_parse(&addr, text, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, msg);
}

static void
addr_inet(const char *text, const char *host, const char *port,
          const char *iface)
{
    struct ctl_addr addr;
    char err[CTL_ARGS_ERROR_SIZE] = "";
    assert_int_equal(ctl_addr_parse(&addr, text, err, sizeof(err)), 0);
    assert_int_equal(addr.kind, CTL_ADDR_INET);
    assert_string_equal(addr.host, host);
    assert_string_equal(addr.port, port);
    assert_string_equal(addr.interface, iface);
    assert_string_equal(addr.text, text);
}

/* ------------------------------------------------------------------ */
/* The command table                                                   */

static void
test_table(void **state)
{
    (void)state;
    size_t n;
    const struct ctl_cli_command *t = ctl_cli_commands(&n);
    assert_true(n >= 20);
    for (size_t i = 0; i < n; i++) {
        const struct ctl_command_info *info = ctl_command_info(t[i].command);
        assert_non_null(info);
        assert_ptr_equal(ctl_cli_command_find(t[i].name), &t[i]);
        for (const char *p = t[i].name; *p != '\0'; p++)
            assert_true((*p >= 'a' && *p <= 'z') || *p == '-');
        assert_true(t[i].help[0] != '\0');
        assert_null(strchr(t[i].help, '\n'));
        assert_null(strchr(t[i].help, '|'));   /* Markdown table cell */
        assert_true(t[i].kind >= CTL_ARGS_K_NONE &&
                    t[i].kind <= CTL_ARGS_K_STATS);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(t[i].name, t[j].name);
    }
    assert_null(ctl_cli_command_find("NOP"));
    assert_null(ctl_cli_command_find("flush"));
}

/* Every command of spec §2.3 has a portierctl command, except the three
 * that cannot be sent usefully: NODE_STATUS and DUMP_POOLS (deprecated,
 * ignored), STOPWATCH_PIPE (needs a pipe passed with SCM_RIGHTS). */
static void
test_table_covers_protocol(void **state)
{
    (void)state;
    size_t n;
    const struct ctl_cli_command *t = ctl_cli_commands(&n);
    for (unsigned c = 0; c <= CTL_CMD_MAX; c++) {
        bool found = false;
        for (size_t i = 0; i < n; i++)
            found = found || t[i].command == c;
        bool excluded = c == CTL_CMD_NODE_STATUS ||
                        c == CTL_CMD_DUMP_POOLS ||
                        c == CTL_CMD_STOPWATCH_PIPE;
        if (found == excluded)
            fail_msg("command %u (%s): %s", c, ctl_command_name((uint16_t)c),
                     found ? "excluded but present" : "missing");
    }
}

static char *
capture(void (*writer)(FILE *))
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    assert_non_null(f);
    writer(f);
    assert_int_equal(fclose(f), 0);
    return text;
}

static void
test_help_texts(void **state)
{
    (void)state;
    char *usage = capture(ctl_args_usage);
    char *md = capture(ctl_args_markdown);
    size_t n;
    const struct ctl_cli_command *t = ctl_cli_commands(&n);
    for (size_t i = 0; i < n; i++) {
        char line[128];
        snprintf(line, sizeof(line), "\n  %s%s%s\n", t[i].name,
                 t[i].synopsis[0] != '\0' ? " " : "", t[i].synopsis);
        assert_non_null(strstr(usage, line));
        snprintf(line, sizeof(line), "\n| `%s%s%s` | `%s` (%u) | ",
                 t[i].name, t[i].synopsis[0] != '\0' ? " " : "",
                 t[i].synopsis, ctl_command_name(t[i].command),
                 (unsigned)t[i].command);
        assert_non_null(strstr(md, line));
    }
    /* --help fits 80 columns */
    for (char *l = usage; *l != '\0';) {
        char *e = strchr(l, '\n');
        assert_non_null(e);
        assert_true(e - l <= 80);
        l = e + 1;
    }
    free(usage);
    free(md);
}

/* ------------------------------------------------------------------ */
/* --server ADDR                                                       */

static void
test_addr_local(void **state)
{
    (void)state;
    struct ctl_addr addr;
    char err[CTL_ARGS_ERROR_SIZE];
    size_t base = offsetof(struct sockaddr_un, sun_path);

    assert_int_equal(ctl_addr_parse(&addr, "@portier", err, sizeof(err)),
                     0);
    assert_int_equal(addr.kind, CTL_ADDR_LOCAL);
    assert_int_equal(addr.local.sun_family, AF_LOCAL);
    assert_int_equal(addr.local_len, base + 8);
    assert_memory_equal(addr.local.sun_path, "\0portier", 8);
    assert_string_equal(addr.text, "@portier");

    assert_int_equal(ctl_addr_parse(&addr, "/run/portier/ctl", err,
                                    sizeof(err)), 0);
    assert_int_equal(addr.kind, CTL_ADDR_LOCAL);
    assert_int_equal(addr.local_len, base + 17);
    assert_string_equal(addr.local.sun_path, "/run/portier/ctl");

    /* the longest names that fit: 107 bytes of text */
    char name[120];
    memset(name, 'a', sizeof(name));
    name[0] = '@';
    name[107] = '\0';
    assert_int_equal(ctl_addr_parse(&addr, name, err, sizeof(err)), 0);
    assert_int_equal(addr.local_len, base + 107);
    name[0] = '/';
    assert_int_equal(ctl_addr_parse(&addr, name, err, sizeof(err)), 0);
    assert_int_equal(addr.local_len, base + 108);
    name[107] = 'a';
    name[108] = '\0';
    assert_int_equal(ctl_addr_parse(&addr, name, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "is longer than 107 bytes"));

    addr_fails("@", "server address '@' has an empty abstract socket name");
    addr_fails("", "server address is empty");
}

static void
test_addr_inet(void **state)
{
    (void)state;
    addr_inet("localhost", "localhost", "5478", "");
    addr_inet("127.0.0.1:1234", "127.0.0.1", "1234", "");
    addr_inet("ctl.example.com:65535", "ctl.example.com", "65535", "");
    addr_inet("[::1]:5478", "::1", "5478", "");
    addr_inet("[::1]", "::1", "5478", "");
    addr_inet("::1", "::1", "5478", "");
    addr_inet("fe80::1%eth0", "fe80::1", "5478", "eth0");
    addr_inet("[ff02::1%eth0]:99", "ff02::1", "99", "eth0");
    addr_inet("224.0.0.1%lo", "224.0.0.1", "5478", "lo");
    addr_inet("239.1.2.3%eth1:5479", "239.1.2.3", "5479", "eth1");
}

static void
test_addr_errors(void **state)
{
    (void)state;
    addr_fails("host:", "server address 'host:': port must be a number "
                        "from 1 to 65535, got ''");
    addr_fails("host:0", "server address 'host:0': port must be a number "
                         "from 1 to 65535, got '0'");
    addr_fails("host:65536", "server address 'host:65536': port must be a "
                             "number from 1 to 65535, got '65536'");
    addr_fails("host:12a", "server address 'host:12a': port must be a "
                           "number from 1 to 65535, got '12a'");
    addr_fails("host:+80", "server address 'host:+80': port must be a "
                           "number from 1 to 65535, got '+80'");
    addr_fails("[::1", "server address '[::1' lacks the closing ']'");
    addr_fails("[::1]80", "server address '[::1]80': expected ':port' "
                          "after ']'");
    addr_fails("[]:80", "server address '[]:80' has an empty host");
    addr_fails(":80", "server address ':80' has an empty host");
    addr_fails("%lo", "server address '%lo' has an empty host");
    addr_fails("host%", "server address 'host%' has an empty interface "
                        "name after '%'");
    addr_fails("[ff02::1%]:80", "server address '[ff02::1%]:80' has an "
                                "empty interface name after '%'");
    addr_fails("239.1.2.3%averyverylongname", "server address "
               "'239.1.2.3%averyverylongname': interface name longer "
               "than 15 bytes");
}

/* ------------------------------------------------------------------ */
/* Datagrams                                                           */

static void
test_simple_commands(void **state)
{
    (void)state;
    EXPECT_DGRAM(MAGIC "\x00\x00\x00\x00", "nop");
    EXPECT_DGRAM(MAGIC "\x00\x00\x00\x0b", "flush-nfs-cache");
    EXPECT_DGRAM(MAGIC "\x00\x00\x00\x0a", "enable-zeroconf");
    EXPECT_DGRAM(MAGIC "\x00\x00\x00\x09", "disable-zeroconf");
    EXPECT_DGRAM(MAGIC "\x00\x00\x00\x13", "reload-state");
    /* the spec's example, with NUL padding instead of a space */
    EXPECT_DGRAM(MAGIC "\x00\x03\x00\x08" "foo\0", "fade-children", "foo");
    EXPECT_DGRAM(MAGIC "\x00\x00\x00\x08", "fade-children");
    EXPECT_DGRAM(MAGIC "\x00\x00\x00\x0f", "flush-http-cache");
    EXPECT_DGRAM(MAGIC "\x00\x04\x00\x0f" "tag1", "flush-http-cache",
                 "tag1");
    EXPECT_DGRAM(MAGIC "\x00\x00\x00\x0c", "flush-filter-cache");
    EXPECT_DGRAM(MAGIC "\x00\x05\x00\x0c" "tag12\0\0\0",
                 "flush-filter-cache", "tag12");
    EXPECT_DGRAM(MAGIC "\x00\x02\x00\x10" "ab\0\0", "terminate-children",
                 "ab");
    EXPECT_DGRAM(MAGIC "\x00\x03\x00\x0e" "s1d\0", "discard-session", "s1d");
    EXPECT_DGRAM(MAGIC "\x00\x01\x00\x07" "\x05\0\0\0", "verbose", "5");
    EXPECT_DGRAM(MAGIC "\x00\x01\x00\x07" "\xff\0\0\0", "verbose", "255");
    EXPECT_DGRAM(MAGIC "\x00\x01\x00\x07" "\x00\0\0\0", "verbose", "0");
    EXPECT_DGRAM(MAGIC "\x00\x03\x00\x1a" "red\0", "expire-tcache-tag",
                 "red");
    EXPECT_DGRAM(MAGIC "\x00\x04\x00\x16" "site", "reset-limiter", "site");
    EXPECT_DGRAM(MAGIC "\x00\x07\x00\x14" "account\0", "disconnect-database",
                 "account");
    EXPECT_DGRAM(MAGIC "\x00\x07\x00\x02" "node:80\0", "enable-node",
                 "node:80");
    EXPECT_DGRAM(MAGIC "\x00\x07\x00\x03" "node:80\0", "fade-node",
                 "node:80");
    EXPECT_DGRAM(MAGIC "\x00\x00\x00\x12", "enable-queue");
    EXPECT_DGRAM(MAGIC "\x00\x01\x00\x11" "q\0\0\0", "disable-queue", "q");
    EXPECT_DGRAM(MAGIC "\x00\x04\x00\x19" "p\0" "42", "cancel-job", "p",
                 "42");
}

static void
test_uring(void **state)
{
    (void)state;
    EXPECT_DGRAM(MAGIC "\x00\x00\x00\x15", "disable-uring");
    EXPECT_DGRAM(MAGIC "\x00\x04\x00\x15" "\x00\x00\x00\x1e",
                 "disable-uring", "30");
    EXPECT_DGRAM(MAGIC "\x00\x04\x00\x15" "\x00\x00\x0e\x10",
                 "disable-uring", "1h");
    EXPECT_DGRAM(MAGIC "\x00\x04\x00\x15" "\x00\x00\x00\x00",
                 "enable-uring");
}

static void
test_ban(void **state)
{
    (void)state;
    /* one packet per address: u32 BE seconds, then the address */
    EXPECT_DGRAM(MAGIC "\x00\x0c\x00\x17" "\x00\x00\x00\x3c" "10.0.0.1"
                       "\x00\x07\x00\x17" "\x00\x00\x00\x3c" "::1\0",
                 "reject-client", "1m", "10.0.0.1", "::1");
    EXPECT_DGRAM(MAGIC "\x00\x05\x00\x18" "\x00\x01\x51\x80" "a\0\0\0",
                 "tarpit-client", "1d", "a");
    EXPECT_DGRAM(MAGIC "\x00\x05\x00\x18" "\xff\xff\xff\xff" "a\0\0\0",
                 "tarpit-client", "4294967295", "a");
    EXPECT_USAGE("tarpit-client: DURATION must be a number of seconds (with "
                 "an optional unit s, m, h or d) below 2^32, got "
                 "'4294967296'", "tarpit-client", "4294967296", "a");
    EXPECT_USAGE("reject-client: DURATION must be a number of seconds (with "
                 "an optional unit s, m, h or d) below 2^32, got '10x'",
                 "reject-client", "10x", "a");
    EXPECT_USAGE("reject-client: missing argument (usage: portierctl "
                 "reject-client DURATION ADDRESS...)", "reject-client",
                 "10");
    EXPECT_USAGE("reject-client: REJECT_CLIENT: address must be printable "
                 "ASCII", "reject-client", "10", "a\tb");
}

static void
test_tcache(void **state)
{
    (void)state;
    /* HOST (3): 11 bytes + 1 padding; URI (4): 2 bytes + 2 padding */
    EXPECT_DGRAM(MAGIC "\x00\x18\x00\x01"
                       "\x00\x0b\x00\x03" "example.com\0"
                       "\x00\x02\x00\x04" "/x\0\0",
                 "tcache-invalidate", "HOST=example.com", "URI=/x");
    /* names are case-insensitive; ENOTDIR stands for ENOTDIR_ (130);
     * SITE (18) and CACHE_TAG (208); '=' inside a value stays */
    EXPECT_DGRAM(MAGIC "\x00\x18\x00\x01"
                       "\x00\x03\x00\x82" "a=b\0"
                       "\x00\x01\x00\x12" "s\0\0\0"
                       "\x00\x04\x00\xd0" "tag1",
                 "tcache-invalidate", "enotdir=a=b", "Site=s",
                 "CACHE_TAG=tag1");
    /* an empty value is a value */
    EXPECT_DGRAM(MAGIC "\x00\x04\x00\x01" "\x00\x00\x00\x12",
                 "tcache-invalidate", "SITE=");
    /* no argument: flush all */
    EXPECT_DGRAM(MAGIC "\x00\x00\x00\x01", "tcache-invalidate");

    EXPECT_USAGE("tcache-invalidate: unknown NAME 'FOO' (accepted: HOST, "
                 "URI, SESSION, PARAM, USER, LANGUAGE, REMOTE_HOST, SITE, "
                 "USER_AGENT, QUERY_STRING, ENOTDIR, LISTENER_TAG, "
                 "INTERNAL_REDIRECT, CACHE_TAG, REALM_SESSION)",
                 "tcache-invalidate", "FOO=1");
    EXPECT_USAGE("tcache-invalidate: unknown NAME 'STATUS' (accepted: HOST, "
                 "URI, SESSION, PARAM, USER, LANGUAGE, REMOTE_HOST, SITE, "
                 "USER_AGENT, QUERY_STRING, ENOTDIR, LISTENER_TAG, "
                 "INTERNAL_REDIRECT, CACHE_TAG, REALM_SESSION)",
                 "tcache-invalidate", "STATUS=200");
    EXPECT_USAGE("tcache-invalidate: 'HOST' is not NAME=VALUE",
                 "tcache-invalidate", "HOST");
    EXPECT_USAGE("tcache-invalidate: '=x' is not NAME=VALUE",
                 "tcache-invalidate", "=x");
}

static void
test_tcache_limit(void **state)
{
    (void)state;
    /* at most 32 match values (spec §2.3) */
    char prog[] = "portierctl", cmd[] = "tcache-invalidate", uri[] = "URI=/";
    char *argv[40];
    int argc = 0;
    argv[argc++] = prog;
    argv[argc++] = cmd;
    for (int i = 0; i < 33; i++)
        argv[argc++] = uri;
    struct ctl_args a;
    char err[CTL_ARGS_ERROR_SIZE];
    assert_int_equal(ctl_args_parse(&a, argc - 1, argv, err, sizeof(err)),
                     0);
    ctl_args_free(&a);
    assert_int_equal(ctl_args_parse(&a, argc, argv, err, sizeof(err)),
                     -EINVAL);
    assert_string_equal(err, "tcache-invalidate: more than 32 match values: "
                             "URI at payload offset 256");
    ctl_args_free(&a);
}

static void
test_stats(void **state)
{
    (void)state;
    struct ctl_args a;
    char err[CTL_ARGS_ERROR_SIZE];
    assert_int_equal(PARSE(&a, err, "stats"), 0);
    expect_bytes(&a.datagram, P(MAGIC "\x00\x00\x00\x06"));
    assert_false(a.json);
    assert_true(a.timeout == CTL_ARGS_DEFAULT_TIMEOUT);
    ctl_args_free(&a);

    assert_int_equal(PARSE(&a, err, "stats", "--json", "--timeout", "0.25"),
                     0);
    assert_true(a.json);
    assert_true(a.timeout == 0.25);
    ctl_args_free(&a);

    assert_int_equal(PARSE(&a, err, "--timeout=2", "stats"), 0);
    assert_true(a.timeout == 2.0);
    ctl_args_free(&a);

    assert_int_equal(PARSE(&a, err, "stats", "--timeout=3"), 0);
    assert_true(a.timeout == 3.0);
    ctl_args_free(&a);

    EXPECT_USAGE("stats: unexpected argument 'x' (usage: portierctl stats "
                 "[--json] [--timeout SECONDS])", "stats", "x");
    EXPECT_USAGE("stats: --timeout needs SECONDS", "stats", "--timeout");
    EXPECT_USAGE("--timeout: SECONDS must be a number above 0 and at most "
                 "3600, got '0'", "stats", "--timeout", "0");
    EXPECT_USAGE("--timeout: SECONDS must be a number above 0 and at most "
                 "3600, got 'nan'", "--timeout", "nan", "stats");
    EXPECT_USAGE("--timeout: SECONDS must be a number above 0 and at most "
                 "3600, got '3601'", "--timeout=3601", "stats");
    EXPECT_USAGE("--timeout: SECONDS must be a number above 0 and at most "
                 "3600, got '1s'", "--timeout", "1s", "stats");
}

/* ------------------------------------------------------------------ */
/* Options and usage errors                                            */

static void
test_options(void **state)
{
    (void)state;
    struct ctl_args a;
    char err[CTL_ARGS_ERROR_SIZE];

    assert_int_equal(PARSE(&a, err, "nop"), 0);
    assert_int_equal(a.server.kind, CTL_ADDR_LOCAL);
    assert_string_equal(a.server.text, CTL_ARGS_DEFAULT_SERVER);
    assert_string_equal(a.command->name, "nop");
    ctl_args_free(&a);

    assert_int_equal(PARSE(&a, err, "--server", "[::1]:99", "nop"), 0);
    assert_int_equal(a.server.kind, CTL_ADDR_INET);
    assert_string_equal(a.server.host, "::1");
    assert_string_equal(a.server.port, "99");
    ctl_args_free(&a);

    assert_int_equal(PARSE(&a, err, "--server=@x", "--", "nop"), 0);
    assert_string_equal(a.server.text, "@x");
    ctl_args_free(&a);

    /* after the command, a leading '-' is an argument */
    assert_int_equal(PARSE(&a, err, "fade-children", "-t"), 0);
    expect_bytes(&a.datagram, P(MAGIC "\x00\x02\x00\x08" "-t\0\0"));
    ctl_args_free(&a);

    assert_int_equal(PARSE(&a, err, "--help"), 0);
    assert_int_equal(a.action, CTL_ARGS_HELP);
    ctl_args_free(&a);
    assert_int_equal(PARSE(&a, err, "-h", "bogus"), 0);
    assert_int_equal(a.action, CTL_ARGS_HELP);
    ctl_args_free(&a);
    assert_int_equal(PARSE(&a, err, "--help-markdown"), 0);
    assert_int_equal(a.action, CTL_ARGS_HELP_MARKDOWN);
    ctl_args_free(&a);
    assert_int_equal(PARSE(&a, err, "--version"), 0);
    assert_int_equal(a.action, CTL_ARGS_VERSION);
    ctl_args_free(&a);
}

static void
test_usage_errors(void **state)
{
    (void)state;
    struct ctl_args a;
    char err[CTL_ARGS_ERROR_SIZE];
    char prog[] = "portierctl";
    char *argv[] = { prog, NULL };
    assert_int_equal(ctl_args_parse(&a, 1, argv, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "missing COMMAND (see portierctl --help)");
    ctl_args_free(&a);

    EXPECT_USAGE("unknown command 'flush' (see portierctl --help)", "flush");
    EXPECT_USAGE("unknown option '--json' (see portierctl --help)", "--json",
                 "stats");
    EXPECT_USAGE("--server needs a value", "--server");
    EXPECT_USAGE("server address 'h:0': port must be a number from 1 to "
                 "65535, got '0'", "--server", "h:0", "nop");
    EXPECT_USAGE("nop: takes no arguments", "nop", "x");
    EXPECT_USAGE("terminate-children: missing argument (usage: portierctl "
                 "terminate-children TAG)", "terminate-children");
    EXPECT_USAGE("terminate-children: TAG must not be empty",
                 "terminate-children", "");
    EXPECT_USAGE("fade-children: TAG must not be empty (leave it out to "
                 "mean all)", "fade-children", "");
    EXPECT_USAGE("fade-children: too many arguments (usage: portierctl "
                 "fade-children [TAG])", "fade-children", "a", "b");
    EXPECT_USAGE("verbose: LEVEL must be a number from 0 to 255, got '256'",
                 "verbose", "256");
    EXPECT_USAGE("verbose: LEVEL must be a number from 0 to 255, got '-1'",
                 "verbose", "-1");
    EXPECT_USAGE("verbose: missing argument (usage: portierctl verbose "
                 "LEVEL)", "verbose");
    EXPECT_USAGE("enable-node: ENABLE_NODE: payload must be \"node:port\"",
                 "enable-node", "node");
    EXPECT_USAGE("fade-node: FADE_NODE: port must be a number from 1 to "
                 "65535", "fade-node", "node:0");
    EXPECT_USAGE("cancel-job: missing argument (usage: portierctl "
                 "cancel-job PARTITION ID)", "cancel-job", "p");
    EXPECT_USAGE("cancel-job: CANCEL_JOB: payload must be \"partition\\0job\" "
                 "with both parts non-empty", "cancel-job", "", "1");
    EXPECT_USAGE("enable-uring: takes no arguments", "enable-uring", "1");
    EXPECT_USAGE("disable-uring: SECONDS must be a number of seconds (with "
                 "an optional unit s, m, h or d) below 2^32, got 'soon'",
                 "disable-uring", "soon");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_table_covers_protocol),
        cmocka_unit_test(test_help_texts),
        cmocka_unit_test(test_addr_local),
        cmocka_unit_test(test_addr_inet),
        cmocka_unit_test(test_addr_errors),
        cmocka_unit_test(test_simple_commands),
        cmocka_unit_test(test_uring),
        cmocka_unit_test(test_ban),
        cmocka_unit_test(test_tcache),
        cmocka_unit_test(test_tcache_limit),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_usage_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
