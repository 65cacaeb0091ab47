/*
 * examples/was/echo: sends the request body back, piece by piece as it
 * arrives, with the request's Content-Type.  The length is announced when
 * the container announced the request's; otherwise it follows at the end.
 * A request without body gets 204.  A request body the container aborts
 * makes the response end with PREMATURE (docs/was.md).
 */
#include "was_app.h"

#include <stdbool.h>
#include <stdio.h>

static int
echo(struct was_app *app)
{
    if (!was_app_has_body(app))
        return was_app_status(app, 204);
    const char *type = was_app_header(app, "content-type");
    if (was_app_set_header(app, "content-type",
                           type != NULL ? type
                                        : "application/octet-stream") != 0)
        return -1;
    static char buf[65536];
    bool announced = false;
    for (;;) {
        int64_t length = was_app_input_length(app);
        if (length >= 0 && !announced) {
            announced = true;
            if (was_app_set_length(app, (uint64_t)length) != 0)
                return -1;
        }
        ssize_t n = was_app_read(app, buf, sizeof(buf));
        if (n < 0)
            return -1;
        if (n == 0)
            return was_app_output_begin(app);
        if (was_app_write(app, buf, (size_t)n) != 0)
            return -1;
    }
}

int
main(void)
{
    struct was_app *app = was_app_new();
    if (app == NULL)
        return 1;
    int r;
    while ((r = was_app_accept(app)) > 0) {
        if (echo(app) != 0) {
            if (!was_app_stopped(app))
                fprintf(stderr, "was-echo: %s\n", was_app_error(app));
            was_app_abort(app);
        } else if (was_app_end(app) != 0) {
            fprintf(stderr, "was-echo: %s\n", was_app_error(app));
        }
    }
    if (r < 0)
        fprintf(stderr, "was-echo: %s\n", was_app_error(app));
    was_app_free(app);
    return r < 0 ? 1 : 0;
}
