/*
 * dp_fcgi: FastCGI client, connection and process pools.
 *
 * Objects:
 * - struct fcgi_app: one pool (remote server or spawned program).
 * - struct fcgi_item: one connection; for a spawned application also the
 *   process behind it (one connection per process, one request at a
 *   time).  Heap memory with libuv handles; freed when every handle is
 *   closed (and the process reaped).
 * - struct fcgi_op: one request.  Heap memory, because it may outlive the
 *   HTTP request's pool (it reads the application's answer to its
 *   END_REQUEST after the client has its response).  The pool holds a
 *   small link whose cleanup detaches the op.
 */
#include "dp_fcgi.h"
#include "cgi_head.h"
#include "dp_fcgi_head.h"
#include "dp_http_cache_request.h"
#include "dp_log.h"
#include "dp_fcgi_params.h"
#include "dp_spawn.h"
#include "fcgi_codec.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define IN_BUF_SIZE 65536
#define OUT_HIGH_WATER 65536
#define STDERR_LINE_MAX 512
#define REAP_PER_TICK 4

struct fcgi_op;
struct fcgi_item;

struct fcgi_app {
    struct dp_fcgi_stock *stock;
    struct fcgi_app *next;
    char *key;
    size_t key_len;
    char *name;                 /* for logs: program or address */
    bool remote;
    unsigned limit;             /* 0 = none */

    /* remote */
    struct sockaddr_storage *addrs;
    socklen_t *addr_lens;
    size_t n_addrs, next_addr;

    /* spawned: argv/env NULL-terminated, strings owned */
    char **argv;
    char **env;
    char *file;                 /* what execve runs */
    char *spawn_name;           /* "fastcgi PROGRAM" for dp_spawn's log */
    struct tp_child_options child;  /* copies: chdir, stderr, limits, ids */
    char *own_chdir, *own_stderr_path, *own_rlimits;  /* child's strings */
    char **tags;
    size_t n_tags;

    struct fcgi_item *items;    /* all, idle and busy */
    unsigned n_items, n_idle;
    struct fcgi_op *wait_head, *wait_tail;
    unsigned n_waiting;
    bool dispatching;
};

struct fcgi_item {
    struct fcgi_app *app;
    struct fcgi_item *prev, *next;
    int fd;
    uv_poll_t poll;
    int events;
    bool connecting;
    struct fcgi_op *op;         /* NULL: idle (or connecting) */
    bool idle;                  /* counted in app->n_idle */
    uint64_t idle_since;
    uint16_t request_id;
    bool fading;                /* stop when the request is done */
    bool dead;                  /* unlinked; waiting for handles */
    int open_handles;

    struct dp_child *child;     /* spawned: the process; NULL remote */
    size_t addr_index;          /* remote: which of app->addrs */
    pid_t pid;
};

struct dp_fcgi_stock {
    uv_loop_t *loop;
    struct dp_fcgi_settings settings;
    char *server_software;
    char local_host[256];       /* for Via (gethostname) */
    struct fcgi_app *apps;
    uv_timer_t tick;
    unsigned counter;           /* for listener names */
    unsigned live_items;
    bool closing;
    bool tick_closed;
};

/* The pool side of an op: detaches it when the request's pool goes. */
struct op_link {
    struct fcgi_op *op;
};

struct fcgi_op {
    struct dp_fcgi_stock *stock;
    struct fcgi_app *app;
    struct fcgi_item *item;
    struct dp_request *req;             /* NULL once detached */
    struct op_link *link;
    struct dp_response_headers *headers;
    struct dp_hcache_use *cache;        /* NULL: the HTTP cache not used */
    struct dp_fcgi_params params;
    struct fcgi_op *wnext;              /* wait queue */
    bool waiting;
    unsigned connect_failures;          /* remote addresses that failed */
    uint64_t last_progress;

    struct pr_buf out;
    size_t out_pos;
    struct dp_body *in;                 /* the request body, while read */
    bool in_pumping;
    bool stdin_done;                    /* the empty STDIN is queued */

    struct fcgi_decoder dec;
    struct cgi_head head;
    bool head_done;
    bool responded;
    uint8_t *buf;
    size_t buf_pos, buf_len;
    const uint8_t *pend;                /* STDOUT bytes not delivered */
    size_t pend_len;
    bool stdout_ended;

    struct dp_body body;                /* the response body source */
    bool body_active;                   /* with dp_http, not ended */
    bool body_wanted;
    bool body_eof_sent;

    int depth;                          /* nesting of entry points */
    bool done;                          /* free at depth 0 */
    char line[STDERR_LINE_MAX];
    size_t line_len;
};

static void item_destroy(struct fcgi_item *item);
static void item_update_poll(struct fcgi_item *item);
static void op_process(struct fcgi_op *op);
static bool op_deliver(struct fcgi_op *op);
static void op_flush(struct fcgi_op *op);
static void app_dispatch(struct fcgi_app *app);

/* ---- small helpers ---- */

/* one line to stderr in one write (dp_log.h) */
#define log_line dp_log_line

static uint64_t
now_ms(const struct dp_fcgi_stock *stock)
{
    return uv_now(stock->loop);
}

static char *
xstrdup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static void
free_strv(char **v)
{
    if (v == NULL)
        return;
    for (char **p = v; *p != NULL; p++)
        free(*p);
    free(v);
}

/* "1.2.3.4:9000", "[::1]:9000", "/path", "@abstract". */
static void
format_address(const struct sockaddr_storage *ss, socklen_t len, char *out,
               size_t outlen)
{
    char ip[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        snprintf(out, outlen, "%s:%u", ip, ntohs(in->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &in->sin6_addr, ip, sizeof(ip));
        snprintf(out, outlen, "[%s]:%u", ip, ntohs(in->sin6_port));
    } else if (ss->ss_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)ss;
        size_t n = len > offsetof(struct sockaddr_un, sun_path)
                       ? len - offsetof(struct sockaddr_un, sun_path) : 0;
        if (n > 0 && un->sun_path[0] == '\0')
            snprintf(out, outlen, "@%.*s", (int)(n - 1), un->sun_path + 1);
        else
            snprintf(out, outlen, "%.*s", (int)strnlen(un->sun_path, n),
                     un->sun_path);
    } else {
        snprintf(out, outlen, "(address family %d)", ss->ss_family);
    }
}

/* The client's IP without the port, or NULL (unix listener). */
static const char *
remote_ip(struct dp_request *req)
{
    char ip[INET6_ADDRSTRLEN];
    const struct sockaddr *sa = req->peer;
    if (sa == NULL)
        return NULL;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip,
                  sizeof(ip));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
                  ip, sizeof(ip));
    else
        return NULL;
    return dp_pool_strdup(req->pool, ip);
}

/* ---- keys ---- */

struct keybuf {
    struct pr_buf b;
    bool failed;
};

static void
key_add(struct keybuf *k, const char *s)
{
    if (s == NULL)
        s = "\x01";
    if (pr_buf_append(&k->b, s, strlen(s) + 1) != 0)
        k->failed = true;
}

/* The pool key of an address; 0 or -ENOMEM. */
static int
make_key(const struct tp_address *a, struct keybuf *k)
{
    char text[300];
    if (a->addresses.n > 0) {
        key_add(k, "remote");
        for (size_t i = 0; i < a->addresses.n; i++) {
            const struct tp_socket_address *s = &a->addresses.v[i];
            format_address(&s->addr, s->len, text, sizeof(text));
            key_add(k, text);
        }
    } else {
        key_add(k, "spawn");
        key_add(k, a->path);
        key_add(k, a->action);
        key_add(k, a->interpreter);
        key_add(k, a->process_name);
        key_add(k, a->child.chdir);
        key_add(k, a->child.stderr_path);
        key_add(k, a->child.stderr_null ? "null" : "");
        snprintf(text, sizeof(text), "%u", (unsigned)a->parallelism);
        key_add(k, text);
        key_add(k, "args");
        for (size_t i = 0; i < a->args.n; i++)
            key_add(k, a->args.v[i].value);
        key_add(k, "env");
        for (size_t i = 0; i < a->child.env.n; i++)
            key_add(k, a->child.env.v[i].value);
        key_add(k, "tags");
        for (size_t i = 0; i < a->child.tags.n; i++)
            key_add(k, a->child.tags.v[i]);
    }
    return k->failed ? -ENOMEM : 0;
}

/* ---- applications ---- */

static void
app_free(struct fcgi_app *app)
{
    free(app->key);
    free(app->name);
    free(app->addrs);
    free(app->addr_lens);
    free_strv(app->argv);
    free_strv(app->env);
    free(app->file);
    free(app->spawn_name);
    free(app->own_chdir);
    free(app->own_stderr_path);
    free(app->own_rlimits);
    free_strv(app->tags);
    free(app);
}

static char **
strv_new(size_t n)
{
    return calloc(n + 1, sizeof(char *));
}

static struct fcgi_app *
app_new(struct dp_fcgi_stock *stock, const struct tp_address *a,
        struct keybuf *key)
{
    struct fcgi_app *app = calloc(1, sizeof(*app));
    if (app == NULL)
        return NULL;
    app->stock = stock;
    app->key = (char *)key->b.data;
    app->key_len = key->b.len;
    key->b.data = NULL;
    key->b.len = 0;
    app->limit = stock->settings.stock_limit;
    char text[300];
    if (a->addresses.n > 0) {
        app->remote = true;
        app->n_addrs = a->addresses.n;
        app->addrs = calloc(a->addresses.n, sizeof(*app->addrs));
        app->addr_lens = calloc(a->addresses.n, sizeof(*app->addr_lens));
        if (app->addrs == NULL || app->addr_lens == NULL)
            goto fail;
        for (size_t i = 0; i < a->addresses.n; i++) {
            app->addrs[i] = a->addresses.v[i].addr;
            app->addr_lens[i] = a->addresses.v[i].len;
        }
        format_address(&app->addrs[0], app->addr_lens[0], text,
                       sizeof(text));
        app->name = strdup(text);
        if (app->name == NULL)
            goto fail;
        return app;
    }
    if (a->parallelism > 0 &&
        (app->limit == 0 || a->parallelism < app->limit))
        app->limit = a->parallelism;
    /* argv: [interpreter, APPEND..., program] or [program, APPEND...];
     * ACTION replaces the program that runs (spec §6.3). */
    const char *program = a->action != NULL ? a->action : a->path;
    size_t n = a->args.n + 2, i = 0;
    app->argv = strv_new(n);
    if (app->argv == NULL)
        goto fail;
    if (a->interpreter != NULL) {
        app->file = xstrdup(a->interpreter);
        app->argv[i++] = xstrdup(a->interpreter);
        for (size_t j = 0; j < a->args.n; j++)
            app->argv[i++] = xstrdup(a->args.v[j].value);
        app->argv[i++] = xstrdup(program);
    } else {
        app->file = xstrdup(program);
        app->argv[i++] = xstrdup(a->process_name != NULL ? a->process_name
                                                         : program);
        for (size_t j = 0; j < a->args.n; j++)
            app->argv[i++] = xstrdup(a->args.v[j].value);
    }
    for (size_t j = 0; j < i; j++)
        if (app->argv[j] == NULL)
            goto fail;
    app->env = strv_new(a->child.env.n);
    if (app->env == NULL)
        goto fail;
    for (size_t j = 0; j < a->child.env.n; j++)
        if ((app->env[j] = strdup(a->child.env.v[j].value)) == NULL)
            goto fail;
    app->tags = strv_new(a->child.tags.n);
    if (app->tags == NULL)
        goto fail;
    for (size_t j = 0; j < a->child.tags.n; j++)
        if ((app->tags[j] = strdup(a->child.tags.v[j])) == NULL)
            goto fail;
    app->n_tags = a->child.tags.n;
    /* dp_spawn reads these of the child options; the lists stay empty */
    const struct tp_child_options *c = &a->child;
    app->child.umask = c->umask;
    app->child.uid_gid = c->uid_gid;
    app->child.no_new_privs = c->no_new_privs;
    app->child.sigkill = c->sigkill;
    app->child.stderr_null = c->stderr_null;
    app->child.chdir = app->own_chdir = xstrdup(c->chdir);
    app->child.stderr_path = app->own_stderr_path = xstrdup(c->stderr_path);
    app->child.rlimits = app->own_rlimits = xstrdup(c->rlimits);
    app->name = xstrdup(a->path);
    size_t sn = strlen(a->path) + 10;
    app->spawn_name = malloc(sn);
    if (app->file == NULL || app->name == NULL || app->spawn_name == NULL ||
        (c->chdir != NULL && app->child.chdir == NULL) ||
        (c->stderr_path != NULL && app->child.stderr_path == NULL) ||
        (c->rlimits != NULL && app->child.rlimits == NULL))
        goto fail;
    snprintf(app->spawn_name, sn, "fastcgi %s", a->path);
    return app;
fail:
    app_free(app);
    return NULL;
}

static struct fcgi_app *
app_get(struct dp_fcgi_stock *stock, const struct tp_address *a)
{
    struct keybuf k = { { NULL, 0, 0 }, false };
    if (make_key(a, &k) != 0) {
        pr_buf_free(&k.b);
        return NULL;
    }
    for (struct fcgi_app *app = stock->apps; app != NULL; app = app->next)
        if (app->key_len == k.b.len &&
            memcmp(app->key, k.b.data, k.b.len) == 0) {
            pr_buf_free(&k.b);
            return app;
        }
    struct fcgi_app *app = app_new(stock, a, &k);
    pr_buf_free(&k.b);
    if (app == NULL)
        return NULL;
    app->next = stock->apps;
    stock->apps = app;
    return app;
}

static bool
app_has_tag(const struct fcgi_app *app, const char *tag)
{
    if (tag == NULL)
        return true;
    for (size_t i = 0; i < app->n_tags; i++)
        if (strcmp(app->tags[i], tag) == 0)
            return true;
    return false;
}

/* ---- items: connections and processes ---- */

static void
item_link(struct fcgi_app *app, struct fcgi_item *item)
{
    item->app = app;
    item->next = app->items;
    if (app->items != NULL)
        app->items->prev = item;
    app->items = item;
    app->n_items++;
    app->stock->live_items++;
}

static void
stock_maybe_free(struct dp_fcgi_stock *stock)
{
    if (!stock->closing || stock->live_items > 0 || !stock->tick_closed)
        return;
    while (stock->apps != NULL) {
        struct fcgi_app *app = stock->apps;
        stock->apps = app->next;
        app_free(app);
    }
    free(stock->server_software);
    free(stock);
}

static void
item_unref(struct fcgi_item *item)
{
    if (--item->open_handles > 0)
        return;
    struct dp_fcgi_stock *stock = item->app->stock;
    free(item);
    stock->live_items--;
    stock_maybe_free(stock);
}

static void
item_handle_closed(uv_handle_t *h)
{
    item_unref(h->data);
}

/* The process ended on its own (dp_spawn logged how, unless normal). */
static void
child_exit_cb(void *ctx, int wait_status)
{
    struct fcgi_item *item = ctx;
    (void)wait_status;
    if (!item->dead)
        item_destroy(item);     /* its request fails */
}

static void op_fail(struct fcgi_op *op, unsigned status, const char *fmt,
                    ...) __attribute__((format(printf, 3, 4)));

/* Unlink the item, close its connection, stop its process.  A request
 * on it fails (502, or a closed client connection). */
static void
item_destroy(struct fcgi_item *item)
{
    if (item->dead)
        return;
    item->dead = true;
    struct fcgi_app *app = item->app;
    if (item->prev != NULL)
        item->prev->next = item->next;
    else
        app->items = item->next;
    if (item->next != NULL)
        item->next->prev = item->prev;
    app->n_items--;
    if (item->idle)
        app->n_idle--;
    item->idle = false;
    /* One reference for the item itself, dropped below. */
    item->open_handles++;
    if (item->fd >= 0) {
        uv_poll_stop(&item->poll);
        uv_close((uv_handle_t *)&item->poll, item_handle_closed);
        close(item->fd);
        item->fd = -1;
    }
    if (item->child != NULL) {
        /* SIGTERM to its process group now, SIGKILL later; reaped by
         * the spawner */
        dp_child_release(item->child, true);
        item->child = NULL;
    }
    struct fcgi_op *op = item->op;
    item->op = NULL;
    if (op != NULL) {
        op->item = NULL;
        op_fail(op, 502, "the connection to the application was lost "
                "(process gone)");
    }
    /* The slot is free: a waiting request may get a new one. */
    if (!app->stock->closing)
        app_dispatch(app);
    item_unref(item);
}

static void item_poll_cb(uv_poll_t *poll, int status, int events);

/* A socket connected (or connecting) to `addr`; -errno. */
static int
connect_socket(const struct sockaddr_storage *addr, socklen_t len,
               bool *in_progress)
{
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK |
                    SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    *in_progress = false;
    if (connect(fd, (const struct sockaddr *)addr, len) != 0) {
        if (errno != EINPROGRESS) {
            int err = errno;
            close(fd);
            return -err;
        }
        *in_progress = true;
    }
    return fd;
}

static int
item_start_poll(struct dp_fcgi_stock *stock, struct fcgi_item *item)
{
    int rc = uv_poll_init(stock->loop, &item->poll, item->fd);
    if (rc != 0)
        return rc;
    item->poll.data = item;
    item->open_handles++;
    return 0;
}

/* A new connection to a remote application; NULL with msg set. */
static struct fcgi_item *
item_connect(struct fcgi_app *app, char *msg, size_t msglen)
{
    struct fcgi_item *item = calloc(1, sizeof(*item));
    if (item == NULL) {
        snprintf(msg, msglen, "out of memory");
        return NULL;
    }
    int fd = -ENOENT;
    bool in_progress = false;
    char text[300];
    for (size_t i = 0; i < app->n_addrs; i++) {
        size_t at = (app->next_addr + i) % app->n_addrs;
        fd = connect_socket(&app->addrs[at], app->addr_lens[at],
                            &in_progress);
        if (fd >= 0) {
            app->next_addr = at;    /* stay with the one that works */
            item->addr_index = at;
            break;
        }
        format_address(&app->addrs[at], app->addr_lens[at], text,
                       sizeof(text));
        snprintf(msg, msglen, "connect to FastCGI server %s: %s", text,
                 strerror(-fd));
        app->next_addr = (at + 1) % app->n_addrs;
    }
    if (fd < 0) {
        free(item);
        return NULL;
    }
    item->fd = fd;
    item->connecting = in_progress;
    if (item_start_poll(app->stock, item) != 0) {
        close(fd);
        free(item);
        snprintf(msg, msglen, "out of memory");
        return NULL;
    }
    item_link(app, item);
    return item;
}

/* A new process of a spawned application, with its connection; NULL
 * with msg set. */
static struct fcgi_item *
item_spawn(struct fcgi_app *app, char *msg, size_t msglen)
{
    struct dp_fcgi_stock *stock = app->stock;
    struct fcgi_item *item = calloc(1, sizeof(*item));
    if (item == NULL) {
        snprintf(msg, msglen, "out of memory");
        return NULL;
    }
    item->fd = -1;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_un *un = (struct sockaddr_un *)&ss;
    un->sun_family = AF_UNIX;
    int n = snprintf(un->sun_path + 1, sizeof(un->sun_path) - 1,
                     "portier-fcgi-%d-%u", (int)getpid(), ++stock->counter);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
                                (size_t)n);
    int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)un, len) != 0 ||
        listen(lfd, 2) != 0) {
        snprintf(msg, msglen, "listener socket for %s: %s", app->name,
                 strerror(errno));
        if (lfd >= 0)
            close(lfd);
        free(item);
        return NULL;
    }
    struct dp_spawn_options opt = {
        .name = app->spawn_name,
        .path = app->file,
        .argv = app->argv,
        .envp = app->env,
        .child = &app->child,
        .stdin_fd = lfd,            /* FCGI_LISTENSOCK_FILENO */
        .stdout_fd = -1,
    };
    char err[300];
    item->child = dp_spawn(&opt, child_exit_cb, item, err, sizeof(err));
    close(lfd);
    if (item->child == NULL) {
        snprintf(msg, msglen, "%s", err);
        free(item);
        return NULL;
    }
    item->pid = dp_child_pid(item->child);
    item_link(app, item);
    bool in_progress = false;
    int fd = connect_socket(&ss, len, &in_progress);
    if (fd < 0) {
        snprintf(msg, msglen, "connect to %s (pid %d): %s", app->name,
                 (int)item->pid, strerror(-fd));
        item_destroy(item);
        return NULL;
    }
    item->fd = fd;
    item->connecting = in_progress;
    if (item_start_poll(stock, item) != 0) {
        close(fd);
        item->fd = -1;
        snprintf(msg, msglen, "out of memory");
        item_destroy(item);
        return NULL;
    }
    return item;
}

static void
item_update_poll(struct fcgi_item *item)
{
    if (item->dead || item->fd < 0)
        return;
    int events = UV_READABLE;
    struct fcgi_op *op = item->op;
    if (item->connecting) {
        events = UV_WRITABLE;
    } else if (op != NULL) {
        if (op->out_pos < op->out.len)
            events |= UV_WRITABLE;
        /* No reading while the client has STDOUT bytes to take. */
        if (op->pend_len > 0 && op->body_active && !op->body_wanted)
            events &= ~UV_READABLE;
    }
    if (events != item->events) {
        item->events = events;
        uv_poll_start(&item->poll, events, item_poll_cb);
    }
}

/* ---- ops: entry points nest; the op is freed at depth 0 ---- */

static void
op_enter(struct fcgi_op *op)
{
    op->depth++;
}

static void
op_free(struct fcgi_op *op)
{
    if (op->link != NULL)
        op->link->op = NULL;
    if (op->head_done || op->head.buf.data != NULL)
        cgi_head_destroy(&op->head);
    pr_buf_free(&op->out);
    free(op->buf);
    free(op);
}

static void
op_leave(struct fcgi_op *op)
{
    if (--op->depth == 0 && op->done)
        op_free(op);
}

/* The op is finished: detach from everything, free at depth 0. */
static void
op_finish(struct fcgi_op *op)
{
    if (op->done)
        return;
    op->done = true;
    if (op->in != NULL) {
        struct dp_body *in = op->in;
        op->in = NULL;
        dp_body_close(in);
    }
    if (op->req != NULL)
        dp_request_set_abort(op->req, NULL, NULL);
    op->req = NULL;
    if (op->depth == 0)
        op_free(op);
}

static void
wait_remove(struct fcgi_op *op)
{
    struct fcgi_app *app = op->app;
    struct fcgi_op **pp = &app->wait_head;
    struct fcgi_op *prev = NULL;
    while (*pp != NULL && *pp != op) {
        prev = *pp;
        pp = &(*pp)->wnext;
    }
    if (*pp == op) {
        *pp = op->wnext;
        if (app->wait_tail == op)
            app->wait_tail = prev;
        app->n_waiting--;
    }
    op->waiting = false;
    op->wnext = NULL;
}

static void
stderr_flush(struct fcgi_op *op)
{
    if (op->line_len == 0)
        return;
    /* control characters would forge log lines */
    for (size_t i = 0; i < op->line_len; i++)
        if ((unsigned char)op->line[i] < 0x20 && op->line[i] != '\t')
            op->line[i] = '?';
    log_line("fastcgi %s: stderr: %.*s", op->app->name, (int)op->line_len,
             op->line);
    op->line_len = 0;
}

static void
stderr_data(struct fcgi_op *op, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            stderr_flush(op);
            continue;
        }
        if (p[i] == '\r')
            continue;
        if (op->line_len == sizeof(op->line))
            stderr_flush(op);
        op->line[op->line_len++] = (char)p[i];
    }
}

static void
op_fail(struct fcgi_op *op, unsigned status, const char *fmt, ...)
{
    if (op->done)
        return;
    char detail[400], msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    snprintf(msg, sizeof(msg), "fastcgi %s: %s", op->app->name, detail);
    op_enter(op);
    stderr_flush(op);
    if (op->waiting)
        wait_remove(op);
    struct fcgi_item *item = op->item;
    op->item = NULL;
    if (item != NULL) {
        item->op = NULL;
        item_destroy(item);
    }
    if (op->in != NULL) {
        struct dp_body *in = op->in;
        op->in = NULL;
        dp_body_close(in);
    }
    if (!op->responded) {
        op->responded = true;
        struct dp_request *req = op->req;
        op->req = NULL;
        if (req != NULL) {
            dp_request_set_abort(req, NULL, NULL);
            dp_request_error(req, status, msg);
        }
    } else if (op->body_active) {
        op->body_active = false;
        const struct dp_body_handler *h = op->body.handler;
        if (h != NULL)
            h->error(op->body.ctx, EPROTO, msg);
    } else {
        log_line("%s", msg);
    }
    op_finish(op);
    op_leave(op);
}

/* The exchange cannot complete (the client is gone and the application
 * will not get all of its STDIN): drop the connection (and process)
 * without a word to the client. */
static void
op_abandon(struct fcgi_op *op)
{
    if (op->done)
        return;
    op_enter(op);
    struct fcgi_item *item = op->item;
    op->item = NULL;
    op->body_active = false;
    if (item != NULL) {
        item->op = NULL;
        item_destroy(item);
    }
    op_finish(op);
    op_leave(op);
}

/* ---- the response body source ---- */

static void
body_read(struct dp_body *body)
{
    struct fcgi_op *op = (struct fcgi_op *)((char *)body -
                                            offsetof(struct fcgi_op, body));
    if (!op->body_active)
        return;
    op->body_wanted = true;
    if (op->depth > 0) {
        /* op_process is on the stack (this is the first read, from
         * dp_request_respond()): hand over what is pending now, so the
         * head and the first bytes leave together; it does the rest. */
        op_deliver(op);
        return;
    }
    op_process(op);
}

static void
body_close(struct dp_body *body)
{
    struct fcgi_op *op = (struct fcgi_op *)((char *)body -
                                            offsetof(struct fcgi_op, body));
    op->body_active = false;
    op->body_wanted = false;
    op->pend_len = 0;
    if (!op->stdin_done) {
        op_abandon(op);
        return;
    }
    /* The client is gone or wants no body (HEAD): read the rest of the
     * answer and discard it, so the connection can be reused. */
    if (op->item != NULL)
        item_update_poll(op->item);
}

static const struct dp_body_class fcgi_body_class = {
    .name = "FastCGI STDOUT",
    .read = body_read,
    .close = body_close,
};

/* The length of the rest of STDOUT when all of it is buffered already
 * (its empty record follows in the buffer), else -1: a small answer then
 * goes out with a Content-Length, head and body in one send(). */
static int64_t
buffered_stdout_length(const struct fcgi_op *op)
{
    struct fcgi_decoder d = op->dec;
    uint64_t n = op->pend_len;
    size_t pos = op->buf_pos;
    while (pos < op->buf_len) {
        size_t used = 0;
        struct fcgi_event ev;
        enum fcgi_decoder_status st =
            fcgi_decoder_feed(&d, op->buf + pos, op->buf_len - pos, &used,
                              &ev);
        pos += used;
        if (st == FCGI_DEC_STDOUT)
            n += ev.data.len;
        else if (st == FCGI_DEC_STDOUT_END)
            return (int64_t)n;
        else if (st != FCGI_DEC_STDERR && st != FCGI_DEC_STDERR_END &&
                 st != FCGI_DEC_MANAGEMENT)
            return -1;
    }
    return -1;
}

/* Send the response head; false when the op failed. */
static bool
op_respond(struct fcgi_op *op)
{
    struct dp_request *req = op->req;
    struct dp_fcgi_head result;
    char msg[300];
    if (req == NULL) {
        op->responded = true;
        return true;    /* the client is gone: discard */
    }
    size_t backend_from = op->headers->len;
    int rc = dp_fcgi_head_response(&op->head, op->headers, &result, msg,
                                   sizeof(msg));
    if (rc != 0) {
        op_fail(op, rc == -ENOMEM ? 500 : 502, "%s", msg);
        return false;
    }
    op->responded = true;
    if (result.length < 0)
        result.length = buffered_stdout_length(op);
    dp_body_init(&op->body, &fcgi_body_class, result.length);
    op->body_active = true;
    op->body_wanted = false;
    dp_request_set_abort(req, NULL, NULL);
    struct dp_body *out = &op->body;
    if (dp_hcache_response_text(op->cache, result.status, op->headers,
                                backend_from, &out))
        return !op->done;    /* a 304 refreshed the entry, which answered */
    dp_request_respond(req, result.status, op->headers, out);
    return !op->done;
}

/* STDOUT ended: end the client's body (an error when it is shorter
 * than its Content-Length). */
static void
op_body_end(struct fcgi_op *op)
{
    op->body_active = false;
    op->body_eof_sent = true;
    const struct dp_body_handler *h = op->body.handler;
    if (op->body.length > 0) {
        char msg[300];
        snprintf(msg, sizeof(msg), "fastcgi %s: %lld bytes short of "
                 "the Content-Length", op->app->name,
                 (long long)op->body.length);
        h->error(op->body.ctx, EPROTO, msg);
    } else {
        op->body.length = 0;
        h->eof(op->body.ctx);
    }
}

/* Hand pending STDOUT bytes to the client; false while it is blocked. */
static bool
op_deliver(struct fcgi_op *op)
{
    if (op->body_active && op->body_wanted && op->body.length == 0) {
        /* "Content-Length: 0", or all of it delivered */
        op->pend_len = 0;
        op->body_active = false;
        op->body_eof_sent = true;
        op->body.handler->eof(op->body.ctx);
        return !op->done;
    }
    while (op->pend_len > 0) {
        if (!op->body_active) {
            op->pend_len = 0;   /* discarding */
            return true;
        }
        if (!op->body_wanted)
            return false;
        size_t n = op->pend_len;
        if (op->body.length >= 0 && (int64_t)n > op->body.length)
            n = (size_t)op->body.length;   /* more than Content-Length */
        size_t took = n > 0 ? op->body.handler->data(op->body.ctx,
                                                     op->pend, n) : 0;
        if (op->done)
            return false;
        if (took > n)
            took = n;
        op->pend += took;
        op->pend_len -= took;
        if (op->body.length >= 0)
            op->body.length -= (int64_t)took;
        if (op->body.length == 0 && op->body_active) {
            /* Content-Length reached: the client has it all. */
            op->pend_len = 0;
            op->body_active = false;
            op->body_eof_sent = true;
            op->body.handler->eof(op->body.ctx);
            return !op->done;
        }
        if (took < n) {
            op->body_wanted = false;
            return false;
        }
    }
    if (op->stdout_ended && op->body_active) {
        /* complete before END_REQUEST: the client need not wait for it */
        op_body_end(op);
        return !op->done;
    }
    return true;
}

/* END_REQUEST: end the body, give the connection back. */
static void
op_end_request(struct fcgi_op *op, const struct fcgi_event *ev)
{
    stderr_flush(op);
    if (!op->head_done) {
        op_fail(op, 502, "END_REQUEST (application status %u, protocol "
                "status %u) before a complete response head",
                (unsigned)ev->app_status, (unsigned)ev->protocol_status);
        return;
    }
    if (op->body_active) {
        op_body_end(op);
        if (op->done)
            return;
    }
    struct fcgi_item *item = op->item;
    op->item = NULL;
    bool reusable = ev->protocol_status == FCGI_REQUEST_COMPLETE &&
                    op->stdin_done && op->out_pos == op->out.len &&
                    op->buf_pos == op->buf_len && !item->fading &&
                    !item->app->stock->closing;
    item->op = NULL;
    if (reusable) {
        item->idle_since = now_ms(item->app->stock);
        item->idle = true;
        item->app->n_idle++;
        item_update_poll(item);
        struct fcgi_app *app = item->app;
        op_finish(op);
        /* over max_idle: stop the newest idle one right away */
        if (app->n_waiting == 0 &&
            app->n_idle > app->stock->settings.stock_max_idle)
            item_destroy(item);
        else
            app_dispatch(app);
        return;
    }
    item_destroy(item);
    op_finish(op);
}

/* Read and decode what the application sends. */
static void
op_process(struct fcgi_op *op)
{
    op_enter(op);
    while (!op->done) {
        if (!op_deliver(op))
            break;
        if (op->done)
            break;
        if (op->buf_pos == op->buf_len) {
            struct fcgi_item *item = op->item;
            if (item == NULL || item->connecting)
                break;
            ssize_t n = recv(item->fd, op->buf, IN_BUF_SIZE, 0);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                break;
            if (n <= 0) {
                const char *why = n < 0 ? strerror(errno)
                                        : "connection closed";
                if (fcgi_decoder_finish(&op->dec) == 0)
                    continue;   /* cannot happen: done before */
                op_fail(op, 502, "%s by the application: %s "
                        "(%llu bytes of STDOUT)",
                        n < 0 ? "read error" : "connection closed",
                        n < 0 ? why : fcgi_decoder_error(&op->dec),
                        (unsigned long long)op->dec.stdout_bytes);
                break;
            }
            op->buf_pos = 0;
            op->buf_len = (size_t)n;
            op->last_progress = now_ms(op->stock);
        }
        size_t used = 0;
        struct fcgi_event ev;
        enum fcgi_decoder_status st =
            fcgi_decoder_feed(&op->dec, op->buf + op->buf_pos,
                              op->buf_len - op->buf_pos, &used, &ev);
        if (st == FCGI_DEC_ERROR) {
            op_fail(op, 502, "bad record: %s", fcgi_decoder_error(&op->dec));
            break;
        }
        op->buf_pos += used;
        switch (st) {
        case FCGI_DEC_STDOUT:
            if (!op->head_done) {
                size_t consumed = 0;
                enum cgi_head_status hs =
                    cgi_head_feed(&op->head, ev.data.data, ev.data.len,
                                  &consumed);
                if (hs == CGI_HEAD_ERROR) {
                    op_fail(op, 502, "malformed response head: %s",
                            cgi_head_error(&op->head));
                    goto out;
                }
                if (hs == CGI_HEAD_NEED_MORE)
                    break;
                op->head_done = true;
                op->pend = ev.data.data + consumed;
                op->pend_len = ev.data.len - consumed;
                if (!op_respond(op))
                    goto out;
                break;
            }
            op->pend = ev.data.data;
            op->pend_len = ev.data.len;
            break;
        case FCGI_DEC_STDERR:
            stderr_data(op, ev.data.data, ev.data.len);
            break;
        case FCGI_DEC_STDOUT_END:
            if (!op->head_done) {
                cgi_head_finish(&op->head);
                op_fail(op, 502, "STDOUT ended without a complete "
                        "response head: %s", cgi_head_error(&op->head));
                goto out;
            }
            op->stdout_ended = true;
            break;
        case FCGI_DEC_END_REQUEST:
            op_end_request(op, &ev);
            goto out;
        case FCGI_DEC_STDERR_END:
        case FCGI_DEC_MANAGEMENT:
        case FCGI_DEC_NEED_MORE:
        case FCGI_DEC_ERROR:
            break;
        }
    }
out:
    if (!op->done && op->item != NULL)
        item_update_poll(op->item);
    op_leave(op);
}

/* ---- the request body as STDIN ---- */

static size_t
in_data(void *ctx, const uint8_t *data, size_t len)
{
    struct fcgi_op *op = ctx;
    size_t queued = op->out.len - op->out_pos;
    if (queued >= OUT_HIGH_WATER || op->item == NULL)
        return 0;
    size_t take = OUT_HIGH_WATER - queued;
    if (take > len)
        take = len;
    if (fcgi_append_stream(&op->out, FCGI_STDIN, op->item->request_id, data,
                           take, 0) != 0)
        return 0;
    if (!op->in_pumping)
        item_update_poll(op->item);     /* asynchronous: flush soon */
    return take;
}

static void
in_eof(void *ctx)
{
    struct fcgi_op *op = ctx;
    op->in = NULL;
    if (op->item == NULL ||
        fcgi_append_stream_end(&op->out, FCGI_STDIN,
                               op->item->request_id) != 0)
        return;
    op->stdin_done = true;
    if (!op->in_pumping)
        item_update_poll(op->item);
}

static void
in_error(void *ctx, int err, const char *msg)
{
    struct fcgi_op *op = ctx;
    op->in = NULL;
    (void)err;
    if (op->done)
        return;
    if (op->head_done && !op->body_active) {
        /* The client has its response; the application will not get the
         * rest of its STDIN: the connection cannot be reused. */
        op_abandon(op);
        return;
    }
    op_fail(op, 400, "request body: %s", msg);
}

static const struct dp_body_handler in_handler = {
    in_data, in_eof, in_error,
};

/* Send what op->out holds; pull the request body when it runs low. */
static void
op_flush(struct fcgi_op *op)
{
    op_enter(op);
    while (!op->done && op->item != NULL) {
        struct fcgi_item *item = op->item;
        if (op->out_pos < op->out.len) {
            ssize_t n = send(item->fd, op->out.data + op->out_pos,
                             op->out.len - op->out_pos, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    break;
                if (errno == EPIPE || errno == ECONNRESET) {
                    /* Read what it answered before it went away. */
                    op->out_pos = op->out.len;
                    break;
                }
                op_fail(op, 502, "write error: %s", strerror(errno));
                break;
            }
            op->out_pos += (size_t)n;
            op->last_progress = now_ms(op->stock);
            continue;
        }
        op->out.len = 0;
        op->out_pos = 0;
        if (op->in == NULL)
            break;
        op->in_pumping = true;
        dp_body_read(op->in);
        op->in_pumping = false;
        if (op->out.len == 0)
            break;      /* the body calls back later */
    }
    if (!op->done && op->item != NULL)
        item_update_poll(op->item);
    op_leave(op);
}

/* A connect to a remote address failed: try the next address for the
 * request (each at most once), or fail it. */
static void
connect_failed(struct fcgi_item *item, int err)
{
    struct fcgi_app *app = item->app;
    struct fcgi_op *op = item->op;
    char text[300];
    format_address(&app->addrs[item->addr_index],
                   app->addr_lens[item->addr_index], text, sizeof(text));
    if (app->next_addr == item->addr_index)
        app->next_addr = (item->addr_index + 1) % app->n_addrs;
    item->op = NULL;
    if (op == NULL) {
        item_destroy(item);
        return;
    }
    op->item = NULL;
    if (++op->connect_failures >= app->n_addrs || op->req == NULL) {
        item_destroy(item);
        op_fail(op, 502, "connect to FastCGI server %s: %s", text,
                strerror(err));
        return;
    }
    log_line("fastcgi %s: connect to %s: %s; trying the next address",
             app->name, text, strerror(err));
    /* Nothing was sent: start over, first in the queue. */
    op->out.len = 0;
    op->out_pos = 0;
    op->stdin_done = false;
    op->waiting = true;
    op->wnext = app->wait_head;
    app->wait_head = op;
    if (app->wait_tail == NULL)
        app->wait_tail = op;
    app->n_waiting++;
    item_destroy(item);     /* dispatches the queue */
}

static void
item_poll_cb(uv_poll_t *poll, int status, int events)
{
    struct fcgi_item *item = poll->data;
    if (item->dead)
        return;
    struct fcgi_op *op = item->op;
    if (item->connecting) {
        /* (libuv reports POLLERR as UV_EBADF: the socket knows better) */
        int err = 0;
        socklen_t len = sizeof(err);
        if (getsockopt(item->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
            err = errno;
        if (err == 0 && status < 0)
            err = -status;
        if (err == 0 && !(events & UV_WRITABLE))
            return;
        if (err != 0) {
            connect_failed(item, err);
            return;
        }
        item->connecting = false;
        item_update_poll(item);
        if (op != NULL)
            op_flush(op);
        return;
    }
    if (op == NULL) {
        /* Idle: anything readable is the peer closing (or garbage). */
        item_destroy(item);
        return;
    }
    op_enter(op);
    if (status < 0) {
        op_fail(op, 502, "connection error: %s", uv_strerror(status));
    } else {
        if (events & UV_WRITABLE)
            op_flush(op);
        if (!op->done && (events & UV_READABLE))
            op_process(op);
    }
    op_leave(op);
}

/* ---- assigning items to ops ---- */

/* Start the exchange on `item`. */
static void
op_attach(struct fcgi_op *op, struct fcgi_item *item)
{
    struct fcgi_app *app = op->app;
    op->item = item;
    item->op = op;
    if (++item->request_id == 0)
        item->request_id = 1;
    op->last_progress = now_ms(op->stock);
    fcgi_decoder_init(&op->dec, item->request_id);
    if (fcgi_append_begin_request(&op->out, item->request_id,
                                  FCGI_RESPONDER, FCGI_KEEP_CONN) != 0 ||
        fcgi_append_pairs(&op->out, FCGI_PARAMS, item->request_id,
                          op->params.v, op->params.n, 0) != 0) {
        op_fail(op, 500, "out of memory");
        return;
    }
    op->in = op->req != NULL ? dp_request_body(op->req) : NULL;
    if (op->in != NULL) {
        dp_body_set_handler(op->in, &in_handler, op);
    } else {
        if (fcgi_append_stream_end(&op->out, FCGI_STDIN,
                                   item->request_id) != 0) {
            op_fail(op, 500, "out of memory");
            return;
        }
        op->stdin_done = true;
    }
    (void)app;
    if (!item->connecting)
        op_flush(op);
    else
        item_update_poll(item);
}

/* Give idle items (or new ones, below the limit) to waiting ops. */
static void
app_dispatch(struct fcgi_app *app)
{
    if (app->dispatching)
        return;     /* the outer call goes on */
    app->dispatching = true;
    while (app->wait_head != NULL) {
        struct fcgi_op *op = app->wait_head;
        struct fcgi_item *item = NULL;
        for (struct fcgi_item *i = app->items; i != NULL; i = i->next)
            if (i->idle && !i->fading) {
                item = i;
                break;
            }
        char msg[400];
        if (item != NULL) {
            app->n_idle--;
            item->idle = false;
        } else if (app->limit == 0 || app->n_items < app->limit) {
            item = app->remote ? item_connect(app, msg, sizeof(msg))
                               : item_spawn(app, msg, sizeof(msg));
            if (item == NULL) {
                wait_remove(op);
                op_fail(op, 502, "%s", msg);
                continue;
            }
        } else {
            break;      /* wait for a free one */
        }
        wait_remove(op);
        op_attach(op, item);
    }
    app->dispatching = false;
}

/* ---- the pool link ---- */

static void
link_cleanup(void *arg)
{
    struct op_link *link = arg;
    struct fcgi_op *op = link->op;
    if (op == NULL)
        return;
    /* The request's pool goes: the body, headers, params die with it.
     * (dp_http ran the abort callback first if it had no answer.) */
    op->req = NULL;
    op->link = NULL;
    op->headers = NULL;
    if (op->in != NULL) {
        struct dp_body *in = op->in;
        op->in = NULL;
        dp_body_close(in);
    }
    if (!op->responded)
        op_fail(op, 502, "the request ended before the response");
    else if (!op->stdin_done)
        op_abandon(op);     /* STDIN stays incomplete */
}

static void
op_abort(void *ctx)
{
    struct fcgi_op *op = ctx;
    op->req = NULL;
    op->headers = NULL;
    if (op->waiting || op->item == NULL || !op->stdin_done) {
        /* nothing sent yet, or the application would wait for STDIN */
        op_fail(op, 502, "the client went away before the response");
        return;
    }
    /* Let the application finish and discard its answer: the process
     * (or connection) stays in the pool; fastcgi_timeout still applies. */
    op->responded = true;
    if (op->in != NULL) {
        struct dp_body *in = op->in;
        op->in = NULL;
        dp_body_close(in);
    }
}

/* ---- the stock ---- */

static void
tick_cb(uv_timer_t *t)
{
    struct dp_fcgi_stock *stock = t->data;
    uint64_t now = now_ms(stock);
    uint64_t timeout = stock->settings.timeout_ms;
    uint64_t idle = stock->settings.idle_timeout_ms;
    for (struct fcgi_app *app = stock->apps; app != NULL; app = app->next) {
        /* requests that waited too long for a slot */
        struct fcgi_op *op = app->wait_head;
        while (op != NULL) {
            struct fcgi_op *next = op->wnext;
            if (now - op->last_progress >= timeout)
                op_fail(op, 504, "no free connection or process within "
                        "%llu ms (limit %u, %u busy)",
                        (unsigned long long)timeout, app->limit,
                        app->n_items - app->n_idle);
            op = next;
        }
        /* requests whose application makes no progress; idle reaping */
        unsigned reaped = 0;
        struct fcgi_item *item = app->items;
        while (item != NULL) {
            struct fcgi_item *next = item->next;
            op = item->op;
            if (op != NULL) {
                bool client_blocked = op->body_active && !op->body_wanted &&
                                      op->pend_len > 0;
                if (!client_blocked && now - op->last_progress >= timeout)
                    op_fail(op, 504, "no answer within %llu ms (%s)",
                            (unsigned long long)timeout,
                            op->head_done ? "while sending the body"
                                          : "no response head yet");
            } else if (!item->connecting && reaped < REAP_PER_TICK &&
                       now - item->idle_since >= idle) {
                reaped++;
                item_destroy(item);
            }
            item = next;
        }
    }
}

static uint64_t
tick_interval(const struct dp_fcgi_settings *s)
{
    uint64_t t = s->timeout_ms < s->idle_timeout_ms ? s->timeout_ms
                                                    : s->idle_timeout_ms;
    t /= 4;
    return t < 50 ? 50 : t > 1000 ? 1000 : t;
}

struct dp_fcgi_stock *
dp_fcgi_stock_new(uv_loop_t *loop, const struct dp_fcgi_settings *settings)
{
    struct dp_fcgi_stock *stock = calloc(1, sizeof(*stock));
    if (stock == NULL)
        return NULL;
    stock->loop = loop;
    stock->settings = *settings;
    if (stock->settings.idle_timeout_ms == 0)
        stock->settings.idle_timeout_ms = 60000;
    if (stock->settings.timeout_ms == 0)
        stock->settings.timeout_ms = 120000;
    stock->server_software = strdup(settings->server_software != NULL
                                        ? settings->server_software
                                        : "Portier");
    if (stock->server_software == NULL) {
        free(stock);
        return NULL;
    }
    stock->settings.server_software = stock->server_software;
    if (gethostname(stock->local_host, sizeof(stock->local_host) - 1) != 0)
        snprintf(stock->local_host, sizeof(stock->local_host), "portier");
    uv_timer_init(loop, &stock->tick);
    stock->tick.data = stock;
    uint64_t iv = tick_interval(&stock->settings);
    uv_timer_start(&stock->tick, tick_cb, iv, iv);
    uv_unref((uv_handle_t *)&stock->tick);
    return stock;
}

static void
tick_closed(uv_handle_t *h)
{
    struct dp_fcgi_stock *stock = h->data;
    stock->tick_closed = true;
    stock_maybe_free(stock);
}

void
dp_fcgi_stock_free(struct dp_fcgi_stock *stock)
{
    if (stock == NULL || stock->closing)
        return;
    stock->closing = true;
    for (struct fcgi_app *app = stock->apps; app != NULL; app = app->next) {
        while (app->wait_head != NULL)
            op_fail(app->wait_head, 503, "shutting down");
        while (app->items != NULL)
            item_destroy(app->items);
    }
    uv_timer_stop(&stock->tick);
    uv_close((uv_handle_t *)&stock->tick, tick_closed);
}

unsigned
dp_fcgi_stock_fade(struct dp_fcgi_stock *stock, const char *tag)
{
    unsigned n = 0;
    for (struct fcgi_app *app = stock->apps; app != NULL; app = app->next) {
        if (app->remote || !app_has_tag(app, tag))
            continue;
        struct fcgi_item *item = app->items;
        while (item != NULL) {
            struct fcgi_item *next = item->next;
            n++;
            if (item->op == NULL)
                item_destroy(item);
            else
                item->fading = true;
            item = next;
        }
    }
    return n;
}

unsigned
dp_fcgi_stock_terminate(struct dp_fcgi_stock *stock, const char *tag)
{
    unsigned n = 0;
    for (struct fcgi_app *app = stock->apps; app != NULL; app = app->next) {
        if (app->remote || !app_has_tag(app, tag))
            continue;
        while (app->items != NULL) {
            n++;
            item_destroy(app->items);
        }
    }
    return n;
}

void
dp_fcgi_stock_stats(const struct dp_fcgi_stock *stock,
                    struct dp_fcgi_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (const struct fcgi_app *app = stock->apps; app != NULL;
         app = app->next) {
        out->applications++;
        if (app->remote)
            out->connections += app->n_items;
        else
            out->processes += app->n_items;
        out->idle += app->n_idle;
        out->busy += app->n_items - app->n_idle;
        out->waiting += app->n_waiting;
    }
}

/* ---- serving ---- */

void
dp_fcgi_serve(struct dp_fcgi_stock *stock, struct dp_request *req,
              const struct tp_response *r,
              struct dp_response_headers *headers, const char *user)
{
    const struct tp_address *a = &r->address;
    char msg[200];
    if (stock == NULL || stock->closing) {
        dp_request_error(req, 503, "FastCGI: shutting down");
        return;
    }
    struct dp_hcache_use *cu = NULL;
    if (!r->uncached && a->path != NULL) {
        size_t kn = strlen(a->path) + strlen(req->target) + 8;
        char *key = dp_pool_alloc(req->pool, kn);
        if (key != NULL) {
            snprintf(key, kn, "fcgi:%s %s", a->path, req->target);
            unsigned flags = dp_hcache_flags(r->eager_cache,
                                             r->ignore_no_cache,
                                             r->auto_flush_cache);
            if (dp_hcache_begin_flags(req, key, r->address_cache_tag,
                                      user != NULL, headers, flags, &cu))
                return;
            dp_hcache_revalidate_request(cu);
        }
    }
    for (size_t i = 0; i < a->addresses.n; i++)
        if (a->addresses.v[i].len == 0) {
            snprintf(msg, sizeof(msg), "FastCGI ADDRESS_STRING with the "
                     "host name \"%s\": name resolution is not supported "
                     "yet", a->addresses.v[i].host);
            dp_request_error(req, 502, msg);
            return;
        }
    struct fcgi_app *app = app_get(stock, a);
    struct fcgi_op *op = calloc(1, sizeof(*op));
    struct op_link *link = dp_pool_alloc(req->pool, sizeof(*link));
    uint8_t *buf = malloc(IN_BUF_SIZE);
    if (app == NULL || op == NULL || link == NULL || buf == NULL ||
        dp_pool_cleanup(req->pool, link_cleanup, link) != 0) {
        free(op);
        free(buf);
        dp_request_error(req, 500, "out of memory");
        return;
    }
    link->op = op;
    op->link = link;
    op->stock = stock;
    op->app = app;
    op->req = req;
    op->buf = buf;
    op->headers = headers;
    op->cache = cu;
    cgi_head_init(&op->head, 0, 0);
    struct dp_fcgi_params_input in = {
        .method = req->method_name,
        .path = req->path,
        .query = req->query,
        .headers = req->headers,
        .n_headers = req->n_headers,
        .has_body = req->chunked || req->content_length > 0,
        .content_length = req->chunked ? -1 : req->content_length,
        .remote_addr = remote_ip(req),
        .server_software = stock->server_software,
        .address = a,
        .header_forward = r->request_header_forward,
        .request_headers = &r->request_headers,
        .local_host = stock->local_host,
    };
    if (dp_fcgi_params_build(req->pool, &in, &op->params) != 0) {
        op_fail(op, 500, "out of memory");
        return;
    }
    op->last_progress = now_ms(stock);
    dp_request_set_abort(req, op_abort, op);
    op->waiting = true;
    if (app->wait_tail != NULL)
        app->wait_tail->wnext = op;
    else
        app->wait_head = op;
    app->wait_tail = op;
    app->n_waiting++;
    app_dispatch(app);
}
