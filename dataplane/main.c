/*
 * portierd: read the configuration, bind the control sockets (dp_control,
 * docs/control.md) and the listeners, then run one worker loop (`workers`
 * 1) or a master that forks the workers, restarts those that die (with
 * back-off), relays control commands to them (dp_relay) and reloads the
 * configuration on SIGHUP (docs/operations.md).
 * SIGTERM/SIGINT stop gracefully: requests in progress finish, and after
 * `shutdown_timeout` the connections and tunnels left are cut; the exit
 * status is 0.
 * SIGHUP in a worker (or the single process) reopens the access log,
 * flushes the translation caches and fades the child processes.
 */
#include "dp_cgi.h"
#include "dp_config.h"
#include "dp_control.h"
#include "dp_fcache.h"
#include "dp_fcgi.h"
#include "dp_nfs.h"
#include "dp_handler.h"
#include "dp_http.h"
#include "dp_listen.h"
#include "dp_proxy.h"
#include "dp_filter_cache.h"
#include "dp_http_cache_request.h"
#include "dp_relay.h"
#include "dp_session_file.h"
#include "dp_session_request.h"
#include "dp_spawn.h"
#include "dp_lhttp.h"
#include "dp_was.h"
#include "dp_tcache.h"
#include "dp_tunnel.h"
#include "dp_tls.h"
#include "dp_translate.h"

#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PORTIER_VERSION "0.1.0"

/* One translation chain (DEFER order) with its stocks and caches. */
struct chain {
    struct dp_handler_server *servers;
    size_t n;
    struct dp_handler *handler;
};

struct daemon {
    uv_loop_t *loop;
    struct dp_config cfg;
    struct dp_http_server *http;
    struct chain *chains;       /* [0] = global, then one per listener
                                   with its own translation_socket */
    size_t n_chains;
    uv_signal_t sigterm, sigint, sighup;
    uv_timer_t shutdown_timer;  /* SIGTERM: shutdown_timeout */
    const char *access_log_path;
    int access_log_fd;
    bool stopping;
    int *listen_fds;            /* bound before any worker starts */
    int *control_fds;           /* likewise, one per control block */
    struct dp_control *control; /* the control server (docs/control.md) */
    struct dp_fcgi_stock *fcgi; /* FastCGI connections and processes */
    struct dp_sessions *sessions;   /* the browser sessions: a store
                                       shared by the master and all its
                                       workers, made before they fork */
    bool worker_process;        /* forked by the master (which saves the
                                   sessions) */
    uv_timer_t session_timer;   /* expiry, and session_save_path when
                                   single */
    bool session_timer_running;
    struct dp_tls_set tls;      /* built before any worker starts */
    int channel_fd;             /* a worker's end of the master's channel,
                                   or -1 */
};

/* Every connection, cached file and translation connection is a
 * descriptor: raise the soft limit to the hard one and say what it is. */
static void
raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t before = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            rl.rlim_cur = before;
    }
    fprintf(stderr, "portierd: file descriptor limit %llu (was %llu)\n",
            (unsigned long long)rl.rlim_cur, (unsigned long long)before);
}

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: portierd [--config FILE] [--listen ADDRESS]... "
            "[--translation-socket ADDRESS]... [--check]\n"
            "\n"
            "  -c, --config FILE              configuration file "
            "(docs/configuration.md)\n"
            "  -L, --listen ADDRESS           add a listener: HOST:PORT, "
            "[IPv6]:PORT, *:PORT, /path, @abstract\n"
            "  -t, --translation-socket ADDR  add a translation server: "
            "/path or @abstract\n"
            "  -w, --workers N                worker processes (0..256; "
            "setting `workers`;\n"
            "                                 0 = one per online core, "
            "the default)\n"
            "      --cluster-size N           number of nodes of a cluster "
            "with sticky sessions (1..65536)\n"
            "      --cluster-node K           this node's number in the "
            "cluster (0..N-1)\n"
            "      --check                    check the configuration and "
            "exit (0 when valid)\n"
            "  -h, --help                     this text\n"
            "  -V, --version                  the version\n");
}

static void
access_log_write(const char *line, size_t len, void *ctx)
{
    struct daemon *d = ctx;
    if (d->access_log_fd < 0)
        return;
    char buf[2100];
    if (len > sizeof(buf) - 1)
        len = sizeof(buf) - 1;
    memcpy(buf, line, len);
    buf[len] = '\n';
    /* O_APPEND: one write per line keeps lines whole. */
    if (write(d->access_log_fd, buf, len + 1) < 0) {
        /* The log is best effort; the request has been served. */
    }
}

static int
access_log_open(struct daemon *d)
{
    if (d->access_log_path == NULL)
        return 0;
    int fd = open(d->access_log_path,
                  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        fprintf(stderr, "portierd: cannot open access log %s: %s\n",
                d->access_log_path, strerror(errno));
        return -1;
    }
    if (d->access_log_fd >= 0)
        close(d->access_log_fd);
    d->access_log_fd = fd;
    return 0;
}

/* The FastCGI stock as a child pool of the control server
 * (FADE_CHILDREN, TERMINATE_CHILDREN, SIGHUP); an empty tag means all. */
static size_t
fcgi_children(void *ctx, const char *tag, size_t tag_len, bool terminate)
{
    char buf[256];
    const char *t = NULL;
    if (tag_len > 0) {
        if (tag_len >= sizeof(buf) || memchr(tag, '\0', tag_len) != NULL)
            return 0;       /* no CHILD_TAG can match it */
        memcpy(buf, tag, tag_len);
        buf[tag_len] = '\0';
        t = buf;
    }
    return terminate ? dp_fcgi_stock_terminate(ctx, t)
                     : dp_fcgi_stock_fade(ctx, t);
}

static size_t
fcgi_count(void *ctx)
{
    struct dp_fcgi_stats st;
    dp_fcgi_stock_stats(ctx, &st);
    return st.processes;
}

static size_t
fcgi_fade(void *ctx, const char *tag, size_t tag_len)
{
    return fcgi_children(ctx, tag, tag_len, false);
}

static size_t
fcgi_terminate(void *ctx, const char *tag, size_t tag_len)
{
    return fcgi_children(ctx, tag, tag_len, true);
}

/* Save the sessions to session_save_path (when set); logs failures.
 * With workers only the master saves: the store is the same for all. */
static void
sessions_save(struct daemon *d)
{
    const char *path = d->cfg.settings.session_save_path;
    if (path == NULL || d->sessions == NULL || d->worker_process)
        return;
    char err[512];
    if (dp_session_file_save(dp_sessions_manager(d->sessions), path, err,
                             sizeof(err)) != 0)
        fprintf(stderr, "portierd: %s\n", err);
}

static void
on_session_timer(uv_timer_t *t)
{
    struct daemon *d = t->data;
    dp_session_expire(dp_sessions_manager(d->sessions), dp_sessions_now());
    sessions_save(d);
}

static void
shutdown_done(void *ctx)
{
    struct daemon *d = ctx;
    sessions_save(d);
    if (d->session_timer_running) {
        uv_timer_stop(&d->session_timer);
        uv_close((uv_handle_t *)&d->session_timer, NULL);
        d->session_timer_running = false;
    }
    /* The control server points at the stocks: close it first. */
    dp_control_close(d->control);
    d->control = NULL;
    /* Children are stopped and reaped while the loop still runs. */
    dp_control_unregister_pool(d->fcgi);
    dp_fcgi_stock_free(d->fcgi);
    d->fcgi = NULL;
    dp_was_shutdown();
    dp_lhttp_shutdown();
    dp_spawn_shutdown();
    dp_nfs_shutdown();      /* every request is done: close the clients */
    for (size_t i = 0; i < d->n_chains; i++)
        for (size_t j = 0; j < d->chains[i].n; j++)
            dp_translate_stock_free(d->chains[i].servers[j].stock);
    dp_proxy_shutdown();
    dp_hcache_shutdown();
    dp_filter_cache_shutdown();
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sighup, NULL);
    uv_close((uv_handle_t *)&d->shutdown_timer, NULL);
}

/* shutdown_timeout is up: cut what is still open. */
static void
on_shutdown_timeout(uv_timer_t *t)
{
    struct daemon *d = t->data;
    unsigned n = dp_http_server_abort(d->http);
    fprintf(stderr, "portierd: shutdown timeout (%llu ms) reached: %u "
            "connection(s) still busy were cut\n",
            (unsigned long long)d->cfg.settings.shutdown_timeout, n);
    /* The last tunnel's slot may end the shutdown (shutdown_done): it
     * comes last, after the log line. */
    unsigned t_open = dp_tunnel_count();
    if (t_open > 0) {
        fprintf(stderr, "portierd: shutdown timeout (%llu ms) reached: "
                "%u tunnel(s) still open were cut\n",
                (unsigned long long)d->cfg.settings.shutdown_timeout,
                t_open);
        dp_tunnel_close_all();
    }
}

/* SIGHUP: what beng-proxy does, as far as portierd has it. */
static void
on_sighup(struct daemon *d)
{
    if (access_log_open(d) == 0 && d->access_log_path != NULL)
        fprintf(stderr, "portierd: SIGHUP: access log %s reopened\n",
                d->access_log_path);
    size_t caches = 0;
    for (size_t i = 0; i < d->n_chains; i++)
        for (size_t j = 0; j < d->chains[i].n; j++)
            if (d->chains[i].servers[j].cache != NULL) {
                dp_tcache_flush(d->chains[i].servers[j].cache);
                caches++;
            }
    if (dp_control_pool_count() == 0) {
        fprintf(stderr, "portierd: SIGHUP: %zu translation cache(s) "
                "flushed; no child process pool to fade\n", caches);
        return;
    }
    size_t n = dp_control_children(false, "", 0);
    fprintf(stderr, "portierd: SIGHUP: %zu translation cache(s) flushed; "
            "%zu child process(es) fading\n", caches, n);
}

/* The WAS and LHTTP pools in the control server's child-pool registry
 * (FADE_CHILDREN, TERMINATE_CHILDREN, SIGHUP). */
static int was_pool_ctx, lhttp_pool_ctx;

static size_t
was_fade(void *ctx, const char *tag, size_t tag_len)
{
    return dp_was_fade(tag, tag_len, false);
}

static size_t
was_terminate(void *ctx, const char *tag, size_t tag_len)
{
    return dp_was_fade(tag, tag_len, true);
}

static size_t
was_count(void *ctx)
{
    (void)ctx;
    return dp_was_process_count();
}

static size_t
lhttp_count(void *ctx)
{
    (void)ctx;
    return dp_lhttp_process_count();
}

static size_t
lhttp_fade(void *ctx, const char *tag, size_t tag_len)
{
    return dp_lhttp_fade(tag, tag_len, false);
}

static size_t
lhttp_terminate(void *ctx, const char *tag, size_t tag_len)
{
    return dp_lhttp_fade(tag, tag_len, true);
}

static void
on_signal(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;
    if (signum == SIGHUP) {
        on_sighup(d);
        return;
    }
    if (d->stopping)
        return;
    d->stopping = true;
    fprintf(stderr, "portierd: %s: shutting down (requests in progress "
            "finish, for at most %llu ms)\n",
            signum == SIGTERM ? "SIGTERM" : "SIGINT",
            (unsigned long long)d->cfg.settings.shutdown_timeout);
    uv_timer_start(&d->shutdown_timer, on_shutdown_timeout,
                   d->cfg.settings.shutdown_timeout, 0);
    dp_http_server_shutdown(d->http, shutdown_done, d);
}

static int
chain_build(struct daemon *d, struct chain *c,
            const struct dp_config_address *socks, size_t n)
{
    const struct dp_config_settings *s = &d->cfg.settings;
    c->servers = calloc(n, sizeof(*c->servers));
    if (c->servers == NULL)
        return -1;
    c->n = n;
    for (size_t i = 0; i < n; i++) {
        char err[300];
        struct dp_translate_options opt = {
            .limit = (unsigned)s->translate_stock_limit,
            .read_timeout_ms = s->translation_timeout,
        };
        c->servers[i].stock = dp_translate_stock_new(d->loop, socks[i].text,
                                                     &opt, err,
                                                     sizeof(err));
        if (c->servers[i].stock == NULL) {
            fprintf(stderr, "portierd: %s\n", err);
            return -1;
        }
        if (s->translate_cache_size > 0) {
            c->servers[i].cache =
                dp_tcache_new((size_t)s->translate_cache_size, 0);
            if (c->servers[i].cache == NULL) {
                fprintf(stderr, "portierd: out of memory\n");
                return -1;
            }
        }
    }
    c->handler = dp_handler_new(d->loop, c->servers, n);
    if (c->handler == NULL)
        return -1;
    dp_handler_set_fcgi(c->handler, d->fcgi);
    dp_handler_set_sessions(c->handler, d->sessions);
    return 0;
}

static void
chains_free(struct daemon *d)
{
    for (size_t i = 0; i < d->n_chains; i++) {
        for (size_t j = 0; j < d->chains[i].n; j++)
            dp_tcache_free(d->chains[i].servers[j].cache);
        dp_handler_free(d->chains[i].handler);
        free(d->chains[i].servers);
    }
    free(d->chains);
}

/* Bind every listener (before workers start, so they share them). */
static int
bind_listeners(struct daemon *d)
{
    const struct dp_config *cfg = &d->cfg;
    d->listen_fds = calloc(cfg->n_listeners + 1, sizeof(int));
    if (d->listen_fds == NULL)
        return -1;
    for (size_t i = 0; i < cfg->n_listeners; i++)
        d->listen_fds[i] = -1;
    /* The control sockets first: once a client can connect, they are
     * bound too. */
    d->control_fds = calloc(cfg->n_controls + 1, sizeof(int));
    if (d->control_fds == NULL)
        return -1;
    for (size_t i = 0; i < cfg->n_controls; i++)
        d->control_fds[i] = -1;
    for (size_t i = 0; i < cfg->n_controls; i++) {
        const struct dp_config_control *cc = &cfg->controls[i];
        char err[400];
        int fd = dp_control_bind(cc, err, sizeof(err));
        if (fd < 0) {
            fprintf(stderr, "portierd: %s:%u: %s\n", cc->file, cc->line,
                    err);
            return -1;
        }
        d->control_fds[i] = fd;
        fprintf(stderr, "portierd: control socket %s%s%s%s%s\n",
                cc->bind.text,
                cc->multicast_group.kind != 0 ? " multicast group " : "",
                cc->multicast_group.kind != 0 ? cc->multicast_group.text
                                              : "",
                cc->interface != NULL ? " on " : "",
                cc->interface != NULL ? cc->interface : "");
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct dp_config_listener *l = &cfg->listeners[i];
        char err[300];
        int fd = dp_listen_open(l, err, sizeof(err));
        if (fd < 0) {
            if (l->line > 0)
                fprintf(stderr, "portierd: %s:%u: %s\n", l->file, l->line,
                        err);
            else
                fprintf(stderr, "portierd: %s\n", err);
            return -1;
        }
        d->listen_fds[i] = fd;
        fprintf(stderr, "portierd: listening on %s%s%s%s\n", l->bind.text,
                l->tag != NULL ? " tag " : "", l->tag != NULL ? l->tag : "",
                l->ssl ? " (TLS)" : "");
    }
    for (size_t i = 0; i < cfg->n_translation_sockets; i++)
        fprintf(stderr, "portierd: translation server %s\n",
                cfg->translation_sockets[i].text);
    return 0;
}

static void
close_listeners(struct daemon *d)
{
    if (d->control_fds != NULL) {
        for (size_t i = 0; i < d->cfg.n_controls; i++)
            if (d->control_fds[i] >= 0)
                close(d->control_fds[i]);
        free(d->control_fds);
        d->control_fds = NULL;
    }
    if (d->listen_fds == NULL)
        return;
    for (size_t i = 0; i < d->cfg.n_listeners; i++)
        if (d->listen_fds[i] >= 0)
            close(d->listen_fds[i]);
    free(d->listen_fds);
    d->listen_fds = NULL;
}

/*
 * `user` / `group` (lwsws's username / groupname): after binding, a
 * process started as root serves as this user.  Looked up before any
 * worker starts; -1 with a message when a name is unknown or the switch
 * fails.  Without `user` nothing changes (and root keeps root: say so).
 */
struct identity {
    bool set;
    uid_t uid;
    gid_t gid;
    const char *name;
};

static int
resolve_identity(const struct dp_config_settings *s, struct identity *id)
{
    memset(id, 0, sizeof(*id));
    if (s->user == NULL) {
        if (s->group != NULL) {
            fprintf(stderr, "portierd: setting 'group' needs 'user'\n");
            return -1;
        }
        if (geteuid() == 0)
            fprintf(stderr, "portierd: running as root (set user = \"...\" "
                    "to serve as another user)\n");
        return 0;
    }
    struct passwd *pw = getpwnam(s->user);
    if (pw == NULL) {
        fprintf(stderr, "portierd: setting 'user': unknown user \"%s\"\n",
                s->user);
        return -1;
    }
    id->set = true;
    id->uid = pw->pw_uid;
    id->gid = pw->pw_gid;
    id->name = s->user;
    if (s->group != NULL) {
        struct group *gr = getgrnam(s->group);
        if (gr == NULL) {
            fprintf(stderr, "portierd: setting 'group': unknown group "
                    "\"%s\"\n", s->group);
            return -1;
        }
        id->gid = gr->gr_gid;
    }
    return 0;
}

static int
drop_privileges(const struct identity *id)
{
    if (!id->set || (geteuid() == id->uid && getegid() == id->gid))
        return 0;
    if (setgroups(1, &id->gid) != 0 || setgid(id->gid) != 0 ||
        setuid(id->uid) != 0) {
        fprintf(stderr, "portierd: cannot become user %s (uid %u gid %u): "
                "%s\n", id->name, (unsigned)id->uid, (unsigned)id->gid,
                strerror(errno));
        return -1;
    }
    return 0;
}

static struct identity run_as;
static struct dp_spawn_policy spawn_policy;   /* the spawn { } block */

/* What the command line said, so that a reload reads the same. */
static struct {
    int argc;
    char **argv;
    const char *config_path;
    unsigned workers;
    bool workers_set;
    unsigned cluster_size, cluster_node;
} cmdline;

static const struct option long_options[] = {
    { "config", required_argument, NULL, 'c' },
    { "listen", required_argument, NULL, 'L' },
    { "translation-socket", required_argument, NULL, 't' },
    { "check", no_argument, NULL, 'k' },
    { "workers", required_argument, NULL, 'w' },
    { "cluster-size", required_argument, NULL, 'S' },
    { "cluster-node", required_argument, NULL, 'N' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { NULL, 0, NULL, 0 },
};

/* The configuration file, then the command line's listeners and
 * translation sockets, then the defaults.  0 or the error in *err. */
static int
load_config(struct dp_config *cfg, struct dp_config_error *err)
{
    int rc = 0;
    if (cmdline.config_path != NULL)
        rc = dp_config_load_file(cmdline.config_path, cfg, err);
    optind = 1;
    int opt;
    while (rc == 0 && (opt = getopt_long(cmdline.argc, cmdline.argv,
                                         "c:L:t:w:hV", long_options,
                                         NULL)) != -1) {
        if (opt == 'L')
            rc = dp_config_add_listen(cfg, optarg, err);
        else if (opt == 't')
            rc = dp_config_add_translation_socket(cfg, optarg, err);
    }
    if (rc == 0)
        rc = dp_config_finish(cfg, err);
    if (cmdline.workers_set)
        cfg->settings.workers = cmdline.workers;
    if (cfg->settings.workers == 0) {
        /* One per online core. */
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        cfg->settings.workers =
            cores < 1 ? 1 : cores > 256 ? 256 : (uint64_t)cores;
    }
    return rc;
}

/* A reload keeps the bound sockets: the listeners and the control
 * blocks must stay the same. */
static bool
same_listeners(const struct dp_config *a, const struct dp_config *b)
{
    if (a->n_listeners != b->n_listeners)
        return false;
    for (size_t i = 0; i < a->n_listeners; i++) {
        const struct dp_config_listener *x = &a->listeners[i];
        const struct dp_config_listener *y = &b->listeners[i];
        if (strcmp(x->bind.text, y->bind.text) != 0 ||
            (x->tag == NULL) != (y->tag == NULL) ||
            (x->tag != NULL && strcmp(x->tag, y->tag) != 0))
            return false;
    }
    if (a->n_controls != b->n_controls)
        return false;
    for (size_t i = 0; i < a->n_controls; i++) {
        const struct dp_config_control *x = &a->controls[i];
        const struct dp_config_control *y = &b->controls[i];
        if (strcmp(x->bind.text, y->bind.text) != 0 ||
            x->multicast_group.kind != y->multicast_group.kind ||
            (x->multicast_group.kind != 0 &&
             strcmp(x->multicast_group.text, y->multicast_group.text) != 0) ||
            (x->interface == NULL) != (y->interface == NULL) ||
            (x->interface != NULL && strcmp(x->interface, y->interface) != 0))
            return false;
    }
    return true;
}

/* ---- the master: forks the workers and keeps them running ---- */

#define MAX_WORKERS 256
#define QUICK_DEATH_MS 5000     /* a worker that dies younger: back off */
#define MAX_BACKOFF_MS 30000
#define STOP_GRACE_MS 5000      /* beyond shutdown_timeout, then SIGKILL */

static volatile sig_atomic_t master_term, master_hup;

static void
master_signal(int signum)
{
    if (signum == SIGHUP)
        master_hup = 1;
    else if (signum != SIGCHLD)
        master_term = 1;
}

struct worker {
    pid_t pid;              /* 0: the slot is free (or waits, below) */
    uint64_t started;       /* ms, monotonic */
    bool retiring;          /* of an older configuration: not restarted */
    uint64_t restart_at;    /* != 0: start a worker here at this time */
    unsigned quick_deaths;  /* in a row, each within QUICK_DEATH_MS */
};

/* The master's control server; NULL without control blocks. */
static struct dp_relay *relay;

static int run_worker(struct daemon *d);
static void sessions_reconfigure(struct daemon *d);

static uint64_t
now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static pid_t
spawn_worker(struct daemon *d, const sigset_t *child_mask)
{
    int pair[2] = {-1, -1};
    if (relay != NULL &&
        socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0,
                   pair) != 0) {
        fprintf(stderr, "portierd: socketpair for a worker's control "
                "channel: %s\n", strerror(errno));
        return -1;
    }
    fflush(stderr);
    pid_t pid = fork();
    if (pid != 0) {
        if (pair[1] >= 0)
            close(pair[1]);
        if (pid < 0) {
            if (pair[0] >= 0)
                close(pair[0]);
            return pid;
        }
        if (pair[0] >= 0 && dp_relay_add_worker(relay, pid, pair[0]) != 0)
            fprintf(stderr, "portierd: worker %d gets no control commands: "
                    "out of memory\n", (int)pid);
        return pid;
    }
    /* A worker: default signal dispositions (libuv installs its own),
     * and it dies with the master, so none is ever left behind. */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    /* SIGHUP stays blocked until the loop's handler is installed: one
     * the master passes on (after a refused reload) must neither kill a
     * starting worker nor get lost (run_worker() unblocks it). */
    sigset_t mask = *child_mask;
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_SETMASK, &mask, NULL);
    if (getppid() == 1)
        _exit(0);       /* the master is already gone */
    /* The master's sockets and the other workers' channels are not ours. */
    if (pair[0] >= 0)
        close(pair[0]);
    dp_relay_forget(relay);
    relay = NULL;
    d->channel_fd = pair[1];
    d->worker_process = true;
    if (drop_privileges(&run_as) != 0)
        _exit(1);
    d->access_log_path = d->cfg.settings.access_log;   /* after a reload */
    d->loop = uv_default_loop();
    int status = run_worker(d);
    _exit(status);
}

/* Start a worker in slot w; false when fork() failed (then it is tried
 * again a second later). */
static bool
start_slot(struct daemon *d, struct worker *w, const sigset_t *mask)
{
    w->restart_at = 0;
    w->retiring = false;
    w->pid = spawn_worker(d, mask);
    w->started = now_ms();
    if (w->pid < 0) {
        fprintf(stderr, "portierd: cannot start a worker: %s; trying again "
                "in 1 s\n", strerror(errno));
        w->pid = 0;
        w->restart_at = w->started + 1000;
        return false;
    }
    fprintf(stderr, "portierd: worker %d started\n", (int)w->pid);
    return true;
}

/* How a worker ended, for the log: "exited with status 3", "killed by
 * signal 9 (Killed)". */
static void
describe_exit(char *out, size_t size, int wstatus)
{
    int n;
    if (WIFSIGNALED(wstatus))
        n = snprintf(out, size, "killed by signal %d (%s)%s",
                     WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)),
                     WCOREDUMP(wstatus) ? ", core dumped" : "");
    else
        n = snprintf(out, size, "exited with status %d",
                     WEXITSTATUS(wstatus));
    (void)n;
}

/* A worker of slot w ended (not while stopping): schedule its successor,
 * at once or after a back-off that doubles with each death in a row
 * within QUICK_DEATH_MS of the start (1 s, 2 s, ... 30 s). */
static void
schedule_restart(struct worker *w, pid_t pid, int wstatus, uint64_t now)
{
    char how[120];
    describe_exit(how, sizeof(how), wstatus);
    if (now - w->started < QUICK_DEATH_MS)
        w->quick_deaths++;
    else
        w->quick_deaths = 0;
    uint64_t delay = 0;
    if (w->quick_deaths > 0) {
        delay = 1000;
        for (unsigned i = 1; i < w->quick_deaths && delay < MAX_BACKOFF_MS;
             i++)
            delay *= 2;
        if (delay > MAX_BACKOFF_MS)
            delay = MAX_BACKOFF_MS;
    }
    if (delay == 0)
        fprintf(stderr, "portierd: worker %d %s; starting a new one\n",
                (int)pid, how);
    else
        fprintf(stderr, "portierd: worker %d %s; starting a new one in "
                "%llu s (%u death(s) in a row within %d s of the start)\n",
                (int)pid, how, (unsigned long long)(delay / 1000),
                w->quick_deaths, QUICK_DEATH_MS / 1000);
    w->pid = 0;
    w->restart_at = now + delay;
    if (w->restart_at == 0)
        w->restart_at = 1;
}

/* SIGHUP: a new configuration and new workers, or (refused) the running
 * workers reopen their logs, flush and fade. */
static void
master_reload(struct daemon *d, struct worker *workers, unsigned slots,
              unsigned *alive, const sigset_t *mask)
{
    struct dp_config fresh;
    struct dp_config_error err;
    memset(&err, 0, sizeof(err));
    dp_config_init(&fresh);
    int rc = load_config(&fresh, &err);
    struct dp_spawn_policy policy;
    char perr[600] = "";
    if (rc == 0 && dp_spawn_policy_resolve(&fresh.spawn, &policy, perr,
                                           sizeof(perr)) != 0)
        rc = -1;
    struct dp_tls_set fresh_tls;
    memset(&fresh_tls, 0, sizeof(fresh_tls));
    if (rc == 0 && perr[0] == '\0' &&
        dp_tls_set_load(&fresh, &fresh_tls, &err) != 0) {
        dp_spawn_policy_free(&policy);
        rc = -1;
    }
    if (rc != 0 || !same_listeners(&d->cfg, &fresh)) {
        fprintf(stderr, "portierd: SIGHUP: reload refused, the "
                "running configuration stays: %s\n",
                perr[0] != '\0' ? perr
                : rc != 0 ? err.text
                          : "the listeners or control blocks changed "
                            "(restart portierd to change them)");
        if (rc == 0)
            dp_spawn_policy_free(&policy);
        dp_tls_set_free(&fresh_tls);
        dp_config_free(&fresh);
        for (unsigned i = 0; i < slots; i++)
            if (workers[i].pid > 0 && !workers[i].retiring)
                kill(workers[i].pid, SIGHUP);
        return;
    }
    /* The old workers stop accepting and exit once their requests are
     * done; the listening sockets stay, so nothing is refused. */
    for (unsigned i = 0; i < slots; i++) {
        workers[i].restart_at = 0;
        if (workers[i].pid > 0 && !workers[i].retiring) {
            workers[i].retiring = true;
            if (relay != NULL)
                dp_relay_remove_worker(relay, workers[i].pid);
            kill(workers[i].pid, SIGTERM);
        }
    }
    dp_spawn_policy_free(&spawn_policy);
    spawn_policy = policy;
    dp_config_free(&d->cfg);
    d->cfg = fresh;
    dp_tls_set_free(&d->tls);
    d->tls = fresh_tls;
    sessions_reconfigure(d);
    unsigned want = (unsigned)d->cfg.settings.workers;
    if (want > MAX_WORKERS)
        want = MAX_WORKERS;
    unsigned started = 0;
    for (unsigned i = 0; i < slots && started < want; i++) {
        if (workers[i].pid != 0)
            continue;
        workers[i].quick_deaths = 0;
        if (start_slot(d, &workers[i], mask))
            (*alive)++;
        started++;
    }
    fprintf(stderr, "portierd: SIGHUP: configuration reloaded, %u new "
            "worker(s)\n", started);
}

/*
 * Start `n` workers, restart one that dies (with back-off), relay control
 * commands, reload on SIGHUP, and on SIGTERM/SIGINT pass the signal on,
 * wait for the workers (at most shutdown_timeout + STOP_GRACE_MS, then
 * SIGKILL) and return 0.
 */
static int
run_master(struct daemon *d, unsigned n)
{
    static struct worker workers[2 * MAX_WORKERS];
    memset(workers, 0, sizeof(workers));
    unsigned slots = 2 * MAX_WORKERS;
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGCHLD);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, &old);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = master_signal;
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    unsigned alive = 0;
    for (unsigned i = 0; i < n; i++)
        if (start_slot(d, &workers[i], &old))
            alive++;
    /* The master saves the shared sessions (session_save_path). */
    uint64_t next_save = now_ms() + d->cfg.settings.session_save_interval;
    bool stopping = false;
    uint64_t stop_deadline = 0;
    bool killed = false;
    struct pollfd fds[64 + 2 * MAX_WORKERS];
    for (;;) {
        bool waiting_restart = false;
        for (unsigned i = 0; i < slots; i++)
            if (workers[i].restart_at != 0)
                waiting_restart = true;
        if (alive == 0 && (stopping || !waiting_restart))
            break;
        uint64_t now = now_ms();
        int timeout = -1;
        for (unsigned i = 0; i < slots; i++)
            if (workers[i].restart_at != 0) {
                int t = workers[i].restart_at > now
                            ? (int)(workers[i].restart_at - now)
                            : 0;
                if (timeout < 0 || t < timeout)
                    timeout = t;
            }
        if (stopping && !killed) {
            int t = stop_deadline > now ? (int)(stop_deadline - now) : 0;
            if (timeout < 0 || t < timeout)
                timeout = t;
        }
        if (!stopping && d->cfg.settings.session_save_path != NULL) {
            int t = next_save > now ? (int)(next_save - now) : 0;
            if (timeout < 0 || t < timeout)
                timeout = t;
        }
        size_t nfds = 0;
        if (relay != NULL) {
            nfds = dp_relay_pollfds(relay, fds, sizeof(fds) / sizeof(*fds));
            int t = dp_relay_timeout_ms(relay, now);
            if (t >= 0 && (timeout < 0 || t < timeout))
                timeout = t;
        }
        struct timespec ts = {timeout / 1000, (long)(timeout % 1000) *
                                                  1000000L};
        int ready = ppoll(fds, nfds, timeout >= 0 ? &ts : NULL, &old);
        if (ready < 0)
            for (size_t i = 0; i < nfds; i++)
                fds[i].revents = 0;
        now = now_ms();
        if (relay != NULL)
            dp_relay_dispatch(relay, fds, nfds, now);

        if (!stopping && now >= next_save) {
            next_save = now + d->cfg.settings.session_save_interval;
            dp_session_expire(dp_sessions_manager(d->sessions),
                              dp_sessions_now());
            sessions_save(d);
        }
        if (master_hup) {
            master_hup = 0;
            if (!stopping)
                master_reload(d, workers, slots, &alive, &old);
        }
        if (master_term && !stopping) {
            stopping = true;
            stop_deadline = now + d->cfg.settings.shutdown_timeout +
                            STOP_GRACE_MS;
            fprintf(stderr, "portierd: stopping %u worker(s) (requests in "
                    "progress finish, for at most %llu ms)\n", alive,
                    (unsigned long long)d->cfg.settings.shutdown_timeout);
            for (unsigned i = 0; i < slots; i++) {
                workers[i].restart_at = 0;
                if (workers[i].pid > 0)
                    kill(workers[i].pid, SIGTERM);
            }
        }
        int wstatus;
        pid_t pid;
        while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
            unsigned i = 0;
            while (i < slots && workers[i].pid != pid)
                i++;
            if (i == slots)
                continue;
            if (relay != NULL)
                dp_relay_remove_worker(relay, pid);
            alive--;
            if (workers[i].retiring) {
                workers[i].pid = 0;
                workers[i].retiring = false;
                continue;   /* an old worker done with its requests */
            }
            if (stopping) {
                if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
                    char how[120];
                    describe_exit(how, sizeof(how), wstatus);
                    fprintf(stderr, "portierd: worker %d %s\n", (int)pid,
                            how);
                }
                workers[i].pid = 0;
                continue;
            }
            schedule_restart(&workers[i], pid, wstatus, now);
        }
        if (!stopping)
            for (unsigned i = 0; i < slots; i++)
                if (workers[i].restart_at != 0 &&
                    workers[i].restart_at <= now &&
                    start_slot(d, &workers[i], &old))
                    alive++;
        if (stopping && !killed && now >= stop_deadline && alive > 0) {
            killed = true;
            fprintf(stderr, "portierd: %u worker(s) still running %llu ms "
                    "after SIGTERM: killed\n", alive,
                    (unsigned long long)(d->cfg.settings.shutdown_timeout +
                                         STOP_GRACE_MS));
            for (unsigned i = 0; i < slots; i++)
                if (workers[i].pid > 0)
                    kill(workers[i].pid, SIGKILL);
        }
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    sessions_save(d);       /* every worker is gone: the final state */
    fprintf(stderr, "portierd: stopped\n");
    return 0;
}

/* Hand the bound control sockets to a control server that reaches every
 * chain's stocks and caches and the HTTP server. */
static int
control_start(struct daemon *d)
{
    const struct dp_config *cfg = &d->cfg;
    if (cfg->n_controls == 0 && d->channel_fd < 0)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < d->n_chains; i++)
        n += d->chains[i].n;
    struct dp_translate_stock **stocks = calloc(n + 1, sizeof(*stocks));
    struct dp_tcache **caches = calloc(n + 1, sizeof(*caches));
    if (stocks == NULL || caches == NULL) {
        free(stocks);
        free(caches);
        fprintf(stderr, "portierd: out of memory\n");
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < d->n_chains; i++)
        for (size_t j = 0; j < d->chains[i].n; j++, k++) {
            stocks[k] = d->chains[i].servers[j].stock;
            caches[k] = d->chains[i].servers[j].cache;
        }
    struct dp_control_targets t = {
        .http = d->http,
        .stocks = stocks,
        .n_stocks = n,
        .caches = caches,
        .n_caches = n,
        .sessions = d->sessions != NULL ? dp_sessions_manager(d->sessions)
                                        : NULL,
    };
    d->control = dp_control_new(d->loop, &t);
    free(stocks);
    free(caches);
    if (d->control == NULL) {
        fprintf(stderr, "portierd: out of memory\n");
        return -1;
    }
    if (d->channel_fd >= 0) {
        /* A worker: the master owns the sockets and hands us what it
         * accepted. */
        char err[200];
        int fd = d->channel_fd;
        d->channel_fd = -1;
        if (dp_control_add_channel(d->control, fd, err, sizeof(err)) != 0) {
            fprintf(stderr, "portierd: %s\n", err);
            return -1;
        }
        return 0;
    }
    for (size_t i = 0; i < cfg->n_controls; i++) {
        const struct dp_config_control *cc = &cfg->controls[i];
        char err[400];
        int fd = d->control_fds[i];
        d->control_fds[i] = -1;     /* the control server owns it now */
        if (dp_control_add(d->control, cc, fd, err, sizeof(err)) != 0) {
            fprintf(stderr, "portierd: %s:%u: %s\n", cc->file, cc->line,
                    err);
            return -1;
        }
    }
    return 0;
}

/* With workers: the master takes over the bound control sockets. */
static int
master_start_relay(struct daemon *d)
{
    if (d->cfg.n_controls == 0)
        return 0;
    relay = dp_relay_new(run_as.set ? run_as.uid : geteuid());
    if (relay == NULL) {
        fprintf(stderr, "portierd: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < d->cfg.n_controls; i++) {
        int fd = d->control_fds[i];
        d->control_fds[i] = -1;
        if (dp_relay_add_socket(relay, &d->cfg.controls[i], fd) != 0) {
            fprintf(stderr, "portierd: out of memory\n");
            return 1;
        }
    }
    return 0;
}

static void
sessions_config(const struct dp_config_settings *s,
                struct dp_sessions_config *sc)
{
    *sc = (struct dp_sessions_config){
        .cookie_name = s->session_cookie,
        .dynamic_cookie = s->dynamic_session_cookie,
        .same_site = s->session_cookie_same_site == NULL
                         ? DP_SESSION_SAME_SITE_NONE_SET
                     : strcmp(s->session_cookie_same_site, "strict") == 0
                         ? DP_SESSION_SAME_SITE_STRICT
                         : DP_SESSION_SAME_SITE_LAX,
        .store = {
            .cluster_size = cmdline.cluster_size,
            .cluster_node = cmdline.cluster_node > 0
                                ? cmdline.cluster_node - 1 : 0,
            .idle_timeout_ms = s->session_idle_timeout,
            .max_sessions = (size_t)s->max_sessions,
        },
    };
}

/* The session store, shared by every worker: made (and the file loaded)
 * before any worker is forked. */
static int
sessions_create(struct daemon *d)
{
    const struct dp_config_settings *s = &d->cfg.settings;
    struct dp_sessions_config sc;
    sessions_config(s, &sc);
    d->sessions = dp_sessions_new(&sc);
    if (d->sessions == NULL) {
        fprintf(stderr, "portierd: cannot make the shared session store "
                "(mmap or out of memory)\n");
        return -1;
    }
    struct dp_session_stats st;
    dp_session_get_stats(dp_sessions_manager(d->sessions), &st);
    fprintf(stderr, "portierd: session store shared by all workers: %zu "
            "sessions, %zu KiB for their values\n",
            dp_session_manager_config(dp_sessions_manager(d->sessions))
                ->max_sessions,
            st.chunks_total / 4);
    if (cmdline.cluster_size > 1)
        fprintf(stderr, "portierd: cluster node %u of %u: session ids carry "
                "the node\n", sc.store.cluster_node, sc.store.cluster_size);
    if (s->session_save_path != NULL) {
        char err[512];
        long n = dp_session_file_load(dp_sessions_manager(d->sessions),
                                      s->session_save_path,
                                      dp_sessions_now(), err, sizeof(err));
        if (n < 0)
            fprintf(stderr, "portierd: %s\n", err);
        else
            fprintf(stderr, "portierd: %ld session(s) loaded from %s\n", n,
                    s->session_save_path);
    }
    return 0;
}

/* A reload: the sessions stay (the store outlives the workers); cookie
 * settings and the idle timeout follow the new configuration. */
static void
sessions_reconfigure(struct daemon *d)
{
    struct dp_sessions_config sc;
    sessions_config(&d->cfg.settings, &sc);
    size_t have = dp_session_manager_config(dp_sessions_manager(d->sessions))
                      ->max_sessions;
    if (sc.store.max_sessions != 0 && sc.store.max_sessions != have)
        fprintf(stderr, "portierd: SIGHUP: session_max_count stays %zu "
                "until a restart (the shared store keeps its size)\n",
                have);
    if (dp_sessions_reconfigure(d->sessions, &sc) != 0)
        fprintf(stderr, "portierd: SIGHUP: session settings unchanged: "
                "out of memory\n");
}

/* This process's session timer: expiry, and in a single process the
 * session file. */
static int
sessions_start(struct daemon *d)
{
    if (d->sessions == NULL && sessions_create(d) != 0)
        return -1;
    uint64_t every = d->cfg.settings.session_save_interval;
    uv_timer_init(d->loop, &d->session_timer);
    d->session_timer.data = d;
    uv_timer_start(&d->session_timer, on_session_timer, every, every);
    uv_unref((uv_handle_t *)&d->session_timer);
    d->session_timer_running = true;
    return 0;
}

static int
run_worker(struct daemon *d)
{
    const struct dp_config *cfg = &d->cfg;
    if (sessions_start(d) != 0)
        return 1;
    d->chains = calloc(cfg->n_listeners + 1, sizeof(*d->chains));
    if (d->chains == NULL)
        return 1;
    d->n_chains = 1;
    const struct dp_config_settings *cs = &cfg->settings;
    struct dp_fcgi_settings fs = {
        .stock_limit = (unsigned)cs->fastcgi_stock_limit,
        .stock_max_idle = (unsigned)cs->fastcgi_stock_max_idle,
        .idle_timeout_ms = cs->fastcgi_idle_timeout,
        .timeout_ms = cs->fastcgi_timeout,
        .server_software = cs->server_string,
    };
    d->fcgi = dp_fcgi_stock_new(d->loop, &fs);
    struct dp_control_pool fcgi_pool = {
        .name = "fastcgi",
        .fade = fcgi_fade,
        .terminate = fcgi_terminate,
        .ctx = d->fcgi,
        .count = fcgi_count,
    };
    if (d->fcgi == NULL || dp_control_register_pool(&fcgi_pool) != 0)
        return 1;
    if (chain_build(d, &d->chains[0], cfg->translation_sockets,
                    cfg->n_translation_sockets) != 0)
        return 1;

    const struct dp_config_settings *s = &cfg->settings;
    struct dp_http_client_options ho = {
        .limit = (unsigned)s->tcp_stock_limit,
        .connect_timeout_ms = s->backend_connect_timeout,
        .response_timeout_ms = s->backend_response_timeout,
        .body_timeout_ms = s->backend_body_timeout,
        .idle_timeout_ms = s->backend_idle_timeout,
        .fail_timeout_ms = s->backend_fail_timeout,
        /* waiting for a slot under tcp_stock_limit is part of getting a
         * connection: the same bound (docs/configuration.md) */
        .wait_timeout_ms = s->backend_connect_timeout,
        .tls_no_verify = !s->backend_tls_verify,
    };
    if (dp_proxy_init(d->loop, &ho, d->tls.client) != 0)
        return 1;
    if (dp_hcache_configure((size_t)s->http_cache_size,
                            s->http_cache_obey_no_cache) != 0)
        return 1;
    if (dp_filter_cache_configure((size_t)s->filter_cache_size) != 0)
        return 1;
    struct dp_nfs_settings ns = {
        .cache_size = (size_t)s->nfs_cache_size,
        .nfs_port = (unsigned)s->nfs_port,
        .mount_port = (unsigned)s->nfs_mount_port,
        .timeout_ms = s->nfs_timeout,
        .idle_ms = s->nfs_idle_timeout,
    };
    char nerr[200];
    if (dp_nfs_configure(d->loop, &ns, nerr, sizeof(nerr)) != 0) {
        fprintf(stderr, "portierd: %s\n", nerr);
        return 1;
    }
    struct dp_http_settings hs = {
        .server_string = s->server_string,
        .max_connections = (unsigned)s->max_connections,
        .head_timeout_ms = s->request_header_timeout,
        .body_timeout_ms = s->request_body_timeout,
        .tarpit_delay_ms = s->tarpit_delay,
        .keepalive_timeout_ms = s->keepalive_timeout,
        .write_timeout_ms = s->write_timeout,
        .max_header_count = (unsigned)s->max_request_headers,
        .max_head_size = (size_t)s->max_request_head_size,
    };
    d->http = dp_http_server_new(d->loop, &hs, dp_handler_request, NULL);
    if (d->http == NULL)
        return 1;
    if (access_log_open(d) != 0)
        return 1;
    if (d->access_log_path != NULL)
        dp_http_server_set_access_log(d->http, access_log_write, d);

    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const struct dp_config_listener *l = &cfg->listeners[i];
        struct dp_handler *handler = d->chains[0].handler;
        if (l->n_translation_sockets > 0) {
            struct chain *c = &d->chains[d->n_chains++];
            if (chain_build(d, c, l->translation_sockets,
                            l->n_translation_sockets) != 0)
                return 1;
            handler = c->handler;
        }
        int fd = d->listen_fds[i];
        d->listen_fds[i] = -1;      /* the server owns it now */
        int rc = dp_http_server_add_tls_listener(d->http, fd, l->tag,
                                                 handler, d->tls.servers[i]);
        if (rc != 0) {
            close(fd);
            fprintf(stderr, "portierd: listener %s: %s\n", l->bind.text,
                    uv_strerror(rc));
            return 1;
        }
    }

    if (control_start(d) != 0)
        return 1;
    if (dp_spawn_init(d->loop, &spawn_policy) != 0)
        return 1;
    dp_cgi_configure(s->cgi_timeout, s->server_string);
    struct dp_was_settings ws = {
        .stock_limit = (unsigned)s->was_stock_limit,
        .stock_max_idle = (unsigned)s->was_stock_max_idle,
        .timeout_ms = s->was_timeout,
    };
    if (dp_was_init(d->loop, &ws) != 0)
        return 1;
    struct dp_lhttp_settings ls = {
        .stock_limit = (unsigned)s->lhttp_stock_limit,
        .stock_max_idle = (unsigned)s->lhttp_stock_max_idle,
    };
    if (dp_lhttp_init(d->loop, &ls) != 0)
        return 1;
    const struct dp_control_pool pools[] = {
        { "was", was_fade, was_terminate, &was_pool_ctx, was_count },
        { "lhttp", lhttp_fade, lhttp_terminate, &lhttp_pool_ctx,
          lhttp_count },
    };
    for (size_t i = 0; i < sizeof(pools) / sizeof(pools[0]); i++)
        if (dp_control_register_pool(&pools[i]) != 0)
            return 1;

    uv_timer_init(d->loop, &d->shutdown_timer);
    d->shutdown_timer.data = d;
    uv_signal_init(d->loop, &d->sigterm);
    uv_signal_init(d->loop, &d->sigint);
    uv_signal_init(d->loop, &d->sighup);
    d->sigterm.data = d->sigint.data = d->sighup.data = d;
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    uv_signal_start(&d->sighup, on_signal, SIGHUP);
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    sigprocmask(SIG_UNBLOCK, &hup, NULL);   /* blocked by spawn_worker() */

    uv_run(d->loop, UV_RUN_DEFAULT);
    dp_spawn_fini();
    if (d->listen_fds == NULL || d->cfg.settings.workers <= 1)
        fprintf(stderr, "portierd: stopped\n");
    return 0;
}

int
main(int argc, char **argv)
{
    struct daemon d;
    memset(&d, 0, sizeof(d));
    d.access_log_fd = -1;
    d.channel_fd = -1;
    dp_config_init(&d.cfg);
    const char *config_path = NULL;
    bool check = false;
    unsigned workers_arg = 0;
    bool workers_set = false;
    struct dp_config_error err;
    memset(&err, 0, sizeof(err));

    /* The file first, then the command line, whatever the order. */
    int opt;
    while ((opt = getopt_long(argc, argv, "c:L:t:w:hV", long_options, NULL)) !=
           -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 'k':
            check = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("portierd %s\n", PORTIER_VERSION);
            return 0;
        case 'w': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v > 256) {
                fprintf(stderr, "portierd: --workers: \"%s\" is not a "
                        "number from 0 to 256\n", optarg);
                return 2;
            }
            workers_arg = (unsigned)v;
            workers_set = true;
            break;
        }
        case 'S':
        case 'N': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            unsigned long max = opt == 'S' ? 65536 : 65535;
            if (*optarg == '\0' || *end != '\0' || v > max ||
                (opt == 'S' && v < 1)) {
                fprintf(stderr, "portierd: --cluster-%s: \"%s\" is not a "
                        "number from %d to %lu\n",
                        opt == 'S' ? "size" : "node", optarg,
                        opt == 'S' ? 1 : 0, max);
                return 2;
            }
            if (opt == 'S')
                cmdline.cluster_size = (unsigned)v;
            else
                cmdline.cluster_node = (unsigned)v + 1;   /* 0 = not given */
            break;
        }
        case 'L':
        case 't':
            break;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "portierd: unexpected argument \"%s\"\n",
                argv[optind]);
        usage(stderr);
        return 2;
    }
    if (cmdline.cluster_node > 0 &&
        cmdline.cluster_node > cmdline.cluster_size) {
        fprintf(stderr, "portierd: --cluster-node %u needs --cluster-size "
                "greater than it\n", cmdline.cluster_node - 1);
        return 2;
    }
    cmdline.argc = argc;
    cmdline.argv = argv;
    cmdline.config_path = config_path;
    cmdline.workers = workers_arg;
    cmdline.workers_set = workers_set;
    int rc = load_config(&d.cfg, &err);
    if (rc != 0) {
        fprintf(stderr, "portierd: %s\n", err.text);
        dp_config_free(&d.cfg);
        return 1;
    }
    char spawn_err[600];
    if (dp_spawn_policy_resolve(&d.cfg.spawn, &spawn_policy, spawn_err,
                                sizeof(spawn_err)) != 0) {
        fprintf(stderr, "portierd: %s\n", spawn_err);
        dp_config_free(&d.cfg);
        return 1;
    }
    /* Certificates and keys are read now: before privileges are dropped,
     * and so that --check finds a missing or mismatched file. */
    if (dp_tls_set_load(&d.cfg, &d.tls, &err) != 0) {
        fprintf(stderr, "portierd: %s\n", err.text);
        dp_spawn_policy_free(&spawn_policy);
        dp_config_free(&d.cfg);
        return 1;
    }
    if (check) {
        dp_tls_set_free(&d.tls);
        printf("portierd: configuration %s is valid\n",
               config_path != NULL ? config_path : "(command line)");
        dp_spawn_policy_free(&spawn_policy);
        dp_config_free(&d.cfg);
        return 0;
    }
    d.access_log_path = d.cfg.settings.access_log;

    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    dp_fcache_configure((size_t)d.cfg.settings.open_file_cache_entries,
                        d.cfg.settings.open_file_cache_valid);
    int status = 1;
    unsigned workers = (unsigned)d.cfg.settings.workers;
    if (resolve_identity(&d.cfg.settings, &run_as) == 0 &&
        bind_listeners(&d) == 0 && sessions_create(&d) == 0) {
        /* Every listener accepts connections from here on (they wait in
         * the backlog until a loop runs). */
        fprintf(stderr, "portierd: ready\n");
        if (workers > 1) {
            status = master_start_relay(&d);
            if (status == 0)
                status = run_master(&d, workers);
            dp_relay_free(relay);
            relay = NULL;
            dp_sessions_free(d.sessions);
            close_listeners(&d);
            dp_tls_set_free(&d.tls);
            dp_config_free(&d.cfg);
            return status;
        }
        if (drop_privileges(&run_as) == 0) {
            d.loop = uv_default_loop();
            status = run_worker(&d);
            /* Only after a failed start is it still open (shutdown_done
             * closes it otherwise): remove its socket files. */
            dp_control_close(d.control);
        }
        dp_nfs_shutdown();
    }
    close_listeners(&d);
    if (d.loop == NULL)
        d.loop = uv_default_loop();
    if (d.http != NULL)
        dp_http_server_free(d.http);
    chains_free(&d);
    dp_sessions_free(d.sessions);
    if (d.access_log_fd >= 0)
        close(d.access_log_fd);
    dp_tls_set_free(&d.tls);
    dp_config_free(&d.cfg);
    dp_fcache_configure(0, 0);      /* close the cached files */
    dp_spawn_policy_free(&spawn_policy);
    uv_loop_close(d.loop);
    return status;
}
