/*
 * The backend name resolver: uv_getaddrinfo plus a process-wide cache
 * (each worker is one process with one loop).  A cancelled lookup keeps
 * its memory until libuv calls back, and then only frees it.
 */
#include "dp_resolve.h"

#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_MAX 256
#define TTL_OK_MS 60000
#define TTL_FAIL_MS 5000
#define MAX_ADDRS DP_RESOLVE_MAX_ADDRESSES

struct entry {
    char *host;
    uint16_t port;
    uint64_t expires;
    struct tp_socket_address *v;
    size_t n;
    char *error;
};

static struct entry cache[CACHE_MAX];
static size_t cache_n;

struct dp_resolve_op {
    uv_getaddrinfo_t req;
    uv_loop_t *loop;
    dp_resolve_cb cb;
    void *ctx;
    bool cancelled;
    uint16_t port;
    char host[];
};

static void
entry_clear(struct entry *e)
{
    free(e->host);
    free(e->v);
    free(e->error);
    memset(e, 0, sizeof(*e));
}

void
dp_resolve_flush(void)
{
    for (size_t i = 0; i < cache_n; i++)
        entry_clear(&cache[i]);
    cache_n = 0;
}

static struct entry *
cache_find(const char *host, uint16_t port, uint64_t now)
{
    for (size_t i = 0; i < cache_n; i++) {
        struct entry *e = &cache[i];
        if (e->port == port && strcmp(e->host, host) == 0) {
            if (e->expires > now)
                return e;
            entry_clear(e);
            cache[i] = cache[--cache_n];
            return NULL;
        }
    }
    return NULL;
}

/* A slot for a new entry: a free one, else the one expiring first. */
static struct entry *
cache_slot(void)
{
    if (cache_n < CACHE_MAX)
        return &cache[cache_n++];
    struct entry *oldest = &cache[0];
    for (size_t i = 1; i < cache_n; i++)
        if (cache[i].expires < oldest->expires)
            oldest = &cache[i];
    entry_clear(oldest);
    return oldest;
}

static void
on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct dp_resolve_op *op = req->data;
    if (op->cancelled) {
        uv_freeaddrinfo(res);
        free(op);
        return;
    }
    struct tp_socket_address v[MAX_ADDRS];
    size_t n = 0;
    char error[300] = "";
    if (status != 0) {
        snprintf(error, sizeof(error), "cannot resolve backend host %s: %s",
                 op->host, uv_strerror(status));
    } else {
        for (struct addrinfo *ai = res; ai != NULL && n < MAX_ADDRS;
             ai = ai->ai_next) {
            if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
                ai->ai_addrlen > sizeof(v[n].addr))
                continue;
            bool dup = false;
            for (size_t k = 0; k < n && !dup; k++)
                dup = v[k].len == ai->ai_addrlen &&
                      memcmp(&v[k].addr, ai->ai_addr, ai->ai_addrlen) == 0;
            if (dup)
                continue;
            memset(&v[n], 0, sizeof(v[n]));
            memcpy(&v[n].addr, ai->ai_addr, ai->ai_addrlen);
            v[n].len = (socklen_t)ai->ai_addrlen;
            n++;
        }
        if (n == 0)
            snprintf(error, sizeof(error), "cannot resolve backend host %s: "
                     "no IPv4 or IPv6 address", op->host);
    }
    uv_freeaddrinfo(res);

    /* cache the answer (when memory allows) */
    char *host = strdup(op->host);
    struct tp_socket_address *copy = n > 0 ? malloc(n * sizeof(*copy))
                                           : NULL;
    char *err = n == 0 ? strdup(error) : NULL;
    if (host != NULL && (n > 0 ? copy != NULL : err != NULL)) {
        struct entry *e = cache_slot();
        e->host = host;
        e->port = op->port;
        e->expires = uv_now(op->loop) + (n > 0 ? TTL_OK_MS : TTL_FAIL_MS);
        if (n > 0)
            memcpy(copy, v, n * sizeof(*v));
        e->v = copy;
        e->n = n;
        e->error = err;
    } else {
        free(host);
        free(copy);
        free(err);
    }
    dp_resolve_cb cb = op->cb;
    void *ctx = op->ctx;
    free(op);
    cb(ctx, n > 0 ? v : NULL, n, n > 0 ? NULL : error);
}

struct dp_resolve_op *
dp_resolve(uv_loop_t *loop, const char *host, uint16_t port,
           dp_resolve_cb cb, void *ctx)
{
    const struct entry *e = cache_find(host, port, uv_now(loop));
    if (e != NULL) {
        cb(ctx, e->v, e->n, e->error);
        return NULL;
    }
    size_t hn = strlen(host);
    struct dp_resolve_op *op = malloc(sizeof(*op) + hn + 1);
    if (op == NULL) {
        cb(ctx, NULL, 0, "out of memory");
        return NULL;
    }
    memcpy(op->host, host, hn + 1);
    op->loop = loop;
    op->cb = cb;
    op->ctx = ctx;
    op->cancelled = false;
    op->port = port;
    op->req.data = op;
    char service[8];
    snprintf(service, sizeof(service), "%u", port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = uv_getaddrinfo(loop, &op->req, on_resolved, op->host, service,
                            &hints);
    if (rc != 0) {
        char error[300];
        snprintf(error, sizeof(error), "cannot resolve backend host %s: %s",
                 host, uv_strerror(rc));
        free(op);
        cb(ctx, NULL, 0, error);
        return NULL;
    }
    return op;
}

void
dp_resolve_cancel(struct dp_resolve_op *op)
{
    /* uv_cancel() may fail once the thread pool runs it: either way the
     * callback comes and frees the memory. */
    op->cancelled = true;
    uv_cancel((uv_req_t *)&op->req);
}
