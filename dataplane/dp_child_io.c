/*
 * dp_child_io: the stdin feeder and the stdout body of a child.  See
 * dp_child_io.h.
 */
#include "dp_child_io.h"
#include "dp_pool.h"
#include "dp_splice.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PIPE_BODY_BUFFER (64 * 1024)
/* Body bytes spliced into the child's stdin per step: then the feeder
 * waits for the pipe's writability, yielding to the loop. */
#define FEED_SPLICE_STEP (256 * 1024)

static void
set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* ---- the feeder ----
 *
 * When the body offers a readable descriptor (dp_body_fd: the client
 * socket of a plain connection with a Content-Length request body,
 * nothing of it buffered), the feeder splices it into the child's stdin
 * (dp_splice_to_pipe, no intermediate pipe) and reports the bytes with
 * dp_body_fd_advance(); otherwise the body reads itself and feed_data()
 * writes what it hands over (chunked and TLS bodies, bytes that came
 * with the head). */

struct dp_feed {
    struct dp_body *body;             /* NULL once let go */
    int fd;
    uv_poll_t poll;
    bool poll_open, polling, ended, epipe, freed_by_close;
    bool fd_off;                      /* the body's descriptor failed:
                                         copy the rest */
    bool spliced;                     /* the body offered its descriptor */
    bool pumping;                     /* feed_pump() runs */
    bool full;                        /* feed_data() could not write all */
    bool *took;                       /* feed_pump(): set when feed_data()
                                         took bytes */
    void (*event)(void *ctx, enum dp_feed_event ev, const char *msg);
    void *ctx;
    struct dp_feed **anchor;          /* in the pool; NULL when gone */
};

static void
feed_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Let go of everything; free once the poll handle is closed. */
static void
feed_end(struct dp_feed *f)
{
    if (f->ended)
        return;
    f->ended = true;
    if (f->anchor != NULL) {
        *f->anchor = NULL;
        f->anchor = NULL;
    }
    if (f->fd >= 0) {
        if (f->poll_open) {
            f->poll_open = false;
            uv_poll_stop(&f->poll);
            uv_close((uv_handle_t *)&f->poll, feed_closed);
            f->freed_by_close = true;
        }
        close(f->fd);
        f->fd = -1;
    }
}

static void
feed_free_later(struct dp_feed *f)
{
    if (!f->freed_by_close)
        free(f);
}

static void
feed_finish(struct dp_feed *f, enum dp_feed_event ev, const char *msg)
{
    if (f->ended)
        return;
    struct dp_body *body = f->body;
    f->body = NULL;
    void (*event)(void *, enum dp_feed_event, const char *) = f->event;
    void *ctx = f->ctx;
    feed_end(f);
    if (body != NULL && ev == DP_FEED_CLOSED)
        dp_body_close(body);
    if (event != NULL)
        event(ctx, ev, msg);
    feed_free_later(f);
}

static void feed_pump(struct dp_feed *f);

static void
on_feed_writable(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    struct dp_feed *f = h->data;
    uv_poll_stop(&f->poll);
    f->polling = false;
    if (f->epipe) {
        feed_finish(f, DP_FEED_CLOSED, NULL);
        return;
    }
    feed_pump(f);
}

static void
feed_wait(struct dp_feed *f)
{
    if (f->polling || !f->poll_open)
        return;
    f->polling = true;
    uv_poll_start(&f->poll, UV_WRITABLE, on_feed_writable);
}

/* The body's descriptor is readable again (dp_body_fd_wait). */
static void
feed_body_ready(void *ctx)
{
    struct dp_feed *f = ctx;
    if (!f->ended && f->body != NULL)
        feed_pump(f);
}

/* Splice one step from the body's descriptor into stdin.  True when the
 * caller goes on (the body says what comes next), false when a wait is
 * set up. */
static bool
feed_splice(struct dp_feed *f, struct dp_body *b, const struct dp_body_fd *src)
{
    struct dp_splice_result r;
    enum dp_splice_status st = dp_splice_to_pipe(src->fd, src->length, f->fd,
                                                 FEED_SPLICE_STEP, &r);
    f->spliced = true;
    if (r.in > 0) {
        dp_body_fd_advance(b, r.in);
        if (f->event != NULL)
            f->event(f->ctx, DP_FEED_PROGRESS, NULL);
        if (f->ended)
            return false;
    }
    switch (st) {
    case DP_SPLICE_BUDGET:
    case DP_SPLICE_DST_AGAIN:
        feed_wait(f);
        return false;
    case DP_SPLICE_SRC_AGAIN:
        dp_body_fd_wait(b, feed_body_ready);
        return false;
    case DP_SPLICE_SRC_DONE:
        return true;
    case DP_SPLICE_SRC_END:
        /* end of file or an error before the body's end: the body reads
         * itself and reports it with its own message */
        f->fd_off = true;
        return true;
    case DP_SPLICE_DST_ERROR:
        break;
    }
    /* the child closed its stdin (EPIPE): acted on from the poll
     * callback, as in feed_data() */
    f->epipe = true;
    feed_wait(f);
    return false;
}

/* Move the body on: splice while it offers its descriptor, else let it
 * read (feed_data()), until stdin or the body must be waited for or the
 * body ended. */
static void
feed_pump(struct dp_feed *f)
{
    f->pumping = true;
    while (!f->ended && f->body != NULL && !f->epipe) {
        struct dp_body *b = f->body;
        struct dp_body_fd src;
        if (!f->fd_off && dp_body_fd(b, &src)) {
            if (!feed_splice(f, b, &src))
                break;
            continue;
        }
        f->full = false;
        bool took = false;
        f->took = &took;
        dp_body_read(b);
        f->took = NULL;
        if (f->ended)
            return;             /* freed by its close callback, later */
        if (f->body != b || f->full || !took)
            break;
    }
    f->pumping = false;
}

static size_t
feed_data(void *ctx, const uint8_t *data, size_t len)
{
    struct dp_feed *f = ctx;
    if (f->ended || f->epipe)
        return 0;
    ssize_t n;
    do
        n = write(f->fd, data, len);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EPIPE)
            f->epipe = true;    /* acted on from the poll callback */
        f->full = true;
        feed_wait(f);
        return 0;
    }
    if ((size_t)n < len) {
        f->full = true;
        feed_wait(f);
    } else if (!f->pumping && f->spliced) {
        /* a body that offered its descriptor may stop after its
         * buffered bytes for the consumer to ask again (dp_body.h) */
        feed_wait(f);
    }
    if (n > 0 && f->took != NULL)
        *f->took = true;
    if (n > 0 && f->event != NULL)
        f->event(f->ctx, DP_FEED_PROGRESS, NULL);
    return (size_t)n;
}

static void
feed_eof(void *ctx)
{
    struct dp_feed *f = ctx;
    f->body = NULL;
    feed_finish(f, DP_FEED_DONE, NULL);
}

static void
feed_error(void *ctx, int err, const char *msg)
{
    (void)err;
    struct dp_feed *f = ctx;
    f->body = NULL;
    feed_finish(f, DP_FEED_ERROR, msg);
}

static const struct dp_body_handler feed_handler = {
    .data = feed_data,
    .eof = feed_eof,
    .error = feed_error,
};

static void
feed_pool_cleanup(void *arg)
{
    struct dp_feed **anchor = arg;
    if (*anchor != NULL)
        dp_feed_stop(*anchor);
}

struct dp_feed *
dp_feed_start(struct dp_pool *pool, struct dp_body *body, int fd,
              void (*event)(void *ctx, enum dp_feed_event ev,
                            const char *msg),
              void *ctx)
{
    uv_loop_t *loop = dp_spawn_loop();
    struct dp_feed *f = calloc(1, sizeof(*f));
    struct dp_feed **anchor = dp_pool_alloc(pool, sizeof(*anchor));
    if (f == NULL || anchor == NULL || loop == NULL ||
        dp_pool_cleanup(pool, feed_pool_cleanup, anchor) != 0) {
        free(f);
        close(fd);
        dp_body_close(body);
        return NULL;
    }
    *anchor = f;
    f->anchor = anchor;
    f->body = body;
    f->fd = fd;
    f->event = event;
    f->ctx = ctx;
    set_nonblock(fd);
    if (uv_poll_init(loop, &f->poll, fd) != 0) {
        *anchor = NULL;
        free(f);
        close(fd);
        dp_body_close(body);
        return NULL;
    }
    f->poll.data = f;
    f->poll_open = true;
    dp_body_set_handler(body, &feed_handler, f);
    /* The first read happens from the loop (the pipe is writable at
     * once), so no event reaches the caller before it has `f`. */
    feed_wait(f);
    return f;
}

void
dp_feed_stop(struct dp_feed *f)
{
    if (f == NULL || f->ended)
        return;
    struct dp_body *body = f->body;
    f->body = NULL;
    f->event = NULL;
    feed_end(f);
    if (body != NULL)
        dp_body_close(body);
    feed_free_later(f);
}

/* ---- the pipe body ---- */

struct pipe_body {
    struct dp_body base;
    int fd;
    uv_poll_t poll;
    uv_timer_t timer;
    int handles;                      /* open handles */
    bool polling, timing, done;
    struct dp_child *child;
    uint64_t timeout_ms;
    char *name;
    uint8_t *buf;
    size_t pos, len;
    int64_t remaining;                /* declared bytes to come, or -1 */
    struct pipe_body **anchor;
    const struct dp_pipe_head *head;  /* while the head is read */
};

static void
pb_free(struct pipe_body *p)
{
    free(p->buf);
    free(p->name);
    free(p);
}

static void
pb_handle_closed(uv_handle_t *h)
{
    struct pipe_body *p = h->data;
    if (--p->handles == 0)
        pb_free(p);
}

/* Release the descriptor, the child and the handles. */
static void
pb_release(struct pipe_body *p, bool kill_now)
{
    if (p->done)
        return;
    p->done = true;
    if (p->anchor != NULL) {
        *p->anchor = NULL;
        p->anchor = NULL;
    }
    if (p->child != NULL) {
        dp_child_release(p->child, kill_now);
        p->child = NULL;
    }
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
    if (p->handles == 0) {
        pb_free(p);
        return;
    }
    uv_close((uv_handle_t *)&p->poll, pb_handle_closed);
    uv_close((uv_handle_t *)&p->timer, pb_handle_closed);
}

static void
pb_error(struct pipe_body *p, int err, const char *msg)
{
    const struct dp_body_handler *h = p->base.handler;
    void *ctx = p->base.ctx;
    const struct dp_pipe_head *hd = p->head;
    p->head = NULL;
    char copy[300];
    snprintf(copy, sizeof(copy), "%s", msg);
    pb_release(p, true);
    if (hd != NULL)
        hd->failed(hd->ctx, err, copy);
    else
        h->error(ctx, err, copy);
}

/* The end of the output: eof() for a body, failed() for a head; an
 * error when the child never started. */
static void
pb_eof(struct pipe_body *p)
{
    const char *start_error = p->child != NULL
                                  ? dp_child_start_error(p->child) : NULL;
    if (start_error != NULL) {
        pb_error(p, ENOEXEC, start_error);
        return;
    }
    const struct dp_body_handler *h = p->base.handler;
    void *ctx = p->base.ctx;
    const struct dp_pipe_head *hd = p->head;
    p->head = NULL;
    pb_release(p, hd != NULL);
    if (hd != NULL)
        hd->failed(hd->ctx, 0, NULL);
    else
        h->eof(ctx);
}

static void pb_pump(struct pipe_body *p);

static void
on_pb_readable(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    struct pipe_body *p = h->data;
    pb_pump(p);
}

static void
on_pb_timeout(uv_timer_t *t)
{
    struct pipe_body *p = t->data;
    char msg[300];
    snprintf(msg, sizeof(msg), "%s: no output for %llu ms", p->name,
             (unsigned long long)p->timeout_ms);
    pb_error(p, ETIMEDOUT, msg);
}

static void
pb_timer(struct pipe_body *p, bool on, bool restart)
{
    if (p->timeout_ms == 0)
        return;
    if (!on) {
        if (p->timing)
            uv_timer_stop(&p->timer);
        p->timing = false;
    } else if (!p->timing || restart) {
        uv_timer_start(&p->timer, on_pb_timeout, p->timeout_ms, 0);
        p->timing = true;
    }
}

static void
pb_poll(struct pipe_body *p, bool on)
{
    if (on && !p->polling)
        uv_poll_start(&p->poll, UV_READABLE, on_pb_readable);
    else if (!on && p->polling)
        uv_poll_stop(&p->poll);
    p->polling = on;
}

static void
pb_pump(struct pipe_body *p)
{
    while (!p->done) {
        if (p->pos < p->len && p->head != NULL) {
            const struct dp_pipe_head *hd = p->head;
            bool done = false;
            size_t took = hd->feed(hd->ctx, p->buf + p->pos,
                                   p->len - p->pos, &done);
            if (took == SIZE_MAX) {
                p->head = NULL;
                pb_release(p, true);
                hd->failed(hd->ctx, EPROTO, "malformed head");
                return;
            }
            p->pos += took;
            if (done) {
                p->head = NULL;
                pb_poll(p, false);
                pb_timer(p, false, false);
                hd->ready(hd->ctx);
                return;
            }
            continue;
        }
        if (p->pos < p->len) {
            size_t avail = p->len - p->pos;
            size_t took = p->base.handler->data(p->base.ctx,
                                                p->buf + p->pos, avail);
            p->pos += took;
            if (p->base.length >= 0)
                p->base.length -= (int64_t)took;
            if (took < avail) {
                /* back-pressure: the consumer reads again */
                pb_poll(p, false);
                pb_timer(p, false, false);
                return;
            }
            continue;
        }
        if (p->remaining == 0 && p->head == NULL) {
            pb_eof(p);
            return;
        }
        size_t want = PIPE_BODY_BUFFER;
        if (p->remaining > 0 && (uint64_t)p->remaining < want)
            want = (size_t)p->remaining;
        ssize_t n = read(p->fd, p->buf, want);
        if (n > 0) {
            p->pos = 0;
            p->len = (size_t)n;
            if (p->remaining > 0)
                p->remaining -= n;
            pb_timer(p, true, true);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            pb_poll(p, true);
            pb_timer(p, true, false);
            return;
        }
        char msg[300];
        if (n == 0 && p->remaining > 0) {
            snprintf(msg, sizeof(msg), "%s: output ended %lld bytes "
                     "before its Content-Length", p->name,
                     (long long)p->remaining);
            pb_error(p, EPIPE, msg);
            return;
        }
        if (n == 0) {
            pb_eof(p);
            return;
        }
        int err = errno;
        snprintf(msg, sizeof(msg), "%s: read error: %s", p->name,
                 strerror(err));
        pb_error(p, err, msg);
        return;
    }
}

void
dp_pipe_body_read_head(struct dp_body *body, const struct dp_pipe_head *head)
{
    struct pipe_body *p = (struct pipe_body *)body;
    p->head = head;
    pb_poll(p, true);
    pb_timer(p, true, true);
}

void
dp_pipe_body_set_length(struct dp_body *body, int64_t length)
{
    struct pipe_body *p = (struct pipe_body *)body;
    size_t buffered = p->len - p->pos;
    if ((uint64_t)length <= buffered) {
        p->len = p->pos + (size_t)length;
        p->remaining = 0;
    } else {
        p->remaining = length - (int64_t)buffered;
    }
    body->length = length;
}

void
dp_pipe_body_touch(struct dp_body *body)
{
    struct pipe_body *p = (struct pipe_body *)body;
    if (p->timing)
        pb_timer(p, true, true);
}

static void
pb_read(struct dp_body *body)
{
    pb_pump((struct pipe_body *)body);
}

static void
pb_close(struct dp_body *body)
{
    struct pipe_body *p = (struct pipe_body *)body;
    if (!p->done)
        pb_release(p, true);
}

static const struct dp_body_class pipe_body_class = {
    .name = "pipe",
    .read = pb_read,
    .close = pb_close,
};

static void
pb_pool_cleanup(void *arg)
{
    struct pipe_body **anchor = arg;
    if (*anchor != NULL)
        pb_release(*anchor, true);
}

struct dp_body *
dp_pipe_body_new(struct dp_pool *pool, int fd, const uint8_t *prefix,
                 size_t prefix_len, int64_t length, struct dp_child *child,
                 uint64_t timeout_ms, const char *name)
{
    uv_loop_t *loop = dp_spawn_loop();
    struct pipe_body *p = calloc(1, sizeof(*p));
    struct pipe_body **anchor = dp_pool_alloc(pool, sizeof(*anchor));
    if (p != NULL) {
        p->buf = malloc(PIPE_BODY_BUFFER > prefix_len ? PIPE_BODY_BUFFER
                                                      : prefix_len);
        p->name = strdup(name);
    }
    if (p == NULL || p->buf == NULL || p->name == NULL || anchor == NULL ||
        loop == NULL || dp_pool_cleanup(pool, pb_pool_cleanup, anchor) != 0) {
        if (p != NULL)
            pb_free(p);
        close(fd);
        if (child != NULL)
            dp_child_release(child, true);
        return NULL;
    }
    *anchor = p;
    p->anchor = anchor;
    dp_body_init(&p->base, &pipe_body_class, length);
    p->fd = fd;
    p->child = child;
    p->timeout_ms = timeout_ms;
    p->remaining = length;
    if (length >= 0 && (uint64_t)length < prefix_len)
        prefix_len = (size_t)length;
    if (prefix_len > 0)
        memcpy(p->buf, prefix, prefix_len);
    p->len = prefix_len;
    if (p->remaining > 0)
        p->remaining -= (int64_t)prefix_len;
    set_nonblock(fd);
    uv_poll_init(loop, &p->poll, fd);
    uv_timer_init(loop, &p->timer);
    p->poll.data = p->timer.data = p;
    p->handles = 2;
    return &p->base;
}
