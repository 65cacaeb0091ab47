/*
 * Fuzz target: the response builder (translator/tr_response) against the
 * data plane's parser.
 *
 * The input is framed like a response (u16 length, u16 command, payload);
 * every packet is added with tr_response_packet(), except BEGIN (the
 * builder writes it: skipped) and END (tr_response_finish()).  Run three
 * times: for an ordinary request, a CONTENT_TYPE_LOOKUP request and a
 * CHAIN request.
 *
 * Invariants (abort() when one breaks):
 * - An accepted packet adds exactly its header and payload (END: an empty
 *   END, whatever payload the input gave it); a refused one
 *   adds nothing, sets a non-empty message, and the error sticks (a later
 *   call returns the same code and adds nothing).
 * - The bytes always start with BEGIN version 3.
 * - A response the builder finished is one the data plane's one-shot
 *   parser (tp_response_parse_request) accepts, with version 3.
 */
#include "fuzz_packets.h"
#include "tr_response.h"

#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct run {
    struct tr_response *r;
    bool finished;
};

static bool
on_packet(void *ctx, const struct tp_packet *pkt)
{
    struct run *run = ctx;
    struct tr_response *r = run->r;
    size_t before;
    tr_response_data(r, &before);
    int code = tr_response_error_code(r);

    int rc;
    if (pkt->command == TP_CMD_BEGIN)
        return false;
    if (pkt->command == TP_CMD_END) {
        rc = tr_response_finish(r);
        run->finished = rc == 0;
    } else {
        rc = tr_response_packet(r, pkt->command, pkt->payload, pkt->length);
    }

    size_t after;
    const uint8_t *d = tr_response_data(r, &after);
    if (code != 0 && (rc != code || after != before))
        abort();    /* not sticky */
    if (rc != 0) {
        if (after != before || tr_response_error(r)[0] == '\0' ||
            tr_response_error_code(r) != rc)
            abort();
        return true;
    }
    /* END is written by tr_response_finish(), always empty */
    size_t n = pkt->command == TP_CMD_END ? 0 : pkt->length;
    if (after != before + TP_HEADER_SIZE + n ||
        pr_load_u16(d + before) != n ||
        pr_load_u16(d + before + 2) != pkt->command ||
        (n > 0 && memcmp(d + before + TP_HEADER_SIZE, pkt->payload, n)))
        abort();
    return run->finished;
}

static void
one(const uint8_t *data, size_t size, const struct tp_request *req,
    unsigned flags)
{
    struct run run = { tr_response_new_for(req), false };
    if (run.r == NULL)
        return;
    size_t consumed;
    fuzz_feed_packets(data, size, 64, on_packet, &run, &consumed);

    size_t len;
    const uint8_t *d = tr_response_data(run.r, &len);
    if (len < 5 || d[0] != 1 || d[1] != 0 || d[2] != 1 || d[3] != 0 ||
        d[4] != 3)
        abort();
    if (run.finished) {
        struct tp_response parsed;
        char err[200];
        if (tp_response_parse_request(d, len, flags, &parsed, err,
                                      sizeof(err)) != 0)
            abort();    /* the builder accepted what the parser refuses */
        if (parsed.version != 3 || tr_response_parsed(run.r) == NULL)
            abort();
        tp_response_free(&parsed);
    }
    tr_response_free(run.r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tp_request req;

    one(data, size, NULL, 0);

    tp_request_init(&req);
    req.content_type_lookup = tp_slice_str("x");
    req.suffix = tp_slice_str("html");
    one(data, size, &req, TP_REQUEST_CONTENT_TYPE_LOOKUP);

    tp_request_init(&req);
    req.chain = tp_slice_str("c");
    req.status = 200;
    one(data, size, &req, TP_REQUEST_CHAIN);
    return 0;
}
