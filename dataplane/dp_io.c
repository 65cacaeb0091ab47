/*
 * dp_io: plain and TLS reads and writes on a non-blocking socket (see
 * dp_io.h).
 */
#include "dp_io.h"

#include <openssl/err.h>

#include <errno.h>
#include <limits.h>
#include <sys/socket.h>

ssize_t
dp_io_recv(int fd, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = recv(fd, buf, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return DP_IO_AGAIN;
        return n;
    }
}

ssize_t
dp_io_send(int fd, const void *buf, size_t len)
{
    for (;;) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return DP_IO_AGAIN;
        return n;
    }
}

int
dp_io_tls_read(SSL *ssl, void *buf, size_t len, int *err)
{
    ERR_clear_error();
    int n = SSL_read(ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
    *err = n > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, n);
    return n;
}

int
dp_io_tls_write(SSL *ssl, const void *buf, size_t len, int *err)
{
    ERR_clear_error();
    int n = SSL_write(ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
    *err = n > 0 ? SSL_ERROR_NONE : SSL_get_error(ssl, n);
    return n;
}
