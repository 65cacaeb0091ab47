/*
 * dp_cgi_vars: see dp_cgi_vars.h.
 */
#include "dp_cgi_vars.h"

#include "dp_uri.h"

#include <stdio.h>
#include <string.h>

char *
dp_cgi_http_var(struct dp_pool *pool, const char *name)
{
    size_t n = strlen(name);
    char *v = dp_pool_alloc(pool, n + 6);
    if (v == NULL)
        return NULL;
    memcpy(v, "HTTP_", 5);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            c = '_';
        v[5 + i] = c;
    }
    v[5 + n] = '\0';
    return v;
}

char *
dp_cgi_request_uri(struct dp_pool *pool, const struct tp_address *a,
                   const char *path, const char *query)
{
    const char *q = query != NULL ? "?" : "";
    if (query == NULL)
        query = "";
    const char *head, *tail;
    int head_n, tail_n;
    struct dp_uri_parts parts;
    if (a->script_name != NULL && !a->request_uri_verbatim) {
        head = a->script_name;
        head_n = (int)strlen(head);
        tail = a->path_info != NULL ? a->path_info : "";
        tail_n = (int)strlen(tail);
    } else {
        dp_uri_dissect(path, strlen(path), &parts);
        head = parts.base.p;
        head_n = (int)parts.base.n;
        tail = parts.path_info.p != NULL ? parts.path_info.p : "";
        tail_n = parts.path_info.p != NULL ? (int)parts.path_info.n : 0;
    }
    size_t n = (size_t)head_n + (size_t)tail_n + strlen(q) + strlen(query) +
               1;
    char *s = dp_pool_alloc(pool, n);
    if (s != NULL)
        snprintf(s, n, "%.*s%.*s%s%s", head_n, head, tail_n, tail, q, query);
    return s;
}
