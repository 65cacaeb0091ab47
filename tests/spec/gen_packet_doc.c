/*
 * Prints the generated part of docs/translation-packets.md: one table row
 * per assigned translation command with how the response parser treats
 * it (tp_response_packet_support) and, for refused packets, why.  The
 * test spec/packet_doc compares the document with this output, so the
 * document cannot drift from the parser.
 */
#include "tp_command.h"
#include "tp_response.h"

#include <stdio.h>

int
main(void)
{
    unsigned counts[TP_SUPPORT_UNSUPPORTED + 1] = {0};
    for (unsigned n = 1; n <= TP_CMD_MAX; n++)
        if (tp_command_info((uint16_t)n) != NULL)
            counts[tp_response_packet_support((uint16_t)n)]++;

    printf("| class | packets |\n|---|---:|\n");
    for (int s = TP_SUPPORT_ACCEPTED; s <= TP_SUPPORT_UNSUPPORTED; s++)
        printf("| %s | %u |\n",
               tp_packet_support_name((enum tp_packet_support)s), counts[s]);
    printf("\n| # | packet | in a response | why |\n|---:|---|---|---|\n");
    for (unsigned n = 1; n <= TP_CMD_MAX; n++) {
        const struct tp_command_info *info = tp_command_info((uint16_t)n);
        if (info == NULL)
            continue;
        enum tp_packet_support s = tp_response_packet_support((uint16_t)n);
        const char *why = tp_response_packet_reason((uint16_t)n);
        if (why == NULL && s == TP_SUPPORT_IGNORED)
            why = "has no effect in Portier; shape-checked and dropped";
        if (why == NULL && s == TP_SUPPORT_REQUEST_ONLY)
            why = "sent by data planes only";
        printf("| %u | `%s` | %s | %s |\n", n, info->name,
               tp_packet_support_name(s), why != NULL ? why : "");
    }
    return 0;
}
