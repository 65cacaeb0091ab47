/*
 * hello: the smallest CGI program (RFC 3875): a text/plain greeting.
 * Used by the integration tests and the CGI benchmark.
 */
#include <stdio.h>

int
main(void)
{
    fputs("Content-Type: text/plain\n\nHello, world!\n", stdout);
    return 0;
}
