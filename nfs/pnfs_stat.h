/*
 * pnfs_stat: the attributes of a file on an NFS server, as Portier uses
 * them (validators, Content-Length, permission decisions).
 *
 * Promises: a plain value type, no allocation; filled by pnfs_client from
 * the server's GETATTR reply and stored as is by pnfs_cache.
 */
#ifndef PORTIER_PNFS_STAT_H
#define PORTIER_PNFS_STAT_H

#include <stdbool.h>
#include <stdint.h>

struct pnfs_stat {
    uint64_t size;
    uint64_t ino;       /* fileid */
    uint64_t dev;       /* fsid */
    uint32_t mode;      /* type and permission bits (S_IFREG | 0644) */
    uint32_t nlink;
    uint32_t uid;
    uint32_t gid;
    int64_t mtime_sec;
    uint32_t mtime_nsec;
    int64_t ctime_sec;
    uint32_t ctime_nsec;
};

/** True when both describe the same version of the same file: identity
 *  (dev, ino), size, mtime and ctime all equal. */
static inline bool
pnfs_stat_same_version(const struct pnfs_stat *a, const struct pnfs_stat *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime_sec == b->mtime_sec && a->mtime_nsec == b->mtime_nsec &&
           a->ctime_sec == b->ctime_sec && a->ctime_nsec == b->ctime_nsec;
}

#endif
