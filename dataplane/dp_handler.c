/*
 * dp_handler: the request's path after the head is parsed (DESIGN.md
 * steps 3-5): translate, apply policy, execute.
 */
#include "dp_handler.h"
#include "dp_auth.h"
#include "dp_cgi.h"
#include "dp_pipe.h"
#include "dp_fcache.h"
#include "dp_fcgi.h"
#include "dp_file.h"
#include "dp_file_meta.h"
#include "dp_nfs.h"
#include "dp_proxy.h"
#include "dp_session_request.h"
#include "dp_uri.h"
#include "dp_lhttp.h"
#include "dp_was.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* WANT may be answered once per request (a second one is a "WANT loop",
 * which the response parser refuses); DEFER walks the chain once. */

struct dp_handler {
    uv_loop_t *loop;
    struct dp_handler_server *servers;
    size_t n_servers;
    struct dp_fcgi_stock *fcgi;   /* FASTCGI; NULL: 502 */
    struct dp_sessions *sessions;     /* NULL: no session management */
};

struct hreq {
    struct dp_handler *handler;
    struct dp_request *req;
    unsigned request_flags;       /* TP_REQUEST_* for the parser */
    size_t server;                /* index in the DEFER chain */
    struct dp_translate_op *op;

    /* CONTENT_TYPE_LOOKUP (§1.5.3): a second translation for the file's
     * suffix, while the main response (hit) is kept. */
    const struct tp_response *main_response;
    struct dp_response_headers *headers;
    struct dp_translate_op *lookup_op;

    /* Repeat requests of §1.5.2 and their loop counters. */
    unsigned n_internal_redirect, n_like_host, n_file_not_found,
        n_directory_index, n_enotdir, n_cgi_redirect;

    /* HTTP_AUTH, AUTH, TOKEN_AUTH (§1.12): a sub-request with the
     * client's credentials; authorized once one succeeded. */
    struct dp_translate_op *auth_op;
    struct tp_response *auth_response;
    bool authorized;
    bool token_present;               /* TOKEN_AUTH: access_token given */
    const char *uri_without_token;    /* TOKEN_AUTH: for the 303 */

    /* The browser session (dp_session_request). */
    struct dp_session_request sess;

    /* CHECK (§1.12): the response that asked, for PREVIOUS. */
    bool has_previous;
    unsigned n_check;

    /* The rarely used sub-request state, allocated when first needed
     * (hreq_x()): most requests are answered from the first
     * translation, and clearing ~6 KB per request would cost more than
     * the rest of a cached request. */
    struct hreq_extra *x;

    /* Last, not zeroed with the rest (hreq_new()): their modules
     * initialise them, and zeroing these 2.9 KB twice was a fifth of
     * the instructions of a cached static request. */
    struct tp_request treq;
    struct dp_tcache_hit hit;
};

struct hreq_extra {
    struct tp_request lookup;            /* CONTENT_TYPE_LOOKUP */
    struct dp_tcache_hit lookup_hit;
    struct tp_request auth;              /* HTTP_AUTH, AUTH, TOKEN_AUTH */
    struct dp_tcache_hit previous_hit;   /* CHECK: for PREVIOUS */
};

/* hr->x, allocated (zeroed) on first use; NULL when out of memory. */
static struct hreq_extra *
hreq_x(struct hreq *hr)
{
    if (hr->x == NULL)
        hr->x = dp_pool_calloc(hr->req->pool, sizeof(*hr->x));
    return hr->x;
}

struct dp_handler *
dp_handler_new(uv_loop_t *loop, const struct dp_handler_server *servers,
               size_t n)
{
    struct dp_handler *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->servers = calloc(n > 0 ? n : 1, sizeof(*servers));
    if (h->servers == NULL) {
        free(h);
        return NULL;
    }
    memcpy(h->servers, servers, n * sizeof(*servers));
    h->n_servers = n;
    h->loop = loop;
    return h;
}

void
dp_handler_set_fcgi(struct dp_handler *handler, struct dp_fcgi_stock *stock)
{
    handler->fcgi = stock;
}

void
dp_handler_set_sessions(struct dp_handler *handler,
                        struct dp_sessions *sessions)
{
    handler->sessions = sessions;
}

void
dp_handler_free(struct dp_handler *handler)
{
    if (handler == NULL)
        return;
    free(handler->servers);
    free(handler);
}

static struct pr_slice
pool_slice(struct dp_pool *pool, const char *s, size_t n)
{
    struct pr_slice out = { NULL, 0 };
    char *copy = dp_pool_strndup(pool, s, n);
    if (copy != NULL) {
        out.data = (const uint8_t *)copy;
        out.len = n;
    }
    return out;
}

static void
hreq_cleanup(void *arg)
{
    struct hreq *hr = arg;
    if (hr->op != NULL) {
        dp_translate_cancel(hr->op);
        hr->op = NULL;
    }
    if (hr->lookup_op != NULL) {
        dp_translate_cancel(hr->lookup_op);
        hr->lookup_op = NULL;
    }
    if (hr->auth_op != NULL) {
        dp_translate_cancel(hr->auth_op);
        hr->auth_op = NULL;
    }
    if (hr->auth_response != NULL) {
        tp_response_free(hr->auth_response);
        free(hr->auth_response);
        hr->auth_response = NULL;
    }
    dp_tcache_hit_release(&hr->hit);
    if (hr->x != NULL) {
        dp_tcache_hit_release(&hr->x->lookup_hit);
        dp_tcache_hit_release(&hr->x->previous_hit);
    }
}

static void
hreq_abort(void *arg)
{
    hreq_cleanup(arg);
}

static void translate(struct hreq *hr);

static struct pr_slice
copy_slice(struct dp_pool *pool, struct pr_slice v)
{
    return pool_slice(pool, (const char *)v.data, v.len);
}

/* Ask again with the request as changed by the caller: the response that
 * asked for it (in hr->hit) is released first, so copy what you need. */
static void
repeat(struct hreq *hr)
{
    dp_request_set_response_filter(hr->req, NULL, NULL);
    dp_tcache_hit_release(&hr->hit);
    translate(hr);
}

/* Loop limits of spec §1.5.2; over the limit the client gets 502. */
static bool
over_limit(struct hreq *hr, unsigned *counter, unsigned limit,
           const char *packet)
{
    if (++*counter <= limit)
        return false;
    char msg[120];
    snprintf(msg, sizeof(msg), "more than %u %s repeat requests", limit,
             packet);
    dp_request_error(hr->req, 502, msg);
    return true;
}

/* ---- generated responses ---- */

static void
respond_text(struct hreq *hr, unsigned status, const char *content_type,
             const char *text, struct dp_response_headers *h)
{
    struct dp_request *req = hr->req;
    struct dp_body *body = NULL;
    if (text != NULL) {
        if (dp_response_header(h, "Content-Type", content_type) != 0) {
            dp_request_error(req, 500, "out of memory");
            return;
        }
        body = dp_body_new_memory(req->pool, text, strlen(text));
    }
    dp_request_respond(req, status, h, body);
}

/* Percent-encode everything but unreserved characters and '/'. */
static char *
uri_escape(struct dp_pool *pool, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = dp_pool_alloc(pool, n * 3 + 1);
    if (out == NULL)
        return NULL;
    char *p = out;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || strchr("-._~", c) != NULL) {
            *p++ = (char)c;
        } else {
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = '\0';
    return out;
}

/* The request's target in origin form ("/path?query", still encoded),
 * also when it came in absolute form; NULL when out of memory. */
static const char *
origin_form(struct dp_request *req)
{
    if (req->target[0] == '/')
        return req->target;
    const char *q = req->query;
    size_t n = strlen(req->path) + (q != NULL ? strlen(q) + 1 : 0) + 1;
    char *s = dp_pool_alloc(req->pool, n);
    if (s != NULL)
        snprintf(s, n, "%s%s%s", req->path, q != NULL ? "?" : "",
                 q != NULL ? q : "");
    return s;
}

static bool
network_contains(const struct tp_network *net, const struct sockaddr *peer)
{
    const uint8_t *a, *b;
    unsigned bits;
    if (net->addr.ss_family == AF_INET && peer->sa_family == AF_INET) {
        a = (const uint8_t *)&((const struct sockaddr_in *)&net->addr)
                ->sin_addr;
        b = (const uint8_t *)&((const struct sockaddr_in *)peer)->sin_addr;
        bits = 32;
    } else if (net->addr.ss_family == AF_INET6 &&
               peer->sa_family == AF_INET6) {
        a = (const uint8_t *)&((const struct sockaddr_in6 *)&net->addr)
                ->sin6_addr;
        b = (const uint8_t *)&((const struct sockaddr_in6 *)peer)->sin6_addr;
        bits = 128;
    } else {
        return false;
    }
    unsigned prefix = net->prefix_len < bits ? net->prefix_len : bits;
    for (unsigned i = 0; i < prefix; i++) {
        unsigned byte = i / 8, mask = 0x80u >> (i % 8);
        if ((a[byte] & mask) != (b[byte] & mask))
            return false;
    }
    return true;
}

/*
 * The feature a response needs that this data plane does not have yet,
 * named by its packet; NULL when everything it asks for is implemented.
 */
static const char *
missing_feature(const struct tp_response *r)
{
    static const char *const kinds[] = {
        [TP_ADDRESS_NFS] = "NFS_SERVER",
        [TP_ADDRESS_CGI] = "CGI", [TP_ADDRESS_FASTCGI] = "FASTCGI",
        [TP_ADDRESS_WAS] = "WAS", [TP_ADDRESS_LHTTP] = "LHTTP_PATH",
        [TP_ADDRESS_PIPE] = "PIPE",
    };
    if (r->address.type != TP_ADDRESS_NONE &&
        r->address.type != TP_ADDRESS_LOCAL &&
        r->address.type != TP_ADDRESS_CGI &&
        r->address.type != TP_ADDRESS_FASTCGI &&
        r->address.type != TP_ADDRESS_HTTP &&
        r->address.type != TP_ADDRESS_WAS &&
        r->address.type != TP_ADDRESS_LHTTP &&
        (r->address.type != TP_ADDRESS_NFS || !dp_nfs_available()))
        return kinds[r->address.type];
    /* a chain of tests, not a table: the table was filled whole for
     * every request */
    if (!dp_pipe_supported(r))
        return "FILTER";
    if (r->layout.data != NULL)
        return "LAYOUT";
    if (r->path_exists)
        return "PATH_EXISTS";
    if (r->probe_path_suffixes.data != NULL)
        return "PROBE_PATH_SUFFIXES";
    if (r->read_file != NULL || r->expand_read_file != NULL)
        return "READ_FILE";
    if (r->test_path != NULL || r->expand_test_path != NULL)
        return "TEST_PATH";
    if (r->chain.data != NULL)
        return "CHAIN";
    if (r->error_document.data != NULL)
        return "ERROR_DOCUMENT";
    if (r->require_csrf_token || r->send_csrf_token)
        return "REQUIRE_CSRF_TOKEN";
    if (r->rate_limit_site_requests.rate > 0 ||
        r->rate_limit_site_traffic.rate > 0)
        return "RATE_LIMIT_SITE_REQUESTS";
    if (r->redirect_full_uri)
        return "REDIRECT_FULL_URI";
    if (r->expand_redirect != NULL)
        return "EXPAND_REDIRECT";
    if (r->tiny_image)
        return "TINY_IMAGE";
    if (r->address.expand_path != NULL)
        return "EXPAND_PATH";
    return NULL;
}

/* True when a header value holds a control character (CR and LF above
 * all) that would break or forge the response head. */
static bool
bad_field_value(const char *v)
{
    for (; v != NULL && *v != '\0'; v++)
        if (((unsigned char)*v < 0x20 && *v != '\t') || *v == 0x7f)
            return true;
    return false;
}

/* The packet whose text would go into a response header unfit for it;
 * NULL when all are fine. */
static const char *
bad_header_packet(const struct tp_response *r)
{
    if (bad_field_value(r->redirect))
        return "REDIRECT";
    if (bad_field_value(r->bounce))
        return "BOUNCE";
    if (bad_field_value(r->www_authenticate))
        return "WWW_AUTHENTICATE";
    if (bad_field_value(r->authentication_info))
        return "AUTHENTICATION_INFO";
    for (size_t i = 0; i < r->response_headers.n; i++)
        if (bad_field_value(r->response_headers.v[i].value))
            return "HEADER";
    return NULL;
}

static int
add_response_headers(struct hreq *hr, const struct tp_response *r,
                     struct dp_response_headers *h)
{
    struct dp_request *req = hr->req;
    for (size_t i = 0; i < r->response_headers.n; i++) {
        const struct tp_header *x = &r->response_headers.v[i];
        if (x->expand)
            continue;   /* expanded by the cache before we see it */
        if (dp_response_header(h, x->name, x->value) != 0)
            return -1;
    }
    uint32_t rel = req->query != NULL && r->expires_relative_with_query > 0
                       ? r->expires_relative_with_query
                       : r->expires_relative;
    char date[DP_HTTP_DATE_SIZE];
    if (rel > 0 && dp_expires_format(time(NULL), rel, date) == 0 &&
        dp_response_header(h, "Expires", date) != 0)
        return -1;
    return 0;
}

static uint64_t now_ms(struct hreq *hr);

/* A translation answer to `treq` arrived (or its failure): store it in the
 * server's cache, which fills *hit.  False when the request has been
 * answered with an error instead. */
static bool
store_answer(struct hreq *hr, const struct tp_request *treq,
             struct tp_response *response, int status, const char *msg,
             struct dp_tcache_hit *hit)
{
    dp_request_set_abort(hr->req, NULL, NULL);
    if (response == NULL) {
        dp_request_error(hr->req, (unsigned)status, msg);
        return false;
    }
    struct dp_tcache *cache = hr->handler->servers[hr->server].cache;
    enum dp_tcache_status st = dp_tcache_store(cache, treq, response,
                                               now_ms(hr), hit);
    free(response);
    if (st == DP_TCACHE_ERROR) {
        dp_request_error(hr->req, (unsigned)hit->error_status, hit->error);
        return false;
    }
    return true;
}

/* The answer to the CONTENT_TYPE_LOOKUP request: serve the file. */
/* A file, LOCAL or NFS, with the Content-Type settled. */
static void
serve_file(struct dp_request *req, const struct tp_address *a,
           unsigned status, struct dp_response_headers *h)
{
    if (a->type == TP_ADDRESS_NFS)
        dp_nfs_serve(req, a, status, h);
    else
        dp_file_serve(req, a, status, h);
}

static void
lookup_done(struct hreq *hr, const struct tp_response *answer)
{
    struct dp_request *req = hr->req;
    struct tp_address address = hr->main_response->address;
    if (answer->status >= 400) {
        /* Portier: the translation server refuses this suffix. */
        dp_request_error(req, answer->status, NULL);
        return;
    }
    if (answer->content_type != NULL)
        address.content_type = answer->content_type;
    serve_file(req, &address, hr->main_response->status, hr->headers);
}

static void
on_lookup(void *ctx, struct tp_response *response, int status,
          const char *msg)
{
    struct hreq *hr = ctx;
    hr->lookup_op = NULL;
    if (store_answer(hr, &hr->x->lookup, response, status, msg,
                     &hr->x->lookup_hit))
        lookup_done(hr, &hr->x->lookup_hit.response);
}

/* Serve a LOCAL or NFS address, asking for its Content-Type first when
 * the response said CONTENT_TYPE_LOOKUP and gave none. */
static void
serve_local(struct hreq *hr, const struct tp_response *r,
            struct dp_response_headers *h)
{
    struct dp_request *req = hr->req;
    const struct tp_address *a = &r->address;
    if (a->type == TP_ADDRESS_LOCAL &&
        (r->file_not_found.data != NULL || r->directory_index.data != NULL ||
         r->enotdir.data != NULL)) {
        /* §1.5.2: what the file system says may call for another
         * translation. */
        struct tp_request *t = &hr->treq;
        const struct dp_fcache_file *cf = NULL;
        int rc = dp_fcache_open(req->pool, a->path, a->beneath, &cf);
        if (rc == -ENOENT && r->file_not_found.data != NULL) {
            if (over_limit(hr, &hr->n_file_not_found, 20, "FILE_NOT_FOUND"))
                return;
            t->file_not_found = copy_slice(req->pool, r->file_not_found);
            repeat(hr);
            return;
        }
        if (rc == -ENOTDIR && r->enotdir.data != NULL) {
            /* Ask for the URI without its last segment. */
            const char *uri = (const char *)t->uri.data;
            size_t n = t->uri.len;
            while (n > 0 && uri[n - 1] != '/')
                n--;
            if (n > 0)
                n--;    /* drop the '/' too */
            if (n == 0 ||
                over_limit(hr, &hr->n_enotdir, 64, "ENOTDIR_")) {
                if (n == 0)
                    dp_request_error(req, 404, NULL);
                return;
            }
            t->enotdir = copy_slice(req->pool, r->enotdir);
            t->uri = pool_slice(req->pool, uri, n);
            repeat(hr);
            return;
        }
        if (rc == 0 && S_ISDIR(cf->st.st_mode) &&
            r->directory_index.data != NULL) {
            if (over_limit(hr, &hr->n_directory_index, 4, "DIRECTORY_INDEX"))
                return;
            t->directory_index = copy_slice(req->pool, r->directory_index);
            repeat(hr);
            return;
        }
    }
    if (a->content_type_lookup.data == NULL || a->content_type != NULL) {
        serve_file(req, a, r->status, h);
        return;
    }
    const char *slash = strrchr(a->path, '/');
    const char *dot = strrchr(slash != NULL ? slash : a->path, '.');
    if (dot == NULL || dot[1] == '\0' || dot == slash + 1) {
        serve_file(req, a, r->status, h);       /* no suffix to look up */
        return;
    }
    hr->main_response = r;
    hr->headers = h;
    if (hreq_x(hr) == NULL) {
        dp_request_error(req, 500, "out of memory");
        return;
    }
    tp_request_init(&hr->x->lookup);
    hr->x->lookup.content_type_lookup = a->content_type_lookup;
    hr->x->lookup.suffix = tp_slice_str(dot + 1);
    struct dp_handler_server *srv = &hr->handler->servers[hr->server];
    if (srv->cache != NULL) {
        enum dp_tcache_status st = dp_tcache_lookup(
            srv->cache, &hr->x->lookup, now_ms(hr), &hr->x->lookup_hit);
        if (st == DP_TCACHE_HIT) {
            lookup_done(hr, &hr->x->lookup_hit.response);
            return;
        }
        if (st == DP_TCACHE_ERROR) {
            dp_request_error(req, (unsigned)hr->x->lookup_hit.error_status,
                             hr->x->lookup_hit.error);
            return;
        }
        dp_tcache_hit_release(&hr->x->lookup_hit);
    }
    const char *msg = NULL;
    hr->lookup_op = dp_translate(srv->stock, &hr->x->lookup,
                                 TP_REQUEST_CONTENT_TYPE_LOOKUP, on_lookup,
                                 hr, &msg);
    if (hr->lookup_op == NULL) {
        dp_request_error(req, 502, msg);
        return;
    }
    dp_request_set_abort(req, hreq_abort, hr);
}

static void execute(struct hreq *hr, const struct tp_response *r);
static void execute_final(struct hreq *hr, const struct tp_response *r);

/* ---- authentication flows (§1.12, §1.5.3; docs/sessions.md) ---- */

/* Answer with a status and headers (WWW-Authenticate and friends, the
 * session cookie). */
static void
auth_refuse(struct hreq *hr, unsigned status,
            const struct tp_response *challenge)
{
    struct dp_request *req = hr->req;
    struct dp_response_headers h;
    dp_response_headers_init(&h, req->pool);
    if ((challenge != NULL && challenge->www_authenticate != NULL &&
         dp_response_header(&h, "WWW-Authenticate",
                            challenge->www_authenticate) != 0) ||
        (challenge != NULL && challenge->authentication_info != NULL &&
         dp_response_header(&h, "Authentication-Info",
                            challenge->authentication_info) != 0) ||
        dp_session_request_add_cookie(&hr->sess, hr->main_response, &h) !=
            0) {
        dp_request_error(req, 500, "out of memory");
        return;
    }
    dp_request_error_headers(req, status, &h, NULL);
}

/* An answer that decides the request itself (§1.12: REDIRECT, BOUNCE,
 * STATUS, MESSAGE): true when it did. */
static bool
auth_answer_decides(struct hreq *hr, const struct tp_response *answer)
{
    if (answer->redirect == NULL && answer->bounce == NULL &&
        answer->status == 0 && answer->message == NULL)
        return false;
    hr->authorized = true;      /* the answer is the response now */
    execute_final(hr, answer);
    return true;
}

/* 303 to the request's URL without access_token, built from the main
 * response's SCHEME and HOST (§1.12). */
static void
token_redirect(struct hreq *hr)
{
    struct dp_request *req = hr->req;
    const struct tp_response *r = hr->main_response;
    const char *scheme = r->scheme != NULL
                             ? r->scheme
                             : dp_session_request_over_tls(req) ? "https"
                                                                : "http";
    const char *host = r->host != NULL ? r->host : req->host;
    const char *q = hr->uri_without_token;
    size_t n = strlen(scheme) + strlen(host) + strlen(req->path) +
               (q != NULL ? strlen(q) : 0) + 8;
    char *loc = dp_pool_alloc(req->pool, n);
    struct dp_response_headers h;
    dp_response_headers_init(&h, req->pool);
    if (loc == NULL) {
        dp_request_error(req, 500, "out of memory");
        return;
    }
    snprintf(loc, n, "%s://%s%s%s%s", scheme, host, req->path,
             q != NULL ? "?" : "", q != NULL ? q : "");
    if (dp_response_header(&h, "Location", loc) != 0 ||
        dp_session_request_add_cookie(&hr->sess, r, &h) != 0) {
        dp_request_error(req, 500, "out of memory");
        return;
    }
    respond_text(hr, 303, "text/plain; charset=utf-8", "redirection\n", &h);
}

/* What both answers to an authentication request (AUTH or TOKEN_AUTH,
 * HTTP_AUTH) begin with: the operation is over; false when it failed
 * (the request has its error), else the response is kept until the pool
 * cleanup frees it. */
static bool
auth_answered(struct hreq *hr, struct tp_response *response, int status,
              const char *msg)
{
    hr->auth_op = NULL;
    dp_request_set_abort(hr->req, NULL, NULL);
    if (response == NULL) {
        dp_request_error(hr->req, (unsigned)status, msg);
        return false;
    }
    hr->auth_response = response;   /* freed by the pool cleanup */
    return true;
}

/* The answer to an AUTH or TOKEN_AUTH request. */
static void
on_auth(void *ctx, struct tp_response *response, int status,
        const char *msg)
{
    struct hreq *hr = ctx;
    struct dp_request *req = hr->req;
    if (!auth_answered(hr, response, status, msg))
        return;
    const char *why = dp_session_request_apply(&hr->sess, response);
    if (why != NULL)
        fprintf(stderr, "portierd: %s\n", why);
    if (auth_answer_decides(hr, response))
        return;
    if (response->user == NULL || response->user[0] == '\0') {
        /* §1.12: neither a user nor a decision (a USER with MAX_AGE 0
         * still admits this request, though the login does not last) */
        dp_request_error(req, 403, NULL);
        return;
    }
    hr->authorized = true;
    if (hr->x != NULL && hr->x->auth.token_auth.data != NULL &&
        hr->token_present) {
        token_redirect(hr);
        return;
    }
    execute_final(hr, hr->main_response);
}

/* A CGI's local redirect (RFC 3875 §6.2.2): handle the request again
 * for that "/path?query", as a GET without body. */
static void
cgi_local_redirect(void *ctx, const char *uri)
{
    struct hreq *hr = ctx;
    struct dp_request *req = hr->req;
    if (over_limit(hr, &hr->n_cgi_redirect, DP_CGI_MAX_LOCAL_REDIRECTS,
                   "CGI local redirect"))
        return;
    char *path = dp_pool_strdup(req->pool, uri);
    char *q = path != NULL ? strchr(path, '?') : NULL;
    if (q != NULL)
        *q++ = '\0';
    struct dp_uri_parts parts;
    if (path != NULL)
        dp_uri_dissect(path, strlen(path), &parts);
    if (path == NULL || dp_uri_path_safe(parts.base.p, parts.base.n)) {
        dp_request_error(req, 502, "CGI local redirect to a bad path");
        return;
    }
    req->target = uri;
    req->path = path;
    req->query = q;
    req->method = DP_HTTP_GET;
    req->method_name = "GET";
    tp_request_init(&hr->treq);
    hr->treq.host = tp_slice_str(req->host);
    hr->treq.uri = pool_slice(req->pool, parts.base.p, parts.base.n);
    if (req->listener_tag != NULL)
        hr->treq.listener_tag = tp_slice_str(req->listener_tag);
    hr->treq.session = dp_session_request_translate(&hr->sess);
    /* a new URI: authenticated and CHECKed afresh */
    hr->authorized = false;
    hr->has_previous = false;
    if (hr->x != NULL)
        dp_tcache_hit_release(&hr->x->previous_hit);
    hr->request_flags = 0;
    hr->server = 0;
    repeat(hr);
}

static void
on_http_auth(void *ctx, struct tp_response *response, int status,
             const char *msg)
{
    struct hreq *hr = ctx;
    struct dp_request *req = hr->req;
    if (!auth_answered(hr, response, status, msg))
        return;
    if (response->user != NULL && response->user[0] != '\0') {
        /* The user applies to this request only (§1.12). */
        hr->sess.http_auth_user = dp_pool_strdup(req->pool, response->user);
        hr->authorized = true;
        execute_final(hr, hr->main_response);
        return;
    }
    if (response->redirect != NULL || response->bounce != NULL) {
        auth_answer_decides(hr, response);
        return;
    }
    /* Rejected: 401 (or the answer's error status) with the challenge of
     * the answer, else the main response's. */
    const struct tp_response *challenge =
        response->www_authenticate != NULL ? response
                                           : hr->main_response;
    auth_refuse(hr, response->status >= 300 ? response->status : 401,
                challenge);
}

/* Send hr->x->auth (filled by the caller) to the current server; the
 * request waits for cb. */
static void
send_auth(struct hreq *hr, dp_translate_cb cb)
{
    const char *msg = NULL;
    hr->auth_op = dp_translate(hr->handler->servers[hr->server].stock,
                               &hr->x->auth, 0, cb, hr, &msg);
    if (hr->auth_op == NULL) {
        dp_request_error(hr->req, 502, msg);
        return;
    }
    dp_request_set_abort(hr->req, hreq_abort, hr);
}

/* HTTP_AUTH: without credentials 401 at once (with WWW-Authenticate and
 * Authentication-Info); with them, ask the translation server. */
static void
http_auth(struct hreq *hr, const struct tp_response *r, const char *authz)
{
    struct dp_request *req = hr->req;
    hr->main_response = r;
    if (authz == NULL) {
        auth_refuse(hr, 401, r);
        return;
    }
    if (hreq_x(hr) == NULL) {
        dp_request_error(req, 500, "out of memory");
        return;
    }
    tp_request_init(&hr->x->auth);
    hr->x->auth.http_auth = dp_auth_payload(req->pool, r->http_auth,
                                         r->append_auth);
    hr->x->auth.authorization = tp_slice_str(authz);
    hr->x->auth.host = hr->treq.host;
    hr->x->auth.listener_tag = hr->treq.listener_tag;
    send_auth(hr, on_http_auth);
}

/* AUTH / AUTH_FILE: true when the request waits (or was answered). */
static bool
auth(struct hreq *hr, const struct tp_response *r)
{
    struct dp_request *req = hr->req;
    struct pr_slice base = r->auth;
    if (base.data == NULL) {
        uint8_t buf[DP_AUTH_FILE_MAX];
        size_t n = 0;
        char err[300];
        if (dp_auth_read_file(r->auth_file, buf, &n, err, sizeof(err)) !=
            0) {
            dp_request_error(req, 500, err);
            return true;
        }
        base = pool_slice(req->pool, (const char *)buf, n);
    }
    if (r->realm_from_auth_base)
        dp_session_request_set_realm(&hr->sess, (const char *)base.data,
                                     base.len);
    if (dp_session_request_session_user(&hr->sess) != NULL)
        return false;           /* logged in to this realm */
    hr->main_response = r;
    const char *uri = origin_form(req);
    if (hreq_x(hr) == NULL) {
        dp_request_error(req, 500, "out of memory");
        return true;
    }
    tp_request_init(&hr->x->auth);
    hr->x->auth.auth = dp_auth_payload(req->pool, base, r->append_auth);
    hr->x->auth.uri = tp_slice_str(uri);
    hr->x->auth.host = hr->treq.host;
    hr->x->auth.listener_tag = hr->treq.listener_tag;
    hr->x->auth.session = dp_session_request_translate(&hr->sess);
    if (hr->x->auth.auth.data == NULL || uri == NULL) {
        dp_request_error(req, 500, "out of memory");
        return true;
    }
    send_auth(hr, on_auth);
    return true;
}

/* TOKEN_AUTH: true when the request waits (or was answered). */
static bool
token_auth(struct hreq *hr, const struct tp_response *r)
{
    struct dp_request *req = hr->req;
    const char *token = NULL, *rest = NULL;
    int rc = dp_auth_query_token(req->pool, req->query, &token, &rest);
    if (rc != 0) {
        dp_request_error(req, rc == -EINVAL ? 400 : 500,
                         rc == -EINVAL ? "malformed access_token"
                                       : "out of memory");
        return true;
    }
    if (token == NULL && dp_session_request_session_user(&hr->sess) != NULL)
        return false;           /* no token, and logged in already */
    hr->main_response = r;
    hr->token_present = token != NULL;
    hr->uri_without_token = rest;
    if (hreq_x(hr) == NULL) {
        dp_request_error(req, 500, "out of memory");
        return true;
    }
    tp_request_init(&hr->x->auth);
    hr->x->auth.token_auth = dp_auth_payload(req->pool, r->token_auth,
                                          r->append_auth);
    if (token != NULL) {
        hr->x->auth.auth_token = tp_slice_str(token);
        size_t n = strlen(req->path) + (rest != NULL ? strlen(rest) : 0) + 2;
        char *uri = dp_pool_alloc(req->pool, n);
        if (uri == NULL) {
            dp_request_error(req, 500, "out of memory");
            return true;
        }
        snprintf(uri, n, "%s%s%s", req->path, rest != NULL ? "?" : "",
                 rest != NULL ? rest : "");
        hr->x->auth.uri = tp_slice_str(uri);
    } else {
        hr->x->auth.uri = tp_slice_str(origin_form(req));
    }
    hr->x->auth.host = hr->treq.host;
    hr->x->auth.listener_tag = hr->treq.listener_tag;
    hr->x->auth.session = dp_session_request_translate(&hr->sess);
    hr->x->auth.realm_session = dp_session_request_realm_translate(&hr->sess);
    send_auth(hr, on_auth);
    return true;
}

/* The authentication packets of r: true when the request waits for a
 * sub-request or has been answered. */
static bool
authenticate(struct hreq *hr, const struct tp_response *r)
{
    const char *authz = dp_request_header(hr->req, "Authorization");
    /* HTTP_AUTH and TOKEN_AUTH together: HTTP_AUTH only when the client
     * sent credentials (§1.12). */
    if (r->http_auth.data != NULL &&
        (authz != NULL || r->token_auth.data == NULL)) {
        http_auth(hr, r, authz);
        return true;
    }
    if (r->token_auth.data != NULL)
        return token_auth(hr, r);
    if (r->auth.data != NULL || r->auth_file != NULL)
        return auth(hr, r);
    return false;
}

/*
 * The user the request runs as: its HTTP_AUTH user, else the session's
 * unexpired USER of the request's realm; NULL when none.  This is the
 * value for WANT USER and for X-CM4all-BENG-User to backends (which the
 * client can never inject: dp_forward drops the client's header).
 */
static const char *
hreq_user(struct hreq *hr)
{
    return dp_session_request_user(&hr->sess);
}

/* Act on a complete, effective translation response. */
static void
execute(struct hreq *hr, const struct tp_response *r)
{
    struct dp_request *req = hr->req;
    struct dp_handler *handler = hr->handler;
    char msg[200];

    if (r->defer) {
        if (hr->server + 1 >= handler->n_servers) {
            dp_request_error(req, 502, "Unexpected DEFER from the last "
                             "translation server");
            return;
        }
        hr->server++;
        dp_tcache_hit_release(&hr->hit);
        translate(hr);
        return;
    }
    /* The session packets of every response, also of those that ask for
     * a repeat (CHECK example 1 of the manual: SESSION with CHECK). */
    const char *why = dp_session_request_apply(&hr->sess, r);
    if (why != NULL)
        fprintf(stderr, "portierd: %s\n", why);
    hr->treq.session = dp_session_request_translate(&hr->sess);
    if (r->want.n > 0) {
        for (size_t i = 0; i < r->want.n; i++)
            if (r->want.v[i] == TP_CMD_LISTENER_TAG) {
                dp_request_error(req, 502, "Translation protocol 2 doesn't "
                                 "allow WANT/LISTENER_TAG");
                return;
            }
        struct tp_request *t = &hr->treq;
        size_t n = r->want.n < TP_REQUEST_MAX_WANT ? r->want.n
                                                   : TP_REQUEST_MAX_WANT;
        memcpy(t->want, r->want.v, n * sizeof(uint16_t));
        t->want_count = n;
        for (size_t i = 0; i < n; i++) {
            const char *v = NULL;
            struct pr_slice *dst = NULL;
            switch (r->want.v[i]) {
            case TP_CMD_REMOTE_HOST:
                v = req->peer_text;
                dst = &t->remote_host;
                break;
            case TP_CMD_USER_AGENT:
                v = dp_request_header(req, "User-Agent");
                dst = &t->user_agent;
                break;
            case TP_CMD_LANGUAGE:
                v = dp_request_header(req, "Accept-Language");
                dst = &t->language;
                break;
            case TP_CMD_QUERY_STRING:
                if (req->query != NULL && req->query[0] != '\0')
                    v = req->query;
                dst = &t->query_string;
                break;
            case TP_CMD_ARGS: {
                /* the ";args" of the request path, as received */
                struct dp_uri_parts parts;
                dp_uri_dissect(req->path, strlen(req->path), &parts);
                if (parts.args.p != NULL && parts.args.n > 0)
                    t->args = pool_slice(req->pool, parts.args.p,
                                         parts.args.n);
                break;
            }
            case TP_CMD_USER:
                v = hreq_user(hr);
                dst = &t->user;
                break;
            default:
                break;      /* others ignored */
            }
            if (dst != NULL && v != NULL)
                *dst = pool_slice(req->pool, v, strlen(v));
        }
        hr->request_flags |= TP_REQUEST_WANT;
        dp_tcache_hit_release(&hr->hit);
        translate(hr);
        return;
    }
    if (r->want_full_uri.data != NULL) {
        /* The URI with ;args and path info (not the query). */
        struct tp_request *t = &hr->treq;
        t->want_full_uri = copy_slice(req->pool, r->want_full_uri);
        t->uri = pool_slice(req->pool, req->path, strlen(req->path));
        hr->request_flags |= TP_REQUEST_WANT_FULL_URI;
        repeat(hr);
        return;
    }
    if (r->internal_redirect.data != NULL) {
        if (over_limit(hr, &hr->n_internal_redirect, 4, "INTERNAL_REDIRECT"))
            return;
        struct tp_request *t = &hr->treq;
        t->internal_redirect = copy_slice(req->pool, r->internal_redirect);
        t->uri = pool_slice(req->pool, r->uri, strlen(r->uri));
        t->layout = (struct pr_slice){ NULL, 0 };
        t->layout_item.kind = TP_LAYOUT_ITEM_NONE;
        repeat(hr);
        return;
    }
    if (r->like_host != NULL) {
        if (over_limit(hr, &hr->n_like_host, 4, "LIKE_HOST"))
            return;
        hr->treq.host = pool_slice(req->pool, r->like_host,
                                   strlen(r->like_host));
        repeat(hr);
        return;
    }
    if (r->version < 2) {
        snprintf(msg, sizeof(msg), "Unsupported translation protocol "
                 "version %u", r->version);
        dp_request_error(req, 502, msg);
        return;
    }
    if (!tp_response_has_answer(r)) {
        dp_request_error(req, 502, "Empty response from configuration "
                         "server");
        return;
    }
    const char *missing = missing_feature(r);
    if (missing != NULL) {
        snprintf(msg, sizeof(msg), "translation packet %s: this feature "
                 "is not supported by Portier yet", missing);
        dp_request_error(req, 502, msg);
        return;
    }
    const char *bad = bad_header_packet(r);
    if (bad != NULL) {
        snprintf(msg, sizeof(msg), "translation packet %s: a control "
                 "character (CR, LF, ...) in a header value", bad);
        dp_request_error(req, 502, msg);
        return;
    }

    if (r->previous) {
        /* §1.12: use the response that asked for CHECK. */
        if (!hr->has_previous) {
            dp_request_error(req, 502, "No previous translation response");
            return;
        }
        execute_final(hr, &hr->x->previous_hit.response);
        return;
    }
    if (r->check.data != NULL) {
        if (over_limit(hr, &hr->n_check, 4, "CHECK"))
            return;
        struct tp_request *t = &hr->treq;
        t->check = copy_slice(req->pool, r->check);
        if (r->check_header != NULL) {
            const char *v = dp_request_header(req, r->check_header);
            size_t n = strlen(r->check_header) + (v ? strlen(v) : 0) + 2;
            char *ch = dp_pool_alloc(req->pool, n);
            if (ch == NULL) {
                dp_request_error(req, 500, "out of memory");
                return;
            }
            snprintf(ch, n, "%s:%s", r->check_header, v != NULL ? v : "");
            t->check_header = tp_slice_str(ch);
        }
        const char *authz = dp_request_header(req, "Authorization");
        if (authz != NULL)
            t->authorization = tp_slice_str(authz);
        /* Keep this response for PREVIOUS; the repeat asks anew. */
        if (hreq_x(hr) == NULL) {
            dp_request_error(req, 500, "out of memory");
            return;
        }
        dp_tcache_hit_release(&hr->x->previous_hit);
        hr->x->previous_hit = hr->hit;
        hr->has_previous = true;
        dp_tcache_hit_init(&hr->hit);
        translate(hr);
        return;
    }
    execute_final(hr, r);
}

/* The effective response (after repeats, CHECK/PREVIOUS): authenticate,
 * apply the policy packets, and answer. */
static void
execute_final(struct hreq *hr, const struct tp_response *r)
{
    struct dp_request *req = hr->req;

    if (!hr->authorized && authenticate(hr, r))
        return;

    /* Policy packets (§1.7.9). */
    if (r->n_allow_remote_networks > 0) {
        bool allowed = false;
        for (size_t i = 0; i < r->n_allow_remote_networks && !allowed; i++)
            allowed = network_contains(&r->allow_remote_networks[i],
                                       req->peer);
        if (!allowed) {
            dp_request_error(req, 403, NULL);
            return;
        }
    }
    if (r->no_query_string && req->query != NULL) {
        dp_request_error(req, 404, NULL);
        return;
    }

    struct dp_response_headers h;
    dp_response_headers_init(&h, req->pool);
    if (add_response_headers(hr, r, &h) != 0 ||
        dp_session_request_add_cookie(&hr->sess, r, &h) != 0) {
        dp_request_error(req, 500, "out of memory");
        return;
    }

    if (dp_pipe_install(req, r) != 0) {
        dp_request_error(req, 500, "out of memory");
        return;
    }
    const char *https = dp_request_header(req, "X-CM4all-HTTPS");
    if (r->https_only != 0 && (https == NULL || strcmp(https, "on") != 0)) {
        /* Portier has no TLS listeners yet: a request is plain unless a
         * TLS front end says otherwise (spec §1.7.9). */
        char port[16] = "";
        if (r->https_only != 443)
            snprintf(port, sizeof(port), ":%u", r->https_only);
        const char *host = req->host;
        size_t hn = strcspn(host, ":");
        if (host[0] == '[')
            hn = strcspn(host, "]") + 1;
        const char *target = origin_form(req);
        size_t ln = strlen(host) + strlen(port) +
                    (target != NULL ? strlen(target) : 0) + 16;
        char *loc = dp_pool_alloc(req->pool, ln);
        if (target == NULL || loc == NULL) {
            dp_request_error(req, 500, "out of memory");
            return;
        }
        snprintf(loc, ln, "https://%.*s%s%s", (int)hn, host, port, target);
        if (dp_response_header(&h, "Location", loc) != 0) {
            dp_request_error(req, 500, "out of memory");
            return;
        }
        respond_text(hr, 301, "text/plain; charset=utf-8", "redirection\n",
                     &h);
        return;
    }
    if (r->redirect != NULL || r->bounce != NULL) {
        const char *loc = r->redirect;
        if (loc == NULL) {
            /* BOUNCE: the payload plus the escaped current URL. */
            const char *target = origin_form(req);
            size_t n = strlen(req->host) +
                       (target != NULL ? strlen(target) : 0) + 16;
            char *url = dp_pool_alloc(req->pool, n);
            if (target != NULL && url != NULL) {
                snprintf(url, n, "http://%s%s", req->host, target);
                const char *esc = uri_escape(req->pool, url);
                size_t ln = strlen(r->bounce) + (esc ? strlen(esc) : 0) + 1;
                char *l = dp_pool_alloc(req->pool, ln);
                if (esc != NULL && l != NULL) {
                    snprintf(l, ln, "%s%s", r->bounce, esc);
                    loc = l;
                }
            }
        } else if (r->redirect_query_string && req->query != NULL) {
            size_t n = strlen(loc) + strlen(req->query) + 2;
            char *l = dp_pool_alloc(req->pool, n);
            if (l != NULL) {
                snprintf(l, n, "%s%c%s", loc,
                         strchr(loc, '?') != NULL ? '&' : '?', req->query);
                loc = l;
            }
        }
        if (loc == NULL || dp_response_header(&h, "Location", loc) != 0) {
            dp_request_error(req, 500, "out of memory");
            return;
        }
        respond_text(hr, r->status != 0 ? r->status : 303,
                     "text/plain; charset=utf-8",
                     r->message != NULL ? r->message : "redirection\n", &h);
        return;
    }
    if (r->address.type == TP_ADDRESS_WAS) {
        struct dp_hcache_info was_cache = {
            r->address_cache_tag, hreq_user(hr),
            dp_hcache_flags(r->eager_cache, r->ignore_no_cache,
                            r->auto_flush_cache),
        };
        dp_was_request(req, &r->address, &h,
                       r->uncached ? NULL : &was_cache);
        return;
    }
    if (r->address.type == TP_ADDRESS_LHTTP) {
        dp_lhttp_request_user(req, r, &h, hreq_user(hr));
        return;
    }
    if (r->address.type == TP_ADDRESS_LOCAL ||
        r->address.type == TP_ADDRESS_NFS) {
        struct dp_response_headers *hp = dp_pool_alloc(req->pool,
                                                       sizeof(*hp));
        if (hp == NULL) {
            dp_request_error(req, 500, "out of memory");
            return;
        }
        *hp = h;
        serve_local(hr, r, hp);
        return;
    }
    if (r->address.type == TP_ADDRESS_FASTCGI && hr->handler->fcgi != NULL) {
        struct dp_response_headers *hp = dp_pool_alloc(req->pool,
                                                       sizeof(*hp));
        if (hp == NULL) {
            dp_request_error(req, 500, "out of memory");
            return;
        }
        *hp = h;
        dp_fcgi_serve(hr->handler->fcgi, req, r, hp, hreq_user(hr));
        return;
    }
    if (r->address.type == TP_ADDRESS_FASTCGI) {
        dp_request_error(req, 502, "translation packet FASTCGI: no FastCGI "
                         "stock in this process");
        return;
    }
    if (r->address.type == TP_ADDRESS_CGI) {
        struct dp_response_headers *hp = dp_pool_alloc(req->pool,
                                                       sizeof(*hp));
        struct dp_cgi_redirect redirect = { cgi_local_redirect, hr };
        struct dp_hcache_info cgi_cache = {
            r->address_cache_tag, hreq_user(hr),
            dp_hcache_flags(r->eager_cache, r->ignore_no_cache,
                            r->auto_flush_cache),
        };
        if (hp != NULL)
            *hp = h;
        if (hp == NULL)
            dp_request_error(req, 500, "out of memory");
        else
            dp_cgi_serve(req, &r->address, hp, &redirect,
                         hr->n_cgi_redirect == 0,
                         r->uncached ? NULL : &cgi_cache);
        return;
    }
    if (r->address.type == TP_ADDRESS_HTTP) {
        dp_proxy_serve_user(req, r, &h, hreq_user(hr));
        return;
    }
    /* No address: a generated response (STATUS, MESSAGE,
     * WWW_AUTHENTICATE). */
    unsigned status = r->status;
    if (r->www_authenticate != NULL) {
        if (dp_response_header(&h, "WWW-Authenticate",
                               r->www_authenticate) != 0) {
            dp_request_error(req, 500, "out of memory");
            return;
        }
        if (status == 0)
            status = 401;
    }
    if (r->authentication_info != NULL &&
        dp_response_header(&h, "Authentication-Info",
                           r->authentication_info) != 0) {
        dp_request_error(req, 500, "out of memory");
        return;
    }
    if (r->message != NULL) {
        respond_text(hr, status != 0 ? status : 200,
                     "text/plain; charset=us-ascii", r->message, &h);
        return;
    }
    if (status == 0)
        status = 200;
    if (status >= 400) {
        /* the error page keeps WWW-Authenticate and HEADER packets */
        dp_request_error_headers(req, status, &h, NULL);
        return;
    }
    dp_request_respond(req, status, &h, NULL);
}

static uint64_t
now_ms(struct hreq *hr)
{
    return uv_now(hr->handler->loop);
}

static void
on_translated(void *ctx, struct tp_response *response, int status,
              const char *msg)
{
    struct hreq *hr = ctx;
    hr->op = NULL;
    if (store_answer(hr, &hr->treq, response, status, msg, &hr->hit))
        execute(hr, &hr->hit.response);
}

static void
translate(struct hreq *hr)
{
    struct dp_handler_server *srv = &hr->handler->servers[hr->server];
    if (srv->cache != NULL) {
        enum dp_tcache_status st =
            dp_tcache_lookup(srv->cache, &hr->treq, now_ms(hr), &hr->hit);
        if (st == DP_TCACHE_HIT) {
            execute(hr, &hr->hit.response);
            return;
        }
        if (st == DP_TCACHE_ERROR) {
            dp_request_error(hr->req, (unsigned)hr->hit.error_status,
                             hr->hit.error);
            return;
        }
        dp_tcache_hit_release(&hr->hit);
    }
    const char *msg = NULL;
    hr->op = dp_translate(srv->stock, &hr->treq, hr->request_flags,
                          on_translated, hr, &msg);
    if (hr->op == NULL) {
        dp_request_error(hr->req, 502, msg);
        return;
    }
    dp_request_set_abort(hr->req, hreq_abort, hr);
}

void
dp_handler_request(struct dp_request *req, void *ctx)
{
    struct dp_handler *handler = ctx;
    if (req->host == NULL || req->host[0] == '\0') {
        dp_request_error(req, 400, "request without Host");
        return;
    }
    if (req->path[0] != '/') {
        dp_request_error(req, 400, "request target is not a path");
        return;
    }
    struct dp_uri_parts parts;
    dp_uri_dissect(req->path, strlen(req->path), &parts);
    const char *why = dp_uri_path_safe(parts.base.p, parts.base.n);
    if (why != NULL) {
        dp_request_error(req, 400, why);
        return;
    }
    if (handler->n_servers == 0) {
        dp_request_error(req, 502, "no translation server configured");
        return;
    }
    struct hreq *hr = dp_pool_alloc(req->pool, sizeof(*hr));
    if (hr != NULL) {
        memset(hr, 0, offsetof(struct hreq, treq));
        tp_request_init(&hr->treq);
        dp_tcache_hit_init(&hr->hit);
    }
    if (hr == NULL || dp_pool_cleanup(req->pool, hreq_cleanup, hr) != 0) {
        dp_request_error(req, 500, "out of memory");
        return;
    }
    hr->handler = handler;
    hr->req = req;
    dp_session_request_begin(&hr->sess, handler->sessions, req);
    hr->treq.session = dp_session_request_translate(&hr->sess);
    hr->treq.host = tp_slice_str(req->host);
    hr->treq.uri = pool_slice(req->pool, parts.base.p, parts.base.n);
    if (req->listener_tag != NULL)
        hr->treq.listener_tag = tp_slice_str(req->listener_tag);
    if (hr->treq.uri.data == NULL) {
        dp_request_error(req, 500, "out of memory");
        return;
    }
    translate(hr);
}
