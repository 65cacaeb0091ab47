#include "fcgi_codec.h"

#include "pr_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const type_names[] = {
#define FCGI_X_NAME(num, name) [num] = #name,
    FCGI_RECORD_TYPES(FCGI_X_NAME)
#undef FCGI_X_NAME
};

const char *
fcgi_type_name(uint8_t type)
{
    if (type < sizeof(type_names) / sizeof(type_names[0]) &&
        type_names[type] != NULL)
        return type_names[type];
    return "?";
}

/* ------------------------------------------------------------------ */
/* Encoders                                                            */

void
fcgi_header_write(uint8_t *out, uint8_t type, uint16_t request_id,
                  uint16_t content_length, uint8_t padding_length)
{
    out[0] = FCGI_VERSION;
    out[1] = type;
    pr_store_be16(out + 2, request_id);
    pr_store_be16(out + 4, content_length);
    out[6] = padding_length;
    out[7] = 0;
}

/* Write one record at the end of `out`, whose room the caller reserved. */
static void
put_record(struct pr_buf *out, uint8_t type, uint16_t request_id,
           const void *content, size_t len, unsigned flags)
{
    uint8_t pad = (flags & FCGI_ENC_PAD) ? fcgi_padding(len) : 0;
    uint8_t *p = out->data + out->len;
    fcgi_header_write(p, type, request_id, (uint16_t)len, pad);
    if (len > 0)
        memcpy(p + FCGI_HEADER_SIZE, content, len);
    memset(p + FCGI_HEADER_SIZE + len, 0, pad);
    out->len += FCGI_HEADER_SIZE + len + pad;
}

int
fcgi_append_record(struct pr_buf *out, uint8_t type, uint16_t request_id,
                   const void *content, size_t len, unsigned flags)
{
    if (len > FCGI_MAX_CONTENT)
        return -EMSGSIZE;
    int r = pr_buf_reserve(out, FCGI_HEADER_SIZE + len + 7);
    if (r != 0)
        return r;
    put_record(out, type, request_id, content, len, flags);
    return 0;
}

int
fcgi_append_begin_request(struct pr_buf *out, uint16_t request_id,
                          enum fcgi_role role, uint8_t begin_flags)
{
    if (request_id == FCGI_NULL_REQUEST_ID)
        return -EINVAL;
    uint8_t body[8] = { 0 };
    pr_store_be16(body, (uint16_t)role);
    body[2] = begin_flags;
    return fcgi_append_record(out, FCGI_BEGIN_REQUEST, request_id, body,
                              sizeof(body), 0);
}

int
fcgi_append_abort_request(struct pr_buf *out, uint16_t request_id)
{
    if (request_id == FCGI_NULL_REQUEST_ID)
        return -EINVAL;
    return fcgi_append_record(out, FCGI_ABORT_REQUEST, request_id, NULL, 0,
                              0);
}

int
fcgi_append_end_request(struct pr_buf *out, uint16_t request_id,
                        uint32_t app_status, uint8_t protocol_status)
{
    uint8_t body[8] = { 0 };
    pr_store_be32(body, app_status);
    body[4] = protocol_status;
    return fcgi_append_record(out, FCGI_END_REQUEST, request_id, body,
                              sizeof(body), 0);
}

static bool
is_stream_type(uint8_t type)
{
    return type == FCGI_PARAMS || type == FCGI_STDIN || type == FCGI_DATA ||
           type == FCGI_STDOUT || type == FCGI_STDERR;
}

int
fcgi_append_stream(struct pr_buf *out, uint8_t type, uint16_t request_id,
                   const void *data, size_t len, unsigned flags)
{
    if (!is_stream_type(type))
        return -EINVAL;
    if (len == 0)
        return 0;
    size_t records = (len + FCGI_MAX_CONTENT - 1) / FCGI_MAX_CONTENT;
    if (records > (SIZE_MAX - len) / (FCGI_HEADER_SIZE + 7))
        return -ENOMEM;
    int r = pr_buf_reserve(out, len + records * (FCGI_HEADER_SIZE + 7));
    if (r != 0)
        return r;
    const uint8_t *p = data;
    while (len > 0) {
        size_t n = len < FCGI_MAX_CONTENT ? len : FCGI_MAX_CONTENT;
        put_record(out, type, request_id, p, n, flags);
        p += n;
        len -= n;
    }
    return 0;
}

int
fcgi_append_stream_end(struct pr_buf *out, uint8_t type,
                       uint16_t request_id)
{
    if (!is_stream_type(type))
        return -EINVAL;
    return fcgi_append_record(out, type, request_id, NULL, 0, 0);
}

static void
put_nv_length(uint8_t **p, size_t n)
{
    if (n < 128) {
        *(*p)++ = (uint8_t)n;
    } else {
        pr_store_be32(*p, (uint32_t)n | 0x80000000u);
        *p += 4;
    }
}

int
fcgi_nv_append(struct pr_buf *out, const void *name, size_t name_len,
               const void *value, size_t value_len)
{
    if (name_len > FCGI_MAX_NV_LENGTH || value_len > FCGI_MAX_NV_LENGTH)
        return -EMSGSIZE;
    int r = pr_buf_reserve(out, 8 + name_len + value_len);
    if (r != 0)
        return r;
    uint8_t *p = out->data + out->len;
    put_nv_length(&p, name_len);
    put_nv_length(&p, value_len);
    if (name_len > 0)
        memcpy(p, name, name_len);
    p += name_len;
    if (value_len > 0)
        memcpy(p, value, value_len);
    p += value_len;
    out->len = (size_t)(p - out->data);
    return 0;
}

int
fcgi_append_pairs(struct pr_buf *out, uint8_t type, uint16_t request_id,
                  const struct fcgi_pair *pairs, size_t n, unsigned flags)
{
    if (type != FCGI_PARAMS && type != FCGI_GET_VALUES)
        return -EINVAL;
    struct pr_buf body = PR_BUF_INIT;
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++)
        r = fcgi_nv_append(&body, pairs[i].name.data, pairs[i].name.len,
                           pairs[i].value.data, pairs[i].value.len);
    size_t old_len = out->len;
    if (r == 0) {
        if (type == FCGI_GET_VALUES) {
            r = fcgi_append_record(out, type, request_id, body.data,
                                   body.len, flags);
        } else {
            r = fcgi_append_stream(out, type, request_id, body.data,
                                   body.len, flags);
            if (r == 0)
                r = fcgi_append_stream_end(out, type, request_id);
        }
    }
    if (r != 0)
        out->len = old_len;
    pr_buf_free(&body);
    return r;
}

/* ------------------------------------------------------------------ */
/* Name-value pair decoder                                             */

/* One length at data[*pos..len): one byte below 128, else four (u32 BE,
 * high bit set).  Returns 0, or -1 when it is truncated. */
static int
get_nv_length(const uint8_t *data, size_t len, size_t *pos, size_t *out)
{
    if (*pos >= len)
        return -1;
    if (data[*pos] < 128) {
        *out = data[(*pos)++];
        return 0;
    }
    if (len - *pos < 4)
        return -1;
    *out = pr_load_be32(data + *pos) & 0x7fffffffu;
    *pos += 4;
    return 0;
}

int
fcgi_nv_next(const uint8_t *data, size_t len, size_t *pos,
             struct fcgi_pair *pair, char *err, size_t err_size)
{
    pr_errf(err, err_size, "%s", "");
    if (*pos >= len)
        return 0;
    size_t start = *pos, p = *pos, nlen = 0, vlen = 0;
    if (get_nv_length(data, len, &p, &nlen) != 0) {
        pr_errf(err, err_size,
                "name-value pair at offset %zu: name length truncated", start);
        return -EBADMSG;
    }
    if (get_nv_length(data, len, &p, &vlen) != 0) {
        pr_errf(err, err_size,
                "name-value pair at offset %zu: value length truncated", start);
        return -EBADMSG;
    }
    if (nlen > len - p || vlen > len - p - nlen) {
        pr_errf(err, err_size,
                "name-value pair at offset %zu: %zu name and %zu value bytes, "
                "only %zu left",
                start, nlen, vlen, len - p);
        return -EBADMSG;
    }
    pair->name = (struct pr_slice){ data + p, nlen };
    pair->value = (struct pr_slice){ data + p + nlen, vlen };
    *pos = p + nlen + vlen;
    return 1;
}

/* ------------------------------------------------------------------ */
/* Record decoder                                                      */

enum { ST_HEADER, ST_STREAM, ST_BODY, ST_PADDING, ST_DONE, ST_ERROR };

static const uint8_t empty[1];

void
fcgi_decoder_init(struct fcgi_decoder *d, uint16_t request_id)
{
    memset(d, 0, sizeof(*d));
    d->request_id = request_id;
    d->state = ST_HEADER;
}

static enum fcgi_decoder_status
fail(struct fcgi_decoder *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum fcgi_decoder_status
fail(struct fcgi_decoder *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->error, sizeof(d->error), fmt, ap);
    va_end(ap);
    d->state = ST_ERROR;
    return FCGI_DEC_ERROR;
}

static uint8_t
cur_type(const struct fcgi_decoder *d)
{
    return d->header[1];
}

static uint16_t
cur_content_length(const struct fcgi_decoder *d)
{
    return pr_load_be16(d->header + 4);
}

/* A message label for a record type: its name or "type N". */
static const char *
type_label(uint8_t type, char *buf, size_t size)
{
    const char *name = fcgi_type_name(type);
    if (strcmp(name, "?") != 0)
        return name;
    snprintf(buf, size, "type %u", (unsigned)type);
    return buf;
}

/* Check a complete header and set up the record.  Returns 0 or an error
 * status. */
static enum fcgi_decoder_status
start_record(struct fcgi_decoder *d)
{
    const uint8_t *h = d->header;
    uint8_t type = h[1];
    uint16_t id = pr_load_be16(h + 2);
    uint16_t clen = pr_load_be16(h + 4);
    const char *name = fcgi_type_name(type);

    if (h[0] != FCGI_VERSION)
        return fail(d, "record version %u, expected %u", (unsigned)h[0],
                    (unsigned)FCGI_VERSION);
    if (strcmp(name, "?") == 0)
        return fail(d, "unknown record type %u", (unsigned)type);

    uint16_t want_id = d->request_id;
    switch (type) {
    case FCGI_STDOUT:
    case FCGI_STDERR:
    case FCGI_END_REQUEST:
        break;
    case FCGI_GET_VALUES_RESULT:
    case FCGI_UNKNOWN_TYPE:
        want_id = FCGI_NULL_REQUEST_ID;
        break;
    default:
        return fail(d, "%s record from the application", name);
    }
    if (id != want_id)
        return fail(d, "%s record for request id %u, expected %u", name,
                    (unsigned)id, (unsigned)want_id);

    d->content_left = clen;
    d->padding_left = h[6];
    d->body_fill = 0;
    switch (type) {
    case FCGI_STDOUT:
    case FCGI_STDERR: {
        bool *ended = type == FCGI_STDOUT ? &d->stdout_ended
                                          : &d->stderr_ended;
        if (*ended)
            return fail(d, "%s record after the end of %s", name, name);
        if (clen == 0)
            *ended = true;
        d->state = clen > 0 ? ST_STREAM : ST_PADDING;
        break;
    }
    case FCGI_END_REQUEST:
    case FCGI_UNKNOWN_TYPE:
        if (clen != 8)
            return fail(d, "%s record with %u content bytes, expected 8",
                        name, (unsigned)clen);
        d->state = ST_BODY;
        break;
    default: /* GET_VALUES_RESULT */
        if (clen > FCGI_MAX_MANAGEMENT)
            return fail(d, "%s record of %u content bytes over the limit "
                        "of %u", name, (unsigned)clen,
                        (unsigned)FCGI_MAX_MANAGEMENT);
        d->state = ST_BODY;
        break;
    }
    return 0;
}

/* The record (with its padding) is complete: the event it makes, if any. */
static enum fcgi_decoder_status
end_record(struct fcgi_decoder *d, struct fcgi_event *ev)
{
    uint8_t type = cur_type(d);
    d->state = ST_HEADER;
    d->header_fill = 0;
    memset(ev, 0, sizeof(*ev));
    ev->type = type;
    ev->data = (struct pr_slice){ empty, 0 };
    switch (type) {
    case FCGI_STDOUT:
        return cur_content_length(d) == 0 ? FCGI_DEC_STDOUT_END
                                          : FCGI_DEC_NEED_MORE;
    case FCGI_STDERR:
        return cur_content_length(d) == 0 ? FCGI_DEC_STDERR_END
                                          : FCGI_DEC_NEED_MORE;
    case FCGI_END_REQUEST:
        ev->app_status = pr_load_be32(d->body);
        ev->protocol_status = d->body[4];
        d->ended = true;
        d->state = ST_DONE;
        return FCGI_DEC_END_REQUEST;
    default:
        ev->data = (struct pr_slice){ d->body, d->body_fill };
        return FCGI_DEC_MANAGEMENT;
    }
}

enum fcgi_decoder_status
fcgi_decoder_feed(struct fcgi_decoder *d, const uint8_t *data, size_t len,
                  size_t *consumed, struct fcgi_event *ev)
{
    size_t pos = 0;
    *consumed = 0;
    if (d->state == ST_ERROR)
        return FCGI_DEC_ERROR;

    for (;;) {
        switch (d->state) {
        case ST_HEADER: {
            if (pos == len) {
                *consumed = pos;
                return FCGI_DEC_NEED_MORE;
            }
            if (!pr_fill(d->header, &d->header_fill, FCGI_HEADER_SIZE, data,
                         len, &pos))
                break;
            enum fcgi_decoder_status st = start_record(d);
            if (st != 0)
                return st;
            break;
        }

        case ST_STREAM: {
            if (pos == len) {
                *consumed = pos;
                return FCGI_DEC_NEED_MORE;
            }
            size_t n = d->content_left;
            if (n > len - pos)
                n = len - pos;
            memset(ev, 0, sizeof(*ev));
            ev->type = cur_type(d);
            ev->data = (struct pr_slice){ data + pos, n };
            if (ev->type == FCGI_STDOUT)
                d->stdout_bytes += n;
            else
                d->stderr_bytes += n;
            d->content_left -= n;
            pos += n;
            if (d->content_left == 0)
                d->state = ST_PADDING;
            *consumed = pos;
            return ev->type == FCGI_STDOUT ? FCGI_DEC_STDOUT
                                           : FCGI_DEC_STDERR;
        }

        case ST_BODY: {
            if (d->content_left > 0) {
                if (pos == len) {
                    *consumed = pos;
                    return FCGI_DEC_NEED_MORE;
                }
                size_t n = d->content_left;
                if (n > len - pos)
                    n = len - pos;
                memcpy(d->body + d->body_fill, data + pos, n);
                d->body_fill += n;
                d->content_left -= n;
                pos += n;
            }
            if (d->content_left == 0)
                d->state = ST_PADDING;
            break;
        }

        case ST_PADDING: {
            size_t n = d->padding_left;
            if (n > len - pos)
                n = len - pos;
            d->padding_left -= n;
            pos += n;
            if (d->padding_left > 0) {
                *consumed = pos;
                return FCGI_DEC_NEED_MORE;
            }
            enum fcgi_decoder_status st = end_record(d, ev);
            if (st != FCGI_DEC_NEED_MORE) {
                *consumed = pos;
                return st;
            }
            break;
        }

        case ST_DONE:
            if (pos == len) {
                *consumed = pos;
                return FCGI_DEC_NEED_MORE;
            }
            return fail(d, "data after END_REQUEST");

        default:
            return FCGI_DEC_ERROR;
        }
    }
}

bool
fcgi_decoder_done(const struct fcgi_decoder *d)
{
    return d->state == ST_DONE;
}

int
fcgi_decoder_finish(struct fcgi_decoder *d)
{
    char buf[16];
    const char *name = type_label(cur_type(d), buf, sizeof(buf));
    uint16_t clen = cur_content_length(d);
    switch (d->state) {
    case ST_DONE:
        return 0;
    case ST_HEADER:
        if (d->header_fill > 0)
            fail(d, "stream ended after %zu of %u header bytes",
                 d->header_fill, (unsigned)FCGI_HEADER_SIZE);
        else
            fail(d, "stream ended before END_REQUEST");
        return -1;
    case ST_STREAM:
    case ST_BODY:
        fail(d, "stream ended after %zu of %u content bytes (%s record)",
             (size_t)clen - d->content_left, (unsigned)clen, name);
        return -1;
    case ST_PADDING:
        fail(d, "stream ended after %zu of %u padding bytes (%s record)",
             (size_t)d->header[6] - d->padding_left,
             (unsigned)d->header[6], name);
        return -1;
    default:
        return -1;
    }
}

const char *
fcgi_decoder_error(const struct fcgi_decoder *d)
{
    return d->error;
}
