/*
 * dp_fcgi_head: CGI head -> status, length, response headers.
 */
#include "dp_fcgi_head.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int
dp_fcgi_head_response(const struct cgi_head *h,
                      struct dp_response_headers *headers,
                      struct dp_fcgi_head *out, char *msg, size_t msglen)
{
    if (h->local_redirect) {
        snprintf(msg, msglen, "local redirect to \"%.*s\" (CGI Location "
                 "with a local path) is not supported",
                 (int)h->location.len, (const char *)h->location.data);
        return -EPROTO;
    }
    for (size_t i = 0; i < h->n_headers; i++) {
        const struct cgi_header *x = &h->headers[i];
        char name[128];
        if (x->name.len >= sizeof(name)) {
            snprintf(msg, msglen, "header name of %zu bytes",
                     x->name.len);
            return -EPROTO;
        }
        memcpy(name, x->name.data, x->name.len);
        name[x->name.len] = '\0';
        if (strcasecmp(name, "Content-Length") == 0 ||
            strcasecmp(name, "Date") == 0 || strcasecmp(name, "Server") == 0)
            continue;
        char *value = dp_pool_strndup(headers->pool, x->value.data,
                                      x->value.len);
        if (value == NULL || dp_response_header(headers, name, value) != 0) {
            snprintf(msg, msglen, "out of memory");
            return -ENOMEM;
        }
    }
    out->status = h->status;
    out->length = h->has_content_length ? (int64_t)h->content_length : -1;
    return 0;
}
