/*
 * dp_fcache: the open-file cache of one worker, like nginx's
 * open_file_cache: a hot file is opened, stat()ed and its xattrs read once
 * per validity period instead of once per request.
 *
 * Promises:
 * - dp_fcache_open() gives a descriptor, its struct stat, its xattrs and
 *   (usually) its dp_file_meta for `path`, valid until `pool` is reset or freed; the
 *   caller never closes the descriptor.  With `beneath` the path is
 *   opened with openat2() RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS below
 *   that directory (-EXDEV when it would leave it).
 * - An entry is reused for at most `valid_ms` after it was opened (1 s by
 *   default): a file replaced or changed on disk is seen at the latest
 *   that much later (also for the contents of small files, which the
 *   entry keeps in memory).  ENOENT and ENOTDIR are cached the same way
 *   (a file created after a 404 is served at the latest that much later);
 *   other failures are not cached.
 * - At most `max_entries` entries (LRU); 0 disables the cache (every
 *   request opens and closes).  A descriptor still used by a request is
 *   closed only after that request.
 * - One cache per process; not thread-safe (a worker is one thread).
 */
#ifndef PORTIER_DP_FCACHE_H
#define PORTIER_DP_FCACHE_H

#include "dp_file_meta.h"
#include "dp_pool.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define DP_FCACHE_DEFAULT_ENTRIES 1024
#define DP_FCACHE_DEFAULT_VALID_MS 1000

/** Regular files up to this size are also kept in memory, so a request
 *  for them is one send() of head and body together. */
#define DP_FCACHE_SMALL_FILE (16 * 1024)

struct dp_fcache_file {
    int fd;
    struct stat st;
    struct dp_file_xattrs xattrs;
    /* The contents of a small regular file as read when the entry was
     * made (NULL when not kept, e.g. the cache is off or the file is
     * larger); st_size bytes. */
    const uint8_t *data;
    /* The response metadata of a regular file, built when the entry was
     * made without a translation's CONTENT_TYPE (the caller applies its
     * own with dp_file_meta_set_content_type()); NULL when not kept:
     * the cache is off, or the mtime was later than the clock then (so
     * Last-Modified depends on the time of the request).  Kept, it is
     * what dp_file_meta_build() would give at any later time. */
    const struct dp_file_meta *meta;
};

/** Returns 0 and *out, or -errno (open()/openat2()/fstat()). */
int
dp_fcache_open(struct dp_pool *pool, const char *path, const char *beneath,
               const struct dp_fcache_file **out);

/** Set the limits (call before serving; an existing cache is flushed). */
void
dp_fcache_configure(size_t max_entries, uint64_t valid_ms);

/** Drop every entry not in use now (the others go when released). */
void
dp_fcache_flush(void);

struct dp_fcache_stats {
    size_t entries;
    uint64_t hits, misses;
};

void
dp_fcache_get_stats(struct dp_fcache_stats *out);

#endif
