/*
 * Fuzz target for the static-file header parsers of dataplane/:
 * dp_http_date, dp_conditional (entity-tag lists, preconditions,
 * If-Range), dp_range (Range and the 206 framing), dp_accept_encoding and
 * the xattr value checks of dp_file_meta.
 *
 * The whole input is given to every parser as a header value.
 * Invariants, checked with abort():
 * - a parsed date formats and parses back to itself;
 * - "*" gives ANY and nothing else does; a strong match is a weak match;
 *   strong and weak agree on MALFORMED; preconditions end in 200, 304
 *   (GET/HEAD only) or 412; a malformed If-Match is a 412;
 * - a PARTIAL range set has 1..16 ranges, each inside the file, pairwise
 *   disjoint and more than the coalescing gap apart, so the parts never
 *   carry more bytes than the file; the framing helpers produce exactly
 *   the Content-Length dp_multipart_length() announces; no set unless
 *   PARTIAL, no 206/416 unless the unit is "bytes";
 * - Accept-Encoding qvalues lie in -1..1000, the choice is identity or
 *   an acceptable, available variant;
 * - an accepted user.ETag is a valid entity-tag, an accepted user.MaxAge
 *   lies in 1..one year;
 * - the response plan (input as Range, If-Range or a precondition) has a
 *   known status, a body only for GET 200/206, a Content-Length within
 *   the file for a single part, and header text that fits its buffer;
 * - read as a whole HTTP/1.1 request head (protocol/h1_request), the
 *   fields are extracted with a scratch buffer of head_len bytes, which
 *   is always enough, and planned like the rest.
 */
#include "dp_accept_encoding.h"
#include "dp_conditional.h"
#include "dp_file_h1.h"
#include "dp_file_meta.h"
#include "dp_file_response.h"
#include "dp_http_date.h"
#include "dp_range.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond))                                                       \
            abort();                                                       \
    } while (0)

/* Sun, 06 Nov 1994 08:49:37 GMT, and a day later */
#define LM ((time_t)784111777)
#define NOW (LM + 86400)

static void
check_date(const char *s, size_t len)
{
    time_t t = 42;
    int r = dp_http_date_parse(s, len, NOW, &t);
    CHECK(r == 0 || r == -1);
    if (r != 0) {
        CHECK(t == 42);
        return;
    }
    char buf[DP_HTTP_DATE_SIZE];
    CHECK(dp_http_date_format(t, buf) == 0);
    CHECK(strlen(buf) == DP_HTTP_DATE_LEN);
    time_t back;
    CHECK(dp_http_date_parse(buf, DP_HTTP_DATE_LEN, NOW, &back) == 0);
    CHECK(back == t);
}

static bool
trimmed_is_star(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    while (len > i && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    return len - i == 1 && s[i] == '*';
}

static void
check_etags(const char *s, size_t len)
{
    static const char *const tags[] = { "\"xyzzy\"", "W/\"xyzzy\"", "\"\"" };
    for (size_t k = 0; k < 3; k++) {
        size_t tl = strlen(tags[k]);
        enum dp_etag_list_result st =
            dp_etag_list_match(s, len, tags[k], tl, true);
        enum dp_etag_list_result wk =
            dp_etag_list_match(s, len, tags[k], tl, false);
        CHECK((st == DP_ETAG_LIST_ANY) == trimmed_is_star(s, len));
        CHECK((wk == DP_ETAG_LIST_ANY) == (st == DP_ETAG_LIST_ANY));
        CHECK((wk == DP_ETAG_LIST_MALFORMED) ==
              (st == DP_ETAG_LIST_MALFORMED));
        if (st == DP_ETAG_LIST_MATCH)
            CHECK(wk == DP_ETAG_LIST_MATCH);
        if (k == 1)
            CHECK(st != DP_ETAG_LIST_MATCH);
    }
    /* the input as the current ETag, compared with itself */
    if (dp_etag_valid(s, len)) {
        CHECK(dp_etag_equal(s, len, s, len, false));
        CHECK(dp_etag_list_match(s, len, s, len, false) ==
              DP_ETAG_LIST_MATCH);
    }
    CHECK(dp_etag_list_match(s, len, NULL, 0, false) !=
          DP_ETAG_LIST_MATCH);
}

static void
check_conditional(const char *s, size_t len)
{
    static const struct dp_validators v = { "\"xyzzy\"", 7, true, LM };
    for (int which = 0; which < 4; which++) {
        struct dp_cond_headers h = { 0 };
        switch (which) {
        case 0:
            h.if_match = s;
            h.if_match_len = len;
            break;
        case 1:
            h.if_none_match = s;
            h.if_none_match_len = len;
            break;
        case 2:
            h.if_modified_since = s;
            h.if_modified_since_len = len;
            break;
        default:
            h.if_unmodified_since = s;
            h.if_unmodified_since_len = len;
            break;
        }
        for (int m = DP_METHOD_GET; m <= DP_METHOD_OTHER; m++) {
            enum dp_cond_result r =
                dp_conditional_evaluate((enum dp_method_class)m, &h, &v, NOW);
            CHECK(r == DP_COND_PROCEED || r == DP_COND_NOT_MODIFIED ||
                  r == DP_COND_PRECONDITION_FAILED);
            if (m == DP_METHOD_OTHER)
                CHECK(r != DP_COND_NOT_MODIFIED);
            if (which == 0 &&
                dp_etag_list_match(s, len, v.etag, v.etag_len, true) ==
                    DP_ETAG_LIST_MALFORMED)
                CHECK(r == DP_COND_PRECONDITION_FAILED);
            if (which == 2 && m == DP_METHOD_OTHER)
                CHECK(r == DP_COND_PROCEED);
        }
    }
    bool ir = dp_if_range_matches(s, len, &v, NOW);
    CHECK(!dp_range_wanted(DP_METHOD_HEAD, true, s, len, &v, NOW));
    CHECK(dp_range_wanted(DP_METHOD_GET, true, s, len, &v, NOW) == ir);
}

static bool
unit_is_bytes(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return len - i >= 6 && strncasecmp(s + i, "bytes=", 6) == 0;
}

static void
check_framing(const struct dp_range_set *set, uint64_t fsize)
{
    static const char bd[] = "0123456789abcdef0123456789abcdef";
    static const char ct[] = "text/plain; charset=utf-8";
    uint64_t want;
    CHECK(dp_multipart_length(set, bd, ct, sizeof(ct) - 1, fsize, &want) ==
          0);
    uint64_t got = 0;
    for (unsigned k = 0; k < set->count; k++) {
        char h[DP_MULTIPART_HEADER_SIZE(sizeof(ct))];
        int n = dp_multipart_part_header(h, sizeof(h), bd, ct, sizeof(ct) - 1,
                                         &set->r[k], fsize, k == 0);
        CHECK(n > 0 && (size_t)n < sizeof(h));
        got += (uint64_t)n + dp_byte_range_length(&set->r[k]);
        char cr[DP_CONTENT_RANGE_SIZE];
        CHECK(dp_content_range(cr, sizeof(cr), &set->r[k], fsize) > 0);
    }
    char t[DP_MULTIPART_TRAILER_SIZE];
    int n = dp_multipart_trailer(t, sizeof(t), bd);
    CHECK(n > 0);
    CHECK(got + (uint64_t)n == want);
}

static void
check_range(const char *s, size_t len, uint64_t fsize)
{
    struct dp_range_set set;
    enum dp_range_status st = dp_range_parse(s, len, fsize, &set);
    CHECK(st == DP_RANGE_IGNORE || st == DP_RANGE_PARTIAL ||
          st == DP_RANGE_UNSATISFIABLE);
    if (st != DP_RANGE_PARTIAL) {
        CHECK(set.count == 0);
        if (st == DP_RANGE_UNSATISFIABLE) {
            CHECK(unit_is_bytes(s, len));
            char cr[DP_CONTENT_RANGE_SIZE];
            CHECK(dp_content_range_unsatisfied(cr, sizeof(cr), fsize) > 0);
        }
        return;
    }
    CHECK(unit_is_bytes(s, len));
    CHECK(set.count >= 1 && set.count <= DP_RANGE_MAX_SPECS);
    uint64_t total = 0;
    for (unsigned a = 0; a < set.count; a++) {
        CHECK(set.r[a].first <= set.r[a].last);
        CHECK(set.r[a].last < fsize);
        total += dp_byte_range_length(&set.r[a]);
        for (unsigned b = 0; b < set.count; b++) {
            if (a == b)
                continue;
            const struct dp_byte_range *x = &set.r[a], *y = &set.r[b];
            /* disjoint and more than the gap apart */
            if (x->first <= y->first)
                CHECK(y->first > x->last &&
                      y->first - x->last > DP_RANGE_COALESCE_GAP);
        }
    }
    CHECK(total <= fsize);
    /* (beyond 2^40 bytes the framing total may exceed 64 bits) */
    if (fsize < (1ULL << 40))
        check_framing(&set, fsize);
}

static void
check_accept_encoding(const char *s, size_t len)
{
    struct dp_accept_encoding ae;
    int r = dp_accept_encoding_parse(s, len, &ae);
    CHECK((r == 0) == ae.valid);
    const short q[] = { ae.q_gzip, ae.q_br, ae.q_identity, ae.q_star };
    for (int i = 0; i < 4; i++)
        CHECK(q[i] >= -1 && q[i] <= 1000);
    for (int k = 0; k < 4; k++) {
        bool br = k & 1, gz = k & 2;
        enum dp_coding c = dp_accept_encoding_choose(&ae, br, gz);
        if (c == DP_CODING_BR)
            CHECK(br && dp_accept_encoding_accepts(&ae, c));
        else if (c == DP_CODING_GZIP)
            CHECK(gz && dp_accept_encoding_accepts(&ae, c));
        else
            CHECK(c == DP_CODING_IDENTITY);
    }
    if (!ae.valid) {
        CHECK(!dp_accept_encoding_accepts(&ae, DP_CODING_GZIP));
        CHECK(!dp_accept_encoding_accepts(&ae, DP_CODING_BR));
    }
}

static void
check_xattr_values(const char *s, size_t len)
{
    char out[DP_ETAG_SIZE];
    size_t n;
    if (dp_xattr_etag(s, len, out, &n) == 0) {
        CHECK(n < DP_ETAG_SIZE && strlen(out) == n);
        CHECK(dp_etag_valid(out, n));
    }
    uint32_t age;
    if (dp_xattr_max_age(s, len, &age) == 0)
        CHECK(age >= 1 && age <= DP_MAX_AGE_LIMIT);
    if (dp_media_type_valid(s, len))
        CHECK(len <= DP_CONTENT_TYPE_MAX && memchr(s, '\n', len) == NULL &&
              memchr(s, '\r', len) == NULL);
}

static void
check_plan(const char *s, size_t len)
{
    static const uint8_t rnd[DP_BOUNDARY_RANDOM] = { 1, 2, 3 };
    struct stat st;
    memset(&st, 0, sizeof(st));
    st.st_ino = 7;
    st.st_size = 10000;
    st.st_mtim.tv_sec = LM;
    struct dp_file_meta m;
    dp_file_meta_build(&m, &st, NULL, "text/plain", 10, NOW);
    struct dp_file_options opt = { "gzip", true, 60, rnd };
    for (int which = 0; which < 4; which++) {
        struct dp_file_request req = { 0 };
        req.method = which == 3 ? "HEAD" : "GET";
        req.method_len = strlen(req.method);
        req.range = "bytes=0-0,100-";
        req.range_len = 14;
        if (which == 0 || which == 3) {
            req.range = s;
            req.range_len = len;
        } else if (which == 1) {
            req.if_range = s;
            req.if_range_len = len;
        } else {
            req.cond.if_none_match = s;
            req.cond.if_none_match_len = len;
        }
        struct dp_file_response r;
        dp_file_response_plan(&r, &req, &m, &opt, NOW);
        CHECK(r.status == 200 || r.status == 206 || r.status == 304 ||
              r.status == 412 || r.status == 416);
        CHECK(r.body == (which != 3 && (r.status == 200 || r.status == 206)));
        CHECK(r.n_headers <= DP_FILE_HEADERS_MAX);
        if (r.status == 206 && !r.multipart)
            CHECK(r.ranges.count == 1 && r.content_length <= 10000);
        if (r.status == 200)
            CHECK(r.content_length == 10000);
        char text[1024];
        CHECK(dp_file_response_headers_text(&r, text, sizeof(text)) >= 0);
    }
}

static void
check_h1(const uint8_t *data, size_t size)
{
    struct h1_parser p;
    struct h1_header headers[64];
    struct h1_request req;
    h1_parser_init(&p, NULL, headers, 64);
    if (h1_parse_request(&p, data, size, &req) != H1_DONE)
        return;
    char *scratch = malloc(req.head_len + 1);
    if (scratch == NULL)
        return;
    struct dp_file_h1 f;
    CHECK(dp_file_from_h1(&req, scratch, req.head_len, &f) == 0);
    struct stat st;
    memset(&st, 0, sizeof(st));
    st.st_size = 10000;
    st.st_mtim.tv_sec = LM;
    struct dp_file_meta m;
    dp_file_meta_build(&m, &st, NULL, NULL, 0, NOW);
    struct dp_file_response r;
    dp_file_response_plan(&r, &f.req, &m, NULL, NOW);
    CHECK(r.status >= 200 && r.status <= 416);
    if (r.status == 405)
        CHECK(!(f.req.method_len == 3 && memcmp(f.req.method, "GET", 3) == 0));
    struct dp_accept_encoding ae;
    dp_accept_encoding_parse(f.accept_encoding, f.accept_encoding_len, &ae);
    free(scratch);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = data != NULL ? (const char *)data : "";
    check_date(s, size);
    check_etags(s, size);
    check_conditional(s, size);
    static const uint64_t sizes[] = { 0, 1, 100, 10000, 5000000000ULL,
                                      UINT64_MAX };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        check_range(s, size, sizes[i]);
    check_accept_encoding(s, size);
    check_xattr_values(s, size);
    check_plan(s, size);
    check_h1(data, size);
    return 0;
}
