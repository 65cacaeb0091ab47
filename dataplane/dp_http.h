/*
 * dp_http: the HTTP/1.1 server of one worker: listeners, connections,
 * the request state machine and the response writer, on libuv.
 *
 * Promises:
 * - Connections are driven by uv_poll_t with non-blocking syscalls on
 *   our own buffers: reads into a buffer that exists only while a request
 *   head is incomplete or pipelined bytes wait (an idle keep-alive
 *   connection holds no buffer), writes as one gather, file bodies with
 *   sendfile().  On a TLS listener the same paths go through OpenSSL on
 *   the same non-blocking socket (file bodies with pread() and
 *   SSL_write()); a plain connection pays one branch for it.
 * - Requests on one connection are handled one at a time and answered in
 *   order (pipelining): the next head is parsed when the previous
 *   response is complete.
 * - Every response has Date, Server and correct framing (Content-Length,
 *   chunked for HTTP/1.1 bodies of unknown length, or close-delimited for
 *   HTTP/1.0); HEAD gets the head only.  A request head the parser refuses
 *   gets its status (400, 414, 431, 501, 505) with a short body, one log
 *   line naming the cause, and the connection is closed.
 * - Limits and timeouts (struct dp_http_settings): max_connections (the
 *   listeners pause while it is reached; the client sockets handed over
 *   by dp_request_upgrade() count until they are closed), head read
 *   timeout, idle
 *   keep-alive timeout, and a write timeout that fires when a response
 *   makes no progress.  A request body the handler did not read is
 *   drained when small, otherwise the connection is closed after the
 *   response.
 * - The handler gets each request and must eventually call exactly one
 *   of dp_request_respond()/dp_request_error(), possibly from a later
 *   loop iteration.  Everything the request allocates lives in req->pool,
 *   released when the response is complete (or the connection dies,
 *   after the abort callback ran).
 * - Instead of answering, the handler may take the connection over with
 *   dp_request_upgrade() (101 Switching Protocols): the socket, its TLS
 *   state and the bytes read past the head leave the server, which keeps
 *   counting the socket (max_connections, shutdown) until its new owner
 *   closes it.
 */
#ifndef PORTIER_DP_HTTP_H
#define PORTIER_DP_HTTP_H

#include "dp_body.h"
#include "dp_client_ban.h"
#include "dp_pool.h"

#include <uv.h>

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

struct dp_http_server;
struct dp_conn;

struct dp_http_settings {
    const char *server_string;        /* Server header; NULL = "Portier" */
    unsigned max_connections;         /* 0 = 8192 */
    uint64_t head_timeout_ms;         /* 0 = 20 s: complete request head */
    uint64_t keepalive_timeout_ms;    /* 0 = 30 s: idle between requests */
    uint64_t write_timeout_ms;        /* 0 = 60 s: no write progress */
    uint64_t body_drain_limit;        /* 0 = 64 KiB: unread body drained */
    unsigned max_header_count;        /* 0 = 100 */
    size_t max_head_size;             /* 0 = 16 KiB (request line incl.) */
    uint64_t tarpit_delay_ms;         /* 0 = 1 s: TARPIT_CLIENT's wait
                                         before each request */
    uint64_t body_timeout_ms;         /* 0 = 60 s: waiting for request
                                         body bytes the handler asked for */
};

enum dp_http_method {
    DP_HTTP_OTHER = 0,
    DP_HTTP_GET,
    DP_HTTP_HEAD,
    DP_HTTP_POST,
    DP_HTTP_PUT,
    DP_HTTP_DELETE,
    DP_HTTP_OPTIONS,
    DP_HTTP_PATCH,
    DP_HTTP_CONNECT,
    DP_HTTP_TRACE,
};

struct dp_header {
    const char *name;                 /* as received */
    const char *value;                /* leading/trailing blanks removed */
};

/** What a handler sees of one request.  Strings are NUL-terminated and
 *  live in pool. */
struct dp_request {
    struct dp_pool *pool;
    struct dp_conn *conn;
    enum dp_http_method method;
    const char *method_name;
    const char *target;               /* request-target as received */
    const char *path;                 /* target up to '?' (still encoded) */
    const char *query;                /* after '?', or NULL */
    unsigned version_minor;           /* HTTP/1.x */
    const struct dp_header *headers;
    size_t n_headers;
    const char *host;                 /* Host header (or target's host) */
    int64_t content_length;           /* -1 when none / chunked */
    bool chunked;
    const char *listener_tag;         /* NULL when the listener has none */
    const struct sockaddr *peer;
    const char *peer_text;            /* "ip:port", "[ip6]:port", "local" */
    uint64_t id;                      /* connection id, for logs */
    uint64_t start_ms;                /* loop time when the head was read */
    /* TLS (docs/tls.md): whether the request came over TLS, and with a
     * verified client certificate (ssl_verify) its subject and its
     * issuer's subject as RFC 2253 strings ("CN=alice,O=Example"), for
     * X-CM4all-BENG-Peer-Subject / -Peer-Issuer-Subject; NULL without
     * one.  They live as long as the connection. */
    bool tls;
    const char *peer_subject;
    const char *peer_issuer_subject;
};

/** The first header named `name` (case-insensitive), or NULL. */
const char *
dp_request_header(const struct dp_request *req, const char *name);

/** Response headers a handler adds: "Name: value" lines. */
struct dp_response_headers {
    struct dp_pool *pool;
    char *data;
    size_t len, cap;
};

void
dp_response_headers_init(struct dp_response_headers *h,
                         struct dp_pool *pool);

/** Append a header; returns 0 or -ENOMEM.  Framing headers (Date,
 *  Server, Content-Length, Transfer-Encoding, Connection) are the
 *  server's and must not be added. */
int
dp_response_header(struct dp_response_headers *h, const char *name,
                   const char *value);

/** The same with lengths (the bytes need no NUL: no copy first). */
int
dp_response_header_n(struct dp_response_headers *h, const char *name,
                     size_t nn, const char *value, size_t vn);

/**
 * Answer the request: status, extra headers (may be NULL), and a body
 * (NULL = empty).  The body's length decides the framing.  For HEAD and
 * for 204/304 the body is closed unsent (its length still gives
 * Content-Length for HEAD).  The server takes the body over.
 */
void
dp_request_respond(struct dp_request *req, unsigned status,
                   const struct dp_response_headers *headers,
                   struct dp_body *body);

struct dp_stream;

/**
 * Answer with 101 Switching Protocols and hand the connection over (an
 * Upgrade the backend accepted, docs/translation.md).  The head (status
 * line, Date, Server, `headers`, "Connection: Upgrade") is not sent: it
 * is returned in *head (malloc()ed, *head_len bytes) for the new owner to
 * send first.  *out gets the socket, its TLS session (NULL on a plain
 * connection) and the bytes the client sent after the request head (a
 * malloc()ed copy); the new owner closes and frees them.  The request is
 * complete: it is logged with status 101, its pool released, and the
 * connection is no longer the server's (no timer, not among
 * `connections`); but out->release is set: until the new owner calls it
 * (dp_stream_close() or the tunnel does, once the socket is closed) the
 * socket counts toward max_connections and the shutdown callback waits
 * for it (`tunnels` in the stats).  `req` must not be used
 * after a success.  Refused with -EBUSY when the request has a body or
 * one was taken, a response filter is set, or a "100 Continue" is still
 * being sent; -ENOMEM; on failure the request still waits for its
 * answer.
 */
int
dp_request_upgrade(struct dp_request *req,
                   const struct dp_response_headers *headers,
                   struct dp_stream *out, uint8_t **head, size_t *head_len);

/**
 * Answer with an error page ("<status> <reason>" as a short HTML page)
 * and log `log_msg` (when not NULL) in one line with the connection id,
 * peer and request.
 */
void
dp_request_error(struct dp_request *req, unsigned status,
                 const char *log_msg);

/** dp_request_error() with extra response headers (Allow for 405,
 *  WWW-Authenticate for 401, ...); headers may be NULL. */
void
dp_request_error_headers(struct dp_request *req, unsigned status,
                         struct dp_response_headers *headers,
                         const char *log_msg);

/**
 * The request body as a body source (dp_body.h), or NULL when the
 * request has none (no Content-Length, or 0, and not chunked) or it was
 * already taken and has ended.  The first call creates it; later calls
 * return the same source while it is open.  It streams from the
 * connection with back-pressure (length = the bytes still to come, or -1
 * when chunked; the chunked framing is removed), sends "100 Continue" to
 * a client that expects it when first read (unless the final response
 * has started), and ends with error() on a premature close, bad chunk
 * framing, or when no byte arrives for body_timeout_ms while the handler
 * waits for one.  The handler may respond before the body is read; when
 * the response is complete (or the connection closes) while the source is
 * still open, its consumer gets error(), and the rest of the body is
 * drained (small Content-Length) or the connection closed.  On a plain
 * connection a Content-Length body offers the socket (dp_body_fd()) once
 * the bytes read with the head are handed out, limited to the bytes the
 * body still has; the bytes consumers take that way are counted in
 * request_bytes_spliced.  The source lives in req->pool.
 */
struct dp_body *
dp_request_body(struct dp_request *req);

/** A transformation of the response (the filter chain of a translation
 *  response): set, the next dp_request_respond() (dp_request_error()
 *  too) calls fn instead of answering; the hook is cleared before fn
 *  runs, and fn answers with dp_request_respond() itself. */
typedef void (*dp_response_filter)(void *ctx, struct dp_request *req,
                                   unsigned status,
                                   const struct dp_response_headers *h,
                                   struct dp_body *body);

void
dp_request_set_response_filter(struct dp_request *req,
                               dp_response_filter fn, void *ctx);

/** Called when the request dies before the handler answered (client
 *  gone, server shutting down): cancel pending work.  Set it whenever
 *  work is outstanding, clear it (NULL) when done. */
void
dp_request_set_abort(struct dp_request *req, void (*fn)(void *ctx),
                     void *ctx);

typedef void (*dp_http_handler)(struct dp_request *req, void *ctx);

/** One access-log line is produced per response; the server hands it
 *  to this callback (NULL = no access log). */
typedef void (*dp_http_access_log)(const char *line, size_t len, void *ctx);

struct dp_http_server *
dp_http_server_new(uv_loop_t *loop, const struct dp_http_settings *settings,
                   dp_http_handler handler, void *handler_ctx);

void
dp_http_server_set_access_log(struct dp_http_server *server,
                              dp_http_access_log fn, void *ctx);

/**
 * Serve the listening socket `fd` (already bound and listening; the
 * server takes it over) with `tag` as its LISTENER_TAG (may be NULL).
 * Its requests go to the handler with `handler_ctx` (NULL: the server's
 * default ctx).  Returns 0 or -errno; on failure fd is still the
 * caller's.
 */
int
dp_http_server_add_listener(struct dp_http_server *server, int fd,
                            const char *tag, void *handler_ctx);

struct dp_tls_server;

/**
 * dp_http_server_add_listener() for a TLS listener (docs/tls.md): every
 * connection does a TLS handshake with `tls` (dp_tls.h; it must outlive
 * the server) within the head timeout, then speaks HTTP/1.1 through it.
 * A connection whose first byte is not a TLS record is read as plain HTTP
 * and its first request answered with 400 (or, with `redirect-http`, a
 * 301 to https://HOST/TARGET), then closed.  With `sts`, responses over
 * TLS carry Strict-Transport-Security.
 */
int
dp_http_server_add_tls_listener(struct dp_http_server *server, int fd,
                                const char *tag, void *handler_ctx,
                                struct dp_tls_server *tls);

/** Stop accepting; close idle connections now and the others when their
 *  current response is done; cb runs when the last one is gone and every
 *  upgraded socket was released. */
void
dp_http_server_shutdown(struct dp_http_server *server,
                        void (*cb)(void *ctx), void *ctx);

/**
 * After dp_http_server_shutdown(), when its time is up: close every
 * connection that is still open, whatever it is doing (a response in
 * progress is cut).  Returns how many were closed; the shutdown callback
 * runs once their handles are closed and the upgraded sockets released
 * (the caller cuts the tunnels: dp_tunnel_close_all()).
 */
unsigned
dp_http_server_abort(struct dp_http_server *server);

/** Free a server whose shutdown completed. */
void
dp_http_server_free(struct dp_http_server *server);

struct dp_http_stats {
    uint64_t accepted, requests, bytes_out;
    uint64_t bytes_spliced;           /* of bytes_out: body bytes moved
                                         with splice() (zero copy) */
    uint64_t request_bytes_spliced;   /* request body bytes a consumer
                                         took from client sockets with
                                         splice() (dp_request_body) */
    uint64_t rejected;                /* closed at accept: REJECT_CLIENT */
    uint64_t status_class[6];         /* [1]..[5] = 1xx..5xx */
    unsigned connections;
    unsigned tunnels;                 /* upgraded client sockets open */
};

void
dp_http_server_stats(const struct dp_http_server *server,
                     struct dp_http_stats *out);

/**
 * REJECT_CLIENT / TARPIT_CLIENT (dp_client_ban): from now on, connections
 * from r's address are closed right after accept() (reject), or each of
 * their requests waits tarpit_delay_ms before it is handled (tarpit),
 * until r->seconds have passed; 0 seconds lifts it.  Connections that
 * are open keep going.  *evicted: another client's ban gave way (the
 * table is full).  0 or -ENOMEM.
 */
int
dp_http_server_ban(struct dp_http_server *server, enum dp_ban_kind kind,
                   const struct dp_ban_request *r, bool *evicted);

#endif
