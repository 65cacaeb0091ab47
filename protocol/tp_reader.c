#include "tp_reader.h"

#include "tp_command.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ST_READING, ST_ERROR };

static const uint8_t empty_payload[1];

void
tp_reader_init(struct tp_reader *r, size_t max_payload)
{
    memset(r, 0, sizeof(*r));
    if (max_payload == 0 || max_payload > TP_MAX_PAYLOAD)
        max_payload = TP_MAX_PAYLOAD;
    pr_frame_init(&r->frame, max_payload);
    r->state = ST_READING;
}

void
tp_reader_destroy(struct tp_reader *r)
{
    pr_frame_destroy(&r->frame);
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
    *consumed = 0;
    if (r->state == ST_ERROR)
        return TP_READER_ERROR;
    /* Nothing to do; also keeps a NULL `data` away from memcpy(), which
     * must not see one even for 0 bytes. */
    if (len == 0)
        return TP_READER_NEED_MORE;

    uint16_t command, length;
    const uint8_t *payload;
    char label[24];
    switch (pr_frame_feed(&r->frame, data, len, consumed, &command, &length,
                          &payload)) {
    case PR_FRAME_PACKET:
        pkt->command = command;
        pkt->length = length;
        pkt->payload = length > 0 ? payload : empty_payload;
        return TP_READER_PACKET;
    case PR_FRAME_NEED_MORE:
        return TP_READER_NEED_MORE;
    case PR_FRAME_OVER_LIMIT:
        return fail(r, "payload of %u bytes over the limit of %u (%s)",
                    (unsigned)length, (unsigned)r->frame.max_payload,
                    command_label(command, label, sizeof(label)));
    case PR_FRAME_NO_MEMORY:
    default:
        return fail(r, "out of memory for a %u-byte payload",
                    (unsigned)length);
    }
}

int
tp_reader_idle(const struct tp_reader *r)
{
    return r->state == ST_READING && pr_frame_idle(&r->frame);
}

int
tp_reader_finish(struct tp_reader *r)
{
    if (r->state == ST_ERROR)
        return -1;
    char label[24];
    if (!pr_frame_finish_error(&r->frame,
                               command_label(pr_frame_command(&r->frame),
                                             label, sizeof(label)),
                               r->error, sizeof(r->error)))
        return 0;
    r->state = ST_ERROR;
    return -1;
}

const char *
tp_reader_error(const struct tp_reader *r)
{
    return r->error;
}
