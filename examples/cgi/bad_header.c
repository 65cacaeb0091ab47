/*
 * bad_header: a program whose response head is malformed (a header line
 * without a colon), or, with QUERY_STRING "nohead", output that ends
 * before the head does, or with "redirect" a local redirect to
 * /cgi/hello (Location without Status), with "loop" a local redirect to
 * itself, or with "location" a client redirect.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main(void)
{
    const char *q = getenv("QUERY_STRING");
    if (q != NULL && strcmp(q, "nohead") == 0)
        fputs("Content-Type: text/plain\n", stdout);
    else if (q != NULL && strcmp(q, "redirect") == 0)
        fputs("Location: /cgi/hello?from=redirect\n\n", stdout);
    else if (q != NULL && strcmp(q, "loop") == 0)
        fputs("Location: /cgi/bad_header?loop\n\n", stdout);
    else if (q != NULL && strcmp(q, "location") == 0)
        fputs("Location: http://example.com/elsewhere\n\n", stdout);
    else
        fputs("Content-Type: text/plain\nthis is not a header\n\nbody\n",
              stdout);
    return 0;
}
