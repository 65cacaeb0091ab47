/*
 * dp_log: a log line in one write (see dp_log.h).
 */
#include "dp_log.h"

#include <stdarg.h>
#include <stdio.h>

void
dp_log_line(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof(buf) - 2)
        n = (int)sizeof(buf) - 2;
    buf[n++] = '\n';
    fwrite(buf, 1, (size_t)n, stderr);
}
