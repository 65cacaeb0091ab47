/* Entity-tags and conditional requests; the contract is in
 * dp_conditional.h. */
#include "dp_conditional.h"

#include "dp_http_date.h"
#include "h1_chars.h"

#include <string.h>

static bool
is_etagc(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80;
}

enum dp_method_class
dp_method_classify(const char *method, size_t len)
{
    if (method != NULL && len == 3 && memcmp(method, "GET", 3) == 0)
        return DP_METHOD_GET;
    if (method != NULL && len == 4 && memcmp(method, "HEAD", 4) == 0)
        return DP_METHOD_HEAD;
    return DP_METHOD_OTHER;
}

size_t
dp_etag_scan(const char *s, size_t len, bool *weak, const char **opaque,
             size_t *opaque_len)
{
    size_t i = 0;
    bool w = false;
    if (s == NULL)
        return 0;
    if (len >= 2 && s[0] == 'W' && s[1] == '/') {
        w = true;
        i = 2;
    }
    if (i >= len || s[i] != '"')
        return 0;
    size_t start = ++i;
    while (i < len && is_etagc((unsigned char)s[i]))
        i++;
    if (i >= len || s[i] != '"')
        return 0;
    if (weak != NULL)
        *weak = w;
    if (opaque != NULL)
        *opaque = s + start;
    if (opaque_len != NULL)
        *opaque_len = i - start;
    return i + 1;
}

bool
dp_etag_valid(const char *s, size_t len)
{
    return len > 0 && dp_etag_scan(s, len, NULL, NULL, NULL) == len;
}

/* Compare two parsed tags. */
static bool
tags_equal(bool a_weak, const char *a, size_t a_len, bool b_weak,
           const char *b, size_t b_len, bool strong)
{
    if (strong && (a_weak || b_weak))
        return false;
    return a_len == b_len && memcmp(a, b, a_len) == 0;
}

bool
dp_etag_equal(const char *a, size_t a_len, const char *b, size_t b_len,
              bool strong)
{
    bool aw, bw;
    const char *ao, *bo;
    size_t aol, bol;
    if (a_len == 0 || dp_etag_scan(a, a_len, &aw, &ao, &aol) != a_len ||
        b_len == 0 || dp_etag_scan(b, b_len, &bw, &bo, &bol) != b_len)
        return false;
    return tags_equal(aw, ao, aol, bw, bo, bol, strong);
}

enum dp_etag_list_result
dp_etag_list_match(const char *list, size_t len, const char *etag,
                   size_t etag_len, bool strong)
{
    size_t i = 0;
    while (i < len && h1_is_ows(list[i]))
        i++;
    while (len > i && h1_is_ows(list[len - 1]))
        len--;
    if (len - i == 1 && list[i] == '*')
        return DP_ETAG_LIST_ANY;

    bool cur_weak = false;
    const char *cur = NULL;
    size_t cur_len = 0;
    bool have_cur = etag != NULL && etag_len > 0 &&
                    dp_etag_scan(etag, etag_len, &cur_weak, &cur, &cur_len) ==
                        etag_len;

    /* #entity-tag: elements separated by OWS "," OWS, empty ones
     * allowed; the whole list is checked even after a match, so that a
     * malformed list is malformed whatever it contains. */
    bool matched = false;
    while (i < len) {
        if (list[i] == ',') {
            i++;
        } else {
            bool w;
            const char *o;
            size_t ol;
            size_t n = dp_etag_scan(list + i, len - i, &w, &o, &ol);
            if (n == 0)
                return DP_ETAG_LIST_MALFORMED;
            if (have_cur &&
                tags_equal(w, o, ol, cur_weak, cur, cur_len, strong))
                matched = true;
            i += n;
            while (i < len && h1_is_ows(list[i]))
                i++;
            if (i < len && list[i] != ',')
                return DP_ETAG_LIST_MALFORMED;
            continue;
        }
        while (i < len && h1_is_ows(list[i]))
            i++;
    }
    return matched ? DP_ETAG_LIST_MATCH : DP_ETAG_LIST_NO_MATCH;
}

/* A date header's value, or false when absent or invalid. */
static bool
header_date(const char *s, size_t len, time_t now, time_t *out)
{
    return s != NULL && dp_http_date_parse(s, len, now, out) == 0;
}

enum dp_cond_result
dp_conditional_evaluate(enum dp_method_class method,
                        const struct dp_cond_headers *h,
                        const struct dp_validators *v, time_t now)
{
    bool get_or_head = method == DP_METHOD_GET || method == DP_METHOD_HEAD;
    time_t date;

    /* Step 1: If-Match, strong comparison; "*" is true since the
     * representation exists. */
    if (h->if_match != NULL) {
        enum dp_etag_list_result r =
            dp_etag_list_match(h->if_match, h->if_match_len, v->etag,
                               v->etag_len, true);
        if (r != DP_ETAG_LIST_ANY && r != DP_ETAG_LIST_MATCH)
            return DP_COND_PRECONDITION_FAILED;
    } else if (v->has_last_modified &&
               header_date(h->if_unmodified_since,
                           h->if_unmodified_since_len, now, &date)) {
        /* Step 2: If-Unmodified-Since, only without If-Match and only
         * when there is a modification date. */
        if (v->last_modified > date)
            return DP_COND_PRECONDITION_FAILED;
    }

    /* Step 3: If-None-Match, weak comparison. */
    if (h->if_none_match != NULL) {
        enum dp_etag_list_result r =
            dp_etag_list_match(h->if_none_match, h->if_none_match_len,
                               v->etag, v->etag_len, false);
        if (r == DP_ETAG_LIST_ANY || r == DP_ETAG_LIST_MATCH)
            return get_or_head ? DP_COND_NOT_MODIFIED
                               : DP_COND_PRECONDITION_FAILED;
    } else if (get_or_head && v->has_last_modified &&
               header_date(h->if_modified_since, h->if_modified_since_len,
                           now, &date) &&
               date <= now) {
        /* Step 4: If-Modified-Since, GET/HEAD only, without
         * If-None-Match. */
        if (v->last_modified <= date)
            return DP_COND_NOT_MODIFIED;
    }
    return DP_COND_PROCEED;
}

bool
dp_if_range_matches(const char *value, size_t len,
                    const struct dp_validators *v, time_t now)
{
    if (value == NULL)
        return false;
    size_t i = 0;
    while (i < len && h1_is_ows(value[i]))
        i++;
    while (len > i && h1_is_ows(value[len - 1]))
        len--;
    const char *s = value + i;
    size_t n = len - i;

    if ((n > 0 && s[0] == '"') || (n > 1 && s[0] == 'W' && s[1] == '/')) {
        /* An entity-tag: exactly one, compared strongly. */
        return v->etag != NULL && dp_etag_valid(s, n) &&
               dp_etag_equal(s, n, v->etag, v->etag_len, true);
    }
    time_t date;
    if (dp_http_date_parse(s, n, now, &date) != 0)
        return false;
    /* A date must be a strong validator (RFC 9110 §8.8.2.2): the file
     * has not changed during the second after Last-Modified began, as
     * far as we can tell, i.e. that second is over. */
    return v->has_last_modified && date == v->last_modified &&
           v->last_modified < now;
}

bool
dp_range_wanted(enum dp_method_class method, bool has_range,
                const char *if_range, size_t if_range_len,
                const struct dp_validators *v, time_t now)
{
    if (method != DP_METHOD_GET || !has_range)
        return false;
    return if_range == NULL ||
           dp_if_range_matches(if_range, if_range_len, v, now);
}
