/*
 * tp_request: the translation REQUEST codec, both directions (spec
 * §1.5.1–§1.5.3).
 *
 * Promises:
 * - struct tp_request has one field per request packet of §1.5.1.  Every
 *   byte/string field is a struct pr_slice: data == NULL means "not set",
 *   data != NULL with len 0 means "set but empty" (sent as an empty
 *   packet).  STATUS 0 means "not set"; PATH_EXISTS is a flag; WANT is a
 *   list of at most TP_REQUEST_MAX_WANT command numbers (none = not set).
 * - tp_request_marshal() writes the packets in exactly the order of
 *   §1.5.1 (BEGIN with the version byte first, END last), host byte order.
 *   It refuses payloads of 65535 bytes or more (§9.20: at most 65534 are
 *   sent) and anything the parser would refuse, with a static message
 *   naming the packet; on failure the output buffer is left as it was.
 * - The parser is strict and order-independent between BEGIN and END
 *   (the spec says servers must not rely on the order), except that a
 *   layout item (URI, BASE or REGEX) is recognised only directly after
 *   LAYOUT.  It copies every payload into the caller's arena (packets are
 *   transient); every set slice it produces is followed by a NUL byte that
 *   is not counted in len, so text fields can be used as C strings.
 * - Round trip: whatever the parser accepts, the marshaller writes back
 *   (unless a payload is exactly 65535 bytes long), and parsing that
 *   yields the same struct.
 * - Pure: no I/O, no clock, no global state.
 */
#ifndef PORTIER_TP_REQUEST_H
#define PORTIER_TP_REQUEST_H

#include "pr_bytes.h"
#include "tp_command.h"
#include "tp_reader.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/** The protocol version a data plane sends in BEGIN (§1.3). */
#define TP_REQUEST_VERSION 3

/** The longest payload the marshaller sends (§9.20). */
#define TP_REQUEST_MAX_PAYLOAD 65534

/** The most command numbers one WANT packet may carry. */
#define TP_REQUEST_MAX_WANT 64

/** The kind of the mirrored layout item; the values are the command
 *  numbers it is sent as. */
enum tp_layout_item_kind {
    TP_LAYOUT_ITEM_NONE = 0,
    TP_LAYOUT_ITEM_URI = TP_CMD_URI,
    TP_LAYOUT_ITEM_BASE = TP_CMD_BASE,
    TP_LAYOUT_ITEM_REGEX = TP_CMD_REGEX,
};

struct tp_request_layout_item {
    enum tp_layout_item_kind kind;
    struct pr_slice value;      /* sent only when kind != NONE */
};

/* Fields in the order of §1.5.1 (the marshaller's order). */
struct tp_request {
    uint8_t version;                    /* BEGIN payload (absent = 0) */

    struct pr_slice error_document;
    uint16_t status;                    /* 100..599; 0 = not set */

    struct pr_slice listener_tag;
    struct pr_slice remote_host;
    struct pr_slice host;
    struct pr_slice alt_host;
    struct pr_slice user_agent;
    struct pr_slice language;
    struct pr_slice authorization;

    struct pr_slice uri;
    struct pr_slice args;
    struct pr_slice query_string;
    struct pr_slice widget_type;

    struct pr_slice session;
    struct pr_slice realm_session;
    struct pr_slice recover_session;

    struct pr_slice layout;
    /* needs layout; a URI item needs uri (the first URI packet) */
    struct tp_request_layout_item layout_item;

    struct pr_slice internal_redirect;
    struct pr_slice check;
    struct pr_slice check_header;
    struct pr_slice auth;
    struct pr_slice http_auth;
    struct pr_slice token_auth;
    struct pr_slice auth_token;
    struct pr_slice mount_listen_stream;
    struct pr_slice want_full_uri;
    struct pr_slice chain;
    struct pr_slice chain_header;
    uint16_t want[TP_REQUEST_MAX_WANT];
    size_t want_count;                  /* 0 = no WANT packet */

    struct pr_slice file_not_found;
    struct pr_slice content_type_lookup;
    struct pr_slice suffix;
    struct pr_slice enotdir;            /* ENOTDIR_ */
    struct pr_slice directory_index;
    struct pr_slice param;
    struct pr_slice probe_path_suffixes;
    struct pr_slice probe_suffix;
    struct pr_slice read_file;          /* file contents (opaque) */
    struct pr_slice user;
    struct pr_slice pool;
    bool path_exists;
};

/** An empty request: every field unset, version TP_REQUEST_VERSION. */
void
tp_request_init(struct tp_request *req);

/** A slice over a C string (NULL gives the unset slice). */
struct pr_slice
tp_slice_str(const char *s);

/**
 * True when both requests would be marshalled to the same bytes: equal
 * version, STATUS, flag and WANT list, and every slice equally set (both
 * unset, or both set with the same bytes).  A layout item's value only
 * counts when its kind is not NONE.
 */
bool
tp_request_equal(const struct tp_request *a, const struct tp_request *b);

/**
 * Append the request's packets to `out`, in the order of §1.5.1.
 * Returns 0, -EINVAL (a field the protocol cannot carry: payload of 65535
 * bytes or more, a NUL in a text field, STATUS outside 100..599, more than
 * TP_REQUEST_MAX_WANT WANT entries, a layout item without LAYOUT or a URI
 * item without URI) or -ENOMEM.  On failure `out` keeps its previous
 * length and *error (when error is not NULL) points to a static message
 * naming the packet; on success *error is not touched.
 */
int
tp_request_marshal(const struct tp_request *req, struct pr_buf *out,
                   const char **error);

enum tp_request_status {
    TP_REQUEST_NEED_MORE = 1,   /* packet taken; feed the next one */
    TP_REQUEST_DONE,            /* END seen; the request is complete */
    TP_REQUEST_ERROR,           /* see tp_request_parser_error() */
};

/** The server-side interpreter of request packets.  Fields are private. */
struct tp_request_parser {
    struct tp_request *req;
    struct pr_arena *arena;
    int state;
    int code;                   /* -EINVAL or -ENOMEM after an error */
    uint16_t previous;          /* command of the previous packet */
    char error[128];
};

/**
 * Start parsing into `req` (which is cleared: everything unset, version
 * 0) with payload copies taken from `arena`.  Both must outlive the
 * parser; the arena owns every slice the parser stores.
 */
void
tp_request_parser_init(struct tp_request_parser *p, struct tp_request *req,
                       struct pr_arena *arena);

/**
 * Interpret one packet (as delivered by tp_reader; its payload is copied,
 * so it may be transient).  Returns NEED_MORE, DONE after END, or ERROR.
 * Errors are sticky; a packet after END is an error.  After an error the
 * request holds whatever was parsed so far.
 */
enum tp_request_status
tp_request_parser_feed(struct tp_request_parser *p,
                       const struct tp_packet *pkt);

/** The parser's error message ("" when there was none). */
const char *
tp_request_parser_error(const struct tp_request_parser *p);

/**
 * Parse one complete request (BEGIN … END, nothing after it) from
 * data[0..len) into `req`, payloads copied into `arena`.  Returns 0, or
 * -EINVAL / -ENOMEM with a message in err[0..errlen) (when err is not
 * NULL and errlen > 0).  The caller frees the arena in every case.
 */
int
tp_request_parse(const uint8_t *data, size_t len, struct tp_request *req,
                 struct pr_arena *arena, char *err, size_t errlen);

#endif
