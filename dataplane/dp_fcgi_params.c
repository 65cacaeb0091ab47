/*
 * dp_fcgi_params: build the FastCGI PARAMS of one request.
 */
#include "dp_fcgi_params.h"
#include "dp_cgi_vars.h"
#include "dp_forward.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Growable array of pairs in the pool (doubled by copying: the pool does
 * not free, but the list is short). */
struct builder {
    struct dp_pool *pool;
    struct fcgi_pair *v;
    size_t n, cap;
    bool failed;
};

static struct pr_slice
slice(const char *s)
{
    if (s == NULL)
        s = "";
    return (struct pr_slice){ (const uint8_t *)s, strlen(s) };
}

static void
add_slices(struct builder *b, struct pr_slice name, struct pr_slice value)
{
    if (b->failed)
        return;
    if (b->n == b->cap) {
        size_t cap = b->cap > 0 ? b->cap * 2 : 32;
        struct fcgi_pair *v = dp_pool_alloc(b->pool, cap * sizeof(*v));
        if (v == NULL) {
            b->failed = true;
            return;
        }
        if (b->n > 0)
            memcpy(v, b->v, b->n * sizeof(*v));
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n].name = name;
    b->v[b->n].value = value;
    b->n++;
}

static void
add(struct builder *b, const char *name, const char *value)
{
    add_slices(b, slice(name), slice(value));
}

static void
add_header(struct builder *b, const char *name, const char *value)
{
    char *n = dp_cgi_http_var(b->pool, name);
    if (n == NULL) {
        b->failed = true;
        return;
    }
    add(b, n, value);
}

struct emit_ctx {
    struct builder *b;
};

/* dp_forward's output: one HTTP_* parameter per header line. */
static int
emit_header(void *ctx, const char *name, size_t name_len, const char *value,
            size_t value_len)
{
    struct builder *b = ((struct emit_ctx *)ctx)->b;
    if (name_len == 14 && strncasecmp(name, "x-cm4all-https", 14) == 0)
        return 0;       /* HTTPS=on instead (spec §6.2) */
    char *n = dp_pool_strndup(b->pool, name, name_len);
    char *v = dp_pool_strndup(b->pool, value, value_len);
    if (n == NULL || v == NULL) {
        b->failed = true;
        return -ENOMEM;
    }
    add_header(b, n, v);
    return b->failed ? -ENOMEM : 0;
}

static void
add_headers(struct builder *b, const struct dp_fcgi_params_input *in)
{
    /* Host is the client's (dp_forward leaves it to the caller) */
    for (size_t i = 0; i < in->n_headers; i++)
        if (strcasecmp(in->headers[i].name, "host") == 0) {
            add_header(b, in->headers[i].name, in->headers[i].value);
            break;
        }
    struct h1_header *hs = NULL;
    if (in->n_headers > 0) {
        hs = dp_pool_alloc(b->pool, in->n_headers * sizeof(*hs));
        if (hs == NULL) {
            b->failed = true;
            return;
        }
    }
    for (size_t i = 0; i < in->n_headers; i++) {
        hs[i].name.data = (const uint8_t *)in->headers[i].name;
        hs[i].name.len = strlen(in->headers[i].name);
        hs[i].value.data = (const uint8_t *)in->headers[i].value;
        hs[i].value.len = strlen(in->headers[i].value);
    }
    struct dp_forward_request fw = {
        .headers = hs,
        .n_headers = in->n_headers,
        .modes = in->header_forward,
        .with_body = in->has_body,
        .remote_host = in->remote_addr,
        .local_host = in->local_host,
        .product = in->server_software,
        .session_cookie = in->session_cookie != NULL ? in->session_cookie
                                                     : "beng_proxy_session",
    };
    struct emit_ctx ec = { b };
    if (dp_forward_request_headers(&fw, emit_header, &ec) != 0)
        b->failed = true;
    /* REQUEST_HEADER packets (spec §1.7.9) */
    const struct tp_header_list *extra = in->request_headers;
    for (size_t i = 0; extra != NULL && i < extra->n; i++)
        if (!extra->v[i].expand)
            add_header(b, extra->v[i].name, extra->v[i].value);
}

static const char *
header_value(const struct dp_fcgi_params_input *in, const char *name)
{
    for (size_t i = 0; i < in->n_headers; i++)
        if (strcasecmp(in->headers[i].name, name) == 0)
            return in->headers[i].value;
    return NULL;
}

int
dp_fcgi_params_build(struct dp_pool *pool,
                     const struct dp_fcgi_params_input *in,
                     struct dp_fcgi_params *out)
{
    const struct tp_address *a = in->address;
    const uint8_t *mode = in->header_forward;
    struct builder b = { .pool = pool };

    const char *uri = dp_cgi_request_uri(pool, a, in->path, in->query);
    if (uri == NULL)
        return -ENOMEM;
    add(&b, "REQUEST_METHOD", in->method);
    add(&b, "REQUEST_URI", uri);
    add(&b, "SCRIPT_FILENAME", a->path);
    add(&b, "SCRIPT_NAME", a->script_name);
    add(&b, "PATH_INFO", a->path_info);
    add(&b, "QUERY_STRING", in->query);
    add(&b, "DOCUMENT_ROOT", a->document_root);
    add(&b, "SERVER_SOFTWARE", in->server_software);
    if (in->remote_addr != NULL && mode[TP_HG_IDENTITY] != TP_HF_NO)
        add(&b, "REMOTE_ADDR", in->remote_addr);
    if (!in->has_body || in->content_length >= 0) {
        char *len = dp_pool_alloc(pool, 24);
        if (len == NULL)
            return -ENOMEM;
        snprintf(len, 24, "%lld", in->has_body
                                      ? (long long)in->content_length : 0);
        add(&b, "HTTP_CONTENT_LENGTH", len);
        add(&b, "CONTENT_LENGTH", len);
    }
    const char *type = header_value(in, "Content-Type");
    if (in->has_body && type != NULL)
        add(&b, "CONTENT_TYPE", type);
    const char *https = header_value(in, "X-CM4all-HTTPS");
    if (mode[TP_HG_SSL] != TP_HF_NO && https != NULL &&
        strcmp(https, "on") == 0)
        add(&b, "HTTPS", "on");
    add_headers(&b, in);
    for (size_t i = 0; i < a->params.n; i++) {
        const char *p = a->params.v[i].value;
        const char *eq = strchr(p, '=');
        if (eq == NULL) {
            add(&b, p, "");
            continue;
        }
        add_slices(&b, (struct pr_slice){ (const uint8_t *)p,
                                          (size_t)(eq - p) },
                   slice(eq + 1));
    }
    if (b.failed)
        return -ENOMEM;
    out->v = b.v;
    out->n = b.n;
    return 0;
}
