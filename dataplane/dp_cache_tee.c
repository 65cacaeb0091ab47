/*
 * dp_cache_tee: see dp_cache_tee.h.
 */
#include "dp_cache_tee.h"

#include <stdbool.h>
#include <stdlib.h>

#include "dp_body.h"
#include "dp_http_cache.h"
#include "dp_pool.h"

struct tee {
    struct dp_body base;
    struct dp_body *inner;
    const struct dp_cache_tee_ops *ops;
    void *ctx;
    bool released;
    char *headers;                    /* malloc'd, the stored lines */
    size_t headers_len;
    struct dp_hc_copy copy;           /* of the body */
};

static void
tee_release(struct tee *t)
{
    dp_hc_copy_drop(&t->copy);
    free(t->headers);
    t->headers = NULL;
    if (!t->released) {
        t->released = true;
        if (t->ops->release != NULL)
            t->ops->release(t->ctx);
    }
}

static void
tee_cleanup(void *arg)
{
    tee_release(arg);
}

static size_t
tee_data(void *ctx, const uint8_t *data, size_t len)
{
    struct tee *t = ctx;
    size_t n = t->base.handler->data(t->base.ctx, data, len);
    t->base.length = t->inner->length;
    dp_hc_copy_append(&t->copy, data, n);
    return n;
}

static void
tee_eof(void *ctx)
{
    struct tee *t = ctx;
    if (!t->copy.dropped && !t->released)
        t->ops->complete(t->ctx, t->headers, t->headers_len, t->copy.buf,
                         t->copy.len);
    tee_release(t);
    t->base.handler->eof(t->base.ctx);
}

static void
tee_error(void *ctx, int err, const char *msg)
{
    struct tee *t = ctx;
    tee_release(t);
    t->base.handler->error(t->base.ctx, err, msg);
}

static const struct dp_body_handler tee_handler = {
    tee_data, tee_eof, tee_error,
};

static void
tee_read(struct dp_body *body)
{
    struct tee *t = (struct tee *)body;
    dp_body_read(t->inner);
}

static void
tee_close(struct dp_body *body)
{
    struct tee *t = (struct tee *)body;
    tee_release(t);
    dp_body_close(t->inner);
}

static const struct dp_body_class tee_class = {
    .name = "cache-tee",
    .read = tee_read,
    .close = tee_close,
};

struct dp_body *
dp_cache_tee_new(struct dp_pool *pool, struct dp_body *inner, size_t limit,
                 char *headers, size_t headers_len,
                 const struct dp_cache_tee_ops *ops, void *ctx)
{
    struct tee *t = dp_pool_calloc(pool, sizeof(*t));
    if (t == NULL) {
        free(headers);
        if (ops->release != NULL)
            ops->release(ctx);
        return NULL;
    }
    t->ops = ops;
    t->ctx = ctx;
    t->headers = headers;
    t->headers_len = headers_len;
    if (dp_pool_cleanup(pool, tee_cleanup, t) != 0) {
        tee_release(t);
        return NULL;
    }
    t->copy.limit = limit;
    t->inner = inner;
    dp_body_init(&t->base, &tee_class, inner->length);
    dp_body_set_handler(inner, &tee_handler, t);
    return &t->base;
}
