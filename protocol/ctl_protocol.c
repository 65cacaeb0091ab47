#include "ctl_protocol.h"

#include "pr_internal.h"
#include "tp_command.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* The command table                                                   */

static const struct ctl_command_info ctl_commands[CTL_CMD_MAX + 1] = {
#define CTL_X_INFO(num, cname, crule)                                       \
    [num] = { .number = num, .rule = CTL_PL_##crule, .name = #cname },
    CTL_COMMANDS(CTL_X_INFO)
#undef CTL_X_INFO
};

#define CTL_X_ONE(num, cname, crule) +1
_Static_assert(0 CTL_COMMANDS(CTL_X_ONE) == CTL_COMMAND_COUNT,
               "CTL_COMMAND_COUNT does not match CTL_COMMANDS");
#undef CTL_X_ONE

const struct ctl_command_info *
ctl_command_info(uint16_t number)
{
    if (number > CTL_CMD_MAX || ctl_commands[number].name == NULL)
        return NULL;
    return &ctl_commands[number];
}

const char *
ctl_command_name(uint16_t number)
{
    const struct ctl_command_info *info = ctl_command_info(number);
    return info != NULL ? info->name : "?";
}

/* ------------------------------------------------------------------ */
/* Messages                                                            */

static const char *
plural(size_t n)
{
    return n == 1 ? "" : "s";
}

/* A command for a message: its name, or "command N" when it has none. */
static const char *
label(char *buf, size_t size, const char *(*name_of)(uint16_t),
      uint16_t command)
{
    const char *name = name_of(command);
    if (strcmp(name, "?") != 0)
        return name;
    snprintf(buf, size, "command %u", (unsigned)command);
    return buf;
}

/* ------------------------------------------------------------------ */
/* Framing, shared by datagrams and TCACHE_INVALIDATE payloads          */

/*
 * Walk packets (u16 BE length, u16 BE command, payload, padding) over
 * p[0..len) and report the first framing problem.  `base` is added to
 * offsets in messages, `where` names the offset ("offset", "payload
 * offset").  When len is not a multiple of 4, every message starts with
 * odd[0], "<len> bytes", odd[1]: the spec's "odd" check comes first, the
 * rest of the message says where the packets stop fitting.  Sets *count
 * to the number of packets.
 */
static enum ctl_datagram_status
walk_frames(const uint8_t *p, size_t len, size_t base, const char *where,
            const char *(*name_of)(uint16_t), const char *const odd[2],
            size_t *count, char *err, size_t err_size)
{
    *count = 0;
    for (size_t pos = 0; pos < len;) {
        size_t left = len - pos;
        size_t plen = 0, pad = 0;
        uint16_t command = 0;
        enum ctl_datagram_status status = CTL_DGRAM_OK;
        if (left < CTL_HEADER_SIZE) {
            status = CTL_DGRAM_TRUNCATED_HEADER;
        } else {
            plen = pr_load_be16(p + pos);
            command = pr_load_be16(p + pos + 2);
            left -= CTL_HEADER_SIZE;
            pad = ctl_padding(plen);
            if (plen > left)
                status = CTL_DGRAM_TRUNCATED_PAYLOAD;
            else if (pad > left - plen)
                status = CTL_DGRAM_TRUNCATED_PADDING;
        }
        if (status == CTL_DGRAM_OK) {
            pos += CTL_HEADER_SIZE + plen + pad;
            ++*count;
            continue;
        }

        size_t n = len % 4 != 0
                       ? pr_errf(err, err_size, "%s%zu byte%s%s", odd[0], len,
                                 plural(len), odd[1])
                       : 0;
        char *e = err != NULL ? err + n : NULL;
        size_t es = err_size - n;
        char buf[24];
        const char *name = label(buf, sizeof(buf), name_of, command);
        if (status == CTL_DGRAM_TRUNCATED_HEADER)
            pr_errf(e, es, "truncated header at %s %zu (%zu of %d bytes)",
                    where, base + pos, left, CTL_HEADER_SIZE);
        else if (status == CTL_DGRAM_TRUNCATED_PAYLOAD)
            pr_errf(e, es,
                    "truncated payload at %s %zu: %s declares %zu bytes, "
                    "%zu follow",
                    where, base + pos + CTL_HEADER_SIZE, name, plen, left);
        else
            pr_errf(e, es,
                    "truncated padding at %s %zu: %zu of %zu padding bytes "
                    "after the %zu-byte %s payload",
                    where, base + pos + CTL_HEADER_SIZE + plen, left - plen,
                    pad, plen, name);
        return status;
    }
    return CTL_DGRAM_OK;
}

/* ------------------------------------------------------------------ */
/* TCACHE_INVALIDATE payload                                           */

enum tcache_kind {
    TC_STR = 1,     /* match value, text without NUL */
    TC_BYTES,       /* match value, opaque */
    TC_SITE,        /* filter */
    TC_CACHE_TAG,   /* filter */
};

static const struct {
    uint16_t command;
    enum tcache_kind kind;
} tcache_commands[] = {
    { TP_CMD_URI, TC_STR },
    { TP_CMD_PARAM, TC_STR },
    { TP_CMD_SESSION, TC_BYTES },
    { TP_CMD_REALM_SESSION, TC_BYTES },
    { TP_CMD_LISTENER_TAG, TC_STR },
    { TP_CMD_REMOTE_HOST, TC_STR },
    { TP_CMD_HOST, TC_STR },
    { TP_CMD_LANGUAGE, TC_STR },
    { TP_CMD_USER_AGENT, TC_STR },
    { TP_CMD_QUERY_STRING, TC_STR },
    { TP_CMD_INTERNAL_REDIRECT, TC_BYTES },
    { TP_CMD_ENOTDIR_, TC_BYTES },
    { TP_CMD_USER, TC_STR },
    { TP_CMD_SITE, TC_SITE },
    { TP_CMD_CACHE_TAG, TC_CACHE_TAG },
};

_Static_assert(sizeof(tcache_commands) / sizeof(tcache_commands[0]) ==
                   CTL_TCACHE_MATCH_COMMANDS + 2,
               "CTL_TCACHE_MATCH_COMMANDS does not match the table");

static enum tcache_kind
tcache_kind(uint16_t command)
{
    const size_t n = sizeof(tcache_commands) / sizeof(tcache_commands[0]);
    for (size_t i = 0; i < n; i++)
        if (tcache_commands[i].command == command)
            return tcache_commands[i].kind;
    return 0;
}

bool
ctl_tcache_command_accepted(uint16_t tp_command)
{
    return tcache_kind(tp_command) != 0;
}

int
ctl_tcache_decode(struct ctl_tcache_invalidate *out, const uint8_t *payload,
                  size_t len, char *err, size_t err_size)
{
    memset(out, 0, sizeof(*out));
    if (err != NULL && err_size > 0)
        err[0] = '\0';
    if (len == 0) {
        out->flush_all = true;
        return 0;
    }

    size_t count;
    static const char *const odd[2] = {
        "payload of ", " is not padded to a multiple of 4: ",
    };
    if (walk_frames(payload, len, 0, "payload offset", tp_command_name, odd,
                    &count, err, err_size) != CTL_DGRAM_OK)
        return -EBADMSG;

    size_t n_match = 0;
    for (size_t pos = 0; pos < len;) {
        size_t plen = pr_load_be16(payload + pos);
        uint16_t command = pr_load_be16(payload + pos + 2);
        struct pr_slice value = { payload + pos + CTL_HEADER_SIZE, plen };
        enum tcache_kind kind = tcache_kind(command);
        char buf[24];
        const char *name = tp_command_name(command);

        if (kind == 0) {
            name = label(buf, sizeof(buf), tp_command_name, command);
            pr_errf(err, err_size,
                    "%s at payload offset %zu is not allowed in "
                    "TCACHE_INVALIDATE",
                    name, pos);
            return -EBADMSG;
        }
        if (kind != TC_BYTES && plen > 0 && memchr(value.data, 0, plen)) {
            pr_errf(err, err_size,
                    "%s value at payload offset %zu contains a NUL byte", name,
                    pos);
            return -EBADMSG;
        }

        if (kind == TC_SITE) {
            out->has_site = true;
            out->site = value;
        } else if (kind == TC_CACHE_TAG) {
            out->has_cache_tag = true;
            out->cache_tag = value;
        } else {
            if (++n_match > CTL_TCACHE_MAX_VALUES) {
                pr_errf(err, err_size,
                        "more than %d match values: %s at payload offset %zu",
                        CTL_TCACHE_MAX_VALUES, name, pos);
                return -EBADMSG;
            }
            /* A repeated command keeps its slot and takes the new value,
             * like beng-proxy's parser (the last value wins). */
            size_t i = 0;
            while (i < out->n_values && out->values[i].command != command)
                i++;
            if (i == out->n_values)
                out->n_values++;
            out->values[i].command = command;
            out->values[i].value = value;
        }
        pos += CTL_HEADER_SIZE + plen + ctl_padding(plen);
    }
    return 0;
}

int
ctl_tcache_encode(struct pr_buf *out, const struct ctl_tcache_value *values,
                  size_t n, char *err, size_t err_size)
{
    if (err != NULL && err_size > 0)
        err[0] = '\0';

    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t vlen = values[i].value.len;
        if (vlen > CTL_MAX_PAYLOAD) {
            char buf[24];
            pr_errf(err, err_size, "%s value of %zu bytes exceeds %d bytes",
                    label(buf, sizeof(buf), tp_command_name, values[i].command),
                    vlen, CTL_MAX_PAYLOAD);
            return -EMSGSIZE;
        }
        total += CTL_HEADER_SIZE + vlen + ctl_padding(vlen);
    }
    if (total == 0)
        return 0;
    int ret = pr_buf_reserve(out, total);
    if (ret < 0)
        return ret;

    size_t start = out->len;
    uint8_t *p = out->data + start;
    for (size_t i = 0; i < n; i++) {
        size_t vlen = values[i].value.len;
        pr_store_be16(p, (uint16_t)vlen);
        pr_store_be16(p + 2, values[i].command);
        p += CTL_HEADER_SIZE;
        if (vlen > 0)
            memcpy(p, values[i].value.data, vlen);
        memset(p + vlen, 0, ctl_padding(vlen));
        p += vlen + ctl_padding(vlen);
    }

    struct ctl_tcache_invalidate check;
    if (ctl_tcache_decode(&check, out->data + start, total, err, err_size) <
        0)
        return -EINVAL;   /* out->len was never advanced */
    out->len += total;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Per-command payload rules                                           */

static bool
has_nul(const uint8_t *p, size_t len)
{
    return len > 0 && memchr(p, 0, len) != NULL;
}

/* Check "name:port": a non-empty name before the first colon, a decimal
 * port 1..65535 after it. */
static const char *
check_node(const uint8_t *p, size_t len)
{
    if (has_nul(p, len))
        return "payload contains a NUL byte";
    const uint8_t *colon = len > 0 ? memchr(p, ':', len) : NULL;
    if (colon == NULL || colon == p)
        return "payload must be \"node:port\"";
    size_t digits = len - (size_t)(colon + 1 - p);
    if (digits == 0 || digits > 5)
        return "port must be a number from 1 to 65535";
    unsigned long port = 0;
    for (const uint8_t *d = colon + 1; d < p + len; d++) {
        if (*d < '0' || *d > '9')
            return "port must be a number from 1 to 65535";
        port = port * 10 + (unsigned long)(*d - '0');
    }
    return port >= 1 && port <= 65535
               ? NULL
               : "port must be a number from 1 to 65535";
}

/* Check a payload against a rule; the message goes to err. */
static bool
check_rule(enum ctl_payload_rule rule, const uint8_t *p, size_t len,
           char *err, size_t err_size)
{
    const char *msg = NULL;
    switch (rule) {
    case CTL_PL_EMPTY:
        if (len != 0) {
            pr_errf(err, err_size, "payload must be empty, got %zu byte%s", len,
                    plural(len));
            return false;
        }
        return true;
    case CTL_PL_U8:
        if (len != 1) {
            pr_errf(err, err_size, "payload must be exactly 1 byte, got %zu",
                    len);
            return false;
        }
        return true;
    case CTL_PL_OPT_STR:
        if (has_nul(p, len))
            msg = "payload contains a NUL byte";
        break;
    case CTL_PL_STR:
        if (len == 0)
            msg = "payload must not be empty";
        else if (has_nul(p, len))
            msg = "payload contains a NUL byte";
        break;
    case CTL_PL_BYTES:
        if (len == 0)
            msg = "payload must not be empty";
        break;
    case CTL_PL_OPT_U32:
        if (len != 0 && len != 4) {
            pr_errf(err, err_size,
                    "payload must be empty or a 4-byte integer, got %zu byte%s",
                    len, plural(len));
            return false;
        }
        return true;
    case CTL_PL_NODE:
        msg = check_node(p, len);
        break;
    case CTL_PL_BAN:
        if (len <= 4) {
            pr_errf(err, err_size,
                    "payload must be a 4-byte duration and an address, "
                    "got %zu byte%s",
                    len, plural(len));
            return false;
        }
        for (size_t i = 4; i < len; i++)
            if (p[i] < 0x20 || p[i] > 0x7e) {
                msg = "address must be printable ASCII";
                break;
            }
        break;
    case CTL_PL_JOB: {
        const uint8_t *nul = len > 0 ? memchr(p, 0, len) : NULL;
        if (nul == NULL || nul == p || nul == p + len - 1)
            msg = "payload must be \"partition\\0job\" with both parts "
                  "non-empty";
        else if (has_nul(nul + 1, len - (size_t)(nul + 1 - p)))
            msg = "payload contains more than one NUL byte";
        break;
    }
    case CTL_PL_TCACHE: {
        struct ctl_tcache_invalidate tc;
        return ctl_tcache_decode(&tc, p, len, err, err_size) == 0;
    }
    default:
        msg = "unknown payload rule";
        break;
    }
    if (msg == NULL)
        return true;
    pr_errf(err, err_size, "%s", msg);
    return false;
}

/* Check one command; messages start with a prefix built from `offset`
 * (SIZE_MAX: no offset). */
static enum ctl_command_status
check_command(uint16_t command, const uint8_t *p, size_t len, size_t offset,
              char *err, size_t err_size)
{
    const struct ctl_command_info *info = ctl_command_info(command);
    if (info == NULL) {
        if (offset == SIZE_MAX)
            pr_errf(err, err_size, "unknown command %u", (unsigned)command);
        else
            pr_errf(err, err_size, "unknown command %u at offset %zu",
                    (unsigned)command, offset);
        return CTL_COMMAND_UNKNOWN;
    }
    char detail[CTL_ERROR_SIZE];
    if (check_rule(info->rule, p, len, detail, sizeof(detail)))
        return CTL_COMMAND_OK;
    size_t n = offset == SIZE_MAX
                   ? pr_errf(err, err_size, "%s: ", info->name)
                   : pr_errf(err, err_size, "%s at offset %zu: ", info->name,
                             offset);
    if (err != NULL && err_size > n + 1) {
        /* Append the detail without a format (it may be long). */
        size_t dlen = strlen(detail);
        if (dlen > err_size - n - 1)
            dlen = err_size - n - 1;
        memcpy(err + n, detail, dlen);
        err[n + dlen] = '\0';
    }
    return CTL_COMMAND_MALFORMED;
}

enum ctl_command_status
ctl_payload_check(uint16_t command, const uint8_t *payload, size_t len,
                  char *err, size_t err_size)
{
    if (err != NULL && err_size > 0)
        err[0] = '\0';
    return check_command(command, payload, len, SIZE_MAX, err, err_size);
}

/* ------------------------------------------------------------------ */
/* Datagram decoder                                                    */

enum ctl_datagram_status
ctl_datagram_parse(struct ctl_datagram *d, const uint8_t *data, size_t len)
{
    d->data = data;
    d->len = len;
    d->pos = len;
    d->count = 0;
    d->error[0] = '\0';

    if (len < CTL_MAGIC_SIZE) {
        pr_errf(d->error, sizeof(d->error),
                "datagram of %zu bytes is too short for the magic", len);
        return d->status = CTL_DGRAM_SHORT;
    }
    uint32_t magic = pr_load_be32(data);
    if (magic != CTL_MAGIC) {
        pr_errf(d->error, sizeof(d->error),
                "wrong magic 0x%08x at offset 0 (expected 0x%08x)",
                (unsigned)magic, (unsigned)CTL_MAGIC);
        return d->status = CTL_DGRAM_BAD_MAGIC;
    }
    static const char *const odd[2] = {
        "odd control packet (", " after the magic): ",
    };
    d->status = walk_frames(data + CTL_MAGIC_SIZE, len - CTL_MAGIC_SIZE,
                            CTL_MAGIC_SIZE, "offset", ctl_command_name, odd,
                            &d->count, d->error, sizeof(d->error));
    if (d->status != CTL_DGRAM_OK)
        d->count = 0;
    else
        d->pos = CTL_MAGIC_SIZE;
    return d->status;
}

bool
ctl_datagram_next(struct ctl_datagram *d, struct ctl_packet *cmd)
{
    if (d->status != CTL_DGRAM_OK || d->len - d->pos < CTL_HEADER_SIZE)
        return false;
    const uint8_t *h = d->data + d->pos;
    size_t plen = pr_load_be16(h);
    cmd->command = pr_load_be16(h + 2);
    cmd->offset = d->pos;
    cmd->payload.data = h + CTL_HEADER_SIZE;
    cmd->payload.len = plen;
    cmd->error[0] = '\0';
    cmd->status = check_command(cmd->command, cmd->payload.data, plen,
                                d->pos, cmd->error, sizeof(cmd->error));
    d->pos += CTL_HEADER_SIZE + plen + ctl_padding(plen);
    return true;
}

const char *
ctl_datagram_error(const struct ctl_datagram *d)
{
    return d->error;
}

/* ------------------------------------------------------------------ */
/* Datagram encoder                                                    */

int
ctl_datagram_begin(struct pr_buf *b)
{
    b->len = 0;
    int ret = pr_buf_reserve(b, CTL_MAGIC_SIZE);
    if (ret < 0)
        return ret;
    pr_store_be32(b->data, CTL_MAGIC);
    b->len = CTL_MAGIC_SIZE;
    return 0;
}

int
ctl_datagram_append(struct pr_buf *b, uint16_t command, const void *payload,
                    size_t len)
{
    if (b->len < CTL_MAGIC_SIZE || pr_load_be32(b->data) != CTL_MAGIC)
        return -EINVAL;
    if (len > CTL_MAX_PAYLOAD)
        return -EMSGSIZE;
    size_t total = CTL_HEADER_SIZE + len + ctl_padding(len);
    if (b->len > CTL_MAX_DATAGRAM || total > CTL_MAX_DATAGRAM - b->len)
        return -EMSGSIZE;
    int ret = pr_buf_reserve(b, total);
    if (ret < 0)
        return ret;
    uint8_t *p = b->data + b->len;
    pr_store_be16(p, (uint16_t)len);
    pr_store_be16(p + 2, command);
    if (len > 0)
        memcpy(p + CTL_HEADER_SIZE, payload, len);
    memset(p + CTL_HEADER_SIZE + len, 0, ctl_padding(len));
    b->len += total;
    return 0;
}
