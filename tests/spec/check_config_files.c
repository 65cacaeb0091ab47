/*
 * TAP test and small tool: load each configuration file named on the
 * command line with dp_config_load_file() (following its @include lines)
 * and dp_config_finish(), and report "ok" with a summary of what was read
 * as TAP comments, or "not ok" with the parser's error.  Keeps the
 * example configurations in examples/ valid.
 */
#include "dp_config.h"

#include <stdio.h>

static const char *
kind_name(enum dp_config_address_kind kind)
{
    switch (kind) {
    case DP_CONFIG_ADDRESS_IPV4:
        return "ipv4";
    case DP_CONFIG_ADDRESS_IPV6:
        return "ipv6";
    case DP_CONFIG_ADDRESS_LOCAL:
        return "local";
    case DP_CONFIG_ADDRESS_ABSTRACT:
        return "abstract";
    }
    return "?";
}

int
main(int argc, char **argv)
{
    int failed = 0;
    printf("1..%d\n", argc - 1);
    for (int i = 1; i < argc; i++) {
        struct dp_config cfg;
        struct dp_config_error err;
        dp_config_init(&cfg);
        int r = dp_config_load_file(argv[i], &cfg, &err);
        if (r == 0)
            r = dp_config_finish(&cfg, &err);
        if (r != 0) {
            printf("not ok %d - %s: %s\n", i, argv[i], err.text);
            failed++;
        } else {
            printf("ok %d - %s\n", i, argv[i]);
            for (size_t j = 0; j < cfg.n_listeners; j++) {
                const struct dp_config_listener *l = &cfg.listeners[j];
                printf("# listener %s (%s, port %u) tag %s, from %s:%u\n",
                       l->bind.text, kind_name(l->bind.kind), l->bind.port,
                       l->tag != NULL ? l->tag : "-", l->file, l->line);
            }
            for (size_t j = 0; j < cfg.n_translation_sockets; j++)
                printf("# translation_socket %s\n",
                       cfg.translation_sockets[j].text);
        }
        dp_config_free(&cfg);
    }
    return failed != 0;
}
