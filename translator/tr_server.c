/*
 * The translation server on libuv.
 *
 * A connection is READING (feeding bytes to the framer and the request
 * parser), HANDLING (the handler has the request; reading is stopped) or
 * WRITING (the answer is on its way); then it goes back to READING and
 * first consumes whatever arrived after the previous request's END.
 *
 * Lifetimes: a connection is freed once both of its handles are closed,
 * no write is pending and its handler has answered.  The server is freed
 * once it is closing, its own handles are closed and no connection is
 * left.  Nothing is freed inside a synchronous call chain: handle closes
 * complete from the loop, so a handler that closes the server or answers
 * synchronously never pulls memory out from under the code that called
 * it.
 */
#include "tr_server.h"

#include "pr_bytes.h"
#include "tp_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#define LISTEN_BACKLOG 128
#define READ_BUFFER_SIZE 65536

enum conn_state {
    C_READING = 1,
    C_HANDLING,
    C_WRITING,
};

struct tr_request_ctx {
    struct tr_conn *conn;
};

struct tr_conn {
    struct tr_request_ctx ctx;
    struct tr_server *server;
    struct tr_conn *prev, *next;
    uint64_t id;
    long peer_pid;                  /* -1 when unknown */

    uv_pipe_t pipe;
    uv_timer_t timer;
    int open_handles;               /* 2 until both close callbacks ran */
    bool closing;
    enum conn_state state;
    bool awaiting_reply;            /* handler called, no answer yet */
    bool writing;                   /* uv_write pending */
    bool close_after_write;         /* the server is closing */

    struct tp_reader reader;
    struct tp_request_parser parser;
    struct tp_request request;
    struct pr_arena arena;
    size_t request_bytes;           /* of the request being read */

    struct pr_buf pending;          /* bytes after END, for the next one */
    uv_write_t write_req;
    struct tr_response *response;   /* being written */
};

struct tr_server {
    uv_loop_t *loop;
    tr_handler_cb handler;
    void *userdata;
    tr_log_cb log;
    void *log_userdata;
    unsigned max_connections;
    unsigned read_timeout_ms;
    unsigned idle_timeout_ms;
    size_t max_request_size;

    uv_pipe_t listener;
    bool listener_open;             /* initialised, not yet closed */
    char *unlink_path;              /* path socket to remove at close */
    bool accept_pending;            /* a client waits for uv_accept() */

    struct tr_conn *conns;
    size_t n_conns;
    uint64_t next_id;

    bool closing;
    int pending_closes;             /* listener handles still closing */
    uv_idle_t close_idle;           /* closed last, see maybe_done() */
    bool finishing;
    tr_close_cb close_cb;
    void *close_arg;
    void (*closed_hook)(void *arg); /* tr_server_run() */
    void *closed_hook_arg;

    uint8_t read_buf[READ_BUFFER_SIZE];
};

/* ---- logging ---- */

static void
log_line(struct tr_server *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
log_line(struct tr_server *s, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (s->log != NULL)
        s->log(line, s->log_userdata);
    else
        fprintf(stderr, "%s\n", line);
}

/* "translation connection 3 (pid 123)" prefix */
static void
conn_log(struct tr_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
conn_log(struct tr_conn *c, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->peer_pid >= 0)
        log_line(c->server, "translation connection %llu (pid %ld): %s",
                 (unsigned long long)c->id, c->peer_pid, msg);
    else
        log_line(c->server, "translation connection %llu: %s",
                 (unsigned long long)c->id, msg);
}

/* ---- server lifetime ---- */

/* The close callback of the server's last handle: the end. */
static void
on_server_closed(uv_handle_t *h)
{
    struct tr_server *s = h->data;
    if (s->close_cb != NULL)
        s->close_cb(s, s->close_arg);
    if (s->closed_hook != NULL)
        s->closed_hook(s->closed_hook_arg);
    free(s->unlink_path);
    free(s);
}

/* Once nothing is left, close the server's own idle handle, so the close
 * callback always comes from the loop, never from inside a call. */
static void
maybe_done(struct tr_server *s)
{
    if (!s->closing || s->pending_closes > 0 || s->n_conns > 0 ||
        s->finishing)
        return;
    s->finishing = true;
    uv_close((uv_handle_t *)&s->close_idle, on_server_closed);
}

static void
on_server_handle_closed(uv_handle_t *h)
{
    struct tr_server *s = h->data;
    s->pending_closes--;
    maybe_done(s);
}

/* ---- connections ---- */

static void accept_one(struct tr_server *s);
static void conn_feed(struct tr_conn *c, const uint8_t *data, size_t len);

static void
request_reset(struct tr_conn *c)
{
    pr_arena_free(&c->arena);
    tp_request_parser_init(&c->parser, &c->request, &c->arena);
    c->request_bytes = 0;
}

static void
conn_maybe_free(struct tr_conn *c)
{
    if (c->open_handles > 0 || c->writing || c->awaiting_reply)
        return;
    struct tr_server *s = c->server;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    s->n_conns--;
    tp_reader_destroy(&c->reader);
    pr_arena_free(&c->arena);
    pr_buf_free(&c->pending);
    tr_response_free(c->response);
    free(c);

    if (s->closing) {
        maybe_done(s);
        return;
    }
    if (s->accept_pending && s->n_conns < s->max_connections) {
        s->accept_pending = false;
        accept_one(s);
    }
}

static void
on_conn_handle_closed(uv_handle_t *h)
{
    struct tr_conn *c = h->data;
    c->open_handles--;
    conn_maybe_free(c);
}

static void
conn_close(struct tr_conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    uv_read_stop((uv_stream_t *)&c->pipe);
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->pipe, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static void
on_timer(uv_timer_t *t)
{
    struct tr_conn *c = t->data;
    if (c->state != C_READING)
        return;
    if (c->request_bytes > 0)
        conn_log(c, "request incomplete after %u ms without data; "
                 "closing", c->server->read_timeout_ms);
    conn_close(c);
}

/* After bytes were consumed while READING: the read timeout runs while a
 * request is partial, the idle timeout (if any) between requests. */
static void
arm_timer(struct tr_conn *c)
{
    struct tr_server *s = c->server;
    if (c->closing || c->state != C_READING)
        return;
    if (c->request_bytes > 0)
        uv_timer_start(&c->timer, on_timer, s->read_timeout_ms, 0);
    else if (s->idle_timeout_ms > 0)
        uv_timer_start(&c->timer, on_timer, s->idle_timeout_ms, 0);
    else
        uv_timer_stop(&c->timer);
}

static void
on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    struct tr_conn *c = h->data;
    /* one buffer for every connection: on_read consumes it at once */
    buf->base = (char *)c->server->read_buf;
    buf->len = sizeof(c->server->read_buf);
}

static void
on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct tr_conn *c = stream->data;
    if (nread > 0) {
        conn_feed(c, (const uint8_t *)buf->base, (size_t)nread);
        arm_timer(c);
        return;
    }
    if (nread == 0)
        return;
    if (nread == UV_EOF) {
        if (c->request_bytes > 0)
            conn_log(c, "connection closed inside a request (%zu bytes "
                     "received)", c->request_bytes);
    } else {
        conn_log(c, "read failed: %s", uv_strerror((int)nread));
    }
    conn_close(c);
}

static void
start_reading(struct tr_conn *c)
{
    if (c->closing)
        return;
    int rc = uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
    if (rc < 0) {
        conn_log(c, "cannot read: %s", uv_strerror(rc));
        conn_close(c);
        return;
    }
    arm_timer(c);
}

static void
bad_request(struct tr_conn *c, const char *why)
{
    conn_log(c, "bad request: %s; closing", why);
    conn_close(c);
}

static void
dispatch(struct tr_conn *c)
{
    uv_read_stop((uv_stream_t *)&c->pipe);
    uv_timer_stop(&c->timer);
    c->state = C_HANDLING;
    c->awaiting_reply = true;
    c->server->handler(&c->ctx, &c->request, c->server->userdata);
}

/* Feed received bytes; stops at the end of a request and keeps the rest
 * for after the answer. */
static void
conn_feed(struct tr_conn *c, const uint8_t *data, size_t len)
{
    struct tr_server *s = c->server;
    while (len > 0 && !c->closing && c->state == C_READING) {
        size_t used = 0;
        struct tp_packet pkt;
        enum tp_reader_status rs =
            tp_reader_feed(&c->reader, data, len, &used, &pkt);
        if (rs == TP_READER_ERROR) {
            bad_request(c, tp_reader_error(&c->reader));
            return;
        }
        data += used;
        len -= used;
        c->request_bytes += used;
        if (c->request_bytes > s->max_request_size) {
            char why[96];
            snprintf(why, sizeof(why), "request longer than %zu bytes",
                     s->max_request_size);
            bad_request(c, why);
            return;
        }
        if (rs == TP_READER_NEED_MORE)
            return;

        enum tp_request_status st = tp_request_parser_feed(&c->parser, &pkt);
        if (st == TP_REQUEST_ERROR) {
            bad_request(c, tp_request_parser_error(&c->parser));
            return;
        }
        if (st == TP_REQUEST_DONE) {
            if (len > 0 && pr_buf_append(&c->pending, data, len) < 0) {
                conn_log(c, "out of memory; closing");
                conn_close(c);
                return;
            }
            dispatch(c);
            return;
        }
    }
}

static void
next_request(struct tr_conn *c)
{
    request_reset(c);
    c->state = C_READING;
    struct pr_buf rest = c->pending;
    c->pending = (struct pr_buf)PR_BUF_INIT;
    if (rest.len > 0)
        conn_feed(c, rest.data, rest.len);
    pr_buf_free(&rest);
    if (c->state == C_READING)
        start_reading(c);
}

static void
on_write(uv_write_t *req, int status)
{
    struct tr_conn *c = req->data;
    c->writing = false;
    tr_response_free(c->response);
    c->response = NULL;
    if (c->closing) {
        conn_maybe_free(c);
        return;
    }
    if (c->close_after_write) {
        conn_close(c);
        return;
    }
    if (status < 0) {
        conn_log(c, "sending the response failed: %s", uv_strerror(status));
        conn_close(c);
        return;
    }
    next_request(c);
}

static int
peer_pid(int fd)
{
#ifdef SO_PEERCRED
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
        cred.pid > 0)
        return (int)cred.pid;
#else
    (void)fd;
#endif
    return -1;
}

/* A connection around an initialised c->pipe that holds a socket. */
static void
conn_start(struct tr_server *s, struct tr_conn *c)
{
    c->server = s;
    c->ctx.conn = c;
    c->id = ++s->next_id;
    c->pipe.data = c;
    c->timer.data = c;
    c->write_req.data = c;
    c->open_handles = 2;
    c->state = C_READING;
    uv_timer_init(s->loop, &c->timer);
    tp_reader_init(&c->reader, 0);
    request_reset(c);

    uv_os_fd_t fd;
    c->peer_pid = uv_fileno((uv_handle_t *)&c->pipe, &fd) == 0
                      ? peer_pid(fd)
                      : -1;
    c->next = s->conns;
    if (s->conns != NULL)
        s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    start_reading(c);
}

/* The close callback of a connection that never started. */
static void
free_conn_shell(uv_handle_t *h)
{
    free(h->data);
}

static void
accept_one(struct tr_server *s)
{
    struct tr_conn *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        /* leave the client in the backlog; retry when a connection
         * closes */
        log_line(s, "translation server: out of memory accepting a "
                    "connection");
        s->accept_pending = true;
        return;
    }
    uv_pipe_init(s->loop, &c->pipe, 0);
    int rc = uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&c->pipe);
    if (rc < 0) {
        log_line(s, "translation server: accept failed: %s",
                 uv_strerror(rc));
        /* not yet a connection: close the bare handle and free it */
        c->pipe.data = c;
        uv_close((uv_handle_t *)&c->pipe, free_conn_shell);
        return;
    }
    conn_start(s, c);
}

static void
on_connection(uv_stream_t *listener, int status)
{
    struct tr_server *s = listener->data;
    if (status < 0) {
        log_line(s, "translation server: listening failed: %s",
                 uv_strerror(status));
        return;
    }
    if (s->closing)
        return;
    if (s->n_conns >= s->max_connections) {
        /* not accepted: libuv stops watching the listener until
         * uv_accept(), so the client waits in the backlog */
        s->accept_pending = true;
        return;
    }
    accept_one(s);
}

/* ---- public API ---- */

struct tr_server *
tr_server_new(struct uv_loop_s *loop, tr_handler_cb handler, void *userdata)
{
    struct tr_server *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->loop = loop;
    s->handler = handler;
    s->userdata = userdata;
    s->max_connections = TR_SERVER_MAX_CONNECTIONS;
    s->read_timeout_ms = TR_SERVER_READ_TIMEOUT_MS;
    s->max_request_size = TR_SERVER_MAX_REQUEST_SIZE;
    return s;
}

void
tr_server_set_log(struct tr_server *s, tr_log_cb log, void *userdata)
{
    s->log = log;
    s->log_userdata = userdata;
}

void
tr_server_set_max_connections(struct tr_server *s, unsigned n)
{
    s->max_connections = n > 0 ? n : TR_SERVER_MAX_CONNECTIONS;
}

void
tr_server_set_read_timeout(struct tr_server *s, unsigned ms)
{
    s->read_timeout_ms = ms > 0 ? ms : TR_SERVER_READ_TIMEOUT_MS;
}

void
tr_server_set_idle_timeout(struct tr_server *s, unsigned ms)
{
    s->idle_timeout_ms = ms;
}

void
tr_server_set_max_request_size(struct tr_server *s, size_t bytes)
{
    s->max_request_size = bytes > 0 ? bytes : TR_SERVER_MAX_REQUEST_SIZE;
}

static int
check_socket(int fd, bool want_listening)
{
    int type = 0, domain = 0, acc = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
        return -errno;
    len = sizeof(domain);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
        return -errno;
    if (type != SOCK_STREAM)
        return -EINVAL;
    if (want_listening) {
        len = sizeof(acc);
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) < 0)
            return -errno;
        if (domain != AF_LOCAL || !acc)
            return -EINVAL;
    }
    return 0;
}

int
tr_server_listen_fd(struct tr_server *s, int fd)
{
    if (s->closing)
        return -ESHUTDOWN;
    if (s->listener_open || s->pending_closes > 0)
        return -EBUSY;  /* listening, or a failed listener still closing */
    int rc = check_socket(fd, true);
    if (rc < 0)
        return rc;
    /* Work on a duplicate, so that on failure the caller's fd is
     * untouched whatever libuv did with ours. */
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0)
        return -errno;
    uv_pipe_init(s->loop, &s->listener, 0);
    s->listener.data = s;
    rc = uv_pipe_open(&s->listener, own);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, LISTEN_BACKLOG,
                       on_connection);
    if (rc < 0) {
        int opened = -1;
        if (uv_fileno((uv_handle_t *)&s->listener, &opened) != 0)
            close(own);   /* not attached to the handle */
        s->pending_closes++;
        uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
        return rc;
    }
    s->listener_open = true;
    close(fd);
    return 0;
}

/* A socket file nobody listens on any more (connect() is refused) is
 * removed; a live one is -EADDRINUSE; anything else is left for bind() to
 * judge. */
static int
remove_stale_socket(const struct sockaddr_un *sun, socklen_t len)
{
    struct stat st;
    if (lstat(sun->sun_path, &st) < 0 || !S_ISSOCK(st.st_mode))
        return 0;
    int fd = socket(AF_LOCAL, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = connect(fd, (const struct sockaddr *)sun, len);
    int err = errno;
    close(fd);
    if (rc == 0)
        return -EADDRINUSE;
    if (err == ECONNREFUSED)
        unlink(sun->sun_path);
    return 0;
}

int
tr_server_listen(struct tr_server *s, const char *address)
{
    if (s->closing)
        return -ESHUTDOWN;
    if (s->listener_open || s->pending_closes > 0)
        return -EBUSY;
    if (address == NULL || (address[0] != '@' && address[0] != '/') ||
        address[1] == '\0')
        return -EINVAL;

    struct sockaddr_un sun;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_LOCAL;
    size_t n = strlen(address);
    if (n >= sizeof(sun.sun_path))
        return -ENAMETOOLONG;
    memcpy(sun.sun_path, address, n);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    if (address[0] == '@') {
        sun.sun_path[0] = '\0';    /* abstract: no terminator counted */
    } else {
        len++;
        int rc = remove_stale_socket(&sun, len);
        if (rc < 0)
            return rc;
    }

    int fd = socket(AF_LOCAL, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (const struct sockaddr *)&sun, len) < 0 ||
        listen(fd, LISTEN_BACKLOG) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    char *path = NULL;
    if (address[0] == '/' && (path = strdup(address)) == NULL) {
        close(fd);
        unlink(address);
        return -ENOMEM;
    }
    int rc = tr_server_listen_fd(s, fd);   /* closes fd on success */
    if (rc < 0) {
        close(fd);
        if (path != NULL)
            unlink(path);
        free(path);
        return rc;
    }
    s->unlink_path = path;
    return 0;
}

int
tr_server_adopt(struct tr_server *s, int fd)
{
    if (s->closing)
        return -ESHUTDOWN;
    int rc = check_socket(fd, false);
    if (rc < 0)
        return rc;
    struct tr_conn *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    uv_pipe_init(s->loop, &c->pipe, 0);
    c->pipe.data = c;
    rc = uv_pipe_open(&c->pipe, fd);
    if (rc < 0) {
        /* uv_pipe_open() fails before taking the fd: it stays the
         * caller's */
        uv_close((uv_handle_t *)&c->pipe, free_conn_shell);
        return rc;
    }
    conn_start(s, c);
    return 0;
}

size_t
tr_server_connection_count(const struct tr_server *s)
{
    return s->n_conns;
}

void
tr_server_close(struct tr_server *s, tr_close_cb cb, void *arg)
{
    if (s->closing)
        return;
    s->closing = true;
    s->close_cb = cb;
    s->close_arg = arg;
    if (s->listener_open) {
        s->listener_open = false;
        s->pending_closes++;
        uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
    }
    if (s->unlink_path != NULL)
        unlink(s->unlink_path);
    /* an answer on its way is still delivered; a request whose handler
     * has not answered yet is dropped */
    for (struct tr_conn *c = s->conns; c != NULL; c = c->next) {
        if (c->writing) {
            c->close_after_write = true;
            uv_read_stop((uv_stream_t *)&c->pipe);
            uv_timer_stop(&c->timer);
        } else {
            conn_close(c);
        }
    }
    uv_idle_init(s->loop, &s->close_idle);
    s->close_idle.data = s;
    maybe_done(s);
}

const struct tp_request *
tr_request_ctx_request(const struct tr_request_ctx *ctx)
{
    return &ctx->conn->request;
}

struct tr_server *
tr_request_ctx_server(const struct tr_request_ctx *ctx)
{
    return ctx->conn->server;
}

struct tr_response *
tr_request_ctx_response(const struct tr_request_ctx *ctx)
{
    return tr_response_new_for(&ctx->conn->request);
}

void
tr_request_ctx_reply(struct tr_request_ctx *ctx, struct tr_response *response)
{
    struct tr_conn *c = ctx->conn;
    if (!c->awaiting_reply) {
        conn_log(c, "tr_request_ctx_reply() without a pending request");
        tr_response_free(response);
        return;
    }
    c->awaiting_reply = false;
    if (c->closing) {
        tr_response_free(response);
        conn_maybe_free(c);
        return;
    }
    if (response == NULL) {
        conn_log(c, "no response for the request (out of memory); "
                 "closing");
        conn_close(c);
        return;
    }
    if (tr_response_finish(response) < 0) {
        conn_log(c, "response refused: %s; closing",
                 tr_response_error(response));
        tr_response_free(response);
        conn_close(c);
        return;
    }
    size_t len;
    const uint8_t *data = tr_response_data(response, &len);
    uv_buf_t buf = uv_buf_init((char *)(uintptr_t)data, (unsigned)len);
    c->response = response;
    c->state = C_WRITING;
    int rc = uv_write(&c->write_req, (uv_stream_t *)&c->pipe, &buf, 1,
                      on_write);
    if (rc < 0) {
        conn_log(c, "sending the response failed: %s", uv_strerror(rc));
        conn_close(c);
        return;
    }
    c->writing = true;
}

/* ---- the blocking API ---- */

struct run_state {
    struct tr_server *server;
    uv_signal_t sigint, sigterm;
};

static void
on_run_closed(void *arg)
{
    struct run_state *st = arg;
    st->server = NULL;
    uv_close((uv_handle_t *)&st->sigint, NULL);
    uv_close((uv_handle_t *)&st->sigterm, NULL);
}

static void
on_run_signal(uv_signal_t *h, int signum)
{
    struct run_state *st = h->data;
    if (st->server == NULL)
        return;
    log_line(st->server, "translation server: %s, shutting down",
             signum == SIGINT ? "SIGINT" : "SIGTERM");
    tr_server_close(st->server, NULL, NULL);
}

int
tr_server_run(const char *address, tr_handler_cb handler, void *userdata)
{
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t loop;
    int rc = uv_loop_init(&loop);
    if (rc < 0)
        return rc;
    struct run_state st = { 0 };
    st.server = tr_server_new(&loop, handler, userdata);
    if (st.server == NULL) {
        uv_loop_close(&loop);
        return -ENOMEM;
    }
    uv_signal_init(&loop, &st.sigint);
    uv_signal_init(&loop, &st.sigterm);
    st.sigint.data = &st;
    st.sigterm.data = &st;
    st.server->closed_hook = on_run_closed;
    st.server->closed_hook_arg = &st;

    rc = tr_server_listen(st.server, address);
    if (rc == 0) {
        uv_signal_start(&st.sigint, on_run_signal, SIGINT);
        uv_signal_start(&st.sigterm, on_run_signal, SIGTERM);
    } else {
        tr_server_close(st.server, NULL, NULL);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return rc;
}
