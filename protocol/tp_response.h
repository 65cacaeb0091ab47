/*
 * tp_response: the translation RESPONSE interpreter (spec/protocols.md §1).
 *
 * Promises:
 * - Pure: no I/O, no clock, no event loop.  Packets come from tp_reader;
 *   the result is a typed struct tp_response.
 * - A struct tp_response owns one struct pr_arena; every string, slice and
 *   list it points to lives there, and tp_response_free() releases it all.
 *   Text packets that may not contain NUL are stored NUL-terminated
 *   (`const char *`, NULL = absent); opaque payloads as struct pr_slice
 *   whose data is non-NULL exactly when the packet was present (even when
 *   it was empty).  Integers have documented "unset" values.
 * - Every command number has exactly one classification
 *   (tp_response_packet_support()), and the parser decides with it alone:
 *   ACCEPTED packets are interpreted, IGNORED ones are shape-checked and
 *   dropped, everything else fails the response with a message naming the
 *   packet.  docs/translation-packets.md lists all 285 commands.
 * - Errors are final and precise ("duplicate CONTENT_TYPE packet",
 *   "REGEX without BASE", "unsupported translation packet MOUNT_PROC
 *   (109)").  No input crashes the parser; every list has a limit below.
 * - Checks that need the request (BASE must prefix the request URI, WANT
 *   loops, AUTO_BASE needing a URI) or the file system are the data
 *   plane's; the request kinds that change how a response is read are
 *   passed with tp_response_parser_set_request().
 */
#ifndef PORTIER_TP_RESPONSE_H
#define PORTIER_TP_RESPONSE_H

#include "pr_bytes.h"
#include "tp_reader.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Limits: a response exceeding one fails with "too many X packets". */
#define TP_MAX_ARGS 64             /* APPEND per address */
#define TP_MAX_PAIRS 64            /* PAIR per address (params or env) */
#define TP_MAX_ENV 64              /* SETENV (+ PAIR as env) per child */
#define TP_MAX_HEADERS 64          /* HEADER+EXPAND_HEADER; the same again
                                      for REQUEST_HEADER(+EXPAND_) */
#define TP_MAX_ADDRESSES 32        /* ADDRESS(+_STRING) per address list */
#define TP_MAX_FILTERS 32          /* FILTER per response */
#define TP_MAX_CHILD_TAGS 32       /* CHILD_TAG per child */
#define TP_MAX_CACHE_TAGS 32       /* translation-cache CACHE_TAGs */
#define TP_MAX_NETWORKS 32         /* ALLOW_REMOTE_NETWORK */
#define TP_MAX_LAYOUT_ITEMS 64     /* URI/BASE/REGEX items after LAYOUT */
#define TP_MAX_PROBE_SUFFIXES 16   /* PROBE_SUFFIX (spec §1.10) */
#define TP_MAX_VARY 16             /* VARY / INVALIDATE entries (§1.14) */
#define TP_MAX_GROUPS 32           /* supplementary gids in UID_GID */
#define TP_MAX_MESSAGE 1024        /* MESSAGE bytes */

/** max_age / user_max_age when no MAX_AGE packet was sent (as upstream). */
#define TP_MAX_AGE_UNSET UINT32_MAX
/** tp_child_options.umask without a UMASK packet. */
#define TP_UMASK_UNSET (-1)

/** How a command number is treated in a response. */
enum tp_packet_support {
    TP_SUPPORT_UNKNOWN = 0,    /* not a command number at all */
    TP_SUPPORT_ACCEPTED,       /* interpreted into struct tp_response */
    TP_SUPPORT_IGNORED,        /* shape-checked, then dropped */
    TP_SUPPORT_REQUEST_ONLY,   /* only valid in requests: error */
    TP_SUPPORT_REMOVED,        /* obsolete/removed upstream: error */
    TP_SUPPORT_UNSUPPORTED,    /* not supported by Portier (yet): error */
};

/** The kind of a resource address; one per slot. */
enum tp_address_type {
    TP_ADDRESS_NONE = 0,
    TP_ADDRESS_LOCAL,          /* PATH */
    TP_ADDRESS_NFS,            /* NFS_SERVER + NFS_EXPORT + PATH */
    TP_ADDRESS_HTTP,           /* HTTP + ADDRESS... */
    TP_ADDRESS_CGI,            /* CGI */
    TP_ADDRESS_FASTCGI,        /* FASTCGI (+ ADDRESS... = remote) */
    TP_ADDRESS_WAS,            /* WAS (+ one AF_LOCAL ADDRESS = remote) */
    TP_ADDRESS_LHTTP,          /* LHTTP_PATH + LHTTP_URI */
    TP_ADDRESS_PIPE,           /* PIPE (FILTER slots only) */
};

enum tp_http_scheme {
    TP_HTTP_SCHEME_HTTP = 1,   /* http://host[:port]/path */
    TP_HTTP_SCHEME_HTTPS,      /* https://host[:port]/path */
    TP_HTTP_SCHEME_UNIX,       /* unix:/path (socket from ADDRESS) */
};

/** Header forwarding groups (spec §1.13); the wire value is the index. */
enum tp_header_group {
    TP_HG_IDENTITY = 0,
    TP_HG_CAPABILITIES,
    TP_HG_COOKIE,
    TP_HG_OTHER,
    TP_HG_FORWARD,
    TP_HG_CORS,
    TP_HG_SECURE,
    TP_HG_TRANSFORMATION,
    TP_HG_LINK,
    TP_HG_SSL,
    TP_HG_AUTH,
    TP_HG_COUNT,
};

enum tp_header_forward_mode {
    TP_HF_NO = 0,
    TP_HF_YES = 1,
    TP_HF_MANGLE = 2,
    TP_HF_BOTH = 3,
};

enum tp_same_site {
    TP_SAME_SITE_DEFAULT = 0,  /* no SESSION_COOKIE_SAME_SITE */
    TP_SAME_SITE_STRICT,
    TP_SAME_SITE_LAX,
    TP_SAME_SITE_NONE,
};

enum tp_layout_type {
    TP_LAYOUT_URI = 1,         /* exact match (may be relative) */
    TP_LAYOUT_BASE,            /* prefix match (absolute, ends '/') */
    TP_LAYOUT_REGEX,           /* start-anchored regex */
};

/* Lists are arrays in the arena: v[0..n).  `cap` is private. */

/** APPEND item (value = argument) or PAIR/SETENV item (value =
 *  "NAME=VALUE"); expand = the EXPAND_* template given right after it
 *  ("NAME=template" for pairs), or NULL. */
struct tp_expandable {
    const char *value;
    const char *expand;
};

struct tp_expandable_list {
    struct tp_expandable *v;
    size_t n, cap;
};

struct tp_string_list {
    const char **v;
    size_t n, cap;
};

/** HEADER / REQUEST_HEADER: name lower-cased; with expand, value is an
 *  EXPAND_* template. */
struct tp_header {
    const char *name;
    const char *value;
    bool expand;
};

struct tp_header_list {
    struct tp_header *v;
    size_t n, cap;
};

/**
 * One ADDRESS / ADDRESS_STRING.  Either a socket address (len > 0;
 * AF_INET, AF_INET6 or AF_LOCAL, ports in network order inside) or, for an
 * ADDRESS_STRING with a non-numeric host, host != NULL and port (host
 * order) for the data plane to resolve (len == 0 then).
 */
struct tp_socket_address {
    struct sockaddr_storage addr;
    socklen_t len;
    const char *host;
    uint16_t port;
};

struct tp_address_list {
    struct tp_socket_address *v;
    size_t n, cap;
    bool sticky;               /* STICKY */
};

struct tp_uid_gid {
    bool present;
    int32_t uid, gid;
    size_t n_groups;
    int32_t groups[TP_MAX_GROUPS];
};

/** Options of a spawned child (CGI, FASTCGI, WAS, LHTTP, PIPE). */
struct tp_child_options {
    struct tp_string_list tags;          /* CHILD_TAG */
    struct tp_expandable_list env;       /* SETENV; PAIR for CGI/PIPE/LHTTP */
    const char *stderr_path;             /* STDERR_PATH */
    const char *expand_stderr_path;      /* EXPAND_STDERR_PATH */
    bool stderr_null;                    /* STDERR_NULL */
    const char *chdir;                   /* CHDIR */
    struct tp_uid_gid uid_gid;           /* UID_GID */
    int32_t umask;                       /* UMASK, or TP_UMASK_UNSET */
    const char *rlimits;                 /* RLIMITS (syntax-checked text) */
    bool no_new_privs;                   /* NO_NEW_PRIVS */
    bool sigkill;                        /* SIGKILL_ */
};

/**
 * A resource address.  Flat: one struct holds the fields of every kind;
 * a field that does not belong to `type` is always NULL/0/false (the
 * parser refuses modifiers that do not match the address kind).
 */
struct tp_address {
    enum tp_address_type type;

    /* LOCAL: file path; NFS: path inside the export; CGI, FASTCGI, WAS,
     * LHTTP: program; PIPE: program (not necessarily absolute); HTTP: the
     * URL path ("/" when the URL has none). */
    const char *path;
    const char *expand_path;             /* EXPAND_PATH (not LHTTP) */

    /* LOCAL and NFS */
    const char *content_type;            /* CONTENT_TYPE */
    struct pr_slice content_type_lookup; /* CONTENT_TYPE_LOOKUP */
    const char *gzipped;                 /* GZIPPED */
    bool auto_gzipped;                   /* AUTO_GZIPPED */
    bool auto_brotli_path;               /* AUTO_BROTLI_PATH */
    const char *append_path;             /* APPEND_PATH */
    const char *beneath;                 /* BENEATH (LOCAL only) */

    /* NFS */
    const char *nfs_server;              /* NFS_SERVER */
    const char *nfs_export;              /* NFS_EXPORT */

    /* CGI, FASTCGI, WAS (PIPE: document_root only) */
    const char *document_root;           /* DOCUMENT_ROOT (own or default) */
    const char *expand_document_root;    /* EXPAND_DOCUMENT_ROOT */
    const char *script_name;             /* SCRIPT_NAME */
    const char *expand_script_name;      /* EXPAND_SCRIPT_NAME */
    const char *path_info;               /* PATH_INFO */
    const char *expand_path_info;        /* EXPAND_PATH_INFO */
    const char *interpreter;             /* INTERPRETER (CGI, FASTCGI) */
    const char *action;                  /* ACTION (CGI, FASTCGI) */
    bool request_uri_verbatim;           /* REQUEST_URI_VERBATIM */
    struct tp_expandable_list params;    /* PAIR (FASTCGI, WAS) */

    /* spawned children: CGI, FASTCGI, WAS, LHTTP, PIPE */
    struct tp_expandable_list args;      /* APPEND / EXPAND_APPEND */
    const char *process_name;            /* PROCESS_NAME */
    uint16_t concurrency;                /* CONCURRENCY (FASTCGI, WAS,
                                            LHTTP); 0 = unset */
    uint16_t parallelism;                /* PARALLELISM; 0 = unset */
    bool disposable;                     /* DISPOSABLE (WAS) */
    bool instant_fade;                   /* INSTANT_FADE */
    struct tp_child_options child;

    /* HTTP */
    enum tp_http_scheme scheme;
    const char *host_and_port;           /* for the Host header; NULL for
                                            unix: */
    bool http2;                          /* HTTP2 */
    const char *certificate;             /* CERTIFICATE (https only) */

    /* HTTP; FASTCGI and WAS when remote */
    struct tp_address_list addresses;

    /* LHTTP */
    const char *lhttp_uri;               /* LHTTP_URI */
    const char *expand_lhttp_uri;        /* EXPAND_LHTTP_URI */
    const char *lhttp_host;              /* LHTTP_HOST */
    bool non_blocking;                   /* NON_BLOCKING */
};

/** A FILTER slot, in response order. */
struct tp_filter {
    struct tp_address address;
    bool no_body;                        /* FILTER_NO_BODY */
    bool reveal_user;                    /* REVEAL_USER */
    const char *cache_tag;               /* CACHE_TAG after FILTER */
};

/** ALLOW_REMOTE_NETWORK: an AF_INET/AF_INET6 network, host bits zero. */
struct tp_network {
    struct sockaddr_storage addr;
    socklen_t len;
    uint8_t prefix_len;                  /* ≤ 32 (IPv4) or ≤ 128 (IPv6) */
};

struct tp_response_layout_item {
    enum tp_layout_type type;
    const char *value;
    bool access_control_allow_all;       /* ACCESS_CONTROL_ALLOW_ALL */
};

/** RATE_LIMIT_SITE_*: both > 0 and finite when present (rate > 0). */
struct tp_token_bucket {
    float rate, burst;
};

struct tp_u16_list {
    const uint16_t *v;
    size_t n;
};

struct tp_response {
    struct pr_arena arena;
    uint8_t version;                     /* BEGIN payload, 0 if absent */

    /* resource: the main slot and the FILTER slots */
    struct tp_address address;
    const char *address_cache_tag;       /* CACHE_TAG after the address */
    struct tp_filter **filters;
    size_t n_filters, filters_cap;
    bool filter_4xx;                     /* FILTER_4XX */
    bool transparent;                    /* TRANSPARENT */

    /* generated responses (§1.7.9) */
    uint16_t status;                     /* STATUS; 0 = absent */
    const char *redirect;                /* REDIRECT */
    const char *expand_redirect;         /* EXPAND_REDIRECT */
    bool redirect_query_string;          /* REDIRECT_QUERY_STRING */
    bool redirect_full_uri;              /* REDIRECT_FULL_URI */
    const char *bounce;                  /* BOUNCE */
    const char *message;                 /* MESSAGE */
    bool tiny_image;                     /* TINY_IMAGE */
    uint16_t https_only;                 /* HTTPS_ONLY port; 0 = absent
                                            (a 0 on the wire means 443) */
    struct tp_network *allow_remote_networks;
    size_t n_allow_remote_networks, allow_remote_networks_cap;
    bool no_query_string;                /* NO_QUERY_STRING */
    bool discard_query_string;           /* DISCARD_QUERY_STRING */
    const char *scheme;                  /* SCHEME */
    const char *host;                    /* HOST */
    const char *site, *expand_site;      /* SITE, EXPAND_SITE */
    const char *uri, *expand_uri;        /* URI, EXPAND_URI */
    struct tp_header_list response_headers;  /* HEADER, EXPAND_HEADER */
    struct tp_header_list request_headers;   /* REQUEST_HEADER(+EXPAND_) */
    const char *www_authenticate;        /* WWW_AUTHENTICATE */
    const char *authentication_info;     /* AUTHENTICATION_INFO */
    const char *generator;               /* GENERATOR */
    const char *analytics_id;            /* ANALYTICS_ID */
    const char *stats_tag;               /* STATS_TAG */
    const char *listener_tag;            /* LISTENER_TAG */
    const char *document_root;           /* response-wide DOCUMENT_ROOT */
    const char *expand_document_root;    /* response-wide EXPAND_ variant */
    uint32_t expires_relative;           /* EXPIRES_RELATIVE; 0 = unset */
    uint32_t expires_relative_with_query;
    uint8_t request_header_forward[TP_HG_COUNT];   /* enum
                                                      tp_header_forward_mode */
    uint8_t response_header_forward[TP_HG_COUNT];
    bool defer;                          /* DEFER */
    struct tp_token_bucket rate_limit_site_requests;
    struct tp_token_bucket rate_limit_site_traffic;

    /* translation cache (§1.11, §1.14, §1.15) */
    uint32_t max_age;                    /* MAX_AGE or TP_MAX_AGE_UNSET */
    uint32_t user_max_age;               /* MAX_AGE after USER */
    struct tp_u16_list vary, invalidate; /* VARY, INVALIDATE */
    const char *base;                    /* BASE */
    bool easy_base, unsafe_base, auto_base;
    const char *regex, *inverse_regex;   /* REGEX, INVERSE_REGEX (uncompiled) */
    bool regex_tail, regex_unescape, inverse_regex_unescape;
    bool regex_on_host_uri, regex_on_user_uri, regex_raw;
    struct tp_string_list cache_tags;    /* CACHE_TAG before any address */
    const char *validate_mtime_path;     /* VALIDATE_MTIME; NULL = absent */
    uint64_t validate_mtime;
    bool uncached, eager_cache, ignore_no_cache, auto_flush_cache;

    /* repeat requests and probing (§1.5.2, §1.10) */
    struct tp_u16_list want;             /* WANT */
    struct pr_slice want_full_uri;       /* WANT_FULL_URI */
    struct pr_slice check;               /* CHECK */
    const char *check_header;            /* CHECK_HEADER */
    bool previous;                       /* PREVIOUS */
    struct pr_slice internal_redirect;   /* INTERNAL_REDIRECT */
    const char *like_host;               /* LIKE_HOST */
    struct pr_slice layout;              /* LAYOUT */
    struct tp_response_layout_item *layout_items;
    size_t n_layout_items, layout_items_cap;
    struct pr_slice file_not_found;      /* FILE_NOT_FOUND */
    struct pr_slice directory_index;     /* DIRECTORY_INDEX */
    bool directory_index_slash;          /* DIRECTORY_INDEX_SLASH */
    struct pr_slice enotdir;             /* ENOTDIR_ */
    bool path_exists;                    /* PATH_EXISTS */
    struct pr_slice probe_path_suffixes; /* PROBE_PATH_SUFFIXES */
    struct tp_string_list probe_suffixes;/* PROBE_SUFFIX */
    const char *test_path, *expand_test_path;
    const char *read_file, *expand_read_file;
    struct pr_slice error_document;      /* ERROR_DOCUMENT */
    struct pr_slice chain;               /* CHAIN */
    bool break_chain, transparent_chain; /* BREAK_CHAIN, TRANSPARENT_CHAIN */

    /* answers to a CONTENT_TYPE_LOOKUP request (no address there) */
    const char *content_type;
    bool auto_gzipped, auto_brotli_path;

    /* sessions and authentication (§1.12) */
    struct pr_slice session;             /* SESSION (empty = clear) */
    struct pr_slice realm_session;       /* REALM_SESSION */
    const char *realm;                   /* REALM: only "" is valid (§9.4) */
    bool realm_from_auth_base;
    const char *user;                    /* USER ("" = logout) */
    const char *language;                /* LANGUAGE */
    bool discard_session, discard_realm_session;
    struct pr_slice attach_session;      /* ATTACH_SESSION (non-empty) */
    const char *session_site;            /* SESSION_SITE ("" clears) */
    bool secure_cookie;
    const char *cookie_domain, *cookie_path;
    const char *cookie_host, *expand_cookie_host;
    enum tp_same_site session_cookie_same_site;
    const char *recover_session;         /* RECOVER_SESSION */
    bool require_csrf_token, send_csrf_token;
    struct pr_slice auth;                /* AUTH */
    const char *auth_file, *expand_auth_file;
    struct pr_slice append_auth;         /* APPEND_AUTH */
    const char *expand_append_auth;
    struct pr_slice http_auth, token_auth;

    /* Child options that arrived while no CGI/FASTCGI/WAS/LHTTP/PIPE was
     * current (upstream's "execute options"): validated and kept here,
     * unused by Portier. */
    struct tp_child_options unattached_child;
};

/** Request kinds that change how a response is read (a bit set). */
enum {
    /** Answer to CONTENT_TYPE_LOOKUP: CONTENT_TYPE, AUTO_GZIPPED and
     *  AUTO_BROTLI_PATH without a PATH go to the response-wide fields. */
    TP_REQUEST_CONTENT_TYPE_LOOKUP = 1u << 0,
    /** Answer to a CHAIN request: BREAK_CHAIN is valid. */
    TP_REQUEST_CHAIN = 1u << 1,
    /** The request carried WANT: another WANT is a "WANT loop". */
    TP_REQUEST_WANT = 1u << 2,
    /** The request carried WANT_FULL_URI: another is a loop. */
    TP_REQUEST_WANT_FULL_URI = 1u << 3,
};

enum tp_parse_status {
    TP_PARSE_MORE = 1,         /* feed the next packet */
    TP_PARSE_DONE,             /* END seen, response complete and valid */
    TP_PARSE_ERROR,            /* see tp_response_parser_error() */
};

/** The incremental interpreter.  Fields are private. */
struct tp_response_parser {
    struct tp_response *response;
    unsigned request_flags;
    int state;
    struct tp_address *slot;             /* current slot's address */
    struct tp_filter *filter;            /* current FILTER slot or NULL */
    uint16_t anchor;                     /* BEGIN or USER (for MAX_AGE) */
    bool anchor_used;
    bool layout_open;
    char error[200];
};

/**
 * Start reading one response into *response, which is (re)initialised:
 * empty, max ages unset, header forwarding at the §1.13 defaults.  The
 * caller owns *response and must call tp_response_free() on it whatever
 * the outcome.  Request flags start at 0 (an ordinary HTTP request).
 */
void
tp_response_parser_init(struct tp_response_parser *parser,
                        struct tp_response *response);

/** Declare what the request was (TP_REQUEST_* bits); call before the
 *  first packet. */
void
tp_response_parser_set_request(struct tp_response_parser *parser,
                               unsigned flags);

/**
 * Interpret one packet (its payload is copied; it need not outlive the
 * call).  Returns MORE, DONE after a valid END, or ERROR.  ERROR and DONE
 * are final: any packet after them returns ERROR ("packet X after END").
 */
enum tp_parse_status
tp_response_parser_feed(struct tp_response_parser *parser,
                        const struct tp_packet *packet);

/** The error message of the last ERROR ("" when there was none). */
const char *
tp_response_parser_error(const struct tp_response_parser *parser);

/**
 * Parse one complete response held in data[0..len): framing (tp_reader)
 * and interpretation, for an ordinary request.  Returns 0 when the buffer
 * is exactly one valid response (BEGIN ... END, nothing after it);
 * otherwise -1, with *out already freed and a message in err (errlen may
 * be 0).  Truncated input and bytes after END are errors.
 */
int
tp_response_parse(const uint8_t *data, size_t len, struct tp_response *out,
                  char *err, size_t errlen);

/** Like tp_response_parse() with TP_REQUEST_* flags. */
int
tp_response_parse_request(const uint8_t *data, size_t len,
                          unsigned request_flags, struct tp_response *out,
                          char *err, size_t errlen);

/** Release everything the response owns and reset it to all zero.
 *  Harmless on an already freed or zeroed response. */
void
tp_response_free(struct tp_response *response);

/**
 * True when the response tells the data plane what to do: an address, or
 * REDIRECT/EXPAND_REDIRECT, BOUNCE, STATUS, MESSAGE, TINY_IMAGE,
 * WWW_AUTHENTICATE, or a repeat request (CHECK, WANT, WANT_FULL_URI,
 * INTERNAL_REDIRECT, DEFER, LIKE_HOST, LAYOUT, PREVIOUS, BREAK_CHAIN,
 * READ_FILE, PATH_EXISTS, PROBE_PATH_SUFFIXES).  False means "Empty
 * response from configuration server" (§1.6).
 */
bool
tp_response_has_answer(const struct tp_response *response);

/** How `command` is treated in responses (any u16; unassigned numbers
 *  are TP_SUPPORT_UNKNOWN).  The parser's single source for this. */
enum tp_packet_support
tp_response_packet_support(uint16_t command);

/** "accepted", "ignored", "request-only", "removed", "unsupported" or
 *  "unknown". */
const char *
tp_packet_support_name(enum tp_packet_support support);

/** For REMOVED and UNSUPPORTED commands: why (a static sentence); NULL
 *  for the others. */
const char *
tp_response_packet_reason(uint16_t command);

#endif
