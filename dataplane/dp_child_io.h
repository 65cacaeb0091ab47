/*
 * dp_child_io: a child process's pipes as bodies: a body copied into the
 * child's stdin (struct dp_feed), and the child's stdout read as a body
 * source (dp_pipe_body_new).  Used by CGI and PIPE filters.
 *
 * Promises:
 * - Non-blocking pipes driven by uv_poll_t on the spawner's loop; never a
 *   blocking call.  Back-pressure both ways: the feeder reads its body
 *   only while the pipe takes bytes, the pipe body reads the pipe only
 *   while its consumer takes bytes.
 * - When the fed body offers a readable descriptor (dp_body_fd(): a
 *   plain client socket with a Content-Length request body), the feeder
 *   splices it into the pipe itself (dp_splice_to_pipe) and reports the
 *   bytes with dp_body_fd_advance(); otherwise it copies what the body
 *   hands over.  Both paths end the same way (DONE, CLOSED, ERROR).
 * - The pipe body owns its descriptor and the child (dp_spawn): at EOF
 *   the child is released with a grace period to exit on its own; on an
 *   error, a timeout or dp_body_close() it is released at once (killed).
 *   The timeout counts only while the body waits for the child (not
 *   while the consumer applies back-pressure): no byte for timeout_ms
 *   ends the body with error(ETIMEDOUT).
 * - A declared length (Content-Length of a CGI head) is enforced: fewer
 *   bytes before EOF is error(), bytes beyond it are dropped.
 * - Both objects are malloc'ed (their libuv handles outlive a pool by a
 *   loop iteration) and are also tied to a pool: when the pool is
 *   released first, they are closed then.
 */
#ifndef PORTIER_DP_CHILD_IO_H
#define PORTIER_DP_CHILD_IO_H

#include "dp_body.h"
#include "dp_spawn.h"

#include <uv.h>

#include <stddef.h>
#include <stdint.h>

struct dp_pool;
struct dp_feed;

enum dp_feed_event {
    DP_FEED_PROGRESS = 1,     /* the child took bytes */
    DP_FEED_DONE,             /* the whole body went in; stdin closed */
    DP_FEED_CLOSED,           /* the child closed its stdin early (EPIPE);
                               * the rest of the body was dropped */
    DP_FEED_ERROR,            /* the body failed (msg says why) */
};

/**
 * Copy `body` into `fd` (the write end of the child's stdin pipe; taken
 * over and made non-blocking).  `event` (may be NULL) reports progress
 * and the end; after DONE, CLOSED or ERROR the feeder has closed the
 * descriptor and let go of the body, and it calls nothing more.  NULL
 * when out of memory (fd closed, body closed).
 */
struct dp_feed *
dp_feed_start(struct dp_pool *pool, struct dp_body *body, int fd,
              void (*event)(void *ctx, enum dp_feed_event ev,
                            const char *msg),
              void *ctx);

/** Stop early: close the body and the descriptor; no more events.  A
 *  feeder that has ended may still be passed (nothing happens). */
void
dp_feed_stop(struct dp_feed *feed);

/**
 * A body source reading `fd` (the read end of the child's stdout pipe;
 * taken over and made non-blocking), starting with prefix[0..prefix_len)
 * (copied; bytes already read past a CGI head).  length: -1 or the
 * declared total length (prefix included).  `child` (may be NULL) is
 * taken over.  name: for error messages ("cgi /x"), copied.  NULL when
 * out of memory (fd closed, child released).
 */
struct dp_body *
dp_pipe_body_new(struct dp_pool *pool, int fd, const uint8_t *prefix,
                 size_t prefix_len, int64_t length, struct dp_child *child,
                 uint64_t timeout_ms, const char *name);

/** The head of a pipe body (a CGI response head), read before the body
 *  is handed to its consumer. */
struct dp_pipe_head {
    /** Bytes from the pipe: return how many belong to the head, set
     *  *done when the head is complete, or return SIZE_MAX when it is
     *  malformed (the body is then released and failed() called with
     *  EPROTO). */
    size_t (*feed)(void *ctx, const uint8_t *data, size_t len, bool *done);
    /** The head is complete (called from the loop, not inside a
     *  dp_body_read()): hand the body on, or close it. */
    void (*ready)(void *ctx);
    /** The output ended before the head was complete (err 0), the head
     *  was malformed (EPROTO), or a timeout / read error (err, msg).  The
     *  body is released. */
    void (*failed)(void *ctx, int err, const char *msg);
    void *ctx;
};

/** Start reading the head of a pipe body that has no consumer yet;
 *  `head` must stay valid until ready() or failed(). */
void
dp_pipe_body_read_head(struct dp_body *body, const struct dp_pipe_head *head);

/** The body after the head has this many bytes (Content-Length). */
void
dp_pipe_body_set_length(struct dp_body *body, int64_t length);

/** The child made progress elsewhere (took stdin): restart the timeout
 *  if it is running. */
void
dp_pipe_body_touch(struct dp_body *body);

#endif
