/*
 * dp_control: portierd's control server (docs/control.md): datagram
 * sockets from `control { ... }` blocks that receive beng-proxy control
 * datagrams (protocol/ctl_protocol) and act on the caches and counters of
 * this process.
 *
 * Promises:
 * - One libuv loop, no threads.  Each socket is watched with a uv_poll_t;
 *   a readable socket is drained with recvmsg() until EAGAIN.
 * - A datagram is executed only when ctl_datagram_parse() accepts its
 *   framing; otherwise it is dropped with a rate-limited log line (at most
 *   one per second per server, naming how many were suppressed).
 * - Permissions (dp_control_check()): over UDP only TCACHE_INVALIDATE and
 *   FLUSH_FILTER_CACHE (the stricter rule of the beng-proxy manual); from
 *   a local socket every command, but only from the uid of portierd or
 *   root, as the kernel reports it (SO_PASSCRED, SCM_CREDENTIALS).
 *   Refusals are logged, rate-limited.
 * - Implemented: NOP, TCACHE_INVALIDATE, EXPIRE_TCACHE_TAG, VERBOSE,
 *   DISCARD_SESSION (the sessions whose ATTACH_SESSION equals the
 *   payload), STATS (a reply datagram with a msgpack map,
 *   dp_control_stats_encode()),
 *   FLUSH_NFS_CACHE (dp_nfs_flush_cache(), one log line at level 1 or
 *   more; logged once and ignored in a build without NFS).
 *   FADE_CHILDREN and TERMINATE_CHILDREN (handed to the child-process
 *   pools registered with dp_control_register_pool(); without any, logged
 *   once).  FLUSH_HTTP_CACHE and FLUSH_FILTER_CACHE (dp_hcache_flush(),
 *   dp_filter_cache_flush(): all, or the entries of the payload's
 *   CACHE_TAG).  Every other command is logged once per command number
 *   and ignored.
 * - With workers, the master owns the control sockets (dp_relay) and each
 *   worker's server has one socket only, the master's channel
 *   (dp_control_add_channel()): its messages carry commands the master
 *   has checked, executed without a second check; a STATS among them is
 *   answered on the channel with this worker's map.
 * - Descriptors received with SCM_RIGHTS are closed at once.
 * - Nothing here owns the caches, stocks or the HTTP server it is given;
 *   they must outlive the server (until dp_control_close()).
 */
#ifndef PORTIER_DP_CONTROL_H
#define PORTIER_DP_CONTROL_H

#include "ctl_protocol.h"
#include "dp_config.h"
#include "dp_ratelog.h"
#include "pr_bytes.h"

#include <uv.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct dp_http_server;
struct dp_translate_stock;
struct dp_tcache;
struct dp_session_manager;

/* ------------------------------------------------------------------ */
/* Pure helpers                                                        */

enum dp_control_verdict {
    DP_CONTROL_ALLOW = 0,
    DP_CONTROL_DENY_IP,        /* the command is not accepted over UDP */
    DP_CONTROL_DENY_UID,       /* a local sender of another uid */
    DP_CONTROL_DENY_NO_CREDS,  /* a local datagram without credentials */
};

/**
 * The permission rule.  local: the datagram came from an AF_LOCAL socket;
 * has_creds/uid: the sender's credentials (SCM_CREDENTIALS); self: the
 * uid portierd runs as.
 */
enum dp_control_verdict
dp_control_check(uint16_t command, bool local, bool has_creds, uid_t uid,
                 uid_t self);

/** "the only TCACHE_INVALIDATE and ... over UDP" etc.: why v refused. */
const char *
dp_control_verdict_text(enum dp_control_verdict v);

/**
 * A sender for log lines: "127.0.0.1:40000", "[::1]:5", "uid 1000 pid
 * 77", "local sender without credentials".  cred is read only when
 * has_creds.
 */
void
dp_control_describe_peer(char *out, size_t size, bool local,
                         const struct sockaddr_storage *from, bool has_creds,
                         const struct ucred *cred);

/** The limiters of the log lines about what a control server drops. */
struct dp_control_logs {
    struct dp_ratelog malformed;  /* malformed datagrams and commands */
    struct dp_ratelog refused;    /* commands dp_control_check() refuses */
    struct dp_ratelog_once once;  /* unknown command numbers */
};

/** What came with a control datagram besides its bytes. */
struct dp_control_sender {
    struct sockaddr_storage from;
    socklen_t from_len;
    bool truncated;   /* larger than the buffer: the rest was lost */
    bool has_creds;   /* the kernel attached SCM_CREDENTIALS */
    struct ucred cred;
};

/** A received control datagram while dp_control_arrival_next() goes
 *  through its commands. */
struct dp_control_arrival {
    const char *socket;           /* the socket's name, for the log */
    bool local;                   /* from an AF_LOCAL socket */
    bool has_creds;
    uid_t uid;                    /* the sender's, when has_creds */
    uid_t self;                   /* portierd's */
    uint64_t now_ms;              /* for the log limiters */
    struct dp_control_logs *logs;
    char peer[160];               /* dp_control_describe_peer()'s text */
    struct ctl_datagram d;
};

/**
 * The checks every control server (dp_control, dp_relay) makes of a
 * datagram (len bytes at data, borrowed until the last
 * dp_control_arrival_next()) that came with snd on a socket: false when
 * it is dropped whole (truncated, or its framing is malformed), with a
 * log line to stderr (rate-limited with logs at now_ms); else *a is ready
 * for dp_control_arrival_next(), a->peer names the sender.
 */
bool
dp_control_arrival_open(struct dp_control_arrival *a, const uint8_t *data,
                        size_t len, const struct dp_control_sender *snd,
                        bool local, const char *socket, uid_t self,
                        uint64_t now_ms, struct dp_control_logs *logs);

/**
 * The next command of the datagram that is well-formed and allowed
 * (dp_control_check()) into *p; false after the last.  The others are
 * skipped with a log line: unknown command numbers once, malformed and
 * refused commands rate-limited.
 */
bool
dp_control_arrival_next(struct dp_control_arrival *a, struct ctl_packet *p);

/**
 * Receive one datagram from fd into buf (size bytes) without blocking,
 * with its sender (the credentials when SO_PASSCRED is on).  Descriptors
 * that came with it (SCM_RIGHTS) are closed at once.  Returns its length,
 * or -1 with errno (EAGAIN: none is waiting).
 */
ssize_t
dp_control_recv(int fd, void *buf, size_t size,
                struct dp_control_sender *snd);

/*
 * The master's channel to a worker: a SOCK_SEQPACKET socket pair, one
 * message per record.  A message is an 8-byte head (type u8, peer length
 * u8, two zero bytes, id u32 BE), the peer text (for log lines), then the
 * payload:
 *   DP_CHANNEL_COMMANDS  master -> worker: a control datagram (magic and
 *                        packets) whose every command the master allowed;
 *                        id != 0 when it contains a STATS to answer
 *   DP_CHANNEL_STATS     worker -> master: this worker's STATS msgpack map
 *                        (no reply framing), id from the request
 */
#define DP_CHANNEL_HEAD_SIZE 8
enum {
    DP_CHANNEL_COMMANDS = 1,
    DP_CHANNEL_STATS = 2,
};

/** One channel message into out (its contents replaced; the peer text is
 *  cut at 255 bytes; peer may be NULL).  0 or -ENOMEM. */
int
dp_control_channel_encode(struct pr_buf *out, uint8_t type, uint32_t id,
                          const char *peer, const void *payload, size_t len);

/** Split a channel message; the slices point into msg.  0 or -EINVAL
 *  (shorter than its head or its peer text). */
int
dp_control_channel_decode(const uint8_t *msg, size_t len, uint8_t *type,
                          uint32_t *id, struct pr_slice *peer,
                          struct pr_slice *payload);

/*
 * Child-process pools (FastCGI, WAS, LHTTP, CGI: the issues that build
 * them) register here, once per process, and receive FADE_CHILDREN,
 * TERMINATE_CHILDREN and portierd's SIGHUP (a fade of every child).
 * tag/tag_len is the command's CHILD_TAG (not NUL-terminated); an empty
 * tag means every child.  Each callback returns how many processes it
 * faded or terminated.  A pool that goes away unregisters by its ctx.
 */
struct dp_control_pool {
    const char *name;       /* "fastcgi", for log lines; not copied */
    size_t (*fade)(void *ctx, const char *tag, size_t tag_len);
    size_t (*terminate)(void *ctx, const char *tag, size_t tag_len);
    void *ctx;
    /* Live child processes of the pool, for STATS; may be NULL. */
    size_t (*count)(void *ctx);
};

/** Register a pool (the struct is copied).  0 or -ENOMEM. */
int
dp_control_register_pool(const struct dp_control_pool *pool);

/** Remove every registration with this ctx. */
void
dp_control_unregister_pool(void *ctx);

/** How many pools are registered. */
size_t
dp_control_pool_count(void);

/** Fade (or terminate) the children with this tag in every pool; the sum
 *  of what the callbacks returned. */
size_t
dp_control_children(bool terminate, const char *tag, size_t tag_len);

/** Most pools a STATS reply names one by one. */
#define DP_CONTROL_STATS_POOLS 8

/** The counters a STATS reply carries (docs/control.md, "STATS"). */
struct dp_control_stats {
    uint64_t connections;        /* open HTTP connections now */
    uint64_t tunnels;            /* upgraded connections open now */
    uint64_t accepted;           /* HTTP connections accepted */
    uint64_t requests;           /* HTTP responses sent */
    uint64_t status_class[6];    /* [1]..[5]: 1xx..5xx */
    uint64_t bytes_out;          /* HTTP bytes written */
    uint64_t bytes_spliced;      /* of those, body bytes moved with
                                    splice() (zero copy) */
    uint64_t request_bytes_spliced;  /* request body bytes read from
                                        clients with splice() */
    uint64_t translation_requests, translation_failures,
        translation_timeouts;
    uint64_t tcache_entries, tcache_hits, tcache_misses;
    uint64_t fcache_entries, fcache_hits, fcache_misses;
    uint64_t nfs_cache_entries, nfs_cache_hits, nfs_cache_misses;
    uint64_t http_cache_entries, http_cache_hits, http_cache_misses;
    uint64_t filter_cache_entries, filter_cache_hits, filter_cache_misses;
    uint64_t children;           /* live child processes of every kind */
    size_t n_pools;              /* the registered pools with a count */
    struct {
        const char *name;
        uint64_t children;
    } pools[DP_CONTROL_STATS_POOLS];
};

/**
 * Append a whole STATS reply datagram to out: u16 BE payload length,
 * u16 BE command STATS (6), then the msgpack map of st.  0, -EMSGSIZE
 * (never with this schema) or -ENOMEM; out is unchanged on failure.
 */
int
dp_control_stats_encode(struct pr_buf *out, const struct dp_control_stats *st);

/* ------------------------------------------------------------------ */
/* The server                                                          */

/** What the commands act on.  The arrays are copied; NULL caches are
 *  skipped. */
struct dp_control_targets {
    struct dp_http_server *http;          /* may be NULL */
    struct dp_translate_stock *const *stocks;
    size_t n_stocks;
    struct dp_tcache *const *caches;
    size_t n_caches;
    struct dp_session_manager *sessions;  /* DISCARD_SESSION; may be NULL */
};

struct dp_control;

/** A server without sockets, or NULL (out of memory). */
struct dp_control *
dp_control_new(uv_loop_t *loop, const struct dp_control_targets *targets);

/**
 * Create and bind one `control` block's socket (and join its multicast
 * group), without a loop: portierd does this before it drops privileges.
 * Returns the non-blocking descriptor, or a negative errno with a
 * sentence in err.
 */
int
dp_control_bind(const struct dp_config_control *cc, char *err,
                size_t err_size);

/**
 * Start watching fd, a socket from dp_control_bind(cc), which the server
 * owns from now on (also on failure, when it is closed).  0 or a negative
 * errno with a sentence in err.
 */
int
dp_control_add(struct dp_control *c, const struct dp_config_control *cc,
               int fd, char *err, size_t err_size);

/**
 * dp_control_bind() and dp_control_add() in one: open, bind (and join the
 * multicast group of) one `control` block's socket and start watching it.  0, or a negative errno with a sentence
 * in err ("cannot bind control socket 127.0.0.1:5478: Address already in
 * use").
 */
int
dp_control_open(struct dp_control *c, const struct dp_config_control *cc,
                char *err, size_t err_size);

/**
 * Start watching fd, this worker's end of the master's channel (the
 * server owns it from now on, also on failure).  0 or a negative errno
 * with a sentence in err.
 */
int
dp_control_add_channel(struct dp_control *c, int fd, char *err,
                       size_t err_size);

/** The log level last set by VERBOSE (initially 1). */
unsigned
dp_control_log_level(const struct dp_control *c);

/**
 * Stop: close every socket (removing `/path` sockets it created) and
 * free the server once libuv has closed the handles.  c may be NULL.
 */
void
dp_control_close(struct dp_control *c);

#endif
