/*
 * Prints the generated part of docs/configuration.md: one table row per
 * `set` setting of dataplane/dp_config_settings.def with its type, range,
 * default (read from dp_config_init(), so it is the real default) and
 * whether portierd supports it yet.  The test spec/configuration_doc
 * compares the document with this output, so the table cannot drift from
 * the parser.
 */
#include "dp_config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void
print_size(uint64_t v, char *out, size_t size)
{
    static const char *const units[] = {"bytes", "kB", "MB", "GB"};
    unsigned u = 0;
    while (u < 3 && v != 0 && v % 1024 == 0) {
        v /= 1024;
        u++;
    }
    snprintf(out, size, "%" PRIu64 " %s", v, units[u]);
}

static void
print_duration(uint64_t ms, char *out, size_t size)
{
    static const struct {
        uint64_t ms;
        const char *unit;
    } units[] = {
        {86400000, "d"}, {3600000, "h"}, {60000, "min"}, {1000, "s"}, {1, "ms"},
    };
    for (unsigned i = 0; i < 5; i++) {
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf(out, size, "%" PRIu64 " %s", ms / units[i].ms,
                     units[i].unit);
            return;
        }
    }
    snprintf(out, size, "0 s");
}

/* "a|b" as "`a`, `b`" (a '|' would split the table cell). */
static const char *
choice_list(const char *choices, char *out, size_t size)
{
    size_t o = 0;
    out[o++] = '`';
    for (const char *p = choices; *p != '\0' && o + 5 < size; p++) {
        if (*p == '|') {
            memcpy(out + o, "`, `", 4);
            o += 4;
        } else {
            out[o++] = *p;
        }
    }
    out[o++] = '`';
    out[o] = '\0';
    return out;
}

static const char *
supported(int sup)
{
    return sup ? "yes" : "not yet";
}

int
main(void)
{
    struct dp_config cfg;
    dp_config_init(&cfg);
    const struct dp_config_settings *s = &cfg.settings;
    char a[64], b[64], c[64];

    printf("| setting | type | range | default | supported |\n");
    printf("|---|---|---|---|---|\n");
#define DP_SETTING_STRING(name, def, sup)                                      \
    printf("| `%s` | string | | %s%s%s | %s |\n", #name, s->name ? "`" : "",   \
           s->name ? s->name : "not set", s->name ? "`" : "", supported(sup));
#define DP_SETTING_CHOICE(name, def, choices, sup)                             \
    printf("| `%s` | one of %s | | %s%s%s | %s |\n", #name,                    \
           choice_list(choices, c, sizeof(c)), s->name ? "`" : "",             \
           s->name ? s->name : "not set", s->name ? "`" : "", supported(sup));
#define DP_SETTING_BOOL(name, def, sup)                                        \
    printf("| `%s` | yes/no | | `%s` | %s |\n", #name, s->name ? "yes" : "no", \
           supported(sup));
#define DP_SETTING_UINT(name, def, min, max, sup)                              \
    printf("| `%s` | integer | %" PRIu64 " to %" PRIu64 " | `%" PRIu64         \
           "` | %s |\n",                                                       \
           #name, (uint64_t)(min), (uint64_t)(max), s->name, supported(sup));
#define DP_SETTING_SIZE(name, def, max, sup)                                   \
    print_size(max, a, sizeof(a));                                             \
    print_size(s->name, b, sizeof(b));                                         \
    printf("| `%s` | size | 0 to %s | `%s` | %s |\n", #name, a, b,             \
           supported(sup));
#define DP_SETTING_DURATION(name, def, min, max, sup)                          \
    print_duration(min, a, sizeof(a));                                         \
    print_duration(max, b, sizeof(b));                                         \
    print_duration(s->name, c, sizeof(c));                                     \
    printf("| `%s` | duration | %s to %s | `%s` | %s |\n", #name, a, b, c,     \
           supported(sup));
#include "dp_config_settings.def"
    dp_config_free(&cfg);
    return 0;
}
