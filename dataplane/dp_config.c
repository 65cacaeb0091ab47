/*
 * dp_config: tokenizer and parser of the portierd configuration language,
 * and the file layer that follows @include.  See dp_config.h.
 *
 * The text is processed line by line.  A line holds one directive; its
 * tokens are words (keywords, option and variable names), values (quoted,
 * unquoted, or a bare ${name}) and the symbols '{', '}' and '='.  Values
 * are expanded into one scratch buffer of the parser, so each line may
 * hold one value, which is all the language needs.
 */
#include "dp_config.h"

#include "ctl_protocol.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* The settings table. */

#define DP_SETTING_STRING(name, def, sup)                                      \
    {#name, DP_SETTING_TYPE_STRING, (sup) != 0, NULL, 0, 0},
#define DP_SETTING_CHOICE(name, def, choices, sup)                             \
    {#name, DP_SETTING_TYPE_CHOICE, (sup) != 0, choices, 0, 0},
#define DP_SETTING_BOOL(name, def, sup)                                        \
    {#name, DP_SETTING_TYPE_BOOL, (sup) != 0, NULL, 0, 1},
#define DP_SETTING_UINT(name, def, min, max, sup)                              \
    {#name, DP_SETTING_TYPE_UINT, (sup) != 0, NULL, min, max},
#define DP_SETTING_SIZE(name, def, max, sup)                                   \
    {#name, DP_SETTING_TYPE_SIZE, (sup) != 0, NULL, 0, max},
#define DP_SETTING_DURATION(name, def, min, max, sup)                          \
    {#name, DP_SETTING_TYPE_DURATION, (sup) != 0, NULL, min, max},
static const struct dp_setting_info setting_table[] = {
#include "dp_config_settings.def"
};

#define SETTING_OFFSET(name) offsetof(struct dp_config_settings, name),
#define DP_SETTING_STRING(name, def, sup)             SETTING_OFFSET(name)
#define DP_SETTING_CHOICE(name, def, choices, sup)    SETTING_OFFSET(name)
#define DP_SETTING_BOOL(name, def, sup)               SETTING_OFFSET(name)
#define DP_SETTING_UINT(name, def, min, max, sup)     SETTING_OFFSET(name)
#define DP_SETTING_SIZE(name, def, max, sup)          SETTING_OFFSET(name)
#define DP_SETTING_DURATION(name, def, min, max, sup) SETTING_OFFSET(name)
static const size_t setting_offset[] = {
#include "dp_config_settings.def"
};
#undef SETTING_OFFSET

#define N_SETTINGS (sizeof(setting_table) / sizeof(setting_table[0]))

const struct dp_setting_info *
dp_config_setting_table(size_t *n)
{
    *n = N_SETTINGS;
    return setting_table;
}

static void
settings_init(struct dp_config_settings *s)
{
#define DP_SETTING_STRING(name, def, sup)             s->name = def;
#define DP_SETTING_CHOICE(name, def, choices, sup)    s->name = def;
#define DP_SETTING_BOOL(name, def, sup)               s->name = def;
#define DP_SETTING_UINT(name, def, min, max, sup)     s->name = def;
#define DP_SETTING_SIZE(name, def, max, sup)          s->name = def;
#define DP_SETTING_DURATION(name, def, min, max, sup) s->name = def;
#include "dp_config_settings.def"
}

void
dp_config_init(struct dp_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    settings_init(&cfg->settings);
}

void
dp_config_free(struct dp_config *cfg)
{
    pr_arena_free(&cfg->arena);
    dp_config_init(cfg);
}

/* ------------------------------------------------------------------ */
/* Errors. */

static void
error_format(struct dp_config_error *err)
{
    int n;
    if (err->file[0] != '\0' && err->line > 0)
        n = snprintf(err->text, sizeof(err->text), "%s:%u: %s", err->file,
                     err->line, err->message);
    else if (err->file[0] != '\0')
        n = snprintf(err->text, sizeof(err->text), "%s: %s", err->file,
                     err->message);
    else
        n = snprintf(err->text, sizeof(err->text), "%s", err->message);
    (void)n; /* truncation of a very long file name is acceptable */
}

static void
error_set(struct dp_config_error *err, const char *file, unsigned line,
          unsigned column, const char *message)
{
    if (err == NULL)
        return;
    int n =
        snprintf(err->file, sizeof(err->file), "%s", file != NULL ? file : "");
    n = snprintf(err->message, sizeof(err->message), "%s", message);
    (void)n;
    err->line = line;
    err->column = column;
    error_format(err);
}

/* Text from the file, made printable for a message: at most 64 bytes,
 * other than printable ASCII written as \xNN. */
static const char *
show(char *out, size_t size, const char *s, size_t len)
{
    size_t o = 0;
    size_t i;
    for (i = 0; i < len && i < 64; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (o + 5 >= size)
            break;
        if (ch >= 0x20 && ch < 0x7f) {
            out[o++] = (char)ch;
        } else {
            static const char hex[] = "0123456789abcdef";
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[ch >> 4];
            out[o++] = hex[ch & 15];
        }
    }
    if (i < len && o + 4 < size) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

#define SHOW_SIZE 300

/* ------------------------------------------------------------------ */
/* Value parsers. */

static bool
is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static bool
is_alpha(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool
is_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Decimal digits at *p into *out; false on no digits or overflow. */
static bool
parse_decimal(const char **p, uint64_t *out)
{
    const char *s = *p;
    if (!is_digit(*s))
        return false;
    uint64_t v = 0;
    while (is_digit(*s)) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
        s++;
    }
    *p = s;
    *out = v;
    return true;
}

static int whyf(char *why, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
whyf(char *why, size_t size, const char *fmt, ...)
{
    if (why != NULL && size > 0) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(why, size, fmt, ap);
        (void)n;
        va_end(ap);
    }
    return -EINVAL;
}

int
dp_config_parse_size(const char *text, uint64_t max, uint64_t *out, char *why,
                     size_t why_size)
{
    const char *p = text;
    uint64_t v;
    if (!parse_decimal(&p, &v))
        return whyf(why, why_size,
                    "expected a size in bytes, optionally "
                    "followed by kB, MB or GB");
    while (is_blank(*p))
        p++;
    const char *unit = p;
    while (is_alpha(*p))
        p++;
    size_t unit_len = (size_t)(p - unit);
    while (is_blank(*p))
        p++;
    if (*p != '\0')
        return whyf(why, why_size,
                    "expected a size in bytes, optionally "
                    "followed by kB, MB or GB");
    unsigned shift = 0;
    if (unit_len == 0)
        shift = 0;
    else if (unit_len == 2 && memcmp(unit, "kB", 2) == 0)
        shift = 10;
    else if (unit_len == 2 && memcmp(unit, "MB", 2) == 0)
        shift = 20;
    else if (unit_len == 2 && memcmp(unit, "GB", 2) == 0)
        shift = 30;
    else {
        char shown[SHOW_SIZE];
        return whyf(why, why_size,
                    "unknown unit '%s' (expected kB, MB "
                    "or GB)",
                    show(shown, sizeof(shown), unit, unit_len));
    }
    if (v > (max >> shift) || (v << shift) > max)
        return whyf(why, why_size, "more than the maximum of %llu bytes",
                    (unsigned long long)max);
    *out = v << shift;
    return 0;
}

struct duration_unit {
    const char *name;
    uint64_t ms;
};

static const struct duration_unit duration_units[] = {
    {"ms", 1},           {"msec", 1},        {"millisecond", 1},
    {"milliseconds", 1}, {"s", 1000},        {"sec", 1000},
    {"second", 1000},    {"seconds", 1000},  {"min", 60000},
    {"minute", 60000},   {"minutes", 60000}, {"h", 3600000},
    {"hour", 3600000},   {"hours", 3600000}, {"d", 86400000},
    {"day", 86400000},   {"days", 86400000},
};

/* A duration in milliseconds, for messages: "1500 ms", "30 s". */
static void
format_ms(char *out, size_t size, uint64_t ms)
{
    int n;
    if (ms % 1000 != 0)
        n = snprintf(out, size, "%llu ms", (unsigned long long)ms);
    else
        n = snprintf(out, size, "%llu s", (unsigned long long)(ms / 1000));
    (void)n;
}

int
dp_config_parse_duration(const char *text, uint64_t min, uint64_t max,
                         uint64_t *out, char *why, size_t why_size)
{
    static const char expected[] =
        "expected a duration such as '30 s', '500 ms' or '5 minutes' "
        "(units: ms, s, min, h, d; no unit means seconds)";
    const char *p = text;
    uint64_t total = 0;
    unsigned parts = 0;
    bool unitless = false;
    while (is_blank(*p))
        p++;
    while (*p != '\0') {
        uint64_t v;
        if (!parse_decimal(&p, &v))
            return whyf(why, why_size, "%s", expected);
        while (is_blank(*p))
            p++;
        const char *unit = p;
        while (is_alpha(*p))
            p++;
        size_t unit_len = (size_t)(p - unit);
        uint64_t factor = 0;
        if (unit_len == 0) {
            factor = 1000;
            unitless = true;
        } else {
            for (size_t i = 0;
                 i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
                if (strlen(duration_units[i].name) == unit_len &&
                    memcmp(duration_units[i].name, unit, unit_len) == 0) {
                    factor = duration_units[i].ms;
                    break;
                }
            }
            if (factor == 0) {
                char shown[SHOW_SIZE];
                return whyf(why, why_size, "unknown unit '%s' (%s)",
                            show(shown, sizeof(shown), unit, unit_len),
                            expected);
            }
        }
        if (v > UINT64_MAX / factor || v * factor > UINT64_MAX - total)
            return whyf(why, why_size, "duration too long");
        total += v * factor;
        parts++;
        while (is_blank(*p))
            p++;
    }
    if (parts == 0 || (unitless && parts > 1))
        return whyf(why, why_size, "%s", expected);
    if (total < min || total > max) {
        char a[32], b[32];
        format_ms(a, sizeof(a), min);
        format_ms(b, sizeof(b), max);
        return whyf(why, why_size, "expected a duration from %s to %s", a, b);
    }
    *out = total;
    return 0;
}

static int
parse_uint(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    const char *p = text;
    uint64_t v;
    if (!parse_decimal(&p, &v) || *p != '\0' || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static int
parse_bool(const char *text, bool *out)
{
    if (strcmp(text, "yes") == 0)
        *out = true;
    else if (strcmp(text, "no") == 0)
        *out = false;
    else
        return -EINVAL;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Addresses. */

static int
parse_port(const char *s, uint16_t *port)
{
    const char *p = s;
    uint64_t v;
    if (!parse_decimal(&p, &v) || *p != '\0' || v > 65535 || p - s > 5)
        return -EINVAL;
    *port = (uint16_t)v;
    return 0;
}

/* An IPv6 address with an optional numeric scope ("fe80::1%2"). */
static bool
parse_ipv6(const char *s, size_t len, struct sockaddr_in6 *sin6)
{
    char host[INET6_ADDRSTRLEN + 16];
    const char *pct = memchr(s, '%', len);
    size_t host_len = pct != NULL ? (size_t)(pct - s) : len;
    if (host_len == 0 || host_len >= sizeof(host))
        return false;
    memcpy(host, s, host_len);
    host[host_len] = '\0';
    if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
        return false;
    if (pct != NULL) {
        size_t scope_len = len - host_len - 1;
        char scope[16];
        if (scope_len == 0 || scope_len >= sizeof(scope))
            return false;
        memcpy(scope, pct + 1, scope_len);
        scope[scope_len] = '\0';
        uint64_t id;
        if (parse_uint(scope, 1, UINT32_MAX, &id) != 0)
            return false;
        sin6->sin6_scope_id = (uint32_t)id;
    }
    return true;
}

int
dp_config_parse_address(const char *text, uint16_t default_port,
                        bool local_only, struct dp_config_address *addr,
                        char *why, size_t why_size)
{
    char shown[SHOW_SIZE];
    size_t len = strlen(text);
    memset(addr, 0, sizeof(*addr));

    if (len == 0)
        return whyf(why, why_size, "empty address");

    if (text[0] == '/' || text[0] == '@') {
        struct sockaddr_un *sun = (struct sockaddr_un *)&addr->addr;
        bool abstract = text[0] == '@';
        size_t n = abstract ? len - 1 : len;
        if (abstract && n == 0)
            return whyf(why, why_size,
                        "empty abstract socket name after "
                        "'@'");
        /* A path needs its NUL; an abstract name has the leading NUL. */
        if (n + 1 > sizeof(sun->sun_path))
            return whyf(why, why_size,
                        "socket name '%s' is longer than "
                        "%zu bytes",
                        show(shown, sizeof(shown), text, len),
                        sizeof(sun->sun_path) - 1);
        sun->sun_family = AF_LOCAL;
        if (abstract) {
            sun->sun_path[0] = '\0';
            memcpy(sun->sun_path + 1, text + 1, n);
        } else {
            memcpy(sun->sun_path, text, n);
            sun->sun_path[n] = '\0';
        }
        addr->kind =
            abstract ? DP_CONFIG_ADDRESS_ABSTRACT : DP_CONFIG_ADDRESS_LOCAL;
        addr->addr_len =
            (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
        return 0;
    }

    if (local_only)
        return whyf(why, why_size,
                    "'%s' is not a local socket address "
                    "(expected '/path' or '@name')",
                    show(shown, sizeof(shown), text, len));

    const char *host = text;
    size_t host_len = len;
    const char *port_text = NULL;
    bool bracketed = false;

    if (text[0] == '[') {
        const char *close = memchr(text, ']', len);
        if (close == NULL)
            return whyf(why, why_size, "missing ']' in '%s'",
                        show(shown, sizeof(shown), text, len));
        host = text + 1;
        host_len = (size_t)(close - host);
        bracketed = true;
        if (close[1] == ':')
            port_text = close + 2;
        else if (close[1] != '\0')
            return whyf(why, why_size, "expected ':PORT' after ']' in '%s'",
                        show(shown, sizeof(shown), text, len));
    } else {
        const char *colon = strchr(text, ':');
        if (colon != NULL && strchr(colon + 1, ':') == NULL) {
            /* exactly one colon: HOST:PORT */
            host_len = (size_t)(colon - text);
            port_text = colon + 1;
        }
        /* several colons: a bare IPv6 address, default port */
    }

    uint16_t port = default_port;
    if (port_text != NULL && parse_port(port_text, &port) != 0)
        return whyf(why, why_size, "invalid port '%s' (expected 0 to 65535)",
                    show(shown, sizeof(shown), port_text, strlen(port_text)));

    if (!bracketed && host_len == 1 && host[0] == '*') {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&addr->addr;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_addr = in6addr_any;
        sin6->sin6_port = htons(port);
        addr->kind = DP_CONFIG_ADDRESS_IPV6;
        addr->wildcard = true;
        addr->port = port;
        addr->addr_len = sizeof(*sin6);
        return 0;
    }

    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&addr->addr;
    if (parse_ipv6(host, host_len, sin6)) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        addr->kind = DP_CONFIG_ADDRESS_IPV6;
        addr->port = port;
        addr->addr_len = sizeof(*sin6);
        return 0;
    }
    memset(&addr->addr, 0, sizeof(addr->addr));

    if (!bracketed) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&addr->addr;
        char h[INET_ADDRSTRLEN];
        if (host_len > 0 && host_len < sizeof(h)) {
            memcpy(h, host, host_len);
            h[host_len] = '\0';
            if (inet_pton(AF_INET, h, &sin->sin_addr) == 1) {
                sin->sin_family = AF_INET;
                sin->sin_port = htons(port);
                addr->kind = DP_CONFIG_ADDRESS_IPV4;
                addr->port = port;
                addr->addr_len = sizeof(*sin);
                return 0;
            }
        }
    }
    return whyf(why, why_size,
                "'%s' is not a numeric IPv4 or IPv6 address "
                "(host names are not resolved; IPv6 goes in brackets: "
                "'[::1]:80')",
                show(shown, sizeof(shown), host, host_len));
}

/* ------------------------------------------------------------------ */
/* The parser. */

struct variable {
    char *name;
    char *value;
};

enum block {
    BLOCK_NONE = 0,
    BLOCK_LISTENER,
    BLOCK_CONTROL,
    BLOCK_SPAWN,
    BLOCK_SSL_CLIENT,
};

/* Options of a `control` block. */
enum control_option {
    COPT_BIND = 0,
    COPT_MULTICAST_GROUP,
    COPT_INTERFACE,
    COPT_COUNT,
};

static const char *const control_option_names[COPT_COUNT] = {
    [COPT_BIND] = "bind",
    [COPT_MULTICAST_GROUP] = "multicast_group",
    [COPT_INTERFACE] = "interface",
};

/* Listener options, for the duplicate check and the messages. */
enum listener_option {
    LOPT_BIND = 0,
    LOPT_TAG,
    LOPT_INTERFACE,
    LOPT_REUSE_PORT,
    LOPT_FREE_BIND,
    LOPT_KEEPALIVE,
    LOPT_V6ONLY,
    LOPT_ACK_TIMEOUT,
    LOPT_TRANSLATION_SOCKET,
    LOPT_SSL,
    LOPT_SSL_CERT,
    LOPT_SSL_VERIFY,
    LOPT_SSL_CA_CERT,
    LOPT_STS,
    LOPT_REDIRECT_HTTP,
    LOPT_COUNT,
};

static const char *const listener_option_names[LOPT_COUNT] = {
    [LOPT_BIND] = "bind",
    [LOPT_TAG] = "tag",
    [LOPT_INTERFACE] = "interface",
    [LOPT_REUSE_PORT] = "reuse_port",
    [LOPT_FREE_BIND] = "free_bind",
    [LOPT_KEEPALIVE] = "keepalive",
    [LOPT_V6ONLY] = "v6only",
    [LOPT_ACK_TIMEOUT] = "ack_timeout",
    [LOPT_TRANSLATION_SOCKET] = "translation_socket",
    [LOPT_SSL] = "ssl",
    [LOPT_SSL_CERT] = "ssl_cert",
    [LOPT_SSL_VERIFY] = "ssl_verify",
    [LOPT_SSL_CA_CERT] = "ssl_ca_cert",
    /* lwsws's vhost options, spelled as lwsws spells them */
    [LOPT_STS] = "sts",
    [LOPT_REDIRECT_HTTP] = "redirect-http",
};

/* Listener options of the manual that portierd does not implement yet. */
static const char *const listener_unsupported[] = {
    "zeroconf_service", "zeroconf_type", "auth_alt_host",
};

/* Top-level directives of the manual that portierd does not implement
 * yet; `block` ones open a { } block. */
static const struct {
    const char *name;
    bool block;
} toplevel_unsupported[] = {
    {"access_logger", true},
    {"child_error_logger", true},
    {"emulate_mod_auth_easy", false},
};

struct parser {
    struct dp_config *cfg;
    struct dp_config_error *err;

    struct variable *vars;
    size_t n_vars, cap_vars;

    /* Where we are: file name (arena copy), line, start of the line. */
    const char *file;
    unsigned line;
    const char *line_start;

    /* The open block, and the include depth of the file that opened it
     * (a block is closed in the file that opened it). */
    enum block block;
    unsigned block_depth;
    unsigned block_line;
    struct dp_config_listener cur;
    size_t cur_ts_cap;
    size_t cur_certs_cap;
    bool cur_seen[LOPT_COUNT];
    struct dp_config_control cur_control;
    bool cur_control_seen[COPT_COUNT];

    /* The expanded value of the current line. */
    char value[DP_CONFIG_MAX_STRING + 1];
    size_t value_len;

    /* File layer. */
    bool includes;
    unsigned depth;
    unsigned n_files;
    struct include_frame *frames; /* open files, for cycle detection */
};

struct include_frame {
    struct include_frame *parent;
    dev_t dev;
    ino_t ino;
};

static int fail(struct parser *ps, const char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct parser *ps, const char *at, const char *fmt, ...)
{
    char message[sizeof(ps->err->message)];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(message, sizeof(message), fmt, ap);
    (void)n;
    va_end(ap);
    unsigned column = 0;
    if (at != NULL && ps->line_start != NULL)
        column = (unsigned)(at - ps->line_start) + 1;
    error_set(ps->err, ps->file, ps->line, column, message);
    return -EINVAL;
}

static int
fail_nomem(struct parser *ps)
{
    error_set(ps->err, ps->file, ps->line, 0, "out of memory");
    return -ENOMEM;
}

/* Grow an arena-owned array to hold n + 1 elements. */
static int
grow(struct pr_arena *a, void **arr, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return 0;
    size_t ncap = *cap != 0 ? *cap * 2 : 4;
    void *p = pr_arena_alloc(a, ncap * size);
    if (p == NULL)
        return -ENOMEM;
    if (n > 0)
        memcpy(p, *arr, n * size);
    *arr = p;
    *cap = ncap;
    return 0;
}

struct cursor {
    const char *p;
    const char *end;
};

static void
skip_blanks(struct cursor *c)
{
    while (c->p < c->end && is_blank(*c->p))
        c->p++;
}

/* End of the line, or a comment. */
static bool
at_end(struct cursor *c)
{
    skip_blanks(c);
    return c->p == c->end || *c->p == '#';
}

static bool
is_word_char(char ch)
{
    return is_alpha(ch) || is_digit(ch) || ch == '_' || ch == '-';
}

static bool
is_variable_char(char ch)
{
    return is_alpha(ch) || is_digit(ch) || ch == '_';
}

static bool
is_unquoted_char(char ch)
{
    return is_alpha(ch) || is_digit(ch) || ch == '_' || ch == '.' ||
           ch == '-' || ch == ':';
}

/* After a token: end of line, a blank, a symbol, or a comment. */
static int
expect_token_end(struct parser *ps, struct cursor *c, const char *after)
{
    if (c->p == c->end || is_blank(*c->p) || *c->p == '{' || *c->p == '}' ||
        *c->p == '=' || *c->p == '#')
        return 0;
    char shown[SHOW_SIZE];
    return fail(ps, c->p, "unexpected character '%s' after %s",
                show(shown, sizeof(shown), c->p, 1), after);
}

/* A word: letters, digits, '_' and '-'. */
static int
next_word(struct parser *ps, struct cursor *c, const char **word, size_t *len,
          const char *what)
{
    skip_blanks(c);
    const char *start = c->p;
    while (c->p < c->end && is_word_char(*c->p))
        c->p++;
    if (c->p == start) {
        char shown[SHOW_SIZE];
        if (start == c->end || *start == '#')
            return fail(ps, start, "expected %s", what);
        return fail(ps, start, "expected %s, found '%s'", what,
                    show(shown, sizeof(shown), start, 1));
    }
    *word = start;
    *len = (size_t)(c->p - start);
    return expect_token_end(ps, c, what);
}

static bool
word_is(const char *word, size_t len, const char *s)
{
    return strlen(s) == len && memcmp(word, s, len) == 0;
}

static int
expect_end(struct parser *ps, struct cursor *c)
{
    if (at_end(c))
        return 0;
    char shown[SHOW_SIZE];
    return fail(ps, c->p, "unexpected '%s' at the end of the line",
                show(shown, sizeof(shown), c->p, (size_t)(c->end - c->p)));
}

static int
expect_symbol(struct parser *ps, struct cursor *c, char symbol,
              const char *context)
{
    skip_blanks(c);
    if (c->p < c->end && *c->p == symbol) {
        c->p++;
        return 0;
    }
    return fail(ps, c->p, "expected '%c' %s", symbol, context);
}

static int
value_append(struct parser *ps, const char *at, const char *s, size_t len)
{
    if (len > DP_CONFIG_MAX_STRING - ps->value_len)
        return fail(ps, at, "value longer than %d bytes", DP_CONFIG_MAX_STRING);
    memcpy(ps->value + ps->value_len, s, len);
    ps->value_len += len;
    ps->value[ps->value_len] = '\0';
    return 0;
}

static struct variable *
find_variable(struct parser *ps, const char *name, size_t len)
{
    for (size_t i = 0; i < ps->n_vars; i++)
        if (strlen(ps->vars[i].name) == len &&
            memcmp(ps->vars[i].name, name, len) == 0)
            return &ps->vars[i];
    return NULL;
}

/* `${name}` at c->p (which points at '$'), limited by `end`: append the
 * variable's value. */
static int
expand_variable(struct parser *ps, struct cursor *c, const char *end)
{
    const char *dollar = c->p;
    c->p += 2; /* "${" */
    const char *name = c->p;
    while (c->p < end && is_variable_char(*c->p))
        c->p++;
    size_t len = (size_t)(c->p - name);
    if (len == 0)
        return fail(ps, dollar, "expected a variable name after '${'");
    if (c->p == end || *c->p != '}')
        return fail(ps, dollar, "missing '}' after the variable name");
    c->p++;
    const struct variable *v = find_variable(ps, name, len);
    if (v == NULL) {
        char shown[SHOW_SIZE];
        return fail(ps, dollar, "undefined variable '%s'",
                    show(shown, sizeof(shown), name, len));
    }
    return value_append(ps, dollar, v->value, strlen(v->value));
}

/*
 * The value token at the cursor into ps->value: "double quoted" (with
 * ${name} expansion), 'single quoted' (literal), a bare ${name}, or an
 * unquoted run of letters, digits and "_.-:".
 */
static int
next_value(struct parser *ps, struct cursor *c, const char *what)
{
    char shown[SHOW_SIZE];
    ps->value_len = 0;
    ps->value[0] = '\0';
    skip_blanks(c);
    const char *start = c->p;
    if (c->p == c->end || *c->p == '#')
        return fail(ps, start, "expected %s", what);

    char ch = *c->p;
    if (ch == '"' || ch == '\'') {
        const char *close = memchr(c->p + 1, ch, (size_t)(c->end - c->p - 1));
        if (close == NULL)
            return fail(ps, start, "missing closing %s quote",
                        ch == '"' ? "double" : "single");
        c->p++;
        while (c->p < close) {
            const char *dollar = NULL;
            if (ch == '"')
                dollar = memchr(c->p, '$', (size_t)(close - c->p));
            while (dollar != NULL && (dollar + 1 == close || dollar[1] != '{'))
                dollar = memchr(dollar + 1, '$', (size_t)(close - dollar - 1));
            const char *stop = dollar != NULL ? dollar : close;
            int r = value_append(ps, c->p, c->p, (size_t)(stop - c->p));
            if (r != 0)
                return r;
            c->p = stop;
            if (dollar != NULL) {
                r = expand_variable(ps, c, close);
                if (r != 0)
                    return r;
            }
        }
        c->p = close + 1;
    } else if (ch == '$' && c->p + 1 < c->end && c->p[1] == '{') {
        int r = expand_variable(ps, c, c->end);
        if (r != 0)
            return r;
    } else if (is_unquoted_char(ch)) {
        while (c->p < c->end && is_unquoted_char(*c->p))
            c->p++;
        /* "a#b" is a mistake more often than a comment: '#' after an
         * unquoted value needs a blank before it */
        if (c->p < c->end && !is_blank(*c->p) && *c->p != '{' && *c->p != '}' &&
            *c->p != '=')
            return fail(ps, c->p,
                        "unexpected character '%s' in an "
                        "unquoted value (only letters, digits and '_.-:' "
                        "may stand without quotes)",
                        show(shown, sizeof(shown), c->p, 1));
        int r = value_append(ps, start, start, (size_t)(c->p - start));
        if (r != 0)
            return r;
    } else {
        return fail(ps, start,
                    "expected %s, found '%s' (quote values "
                    "with other characters than letters, digits and "
                    "'_.-:')",
                    what, show(shown, sizeof(shown), start, 1));
    }
    return expect_token_end(ps, c, what);
}

/* The value for `name` ("'bind'", "setting 'x'"), which must be the last
 * token and not empty. */
static int
value_and_end(struct parser *ps, struct cursor *c, const char *name)
{
    char what[SHOW_SIZE + 64];
    int n = snprintf(what, sizeof(what), "a value for %s", name);
    (void)n;
    skip_blanks(c);
    const char *start = c->p;
    int r = next_value(ps, c, what);
    if (r != 0)
        return r;
    if (ps->value_len == 0)
        return fail(ps, start, "empty value for %s", name);
    return expect_end(ps, c);
}

static char *
arena_strdup(struct parser *ps, const char *s)
{
    return pr_arena_strndup(&ps->cfg->arena, s, strlen(s));
}

/* The value after a block option's name, up to the end of the line, in
 * ps->value; *at is where it starts and value_shown its printable form,
 * both for messages. */
static int
option_value(struct parser *ps, struct cursor *c, const char *shown,
             const char **at, char value_shown[SHOW_SIZE])
{
    skip_blanks(c);
    *at = c->p;
    char what[SHOW_SIZE + 8];
    snprintf(what, sizeof(what), "'%s'", shown);
    int r = value_and_end(ps, c, what);
    if (r == 0)
        show(value_shown, SHOW_SIZE, ps->value, ps->value_len);
    return r;
}

/* --- @set ---------------------------------------------------------- */

static int
directive_set(struct parser *ps, struct cursor *c)
{
    const char *name;
    size_t name_len;
    skip_blanks(c);
    const char *at = c->p;
    const char *p = c->p;
    while (p < c->end && is_variable_char(*p))
        p++;
    if (p == at)
        return fail(ps, at, "expected a variable name after '@set'");
    name = at;
    name_len = (size_t)(p - at);
    c->p = p;
    if (c->p < c->end && !is_blank(*c->p) && *c->p != '=') {
        char shown[SHOW_SIZE];
        return fail(ps, c->p,
                    "unexpected character '%s' in a variable "
                    "name (letters, digits and '_')",
                    show(shown, sizeof(shown), c->p, 1));
    }
    int r = expect_symbol(ps, c, '=', "after the variable name");
    if (r != 0)
        return r;
    r = next_value(ps, c, "a value after '='");
    if (r != 0)
        return r;
    r = expect_end(ps, c);
    if (r != 0)
        return r;

    char *value = malloc(ps->value_len + 1);
    if (value == NULL)
        return fail_nomem(ps);
    memcpy(value, ps->value, ps->value_len + 1);

    struct variable *v = find_variable(ps, name, name_len);
    if (v != NULL) {
        free(v->value);
        v->value = value;
        return 0;
    }
    if (ps->n_vars >= DP_CONFIG_MAX_VARIABLES) {
        free(value);
        return fail(ps, at, "more than %d variables", DP_CONFIG_MAX_VARIABLES);
    }
    if (ps->n_vars == ps->cap_vars) {
        size_t ncap = ps->cap_vars != 0 ? ps->cap_vars * 2 : 16;
        struct variable *nv = realloc(ps->vars, ncap * sizeof(*nv));
        if (nv == NULL) {
            free(value);
            return fail_nomem(ps);
        }
        ps->vars = nv;
        ps->cap_vars = ncap;
    }
    char *n = malloc(name_len + 1);
    if (n == NULL) {
        free(value);
        return fail_nomem(ps);
    }
    memcpy(n, name, name_len);
    n[name_len] = '\0';
    ps->vars[ps->n_vars].name = n;
    ps->vars[ps->n_vars].value = value;
    ps->n_vars++;
    return 0;
}

static void
free_variables(struct parser *ps)
{
    for (size_t i = 0; i < ps->n_vars; i++) {
        free(ps->vars[i].name);
        free(ps->vars[i].value);
    }
    free(ps->vars);
    ps->vars = NULL;
    ps->n_vars = ps->cap_vars = 0;
}

/* --- translation sockets -------------------------------------------- */

static int
add_address(struct parser *ps, const char *at, const char *text,
            bool local_only, uint16_t default_port,
            struct dp_config_address *addr, const char *what)
{
    char why[400];
    if (dp_config_parse_address(text, default_port, local_only, addr, why,
                                sizeof(why)) != 0)
        return fail(ps, at, "invalid %s: %s", what, why);
    addr->text = arena_strdup(ps, text);
    if (addr->text == NULL)
        return fail_nomem(ps);
    return 0;
}

static int
append_translation_socket(struct parser *ps, const char *at,
                          struct dp_config_address **arr, size_t *n,
                          size_t *cap)
{
    if (*n >= DP_CONFIG_MAX_TRANSLATION_SOCKETS)
        return fail(ps, at, "more than %d translation sockets",
                    DP_CONFIG_MAX_TRANSLATION_SOCKETS);
    struct dp_config_address addr;
    int r =
        add_address(ps, at, ps->value, true, 0, &addr, "translation_socket");
    if (r != 0)
        return r;
    if (grow(&ps->cfg->arena, (void **)arr, *n, cap, sizeof(**arr)) != 0)
        return fail_nomem(ps);
    (*arr)[(*n)++] = addr;
    return 0;
}

/* --- set ----------------------------------------------------------- */

static int
handle_set(struct parser *ps, struct cursor *c)
{
    char shown[SHOW_SIZE];
    char why[400];
    const char *name;
    size_t name_len;
    int r = next_word(ps, c, &name, &name_len, "a setting name after 'set'");
    if (r != 0)
        return r;
    show(shown, sizeof(shown), name, name_len);
    r = expect_symbol(ps, c, '=', "after the setting name");
    if (r != 0)
        return r;
    skip_blanks(c);
    const char *at = c->p;
    char what[SHOW_SIZE + 64];
    int n = snprintf(what, sizeof(what), "setting '%s'", shown);
    (void)n;
    r = value_and_end(ps, c, what);
    if (r != 0)
        return r;

    size_t i;
    for (i = 0; i < N_SETTINGS; i++)
        if (word_is(name, name_len, setting_table[i].name))
            break;
    if (i == N_SETTINGS)
        return fail(ps, name, "unknown setting '%s'", shown);
    const struct dp_setting_info *info = &setting_table[i];
    if (!info->supported && !ps->cfg->accept_unsupported)
        return fail(ps, name, "setting '%s' is not supported yet", shown);

    char *field = (char *)&ps->cfg->settings + setting_offset[i];
    char value_shown[SHOW_SIZE];
    show(value_shown, sizeof(value_shown), ps->value, ps->value_len);
    switch (info->type) {
    case DP_SETTING_TYPE_STRING: {
        const char *s = arena_strdup(ps, ps->value);
        if (s == NULL)
            return fail_nomem(ps);
        memcpy(field, &s, sizeof(s));
        return 0;
    }
    case DP_SETTING_TYPE_CHOICE: {
        /* the choices are static: point at the matching one */
        const char *choice = info->choices;
        while (*choice != '\0') {
            size_t clen = strcspn(choice, "|");
            if (clen == ps->value_len && memcmp(choice, ps->value, clen) == 0) {
                /* store a NUL-terminated copy of the choice */
                const char *s = arena_strdup(ps, ps->value);
                if (s == NULL)
                    return fail_nomem(ps);
                memcpy(field, &s, sizeof(s));
                return 0;
            }
            choice += clen;
            if (*choice == '|')
                choice++;
        }
        return fail(ps, at,
                    "invalid value '%s' for setting '%s': "
                    "expected one of %s",
                    value_shown, shown, info->choices);
    }
    case DP_SETTING_TYPE_BOOL: {
        bool b;
        if (parse_bool(ps->value, &b) != 0)
            return fail(ps, at,
                        "invalid value '%s' for setting '%s': "
                        "expected yes or no",
                        value_shown, shown);
        memcpy(field, &b, sizeof(b));
        return 0;
    }
    case DP_SETTING_TYPE_UINT: {
        uint64_t v;
        if (parse_uint(ps->value, info->min, info->max, &v) != 0)
            return fail(ps, at,
                        "invalid value '%s' for setting '%s': "
                        "expected an integer from %llu to %llu",
                        value_shown, shown, (unsigned long long)info->min,
                        (unsigned long long)info->max);
        memcpy(field, &v, sizeof(v));
        return 0;
    }
    case DP_SETTING_TYPE_SIZE: {
        uint64_t v;
        if (dp_config_parse_size(ps->value, info->max, &v, why, sizeof(why)) !=
            0)
            return fail(ps, at, "invalid value '%s' for setting '%s': %s",
                        value_shown, shown, why);
        memcpy(field, &v, sizeof(v));
        return 0;
    }
    case DP_SETTING_TYPE_DURATION: {
        uint64_t v;
        if (dp_config_parse_duration(ps->value, info->min, info->max, &v, why,
                                     sizeof(why)) != 0)
            return fail(ps, at, "invalid value '%s' for setting '%s': %s",
                        value_shown, shown, why);
        memcpy(field, &v, sizeof(v));
        return 0;
    }
    }
    return fail(ps, at, "internal error: bad type of setting '%s'", shown);
}

/* --- blocks -------------------------------------------------------- */

/*
 * The rest of a block's first line, "{" and nothing after it (`after`
 * completes the message, "after 'listener'"); then the parser is inside
 * `block`, opened on this line.
 */
static int
block_open(struct parser *ps, struct cursor *c, const char *after,
           enum block block)
{
    int r = expect_symbol(ps, c, '{', after);
    if (r != 0)
        return r;
    r = expect_end(ps, c);
    if (r != 0)
        return r;
    ps->block = block;
    ps->block_depth = ps->depth;
    ps->block_line = ps->line;
    return 0;
}

/*
 * Room for one more line of a repeatable block option in *arr (n used,
 * *cap allocated, elements of `size` bytes, grown in the arena): "more
 * than MAX 'NAME' lines" when n has reached max.
 */
static int
reserve_line(struct parser *ps, const char *word, const char *shown,
             size_t max, void **arr, size_t n, size_t *cap, size_t size)
{
    if (n >= max)
        return fail(ps, word, "more than %zu '%s' lines", max, shown);
    if (grow(&ps->cfg->arena, arr, n, cap, size) != 0)
        return fail_nomem(ps);
    return 0;
}

/* --- listener ------------------------------------------------------ */

static int
listener_open(struct parser *ps, struct cursor *c)
{
    int r = block_open(ps, c, "after 'listener'", BLOCK_LISTENER);
    if (r != 0)
        return r;
    if (ps->cfg->n_listeners >= DP_CONFIG_MAX_LISTENERS)
        return fail(ps, NULL, "more than %d listeners",
                    DP_CONFIG_MAX_LISTENERS);
    memset(&ps->cur, 0, sizeof(ps->cur));
    memset(ps->cur_seen, 0, sizeof(ps->cur_seen));
    ps->cur_ts_cap = 0;
    ps->cur_certs_cap = 0;
    ps->cur.file = ps->file;
    ps->cur.line = ps->line;
    return 0;
}

/*
 * The values of a certificate line up to the end of the line: at least
 * `min`, at most `max`, each copied into the arena; `usage` completes
 * "'NAME' needs ..." when there are too few.  The count, or -EINVAL /
 * -ENOMEM.
 */
static int
cert_values(struct parser *ps, struct cursor *c, const char *word,
            const char *shown, size_t min, size_t max, const char *usage,
            const char **out)
{
    size_t n = 0;
    while (!at_end(c)) {
        if (n == max)
            return fail(ps, c->p, "too many values for '%s' (%s)", shown,
                        usage);
        const char *at = c->p;
        char what[SHOW_SIZE + 32];
        snprintf(what, sizeof(what), "a value for '%s'", shown);
        int r = next_value(ps, c, what);
        if (r != 0)
            return r;
        if (ps->value_len == 0)
            return fail(ps, at, "empty value for '%s'", shown);
        out[n] = arena_strdup(ps, ps->value);
        if (out[n] == NULL)
            return fail_nomem(ps);
        n++;
    }
    if (n < min)
        return fail(ps, word, "'%s' needs %s", shown, usage);
    return (int)n;
}

/* Append a certificate to *arr (at most DP_CONFIG_MAX_SSL_CERTS). */
static int
append_cert(struct parser *ps, const char *word, const char *shown,
            const char *const values[3], size_t n,
            struct dp_config_cert **arr, size_t *len, size_t *cap)
{
    int r = reserve_line(ps, word, shown, DP_CONFIG_MAX_SSL_CERTS,
                         (void **)arr, *len, cap, sizeof(**arr));
    if (r != 0)
        return r;
    struct dp_config_cert *cert = &(*arr)[(*len)++];
    cert->cert = values[0];
    cert->key = values[1];
    cert->name = n > 2 ? values[2] : NULL;
    cert->file = ps->file;
    cert->line = ps->line;
    return 0;
}

/* `ssl_cert "CERT" "KEY"` (repeatable). */
static int
listener_ssl_cert(struct parser *ps, struct cursor *c, const char *word)
{
    const char *values[3] = {NULL, NULL, NULL};
    int n = cert_values(ps, c, word, "ssl_cert", 2, 2,
                        "a certificate file and a key file", values);
    if (n < 0)
        return n;
    struct dp_config_listener *l = &ps->cur;
    return append_cert(ps, word, "ssl_cert", values, (size_t)n,
                       &l->ssl_certs, &l->n_ssl_certs, &ps->cur_certs_cap);
}

static int
listener_option(struct parser *ps, struct cursor *c, const char *word,
                size_t len)
{
    char shown[SHOW_SIZE];
    char why[400];
    show(shown, sizeof(shown), word, len);
    int opt;
    for (opt = 0; opt < LOPT_COUNT; opt++)
        if (word_is(word, len, listener_option_names[opt]))
            break;
    if (opt == LOPT_COUNT) {
        for (size_t i = 0;
             i < sizeof(listener_unsupported) / sizeof(listener_unsupported[0]);
             i++)
            if (word_is(word, len, listener_unsupported[i]))
                return fail(ps, word,
                            "listener option '%s' is not "
                            "supported yet",
                            shown);
        return fail(ps, word, "unknown listener option '%s'", shown);
    }
    if (opt != LOPT_TRANSLATION_SOCKET && opt != LOPT_SSL_CERT &&
        ps->cur_seen[opt])
        return fail(ps, word, "listener option '%s' given twice", shown);
    ps->cur_seen[opt] = true;
    if (opt == LOPT_SSL_CERT)
        return listener_ssl_cert(ps, c, word);

    const char *at;
    char value_shown[SHOW_SIZE];
    int r = option_value(ps, c, shown, &at, value_shown);
    if (r != 0)
        return r;

    struct dp_config_listener *l = &ps->cur;
    bool *flag = NULL;
    switch ((enum listener_option)opt) {
    case LOPT_BIND:
        return add_address(ps, at, ps->value, false,
                           DP_CONFIG_DEFAULT_HTTP_PORT, &l->bind,
                           "bind address");
    case LOPT_TAG:
        l->tag = arena_strdup(ps, ps->value);
        return l->tag != NULL ? 0 : fail_nomem(ps);
    case LOPT_INTERFACE:
        if (ps->value_len >= IFNAMSIZ || strchr(ps->value, '/') != NULL)
            return fail(ps, at,
                        "invalid interface name '%s' (at most %d "
                        "bytes, no '/')",
                        value_shown, IFNAMSIZ - 1);
        l->interface = arena_strdup(ps, ps->value);
        return l->interface != NULL ? 0 : fail_nomem(ps);
    case LOPT_REUSE_PORT:
        flag = &l->reuse_port;
        break;
    case LOPT_FREE_BIND:
        flag = &l->free_bind;
        break;
    case LOPT_KEEPALIVE:
        flag = &l->keepalive;
        break;
    case LOPT_V6ONLY:
        flag = &l->v6only;
        break;
    case LOPT_ACK_TIMEOUT:
        /* TCP_USER_TIMEOUT: milliseconds in an unsigned int */
        if (dp_config_parse_duration(ps->value, 1, 86400000ull,
                                     &l->ack_timeout_ms, why, sizeof(why)) != 0)
            return fail(ps, at, "invalid value '%s' for 'ack_timeout': %s",
                        value_shown, why);
        return 0;
    case LOPT_TRANSLATION_SOCKET:
        return append_translation_socket(ps, at, &l->translation_sockets,
                                         &l->n_translation_sockets,
                                         &ps->cur_ts_cap);
    case LOPT_SSL:
        flag = &l->ssl;
        break;
    case LOPT_SSL_VERIFY:
        if (strcmp(ps->value, "no") == 0)
            l->ssl_verify = DP_CONFIG_SSL_VERIFY_NO;
        else if (strcmp(ps->value, "yes") == 0)
            l->ssl_verify = DP_CONFIG_SSL_VERIFY_YES;
        else if (strcmp(ps->value, "optional") == 0)
            l->ssl_verify = DP_CONFIG_SSL_VERIFY_OPTIONAL;
        else
            return fail(ps, at,
                        "invalid value '%s' for 'ssl_verify': expected "
                        "yes, no or optional",
                        value_shown);
        return 0;
    case LOPT_SSL_CA_CERT:
        l->ssl_ca_cert = arena_strdup(ps, ps->value);
        l->ssl_ca_cert_file = ps->file;
        l->ssl_ca_cert_line = ps->line;
        return l->ssl_ca_cert != NULL ? 0 : fail_nomem(ps);
    case LOPT_STS:
        flag = &l->sts;
        break;
    case LOPT_REDIRECT_HTTP:
        flag = &l->redirect_http;
        break;
    case LOPT_SSL_CERT:
    case LOPT_COUNT:
        break;
    }
    if (flag == NULL || parse_bool(ps->value, flag) != 0)
        return fail(ps, at,
                    "invalid value '%s' for '%s': expected yes or "
                    "no",
                    value_shown, shown);
    return 0;
}

/* True when a second bind() of `a` after one of `o` would fail for the
 * address alone: the same address, unless `a` is an IP address with port 0
 * (the kernel picks a port). */
static bool
same_bind(const struct dp_config_address *a,
          const struct dp_config_address *o)
{
    if ((a->kind == DP_CONFIG_ADDRESS_IPV4 ||
         a->kind == DP_CONFIG_ADDRESS_IPV6) &&
        a->port == 0)
        return false;
    return o->kind == a->kind && o->addr_len == a->addr_len &&
           memcmp(&o->addr, &a->addr, a->addr_len) == 0;
}

/* An earlier listener that binds the same address, so that the second
 * bind() would fail; NULL when there is none.  Port 0 (the kernel picks a
 * port) and SO_REUSEPORT on both never conflict. */
static const struct dp_config_listener *
find_same_bind(const struct dp_config *cfg, const struct dp_config_listener *l)
{
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct dp_config_listener *o = &cfg->listeners[i];
        if (same_bind(&l->bind, &o->bind) &&
            !(o->reuse_port && l->reuse_port))
            return o;
    }
    return NULL;
}

/* "file:line" of a listener, or "--listen". */
static void
format_origin(char *out, size_t size, const struct dp_config_listener *l)
{
    int n;
    if (l->line > 0)
        n = snprintf(out, size, "%s:%u", l->file, l->line);
    else
        n = snprintf(out, size, "%s", l->file);
    (void)n;
}

static int
listener_close(struct parser *ps)
{
    struct dp_config_listener *l = &ps->cur;
    if (!ps->cur_seen[LOPT_BIND])
        return fail(ps, NULL,
                    "listener (opened at line %u) has no 'bind' "
                    "address",
                    ps->block_line);
    if (l->bind.kind == DP_CONFIG_ADDRESS_LOCAL ||
        l->bind.kind == DP_CONFIG_ADDRESS_ABSTRACT) {
        static const enum listener_option ip_only[] = {
            LOPT_INTERFACE, LOPT_FREE_BIND,   LOPT_KEEPALIVE,
            LOPT_V6ONLY,    LOPT_ACK_TIMEOUT,
        };
        for (size_t i = 0; i < sizeof(ip_only) / sizeof(ip_only[0]); i++)
            if (ps->cur_seen[ip_only[i]])
                return fail(ps, NULL,
                            "listener option '%s' needs an IP "
                            "bind address, not a local socket",
                            listener_option_names[ip_only[i]]);
    }
    if (ps->cur_seen[LOPT_V6ONLY] && l->bind.kind != DP_CONFIG_ADDRESS_IPV6)
        return fail(ps, NULL,
                    "listener option 'v6only' needs an IPv6 "
                    "bind address");
    if (l->ssl && l->n_ssl_certs == 0)
        return fail(ps, NULL,
                    "listener (opened at line %u) has 'ssl yes' but no "
                    "'ssl_cert'",
                    ps->block_line);
    if (!l->ssl) {
        static const enum listener_option tls_only[] = {
            LOPT_SSL_CERT, LOPT_SSL_VERIFY,    LOPT_SSL_CA_CERT,
            LOPT_STS,      LOPT_REDIRECT_HTTP,
        };
        for (size_t i = 0; i < sizeof(tls_only) / sizeof(tls_only[0]); i++)
            if (ps->cur_seen[tls_only[i]])
                return fail(ps, NULL,
                            "listener (opened at line %u): option '%s' "
                            "needs 'ssl yes'",
                            ps->block_line, listener_option_names[tls_only[i]]);
    }
    if (l->ssl_verify != DP_CONFIG_SSL_VERIFY_NO && l->ssl_ca_cert == NULL)
        return fail(ps, NULL,
                    "listener (opened at line %u): 'ssl_verify %s' needs "
                    "'ssl_ca_cert' (the CA that signs client certificates)",
                    ps->block_line,
                    l->ssl_verify == DP_CONFIG_SSL_VERIFY_YES ? "yes"
                                                              : "optional");
    if (l->ssl_verify == DP_CONFIG_SSL_VERIFY_NO && l->ssl_ca_cert != NULL)
        return fail(ps, NULL,
                    "listener (opened at line %u): 'ssl_ca_cert' has no "
                    "effect without 'ssl_verify yes' or 'ssl_verify "
                    "optional'",
                    ps->block_line);
    struct dp_config *cfg = ps->cfg;
    const struct dp_config_listener *other = find_same_bind(cfg, l);
    if (other != NULL) {
        char where[600];
        char shown[SHOW_SIZE];
        format_origin(where, sizeof(where), other);
        return fail(
            ps, NULL,
            "listener binds '%s' like the listener at %s (set "
            "'reuse_port yes' in both to share the address)",
            show(shown, sizeof(shown), l->bind.text, strlen(l->bind.text)),
            where);
    }
    if (grow(&cfg->arena, (void **)&cfg->listeners, cfg->n_listeners,
             &cfg->listeners_cap, sizeof(*cfg->listeners)) != 0)
        return fail_nomem(ps);
    cfg->listeners[cfg->n_listeners++] = *l;
    ps->block = BLOCK_NONE;
    return 0;
}

/* --- control blocks ------------------------------------------------ */

static int
control_open(struct parser *ps, struct cursor *c)
{
    int r = block_open(ps, c, "after 'control'", BLOCK_CONTROL);
    if (r != 0)
        return r;
    if (ps->cfg->n_controls >= DP_CONFIG_MAX_CONTROLS)
        return fail(ps, NULL, "more than %d control blocks",
                    DP_CONFIG_MAX_CONTROLS);
    memset(&ps->cur_control, 0, sizeof(ps->cur_control));
    memset(ps->cur_control_seen, 0, sizeof(ps->cur_control_seen));
    ps->cur_control.file = ps->file;
    ps->cur_control.line = ps->line;
    return 0;
}

/* True for 224.0.0.0/4 and ff00::/8. */
static bool
is_multicast(const struct dp_config_address *a)
{
    if (a->kind == DP_CONFIG_ADDRESS_IPV4) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&a->addr;
        return IN_MULTICAST(ntohl(in->sin_addr.s_addr));
    }
    if (a->kind == DP_CONFIG_ADDRESS_IPV6) {
        const struct sockaddr_in6 *in6 =
            (const struct sockaddr_in6 *)&a->addr;
        return IN6_IS_ADDR_MULTICAST(&in6->sin6_addr);
    }
    return false;
}

static int
control_option(struct parser *ps, struct cursor *c, const char *word,
               size_t len)
{
    char shown[SHOW_SIZE];
    show(shown, sizeof(shown), word, len);
    int opt;
    for (opt = 0; opt < COPT_COUNT; opt++)
        if (word_is(word, len, control_option_names[opt]))
            break;
    if (opt == COPT_COUNT)
        return fail(ps, word, "unknown control option '%s'", shown);
    if (ps->cur_control_seen[opt])
        return fail(ps, word, "control option '%s' given twice", shown);
    ps->cur_control_seen[opt] = true;

    const char *at;
    char value_shown[SHOW_SIZE];
    int r = option_value(ps, c, shown, &at, value_shown);
    if (r != 0)
        return r;

    struct dp_config_control *cc = &ps->cur_control;
    switch ((enum control_option)opt) {
    case COPT_BIND:
        return add_address(ps, at, ps->value, false, CTL_DEFAULT_PORT,
                           &cc->bind, "control bind address");
    case COPT_MULTICAST_GROUP:
        r = add_address(ps, at, ps->value, false, 0, &cc->multicast_group,
                        "multicast_group");
        if (r != 0)
            return r;
        if (!is_multicast(&cc->multicast_group) ||
            cc->multicast_group.wildcard)
            return fail(ps, at,
                        "invalid multicast_group '%s': not an IPv4 "
                        "(224.0.0.0/4) or IPv6 (ff00::/8) multicast "
                        "address",
                        value_shown);
        if (cc->multicast_group.port != 0)
            return fail(ps, at,
                        "invalid multicast_group '%s': a group has no "
                        "port (the port is the one of 'bind')",
                        value_shown);
        return 0;
    case COPT_INTERFACE:
        if (ps->value_len == 0 || ps->value_len >= IFNAMSIZ ||
            strchr(ps->value, '/') != NULL)
            return fail(ps, at,
                        "invalid interface name '%s' (1 to %d "
                        "bytes, no '/')",
                        value_shown, IFNAMSIZ - 1);
        cc->interface = arena_strdup(ps, ps->value);
        return cc->interface != NULL ? 0 : fail_nomem(ps);
    case COPT_COUNT:
        break;
    }
    return fail(ps, word, "unknown control option '%s'", shown);
}

/* An earlier control block that binds the same address, or NULL. */
static const struct dp_config_control *
find_same_control(const struct dp_config *cfg,
                  const struct dp_config_control *cc)
{
    for (size_t i = 0; i < cfg->n_controls; i++)
        if (same_bind(&cc->bind, &cfg->controls[i].bind))
            return &cfg->controls[i];
    return NULL;
}

static int
control_close(struct parser *ps)
{
    struct dp_config_control *cc = &ps->cur_control;
    if (!ps->cur_control_seen[COPT_BIND])
        return fail(ps, NULL,
                    "control block (opened at line %u) has no 'bind' "
                    "address",
                    ps->block_line);
    bool local = cc->bind.kind == DP_CONFIG_ADDRESS_LOCAL ||
                 cc->bind.kind == DP_CONFIG_ADDRESS_ABSTRACT;
    if (local && ps->cur_control_seen[COPT_MULTICAST_GROUP])
        return fail(ps, NULL,
                    "control option 'multicast_group' needs a UDP bind "
                    "address, not a local socket");
    if (local && ps->cur_control_seen[COPT_INTERFACE])
        return fail(ps, NULL,
                    "control option 'interface' needs a UDP bind "
                    "address, not a local socket");
    if (ps->cur_control_seen[COPT_INTERFACE] &&
        !ps->cur_control_seen[COPT_MULTICAST_GROUP])
        return fail(ps, NULL,
                    "control option 'interface' needs a "
                    "'multicast_group' (it names where the group is "
                    "joined)");
    if (ps->cur_control_seen[COPT_MULTICAST_GROUP] &&
        cc->multicast_group.kind != cc->bind.kind)
        return fail(ps, NULL,
                    "multicast_group '%s' and bind address '%s' are of "
                    "different IP versions (write 0.0.0.0 for an IPv4 "
                    "group; '*' is IPv6)",
                    cc->multicast_group.text, cc->bind.text);
    struct dp_config *cfg = ps->cfg;
    const struct dp_config_control *other = find_same_control(cfg, cc);
    if (other != NULL) {
        char shown[SHOW_SIZE];
        return fail(ps, NULL,
                    "control block binds '%s' like the control block at "
                    "%s:%u",
                    show(shown, sizeof(shown), cc->bind.text,
                         strlen(cc->bind.text)),
                    other->file, other->line);
    }
    if (grow(&cfg->arena, (void **)&cfg->controls, cfg->n_controls,
             &cfg->controls_cap, sizeof(*cfg->controls)) != 0)
        return fail_nomem(ps);
    cfg->controls[cfg->n_controls++] = *cc;
    ps->block = BLOCK_NONE;
    return 0;
}

/* --- the spawn block ----------------------------------------------- */

static int
spawn_open(struct parser *ps, struct cursor *c)
{
    struct dp_config_spawn *sp = &ps->cfg->spawn;
    if (sp->present)
        return fail(ps, NULL, "a second spawn block (the first is at %s:%u)",
                    sp->file, sp->line);
    int r = block_open(ps, c, "after 'spawn'", BLOCK_SPAWN);
    if (r != 0)
        return r;
    sp->present = true;
    sp->file = ps->file;
    sp->line = ps->line;
    return 0;
}

/* --- ssl_client ---------------------------------------------------- */

static int
ssl_client_open(struct parser *ps, struct cursor *c)
{
    return block_open(ps, c, "after 'ssl_client'", BLOCK_SSL_CLIENT);
}

/* A user or group name as the system tools accept it: a letter or '_'
 * first, then letters, digits, '_', '.', '-', and an optional final '$'. */
static bool
is_id_name(const char *s)
{
    if (!is_alpha(*s) && *s != '_')
        return false;
    for (s++; *s != '\0'; s++)
        if (!is_alpha(*s) && !is_digit(*s) && *s != '_' && *s != '.' &&
            *s != '-' && !(*s == '$' && s[1] == '\0'))
            return false;
    return true;
}

/* ps->value as a spawn id: a name, "N", "N-M" or "N-".  Ranges only
 * when allow_range. */
static int
spawn_id(struct parser *ps, const char *at, const char *what,
         bool allow_range, struct dp_config_spawn_id *id)
{
    char shown[SHOW_SIZE];
    show(shown, sizeof(shown), ps->value, ps->value_len);
    memset(id, 0, sizeof(*id));
    id->file = ps->file;
    id->line = ps->line;
    const char *v = ps->value;
    if (!is_digit(v[0])) {
        if (!is_id_name(v) || ps->value_len > 64)
            return fail(ps, at, "invalid %s '%s': expected a name, a "
                        "number%s", what, shown,
                        allow_range ? " or a range (1000-1999, 2000-)"
                                    : "");
        id->name = arena_strdup(ps, v);
        return id->name != NULL ? 0 : fail_nomem(ps);
    }
    const uint64_t max = UINT32_MAX - 1;    /* (uid_t)-1 means "none" */
    const char *p = v;
    uint64_t first, last;
    if (!parse_decimal(&p, &first) || first > max)
        return fail(ps, at, "invalid %s '%s': a number from 0 to %llu",
                    what, shown, (unsigned long long)max);
    last = first;
    if (*p == '-' && allow_range) {
        p++;
        if (*p == '\0') {
            last = max;
        } else if (!parse_decimal(&p, &last) || last > max) {
            return fail(ps, at, "invalid %s '%s': the end of the range is "
                        "not a number from 0 to %llu", what, shown,
                        (unsigned long long)max);
        }
        if (last < first)
            return fail(ps, at, "invalid %s '%s': the range ends before "
                        "it starts", what, shown);
    }
    if (*p != '\0')
        return fail(ps, at, "invalid %s '%s': expected a name, a number%s",
                    what, shown,
                    allow_range ? " or a range (1000-1999, 2000-)" : "");
    id->first = (uint32_t)first;
    id->last = (uint32_t)last;
    return 0;
}

static int
spawn_option(struct parser *ps, struct cursor *c, const char *word,
             size_t len)
{
    static const char *const unsupported[] = {
        "CPUWeight", "TasksMax", "MemoryMax", "IOWeight",
    };
    char shown[SHOW_SIZE];
    show(shown, sizeof(shown), word, len);
    bool is_default = word_is(word, len, "default_user");
    bool is_user = word_is(word, len, "allow_user");
    bool is_group = word_is(word, len, "allow_group");
    if (!is_default && !is_user && !is_group) {
        for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]);
             i++)
            if (word_is(word, len, unsupported[i]))
                return fail(ps, word, "spawn option '%s' is not supported "
                            "yet", shown);
        return fail(ps, word, "unknown spawn option '%s'", shown);
    }
    struct dp_config_spawn *sp = &ps->cfg->spawn;
    if (is_default && sp->has_default_user)
        return fail(ps, word, "spawn option 'default_user' given twice");
    const char *at;
    char value_shown[SHOW_SIZE];
    int r = option_value(ps, c, shown, &at, value_shown);
    if (r != 0)
        return r;
    if (is_default) {
        r = spawn_id(ps, at, "default_user", false, &sp->default_user);
        if (r == 0)
            sp->has_default_user = true;
        return r;
    }
    struct dp_config *cfg = ps->cfg;
    struct dp_config_spawn_id **arr = is_user ? &sp->allow_users
                                              : &sp->allow_groups;
    size_t *n = is_user ? &sp->n_allow_users : &sp->n_allow_groups;
    size_t *cap = is_user ? &cfg->allow_users_cap : &cfg->allow_groups_cap;
    r = reserve_line(ps, word, shown, DP_CONFIG_MAX_SPAWN_IDS, (void **)arr,
                     *n, cap, sizeof(**arr));
    if (r != 0)
        return r;
    r = spawn_id(ps, at, is_user ? "allow_user" : "allow_group", true,
                 &(*arr)[*n]);
    if (r == 0)
        (*n)++;
    return r;
}

/* `cert "CERT" "KEY" ["NAME"]`: names are unique. */
static int
ssl_client_option(struct parser *ps, struct cursor *c, const char *word,
                  size_t len)
{
    char shown[SHOW_SIZE];
    show(shown, sizeof(shown), word, len);
    if (!word_is(word, len, "cert"))
        return fail(ps, word,
                    "unknown ssl_client option '%s' (expected 'cert')",
                    shown);
    const char *values[3] = {NULL, NULL, NULL};
    int n = cert_values(ps, c, word, "cert", 2, 3,
                        "a certificate file, a key file and optionally a "
                        "name",
                        values);
    if (n < 0)
        return n;
    struct dp_config *cfg = ps->cfg;
    if (n == 3)
        for (size_t i = 0; i < cfg->n_ssl_client_certs; i++) {
            const struct dp_config_cert *o = &cfg->ssl_client_certs[i];
            if (o->name != NULL && strcmp(o->name, values[2]) == 0)
                return fail(ps, word,
                            "ssl_client certificate name '%s' is already "
                            "used at %s:%u",
                            show(shown, sizeof(shown), values[2],
                                 strlen(values[2])),
                            o->file, o->line);
        }
    return append_cert(ps, word, "cert", values, (size_t)n,
                       &cfg->ssl_client_certs, &cfg->n_ssl_client_certs,
                       &cfg->ssl_client_certs_cap);
}

/* --- lines --------------------------------------------------------- */

static int include_files(struct parser *ps, const char *at, bool optional);

static int
parse_directive(struct parser *ps, struct cursor *c)
{
    const char *start = c->p;
    c->p++; /* '@' */
    if (c->p == c->end || !is_word_char(*c->p))
        return fail(ps, c->p, "expected a directive name after '@'");
    const char *word;
    size_t len;
    int r = next_word(ps, c, &word, &len, "a directive name after '@'");
    if (r != 0)
        return r;
    if (word_is(word, len, "set"))
        return directive_set(ps, c);
    bool optional = word_is(word, len, "include_optional");
    if (word_is(word, len, "include") || optional) {
        skip_blanks(c);
        const char *at = c->p;
        r = value_and_end(ps, c,
                          optional ? "'@include_optional'" : "'@include'");
        if (r != 0)
            return r;
        if (!ps->includes)
            return fail(ps, start,
                        "'@%s' is not available here (the text "
                        "is parsed without file access)",
                        optional ? "include_optional" : "include");
        return include_files(ps, at, optional);
    }
    char shown[SHOW_SIZE];
    return fail(ps, start, "unknown directive '@%s'",
                show(shown, sizeof(shown), word, len));
}

static int
parse_line(struct parser *ps, const char *line, const char *end)
{
    struct cursor c = {line, end};
    ps->line_start = line;
    if (at_end(&c))
        return 0;
    if (*c.p == '@')
        return parse_directive(ps, &c);
    if (*c.p == '}') {
        const char *at = c.p;
        c.p++;
        int r = expect_end(ps, &c);
        if (r != 0)
            return r;
        if (ps->block == BLOCK_NONE)
            return fail(ps, at, "'}' without an open block");
        if (ps->block_depth != ps->depth)
            return fail(ps, at, "'}' closes a block opened in another file");
        if (ps->block == BLOCK_CONTROL)
            return control_close(ps);
        if (ps->block == BLOCK_SPAWN || ps->block == BLOCK_SSL_CLIENT) {
            ps->block = BLOCK_NONE;
            return 0;
        }
        return listener_close(ps);
    }

    const char *word;
    size_t len;
    int r = next_word(ps, &c, &word, &len,
                      ps->block == BLOCK_LISTENER     ? "a listener option"
                      : ps->block == BLOCK_CONTROL    ? "a control option"
                      : ps->block == BLOCK_SPAWN      ? "a spawn option"
                      : ps->block == BLOCK_SSL_CLIENT ? "an ssl_client option"
                                                      : "a keyword");
    if (r != 0)
        return r;
    if (ps->block == BLOCK_LISTENER)
        return listener_option(ps, &c, word, len);
    if (ps->block == BLOCK_CONTROL)
        return control_option(ps, &c, word, len);
    if (ps->block == BLOCK_SPAWN)
        return spawn_option(ps, &c, word, len);
    if (ps->block == BLOCK_SSL_CLIENT)
        return ssl_client_option(ps, &c, word, len);

    if (word_is(word, len, "listener"))
        return listener_open(ps, &c);
    if (word_is(word, len, "control"))
        return control_open(ps, &c);
    if (word_is(word, len, "spawn"))
        return spawn_open(ps, &c);
    if (word_is(word, len, "ssl_client"))
        return ssl_client_open(ps, &c);
    if (word_is(word, len, "set"))
        return handle_set(ps, &c);
    if (word_is(word, len, "translation_socket")) {
        skip_blanks(&c);
        const char *at = c.p;
        r = value_and_end(ps, &c, "'translation_socket'");
        if (r != 0)
            return r;
        struct dp_config *cfg = ps->cfg;
        return append_translation_socket(ps, at, &cfg->translation_sockets,
                                         &cfg->n_translation_sockets,
                                         &cfg->translation_sockets_cap);
    }
    char shown[SHOW_SIZE];
    show(shown, sizeof(shown), word, len);
    for (size_t i = 0;
         i < sizeof(toplevel_unsupported) / sizeof(toplevel_unsupported[0]);
         i++)
        if (word_is(word, len, toplevel_unsupported[i].name))
            return fail(ps, word,
                        toplevel_unsupported[i].block
                            ? "block '%s' is not supported yet"
                            : "'%s' is not supported yet",
                        shown);
    return fail(ps, word, "unknown keyword '%s'", shown);
}

/* Parse one file's text.  `name` must live as long as the config (it is
 * copied into the arena by the callers). */
static int
parse_text(struct parser *ps, const char *name, const uint8_t *data, size_t len)
{
    const char *saved_file = ps->file;
    unsigned saved_line = ps->line;
    const char *saved_start = ps->line_start;
    ps->file = name;
    ps->line = 0;
    ps->line_start = NULL;

    const char *p = (const char *)data;
    const char *end = p + len;
    int r = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl != NULL ? nl : end;
        ps->line++;
        ps->line_start = p;
        const char *nul = memchr(p, '\0', (size_t)(line_end - p));
        if (nul != NULL) {
            r = fail(ps, nul, "NUL byte in the text");
            break;
        }
        r = parse_line(ps, p, line_end);
        if (r != 0)
            break;
        p = nl != NULL ? nl + 1 : end;
    }
    if (r == 0 && ps->block != BLOCK_NONE && ps->block_depth == ps->depth) {
        ps->line = ps->block_line;
        ps->line_start = NULL;
        r = fail(ps, NULL, "%s block is not closed at the end of the file",
                 ps->block == BLOCK_CONTROL      ? "control"
                 : ps->block == BLOCK_SPAWN      ? "spawn"
                 : ps->block == BLOCK_SSL_CLIENT ? "ssl_client"
                                                 : "listener");
    }
    if (r == 0) {
        ps->file = saved_file;
        ps->line = saved_line;
        ps->line_start = saved_start;
    }
    /* on failure the location stays where the error was */
    return r;
}

int
dp_config_parse_buffer(const char *name, const uint8_t *data, size_t len,
                       struct dp_config *cfg, struct dp_config_error *err)
{
    struct parser *ps = calloc(1, sizeof(*ps));
    if (ps == NULL) {
        error_set(err, name, 0, 0, "out of memory");
        return -ENOMEM;
    }
    ps->cfg = cfg;
    ps->err = err;
    int r;
    const char *n = pr_arena_strndup(&cfg->arena, name, strlen(name));
    if (n == NULL) {
        error_set(err, name, 0, 0, "out of memory");
        r = -ENOMEM;
    } else {
        r = parse_text(ps, n, data, len);
    }
    free_variables(ps);
    free(ps);
    return r;
}

/* ------------------------------------------------------------------ */
/* The file layer. */

/* Read and parse the file at `path` (already resolved).  `at` is where
 * the including line is (NULL for the top file): errors about opening the
 * file are reported there. */
static int
load_path(struct parser *ps, const char *path, bool optional, const char *at)
{
    char shown[SHOW_SIZE];
    show(shown, sizeof(shown), path, strlen(path));
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        if (optional && (e == ENOENT || e == ENOTDIR))
            return 0;
        if (at == NULL) {
            char msg[400];
            int n = snprintf(msg, sizeof(msg), "cannot open: %s", strerror(e));
            (void)n;
            error_set(ps->err, path, 0, 0, msg);
        } else {
            fail(ps, at, "cannot open '%s': %s", shown, strerror(e));
        }
        return -e;
    }
    struct stat st;
    int r = 0;
    uint8_t *data = NULL;
    size_t len = 0;
    if (fstat(fd, &st) != 0) {
        r = -errno;
        fail(ps, at, "cannot stat '%s': %s", shown, strerror(-r));
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        r = -EINVAL;
        fail(ps, at, "'%s' is not a regular file", shown);
        goto out;
    }
    for (struct include_frame *f = ps->frames; f != NULL; f = f->parent) {
        if (f->dev == st.st_dev && f->ino == st.st_ino) {
            r = -ELOOP;
            fail(ps, at, "'%s' includes itself (include cycle)", shown);
            goto out;
        }
    }
    if (ps->depth >= DP_CONFIG_MAX_INCLUDE_DEPTH) {
        r = -ELOOP;
        fail(ps, at, "'@include' nested more than %d levels deep",
             DP_CONFIG_MAX_INCLUDE_DEPTH);
        goto out;
    }
    if (ps->n_files >= DP_CONFIG_MAX_FILES) {
        r = -EMFILE;
        fail(ps, at, "more than %d configuration files", DP_CONFIG_MAX_FILES);
        goto out;
    }
    ps->n_files++;
    if (st.st_size > (off_t)DP_CONFIG_MAX_FILE_SIZE) {
        r = -EFBIG;
        fail(ps, at, "'%s' is larger than %u bytes", shown,
             DP_CONFIG_MAX_FILE_SIZE);
        goto out;
    }
    /* Read up to the limit plus one byte: the file may have grown. */
    data = malloc(DP_CONFIG_MAX_FILE_SIZE + 1);
    if (data == NULL) {
        r = fail_nomem(ps);
        goto out;
    }
    for (;;) {
        ssize_t n = read(fd, data + len, DP_CONFIG_MAX_FILE_SIZE + 1 - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            r = -errno;
            fail(ps, at, "cannot read '%s': %s", shown, strerror(-r));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > DP_CONFIG_MAX_FILE_SIZE) {
            r = -EFBIG;
            fail(ps, at, "'%s' is larger than %u bytes", shown,
                 DP_CONFIG_MAX_FILE_SIZE);
            goto out;
        }
    }
    close(fd);
    fd = -1;

    const char *name = pr_arena_strndup(&ps->cfg->arena, path, strlen(path));
    if (name == NULL) {
        r = fail_nomem(ps);
        goto out;
    }
    struct include_frame frame = {ps->frames, st.st_dev, st.st_ino};
    ps->frames = &frame;
    ps->depth++;
    r = parse_text(ps, name, data, len);
    ps->depth--;
    ps->frames = frame.parent;

out:
    if (fd >= 0)
        close(fd);
    free(data);
    return r;
}

static bool
has_wildcard(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] == '*' || s[i] == '?' || s[i] == '[')
            return true;
    return false;
}

static int
compare_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
include_files(struct parser *ps, const char *at, bool optional)
{
    char shown[SHOW_SIZE];
    const char *name = ps->value;
    show(shown, sizeof(shown), name, ps->value_len);

    /* Relative to the directory of the including file. */
    char path[PATH_MAX];
    const char *slash = strrchr(ps->file, '/');
    int n;
    if (name[0] == '/' || slash == NULL)
        n = snprintf(path, sizeof(path), "%s", name);
    else
        n = snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - ps->file),
                     ps->file, name);
    if (n < 0 || (size_t)n >= sizeof(path))
        return fail(ps, at, "file name '%s' too long", shown);

    const char *last = strrchr(path, '/');
    size_t dir_len = last != NULL ? (size_t)(last - path) : 0;
    const char *base = last != NULL ? last + 1 : path;
    if (has_wildcard(path, dir_len))
        return fail(ps, at,
                    "wildcards are allowed in the last component "
                    "of '%s' only",
                    shown);
    if (!has_wildcard(base, strlen(base)))
        return load_path(ps, path, optional, at);

    glob_t g;
    memset(&g, 0, sizeof(g));
    int gr = glob(path, GLOB_ERR | GLOB_NOSORT, NULL, &g);
    if (gr == GLOB_NOSPACE) {
        globfree(&g);
        return fail_nomem(ps);
    }
    if (gr != 0) {
        globfree(&g);
        /* No match is fine (an empty conf.d); a missing directory only
         * for @include_optional. */
        char dir[PATH_MAX];
        if (dir_len == 0) {
            memcpy(dir, last != NULL ? "/" : ".", 2);
        } else {
            memcpy(dir, path, dir_len);
            dir[dir_len] = '\0';
        }
        char dshown[SHOW_SIZE];
        show(dshown, sizeof(dshown), dir, strlen(dir));
        struct stat st;
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            if (optional)
                return 0;
            return fail(ps, at, "no directory '%s' for '@include \"%s\"'",
                        dshown, shown);
        }
        if (gr != GLOB_NOMATCH)
            return fail(ps, at, "cannot read the directory '%s'", dshown);
        return 0;
    }
    /* Byte order, whatever the locale says. */
    qsort(g.gl_pathv, g.gl_pathc, sizeof(*g.gl_pathv), compare_paths);
    int r = 0;
    for (size_t i = 0; i < g.gl_pathc && r == 0; i++)
        r = load_path(ps, g.gl_pathv[i], false, at);
    globfree(&g);
    return r;
}

int
dp_config_load_file(const char *path, struct dp_config *cfg,
                    struct dp_config_error *err)
{
    struct parser *ps = calloc(1, sizeof(*ps));
    if (ps == NULL) {
        error_set(err, path, 0, 0, "out of memory");
        return -ENOMEM;
    }
    ps->cfg = cfg;
    ps->err = err;
    ps->includes = true;
    ps->file = path;
    int r = load_path(ps, path, false, NULL);
    free_variables(ps);
    free(ps);
    return r;
}

/* ------------------------------------------------------------------ */
/* Command line and defaults. */

static int
add_listen(struct dp_config *cfg, const char *address,
           struct dp_config_error *err, const char *origin)
{
    char why[400];
    struct dp_config_listener l;
    memset(&l, 0, sizeof(l));
    if (dp_config_parse_address(address, DP_CONFIG_DEFAULT_HTTP_PORT, false,
                                &l.bind, why, sizeof(why)) != 0) {
        char msg[500];
        int n = snprintf(msg, sizeof(msg), "%s: %s", origin, why);
        (void)n;
        error_set(err, "", 0, 0, msg);
        return -EINVAL;
    }
    if (cfg->n_listeners >= DP_CONFIG_MAX_LISTENERS) {
        char msg[100];
        int n = snprintf(msg, sizeof(msg), "%s: more than %d listeners", origin,
                         DP_CONFIG_MAX_LISTENERS);
        (void)n;
        error_set(err, "", 0, 0, msg);
        return -EINVAL;
    }
    const struct dp_config_listener *other = find_same_bind(cfg, &l);
    if (other != NULL) {
        char where[600];
        char msg[1000];
        format_origin(where, sizeof(where), other);
        int n = snprintf(msg, sizeof(msg),
                         "%s: '%s' is already bound by the listener at %s",
                         origin, address, where);
        (void)n;
        error_set(err, "", 0, 0, msg);
        return -EINVAL;
    }
    l.bind.text = pr_arena_strndup(&cfg->arena, address, strlen(address));
    l.file = pr_arena_strndup(&cfg->arena, origin, strlen(origin));
    if (l.bind.text == NULL || l.file == NULL ||
        grow(&cfg->arena, (void **)&cfg->listeners, cfg->n_listeners,
             &cfg->listeners_cap, sizeof(*cfg->listeners)) != 0) {
        error_set(err, "", 0, 0, "out of memory");
        return -ENOMEM;
    }
    cfg->listeners[cfg->n_listeners++] = l;
    return 0;
}

int
dp_config_add_listen(struct dp_config *cfg, const char *address,
                     struct dp_config_error *err)
{
    return add_listen(cfg, address, err, "--listen");
}

int
dp_config_add_translation_socket(struct dp_config *cfg, const char *address,
                                 struct dp_config_error *err)
{
    char why[400];
    char msg[500];
    struct dp_config_address a;
    if (dp_config_parse_address(address, 0, true, &a, why, sizeof(why)) != 0) {
        int n = snprintf(msg, sizeof(msg), "--translation-socket: %s", why);
        (void)n;
        error_set(err, "", 0, 0, msg);
        return -EINVAL;
    }
    if (cfg->n_translation_sockets >= DP_CONFIG_MAX_TRANSLATION_SOCKETS) {
        int n = snprintf(msg, sizeof(msg),
                         "--translation-socket: more than "
                         "%d translation sockets",
                         DP_CONFIG_MAX_TRANSLATION_SOCKETS);
        (void)n;
        error_set(err, "", 0, 0, msg);
        return -EINVAL;
    }
    a.text = pr_arena_strndup(&cfg->arena, address, strlen(address));
    if (a.text == NULL ||
        grow(&cfg->arena, (void **)&cfg->translation_sockets,
             cfg->n_translation_sockets, &cfg->translation_sockets_cap,
             sizeof(*cfg->translation_sockets)) != 0) {
        error_set(err, "", 0, 0, "out of memory");
        return -ENOMEM;
    }
    cfg->translation_sockets[cfg->n_translation_sockets++] = a;
    return 0;
}

int
dp_config_finish(struct dp_config *cfg, struct dp_config_error *err)
{
    if (cfg->n_listeners == 0) {
        int r = add_listen(cfg, DP_CONFIG_DEFAULT_LISTEN, err, "default");
        if (r != 0)
            return r;
    }
    if (cfg->n_translation_sockets == 0)
        return dp_config_add_translation_socket(
            cfg, DP_CONFIG_DEFAULT_TRANSLATION_SOCKET, err);
    return 0;
}
