/*
 * dp_tunnel: two connections relayed byte for byte in both directions,
 * after an HTTP Upgrade (101 Switching Protocols) between the client and
 * an HTTP backend.
 *
 * Promises:
 * - A tunnel takes over two connected non-blocking sockets (struct
 *   dp_stream: the socket, its TLS session or NULL, and the bytes already
 *   received from it that the other side gets first) and drives them on
 *   uv_poll_t with recv()/send(), or SSL_read()/SSL_write() where a side
 *   speaks TLS.
 * - Memory is bounded: one 64 KiB buffer per direction; a side is not
 *   read while the buffer towards the other side is full (back-pressure
 *   reaches the sender through TCP).  One poll event moves about 1 MiB
 *   per direction at most, then the loop's other work goes first.
 * - Half-close: when one side ends its stream (EOF, or a TLS
 *   close_notify), the other side gets what is buffered, then the end of
 *   the stream (close_notify over TLS, then shutdown(SHUT_WR)); the other
 *   direction goes on.  The tunnel closes both sockets when both
 *   directions have ended, when either side fails (reset, TLS error,
 *   broken pipe), or when no byte moves in either direction for
 *   idle_timeout_ms.  One log line on stderr names the sides and says why
 *   it ended when that was not a clean close from both sides.
 * - A stream may carry a release callback: the slot its socket holds in
 *   a limit (the HTTP server's max_connections, the HTTP client's
 *   per-address limit).  It is called exactly once, right after the
 *   socket is closed, by the tunnel or by dp_stream_close(); a tunnel
 *   calls its backend side's before its client side's, after the tunnel
 *   left the list (so a callback may close the other tunnels).
 * - dp_tunnel_close_all() cuts every tunnel (the worker's shutdown
 *   timeout is up) and says how many; the handles are closed
 *   asynchronously, so the loop must run on.
 */
#ifndef PORTIER_DP_TUNNEL_H
#define PORTIER_DP_TUNNEL_H

#include <openssl/ssl.h>
#include <uv.h>

#include <stddef.h>
#include <stdint.h>

/** A connection handed over to a tunnel. */
struct dp_stream {
    int fd;                 /* connected, non-blocking */
    SSL *ssl;               /* its TLS session, or NULL for plain */
    uint8_t *in;            /* malloc()ed bytes received already, or NULL */
    size_t in_len;
    char name[160];         /* for the log: "client 192.0.2.1:5000" */
    /* called once when the socket is closed, or NULL */
    void (*release)(void *ctx);
    void *release_ctx;
};

/**
 * Start relaying between `client` and `backend`; `to_client` (may be
 * empty) goes to the client before anything read from the backend (the
 * 101 head).  The tunnel owns both streams from now on, also when it
 * fails to start (then they are closed at once and -ENOMEM, or libuv's
 * error when the sockets cannot be polled, returned).
 */
int
dp_tunnel_start(uv_loop_t *loop, struct dp_stream *client,
                const uint8_t *to_client, size_t to_client_len,
                struct dp_stream *backend, uint64_t idle_timeout_ms);

/** Close a stream that no tunnel took: its socket, TLS session and
 *  bytes; then its release callback. */
void
dp_stream_close(struct dp_stream *st);

/** Close every tunnel now, without a log line each; returns how many
 *  were open (for the caller's one line). */
unsigned
dp_tunnel_close_all(void);

/** The number of open tunnels. */
unsigned
dp_tunnel_count(void);

#endif
