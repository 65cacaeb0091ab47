/*
 * Fuzz target: the translation response parser (tp_response).
 *
 * The input is one response stream.  The request kind (TP_REQUEST_*
 * flags) is taken from the input length, so the same bytes are also read
 * as an answer to CONTENT_TYPE_LOOKUP, CHAIN and WANT requests.
 *
 * Invariants (abort() when one breaks):
 * - tp_response_parse_request() and an incremental parse (tp_reader
 *   chunks of a size taken from the first byte, each packet through
 *   tp_response_parser_feed) agree on accept/reject and, on accept, on
 *   the typed result (compared field by field below).
 * - A rejection always carries a message.
 * - An accepted response is consistent: version from BEGIN, every list
 *   within its documented limit, a filter slot for every FILTER, address
 *   fields only where the header says they belong.
 * - Every command number has exactly one classification with a name.
 */
#include "fuzz_packets.h"
#include "tp_response.h"

#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct feed_ctx {
    struct tp_response_parser parser;
    enum tp_parse_status status;
};

static bool
feed_packet(void *ctx, const struct tp_packet *pkt)
{
    struct feed_ctx *f = ctx;
    f->status = tp_response_parser_feed(&f->parser, pkt);
    if (f->status == TP_PARSE_ERROR &&
        tp_response_parser_error(&f->parser)[0] == '\0')
        abort();
    return f->status != TP_PARSE_MORE;
}

/* Parse incrementally: the framer gets chunks of `chunk` bytes.  Returns
 * 0 when a complete response with nothing after it was parsed. */
static int
parse_chunked(const uint8_t *data, size_t size, size_t chunk,
              unsigned flags, struct tp_response *resp)
{
    struct feed_ctx f = { .status = TP_PARSE_MORE };
    tp_response_parser_init(&f.parser, resp);
    tp_response_parser_set_request(&f.parser, flags);
    size_t used;
    fuzz_feed_packets(data, size, chunk, feed_packet, &f, &used);
    return f.status == TP_PARSE_DONE && used == size ? 0 : -1;
}

static bool
str_eq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool
slice_eq(struct pr_slice a, struct pr_slice b)
{
    if (a.data == NULL || b.data == NULL)
        return a.data == b.data;
    return a.len == b.len && memcmp(a.data, b.data, a.len) == 0;
}

static bool
address_eq(const struct tp_address *a, const struct tp_address *b)
{
    return a->type == b->type && str_eq(a->path, b->path) &&
           str_eq(a->expand_path, b->expand_path) &&
           str_eq(a->content_type, b->content_type) &&
           str_eq(a->nfs_server, b->nfs_server) &&
           str_eq(a->document_root, b->document_root) &&
           str_eq(a->host_and_port, b->host_and_port) &&
           a->scheme == b->scheme && a->args.n == b->args.n &&
           a->params.n == b->params.n && a->child.env.n == b->child.env.n &&
           a->addresses.n == b->addresses.n &&
           a->concurrency == b->concurrency &&
           str_eq(a->lhttp_uri, b->lhttp_uri);
}

static bool
response_eq(const struct tp_response *a, const struct tp_response *b)
{
    if (a->version != b->version || !address_eq(&a->address, &b->address) ||
        a->n_filters != b->n_filters || a->status != b->status ||
        !str_eq(a->redirect, b->redirect) ||
        !str_eq(a->message, b->message) || a->max_age != b->max_age ||
        a->user_max_age != b->user_max_age || !str_eq(a->base, b->base) ||
        !str_eq(a->regex, b->regex) || a->vary.n != b->vary.n ||
        a->want.n != b->want.n || !slice_eq(a->check, b->check) ||
        !slice_eq(a->session, b->session) || !str_eq(a->user, b->user) ||
        a->response_headers.n != b->response_headers.n ||
        a->request_headers.n != b->request_headers.n ||
        a->n_layout_items != b->n_layout_items ||
        memcmp(a->request_header_forward, b->request_header_forward,
               sizeof(a->request_header_forward)) != 0 ||
        memcmp(a->response_header_forward, b->response_header_forward,
               sizeof(a->response_header_forward)) != 0)
        return false;
    for (size_t i = 0; i < a->n_filters; i++)
        if (!address_eq(&a->filters[i]->address, &b->filters[i]->address))
            return false;
    return true;
}

static void
check_address(const struct tp_address *a, bool filter_slot)
{
    if (a->type > TP_ADDRESS_PIPE)
        abort();
    if (a->type == TP_ADDRESS_PIPE && !filter_slot)
        abort();
    if (a->type != TP_ADDRESS_NONE && a->path == NULL &&
        a->expand_path == NULL)
        abort();
    if (a->type == TP_ADDRESS_NONE &&
        (a->path != NULL || a->args.n != 0 || a->addresses.n != 0))
        abort();
    if (a->type != TP_ADDRESS_NFS &&
        (a->nfs_server != NULL || a->nfs_export != NULL))
        abort();
    if (a->type == TP_ADDRESS_HTTP && a->scheme == 0)
        abort();
    if (a->args.n > TP_MAX_ARGS || a->params.n > TP_MAX_PAIRS ||
        a->child.env.n > TP_MAX_ENV || a->addresses.n > TP_MAX_ADDRESSES ||
        a->child.tags.n > TP_MAX_CHILD_TAGS ||
        a->child.uid_gid.n_groups > TP_MAX_GROUPS)
        abort();
    for (size_t i = 0; i < a->addresses.n; i++) {
        const struct tp_socket_address *sa = &a->addresses.v[i];
        if ((sa->len == 0) == (sa->host == NULL))
            abort();
        if (sa->len > sizeof(sa->addr))
            abort();
    }
}

static void
check_shape(const struct tp_response *r)
{
    check_address(&r->address, false);
    if (r->n_filters > TP_MAX_FILTERS)
        abort();
    for (size_t i = 0; i < r->n_filters; i++)
        check_address(&r->filters[i]->address, true);
    if (r->status != 0 && (r->status < 100 || r->status > 599))
        abort();
    if (r->message != NULL && strlen(r->message) > TP_MAX_MESSAGE)
        abort();
    if (r->response_headers.n > TP_MAX_HEADERS ||
        r->request_headers.n > TP_MAX_HEADERS ||
        r->n_allow_remote_networks > TP_MAX_NETWORKS ||
        r->n_layout_items > TP_MAX_LAYOUT_ITEMS ||
        r->probe_suffixes.n > TP_MAX_PROBE_SUFFIXES ||
        r->vary.n > TP_MAX_VARY || r->invalidate.n > TP_MAX_VARY ||
        r->cache_tags.n > TP_MAX_CACHE_TAGS)
        abort();
    if (r->n_layout_items != 0 && r->layout.data == NULL)
        abort();
    for (size_t i = 0; i < r->response_headers.n; i++)
        if (r->response_headers.v[i].name == NULL ||
            r->response_headers.v[i].value == NULL)
            abort();
    for (size_t i = 0; i < TP_HG_COUNT; i++)
        if (r->request_header_forward[i] > TP_HF_BOTH ||
            r->response_header_forward[i] > TP_HF_BOTH)
            abort();
    (void)tp_response_has_answer(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned flag_sets[] = {
        0,
        TP_REQUEST_CONTENT_TYPE_LOOKUP,
        TP_REQUEST_CHAIN,
        TP_REQUEST_WANT | TP_REQUEST_WANT_FULL_URI,
    };
    unsigned flags = flag_sets[size % 4];

    struct tp_response a, b;
    char err[200];
    int rc = tp_response_parse_request(data, size, flags, &a, err,
                                       sizeof(err));
    if (rc != 0 && err[0] == '\0')
        abort();

    size_t chunk = size > 0 ? (size_t)data[0] % 7 + 1 : 1;
    int rc2 = parse_chunked(data, size, chunk, flags, &b);
    if ((rc == 0) != (rc2 == 0))
        abort();
    if (rc == 0) {
        check_shape(&a);
        if (!response_eq(&a, &b))
            abort();
    }
    tp_response_free(&b);
    tp_response_free(&a);

    /* The classification of the command numbers the input names. */
    for (size_t i = 0; i + 1 < size && i < 8; i += 2) {
        uint16_t cmd = (uint16_t)(data[i] | data[i + 1] << 8);
        enum tp_packet_support s = tp_response_packet_support(cmd);
        const char *name = tp_packet_support_name(s);
        if (name == NULL || name[0] == '\0')
            abort();
        if ((s == TP_SUPPORT_REMOVED || s == TP_SUPPORT_UNSUPPORTED) &&
            tp_response_packet_reason(cmd) == NULL)
            abort();
    }
    return 0;
}
