/*
 * examples/lhttp/hello: a small HTTP/1.1 server for portierd's local HTTP
 * (LHTTP_PATH, docs/translation.md): it accepts connections on the listening
 * socket it inherits as fd 0, serves each in a thread of its own with
 * keep-alive, and exits when fd 0 fails.
 *   GET  /...            "Hello from LHTTP pid N\n" plus the arguments
 *                        and the environment variable GREETING
 *   /info                method, target, Host header, pid
 *   POST /...            the request body back (Content-Length only)
 *   /slow?MS             waits MS milliseconds, then answers the pid
 *   /crash               exits with status 3 without answering
 *   /count               "pid/count" (the /count and /cacheable requests
 *                        this process answered so far), no cache headers
 *   /cacheable           the same with Cache-Control: max-age=60
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX 16384

static int n_args;
static char **args;

static int
write_all(int fd, const void *data, size_t n)
{
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static unsigned counted;

/* The answer with `extra` header lines ("Name: value\r\n" each). */
static int
respond_with(int fd, int status, const char *extra, const char *body,
             size_t len)
{
    char head[512];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\n"
                     "Content-Type: text/plain\r\n%s"
                     "Content-Length: %zu\r\n\r\n", status,
                     status == 200 ? "OK" : "Bad Request", extra, len);
    if (write_all(fd, head, (size_t)n) != 0)
        return -1;
    return write_all(fd, body, len);
}

static int
respond(int fd, int status, const char *body, size_t len)
{
    return respond_with(fd, status, "", body, len);
}

/* Serve one connection until the client closes it. */
static void *
serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char *buf = malloc(HEAD_MAX + 1);
    size_t fill = 0;
    while (buf != NULL) {
        char *end;
        while ((end = memmem(buf, fill, "\r\n\r\n", 4)) == NULL) {
            if (fill == HEAD_MAX)
                goto done;
            ssize_t r = read(fd, buf + fill, HEAD_MAX - fill);
            if (r <= 0)
                goto done;
            fill += (size_t)r;
        }
        size_t head_len = (size_t)(end - buf) + 4;
        buf[head_len - 2] = '\0';
        char method[16] = "", target[1024] = "";
        if (sscanf(buf, "%15s %1023s", method, target) != 2)
            goto done;
        const char *cl = strcasestr(buf, "\r\ncontent-length:");
        const char *host = strcasestr(buf, "\r\nhost:");
        size_t body_len = cl != NULL ? strtoul(cl + 17, NULL, 10) : 0;
        char hostv[256] = "";
        if (host != NULL)
            sscanf(host + 7, " %255[^\r]", hostv);
        char *body = malloc(body_len + 1);
        if (body == NULL)
            goto done;
        size_t have = fill - head_len < body_len ? fill - head_len
                                                  : body_len;
        memcpy(body, buf + head_len, have);
        memmove(buf, buf + head_len + have, fill - head_len - have);
        fill -= head_len + have;
        while (have < body_len) {
            ssize_t r = read(fd, body + have, body_len - have);
            if (r <= 0) {
                free(body);
                goto done;
            }
            have += (size_t)r;
        }
        char out[4096];
        int n;
        if (strncmp(target, "/crash", 6) == 0) {
            fprintf(stderr, "lhttp-hello: crashing as asked\n");
            exit(3);
        }
        if (strcmp(method, "POST") == 0) {
            int rc = respond(fd, 200, body, body_len);
            free(body);
            if (rc != 0)
                goto done;
            continue;
        }
        free(body);
        const char *extra = "";
        if (strcmp(target, "/count") == 0 ||
            strcmp(target, "/cacheable") == 0) {
            unsigned c = __atomic_add_fetch(&counted, 1, __ATOMIC_SEQ_CST);
            n = snprintf(out, sizeof(out), "%d/%u\n", (int)getpid(), c);
            if (target[1] == 'c' && target[2] == 'a')
                extra = "Cache-Control: max-age=60\r\n";
        } else if (strncmp(target, "/slow?", 6) == 0) {
            long ms = strtol(target + 6, NULL, 10);
            struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
            nanosleep(&ts, NULL);
            n = snprintf(out, sizeof(out), "%d\n", (int)getpid());
        } else if (strncmp(target, "/info", 5) == 0) {
            n = snprintf(out, sizeof(out), "method=%s\ntarget=%s\n"
                         "host=%s\npid=%d\n", method, target, hostv,
                         (int)getpid());
        } else {
            const char *g = getenv("GREETING");
            n = snprintf(out, sizeof(out), "Hello from LHTTP pid %d\n",
                         (int)getpid());
            for (int i = 1; i < n_args && n < 2048; i++)
                n += snprintf(out + n, sizeof(out) - (size_t)n, "arg %s\n",
                              args[i]);
            if (g != NULL)
                n += snprintf(out + n, sizeof(out) - (size_t)n,
                              "greeting %s\n", g);
        }
        if (respond_with(fd, 200, extra, out, (size_t)n) != 0)
            goto done;
    }
done:
    free(buf);
    close(fd);
    return NULL;
}

int
main(int argc, char **argv)
{
    n_args = argc;
    args = argv;
    for (;;) {
        int fd = accept(0, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            perror("lhttp-hello: accept on fd 0");
            return 1;
        }
        pthread_t t;
        if (pthread_create(&t, NULL, serve, (void *)(intptr_t)fd) != 0) {
            close(fd);
            continue;
        }
        pthread_detach(t);
    }
}
