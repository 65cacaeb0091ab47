/* Static-file header values from an HTTP/1.1 request head; the contract
 * is in dp_file_h1.h. */
#include "dp_file_h1.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

static bool
name_is(const struct h1_header *hd, const char *name, size_t name_len)
{
    return hd->name.len == name_len &&
           strncasecmp((const char *)hd->name.data, name, name_len) == 0;
}

int
dp_h1_field(const struct h1_request *h, const char *name, char *scratch,
            size_t cap, size_t *used, const char **value, size_t *len)
{
    size_t name_len = strlen(name);
    const struct h1_header *first = NULL;
    size_t count = 0, total = 0;
    for (size_t i = 0; i < h->header_count; i++) {
        const struct h1_header *hd = &h->headers[i];
        if (!name_is(hd, name, name_len))
            continue;
        if (first == NULL)
            first = hd;
        total += (count > 0 ? 2 : 0) + hd->value.len;
        count++;
    }
    *value = NULL;
    *len = 0;
    if (count == 0)
        return 0;
    if (count == 1) {
        /* an empty value still counts as present */
        *value = first->value.data != NULL
                     ? (const char *)first->value.data
                     : "";
        *len = first->value.len;
        return 0;
    }
    if (*used > cap || cap - *used < total)
        return -ENOSPC;
    char *out = scratch + *used;
    size_t n = 0;
    for (size_t i = 0; i < h->header_count; i++) {
        const struct h1_header *hd = &h->headers[i];
        if (!name_is(hd, name, name_len))
            continue;
        if (n > 0) {
            memcpy(out + n, ", ", 2);
            n += 2;
        }
        if (hd->value.len > 0)
            memcpy(out + n, hd->value.data, hd->value.len);
        n += hd->value.len;
    }
    *used += n;
    *value = out;
    *len = n;
    return 0;
}

int
dp_file_from_h1(const struct h1_request *h, char *scratch, size_t cap,
                struct dp_file_h1 *out)
{
    memset(out, 0, sizeof(*out));
    struct dp_file_request *r = &out->req;
    r->method = (const char *)h->method_token.data;
    r->method_len = h->method_token.len;

    size_t used = 0;
    struct {
        const char *name;
        const char **value;
        size_t *len;
    } fields[] = {
        { "If-Match", &r->cond.if_match, &r->cond.if_match_len },
        { "If-None-Match", &r->cond.if_none_match,
          &r->cond.if_none_match_len },
        { "If-Modified-Since", &r->cond.if_modified_since,
          &r->cond.if_modified_since_len },
        { "If-Unmodified-Since", &r->cond.if_unmodified_since,
          &r->cond.if_unmodified_since_len },
        { "Range", &r->range, &r->range_len },
        { "If-Range", &r->if_range, &r->if_range_len },
        { "Accept-Encoding", &out->accept_encoding,
          &out->accept_encoding_len },
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        int rc = dp_h1_field(h, fields[i].name, scratch, cap, &used,
                             fields[i].value, fields[i].len);
        if (rc != 0) {
            memset(out, 0, sizeof(*out));
            return rc;
        }
    }
    return 0;
}
