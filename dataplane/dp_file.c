/*
 * dp_file: open, fstat, metadata, preconditions, ranges, body.
 */
#include "dp_file.h"
#include "dp_accept_encoding.h"
#include "dp_conditional.h"
#include "dp_fcache.h"
#include "dp_file_meta.h"
#include "dp_range.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- a multipart/byteranges body: alternating memory and file parts,
 * read with pread() from a descriptor, or else through bodies that the
 * found file's factory makes, one region at a time ---- */

struct mp_segment {
    const char *mem;          /* NULL: a file region */
    uint64_t offset, length;  /* file region, or mem[0..length) */
};

struct mp_body {
    struct dp_body base;
    int fd;                   /* -1: regions through found->body() */
    const char *path;
    struct mp_segment *seg;
    size_t n_seg, cur;
    uint64_t done;            /* bytes of seg[cur] already delivered */
    bool closed;
    struct dp_request *req;
    struct dp_file_found *found;  /* a copy, in the pool */
    struct dp_body *sub;      /* the current region's body */
    bool in_read;             /* inside dp_body_read(sub) */
};

/* The descriptor belongs to the open-file cache (or the pool). */
static void
mp_release(struct mp_body *m)
{
    m->closed = true;
    m->fd = -1;
    if (m->sub != NULL) {
        struct dp_body *sub = m->sub;
        m->sub = NULL;
        dp_body_close(sub);
    }
}

static void mp_read(struct dp_body *body);

static size_t
mp_sub_data(void *ctx, const uint8_t *data, size_t len)
{
    struct mp_body *m = ctx;
    size_t took = m->base.handler->data(m->base.ctx, data, len);
    m->done += took;
    m->base.length -= (int64_t)took;
    return took;
}

static void
mp_sub_eof(void *ctx)
{
    struct mp_body *m = ctx;
    m->sub = NULL;
    m->cur++;
    m->done = 0;
    if (!m->in_read)
        mp_read(&m->base);    /* it ended from the loop: go on */
}

static void
mp_sub_error(void *ctx, int err, const char *msg)
{
    struct mp_body *m = ctx;
    m->sub = NULL;
    mp_release(m);
    m->base.handler->error(m->base.ctx, err, msg);
}

static const struct dp_body_handler mp_sub_handler = {
    mp_sub_data, mp_sub_eof, mp_sub_error,
};

/* One step of a region read through a sub-body; false when mp_read()
 * must return (waiting for the sub-body or the consumer, or done). */
static bool
mp_sub_step(struct mp_body *m, const struct mp_segment *s)
{
    if (m->sub == NULL) {
        m->sub = m->found->body(m->found, m->req, s->offset, s->length);
        if (m->sub == NULL) {
            mp_release(m);
            m->base.handler->error(m->base.ctx, ENOMEM, "out of memory");
            return false;
        }
        dp_body_set_handler(m->sub, &mp_sub_handler, m);
    }
    size_t cur = m->cur;
    m->in_read = true;
    dp_body_read(m->sub);
    m->in_read = false;
    return !m->closed && m->cur != cur;
}

static void
mp_read(struct dp_body *body)
{
    struct mp_body *m = (struct mp_body *)body;
    static uint8_t chunk[32768];
    while (!m->closed) {
        if (m->cur == m->n_seg) {
            mp_release(m);
            body->handler->eof(body->ctx);
            return;
        }
        struct mp_segment *s = &m->seg[m->cur];
        if (s->mem == NULL && m->fd < 0) {
            if (!mp_sub_step(m, s))
                return;
            continue;
        }
        const uint8_t *data;
        size_t n = s->length - m->done < sizeof(chunk)
                       ? (size_t)(s->length - m->done) : sizeof(chunk);
        if (s->mem != NULL) {
            data = (const uint8_t *)s->mem + m->done;
        } else {
            ssize_t r = pread(m->fd, chunk, n, (off_t)(s->offset + m->done));
            if (r <= 0) {
                char msg[300];
                int err = r < 0 ? errno : EIO;
                snprintf(msg, sizeof(msg), "%s %s: %s",
                         r < 0 ? "read error on" : "file shrank while "
                         "reading", m->path, strerror(err));
                mp_release(m);
                body->handler->error(body->ctx, err, msg);
                return;
            }
            data = chunk;
            n = (size_t)r;
        }
        size_t took = body->handler->data(body->ctx, data, n);
        m->done += took;
        body->length -= (int64_t)took;
        if (m->done == s->length) {
            m->cur++;
            m->done = 0;
        }
        if (took < n)
            return;
    }
}

static void
mp_close(struct dp_body *body)
{
    mp_release((struct mp_body *)body);
}

static const struct dp_body_class mp_class = {
    .name = "multipart/byteranges",
    .read = mp_read,
    .close = mp_close,
};

/* ---- serving ---- */

/* The body of [offset, offset+length) of a local file: its bytes in
 * memory for a small cached file, else the descriptor (sendfile). */
static struct dp_body *
local_body(const struct dp_file_found *f, struct dp_request *req,
           uint64_t offset, uint64_t length)
{
    const struct dp_fcache_file *cf = f->body_ctx;
    if (cf->data != NULL)
        return dp_body_new_memory(req->pool, cf->data + offset,
                                  (size_t)length);
    return dp_body_new_file_borrowed(req->pool, cf->fd, (int64_t)offset,
                                     (int64_t)length, f->path);
}

static void
fail_open(struct dp_request *req, const char *path, int err)
{
    char msg[300];
    if (err == EXDEV) {
        snprintf(msg, sizeof(msg), "%s resolves outside its BENEATH "
                 "directory (symbolic link?)", path);
        dp_request_error(req, 404, msg);
        return;
    }
    if (err == ENOENT || err == ENOTDIR || err == ENAMETOOLONG ||
        err == ELOOP) {
        dp_request_error(req, 404, NULL);
        return;
    }
    snprintf(msg, sizeof(msg), "open %s: %s", path, strerror(err));
    dp_request_error(req, err == EACCES || err == EPERM ? 403 : 500, msg);
}

static int
header(struct dp_response_headers *h, const char *name, const char *value)
{
    return dp_response_header(h, name, value);
}

bool
dp_file_method_allowed(struct dp_request *req, struct dp_response_headers *h)
{
    if (req->method == DP_HTTP_GET || req->method == DP_HTTP_HEAD)
        return true;
    if (header(h, "Allow", DP_FILE_ALLOW) != 0)
        dp_request_error(req, 500, "out of memory");
    else
        dp_request_error_headers(req, 405, h, NULL);
    return false;
}

void
dp_file_serve(struct dp_request *req, const struct tp_address *address,
              unsigned status, struct dp_response_headers *h)
{
    const char *path = address->path;
    if (!dp_file_method_allowed(req, h))
        return;

    /* A compressed variant (GZIPPED, AUTO_GZIPPED, AUTO_BROTLI_PATH),
     * when the client accepts it and the file exists. */
    const struct dp_fcache_file *cf = NULL;
    const char *encoding = NULL;
    bool variants = address->gzipped != NULL || address->auto_gzipped ||
                    address->auto_brotli_path;
    if (variants) {
        const char *ae_value = dp_request_header(req, "Accept-Encoding");
        struct dp_accept_encoding ae;
        dp_accept_encoding_parse(ae_value,
                                 ae_value != NULL ? strlen(ae_value) : 0,
                                 &ae);
        size_t pn = strlen(path);
        char *br = NULL, *auto_gz = NULL;
        const char *gz = NULL;
        if (address->auto_brotli_path &&
            dp_accept_encoding_accepts(&ae, DP_CODING_BR) &&
            (br = dp_pool_alloc(req->pool, pn + 4)) != NULL)
            snprintf(br, pn + 4, "%s.br", path);
        if (dp_accept_encoding_accepts(&ae, DP_CODING_GZIP)) {
            if (address->gzipped != NULL) {
                gz = address->gzipped;
            } else if (address->auto_gzipped &&
                       (auto_gz = dp_pool_alloc(req->pool, pn + 4)) !=
                           NULL) {
                snprintf(auto_gz, pn + 4, "%s.gz", path);
                gz = auto_gz;
            }
        }
        const struct dp_fcache_file *bf = NULL, *gf = NULL;
        bool have_br = br != NULL &&
                       dp_fcache_open(req->pool, br, address->beneath,
                                      &bf) == 0 &&
                       S_ISREG(bf->st.st_mode);
        bool have_gz = gz != NULL &&
                       dp_fcache_open(req->pool, gz, address->beneath,
                                      &gf) == 0 &&
                       S_ISREG(gf->st.st_mode);
        enum dp_coding c = dp_accept_encoding_choose(&ae, have_br, have_gz);
        if (c == DP_CODING_BR || c == DP_CODING_GZIP) {
            cf = c == DP_CODING_BR ? bf : gf;
            encoding = dp_coding_name(c);
            path = c == DP_CODING_BR ? br : gz;
        }
        if (header(h, "Vary", "Accept-Encoding") != 0)
            goto oom;
    }
    if (cf == NULL) {
        int rc = dp_fcache_open(req->pool, path, address->beneath, &cf);
        if (rc < 0) {
            fail_open(req, path, -rc);
            return;
        }
        if (!S_ISREG(cf->st.st_mode)) {
            dp_request_error(req, 404, NULL);
            return;
        }
    }
    struct dp_file_found f = {
        .st = &cf->st,
        .xattrs = &cf->xattrs,
        .meta = cf->meta,
        .content_type = address->content_type,
        .encoding = encoding,
        .path = path,
        .fd = cf->fd,
        .body = local_body,
        .body_ctx = cf,
    };
    dp_file_answer(req, status, h, &f);
    return;

oom:
    dp_request_error(req, 500, "out of memory");
}

/* The request headers dp_file_answer() reads (the first of each name,
 * as dp_request_header() gives it), found in one pass: most requests
 * have none of them, and six lookups cost more than the pass. */
struct file_headers {
    const char *ims, *ius, *im, *inm, *range, *if_range;
};

static void
file_headers_find(const struct dp_request *req, struct file_headers *fh)
{
    static const char *const names[] = {
        "If-Modified-Since", "If-Unmodified-Since", "If-Match",
        "If-None-Match", "Range", "If-Range",
    };
    const char **slots[] = {
        &fh->ims, &fh->ius, &fh->im, &fh->inm, &fh->range, &fh->if_range,
    };
    memset(fh, 0, sizeof(*fh));
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *n = req->headers[i].name;
        char c = (char)(n[0] | 0x20);
        if (c != 'i' && c != 'r')
            continue;
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
            if (*slots[k] == NULL && strcasecmp(n, names[k]) == 0) {
                *slots[k] = req->headers[i].value;
                break;
            }
    }
}

void
dp_file_answer(struct dp_request *req, unsigned status,
               struct dp_response_headers *h, const struct dp_file_found *f)
{
    enum dp_method_class method = req->method == DP_HTTP_HEAD
                                      ? DP_METHOD_HEAD
                                      : DP_METHOD_GET;
    const struct stat *stp = f->st;
    const char *encoding = f->encoding;
    const char *path = f->path;
    if (encoding != NULL && header(h, "Content-Encoding", encoding) != 0)
        goto oom;

    time_t now = time(NULL);
    struct dp_file_meta meta;
    const char *ct = f->content_type;
    if (f->meta != NULL)
        meta = *f->meta;
    else
        dp_file_meta_build(&meta, stp, f->xattrs, NULL, 0, now);
    dp_file_meta_set_content_type(&meta, f->xattrs, ct,
                                  ct != NULL ? strlen(ct) : 0);
    struct dp_validators v;
    dp_file_meta_validators(&meta, &v);

    /* Headers every answer below carries. */
    char buf[DP_CACHE_CONTROL_SIZE];
    if (dp_response_header_n(h, "ETag", 4, meta.etag, meta.etag_len) != 0)
        goto oom;
    if (meta.has_last_modified &&
        dp_response_header_n(h, "Last-Modified", 13,
                             meta.last_modified_text,
                             DP_HTTP_DATE_LEN) != 0)
        goto oom;
    if (dp_file_meta_cache_control(&meta, buf, sizeof(buf)) > 0) {
        char expires[DP_HTTP_DATE_SIZE];
        if (header(h, "Cache-Control", buf) != 0)
            goto oom;
        if (dp_expires_format(now, meta.max_age, expires) == 0 &&
            header(h, "Expires", expires) != 0)
            goto oom;
    }

    struct file_headers fh;
    file_headers_find(req, &fh);
    const char *ims = fh.ims, *ius = fh.ius, *im = fh.im, *inm = fh.inm;
    struct dp_cond_headers ch = {
        .if_match = im, .if_match_len = im ? strlen(im) : 0,
        .if_none_match = inm, .if_none_match_len = inm ? strlen(inm) : 0,
        .if_modified_since = ims,
        .if_modified_since_len = ims ? strlen(ims) : 0,
        .if_unmodified_since = ius,
        .if_unmodified_since_len = ius ? strlen(ius) : 0,
    };
    /* A translation-given status (STATUS with PATH) is not subject to
     * conditional requests or ranges: it is not a plain 200. */
    if (status == 0 || status == 200) {
        enum dp_cond_result cr = dp_conditional_evaluate(method, &ch, &v,
                                                         now);
        if (cr != DP_COND_PROCEED) {
            if (cr == DP_COND_NOT_MODIFIED)
                dp_request_respond(req, 304, h, NULL);
            else
                dp_request_error(req, 412, NULL);
            return;
        }
    }

    if (dp_response_header_n(h, "Content-Type", 12, meta.content_type,
                             meta.content_type_len) != 0)
        goto oom;
    if ((status == 0 || status == 200) &&
        header(h, "Accept-Ranges", "bytes") != 0)
        goto oom;

    const char *range = fh.range, *if_range = fh.if_range;
    uint64_t size = (uint64_t)stp->st_size;
    if ((status == 0 || status == 200) &&
        dp_range_wanted(method, range != NULL, if_range,
                        if_range ? strlen(if_range) : 0, &v, now)) {
        struct dp_range_set set;
        enum dp_range_status rs = dp_range_parse(range, strlen(range), size,
                                                 &set);
        char cr[DP_CONTENT_RANGE_SIZE];
        if (rs == DP_RANGE_UNSATISFIABLE) {
            dp_content_range_unsatisfied(cr, sizeof(cr), size);
            if (header(h, "Content-Range", cr) != 0)
                goto oom;
            dp_request_respond(req, 416, h, NULL);
            return;
        }
        if (rs == DP_RANGE_PARTIAL && set.count == 1) {
            dp_content_range(cr, sizeof(cr), &set.r[0], size);
            if (header(h, "Content-Range", cr) != 0)
                goto oom;
            struct dp_body *body = f->body(
                f, req, set.r[0].first,
                dp_byte_range_length(&set.r[0]));
            if (body == NULL)
                goto oom;
            dp_request_respond(req, 206, h, body);
            return;
        }
        if (rs == DP_RANGE_PARTIAL && encoding == NULL) {
            /* multipart/byteranges.  Content-Type moves into the parts:
             * rebuild the head without it. */
            uint8_t rnd[DP_BOUNDARY_RANDOM];
            if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) !=
                (ssize_t)sizeof(rnd))
                for (size_t i = 0; i < sizeof(rnd); i++)
                    rnd[i] = (uint8_t)(now >> (i % 8)) ^ (uint8_t)i;
            char boundary[DP_BOUNDARY_SIZE];
            dp_multipart_boundary(boundary, rnd);
            uint64_t total;
            if (dp_multipart_length(&set, boundary, meta.content_type,
                                    meta.content_type_len, size,
                                    &total) != 0)
                goto oom;
            struct mp_body *m = dp_pool_calloc(req->pool, sizeof(*m));
            struct mp_segment *seg = dp_pool_calloc(
                req->pool, (2 * set.count + 1) * sizeof(*seg));
            if (m == NULL || seg == NULL)
                goto oom;
            m->fd = -1;
            size_t hsize = DP_MULTIPART_HEADER_SIZE(meta.content_type_len);
            for (unsigned i = 0; i < set.count; i++) {
                char *ph = dp_pool_alloc(req->pool, hsize);
                if (ph == NULL)
                    goto oom;
                int n = dp_multipart_part_header(
                    ph, hsize, boundary, meta.content_type,
                    meta.content_type_len, &set.r[i], size, i == 0);
                if (n < 0)
                    goto oom;
                seg[2 * i].mem = ph;
                seg[2 * i].length = (uint64_t)n;
                seg[2 * i + 1].offset = set.r[i].first;
                seg[2 * i + 1].length = dp_byte_range_length(&set.r[i]);
            }
            char *tr = dp_pool_alloc(req->pool, DP_MULTIPART_TRAILER_SIZE);
            if (tr == NULL)
                goto oom;
            int tn = dp_multipart_trailer(tr, DP_MULTIPART_TRAILER_SIZE,
                                          boundary);
            if (tn < 0)
                goto oom;
            seg[2 * set.count].mem = tr;
            seg[2 * set.count].length = (uint64_t)tn;

            struct dp_response_headers h2;
            dp_response_headers_init(&h2, req->pool);
            /* Copy every header but Content-Type. */
            const char *p = h->data, *end = h->data + h->len;
            while (p < end) {
                const char *eol = memchr(p, '\n', (size_t)(end - p));
                size_t n = (size_t)(eol - p) + 1;
                if (strncasecmp(p, "Content-Type:", 13) != 0) {
                    char *line = dp_pool_strndup(req->pool, p, n);
                    char *colon = line != NULL ? strchr(line, ':') : NULL;
                    if (colon == NULL)
                        goto oom;
                    *colon = '\0';
                    line[n - 2] = '\0';
                    if (header(&h2, line, colon + 2) != 0)
                        goto oom;
                }
                p += n;
            }
            char mct[128];
            dp_multipart_content_type(mct, sizeof(mct), boundary);
            if (header(&h2, "Content-Type", mct) != 0)
                goto oom;
            dp_body_init(&m->base, &mp_class, (int64_t)total);
            m->fd = f->fd;
            m->path = path;
            m->req = req;
            if (f->fd < 0) {
                m->found = dp_pool_alloc(req->pool, sizeof(*m->found));
                if (m->found == NULL)
                    goto oom;
                *m->found = *f;
            }
            m->seg = seg;
            m->n_seg = 2 * set.count + 1;
            dp_request_respond(req, 206, &h2, &m->base);
            return;
        }
        /* DP_RANGE_IGNORE: the whole file */
    }

    struct dp_body *body = f->body(f, req, 0, size);
    if (body == NULL)
        goto oom;
    dp_request_respond(req, status != 0 ? status : 200, h, body);
    return;

oom:
    dp_request_error(req, 500, "out of memory");
}
