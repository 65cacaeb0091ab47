/*
 * dp_splice: splice(2) steps and the pipe pool (see dp_splice.h).
 *
 * The pipe size: a socket spliced into a pipe takes one of the pipe's
 * buffer slots per received segment (not per page), so the default
 * 16-slot pipe (64 KiB) can be "full" with far fewer bytes, and each
 * splice pair would move little.  DP_PIPE_SIZE (256 KiB, 64 slots) lets
 * one splice in and one splice out carry a whole write step of the HTTP
 * server (SENDFILE_MAX, the fairness budget per writable event).  It is
 * not memory held: a pipe's pages exist only while bytes sit in it,
 * which is at most one step per connection.  F_SETPIPE_SZ is best
 * effort: above /proc/sys/fs/pipe-max-size or the per-user soft limit
 * the pipe keeps its default size, and the step works with that.
 *
 * Pipe to socket, when an application wrote the pipe (WAS): splicing
 * hands the pipe's pages to the socket.  For a TCP peer on this host the
 * segments go through the loopback device, with no queueing discipline,
 * so with TCP's own pacing (BBR, this machine's default) a splice of a
 * full pipe is a burst the sender cannot send at once: the rest leaves
 * from the receiver's ACK processing, where each paced segment re-arms a
 * timer (expensive on a virtual machine).  Reading the pipe and sending
 * from a buffer leaves in steps the connection's writability paces.
 * Measured (docs/performance.md, "WAS 1 MiB, splice or copy"): a WAS
 * 1 MiB body to a loopback wrk, 8 connections, is 1,220-1,500 req/s
 * copied and 680-1,080 spliced, the client spending 0.53 against
 * 0.75-1.4 ms of CPU per response; over a unix socket splicing is ahead
 * (870-1,060 against 800-890 req/s, one curl connection); with cubic
 * instead of BBR the two are even.  So TCP peers on this host get the
 * copy, everything else the splice.
 *
 * Socket to an application's pipe (dp_splice_to_pipe): splice(2) takes a
 * socket's received pages into a pipe directly, so a request body goes
 * into a WAS request pipe or a CGI program's stdin with one system call
 * per step instead of a recv() and a write() (and a copy each way).  A
 * short splice is followed by another one, which answers EAGAIN when the
 * pipe is full or the socket empty; FIONREAD on the source tells which,
 * so that the caller waits for the right descriptor.
 */
#include "dp_splice.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

void
dp_pipe_pool_init(struct dp_pipe_pool *pool, size_t size)
{
    pool->n_free = 0;
    pool->open = 0;
    pool->size = size;
}

int
dp_pipe_pool_get(struct dp_pipe_pool *pool, struct dp_pipe *out)
{
    if (pool->n_free > 0) {
        *out = pool->free[--pool->n_free];
        return 0;
    }
    int fds[2];
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
        return -errno;
    if (pool->size > 0)
        (void)fcntl(fds[1], F_SETPIPE_SZ, (int)pool->size);
    int cap = fcntl(fds[1], F_GETPIPE_SZ);
    out->r = fds[0];
    out->w = fds[1];
    out->fill = 0;
    out->cap = cap > 0 ? (size_t)cap : 4096;
    pool->open++;
    return 0;
}

void
dp_pipe_pool_put(struct dp_pipe_pool *pool, struct dp_pipe *p)
{
    if (p->r < 0)
        return;
    if (p->fill == 0 && pool->n_free < DP_PIPE_POOL_MAX) {
        pool->free[pool->n_free++] = *p;
    } else {
        close(p->r);
        close(p->w);
        pool->open--;
    }
    p->r = p->w = -1;
    p->fill = 0;
}

void
dp_pipe_pool_clear(struct dp_pipe_pool *pool)
{
    while (pool->n_free > 0) {
        struct dp_pipe *p = &pool->free[--pool->n_free];
        close(p->r);
        close(p->w);
        pool->open--;
    }
}

#define FLAGS (SPLICE_F_MOVE | SPLICE_F_NONBLOCK)

/* A splice from the pipe src stopped early (EAGAIN, or fewer bytes than
 * asked): either end may be the cause.  Bytes left in the pipe mean the
 * socket is full. */
static enum dp_splice_status
pipe_wait_side(int src)
{
    int avail = 0;
    if (ioctl(src, FIONREAD, &avail) == 0 && avail > 0)
        return DP_SPLICE_DST_AGAIN;
    return DP_SPLICE_SRC_AGAIN;
}

enum dp_splice_status
dp_splice_step(int src, bool src_is_pipe, int64_t src_left,
               struct dp_pipe *pipe, int dst, size_t max,
               struct dp_splice_result *r)
{
    r->in = r->out = 0;
    r->err = 0;
    if (src < 0)
        src_left = 0;
    for (;;) {
        if (r->out >= max)
            return DP_SPLICE_BUDGET;
        size_t budget = max - (size_t)r->out;
        if (pipe != NULL && pipe->r >= 0 && pipe->fill > 0) {
            /* first what the pipe holds: EAGAIN can only be dst's */
            size_t want = pipe->fill < budget ? pipe->fill : budget;
            ssize_t n = splice(pipe->r, NULL, dst, NULL, want, FLAGS);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN)
                return DP_SPLICE_DST_AGAIN;
            if (n <= 0) {
                r->err = n < 0 ? errno : EPIPE;
                return DP_SPLICE_DST_ERROR;
            }
            pipe->fill -= (size_t)n;
            r->out += (uint64_t)n;
            continue;
        }
        uint64_t want = budget;
        if (src_left >= 0) {
            uint64_t left = (uint64_t)src_left - r->in;
            if (left == 0)
                return DP_SPLICE_SRC_DONE;
            if (left < want)
                want = left;
        }
        if (src_is_pipe) {
            ssize_t n = splice(src, NULL, dst, NULL, (size_t)want, FLAGS);
            if (n > 0) {
                r->in += (uint64_t)n;
                r->out += (uint64_t)n;
                if ((uint64_t)n == want || r->out >= max ||
                    (src_left >= 0 && r->in == (uint64_t)src_left))
                    continue;
                /* short: the pipe ran dry or the socket filled up; the
                 * pipe's count tells which, without a splice that fails
                 * with EAGAIN first */
                return pipe_wait_side(src);
            }
            if (n == 0)
                return DP_SPLICE_SRC_END;
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return pipe_wait_side(src);
            r->err = errno;
            return DP_SPLICE_DST_ERROR;
        }
        if (want > pipe->cap)
            want = pipe->cap;
        ssize_t n = splice(src, NULL, pipe->w, NULL, (size_t)want, FLAGS);
        if (n > 0) {
            pipe->fill += (size_t)n;
            r->in += (uint64_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return DP_SPLICE_SRC_AGAIN;     /* the pipe is empty here */
        r->err = n < 0 ? errno : 0;
        return DP_SPLICE_SRC_END;
    }
}

/* Which side made a splice into a pipe wait: the source still holding
 * bytes means the pipe is full.  A byte that arrives just after the
 * splice makes this say DST_AGAIN with room in the pipe: the pipe's
 * writability then ends the wait at once, and the next step goes on. */
static enum dp_splice_status
to_pipe_wait_side(int src)
{
    int avail = 0;
    if (ioctl(src, FIONREAD, &avail) == 0 && avail > 0)
        return DP_SPLICE_DST_AGAIN;
    return DP_SPLICE_SRC_AGAIN;
}

enum dp_splice_status
dp_splice_to_pipe(int src, int64_t src_left, int dst, size_t max,
                  struct dp_splice_result *r)
{
    r->in = r->out = 0;
    r->err = 0;
    for (;;) {
        if (src_left >= 0 && r->in == (uint64_t)src_left)
            return DP_SPLICE_SRC_DONE;
        if (r->in >= max)
            return DP_SPLICE_BUDGET;
        uint64_t want = max - r->in;
        if (src_left >= 0 && (uint64_t)src_left - r->in < want)
            want = (uint64_t)src_left - r->in;
        ssize_t n = splice(src, NULL, dst, NULL, (size_t)want, FLAGS);
        if (n > 0) {
            r->in += (uint64_t)n;
            r->out = r->in;
            continue;
        }
        if (n == 0)
            return DP_SPLICE_SRC_END;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            return to_pipe_wait_side(src);
        r->err = errno;
        return errno == EPIPE ? DP_SPLICE_DST_ERROR : DP_SPLICE_SRC_END;
    }
}

static bool
in4_loopback(const struct in_addr *a)
{
    return (ntohl(a->s_addr) >> 24) == 127;
}

bool
dp_splice_peer_on_host(const struct sockaddr_storage *peer,
                       const struct sockaddr_storage *local)
{
    if (peer->ss_family == AF_INET) {
        const struct sockaddr_in *p = (const struct sockaddr_in *)peer;
        if (in4_loopback(&p->sin_addr))
            return true;
        const struct sockaddr_in *l = (const struct sockaddr_in *)local;
        return l != NULL && l->sin_family == AF_INET &&
               l->sin_addr.s_addr == p->sin_addr.s_addr;
    }
    if (peer->ss_family == AF_INET6) {
        const struct sockaddr_in6 *p = (const struct sockaddr_in6 *)peer;
        if (IN6_IS_ADDR_LOOPBACK(&p->sin6_addr))
            return true;
        if (IN6_IS_ADDR_V4MAPPED(&p->sin6_addr)) {
            struct in_addr a;
            memcpy(&a, &p->sin6_addr.s6_addr[12], sizeof(a));
            if (in4_loopback(&a))
                return true;
        }
        const struct sockaddr_in6 *l = (const struct sockaddr_in6 *)local;
        return l != NULL && l->sin6_family == AF_INET6 &&
               memcmp(&l->sin6_addr, &p->sin6_addr,
                      sizeof(p->sin6_addr)) == 0;
    }
    return false;
}

bool
dp_splice_pipe_suits(int sock, const struct sockaddr_storage *peer)
{
    if (peer->ss_family != AF_INET && peer->ss_family != AF_INET6)
        return true;
    if (dp_splice_peer_on_host(peer, NULL))
        return false;
    struct sockaddr_storage local;
    socklen_t len = sizeof(local);
    if (getsockname(sock, (struct sockaddr *)&local, &len) != 0)
        return true;
    return !dp_splice_peer_on_host(peer, &local);
}
