/*
 * echo: answers with the request body (stdin) as
 * application/octet-stream, streamed: it copies while it reads, so a
 * large body passes in bounded memory.  With QUERY_STRING "length" it
 * sends a Content-Length taken from CONTENT_LENGTH first.  With
 * QUERY_STRING "gen=N" it ignores stdin and sends N bytes of a pattern
 * (a download test).  Writes "echo: N bytes" to stderr at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int
write_all(const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(1, p, n);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int
main(void)
{
    const char *q = getenv("QUERY_STRING");
    const char *len = getenv("CONTENT_LENGTH");
    char head[128];
    static char buf[65536];
    unsigned long long total = 0;
    if (q != NULL && strncmp(q, "gen=", 4) == 0) {
        unsigned long long n = strtoull(q + 4, NULL, 10);
        snprintf(head, sizeof(head), "Content-Type: application/"
                 "octet-stream\nContent-Length: %llu\n\n", n);
        if (write_all(head, strlen(head)) != 0)
            return 1;
        /* byte i of the body is 'a' + i % 26: chunks of a multiple
         * of 26 bytes keep the pattern aligned */
        const size_t chunk = sizeof(buf) / 26 * 26;
        for (size_t i = 0; i < chunk; i++)
            buf[i] = (char)('a' + i % 26);
        while (total < n) {
            size_t k = n - total < chunk ? (size_t)(n - total) : chunk;
            if (write_all(buf, k) != 0)
                return 1;
            total += k;
        }
        fprintf(stderr, "echo: %llu bytes\n", total);
        return 0;
    }
    if (q != NULL && strcmp(q, "length") == 0 && len != NULL)
        snprintf(head, sizeof(head), "Content-Type: application/"
                 "octet-stream\nContent-Length: %s\n\n", len);
    else
        snprintf(head, sizeof(head),
                 "Content-Type: application/octet-stream\n\n");
    if (write_all(head, strlen(head)) != 0)
        return 1;
    for (;;) {
        ssize_t n = read(0, buf, sizeof(buf));
        if (n < 0)
            return 1;
        if (n == 0)
            break;
        if (write_all(buf, (size_t)n) != 0)
            return 1;
        total += (unsigned long long)n;
    }
    fprintf(stderr, "echo: %llu bytes\n", total);
    return 0;
}
