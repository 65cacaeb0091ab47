/*
 * fcgi_codec: FastCGI 1.0 records (the web-server side of the FastCGI
 * specification; docs/codecs.md describes what is accepted and refused).
 *
 * Promises:
 * - Pure: no I/O, no clock.  The decoder allocates nothing; encoders
 *   append to a struct pr_buf and leave it unchanged on failure.
 * - Every record starts with the 8-byte header: version (1), type,
 *   request id (u16 BE), content length (u16 BE), padding length,
 *   reserved.  Encoders write reserved bytes as 0 and may pad the content
 *   to a multiple of 8 (FCGI_ENC_PAD); the decoder skips any padding and
 *   ignores the reserved byte.
 * - The record decoder reads what an application sends for one request:
 *   STDOUT and STDERR content comes out as spans into the caller's input
 *   (always zero copy; a record's content may come out in several spans
 *   when the input arrives in pieces), END_REQUEST with its statuses, and
 *   the management records GET_VALUES_RESULT and UNKNOWN_TYPE (request id
 *   0) whole.  It accepts input split at any byte.
 * - Errors are final and precise sentences kept in the decoder
 *   ("STDOUT record for request id 2, expected 1").
 * - The name-value pair decoder never reads past the buffer it is given
 *   and returns slices into it.
 */
#ifndef PORTIER_FCGI_CODEC_H
#define PORTIER_FCGI_CODEC_H

#include "pr_bytes.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FCGI_VERSION 1
#define FCGI_HEADER_SIZE 8
/** The most content one record carries (the u16 content length). */
#define FCGI_MAX_CONTENT 65535
/** The largest name or value length of a name-value pair (31 bits). */
#define FCGI_MAX_NV_LENGTH 0x7fffffffu
/** The request id of management records. */
#define FCGI_NULL_REQUEST_ID 0
/** Room for every error message of this module. */
#define FCGI_ERROR_SIZE 128
/** The largest management record (GET_VALUES_RESULT) the decoder takes. */
#define FCGI_MAX_MANAGEMENT 1024

/* Record types: X(number, NAME). */
#define FCGI_RECORD_TYPES(X)                                               \
    X( 1, BEGIN_REQUEST)                                                   \
    X( 2, ABORT_REQUEST)                                                   \
    X( 3, END_REQUEST)                                                     \
    X( 4, PARAMS)                                                          \
    X( 5, STDIN)                                                           \
    X( 6, STDOUT)                                                          \
    X( 7, STDERR)                                                          \
    X( 8, DATA)                                                            \
    X( 9, GET_VALUES)                                                      \
    X(10, GET_VALUES_RESULT)                                               \
    X(11, UNKNOWN_TYPE)

enum fcgi_record_type {
#define FCGI_X_ENUM(num, name) FCGI_##name = num,
    FCGI_RECORD_TYPES(FCGI_X_ENUM)
#undef FCGI_X_ENUM
};

/** The type's name ("STDOUT"), or "?" for a number that is no type. */
const char *
fcgi_type_name(uint8_t type);

/* BEGIN_REQUEST roles and flags. */
enum fcgi_role {
    FCGI_RESPONDER = 1,
    FCGI_AUTHORIZER = 2,
    FCGI_FILTER = 3,
};
#define FCGI_KEEP_CONN 1

/* END_REQUEST protocol statuses. */
enum fcgi_protocol_status {
    FCGI_REQUEST_COMPLETE = 0,
    FCGI_CANT_MPX_CONN = 1,
    FCGI_OVERLOADED = 2,
    FCGI_UNKNOWN_ROLE = 3,
};

/** A name-value pair; both borrowed. */
struct fcgi_pair {
    struct pr_slice name;
    struct pr_slice value;
};

/* ------------------------------------------------------------------ */
/* Encoders                                                            */

/** Pad each record's content to a multiple of 8 bytes (the spec's
 *  recommendation; not needed by any application we know). */
#define FCGI_ENC_PAD 1u

/** Padding that makes `len` content bytes a multiple of 8 (0..7). */
static inline uint8_t
fcgi_padding(size_t len)
{
    return (uint8_t)((8 - (len & 7)) & 7);
}

/** Write a record header into out[0..8).  No checks. */
void
fcgi_header_write(uint8_t *out, uint8_t type, uint16_t request_id,
                  uint16_t content_length, uint8_t padding_length);

/**
 * Append one record of any type with `len` content bytes (content may be
 * NULL when len is 0) and FCGI_ENC_PAD padding if asked (NUL bytes).
 * Returns 0, -EMSGSIZE when len > FCGI_MAX_CONTENT, or -ENOMEM.
 */
int
fcgi_append_record(struct pr_buf *out, uint8_t type, uint16_t request_id,
                   const void *content, size_t len, unsigned flags);

/** Append BEGIN_REQUEST {role, flags (FCGI_KEEP_CONN or 0)}.  0 or
 *  -ENOMEM.  request_id must not be 0 (-EINVAL). */
int
fcgi_append_begin_request(struct pr_buf *out, uint16_t request_id,
                          enum fcgi_role role, uint8_t begin_flags);

/** Append ABORT_REQUEST (no content).  0, -EINVAL (id 0), -ENOMEM. */
int
fcgi_append_abort_request(struct pr_buf *out, uint16_t request_id);

/** Append END_REQUEST {app_status, protocol_status} (the application's
 *  side; for test peers).  0 or -ENOMEM. */
int
fcgi_append_end_request(struct pr_buf *out, uint16_t request_id,
                        uint32_t app_status, uint8_t protocol_status);

/**
 * Append a stream's bytes (PARAMS, STDIN, DATA, STDOUT, STDERR) as records
 * of at most FCGI_MAX_CONTENT content bytes each.  len 0 appends nothing
 * (use fcgi_append_stream_end() for the empty terminating record).
 * Returns 0, -EINVAL (type is not a stream type), -ENOMEM.  data must not
 * point into `out`.
 */
int
fcgi_append_stream(struct pr_buf *out, uint8_t type, uint16_t request_id,
                   const void *data, size_t len, unsigned flags);

/** Append the empty record that ends a stream.  0, -EINVAL, -ENOMEM. */
int
fcgi_append_stream_end(struct pr_buf *out, uint8_t type,
                       uint16_t request_id);

/**
 * Append one name-value pair in the FastCGI encoding (not a record): each
 * length as one byte when it is below 128, else as four bytes (u32 BE with
 * the high bit set), then the name and the value.  Returns 0, -EMSGSIZE
 * (a length over FCGI_MAX_NV_LENGTH) or -ENOMEM.
 */
int
fcgi_nv_append(struct pr_buf *out, const void *name, size_t name_len,
               const void *value, size_t value_len);

/**
 * Append n pairs as PARAMS records (split at FCGI_MAX_CONTENT; a pair may
 * straddle two records, which the spec allows for streams) followed by the
 * empty PARAMS record.  Also for GET_VALUES with request_id 0 and type
 * FCGI_GET_VALUES (values empty; one record, -EMSGSIZE when the pairs do
 * not fit in it).  Returns 0, -EINVAL (type is neither), -EMSGSIZE,
 * -ENOMEM.
 */
int
fcgi_append_pairs(struct pr_buf *out, uint8_t type, uint16_t request_id,
                  const struct fcgi_pair *pairs, size_t n, unsigned flags);

/* ------------------------------------------------------------------ */
/* Name-value pair decoder                                             */

/**
 * Decode the pair at data[*pos..len).  Returns 1 with *pair set (slices
 * into data) and *pos advanced, 0 when *pos == len (no more pairs), or
 * -EBADMSG with a message naming the offset in err (err may be NULL when
 * err_size is 0) when a length is truncated or points past the end.
 */
int
fcgi_nv_next(const uint8_t *data, size_t len, size_t *pos,
             struct fcgi_pair *pair, char *err, size_t err_size);

/* ------------------------------------------------------------------ */
/* Record decoder (the application's output for one request)           */

enum fcgi_decoder_status {
    FCGI_DEC_STDOUT = 1,     /* ev->data: STDOUT content (non-empty) */
    FCGI_DEC_STDERR,         /* ev->data: STDERR content (non-empty) */
    FCGI_DEC_STDOUT_END,     /* the empty STDOUT record */
    FCGI_DEC_STDERR_END,     /* the empty STDERR record */
    FCGI_DEC_END_REQUEST,    /* ev->app_status, ev->protocol_status */
    FCGI_DEC_MANAGEMENT,     /* ev->type GET_VALUES_RESULT or UNKNOWN_TYPE,
                              * ev->data the whole content */
    FCGI_DEC_NEED_MORE,      /* every byte consumed; feed more */
    FCGI_DEC_ERROR,          /* see fcgi_decoder_error() */
};

struct fcgi_event {
    uint8_t type;                 /* the record type */
    struct pr_slice data;         /* STDOUT/STDERR span; management content;
                                   * valid until the next call */
    uint32_t app_status;          /* END_REQUEST */
    uint8_t protocol_status;      /* END_REQUEST */
};

struct fcgi_decoder {
    uint16_t request_id;
    uint8_t header[FCGI_HEADER_SIZE];
    size_t header_fill;
    size_t content_left;          /* of the current record */
    size_t padding_left;
    size_t body_fill;             /* bytes of a fixed-size body buffered */
    bool stdout_ended, stderr_ended, ended;
    uint64_t stdout_bytes, stderr_bytes;   /* statistics */
    int state;                    /* private */
    uint8_t body[FCGI_MAX_MANAGEMENT];
    char error[FCGI_ERROR_SIZE];
};

/** Start decoding the answer to request `request_id` (1..65535). */
void
fcgi_decoder_init(struct fcgi_decoder *d, uint16_t request_id);

/**
 * Consume bytes from data[0..len) (data may be NULL when len is 0).  Sets
 * *consumed to the number of bytes used and returns one event (bytes after
 * it are not consumed), NEED_MORE when all bytes were used, or ERROR
 * (final; *consumed is then meaningless).  Refused: a version other than
 * 1; a record for another request id (management records with id 0
 * aside); a record type an application must not send (BEGIN_REQUEST,
 * ABORT_REQUEST, PARAMS, STDIN, DATA, GET_VALUES) or an unknown type; an
 * END_REQUEST or UNKNOWN_TYPE whose content is not 8 bytes; a
 * GET_VALUES_RESULT over FCGI_MAX_MANAGEMENT bytes; STDOUT or STDERR
 * content after that stream's empty record; any byte after END_REQUEST.
 */
enum fcgi_decoder_status
fcgi_decoder_feed(struct fcgi_decoder *d, const uint8_t *data, size_t len,
                  size_t *consumed, struct fcgi_event *ev);

/** True once END_REQUEST was delivered. */
bool
fcgi_decoder_done(const struct fcgi_decoder *d);

/**
 * Call at end of stream.  Returns 0 when END_REQUEST was complete, -1
 * with a message when the stream ended inside a record or before
 * END_REQUEST (or the decoder is in error).
 */
int
fcgi_decoder_finish(struct fcgi_decoder *d);

/** The error message ("" when there was none). */
const char *
fcgi_decoder_error(const struct fcgi_decoder *d);

#endif
