/*
 * dp_config: the configuration file of portierd, in the language of the
 * beng-proxy manual (docs/configuration.md): `listener { ... }` blocks,
 * `control { ... }` blocks, the `spawn { ... }` block, `translation_socket`,
 * `set NAME = "VALUE"`,
 * `@include`,
 * `@include_optional`, `@set NAME = "VALUE"` with `${NAME}`, comments.
 *
 * Promises:
 * - dp_config_parse_buffer() is pure: it reads only the bytes it is given,
 *   never the file system, the network or the clock, and refuses
 *   `@include` lines.  dp_config_load_file() is the same parser plus a file
 *   layer that reads the named file and the files it includes.
 * - Every directive, block, option and setting is either understood and
 *   checked completely, or refused with an error naming it; nothing is
 *   ignored.  Settings and blocks that portierd does not implement yet are
 *   refused with "... is not supported yet" (see dp_config_settings.def).
 * - An error is one message in the caller's struct dp_config_error, with
 *   the file and the line it concerns: "portierd.conf:12: unknown setting
 *   'foo'".  Nothing is printed.
 * - Addresses are parsed into socket addresses without any lookup: TCP
 *   over IPv4 or IPv6 with numeric addresses (`*` is the IPv6 wildcard),
 *   local sockets (`/path`) and abstract sockets (`@name`).
 * - A struct dp_config owns every string and array it points to; all of
 *   it is released by dp_config_free().  After a failed parse or load the
 *   config holds what was read before the error; it must still be freed
 *   and must not be used.
 */
#ifndef PORTIER_DP_CONFIG_H
#define PORTIER_DP_CONFIG_H

#include "pr_bytes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Limits (documented in docs/configuration.md). */
#define DP_CONFIG_MAX_FILE_SIZE           (1024u * 1024) /* bytes per file */
#define DP_CONFIG_MAX_INCLUDE_DEPTH       16   /* nested @include levels */
#define DP_CONFIG_MAX_FILES               1024 /* files read by one load */
#define DP_CONFIG_MAX_STRING              4096 /* bytes in a value, expanded */
#define DP_CONFIG_MAX_VARIABLES           1024
#define DP_CONFIG_MAX_LISTENERS           256
#define DP_CONFIG_MAX_TRANSLATION_SOCKETS 32 /* global, and per listener */
#define DP_CONFIG_MAX_CONTROLS            32   /* `control` blocks */
#define DP_CONFIG_MAX_SPAWN_IDS           256  /* allow_user, allow_group */
#define DP_CONFIG_MAX_SSL_CERTS           256  /* per listener; ssl_client */

/* The default port of a listener's `bind` address without a port. */
#define DP_CONFIG_DEFAULT_HTTP_PORT 80

/* What finish() adds when nothing was configured. */
#define DP_CONFIG_DEFAULT_LISTEN             "*:80"
#define DP_CONFIG_DEFAULT_TRANSLATION_SOCKET "@translation"

struct dp_config_error {
    char file[512];    /* "" when no file is concerned (--listen) */
    unsigned line;     /* 1-based; 0 when the whole file is concerned */
    unsigned column;   /* 1-based column of the offending token; 0 if none */
    char message[512]; /* the problem, without the location */
    char text[1200];   /* "file:line: message" (or "file: message",
                        * or just the message) */
};

enum dp_config_address_kind {
    DP_CONFIG_ADDRESS_IPV4 = 1,
    DP_CONFIG_ADDRESS_IPV6,
    DP_CONFIG_ADDRESS_LOCAL,    /* AF_LOCAL, a path in the file system */
    DP_CONFIG_ADDRESS_ABSTRACT, /* AF_LOCAL, Linux abstract name */
};

struct dp_config_address {
    enum dp_config_address_kind kind;
    const char *text;   /* as written (after ${} expansion) */
    uint16_t port;      /* IPV4, IPV6: host order; 0 for the others */
    bool wildcard;      /* written as `*` (bound as the IPv6 any address) */
    socklen_t addr_len; /* bytes of addr that bind() gets */
    struct sockaddr_storage addr;
};

/* A certificate and its key (PEM file names, as written), from a
 * listener's `ssl_cert` or a `cert` line of `ssl_client`. */
struct dp_config_cert {
    const char *cert;   /* certificate, possibly followed by its chain */
    const char *key;    /* private key */
    const char *name;   /* ssl_client: the optional name; NULL otherwise */
    const char *file;   /* where the line is, for load-time errors */
    unsigned line;
};

enum dp_config_ssl_verify {
    DP_CONFIG_SSL_VERIFY_NO = 0,    /* no client certificate requested */
    DP_CONFIG_SSL_VERIFY_YES,       /* required and verified */
    DP_CONFIG_SSL_VERIFY_OPTIONAL,  /* requested; verified when sent */
};

struct dp_config_listener {
    struct dp_config_address bind;
    const char *tag;         /* LISTENER_TAG; NULL when not set */
    const char *interface;   /* SO_BINDTODEVICE; NULL when not set */
    bool reuse_port;         /* SO_REUSEPORT; default no */
    bool free_bind;          /* IP_FREEBIND; default no */
    bool keepalive;          /* SO_KEEPALIVE; default no */
    bool v6only;             /* IPV6_V6ONLY; default no */
    uint64_t ack_timeout_ms; /* TCP_USER_TIMEOUT; 0 = kernel default */
    /* This listener's own translation servers, in file order; when there
     * are none, the global list applies. */
    struct dp_config_address *translation_sockets;
    size_t n_translation_sockets;
    /* TLS (docs/tls.md): `ssl yes` needs at least one ssl_cert; the other
     * TLS options need `ssl yes`. */
    bool ssl;
    struct dp_config_cert *ssl_certs; /* in file order; [0] the default */
    size_t n_ssl_certs;
    enum dp_config_ssl_verify ssl_verify;
    const char *ssl_ca_cert;      /* needed by ssl_verify yes/optional */
    const char *ssl_ca_cert_file; /* where the option is */
    unsigned ssl_ca_cert_line;
    bool sts;                  /* Strict-Transport-Security */
    bool redirect_http;        /* `redirect-http`: plain HTTP -> 301 */
    const char *file; /* where the block starts ("--listen" for */
    unsigned line;    /* dp_config_add_listen(), line 0) */
};

/* One `control { ... }` block (docs/control.md). */
struct dp_config_control {
    /* UDP (IPV4/IPV6, default port CTL_DEFAULT_PORT) or a local datagram
     * socket (LOCAL/ABSTRACT). */
    struct dp_config_address bind;
    /* A multicast group to join (IPV4 or IPV6, port 0, the family of
     * `bind`); kind 0 when not set. */
    struct dp_config_address multicast_group;
    const char *interface; /* where the group is joined; NULL = any */
    const char *file;      /* where the block starts */
    unsigned line;
};

/* One `allow_user` / `allow_group` value of the spawn block: a name, a
 * number, a range "FIRST-LAST" or an open range "FIRST-". */
struct dp_config_spawn_id {
    const char *name;        /* a user/group name; NULL for numbers */
    uint32_t first, last;    /* numbers: first..last inclusive; an open
                              * range ends at UINT32_MAX - 1 */
    const char *file;        /* where it was written */
    unsigned line;
};

/* The `spawn { ... }` block (docs/configuration.md): who child processes
 * may run as.  Names are resolved when portierd starts (dp_spawn). */
struct dp_config_spawn {
    bool present;            /* the block was given */
    const char *file;        /* where it starts */
    unsigned line;
    struct dp_config_spawn_id default_user;  /* .name or number; valid
                                              * when has_default_user */
    bool has_default_user;
    struct dp_config_spawn_id *allow_users;  /* in file order */
    size_t n_allow_users;
    struct dp_config_spawn_id *allow_groups;
    size_t n_allow_groups;
};

/* Field types of the settings (see dp_config_settings.def). */
#define DP_SETTING_STRING(name, def, sup)             const char *name;
#define DP_SETTING_CHOICE(name, def, choices, sup)    const char *name;
#define DP_SETTING_BOOL(name, def, sup)               bool name;
#define DP_SETTING_UINT(name, def, min, max, sup)     uint64_t name;
#define DP_SETTING_SIZE(name, def, max, sup)          uint64_t name;
#define DP_SETTING_DURATION(name, def, min, max, sup) uint64_t name;
/** Every `set` setting; strings NULL when not set, sizes in bytes,
 * durations in milliseconds. */
struct dp_config_settings {
#include "dp_config_settings.def"
};

struct dp_config {
    struct dp_config_listener *listeners; /* in file order */
    size_t n_listeners;
    /* Global translation servers, in file order (the DEFER chain). */
    struct dp_config_address *translation_sockets;
    size_t n_translation_sockets;
    struct dp_config_control *controls; /* in file order */
    size_t n_controls;
    /* `ssl_client { cert ... }` lines of every ssl_client block, in file
     * order (names unique). */
    struct dp_config_cert *ssl_client_certs;
    size_t n_ssl_client_certs;
    struct dp_config_settings settings;
    struct dp_config_spawn spawn;
    /* Tests and fuzzing only: parse and store settings that are not
     * supported yet instead of refusing them.  portierd never sets it. */
    bool accept_unsupported;
    /* private */
    size_t listeners_cap;
    size_t translation_sockets_cap;
    size_t controls_cap;
    size_t allow_users_cap, allow_groups_cap;
    size_t ssl_client_certs_cap;
    struct pr_arena arena;
};

enum dp_setting_type {
    DP_SETTING_TYPE_STRING = 1,
    DP_SETTING_TYPE_CHOICE,
    DP_SETTING_TYPE_BOOL,
    DP_SETTING_TYPE_UINT,
    DP_SETTING_TYPE_SIZE,
    DP_SETTING_TYPE_DURATION,
};

/** One row of dp_config_settings.def, for tools and documentation. */
struct dp_setting_info {
    const char *name;
    enum dp_setting_type type;
    bool supported;
    const char *choices; /* CHOICE: "a|b"; NULL otherwise */
    uint64_t min, max;   /* UINT, SIZE, DURATION */
};

/** The settings table, in file order; *n receives its length. */
const struct dp_setting_info *dp_config_setting_table(size_t *n);

/** The defaults: no listener, no translation socket, every setting at its
 * default value.  Cannot fail. */
void dp_config_init(struct dp_config *cfg);

/** Release everything the config owns; it is empty (as after
 * dp_config_init()) afterwards. */
void dp_config_free(struct dp_config *cfg);

/**
 * Parse a configuration text that is already in memory and add what it
 * says to `cfg` (listeners and translation sockets are appended, settings
 * overwritten).  `name` is the file name used in error messages.  The text
 * may not contain `@include` lines (they need file access).
 * Returns 0, or -EINVAL (syntax or value error) / -ENOMEM with `err` set.
 */
int dp_config_parse_buffer(const char *name, const uint8_t *data, size_t len,
                           struct dp_config *cfg, struct dp_config_error *err);

/**
 * Read the file at `path` (at most DP_CONFIG_MAX_FILE_SIZE bytes) and
 * parse it like dp_config_parse_buffer(), following `@include` and
 * `@include_optional`: relative names are resolved against the directory
 * of the including file, a `*`, `?` or `[...]` in the last component is a
 * wildcard expanded in sorted order, and nesting deeper than
 * DP_CONFIG_MAX_INCLUDE_DEPTH (which includes every cycle) is an error.
 * Returns 0; -EINVAL (syntax, value, a missing wildcard directory, a
 * directory or other non-regular file), -ELOOP (an include cycle or too
 * deep nesting), -EFBIG (a file over the size limit), -EMFILE (more than
 * DP_CONFIG_MAX_FILES files), -ENOMEM, or the negative errno of a file
 * that could not be opened or read; `err` says which file and why.
 */
int dp_config_load_file(const char *path, struct dp_config *cfg,
                        struct dp_config_error *err);

/**
 * Add a listener on `address` (the syntax of `bind`), with default
 * options, as `--listen ADDRESS` does.  0, or -EINVAL / -ENOMEM with `err`
 * set (file "", line 0).
 */
int dp_config_add_listen(struct dp_config *cfg, const char *address,
                         struct dp_config_error *err);

/**
 * Add a global translation server (the syntax of `translation_socket`:
 * `/path` or `@name`), as `--translation-socket ADDRESS` does.  0, or
 * -EINVAL / -ENOMEM with `err` set.
 */
int dp_config_add_translation_socket(struct dp_config *cfg, const char *address,
                                     struct dp_config_error *err);

/**
 * Apply the defaults that depend on the whole configuration, after the
 * file and the command line were read: a listener on
 * DP_CONFIG_DEFAULT_LISTEN when there is none, the translation socket
 * DP_CONFIG_DEFAULT_TRANSLATION_SOCKET when there is none.  0 or -ENOMEM.
 */
int dp_config_finish(struct dp_config *cfg, struct dp_config_error *err);

/**
 * Parse `text` as an address, as `bind` does (`default_port` when the
 * text has none; local_only: accept only `/path` and `@name`).  0 or
 * -EINVAL with a sentence in `why`.  addr->text is set to NULL; the caller
 * keeps `text`.
 */
int dp_config_parse_address(const char *text, uint16_t default_port,
                            bool local_only, struct dp_config_address *addr,
                            char *why, size_t why_size);

/** A memory size: decimal digits, optional blanks, optional unit kB, MB
 * or GB (powers of 1024).  0 or -EINVAL (with a sentence in `why`) when
 * malformed or above `max`. */
int dp_config_parse_size(const char *text, uint64_t max, uint64_t *out,
                         char *why, size_t why_size);

/** A duration: one or more "NUMBER [UNIT]" (ms, s, min, h, d and their
 * long forms; no unit means seconds), summed, in milliseconds.  0 or
 * -EINVAL when malformed or outside [min, max]. */
int dp_config_parse_duration(const char *text, uint64_t min, uint64_t max,
                             uint64_t *out, char *why, size_t why_size);

#endif
