/* pnfs_cache: see pnfs_cache.h for what it promises.
 *
 * One entry per key, in a chained hash table and on an LRU list (most
 * recently used at the head).  An entry carries the attributes with their
 * expiry and, optionally, the contents as a refcounted blob. */
#include "pnfs_cache.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct pnfs_blob {
    unsigned refs;
    size_t size;
    uint8_t data[];
};

struct entry {
    struct entry *hnext;
    struct entry *prev, *next;  /* LRU */
    uint64_t hash;
    struct pnfs_stat st;
    uint64_t attr_expires;      /* now_ms at which the attributes expire */
    struct pnfs_blob *blob;     /* contents read under st, or NULL */
    size_t cost;
    size_t key_len;
    char key[];
};

struct pnfs_cache {
    size_t max_bytes;
    uint64_t attr_ttl_ms;
    size_t bytes;
    size_t entries;
    struct entry **buckets;
    size_t nbuckets;            /* a power of two */
    struct entry *lru_head, *lru_tail;
    struct pnfs_cache_stats stats;
};

static size_t
entry_cost(size_t key_len, size_t data_len)
{
    size_t c = sizeof(struct entry) + key_len;
    if (data_len > 0)
        c += sizeof(struct pnfs_blob) + data_len;
    return c;
}

/* The key is server NUL export NUL path (without the last NUL). */
static size_t
key_build(char *out, const char *server, const char *export_path,
          const char *path)
{
    size_t a = strlen(server), b = strlen(export_path), c = strlen(path);
    if (out != NULL) {
        memcpy(out, server, a);
        out[a] = '\0';
        memcpy(out + a + 1, export_path, b);
        out[a + 1 + b] = '\0';
        memcpy(out + a + b + 2, path, c);
    }
    return a + b + c + 2;
}

static uint64_t
hash_bytes(const char *p, size_t n)
{
    uint64_t h = 14695981039346656037ull;  /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (uint8_t)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

struct pnfs_cache *
pnfs_cache_new(size_t max_bytes, uint64_t attr_ttl_ms)
{
    struct pnfs_cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->max_bytes = max_bytes;
    c->attr_ttl_ms = attr_ttl_ms;
    c->nbuckets = 64;
    c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
    if (c->buckets == NULL) {
        free(c);
        return NULL;
    }
    return c;
}

static void
lru_unlink(struct pnfs_cache *c, struct entry *e)
{
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        c->lru_head = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        c->lru_tail = e->prev;
    e->prev = e->next = NULL;
}

static void
lru_push_front(struct pnfs_cache *c, struct entry *e)
{
    e->prev = NULL;
    e->next = c->lru_head;
    if (c->lru_head != NULL)
        c->lru_head->prev = e;
    c->lru_head = e;
    if (c->lru_tail == NULL)
        c->lru_tail = e;
}

void
pnfs_blob_unref(struct pnfs_blob *blob)
{
    if (blob != NULL && --blob->refs == 0)
        free(blob);
}

const uint8_t *
pnfs_blob_data(const struct pnfs_blob *blob)
{
    return blob->data;
}

size_t
pnfs_blob_size(const struct pnfs_blob *blob)
{
    return blob->size;
}

static void
entry_remove(struct pnfs_cache *c, struct entry *e)
{
    struct entry **pp = &c->buckets[e->hash & (c->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(c, e);
    c->bytes -= e->cost;
    c->entries--;
    pnfs_blob_unref(e->blob);
    free(e);
}

void
pnfs_cache_flush(struct pnfs_cache *c)
{
    while (c->lru_head != NULL)
        entry_remove(c, c->lru_head);
}

void
pnfs_cache_free(struct pnfs_cache *c)
{
    if (c == NULL)
        return;
    pnfs_cache_flush(c);
    free(c->buckets);
    free(c);
}

static struct entry *
lookup(struct pnfs_cache *c, const char *key, size_t key_len, uint64_t h)
{
    for (struct entry *e = c->buckets[h & (c->nbuckets - 1)]; e != NULL;
         e = e->hnext)
        if (e->hash == h && e->key_len == key_len &&
            memcmp(e->key, key, key_len) == 0)
            return e;
    return NULL;
}

/* Look an entry up by its three parts; *key_out gets a malloc'ed key the
 * caller frees (NULL on ENOMEM, then NULL is returned too). */
static struct entry *
find(struct pnfs_cache *c, const char *server, const char *export_path,
     const char *path, char **key_out, size_t *key_len, uint64_t *hash)
{
    size_t n = key_build(NULL, server, export_path, path);
    char *key = malloc(n);
    *key_out = key;
    if (key == NULL)
        return NULL;
    key_build(key, server, export_path, path);
    *key_len = n;
    *hash = hash_bytes(key, n);
    return lookup(c, key, n, *hash);
}

/* Look an entry up without keeping its key (the getters, once per
 * request): a short key is built on the stack. */
static struct entry *
find_only(struct pnfs_cache *c, const char *server, const char *export_path,
          const char *path)
{
    char stack[512];
    size_t n = key_build(NULL, server, export_path, path);
    char *key = n <= sizeof(stack) ? stack : malloc(n);
    if (key == NULL)
        return NULL;
    key_build(key, server, export_path, path);
    struct entry *e = lookup(c, key, n, hash_bytes(key, n));
    if (key != stack)
        free(key);
    return e;
}

static void
grow(struct pnfs_cache *c)
{
    size_t n = c->nbuckets * 2;
    struct entry **b = calloc(n, sizeof(*b));
    if (b == NULL)
        return;  /* keep the longer chains */
    for (size_t i = 0; i < c->nbuckets; i++) {
        struct entry *e = c->buckets[i];
        while (e != NULL) {
            struct entry *next = e->hnext;
            e->hnext = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = n;
}

/* Evict from the LRU tail until `extra` more bytes fit, never `keep`. */
static void
make_room(struct pnfs_cache *c, size_t extra, const struct entry *keep)
{
    while (c->bytes + extra > c->max_bytes) {
        struct entry *victim = c->lru_tail;
        if (victim == keep)
            victim = victim->prev;
        if (victim == NULL)
            return;
        entry_remove(c, victim);
        c->stats.evictions++;
    }
}

/* Store st (and optionally data) under the key; the common part of both
 * puts. */
static int
put(struct pnfs_cache *c, const char *server, const char *export_path,
    const char *path, const struct pnfs_stat *st, const void *data,
    size_t len, bool with_data, uint64_t now_ms)
{
    if (c->max_bytes == 0)
        return 0;
    char *key;
    size_t key_len = 0;
    uint64_t h = 0;
    struct entry *old = find(c, server, export_path, path, &key, &key_len,
                             &h);
    if (key == NULL)
        return -ENOMEM;
    size_t cost = entry_cost(key_len, with_data ? len : 0);
    /* Attributes alone keep matching contents: same version, same bytes. */
    bool keep_blob = !with_data && old != NULL && old->blob != NULL &&
                     pnfs_stat_same_version(&old->st, st);
    if (keep_blob)
        cost = old->cost;
    if (cost > c->max_bytes) {
        if (old != NULL)
            entry_remove(c, old);
        free(key);
        return -E2BIG;
    }

    struct pnfs_blob *blob = NULL;
    if (with_data) {
        blob = malloc(sizeof(*blob) + len);
        if (blob == NULL) {
            free(key);
            return -ENOMEM;
        }
        blob->refs = 1;
        blob->size = len;
        if (len > 0)
            memcpy(blob->data, data, len);
    }

    if (old != NULL && (keep_blob || old->cost == cost)) {
        /* Update in place. */
        if (!keep_blob) {
            pnfs_blob_unref(old->blob);
            old->blob = blob;
        }
        old->st = *st;
        old->attr_expires = now_ms + c->attr_ttl_ms;
        lru_unlink(c, old);
        lru_push_front(c, old);
        free(key);
        return 0;
    }
    if (old != NULL)
        entry_remove(c, old);

    struct entry *e = malloc(sizeof(*e) + key_len);
    if (e == NULL) {
        pnfs_blob_unref(blob);
        free(key);
        return -ENOMEM;
    }
    memset(e, 0, sizeof(*e));
    memcpy(e->key, key, key_len);
    free(key);
    e->key_len = key_len;
    e->hash = h;
    e->st = *st;
    e->attr_expires = now_ms + c->attr_ttl_ms;
    e->blob = blob;
    e->cost = cost;

    make_room(c, cost, NULL);
    if (c->entries >= c->nbuckets * 2)
        grow(c);
    struct entry **bucket = &c->buckets[h & (c->nbuckets - 1)];
    e->hnext = *bucket;
    *bucket = e;
    lru_push_front(c, e);
    c->bytes += cost;
    c->entries++;
    return 0;
}

int
pnfs_cache_put_attr(struct pnfs_cache *c, const char *server,
                    const char *export_path, const char *path,
                    const struct pnfs_stat *st, uint64_t now_ms)
{
    return put(c, server, export_path, path, st, NULL, 0, false, now_ms);
}

int
pnfs_cache_put_data(struct pnfs_cache *c, const char *server,
                    const char *export_path, const char *path,
                    const struct pnfs_stat *st, const void *data, size_t len,
                    uint64_t now_ms)
{
    if (!S_ISREG(st->mode) || len != st->size || len > PNFS_CACHE_MAX_FILE)
        return -EINVAL;
    return put(c, server, export_path, path, st, data, len, true, now_ms);
}

int
pnfs_cache_get_attr(struct pnfs_cache *c, const char *server,
                    const char *export_path, const char *path,
                    struct pnfs_stat *st, uint64_t now_ms)
{
    struct entry *e = find_only(c, server, export_path, path);
    if (e == NULL || now_ms >= e->attr_expires) {
        if (e != NULL && e->blob == NULL)
            entry_remove(c, e);
        c->stats.attr_misses++;
        return -ENOENT;
    }
    *st = e->st;
    lru_unlink(c, e);
    lru_push_front(c, e);
    c->stats.attr_hits++;
    return 0;
}

struct pnfs_blob *
pnfs_cache_get_data(struct pnfs_cache *c, const char *server,
                    const char *export_path, const char *path,
                    const struct pnfs_stat *current)
{
    struct entry *e = find_only(c, server, export_path, path);
    if (e == NULL || e->blob == NULL) {
        c->stats.data_misses++;
        return NULL;
    }
    if (!pnfs_stat_same_version(&e->st, current)) {
        /* The file changed: its cached bytes are worthless. */
        entry_remove(c, e);
        c->stats.data_misses++;
        return NULL;
    }
    lru_unlink(c, e);
    lru_push_front(c, e);
    e->blob->refs++;
    c->stats.data_hits++;
    return e->blob;
}

void
pnfs_cache_get_stats(const struct pnfs_cache *c, struct pnfs_cache_stats *out)
{
    *out = c->stats;
    out->entries = c->entries;
    out->bytes = c->bytes;
    out->max_bytes = c->max_bytes;
}
