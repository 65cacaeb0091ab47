/*
 * upper: a PIPE filter (spec §6.5): copies stdin to stdout with ASCII
 * letters upper-cased, streaming.  An argument "--prefix=X" writes X
 * first.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
    static char buf[65536];
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "--prefix=", 9) == 0 &&
            write(1, argv[i] + 9, strlen(argv[i] + 9)) < 0)
            return 1;
    for (;;) {
        ssize_t n = read(0, buf, sizeof(buf));
        if (n <= 0)
            return n < 0;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] >= 'a' && buf[i] <= 'z')
                buf[i] = (char)(buf[i] - 'a' + 'A');
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(1, buf + off, (size_t)(n - off));
            if (w <= 0)
                return 1;
            off += w;
        }
    }
}
