/*
 * dp_spawn: clone/exec, the spawn policy, reaping, killing and the
 * children's stderr.  See dp_spawn.h.
 */
#include "dp_spawn.h"
#include "dp_config.h"
#include "dp_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the policy ---- */

static int
resolve_ids(const struct dp_config_spawn_id *ids, size_t n, bool users,
            struct dp_spawn_id_range **out, char *err, size_t errlen)
{
    *out = calloc(n > 0 ? n : 1, sizeof(**out));
    if (*out == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        const struct dp_config_spawn_id *id = &ids[i];
        if (id->name == NULL) {
            (*out)[i].first = id->first;
            (*out)[i].last = id->last;
            continue;
        }
        uint32_t v;
        if (users) {
            struct passwd *pw = getpwnam(id->name);
            if (pw == NULL) {
                snprintf(err, errlen, "%s:%u: spawn: unknown user \"%s\"",
                         id->file, id->line, id->name);
                return -1;
            }
            v = pw->pw_uid;
        } else {
            struct group *gr = getgrnam(id->name);
            if (gr == NULL) {
                snprintf(err, errlen, "%s:%u: spawn: unknown group \"%s\"",
                         id->file, id->line, id->name);
                return -1;
            }
            v = gr->gr_gid;
        }
        (*out)[i].first = (*out)[i].last = v;
    }
    return 0;
}

int
dp_spawn_policy_resolve(const struct dp_config_spawn *config,
                        struct dp_spawn_policy *policy, char *err,
                        size_t errlen)
{
    memset(policy, 0, sizeof(*policy));
    if (!config->present)
        return 0;
    struct dp_spawn_id_range *users = NULL, *groups = NULL;
    int rc = resolve_ids(config->allow_users, config->n_allow_users, true,
                         &users, err, errlen);
    policy->users = users;
    policy->n_users = config->n_allow_users;
    if (rc == 0)
        rc = resolve_ids(config->allow_groups, config->n_allow_groups,
                         false, &groups, err, errlen);
    policy->groups = groups;
    policy->n_groups = config->n_allow_groups;
    if (rc == 0 && config->has_default_user) {
        const struct dp_config_spawn_id *d = &config->default_user;
        struct passwd *pw = d->name != NULL ? getpwnam(d->name)
                                            : getpwuid(d->first);
        if (pw == NULL && d->name != NULL) {
            snprintf(err, errlen, "%s:%u: spawn: unknown default_user "
                     "\"%s\"", d->file, d->line, d->name);
            rc = -1;
        } else {
            policy->has_default = true;
            policy->default_uid = pw != NULL ? pw->pw_uid : d->first;
            /* a bare number without a passwd entry: its group of the
             * same number */
            policy->default_gid = pw != NULL ? pw->pw_gid : d->first;
        }
    }
    if (rc != 0)
        dp_spawn_policy_free(policy);
    return rc;
}

void
dp_spawn_policy_free(struct dp_spawn_policy *policy)
{
    free(policy->users);
    free(policy->groups);
    memset(policy, 0, sizeof(*policy));
}

static bool
in_ranges(const struct dp_spawn_id_range *r, size_t n, uint32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (id >= r[i].first && id <= r[i].last)
            return true;
    return false;
}

int
dp_spawn_policy_check(const struct dp_spawn_policy *policy,
                      const struct tp_uid_gid *want, uid_t self_uid,
                      struct dp_spawn_identity *out, char *err,
                      size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (want == NULL || !want->present) {
        if (policy != NULL && policy->has_default) {
            out->change = true;
            out->uid = policy->default_uid;
            out->gid = policy->default_gid;
            return 0;
        }
        if (self_uid == 0) {
            snprintf(err, errlen, "the child would run as root: no UID_GID "
                     "from the translation server and no spawn "
                     "{ default_user }");
            return -1;
        }
        return 0;       /* runs as the worker's user */
    }
    /* uid_t on the wire: ids above 2^31 arrive negative here */
    uint32_t uid = (uint32_t)want->uid, gid = (uint32_t)want->gid;
    if (uid == UINT32_MAX || gid == UINT32_MAX) {
        snprintf(err, errlen, "UID_GID %u:%u: -1 is not an id", uid, gid);
        return -1;
    }
    if (uid == 0 || gid == 0) {
        snprintf(err, errlen, "UID_GID %u:%u: a child never runs as root",
                 uid, gid);
        return -1;
    }
    if (policy == NULL ||
        !in_ranges(policy->users, policy->n_users, uid)) {
        snprintf(err, errlen, "UID_GID %u:%u: user %u is not allowed by "
                 "spawn { allow_user }", uid, gid, uid);
        return -1;
    }
    if (!in_ranges(policy->groups, policy->n_groups, gid)) {
        snprintf(err, errlen, "UID_GID %u:%u: group %u is not allowed by "
                 "spawn { allow_group }", uid, gid, gid);
        return -1;
    }
    for (size_t i = 0; i < want->n_groups && i < TP_MAX_GROUPS; i++) {
        uint32_t g = (uint32_t)want->groups[i];
        if (g == 0 || !in_ranges(policy->groups, policy->n_groups, g)) {
            snprintf(err, errlen, "UID_GID %u:%u: supplementary group %u "
                     "is not allowed by spawn { allow_group }", uid, gid,
                     g);
            return -1;
        }
        out->groups[out->n_groups++] = (gid_t)g;
    }
    out->change = true;
    out->uid = uid;
    out->gid = gid;
    return 0;
}

/* ---- RLIMITS ---- */

/* The letters of libcommon's ResourceLimits (as tp_response checks). */
static int
rlimit_resource(char c)
{
    switch (c) {
    case 't': return RLIMIT_CPU;
    case 'f': return RLIMIT_FSIZE;
    case 'd': return RLIMIT_DATA;
    case 's': return RLIMIT_STACK;
    case 'c': return RLIMIT_CORE;
    case 'm': return RLIMIT_RSS;
    case 'u': return RLIMIT_NPROC;
    case 'n': return RLIMIT_NOFILE;
    case 'l': return RLIMIT_MEMLOCK;
    case 'v': return RLIMIT_AS;
    case 'i': return RLIMIT_SIGPENDING;
    case 'q': return RLIMIT_MSGQUEUE;
    case 'e': return RLIMIT_NICE;
    case 'r': return RLIMIT_RTPRIO;
    default: return -1;
    }
}

#define MAX_RLIMITS 32

struct rlimit_set {
    size_t n;
    int resource[MAX_RLIMITS];
    bool soft[MAX_RLIMITS], hard[MAX_RLIMITS];
    rlim_t value[MAX_RLIMITS];
};

/* Parse RLIMITS text ("[SH]?letter(!|digits[KMGT]?)", blanks ignored;
 * '!' = unlimited).  As in libcommon, both limits are set until an 'S'
 * or 'H' selects one of them for the letters that follow. */
static int
rlimits_parse(const char *s, struct rlimit_set *out, char *err,
              size_t errlen)
{
    memset(out, 0, sizeof(*out));
    bool soft = true, hard = true;
    while (*s != '\0') {
        char c = *s++;
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        if (c == 'S' || c == 'H') {
            soft = c == 'S';
            hard = c == 'H';
            continue;
        }
        int res = rlimit_resource(c);
        if (res < 0 || out->n >= MAX_RLIMITS) {
            snprintf(err, errlen, "RLIMITS: bad resource letter '%c'", c);
            return -1;
        }
        rlim_t v;
        if (*s == '!') {
            v = RLIM_INFINITY;
            s++;
        } else {
            char *end;
            unsigned long long x = strtoull(s, &end, 10);
            if (end == s) {
                snprintf(err, errlen, "RLIMITS: no value after '%c'", c);
                return -1;
            }
            s = end;
            unsigned shift = *s == 'K' ? 10 : *s == 'M' ? 20
                           : *s == 'G' ? 30 : *s == 'T' ? 40 : 0;
            if (shift > 0) {
                s++;
                if (x > (~0ull >> shift))
                    x = ~0ull;
                else
                    x <<= shift;
            }
            v = (rlim_t)x;
        }
        out->resource[out->n] = res;
        out->soft[out->n] = soft;
        out->hard[out->n] = hard;
        out->value[out->n] = v;
        out->n++;
    }
    return 0;
}

/* ---- the spawner ---- */

struct dp_child {
    struct dp_child *next, *prev;     /* the spawner's list */
    char *name;
    pid_t pid;
    bool sigkill_first;               /* SIGKILL_ */
    bool exited, released, pool_bound, killed;
    int refs;                         /* process + owner + pool */
    dp_child_exit_cb exit_cb;
    void *ctx;
    uv_timer_t timer;                 /* grace periods */
    bool timer_open;
    int kill_stage;                   /* 0 none, 1 TERM sent, 2 KILL sent */
    /* a failure between clone and execve (known when dp_spawn()
     * returns) */
    char *start_error;
    /* stderr to the log */
    int err_fd;
    uv_poll_t err_poll;
    bool err_poll_open;
    char line[1024];
    size_t line_len;
};

/* /dev/null, opened once per worker (read and write). */
static int null_fd = -1;

/* The stack the child runs on until execve(): one per worker, reused
 * (CLONE_VFORK: one child at a time is before execve()).  A guard page
 * below it. */
#define CHILD_STACK_SIZE (64 * 1024)
static void *child_stack;
static long page_size;

static struct {
    uv_loop_t *loop;
    pid_t self;                       /* the worker */
    long open_max;
    uv_signal_t sigchld;
    bool started, stopping;
    struct dp_spawn_policy policy;
    struct dp_spawn_id_range *users, *groups;
    struct dp_child *children;
    size_t n_children;
    size_t n_running;                 /* not reaped yet */
} sp;

/* The SIGCHLD watcher holds the loop exactly while a child runs: a
 * worker does not stop before its children are reaped. */
static void
running_changed(int delta)
{
    sp.n_running = (size_t)((ptrdiff_t)sp.n_running + delta);
    if (sp.n_running > 0)
        uv_ref((uv_handle_t *)&sp.sigchld);
    else
        uv_unref((uv_handle_t *)&sp.sigchld);
}

uv_loop_t *
dp_spawn_loop(void)
{
    return sp.started ? sp.loop : NULL;
}

size_t
dp_spawn_count(void)
{
    return sp.n_children;
}

pid_t
dp_child_pid(const struct dp_child *child)
{
    return child->pid;
}

static void
log_line(const struct dp_child *c, const char *text, size_t len)
{
    char buf[1300];
    int n = snprintf(buf, sizeof(buf), "portierd: %s[%d]: %.*s\n", c->name,
                     (int)c->pid, (int)len, text);
    if (n > 0) {
        size_t m = (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1;
        if (write(STDERR_FILENO, buf, m) < 0) {
            /* the log is best effort */
        }
    }
}

static void child_unref(struct dp_child *c);

static void
on_closed(uv_handle_t *h)
{
    child_unref(h->data);
}

static void
err_flush(struct dp_child *c)
{
    if (c->line_len > 0)
        log_line(c, c->line, c->line_len);
    c->line_len = 0;
}

/* Read what the child wrote to stderr; false at EOF or error. */
static bool
err_drain(struct dp_child *c)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(c->err_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno == EAGAIN;
        if (n == 0)
            return false;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                log_line(c, c->line, c->line_len);
                c->line_len = 0;
                continue;
            }
            if (c->line_len == sizeof(c->line)) {
                log_line(c, c->line, c->line_len);
                c->line_len = 0;
            }
            c->line[c->line_len++] = buf[i];
        }
    }
}

static void
err_close(struct dp_child *c)
{
    if (c->err_fd < 0)
        return;
    err_flush(c);
    if (c->err_poll_open) {
        c->err_poll_open = false;
        c->refs++;
        uv_poll_stop(&c->err_poll);
        uv_close((uv_handle_t *)&c->err_poll, on_closed);
    }
    close(c->err_fd);
    c->err_fd = -1;
}

static void
on_err_readable(uv_poll_t *h, int status, int events)
{
    (void)events;
    struct dp_child *c = h->data;
    if (status < 0 || !err_drain(c))
        err_close(c);
}

const char *
dp_child_start_error(struct dp_child *c)
{
    return c->start_error;
}

static void
child_free(struct dp_child *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        sp.children = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    sp.n_children--;
    free(c->start_error);
    free(c->name);
    free(c);
}

static void
child_unref(struct dp_child *c)
{
    if (--c->refs == 0)
        child_free(c);
}

static void
timer_stop(struct dp_child *c)
{
    if (c->timer_open) {
        c->timer_open = false;
        c->refs++;
        uv_timer_stop(&c->timer);
        uv_close((uv_handle_t *)&c->timer, on_closed);
    }
}

static void on_timer(uv_timer_t *t);

static void
timer_start(struct dp_child *c, uint64_t ms)
{
    if (!c->timer_open) {
        uv_timer_init(sp.loop, &c->timer);
        c->timer.data = c;
        c->timer_open = true;
    }
    uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* Signal the child's process group (the child itself when the group is
 * gone already). */
static void
send_kill(struct dp_child *c, int sig)
{
    if (c->exited)
        return;
    c->killed = true;
    if (kill(-c->pid, sig) != 0)
        kill(c->pid, sig);
}

static void
kill_stage(struct dp_child *c, int stage)
{
    if (c->exited)
        return;
    if (stage <= 1 && !c->sigkill_first) {
        c->kill_stage = 1;
        send_kill(c, SIGTERM);
        timer_start(c, DP_SPAWN_KILL_GRACE_MS);
        return;
    }
    c->kill_stage = 2;
    send_kill(c, SIGKILL);
    /* reaped by SIGCHLD; the timer stays off */
}

static void
on_timer(uv_timer_t *t)
{
    struct dp_child *c = t->data;
    kill_stage(c, c->kill_stage + 1);
}

static void
reaped(struct dp_child *c, int status)
{
    c->exited = true;
    running_changed(-1);
    timer_stop(c);
    if (c->err_fd >= 0) {
        err_drain(c);
        err_close(c);
    }
    bool ours = c->killed &&
                WIFSIGNALED(status) && (WTERMSIG(status) == SIGTERM ||
                                        WTERMSIG(status) == SIGKILL);
    char msg[120];
    if (c->start_error != NULL) {
        /* logged by dp_spawn() */
    } else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        int n = snprintf(msg, sizeof(msg), "exited with status %d",
                         WEXITSTATUS(status));
        log_line(c, msg, (size_t)n);
    } else if (WIFSIGNALED(status) && !ours) {
        int n = snprintf(msg, sizeof(msg), "killed by signal %d (%s)",
                         WTERMSIG(status), strsignal(WTERMSIG(status)));
        log_line(c, msg, (size_t)n);
    }
    if (!c->released && c->exit_cb != NULL) {
        dp_child_exit_cb cb = c->exit_cb;
        c->exit_cb = NULL;
        c->refs++;
        cb(c->ctx, status);
        c->refs--;      /* the guard; the process's reference still holds c */
    }
    child_unref(c);     /* the process's reference */
}

/* Reap every child of ours that ended.  The scan starts over after
 * each one: its exit callback may free other (exited) children. */
static void
reap_all(void)
{
    bool again = true;
    while (again) {
        again = false;
        for (struct dp_child *c = sp.children; c != NULL; c = c->next) {
            if (c->exited)
                continue;
            int status = 0;
            pid_t r = waitpid(c->pid, &status, WNOHANG);
            if (r == c->pid || (r < 0 && errno == ECHILD)) {
                reaped(c, status);
                again = true;
                break;
            }
        }
    }
}

static void
on_sigchld(uv_signal_t *h, int signum)
{
    (void)h;
    (void)signum;
    reap_all();
}

int
dp_spawn_init(uv_loop_t *loop, const struct dp_spawn_policy *policy)
{
    memset(&sp, 0, sizeof(sp));
    sp.loop = loop;
    sp.self = getpid();
    sp.open_max = sysconf(_SC_OPEN_MAX);
    if (sp.open_max <= 0 || sp.open_max > 65536)
        sp.open_max = 65536;
    if (policy != NULL) {
        sp.policy = *policy;
        size_t nu = policy->n_users, ng = policy->n_groups;
        sp.users = calloc(nu + 1, sizeof(*sp.users));
        sp.groups = calloc(ng + 1, sizeof(*sp.groups));
        if (sp.users == NULL || sp.groups == NULL) {
            free(sp.users);
            free(sp.groups);
            return -ENOMEM;
        }
        if (nu > 0)
            memcpy(sp.users, policy->users, nu * sizeof(*sp.users));
        if (ng > 0)
            memcpy(sp.groups, policy->groups, ng * sizeof(*sp.groups));
        sp.policy.users = sp.users;
        sp.policy.groups = sp.groups;
    }
    int rc = uv_signal_init(loop, &sp.sigchld);
    if (rc != 0)
        return rc;
    rc = uv_signal_start(&sp.sigchld, on_sigchld, SIGCHLD);
    if (rc != 0)
        return rc;
    uv_unref((uv_handle_t *)&sp.sigchld);   /* see running_changed() */
    sp.started = true;
    return 0;
}

void
dp_spawn_shutdown(void)
{
    sp.stopping = true;
    for (struct dp_child *c = sp.children; c != NULL; c = c->next)
        if (!c->exited && c->kill_stage == 0)
            kill_stage(c, 1);
}

void
dp_spawn_fini(void)
{
    if (!sp.started)
        return;
    for (struct dp_child *c = sp.children; c != NULL; c = c->next)
        if (!c->exited) {
            send_kill(c, SIGKILL);
            int status;
            while (waitpid(c->pid, &status, 0) < 0 && errno == EINTR) {
            }
            c->exited = true;
            running_changed(-1);
        }
    uv_close((uv_handle_t *)&sp.sigchld, NULL);
    uv_run(sp.loop, UV_RUN_NOWAIT);
    if (null_fd >= 0) {
        close(null_fd);
        null_fd = -1;
    }
    if (child_stack != NULL) {
        munmap(child_stack, CHILD_STACK_SIZE + (size_t)page_size);
        child_stack = NULL;
    }
    free(sp.users);
    free(sp.groups);
    sp.started = false;
}

void
dp_child_release(struct dp_child *c, bool now)
{
    if (c->released)
        return;
    c->released = true;
    c->exit_cb = NULL;
    if (!c->exited) {
        if (now || sp.stopping)
            kill_stage(c, 1);
        else
            timer_start(c, DP_SPAWN_EXIT_GRACE_MS);
    }
    child_unref(c);
}

static void
pool_release(void *arg)
{
    struct dp_child *c = arg;
    if (c->released) {
        child_unref(c);     /* the pool's reference, the last but one */
        return;
    }
    c->refs--;              /* the pool's; the owner's still holds c */
    dp_child_release(c, true);
}

int
dp_child_bind_pool(struct dp_child *c, struct dp_pool *pool)
{
    c->refs++;
    if (dp_pool_cleanup(pool, pool_release, c) != 0) {
        c->refs--;
        dp_child_release(c, true);
        return -ENOMEM;
    }
    return 0;
}

/* ---- clone and exec ---- */

/* What the child reports in the plan when a step fails. */
enum {
    STEP_DUP = 1, STEP_RLIMIT, STEP_GROUPS, STEP_SETGID, STEP_SETUID,
    STEP_CHDIR, STEP_STDERR, STEP_PRCTL, STEP_EXEC,
};

static const char *
step_name(int step)
{
    switch (step) {
    case STEP_DUP: return "setting up the descriptors";
    case STEP_RLIMIT: return "setrlimit (RLIMITS)";
    case STEP_GROUPS: return "setgroups";
    case STEP_SETGID: return "setgid";
    case STEP_SETUID: return "setuid";
    case STEP_CHDIR: return "chdir (CHDIR)";
    case STEP_STDERR: return "opening STDERR_PATH";
    case STEP_PRCTL: return "prctl";
    case STEP_EXEC: return "execve";
    default: return "starting";
    }
}

/* Everything the child does between clone() and execve(), decided by
 * the worker beforehand.  The child writes only fail_step and
 * fail_errno (the worker reads them once clone() returned).  Valgrind
 * turns such a clone into a fork(): under it a failure before execve()
 * shows only as the exit status 127. */
struct exec_plan {
    const char *path;
    char *const *argv;
    char *const *envp;
    struct dp_spawn_identity id;
    bool root;                        /* the worker's euid is 0 */
    size_t n_rl;
    int rl_resource[MAX_RLIMITS];
    struct rlimit rl[MAX_RLIMITS];    /* the final soft and hard limits */
    int umask;
    const char *chdir;
    const char *stderr_path;
    bool no_new_privs;
    int fds[3 + DP_SPAWN_MAX_EXTRA_FDS];   /* what goes to 0, 1, 2, 3... */
    size_t n_fds;
    bool fds_high;                    /* every fds[i] >= n_fds */
    long open_max;                    /* for the close() fallback */
    pid_t parent;
    int fail_step, fail_errno;        /* written by the child */
};

/* The child (CLONE_VM | CLONE_VFORK) shares the worker's memory while
 * the worker's thread waits, so until execve() it makes raw system
 * calls only: no glibc wrapper that keeps process-wide state (in a
 * process with threads, setuid() and friends take a lock and signal
 * every thread glibc knows of: the worker's, whose lock a pool thread
 * may hold at that moment), no malloc, no sanitizer interceptor or
 * instrumentation (this code runs on a stack they do not know).  errno,
 * which syscall() sets, is the waiting thread's: harmless. */
#define CHILD_CODE __attribute__((no_sanitize_address, noinline))

static long CHILD_CODE
sys(long nr, long a, long b, long c, long d)
{
    return syscall(nr, a, b, c, d);
}

static void __attribute__((noreturn)) CHILD_CODE
child_fail(struct exec_plan *p, int step)
{
    p->fail_step = step;
    p->fail_errno = errno;
    for (;;)
        sys(SYS_exit_group, 127, 0, 0, 0);
}

/* Place fds[i] at target i (0, 1, 2, 3 ...).  The usual case (all of
 * them above the targets) needs one dup3() each; otherwise they are
 * first moved above the targets.  dup3() leaves close-on-exec off. */
static int CHILD_CODE
place_fds(const struct exec_plan *p)
{
    const int *fds = p->fds;
    size_t n = p->n_fds;
    int moved[3 + DP_SPAWN_MAX_EXTRA_FDS];
    if (!p->fds_high) {
        for (size_t i = 0; i < n; i++) {
            long nfd = sys(SYS_fcntl, fds[i], F_DUPFD_CLOEXEC, (long)n, 0);
            if (nfd < 0)
                return -1;
            moved[i] = (int)nfd;
        }
        fds = moved;
    }
    for (size_t i = 0; i < n; i++)
        if (sys(SYS_dup3, fds[i], (long)i, 0, 0) < 0)
            return -1;
    return 0;
}

static int __attribute__((noreturn)) CHILD_CODE
child_main(void *arg)
{
    struct exec_plan *p = arg;
    /* execve() resets caught signals; ignored ones stay ignored, so
     * those a server commonly ignores or catches (libuv's watchers) go
     * back to their defaults before the mask (all blocked by the
     * parent around clone) is cleared.  An all-zero kernel sigaction is
     * SIG_DFL with no flags and an empty mask on every architecture. */
    static const int reset[] = {
        SIGPIPE, SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGCHLD, SIGUSR1,
        SIGUSR2, SIGALRM, SIGXFSZ, SIGTTIN, SIGTTOU, SIGTSTP,
    };
    unsigned long dfl[4] = { 0, 0, 0, 0 };
    for (size_t i = 0; i < sizeof(reset) / sizeof(reset[0]); i++)
        sys(SYS_rt_sigaction, reset[i], (long)dfl, 0, 8);
    unsigned long none = 0;
    sys(SYS_rt_sigprocmask, SIG_SETMASK, (long)&none, 0, 8);
    sys(SYS_setpgid, 0, 0, 0, 0);

    if (place_fds(p) != 0)
        child_fail(p, STEP_DUP);
    /* Everything else goes: descriptors of the worker are none of the
     * child's business (they are close-on-exec anyway). */
    if (sys(SYS_close_range, (long)p->n_fds, ~0u, 0, 0) != 0)
        for (long fd = (long)p->n_fds; fd < p->open_max; fd++)
            sys(SYS_close, fd, 0, 0, 0);

    for (size_t i = 0; i < p->n_rl; i++)
        if (sys(SYS_prlimit64, 0, p->rl_resource[i], (long)&p->rl[i],
                0) != 0)
            child_fail(p, STEP_RLIMIT);
    if (p->umask >= 0)
        sys(SYS_umask, p->umask, 0, 0, 0);
    if (p->id.change) {
        if (sys(SYS_setgroups, (long)p->id.n_groups, (long)p->id.groups,
                0, 0) != 0 && p->root)
            child_fail(p, STEP_GROUPS);
        if (sys(SYS_setresgid, p->id.gid, p->id.gid, p->id.gid, 0) != 0)
            child_fail(p, STEP_SETGID);
        if (sys(SYS_setresuid, p->id.uid, p->id.uid, p->id.uid, 0) != 0)
            child_fail(p, STEP_SETUID);
    }
    /* After the user switch (which clears it): die with the worker. */
    if (sys(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0) != 0)
        child_fail(p, STEP_PRCTL);
    if (sys(SYS_getppid, 0, 0, 0, 0) != p->parent)
        for (;;)
            sys(SYS_exit_group, 127, 0, 0, 0);
    if (p->no_new_privs &&
        sys(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0) != 0)
        child_fail(p, STEP_PRCTL);
    if (p->stderr_path != NULL) {
        /* O_NONBLOCK: a FIFO without a reader fails instead of
         * blocking the worker that waits for execve() */
        long fd = sys(SYS_openat, AT_FDCWD, (long)p->stderr_path,
                      O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY |
                      O_NONBLOCK, 0600);
        if (fd >= 0)
            sys(SYS_fcntl, fd, F_SETFL, O_APPEND, 0);
        if (fd < 0 || (fd != 2 && sys(SYS_dup3, fd, 2, 0, 0) < 0))
            child_fail(p, STEP_STDERR);
        if (fd != 2)
            sys(SYS_close, fd, 0, 0, 0);
    }
    if (p->chdir != NULL && sys(SYS_chdir, (long)p->chdir, 0, 0, 0) != 0)
        child_fail(p, STEP_CHDIR);
    sys(SYS_execve, (long)p->path, (long)p->argv, (long)p->envp, 0);
    child_fail(p, STEP_EXEC);
}

static int
dev_null(void)
{
    if (null_fd < 0)
        null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    return null_fd;
}

/* The child's stack, mapped on first use; its top. */
static void *
stack_top(void)
{
    if (child_stack == NULL) {
        page_size = sysconf(_SC_PAGESIZE);
        size_t size = CHILD_STACK_SIZE + (size_t)page_size;
        void *m = mmap(NULL, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (m == MAP_FAILED)
            return NULL;
        mprotect(m, (size_t)page_size, PROT_NONE);   /* the guard */
        child_stack = m;
    }
    return (char *)child_stack + (size_t)page_size + CHILD_STACK_SIZE;
}

/* RLIMITS text into the final limits (from the worker's, which the
 * child inherits). */
static int
plan_rlimits(struct exec_plan *p, const char *text, char *err,
             size_t errlen)
{
    struct rlimit_set rl;
    if (rlimits_parse(text, &rl, err, errlen) != 0)
        return -1;
    for (size_t i = 0; i < rl.n; i++) {
        struct rlimit r;
        if (getrlimit(rl.resource[i], &r) != 0) {
            snprintf(err, errlen, "RLIMITS: getrlimit: %s",
                     strerror(errno));
            return -1;
        }
        if (rl.soft[i])
            r.rlim_cur = rl.value[i];
        if (rl.hard[i])
            r.rlim_max = rl.value[i];
        if (r.rlim_cur > r.rlim_max)
            r.rlim_cur = r.rlim_max;
        p->rl_resource[i] = rl.resource[i];
        p->rl[i] = r;
    }
    p->n_rl = rl.n;
    return 0;
}

struct dp_child *
dp_spawn(const struct dp_spawn_options *o, dp_child_exit_cb exit_cb,
         void *ctx, char *err, size_t errlen)
{
    if (!sp.started) {
        snprintf(err, errlen, "the spawner is not running");
        return NULL;
    }
    if (sp.stopping) {
        snprintf(err, errlen, "portierd is shutting down");
        return NULL;
    }
    if (o->n_extra_fds > DP_SPAWN_MAX_EXTRA_FDS) {
        snprintf(err, errlen, "too many descriptors for a child");
        return NULL;
    }
    struct exec_plan p;
    memset(&p, 0, sizeof(p));
    p.path = o->path;
    p.argv = o->argv;
    p.envp = o->envp;
    p.umask = -1;
    p.parent = sp.self;
    p.open_max = sp.open_max;
    uid_t euid = geteuid();
    p.root = euid == 0;
    const struct tp_child_options *co = o->child;
    const struct tp_uid_gid *want = co != NULL ? &co->uid_gid : NULL;
    if (dp_spawn_policy_check(&sp.policy, want, euid, &p.id, err,
                              errlen) != 0)
        return NULL;
    if (co != NULL) {
        if (co->rlimits != NULL &&
            plan_rlimits(&p, co->rlimits, err, errlen) != 0)
            return NULL;
        if (co->umask != TP_UMASK_UNSET)
            p.umask = co->umask;
        p.chdir = co->chdir;
        p.no_new_privs = co->no_new_privs;
        if (!co->stderr_null)
            p.stderr_path = co->stderr_path;
    }

    /* The common mistakes, with the short sentence (execve() would
     * fail later with the same cause). */
    struct stat st;
    const char *why = NULL;
    if (stat(o->path, &st) != 0)
        why = strerror(errno);
    else if (!S_ISREG(st.st_mode) || (st.st_mode & 0111) == 0)
        why = "not an executable file";
    if (why != NULL) {
        snprintf(err, errlen, "cannot start %s: %s", o->name, why);
        return NULL;
    }

    int errpipe[2] = { -1, -1 };
    struct dp_child *c = calloc(1, sizeof(*c));
    if (c == NULL || (c->name = strdup(o->name)) == NULL) {
        free(c);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->err_fd = -1;
    c->sigkill_first = co != NULL && co->sigkill;
    p.fds[0] = o->stdin_fd >= 0 ? o->stdin_fd : dev_null();
    p.fds[1] = o->stdout_fd >= 0 ? o->stdout_fd : dev_null();
    bool log_stderr = co == NULL || (!co->stderr_null &&
                                     co->stderr_path == NULL);
    if (log_stderr) {
        if (pipe2(errpipe, O_CLOEXEC | O_NONBLOCK) == 0) {
            /* the child's end blocks */
            fcntl(errpipe[1], F_SETFL, 0);
            p.fds[2] = errpipe[1];
        }
    } else {
        p.fds[2] = dev_null();  /* STDERR_PATH replaces it in the child */
    }
    for (size_t i = 0; i < o->n_extra_fds; i++)
        p.fds[3 + i] = o->extra_fds[i];
    p.n_fds = 3 + o->n_extra_fds;
    p.fds_high = true;
    for (size_t i = 0; i < p.n_fds; i++)
        if (p.fds[i] < (int)p.n_fds)
            p.fds_high = false;

    pid_t pid = -1;
    void *top = stack_top();
    if (p.fds[0] < 0 || p.fds[1] < 0 || p.fds[2] < 0) {
        snprintf(err, errlen, "cannot set up the descriptors of %s: %s",
                 o->name, strerror(errno));
    } else if (top == NULL) {
        snprintf(err, errlen, "no stack for %s: %s", o->name,
                 strerror(errno));
    } else {
        /* Signals stay blocked in the child until its handlers are the
         * defaults: no handler of the worker runs in it.  The worker's
         * thread sleeps until the child called execve() or exited. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pid = clone(child_main, top, CLONE_VM | CLONE_VFORK | SIGCHLD, &p);
        int clone_errno = errno;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (pid < 0)
            snprintf(err, errlen, "clone for %s: %s", o->name,
                     strerror(clone_errno));
    }
    if (errpipe[1] >= 0)
        close(errpipe[1]);
    if (pid <= 0) {
        if (errpipe[0] >= 0)
            close(errpipe[0]);
        free(c->name);
        free(c);
        return NULL;
    }

    c->pid = pid;
    c->refs = 2;                /* the process and the owner */
    c->exit_cb = exit_cb;
    c->ctx = ctx;
    c->next = sp.children;
    if (sp.children != NULL)
        sp.children->prev = c;
    sp.children = c;
    sp.n_children++;
    running_changed(1);
    if (p.fail_step != 0) {
        /* it failed before execve() and exited with 127: reaped from
         * SIGCHLD as usual */
        char text[400];
        snprintf(text, sizeof(text), "cannot start %s: %s: %s", c->name,
                 step_name(p.fail_step), strerror(p.fail_errno));
        c->start_error = strdup(text);
        log_line(c, text, strlen(text));
    }
    if (errpipe[0] >= 0) {
        c->err_fd = errpipe[0];
        if (uv_poll_init(sp.loop, &c->err_poll, c->err_fd) == 0) {
            c->err_poll.data = c;
            c->err_poll_open = true;
            /* stderr alone does not keep the loop running */
            uv_unref((uv_handle_t *)&c->err_poll);
            uv_poll_start(&c->err_poll, UV_READABLE, on_err_readable);
        }
    }
    return c;
}

/* ---- argv and environment ---- */

int
dp_spawn_argv(struct dp_pool *pool, const struct tp_address *a,
              const char **path, char ***argv)
{
    const char *program = a->action != NULL ? a->action : a->path;
    const char *first = a->interpreter != NULL ? a->interpreter
                        : a->process_name != NULL ? a->process_name
                                                  : program;
    char **v = dp_pool_alloc(pool, (a->args.n + 3) * sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    size_t k = 0;
    *path = a->interpreter != NULL ? a->interpreter : program;
    v[k++] = dp_pool_strdup(pool, first);
    for (size_t i = 0; i < a->args.n; i++)
        v[k++] = dp_pool_strdup(pool, a->args.v[i].value);
    if (a->interpreter != NULL)
        v[k++] = dp_pool_strdup(pool, program);
    v[k] = NULL;
    for (size_t i = 0; i < k; i++)
        if (v[i] == NULL)
            return -ENOMEM;
    *argv = v;
    return 0;
}

void
dp_spawn_env_init(struct dp_spawn_env *env, struct dp_pool *pool)
{
    memset(env, 0, sizeof(*env));
    env->pool = pool;
}

static void
env_add(struct dp_spawn_env *env, char *entry, size_t name_len)
{
    for (size_t i = 0; i < env->n; i++)
        if (strncmp(env->v[i], entry, name_len + 1) == 0) {
            env->v[i] = entry;
            return;
        }
    if (env->n + 1 >= env->cap) {
        size_t ncap = env->cap != 0 ? env->cap * 2 : 32;
        char **nv = dp_pool_alloc(env->pool, ncap * sizeof(*nv));
        if (nv == NULL) {
            env->failed = true;
            return;
        }
        if (env->n > 0)
            memcpy(nv, env->v, env->n * sizeof(*nv));
        env->v = nv;
        env->cap = ncap;
    }
    env->v[env->n++] = entry;
}

void
dp_spawn_env_set(struct dp_spawn_env *env, const char *name,
                 const char *value)
{
    if (value == NULL)
        return;
    size_t nl = strlen(name), vl = strlen(value);
    char *e = dp_pool_alloc(env->pool, nl + vl + 2);
    if (e == NULL) {
        env->failed = true;
        return;
    }
    memcpy(e, name, nl);
    e[nl] = '=';
    memcpy(e + nl + 1, value, vl + 1);
    env_add(env, e, nl);
}

void
dp_spawn_env_put(struct dp_spawn_env *env, const char *pair)
{
    const char *eq = strchr(pair, '=');
    if (eq == NULL || eq == pair)
        return;
    char *e = dp_pool_strdup(env->pool, pair);
    if (e == NULL) {
        env->failed = true;
        return;
    }
    env_add(env, e, (size_t)(eq - pair));
}

char **
dp_spawn_env_finish(struct dp_spawn_env *env)
{
    if (env->failed)
        return NULL;
    if (env->v == NULL) {
        env->v = dp_pool_alloc(env->pool, sizeof(*env->v));
        if (env->v == NULL)
            return NULL;
    }
    env->v[env->n] = NULL;
    return env->v;
}
