/*
 * dp_body: the body source, one asynchronous pull interface with
 * back-pressure that every producer implements (file, memory, pipe,
 * socket, NFS reader, chunked decoder, FastCGI stdout, WAS data pipe,
 * filters) and every consumer reads (HTTP writer, HTTP client request
 * body, caches).
 *
 * Promises:
 * - The consumer attaches a handler with dp_body_set_handler() and asks
 *   for data with dp_body_read().  The source answers, synchronously
 *   inside dp_body_read() or later from the event loop, by calling the
 *   handler: data() any number of times, then exactly one of eof() or
 *   error().  After eof()/error() the source has released itself.
 * - Back-pressure: data() returns how many bytes it took (0..len).  When
 *   it takes fewer than offered, the source stops and keeps the rest
 *   until the consumer calls dp_body_read() again.  The bytes passed to
 *   data() are valid only during the call.
 * - Re-entrancy: inside data() the consumer must not call
 *   dp_body_read() or dp_body_close(); it returns what it took and acts
 *   afterwards.  eof() and error() may free the consumer.
 * - The file-descriptor fast path: when the rest of the body is a region
 *   of a regular file, dp_body_file() says so (fd, offset, length), and
 *   the consumer may move bytes itself (sendfile) and report them with
 *   dp_body_file_advance(); when the region is used up the body is done
 *   and the consumer closes it.  A source that cannot offer this returns
 *   false and is read with dp_body_read().
 * - The readable-descriptor fast path: when the next bytes of the body
 *   can be read straight from a pipe or a plain socket, dp_body_fd() says
 *   so (fd, how many bytes may be taken from it, whether it is a pipe).
 *   It answers false while the source still holds buffered bytes (they
 *   go out through dp_body_read() first), at the body's end, and
 *   whenever the bytes need the source (TLS, chunked framing).  When it
 *   answers true, the source stops reading on its own (a dp_body_read()
 *   before is forgotten) and the consumer moves bytes itself (splice,
 *   or read() into its own buffer),
 *   reporting every transfer with dp_body_fd_advance() before doing
 *   anything else with the body.  When the descriptor has nothing now
 *   (EAGAIN), dp_body_fd_wait() asks the source to watch it: the source
 *   calls the given ready(ctx) once (from the event loop, never inside
 *   the call), or eof()/error() when the body ends meanwhile (a WAS
 *   PREMATURE).  When the descriptor reports end of file or an error, or
 *   dp_body_fd() turns false, the consumer calls dp_body_read(): the
 *   source reads itself and reports the end or the failure with its own
 *   message.  While the consumer moves bytes itself, the source's idle
 *   timeout runs only between dp_body_fd_wait() and ready().  A consumer
 *   that asks dp_body_fd() before every dp_body_read() lets a source
 *   stop after handing out its buffered bytes (data() took them all, no
 *   eof()), so that the next dp_body_fd() can answer true; such a
 *   consumer asks again after every read that delivered data (the
 *   request body source does this, dp_http.h).
 * - dp_body_close() aborts a body the consumer no longer wants (client
 *   gone): the source releases everything (descriptors, backend
 *   connections) and calls no handler any more.
 * - `length` is the number of bytes still to come when known, -1 when not
 *   (a chunked or streamed body); sources keep it current.
 */
#ifndef PORTIER_DP_BODY_H
#define PORTIER_DP_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dp_body;
struct dp_pool;

struct dp_body_handler {
    size_t (*data)(void *ctx, const uint8_t *data, size_t len);
    void (*eof)(void *ctx);
    /** err is a positive errno value; msg names the cause ("read error on
     *  /srv/a.txt: Input/output error"), valid during the call. */
    void (*error)(void *ctx, int err, const char *msg);
};

/** The rest of a body as a file region. */
struct dp_body_file {
    int fd;
    int64_t offset;
    int64_t length;
};

/** The next bytes of a body as a readable descriptor. */
struct dp_body_fd {
    int fd;
    int64_t length;     /* bytes the consumer may take from fd (> 0),
                           or -1: what it has (the end is not known) */
    bool is_pipe;       /* a pipe (splice to a socket directly); else a
                           socket (splice through a pipe) */
};

/** What a source implements.  file, file_advance and the fd trio are
 *  optional (fd, fd_advance and fd_wait go together). */
struct dp_body_class {
    const char *name;
    void (*read)(struct dp_body *body);
    bool (*file)(struct dp_body *body, struct dp_body_file *out);
    void (*file_advance)(struct dp_body *body, uint64_t n);
    bool (*fd)(struct dp_body *body, struct dp_body_fd *out);
    void (*fd_advance)(struct dp_body *body, uint64_t n);
    void (*fd_wait)(struct dp_body *body, void (*ready)(void *ctx));
    void (*close)(struct dp_body *body);
};

/** The common head of every source (embed it first). */
struct dp_body {
    const struct dp_body_class *cls;
    const struct dp_body_handler *handler;
    void *ctx;
    int64_t length;
};

/** For sources: fill in the common head. */
void
dp_body_init(struct dp_body *body, const struct dp_body_class *cls,
             int64_t length);

static inline void
dp_body_set_handler(struct dp_body *body,
                    const struct dp_body_handler *handler, void *ctx)
{
    body->handler = handler;
    body->ctx = ctx;
}

static inline void
dp_body_read(struct dp_body *body)
{
    body->cls->read(body);
}

/** True (and *out set) when the rest of the body is a file region the
 *  consumer may transfer itself. */
static inline bool
dp_body_file(struct dp_body *body, struct dp_body_file *out)
{
    return body->cls->file != NULL && body->cls->file(body, out);
}

/** The consumer moved n bytes of the region from dp_body_file() itself. */
static inline void
dp_body_file_advance(struct dp_body *body, uint64_t n)
{
    body->cls->file_advance(body, n);
}

/** True (and *out set) when the next out->length bytes of the body may
 *  be read from out->fd by the consumer itself. */
static inline bool
dp_body_fd(struct dp_body *body, struct dp_body_fd *out)
{
    return body->cls->fd != NULL && body->cls->fd(body, out);
}

/** The consumer took n bytes (n > 0) from the descriptor of
 *  dp_body_fd(). */
static inline void
dp_body_fd_advance(struct dp_body *body, uint64_t n)
{
    body->cls->fd_advance(body, n);
}

/** The descriptor of dp_body_fd() had nothing (EAGAIN): watch it and
 *  call ready(ctx) with the handler's ctx once it is readable (see the
 *  header comment). */
static inline void
dp_body_fd_wait(struct dp_body *body, void (*ready)(void *ctx))
{
    body->cls->fd_wait(body, ready);
}

static inline void
dp_body_close(struct dp_body *body)
{
    body->cls->close(body);
}

/**
 * A source over `len` bytes of memory that outlives the body (pool memory
 * of the same request, or static data).  Allocated from `pool`; NULL when
 * out of memory.
 */
struct dp_body *
dp_body_new_memory(struct dp_pool *pool, const void *data, size_t len);

/**
 * A source over the region [offset, offset+length) of a regular file.
 * The body owns fd from here on (closed when the body ends or is closed,
 * and by the pool's cleanup at the latest) — also when this fails (NULL,
 * out of memory: fd is closed).  Reads use pread(); consumers that can,
 * use the file fast path.
 */
struct dp_body *
dp_body_new_file(struct dp_pool *pool, int fd, int64_t offset,
                 int64_t length, const char *path);

/**
 * Like dp_body_new_file(), for a descriptor the body does not own (an
 * open-file cache's): it is never closed here, and must stay open until
 * the pool is freed.
 */
struct dp_body *
dp_body_new_file_borrowed(struct dp_pool *pool, int fd, int64_t offset,
                          int64_t length, const char *path);

#endif
