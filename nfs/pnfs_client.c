/* pnfs_client: see pnfs_client.h for what it promises.
 *
 * Objects and lifetimes:
 * - struct pnfs_conn wraps one nfs_context (one mount, one TCP
 *   connection).  The client points at its current conn while it mounts
 *   or is mounted.  A conn that fails (mount error, dropped connection,
 *   timeout, idle) becomes DEAD: detached from the client, no longer
 *   polled, its pending operations failed.  It is destroyed (from a uv
 *   close callback, never inside nfs_service()) once no open file uses
 *   it any more.
 * - struct pnfs_op is one user operation.  It sits on its conn's list
 *   until it ends (callback or cancel); its uv timer is the deadline, or
 *   a zero delay that defers a result to the loop.  The op's memory is
 *   freed in the timer's close callback.
 * - struct call is the private data of one libnfs call.  libnfs cannot
 *   cancel a call, so when its owner goes away the call is orphaned
 *   (owner pointers NULL) and freed when libnfs finally calls back, at
 *   the latest from nfs_destroy_context() with a cancel status.
 * - struct pnfs_file owns the libnfs file handle and a ring of read-ahead
 *   chunks.  libnfs's READ callback touches the handle on success, so a
 *   file closed with reads in flight waits ("drains") until they come
 *   back before the handle is released.
 */
#include "pnfs_client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/stat.h>

#include <nfsc/libnfs.h>

#define PNFS_PATH_MAX 4096

enum conn_state {
    CONN_MOUNTING = 1,
    CONN_READY,
    CONN_DEAD,
};

enum op_kind {
    OP_OPEN = 1,
    OP_STAT,
    OP_READ,
};

struct op_list {
    struct pnfs_op *head, *tail;
};

struct pnfs_conn {
    struct pnfs_client *client;  /* NULL once the client is freed */
    uv_loop_t *loop;
    struct nfs_context *nfs;
    enum conn_state state;
    uv_poll_t *poll;             /* NULL when not polling */
    int poll_fd;
    ino_t poll_ino;
    int poll_events;
    uv_getaddrinfo_t resolve;    /* the server's name, off the loop */
    bool resolving;
    uv_timer_t timer;            /* mount deadline or deferred failure;
                                    closing it destroys the conn */
    int fail_err;                /* deferred failure (poll setup) */
    bool closing;
    bool destroying;             /* inside nfs_destroy_context() */
    struct op_list ops;          /* pending operations on this conn */
    unsigned files;              /* open files (not yet closed by users) */
    int dead_err;
    char dead_msg[256];
};

struct pnfs_client {
    uv_loop_t *loop;
    char *server;
    char *export_path;
    unsigned nfs_port, mount_port;
    int uid, gid;
    unsigned timeout_ms, idle_ms;
    size_t read_ahead;
    struct pnfs_conn *conn;      /* mounting or mounted, or NULL */
    uv_timer_t idle_timer;
    unsigned ops;                /* pending operations */
    unsigned files;              /* open files */
};

struct chunk {
    uint64_t offset;
    size_t want;
    size_t len;
    uint8_t *buf;
    struct call *call;           /* in flight, or NULL */
    bool done;
    int err;
    char *errmsg;
};

struct pnfs_file {
    struct pnfs_client *client;
    struct pnfs_conn *conn;
    struct nfsfh *fh;
    char *path;
    struct pnfs_stat st;
    size_t chunk_size;
    unsigned nchunks;
    struct chunk *chunks;        /* ring */
    unsigned head, count;
    unsigned inflight;           /* libnfs calls that name fh */
    bool closed;                 /* closed by its user, draining */
    struct pnfs_op *reader;      /* the pending read */
};

struct pnfs_op {
    struct pnfs_op *prev, *next;
    struct pnfs_client *client;
    struct pnfs_conn *conn;
    enum op_kind kind;
    uv_timer_t timer;
    bool submitted;
    bool deferred;               /* timer delivers a result, no deadline */
    struct call *call;           /* in flight, or NULL */
    char *path;
    void *ctx;
    pnfs_open_cb *open_cb;
    pnfs_stat_cb *stat_cb;
    pnfs_read_cb *read_cb;
    struct pnfs_file *file;      /* OP_OPEN after open, OP_READ */
    uint64_t offset;
    size_t max;
    int result;                  /* deferred: 0 data, 1 EOF, <0 error */
    char *result_msg;
};

struct call {
    struct pnfs_op *op;          /* NULL when orphaned */
    struct chunk *chunk;         /* a read-ahead chunk, or NULL */
    struct pnfs_file *file;      /* the file whose fh the call uses */
    struct pnfs_conn *conn;
};

static void conn_kill(struct pnfs_conn *conn, int err, const char *msg);
static void conn_maybe_destroy(struct pnfs_conn *conn);
static void conn_update_poll(struct pnfs_conn *conn);
static void mount_timer_cb(uv_timer_t *t);
static void op_submit(struct pnfs_op *op);
static void file_release(struct pnfs_file *file);
static void file_try_deliver(struct pnfs_file *file);
static bool file_ready(struct pnfs_file *file);
static void client_check_idle(struct pnfs_client *client);
static void op_timer_cb(uv_timer_t *t);

/* ---- small helpers ---- */

static char *
dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

static void
list_push(struct op_list *l, struct pnfs_op *op)
{
    op->next = NULL;
    op->prev = l->tail;
    if (l->tail != NULL)
        l->tail->next = op;
    else
        l->head = op;
    l->tail = op;
}

static void
list_remove(struct op_list *l, struct pnfs_op *op)
{
    if (op->prev != NULL)
        op->prev->next = op->next;
    else
        l->head = op->next;
    if (op->next != NULL)
        op->next->prev = op->prev;
    else
        l->tail = op->prev;
    op->prev = op->next = NULL;
}

static const char *
op_verb(const struct pnfs_op *op)
{
    switch (op->kind) {
    case OP_OPEN:
        return "open";
    case OP_STAT:
        return "stat";
    case OP_READ:
        return "read";
    }
    return "?";
}

/* "open /a.txt on NFS server S export /e: No such file or directory
 * (detail)" into buf. */
static void
format_error(char *buf, size_t size, const struct pnfs_client *client,
             const char *verb, const char *path, int err, const char *detail)
{
    int n = snprintf(buf, size, "%s %s on NFS server %s export %s: %s", verb,
                     path, client->server, client->export_path,
                     strerror(-err));
    if (detail != NULL && detail[0] != '\0' && n > 0 && (size_t)n < size)
        snprintf(buf + n, size - (size_t)n, " (%s)", detail);
}

/* libnfs reports transport failures as -EFAULT and cancels as -EINTR;
 * callers get the errno that says what happened to the server. */
static int
map_nfs_err(int err)
{
    if (err == -EFAULT || err == -EINTR || err == -EPIPE)
        return -ECONNRESET;
    if (err >= 0)
        return -EIO;
    return err;
}

/* ---- operations ---- */

static void
op_closed_cb(uv_handle_t *h)
{
    struct pnfs_op *op = h->data;
    free(op->path);
    free(op->result_msg);
    free(op);
}

/* End an operation without calling it back: off its list, its call
 * orphaned, its timer closing (which frees it). */
static void
op_end(struct pnfs_op *op)
{
    struct pnfs_client *client = op->client;
    if (op->conn != NULL)
        list_remove(&op->conn->ops, op);
    if (op->call != NULL) {
        op->call->op = NULL;
        op->call = NULL;
    }
    if (op->kind == OP_READ && op->file != NULL &&
        op->file->reader == op)
        op->file->reader = NULL;
    if (op->kind == OP_OPEN && op->file != NULL) {
        /* Opened but not handed out: close it again. */
        struct pnfs_file *f = op->file;
        op->file = NULL;
        pnfs_file_close(f);
    }
    uv_timer_stop(&op->timer);
    uv_close((uv_handle_t *)&op->timer, op_closed_cb);
    if (client != NULL) {
        client->ops--;
        client_check_idle(client);
    }
}

static void
op_fail(struct pnfs_op *op, int err, const char *detail)
{
    char msg[1024];
    const char *path = op->path != NULL ? op->path
                       : op->file != NULL ? op->file->path : "?";
    format_error(msg, sizeof(msg), op->client, op_verb(op), path, err,
                 detail);
    pnfs_open_cb *open_cb = op->open_cb;
    pnfs_stat_cb *stat_cb = op->stat_cb;
    pnfs_read_cb *read_cb = op->read_cb;
    void *ctx = op->ctx;
    op_end(op);
    if (open_cb != NULL)
        open_cb(ctx, err, NULL, NULL, msg);
    else if (stat_cb != NULL)
        stat_cb(ctx, err, NULL, msg);
    else if (read_cb != NULL)
        read_cb(ctx, err, NULL, msg);
}

/* Deliver a result from the loop, not from inside the caller's call. */
static void
op_defer(struct pnfs_op *op, int result, const char *msg)
{
    op->deferred = true;
    op->result = result;
    free(op->result_msg);
    op->result_msg = msg != NULL ? dup_str(msg) : NULL;
    uv_timer_stop(&op->timer);
    uv_timer_start(&op->timer, op_timer_cb, 0, 0);
}

static void
op_timer_cb(uv_timer_t *t)
{
    struct pnfs_op *op = t->data;
    if (op->deferred) {
        if (op->result < 0) {
            op_fail(op, op->result, op->result_msg);
        } else if (op->result == 1) {
            pnfs_read_cb *cb = op->read_cb;
            void *ctx = op->ctx;
            op_end(op);
            cb(ctx, 0, NULL, NULL);
        } else {
            /* Read-ahead data is waiting.  The callback may close the
             * file, so decide before delivering. */
            op->deferred = false;
            if (file_ready(op->file))
                file_try_deliver(op->file);
            else
                uv_timer_start(&op->timer, op_timer_cb,
                               op->client->timeout_ms, 0);
        }
        return;
    }
    /* The deadline passed: the server is not answering. */
    char msg[128];
    snprintf(msg, sizeof(msg), "no answer within %u ms",
             op->client->timeout_ms);
    struct pnfs_conn *conn = op->conn;
    if (conn != NULL && conn->state != CONN_DEAD)
        conn_kill(conn, -ETIMEDOUT, msg);
    else
        op_fail(op, -ETIMEDOUT, msg);
}

static struct pnfs_op *
op_new(struct pnfs_client *client, enum op_kind kind, void *ctx)
{
    struct pnfs_op *op = calloc(1, sizeof(*op));
    if (op == NULL)
        return NULL;
    op->client = client;
    op->kind = kind;
    op->ctx = ctx;
    uv_timer_init(client->loop, &op->timer);
    op->timer.data = op;
    client->ops++;
    uv_timer_stop(&client->idle_timer);
    return op;
}

static struct call *
call_new(struct pnfs_conn *conn, struct pnfs_op *op, struct pnfs_file *file,
         struct chunk *chunk)
{
    struct call *call = calloc(1, sizeof(*call));
    if (call == NULL)
        return NULL;
    call->conn = conn;
    call->op = op;
    call->file = file;
    call->chunk = chunk;
    if (file != NULL)
        file->inflight++;
    return call;
}

/* A call came back: release the file's claim.  Returns true when the
 * file was draining and is now gone. */
static bool
call_done(struct call *call)
{
    struct pnfs_file *file = call->file;
    free(call);
    if (file == NULL)
        return false;
    file->inflight--;
    if (file->closed && file->inflight == 0) {
        file_release(file);
        return true;
    }
    return false;
}

/* ---- the connection ---- */

static void
poll_closed_cb(uv_handle_t *h)
{
    free(h);
}

static void
conn_stop_poll(struct pnfs_conn *conn)
{
    if (conn->poll != NULL) {
        uv_close((uv_handle_t *)conn->poll, poll_closed_cb);
        conn->poll = NULL;
    }
}

static void
conn_service(struct pnfs_conn *conn, int revents)
{
    if (conn->state == CONN_DEAD)
        return;
    if (nfs_service(conn->nfs, revents) < 0) {
        const char *why = nfs_get_error(conn->nfs);
        if (why == NULL || why[0] == '\0')
            why = "the server closed the connection";
        if (conn->state != CONN_DEAD)
            conn_kill(conn, -ECONNRESET, why);
        return;
    }
    conn_update_poll(conn);
}

static void
poll_cb(uv_poll_t *h, int status, int events)
{
    struct pnfs_conn *conn = h->data;
    int revents = 0;
    if (status < 0) {
        revents = POLLERR;
    } else {
        if (events & UV_READABLE)
            revents |= POLLIN;
        if (events & UV_WRITABLE)
            revents |= POLLOUT;
    }
    conn_service(conn, revents);
}

/* Follow libnfs's socket: it changes while mounting (portmapper, MOUNT,
 * NFS), and a new socket may reuse the old number, so compare the
 * socket's inode too. */
static void
conn_update_poll(struct pnfs_conn *conn)
{
    if (conn->state == CONN_DEAD)
        return;
    int fd = nfs_get_fd(conn->nfs);
    struct stat sb;
    ino_t ino = 0;
    if (fd >= 0 && fstat(fd, &sb) == 0)
        ino = sb.st_ino;
    if (conn->poll != NULL && (fd != conn->poll_fd || ino != conn->poll_ino))
        conn_stop_poll(conn);
    if (fd < 0)
        return;
    if (conn->poll == NULL) {
        conn->poll = malloc(sizeof(*conn->poll));
        int rc = conn->poll == NULL ? UV_ENOMEM
                                    : uv_poll_init(conn->loop, conn->poll, fd);
        if (rc < 0) {
            /* Fail from the loop: we may be inside a caller's call. */
            free(conn->poll);
            conn->poll = NULL;
            conn->fail_err = rc;
            uv_timer_start(&conn->timer, mount_timer_cb, 0, 0);
            return;
        }
        conn->poll->data = conn;
        conn->poll_fd = fd;
        conn->poll_ino = ino;
        conn->poll_events = 0;
    }
    int ev = nfs_which_events(conn->nfs);
    int want = ((ev & POLLIN) ? UV_READABLE : 0) |
               ((ev & POLLOUT) ? UV_WRITABLE : 0);
    if (want != conn->poll_events) {
        uv_poll_start(conn->poll, want, poll_cb);
        conn->poll_events = want;
    }
}

static void
conn_closed_cb(uv_handle_t *h)
{
    struct pnfs_conn *conn = h->data;
    /* Calls still inside libnfs come back now with a cancel status and
     * only free themselves (and release draining files). */
    conn->destroying = true;
    nfs_destroy_context(conn->nfs);
    free(conn);
}

static void
conn_maybe_destroy(struct pnfs_conn *conn)
{
    if (conn->state != CONN_DEAD || conn->files > 0 || conn->closing ||
        conn->resolving)
        return;
    conn->closing = true;
    uv_close((uv_handle_t *)&conn->timer, conn_closed_cb);
}

/* The conn is finished: every pending operation fails with err; files
 * on it fail their next reads. */
static void
conn_kill(struct pnfs_conn *conn, int err, const char *msg)
{
    if (conn->state == CONN_DEAD)
        return;
    conn->state = CONN_DEAD;
    conn->dead_err = err;
    snprintf(conn->dead_msg, sizeof(conn->dead_msg), "%s",
             msg != NULL ? msg : "connection closed");
    struct pnfs_client *client = conn->client;
    if (client != NULL && client->conn == conn)
        client->conn = NULL;
    uv_timer_stop(&conn->timer);
    conn_stop_poll(conn);
    if (conn->resolving)
        uv_cancel((uv_req_t *)&conn->resolve);
    struct pnfs_op *op;
    while ((op = conn->ops.head) != NULL)
        op_fail(op, err, conn->dead_msg);
    conn_maybe_destroy(conn);
}

static void
mount_timer_cb(uv_timer_t *t)
{
    struct pnfs_conn *conn = t->data;
    if (conn->fail_err != 0) {
        char m[128];
        snprintf(m, sizeof(m), "cannot poll the connection: %s",
                 uv_strerror(conn->fail_err));
        conn_kill(conn, -EIO, m);
        return;
    }
    char msg[128];
    snprintf(msg, sizeof(msg), "mount: no answer within %u ms",
             conn->client != NULL ? conn->client->timeout_ms : 0);
    conn_kill(conn, -ETIMEDOUT, msg);
}

static void
mount_cb(int err, struct nfs_context *nfs, void *data, void *private_data)
{
    struct pnfs_conn *conn = private_data;
    if (conn->state == CONN_DEAD)
        return;
    if (err != 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "mount failed: %s",
                 data != NULL ? (const char *)data : strerror(-err));
        /* A refused connection stays ECONNREFUSED; the rest keep their
         * meaning (EACCES: the export refuses us). */
        int e = err == -EFAULT || err == -EINTR ? -ECONNREFUSED : err;
        if (data != NULL && strstr(data, "refused") != NULL)
            e = -ECONNREFUSED;
        conn_kill(conn, e, msg);
        return;
    }
    conn->state = CONN_READY;
    uv_timer_stop(&conn->timer);
    /* Submit what waited; a failing submission may call back and change
     * the list, so take the waiting ones off first. */
    struct op_list waiting = conn->ops;
    conn->ops.head = conn->ops.tail = NULL;
    struct pnfs_op *op;
    while ((op = waiting.head) != NULL) {
        list_remove(&waiting, op);
        list_push(&conn->ops, op);
        if (conn->state == CONN_DEAD) {
            op_fail(op, conn->dead_err, conn->dead_msg);
            continue;
        }
        op_submit(op);
    }
    if (conn->client != NULL)
        client_check_idle(conn->client);
}

static void
resolved_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct pnfs_conn *conn = req->data;
    conn->resolving = false;
    if (conn->state == CONN_DEAD) {
        /* Timed out or the client went away meanwhile. */
        uv_freeaddrinfo(res);
        conn_maybe_destroy(conn);
        return;
    }
    char msg[256];
    if (status < 0 || res == NULL) {
        snprintf(msg, sizeof(msg), "cannot resolve the server name: %s",
                 uv_strerror(status < 0 ? status : UV_EAI_NONAME));
        uv_freeaddrinfo(res);
        conn_kill(conn, -EHOSTUNREACH, msg);
        return;
    }
    char addr[INET6_ADDRSTRLEN] = "";
    if (res->ai_family == AF_INET6)
        uv_ip6_name((const struct sockaddr_in6 *)res->ai_addr, addr,
                    sizeof(addr));
    else
        uv_ip4_name((const struct sockaddr_in *)res->ai_addr, addr,
                    sizeof(addr));
    uv_freeaddrinfo(res);
    if (nfs_mount_async(conn->nfs, addr, conn->client->export_path,
                        mount_cb, conn) != 0) {
        snprintf(msg, sizeof(msg), "mount failed: %s",
                 nfs_get_error(conn->nfs));
        conn_kill(conn, -ECONNREFUSED, msg);
        return;
    }
    conn_update_poll(conn);
}

static struct pnfs_conn *
conn_new(struct pnfs_client *client, char *err, size_t errlen)
{
    struct pnfs_conn *conn = calloc(1, sizeof(*conn));
    if (conn == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    conn->client = client;
    conn->loop = client->loop;
    conn->poll_fd = -1;
    conn->nfs = nfs_init_context();
    if (conn->nfs == NULL) {
        free(conn);
        snprintf(err, errlen, "cannot create an NFS context");
        return NULL;
    }
    /* We reconnect ourselves (a fresh mount), so libnfs must report a
     * dropped connection instead of retrying forever. */
    nfs_set_autoreconnect(conn->nfs, 0);
    if (client->uid >= 0)
        nfs_set_uid(conn->nfs, client->uid);
    if (client->gid >= 0)
        nfs_set_gid(conn->nfs, client->gid);
    if (client->nfs_port != 0 || client->mount_port != 0) {
        /* libnfs 4 takes fixed ports only from URL arguments. */
        char url[96];
        int n = snprintf(url, sizeof(url), "nfs://localhost/x?");
        if (client->nfs_port != 0)
            n += snprintf(url + n, sizeof(url) - (size_t)n, "nfsport=%u&",
                          client->nfs_port);
        if (client->mount_port != 0)
            snprintf(url + n, sizeof(url) - (size_t)n, "mountport=%u",
                     client->mount_port);
        struct nfs_url *u = nfs_parse_url_dir(conn->nfs, url);
        if (u == NULL) {
            snprintf(err, errlen, "bad port settings: %s",
                     nfs_get_error(conn->nfs));
            nfs_destroy_context(conn->nfs);
            free(conn);
            return NULL;
        }
        nfs_destroy_url(u);
    }
    uv_timer_init(client->loop, &conn->timer);
    conn->timer.data = conn;
    conn->state = CONN_MOUNTING;
    /* libnfs would resolve the name with a blocking getaddrinfo() on the
     * loop; resolve it on libuv's thread pool and give libnfs a numeric
     * address instead. */
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    conn->resolve.data = conn;
    int rc = uv_getaddrinfo(client->loop, &conn->resolve, resolved_cb,
                            client->server, NULL, &hints);
    if (rc < 0) {
        snprintf(err, errlen, "cannot resolve the server name: %s",
                 uv_strerror(rc));
        conn->state = CONN_DEAD;
        conn->client = NULL;
        conn_maybe_destroy(conn);
        return NULL;
    }
    conn->resolving = true;
    uv_timer_start(&conn->timer, mount_timer_cb, client->timeout_ms, 0);
    return conn;
}

/* ---- the client ---- */

void
pnfs_client_config_init(struct pnfs_client_config *cfg, const char *server,
                        const char *export_path)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->server = server;
    cfg->export_path = export_path;
    cfg->uid = -1;
    cfg->gid = -1;
}

static void
idle_timer_cb(uv_timer_t *t)
{
    struct pnfs_client *client = t->data;
    if (client->conn != NULL && client->ops == 0 && client->files == 0)
        conn_kill(client->conn, -ECONNRESET, "closed after idling");
}

static void
client_check_idle(struct pnfs_client *client)
{
    if (client->conn != NULL && client->conn->state == CONN_READY &&
        client->ops == 0 && client->files == 0)
        uv_timer_start(&client->idle_timer, idle_timer_cb, client->idle_ms,
                       0);
}

struct pnfs_client *
pnfs_client_new(uv_loop_t *loop, const struct pnfs_client_config *cfg,
                char *err, size_t errlen)
{
    if (cfg->server == NULL || cfg->server[0] == '\0' ||
        strpbrk(cfg->server, "/?&") != NULL) {
        snprintf(err, errlen, "NFS server name missing or invalid");
        return NULL;
    }
    if (cfg->export_path == NULL || cfg->export_path[0] != '/' ||
        strpbrk(cfg->export_path, "?&") != NULL) {
        snprintf(err, errlen, "NFS export of server %s must be an absolute "
                 "path without '?' or '&'", cfg->server);
        return NULL;
    }
    if (cfg->nfs_port > 65535 || cfg->mount_port > 65535) {
        snprintf(err, errlen, "NFS port out of range for server %s",
                 cfg->server);
        return NULL;
    }
    struct pnfs_client *client = calloc(1, sizeof(*client));
    if (client == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    client->loop = loop;
    client->server = dup_str(cfg->server);
    client->export_path = dup_str(cfg->export_path);
    if (client->server == NULL || client->export_path == NULL) {
        free(client->server);
        free(client->export_path);
        free(client);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    client->nfs_port = cfg->nfs_port;
    client->mount_port = cfg->mount_port;
    client->uid = cfg->uid;
    client->gid = cfg->gid;
    client->timeout_ms =
        cfg->timeout_ms != 0 ? cfg->timeout_ms : PNFS_DEFAULT_TIMEOUT_MS;
    client->idle_ms = cfg->idle_ms != 0 ? cfg->idle_ms : PNFS_DEFAULT_IDLE_MS;
    client->read_ahead =
        cfg->read_ahead != 0 ? cfg->read_ahead : PNFS_DEFAULT_READ_AHEAD;
    uv_timer_init(loop, &client->idle_timer);
    client->idle_timer.data = client;
    return client;
}

static void
client_closed_cb(uv_handle_t *h)
{
    struct pnfs_client *client = h->data;
    free(client->server);
    free(client->export_path);
    free(client);
}

void
pnfs_client_free(struct pnfs_client *client)
{
    if (client == NULL)
        return;
    struct pnfs_conn *conn = client->conn;
    if (conn != NULL) {
        conn_kill(conn, -ECANCELED, "client closed");
        conn->client = NULL;
    }
    uv_close((uv_handle_t *)&client->idle_timer, client_closed_cb);
}

const char *
pnfs_client_server(const struct pnfs_client *client)
{
    return client->server;
}

const char *
pnfs_client_export(const struct pnfs_client *client)
{
    return client->export_path;
}

int
pnfs_client_mounted(const struct pnfs_client *client)
{
    return client->conn != NULL && client->conn->state == CONN_READY;
}

/* Put op on the client's conn: mounting starts here when needed. */
static void
client_enqueue(struct pnfs_client *client, struct pnfs_op *op)
{
    if (client->conn == NULL) {
        char err[512];
        client->conn = conn_new(client, err, sizeof(err));
        if (client->conn == NULL) {
            op_defer(op, -ECONNREFUSED, err);
            return;
        }
    }
    struct pnfs_conn *conn = client->conn;
    op->conn = conn;
    list_push(&conn->ops, op);
    uv_timer_start(&op->timer, op_timer_cb, client->timeout_ms, 0);
    if (conn->state == CONN_READY)
        op_submit(op);
}

/* ---- open and stat ---- */

static void
fill_stat(struct pnfs_stat *out, const struct nfs_stat_64 *st)
{
    memset(out, 0, sizeof(*out));
    out->size = st->nfs_size;
    out->ino = st->nfs_ino;
    out->dev = st->nfs_dev;
    out->mode = (uint32_t)st->nfs_mode;
    out->nlink = (uint32_t)st->nfs_nlink;
    out->uid = (uint32_t)st->nfs_uid;
    out->gid = (uint32_t)st->nfs_gid;
    out->mtime_sec = (int64_t)st->nfs_mtime;
    out->mtime_nsec = (uint32_t)st->nfs_mtime_nsec;
    out->ctime_sec = (int64_t)st->nfs_ctime;
    out->ctime_nsec = (uint32_t)st->nfs_ctime_nsec;
}

static void
fstat_cb(int err, struct nfs_context *nfs, void *data, void *private_data)
{
    struct call *call = private_data;
    struct pnfs_op *op = call->op;
    if (op == NULL) {
        call_done(call);
        return;
    }
    op->call = NULL;
    call_done(call);
    if (err != 0) {
        op_fail(op, map_nfs_err(err), data);
        return;
    }
    struct pnfs_file *file = op->file;
    fill_stat(&file->st, data);
    if (S_ISDIR(file->st.mode)) {
        op_fail(op, -EISDIR, "a directory");
        return;
    }
    if (!S_ISREG(file->st.mode)) {
        op_fail(op, -EACCES, "not a regular file");
        return;
    }
    op->file = NULL;
    pnfs_open_cb *cb = op->open_cb;
    void *ctx = op->ctx;
    op_end(op);
    cb(ctx, 0, file, &file->st, NULL);
}

static struct pnfs_file *
file_new(struct pnfs_conn *conn, struct nfsfh *fh, const char *path)
{
    struct pnfs_client *client = conn->client;
    struct pnfs_file *file = calloc(1, sizeof(*file));
    if (file == NULL)
        return NULL;
    file->path = dup_str(path);
    size_t chunk = nfs_get_readmax(conn->nfs);
    if (chunk == 0 || chunk > PNFS_CHUNK_MAX)
        chunk = PNFS_CHUNK_MAX;
    file->chunk_size = chunk;
    size_t n = client->read_ahead / chunk;
    file->nchunks = n < 2 ? 2 : (unsigned)n;
    file->chunks = calloc(file->nchunks, sizeof(*file->chunks));
    if (file->path == NULL || file->chunks == NULL) {
        free(file->path);
        free(file->chunks);
        free(file);
        return NULL;
    }
    file->client = client;
    file->conn = conn;
    file->fh = fh;
    conn->files++;
    client->files++;
    uv_timer_stop(&client->idle_timer);
    return file;
}

static void
close_done_cb(int err, struct nfs_context *nfs, void *data,
              void *private_data)
{
}

static void
open_cb(int err, struct nfs_context *nfs, void *data, void *private_data)
{
    struct call *call = private_data;
    struct pnfs_op *op = call->op;
    struct pnfs_conn *conn = call->conn;
    call_done(call);
    if (op == NULL) {
        /* Cancelled meanwhile: give the handle back (read-only handles
         * close without a server round trip). */
        if (err == 0 && data != NULL)
            nfs_close_async(nfs, data, close_done_cb, NULL);
        return;
    }
    op->call = NULL;
    if (err != 0) {
        op_fail(op, map_nfs_err(err), data);
        return;
    }
    struct pnfs_file *file = file_new(conn, data, op->path);
    if (file == NULL) {
        nfs_close_async(nfs, data, close_done_cb, NULL);
        op_fail(op, -ENOMEM, NULL);
        return;
    }
    op->file = file;
    struct call *c2 = call_new(conn, op, file, NULL);
    if (c2 == NULL) {
        op_fail(op, -ENOMEM, NULL);
        return;
    }
    op->call = c2;
    if (nfs_fstat64_async(nfs, file->fh, fstat_cb, c2) != 0) {
        op->call = NULL;
        call_done(c2);
        op_fail(op, -EIO, nfs_get_error(nfs));
    }
}

static void
stat_cb(int err, struct nfs_context *nfs, void *data, void *private_data)
{
    struct call *call = private_data;
    struct pnfs_op *op = call->op;
    call_done(call);
    if (op == NULL)
        return;
    op->call = NULL;
    if (err != 0) {
        op_fail(op, map_nfs_err(err), data);
        return;
    }
    struct pnfs_stat st;
    fill_stat(&st, data);
    pnfs_stat_cb *cb = op->stat_cb;
    void *ctx = op->ctx;
    op_end(op);
    cb(ctx, 0, &st, NULL);
}

/* Hand op to libnfs on its (mounted) conn. */
static void
op_submit(struct pnfs_op *op)
{
    struct pnfs_conn *conn = op->conn;
    struct call *call = call_new(conn, op, NULL, NULL);
    if (call == NULL) {
        op_defer(op, -ENOMEM, NULL);
        return;
    }
    op->call = call;
    op->submitted = true;
    int rc = op->kind == OP_OPEN
                 ? nfs_open_async(conn->nfs, op->path, O_RDONLY, open_cb, call)
                 : nfs_stat64_async(conn->nfs, op->path, stat_cb, call);
    if (rc != 0) {
        op->call = NULL;
        call_done(call);
        op_defer(op, -EIO, nfs_get_error(conn->nfs));
        return;
    }
    conn_update_poll(conn);
}

static int
check_path(const char *path)
{
    if (path == NULL || path[0] != '/')
        return -EINVAL;
    if (strnlen(path, PNFS_PATH_MAX) >= PNFS_PATH_MAX)
        return -ENAMETOOLONG;
    return 0;
}

static int
start_path_op(struct pnfs_client *client, enum op_kind kind, const char *path,
              void *ctx, struct pnfs_op **opp)
{
    int rc = check_path(path);
    if (rc < 0)
        return rc;
    struct pnfs_op *op = op_new(client, kind, ctx);
    if (op == NULL)
        return -ENOMEM;
    op->path = dup_str(path);
    if (op->path == NULL) {
        op_end(op);
        return -ENOMEM;
    }
    *opp = op;
    return 0;
}

int
pnfs_open(struct pnfs_client *client, const char *path, pnfs_open_cb *cb,
          void *ctx, struct pnfs_op **opp)
{
    struct pnfs_op *op;
    int rc = start_path_op(client, OP_OPEN, path, ctx, &op);
    if (rc < 0)
        return rc;
    op->open_cb = cb;
    *opp = op;
    client_enqueue(client, op);
    return 0;
}

int
pnfs_stat(struct pnfs_client *client, const char *path, pnfs_stat_cb *cb,
          void *ctx, struct pnfs_op **opp)
{
    struct pnfs_op *op;
    int rc = start_path_op(client, OP_STAT, path, ctx, &op);
    if (rc < 0)
        return rc;
    op->stat_cb = cb;
    *opp = op;
    client_enqueue(client, op);
    return 0;
}

void
pnfs_cancel(struct pnfs_op *op)
{
    op_end(op);
}

/* ---- files and read-ahead ---- */

const struct pnfs_stat *
pnfs_file_stat(const struct pnfs_file *file)
{
    return &file->st;
}

const char *
pnfs_file_path(const struct pnfs_file *file)
{
    return file->path;
}

static struct chunk *
ring_at(struct pnfs_file *file, unsigned i)
{
    return &file->chunks[(file->head + i) % file->nchunks];
}

/* Forget the first chunk of the window (an in-flight read is orphaned;
 * the buffer stays for reuse). */
static void
ring_drop_first(struct pnfs_file *file)
{
    struct chunk *c = ring_at(file, 0);
    if (c->call != NULL) {
        c->call->chunk = NULL;
        c->call = NULL;
    }
    free(c->errmsg);
    c->errmsg = NULL;
    c->done = false;
    c->err = 0;
    file->head = (file->head + 1) % file->nchunks;
    file->count--;
}

static void
chunk_read_cb(int err, struct nfs_context *nfs, void *data, void *private_data)
{
    struct call *call = private_data;
    struct chunk *c = call->chunk;
    struct pnfs_file *file = call->file;
    if (c == NULL || call->conn->destroying) {
        call_done(call);
        return;
    }
    c->call = NULL;
    if (err < 0) {
        c->err = map_nfs_err(err);
        c->errmsg = dup_str(data != NULL ? data : "read failed");
    } else {
        size_t n = (size_t)err;
        if (n > c->want)
            n = c->want;
        memcpy(c->buf, data, n);
        c->len = n;
    }
    c->done = true;
    if (call_done(call))
        return;
    if (file->reader != NULL && !file->reader->deferred)
        file_try_deliver(file);
}

/* Issue reads until the window holds nchunks chunks or reaches the end
 * of the file. */
static void
file_fill(struct pnfs_file *file)
{
    struct pnfs_conn *conn = file->conn;
    if (conn->state != CONN_READY)
        return;
    bool issued = false;
    while (file->count < file->nchunks) {
        uint64_t next;
        if (file->count == 0) {
            next = file->reader != NULL ? file->reader->offset : 0;
        } else {
            struct chunk *last = ring_at(file, file->count - 1);
            if (last->done && last->err == 0 && last->len < last->want)
                break;  /* the server said the file ends here */
            next = last->offset + last->want;
        }
        if (next >= file->st.size)
            break;
        struct chunk *c = ring_at(file, file->count);
        if (c->buf == NULL) {
            /* A small file needs no full-size chunk buffers. */
            uint64_t size = file->st.size < file->chunk_size
                                ? file->st.size
                                : file->chunk_size;
            c->buf = malloc((size_t)size);
            if (c->buf == NULL)
                break;
        }
        uint64_t left = file->st.size - next;
        c->offset = next;
        c->want = left < file->chunk_size ? (size_t)left : file->chunk_size;
        c->len = 0;
        c->done = false;
        c->err = 0;
        struct call *call = call_new(conn, NULL, file, c);
        if (call == NULL)
            break;
        if (nfs_pread_async(conn->nfs, file->fh, c->offset, c->want,
                            chunk_read_cb, call) != 0) {
            call->chunk = NULL;
            call_done(call);
            c->done = true;
            c->err = -EIO;
            c->errmsg = dup_str(nfs_get_error(conn->nfs));
        } else {
            c->call = call;
            issued = true;
        }
        file->count++;
    }
    if (issued)
        conn_update_poll(conn);
}

/* Move the window to start at offset: drop what lies before it; start
 * afresh when offset is outside. */
static void
file_seek(struct pnfs_file *file, uint64_t offset)
{
    while (file->count > 0) {
        struct chunk *c = ring_at(file, 0);
        if (offset >= c->offset && offset < c->offset + c->want)
            break;
        ring_drop_first(file);
    }
}

/* True when the first chunk of the window has its answer. */
static bool
file_ready(struct pnfs_file *file)
{
    return file->count > 0 && file->chunks[file->head].done;
}

/* The reader's data is at hand (or its error, or the end): call back. */
static void
file_try_deliver(struct pnfs_file *file)
{
    struct pnfs_op *op = file->reader;
    if (op == NULL || file->count == 0)
        return;
    struct chunk *c = ring_at(file, 0);
    if (!c->done)
        return;
    if (c->err != 0) {
        op_fail(op, c->err, c->errmsg);
        return;
    }
    uint64_t off = op->offset - c->offset;
    size_t avail = off < c->len ? c->len - (size_t)off : 0;
    size_t n = avail;
    if (op->max != 0 && n > op->max)
        n = op->max;
    pnfs_read_cb *cb = op->read_cb;
    void *ctx = op->ctx;
    op_end(op);
    if (n == 0)
        cb(ctx, 0, NULL, NULL);  /* the file ended early */
    else
        cb(ctx, (ssize_t)n, c->buf + off, NULL);
}

int
pnfs_file_read(struct pnfs_file *file, uint64_t offset, size_t max,
               pnfs_read_cb *cb, void *ctx, struct pnfs_op **opp)
{
    if (file->closed)
        return -EBADF;
    if (file->reader != NULL)
        return -EBUSY;
    struct pnfs_op *op = op_new(file->client, OP_READ, ctx);
    if (op == NULL)
        return -ENOMEM;
    op->read_cb = cb;
    op->file = file;
    op->offset = offset;
    op->max = max;
    *opp = op;
    file->reader = op;
    struct pnfs_conn *conn = file->conn;
    if (conn->state == CONN_DEAD) {
        op_defer(op, conn->dead_err, conn->dead_msg);
        return 0;
    }
    op->conn = conn;
    list_push(&conn->ops, op);
    if (offset >= file->st.size) {
        op_defer(op, 1, NULL);
        return 0;
    }
    file_seek(file, offset);
    file_fill(file);
    if (file_ready(file))
        op_defer(op, 0, NULL);
    else if (file->count == 0)
        op_defer(op, -ENOMEM, "out of memory for read-ahead");
    else
        uv_timer_start(&op->timer, op_timer_cb, file->client->timeout_ms, 0);
    return 0;
}

/* The handle is no longer named by any libnfs call: give it back. */
static void
file_release(struct pnfs_file *file)
{
    struct pnfs_conn *conn = file->conn;
    while (file->count > 0)
        ring_drop_first(file);
    for (unsigned i = 0; i < file->nchunks; i++)
        free(file->chunks[i].buf);
    free(file->chunks);
    /* Read-only handles close without a round trip: this only frees the
     * handle (also while the context is being destroyed). */
    nfs_close_async(conn->nfs, file->fh, close_done_cb, NULL);
    free(file->path);
    free(file);
}

void
pnfs_file_close(struct pnfs_file *file)
{
    if (file->reader != NULL)
        op_end(file->reader);
    struct pnfs_conn *conn = file->conn;
    struct pnfs_client *client = file->client;
    file->closed = true;
    while (file->count > 0)
        ring_drop_first(file);
    conn->files--;
    client->files--;
    client_check_idle(client);
    if (file->inflight == 0)
        file_release(file);
    conn_maybe_destroy(conn);
}
