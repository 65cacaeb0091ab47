/*
 * The reverse proxy handler: builds the backend request head, hands it
 * with the request body to dp_http_client, and turns the backend's
 * response into the client's.
 */
#include "dp_proxy.h"

#include "dp_forward.h"
#include "dp_http_cache_request.h"
#include "dp_resolve.h"
#include "dp_tunnel.h"
#include "dp_uri.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <unistd.h>

static struct dp_http_client *client;
static uv_loop_t *client_loop;
static const struct dp_tls_client *client_certs;
static char local_host[256];
static uint64_t tunnel_idle_ms;

int
dp_proxy_init(uv_loop_t *loop, const struct dp_http_client_options *options,
              const struct dp_tls_client *certs)
{
    client_certs = certs;
    if (gethostname(local_host, sizeof(local_host) - 1) != 0)
        snprintf(local_host, sizeof(local_host), "portier");
    tunnel_idle_ms = options != NULL ? options->body_timeout_ms : 0;
    client = dp_http_client_new(loop, options);
    client_loop = loop;
    return client != NULL ? 0 : -1;
}

void
dp_proxy_shutdown(void)
{
    dp_tunnel_close_all();
    dp_http_client_free(client);
    client = NULL;
    dp_resolve_flush();
}

struct preq {
    struct dp_request *req;
    const struct tp_response *r;    /* lives as long as the request */
    struct dp_response_headers headers;
    uint8_t response_modes[TP_HG_COUNT];
    struct dp_http_op *op;
    char *tls_host;                 /* https: the URL host */
    const char *user;               /* for X-CM4all-BENG-User, or NULL */
    const struct dp_tls_client_cert *cert;

    /* the addresses, host names resolved */
    struct tp_socket_address *addrs;
    size_t n_addrs, next;
    struct dp_resolve_op *resolve;
    bool resolving_sync;
    char resolve_error[300];
    struct dp_hcache_use *cache;    /* NULL: the cache is not involved */
    bool upgrade;                   /* an Upgrade request is forwarded */
};

/* ---- the request head ---- */

struct head_out {
    struct pr_buf buf;
    const struct tp_header_list *replaced;  /* REQUEST_HEADER names */
    bool drop_conditionals;         /* the cache revalidates */
    int failed;
};

static bool
replaced(const struct tp_header_list *l, const char *name, size_t n)
{
    for (size_t i = 0; i < l->n; i++)
        if (!l->v[i].expand && strlen(l->v[i].name) == n &&
            strncasecmp(l->v[i].name, name, n) == 0)
            return true;
    return false;
}

static int
head_line(struct head_out *o, const char *name, size_t nn, const char *value,
          size_t vn)
{
    if (pr_buf_append(&o->buf, name, nn) != 0 ||
        pr_buf_append(&o->buf, ": ", 2) != 0 ||
        pr_buf_append(&o->buf, value, vn) != 0 ||
        pr_buf_append(&o->buf, "\r\n", 2) != 0)
        return -ENOMEM;
    return 0;
}

static int
emit_request(void *ctx, const char *name, size_t nn, const char *value,
             size_t vn)
{
    struct head_out *o = ctx;
    if (replaced(o->replaced, name, nn))
        return 0;
    if (o->drop_conditionals && nn >= 3 && strncasecmp(name, "If-", 3) == 0)
        return 0;
    return head_line(o, name, nn, value, vn);
}

static const char *
peer_ip(const struct sockaddr *peer, char *out, size_t size)
{
    if (peer == NULL)
        return NULL;
    if (peer->sa_family == AF_INET && size >= INET_ADDRSTRLEN) {
        /* dotted quad by hand: inet_ntop() goes through sprintf() */
        const uint8_t *b = (const uint8_t *)
            &((const struct sockaddr_in *)peer)->sin_addr;
        char *p = out;
        for (int i = 0; i < 4; i++) {
            if (b[i] >= 100)
                *p++ = (char)('0' + b[i] / 100);
            if (b[i] >= 10)
                *p++ = (char)('0' + b[i] / 10 % 10);
            *p++ = (char)('0' + b[i] % 10);
            *p++ = i < 3 ? '.' : '\0';
        }
        return out;
    }
    if (peer->sa_family == AF_INET6)
        return inet_ntop(AF_INET6,
                         &((const struct sockaddr_in6 *)peer)->sin6_addr, out,
                         (socklen_t)size);
    return NULL;
}

static bool
method_has_body_semantics(const struct dp_request *req)
{
    return req->method == DP_HTTP_POST || req->method == DP_HTTP_PUT ||
           req->method == DP_HTTP_PATCH;
}

/* True when `list` (a Connection value) has the token `token`. */
static bool
has_token(const char *list, const char *token)
{
    size_t n = strlen(token);
    for (const char *p = list; p != NULL && *p != '\0';) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, " \t,");
        if (len == n && strncasecmp(p, token, n) == 0)
            return true;
        p += len;
    }
    return false;
}

/* A protocol switch the proxy passes on (RFC 9110 §7.8): HTTP/1.1, an
 * Upgrade header listed in Connection, and no request body (the switch
 * would come after the body; such a request goes on as an ordinary one,
 * its Upgrade dropped, as a server may ignore it). */
static bool
wants_upgrade(const struct dp_request *req)
{
    if (req->version_minor < 1 || req->chunked || req->content_length > 0)
        return false;
    const char *up = NULL, *conn = NULL;
    for (size_t i = 0; i < req->n_headers; i++) {
        const struct dp_header *h = &req->headers[i];
        if (strcasecmp(h->name, "Upgrade") == 0 && up == NULL)
            up = h->value;
        else if (strcasecmp(h->name, "Connection") == 0 &&
                 has_token(h->value, "upgrade"))
            conn = h->value;
    }
    return up != NULL && up[0] != '\0' && conn != NULL;
}

/* The head for the backend; 0 or -ENOMEM. */
static int
build_head(struct dp_request *req, const struct tp_response *r, bool body,
           const char *user, const char *conditional, bool upgrade,
           struct pr_buf *out)
{
    const struct tp_address *a = &r->address;
    struct head_out o = { .buf = PR_BUF_INIT, .replaced = &r->request_headers,
                          .drop_conditionals = conditional != NULL };
    const char *path = a->path != NULL ? a->path : "/";
    const char *q = req->query;
    char line[64];
    int rc = pr_buf_reserve(&o.buf, 1024);  /* one malloc, not several */
    if (rc != 0 ||
        pr_buf_append(&o.buf, req->method_name, strlen(req->method_name)) ||
        pr_buf_append(&o.buf, " ", 1) ||
        pr_buf_append(&o.buf, path, strlen(path)))
        rc = -ENOMEM;
    if (rc == 0 && q != NULL) {
        const char *sep = strchr(path, '?') != NULL ? "&" : "?";
        if (pr_buf_append(&o.buf, sep, 1) || pr_buf_append(&o.buf, q,
                                                           strlen(q)))
            rc = -ENOMEM;
    }
    if (rc == 0 && pr_buf_append(&o.buf, " HTTP/1.1\r\n", 11))
        rc = -ENOMEM;
    const char *host = a->host_and_port != NULL ? a->host_and_port
                                                : req->host;
    if (rc == 0 && host != NULL)
        rc = head_line(&o, "Host", 4, host, strlen(host));

    /* the client's headers as slices for dp_forward */
    struct h1_header *hs = NULL;
    if (rc == 0 && req->n_headers > 0) {
        hs = dp_pool_alloc(req->pool, req->n_headers * sizeof(*hs));
        if (hs == NULL)
            rc = -ENOMEM;
    }
    for (size_t i = 0; rc == 0 && i < req->n_headers; i++) {
        hs[i].name.data = (const uint8_t *)req->headers[i].name;
        hs[i].name.len = strlen(req->headers[i].name);
        hs[i].value.data = (const uint8_t *)req->headers[i].value;
        hs[i].value.len = strlen(req->headers[i].value);
    }
    char ip[INET6_ADDRSTRLEN];
    struct dp_forward_request in = {
        .headers = hs,
        .n_headers = req->n_headers,
        .modes = r->request_header_forward,
        .with_body = body,
        .remote_host = peer_ip(req->peer, ip, sizeof(ip)),
        .local_host = local_host,
        .product = "Portier",
        .session_cookie = "beng_proxy_session",
        .user = user,
        .peer_subject = req->peer_subject,
        .peer_issuer_subject = req->peer_issuer_subject,
        .upgrade = upgrade,
    };
    if (rc == 0)
        rc = dp_forward_request_headers(&in, emit_request, &o);
    for (size_t i = 0; rc == 0 && i < r->request_headers.n; i++) {
        const struct tp_header *x = &r->request_headers.v[i];
        if (x->expand)
            continue;
        rc = head_line(&o, x->name, strlen(x->name), x->value,
                       strlen(x->value));
    }
    if (rc == 0 && conditional != NULL &&
        pr_buf_append(&o.buf, conditional, strlen(conditional)))
        rc = -ENOMEM;
    if (rc == 0 && !body && method_has_body_semantics(req)) {
        snprintf(line, sizeof(line), "Content-Length: 0\r\n");
        if (pr_buf_append(&o.buf, line, strlen(line)))
            rc = -ENOMEM;
    }
    if (rc != 0) {
        pr_buf_free(&o.buf);
        return rc;
    }
    *out = o.buf;
    return 0;
}

/* ---- the response ---- */

/* HEAD: a body that is never read, only its length counts. */
static void
length_body_read(struct dp_body *body)
{
    body->handler->eof(body->ctx);
}

static void
length_body_close(struct dp_body *body)
{
    (void)body;
}

static const struct dp_body_class length_body_class = {
    .name = "head-length",
    .read = length_body_read,
    .close = length_body_close,
};

/* LINK MANGLE: Location and Content-Location relocated into the
 * client's URL space (dp_forward_relocate()); NULL: keep the value. */
static char *
relocate(struct preq *p, const char *value, size_t vn)
{
    struct dp_request *req = p->req;
    const struct tp_response *r = p->r;
    const struct tp_address *a = &r->address;
    const char *path = a->path != NULL ? a->path : "/";
    size_t path_len = strcspn(path, "?");
    const char *https = dp_request_header(req, "X-CM4all-HTTPS");
    const char *scheme = r->scheme != NULL ? r->scheme
                         : req->tls || (https != NULL &&
                                        strcmp(https, "on") == 0)
                             ? "https" : "http";
    const char *host = r->host != NULL ? r->host : req->host;
    const char *base = r->base != NULL ? r->base : "";
    struct dp_uri_parts parts;
    dp_uri_dissect(req->path, strlen(req->path), &parts);
    size_t size = strlen(scheme) + strlen(host) + strlen(base) + vn + 8;
    char *out = dp_pool_alloc(req->pool, size);
    if (out == NULL || host == NULL ||
        !dp_forward_relocate(value, vn, a->host_and_port, path, path_len,
                             scheme, host, parts.base.p, parts.base.n,
                             base, out, size))
        return NULL;
    return out;
}

static int
emit_response(void *ctx, const char *name, size_t nn, const char *value,
              size_t vn)
{
    struct preq *p = ctx;
    if (p->response_modes[TP_HG_LINK] == TP_HF_MANGLE &&
        ((nn == 8 && strncasecmp(name, "Location", 8) == 0) ||
         (nn == 16 && strncasecmp(name, "Content-Location", 16) == 0))) {
        char *v = relocate(p, value, vn);
        if (v != NULL)
            return dp_response_header_n(&p->headers, name, nn, v,
                                        strlen(v));
    }
    return dp_response_header_n(&p->headers, name, nn, value, vn);
}

/* The backend answered (the client's operation is over, the request no
 * longer aborts it): its headers for the client, by
 * RESPONSE_HEADER_FORWARD, into p->headers.  0, or non-zero when out of
 * memory. */
static int
response_headers(struct preq *p, const struct h1_response_head *head,
                 bool upgrade)
{
    p->op = NULL;
    dp_request_set_abort(p->req, NULL, NULL);
    struct dp_forward_response in = {
        .headers = head->headers,
        .n_headers = head->header_count,
        .modes = p->response_modes,
        .local_host = local_host,
        .session_cookie = "beng_proxy_session",
        .upgrade = upgrade,
    };
    return dp_forward_response_headers(&in, emit_response, p);
}

static void
on_response(void *ctx, const struct h1_response_head *head,
            struct dp_body *body)
{
    struct preq *p = ctx;
    struct dp_request *req = p->req;
    size_t backend_from = p->headers.len;
    if (response_headers(p, head, false) != 0) {
        if (body != NULL)
            dp_body_close(body);
        dp_request_error(req, 500, "out of memory");
        return;
    }
    if (body == NULL && req->method == DP_HTTP_HEAD &&
        head->status != 204 && head->status != 304) {
        /* the head a GET would get: the backend's length, else chunked */
        body = dp_pool_alloc(req->pool, sizeof(*body));
        if (body != NULL)
            dp_body_init(body, &length_body_class,
                         head->has_content_length
                             ? (int64_t)head->content_length : -1);
    }
    if (dp_hcache_response(p->cache, head->status, head->headers,
                           head->header_count, &p->headers, backend_from,
                           &body))
        return;
    dp_request_respond(req, head->status, &p->headers, body);
}

static void
on_error(void *ctx, unsigned status, const char *msg)
{
    struct preq *p = ctx;
    p->op = NULL;
    dp_request_set_abort(p->req, NULL, NULL);
    dp_request_error(p->req, status, msg);
}

/* The backend switched protocols: answer 101 and relay. */
static void
on_upgrade(void *ctx, const struct h1_response_head *head,
           struct dp_stream *backend)
{
    struct preq *p = ctx;
    struct dp_request *req = p->req;
    struct dp_stream cs;
    uint8_t *out = NULL;
    size_t out_len = 0;
    int rc = response_headers(p, head, true);
    if (rc == 0)
        rc = dp_request_upgrade(req, &p->headers, &cs, &out, &out_len);
    if (rc != 0) {
        char msg[300];
        snprintf(msg, sizeof(msg), "%s: 101 Switching Protocols not passed "
                 "on: %s", backend->name,
                 rc == -EBUSY ? "a response filter is set"
                              : strerror(-rc));
        dp_stream_close(backend);
        dp_request_error(req, 502, msg);
        return;
    }
    /* req is gone now */
    dp_tunnel_start(client_loop, &cs, out, out_len, backend, tunnel_idle_ms);
    free(out);
}

static const struct dp_http_client_handler proxy_handler = {
    on_response, on_error, on_upgrade,
};

static void
preq_abort(void *ctx)
{
    struct preq *p = ctx;
    if (p->resolve != NULL) {
        struct dp_resolve_op *op = p->resolve;
        p->resolve = NULL;
        dp_resolve_cancel(op);
    }
    if (p->op != NULL) {
        struct dp_http_op *op = p->op;
        p->op = NULL;
        dp_http_client_abort(op);
    }
}

/* Every address is known: send the request. */
static void
send_request(struct preq *p)
{
    struct dp_request *req = p->req;
    const struct tp_response *r = p->r;
    struct dp_body *body = dp_request_body(req);
    struct pr_buf head;
    p->upgrade = p->upgrade && body == NULL;
    if (build_head(req, r, body != NULL, p->user,
                   dp_hcache_conditional(p->cache), p->upgrade, &head) != 0) {
        if (body != NULL)
            dp_body_close(body);
        dp_request_error(req, 500, "out of memory");
        return;
    }
    enum dp_http_method m = req->method;
    struct dp_http_request hr = {
        .addresses = p->addrs,
        .n_addresses = p->n_addrs,
        .head = m == DP_HTTP_HEAD,
        .idempotent = m == DP_HTTP_GET || m == DP_HTTP_HEAD ||
                      m == DP_HTTP_OPTIONS || m == DP_HTTP_TRACE ||
                      m == DP_HTTP_PUT || m == DP_HTTP_DELETE,
        .head_text = (const char *)head.data,
        .head_len = head.len,
        .body = body,
        .tls_host = p->tls_host,
        .cert = p->cert,
        .upgrade = p->upgrade,
    };
    p->op = dp_http_client_request(client, &hr, &proxy_handler, p);
    pr_buf_free(&head);
    if (p->op == NULL) {
        if (body != NULL)
            dp_body_close(body);
        dp_request_error(req, 500, "out of memory");
        return;
    }
    dp_request_set_abort(req, preq_abort, p);
}

static void resolve_next(struct preq *p);

static void
on_resolved(void *ctx, const struct tp_socket_address *v, size_t n,
            const char *error)
{
    struct preq *p = ctx;
    p->resolve = NULL;
    if (error != NULL) {
        snprintf(p->resolve_error, sizeof(p->resolve_error), "%s", error);
    } else {
        memcpy(p->addrs + p->n_addrs, v, n * sizeof(*v));
        p->n_addrs += n;
    }
    p->next++;
    if (p->resolving_sync)
        return;     /* resolve_next() goes on */
    dp_request_set_abort(p->req, NULL, NULL);
    if (p->resolve_error[0] != '\0') {
        dp_request_error(p->req, 502, p->resolve_error);
        return;
    }
    resolve_next(p);
}

/* Copy numeric addresses, resolve names (one at a time), then send. */
static void
resolve_next(struct preq *p)
{
    const struct tp_address_list *l = &p->r->address.addresses;
    while (p->next < l->n) {
        const struct tp_socket_address *x = &l->v[p->next];
        if (x->len > 0) {
            p->addrs[p->n_addrs++] = *x;
            p->next++;
            continue;
        }
        p->resolving_sync = true;
        struct dp_resolve_op *op = dp_resolve(client_loop, x->host, x->port,
                                              on_resolved, p);
        p->resolving_sync = false;
        if (op != NULL) {
            p->resolve = op;
            dp_request_set_abort(p->req, preq_abort, p);
            return;
        }
        if (p->resolve_error[0] != '\0') {
            dp_request_error(p->req, 502, p->resolve_error);
            return;
        }
    }
    send_request(p);
}

/* https: the host of the URL's host[:port] or [v6][:port] in pool ("":
 * none); NULL when out of memory. */
static char *
tls_host_of(struct dp_pool *pool, const struct tp_address *a)
{
    const char *hp = a->host_and_port != NULL ? a->host_and_port : "";
    size_t n = strlen(hp);
    const char *h = hp;
    if (hp[0] == '[') {
        h = hp + 1;
        n = strcspn(h, "]");
    } else if (strchr(hp, ':') != NULL) {
        n = (size_t)(strchr(hp, ':') - hp);
    }
    return dp_pool_strndup(pool, h, n);
}

/* ---- FILTER with an HTTP address ---- */

struct pfilter {
    struct dp_request *req;
    unsigned status;                /* of the response being filtered */
    const uint8_t *modes;           /* RESPONSE_HEADER_FORWARD */
    struct dp_response_headers headers;
    struct dp_http_op *op;
    dp_proxy_filter_cb cb;
    void *ctx;
};

static int
emit_filtered(void *ctx, const char *name, size_t nn, const char *value,
              size_t vn)
{
    struct pfilter *f = ctx;
    return dp_response_header_n(&f->headers, name, nn, value, vn);
}

static void
filter_on_response(void *ctx, const struct h1_response_head *head,
                   struct dp_body *body)
{
    struct pfilter *f = ctx;
    f->op = NULL;
    dp_request_set_abort(f->req, NULL, NULL);
    struct dp_forward_response in = {
        .headers = head->headers,
        .n_headers = head->header_count,
        .modes = f->modes,
        .local_host = local_host,
        .session_cookie = "beng_proxy_session",
    };
    if (dp_forward_response_headers(&in, emit_filtered, f) != 0) {
        if (body != NULL)
            dp_body_close(body);
        f->cb(f->ctx, 0, NULL, NULL, 500, "out of memory");
        return;
    }
    /* spec §1.9: 200 and 204 keep the original status */
    unsigned status = head->status == 200 || head->status == 204
                          ? f->status : head->status;
    f->cb(f->ctx, status, &f->headers, body, 0, NULL);
}

static void
filter_on_error(void *ctx, unsigned status, const char *msg)
{
    struct pfilter *f = ctx;
    f->op = NULL;
    dp_request_set_abort(f->req, NULL, NULL);
    char text[700];
    snprintf(text, sizeof(text), "FILTER: %s", msg);
    f->cb(f->ctx, 0, NULL, NULL, status, text);
}

static const struct dp_http_client_handler filter_handler = {
    filter_on_response, filter_on_error, NULL,
};

static void
filter_abort(void *ctx)
{
    struct pfilter *f = ctx;
    if (f->op != NULL) {
        struct dp_http_op *op = f->op;
        f->op = NULL;
        dp_http_client_abort(op);
    }
}

/* The header lines of `h` that go to the filter as request headers:
 * all but the framing ones. */
static int
filter_request_headers(const struct dp_response_headers *h,
                       struct pr_buf *out)
{
    const char *p = h != NULL ? h->data : NULL;
    const char *end = p != NULL ? p + h->len : NULL;
    while (p != NULL && p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (eol == NULL || eol + 2 > end)
            break;
        size_t n = (size_t)(eol - p);
        if (!(n >= 15 && strncasecmp(p, "Content-Length:", 15) == 0) &&
            !(n >= 18 && strncasecmp(p, "Transfer-Encoding:", 18) == 0) &&
            pr_buf_append(out, p, n + 2) != 0)
            return -ENOMEM;
        p = eol + 2;
    }
    return 0;
}

int
dp_proxy_filter(struct dp_request *req, const struct tp_response *r,
                const struct tp_filter *filter, unsigned status,
                const struct dp_response_headers *headers,
                struct dp_body *body, dp_proxy_filter_cb cb, void *ctx,
                char *err, size_t errlen)
{
    const struct tp_address *a = &filter->address;
    if (client == NULL || a->addresses.n == 0) {
        snprintf(err, errlen, "FILTER: the HTTP client is not set up or "
                 "the address has no ADDRESS");
        goto fail;
    }
    for (size_t i = 0; i < a->addresses.n; i++)
        if (a->addresses.v[i].len == 0) {
            snprintf(err, errlen, "FILTER: ADDRESS_STRING \"%s\": host "
                     "names of filters are not resolved yet",
                     a->addresses.v[i].host);
            goto fail;
        }
    struct pfilter *f = dp_pool_calloc(req->pool, sizeof(*f));
    if (f == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    f->req = req;
    f->status = status;
    f->modes = r->response_header_forward;
    f->cb = cb;
    f->ctx = ctx;
    dp_response_headers_init(&f->headers, req->pool);
    char *tls_host = NULL;
    const struct dp_tls_client_cert *cert = NULL;
    if (a->scheme == TP_HTTP_SCHEME_HTTPS) {
        tls_host = tls_host_of(req->pool, a);
        if (tls_host == NULL || tls_host[0] == '\0') {
            snprintf(err, errlen, "FILTER: an https:// URL without a host");
            goto fail;
        }
    }
    if (a->certificate != NULL &&
        (client_certs == NULL ||
         (cert = dp_tls_client_find(client_certs, a->certificate)) ==
             NULL)) {
        snprintf(err, errlen, "FILTER: translation packet CERTIFICATE "
                 "\"%s\": no ssl_client certificate has that name",
                 a->certificate);
        goto fail;
    }
    struct pr_buf head = PR_BUF_INIT;
    const char *path = a->path != NULL ? a->path : "/";
    const char *host = a->host_and_port != NULL ? a->host_and_port
                                                : req->host;
    int rc = 0;
    if (pr_buf_append(&head, "POST ", 5) ||
        pr_buf_append(&head, path, strlen(path)) ||
        pr_buf_append(&head, " HTTP/1.1\r\nHost: ", 17) ||
        pr_buf_append(&head, host, strlen(host)) ||
        pr_buf_append(&head, "\r\n", 2) ||
        filter_request_headers(headers, &head) != 0)
        rc = -ENOMEM;
    if (rc == 0 && body == NULL &&
        pr_buf_append(&head, "Content-Length: 0\r\n", 19))
        rc = -ENOMEM;
    if (rc != 0) {
        pr_buf_free(&head);
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    struct dp_http_request hr = {
        .addresses = a->addresses.v,
        .n_addresses = a->addresses.n,
        .head_text = (const char *)head.data,
        .head_len = head.len,
        .body = body,
        .tls_host = tls_host,
        .cert = cert,
    };
    f->op = dp_http_client_request(client, &hr, &filter_handler, f);
    pr_buf_free(&head);
    if (f->op == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    dp_request_set_abort(req, filter_abort, f);
    return 0;

fail:
    if (body != NULL)
        dp_body_close(body);
    return -1;
}

/* The socket of a unix: address for the HTTP cache's key: its path or
 * "@" and the abstract name (NUL bytes as "@"). */
static const char *
socket_id(struct dp_pool *pool, const struct tp_socket_address *sa)
{
    const struct sockaddr_un *un = (const struct sockaddr_un *)&sa->addr;
    if (sa->len <= offsetof(struct sockaddr_un, sun_path) ||
        un->sun_family != AF_UNIX)
        return sa->host != NULL ? sa->host : "";
    size_t n = sa->len - offsetof(struct sockaddr_un, sun_path);
    if (n > sizeof(un->sun_path))
        n = sizeof(un->sun_path);
    if (un->sun_path[0] != '\0')
        n = strnlen(un->sun_path, n);
    char *id = dp_pool_alloc(pool, n + 1);
    if (id == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        id[i] = un->sun_path[i] != '\0' ? un->sun_path[i] : '@';
    id[n] = '\0';
    return id;
}

/* The backend resource for the HTTP cache: the URL and the query; for
 * unix: addresses the sockets (or `cache_id`, LHTTP's program) instead
 * of the host. */
static const char *
cache_uri(struct dp_request *req, const struct tp_address *a,
          const char *cache_id)
{
    const char *hp = a->host_and_port != NULL ? a->host_and_port : "";
    const char *path = a->path != NULL ? a->path : "/";
    const char *q = req->query != NULL ? req->query : "";
    if (a->scheme == TP_HTTP_SCHEME_UNIX) {
        hp = cache_id;
        if (hp == NULL) {
            /* every socket of the list, in order */
            size_t n = 1;
            const char **ids = dp_pool_alloc(req->pool, a->addresses.n *
                                                            sizeof(*ids));
            if (ids == NULL)
                return NULL;
            for (size_t i = 0; i < a->addresses.n; i++) {
                ids[i] = socket_id(req->pool, &a->addresses.v[i]);
                if (ids[i] == NULL)
                    return NULL;
                n += strlen(ids[i]) + 1;
            }
            char *j = dp_pool_alloc(req->pool, n);
            if (j == NULL)
                return NULL;
            size_t k = 0;
            for (size_t i = 0; i < a->addresses.n; i++)
                k += (size_t)snprintf(j + k, n - k, "%s%s",
                                      i > 0 ? "," : "", ids[i]);
            j[k] = '\0';
            hp = j;
        }
    }
    const char *scheme = a->scheme == TP_HTTP_SCHEME_HTTPS  ? "https://"
                         : a->scheme == TP_HTTP_SCHEME_UNIX ? "unix://"
                                                            : "http://";
    /* "scheme://host[:port]path[?query]", by hand: once per request */
    size_t sn = strlen(scheme), hn = strlen(hp), pn = strlen(path),
           qn = strlen(q);
    char *u = dp_pool_alloc(req->pool, sn + hn + pn + qn + 2);
    if (u == NULL)
        return NULL;
    char *p = u;
    memcpy(p, scheme, sn);
    p += sn;
    memcpy(p, hp, hn);
    p += hn;
    memcpy(p, path, pn);
    p += pn;
    if (req->query != NULL) {
        *p++ = '?';
        memcpy(p, q, qn);
        p += qn;
    }
    *p = '\0';
    return u;
}

void
dp_proxy_serve(struct dp_request *req, const struct tp_response *r,
               const struct dp_response_headers *headers)
{
    dp_proxy_serve_user(req, r, headers, NULL);
}

void
dp_proxy_serve_user(struct dp_request *req, const struct tp_response *r,
                    const struct dp_response_headers *headers,
                    const char *user)
{
    dp_proxy_serve_keyed(req, r, headers, user, NULL);
}

void
dp_proxy_serve_keyed(struct dp_request *req, const struct tp_response *r,
                     const struct dp_response_headers *headers,
                     const char *user, const char *cache_id)
{
    const struct tp_address *a = &r->address;
    if (client == NULL) {
        dp_request_error(req, 500, "the HTTP client is not set up");
        return;
    }
    if (a->http2) {
        dp_request_error(req, 502, "translation packet HTTP2: this feature "
                         "is not supported by Portier yet");
        return;
    }
    if (a->addresses.n == 0) {
        dp_request_error(req, 502, "HTTP address without ADDRESS");
        return;
    }
    if (req->method == DP_HTTP_CONNECT) {
        dp_request_error(req, 405, NULL);
        return;
    }
    struct preq *p = dp_pool_calloc(req->pool, sizeof(*p));
    size_t cap = 0;
    for (size_t i = 0; i < a->addresses.n; i++)
        cap += a->addresses.v[i].len > 0 ? 1 : DP_RESOLVE_MAX_ADDRESSES;
    if (p != NULL) {
        p->addrs = a->addresses.v;
        p->n_addrs = a->addresses.n;
        if (cap != a->addresses.n) {
            /* some names to resolve */
            p->addrs = dp_pool_alloc(req->pool, cap * sizeof(*p->addrs));
            p->n_addrs = 0;
        }
    }
    if (p == NULL || p->addrs == NULL) {
        dp_request_error(req, 500, "out of memory");
        return;
    }
    p->req = req;
    p->r = r;
    p->headers = *headers;
    if (user != NULL) {
        p->user = dp_pool_strndup(req->pool, user, strlen(user));
        if (p->user == NULL) {
            dp_request_error(req, 500, "out of memory");
            return;
        }
    }
    if (a->scheme == TP_HTTP_SCHEME_HTTPS) {
        p->tls_host = tls_host_of(req->pool, a);
        if (p->tls_host == NULL) {
            dp_request_error(req, 500, "out of memory");
            return;
        }
        if (p->tls_host[0] == '\0') {
            dp_request_error(req, 502, "translation packet HTTP: an "
                             "https:// URL without a host");
            return;
        }
    }
    if (a->certificate != NULL) {
        p->cert = client_certs != NULL
                      ? dp_tls_client_find(client_certs, a->certificate)
                      : NULL;
        if (p->cert == NULL) {
            char msg[300];
            snprintf(msg, sizeof(msg), "translation packet CERTIFICATE "
                     "\"%s\": no ssl_client certificate has that name",
                     a->certificate);
            dp_request_error(req, 502, msg);
            return;
        }
    }
    memcpy(p->response_modes, r->response_header_forward,
           sizeof(p->response_modes));
    p->upgrade = wants_upgrade(req) && r->n_filters == 0;
    const char *curi = r->uncached || p->upgrade ? NULL
                                                 : cache_uri(req, a, cache_id);
    unsigned flags = dp_hcache_flags(r->eager_cache, r->ignore_no_cache,
                                     r->auto_flush_cache);
    if (curi != NULL &&
        dp_hcache_begin_flags(req, curi, r->address_cache_tag, user != NULL,
                              headers, flags, &p->cache))
        return;
    if (cap == a->addresses.n)
        send_request(p);
    else
        resolve_next(p);
}
