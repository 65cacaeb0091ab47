/*
 * was-edge: a misbehaving WAS application for the backend edge-case table
 * (integration/test_backend_edges.py), on the was_app library.  The
 * second segment of the URI path picks what it does (/edge/MODE/...);
 * what the library will not send (a PREMATURE that contradicts the
 * body, a NUL in a header, status 100, bytes past LENGTH, a head cut
 * off) it writes raw
 * to the control socket (fd 3) or the response pipe (fd 1).  After a raw
 * answer it reads fd 3 until the container closes it, then exits.
 */
#include "was_app.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024u * 1024u)
#define HUGE (8u * MIB)
#define STREAM (256ull * MIB)

/* A block of the 251-byte cycle; its size is a multiple of 251. */
static unsigned char block[251 * 256];

static void
raw_packet(unsigned command, const void *payload, uint16_t length)
{
    unsigned char buf[4 + 256];
    uint16_t cmd = (uint16_t)command;
    memcpy(buf, &length, 2);
    memcpy(buf + 2, &cmd, 2);
    if (length > 0)
        memcpy(buf + 4, payload, length);
    if (write(3, buf, 4u + length) != (ssize_t)(4u + length))
        exit(2);
}

static void
raw_u32(unsigned command, uint32_t value)
{
    raw_packet(command, &value, 4);
}

static void
raw_u64(unsigned command, uint64_t value)
{
    raw_packet(command, &value, 8);
}

/* The connection is out of step now: wait for the container to close the
 * control socket (or kill us), then exit. */
static void __attribute__((noreturn))
drain_and_exit(void)
{
    char buf[4096];
    while (read(3, buf, sizeof(buf)) > 0)
        ;
    exit(0);
}

static int
write_pattern(struct was_app *app, uint64_t n)
{
    uint64_t sent = 0;
    while (sent < n) {
        size_t part = n - sent < sizeof(block) ? (size_t)(n - sent)
                                               : sizeof(block);
        if (was_app_write(app, block, part) != 0)
            return -1;
        sent += part;
    }
    return 0;
}

static int
echo(struct was_app *app)
{
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    ssize_t n;
    if (buf == NULL)
        return was_app_abort(app);
    while ((n = was_app_read(app, buf + len, cap - len)) > 0) {
        len += (size_t)n;
        if (len == cap) {
            char *more = realloc(buf, cap * 2);
            if (more == NULL)
                break;
            buf = more;
            cap *= 2;
        }
    }
    if (n < 0) {
        free(buf);
        return was_app_abort(app);
    }
    was_app_set_header(app, "content-type", "application/octet-stream");
    int r = was_app_set_length(app, len) == 0 &&
                    was_app_write(app, buf, len) == 0
                ? 0
                : -1;
    free(buf);
    return r;
}

static int
serve(struct was_app *app)
{
    char mode[64] = "";
    const char *uri = was_app_uri(app);
    /* /edge/MODE/... */
    if (strncmp(uri, "/edge/", 6) == 0)
        sscanf(uri + 6, "%63[^/?]", mode);

    if (strcmp(mode, "empty") == 0)
        return was_app_status(app, 200);
    if (strcmp(mode, "body") == 0) {
        was_app_set_length(app, 11);
        return was_app_puts(app, "hello world");
    }
    if (strcmp(mode, "huge") == 0) {
        was_app_set_length(app, HUGE);
        return write_pattern(app, HUGE);
    }
    if (strcmp(mode, "stream") == 0) {
        was_app_set_length(app, STREAM);
        return write_pattern(app, STREAM);
    }
    if (strcmp(mode, "echo") == 0)
        return echo(app);
    if (strcmp(mode, "ignore") == 0)
        return was_app_puts(app, "ignored");
    if (strcmp(mode, "slow") == 0) {
        struct timespec ts = { 0, 500 * 1000000L };
        nanosleep(&ts, NULL);
        return was_app_puts(app, "slow");
    }
    if (strcmp(mode, "close_head") == 0) {
        static const char h[] = "content-type=text/plain";
        raw_u32(WAS_CMD_STATUS, 200);
        raw_packet(WAS_CMD_HEADER, h, sizeof(h) - 1);
        exit(0);
    }
    if (strcmp(mode, "premature_end") == 0) {
        was_app_set_length(app, 100);
        was_app_write(app, "ten bytes.", 10);
        exit(0);
    }
    if (strcmp(mode, "valid_premature") == 0) {
        was_app_set_length(app, 5000);
        was_app_write(app, block, 1000);
        return was_app_abort(app);
    }
    if (strcmp(mode, "malformed_premature") == 0) {
        was_app_set_length(app, 5000);
        was_app_write(app, block, 1000);
        raw_u64(WAS_CMD_PREMATURE, 500);    /* less than was sent */
        drain_and_exit();
    }
    if (strcmp(mode, "excess") == 0) {
        /* "okEXTRA" on the pipe before the head that says LENGTH 2: a
         * container that reuses the process would take "EXTRA" as the
         * next response's first bytes */
        if (write(1, "okEXTRA", 7) != 7)
            exit(2);
        /* STATUS, DATA and LENGTH in one write: the container reads
         * them together, so it knows the length before the body starts
         * (separate writes could be read apart under load, and the body
         * would start with its length unknown: seen once in CI) */
        unsigned char b[3 * 4 + 4 + 8];
        uint16_t len = 4, cmd = WAS_CMD_STATUS;
        uint32_t status = 200;
        uint64_t length = 2;
        memcpy(b, &len, 2);
        memcpy(b + 2, &cmd, 2);
        memcpy(b + 4, &status, 4);
        len = 0;
        cmd = WAS_CMD_DATA;
        memcpy(b + 8, &len, 2);
        memcpy(b + 10, &cmd, 2);
        len = 8;
        cmd = WAS_CMD_LENGTH;
        memcpy(b + 12, &len, 2);
        memcpy(b + 14, &cmd, 2);
        memcpy(b + 16, &length, 8);
        if (write(3, b, sizeof(b)) != (ssize_t)sizeof(b))
            exit(2);
        drain_and_exit();
    }
    if (strcmp(mode, "bad_name") == 0) {
        was_app_set_header(app, "bad name", "x");
        return was_app_puts(app, "ok");
    }
    if (strcmp(mode, "bad_value") == 0) {
        static const char h[] = "x-a=a\0b";
        raw_u32(WAS_CMD_STATUS, 200);
        raw_packet(WAS_CMD_HEADER, h, sizeof(h) - 1);
        raw_packet(WAS_CMD_NO_DATA, NULL, 0);
        drain_and_exit();
    }
    if (strcmp(mode, "status100") == 0) {
        raw_u32(WAS_CMD_STATUS, 100);
        raw_packet(WAS_CMD_NO_DATA, NULL, 0);
        drain_and_exit();
    }
    if (strcmp(mode, "hold") == 0) {
        was_app_set_length(app, 100);
        was_app_write(app, "ten bytes.", 10);
        for (;;)
            pause();
    }
    return was_app_status(app, 404);
}

int
main(void)
{
    for (size_t i = 0; i < sizeof(block); i++)
        block[i] = (unsigned char)(i % 251);
    struct was_app *app = was_app_new();
    if (app == NULL)
        return 1;
    int r;
    while ((r = was_app_accept(app)) > 0) {
        if (serve(app) != 0 && !was_app_stopped(app))
            fprintf(stderr, "was-edge: %s\n", was_app_error(app));
        if (was_app_end(app) != 0)
            fprintf(stderr, "was-edge: %s\n", was_app_error(app));
    }
    was_app_free(app);
    return r < 0 ? 1 : 0;
}
