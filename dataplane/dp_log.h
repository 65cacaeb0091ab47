/*
 * dp_log: one log line of portierd's connection-level code (the HTTP
 * server, the FastCGI client) to standard error.
 *
 * Promises:
 * - dp_log_line() formats with printf rules, appends '\n' and writes the
 *   line with one fwrite() to the unbuffered stderr, so that the lines of
 *   the workers sharing that descriptor do not mix.
 * - A line longer than 1022 bytes is cut there (the newline is always
 *   written); a format error writes nothing.
 */
#ifndef PORTIER_DP_LOG_H
#define PORTIER_DP_LOG_H

/** Write one formatted line (see above). */
void
dp_log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
