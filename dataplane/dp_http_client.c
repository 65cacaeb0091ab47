/*
 * The HTTP/1.1 client.  Three kinds of objects:
 * - a node per backend address (kept for the client's life): its pool of
 *   idle connections, its operations waiting for a slot (with a timer
 *   that ends waits longer than wait_timeout_ms), its failure mark;
 * - a connection: socket, uv_poll_t, uv_timer_t, and a 64 KiB input
 *   buffer while busy; freed in the handles' close callbacks;
 * - an operation: one request from start to the end of its response
 *   body; it is also the response body source (struct dp_body first).
 * Errors before the response are reported from a zero timer (never from
 * inside a call by the caller), so an operation that fails stays in
 * memory, marked done, until that timer runs.
 */
#include "dp_http_client.h"
#include "dp_io.h"

#include "dp_slot_wait.h"
#include "dp_splice.h"
#include "dp_tls.h"
#include "dp_tunnel.h"
#include "h1_chunked.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define IN_CAP (64 * 1024)
#define OUT_HIGH (64 * 1024)
#define MAX_HEADERS 100
/* Request body bytes spliced per writable event: a large upload then
 * waits for the loop's next round like the server's sendfile() and
 * splice() steps (fairness). */
#define SPLICE_STEP (256 * 1024)
/* Copied request-body bytes sent in one turn before the connection waits
 * for its next writable event, so one fast upload does not hold the
 * worker (the splice path's SPLICE_STEP does the same). */
#define SEND_BUDGET (256 * 1024)

struct hconn;

struct node {
    struct node *next;
    struct dp_http_client *client;
    struct sockaddr_storage addr;
    socklen_t len;
    char *tls_host;                     /* https: the URL host; else NULL */
    const struct dp_tls_client_cert *cert;
    char name[128];
    unsigned n_conns;                   /* open: busy, idle, connecting,
                                           and handed to tunnels */
    struct hconn *idle;                 /* idle list */
    struct dp_slot_queue waiting;       /* struct dp_http_op, FIFO */
    uv_timer_t wait_timer;              /* the first waiter's bound */
    bool has_timer;                     /* wait_timer initialised */
    uint64_t fail_until;
};

struct hconn {
    struct dp_http_client *client;
    struct node *node;
    struct hconn *idle_prev, *idle_next;
    bool idle;
    bool closed;
    bool reused;                        /* served a request before */
    bool eof;                           /* the backend closed its side */
    int fd;
    SSL *ssl;                           /* https; NULL for plain HTTP */
    int events;
    int open_handles;
    uv_poll_t poll;
    uv_timer_t timer;
    struct dp_http_op *op;
    uint8_t *in;
    size_t in_len, in_pos;
};

enum op_state {
    OP_WAITING = 1,                     /* for a connection slot */
    OP_CONNECTING,
    OP_HANDSHAKE,                       /* TLS */
    OP_SENDING,                         /* head and body going out */
    OP_HEAD,                            /* waiting for the response head */
    OP_BODY,                            /* the response body streams */
    OP_DONE,                            /* failed: error() is deferred */
};

struct dp_http_op {
    struct dp_body body;                /* the response body source */
    struct dp_http_client *client;
    const struct dp_http_client_handler *handler;
    void *ctx;
    struct dp_http_op *next;            /* deferred list */
    struct dp_slot_waiter wait;         /* in its node's queue */
    enum op_state state;

    struct node **nodes;                /* one per address */
    bool *tried;
    size_t n_addrs, start, cur;
    bool head, idempotent, had_body, retried, fresh, upgrade;
    bool all_timeouts;

    struct hconn *conn;
    uint8_t *out;
    size_t out_len, out_pos, out_cap;
    struct dp_body *req_body;
    bool req_chunked, req_done, in_send, send_failed;
    struct dp_pipe pipe;                /* request body splice: socket ->
                                           pipe -> backend socket; from
                                           client->pipes, or -1 */
    bool fd_off;                        /* the body's descriptor ended or
                                           failed, or no pipe: read it */

    size_t head_start;
    enum h1_body_framing framing;
    uint64_t remaining;
    struct h1_chunked chunked;
    size_t pending;                     /* decoded bytes at in_pos */
    bool keep_alive, want;
    void (*fd_ready)(void *ctx);        /* dp_body_fd_wait(): the consumer
                                           splices from the socket */
    unsigned fail_status;

    /* Not zeroed when created (see OP_ZEROED): initialised where used. */
    struct h1_response_parser parser;
    struct h1_header hdrs[MAX_HEADERS];
    char fail_msg[600];
    char errors[400];                   /* connect failures so far */
    char req_error[200];                /* the request body's failure */
};

/* The part of struct dp_http_op that starts zeroed. */
#define OP_ZEROED offsetof(struct dp_http_op, parser)

struct dp_http_client {
    uv_loop_t *loop;
    struct dp_http_client_options opt;
    struct node *nodes;
    unsigned rr;
    unsigned open_handles;
    SSL_CTX *ssl_ctx;                   /* made at the first https request */
    bool freeing;
    uv_timer_t defer_timer;
    struct dp_http_op *deferred, *deferred_tail;
    struct dp_http_client_stats stats;
    uint8_t *spare_in;                  /* a released input buffer, kept
                                           for the next request */
    struct dp_pipe_pool pipes;          /* for request bodies spliced
                                           from a socket */
};

static void conn_poll_cb(uv_poll_t *poll, int status, int events);
static void op_acquire(struct dp_http_op *op);
static void op_next_address(struct dp_http_op *op);
static void op_send(struct dp_http_op *op);
static void op_handshake(struct dp_http_op *op);
static void node_kick(struct node *node);
static const struct dp_body_class op_body_class;
static const struct dp_body_handler req_body_handler;

/* ---- client ---- */

static void
client_maybe_free(struct dp_http_client *client)
{
    if (!client->freeing || client->open_handles > 0)
        return;
    while (client->nodes != NULL) {
        struct node *n = client->nodes;
        client->nodes = n->next;
        free(n->tls_host);
        free(n);
    }
    if (client->ssl_ctx != NULL)
        SSL_CTX_free(client->ssl_ctx);
    free(client->spare_in);
    dp_pipe_pool_clear(&client->pipes);
    free(client);
}

static void
client_handle_closed(uv_handle_t *h)
{
    struct dp_http_client *client = h->data;
    client->open_handles--;
    client_maybe_free(client);
}

static void
node_timer_closed(uv_handle_t *h)
{
    struct node *node = h->data;
    struct dp_http_client *client = node->client;
    client->open_handles--;
    client_maybe_free(client);
}

static void
deferred_run(uv_timer_t *timer)
{
    struct dp_http_client *client = timer->data;
    while (client->deferred != NULL) {
        struct dp_http_op *op = client->deferred;
        client->deferred = op->next;
        if (client->deferred == NULL)
            client->deferred_tail = NULL;
        const struct dp_http_client_handler *handler = op->handler;
        void *ctx = op->ctx;
        unsigned status = op->fail_status;
        char msg[sizeof(op->fail_msg)];
        memcpy(msg, op->fail_msg, sizeof(msg));
        dp_pipe_pool_put(&client->pipes, &op->pipe);
        free(op->out);
        free(op->nodes);
        free(op);
        handler->error(ctx, status, msg);
    }
}

struct dp_http_client *
dp_http_client_new(uv_loop_t *loop,
                   const struct dp_http_client_options *options)
{
    struct dp_http_client *client = calloc(1, sizeof(*client));
    if (client == NULL)
        return NULL;
    client->loop = loop;
    if (options != NULL)
        client->opt = *options;
    struct dp_http_client_options *o = &client->opt;
    if (o->connect_timeout_ms == 0)
        o->connect_timeout_ms = 10000;
    if (o->response_timeout_ms == 0)
        o->response_timeout_ms = 120000;
    if (o->body_timeout_ms == 0)
        o->body_timeout_ms = 120000;
    if (o->idle_timeout_ms == 0)
        o->idle_timeout_ms = 30000;
    if (o->fail_timeout_ms == 0)
        o->fail_timeout_ms = 20000;
    if (o->wait_timeout_ms == 0)
        o->wait_timeout_ms = o->connect_timeout_ms;
    uv_timer_init(loop, &client->defer_timer);
    client->defer_timer.data = client;
    client->open_handles = 1;
    dp_pipe_pool_init(&client->pipes, DP_PIPE_SIZE);
    return client;
}

void
dp_http_client_stats(const struct dp_http_client *client,
                     struct dp_http_client_stats *out)
{
    *out = client->stats;
}

/* ---- nodes ---- */

static void
address_text(const struct sockaddr_storage *a, socklen_t len, char *out,
             size_t size)
{
    char ip[INET6_ADDRSTRLEN];
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)a;
        inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
        snprintf(out, size, "%s:%u", ip, ntohs(s->sin_port));
    } else if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)a;
        inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
        snprintf(out, size, "[%s]:%u", ip, ntohs(s->sin6_port));
    } else if (a->ss_family == AF_LOCAL) {
        const struct sockaddr_un *s = (const struct sockaddr_un *)a;
        size_t n = len > offsetof(struct sockaddr_un, sun_path)
                       ? len - offsetof(struct sockaddr_un, sun_path) : 0;
        if (n > 0 && s->sun_path[0] == '\0')
            snprintf(out, size, "@%.*s", (int)(n - 1), s->sun_path + 1);
        else
            snprintf(out, size, "%.*s", (int)strnlen(s->sun_path, n),
                     s->sun_path);
    } else {
        snprintf(out, size, "(address family %d)", a->ss_family);
    }
}

/* The node of an address; plain and TLS connections (per host name and
 * client certificate) to one address are pooled apart. */
static struct node *
node_get(struct dp_http_client *client, const struct tp_socket_address *a,
         const char *tls_host, const struct dp_tls_client_cert *cert)
{
    for (struct node *n = client->nodes; n != NULL; n = n->next)
        if (n->len == a->len && memcmp(&n->addr, &a->addr, a->len) == 0 &&
            (n->tls_host == NULL) == (tls_host == NULL) &&
            (tls_host == NULL || (strcmp(n->tls_host, tls_host) == 0 &&
                                  n->cert == cert)))
            return n;
    struct node *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return NULL;
    if (tls_host != NULL) {
        n->tls_host = strdup(tls_host);
        if (n->tls_host == NULL) {
            free(n);
            return NULL;
        }
        n->cert = cert;
    }
    n->client = client;
    memcpy(&n->addr, &a->addr, a->len);
    n->len = a->len;
    address_text(&n->addr, n->len, n->name, sizeof(n->name));
    n->next = client->nodes;
    client->nodes = n;
    return n;
}

/* An operation leaves its node's queue (its slot came, its client went
 * away, it failed).  The timer stays set for a waiter that is no longer
 * first: when it runs it sets itself for the new first one. */
static void
node_wait_remove(struct node *node, struct dp_http_op *op)
{
    dp_slot_queue_remove(&node->waiting, &op->wait);
    if (node->waiting.n == 0 && node->has_timer)
        uv_timer_stop(&node->wait_timer);
}

/* ---- connections ---- */

static void
conn_handle_closed(uv_handle_t *h)
{
    struct hconn *conn = h->data;
    if (--conn->open_handles > 0)
        return;
    struct dp_http_client *client = conn->client;
    free(conn->in);
    free(conn);
    client->open_handles--;
    client_maybe_free(client);
}

static void
idle_unlink(struct hconn *conn)
{
    if (!conn->idle)
        return;
    struct node *node = conn->node;
    if (conn->idle_prev != NULL)
        conn->idle_prev->idle_next = conn->idle_next;
    else
        node->idle = conn->idle_next;
    if (conn->idle_next != NULL)
        conn->idle_next->idle_prev = conn->idle_prev;
    conn->idle_prev = conn->idle_next = NULL;
    conn->idle = false;
    conn->client->stats.idle--;
}

static void
conn_set_poll(struct hconn *conn, int events)
{
    if (conn->events == events)
        return;
    conn->events = events;
    if (events == 0)
        uv_poll_stop(&conn->poll);
    else
        uv_poll_start(&conn->poll, events, conn_poll_cb);
}

/* Close the socket; the memory goes in the close callbacks.  The
 * operation is detached; waiting operations are not kicked here. */
static void
conn_close(struct hconn *conn)
{
    if (conn->closed)
        return;
    conn->closed = true;
    idle_unlink(conn);
    conn->node->n_conns--;
    conn->client->stats.connections--;
    if (conn->op != NULL) {
        conn->op->conn = NULL;
        conn->op = NULL;
    }
    uv_close((uv_handle_t *)&conn->poll, conn_handle_closed);
    uv_close((uv_handle_t *)&conn->timer, conn_handle_closed);
    if (conn->ssl != NULL) {
        SSL_free(conn->ssl);
        conn->ssl = NULL;
    }
    close(conn->fd);
    conn->fd = -1;
}

/* ---- plain and TLS I/O ---- */

enum {
    IO_AGAIN = DP_IO_AGAIN,             /* would block */
};

/* Bytes read, 0 at the end, IO_AGAIN, or -1 with errno set (EPROTO for
 * a TLS error, its reason in the OpenSSL queue cleared). */
static ssize_t
conn_recv(struct hconn *conn, void *buf, size_t len)
{
    if (conn->ssl == NULL)
        return dp_io_recv(conn->fd, buf, len);
    int err;
    int n = dp_io_tls_read(conn->ssl, buf, len, &err);
    if (n > 0)
        return n;
    switch (err) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return IO_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        if (errno == 0)
            return 0;
        return -1;
    default:
        ERR_clear_error();
        errno = EPROTO;
        return -1;
    }
}

/* Bytes written, IO_AGAIN, or -1 with errno set. */
static ssize_t
conn_send(struct hconn *conn, const void *buf, size_t len)
{
    if (conn->ssl == NULL)
        return dp_io_send(conn->fd, buf, len);
    int err;
    int n = dp_io_tls_write(conn->ssl, buf, len, &err);
    if (n > 0)
        return n;
    switch (err) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return IO_AGAIN;
    case SSL_ERROR_SYSCALL:
        if (errno == 0)
            errno = EPIPE;
        return -1;
    default:
        ERR_clear_error();
        errno = EPROTO;
        return -1;
    }
}

static void
conn_idle_timeout(uv_timer_t *timer)
{
    struct hconn *conn = timer->data;
    struct node *node = conn->node;
    conn_close(conn);
    node_kick(node);
}

/* Park a connection whose response is complete in its node's pool. */
static void
conn_release(struct hconn *conn)
{
    struct dp_http_client *client = conn->client;
    struct node *node = conn->node;
    conn->op = NULL;
    conn->reused = true;
    /* one buffer is kept for the next request (a malloc() and free() of
     * 64 KiB per request otherwise); idle connections hold none */
    if (client->spare_in == NULL)
        client->spare_in = conn->in;
    else
        free(conn->in);
    conn->in = NULL;
    conn->in_len = conn->in_pos = 0;
    conn->idle = true;
    conn->idle_prev = NULL;
    conn->idle_next = node->idle;
    if (node->idle != NULL)
        node->idle->idle_prev = conn;
    node->idle = conn;
    client->stats.idle++;
    conn_set_poll(conn, UV_READABLE);
    uv_timer_start(&conn->timer, conn_idle_timeout, client->opt.idle_timeout_ms,
                   0);
    node_kick(node);
}

static struct hconn *
conn_new(struct dp_http_client *client, struct node *node, char *err,
         size_t errlen)
{
    int fd = socket(node->addr.ss_family,
                    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket(): %s", strerror(errno));
        return NULL;
    }
    if (node->addr.ss_family != AF_LOCAL) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    if (connect(fd, (const struct sockaddr *)&node->addr, node->len) < 0 &&
        errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        snprintf(err, errlen, "connect: %s",
                 e == EAGAIN ? "listen queue full" : strerror(e));
        return NULL;
    }
    struct hconn *conn = calloc(1, sizeof(*conn));
    if (conn == NULL) {
        close(fd);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    conn->client = client;
    conn->node = node;
    conn->fd = fd;
    uv_poll_init(client->loop, &conn->poll, fd);
    uv_timer_init(client->loop, &conn->timer);
    conn->poll.data = conn;
    conn->timer.data = conn;
    conn->open_handles = 2;
    client->open_handles++;
    node->n_conns++;
    client->stats.connections++;
    client->stats.connects++;
    return conn;
}

/* ---- operations: failure before the response ---- */

static void
op_free(struct dp_http_op *op)
{
    dp_pipe_pool_put(&op->client->pipes, &op->pipe);   /* closed if full */
    free(op->out);
    free(op->nodes);
    free(op);
}

/* Fail before the response: close everything, report from the zero
 * timer. */
static void
op_fail(struct dp_http_op *op, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
op_fail(struct dp_http_op *op, unsigned status, const char *fmt, ...)
{
    struct dp_http_client *client = op->client;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(op->fail_msg, sizeof(op->fail_msg), fmt, ap);
    va_end(ap);
    op->fail_status = status;
    struct node *kick = NULL;
    if (op->state == OP_WAITING && op->nodes[op->cur] != NULL)
        node_wait_remove(op->nodes[op->cur], op);
    if (op->conn != NULL) {
        kick = op->conn->node;
        conn_close(op->conn);
    }
    if (op->req_body != NULL) {
        struct dp_body *b = op->req_body;
        op->req_body = NULL;
        dp_body_close(b);
    }
    op->state = OP_DONE;
    op->next = NULL;
    if (client->deferred_tail != NULL)
        client->deferred_tail->next = op;
    else
        client->deferred = op;
    client->deferred_tail = op;
    uv_timer_start(&client->defer_timer, deferred_run, 0, 0);
    if (kick != NULL)
        node_kick(kick);
}

static void
op_connect_failed(struct dp_http_op *op, const char *why, bool timeout)
{
    struct dp_http_client *client = op->client;
    struct node *node = op->nodes[op->cur];
    node->fail_until = uv_now(client->loop) + client->opt.fail_timeout_ms;
    size_t n = strlen(op->errors);
    snprintf(op->errors + n, sizeof(op->errors) - n, "%s%s: %s",
             n > 0 ? "; " : "", node->name, why);
    if (!timeout)
        op->all_timeouts = false;
    if (op->conn != NULL)
        conn_close(op->conn);
    op_next_address(op);
    node_kick(node);
}

/* ---- operations: connecting and sending ---- */

static void
conn_timeout(uv_timer_t *timer)
{
    struct hconn *conn = timer->data;
    struct dp_http_op *op = conn->op;
    struct dp_http_client *client = conn->client;
    if (op == NULL)
        return;
    switch (op->state) {
    case OP_CONNECTING:
        op_connect_failed(op, "connect timeout", true);
        break;
    case OP_HANDSHAKE:
        op_connect_failed(op, "TLS handshake timeout", true);
        break;
    case OP_SENDING:
    case OP_HEAD:
        op_fail(op, 504, "backend %s: no response within %llu ms",
                conn->node->name,
                (unsigned long long)client->opt.response_timeout_ms);
        break;
    case OP_BODY: {
        /* silence inside the body */
        char msg[300];
        snprintf(msg, sizeof(msg), "backend %s: no response body data "
                 "within %llu ms", conn->node->name,
                 (unsigned long long)client->opt.body_timeout_ms);
        const struct dp_body_handler *h = op->body.handler;
        void *ctx = op->body.ctx;
        struct node *node = conn->node;
        conn_close(conn);
        if (op->req_body != NULL)
            dp_body_close(op->req_body);
        op_free(op);
        node_kick(node);
        h->error(ctx, ETIMEDOUT, msg);
        break;
    }
    default:
        break;
    }
}

/* Start the request on op->conn (connected). */
static void
op_begin_send(struct dp_http_op *op)
{
    struct hconn *conn = op->conn;
    conn->op = op;
    if (conn->in == NULL && conn->client->spare_in != NULL) {
        conn->in = conn->client->spare_in;
        conn->client->spare_in = NULL;
    }
    if (conn->in == NULL) {
        conn->in = malloc(IN_CAP);
        if (conn->in == NULL) {
            op_fail(op, 500, "out of memory");
            return;
        }
    }
    conn->in_len = conn->in_pos = 0;
    conn->eof = false;
    op->head_start = 0;
    h1_response_parser_init(&op->parser, MAX_HEADERS, 0, op->hdrs,
                            MAX_HEADERS, op->head);
    op->state = OP_SENDING;
    op->out_pos = 0;
    uv_timer_start(&conn->timer, conn_timeout,
                   op->client->opt.response_timeout_ms, 0);
    conn_set_poll(conn, UV_READABLE);
    op_send(op);
}

/* The TLS client context: TLS 1.2 or later, ALPN http/1.1, the system's
 * CA store (SSL_CERT_FILE / SSL_CERT_DIR override it) unless
 * verification is off.  NULL when OpenSSL refuses. */
static SSL_CTX *
client_ssl_ctx(struct dp_http_client *client)
{
    if (client->ssl_ctx != NULL)
        return client->ssl_ctx;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        return NULL;
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF |
                                 SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
    if (!client->opt.tls_no_verify) {
        SSL_CTX_set_default_verify_paths(ctx);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    client->ssl_ctx = ctx;
    return ctx;
}

/* Connected: start the TLS handshake (SNI and the name to verify from
 * the URL host; an IP literal is checked as an address, without SNI). */
static void
op_tls_start(struct dp_http_op *op)
{
    struct hconn *conn = op->conn;
    struct node *node = conn->node;
    SSL_CTX *ctx = client_ssl_ctx(op->client);
    SSL *ssl = ctx != NULL ? SSL_new(ctx) : NULL;
    if (ssl == NULL || SSL_set_fd(ssl, conn->fd) != 1) {
        if (ssl != NULL)
            SSL_free(ssl);
        op_connect_failed(op, dp_tls_error_reason("cannot set up TLS"),
                          false);
        return;
    }
    conn->ssl = ssl;
    const char *host = node->tls_host;
    struct in6_addr ip;
    bool literal = inet_pton(AF_INET, host, &ip) == 1 ||
                   inet_pton(AF_INET6, host, &ip) == 1;
    int ok = 1;
    if (literal) {
        if (!op->client->opt.tls_no_verify)
            ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
    } else {
        /* the macro casts its argument to void * (OpenSSL copies the
         * name): hand it a pointer without const */
        ok = SSL_set_tlsext_host_name(ssl, (char *)(uintptr_t)host);
        if (ok == 1 && !op->client->opt.tls_no_verify)
            ok = SSL_set1_host(ssl, host);
    }
    const struct dp_tls_client_cert *cert = node->cert;
    if (ok == 1 && cert != NULL) {
        ok = SSL_use_certificate(ssl, cert->cert) == 1 &&
             SSL_use_PrivateKey(ssl, cert->key) == 1 &&
             (cert->chain == NULL || SSL_set1_chain(ssl, cert->chain) == 1);
    }
    if (ok != 1) {
        op_connect_failed(op, dp_tls_error_reason("cannot set up TLS"),
                          false);
        return;
    }
    SSL_set_connect_state(ssl);
    op->state = OP_HANDSHAKE;
    op_handshake(op);
}

static void
op_handshake(struct dp_http_op *op)
{
    struct hconn *conn = op->conn;
    ERR_clear_error();
    int rc = SSL_do_handshake(conn->ssl);
    if (rc == 1) {
        conn->node->fail_until = 0;
        op_begin_send(op);
        return;
    }
    int e = SSL_get_error(conn->ssl, rc);
    if (e == SSL_ERROR_WANT_READ) {
        conn_set_poll(conn, UV_READABLE);
        return;
    }
    if (e == SSL_ERROR_WANT_WRITE) {
        conn_set_poll(conn, UV_WRITABLE);
        return;
    }
    char why[300];
    long v = SSL_get_verify_result(conn->ssl);
    if (v != X509_V_OK)
        snprintf(why, sizeof(why), "TLS handshake: certificate verify "
                 "failed: %s", X509_verify_cert_error_string(v));
    else
        snprintf(why, sizeof(why), "TLS handshake: %s",
                 dp_tls_error_reason(e == SSL_ERROR_SYSCALL
                                         ? "connection closed" : "failed"));
    ERR_clear_error();
    op_connect_failed(op, why, false);
}

static void node_wait_timer_cb(uv_timer_t *timer);

/* Set the node's timer for its first waiter's bound (none: stopped). */
static void
node_wait_arm(struct node *node)
{
    struct dp_http_client *client = node->client;
    uint64_t due = dp_slot_queue_next_expiry(&node->waiting,
                                             uv_now(client->loop),
                                             client->opt.wait_timeout_ms);
    if (due == UINT64_MAX) {
        uv_timer_stop(&node->wait_timer);
        return;
    }
    uv_timer_start(&node->wait_timer, node_wait_timer_cb, due, 0);
}

/* `op` waits for a slot of `node` (at the end of its queue). */
static void
node_wait(struct node *node, struct dp_http_op *op)
{
    struct dp_http_client *client = node->client;
    if (!node->has_timer) {
        uv_timer_init(client->loop, &node->wait_timer);
        node->wait_timer.data = node;
        node->has_timer = true;
        client->open_handles++;
    }
    dp_slot_queue_push(&node->waiting, &op->wait, op, uv_now(client->loop));
    /* a running timer is due at the first waiter's bound, which is
     * earlier than this one's */
    if (!uv_is_active((uv_handle_t *)&node->wait_timer))
        node_wait_arm(node);
}

/* The first waiters reached their bound: each fails with 503 (one log
 * line, from the request's error), the others wait on. */
static void
node_wait_timer_cb(uv_timer_t *timer)
{
    struct node *node = timer->data;
    struct dp_http_client *client = node->client;
    uint64_t now = uv_now(client->loop);
    uint64_t bound = client->opt.wait_timeout_ms;
    struct dp_http_op *op;
    while ((op = dp_slot_queue_pop_expired(&node->waiting, now, bound)) !=
           NULL) {
        uint64_t waited = now - op->wait.since;
        if (op->errors[0] != '\0')
            op_fail(op, 503, "backend %s: no free connection after waiting "
                    "%llu ms (tcp_stock_limit %u reached; before: %s)",
                    node->name, (unsigned long long)waited,
                    client->opt.limit, op->errors);
        else
            op_fail(op, 503, "backend %s: no free connection after waiting "
                    "%llu ms (tcp_stock_limit %u reached)", node->name,
                    (unsigned long long)waited, client->opt.limit);
    }
    node_wait_arm(node);
}

static void
op_acquire(struct dp_http_op *op)
{
    struct dp_http_client *client = op->client;
    struct node *node = op->nodes[op->cur];
    unsigned limit = client->opt.limit;
    if (!op->fresh && node->idle != NULL) {
        struct hconn *conn = node->idle;
        idle_unlink(conn);
        uv_timer_stop(&conn->timer);
        client->stats.reuses++;
        op->conn = conn;
        op_begin_send(op);
        return;
    }
    if (limit > 0 && node->n_conns >= limit) {
        if (node->idle != NULL) {
            /* a fresh connection wanted: make room */
            conn_close(node->idle);
        } else {
            op->state = OP_WAITING;
            node_wait(node, op);
            return;
        }
    }
    op->fresh = false;
    char err[200];
    struct hconn *conn = conn_new(client, node, err, sizeof(err));
    if (conn == NULL) {
        op_connect_failed(op, err, false);
        return;
    }
    op->conn = conn;
    conn->op = op;
    op->state = OP_CONNECTING;
    conn_set_poll(conn, UV_WRITABLE);
    uv_timer_start(&conn->timer, conn_timeout,
                   client->opt.connect_timeout_ms, 0);
}

/* A slot of `node` may be free: start waiting operations, first come
 * first served. */
static void
node_kick(struct node *node)
{
    struct dp_http_client *client = node->client;
    struct dp_http_op *op;
    while ((op = dp_slot_queue_first(&node->waiting)) != NULL) {
        if (client->opt.limit > 0 && node->n_conns >= client->opt.limit &&
            node->idle == NULL)
            return;
        node_wait_remove(node, op);
        op_acquire(op);
    }
}

static void
op_next_address(struct dp_http_op *op)
{
    uint64_t now = uv_now(op->client->loop);
    size_t pick = (size_t)-1, fallback = (size_t)-1;
    for (size_t k = 0; k < op->n_addrs; k++) {
        size_t i = (op->start + k) % op->n_addrs;
        if (op->tried[i])
            continue;
        if (op->nodes[i]->fail_until <= now) {
            pick = i;
            break;
        }
        if (fallback == (size_t)-1)
            fallback = i;
    }
    if (pick == (size_t)-1)
        pick = fallback;
    if (pick == (size_t)-1) {
        op_fail(op, op->all_timeouts ? 504 : 502,
                "connecting to the backend%s failed: %s",
                op->n_addrs > 1 ? "s" : "", op->errors);
        return;
    }
    op->tried[pick] = true;
    op->cur = pick;
    op_acquire(op);
}

static size_t
req_body_data(void *ctx, const uint8_t *data, size_t len)
{
    struct dp_http_op *op = ctx;
    size_t queued = op->out_len - op->out_pos;
    if (queued >= OUT_HIGH || op->send_failed)
        return op->send_failed ? len : 0;
    size_t take = OUT_HIGH - queued;
    if (take > len)
        take = len;
    if (op->out_pos > 0 && op->out_pos == op->out_len)
        op->out_pos = op->out_len = 0;
    if (op->out_pos > 0) {
        memmove(op->out, op->out + op->out_pos, queued);
        op->out_pos = 0;
        op->out_len = queued;
    }
    if (op->req_chunked)
        op->out_len += (size_t)snprintf((char *)op->out + op->out_len, 20,
                                        "%zx\r\n", take);
    memcpy(op->out + op->out_len, data, take);
    op->out_len += take;
    if (op->req_chunked) {
        memcpy(op->out + op->out_len, "\r\n", 2);
        op->out_len += 2;
    }
    if (!op->in_send && op->conn != NULL)
        conn_set_poll(op->conn, UV_READABLE | UV_WRITABLE);
    return take;
}

static void
req_body_eof(void *ctx)
{
    struct dp_http_op *op = ctx;
    op->req_body = NULL;
    op->req_done = true;
    if (op->req_chunked && !op->send_failed) {
        if (op->out_pos > 0 && op->out_pos == op->out_len)
            op->out_pos = op->out_len = 0;
        memcpy(op->out + op->out_len, "0\r\n\r\n", 5);
        op->out_len += 5;
    }
    if (!op->in_send && op->conn != NULL && op->state == OP_SENDING)
        op_send(op);
}

static void
req_body_error(void *ctx, int err, const char *msg)
{
    struct dp_http_op *op = ctx;
    (void)err;
    op->req_body = NULL;
    snprintf(op->req_error, sizeof(op->req_error), "%s", msg);
    if (op->in_send)
        return;     /* op_send() reports it */
    if (op->state <= OP_HEAD)
        op_fail(op, 400, "request body: %s", msg);
}

static const struct dp_body_handler req_body_handler = {
    req_body_data, req_body_eof, req_body_error,
};

/* ---- the request body's splice path ----
 *
 * A body of known length whose source offers a readable descriptor
 * (dp_body_fd: the client socket of a plain connection, a backend socket
 * or a WAS pipe of a filter's input) goes to a plain backend socket with
 * splice(), through op->pipe when the source is a socket.  Bytes of
 * op->out (the head, body bytes the source had buffered) leave first;
 * bytes in the pipe leave before anything else is read. */

enum send_splice {
    SEND_COPY = 1,      /* no descriptor: read the body (op->out) */
    SEND_AGAIN,         /* progress or a change: go on */
    SEND_WAIT,          /* the backend socket or the source must wait */
};

/* The source's descriptor is readable again (dp_body_fd_wait). */
static void
op_req_body_ready(void *ctx)
{
    struct dp_http_op *op = ctx;
    if (op->conn != NULL && op->state == OP_SENDING)
        op_send(op);
}

static enum send_splice
op_send_splice(struct dp_http_op *op)
{
    struct hconn *conn = op->conn;
    struct dp_body_fd src;
    bool have_src = false;
    if (op->pipe.fill == 0) {
        if (op->req_body == NULL || op->req_done || op->fd_off ||
            op->req_chunked || conn->ssl != NULL ||
            !dp_body_fd(op->req_body, &src))
            return SEND_COPY;
        if (!src.is_pipe && op->pipe.r < 0 &&
            dp_pipe_pool_get(&op->client->pipes, &op->pipe) != 0) {
            op->fd_off = true;          /* no pipe (EMFILE): copy */
            return SEND_COPY;
        }
        have_src = true;
    }
    struct dp_splice_result r;
    enum dp_splice_status st = dp_splice_step(
        have_src ? src.fd : -1, have_src && src.is_pipe,
        have_src ? src.length : 0, &op->pipe, conn->fd, SPLICE_STEP, &r);
    if (r.in > 0)
        dp_body_fd_advance(op->req_body, r.in);
    if (r.out > 0)
        uv_timer_start(&conn->timer, conn_timeout,
                       op->client->opt.response_timeout_ms, 0);
    switch (st) {
    case DP_SPLICE_BUDGET:
    case DP_SPLICE_DST_AGAIN:
        conn_set_poll(conn, UV_READABLE | UV_WRITABLE);
        return SEND_WAIT;
    case DP_SPLICE_SRC_DONE:
        return SEND_AGAIN;              /* the source says what comes next */
    case DP_SPLICE_SRC_AGAIN:
        /* READABLE stays: an early answer (413) ends the wait */
        conn_set_poll(conn, UV_READABLE);
        dp_body_fd_wait(op->req_body, op_req_body_ready);
        return SEND_WAIT;
    case DP_SPLICE_SRC_END:
        /* end of file or an error before the body's end: the source
         * reads itself and reports it with its own message */
        op->fd_off = true;
        return SEND_AGAIN;
    case DP_SPLICE_DST_ERROR:
        break;
    }
    /* as a failed send(): the backend may have answered already */
    op->send_failed = true;
    return SEND_AGAIN;
}

static void
op_send(struct dp_http_op *op)
{
    struct hconn *conn = op->conn;
    size_t sent = 0;
    for (;;) {
        while (op->out_pos < op->out_len && !op->send_failed) {
            ssize_t n = conn_send(conn, op->out + op->out_pos,
                                  op->out_len - op->out_pos);
            if (n == IO_AGAIN) {
                conn_set_poll(conn, UV_READABLE | UV_WRITABLE);
                return;
            }
            if (n < 0) {
                /* The backend may have answered already (413...): the
                 * read side decides. */
                op->send_failed = true;
                break;
            }
            op->out_pos += (size_t)n;
            sent += (size_t)n;
            uv_timer_start(&conn->timer, conn_timeout,
                           op->client->opt.response_timeout_ms, 0);
        }
        if (op->send_failed) {
            if (op->req_body != NULL) {
                struct dp_body *b = op->req_body;
                op->req_body = NULL;
                dp_body_close(b);
            }
            op->req_done = true;
            conn_set_poll(conn, UV_READABLE);
            op->state = OP_HEAD;
            return;
        }
        enum send_splice sp = op_send_splice(op);
        if (sp == SEND_WAIT || op->state == OP_DONE)
            return;
        if (sp == SEND_AGAIN)
            continue;
        if (op->req_body == NULL || op->req_done)
            break;
        if (sent >= SEND_BUDGET) {
            /* the rest on the next writable event */
            conn_set_poll(conn, UV_READABLE | UV_WRITABLE);
            return;
        }
        size_t before = op->out_len - op->out_pos;
        op->in_send = true;
        dp_body_read(op->req_body);
        op->in_send = false;
        if (op->state == OP_DONE)
            return;
        if (op->req_error[0] != '\0' && op->req_body == NULL &&
            !op->req_done) {
            op_fail(op, 400, "request body: %s", op->req_error);
            return;
        }
        if (op->out_len - op->out_pos == before && !op->req_done) {
            conn_set_poll(conn, UV_READABLE);   /* the source calls back */
            return;
        }
    }
    if (op->state == OP_SENDING)
        op->state = OP_HEAD;
    dp_pipe_pool_put(&op->client->pipes, &op->pipe);    /* empty here */
    conn_set_poll(conn, UV_READABLE);
}

/* ---- the response ---- */

static void
op_finish(struct dp_http_op *op, bool reusable)
{
    struct hconn *conn = op->conn;
    if (op->req_body != NULL) {
        struct dp_body *b = op->req_body;
        op->req_body = NULL;
        dp_body_close(b);
        reusable = false;
    }
    if (conn == NULL)
        return;
    uv_timer_stop(&conn->timer);
    op->conn = NULL;
    if (reusable && !conn->eof && conn->in_pos == conn->in_len &&
        op->req_done && op->out_pos == op->out_len && op->pipe.fill == 0 &&
        !op->send_failed) {
        conn_release(conn);
    } else {
        struct node *node = conn->node;
        conn_close(conn);
        node_kick(node);
    }
}

/* The body ended: hand the connection back, free the operation, eof(). */
static void
op_body_end(struct dp_http_op *op)
{
    const struct dp_body_handler *h = op->body.handler;
    void *ctx = op->body.ctx;
    op_finish(op, op->keep_alive && op->framing != H1_BODY_CLOSE);
    op_free(op);
    h->eof(ctx);
}

static void
op_body_fail(struct dp_http_op *op, int err, const char *msg)
{
    const struct dp_body_handler *h = op->body.handler;
    void *ctx = op->body.ctx;
    op_finish(op, false);
    op_free(op);
    h->error(ctx, err, msg);
}

/* Hand buffered body bytes to the consumer while it takes them.  False
 * when the operation is gone (the body ended or failed). */
static bool
op_deliver(struct dp_http_op *op)
{
    struct hconn *conn = op->conn;
    const struct dp_body_handler *h = op->body.handler;
    while (op->want) {
        size_t avail = conn->in_len - conn->in_pos;
        const uint8_t *p = conn->in + conn->in_pos;
        if (op->framing == H1_BODY_CHUNKED && op->pending == 0 &&
            avail > 0) {
            size_t used = 0;
            struct pr_slice out = { NULL, 0 };
            enum h1_chunked_status st =
                h1_chunked_feed(&op->chunked, p, avail, &used, &out);
            if (st == H1_CHUNKED_ERROR) {
                char msg[300];
                snprintf(msg, sizeof(msg), "backend %s: bad chunked "
                         "response body: %s", conn->node->name,
                         h1_chunked_error(&op->chunked));
                op_body_fail(op, EPROTO, msg);
                return false;
            }
            if (st == H1_CHUNKED_DATA) {
                conn->in_pos += used - out.len;
                op->pending = out.len;
                continue;
            }
            conn->in_pos += used;
            if (st == H1_CHUNKED_END) {
                op_body_end(op);
                return false;
            }
            continue;
        }
        if (op->framing == H1_BODY_LENGTH && op->remaining == 0) {
            op_body_end(op);
            return false;
        }
        size_t n = op->framing == H1_BODY_CHUNKED ? op->pending : avail;
        if (op->framing == H1_BODY_LENGTH && n > op->remaining)
            n = (size_t)op->remaining;
        if (n == 0) {
            if (conn->eof && op->framing == H1_BODY_CLOSE) {
                op_body_end(op);
                return false;
            }
            if (avail == 0 && op->pending == 0 && conn->ssl != NULL &&
                !conn->eof && SSL_has_pending(conn->ssl)) {
                /* decrypted bytes wait inside OpenSSL: the socket will
                 * not say so */
                conn->in_pos = conn->in_len = 0;
                ssize_t got = conn_recv(conn, conn->in, IN_CAP);
                if (got > 0) {
                    conn->in_len = (size_t)got;
                    continue;
                }
                if (got == 0) {
                    conn->eof = true;
                    continue;
                }
            }
            break;
        }
        size_t take = h->data(op->body.ctx, p, n);
        conn->in_pos += take;
        if (op->framing == H1_BODY_CHUNKED)
            op->pending -= take;
        if (op->framing == H1_BODY_LENGTH) {
            op->remaining -= take;
            op->body.length = (int64_t)op->remaining;
        }
        if (take < n)
            op->want = false;
    }
    if (op->want && conn->eof) {
        char msg[300];
        snprintf(msg, sizeof(msg), "backend %s closed the connection "
                 "before the end of the response body", conn->node->name);
        op_body_fail(op, EPIPE, msg);
        return false;
    }
    if (conn->in_pos == conn->in_len)
        conn->in_pos = conn->in_len = 0;
    if (op->want) {
        conn_set_poll(conn, UV_READABLE);
        uv_timer_start(&conn->timer, conn_timeout,
                       op->client->opt.body_timeout_ms, 0);
    } else {
        conn_set_poll(conn, 0);
        uv_timer_stop(&conn->timer);
    }
    return true;
}

static void
op_body_read(struct dp_body *body)
{
    struct dp_http_op *op = (struct dp_http_op *)body;
    op->want = true;
    op->fd_ready = NULL;
    op_deliver(op);
}

/* The splice fast path: the backend socket itself, for a plain
 * connection with a Content-Length body and nothing buffered. */
static bool
op_body_fd(struct dp_body *body, struct dp_body_fd *out)
{
    struct dp_http_op *op = (struct dp_http_op *)body;
    struct hconn *conn = op->conn;
    if (op->state != OP_BODY || conn == NULL || conn->ssl != NULL ||
        op->framing != H1_BODY_LENGTH || op->remaining == 0 || conn->eof ||
        conn->in_pos < conn->in_len)
        return false;
    out->fd = conn->fd;
    out->length = op->remaining > INT64_MAX ? INT64_MAX
                                            : (int64_t)op->remaining;
    out->is_pipe = false;
    /* the consumer reads from here on: stop reading for it */
    op->want = false;
    conn_set_poll(conn, 0);
    uv_timer_stop(&conn->timer);
    return true;
}

static void
op_body_fd_advance(struct dp_body *body, uint64_t n)
{
    struct dp_http_op *op = (struct dp_http_op *)body;
    op->remaining -= n < op->remaining ? n : op->remaining;
    op->body.length = (int64_t)op->remaining;
    uv_timer_stop(&op->conn->timer);    /* runs while the consumer waits */
}

static void
op_body_fd_wait(struct dp_body *body, void (*ready)(void *ctx))
{
    struct dp_http_op *op = (struct dp_http_op *)body;
    op->want = false;
    op->fd_ready = ready;
    conn_set_poll(op->conn, UV_READABLE);
    uv_timer_start(&op->conn->timer, conn_timeout,
                   op->client->opt.body_timeout_ms, 0);
}

static void
op_body_close(struct dp_body *body)
{
    struct dp_http_op *op = (struct dp_http_op *)body;
    op_finish(op, false);
    op_free(op);
}

static const struct dp_body_class op_body_class = {
    .name = "http-response",
    .read = op_body_read,
    .close = op_body_close,
    .fd = op_body_fd,
    .fd_advance = op_body_fd_advance,
    .fd_wait = op_body_fd_wait,
};

/* A response head is complete. */
static void
op_response(struct dp_http_op *op, const struct h1_response_head *r)
{
    struct hconn *conn = op->conn;
    conn->in_pos = op->head_start + r->head_len;
    op->framing = r->framing;
    op->keep_alive = r->keep_alive;
    if (!op->req_done || op->out_pos < op->out_len || op->pipe.fill > 0) {
        /* answered before the request was sent completely: the
         * connection's state is unclear, so it is not kept */
        op->keep_alive = false;
        if (op->req_body != NULL) {
            struct dp_body *b = op->req_body;
            op->req_body = NULL;
            dp_body_close(b);
        }
        op->req_done = true;
        op->out_pos = op->out_len;
    }
    dp_pipe_pool_put(&op->client->pipes, &op->pipe);    /* closed if full */
    const struct dp_http_client_handler *handler = op->handler;
    void *ctx = op->ctx;
    if (r->framing == H1_BODY_NONE) {
        op->state = OP_BODY;
        handler->response(ctx, r, NULL);
        op_finish(op, op->keep_alive);
        op_free(op);
        return;
    }
    op->remaining = r->content_length;
    if (r->framing == H1_BODY_CHUNKED)
        h1_chunked_init(&op->chunked, 0, 0);
    dp_body_init(&op->body, &op_body_class,
                 r->framing == H1_BODY_LENGTH ? (int64_t)r->content_length
                                              : -1);
    op->state = OP_BODY;
    op->want = false;
    /* READABLE stays on (and WRITABLE goes): a body that is read at
     * once, the usual case, then costs no epoll_ctl(); input that comes
     * while the consumer does not want it stops it (conn_poll_cb). */
    conn_set_poll(conn, UV_READABLE);
    uv_timer_stop(&conn->timer);
    handler->response(ctx, r, &op->body);
}

/* A tunnel closed a socket op_upgrade() handed over: its slot in the
 * address's limit is free.  (Nodes live as long as the client, and the
 * tunnels are closed before the client is freed: dp_proxy_shutdown().) */
static void
node_tunnel_released(void *ctx)
{
    struct node *node = ctx;
    node->n_conns--;
    node_kick(node);
}

/* 101 to an Upgrade request: the connection leaves the client (its
 * handles close, its socket and TLS session go to the handler; the
 * socket keeps its slot in `limit` until the tunnel releases it). */
static void
op_upgrade(struct dp_http_op *op, const struct h1_response_head *r)
{
    struct hconn *conn = op->conn;
    struct node *node = conn->node;
    size_t used = op->head_start + r->head_len;
    if (!op->req_done || op->out_pos < op->out_len || op->pipe.fill > 0) {
        op_fail(op, 502, "backend %s: 101 Switching Protocols before the "
                "request was sent", node->name);
        return;
    }
    struct dp_stream st = { .fd = conn->fd, .ssl = conn->ssl };
    if (conn->in_len > used) {
        st.in = malloc(conn->in_len - used);
        if (st.in == NULL) {
            op_fail(op, 502, "backend %s: out of memory", node->name);
            return;
        }
        st.in_len = conn->in_len - used;
        memcpy(st.in, conn->in + used, st.in_len);
    }
    snprintf(st.name, sizeof(st.name), "backend %s", node->name);
    st.release = node_tunnel_released;
    st.release_ctx = node;
    conn->fd = -1;
    conn->ssl = NULL;
    op->conn = NULL;
    conn->op = NULL;
    conn_close(conn);               /* conn->in lives until its callback */
    node->n_conns++;                /* the socket's slot stays taken */
    op->state = OP_BODY;
    op->handler->upgrade(op->ctx, r, &st);
    op_free(op);
    node_kick(node);
}

/* Readable while sending or waiting for the head. */
static void
op_read_head(struct dp_http_op *op)
{
    struct hconn *conn = op->conn;
    for (;;) {
        if (conn->in_len == IN_CAP) {
            op_fail(op, 502, "backend %s: response head too large",
                    conn->node->name);
            return;
        }
        ssize_t n = conn_recv(conn, conn->in + conn->in_len,
                              IN_CAP - conn->in_len);
        if (n == IO_AGAIN)
            return;
        if (n <= 0) {
            int e = n < 0 ? errno : 0;
            bool nothing = conn->in_len == 0;
            if (nothing && conn->reused && op->idempotent &&
                !op->had_body && !op->retried) {
                /* the keep-alive race: once more on a new connection */
                struct node *node = conn->node;
                op->retried = true;
                op->fresh = true;
                op->client->stats.retries++;
                conn_close(conn);
                op_acquire(op);
                node_kick(node);
                return;
            }
            if (e != 0)
                op_fail(op, 502, "backend %s: %s %s", conn->node->name,
                        nothing ? "no response:" : "response head cut off:",
                        strerror(e));
            else
                op_fail(op, 502, "backend %s closed the connection %s",
                        conn->node->name,
                        nothing ? "without a response"
                                : "in the middle of the response head");
            return;
        }
        conn->in_len += (size_t)n;
        for (;;) {
            struct h1_response_head r;
            enum h1_result res = h1_parse_response(
                &op->parser, conn->in + op->head_start,
                conn->in_len - op->head_start, &r);
            if (res == H1_NEED_MORE)
                break;
            if (res == H1_ERROR) {
                op_fail(op, 502, "backend %s: malformed response head: %s",
                        conn->node->name,
                        h1_response_parser_error(&op->parser));
                return;
            }
            if (r.status == 101) {
                if (op->upgrade && op->handler->upgrade != NULL)
                    op_upgrade(op, &r);
                else
                    op_fail(op, 502, "backend %s: 101 Switching Protocols "
                            "without an Upgrade request", conn->node->name);
                return;
            }
            if (r.status < 200) {
                /* interim: skip it */
                op->head_start += r.head_len;
                h1_response_parser_init(&op->parser, MAX_HEADERS, 0,
                                        op->hdrs, MAX_HEADERS, op->head);
                continue;
            }
            op_response(op, &r);
            return;
        }
    }
}

static void
op_read_body(struct dp_http_op *op)
{
    struct hconn *conn = op->conn;
    if (conn->in_pos > 0) {
        memmove(conn->in, conn->in + conn->in_pos,
                conn->in_len - conn->in_pos);
        conn->in_len -= conn->in_pos;
        conn->in_pos = 0;
    }
    if (conn->in_len == IN_CAP) {
        op_deliver(op);
        return;
    }
    ssize_t n = conn_recv(conn, conn->in + conn->in_len,
                          IN_CAP - conn->in_len);
    if (n == IO_AGAIN)
        return;
    if (n < 0) {
        char msg[300];
        snprintf(msg, sizeof(msg), "backend %s: reading the response body: "
                 "%s", conn->node->name, strerror(errno));
        op_body_fail(op, errno, msg);
        return;
    }
    if (n == 0)
        conn->eof = true;
    else
        conn->in_len += (size_t)n;
    op_deliver(op);
}

static void
conn_poll_cb(uv_poll_t *poll, int status, int events)
{
    struct hconn *conn = poll->data;
    if (conn->idle) {
        if (conn->ssl != NULL && status == 0) {
            /* TLS: session tickets and key updates are no data */
            uint8_t byte;
            ERR_clear_error();
            int n = SSL_peek(conn->ssl, &byte, 1);
            int e = n > 0 ? SSL_ERROR_NONE : SSL_get_error(conn->ssl, n);
            ERR_clear_error();
            if (e == SSL_ERROR_WANT_READ)
                return;
        }
        /* closed by the backend, or junk: not reusable */
        struct node *node = conn->node;
        conn_close(conn);
        node_kick(node);
        return;
    }
    struct dp_http_op *op = conn->op;
    if (op == NULL)
        return;
    if (op->state == OP_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        if (status < 0)
            err = -status;
        else if (getsockopt(conn->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (err != 0) {
            char why[160];
            snprintf(why, sizeof(why), "connect: %s", strerror(err));
            op_connect_failed(op, why, false);
            return;
        }
        if (conn->node->tls_host != NULL) {
            op_tls_start(op);
            return;
        }
        conn->node->fail_until = 0;
        op_begin_send(op);
        return;
    }
    if (op->state == OP_HANDSHAKE) {
        op_handshake(op);
        return;
    }
    if (status < 0)
        events |= UV_READABLE;  /* recv() reports the error */
    if (op->state == OP_SENDING || op->state == OP_HEAD) {
        if ((events & UV_WRITABLE) && op->state == OP_SENDING) {
            op_send(op);
            if (op->state == OP_DONE || op->conn != conn)
                return;
        }
        if (events & UV_READABLE)
            op_read_head(op);
        return;
    }
    if (op->state == OP_BODY && op->fd_ready != NULL) {
        void (*ready)(void *) = op->fd_ready;
        op->fd_ready = NULL;
        conn_set_poll(conn, 0);
        uv_timer_stop(&conn->timer);
        ready(op->body.ctx);    /* the consumer reads (op may go) */
        return;
    }
    if (op->state == OP_BODY && (events & UV_READABLE)) {
        if (!op->want) {
            conn_set_poll(conn, 0);     /* input waits in the kernel */
            return;
        }
        op_read_body(op);
    }
}

/* ---- the public calls ---- */

struct dp_http_op *
dp_http_client_request(struct dp_http_client *client,
                       const struct dp_http_request *request,
                       const struct dp_http_client_handler *handler,
                       void *ctx)
{
    size_t n = request->n_addresses;
    if (n == 0)
        return NULL;
    struct dp_http_op *op = malloc(sizeof(*op));
    if (op == NULL)
        return NULL;
    memset(op, 0, OP_ZEROED);
    op->client = client;
    op->pipe.r = op->pipe.w = -1;
    op->fail_msg[0] = op->errors[0] = op->req_error[0] = '\0';
    op->nodes = calloc(n, sizeof(*op->nodes) + sizeof(bool));
    /* room for the head, its framing line and CRLF, and with a body for
     * OUT_HIGH bytes of it with chunk framing */
    op->out_cap = request->head_len + 96 +
                  (request->body != NULL ? OUT_HIGH + 32 : 0);
    op->out = malloc(op->out_cap);
    if (op->nodes == NULL || op->out == NULL) {
        op_free(op);
        return NULL;
    }
    op->tried = (bool *)(op->nodes + n);
    for (size_t i = 0; i < n; i++) {
        op->nodes[i] = node_get(client, &request->addresses[i],
                                request->tls_host, request->cert);
        if (op->nodes[i] == NULL) {
            op_free(op);
            return NULL;
        }
    }
    op->client = client;
    op->handler = handler;
    op->ctx = ctx;
    op->n_addrs = n;
    op->start = client->rr++ % n;
    op->head = request->head;
    op->idempotent = request->idempotent;
    op->upgrade = request->upgrade && request->body == NULL;
    op->all_timeouts = true;
    memcpy(op->out, request->head_text, request->head_len);
    op->out_len = request->head_len;
    struct dp_body *body = request->body;
    if (body != NULL) {
        op->had_body = true;
        op->req_body = body;
        op->req_chunked = body->length < 0;
        if (op->req_chunked)
            op->out_len += (size_t)snprintf((char *)op->out + op->out_len,
                                            64, "Transfer-Encoding: "
                                            "chunked\r\n");
        else
            op->out_len += (size_t)snprintf((char *)op->out + op->out_len,
                                            64, "Content-Length: %lld\r\n",
                                            (long long)body->length);
        dp_body_set_handler(body, &req_body_handler, op);
    } else {
        op->req_done = true;
    }
    memcpy(op->out + op->out_len, "\r\n", 2);
    op->out_len += 2;
    op_next_address(op);
    return op;
}

void
dp_http_client_abort(struct dp_http_op *op)
{
    struct dp_http_client *client = op->client;
    if (op->state == OP_DONE) {
        /* its error is deferred: drop it */
        struct dp_http_op **pp = &client->deferred, *prev = NULL;
        while (*pp != NULL && *pp != op) {
            prev = *pp;
            pp = &(*pp)->next;
        }
        if (*pp != NULL) {
            *pp = op->next;
            if (client->deferred_tail == op)
                client->deferred_tail = prev;
        }
        op_free(op);
        return;
    }
    if (op->state == OP_WAITING)
        node_wait_remove(op->nodes[op->cur], op);   /* the client is gone */
    struct node *kick = NULL;
    if (op->conn != NULL) {
        kick = op->conn->node;
        conn_close(op->conn);
    }
    if (op->req_body != NULL)
        dp_body_close(op->req_body);
    op_free(op);
    if (kick != NULL)
        node_kick(kick);
}

void
dp_http_client_free(struct dp_http_client *client)
{
    if (client == NULL)
        return;
    client->freeing = true;
    for (struct node *n = client->nodes; n != NULL; n = n->next) {
        while (n->idle != NULL)
            conn_close(n->idle);
        if (n->has_timer)
            uv_close((uv_handle_t *)&n->wait_timer, node_timer_closed);
    }
    uv_close((uv_handle_t *)&client->defer_timer, client_handle_closed);
}
