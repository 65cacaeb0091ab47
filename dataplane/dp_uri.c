/* dp_uri: dissecting and checking request paths. */
#include "dp_uri.h"

#include "h1_chars.h"

#include <string.h>

void
dp_uri_dissect(const char *uri, size_t len, struct dp_uri_parts *out)
{
    memset(out, 0, sizeof(*out));
    const char *q = memchr(uri, '?', len);
    size_t path_len = q != NULL ? (size_t)(q - uri) : len;
    if (q != NULL) {
        out->query.p = q + 1;
        out->query.n = len - path_len - 1;
    }
    const char *semi = memchr(uri, ';', path_len);
    if (semi == NULL) {
        out->base.p = uri;
        out->base.n = path_len;
        return;
    }
    out->base.p = uri;
    out->base.n = (size_t)(semi - uri);
    const char *args = semi + 1;
    size_t rest = path_len - out->base.n - 1;
    const char *slash = memchr(args, '/', rest);
    out->args.p = args;
    out->args.n = slash != NULL ? (size_t)(slash - args) : rest;
    if (slash != NULL) {
        out->path_info.p = slash;
        out->path_info.n = rest - out->args.n;
    }
}

/* Is segment [s, s+n) "." or ".." once %2e is decoded? */
static bool
dot_segment(const char *s, size_t n)
{
    size_t dots = 0;
    for (size_t i = 0; i < n;) {
        if (s[i] == '.') {
            i++;
        } else if (s[i] == '%' && i + 2 < n && s[i + 1] == '2' &&
                   (s[i + 2] == 'e' || s[i + 2] == 'E')) {
            i += 3;
        } else {
            return false;
        }
        dots++;
    }
    return dots == 1 || dots == 2;
}

const char *
dp_uri_path_safe(const char *path, size_t len)
{
    if (len == 0 || path[0] != '/')
        return "the path does not start with '/'";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c < 0x20 || c == 0x7f)
            return "control character in the path";
        if (c == '\\')
            return "backslash in the path";
        if (c == '%') {
            if (i + 2 >= len || h1_hex_value(path[i + 1]) < 0 ||
                h1_hex_value(path[i + 2]) < 0)
                return "malformed percent-encoding in the path";
            int v = h1_hex_value(path[i + 1]) * 16 + h1_hex_value(path[i + 2]);
            if (v == 0)
                return "encoded NUL in the path";
            if (v == '/' || v == '\\')
                return "encoded slash in the path";
            if (v < 0x20 || v == 0x7f)
                return "encoded control character in the path";
        }
    }
    size_t start = 1;
    for (size_t i = 1; i <= len; i++) {
        if (i == len || path[i] == '/') {
            if (dot_segment(path + start, i - start))
                return "dot segment in the path";
            start = i + 1;
        }
    }
    return NULL;
}
