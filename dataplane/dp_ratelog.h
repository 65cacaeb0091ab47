/*
 * dp_ratelog: the log limiters of the control servers (dp_control for
 * one process, dp_relay for the master), so that a flood of bad datagrams
 * cannot flood the log.
 *
 * Promises:
 * - struct dp_ratelog lets at most one line through per
 *   DP_RATELOG_INTERVAL_MS and counts the lines it holds back; the next
 *   line let through says how many ("(N similar lines suppressed)").
 * - struct dp_ratelog_once lets a line through once per command number
 *   (0 to 65535), ending in "(logged once)".
 * - A zeroed struct (calloc, memset) is a fresh limiter.
 * - Lines are written whole to the given stream, each starting with
 *   "portierd: control: " and ending in a newline; a message (what the
 *   format makes) longer than DP_RATELOG_LINE_MAX - 1 bytes is cut.
 */
#ifndef PORTIER_DP_RATELOG_H
#define PORTIER_DP_RATELOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/** A log line limiter: at most one line per DP_RATELOG_INTERVAL_MS. */
#define DP_RATELOG_INTERVAL_MS 1000

/** The message buffer (before the prefix and the suppressed count). */
#define DP_RATELOG_LINE_MAX 600

struct dp_ratelog {
    bool logged;          /* a line was ever allowed */
    uint64_t last_ms;     /* when the last line was allowed */
    uint64_t suppressed;  /* refused since then */
};

/**
 * May a line be logged at now_ms?  When yes, *suppressed receives how many
 * were refused since the previous allowed line (and the count restarts);
 * when no, the refusal is counted.  Times must not go backwards.
 */
bool
dp_ratelog_allow(struct dp_ratelog *r, uint64_t now_ms, uint64_t *suppressed);

/**
 * Write the line fmt/ap to out if dp_ratelog_allow() lets it through at
 * now_ms, naming the lines suppressed before it.
 */
void
dp_ratelog_vprintf(struct dp_ratelog *r, uint64_t now_ms, FILE *out,
                   const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

/** dp_ratelog_vprintf() with the arguments in place. */
void
dp_ratelog_printf(struct dp_ratelog *r, uint64_t now_ms, FILE *out,
                  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/** One bit per command number: was its line written? */
struct dp_ratelog_once {
    uint8_t done[65536 / 8];
};

/**
 * Write "portierd: control: <what> (logged once)" to out the first time
 * it is called for this command number; later calls write nothing.
 * Returns whether the line was written.
 */
bool
dp_ratelog_once(struct dp_ratelog_once *o, uint16_t command, FILE *out,
                const char *what);

#endif
