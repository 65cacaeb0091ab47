/*
 * portier-translate: the default translation server.  It answers
 * translation requests from a JSON site file (docs/site-file.md) with
 * responses the data plane can cache for a whole mount (BASE, EASY_BASE,
 * MAX_AGE), and answers the data plane's CONTENT_TYPE_LOOKUP requests
 * from the built-in suffix table and the mount's extra-mimetypes.
 *
 * SIGHUP reloads the site file; a file that does not load is logged and
 * the old site stays in force.  SIGTERM/SIGINT stop it.
 */
#include "tr_response.h"
#include "tr_server.h"
#include "tr_site.h"

#include <uv.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_SOCKET "@portier-translate"
#define DEFAULT_MAX_AGE 60          /* seconds a translation is reused */
#define PATH_BUF 8192

struct app {
    const char *site_path;
    struct tr_site *site;
    unsigned max_age;
    uv_loop_t *loop;
    struct tr_server *server;
    uv_signal_t sighup, sigterm, sigint;
};

static void logf_(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void
logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("portier-translate: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void
log_cb(const char *line, void *userdata)
{
    (void)userdata;
    logf_("%s", line);
}

/* The CONTENT_TYPE_LOOKUP and HTTP_AUTH payloads name the mount as
 * "VHOST MOUNTPOINT" (neither contains a blank), so they still find the
 * right mount after a reload, or none when it is gone. */
static int
mount_key(const struct tr_site_match *m, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s %s", m->vhost->name,
                     m->mount->mountpoint);
    return n > 0 && (size_t)n < size ? n : -1;
}

static const struct tr_site_mount *
mount_of_key(const struct app *app, const struct pr_slice *payload)
{
    char buf[1400];
    if (payload->len == 0 || payload->len >= sizeof(buf))
        return NULL;
    memcpy(buf, payload->data, payload->len);
    buf[payload->len] = '\0';
    char *blank = strchr(buf, ' ');
    if (blank == NULL)
        return NULL;
    *blank = '\0';
    for (size_t i = 0; i < tr_site_vhost_count(app->site); i++) {
        const struct tr_site_vhost *v = tr_site_vhost_at(app->site, i);
        if (strcmp(v->name, buf) != 0)
            continue;
        for (size_t j = 0; j < v->n_mounts; j++)
            if (strcmp(v->mounts[j].mountpoint, blank + 1) == 0)
                return &v->mounts[j];
    }
    return NULL;
}

static void
answer_content_type(struct app *app, const struct tp_request *req,
                    struct tr_response *r)
{
    const struct tr_site_mount *mount =
        mount_of_key(app, &req->content_type_lookup);
    char suffix[64] = "";
    if (req->suffix.len < sizeof(suffix)) {
        memcpy(suffix, req->suffix.data, req->suffix.len);
        suffix[req->suffix.len] = '\0';
    }
    const char *type = tr_site_content_type(mount, suffix);
    if (type == NULL)
        tr_response_status(r, 404);     /* unknown suffix: not served */
    else if (type[0] != '\0')
        tr_response_content_type(r, type);
    tr_response_max_age(r, app->max_age);
}

/* Common packets of a mount's answer. */
static void
mount_extras(struct app *app, const struct tr_site_mount *m,
             struct tr_response *r)
{
    for (size_t i = 0; i < m->n_headers; i++)
        tr_response_header(r, m->headers[i].name, m->headers[i].value);
    if (m->cache_max_age >= 0)
        tr_response_expires_relative(r, (uint32_t)m->cache_max_age);
    tr_response_max_age(r, app->max_age);
}

static char *
join(const char *a, const char *b, const char *c)
{
    size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
    char *s = malloc(n);
    if (s != NULL)
        snprintf(s, n, "%s%s%s", a, b, c);
    return s;
}

/* The BASE of a mount: its mountpoint with a trailing slash. */
static char *
mount_base(const struct tr_site_mount *m)
{
    return join(m->mountpoint, strcmp(m->mountpoint, "/") == 0 ? "" : "/",
                "");
}

/* An INVERSE_REGEX for the BASE answer of mount m: `first` (or nothing)
 * and every mount nested below m (the root mount has all others below
 * it), so that a cached answer of "/" never serves "/docs/x".  The
 * mountpoints are matched literally, as a whole path segment.  NULL when
 * there is nothing to exclude, or out of memory (then the caller sends
 * `first` alone); the caller frees. */
static char *
nested_exclusion(const struct tr_site_vhost *v, const struct tr_site_mount *m,
                 const char *first)
{
    size_t ml = strlen(m->mountpoint);
    bool root = strcmp(m->mountpoint, "/") == 0;
    size_t cap = strlen(first) + 16, len = 0;
    for (size_t i = 0; i < v->n_mounts; i++)
        cap += 2 * strlen(v->mounts[i].mountpoint) + 16;
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    len = (size_t)snprintf(out, cap, "%s", first);
    bool any = false;
    for (size_t i = 0; i < v->n_mounts; i++) {
        const char *mp = v->mounts[i].mountpoint;
        if (&v->mounts[i] == m || strcmp(mp, m->mountpoint) == 0)
            continue;
        if (!root && (strncmp(mp, m->mountpoint, ml) != 0 || mp[ml] != '/'))
            continue;
        len += (size_t)snprintf(out + len, cap - len, "%s^", len > 0 ? "|"
                                                                    : "");
        for (const char *c = mp; *c != '\0'; c++) {
            if (strchr("\\^$.|?*+()[]{}", *c) != NULL)
                out[len++] = '\\';
            out[len++] = *c;
        }
        len += (size_t)snprintf(out + len, cap - len, "(?:/|$)");
        any = true;
    }
    if (!any) {
        free(out);
        return NULL;
    }
    return out;
}

/* The address of `path` inside a file or NFS mount: PATH with BENEATH
 * (the mount's directory) for a file, NFS_SERVER + NFS_EXPORT + PATH
 * (inside the export) for NFS. */
static void
file_address(const struct tr_site_mount *m, const char *path,
             struct tr_response *r)
{
    const struct tr_site_origin *o = &m->origin;
    if (o->kind == TR_SITE_ORIGIN_NFS) {
        tr_response_nfs_server(r, o->host);
        tr_response_nfs_export(r, o->nfs_export);
        tr_response_path(r, path);
        return;
    }
    tr_response_path(r, path);
    tr_response_beneath(r, o->path);
}

/* A file or NFS mount: the index document for a directory, else one
 * cacheable answer for the whole mount with a CONTENT_TYPE_LOOKUP. */
static void
answer_file(struct app *app, const struct tr_site_match *match,
            struct tr_response *r)
{
    const struct tr_site_mount *m = match->mount;
    const char *rem = match->remainder;
    size_t rn = strlen(rem);
    if (rn == 0 && strcmp(m->mountpoint, "/") != 0) {
        /* "/docs" -> "/docs/", as lwsws does */
        char *loc = join(m->mountpoint, "/", "");
        tr_response_redirect(r, loc != NULL ? loc : "/");
        tr_response_status(r, 301);
        tr_response_redirect_query_string(r);
        tr_response_max_age(r, app->max_age);
        free(loc);
        return;
    }
    char lookup[1400];
    if (mount_key(match, lookup, sizeof(lookup)) < 0)
        lookup[0] = '\0';
    if (rn == 0 || rem[rn - 1] == '/') {
        /* A directory: the index document, never a listing. */
        if (m->default_doc == NULL) {
            tr_response_status(r, 404);
            tr_response_max_age(r, app->max_age);
            return;
        }
        char *path = join(m->origin.path, rem, rn == 0 ? "/" : "");
        char *full = path != NULL ? join(path, m->default_doc, "") : NULL;
        const char *type = tr_site_content_type(
            m, tr_site_path_suffix(m->default_doc));
        if (full == NULL || type == NULL) {
            tr_response_status(r, 404);
            tr_response_max_age(r, app->max_age);
        } else {
            file_address(m, full, r);
            if (type[0] != '\0')
                tr_response_content_type(r, type);
            mount_extras(app, m, r);
        }
        free(path);
        free(full);
        return;
    }
    /* Everything else below the mount: one cacheable answer.  URIs that
     * end in '/' are excluded (INVERSE_REGEX), they get the index. */
    char *base = mount_base(m);
    char *path = join(m->origin.path, "/", "");
    char *exclude = nested_exclusion(match->vhost, m, ".*/$");
    tr_response_base(r, base != NULL ? base : "/");
    tr_response_easy_base(r);
    tr_response_inverse_regex(r, exclude != NULL ? exclude : ".*/$");
    free(exclude);
    file_address(m, path != NULL ? path : "/", r);
    if (lookup[0] != '\0')
        tr_response_content_type_lookup(r, lookup, strlen(lookup));
    mount_extras(app, m, r);
    free(base);
    free(path);
}

static void
answer_mount(struct app *app, const struct tr_site_match *match,
             struct tr_response *r)
{
    const struct tr_site_mount *m = match->mount;
    const struct tr_site_origin *o = &m->origin;
    char *base = mount_base(m);
    char hostport[300];
    if (m->basic_auth != NULL) {
        /* The data plane asks us (HTTP_AUTH request) for every request
         * with credentials, and answers 401 with this challenge without
         * asking when there are none. */
        char key[1400], challenge[600];
        if (mount_key(match, key, sizeof(key)) > 0)
            tr_response_http_auth(r, key, strlen(key));
        snprintf(challenge, sizeof(challenge), "Basic realm=\"%s\", "
                 "charset=\"UTF-8\"", match->vhost->name);
        tr_response_www_authenticate(r, challenge);
    }
    switch (o->kind) {
    case TR_SITE_ORIGIN_FILE:
    case TR_SITE_ORIGIN_NFS:
        answer_file(app, match, r);
        break;
    case TR_SITE_ORIGIN_HTTP:
    case TR_SITE_ORIGIN_HTTPS: {
        size_t un = strlen(o->url);
        char *url = join(o->url, un > 0 && o->url[un - 1] == '/' ? "" : "/",
                         "");
        snprintf(hostport, sizeof(hostport), "%s:%u", o->host, o->port);
        char *exclude = nested_exclusion(match->vhost, m, "");
        tr_response_base(r, base);
        tr_response_easy_base(r);
        if (exclude != NULL)
            tr_response_inverse_regex(r, exclude);
        free(exclude);
        tr_response_http(r, url);
        tr_response_address_string(r, hostport);
        mount_extras(app, m, r);
        free(url);
        break;
    }
    case TR_SITE_ORIGIN_CGI:
    case TR_SITE_ORIGIN_WAS:
    case TR_SITE_ORIGIN_LHTTP:
    case TR_SITE_ORIGIN_FASTCGI: {
        if (o->kind == TR_SITE_ORIGIN_CGI)
            tr_response_cgi(r, o->path);
        else if (o->kind == TR_SITE_ORIGIN_WAS)
            tr_response_was(r, o->path);
        else if (o->kind == TR_SITE_ORIGIN_LHTTP)
            tr_response_lhttp_path(r, o->path);
        else
            tr_response_fastcgi(r, o->host != NULL ? "/" : o->path);
        if (o->kind == TR_SITE_ORIGIN_FASTCGI && o->host != NULL) {
            snprintf(hostport, sizeof(hostport), "%s:%u", o->host, o->port);
            tr_response_address_string(r, hostport);
        }
        if (o->kind == TR_SITE_ORIGIN_LHTTP) {
            tr_response_lhttp_uri(r, match->path);
        } else {
            tr_response_script_name(r, m->mountpoint);
            tr_response_path_info(r, match->remainder);
        }
        for (size_t i = 0; i < m->n_cgi_env; i++)
            tr_response_setenv(r, m->cgi_env[i].name, m->cgi_env[i].value);
        mount_extras(app, m, r);
        break;
    }
    case TR_SITE_ORIGIN_REDIRECT: {
        const char *rem = match->remainder;
        size_t un = strlen(o->url);
        if (un > 0 && o->url[un - 1] == '/' && rem[0] == '/')
            rem++;      /* ">https://new.example/" + "/page" */
        char *loc = join(o->url, rem, "");
        tr_response_redirect(r, loc != NULL ? loc : o->url);
        tr_response_status(r, m->redirect_status);
        tr_response_redirect_query_string(r);
        tr_response_max_age(r, app->max_age);
        free(loc);
        break;
    }
    }
    free(base);
}

static int
b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decode standard base64 (with padding) into out; -1 when malformed. */
static int
b64decode(const char *in, size_t n, char *out, size_t size)
{
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    size_t i = 0;
    for (; i < n && in[i] != '='; i++) {
        int v = b64val((unsigned char)in[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o + 1 >= size)
                return -1;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    for (; i < n; i++)
        if (in[i] != '=')
            return -1;
    out[o] = '\0';
    return (int)o;
}

/* The answer to an HTTP_AUTH request: USER on good credentials, else
 * 401 with the challenge.  Never cached (the data plane does not cache
 * these requests either). */
static void
answer_http_auth(struct app *app, const struct tp_request *req,
                 struct tr_response *r)
{
    const struct tr_site_mount *mount = mount_of_key(app, &req->http_auth);
    char creds[600] = "";
    const char *a = (const char *)req->authorization.data;
    size_t an = req->authorization.len;
    bool ok = false;
    if (mount != NULL && a != NULL && an > 6 &&
        strncasecmp(a, "Basic ", 6) == 0) {
        size_t skip = 6;
        while (skip < an && a[skip] == ' ')
            skip++;
        int n = b64decode(a + skip, an - skip, creds, sizeof(creds));
        char *colon = n > 0 ? memchr(creds, ':', (size_t)n) : NULL;
        if (colon != NULL && memchr(creds, '\0', (size_t)n) == NULL) {
            *colon = '\0';
            if (creds[0] != '\0' &&
                tr_site_check_password(mount, creds, colon + 1) == 1) {
                tr_response_user(r, creds);
                ok = true;
            }
        }
    }
    if (!ok) {
        /* The realm is the vhost's name, the first word of the key. */
        char challenge[600];
        size_t vn = 0;
        while (vn < req->http_auth.len && req->http_auth.data[vn] != ' ')
            vn++;
        if (vn > 256)
            vn = 256;
        snprintf(challenge, sizeof(challenge),
                 "Basic realm=\"%.*s\", charset=\"UTF-8\"", (int)vn,
                 (const char *)req->http_auth.data);
        tr_response_status(r, 401);
        tr_response_www_authenticate(r, challenge);
    }
    tr_response_max_age(r, 0);
    explicit_bzero(creds, sizeof(creds));
}

static void
handle(struct tr_request_ctx *ctx, const struct tp_request *req,
       void *userdata)
{
    struct app *app = userdata;
    struct tr_response *r = tr_response_new_for(req);
    if (r == NULL) {
        tr_request_ctx_reply(ctx, NULL);
        return;
    }
    if (req->content_type_lookup.data != NULL) {
        answer_content_type(app, req, r);
        tr_request_ctx_reply(ctx, r);
        return;
    }
    if (req->http_auth.data != NULL) {
        answer_http_auth(app, req, r);
        tr_request_ctx_reply(ctx, r);
        return;
    }
    char host[256] = "", tag[256] = "";
    if (req->host.len < sizeof(host)) {
        memcpy(host, req->host.data, req->host.len);
        host[req->host.len] = '\0';
    }
    if (req->listener_tag.data != NULL &&
        req->listener_tag.len < sizeof(tag)) {
        memcpy(tag, req->listener_tag.data, req->listener_tag.len);
        tag[req->listener_tag.len] = '\0';
    }
    static char buf[PATH_BUF];
    struct tr_site_match match;
    enum tr_site_status st = tr_site_lookup(
        app->site, host, req->listener_tag.data != NULL ? tag : NULL,
        (const char *)req->uri.data, req->uri.len, buf, sizeof(buf),
        &match);
    if (st != TR_SITE_OK) {
        tr_response_status(r, (unsigned)tr_site_status_http(st));
        tr_response_max_age(r, app->max_age);
    } else {
        answer_mount(app, &match, r);
    }
    if (tr_response_finish(r) != 0)
        logf_("%s %s: cannot answer: %s", host,
              req->uri.data != NULL ? (const char *)req->uri.data : "-",
              tr_response_error(r));
    tr_request_ctx_reply(ctx, r);
}

static void
on_signal(uv_signal_t *h, int signum)
{
    struct app *app = h->data;
    if (signum == SIGHUP) {
        struct tr_site *site = NULL;
        char err[1024];
        if (tr_site_load(app->site_path, &site, err, sizeof(err)) != 0) {
            logf_("reload failed, keeping the old site: %s", err);
            return;
        }
        tr_site_free(app->site);
        app->site = site;
        logf_("reloaded %s", app->site_path);
        return;
    }
    logf_("%s: stopping", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    uv_close((uv_handle_t *)&app->sighup, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
    uv_close((uv_handle_t *)&app->sigint, NULL);
    tr_server_close(app->server, NULL, NULL);
}

static void
usage(FILE *out)
{
    fprintf(out,
            "usage: portier-translate [--socket ADDRESS] [--max-age SECONDS] "
            "[--check] SITE.json\n"
            "\n"
            "  -s, --socket ADDRESS  where to listen: @abstract or /path "
            "(default " DEFAULT_SOCKET ")\n"
            "  -m, --max-age SECONDS how long the data plane may reuse an "
            "answer (default %d)\n"
            "      --check           validate the site file and exit\n"
            "  -h, --help            this text\n",
            DEFAULT_MAX_AGE);
}

int
main(int argc, char **argv)
{
    static const struct option options[] = {
        { "socket", required_argument, NULL, 's' },
        { "max-age", required_argument, NULL, 'm' },
        { "check", no_argument, NULL, 'c' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct app app;
    memset(&app, 0, sizeof(app));
    app.max_age = DEFAULT_MAX_AGE;
    const char *socket_addr = DEFAULT_SOCKET;
    bool check = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "s:m:h", options, NULL)) != -1) {
        switch (opt) {
        case 's':
            socket_addr = optarg;
            break;
        case 'm': {
            char *end;
            unsigned long v = strtoul(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v > 31536000) {
                fprintf(stderr, "portier-translate: --max-age: \"%s\" is "
                        "not a number of seconds (0..31536000)\n", optarg);
                return 2;
            }
            app.max_age = (unsigned)v;
            break;
        }
        case 'c':
            check = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return 2;
    }
    app.site_path = argv[optind];
    char err[1024];
    if (tr_site_load(app.site_path, &app.site, err, sizeof(err)) != 0) {
        fprintf(stderr, "portier-translate: %s\n", err);
        return 1;
    }
    if (check) {
        printf("portier-translate: %s is valid (%zu vhosts)\n",
               app.site_path, tr_site_vhost_count(app.site));
        tr_site_free(app.site);
        return 0;
    }

    signal(SIGPIPE, SIG_IGN);
    app.loop = uv_default_loop();
    app.server = tr_server_new(app.loop, handle, &app);
    if (app.server == NULL) {
        fprintf(stderr, "portier-translate: out of memory\n");
        return 1;
    }
    tr_server_set_log(app.server, log_cb, &app);
    int rc = tr_server_listen(app.server, socket_addr);
    if (rc != 0) {
        fprintf(stderr, "portier-translate: cannot listen on %s: %s\n",
                socket_addr, strerror(-rc));
        tr_server_close(app.server, NULL, NULL);
        uv_run(app.loop, UV_RUN_DEFAULT);
        tr_site_free(app.site);
        return 1;
    }
    uv_signal_init(app.loop, &app.sighup);
    uv_signal_init(app.loop, &app.sigterm);
    uv_signal_init(app.loop, &app.sigint);
    app.sighup.data = app.sigterm.data = app.sigint.data = &app;
    uv_signal_start(&app.sighup, on_signal, SIGHUP);
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    uv_signal_start(&app.sigint, on_signal, SIGINT);
    logf_("serving %s on %s", app.site_path, socket_addr);
    uv_run(app.loop, UV_RUN_DEFAULT);
    tr_site_free(app.site);
    uv_loop_close(app.loop);
    logf_("stopped");
    return 0;
}
