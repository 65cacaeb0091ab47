#include "was_protocol.h"

#include "h1_chars.h"
#include "pr_internal.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Tables                                                              */

static const struct was_command_info was_commands[WAS_CMD_MAX + 1] = {
#define WAS_X_INFO(num, cname, cdir, crule)                                 \
    [num] = { .number = num, .direction = WAS_DIR_##cdir,                  \
              .rule = WAS_PL_##crule, .name = #cname },
    WAS_COMMANDS(WAS_X_INFO)
#undef WAS_X_INFO
};

#define WAS_X_ONE(num, cname, cdir, crule) +1
_Static_assert(0 WAS_COMMANDS(WAS_X_ONE) == WAS_COMMAND_COUNT,
               "WAS_COMMAND_COUNT does not match WAS_COMMANDS");
#undef WAS_X_ONE

const struct was_command_info *
was_command_info(uint16_t number)
{
    if (number > WAS_CMD_MAX || was_commands[number].name == NULL)
        return NULL;
    return &was_commands[number];
}

const char *
was_command_name(uint16_t number)
{
    const struct was_command_info *info = was_command_info(number);
    return info != NULL ? info->name : "?";
}

static const char *const method_names[] = {
#define WAS_X_MNAME(num, name) [num] = #name,
    WAS_METHODS(WAS_X_MNAME)
#undef WAS_X_MNAME
};

#define METHOD_MAX (sizeof(method_names) / sizeof(method_names[0]) - 1)

const char *
was_method_name(uint32_t method)
{
    if (method == 0 || method > METHOD_MAX)
        return NULL;
    return method_names[method];
}

enum was_method
was_method_from_name(const char *name, size_t len)
{
    for (uint32_t m = 1; m <= METHOD_MAX; m++)
        if (strlen(method_names[m]) == len &&
            memcmp(method_names[m], name, len) == 0)
            return (enum was_method)m;
    return WAS_METHOD_NONE;
}

/* ------------------------------------------------------------------ */
/* Payload checks                                                      */

static int
errf(char *err, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
errf(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pr_verrf(err, size, fmt, ap);
    va_end(ap);
    return -1;
}

static const char *
plural(size_t n)
{
    return n == 1 ? "" : "s";
}

static bool
is_metric_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_';
}

static int
check_pair(uint16_t command, const char *name, const uint8_t *p, size_t len,
           struct was_packet *pkt, char *err, size_t err_size)
{
    const uint8_t *eq = len > 0 ? memchr(p, '=', len) : NULL;
    if (eq == NULL)
        return errf(err, err_size, "%s: no '=' in the payload", name);
    size_t nlen = (size_t)(eq - p);
    if (nlen == 0)
        return errf(err, err_size, "%s: empty name", name);
    const uint8_t *nul = memchr(p, '\0', len);
    if (nul != NULL)
        return errf(err, err_size, "%s: NUL byte at offset %zu", name,
                    (size_t)(nul - p));
    if (command == WAS_CMD_HEADER) {
        for (size_t i = 0; i < nlen; i++)
            if (!h1_is_tchar(p[i]))
                return errf(err, err_size,
                            "HEADER: invalid character 0x%02x in the name",
                            (unsigned)p[i]);
        for (size_t i = nlen + 1; i < len; i++)
            if ((p[i] < 0x20 && p[i] != '\t') || p[i] == 0x7f)
                return errf(err, err_size,
                            "HEADER: control character 0x%02x in the value",
                            (unsigned)p[i]);
    }
    pkt->name = (struct pr_slice){ p, nlen };
    pkt->value = (struct pr_slice){ eq + 1, len - nlen - 1 };
    return 0;
}

_Static_assert(sizeof(float) == 4, "METRIC values are 32-bit floats");

static const uint8_t empty_payload[1];

int
was_packet_check(enum was_side side, uint16_t command,
                 const uint8_t *payload, size_t len, struct was_packet *pkt,
                 char *err, size_t err_size)
{
    memset(pkt, 0, sizeof(*pkt));
    pkt->command = command;
    pkt->payload = (struct pr_slice){ len > 0 ? payload : empty_payload,
                                      len };
    payload = pkt->payload.data;
    if (err != NULL && err_size > 0)
        err[0] = '\0';

    const struct was_command_info *info = was_command_info(command);
    if (info == NULL)
        return errf(err, err_size, "unknown command %u", (unsigned)command);
    const char *name = info->name;
    bool from_app = side == WAS_SIDE_CONTAINER;
    if (info->direction == (from_app ? WAS_DIR_C2A : WAS_DIR_A2C))
        return errf(err, err_size, "%s packet from the %s", name,
                    from_app ? "application" : "container");

    switch (info->rule) {
    case WAS_PL_ANY:
        return 0;

    case WAS_PL_EMPTY:
        if (len != 0)
            return errf(err, err_size,
                        "%s: payload must be empty, got %zu byte%s", name,
                        len, plural(len));
        return 0;

    case WAS_PL_INT: {
        if (len == 2)
            pkt->number = pr_load_u16(payload);
        else if (len == 4)
            pkt->number = pr_load_u32(payload);
        else
            return errf(err, err_size,
                        "%s: payload must be 2 or 4 bytes, got %zu", name,
                        len);
        if (command == WAS_CMD_STATUS &&
            (pkt->number < 200 || pkt->number > 599))
            return errf(err, err_size,
                        "STATUS %lu is not a final HTTP status (200..599)",
                        (unsigned long)pkt->number);
        if (command == WAS_CMD_METHOD && was_method_name(pkt->number) == NULL)
            return errf(err, err_size,
                        "METHOD %lu is not a known method (1..%u)",
                        (unsigned long)pkt->number, (unsigned)METHOD_MAX);
        return 0;
    }

    case WAS_PL_STR: {
        const uint8_t *nul = len > 0 ? memchr(payload, '\0', len) : NULL;
        if (nul != NULL)
            return errf(err, err_size, "%s: NUL byte at offset %zu", name,
                        (size_t)(nul - payload));
        return 0;
    }

    case WAS_PL_PAIR:
        if (command == WAS_CMD_HEADER && from_app &&
            len > WAS_MAX_HEADER_PAYLOAD)
            return errf(err, err_size,
                        "HEADER: payload of %zu bytes over the limit of %u",
                        len, (unsigned)WAS_MAX_HEADER_PAYLOAD);
        return check_pair(command, name, payload, len, pkt, err, err_size);

    case WAS_PL_U64:
        if (len != 8)
            return errf(err, err_size,
                        "%s: payload must be 8 bytes, got %zu", name, len);
        pkt->u64 = pr_load_u64(payload);
        if (pkt->u64 > (uint64_t)INT64_MAX)
            return errf(err, err_size, "%s %llu is over 2^63-1", name,
                        (unsigned long long)pkt->u64);
        return 0;

    case WAS_PL_METRIC:
        if (!from_app) {
            if (len != 0)
                return errf(err, err_size,
                            "METRIC: payload from the container must be "
                            "empty, got %zu byte%s", len, plural(len));
            return 0;
        }
        if (len < 5)
            return errf(err, err_size,
                        "METRIC: payload must be 4 bytes of value and a "
                        "name, got %zu byte%s", len, plural(len));
        if (len - 4 > WAS_MAX_METRIC_NAME)
            return errf(err, err_size,
                        "METRIC: name of %zu characters over the limit "
                        "of %u", len - 4, (unsigned)WAS_MAX_METRIC_NAME);
        for (size_t i = 4; i < len; i++)
            if (!is_metric_char(payload[i]))
                return errf(err, err_size,
                            "METRIC: invalid character 0x%02x in the name",
                            (unsigned)payload[i]);
        memcpy(&pkt->metric, payload, sizeof(pkt->metric));
        if (!isfinite(pkt->metric))
            return errf(err, err_size, "METRIC: value is not finite");
        pkt->name = (struct pr_slice){ payload + 4, len - 4 };
        return 0;
    }
    return errf(err, err_size, "%s: no payload rule", name);
}

/* ------------------------------------------------------------------ */
/* Reader                                                              */

enum { ST_READING, ST_ERROR };

void
was_reader_init(struct was_reader *r, enum was_side side, size_t max_payload)
{
    memset(r, 0, sizeof(*r));
    r->side = side;
    if (max_payload == 0 || max_payload > WAS_MAX_PAYLOAD)
        max_payload = WAS_MAX_PAYLOAD;
    pr_frame_init(&r->frame, max_payload);
    r->state = ST_READING;
}

void
was_reader_destroy(struct was_reader *r)
{
    pr_frame_destroy(&r->frame);
}

static enum was_reader_status
fail(struct was_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum was_reader_status
fail(struct was_reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof(r->error), fmt, ap);
    va_end(ap);
    r->state = ST_ERROR;
    return WAS_READER_ERROR;
}

/* A command for a message: its name, or "command N". */
static const char *
label(uint16_t command, char *buf, size_t size)
{
    if (was_command_info(command) != NULL)
        return was_command_name(command);
    snprintf(buf, size, "command %u", (unsigned)command);
    return buf;
}

enum was_reader_status
was_reader_feed(struct was_reader *r, const uint8_t *data, size_t len,
                size_t *consumed, struct was_packet *pkt)
{
    *consumed = 0;
    if (r->state == ST_ERROR)
        return WAS_READER_ERROR;
    if (len == 0)
        return WAS_READER_NEED_MORE;

    uint16_t command, length;
    const uint8_t *payload;
    char buf[24];
    switch (pr_frame_feed(&r->frame, data, len, consumed, &command, &length,
                          &payload)) {
    case PR_FRAME_PACKET:
        if (was_packet_check(r->side, command, payload, length, pkt,
                             r->error, sizeof(r->error)) != 0) {
            r->state = ST_ERROR;
            return WAS_READER_ERROR;
        }
        return WAS_READER_PACKET;
    case PR_FRAME_NEED_MORE:
        return WAS_READER_NEED_MORE;
    case PR_FRAME_OVER_LIMIT:
        return fail(r, "%s: payload of %u bytes over the limit of %zu",
                    label(command, buf, sizeof(buf)), (unsigned)length,
                    r->frame.max_payload);
    case PR_FRAME_NO_MEMORY:
    default:
        return fail(r, "out of memory for a %u-byte payload",
                    (unsigned)length);
    }
}

bool
was_reader_idle(const struct was_reader *r)
{
    return r->state == ST_READING && pr_frame_idle(&r->frame);
}

int
was_reader_finish(struct was_reader *r)
{
    if (r->state == ST_ERROR)
        return -1;
    char buf[24];
    if (!pr_frame_finish_error(&r->frame,
                               label(pr_frame_command(&r->frame), buf,
                                     sizeof(buf)),
                               r->error, sizeof(r->error)))
        return 0;
    r->state = ST_ERROR;
    return -1;
}

const char *
was_reader_error(const struct was_reader *r)
{
    return r->error;
}

/* ------------------------------------------------------------------ */
/* Encoders                                                            */

int
was_append_packet(struct pr_buf *out, uint16_t command, const void *payload,
                  size_t len)
{
    if (len > WAS_MAX_PAYLOAD)
        return -EMSGSIZE;
    int r = pr_buf_reserve(out, WAS_HEADER_SIZE + len);
    if (r != 0)
        return r;
    uint8_t *p = out->data + out->len;
    pr_store_u16(p, (uint16_t)len);
    pr_store_u16(p + 2, command);
    if (len > 0)
        memcpy(p + WAS_HEADER_SIZE, payload, len);
    out->len += WAS_HEADER_SIZE + len;
    return 0;
}

int
was_append_empty(struct pr_buf *out, enum was_command command)
{
    return was_append_packet(out, (uint16_t)command, NULL, 0);
}

static int
append_u32(struct pr_buf *out, enum was_command command, uint32_t v)
{
    uint8_t b[4];
    memcpy(b, &v, sizeof(b));
    return was_append_packet(out, (uint16_t)command, b, sizeof(b));
}

int
was_append_method(struct pr_buf *out, enum was_method method)
{
    if (was_method_name((uint32_t)method) == NULL)
        return -EINVAL;
    return append_u32(out, WAS_CMD_METHOD, (uint32_t)method);
}

int
was_append_status(struct pr_buf *out, unsigned status)
{
    if (status < 200 || status > 599)
        return -EINVAL;
    return append_u32(out, WAS_CMD_STATUS, status);
}

int
was_append_string(struct pr_buf *out, enum was_command command,
                  const void *str, size_t len)
{
    const struct was_command_info *info = was_command_info(
        (uint16_t)command);
    if (info == NULL || info->rule != WAS_PL_STR)
        return -EINVAL;
    if (len > 0 && memchr(str, '\0', len) != NULL)
        return -EINVAL;
    return was_append_packet(out, (uint16_t)command, str, len);
}

int
was_append_pair(struct pr_buf *out, enum was_command command,
                const void *name, size_t name_len, const void *value,
                size_t value_len)
{
    if (command != WAS_CMD_HEADER && command != WAS_CMD_PARAMETER)
        return -EINVAL;
    if (name_len == 0 || memchr(name, '=', name_len) != NULL ||
        memchr(name, '\0', name_len) != NULL ||
        (value_len > 0 && memchr(value, '\0', value_len) != NULL))
        return -EINVAL;
    if (name_len > WAS_MAX_PAYLOAD || value_len > WAS_MAX_PAYLOAD - 1 -
                                                      name_len)
        return -EMSGSIZE;
    size_t len = name_len + 1 + value_len;
    int r = pr_buf_reserve(out, WAS_HEADER_SIZE + len);
    if (r != 0)
        return r;
    uint8_t *p = out->data + out->len;
    pr_store_u16(p, (uint16_t)len);
    pr_store_u16(p + 2, (uint16_t)command);
    memcpy(p + WAS_HEADER_SIZE, name, name_len);
    p[WAS_HEADER_SIZE + name_len] = '=';
    if (value_len > 0)
        memcpy(p + WAS_HEADER_SIZE + name_len + 1, value, value_len);
    out->len += WAS_HEADER_SIZE + len;
    return 0;
}

int
was_append_u64(struct pr_buf *out, enum was_command command, uint64_t value)
{
    if ((command != WAS_CMD_LENGTH && command != WAS_CMD_PREMATURE) ||
        value > (uint64_t)INT64_MAX)
        return -EINVAL;
    uint8_t b[8];
    memcpy(b, &value, sizeof(b));
    return was_append_packet(out, (uint16_t)command, b, sizeof(b));
}

int
was_append_metric(struct pr_buf *out, const char *name, size_t name_len,
                  float value)
{
    if (name_len == 0 || name_len > WAS_MAX_METRIC_NAME || !isfinite(value))
        return -EINVAL;
    for (size_t i = 0; i < name_len; i++)
        if (!is_metric_char((uint8_t)name[i]))
            return -EINVAL;
    uint8_t b[4 + WAS_MAX_METRIC_NAME];
    memcpy(b, &value, 4);
    memcpy(b + 4, name, name_len);
    return was_append_packet(out, WAS_CMD_METRIC, b, 4 + name_len);
}
