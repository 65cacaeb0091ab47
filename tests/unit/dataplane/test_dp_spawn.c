/* Unit tests: dp_spawn (policy, argv, environment, and real children on
 * a libuv loop). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_config.h"
#include "dp_pool.h"
#include "dp_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static struct dp_spawn_id_range users[] = {
    { 1000, 1000 }, { 2000, 2999 }, { 2147483648u, UINT32_MAX - 1 },
};
static struct dp_spawn_id_range groups[] = { { 100, 100 }, { 500, 600 } };

static const struct dp_spawn_policy policy = {
    .users = users, .n_users = 3, .groups = groups, .n_groups = 2,
};

static int
check(const struct dp_spawn_policy *p, bool present, int32_t uid,
      int32_t gid, uid_t self, struct dp_spawn_identity *id, char *err)
{
    struct tp_uid_gid want;
    memset(&want, 0, sizeof(want));
    want.present = present;
    want.uid = uid;
    want.gid = gid;
    return dp_spawn_policy_check(p, &want, self, id, err, 200);
}

static void
test_policy_ranges(void **state)
{
    (void)state;
    struct dp_spawn_identity id;
    char err[200];
    assert_int_equal(check(&policy, true, 1000, 100, 0, &id, err), 0);
    assert_true(id.change);
    assert_int_equal(id.uid, 1000);
    assert_int_equal(id.gid, 100);
    assert_int_equal(check(&policy, true, 2000, 500, 0, &id, err), 0);
    assert_int_equal(check(&policy, true, 2999, 600, 0, &id, err), 0);
    assert_int_equal(check(&policy, true, 2147483648u, 550, 0, &id, err),
                     0);
    assert_int_equal(check(&policy, true, 1001, 100, 0, &id, err), -1);
    assert_string_equal(err, "UID_GID 1001:100: user 1001 is not allowed "
                        "by spawn { allow_user }");
    assert_int_equal(check(&policy, true, 3000, 100, 0, &id, err), -1);
    assert_int_equal(check(&policy, true, 1999, 100, 0, &id, err), -1);
    assert_int_equal(check(&policy, true, 2147483647, 100, 0, &id, err),
                     -1);
    assert_int_equal(check(&policy, true, 1000, 101, 0, &id, err), -1);
    assert_string_equal(err, "UID_GID 1000:101: group 101 is not allowed "
                        "by spawn { allow_group }");
    assert_int_equal(check(&policy, true, 0, 100, 0, &id, err), -1);
    assert_string_equal(err, "UID_GID 0:100: a child never runs as root");

    /* supplementary groups must be allowed too */
    struct tp_uid_gid want;
    memset(&want, 0, sizeof(want));
    want.present = true;
    want.uid = 1000;
    want.gid = 100;
    want.n_groups = 2;
    want.groups[0] = 550;
    want.groups[1] = 700;
    assert_int_equal(dp_spawn_policy_check(&policy, &want, 0, &id, err,
                                           sizeof(err)), -1);
    assert_string_equal(err, "UID_GID 1000:100: supplementary group 700 is "
                        "not allowed by spawn { allow_group }");
    want.groups[1] = 100;
    assert_int_equal(dp_spawn_policy_check(&policy, &want, 0, &id, err,
                                           sizeof(err)), 0);
    assert_int_equal(id.n_groups, 2);
    assert_int_equal(id.groups[0], 550);

    /* no policy at all: UID_GID refused */
    assert_int_equal(check(NULL, true, 1000, 100, 1000, &id, err), -1);
}

static void
test_policy_default(void **state)
{
    (void)state;
    struct dp_spawn_identity id;
    char err[200];
    /* no UID_GID, not root, no default: the worker's own user */
    assert_int_equal(check(&policy, false, 0, 0, 1000, &id, err), 0);
    assert_false(id.change);
    /* as root without default_user: refused */
    assert_int_equal(check(&policy, false, 0, 0, 0, &id, err), -1);
    assert_string_equal(err, "the child would run as root: no UID_GID from "
                        "the translation server and no spawn "
                        "{ default_user }");
    struct dp_spawn_policy p = policy;
    p.has_default = true;
    p.default_uid = 33;
    p.default_gid = 34;
    assert_int_equal(check(&p, false, 0, 0, 0, &id, err), 0);
    assert_true(id.change);
    assert_int_equal(id.uid, 33);
    assert_int_equal(id.gid, 34);
}

static void
test_policy_resolve(void **state)
{
    (void)state;
    struct dp_config cfg;
    struct dp_config_error cerr;
    dp_config_init(&cfg);
    const char *text = "spawn {\n  default_user \"root\"\n"
                       "  allow_user \"root\"\n  allow_user \"5-\"\n"
                       "  allow_group 7\n}\n";
    assert_int_equal(dp_config_parse_buffer("p.conf", (const uint8_t *)text,
                                            strlen(text), &cfg, &cerr), 0);
    struct dp_spawn_policy p;
    char err[300];
    assert_int_equal(dp_spawn_policy_resolve(&cfg.spawn, &p, err,
                                             sizeof(err)), 0);
    assert_true(p.has_default);
    assert_int_equal(p.default_uid, 0);
    assert_int_equal(p.n_users, 2);
    assert_int_equal(p.users[0].first, 0);
    assert_int_equal(p.users[1].first, 5);
    assert_int_equal(p.users[1].last, UINT32_MAX - 1);
    assert_int_equal(p.groups[0].first, 7);
    dp_spawn_policy_free(&p);
    dp_config_free(&cfg);

    dp_config_init(&cfg);
    text = "spawn {\n  allow_user 5\n  allow_user \"no-such-user-x\"\n}\n";
    assert_int_equal(dp_config_parse_buffer("p.conf", (const uint8_t *)text,
                                            strlen(text), &cfg, &cerr), 0);
    assert_int_equal(dp_spawn_policy_resolve(&cfg.spawn, &p, err,
                                             sizeof(err)), -1);
    assert_string_equal(err, "p.conf:3: spawn: unknown user "
                        "\"no-such-user-x\"");
    dp_config_free(&cfg);
}

static void
test_argv(void **state)
{
    (void)state;
    struct dp_pool *pool = dp_pool_new(0);
    struct tp_address a;
    memset(&a, 0, sizeof(a));
    struct tp_expandable args[2] = { { "-x", NULL }, { "y", NULL } };
    a.type = TP_ADDRESS_CGI;
    a.path = "/srv/cgi/a.cgi";
    a.args.v = args;
    a.args.n = 2;
    const char *path;
    char **argv;
    assert_int_equal(dp_spawn_argv(pool, &a, &path, &argv), 0);
    assert_string_equal(path, "/srv/cgi/a.cgi");
    assert_string_equal(argv[0], "/srv/cgi/a.cgi");
    assert_string_equal(argv[1], "-x");
    assert_string_equal(argv[2], "y");
    assert_null(argv[3]);

    a.process_name = "alpha";
    a.action = "/usr/bin/handler";
    assert_int_equal(dp_spawn_argv(pool, &a, &path, &argv), 0);
    assert_string_equal(path, "/usr/bin/handler");
    assert_string_equal(argv[0], "alpha");
    assert_null(argv[3]);

    a.interpreter = "/usr/bin/perl";
    assert_int_equal(dp_spawn_argv(pool, &a, &path, &argv), 0);
    assert_string_equal(path, "/usr/bin/perl");
    assert_string_equal(argv[0], "/usr/bin/perl");
    assert_string_equal(argv[1], "-x");
    assert_string_equal(argv[2], "y");
    assert_string_equal(argv[3], "/usr/bin/handler");
    assert_null(argv[4]);
    dp_pool_free(pool);
}

static void
test_env(void **state)
{
    (void)state;
    struct dp_pool *pool = dp_pool_new(0);
    struct dp_spawn_env env;
    dp_spawn_env_init(&env, pool);
    dp_spawn_env_set(&env, "A", "1");
    dp_spawn_env_set(&env, "AB", "2");
    dp_spawn_env_put(&env, "A=3");          /* replaces A, keeps its place */
    dp_spawn_env_put(&env, "=bad");
    dp_spawn_env_put(&env, "noequals");
    dp_spawn_env_set(&env, "C", NULL);
    dp_spawn_env_put(&env, "D=x=y");
    for (int i = 0; i < 100; i++) {
        char n[16];
        snprintf(n, sizeof(n), "V%d", i);
        dp_spawn_env_set(&env, n, "v");
    }
    char **v = dp_spawn_env_finish(&env);
    assert_non_null(v);
    assert_string_equal(v[0], "A=3");
    assert_string_equal(v[1], "AB=2");
    assert_string_equal(v[2], "D=x=y");
    assert_string_equal(v[3], "V0=v");
    assert_string_equal(v[102], "V99=v");
    assert_null(v[103]);
    dp_pool_free(pool);
}

/* ---- real children ---- */

struct run {
    bool exited;
    int status;
};

static void
on_exit_cb(void *ctx, int status)
{
    struct run *r = ctx;
    r->exited = true;
    r->status = status;
}

static uv_loop_t loop;

static int
loop_setup(void **state)
{
    (void)state;
    uv_loop_init(&loop);
    static struct dp_spawn_policy p;
    memset(&p, 0, sizeof(p));
    if (geteuid() == 0) {
        p.has_default = true;
        p.default_uid = 65534;
        p.default_gid = 65534;
        static struct dp_spawn_id_range nobody = { 65534, 65534 };
        p.users = &nobody;
        p.n_users = 1;
        p.groups = &nobody;
        p.n_groups = 1;
    }
    return dp_spawn_init(&loop, &p);
}

static int
loop_teardown(void **state)
{
    (void)state;
    dp_spawn_shutdown();
    uv_run(&loop, UV_RUN_DEFAULT);
    dp_spawn_fini();
    return uv_loop_close(&loop) == 0 ? 0 : -1;
}

/* Run the loop until cond or ~5 s. */
static void
run_until(bool (*cond)(void *), void *arg)
{
    for (int i = 0; i < 500 && !cond(arg); i++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(10000);
    }
}

static bool
exited(void *arg)
{
    return ((struct run *)arg)->exited;
}

static bool
none_left(void *arg)
{
    (void)arg;
    return dp_spawn_count() == 0;
}

/* Spawn sh -c script; stdout to a pipe whose read end is returned. */
static struct dp_child *
sh(const char *script, const struct tp_child_options *co, struct run *r,
   int *out_fd, char *err)
{
    static char env0[] = "PATH=/usr/bin:/bin", a0[] = "sh", a1[] = "-c";
    static char *envp[] = { env0, NULL };
    char *argv[] = { a0, a1, (char *)(uintptr_t)script, NULL };
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    struct dp_spawn_options o = {
        .name = "test sh",
        .path = "/bin/sh",
        .argv = argv,
        .envp = envp,
        .child = co,
        .stdin_fd = -1,
        .stdout_fd = p[1],
    };
    struct dp_child *c = dp_spawn(&o, on_exit_cb, r, err, 300);
    close(p[1]);
    if (out_fd != NULL)
        *out_fd = p[0];
    else
        close(p[0]);
    return c;
}

static void
read_all(int fd, char *buf, size_t size)
{
    size_t n = 0;
    ssize_t k;
    while (n + 1 < size && (k = read(fd, buf + n, size - 1 - n)) > 0)
        n += (size_t)k;
    buf[n] = '\0';
    close(fd);
}

static void
test_spawn_output_and_status(void **state)
{
    (void)state;
    struct run r = { false, 0 };
    char err[300], out[256];
    int fd;
    struct dp_child *c = sh("echo out $PATH; echo to-log >&2; exit 3", NULL,
                            &r, &fd, err);
    assert_non_null(c);
    read_all(fd, out, sizeof(out));
    assert_string_equal(out, "out /usr/bin:/bin\n");
    run_until(exited, &r);
    assert_true(r.exited);
    assert_true(WIFEXITED(r.status));
    assert_int_equal(WEXITSTATUS(r.status), 3);
    dp_child_release(c, false);
    run_until(none_left, NULL);
    assert_int_equal(dp_spawn_count(), 0);
}

static void
test_spawn_identity_and_limits(void **state)
{
    (void)state;
    struct tp_child_options co;
    memset(&co, 0, sizeof(co));
    co.umask = 027;
    co.rlimits = "n64 Sc0 f!";
    struct run r = { false, 0 };
    char err[300], out[256];
    int fd;
    struct dp_child *c = sh("ulimit -n; umask; id -u; echo $$ $(ps -o pgid= "
                            "-p $$ 2>/dev/null || echo nops)", &co, &r,
                            &fd, err);
    assert_non_null(c);
    read_all(fd, out, sizeof(out));
    char expect[128];
    snprintf(expect, sizeof(expect), "64\n0027\n%u\n",
             geteuid() == 0 ? 65534u : (unsigned)geteuid());
    assert_memory_equal(out, expect, strlen(expect));
    /* its own process group: the pgid printed equals its pid */
    int pid = 0, pgid = 0;
    if (sscanf(out + strlen(expect), "%d %d", &pid, &pgid) == 2)
        assert_int_equal(pid, pgid);
    assert_int_equal(pid, dp_child_pid(c));
    run_until(exited, &r);
    dp_child_release(c, false);
    run_until(none_left, NULL);
}

static void
test_spawn_extra_fds(void **state)
{
    (void)state;
    /* fd 3 and fd 4 are what the caller passed, nothing else leaks */
    int a[2], b[2], out[2];
    assert_int_equal(pipe2(a, O_CLOEXEC), 0);
    assert_int_equal(pipe2(b, O_CLOEXEC), 0);
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    int leak = open("/dev/null", O_RDONLY);     /* not close-on-exec */
    assert_true(leak > 4);
    static char env0[] = "PATH=/usr/bin:/bin", a0[] = "sh", a1[] = "-c";
    static char script[] = "echo three >&3; echo four >&4; "
                           "ls /proc/self/fd | sort -n | tr '\\n' ' '";
    static char *envp[] = { env0, NULL };
    char *argv[] = { a0, a1, script, NULL };
    int extra[2] = { a[1], b[1] };
    struct dp_spawn_options o = {
        .name = "test fds",
        .path = "/bin/sh",
        .argv = argv,
        .envp = envp,
        .stdin_fd = -1,
        .stdout_fd = out[1],
        .extra_fds = extra,
        .n_extra_fds = 2,
    };
    char err[300];
    struct run r = { false, 0 };
    struct dp_child *c = dp_spawn(&o, on_exit_cb, &r, err, sizeof(err));
    close(a[1]);
    close(b[1]);
    close(out[1]);
    close(leak);
    assert_non_null(c);
    char buf[256];
    read_all(a[0], buf, sizeof(buf));
    assert_string_equal(buf, "three\n");
    read_all(b[0], buf, sizeof(buf));
    assert_string_equal(buf, "four\n");
    read_all(out[0], buf, sizeof(buf));
    /* 0, 1, 2, 3, 4 and the descriptor ls itself opens */
    assert_int_equal(strncmp(buf, "0 1 2 3 4 ", 10), 0);
    assert_true(strlen(buf) <= 12);
    run_until(exited, &r);
    dp_child_release(c, false);
    run_until(none_left, NULL);
}

static void
test_spawn_failures(void **state)
{
    (void)state;
    char err[300];
    static char x[] = "x";
    static char *argv[] = { x, NULL };
    static char *envp[] = { NULL };
    struct dp_spawn_options o = {
        .name = "cgi /nonexistent/x",
        .path = "/nonexistent/x",
        .argv = argv,
        .envp = envp,
        .stdin_fd = -1,
        .stdout_fd = -1,
    };
    /* refused at once: missing, not executable */
    assert_null(dp_spawn(&o, NULL, NULL, err, sizeof(err)));
    assert_string_equal(err, "cannot start cgi /nonexistent/x: No such "
                        "file or directory");
    o.path = "/etc/passwd";
    assert_null(dp_spawn(&o, NULL, NULL, err, sizeof(err)));
    assert_string_equal(err, "cannot start cgi /nonexistent/x: not an "
                        "executable file");

    /* reported from the loop: the child exits with 127 */
    struct tp_child_options co;
    memset(&co, 0, sizeof(co));
    co.umask = TP_UMASK_UNSET;
    co.chdir = "/nonexistent-dir";
    o.path = "/bin/true";
    o.child = &co;
    struct run r = { false, 0 };
    struct dp_child *c = dp_spawn(&o, on_exit_cb, &r, err, sizeof(err));
    assert_non_null(c);
    run_until(exited, &r);
    assert_true(r.exited);
    assert_true(WIFEXITED(r.status));
    assert_int_equal(WEXITSTATUS(r.status), 127);
    assert_string_equal(dp_child_start_error(c), "cannot start cgi "
                        "/nonexistent/x: chdir (CHDIR): No such file or "
                        "directory");
    dp_child_release(c, false);

    char script[] = "/tmp/portier-test-spawn-XXXXXX";
    int fd = mkstemp(script);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "\x01\x02garbage", 9), 9);
    close(fd);
    chmod(script, 0755);
    co.chdir = NULL;
    o.path = script;
    memset(&r, 0, sizeof(r));
    c = dp_spawn(&o, on_exit_cb, &r, err, sizeof(err));
    assert_non_null(c);
    run_until(exited, &r);
    unlink(script);
    assert_int_equal(WEXITSTATUS(r.status), 127);
    char want[200];
    snprintf(want, sizeof(want), "cannot start cgi /nonexistent/x: execve: "
             "%s", strerror(ENOEXEC));
    assert_string_equal(dp_child_start_error(c), want);
    dp_child_release(c, false);

    co.uid_gid.present = true;
    co.uid_gid.uid = 4242;
    co.uid_gid.gid = 4242;
    o.path = "/bin/true";
    assert_null(dp_spawn(&o, NULL, NULL, err, sizeof(err)));
    assert_string_equal(err, "UID_GID 4242:4242: user 4242 is not allowed "
                        "by spawn { allow_user }");
    run_until(none_left, NULL);
    assert_int_equal(dp_spawn_count(), 0);
}

/* A failure between clone and execve is known when dp_spawn() returns
 * (the worker waits for the child's execve()), with the step and the
 * cause; the child is reaped with status 127 as before. */
static void
test_spawn_start_error_at_once(void **state)
{
    (void)state;
    char err[300];
    static char x[] = "x";
    static char *argv[] = { x, NULL };
    static char *envp[] = { NULL };
    struct tp_child_options co;
    memset(&co, 0, sizeof(co));
    co.umask = TP_UMASK_UNSET;
    struct dp_spawn_options o = {
        .name = "test early",
        .path = "/bin/true",
        .argv = argv,
        .envp = envp,
        .child = &co,
        .stdin_fd = -1,
        .stdout_fd = -1,
    };
    static const struct {
        const char *rlimits, *chdir, *stderr_path, *want;
    } cases[] = {
        { NULL, "/nonexistent-dir", NULL,
          "cannot start test early: chdir (CHDIR): No such file or "
          "directory" },
        { NULL, NULL, "/nonexistent-dir/err",
          "cannot start test early: opening STDERR_PATH: No such file or "
          "directory" },
        /* above fs.nr_open: refused even for root */
        { "n4000000000", NULL, NULL,
          "cannot start test early: setrlimit (RLIMITS): Operation not "
          "permitted" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        co.rlimits = cases[i].rlimits;
        co.chdir = cases[i].chdir;
        co.stderr_path = cases[i].stderr_path;
        struct run r = { false, 0 };
        struct dp_child *c = dp_spawn(&o, on_exit_cb, &r, err, sizeof(err));
        assert_non_null(c);
        /* before the loop ran at all */
        assert_non_null(dp_child_start_error(c));
        assert_string_equal(dp_child_start_error(c), cases[i].want);
        run_until(exited, &r);
        assert_true(r.exited);
        assert_true(WIFEXITED(r.status));
        assert_int_equal(WEXITSTATUS(r.status), 127);
        dp_child_release(c, false);
    }
    /* and a child that started has none */
    co.rlimits = NULL;
    co.chdir = "/";
    co.stderr_path = NULL;
    struct run r = { false, 0 };
    struct dp_child *c = dp_spawn(&o, on_exit_cb, &r, err, sizeof(err));
    assert_non_null(c);
    assert_null(dp_child_start_error(c));
    run_until(exited, &r);
    assert_int_equal(WEXITSTATUS(r.status), 0);
    assert_null(dp_child_start_error(c));
    dp_child_release(c, false);
    run_until(none_left, NULL);
}

/* The caller's descriptors sit on the child's targets, crossed: the
 * child's stdout comes from our fd 0 and its fd 3 from our fd 1 (a
 * plain dup in order would overwrite fd 0 before reading it). */
static void
test_spawn_fds_crossed(void **state)
{
    (void)state;
    int out[2], three[2];
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    assert_int_equal(pipe2(three, O_CLOEXEC), 0);
    int saved0 = fcntl(0, F_DUPFD_CLOEXEC, 10);
    int saved1 = fcntl(1, F_DUPFD_CLOEXEC, 10);
    assert_true(saved0 >= 0 && saved1 >= 0);
    fflush(stdout);
    assert_int_equal(dup3(out[1], 0, O_CLOEXEC), 0);
    assert_int_equal(dup3(three[1], 1, O_CLOEXEC), 1);
    close(out[1]);
    close(three[1]);
    static char env0[] = "PATH=/usr/bin:/bin", a0[] = "sh", a1[] = "-c";
    static char script[] = "echo out; echo three >&3";
    static char *envp[] = { env0, NULL };
    char *argv[] = { a0, a1, script, NULL };
    int extra[1] = { 1 };
    struct dp_spawn_options o = {
        .name = "test crossed",
        .path = "/bin/sh",
        .argv = argv,
        .envp = envp,
        .stdin_fd = -1,
        .stdout_fd = 0,
        .extra_fds = extra,
        .n_extra_fds = 1,
    };
    char err[300];
    struct run r = { false, 0 };
    struct dp_child *c = dp_spawn(&o, on_exit_cb, &r, err, sizeof(err));
    /* our own 0 and 1 back before anything is printed */
    dup2(saved0, 0);
    dup2(saved1, 1);
    close(saved0);
    close(saved1);
    assert_non_null(c);
    char buf[64];
    read_all(out[0], buf, sizeof(buf));
    assert_string_equal(buf, "out\n");
    read_all(three[0], buf, sizeof(buf));
    assert_string_equal(buf, "three\n");
    run_until(exited, &r);
    assert_int_equal(WEXITSTATUS(r.status), 0);
    dp_child_release(c, false);
    run_until(none_left, NULL);
}

static int thread_pipe[2];

static void *
idle_thread(void *arg)
{
    (void)arg;
    char b;
    while (read(thread_pipe[0], &b, 1) < 0 && errno == EINTR) {
    }
    return NULL;
}

/* "Uid:" and "Gid:" of /proc/self/task/TID/status, one line each. */
static void
task_ids(pid_t tid, char *buf, size_t size)
{
    char path[64], text[4096];
    snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *u = strstr(text, "\nUid:");
    const char *g = strstr(text, "\nGid:");
    assert_non_null(u);
    assert_non_null(g);
    snprintf(buf, size, "%.*s%.*s", (int)strcspn(u + 1, "\n") + 1, u,
             (int)strcspn(g + 1, "\n") + 1, g);
}

static pid_t thread_tid;

static void *
tid_thread(void *arg)
{
    thread_tid = (pid_t)syscall(SYS_gettid);
    return idle_thread(arg);
}

/* The child shares the worker's memory until execve() (CLONE_VM) and
 * changes its user there: the worker's threads (libuv's pool) and the
 * spawning thread keep theirs. */
static void
test_spawn_threads_keep_ids(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    assert_int_equal(pipe2(thread_pipe, O_CLOEXEC), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, tid_thread, NULL), 0);
    for (int i = 0; i < 500 && thread_tid == 0; i++)
        usleep(1000);
    assert_true(thread_tid > 0);
    char before[256], after[256];
    task_ids(thread_tid, before, sizeof(before));
    struct run r = { false, 0 };
    char err[300], out[64];
    int fd;
    struct dp_child *c = sh("id -u", NULL, &r, &fd, err);
    assert_non_null(c);
    read_all(fd, out, sizeof(out));
    assert_string_equal(out, "65534\n");
    run_until(exited, &r);
    task_ids(thread_tid, after, sizeof(after));
    assert_string_equal(after, before);
    task_ids((pid_t)syscall(SYS_gettid), after, sizeof(after));
    assert_string_equal(after, before);
    assert_int_equal(geteuid(), 0);
    close(thread_pipe[1]);
    pthread_join(t, NULL);
    close(thread_pipe[0]);
    dp_child_release(c, false);
    run_until(none_left, NULL);
}

/* Gone, or a zombie waiting for whoever reaps orphans here. */
static bool
pid_gone(void *arg)
{
    pid_t pid = *(pid_t *)arg;
    if (kill(pid, 0) != 0)
        return true;
    char path[64], buf[256] = "";
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return true;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *paren = strrchr(buf, ')');
    return paren != NULL && paren[1] == ' ' && paren[2] == 'Z';
}

static void
test_spawn_kill(void **state)
{
    (void)state;
    struct run r = { false, 0 };
    char err[300];
    struct tp_child_options co;
    memset(&co, 0, sizeof(co));
    co.umask = TP_UMASK_UNSET;
    /* ignores SIGTERM: SIGKILL follows after the grace period; the
     * grandchild (sleep) dies with its process group */
    int fd;
    struct dp_child *c = sh("trap '' TERM; sleep 30 & echo $!; wait", &co,
                            &r, &fd, err);
    assert_non_null(c);
    char out[64] = "";
    ssize_t n = read(fd, out, sizeof(out) - 1);
    close(fd);
    assert_true(n > 0);
    pid_t grandchild = (pid_t)atoi(out);
    assert_true(grandchild > 0);
    uint64_t t0 = uv_hrtime();
    dp_child_release(c, true);
    run_until(none_left, NULL);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    assert_int_equal(dp_spawn_count(), 0);
    assert_false(r.exited);     /* released: no callback */
    assert_true(ms >= DP_SPAWN_KILL_GRACE_MS - 100);
    /* upper bounds far below the child's 30 s, loose for a loaded CI */
    assert_true(ms < DP_SPAWN_KILL_GRACE_MS + 10000);
    run_until(pid_gone, &grandchild);
    assert_true(pid_gone(&grandchild));

    /* an ordinary child dies of SIGTERM at once */
    memset(&r, 0, sizeof(r));
    c = sh("sleep 30", NULL, &r, NULL, err);
    assert_non_null(c);
    t0 = uv_hrtime();
    dp_child_release(c, true);
    run_until(none_left, NULL);
    assert_int_equal(dp_spawn_count(), 0);
    assert_true((uv_hrtime() - t0) / 1000000 < 10000);

    /* bound to a pool: freeing the pool ends it */
    struct dp_pool *pool = dp_pool_new(0);
    c = sh("sleep 30", NULL, &r, NULL, err);
    assert_non_null(c);
    assert_int_equal(dp_child_bind_pool(c, pool), 0);
    dp_pool_free(pool);
    run_until(none_left, NULL);
    assert_int_equal(dp_spawn_count(), 0);
}

int
main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_ranges),
        cmocka_unit_test(test_policy_default),
        cmocka_unit_test(test_policy_resolve),
        cmocka_unit_test(test_argv),
        cmocka_unit_test(test_env),
        cmocka_unit_test_setup_teardown(test_spawn_output_and_status,
                                        loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_spawn_identity_and_limits,
                                        loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_spawn_extra_fds, loop_setup,
                                        loop_teardown),
        cmocka_unit_test_setup_teardown(test_spawn_failures, loop_setup,
                                        loop_teardown),
        cmocka_unit_test_setup_teardown(test_spawn_kill, loop_setup,
                                        loop_teardown),
        cmocka_unit_test_setup_teardown(test_spawn_start_error_at_once,
                                        loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(test_spawn_fds_crossed, loop_setup,
                                        loop_teardown),
        cmocka_unit_test_setup_teardown(test_spawn_threads_keep_ids,
                                        loop_setup, loop_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
