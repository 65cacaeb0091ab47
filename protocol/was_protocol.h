/*
 * was_protocol: the WAS (Web Application Socket) control-channel packet
 * codec (spec/protocols.md §3; docs/codecs.md lists what is accepted and
 * refused).
 *
 * Promises:
 * - Pure: no I/O, no clock.  Packets are a 4-byte header (u16 length,
 *   u16 command, host byte order) and `length` payload bytes, no padding.
 * - One X-macro list (WAS_COMMANDS) of the 19 commands generates the enum,
 *   the names and the per-command payload rules; tests/spec/
 *   check_was_commands.py compares it with the spec's §3.3 table.
 * - The reader accepts input split at any byte.  It is made for one side
 *   of the channel: a container (data plane) reads what an application
 *   sends, an application reads what a container sends.  Each packet is
 *   checked against its command's rule before it is handed out (payload
 *   size, integer widths, value ranges, "name=value" syntax) and comes
 *   with its payload decoded.  Payloads are zero copy when the packet lies
 *   whole inside the bytes fed, else assembled in the reader's buffer;
 *   either way valid until the next call.
 * - The order of packets (REQUEST ... DATA/NO_DATA, STATUS before
 *   HEADER, LENGTH, STOP/PREMATURE) is the caller's business: the reader
 *   checks each packet on its own.
 * - Errors are final and precise sentences kept in the reader
 *   ("STATUS: payload must be 2 or 4 bytes, got 3").
 * - Encoders append to a struct pr_buf and leave it unchanged on failure.
 */
#ifndef PORTIER_WAS_PROTOCOL_H
#define PORTIER_WAS_PROTOCOL_H

#include "pr_bytes.h"
#include "pr_frame.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WAS_HEADER_SIZE PR_FRAME_HEADER_SIZE
/** The largest payload the u16 length field can carry. */
#define WAS_MAX_PAYLOAD 65535
/** A HEADER packet from an application must be shorter than this
 *  (beng-proxy's limit). */
#define WAS_MAX_HEADER_PAYLOAD 8191
/** METRIC names are 1..63 characters of [A-Za-z0-9_]. */
#define WAS_MAX_METRIC_NAME 63
/** Room for every error message of this module. */
#define WAS_ERROR_SIZE 160

/*
 * Every WAS command: X(number, NAME, direction, payload rule), spec §3.3.
 * direction: BOTH, C2A (container to application), A2C.
 */
#define WAS_COMMANDS(X)                                                    \
    X( 0, NOP,           BOTH, ANY)                                        \
    X( 1, REQUEST,       C2A,  EMPTY)                                      \
    X( 2, METHOD,        C2A,  INT)                                        \
    X( 3, URI,           C2A,  STR)                                        \
    X( 4, SCRIPT_NAME,   C2A,  STR)                                        \
    X( 5, PATH_INFO,     C2A,  STR)                                        \
    X( 6, QUERY_STRING,  C2A,  STR)                                        \
    X( 7, HEADER,        BOTH, PAIR)                                       \
    X( 8, PARAMETER,     C2A,  PAIR)                                       \
    X( 9, STATUS,        A2C,  INT)                                        \
    X(10, NO_DATA,       BOTH, EMPTY)                                      \
    X(11, DATA,          BOTH, EMPTY)                                      \
    X(12, LENGTH,        BOTH, U64)                                        \
    X(13, STOP,          BOTH, EMPTY)                                      \
    X(14, PREMATURE,     BOTH, U64)                                        \
    X(15, REMOTE_HOST,   C2A,  STR)                                        \
    X(16, METRIC,        BOTH, METRIC)                                     \
    X(17, DOCUMENT_ROOT, C2A,  STR)                                        \
    X(18, TLS,           C2A,  EMPTY)

enum was_command {
#define WAS_X_ENUM(num, name, dir, rule) WAS_CMD_##name = num,
    WAS_COMMANDS(WAS_X_ENUM)
#undef WAS_X_ENUM
};

#define WAS_COMMAND_COUNT 19
#define WAS_CMD_MAX 18

/** Who may send a command. */
enum was_direction {
    WAS_DIR_C2A = 1,
    WAS_DIR_A2C = 2,
    WAS_DIR_BOTH = 3,
};

/** What a command's payload must be ("string": no NUL byte). */
enum was_payload_rule {
    WAS_PL_ANY = 1,      /* anything (NOP: ignored) */
    WAS_PL_EMPTY,        /* no payload */
    WAS_PL_INT,          /* u16 or u32, host order (METHOD, STATUS) */
    WAS_PL_STR,          /* a string, may be empty */
    WAS_PL_PAIR,         /* "name=value": name non-empty; strings */
    WAS_PL_U64,          /* exactly 8 bytes, host order, <= 2^63-1 */
    WAS_PL_METRIC,       /* C2A: empty; A2C: f32 + [A-Za-z0-9_]{1,63} */
};

struct was_command_info {
    uint16_t number;
    enum was_direction direction;
    enum was_payload_rule rule;
    const char *name;
};

/** Facts about a command number, or NULL when it is not a command. */
const struct was_command_info *
was_command_info(uint16_t number);

/** The command's name ("STATUS"), or "?" for other numbers. */
const char *
was_command_name(uint16_t number);

/* HTTP method numbers (spec §3.3; shared with the logging protocol). */
#define WAS_METHODS(X)                                                     \
    X( 1, HEAD)                                                            \
    X( 2, GET)                                                             \
    X( 3, POST)                                                            \
    X( 4, PUT)                                                             \
    X( 5, DELETE)                                                          \
    X( 6, OPTIONS)                                                         \
    X( 7, TRACE)                                                           \
    X( 8, PROPFIND)                                                        \
    X( 9, PROPPATCH)                                                       \
    X(10, MKCOL)                                                           \
    X(11, COPY)                                                            \
    X(12, MOVE)                                                            \
    X(13, LOCK)                                                            \
    X(14, UNLOCK)                                                          \
    X(15, PATCH)                                                           \
    X(16, REPORT)                                                          \
    X(17, QUERY)

enum was_method {
    WAS_METHOD_NONE = 0,
#define WAS_X_METHOD(num, name) WAS_METHOD_##name = num,
    WAS_METHODS(WAS_X_METHOD)
#undef WAS_X_METHOD
};

/** The method's name ("GET"), or NULL for 0 and unknown numbers. */
const char *
was_method_name(uint32_t method);

/** The method's number for a name (case-sensitive, as HTTP), or
 *  WAS_METHOD_NONE when WAS has no number for it. */
enum was_method
was_method_from_name(const char *name, size_t len);

/* ------------------------------------------------------------------ */
/* Reader                                                              */

/** Which end of the channel a reader sits on. */
enum was_side {
    WAS_SIDE_CONTAINER = 1,   /* reads A2C and BOTH commands */
    WAS_SIDE_APPLICATION,     /* reads C2A and BOTH commands */
};

/** A checked packet; slices valid until the next call of the reader. */
struct was_packet {
    uint16_t command;
    struct pr_slice payload;  /* data never NULL */
    uint32_t number;          /* METHOD, STATUS */
    uint64_t u64;             /* LENGTH, PREMATURE */
    struct pr_slice name;     /* HEADER, PARAMETER, METRIC (A2C) */
    struct pr_slice value;    /* HEADER, PARAMETER */
    float metric;             /* METRIC (A2C) */
};

enum was_reader_status {
    WAS_READER_PACKET = 1,    /* *pkt holds a checked packet */
    WAS_READER_NEED_MORE,     /* every byte consumed; feed more */
    WAS_READER_ERROR,         /* see was_reader_error() */
};

struct was_reader {
    enum was_side side;
    struct pr_frame frame;    /* private: the framing, shared with tp_ */
    int state;                /* private */
    char error[WAS_ERROR_SIZE];
};

/** Start a reader for `side` that refuses payloads over max_payload bytes
 *  (0 or more than WAS_MAX_PAYLOAD: WAS_MAX_PAYLOAD). */
void
was_reader_init(struct was_reader *r, enum was_side side, size_t max_payload);

/** Release the reader's buffer. */
void
was_reader_destroy(struct was_reader *r);

/**
 * Consume bytes from data[0..len) (data may be NULL when len is 0).  Sets
 * *consumed; returns PACKET (bytes after it are not consumed), NEED_MORE
 * (all used) or ERROR (final; *consumed meaningless).  Refused: a payload
 * over the limit; an unknown command; a command the other side may not
 * send; a payload that breaks its command's rule; STATUS outside
 * 200..599; METHOD outside 1..17; a HEADER name that is not a token or a
 * value with control characters, or (container side) a HEADER payload
 * over WAS_MAX_HEADER_PAYLOAD; a METRIC value that is not finite.
 */
enum was_reader_status
was_reader_feed(struct was_reader *r, const uint8_t *data, size_t len,
                size_t *consumed, struct was_packet *pkt);

/** True when the reader is between packets. */
bool
was_reader_idle(const struct was_reader *r);

/** At end of stream: 0 between packets, -1 (message set) inside one or
 *  after an error. */
int
was_reader_finish(struct was_reader *r);

/** The error message ("" when there was none). */
const char *
was_reader_error(const struct was_reader *r);

/**
 * Check one payload against `command`'s rule as `side` would receive it,
 * and decode it into *pkt (command and payload set too).  Returns 0, or -1
 * with a message in err (err may be NULL when err_size is 0).  payload
 * may be NULL when len is 0; slices point into it.
 */
int
was_packet_check(enum was_side side, uint16_t command,
                 const uint8_t *payload, size_t len, struct was_packet *pkt,
                 char *err, size_t err_size);

/* ------------------------------------------------------------------ */
/* Encoders                                                            */

/**
 * Append one packet with any command number and payload (NULL when len is
 * 0).  Returns 0, -EMSGSIZE (len > WAS_MAX_PAYLOAD) or -ENOMEM.  The
 * payload must not point into `out`.
 */
int
was_append_packet(struct pr_buf *out, uint16_t command, const void *payload,
                  size_t len);

/** Append a packet without payload (REQUEST, NO_DATA, DATA, STOP, TLS,
 *  NOP, METRIC from a container).  0 or -ENOMEM. */
int
was_append_empty(struct pr_buf *out, enum was_command command);

/** METHOD as a 4-byte value (what beng-proxy sends; libwas takes 2 or 4).
 *  -EINVAL for a method outside 1..17. */
int
was_append_method(struct pr_buf *out, enum was_method method);

/** STATUS as a 4-byte value (what libwas sends).  -EINVAL outside
 *  200..599. */
int
was_append_status(struct pr_buf *out, unsigned status);

/** A string command (URI, SCRIPT_NAME, PATH_INFO, QUERY_STRING,
 *  REMOTE_HOST, DOCUMENT_ROOT).  -EINVAL when it contains NUL or the
 *  command is not a string command; -EMSGSIZE; -ENOMEM. */
int
was_append_string(struct pr_buf *out, enum was_command command,
                  const void *str, size_t len);

/** HEADER or PARAMETER "name=value".  -EINVAL when the name is empty or
 *  contains '=' or NUL, the value contains NUL, or the command is
 *  neither; -EMSGSIZE; -ENOMEM. */
int
was_append_pair(struct pr_buf *out, enum was_command command,
                const void *name, size_t name_len, const void *value,
                size_t value_len);

/** LENGTH or PREMATURE with a u64 (host order).  -EINVAL when the
 *  command is neither or value > 2^63-1; -ENOMEM. */
int
was_append_u64(struct pr_buf *out, enum was_command command, uint64_t value);

/** METRIC from an application: f32 value + name.  -EINVAL for a name
 *  that is not [A-Za-z0-9_]{1,63} or a value that is not finite. */
int
was_append_metric(struct pr_buf *out, const char *name, size_t name_len,
                  float value);

#endif
