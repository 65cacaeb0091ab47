/*
 * dp_fcgi_params: build the FastCGI PARAMS of one request.
 */
#include "dp_fcgi_params.h"
#include "dp_uri.h"

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

int
dp_fcgi_header_group(const char *name)
{
    static const struct {
        const char *name;
        int group;
    } table[] = {
        { "via", TP_HG_IDENTITY },
        { "x-forwarded-for", TP_HG_IDENTITY },
        { "user-agent", TP_HG_CAPABILITIES },
        { "cookie", TP_HG_COOKIE },
        { "cookie2", TP_HG_COOKIE },
        { "origin", TP_HG_CORS },
        { "access-control-request-method", TP_HG_CORS },
        { "access-control-request-headers", TP_HG_CORS },
        { "referer", TP_HG_LINK },
        { "authorization", TP_HG_AUTH },
        { "x-cm4all-https", TP_HG_SSL },
        { "x-cm4all-beng-peer-subject", TP_HG_SSL },
        { "x-cm4all-beng-peer-issuer-subject", TP_HG_SSL },
        { "x-cm4all-view", TP_HG_TRANSFORMATION },
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcasecmp(name, table[i].name) == 0)
            return table[i].group;
    if (strncasecmp(name, "x-cm4all-beng-", 14) == 0)
        return TP_HG_SECURE;
    return -1;
}

/* Headers outside the groups: never forwarded. */
static bool
never_forwarded(const char *name)
{
    static const char *const names[] = {
        "connection", "keep-alive", "proxy-authenticate",
        "proxy-authorization", "proxy-connection", "te", "trailer",
        "transfer-encoding", "upgrade", "content-length", "date",
        "x-cm4all-docroot", "expect",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(name, names[i]) == 0)
            return true;
    return false;
}

/* Headers outside the groups: always forwarded (Content-* only with a
 * body). */
static bool
always_forwarded(const char *name, bool has_body)
{
    static const char *const names[] = {
        "host", "accept", "accept-charset", "accept-encoding",
        "accept-language", "cache-control", "from", "range", "if-range",
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(name, names[i]) == 0)
            return true;
    if (strncasecmp(name, "if-", 3) == 0)
        return true;
    return has_body && strncasecmp(name, "content-", 8) == 0;
}

/* "HTTP_" + the name upper-cased, non-alphanumerics as '_'. */
static struct pr_slice
http_name(struct dp_pool *pool, const char *name)
{
    size_t n = strlen(name);
    char *s = dp_pool_alloc(pool, n + 6);
    if (s == NULL)
        return (struct pr_slice){ NULL, 0 };
    memcpy(s, "HTTP_", 5);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            c = '_';
        s[5 + i] = c;
    }
    s[n + 5] = '\0';
    return (struct pr_slice){ (const uint8_t *)s, n + 5 };
}

static void
add_header(struct builder *b, const char *name, const char *value)
{
    struct pr_slice n = http_name(b->pool, name);
    if (n.data == NULL) {
        b->failed = true;
        return;
    }
    add_slices(b, n, slice(value));
}

static void
add_headers(struct builder *b, const struct dp_fcgi_params_input *in)
{
    const uint8_t *mode = in->header_forward;
    bool xff_done = false;
    for (size_t i = 0; i < in->n_headers; i++) {
        const char *name = in->headers[i].name;
        const char *value = in->headers[i].value;
        if (never_forwarded(name) ||
            strcasecmp(name, "x-cm4all-https") == 0)   /* HTTPS=on */
            continue;
        int group = dp_fcgi_header_group(name);
        if (group < 0) {
            if (!always_forwarded(name, in->has_body) &&
                mode[TP_HG_OTHER] == TP_HF_NO)
                continue;
            add_header(b, name, value);
            continue;
        }
        if (mode[group] == TP_HF_NO)
            continue;
        if (group == TP_HG_IDENTITY && mode[group] != TP_HF_YES &&
            strcasecmp(name, "x-forwarded-for") == 0) {
            if (xff_done)
                continue;       /* merged into the first one */
            xff_done = true;
            /* MANGLE: every X-Forwarded-For in order, then the client */
            size_t len = 0;
            for (size_t j = i; j < in->n_headers; j++)
                if (strcasecmp(in->headers[j].name, "x-forwarded-for") == 0)
                    len += strlen(in->headers[j].value) + 2;
            len += in->remote_addr != NULL ? strlen(in->remote_addr) : 0;
            char *s = dp_pool_alloc(b->pool, len + 1);
            if (s == NULL) {
                b->failed = true;
                return;
            }
            size_t pos = 0;
            for (size_t j = i; j < in->n_headers; j++) {
                if (strcasecmp(in->headers[j].name, "x-forwarded-for") != 0)
                    continue;
                const char *v = in->headers[j].value;
                pos += (size_t)snprintf(s + pos, len + 1 - pos, "%s%s",
                                        pos > 0 ? ", " : "", v);
            }
            if (in->remote_addr != NULL)
                snprintf(s + pos, len + 1 - pos, "%s%s",
                         pos > 0 ? ", " : "", in->remote_addr);
            add_header(b, name, s);
            continue;
        }
        if (group == TP_HG_CAPABILITIES && mode[group] == TP_HF_MANGLE &&
            strcasecmp(name, "user-agent") == 0) {
            add_header(b, name, in->server_software);
            continue;
        }
        add_header(b, name, value);
    }
    if (!xff_done && mode[TP_HG_IDENTITY] != TP_HF_NO &&
        mode[TP_HG_IDENTITY] != TP_HF_YES && in->remote_addr != NULL)
        add(b, "HTTP_X_FORWARDED_FOR", in->remote_addr);
}

/* REQUEST_URI (spec §6.3): SCRIPT_NAME + PATH_INFO when SCRIPT_NAME is
 * set and REQUEST_URI_VERBATIM is not, else the client's path without
 * ";args"; then "?query". */
static const char *
request_uri(struct dp_pool *pool, const struct dp_fcgi_params_input *in)
{
    const struct tp_address *a = in->address;
    const char *q = in->query;
    size_t qn = q != NULL ? strlen(q) + 1 : 0;
    if (a->script_name != NULL && !a->request_uri_verbatim) {
        const char *pi = a->path_info != NULL ? a->path_info : "";
        size_t n = strlen(a->script_name) + strlen(pi) + qn + 1;
        char *s = dp_pool_alloc(pool, n);
        if (s != NULL)
            snprintf(s, n, "%s%s%s%s", a->script_name, pi,
                     q != NULL ? "?" : "", q != NULL ? q : "");
        return s;
    }
    struct dp_uri_parts parts;
    dp_uri_dissect(in->path, strlen(in->path), &parts);
    size_t n = parts.base.n + parts.path_info.n + qn + 1;
    char *s = dp_pool_alloc(pool, n);
    if (s != NULL)
        snprintf(s, n, "%.*s%.*s%s%s", (int)parts.base.n, parts.base.p,
                 (int)parts.path_info.n,
                 parts.path_info.p != NULL ? parts.path_info.p : "",
                 q != NULL ? "?" : "", q != NULL ? q : "");
    return s;
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

    const char *uri = request_uri(pool, in);
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
