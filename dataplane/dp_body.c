/*
 * dp_body: the common head and the two basic sources, memory and file.
 */
#include "dp_body.h"
#include "dp_pool.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Bytes a file source reads per pread() when the consumer cannot take a
 * descriptor.  One buffer serves the whole worker: data() must copy what
 * it keeps (see the header), and a worker is one thread. */
#define DP_BODY_READ_CHUNK (64 * 1024)
static uint8_t read_chunk[DP_BODY_READ_CHUNK];

void
dp_body_init(struct dp_body *body, const struct dp_body_class *cls,
             int64_t length)
{
    body->cls = cls;
    body->handler = NULL;
    body->ctx = NULL;
    body->length = length;
}

/* ---- memory ---- */

struct memory_body {
    struct dp_body base;
    const uint8_t *data;
    size_t len;
    bool done;
};

static void
memory_read(struct dp_body *body)
{
    struct memory_body *m = (struct memory_body *)body;
    if (m->done)
        return;
    if (m->len > 0) {
        size_t took = body->handler->data(body->ctx, m->data, m->len);
        m->data += took;
        m->len -= took;
        body->length = (int64_t)m->len;
        if (m->len > 0)
            return;
    }
    m->done = true;
    body->handler->eof(body->ctx);
}

static void
memory_close(struct dp_body *body)
{
    ((struct memory_body *)body)->done = true;
}

static const struct dp_body_class memory_class = {
    .name = "memory",
    .read = memory_read,
    .close = memory_close,
};

struct dp_body *
dp_body_new_memory(struct dp_pool *pool, const void *data, size_t len)
{
    struct memory_body *m = dp_pool_alloc(pool, sizeof(*m));
    if (m == NULL)
        return NULL;
    dp_body_init(&m->base, &memory_class, (int64_t)len);
    m->data = data;
    m->len = len;
    m->done = false;
    return &m->base;
}

/* ---- file ---- */

struct file_body {
    struct dp_body base;
    int fd;
    int64_t offset;
    const char *path;
};

static void
file_release(struct file_body *f)
{
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
    }
}

static void
file_cleanup(void *arg)
{
    file_release(arg);
}

static void
file_read(struct dp_body *body)
{
    struct file_body *f = (struct file_body *)body;
    while (f->fd >= 0) {
        if (body->length == 0) {
            file_release(f);
            body->handler->eof(body->ctx);
            return;
        }
        size_t want = body->length < DP_BODY_READ_CHUNK
                          ? (size_t)body->length : DP_BODY_READ_CHUNK;
        ssize_t n = pread(f->fd, read_chunk, want, f->offset);
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            char msg[300];
            snprintf(msg, sizeof(msg), "%s %s: %s",
                     n < 0 ? "read error on" : "file shrank while reading",
                     f->path, strerror(err));
            file_release(f);
            body->handler->error(body->ctx, err, msg);
            return;
        }
        size_t took = body->handler->data(body->ctx, read_chunk, (size_t)n);
        f->offset += (int64_t)took;
        body->length -= (int64_t)took;
        if (took < (size_t)n)
            return;     /* back-pressure: wait for the next read */
    }
}

static bool
file_file(struct dp_body *body, struct dp_body_file *out)
{
    struct file_body *f = (struct file_body *)body;
    if (f->fd < 0)
        return false;
    out->fd = f->fd;
    out->offset = f->offset;
    out->length = body->length;
    return true;
}

static void
file_advance(struct dp_body *body, uint64_t n)
{
    struct file_body *f = (struct file_body *)body;
    if ((int64_t)n > body->length)
        n = (uint64_t)body->length;
    f->offset += (int64_t)n;
    body->length -= (int64_t)n;
}

static void
file_close(struct dp_body *body)
{
    file_release((struct file_body *)body);
}

static const struct dp_body_class file_class = {
    .name = "file",
    .read = file_read,
    .file = file_file,
    .file_advance = file_advance,
    .close = file_close,
};

struct dp_body *
dp_body_new_file(struct dp_pool *pool, int fd, int64_t offset,
                 int64_t length, const char *path)
{
    struct file_body *f = dp_pool_alloc(pool, sizeof(*f));
    if (f == NULL || dp_pool_cleanup(pool, file_cleanup, f) != 0) {
        close(fd);
        return NULL;
    }
    dp_body_init(&f->base, &file_class, length);
    f->fd = fd;
    f->offset = offset;
    f->path = path;
    return &f->base;
}
