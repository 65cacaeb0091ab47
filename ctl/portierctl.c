/*
 * portierctl: send one control command to a data plane (docs/portierctl.md).
 *
 * The command line and the datagram come from ctl_args, the STATS reply
 * text from ctl_stats; this file does the I/O: resolve, open the socket,
 * send, and for stats wait for the answer.  Exit status: 0 sent (and
 * answered, for stats), 1 usage error, 2 the server could not be reached,
 * did not answer in time or answered something malformed.
 */
#include "ctl_args.h"
#include "ctl_protocol.h"
#include "ctl_stats.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef PORTIER_VERSION
#define PORTIER_VERSION "unknown"
#endif

enum {
    EXIT_USAGE = 1,
    EXIT_FAILED = 2,
};

/* Largest reply we read; an AF_LOCAL datagram may exceed the UDP limit. */
#define REPLY_MAX (256 * 1024)

static int
fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print "portierctl: <message>" to stderr; returns status. */
static int
fail(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("portierctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return status;
}

static void
set_send_timeout(int fd, double seconds)
{
    struct timeval tv = {
        .tv_sec = (time_t)seconds,
        .tv_usec = (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6),
    };
    /* Best effort: without it a full local queue blocks the send. */
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* A connected AF_LOCAL datagram socket, or -1 (message printed, *status
 * set). */
static int
open_local(const struct ctl_args *a, int *status)
{
    int fd = socket(AF_LOCAL, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *status = fail(EXIT_FAILED, "cannot create a local socket: %s",
                       strerror(errno));
        return -1;
    }
    if (a->command->kind == CTL_ARGS_K_STATS) {
        /* Autobind an abstract address so that the server can answer. */
        struct sockaddr_un self = { .sun_family = AF_LOCAL };
        if (bind(fd, (const struct sockaddr *)&self,
                 sizeof(self.sun_family)) < 0) {
            *status = fail(EXIT_FAILED,
                           "cannot bind a local reply address: %s",
                           strerror(errno));
            close(fd);
            return -1;
        }
    }
    if (connect(fd, (const struct sockaddr *)&a->server.local,
                a->server.local_len) < 0) {
        *status = fail(EXIT_FAILED, "cannot send to %s: %s", a->server.text,
                       strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static bool
is_multicast(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return IN_MULTICAST(ntohl(in->sin_addr.s_addr));
    }
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
    return IN6_IS_ADDR_MULTICAST(&in6->sin6_addr);
}

/* Apply %interface to a resolved address and its socket.  Returns 0 or an
 * exit status (message printed). */
static int
apply_interface(const struct ctl_args *a, int fd, struct sockaddr *sa)
{
    const char *ifname = a->server.interface;
    if (ifname[0] == '\0')
        return 0;
    unsigned index = if_nametoindex(ifname);
    if (index == 0)
        return fail(EXIT_FAILED, "unknown interface '%s' in %s: %s",
                    ifname, a->server.text, strerror(errno));
    if (sa->sa_family == AF_INET) {
        if (!is_multicast(sa))
            return fail(EXIT_USAGE,
                        "%s: %%interface is only for a multicast or an "
                        "IPv6 link-local address", a->server.text);
        struct ip_mreqn mreq = { .imr_ifindex = (int)index };
        if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &mreq,
                       sizeof(mreq)) < 0)
            return fail(EXIT_FAILED, "cannot send multicast via %s: %s",
                        ifname, strerror(errno));
        return 0;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)sa;
    if (IN6_IS_ADDR_MULTICAST(&in6->sin6_addr)) {
        if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &index,
                       sizeof(index)) < 0)
            return fail(EXIT_FAILED, "cannot send multicast via %s: %s",
                        ifname, strerror(errno));
    } else if (!IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr)) {
        return fail(EXIT_USAGE,
                    "%s: %%interface is only for a multicast or an IPv6 "
                    "link-local address", a->server.text);
    }
    if (IN6_IS_ADDR_LINKLOCAL(&in6->sin6_addr) ||
        IN6_IS_ADDR_MC_LINKLOCAL(&in6->sin6_addr))
        in6->sin6_scope_id = index;
    return 0;
}

/* A connected UDP socket, or -1 (message printed, *status set). */
static int
open_inet(const struct ctl_args *a, int *status)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_DGRAM,
        .ai_flags = AI_NUMERICSERV,
    };
    struct addrinfo *list = NULL;
    int g = getaddrinfo(a->server.host, a->server.port, &hints, &list);
    if (g != 0) {
        *status = fail(EXIT_FAILED, "cannot resolve '%s': %s",
                       a->server.host,
                       g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
        return -1;
    }

    int fd = -1;
    int saved = 0;
    for (struct addrinfo *ai = list; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        struct sockaddr_storage ss = { 0 };
        memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
        struct sockaddr *sa = (struct sockaddr *)&ss;
        if (a->command->kind == CTL_ARGS_K_STATS && is_multicast(sa)) {
            *status = fail(EXIT_USAGE,
                           "stats needs a unicast or local server, not the "
                           "multicast address %s", a->server.text);
            goto out;
        }
        fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        if (ai->ai_family == AF_INET) {
            int one = 1;
            /* So that a broadcast address works, as with the upstream
             * client. */
            (void)setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one,
                             sizeof(one));
        }
        int r = apply_interface(a, fd, sa);
        if (r != 0) {
            *status = r;
            close(fd);
            fd = -1;
            goto out;
        }
        if (connect(fd, sa, ai->ai_addrlen) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    if (fd < 0)
        *status = fail(EXIT_FAILED, "cannot send to %s: %s", a->server.text,
                       saved != 0 ? strerror(saved)
                                  : "no IPv4 or IPv6 address");
out:
    freeaddrinfo(list);
    return fd;
}

static double
now(void)
{
    struct timespec ts = { 0 };
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Wait for the STATS reply and print it.  Returns the exit status. */
static int
await_stats(const struct ctl_args *a, int fd)
{
    uint8_t *buf = malloc(REPLY_MAX);
    if (buf == NULL)
        return fail(EXIT_FAILED, "out of memory");
    double deadline = now() + a->timeout;
    int status = EXIT_FAILED;
    for (;;) {
        double left = deadline - now();
        if (left <= 0) {
            status = fail(EXIT_FAILED, "no answer from %s within %g s",
                          a->server.text, a->timeout);
            break;
        }
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int n = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            status = fail(EXIT_FAILED, "waiting for %s: %s", a->server.text,
                          strerror(errno));
            break;
        }
        if (n == 0)
            continue;
        ssize_t len = recv(fd, buf, REPLY_MAX, MSG_TRUNC);
        if (len < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (len < 0) {
            status = fail(EXIT_FAILED, "no answer from %s: %s",
                          a->server.text, strerror(errno));
            break;
        }
        if ((size_t)len > REPLY_MAX) {
            status = fail(EXIT_FAILED,
                          "reply from %s of %zd bytes is over the limit of "
                          "%d", a->server.text, len, REPLY_MAX);
            break;
        }
        struct pr_buf text = PR_BUF_INIT;
        char err[256];
        int r = ctl_stats_format_reply(
            &text, buf, (size_t)len,
            a->json ? CTL_STATS_JSON : CTL_STATS_LINES, err, sizeof(err));
        if (r == -ENOMEM) {
            status = fail(EXIT_FAILED, "out of memory");
        } else if (r < 0) {
            status = fail(EXIT_FAILED, "malformed STATS reply from %s: %s",
                          a->server.text, err);
        } else if (fwrite(text.data, 1, text.len, stdout) != text.len ||
                   fflush(stdout) != 0) {
            status = fail(EXIT_FAILED, "cannot write the reply: %s",
                          strerror(errno));
        } else {
            status = 0;
        }
        pr_buf_free(&text);
        break;
    }
    free(buf);
    return status;
}

static int
run(const struct ctl_args *a)
{
    int status = EXIT_FAILED;
    int fd = a->server.kind == CTL_ADDR_LOCAL ? open_local(a, &status)
                                              : open_inet(a, &status);
    if (fd < 0)
        return status;
    set_send_timeout(fd, a->timeout);
    ssize_t n = send(fd, a->datagram.data, a->datagram.len, 0);
    if (n < 0 || (size_t)n != a->datagram.len) {
        status = fail(EXIT_FAILED, "cannot send to %s: %s", a->server.text,
                      n < 0 ? strerror(errno) : "short send");
    } else if (a->command->kind == CTL_ARGS_K_STATS) {
        status = await_stats(a, fd);
    } else {
        status = 0;
    }
    close(fd);
    return status;
}

int
main(int argc, char **argv)
{
    struct ctl_args a;
    char err[CTL_ARGS_ERROR_SIZE];
    int r = ctl_args_parse(&a, argc, argv, err, sizeof(err));
    int status = EXIT_FAILED;
    if (r == -EINVAL) {
        status = fail(EXIT_USAGE, "%s", err);
    } else if (r < 0) {
        status = fail(EXIT_FAILED, "%s", err[0] != '\0' ? err : strerror(-r));
    } else if (a.action == CTL_ARGS_HELP) {
        ctl_args_usage(stdout);
        status = 0;
    } else if (a.action == CTL_ARGS_HELP_MARKDOWN) {
        ctl_args_markdown(stdout);
        status = 0;
    } else if (a.action == CTL_ARGS_VERSION) {
        printf("portierctl %s\n", PORTIER_VERSION);
        status = 0;
    } else {
        status = run(&a);
    }
    ctl_args_free(&a);
    if (fflush(stdout) != 0 && status == 0)
        status = fail(EXIT_FAILED, "cannot write to stdout: %s",
                      strerror(errno));
    return status;
}
