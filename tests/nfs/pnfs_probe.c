/* pnfs_probe: drives nfs/pnfs_client on a libuv loop for the integration
 * tests (integration/test_nfs.py).
 *
 *   pnfs_probe [--nfs-port N] [--mount-port N] [--uid N] [--gid N]
 *              [--timeout MS] [--idle MS] [--read-ahead BYTES]
 *              SERVER EXPORT
 *
 * One client lives as long as the process, so tests can stop and restart
 * the server between commands.  Commands come on stdin, one a line, and
 * run one after the other; each prints exactly one result line on stdout
 * that starts with "ok" or "error ERRNO_NAME message":
 *
 *   stat PATH               ok size=N mode=O ino=N mtime=S
 *   read PATH [DELAY_MS [MAX]]
 *                           open, then read sequentially to the end, one
 *                           buffer of at most MAX bytes at a time, waiting
 *                           DELAY_MS after each (a slow consumer); prints
 *                           "started" after the first buffer, then
 *                           ok size=N bytes=N crc32=X peak_rss_kb=N
 *   parallel N PATH...      N concurrent reads over the paths in turn:
 *                           ok n=N then one line per read:
 *                           PATH bytes=N crc32=X | PATH error NAME msg
 *   ranges PATH OFF:LEN...  open once, then read each range in turn on
 *                           the same file (random access):
 *                           ok ranges=GOT:CRC32,GOT:CRC32,...
 *   cancel-open PATH        start an open, cancel it at once, run 300 ms:
 *                           ok when the callback never ran
 *   cancel-read PATH        open, start a read, cancel it, close, run
 *                           300 ms: ok when the read callback never ran
 *   mounted                 ok mounted=0|1
 *   sleep MS                ok after MS milliseconds of running the loop
 *   quit                    exit 0 (end of input does the same)
 */
#include "pnfs_client.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

static uv_loop_t *loop;
static struct pnfs_client *client;
static uv_pipe_t in_pipe;
static char line_buf[8192];
static size_t line_len;
static bool busy;
static bool input_done;
static uv_timer_t step_timer;

static void next_command(void);

/* ---- CRC-32 (IEEE), to compare contents with Python's zlib.crc32 ---- */

static uint32_t crc_table[256];

static void
crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t
crc_update(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static const char *
errno_name(int err)
{
    switch (-err) {
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EISDIR: return "EISDIR";
    case ENOTDIR: return "ENOTDIR";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case EIO: return "EIO";
    case ENOMEM: return "ENOMEM";
    case EINVAL: return "EINVAL";
    case ECANCELED: return "ECANCELED";
    default: return "EOTHER";
    }
}

/* The peak resident set of this process image, in KiB: VmHWM from
 * /proc/self/status, or -1 when it cannot be read.  Not getrusage()'s
 * ru_maxrss: Linux carries that across execve(), so a probe started by
 * a big parent (pytest after a test that held a 200 MiB body; with
 * vfork the parent's own peak) would report the parent's peak, not its
 * own.  VmHWM belongs to the address space, which execve() replaces. */
static long
peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    }
    fclose(f);
    return kb;
}

static void
command_done(void)
{
    fflush(stdout);
    busy = false;
    next_command();
}

/* ---- read: open, then sequential reads ---- */

struct reader {
    char path[4096];
    struct pnfs_file *file;
    struct pnfs_op *op;
    uint64_t offset;
    uint32_t crc;
    unsigned delay_ms;
    size_t max;
    bool started;
    uv_timer_t delay;
    bool quiet;              /* parallel: one summary line per reader */
    char result[1200];
    void (*done)(struct reader *r);
};

static void reader_next(struct reader *r);

static void
reader_finish(struct reader *r, int status, const char *error)
{
    if (r->file != NULL) {
        pnfs_file_close(r->file);
        r->file = NULL;
    }
    if (status < 0)
        snprintf(r->result, sizeof(r->result), "error %s %s",
                 errno_name(status), error);
    r->done(r);
}

static void
reader_read_cb(void *ctx, ssize_t status, const void *data, const char *error)
{
    struct reader *r = ctx;
    r->op = NULL;
    if (status < 0) {
        reader_finish(r, (int)status, error);
        return;
    }
    if (status == 0) {
        const struct pnfs_stat *st = pnfs_file_stat(r->file);
        snprintf(r->result, sizeof(r->result),
                 "ok size=%llu bytes=%llu crc32=%08x peak_rss_kb=%ld",
                 (unsigned long long)st->size,
                 (unsigned long long)r->offset, r->crc, peak_rss_kb());
        reader_finish(r, 0, NULL);
        return;
    }
    r->crc = crc_update(r->crc, data, (size_t)status);
    r->offset += (uint64_t)status;
    if (!r->started && !r->quiet) {
        r->started = true;
        printf("started\n");
        fflush(stdout);
    }
    reader_next(r);
}

static void
delay_cb(uv_timer_t *t)
{
    struct reader *r = t->data;
    int rc = pnfs_file_read(r->file, r->offset, r->max, reader_read_cb, r,
                            &r->op);
    if (rc < 0)
        reader_finish(r, rc, "pnfs_file_read refused");
}

static void
reader_next(struct reader *r)
{
    if (r->delay_ms > 0) {
        uv_timer_start(&r->delay, delay_cb, r->delay_ms, 0);
        return;
    }
    delay_cb(&r->delay);
}

static void
reader_open_cb(void *ctx, int status, struct pnfs_file *file,
               const struct pnfs_stat *st, const char *error)
{
    struct reader *r = ctx;
    r->op = NULL;
    if (status < 0) {
        reader_finish(r, status, error);
        return;
    }
    r->file = file;
    r->offset = 0;
    r->crc = 0;
    delay_cb(&r->delay);
}

static int
reader_start(struct reader *r)
{
    uv_timer_init(loop, &r->delay);
    r->delay.data = r;
    return pnfs_open(client, r->path, reader_open_cb, r, &r->op);
}

static void
reader_free_cb(uv_handle_t *h)
{
    free(h->data);
}

static void
single_done(struct reader *r)
{
    printf("%s\n", r->result);
    uv_close((uv_handle_t *)&r->delay, reader_free_cb);
    command_done();
}

static void
cmd_read(const char *path, unsigned delay_ms, size_t max)
{
    struct reader *r = calloc(1, sizeof(*r));
    snprintf(r->path, sizeof(r->path), "%s", path);
    r->delay_ms = delay_ms;
    r->max = max;
    r->done = single_done;
    int rc = reader_start(r);
    if (rc < 0) {
        printf("error %s pnfs_open refused\n", errno_name(rc));
        uv_close((uv_handle_t *)&r->delay, reader_free_cb);
        command_done();
    }
}

/* ---- parallel ---- */

static struct reader **par;
static unsigned par_n, par_left;

static void
par_done(struct reader *r)
{
    if (--par_left > 0)
        return;
    printf("ok n=%u\n", par_n);
    for (unsigned i = 0; i < par_n; i++) {
        struct reader *p = par[i];
        if (strncmp(p->result, "ok ", 3) == 0) {
            /* "ok size=.. bytes=.. crc32=.." -> "PATH bytes=.. crc32=.." */
            const char *b = strstr(p->result, "bytes=");
            const char *m = strstr(p->result, " peak_rss_kb");
            printf("%s %.*s\n", p->path, (int)(m - b), b);
        } else {
            printf("%s %s\n", p->path, p->result);
        }
        uv_close((uv_handle_t *)&p->delay, reader_free_cb);
    }
    free(par);
    par = NULL;
    command_done();
}

static void
cmd_parallel(unsigned n, char **paths, unsigned npaths)
{
    par = calloc(n, sizeof(*par));
    par_n = n;
    par_left = n;
    for (unsigned i = 0; i < n; i++) {
        struct reader *r = calloc(1, sizeof(*r));
        snprintf(r->path, sizeof(r->path), "%s", paths[i % npaths]);
        r->quiet = true;
        r->done = par_done;
        par[i] = r;
    }
    for (unsigned i = 0; i < n; i++) {
        int rc = reader_start(par[i]);
        if (rc < 0) {
            snprintf(par[i]->result, sizeof(par[i]->result),
                     "error %s pnfs_open refused", errno_name(rc));
            par_done(par[i]);
        }
    }
}

/* ---- cancellation ---- */

static bool cancelled_cb_ran;
static struct pnfs_file *cancel_file;
static struct pnfs_op *cancel_op;

static void
cancel_open_cb(void *ctx, int status, struct pnfs_file *file,
               const struct pnfs_stat *st, const char *error)
{
    cancelled_cb_ran = true;
    if (file != NULL)
        pnfs_file_close(file);
}

static void
cancel_check_cb(uv_timer_t *t)
{
    if (cancelled_cb_ran)
        printf("error EOTHER the callback ran after pnfs_cancel\n");
    else
        printf("ok\n");
    command_done();
}

static void
cmd_cancel_open(const char *path)
{
    cancelled_cb_ran = false;
    int rc = pnfs_open(client, path, cancel_open_cb, NULL, &cancel_op);
    if (rc < 0) {
        printf("error %s pnfs_open refused\n", errno_name(rc));
        command_done();
        return;
    }
    pnfs_cancel(cancel_op);
    uv_timer_start(&step_timer, cancel_check_cb, 300, 0);
}

static void
cancel_read_cb(void *ctx, ssize_t status, const void *data,
               const char *error)
{
    cancelled_cb_ran = true;
}

static void
cancel_read_open_cb(void *ctx, int status, struct pnfs_file *file,
                    const struct pnfs_stat *st, const char *error)
{
    if (status < 0) {
        printf("error %s %s\n", errno_name(status), error);
        command_done();
        return;
    }
    cancel_file = file;
    int rc = pnfs_file_read(file, 0, 0, cancel_read_cb, NULL, &cancel_op);
    if (rc < 0) {
        printf("error %s pnfs_file_read refused\n", errno_name(rc));
        pnfs_file_close(file);
        command_done();
        return;
    }
    pnfs_cancel(cancel_op);
    /* A second read is allowed now that the first one is gone; cancel it
     * by closing the file. */
    rc = pnfs_file_read(file, 4096, 0, cancel_read_cb, NULL, &cancel_op);
    if (rc < 0) {
        printf("error %s second pnfs_file_read refused\n", errno_name(rc));
        pnfs_file_close(file);
        command_done();
        return;
    }
    pnfs_file_close(file);
    uv_timer_start(&step_timer, cancel_check_cb, 300, 0);
}

static void
cmd_cancel_read(const char *path)
{
    cancelled_cb_ran = false;
    struct pnfs_op *op;
    int rc = pnfs_open(client, path, cancel_read_open_cb, NULL, &op);
    if (rc < 0) {
        printf("error %s pnfs_open refused\n", errno_name(rc));
        command_done();
    }
}

/* ---- ranges: several reads at given offsets on one open file ---- */

static struct {
    struct pnfs_file *file;
    struct pnfs_op *op;
    uint64_t off[32], len[32];
    unsigned n, i;
    uint64_t pos, end, got;
    uint32_t crc;
    char out[2048];
    size_t out_len;
} rg;

static void range_step(void);

static void
range_end(const char *error_line)
{
    if (rg.file != NULL)
        pnfs_file_close(rg.file);
    rg.file = NULL;
    if (error_line != NULL)
        printf("%s\n", error_line);
    else
        printf("ok ranges=%s\n", rg.out);
    command_done();
}

static void
range_next(void)
{
    /* got:crc of the range just finished */
    int n = snprintf(rg.out + rg.out_len, sizeof(rg.out) - rg.out_len,
                     "%s%llu:%08x", rg.i > 0 ? "," : "",
                     (unsigned long long)rg.got, rg.crc);
    if (n > 0)
        rg.out_len += (size_t)n;
    if (++rg.i == rg.n) {
        range_end(NULL);
        return;
    }
    rg.pos = rg.off[rg.i];
    rg.end = rg.off[rg.i] + rg.len[rg.i];
    rg.got = 0;
    rg.crc = 0;
    range_step();
}

static void
range_read_cb(void *ctx, ssize_t status, const void *data, const char *error)
{
    if (status < 0) {
        char line[1200];
        snprintf(line, sizeof(line), "error %s %s", errno_name((int)status),
                 error);
        range_end(line);
        return;
    }
    if (status == 0) {
        range_next();
        return;
    }
    rg.crc = crc_update(rg.crc, data, (size_t)status);
    rg.pos += (uint64_t)status;
    rg.got += (uint64_t)status;
    range_step();
}

static void
range_step(void)
{
    if (rg.pos >= rg.end) {
        range_next();
        return;
    }
    int rc = pnfs_file_read(rg.file, rg.pos, (size_t)(rg.end - rg.pos),
                            range_read_cb, NULL, &rg.op);
    if (rc < 0)
        range_end("error EOTHER pnfs_file_read refused");
}

static void
range_open_cb(void *ctx, int status, struct pnfs_file *file,
              const struct pnfs_stat *st, const char *error)
{
    if (status < 0) {
        printf("error %s %s\n", errno_name(status), error);
        command_done();
        return;
    }
    rg.file = file;
    rg.i = 0;
    rg.pos = rg.off[0];
    rg.end = rg.off[0] + rg.len[0];
    rg.got = 0;
    rg.crc = 0;
    rg.out_len = 0;
    rg.out[0] = '\0';
    range_step();
}

static void
cmd_ranges(const char *path, char **specs, unsigned n)
{
    if (n > 32)
        n = 32;
    rg.n = n;
    for (unsigned i = 0; i < n; i++) {
        unsigned long long off = 0, len = 0;
        sscanf(specs[i], "%llu:%llu", &off, &len);
        rg.off[i] = off;
        rg.len[i] = len;
    }
    struct pnfs_op *op;
    int rc = pnfs_open(client, path, range_open_cb, NULL, &op);
    if (rc < 0) {
        printf("error %s pnfs_open refused\n", errno_name(rc));
        command_done();
    }
}

/* ---- stat, sleep, mounted ---- */

static void
stat_done_cb(void *ctx, int status, const struct pnfs_stat *st,
             const char *error)
{
    if (status < 0)
        printf("error %s %s\n", errno_name(status), error);
    else
        printf("ok size=%llu mode=%o ino=%llu mtime=%lld\n",
               (unsigned long long)st->size, (unsigned)st->mode,
               (unsigned long long)st->ino, (long long)st->mtime_sec);
    command_done();
}

static void
sleep_cb(uv_timer_t *t)
{
    printf("ok\n");
    command_done();
}

static void
run_command(char *line)
{
    char *argv[64];
    unsigned argc = 0;
    for (char *tok = strtok(line, " \t"); tok != NULL && argc < 64;
         tok = strtok(NULL, " \t"))
        argv[argc++] = tok;
    if (argc == 0) {
        command_done();
        return;
    }
    const char *cmd = argv[0];
    busy = true;
    if (strcmp(cmd, "stat") == 0 && argc == 2) {
        struct pnfs_op *op;
        int rc = pnfs_stat(client, argv[1], stat_done_cb, NULL, &op);
        if (rc < 0) {
            printf("error %s pnfs_stat refused\n", errno_name(rc));
            command_done();
        }
    } else if (strcmp(cmd, "read") == 0 && argc >= 2 && argc <= 4) {
        cmd_read(argv[1], argc >= 3 ? (unsigned)atoi(argv[2]) : 0,
                 argc >= 4 ? (size_t)atol(argv[3]) : 0);
    } else if (strcmp(cmd, "ranges") == 0 && argc >= 3) {
        cmd_ranges(argv[1], argv + 2, argc - 2);
    } else if (strcmp(cmd, "parallel") == 0 && argc >= 3) {
        cmd_parallel((unsigned)atoi(argv[1]), argv + 2, argc - 2);
    } else if (strcmp(cmd, "cancel-open") == 0 && argc == 2) {
        cmd_cancel_open(argv[1]);
    } else if (strcmp(cmd, "cancel-read") == 0 && argc == 2) {
        cmd_cancel_read(argv[1]);
    } else if (strcmp(cmd, "mounted") == 0) {
        printf("ok mounted=%d\n", pnfs_client_mounted(client));
        command_done();
    } else if (strcmp(cmd, "sleep") == 0 && argc == 2) {
        uv_timer_start(&step_timer, sleep_cb, (uint64_t)atol(argv[1]), 0);
    } else if (strcmp(cmd, "quit") == 0) {
        input_done = true;
        busy = false;
        uv_read_stop((uv_stream_t *)&in_pipe);
        next_command();
    } else {
        printf("error EINVAL unknown command %s\n", cmd);
        command_done();
    }
}

static void
walk_close_cb(uv_handle_t *h, void *arg)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* Run the next complete line, if any and if nothing runs. */
static void
next_command(void)
{
    if (busy)
        return;
    char *nl = memchr(line_buf, '\n', line_len);
    if (nl == NULL) {
        if (input_done) {
            pnfs_client_free(client);
            client = NULL;
            uv_close((uv_handle_t *)&step_timer, NULL);
            if (!uv_is_closing((uv_handle_t *)&in_pipe))
                uv_close((uv_handle_t *)&in_pipe, NULL);
        }
        return;
    }
    *nl = '\0';
    char line[sizeof(line_buf)];
    size_t n = (size_t)(nl - line_buf);
    memcpy(line, line_buf, n + 1);
    memmove(line_buf, nl + 1, line_len - n - 1);
    line_len -= n + 1;
    run_command(line);
}

static void
alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    buf->base = line_buf + line_len;
    buf->len = sizeof(line_buf) - line_len - 1;
}

static void
read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    if (n < 0) {
        input_done = true;
        uv_read_stop(s);
        if (line_len > 0 && line_buf[line_len - 1] != '\n')
            line_buf[line_len++] = '\n';
    } else {
        line_len += (size_t)n;
    }
    next_command();
}

int
main(int argc, char **argv)
{
    struct pnfs_client_config cfg;
    pnfs_client_config_init(&cfg, NULL, NULL);
    int i = 1;
    for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        long v = atol(argv[i + 1]);
        if (strcmp(argv[i], "--nfs-port") == 0)
            cfg.nfs_port = (unsigned)v;
        else if (strcmp(argv[i], "--mount-port") == 0)
            cfg.mount_port = (unsigned)v;
        else if (strcmp(argv[i], "--uid") == 0)
            cfg.uid = (int)v;
        else if (strcmp(argv[i], "--gid") == 0)
            cfg.gid = (int)v;
        else if (strcmp(argv[i], "--timeout") == 0)
            cfg.timeout_ms = (unsigned)v;
        else if (strcmp(argv[i], "--idle") == 0)
            cfg.idle_ms = (unsigned)v;
        else if (strcmp(argv[i], "--read-ahead") == 0)
            cfg.read_ahead = (size_t)v;
        else {
            fprintf(stderr, "pnfs_probe: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (argc - i != 2) {
        fprintf(stderr, "usage: pnfs_probe [options] SERVER EXPORT\n");
        return 2;
    }
    cfg.server = argv[i];
    cfg.export_path = argv[i + 1];
    crc_init();
    loop = uv_default_loop();
    char err[256];
    client = pnfs_client_new(loop, &cfg, err, sizeof(err));
    if (client == NULL) {
        fprintf(stderr, "pnfs_probe: %s\n", err);
        return 2;
    }
    uv_timer_init(loop, &step_timer);
    uv_pipe_init(loop, &in_pipe, 0);
    if (uv_pipe_open(&in_pipe, 0) < 0) {
        fprintf(stderr, "pnfs_probe: stdin must be a pipe\n");
        return 2;
    }
    uv_read_start((uv_stream_t *)&in_pipe, alloc_cb, read_cb);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_walk(loop, walk_close_cb, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    return uv_loop_close(loop) == 0 ? 0 : 3;
}
