/*
 * ctl_protocol: the control protocol's datagram codec (spec/protocols.md
 * §2; docs/control-protocol.md describes what is implemented here).
 *
 * Promises:
 * - Pure: no I/O, no clock, no allocation on the decoding side.  Decoded
 *   commands are borrowed slices into the caller's datagram (zero copy);
 *   they live as long as the caller keeps the datagram.
 * - One X-macro list (CTL_COMMANDS) of the 27 commands generates the enum,
 *   the names and the per-command payload rules.
 * - Framing errors (short datagram, wrong magic, truncated header, payload
 *   or padding) are found by ctl_datagram_parse() before any command is
 *   handed out, so a broken datagram yields no command at all.  Per-command
 *   problems (an unknown number, a payload that breaks its command's rule)
 *   never stop the datagram: that command comes out marked UNKNOWN or
 *   MALFORMED with a message, the following ones are still delivered.
 * - Padding content is ignored (the Python client pads with spaces); our
 *   encoders pad with NUL.
 * - TCACHE_INVALIDATE payloads (translation-style packets, big-endian) are
 *   decoded by ctl_tcache_decode() into a fixed-size struct of slices.
 * - Error messages are precise sentences naming the offset, written into
 *   a buffer owned by the caller's object; nothing here prints or logs.
 * - Encoders append to a struct pr_buf and leave it unchanged on failure.
 */
#ifndef PORTIER_CTL_PROTOCOL_H
#define PORTIER_CTL_PROTOCOL_H

#include "pr_bytes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** The magic number at the start of every datagram (u32 big-endian). */
#define CTL_MAGIC 0x63046101u
/** The default UDP port. */
#define CTL_DEFAULT_PORT 5478
/** Size of the magic and of a packet header (u16 length, u16 command). */
#define CTL_MAGIC_SIZE 4
#define CTL_HEADER_SIZE 4
/** The largest payload the u16 length field can carry. */
#define CTL_MAX_PAYLOAD 65535
/** The largest datagram the encoder builds: the largest UDP payload over
 *  IPv4 (65535 - 8 - 20).  The decoder accepts any size. */
#define CTL_MAX_DATAGRAM 65507
/** Room for every error message this module writes. */
#define CTL_ERROR_SIZE 192

/** Padding after a payload of `len` bytes: (4 - len % 4) % 4. */
static inline size_t
ctl_padding(size_t len)
{
    return (4 - (len & 3)) & 3;
}

/*
 * Every control command: X(number, NAME, payload rule), spec §2.3.
 * The rule is the suffix of an enum ctl_payload_rule constant.
 */
#define CTL_COMMANDS(X)                                                    \
    X( 0, NOP,                 EMPTY)                                      \
    X( 1, TCACHE_INVALIDATE,   TCACHE)                                     \
    X( 2, ENABLE_NODE,         NODE)                                       \
    X( 3, FADE_NODE,           NODE)                                       \
    X( 4, NODE_STATUS,         NODE)                                       \
    X( 5, DUMP_POOLS,          EMPTY)                                      \
    X( 6, STATS,               EMPTY)                                      \
    X( 7, VERBOSE,             U8)                                         \
    X( 8, FADE_CHILDREN,       OPT_STR)                                    \
    X( 9, DISABLE_ZEROCONF,    EMPTY)                                      \
    X(10, ENABLE_ZEROCONF,     EMPTY)                                      \
    X(11, FLUSH_NFS_CACHE,     EMPTY)                                      \
    X(12, FLUSH_FILTER_CACHE,  OPT_STR)                                    \
    X(13, STOPWATCH_PIPE,      EMPTY)                                      \
    X(14, DISCARD_SESSION,     BYTES)                                      \
    X(15, FLUSH_HTTP_CACHE,    OPT_STR)                                    \
    X(16, TERMINATE_CHILDREN,  OPT_STR)                                    \
    X(17, DISABLE_QUEUE,       OPT_STR)                                    \
    X(18, ENABLE_QUEUE,        OPT_STR)                                    \
    X(19, RELOAD_STATE,        EMPTY)                                      \
    X(20, DISCONNECT_DATABASE, STR)                                        \
    X(21, DISABLE_URING,       OPT_U32)                                    \
    X(22, RESET_LIMITER,       STR)                                        \
    X(23, REJECT_CLIENT,       BAN)                                        \
    X(24, TARPIT_CLIENT,       BAN)                                        \
    X(25, CANCEL_JOB,          JOB)                                        \
    X(26, EXPIRE_TCACHE_TAG,   STR)

enum ctl_command {
#define CTL_X_ENUM(num, name, rule) CTL_CMD_##name = num,
    CTL_COMMANDS(CTL_X_ENUM)
#undef CTL_X_ENUM
};

/** Number of commands, and the highest number. */
#define CTL_COMMAND_COUNT 27
#define CTL_CMD_MAX 26

/** What a command's payload must look like ("string" = no NUL byte). */
enum ctl_payload_rule {
    CTL_PL_EMPTY = 1,   /* no payload */
    CTL_PL_U8,          /* exactly one byte */
    CTL_PL_OPT_STR,     /* empty, or a string (a tag) */
    CTL_PL_STR,         /* a non-empty string */
    CTL_PL_BYTES,       /* non-empty, any bytes */
    CTL_PL_OPT_U32,     /* empty, or u32 big-endian */
    CTL_PL_NODE,        /* "name:port", port 1..65535 in decimal */
    CTL_PL_BAN,         /* u32 BE seconds + non-empty printable ASCII */
    CTL_PL_JOB,         /* "partition" NUL "job id", both non-empty */
    CTL_PL_TCACHE,      /* empty, or a valid TCACHE_INVALIDATE payload */
};

struct ctl_command_info {
    uint16_t number;
    enum ctl_payload_rule rule;
    const char *name;
};

/** Facts about a command number, or NULL when the number is unassigned. */
const struct ctl_command_info *
ctl_command_info(uint16_t number);

/** The command's name as in spec §2.3 ("FADE_CHILDREN"), or "?" for an
 *  unassigned number.  Never NULL. */
const char *
ctl_command_name(uint16_t number);

/** How a decoded command fared against the command table. */
enum ctl_command_status {
    CTL_COMMAND_OK = 0,
    CTL_COMMAND_UNKNOWN,     /* number not in CTL_COMMANDS: log, ignore */
    CTL_COMMAND_MALFORMED,   /* payload breaks the rule: log, ignore */
};

/**
 * Check a payload against its command's rule (for TCACHE_INVALIDATE the
 * whole payload is decoded).  payload may be NULL when len is 0.  Returns
 * OK, UNKNOWN or MALFORMED; for the latter two a message such as
 * "VERBOSE: payload must be exactly 1 byte, got 2" is written to err
 * (err may be NULL when err_size is 0).
 */
enum ctl_command_status
ctl_payload_check(uint16_t command, const uint8_t *payload, size_t len,
                  char *err, size_t err_size);

/* ------------------------------------------------------------------ */
/* Datagram decoder                                                    */

enum ctl_datagram_status {
    CTL_DGRAM_OK = 0,
    CTL_DGRAM_SHORT,              /* fewer than 4 bytes: no magic */
    CTL_DGRAM_BAD_MAGIC,
    CTL_DGRAM_TRUNCATED_HEADER,   /* odd length: 1-3 bytes where a header
                                   * would start */
    CTL_DGRAM_TRUNCATED_PAYLOAD,  /* a length field points past the end */
    CTL_DGRAM_TRUNCATED_PADDING,  /* odd length: the payload fits, its
                                   * padding does not */
};

/** One command packet of a datagram.  Nothing here is owned. */
struct ctl_packet {
    uint16_t command;             /* the number as received */
    enum ctl_command_status status;
    size_t offset;                /* of its header, from the datagram start */
    struct pr_slice payload;      /* into the datagram; data never NULL */
    char error[CTL_ERROR_SIZE];   /* "" when status is OK */
};

/** The decoding state of one datagram; see ctl_datagram_parse(). */
struct ctl_datagram {
    const uint8_t *data;          /* borrowed */
    size_t len;
    size_t pos;                   /* offset of the next header */
    size_t count;                 /* commands in the datagram */
    enum ctl_datagram_status status;
    char error[CTL_ERROR_SIZE];   /* "" when status is OK */
};

/**
 * Check a whole datagram's framing: the magic, then every packet header,
 * payload and padding up to the end.  The datagram must stay valid and
 * unchanged while d is used.  Returns OK (then d->count commands can be
 * taken with ctl_datagram_next()) or the first problem, with a message
 * naming the offset in ctl_datagram_error(d); an error means no command of
 * the datagram may be executed.  A datagram of just the magic is a valid
 * empty batch.
 */
enum ctl_datagram_status
ctl_datagram_parse(struct ctl_datagram *d, const uint8_t *data, size_t len);

/**
 * Take the next command of a datagram that ctl_datagram_parse() accepted.
 * Returns false when there are no more (or the datagram was rejected).
 * Otherwise *cmd holds the command; check cmd->status before acting on it.
 */
bool
ctl_datagram_next(struct ctl_datagram *d, struct ctl_packet *cmd);

/** The datagram's error message ("" when it was accepted). */
const char *
ctl_datagram_error(const struct ctl_datagram *d);

/* ------------------------------------------------------------------ */
/* TCACHE_INVALIDATE payload                                           */

/** At most this many match-value packets per payload (SITE and CACHE_TAG
 *  are not counted). */
#define CTL_TCACHE_MAX_VALUES 32
/** The number of distinct match commands, i.e. the most entries values[]
 *  can hold after duplicates were folded. */
#define CTL_TCACHE_MATCH_COMMANDS 13

/** A translation command (TP_CMD_*) and its value, borrowed. */
struct ctl_tcache_value {
    uint16_t command;
    struct pr_slice value;
};

struct ctl_tcache_invalidate {
    bool flush_all;               /* the payload was empty */
    size_t n_values;              /* distinct match commands, packet order */
    struct ctl_tcache_value values[CTL_TCACHE_MATCH_COMMANDS];
    bool has_site;
    struct pr_slice site;
    bool has_cache_tag;
    struct pr_slice cache_tag;
};

/**
 * Decode a TCACHE_INVALIDATE payload: translation-style packets with a
 * big-endian u16 length and u16 command, each payload padded to a multiple
 * of 4.  Accepted: URI, PARAM, SESSION, REALM_SESSION, LISTENER_TAG,
 * REMOTE_HOST, HOST, LANGUAGE, USER_AGENT, QUERY_STRING, INTERNAL_REDIRECT,
 * ENOTDIR_, USER (match values; at most CTL_TCACHE_MAX_VALUES packets),
 * SITE and CACHE_TAG (filters).  A repeated command keeps its first
 * position and the last value (as beng-proxy).  String values must not
 * contain NUL.  An empty payload sets flush_all.  Slices point into
 * payload.  Returns 0, or -EBADMSG with a message naming the payload
 * offset in err (err may be NULL when err_size is 0); *out is then
 * unspecified.
 */
int
ctl_tcache_decode(struct ctl_tcache_invalidate *out, const uint8_t *payload,
                  size_t len, char *err, size_t err_size);

/** True when a translation command may appear in a TCACHE_INVALIDATE
 *  payload (match value or filter). */
bool
ctl_tcache_command_accepted(uint16_t tp_command);

/**
 * Append a TCACHE_INVALIDATE payload built from n (command, value) pairs,
 * in order, each padded with NUL.  The result is checked with
 * ctl_tcache_decode(); when it would be rejected nothing is appended and
 * -EINVAL is returned with the decoder's message in err.  Other errors:
 * -EMSGSIZE (a value over CTL_MAX_PAYLOAD bytes), -ENOMEM.  n == 0
 * appends nothing (the "flush all" payload).  The values must not point
 * into `out` (it may be reallocated).
 */
int
ctl_tcache_encode(struct pr_buf *out, const struct ctl_tcache_value *values,
                  size_t n, char *err, size_t err_size);

/* ------------------------------------------------------------------ */
/* Datagram encoder                                                    */

/**
 * Start a datagram in b: discard its contents (keeping the memory) and
 * write the magic.  Returns 0, or -ENOMEM (b is then empty).
 */
int
ctl_datagram_begin(struct pr_buf *b);

/**
 * Append one command (any number; call ctl_payload_check() first to refuse
 * what our decoder would mark MALFORMED) with its payload and NUL padding
 * to a datagram started with ctl_datagram_begin().  payload may be NULL
 * when len is 0.  Returns 0; -EMSGSIZE when len > CTL_MAX_PAYLOAD or the
 * datagram would exceed CTL_MAX_DATAGRAM; -EINVAL when b does not start
 * with the magic; -ENOMEM.  On error b is unchanged.
 */
int
ctl_datagram_append(struct pr_buf *b, uint16_t command, const void *payload,
                    size_t len);

#endif
