/*
 * dp_control: the control server (see dp_control.h, docs/control.md).
 */
#include "dp_control.h"

#include "ctl_protocol.h"
#include "dp_client_ban.h"
#include "dp_fcache.h"
#include "dp_filter_cache.h"
#include "dp_http_cache_request.h"
#include "dp_msgpack.h"
#include "dp_nfs.h"
#include "dp_http.h"
#include "dp_session.h"
#include "dp_spawn.h"
#include "dp_tcache.h"
#include "dp_translate.h"

#include <msgpack.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Pure helpers                                                        */

enum dp_control_verdict
dp_control_check(uint16_t command, bool local, bool has_creds, uid_t uid,
                 uid_t self)
{
    if (!local)
        return command == CTL_CMD_TCACHE_INVALIDATE ||
                       command == CTL_CMD_FLUSH_FILTER_CACHE
                   ? DP_CONTROL_ALLOW
                   : DP_CONTROL_DENY_IP;
    if (!has_creds)
        return DP_CONTROL_DENY_NO_CREDS;
    return uid == self || uid == 0 ? DP_CONTROL_ALLOW : DP_CONTROL_DENY_UID;
}

int
dp_control_channel_encode(struct pr_buf *out, uint8_t type, uint32_t id,
                          const char *peer, const void *payload, size_t len)
{
    size_t peer_len = peer != NULL ? strlen(peer) : 0;
    if (peer_len > 255)
        peer_len = 255;
    uint8_t head[DP_CHANNEL_HEAD_SIZE] = {
        type, (uint8_t)peer_len, 0, 0,
        (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8),
        (uint8_t)id,
    };
    out->len = 0;
    if (pr_buf_reserve(out, sizeof(head) + peer_len + len) != 0)
        return -ENOMEM;
    int r = pr_buf_append(out, head, sizeof(head));
    if (r == 0 && peer_len > 0)
        r = pr_buf_append(out, peer, peer_len);
    if (r == 0 && len > 0)
        r = pr_buf_append(out, payload, len);
    return r;
}

int
dp_control_channel_decode(const uint8_t *msg, size_t len, uint8_t *type,
                          uint32_t *id, struct pr_slice *peer,
                          struct pr_slice *payload)
{
    if (len < DP_CHANNEL_HEAD_SIZE)
        return -EINVAL;
    size_t peer_len = msg[1];
    if (len - DP_CHANNEL_HEAD_SIZE < peer_len)
        return -EINVAL;
    *type = msg[0];
    *id = (uint32_t)msg[4] << 24 | (uint32_t)msg[5] << 16 |
          (uint32_t)msg[6] << 8 | msg[7];
    peer->data = msg + DP_CHANNEL_HEAD_SIZE;
    peer->len = peer_len;
    payload->data = msg + DP_CHANNEL_HEAD_SIZE + peer_len;
    payload->len = len - DP_CHANNEL_HEAD_SIZE - peer_len;
    return 0;
}

/* The child-process pools of this process (process-wide, since the
 * pools are; a worker is one process). */
static struct dp_control_pool *pools;
static size_t n_pools;

int
dp_control_register_pool(const struct dp_control_pool *pool)
{
    struct dp_control_pool *grown =
        realloc(pools, (n_pools + 1) * sizeof(*pools));
    if (grown == NULL)
        return -ENOMEM;
    pools = grown;
    pools[n_pools++] = *pool;
    return 0;
}

void
dp_control_unregister_pool(void *ctx)
{
    size_t j = 0;
    for (size_t i = 0; i < n_pools; i++)
        if (pools[i].ctx != ctx)
            pools[j++] = pools[i];
    n_pools = j;
    if (n_pools == 0) {
        free(pools);
        pools = NULL;
    }
}

size_t
dp_control_pool_count(void)
{
    return n_pools;
}

size_t
dp_control_children(bool terminate, const char *tag, size_t tag_len)
{
    size_t n = 0;
    for (size_t i = 0; i < n_pools; i++) {
        size_t (*fn)(void *, const char *, size_t) =
            terminate ? pools[i].terminate : pools[i].fade;
        if (fn != NULL)
            n += fn(pools[i].ctx, tag, tag_len);
    }
    return n;
}

static void
pack_u64(msgpack_packer *pk, const char *key, uint64_t v)
{
    dp_msgpack_key(pk, key);
    msgpack_pack_uint64(pk, v);
}

static void
pack_cache(msgpack_packer *pk, const char *key, uint64_t entries,
           uint64_t hits, uint64_t misses)
{
    dp_msgpack_key(pk, key);
    msgpack_pack_map(pk, 3);
    pack_u64(pk, "entries", entries);
    pack_u64(pk, "hits", hits);
    pack_u64(pk, "misses", misses);
}

int
dp_control_stats_encode(struct pr_buf *out, const struct dp_control_stats *st)
{
    struct dp_msgpack_out o = {PR_BUF_INIT, false};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &o, dp_msgpack_write);
    msgpack_pack_map(&pk, 15);
    pack_u64(&pk, "workers", 1);
    pack_u64(&pk, "connections", st->connections);
    pack_u64(&pk, "tunnels", st->tunnels);
    pack_u64(&pk, "accepted", st->accepted);
    dp_msgpack_key(&pk, "requests");
    msgpack_pack_map(&pk, 6);
    pack_u64(&pk, "total", st->requests);
    static const char *const classes[] = {"", "1xx", "2xx", "3xx", "4xx",
                                          "5xx"};
    for (int i = 1; i <= 5; i++)
        pack_u64(&pk, classes[i], st->status_class[i]);
    pack_u64(&pk, "bytes_out", st->bytes_out);
    pack_u64(&pk, "bytes_spliced", st->bytes_spliced);
    pack_u64(&pk, "request_bytes_spliced", st->request_bytes_spliced);
    dp_msgpack_key(&pk, "translation");
    msgpack_pack_map(&pk, 3);
    pack_u64(&pk, "requests", st->translation_requests);
    pack_u64(&pk, "failures", st->translation_failures);
    pack_u64(&pk, "timeouts", st->translation_timeouts);
    pack_cache(&pk, "translation_cache", st->tcache_entries,
               st->tcache_hits, st->tcache_misses);
    pack_cache(&pk, "file_cache", st->fcache_entries, st->fcache_hits,
               st->fcache_misses);
    pack_cache(&pk, "nfs_cache", st->nfs_cache_entries, st->nfs_cache_hits,
               st->nfs_cache_misses);
    pack_cache(&pk, "http_cache", st->http_cache_entries,
               st->http_cache_hits, st->http_cache_misses);
    pack_cache(&pk, "filter_cache", st->filter_cache_entries,
               st->filter_cache_hits, st->filter_cache_misses);
    /* "children": {"total": n, "<pool>": n, ...} */
    size_t np = st->n_pools < DP_CONTROL_STATS_POOLS ? st->n_pools
                                                     : DP_CONTROL_STATS_POOLS;
    dp_msgpack_key(&pk, "children");
    msgpack_pack_map(&pk, (uint32_t)(1 + np));
    pack_u64(&pk, "total", st->children);
    for (size_t i = 0; i < np; i++)
        pack_u64(&pk, st->pools[i].name, st->pools[i].children);
    struct pr_buf map = o.buf;
    if (o.failed) {
        pr_buf_free(&map);
        return -ENOMEM;
    }
    if (map.len > CTL_MAX_PAYLOAD) {
        pr_buf_free(&map);
        return -EMSGSIZE;
    }
    if (pr_buf_reserve(out, CTL_HEADER_SIZE + map.len) != 0) {
        pr_buf_free(&map);
        return -ENOMEM;
    }
    uint8_t head[CTL_HEADER_SIZE] = {
        (uint8_t)(map.len >> 8), (uint8_t)map.len, 0, CTL_CMD_STATS,
    };
    int r = pr_buf_append(out, head, sizeof(head));
    if (r == 0)
        r = pr_buf_append(out, map.data, map.len);
    pr_buf_free(&map);
    return r;
}

/* ------------------------------------------------------------------ */
/* The server                                                          */

/* Room for one datagram: the largest a local socket will hand us in one
 * piece here (bigger ones arrive with MSG_TRUNC and are dropped). */
#define RECV_SIZE 65536

struct control_socket {
    uv_poll_t poll;
    struct dp_control *owner;
    int fd;
    bool local;
    bool channel;         /* the master's channel (commands checked) */
    bool stats_sent;      /* channel: this message's STATS answered */
    uint32_t msg_id;      /* channel: the id of the message in hand */
    char name[128];       /* the bind text, for log lines */
    char unlink_path[108]; /* "" unless we created a file-system socket */
};

struct dp_control {
    uv_loop_t *loop;
    struct dp_http_server *http;
    struct dp_translate_stock **stocks;
    size_t n_stocks;
    struct dp_tcache **caches;
    size_t n_caches;
    struct dp_session_manager *sessions;
    struct control_socket **sockets;
    size_t n_sockets;
    size_t open_handles;
    bool closing;
    unsigned log_level;
    uid_t self;
    struct dp_control_logs logs;
    struct dp_ratelog reply_log;
    uint8_t buf[RECV_SIZE + 512]; /* a channel message: head, peer,
                                   * datagram */
};

struct dp_control *
dp_control_new(uv_loop_t *loop, const struct dp_control_targets *t)
{
    struct dp_control *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->loop = loop;
    c->http = t->http;
    c->sessions = t->sessions;
    c->log_level = 1;
    c->self = geteuid();
    if (t->n_stocks > 0) {
        c->stocks = calloc(t->n_stocks, sizeof(*c->stocks));
        if (c->stocks == NULL)
            goto fail;
        memcpy(c->stocks, t->stocks, t->n_stocks * sizeof(*c->stocks));
        c->n_stocks = t->n_stocks;
    }
    if (t->n_caches > 0) {
        c->caches = calloc(t->n_caches, sizeof(*c->caches));
        if (c->caches == NULL)
            goto fail;
        memcpy(c->caches, t->caches, t->n_caches * sizeof(*c->caches));
        c->n_caches = t->n_caches;
    }
    return c;
fail:
    free(c->stocks);
    free(c->caches);
    free(c);
    return NULL;
}

unsigned
dp_control_log_level(const struct dp_control *c)
{
    return c->log_level;
}

void
dp_control_describe_peer(char *out, size_t size, bool local,
              const struct sockaddr_storage *from, bool has_creds,
              const struct ucred *cred)
{
    int n;
    if (local) {
        if (has_creds)
            n = snprintf(out, size, "uid %u pid %d", (unsigned)cred->uid,
                         (int)cred->pid);
        else
            n = snprintf(out, size, "local sender without credentials");
    } else if (from->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)from;
        char a[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
        n = snprintf(out, size, "%s:%u", a, ntohs(in->sin_port));
    } else if (from->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)from;
        char a[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
        n = snprintf(out, size, "[%s]:%u", a, ntohs(in6->sin6_port));
    } else {
        n = snprintf(out, size, "unknown sender");
    }
    (void)n;
}

ssize_t
dp_control_recv(int fd, void *buf, size_t size,
                struct dp_control_sender *snd)
{
    memset(snd, 0, sizeof(*snd));
    union {
        char buf[CMSG_SPACE(sizeof(struct ucred)) +
                 CMSG_SPACE(sizeof(int) * 8)];
        struct cmsghdr align;
    } ctrl;
    struct iovec iov = {buf, size};
    struct msghdr msg = {
        .msg_name = &snd->from,
        .msg_namelen = sizeof(snd->from),
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = ctrl.buf,
        .msg_controllen = sizeof(ctrl.buf),
    };
    ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0)
        return -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm != NULL;
         cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET)
            continue;
        if (cm->cmsg_type == SCM_CREDENTIALS &&
            cm->cmsg_len == CMSG_LEN(sizeof(snd->cred))) {
            memcpy(&snd->cred, CMSG_DATA(cm), sizeof(snd->cred));
            snd->has_creds = true;
        } else if (cm->cmsg_type == SCM_RIGHTS) {
            /* STOPWATCH_PIPE is not implemented: close what came. */
            size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < nfd; i++) {
                int cfd;
                memcpy(&cfd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                close(cfd);
            }
        }
    }
    snd->from_len = msg.msg_namelen;
    snd->truncated = (msg.msg_flags & MSG_TRUNC) != 0;
    return n;
}

static void log_limited(struct dp_control *c, struct dp_ratelog *r,
                        const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
log_limited(struct dp_control *c, struct dp_ratelog *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dp_ratelog_vprintf(r, uv_now(c->loop), stderr, fmt, ap);
    va_end(ap);
}

/* Log `what` for a command number the first time only. */
static void
log_once(struct dp_control *c, uint16_t command, const char *what)
{
    (void)dp_ratelog_once(&c->logs.once, command, stderr, what);
}

static void
collect_stats(const struct dp_control *c, struct dp_control_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (c->http != NULL) {
        struct dp_http_stats hs;
        dp_http_server_stats(c->http, &hs);
        st->connections = hs.connections;
        st->tunnels = hs.tunnels;
        st->accepted = hs.accepted;
        st->requests = hs.requests;
        for (int i = 0; i < 6; i++)
            st->status_class[i] = hs.status_class[i];
        st->bytes_out = hs.bytes_out;
        st->bytes_spliced = hs.bytes_spliced;
        st->request_bytes_spliced = hs.request_bytes_spliced;
    }
    for (size_t i = 0; i < c->n_stocks; i++) {
        if (c->stocks[i] == NULL)
            continue;
        struct dp_translate_stats ts;
        dp_translate_stock_stats(c->stocks[i], &ts);
        st->translation_requests += ts.requests;
        st->translation_failures += ts.failures;
        st->translation_timeouts += ts.timeouts;
    }
    for (size_t i = 0; i < c->n_caches; i++) {
        if (c->caches[i] == NULL)
            continue;
        struct dp_tcache_stats cs;
        dp_tcache_get_stats(c->caches[i], &cs);
        st->tcache_entries += cs.entries;
        st->tcache_hits += cs.hits;
        st->tcache_misses += cs.misses;
    }
    struct dp_fcache_stats fs;
    dp_fcache_get_stats(&fs);
    st->fcache_entries = fs.entries;
    st->fcache_hits = fs.hits;
    st->fcache_misses = fs.misses;
    struct dp_nfs_stats ns;
    dp_nfs_get_stats(&ns);
    st->nfs_cache_entries = ns.cache_entries;
    st->nfs_cache_hits = ns.data_hits;
    st->nfs_cache_misses = ns.data_misses;
    struct dp_hc_stats hs;
    dp_hcache_stats(&hs);
    st->http_cache_entries = hs.entries;
    st->http_cache_hits = hs.hits;
    st->http_cache_misses = hs.misses;
    dp_filter_cache_stats(&hs);
    st->filter_cache_entries = hs.entries;
    st->filter_cache_hits = hs.hits;
    st->filter_cache_misses = hs.misses;
    st->children = dp_spawn_count();
    st->n_pools = 0;
    for (size_t i = 0; i < n_pools && st->n_pools < DP_CONTROL_STATS_POOLS;
         i++)
        if (pools[i].count != NULL) {
            st->pools[st->n_pools].name = pools[i].name;
            st->pools[st->n_pools].children = pools[i].count(pools[i].ctx);
            st->n_pools++;
        }
}

static void
reply_stats(struct dp_control *c, struct control_socket *s,
            const struct sockaddr_storage *from, socklen_t from_len,
            const char *peer)
{
    /* An unbound local sender has no address to answer to. */
    if (!s->channel && from_len <= (socklen_t)sizeof(sa_family_t)) {
        log_limited(c, &c->reply_log,
                    "STATS from %s on %s: the sender has no address to "
                    "answer to",
                    peer, s->name);
        return;
    }
    struct dp_control_stats st;
    collect_stats(c, &st);
    struct pr_buf out = PR_BUF_INIT;
    if (dp_control_stats_encode(&out, &st) != 0) {
        log_limited(c, &c->reply_log, "STATS from %s on %s: %s", peer,
                    s->name, "out of memory");
        return;
    }
    ssize_t n;
    if (s->channel) {
        /* To the master: this worker's map, which it sums. */
        struct pr_buf msg = PR_BUF_INIT;
        n = -1;
        if (s->stats_sent) {
            n = 0;          /* one answer per forwarded datagram */
        } else if (dp_control_channel_encode(
                       &msg, DP_CHANNEL_STATS, s->msg_id, NULL,
                       out.data + CTL_HEADER_SIZE,
                       out.len - CTL_HEADER_SIZE) == 0) {
            n = send(s->fd, msg.data, msg.len, MSG_DONTWAIT | MSG_NOSIGNAL);
            s->stats_sent = true;
        } else {
            errno = ENOMEM;
        }
        pr_buf_free(&msg);
    } else {
        n = sendto(s->fd, out.data, out.len, MSG_DONTWAIT,
                   (const struct sockaddr *)from, from_len);
    }
    if (n < 0)
        log_limited(c, &c->reply_log,
                    "cannot send the STATS reply to %s on %s: %s", peer,
                    s->name, strerror(errno));
    pr_buf_free(&out);
}

static void
do_tcache_invalidate(struct dp_control *c, const struct ctl_packet *p,
                     const char *peer)
{
    struct ctl_tcache_invalidate inv;
    char err[CTL_ERROR_SIZE];
    if (ctl_tcache_decode(&inv, p->payload.data, p->payload.len, err,
                          sizeof(err)) != 0) {
        /* ctl_datagram_next() checked it already; keep the guard. */
        log_limited(c, &c->logs.malformed, "TCACHE_INVALIDATE from %s: %s",
                    peer, err);
        return;
    }
    size_t removed = 0;
    for (size_t i = 0; i < c->n_caches; i++) {
        if (c->caches[i] == NULL)
            continue;
        if (inv.flush_all)
            dp_tcache_flush(c->caches[i]);
        else
            removed += dp_tcache_invalidate(c->caches[i], &inv);
    }
    if (c->log_level >= 2) {
        if (inv.flush_all)
            fprintf(stderr,
                    "portierd: control: TCACHE_INVALIDATE from %s: every "
                    "translation cache flushed\n",
                    peer);
        else
            fprintf(stderr,
                    "portierd: control: TCACHE_INVALIDATE from %s: %zu "
                    "items removed\n",
                    peer, removed);
    }
}

static void
do_expire_tcache_tag(struct dp_control *c, const struct ctl_packet *p,
                     const char *peer)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_caches; i++)
        if (c->caches[i] != NULL)
            n += dp_tcache_expire_tag(c->caches[i], p->payload,
                                      uv_now(c->loop), NULL, NULL);
    if (c->log_level >= 2)
        fprintf(stderr,
                "portierd: control: EXPIRE_TCACHE_TAG from %s: %zu items "
                "expire\n",
                peer, n);
}

static void
do_children(struct dp_control *c, const struct ctl_packet *p,
            const char *peer)
{
    bool terminate = p->command == CTL_CMD_TERMINATE_CHILDREN;
    const char *name = ctl_command_name(p->command);
    if (dp_control_pool_count() == 0) {
        char what[200];
        int n = snprintf(what, sizeof(what),
                         "%s: no child process pool exists in portierd; "
                         "nothing to %s",
                         name, terminate ? "terminate" : "fade");
        (void)n;
        log_once(c, p->command, what);
        return;
    }
    size_t n = dp_control_children(terminate, (const char *)p->payload.data,
                                   p->payload.len);
    if (c->log_level >= 2)
        fprintf(stderr,
                "portierd: control: %s from %s%s%.*s%s: %zu child "
                "process(es) in %zu pool(s)\n",
                name, peer, p->payload.len > 0 ? " tag '" : "",
                (int)p->payload.len, (const char *)p->payload.data,
                p->payload.len > 0 ? "'" : "", n, dp_control_pool_count());
}

static void
do_discard_session(struct dp_control *c, const struct ctl_packet *p,
                   const char *peer)
{
    if (c->sessions == NULL || p->payload.len == 0) {
        log_limited(c, &c->logs.malformed,
                    "DISCARD_SESSION from %s: %s", peer,
                    c->sessions == NULL ? "no session store"
                                        : "empty ATTACH_SESSION id");
        return;
    }
    size_t n = dp_session_discard_attached(c->sessions, p->payload.data,
                                           p->payload.len);
    if (c->log_level >= 2)
        fprintf(stderr,
                "portierd: control: DISCARD_SESSION from %s: %zu sessions "
                "discarded\n",
                peer, n);
}

/* FLUSH_HTTP_CACHE, FLUSH_FILTER_CACHE: drop the entries of a cache
 * with the tag in the payload (cut at 255 bytes), every entry without
 * one. */
static void
do_flush_tagged(struct dp_control *c, const struct ctl_packet *p,
                const char *peer, size_t (*flush)(const char *tag))
{
    char tag[256];
    size_t tn = p->payload.len < sizeof(tag) - 1 ? p->payload.len
                                                 : sizeof(tag) - 1;
    memcpy(tag, p->payload.data, tn);
    tag[tn] = '\0';
    size_t dropped = flush(tag);
    if (c->log_level >= 1)
        fprintf(stderr,
                "portierd: control: %s from %s: %s%s%s (%zu entries "
                "dropped)\n",
                ctl_command_name(p->command), peer,
                tn > 0 ? "entries tagged \"" : "every entry",
                tn > 0 ? tag : "", tn > 0 ? "\"" : "", dropped);
}

/* REJECT_CLIENT, TARPIT_CLIENT: the worker's HTTP server keeps the list
 * (dp_client_ban). */
static void
do_ban(struct dp_control *c, const struct ctl_packet *p, const char *peer)
{
    const char *name = ctl_command_name(p->command);
    struct dp_ban_request r;
    char err[160];
    if (dp_client_ban_parse(p->payload.data, p->payload.len, &r, err,
                            sizeof(err)) != 0) {
        log_limited(c, &c->logs.malformed, "%s from %s: %s; ignored", name,
                    peer, err);
        return;
    }
    if (c->http == NULL) {
        log_once(c, p->command, "REJECT_CLIENT/TARPIT_CLIENT: no HTTP "
                 "server in this process; ignored");
        return;
    }
    bool evicted = false;
    enum dp_ban_kind kind = p->command == CTL_CMD_REJECT_CLIENT
                                ? DP_BAN_REJECT : DP_BAN_TARPIT;
    if (dp_http_server_ban(c->http, kind, &r, &evicted) != 0) {
        fprintf(stderr, "portierd: control: %s from %s: out of memory\n",
                name, peer);
        return;
    }
    if (r.seconds == 0)
        fprintf(stderr, "portierd: control: %s from %s: %s lifted\n", name,
                peer, r.text);
    else
        fprintf(stderr, "portierd: control: %s from %s: %s for %u s%s\n",
                name, peer, r.text,
                r.seconds < DP_BAN_MAX_SECONDS ? r.seconds
                                               : DP_BAN_MAX_SECONDS,
                evicted ? " (the list is full: the ban that ended first "
                          "gave way)" : "");
}

static void
execute(struct dp_control *c, struct control_socket *s,
        const struct ctl_packet *p, const struct sockaddr_storage *from,
        socklen_t from_len, const char *peer)
{
    char what[200];
    int n;
    switch (p->command) {
    case CTL_CMD_NOP:
        return;
    case CTL_CMD_TCACHE_INVALIDATE:
        do_tcache_invalidate(c, p, peer);
        return;
    case CTL_CMD_EXPIRE_TCACHE_TAG:
        do_expire_tcache_tag(c, p, peer);
        return;
    case CTL_CMD_DISCARD_SESSION:
        do_discard_session(c, p, peer);
        return;
    case CTL_CMD_VERBOSE: {
        unsigned old = c->log_level;
        c->log_level = p->payload.data[0];
        fprintf(stderr,
                "portierd: control: VERBOSE from %s: log level %u "
                "(was %u)\n",
                peer, c->log_level, old);
        return;
    }
    case CTL_CMD_STATS:
        reply_stats(c, s, from, from_len, peer);
        return;
    case CTL_CMD_FADE_CHILDREN:
    case CTL_CMD_TERMINATE_CHILDREN:
        do_children(c, p, peer);
        return;
    case CTL_CMD_REJECT_CLIENT:
    case CTL_CMD_TARPIT_CLIENT:
        do_ban(c, p, peer);
        return;
    case CTL_CMD_FLUSH_NFS_CACHE:
        if (dp_nfs_available()) {
            size_t dropped = dp_nfs_flush_cache();
            if (c->log_level >= 1)
                fprintf(stderr,
                        "portierd: control: FLUSH_NFS_CACHE from %s: NFS "
                        "cache flushed (%zu entries dropped)\n",
                        peer, dropped);
            return;
        }
        n = snprintf(what, sizeof(what),
                     "FLUSH_NFS_CACHE is not implemented: portierd was "
                     "built without NFS; ignored");
        break;
    case CTL_CMD_FLUSH_HTTP_CACHE:
        do_flush_tagged(c, p, peer, dp_hcache_flush);
        return;
    case CTL_CMD_FLUSH_FILTER_CACHE:
        do_flush_tagged(c, p, peer, dp_filter_cache_flush);
        return;
    default:
        n = snprintf(what, sizeof(what),
                     "%s is not implemented in portierd; ignored",
                     ctl_command_name(p->command));
        break;
    }
    (void)n;
    log_once(c, p->command, what);
}

const char *
dp_control_verdict_text(enum dp_control_verdict v)
{
    switch (v) {
    case DP_CONTROL_DENY_IP:
        return "only TCACHE_INVALIDATE and FLUSH_FILTER_CACHE are accepted "
               "over UDP";
    case DP_CONTROL_DENY_UID:
        return "a local sender must run as portierd's uid or as root";
    case DP_CONTROL_DENY_NO_CREDS:
        return "the datagram carries no credentials";
    case DP_CONTROL_ALLOW:
        break;
    }
    return "allowed";
}

bool
dp_control_arrival_open(struct dp_control_arrival *a, const uint8_t *data,
                        size_t len, const struct dp_control_sender *snd,
                        bool local, const char *socket, uid_t self,
                        uint64_t now_ms, struct dp_control_logs *logs)
{
    a->socket = socket;
    a->local = local;
    a->has_creds = snd->has_creds;
    a->uid = snd->has_creds ? snd->cred.uid : (uid_t)-1;
    a->self = self;
    a->now_ms = now_ms;
    a->logs = logs;
    dp_control_describe_peer(a->peer, sizeof(a->peer), local, &snd->from,
                             snd->has_creds, &snd->cred);
    if (snd->truncated) {
        dp_ratelog_printf(&logs->malformed, now_ms, stderr,
                          "dropped a datagram from %s on %s: larger than "
                          "%zu bytes", a->peer, socket, len);
        return false;
    }
    if (ctl_datagram_parse(&a->d, data, len) != CTL_DGRAM_OK) {
        dp_ratelog_printf(&logs->malformed, now_ms, stderr,
                          "dropped a malformed datagram from %s on %s: %s",
                          a->peer, socket, ctl_datagram_error(&a->d));
        return false;
    }
    return true;
}

bool
dp_control_arrival_next(struct dp_control_arrival *a, struct ctl_packet *p)
{
    while (ctl_datagram_next(&a->d, p)) {
        if (p->status == CTL_COMMAND_UNKNOWN) {
            (void)dp_ratelog_once(&a->logs->once, p->command, stderr,
                                  p->error);
            continue;
        }
        if (p->status != CTL_COMMAND_OK) {
            dp_ratelog_printf(&a->logs->malformed, a->now_ms, stderr,
                              "ignored a malformed command from %s on %s: "
                              "%s", a->peer, a->socket, p->error);
            continue;
        }
        enum dp_control_verdict v =
            dp_control_check(p->command, a->local, a->has_creds, a->uid,
                             a->self);
        if (v != DP_CONTROL_ALLOW) {
            dp_ratelog_printf(&a->logs->refused, a->now_ms, stderr,
                              "refused %s from %s on %s: %s",
                              ctl_command_name(p->command), a->peer,
                              a->socket, dp_control_verdict_text(v));
            continue;
        }
        return true;
    }
    return false;
}

static void
handle_datagram(struct dp_control *c, struct control_socket *s, size_t len,
                const struct dp_control_sender *snd)
{
    struct dp_control_arrival a;
    if (!dp_control_arrival_open(&a, c->buf, len, snd, s->local, s->name,
                                 c->self, uv_now(c->loop), &c->logs))
        return;
    struct ctl_packet p;
    while (dp_control_arrival_next(&a, &p))
        execute(c, s, &p, &snd->from, snd->from_len, a.peer);
}

static void
on_readable(uv_poll_t *h, int status, int events)
{
    struct control_socket *s = h->data;
    struct dp_control *c = s->owner;
    (void)events;
    if (status < 0)
        return;
    for (int round = 0; round < 64; round++) {
        struct dp_control_sender snd;
        ssize_t n = dp_control_recv(s->fd, c->buf, RECV_SIZE, &snd);
        if (n < 0)
            return; /* EAGAIN, or an error the next poll reports again */
        handle_datagram(c, s, (size_t)n, &snd);
        if (c->closing)
            return;
    }
}

/* A message from the master: commands it received and checked. */
static void
handle_channel_message(struct dp_control *c, struct control_socket *s,
                       size_t len)
{
    uint8_t type;
    uint32_t id;
    struct pr_slice peer_text, dgram;
    if (dp_control_channel_decode(c->buf, len, &type, &id, &peer_text,
                                  &dgram) != 0 ||
        type != DP_CHANNEL_COMMANDS) {
        log_limited(c, &c->logs.malformed,
                    "dropped a message of %zu bytes from the master that "
                    "is not a command batch",
                    len);
        return;
    }
    char peer[300];
    int n = snprintf(peer, sizeof(peer), "%.*s (via the master)",
                     (int)peer_text.len, (const char *)peer_text.data);
    (void)n;
    struct ctl_datagram d;
    if (ctl_datagram_parse(&d, dgram.data, dgram.len) != CTL_DGRAM_OK) {
        log_limited(c, &c->logs.malformed,
                    "dropped a malformed datagram from %s: %s", peer,
                    ctl_datagram_error(&d));
        return;
    }
    s->msg_id = id;
    s->stats_sent = false;
    struct ctl_packet p;
    while (ctl_datagram_next(&d, &p)) {
        if (p.status != CTL_COMMAND_OK)
            continue;   /* the master forwards only well-formed ones */
        execute(c, s, &p, NULL, 0, peer);
    }
}

static void
on_channel_readable(uv_poll_t *h, int status, int events)
{
    struct control_socket *s = h->data;
    struct dp_control *c = s->owner;
    (void)events;
    if (status < 0)
        return;
    for (int round = 0; round < 64; round++) {
        ssize_t n = recv(s->fd, c->buf, sizeof(c->buf), MSG_DONTWAIT);
        if (n == 0) {
            /* The master is gone (the worker follows it). */
            uv_poll_stop(&s->poll);
            return;
        }
        if (n < 0)
            return;
        handle_channel_message(c, s, (size_t)n);
        if (c->closing)
            return;
    }
}

/*
 * Watch s (its fd and name set) for readability with cb, as one of c's
 * sockets.  0, or a negative errno with "cannot watch <what>: <reason>"
 * in err; s and its fd are freed when the watch could not be set up,
 * else they are closed with the others by dp_control_close().
 */
static int
watch_socket(struct dp_control *c, struct control_socket *s, uv_poll_cb cb,
             const char *what, char *err, size_t err_size)
{
    int r = uv_poll_init(c->loop, &s->poll, s->fd);
    if (r != 0) {
        int n = snprintf(err, err_size, "cannot watch %s: %s", what,
                         uv_strerror(r));
        (void)n;
        close(s->fd);
        free(s);
        return r;
    }
    s->poll.data = s;
    c->sockets[c->n_sockets++] = s;
    c->open_handles++;
    r = uv_poll_start(&s->poll, UV_READABLE, cb);
    if (r != 0) {
        int n = snprintf(err, err_size, "cannot watch %s: %s", what,
                         uv_strerror(r));
        (void)n;
        return r;
    }
    return 0;
}

int
dp_control_add_channel(struct dp_control *c, int fd, char *err,
                       size_t err_size)
{
    struct control_socket **grown =
        realloc(c->sockets, (c->n_sockets + 1) * sizeof(*c->sockets));
    struct control_socket *s = NULL;
    if (grown != NULL) {
        c->sockets = grown;
        s = calloc(1, sizeof(*s));
    }
    if (s == NULL) {
        close(fd);
        int n = snprintf(err, err_size, "cannot watch the master's "
                         "channel: out of memory");
        (void)n;
        return -ENOMEM;
    }
    s->owner = c;
    s->fd = fd;
    s->local = true;
    s->channel = true;
    int n = snprintf(s->name, sizeof(s->name), "the master's channel");
    (void)n;
    return watch_socket(c, s, on_channel_readable, "the master's channel",
                        err, err_size);
}

static int
fail_errno(int e, char *err, size_t err_size, const char *what,
           const char *name)
{
    int n = snprintf(err, err_size, "cannot %s control socket %s: %s", what,
                     name, strerror(e));
    (void)n;
    return -e;
}

static int
join_group(int fd, const struct dp_config_control *cc, char *err,
           size_t err_size)
{
    unsigned ifindex = 0;
    if (cc->interface != NULL) {
        ifindex = if_nametoindex(cc->interface);
        if (ifindex == 0) {
            int e = errno;
            int n = snprintf(err, err_size,
                             "control socket %s: unknown interface '%s': %s",
                             cc->bind.text, cc->interface, strerror(e));
            (void)n;
            return -e;
        }
    }
    int r;
    if (cc->multicast_group.kind == DP_CONFIG_ADDRESS_IPV4) {
        struct ip_mreqn mr;
        memset(&mr, 0, sizeof(mr));
        mr.imr_multiaddr =
            ((const struct sockaddr_in *)&cc->multicast_group.addr)->sin_addr;
        mr.imr_ifindex = (int)ifindex;
        r = setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr));
    } else {
        struct ipv6_mreq mr;
        memset(&mr, 0, sizeof(mr));
        mr.ipv6mr_multiaddr =
            ((const struct sockaddr_in6 *)&cc->multicast_group.addr)
                ->sin6_addr;
        mr.ipv6mr_interface = ifindex;
        r = setsockopt(fd, IPPROTO_IPV6, IPV6_ADD_MEMBERSHIP, &mr,
                       sizeof(mr));
    }
    if (r != 0) {
        int e = errno;
        int n = snprintf(err, err_size,
                         "control socket %s: cannot join multicast group "
                         "%s: %s",
                         cc->bind.text, cc->multicast_group.text,
                         strerror(e));
        (void)n;
        return -e;
    }
    return 0;
}

static void
on_socket_closed(uv_handle_t *h)
{
    struct control_socket *s = h->data;
    struct dp_control *c = s->owner;
    close(s->fd);
    free(s);
    if (--c->open_handles == 0 && c->closing) {
        free(c->sockets);
        free(c->stocks);
        free(c->caches);
        free(c);
    }
}

int
dp_control_bind(const struct dp_config_control *cc, char *err,
                size_t err_size)
{
    const struct dp_config_address *a = &cc->bind;
    bool local = a->kind == DP_CONFIG_ADDRESS_LOCAL ||
                 a->kind == DP_CONFIG_ADDRESS_ABSTRACT;
    int family = local ? AF_LOCAL
                 : a->kind == DP_CONFIG_ADDRESS_IPV4 ? AF_INET
                                                     : AF_INET6;
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail_errno(errno, err, err_size, "create", a->text);
    int one = 1;
    int r = 0;
    if (local)
        r = setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one));
    else if (cc->multicast_group.kind != 0)
        /* Several receivers of one group on a machine share the port. */
        r = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (r != 0) {
        int e = errno;
        close(fd);
        return fail_errno(e, err, err_size, "configure", a->text);
    }
    if (a->kind == DP_CONFIG_ADDRESS_LOCAL) {
        /* A socket file left by an earlier run would make bind() fail;
         * remove it, but never anything that is not a socket. */
        const char *path = ((const struct sockaddr_un *)&a->addr)->sun_path;
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(path);
    }
    if (bind(fd, (const struct sockaddr *)&a->addr, a->addr_len) != 0) {
        int e = errno;
        close(fd);
        return fail_errno(e, err, err_size, "bind", a->text);
    }
    if (cc->multicast_group.kind != 0) {
        r = join_group(fd, cc, err, err_size);
        if (r != 0) {
            close(fd);
            return r;
        }
    }
    return fd;
}

int
dp_control_add(struct dp_control *c, const struct dp_config_control *cc,
               int fd, char *err, size_t err_size)
{
    const struct dp_config_address *a = &cc->bind;
    struct control_socket **grown =
        realloc(c->sockets, (c->n_sockets + 1) * sizeof(*c->sockets));
    if (grown == NULL) {
        close(fd);
        return fail_errno(ENOMEM, err, err_size, "watch", a->text);
    }
    c->sockets = grown;
    struct control_socket *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        close(fd);
        return fail_errno(ENOMEM, err, err_size, "watch", a->text);
    }
    s->owner = c;
    s->fd = fd;
    s->local = a->kind == DP_CONFIG_ADDRESS_LOCAL ||
               a->kind == DP_CONFIG_ADDRESS_ABSTRACT;
    int n = snprintf(s->name, sizeof(s->name), "%s", a->text);
    (void)n;
    if (a->kind == DP_CONFIG_ADDRESS_LOCAL) {
        n = snprintf(s->unlink_path, sizeof(s->unlink_path), "%s",
                     ((const struct sockaddr_un *)&a->addr)->sun_path);
        (void)n;
    }
    char what[400];
    n = snprintf(what, sizeof(what), "control socket %s", a->text);
    (void)n;
    return watch_socket(c, s, on_readable, what, err, err_size);
}

int
dp_control_open(struct dp_control *c, const struct dp_config_control *cc,
                char *err, size_t err_size)
{
    int fd = dp_control_bind(cc, err, err_size);
    if (fd < 0)
        return fd;
    return dp_control_add(c, cc, fd, err, err_size);
}

void
dp_control_close(struct dp_control *c)
{
    if (c == NULL || c->closing)
        return;
    c->closing = true;
    for (size_t i = 0; i < c->n_sockets; i++) {
        struct control_socket *s = c->sockets[i];
        if (s->unlink_path[0] != '\0')
            unlink(s->unlink_path);
        uv_close((uv_handle_t *)&s->poll, on_socket_closed);
    }
    if (c->open_handles == 0) {
        free(c->sockets);
        free(c->stocks);
        free(c->caches);
        free(c);
    }
}
