#include "pr_frame.h"

#include "pr_bytes.h"
#include "pr_internal.h"

#include <stdlib.h>
#include <string.h>

void
pr_frame_init(struct pr_frame *f, size_t max_payload)
{
    memset(f, 0, sizeof(*f));
    f->max_payload = max_payload;
}

void
pr_frame_destroy(struct pr_frame *f)
{
    free(f->payload);
    f->payload = NULL;
}

enum pr_frame_result
pr_frame_feed(struct pr_frame *f, const uint8_t *data, size_t len,
              size_t *consumed, uint16_t *command, uint16_t *length,
              const uint8_t **payload)
{
    size_t pos = 0;
    *consumed = 0;

    if (f->header_fill < PR_FRAME_HEADER_SIZE) {
        const uint8_t *header;
        if (f->header_fill == 0 && len >= PR_FRAME_HEADER_SIZE) {
            header = data;
            pos = PR_FRAME_HEADER_SIZE;
        } else {
            if (!pr_fill(f->header, &f->header_fill, PR_FRAME_HEADER_SIZE,
                         data, len, &pos)) {
                *consumed = pos;
                return PR_FRAME_NEED_MORE;
            }
            header = f->header;
        }

        *length = pr_load_u16(header);
        *command = pr_load_u16(header + 2);
        /* Keep the decoded header for a payload that arrives in pieces. */
        memcpy(f->header, header, PR_FRAME_HEADER_SIZE);
        f->header_fill = PR_FRAME_HEADER_SIZE;

        if (*length > f->max_payload)
            return PR_FRAME_OVER_LIMIT;

        if (len - pos >= *length) {
            /* Whole packet in the input: hand out a view of it. */
            *payload = data + pos;
            f->header_fill = 0;
            *consumed = pos + *length;
            return PR_FRAME_PACKET;
        }

        if (f->payload == NULL) {
            f->payload = malloc(f->max_payload);
            if (f->payload == NULL)
                return PR_FRAME_NO_MEMORY;
        }
        f->payload_fill = 0;
    }

    /* In a payload: assemble it in our buffer. */
    uint16_t want = pr_load_u16(f->header);
    bool whole = pr_fill(f->payload, &f->payload_fill, want, data, len,
                         &pos);
    *consumed = pos;
    if (!whole)
        return PR_FRAME_NEED_MORE;

    *command = pr_load_u16(f->header + 2);
    *length = want;
    *payload = f->payload;
    f->header_fill = 0;
    f->payload_fill = 0;
    return PR_FRAME_PACKET;
}

bool
pr_frame_idle(const struct pr_frame *f)
{
    return f->header_fill == 0;
}

uint16_t
pr_frame_command(const struct pr_frame *f)
{
    return pr_load_u16(f->header + 2);
}

bool
pr_frame_finish_error(const struct pr_frame *f, const char *label, char *err,
                      size_t size)
{
    if (f->header_fill == 0)
        return false;
    if (f->header_fill < PR_FRAME_HEADER_SIZE)
        pr_errf(err, size, "stream ended after %zu of %u header bytes",
                f->header_fill, (unsigned)PR_FRAME_HEADER_SIZE);
    else
        pr_errf(err, size, "stream ended after %zu of %u payload bytes (%s)",
                f->payload_fill, (unsigned)pr_load_u16(f->header), label);
    return true;
}
