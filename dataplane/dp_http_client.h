/*
 * dp_http_client: the HTTP/1.1 client of the reverse proxy: connections
 * to backend addresses on uv_poll_t, a keep-alive pool per address, load
 * spreading with failover, and the response body as a body source.
 *
 * Promises:
 * - Connections are non-blocking sockets (TCP over IPv4/IPv6, unix
 *   sockets, abstract ones too) driven by uv_poll_t; connecting has a
 *   timeout.  With tls_host (https) the connection speaks TLS 1.2 or
 *   1.3 through OpenSSL: SNI and ALPN http/1.1, the certificate verified
 *   against the system's CA store (SSL_CERT_FILE and SSL_CERT_DIR
 *   override it) and the URL host unless tls_no_verify, an optional
 *   client certificate; the handshake shares the connect timeout, and
 *   its failure counts as a failed connect (the message says why).
 *   Plain and TLS connections, and TLS ones per host and certificate,
 *   are pooled apart.  The request head goes out first, then the request body
 *   (Content-Length, or chunked when its length is unknown), read with
 *   back-pressure: at most 64 KiB of it are buffered.  A body of known
 *   length whose source offers a readable descriptor (dp_body_fd(): the
 *   client socket, a backend socket, a WAS pipe) goes to a plain
 *   connection with splice(), through a pipe of the client's pool for a
 *   socket, at most 256 KiB per writable event; a connection whose body
 *   was not sent whole (early answer, failure) is not reused.
 * - The response head is parsed by h1_response_head (strict; a refused
 *   head is 502 naming the backend and the cause).  Interim 1xx heads
 *   are skipped; 101 is refused (502) unless the request asked for an
 *   upgrade: then the connection leaves the client (not pooled) and
 *   goes to the handler's upgrade() with the bytes that followed the
 *   head; its socket keeps its slot in `limit` until the stream's
 *   release callback runs (dp_tunnel.h), which the client must
 *   outlive.  The head must arrive within response_timeout (else 504).
 * - The response body is a dp_body source streaming from the socket
 *   with back-pressure through one 64 KiB buffer per busy connection; it
 *   ends with error() naming the backend when the backend closes early,
 *   sends a bad chunk, or is silent for body_timeout.
 * - Pool: after a complete response whose connection may be kept (HTTP
 *   keep-alive, framing by length or chunks, no excess byte, request
 *   body fully sent) the connection goes idle in its address's pool for
 *   idle_timeout; an idle connection that the backend closes, or that
 *   receives a byte, is dropped.  `limit` bounds the open connections
 *   per address (0: no bound); requests over it wait for a free one,
 *   first come first served, each at most wait_timeout_ms: a slot that
 *   frees in time goes to the first waiter (an idle connection, or a
 *   new one); a waiter whose time is up leaves the queue and gets 503
 *   naming the backend, the limit and the wait (no other address is
 *   tried: the backend is busy, not failing); an aborted waiter leaves
 *   the queue at once.
 * - A request without a body whose method is idempotent is retried once
 *   on a fresh connection when a reused one is closed or reset before
 *   any response byte (the keep-alive race).
 * - Several addresses: each request starts at the next address (round
 *   robin); one that fails to connect is skipped for fail_timeout by
 *   later requests and the request goes on with the next one.  When every
 *   address failed: 502 naming the backends and their errors (504 when
 *   every failure was a timeout).
 * - Exactly one of the handler's response() or error() is called, never
 *   from inside dp_http_client_request(); dp_http_client_abort() before
 *   that cancels the request (its body is closed, its connection
 *   closed).
 */
#ifndef PORTIER_DP_HTTP_CLIENT_H
#define PORTIER_DP_HTTP_CLIENT_H

#include "dp_body.h"
#include "dp_tls.h"
#include "h1_response_head.h"
#include "tp_response.h"

#include <uv.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dp_http_client;
struct dp_http_op;

struct dp_http_client_options {
    unsigned limit;                 /* connections per address; 0 = any */
    uint64_t connect_timeout_ms;    /* 0 = 10 s */
    uint64_t response_timeout_ms;   /* the response head; 0 = 120 s */
    uint64_t body_timeout_ms;       /* silence within a body; 0 = 120 s */
    uint64_t idle_timeout_ms;       /* pooled connection; 0 = 30 s */
    uint64_t fail_timeout_ms;       /* a failing address skipped; 0 = 20 s */
    uint64_t wait_timeout_ms;       /* waiting for a slot under `limit`;
                                       0 = connect_timeout_ms */
    bool tls_no_verify;             /* https: accept any certificate */
};

struct dp_http_request {
    const struct tp_socket_address *addresses;  /* resolved (len > 0) */
    size_t n_addresses;
    bool head;                      /* HEAD: the response has no body */
    bool idempotent;                /* may be retried (without a body) */
    /* Request line and header lines, each ending in CRLF; no framing
     * header and no empty line (the client adds them). */
    const char *head_text;
    size_t head_len;
    /* The request body (the client takes it over) or NULL. */
    struct dp_body *body;
    /* https: the URL's host (SNI, and the name the certificate must
     * carry); NULL for plain HTTP.  cert: the client certificate to
     * present (CERTIFICATE), or NULL. */
    const char *tls_host;
    const struct dp_tls_client_cert *cert;
    /* The head asks for a protocol switch (Connection: Upgrade): a 101
     * goes to the handler's upgrade().  Only without a body. */
    bool upgrade;
};

struct dp_stream;

struct dp_http_client_handler {
    /** The response head (valid during the call only) and its body:
     *  NULL when the response has none (HEAD, 1xx, 204, 304); else the
     *  consumer must read it to its end or close it. */
    void (*response)(void *ctx, const struct h1_response_head *head,
                     struct dp_body *body);
    /** No response: status 502 or 504 (400 when the client's request
     *  body failed, 503 when no connection slot came in time) and a
     *  sentence naming the backend. */
    void (*error)(void *ctx, unsigned status, const char *msg);
    /** With dp_http_request.upgrade (else it may be NULL): the backend
     *  answered 101.  The head is valid during the call; the handler
     *  owns the backend's stream (dp_tunnel.h) from now on. */
    void (*upgrade)(void *ctx, const struct h1_response_head *head,
                    struct dp_stream *backend);
};

struct dp_http_client *
dp_http_client_new(uv_loop_t *loop,
                   const struct dp_http_client_options *options);

/** Close the idle connections and free the client once they are gone;
 *  no request may be in progress. */
void
dp_http_client_free(struct dp_http_client *client);

/**
 * Send a request.  Returns the operation (for dp_http_client_abort()),
 * or NULL when out of memory: then nothing is called, the request body
 * is still the caller's, and the caller answers 500.  The request's
 * head text and addresses are copied.
 */
struct dp_http_op *
dp_http_client_request(struct dp_http_client *client,
                       const struct dp_http_request *request,
                       const struct dp_http_client_handler *handler,
                       void *ctx);

/** Cancel an operation whose handler has not been called yet. */
void
dp_http_client_abort(struct dp_http_op *op);

struct dp_http_client_stats {
    unsigned connections, idle;
    uint64_t connects, reuses, retries;
};

void
dp_http_client_stats(const struct dp_http_client *client,
                     struct dp_http_client_stats *out);

#endif
