/*
 * dp_translate: translation client connections on uv_poll_t, so reads and
 * writes are plain non-blocking syscalls on our own buffers.
 *
 * A connection is idle (in stock->idle, polled for readability only to
 * notice the server closing it) or busy with exactly one operation.
 * Handles are freed in their close callbacks; a connection's memory goes
 * when both its poll and timer handles are closed.
 */
#include "dp_translate.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define DEFAULT_LIMIT 32
#define DEFAULT_WRITE_TIMEOUT_MS 10000
#define DEFAULT_READ_TIMEOUT_MS 120000
#define MSG_MAX 300

struct dp_tconn;

struct dp_translate_op {
    struct dp_translate_stock *stock;
    struct dp_translate_op *next;       /* waiting or deferred list */
    struct pr_buf request;
    unsigned flags;
    dp_translate_cb cb;
    void *ctx;
    struct dp_tconn *conn;
    bool retried;
    bool queued;                        /* in stock->waiting */
    bool starting;                      /* inside dp_translate() */
    bool deferred;                      /* in stock->deferred */
    int fail_status;
    char fail_msg[MSG_MAX];
};

enum tconn_state {
    TCONN_IDLE = 1,
    TCONN_WRITING,
    TCONN_READING,
    TCONN_CLOSED,
};

struct dp_tconn {
    struct dp_translate_stock *stock;
    struct dp_tconn *next, *prev;       /* stock->conns */
    enum tconn_state state;
    int fd;
    uv_poll_t poll;
    uv_timer_t timer;
    int open_handles;
    bool idle_listed;
    bool reused;                        /* served a response before */
    struct dp_translate_op *op;
    size_t written;
    size_t received;                    /* response bytes so far */
    uint8_t first[TP_HEADER_SIZE];      /* the response's first header */
    struct tp_reader reader;
    struct tp_response *response;
    struct tp_response_parser parser;
};

struct dp_translate_stock {
    uv_loop_t *loop;
    char *address;
    struct sockaddr_un sun;
    socklen_t sun_len;
    struct dp_translate_options opt;
    struct dp_tconn *conns;             /* every open connection */
    unsigned n_conns, n_idle;
    struct dp_translate_op *waiting, **waiting_tail;
    unsigned n_waiting;
    struct dp_translate_op *deferred;
    uv_timer_t defer_timer;
    int open_handles;
    bool freeing;
    struct dp_translate_stats stats;
};

static void conn_close(struct dp_tconn *conn);
static void conn_start(struct dp_tconn *conn, struct dp_translate_op *op);
static void conn_poll(uv_poll_t *poll, int status, int events);
static void dispatch(struct dp_translate_op *op, bool force_new);

/* ---- stock lifetime ---- */

static void
stock_maybe_free(struct dp_translate_stock *stock)
{
    if (stock->freeing && stock->open_handles == 0) {
        free(stock->address);
        free(stock);
    }
}

static void
stock_handle_closed(uv_handle_t *h)
{
    struct dp_translate_stock *stock = h->data;
    stock->open_handles--;
    stock_maybe_free(stock);
}

static void
op_free(struct dp_translate_op *op)
{
    pr_buf_free(&op->request);
    free(op);
}

/* Failures found inside dp_translate() are reported from the loop. */
static void
deferred_run(uv_timer_t *timer)
{
    struct dp_translate_stock *stock = timer->data;
    struct dp_translate_op *list = stock->deferred;
    stock->deferred = NULL;
    /* Reverse into arrival order. */
    struct dp_translate_op *ordered = NULL;
    while (list != NULL) {
        struct dp_translate_op *next = list->next;
        list->next = ordered;
        ordered = list;
        list = next;
    }
    while (ordered != NULL) {
        struct dp_translate_op *op = ordered;
        ordered = op->next;
        op->deferred = false;
        op->cb(op->ctx, NULL, op->fail_status, op->fail_msg);
        op_free(op);
    }
}

static void
fail_later(struct dp_translate_op *op, int status, const char *msg)
{
    struct dp_translate_stock *stock = op->stock;
    op->fail_status = status;
    snprintf(op->fail_msg, sizeof(op->fail_msg), "%s", msg);
    op->deferred = true;
    op->next = stock->deferred;
    stock->deferred = op;
    stock->stats.failures++;
    uv_timer_start(&stock->defer_timer, deferred_run, 0, 0);
}

struct dp_translate_stock *
dp_translate_stock_new(uv_loop_t *loop, const char *address,
                       const struct dp_translate_options *options,
                       char *err, size_t errlen)
{
    struct sockaddr_un sun = { .sun_family = AF_LOCAL };
    size_t n = strlen(address);
    socklen_t sun_len;
    if (address[0] == '@' && n > 1 && n <= sizeof(sun.sun_path)) {
        memcpy(sun.sun_path + 1, address + 1, n - 1);
        sun_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else if (address[0] == '/' && n < sizeof(sun.sun_path)) {
        memcpy(sun.sun_path, address, n + 1);
        sun_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    } else {
        snprintf(err, errlen,
                 "translation server address \"%s\" is not a local socket "
                 "(\"@abstract\" or an absolute path of at most %zu bytes)",
                 address, sizeof(sun.sun_path) - 1);
        return NULL;
    }

    struct dp_translate_stock *stock = calloc(1, sizeof(*stock));
    if (stock == NULL || (stock->address = strdup(address)) == NULL) {
        free(stock);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    stock->loop = loop;
    stock->sun = sun;
    stock->sun_len = sun_len;
    if (options != NULL)
        stock->opt = *options;
    if (stock->opt.limit == 0)
        stock->opt.limit = DEFAULT_LIMIT;
    if (stock->opt.write_timeout_ms == 0)
        stock->opt.write_timeout_ms = DEFAULT_WRITE_TIMEOUT_MS;
    if (stock->opt.read_timeout_ms == 0)
        stock->opt.read_timeout_ms = DEFAULT_READ_TIMEOUT_MS;
    stock->waiting_tail = &stock->waiting;
    uv_timer_init(loop, &stock->defer_timer);
    stock->defer_timer.data = stock;
    stock->open_handles = 1;
    return stock;
}

void
dp_translate_stock_free(struct dp_translate_stock *stock)
{
    if (stock == NULL)
        return;
    stock->freeing = true;
    while (stock->conns != NULL)
        conn_close(stock->conns);
    uv_close((uv_handle_t *)&stock->defer_timer, stock_handle_closed);
}

const char *
dp_translate_stock_address(const struct dp_translate_stock *stock)
{
    return stock->address;
}

void
dp_translate_stock_stats(const struct dp_translate_stock *stock,
                         struct dp_translate_stats *out)
{
    *out = stock->stats;
    out->connections = stock->n_conns;
    out->idle = stock->n_idle;
    out->waiting = stock->n_waiting;
}

/* ---- connections ---- */

static void
conn_handle_closed(uv_handle_t *h)
{
    struct dp_tconn *conn = h->data;
    if (--conn->open_handles > 0)
        return;
    struct dp_translate_stock *stock = conn->stock;
    tp_reader_destroy(&conn->reader);
    free(conn);
    stock->open_handles--;
    stock_maybe_free(stock);
}

static void
idle_unlink(struct dp_tconn *conn)
{
    if (conn->idle_listed) {
        conn->idle_listed = false;
        conn->stock->n_idle--;
    }
}

/* Close the socket; the memory goes in the close callbacks.  The
 * connection's operation, if any, is the caller's business. */
static void
conn_close(struct dp_tconn *conn)
{
    if (conn->state == TCONN_CLOSED)
        return;
    struct dp_translate_stock *stock = conn->stock;
    idle_unlink(conn);
    if (conn->prev != NULL)
        conn->prev->next = conn->next;
    else
        stock->conns = conn->next;
    if (conn->next != NULL)
        conn->next->prev = conn->prev;
    stock->n_conns--;
    conn->state = TCONN_CLOSED;
    if (conn->response != NULL) {
        tp_response_free(conn->response);
        free(conn->response);
        conn->response = NULL;
    }
    if (conn->op != NULL) {
        conn->op->conn = NULL;
        conn->op = NULL;
    }
    uv_close((uv_handle_t *)&conn->poll, conn_handle_closed);
    uv_close((uv_handle_t *)&conn->timer, conn_handle_closed);
    close(conn->fd);
    conn->fd = -1;
}

/* A slot became free: start the oldest waiting operation on a new
 * connection. */
static void
serve_waiting(struct dp_translate_stock *stock)
{
    while (stock->waiting != NULL && !stock->freeing &&
           stock->n_conns < stock->opt.limit) {
        struct dp_translate_op *op = stock->waiting;
        stock->waiting = op->next;
        if (stock->waiting == NULL)
            stock->waiting_tail = &stock->waiting;
        stock->n_waiting--;
        op->queued = false;
        op->next = NULL;
        dispatch(op, true);
    }
}

/* The operation on `conn` failed: close the connection, report. */
static void conn_fail(struct dp_tconn *conn, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
conn_fail(struct dp_tconn *conn, int status, const char *fmt, ...)
{
    struct dp_translate_stock *stock = conn->stock;
    struct dp_translate_op *op = conn->op;
    char msg[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    conn_close(conn);
    if (op != NULL && op->starting) {
        /* A send that failed inside dp_translate(): report it from the
         * loop, as promised. */
        fail_later(op, status, msg);
    } else if (op != NULL) {
        stock->stats.failures++;
        if (status == 504)
            stock->stats.timeouts++;
        op->cb(op->ctx, NULL, status, msg);
        op_free(op);
    }
    serve_waiting(stock);
}

static void
conn_timeout(uv_timer_t *timer)
{
    struct dp_tconn *conn = timer->data;
    if (conn->state == TCONN_WRITING)
        conn_fail(conn, 504,
                  "translation server %s: timeout writing the request "
                  "(%llu ms)", conn->stock->address,
                  (unsigned long long)conn->stock->opt.write_timeout_ms);
    else
        conn_fail(conn, 504,
                  "translation server %s: no complete response within "
                  "%llu ms", conn->stock->address,
                  (unsigned long long)conn->stock->opt.read_timeout_ms);
}

/* The server closed (or broke) a connection before any response byte:
 * on a reused connection that is the idle-close race, so try once more
 * on a fresh one. */
static bool
retry_on_fresh(struct dp_tconn *conn)
{
    struct dp_translate_op *op = conn->op;
    if (op == NULL || !conn->reused || conn->received > 0 || op->retried)
        return false;
    op->retried = true;
    conn_close(conn);
    dispatch(op, true);
    return true;
}

static void
conn_idle(struct dp_tconn *conn)
{
    struct dp_translate_stock *stock = conn->stock;
    conn->state = TCONN_IDLE;
    conn->reused = true;
    uv_timer_stop(&conn->timer);
    if (stock->waiting != NULL) {
        struct dp_translate_op *op = stock->waiting;
        stock->waiting = op->next;
        if (stock->waiting == NULL)
            stock->waiting_tail = &stock->waiting;
        stock->n_waiting--;
        op->queued = false;
        op->next = NULL;
        conn_start(conn, op);
        return;
    }
    conn->idle_listed = true;
    stock->n_idle++;
}

static void
conn_complete(struct dp_tconn *conn, bool reusable)
{
    struct dp_translate_stock *stock = conn->stock;
    struct dp_translate_op *op = conn->op;
    struct tp_response *response = conn->response;
    conn->response = NULL;
    conn->op = NULL;
    op->conn = NULL;
    if (reusable)
        conn_idle(conn);
    else
        conn_close(conn);
    op->cb(op->ctx, response, 0, NULL);
    op_free(op);
    if (!reusable)
        serve_waiting(stock);
}

static void
conn_read(struct dp_tconn *conn)
{
    uint8_t buf[16384];
    for (;;) {
        ssize_t n = read(conn->fd, buf, sizeof(buf));
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return;
            int err = errno;
            if (retry_on_fresh(conn))
                return;
            conn_fail(conn, 502, "translation server %s: read error: %s",
                      conn->stock->address, strerror(err));
            return;
        }
        if (n == 0) {
            if (retry_on_fresh(conn))
                return;
            if (conn->received == 0)
                conn_fail(conn, 502,
                          "translation server %s closed the connection "
                          "without answering", conn->stock->address);
            else
                conn_fail(conn, 502,
                          "translation server %s closed the connection "
                          "after %zu bytes, in the middle of the response",
                          conn->stock->address, conn->received);
            return;
        }
        size_t before = conn->received;
        conn->received += (size_t)n;
        if (before < TP_HEADER_SIZE) {
            /* The first header must be BEGIN: refuse anything else (an
             * HTTP answer, a stray service) at once, not after waiting
             * for a "payload" of its first bytes' length. */
            size_t k = TP_HEADER_SIZE - before;
            memcpy(conn->first + before, buf, k < (size_t)n ? k : (size_t)n);
            uint16_t length, command;
            memcpy(&length, conn->first, 2);
            memcpy(&command, conn->first + 2, 2);
            if (conn->received >= TP_HEADER_SIZE &&
                (command != TP_CMD_BEGIN || length > 1)) {
                conn_fail(conn, 502,
                          "translation server %s: the response does not "
                          "start with a BEGIN packet (command %u, %u "
                          "payload bytes): not the translation protocol",
                          conn->stock->address, command, length);
                return;
            }
        }
        size_t pos = 0;
        while (pos < (size_t)n) {
            size_t used;
            struct tp_packet pkt;
            enum tp_reader_status rs = tp_reader_feed(
                &conn->reader, buf + pos, (size_t)n - pos, &used, &pkt);
            pos += used;
            if (rs == TP_READER_ERROR) {
                conn_fail(conn, 502, "translation server %s: %s",
                          conn->stock->address,
                          tp_reader_error(&conn->reader));
                return;
            }
            if (rs != TP_READER_PACKET)
                break;
            enum tp_parse_status st =
                tp_response_parser_feed(&conn->parser, &pkt);
            if (st == TP_PARSE_ERROR) {
                conn_fail(conn, 502, "translation server %s: %s",
                          conn->stock->address,
                          tp_response_parser_error(&conn->parser));
                return;
            }
            if (st == TP_PARSE_DONE) {
                /* Anything after END makes the connection unusable; the
                 * response itself is complete and valid. */
                conn_complete(conn, pos == (size_t)n);
                return;
            }
        }
    }
}

static void
conn_write(struct dp_tconn *conn)
{
    struct dp_translate_op *op = conn->op;
    while (conn->written < op->request.len) {
        ssize_t n = send(conn->fd, op->request.data + conn->written,
                         op->request.len - conn->written, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                uv_poll_start(&conn->poll, UV_WRITABLE, conn_poll);
                return;
            }
            int err = errno;
            if (retry_on_fresh(conn))
                return;
            conn_fail(conn, 502,
                      "translation server %s: error writing the request: "
                      "%s", conn->stock->address, strerror(err));
            return;
        }
        conn->written += (size_t)n;
    }
    conn->state = TCONN_READING;
    uv_timer_start(&conn->timer, conn_timeout,
                   conn->stock->opt.read_timeout_ms, 0);
    uv_poll_start(&conn->poll, UV_READABLE, conn_poll);
}

static void
conn_poll(uv_poll_t *poll, int status, int events)
{
    struct dp_tconn *conn = poll->data;
    switch (conn->state) {
    case TCONN_IDLE:
        /* Data or EOF on an idle connection: the server closed it (or
         * talks out of turn).  Either way it is done. */
        conn_close(conn);
        return;
    case TCONN_WRITING:
        if (status < 0 || (events & UV_WRITABLE))
            conn_write(conn);
        return;
    case TCONN_READING:
        if (status < 0 || (events & (UV_READABLE | UV_DISCONNECT)))
            conn_read(conn);
        return;
    case TCONN_CLOSED:
        return;
    }
}

static void
conn_start(struct dp_tconn *conn, struct dp_translate_op *op)
{
    struct dp_translate_stock *stock = conn->stock;
    idle_unlink(conn);
    conn->op = op;
    op->conn = conn;
    conn->state = TCONN_WRITING;
    conn->written = 0;
    conn->received = 0;
    conn->response = malloc(sizeof(*conn->response));
    if (conn->response == NULL) {
        conn_fail(conn, 502, "translation server %s: out of memory",
                  stock->address);
        return;
    }
    tp_response_parser_init(&conn->parser, conn->response);
    tp_response_parser_set_request(&conn->parser, op->flags);
    uv_timer_start(&conn->timer, conn_timeout, stock->opt.write_timeout_ms,
                   0);
    conn_write(conn);
}

/* Connect a new socket; NULL with a message when that fails at once. */
static struct dp_tconn *
conn_new(struct dp_translate_stock *stock, char *msg, size_t msglen)
{
    int fd = socket(AF_LOCAL, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(msg, msglen, "translation server %s: socket(): %s",
                 stock->address, strerror(errno));
        return NULL;
    }
    if (connect(fd, (const struct sockaddr *)&stock->sun, stock->sun_len) <
            0 && errno != EINPROGRESS) {
        int err = errno;
        close(fd);
        snprintf(msg, msglen, "cannot connect to translation server %s: %s",
                 stock->address,
                 err == EAGAIN ? "its listen queue is full" : strerror(err));
        return NULL;
    }
    struct dp_tconn *conn = calloc(1, sizeof(*conn));
    if (conn == NULL) {
        close(fd);
        snprintf(msg, msglen, "translation server %s: out of memory",
                 stock->address);
        return NULL;
    }
    conn->stock = stock;
    conn->fd = fd;
    tp_reader_init(&conn->reader, 0);
    uv_poll_init(stock->loop, &conn->poll, fd);
    uv_timer_init(stock->loop, &conn->timer);
    conn->poll.data = conn;
    conn->timer.data = conn;
    conn->open_handles = 2;
    stock->open_handles++;
    conn->next = stock->conns;
    if (stock->conns != NULL)
        stock->conns->prev = conn;
    stock->conns = conn;
    stock->n_conns++;
    uv_poll_start(&conn->poll, UV_READABLE, conn_poll);
    return conn;
}

static struct dp_tconn *
take_idle(struct dp_translate_stock *stock)
{
    for (struct dp_tconn *c = stock->conns; c != NULL; c = c->next)
        if (c->idle_listed)
            return c;
    return NULL;
}

static void
dispatch(struct dp_translate_op *op, bool force_new)
{
    struct dp_translate_stock *stock = op->stock;
    struct dp_tconn *conn = force_new ? NULL : take_idle(stock);
    if (conn == NULL && force_new && stock->n_conns >= stock->opt.limit) {
        /* Make room: an idle connection goes before a waiter would. */
        struct dp_tconn *idle = take_idle(stock);
        if (idle != NULL)
            conn_close(idle);
    }
    if (conn == NULL && stock->n_conns < stock->opt.limit) {
        char msg[MSG_MAX];
        conn = conn_new(stock, msg, sizeof(msg));
        if (conn == NULL) {
            fail_later(op, 502, msg);
            return;
        }
    }
    if (conn == NULL) {
        op->queued = true;
        op->next = NULL;
        *stock->waiting_tail = op;
        stock->waiting_tail = &op->next;
        stock->n_waiting++;
        return;
    }
    conn_start(conn, op);
}

struct dp_translate_op *
dp_translate(struct dp_translate_stock *stock, const struct tp_request *req,
             unsigned request_flags, dp_translate_cb cb, void *ctx,
             const char **msg_out)
{
    struct dp_translate_op *op = calloc(1, sizeof(*op));
    if (op == NULL) {
        if (msg_out != NULL)
            *msg_out = "out of memory";
        return NULL;
    }
    const char *error = "out of memory";
    if (tp_request_marshal(req, &op->request, &error) != 0) {
        if (msg_out != NULL)
            *msg_out = error;
        op_free(op);
        return NULL;
    }
    op->stock = stock;
    op->flags = request_flags;
    op->cb = cb;
    op->ctx = ctx;
    stock->stats.requests++;
    op->starting = true;
    dispatch(op, false);
    op->starting = false;
    return op;
}

void
dp_translate_cancel(struct dp_translate_op *op)
{
    struct dp_translate_stock *stock = op->stock;
    if (op->queued) {
        struct dp_translate_op **pp = &stock->waiting;
        while (*pp != op)
            pp = &(*pp)->next;
        *pp = op->next;
        if (stock->waiting_tail == &op->next)
            stock->waiting_tail = pp;
        stock->n_waiting--;
    } else if (op->deferred) {
        struct dp_translate_op **pp = &stock->deferred;
        while (*pp != op)
            pp = &(*pp)->next;
        *pp = op->next;
    } else if (op->conn != NULL) {
        /* Mid-request: the connection's state is unknown, close it. */
        conn_close(op->conn);
        serve_waiting(stock);
    }
    op_free(op);
}
