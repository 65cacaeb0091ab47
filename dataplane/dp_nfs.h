/*
 * dp_nfs: the NFS resource (NFS_SERVER + NFS_EXPORT + PATH): serving a
 * regular file of an NFSv3 export through nfs/ (pnfs_client,
 * pnfs_registry, pnfs_cache) on the worker's loop.
 *
 * Promises:
 * - One registry and one NFS cache per worker process (like dp_fcache):
 *   a client per (server, export), mounted on first use, shared by every
 *   request, mounting again after the server restarted, unmounted after
 *   `nfs_idle_timeout` without use (pnfs_client does all three).
 * - The HTTP answer is dp_file_answer(), the same code as for LOCAL
 *   files: ETag and Last-Modified from the NFS attributes (fsid, fileid,
 *   size, mtime), the translation's CONTENT_TYPE (and the handler's
 *   CONTENT_TYPE_LOOKUP), If-* preconditions, Range (one range, or
 *   several as multipart/byteranges whose parts are read one after the
 *   other), HEAD, 405 for other methods.  No user.* xattrs and no
 *   compressed variants on NFS.
 * - Errors: ENOENT/ENOTDIR and a directory are 404 (a directory is never
 *   listed), EACCES and other non-regular files 403, a timeout
 *   (`nfs_timeout`) 504, every other failure (connection refused or
 *   lost, I/O error) 502.  Each logs one line with pnfs's message, which
 *   names the operation, server, export and path.
 * - Bodies: a small regular file (up to PNFS_CACHE_MAX_FILE) is read
 *   whole into memory and kept in the NFS cache with its attributes when
 *   the cache is on; then requests within the attributes' lifetime are
 *   answered without any NFS call.  Larger files (or every file with the
 *   cache off) stream through a body source that reads one buffer at a
 *   time behind pnfs's bounded read-ahead, and reads on only when the
 *   consumer took everything: any size in bounded memory.
 * - A request that dies while an NFS operation is pending cancels it; a
 *   body that ends or is closed cancels its pending read; the open file
 *   is closed with the request's pool.
 * - Without libnfs at build time dp_nfs_available() is false and the
 *   handler refuses NFS_SERVER as a missing feature.
 */
#ifndef PORTIER_DP_NFS_H
#define PORTIER_DP_NFS_H

#include "dp_http.h"
#include "tp_response.h"

#include <uv.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dp_nfs_settings {
    size_t cache_size;          /* nfs_cache_size; 0: no cache */
    unsigned nfs_port;          /* 0: ask the portmapper */
    unsigned mount_port;        /* 0: ask the portmapper */
    uint64_t timeout_ms;        /* per NFS operation */
    uint64_t idle_ms;           /* unmount after this long unused */
};

/** Whether portierd was built with NFS support (libnfs). */
bool
dp_nfs_available(void);

/** Set up this worker's registry and cache on `loop` (call once per
 *  worker, before serving).  0, or -1 with err (errlen bytes) set. */
int
dp_nfs_configure(uv_loop_t *loop, const struct dp_nfs_settings *s,
                 char *err, size_t errlen);

/** Free the clients and the cache (no request may be in progress). */
void
dp_nfs_shutdown(void);

/** Empty the NFS cache (FLUSH_NFS_CACHE); returns how many entries it
 *  held. */
size_t
dp_nfs_flush_cache(void);

struct dp_nfs_stats {
    size_t clients;
    size_t cache_entries, cache_bytes;
    uint64_t attr_hits, attr_misses, data_hits, data_misses;
};

void
dp_nfs_get_stats(struct dp_nfs_stats *out);

/**
 * Serve `address` (type NFS) for `req`, answering now or from the loop.
 * `status` overrides 200 when not 0; `headers` hold the translation's
 * response headers and must live in req->pool.
 */
void
dp_nfs_serve(struct dp_request *req, const struct tp_address *address,
             unsigned status, struct dp_response_headers *headers);

#endif
