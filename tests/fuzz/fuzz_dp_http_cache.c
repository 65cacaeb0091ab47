/*
 * Fuzz target for dataplane/dp_http_cache: the input is a list of header
 * lines ("Name: value", LF-separated); a line "--" splits the request's
 * headers (before) from the response's (after).  The first byte picks
 * the status and the flags.
 *
 * Invariants, checked with abort():
 * - Cache-Control numbers are -1 or 0..2^31;
 * - a stored response has a lifetime >= 0 and an initial age >= 0, and
 *   is not refused by the personal-request rule when shared;
 * - an entry made from it is found again by the same request headers,
 *   and the store's byte count equals the entry's size and is back to 0
 *   after a flush.
 */
#include "dp_http_cache.h"

#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 64

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
split(const char *s, size_t n, struct dp_hc_header *req, size_t *n_req,
      struct dp_hc_header *resp)
{
    size_t nr = 0, nresp = 0;
    bool in_resp = false;
    size_t i = 0;
    while (i < n) {
        size_t st = i;
        while (i < n && s[i] != '\n')
            i++;
        size_t len = i - st;
        i++;
        if (len == 2 && memcmp(s + st, "--", 2) == 0) {
            in_resp = true;
            continue;
        }
        const char *colon = memchr(s + st, ':', len);
        if (colon == NULL)
            continue;
        struct dp_hc_header h = {
            s + st, (size_t)(colon - (s + st)), colon + 1,
            len - (size_t)(colon - (s + st)) - 1,
        };
        if (in_resp && nresp < MAX_HEADERS)
            resp[nresp++] = h;
        else if (!in_resp && nr < MAX_HEADERS)
            req[nr++] = h;
    }
    *n_req = nr;
    return nresp;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const unsigned statuses[] = { 200, 203, 204, 206, 300, 301,
                                         304, 404, 410, 500 };
    unsigned status = statuses[data[0] % 10];
    bool user = (data[0] & 0x10) != 0;
    const char *s = (const char *)data + 1;
    size_t n = size - 1;

    struct dp_hc_cc cc;
    dp_hc_cc_init(&cc);
    dp_hc_parse_cache_control(&cc, s, n);
    if (cc.max_age < -1 || cc.max_age > (1LL << 31) || cc.s_maxage < -1 ||
        cc.s_maxage > (1LL << 31))
        abort();

    struct dp_hc_header req[MAX_HEADERS], resp[MAX_HEADERS];
    size_t n_req;
    size_t n_resp = split(s, n, req, &n_req, resp);
    struct dp_hc_request rq = { true, req, n_req, user, true };
    (void)dp_hc_request_check(&rq);
    int64_t now = 1700000000000LL;
    struct dp_hc_response rs = { status, resp, n_resp, now - 5, now };
    struct dp_hc_facts f;
    const char *why;
    /* EAGER_CACHE stores whatever is stored without it, with a lifetime
     * at least as long */
    struct dp_hc_facts fe;
    const char *why_e;
    bool eager = dp_hc_response_check_eager(&rq, &rs, true, &fe, &why_e);
    if (!eager && why_e == NULL)
        abort();
    if (eager && fe.lifetime_ms < 0)
        abort();
    if (!dp_hc_response_check(&rq, &rs, &f, &why)) {
        if (why == NULL)
            abort();
        return 0;
    }
    if (f.lifetime_ms < 0 || f.initial_age_ms < 0)
        abort();
    if (!eager || fe.lifetime_ms < f.lifetime_ms)
        abort();
    if (dp_hc_request_personal(&rq) && !f.shared)
        abort();

    struct dp_hc_store *st = dp_hc_store_new(1 << 20);
    if (st == NULL)
        return 0;
    struct dp_hc_entry *e = dp_hc_entry_new("k", status, "A: b\r\n", 6,
                                            data, size, "t", &f, req,
                                            n_req);
    if (e != NULL) {
        bool put = dp_hc_store_put(st, e);
        struct dp_hc_stats ss;
        dp_hc_store_stats(st, &ss);
        if (put && ss.bytes != e->size)
            abort();
        struct dp_hc_entry *x = dp_hc_store_lookup(st, "k", req, n_req);
        if (put && x != e)
            abort();
        if (x != NULL)
            dp_hc_entry_unref(x);
        dp_hc_entry_unref(e);
        dp_hc_store_flush(st, "t");
        dp_hc_store_stats(st, &ss);
        if (ss.bytes != 0 || ss.entries != 0)
            abort();
    }
    dp_hc_store_free(st);
    return 0;
}
