/*
 * dp_io: one read or write on a non-blocking stream socket, plain or
 * TLS, for the connections portierd opens itself (dp_http_client,
 * dp_tunnel).
 *
 * Promises:
 * - dp_io_recv() and dp_io_send() retry a call interrupted by a signal
 *   and report "would block" as DP_IO_AGAIN, never as an error; a send
 *   never raises SIGPIPE (MSG_NOSIGNAL).
 * - dp_io_tls_read() and dp_io_tls_write() start with an empty OpenSSL
 *   error queue (so that what SSL_get_error() says is about this call)
 *   and pass at most INT_MAX bytes; they leave the meaning of a failure
 *   (SSL_get_error()'s code) and the error queue to the caller, whose
 *   end-of-stream and error rules differ.
 */
#ifndef PORTIER_DP_IO_H
#define PORTIER_DP_IO_H

#include <openssl/ssl.h>

#include <stddef.h>
#include <sys/types.h>

enum {
    DP_IO_AGAIN = -2,             /* would block */
};

/** recv(): bytes read, 0 at the end, DP_IO_AGAIN, or -1 with errno. */
ssize_t
dp_io_recv(int fd, void *buf, size_t len);

/** send(): bytes written, DP_IO_AGAIN, or -1 with errno (EPIPE when the
 *  peer is gone). */
ssize_t
dp_io_send(int fd, const void *buf, size_t len);

/**
 * SSL_read() of up to `len` bytes: the bytes read (> 0), or SSL_read()'s
 * return value (<= 0) with SSL_get_error()'s code in *err.
 */
int
dp_io_tls_read(SSL *ssl, void *buf, size_t len, int *err);

/** SSL_write(), the same way as dp_io_tls_read(). */
int
dp_io_tls_write(SSL *ssl, const void *buf, size_t len, int *err);

#endif
