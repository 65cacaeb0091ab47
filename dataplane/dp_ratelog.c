/*
 * dp_ratelog: see dp_ratelog.h.
 */
#include "dp_ratelog.h"

bool
dp_ratelog_allow(struct dp_ratelog *r, uint64_t now_ms, uint64_t *suppressed)
{
    if (r->logged && now_ms - r->last_ms < DP_RATELOG_INTERVAL_MS) {
        r->suppressed++;
        return false;
    }
    *suppressed = r->suppressed;
    r->suppressed = 0;
    r->logged = true;
    r->last_ms = now_ms;
    return true;
}

void
dp_ratelog_vprintf(struct dp_ratelog *r, uint64_t now_ms, FILE *out,
                   const char *fmt, va_list ap)
{
    uint64_t suppressed;
    if (!dp_ratelog_allow(r, now_ms, &suppressed))
        return;
    char line[DP_RATELOG_LINE_MAX];
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    (void)n;
    if (suppressed > 0)
        fprintf(out, "portierd: control: %s (%llu similar lines suppressed)\n",
                line, (unsigned long long)suppressed);
    else
        fprintf(out, "portierd: control: %s\n", line);
}

void
dp_ratelog_printf(struct dp_ratelog *r, uint64_t now_ms, FILE *out,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dp_ratelog_vprintf(r, now_ms, out, fmt, ap);
    va_end(ap);
}

bool
dp_ratelog_once(struct dp_ratelog_once *o, uint16_t command, FILE *out,
                const char *what)
{
    uint8_t bit = (uint8_t)(1u << (command & 7));
    if (o->done[command >> 3] & bit)
        return false;
    o->done[command >> 3] |= bit;
    fprintf(out, "portierd: control: %s (logged once)\n", what);
    return true;
}
