#include "pr_bytes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
pr_buf_reserve(struct pr_buf *b, size_t extra)
{
    if (extra <= b->cap - b->len)
        return 0;
    if (extra > SIZE_MAX / 2 - b->len)
        return -ENOMEM;

    size_t want = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < want)
        cap *= 2;

    uint8_t *p = realloc(b->data, cap);
    if (p == NULL)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int
pr_buf_append(struct pr_buf *b, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    int rc = pr_buf_reserve(b, len);
    if (rc < 0)
        return rc;
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

void
pr_buf_free(struct pr_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

/* A block is a header followed by its bytes; blocks form a list from the
 * newest.  Small requests share a block; a large one gets its own. */
struct pr_arena_block {
    struct pr_arena_block *next;
    size_t used;
    size_t size;
    max_align_t data[];
};

enum { PR_ARENA_BLOCK = 4096 - sizeof(struct pr_arena_block) };

void *
pr_arena_alloc(struct pr_arena *a, size_t size)
{
    const size_t align = _Alignof(max_align_t);
    if (size > SIZE_MAX - align - sizeof(struct pr_arena_block))
        return NULL;
    size = (size + align - 1) & ~(align - 1);
    if (size == 0)
        size = align;

    struct pr_arena_block *b = a->head;
    if (b == NULL || b->size - b->used < size) {
        size_t bsize = size > PR_ARENA_BLOCK / 4 ? size : PR_ARENA_BLOCK;
        b = malloc(sizeof(*b) + bsize);
        if (b == NULL)
            return NULL;
        b->used = 0;
        b->size = bsize;
        if (size > PR_ARENA_BLOCK / 4 && a->head != NULL) {
            /* Keep the current partly used block at the head. */
            b->next = a->head->next;
            a->head->next = b;
        } else {
            b->next = a->head;
            a->head = b;
        }
    }

    void *p = (char *)b->data + b->used;
    b->used += size;
    a->total += size;
    memset(p, 0, size);
    return p;
}

char *
pr_arena_strndup(struct pr_arena *a, const void *src, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *p = pr_arena_alloc(a, len + 1);
    if (p == NULL)
        return NULL;
    if (len > 0)
        memcpy(p, src, len);
    p[len] = '\0';
    return p;
}

void
pr_arena_free(struct pr_arena *a)
{
    struct pr_arena_block *b = a->head;
    while (b != NULL) {
        struct pr_arena_block *next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->total = 0;
}

uint16_t
pr_load_u16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

uint32_t
pr_load_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

uint64_t
pr_load_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

void
pr_store_u16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, sizeof(v));
}

uint16_t
pr_load_be16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

uint32_t
pr_load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

void
pr_store_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

void
pr_store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
