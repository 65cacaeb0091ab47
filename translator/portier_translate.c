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

#define DEFAULT_SOCKET "@portier-translate"
#define DEFAULT_MAX_AGE 60          /* seconds a translation is reused */
#define PATH_BUF 8192

struct app {
    const char *site_path;
    struct tr_site *site;
    unsigned generation;             /* bumped by every reload */
    unsigned max_age;
    uv_loop_t *loop;
    struct tr_server *server;
    uv_signal_t sighup, sigterm, sigint;
};

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

/* The CONTENT_TYPE_LOOKUP payload names the mount: "generation:vhost:
 * mount", so a lookup after a reload falls back to the built-in table
 * instead of using another mount's types. */
static const struct tr_site_mount *
mount_of_lookup(const struct app *app, const struct pr_slice *payload)
{
    char buf[64];
    if (payload->len == 0 || payload->len >= sizeof(buf))
        return NULL;
    memcpy(buf, payload->data, payload->len);
    buf[payload->len] = '\0';
    unsigned gen, v, m;
    if (sscanf(buf, "%u:%u:%u", &gen, &v, &m) != 3 ||
        gen != app->generation)
        return NULL;
    const struct tr_site_vhost *vhost = tr_site_vhost_at(app->site, v);
    if (vhost == NULL || m >= vhost->n_mounts)
        return NULL;
    return &vhost->mounts[m];
}

static void
answer_content_type(struct app *app, const struct tp_request *req,
                    struct tr_response *r)
{
    const struct tr_site_mount *mount =
        mount_of_lookup(app, &req->content_type_lookup);
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

static void
answer_file(struct app *app, const struct tr_site_match *match,
            size_t vi, size_t mi, struct tr_response *r)
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
    char lookup[64];
    snprintf(lookup, sizeof(lookup), "%u:%zu:%zu", app->generation, vi, mi);
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
            tr_response_path(r, full);
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
    tr_response_base(r, base != NULL ? base : "/");
    tr_response_easy_base(r);
    tr_response_inverse_regex(r, ".*/$");
    tr_response_path(r, path != NULL ? path : "/");
    tr_response_content_type_lookup(r, lookup, strlen(lookup));
    mount_extras(app, m, r);
    free(base);
    free(path);
}

static void
answer_mount(struct app *app, const struct tr_site_match *match, size_t vi,
             size_t mi, const struct tp_request *req, struct tr_response *r)
{
    const struct tr_site_mount *m = match->mount;
    const struct tr_site_origin *o = &m->origin;
    char *base = mount_base(m);
    char hostport[300];
    switch (o->kind) {
    case TR_SITE_ORIGIN_FILE:
        answer_file(app, match, vi, mi, r);
        break;
    case TR_SITE_ORIGIN_NFS: {
        char *path = join(o->path, "/", "");
        tr_response_base(r, base);
        tr_response_easy_base(r);
        tr_response_nfs_server(r, o->host);
        tr_response_nfs_export(r, o->nfs_export);
        tr_response_path(r, path);
        mount_extras(app, m, r);
        free(path);
        break;
    }
    case TR_SITE_ORIGIN_HTTP:
    case TR_SITE_ORIGIN_HTTPS: {
        size_t un = strlen(o->url);
        char *url = join(o->url, un > 0 && o->url[un - 1] == '/' ? "" : "/",
                         "");
        snprintf(hostport, sizeof(hostport), "%s:%u", o->host, o->port);
        tr_response_base(r, base);
        tr_response_easy_base(r);
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
    (void)req;
    free(base);
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
        size_t vi = 0, mi = 0;
        for (size_t i = 0; i < tr_site_vhost_count(app->site); i++)
            if (tr_site_vhost_at(app->site, i) == match.vhost)
                vi = i;
        mi = (size_t)(match.mount - match.vhost->mounts);
        answer_mount(app, &match, vi, mi, req, r);
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
        app->generation++;
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
