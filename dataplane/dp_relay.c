/*
 * dp_relay: the master's control server (see dp_relay.h, docs/control.md).
 */
#include "dp_relay.h"

#include "ctl_protocol.h"
#include "dp_control.h"
#include "dp_msgpack.h"
#include "dp_ratelog.h"

#include <msgpack.h>

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* The STATS sum (pure)                                                */

static bool
key_is(const msgpack_object *k, const char *text)
{
    size_t n = strlen(text);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, text, n) == 0;
}

static const msgpack_object *
map_get(const msgpack_object *m, const msgpack_object *key)
{
    if (m->type != MSGPACK_OBJECT_MAP || key->type != MSGPACK_OBJECT_STR)
        return NULL;
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR &&
            k->via.str.size == key->via.str.size &&
            memcmp(k->via.str.ptr, key->via.str.ptr, k->via.str.size) == 0)
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}

static int pack_sum(msgpack_packer *pk, const msgpack_object *const *objs,
                    size_t n);

/* The entries (no head) of the map objs[0], each value summed with the
 * same key's value in the other maps. */
static int
pack_sum_entries(msgpack_packer *pk, const msgpack_object *const *objs,
                 size_t n)
{
    const msgpack_object *first = objs[0];
    const msgpack_object **kids = calloc(n, sizeof(*kids));
    if (kids == NULL)
        return -1;
    int r = 0;
    for (uint32_t i = 0; r == 0 && i < first->via.map.size; i++) {
        const msgpack_object *key = &first->via.map.ptr[i].key;
        size_t m = 0;
        kids[m++] = &first->via.map.ptr[i].val;
        for (size_t j = 1; j < n; j++) {
            const msgpack_object *v = map_get(objs[j], key);
            if (v != NULL)
                kids[m++] = v;
        }
        r = msgpack_pack_object(pk, *key);
        if (r == 0)
            r = pack_sum(pk, kids, m);
    }
    free(kids);
    return r;
}

/* objs[0] gives the shape; the others contribute where theirs match. */
static int
pack_sum(msgpack_packer *pk, const msgpack_object *const *objs, size_t n)
{
    const msgpack_object *first = objs[0];
    if (first->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        uint64_t sum = 0;
        for (size_t i = 0; i < n; i++)
            if (objs[i]->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                sum += objs[i]->via.u64;
        return msgpack_pack_uint64(pk, sum);
    }
    if (first->type != MSGPACK_OBJECT_MAP)
        return msgpack_pack_object(pk, *first);
    int r = msgpack_pack_map(pk, first->via.map.size);
    return r == 0 ? pack_sum_entries(pk, objs, n) : r;
}

static int
pack_worker(msgpack_packer *pk, const msgpack_object *map, pid_t pid)
{
    uint32_t size = 1;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (!key_is(&map->via.map.ptr[i].key, "workers"))
            size++;
    int r = msgpack_pack_map(pk, size);
    dp_msgpack_key(pk, "pid");
    msgpack_pack_uint64(pk, (uint64_t)pid);
    for (uint32_t i = 0; r == 0 && i < map->via.map.size; i++) {
        if (key_is(&map->via.map.ptr[i].key, "workers"))
            continue;
        r = msgpack_pack_object(pk, map->via.map.ptr[i].key);
        if (r == 0)
            r = msgpack_pack_object(pk, map->via.map.ptr[i].val);
    }
    return r;
}

static int
encode_reply(struct dp_msgpack_out *o, const msgpack_object *const *objs,
             const pid_t *pids, size_t n, size_t asked, bool per_worker)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, o, dp_msgpack_write);
    if (n == 0) {
        msgpack_pack_map(&pk, 3);
        dp_msgpack_key(&pk, "workers");
        msgpack_pack_uint64(&pk, 0);
    } else {
        msgpack_pack_map(&pk, objs[0]->via.map.size + 2);
        if (pack_sum_entries(&pk, objs, n) != 0)
            return -ENOMEM;
    }
    dp_msgpack_key(&pk, "workers_asked");
    msgpack_pack_uint64(&pk, asked);
    if (per_worker) {
        dp_msgpack_key(&pk, "per_worker");
        msgpack_pack_array(&pk, n);
        for (size_t i = 0; i < n; i++)
            pack_worker(&pk, objs[i], pids[i]);
    } else {
        dp_msgpack_key(&pk, "per_worker_omitted");
        msgpack_pack_true(&pk);
    }
    return o->failed ? -ENOMEM : 0;
}

int
dp_relay_stats_reply(struct pr_buf *out, const uint8_t *const *maps,
                     const size_t *maps_len, const pid_t *pids, size_t n,
                     size_t asked)
{
    msgpack_unpacked *un = calloc(n + 1, sizeof(*un));
    const msgpack_object **objs = calloc(n + 1, sizeof(*objs));
    pid_t *good_pids = calloc(n + 1, sizeof(*good_pids));
    int r = -ENOMEM;
    size_t m = 0;
    if (un == NULL || objs == NULL || good_pids == NULL)
        goto done;
    for (size_t i = 0; i < n; i++) {
        msgpack_unpacked_init(&un[i]);
        size_t off = 0;
        if (msgpack_unpack_next(&un[i], (const char *)maps[i], maps_len[i],
                                &off) == MSGPACK_UNPACK_SUCCESS &&
            un[i].data.type == MSGPACK_OBJECT_MAP) {
            objs[m] = &un[i].data;
            good_pids[m++] = pids[i];
        }
    }
    for (int per_worker = 1; per_worker >= 0; per_worker--) {
        struct dp_msgpack_out o = {PR_BUF_INIT, false};
        r = encode_reply(&o, objs, good_pids, m, asked, per_worker != 0);
        if (r == 0 &&
            o.buf.len > CTL_MAX_DATAGRAM - CTL_HEADER_SIZE) {
            r = -EMSGSIZE;
        }
        if (r == 0) {
            uint8_t head[CTL_HEADER_SIZE] = {
                (uint8_t)(o.buf.len >> 8), (uint8_t)o.buf.len, 0,
                CTL_CMD_STATS,
            };
            if (pr_buf_reserve(out, sizeof(head) + o.buf.len) != 0)
                r = -ENOMEM;
            else if ((r = pr_buf_append(out, head, sizeof(head))) == 0)
                r = pr_buf_append(out, o.buf.data, o.buf.len);
        }
        pr_buf_free(&o.buf);
        if (r != -EMSGSIZE)
            break;
    }
done:
    if (un != NULL)
        for (size_t i = 0; i < n; i++)
            msgpack_unpacked_destroy(&un[i]);
    free(un);
    free(objs);
    free(good_pids);
    return r;
}

/* ------------------------------------------------------------------ */
/* The relay                                                           */

#define RECV_SIZE 65536

struct relay_socket {
    int fd;
    bool local;
    char name[128];
    char unlink_path[108];
};

struct relay_worker {
    pid_t pid;
    int fd;
    bool eof;               /* the worker closed its end */
};

struct answer {
    pid_t pid;
    uint8_t *map;
    size_t len;
};

/* A STATS waiting for the workers. */
struct pending {
    bool used;
    uint32_t id;
    int fd;                 /* the socket to answer on */
    struct sockaddr_storage from;
    socklen_t from_len;
    char peer[160];
    char sock_name[128];
    uint64_t deadline;
    pid_t *waiting;         /* asked, not answered yet */
    size_t n_waiting;
    size_t asked;
    struct answer *answers;
    size_t n_answers;
};

struct dp_relay {
    uid_t self;
    struct relay_socket *sockets;
    size_t n_sockets;
    struct relay_worker *workers;
    size_t n_workers;
    struct pending pending[DP_RELAY_MAX_PENDING];
    uint32_t next_id;
    uint64_t now;
    struct dp_control_logs logs;
    struct dp_ratelog reply_log, forward_log;
    uint8_t buf[RECV_SIZE + 512];
};

struct dp_relay *
dp_relay_new(uid_t self)
{
    struct dp_relay *r = calloc(1, sizeof(*r));
    if (r != NULL)
        r->self = self;
    return r;
}

static void log_limited(struct dp_relay *r, struct dp_ratelog *rl,
                        const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
log_limited(struct dp_relay *r, struct dp_ratelog *rl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dp_ratelog_vprintf(rl, r->now, stderr, fmt, ap);
    va_end(ap);
}

int
dp_relay_add_socket(struct dp_relay *r, const struct dp_config_control *cc,
                    int fd)
{
    struct relay_socket *grown =
        realloc(r->sockets, (r->n_sockets + 1) * sizeof(*r->sockets));
    if (grown == NULL) {
        close(fd);
        return -ENOMEM;
    }
    r->sockets = grown;
    struct relay_socket *s = &r->sockets[r->n_sockets++];
    memset(s, 0, sizeof(*s));
    const struct dp_config_address *a = &cc->bind;
    s->fd = fd;
    s->local = a->kind == DP_CONFIG_ADDRESS_LOCAL ||
               a->kind == DP_CONFIG_ADDRESS_ABSTRACT;
    int n = snprintf(s->name, sizeof(s->name), "%s", a->text);
    if (a->kind == DP_CONFIG_ADDRESS_LOCAL)
        n = snprintf(s->unlink_path, sizeof(s->unlink_path), "%s",
                     ((const struct sockaddr_un *)&a->addr)->sun_path);
    (void)n;
    return 0;
}

int
dp_relay_add_worker(struct dp_relay *r, pid_t pid, int fd)
{
    struct relay_worker *grown =
        realloc(r->workers, (r->n_workers + 1) * sizeof(*r->workers));
    if (grown == NULL) {
        close(fd);
        return -ENOMEM;
    }
    r->workers = grown;
    r->workers[r->n_workers++] = (struct relay_worker){pid, fd, false};
    return 0;
}

static void
pending_free(struct pending *p)
{
    for (size_t i = 0; i < p->n_answers; i++)
        free(p->answers[i].map);
    free(p->answers);
    free(p->waiting);
    memset(p, 0, sizeof(*p));
}

static void
pending_answer(struct dp_relay *r, struct pending *p)
{
    size_t n = p->n_answers;
    const uint8_t **maps = calloc(n + 1, sizeof(*maps));
    size_t *lens = calloc(n + 1, sizeof(*lens));
    pid_t *pids = calloc(n + 1, sizeof(*pids));
    struct pr_buf out = PR_BUF_INIT;
    int rc = -ENOMEM;
    if (maps != NULL && lens != NULL && pids != NULL) {
        for (size_t i = 0; i < n; i++) {
            maps[i] = p->answers[i].map;
            lens[i] = p->answers[i].len;
            pids[i] = p->answers[i].pid;
        }
        rc = dp_relay_stats_reply(&out, maps, lens, pids, n, p->asked);
    }
    if (rc != 0) {
        log_limited(r, &r->reply_log, "STATS from %s on %s: %s", p->peer,
                    p->sock_name, strerror(-rc));
    } else if (sendto(p->fd, out.data, out.len, MSG_DONTWAIT,
                      (const struct sockaddr *)&p->from, p->from_len) < 0) {
        log_limited(r, &r->reply_log,
                    "cannot send the STATS reply to %s on %s: %s", p->peer,
                    p->sock_name, strerror(errno));
    }
    pr_buf_free(&out);
    free(maps);
    free(lens);
    free(pids);
    pending_free(p);
}

/* pid answered p, or went away (map NULL). */
static void
pending_done_by(struct dp_relay *r, struct pending *p, pid_t pid,
                const uint8_t *map, size_t len)
{
    size_t i = 0;
    while (i < p->n_waiting && p->waiting[i] != pid)
        i++;
    if (i == p->n_waiting)
        return;                 /* a late or repeated answer */
    p->waiting[i] = p->waiting[--p->n_waiting];
    if (map != NULL) {
        uint8_t *copy = malloc(len > 0 ? len : 1);
        if (copy != NULL) {
            memcpy(copy, map, len);
            p->answers[p->n_answers++] = (struct answer){pid, copy, len};
        }
    }
    if (p->n_waiting == 0)
        pending_answer(r, p);
}

void
dp_relay_remove_worker(struct dp_relay *r, pid_t pid)
{
    for (size_t i = 0; i < r->n_workers; i++) {
        if (r->workers[i].pid != pid)
            continue;
        close(r->workers[i].fd);
        r->workers[i] = r->workers[--r->n_workers];
        break;
    }
    for (size_t i = 0; i < DP_RELAY_MAX_PENDING; i++)
        if (r->pending[i].used)
            pending_done_by(r, &r->pending[i], pid, NULL, 0);
}

size_t
dp_relay_pollfds(const struct dp_relay *r, struct pollfd *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_sockets && n < max; i++)
        out[n++] = (struct pollfd){r->sockets[i].fd, POLLIN, 0};
    for (size_t i = 0; i < r->n_workers && n < max; i++)
        if (!r->workers[i].eof)
            out[n++] = (struct pollfd){r->workers[i].fd, POLLIN, 0};
    return n;
}

int
dp_relay_timeout_ms(const struct dp_relay *r, uint64_t now_ms)
{
    int best = -1;
    for (size_t i = 0; i < DP_RELAY_MAX_PENDING; i++) {
        const struct pending *p = &r->pending[i];
        if (!p->used)
            continue;
        int t = p->deadline > now_ms ? (int)(p->deadline - now_ms) : 0;
        if (best < 0 || t < best)
            best = t;
    }
    return best;
}

/* Set up a pending STATS for the datagram in hand; NULL when it cannot
 * be answered (logged). */
static struct pending *
pending_new(struct dp_relay *r, const struct relay_socket *s,
            const struct sockaddr_storage *from, socklen_t from_len,
            const char *peer)
{
    if (from_len <= (socklen_t)sizeof(sa_family_t)) {
        log_limited(r, &r->reply_log,
                    "STATS from %s on %s: the sender has no address to "
                    "answer to",
                    peer, s->name);
        return NULL;
    }
    struct pending *p = NULL;
    for (size_t i = 0; i < DP_RELAY_MAX_PENDING && p == NULL; i++)
        if (!r->pending[i].used)
            p = &r->pending[i];
    if (p == NULL) {
        log_limited(r, &r->reply_log,
                    "STATS from %s on %s: %d requests are waiting for the "
                    "workers already; not answered",
                    peer, s->name, DP_RELAY_MAX_PENDING);
        return NULL;
    }
    p->waiting = calloc(r->n_workers + 1, sizeof(*p->waiting));
    p->answers = calloc(r->n_workers + 1, sizeof(*p->answers));
    if (p->waiting == NULL || p->answers == NULL) {
        free(p->waiting);
        free(p->answers);
        p->waiting = NULL;
        p->answers = NULL;
        log_limited(r, &r->reply_log, "STATS from %s on %s: out of memory",
                    peer, s->name);
        return NULL;
    }
    p->used = true;
    if (++r->next_id == 0)
        r->next_id = 1;
    p->id = r->next_id;
    p->fd = s->fd;
    memcpy(&p->from, from, sizeof(p->from));
    p->from_len = from_len;
    int n = snprintf(p->peer, sizeof(p->peer), "%s", peer);
    n = snprintf(p->sock_name, sizeof(p->sock_name), "%s", s->name);
    (void)n;
    p->deadline = r->now + DP_RELAY_STATS_TIMEOUT_MS;
    return p;
}

static void
forward(struct dp_relay *r, const struct pr_buf *dgram, const char *peer,
        struct pending *p)
{
    struct pr_buf msg = PR_BUF_INIT;
    if (dp_control_channel_encode(&msg, DP_CHANNEL_COMMANDS,
                                  p != NULL ? p->id : 0, peer, dgram->data,
                                  dgram->len) != 0) {
        log_limited(r, &r->forward_log,
                    "commands from %s not handed to the workers: out of "
                    "memory",
                    peer);
        if (p != NULL)
            pending_answer(r, p);
        return;
    }
    for (size_t i = 0; i < r->n_workers; i++) {
        struct relay_worker *w = &r->workers[i];
        if (send(w->fd, msg.data, msg.len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
            log_limited(r, &r->forward_log,
                        "commands from %s not handed to worker %d: %s", peer,
                        (int)w->pid, strerror(errno));
            continue;
        }
        if (p != NULL) {
            p->waiting[p->n_waiting++] = w->pid;
            p->asked++;
        }
    }
    pr_buf_free(&msg);
    if (p != NULL && p->n_waiting == 0)
        pending_answer(r, p);
}

static void
handle_datagram(struct dp_relay *r, const struct relay_socket *s,
                size_t len, const struct dp_control_sender *snd)
{
    struct dp_control_arrival a;
    if (!dp_control_arrival_open(&a, r->buf, len, snd, s->local, s->name,
                                 r->self, r->now, &r->logs))
        return;
    const char *peer = a.peer;
    struct pr_buf fwd = PR_BUF_INIT;
    if (ctl_datagram_begin(&fwd) != 0) {
        log_limited(r, &r->forward_log, "out of memory");
        return;
    }
    size_t allowed = 0;
    bool stats = false;
    struct ctl_packet p;
    while (dp_control_arrival_next(&a, &p)) {
        if (ctl_datagram_append(&fwd, p.command, p.payload.data,
                                p.payload.len) != 0) {
            log_limited(r, &r->forward_log,
                        "%s from %s on %s: does not fit the workers' "
                        "batch; ignored",
                        ctl_command_name(p.command), peer, s->name);
            continue;
        }
        allowed++;
        if (p.command == CTL_CMD_STATS)
            stats = true;
    }
    if (allowed > 0) {
        struct pending *pend =
            stats ? pending_new(r, s, &snd->from, snd->from_len, peer)
                  : NULL;
        forward(r, &fwd, peer, pend);
    }
    pr_buf_free(&fwd);
}

static void
read_socket(struct dp_relay *r, const struct relay_socket *s)
{
    for (int round = 0; round < 64; round++) {
        struct dp_control_sender snd;
        ssize_t n = dp_control_recv(s->fd, r->buf, RECV_SIZE, &snd);
        if (n < 0)
            return;
        handle_datagram(r, s, (size_t)n, &snd);
    }
}

static void
read_channel(struct dp_relay *r, struct relay_worker *w)
{
    for (int round = 0; round < 64; round++) {
        ssize_t n = recv(w->fd, r->buf, sizeof(r->buf), MSG_DONTWAIT);
        if (n == 0) {
            w->eof = true;      /* reaped soon: SIGCHLD follows */
            return;
        }
        if (n < 0)
            return;
        uint8_t type;
        uint32_t id;
        struct pr_slice peer, payload;
        if (dp_control_channel_decode(r->buf, (size_t)n, &type, &id, &peer,
                                      &payload) != 0 ||
            type != DP_CHANNEL_STATS) {
            log_limited(r, &r->logs.malformed,
                        "dropped a message of %zd bytes from worker %d "
                        "that is not a STATS answer",
                        n, (int)w->pid);
            continue;
        }
        for (size_t i = 0; i < DP_RELAY_MAX_PENDING; i++)
            if (r->pending[i].used && r->pending[i].id == id)
                pending_done_by(r, &r->pending[i], w->pid, payload.data,
                                payload.len);
    }
}

void
dp_relay_dispatch(struct dp_relay *r, const struct pollfd *fds, size_t n,
                  uint64_t now_ms)
{
    r->now = now_ms;
    for (size_t k = 0; k < n; k++) {
        if (fds[k].revents == 0)
            continue;
        for (size_t i = 0; i < r->n_sockets; i++)
            if (r->sockets[i].fd == fds[k].fd)
                read_socket(r, &r->sockets[i]);
        for (size_t i = 0; i < r->n_workers; i++)
            if (r->workers[i].fd == fds[k].fd)
                read_channel(r, &r->workers[i]);
    }
    for (size_t i = 0; i < DP_RELAY_MAX_PENDING; i++) {
        struct pending *p = &r->pending[i];
        if (!p->used || p->deadline > now_ms)
            continue;
        char late[300];
        size_t len = 0;
        late[0] = '\0';
        for (size_t j = 0; j < p->n_waiting && len < sizeof(late) - 16; j++)
            len += (size_t)snprintf(late + len, sizeof(late) - len, "%s%d",
                                    j > 0 ? ", " : "", (int)p->waiting[j]);
        fprintf(stderr,
                "portierd: control: STATS from %s: worker(s) %s did not "
                "answer within %d ms; the reply sums %zu of %zu\n",
                p->peer, late, DP_RELAY_STATS_TIMEOUT_MS, p->n_answers,
                p->asked);
        pending_answer(r, p);
    }
}

static void
relay_close(struct dp_relay *r, bool unlink_files)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_sockets; i++) {
        if (unlink_files && r->sockets[i].unlink_path[0] != '\0')
            unlink(r->sockets[i].unlink_path);
        close(r->sockets[i].fd);
    }
    for (size_t i = 0; i < r->n_workers; i++)
        close(r->workers[i].fd);
    for (size_t i = 0; i < DP_RELAY_MAX_PENDING; i++)
        pending_free(&r->pending[i]);
    free(r->sockets);
    free(r->workers);
    free(r);
}

void
dp_relay_forget(struct dp_relay *r)
{
    relay_close(r, false);
}

void
dp_relay_free(struct dp_relay *r)
{
    relay_close(r, true);
}
