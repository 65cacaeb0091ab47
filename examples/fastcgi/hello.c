/*
 * fcgi-hello: a FastCGI responder linked with libfcgi.  It accepts on
 * the listener socket it inherits on fd 0 (how portierd spawns FastCGI
 * applications, spec/protocols.md §6.2; a separately started server gets
 * the socket the same way, see integration/test_fastcgi.py).
 *
 *   /...             "Hello, world!\n" (text/plain)
 *   /...?params      every FastCGI parameter, one "NAME=VALUE" line each,
 *                    in the order received
 *   /...?stderr      "Hello, world!\n", plus one line on the FastCGI
 *                    STDERR stream
 *   /...?pid         the process id (tells processes of a pool apart)
 *   /...?cacheable   Cache-Control: max-age=60 and "pid/count" (the
 *                    requests this process answered so far)
 *   /...?etag        ETag "e1" and Cache-Control: no-cache; 304 when
 *                    If-None-Match is "e1", else "pid/count" (the 200
 *                    answers of ?etag so far)
 *   /...?size=N      N bytes, byte i being 'a' + i % 26, with
 *                    Content-Length (integration/bench/apps.py)
 */
#include <fcgiapp.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
main(void)
{
    FCGX_Stream *in, *out, *err;
    FCGX_ParamArray envp;
    while (FCGX_Accept(&in, &out, &err, &envp) >= 0) {
        const char *query = FCGX_GetParam("QUERY_STRING", envp);
        if (query == NULL)
            query = "";
        if (strcmp(query, "params") == 0) {
            FCGX_FPrintF(out, "Content-Type: text/plain\r\n\r\n");
            for (char **p = envp; *p != NULL; p++)
                FCGX_FPrintF(out, "%s\n", *p);
        } else if (strcmp(query, "cacheable") == 0) {
            static unsigned count;
            count++;
            FCGX_FPrintF(out, "Content-Type: text/plain\r\n"
                         "Cache-Control: max-age=60\r\n\r\n%ld/%u\n",
                         (long)getpid(), count);
        } else if (strcmp(query, "etag") == 0) {
            static unsigned count;
            const char *inm = FCGX_GetParam("HTTP_IF_NONE_MATCH", envp);
            if (inm != NULL && strcmp(inm, "\"e1\"") == 0) {
                FCGX_FPrintF(out, "Status: 304 Not Modified\r\n"
                             "ETag: \"e1\"\r\n\r\n");
            } else {
                count++;
                FCGX_FPrintF(out, "Content-Type: text/plain\r\n"
                             "ETag: \"e1\"\r\n"
                             "Cache-Control: no-cache\r\n\r\n%ld/%u\n",
                             (long)getpid(), count);
            }
        } else if (strncmp(query, "size=", 5) == 0) {
            static char buf[65536 + 26];
            if (buf[0] == '\0')
                for (size_t i = 0; i < sizeof(buf); i++)
                    buf[i] = (char)('a' + i % 26);
            unsigned long long size = strtoull(query + 5, NULL, 10);
            FCGX_FPrintF(out, "Content-Type: text/plain\r\n"
                         "Content-Length: %llu\r\n\r\n", size);
            for (unsigned long long off = 0; off < size;) {
                int n = size - off < 65536 ? (int)(size - off) : 65536;
                if (FCGX_PutStr(buf + off % 26, n, out) != n)
                    break;
                off += (unsigned long long)n;
            }
        } else if (strcmp(query, "pid") == 0) {
            FCGX_FPrintF(out, "Content-Type: text/plain\r\n\r\n%ld\n",
                         (long)getpid());
        } else {
            if (strcmp(query, "stderr") == 0)
                FCGX_FPrintF(err, "fcgi-hello: a line on STDERR\n");
            FCGX_FPrintF(out, "Content-Type: text/plain\r\n\r\n"
                         "Hello, world!\n");
        }
    }
    return 0;
}
