/*
 * dp_spawn: the child-process spawner of a worker.  Every kind of child
 * (CGI, PIPE filters, FastCGI, ...) is started, watched and ended here
 * (spec/protocols.md §1.8, §6; docs/operations.md "Child processes").
 *
 * Promises:
 * - One spawner per worker process, on that worker's libuv loop:
 *   dp_spawn_init() before the first child, dp_spawn_shutdown() when the
 *   worker stops, dp_spawn_fini() after its loop ended.
 * - clone(CLONE_VM | CLONE_VFORK)/execve() of our own, reaped with a
 *   uv_signal_t on SIGCHLD and waitpid(pid, WNOHANG) for our children
 *   only (so it coexists with uv_spawn() users).  Why not uv_spawn() or
 *   posix_spawn(): they cannot set resource limits, supplementary
 *   groups, the user, NO_NEW_PRIVS or the parent death signal between
 *   clone and exec.  Why not fork(): it copies the worker's page tables
 *   and every page the worker writes afterwards while the child lives
 *   is a copy-on-write fault (docs/performance.md "CGI spawn, session
 *   5").  The child shares the worker's memory on a stack of its own
 *   until execve(), while the spawning thread waits; everything it needs
 *   (argv, environment, paths, final limits) is prepared before, and it
 *   makes raw system calls only.  A missing or non-executable program is
 *   refused at once (stat); a later failure between clone and exec
 *   (chdir, setuid, RLIMITS, STDERR_PATH, execve) is known when
 *   dp_spawn() returns: it is logged with the step ("cannot start cgi
 *   /x: chdir (CHDIR): No such file or directory"),
 *   dp_child_start_error() returns it, and the child exits with 127.
 * - The child: its own process group (pgid = pid) that every kill
 *   signal goes to; a clean environment (exactly envp); stdin, stdout and
 *   extra descriptors as the caller asks (dup2'ed to 0, 1, 3, 4, ...;
 *   /dev/null when -1); every other descriptor closed; signals at their
 *   defaults and unblocked; SIGKILL when the worker dies
 *   (PR_SET_PDEATHSIG); the child options of §1.8 that Portier supports:
 *   UID_GID, UMASK, RLIMITS, NO_NEW_PRIVS, CHDIR, STDERR_PATH,
 *   STDERR_NULL, SIGKILL_.
 * - User and group: only what the `spawn { }` policy allows
 *   (dp_spawn_policy_check(), pure): UID_GID must name an allowed user and
 *   allowed groups; without UID_GID the child runs as `default_user`, and
 *   a worker running as root refuses to start a child as root.  A refusal
 *   is a clear sentence; nothing is started.
 * - stderr goes to the worker's error log (its stderr), one line per line
 *   the child wrote, prefixed "portierd: NAME[pid]: ", unless STDERR_PATH
 *   (opened by the child after the user switch, appending) or STDERR_NULL
 *   say otherwise.  An abnormal end (non-zero status, a signal we did not
 *   send) is logged once with the name.
 * - Ownership: the owner holds a struct dp_child until it calls
 *   dp_child_release() (or the pool given to dp_child_bind_pool() is
 *   released).  Release never leaves a process behind: a child still
 *   running gets SIGTERM (SIGKILL with SIGKILL_) at once or after a grace
 *   period, and SIGKILL DP_SPAWN_KILL_GRACE_MS later; the spawner reaps
 *   it.  The exit callback runs at most once, never after release.
 * - Never blocks the loop for longer than one clone() and the child's
 *   setup up to execve() (opening STDERR_PATH, chdir(), the kernel's
 *   execve() up to the point where the new program replaces the old
 *   memory).
 */
#ifndef PORTIER_DP_SPAWN_H
#define PORTIER_DP_SPAWN_H

#include "tp_response.h"

#include <uv.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct dp_pool;
struct dp_config_spawn;

/** Time between SIGTERM and SIGKILL. */
#define DP_SPAWN_KILL_GRACE_MS 2000
/** Time a released child that is still running may take to exit on its
 *  own (it closed its output, the owner is done) before SIGTERM. */
#define DP_SPAWN_EXIT_GRACE_MS 1000
/** Most descriptors after stderr (fd 3 ...) a child gets. */
#define DP_SPAWN_MAX_EXTRA_FDS 8

/** An inclusive range of user or group ids. */
struct dp_spawn_id_range {
    uint32_t first, last;
};

/** The `spawn { }` block resolved to numbers. */
struct dp_spawn_policy {
    bool has_default;                 /* default_user was given */
    uid_t default_uid;
    gid_t default_gid;                /* its primary group */
    struct dp_spawn_id_range *users;  /* allow_user */
    size_t n_users;
    struct dp_spawn_id_range *groups; /* allow_group */
    size_t n_groups;
};

/**
 * Resolve the names of the `spawn` block (getpwnam/getgrnam) into
 * *policy; the arrays are malloc'ed (dp_spawn_policy_free()).  0, or -1
 * with "FILE:LINE: spawn: unknown user \"x\"" (or out of memory) in err.
 */
int
dp_spawn_policy_resolve(const struct dp_config_spawn *config,
                        struct dp_spawn_policy *policy, char *err,
                        size_t errlen);

void
dp_spawn_policy_free(struct dp_spawn_policy *policy);

/** The identity a child runs as. */
struct dp_spawn_identity {
    bool change;                      /* false: keep the worker's */
    uid_t uid;
    gid_t gid;
    size_t n_groups;                  /* supplementary groups */
    gid_t groups[TP_MAX_GROUPS];
};

/**
 * Pure: decide the identity of a child that asked for `want` (NULL or
 * !present: no UID_GID) under `policy`, for a worker whose effective uid
 * is `self_uid`.  0 and *out; or -1 with a sentence in err ("UID_GID
 * 1234: user 1234 is not allowed by spawn { allow_user }").
 */
int
dp_spawn_policy_check(const struct dp_spawn_policy *policy,
                      const struct tp_uid_gid *want, uid_t self_uid,
                      struct dp_spawn_identity *out, char *err,
                      size_t errlen);

/** Start the spawner on `loop` with a copy of `policy` (may be NULL: no
 *  spawn block).  0 or -errno. */
int
dp_spawn_init(uv_loop_t *loop, const struct dp_spawn_policy *policy);

/** The loop the spawner runs on (NULL before dp_spawn_init()). */
uv_loop_t *
dp_spawn_loop(void);

/** The worker stops: every child gets SIGTERM now (SIGKILL later); the
 *  loop keeps running until all are reaped. */
void
dp_spawn_shutdown(void);

/** After the loop ended: SIGKILL and reap whatever is left (blocking),
 *  close the handles. */
void
dp_spawn_fini(void);

/** Number of children not reaped yet (statistics, tests). */
size_t
dp_spawn_count(void);

/** What to start. */
struct dp_spawn_options {
    const char *name;                 /* for log lines ("cgi /x/y") */
    const char *path;                 /* executable given to execve() */
    char *const *argv;                /* NULL-terminated */
    char *const *envp;                /* NULL-terminated: the environment */
    const struct tp_child_options *child;     /* may be NULL */
    int stdin_fd;                     /* -1: /dev/null */
    int stdout_fd;                    /* -1: /dev/null */
    const int *extra_fds;             /* become fd 3, 4, ... */
    size_t n_extra_fds;
};

struct dp_child;

/** wait_status as waitpid() reports it. */
typedef void (*dp_child_exit_cb)(void *ctx, int wait_status);

/**
 * Start a child.  The caller keeps its descriptors (the child gets
 * copies); close your ends after the call.  On success the child runs
 * and `exit_cb` (may be NULL) will report its end unless the child is
 * released first.  NULL on failure, with a sentence in err; nothing is
 * left running then and exit_cb is never called.
 */
struct dp_child *
dp_spawn(const struct dp_spawn_options *options, dp_child_exit_cb exit_cb,
         void *ctx, char *err, size_t errlen);

pid_t
dp_child_pid(const struct dp_child *child);

/** The sentence of a failure between clone and exec, NULL when there
 *  was none (known when dp_spawn() returned).  Valid while the owner
 *  holds the child. */
const char *
dp_child_start_error(struct dp_child *child);

/**
 * The owner is done with the child: the handle is invalid afterwards.
 * A child still running is ended: `now` sends SIGTERM (or SIGKILL for
 * SIGKILL_) to its process group at once, otherwise after
 * DP_SPAWN_EXIT_GRACE_MS; SIGKILL follows DP_SPAWN_KILL_GRACE_MS later.
 */
void
dp_child_release(struct dp_child *child, bool now);

/**
 * Release the child (now) when `pool` is released, unless the owner
 * released it before.  While the pool lives, the handle stays valid and
 * a second dp_child_release() is a no-op.  0, or -ENOMEM (then the child
 * was released now).
 */
int
dp_child_bind_pool(struct dp_child *child, struct dp_pool *pool);

/* ---- argv and environment (pure; memory from pool) ---- */

/**
 * The executable and argv of a child for `address` (CGI, FASTCGI, WAS,
 * LHTTP, PIPE): spec §6.  Without INTERPRETER: ACTION (or the address's
 * path) is executed, argv[0] = PROCESS_NAME or that path, then the APPEND
 * arguments.  With INTERPRETER: the interpreter is executed with argv =
 * interpreter, APPEND arguments, ACTION (or the path).  0 or -ENOMEM.
 */
int
dp_spawn_argv(struct dp_pool *pool, const struct tp_address *address,
              const char **path, char ***argv);

/** A growing environment ("NAME=VALUE" strings in pool). */
struct dp_spawn_env {
    struct dp_pool *pool;
    char **v;
    size_t n, cap;
    bool failed;                      /* out of memory on the way */
};

void
dp_spawn_env_init(struct dp_spawn_env *env, struct dp_pool *pool);

/** Add NAME=VALUE; a later entry with the same name replaces the
 *  earlier.  value NULL adds nothing. */
void
dp_spawn_env_set(struct dp_spawn_env *env, const char *name,
                 const char *value);

/** Add a "NAME=VALUE" string (SETENV, PAIR); one without '=' is
 *  ignored. */
void
dp_spawn_env_put(struct dp_spawn_env *env, const char *pair);

/** The NULL-terminated array, or NULL when out of memory. */
char **
dp_spawn_env_finish(struct dp_spawn_env *env);

#endif
