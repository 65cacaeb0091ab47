/*
 * dp_auth: token extraction, AUTH_FILE, APPEND_AUTH.
 */
#include "dp_auth.h"

#include "h1_chars.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int
dp_auth_query_token(struct dp_pool *pool, const char *query,
                    const char **token, const char **rest)
{
    *token = NULL;
    *rest = query;
    if (query == NULL)
        return 0;
    static const char name[] = DP_AUTH_TOKEN_PARAM "=";
    size_t nlen = sizeof(name) - 1;
    const char *p = query;
    while (*p != '\0') {
        const char *end = strchr(p, '&');
        if (end == NULL)
            end = p + strlen(p);
        if ((size_t)(end - p) >= nlen && memcmp(p, name, nlen) == 0) {
            const char *v = p + nlen;
            size_t vn = (size_t)(end - v);
            char *t = dp_pool_alloc(pool, vn + 1);
            if (t == NULL)
                return -ENOMEM;
            size_t o = 0;
            for (size_t i = 0; i < vn; i++) {
                if (v[i] != '%') {
                    t[o++] = v[i];
                    continue;
                }
                int hi = i + 1 < vn ? h1_hex_value((uint8_t)v[i + 1]) : -1;
                int lo = i + 2 < vn ? h1_hex_value((uint8_t)v[i + 2]) : -1;
                if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                    return -EINVAL;
                t[o++] = (char)(hi << 4 | lo);
                i += 2;
            }
            t[o] = '\0';
            /* the query without this parameter and its '&' */
            size_t before = (size_t)(p - query);
            const char *after = *end == '&' ? end + 1 : end;
            if (before > 0 && *after == '\0')
                before--;       /* drop the '&' in front instead */
            size_t an = strlen(after);
            if (before + an == 0) {
                *rest = NULL;
            } else {
                char *r = dp_pool_alloc(pool, before + an + 1);
                if (r == NULL)
                    return -ENOMEM;
                memcpy(r, query, before);
                memcpy(r + before, after, an + 1);
                *rest = r;
            }
            *token = t;
            return 0;
        }
        p = *end == '&' ? end + 1 : end;
    }
    return 0;
}

int
dp_auth_read_file(const char *path, uint8_t out[DP_AUTH_FILE_MAX],
                  size_t *len, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errlen, "cannot open AUTH_FILE %s: %s", path,
                 strerror(e));
        return -e;
    }
    uint8_t buf[DP_AUTH_FILE_MAX + 1];
    size_t got = 0;
    while (got < sizeof(buf)) {
        ssize_t n = read(fd, buf + got, sizeof(buf) - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            close(fd);
            snprintf(err, errlen, "cannot read AUTH_FILE %s: %s", path,
                     strerror(e));
            return -e;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (got > DP_AUTH_FILE_MAX) {
        snprintf(err, errlen, "AUTH_FILE %s holds more than %d bytes", path,
                 DP_AUTH_FILE_MAX);
        return -EFBIG;
    }
    memcpy(out, buf, got);
    *len = got;
    return 0;
}

struct pr_slice
dp_auth_payload(struct dp_pool *pool, struct pr_slice base,
                struct pr_slice append)
{
    struct pr_slice out = { NULL, 0 };
    if (base.data == NULL && append.data == NULL)
        return out;
    size_t n = base.len + append.len;
    uint8_t *p = dp_pool_alloc(pool, n + 1);
    if (p == NULL)
        return out;
    if (base.len > 0)
        memcpy(p, base.data, base.len);
    if (append.len > 0)
        memcpy(p + base.len, append.data, append.len);
    p[n] = 0;
    out.data = p;
    out.len = n;
    return out;
}
