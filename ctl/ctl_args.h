/*
 * ctl_args: portierctl's command line, turned into a server address and a
 * ready control datagram (docs/portierctl.md).
 *
 * Promises:
 * - One X-macro list (CTL_CLI_COMMANDS) of the commands generates the
 *   parser's dispatch, `portierctl --help` and the command section of
 *   docs/portierctl.md (`--help-markdown`); nothing is written twice.
 * - Pure: no socket, no name resolution, no clock.  A host name stays a
 *   string in struct ctl_addr; resolving it is the caller's business.
 * - Every payload is built with protocol/ctl_protocol's encoders and
 *   checked with ctl_payload_check(), so portierctl never sends what our
 *   own decoder would mark malformed.
 * - Errors are usage errors: a sentence naming the argument that was wrong
 *   ("verbose: LEVEL must be a number from 0 to 255, got 'x'") written to
 *   a caller buffer; nothing here prints, except the two help writers,
 *   which write to the FILE the caller passes.
 * - struct ctl_args owns its datagram buffer; ctl_args_free() releases it.
 */
#ifndef PORTIER_CTL_ARGS_H
#define PORTIER_CTL_ARGS_H

#include "pr_bytes.h"

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>

/** The server used when --server is not given: the abstract local socket
 *  that portierd's example configuration is to bind, named like the
 *  default translation socket "@portier-translate" (the beng-proxy
 *  client's default is "@bp-control"). */
#define CTL_ARGS_DEFAULT_SERVER "@portier-control"
/** Seconds to wait for a STATS reply unless --timeout says otherwise. */
#define CTL_ARGS_DEFAULT_TIMEOUT 5.0
/** Longest accepted --timeout, in seconds. */
#define CTL_ARGS_MAX_TIMEOUT 3600.0
/** Room for every usage message this module writes. */
#define CTL_ARGS_ERROR_SIZE 512

/** How an argument list turns into payloads (see CTL_CLI_COMMANDS). */
enum ctl_args_kind {
    CTL_ARGS_K_NONE = 1,    /* no argument, empty payload */
    CTL_ARGS_K_OPT_TAG,     /* [TAG]: empty payload or the tag */
    CTL_ARGS_K_TAG,         /* TAG: a non-empty string */
    CTL_ARGS_K_TCACHE,      /* [NAME=VALUE...]: translation packets */
    CTL_ARGS_K_LEVEL,       /* LEVEL: one byte, 0..255 */
    CTL_ARGS_K_NODE,        /* NODE:PORT */
    CTL_ARGS_K_OPT_SECONDS, /* [SECONDS]: empty or u32 BE */
    CTL_ARGS_K_ZERO,        /* no argument, payload u32 BE 0 */
    CTL_ARGS_K_BAN,         /* DURATION ADDRESS...: one packet each */
    CTL_ARGS_K_JOB,         /* PARTITION ID: "partition\0id" */
    CTL_ARGS_K_STATS,       /* [--json] [--timeout S]: waits for a reply */
};

/*
 * The commands of portierctl: X(name, CTL_CMD_ suffix, CTL_ARGS_K_ suffix,
 * synopsis of the arguments, help text).  Spec §2.3 and §2.4; the names
 * are those of beng-proxy's cm4all-beng-control where it has them.
 */
#define CTL_CLI_COMMANDS(X)                                                \
    X("nop", NOP, NONE, "",                                                \
      "Do nothing (NOP). Useful to test that a local server socket "      \
      "exists.")                                                           \
    X("tcache-invalidate", TCACHE_INVALIDATE, TCACHE, "[NAME=VALUE...]",   \
      "Remove the translation cache items that match all given values "   \
      "(restricted to a SITE and/or CACHE_TAG if given); without "        \
      "arguments, flush the whole translation cache. NAME is a "          \
      "translation packet name, case-insensitive: URI, PARAM, SESSION, "  \
      "REALM_SESSION, LISTENER_TAG, REMOTE_HOST, HOST, LANGUAGE, "        \
      "USER_AGENT, QUERY_STRING, INTERNAL_REDIRECT, ENOTDIR, USER, SITE, " \
      "CACHE_TAG.")                                                        \
    X("expire-tcache-tag", EXPIRE_TCACHE_TAG, TAG, "TAG",                  \
      "Expire the translation cache items carrying CACHE_TAG TAG, and "   \
      "their child processes, staggered.")                                 \
    X("flush-http-cache", FLUSH_HTTP_CACHE, OPT_TAG, "[TAG]",              \
      "Flush the HTTP cache, or only its items with CACHE_TAG TAG.")       \
    X("flush-filter-cache", FLUSH_FILTER_CACHE, OPT_TAG, "[TAG]",          \
      "Flush the filter cache, or only its items with CACHE_TAG TAG.")     \
    X("flush-nfs-cache", FLUSH_NFS_CACHE, NONE, "",                        \
      "Flush the NFS cache (deprecated upstream; beng-proxy ignores it).") \
    X("fade-children", FADE_CHILDREN, OPT_TAG, "[TAG]",                    \
      "Fade child processes (replace them once idle): those whose "       \
      "CHILD_TAG list contains TAG, or all of them.")                      \
    X("terminate-children", TERMINATE_CHILDREN, TAG, "TAG",                \
      "Kill the child processes whose CHILD_TAG list contains TAG, "      \
      "without waiting for them to become idle.")                          \
    X("discard-session", DISCARD_SESSION, TAG, "ID",                       \
      "Discard the sessions attached to ID (an ATTACH_SESSION value).")    \
    X("verbose", VERBOSE, LEVEL, "LEVEL",                                  \
      "Set the log level (0..255).")                                       \
    X("reload-state", RELOAD_STATE, NONE, "",                              \
      "Reload the state directories.")                                     \
    X("reset-limiter", RESET_LIMITER, TAG, "SITE",                         \
      "Reset the request rate limiter (token buckets) of SITE.")           \
    X("enable-zeroconf", ENABLE_ZEROCONF, NONE, "",                        \
      "Publish the Zeroconf services again.")                              \
    X("disable-zeroconf", DISABLE_ZEROCONF, NONE, "",                      \
      "Hide the Zeroconf services.")                                       \
    X("disable-uring", DISABLE_URING, OPT_SECONDS, "[SECONDS]",            \
      "Stop using io_uring until re-enabled, or for SECONDS.")             \
    X("enable-uring", DISABLE_URING, ZERO, "",                             \
      "Use io_uring again (DISABLE_URING with 0 seconds).")                \
    X("reject-client", REJECT_CLIENT, BAN, "DURATION ADDRESS...",          \
      "Reject connections from each ADDRESS for DURATION (seconds, or a " \
      "number with the suffix s, m, h or d); one packet per address in "  \
      "one datagram; DURATION 0 lifts it. portierd closes their "         \
      "connections at accept; beng-lb bans them.")                         \
    X("tarpit-client", TARPIT_CLIENT, BAN, "DURATION ADDRESS...",          \
      "Slow down each ADDRESS for DURATION, as reject-client: portierd "   \
      "delays each of its requests by tarpit_delay.")                      \
    X("enable-node", ENABLE_NODE, NODE, "NODE:PORT",                       \
      "Clear the failure and fade state of a node (beng-lb).")             \
    X("fade-node", FADE_NODE, NODE, "NODE:PORT",                           \
      "Fade a node for 3 hours (beng-lb).")                                \
    X("disconnect-database", DISCONNECT_DATABASE, TAG, "ACCOUNT",          \
      "Close the database connections of ACCOUNT (myproxy).")              \
    X("enable-queue", ENABLE_QUEUE, OPT_TAG, "[QUEUE]",                    \
      "Enable a job queue, or all of them (Workshop).")                    \
    X("disable-queue", DISABLE_QUEUE, OPT_TAG, "[QUEUE]",                  \
      "Disable a job queue, or all of them (Workshop).")                   \
    X("cancel-job", CANCEL_JOB, JOB, "PARTITION ID",                       \
      "Cancel a running job (Workshop).")                                  \
    X("stats", STATS, STATS, "[--json] [--timeout SECONDS]",               \
      "Ask for statistics and print the reply, as \"key: value\" lines " \
      "or, with --json, as one JSON object. Waits --timeout seconds "     \
      "(default 5) for the reply.")

/** One row of CTL_CLI_COMMANDS. */
struct ctl_cli_command {
    const char *name;         /* "flush-http-cache" */
    uint16_t command;         /* CTL_CMD_* */
    enum ctl_args_kind kind;
    const char *synopsis;     /* "[TAG]", "" when there is no argument */
    const char *help;         /* one paragraph, no line breaks */
};

/** The command table, in CTL_CLI_COMMANDS order; *count is set. */
const struct ctl_cli_command *
ctl_cli_commands(size_t *count);

/** The row named `name` (exact, lower case), or NULL. */
const struct ctl_cli_command *
ctl_cli_command_find(const char *name);

/* ------------------------------------------------------------------ */
/* Server addresses                                                    */

enum ctl_addr_kind {
    CTL_ADDR_LOCAL = 1,   /* AF_LOCAL datagram: a path or @abstract */
    CTL_ADDR_INET,        /* UDP: a host name or an IPv4/IPv6 address */
};

/** A parsed --server ADDR (not resolved). */
struct ctl_addr {
    enum ctl_addr_kind kind;
    /* CTL_ADDR_LOCAL: ready for connect(); abstract names start with a
     * NUL byte and are not NUL-terminated (length in local_len). */
    struct sockaddr_un local;
    socklen_t local_len;
    /* CTL_ADDR_INET: the host without brackets and without %interface,
     * the port in decimal (CTL_DEFAULT_PORT when none was given), and the
     * interface name ("" when none). */
    char host[256];
    char port[6];
    char interface[IF_NAMESIZE];
    /* The address as given, for messages. */
    char text[300];
};

/**
 * Parse ADDR: "@abstract", "/path" (AF_LOCAL datagram), "host",
 * "host:port", "[ipv6]", "[ipv6]:port", a bare IPv6 address with at least
 * two colons (then without port), each host optionally followed by
 * "%interface" (for a multicast or IPv6 link-local address; inside the
 * brackets for IPv6: "[ff02::1%eth0]:5478").  Ports are 1..65535 in
 * decimal.  Returns 0, or -EINVAL with a message in err.
 */
int
ctl_addr_parse(struct ctl_addr *out, const char *text, char *err,
               size_t err_size);

/* ------------------------------------------------------------------ */
/* The whole command line                                              */

/** What to do, after ctl_args_parse(). */
enum ctl_args_action {
    CTL_ARGS_SEND = 1,        /* send `datagram` to `server` */
    CTL_ARGS_HELP,            /* print ctl_args_usage() to stdout */
    CTL_ARGS_HELP_MARKDOWN,   /* print ctl_args_markdown() to stdout */
    CTL_ARGS_VERSION,         /* print the version */
};

struct ctl_args {
    enum ctl_args_action action;
    struct ctl_addr server;
    const struct ctl_cli_command *command;   /* for CTL_ARGS_SEND */
    bool json;                /* stats --json */
    double timeout;           /* seconds, > 0 */
    struct pr_buf datagram;   /* owned: magic and the command packets */
};

/**
 * Parse portierctl's arguments (argv[0] is the program name):
 * global options (--server ADDR or --server=ADDR, --timeout SECONDS,
 * --help/-h, --help-markdown, --version), then COMMAND and its arguments
 * ("--" ends the options).  On success a SEND action has its datagram
 * built.  Returns 0; -EINVAL for a usage error (message in err); -ENOMEM.
 * The result is valid until ctl_args_free(), even after an error.
 */
int
ctl_args_parse(struct ctl_args *a, int argc, char *const argv[], char *err,
               size_t err_size);

/** Release what ctl_args_parse() allocated. */
void
ctl_args_free(struct ctl_args *a);

/** Write `portierctl --help` (usage, options, every command) to f. */
void
ctl_args_usage(FILE *f);

/** Write the Markdown command reference of docs/portierctl.md to f. */
void
ctl_args_markdown(FILE *f);

#endif
