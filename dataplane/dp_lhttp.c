/*
 * dp_lhttp: local HTTP servers (see dp_lhttp.h).
 *
 * A stock per program owns its processes (malloc'ed); a call (in the
 * request's pool) is one request, waiting for a process or counted on
 * one until its pool goes away.  Once a call has its process, the
 * request is handed to dp_proxy with an HTTP address for the process's
 * socket; the pool's cleanup gives the slot back.
 */
#include "dp_lhttp.h"
#include "dp_proxy.h"
#include "dp_spawn.h"
#include "dp_stock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

struct lh_call;

struct lh_proc {
    struct lh_proc *next, *prev;
    struct lh_stock *stock;
    struct dp_child *child;
    pid_t pid;
    struct tp_socket_address addr;
    unsigned n_busy;
    bool dead;                    /* exited or ended; freed when the last
                                     request on it is gone */
};

struct lh_stock {
    struct lh_stock *next;
    struct dp_stock_id id;        /* name "lhttp /path", for logs */
    char *cache_id;               /* the key, printable: the HTTP cache's
                                     name of the program */
    unsigned concurrency;
    unsigned limit;               /* live processes; 0: any */
    struct lh_proc *procs;        /* live ones */
    unsigned n_procs;
    struct dp_stock_queue wait;   /* struct lh_call */
};

struct lh_call {
    struct dp_request *req;
    const struct tp_response *response;
    struct dp_response_headers headers;
    const char *user;             /* or NULL */
    struct lh_stock *stock;
    struct lh_proc *proc;         /* counted on it while set */
    struct dp_stock_waiter wait;
};

static struct {
    uv_loop_t *loop;
    struct dp_lhttp_settings settings;
    struct lh_stock *stocks;
    size_t n_procs;
    unsigned long counter;
    bool stopping;
} lh;

static void stock_dispatch(struct lh_stock *s);

int
dp_lhttp_init(uv_loop_t *loop, const struct dp_lhttp_settings *settings)
{
    lh.loop = loop;
    lh.settings = *settings;
    lh.stopping = false;
    return 0;
}

size_t
dp_lhttp_process_count(void)
{
    return lh.n_procs;
}

/* Take the process out of the pool (no new requests); it is freed when
 * no request is on it any more.  `kill`: end the program too. */
static void
proc_retire(struct lh_proc *p, bool kill)
{
    struct lh_stock *s = p->stock;
    if (!p->dead) {
        p->dead = true;
        if (p->prev != NULL)
            p->prev->next = p->next;
        else
            s->procs = p->next;
        if (p->next != NULL)
            p->next->prev = p->prev;
        p->next = p->prev = NULL;
        s->n_procs--;
        lh.n_procs--;
    }
    if (kill && p->child != NULL) {
        /* it would accept forever: SIGTERM now */
        dp_child_release(p->child, true);
        p->child = NULL;
    }
    if (p->n_busy == 0) {
        if (p->child != NULL) {
            dp_child_release(p->child, true);
            p->child = NULL;
        }
        free(p);
    }
}

void
dp_lhttp_shutdown(void)
{
    lh.stopping = true;
    for (struct lh_stock *s = lh.stocks; s != NULL; s = s->next) {
        struct lh_proc *p = s->procs;
        while (p != NULL) {
            struct lh_proc *next = p->next;
            if (p->n_busy == 0)
                proc_retire(p, true);
            p = next;
        }
    }
}

static void
child_exited(void *ctx, int status)
{
    struct lh_proc *p = ctx;
    struct lh_stock *s = p->stock;
    p->child = NULL;            /* the spawner releases it */
    proc_retire(p, false);
    stock_dispatch(s);
}

static struct lh_proc *
proc_spawn(struct lh_stock *s, struct lh_call *call, char *err,
           size_t errlen)
{
    struct dp_request *req = call->req;
    const struct tp_address *a = &call->response->address;
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
    struct lh_proc *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
                                 (a->non_blocking ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        free(p);
        return NULL;
    }
    /* an abstract address: nothing to clean up in the file system */
    struct sockaddr_un *sun = (struct sockaddr_un *)&p->addr.addr;
    sun->sun_family = AF_UNIX;
    int n = snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1,
                     "portier-lhttp-%d-%lu", (int)getpid(), ++lh.counter);
    p->addr.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
                              (size_t)n);
    if (bind(fd, (struct sockaddr *)sun, p->addr.len) != 0 ||
        listen(fd, (int)(2 * s->concurrency)) != 0) {
        snprintf(err, errlen, "listener: %s", strerror(errno));
        close(fd);
        free(p);
        return NULL;
    }
    struct dp_spawn_options o = {
        .name = s->id.name,
        .path = path,
        .argv = argv,
        .envp = envp,
        .child = &a->child,
        .stdin_fd = fd,
        .stdout_fd = -1,
    };
    p->child = dp_spawn(&o, child_exited, p, err, errlen);
    close(fd);
    if (p->child == NULL) {
        free(p);
        return NULL;
    }
    p->pid = dp_child_pid(p->child);
    p->stock = s;
    p->next = s->procs;
    if (s->procs != NULL)
        s->procs->prev = p;
    s->procs = p;
    s->n_procs++;
    lh.n_procs++;
    return p;
}

/* True when the program has exited (a zombie the spawner has not reaped
 * yet): WNOWAIT leaves it to the spawner's SIGCHLD handling. */
static bool
proc_exited(const struct lh_proc *p)
{
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    return waitid(P_PID, (id_t)p->pid, &si,
                  WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid != 0;
}

/* Hand the request to the reverse proxy, addressed to p's socket. */
static void
call_start(struct lh_call *call, struct lh_proc *p)
{
    struct dp_request *req = call->req;
    call->proc = p;
    p->n_busy++;
    struct tp_response *r = dp_pool_alloc(req->pool, sizeof(*r));
    struct tp_socket_address *sa = dp_pool_alloc(req->pool, sizeof(*sa));
    if (r == NULL || sa == NULL) {
        dp_request_error(req, 500, "out of memory");
        return;
    }
    /* a shallow copy: the strings stay the translation response's */
    *r = *call->response;
    *sa = p->addr;
    struct tp_address *a = &r->address;
    const char *uri = a->lhttp_uri;
    const char *host = a->lhttp_host;
    memset(a, 0, sizeof(*a));
    a->type = TP_ADDRESS_HTTP;
    a->scheme = TP_HTTP_SCHEME_UNIX;
    a->path = uri;
    a->host_and_port = host;      /* NULL: the client's Host */
    a->addresses.v = sa;
    a->addresses.n = 1;
    dp_proxy_serve_keyed(req, r, &call->headers, call->user,
                         call->stock->cache_id);
}

/* A process with room for one more request: a live one, or a new one
 * under the limit.  NULL when the first waiter must wait (or got an
 * error: then it is no longer the first). */
static struct lh_proc *
acquire(struct lh_stock *s)
{
    struct lh_proc *p = s->procs;
    while (p != NULL) {
        struct lh_proc *next = p->next;
        if (p->n_busy < s->concurrency) {
            if (!proc_exited(p))
                return p;
            /* gone, and the spawner has not told us yet */
            proc_retire(p, true);
        }
        p = next;
    }
    if (lh.stopping || (s->limit != 0 && s->n_procs >= s->limit))
        return NULL;
    struct lh_call *call = dp_stock_queue_first(&s->wait);
    char err[400];
    p = proc_spawn(s, call, err, sizeof(err));
    if (p == NULL) {
        char msg[600];
        snprintf(msg, sizeof(msg), "LHTTP server %s: %s", s->id.name + 6,
                 err);
        dp_stock_queue_pop(&s->wait);
        dp_request_set_abort(call->req, NULL, NULL);
        dp_request_error(call->req, 502, msg);
    }
    return p;
}

static void
stock_dispatch(struct lh_stock *s)
{
    while (s->wait.head != NULL) {
        struct lh_call *first = dp_stock_queue_first(&s->wait);
        struct lh_proc *p = acquire(s);
        if (p == NULL) {
            if (dp_stock_queue_first(&s->wait) != first)
                continue;
            return;
        }
        dp_stock_queue_pop(&s->wait);
        dp_request_set_abort(first->req, NULL, NULL);
        call_start(first, p);
    }
}

/* Count the live processes of s without a request. */
static unsigned
idle_procs(const struct lh_stock *s)
{
    unsigned n = 0;
    for (const struct lh_proc *p = s->procs; p != NULL; p = p->next)
        if (p->n_busy == 0)
            n++;
    return n;
}

/* The request is gone (its pool is released, or the client left while
 * it waited): give its place back. */
static void
call_gone(void *arg)
{
    struct lh_call *call = arg;
    struct lh_stock *s = call->stock;
    if (call->wait.waiting) {
        dp_stock_queue_remove(&s->wait, &call->wait);
        return;
    }
    struct lh_proc *p = call->proc;
    if (p == NULL)
        return;
    call->proc = NULL;
    p->n_busy--;
    if (p->dead) {
        if (p->n_busy == 0)
            proc_retire(p, true);
        return;
    }
    if (s->wait.head != NULL) {
        stock_dispatch(s);
        return;
    }
    if (lh.stopping ||
        (p->n_busy == 0 && idle_procs(s) > lh.settings.stock_max_idle))
        proc_retire(p, true);
}

size_t
dp_lhttp_fade(const char *tag, size_t tag_len, bool terminate)
{
    size_t n = 0;
    for (struct lh_stock *s = lh.stocks; s != NULL; s = s->next) {
        if (!dp_stock_id_tagged(&s->id, tag, tag_len))
            continue;
        struct lh_proc *p = s->procs;
        while (p != NULL) {
            struct lh_proc *next = p->next;
            n++;
            /* busy and fading: ended when its last request is gone */
            proc_retire(p, terminate || p->n_busy == 0);
            p = next;
        }
    }
    return n;
}

static struct lh_stock *
stock_get(const struct tp_address *a)
{
    struct pr_buf k = PR_BUF_INIT;
    char num[96];
    /* CONCURRENCY, PARALLELISM and NON_BLOCKING change the process too */
    snprintf(num, sizeof(num), "%u:%u:%d:", a->concurrency, a->parallelism,
             a->non_blocking);
    if (dp_stock_key(&k, a, num) != 0) {
        pr_buf_free(&k);
        return NULL;
    }
    for (struct lh_stock *s = lh.stocks; s != NULL; s = s->next)
        if (dp_stock_id_is(&s->id, &k)) {
            pr_buf_free(&k);
            return s;
        }
    struct lh_stock *s = calloc(1, sizeof(*s));
    char *cache_id = malloc(k.len + 7);
    if (s == NULL || cache_id == NULL) {
        free(s);
        free(cache_id);
        pr_buf_free(&k);
        return NULL;
    }
    /* "lhttp:" and the key with its separators (NUL) as 0x1f */
    memcpy(cache_id, "lhttp:", 6);
    for (size_t i = 0; i < k.len; i++)
        cache_id[6 + i] = k.data[i] != 0 && k.data[i] != '\n'
                              ? (char)k.data[i] : '\x1f';
    cache_id[6 + k.len] = '\0';
    if (dp_stock_id_init(&s->id, &k, "lhttp", a) != 0) {
        free(s);
        free(cache_id);
        pr_buf_free(&k);
        return NULL;
    }
    s->cache_id = cache_id;
    s->concurrency = a->concurrency > 1 ? a->concurrency : 1;
    s->limit = a->parallelism > 0 ? a->parallelism
                                  : lh.settings.stock_limit;
    s->next = lh.stocks;
    lh.stocks = s;
    return s;
}

static void
call_abort(void *arg)
{
    call_gone(arg);
}

void
dp_lhttp_request(struct dp_request *req, const struct tp_response *r,
                 const struct dp_response_headers *headers)
{
    dp_lhttp_request_user(req, r, headers, NULL);
}

void
dp_lhttp_request_user(struct dp_request *req, const struct tp_response *r,
                      const struct dp_response_headers *headers,
                      const char *user)
{
    if (lh.loop == NULL || lh.stopping) {
        dp_request_error(req, 503, "LHTTP: the worker is stopping");
        return;
    }
    struct lh_call *call = dp_pool_calloc(req->pool, sizeof(*call));
    if (call == NULL || dp_pool_cleanup(req->pool, call_gone, call) != 0) {
        dp_request_error(req, 500, "out of memory");
        return;
    }
    call->req = req;
    call->response = r;
    call->headers = *headers;
    if (user != NULL) {
        call->user = dp_pool_strdup(req->pool, user);
        if (call->user == NULL) {
            dp_request_error(req, 500, "out of memory");
            return;
        }
    }
    struct lh_stock *s = stock_get(&r->address);
    if (s == NULL) {
        dp_request_error(req, 500, "out of memory");
        return;
    }
    call->stock = s;
    dp_stock_queue_push(&s->wait, &call->wait, call);
    dp_request_set_abort(req, call_abort, call);
    stock_dispatch(s);
}
