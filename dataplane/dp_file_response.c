/* The HTTP decision for a static file; the contract is in
 * dp_file_response.h. */
#include "dp_file_response.h"

#include <stdio.h>
#include <string.h>

static void
add(struct dp_file_response *r, const char *name, const char *value,
    size_t len)
{
    /* DP_FILE_HEADERS_MAX covers the longest list the plan builds. */
    if (r->n_headers < DP_FILE_HEADERS_MAX && value != NULL) {
        r->headers[r->n_headers].name = name;
        r->headers[r->n_headers].value = value;
        r->headers[r->n_headers].value_len = len;
        r->n_headers++;
    }
}

static void
add_str(struct dp_file_response *r, const char *name, const char *value)
{
    add(r, name, value, strlen(value));
}

/* Expires and Cache-Control, from EXPIRES_RELATIVE or user.MaxAge. */
static void
add_expiry(struct dp_file_response *r, const struct dp_file_meta *m,
           const struct dp_file_options *opt, time_t now)
{
    uint32_t seconds = 0;
    if (opt != NULL && opt->expires_relative > 0)
        seconds = opt->expires_relative;
    else if (m->has_max_age)
        seconds = m->max_age;
    if (seconds == 0)
        return;
    int n = snprintf(r->cache_control, sizeof(r->cache_control),
                     "max-age=%u", (unsigned)seconds);
    if (n > 0 && (size_t)n < sizeof(r->cache_control))
        add(r, "Cache-Control", r->cache_control, (size_t)n);
    if (dp_expires_format(now, seconds, r->expires) == 0)
        add(r, "Expires", r->expires, DP_HTTP_DATE_LEN);
}

/* The validators and cache headers shared by 200, 206 and 304. */
static void
add_validators(struct dp_file_response *r, const struct dp_file_meta *m,
               const struct dp_file_options *opt, time_t now,
               bool accept_ranges)
{
    add(r, "ETag", m->etag, m->etag_len);
    if (m->has_last_modified)
        add(r, "Last-Modified", m->last_modified_text, DP_HTTP_DATE_LEN);
    if (accept_ranges)
        add_str(r, "Accept-Ranges", "bytes");
    add_expiry(r, m, opt, now);
    if (opt != NULL && opt->vary_accept_encoding)
        add_str(r, "Vary", "Accept-Encoding");
}

static void
add_content_encoding(struct dp_file_response *r,
                     const struct dp_file_options *opt)
{
    if (opt != NULL && opt->content_encoding != NULL)
        add_str(r, "Content-Encoding", opt->content_encoding);
}

/* 200 with everything. */
static void
plan_full(struct dp_file_response *r, const struct dp_file_meta *m,
          const struct dp_file_options *opt, time_t now)
{
    r->status = 200;
    r->content_length = m->size;
    add(r, "Content-Type", m->content_type, m->content_type_len);
    add_content_encoding(r, opt);
    add_validators(r, m, opt, now, true);
}

/* 206 for the parsed set; false if a multipart answer is impossible. */
static bool
plan_partial(struct dp_file_response *r, const struct dp_range_set *set,
             const struct dp_file_meta *m, const struct dp_file_options *opt,
             time_t now)
{
    if (set->count == 1) {
        int n = dp_content_range(r->content_range, sizeof(r->content_range),
                                 &set->r[0], m->size);
        if (n < 0)
            return false;
        r->status = 206;
        r->ranges = *set;
        r->content_length = dp_byte_range_length(&set->r[0]);
        add(r, "Content-Type", m->content_type, m->content_type_len);
        add_content_encoding(r, opt);
        add(r, "Content-Range", r->content_range, (size_t)n);
        add_validators(r, m, opt, now, true);
        return true;
    }

    /* Content-Encoding on a multipart body would claim the multipart
     * itself is compressed; multiple ranges of a compressed variant are
     * answered with the whole variant (RFC 9110 §14.2 lets us). */
    if (opt == NULL || opt->boundary_random == NULL ||
        opt->content_encoding != NULL)
        return false;
    dp_multipart_boundary(r->boundary, opt->boundary_random);
    uint64_t total;
    int n = dp_multipart_content_type(r->multipart_type,
                                      sizeof(r->multipart_type), r->boundary);
    if (n < 0 || dp_multipart_length(set, r->boundary, m->content_type,
                                     m->content_type_len, m->size,
                                     &total) != 0) {
        r->boundary[0] = '\0';
        return false;
    }
    r->status = 206;
    r->multipart = true;
    r->ranges = *set;
    r->content_length = total;
    add(r, "Content-Type", r->multipart_type, (size_t)n);
    add_content_encoding(r, opt);
    add_validators(r, m, opt, now, true);
    return true;
}

void
dp_file_response_plan(struct dp_file_response *out,
                      const struct dp_file_request *req,
                      const struct dp_file_meta *m,
                      const struct dp_file_options *opt, time_t now)
{
    memset(out, 0, sizeof(*out));
    enum dp_method_class method =
        dp_method_classify(req->method, req->method_len);

    if (method == DP_METHOD_OTHER) {
        out->status = 405;
        add_str(out, "Allow", DP_FILE_ALLOW);
        return;
    }

    struct dp_validators v;
    dp_file_meta_validators(m, &v);
    switch (dp_conditional_evaluate(method, &req->cond, &v, now)) {
    case DP_COND_PRECONDITION_FAILED:
        out->status = 412;
        return;
    case DP_COND_NOT_MODIFIED:
        out->status = 304;
        add_validators(out, m, opt, now, false);
        return;
    case DP_COND_PROCEED:
        break;
    }

    bool is_get = method == DP_METHOD_GET;
    if (dp_range_wanted(method, req->range != NULL, req->if_range,
                        req->if_range_len, &v, now)) {
        struct dp_range_set set;
        switch (dp_range_parse(req->range, req->range_len, m->size, &set)) {
        case DP_RANGE_UNSATISFIABLE: {
            int n = dp_content_range_unsatisfied(
                out->content_range, sizeof(out->content_range), m->size);
            out->status = 416;
            add(out, "Content-Range", out->content_range, (size_t)n);
            add_str(out, "Accept-Ranges", "bytes");
            if (opt != NULL && opt->vary_accept_encoding)
                add_str(out, "Vary", "Accept-Encoding");
            return;
        }
        case DP_RANGE_PARTIAL:
            if (plan_partial(out, &set, m, opt, now)) {
                out->body = is_get;
                return;
            }
            /* no multipart possible: the whole file */
            memset(out, 0, sizeof(*out));
            break;
        case DP_RANGE_IGNORE:
            break;
        }
    }
    plan_full(out, m, opt, now);
    out->body = is_get;
}

int
dp_file_response_headers_text(const struct dp_file_response *r, char *buf,
                              size_t cap)
{
    size_t len = 0;
    for (unsigned i = 0; i < r->n_headers; i++) {
        const struct dp_file_header *h = &r->headers[i];
        size_t nl = strlen(h->name);
        size_t need = nl + 2 + h->value_len + 2;
        if (cap - len <= need)
            return -1;
        memcpy(buf + len, h->name, nl);
        memcpy(buf + len + nl, ": ", 2);
        memcpy(buf + len + nl + 2, h->value, h->value_len);
        memcpy(buf + len + nl + 2 + h->value_len, "\r\n", 2);
        len += need;
    }
    if (cap == 0 || len >= cap)
        return -1;
    buf[len] = '\0';
    return (int)len;
}
