/* Unit tests: dp_control's pure helpers (the permission rule, the STATS
 * reply encoding) and dp_control_recv() over a socketpair; the log
 * limiter is tested in test_dp_ratelog. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ctl_protocol.h"
#include "dp_control.h"

#include <msgpack.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void
test_permissions(void **state)
{
    (void)state;
    /* Over UDP: exactly TCACHE_INVALIDATE and FLUSH_FILTER_CACHE. */
    for (unsigned cmd = 0; cmd <= CTL_CMD_MAX + 2; cmd++) {
        enum dp_control_verdict v =
            dp_control_check((uint16_t)cmd, false, false, 0, 1000);
        if (cmd == CTL_CMD_TCACHE_INVALIDATE ||
            cmd == CTL_CMD_FLUSH_FILTER_CACHE)
            assert_int_equal(v, DP_CONTROL_ALLOW);
        else
            assert_int_equal(v, DP_CONTROL_DENY_IP);
    }
    /* Credentials that come with a UDP datagram would not matter. */
    assert_int_equal(dp_control_check(CTL_CMD_STATS, false, true, 1000, 1000),
                     DP_CONTROL_DENY_IP);
    /* Local: our uid and root may send anything, others nothing. */
    for (unsigned cmd = 0; cmd <= CTL_CMD_MAX; cmd++) {
        assert_int_equal(
            dp_control_check((uint16_t)cmd, true, true, 1000, 1000),
            DP_CONTROL_ALLOW);
        assert_int_equal(dp_control_check((uint16_t)cmd, true, true, 0, 1000),
                         DP_CONTROL_ALLOW);
        assert_int_equal(
            dp_control_check((uint16_t)cmd, true, true, 1001, 1000),
            DP_CONTROL_DENY_UID);
        assert_int_equal(
            dp_control_check((uint16_t)cmd, true, false, 1000, 1000),
            DP_CONTROL_DENY_NO_CREDS);
    }
    /* portierd running as root: only root. */
    assert_int_equal(dp_control_check(CTL_CMD_NOP, true, true, 5, 0),
                     DP_CONTROL_DENY_UID);
}

/* The value of key in a msgpack map, or NULL. */
static const msgpack_object *
get(const msgpack_object *map, const char *key)
{
    assert_int_equal(map->type, MSGPACK_OBJECT_MAP);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        assert_int_equal(kv->key.type, MSGPACK_OBJECT_STR);
        if (kv->key.via.str.size == strlen(key) &&
            memcmp(kv->key.via.str.ptr, key, strlen(key)) == 0)
            return &kv->val;
    }
    return NULL;
}

static uint64_t
get_u64(const msgpack_object *map, const char *key)
{
    const msgpack_object *o = get(map, key);
    assert_non_null(o);
    assert_int_equal(o->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    return o->via.u64;
}

static void
test_stats_encode(void **state)
{
    (void)state;
    struct dp_control_stats st = {
        .connections = 3,
        .tunnels = 2,
        .accepted = 70,
        .requests = 120,
        .status_class = {0, 1, 100, 12, 6, 1},
        .bytes_out = 5000000000ull,
        .bytes_spliced = 4000000000ull,
        .request_bytes_spliced = 3000000000ull,
        .translation_requests = 40,
        .translation_failures = 2,
        .translation_timeouts = 1,
        .tcache_entries = 9,
        .tcache_hits = 80,
        .tcache_misses = 11,
        .fcache_entries = 4,
        .fcache_hits = 50,
        .fcache_misses = 7,
        .nfs_cache_entries = 3,
        .nfs_cache_hits = 30,
        .nfs_cache_misses = 5,
        .http_cache_entries = 6,
        .http_cache_hits = 60,
        .http_cache_misses = 8,
        .filter_cache_entries = 2,
        .filter_cache_hits = 20,
        .filter_cache_misses = 9,
        .children = 6,
        .n_pools = 2,
        .pools = {{"fastcgi", 4}, {"was", 2}},
    };
    struct pr_buf out = PR_BUF_INIT;
    assert_int_equal(pr_buf_append(&out, "x", 1), 0); /* appends */
    assert_int_equal(dp_control_stats_encode(&out, &st), 0);
    assert_true(out.len > 5);
    const uint8_t *d = out.data + 1;
    size_t len = out.len - 1;
    /* Header: u16 BE payload length, u16 BE command 6. */
    assert_int_equal((size_t)(d[0] << 8 | d[1]), len - 4);
    assert_int_equal(d[2], 0);
    assert_int_equal(d[3], CTL_CMD_STATS);

    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&u, (const char *)d + 4, len - 4,
                                         &off),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, len - 4); /* exactly one object */
    const msgpack_object *m = &u.data;
    assert_int_equal(m->via.map.size, 15);
    assert_int_equal(get_u64(m, "workers"), 1);
    assert_int_equal(get_u64(m, "connections"), 3);
    assert_int_equal(get_u64(m, "tunnels"), 2);
    assert_int_equal(get_u64(m, "accepted"), 70);
    assert_int_equal(get_u64(m, "bytes_out"), 5000000000ull);
    assert_int_equal(get_u64(m, "bytes_spliced"), 4000000000ull);
    assert_int_equal(get_u64(m, "request_bytes_spliced"), 3000000000ull);
    const msgpack_object *r = get(m, "requests");
    assert_non_null(r);
    assert_int_equal(get_u64(r, "total"), 120);
    assert_int_equal(get_u64(r, "1xx"), 1);
    assert_int_equal(get_u64(r, "2xx"), 100);
    assert_int_equal(get_u64(r, "3xx"), 12);
    assert_int_equal(get_u64(r, "4xx"), 6);
    assert_int_equal(get_u64(r, "5xx"), 1);
    const msgpack_object *t = get(m, "translation");
    assert_int_equal(get_u64(t, "requests"), 40);
    assert_int_equal(get_u64(t, "failures"), 2);
    assert_int_equal(get_u64(t, "timeouts"), 1);
    const msgpack_object *tc = get(m, "translation_cache");
    assert_int_equal(get_u64(tc, "entries"), 9);
    assert_int_equal(get_u64(tc, "hits"), 80);
    assert_int_equal(get_u64(tc, "misses"), 11);
    const msgpack_object *fc = get(m, "file_cache");
    assert_int_equal(get_u64(fc, "entries"), 4);
    assert_int_equal(get_u64(fc, "hits"), 50);
    assert_int_equal(get_u64(fc, "misses"), 7);
    const msgpack_object *nc = get(m, "nfs_cache");
    assert_int_equal(get_u64(nc, "entries"), 3);
    assert_int_equal(get_u64(nc, "hits"), 30);
    assert_int_equal(get_u64(nc, "misses"), 5);
    const msgpack_object *hc = get(m, "http_cache");
    assert_int_equal(get_u64(hc, "entries"), 6);
    assert_int_equal(get_u64(hc, "hits"), 60);
    assert_int_equal(get_u64(hc, "misses"), 8);
    const msgpack_object *flc = get(m, "filter_cache");
    assert_int_equal(get_u64(flc, "entries"), 2);
    assert_int_equal(get_u64(flc, "hits"), 20);
    assert_int_equal(get_u64(flc, "misses"), 9);
    const msgpack_object *ch = get(m, "children");
    assert_non_null(ch);
    assert_int_equal(ch->via.map.size, 3);
    assert_int_equal(get_u64(ch, "total"), 6);
    assert_int_equal(get_u64(ch, "fastcgi"), 4);
    assert_int_equal(get_u64(ch, "was"), 2);
    msgpack_unpacked_destroy(&u);
    pr_buf_free(&out);
}

/* dp_control_recv(): the bytes, the credentials, a closed SCM_RIGHTS
 * descriptor, truncation and EAGAIN. */
static void
test_recv(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    int on = 1;
    assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on,
                                sizeof(on)),
                     0);
    uint8_t buf[16];
    struct dp_control_sender snd;
    errno = 0;
    assert_int_equal(dp_control_recv(sv[1], buf, sizeof(buf), &snd), -1);
    assert_int_equal(errno, EAGAIN);

    /* A datagram with the write end of a pipe attached. */
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctrl;
    memset(&ctrl, 0, sizeof(ctrl));
    char hello[] = "hello";
    struct iovec iov = {hello, 5};
    struct msghdr msg = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = ctrl.buf,
        .msg_controllen = sizeof(ctrl.buf),
    };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &p[1], sizeof(int));
    assert_int_equal(sendmsg(sv[0], &msg, 0), 5);
    close(p[1]);

    assert_int_equal(dp_control_recv(sv[1], buf, sizeof(buf), &snd), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_false(snd.truncated);
    assert_true(snd.has_creds);
    assert_int_equal(snd.cred.pid, getpid());
    assert_int_equal(snd.cred.uid, getuid());
    /* The copy that came was closed: the pipe has no writer left. */
    char b;
    assert_int_equal(read(p[0], &b, 1), 0);
    close(p[0]);

    /* Larger than the buffer. */
    uint8_t big[40];
    memset(big, 'x', sizeof(big));
    assert_int_equal(send(sv[0], big, sizeof(big), 0), (ssize_t)sizeof(big));
    assert_int_equal(dp_control_recv(sv[1], buf, sizeof(buf), &snd),
                     (ssize_t)sizeof(buf));
    assert_true(snd.truncated);
    close(sv[0]);
    close(sv[1]);
}

/* Run fn with stderr going to a file; what it wrote, in out. */
static void
capture_stderr(void (*fn)(void *), void *arg, char *out, size_t size)
{
    fflush(stderr);
    FILE *f = tmpfile();
    assert_non_null(f);
    int saved = dup(2);
    assert_true(saved >= 0);
    assert_int_equal(dup2(fileno(f), 2), 2);
    fn(arg);
    fflush(stderr);
    assert_int_equal(dup2(saved, 2), 2);
    close(saved);
    rewind(f);
    size_t n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    fclose(f);
}

static size_t
count(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *p = strstr(s, what); p != NULL;
         p = strstr(p + 1, what))
        n++;
    return n;
}

struct datagram_run {
    const uint8_t *data;
    size_t len;
    struct dp_control_sender snd;
    uint64_t now_ms;
    struct dp_control_logs *logs;
    bool opened;
    char peer[160];
    uint16_t got[8];
    size_t n_got;
};

static void
run_datagram(void *arg)
{
    struct datagram_run *run = arg;
    struct dp_control_arrival a;
    run->opened = dp_control_arrival_open(&a, run->data, run->len, &run->snd,
                                          true, "@ctl", 1000, run->now_ms,
                                          run->logs);
    snprintf(run->peer, sizeof(run->peer), "%s", a.peer);
    if (!run->opened)
        return;
    struct ctl_packet p;
    while (dp_control_arrival_next(&a, &p))
        run->got[run->n_got++] = p.command;
}

/* The checks of a received datagram: the commands that pass, in order,
 * and the log lines about the others. */
static void
test_datagram_checks(void **state)
{
    (void)state;
    struct pr_buf b = PR_BUF_INIT;
    assert_int_equal(ctl_datagram_begin(&b), 0);
    assert_int_equal(ctl_datagram_append(&b, CTL_CMD_NOP, NULL, 0), 0);
    assert_int_equal(ctl_datagram_append(&b, CTL_CMD_STATS, "x", 1), 0);
    assert_int_equal(ctl_datagram_append(&b, 999, NULL, 0), 0);
    assert_int_equal(ctl_datagram_append(&b, CTL_CMD_VERBOSE, "\x02", 1), 0);
    assert_int_equal(ctl_datagram_append(&b, 999, NULL, 0), 0);

    struct dp_control_logs logs;
    memset(&logs, 0, sizeof(logs));
    struct datagram_run run;
    memset(&run, 0, sizeof(run));
    run.data = b.data;
    run.len = b.len;
    run.snd.has_creds = true;
    run.snd.cred.uid = 1000;
    run.snd.cred.pid = 7;
    run.now_ms = 5000;
    run.logs = &logs;
    char out[2048];
    capture_stderr(run_datagram, &run, out, sizeof(out));
    assert_true(run.opened);
    assert_string_equal(run.peer, "uid 1000 pid 7");
    assert_int_equal(run.n_got, 2);
    assert_int_equal(run.got[0], CTL_CMD_NOP);
    assert_int_equal(run.got[1], CTL_CMD_VERBOSE);
    assert_non_null(strstr(out, "portierd: control: ignored a malformed "
                                "command from uid 1000 pid 7 on @ctl: "));
    /* 999 twice, logged once. */
    assert_int_equal(count(out, "portierd: control: "), 2);
    assert_int_equal(count(out, "(logged once)\n"), 1);

    /* Another uid: every command refused, rate-limited (one line). */
    memset(&run.got, 0, sizeof(run.got));
    run.n_got = 0;
    run.snd.cred.uid = 1001;
    capture_stderr(run_datagram, &run, out, sizeof(out));
    assert_int_equal(run.n_got, 0);
    assert_non_null(strstr(out, "portierd: control: refused NOP from uid "
                                "1001 pid 7 on @ctl: "));
    assert_null(strstr(out, "refused VERBOSE"));
    assert_int_equal(logs.refused.suppressed, 1);

    /* Dropped whole: truncated, or not a control datagram.  The
     * malformed STATS of the second run was held back. */
    run.snd.cred.uid = 1000;
    run.now_ms = 10000;
    run.snd.truncated = true;
    capture_stderr(run_datagram, &run, out, sizeof(out));
    assert_false(run.opened);
    char want[200];
    snprintf(want, sizeof(want),
             "portierd: control: dropped a datagram from uid 1000 pid 7 on "
             "@ctl: larger than %zu bytes (1 similar lines suppressed)\n",
             b.len);
    assert_string_equal(out, want);
    run.snd.truncated = false;
    run.data = (const uint8_t *)"garbage!";
    run.len = 8;
    run.now_ms = 20000;
    capture_stderr(run_datagram, &run, out, sizeof(out));
    assert_false(run.opened);
    assert_non_null(strstr(out, "portierd: control: dropped a malformed "
                                "datagram from uid 1000 pid 7 on @ctl: "));
    pr_buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_permissions),
        cmocka_unit_test(test_stats_encode),
        cmocka_unit_test(test_recv),
        cmocka_unit_test(test_datagram_checks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
