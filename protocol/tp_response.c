#include "tp_response.h"

#include "tp_command.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>

/*
 * How it works: every command number has a `struct rule` (the table at the
 * end).  feed() runs the checks every packet shares, in this order, and
 * then either a generic store ("set this flag / string / slice of the
 * response, the current address, the current child or the current
 * filter") or a custom handler:
 *
 *   classification -> payload shape (tp_payload_check) -> F_NONEMPTY ->
 *   rule->check -> `need` predicates -> F_TOP -> [generic: target,
 *   address kind, duplicate, `excl` predicates, store] | [custom fn]
 *
 * Parser state that decides where a packet goes ("current slot",
 * "current child", the MAX_AGE anchor, layout mode) lives in struct
 * tp_response_parser.
 */

enum { ST_START = 0, ST_BODY, ST_DONE, ST_ERROR };

typedef int (*handler_fn)(struct tp_response_parser *p,
                          const struct tp_packet *pkt);
typedef const char *(*check_fn)(const uint8_t *data, size_t len);

enum op {
    OP_CUSTOM = 0,  /* rule->fn */
    OP_IGNORE,
    OP_FLAG,        /* bool */
    OP_STR,         /* const char * */
    OP_SLICE,       /* struct pr_slice */
    OP_U16,         /* uint16_t, 0 = unset */
    OP_U32,         /* uint32_t, 0 = unset */
};

/* Where a generic store goes. */
enum dom { D_RESP = 0, D_ADDR, D_CHILD, D_FILTER };

enum {
    F_NONEMPTY = 1 << 0,   /* payload must not be empty */
    F_OVERWRITE = 1 << 1,  /* a repeat overwrites (§1.6), no "duplicate" */
    F_TOP = 1 << 2,        /* main slot only (not after FILTER) */
    F_NOSHAPE = 1 << 3,    /* skip tp_payload_check(): own format */
};

/* Predicates for rule->need ("X without Y") and rule->excl ("cannot
 * combine X with Y"); see pred() and pred_names[]. */
enum {
    P_REGEX = 1u << 0,
    P_INVERSE_REGEX = 1u << 1,
    P_ANY_REGEX = 1u << 2,
    P_REGEX_OR_LAYOUT = 1u << 3,
    P_BASE = 1u << 4,
    P_EASY_BASE = 1u << 5,
    P_AUTO_BASE = 1u << 6,
    P_REDIRECT = 1u << 7,
    P_SITE = 1u << 8,
    P_CHECK = 1u << 9,
    P_CHAIN = 1u << 10,
    P_CHAIN_REQUEST = 1u << 11,
    P_DIRECTORY_INDEX = 1u << 12,
    P_TEST_PATH = 1u << 13,
    P_PROBE_PATH_SUFFIXES = 1u << 14,
    P_AUTH = 1u << 15,
    P_AUTH_FILE = 1u << 16,
    P_AUTH_OR_FILE = 1u << 17,
    P_ANY_AUTH = 1u << 18,
    P_HTTP_AUTH = 1u << 19,
    P_TOKEN_AUTH = 1u << 20,
    P_APPEND_AUTH = 1u << 21,
    P_READ_FILE = 1u << 22,
    P_REALM = 1u << 23,
    P_REALM_FROM_AUTH_BASE = 1u << 24,
    P_ADDRESS = 1u << 25,
    P_FILTER = 1u << 26,
    P_ADDRESS_CACHE_TAG = 1u << 27,
    P_COUNT = 28,
};

/* A predicate that covers a packet and its EXPAND_ variant names both, so
 * that "cannot combine X with ..." never reads "X with X". */
static const char *const pred_names[P_COUNT] = {
    "REGEX", "INVERSE_REGEX", "REGEX or INVERSE_REGEX",
    "REGEX, INVERSE_REGEX or LAYOUT", "BASE", "EASY_BASE", "AUTO_BASE",
    "REDIRECT", "SITE", "CHECK", "CHAIN", "CHAIN request",
    "DIRECTORY_INDEX", "TEST_PATH or EXPAND_TEST_PATH",
    "PROBE_PATH_SUFFIXES", "AUTH", "AUTH_FILE or EXPAND_AUTH_FILE",
    "AUTH or AUTH_FILE", "AUTH, AUTH_FILE, HTTP_AUTH or TOKEN_AUTH",
    "HTTP_AUTH", "TOKEN_AUTH", "APPEND_AUTH or EXPAND_APPEND_AUTH",
    "READ_FILE or EXPAND_READ_FILE", "REALM", "REALM_FROM_AUTH_BASE",
    "resource address", "FILTER", "address CACHE_TAG",
};

struct rule {
    uint8_t support;       /* enum tp_packet_support; 0 = by direction */
    uint8_t op;            /* enum op */
    uint8_t dom;           /* enum dom */
    uint8_t flags;         /* F_* */
    uint16_t kinds;        /* D_ADDR: allowed address types (K()) */
    uint16_t off;          /* field offset for generic ops */
    uint32_t need, excl;   /* P_* */
    check_fn check;        /* extra payload validation */
    handler_fn fn;         /* OP_CUSTOM */
    const char *reason;    /* REMOVED, UNSUPPORTED */
};

#define K(t) (1u << TP_ADDRESS_##t)
#define K_FILE (K(LOCAL) | K(NFS))
#define K_CGI (K(CGI) | K(FASTCGI) | K(WAS))
#define K_CHILD (K_CGI | K(LHTTP) | K(PIPE))
#define K_LIST (K(HTTP) | K(FASTCGI) | K(WAS))
#define K_SERVER (K(FASTCGI) | K(WAS) | K(LHTTP))

static const char *const type_names[] = {
    "no", "PATH", "NFS", "HTTP", "CGI", "FASTCGI", "WAS", "LHTTP", "PIPE",
};

/* ---- errors ---- */

static int
fail(struct tp_response_parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
fail(struct tp_response_parser *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->error, sizeof(p->error), fmt, ap);
    va_end(ap);
    p->state = ST_ERROR;
    return -1;
}

static const char *
name(const struct tp_packet *pkt)
{
    return tp_command_name(pkt->command);
}

static int
malformed(struct tp_response_parser *p, const struct tp_packet *pkt,
          const char *why)
{
    return fail(p, "malformed %s packet: %s", name(pkt), why);
}

static int
duplicate(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    return fail(p, "duplicate %s packet", name(pkt));
}

static int
misplaced(struct tp_response_parser *p, const struct tp_packet *pkt,
          const char *why)
{
    return fail(p, "misplaced %s packet: %s", name(pkt), why);
}

static int
wrong_kind(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    if (p->slot->type == TP_ADDRESS_NONE)
        return misplaced(p, pkt, "no resource address before it");
    return fail(p, "misplaced %s packet: not valid for a %s address",
                name(pkt), type_names[p->slot->type]);
}

static int
oom(struct tp_response_parser *p)
{
    return fail(p, "out of memory");
}

/* ---- arena helpers ---- */

static const char *
dup_str(struct tp_response_parser *p, const void *data, size_t len)
{
    const char *s = pr_arena_strndup(&p->response->arena, data, len);
    if (s == NULL)
        oom(p);
    return s;
}

static int
dup_slice(struct tp_response_parser *p, struct pr_slice *dst,
          const struct tp_packet *pkt)
{
    /* strndup gives a non-NULL pointer even for an empty payload */
    const char *s = dup_str(p, pkt->payload, pkt->length);
    if (s == NULL)
        return -1;
    dst->data = (const uint8_t *)s;
    dst->len = pkt->length;
    return 0;
}

/*
 * Make room for one more element of an arena array (*arrp, *n, *cap).
 * Returns the new zeroed element, or NULL with an error set.  The array
 * pointer is accessed through memcpy so one helper serves every list.
 */
static void *
push(struct tp_response_parser *p, void *arrp, size_t elem, size_t *n,
     size_t *cap, size_t limit, const struct tp_packet *pkt)
{
    char *v;
    memcpy(&v, arrp, sizeof(v));
    if (*n >= limit) {
        fail(p, "too many %s packets (limit %zu)", name(pkt), limit);
        return NULL;
    }
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        if (ncap > limit)
            ncap = limit;
        char *nv = pr_arena_alloc(&p->response->arena, ncap * elem);
        if (nv == NULL) {
            oom(p);
            return NULL;
        }
        if (*n > 0)
            memcpy(nv, v, *n * elem);
        v = nv;
        memcpy(arrp, &v, sizeof(v));
        *cap = ncap;
    }
    void *item = v + *n * elem;
    memset(item, 0, elem);
    (*n)++;
    return item;
}

#define PUSH(p, list, limit, pkt)                                           \
    push((p), &(list)->v, sizeof(*(list)->v), &(list)->n, &(list)->cap,    \
         (limit), (pkt))

/* ---- payload validators (rule->check): NULL or why not ---- */

static bool
has_prefix(const uint8_t *d, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);
    return len >= n && memcmp(d, prefix, n) == 0;
}

static bool
is_name_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static const char *
chk_name(const uint8_t *d, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!is_name_char(d[i]))
            return "must be a name of [A-Za-z0-9_-]";
    return len > 0 ? NULL : "must be a name of [A-Za-z0-9_-]";
}

static const char *
chk_scheme(const uint8_t *d, size_t len)
{
    return has_prefix(d, len, "http") ? NULL : "must start with \"http\"";
}

static const char *
chk_message(const uint8_t *d, size_t len)
{
    if (len > TP_MAX_MESSAGE)
        return "longer than 1024 bytes";
    for (size_t i = 0; i < len; i++)
        if ((d[i] < 0x20 || d[i] > 0x7e) && d[i] != '\t' && d[i] != '\n' &&
            d[i] != '\r')
            return "not printable US-ASCII";
    return NULL;
}

static const char *
chk_empty(const uint8_t *d, size_t len)
{
    /* spec §9.4: beng-proxy only accepts an empty REALM */
    (void)d;
    return len == 0 ? NULL : "only an empty REALM is accepted";
}

static const char *
chk_cookie_value(const uint8_t *d, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (d[i] <= 0x20 || d[i] >= 0x7f || d[i] == '"' || d[i] == ',' ||
            d[i] == ';' || d[i] == '\\')
            return "not a valid cookie value";
    return NULL;
}

static const char *
chk_lower_header_name(const uint8_t *d, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!((d[i] >= 'a' && d[i] <= 'z') || (d[i] >= '0' && d[i] <= '9') ||
              d[i] == '-'))
            return "must be a lower-case header name";
    return len > 0 ? NULL : "must be a lower-case header name";
}

static const char *
chk_abs_path(const uint8_t *d, size_t len)
{
    return len > 0 && d[0] == '/' ? NULL : "must be an absolute path";
}

static const char *
chk_no_slash(const uint8_t *d, size_t len)
{
    return memchr(d, '/', len) == NULL ? NULL : "contains '/'";
}

/* Printable ASCII without space: host names, NFS servers. */
static const char *
chk_host(const uint8_t *d, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (d[i] <= 0x20 || d[i] >= 0x7f || d[i] == '/')
            return "not a valid host";
    return NULL;
}

/* RLIMITS: [SH]? letter ( '!' | digits [KMGT]? ), whitespace ignored
 * (the letter codes of libcommon's ResourceLimits). */
static const char *
chk_rlimits(const uint8_t *d, size_t len)
{
    static const char letters[] = "tfdscmunlviqer";
    size_t i = 0;
    while (i < len) {
        uint8_t c = d[i++];
        if (c == 'S' || c == 'H' || c == ' ' || c == '\t' || c == '\n' ||
            c == '\r')
            continue;
        if (memchr(letters, c, sizeof(letters) - 1) == NULL)
            return "unknown resource letter";
        if (i == len)
            return "missing value";
        if (d[i] == '!') {
            i++;
            continue;
        }
        size_t digits = 0;
        while (i < len && d[i] >= '0' && d[i] <= '9') {
            i++;
            digits++;
        }
        if (digits == 0 || digits > 19)
            return "malformed value";
        if (i < len && (d[i] == 'K' || d[i] == 'M' || d[i] == 'G' ||
                        d[i] == 'T'))
            i++;
    }
    return NULL;
}

/* "NAME=VALUE": non-empty name (PAIR, SETENV and their EXPAND_). */
static const char *
chk_pair(const uint8_t *d, size_t len)
{
    return len > 1 && d[0] != '=' && memchr(d + 1, '=', len - 1) != NULL
               ? NULL
               : "must be NAME=VALUE";
}

/* ---- the current slot, child and address list ---- */

static bool
slot_is(const struct tp_response_parser *p, unsigned kinds)
{
    return (kinds & (1u << p->slot->type)) != 0;
}

static struct tp_child_options *
current_child(struct tp_response_parser *p)
{
    return slot_is(p, K_CHILD) ? &p->slot->child
                               : &p->response->unattached_child;
}

static struct tp_address_list *
current_list(struct tp_response_parser *p)
{
    return slot_is(p, K_LIST) ? &p->slot->addresses : NULL;
}

static uint16_t
default_port(const struct tp_address *a)
{
    switch (a->type) {
    case TP_ADDRESS_HTTP:
        return a->scheme == TP_HTTP_SCHEME_HTTPS ? 443 : 80;
    case TP_ADDRESS_FASTCGI:
        return 9000;
    default:
        return 0;
    }
}

static void
init_child(struct tp_child_options *c)
{
    c->umask = TP_UMASK_UNSET;
}

/* ---- predicates ---- */

static bool
pred(const struct tp_response_parser *p, uint32_t bit)
{
    const struct tp_response *r = p->response;
    switch (bit) {
    case P_REGEX:
        return r->regex != NULL;
    case P_INVERSE_REGEX:
        return r->inverse_regex != NULL;
    case P_ANY_REGEX:
        return r->regex != NULL || r->inverse_regex != NULL;
    case P_REGEX_OR_LAYOUT:
        return r->regex != NULL || r->inverse_regex != NULL ||
               r->layout.data != NULL;
    case P_BASE:
        return r->base != NULL;
    case P_EASY_BASE:
        return r->easy_base;
    case P_AUTO_BASE:
        return r->auto_base;
    case P_REDIRECT:
        return r->redirect != NULL;
    case P_SITE:
        return r->site != NULL;
    case P_CHECK:
        return r->check.data != NULL;
    case P_CHAIN:
        return r->chain.data != NULL;
    case P_CHAIN_REQUEST:
        return (p->request_flags & TP_REQUEST_CHAIN) != 0;
    case P_DIRECTORY_INDEX:
        return r->directory_index.data != NULL;
    case P_TEST_PATH:
        return r->test_path != NULL || r->expand_test_path != NULL;
    case P_PROBE_PATH_SUFFIXES:
        return r->probe_path_suffixes.data != NULL;
    case P_AUTH:
        return r->auth.data != NULL;
    case P_AUTH_FILE:
        return r->auth_file != NULL || r->expand_auth_file != NULL;
    case P_AUTH_OR_FILE:
        return pred(p, P_AUTH) || pred(p, P_AUTH_FILE);
    case P_ANY_AUTH:
        return pred(p, P_AUTH_OR_FILE) || r->http_auth.data != NULL ||
               r->token_auth.data != NULL;
    case P_HTTP_AUTH:
        return r->http_auth.data != NULL;
    case P_TOKEN_AUTH:
        return r->token_auth.data != NULL;
    case P_APPEND_AUTH:
        return r->append_auth.data != NULL || r->expand_append_auth != NULL;
    case P_READ_FILE:
        return r->read_file != NULL || r->expand_read_file != NULL;
    case P_REALM:
        return r->realm != NULL;
    case P_REALM_FROM_AUTH_BASE:
        return r->realm_from_auth_base;
    case P_ADDRESS:
        return p->slot->type != TP_ADDRESS_NONE;
    case P_FILTER:
        return p->filter != NULL;
    case P_ADDRESS_CACHE_TAG:
        return r->address_cache_tag != NULL;
    }
    return false;
}

/* 0 when every `need` holds and no `excl` does, else -1 with a message. */
static int
check_preds(struct tp_response_parser *p, const struct tp_packet *pkt,
            uint32_t need, uint32_t excl)
{
    for (unsigned i = 0; i < P_COUNT; i++) {
        uint32_t bit = 1u << i;
        if ((need & bit) && !pred(p, bit))
            return fail(p, "%s without %s", name(pkt), pred_names[i]);
        if ((excl & bit) && pred(p, bit))
            return fail(p, "cannot combine %s with %s", name(pkt),
                        pred_names[i]);
    }
    return 0;
}

/* ---- socket addresses ---- */

/* An IPv4/IPv6 sockaddr of the exact size (ADDRESS, ALLOW_REMOTE_NETWORK). */
static bool
inet_size_ok(int family, size_t len)
{
    return (family == AF_INET && len == sizeof(struct sockaddr_in)) ||
           (family == AF_INET6 && len == sizeof(struct sockaddr_in6));
}

static const char *
check_sockaddr(const uint8_t *d, size_t len)
{
    if (len < sizeof(sa_family_t))
        return "too short for a socket address";
    int family = pr_load_u16(d);
    if (family == AF_INET || family == AF_INET6)
        return inet_size_ok(family, len) ? NULL
                                         : "wrong size for its family";
    if (family == AF_LOCAL)
        return len > offsetof(struct sockaddr_un, sun_path) &&
                       len <= sizeof(struct sockaddr_un)
                   ? NULL
                   : "wrong size for AF_LOCAL";
    return "unsupported address family";
}

static bool
is_host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

/* A DNS name: labels of [A-Za-z0-9_-], the last one not all digits. */
static bool
is_host_name(const char *s, size_t len)
{
    if (len == 0 || len > 253 || s[0] == '.' || s[len - 1] == '.')
        return false;
    bool last_numeric = true;
    for (size_t i = 0; i < len; i++) {
        if (!is_host_char(s[i]) || (s[i] == '.' && s[i + 1] == '.'))
            return false;
        if (s[i] == '.')
            last_numeric = true;
        else if (s[i] < '0' || s[i] > '9')
            last_numeric = false;
    }
    return !last_numeric;
}

static const char *
parse_port(const char *s, size_t len, uint16_t *port)
{
    if (len == 0 || len > 5)
        return "malformed port";
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return "malformed port";
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return "port out of range";
    *port = (uint16_t)v;
    return NULL;
}

/*
 * ADDRESS_STRING: "/path", "@abstract", "a.b.c.d[:port]", "[v6][:port]",
 * bare v6, or "name[:port]" (kept unresolved).  Returns NULL or why not.
 */
static const char *
parse_address_string(struct tp_response_parser *p, const char *s,
                     size_t len, uint16_t port, struct tp_socket_address *a)
{
    if (s[0] == '/' || s[0] == '@') {
        struct sockaddr_un *un = (struct sockaddr_un *)&a->addr;
        if (len >= sizeof(un->sun_path) + (s[0] == '@'))
            return "socket path too long";
        un->sun_family = AF_LOCAL;
        memcpy(un->sun_path, s, len);
        size_t plen = len + 1;  /* a path keeps its terminating NUL */
        if (s[0] == '@') {
            un->sun_path[0] = '\0';  /* abstract: no terminator */
            plen = len;
        }
        a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
        return NULL;
    }

    const char *host = s, *colon = memchr(s, ':', len);
    size_t host_len = len;
    bool v6 = false;
    const char *err = NULL;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (close == NULL)
            return "missing ']'";
        host = s + 1;
        host_len = (size_t)(close - host);
        size_t rest = len - (size_t)(close + 1 - s);
        if (rest > 0 && (close[1] != ':' ||
                         (err = parse_port(close + 2, rest - 1, &port))))
            return err != NULL ? err : "garbage after ']'";
        v6 = true;
    } else if (colon != NULL &&
               memchr(colon + 1, ':', len - (size_t)(colon + 1 - s))) {
        v6 = true;  /* bare IPv6, default port */
    } else if (colon != NULL) {
        host_len = (size_t)(colon - s);
        if ((err = parse_port(colon + 1, len - host_len - 1, &port)))
            return err;
    }

    char buf[256];
    if (host_len == 0 || host_len >= sizeof(buf))
        return "malformed host";
    memcpy(buf, host, host_len);
    buf[host_len] = '\0';

    if (v6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->addr;
        if (inet_pton(AF_INET6, buf, &in6->sin6_addr) != 1)
            return "malformed IPv6 address";
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        a->len = sizeof(*in6);
        return NULL;
    }
    struct sockaddr_in *in = (struct sockaddr_in *)&a->addr;
    if (inet_pton(AF_INET, buf, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        a->len = sizeof(*in);
        return NULL;
    }
    if (!is_host_name(buf, host_len))
        return "malformed host";
    a->host = dup_str(p, buf, host_len);
    a->port = port;
    return a->host != NULL ? NULL : "out of memory";
}

static int
h_address(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_address_list *list = current_list(p);
    if (list == NULL)
        return misplaced(p, pkt, "no HTTP, FASTCGI or WAS address before it");

    const char *why = pkt->command == TP_CMD_ADDRESS
                          ? check_sockaddr(pkt->payload, pkt->length)
                          : NULL;
    if (why != NULL)
        return malformed(p, pkt, why);

    struct tp_socket_address *a = PUSH(p, list, TP_MAX_ADDRESSES, pkt);
    if (a == NULL)
        return -1;
    if (pkt->command == TP_CMD_ADDRESS) {
        memcpy(&a->addr, pkt->payload, pkt->length);
        a->len = pkt->length;
        return 0;
    }
    why = parse_address_string(p, (const char *)pkt->payload, pkt->length,
                               default_port(p->slot), a);
    return why == NULL ? 0 : malformed(p, pkt, why);
}

static int
h_sticky(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_address_list *list = current_list(p);
    if (list == NULL)
        return misplaced(p, pkt, "no address list before it");
    if (list->sticky)
        return duplicate(p, pkt);
    list->sticky = true;
    return 0;
}

static int
h_allow_remote_network(struct tp_response_parser *p,
                       const struct tp_packet *pkt)
{
    /* prefix length byte FIRST, then the sockaddr (spec §9.5) */
    if (pkt->length < 1 + sizeof(sa_family_t))
        return malformed(p, pkt, "too short");
    const uint8_t *sa = pkt->payload + 1;
    size_t sa_len = pkt->length - 1u;
    int family = pr_load_u16(sa);
    if (!inet_size_ok(family, sa_len))
        return malformed(p, pkt, "not an IPv4 or IPv6 socket address");

    unsigned prefix = pkt->payload[0];
    const uint8_t *bytes;
    size_t n;
    if (family == AF_INET) {
        bytes = sa + offsetof(struct sockaddr_in, sin_addr);
        n = 4;
    } else {
        bytes = sa + offsetof(struct sockaddr_in6, sin6_addr);
        n = 16;
    }
    if (prefix > n * 8)
        return malformed(p, pkt, "prefix length too large");
    for (size_t bit = prefix; bit < n * 8; bit++)
        if (bytes[bit / 8] & (0x80u >> (bit % 8)))
            return malformed(p, pkt, "host bits are not zero");

    struct tp_response *r = p->response;
    struct tp_network *net =
        push(p, &r->allow_remote_networks, sizeof(*net),
             &r->n_allow_remote_networks, &r->allow_remote_networks_cap,
             TP_MAX_NETWORKS, pkt);
    if (net == NULL)
        return -1;
    memcpy(&net->addr, sa, sa_len);
    net->len = (socklen_t)sa_len;
    net->prefix_len = (uint8_t)prefix;
    return 0;
}

/* ---- resource addresses ---- */

/* uri_path_verify_quick(): '/' then no byte <= 0x20 and none >= 0x80. */
static bool
is_uri_path(const char *s, size_t len)
{
    if (len == 0 || s[0] != '/')
        return false;
    for (size_t i = 1; i < len; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x80)
            return false;
    return true;
}

static int
parse_http_url(struct tp_response_parser *p, const struct tp_packet *pkt,
               struct tp_address *a)
{
    const char *url = (const char *)pkt->payload;
    size_t len = pkt->length;
    size_t skip;
    if (has_prefix(pkt->payload, len, "http://")) {
        a->scheme = TP_HTTP_SCHEME_HTTP;
        skip = 7;
    } else if (has_prefix(pkt->payload, len, "https://")) {
        a->scheme = TP_HTTP_SCHEME_HTTPS;
        skip = 8;
    } else if (has_prefix(pkt->payload, len, "unix:/")) {
        a->scheme = TP_HTTP_SCHEME_UNIX;
        if (!is_uri_path(url + 5, len - 5))
            return malformed(p, pkt, "malformed path");
        a->path = dup_str(p, url + 5, len - 5);
        return a->path != NULL ? 0 : -1;
    } else {
        return malformed(p, pkt, "not http://, https:// or unix:/");
    }

    const char *rest = url + skip;
    size_t rest_len = len - skip;
    const char *slash = memchr(rest, '/', rest_len);
    size_t host_len = slash != NULL ? (size_t)(slash - rest) : rest_len;
    if (host_len == 0 ||
        chk_host((const uint8_t *)rest, host_len) != NULL)
        return malformed(p, pkt, "malformed host");
    if (slash != NULL && !is_uri_path(slash, rest_len - host_len))
        return malformed(p, pkt, "malformed path");
    a->host_and_port = dup_str(p, rest, host_len);
    a->path = slash != NULL ? dup_str(p, slash, rest_len - host_len)
                            : dup_str(p, "/", 1);
    return a->host_and_port != NULL && a->path != NULL ? 0 : -1;
}

/* PATH, NFS_SERVER, HTTP, CGI, FASTCGI, WAS, LHTTP_PATH, PIPE: start the
 * current slot's address (PATH completes an NFS address instead). */
static int
h_address_start(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_address *a = p->slot;
    const char *payload = (const char *)pkt->payload;

    if (pkt->command == TP_CMD_PATH && a->type == TP_ADDRESS_NFS) {
        if (a->nfs_export == NULL)
            return misplaced(p, pkt, "NFS_EXPORT must come first");
        if (a->path != NULL)
            return duplicate(p, pkt);
        a->path = dup_str(p, payload, pkt->length);
        return a->path != NULL ? 0 : -1;
    }
    if (a->type != TP_ADDRESS_NONE)
        return fail(p, "misplaced %s packet: the %s slot already has a %s "
                       "address", name(pkt), p->filter ? "FILTER" : "main",
                    type_names[a->type]);

    enum tp_address_type type;
    switch (pkt->command) {
    case TP_CMD_PATH: type = TP_ADDRESS_LOCAL; break;
    case TP_CMD_NFS_SERVER: type = TP_ADDRESS_NFS; break;
    case TP_CMD_HTTP: type = TP_ADDRESS_HTTP; break;
    case TP_CMD_CGI: type = TP_ADDRESS_CGI; break;
    case TP_CMD_FASTCGI: type = TP_ADDRESS_FASTCGI; break;
    case TP_CMD_WAS: type = TP_ADDRESS_WAS; break;
    case TP_CMD_LHTTP_PATH: type = TP_ADDRESS_LHTTP; break;
    default: type = TP_ADDRESS_PIPE; break;
    }
    if (type == TP_ADDRESS_PIPE && p->filter == NULL)
        return misplaced(p, pkt, "PIPE is only valid after FILTER");

    a->type = type;
    if (type == TP_ADDRESS_HTTP)
        return parse_http_url(p, pkt, a);
    const char *s = dup_str(p, payload, pkt->length);
    if (s == NULL)
        return -1;
    if (type == TP_ADDRESS_NFS) {
        a->nfs_server = s;
        return 0;
    }
    a->path = s;
    if (slot_is(p, K_CGI)) {
        /* §1.7.3: the response-wide DOCUMENT_ROOT seen so far */
        a->document_root = p->response->document_root;
        a->expand_document_root = p->response->expand_document_root;
    }
    return 0;
}

static int
h_nfs_export(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_address *a = p->slot;
    if (a->type != TP_ADDRESS_NFS)
        return fail(p, "NFS_EXPORT without NFS_SERVER");
    if (a->nfs_export != NULL)
        return duplicate(p, pkt);
    a->nfs_export = dup_str(p, pkt->payload, pkt->length);
    return a->nfs_export != NULL ? 0 : -1;
}

static int
h_filter(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_response *r = p->response;
    struct tp_filter **slot = push(p, &r->filters, sizeof(*slot),
                                   &r->n_filters, &r->filters_cap,
                                   TP_MAX_FILTERS, pkt);
    if (slot == NULL)
        return -1;
    struct tp_filter *f = pr_arena_alloc(&r->arena, sizeof(*f));
    if (f == NULL)
        return oom(p);
    init_child(&f->address.child);
    *slot = f;
    p->filter = f;
    p->slot = &f->address;
    return 0;
}

/* CONTENT_TYPE, CONTENT_TYPE_LOOKUP, GZIPPED, AUTO_GZIPPED,
 * AUTO_BROTLI_PATH: file modifiers; the first three conflict pairwise as
 * upstream (CONTENT_TYPE/LOOKUP, GZIPPED/AUTO_GZIPPED).  In the answer to
 * a CONTENT_TYPE_LOOKUP request (no address) CONTENT_TYPE, AUTO_GZIPPED
 * and AUTO_BROTLI_PATH are response-wide. */
static int
h_file(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_address *a = p->slot;
    struct tp_response *r = p->response;
    uint16_t cmd = pkt->command;
    bool file = slot_is(p, K_FILE);

    if (!file) {
        if (!(p->request_flags & TP_REQUEST_CONTENT_TYPE_LOOKUP) ||
            a->type != TP_ADDRESS_NONE || p->filter != NULL ||
            cmd == TP_CMD_CONTENT_TYPE_LOOKUP || cmd == TP_CMD_GZIPPED)
            return wrong_kind(p, pkt);
        bool *flag = cmd == TP_CMD_AUTO_GZIPPED ? &r->auto_gzipped
                                                : &r->auto_brotli_path;
        if (cmd == TP_CMD_CONTENT_TYPE) {
            if (r->content_type != NULL)
                return duplicate(p, pkt);
            r->content_type = dup_str(p, pkt->payload, pkt->length);
            return r->content_type != NULL ? 0 : -1;
        }
        if (*flag)
            return duplicate(p, pkt);
        *flag = true;
        return 0;
    }

    switch (cmd) {
    case TP_CMD_CONTENT_TYPE:
    case TP_CMD_CONTENT_TYPE_LOOKUP:
        if (a->content_type != NULL || a->content_type_lookup.data != NULL) {
            bool same = (cmd == TP_CMD_CONTENT_TYPE) == (a->content_type !=
                                                          NULL);
            if (same)
                return duplicate(p, pkt);
            return fail(p, "cannot combine CONTENT_TYPE with "
                           "CONTENT_TYPE_LOOKUP");
        }
        if (cmd == TP_CMD_CONTENT_TYPE_LOOKUP)
            return dup_slice(p, &a->content_type_lookup, pkt);
        a->content_type = dup_str(p, pkt->payload, pkt->length);
        return a->content_type != NULL ? 0 : -1;
    case TP_CMD_GZIPPED:
    case TP_CMD_AUTO_GZIPPED:
        if (a->gzipped != NULL || a->auto_gzipped) {
            bool same = (cmd == TP_CMD_GZIPPED) == (a->gzipped != NULL);
            if (same)
                return duplicate(p, pkt);
            return fail(p, "cannot combine GZIPPED with AUTO_GZIPPED");
        }
        if (cmd == TP_CMD_AUTO_GZIPPED) {
            a->auto_gzipped = true;
            return 0;
        }
        a->gzipped = dup_str(p, pkt->payload, pkt->length);
        return a->gzipped != NULL ? 0 : -1;
    default:
        if (a->auto_brotli_path)
            return duplicate(p, pkt);
        a->auto_brotli_path = true;
        return 0;
    }
}

/* PATH_INFO, EXPAND_PATH_INFO: CGI-like; accepted and ignored after a
 * PATH (or NFS) address, as upstream. */
static int
h_path_info(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    if (slot_is(p, K_FILE))
        return 0;
    if (!slot_is(p, K_CGI | K(PIPE)))
        return wrong_kind(p, pkt);
    const char **f = pkt->command == TP_CMD_PATH_INFO
                         ? &p->slot->path_info
                         : &p->slot->expand_path_info;
    if (*f != NULL)
        return duplicate(p, pkt);
    *f = dup_str(p, pkt->payload, pkt->length);
    return *f != NULL ? 0 : -1;
}

/* DOCUMENT_ROOT (overwrites, §1.6) and EXPAND_DOCUMENT_ROOT: for the
 * current CGI-like address, else the response-wide default. */
static int
h_document_root(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    bool own = slot_is(p, K_CGI | K(PIPE));
    bool plain = pkt->command == TP_CMD_DOCUMENT_ROOT;
    struct tp_response *r = p->response;
    const char **f;
    if (own)
        f = plain ? &p->slot->document_root : &p->slot->expand_document_root;
    else
        f = plain ? &r->document_root : &r->expand_document_root;
    /* the slot's copy of the response-wide default (§1.7.3) is not a
     * packet of this address: its own EXPAND_DOCUMENT_ROOT replaces it */
    if (!plain && *f != NULL && !(own && *f == r->expand_document_root))
        return duplicate(p, pkt);
    *f = dup_str(p, pkt->payload, pkt->length);
    return *f != NULL ? 0 : -1;
}

static int
h_certificate(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_address *a = p->slot;
    if (a->type != TP_ADDRESS_HTTP || a->scheme != TP_HTTP_SCHEME_HTTPS)
        return misplaced(p, pkt, "needs an https:// HTTP address");
    if (a->certificate != NULL)
        return duplicate(p, pkt);
    a->certificate = dup_str(p, pkt->payload, pkt->length);
    return a->certificate != NULL ? 0 : -1;
}

static int
h_disposable(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_address *a = p->slot;
    if (a->type != TP_ADDRESS_WAS || a->concurrency != 0)
        return misplaced(p, pkt, "needs a WAS address without CONCURRENCY");
    if (a->disposable)
        return duplicate(p, pkt);
    a->disposable = true;
    return 0;
}

static int
h_auto_base(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_address *a = p->slot;
    if (p->filter != NULL || !slot_is(p, K_CGI) ||
        (a->path_info == NULL && a->expand_path_info == NULL))
        return misplaced(p, pkt, "needs a CGI-like address with PATH_INFO");
    if (p->response->auto_base)
        return duplicate(p, pkt);
    p->response->auto_base = true;
    return 0;
}

/* ---- argument, parameter and environment lists ---- */

static struct tp_expandable_list *
pair_list(struct tp_response_parser *p, size_t *limit)
{
    *limit = TP_MAX_PAIRS;
    if (slot_is(p, K(FASTCGI) | K(WAS)))
        return &p->slot->params;
    *limit = TP_MAX_ENV;
    return &current_child(p)->env;
}

/* APPEND, PAIR, SETENV and their EXPAND_ variants. */
static int
h_list(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_expandable_list *list;
    size_t limit = TP_MAX_ARGS;
    bool expand = false;

    switch (pkt->command) {
    case TP_CMD_EXPAND_APPEND:
        expand = true;
        /* fall through */
    case TP_CMD_APPEND:
        if (!slot_is(p, K_CHILD))
            return wrong_kind(p, pkt);
        list = &p->slot->args;
        break;
    case TP_CMD_EXPAND_PAIR:
        expand = true;
        /* fall through */
    case TP_CMD_PAIR:
        list = pair_list(p, &limit);
        break;
    case TP_CMD_EXPAND_SETENV:
        expand = true;
        /* fall through */
    default:
        list = &current_child(p)->env;
        limit = TP_MAX_ENV;
        break;
    }

    if (expand) {
        if (list->n == 0 || list->v[list->n - 1].expand != NULL)
            return misplaced(p, pkt, "needs the item it expands right "
                                     "before it");
        const char *s = dup_str(p, pkt->payload, pkt->length);
        list->v[list->n - 1].expand = s;
        return s != NULL ? 0 : -1;
    }
    struct tp_expandable *e = PUSH(p, list, limit, pkt);
    if (e == NULL)
        return -1;
    e->value = dup_str(p, pkt->payload, pkt->length);
    return e->value != NULL ? 0 : -1;
}

/* ---- child options ---- */

static int
h_child_tag(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_child_options *c = current_child(p);
    const char **s = PUSH(p, &c->tags, TP_MAX_CHILD_TAGS, pkt);
    if (s == NULL)
        return -1;
    *s = dup_str(p, pkt->payload, pkt->length);
    return *s != NULL ? 0 : -1;
}

/* STDERR_PATH, EXPAND_STDERR_PATH, STDERR_NULL */
static int
h_stderr(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_child_options *c = current_child(p);
    if (pkt->command == TP_CMD_STDERR_NULL) {
        if (c->stderr_null)
            return duplicate(p, pkt);
        if (c->stderr_path != NULL || c->expand_stderr_path != NULL)
            return fail(p, "cannot combine STDERR_NULL with STDERR_PATH");
        c->stderr_null = true;
        return 0;
    }
    const char **f = pkt->command == TP_CMD_STDERR_PATH
                         ? &c->stderr_path
                         : &c->expand_stderr_path;
    if (*f != NULL)
        return duplicate(p, pkt);
    if (c->stderr_null)
        return fail(p, "cannot combine %s with STDERR_NULL", name(pkt));
    *f = dup_str(p, pkt->payload, pkt->length);
    return *f != NULL ? 0 : -1;
}

static int
h_uid_gid(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_uid_gid *u = &current_child(p)->uid_gid;
    if (u->present)
        return duplicate(p, pkt);
    size_t n = pkt->length / 4;
    if (pkt->length % 4 != 0 || n < 2 || n > 2 + TP_MAX_GROUPS)
        return malformed(p, pkt, "must be 2 to 34 32-bit ids");
    u->present = true;
    u->uid = (int32_t)pr_load_u32(pkt->payload);
    u->gid = (int32_t)pr_load_u32(pkt->payload + 4);
    u->n_groups = n - 2;
    for (size_t i = 0; i < u->n_groups; i++)
        u->groups[i] = (int32_t)pr_load_u32(pkt->payload + 8 + 4 * i);
    return 0;
}

static int
h_umask(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_child_options *c = current_child(p);
    uint16_t v = pr_load_u16(pkt->payload);
    if (c->umask != TP_UMASK_UNSET)
        return duplicate(p, pkt);
    if (v & ~0777u)
        return malformed(p, pkt, "umask above 0777");
    c->umask = v;
    return 0;
}

/* ---- response-wide packets with their own logic ---- */

/* The HTTP status codes beng-proxy knows (libcommon http/Status.hxx). */
static bool
is_known_status(unsigned s)
{
    static const uint16_t codes[] = {
        100, 101, 102, 103, 200, 201, 202, 203, 204, 205, 206, 207, 208,
        226, 300, 301, 302, 303, 304, 305, 307, 308, 400, 401, 402, 403,
        404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416,
        417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451, 500,
        501, 502, 503, 504, 505, 506, 507, 508, 510, 511,
    };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (codes[i] == s)
            return true;
    return false;
}

static int
h_status(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    uint16_t v = pr_load_u16(pkt->payload);
    if (!is_known_status(v))
        return fail(p, "malformed STATUS packet: invalid HTTP status code "
                       "%u", (unsigned)v);
    p->response->status = v;
    return 0;
}

static int
h_layout_item(struct tp_response_parser *p, const struct tp_packet *pkt,
              enum tp_layout_type type)
{
    struct tp_response *r = p->response;
    struct tp_response_layout_item *item =
        push(p, &r->layout_items, sizeof(*item), &r->n_layout_items,
             &r->layout_items_cap, TP_MAX_LAYOUT_ITEMS, pkt);
    if (item == NULL)
        return -1;
    item->type = type;
    item->value = dup_str(p, pkt->payload, pkt->length);
    return item->value != NULL ? 0 : -1;
}

/*
 * LAYOUT opens the item list, which runs to END (as upstream): after
 * LAYOUT every URI, BASE and REGEX is a layout item.  Other packets may
 * be interleaved; the response's own URI/BASE/REGEX go before LAYOUT.
 */
static int
h_layout(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    if (p->response->layout.data != NULL)
        return duplicate(p, pkt);
    p->layout_open = true;
    return dup_slice(p, &p->response->layout, pkt);
}

static int
h_access_control_allow_all(struct tp_response_parser *p,
                           const struct tp_packet *pkt)
{
    struct tp_response *r = p->response;
    if (r->n_layout_items == 0)
        return misplaced(p, pkt, "needs a LAYOUT item before it");
    struct tp_response_layout_item *item =
        &r->layout_items[r->n_layout_items - 1];
    if (item->access_control_allow_all)
        return duplicate(p, pkt);
    item->access_control_allow_all = true;
    return 0;
}

static int
h_uri(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    if (p->layout_open)
        return h_layout_item(p, pkt, TP_LAYOUT_URI);
    if (pkt->length == 0 || pkt->payload[0] != '/')
        return malformed(p, pkt, "must be an absolute URI path");
    p->response->uri = dup_str(p, pkt->payload, pkt->length);
    return p->response->uri != NULL ? 0 : -1;
}

static int
h_base(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_response *r = p->response;
    if (pkt->payload[pkt->length - 1] != '/')
        return malformed(p, pkt, "must end with '/'");
    if (p->layout_open)
        return h_layout_item(p, pkt, TP_LAYOUT_BASE);
    if (r->base != NULL)
        return duplicate(p, pkt);
    if (r->auto_base)
        return fail(p, "cannot combine BASE with AUTO_BASE");
    r->base = dup_str(p, pkt->payload, pkt->length);
    return r->base != NULL ? 0 : -1;
}

static int
h_regex(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_response *r = p->response;
    if (p->layout_open)
        return h_layout_item(p, pkt, TP_LAYOUT_REGEX);
    if (r->base == NULL)
        return fail(p, "REGEX without BASE");
    if (r->regex != NULL)
        return duplicate(p, pkt);
    r->regex = dup_str(p, pkt->payload, pkt->length);
    return r->regex != NULL ? 0 : -1;
}

static int
h_user(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    p->response->user = dup_str(p, pkt->payload, pkt->length);
    p->anchor = TP_CMD_USER;
    p->anchor_used = false;
    return p->response->user != NULL ? 0 : -1;
}

/* MAX_AGE refers to the last of BEGIN/USER (§1.14): the anchor is not
 * reset by other packets.  A second MAX_AGE for one anchor is a
 * duplicate; each USER opens a new anchor. */
static int
h_max_age(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_response *r = p->response;
    uint32_t *f = p->anchor == TP_CMD_USER ? &r->user_max_age : &r->max_age;
    if (p->anchor_used)
        return duplicate(p, pkt);
    p->anchor_used = true;
    *f = pr_load_u32(pkt->payload);
    return 0;
}

/* VARY, INVALIDATE, WANT: u16 arrays. */
static int
h_u16_list(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_response *r = p->response;
    struct tp_u16_list *l;
    if (pkt->command == TP_CMD_WANT) {
        if (r->version < 1)
            return fail(p, "WANT requires protocol version 1");
        if (p->request_flags & TP_REQUEST_WANT)
            return fail(p, "WANT loop");
        l = &r->want;
    } else {
        if (pkt->length > 2 * TP_MAX_VARY)
            return malformed(p, pkt, "more than 16 commands");
        l = pkt->command == TP_CMD_VARY ? &r->vary : &r->invalidate;
    }
    if (l->v != NULL)
        return duplicate(p, pkt);
    size_t n = pkt->length / 2;
    uint16_t *v = pr_arena_alloc(&r->arena, n * sizeof(*v));
    if (v == NULL)
        return oom(p);
    for (size_t i = 0; i < n; i++)
        v[i] = pr_load_u16(pkt->payload + 2 * i);
    l->v = v;
    l->n = n;
    return 0;
}

static int
h_want_full_uri(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    if (p->request_flags & TP_REQUEST_WANT_FULL_URI)
        return fail(p, "WANT_FULL_URI loop");
    if (p->response->want_full_uri.data != NULL)
        return duplicate(p, pkt);
    return dup_slice(p, &p->response->want_full_uri, pkt);
}

/* REQUEST_HEADER_FORWARD, RESPONSE_HEADER_FORWARD (§1.13). */
static int
h_header_forward(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    uint8_t *modes = pkt->command == TP_CMD_REQUEST_HEADER_FORWARD
                         ? p->response->request_header_forward
                         : p->response->response_header_forward;
    if (pkt->length % 4 != 0)
        return malformed(p, pkt, "length is not a multiple of 4");
    for (size_t i = 0; i < pkt->length; i += 4) {
        int group = (int16_t)pr_load_u16(pkt->payload + i);
        uint8_t mode = pkt->payload[i + 2];
        if (group < -1 || group >= TP_HG_COUNT || mode > TP_HF_BOTH ||
            pkt->payload[i + 3] != 0)
            return malformed(p, pkt, "bad group, mode or reserved byte");
    }
    /* validated completely first: a bad entry changes nothing */
    for (size_t i = 0; i < pkt->length; i += 4) {
        int group = (int16_t)pr_load_u16(pkt->payload + i);
        uint8_t mode = pkt->payload[i + 2];
        if (group >= 0) {
            modes[group] = mode;
            continue;
        }
        for (int g = 0; g < TP_HG_COUNT; g++)
            if (g != TP_HG_SECURE && g != TP_HG_AUTH && g != TP_HG_SSL)
                modes[g] = mode;
    }
    return 0;
}

static bool
is_token_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c >= 'A' && c <= 'Z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static bool
is_hop_by_hop(const char *n)
{
    static const char *const names[] = {
        "connection", "content-length", "expect", "keep-alive",
        "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "trailers", "transfer-encoding", "upgrade",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(n, names[i]) == 0)
            return true;
    return false;
}

/* HEADER, EXPAND_HEADER, REQUEST_HEADER, EXPAND_REQUEST_HEADER:
 * "name:value", name lower-cased. */
static int
h_header(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    uint16_t cmd = pkt->command;
    const uint8_t *d = pkt->payload;
    const uint8_t *colon = memchr(d, ':', pkt->length);
    if (colon == NULL || colon == d)
        return malformed(p, pkt, "must be name:value");
    size_t nlen = (size_t)(colon - d), vlen = pkt->length - nlen - 1;
    for (size_t i = 0; i < nlen; i++)
        if (!is_token_char(d[i]))
            return malformed(p, pkt, "malformed header name");
    if (memchr(colon + 1, '\r', vlen) || memchr(colon + 1, '\n', vlen))
        return malformed(p, pkt, "CR or LF in the value");

    char *lower = pr_arena_strndup(&p->response->arena, d, nlen);
    if (lower == NULL)
        return oom(p);
    for (size_t i = 0; i < nlen; i++)
        if (lower[i] >= 'A' && lower[i] <= 'Z')
            lower[i] = (char)(lower[i] - 'A' + 'a');
    if (is_hop_by_hop(lower))
        return fail(p, "hop-by-hop %s packet (%s)", name(pkt), lower);

    struct tp_header_list *list =
        cmd == TP_CMD_HEADER || cmd == TP_CMD_EXPAND_HEADER
            ? &p->response->response_headers
            : &p->response->request_headers;
    struct tp_header *h = PUSH(p, list, TP_MAX_HEADERS, pkt);
    if (h == NULL)
        return -1;
    h->name = lower;
    h->value = dup_str(p, colon + 1, vlen);
    h->expand = cmd == TP_CMD_EXPAND_HEADER ||
                cmd == TP_CMD_EXPAND_REQUEST_HEADER;
    return h->value != NULL ? 0 : -1;
}

static int
h_cache_tag(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_response *r = p->response;
    const char **f = NULL;
    if (p->filter != NULL)
        f = &p->filter->cache_tag;
    else if (r->address.type != TP_ADDRESS_NONE)
        f = &r->address_cache_tag;
    if (f != NULL) {
        if (*f != NULL)
            return duplicate(p, pkt);
        *f = dup_str(p, pkt->payload, pkt->length);
        return *f != NULL ? 0 : -1;
    }
    /* before any address: translation-cache tags, no duplicates */
    for (size_t i = 0; i < r->cache_tags.n; i++)
        if (strlen(r->cache_tags.v[i]) == pkt->length &&
            memcmp(r->cache_tags.v[i], pkt->payload, pkt->length) == 0)
            return duplicate(p, pkt);
    const char **s = PUSH(p, &r->cache_tags, TP_MAX_CACHE_TAGS, pkt);
    if (s == NULL)
        return -1;
    *s = dup_str(p, pkt->payload, pkt->length);
    return *s != NULL ? 0 : -1;
}

static int
h_validate_mtime(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    /* u64 mtime, then an absolute path without NUL; >= 10 bytes */
    struct tp_response *r = p->response;
    if (pkt->length < 10 || pkt->payload[8] != '/' ||
        memchr(pkt->payload + 8, 0, pkt->length - 8u) != NULL)
        return malformed(p, pkt, "must be a 64-bit mtime and an absolute "
                                 "path");
    if (r->validate_mtime_path != NULL)
        return duplicate(p, pkt);
    r->validate_mtime = pr_load_u64(pkt->payload);
    r->validate_mtime_path = dup_str(p, pkt->payload + 8, pkt->length - 8u);
    return r->validate_mtime_path != NULL ? 0 : -1;
}

static int
h_https_only(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_response *r = p->response;
    if (r->https_only != 0)
        return duplicate(p, pkt);
    uint16_t port = pkt->length == 2 ? pr_load_u16(pkt->payload) : 0;
    r->https_only = port != 0 ? port : 443;
    return 0;
}

static int
h_rate_limit(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_token_bucket *b =
        pkt->command == TP_CMD_RATE_LIMIT_SITE_REQUESTS
            ? &p->response->rate_limit_site_requests
            : &p->response->rate_limit_site_traffic;
    float rate, burst;
    if (pkt->length != 2 * sizeof(float))
        return malformed(p, pkt, "must be two 32-bit floats");
    memcpy(&rate, pkt->payload, sizeof(rate));
    memcpy(&burst, pkt->payload + sizeof(rate), sizeof(burst));
    if (!(isfinite(rate) && isfinite(burst) && rate > 0 && burst > 0))
        return malformed(p, pkt, "rate and burst must be positive");
    if (b->rate > 0)
        return duplicate(p, pkt);
    b->rate = rate;
    b->burst = burst;
    return 0;
}

static int
h_same_site(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    static const char *const values[] = { "strict", "lax", "none" };
    struct tp_response *r = p->response;
    if (r->session_cookie_same_site != TP_SAME_SITE_DEFAULT)
        return duplicate(p, pkt);
    for (size_t i = 0; i < 3; i++)
        if (pkt->length == strlen(values[i]) &&
            strncasecmp((const char *)pkt->payload, values[i],
                        pkt->length) == 0) {
            r->session_cookie_same_site = (enum tp_same_site)(i + 1);
            return 0;
        }
    return malformed(p, pkt, "must be strict, lax or none");
}

/* FILE_NOT_FOUND, ENOTDIR_, DIRECTORY_INDEX: need TEST_PATH or a main
 * address they can probe. */
static int
h_probe(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_response *r = p->response;
    struct pr_slice *f = pkt->command == TP_CMD_FILE_NOT_FOUND
                             ? &r->file_not_found
                         : pkt->command == TP_CMD_ENOTDIR_
                             ? &r->enotdir
                             : &r->directory_index;
    unsigned ok = pkt->command == TP_CMD_DIRECTORY_INDEX
                      ? K_FILE
                      : K_FILE | K_CGI | K(LHTTP);
    if (f->data != NULL)
        return duplicate(p, pkt);
    if (!pred(p, P_TEST_PATH)) {
        if (r->address.type == TP_ADDRESS_NONE)
            return fail(p, "%s without resource address", name(pkt));
        if (!(ok & (1u << r->address.type)))
            return fail(p, "%s not compatible with a %s address", name(pkt),
                        type_names[r->address.type]);
    }
    return dup_slice(p, f, pkt);
}

static int
h_probe_suffix(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    struct tp_string_list *l = &p->response->probe_suffixes;
    const char **s = PUSH(p, l, TP_MAX_PROBE_SUFFIXES, pkt);
    if (s == NULL)
        return -1;
    *s = dup_str(p, pkt->payload, pkt->length);
    return *s != NULL ? 0 : -1;
}

/* ---- the table ---- */

#define RO(f) offsetof(struct tp_response, f)
#define AO(f) offsetof(struct tp_address, f)
#define CO(f) offsetof(struct tp_child_options, f)
#define FO(f) offsetof(struct tp_filter, f)

#define ACC(...) { .support = TP_SUPPORT_ACCEPTED, __VA_ARGS__ }
#define IGNORE { .support = TP_SUPPORT_IGNORED, .op = OP_IGNORE }
#define REMOVED(why) { .support = TP_SUPPORT_REMOVED, .reason = why }
#define UNSUP(why) { .support = TP_SUPPORT_UNSUPPORTED, .reason = why }

/* Shorthands for the common generic stores; R(f)/A(f) name the field. */
#define R(f) .off = RO(f)
#define A(f) .off = AO(f)
#define FLAG(...) ACC(.op = OP_FLAG, __VA_ARGS__)
#define STR(...) ACC(.op = OP_STR, __VA_ARGS__)
#define SLICE(...) ACC(.op = OP_SLICE, __VA_ARGS__)
#define ASTR(...) ACC(.op = OP_STR, .dom = D_ADDR, __VA_ARGS__)
#define AFLAG(f, k) ACC(.op = OP_FLAG, .dom = D_ADDR, .kinds = (k), A(f))
#define AU16(f, k) ACC(.op = OP_U16, .dom = D_ADDR, .kinds = (k), A(f))
#define CFLAG(f) ACC(.op = OP_FLAG, .dom = D_CHILD, .off = CO(f))
#define FFLAG(f)                                                          \
    ACC(.op = OP_FLAG, .dom = D_FILTER, .off = FO(f), .need = P_FILTER)

static const char R_WIDGET[] = "widgets, views and processors are not "
                               "supported yet";
static const char R_JAIL[] = "namespaces, mounts, cgroups and jails are "
                             "not supported";
static const char R_SECCOMP[] = "seccomp filters and capabilities are not "
                                "supported";
static const char R_COMPRESS[] = "on-the-fly compression is not supported "
                                 "yet";
static const char R_ESM[] = "external session managers are not supported";
static const char R_LISTEN[] = "the MOUNT_LISTEN_STREAM/EXECUTE "
                               "sub-protocol is not supported";
static const char R_LOGIN[] = "login sub-protocol of other clients "
                              "(beng-proxy rejects it too)";
static const char R_LB[] = "beng-lb only";
static const char R_UNKNOWN[] = "obsolete; beng-proxy reports it as an "
                                "unknown packet";

static const struct rule rules[TP_CMD_MAX + 1] = {
    [TP_CMD_HOST] = STR(R(host), .flags = F_OVERWRITE),
    [TP_CMD_URI] = ACC(.fn = h_uri, .flags = F_OVERWRITE),
    [TP_CMD_STATUS] = ACC(.fn = h_status),
    [TP_CMD_PATH] = ACC(.fn = h_address_start),
    [TP_CMD_CONTENT_TYPE] = ACC(.fn = h_file, .flags = F_NONEMPTY),
    [TP_CMD_HTTP] = ACC(.fn = h_address_start, .flags = F_NONEMPTY),
    [TP_CMD_REDIRECT] = STR(R(redirect), .flags = F_NONEMPTY | F_OVERWRITE),
    [TP_CMD_FILTER] = ACC(.fn = h_filter),
    [TP_CMD_PROCESS] = UNSUP(R_WIDGET),
    [TP_CMD_SESSION] = SLICE(R(session), .flags = F_OVERWRITE),
    [TP_CMD_USER] = ACC(.fn = h_user),
    [TP_CMD_LANGUAGE] = STR(R(language), .flags = F_OVERWRITE),
    [TP_CMD_PATH_INFO] = ACC(.fn = h_path_info),
    [TP_CMD_SITE] = STR(R(site), .flags = F_NONEMPTY | F_OVERWRITE | F_TOP),
    [TP_CMD_CGI] = ACC(.fn = h_address_start),
    [TP_CMD_DOCUMENT_ROOT] = ACC(.fn = h_document_root),
    [TP_CMD_CONTAINER] = UNSUP(R_WIDGET),
    [TP_CMD_ADDRESS] = ACC(.fn = h_address),
    [TP_CMD_ADDRESS_STRING] = ACC(.fn = h_address, .flags = F_NONEMPTY),
    [TP_CMD_JAILCGI] = REMOVED(R_UNKNOWN),
    [TP_CMD_INTERPRETER] = ASTR(A(interpreter), .kinds = K(CGI) | K(FASTCGI)),
    [TP_CMD_ACTION] = ASTR(A(action), .kinds = K(CGI) | K(FASTCGI)),
    [TP_CMD_SCRIPT_NAME] = ASTR(A(script_name), .kinds = K_CGI),
    [TP_CMD_AJP] = REMOVED("AJP support has been removed"),
    [TP_CMD_DOMAIN_] = REMOVED("deprecated DOMAIN packet"),
    [TP_CMD_STATEFUL] = UNSUP(R_WIDGET),
    [TP_CMD_FASTCGI] = ACC(.fn = h_address_start),
    [TP_CMD_VIEW] = UNSUP(R_WIDGET),
    [TP_CMD_MAX_AGE] = ACC(.fn = h_max_age),
    [TP_CMD_VARY] = ACC(.fn = h_u16_list),
    [TP_CMD_PIPE] = ACC(.fn = h_address_start, .flags = F_NONEMPTY),
    [TP_CMD_BASE] = ACC(.fn = h_base),
    [TP_CMD_DELEGATE] = REMOVED("deprecated DELEGATE packet (the delegate "
                                "helper was removed in 2025)"),
    [TP_CMD_INVALIDATE] = ACC(.fn = h_u16_list),
    [TP_CMD_APPEND] = ACC(.fn = h_list, .flags = F_NONEMPTY),
    [TP_CMD_DISCARD_SESSION] = FLAG(R(discard_session)),
    [TP_CMD_SCHEME] = STR(R(scheme), .check = chk_scheme),
    [TP_CMD_REQUEST_HEADER_FORWARD] = ACC(.fn = h_header_forward),
    [TP_CMD_RESPONSE_HEADER_FORWARD] = ACC(.fn = h_header_forward),
    [TP_CMD_DEFLATED] = IGNORE,
    [TP_CMD_GZIPPED] = ACC(.fn = h_file),
    [TP_CMD_PAIR] = ACC(.fn = h_list, .check = chk_pair),
    [TP_CMD_UNTRUSTED] = UNSUP(R_WIDGET),
    [TP_CMD_BOUNCE] = STR(R(bounce), .flags = F_NONEMPTY | F_OVERWRITE),
    [TP_CMD_WWW_AUTHENTICATE] = STR(R(www_authenticate), .flags = F_NONEMPTY),
    [TP_CMD_AUTHENTICATION_INFO] =
        STR(R(authentication_info), .flags = F_NONEMPTY),
    [TP_CMD_HEADER] = ACC(.fn = h_header),
    [TP_CMD_UNTRUSTED_PREFIX] = UNSUP(R_WIDGET),
    [TP_CMD_SECURE_COOKIE] = FLAG(R(secure_cookie)),
    [TP_CMD_FILTER_4XX] = FLAG(R(filter_4xx)),
    [TP_CMD_ERROR_DOCUMENT] = SLICE(R(error_document), .flags = F_OVERWRITE),
    [TP_CMD_CHECK] = SLICE(R(check)),
    [TP_CMD_PREVIOUS] = FLAG(R(previous), .flags = F_OVERWRITE),
    [TP_CMD_WAS] = ACC(.fn = h_address_start),
    [TP_CMD_HOME] = UNSUP(R_JAIL),
    [TP_CMD_REALM] = STR(R(realm), .check = chk_empty,
                         .excl = P_REALM_FROM_AUTH_BASE),
    [TP_CMD_UNTRUSTED_SITE_SUFFIX] = UNSUP(R_WIDGET),
    [TP_CMD_TRANSPARENT] = FLAG(R(transparent)),
    [TP_CMD_STICKY] = ACC(.fn = h_sticky),
    [TP_CMD_DUMP_HEADERS] = UNSUP(R_WIDGET),
    [TP_CMD_COOKIE_HOST] =
        STR(R(cookie_host), .flags = F_NONEMPTY, .need = P_ADDRESS),
    [TP_CMD_PROCESS_CSS] = UNSUP(R_WIDGET),
    [TP_CMD_PREFIX_CSS_CLASS] = UNSUP(R_WIDGET),
    [TP_CMD_FOCUS_WIDGET] = UNSUP(R_WIDGET),
    [TP_CMD_ANCHOR_ABSOLUTE] = UNSUP(R_WIDGET),
    [TP_CMD_PREFIX_XML_ID] = UNSUP(R_WIDGET),
    [TP_CMD_REGEX] = ACC(.fn = h_regex, .flags = F_NONEMPTY),
    [TP_CMD_INVERSE_REGEX] =
        STR(R(inverse_regex), .flags = F_NONEMPTY, .need = P_BASE),
    [TP_CMD_PROCESS_TEXT] = UNSUP(R_WIDGET),
    [TP_CMD_WIDGET_INFO] = UNSUP(R_WIDGET),
    [TP_CMD_EXPAND_PATH_INFO] = ACC(.fn = h_path_info, .need = P_REGEX),
    [TP_CMD_EXPAND_PATH] =
        ASTR(A(expand_path), .kinds = K_FILE | K(HTTP) | K_CGI | K(PIPE),
             .need = P_REGEX),
    [TP_CMD_COOKIE_DOMAIN] = STR(R(cookie_domain), .flags = F_NONEMPTY),
    [TP_CMD_LOCAL_URI] = UNSUP(R_WIDGET),
    [TP_CMD_AUTO_BASE] = ACC(.fn = h_auto_base, .excl = P_BASE),
    [TP_CMD_PROCESS_STYLE] = UNSUP(R_WIDGET),
    [TP_CMD_DIRECT_ADDRESSING] = UNSUP(R_WIDGET),
    [TP_CMD_SELF_CONTAINER] = UNSUP(R_WIDGET),
    [TP_CMD_GROUP_CONTAINER] = UNSUP(R_WIDGET),
    [TP_CMD_WIDGET_GROUP] = UNSUP(R_WIDGET),
    [TP_CMD_VALIDATE_MTIME] = ACC(.fn = h_validate_mtime, .flags = F_NOSHAPE),
    [TP_CMD_NFS_SERVER] =
        ACC(.fn = h_address_start, .flags = F_NONEMPTY, .check = chk_host),
    [TP_CMD_NFS_EXPORT] = ACC(.fn = h_nfs_export, .check = chk_abs_path),
    [TP_CMD_LHTTP_PATH] = ACC(.fn = h_address_start),
    [TP_CMD_LHTTP_URI] = ASTR(A(lhttp_uri), .kinds = K(LHTTP)),
    [TP_CMD_EXPAND_LHTTP_URI] = ASTR(A(expand_lhttp_uri), .kinds = K(LHTTP),
                                     .flags = F_NONEMPTY, .need = P_REGEX),
    [TP_CMD_LHTTP_HOST] =
        ASTR(A(lhttp_host), .kinds = K(LHTTP), .flags = F_NONEMPTY),
    [TP_CMD_CONCURRENCY] = AU16(concurrency, K_SERVER),
    [TP_CMD_WANT_FULL_URI] = ACC(.fn = h_want_full_uri),
    [TP_CMD_USER_NAMESPACE] = UNSUP(R_JAIL),
    [TP_CMD_NETWORK_NAMESPACE] = UNSUP(R_JAIL),
    [TP_CMD_EXPAND_APPEND] =
        ACC(.fn = h_list, .flags = F_NONEMPTY, .need = P_REGEX),
    [TP_CMD_EXPAND_PAIR] =
        ACC(.fn = h_list, .need = P_REGEX, .check = chk_pair),
    [TP_CMD_PID_NAMESPACE] = UNSUP(R_JAIL),
    [TP_CMD_PIVOT_ROOT] = UNSUP(R_JAIL),
    [TP_CMD_MOUNT_PROC] = UNSUP(R_JAIL),
    [TP_CMD_MOUNT_HOME] = UNSUP(R_JAIL),
    [TP_CMD_MOUNT_TMP_TMPFS] = UNSUP(R_JAIL),
    [TP_CMD_UTS_NAMESPACE] = UNSUP(R_JAIL),
    [TP_CMD_BIND_MOUNT] = UNSUP(R_JAIL),
    [TP_CMD_RLIMITS] = ACC(.op = OP_STR, .dom = D_CHILD, .off = CO(rlimits),
                           .check = chk_rlimits),
    [TP_CMD_WANT] = ACC(.fn = h_u16_list),
    [TP_CMD_UNSAFE_BASE] = FLAG(R(unsafe_base), .need = P_BASE),
    [TP_CMD_EASY_BASE] = FLAG(R(easy_base), .need = P_BASE),
    [TP_CMD_REGEX_TAIL] = FLAG(R(regex_tail), .need = P_REGEX_OR_LAYOUT),
    [TP_CMD_REGEX_UNESCAPE] = FLAG(R(regex_unescape), .need = P_ANY_REGEX),
    [TP_CMD_FILE_NOT_FOUND] = ACC(.fn = h_probe),
    [TP_CMD_CONTENT_TYPE_LOOKUP] = ACC(.fn = h_file),
    [TP_CMD_DIRECTORY_INDEX] = ACC(.fn = h_probe),
    [TP_CMD_EXPIRES_RELATIVE] =
        ACC(.op = OP_U32, .off = RO(expires_relative)),
    [TP_CMD_EXPAND_REDIRECT] =
        STR(R(expand_redirect), .flags = F_NONEMPTY,
            .need = P_REGEX | P_REDIRECT),
    [TP_CMD_EXPAND_SCRIPT_NAME] = ASTR(A(expand_script_name), .kinds = K_CGI,
                                       .flags = F_NONEMPTY, .need = P_REGEX),
    [TP_CMD_TEST_PATH] = STR(R(test_path), .excl = P_TEST_PATH),
    [TP_CMD_EXPAND_TEST_PATH] =
        STR(R(expand_test_path), .flags = F_NONEMPTY, .need = P_REGEX,
            .excl = P_TEST_PATH),
    [TP_CMD_REDIRECT_QUERY_STRING] =
        FLAG(R(redirect_query_string), .need = P_REDIRECT),
    [TP_CMD_ENOTDIR_] = ACC(.fn = h_probe),
    [TP_CMD_STDERR_PATH] = ACC(.fn = h_stderr),
    [TP_CMD_COOKIE_PATH] = STR(R(cookie_path)),
    [TP_CMD_AUTH] =
        SLICE(R(auth), .excl = P_AUTH_FILE | P_HTTP_AUTH | P_TOKEN_AUTH),
    [TP_CMD_SETENV] = ACC(.fn = h_list, .check = chk_pair),
    [TP_CMD_EXPAND_SETENV] =
        ACC(.fn = h_list, .need = P_REGEX, .check = chk_pair),
    [TP_CMD_EXPAND_URI] =
        STR(R(expand_uri), .flags = F_NONEMPTY, .need = P_REGEX),
    [TP_CMD_EXPAND_SITE] =
        STR(R(expand_site), .flags = F_NONEMPTY | F_TOP,
            .need = P_REGEX | P_SITE),
    [TP_CMD_REQUEST_HEADER] = ACC(.fn = h_header),
    [TP_CMD_EXPAND_REQUEST_HEADER] = ACC(.fn = h_header, .need = P_REGEX),
    [TP_CMD_AUTO_GZIPPED] = ACC(.fn = h_file),
    [TP_CMD_EXPAND_DOCUMENT_ROOT] =
        ACC(.fn = h_document_root, .flags = F_NONEMPTY, .need = P_REGEX),
    [TP_CMD_PROBE_PATH_SUFFIXES] =
        SLICE(R(probe_path_suffixes), .need = P_TEST_PATH),
    [TP_CMD_PROBE_SUFFIX] = ACC(.fn = h_probe_suffix, .check = chk_no_slash,
                               .need = P_PROBE_PATH_SUFFIXES),
    [TP_CMD_AUTH_FILE] = STR(R(auth_file), .excl = P_AUTH | P_AUTH_FILE),
    [TP_CMD_EXPAND_AUTH_FILE] =
        STR(R(expand_auth_file), .flags = F_NONEMPTY, .need = P_REGEX,
            .excl = P_AUTH | P_AUTH_FILE),
    [TP_CMD_APPEND_AUTH] =
        SLICE(R(append_auth), .need = P_ANY_AUTH, .excl = P_APPEND_AUTH),
    [TP_CMD_EXPAND_APPEND_AUTH] =
        STR(R(expand_append_auth), .flags = F_NONEMPTY,
            .need = P_REGEX | P_ANY_AUTH, .excl = P_APPEND_AUTH),
    [TP_CMD_LISTENER_TAG] = STR(R(listener_tag), .flags = F_NONEMPTY),
    [TP_CMD_EXPAND_COOKIE_HOST] =
        STR(R(expand_cookie_host), .flags = F_NONEMPTY,
            .need = P_REGEX | P_ADDRESS),
    [TP_CMD_EXPAND_BIND_MOUNT] = UNSUP(R_JAIL),
    [TP_CMD_NON_BLOCKING] = AFLAG(non_blocking, K(LHTTP)),
    [TP_CMD_READ_FILE] = STR(R(read_file), .excl = P_READ_FILE),
    [TP_CMD_EXPAND_READ_FILE] =
        STR(R(expand_read_file), .flags = F_NONEMPTY, .need = P_REGEX,
            .excl = P_READ_FILE),
    [TP_CMD_EXPAND_HEADER] = ACC(.fn = h_header, .need = P_REGEX),
    [TP_CMD_REGEX_ON_HOST_URI] =
        FLAG(R(regex_on_host_uri), .need = P_ANY_REGEX),
    [TP_CMD_SESSION_SITE] = STR(R(session_site)),
    [TP_CMD_IPC_NAMESPACE] = UNSUP(R_JAIL),
    [TP_CMD_AUTO_DEFLATE] = IGNORE,
    [TP_CMD_EXPAND_HOME] = UNSUP(R_JAIL),
    [TP_CMD_EXPAND_STDERR_PATH] =
        ACC(.fn = h_stderr, .flags = F_NONEMPTY, .need = P_REGEX),
    [TP_CMD_REGEX_ON_USER_URI] =
        FLAG(R(regex_on_user_uri), .need = P_ANY_REGEX),
    [TP_CMD_AUTO_GZIP] = UNSUP(R_COMPRESS),
    [TP_CMD_INTERNAL_REDIRECT] = SLICE(R(internal_redirect)),
    [TP_CMD_UID_GID] = ACC(.fn = h_uid_gid),
    [TP_CMD_REFENCE] = REMOVED(R_UNKNOWN),
    [TP_CMD_SERVICE] = UNSUP(R_LOGIN),
    [TP_CMD_INVERSE_REGEX_UNESCAPE] =
        FLAG(R(inverse_regex_unescape), .need = P_INVERSE_REGEX),
    [TP_CMD_BIND_MOUNT_RW] = UNSUP(R_JAIL),
    [TP_CMD_EXPAND_BIND_MOUNT_RW] = UNSUP(R_JAIL),
    [TP_CMD_UNTRUSTED_RAW_SITE_SUFFIX] = UNSUP(R_WIDGET),
    [TP_CMD_MOUNT_TMPFS] = UNSUP(R_JAIL),
    [TP_CMD_REVEAL_USER] = FFLAG(reveal_user),
    [TP_CMD_REALM_FROM_AUTH_BASE] =
        FLAG(R(realm_from_auth_base), .need = P_AUTH_OR_FILE,
             .excl = P_REALM),
    [TP_CMD_NO_NEW_PRIVS] = CFLAG(no_new_privs),
    [TP_CMD_CGROUP] = UNSUP(R_JAIL),
    [TP_CMD_CGROUP_SET] = UNSUP(R_JAIL),
    [TP_CMD_EXTERNAL_SESSION_MANAGER] = UNSUP(R_ESM),
    [TP_CMD_EXTERNAL_SESSION_KEEPALIVE] = UNSUP(R_ESM),
    [TP_CMD_BIND_MOUNT_EXEC] = UNSUP(R_JAIL),
    [TP_CMD_EXPAND_BIND_MOUNT_EXEC] = UNSUP(R_JAIL),
    [TP_CMD_STDERR_NULL] = ACC(.fn = h_stderr),
    [TP_CMD_EXECUTE] = UNSUP(R_LISTEN),
    [TP_CMD_FORBID_USER_NS] = UNSUP(R_SECCOMP),
    [TP_CMD_POOL] = UNSUP(R_LB),
    [TP_CMD_MESSAGE] = STR(R(message), .flags = F_NONEMPTY | F_OVERWRITE,
                           .check = chk_message),
    [TP_CMD_CANONICAL_HOST] = UNSUP(R_LB),
    [TP_CMD_SHELL] = UNSUP(R_LOGIN),
    [TP_CMD_TOKEN] = UNSUP(R_LOGIN),
    [TP_CMD_STDERR_PATH_JAILED] = UNSUP(R_JAIL),
    [TP_CMD_UMASK] = ACC(.fn = h_umask),
    [TP_CMD_CGROUP_NAMESPACE] = UNSUP(R_JAIL),
    [TP_CMD_REDIRECT_FULL_URI] =
        FLAG(R(redirect_full_uri), .need = P_BASE | P_EASY_BASE),
    [TP_CMD_FORBID_MULTICAST] = UNSUP(R_SECCOMP),
    [TP_CMD_HTTPS_ONLY] = ACC(.fn = h_https_only),
    [TP_CMD_FORBID_BIND] = UNSUP(R_SECCOMP),
    [TP_CMD_NETWORK_NAMESPACE_NAME] = UNSUP(R_JAIL),
    [TP_CMD_MOUNT_ROOT_TMPFS] = UNSUP(R_JAIL),
    [TP_CMD_CHILD_TAG] = ACC(.fn = h_child_tag, .flags = F_NONEMPTY),
    [TP_CMD_CERTIFICATE] = ACC(.fn = h_certificate, .check = chk_name),
    [TP_CMD_UNCACHED] = FLAG(R(uncached)),
    [TP_CMD_PID_NAMESPACE_NAME] = UNSUP(R_JAIL),
    [TP_CMD_SUBST_YAML_FILE] = REMOVED(R_UNKNOWN),
    [TP_CMD_SUBST_ALT_SYNTAX] = REMOVED(R_UNKNOWN),
    [TP_CMD_CACHE_TAG] = ACC(.fn = h_cache_tag, .flags = F_NONEMPTY),
    [TP_CMD_REQUIRE_CSRF_TOKEN] = FLAG(R(require_csrf_token)),
    [TP_CMD_SEND_CSRF_TOKEN] = FLAG(R(send_csrf_token)),
    [TP_CMD_HTTP2] = AFLAG(http2, K(HTTP)),
    [TP_CMD_REQUEST_URI_VERBATIM] = AFLAG(request_uri_verbatim, K_CGI),
    [TP_CMD_DEFER] = FLAG(R(defer)),
    [TP_CMD_STDERR_POND] = UNSUP("the child error logger (Pond) is not "
                                 "supported"),
    [TP_CMD_CHAIN] = SLICE(R(chain)),
    [TP_CMD_BREAK_CHAIN] = FLAG(R(break_chain), .need = P_CHAIN_REQUEST),
    [TP_CMD_FILTER_NO_BODY] = FFLAG(no_body),
    [TP_CMD_HTTP_AUTH] = SLICE(R(http_auth), .excl = P_AUTH),
    [TP_CMD_TOKEN_AUTH] = SLICE(R(token_auth), .excl = P_AUTH),
    [TP_CMD_MOUNT_EMPTY] = UNSUP(R_JAIL),
    [TP_CMD_TINY_IMAGE] = FLAG(R(tiny_image)),
    [TP_CMD_ATTACH_SESSION] = SLICE(R(attach_session), .flags = F_NONEMPTY),
    [TP_CMD_DISCARD_REALM_SESSION] = FLAG(R(discard_realm_session)),
    [TP_CMD_LIKE_HOST] = STR(R(like_host), .flags = F_NONEMPTY),
    [TP_CMD_LAYOUT] = ACC(.fn = h_layout, .flags = F_NONEMPTY),
    [TP_CMD_RECOVER_SESSION] = STR(R(recover_session), .flags = F_NONEMPTY,
                                   .check = chk_cookie_value),
    [TP_CMD_OPTIONAL] = UNSUP(R_JAIL),
    [TP_CMD_AUTO_BROTLI_PATH] = ACC(.fn = h_file),
    [TP_CMD_TRANSPARENT_CHAIN] = FLAG(R(transparent_chain), .need = P_CHAIN),
    [TP_CMD_STATS_TAG] = STR(R(stats_tag), .flags = F_NONEMPTY),
    [TP_CMD_MOUNT_DEV] = UNSUP(R_JAIL),
    [TP_CMD_BIND_MOUNT_FILE] = UNSUP(R_JAIL),
    [TP_CMD_EAGER_CACHE] = FLAG(R(eager_cache)),
    [TP_CMD_AUTO_FLUSH_CACHE] =
        FLAG(R(auto_flush_cache), .need = P_ADDRESS_CACHE_TAG),
    [TP_CMD_PARALLELISM] = AU16(parallelism, K_SERVER),
    [TP_CMD_EXPIRES_RELATIVE_WITH_QUERY] =
        ACC(.op = OP_U32, .off = RO(expires_relative_with_query)),
    [TP_CMD_CGROUP_XATTR] = UNSUP(R_JAIL),
    [TP_CMD_CHECK_HEADER] = STR(R(check_header), .need = P_CHECK,
                                .check = chk_lower_header_name),
    [TP_CMD_CHDIR] = ACC(.op = OP_STR, .dom = D_CHILD, .off = CO(chdir)),
    [TP_CMD_SESSION_COOKIE_SAME_SITE] = ACC(.fn = h_same_site),
    [TP_CMD_NO_PASSWORD] = UNSUP(R_LOGIN),
    [TP_CMD_REALM_SESSION] = SLICE(R(realm_session)),
    [TP_CMD_WRITE_FILE] = UNSUP(R_JAIL),
    [TP_CMD_PATH_EXISTS] = FLAG(R(path_exists)),
    [TP_CMD_AUTHORIZED_KEYS] = UNSUP(R_LOGIN),
    [TP_CMD_AUTO_BROTLI] = UNSUP(R_COMPRESS),
    [TP_CMD_DISPOSABLE] = ACC(.fn = h_disposable),
    [TP_CMD_DISCARD_QUERY_STRING] = FLAG(R(discard_query_string)),
    [TP_CMD_MOUNT_NAMED_TMPFS] = UNSUP(R_JAIL),
    [TP_CMD_BENEATH] = ASTR(A(beneath), .kinds = K(LOCAL)),
    [TP_CMD_MAPPED_UID_GID] = UNSUP(R_JAIL),
    [TP_CMD_NO_HOME_AUTHORIZED_KEYS] = UNSUP(R_LOGIN),
    [TP_CMD_TIMEOUT] = IGNORE,
    [TP_CMD_MOUNT_LISTEN_STREAM] = UNSUP(R_LISTEN),
    [TP_CMD_ANALYTICS_ID] = STR(R(analytics_id)),
    [TP_CMD_GENERATOR] = STR(R(generator)),
    [TP_CMD_IGNORE_NO_CACHE] = FLAG(R(ignore_no_cache)),
    [TP_CMD_AUTO_COMPRESS_ONLY_TEXT] = UNSUP(R_COMPRESS),
    [TP_CMD_REGEX_RAW] = FLAG(R(regex_raw), .need = P_REGEX),
    [TP_CMD_ALLOW_REMOTE_NETWORK] = ACC(.fn = h_allow_remote_network),
    [TP_CMD_RATE_LIMIT_SITE_REQUESTS] = ACC(.fn = h_rate_limit, .need = P_SITE),
    [TP_CMD_ACCEPT_HTTP] = UNSUP(R_LISTEN),
    [TP_CMD_CAP_SYS_RESOURCE] = UNSUP(R_SECCOMP),
    [TP_CMD_CHROOT] = UNSUP(R_JAIL),
    [TP_CMD_TMPFS_DIRS_READABLE] = UNSUP(R_JAIL),
    [TP_CMD_SYMLINK] = UNSUP(R_JAIL),
    [TP_CMD_BIND_MOUNT_RW_EXEC] = UNSUP(R_JAIL),
    [TP_CMD_BIND_MOUNT_FILE_EXEC] = UNSUP(R_JAIL),
    [TP_CMD_REAL_UID_GID] = UNSUP("a separate real uid/gid is not "
                                  "supported (UID_GID is)"),
    [TP_CMD_RATE_LIMIT_SITE_TRAFFIC] = ACC(.fn = h_rate_limit, .need = P_SITE),
    [TP_CMD_ARCH] = UNSUP(R_LB),
    [TP_CMD_MAPPED_REAL_UID_GID] = UNSUP(R_JAIL),
    [TP_CMD_ALLOW_PTRACE] = UNSUP(R_SECCOMP),
    [TP_CMD_ACCESS_CONTROL_ALLOW_ALL] = ACC(.fn = h_access_control_allow_all),
    [TP_CMD_MOUNT_TMP_TMPFS_EXEC] = UNSUP(R_JAIL),
    [TP_CMD_DIRECTORY_INDEX_SLASH] =
        FLAG(R(directory_index_slash), .need = P_DIRECTORY_INDEX),
    [TP_CMD_APPEND_PATH] =
        ASTR(A(append_path), .kinds = K_FILE, .need = P_BASE),
    [TP_CMD_NO_QUERY_STRING] = FLAG(R(no_query_string)),
    [TP_CMD_INSTANT_FADE] = AFLAG(instant_fade, K_SERVER),
    [TP_CMD_SIGKILL_] = CFLAG(sigkill),
    [TP_CMD_MAX_INOTIFY] = UNSUP(R_JAIL),
    [TP_CMD_PROCESS_NAME] =
        ASTR(A(process_name), .kinds = K_CHILD, .flags = F_NONEMPTY),
};

/* ---- generic stores ---- */

static int
generic(struct tp_response_parser *p, const struct rule *r,
        const struct tp_packet *pkt)
{
    char *base;
    switch (r->dom) {
    case D_ADDR:
        if (!slot_is(p, r->kinds))
            return wrong_kind(p, pkt);
        base = (char *)p->slot;
        break;
    case D_CHILD:
        base = (char *)current_child(p);
        break;
    case D_FILTER:
        base = (char *)p->filter;
        break;
    default:
        base = (char *)p->response;
        break;
    }
    void *field = base + r->off;
    bool overwrite = (r->flags & F_OVERWRITE) != 0;

    bool set;
    switch (r->op) {
    case OP_FLAG: set = *(bool *)field; break;
    case OP_STR: set = *(const char **)field != NULL; break;
    case OP_SLICE: set = ((struct pr_slice *)field)->data != NULL; break;
    case OP_U16: set = *(uint16_t *)field != 0; break;
    default: set = *(uint32_t *)field != 0; break;
    }
    if (set && !overwrite)
        return duplicate(p, pkt);
    if (check_preds(p, pkt, 0, r->excl) < 0)
        return -1;

    switch (r->op) {
    case OP_FLAG:
        *(bool *)field = true;
        return 0;
    case OP_STR: {
        const char *s = dup_str(p, pkt->payload, pkt->length);
        *(const char **)field = s;
        return s != NULL ? 0 : -1;
    }
    case OP_SLICE:
        return dup_slice(p, field, pkt);
    case OP_U16:
        *(uint16_t *)field = pr_load_u16(pkt->payload);
        return 0;
    default:
        *(uint32_t *)field = pr_load_u32(pkt->payload);
        return 0;
    }
}

/* ---- END ---- */

static bool
ends_with_slash(const char *s)
{
    size_t n = s != NULL ? strlen(s) : 0;
    return n > 0 && s[n - 1] == '/';
}

static int
finish_address(struct tp_response_parser *p, const struct tp_address *a)
{
    switch (a->type) {
    case TP_ADDRESS_NFS:
        if (a->nfs_export == NULL)
            return fail(p, "NFS_SERVER without NFS_EXPORT");
        if (a->path == NULL)
            return fail(p, "NFS address without PATH");
        return 0;
    case TP_ADDRESS_HTTP:
        return a->addresses.n > 0 ? 0
                                  : fail(p, "no ADDRESS for HTTP address");
    case TP_ADDRESS_LHTTP:
        return a->lhttp_uri != NULL || a->expand_lhttp_uri != NULL
                   ? 0
                   : fail(p, "missing LHTTP_URI");
    case TP_ADDRESS_WAS:
        /* §1.7.5: addresses make it remote WAS */
        if (a->disposable && a->concurrency != 0)
            return fail(p, "cannot combine DISPOSABLE with CONCURRENCY");
        if (a->addresses.n == 0)
            return 0;
        if (a->concurrency == 0)
            return fail(p, "remote WAS address without CONCURRENCY");
        if (a->addresses.n > 1)
            return fail(p, "remote WAS address with more than one ADDRESS");
        if (a->addresses.v[0].len == 0 ||
            a->addresses.v[0].addr.ss_family != AF_LOCAL)
            return fail(p, "remote WAS address is not AF_LOCAL");
        return 0;
    default:
        return 0;
    }
}

/* EASY_BASE: the main address must describe a base (ends with '/'). */
static int
check_easy_base(struct tp_response_parser *p, const struct tp_address *a)
{
    switch (a->type) {
    case TP_ADDRESS_LOCAL:
    case TP_ADDRESS_NFS:
        if (a->expand_path != NULL)
            return fail(p, "cannot combine EASY_BASE with EXPAND_PATH");
        return ends_with_slash(a->path)
                   ? 0
                   : fail(p, "PATH is not a valid base for EASY_BASE");
    case TP_ADDRESS_HTTP:
        return a->expand_path != NULL || ends_with_slash(a->path)
                   ? 0
                   : fail(p, "HTTP path is not a valid base for EASY_BASE");
    case TP_ADDRESS_LHTTP:
        return a->expand_lhttp_uri != NULL || ends_with_slash(a->lhttp_uri)
                   ? 0
                   : fail(p, "LHTTP_URI is not a valid base for EASY_BASE");
    case TP_ADDRESS_CGI:
    case TP_ADDRESS_FASTCGI:
    case TP_ADDRESS_WAS:
        if (a->expand_path != NULL || a->expand_path_info != NULL ||
            a->expand_script_name != NULL || a->expand_document_root != NULL)
            return 0;
        if (a->path_info != NULL && a->path_info[0] != '\0')
            return ends_with_slash(a->path_info)
                       ? 0
                       : fail(p, "PATH_INFO is not a valid base for "
                                 "EASY_BASE");
        return ends_with_slash(a->script_name)
                   ? 0
                   : fail(p, "SCRIPT_NAME is not a valid base for "
                             "EASY_BASE");
    default:
        return 0;
    }
}

static int
finish(struct tp_response_parser *p)
{
    struct tp_response *r = p->response;
    struct tp_address *a = &r->address;

    if (finish_address(p, a) < 0)
        return -1;
    for (size_t i = 0; i < r->n_filters; i++) {
        if (r->filters[i]->address.type == TP_ADDRESS_NONE)
            return fail(p, "FILTER without resource address");
        if (finish_address(p, &r->filters[i]->address) < 0)
            return -1;
    }
    if ((a->type == TP_ADDRESS_CGI || a->type == TP_ADDRESS_FASTCGI ||
         a->type == TP_ADDRESS_WAS) &&
        a->document_root == NULL && a->expand_document_root == NULL) {
        /* a DOCUMENT_ROOT after the address but outside its slot */
        a->document_root = r->document_root;
        a->expand_document_root = r->expand_document_root;
    }
    if (r->easy_base && check_easy_base(p, a) < 0)
        return -1;
    if (r->layout.data != NULL && r->n_layout_items == 0)
        return fail(p, "empty LAYOUT");
    if (r->probe_path_suffixes.data != NULL && r->probe_suffixes.n == 0)
        return fail(p, "PROBE_PATH_SUFFIXES without PROBE_SUFFIX");
    if (r->internal_redirect.data != NULL) {
        if (r->uri == NULL && r->expand_uri == NULL)
            return fail(p, "INTERNAL_REDIRECT without URI");
        if (r->want_full_uri.data != NULL)
            return fail(p, "cannot combine INTERNAL_REDIRECT with "
                           "WANT_FULL_URI");
    }
    return 0;
}

/* ---- feeding ---- */

void
tp_response_parser_init(struct tp_response_parser *p,
                        struct tp_response *r)
{
    memset(p, 0, sizeof(*p));
    memset(r, 0, sizeof(*r));
    p->response = r;
    p->slot = &r->address;
    p->anchor = TP_CMD_BEGIN;
    p->state = ST_START;

    r->max_age = TP_MAX_AGE_UNSET;
    r->user_max_age = TP_MAX_AGE_UNSET;
    init_child(&r->address.child);
    init_child(&r->unattached_child);
    /* §1.13 defaults; every group not listed is NO */
    r->request_header_forward[TP_HG_IDENTITY] = TP_HF_MANGLE;
    r->request_header_forward[TP_HG_CAPABILITIES] = TP_HF_YES;
    r->request_header_forward[TP_HG_COOKIE] = TP_HF_MANGLE;
    r->response_header_forward[TP_HG_CAPABILITIES] = TP_HF_YES;
    r->response_header_forward[TP_HG_COOKIE] = TP_HF_MANGLE;
    r->response_header_forward[TP_HG_TRANSFORMATION] = TP_HF_MANGLE;
    r->response_header_forward[TP_HG_LINK] = TP_HF_YES;
    r->response_header_forward[TP_HG_AUTH] = TP_HF_MANGLE;
}

void
tp_response_parser_set_request(struct tp_response_parser *p, unsigned flags)
{
    p->request_flags = flags;
}

/* One packet: 0 = more, 1 = END seen, -1 = error (message set). */
static int
feed(struct tp_response_parser *p, const struct tp_packet *pkt)
{
    uint16_t cmd = pkt->command;
    const struct tp_command_info *info = tp_command_info(cmd);

    if (p->state == ST_DONE)
        return fail(p, "packet %s (%u) after END", tp_command_name(cmd),
                    (unsigned)cmd);
    if (p->state == ST_START && cmd != TP_CMD_BEGIN)
        return fail(p, "first packet must be BEGIN, not %s (%u)",
                    tp_command_name(cmd), (unsigned)cmd);
    if (cmd == TP_CMD_BEGIN) {
        if (p->state != ST_START)
            return fail(p, "double BEGIN packet");
        if (pkt->length > 1)
            return malformed(p, pkt, "payload must be empty or one byte");
        p->response->version = pkt->length == 1 ? pkt->payload[0] : 0;
        p->state = ST_BODY;
        return 0;
    }
    if (cmd == TP_CMD_END) {
        if (pkt->length != 0)
            return malformed(p, pkt, "payload must be empty");
        if (finish(p) < 0)
            return -1;
        p->state = ST_DONE;
        return 1;
    }

    const struct rule *r = &rules[cmd <= TP_CMD_MAX ? cmd : 0];
    switch (tp_response_packet_support(cmd)) {
    case TP_SUPPORT_ACCEPTED:
    case TP_SUPPORT_IGNORED:
        break;
    case TP_SUPPORT_REQUEST_ONLY:
        return fail(p, "misplaced translate request packet %s", info->name);
    case TP_SUPPORT_REMOVED:
        return fail(p, "obsolete translation packet %s (%u): %s",
                    info->name, (unsigned)cmd, r->reason);
    case TP_SUPPORT_UNSUPPORTED:
        return fail(p, "unsupported translation packet %s (%u)", info->name,
                    (unsigned)cmd);
    default:
        return fail(p, "unknown translation packet %u", (unsigned)cmd);
    }

    const char *why = NULL;
    if (!(r->flags & F_NOSHAPE))
        why = tp_payload_check(info->payload, pkt->payload, pkt->length);
    if (why == NULL && (r->flags & F_NONEMPTY) && pkt->length == 0)
        why = "payload must not be empty";
    if (why == NULL && r->check != NULL)
        why = r->check(pkt->payload, pkt->length);
    if (why != NULL)
        return malformed(p, pkt, why);
    if (r->op == OP_IGNORE)
        return 0;

    if (check_preds(p, pkt, r->need, 0) < 0)
        return -1;
    if ((r->flags & F_TOP) && p->filter != NULL)
        return misplaced(p, pkt, "not allowed after FILTER");
    if (r->op != OP_CUSTOM)
        return generic(p, r, pkt);
    if (check_preds(p, pkt, 0, r->excl) < 0)
        return -1;
    return r->fn(p, pkt);
}

enum tp_parse_status
tp_response_parser_feed(struct tp_response_parser *p,
                        const struct tp_packet *pkt)
{
    if (p->state == ST_ERROR)
        return TP_PARSE_ERROR;
    int rc = feed(p, pkt);
    if (rc < 0) {
        p->state = ST_ERROR;
        return TP_PARSE_ERROR;
    }
    return rc > 0 ? TP_PARSE_DONE : TP_PARSE_MORE;
}

const char *
tp_response_parser_error(const struct tp_response_parser *p)
{
    return p->error;
}

static void
set_err(char *err, size_t errlen, const char *msg)
{
    if (errlen > 0)
        snprintf(err, errlen, "%s", msg);
}

int
tp_response_parse_request(const uint8_t *data, size_t len,
                          unsigned request_flags, struct tp_response *out,
                          char *err, size_t errlen)
{
    struct tp_response_parser parser;
    struct tp_reader reader;
    tp_response_parser_init(&parser, out);
    tp_response_parser_set_request(&parser, request_flags);
    tp_reader_init(&reader, 0);
    if (data == NULL)
        data = (const uint8_t *)"";  /* no arithmetic on NULL */

    size_t pos = 0;
    enum tp_parse_status st = TP_PARSE_MORE;
    const char *msg = NULL;
    while (st == TP_PARSE_MORE && msg == NULL) {
        size_t used = 0;
        struct tp_packet pkt;
        enum tp_reader_status rs =
            tp_reader_feed(&reader, data + pos, len - pos, &used, &pkt);
        if (rs == TP_READER_ERROR) {
            msg = tp_reader_error(&reader);
            break;
        }
        pos += used;
        if (rs == TP_READER_NEED_MORE) {
            msg = tp_reader_finish(&reader) < 0 ? tp_reader_error(&reader)
                                                : "response ended before END";
            break;
        }
        st = tp_response_parser_feed(&parser, &pkt);
    }
    if (msg == NULL && st == TP_PARSE_ERROR)
        msg = tp_response_parser_error(&parser);
    char trailing[64];
    if (msg == NULL && pos != len) {
        snprintf(trailing, sizeof(trailing), "%zu bytes after END",
                 len - pos);
        msg = trailing;
    }
    tp_reader_destroy(&reader);
    if (msg != NULL) {
        set_err(err, errlen, msg);
        tp_response_free(out);
        return -1;
    }
    set_err(err, errlen, "");
    return 0;
}

int
tp_response_parse(const uint8_t *data, size_t len, struct tp_response *out,
                  char *err, size_t errlen)
{
    return tp_response_parse_request(data, len, 0, out, err, errlen);
}

void
tp_response_free(struct tp_response *r)
{
    pr_arena_free(&r->arena);
    memset(r, 0, sizeof(*r));
}

bool
tp_response_has_answer(const struct tp_response *r)
{
    return r->address.type != TP_ADDRESS_NONE || r->redirect != NULL ||
           r->expand_redirect != NULL || r->bounce != NULL ||
           r->status != 0 || r->message != NULL || r->tiny_image ||
           r->www_authenticate != NULL || r->check.data != NULL ||
           r->want.v != NULL || r->want_full_uri.data != NULL ||
           r->internal_redirect.data != NULL || r->defer ||
           r->like_host != NULL || r->layout.data != NULL || r->previous ||
           r->break_chain || r->read_file != NULL ||
           r->expand_read_file != NULL || r->path_exists ||
           r->probe_path_suffixes.data != NULL;
}

enum tp_packet_support
tp_response_packet_support(uint16_t command)
{
    const struct tp_command_info *info = tp_command_info(command);
    if (info == NULL)
        return TP_SUPPORT_UNKNOWN;
    if (rules[command].support != 0)
        return (enum tp_packet_support)rules[command].support;
    /* BEGIN and END are handled before the table */
    if (command == TP_CMD_BEGIN || command == TP_CMD_END)
        return TP_SUPPORT_ACCEPTED;
    return info->direction == TP_DIR_Q ? TP_SUPPORT_REQUEST_ONLY
                                       : TP_SUPPORT_UNKNOWN;
}

const char *
tp_packet_support_name(enum tp_packet_support s)
{
    switch (s) {
    case TP_SUPPORT_ACCEPTED: return "accepted";
    case TP_SUPPORT_IGNORED: return "ignored";
    case TP_SUPPORT_REQUEST_ONLY: return "request-only";
    case TP_SUPPORT_REMOVED: return "removed";
    case TP_SUPPORT_UNSUPPORTED: return "unsupported";
    case TP_SUPPORT_UNKNOWN: break;
    }
    return "unknown";
}

const char *
tp_response_packet_reason(uint16_t command)
{
    enum tp_packet_support s = tp_response_packet_support(command);
    if (s != TP_SUPPORT_REMOVED && s != TP_SUPPORT_UNSUPPORTED)
        return NULL;
    return rules[command].reason;
}
