/*
 * dp_pipe: PIPE filters.  See dp_pipe.h.
 */
#include "dp_pipe.h"
#include "dp_cgi.h"
#include "dp_child_io.h"
#include "dp_filter_cache_request.h"
#include "dp_pool.h"
#include "dp_proxy.h"
#include "dp_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

bool
dp_pipe_supported(const struct tp_response *r)
{
    for (size_t i = 0; i < r->n_filters; i++)
        if ((r->filters[i]->address.type != TP_ADDRESS_PIPE &&
             r->filters[i]->address.type != TP_ADDRESS_HTTP) ||
            r->filters[i]->no_body)
            return false;
    return true;
}

static uint64_t
fnv1a(uint64_t h, const char *s)
{
    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h ^ 0xff;    /* a separator between the strings */
}

char *
dp_pipe_etag(struct dp_pool *pool, const char *etag, const char *path,
             const struct tp_expandable_list *args)
{
    uint64_t h = fnv1a(0xcbf29ce484222325ull, path);
    for (size_t i = 0; args != NULL && i < args->n; i++)
        h = fnv1a(h, args->v[i].value);
    bool weak = strncmp(etag, "W/", 2) == 0;
    const char *inner = etag + (weak ? 2 : 0);
    size_t n = strlen(inner);
    if (n >= 2 && inner[0] == '"' && inner[n - 1] == '"') {
        inner++;
        n -= 2;
    }
    size_t size = n + 32;
    char *out = dp_pool_alloc(pool, size);
    if (out != NULL)
        snprintf(out, size, "%s\"%.*s-p%016llx\"", weak ? "W/" : "",
                 (int)n, inner, (unsigned long long)h);
    return out;
}

struct chain {
    const struct tp_response *r;
    struct dp_request *req;
    size_t next;                    /* the next filter */
    const char *source_id;          /* for the filter cache, or NULL */
    struct dp_filter_cache_use *use;    /* of the HTTP filter running */
};

/* Start one filter program reading `in`; the filtered body, or NULL
 * with err set (`in` is closed then). */
static struct dp_body *
start_filter(struct dp_request *req, const struct tp_address *a,
             struct dp_body *in, uint64_t timeout_ms, char *err,
             size_t errlen)
{
    struct dp_pool *pool = req->pool;
    size_t nl = strlen(a->path) + 6;
    char *name = dp_pool_alloc(pool, nl);
    const char *path;
    char **argv;
    struct dp_spawn_env env;
    dp_spawn_env_init(&env, pool);
    for (size_t i = 0; i < a->child.env.n; i++)
        dp_spawn_env_put(&env, a->child.env.v[i].value);
    char **envp = dp_spawn_env_finish(&env);
    if (name == NULL || envp == NULL ||
        dp_spawn_argv(pool, a, &path, &argv) != 0) {
        snprintf(err, errlen, "out of memory");
        dp_body_close(in);
        return NULL;
    }
    snprintf(name, nl, "pipe %s", a->path);
    int inp[2], outp[2] = { -1, -1 };
    if (pipe2(inp, O_CLOEXEC) != 0 || pipe2(outp, O_CLOEXEC) != 0) {
        snprintf(err, errlen, "%s: pipe: %s", name, strerror(errno));
        if (outp[0] < 0 && inp[0] >= 0) {
            close(inp[0]);
            close(inp[1]);
        }
        dp_body_close(in);
        return NULL;
    }
    struct dp_spawn_options o = {
        .name = name,
        .path = path,
        .argv = argv,
        .envp = envp,
        .child = &a->child,
        .stdin_fd = inp[0],
        .stdout_fd = outp[1],
    };
    struct dp_child *child = dp_spawn(&o, NULL, NULL, err, errlen);
    close(inp[0]);
    close(outp[1]);
    if (child == NULL) {
        close(inp[1]);
        close(outp[0]);
        dp_body_close(in);
        return NULL;
    }
    struct dp_body *out = dp_pipe_body_new(pool, outp[0], NULL, 0, -1,
                                           child, timeout_ms, name);
    if (out == NULL) {
        close(inp[1]);
        dp_body_close(in);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    /* The feeder ends on its own (EOF, EPIPE, an error of `in`: the
     * program then sees EOF and its output ends). */
    if (dp_feed_start(pool, in, inp[1], NULL, NULL) == NULL) {
        dp_body_close(out);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    return out;
}

/* Copy the header lines, without Content-Length and Digest, with the
 * ETag rewritten for the filters. */
static int
filtered_headers(struct dp_request *req, const struct tp_response *r,
                 const struct dp_response_headers *in,
                 struct dp_response_headers *out)
{
    dp_response_headers_init(out, req->pool);
    const char *p = in != NULL ? in->data : NULL;
    const char *end = p != NULL ? p + in->len : NULL;
    while (p != NULL && p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon != NULL) {
            char *name = dp_pool_strndup(req->pool, p, (size_t)(colon - p));
            const char *v = colon + 1;
            while (v < eol && *v == ' ')
                v++;
            char *value = dp_pool_strndup(req->pool, v, (size_t)(eol - v));
            if (name == NULL || value == NULL)
                return -1;
            if (strcasecmp(name, "ETag") == 0) {
                for (size_t i = 0; i < r->n_filters && value != NULL; i++)
                    value = dp_pipe_etag(req->pool, value,
                                         r->filters[i]->address.path,
                                         &r->filters[i]->address.args);
                if (value == NULL)
                    return -1;
            }
            if (strcasecmp(name, "Content-Length") != 0 &&
                strcasecmp(name, "Digest") != 0 &&
                dp_response_header(out, name, value) != 0)
                return -1;
        }
        p = eol + 2;
    }
    return 0;
}

static void chain_run(struct chain *ch, unsigned status,
                      const struct dp_response_headers *h,
                      struct dp_body *body);

/* An HTTP filter answered: go on with the next one. */
static void
on_http_filtered(void *ctx, unsigned status,
                 const struct dp_response_headers *h, struct dp_body *body,
                 unsigned err_status, const char *err)
{
    struct chain *ch = ctx;
    if (err != NULL) {
        dp_request_error(ch->req, err_status, err);
        return;
    }
    dp_filter_cache_result(ch->use, status, h, &body);
    ch->use = NULL;
    chain_run(ch, status, h, body);
}

/* Apply the filters from ch->next on: PIPE programs at once, an HTTP
 * filter asynchronously (its answer goes on in on_http_filtered). */
static void
chain_run(struct chain *ch, unsigned status,
          const struct dp_response_headers *h, struct dp_body *body)
{
    const struct tp_response *r = ch->r;
    struct dp_request *req = ch->req;
    char err[700];
    while (ch->next < r->n_filters) {
        const struct tp_filter *f = r->filters[ch->next++];
        if (f->address.type != TP_ADDRESS_HTTP && body == NULL)
            continue;       /* nothing for a program to read */
        struct dp_filter_cache_use *use = NULL;
        if (dp_filter_cache_begin(req, ch->source_id,
                                  (const struct tp_filter *const *)r->filters,
                                  ch->next, &status, &h, &body, &use))
            continue;       /* the stored result of this filter */
        if (f->address.type == TP_ADDRESS_HTTP) {
            ch->use = use;
            if (dp_proxy_filter(req, r, f, status, h, body, on_http_filtered,
                                ch, err, sizeof(err)) != 0)
                dp_request_error(req, 502, err);
            return;
        }
        body = start_filter(req, &f->address, body, dp_cgi_timeout(), err,
                            sizeof(err));
        if (body == NULL) {
            dp_request_error(req, 502, err);
            return;
        }
        dp_filter_cache_result(use, status, h, &body);
    }
    dp_request_respond(req, status, h, body);
}

static void
on_response(void *ctx, struct dp_request *req, unsigned status,
            const struct dp_response_headers *h, struct dp_body *body)
{
    struct chain *ch = ctx;
    const struct tp_response *r = ch->r;
    bool apply = (status >= 200 && status < 300) ||
                 (r->filter_4xx && status >= 400 && status < 500);
    if (!apply || body == NULL) {
        dp_request_respond(req, status, h, body);
        return;
    }
    struct dp_response_headers *nh = dp_pool_alloc(req->pool, sizeof(*nh));
    if (nh == NULL || filtered_headers(req, r, h, nh) != 0) {
        dp_body_close(body);
        dp_request_error(req, 500, "out of memory");
        return;
    }
    ch->req = req;
    ch->next = 0;
    chain_run(ch, status, nh, body);
}

int
dp_pipe_install(struct dp_request *req, const struct tp_response *r)
{
    if (r->n_filters == 0)
        return 0;
    struct chain *ch = dp_pool_calloc(req->pool, sizeof(*ch));
    if (ch == NULL)
        return -1;
    ch->r = r;
    if (dp_filter_cache_enabled() &&
        (ch->source_id = dp_filter_cache_source_id(req, r)) == NULL)
        return -1;
    /* A range of the unfiltered body is no range of the filtered one:
     * the resource sees the request without Range and If-Range. */
    struct dp_header *h = dp_pool_alloc(req->pool, (req->n_headers + 1) *
                                                       sizeof(*h));
    if (h == NULL)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, "Range") != 0 &&
            strcasecmp(req->headers[i].name, "If-Range") != 0)
            h[n++] = req->headers[i];
    req->headers = h;
    req->n_headers = n;
    dp_request_set_response_filter(req, on_response, ch);
    return 0;
}
