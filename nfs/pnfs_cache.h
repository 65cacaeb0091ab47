/*
 * pnfs_cache: the NFS cache of the data plane (`nfs_cache_size` bytes):
 * attributes with a short lifetime and the contents of small files.
 *
 * Promises:
 * - Pure: no I/O, no event loop, no clock.  Every call that depends on
 *   time takes `now_ms` (any monotonic millisecond clock, the caller's
 *   choice, e.g. uv_now()).
 * - Entries are keyed by (server, export, path), compared byte for byte.
 * - Attributes live `attr_ttl_ms` (PNFS_CACHE_ATTR_TTL_MS, 1 s, unless the
 *   owner says otherwise) from the moment they were stored; after that
 *   pnfs_cache_get_attr() misses and the caller asks the server again.
 * - Contents are kept only for regular files of at most
 *   PNFS_CACHE_MAX_FILE bytes, together with the attributes they were
 *   read under.  pnfs_cache_get_data() returns them only when the caller's
 *   current attributes describe the same version (pnfs_stat_same_version:
 *   dev, ino, size, mtime, ctime); a mismatch drops the stale contents.
 *   Contents do not expire by time: the attributes, which do, decide.
 * - Memory: the sum of the entries' sizes (key, bookkeeping, contents)
 *   stays at or below `max_bytes`; the least recently used entries are
 *   evicted first.  max_bytes 0 disables the cache (every put is ignored).
 * - Contents are handed out as references (struct pnfs_blob) that stay
 *   valid after the entry is evicted or the cache flushed or freed, until
 *   the holder drops them with pnfs_blob_unref().
 * - pnfs_cache_flush() (FLUSH_NFS_CACHE) forgets everything at once.
 * - Not thread-safe: one cache per worker loop.
 */
#ifndef PORTIER_PNFS_CACHE_H
#define PORTIER_PNFS_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "pnfs_stat.h"

#define PNFS_CACHE_ATTR_TTL_MS 1000
#define PNFS_CACHE_MAX_FILE (64 * 1024)

struct pnfs_cache;
struct pnfs_blob;

struct pnfs_cache_stats {
    size_t entries;
    size_t bytes;       /* accounted bytes, <= max_bytes */
    size_t max_bytes;
    uint64_t attr_hits, attr_misses;
    uint64_t data_hits, data_misses;
    uint64_t evictions;
};

/** A cache of at most max_bytes whose attributes live attr_ttl_ms.
 *  NULL when out of memory. */
struct pnfs_cache *
pnfs_cache_new(size_t max_bytes, uint64_t attr_ttl_ms);

/** Frees the cache; blobs still referenced stay valid. NULL is allowed. */
void
pnfs_cache_free(struct pnfs_cache *cache);

/** Forget every entry (FLUSH_NFS_CACHE). */
void
pnfs_cache_flush(struct pnfs_cache *cache);

/** Store the attributes of (server, export, path), fresh from now_ms.
 *  Contents stored earlier under other attributes are dropped.
 *  0, or -ENOMEM (nothing changed), or -E2BIG (the entry alone would
 *  exceed max_bytes; nothing stored). */
int
pnfs_cache_put_attr(struct pnfs_cache *cache, const char *server,
                    const char *export_path, const char *path,
                    const struct pnfs_stat *st, uint64_t now_ms);

/** 0 and *st filled when fresh attributes are cached; -ENOENT when
 *  absent or expired (an expired entry without contents is dropped). */
int
pnfs_cache_get_attr(struct pnfs_cache *cache, const char *server,
                    const char *export_path, const char *path,
                    struct pnfs_stat *st, uint64_t now_ms);

/** Store the whole contents (len == st->size, len <=
 *  PNFS_CACHE_MAX_FILE) of a file read under attributes st; the
 *  attributes are stored as by pnfs_cache_put_attr().  Copies data.
 *  0; -EINVAL when len differs from st->size, the file is not regular or
 *  is too large; -E2BIG over max_bytes; -ENOMEM. */
int
pnfs_cache_put_data(struct pnfs_cache *cache, const char *server,
                    const char *export_path, const char *path,
                    const struct pnfs_stat *st, const void *data, size_t len,
                    uint64_t now_ms);

/** The contents of (server, export, path) when they were read under
 *  attributes describing the same version as `current`: a new reference
 *  the caller releases with pnfs_blob_unref().  NULL on a miss. */
struct pnfs_blob *
pnfs_cache_get_data(struct pnfs_cache *cache, const char *server,
                    const char *export_path, const char *path,
                    const struct pnfs_stat *current);

void
pnfs_cache_get_stats(const struct pnfs_cache *cache,
                     struct pnfs_cache_stats *out);

const uint8_t *
pnfs_blob_data(const struct pnfs_blob *blob);

size_t
pnfs_blob_size(const struct pnfs_blob *blob);

/** Drop one reference; the last one frees the bytes. NULL is allowed. */
void
pnfs_blob_unref(struct pnfs_blob *blob);

#endif
