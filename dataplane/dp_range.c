/* Byte ranges and 206 framing; the contract is in dp_range.h. */
#include "dp_range.h"

#include "h1_chars.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* 1*DIGIT at s[*i], saturating at UINT64_MAX. */
static bool
number(const char *s, size_t len, size_t *i, uint64_t *out)
{
    size_t start = *i;
    uint64_t v = 0;
    while (*i < len && is_digit(s[*i])) {
        unsigned d = (unsigned)(s[*i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            v = UINT64_MAX;
        else
            v = v * 10 + d;
        (*i)++;
    }
    *out = v;
    return *i > start;
}

/* One parsed range-spec, before it meets the size. */
struct spec {
    bool suffix;
    uint64_t a, b; /* first/last (b = UINT64_MAX if open), or suffix */
};

/* Parse `bytes=` range-set into specs; false if invalid or too many. */
static bool
parse_specs(const char *s, size_t len, struct spec *specs, unsigned *count)
{
    size_t i = 0;
    unsigned n = 0;
    while (i < len) {
        if (s[i] == ',') {
            i++;
            while (i < len && h1_is_ows(s[i]))
                i++;
            continue;
        }
        struct spec sp = { false, 0, UINT64_MAX };
        if (s[i] == '-') {
            i++;
            sp.suffix = true;
            if (!number(s, len, &i, &sp.a))
                return false;
        } else {
            if (!number(s, len, &i, &sp.a))
                return false;
            if (i >= len || s[i] != '-')
                return false;
            i++;
            if (i < len && is_digit(s[i])) {
                number(s, len, &i, &sp.b);
                if (sp.b < sp.a)
                    return false;
            }
        }
        if (n == DP_RANGE_MAX_SPECS)
            return false;
        specs[n++] = sp;
        while (i < len && h1_is_ows(s[i]))
            i++;
        if (i < len && s[i] != ',')
            return false;
    }
    *count = n;
    return n > 0;
}

static void
sort_ranges(struct dp_byte_range *r, unsigned n)
{
    /* insertion sort: n <= 16 */
    for (unsigned i = 1; i < n; i++) {
        struct dp_byte_range x = r[i];
        unsigned j = i;
        while (j > 0 && (r[j - 1].first > x.first ||
                         (r[j - 1].first == x.first &&
                          r[j - 1].last > x.last))) {
            r[j] = r[j - 1];
            j--;
        }
        r[j] = x;
    }
}

/* Whether b starts close enough after a's start to share a part; the
 * ranges are sorted by first. */
static bool
mergeable(const struct dp_byte_range *a, const struct dp_byte_range *b)
{
    return b->first <= a->last ||
           b->first - a->last <= (uint64_t)DP_RANGE_COALESCE_GAP;
}

enum dp_range_status
dp_range_parse(const char *s, size_t len, uint64_t size,
               struct dp_range_set *out)
{
    out->count = 0;
    if (s == NULL)
        return DP_RANGE_IGNORE;
    size_t i = 0;
    while (i < len && h1_is_ows(s[i]))
        i++;
    while (len > i && h1_is_ows(s[len - 1]))
        len--;

    /* range-unit "=" */
    size_t unit = i;
    while (i < len && h1_is_tchar(s[i]))
        i++;
    if (i == unit || i >= len || s[i] != '=')
        return DP_RANGE_IGNORE;
    if (i - unit != 5 || strncasecmp(s + unit, "bytes", 5) != 0)
        return DP_RANGE_IGNORE;
    i++;

    struct spec specs[DP_RANGE_MAX_SPECS];
    unsigned n = 0;
    if (!parse_specs(s + i, len - i, specs, &n))
        return DP_RANGE_IGNORE;

    /* Meet the size: keep the satisfiable ones. */
    struct dp_byte_range req[DP_RANGE_MAX_SPECS];
    unsigned m = 0;
    for (unsigned k = 0; k < n; k++) {
        if (size == 0)
            break;
        if (specs[k].suffix) {
            if (specs[k].a == 0)
                continue;
            req[m].first = specs[k].a >= size ? 0 : size - specs[k].a;
            req[m].last = size - 1;
        } else {
            if (specs[k].a >= size)
                continue;
            req[m].first = specs[k].a;
            req[m].last = specs[k].b >= size ? size - 1 : specs[k].b;
        }
        m++;
    }
    if (m == 0)
        return DP_RANGE_UNSATISFIABLE;

    /* Coalesce on a sorted copy. */
    struct dp_byte_range sorted[DP_RANGE_MAX_SPECS];
    memcpy(sorted, req, m * sizeof(*req));
    sort_ranges(sorted, m);
    unsigned merged = 0;
    for (unsigned k = 1; k < m; k++) {
        struct dp_byte_range *cur = &sorted[merged];
        if (mergeable(cur, &sorted[k])) {
            if (sorted[k].last > cur->last)
                cur->last = sorted[k].last;
        } else {
            sorted[++merged] = sorted[k];
        }
    }
    merged++;

    const struct dp_byte_range *src = merged == m ? req : sorted;
    memcpy(out->r, src, merged * sizeof(*src));
    out->count = merged;
    return DP_RANGE_PARTIAL;
}

/* snprintf's result as ours: the length, or -1 if it did not fit. */
static int
fitted(int n, size_t cap)
{
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

int
dp_content_range(char *buf, size_t cap, const struct dp_byte_range *r,
                 uint64_t size)
{
    if (cap == 0)
        return -1;
    int n = snprintf(buf, cap, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64,
                     r->first, r->last, size);
    return fitted(n, cap);
}

int
dp_content_range_unsatisfied(char *buf, size_t cap, uint64_t size)
{
    if (cap == 0)
        return -1;
    return fitted(snprintf(buf, cap, "bytes */%" PRIu64, size), cap);
}

void
dp_multipart_boundary(char out[DP_BOUNDARY_SIZE],
                      const uint8_t random[DP_BOUNDARY_RANDOM])
{
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < DP_BOUNDARY_RANDOM; i++) {
        out[2 * i] = hex[random[i] >> 4];
        out[2 * i + 1] = hex[random[i] & 15];
    }
    out[DP_BOUNDARY_LEN] = '\0';
}

/* A boundary of RFC 2046 §5.1.1: 1..70 bchars, not ending in a space;
 * we only produce (and so only accept) the safe subset without space. */
static bool
boundary_ok(const char *b)
{
    if (b == NULL)
        return false;
    size_t n = strlen(b);
    if (n == 0 || n > DP_BOUNDARY_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = b[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
              (c >= 'A' && c <= 'Z') || strchr("'()+_,-./:=?", c) != NULL))
            return false;
    }
    return true;
}

int
dp_multipart_content_type(char *buf, size_t cap, const char *boundary)
{
    if (cap == 0 || !boundary_ok(boundary))
        return -1;
    return fitted(
        snprintf(buf, cap, "multipart/byteranges; boundary=%s", boundary),
        cap);
}

int
dp_multipart_part_header(char *buf, size_t cap, const char *boundary,
                         const char *content_type, size_t content_type_len,
                         const struct dp_byte_range *r, uint64_t size,
                         bool first)
{
    if (cap == 0 || !boundary_ok(boundary) ||
        (content_type != NULL &&
         (content_type_len == 0 ||
          !h1_is_field_value(content_type, content_type_len) ||
          content_type_len > INT32_MAX)))
        return -1;
    int n;
    if (content_type != NULL)
        n = snprintf(buf, cap,
                     "%s--%s\r\nContent-Type: %.*s\r\n"
                     "Content-Range: bytes %" PRIu64 "-%" PRIu64
                     "/%" PRIu64 "\r\n\r\n",
                     first ? "" : "\r\n", boundary, (int)content_type_len,
                     content_type, r->first, r->last, size);
    else
        n = snprintf(buf, cap,
                     "%s--%s\r\n"
                     "Content-Range: bytes %" PRIu64 "-%" PRIu64
                     "/%" PRIu64 "\r\n\r\n",
                     first ? "" : "\r\n", boundary, r->first, r->last, size);
    return fitted(n, cap);
}

int
dp_multipart_trailer(char *buf, size_t cap, const char *boundary)
{
    if (cap == 0 || !boundary_ok(boundary))
        return -1;
    return fitted(snprintf(buf, cap, "\r\n--%s--\r\n", boundary), cap);
}

int
dp_multipart_length(const struct dp_range_set *set, const char *boundary,
                    const char *content_type, size_t content_type_len,
                    uint64_t size, uint64_t *out)
{
    if (set->count == 0 || set->count > DP_RANGE_MAX_SPECS ||
        content_type_len > 4096)
        return -1;
    uint64_t total = 0;
    char head[DP_MULTIPART_HEADER_SIZE(4096)];
    for (unsigned k = 0; k < set->count; k++) {
        const struct dp_byte_range *r = &set->r[k];
        if (r->first > r->last || r->last >= size)
            return -1;
        int n = dp_multipart_part_header(head, sizeof(head), boundary,
                                         content_type, content_type_len, r,
                                         size, k == 0);
        if (n < 0)
            return -1;
        uint64_t add = (uint64_t)n + dp_byte_range_length(r);
        if (total > UINT64_MAX - add)
            return -1;
        total += add;
    }
    char tail[DP_MULTIPART_TRAILER_SIZE];
    int n = dp_multipart_trailer(tail, sizeof(tail), boundary);
    if (n < 0 || total > UINT64_MAX - (uint64_t)n)
        return -1;
    *out = total + (uint64_t)n;
    return 0;
}
