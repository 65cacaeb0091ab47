/*
 * The translation request codec.  One table, `fields`, lists every request
 * packet in the order of spec §1.5.1 together with where it lives in
 * struct tp_request and how its payload is shaped; the marshaller walks it
 * in order, the parser looks packets up in it, and tp_request_equal()
 * compares along it.  BEGIN and END frame the table.
 */
#include "tp_request.h"

#include "pr_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

enum field_type {
    FT_TEXT = 1,        /* struct pr_slice, no NUL byte */
    FT_BYTES,           /* struct pr_slice, opaque */
    FT_STATUS,          /* uint16_t, 0 = not set */
    FT_LAYOUT_ITEM,     /* tp_request_layout_item: URI, BASE or REGEX */
    FT_WANT,            /* uint16_t want[] + size_t want_count */
    FT_FLAG,            /* bool, sent as an empty packet */
};

struct field {
    uint16_t command;           /* 0 for the layout item (kind decides) */
    enum field_type type;
    size_t offset;
    /* Static messages of the marshaller, naming the packet. */
    const char *too_long;
    const char *malformed;
};

#define FIELD(cmd, member, ftype, bad)                                     \
    { TP_CMD_##cmd, ftype, offsetof(struct tp_request, member),            \
      #cmd " payload is 65535 bytes or more (at most 65534 are sent)",     \
      bad }
#define TEXT(cmd, member)                                                  \
    FIELD(cmd, member, FT_TEXT, #cmd " payload contains a NUL byte")
#define BYTES(cmd, member) FIELD(cmd, member, FT_BYTES, NULL)

/* Spec §1.5.1, group by group. */
static const struct field fields[] = {
    BYTES(ERROR_DOCUMENT, error_document),
    FIELD(STATUS, status, FT_STATUS,
          "STATUS must be an HTTP status (100..599)"),

    TEXT(LISTENER_TAG, listener_tag),
    TEXT(REMOTE_HOST, remote_host),
    TEXT(HOST, host),
    TEXT(ALT_HOST, alt_host),
    TEXT(USER_AGENT, user_agent),
    TEXT(LANGUAGE, language),
    TEXT(AUTHORIZATION, authorization),

    TEXT(URI, uri),
    TEXT(ARGS, args),
    TEXT(QUERY_STRING, query_string),
    TEXT(WIDGET_TYPE, widget_type),

    BYTES(SESSION, session),
    BYTES(REALM_SESSION, realm_session),
    TEXT(RECOVER_SESSION, recover_session),

    BYTES(LAYOUT, layout),
    { 0, FT_LAYOUT_ITEM, offsetof(struct tp_request, layout_item),
      "layout item payload is 65535 bytes or more (at most 65534 are sent)",
      "layout item contains a NUL byte" },

    BYTES(INTERNAL_REDIRECT, internal_redirect),
    BYTES(CHECK, check),
    TEXT(CHECK_HEADER, check_header),
    BYTES(AUTH, auth),
    BYTES(HTTP_AUTH, http_auth),
    BYTES(TOKEN_AUTH, token_auth),
    TEXT(AUTH_TOKEN, auth_token),
    BYTES(MOUNT_LISTEN_STREAM, mount_listen_stream),  /* "path[\0opaque]" */
    BYTES(WANT_FULL_URI, want_full_uri),
    BYTES(CHAIN, chain),
    TEXT(CHAIN_HEADER, chain_header),
    FIELD(WANT, want, FT_WANT, "WANT lists more than 64 commands"),

    BYTES(FILE_NOT_FOUND, file_not_found),
    BYTES(CONTENT_TYPE_LOOKUP, content_type_lookup),
    TEXT(SUFFIX, suffix),
    BYTES(ENOTDIR_, enotdir),
    BYTES(DIRECTORY_INDEX, directory_index),
    TEXT(PARAM, param),
    BYTES(PROBE_PATH_SUFFIXES, probe_path_suffixes),
    TEXT(PROBE_SUFFIX, probe_suffix),
    BYTES(READ_FILE, read_file),        /* file contents in requests */
    TEXT(USER, user),
    TEXT(POOL, pool),
    FIELD(PATH_EXISTS, path_exists, FT_FLAG, NULL),
};

#undef BYTES
#undef TEXT
#undef FIELD

#define N_FIELDS (sizeof(fields) / sizeof(fields[0]))

/* The payload shape a field has in a request (tp_commands.def describes
 * responses, where e.g. READ_FILE is a path; in a request it is the
 * file's contents). */
static enum tp_payload_kind
field_kind(const struct field *f)
{
    switch (f->type) {
    case FT_TEXT:
    case FT_LAYOUT_ITEM:
        return TP_PL_STR;
    case FT_BYTES:
        return TP_PL_BYTES;
    case FT_STATUS:
        return TP_PL_U16;
    case FT_WANT:
        return TP_PL_U16_ARRAY;
    case FT_FLAG:
        return TP_PL_NONE;
    }
    return TP_PL_BYTES;
}

static struct pr_slice *
slice_at(struct tp_request *req, const struct field *f)
{
    return (struct pr_slice *)((char *)req + f->offset);
}

static const struct pr_slice *
cslice_at(const struct tp_request *req, const struct field *f)
{
    return (const struct pr_slice *)((const char *)req + f->offset);
}

static bool
status_valid(unsigned status)
{
    return status >= 100 && status <= 599;
}

void
tp_request_init(struct tp_request *req)
{
    memset(req, 0, sizeof(*req));
    req->version = TP_REQUEST_VERSION;
}

struct pr_slice
tp_slice_str(const char *s)
{
    struct pr_slice slice = { (const uint8_t *)s, s != NULL ? strlen(s) : 0 };
    return slice;
}

static bool
slice_equal(const struct pr_slice *a, const struct pr_slice *b)
{
    if ((a->data == NULL) != (b->data == NULL) || a->len != b->len)
        return false;
    return a->len == 0 || memcmp(a->data, b->data, a->len) == 0;
}

static bool
field_equal(const struct tp_request *a, const struct tp_request *b,
            const struct field *f)
{
    switch (f->type) {
    case FT_TEXT:
    case FT_BYTES:
        return slice_equal(cslice_at(a, f), cslice_at(b, f));
    case FT_STATUS:
        return a->status == b->status;
    case FT_LAYOUT_ITEM: {
        const struct tp_request_layout_item *x = &a->layout_item;
        const struct tp_request_layout_item *y = &b->layout_item;
        if (x->kind != y->kind)
            return false;
        /* NULL and "" both go out as an empty packet. */
        return x->kind == TP_LAYOUT_ITEM_NONE ||
               (x->value.len == y->value.len &&
                (x->value.len == 0 ||
                 memcmp(x->value.data, y->value.data, x->value.len) == 0));
    }
    case FT_WANT: {
        if (a->want_count != b->want_count)
            return false;
        size_t n = a->want_count < TP_REQUEST_MAX_WANT ? a->want_count
                                                       : TP_REQUEST_MAX_WANT;
        return n == 0 || memcmp(a->want, b->want, n * sizeof(a->want[0])) == 0;
    }
    case FT_FLAG:
        return a->path_exists == b->path_exists;
    }
    return false;
}

bool
tp_request_equal(const struct tp_request *a, const struct tp_request *b)
{
    if (a->version != b->version)
        return false;
    for (size_t i = 0; i < N_FIELDS; i++)
        if (!field_equal(a, b, &fields[i]))
            return false;
    return true;
}

/* ---- marshaller ---- */

static int
put_packet(struct pr_buf *out, uint16_t command, const void *payload,
           size_t len)
{
    uint8_t header[TP_HEADER_SIZE];
    pr_store_u16(header, (uint16_t)len);
    pr_store_u16(header + 2, command);
    int rc = pr_buf_reserve(out, sizeof(header) + len);
    if (rc < 0)
        return rc;
    /* Cannot fail after the reservation. */
    pr_buf_append(out, header, sizeof(header));
    pr_buf_append(out, payload, len);
    return 0;
}

/* Check a payload the marshaller is about to send: length, then shape. */
static int
check_out(const struct field *f, const uint8_t *data, size_t len,
          const char **error)
{
    if (len > TP_REQUEST_MAX_PAYLOAD) {
        *error = f->too_long;
        return -EINVAL;
    }
    if (tp_payload_check(field_kind(f), data, len) != NULL) {
        *error = f->malformed;
        return -EINVAL;
    }
    return 0;
}

static int
marshal_field(const struct tp_request *req, const struct field *f,
              struct pr_buf *out, const char **error)
{
    int rc;

    switch (f->type) {
    case FT_TEXT:
    case FT_BYTES: {
        const struct pr_slice *s = cslice_at(req, f);
        if (s->data == NULL)
            return 0;
        rc = check_out(f, s->data, s->len, error);
        return rc < 0 ? rc : put_packet(out, f->command, s->data, s->len);
    }

    case FT_STATUS: {
        if (req->status == 0)
            return 0;
        if (!status_valid(req->status)) {
            *error = f->malformed;
            return -EINVAL;
        }
        uint8_t payload[2];
        pr_store_u16(payload, req->status);
        return put_packet(out, f->command, payload, sizeof(payload));
    }

    case FT_LAYOUT_ITEM: {
        const struct tp_request_layout_item *item = &req->layout_item;
        switch (item->kind) {
        case TP_LAYOUT_ITEM_NONE:
            return 0;
        case TP_LAYOUT_ITEM_URI:
            /* Without the request URI before it, the parser would take
             * this packet for the request URI. */
            if (req->uri.data == NULL) {
                *error = "layout item URI needs the request URI";
                return -EINVAL;
            }
            break;
        case TP_LAYOUT_ITEM_BASE:
        case TP_LAYOUT_ITEM_REGEX:
            break;
        default:
            *error = "layout item of an invalid kind";
            return -EINVAL;
        }
        if (req->layout.data == NULL) {
            *error = "layout item without LAYOUT";
            return -EINVAL;
        }
        rc = check_out(f, item->value.data, item->value.len, error);
        return rc < 0 ? rc
                      : put_packet(out, (uint16_t)item->kind,
                                   item->value.data, item->value.len);
    }

    case FT_WANT: {
        if (req->want_count == 0)
            return 0;
        if (req->want_count > TP_REQUEST_MAX_WANT) {
            *error = f->malformed;
            return -EINVAL;
        }
        uint8_t payload[2 * TP_REQUEST_MAX_WANT];
        for (size_t i = 0; i < req->want_count; i++)
            pr_store_u16(payload + 2 * i, req->want[i]);
        return put_packet(out, f->command, payload, 2 * req->want_count);
    }

    case FT_FLAG:
        return req->path_exists ? put_packet(out, f->command, NULL, 0) : 0;
    }
    return 0;
}

int
tp_request_marshal(const struct tp_request *req, struct pr_buf *out,
                   const char **error)
{
    const char *dummy;
    if (error == NULL)
        error = &dummy;

    const size_t start = out->len;
    int rc = put_packet(out, TP_CMD_BEGIN, &req->version, 1);
    for (size_t i = 0; rc == 0 && i < N_FIELDS; i++)
        rc = marshal_field(req, &fields[i], out, error);
    if (rc == 0)
        rc = put_packet(out, TP_CMD_END, NULL, 0);

    if (rc < 0) {
        if (rc == -ENOMEM)
            *error = "out of memory";
        out->len = start;
    }
    return rc;
}

/* ---- parser ---- */

enum { PS_BEGIN = 1, PS_BODY, PS_DONE, PS_ERROR };

static enum tp_request_status
parse_fail(struct tp_request_parser *p, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static enum tp_request_status
parse_fail(struct tp_request_parser *p, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->error, sizeof(p->error), fmt, ap);
    va_end(ap);
    p->state = PS_ERROR;
    p->code = code;
    return TP_REQUEST_ERROR;
}

void
tp_request_parser_init(struct tp_request_parser *p, struct tp_request *req,
                       struct pr_arena *arena)
{
    memset(p, 0, sizeof(*p));
    memset(req, 0, sizeof(*req));
    p->req = req;
    p->arena = arena;
    p->state = PS_BEGIN;
}

const char *
tp_request_parser_error(const struct tp_request_parser *p)
{
    return p->error;
}

/* The field a packet fills; the layout item is never found this way (its
 * command is not its own, and 0 must stay an unknown packet). */
static const struct field *
find_field(uint16_t command)
{
    for (size_t i = 0; i < N_FIELDS; i++)
        if (fields[i].type != FT_LAYOUT_ITEM && fields[i].command == command)
            return &fields[i];
    return NULL;
}

static const struct field *
layout_item_field(void)
{
    for (size_t i = 0; i < N_FIELDS; i++)
        if (fields[i].type == FT_LAYOUT_ITEM)
            return &fields[i];
    return NULL;
}

/* Copy a payload into the arena (with a NUL after it). */
static enum tp_request_status
copy_payload(struct tp_request_parser *p, const struct tp_packet *pkt,
             struct pr_slice *dest)
{
    char *copy = pr_arena_strndup(p->arena, pkt->payload, pkt->length);
    if (copy == NULL)
        return parse_fail(p, -ENOMEM, "out of memory for a %u-byte %s packet",
                          (unsigned)pkt->length,
                          tp_command_name(pkt->command));
    dest->data = (const uint8_t *)copy;
    dest->len = pkt->length;
    return TP_REQUEST_NEED_MORE;
}

static enum tp_request_status
duplicate(struct tp_request_parser *p, uint16_t command)
{
    return parse_fail(p, -EINVAL, "duplicate %s packet in request",
                      tp_command_name(command));
}

static enum tp_request_status
store_field(struct tp_request_parser *p, const struct field *f,
            const struct tp_packet *pkt)
{
    struct tp_request *req = p->req;
    const char *bad = tp_payload_check(field_kind(f), pkt->payload,
                                       pkt->length);
    if (bad != NULL)
        return parse_fail(p, -EINVAL, "malformed %s packet in request: %s",
                          tp_command_name(pkt->command), bad);

    switch (f->type) {
    case FT_TEXT:
    case FT_BYTES: {
        struct pr_slice *s = slice_at(req, f);
        if (s->data != NULL)
            return duplicate(p, pkt->command);
        return copy_payload(p, pkt, s);
    }

    case FT_STATUS: {
        if (req->status != 0)
            return duplicate(p, pkt->command);
        uint16_t status = pr_load_u16(pkt->payload);
        if (!status_valid(status))
            return parse_fail(p, -EINVAL,
                              "malformed STATUS packet in request: %u is "
                              "not an HTTP status (100..599)",
                              (unsigned)status);
        req->status = status;
        return TP_REQUEST_NEED_MORE;
    }

    case FT_LAYOUT_ITEM:
        /* Only reached directly after LAYOUT, which cannot repeat. */
        req->layout_item.kind = (enum tp_layout_item_kind)pkt->command;
        return copy_payload(p, pkt, &req->layout_item.value);

    case FT_WANT: {
        if (req->want_count != 0)
            return duplicate(p, pkt->command);
        size_t n = pkt->length / 2;
        if (n > TP_REQUEST_MAX_WANT)
            return parse_fail(p, -EINVAL,
                              "malformed WANT packet in request: %zu "
                              "commands (at most %d)",
                              n, TP_REQUEST_MAX_WANT);
        for (size_t i = 0; i < n; i++)
            req->want[i] = pr_load_u16(pkt->payload + 2 * i);
        req->want_count = n;
        return TP_REQUEST_NEED_MORE;
    }

    case FT_FLAG:
        if (req->path_exists)
            return duplicate(p, pkt->command);
        req->path_exists = true;
        return TP_REQUEST_NEED_MORE;
    }
    return parse_fail(p, -EINVAL, "internal error");
}

/* A packet that is neither BEGIN/END nor a field: say why it is wrong. */
static enum tp_request_status
refuse(struct tp_request_parser *p, uint16_t command)
{
    const struct tp_command_info *info = tp_command_info(command);
    const char *name = tp_command_name(command);

    if (info == NULL)
        return parse_fail(p, -EINVAL, "unknown packet %u in request",
                          (unsigned)command);
    if (command == TP_CMD_BASE || command == TP_CMD_REGEX)
        return parse_fail(p, -EINVAL,
                          "misplaced %s packet in request (a layout item "
                          "must follow LAYOUT)",
                          name);
    if (info->direction == TP_DIR_R)
        return parse_fail(p, -EINVAL,
                          "response-only packet %s in request", name);
    return parse_fail(p, -EINVAL, "unsupported packet %s in request", name);
}

/* Is this packet the layout item that mirrors the matching LAYOUT item?
 * It must follow LAYOUT directly; a URI there is the item only when the
 * request URI came before (§1.5.1: "two URI packets"). */
static bool
is_layout_item(const struct tp_request_parser *p, uint16_t command)
{
    if (p->previous != TP_CMD_LAYOUT)
        return false;
    return command == TP_CMD_BASE || command == TP_CMD_REGEX ||
           (command == TP_CMD_URI && p->req->uri.data != NULL);
}

static enum tp_request_status
interpret(struct tp_request_parser *p, const struct tp_packet *pkt)
{
    const uint16_t command = pkt->command;
    const char *bad;

    switch (p->state) {
    case PS_BEGIN:
        if (command != TP_CMD_BEGIN) {
            if (tp_command_info(command) == NULL)
                return parse_fail(p, -EINVAL,
                                  "request does not start with BEGIN "
                                  "(got packet %u)",
                                  (unsigned)command);
            return parse_fail(p, -EINVAL,
                              "request does not start with BEGIN (got %s)",
                              tp_command_name(command));
        }
        bad = tp_payload_check(TP_PL_U8_OPT, pkt->payload, pkt->length);
        if (bad != NULL)
            return parse_fail(p, -EINVAL,
                              "malformed BEGIN packet in request: %s", bad);
        p->req->version = pkt->length > 0 ? pkt->payload[0] : 0;
        p->state = PS_BODY;
        return TP_REQUEST_NEED_MORE;

    case PS_DONE:
        if (tp_command_info(command) == NULL)
            return parse_fail(p, -EINVAL, "packet %u after END",
                              (unsigned)command);
        return parse_fail(p, -EINVAL, "%s packet after END",
                          tp_command_name(command));
    }

    if (command == TP_CMD_BEGIN)
        return duplicate(p, command);
    if (command == TP_CMD_END) {
        bad = tp_payload_check(TP_PL_NONE, pkt->payload, pkt->length);
        if (bad != NULL)
            return parse_fail(p, -EINVAL,
                              "malformed END packet in request: %s", bad);
        p->state = PS_DONE;
        return TP_REQUEST_DONE;
    }

    const struct field *f = is_layout_item(p, command) ? layout_item_field()
                                                       : find_field(command);
    if (f == NULL)
        return refuse(p, command);
    return store_field(p, f, pkt);
}

enum tp_request_status
tp_request_parser_feed(struct tp_request_parser *p,
                       const struct tp_packet *pkt)
{
    if (p->state == PS_ERROR)
        return TP_REQUEST_ERROR;
    enum tp_request_status status = interpret(p, pkt);
    p->previous = pkt->command;
    return status;
}

static int
parse_error(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
parse_error(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pr_verrf(err, errlen, fmt, ap);
    va_end(ap);
    return code;
}

int
tp_request_parse(const uint8_t *data, size_t len, struct tp_request *req,
                 struct pr_arena *arena, char *err, size_t errlen)
{
    struct tp_reader reader;
    struct tp_request_parser parser;
    tp_reader_init(&reader, TP_MAX_PAYLOAD);
    tp_request_parser_init(&parser, req, arena);

    size_t pos = 0;
    int rc;
    for (;;) {
        if (pos == len) {
            if (tp_reader_finish(&reader) < 0)
                rc = parse_error(err, errlen, -EINVAL,
                                 "request ended before END: %s",
                                 tp_reader_error(&reader));
            else
                rc = parse_error(err, errlen, -EINVAL,
                                 "request ended before END");
            break;
        }

        size_t used;
        struct tp_packet pkt;
        enum tp_reader_status st =
            tp_reader_feed(&reader, data + pos, len - pos, &used, &pkt);
        if (st == TP_READER_ERROR) {
            rc = parse_error(err, errlen, -EINVAL, "%s",
                             tp_reader_error(&reader));
            break;
        }
        pos += used;
        if (st == TP_READER_NEED_MORE)
            continue;

        enum tp_request_status status = tp_request_parser_feed(&parser, &pkt);
        if (status == TP_REQUEST_ERROR) {
            rc = parse_error(err, errlen, parser.code, "%s",
                             tp_request_parser_error(&parser));
            break;
        }
        if (status == TP_REQUEST_DONE) {
            rc = pos == len ? 0
                            : parse_error(err, errlen, -EINVAL,
                                          "trailing data after END (%zu bytes)",
                                          len - pos);
            break;
        }
    }

    tp_reader_destroy(&reader);
    return rc;
}
