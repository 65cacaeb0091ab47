/*
 * portierd: read the configuration, bind the control sockets (dp_control,
 * docs/control.md) and the listeners, run one worker loop.
 * SIGTERM/SIGINT stop gracefully (requests in progress finish; the control
 * sockets close with the translation stocks), SIGHUP reopens the access
 * log.
 */
#include "dp_cgi.h"
#include "dp_config.h"
#include "dp_control.h"
#include "dp_fcache.h"
#include "dp_fcgi.h"
#include "dp_handler.h"
#include "dp_http.h"
#include "dp_listen.h"
#include "dp_spawn.h"
#include "dp_tcache.h"
#include "dp_translate.h"

#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
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
    const char *access_log_path;
    int access_log_fd;
    bool stopping;
    int *listen_fds;            /* bound before any worker starts */
    int *control_fds;           /* likewise, one per control block */
    struct dp_control *control; /* the control server (docs/control.md) */
    struct dp_fcgi_stock *fcgi; /* FastCGI connections and processes */
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
            "  -w, --workers N                worker processes (1..256; "
            "setting `workers`, default 1)\n"
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

static void
shutdown_done(void *ctx)
{
    struct daemon *d = ctx;
    /* The control server points at the stocks: close it first. */
    dp_control_close(d->control);
    d->control = NULL;
    /* Children are stopped and reaped while the loop still runs. */
    dp_fcgi_stock_free(d->fcgi);
    d->fcgi = NULL;
    dp_spawn_shutdown();
    for (size_t i = 0; i < d->n_chains; i++)
        for (size_t j = 0; j < d->chains[i].n; j++)
            dp_translate_stock_free(d->chains[i].servers[j].stock);
    uv_close((uv_handle_t *)&d->sigterm, NULL);
    uv_close((uv_handle_t *)&d->sigint, NULL);
    uv_close((uv_handle_t *)&d->sighup, NULL);
}

static void
on_signal(uv_signal_t *h, int signum)
{
    struct daemon *d = h->data;
    if (signum == SIGHUP) {
        if (access_log_open(d) == 0 && d->access_log_path != NULL)
            fprintf(stderr, "portierd: SIGHUP: access log %s reopened\n",
                    d->access_log_path);
        if (d->fcgi != NULL)
            fprintf(stderr, "portierd: SIGHUP: %u FastCGI processes "
                    "fading\n", dp_fcgi_stock_fade(d->fcgi, NULL));
        return;
    }
    if (d->stopping)
        return;
    d->stopping = true;
    fprintf(stderr, "portierd: %s: shutting down (requests in progress "
            "finish)\n", signum == SIGTERM ? "SIGTERM" : "SIGINT");
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
        fprintf(stderr, "portierd: listening on %s%s%s\n", l->bind.text,
                l->tag != NULL ? " tag " : "", l->tag != NULL ? l->tag : "");
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
} cmdline;

static const struct option long_options[] = {
    { "config", required_argument, NULL, 'c' },
    { "listen", required_argument, NULL, 'L' },
    { "translation-socket", required_argument, NULL, 't' },
    { "check", no_argument, NULL, 'k' },
    { "workers", required_argument, NULL, 'w' },
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
    if (cmdline.workers > 0)
        cfg->settings.workers = cmdline.workers;
    return rc;
}

/* A reload keeps the bound sockets: the listeners must stay the same. */
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
    return true;
}

/* ---- the master: forks the workers and keeps them running ---- */

#define MAX_WORKERS 256

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
    pid_t pid;
    struct timespec started;
    bool retiring;          /* of an older configuration: not restarted */
};

static int run_worker(struct daemon *d);

static pid_t
spawn_worker(struct daemon *d, const sigset_t *child_mask)
{
    fflush(stderr);
    pid_t pid = fork();
    if (pid != 0)
        return pid;     /* the master, or -1 */
    /* A worker: default signal dispositions (libuv installs its own),
     * and it dies with the master, so none is ever left behind. */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    sigprocmask(SIG_SETMASK, child_mask, NULL);
    if (getppid() == 1)
        _exit(0);       /* the master is already gone */
    if (drop_privileges(&run_as) != 0)
        _exit(1);
    d->access_log_path = d->cfg.settings.access_log;   /* after a reload */
    d->loop = uv_default_loop();
    int status = run_worker(d);
    _exit(status);
}

static double
seconds_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t->tv_sec) +
           (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/*
 * Start `n` workers, restart one that dies (after a pause when it died
 * within 2 s of its start, so a crash loop does not spin), forward SIGHUP,
 * and on SIGTERM/SIGINT stop them and wait.  Returns the exit status.
 */
static int
run_master(struct daemon *d, unsigned n)
{
    struct worker workers[2 * MAX_WORKERS];
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

    for (unsigned i = 0; i < n; i++) {
        workers[i].pid = spawn_worker(d, &old);
        clock_gettime(CLOCK_MONOTONIC, &workers[i].started);
        if (workers[i].pid < 0)
            fprintf(stderr, "portierd: fork: %s\n", strerror(errno));
        else
            fprintf(stderr, "portierd: worker %d started\n",
                    (int)workers[i].pid);
    }
    bool stopping = false;
    unsigned alive = n;
    while (alive > 0) {
        sigsuspend(&old);
        if (master_hup && !stopping) {
            master_hup = 0;
            /* Reload: new workers with the new configuration; the old
             * ones stop accepting and exit once their requests are done.
             * The listening sockets stay, so nothing is refused. */
            struct dp_config fresh;
            struct dp_config_error err;
            memset(&err, 0, sizeof(err));
            dp_config_init(&fresh);
            int rc = load_config(&fresh, &err);
            struct dp_spawn_policy policy;
            char perr[600] = "";
            if (rc == 0 && dp_spawn_policy_resolve(&fresh.spawn, &policy,
                                                   perr, sizeof(perr)) != 0)
                rc = -1;
            if (rc != 0 || !same_listeners(&d->cfg, &fresh)) {
                fprintf(stderr, "portierd: SIGHUP: reload refused, the "
                        "running configuration stays: %s\n",
                        perr[0] != '\0' ? perr
                        : rc != 0 ? err.text
                                  : "the listeners changed (restart "
                                    "portierd to change them)");
                if (rc == 0)
                    dp_spawn_policy_free(&policy);
                dp_config_free(&fresh);
            } else {
                dp_spawn_policy_free(&spawn_policy);
                spawn_policy = policy;
                for (unsigned i = 0; i < slots; i++)
                    if (workers[i].pid > 0 && !workers[i].retiring) {
                        workers[i].retiring = true;
                        kill(workers[i].pid, SIGTERM);
                    }
                dp_config_free(&d->cfg);
                d->cfg = fresh;
                unsigned want = (unsigned)d->cfg.settings.workers;
                if (want > MAX_WORKERS)
                    want = MAX_WORKERS;
                unsigned started = 0;
                for (unsigned i = 0; i < slots && started < want; i++) {
                    if (workers[i].pid != 0)
                        continue;
                    workers[i].retiring = false;
                    workers[i].pid = spawn_worker(d, &old);
                    clock_gettime(CLOCK_MONOTONIC, &workers[i].started);
                    if (workers[i].pid > 0) {
                        alive++;
                        started++;
                    }
                }
                fprintf(stderr, "portierd: SIGHUP: configuration reloaded, "
                        "%u new worker(s)\n", started);
            }
        }
        if (master_term && !stopping) {
            stopping = true;
            fprintf(stderr, "portierd: stopping %u worker(s)\n", alive);
            for (unsigned i = 0; i < slots; i++)
                if (workers[i].pid > 0)
                    kill(workers[i].pid, SIGTERM);
        }
        int wstatus;
        pid_t pid;
        while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
            unsigned i = 0;
            while (i < slots && workers[i].pid != pid)
                i++;
            if (i == slots)
                continue;
            if (workers[i].retiring) {
                workers[i].pid = 0;
                workers[i].retiring = false;
                alive--;
                continue;   /* an old worker done with its requests */
            }
            if (WIFSIGNALED(wstatus))
                fprintf(stderr, "portierd: worker %d killed by signal %d%s\n",
                        (int)pid, WTERMSIG(wstatus),
                        stopping ? "" : "; starting a new one");
            else if (!stopping || WEXITSTATUS(wstatus) != 0)
                fprintf(stderr, "portierd: worker %d exited with status "
                        "%d%s\n", (int)pid, WEXITSTATUS(wstatus),
                        stopping ? "" : "; starting a new one");
            workers[i].pid = 0;
            alive--;
            if (stopping)
                continue;
            if (seconds_since(&workers[i].started) < 2.0) {
                /* It died young: do not spin. */
                struct timespec pause = { 1, 0 };
                nanosleep(&pause, NULL);
            }
            workers[i].pid = spawn_worker(d, &old);
            clock_gettime(CLOCK_MONOTONIC, &workers[i].started);
            if (workers[i].pid > 0) {
                alive++;
                fprintf(stderr, "portierd: worker %d started\n",
                        (int)workers[i].pid);
            }
        }
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    fprintf(stderr, "portierd: stopped\n");
    return 0;
}

/* Hand the bound control sockets to a control server that reaches every
 * chain's stocks and caches and the HTTP server. */
static int
control_start(struct daemon *d)
{
    const struct dp_config *cfg = &d->cfg;
    if (cfg->n_controls == 0)
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
    };
    d->control = dp_control_new(d->loop, &t);
    free(stocks);
    free(caches);
    if (d->control == NULL) {
        fprintf(stderr, "portierd: out of memory\n");
        return -1;
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

static int
run_worker(struct daemon *d)
{
    const struct dp_config *cfg = &d->cfg;
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
    if (d->fcgi == NULL)
        return 1;
    if (chain_build(d, &d->chains[0], cfg->translation_sockets,
                    cfg->n_translation_sockets) != 0)
        return 1;

    const struct dp_config_settings *s = &cfg->settings;
    struct dp_http_settings hs = {
        .server_string = s->server_string,
        .max_connections = (unsigned)s->max_connections,
        .head_timeout_ms = s->request_header_timeout,
        .body_timeout_ms = s->request_body_timeout,
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
        int rc = dp_http_server_add_listener(d->http, fd, l->tag, handler);
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

    uv_signal_init(d->loop, &d->sigterm);
    uv_signal_init(d->loop, &d->sigint);
    uv_signal_init(d->loop, &d->sighup);
    d->sigterm.data = d->sigint.data = d->sighup.data = d;
    uv_signal_start(&d->sigterm, on_signal, SIGTERM);
    uv_signal_start(&d->sigint, on_signal, SIGINT);
    uv_signal_start(&d->sighup, on_signal, SIGHUP);

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
    dp_config_init(&d.cfg);
    const char *config_path = NULL;
    bool check = false;
    unsigned workers_arg = 0;
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
            if (*optarg == '\0' || *end != '\0' || v < 1 || v > 256) {
                fprintf(stderr, "portierd: --workers: \"%s\" is not a "
                        "number from 1 to 256\n", optarg);
                return 2;
            }
            workers_arg = (unsigned)v;
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
    cmdline.argc = argc;
    cmdline.argv = argv;
    cmdline.config_path = config_path;
    cmdline.workers = workers_arg;
    int rc = load_config(&d.cfg, &err);
    if (rc != 0) {
        fprintf(stderr, "portierd: %s\n", err.text);
        dp_config_free(&d.cfg);
        return 1;
    }
    if (d.cfg.n_controls > 0 && d.cfg.settings.workers > 1) {
        /* Each datagram would reach one worker only, so an invalidation
         * would miss the other workers' caches. */
        fprintf(stderr,
                "portierd: %s:%u: control blocks need a single process "
                "(workers 1) until the master forwards commands to every "
                "worker\n",
                d.cfg.controls[0].file, d.cfg.controls[0].line);
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
    if (check) {
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
        bind_listeners(&d) == 0) {
        /* Every listener accepts connections from here on (they wait in
         * the backlog until a loop runs). */
        fprintf(stderr, "portierd: ready\n");
        if (workers > 1) {
            status = run_master(&d, workers);
            close_listeners(&d);
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
    }
    close_listeners(&d);
    if (d.loop == NULL)
        d.loop = uv_default_loop();
    if (d.http != NULL)
        dp_http_server_free(d.http);
    chains_free(&d);
    if (d.access_log_fd >= 0)
        close(d.access_log_fd);
    dp_config_free(&d.cfg);
    dp_fcache_configure(0, 0);      /* close the cached files */
    dp_spawn_policy_free(&spawn_policy);
    uv_loop_close(d.loop);
    return status;
}
