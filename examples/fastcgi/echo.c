/*
 * fcgi-echo: a FastCGI responder (libfcgi) that answers with the request
 * body, byte for byte, while it reads it (64 KiB at a time, so a large
 * body streams through both ways in bounded memory).  Content-Type is
 * the request's (application/octet-stream without one); with a known
 * CONTENT_LENGTH the answer has Content-Length too, otherwise its length
 * is left to the web server (chunked).  Listener on fd 0, as fcgi-hello.
 */
#include <fcgiapp.h>

#include <stdlib.h>

int
main(void)
{
    static char buf[65536];
    FCGX_Stream *in, *out, *err;
    FCGX_ParamArray envp;
    while (FCGX_Accept(&in, &out, &err, &envp) >= 0) {
        const char *type = FCGX_GetParam("CONTENT_TYPE", envp);
        const char *length = FCGX_GetParam("CONTENT_LENGTH", envp);
        FCGX_FPrintF(out, "Status: 200 OK\r\nContent-Type: %s\r\n",
                     type != NULL && *type != '\0'
                         ? type : "application/octet-stream");
        if (length != NULL && *length != '\0')
            FCGX_FPrintF(out, "Content-Length: %s\r\n", length);
        FCGX_FPrintF(out, "\r\n");
        int n;
        while ((n = FCGX_GetStr(buf, (int)sizeof(buf), in)) > 0)
            if (FCGX_PutStr(buf, n, out) != n)
                break;
    }
    return 0;
}
