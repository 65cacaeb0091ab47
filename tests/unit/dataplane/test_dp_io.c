/* Unit tests: dp_io, plain and TLS reads and writes on non-blocking
 * sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_io.h"

#include <openssl/err.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void
pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
                                sv), 0);
}

static void
test_plain(void **state)
{
    (void)state;
    int sv[2];
    pair(sv);
    char buf[64];
    assert_int_equal(dp_io_recv(sv[0], buf, sizeof(buf)), DP_IO_AGAIN);
    assert_int_equal(dp_io_send(sv[1], "hello", 5), 5);
    assert_int_equal(dp_io_recv(sv[0], buf, sizeof(buf)), 5);
    assert_memory_equal(buf, "hello", 5);

    /* a full socket: would block, not an error */
    static char big[65536];
    ssize_t n;
    size_t total = 0;
    while ((n = dp_io_send(sv[1], big, sizeof(big))) > 0)
        total += (size_t)n;
    assert_int_equal(n, DP_IO_AGAIN);
    assert_true(total > 0);

    /* the peer gone: EPIPE, and no SIGPIPE ends this test */
    close(sv[0]);
    errno = 0;
    assert_int_equal(dp_io_send(sv[1], "x", 1), -1);
    assert_int_equal(errno, EPIPE);
    close(sv[1]);

    /* the end of the stream after the bytes */
    pair(sv);
    assert_int_equal(dp_io_send(sv[1], "ab", 2), 2);
    close(sv[1]);
    assert_int_equal(dp_io_recv(sv[0], buf, sizeof(buf)), 2);
    assert_int_equal(dp_io_recv(sv[0], buf, sizeof(buf)), 0);
    close(sv[0]);

    /* not a socket: -1 with errno */
    errno = 0;
    assert_int_equal(dp_io_recv(-1, buf, sizeof(buf)), -1);
    assert_int_equal(errno, EBADF);
}

static SSL *
client_on(SSL_CTX *ctx, int fd)
{
    SSL *ssl = SSL_new(ctx);
    assert_non_null(ssl);
    assert_int_equal(SSL_set_fd(ssl, fd), 1);
    SSL_set_connect_state(ssl);
    return ssl;
}

static void
test_tls(void **state)
{
    (void)state;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    int sv[2];
    pair(sv);
    SSL *ssl = client_on(ctx, sv[0]);
    char buf[64];
    int err = -1;

    /* an error left in the queue by someone else does not count: the
     * read sends its ClientHello and waits for the server */
    ERR_put_error(ERR_LIB_SSL, 0, SSL_R_BAD_LENGTH, __FILE__, __LINE__);
    int n = dp_io_tls_read(ssl, buf, sizeof(buf), &err);
    assert_true(n <= 0);
    assert_int_equal(err, SSL_ERROR_WANT_READ);
    assert_int_equal(ERR_peek_error(), 0);
    assert_true(dp_io_recv(sv[1], buf, sizeof(buf)) > 0); /* the hello */

    err = -1;
    n = dp_io_tls_write(ssl, "x", 1, &err);
    assert_true(n <= 0);
    assert_int_equal(err, SSL_ERROR_WANT_READ);

    /* not TLS from the peer: a failure with its code, not "again" */
    assert_int_equal(dp_io_send(sv[1], "HTTP/1.1 400 Bad\r\n\r\n", 20), 20);
    err = -1;
    n = dp_io_tls_read(ssl, buf, sizeof(buf), &err);
    assert_true(n <= 0);
    assert_int_equal(err, SSL_ERROR_SSL);
    ERR_clear_error();
    SSL_free(ssl);
    close(sv[0]);
    close(sv[1]);
    SSL_CTX_free(ctx);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_tls),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
