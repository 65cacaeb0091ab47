/* dp_listen: socket(), options, bind(), listen(). */
#include "dp_listen.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static int
fail(int fd, char *err, size_t errlen, const char *what, const char *addr)
{
    snprintf(err, errlen, "%s %s: %s", what, addr, strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

static int
set_int(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof(value));
}

int
dp_listen_open(const struct dp_config_listener *l, char *err, size_t errlen)
{
    const struct dp_config_address *a = &l->bind;
    int family = a->addr.ss_family;
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return fail(-1, err, errlen, "socket for", a->text);

    bool tcp = family == AF_INET || family == AF_INET6;
    if (tcp) {
        if (set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) < 0)
            return fail(fd, err, errlen, "SO_REUSEADDR on", a->text);
        if (l->reuse_port && set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1) < 0)
            return fail(fd, err, errlen, "SO_REUSEPORT on", a->text);
        if (l->free_bind && set_int(fd, SOL_IP, IP_FREEBIND, 1) < 0)
            return fail(fd, err, errlen, "IP_FREEBIND on", a->text);
        if (l->keepalive && set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1) < 0)
            return fail(fd, err, errlen, "SO_KEEPALIVE on", a->text);
        if (family == AF_INET6 &&
            set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, l->v6only ? 1 : 0) < 0)
            return fail(fd, err, errlen, "IPV6_V6ONLY on", a->text);
        if (l->ack_timeout_ms > 0 &&
            set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT,
                    l->ack_timeout_ms > 0x7fffffff
                        ? 0x7fffffff : (int)l->ack_timeout_ms) < 0)
            return fail(fd, err, errlen, "TCP_USER_TIMEOUT on", a->text);
        /* Optional speed-ups: failure is not an error. */
        set_int(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, 1);
        set_int(fd, IPPROTO_TCP, TCP_FASTOPEN, 64);
    }
    if (l->interface != NULL &&
        setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, l->interface,
                   (socklen_t)strlen(l->interface)) < 0)
        return fail(fd, err, errlen, "SO_BINDTODEVICE on", a->text);

    if (a->kind == DP_CONFIG_ADDRESS_LOCAL) {
        /* Replace a stale socket file, never anything else. */
        const struct sockaddr_un *sun = (const struct sockaddr_un *)&a->addr;
        struct stat st;
        if (lstat(sun->sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
            unlink(sun->sun_path);
    }
    if (bind(fd, (const struct sockaddr *)&a->addr, a->addr_len) < 0)
        return fail(fd, err, errlen, "bind", a->text);
    if (listen(fd, DP_LISTEN_BACKLOG) < 0)
        return fail(fd, err, errlen, "listen", a->text);
    return fd;
}
