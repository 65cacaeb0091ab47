/*
 * was_app: the application side of WAS (see was_app.h).
 */
#include "was_app.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* Where the response stands. */
enum out_state {
    OUT_NONE = 0,        /* nothing sent yet */
    OUT_BODY,            /* STATUS, headers, DATA sent */
    OUT_DONE,            /* NO_DATA, LENGTH complete or PREMATURE sent */
};

/* Response bytes written between two looks at the control socket. */
#define CONTROL_CHECK (256 * 1024)

struct pair {
    char *name, *value;
};

struct pair_list {
    struct pair *v;
    size_t n, cap;
};

struct was_app {
    int control, input, output;
    struct was_reader reader;
    uint8_t rbuf[8192];
    size_t rpos, rlen;
    bool broken;             /* connection error: final */
    bool closed;             /* the container closed the control socket */
    bool next_request;       /* the next REQUEST came while this one was
                                finishing: packets after it wait */
    char error[256];

    /* the request */
    bool in_request;         /* between accept and end */
    bool got_request;        /* REQUEST seen, metadata still coming */
    enum was_method method;
    char *uri, *script_name, *path_info, *query_string, *remote_host,
        *document_root;
    bool tls;
    struct pair_list headers, params;

    /* the request body */
    bool has_body;
    bool stop_sent;
    uint64_t received;
    int64_t in_length;       /* LENGTH, or -1 */
    int64_t in_premature;    /* PREMATURE, or -1 */

    /* the response */
    enum out_state out;
    unsigned status;         /* 0: not set */
    struct pr_buf head;      /* HEADER packets waiting for the status */
    bool any_header;
    uint64_t sent;
    uint64_t unchecked;      /* bytes written since the control socket
                                was last looked at */
    int64_t out_length;      /* announced LENGTH, or -1 */
    bool length_sent;
    bool stopped;            /* the container sent STOP */
};

static int
fail(struct was_app *app, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
fail(struct was_app *app, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(app->error, sizeof(app->error), fmt, ap);
    va_end(ap);
    return -1;
}

/* A connection error: nothing works afterwards. */
static int
broken(struct was_app *app, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
broken(struct was_app *app, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(app->error, sizeof(app->error), fmt, ap);
    va_end(ap);
    app->broken = true;
    return -1;
}

struct was_app *
was_app_new(void)
{
    return was_app_new_fds(3, 0, 1);
}

struct was_app *
was_app_new_fds(int control_fd, int input_fd, int output_fd)
{
    struct was_app *app = calloc(1, sizeof(*app));
    if (app == NULL)
        return NULL;
    app->control = control_fd;
    app->input = input_fd;
    app->output = output_fd;
    /* writes go first and wait only when the pipe is full: a blocking
     * write could wait for a container that waits for us */
    int fl = fcntl(output_fd, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK))
        (void)fcntl(output_fd, F_SETFL, fl | O_NONBLOCK);
    was_reader_init(&app->reader, WAS_SIDE_APPLICATION, WAS_MAX_PAYLOAD);
    return app;
}

static void
pairs_clear(struct pair_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->v[i].name);
        free(l->v[i].value);
    }
    free(l->v);
    memset(l, 0, sizeof(*l));
}

static int
pairs_add(struct pair_list *l, struct pr_slice name, struct pr_slice value)
{
    if (l->n == l->cap) {
        size_t cap = l->cap > 0 ? l->cap * 2 : 16;
        struct pair *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    char *n = strndup((const char *)name.data, name.len);
    char *v = strndup((const char *)value.data, value.len);
    if (n == NULL || v == NULL) {
        free(n);
        free(v);
        return -1;
    }
    l->v[l->n++] = (struct pair){ n, v };
    return 0;
}

/* Forget the request (strings, body and response state). */
static void
request_reset(struct was_app *app)
{
    char **strings[] = { &app->uri, &app->script_name, &app->path_info,
                         &app->query_string, &app->remote_host,
                         &app->document_root };
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        free(*strings[i]);
        *strings[i] = NULL;
    }
    pairs_clear(&app->headers);
    pairs_clear(&app->params);
    pr_buf_free(&app->head);
    app->in_request = app->got_request = false;
    app->method = WAS_METHOD_GET;
    app->tls = false;
    app->has_body = app->stop_sent = false;
    app->received = 0;
    app->in_length = app->in_premature = -1;
    app->out = OUT_NONE;
    app->status = 0;
    app->any_header = false;
    app->sent = app->unchecked = 0;
    app->out_length = -1;
    app->length_sent = app->stopped = false;
}

void
was_app_free(struct was_app *app)
{
    if (app == NULL)
        return;
    request_reset(app);
    was_reader_destroy(&app->reader);
    free(app);
}

const char *
was_app_error(const struct was_app *app)
{
    return app->error;
}

/* ---- sending control packets ---- */

static int
send_all(struct was_app *app, const uint8_t *p, size_t n)
{
    if (app->closed)
        return broken(app, "the container closed the control socket "
                      "during a request");
    while (n > 0) {
        ssize_t w = send(app->control, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = { .fd = app->control, .events = POLLOUT };
            poll(&pfd, 1, -1);
            continue;
        }
        if (w < 0)
            return broken(app, "write to the control socket: %s",
                          strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int
send_buf(struct was_app *app, struct pr_buf *b)
{
    int rc = send_all(app, b->data, b->len);
    pr_buf_free(b);
    return rc;
}

static int
send_u64(struct was_app *app, enum was_command cmd, uint64_t value)
{
    struct pr_buf b = PR_BUF_INIT;
    if (was_append_u64(&b, cmd, value) != 0)
        return fail(app, "out of memory");
    return send_buf(app, &b);
}

static int
send_empty(struct was_app *app, enum was_command cmd)
{
    struct pr_buf b = PR_BUF_INIT;
    if (was_append_empty(&b, cmd) != 0)
        return fail(app, "out of memory");
    return send_buf(app, &b);
}

/* ---- receiving control packets ---- */

static bool
no_body_status(unsigned status)
{
    return status < 200 || status == 204 || status == 205 || status == 304;
}

static int
set_string(struct was_app *app, char **dst, const struct was_packet *pkt)
{
    if (*dst != NULL)
        return broken(app, "duplicate %s packet",
                      was_command_name(pkt->command));
    *dst = strndup((const char *)pkt->payload.data, pkt->payload.len);
    return *dst != NULL ? 0 : broken(app, "out of memory");
}

/* The container stopped the response body: answer with what was sent. */
static int
on_stop(struct was_app *app)
{
    if (app->out != OUT_BODY || app->stopped)
        return 0;       /* nothing (more) to stop: the body is complete */
    app->stopped = true;
    app->out = OUT_DONE;
    return send_u64(app, WAS_CMD_PREMATURE, app->sent);
}

/* True when the container has the whole response. */
static bool
response_complete(const struct was_app *app)
{
    return app->out == OUT_DONE ||
           (app->out == OUT_BODY && app->out_length >= 0 &&
            app->sent == (uint64_t)app->out_length);
}

/* 0, -1 on an error, 1 when the packet is the next request (deferred). */
static int
on_packet(struct was_app *app, const struct was_packet *pkt)
{
    if (pkt->command == WAS_CMD_NOP || pkt->command == WAS_CMD_METRIC)
        return 0;       /* metrics are not offered */
    if (pkt->command == WAS_CMD_REQUEST && app->in_request &&
        response_complete(app)) {
        /* the container has the whole response and sent the next
         * request while we still discard the request body */
        app->next_request = true;
        return 1;
    }
    if (!app->in_request && pkt->command == WAS_CMD_STOP)
        return 0;       /* crossed our end of the last response */
    if (!app->in_request) {
        if (pkt->command != WAS_CMD_REQUEST)
            return broken(app, "%s packet outside a request",
                          was_command_name(pkt->command));
        request_reset(app);
        app->in_request = app->got_request = true;
        return 0;
    }
    if (app->got_request) {
        /* the request's metadata */
        switch (pkt->command) {
        case WAS_CMD_METHOD:
            app->method = (enum was_method)pkt->number;
            return 0;
        case WAS_CMD_URI:
            return set_string(app, &app->uri, pkt);
        case WAS_CMD_SCRIPT_NAME:
            return set_string(app, &app->script_name, pkt);
        case WAS_CMD_PATH_INFO:
            return set_string(app, &app->path_info, pkt);
        case WAS_CMD_QUERY_STRING:
            return set_string(app, &app->query_string, pkt);
        case WAS_CMD_REMOTE_HOST:
            return set_string(app, &app->remote_host, pkt);
        case WAS_CMD_DOCUMENT_ROOT:
            return set_string(app, &app->document_root, pkt);
        case WAS_CMD_TLS:
            app->tls = true;
            return 0;
        case WAS_CMD_HEADER:
        case WAS_CMD_PARAMETER:
            if (pairs_add(pkt->command == WAS_CMD_HEADER ? &app->headers
                                                          : &app->params,
                          pkt->name, pkt->value) != 0)
                return broken(app, "out of memory");
            return 0;
        case WAS_CMD_NO_DATA:
        case WAS_CMD_DATA:
            if (app->uri == NULL)
                return broken(app, "request without URI");
            app->got_request = false;
            app->has_body = pkt->command == WAS_CMD_DATA;
            return 0;
        default:
            return broken(app, "%s packet in the request metadata",
                          was_command_name(pkt->command));
        }
    }
    switch (pkt->command) {
    case WAS_CMD_LENGTH:
        if (!app->has_body || app->in_length >= 0)
            return broken(app, "LENGTH packet without a request body "
                          "or twice");
        if (pkt->u64 < app->received)
            return broken(app, "LENGTH %llu is less than the %llu body "
                          "bytes received",
                          (unsigned long long)pkt->u64,
                          (unsigned long long)app->received);
        app->in_length = (int64_t)pkt->u64;
        return 0;
    case WAS_CMD_PREMATURE:
        if (!app->has_body || app->in_premature >= 0)
            return broken(app, "PREMATURE packet without a request body "
                          "or twice");
        if (pkt->u64 < app->received ||
            (app->in_length >= 0 && pkt->u64 > (uint64_t)app->in_length))
            return broken(app, "PREMATURE %llu does not fit the body "
                          "(%llu bytes received)",
                          (unsigned long long)pkt->u64,
                          (unsigned long long)app->received);
        app->in_premature = (int64_t)pkt->u64;
        return 0;
    case WAS_CMD_STOP:
        return on_stop(app);
    default:
        return broken(app, "%s packet while a request is being served",
                      was_command_name(pkt->command));
    }
}

/*
 * Read from the control socket once (blocking or not) and handle every
 * complete packet.  Returns 1 when bytes were read, 0 when nothing was
 * there (non-blocking), -1 on an error; *eof is set when the container
 * closed the socket.
 */
static int
pump_control(struct was_app *app, bool block, bool *eof)
{
    *eof = false;
    if (app->next_request)
        return 0;
    if (app->closed) {
        *eof = true;
        return 1;
    }
    if (app->rpos == app->rlen) {
        ssize_t r;
        do
            r = recv(app->control, app->rbuf, sizeof(app->rbuf),
                     block ? 0 : MSG_DONTWAIT);
        while (r < 0 && errno == EINTR);
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (r < 0)
            return broken(app, "read from the control socket: %s",
                          strerror(errno));
        if (r == 0) {
            *eof = true;
            app->closed = true;
            if (was_reader_finish(&app->reader) != 0)
                return broken(app, "control socket closed inside a "
                              "packet: %s", was_reader_error(&app->reader));
            return 1;
        }
        app->rpos = 0;
        app->rlen = (size_t)r;
    }
    while (app->rpos < app->rlen) {
        size_t used = 0;
        struct was_packet pkt;
        enum was_reader_status st =
            was_reader_feed(&app->reader, app->rbuf + app->rpos,
                            app->rlen - app->rpos, &used, &pkt);
        if (st == WAS_READER_ERROR)
            return broken(app, "bad control packet: %s",
                          was_reader_error(&app->reader));
        app->rpos += used;
        if (st == WAS_READER_PACKET) {
            int r = on_packet(app, &pkt);
            if (r < 0)
                return -1;
            if (r > 0)
                break;
        }
    }
    return 1;
}

/* Handle control packets already buffered, then whatever is readable now
 * without waiting.  The container's end of the connection is not an
 * error here: it is when the application still needs it (wait_pipe(),
 * send_all()). */
static int
poll_control(struct was_app *app)
{
    bool eof = false;
    return pump_control(app, false, &eof) < 0 ? -1 : 0;
}

/* ---- the request ---- */

int
was_app_accept(struct was_app *app)
{
    if (app->broken)
        return -1;
    if (app->in_request && was_app_end(app) != 0)
        return -1;
    if (app->next_request) {
        app->next_request = false;
        request_reset(app);
        app->in_request = app->got_request = true;
    }
    for (;;) {
        bool eof = false;
        int r = pump_control(app, app->rpos == app->rlen, &eof);
        if (r < 0)
            return -1;
        if (eof) {
            if (app->in_request)
                return broken(app, "the container closed the control "
                              "socket inside a request's metadata");
            return 0;
        }
        if (app->in_request && !app->got_request)
            return 1;
    }
}

enum was_method
was_app_method(const struct was_app *app)
{
    return app->method;
}

const char *
was_app_uri(const struct was_app *app)
{
    return app->uri != NULL ? app->uri : "";
}

const char *
was_app_script_name(const struct was_app *app)
{
    return app->script_name;
}

const char *
was_app_path_info(const struct was_app *app)
{
    return app->path_info;
}

const char *
was_app_query_string(const struct was_app *app)
{
    return app->query_string;
}

const char *
was_app_remote_host(const struct was_app *app)
{
    return app->remote_host;
}

const char *
was_app_document_root(const struct was_app *app)
{
    return app->document_root;
}

bool
was_app_is_tls(const struct was_app *app)
{
    return app->tls;
}

const char *
was_app_header(const struct was_app *app, const char *name)
{
    for (size_t i = 0; i < app->headers.n; i++)
        if (strcasecmp(app->headers.v[i].name, name) == 0)
            return app->headers.v[i].value;
    return NULL;
}

size_t
was_app_header_count(const struct was_app *app)
{
    return app->headers.n;
}

void
was_app_header_at(const struct was_app *app, size_t i, const char **name,
                  const char **value)
{
    *name = i < app->headers.n ? app->headers.v[i].name : NULL;
    *value = i < app->headers.n ? app->headers.v[i].value : NULL;
}

const char *
was_app_parameter(const struct was_app *app, const char *name)
{
    for (size_t i = 0; i < app->params.n; i++)
        if (strcmp(app->params.v[i].name, name) == 0)
            return app->params.v[i].value;
    return NULL;
}

/* ---- the request body ---- */

bool
was_app_has_body(const struct was_app *app)
{
    return app->has_body;
}

int64_t
was_app_input_length(const struct was_app *app)
{
    return app->in_length;
}

uint64_t
was_app_input_received(const struct was_app *app)
{
    return app->received;
}

/* Body bytes still to come: -1 when unknown. */
static int64_t
input_remaining(const struct was_app *app)
{
    if (app->in_premature >= 0)
        return app->in_premature - (int64_t)app->received;
    if (app->in_length >= 0)
        return app->in_length - (int64_t)app->received;
    return -1;
}

/* Wait until the input pipe or the control socket is readable (the
 * output pipe writable when `out`), then handle control packets.
 * Returns the revents of the pipe, or -1. */
static int
wait_pipe(struct was_app *app, int fd, short events)
{
    if (app->rpos < app->rlen && !app->next_request)
        return poll_control(app) != 0 ? -1 : 0;
    if (app->closed)
        return broken(app, "the container closed the control socket "
                      "during a request");
    struct pollfd pfd[2] = {
        { .fd = fd, .events = events },
        { .fd = app->next_request ? -1 : app->control, .events = POLLIN },
    };
    int n;
    do
        n = poll(pfd, 2, -1);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return broken(app, "poll: %s", strerror(errno));
    if (pfd[1].revents != 0 && poll_control(app) != 0)
        return -1;
    return pfd[0].revents;
}

ssize_t
was_app_read(struct was_app *app, void *buf, size_t n)
{
    if (app->broken)
        return -1;
    if (!app->in_request || !app->has_body || n == 0)
        return 0;
    for (;;) {
        int64_t rest = input_remaining(app);
        if (rest == 0) {
            if (app->in_premature >= 0)
                return fail(app, "the container aborted the request body "
                            "after %llu bytes",
                            (unsigned long long)app->received);
            return 0;
        }
        if (rest > 0 && (uint64_t)rest < n)
            n = (size_t)rest;
        int ev = wait_pipe(app, app->input, POLLIN);
        if (ev < 0)
            return -1;
        if (ev == 0)
            continue;
        ssize_t r = read(app->input, buf, n);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0)
            return broken(app, "read from the request pipe: %s",
                          strerror(errno));
        if (r == 0)
            return broken(app, "the request pipe was closed after %llu "
                          "body bytes", (unsigned long long)app->received);
        app->received += (uint64_t)r;
        return r;
    }
}

/* Discard the rest of the request body, with STOP unless its end is
 * already in sight. */
static int
input_discard(struct was_app *app)
{
    if (!app->has_body)
        return 0;
    if (poll_control(app) != 0)
        return -1;
    if (input_remaining(app) != 0 && app->in_premature < 0 &&
        !app->stop_sent) {
        app->stop_sent = true;
        if (send_empty(app, WAS_CMD_STOP) != 0)
            return -1;
    }
    uint8_t junk[16384];
    while (input_remaining(app) != 0) {
        ssize_t r = was_app_read(app, junk, sizeof(junk));
        if (r < 0 && app->broken)
            return -1;
        if (r <= 0)
            break;
    }
    app->has_body = false;
    return 0;
}

int
was_app_input_close(struct was_app *app)
{
    if (app->broken)
        return -1;
    return input_discard(app);
}

/* ---- the response ---- */

int
was_app_status(struct was_app *app, unsigned status)
{
    if (!app->in_request)
        return fail(app, "no request");
    if (app->out != OUT_NONE)
        return fail(app, "status set after the response head was sent");
    if (status < 200 || status > 599)
        return fail(app, "status %u outside 200..599", status);
    app->status = status;
    return 0;
}

int
was_app_set_header(struct was_app *app, const char *name,
                   const char *value)
{
    if (!app->in_request)
        return fail(app, "no request");
    if (app->out != OUT_NONE)
        return fail(app, "header %s set after the response head was sent",
                    name);
    if (strpbrk(name, "=\r\n") != NULL || strpbrk(value, "\r\n") != NULL)
        return fail(app, "header %s: '=', CR or LF in the name, or CR or "
                    "LF in the value", name);
    if (was_append_pair(&app->head, WAS_CMD_HEADER, name, strlen(name),
                        value, strlen(value)) != 0)
        return fail(app, "header %s: empty name or too long", name);
    app->any_header = true;
    return 0;
}

/* Send STATUS and the headers, then DATA or NO_DATA. */
static int
send_head(struct was_app *app, bool body)
{
    unsigned status = app->status;
    if (status == 0)
        status = body || app->any_header ? 200 : 204;
    if (body && no_body_status(status))
        return fail(app, "a response with status %u has no body", status);
    struct pr_buf b = PR_BUF_INIT;
    if (was_append_status(&b, status) != 0 ||
        pr_buf_append(&b, app->head.data, app->head.len) != 0 ||
        was_append_empty(&b, body ? WAS_CMD_DATA : WAS_CMD_NO_DATA) != 0 ||
        (body && app->out_length >= 0 &&
         was_append_u64(&b, WAS_CMD_LENGTH, (uint64_t)app->out_length) != 0)) {
        pr_buf_free(&b);
        return fail(app, "out of memory");
    }
    pr_buf_free(&app->head);
    app->out = body ? OUT_BODY : OUT_DONE;
    app->length_sent = body && app->out_length >= 0;
    return send_buf(app, &b);
}

int
was_app_set_length(struct was_app *app, uint64_t length)
{
    if (!app->in_request)
        return fail(app, "no request");
    if (app->out == OUT_DONE || app->out_length >= 0)
        return fail(app, "length set after the body ended or twice");
    if (length < app->sent || length > INT64_MAX)
        return fail(app, "length %llu is less than the %llu bytes sent",
                    (unsigned long long)length,
                    (unsigned long long)app->sent);
    app->out_length = (int64_t)length;
    if (app->out == OUT_BODY) {
        app->length_sent = true;
        return send_u64(app, WAS_CMD_LENGTH, length);
    }
    return 0;
}

int
was_app_output_begin(struct was_app *app)
{
    if (app->broken)
        return -1;
    if (!app->in_request)
        return fail(app, "no request");
    if (app->stopped)
        return fail(app, "the container stopped the response body");
    if (app->out == OUT_DONE)
        return fail(app, "the response has ended");
    if (app->out == OUT_NONE)
        return send_head(app, true);
    return 0;
}

/*
 * Body bytes go to the pipe at once, in as few write()s as the pipe
 * takes; the control socket is looked at when the pipe is full (the
 * wait polls both) and after every CONTROL_CHECK bytes, so that a STOP
 * ends the writing soon without a system call per write.
 */
int
was_app_write(struct was_app *app, const void *data, size_t n)
{
    if (app->broken)
        return -1;
    if (app->in_request && app->out_length >= 0 &&
        n > (uint64_t)app->out_length - app->sent)
        return fail(app, "%zu more bytes exceed the announced length %lld",
                    n, (long long)app->out_length);
    const uint8_t *p = data;
    if (app->out == OUT_NONE && app->in_request && !app->stopped &&
        n > 0 && (app->status == 0 || !no_body_status(app->status))) {
        /* The first bytes go into the pipe before the head: when the
         * container reads DATA they are there, and it does not wait for
         * the pipe.  Never more than the pipe takes now (a container
         * reads the pipe only after DATA). */
        ssize_t w = write(app->output, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            app->sent += (uint64_t)w;
            app->unchecked += (uint64_t)w;
        }
    }
    if (was_app_output_begin(app) != 0)
        return -1;
    while (n > 0) {
        if (app->unchecked >= CONTROL_CHECK) {
            app->unchecked = 0;
            if (poll_control(app) != 0)
                return -1;
        }
        if (app->stopped)
            return fail(app, "the container stopped the response body");
        ssize_t w = write(app->output, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            app->sent += (uint64_t)w;
            app->unchecked += (uint64_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return broken(app, "write to the response pipe: %s",
                          strerror(errno));
        /* full: wait for room, handling control packets meanwhile */
        app->unchecked = 0;
        int ev = wait_pipe(app, app->output, POLLOUT);
        if (ev < 0)
            return -1;
        if ((ev & (POLLERR | POLLHUP)) && !app->stopped)
            return broken(app, "the response pipe was closed after %llu "
                          "body bytes", (unsigned long long)app->sent);
    }
    return 0;
}

int
was_app_puts(struct was_app *app, const char *s)
{
    return was_app_write(app, s, strlen(s));
}

int
was_app_printf(struct was_app *app, const char *fmt, ...)
{
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        return fail(app, "printf: bad format");
    if ((size_t)n >= sizeof(buf))
        return fail(app, "printf: %d bytes over the limit of %zu", n,
                    sizeof(buf) - 1);
    return was_app_write(app, buf, (size_t)n);
}

uint64_t
was_app_output_sent(const struct was_app *app)
{
    return app->sent;
}

bool
was_app_stopped(const struct was_app *app)
{
    return app->stopped;
}

/* The common end of was_app_end() and was_app_abort(): the request body
 * is discarded first, so that the application is done with the request
 * once the container has the end of the response. */
static int
finish(struct was_app *app, int rc)
{
    bool ok = !app->broken;
    request_reset(app);
    return ok ? rc : -1;
}

int
was_app_end(struct was_app *app)
{
    if (app->broken)
        return -1;
    if (!app->in_request)
        return 0;
    if (input_discard(app) != 0)
        return -1;
    int rc = 0;
    if (app->out == OUT_NONE) {
        if (send_head(app, false) != 0)
            return -1;
    } else if (app->out == OUT_BODY) {
        app->out = OUT_DONE;
        if (app->out_length >= 0 && app->sent < (uint64_t)app->out_length) {
            fail(app, "response body ended after %llu of the %lld bytes "
                 "announced", (unsigned long long)app->sent,
                 (long long)app->out_length);
            char keep[sizeof(app->error)];
            memcpy(keep, app->error, sizeof(keep));
            if (send_u64(app, WAS_CMD_PREMATURE, app->sent) != 0)
                return -1;
            memcpy(app->error, keep, sizeof(keep));
            rc = -1;
        } else if (!app->length_sent) {
            app->length_sent = true;
            if (send_u64(app, WAS_CMD_LENGTH, app->sent) != 0)
                return -1;
        }
    }
    return finish(app, rc);
}

int
was_app_abort(struct was_app *app)
{
    if (app->broken)
        return -1;
    if (!app->in_request)
        return 0;
    if (input_discard(app) != 0)
        return -1;
    if (app->out == OUT_BODY) {
        app->out = OUT_DONE;
        if (send_u64(app, WAS_CMD_PREMATURE, app->sent) != 0)
            return -1;
    } else if (app->out == OUT_NONE) {
        pr_buf_free(&app->head);
        app->any_header = false;
        app->status = 500;
        if (send_head(app, false) != 0)
            return -1;
    }
    return finish(app, 0);
}
