/*
 * examples/was/stream: a large body written in pieces.  The query string
 * says how much: "size=N" bytes (default 1 MiB) in pieces of "piece=N"
 * bytes (default 16 KiB).  Byte i of the body is 'a' + i % 26, so a
 * client can check every byte.  With "length=1" the length is announced
 * first; otherwise it follows at the end.  A STOP from the container ends
 * the body early (docs/was.md).
 */
#include "was_app.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The number after "name=" in the query string, or def. */
static unsigned long long
query_number(const char *query, const char *name, unsigned long long def)
{
    size_t n = strlen(name);
    for (const char *p = query; p != NULL && *p != '\0';) {
        if (strncmp(p, name, n) == 0 && p[n] == '=')
            return strtoull(p + n + 1, NULL, 10);
        p = strchr(p, '&');
        if (p != NULL)
            p++;
    }
    return def;
}

static int
stream(struct was_app *app)
{
    const char *q = was_app_query_string(app);
    unsigned long long size = query_number(q, "size", 1 << 20);
    unsigned long long piece = query_number(q, "piece", 16384);
    if (piece == 0 || piece > 1 << 20)
        piece = 16384;
    if (was_app_set_header(app, "content-type", "text/plain") != 0)
        return -1;
    if (query_number(q, "length", 0) != 0 &&
        was_app_set_length(app, size) != 0)
        return -1;
    /* the pattern once, 26 bytes longer than a piece: a piece starting
     * at any offset is a slice of it */
    char *buf = malloc(piece + 26);
    if (buf == NULL)
        return -1;
    for (size_t i = 0; i < piece + 26; i++)
        buf[i] = (char)('a' + i % 26);
    /* the first write starts the body (its first bytes go into the
     * pipe before the head: was_app.h); an empty body starts here */
    int rc = size == 0 ? was_app_output_begin(app) : 0;
    for (unsigned long long off = 0; rc == 0 && off < size;) {
        size_t n = size - off < piece ? (size_t)(size - off) : piece;
        rc = was_app_write(app, buf + off % 26, n);
        off += n;
    }
    free(buf);
    return rc;
}

int
main(void)
{
    struct was_app *app = was_app_new();
    if (app == NULL)
        return 1;
    int r;
    while ((r = was_app_accept(app)) > 0) {
        if (stream(app) != 0 && !was_app_stopped(app)) {
            fprintf(stderr, "was-stream: %s\n", was_app_error(app));
            was_app_abort(app);
        } else if (was_app_end(app) != 0) {
            fprintf(stderr, "was-stream: %s\n", was_app_error(app));
        }
    }
    if (r < 0)
        fprintf(stderr, "was-stream: %s\n", was_app_error(app));
    was_app_free(app);
    return r < 0 ? 1 : 0;
}
