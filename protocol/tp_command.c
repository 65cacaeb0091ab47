#include "tp_command.h"

#include <string.h>

static const struct tp_command_info tp_commands[TP_CMD_MAX + 1] = {
#define TP_COMMAND(num, cname, dir, kind)                                   \
    [num] = { .number = num, .direction = TP_DIR_##dir,                     \
              .payload = TP_PL_##kind, .name = #cname },
#include "tp_commands.def"
#undef TP_COMMAND
};

const struct tp_command_info *
tp_command_info(uint16_t number)
{
    if (number > TP_CMD_MAX || tp_commands[number].name == NULL)
        return NULL;
    return &tp_commands[number];
}

const char *
tp_command_name(uint16_t number)
{
    const struct tp_command_info *info = tp_command_info(number);
    return info != NULL ? info->name : "?";
}

size_t
tp_command_count(void)
{
    size_t n = 0;
    for (size_t i = 0; i <= TP_CMD_MAX; i++)
        if (tp_commands[i].name != NULL)
            n++;
    return n;
}

static bool
is_name_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
}

const char *
tp_payload_check(enum tp_payload_kind kind, const uint8_t *payload,
                 size_t len)
{
    switch (kind) {
    case TP_PL_NONE:
        return len == 0 ? NULL : "payload must be empty";
    case TP_PL_U8_OPT:
        return len <= 1 ? NULL : "payload must be empty or one byte";
    case TP_PL_U16:
        return len == 2 ? NULL : "payload must be a 2-byte integer";
    case TP_PL_U32:
        return len == 4 ? NULL : "payload must be a 4-byte integer";
    case TP_PL_OPT_U16:
        return len == 0 || len == 2
                   ? NULL
                   : "payload must be empty or a 2-byte integer";
    case TP_PL_U16_ARRAY:
        return len > 0 && len % 2 == 0
                   ? NULL
                   : "payload must be a non-empty array of 2-byte integers";
    case TP_PL_STR:
        return len == 0 || memchr(payload, 0, len) == NULL
                   ? NULL
                   : "payload contains a NUL byte";
    case TP_PL_NAME:
        if (len == 0)
            return "payload must be a non-empty name";
        for (size_t i = 0; i < len; i++)
            if (!is_name_char(payload[i]))
                return "payload must be a name of [A-Za-z0-9_-]";
        return NULL;
    case TP_PL_ABS_PATH:
        if (len == 0 || payload[0] != '/')
            return "payload must be an absolute path";
        return memchr(payload, 0, len) == NULL ? NULL
                                               : "payload contains a NUL byte";
    case TP_PL_STR0:
    case TP_PL_BYTES:
    case TP_PL_BINARY:
        return NULL;
    case TP_PL_SOCKADDR:
        return len >= 2 ? NULL : "payload is too short for a socket address";
    }
    return "unknown payload kind";
}
