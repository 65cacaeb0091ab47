/*
 * Fuzz target: the translation request parser (tp_request), with a
 * marshal/parse round trip.
 *
 * Invariants (abort() when one breaks):
 * - tp_request_parse() and an incremental parse (tp_reader chunks of a
 *   size taken from the input, through tp_request_parser) agree on
 *   accept/reject and, on accept, on the request.
 * - An accepted request has a consistent shape: set slices are
 *   NUL-terminated copies, STATUS is 100..599 or 0, at most 64 WANT
 *   entries, a layout item only with LAYOUT.
 * - Marshalling it succeeds (unless a payload is exactly 65535 bytes,
 *   which the marshaller refuses by design, §9.20); parsing the result
 *   gives a request equal field for field, and marshalling that gives the
 *   same bytes again.
 * - A marshal refusal leaves the output buffer as it was.
 */
#include "fuzz_packets.h"
#include "tp_request.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Every pr_slice field of struct tp_request, for the shape checks. */
static const size_t slice_fields[] = {
#define O(m) offsetof(struct tp_request, m)
    O(error_document), O(listener_tag), O(remote_host), O(host),
    O(alt_host), O(user_agent), O(language), O(authorization), O(uri),
    O(args), O(query_string), O(widget_type), O(session), O(realm_session),
    O(recover_session), O(layout), O(internal_redirect), O(check),
    O(check_header), O(auth), O(http_auth), O(token_auth), O(auth_token),
    O(mount_listen_stream), O(want_full_uri), O(chain), O(chain_header),
    O(file_not_found), O(content_type_lookup), O(suffix), O(enotdir),
    O(directory_index), O(param), O(probe_path_suffixes), O(probe_suffix),
    O(read_file), O(user), O(pool), O(layout_item.value),
#undef O
};

#define N_SLICES (sizeof(slice_fields) / sizeof(slice_fields[0]))

static const struct pr_slice *
slice_at(const struct tp_request *req, size_t i)
{
    return (const struct pr_slice *)((const char *)req + slice_fields[i]);
}

static void
check_shape(const struct tp_request *req)
{
    for (size_t i = 0; i < N_SLICES; i++) {
        const struct pr_slice *s = slice_at(req, i);
        if (s->data == NULL ? s->len != 0 : s->data[s->len] != 0)
            abort();
    }
    if (req->status != 0 && (req->status < 100 || req->status > 599))
        abort();
    if (req->want_count > TP_REQUEST_MAX_WANT)
        abort();
    if (req->layout_item.kind != TP_LAYOUT_ITEM_NONE &&
        (req->layout.data == NULL || req->layout_item.value.data == NULL))
        abort();
    if (req->layout_item.kind == TP_LAYOUT_ITEM_URI && req->uri.data == NULL)
        abort();
}

static bool
has_oversized_payload(const struct tp_request *req)
{
    for (size_t i = 0; i < N_SLICES; i++)
        if (slice_at(req, i)->len > TP_REQUEST_MAX_PAYLOAD)
            return true;
    return false;
}

struct feed_ctx {
    struct tp_request_parser parser;
    enum tp_request_status status;
};

static bool
feed_packet(void *ctx, const struct tp_packet *pkt)
{
    struct feed_ctx *f = ctx;
    f->status = tp_request_parser_feed(&f->parser, pkt);
    return f->status != TP_REQUEST_NEED_MORE;
}

/* Parse incrementally: the framer gets chunks of `chunk` bytes.  Returns
 * 0 when a complete request with nothing after it was parsed. */
static int
parse_chunked(const uint8_t *data, size_t size, size_t chunk,
              struct tp_request *req, struct pr_arena *arena)
{
    struct feed_ctx f = { .status = TP_REQUEST_NEED_MORE };
    tp_request_parser_init(&f.parser, req, arena);
    size_t used;
    fuzz_feed_packets(data, size, chunk, feed_packet, &f, &used);
    return f.status == TP_REQUEST_DONE && used == size ? 0 : -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pr_arena arena = PR_ARENA_INIT;
    struct pr_arena arena2 = PR_ARENA_INIT;
    struct tp_request req, req2;
    char err[160];

    int rc = tp_request_parse(data, size, &req, &arena, err, sizeof(err));
    if (rc != 0 && (rc != -EINVAL || err[0] == '\0'))
        abort();

    size_t chunk = size > 0 ? (size_t)data[0] % 7 + 1 : 1;
    int rc2 = parse_chunked(data, size, chunk, &req2, &arena2);
    if ((rc == 0) != (rc2 == 0))
        abort();
    if (rc == 0 && !tp_request_equal(&req, &req2))
        abort();
    pr_arena_free(&arena2);

    if (rc == 0) {
        check_shape(&req);

        struct pr_buf out = PR_BUF_INIT;
        const char *error = NULL;
        int m = tp_request_marshal(&req, &out, &error);
        if (m != 0) {
            if (m != -EINVAL || error == NULL ||
                !has_oversized_payload(&req) || out.len != 0)
                abort();
        } else {
            if (tp_request_parse(out.data, out.len, &req2, &arena2, err,
                                 sizeof(err)) != 0)
                abort();
            if (!tp_request_equal(&req, &req2) ||
                !tp_request_equal(&req2, &req))
                abort();
            struct pr_buf out2 = PR_BUF_INIT;
            if (tp_request_marshal(&req2, &out2, NULL) != 0 ||
                out2.len != out.len ||
                memcmp(out2.data, out.data, out.len) != 0)
                abort();
            pr_buf_free(&out2);
        }
        pr_buf_free(&out);
    }

    pr_arena_free(&arena2);
    pr_arena_free(&arena);
    return 0;
}
