/*
 * dp_cgi: CGI requests.  See dp_cgi.h.
 */
#include "dp_cgi.h"
#include "cgi_head.h"
#include "dp_cgi_vars.h"
#include "dp_child_io.h"
#include "dp_http_cache_request.h"
#include "dp_pool.h"
#include "dp_spawn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* stdin of a child whose request body is larger than the default pipe
 * (64 KiB): each splice step of the feeder (dp_child_io) then moves up to
 * this much.  Small and chunked bodies keep the default, so a server with
 * many CGI requests in flight does not pin 256 KiB of pipe pages each. */
#define CGI_STDIN_PIPE_SIZE (256 * 1024)
#define CGI_DEFAULT_PIPE_SIZE (64 * 1024)

static uint64_t cgi_timeout_ms = 60000;
static const char *cgi_server_software = "Portier";

void
dp_cgi_configure(uint64_t timeout_ms, const char *server_software)
{
    cgi_timeout_ms = timeout_ms != 0 ? timeout_ms : 60000;
    cgi_server_software = server_software != NULL ? server_software
                                                  : "Portier";
}

uint64_t
dp_cgi_timeout(void)
{
    return cgi_timeout_ms;
}

/* ---- the environment ---- */

static bool
skip_header(const char *name)
{
    static const char *const skip[] = {
        "Content-Type", "Content-Length", "Proxy", "X-CM4all-HTTPS",
        "Connection", "Keep-Alive", "TE", "Trailer", "Transfer-Encoding",
        "Upgrade", "Proxy-Connection",
    };
    for (size_t i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
        if (strcasecmp(name, skip[i]) == 0)
            return true;
    return false;
}

/* The value of variable `name` in env so far, or NULL. */
static const char *
env_get(const struct dp_spawn_env *env, const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; i < env->n; i++)
        if (strncmp(env->v[i], name, n) == 0 && env->v[i][n] == '=')
            return env->v[i] + n + 1;
    return NULL;
}

static char *
pool_printf(struct dp_pool *pool, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static char *
pool_printf(struct dp_pool *pool, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *s = dp_pool_alloc(pool, (size_t)n + 1);
    if (s == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

char **
dp_cgi_environment(struct dp_pool *pool, const struct dp_request *req,
                   const struct tp_address *a,
                   const char *server_software, bool with_body)
{
    struct dp_spawn_env env;
    dp_spawn_env_init(&env, pool);
    const char *https = dp_request_header(req, "X-CM4all-HTTPS");
    bool tls = req->tls || (https != NULL && strcmp(https, "on") == 0);
    const char *query = req->query != NULL ? req->query : "";

    dp_spawn_env_set(&env, "GATEWAY_INTERFACE", "CGI/1.1");
    dp_spawn_env_set(&env, "SERVER_PROTOCOL", req->version_minor == 0
                                                  ? "HTTP/1.0"
                                                  : "HTTP/1.1");
    dp_spawn_env_set(&env, "REQUEST_METHOD", req->method_name);
    dp_spawn_env_set(&env, "SCRIPT_FILENAME", a->path);
    dp_spawn_env_set(&env, "PATH_TRANSLATED", a->path);

    /* REQUEST_URI: the client's URI without ;args, or SCRIPT_NAME +
     * PATH_INFO when SCRIPT_NAME is set (§6.3). */
    const char *uri = dp_cgi_request_uri(pool, a, req->path, req->query);
    if (uri == NULL)
        return NULL;
    dp_spawn_env_set(&env, "REQUEST_URI", uri);
    dp_spawn_env_set(&env, "SCRIPT_NAME",
                     a->script_name != NULL ? a->script_name : "");
    dp_spawn_env_set(&env, "PATH_INFO",
                     a->path_info != NULL ? a->path_info : "");
    dp_spawn_env_set(&env, "QUERY_STRING", query);
    dp_spawn_env_set(&env, "DOCUMENT_ROOT",
                     a->document_root != NULL ? a->document_root
                                              : DP_CGI_DEFAULT_DOCUMENT_ROOT);
    dp_spawn_env_set(&env, "SERVER_SOFTWARE",
                     server_software != NULL ? server_software : "Portier");

    /* SERVER_NAME and SERVER_PORT from Host ("name", "name:port",
     * "[v6]", "[v6]:port"). */
    const char *host = req->host != NULL ? req->host : "";
    const char *port = NULL;
    size_t hn;
    if (host[0] == '[') {
        const char *close = strchr(host, ']');
        hn = close != NULL ? (size_t)(close - host) + 1 : strlen(host);
        if (host[hn] == ':')
            port = host + hn + 1;
    } else {
        hn = strcspn(host, ":");
        if (host[hn] == ':')
            port = host + hn + 1;
    }
    char *name = dp_pool_strndup(pool, host, hn);
    if (name == NULL)
        return NULL;
    dp_spawn_env_set(&env, "SERVER_NAME", name);
    dp_spawn_env_set(&env, "SERVER_PORT", port != NULL && port[0] != '\0'
                                              ? port
                                              : tls ? "443" : "80");

    if (req->peer != NULL && (req->peer->sa_family == AF_INET ||
                              req->peer->sa_family == AF_INET6)) {
        char ip[INET6_ADDRSTRLEN];
        unsigned peer_port;
        if (req->peer->sa_family == AF_INET) {
            const struct sockaddr_in *in =
                (const struct sockaddr_in *)(const void *)req->peer;
            inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
            peer_port = ntohs(in->sin_port);
        } else {
            const struct sockaddr_in6 *in6 =
                (const struct sockaddr_in6 *)(const void *)req->peer;
            inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
            peer_port = ntohs(in6->sin6_port);
        }
        char pbuf[8];
        snprintf(pbuf, sizeof(pbuf), "%u", peer_port);
        dp_spawn_env_set(&env, "REMOTE_ADDR", ip);
        dp_spawn_env_set(&env, "REMOTE_PORT", pbuf);
    }

    for (size_t i = 0; i < req->n_headers; i++) {
        const struct dp_header *h = &req->headers[i];
        if (skip_header(h->name))
            continue;
        char *var = dp_cgi_http_var(pool, h->name);
        if (var == NULL)
            return NULL;
        const char *old = env_get(&env, var);
        if (old != NULL) {
            char *joined = pool_printf(pool, "%s, %s", old, h->value);
            if (joined == NULL)
                return NULL;
            dp_spawn_env_set(&env, var, joined);
        } else {
            dp_spawn_env_set(&env, var, h->value);
        }
    }
    if (with_body) {
        const char *ct = dp_request_header(req, "Content-Type");
        if (ct != NULL)
            dp_spawn_env_set(&env, "CONTENT_TYPE", ct);
        if (req->content_length >= 0) {
            char len[24];
            snprintf(len, sizeof(len), "%lld",
                     (long long)req->content_length);
            dp_spawn_env_set(&env, "CONTENT_LENGTH", len);
        }
    }
    if (tls)
        dp_spawn_env_set(&env, "HTTPS", "on");
    for (size_t i = 0; i < a->child.env.n; i++)
        dp_spawn_env_put(&env, a->child.env.v[i].value);
    return dp_spawn_env_finish(&env);
}

/* ---- one CGI request ---- */

struct cgi {
    struct dp_request *req;
    const struct tp_address *address;
    struct dp_response_headers *headers;
    struct dp_cgi_redirect redirect;
    bool has_redirect;
    const char *name;                 /* "cgi /path" */
    struct dp_body *out;              /* the stdout pipe body */
    struct dp_feed *feed;             /* the request body into stdin */
    struct dp_pipe_head head_cb;
    struct cgi_head head;
    bool head_init, in_head;
    struct dp_hcache_use *cache;      /* NULL: the cache is not involved */
};

static void
cgi_cleanup(void *arg)
{
    struct cgi *c = arg;
    if (c->head_init) {
        cgi_head_destroy(&c->head);
        c->head_init = false;
    }
}

/* Stop everything that is still ours (the feeder; the output body while
 * the head is read). */
static void
cgi_stop(struct cgi *c)
{
    if (c->feed != NULL) {
        dp_feed_stop(c->feed);
        c->feed = NULL;
    }
    if (c->in_head && c->out != NULL) {
        dp_body_close(c->out);
        c->in_head = false;
    }
    c->out = NULL;
}

static void
cgi_abort(void *ctx)
{
    cgi_stop(ctx);
}

static void
cgi_fail(struct cgi *c, unsigned status, const char *what)
{
    char msg[400];
    snprintf(msg, sizeof(msg), "%s: %s", c->name, what);
    cgi_stop(c);
    dp_request_set_abort(c->req, NULL, NULL);
    dp_request_error(c->req, status, msg);
}

static void
on_feed(void *ctx, enum dp_feed_event ev, const char *msg)
{
    struct cgi *c = ctx;
    switch (ev) {
    case DP_FEED_PROGRESS:
        if (c->in_head && c->out != NULL)
            dp_pipe_body_touch(c->out);
        return;
    case DP_FEED_DONE:
    case DP_FEED_CLOSED:
        c->feed = NULL;
        return;
    case DP_FEED_ERROR:
        c->feed = NULL;
        if (c->in_head) {
            char what[350];
            snprintf(what, sizeof(what), "request body: %s",
                     msg != NULL ? msg : "error");
            cgi_fail(c, 400, what);
        }
        /* After the head the response goes on; the connection ends
         * with the broken request anyway. */
        return;
    }
}

static size_t
head_feed(void *ctx, const uint8_t *data, size_t len, bool *done)
{
    struct cgi *c = ctx;
    size_t consumed = 0;
    enum cgi_head_status st = cgi_head_feed(&c->head, data, len, &consumed);
    if (st == CGI_HEAD_ERROR)
        return SIZE_MAX;
    *done = st == CGI_HEAD_DONE;
    return st == CGI_HEAD_DONE ? consumed : len;
}

static void
head_failed(void *ctx, int err, const char *msg)
{
    struct cgi *c = ctx;
    c->in_head = false;
    c->out = NULL;      /* released by the pipe body */
    char what[350];
    if (err == EPROTO) {
        snprintf(what, sizeof(what), "malformed response head: %s",
                 cgi_head_error(&c->head));
        cgi_fail(c, 502, what);
    } else if (err == 0) {
        cgi_head_finish(&c->head);
        snprintf(what, sizeof(what), "output ended before the response "
                 "head was complete (%s)", cgi_head_error(&c->head));
        cgi_fail(c, 502, what);
    } else if (err == ETIMEDOUT) {
        snprintf(what, sizeof(what), "no response head within %llu ms",
                 (unsigned long long)cgi_timeout_ms);
        cgi_fail(c, 504, what);
    } else {
        cgi_fail(c, 502, msg != NULL ? msg : strerror(err));
    }
}

/* Response headers a program may not set: the server frames responses. */
static bool
server_header(const struct pr_slice *name)
{
    static const char *const own[] = {
        "Content-Length", "Date", "Server", "Transfer-Encoding",
        "Connection",
    };
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (strlen(own[i]) == name->len &&
            strncasecmp((const char *)name->data, own[i], name->len) == 0)
            return true;
    return false;
}

static void
head_ready(void *ctx)
{
    struct cgi *c = ctx;
    struct dp_request *req = c->req;
    struct cgi_head *h = &c->head;
    c->in_head = false;
    dp_request_set_abort(req, NULL, NULL);

    if (h->local_redirect) {
        /* the new request sees the client's headers, not a
         * revalidation's */
        dp_hcache_restore_request(c->cache);
        char *uri = dp_pool_strndup(req->pool, h->location.data,
                                    h->location.len);
        struct dp_body *out = c->out;
        c->out = NULL;
        dp_body_close(out);
        if (c->feed != NULL) {
            dp_feed_stop(c->feed);
            c->feed = NULL;
        }
        if (!c->has_redirect || uri == NULL) {
            cgi_fail(c, 502, "local redirect (Location without Status) "
                     "not possible here");
            return;
        }
        c->redirect.fn(c->redirect.ctx, uri);
        return;
    }

    struct dp_response_headers *rh = c->headers;
    size_t backend_from = rh->len;
    for (size_t i = 0; i < h->n_headers; i++) {
        const struct cgi_header *x = &h->headers[i];
        if (server_header(&x->name))
            continue;
        char *n = dp_pool_strndup(req->pool, x->name.data, x->name.len);
        char *v = dp_pool_strndup(req->pool, x->value.data, x->value.len);
        if (n == NULL || v == NULL || dp_response_header(rh, n, v) != 0) {
            cgi_fail(c, 500, "out of memory");
            return;
        }
    }
    if (h->has_content_length)
        dp_pipe_body_set_length(c->out, (int64_t)h->content_length);
    struct dp_body *out = c->out;
    c->out = NULL;
    if (c->cache != NULL) {
        struct h1_header *raw = dp_pool_alloc(req->pool,
                                              (h->n_headers + 1) *
                                                  sizeof(*raw));
        if (raw != NULL) {
            for (size_t i = 0; i < h->n_headers; i++) {
                raw[i].name = h->headers[i].name;
                raw[i].value = h->headers[i].value;
            }
            if (dp_hcache_response(c->cache, h->status, raw, h->n_headers,
                                   rh, backend_from, &out))
                return;
        }
    }
    dp_request_respond(req, h->status, rh, out);
}

void
dp_cgi_serve(struct dp_request *req, const struct tp_address *a,
             struct dp_response_headers *headers,
             const struct dp_cgi_redirect *redirect, bool with_body,
             const struct dp_hcache_info *cache)
{
    struct dp_pool *pool = req->pool;
    struct cgi *c = dp_pool_calloc(pool, sizeof(*c));
    if (c == NULL || dp_pool_cleanup(pool, cgi_cleanup, c) != 0) {
        dp_request_error(req, 500, "out of memory");
        return;
    }
    if (cache != NULL) {
        size_t kn = strlen(a->path) + strlen(req->target) + 8;
        char *key = dp_pool_alloc(pool, kn);
        if (key != NULL) {
            snprintf(key, kn, "cgi:%s %s", a->path, req->target);
            if (dp_hcache_begin_flags(req, key, cache->tag,
                                      cache->user != NULL, headers,
                                      cache->flags, &c->cache))
                return;
            dp_hcache_revalidate_request(c->cache);
        }
    }
    c->req = req;
    c->address = a;
    c->headers = headers;
    if (redirect != NULL) {
        c->redirect = *redirect;
        c->has_redirect = true;
    }
    char *name = dp_pool_alloc(pool, strlen(a->path) + 5);
    if (name == NULL) {
        dp_request_error(req, 500, "out of memory");
        return;
    }
    snprintf(name, strlen(a->path) + 5, "cgi %s", a->path);
    c->name = name;

    const char *path;
    char **argv;
    char **envp = dp_cgi_environment(pool, req, a, cgi_server_software,
                                     with_body);
    if (envp == NULL || dp_spawn_argv(pool, a, &path, &argv) != 0) {
        dp_request_error(req, 500, "out of memory");
        return;
    }

    struct dp_body *body = with_body ? dp_request_body(req) : NULL;
    int in[2] = { -1, -1 }, out[2] = { -1, -1 };
    if ((body != NULL && pipe2(in, O_CLOEXEC) != 0) ||
        pipe2(out, O_CLOEXEC) != 0) {
        char what[200];
        snprintf(what, sizeof(what), "pipe: %s", strerror(errno));
        if (in[0] >= 0) {
            close(in[0]);
            close(in[1]);
        }
        if (body != NULL)
            dp_body_close(body);
        cgi_fail(c, 502, what);
        return;
    }
    /* best effort: the limit for unprivileged users may be lower */
    if (body != NULL && body->length > CGI_DEFAULT_PIPE_SIZE)
        (void)fcntl(in[1], F_SETPIPE_SZ, CGI_STDIN_PIPE_SIZE);
    struct dp_spawn_options o = {
        .name = c->name,
        .path = path,
        .argv = argv,
        .envp = envp,
        .child = &a->child,
        .stdin_fd = in[0],
        .stdout_fd = out[1],
    };
    char err[400];
    struct dp_child *child = dp_spawn(&o, NULL, NULL, err, sizeof(err));
    if (in[0] >= 0)
        close(in[0]);
    close(out[1]);
    if (child == NULL) {
        if (in[1] >= 0)
            close(in[1]);
        close(out[0]);
        if (body != NULL)
            dp_body_close(body);
        dp_request_error(req, 502, err);
        return;
    }
    c->out = dp_pipe_body_new(pool, out[0], NULL, 0, -1, child,
                              cgi_timeout_ms, c->name);
    if (c->out == NULL) {
        if (in[1] >= 0)
            close(in[1]);
        if (body != NULL)
            dp_body_close(body);
        dp_request_error(req, 500, "out of memory");
        return;
    }
    cgi_head_init(&c->head, 0, 0);
    c->head_init = true;
    c->in_head = true;
    dp_request_set_abort(req, cgi_abort, c);
    if (body != NULL) {
        c->feed = dp_feed_start(pool, body, in[1], on_feed, c);
        if (c->feed == NULL) {
            cgi_fail(c, 500, "out of memory");
            return;
        }
    }
    c->head_cb.feed = head_feed;
    c->head_cb.ready = head_ready;
    c->head_cb.failed = head_failed;
    c->head_cb.ctx = c;
    dp_pipe_body_read_head(c->out, &c->head_cb);
}
