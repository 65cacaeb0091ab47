/*
 * dp_pool: linear blocks with a cleanup list.  The pool header lives in
 * the first block, so a pool costs one malloc until it outgrows it.
 */
#include "dp_pool.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DP_POOL_ALIGN 16
#define DP_POOL_DEFAULT_BLOCK 4096

struct dp_pool_block {
    struct dp_pool_block *next;
    size_t size;      /* usable bytes after the header */
    size_t used;
};

struct dp_pool_cleanup {
    struct dp_pool_cleanup *next;
    void (*fn)(void *arg);
    void *arg;
};

struct dp_pool {
    struct dp_pool_block *current;  /* allocations come from here */
    struct dp_pool_block *extra;    /* blocks after the first, any size */
    struct dp_pool_cleanup *cleanups;
    size_t block_size;
    size_t used;
    struct dp_pool_block first;     /* must stay last: its bytes follow */
};

static size_t
round_up(size_t n)
{
    return (n + DP_POOL_ALIGN - 1) & ~(size_t)(DP_POOL_ALIGN - 1);
}

/* The usable bytes of a block start at the next aligned address after
 * its header. */
static uint8_t *
block_base(struct dp_pool_block *b)
{
    uintptr_t p = (uintptr_t)(b + 1);
    return (uint8_t *)((p + DP_POOL_ALIGN - 1) &
                       ~(uintptr_t)(DP_POOL_ALIGN - 1));
}

struct dp_pool *
dp_pool_new(size_t block_size)
{
    if (block_size == 0)
        block_size = DP_POOL_DEFAULT_BLOCK;
    if (block_size < 256)
        block_size = 256;
    struct dp_pool *pool = malloc(sizeof(*pool) + DP_POOL_ALIGN + block_size);
    if (pool == NULL)
        return NULL;
    pool->current = &pool->first;
    pool->extra = NULL;
    pool->cleanups = NULL;
    pool->block_size = block_size;
    pool->used = 0;
    pool->first.next = NULL;
    pool->first.size = block_size;
    pool->first.used = 0;
    return pool;
}

static void
run_cleanups(struct dp_pool *pool)
{
    /* A cleanup may register another; loop until none is left. */
    while (pool->cleanups != NULL) {
        struct dp_pool_cleanup *c = pool->cleanups;
        pool->cleanups = c->next;
        c->fn(c->arg);
    }
}

static void
free_extra(struct dp_pool *pool)
{
    struct dp_pool_block *b = pool->extra;
    while (b != NULL) {
        struct dp_pool_block *next = b->next;
        free(b);
        b = next;
    }
    pool->extra = NULL;
}

void
dp_pool_reset(struct dp_pool *pool)
{
    run_cleanups(pool);
    free_extra(pool);
    pool->current = &pool->first;
    pool->first.used = 0;
    pool->used = 0;
}

void
dp_pool_free(struct dp_pool *pool)
{
    if (pool == NULL)
        return;
    run_cleanups(pool);
    free_extra(pool);
    free(pool);
}

static struct dp_pool_block *
new_block(struct dp_pool *pool, size_t size)
{
    struct dp_pool_block *b = malloc(sizeof(*b) + DP_POOL_ALIGN + size);
    if (b == NULL)
        return NULL;
    b->size = size;
    b->used = 0;
    b->next = pool->extra;
    pool->extra = b;
    return b;
}

void *
dp_pool_alloc(struct dp_pool *pool, size_t size)
{
    size_t need = round_up(size > 0 ? size : 1);
    if (need < size)
        return NULL;    /* overflow */
    struct dp_pool_block *b = pool->current;
    if (b->size - b->used < need) {
        if (need > pool->block_size / 4) {
            /* Large: a block of its own; the current block stays. */
            b = new_block(pool, need);
            if (b == NULL)
                return NULL;
        } else {
            b = new_block(pool, pool->block_size);
            if (b == NULL)
                return NULL;
            pool->current = b;
        }
    }
    void *p = block_base(b) + b->used;
    b->used += need;
    pool->used += need;
    return p;
}

void *
dp_pool_calloc(struct dp_pool *pool, size_t size)
{
    void *p = dp_pool_alloc(pool, size);
    if (p != NULL)
        memset(p, 0, size);
    return p;
}

char *
dp_pool_strndup(struct dp_pool *pool, const void *src, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *p = dp_pool_alloc(pool, len + 1);
    if (p == NULL)
        return NULL;
    if (len > 0)
        memcpy(p, src, len);
    p[len] = '\0';
    return p;
}

char *
dp_pool_strdup(struct dp_pool *pool, const char *s)
{
    return dp_pool_strndup(pool, s, strlen(s));
}

int
dp_pool_cleanup(struct dp_pool *pool, void (*fn)(void *arg), void *arg)
{
    struct dp_pool_cleanup *c = dp_pool_alloc(pool, sizeof(*c));
    if (c == NULL)
        return -ENOMEM;
    c->fn = fn;
    c->arg = arg;
    c->next = pool->cleanups;
    pool->cleanups = c;
    return 0;
}

size_t
dp_pool_used(const struct dp_pool *pool)
{
    return pool->used;
}
