/*
 * tp_command: the translation protocol's command numbers and their facts.
 *
 * Promises:
 * - enum tp_command has one TP_CMD_<NAME> per row of tp_commands.def, with
 *   the spec's number (spec/protocols.md §1.4).
 * - tp_command_name() names any u16 (unknown numbers get "?"), so logs and
 *   errors can always print what arrived.
 * - tp_command_info() returns NULL for numbers that are not commands
 *   (0, 25, anything above 286).
 */
#ifndef PORTIER_TP_COMMAND_H
#define PORTIER_TP_COMMAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tp_command {
#define TP_COMMAND(num, name, dir, payload) TP_CMD_##name = num,
#include "tp_commands.def"
#undef TP_COMMAND
};

/** The highest assigned command number. */
#define TP_CMD_MAX 286

/** Which side may send a command. */
enum tp_direction {
    TP_DIR_Q = 1,       /* requests only */
    TP_DIR_R = 2,       /* responses only */
    TP_DIR_QR = 3,      /* both */
};

/** The shape of a command's payload (in responses; in requests for Q). */
enum tp_payload_kind {
    TP_PL_NONE = 1,     /* must be empty */
    TP_PL_U8_OPT,       /* empty or one byte */
    TP_PL_U16,          /* exactly 2 bytes, host order */
    TP_PL_U32,          /* exactly 4 bytes, host order */
    TP_PL_OPT_U16,      /* empty or 2 bytes */
    TP_PL_U16_ARRAY,    /* non-empty, even length */
    TP_PL_STR,          /* text without NUL (may be empty) */
    TP_PL_NAME,         /* non-empty [A-Za-z0-9_-]+ */
    TP_PL_ABS_PATH,     /* non-empty, starts with '/', no NUL */
    TP_PL_STR0,         /* text with an embedded NUL separator ("a\0b") */
    TP_PL_BYTES,        /* opaque bytes */
    TP_PL_SOCKADDR,     /* a struct sockaddr */
    TP_PL_BINARY,       /* a fixed binary struct; see tp_response.c */
};

struct tp_command_info {
    uint16_t number;
    enum tp_direction direction;
    enum tp_payload_kind payload;
    const char *name;
};

/** Facts about a command number, or NULL when the number is unassigned. */
const struct tp_command_info *
tp_command_info(uint16_t number);

/** The command's name ("BEGIN"), or "?" for an unassigned number. */
const char *
tp_command_name(uint16_t number);

/** Number of assigned commands (285). */
size_t
tp_command_count(void);

/**
 * Check a payload against the command's payload kind only (not the
 * command-specific rules).  Returns NULL when it fits, else a static
 * message such as "payload must be empty".
 */
const char *
tp_payload_check(enum tp_payload_kind kind, const uint8_t *payload,
                 size_t len);

#endif
