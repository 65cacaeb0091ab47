/*
 * dp_splice: zero-copy transfer of body bytes from a pipe or a socket to
 * a plain socket with splice(2), and a small pool of pipe pairs for the
 * socket-to-socket case (splice needs a pipe on one side).
 *
 * Promises:
 * - dp_splice_step() moves at most `max` bytes towards the destination
 *   and at most `src_left` bytes out of the source, and says why it
 *   stopped: the budget is used up, the source is done or has nothing
 *   now, the destination is full, or one end failed.  It never blocks
 *   (both ends may be blocking descriptors: SPLICE_F_NONBLOCK covers the
 *   pipe side; sockets must be O_NONBLOCK).  Bytes already in the
 *   intermediate pipe always go out before new ones come in.
 * - dp_splice_to_pipe() moves at most `max` bytes from a socket or a
 *   pipe straight into a pipe an application reads (a WAS request pipe,
 *   a CGI program's stdin), with no intermediate pipe, at most
 *   `src_left` out of the source, never blocking, and says why it
 *   stopped as dp_splice_step() does.
 * - An intermediate pipe (struct dp_pipe) counts the bytes it holds;
 *   the pool takes a pipe back only when it is empty (else it closes
 *   it), keeps at most DP_PIPE_POOL_MAX of them, and closes all of them
 *   in dp_pipe_pool_clear().  `open` counts the pipes alive (free or
 *   handed out), so that tests can see none leaks.
 * - dp_splice_pipe_suits() says whether a pipe an application writes
 *   into (a WAS response pipe) should be spliced into a connected
 *   socket or read and sent (copied): copied for a TCP peer on this
 *   host, spliced otherwise (dp_splice.c says why).
 */
#ifndef PORTIER_DP_SPLICE_H
#define PORTIER_DP_SPLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Pipes kept free per pool (per worker): enough for the connections
 * that splice at the same time in a burst, few descriptors when idle. */
#define DP_PIPE_POOL_MAX 16

/* The size asked for with F_SETPIPE_SZ; see dp_splice.c. */
#define DP_PIPE_SIZE (256 * 1024)

struct dp_pipe {
    int r, w;           /* -1: none */
    size_t fill;        /* bytes in the pipe */
    size_t cap;         /* its capacity (F_GETPIPE_SZ) */
};

struct dp_pipe_pool {
    struct dp_pipe free[DP_PIPE_POOL_MAX];
    unsigned n_free;
    unsigned open;      /* pipes alive: free and handed out */
    size_t size;        /* F_SETPIPE_SZ for new pipes; 0: the default */
};

void
dp_pipe_pool_init(struct dp_pipe_pool *pool, size_t size);

/** An empty pipe (non-blocking, close-on-exec) into *out: 0, or -errno
 *  when none can be made (EMFILE). */
int
dp_pipe_pool_get(struct dp_pipe_pool *pool, struct dp_pipe *out);

/** Give p back (kept when empty and there is room, else closed); p->r
 *  and p->w are -1 afterwards.  Nothing happens when p holds no pipe. */
void
dp_pipe_pool_put(struct dp_pipe_pool *pool, struct dp_pipe *p);

/** Close the free pipes (at shutdown). */
void
dp_pipe_pool_clear(struct dp_pipe_pool *pool);

enum dp_splice_status {
    DP_SPLICE_BUDGET = 1,   /* `max` bytes sent: yield to others */
    DP_SPLICE_SRC_DONE,     /* src_left bytes taken, and all sent */
    DP_SPLICE_SRC_AGAIN,    /* the source has nothing now, nothing is
                               left to send: wait for the source */
    DP_SPLICE_DST_AGAIN,    /* the destination is full: wait for it */
    DP_SPLICE_SRC_END,      /* the source said end of file (err 0) or
                               failed (err) */
    DP_SPLICE_DST_ERROR,    /* the destination failed (err) */
};

struct dp_splice_result {
    uint64_t in;            /* bytes taken from the source */
    uint64_t out;           /* bytes written to the destination */
    int err;                /* errno for SRC_END and DST_ERROR */
};

/**
 * Move bytes from src to the socket dst.  src is a pipe (src_is_pipe:
 * spliced to dst directly) or a socket (spliced through `pipe`, which
 * must then be a pipe from the pool); src < 0 or src_left 0: only send
 * what `pipe` holds.  src_left -1: no limit (until EAGAIN or EOF).
 * `pipe` may be NULL when src is a pipe.
 */
enum dp_splice_status
dp_splice_step(int src, bool src_is_pipe, int64_t src_left,
               struct dp_pipe *pipe, int dst, size_t max,
               struct dp_splice_result *r);

/**
 * Move bytes from src (a socket, O_NONBLOCK, or a pipe) into the pipe
 * dst: at most `max` bytes, at most src_left (-1: no limit, until EAGAIN
 * or end of file).  r->in and r->out are the same count here.  When a
 * splice has nothing to do (EAGAIN), the bytes src still holds tell the
 * side to wait for: some left means dst is full (DST_AGAIN), none means
 * src is empty (SRC_AGAIN).  DST_ERROR: the reader of dst is gone (EPIPE,
 * err); any other failure is the source's (SRC_END with err).
 */
enum dp_splice_status
dp_splice_to_pipe(int src, int64_t src_left, int dst, size_t max,
                  struct dp_splice_result *r);

/**
 * Whether the TCP address `peer` is on this host as seen from a socket
 * whose local address is `local` (may be NULL): a loopback address
 * (127.0.0.0/8, ::1, or 127/8 mapped into IPv6) or the same address as
 * `local`.  False for every other family (unix sockets).  Pure.
 */
bool
dp_splice_peer_on_host(const struct sockaddr_storage *peer,
                       const struct sockaddr_storage *local);

/**
 * Whether to splice from an application's pipe into the connected
 * socket `sock` whose peer is `peer`: false when the peer is a TCP peer
 * on this host (dp_splice_peer_on_host, with getsockname() of sock),
 * true otherwise.
 */
bool
dp_splice_pipe_suits(int sock, const struct sockaddr_storage *peer);

#endif
