/*
 * fcgi-crash: a FastCGI responder (libfcgi) that dies in the middle of a
 * request, for the crash tests.  QUERY_STRING says when:
 *   "early" (default)  killed (SIGKILL) before writing anything
 *   "late"             sends the head and 100 bytes of body, flushes,
 *                      then is killed
 *   "ok"               answers normally ("alive <pid>\n")
 * Listener on fd 0, as fcgi-hello.
 */
#include <fcgiapp.h>

#include <signal.h>
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
        if (strcmp(query, "ok") == 0) {
            FCGX_FPrintF(out, "Content-Type: text/plain\r\n\r\nalive %ld\n",
                         (long)getpid());
            continue;
        }
        if (strcmp(query, "late") == 0) {
            FCGX_FPrintF(out, "Content-Type: text/plain\r\n"
                         "Content-Length: 1000\r\n\r\n");
            for (int i = 0; i < 100; i++)
                FCGX_PutChar('x', out);
            FCGX_FFlush(out);
            sleep(1);   /* let the head reach the client first */
        }
        kill(getpid(), SIGKILL);
    }
    return 0;
}
