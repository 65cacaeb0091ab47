/*
 * was-test-app: a WAS application for the tests (tests/was/test_was_app.py
 * and integration/test_was.py), on the was_app library.  The URI path
 * picks the behaviour:
 *   /info         text: pid, method, uri, script_name, path_info, query,
 *                 remote_host, document_root, tls, headers, parameters
 *   /abort-early  was_app_abort() before the head (500)
 *   /abort-mid    1000 body bytes, then was_app_abort() (PREMATURE 1000)
 *   /crash        exit(3) without an answer
 *   /crash-mid    100 body bytes, then exit(3)
 *   /abort-big    LENGTH 2N, N bytes ('a' + i % 26, N from the query),
 *                 then was_app_abort() (PREMATURE N)
 *   /crash-big    LENGTH 2N, N bytes, then exit(3)
 *   /hang         never answers
 *   /ignore-body  answers "ignored\n" without reading the request body
 *   /slow         sleeps `query` milliseconds, then answers its pid
 *   /status       answers the status in the query without body
 *   /cacheable    Cache-Control: max-age=60 (no-store with the query
 *                 "nostore"), answers "pid/count" (requests so far)
 *   /etag         ETag "e1" and Cache-Control: no-cache; 304 when the
 *                 request's If-None-Match is "e1", else "pid/count" (the
 *                 200 answers of /etag so far)
 * anything else   its pid
 */
#include "was_app.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int
info(struct was_app *app)
{
    const char *s;
    was_app_set_header(app, "content-type", "text/plain");
    was_app_printf(app, "pid=%d\nmethod=%s\nuri=%s\n", (int)getpid(),
                   was_method_name(was_app_method(app)), was_app_uri(app));
#define FIELD(name)                                                       \
    if ((s = was_app_##name(app)) != NULL)                                \
        was_app_printf(app, #name "=%s\n", s);
    FIELD(script_name)
    FIELD(path_info)
    FIELD(query_string)
    FIELD(remote_host)
    FIELD(document_root)
#undef FIELD
    if (was_app_is_tls(app))
        was_app_puts(app, "tls\n");
    for (size_t i = 0; i < was_app_header_count(app); i++) {
        const char *n, *v;
        was_app_header_at(app, i, &n, &v);
        was_app_printf(app, "header %s=%s\n", n, v);
    }
    if ((s = was_app_parameter(app, "FOO")) != NULL)
        was_app_printf(app, "parameter FOO=%s\n", s);
    return 0;
}

/* path is `name` or starts with `name` + '/'. */
static bool
is(const char *path, const char *name)
{
    size_t n = strlen(name);
    return strncmp(path, name, n) == 0 &&
           (path[n] == '\0' || path[n] == '/');
}

static int
serve(struct was_app *app)
{
    const char *uri = was_app_uri(app);
    const char *q = was_app_query_string(app);
    size_t n = strcspn(uri, "?");
    char path[256];
    snprintf(path, sizeof(path), "%.*s", (int)n, uri);
    if (is(path, "/info"))
        return info(app);
    if (is(path, "/abort-early")) {
        was_app_set_header(app, "x-dropped", "yes");
        return was_app_abort(app);
    }
    if (is(path, "/abort-mid")) {
        char buf[1000];
        memset(buf, 'x', sizeof(buf));
        was_app_set_length(app, 5000);
        was_app_write(app, buf, sizeof(buf));
        return was_app_abort(app);
    }
    if (is(path, "/abort-big") || is(path, "/crash-big")) {
        unsigned long long size = strtoull(q != NULL ? q : "0", NULL, 10);
        static char buf[65536 + 26];
        for (size_t i = 0; i < sizeof(buf); i++)
            buf[i] = (char)('a' + i % 26);
        was_app_set_length(app, 2 * size);
        for (unsigned long long off = 0; off < size;) {
            size_t k = size - off < 65536 ? (size_t)(size - off) : 65536;
            if (was_app_write(app, buf + off % 26, k) != 0)
                return -1;
            off += k;
        }
        if (is(path, "/abort-big"))
            return was_app_abort(app);
        fprintf(stderr, "was-test-app: crashing as asked\n");
        exit(3);
    }
    if (is(path, "/crash")) {
        fprintf(stderr, "was-test-app: crashing as asked\n");
        exit(3);
    }
    if (is(path, "/crash-mid")) {
        char buf[100];
        memset(buf, 'c', sizeof(buf));
        was_app_write(app, buf, sizeof(buf));
        fprintf(stderr, "was-test-app: crashing as asked\n");
        exit(3);
    }
    if (is(path, "/hang")) {
        for (;;)
            pause();
    }
    if (is(path, "/ignore-body"))
        return was_app_puts(app, "ignored\n");
    if (is(path, "/slow") && q != NULL) {
        long ms = strtol(q, NULL, 10);
        struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
    if (is(path, "/cacheable")) {
        static unsigned count;
        count++;
        was_app_set_header(app, "cache-control",
                           q != NULL && strcmp(q, "nostore") == 0
                               ? "no-store"
                               : "max-age=60");
        return was_app_printf(app, "%d/%u\n", (int)getpid(), count);
    }
    if (is(path, "/etag")) {
        static unsigned count;
        const char *inm = was_app_header(app, "if-none-match");
        if (inm != NULL && strcmp(inm, "\"e1\"") == 0) {
            if (was_app_status(app, 304) != 0)
                return -1;
            return was_app_set_header(app, "etag", "\"e1\"");
        }
        count++;
        was_app_set_header(app, "etag", "\"e1\"");
        was_app_set_header(app, "cache-control", "no-cache");
        return was_app_printf(app, "%d/%u\n", (int)getpid(), count);
    }
    if (is(path, "/status") && q != NULL)
        return was_app_status(app, (unsigned)strtoul(q, NULL, 10));
    return was_app_printf(app, "%d\n", (int)getpid());
}

int
main(void)
{
    struct was_app *app = was_app_new();
    if (app == NULL)
        return 1;
    int r;
    while ((r = was_app_accept(app)) > 0) {
        if (serve(app) != 0 && !was_app_stopped(app))
            fprintf(stderr, "was-test-app: %s\n", was_app_error(app));
        if (was_app_end(app) != 0)
            fprintf(stderr, "was-test-app: %s\n", was_app_error(app));
    }
    if (r < 0)
        fprintf(stderr, "was-test-app: %s\n", was_app_error(app));
    was_app_free(app);
    return r < 0 ? 1 : 0;
}
