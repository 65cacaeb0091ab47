/*
 * pnfs_client: files on one NFSv3 export, read through libnfs's async API
 * on a caller's libuv loop.
 *
 * Promises:
 * - One client per (server, export), shared by every request (see
 *   pnfs_registry).  It mounts on first use (the server's name resolved
 *   on libuv's thread pool, not by libnfs on the loop); operations
 *   started while it mounts wait in a queue.
 *   libnfs runs behind a uv_poll_t on nfs_get_fd() with the interest of
 *   nfs_which_events(), progress by nfs_service(); no call blocks the
 *   loop.
 * - A failed mount or a dropped connection fails every pending operation
 *   with an error (callbacks run, from the loop) and the next operation
 *   mounts again, so the client recovers when the server comes back.
 *   Files opened on the lost connection fail their further reads; the
 *   owner closes them.
 * - Every operation has a deadline (timeout_ms, measured with uv timers).
 *   When it passes the operation fails with ETIMEDOUT and the connection
 *   is dropped (a server that leaves one request unanswered is treated as
 *   gone; the next operation mounts again).
 * - After idle_ms without operations or open files the client unmounts
 *   (closes its connection); the next operation mounts again.
 * - Errors are negative errno values (ENOENT, EACCES, EISDIR, ENOTDIR,
 *   ETIMEDOUT, ECONNREFUSED, ECONNRESET, EIO, ...) with a message that
 *   names the server, the export and the path.
 * - libuv's rule: a function that returns an error never calls its
 *   callback.  Otherwise the callback runs exactly once, from the loop
 *   (never inside the call that started the operation), unless the
 *   operation is cancelled first: after pnfs_cancel() it never runs.
 * - Not thread-safe: one loop, one thread.
 */
#ifndef PORTIER_PNFS_CLIENT_H
#define PORTIER_PNFS_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "pnfs_stat.h"

#define PNFS_DEFAULT_TIMEOUT_MS 10000
#define PNFS_DEFAULT_IDLE_MS 60000
#define PNFS_DEFAULT_READ_AHEAD (256 * 1024)
#define PNFS_CHUNK_MAX (64 * 1024)

struct pnfs_client;
struct pnfs_file;
struct pnfs_op;

struct pnfs_client_config {
    const char *server;        /* host name or address */
    const char *export_path;   /* absolute path of the export */
    unsigned nfs_port;         /* 0: ask the server's portmapper */
    unsigned mount_port;       /* 0: ask the server's portmapper */
    int uid, gid;              /* AUTH_SYS identity; -1: the process's */
    unsigned timeout_ms;       /* 0: PNFS_DEFAULT_TIMEOUT_MS */
    unsigned idle_ms;          /* 0: PNFS_DEFAULT_IDLE_MS */
    size_t read_ahead;         /* bytes per open file; 0: default */
};

/** The result of pnfs_open() and pnfs_stat(): status 0 or -errno; error
 *  is NULL on success, else a sentence naming server, export and path
 *  (valid during the call).  On success of pnfs_open(), file is an open
 *  regular file the callee now owns (pnfs_file_close()). */
typedef void pnfs_open_cb(void *ctx, int status, struct pnfs_file *file,
                          const struct pnfs_stat *st, const char *error);
typedef void pnfs_stat_cb(void *ctx, int status, const struct pnfs_stat *st,
                          const char *error);
/** status > 0: that many bytes at data (valid until the next
 *  pnfs_file_read() or pnfs_file_close() of this file); 0: end of file;
 *  < 0: -errno with error set. */
typedef void pnfs_read_cb(void *ctx, ssize_t status, const void *data,
                          const char *error);

/** Fill in the defaults (ports 0, uid/gid -1, default times). */
void
pnfs_client_config_init(struct pnfs_client_config *cfg, const char *server,
                        const char *export_path);

/** A client for cfg (strings are copied), not connected yet.  NULL when
 *  the configuration is invalid or memory is short; then err (errlen
 *  bytes) says why. */
struct pnfs_client *
pnfs_client_new(uv_loop_t *loop, const struct pnfs_client_config *cfg,
                char *err, size_t errlen);

/** Releases the client.  Precondition: no operation pending, no file
 *  open.  Its handles close asynchronously: run the loop afterwards. */
void
pnfs_client_free(struct pnfs_client *client);

const char *
pnfs_client_server(const struct pnfs_client *client);

const char *
pnfs_client_export(const struct pnfs_client *client);

/** True while a connection is mounted (for tests and statistics). */
int
pnfs_client_mounted(const struct pnfs_client *client);

/**
 * Open `path` (absolute inside the export) for reading and stat it.
 * Directories fail with -EISDIR, other non-regular files with -EACCES.
 * 0 and *op set (for pnfs_cancel) or -EINVAL/-ENOMEM (no callback).
 */
int
pnfs_open(struct pnfs_client *client, const char *path, pnfs_open_cb *cb,
          void *ctx, struct pnfs_op **op);

/** The attributes of `path`, without opening it. */
int
pnfs_stat(struct pnfs_client *client, const char *path, pnfs_stat_cb *cb,
          void *ctx, struct pnfs_op **op);

/**
 * One buffer of at most `max` bytes at `offset` (max 0 means any size).
 * Reads ahead up to the client's read_ahead bytes behind the last
 * requested offset, never more: sequential reads are served from memory
 * while the server works on the next chunks.  One read at a time per
 * file (-EBUSY otherwise).
 */
int
pnfs_file_read(struct pnfs_file *file, uint64_t offset, size_t max,
               pnfs_read_cb *cb, void *ctx, struct pnfs_op **op);

/** The attributes the file was opened with. */
const struct pnfs_stat *
pnfs_file_stat(const struct pnfs_file *file);

/** The path the file was opened under. */
const char *
pnfs_file_path(const struct pnfs_file *file);

/** Close the file; a pending read is cancelled (its callback never
 *  runs). */
void
pnfs_file_close(struct pnfs_file *file);

/** Cancel a pending operation: its callback never runs.  op must be
 *  pending (its callback has not run yet). */
void
pnfs_cancel(struct pnfs_op *op);

#endif
