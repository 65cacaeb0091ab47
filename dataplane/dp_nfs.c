/*
 * dp_nfs: see dp_nfs.h.  Open (or the cache), then dp_file_answer() with
 * a struct stat made from the NFS attributes and a body factory: the
 * cached bytes, the bytes just read, or the streaming source below.
 */
#include "dp_nfs.h"
#include "dp_file.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#ifndef PORTIER_HAVE_NFS

bool
dp_nfs_available(void)
{
    return false;
}

int
dp_nfs_configure(uv_loop_t *loop, const struct dp_nfs_settings *s,
                 char *err, size_t errlen)
{
    return 0;
}

void
dp_nfs_shutdown(void)
{
}

size_t
dp_nfs_flush_cache(void)
{
    return 0;
}

void
dp_nfs_get_stats(struct dp_nfs_stats *out)
{
    memset(out, 0, sizeof(*out));
}

void
dp_nfs_serve(struct dp_request *req, const struct tp_address *address,
             unsigned status, struct dp_response_headers *headers)
{
    dp_request_error(req, 502, "NFS_SERVER: portierd was built without "
                     "libnfs");
}

#else

#include "pnfs_cache.h"
#include "pnfs_registry.h"

/* The most bytes asked of pnfs per read; it hands out at most one
 * read-ahead chunk anyway. */
#define NFS_BODY_READ_MAX (1024 * 1024)

static struct {
    uv_loop_t *loop;
    struct pnfs_registry *reg;
    struct pnfs_cache *cache;     /* NULL: nfs_cache_size 0 */
} nfs;

bool
dp_nfs_available(void)
{
    return true;
}

int
dp_nfs_configure(uv_loop_t *loop, const struct dp_nfs_settings *s,
                 char *err, size_t errlen)
{
    dp_nfs_shutdown();
    struct pnfs_client_config cfg;
    pnfs_client_config_init(&cfg, "", "/");
    cfg.nfs_port = s->nfs_port;
    cfg.mount_port = s->mount_port;
    cfg.timeout_ms = (unsigned)s->timeout_ms;
    cfg.idle_ms = (unsigned)s->idle_ms;
    nfs.loop = loop;
    nfs.reg = pnfs_registry_new(loop, &cfg);
    if (nfs.reg == NULL) {
        snprintf(err, errlen, "NFS: out of memory");
        return -1;
    }
    if (s->cache_size > 0) {
        nfs.cache = pnfs_cache_new(s->cache_size, PNFS_CACHE_ATTR_TTL_MS);
        if (nfs.cache == NULL) {
            dp_nfs_shutdown();
            snprintf(err, errlen, "NFS cache: out of memory");
            return -1;
        }
    }
    return 0;
}

void
dp_nfs_shutdown(void)
{
    pnfs_registry_free(nfs.reg);
    pnfs_cache_free(nfs.cache);
    nfs.reg = NULL;
    nfs.cache = NULL;
}

size_t
dp_nfs_flush_cache(void)
{
    if (nfs.cache == NULL)
        return 0;
    struct pnfs_cache_stats st;
    pnfs_cache_get_stats(nfs.cache, &st);
    pnfs_cache_flush(nfs.cache);
    return st.entries;
}

void
dp_nfs_get_stats(struct dp_nfs_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (nfs.reg != NULL)
        out->clients = pnfs_registry_count(nfs.reg);
    if (nfs.cache != NULL) {
        struct pnfs_cache_stats st;
        pnfs_cache_get_stats(nfs.cache, &st);
        out->cache_entries = st.entries;
        out->cache_bytes = st.bytes;
        out->attr_hits = st.attr_hits;
        out->attr_misses = st.attr_misses;
        out->data_hits = st.data_hits;
        out->data_misses = st.data_misses;
    }
}

/* ---- one request ---- */

struct nfs_body;

struct nreq {
    struct dp_request *req;
    struct dp_response_headers *headers;
    unsigned status;
    const char *server, *export_path, *path, *content_type;
    struct pnfs_client *client;
    struct pnfs_op *op;           /* pending open or read, or NULL */
    struct pnfs_file *file;       /* open; bodies read it, we close it */
    struct nfs_body *body;        /* the latest streaming body */
    struct pnfs_stat pst;
    struct stat st;
    struct pnfs_blob *blob;       /* cached contents in use */
    const uint8_t *data;          /* the whole file in memory, or NULL */
    uint8_t *buf;                 /* a small file being read */
    size_t got;
};

struct nfs_body {
    struct dp_body base;
    struct pnfs_file *file;       /* the request's; NULL once released */
    struct pnfs_op *op;           /* the pending read */
    uint64_t offset, end;
    const uint8_t *rest;          /* offered, not taken yet */
    size_t rest_len;
};

static void body_release(struct nfs_body *b);

static void
nreq_cleanup(void *arg)
{
    struct nreq *nr = arg;
    if (nr->op != NULL) {
        pnfs_cancel(nr->op);
        nr->op = NULL;
    }
    if (nr->body != NULL) {
        body_release(nr->body);     /* its pending read, before the file */
        nr->body = NULL;
    }
    if (nr->file != NULL) {
        pnfs_file_close(nr->file);
        nr->file = NULL;
    }
    pnfs_blob_unref(nr->blob);
    nr->blob = NULL;
}

static void
nreq_abort(void *arg)
{
    nreq_cleanup(arg);
}

/* The status for a failed NFS operation. */
static unsigned
error_status(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case EISDIR:
    case ENAMETOOLONG:
    case ELOOP:
        return 404;
    case EACCES:
    case EPERM:
        return 403;
    case ETIMEDOUT:
        return 504;
    case ENOMEM:
        return 500;
    default:
        return 502;
    }
}

static void
fail(struct nreq *nr, int err, const char *msg)
{
    char line[700];
    snprintf(line, sizeof(line), "NFS: %.600s", msg);
    dp_request_set_abort(nr->req, NULL, NULL);
    dp_request_error(nr->req, error_status(err), line);
}

/* ---- the streaming body ---- */

/* The body is done: no read pending.  The file stays open for the next
 * part of a multipart answer; the request closes it (nreq_cleanup). */
static void
body_release(struct nfs_body *b)
{
    if (b->op != NULL) {
        pnfs_cancel(b->op);
        b->op = NULL;
    }
    b->file = NULL;
    b->rest_len = 0;
}

static void body_pump(struct nfs_body *b);

static void
body_on_read(void *ctx, ssize_t status, const void *data, const char *error)
{
    struct nfs_body *b = ctx;
    b->op = NULL;
    if (status <= 0) {
        char msg[600];
        int err = status < 0 ? (int)-status : EIO;
        if (status < 0)
            snprintf(msg, sizeof(msg), "%s", error);
        else
            snprintf(msg, sizeof(msg), "%s on NFS: the file shrank while "
                     "it was read", pnfs_file_path(b->file));
        body_release(b);
        b->base.handler->error(b->base.ctx, err, msg);
        return;
    }
    uint64_t left = b->end - b->offset;
    b->rest = data;
    b->rest_len = (uint64_t)status < left ? (size_t)status : (size_t)left;
    body_pump(b);
}

/* Offer what is held, then read on while the consumer takes all. */
static void
body_pump(struct nfs_body *b)
{
    if (b->rest_len > 0) {
        size_t took = b->base.handler->data(b->base.ctx, b->rest,
                                            b->rest_len);
        b->rest += took;
        b->rest_len -= took;
        b->offset += took;
        b->base.length = (int64_t)(b->end - b->offset);
        if (b->rest_len > 0)
            return;     /* back-pressure: wait for dp_body_read() */
    }
    if (b->offset == b->end) {
        body_release(b);
        b->base.handler->eof(b->base.ctx);
        return;
    }
    uint64_t left = b->end - b->offset;
    size_t max = left < NFS_BODY_READ_MAX ? (size_t)left : NFS_BODY_READ_MAX;
    int rc = pnfs_file_read(b->file, b->offset, max, body_on_read, b,
                            &b->op);
    if (rc < 0) {
        char msg[600];
        snprintf(msg, sizeof(msg), "read %s on NFS: %s",
                 pnfs_file_path(b->file), strerror(-rc));
        body_release(b);
        b->base.handler->error(b->base.ctx, -rc, msg);
    }
}

static void
body_read(struct dp_body *body)
{
    struct nfs_body *b = (struct nfs_body *)body;
    if (b->file == NULL || b->op != NULL)
        return;     /* finished, or a read is on its way */
    body_pump(b);
}

static void
body_close(struct dp_body *body)
{
    body_release((struct nfs_body *)body);
}

static const struct dp_body_class nfs_body_class = {
    .name = "nfs",
    .read = body_read,
    .close = body_close,
};

/* dp_file_found.body: memory when the whole file is here (body_ctx),
 * else a streaming body over the request's open file (body_arg). */
static struct dp_body *
make_body(const struct dp_file_found *f, struct dp_request *req,
          uint64_t offset, uint64_t length)
{
    if (f->body_ctx != NULL)
        return dp_body_new_memory(req->pool,
                                  (const uint8_t *)f->body_ctx + offset,
                                  (size_t)length);
    struct nreq *nr = f->body_arg;
    struct nfs_body *b = dp_pool_calloc(req->pool, sizeof(*b));
    if (b == NULL || nr->file == NULL)
        return NULL;
    dp_body_init(&b->base, &nfs_body_class, (int64_t)length);
    b->file = nr->file;
    b->offset = offset;
    b->end = offset + length;
    nr->body = b;
    return &b->base;
}

static void
answer(struct nreq *nr)
{
    dp_request_set_abort(nr->req, NULL, NULL);
    memset(&nr->st, 0, sizeof(nr->st));
    nr->st.st_dev = (dev_t)nr->pst.dev;
    nr->st.st_ino = (ino_t)nr->pst.ino;
    nr->st.st_mode = nr->pst.mode;
    nr->st.st_nlink = nr->pst.nlink;
    nr->st.st_uid = nr->pst.uid;
    nr->st.st_gid = nr->pst.gid;
    nr->st.st_size = (off_t)nr->pst.size;
    nr->st.st_mtim.tv_sec = (time_t)nr->pst.mtime_sec;
    nr->st.st_mtim.tv_nsec = (long)nr->pst.mtime_nsec;
    nr->st.st_ctim.tv_sec = (time_t)nr->pst.ctime_sec;
    nr->st.st_ctim.tv_nsec = (long)nr->pst.ctime_nsec;
    struct dp_file_found f = {
        .st = &nr->st,
        .content_type = nr->content_type,
        .path = nr->path,
        .fd = -1,
        .body = make_body,
        .body_ctx = nr->data,
        .body_arg = nr,
    };
    dp_file_answer(nr->req, nr->status, nr->headers, &f);
}

static bool
small(const struct pnfs_stat *st)
{
    return nfs.cache != NULL && st->size <= PNFS_CACHE_MAX_FILE;
}

static void
on_fill(void *ctx, ssize_t status, const void *data, const char *error)
{
    struct nreq *nr = ctx;
    nr->op = NULL;
    if (status < 0) {
        fail(nr, (int)-status, error);
        return;
    }
    if (status == 0) {
        char msg[600];
        snprintf(msg, sizeof(msg), "read %s on NFS server %s export %s: "
                 "the file shrank while it was read", nr->path, nr->server,
                 nr->export_path);
        fail(nr, EIO, msg);
        return;
    }
    size_t n = (size_t)status;
    if (n > nr->pst.size - nr->got)
        n = (size_t)(nr->pst.size - nr->got);
    memcpy(nr->buf + nr->got, data, n);
    nr->got += n;
    if (nr->got < nr->pst.size) {
        int rc = pnfs_file_read(nr->file, nr->got, nr->pst.size - nr->got,
                                on_fill, nr, &nr->op);
        if (rc < 0) {
            char msg[600];
            snprintf(msg, sizeof(msg), "read %s on NFS server %s export "
                     "%s: %s", nr->path, nr->server, nr->export_path,
                     strerror(-rc));
            fail(nr, -rc, msg);
        }
        return;
    }
    pnfs_file_close(nr->file);
    nr->file = NULL;
    pnfs_cache_put_data(nfs.cache, nr->server, nr->export_path, nr->path,
                        &nr->pst, nr->buf, nr->got, uv_now(nfs.loop));
    nr->data = nr->buf;
    answer(nr);
}

static void
on_open(void *ctx, int status, struct pnfs_file *file,
        const struct pnfs_stat *st, const char *error)
{
    struct nreq *nr = ctx;
    nr->op = NULL;
    if (status < 0) {
        fail(nr, -status, error);
        return;
    }
    nr->file = file;
    nr->pst = *st;
    if (nfs.cache != NULL) {
        /* Fresh attributes; contents read under the same version stay
         * good (pnfs_cache_put_attr() drops them otherwise). */
        pnfs_cache_put_attr(nfs.cache, nr->server, nr->export_path,
                            nr->path, st, uv_now(nfs.loop));
        if (small(st))
            nr->blob = pnfs_cache_get_data(nfs.cache, nr->server,
                                           nr->export_path, nr->path, st);
        if (nr->blob != NULL) {
            pnfs_file_close(nr->file);
            nr->file = NULL;
            nr->data = pnfs_blob_data(nr->blob);
            if (nr->data == NULL)
                nr->data = (const uint8_t *)"";
            answer(nr);
            return;
        }
    }
    if (small(st) && st->size > 0 && nr->req->method == DP_HTTP_GET) {
        nr->buf = dp_pool_alloc(nr->req->pool, (size_t)st->size);
        if (nr->buf == NULL) {
            fail(nr, ENOMEM, "out of memory");
            return;
        }
        int rc = pnfs_file_read(file, 0, (size_t)st->size, on_fill, nr,
                                &nr->op);
        if (rc < 0) {
            char msg[600];
            snprintf(msg, sizeof(msg), "read %s on NFS server %s export "
                     "%s: %s", nr->path, nr->server, nr->export_path,
                     strerror(-rc));
            fail(nr, -rc, msg);
        }
        return;
    }
    if (st->size == 0)
        nr->data = (const uint8_t *)"";
    answer(nr);
}

static void
blob_release(void *arg)
{
    pnfs_blob_unref(arg);
}

/* From the cache without any NFS call and without copies (all of it
 * happens now): fresh attributes of a regular file and its contents read
 * under them. */
static bool
serve_cached(struct dp_request *req, const struct tp_address *address,
             unsigned status, struct dp_response_headers *headers)
{
    struct nreq nr = {
        .req = req,
        .headers = headers,
        .status = status,
        .path = address->path,
        .content_type = address->content_type,
    };
    if (nfs.cache == NULL ||
        pnfs_cache_get_attr(nfs.cache, address->nfs_server,
                            address->nfs_export, address->path, &nr.pst,
                            uv_now(nfs.loop)) != 0 ||
        !S_ISREG(nr.pst.mode))
        return false;
    struct pnfs_blob *blob = pnfs_cache_get_data(
        nfs.cache, address->nfs_server, address->nfs_export, address->path,
        &nr.pst);
    if (blob == NULL)
        return false;
    if (dp_pool_cleanup(req->pool, blob_release, blob) != 0) {
        pnfs_blob_unref(blob);
        return false;
    }
    nr.data = pnfs_blob_data(blob);
    if (nr.data == NULL)
        nr.data = (const uint8_t *)"";
    answer(&nr);
    return true;
}

void
dp_nfs_serve(struct dp_request *req, const struct tp_address *address,
             unsigned status, struct dp_response_headers *headers)
{
    if (!dp_file_method_allowed(req, headers))
        return;
    if (nfs.reg == NULL) {
        dp_request_error(req, 502, "NFS: not configured in this process");
        return;
    }
    if (serve_cached(req, address, status, headers))
        return;
    struct nreq *nr = dp_pool_calloc(req->pool, sizeof(*nr));
    if (nr == NULL || dp_pool_cleanup(req->pool, nreq_cleanup, nr) != 0) {
        dp_request_error(req, 500, "out of memory");
        return;
    }
    nr->req = req;
    nr->headers = headers;
    nr->status = status;
    /* The address lives in a translation cache hit or on the caller's
     * stack: keep copies for the callbacks. */
    nr->server = dp_pool_strdup(req->pool, address->nfs_server);
    nr->export_path = dp_pool_strdup(req->pool, address->nfs_export);
    nr->path = dp_pool_strdup(req->pool, address->path);
    if (address->content_type != NULL)
        nr->content_type = dp_pool_strdup(req->pool, address->content_type);
    if (nr->server == NULL || nr->export_path == NULL || nr->path == NULL ||
        (address->content_type != NULL && nr->content_type == NULL)) {
        dp_request_error(req, 500, "out of memory");
        return;
    }
    char err[300];
    nr->client = pnfs_registry_get(nfs.reg, nr->server, nr->export_path,
                                   err, sizeof(err));
    if (nr->client == NULL) {
        char msg[400];
        snprintf(msg, sizeof(msg), "NFS server %s export %s: %s",
                 nr->server, nr->export_path, err);
        dp_request_error(req, 502, msg);
        return;
    }
    int rc = pnfs_open(nr->client, nr->path, on_open, nr, &nr->op);
    if (rc < 0) {
        char msg[600];
        snprintf(msg, sizeof(msg), "open %s on NFS server %s export %s: %s",
                 nr->path, nr->server, nr->export_path, strerror(-rc));
        dp_request_error(req, rc == -EINVAL ? 404 : 500, msg);
        return;
    }
    dp_request_set_abort(req, nreq_abort, nr);
}

#endif
