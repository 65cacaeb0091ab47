#include "tp_reader.h"

#include "pr_bytes.h"
#include "pr_internal.h"
#include "tp_command.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ST_HEADER, ST_PAYLOAD, ST_ERROR };

static const uint8_t empty_payload[1];

void
tp_reader_init(struct tp_reader *r, size_t max_payload)
{
    memset(r, 0, sizeof(*r));
    if (max_payload == 0 || max_payload > TP_MAX_PAYLOAD)
        max_payload = TP_MAX_PAYLOAD;
    r->max_payload = max_payload;
    r->state = ST_HEADER;
}

void
tp_reader_destroy(struct tp_reader *r)
{
    free(r->payload);
    r->payload = NULL;
}

/* The command's name for a message; an unassigned number as "command N"
 * (the framer delivers those too, so its errors must name them). */
static const char *
command_label(uint16_t command, char *buf, size_t size)
{
    if (tp_command_info(command) != NULL)
        return tp_command_name(command);
    snprintf(buf, size, "command %u", (unsigned)command);
    return buf;
}

static enum tp_reader_status
fail(struct tp_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum tp_reader_status
fail(struct tp_reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof(r->error), fmt, ap);
    va_end(ap);
    r->state = ST_ERROR;
    return TP_READER_ERROR;
}

enum tp_reader_status
tp_reader_feed(struct tp_reader *r, const uint8_t *data, size_t len,
               size_t *consumed, struct tp_packet *pkt)
{
    size_t pos = 0;
    *consumed = 0;

    if (r->state == ST_ERROR)
        return TP_READER_ERROR;
    /* Nothing to do; also keeps a NULL `data` away from memcpy(), which
     * must not see one even for 0 bytes. */
    if (len == 0)
        return TP_READER_NEED_MORE;

    if (r->state == ST_HEADER) {
        const uint8_t *header;
        if (r->header_fill == 0 && len >= TP_HEADER_SIZE) {
            header = data;
            pos = TP_HEADER_SIZE;
        } else {
            if (!pr_fill(r->header, &r->header_fill, TP_HEADER_SIZE, data,
                         len, &pos)) {
                *consumed = pos;
                return TP_READER_NEED_MORE;
            }
            header = r->header;
        }

        uint16_t length = pr_load_u16(header);
        uint16_t command = pr_load_u16(header + 2);
        /* Keep the decoded header for a payload that arrives in pieces. */
        memcpy(r->header, header, TP_HEADER_SIZE);
        r->header_fill = TP_HEADER_SIZE;

        if (length > r->max_payload) {
            char label[24];
            return fail(r, "payload of %u bytes over the limit of %u (%s)",
                        (unsigned)length, (unsigned)r->max_payload,
                        command_label(command, label, sizeof(label)));
        }

        if (len - pos >= length) {
            /* Whole packet in the input: hand out a view of it. */
            pkt->command = command;
            pkt->length = length;
            pkt->payload = length > 0 ? data + pos : empty_payload;
            r->header_fill = 0;
            *consumed = pos + length;
            return TP_READER_PACKET;
        }

        if (r->payload == NULL) {
            r->payload = malloc(r->max_payload);
            if (r->payload == NULL)
                return fail(r, "out of memory for a %u-byte payload",
                            (unsigned)length);
        }
        r->payload_fill = 0;
        r->state = ST_PAYLOAD;
    }

    /* ST_PAYLOAD: assemble in our buffer. */
    uint16_t length = pr_load_u16(r->header);
    bool whole = pr_fill(r->payload, &r->payload_fill, length, data, len,
                         &pos);
    *consumed = pos;
    if (!whole)
        return TP_READER_NEED_MORE;

    pkt->command = pr_load_u16(r->header + 2);
    pkt->length = length;
    pkt->payload = r->payload;
    r->header_fill = 0;
    r->payload_fill = 0;
    r->state = ST_HEADER;
    return TP_READER_PACKET;
}

int
tp_reader_idle(const struct tp_reader *r)
{
    return r->state == ST_HEADER && r->header_fill == 0;
}

int
tp_reader_finish(struct tp_reader *r)
{
    if (r->state == ST_ERROR)
        return -1;
    if (r->state == ST_HEADER && r->header_fill > 0) {
        fail(r, "stream ended after %u of %u header bytes",
             (unsigned)r->header_fill, (unsigned)TP_HEADER_SIZE);
        return -1;
    }
    if (r->state == ST_PAYLOAD) {
        char label[24];
        fail(r, "stream ended after %u of %u payload bytes (%s)",
             (unsigned)r->payload_fill, (unsigned)pr_load_u16(r->header),
             command_label(pr_load_u16(r->header + 2), label,
                           sizeof(label)));
        return -1;
    }
    return 0;
}

const char *
tp_reader_error(const struct tp_reader *r)
{
    return r->error;
}
