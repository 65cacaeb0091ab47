/*
 * env: prints its environment (one NAME=VALUE per line, in the order
 * received), its arguments ("argv[N]=...") and ids ("uid=N gid=N"), as
 * text/plain.  The
 * integration tests check the CGI meta-variables with it.
 */
#include <stdio.h>
#include <unistd.h>

extern char **environ;

int
main(int argc, char **argv)
{
    fputs("Content-Type: text/plain\n\n", stdout);
    for (int i = 0; i < argc; i++)
        printf("argv[%d]=%s\n", i, argv[i]);
    printf("uid=%u gid=%u\n", (unsigned)getuid(), (unsigned)getgid());
    for (char **e = environ; *e != NULL; e++)
        printf("%s\n", *e);
    return 0;
}
