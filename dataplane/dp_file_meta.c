/* Static file metadata and xattrs; the contract is in dp_file_meta.h. */
#include "dp_file_meta.h"

#include "h1_chars.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

static bool
is_etagc(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80;
}

int
dp_xattr_etag(const char *raw, size_t len, char out[DP_ETAG_SIZE],
              size_t *out_len)
{
    if (raw == NULL || len == 0)
        return -1;
    bool weak;
    const char *opaque;
    size_t opaque_len;
    if (dp_etag_scan(raw, len, &weak, &opaque, &opaque_len) == len) {
        /* a complete entity-tag */
        if (opaque_len > DP_ETAG_MAX)
            return -1;
        memcpy(out, raw, len);
        out[len] = '\0';
        *out_len = len;
        return 0;
    }
    /* bare etagc characters, quoted by us */
    if (len > DP_ETAG_MAX)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (!is_etagc((unsigned char)raw[i]))
            return -1;
    out[0] = '"';
    memcpy(out + 1, raw, len);
    out[len + 1] = '"';
    out[len + 2] = '\0';
    *out_len = len + 2;
    return 0;
}

/* quoted-string at s[*i] (RFC 9110 §5.6.4) */
static bool
quoted_string(const char *s, size_t len, size_t *i)
{
    if (*i >= len || s[*i] != '"')
        return false;
    (*i)++;
    while (*i < len) {
        unsigned char c = (unsigned char)s[*i];
        if (c == '"') {
            (*i)++;
            return true;
        }
        if (c == '\\') {
            (*i)++;
            if (*i >= len)
                return false;
            c = (unsigned char)s[*i];
            if (!(c == '\t' || (c >= 0x20 && c != 0x7f)))
                return false;
        } else if (!(c == '\t' || (c >= 0x20 && c != 0x7f))) {
            return false;
        }
        (*i)++;
    }
    return false;
}

static size_t
token(const char *s, size_t len, size_t i)
{
    size_t start = i;
    while (i < len && h1_is_tchar(s[i]))
        i++;
    return i - start;
}

bool
dp_media_type_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0 || len > DP_CONTENT_TYPE_MAX)
        return false;
    /* type "/" subtype */
    size_t i = token(s, len, 0);
    if (i == 0 || i >= len || s[i] != '/')
        return false;
    i++;
    size_t n = token(s, len, i);
    if (n == 0)
        return false;
    i += n;
    /* parameters = *( OWS ";" OWS [ parameter ] ) */
    while (i < len) {
        while (i < len && h1_is_ows(s[i]))
            i++;
        if (i >= len || s[i] != ';')
            return false;
        i++;
        while (i < len && h1_is_ows(s[i]))
            i++;
        if (i >= len || s[i] == ';')
            continue;
        n = token(s, len, i);
        if (n == 0)
            return false;
        i += n;
        if (i >= len || s[i] != '=')
            return false;
        i++;
        if (i < len && s[i] == '"') {
            if (!quoted_string(s, len, &i))
                return false;
        } else {
            n = token(s, len, i);
            if (n == 0)
                return false;
            i += n;
        }
    }
    return true;
}

int
dp_xattr_max_age(const char *raw, size_t len, uint32_t *out)
{
    if (raw == NULL || len == 0)
        return -1;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (raw[i] < '0' || raw[i] > '9')
            return -1;
        if (v <= DP_MAX_AGE_LIMIT)
            v = v * 10 + (uint64_t)(raw[i] - '0');
    }
    if (v == 0)
        return -1;
    *out = v > DP_MAX_AGE_LIMIT ? DP_MAX_AGE_LIMIT : (uint32_t)v;
    return 0;
}

/* Read attribute `name` into buf (cap bytes); its length, 0 if absent or
 * too large, or -errno for other failures. */
static ssize_t
read_attr(int fd, const char *name, char *buf, size_t cap)
{
    ssize_t n = fgetxattr(fd, name, buf, cap);
    if (n >= 0)
        return n;
    if (errno == ENODATA || errno == ENOTSUP || errno == ERANGE)
        return 0;
    return -errno;
}

int
dp_file_xattrs_read(int fd, struct dp_file_xattrs *x)
{
    memset(x, 0, sizeof(*x));
    int err = 0;

    char buf[DP_CONTENT_TYPE_MAX + DP_ETAG_SIZE];
    _Static_assert(sizeof(buf) > DP_CONTENT_TYPE_MAX + 1 &&
                       sizeof(buf) > DP_ETAG_MAX + 5 &&
                       sizeof(buf) > DP_MAX_AGE_TEXT_MAX + 1,
                   "attribute buffer too small");

    /* Most files have no attributes at all: one flistxattr() answers
     * that, instead of three failing fgetxattr() calls per request. */
    char names[512];
    ssize_t ln = flistxattr(fd, names, sizeof(names));
    if (ln == 0)
        return 0;
    if (ln > 0) {
        bool ours = false;
        for (ssize_t i = 0; i < ln && !ours;
             i += (ssize_t)strlen(names + i) + 1)
            ours = strcmp(names + i, "user.Content-Type") == 0 ||
                   strcmp(names + i, "user.ETag") == 0 ||
                   strcmp(names + i, "user.MaxAge") == 0;
        if (!ours)
            return 0;
    }
    /* ERANGE (a long list) or another error: ask for each one. */

    /* One byte more than the longest valid value, so an oversized value
     * is seen as such (too long) instead of being cut. */
    ssize_t n = read_attr(fd, "user.Content-Type", buf,
                          DP_CONTENT_TYPE_MAX + 1);
    if (n < 0)
        err = (int)n;
    else if (n > 0 && dp_media_type_valid(buf, (size_t)n)) {
        memcpy(x->content_type, buf, (size_t)n);
        x->content_type[n] = '\0';
        x->content_type_len = (size_t)n;
        x->has_content_type = true;
    }

    n = read_attr(fd, "user.ETag", buf, DP_ETAG_MAX + 5);
    if (n < 0)
        err = (int)n;
    else if (n > 0 &&
             dp_xattr_etag(buf, (size_t)n, x->etag, &x->etag_len) == 0)
        x->has_etag = true;

    n = read_attr(fd, "user.MaxAge", buf, DP_MAX_AGE_TEXT_MAX + 1);
    if (n < 0)
        err = (int)n;
    else if (n > 0 && n <= DP_MAX_AGE_TEXT_MAX &&
             dp_xattr_max_age(buf, (size_t)n, &x->max_age) == 0)
        x->has_max_age = true;
    return err;
}

/* Lowercase hex of v, no leading zeros; returns the end. */
static char *
put_hex(char *p, uint64_t v)
{
    char tmp[16];
    int n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v & 15];
        v >>= 4;
    } while (v != 0);
    while (n > 0)
        *p++ = tmp[--n];
    return p;
}

void
dp_file_meta_build(struct dp_file_meta *m, const struct stat *st,
                   const struct dp_file_xattrs *x, const char *content_type,
                   size_t content_type_len, time_t now)
{
    memset(m, 0, sizeof(*m));
    m->size = (uint64_t)st->st_size;

    if (x != NULL && x->has_etag) {
        memcpy(m->etag, x->etag, x->etag_len + 1);
        m->etag_len = x->etag_len;
        m->etag_weak = x->etag[0] == 'W';
    } else {
        /* 5 fields of at most 16 digits, 4 dashes, 2 quotes: 86 bytes */
        _Static_assert(DP_ETAG_SIZE > 86 + 1, "ETag buffer too small");
        char *p = m->etag;
        *p++ = '"';
        p = put_hex(p, (uint64_t)st->st_dev);
        *p++ = '-';
        p = put_hex(p, (uint64_t)st->st_ino);
        *p++ = '-';
        p = put_hex(p, (uint64_t)st->st_size);
        *p++ = '-';
        p = put_hex(p, (uint64_t)st->st_mtim.tv_sec);
        *p++ = '-';
        p = put_hex(p, (uint64_t)st->st_mtim.tv_nsec);
        *p++ = '"';
        *p = '\0';
        m->etag_len = (size_t)(p - m->etag);
    }

    time_t lm = st->st_mtim.tv_sec > now ? now : st->st_mtim.tv_sec;
    if (dp_http_date_format(lm, m->last_modified_text) == 0) {
        m->has_last_modified = true;
        m->last_modified = lm;
    }

    dp_file_meta_set_content_type(m, x, content_type, content_type_len);

    if (x != NULL && x->has_max_age) {
        m->has_max_age = true;
        m->max_age = x->max_age;
    }
}

void
dp_file_meta_set_content_type(struct dp_file_meta *m,
                              const struct dp_file_xattrs *x,
                              const char *content_type,
                              size_t content_type_len)
{
    if (content_type != NULL && content_type_len > 0 &&
        h1_is_field_value(content_type, content_type_len)) {
        m->content_type = content_type;
        m->content_type_len = content_type_len;
    } else if (x != NULL && x->has_content_type) {
        m->content_type = x->content_type;
        m->content_type_len = x->content_type_len;
    } else {
        m->content_type = DP_DEFAULT_CONTENT_TYPE;
        m->content_type_len = sizeof(DP_DEFAULT_CONTENT_TYPE) - 1;
    }
}

void
dp_file_meta_validators(const struct dp_file_meta *m,
                        struct dp_validators *v)
{
    v->etag = m->etag;
    v->etag_len = m->etag_len;
    v->has_last_modified = m->has_last_modified;
    v->last_modified = m->last_modified;
}

int
dp_file_meta_cache_control(const struct dp_file_meta *m, char *buf,
                           size_t cap)
{
    if (!m->has_max_age || cap == 0)
        return -1;
    int n = snprintf(buf, cap, "max-age=%u", (unsigned)m->max_age);
    return n < 0 || (size_t)n >= cap ? -1 : n;
}

int
dp_expires_format(time_t now, uint32_t seconds,
                  char out[DP_HTTP_DATE_SIZE])
{
    if (now > INT64_MAX - (int64_t)seconds) {
        out[0] = '\0';
        return -1;
    }
    return dp_http_date_format(now + (time_t)seconds, out);
}
