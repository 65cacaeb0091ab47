/*
 * hello: the smallest useful translation server written with
 * libportier-translator (docs/translator-sdk.md).
 *
 *   hello [SOCKET]        SOCKET is "@name" (abstract, the default
 *                         "@portier-hello") or "/path/to/socket"
 *
 * Point the data plane's translation socket at it.  It answers
 *   /            "Hello, world!" (cacheable for a minute)
 *   /hello/NAME  "Hello, NAME!"
 *   /old         a 301 redirect to /
 * and everything else with 404.  Build:
 *   cc hello.c $(pkg-config --cflags --libs libportier-translator)
 */
#include <tr_server.h>

#include <stdio.h>
#include <string.h>

/* Called once per request from the data plane.  `req` holds every
 * packet of the request; text fields are NUL-terminated, and a field the
 * data plane did not send has data == NULL. */
static void
handle(struct tr_request_ctx *ctx, const struct tp_request *req,
       void *userdata)
{
    (void)userdata;
    /* A builder for this request: it starts with BEGIN (version 3) and
     * checks every packet with the data plane's own parser. */
    struct tr_response *r = tr_request_ctx_response(ctx);
    const char *uri = (const char *)req->uri.data;

    if (uri == NULL) {
        /* not an HTTP request (e.g. a sub-request hello never asks for) */
        tr_response_status(r, 400);
    } else if (strcmp(uri, "/") == 0) {
        tr_response_message(r, "Hello, world!\n");
        tr_response_max_age(r, 60);     /* the data plane may reuse it */
    } else if (strncmp(uri, "/hello/", 7) == 0) {
        char text[128];
        snprintf(text, sizeof(text), "Hello, %s!\n", uri + 7);
        /* MESSAGE must be printable ASCII: the builder refuses anything
         * else with a clear error, which we turn into a 400. */
        if (tr_response_message(r, text) < 0) {
            fprintf(stderr, "hello: %s\n", tr_response_error(r));
            tr_response_free(r);
            r = tr_request_ctx_response(ctx);
            tr_response_status(r, 400);
        }
    } else if (strcmp(uri, "/old") == 0) {
        tr_response_status(r, 301);
        tr_response_redirect(r, "/");
    } else {
        tr_response_status(r, 404);
        tr_response_message(r, "Not found\n");
    }

    /* Send it (this adds END).  A server on a libuv loop may also keep
     * `ctx` and answer later, from another callback. */
    tr_request_ctx_reply(ctx, r);
}

int
main(int argc, char **argv)
{
    const char *address = argc > 1 ? argv[1] : "@portier-hello";
    /* Runs its own loop until SIGINT or SIGTERM. */
    int rc = tr_server_run(address, handle, NULL);
    if (rc < 0) {
        fprintf(stderr, "hello: cannot listen on %s: %s\n", address,
                strerror(-rc));
        return 1;
    }
    return 0;
}
