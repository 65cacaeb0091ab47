/*
 * fcgi-slow: a FastCGI responder (libfcgi) that waits before it answers:
 * QUERY_STRING is the number of seconds (default 30), then "slept N\n".
 * It stands for a hung application in the timeout tests.  Listener on
 * fd 0, as fcgi-hello.
 */
#include <fcgiapp.h>

#include <stdlib.h>
#include <unistd.h>

int
main(void)
{
    FCGX_Stream *in, *out, *err;
    FCGX_ParamArray envp;
    while (FCGX_Accept(&in, &out, &err, &envp) >= 0) {
        const char *query = FCGX_GetParam("QUERY_STRING", envp);
        unsigned seconds = 30;
        if (query != NULL && *query != '\0')
            seconds = (unsigned)strtoul(query, NULL, 10);
        sleep(seconds);
        FCGX_FPrintF(out, "Content-Type: text/plain\r\n\r\nslept %u\n",
                     seconds);
    }
    return 0;
}
