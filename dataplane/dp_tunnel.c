/*
 * The relay of an upgraded connection: two sides, each with a uv_poll_t
 * and the buffer of bytes going out to it.  One pump moves what it can in
 * both directions until nothing moves, then sets each side's poll events
 * from what is left to do.
 */
#include "dp_tunnel.h"
#include "dp_io.h"

#include <openssl/err.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TUNNEL_BUF (64 * 1024)
#define PUMP_ROUNDS 16          /* then the loop's other work goes first */

enum {
    IO_AGAIN = DP_IO_AGAIN,
};

struct dp_tunnel;

struct side {
    struct dp_tunnel *t;
    int fd;
    SSL *ssl;
    uv_poll_t poll;
    bool poll_ok;                       /* poll initialised */
    int events;
    uint8_t *out;                       /* bytes going out to this side */
    size_t out_cap, out_pos, out_len;
    bool eof;                           /* its stream towards us ended */
    bool shut;                          /* our stream towards it ended */
    int tls_read_wants;                 /* UV_WRITABLE: SSL_read waits */
    int tls_write_wants;                /* UV_READABLE: SSL_write waits */
    void (*release)(void *ctx);         /* the stream's, or NULL */
    void *release_ctx;
    char name[160];
};

struct dp_tunnel {
    struct dp_tunnel *prev, *next;
    struct side s[2];                   /* 0: client, 1: backend */
    uv_timer_t timer;
    uv_timer_t kick;                    /* a pump cut short goes on */
    uint64_t idle_ms;
    int open_handles;
    bool closed;
};

static struct dp_tunnel *tunnels;
static unsigned n_tunnels;

static void tunnel_poll_cb(uv_poll_t *poll, int status, int events);

static void
tunnel_handle_closed(uv_handle_t *h)
{
    struct dp_tunnel *t = h->data;
    if (--t->open_handles > 0)
        return;
    free(t->s[0].out);
    free(t->s[1].out);
    free(t);
}

/* Close both sockets; `why` (NULL: a clean end) goes to the log. */
static void
tunnel_close(struct dp_tunnel *t, const char *why)
{
    if (t->closed)
        return;
    t->closed = true;
    if (why != NULL)
        fprintf(stderr, "portierd: tunnel %s <-> %s: %s\n", t->s[0].name,
                t->s[1].name, why);
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        tunnels = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    n_tunnels--;
    for (int i = 0; i < 2; i++) {
        struct side *s = &t->s[i];
        s->poll.data = t;               /* for tunnel_handle_closed */
        if (s->poll_ok)
            uv_close((uv_handle_t *)&s->poll, tunnel_handle_closed);
        if (s->ssl != NULL)
            SSL_free(s->ssl);
        s->ssl = NULL;
        close(s->fd);
        s->fd = -1;
    }
    ERR_clear_error();
    uv_close((uv_handle_t *)&t->timer, tunnel_handle_closed);
    uv_close((uv_handle_t *)&t->kick, tunnel_handle_closed);
    /* The slots go back last, the backend's first: the client's may end
     * the worker's shutdown, which frees the HTTP client. */
    for (int i = 1; i >= 0; i--) {
        struct side *s = &t->s[i];
        if (s->release != NULL) {
            void (*fn)(void *) = s->release;
            s->release = NULL;
            fn(s->release_ctx);
        }
    }
}

/* Bytes read, 0 at the end of the stream, IO_AGAIN, or -1 with errno. */
static ssize_t
side_recv(struct side *s, uint8_t *buf, size_t len)
{
    if (s->ssl == NULL)
        return dp_io_recv(s->fd, buf, len);
    s->tls_read_wants = 0;
    int err;
    int n = dp_io_tls_read(s->ssl, buf, len, &err);
    if (n > 0)
        return n;
    switch (err) {
    case SSL_ERROR_WANT_READ:
        return IO_AGAIN;
    case SSL_ERROR_WANT_WRITE:
        s->tls_read_wants = UV_WRITABLE;
        return IO_AGAIN;
    case SSL_ERROR_ZERO_RETURN:
        return 0;                       /* close_notify */
    case SSL_ERROR_SYSCALL:
        if (ERR_peek_error() == 0 && (n == 0 || errno == 0))
            return 0;                   /* EOF without close_notify */
        ERR_clear_error();
        if (errno == 0)
            errno = EPROTO;
        return -1;
    default:
        ERR_clear_error();
        errno = EPROTO;
        return -1;
    }
}

/* Bytes written, IO_AGAIN, or -1 with errno. */
static ssize_t
side_send(struct side *s, const uint8_t *buf, size_t len)
{
    if (s->ssl == NULL)
        return dp_io_send(s->fd, buf, len);
    s->tls_write_wants = 0;
    int err;
    int n = dp_io_tls_write(s->ssl, buf, len, &err);
    if (n > 0)
        return n;
    switch (err) {
    case SSL_ERROR_WANT_WRITE:
        return IO_AGAIN;
    case SSL_ERROR_WANT_READ:
        s->tls_write_wants = UV_READABLE;
        return IO_AGAIN;
    default:
        ERR_clear_error();
        if (errno == 0)
            errno = EPIPE;
        return -1;
    }
}

/* End our stream towards s: close_notify over TLS (best effort), then
 * the TCP FIN. */
static void
side_shutdown(struct side *s)
{
    s->shut = true;
    if (s->ssl != NULL) {
        ERR_clear_error();
        SSL_shutdown(s->ssl);
        ERR_clear_error();
    }
    shutdown(s->fd, SHUT_WR);
}

static void
side_set_poll(struct side *s, int events)
{
    if (s->events == events)
        return;
    s->events = events;
    if (events == 0)
        uv_poll_stop(&s->poll);
    else
        uv_poll_start(&s->poll, events, tunnel_poll_cb);
}

static void
tunnel_fail(struct dp_tunnel *t, const char *what, const struct side *s,
            int err)
{
    char msg[300];
    snprintf(msg, sizeof(msg), "%s %s: %s", what, s->name,
             err == EPROTO ? "TLS error" : strerror(err));
    tunnel_close(t, msg);
}

static void tunnel_kick_cb(uv_timer_t *timer);

/* Move what can be moved, for PUMP_ROUNDS rounds at most (a fast pair
 * must not starve the loop: the kick timer goes on, as OpenSSL may hold
 * bytes no poll event announces); true when a byte moved. */
static bool
tunnel_pump(struct dp_tunnel *t)
{
    bool moved = false, progress = true;
    for (int round = 0; progress; round++) {
        if (round == PUMP_ROUNDS) {
            uv_timer_start(&t->kick, tunnel_kick_cb, 0, 0);
            break;
        }
        progress = false;
        for (int i = 0; i < 2; i++) {
            struct side *s = &t->s[i], *o = &t->s[1 - i];
            if (!s->eof) {
                if (o->out_pos == o->out_len) {
                    o->out_pos = o->out_len = 0;
                } else if (o->out_len == o->out_cap && o->out_pos > 0) {
                    memmove(o->out, o->out + o->out_pos,
                            o->out_len - o->out_pos);
                    o->out_len -= o->out_pos;
                    o->out_pos = 0;
                }
                if (o->out_len < o->out_cap) {
                    ssize_t n = side_recv(s, o->out + o->out_len,
                                          o->out_cap - o->out_len);
                    if (n > 0) {
                        o->out_len += (size_t)n;
                        progress = moved = true;
                    } else if (n == 0) {
                        s->eof = true;
                        progress = true;
                    } else if (n == -1) {
                        tunnel_fail(t, "reading from", s, errno);
                        return moved;
                    }
                }
            }
            if (s->out_pos < s->out_len) {
                ssize_t n = side_send(s, s->out + s->out_pos,
                                      s->out_len - s->out_pos);
                if (n > 0) {
                    s->out_pos += (size_t)n;
                    progress = moved = true;
                } else if (n == -1) {
                    tunnel_fail(t, "writing to", s, errno);
                    return moved;
                }
            }
            if (o->eof && !s->shut && s->out_pos == s->out_len) {
                side_shutdown(s);
                progress = true;
            }
        }
    }
    if (t->s[0].shut && t->s[1].shut) {
        tunnel_close(t, NULL);
        return moved;
    }
    for (int i = 0; i < 2; i++) {
        struct side *s = &t->s[i], *o = &t->s[1 - i];
        int ev = 0;
        if (!s->eof && (o->out_len < o->out_cap || o->out_pos > 0))
            ev |= UV_READABLE | s->tls_read_wants;
        if (s->out_pos < s->out_len)
            ev |= UV_WRITABLE | s->tls_write_wants;
        side_set_poll(s, ev);
    }
    return moved;
}

static void
tunnel_idle_cb(uv_timer_t *timer)
{
    struct dp_tunnel *t = timer->data;
    char msg[64];
    snprintf(msg, sizeof(msg), "no data for %llu ms: closed",
             (unsigned long long)t->idle_ms);
    tunnel_close(t, msg);
}

static void
tunnel_kick_cb(uv_timer_t *timer)
{
    struct dp_tunnel *t = timer->data;
    if (!t->closed && tunnel_pump(t) && !t->closed)
        uv_timer_again(&t->timer);
}

static void
tunnel_poll_cb(uv_poll_t *poll, int status, int events)
{
    (void)events;
    struct side *s = poll->data;
    struct dp_tunnel *t = s->t;
    if (t->closed)
        return;
    if (status < 0) {
        tunnel_fail(t, "polling", s, -status);
        return;
    }
    if (tunnel_pump(t) && !t->closed)
        uv_timer_again(&t->timer);
}

void
dp_stream_close(struct dp_stream *st)
{
    if (st->ssl != NULL)
        SSL_free(st->ssl);
    st->ssl = NULL;
    if (st->fd >= 0)
        close(st->fd);
    st->fd = -1;
    free(st->in);
    st->in = NULL;
    ERR_clear_error();
    if (st->release != NULL) {
        void (*fn)(void *) = st->release;
        st->release = NULL;
        fn(st->release_ctx);
    }
}

/* The buffer towards a side with `first` and `second` in it. */
static int
side_out_init(struct side *s, const uint8_t *first, size_t first_len,
              const uint8_t *second, size_t second_len)
{
    size_t need = first_len + second_len;
    s->out_cap = need > TUNNEL_BUF ? need : TUNNEL_BUF;
    s->out = malloc(s->out_cap);
    if (s->out == NULL)
        return -ENOMEM;
    if (first_len > 0)
        memcpy(s->out, first, first_len);
    if (second_len > 0)
        memcpy(s->out + first_len, second, second_len);
    s->out_len = need;
    return 0;
}

int
dp_tunnel_start(uv_loop_t *loop, struct dp_stream *client,
                const uint8_t *to_client, size_t to_client_len,
                struct dp_stream *backend, uint64_t idle_timeout_ms)
{
    struct dp_tunnel *t = calloc(1, sizeof(*t));
    if (t == NULL ||
        side_out_init(&t->s[0], to_client, to_client_len, backend->in,
                      backend->in_len) != 0 ||
        side_out_init(&t->s[1], client->in, client->in_len, NULL, 0) != 0) {
        if (t != NULL) {
            free(t->s[0].out);
            free(t);
        }
        dp_stream_close(backend);       /* the backend's slot first */
        dp_stream_close(client);
        return -ENOMEM;
    }
    struct dp_stream *st[2] = { client, backend };
    for (int i = 0; i < 2; i++) {
        struct side *s = &t->s[i];
        s->t = t;
        s->fd = st[i]->fd;
        s->ssl = st[i]->ssl;
        snprintf(s->name, sizeof(s->name), "%s", st[i]->name);
        s->release = st[i]->release;
        s->release_ctx = st[i]->release_ctx;
        st[i]->release = NULL;
        free(st[i]->in);
        st[i]->in = NULL;
        st[i]->fd = -1;
        st[i]->ssl = NULL;
    }
    uv_timer_init(loop, &t->timer);
    t->timer.data = t;
    uv_timer_init(loop, &t->kick);
    t->kick.data = t;
    t->open_handles = 2;
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        struct side *s = &t->s[i];
        rc = uv_poll_init(loop, &s->poll, s->fd);
        if (rc == 0) {
            s->poll_ok = true;
            s->poll.data = s;
            t->open_handles++;
        }
    }
    t->idle_ms = idle_timeout_ms > 0 ? idle_timeout_ms : 120000;
    t->next = tunnels;
    if (tunnels != NULL)
        tunnels->prev = t;
    tunnels = t;
    n_tunnels++;
    if (rc != 0) {
        char msg[120];
        snprintf(msg, sizeof(msg), "cannot poll the sockets: %s",
                 uv_strerror(rc));
        tunnel_close(t, msg);
        return rc;
    }
    uv_timer_start(&t->timer, tunnel_idle_cb, t->idle_ms, t->idle_ms);
    /* OpenSSL may hold decrypted bytes already: try everything now */
    tunnel_pump(t);
    return 0;
}

unsigned
dp_tunnel_close_all(void)
{
    /* A release callback may end the shutdown, which comes back here
     * for the rest: count first. */
    unsigned n = n_tunnels;
    while (tunnels != NULL)
        tunnel_close(tunnels, NULL);    /* the caller logs how many */
    return n;
}

unsigned
dp_tunnel_count(void)
{
    return n_tunnels;
}
