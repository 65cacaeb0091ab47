/*
 * slow: a program that hangs.  QUERY_STRING "head" sends the response
 * head and one line first, then hangs; otherwise it hangs before any
 * output.  It writes its pid to stderr ("slow: pid N") so that tests can
 * check it was killed.  Hanging means sleeping for an hour.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(void)
{
    const char *q = getenv("QUERY_STRING");
    fprintf(stderr, "slow: pid %d\n", (int)getpid());
    if (q != NULL && strcmp(q, "head") == 0) {
        fputs("Content-Type: text/plain\n\nfirst line\n", stdout);
        fflush(stdout);
    }
    sleep(3600);
    return 0;
}
