#include "ctl_args.h"

#include "ctl_protocol.h"
#include "pr_internal.h"
#include "tp_command.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ */
/* The command table                                                   */

static const struct ctl_cli_command cli_commands[] = {
#define CTL_X_CLI(cname, ccmd, ckind, csyn, chelp)                          \
    { .name = cname, .command = CTL_CMD_##ccmd, .kind = CTL_ARGS_K_##ckind, \
      .synopsis = csyn, .help = chelp },
    CTL_CLI_COMMANDS(CTL_X_CLI)
#undef CTL_X_CLI
};

#define CLI_COUNT (sizeof(cli_commands) / sizeof(cli_commands[0]))

const struct ctl_cli_command *
ctl_cli_commands(size_t *count)
{
    *count = CLI_COUNT;
    return cli_commands;
}

const struct ctl_cli_command *
ctl_cli_command_find(const char *name)
{
    for (size_t i = 0; i < CLI_COUNT; i++)
        if (strcmp(cli_commands[i].name, name) == 0)
            return &cli_commands[i];
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Messages                                                            */

static int
usage_error(char *err, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write a usage message into the caller's buffer; returns -EINVAL. */
static int
usage_error(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pr_verrf(err, size, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* ------------------------------------------------------------------ */
/* Server addresses                                                    */

/* "1".."65535" in decimal, nothing else. */
static bool
valid_port(const char *s, size_t len)
{
    if (len == 0 || len > 5)
        return false;
    unsigned long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

/* Store host[0..len) and split off "%interface". */
static int
set_host(struct ctl_addr *out, const char *host, size_t len, char *err,
         size_t err_size)
{
    const char *pct = memchr(host, '%', len);
    size_t host_len = pct != NULL ? (size_t)(pct - host) : len;
    if (host_len == 0)
        return usage_error(err, err_size,
                           "server address '%s' has an empty host",
                           out->text);
    if (host_len >= sizeof(out->host))
        return usage_error(err, err_size,
                           "server address '%s': host name longer than %zu "
                           "bytes", out->text, sizeof(out->host) - 1);
    memcpy(out->host, host, host_len);
    out->host[host_len] = '\0';
    if (pct != NULL) {
        size_t if_len = len - host_len - 1;
        if (if_len == 0)
            return usage_error(err, err_size,
                               "server address '%s' has an empty interface "
                               "name after '%%'", out->text);
        if (if_len >= sizeof(out->interface))
            return usage_error(err, err_size,
                               "server address '%s': interface name longer "
                               "than %zu bytes", out->text,
                               sizeof(out->interface) - 1);
        memcpy(out->interface, pct + 1, if_len);
        out->interface[if_len] = '\0';
    }
    return 0;
}

static int
set_port(struct ctl_addr *out, const char *port, char *err, size_t err_size)
{
    size_t len = strlen(port);
    if (!valid_port(port, len))
        return usage_error(err, err_size,
                           "server address '%s': port must be a number from "
                           "1 to 65535, got '%s'", out->text, port);
    memcpy(out->port, port, len + 1);
    return 0;
}

int
ctl_addr_parse(struct ctl_addr *out, const char *text, char *err,
               size_t err_size)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->text, sizeof(out->text), "%s", text);
    size_t len = strlen(text);
    if (len == 0)
        return usage_error(err, err_size, "server address is empty");

    if (text[0] == '@' || text[0] == '/') {
        out->kind = CTL_ADDR_LOCAL;
        out->local.sun_family = AF_LOCAL;
        /* A path needs its terminating NUL; an abstract name trades its
         * '@' for the leading NUL and has no terminator. */
        if (text[0] == '@' && len == 1)
            return usage_error(err, err_size,
                               "server address '@' has an empty abstract "
                               "socket name");
        if (len >= sizeof(out->local.sun_path))
            return usage_error(err, err_size,
                               "local socket address '%s' is longer than "
                               "%zu bytes", out->text,
                               sizeof(out->local.sun_path) - 1);
        memcpy(out->local.sun_path, text, len);
        if (text[0] == '@') {
            out->local.sun_path[0] = '\0';
            out->local_len = (socklen_t)(offsetof(struct sockaddr_un,
                                                  sun_path) + len);
        } else {
            out->local_len = (socklen_t)(offsetof(struct sockaddr_un,
                                                  sun_path) + len + 1);
        }
        return 0;
    }

    out->kind = CTL_ADDR_INET;
    snprintf(out->port, sizeof(out->port), "%d", CTL_DEFAULT_PORT);

    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (close == NULL)
            return usage_error(err, err_size,
                               "server address '%s' lacks the closing ']'",
                               out->text);
        int r = set_host(out, text + 1, (size_t)(close - text - 1), err,
                         err_size);
        if (r < 0)
            return r;
        if (close[1] == '\0')
            return 0;
        if (close[1] != ':')
            return usage_error(err, err_size,
                               "server address '%s': expected ':port' after "
                               "']'", out->text);
        return set_port(out, close + 2, err, err_size);
    }

    const char *colon = strchr(text, ':');
    if (colon != NULL && strchr(colon + 1, ':') == NULL) {
        /* host:port (an IPv6 address has at least two colons) */
        int r = set_host(out, text, (size_t)(colon - text), err, err_size);
        if (r < 0)
            return r;
        return set_port(out, colon + 1, err, err_size);
    }
    return set_host(out, text, len, err, err_size);
}

/* ------------------------------------------------------------------ */
/* Argument values                                                     */

/* A decimal number below `max`, digits only. */
static bool
parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    if (*s == '\0')
        return false;
    unsigned long long v = 0;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (unsigned long long)(*s - '0');
        if (v > max)
            return false;
    }
    *out = v;
    return true;
}

/* Seconds as a u32: digits with an optional unit s, m, h or d. */
static bool
parse_duration(const char *s, uint32_t *out)
{
    size_t len = strlen(s);
    unsigned long long unit = 1;
    if (len > 1) {
        switch (s[len - 1]) {
        case 's': unit = 1; len--; break;
        case 'm': unit = 60; len--; break;
        case 'h': unit = 3600; len--; break;
        case 'd': unit = 86400; len--; break;
        default: break;
        }
    }
    char digits[24];
    if (len == 0 || len >= sizeof(digits))
        return false;
    memcpy(digits, s, len);
    digits[len] = '\0';
    unsigned long long v = 0;
    if (!parse_uint(digits, UINT32_MAX, &v) || v * unit > UINT32_MAX)
        return false;
    *out = (uint32_t)(v * unit);
    return true;
}

static int
parse_timeout(const char *s, double *out, char *err, size_t err_size)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(v) ||
        !(v > 0) || v > CTL_ARGS_MAX_TIMEOUT)
        return usage_error(err, err_size,
                           "--timeout: SECONDS must be a number above 0 and "
                           "at most %g, got '%s'", CTL_ARGS_MAX_TIMEOUT, s);
    *out = v;
    return 0;
}

/* The translation command a tcache-invalidate NAME stands for, or -1.
 * Names come from the translation command table, case-insensitive; a
 * trailing '_' of the table name (ENOTDIR_) may be left out. */
static int
tcache_name_lookup(const char *name, size_t len)
{
    for (unsigned n = 0; n <= TP_CMD_MAX; n++) {
        if (!ctl_tcache_command_accepted((uint16_t)n))
            continue;
        const char *tname = tp_command_name((uint16_t)n);
        size_t tlen = strlen(tname);
        if ((tlen == len || (tlen == len + 1 && tname[len] == '_')) &&
            strncasecmp(tname, name, len) == 0)
            return (int)n;
    }
    return -1;
}

/* "URI, PARAM, ..." for messages. */
static void
tcache_names(char *buf, size_t size)
{
    size_t pos = 0;
    buf[0] = '\0';
    for (unsigned n = 0; n <= TP_CMD_MAX; n++) {
        if (!ctl_tcache_command_accepted((uint16_t)n))
            continue;
        const char *tname = tp_command_name((uint16_t)n);
        size_t tlen = strlen(tname);
        if (tlen > 1 && tname[tlen - 1] == '_')
            tlen--;
        int w = snprintf(buf + pos, size - pos, "%s%.*s",
                         pos > 0 ? ", " : "", (int)tlen, tname);
        if (w < 0 || (size_t)w >= size - pos)
            return;
        pos += (size_t)w;
    }
}

/* ------------------------------------------------------------------ */
/* Building the datagram                                               */

/* Append one packet after checking it as the server's decoder will. */
static int
add_packet(struct ctl_args *a, const void *payload, size_t len, char *err,
           size_t err_size)
{
    const struct ctl_cli_command *c = a->command;
    char msg[CTL_ERROR_SIZE];
    if (ctl_payload_check(c->command, payload, len, msg, sizeof(msg)) !=
        CTL_COMMAND_OK)
        return usage_error(err, err_size, "%s: %s", c->name, msg);
    int r = ctl_datagram_append(&a->datagram, c->command, payload, len);
    if (r == -EMSGSIZE)
        return usage_error(err, err_size,
                           "%s: the datagram would exceed %d bytes", c->name,
                           CTL_MAX_DATAGRAM);
    return r;
}

static int
wrong_count(const struct ctl_cli_command *c, int nargs, int min, char *err,
            size_t err_size)
{
    if (nargs < min)
        return usage_error(err, err_size,
                           "%s: missing argument (usage: portierctl %s %s)",
                           c->name, c->name, c->synopsis);
    if (c->synopsis[0] == '\0')
        return usage_error(err, err_size, "%s: takes no arguments",
                           c->name);
    return usage_error(err, err_size,
                       "%s: too many arguments (usage: portierctl %s %s)",
                       c->name, c->name, c->synopsis);
}

static int
build_tcache(struct ctl_args *a, int nargs, char *const args[], char *err,
             size_t err_size)
{
    const char *cname = a->command->name;
    struct ctl_tcache_value *values = NULL;
    if (nargs > 0) {
        values = calloc((size_t)nargs, sizeof(*values));
        if (values == NULL)
            return -ENOMEM;
    }
    int r = 0;
    for (int i = 0; i < nargs; i++) {
        const char *eq = strchr(args[i], '=');
        if (eq == NULL || eq == args[i]) {
            r = usage_error(err, err_size,
                            "%s: '%s' is not NAME=VALUE", cname, args[i]);
            goto out;
        }
        size_t nlen = (size_t)(eq - args[i]);
        int cmd = tcache_name_lookup(args[i], nlen);
        if (cmd < 0) {
            char names[256];
            tcache_names(names, sizeof(names));
            r = usage_error(err, err_size,
                            "%s: unknown NAME '%.*s' (accepted: %s)", cname,
                            (int)nlen, args[i], names);
            goto out;
        }
        values[i].command = (uint16_t)cmd;
        values[i].value.data = (const uint8_t *)eq + 1;
        values[i].value.len = strlen(eq + 1);
    }

    struct pr_buf payload = PR_BUF_INIT;
    char msg[CTL_ERROR_SIZE];
    r = ctl_tcache_encode(&payload, values, (size_t)nargs, msg, sizeof(msg));
    if (r == -EINVAL)
        r = usage_error(err, err_size, "%s: %s", cname, msg);
    else if (r == -EMSGSIZE)
        r = usage_error(err, err_size, "%s: a value is longer than %d bytes",
                        cname, CTL_MAX_PAYLOAD);
    else if (r == 0)
        r = add_packet(a, payload.data, payload.len, err, err_size);
    pr_buf_free(&payload);
out:
    free(values);
    return r;
}

static int
build_ban(struct ctl_args *a, int nargs, char *const args[], char *err,
          size_t err_size)
{
    const struct ctl_cli_command *c = a->command;
    if (nargs < 2)
        return wrong_count(c, nargs, 2, err, err_size);
    uint32_t seconds = 0;
    if (!parse_duration(args[0], &seconds))
        return usage_error(err, err_size,
                           "%s: DURATION must be a number of seconds (with "
                           "an optional unit s, m, h or d) below 2^32, got "
                           "'%s'", c->name, args[0]);
    for (int i = 1; i < nargs; i++) {
        size_t alen = strlen(args[i]);
        struct pr_buf payload = PR_BUF_INIT;
        if (pr_buf_reserve(&payload, 4 + alen) < 0)
            return -ENOMEM;
        pr_store_be32(payload.data, seconds);
        memcpy(payload.data + 4, args[i], alen);
        payload.len = 4 + alen;
        int r = add_packet(a, payload.data, payload.len, err, err_size);
        pr_buf_free(&payload);
        if (r < 0)
            return r;
    }
    return 0;
}

static int
build_job(struct ctl_args *a, int nargs, char *const args[], char *err,
          size_t err_size)
{
    if (nargs != 2)
        return wrong_count(a->command, nargs, 2, err, err_size);
    size_t plen = strlen(args[0]), ilen = strlen(args[1]);
    struct pr_buf payload = PR_BUF_INIT;
    if (pr_buf_reserve(&payload, plen + 1 + ilen) < 0)
        return -ENOMEM;
    memcpy(payload.data, args[0], plen);
    payload.data[plen] = '\0';
    memcpy(payload.data + plen + 1, args[1], ilen);
    payload.len = plen + 1 + ilen;
    int r = add_packet(a, payload.data, payload.len, err, err_size);
    pr_buf_free(&payload);
    return r;
}

static int
build_stats(struct ctl_args *a, int nargs, char *const args[], char *err,
            size_t err_size)
{
    for (int i = 0; i < nargs; i++) {
        if (strcmp(args[i], "--json") == 0) {
            a->json = true;
        } else if (strcmp(args[i], "--timeout") == 0) {
            if (i + 1 >= nargs)
                return usage_error(err, err_size,
                                   "stats: --timeout needs SECONDS");
            int r = parse_timeout(args[++i], &a->timeout, err, err_size);
            if (r < 0)
                return r;
        } else if (strncmp(args[i], "--timeout=", 10) == 0) {
            int r = parse_timeout(args[i] + 10, &a->timeout, err, err_size);
            if (r < 0)
                return r;
        } else {
            return usage_error(err, err_size,
                               "stats: unexpected argument '%s' (usage: "
                               "portierctl stats %s)", args[i],
                               a->command->synopsis);
        }
    }
    return add_packet(a, NULL, 0, err, err_size);
}

static int
build_datagram(struct ctl_args *a, int nargs, char *const args[],
               char *err, size_t err_size)
{
    const struct ctl_cli_command *c = a->command;
    int r = ctl_datagram_begin(&a->datagram);
    if (r < 0)
        return r;

    switch (c->kind) {
    case CTL_ARGS_K_NONE:
        if (nargs != 0)
            return wrong_count(c, nargs, 0, err, err_size);
        return add_packet(a, NULL, 0, err, err_size);

    case CTL_ARGS_K_OPT_TAG:
    case CTL_ARGS_K_TAG:
        if (nargs > 1 || (nargs == 0 && c->kind == CTL_ARGS_K_TAG))
            return wrong_count(c, nargs, c->kind == CTL_ARGS_K_TAG ? 1 : 0,
                               err, err_size);
        if (nargs == 0)
            return add_packet(a, NULL, 0, err, err_size);
        if (args[0][0] == '\0' && c->kind == CTL_ARGS_K_TAG)
            return usage_error(err, err_size, "%s: %s must not be empty",
                               c->name, c->synopsis);
        if (args[0][0] == '\0')   /* "[TAG]": name it without brackets */
            return usage_error(err, err_size,
                               "%s: %.*s must not be empty (leave it out "
                               "to mean all)", c->name,
                               (int)strlen(c->synopsis) - 2,
                               c->synopsis + 1);
        return add_packet(a, args[0], strlen(args[0]), err, err_size);

    case CTL_ARGS_K_TCACHE:
        return build_tcache(a, nargs, args, err, err_size);

    case CTL_ARGS_K_LEVEL: {
        if (nargs != 1)
            return wrong_count(c, nargs, 1, err, err_size);
        unsigned long long v = 0;
        if (!parse_uint(args[0], 255, &v))
            return usage_error(err, err_size,
                               "%s: LEVEL must be a number from 0 to 255, "
                               "got '%s'", c->name, args[0]);
        uint8_t level = (uint8_t)v;
        return add_packet(a, &level, 1, err, err_size);
    }

    case CTL_ARGS_K_NODE:
        if (nargs != 1)
            return wrong_count(c, nargs, 1, err, err_size);
        return add_packet(a, args[0], strlen(args[0]), err, err_size);

    case CTL_ARGS_K_OPT_SECONDS: {
        if (nargs > 1)
            return wrong_count(c, nargs, 0, err, err_size);
        if (nargs == 0)
            return add_packet(a, NULL, 0, err, err_size);
        uint32_t seconds = 0;
        if (!parse_duration(args[0], &seconds))
            return usage_error(err, err_size,
                               "%s: SECONDS must be a number of seconds "
                               "(with an optional unit s, m, h or d) below "
                               "2^32, got '%s'", c->name, args[0]);
        uint8_t be[4] = { 0 };
        pr_store_be32(be, seconds);
        return add_packet(a, be, sizeof(be), err, err_size);
    }

    case CTL_ARGS_K_ZERO: {
        if (nargs != 0)
            return wrong_count(c, nargs, 0, err, err_size);
        static const uint8_t zero[4] = { 0, 0, 0, 0 };
        return add_packet(a, zero, sizeof(zero), err, err_size);
    }

    case CTL_ARGS_K_BAN:
        return build_ban(a, nargs, args, err, err_size);

    case CTL_ARGS_K_JOB:
        return build_job(a, nargs, args, err, err_size);

    case CTL_ARGS_K_STATS:
        return build_stats(a, nargs, args, err, err_size);
    }
    return usage_error(err, err_size, "%s: no argument rule", c->name);
}

/* ------------------------------------------------------------------ */
/* The command line                                                    */

int
ctl_args_parse(struct ctl_args *a, int argc, char *const argv[], char *err,
               size_t err_size)
{
    memset(a, 0, sizeof(*a));
    a->action = CTL_ARGS_SEND;
    a->timeout = CTL_ARGS_DEFAULT_TIMEOUT;
    if (err != NULL && err_size > 0)
        err[0] = '\0';

    const char *server = CTL_ARGS_DEFAULT_SERVER;
    int i = 1;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--") == 0) {
            i++;
            break;
        }
        if (arg[0] != '-' || arg[1] == '\0')
            break;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            a->action = CTL_ARGS_HELP;
            return 0;
        }
        if (strcmp(arg, "--help-markdown") == 0) {
            a->action = CTL_ARGS_HELP_MARKDOWN;
            return 0;
        }
        if (strcmp(arg, "--version") == 0) {
            a->action = CTL_ARGS_VERSION;
            return 0;
        }
        if (strcmp(arg, "--server") == 0 || strcmp(arg, "--timeout") == 0) {
            if (i + 1 >= argc)
                return usage_error(err, err_size, "%s needs a value", arg);
            if (arg[2] == 's') {
                server = argv[++i];
            } else {
                int r = parse_timeout(argv[++i], &a->timeout, err,
                                      err_size);
                if (r < 0)
                    return r;
            }
            continue;
        }
        if (strncmp(arg, "--server=", 9) == 0) {
            server = arg + 9;
            continue;
        }
        if (strncmp(arg, "--timeout=", 10) == 0) {
            int r = parse_timeout(arg + 10, &a->timeout, err, err_size);
            if (r < 0)
                return r;
            continue;
        }
        return usage_error(err, err_size,
                           "unknown option '%s' (see portierctl --help)",
                           arg);
    }

    int r = ctl_addr_parse(&a->server, server, err, err_size);
    if (r < 0)
        return r;

    if (i >= argc)
        return usage_error(err, err_size,
                           "missing COMMAND (see portierctl --help)");
    a->command = ctl_cli_command_find(argv[i]);
    if (a->command == NULL)
        return usage_error(err, err_size,
                           "unknown command '%s' (see portierctl --help)",
                           argv[i]);
    r = build_datagram(a, argc - i - 1, argv + i + 1, err, err_size);
    if (r == -ENOMEM)
        usage_error(err, err_size, "out of memory");
    return r;
}

void
ctl_args_free(struct ctl_args *a)
{
    pr_buf_free(&a->datagram);
}

/* ------------------------------------------------------------------ */
/* Help                                                                */

/* Write `text` word-wrapped to `width` columns, each line indented. */
static void
wrap(FILE *f, const char *text, int indent, int width)
{
    int col = 0;
    const char *p = text;
    while (*p != '\0') {
        while (*p == ' ')
            p++;
        const char *w = p;
        while (*p != '\0' && *p != ' ')
            p++;
        int wlen = (int)(p - w);
        if (wlen == 0)
            break;
        if (col > 0 && col + 1 + wlen > width) {
            fputc('\n', f);
            col = 0;
        }
        if (col == 0) {
            fprintf(f, "%*s%.*s", indent, "", wlen, w);
            col = indent + wlen;
        } else {
            fprintf(f, " %.*s", wlen, w);
            col += 1 + wlen;
        }
    }
    if (col > 0)
        fputc('\n', f);
}

void
ctl_args_usage(FILE *f)
{
    fprintf(f,
            "Usage: portierctl [--server ADDR] [--timeout SECONDS] COMMAND "
            "[ARGS...]\n"
            "\n"
            "Send one command to Portier data planes (or any server of the\n"
            "beng-proxy control protocol).\n"
            "\n"
            "Options:\n"
            "  --server ADDR      where to send: @abstract or /path (local\n"
            "                     datagram socket), host, host:port,\n"
            "                     [ipv6]:port (UDP, default port %d), a\n"
            "                     multicast address with %%interface\n"
            "                     (224.0.0.1%%eth0, [ff02::1%%eth0]:%d);\n"
            "                     default %s\n"
            "  --timeout SECONDS  how long stats waits for the reply\n"
            "                     (default %g)\n"
            "  -h, --help         print this text\n"
            "  --help-markdown    print the command reference as Markdown\n"
            "  --version          print the version\n"
            "\n"
            "Commands:\n",
            CTL_DEFAULT_PORT, CTL_DEFAULT_PORT, CTL_ARGS_DEFAULT_SERVER,
            CTL_ARGS_DEFAULT_TIMEOUT);
    for (size_t i = 0; i < CLI_COUNT; i++) {
        const struct ctl_cli_command *c = &cli_commands[i];
        fprintf(f, "  %s%s%s\n", c->name, c->synopsis[0] != '\0' ? " " : "",
                c->synopsis);
        wrap(f, c->help, 6, 78);
    }
    fprintf(f,
            "\n"
            "Exit status: 0 sent (and answered, for stats), 1 usage error,\n"
            "2 send failure, no answer within the timeout or a malformed\n"
            "answer.\n");
}

void
ctl_args_markdown(FILE *f)
{
    fprintf(f, "| Command | Sends | What it does |\n"
               "|---|---|---|\n");
    for (size_t i = 0; i < CLI_COUNT; i++) {
        const struct ctl_cli_command *c = &cli_commands[i];
        fprintf(f, "| `%s%s%s` | `%s` (%u) | %s |\n", c->name,
                c->synopsis[0] != '\0' ? " " : "", c->synopsis,
                ctl_command_name(c->command), (unsigned)c->command, c->help);
    }
}
