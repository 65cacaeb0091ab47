/* Unit tests for translator/tr_site: loading, validating and looking up
 * site files.  Every test writes its files into one mkdtemp() directory. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tr_site.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The password of every test user, hashed once with crypt_gensalt_rn() and
 * crypt_r() (libxcrypt 4.4.33): do not regenerate, they are vectors. */
#define PASSWORD "s3cret pw"
#define HASH_2B  "$2b$04$QkXUO7luI6Ic.zUUD1oLDOHJ6YVkyz5dIUipnNaxanTSCOOyEAovK"
#define HASH_2Y  "$2y$04$Ed7S.ip.BhEmyKY49OOPl.TLhuFhS5nF.vlZyALEhMS1yZlKhIeLe"
#define HASH_5                                                                 \
    "$5$rounds=1000$tunxcLW9SswfhHRE$hpy9jbftvNr1TGn6fIxi4xXb.omd2CJUH0uzC"    \
    "DK97tB"
#define HASH_6                                                                 \
    "$6$rounds=1000$Rt.Ptt5IKf9Rz2Gm$H1IeZjlzGmjpdZzHjZsOkP/EgBpNjULGlfYMr"    \
    "Bj8Ssy7z5t.KwIlogpRSgtJvZ7l4a0cgiILHQZZ8vWnZZfp01"
#define HASH_Y                                                                 \
    "$y$j9T$eFD2ns6Sg2.CKHjdN6sZr1$"                                           \
    "W0BjjEuS5fykqwHUjsYspbb0IGzj9F5wI86Ku6X5Zq5"
/* From `openssl passwd -6 -salt abcdefgh secret`. */
#define HASH_6_OPENSSL                                                         \
    "$6$abcdefgh$ltjgWl6579NluT/Vi1nwEvcil.G5Nbc4NiXZaNGStk8PSwGfQv72N2CKP"    \
    "PrVACtLtip/cZ/1GM/O6IND4WQhG."

static char tmpdir[PATH_MAX];  /* as created */
static char realdir[PATH_MAX]; /* after realpath(): the base of relative
                                * paths */
static char site_path[PATH_MAX + 16];

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int
group_setup(void **state)
{
    snprintf(tmpdir, sizeof(tmpdir), "%s/tr_site_XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(tmpdir) == NULL || realpath(tmpdir, realdir) == NULL)
        return -1;
    snprintf(site_path, sizeof(site_path), "%s/site.json", tmpdir);
    return 0;
}

static int
group_teardown(void **state)
{
    return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
write_file(const char *name, const char *content)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
    assert_int_equal(fclose(f), 0);
}

/* Load a site written from json; fail the test with the message if it is
 * refused. */
static struct tr_site *
load_ok(const char *json)
{
    char err[1024];
    struct tr_site *site = NULL;
    write_file("site.json", json);
    int rc = tr_site_load(site_path, &site, err, sizeof(err));
    if (rc != 0)
        fail_msg("load failed (%d): %s", rc, err);
    assert_non_null(site);
    return site;
}

/* Where the n-th (from 0) occurrence of needle starts: "line:column". */
static void
position_of(const char *text, const char *needle, int nth, unsigned *line,
            unsigned *col)
{
    const char *p = text;
    for (int i = 0; i <= nth; i++) {
        p = strstr(i == 0 ? p : p + 1, needle);
        assert_non_null(p);
    }
    *line = 1;
    *col = 1;
    for (const char *q = text; q < p; q++) {
        if (*q == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static void
check_error(const char *err, const char *file, unsigned line, unsigned col,
            const char *fragment)
{
    char prefix[PATH_MAX + 64];
    snprintf(prefix, sizeof(prefix), "%s:%u:%u: ", file, line, col);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("error \"%s\" does not start with \"%s\"", err, prefix);
    if (strstr(err, fragment) == NULL)
        fail_msg("error \"%s\" does not mention \"%s\"", err, fragment);
}

/* Load json; it must be refused with an error at the nth occurrence of
 * `at`, mentioning `fragment`. */
static void
expect_error_at(const char *json, const char *at, int nth, const char *fragment)
{
    char err[1024];
    struct tr_site *site = NULL;
    write_file("site.json", json);
    int rc = tr_site_load(site_path, &site, err, sizeof(err));
    if (rc != -EINVAL)
        fail_msg("expected -EINVAL, got %d (%s) for:\n%s", rc, err, json);
    assert_null(site);
    unsigned line, col;
    position_of(json, at, nth, &line, &col);
    check_error(err, site_path, line, col, fragment);
}

/* A site with one default vhost holding the given mounts (JSON text). */
static char *
one_vhost(const char *mounts)
{
    static char buf[8192];
    snprintf(buf, sizeof(buf),
             "{ \"vhosts\": [ { \"name\": \"default\",\n"
             "  \"mounts\": [\n%s\n] } ] }\n",
             mounts);
    return buf;
}

static const struct tr_site_mount *
mount_at(const struct tr_site *site, size_t v, size_t m)
{
    const struct tr_site_vhost *vh = tr_site_vhost_at(site, v);
    assert_non_null(vh);
    assert_true(m < vh->n_mounts);
    return &vh->mounts[m];
}

/* --- origins ------------------------------------------------------------ */

static void
test_every_origin_kind(void **state)
{
    struct tr_site *site = load_ok(one_vhost(
        "{ \"mountpoint\": \"/\", \"origin\": \"file:///srv/www\" },\n"
        "{ \"mountpoint\": \"/rel\", \"origin\": \"file://./htdocs\" },\n"
        "{ \"mountpoint\": \"/up\", \"origin\": \"file://../x/./y//z/\" },\n"
        "{ \"mountpoint\": \"/nfs\", \"origin\": \"nfs://nfs1/srv/nfs\" },\n"
        "{ \"mountpoint\": \"/nfs2\",\n"
        "  \"origin\": \"nfs://10.0.0.5/export//site1/www\" },\n"
        "{ \"mountpoint\": \"/api\",\n"
        "  \"origin\": \"http://backend:8080/prefix\" },\n"
        "{ \"mountpoint\": \"/tls\", \"origin\": \"HTTPS://Example.COM\" },\n"
        "{ \"mountpoint\": \"/v6\", \"origin\": \"http://[::1]/x\" },\n"
        "{ \"mountpoint\": \"/cgi-bin\",\n"
        "  \"origin\": \"cgi:///usr/lib/cgi-bin\" },\n"
        "{ \"mountpoint\": \"/fcgi\",\n"
        "  \"origin\": \"fastcgi:///usr/bin/app.fcgi\" },\n"
        "{ \"mountpoint\": \"/fnet\",\n"
        "  \"origin\": \"fastcgi://127.0.0.1:9000\" },\n"
        "{ \"mountpoint\": \"/was\",\n"
        "  \"origin\": \"was:///opt/app/was-app\" },\n"
        "{ \"mountpoint\": \"/lhttp\",\n"
        "  \"origin\": \"lhttp:///opt/app/lhttp\" },\n"
        "{ \"mountpoint\": \"/old\",\n"
        "  \"origin\": \">https://example.com/new\" },\n"
        "{ \"mountpoint\": \"/moved\", \"origin\": \">http://e.org:8080/x\",\n"
        "  \"redirect-status\": 308 }"));
    const struct tr_site_origin *o;
    char expect[PATH_MAX + 64];

    o = &mount_at(site, 0, 0)->origin;
    assert_int_equal(o->kind, TR_SITE_ORIGIN_FILE);
    assert_string_equal(o->path, "/srv/www");
    assert_string_equal(o->text, "file:///srv/www");
    assert_null(o->host);

    o = &mount_at(site, 0, 1)->origin;
    assert_int_equal(o->kind, TR_SITE_ORIGIN_FILE);
    snprintf(expect, sizeof(expect), "%s/htdocs", realdir);
    assert_string_equal(o->path, expect);

    o = &mount_at(site, 0, 2)->origin;
    char parent[PATH_MAX];
    snprintf(parent, sizeof(parent), "%s", realdir);
    *strrchr(parent, '/') = '\0';
    snprintf(expect, sizeof(expect), "%s/x/y/z", parent);
    assert_string_equal(o->path, expect);

    o = &mount_at(site, 0, 3)->origin;
    assert_int_equal(o->kind, TR_SITE_ORIGIN_NFS);
    assert_string_equal(o->host, "nfs1");
    assert_string_equal(o->nfs_export, "/srv/nfs");
    assert_string_equal(o->path, "");

    o = &mount_at(site, 0, 4)->origin;
    assert_int_equal(o->kind, TR_SITE_ORIGIN_NFS);
    assert_string_equal(o->host, "10.0.0.5");
    assert_string_equal(o->nfs_export, "/export");
    assert_string_equal(o->path, "/site1/www");

    o = &mount_at(site, 0, 5)->origin;
    assert_int_equal(o->kind, TR_SITE_ORIGIN_HTTP);
    assert_string_equal(o->host, "backend");
    assert_int_equal(o->port, 8080);
    assert_string_equal(o->path, "/prefix");
    assert_string_equal(o->url, "http://backend:8080/prefix");

    o = &mount_at(site, 0, 6)->origin;
    assert_int_equal(o->kind, TR_SITE_ORIGIN_HTTPS);
    assert_string_equal(o->host, "example.com");
    assert_int_equal(o->port, 443);
    assert_string_equal(o->path, "");
    assert_string_equal(o->url, "https://Example.COM");

    o = &mount_at(site, 0, 7)->origin;
    assert_int_equal(o->kind, TR_SITE_ORIGIN_HTTP);
    assert_string_equal(o->host, "[::1]");
    assert_int_equal(o->port, 80);
    assert_string_equal(o->path, "/x");

    o = &mount_at(site, 0, 8)->origin;
    assert_int_equal(o->kind, TR_SITE_ORIGIN_CGI);
    assert_string_equal(o->path, "/usr/lib/cgi-bin");

    o = &mount_at(site, 0, 9)->origin;
    assert_int_equal(o->kind, TR_SITE_ORIGIN_FASTCGI);
    assert_string_equal(o->path, "/usr/bin/app.fcgi");
    assert_null(o->host);

    o = &mount_at(site, 0, 10)->origin;
    assert_int_equal(o->kind, TR_SITE_ORIGIN_FASTCGI);
    assert_null(o->path);
    assert_string_equal(o->host, "127.0.0.1");
    assert_int_equal(o->port, 9000);

    o = &mount_at(site, 0, 11)->origin;
    assert_int_equal(o->kind, TR_SITE_ORIGIN_WAS);
    assert_string_equal(o->path, "/opt/app/was-app");

    o = &mount_at(site, 0, 12)->origin;
    assert_int_equal(o->kind, TR_SITE_ORIGIN_LHTTP);
    assert_string_equal(o->path, "/opt/app/lhttp");

    const struct tr_site_mount *m = mount_at(site, 0, 13);
    assert_int_equal(m->origin.kind, TR_SITE_ORIGIN_REDIRECT);
    assert_string_equal(m->origin.url, "https://example.com/new");
    assert_string_equal(m->origin.host, "example.com");
    assert_string_equal(m->origin.path, "/new");
    assert_int_equal(m->redirect_status, 301);

    m = mount_at(site, 0, 14);
    assert_int_equal(m->origin.kind, TR_SITE_ORIGIN_REDIRECT);
    assert_string_equal(m->origin.url, "http://e.org:8080/x");
    assert_int_equal(m->origin.port, 8080);
    assert_int_equal(m->redirect_status, 308);
    assert_int_equal(mount_at(site, 0, 0)->redirect_status, 0);

    assert_string_equal(tr_site_origin_kind_name(TR_SITE_ORIGIN_FASTCGI),
                        "fastcgi");
    assert_string_equal(tr_site_origin_kind_name(TR_SITE_ORIGIN_REDIRECT),
                        "redirect");
    tr_site_free(site);
}

static void
test_every_redirect_status(void **state)
{
    static const int ok[] = {301, 302, 303, 307, 308};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char mounts[256];
        snprintf(mounts, sizeof(mounts),
                 "{ \"mountpoint\": \"/\", \"origin\": \">https://a.example\","
                 " \"redirect-status\": %d }",
                 ok[i]);
        struct tr_site *site = load_ok(one_vhost(mounts));
        assert_int_equal(mount_at(site, 0, 0)->redirect_status, ok[i]);
        tr_site_free(site);
    }
}

/* --- matching ----------------------------------------------------------- */

/* Look up raw under host; check the mountpoint and the remainder. */
static void
expect_match(const struct tr_site *site, const char *host, const char *raw,
             const char *mountpoint, const char *remainder)
{
    char buf[512];
    struct tr_site_match m;
    enum tr_site_status st = tr_site_lookup(site, host, NULL, raw, strlen(raw),
                                            buf, sizeof(buf), &m);
    if (st != TR_SITE_OK)
        fail_msg("%s: status %d", raw, (int)st);
    assert_string_equal(m.mount->mountpoint, mountpoint);
    assert_string_equal(m.remainder, remainder);
    assert_true(m.remainder >= m.path &&
                m.remainder <= m.path + strlen(m.path));
}

static enum tr_site_status
status_of(const struct tr_site *site, const char *host, const char *tag,
          const char *raw)
{
    char buf[512];
    struct tr_site_match m;
    return tr_site_lookup(site, host, tag, raw, strlen(raw), buf, sizeof(buf),
                          &m);
}

static void
test_longest_prefix_on_segments(void **state)
{
    struct tr_site *site = load_ok(one_vhost(
        "{ \"mountpoint\": \"/\", \"origin\": \"file:///srv/root\" },\n"
        "{ \"mountpoint\": \"/app/\", \"origin\": \"file:///srv/app\" },\n"
        "{ \"mountpoint\": \"/app/api\", \"origin\": \"http://b:1/\" },\n"
        "{ \"mountpoint\": \"/apple\", \"origin\": \"file:///srv/apple\" }"));
    assert_string_equal(mount_at(site, 0, 1)->mountpoint, "/app");
    assert_int_equal(mount_at(site, 0, 1)->mountpoint_len, 4);
    expect_match(site, "x", "/", "/", "/");
    expect_match(site, "x", "/index.html", "/", "/index.html");
    expect_match(site, "x", "/app", "/app", "");
    expect_match(site, "x", "/app/", "/app", "/");
    expect_match(site, "x", "/app/x/y", "/app", "/x/y");
    expect_match(site, "x", "/apple", "/apple", "");
    expect_match(site, "x", "/apple/pie", "/apple", "/pie");
    expect_match(site, "x", "/applesauce", "/", "/applesauce");
    expect_match(site, "x", "/app/api", "/app/api", "");
    expect_match(site, "x", "/app/api/v1", "/app/api", "/v1");
    expect_match(site, "x", "/app/apix", "/app", "/apix");
    expect_match(site, "x", "/ap", "/", "/ap");
    /* decoding and collapsing happen before matching */
    expect_match(site, "x", "/%61pp//x", "/app", "/x");
    expect_match(site, "x", "//app///api//v1/", "/app/api", "/v1/");
    tr_site_free(site);
}

static void
test_no_mount(void **state)
{
    struct tr_site *site = load_ok(one_vhost(
        "{ \"mountpoint\": \"/docs\", \"origin\": \"file:///srv/docs\" }"));
    assert_int_equal(status_of(site, "h", NULL, "/"), TR_SITE_NO_MOUNT);
    assert_int_equal(status_of(site, "h", NULL, "/doc"), TR_SITE_NO_MOUNT);
    assert_int_equal(status_of(site, "h", NULL, "/docsx"), TR_SITE_NO_MOUNT);
    assert_int_equal(status_of(site, "h", NULL, "/docs/a"), TR_SITE_OK);
    const char *rem = "unset";
    const struct tr_site_vhost *vh = tr_site_vhost_at(site, 0);
    assert_null(tr_site_find_mount(vh, "/x", &rem));
    assert_null(rem);
    assert_non_null(tr_site_find_mount(vh, "/docs", &rem));
    assert_string_equal(rem, "");
    assert_null(tr_site_vhost_at(site, 1));
    assert_int_equal(tr_site_vhost_count(site), 1);
    tr_site_free(site);
}

static const char hosts_site[] =
    "{ \"vhosts\": [\n"
    "  { \"name\": \"Example.com\", \"aliases\": [\"www.example.com\",\n"
    "      \"[::1]\", \"192.0.2.1\"],\n"
    "    \"mounts\": [ { \"mountpoint\": \"/\", \"origin\": \"file:///a\" } ] "
    "},\n"
    "  { \"name\": \"example.com\", \"listener-tag\": \"plain\",\n"
    "    \"mounts\": [ { \"mountpoint\": \"/\",\n"
    "      \"origin\": \">https://example.com\" } ] },\n"
    "  { \"name\": \"other.org\",\n"
    "    \"mounts\": [ { \"mountpoint\": \"/\", \"origin\": \"file:///b\" } ] "
    "}\n"
    "] }\n";

static void
test_host_matching(void **state)
{
    struct tr_site *site = load_ok(hosts_site);
    const struct tr_site_vhost *a = tr_site_vhost_at(site, 0);
    const struct tr_site_vhost *tagged = tr_site_vhost_at(site, 1);
    const struct tr_site_vhost *b = tr_site_vhost_at(site, 2);
    assert_string_equal(a->name, "example.com");
    assert_int_equal(a->n_aliases, 3);
    assert_string_equal(a->aliases[0], "www.example.com");
    assert_null(a->listener_tag);
    assert_string_equal(tagged->listener_tag, "plain");
    assert_int_equal(a->line, 2);
    assert_int_equal(b->mounts[0].line, 9);

    assert_ptr_equal(tr_site_find_vhost(site, "example.com", NULL), a);
    assert_ptr_equal(tr_site_find_vhost(site, "EXAMPLE.COM", NULL), a);
    assert_ptr_equal(tr_site_find_vhost(site, "example.com:8080", NULL), a);
    assert_ptr_equal(tr_site_find_vhost(site, "example.com.", NULL), a);
    assert_ptr_equal(tr_site_find_vhost(site, "Www.Example.Com:443", NULL), a);
    assert_ptr_equal(tr_site_find_vhost(site, "[::1]:8080", NULL), a);
    assert_ptr_equal(tr_site_find_vhost(site, "[::1]", NULL), a);
    assert_ptr_equal(tr_site_find_vhost(site, "192.0.2.1:80", NULL), a);
    assert_ptr_equal(tr_site_find_vhost(site, "other.org", NULL), b);
    /* a listener tag picks the tagged vhost; other tags the untagged one */
    assert_ptr_equal(tr_site_find_vhost(site, "example.com", "plain"), tagged);
    assert_ptr_equal(tr_site_find_vhost(site, "example.com", "tls"), a);
    assert_ptr_equal(tr_site_find_vhost(site, "www.example.com", "plain"), a);
    /* no default vhost: unknown hosts get nothing (404) */
    assert_null(tr_site_find_vhost(site, "unknown.net", NULL));
    assert_null(tr_site_find_vhost(site, NULL, NULL));
    assert_null(tr_site_find_vhost(site, "", NULL));
    assert_null(tr_site_find_vhost(site, "example.co", NULL));
    assert_null(tr_site_find_vhost(site, "xexample.com", NULL));
    assert_int_equal(status_of(site, "unknown.net", NULL, "/"),
                     TR_SITE_NO_VHOST);
    assert_int_equal(tr_site_status_http(TR_SITE_NO_VHOST), 404);
    tr_site_free(site);
}

static void
test_default_vhost(void **state)
{
    struct tr_site *site =
        load_ok("{ \"vhosts\": [\n"
                "  { \"name\": \"a.example\",\n"
                "    \"mounts\": [ { \"mountpoint\": \"/\", \"origin\": "
                "\"file:///a\" } ] },\n"
                "  { \"name\": \"default\",\n"
                "    \"mounts\": [ { \"mountpoint\": \"/\", \"origin\": "
                "\"file:///d\" } ] },\n"
                "  { \"name\": \"default\", \"listener-tag\": \"admin\",\n"
                "    \"mounts\": [ { \"mountpoint\": \"/\", \"origin\": "
                "\"file:///adm\" } ] }\n"
                "] }\n");
    const struct tr_site_vhost *a = tr_site_vhost_at(site, 0);
    const struct tr_site_vhost *d = tr_site_vhost_at(site, 1);
    const struct tr_site_vhost *adm = tr_site_vhost_at(site, 2);
    assert_ptr_equal(tr_site_find_vhost(site, "a.example", NULL), a);
    assert_ptr_equal(tr_site_find_vhost(site, "b.example", NULL), d);
    assert_ptr_equal(tr_site_find_vhost(site, NULL, NULL), d);
    assert_ptr_equal(tr_site_find_vhost(site, "", "x"), d);
    assert_ptr_equal(tr_site_find_vhost(site, "b.example", "admin"), adm);
    assert_ptr_equal(tr_site_find_vhost(site, "a.example", "admin"), a);
    /* garbage and over-long hosts fall to the default vhost too */
    char longhost[600];
    memset(longhost, 'a', sizeof(longhost) - 1);
    longhost[sizeof(longhost) - 1] = '\0';
    assert_ptr_equal(tr_site_find_vhost(site, longhost, NULL), d);
    assert_ptr_equal(tr_site_find_vhost(site, "a b\r\n", NULL), d);
    assert_ptr_equal(tr_site_find_vhost(site, "[::1", NULL), d);
    expect_match(site, "nowhere", "/x", "/", "/x");
    tr_site_free(site);
}

/* --- options and content types ----------------------------------------- */

static void
test_every_option(void **state)
{
    write_file("users.htpasswd", "alice:" HASH_2B "\n");
    struct tr_site *site = load_ok(one_vhost(
        "{ \"mountpoint\": \"/\", \"origin\": \"file:///srv/www\",\n"
        "  \"default\": \"index.html\", \"cache-max-age\": 600,\n"
        "  \"extra-mimetypes\": { \".zip\": \"application/x-zip\",\n"
        "     \"Foo\": \"text/x-foo; charset=utf-8\", \"bin\": \"\",\n"
        "     \"*\": \"\" },\n"
        "  \"basic-auth\": \"users.htpasswd\",\n"
        "  \"headers\": { \"X-Frame-Options\": \"SAMEORIGIN\",\n"
        "     \"Content-Security-Policy\": \"default-src 'self'\" } },\n"
        "{ \"mountpoint\": \"/cgi\", \"origin\": \"cgi:///srv/cgi\",\n"
        "  \"cgi-env\": { \"CGIT_CONFIG\": \"/etc/cgitrc\", \"_x1\": \"\" },\n"
        "  \"cgi-timeout\": 30, \"default\": \"index.cgi\" },\n"
        "{ \"mountpoint\": \"/plain\", \"origin\": \"nfs://n/e\",\n"
        "  \"cache-max-age\": 0 }"));
    const struct tr_site_mount *m = mount_at(site, 0, 0);
    char expect[PATH_MAX + 64];
    assert_string_equal(m->default_doc, "index.html");
    assert_int_equal(m->cache_max_age, 600);
    assert_int_equal(m->cgi_timeout, 0);
    snprintf(expect, sizeof(expect), "%s/users.htpasswd", realdir);
    assert_string_equal(m->basic_auth, expect);
    assert_int_equal(m->n_headers, 2);
    assert_string_equal(m->headers[0].name, "X-Frame-Options");
    assert_string_equal(m->headers[0].value, "SAMEORIGIN");
    assert_string_equal(m->headers[1].name, "Content-Security-Policy");
    assert_int_equal(m->n_extra_mimetypes, 4);
    assert_string_equal(m->extra_mimetypes[0].name, "*"); /* sorted */
    assert_string_equal(tr_site_content_type(m, "zip"), "application/x-zip");
    assert_string_equal(tr_site_content_type(m, ".ZIP"), "application/x-zip");
    assert_string_equal(tr_site_content_type(m, "foo"),
                        "text/x-foo; charset=utf-8");
    assert_string_equal(tr_site_content_type(m, "bin"), "");
    assert_string_equal(tr_site_content_type(m, "html"), "text/html");
    assert_string_equal(tr_site_content_type(m, "unknownsuffix"), "");
    assert_string_equal(tr_site_content_type(m, ""), "");
    assert_string_equal(tr_site_content_type(m, NULL), "");

    m = mount_at(site, 0, 1);
    assert_int_equal(m->n_cgi_env, 2);
    assert_string_equal(m->cgi_env[0].name, "CGIT_CONFIG");
    assert_string_equal(m->cgi_env[0].value, "/etc/cgitrc");
    assert_string_equal(m->cgi_env[1].name, "_x1");
    assert_string_equal(m->cgi_env[1].value, "");
    assert_int_equal(m->cgi_timeout, 30);
    assert_string_equal(m->default_doc, "index.cgi");
    assert_int_equal(m->cache_max_age, -1);
    assert_null(m->basic_auth);
    assert_int_equal(m->n_headers, 0);

    m = mount_at(site, 0, 2);
    assert_int_equal(m->cache_max_age, 0);
    assert_null(m->default_doc);
    /* no extra-mimetypes: unknown suffixes are not served */
    assert_null(tr_site_content_type(m, "exe"));
    assert_null(tr_site_content_type(m, ""));
    assert_string_equal(tr_site_content_type(m, "css"), "text/css");
    tr_site_free(site);
}

static void
test_builtin_types(void **state)
{
    static const char *const pairs[][2] = {
        {"html", "text/html"},
        {"htm", "text/html"},
        {"css", "text/css"},
        {"js", "text/javascript"},
        {"mjs", "text/javascript"},
        {"json", "application/json"},
        {"txt", "text/plain"},
        {"xml", "application/xml"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"avif", "image/avif"},
        {"ico", "image/x-icon"},
        {"pdf", "application/pdf"},
        {"wasm", "application/wasm"},
        {"woff", "font/woff"},
        {"woff2", "font/woff2"},
        {"ttf", "font/ttf"},
        {"otf", "font/otf"},
        {"mp4", "video/mp4"},
        {"webm", "video/webm"},
        {"mp3", "audio/mpeg"},
        {"ogg", "audio/ogg"},
        {"zip", "application/zip"},
        {"gz", "application/gzip"},
        {"tar", "application/x-tar"},
        {"csv", "text/csv"},
        {"md", "text/markdown"},
        {"apng", "image/apng"},
        {"atom", "application/atom+xml"},
        {"bmp", "image/bmp"},
        {"bz2", "application/x-bzip2"},
        {"eot", "application/vnd.ms-fontobject"},
        {"flac", "audio/flac"},
        {"ics", "text/calendar"},
        {"jsonld", "application/ld+json"},
        {"m4a", "audio/mp4"},
        {"map", "application/json"},
        {"mov", "video/quicktime"},
        {"oga", "audio/ogg"},
        {"ogv", "video/ogg"},
        {"opus", "audio/ogg"},
        {"png", "image/png"},
        {"rss", "application/rss+xml"},
        {"tif", "image/tiff"},
        {"tiff", "image/tiff"},
        {"vtt", "text/vtt"},
        {"wav", "audio/wav"},
        {"webmanifest", "application/manifest+json"},
        {"xhtml", "application/xhtml+xml"},
        {"xz", "application/x-xz"},
        {"zst", "application/zstd"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        const char *t = tr_site_content_type(NULL, pairs[i][0]);
        if (t == NULL || strcmp(t, pairs[i][1]) != 0)
            fail_msg("suffix %s: got %s", pairs[i][0], t ? t : "NULL");
    }
    assert_string_equal(tr_site_content_type(NULL, ".HTML"), "text/html");
    assert_string_equal(tr_site_content_type(NULL, "Png"), "image/png");
    assert_null(tr_site_content_type(NULL, "exe"));
    assert_null(tr_site_content_type(NULL, "php"));
    assert_null(tr_site_content_type(NULL, ""));
    assert_null(tr_site_content_type(NULL, NULL));
    assert_null(tr_site_content_type(NULL, "a-suffix-that-is-much-too-long-x"
                                           "xxxxxxxxxxxxxxxxxxxxx"));
}

static void
test_path_suffix(void **state)
{
    assert_string_equal(tr_site_path_suffix("/a/b.tar.gz"), "gz");
    assert_string_equal(tr_site_path_suffix("/index.html"), "html");
    assert_string_equal(tr_site_path_suffix("/dir.d/file"), "");
    assert_string_equal(tr_site_path_suffix("/dir/"), "");
    assert_string_equal(tr_site_path_suffix("/.profile"), "");
    assert_string_equal(tr_site_path_suffix("/x/a."), "");
    assert_string_equal(tr_site_path_suffix("name.TXT"), "TXT");
    assert_string_equal(tr_site_path_suffix(""), "");
}

/* --- path safety -------------------------------------------------------- */

static void
test_traversal_refused(void **state)
{
    static const char *const bad[] = {
        "/../etc/passwd",
        "/a/../../etc/passwd",
        "/..",
        "/a/..",
        "/.",
        "/./a",
        "/a/./b",
        "/a/.",
        "/%2e%2e/etc",
        "/%2E%2E/etc",
        "/%2e./etc",
        "/.%2e/etc",
        "/%2E./etc",
        "/.%2E/x",
        "/a/%2e",
        "/a/%2e%2e",
        "/a/%2e%2E/",
        "/a%2f..%2fb",
        "/a%2Fb",
        "/a/%2F",
        "/%00",
        "/a%00.html",
        "/a\\b",
        "/a%5cb",
        "/a%5C..%5Cb",
        "/a%0d%0aX: y",
        "/%01",
        "/%7f",
        "/%1f",
        "/a b",
        "/a\tb",
        "/%",
        "/%2",
        "/%zz",
        "/%g0",
        "/a?b",
        "/a#b",
        "a/b",
        "",
        "/\x80",
        "/\xc3\xa9",
        "/%c0%ae%c0%ae/",
        "/%c0%af",
        "/%ed%a0%80",
        "/%f5%80%80%80",
        "/%e2%82",
        "/%ff",
    };
    struct tr_site *site = load_ok(one_vhost(
        "{ \"mountpoint\": \"/\", \"origin\": \"file:///srv/www\" }"));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char buf[256];
        enum tr_site_status st =
            tr_site_normalize_path(bad[i], strlen(bad[i]), buf, sizeof(buf));
        if (st != TR_SITE_BAD_PATH)
            fail_msg("\"%s\" was not refused (%d: %s)", bad[i], (int)st,
                     st == TR_SITE_OK ? buf : "");
        assert_int_equal(status_of(site, "h", NULL, bad[i]), TR_SITE_BAD_PATH);
    }
    /* a raw NUL inside the given length */
    char buf[64];
    assert_int_equal(tr_site_normalize_path("/a\0b", 4, buf, sizeof(buf)),
                     TR_SITE_BAD_PATH);
    assert_int_equal(tr_site_status_http(TR_SITE_BAD_PATH), 400);
    tr_site_free(site);
}

static void
test_safe_paths_normalised(void **state)
{
    static const char *const cases[][2] = {
        {"/", "/"},
        {"//", "/"},
        {"/a//b///c", "/a/b/c"},
        {"/a/b/", "/a/b/"},
        {"/%41%62c", "/Abc"},
        {"/a%20b", "/a b"},
        {"/caf%C3%A9.html", "/caf\xc3\xa9.html"},
        {"/%e2%82%ac", "/\xe2\x82\xac"},
        {"/%f0%9f%98%80", "/\xf0\x9f\x98\x80"},
        {"/.well-known/x", "/.well-known/x"},
        {"/a..b/...", "/a..b/..."},
        {"/..a/.b/a.", "/..a/.b/a."},
        {"/%2e%2e%2e", "/..."},
        {"/a%3Fb%23c", "/a?b#c"},
        {"/%25", "/%"},
        {"/a+b;c=d,e@f:g", "/a+b;c=d,e@f:g"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[256];
        enum tr_site_status st = tr_site_normalize_path(
            cases[i][0], strlen(cases[i][0]), buf, sizeof(buf));
        if (st != TR_SITE_OK)
            fail_msg("\"%s\" refused (%d)", cases[i][0], (int)st);
        assert_string_equal(buf, cases[i][1]);
    }
}

static void
test_path_too_long(void **state)
{
    char buf[8];
    assert_int_equal(tr_site_normalize_path("/abcdefg", 8, buf, sizeof(buf)),
                     TR_SITE_PATH_TOO_LONG);
    assert_int_equal(tr_site_normalize_path("/abcdef", 7, buf, sizeof(buf)),
                     TR_SITE_OK);
    assert_string_equal(buf, "/abcdef");
    assert_int_equal(tr_site_status_http(TR_SITE_PATH_TOO_LONG), 414);
    assert_int_equal(tr_site_status_http(TR_SITE_OK), 200);
    assert_int_equal(tr_site_status_http(TR_SITE_NO_MOUNT), 404);

    struct tr_site *site = load_ok(one_vhost(
        "{ \"mountpoint\": \"/\", \"origin\": \"file:///srv/www\" }"));
    struct tr_site_match m;
    assert_int_equal(
        tr_site_lookup(site, "h", NULL, "/abcdefgh", 9, buf, sizeof(buf), &m),
        TR_SITE_PATH_TOO_LONG);
    assert_non_null(m.vhost);
    assert_null(m.mount);
    tr_site_free(site);
}

/* --- bad files ---------------------------------------------------------- */

static void
test_syntax_errors(void **state)
{
    char err[512];
    struct tr_site *site = NULL;
    /* missing comma between two mounts, on line 4 */
    write_file(
        "site.json",
        "# a comment, with \"quotes\" and { braces\n"
        "{ \"vhosts\": [ { \"name\": \"default\", \"mounts\": [\n"
        "  { \"mountpoint\": \"/\", \"origin\": \"file:///a\" }\n"
        "  { \"mountpoint\": \"/b\", \"origin\": \"file:///b\" } ] } ] }\n");
    assert_int_equal(tr_site_load(site_path, &site, err, sizeof(err)), -EINVAL);
    assert_null(site);
    check_error(err, site_path, 4, 3, "expected");

    write_file("site.json", "{ \"vhosts\": [ }\n");
    assert_int_equal(tr_site_load(site_path, &site, err, sizeof(err)), -EINVAL);
    check_error(err, site_path, 1, 15, "");

    write_file("site.json", "");
    assert_int_equal(tr_site_load(site_path, &site, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, site_path));

    /* duplicate key */
    write_file("site.json", "{ \"vhosts\": [],\n  \"vhosts\": [] }");
    assert_int_equal(tr_site_load(site_path, &site, err, sizeof(err)), -EINVAL);
    check_error(err, site_path, 2, 10, "duplicate"); /* jansson: key end */

    /* a '#' inside a string (even after an escaped quote) is no comment */
    write_file("site.json", "{ \"a\\\"#b\": 1 }\n");
    assert_int_equal(tr_site_load(site_path, &site, err, sizeof(err)), -EINVAL);
    check_error(err, site_path, 1, 3, "unknown key \"a\"#b\"");
}

static void
test_structure_errors(void **state)
{
    expect_error_at("[1, 2]", "[", 0, "must be an object");
    expect_error_at("{ \"vhost\": [] }", "\"vhost\"", 0,
                    "unknown key \"vhost\" at the top level");
    expect_error_at("{ }", "{", 0, "no \"vhosts\"");
    expect_error_at("{ \"vhosts\": {} }", "{}", 0, "expected an array");
    expect_error_at("{ \"vhosts\": [] }", "[]", 0, "needs a vhost");
    expect_error_at("{ \"vhosts\": [ 1 ] }", "1", 0, "vhost must be an object");
    char deep[256];
    int o = snprintf(deep, sizeof(deep), "{ \"vhosts\": ");
    for (int i = 0; i < 40; i++)
        deep[o++] = '[';
    for (int i = 0; i < 40; i++)
        deep[o++] = ']';
    snprintf(deep + o, sizeof(deep) - (size_t)o, " }");
    expect_error_at(deep, "[", 31, "nested deeper than 32 levels");
    expect_error_at("{ \"vhosts\": [ { \"name\": \"a\", \"mounts\": [] } ] }",
                    "[]", 0, "at least one mount");
}

static void
test_vhost_errors(void **state)
{
    const char *mounts = "\"mounts\": [ { \"mountpoint\": \"/\", "
                         "\"origin\": \"file:///a\" } ]";
    char json[1024];
    snprintf(json, sizeof(json), "{ \"vhosts\": [ { %s } ] }", mounts);
    expect_error_at(json, "{ \"mounts\"", 0, "vhost without \"name\"");
    expect_error_at("{ \"vhosts\": [ { \"name\": \"a\" } ] }", "{ \"name\"", 0,
                    "vhost without \"mounts\"");
    snprintf(json, sizeof(json),
             "{ \"vhosts\": [ { \"name\": \"a\", \"port\": 80, %s } ] }",
             mounts);
    expect_error_at(json, "\"port\"", 0, "unknown key \"port\" in a vhost");
    snprintf(json, sizeof(json),
             "{ \"vhosts\": [ { \"name\": \"bad host\", %s } ] }", mounts);
    expect_error_at(json, "\"bad host\"", 0, "not a host name");
    snprintf(json, sizeof(json), "{ \"vhosts\": [ { \"name\": 42, %s } ] }",
             mounts);
    expect_error_at(json, "42", 0, "expected a string, got an integer");
    snprintf(json, sizeof(json),
             "{ \"vhosts\": [ { \"name\": \"a\", \"aliases\": \"b\", %s } ] }",
             mounts);
    expect_error_at(json, "\"b\"", 0, "expected an array");
    snprintf(json, sizeof(json),
             "{ \"vhosts\": [ { \"name\": \"a\", \"aliases\": [\"b..c\"],"
             " %s } ] }",
             mounts);
    expect_error_at(json, "\"b..c\"", 0, "empty label");
    snprintf(json, sizeof(json),
             "{ \"vhosts\": [ { \"name\": \"a\", \"listener-tag\": \"\", %s"
             " } ] }",
             mounts);
    expect_error_at(json, "\"\"", 0, "listener-tag");
    /* the same host twice (via an alias, case-insensitively) */
    snprintf(json, sizeof(json),
             "{ \"vhosts\": [ { \"name\": \"a.example\", %s },\n"
             "  { \"name\": \"b.example\", \"aliases\": [\"A.Example\"], %s"
             " } ] }",
             mounts, mounts);
    expect_error_at(json, "\"A.Example\"", 0,
                    "already served by the vhost at "
                    "line 1");
    snprintf(json, sizeof(json),
             "{ \"vhosts\": [ { \"name\": \"default\", %s },\n"
             "  { \"name\": \"default\", %s } ] }",
             mounts, mounts);
    expect_error_at(json, "\"default\"", 1, "already served");
}

static void
test_mount_errors(void **state)
{
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  "\n  \"cache\": 1 }"),
        "\"cache\"", 0, "unknown key \"cache\" in a mount");
    expect_error_at(one_vhost("{ \"mountpoint\": \"/\" }"), "{ \"mountpoint\"",
                    0, "mount without \"origin\"");
    expect_error_at(one_vhost("{ \"origin\": \"file:///a\" }"), "{ \"origin\"",
                    0, "mount without \"mountpoint\"");
    expect_error_at(one_vhost("\"/\""), "\"/\"", 0, "mount must be an object");
    /* wrong types */
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"cache-max-age\": \"60\" }"),
        "\"60\"", 0,
        "\"cache-max-age\": expected an integer, "
        "got a string");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"cache-max-age\": 1.5 }"),
        "1.5", 0, "expected an integer");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"cache-max-age\": -1 }"),
        "-1", 0, "out of range");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"cache-max-age\": 31536001 }"),
        "31536001", 0, "out of range");
    expect_error_at(one_vhost("{ \"mountpoint\": \"/\", \"origin\": [] }"),
                    "[] }", 0, "\"origin\": expected a string, got an array");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"cgi:///c\","
                  " \"cgi-timeout\": 0 }"),
        "0 }", 0, "out of range");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"cgi:///c\","
                  " \"cgi-env\": [] }"),
        "[] }", 0, "expected an object");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"headers\": { \"X\": true } }"),
        "true", 0, "\"X\": expected a string, got a boolean");
    /* bad mountpoints */
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"app\", \"origin\": \"file:///a\" }"),
        "\"app\"", 0, "must start with '/'");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/a/../b\", \"origin\": \"file:///a\" }"),
        "\"/a/../b\"", 0, "\"..\" segment");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/a//b\", \"origin\": \"file:///a\" }"),
        "\"/a//b\"", 0, "empty segment");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"\", \"origin\": \"file:///a\" }"),
        "\"\"", 0, "must start with '/'");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/a\\\\b\", \"origin\": \"file:///a\" }"),
        "\"/a", 0, "backslash");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/a\", \"origin\": \"file:///a\" },\n"
                  "{ \"mountpoint\": \"/a/\", \"origin\": \"file:///b\" }"),
        "\"/a/\"", 0, "duplicate mountpoint \"/a\"");
    /* option values */
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"default\": \"a/index.html\" }"),
        "\"a/index.html\"", 0, "without '/'");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"default\": \"..\" }"),
        "\"..\"", 0, "dot segment");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"extra-mimetypes\": { \"tar.gz\": \"x/y\" } }"),
        "\"tar.gz\"", 0, "not a file suffix");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"extra-mimetypes\": { \"x\": \"nonsense\" } }"),
        "\"nonsense\"", 0, "not a media type");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"extra-mimetypes\": { \"x\": \"a/b\",\n"
                  "  \".X\": \"a/c\" } }"),
        "\".X\"", 0, "duplicate file suffix \"x\"");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"cgi:///c\","
                  " \"cgi-env\": { \"1X\": \"v\" } }"),
        "\"1X\"", 0, "not a variable name");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"cgi:///c\","
                  " \"cgi-env\": { \"A-B\": \"v\" } }"),
        "\"A-B\"", 0, "not a variable name");
    /* options that do not apply to the origin */
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"redirect-status\": 302 }"),
        "\"redirect-status\"", 0, "does not apply to a file origin");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"cgi-env\": {} }"),
        "\"cgi-env\"", 0, "does not apply to a file origin");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"http://h/\","
                  " \"extra-mimetypes\": {} }"),
        "\"extra-mimetypes\"", 0, "does not apply to a http origin");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \">http://h/\","
                  " \"default\": \"i.html\" }"),
        "\"default\"", 1, "does not apply to a redirect origin");
}

static void
test_redirect_status_errors(void **state)
{
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \">https://h/\","
                  " \"redirect-status\": 305 }"),
        "305", 0, "305 is not one of 301, 302, 303, 307, 308");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \">https://h/\","
                  " \"redirect-status\": 200 }"),
        "200", 0, "not one of");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \">https://h/\","
                  " \"redirect-status\": \"301\" }"),
        "\"301\"", 0, "expected an integer");
}

static void
test_origin_errors(void **state)
{
    static const char *const cases[][2] = {
        {"ftp://host/x", "unknown scheme \"ftp\""},
        {"/srv/www", "is not a URL"},
        {"", "is not a URL"},
        {"file://htdocs", "must be absolute"},
        {"file://localhost/srv", "must be absolute"},
        {"file://", "must be absolute"},
        {"file:///", "root directory"},
        {"file:///a/../..", "root directory"},
        {"cgi://", "must be absolute"},
        {"was://prog", "must be absolute"},
        {"lhttp://prog", "must be absolute"},
        {"nfs://server", "needs an export"},
        {"nfs:///export", "the host is empty"},
        {"nfs://server:2049/export", "unexpected ':'"},
        {"nfs://server/a/../b", "\"..\" segment"},
        {"nfs://server//sub", "export is empty"},
        {"nfs://server/export//a//b", "empty segment"},
        {"http://", "the host is empty"},
        {"http://user@host/", "user information"},
        {"http://host:0/", "must not be 0"},
        {"http://host:65536/", "over 65535"},
        {"http://host:x/", "decimal"},
        {"http://host:/", "expected ':port'"},
        {"http://ho st/", "invalid character in host name"},
        {"http://host/a b", "invalid character in the URL path"},
        {"http://host/a?b=c", "query or fragment"},
        {"http://host/%zz", "malformed %-escape"},
        {"http://[::1/", "IPv6"},
        {"http://[xyz]/", "IPv6"},
        {"https://-/", ""},
        {"fastcgi://host", "a port is required"},
        {"fastcgi://host:9000/x", "just host:port"},
        {">ftp://host/", "must start with http:// or https://"},
        {">/relative", "must start with http://"},
        {">https://", "the host is empty"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char mounts[512];
        snprintf(mounts, sizeof(mounts),
                 "{ \"mountpoint\": \"/\",\n  \"origin\": \"%s\" }",
                 cases[i][0]);
        const char *json = one_vhost(mounts);
        char at[256];
        snprintf(at, sizeof(at), "\"%s\"", cases[i][0]);
        if (strcmp(cases[i][0], "https://-/") == 0) {
            /* "-" is a valid (if odd) label: accepted */
            tr_site_free(load_ok(json));
            continue;
        }
        expect_error_at(json, at, 0, cases[i][1]);
    }
}

static void
test_header_errors(void **state)
{
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"headers\": { \"X Bad\": \"v\" } }"),
        "\"X Bad\"", 0, "not a valid header name");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"headers\": { \"X:Y\": \"v\" } }"),
        "\"X:Y\"", 0, "not a valid header name");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"headers\": { \"\": \"v\" } }"),
        "\"\"", 0, "not a valid header name");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"headers\": { \"X-A\": \"a\\r\\nSet-Cookie: x\" } }"),
        "\"a\\r", 0, "line break");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"headers\": { \"X-A\": \"a\\u0001\" } }"),
        "\"a\\u", 0, "control character");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"headers\": { \"Content-Length\": \"5\" } }"),
        "\"Content-Length\"", 0, "managed by the data plane");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"headers\": { \"X-A\": \"1\",\n \"x-a\": \"2\" } }"),
        "\"x-a\"", 0, "duplicate header \"x-a\" (first at line");
}

/* Comments are stripped without moving lines or columns; '#' inside a
 * string is kept. */
static void
test_comments(void **state)
{
    const char *json =
        "# the site\n"
        "{ \"vhosts\": [ # every vhost\n"
        "  { \"name\": \"default\", # catch-all\n"
        "    \"mounts\": [ { \"mountpoint\": \"/\", \"origin\": "
        "\"file:///a#b\",\n"
        "      \"headers\": { \"X-Tag\": \"#1 # not a comment\" } } ] } ] }\n"
        "# trailing comment without newline at the end";
    struct tr_site *site = load_ok(json);
    const struct tr_site_mount *m = mount_at(site, 0, 0);
    assert_string_equal(m->origin.path, "/a#b");
    assert_string_equal(m->headers[0].value, "#1 # not a comment");
    assert_int_equal(m->line, 4);
    tr_site_free(site);

    /* an error after comments is placed exactly */
    expect_error_at("# c1\n# c2 \"with a quote\n{ # \xc3\xa9t\xc3\xa9\n"
                    "  \"vhosts\": 5 }",
                    "5", 0, "expected an array");
    /* columns count characters: the two-byte 'e' counts once */
    write_file("site.json", "{ \"vhosts\": [ { \"name\": \"\xc3\xa9x\" } ] }");
    char err[512];
    struct tr_site *s2 = NULL;
    assert_int_equal(tr_site_load(site_path, &s2, err, sizeof(err)), -EINVAL);
    check_error(err, site_path, 1, 25, "not a host name");
}

/* --- basic-auth --------------------------------------------------------- */

static void
expect_htpasswd_error(const char *content, unsigned line, unsigned col,
                      const char *fragment)
{
    write_file("bad.htpasswd", content);
    const char *json = one_vhost("{ \"mountpoint\": \"/\", \"origin\": "
                                 "\"file:///a\",\n  \"basic-auth\": "
                                 "\"bad.htpasswd\" }");
    write_file("site.json", json);
    char err[1024];
    struct tr_site *site = NULL;
    assert_int_equal(tr_site_load(site_path, &site, err, sizeof(err)), -EINVAL);
    char file[PATH_MAX + 32];
    snprintf(file, sizeof(file), "%s/bad.htpasswd", realdir);
    check_error(err, file, line, col, fragment);
    /* and it says where the site file names the htpasswd file */
    unsigned sl, sc;
    position_of(json, "\"bad.htpasswd\"", 0, &sl, &sc);
    char where[PATH_MAX + 64];
    snprintf(where, sizeof(where), "(basic-auth of %s:%u:%u)", site_path, sl,
             sc);
    if (strstr(err, where) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", err, where);
    /* the refused password is never echoed */
    assert_null(strstr(err, "hunter2"));
}

static void
test_htpasswd_refused(void **state)
{
    expect_htpasswd_error("alice:" HASH_2Y "\nbob:hunter2\n", 2, 5,
                          "user \"bob\": plain-text password refused");
    expect_htpasswd_error("# users\n\ncarol:abJnggxhB/yWI\n", 3, 7,
                          "legacy DES-crypt hash refused");
    expect_htpasswd_error("dave:$1$s10dV6QF$c.dvG.uoQfKolG/VvZ5GW/\n", 1, 6,
                          "legacy MD5-crypt ($1$)");
    expect_htpasswd_error("eve:$apr1$abc$defghijklmnopqrstuvwx/\n", 1, 5,
                          "legacy Apache MD5 ($apr1$)");
    expect_htpasswd_error("frank:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n", 1, 7,
                          "({SHA})");
    expect_htpasswd_error("gina:$2y$04$tooshort\n", 1, 6,
                          "malformed bcrypt hash");
    expect_htpasswd_error("hal:$6$salt$short\n", 1, 5,
                          "malformed sha-crypt hash");
    expect_htpasswd_error("ivy:$y$j9T$x\n", 1, 5, "malformed yescrypt hash");
    expect_htpasswd_error("joe:\n", 1, 5, "empty password hash");
    expect_htpasswd_error("kim:$7$CU..../....abc\n", 1, 5,
                          "unsupported hash method");
    expect_htpasswd_error("  no colon here\n", 1, 1, "expected user:hash");
    expect_htpasswd_error(":" HASH_2B "\n", 1, 1, "user name");
    expect_htpasswd_error("alice:" HASH_2B "\nalice:" HASH_6 "\n", 2, 1,
                          "duplicate user \"alice\"");
}

static void
test_htpasswd_file_errors(void **state)
{
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"basic-auth\": \"missing.htpasswd\" }"),
        "\"missing.htpasswd\"", 0, "No such file or directory");
    write_file("empty.htpasswd", "# nobody\n\n");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"basic-auth\": \"empty.htpasswd\" }"),
        "\"empty.htpasswd\"", 0, "has no users");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"basic-auth\": \".\" }"),
        "\".\"", 0, "Is a directory");
    expect_error_at(
        one_vhost("{ \"mountpoint\": \"/\", \"origin\": \"file:///a\","
                  " \"basic-auth\": \"\" }"),
        "\"\"", 0, "empty");
}

static void
test_passwords(void **state)
{
    write_file("users.htpasswd",
               "# test users; every password is \"" PASSWORD "\"\n"
               "bcrypt-b:" HASH_2B "\n"
               "bcrypt-y:" HASH_2Y "\r\n"
               "sha512:" HASH_6 "\n"
               "sha256:" HASH_5 "\n"
               "yescrypt:" HASH_Y "\n"
               "openssl:" HASH_6_OPENSSL);
    struct tr_site *site = load_ok(
        one_vhost("{ \"mountpoint\": \"/private\", \"origin\": \"file:///p\",\n"
                  "  \"basic-auth\": \"./users.htpasswd\" },\n"
                  "{ \"mountpoint\": \"/\", \"origin\": \"file:///o\" }"));
    const struct tr_site_mount *priv = mount_at(site, 0, 0);
    const struct tr_site_mount *open_mount = mount_at(site, 0, 1);
    static const char *const users[] = {"bcrypt-b", "bcrypt-y", "sha512",
                                        "sha256", "yescrypt"};
    for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
        if (tr_site_check_password(priv, users[i], PASSWORD) != 1)
            fail_msg("%s: right password refused", users[i]);
        assert_int_equal(tr_site_check_password(priv, users[i], "s3cret"), 0);
        assert_int_equal(tr_site_check_password(priv, users[i], ""), 0);
        assert_int_equal(tr_site_check_password(priv, users[i], PASSWORD "x"),
                         0);
    }
    assert_int_equal(tr_site_check_password(priv, "openssl", "secret"), 1);
    assert_int_equal(tr_site_check_password(priv, "openssl", PASSWORD), 0);
    /* unknown users, even with a password that fits another user */
    assert_int_equal(tr_site_check_password(priv, "mallory", PASSWORD), 0);
    assert_int_equal(tr_site_check_password(priv, "", PASSWORD), 0);
    assert_int_equal(tr_site_check_password(priv, "BCRYPT-B", PASSWORD), 0);
    assert_int_equal(tr_site_check_password(priv, NULL, PASSWORD), 0);
    assert_int_equal(tr_site_check_password(priv, "sha512", NULL), 0);
    /* a mount without basic-auth fails closed */
    assert_null(open_mount->basic_auth);
    assert_int_equal(tr_site_check_password(open_mount, "sha512", PASSWORD), 0);
    assert_int_equal(tr_site_check_password(NULL, "sha512", PASSWORD), 0);
    tr_site_free(site);
}

/* --- loading ------------------------------------------------------------ */

static void
test_load_errors(void **state)
{
    char err[512];
    struct tr_site *site = NULL;
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/does-not-exist.json", tmpdir);
    assert_int_equal(tr_site_load(path, &site, err, sizeof(err)), -ENOENT);
    assert_null(site);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "No such file"));

    assert_int_equal(tr_site_load(tmpdir, &site, err, sizeof(err)), -EISDIR);

    /* over the size limit */
    size_t big = TR_SITE_MAX_FILE_SIZE + 1;
    char *data = malloc(big + 1);
    assert_non_null(data);
    memset(data, ' ', big);
    data[big] = '\0';
    write_file("big.json", data);
    snprintf(path, sizeof(path), "%s/big.json", tmpdir);
    assert_int_equal(tr_site_load(path, &site, err, sizeof(err)), -EFBIG);
    assert_non_null(strstr(err, "limit"));
    assert_int_equal(
        tr_site_parse("mem", data, big, "/", &site, err, sizeof(err)), -EFBIG);
    free(data);

    /* a NULL error buffer is fine */
    assert_int_equal(tr_site_load(path, &site, NULL, 0), -EFBIG);
    /* a truncated message stays terminated */
    char tiny[8];
    assert_int_equal(tr_site_load(path, &site, tiny, sizeof(tiny)), -EFBIG);
    assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
    tr_site_free(NULL);
}

static void
test_parse_from_memory(void **state)
{
    const char json[] =
        "{ \"vhosts\": [ { \"name\": \"default\", \"mounts\": [\n"
        "  { \"mountpoint\": \"/\", \"origin\": \"file://./htdocs\" } ] } ] }";
    char err[512];
    struct tr_site *site = NULL;
    /* not NUL-terminated: the length rules */
    char *copy = malloc(sizeof(json) - 1);
    assert_non_null(copy);
    memcpy(copy, json, sizeof(json) - 1);
    assert_int_equal(tr_site_parse("mem.json", copy, sizeof(json) - 1,
                                   "/srv/site", &site, err, sizeof(err)),
                     0);
    free(copy);
    assert_string_equal(mount_at(site, 0, 0)->origin.path, "/srv/site/htdocs");
    tr_site_free(site);

    site = NULL;
    assert_int_equal(tr_site_parse("mem.json", json, sizeof(json) - 1, NULL,
                                   &site, err, sizeof(err)),
                     -EINVAL);
    assert_null(site);
    assert_int_equal(strncmp(err, "mem.json:2:", 11), 0);
    assert_non_null(strstr(err, "no base directory"));
    assert_int_equal(tr_site_parse("mem.json", json, sizeof(json) - 1,
                                   "relative", &site, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(tr_site_parse("mem.json", "{ \"vhosts\": [ x ] }", 19, "/",
                                   &site, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(strncmp(err, "mem.json:1:", 11), 0);
}

static void
test_relative_paths(void **state)
{
    char sub[PATH_MAX + 16];
    snprintf(sub, sizeof(sub), "%s/conf", tmpdir);
    assert_true(mkdir(sub, 0700) == 0 || errno == EEXIST);
    write_file(
        "conf/site.json",
        "{ \"vhosts\": [ { \"name\": \"default\", \"mounts\": [\n"
        "  { \"mountpoint\": \"/\", \"origin\": \"file://./htdocs\",\n"
        "    \"basic-auth\": \"../users\" },\n"
        "  { \"mountpoint\": \"/up\", \"origin\": \"file://../htdocs\" },\n"
        "  { \"mountpoint\": \"/dot\", \"origin\": \"cgi://.\" },\n"
        "  { \"mountpoint\": \"/f\", \"origin\": \"fastcgi://./bin/app\" }\n"
        "] } ] }\n");
    write_file("users", "u:" HASH_2B "\n");
    char path[PATH_MAX + 32], expect[PATH_MAX + 64], err[512];
    snprintf(path, sizeof(path), "%s/conf/site.json", tmpdir);
    struct tr_site *site = NULL;
    int rc = tr_site_load(path, &site, err, sizeof(err));
    if (rc != 0)
        fail_msg("%s", err);
    snprintf(expect, sizeof(expect), "%s/conf/htdocs", realdir);
    assert_string_equal(mount_at(site, 0, 0)->origin.path, expect);
    snprintf(expect, sizeof(expect), "%s/users", realdir);
    assert_string_equal(mount_at(site, 0, 0)->basic_auth, expect);
    snprintf(expect, sizeof(expect), "%s/htdocs", realdir);
    assert_string_equal(mount_at(site, 0, 1)->origin.path, expect);
    snprintf(expect, sizeof(expect), "%s/conf", realdir);
    assert_string_equal(mount_at(site, 0, 2)->origin.path, expect);
    snprintf(expect, sizeof(expect), "%s/conf/bin/app", realdir);
    assert_string_equal(mount_at(site, 0, 3)->origin.path, expect);
    assert_int_equal(
        tr_site_check_password(&mount_at(site, 0, 0)[0], "u", PASSWORD), 1);
    tr_site_free(site);

    /* through a symbolic link to the directory: resolved against the
     * real directory */
    char link[PATH_MAX + 16];
    snprintf(link, sizeof(link), "%s/link", tmpdir);
    assert_int_equal(symlink("conf", link), 0);
    snprintf(path, sizeof(path), "%s/link/site.json", tmpdir);
    rc = tr_site_load(path, &site, err, sizeof(err));
    if (rc != 0)
        fail_msg("%s", err);
    snprintf(expect, sizeof(expect), "%s/conf/htdocs", realdir);
    assert_string_equal(mount_at(site, 0, 0)->origin.path, expect);
    tr_site_free(site);
}

/* The source tree's root, found from __FILE__: meson compiles with a path
 * relative to the build directory, which is two levels above this
 * program (build/tests/translator_test_tr_site). */
static void
source_root(char *out, size_t size)
{
    const char *file = __FILE__;
    char base[PATH_MAX] = "";
    if (file[0] != '/') {
        ssize_t n = readlink("/proc/self/exe", base, sizeof(base) - 1);
        assert_true(n > 0);
        base[n] = '\0';
        for (int i = 0; i < 2; i++)
            *strrchr(base, '/') = '\0';
    }
    snprintf(out, size, "%s%s%s", base, base[0] != '\0' ? "/" : "", file);
    char *cut = strstr(out, "/tests/unit/translator/");
    assert_non_null(cut);
    *cut = '\0';
}

/* The example site shipped in examples/site/ loads and serves its files. */
static void
test_example_site(void **state)
{
    char root[PATH_MAX], path[PATH_MAX + 32], err[512];
    source_root(root, sizeof(root));
    snprintf(path, sizeof(path), "%s/examples/site/site.json", root);
    struct tr_site *site = NULL;
    if (tr_site_load(path, &site, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    char buf[256];
    struct tr_site_match m;
    assert_int_equal(tr_site_lookup(site, "localhost:8080", NULL, "/", 1, buf,
                                    sizeof(buf), &m),
                     TR_SITE_OK);
    assert_int_equal(m.mount->origin.kind, TR_SITE_ORIGIN_FILE);
    assert_string_equal(m.mount->default_doc, "index.html");
    char file[PATH_MAX + 64];
    snprintf(file, sizeof(file), "%s/index.html", m.mount->origin.path);
    assert_int_equal(access(file, R_OK), 0);
    assert_string_equal(tr_site_content_type(m.mount, "css"), "text/css");
    tr_site_free(site);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_origin_kind),
        cmocka_unit_test(test_every_redirect_status),
        cmocka_unit_test(test_longest_prefix_on_segments),
        cmocka_unit_test(test_no_mount),
        cmocka_unit_test(test_host_matching),
        cmocka_unit_test(test_default_vhost),
        cmocka_unit_test(test_every_option),
        cmocka_unit_test(test_builtin_types),
        cmocka_unit_test(test_path_suffix),
        cmocka_unit_test(test_traversal_refused),
        cmocka_unit_test(test_safe_paths_normalised),
        cmocka_unit_test(test_path_too_long),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_structure_errors),
        cmocka_unit_test(test_vhost_errors),
        cmocka_unit_test(test_mount_errors),
        cmocka_unit_test(test_redirect_status_errors),
        cmocka_unit_test(test_origin_errors),
        cmocka_unit_test(test_header_errors),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_htpasswd_refused),
        cmocka_unit_test(test_htpasswd_file_errors),
        cmocka_unit_test(test_passwords),
        cmocka_unit_test(test_load_errors),
        cmocka_unit_test(test_parse_from_memory),
        cmocka_unit_test(test_relative_paths),
        cmocka_unit_test(test_example_site),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
