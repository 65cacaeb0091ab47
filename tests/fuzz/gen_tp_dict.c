/*
 * Print a libFuzzer dictionary for the translation protocol: every command
 * number as it appears in a packet header (u16, host order), generated from
 * tp_commands.def so the dictionary never drifts from the command list.
 */
#include "tp_command.h"

#include <stdio.h>

int
main(void)
{
#define TP_COMMAND(num, name, dir, payload)                                 \
    {                                                                       \
        uint16_t v = num;                                                   \
        const uint8_t *b = (const uint8_t *)&v;                             \
        printf("cmd_%s=\"\\x%02x\\x%02x\"\n", #name, b[0], b[1]);          \
    }
#include "tp_commands.def"
#undef TP_COMMAND
    /* BEGIN with version 3 and END, whole packets. */
    printf("begin_v3=\"\\x01\\x00\\x01\\x00\\x03\"\n");
    printf("end=\"\\x00\\x00\\x02\\x00\"\n");
    return 0;
}
