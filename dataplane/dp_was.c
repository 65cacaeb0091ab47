/*
 * dp_was: the WAS client (see dp_was.h).
 *
 * Objects: a stock per application (key = program, arguments,
 * environment, child options) owns its processes; a process (struct
 * was_proc, malloc'ed) owns its descriptors, libuv handles and the
 * protocol state of the request it serves; a call (struct was_call, in
 * the request's pool) is one HTTP request, waiting for a process or
 * attached to one.  Every callback from libuv or from a body works on
 * the process, which outlives the call: when the request's pool goes
 * away, the call detaches itself and the process either becomes idle
 * (clean) or is drained or ended.
 */
#include "dp_was.h"
#include "dp_spawn.h"
#include "dp_uri.h"
#include "was_protocol.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* The request pipe: a step of the request body.  The response pipe: a
 * whole 1 MiB body, so that an application ahead of the client writes
 * it at once and goes on, and each splice to the client carries a full
 * step (pages exist only while bytes sit in a pipe). */
#define PIPE_SIZE (256 * 1024)
#define OUT_PIPE_SIZE (1024 * 1024)
#define READ_BUF_SIZE 65536
#define DEFAULT_TIMEOUT_MS 60000

struct was_call;
struct was_proc;

struct was_stock {
    struct was_stock *next;
    char *key;
    size_t key_len;
    char *name;                    /* "was /path/to/app", for logs */
    char *tags;                    /* CHILD_TAG values, NUL-separated */
    size_t tags_len;
    struct was_proc *procs;        /* every live process */
    unsigned n_procs, n_idle;
    struct was_call *wait_head, *wait_tail;
};

enum proc_state {
    PROC_IDLE = 1,
    PROC_BUSY,                     /* serving a call */
    PROC_DRAIN,                    /* call gone; waiting to be in step */
    PROC_DEAD,                     /* handles closing */
};

struct was_body {
    struct dp_body base;
    struct was_proc *proc;         /* NULL once ended or closed */
    bool want;                     /* the consumer asked for data */
    void (*fd_ready)(void *ctx);   /* dp_body_fd_wait(): the consumer
                                      splices and waits for the pipe */
};

struct was_proc {
    struct was_proc *next, *prev;
    struct was_stock *stock;
    struct dp_child *child;
    pid_t pid;
    enum proc_state state;
    int control, in_w, out_r;
    uv_poll_t control_poll, in_poll, out_poll;
    uv_timer_t timer;
    uv_prepare_t arm;              /* deferred starts of in_poll and
                                      out_poll */
    uv_check_t settle;             /* deferred stops of in_poll and
                                      out_poll */
    int handles;                   /* open libuv handles */
    int out_events;                /* events control_poll watches */
    bool in_polling, out_polling;  /* the watchers are registered */
    bool in_want, out_want;        /* someone waits for the request or
                                      the response pipe (pipe_watch()) */
    struct was_reader reader;
    struct pr_buf wbuf;            /* control bytes not written yet */
    size_t wpos;
    uint8_t *rbuf;                 /* response body bytes read ... */
    size_t rpos, rlen;             /* ... not taken by the consumer */

    struct was_call *call;

    /* the request body (container to application) */
    struct dp_body *in_body;       /* open request body source */
    uint64_t req_sent;
    bool req_length_known;
    bool req_done;                 /* complete with LENGTH, or PREMATURE */

    /* the response (application to container) */
    unsigned status;
    bool head_done;                /* NO_DATA or DATA received */
    bool respond_pending;          /* DATA seen, respond after the batch */
    struct was_body *body;         /* the source handed to the server */
    uint64_t resp_received;
    int64_t resp_length;           /* LENGTH, or -1 */
    int64_t resp_premature;        /* PREMATURE, or -1 */
    bool resp_done;
    bool stop_sent;
    bool fading;                   /* FADE_CHILDREN: end after this
                                      request */
};

struct was_call {
    struct dp_request *req;
    struct was_stock *stock;
    struct was_proc *proc;         /* NULL while waiting */
    struct was_call *wait_next;
    bool waiting;
    bool answered;                 /* dp_request_respond/error called */
    struct dp_response_headers headers;
    struct pr_buf packets;         /* the request's metadata packets */
    bool has_body;
    const struct tp_address *address;
    struct dp_hcache_use *cache;   /* NULL: the HTTP cache not involved */
    size_t backend_from;           /* the application's headers start */
};

static struct {
    uv_loop_t *loop;
    struct dp_was_settings settings;
    struct was_stock *stocks;
    size_t n_procs;
    bool stopping;
} was;

static void proc_fail(struct was_proc *p, unsigned status, const char *fmt,
                      ...) __attribute__((format(printf, 3, 4)));
static void proc_destroy(struct was_proc *p);
static void proc_check_done(struct was_proc *p);
static bool proc_unclean(struct was_proc *p);
static void call_attach(struct was_call *call, struct was_proc *p);
static void stock_kick(struct was_stock *stock);
static void body_deliver(struct was_proc *p);
static void drain(struct was_proc *p);
static void control_cb(uv_poll_t *h, int status, int events);
static void in_cb(uv_poll_t *h, int status, int events);
static void out_cb(uv_poll_t *h, int status, int events);
static bool tags_match(const char *tags, size_t len, const char *tag,
                       size_t tag_len);

int
dp_was_init(uv_loop_t *loop, const struct dp_was_settings *settings)
{
    was.loop = loop;
    was.settings = *settings;
    if (was.settings.timeout_ms == 0)
        was.settings.timeout_ms = DEFAULT_TIMEOUT_MS;
    was.stopping = false;
    return 0;
}

size_t
dp_was_process_count(void)
{
    return was.n_procs;
}

size_t
dp_was_fade(const char *tag, size_t tag_len, bool terminate)
{
    size_t n = 0;
    for (struct was_stock *s = was.stocks; s != NULL; s = s->next) {
        if (!tags_match(s->tags, s->tags_len, tag, tag_len))
            continue;
        struct was_proc *p = s->procs;
        while (p != NULL) {
            struct was_proc *next = p->next;
            n++;
            if (p->state == PROC_IDLE)
                proc_destroy(p);
            else if (terminate)
                proc_fail(p, 502, "terminated (TERMINATE_CHILDREN)");
            else
                p->fading = true;
            p = next;
        }
    }
    return n;
}

void
dp_was_shutdown(void)
{
    was.stopping = true;
    for (struct was_stock *s = was.stocks; s != NULL; s = s->next) {
        struct was_proc *p = s->procs;
        while (p != NULL) {
            struct was_proc *next = p->next;
            if (p->state == PROC_IDLE || p->state == PROC_DRAIN)
                proc_destroy(p);
            p = next;
        }
    }
}

/* ---- processes ---- */

static void
handle_closed(uv_handle_t *h)
{
    struct was_proc *p = h->data;
    if (--p->handles == 0) {
        was_reader_destroy(&p->reader);
        pr_buf_free(&p->wbuf);
        free(p->rbuf);
        free(p);
    }
}

static void
on_timeout(uv_timer_t *t);

static void
timer_arm(struct was_proc *p)
{
    uv_timer_start(&p->timer, on_timeout, was.settings.timeout_ms, 0);
}

/* Progress: a running timer starts over. */
static void
timer_restart(struct was_proc *p)
{
    if (uv_is_active((uv_handle_t *)&p->timer))
        timer_arm(p);
}

static void
timer_stop(struct was_proc *p)
{
    uv_timer_stop(&p->timer);
}

/* Take the process out of its stock and release everything; the memory
 * goes when the handles are closed. */
static void
proc_destroy(struct was_proc *p)
{
    if (p->state == PROC_DEAD)
        return;
    struct was_stock *s = p->stock;
    if (p->state == PROC_IDLE)
        s->n_idle--;
    p->state = PROC_DEAD;
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        s->procs = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    s->n_procs--;
    was.n_procs--;
    if (p->body != NULL) {
        p->body->proc = NULL;
        p->body = NULL;
    }
    if (p->in_body != NULL) {
        struct dp_body *b = p->in_body;
        p->in_body = NULL;
        dp_body_close(b);
    }
    uv_close((uv_handle_t *)&p->control_poll, handle_closed);
    uv_close((uv_handle_t *)&p->in_poll, handle_closed);
    uv_close((uv_handle_t *)&p->out_poll, handle_closed);
    uv_close((uv_handle_t *)&p->timer, handle_closed);
    uv_close((uv_handle_t *)&p->settle, handle_closed);
    uv_close((uv_handle_t *)&p->arm, handle_closed);
    close(p->control);
    close(p->in_w);
    close(p->out_r);
    if (p->child != NULL) {
        /* it sees the control socket's end and exits; SIGTERM later */
        dp_child_release(p->child, false);
        p->child = NULL;
    }
    stock_kick(s);
}

static void
control_update(struct was_proc *p)
{
    int events = UV_READABLE;
    if (p->wpos < p->wbuf.len)
        events |= UV_WRITABLE;
    if (events != p->out_events) {
        p->out_events = events;
        uv_poll_start(&p->control_poll, events, control_cb);
    }
}

/* Write queued control bytes as far as the socket takes them. */
static int
control_flush(struct was_proc *p)
{
    while (p->wpos < p->wbuf.len) {
        ssize_t n = send(p->control, p->wbuf.data + p->wpos,
                         p->wbuf.len - p->wpos, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0) {
            proc_fail(p, 502, "writing to its control socket: %s",
                      strerror(errno));
            return -1;
        }
        p->wpos += (size_t)n;
    }
    if (p->wpos == p->wbuf.len) {
        p->wbuf.len = 0;
        p->wpos = 0;
    }
    control_update(p);
    return 0;
}

static int
send_packet_u64(struct was_proc *p, enum was_command cmd, uint64_t v)
{
    if (was_append_u64(&p->wbuf, cmd, v) != 0) {
        proc_fail(p, 502, "out of memory");
        return -1;
    }
    return control_flush(p);
}

static int
send_packet_empty(struct was_proc *p, enum was_command cmd)
{
    if (was_append_empty(&p->wbuf, cmd) != 0) {
        proc_fail(p, 502, "out of memory");
        return -1;
    }
    return control_flush(p);
}

/* Back in the stock: to a waiting call, idle, or ended. */
static void
proc_release(struct was_proc *p)
{
    struct was_stock *s = p->stock;
    timer_stop(p);
    if (was.stopping || p->fading) {
        proc_destroy(p);
        return;
    }
    if (s->wait_head != NULL) {
        if (proc_unclean(p))
            return;
        struct was_call *call = s->wait_head;
        s->wait_head = call->wait_next;
        if (s->wait_head == NULL)
            s->wait_tail = NULL;
        call->waiting = false;
        call_attach(call, p);
        return;
    }
    if (s->n_idle >= was.settings.stock_max_idle) {
        proc_destroy(p);
        return;
    }
    /* the pipe is not watched while idle: the check before the next
     * use finds bytes that came after the end (dp_was_request()) */
    p->state = PROC_IDLE;
    s->n_idle++;
}

/* Bytes on the response pipe, 0 when none (or not known). */
static size_t
pipe_pending(int fd)
{
    int n = 0;
    if (ioctl(fd, FIONREAD, &n) != 0 || n < 0)
        return 0;
    return (size_t)n;
}

/*
 * Between responses the response pipe must be empty: bytes there came
 * after the end the application announced (LENGTH or PREMATURE) and
 * would be taken as the next response's body.  Such a process is out of
 * step: it is ended with a log line.  True when that happened.  Checked
 * once per reuse, just before the process gets its next request.
 */
static bool
proc_unclean(struct was_proc *p)
{
    size_t n = pipe_pending(p->out_r);
    if (n == 0)
        return false;
    fprintf(stderr, "portierd: WAS application %s (pid %d): %zu byte(s) "
            "on the response pipe after the end of the response body; "
            "the process is ended, not reused\n", p->stock->name + 4,
            (int)p->pid, n);
    proc_destroy(p);
    return true;
}

/* Detach the call from the process (and the request from us). */
static void
call_detach(struct was_proc *p)
{
    struct was_call *call = p->call;
    if (call == NULL)
        return;
    p->call = NULL;
    call->proc = NULL;
    dp_request_set_abort(call->req, NULL, NULL);
}

/* Both bodies are complete and in step: the process may serve again. */
static void
proc_check_done(struct was_proc *p)
{
    if (p->state != PROC_BUSY && p->state != PROC_DRAIN)
        return;
    if (!p->head_done || !p->resp_done || !p->req_done ||
        p->in_body != NULL || p->body != NULL)
        return;
    call_detach(p);
    proc_release(p);
}

/*
 * The process failed: answer the call (status for the head; an error
 * for a body already under way), log the reason with the program and
 * pid, end the process.
 */
static void
proc_fail(struct was_proc *p, unsigned status, const char *fmt, ...)
{
    if (p->state == PROC_DEAD)
        return;
    char why[300], msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    snprintf(msg, sizeof(msg), "WAS application %s (pid %d): %s",
             p->stock->name + 4, (int)p->pid, why);
    struct was_call *call = p->call;
    struct was_body *body = p->body;
    call_detach(p);
    if (body != NULL) {
        body->proc = NULL;
        p->body = NULL;
    }
    proc_destroy(p);
    if (body != NULL) {
        fprintf(stderr, "portierd: %s\n", msg);
        body->base.handler->error(body->base.ctx, EPROTO, msg);
    } else if (call != NULL && !call->answered) {
        call->answered = true;
        dp_request_error(call->req, status, msg);
    } else {
        fprintf(stderr, "portierd: %s\n", msg);
    }
}

static void
on_timeout(uv_timer_t *t)
{
    struct was_proc *p = t->data;
    proc_fail(p, 504, "no progress for %llu ms (was_timeout)",
              (unsigned long long)was.settings.timeout_ms);
}

static void
child_exited(void *ctx, int status)
{
    struct was_proc *p = ctx;
    p->child = NULL;            /* released by the spawner after this */
    char how[64];
    if (WIFEXITED(status))
        snprintf(how, sizeof(how), "exited with status %d",
                 WEXITSTATUS(status));
    else
        snprintf(how, sizeof(how), "killed by signal %d",
                 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    if (p->state == PROC_IDLE)
        proc_destroy(p);
    else
        proc_fail(p, 502, "%s", how);
}

/*
 * The pipes' watchers.  pipe_watch(): someone waits for the pipe (the
 * request body for room; for bytes, the splicing consumer, the copy path
 * or the drain).  pipe_unwatch(): nobody does any more.  Both only say
 * what is wanted; the watcher follows at the loop's next turn: a start
 * in the prepare phase (arm_cb, right before the loop polls: libuv adds
 * the descriptor to epoll only there anyway), a stop in the check phase
 * (settle_cb, right after the callbacks of the poll).  So a wait given up
 * and taken up again within one iteration (the callback, then the
 * consumer splices and waits again) costs no system call, and neither
 * does a wait taken up and given up again before the loop polled (a
 * loaded machine hands several events to one iteration: the consumer
 * waits, then the next callback brings what it waited for).  libuv
 * issues EPOLL_CTL_DEL on every uv_poll_stop(), registered or not, and
 * a DEL before the ADD of every uv_poll_start(): here they run only when
 * the wanted state at the turn differs from the registration, and a DEL
 * that fails (ENOENT) is always the one right before an ADD.
 */

static void
arm_one(uv_poll_t *h, bool want, bool *polling, int events, uv_poll_cb cb)
{
    if (want && !*polling) {
        *polling = true;
        uv_poll_start(h, events, cb);
    }
}

static void
arm_cb(uv_prepare_t *h)
{
    struct was_proc *p = h->data;
    uv_prepare_stop(h);
    if (p->state == PROC_DEAD)
        return;
    arm_one(&p->in_poll, p->in_want, &p->in_polling, UV_WRITABLE, in_cb);
    arm_one(&p->out_poll, p->out_want, &p->out_polling, UV_READABLE,
            out_cb);
}

static void
settle_one(uv_poll_t *h, bool want, bool *polling)
{
    if (!want && *polling) {
        *polling = false;
        uv_poll_stop(h);
    }
}

static void
settle_cb(uv_check_t *h)
{
    struct was_proc *p = h->data;
    uv_check_stop(h);
    if (p->state == PROC_DEAD)
        return;
    settle_one(&p->in_poll, p->in_want, &p->in_polling);
    settle_one(&p->out_poll, p->out_want, &p->out_polling);
}

static void
pipe_watch(struct was_proc *p, bool out)
{
    *(out ? &p->out_want : &p->in_want) = true;
    if (!(out ? p->out_polling : p->in_polling) && p->state != PROC_DEAD)
        uv_prepare_start(&p->arm, arm_cb);
}

static void
pipe_unwatch(struct was_proc *p, bool out)
{
    *(out ? &p->out_want : &p->in_want) = false;
    if ((out ? p->out_polling : p->in_polling) && p->state != PROC_DEAD)
        uv_check_start(&p->settle, settle_cb);
}

/* ---- the request body: from the HTTP request into the pipe ---- */

static size_t
in_data(void *ctx, const uint8_t *data, size_t len)
{
    struct was_proc *p = ctx;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(p->in_w, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            pipe_watch(p, false);
            break;
        }
        if (n < 0) {
            /* the application closed its stdin: it will say why on
             * the control socket; take nothing more */
            break;
        }
        done += (size_t)n;
    }
    p->req_sent += done;
    if (done > 0)
        timer_restart(p);       /* the application reads: progress */
    return done;
}

static void
in_eof(void *ctx)
{
    struct was_proc *p = ctx;
    p->in_body = NULL;
    pipe_unwatch(p, false);
    p->req_done = true;
    if (!p->req_length_known &&
        send_packet_u64(p, WAS_CMD_LENGTH, p->req_sent) != 0)
        return;
    proc_check_done(p);
}

static void
in_error(void *ctx, int err, const char *msg)
{
    struct was_proc *p = ctx;
    p->in_body = NULL;
    pipe_unwatch(p, false);
    p->req_done = true;
    if (send_packet_u64(p, WAS_CMD_PREMATURE, p->req_sent) != 0)
        return;
    proc_check_done(p);
}

static const struct dp_body_handler in_handler = {
    .data = in_data,
    .eof = in_eof,
    .error = in_error,
};

static void
in_cb(uv_poll_t *h, int status, int events)
{
    struct was_proc *p = h->data;
    bool wanted = p->in_want;
    pipe_unwatch(p, false);     /* in_data() waits again if it must */
    if (wanted && p->in_body != NULL)
        dp_body_read(p->in_body);
}

/* The application sent STOP: send no more of the request body. */
static void
on_app_stop(struct was_proc *p)
{
    if (p->req_done)
        return;             /* complete already: nothing to stop */
    struct dp_body *b = p->in_body;
    p->in_body = NULL;
    p->req_done = true;
    pipe_unwatch(p, false);
    if (b != NULL)
        dp_body_close(b);
    if (send_packet_u64(p, WAS_CMD_PREMATURE, p->req_sent) != 0)
        return;
    proc_check_done(p);
}

/* ---- the response body: a source over the pipe ---- */

/* Where the body ends: PREMATURE, LENGTH, or -1 when not known yet. */
static int64_t
resp_end(const struct was_proc *p)
{
    return p->resp_premature >= 0 ? p->resp_premature : p->resp_length;
}

static void
out_wait(struct was_proc *p)
{
    pipe_watch(p, true);
    timer_arm(p);
}

/* Read what the pipe has, at most up to the body's end.  1 with bytes
 * in rbuf, 0 when none now (poll armed), -1 when the process failed. */
static int
out_fill(struct was_proc *p)
{
    size_t want = READ_BUF_SIZE;
    int64_t end = resp_end(p);
    if (end >= 0 && (uint64_t)end - p->resp_received < want)
        want = (size_t)((uint64_t)end - p->resp_received);
    for (;;) {
        ssize_t n = read(p->out_r, p->rbuf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            out_wait(p);
            return 0;
        }
        if (n <= 0) {
            proc_fail(p, 502, "response pipe %s after %llu body bytes",
                      n < 0 ? strerror(errno) : "closed",
                      (unsigned long long)p->resp_received);
            return -1;
        }
        p->rpos = 0;
        p->rlen = (size_t)n;
        p->resp_received += (uint64_t)n;
        timer_restart(p);
        return 1;
    }
}

/* The body is at its end (LENGTH or PREMATURE reached): tell the
 * consumer, after the process is back in the stock. */
static void
body_finish(struct was_proc *p)
{
    struct was_body *body = p->body;
    bool cut = p->resp_premature >= 0;
    char msg[300];
    size_t more = cut ? pipe_pending(p->out_r) : 0;
    if (more > 0) {
        /* the bytes were written before the PREMATURE that denies them */
        proc_fail(p, 502, "PREMATURE %lld, but %zu more body byte(s) "
                  "were on the response pipe (malformed PREMATURE)",
                  (long long)p->resp_premature, more);
        return;
    }
    if (cut)
        snprintf(msg, sizeof(msg), "WAS application %s (pid %d) cut the "
                 "response body after %lld bytes (PREMATURE)",
                 p->stock->name + 4, (int)p->pid,
                 (long long)p->resp_premature);
    p->body = NULL;
    body->proc = NULL;
    p->resp_done = true;
    pipe_unwatch(p, true);
    timer_stop(p);
    proc_check_done(p);
    if (cut)
        body->base.handler->error(body->base.ctx, EPIPE, msg);
    else
        body->base.handler->eof(body->base.ctx);
}

/* Give the consumer what there is until it stops taking or we wait. */
static void
body_deliver(struct was_proc *p)
{
    while (p->body != NULL && p->body->want) {
        struct was_body *body = p->body;
        if (p->rpos < p->rlen) {
            size_t took = body->base.handler->data(
                body->base.ctx, p->rbuf + p->rpos, p->rlen - p->rpos);
            p->rpos += took;
            if (body->base.length >= 0)
                body->base.length -= (int64_t)took;
            if (p->rpos < p->rlen) {
                body->want = false;
                timer_stop(p);      /* the consumer is slow, not us */
                return;
            }
            continue;
        }
        int64_t end = resp_end(p);
        if (end >= 0 && p->resp_received == (uint64_t)end) {
            body_finish(p);
            return;
        }
        if (out_fill(p) <= 0)
            return;
    }
}

static void
body_read(struct dp_body *b)
{
    struct was_body *body = (struct was_body *)b;
    body->want = true;
    body->fd_ready = NULL;
    if (body->proc != NULL)
        body_deliver(body->proc);
}

/* The consumer does not want the rest: STOP, then drain in step. */
static void
body_close(struct dp_body *b)
{
    struct was_body *body = (struct was_body *)b;
    struct was_proc *p = body->proc;
    if (p == NULL)
        return;
    body->proc = NULL;
    p->body = NULL;
    p->rpos = p->rlen = 0;
    if (!p->resp_done && !p->stop_sent && p->resp_premature < 0) {
        int64_t end = resp_end(p);
        if (end < 0 || p->resp_received < (uint64_t)end) {
            p->stop_sent = true;
            if (send_packet_empty(p, WAS_CMD_STOP) != 0)
                return;
        }
    }
    drain(p);
}

/* The splice fast path: the data pipe itself, when nothing is buffered
 * and the body's end (LENGTH, PREMATURE) is not reached. */
static bool
body_fd(struct dp_body *b, struct dp_body_fd *out)
{
    struct was_proc *p = ((struct was_body *)b)->proc;
    if (p == NULL || p->rpos < p->rlen || p->resp_done)
        return false;
    int64_t end = resp_end(p);
    if (end >= 0 && p->resp_received >= (uint64_t)end)
        return false;
    out->fd = p->out_r;
    out->length = end >= 0 ? end - (int64_t)p->resp_received : -1;
    out->is_pipe = true;
    /* the consumer reads from here on: stop reading for it */
    struct was_body *body = (struct was_body *)b;
    body->want = false;
    body->fd_ready = NULL;
    pipe_unwatch(p, true);
    timer_stop(p);
    return true;
}

static void
body_fd_advance(struct dp_body *b, uint64_t n)
{
    struct was_proc *p = ((struct was_body *)b)->proc;
    if (p == NULL)
        return;
    p->resp_received += n;
    if (b->length >= 0)
        b->length -= (int64_t)n;
    timer_stop(p);      /* it runs while the consumer waits for us */
}

static void
body_fd_wait(struct dp_body *b, void (*ready)(void *ctx))
{
    struct was_body *body = (struct was_body *)b;
    if (body->proc == NULL)
        return;
    body->want = false;
    body->fd_ready = ready;
    out_wait(body->proc);
}

/* A consumer waiting for the pipe: the body may have ended meanwhile
 * (LENGTH or PREMATURE reached without another byte). */
static void
body_fd_check(struct was_proc *p)
{
    struct was_body *body = p->body;
    if (body == NULL || body->fd_ready == NULL)
        return;
    int64_t end = resp_end(p);
    if (end >= 0 && p->resp_received == (uint64_t)end) {
        body->fd_ready = NULL;
        body_finish(p);
    }
}

static const struct dp_body_class was_body_class = {
    .name = "was",
    .read = body_read,
    .close = body_close,
    .fd = body_fd,
    .fd_advance = body_fd_advance,
    .fd_wait = body_fd_wait,
};

/* Nobody reads the response body: discard it up to its end. */
static void
drain(struct was_proc *p)
{
    while (!p->resp_done) {
        int64_t end = resp_end(p);
        if (end >= 0 && p->resp_received == (uint64_t)end) {
            p->resp_done = true;
            pipe_unwatch(p, true);
            timer_stop(p);
            proc_check_done(p);
            return;
        }
        if (out_fill(p) <= 0)
            return;
        p->rpos = p->rlen = 0;
    }
}

static void
out_cb(uv_poll_t *h, int status, int events)
{
    struct was_proc *p = h->data;
    bool wanted = p->out_want;
    pipe_unwatch(p, true);         /* whoever still waits says so again */
    if (!wanted || p->state == PROC_IDLE)
        return;
    if (p->body != NULL && p->body->fd_ready != NULL) {
        struct was_body *body = p->body;
        void (*ready)(void *) = body->fd_ready;
        body->fd_ready = NULL;
        timer_stop(p);
        ready(body->base.ctx);
        return;
    }
    if (p->body != NULL)
        body_deliver(p);
    else if (p->head_done && !p->resp_done &&
             (p->state == PROC_DRAIN || p->call == NULL || p->stop_sent))
        drain(p);
}

/* ---- the control channel ---- */

static bool
framing_header(const struct pr_slice name)
{
    static const char *const names[] = {
        "content-length", "transfer-encoding", "connection", "keep-alive",
        "date", "server",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i]) == name.len &&
            strncasecmp(names[i], (const char *)name.data, name.len) == 0)
            return true;
    return false;
}

/* Send the head (and the body source) to the HTTP server. */
static void
respond(struct was_proc *p)
{
    struct was_call *call = p->call;
    unsigned status = p->status != 0 ? p->status : 200;
    if (call == NULL || call->answered) {
        /* the request is gone: the response is drained */
        if (p->body == NULL && !p->resp_done)
            drain(p);
        return;
    }
    call->answered = true;
    dp_request_set_abort(call->req, NULL, NULL);
    struct was_body *body = p->body;
    if (body != NULL)   /* a body cut by PREMATURE must not look whole */
        body->base.length = p->resp_length >= 0
                                ? p->resp_length -
                                      (int64_t)p->resp_received
                                : -1;
    struct dp_body *out = body != NULL ? &body->base : NULL;
    if (call->cache != NULL &&
        dp_hcache_response_text(call->cache, status, &call->headers,
                                call->backend_from, &out)) {
        /* a 304 refreshed the entry, which answered */
        proc_check_done(p);
        return;
    }
    dp_request_respond(call->req, status, &call->headers, out);
    proc_check_done(p);
}

/* One packet from the application; 0 or -1 (process failed). */
static int
on_packet(struct was_proc *p, const struct was_packet *pkt)
{
    if (pkt->command == WAS_CMD_NOP || pkt->command == WAS_CMD_METRIC)
        return 0;
    if (p->state == PROC_IDLE) {
        proc_fail(p, 502, "%s packet while idle",
                  was_command_name(pkt->command));
        return -1;
    }
    if (pkt->command == WAS_CMD_STOP) {
        on_app_stop(p);
        return p->state == PROC_DEAD ? -1 : 0;
    }
    if (!p->head_done) {
        struct was_call *call = p->call;
        switch (pkt->command) {
        case WAS_CMD_STATUS:
            if (p->status != 0)
                break;
            p->status = pkt->number;
            return 0;
        case WAS_CMD_HEADER: {
            if (call == NULL || framing_header(pkt->name))
                return 0;
            char *n = dp_pool_strndup(call->req->pool,
                                      (const char *)pkt->name.data,
                                      pkt->name.len);
            char *v = dp_pool_strndup(call->req->pool,
                                      (const char *)pkt->value.data,
                                      pkt->value.len);
            if (n == NULL || v == NULL ||
                dp_response_header(&call->headers, n, v) != 0) {
                proc_fail(p, 502, "out of memory");
                return -1;
            }
            return 0;
        }
        case WAS_CMD_NO_DATA:
            p->head_done = true;
            p->resp_done = true;
            timer_stop(p);
            respond(p);
            return p->state == PROC_DEAD ? -1 : 0;
        case WAS_CMD_DATA:
            p->head_done = true;
            if (p->status == 204 || p->status == 205 || p->status == 304) {
                proc_fail(p, 502, "DATA after STATUS %u", p->status);
                return -1;
            }
            if (call != NULL && !call->answered) {
                struct was_body *body = dp_pool_calloc(call->req->pool,
                                                       sizeof(*body));
                if (body == NULL) {
                    proc_fail(p, 502, "out of memory");
                    return -1;
                }
                dp_body_init(&body->base, &was_body_class, -1);
                body->proc = p;
                p->body = body;
            }
            p->respond_pending = true;
            return 0;
        default:
            break;
        }
        proc_fail(p, 502, "%s packet before the response body began",
                  was_command_name(pkt->command));
        return -1;
    }
    switch (pkt->command) {
    case WAS_CMD_LENGTH:
        if (p->resp_done || p->resp_length >= 0 ||
            pkt->u64 < p->resp_received) {
            proc_fail(p, 502, "LENGTH %llu out of place (%llu body bytes "
                      "received)", (unsigned long long)pkt->u64,
                      (unsigned long long)p->resp_received);
            return -1;
        }
        p->resp_length = (int64_t)pkt->u64;
        if (p->body != NULL)
            p->body->base.length = p->resp_length -
                                   (int64_t)p->resp_received +
                                   (int64_t)(p->rlen - p->rpos);
        return 0;
    case WAS_CMD_PREMATURE:
        if (p->resp_done || p->resp_premature >= 0 ||
            pkt->u64 < p->resp_received ||
            (p->resp_length >= 0 && (int64_t)pkt->u64 > p->resp_length)) {
            proc_fail(p, 502, "PREMATURE %llu out of place (%llu body "
                      "bytes received)", (unsigned long long)pkt->u64,
                      (unsigned long long)p->resp_received);
            return -1;
        }
        p->resp_premature = (int64_t)pkt->u64;
        return 0;
    default:
        proc_fail(p, 502, "%s packet during the response body",
                  was_command_name(pkt->command));
        return -1;
    }
}

static void
control_cb(uv_poll_t *h, int status, int events)
{
    struct was_proc *p = h->data;
    if (status < 0) {
        proc_fail(p, 502, "control socket: %s", uv_strerror(status));
        return;
    }
    if ((events & UV_WRITABLE) && control_flush(p) != 0)
        return;
    if (!(events & UV_READABLE))
        return;
    uint8_t buf[8192];
    ssize_t n = recv(p->control, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        if (p->state == PROC_IDLE) {
            proc_destroy(p);
            return;
        }
        proc_fail(p, 502, "%s", n < 0 ? strerror(errno)
                                      : "closed the control socket");
        return;
    }
    if (p->state != PROC_IDLE)
        timer_restart(p);
    size_t pos = 0;
    while (pos < (size_t)n) {
        size_t used = 0;
        struct was_packet pkt;
        enum was_reader_status st = was_reader_feed(
            &p->reader, buf + pos, (size_t)n - pos, &used, &pkt);
        if (st == WAS_READER_ERROR) {
            proc_fail(p, 502, "bad control packet: %s",
                      was_reader_error(&p->reader));
            return;
        }
        pos += used;
        if (st == WAS_READER_PACKET && on_packet(p, &pkt) != 0)
            return;
    }
    if (p->respond_pending) {
        p->respond_pending = false;
        respond(p);
        if (p->state == PROC_DEAD)
            return;
    }
    /* a PREMATURE or LENGTH may have ended the body */
    if (p->body != NULL && p->body->fd_ready != NULL)
        body_fd_check(p);
    else if (p->body != NULL)
        body_deliver(p);
    else if (p->body == NULL && p->head_done && !p->resp_done &&
             (p->call == NULL || p->stop_sent))
        drain(p);
}

/* ---- spawning ---- */

static int
set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static struct was_proc *
proc_spawn(struct was_stock *s, struct was_call *call, char *err,
           size_t errlen)
{
    struct dp_request *req = call->req;
    const struct tp_address *a = call->address;
    const char *path;
    char **argv;
    struct dp_spawn_env env;
    dp_spawn_env_init(&env, req->pool);
    for (size_t i = 0; i < a->child.env.n; i++)
        dp_spawn_env_put(&env, a->child.env.v[i].value);
    char **envp = dp_spawn_env_finish(&env);
    if (dp_spawn_argv(req->pool, a, &path, &argv) != 0 || envp == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int sv[2] = { -1, -1 }, in[2] = { -1, -1 }, out[2] = { -1, -1 };
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
        pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "socketpair/pipe: %s", strerror(errno));
        goto fail;
    }
    /* best effort: the limit for unprivileged users may be lower */
    (void)fcntl(in[1], F_SETPIPE_SZ, PIPE_SIZE);
    (void)fcntl(out[0], F_SETPIPE_SZ, OUT_PIPE_SIZE);
    if (set_nonblock(sv[0]) != 0 || set_nonblock(in[1]) != 0 ||
        set_nonblock(out[0]) != 0) {
        snprintf(err, errlen, "fcntl: %s", strerror(errno));
        goto fail;
    }
    struct was_proc *p = calloc(1, sizeof(*p));
    uint8_t *rbuf = malloc(READ_BUF_SIZE);
    if (p == NULL || rbuf == NULL) {
        free(p);
        free(rbuf);
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    struct dp_spawn_options o = {
        .name = s->name,
        .path = path,
        .argv = argv,
        .envp = envp,
        .child = &a->child,
        .stdin_fd = in[0],
        .stdout_fd = out[1],
        .extra_fds = &sv[1],
        .n_extra_fds = 1,
    };
    p->child = dp_spawn(&o, child_exited, p, err, errlen);
    close(in[0]);
    close(out[1]);
    close(sv[1]);
    in[0] = out[1] = sv[1] = -1;
    if (p->child == NULL) {
        free(p);
        free(rbuf);
        goto fail;
    }
    p->pid = dp_child_pid(p->child);
    p->stock = s;
    p->control = sv[0];
    p->in_w = in[1];
    p->out_r = out[0];
    p->rbuf = rbuf;
    was_reader_init(&p->reader, WAS_SIDE_CONTAINER, 0);
    uv_poll_init(was.loop, &p->control_poll, p->control);
    uv_poll_init(was.loop, &p->in_poll, p->in_w);
    uv_poll_init(was.loop, &p->out_poll, p->out_r);
    uv_timer_init(was.loop, &p->timer);
    uv_check_init(was.loop, &p->settle);
    uv_prepare_init(was.loop, &p->arm);
    p->control_poll.data = p->in_poll.data = p->out_poll.data = p;
    p->timer.data = p->settle.data = p->arm.data = p;
    p->handles = 6;
    p->state = PROC_BUSY;
    p->next = s->procs;
    if (s->procs != NULL)
        s->procs->prev = p;
    s->procs = p;
    s->n_procs++;
    was.n_procs++;
    control_update(p);
    return p;
fail:
    for (int i = 0; i < 2; i++) {
        if (sv[i] >= 0)
            close(sv[i]);
        if (in[i] >= 0)
            close(in[i]);
        if (out[i] >= 0)
            close(out[i]);
    }
    return NULL;
}

/* ---- calls ---- */

static void
call_attach(struct was_call *call, struct was_proc *p)
{
    p->state = PROC_BUSY;
    p->call = call;
    call->proc = p;
    p->in_body = NULL;
    p->req_sent = 0;
    p->req_length_known = false;
    p->req_done = !call->has_body;
    p->status = 0;
    p->head_done = p->respond_pending = false;
    p->body = NULL;
    p->rpos = p->rlen = 0;
    p->resp_received = 0;
    p->resp_length = p->resp_premature = -1;
    p->resp_done = p->stop_sent = false;
    if (pr_buf_append(&p->wbuf, call->packets.data, call->packets.len)
        != 0) {
        proc_fail(p, 500, "out of memory");
        return;
    }
    pr_buf_free(&call->packets);
    timer_arm(p);
    if (call->has_body) {
        struct dp_body *b = dp_request_body(call->req);
        if (b == NULL) {
            /* announced, but gone: an empty body */
            p->req_done = true;
            if (was_append_u64(&p->wbuf, WAS_CMD_LENGTH, 0) != 0) {
                proc_fail(p, 500, "out of memory");
                return;
            }
        } else {
            p->req_length_known = b->length >= 0;
            if (p->req_length_known &&
                was_append_u64(&p->wbuf, WAS_CMD_LENGTH,
                               (uint64_t)b->length) != 0) {
                proc_fail(p, 500, "out of memory");
                return;
            }
            p->in_body = b;
        }
    }
    if (control_flush(p) != 0)
        return;
    if (p->in_body != NULL) {
        dp_body_set_handler(p->in_body, &in_handler, p);
        dp_body_read(p->in_body);
    }
}

/* The request went away (its pool is released, or the client is gone
 * before the answer). */
static void
call_gone(void *arg)
{
    struct was_call *call = arg;
    pr_buf_free(&call->packets);
    if (call->waiting) {
        struct was_stock *s = call->stock;
        struct was_call **pp = &s->wait_head, *prev = NULL;
        while (*pp != NULL && *pp != call) {
            prev = *pp;
            pp = &(*pp)->wait_next;
        }
        if (*pp == call) {
            *pp = call->wait_next;
            if (s->wait_tail == call)
                s->wait_tail = prev;
        }
        call->waiting = false;
        return;
    }
    struct was_proc *p = call->proc;
    if (p == NULL)
        return;
    p->call = NULL;
    call->proc = NULL;
    call->answered = true;
    if (p->in_body != NULL) {
        /* the source belongs to the request that is going away */
        p->in_body = NULL;
        pipe_unwatch(p, false);
        if (!p->req_done) {
            p->req_done = true;
            if (send_packet_u64(p, WAS_CMD_PREMATURE, p->req_sent) != 0)
                return;
        }
    }
    if (p->body != NULL) {
        /* the server closes its body before the pool goes */
        p->body->proc = NULL;
        p->body = NULL;
    }
    if (!p->head_done) {
        /* no way to tell the application to drop the request */
        proc_fail(p, 502, "request cancelled before the response");
        return;
    }
    p->state = PROC_DRAIN;
    if (!p->resp_done && !p->stop_sent && p->resp_premature < 0) {
        p->stop_sent = true;
        if (send_packet_empty(p, WAS_CMD_STOP) != 0)
            return;
    }
    drain(p);
    if (p->state == PROC_DRAIN)
        proc_check_done(p);
}

static void
call_abort(void *arg)
{
    call_gone(arg);
}

/* Start processes for waiting calls while the limit allows. */
static void
stock_kick(struct was_stock *s)
{
    while (!was.stopping && s->wait_head != NULL &&
           (was.settings.stock_limit == 0 ||
            s->n_procs < was.settings.stock_limit)) {
        struct was_call *call = s->wait_head;
        s->wait_head = call->wait_next;
        if (s->wait_head == NULL)
            s->wait_tail = NULL;
        call->waiting = false;
        char err[400];
        struct was_proc *p = proc_spawn(s, call, err, sizeof(err));
        if (p == NULL) {
            char msg[600];
            snprintf(msg, sizeof(msg), "WAS application %s: %s",
                     s->name + 4, err);
            call->answered = true;
            dp_request_error(call->req, 502, msg);
            continue;
        }
        call_attach(call, p);
    }
}

/* ---- stocks ---- */

/* CHILD_TAG: the stock keeps its address's tags as NUL-separated
 * strings; an empty tag matches every stock. */
static char *
tags_copy(const struct tp_string_list *tags, size_t *len)
{
    size_t n = 0;
    for (size_t i = 0; i < tags->n; i++)
        n += strlen(tags->v[i]) + 1;
    char *out = malloc(n > 0 ? n : 1);
    if (out == NULL)
        return NULL;
    size_t pos = 0;
    for (size_t i = 0; i < tags->n; i++) {
        size_t l = strlen(tags->v[i]) + 1;
        memcpy(out + pos, tags->v[i], l);
        pos += l;
    }
    *len = n;
    return out;
}

static bool
tags_match(const char *tags, size_t len, const char *tag, size_t tag_len)
{
    if (tag_len == 0)
        return true;
    for (size_t pos = 0; pos < len;) {
        size_t l = strlen(tags + pos);
        if (l == tag_len && memcmp(tags + pos, tag, tag_len) == 0)
            return true;
        pos += l + 1;
    }
    return false;
}

static int
key_add(struct pr_buf *k, const char *s)
{
    return pr_buf_append(k, s != NULL ? s : "", s != NULL ? strlen(s) + 1
                                                          : 1);
}

/* The identity of an application: what changes the process. */
static int
make_key(const struct tp_address *a, struct pr_buf *k)
{
    const struct tp_child_options *c = &a->child;
    char num[64];
    int rc = key_add(k, a->path) | key_add(k, a->process_name);
    for (size_t i = 0; i < a->args.n; i++)
        rc |= key_add(k, a->args.v[i].value);
    rc |= key_add(k, "\1env");
    for (size_t i = 0; i < c->env.n; i++)
        rc |= key_add(k, c->env.v[i].value);
    snprintf(num, sizeof(num), "%d:%d:%d:%d:%d:%d", c->uid_gid.present,
             c->uid_gid.uid, c->uid_gid.gid, (int)c->umask,
             c->no_new_privs, c->stderr_null);
    rc |= key_add(k, num);
    for (size_t i = 0; i < c->uid_gid.n_groups; i++) {
        snprintf(num, sizeof(num), "g%d", c->uid_gid.groups[i]);
        rc |= key_add(k, num);
    }
    rc |= key_add(k, c->chdir) | key_add(k, c->stderr_path) |
          key_add(k, c->rlimits) | key_add(k, c->sigkill ? "k" : "");
    for (size_t i = 0; i < c->tags.n; i++)
        rc |= key_add(k, c->tags.v[i]);
    return rc != 0 ? -1 : 0;
}

static struct was_stock *
stock_get(const struct tp_address *a)
{
    struct pr_buf k = PR_BUF_INIT;
    if (make_key(a, &k) != 0) {
        pr_buf_free(&k);
        return NULL;
    }
    for (struct was_stock *s = was.stocks; s != NULL; s = s->next)
        if (s->key_len == k.len && memcmp(s->key, k.data, k.len) == 0) {
            pr_buf_free(&k);
            return s;
        }
    struct was_stock *s = calloc(1, sizeof(*s));
    size_t nl = strlen(a->path) + 5;
    char *name = malloc(nl);
    if (s == NULL || name == NULL) {
        free(s);
        free(name);
        pr_buf_free(&k);
        return NULL;
    }
    snprintf(name, nl, "was %s", a->path);
    s->tags = tags_copy(&a->child.tags, &s->tags_len);
    if (s->tags == NULL) {
        free(s);
        free(name);
        pr_buf_free(&k);
        return NULL;
    }
    s->key = (char *)k.data;
    s->key_len = k.len;
    s->name = name;
    s->next = was.stocks;
    was.stocks = s;
    return s;
}

/* ---- building the request ---- */

static bool
hop_by_hop(const char *name)
{
    static const char *const names[] = {
        "connection", "keep-alive", "proxy-connection", "te", "trailer",
        "transfer-encoding", "upgrade", "content-length", "expect",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(names[i], name) == 0)
            return true;
    return false;
}

/* The request's metadata packets; 0, or -1 with a message. */
static int
build_packets(struct was_call *call, const char **why)
{
    struct dp_request *req = call->req;
    const struct tp_address *a = call->address;
    struct pr_buf *b = &call->packets;
    enum was_method m = was_method_from_name(req->method_name,
                                             strlen(req->method_name));
    if (m == WAS_METHOD_NONE) {
        *why = "the method has no WAS number";
        return -1;
    }
    /* URI: the client's without ";args", or SCRIPT_NAME + PATH_INFO */
    struct dp_uri_parts parts;
    dp_uri_dissect(req->path, strlen(req->path), &parts);
    const char *q = req->query;
    size_t n = parts.base.n + 2 + (q != NULL ? strlen(q) : 0);
    if (a->script_name != NULL && !a->request_uri_verbatim)
        n += strlen(a->script_name) +
             (a->path_info != NULL ? strlen(a->path_info) : 0);
    char *uri = dp_pool_alloc(req->pool, n);
    if (uri == NULL) {
        *why = "out of memory";
        return -1;
    }
    if (a->script_name != NULL && !a->request_uri_verbatim)
        snprintf(uri, n, "%s%s", a->script_name,
                 a->path_info != NULL ? a->path_info : "");
    else
        snprintf(uri, n, "%.*s", (int)parts.base.n, parts.base.p);
    if (q != NULL) {
        size_t l = strlen(uri);
        snprintf(uri + l, n - l, "?%s", q);
    }
    int rc = was_append_empty(b, WAS_CMD_REQUEST);
    if (m != WAS_METHOD_GET)
        rc |= was_append_method(b, m);
    rc |= was_append_string(b, WAS_CMD_URI, uri, strlen(uri));
    if (a->script_name != NULL)
        rc |= was_append_string(b, WAS_CMD_SCRIPT_NAME, a->script_name,
                                strlen(a->script_name));
    if (a->path_info != NULL)
        rc |= was_append_string(b, WAS_CMD_PATH_INFO, a->path_info,
                                strlen(a->path_info));
    if (q != NULL)
        rc |= was_append_string(b, WAS_CMD_QUERY_STRING, q, strlen(q));
    bool tls = false;
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct dp_header *h = &req->headers[i];
        if (hop_by_hop(h->name))
            continue;
        if (strcasecmp(h->name, "x-cm4all-https") == 0 &&
            strcmp(h->value, "on") == 0)
            tls = true;
        char name[256];
        size_t nl = strlen(h->name);
        if (nl >= sizeof(name))
            continue;
        for (size_t j = 0; j <= nl; j++)
            name[j] = (char)((h->name[j] >= 'A' && h->name[j] <= 'Z')
                                 ? h->name[j] + 32 : h->name[j]);
        rc |= was_append_pair(b, WAS_CMD_HEADER, name, nl, h->value,
                              strlen(h->value));
    }
    for (size_t i = 0; i < a->params.n; i++) {
        const char *pv = a->params.v[i].value;
        const char *eq = strchr(pv, '=');
        if (eq == NULL || eq == pv)
            continue;
        rc |= was_append_pair(b, WAS_CMD_PARAMETER, pv, (size_t)(eq - pv),
                              eq + 1, strlen(eq + 1));
    }
    char host[INET6_ADDRSTRLEN] = "";
    if (req->peer != NULL && req->peer->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)req->peer)->sin_addr,
                  host, sizeof(host));
    else if (req->peer != NULL && req->peer->sa_family == AF_INET6)
        inet_ntop(AF_INET6,
                  &((const struct sockaddr_in6 *)req->peer)->sin6_addr,
                  host, sizeof(host));
    if (host[0] != '\0')
        rc |= was_append_string(b, WAS_CMD_REMOTE_HOST, host, strlen(host));
    if (tls)
        rc |= was_append_empty(b, WAS_CMD_TLS);
    if (a->document_root != NULL)
        rc |= was_append_string(b, WAS_CMD_DOCUMENT_ROOT, a->document_root,
                                strlen(a->document_root));
    call->has_body = req->chunked || req->content_length > 0;
    rc |= was_append_empty(b, call->has_body ? WAS_CMD_DATA
                                             : WAS_CMD_NO_DATA);
    if (rc != 0) {
        *why = "a request header or value WAS cannot carry";
        return -1;
    }
    return 0;
}

void
dp_was_request(struct dp_request *req, const struct tp_address *address,
               const struct dp_response_headers *headers,
               const struct dp_hcache_info *cache)
{
    if (address->concurrency > 0 || address->addresses.n > 0) {
        dp_request_error(req, 502, "translation packet CONCURRENCY with "
                         "WAS (Multi-WAS, Remote-WAS): this feature is "
                         "not supported by Portier yet");
        return;
    }
    if (was.loop == NULL || was.stopping) {
        dp_request_error(req, 503, "WAS: the worker is stopping");
        return;
    }
    struct dp_hcache_use *cu = NULL;
    if (cache != NULL) {
        struct dp_response_headers none;
        dp_response_headers_init(&none, req->pool);
        size_t kn = strlen(address->path) + strlen(req->target) + 8;
        char *key = dp_pool_alloc(req->pool, kn);
        if (key != NULL) {
            snprintf(key, kn, "was:%s %s", address->path, req->target);
            if (dp_hcache_begin_flags(req, key, cache->tag,
                                      cache->user != NULL,
                                      headers != NULL ? headers : &none,
                                      cache->flags, &cu))
                return;
            dp_hcache_revalidate_request(cu);
        }
    }
    struct was_call *call = dp_pool_calloc(req->pool, sizeof(*call));
    if (call == NULL || dp_pool_cleanup(req->pool, call_gone, call) != 0) {
        dp_request_error(req, 500, "out of memory");
        return;
    }
    call->req = req;
    call->address = address;
    if (headers != NULL)
        call->headers = *headers;
    else
        dp_response_headers_init(&call->headers, req->pool);
    call->cache = cu;
    call->backend_from = call->headers.len;
    const char *why = NULL;
    if (build_packets(call, &why) != 0) {
        char msg[300];
        snprintf(msg, sizeof(msg), "WAS application %s: %s", address->path,
                 why);
        dp_request_error(req, strcmp(why, "out of memory") == 0 ? 500
                                                               : 501, msg);
        return;
    }
    struct was_stock *s = stock_get(address);
    if (s == NULL) {
        dp_request_error(req, 500, "out of memory");
        return;
    }
    call->stock = s;
    dp_request_set_abort(req, call_abort, call);
    for (struct was_proc *p = s->procs, *next; p != NULL; p = next) {
        next = p->next;
        if (p->state == PROC_IDLE && !proc_unclean(p)) {
            s->n_idle--;
            call_attach(call, p);
            return;
        }
    }
    call->waiting = true;
    if (s->wait_tail != NULL)
        s->wait_tail->wait_next = call;
    else
        s->wait_head = call;
    s->wait_tail = call;
    stock_kick(s);
}
