/*
 * dp_http: connections as explicit state machines driven by one loop,
 * conn_advance(), so that a handler answering synchronously, pipelined
 * requests and body sources answering later all take the same path and
 * nothing recurses:
 *
 *   IDLE/HEAD --head parsed--> HANDLER --respond--> WRITE --done--> DRAIN
 *        ^                                                            |
 *        +------------------ keep-alive ------------------------------+
 *
 * Any state may go to CLOSED.  Handles are freed in their close
 * callbacks, so a connection pointer stays valid until the loop's next
 * iteration even after conn_close().
 */
#include "dp_http.h"
#include "dp_client_ban.h"
#include "dp_http_date.h"
#include "dp_log.h"
#include "dp_splice.h"
#include "dp_tls.h"
#include "dp_tunnel.h"
#include "h1_chunked.h"
#include "h1_request.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MAX_CONNECTIONS 8192
#define DEFAULT_HEAD_TIMEOUT_MS 20000
#define DEFAULT_KEEPALIVE_TIMEOUT_MS 30000
#define DEFAULT_WRITE_TIMEOUT_MS 60000
#define DEFAULT_DRAIN_LIMIT (64 * 1024)
#define DEFAULT_MAX_HEADERS 100
#define DEFAULT_MAX_HEAD (16 * 1024)
#define DEFAULT_BODY_TIMEOUT_MS 60000
#define DEFAULT_TARPIT_DELAY_MS 1000
#define ACCEPT_BATCH 64
#define OUT_HIGH_WATER (64 * 1024)    /* body bytes buffered per write */
#define OUT_SPARE_MAX (16 * 1024)     /* larger output buffers are freed */
/* Per sendfile() call (and per splice step); a connection that has more
 * to send then waits for its next writable event, so that one large body
 * does not hold the loop while other connections wait (fairness, p99). */
#define SENDFILE_MAX (256 * 1024)
/* A request's pool block: a proxied request (the header array, the
 * handler's state, the forwarded heads) fits, so it costs no malloc(). */
#define REQUEST_POOL_BLOCK (8 * 1024)
#define LINGER_TIMEOUT_MS 2000
#define LINGER_MAX_BYTES (1024 * 1024)
#define TLS_RECORD_HANDSHAKE 0x16     /* first byte of a ClientHello */
/* An idle TLS connection keeps its buffers this long (conn_tls_idle). */
#ifndef TLS_IDLE_RELEASE_MS
#define TLS_IDLE_RELEASE_MS 250
#endif
#define STS_HEADER \
    "Strict-Transport-Security: max-age=15768000; includeSubDomains\r\n"

enum conn_state {
    CONN_HEAD = 1,     /* waiting for (the rest of) a request head */
    CONN_HANDLER,      /* the handler owns the request */
    CONN_WRITE,        /* sending the response */
    CONN_DRAIN,        /* discarding an unread request body */
    CONN_LINGER,       /* response sent, write side shut: discarding
                          input until the client closes, so that unread
                          bytes do not turn our close into a reset */
    CONN_CLOSED,
};

struct dp_listener {
    struct dp_http_server *server;
    struct dp_listener *next;
    uv_poll_t poll;
    int fd;
    char *tag;
    void *handler_ctx;
    struct dp_tls_server *tls;        /* NULL: plain HTTP */
    bool active;
};

struct dp_http_server {
    uv_loop_t *loop;
    struct dp_http_settings settings;
    dp_http_handler handler;
    void *handler_ctx;
    dp_http_access_log access_log;
    void *access_log_ctx;
    struct dp_listener *listeners;
    struct dp_conn *conns;
    unsigned n_conns;
    /* Client sockets handed to tunnels (dp_request_upgrade()) and not
     * closed yet: they count toward max_connections with n_conns. */
    unsigned n_tunnels;
    /* The listeners paused on EMFILE/ENFILE: the next close resumes. */
    bool fd_paused;
    uint64_t next_id;
    time_t date_sec;
    char date[40];                    /* "Date: <IMF-fixdate>\r\n" */
    size_t date_len;
    bool shutting_down;
    void (*shutdown_cb)(void *ctx);
    void *shutdown_ctx;
    int open_handles;
    struct dp_http_stats stats;
    /* Request pools between requests: an idle connection holds none. */
    struct dp_pool *free_pools[64];
    unsigned n_free_pools;
    /* REJECT_CLIENT / TARPIT_CLIENT (NULL until the first one). */
    struct dp_client_ban *bans;
    /* Input buffers (max_head_size bytes) likewise. */
    uint8_t *free_bufs[64];
    unsigned n_free_bufs;
    /* Output buffers (up to OUT_SPARE_MAX bytes) likewise: a response
     * then costs no malloc(), realloc() and free(). */
    struct pr_buf free_outs[8];
    unsigned n_free_outs;
    /* Pipes for splicing socket bodies (dp_splice). */
    struct dp_pipe_pool pipes;
};

/* The request body as a source: see "the request body" below. */
struct req_body {
    struct dp_body base;
    struct dp_conn *conn;
    struct h1_chunked chunked;
    bool is_chunked;
    bool want_input;      /* waiting for the socket */
    bool pumping;         /* inside rbody_pump() */
    bool again;           /* dp_body_read() came during the pump */
    size_t pending;       /* chunked: data bytes at the front of conn->in */
    uint64_t received;    /* body bytes handed to the consumer */
    bool fd_consumer;     /* the consumer asked for the descriptor
                             (rbody_fd): once conn->in is used up, it
                             takes the socket itself */
    void (*fd_ready)(void *ctx);  /* dp_body_fd_wait(): call when the
                                     socket is readable */
};

struct dp_conn {
    struct dp_http_server *server;
    struct dp_conn *prev, *next;
    uv_poll_t poll;
    uv_timer_t timer;
    /* The timer is lazy (conn_set_timer): timer_deadline is when the
     * current timeout expires (0: none), timer_due when the libuv timer
     * fires (UINT64_MAX: armed for something else, the tarpit). */
    uint64_t timer_deadline;
    uint64_t timer_due;
    int fd;
    int open_handles;
    enum conn_state state;
    bool advancing;                   /* inside conn_advance() */
    bool want_write;                  /* polling for writability */
    int poll_events;                  /* what conn->poll waits for */
    bool maybe_readable;              /* the socket may hold input */
    bool tarpit;                      /* TARPIT_CLIENT: requests wait */
    bool hup_checked;                 /* CONN_HANDLER: a hang-up event
                                         came with input still pending */
    bool handler_input;               /* CONN_HANDLER: input came: wait
                                         for the hang-up alone */
    uint64_t id;
    struct sockaddr_storage peer;
    char peer_text[64];
    const char *listener_tag;
    void *handler_ctx;

    /* input: bytes received and not yet consumed, from in[0] */
    uint8_t *in;
    size_t in_len, in_cap;
    bool peer_closed;

    /* the current head parse, and the request */
    struct h1_parser *h1;             /* in the pool, while parsing */
    bool h1_started;
    struct dp_pool *pool;                /* NULL between requests */
    struct dp_request req;
    const char *request_line;         /* for logs: "GET /x HTTP/1.1";
                                         in the pool, or static "-" */
    bool keep_alive;
    bool head_only;                   /* HEAD: no body bytes */
    bool body_chunked_in;             /* request body is chunked */
    bool expect_continue;             /* Expect: 100-continue, no 100 sent */
    uint64_t body_in_left;            /* Content-Length bytes unread */
    void (*abort_fn)(void *ctx);
    void *abort_ctx;
    dp_response_filter resp_filter;   /* dp_request_set_response_filter */
    void *resp_filter_ctx;
    struct req_body *rbody;           /* dp_request_body(), while open */
    bool rbody_used;                  /* dp_request_body() was called */

    /* the response */
    unsigned status;
    struct pr_buf out;
    size_t out_pos;
    struct dp_body *body;
    bool chunked_out;
    bool body_done;
    bool body_failed;
    uint64_t body_sent;               /* body bytes, without framing */
    int64_t response_length;          /* Content-Length sent, or -1 */
    struct dp_pipe pipe;              /* splice socket -> pipe -> socket:
                                         from server->pipes, or -1 */
    int8_t pipe_splice;               /* dp_splice_pipe_suits() for this
                                         connection: 1 yes, -1 no, 0 not
                                         asked yet */
    bool fd_off;                      /* the body's descriptor ended or
                                         failed: read it (dp_body_read) */

    /* TLS: `tls` is the listener's while the connection speaks (or may
     * still speak) TLS, NULL on a plain connection; `ssl` exists once the
     * first byte said TLS. */
    struct dp_tls_server *tls;
    struct dp_tls_server *listener_tls;
    SSL *ssl;
    int tls_poll_extra;               /* UV_WRITABLE: SSL_read must write */
    bool tls_established;             /* handshake done, peer looked at */
    bool tls_idle;                    /* waiting, buffers held since
                                         tls_idle_since (conn_tls_idle) */
    uint64_t tls_idle_since;
    bool plain_on_tls;                /* plain HTTP on a TLS listener */
    bool sts;                         /* add Strict-Transport-Security */
    char *peer_subject, *peer_issuer; /* verified client certificate */
};

static const struct dp_body_handler conn_body_handler;
static void conn_advance(struct dp_conn *conn);
static void rbody_end(struct dp_conn *conn, const char *why);
static bool rbody_wants_input(const struct dp_conn *conn);
static void conn_poll_cb(uv_poll_t *poll, int status, int events);
static void listener_resume_all(struct dp_http_server *server);

/* ---- small helpers ---- */

/* one line to stderr in one write (dp_log.h) */
#define log_line dp_log_line

static const char *
reason_phrase(unsigned status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default:
        break;
    }
    if (status < 200)
        return "Informational";
    if (status < 300)
        return "Success";
    if (status < 400)
        return "Redirection";
    if (status < 500)
        return "Client Error";
    return "Server Error";
}

static const char *const month[] = { "Jan", "Feb", "Mar", "Apr", "May",
                                     "Jun", "Jul", "Aug", "Sep", "Oct",
                                     "Nov", "Dec" };

/* The Date header line, formatted once per second. */
static void
server_update_date(struct dp_http_server *server)
{
    time_t now = time(NULL);
    if (now == server->date_sec)
        return;
    server->date_sec = now;
    char date[DP_HTTP_DATE_SIZE];
    int n = dp_http_date_format(now, date) == 0
                ? snprintf(server->date, sizeof(server->date),
                           "Date: %s\r\n", date)
                : -1;
    server->date_len = n > 0 ? (size_t)n : 0;
}

/* v in decimal, written backwards from `end` (20 bytes are enough):
 * its first digit.  For the hot paths, where snprintf() costs more than
 * the rest of a line. */
static char *
decimal_before(char *end, uint64_t v)
{
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return p;
}

static int out_printf(struct pr_buf *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
out_printf(struct pr_buf *out, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(buf))
        return -EINVAL;
    return pr_buf_append(out, buf, (size_t)n);
}

static void
format_peer(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
    char ip[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        snprintf(out, outlen, "%s:%u", ip, ntohs(in->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
        snprintf(out, outlen, "[%s]:%u", ip, ntohs(in6->sin6_port));
    } else {
        snprintf(out, outlen, "local");
    }
}

static struct dp_pool *
pool_get(struct dp_http_server *server)
{
    if (server->n_free_pools > 0)
        return server->free_pools[--server->n_free_pools];
    return dp_pool_new(REQUEST_POOL_BLOCK);
}

static void
pool_put(struct dp_http_server *server, struct dp_pool *pool)
{
    dp_pool_reset(pool);
    if (server->n_free_pools < sizeof(server->free_pools) /
                                   sizeof(server->free_pools[0]))
        server->free_pools[server->n_free_pools++] = pool;
    else
        dp_pool_free(pool);
}

static uint8_t *
buf_get(struct dp_http_server *server)
{
    if (server->n_free_bufs > 0)
        return server->free_bufs[--server->n_free_bufs];
    return malloc(server->settings.max_head_size);
}

static void
buf_put(struct dp_http_server *server, uint8_t *buf)
{
    if (buf == NULL)
        return;
    if (server->n_free_bufs < sizeof(server->free_bufs) /
                                  sizeof(server->free_bufs[0]))
        server->free_bufs[server->n_free_bufs++] = buf;
    else
        free(buf);
}

/* An output buffer from the spares for an empty conn->out. */
static void
out_get(struct dp_http_server *server, struct pr_buf *out)
{
    if (out->data == NULL && server->n_free_outs > 0) {
        *out = server->free_outs[--server->n_free_outs];
        out->len = 0;
    }
}

/* Give conn->out back (it is empty afterwards). */
static void
out_put(struct dp_http_server *server, struct pr_buf *out)
{
    if (out->data != NULL && out->cap <= OUT_SPARE_MAX &&
        server->n_free_outs < sizeof(server->free_outs) /
                                  sizeof(server->free_outs[0])) {
        server->free_outs[server->n_free_outs++] = *out;
        *out = (struct pr_buf)PR_BUF_INIT;
    } else {
        pr_buf_free(out);
    }
}

/* ---- request API ---- */

const char *
dp_request_header(const struct dp_request *req, const char *name)
{
    /* The first letter first: most names asked for are absent, and
     * strcasecmp() costs more than the whole test. */
    unsigned char c0 = (unsigned char)name[0] | 0x20;
    for (size_t i = 0; i < req->n_headers; i++)
        if (((unsigned char)req->headers[i].name[0] | 0x20) == c0 &&
            strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

void
dp_response_headers_init(struct dp_response_headers *h,
                         struct dp_pool *pool)
{
    h->pool = pool;
    h->data = NULL;
    h->len = 0;
    h->cap = 0;
}

int
dp_response_header(struct dp_response_headers *h, const char *name,
                   const char *value)
{
    return dp_response_header_n(h, name, strlen(name), value,
                                strlen(value));
}

int
dp_response_header_n(struct dp_response_headers *h, const char *name,
                     size_t nn, const char *value, size_t vn)
{
    size_t need = h->len + nn + 2 + vn + 2;
    if (need > h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 256;
        while (cap < need)
            cap *= 2;
        char *data = dp_pool_alloc(h->pool, cap);
        if (data == NULL)
            return -ENOMEM;
        if (h->len > 0)
            memcpy(data, h->data, h->len);
        h->data = data;
        h->cap = cap;
    }
    memcpy(h->data + h->len, name, nn);
    memcpy(h->data + h->len + nn, ": ", 2);
    memcpy(h->data + h->len + nn + 2, value, vn);
    memcpy(h->data + h->len + nn + 2 + vn, "\r\n", 2);
    h->len = need;
    return 0;
}

void
dp_request_set_response_filter(struct dp_request *req,
                               dp_response_filter fn, void *ctx)
{
    req->conn->resp_filter = fn;
    req->conn->resp_filter_ctx = ctx;
}

void
dp_request_set_abort(struct dp_request *req, void (*fn)(void *ctx),
                     void *ctx)
{
    req->conn->abort_fn = fn;
    req->conn->abort_ctx = ctx;
}

/* ---- connection lifetime ---- */

/* The client connections that count toward max_connections. */
static unsigned
server_load(const struct dp_http_server *server)
{
    return server->n_conns + server->n_tunnels;
}

static bool
server_full(const struct dp_http_server *server)
{
    return server_load(server) >= server->settings.max_connections;
}

static void
server_maybe_done(struct dp_http_server *server)
{
    if (server->shutting_down && server->n_conns == 0 &&
        server->n_tunnels == 0 &&
        server->open_handles == 0 && server->shutdown_cb != NULL) {
        void (*cb)(void *) = server->shutdown_cb;
        server->shutdown_cb = NULL;
        cb(server->shutdown_ctx);
    }
}

static void
conn_handle_closed(uv_handle_t *h)
{
    struct dp_conn *conn = h->data;
    if (--conn->open_handles > 0)
        return;
    struct dp_http_server *server = conn->server;
    free(conn);
    server->open_handles--;
    server_maybe_done(server);
}

static void
conn_release_body(struct dp_conn *conn)
{
    if (conn->body != NULL && !conn->body_done) {
        struct dp_body *body = conn->body;
        conn->body = NULL;
        dp_body_close(body);
    }
    conn->body = NULL;
}

/* A connection or a tunnel closed (was_full: the server was at
 * max_connections before; fd_freed: a descriptor was closed): paused
 * listeners accept again when a slot is free, or when they paused for
 * want of descriptors (EMFILE/ENFILE) and one was freed. */
static void
server_slot_freed(struct dp_http_server *server, bool was_full,
                  bool fd_freed)
{
    if ((was_full || (server->fd_paused && fd_freed)) &&
        !server_full(server) && !server->shutting_down) {
        server->fd_paused = false;
        listener_resume_all(server);
    }
}

static void
conn_close(struct dp_conn *conn)
{
    if (conn->state == CONN_CLOSED)
        return;
    struct dp_http_server *server = conn->server;
    bool was_handler = conn->state == CONN_HANDLER;
    conn->state = CONN_CLOSED;
    rbody_end(conn, "the connection closed before the request body was "
                    "read");
    if (was_handler && conn->abort_fn != NULL) {
        void (*fn)(void *) = conn->abort_fn;
        conn->abort_fn = NULL;
        fn(conn->abort_ctx);
    }
    conn_release_body(conn);
    dp_pipe_pool_put(&server->pipes, &conn->pipe);  /* closed if not empty */
    if (conn->pool != NULL) {
        pool_put(server, conn->pool);
        conn->pool = NULL;
    }
    conn->request_line = "-";
    conn->h1 = NULL;
    buf_put(server, conn->in);
    conn->in = NULL;
    out_put(server, &conn->out);
    if (conn->prev != NULL)
        conn->prev->next = conn->next;
    else
        server->conns = conn->next;
    if (conn->next != NULL)
        conn->next->prev = conn->prev;
    bool was_full = server_full(server);
    server->n_conns--;
    uv_close((uv_handle_t *)&conn->poll, conn_handle_closed);
    uv_close((uv_handle_t *)&conn->timer, conn_handle_closed);
    if (conn->ssl != NULL) {
        SSL_free(conn->ssl);
        conn->ssl = NULL;
        free(conn->peer_subject);
        free(conn->peer_issuer);
        conn->peer_subject = conn->peer_issuer = NULL;
        ERR_clear_error();
    }
    bool fd_freed = conn->fd >= 0;     /* not one handed to a tunnel */
    close(conn->fd);
    conn->fd = -1;
    /* (a connection that became a tunnel frees no slot) */
    server_slot_freed(server, was_full, fd_freed);
}

/* A tunnel closed the client socket that dp_request_upgrade() handed
 * over: its slot is free. */
static void
server_tunnel_released(void *ctx)
{
    struct dp_http_server *server = ctx;
    bool was_full = server_full(server);
    server->n_tunnels--;
    server_slot_freed(server, was_full, true);
    server_maybe_done(server);
}

/* An idle TLS connection gives its buffers back: OpenSSL's record
 * buffers (about 34 KiB), conn->in and conn->out. */
static void
conn_tls_release(struct dp_conn *conn)
{
    conn->tls_idle = false;
    if (conn->tls_poll_extra == 0)
        dp_tls_release_buffers(conn->ssl);
    buf_put(conn->server, conn->in);
    conn->in = NULL;
    conn->in_cap = 0;
    out_put(conn->server, &conn->out);
    conn->out_pos = 0;
}

/* conn_timeout_cb: release the buffers of a TLS connection idle for
 * TLS_IDLE_RELEASE_MS.  The release time when it is still ahead, else 0
 * (released, or busy again: it is idle anew when it waits next). */
static uint64_t
conn_tls_idle_check(struct dp_conn *conn, uint64_t now)
{
    if (conn->state != CONN_HEAD || conn->in_len > 0 ||
        conn->out_pos < conn->out.len) {
        conn->tls_idle = false;
        return 0;
    }
    uint64_t release = conn->tls_idle_since + TLS_IDLE_RELEASE_MS;
    if (now < release)
        return release;
    conn_tls_release(conn);
    return 0;
}

static void
conn_timeout_cb(uv_timer_t *timer)
{
    struct dp_conn *conn = timer->data;
    uint64_t now = uv_now(timer->loop);
    uint64_t release = conn->tls_idle ? conn_tls_idle_check(conn, now) : 0;
    if (conn->timer_deadline == 0 || now < conn->timer_deadline) {
        /* stopped or moved later meanwhile: sleep on, or until the
         * buffers' release */
        uint64_t due = conn->timer_deadline;
        if (release != 0 && (due == 0 || release < due))
            due = release;
        if (due != 0) {
            conn->timer_due = due;
            uv_timer_start(timer, conn_timeout_cb, due - now, 0);
        }
        return;
    }
    switch (conn->state) {
    case CONN_HEAD:
        if (conn->in_len > 0)
            log_line("conn %llu %s: timeout reading the request head "
                     "(%zu bytes received)", (unsigned long long)conn->id,
                     conn->peer_text, conn->in_len);
        break;
    case CONN_WRITE:
        log_line("conn %llu %s: write timeout, closing (\"%s\", %llu body "
                 "bytes sent)", (unsigned long long)conn->id,
                 conn->peer_text, conn->request_line,
                 (unsigned long long)conn->body_sent);
        break;
    case CONN_HANDLER:
        if (rbody_wants_input(conn))
            log_line("conn %llu %s: \"%s\": timeout reading the request "
                     "body (%llu bytes received)",
                     (unsigned long long)conn->id, conn->peer_text,
                     conn->request_line,
                     (unsigned long long)conn->rbody->received);
        break;
    case CONN_DRAIN:
    case CONN_LINGER:
    case CONN_CLOSED:
        break;
    }
    conn_close(conn);
}

static void
conn_set_timer(struct dp_conn *conn, uint64_t ms)
{
    /* Every request sets and stops timers several times: only move the
     * deadline, and restart the libuv timer only when it would fire too
     * late; conn_timeout_cb re-arms it when it fires too early. */
    uint64_t deadline = uv_now(conn->timer.loop) + ms;
    conn->timer_deadline = deadline;
    if (conn->timer_due <= deadline &&
        uv_is_active((const uv_handle_t *)&conn->timer))
        return;
    conn->timer_due = deadline;
    uv_timer_start(&conn->timer, conn_timeout_cb, ms, 0);
}

static void
conn_stop_timer(struct dp_conn *conn)
{
    conn->timer_deadline = 0;   /* a pending libuv timer does nothing */
}

/*
 * A TLS connection waits for its next request.  It keeps its buffers
 * (OpenSSL's, conn->in, conn->out) for TLS_IDLE_RELEASE_MS, so that a busy
 * connection does not free and allocate them again for every request
 * (SSL_MODE_RELEASE_BUFFERS did that: 6% of an HTTPS request's
 * instructions); conn_timeout_cb releases them when the wait lasts.
 */
static void
conn_tls_idle(struct dp_conn *conn)
{
    uint64_t now = uv_now(conn->timer.loop);
    uint64_t release = now + TLS_IDLE_RELEASE_MS;
    conn->tls_idle = true;
    conn->tls_idle_since = now;
    /* The lazy timer fires at timer_due: bring it forward only when that
     * is far later than the release, so that a busy connection restarts
     * it about once per TLS_IDLE_RELEASE_MS, not for every request (a
     * release comes up to twice the delay after the wait began). */
    if (uv_is_active((const uv_handle_t *)&conn->timer) &&
        conn->timer_due <= release + TLS_IDLE_RELEASE_MS)
        return;
    conn->timer_due = release;
    uv_timer_start(&conn->timer, conn_timeout_cb, TLS_IDLE_RELEASE_MS, 0);
}

static void
conn_poll(struct dp_conn *conn, int events)
{
    conn->want_write = (events & UV_WRITABLE) != 0;
    if (rbody_wants_input(conn))
        events |= UV_READABLE | conn->tls_poll_extra;
    /* While a handler works (a CGI program, a backend), hear the client
     * hang up so that its abort callback ends that work at once.  The
     * READABLE of the request head stays on for that until input comes
     * (EPOLLIN reports the FIN too): a change costs two epoll_ctl(). */
    if (conn->state == CONN_HANDLER && !(events & UV_READABLE) &&
        !conn->hup_checked) {
        if (events == 0 && conn->poll_events == UV_READABLE &&
            !conn->handler_input)
            events = UV_READABLE;
        else
            events |= UV_DISCONNECT;
    }
    if (events == conn->poll_events)
        return;     /* unchanged: no epoll_ctl */
    conn->poll_events = events;
    if (events == 0)
        uv_poll_stop(&conn->poll);
    else
        uv_poll_start(&conn->poll, events, conn_poll_cb);
}

/* ---- reading ---- */

/* The handshake is done: note the client certificate. */
static void
conn_tls_established(struct dp_conn *conn)
{
    conn->tls_established = true;
    if (dp_tls_peer_names(conn->ssl, &conn->peer_subject,
                          &conn->peer_issuer) != 0)
        log_line("conn %llu %s: out of memory for the client certificate's "
                 "names", (unsigned long long)conn->id, conn->peer_text);
}

/*
 * recv() for a connection on a TLS listener, with recv()'s results (>0,
 * 0 at EOF, -1 with errno; EAGAIN when OpenSSL waits for the socket, with
 * conn->tls_poll_extra saying whether it waits to write).  The first byte
 * decides: a TLS record starts the handshake, anything else makes this a
 * plain connection (conn->plain_on_tls), answered by conn_parse().
 */
static ssize_t
conn_tls_recv(struct dp_conn *conn, uint8_t *buf, size_t len)
{
    if (conn->ssl == NULL) {
        uint8_t first;
        ssize_t n = recv(conn->fd, &first, 1, MSG_PEEK);
        if (n <= 0)
            return n;
        if (first != TLS_RECORD_HANDSHAKE) {
            conn->plain_on_tls = true;
            conn->tls = NULL;
            return recv(conn->fd, buf, len, 0);
        }
        conn->ssl = SSL_new(dp_tls_server_ctx(conn->tls));
        if (conn->ssl == NULL || SSL_set_fd(conn->ssl, conn->fd) != 1) {
            log_line("conn %llu %s: cannot start TLS: %s",
                     (unsigned long long)conn->id, conn->peer_text,
                     dp_tls_error_reason("out of memory"));
            errno = ENOMEM;
            return -1;
        }
        SSL_set_accept_state(conn->ssl);
        conn->sts = dp_tls_server_sts(conn->tls);
    }
    conn->tls_poll_extra = 0;
    int n = SSL_read(conn->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0) {
        if (!conn->tls_established)
            conn_tls_established(conn);
        return n;
    }
    int e = SSL_get_error(conn->ssl, n);
    switch (e) {
    case SSL_ERROR_WANT_READ:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        conn->tls_poll_extra = UV_WRITABLE;
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;       /* close_notify */
    default:
        break;
    }
    if (!conn->tls_established)
        log_line("conn %llu %s: TLS handshake failed: %s",
                 (unsigned long long)conn->id, conn->peer_text,
                 e == SSL_ERROR_SYSCALL
                     ? (ERR_peek_error() == 0 ? "connection closed"
                                              : dp_tls_error_reason("?"))
                     : dp_tls_error_reason("protocol error"));
    ERR_clear_error();
    errno = ECONNRESET;
    return -1;
}

/* Read what the socket has into conn->in.  Returns bytes read, 0 when
 * nothing is available now, -1 on EOF or error (conn->peer_closed). */
static ssize_t
conn_fill(struct dp_conn *conn)
{
    struct dp_http_server *server = conn->server;
    if (conn->in == NULL) {
        conn->in_cap = server->settings.max_head_size;
        conn->in = buf_get(server);
        if (conn->in == NULL) {
            conn->peer_closed = true;
            return -1;
        }
    }
    if (conn->in_len == conn->in_cap)
        return 0;
    ssize_t n = conn->tls == NULL
                    ? recv(conn->fd, conn->in + conn->in_len,
                           conn->in_cap - conn->in_len, 0)
                    : conn_tls_recv(conn, conn->in + conn->in_len,
                                    conn->in_cap - conn->in_len);
    if (n > 0) {
        conn->in_len += (size_t)n;
        return n;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    conn->peer_closed = true;
    return -1;
}

static void
conn_consume(struct dp_conn *conn, size_t n)
{
    memmove(conn->in, conn->in + n, conn->in_len - n);
    conn->in_len -= n;
}

/* ---- the request body as a source (dp_request_body) ----
 *
 * The body's bytes come from conn->in, which the socket refills.  For a
 * chunked body the decoder strips the framing in place: the data span it
 * finds stays at the front of conn->in (`pending` bytes) until the
 * consumer took it, so back-pressure never needs a copy.
 *
 * A Content-Length body on a plain connection also offers the socket
 * itself (rbody_fd, the readable-descriptor fast path of dp_body.h):
 * once the bytes that came with the head are handed over, a consumer
 * that splices (the HTTP client towards a plain backend socket) reads
 * the rest straight from the socket, at most body_in_left bytes, so
 * that a pipelined request behind the body stays in the kernel.  Such a
 * consumer asked for the descriptor before it read (fd_consumer): the
 * pump then stops when conn->in is used up instead of refilling it, and
 * the consumer asks again. */

/* The socket may serve the rest of the body: a Content-Length body with
 * bytes to come, nothing of it buffered, a plain connection. */
static bool
rbody_socket_ready(const struct dp_conn *conn, const struct req_body *rb)
{
    return !rb->is_chunked && conn->ssl == NULL && conn->tls == NULL &&
           conn->in_len == 0 && conn->body_in_left > 0 &&
           !conn->peer_closed;
}


static bool
rbody_wants_input(const struct dp_conn *conn)
{
    return conn->rbody != NULL && conn->rbody->want_input;
}

/* Stop reading for the body: it ended, was closed, or failed.  With `why`
 * the consumer gets error() (when it still listens). */
static void
rbody_end(struct dp_conn *conn, const char *why)
{
    struct req_body *rb = conn->rbody;
    if (rb == NULL)
        return;
    conn->rbody = NULL;
    rb->want_input = false;
    rb->fd_ready = NULL;
    if (conn->state == CONN_HANDLER)
        conn_stop_timer(conn);
    if (rb->pending > 0) {
        /* Unread data of a chunk: the framing around it is gone, so the
         * connection cannot be reused. */
        conn->keep_alive = false;
        conn->body_chunked_in = true;
    }
    if (why != NULL && rb->base.handler != NULL) {
        const struct dp_body_handler *h = rb->base.handler;
        rb->base.handler = NULL;
        h->error(rb->base.ctx, ECONNABORTED, why);
    }
}

static void
rbody_fail(struct dp_conn *conn, int err, const char *msg)
{
    struct req_body *rb = conn->rbody;
    const struct dp_body_handler *h = rb->base.handler;
    void *ctx = rb->base.ctx;
    rb->base.handler = NULL;
    rbody_end(conn, NULL);
    conn->keep_alive = false;
    log_line("conn %llu %s: \"%s\": request body: %s",
             (unsigned long long)conn->id, conn->peer_text,
             conn->request_line, msg);
    if (h != NULL)
        h->error(ctx, err, msg);
}

static void
rbody_eof(struct dp_conn *conn)
{
    struct req_body *rb = conn->rbody;
    const struct dp_body_handler *h = rb->base.handler;
    void *ctx = rb->base.ctx;
    rb->base.handler = NULL;
    rb->base.length = 0;
    conn->body_chunked_in = false;
    rbody_end(conn, NULL);
    if (h != NULL)
        h->eof(ctx);
}

/* "HTTP/1.1 100 Continue" before the first body byte is read, unless a
 * final response is already under way. */
static void
rbody_continue(struct dp_conn *conn)
{
    static const char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
    conn->expect_continue = false;
    if (conn->state != CONN_HANDLER)
        return;
    ssize_t n;
    if (conn->ssl != NULL) {
        /* One record: all or nothing.  When OpenSSL must wait, the line
         * leaves from conn->out, which passes it to SSL_write() again as
         * a retry must. */
        n = SSL_write(conn->ssl, line, (int)sizeof(line) - 1);
        ERR_clear_error();
    } else {
        n = send(conn->fd, line, sizeof(line) - 1, MSG_NOSIGNAL);
    }
    if (n < 0)
        n = 0;
    if ((size_t)n < sizeof(line) - 1)
        /* The rest leaves ahead of the response head. */
        pr_buf_append(&conn->out, line + n, sizeof(line) - 1 - (size_t)n);
}

/* Hand the consumer what conn->in holds; read more when it is empty. */
static void
rbody_pump(struct dp_conn *conn)
{
    struct req_body *rb = conn->rbody;
    char msg[200];
    for (;;) {
        if (conn->rbody != rb || rb->base.handler == NULL)
            return;
        const uint8_t *data = NULL;
        size_t avail = 0;
        if (rb->is_chunked) {
            if (rb->pending == 0 && conn->in_len > 0) {
                size_t used;
                struct pr_slice span;
                enum h1_chunked_status st =
                    h1_chunked_feed(&rb->chunked, conn->in, conn->in_len,
                                    &used, &span);
                if (st == H1_CHUNKED_ERROR) {
                    snprintf(msg, sizeof(msg), "bad chunked encoding: %s",
                             h1_chunked_error(&rb->chunked));
                    rbody_fail(conn, EBADMSG, msg);
                    return;
                }
                if (st == H1_CHUNKED_END) {
                    conn_consume(conn, used);
                    rbody_eof(conn);
                    return;
                }
                if (st == H1_CHUNKED_DATA) {
                    /* Keep the span at the front of conn->in. */
                    size_t framing = (size_t)(span.data - conn->in);
                    conn_consume(conn, framing);
                    rb->pending = span.len;
                } else {
                    conn_consume(conn, used);
                }
            }
            data = conn->in;
            avail = rb->pending;
        } else {
            if (conn->body_in_left == 0) {
                rbody_eof(conn);
                return;
            }
            data = conn->in;
            avail = conn->in_len < conn->body_in_left
                        ? conn->in_len : (size_t)conn->body_in_left;
        }
        if (avail > 0) {
            if (conn->state == CONN_HANDLER)
                conn_stop_timer(conn);
            size_t took = rb->base.handler->data(rb->base.ctx, data, avail);
            if (conn->rbody != rb)
                return;
            if (took > avail)
                took = avail;
            conn_consume(conn, took);
            rb->received += took;
            if (rb->is_chunked) {
                rb->pending -= took;
            } else {
                conn->body_in_left -= took;
                rb->base.length = (int64_t)conn->body_in_left;
            }
            if (took < avail)
                return;         /* back-pressure: the consumer reads again */
            if (rb->fd_consumer && rbody_socket_ready(conn, rb))
                return;         /* it asks for the socket next */
            continue;
        }
        /* conn->in holds no body bytes: read the socket. */
        if (conn->expect_continue)
            rbody_continue(conn);
        ssize_t r = conn_fill(conn);
        if (r > 0)
            continue;
        if (r < 0) {
            snprintf(msg, sizeof(msg),
                     "connection closed after %llu body bytes",
                     (unsigned long long)rb->received);
            rbody_fail(conn, ECONNRESET, msg);
            return;
        }
        if (conn->in_len == conn->in_cap) {
            /* A full buffer without a complete chunk line. */
            rbody_fail(conn, EBADMSG, "chunk framing larger than the "
                                      "input buffer");
            return;
        }
        rb->want_input = true;
        if (conn->state == CONN_HANDLER)
            conn_set_timer(conn, conn->server->settings.body_timeout_ms);
        if (!conn->advancing)
            conn_poll(conn, conn->want_write ? UV_WRITABLE : 0);
        return;
    }
}

static void
rbody_read(struct dp_body *body)
{
    struct req_body *rb = (struct req_body *)body;
    struct dp_conn *conn = rb->conn;
    if (conn->rbody != rb)
        return;
    if (rb->pumping) {
        rb->again = true;
        return;
    }
    rb->pumping = true;
    rb->fd_ready = NULL;
    for (;;) {
        rb->again = false;
        rb->want_input = false;
        rbody_pump(conn);
        /* An ended body may be gone with its request's pool (the
         * consumer answered an error at once): look at rb no more. */
        if (conn->rbody != rb)
            return;
        if (!rb->again)
            break;
    }
    rb->pumping = false;
}

static void
rbody_close(struct dp_body *body)
{
    struct req_body *rb = (struct req_body *)body;
    rb->base.handler = NULL;
    if (rb->conn->rbody == rb)
        rbody_end(rb->conn, NULL);
}

/* The readable-descriptor fast path: the client socket, once nothing
 * of the body is buffered ("100 Continue" goes out first). */
static bool
rbody_fd(struct dp_body *body, struct dp_body_fd *out)
{
    struct req_body *rb = (struct req_body *)body;
    struct dp_conn *conn = rb->conn;
    if (conn->rbody != rb || rb->pumping)
        return false;
    rb->fd_consumer = true;
    if (!rbody_socket_ready(conn, rb))
        return false;
    if (conn->expect_continue)
        rbody_continue(conn);
    /* the consumer reads from here on: stop reading for it */
    rb->want_input = false;
    rb->fd_ready = NULL;
    if (conn->state == CONN_HANDLER)
        conn_stop_timer(conn);
    out->fd = conn->fd;
    out->length = conn->body_in_left > INT64_MAX
                      ? INT64_MAX : (int64_t)conn->body_in_left;
    out->is_pipe = false;
    return true;
}

static void
rbody_fd_advance(struct dp_body *body, uint64_t n)
{
    struct req_body *rb = (struct req_body *)body;
    struct dp_conn *conn = rb->conn;
    if (n > conn->body_in_left)
        n = conn->body_in_left;
    conn->body_in_left -= n;
    rb->received += n;
    rb->base.length = (int64_t)conn->body_in_left;
    conn->server->stats.request_bytes_spliced += n;
}

/* The socket had nothing: watch it (with the body timeout while the
 * handler waits) and call ready() from conn_poll_cb. */
static void
rbody_fd_wait(struct dp_body *body, void (*ready)(void *ctx))
{
    struct req_body *rb = (struct req_body *)body;
    struct dp_conn *conn = rb->conn;
    if (conn->rbody != rb)
        return;
    rb->fd_ready = ready;
    rb->want_input = true;
    if (conn->state == CONN_HANDLER)
        conn_set_timer(conn, conn->server->settings.body_timeout_ms);
    if (!conn->advancing)
        conn_poll(conn, conn->want_write ? UV_WRITABLE : 0);
}

static const struct dp_body_class rbody_class = {
    .name = "request body",
    .read = rbody_read,
    .fd = rbody_fd,
    .fd_advance = rbody_fd_advance,
    .fd_wait = rbody_fd_wait,
    .close = rbody_close,
};

struct dp_body *
dp_request_body(struct dp_request *req)
{
    struct dp_conn *conn = req->conn;
    if (conn->rbody != NULL)
        return &conn->rbody->base;
    if (conn->rbody_used ||
        (conn->state != CONN_HANDLER && conn->state != CONN_WRITE) ||
        (!conn->body_chunked_in && conn->body_in_left == 0))
        return NULL;
    struct req_body *rb = dp_pool_alloc(req->pool, sizeof(*rb));
    if (rb == NULL)
        return NULL;
    memset(rb, 0, sizeof(*rb));
    dp_body_init(&rb->base, &rbody_class,
                 conn->body_chunked_in ? -1 : (int64_t)conn->body_in_left);
    rb->conn = conn;
    rb->is_chunked = conn->body_chunked_in;
    if (rb->is_chunked)
        h1_chunked_init(&rb->chunked, 0, 0);
    conn->rbody = rb;
    conn->rbody_used = true;
    return &rb->base;
}

/* ---- responding ---- */

static void
conn_response_error(struct dp_conn *conn, unsigned status);
static void conn_access_log(struct dp_conn *conn);

/* Append the response head to conn->out. */
static int
conn_build_head(struct dp_conn *conn, unsigned status,
                const struct dp_response_headers *headers, int64_t length,
                bool body_allowed)
{
    struct dp_http_server *server = conn->server;
    struct pr_buf *out = &conn->out;
    server_update_date(server);
    char num[24];
    char *end = num + sizeof(num);
    num[sizeof(num) - 1] = ' ';
    char *d = decimal_before(end - 1, status);
    const char *reason = reason_phrase(status);
    size_t reason_len = strlen(reason);
    const char *server_string = server->settings.server_string;
    size_t server_len = strlen(server_string);
    size_t headers_len = headers != NULL ? headers->len : 0;
    /* One reservation, then plain copies: the fixed lines below take at
     * most 160 bytes (status line without the reason, "Server: ",
     * Strict-Transport-Security, Content-Length or Transfer-Encoding,
     * Connection and the blank line). */
    _Static_assert(sizeof(STS_HEADER) < 96, "STS_HEADER too long");
    if (pr_buf_reserve(out, 96 + 160 + reason_len + server->date_len +
                                server_len + headers_len) != 0)
        return -ENOMEM;
    char *p = (char *)out->data + out->len;
#define PUT(s, n) (memcpy(p, (s), (n)), p += (n))
    PUT("HTTP/1.1 ", 9);
    PUT(d, (size_t)(end - d));
    PUT(reason, reason_len);
    PUT("\r\n", 2);
    PUT(server->date, server->date_len);
    PUT("Server: ", 8);
    PUT(server_string, server_len);
    PUT("\r\n", 2);
    if (headers_len > 0)
        PUT(headers->data, headers_len);
    if (conn->sts)
        PUT(STS_HEADER, sizeof(STS_HEADER) - 1);
    conn->chunked_out = false;
    conn->response_length = -1;
    if (body_allowed) {
        if (length >= 0) {
            conn->response_length = length;
            d = decimal_before(end, (uint64_t)length);
            PUT("Content-Length: ", 16);
            PUT(d, (size_t)(end - d));
            PUT("\r\n", 2);
        } else if (conn->req.version_minor >= 1) {
            conn->chunked_out = true;
            PUT("Transfer-Encoding: chunked\r\n", 28);
        } else {
            conn->keep_alive = false;   /* close-delimited */
        }
    }
    if (!conn->keep_alive)
        PUT("Connection: close\r\n\r\n", 21);
    else if (conn->req.version_minor == 0)
        PUT("Connection: keep-alive\r\n\r\n", 26);
    else
        PUT("\r\n", 2);
#undef PUT
    out->len = (size_t)((uint8_t *)p - out->data);
    return 0;
}

void
dp_request_respond(struct dp_request *req, unsigned status,
                   const struct dp_response_headers *headers,
                   struct dp_body *body)
{
    struct dp_conn *conn = req->conn;
    if (conn->state != CONN_HANDLER) {
        /* A second answer, or one after the connection died. */
        if (body != NULL)
            dp_body_close(body);
        return;
    }
    if (conn->resp_filter != NULL) {
        dp_response_filter fn = conn->resp_filter;
        conn->resp_filter = NULL;
        fn(conn->resp_filter_ctx, req, status, headers, body);
        return;
    }
    conn->abort_fn = NULL;
    conn->status = status;
    if (conn->rbody != NULL && conn->rbody->want_input)
        conn_stop_timer(conn);    /* the write timer takes over */
    bool body_allowed = status >= 200 && status != 204 && status != 304;
    int64_t length = body != NULL ? body->length : 0;
    if (conn->server->shutting_down)
        conn->keep_alive = false;
    /* An unread request body: drain it if small, else close after.  A
     * client that expects 100-continue and did not get it may never send
     * its body (RFC 9110 §10.1.1): close instead of waiting for it. */
    if (conn->body_chunked_in ||
        conn->body_in_left > conn->server->settings.body_drain_limit ||
        (conn->expect_continue && conn->body_in_left > conn->in_len))
        conn->keep_alive = false;
    if (conn->out_pos >= conn->out.len) {
        /* (else a "100 Continue" that did not fit the socket waits) */
        conn->out.len = 0;
        conn->out_pos = 0;
    }
    out_get(conn->server, &conn->out);
    if (conn_build_head(conn, status, headers, length, body_allowed) != 0) {
        if (body != NULL)
            dp_body_close(body);
        conn_close(conn);
        return;
    }
    conn->body_sent = 0;
    conn->body_done = false;
    conn->body_failed = false;
    conn->fd_off = false;
    if (body != NULL && (conn->head_only || !body_allowed)) {
        dp_body_close(body);
        body = NULL;
    }
    conn->body = body;
    if (body != NULL)
        dp_body_set_handler(body, &conn_body_handler, conn);
    conn->state = CONN_WRITE;
    conn->server->stats.status_class[status / 100 <= 5 ? status / 100 : 5]++;
    conn_set_timer(conn, conn->server->settings.write_timeout_ms);
    conn_advance(conn);
}

int
dp_request_upgrade(struct dp_request *req,
                   const struct dp_response_headers *headers,
                   struct dp_stream *out, uint8_t **head, size_t *head_len)
{
    struct dp_conn *conn = req->conn;
    struct dp_http_server *server = conn->server;
    if (conn->state != CONN_HANDLER || conn->resp_filter != NULL ||
        conn->rbody_used || conn->body_in_left > 0 ||
        conn->body_chunked_in || conn->out_pos < conn->out.len)
        return -EBUSY;
    uint8_t *in = NULL;
    if (conn->in_len > 0) {
        in = malloc(conn->in_len);
        if (in == NULL)
            return -ENOMEM;
        memcpy(in, conn->in, conn->in_len);
    }
    bool keep_alive = conn->keep_alive;
    conn->out.len = 0;
    conn->out_pos = 0;
    conn->keep_alive = true;            /* no "Connection: close" */
    struct dp_response_headers h = *headers;
    if (dp_response_header(&h, "Connection", "Upgrade") != 0 ||
        conn_build_head(conn, 101, &h, 0, false) != 0) {
        conn->out.len = 0;              /* nothing of it is sent */
        conn->keep_alive = keep_alive;
        free(in);
        return -ENOMEM;
    }
    *head = conn->out.data;             /* the caller frees it */
    *head_len = conn->out.len;
    conn->out = (struct pr_buf)PR_BUF_INIT;
    out->fd = conn->fd;
    out->ssl = conn->ssl;
    out->in = in;
    out->in_len = conn->in_len;
    snprintf(out->name, sizeof(out->name), "client %s (conn %llu)",
             conn->peer_text, (unsigned long long)conn->id);
    /* the socket keeps its max_connections slot until it is closed */
    out->release = server_tunnel_released;
    out->release_ctx = server;
    server->n_tunnels++;
    /* the request is answered: count it and log it */
    conn->status = 101;
    conn->body_sent = 0;
    server->stats.status_class[1]++;
    server->stats.requests++;
    conn_access_log(conn);
    /* the connection leaves the server without closing its socket */
    conn->abort_fn = NULL;
    conn->in_len = 0;
    if (conn->ssl != NULL) {
        free(conn->peer_subject);
        free(conn->peer_issuer);
        conn->peer_subject = conn->peer_issuer = NULL;
        conn->ssl = NULL;
    }
    conn->fd = -1;
    conn_close(conn);
    return 0;
}

static const char *
status_html(struct dp_pool *pool, unsigned status, size_t *len)
{
    char buf[256];
    int n = snprintf(buf, sizeof(buf),
                     "<!DOCTYPE html>\n<html><head><title>%u %s</title>"
                     "</head>\n<body><h1>%u %s</h1></body></html>\n",
                     status, reason_phrase(status), status,
                     reason_phrase(status));
    *len = (size_t)n;
    return dp_pool_strndup(pool, buf, (size_t)n);
}

void
dp_request_error(struct dp_request *req, unsigned status,
                 const char *log_msg)
{
    dp_request_error_headers(req, status, NULL, log_msg);
}

void
dp_request_error_headers(struct dp_request *req, unsigned status,
                         struct dp_response_headers *headers,
                         const char *log_msg)
{
    struct dp_conn *conn = req->conn;
    if (log_msg != NULL)
        log_line("conn %llu %s: \"%s\": %u: %s",
                 (unsigned long long)conn->id, conn->peer_text,
                 conn->request_line, status, log_msg);
    size_t len;
    const char *html = status_html(req->pool, status, &len);
    struct dp_response_headers h;
    if (headers == NULL) {
        dp_response_headers_init(&h, req->pool);
        headers = &h;
    }
    struct dp_body *body = NULL;
    if (html != NULL &&
        dp_response_header(headers, "Content-Type",
                           "text/html; charset=utf-8") == 0)
        body = dp_body_new_memory(req->pool, html, len);
    dp_request_respond(req, status, headers, body);
}

/* A head the parser refused: answer, then close. */
static void
conn_response_error(struct dp_conn *conn, unsigned status)
{
    conn->keep_alive = false;
    conn->req.version_minor = 1;
    conn->head_only = false;
    conn->state = CONN_HANDLER;
    conn->resp_filter = NULL;
    dp_request_error(&conn->req, status, NULL);
}

/* body handler: the source pushes data; we frame it into conn->out. */
static size_t
conn_body_data(void *ctx, const uint8_t *data, size_t len)
{
    struct dp_conn *conn = ctx;
    size_t room = conn->out.len - conn->out_pos < OUT_HIGH_WATER
                      ? OUT_HIGH_WATER - (conn->out.len - conn->out_pos)
                      : 0;
    if (room == 0)
        return 0;
    size_t take = len < room ? len : room;
    if (conn->response_length >= 0 &&
        (int64_t)(conn->body_sent + take) > conn->response_length)
        take = (size_t)(conn->response_length - (int64_t)conn->body_sent);
    if (take == 0)
        return 0;
    int rc = 0;
    if (conn->chunked_out)
        rc = out_printf(&conn->out, "%zx\r\n", take);
    if (rc == 0)
        rc = pr_buf_append(&conn->out, data, take);
    if (rc == 0 && conn->chunked_out)
        rc = pr_buf_append(&conn->out, "\r\n", 2);
    if (rc != 0)
        return 0;
    conn->body_sent += take;
    if (!conn->advancing && !conn->want_write)
        conn_poll(conn, UV_WRITABLE);   /* an async source: write soon */
    return take;
}

static void
conn_body_eof(void *ctx)
{
    struct dp_conn *conn = ctx;
    conn->body_done = true;
    conn->body = NULL;
    if (conn->chunked_out)
        pr_buf_append(&conn->out, "0\r\n\r\n", 5);
    if (!conn->advancing && !conn->want_write)
        conn_poll(conn, UV_WRITABLE);
}

static void
conn_body_error(void *ctx, int err, const char *msg)
{
    struct dp_conn *conn = ctx;
    conn->body_done = true;
    conn->body_failed = true;
    conn->body = NULL;
    log_line("conn %llu %s: \"%s\": response body failed after %llu "
             "bytes: %s", (unsigned long long)conn->id, conn->peer_text,
             conn->request_line, (unsigned long long)conn->body_sent, msg);
    (void)err;
    if (!conn->advancing && !conn->want_write)
        conn_poll(conn, UV_WRITABLE);
}

static const struct dp_body_handler conn_body_handler = {
    conn_body_data, conn_body_eof, conn_body_error,
};

enum step {
    STEP_AGAIN = 1,   /* progress made, go on */
    STEP_WAIT,        /* blocked: poll or async source */
    STEP_DONE,        /* the response is complete */
    STEP_DEAD,        /* the connection was closed */
};

/* SSL_write() what conn->out holds: bytes written, or 0 after setting the
 * poll events OpenSSL waits for, or -1 when the connection is dead.  A
 * retry after a wait passes the same bytes again (the buffer may have
 * moved or grown behind them: SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER). */
static ssize_t
conn_tls_send(struct dp_conn *conn)
{
    size_t len = conn->out.len - conn->out_pos;
    int n = SSL_write(conn->ssl, conn->out.data + conn->out_pos,
                      len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0)
        return n;
    switch (SSL_get_error(conn->ssl, n)) {
    case SSL_ERROR_WANT_WRITE:
        conn_poll(conn, UV_WRITABLE);
        return 0;
    case SSL_ERROR_WANT_READ:
        conn_poll(conn, UV_READABLE);
        return 0;
    default:
        ERR_clear_error();
        return -1;
    }
}

/* Send what conn->out holds. */
static enum step
conn_flush(struct dp_conn *conn, bool more)
{
    while (conn->out_pos < conn->out.len) {
        ssize_t n;
        if (conn->ssl != NULL) {
            n = conn_tls_send(conn);
            if (n == 0)
                return STEP_WAIT;
            if (n < 0) {
                conn_close(conn);
                return STEP_DEAD;
            }
        } else {
            n = send(conn->fd, conn->out.data + conn->out_pos,
                     conn->out.len - conn->out_pos,
                     MSG_NOSIGNAL | (more ? MSG_MORE : 0));
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                conn_poll(conn, UV_WRITABLE);
                return STEP_WAIT;
            }
            conn_close(conn);   /* client gone */
            return STEP_DEAD;
        }
        conn->out_pos += (size_t)n;
        conn->server->stats.bytes_out += (uint64_t)n;
        conn_set_timer(conn, conn->server->settings.write_timeout_ms);
    }
    conn->out.len = 0;
    conn->out_pos = 0;
    return STEP_AGAIN;
}

/* The source's descriptor is readable again (dp_body_fd_wait). */
static void
conn_body_ready(void *ctx)
{
    struct dp_conn *conn = ctx;
    conn_advance(conn);
}

/*
 * One splice step of the body: from the source's descriptor `src` (NULL:
 * only what conn->pipe still holds) to the socket, at most SENDFILE_MAX
 * bytes, then wait for the next writable event like sendfile().
 */
static enum step
conn_splice(struct dp_conn *conn, const struct dp_body_fd *src)
{
    struct dp_http_server *server = conn->server;
    struct dp_splice_result r;
    enum dp_splice_status st = dp_splice_step(
        src != NULL ? src->fd : -1, src != NULL && src->is_pipe,
        src != NULL ? src->length : 0, &conn->pipe, conn->fd, SENDFILE_MAX,
        &r);
    if (r.in > 0)
        dp_body_fd_advance(conn->body, r.in);
    if (r.out > 0) {
        conn->body_sent += r.out;
        server->stats.bytes_out += r.out;
        server->stats.bytes_spliced += r.out;
        conn_set_timer(conn, server->settings.write_timeout_ms);
    }
    switch (st) {
    case DP_SPLICE_BUDGET:
    case DP_SPLICE_DST_AGAIN:
        conn_poll(conn, UV_WRITABLE);
        return STEP_WAIT;
    case DP_SPLICE_SRC_DONE:
        return STEP_AGAIN;      /* the source says what comes next */
    case DP_SPLICE_SRC_AGAIN:
        conn_poll(conn, 0);
        dp_body_fd_wait(conn->body, conn_body_ready);
        return STEP_WAIT;
    case DP_SPLICE_SRC_END:
        /* end of file or an error before the body's end: the source
         * reads itself and reports it with its own message */
        conn->fd_off = true;
        return STEP_AGAIN;
    case DP_SPLICE_DST_ERROR:
        break;
    }
    if (r.err != EPIPE && r.err != ECONNRESET)
        log_line("conn %llu %s: \"%s\": splice: %s",
                 (unsigned long long)conn->id, conn->peer_text,
                 conn->request_line, strerror(r.err));
    conn_close(conn);
    return STEP_DEAD;
}

/*
 * The body's next bytes, when the source offers a descriptor (the
 * framing is not chunked): FD_SPLICE to splice them (a plain connection;
 * for a socket source, a pipe is at hand), FD_READ to read them from the
 * source's pipe into conn->out ourselves (an application's pipe towards
 * a TCP peer on this host, dp_splice_pipe_suits(), or any TLS
 * connection, whose SSL_write() takes them from there), FD_NONE to let
 * the source read (dp_body_read).
 */
enum fd_path { FD_NONE, FD_SPLICE, FD_READ };

static enum fd_path
conn_fd_source(struct dp_conn *conn, struct dp_body_fd *src)
{
    if (conn->fd_off || !dp_body_fd(conn->body, src))
        return FD_NONE;
    if (conn->ssl != NULL)
        return src->is_pipe ? FD_READ : FD_NONE;
    if (src->is_pipe) {
        if (conn->pipe_splice == 0)
            conn->pipe_splice =
                dp_splice_pipe_suits(conn->fd, &conn->peer) ? 1 : -1;
        return conn->pipe_splice > 0 ? FD_SPLICE : FD_READ;
    }
    if (conn->pipe.r >= 0 ||
        dp_pipe_pool_get(&conn->server->pipes, &conn->pipe) == 0)
        return FD_SPLICE;
    return FD_NONE;
}

/*
 * The FD_READ step: read the body from the source's pipe into conn->out,
 * behind what it holds (at first the head, so that the head and the
 * first body bytes leave in one send()), and send, until the pipe is
 * empty, the body's end, the socket is full, or SENDFILE_MAX bytes moved
 * (then the loop's other work goes first).  One copy less than letting
 * the source read into its own buffer and push it here.
 */
static enum step
conn_pipe_read(struct dp_conn *conn, const struct dp_body_fd *src)
{
    uint64_t left = src->length >= 0 ? (uint64_t)src->length : UINT64_MAX;
    size_t moved = 0;
    for (;;) {
        size_t held = conn->out.len - conn->out_pos;
        size_t want = held < OUT_HIGH_WATER ? OUT_HIGH_WATER - held : 0;
        if (want > left)
            want = (size_t)left;
        bool again = false, end = false;
        if (want > 0) {
            if (pr_buf_reserve(&conn->out, want) != 0) {
                log_line("conn %llu %s: \"%s\": out of memory",
                         (unsigned long long)conn->id, conn->peer_text,
                         conn->request_line);
                conn_close(conn);
                return STEP_DEAD;
            }
            ssize_t n = read(src->fd, conn->out.data + conn->out.len, want);
            if (n > 0) {
                conn->out.len += (size_t)n;
                conn->body_sent += (uint64_t)n;
                left -= (uint64_t)n;
                moved += (size_t)n;
                dp_body_fd_advance(conn->body, (uint64_t)n);
            } else if (n < 0 && errno == EAGAIN) {
                again = true;
            } else if (n == 0 || errno != EINTR) {
                end = true;     /* the source reads and reports it */
            }
        }
        enum step st = conn_flush(conn, false);
        if (st != STEP_AGAIN)
            return st;
        if (end) {
            conn->fd_off = true;
            return STEP_AGAIN;
        }
        if (left == 0)
            return STEP_AGAIN;  /* the source says what comes next */
        if (again) {
            conn_poll(conn, 0);
            dp_body_fd_wait(conn->body, conn_body_ready);
            return STEP_WAIT;
        }
        if (moved >= SENDFILE_MAX) {
            conn_poll(conn, UV_WRITABLE);
            return STEP_WAIT;
        }
    }
}

static enum step
conn_write_step(struct dp_conn *conn)
{
    if (conn->pipe.fill > 0) {
        /* spliced bytes still in the pipe go first */
        enum step st = conn_splice(conn, NULL);
        if (st != STEP_AGAIN)
            return st;
    }
    struct dp_body_file region;
    struct dp_body_fd src;
    /* sendfile() and splice() on plain connections; over TLS an
     * application's pipe is read into conn->out for SSL_write() (FD_READ),
     * any other source fills conn->out with its own read. */
    bool direct = conn->body != NULL && !conn->chunked_out;
    bool file = direct && conn->ssl == NULL &&
                dp_body_file(conn->body, &region);
    enum fd_path fdp = direct && !file ? conn_fd_source(conn, &src)
                                       : FD_NONE;
    if (fdp == FD_READ)
        return conn_pipe_read(conn, &src);
    bool spliced = fdp == FD_SPLICE;
    if (conn->body != NULL && !file && !spliced &&
        conn->out.len - conn->out_pos < OUT_HIGH_WATER) {
        /* Pull first, so the head and the first body bytes leave in one
         * send(). */
        dp_body_read(conn->body);
        if (conn->state == CONN_CLOSED)
            return STEP_DEAD;
    }
    /* (no MSG_MORE before a splice: its source may keep the head waiting) */
    enum step st = conn_flush(conn, file && region.length > 0);
    if (st != STEP_AGAIN)
        return st;
    if (conn->body == NULL) {
        if (conn->body_failed) {
            conn_close(conn);   /* framing is broken: no keep-alive */
            return STEP_DEAD;
        }
        return conn->body_done || conn->out.len == 0 ? STEP_DONE
                                                     : STEP_AGAIN;
    }
    if (spliced)
        return conn_splice(conn, &src);
    if (file) {
        if (region.length == 0) {
            struct dp_body *body = conn->body;
            conn->body = NULL;
            conn->body_done = true;
            dp_body_close(body);
            return STEP_DONE;
        }
        off_t off = (off_t)region.offset;
        size_t count = region.length < SENDFILE_MAX ? (size_t)region.length
                                                    : SENDFILE_MAX;
        ssize_t n = sendfile(conn->fd, region.fd, &off, count);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                conn_poll(conn, UV_WRITABLE);
                return STEP_WAIT;
            }
            if (errno != EPIPE && errno != ECONNRESET)
                log_line("conn %llu %s: \"%s\": sendfile: %s",
                         (unsigned long long)conn->id, conn->peer_text,
                         conn->request_line, strerror(errno));
            conn_close(conn);
            return STEP_DEAD;
        }
        if (n == 0) {
            log_line("conn %llu %s: \"%s\": file shrank while sending "
                     "(%llu bytes missing)", (unsigned long long)conn->id,
                     conn->peer_text, conn->request_line,
                     (unsigned long long)region.length);
            conn_close(conn);
            return STEP_DEAD;
        }
        dp_body_file_advance(conn->body, (uint64_t)n);
        conn->body_sent += (uint64_t)n;
        conn->server->stats.bytes_out += (uint64_t)n;
        conn_set_timer(conn, conn->server->settings.write_timeout_ms);
        if (n < region.length) {
            conn_poll(conn, UV_WRITABLE);
            return STEP_WAIT;
        }
        return STEP_AGAIN;
    }
    /* Pull mode: the source fills conn->out through conn_body_data. */
    size_t before = conn->out.len;
    dp_body_read(conn->body);
    if (conn->out.len == before && conn->body != NULL) {
        conn_poll(conn, 0);     /* the source will call back */
        return STEP_WAIT;
    }
    return STEP_AGAIN;
}

/* A field of the access log as Apache writes it: '"' and '\\'
 * escaped with a backslash, other bytes outside printable ASCII as
 * \\xhh, so that a client cannot forge fields; "-" for none. */
static const char *
log_escape(const char *s, char *out, size_t outlen)
{
    static const char hex[] = "0123456789abcdef";
    if (s == NULL)
        return "-";
    size_t o = 0;
    for (; *s != '\0' && o + 5 < outlen; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return out;
}

static void
conn_access_log(struct dp_conn *conn)
{
    struct dp_http_server *server = conn->server;
    if (server->access_log == NULL)
        return;
    char ts[64], line[2048];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    snprintf(ts, sizeof(ts), "%02d/%s/%04d:%02d:%02d:%02d +0000",
             tm.tm_mday, month[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
    char request_buf[4 * sizeof(conn->request_line) + 8];
    char referer_buf[400], agent_buf[400];   /* the line fits 2048 */
    const char *request = log_escape(conn->request_line, request_buf,
                                     sizeof(request_buf));
    const char *referer =
        log_escape(dp_request_header(&conn->req, "Referer"), referer_buf,
                   sizeof(referer_buf));
    const char *agent =
        log_escape(dp_request_header(&conn->req, "User-Agent"), agent_buf,
                   sizeof(agent_buf));
    char host[INET6_ADDRSTRLEN] = "-";
    if (conn->peer.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&conn->peer)->sin_addr,
                  host, sizeof(host));
    else if (conn->peer.ss_family == AF_INET6)
        inet_ntop(AF_INET6,
                  &((struct sockaddr_in6 *)&conn->peer)->sin6_addr, host,
                  sizeof(host));
    char bytes[32];
    if (conn->body_sent == 0)
        snprintf(bytes, sizeof(bytes), "-");
    else
        snprintf(bytes, sizeof(bytes), "%llu",
                 (unsigned long long)conn->body_sent);
    int n = snprintf(line, sizeof(line),
                     "%s - - [%s] \"%s\" %u %s \"%s\" \"%s\"", host, ts,
                     request, conn->status, bytes, referer, agent);
    if (n > 0)
        server->access_log(line, (size_t)n < sizeof(line)
                                     ? (size_t)n : sizeof(line) - 1,
                           server->access_log_ctx);
}

/* The response is complete: log, release the request, go on. */
static void
conn_finish_request(struct dp_conn *conn)
{
    struct dp_http_server *server = conn->server;
    server->stats.requests++;
    conn_access_log(conn);
    conn_release_body(conn);
    dp_pipe_pool_put(&server->pipes, &conn->pipe);
    rbody_end(conn, "the response was complete before the request body "
                    "was read");
    conn->rbody_used = false;
    pool_put(server, conn->pool);
    conn->pool = NULL;
    conn->h1_started = false;
    conn->h1 = NULL;
    conn->request_line = "-";
    conn->abort_fn = NULL;
    if (!conn->keep_alive || server->shutting_down) {
        if (conn->ssl != NULL && conn->tls_established) {
            SSL_shutdown(conn->ssl);    /* close_notify, best effort */
            ERR_clear_error();
        }
        if (shutdown(conn->fd, SHUT_WR) < 0) {
            conn_close(conn);
            return;
        }
        conn->state = CONN_LINGER;
        conn->in_len = 0;
        conn->body_in_left = 0;
        conn->maybe_readable = true;
        conn_set_timer(conn, LINGER_TIMEOUT_MS);
        return;
    }
    conn->state = conn->body_in_left > 0 ? CONN_DRAIN : CONN_HEAD;
    /* The next poll event says so; but OpenSSL may hold decrypted bytes
     * already read from the socket. */
    conn->maybe_readable = conn->ssl != NULL && SSL_has_pending(conn->ssl);
    if (conn->state == CONN_HEAD)
        conn_set_timer(conn, conn->in_len > 0
                                 ? server->settings.head_timeout_ms
                                 : server->settings.keepalive_timeout_ms);
    else
        conn_set_timer(conn, server->settings.head_timeout_ms);
}

/* ---- parsing a head ---- */

static const char *
pool_copy(struct dp_pool *pool, struct pr_slice v)
{
    return dp_pool_strndup(pool, v.data, v.len);
}

/* Begin a request: the pool, the header array, the parser. */
static int
conn_begin_head(struct dp_conn *conn)
{
    struct dp_http_server *server = conn->server;
    if (conn->pool == NULL && (conn->pool = pool_get(server)) == NULL)
        return -1;
    size_t cap = server->settings.max_header_count + 1;
    struct h1_header *headers = dp_pool_alloc(conn->pool,
                                              cap * sizeof(*headers));
    if (headers == NULL)
        return -1;
    struct h1_limits limits = {
        .max_headers = server->settings.max_header_count,
        .max_head = server->settings.max_head_size,
    };
    conn->h1 = dp_pool_alloc(conn->pool, sizeof(*conn->h1));
    if (conn->h1 == NULL)
        return -1;
    h1_parser_init(conn->h1, &limits, headers, cap);
    conn->h1_started = true;
    return 0;
}

static void
conn_reset_request(struct dp_conn *conn)
{
    memset(&conn->req, 0, sizeof(conn->req));
    struct dp_request *req = &conn->req;
    req->pool = conn->pool;
    req->conn = conn;
    req->peer = (const struct sockaddr *)&conn->peer;
    req->peer_text = conn->peer_text;
    req->listener_tag = conn->listener_tag;
    req->tls = conn->ssl != NULL;
    req->peer_subject = conn->peer_subject;
    req->peer_issuer_subject = conn->peer_issuer;
    req->id = conn->id;
    req->start_ms = uv_now(conn->server->loop);
    req->content_length = -1;
    req->method_name = "-";
    req->target = "-";
    req->path = "-";
    req->version_minor = 1;
}

/* Fill conn->req from a parsed head; -1 when out of memory. */
static int
conn_take_head(struct dp_conn *conn, const struct h1_request *h)
{
    struct dp_request *req = &conn->req;
    struct dp_pool *pool = conn->pool;
    struct dp_header *headers =
        dp_pool_alloc(pool, (h->header_count + 1) * sizeof(*headers));
    req->method_name = pool_copy(pool, h->method_token);
    req->target = pool_copy(pool, h->target);
    /* "/" for "http://host" (RFC 9112 §3.2.2); "" for "*" (OPTIONS) and
     * "host:port" (CONNECT), which name no path. */
    req->path = h->path.len > 0 ? pool_copy(pool, h->path)
                : h->target_form == H1_TARGET_ABSOLUTE ? "/" : "";
    req->query = h->has_query ? pool_copy(pool, h->query) : NULL;
    req->host = h->host.data != NULL ? pool_copy(pool, h->host) : NULL;
    if (headers == NULL || req->method_name == NULL || req->target == NULL ||
        req->path == NULL || (h->has_query && req->query == NULL) ||
        (h->host.data != NULL && req->host == NULL))
        return -1;
    for (size_t i = 0; i < h->header_count; i++) {
        headers[i].name = pool_copy(pool, h->headers[i].name);
        headers[i].value = pool_copy(pool, h->headers[i].value);
        if (headers[i].name == NULL || headers[i].value == NULL)
            return -1;
    }
    req->headers = headers;
    req->n_headers = h->header_count;
    switch (h->method) {
    case H1_METHOD_GET: req->method = DP_HTTP_GET; break;
    case H1_METHOD_HEAD: req->method = DP_HTTP_HEAD; break;
    case H1_METHOD_POST: req->method = DP_HTTP_POST; break;
    case H1_METHOD_PUT: req->method = DP_HTTP_PUT; break;
    case H1_METHOD_DELETE: req->method = DP_HTTP_DELETE; break;
    case H1_METHOD_OPTIONS: req->method = DP_HTTP_OPTIONS; break;
    case H1_METHOD_PATCH: req->method = DP_HTTP_PATCH; break;
    case H1_METHOD_CONNECT: req->method = DP_HTTP_CONNECT; break;
    case H1_METHOD_TRACE: req->method = DP_HTTP_TRACE; break;
    case H1_METHOD_OTHER: req->method = DP_HTTP_OTHER; break;
    }
    req->version_minor = h->version_minor;
    req->content_length = h->has_content_length
                              ? (int64_t)h->content_length : -1;
    req->chunked = h->chunked;
    return 0;
}

/* A plain HTTP request on a TLS listener: 400 saying so, or with
 * redirect-http a 301 to the same host and target over https; then the
 * connection closes. */
static void
conn_plain_on_tls(struct dp_conn *conn)
{
    struct dp_request *req = &conn->req;
    conn->keep_alive = false;
    struct dp_response_headers h;
    dp_response_headers_init(&h, req->pool);
    bool redirect = conn->tls == NULL && conn->listener_tls != NULL &&
                    dp_tls_server_redirect_http(conn->listener_tls) &&
                    req->host != NULL && req->host[0] != '\0' &&
                    req->target[0] == '/';
    const char *text;
    unsigned status;
    if (redirect) {
        size_t n = strlen(req->host) + strlen(req->target) + 9;
        char *location = dp_pool_alloc(req->pool, n);
        if (location == NULL) {
            conn_close(conn);
            return;
        }
        snprintf(location, n, "https://%s%s", req->host, req->target);
        if (dp_response_header(&h, "Location", location) != 0) {
            conn_close(conn);
            return;
        }
        status = 301;
        text = "This resource is served over HTTPS.\n";
    } else {
        log_line("conn %llu %s: \"%s\": plain HTTP request on a TLS "
                 "listener (400)", (unsigned long long)conn->id,
                 conn->peer_text, conn->request_line);
        status = 400;
        text = "400 Bad Request: this port speaks HTTPS (TLS); the client "
               "sent a plain HTTP request. Use an https:// URL.\n";
    }
    struct dp_body *body = NULL;
    if (dp_response_header(&h, "Content-Type",
                           "text/plain; charset=utf-8") == 0)
        body = dp_body_new_memory(req->pool, text, strlen(text));
    dp_request_respond(req, status, &h, body);
}

/* A tarpitted connection's request, after the delay. */
static void
conn_tarpit_cb(uv_timer_t *timer)
{
    struct dp_conn *conn = timer->data;
    if (conn->state != CONN_HANDLER || conn->status != 0)
        return;
    conn->server->handler(&conn->req, conn->handler_ctx);
    conn_advance(conn);
}

/* Try to take one request head from conn->in.  STEP_AGAIN: a request
 * was handed to the handler (or refused); STEP_WAIT: more bytes needed. */
static enum step
conn_parse(struct dp_conn *conn)
{
    struct dp_http_server *server = conn->server;
    if (!conn->h1_started && conn_begin_head(conn) != 0) {
        log_line("conn %llu %s: out of memory", (unsigned long long)conn->id,
                 conn->peer_text);
        conn_close(conn);
        return STEP_DEAD;
    }
    struct h1_request head;
    enum h1_result r = h1_parse_request(conn->h1, conn->in, conn->in_len,
                                        &head);
    if (r == H1_NEED_MORE) {
        if (conn->peer_closed) {
            if (conn->in_len > 0)
                log_line("conn %llu %s: connection closed in the middle "
                         "of a request head (%zu bytes)",
                         (unsigned long long)conn->id, conn->peer_text,
                         conn->in_len);
            conn_close(conn);
            return STEP_DEAD;
        }
        if (conn->in_len < conn->in_cap || conn->in == NULL)
            return STEP_WAIT;
        /* The buffer is full and the head still incomplete. */
    }

    conn_reset_request(conn);
    if (r != H1_DONE) {
        unsigned status = r == H1_ERROR ? (unsigned)h1_parser_status(conn->h1)
                                        : 431;
        conn->request_line = "-";
        log_line("conn %llu %s: bad request head: %s (%u)",
                 (unsigned long long)conn->id, conn->peer_text,
                 r == H1_ERROR ? h1_parser_error(conn->h1)
                               : "request head larger than the buffer",
                 status);
        conn->body_in_left = 0;
        conn->body_chunked_in = false;
        conn->in_len = 0;
        conn_response_error(conn, status);
        return conn->state == CONN_CLOSED ? STEP_DEAD : STEP_AGAIN;
    }
    if (conn_take_head(conn, &head) != 0) {
        log_line("conn %llu %s: out of memory", (unsigned long long)conn->id,
                 conn->peer_text);
        conn_close(conn);
        return STEP_DEAD;
    }
    conn_consume(conn, head.head_len);
    struct dp_request *req = &conn->req;
    /* "METHOD target HTTP/1.x", the target cut at 200 bytes */
    size_t mn = strlen(req->method_name), tn = strnlen(req->target, 200);
    char num[24];
    char *d = decimal_before(num + sizeof(num), req->version_minor);
    size_t dn = (size_t)(num + sizeof(num) - d);
    char *line = dp_pool_alloc(conn->pool, mn + tn + dn + 10);
    if (line != NULL) {
        memcpy(line, req->method_name, mn);
        line[mn] = ' ';
        memcpy(line + mn + 1, req->target, tn);
        memcpy(line + mn + 1 + tn, " HTTP/1.", 8);
        memcpy(line + mn + tn + 9, d, dn);
        line[mn + tn + 9 + dn] = '\0';
    }
    conn->request_line = line != NULL ? line : "-";
    conn->keep_alive = head.keep_alive;
    conn->head_only = req->method == DP_HTTP_HEAD;
    conn->body_chunked_in = head.chunked;
    conn->body_in_left = head.has_content_length ? head.content_length : 0;
    conn->expect_continue = head.expect_continue;
    conn->status = 0;
    conn->state = CONN_HANDLER;
    conn->hup_checked = false;
    conn->handler_input = false;
    conn->resp_filter = NULL;
    conn_stop_timer(conn);
    if (conn->plain_on_tls) {
        conn_plain_on_tls(conn);
        return conn->state == CONN_CLOSED ? STEP_DEAD : STEP_AGAIN;
    }
    if (conn->tarpit) {
        /* The handler gets the request after the delay (conn_close
         * closes the timer when the client goes). */
        conn->timer_deadline = 0;
        conn->timer_due = UINT64_MAX;
        uv_timer_start(&conn->timer, conn_tarpit_cb,
                       server->settings.tarpit_delay_ms, 0);
        return STEP_AGAIN;
    }
    /* Polling stops only if the handler does not answer at once (see
     * conn_advance): most answers come synchronously from the caches. */
    server->handler(req, conn->handler_ctx);
    return STEP_AGAIN;
}

/* Discard an unread request body (Content-Length) before the next
 * request. */
static enum step
conn_drain(struct dp_conn *conn)
{
    for (;;) {
        size_t n = conn->in_len < conn->body_in_left
                       ? conn->in_len : (size_t)conn->body_in_left;
        conn_consume(conn, n);
        conn->body_in_left -= n;
        if (conn->body_in_left == 0) {
            conn->state = CONN_HEAD;
            conn_set_timer(conn, conn->server->settings.head_timeout_ms);
            return STEP_AGAIN;
        }
        ssize_t r = conn_fill(conn);
        if (r < 0) {
            conn_close(conn);
            return STEP_DEAD;
        }
        if (r == 0) {
            conn_poll(conn, UV_READABLE | conn->tls_poll_extra);
            return STEP_WAIT;
        }
    }
}

/* Discard input until EOF, a limit or the timer. */
static enum step
conn_linger(struct dp_conn *conn)
{
    uint8_t buf[16384];
    for (size_t total = 0; total < LINGER_MAX_BYTES;) {
        ssize_t n = recv(conn->fd, buf, sizeof(buf), 0);
        if (n > 0) {
            total += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            conn_poll(conn, UV_READABLE);
            return STEP_WAIT;
        }
        break;
    }
    conn_close(conn);
    return STEP_DEAD;
}

/* ---- the driver ---- */

static void
conn_advance(struct dp_conn *conn)
{
    if (conn->advancing)
        return;
    conn->advancing = true;
    for (;;) {
        enum step st = STEP_WAIT;
        switch (conn->state) {
        case CONN_HEAD:
            if (conn->in_len > 0 || conn->peer_closed)
                st = conn_parse(conn);
            if (st == STEP_WAIT && conn->maybe_readable) {
                ssize_t r = conn_fill(conn);
                if (r > 0 || (r < 0 && conn->in_len > 0)) {
                    st = STEP_AGAIN;
                    break;
                }
                if (r < 0) {
                    conn_close(conn);
                    st = STEP_DEAD;
                    break;
                }
                conn->maybe_readable = false;
            }
            if (st == STEP_WAIT) {
                if (conn->in_len == 0 && conn->ssl != NULL) {
                    conn_tls_idle(conn);    /* releases them later */
                } else if (conn->in_len == 0) {
                    /* Idle: hold no buffer. */
                    buf_put(conn->server, conn->in);
                    conn->in = NULL;
                    conn->in_cap = 0;
                    out_put(conn->server, &conn->out);
                }
                conn_poll(conn, UV_READABLE | conn->tls_poll_extra);
            }
            break;
        case CONN_HANDLER:
            break;      /* the handler will call back */
        case CONN_WRITE:
            st = conn_write_step(conn);
            if (st == STEP_DONE) {
                conn_finish_request(conn);
                st = STEP_AGAIN;
            }
            break;
        case CONN_DRAIN:
            st = conn_drain(conn);
            break;
        case CONN_LINGER:
            st = conn_linger(conn);
            break;
        case CONN_CLOSED:
            st = STEP_DEAD;
            break;
        }
        if (st != STEP_AGAIN)
            break;
    }
    if (conn->state == CONN_HANDLER)
        conn_poll(conn, 0);     /* input waits in the kernel meanwhile */
    conn->advancing = false;
}

static void
conn_poll_cb(uv_poll_t *poll, int status, int events)
{
    struct dp_conn *conn = poll->data;
    if (status < 0 || (events & (UV_READABLE | UV_DISCONNECT)) ||
        (conn->tls_poll_extra & events))
        conn->maybe_readable = true;
    if (status < 0 && conn->state == CONN_HEAD && conn->in_len == 0) {
        conn_close(conn);
        return;
    }
    if (conn->state == CONN_HANDLER && !rbody_wants_input(conn) &&
        (status < 0 || (events & (UV_DISCONNECT | UV_READABLE)))) {
        /* Gone, unless input is still pending (a pipelined request
         * before the FIN): then wait for the hang-up alone, and after
         * a hang-up event stop watching. */
        char c;
        ssize_t n = recv(conn->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        if (status < 0 || n == 0 ||
            (n < 0 && errno != EAGAIN && errno != EINTR)) {
            conn->keep_alive = false;
            conn_close(conn);
            return;
        }
        if (events & UV_DISCONNECT)
            conn->hup_checked = true;
        conn->handler_input = true;
        conn_poll(conn, conn->want_write ? UV_WRITABLE : 0);
    }
    if (rbody_wants_input(conn) && conn->rbody->fd_ready != NULL) {
        /* the consumer reads the socket itself (rbody_fd_wait) */
        if (status < 0 || (events & (UV_READABLE | UV_DISCONNECT))) {
            struct req_body *rb = conn->rbody;
            void (*ready)(void *) = rb->fd_ready;
            rb->fd_ready = NULL;
            rb->want_input = false;
            if (conn->state == CONN_HANDLER)
                conn_stop_timer(conn);
            ready(rb->base.ctx);
            if (conn->state == CONN_CLOSED)
                return;
            conn_poll(conn, conn->want_write ? UV_WRITABLE : 0);
        }
    } else if (rbody_wants_input(conn) && conn->maybe_readable) {
        rbody_read(&conn->rbody->base);
        if (conn->state == CONN_CLOSED)
            return;
        conn_poll(conn, conn->want_write ? UV_WRITABLE : 0);
    }
    conn_advance(conn);
}

/* ---- listeners ---- */

static void
listener_pause_all(struct dp_http_server *server)
{
    for (struct dp_listener *l = server->listeners; l != NULL; l = l->next)
        if (l->active) {
            uv_poll_stop(&l->poll);
            l->active = false;
        }
}

static void listener_cb(uv_poll_t *poll, int status, int events);

static void
listener_resume_all(struct dp_http_server *server)
{
    for (struct dp_listener *l = server->listeners; l != NULL; l = l->next)
        if (!l->active) {
            uv_poll_start(&l->poll, UV_READABLE, listener_cb);
            l->active = true;
        }
}

static void
conn_new(struct dp_listener *l, int fd, const struct sockaddr_storage *ss,
         bool tarpit)
{
    struct dp_http_server *server = l->server;
    struct dp_conn *conn = calloc(1, sizeof(*conn));
    if (conn == NULL) {
        close(fd);
        log_line("out of memory accepting a connection");
        return;
    }
    conn->server = server;
    conn->fd = fd;
    conn->tarpit = tarpit;
    conn->pipe.r = conn->pipe.w = -1;
    conn->id = ++server->next_id;
    conn->peer = *ss;
    format_peer(ss, conn->peer_text, sizeof(conn->peer_text));
    conn->listener_tag = l->tag;
    conn->handler_ctx = l->handler_ctx;
    conn->tls = conn->listener_tls = l->tls;
    conn->state = CONN_HEAD;
    conn->request_line = "-";
    conn->maybe_readable = true;    /* TCP_DEFER_ACCEPT: data is there */
    if (ss->ss_family == AF_INET || ss->ss_family == AF_INET6) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    uv_poll_init(server->loop, &conn->poll, fd);
    uv_timer_init(server->loop, &conn->timer);
    conn->poll.data = conn;
    conn->timer.data = conn;
    conn->open_handles = 2;
    server->open_handles++;
    conn->next = server->conns;
    if (server->conns != NULL)
        server->conns->prev = conn;
    server->conns = conn;
    server->n_conns++;
    server->stats.accepted++;
    conn_set_timer(conn, server->settings.head_timeout_ms);
    /* Data usually arrives with the connection: try at once. */
    conn_advance(conn);
}

static void
listener_cb(uv_poll_t *poll, int status, int events)
{
    struct dp_listener *l = poll->data;
    struct dp_http_server *server = l->server;
    (void)status;
    (void)events;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        if (server_full(server)) {
            listener_pause_all(server);
            return;
        }
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
                return;
            if (errno == EMFILE || errno == ENFILE) {
                log_line("accept: %s (max_connections %u, %u open): "
                         "pausing until a connection closes",
                         strerror(errno), server->settings.max_connections,
                         server_load(server));
                server->fd_paused = true;
                listener_pause_all(server);
                return;
            }
            log_line("accept: %s", strerror(errno));
            return;
        }
        if (len == 0 || ss.ss_family == AF_UNSPEC)
            ss.ss_family = AF_LOCAL;
        enum dp_ban_kind ban =
            dp_client_ban_check(server->bans, (struct sockaddr *)&ss,
                                uv_now(server->loop));
        if (ban == DP_BAN_REJECT) {
            close(fd);      /* REJECT_CLIENT: counted, not logged */
            server->stats.rejected++;
            continue;
        }
        conn_new(l, fd, &ss, ban == DP_BAN_TARPIT);
    }
}

/* ---- the server ---- */

struct dp_http_server *
dp_http_server_new(uv_loop_t *loop, const struct dp_http_settings *settings,
                   dp_http_handler handler, void *handler_ctx)
{
    struct dp_http_server *server = calloc(1, sizeof(*server));
    if (server == NULL)
        return NULL;
    server->loop = loop;
    if (settings != NULL)
        server->settings = *settings;
    struct dp_http_settings *s = &server->settings;
    if (s->server_string == NULL)
        s->server_string = "Portier";
    if (s->max_connections == 0)
        s->max_connections = DEFAULT_MAX_CONNECTIONS;
    if (s->head_timeout_ms == 0)
        s->head_timeout_ms = DEFAULT_HEAD_TIMEOUT_MS;
    if (s->keepalive_timeout_ms == 0)
        s->keepalive_timeout_ms = DEFAULT_KEEPALIVE_TIMEOUT_MS;
    if (s->write_timeout_ms == 0)
        s->write_timeout_ms = DEFAULT_WRITE_TIMEOUT_MS;
    if (s->body_drain_limit == 0)
        s->body_drain_limit = DEFAULT_DRAIN_LIMIT;
    if (s->max_header_count == 0)
        s->max_header_count = DEFAULT_MAX_HEADERS;
    if (s->max_head_size == 0)
        s->max_head_size = DEFAULT_MAX_HEAD;
    if (s->body_timeout_ms == 0)
        s->body_timeout_ms = DEFAULT_BODY_TIMEOUT_MS;
    if (s->tarpit_delay_ms == 0)
        s->tarpit_delay_ms = DEFAULT_TARPIT_DELAY_MS;
    server->handler = handler;
    server->handler_ctx = handler_ctx;
    server->date_sec = (time_t)-1;
    dp_pipe_pool_init(&server->pipes, DP_PIPE_SIZE);
    return server;
}

void
dp_http_server_set_access_log(struct dp_http_server *server,
                              dp_http_access_log fn, void *ctx)
{
    server->access_log = fn;
    server->access_log_ctx = ctx;
}

int
dp_http_server_add_listener(struct dp_http_server *server, int fd,
                            const char *tag, void *handler_ctx)
{
    return dp_http_server_add_tls_listener(server, fd, tag, handler_ctx,
                                           NULL);
}

int
dp_http_server_add_tls_listener(struct dp_http_server *server, int fd,
                                const char *tag, void *handler_ctx,
                                struct dp_tls_server *tls)
{
    struct dp_listener *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return -ENOMEM;
    if (tag != NULL && (l->tag = strdup(tag)) == NULL) {
        free(l);
        return -ENOMEM;
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        int err = errno;
        free(l->tag);
        free(l);
        return -err;
    }
    l->server = server;
    l->fd = fd;
    l->tls = tls;
    l->handler_ctx = handler_ctx != NULL ? handler_ctx
                                         : server->handler_ctx;
    int rc = uv_poll_init(server->loop, &l->poll, fd);
    if (rc != 0) {
        free(l->tag);
        free(l);
        return rc;
    }
    l->poll.data = l;
    server->open_handles++;
    l->next = server->listeners;
    server->listeners = l;
    if (!server->shutting_down && !server_full(server)) {
        uv_poll_start(&l->poll, UV_READABLE, listener_cb);
        l->active = true;
    }
    return 0;
}

static void
listener_closed(uv_handle_t *h)
{
    struct dp_listener *l = h->data;
    struct dp_http_server *server = l->server;
    free(l->tag);
    free(l);
    server->open_handles--;
    server_maybe_done(server);
}

void
dp_http_server_shutdown(struct dp_http_server *server,
                        void (*cb)(void *ctx), void *ctx)
{
    server->shutting_down = true;
    server->shutdown_cb = cb;
    server->shutdown_ctx = ctx;
    struct dp_listener *l = server->listeners;
    server->listeners = NULL;
    while (l != NULL) {
        struct dp_listener *next = l->next;
        uv_close((uv_handle_t *)&l->poll, listener_closed);
        close(l->fd);
        l = next;
    }
    /* Idle connections go now; busy ones after their response (which
     * then says Connection: close). */
    struct dp_conn *c = server->conns;
    while (c != NULL) {
        struct dp_conn *next = c->next;
        if ((c->state == CONN_HEAD && c->in_len == 0) ||
            c->state == CONN_LINGER)
            conn_close(c);
        c = next;
    }
    server_maybe_done(server);
}

unsigned
dp_http_server_abort(struct dp_http_server *server)
{
    unsigned n = 0;
    struct dp_conn *c = server->conns;
    while (c != NULL) {
        struct dp_conn *next = c->next;
        conn_close(c);
        n++;
        c = next;
    }
    server_maybe_done(server);
    return n;
}

void
dp_http_server_free(struct dp_http_server *server)
{
    if (server == NULL)
        return;
    while (server->n_free_pools > 0)
        dp_pool_free(server->free_pools[--server->n_free_pools]);
    while (server->n_free_bufs > 0)
        free(server->free_bufs[--server->n_free_bufs]);
    while (server->n_free_outs > 0)
        pr_buf_free(&server->free_outs[--server->n_free_outs]);
    dp_client_ban_free(server->bans);
    dp_pipe_pool_clear(&server->pipes);
    free(server);
}

void
dp_http_server_stats(const struct dp_http_server *server,
                     struct dp_http_stats *out)
{
    *out = server->stats;
    out->connections = server->n_conns;
    out->tunnels = server->n_tunnels;
}

int
dp_http_server_ban(struct dp_http_server *server, enum dp_ban_kind kind,
                   const struct dp_ban_request *r, bool *evicted)
{
    if (server->bans == NULL && (server->bans = dp_client_ban_new(0)) == NULL)
        return -ENOMEM;
    *evicted = dp_client_ban_add(server->bans, kind, r,
                                 uv_now(server->loop));
    return 0;
}
