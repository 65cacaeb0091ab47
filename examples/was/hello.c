/*
 * examples/was/hello: the smallest WAS application.  Answers every
 * request with "Hello, world!" as text/plain (docs/was.md).
 */
#include "was_app.h"

#include <stdio.h>

int
main(void)
{
    struct was_app *app = was_app_new();
    if (app == NULL)
        return 1;
    int r;
    while ((r = was_app_accept(app)) > 0) {
        if (was_app_set_header(app, "content-type", "text/plain") != 0 ||
            was_app_puts(app, "Hello, world!\n") != 0 ||
            was_app_end(app) != 0)
            fprintf(stderr, "was-hello: %s\n", was_app_error(app));
    }
    if (r < 0)
        fprintf(stderr, "was-hello: %s\n", was_app_error(app));
    was_app_free(app);
    return r < 0 ? 1 : 0;
}
