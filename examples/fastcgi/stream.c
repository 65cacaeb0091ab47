/*
 * fcgi-stream: a FastCGI responder (libfcgi) that answers with a large
 * body, the counterpart of examples/was/stream.c for the benchmark of
 * WAS against FastCGI (integration/bench/apps.py).  The query string
 * says how much: "size=N" bytes (default 1 MiB), written 16 KiB at a
 * time, with a Content-Length.  Byte i of the body is 'a' + i % 26, so
 * a client can check every byte.  Listener on fd 0, as fcgi-hello.
 */
#include <fcgiapp.h>

#include <stdlib.h>
#include <string.h>

/* The number after "size=" in the query string, or def. */
static unsigned long long
query_size(const char *query, unsigned long long def)
{
    for (const char *p = query; p != NULL && *p != '\0';) {
        if (strncmp(p, "size=", 5) == 0)
            return strtoull(p + 5, NULL, 10);
        p = strchr(p, '&');
        if (p != NULL)
            p++;
    }
    return def;
}

int
main(void)
{
    static char piece[16384 + 26];
    for (size_t i = 0; i < sizeof(piece); i++)
        piece[i] = (char)('a' + i % 26);
    FCGX_Stream *in, *out, *err;
    FCGX_ParamArray envp;
    while (FCGX_Accept(&in, &out, &err, &envp) >= 0) {
        unsigned long long size =
            query_size(FCGX_GetParam("QUERY_STRING", envp), 1 << 20);
        FCGX_FPrintF(out, "Content-Type: text/plain\r\n"
                     "Content-Length: %llu\r\n\r\n", size);
        unsigned long long done = 0;
        while (done < size) {
            size_t n = size - done < 16384 ? (size_t)(size - done) : 16384;
            /* start the piece at the right letter of the pattern */
            if (FCGX_PutStr(piece + done % 26, (int)n, out) != (int)n)
                break;
            done += n;
        }
    }
    return 0;
}
