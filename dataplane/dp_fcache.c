/*
 * dp_fcache: a hash table of open files with an LRU list and reference
 * counts held by request pools.
 */
#include "dp_fcache.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct entry {
    struct dp_fcache_file file;
    struct entry *hnext;               /* hash chain */
    struct entry *prev, *next;         /* LRU list, newest first */
    uint64_t hash;
    uint64_t expires_ms;
    unsigned refs;                     /* requests using the fd */
    int error;                         /* negative: a cached ENOENT or
                                          ENOTDIR (file.fd is -1) */
    bool linked;                       /* in the table and the list */
    struct dp_file_meta meta;          /* file.meta, when set */
    char key[];                        /* path, NUL, beneath, NUL */
};

static struct {
    struct entry **table;
    size_t table_size;                 /* power of two */
    struct entry *newest, *oldest;
    size_t n;
    size_t max_entries;
    uint64_t valid_ms;
    bool configured;
    uint64_t hits, misses;
} cache;

static uint64_t
now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Eight bytes per step (this runs over the path of every request), then
 * the rest byte by byte; mixed so that the low bits (the slot) depend on
 * every byte. */
static uint64_t
hash_key(const char *key, size_t n)
{
    uint64_t h = 1469598103934665603ull ^ n;
    size_t i = 0;
    for (; n - i >= 8; i += 8) {
        uint64_t w;
        memcpy(&w, key + i, 8);
        h = (h ^ w) * 0x9e3779b97f4a7c15ull;
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    return h ^ (h >> 32);
}

static int
open_path(const char *path, const char *beneath)
{
    int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    if (beneath == NULL) {
        int fd = open(path, flags);
        return fd >= 0 ? fd : -errno;
    }
    size_t bn = strlen(beneath);
    while (bn > 1 && beneath[bn - 1] == '/')
        bn--;
    if (strncmp(path, beneath, bn) != 0 ||
        (path[bn] != '/' && !(bn == 1 && beneath[0] == '/')))
        return -EXDEV;
    const char *rel = path + bn;
    while (*rel == '/')
        rel++;
    if (*rel == '\0')
        rel = ".";
    int dir = open(beneath, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return -errno;
    struct open_how how = {
        .flags = (uint64_t)flags,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    long fd = syscall(SYS_openat2, dir, rel, &how, sizeof(how));
    int err = errno;
    close(dir);
    return fd >= 0 ? (int)fd : -err;
}

static void
entry_free(struct entry *e)
{
    if (e->file.fd >= 0)
        close(e->file.fd);
    free((void *)(uintptr_t)e->file.data);
    free(e);
}

/* Keep a small file's bytes; a short read (the file changed) keeps
 * nothing and the request reads the descriptor instead. */
static void
read_small(struct entry *e)
{
    const struct stat *st = &e->file.st;
    if (!S_ISREG(st->st_mode) || st->st_size > DP_FCACHE_SMALL_FILE)
        return;
    size_t n = (size_t)st->st_size;
    uint8_t *data = malloc(n > 0 ? n : 1);
    if (data == NULL)
        return;
    if (n > 0 && pread(e->file.fd, data, n, 0) != (ssize_t)n) {
        free(data);
        return;
    }
    e->file.data = data;
}

/* The metadata every request for the entry would build (ETag and
 * Last-Modified text cost more than the rest of a cached request's file
 * handling).  Last-Modified is min(mtime, now): with an mtime not after
 * now it stays the mtime for the entry's life. */
static void
build_meta(struct entry *e)
{
    const struct stat *st = &e->file.st;
    time_t now = time(NULL);
    if (!S_ISREG(st->st_mode) || st->st_mtim.tv_sec > now)
        return;
    dp_file_meta_build(&e->meta, st, &e->file.xattrs, NULL, 0, now);
    e->file.meta = &e->meta;
}

static void
unlink_entry(struct entry *e)
{
    struct entry **pp = &cache.table[e->hash & (cache.table_size - 1)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    if (e->prev != NULL)
        e->prev->next = e->next;
    else
        cache.newest = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        cache.oldest = e->prev;
    e->linked = false;
    cache.n--;
    if (e->refs == 0)
        entry_free(e);
}

static void
release(void *arg)
{
    struct entry *e = arg;
    if (--e->refs == 0 && !e->linked)
        entry_free(e);
}

static void
touch(struct entry *e)
{
    if (cache.newest == e)
        return;
    e->prev->next = e->next;
    if (e->next != NULL)
        e->next->prev = e->prev;
    else
        cache.oldest = e->prev;
    e->prev = NULL;
    e->next = cache.newest;
    cache.newest->prev = e;
    cache.newest = e;
}

void
dp_fcache_flush(void)
{
    while (cache.newest != NULL)
        unlink_entry(cache.newest);
}

void
dp_fcache_configure(size_t max_entries, uint64_t valid_ms)
{
    dp_fcache_flush();
    free(cache.table);
    cache.table = NULL;
    cache.table_size = 0;
    cache.max_entries = max_entries;
    cache.valid_ms = valid_ms;
    cache.configured = true;
    if (max_entries > 0) {
        size_t size = 16;
        while (size < max_entries * 2)
            size *= 2;
        cache.table = calloc(size, sizeof(*cache.table));
        cache.table_size = cache.table != NULL ? size : 0;
        if (cache.table == NULL)
            cache.max_entries = 0;
    }
}

void
dp_fcache_get_stats(struct dp_fcache_stats *out)
{
    out->entries = cache.n;
    out->hits = cache.hits;
    out->misses = cache.misses;
}

/* Without the cache: open, and close with the pool. */
static void
close_fd(void *arg)
{
    struct dp_fcache_file *f = arg;
    close(f->fd);
}

static int
open_uncached(struct dp_pool *pool, const char *path, const char *beneath,
              const struct dp_fcache_file **out)
{
    struct dp_fcache_file *f = dp_pool_calloc(pool, sizeof(*f));
    if (f == NULL)
        return -ENOMEM;
    int fd = open_path(path, beneath);
    if (fd < 0)
        return fd;
    if (fstat(fd, &f->st) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    f->fd = fd;
    if (dp_pool_cleanup(pool, close_fd, f) != 0) {
        close(fd);
        return -ENOMEM;
    }
    dp_file_xattrs_read(fd, &f->xattrs);
    *out = f;
    return 0;
}

int
dp_fcache_open(struct dp_pool *pool, const char *path, const char *beneath,
               const struct dp_fcache_file **out)
{
    if (!cache.configured)
        dp_fcache_configure(DP_FCACHE_DEFAULT_ENTRIES,
                            DP_FCACHE_DEFAULT_VALID_MS);
    if (cache.max_entries == 0)
        return open_uncached(pool, path, beneath, out);

    size_t pn = strlen(path), bn = beneath != NULL ? strlen(beneath) : 0;
    size_t kn = pn + 1 + bn;
    char keybuf[512];
    char *key = kn < sizeof(keybuf) ? keybuf : malloc(kn + 1);
    if (key == NULL)
        return -ENOMEM;
    memcpy(key, path, pn + 1);
    if (beneath != NULL)
        memcpy(key + pn + 1, beneath, bn);
    key[kn] = '\0';
    uint64_t h = hash_key(key, kn);
    uint64_t now = now_ms();

    struct entry *e = cache.table[h & (cache.table_size - 1)];
    while (e != NULL && (e->hash != h || memcmp(e->key, key, kn + 1) != 0))
        e = e->hnext;
    if (e != NULL && now >= e->expires_ms) {
        unlink_entry(e);
        e = NULL;
    }
    if (e == NULL) {
        cache.misses++;
        int fd = open_path(path, beneath);
        /* A missing file is remembered too (nginx's open_file_cache
         * errors): 404s cost no system call within the validity. */
        bool negative = fd == -ENOENT || fd == -ENOTDIR;
        if (fd < 0 && !negative) {
            if (key != keybuf)
                free(key);
            return fd;
        }
        e = calloc(1, sizeof(*e) + kn + 1);
        if (e == NULL || (!negative && fstat(fd, &e->file.st) < 0)) {
            int err = e == NULL ? ENOMEM : errno;
            free(e);
            if (fd >= 0)
                close(fd);
            if (key != keybuf)
                free(key);
            return -err;
        }
        e->file.fd = fd;
        if (negative) {
            e->error = fd;
            e->file.fd = -1;
        } else {
            dp_file_xattrs_read(fd, &e->file.xattrs);
            read_small(e);
            build_meta(e);
        }
        memcpy(e->key, key, kn + 1);
        e->hash = h;
        e->expires_ms = now + cache.valid_ms;
        if (cache.n >= cache.max_entries)
            unlink_entry(cache.oldest);
        size_t slot = h & (cache.table_size - 1);
        e->hnext = cache.table[slot];
        cache.table[slot] = e;
        e->next = cache.newest;
        if (cache.newest != NULL)
            cache.newest->prev = e;
        cache.newest = e;
        if (cache.oldest == NULL)
            cache.oldest = e;
        e->linked = true;
        cache.n++;
    } else {
        cache.hits++;
        touch(e);
    }
    if (key != keybuf)
        free(key);
    if (e->error != 0)
        return e->error;
    if (dp_pool_cleanup(pool, release, e) != 0)
        return -ENOMEM;
    e->refs++;
    *out = &e->file;
    return 0;
}
