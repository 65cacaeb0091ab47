/*
 * tr_site: the site file of portier-translate.  See tr_site.h.
 *
 * Loading makes three passes over the text: strip the '#' comments
 * (replacing them by spaces, so every byte keeps its offset), parse with
 * jansson, then scan the same text once more for the offset of every key
 * and value.  jansson keeps no positions, and the builder needs them to
 * name the line and column of a bad value; the scan's tree is walked in
 * step with jansson's (objects keep their members in file order, and
 * duplicate keys are refused, so the i-th member is the i-th in the text).
 * Everything the site keeps lives in one arena.
 */
#include "tr_site.h"

#include "h1_chars.h"
#include "pr_bytes.h"

#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_DEPTH       32 /* nesting of arrays and objects */
#define MAX_HOST_NAME   253
#define MAX_TAG         255
#define MAX_SUFFIX      32
#define MAX_HEADER_NAME 256
#define MAX_ENV_NAME    128
#define MAX_DEFAULT_DOC 255
#define MAX_MEDIA_TYPE  255
#define MAX_USER        255

#define ORIGIN_SCHEMES                                                         \
    "file://, nfs://, http://, https://, cgi://, fastcgi://, was://, "         \
    "lhttp:// or >https:// (redirect)"
#define HASH_ADVICE                                                            \
    "use a crypt(3) hash: bcrypt ($2y$), sha512-crypt ($6$), "                 \
    "sha256-crypt ($5$) or yescrypt ($y$), as made by `htpasswd -B` or "       \
    "`mkpasswd -m yescrypt`"

/* Where a JSON value sits in the text. */
struct pos {
    size_t off;     /* first byte of the value */
    size_t key_off; /* first byte of its key, inside an object */
    size_t n;       /* members or elements */
    struct pos *kids;
};

/* One name (or alias) of a vhost, for the host index. */
struct host_entry {
    const char *name;
    const char *tag;
    const struct tr_site_vhost *vhost;
    size_t off; /* while loading: where the name is written */
    size_t order;
};

struct tr_site {
    struct pr_arena arena;
    struct tr_site_vhost *vhosts;
    size_t n_vhosts;
    struct host_entry *hosts; /* sorted by name, then file order */
    size_t n_hosts;
};

struct htpasswd_entry {
    const char *user;
    const char *hash;
    size_t off; /* while loading */
};

struct tr_site_htpasswd {
    const struct htpasswd_entry *entries; /* sorted by user */
    size_t n;
};

struct loader {
    const char *name; /* the site file, for messages */
    const char *text; /* without comments */
    size_t len;
    const char *base_dir; /* NULL: relative paths are refused */
    size_t *line_starts;
    size_t n_lines;
    struct tr_site *site;
    struct pr_arena *arena; /* the site's */
    struct pr_arena tmp;    /* positions and scratch; freed after load */
    char *err;
    size_t errlen;
};

/* --- small helpers ------------------------------------------------------ */

static bool
is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool
is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_alnum(int c)
{
    return is_digit(c) || is_alpha(c);
}

static int
to_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static bool
is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* The alphabet of crypt(3) salts and hashes. */
static bool
is_crypt64(int c)
{
    return is_alnum(c) || c == '.' || c == '/';
}

static bool
all_crypt64(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_crypt64((unsigned char)s[i]))
            return false;
    return true;
}

static bool
has_prefix(const char *s, size_t n, const char *prefix)
{
    size_t pn = strlen(prefix);
    return n >= pn && memcmp(s, prefix, pn) == 0;
}

static bool
has_prefix_nocase(const char *s, size_t n, const char *prefix)
{
    size_t pn = strlen(prefix);
    if (n < pn)
        return false;
    for (size_t i = 0; i < pn; i++)
        if (to_lower((unsigned char)s[i]) != prefix[i])
            return false;
    return true;
}

static int
strcmp_nocase(const char *a, const char *b)
{
    for (;; a++, b++) {
        int ca = to_lower((unsigned char)*a), cb = to_lower((unsigned char)*b);
        if (ca != cb || ca == 0)
            return ca - cb;
    }
}

/* A copy of s fit for an error message: at most 64 bytes, control
 * characters shown as '?'. */
static const char *
shown(char *buf, size_t size, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < size; i++) {
        if (i == 64) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        buf[o++] = is_control((unsigned char)s[i]) ? '?' : s[i];
    }
    buf[o] = '\0';
    return buf;
}

/* --- errors ------------------------------------------------------------- */

static unsigned
line_index(const struct loader *ld, size_t off)
{
    size_t lo = 0, hi = ld->n_lines; /* line_starts[lo] <= off */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (ld->line_starts[mid] <= off)
            lo = mid;
        else
            hi = mid;
    }
    return (unsigned)lo;
}

/* Columns count characters (UTF-8 sequences), as jansson's do. */
static unsigned
column_of(const char *text, size_t line_start, size_t off)
{
    unsigned col = 1;
    for (size_t i = line_start; i < off; i++)
        if (((unsigned char)text[i] & 0xc0) != 0x80)
            col++;
    return col;
}

/* Line and column in a text without an index (the htpasswd file). */
static void
where_in(const char *text, size_t off, unsigned *line, unsigned *col)
{
    size_t start = 0;
    *line = 1;
    for (size_t i = 0; i < off; i++)
        if (text[i] == '\n') {
            (*line)++;
            start = i + 1;
        }
    *col = column_of(text, start, off);
}

__attribute__((format(printf, 4, 0))) static void
vmessage(char *err, size_t errlen, const char *prefix, const char *fmt,
         va_list ap)
{
    if (err == NULL || errlen == 0)
        return;
    int n = snprintf(err, errlen, "%s", prefix);
    if (n >= 0 && (size_t)n < errlen)
        vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
}

__attribute__((format(printf, 3, 4))) static void
message(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmessage(err, errlen, "", fmt, ap);
    va_end(ap);
}

/* Report an error at byte `off` of the site file; returns -EINVAL. */
__attribute__((format(printf, 3, 4))) static int
fail(struct loader *ld, size_t off, const char *fmt, ...)
{
    unsigned li = line_index(ld, off);
    char prefix[PATH_MAX + 64];
    snprintf(prefix, sizeof(prefix), "%s:%u:%u: ", ld->name, li + 1,
             column_of(ld->text, ld->line_starts[li], off));
    va_list ap;
    va_start(ap, fmt);
    vmessage(ld->err, ld->errlen, prefix, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int
oom(struct loader *ld)
{
    message(ld->err, ld->errlen, "%s: out of memory", ld->name);
    return -ENOMEM;
}

static char *
adup(struct loader *ld, const char *s, size_t n)
{
    return pr_arena_strndup(ld->arena, s, n);
}

static char *
adup_lower(struct loader *ld, const char *s, size_t n)
{
    char *d = pr_arena_strndup(ld->arena, s, n);
    if (d != NULL)
        for (size_t i = 0; i < n; i++)
            d[i] = (char)to_lower((unsigned char)d[i]);
    return d;
}

static const char *
type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number with a fraction or exponent";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "an unknown JSON type";
}

/* --- files -------------------------------------------------------------- */

/* Read a whole regular file of at most `max` bytes into a NUL-terminated
 * malloc'd buffer.  0 or -errno (-EFBIG over max, -EINVAL not regular). */
static int
read_file(const char *path, size_t max, char **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = -errno;
        close(fd);
        return e;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
    }
    if ((uintmax_t)st.st_size > max) {
        close(fd);
        return -EFBIG;
    }
    /* Read up to max + 1 bytes: the file may grow while we read it. */
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap + 1);
    if (buf == NULL) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) {
        if (n == cap) {
            if (cap > max) {
                free(buf);
                close(fd);
                return -EFBIG;
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *nbuf = realloc(buf, ncap + 1);
            if (nbuf == NULL) {
                free(buf);
                close(fd);
                return -ENOMEM;
            }
            buf = nbuf;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = -errno;
            free(buf);
            close(fd);
            return e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    if (n > max) {
        free(buf);
        return -EFBIG;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return 0;
}

static const char *
errno_text(int e, char *buf, size_t size)
{
    if (e == -EFBIG)
        return "file too large";
    if (e == -EINVAL)
        return "not a regular file";
    return strerror_r(-e, buf, size);
}

/*
 * Normalise a local path lexically: join it to base when it is relative,
 * drop "." and empty segments, let ".." remove the segment before it (never
 * above "/").  Returns an arena string, or NULL with *why set.
 */
static char *
local_path(struct loader *ld, const char *s, size_t n, const char **why)
{
    for (size_t i = 0; i < n; i++)
        if (is_control((unsigned char)s[i])) {
            *why = "contains a control character";
            return NULL;
        }
    size_t blen = 0;
    if (n == 0 || s[0] != '/') {
        if (ld->base_dir == NULL) {
            *why = "is relative, but there is no base directory";
            return NULL;
        }
        blen = strlen(ld->base_dir);
    }
    size_t total = blen + 1 + n;
    if (total > PATH_MAX) {
        *why = "is too long";
        return NULL;
    }
    char *joined = pr_arena_alloc(&ld->tmp, total + 1);
    char *out = pr_arena_alloc(ld->arena, total + 2);
    if (joined == NULL || out == NULL) {
        *why = "cannot be stored: out of memory";
        return NULL;
    }
    if (blen > 0) {
        memcpy(joined, ld->base_dir, blen);
        joined[blen] = '/';
        memcpy(joined + blen + 1, s, n);
    } else {
        memcpy(joined, s, n);
    }
    size_t jn = blen > 0 ? total : n;
    size_t o = 1;
    out[0] = '/';
    for (size_t i = 0; i < jn;) {
        size_t e = i;
        while (e < jn && joined[e] != '/')
            e++;
        size_t sl = e - i;
        if (sl == 0 || (sl == 1 && joined[i] == '.')) {
            /* nothing */
        } else if (sl == 2 && joined[i] == '.' && joined[i + 1] == '.') {
            while (o > 1 && out[o - 1] != '/')
                o--;
            if (o > 1)
                o--;
        } else {
            if (o > 1)
                out[o++] = '/';
            memcpy(out + o, joined + i, sl);
            o += sl;
        }
        i = e + 1;
    }
    out[o] = '\0';
    return out;
}

/* --- comment stripping and the position scan --------------------------- */

/* Replace every '#' comment outside strings by spaces, up to the end of
 * the line; the newline stays, so offsets, lines and columns do not move. */
static void
strip_comments(char *t, size_t n)
{
    bool in_string = false, escaped = false;
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (in_string) {
            if (escaped)
                escaped = false;
            else if (c == '\\')
                escaped = true;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '#') {
            while (i < n && t[i] != '\n')
                t[i++] = ' ';
            i--; /* the loop's i++ steps onto the newline */
        }
    }
}

static size_t
skip_ws(const struct loader *ld, size_t i)
{
    while (i < ld->len && strchr(" \t\r\n", ld->text[i]) != NULL &&
           ld->text[i] != '\0')
        i++;
    return i;
}

static size_t
skip_string(const struct loader *ld, size_t i)
{
    for (i++; i < ld->len; i++) {
        if (ld->text[i] == '\\')
            i++;
        else if (ld->text[i] == '"')
            return i + 1;
    }
    return i;
}

static int
scan_internal(struct loader *ld, size_t off)
{
    return fail(ld, off < ld->len ? off : 0,
                "internal error: the position scan disagrees with jansson");
}

/* Record where every value of the (already validated) text starts. */
static int
scan_value(struct loader *ld, size_t *ip, unsigned depth, struct pos *out)
{
    size_t i = skip_ws(ld, *ip);
    if (i >= ld->len)
        return scan_internal(ld, i);
    out->off = i;
    out->n = 0;
    out->kids = NULL;
    char c = ld->text[i];
    if (c == '"') {
        *ip = skip_string(ld, i);
        return 0;
    }
    if (c != '{' && c != '[') {
        while (i < ld->len && strchr(" \t\r\n,]}", ld->text[i]) == NULL)
            i++;
        *ip = i;
        return 0;
    }
    if (depth >= MAX_DEPTH)
        return fail(ld, i, "nested deeper than %d levels", MAX_DEPTH);
    char close = c == '{' ? '}' : ']';
    struct pos *kids = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    i = skip_ws(ld, i + 1);
    if (i < ld->len && ld->text[i] == close) {
        *ip = i + 1;
        return 0;
    }
    for (;;) {
        struct pos kid = {0};
        if (c == '{') {
            i = skip_ws(ld, i);
            if (i >= ld->len || ld->text[i] != '"') {
                rc = scan_internal(ld, i);
                break;
            }
            kid.key_off = i;
            i = skip_ws(ld, skip_string(ld, i));
            if (i >= ld->len || ld->text[i] != ':') {
                rc = scan_internal(ld, i);
                break;
            }
            i++;
        }
        rc = scan_value(ld, &i, depth + 1, &kid);
        if (rc < 0)
            break;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct pos *nk = realloc(kids, ncap * sizeof(*nk));
            if (nk == NULL) {
                rc = oom(ld);
                break;
            }
            kids = nk;
            cap = ncap;
        }
        kids[n++] = kid;
        i = skip_ws(ld, i);
        if (i < ld->len && ld->text[i] == ',') {
            i++;
            continue;
        }
        if (i < ld->len && ld->text[i] == close) {
            i++;
            break;
        }
        rc = scan_internal(ld, i);
        break;
    }
    if (rc == 0) {
        out->kids = pr_arena_alloc(&ld->tmp, n * sizeof(*kids));
        if (out->kids == NULL) {
            rc = oom(ld);
        } else {
            memcpy(out->kids, kids, n * sizeof(*kids));
            out->n = n;
            *ip = i;
        }
    }
    free(kids);
    return rc;
}

/* The scan and jansson must agree on the shape of the tree. */
static int
check_shape(struct loader *ld, json_t *v, const struct pos *p)
{
    char c = ld->text[p->off];
    if (json_is_object(v)) {
        if (c != '{' || json_object_size(v) != p->n)
            return scan_internal(ld, p->off);
        void *it = json_object_iter(v);
        for (size_t i = 0; it != NULL; it = json_object_iter_next(v, it)) {
            int rc = check_shape(ld, json_object_iter_value(it), &p->kids[i]);
            if (rc < 0)
                return rc;
            i++;
        }
    } else if (json_is_array(v)) {
        if (c != '[' || json_array_size(v) != p->n)
            return scan_internal(ld, p->off);
        for (size_t i = 0; i < p->n; i++) {
            int rc = check_shape(ld, json_array_get(v, i), &p->kids[i]);
            if (rc < 0)
                return rc;
        }
    } else if (p->n != 0 || c == '{' || c == '[') {
        return scan_internal(ld, p->off);
    }
    return 0;
}

/* --- typed values ------------------------------------------------------- */

static int
get_string(struct loader *ld, json_t *v, const struct pos *p, const char *key,
           size_t max, const char **s, size_t *n)
{
    if (!json_is_string(v))
        return fail(ld, p->off, "\"%s\": expected a string, got %s", key,
                    type_name(v));
    size_t len = json_string_length(v);
    if (len > max)
        return fail(ld, p->off,
                    "\"%s\": string of %zu bytes is over the limit of %zu", key,
                    len, max);
    *s = json_string_value(v);
    *n = len;
    return 0;
}

static int
get_integer(struct loader *ld, json_t *v, const struct pos *p, const char *key,
            long long min, long long max, long long *out)
{
    if (!json_is_integer(v))
        return fail(ld, p->off, "\"%s\": expected an integer, got %s", key,
                    type_name(v));
    long long x = json_integer_value(v);
    if (x < min || x > max)
        return fail(ld, p->off, "\"%s\": %lld is out of range (%lld to %lld)",
                    key, x, min, max);
    *out = x;
    return 0;
}

static int
expect_object(struct loader *ld, json_t *v, const struct pos *p,
              const char *key)
{
    if (!json_is_object(v))
        return fail(ld, p->off, "\"%s\": expected an object, got %s", key,
                    type_name(v));
    return 0;
}

/* An array of at most `max` elements, called `key` in messages (also for
 * its elements: "more than 3 mounts"); `empty` is the message for one
 * without any.  Its size in *n. */
static int
get_array(struct loader *ld, json_t *v, const struct pos *p, const char *key,
          int max, const char *empty, size_t *n)
{
    if (!json_is_array(v))
        return fail(ld, p->off, "\"%s\": expected an array, got %s", key,
                    type_name(v));
    *n = json_array_size(v);
    if (*n == 0)
        return fail(ld, p->off, "\"%s\": %s", key, empty);
    if (*n > (size_t)max)
        return fail(ld, p->off, "\"%s\": more than %d %s", key, max, key);
    return 0;
}

/* "\"KEY\": \"TEXT\" WHY", for a bad key or value `text`. */
static int
fail_shown(struct loader *ld, size_t off, const char *key, const char *text,
           size_t n, const char *why)
{
    char b[80];
    return fail(ld, off, "\"%s\": \"%s\" %s", key, shown(b, sizeof(b), text, n),
                why);
}

/* --- hosts, URLs and paths ---------------------------------------------- */

/* NULL when s is a host name, an IPv4 address or a bracketed IPv6 address;
 * otherwise what is wrong with it. */
static const char *
host_problem(const char *s, size_t n)
{
    if (n == 0)
        return "the host is empty";
    if (s[0] == '[') {
        bool colon = false;
        if (n < 4 || s[n - 1] != ']')
            return "an IPv6 address must be written as [address]";
        for (size_t i = 1; i + 1 < n; i++) {
            if (s[i] == ':')
                colon = true;
            else if (h1_hex_value((unsigned char)s[i]) < 0 && s[i] != '.')
                return "invalid character in an IPv6 address";
        }
        return colon ? NULL : "invalid IPv6 address";
    }
    if (n > MAX_HOST_NAME)
        return "host name longer than 253 bytes";
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0)
                return "empty label in host name";
            label = 0;
        } else if (is_alnum(c) || c == '-' || c == '_') {
            if (++label > 63)
                return "host name label longer than 63 bytes";
        } else if (c == ':') {
            return "unexpected ':' in host name";
        } else {
            return "invalid character in host name (allowed: letters, "
                   "digits, '-', '_', '.')";
        }
    }
    return label == 0 ? "host name ends with '.'" : NULL;
}

/* Split "host[:port]" (host may be "[v6]").  Returns NULL or the problem. */
static const char *
parse_authority(const char *s, size_t n, bool port_required,
                unsigned default_port, size_t *host_len, unsigned *port)
{
    size_t h;
    if (n > 0 && s[0] == '[') {
        const char *e = memchr(s, ']', n);
        h = e != NULL ? (size_t)(e - s) + 1 : n;
    } else {
        const char *e = memchr(s, ':', n);
        h = e != NULL ? (size_t)(e - s) : n;
    }
    const char *why = host_problem(s, h);
    if (why != NULL)
        return why;
    *host_len = h;
    if (h == n) {
        if (port_required)
            return "a port is required (host:port)";
        *port = default_port;
        return NULL;
    }
    if (s[h] != ':' || h + 1 == n)
        return "expected ':port' after the host";
    unsigned long p = 0;
    for (size_t i = h + 1; i < n; i++) {
        if (!is_digit((unsigned char)s[i]))
            return "the port must be a decimal number";
        p = p * 10 + (unsigned long)(s[i] - '0');
        if (p > 65535)
            return "the port is over 65535";
    }
    if (p == 0)
        return "the port must not be 0";
    *port = (unsigned)p;
    return NULL;
}

/* RFC 3986 path characters, with well-formed %-escapes. */
static const char *
url_path_problem(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n || h1_hex_value((unsigned char)s[i + 1]) < 0 ||
                h1_hex_value((unsigned char)s[i + 2]) < 0)
                return "malformed %-escape in the URL path";
            i += 2;
        } else if (c == '?' || c == '#') {
            return "a query or fragment is not allowed here";
        } else if (!is_alnum(c) && strchr("-._~!$&'()*+,;=:@/", c) == NULL) {
            return "invalid character in the URL path (escape it as %XX)";
        }
    }
    return NULL;
}

/* A path as a mountpoint or an NFS export is written: absolute, no empty,
 * "." or ".." segment; one trailing '/' is dropped.  Returns NULL or the
 * problem; *out_len is the length without the trailing '/'. */
static const char *
strict_path_problem(const char *s, size_t n, size_t *out_len)
{
    if (n == 0 || s[0] != '/')
        return "must start with '/'";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_control(c))
            return "contains a control character";
        if (c == '\\')
            return "contains a backslash";
        if (c == '?' || c == '#')
            return "contains '?' or '#'";
    }
    if (n > 1 && s[n - 1] == '/')
        n--;
    for (size_t i = 1; i <= n;) {
        size_t e = i;
        while (e < n && s[e] != '/')
            e++;
        size_t sl = e - i;
        if (n > 1 && sl == 0)
            return "contains an empty segment (\"//\")";
        if ((sl == 1 && s[i] == '.') ||
            (sl == 2 && s[i] == '.' && s[i + 1] == '.'))
            return "contains a \".\" or \"..\" segment";
        i = e + 1;
    }
    *out_len = n;
    return NULL;
}

/* --- origins ------------------------------------------------------------ */

static const struct {
    const char *scheme;
    enum tr_site_origin_kind kind;
} schemes[] = {
    {"file", TR_SITE_ORIGIN_FILE}, {"nfs", TR_SITE_ORIGIN_NFS},
    {"http", TR_SITE_ORIGIN_HTTP}, {"https", TR_SITE_ORIGIN_HTTPS},
    {"cgi", TR_SITE_ORIGIN_CGI},   {"fastcgi", TR_SITE_ORIGIN_FASTCGI},
    {"was", TR_SITE_ORIGIN_WAS},   {"lhttp", TR_SITE_ORIGIN_LHTTP},
};

const char *
tr_site_origin_kind_name(enum tr_site_origin_kind kind)
{
    if (kind == TR_SITE_ORIGIN_REDIRECT)
        return "redirect";
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (schemes[i].kind == kind)
            return schemes[i].scheme;
    return "unknown";
}

static bool
is_relative_marker(const char *s, size_t n)
{
    return has_prefix(s, n, "./") || has_prefix(s, n, "../") ||
           (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.');
}

/* The path of a local origin: "/abs" or "./rel", "../rel". */
static int
origin_local(struct loader *ld, size_t off, const char *text, const char *rest,
             size_t n, struct tr_site_origin *o)
{
    char b[80];
    if (n == 0 || (rest[0] != '/' && !is_relative_marker(rest, n)))
        return fail(ld, off,
                    "\"origin\": \"%s\": the path must be absolute "
                    "(three slashes, as in file:///srv/www) or relative to "
                    "the site file's directory (starting with ./ or ../, "
                    "as in file://./htdocs)",
                    shown(b, sizeof(b), text, strlen(text)));
    const char *why = NULL;
    char *path = local_path(ld, rest, n, &why);
    if (path == NULL)
        return fail(ld, off, "\"origin\": the path %s", why);
    if (strcmp(path, "/") == 0)
        return fail(ld, off,
                    "\"origin\": refusing the root directory as origin");
    o->path = path;
    return 0;
}

/* http://host[:port][/path] (the text after '>' for a redirect). */
static int
origin_url(struct loader *ld, size_t off, const char *s, size_t n,
           struct tr_site_origin *o)
{
    char b[80];
    bool tls = has_prefix_nocase(s, n, "https://");
    if (!tls && !has_prefix_nocase(s, n, "http://"))
        return fail(ld, off,
                    "\"origin\": a redirect target must start with "
                    "http:// or https://");
    size_t skip = tls ? 8 : 7;
    const char *rest = s + skip;
    size_t rn = n - skip;
    const char *slash = memchr(rest, '/', rn);
    size_t an = slash != NULL ? (size_t)(slash - rest) : rn;
    const char *why = NULL;
    if (memchr(rest, '@', an) != NULL)
        why = "user information (user@host) is not supported in URLs";
    else if (memchr(rest, '?', an) != NULL || memchr(rest, '#', an) != NULL)
        why = "a query or fragment is not allowed here";
    size_t hn = 0;
    unsigned port = 0;
    if (why == NULL)
        why = parse_authority(rest, an, false, tls ? 443 : 80, &hn, &port);
    if (why == NULL)
        why = url_path_problem(rest + an, rn - an);
    if (why != NULL)
        return fail(ld, off, "\"origin\": \"%s\": %s",
                    shown(b, sizeof(b), s, n), why);
    char *url = adup(ld, s, n);
    char *host = adup_lower(ld, rest, hn);
    char *path = adup(ld, rest + an, rn - an);
    if (url == NULL || host == NULL || path == NULL)
        return oom(ld);
    for (size_t i = 0; i < skip; i++)
        url[i] = (char)to_lower((unsigned char)url[i]);
    o->url = url;
    o->host = host;
    o->port = port;
    o->path = path;
    return 0;
}

static int
origin_nfs(struct loader *ld, size_t off, const char *rest, size_t n,
           struct tr_site_origin *o)
{
    const char *slash = memchr(rest, '/', n);
    if (slash == NULL)
        return fail(ld, off,
                    "\"origin\": an NFS origin needs an export: "
                    "nfs://server/export[//subdir]");
    size_t hn = (size_t)(slash - rest);
    const char *why = host_problem(rest, hn);
    if (why != NULL)
        return fail(ld, off, "\"origin\": NFS server: %s", why);
    const char *p = slash;
    size_t pn = n - hn;
    /* "//" separates the export from a subdirectory inside it. */
    size_t en = pn, sub = pn;
    for (size_t i = 1; i + 1 < pn; i++)
        if (p[i] == '/' && p[i + 1] == '/') {
            en = i;
            sub = i + 1;
            break;
        }
    if (pn >= 2 && p[0] == '/' && p[1] == '/')
        return fail(ld, off, "\"origin\": the NFS export is empty");
    size_t elen = 0, slen = 0;
    why = strict_path_problem(p, en, &elen);
    if (why != NULL)
        return fail(ld, off, "\"origin\": the NFS export %s", why);
    if (sub < pn) {
        why = strict_path_problem(p + sub, pn - sub, &slen);
        if (why != NULL)
            return fail(ld, off, "\"origin\": the NFS subdirectory %s", why);
        if (slen == 1)
            slen = 0; /* "export//" is the export itself */
    }
    char *host = adup_lower(ld, rest, hn);
    char *exp = adup(ld, p, elen);
    char *path = adup(ld, slen > 0 ? p + sub : "", slen);
    if (host == NULL || exp == NULL || path == NULL)
        return oom(ld);
    o->host = host;
    o->nfs_export = exp;
    o->path = path;
    return 0;
}

static int
parse_origin(struct loader *ld, json_t *v, const struct pos *p,
             struct tr_site_origin *o)
{
    const char *s;
    size_t n;
    int rc = get_string(ld, v, p, "origin", TR_SITE_MAX_STRING, &s, &n);
    if (rc < 0)
        return rc;
    char b[80];
    o->text = adup(ld, s, n);
    if (o->text == NULL)
        return oom(ld);
    if (n > 0 && s[0] == '>') {
        o->kind = TR_SITE_ORIGIN_REDIRECT;
        return origin_url(ld, p->off, s + 1, n - 1, o);
    }
    const char *sep = NULL;
    for (size_t i = 0; i + 3 <= n; i++)
        if (memcmp(s + i, "://", 3) == 0) {
            sep = s + i;
            break;
        }
    if (sep == NULL)
        return fail(ld, p->off,
                    "\"origin\": \"%s\" is not a URL; expected " ORIGIN_SCHEMES,
                    shown(b, sizeof(b), s, n));
    size_t sn = (size_t)(sep - s);
    bool found = false;
    for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++)
        if (strlen(schemes[i].scheme) == sn &&
            has_prefix_nocase(s, n, schemes[i].scheme)) {
            o->kind = schemes[i].kind;
            found = true;
        }
    if (!found)
        return fail(
            ld, p->off,
            "\"origin\": unknown scheme \"%s\"; expected " ORIGIN_SCHEMES,
            shown(b, sizeof(b), s, sn));
    const char *rest = sep + 3;
    size_t rn = n - sn - 3;
    switch (o->kind) {
    case TR_SITE_ORIGIN_HTTP:
    case TR_SITE_ORIGIN_HTTPS:
        return origin_url(ld, p->off, s, n, o);
    case TR_SITE_ORIGIN_NFS:
        return origin_nfs(ld, p->off, rest, rn, o);
    case TR_SITE_ORIGIN_FASTCGI:
        if (rn > 0 && rest[0] != '/' && !is_relative_marker(rest, rn)) {
            /* fastcgi://host:port: a FastCGI server on the network */
            size_t hn = 0;
            unsigned port = 0;
            const char *why =
                memchr(rest, '/', rn) != NULL
                    ? "a remote FastCGI origin is just host:port"
                    : parse_authority(rest, rn, true, 0, &hn, &port);
            if (why != NULL)
                return fail(ld, p->off,
                            "\"origin\": \"%s\": %s (a local program is "
                            "fastcgi:///abs/path or fastcgi://./rel/path)",
                            shown(b, sizeof(b), s, n), why);
            o->host = adup_lower(ld, rest, hn);
            if (o->host == NULL)
                return oom(ld);
            o->port = port;
            return 0;
        }
        return origin_local(ld, p->off, s, rest, rn, o);
    case TR_SITE_ORIGIN_FILE:
    case TR_SITE_ORIGIN_CGI:
    case TR_SITE_ORIGIN_WAS:
    case TR_SITE_ORIGIN_LHTTP:
        return origin_local(ld, p->off, s, rest, rn, o);
    case TR_SITE_ORIGIN_REDIRECT:
        break;
    }
    return 0;
}

/* --- htpasswd ----------------------------------------------------------- */

/* NULL when h is a hash of an accepted crypt(3) method, else why not. */
static const char *
hash_problem(const char *h, size_t n)
{
    if (n == 0)
        return "empty password hash";
    if (n >= 4 && h[0] == '$' && h[1] == '2' &&
        (h[2] == 'a' || h[2] == 'b' || h[2] == 'y') && h[3] == '$') {
        if (n != 60 || !is_digit((unsigned char)h[4]) ||
            !is_digit((unsigned char)h[5]) || h[6] != '$' ||
            !all_crypt64(h + 7, 53))
            return "malformed bcrypt hash";
        int cost = (h[4] - '0') * 10 + (h[5] - '0');
        if (cost < 4 || cost > 31)
            return "bcrypt cost out of range (04 to 31)";
        return NULL;
    }
    if (n >= 3 && h[0] == '$' && (h[1] == '5' || h[1] == '6') && h[2] == '$') {
        const char *q = h + 3, *end = h + n;
        if (has_prefix(q, (size_t)(end - q), "rounds=")) {
            q += 7;
            const char *d = q;
            while (q < end && is_digit((unsigned char)*q))
                q++;
            if (q == d || q - d > 9 || q == end || *q != '$')
                return "malformed sha-crypt rounds";
            q++;
        }
        const char *salt = q;
        while (q < end && *q != '$')
            q++;
        size_t want = h[1] == '5' ? 43 : 86;
        if (q == end || q - salt > 16 ||
            !all_crypt64(salt, (size_t)(q - salt)) ||
            (size_t)(end - q - 1) != want || !all_crypt64(q + 1, want))
            return "malformed sha-crypt hash";
        return NULL;
    }
    if (has_prefix(h, n, "$y$")) {
        const char *q = h + 3, *end = h + n;
        for (int field = 0; field < 2; field++) {
            const char *f = q;
            while (q < end && *q != '$')
                q++;
            if (q == f || q == end || !all_crypt64(f, (size_t)(q - f)))
                return "malformed yescrypt hash";
            q++;
        }
        if (end - q != 43 || !all_crypt64(q, 43))
            return "malformed yescrypt hash";
        return NULL;
    }
    if (has_prefix(h, n, "$1$"))
        return "legacy MD5-crypt ($1$) hash refused";
    if (has_prefix(h, n, "$apr1$"))
        return "legacy Apache MD5 ($apr1$) hash refused";
    if (has_prefix(h, n, "{SHA}"))
        return "legacy unsalted SHA-1 ({SHA}) hash refused";
    if (h[0] == '$')
        return "unsupported hash method";
    if (n == 13 && all_crypt64(h, 13))
        return "legacy DES-crypt hash refused";
    return "plain-text password refused";
}

static int
cmp_user(const void *a, const void *b)
{
    const struct htpasswd_entry *x = a, *y = b;
    int c = strcmp(x->user, y->user);
    if (c != 0)
        return c;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* An error inside a basic-auth file: its own file:line:column, and where
 * the site file names it. */
__attribute__((format(printf, 6, 7))) static int
htpasswd_fail(struct loader *ld, size_t site_off, const char *file,
              const char *text, size_t off, const char *fmt, ...)
{
    unsigned line, col;
    where_in(text, off, &line, &col);
    unsigned sli = line_index(ld, site_off);
    char prefix[PATH_MAX + 32];
    snprintf(prefix, sizeof(prefix), "%s:%u:%u: ", file, line, col);
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    message(ld->err, ld->errlen, "%s%s (basic-auth of %s:%u:%u)", prefix, msg,
            ld->name, sli + 1,
            column_of(ld->text, ld->line_starts[sli], site_off));
    return -EINVAL;
}

static int
parse_htpasswd(struct loader *ld, size_t site_off, const char *file,
               const char *t, size_t len, struct tr_site_htpasswd *hp)
{
    size_t cap = 0, n = 0;
    for (size_t i = 0; i < len; i++)
        if (t[i] == '\n')
            cap++;
    cap++;
    struct htpasswd_entry *e = pr_arena_alloc(&ld->tmp, cap * sizeof(*e));
    if (e == NULL)
        return oom(ld);
    for (size_t ls = 0; ls < len;) {
        const char *nl = memchr(t + ls, '\n', len - ls);
        size_t le = nl != NULL ? (size_t)(nl - t) : len;
        size_t next = le + 1;
        if (le > ls && t[le - 1] == '\r')
            le--;
        size_t i = ls;
        while (i < le && (t[i] == ' ' || t[i] == '\t'))
            i++;
        if (i == le || t[i] == '#') {
            ls = next;
            continue;
        }
        const char *colon = memchr(t + ls, ':', le - ls);
        if (colon == NULL)
            return htpasswd_fail(ld, site_off, file, t, ls,
                                 "expected user:hash");
        size_t un = (size_t)(colon - (t + ls));
        if (un == 0 || un > MAX_USER)
            return htpasswd_fail(ld, site_off, file, t, ls,
                                 "the user name must have 1 to %d bytes",
                                 MAX_USER);
        for (size_t k = ls; k < ls + un; k++)
            if (is_control((unsigned char)t[k]) || t[k] == '\0')
                return htpasswd_fail(ld, site_off, file, t, k,
                                     "control character in the user name");
        size_t hs = ls + un + 1;
        const char *why = hash_problem(t + hs, le - hs);
        if (why != NULL)
            return htpasswd_fail(ld, site_off, file, t, hs,
                                 "user \"%.*s\": %s; " HASH_ADVICE, (int)un,
                                 t + ls, why);
        char *user = adup(ld, t + ls, un);
        char *hash = adup(ld, t + hs, le - hs);
        if (user == NULL || hash == NULL)
            return oom(ld);
        int cs = crypt_checksalt(hash);
        if (cs == CRYPT_SALT_INVALID || cs == CRYPT_SALT_METHOD_DISABLED)
            return htpasswd_fail(ld, site_off, file, t, hs,
                                 "user \"%s\": this system's libcrypt does "
                                 "not accept the hash",
                                 user);
        if (n == TR_SITE_MAX_HTPASSWD_USERS)
            return htpasswd_fail(ld, site_off, file, t, ls,
                                 "more than %d users",
                                 TR_SITE_MAX_HTPASSWD_USERS);
        e[n].user = user;
        e[n].hash = hash;
        e[n].off = ls;
        n++;
        ls = next;
    }
    if (n == 0)
        return fail(ld, site_off, "\"basic-auth\": %s has no users", file);
    qsort(e, n, sizeof(*e), cmp_user);
    for (size_t i = 1; i < n; i++)
        if (strcmp(e[i - 1].user, e[i].user) == 0)
            return htpasswd_fail(ld, site_off, file, t, e[i].off,
                                 "duplicate user \"%s\"", e[i].user);
    struct htpasswd_entry *keep = pr_arena_alloc(ld->arena, n * sizeof(*e));
    if (keep == NULL)
        return oom(ld);
    memcpy(keep, e, n * sizeof(*e));
    hp->entries = keep;
    hp->n = n;
    return 0;
}

static int
load_basic_auth(struct loader *ld, json_t *v, const struct pos *p,
                struct tr_site_mount *m)
{
    const char *s;
    size_t n;
    int rc = get_string(ld, v, p, "basic-auth", TR_SITE_MAX_STRING, &s, &n);
    if (rc < 0)
        return rc;
    if (n == 0)
        return fail(ld, p->off, "\"basic-auth\": the file name is empty");
    const char *why = NULL;
    char *path = local_path(ld, s, n, &why);
    if (path == NULL)
        return fail(ld, p->off, "\"basic-auth\": the path %s", why);
    char *data = NULL;
    size_t len = 0;
    rc = read_file(path, TR_SITE_MAX_HTPASSWD_SIZE, &data, &len);
    if (rc < 0) {
        char eb[128];
        if (rc == -ENOMEM)
            return oom(ld);
        return fail(ld, p->off, "\"basic-auth\": %s: %s", path,
                    errno_text(rc, eb, sizeof(eb)));
    }
    struct tr_site_htpasswd *hp = pr_arena_alloc(ld->arena, sizeof(*hp));
    if (hp == NULL)
        rc = oom(ld);
    else
        rc = parse_htpasswd(ld, p->off, path, data, len, hp);
    free(data);
    if (rc < 0)
        return rc;
    m->basic_auth = path;
    m->htpasswd = hp;
    return 0;
}

/* --- name/value objects ------------------------------------------------- */

/* extra-mimetypes, headers and cgi-env are JSON objects of strings; one
 * loader serves them all, told what sets each apart by a string_map. */

struct named {
    const char *name;
    const char *value;
    size_t off;
};

static int
cmp_named(const void *a, const void *b)
{
    const struct named *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : (x->off < y->off ? -1 : x->off > y->off);
}

static int
cmp_named_nocase(const void *a, const void *b)
{
    const struct named *x = a, *y = b;
    int c = strcmp_nocase(x->name, y->name);
    return c != 0 ? c : (x->off < y->off ? -1 : x->off > y->off);
}

/* Sort a scratch copy and refuse the later of two equal names. */
static int
refuse_duplicates(struct loader *ld, const struct named *e, size_t n,
                  bool nocase, const char *what)
{
    struct named *c = pr_arena_alloc(&ld->tmp, (n ? n : 1) * sizeof(*c));
    if (c == NULL)
        return oom(ld);
    memcpy(c, e, n * sizeof(*c));
    qsort(c, n, sizeof(*c), nocase ? cmp_named_nocase : cmp_named);
    for (size_t i = 1; i < n; i++) {
        bool same = nocase ? strcmp_nocase(c[i - 1].name, c[i].name) == 0
                           : strcmp(c[i - 1].name, c[i].name) == 0;
        if (same)
            return fail(ld, c[i].off, "duplicate %s \"%s\" (first at line %u)",
                        what, c[i].name, line_index(ld, c[i - 1].off) + 1);
    }
    return 0;
}

static struct tr_site_pair *
keep_pairs(struct loader *ld, const struct named *e, size_t n)
{
    struct tr_site_pair *p =
        pr_arena_alloc(ld->arena, (n ? n : 1) * sizeof(*p));
    if (p != NULL)
        for (size_t i = 0; i < n; i++) {
            p[i].name = e[i].name;
            p[i].value = e[i].value;
        }
    return p;
}

/* Which names of one object count as the same. */
enum name_clash {
    CLASH_JSON,   /* equal keys only, which jansson refuses already */
    CLASH_EXACT,  /* equal names (as kept: skipped, lower-cased) */
    CLASH_NOCASE, /* names that differ in case only */
};

/* What sets one name/value option apart from the others. */
struct string_map {
    const char *option; /* the mount key, for messages */
    int max;            /* entries at the most */
    const char *units;  /* in "more than MAX UNITS" */
    /* NULL when the key is acceptable; otherwise the end of the sentence
     * "\"OPTION\": \"KEY\" ...".  May set *skip to a number of leading
     * bytes of the key that the kept name leaves out. */
    const char *(*key_problem)(const char *key, size_t n, size_t *skip);
    size_t value_max; /* bytes in a value */
    /* NULL, or a check of a value (the key's value, at `off`) that
     * returns 0 or fail()'s answer. */
    int (*check_value)(struct loader *ld, size_t off, const char *key,
                       const char *s, size_t n);
    bool lower_names; /* keep the names in lower case */
    enum name_clash clash;
    const char *what; /* a name, in the message for two that clash */
    bool sorted;      /* keep the pairs sorted by name, not in file order */
};

/* Load an object of strings as `map` says into *out and *n_out. */
static int
load_string_map(struct loader *ld, json_t *v, const struct pos *p,
                const struct string_map *map, const struct tr_site_pair **out,
                size_t *n_out)
{
    int rc = expect_object(ld, v, p, map->option);
    if (rc < 0)
        return rc;
    size_t n = json_object_size(v);
    if (n > (size_t)map->max)
        return fail(ld, p->off, "\"%s\": more than %d %s", map->option,
                    map->max, map->units);
    struct named *e = pr_arena_alloc(&ld->tmp, (n ? n : 1) * sizeof(*e));
    if (e == NULL)
        return oom(ld);
    size_t i = 0;
    for (void *it = json_object_iter(v); it != NULL;
         it = json_object_iter_next(v, it), i++) {
        const char *key = json_object_iter_key(it);
        size_t kn = strlen(key), skip = 0;
        const struct pos *vp = &p->kids[i];
        const char *why = map->key_problem(key, kn, &skip);
        if (why != NULL)
            return fail_shown(ld, vp->key_off, map->option, key, kn, why);
        const char *val;
        size_t vn;
        rc = get_string(ld, json_object_iter_value(it), vp, key, map->value_max,
                        &val, &vn);
        if (rc == 0 && map->check_value != NULL)
            rc = map->check_value(ld, vp->off, key, val, vn);
        if (rc < 0)
            return rc;
        e[i].name = map->lower_names ? adup_lower(ld, key + skip, kn - skip)
                                     : adup(ld, key + skip, kn - skip);
        e[i].value = adup(ld, val, vn);
        e[i].off = vp->key_off;
        if (e[i].name == NULL || e[i].value == NULL)
            return oom(ld);
    }
    if (map->clash != CLASH_JSON) {
        rc = refuse_duplicates(ld, e, n, map->clash == CLASH_NOCASE, map->what);
        if (rc < 0)
            return rc;
    }
    if (map->sorted)
        qsort(e, n, sizeof(*e), cmp_named);
    *out = keep_pairs(ld, e, n);
    if (*out == NULL)
        return oom(ld);
    *n_out = n;
    return 0;
}

/* extra-mimetypes: a suffix, with or without its dot, or "*". */
static const char *
suffix_problem(const char *key, size_t n, size_t *skip)
{
    *skip = n > 0 && key[0] == '.';
    const char *suffix = key + *skip;
    size_t sn = n - *skip;
    bool ok = sn > 0 && sn <= MAX_SUFFIX;
    if (strcmp(key, "*") != 0)
        for (size_t k = 0; ok && k < sn; k++)
            ok = is_alnum((unsigned char)suffix[k]) ||
                 strchr("-_+~", suffix[k]) != NULL;
    if (ok)
        return NULL;
    _Static_assert(MAX_SUFFIX == 32, "the message names MAX_SUFFIX");
    return "is not a file suffix (up to 32 letters, digits, '-', '_', '+', "
           "'~', without a further '.') nor \"*\"";
}

/* type/subtype[; parameters]: tokens around the '/', then nothing or a
 * ';' (after optional blanks) and printable ASCII. */
static bool
valid_media_type(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && h1_is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i == n || s[i] != '/')
        return false;
    size_t sub = ++i;
    while (i < n && h1_is_tchar((unsigned char)s[i]))
        i++;
    if (i == sub)
        return false;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    if (i == n)
        return true;
    if (s[i] != ';')
        return false;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c >= 0x7f)
            return false;
    }
    return true;
}

static int
check_media_type(struct loader *ld, size_t off, const char *key, const char *s,
                 size_t n)
{
    if (n > 0 && !valid_media_type(s, n))
        return fail_shown(ld, off, "extra-mimetypes", s, n,
                          "is not a media type (type/subtype[; parameters]) "
                          "nor \"\"");
    return 0;
}

static const struct string_map mimetypes_map = {
    .option = "extra-mimetypes",
    .max = TR_SITE_MAX_MIMETYPES,
    .units = "entries",
    .key_problem = suffix_problem,
    .value_max = MAX_MEDIA_TYPE,
    .check_value = check_media_type,
    .lower_names = true,
    .clash = CLASH_EXACT,
    .what = "file suffix",
    .sorted = true,
};

/* Headers the data plane owns: framing and hop-by-hop. */
static const char *const reserved_headers[] = {
    "connection", "content-length", "keep-alive", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade",
};

static const char *
header_name_problem(const char *key, size_t n, size_t *skip)
{
    bool ok = n > 0 && n <= MAX_HEADER_NAME;
    for (size_t k = 0; ok && k < n; k++)
        ok = h1_is_tchar((unsigned char)key[k]);
    if (!ok)
        return "is not a valid header name (an RFC 9110 token)";
    for (size_t r = 0; r < sizeof(reserved_headers) / sizeof(char *); r++)
        if (strcmp_nocase(key, reserved_headers[r]) == 0)
            return "is managed by the data plane and cannot be set here";
    return NULL;
}

static int
check_header_value(struct loader *ld, size_t off, const char *key,
                   const char *s, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (is_control(c) && c != '\t')
            return fail(ld, off, "\"headers\": the value of \"%s\" contains %s",
                        key,
                        c == '\r' || c == '\n' ? "a line break (CR or LF)"
                                               : "a control character");
    }
    return 0;
}

static const struct string_map headers_map = {
    .option = "headers",
    .max = TR_SITE_MAX_HEADERS,
    .units = "headers",
    .key_problem = header_name_problem,
    .value_max = TR_SITE_MAX_STRING,
    .check_value = check_header_value,
    .clash = CLASH_NOCASE,
    .what = "header",
};

static const char *
env_name_problem(const char *key, size_t n, size_t *skip)
{
    bool ok = n > 0 && n <= MAX_ENV_NAME &&
              (is_alpha((unsigned char)key[0]) || key[0] == '_');
    for (size_t k = 1; ok && k < n; k++)
        ok = is_alnum((unsigned char)key[k]) || key[k] == '_';
    if (ok)
        return NULL;
    _Static_assert(MAX_ENV_NAME == 128, "the message names MAX_ENV_NAME");
    return "is not a variable name ([A-Za-z_][A-Za-z0-9_]*, up to 128 bytes)";
}

/* Variables that differ in case only are different variables. */
static const struct string_map cgi_env_map = {
    .option = "cgi-env",
    .max = TR_SITE_MAX_CGI_ENV,
    .units = "variables",
    .key_problem = env_name_problem,
    .value_max = TR_SITE_MAX_STRING,
    .clash = CLASH_JSON,
};

/* --- mounts and vhosts -------------------------------------------------- */

/* NULL when s names a file in a directory ("default"), else why not. */
static const char *
default_doc_problem(const char *s, size_t n)
{
    if (n == 0)
        return "is empty";
    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return "is a dot segment";
    for (size_t k = 0; k < n; k++)
        if (s[k] == '/' || s[k] == '\\')
            return "must be a file name, without '/' or '\\'";
        else if (is_control((unsigned char)s[k]))
            return "contains a control character";
    return NULL;
}

enum mount_key {
    K_MOUNTPOINT = 0,
    K_ORIGIN,
    K_REDIRECT_STATUS,
    K_DEFAULT,
    K_CACHE_MAX_AGE,
    K_EXTRA_MIMETYPES,
    K_BASIC_AUTH,
    K_HEADERS,
    K_CGI_ENV,
    K_CGI_TIMEOUT,
    K_COUNT,
};

static const char *const mount_keys[K_COUNT] = {
    "mountpoint",    "origin",          "redirect-status", "default",
    "cache-max-age", "extra-mimetypes", "basic-auth",      "headers",
    "cgi-env",       "cgi-timeout",
};

#define BIT(k)    (1u << (k))
#define ALL_KINDS 0xffffffffu
#define PROGRAM_KINDS                                                          \
    (BIT(TR_SITE_ORIGIN_CGI) | BIT(TR_SITE_ORIGIN_FASTCGI) |                   \
     BIT(TR_SITE_ORIGIN_WAS) | BIT(TR_SITE_ORIGIN_LHTTP))
#define FILE_KINDS (BIT(TR_SITE_ORIGIN_FILE) | BIT(TR_SITE_ORIGIN_NFS))

/* Which origin kinds each option applies to, and to whom, in words. */
static const struct {
    unsigned kinds;
    const char *words;
} applies[K_COUNT] = {
    [K_MOUNTPOINT] = {ALL_KINDS, ""},
    [K_ORIGIN] = {ALL_KINDS, ""},
    [K_REDIRECT_STATUS] = {BIT(TR_SITE_ORIGIN_REDIRECT), "redirects (>)"},
    [K_DEFAULT] = {FILE_KINDS | BIT(TR_SITE_ORIGIN_CGI), "file, nfs, cgi"},
    [K_CACHE_MAX_AGE] = {ALL_KINDS, ""},
    [K_EXTRA_MIMETYPES] = {FILE_KINDS, "file, nfs"},
    [K_BASIC_AUTH] = {ALL_KINDS, ""},
    [K_HEADERS] = {ALL_KINDS, ""},
    [K_CGI_ENV] = {PROGRAM_KINDS, "cgi, fastcgi, was, lhttp"},
    [K_CGI_TIMEOUT] = {PROGRAM_KINDS, "cgi, fastcgi, was, lhttp"},
};

static int
load_mount(struct loader *ld, json_t *v, const struct pos *p,
           struct tr_site_mount *m)
{
    if (!json_is_object(v))
        return fail(ld, p->off, "a mount must be an object, got %s",
                    type_name(v));
    json_t *val[K_COUNT] = {0};
    const struct pos *vp[K_COUNT] = {0};
    char b[80];
    size_t i = 0;
    for (void *it = json_object_iter(v); it != NULL;
         it = json_object_iter_next(v, it), i++) {
        const char *key = json_object_iter_key(it);
        int k = 0;
        while (k < K_COUNT && strcmp(key, mount_keys[k]) != 0)
            k++;
        if (k == K_COUNT)
            return fail(ld, p->kids[i].key_off,
                        "unknown key \"%s\" in a mount; valid keys: "
                        "mountpoint, origin, redirect-status, default, "
                        "cache-max-age, extra-mimetypes, basic-auth, "
                        "headers, cgi-env, cgi-timeout",
                        shown(b, sizeof(b), key, strlen(key)));
        val[k] = json_object_iter_value(it);
        vp[k] = &p->kids[i];
    }
    m->line = line_index(ld, p->off) + 1;
    m->cache_max_age = -1;
    if (val[K_MOUNTPOINT] == NULL)
        return fail(ld, p->off, "mount without \"mountpoint\"");
    if (val[K_ORIGIN] == NULL)
        return fail(ld, p->off, "mount without \"origin\"");

    const char *s;
    size_t n;
    int rc = get_string(ld, val[K_MOUNTPOINT], vp[K_MOUNTPOINT], "mountpoint",
                        TR_SITE_MAX_MOUNTPOINT, &s, &n);
    if (rc < 0)
        return rc;
    size_t mn = 0;
    const char *why = strict_path_problem(s, n, &mn);
    if (why != NULL)
        return fail_shown(ld, vp[K_MOUNTPOINT]->off, "mountpoint", s, n, why);
    m->mountpoint = adup(ld, s, mn);
    if (m->mountpoint == NULL)
        return oom(ld);
    m->mountpoint_len = mn;

    rc = parse_origin(ld, val[K_ORIGIN], vp[K_ORIGIN], &m->origin);
    if (rc < 0)
        return rc;
    enum tr_site_origin_kind kind = m->origin.kind;
    for (int k = 0; k < K_COUNT; k++)
        if (val[k] != NULL && (applies[k].kinds & BIT(kind)) == 0)
            return fail(ld, vp[k]->key_off,
                        "\"%s\" does not apply to a %s origin (only to %s)",
                        mount_keys[k], tr_site_origin_kind_name(kind),
                        applies[k].words);

    long long x = 0;
    if (kind == TR_SITE_ORIGIN_REDIRECT)
        m->redirect_status = 301;
    if (val[K_REDIRECT_STATUS] != NULL) {
        rc = get_integer(ld, val[K_REDIRECT_STATUS], vp[K_REDIRECT_STATUS],
                         "redirect-status", 0, 999, &x);
        if (rc < 0)
            return rc;
        if (x != 301 && x != 302 && x != 303 && x != 307 && x != 308)
            return fail(ld, vp[K_REDIRECT_STATUS]->off,
                        "\"redirect-status\": %lld is not one of 301, 302, "
                        "303, 307, 308",
                        x);
        m->redirect_status = (unsigned)x;
    }
    if (val[K_DEFAULT] != NULL) {
        rc = get_string(ld, val[K_DEFAULT], vp[K_DEFAULT], "default",
                        MAX_DEFAULT_DOC, &s, &n);
        if (rc < 0)
            return rc;
        why = default_doc_problem(s, n);
        if (why != NULL)
            return fail_shown(ld, vp[K_DEFAULT]->off, "default", s, n, why);
        m->default_doc = adup(ld, s, n);
        if (m->default_doc == NULL)
            return oom(ld);
    }
    if (val[K_CACHE_MAX_AGE] != NULL) {
        rc = get_integer(ld, val[K_CACHE_MAX_AGE], vp[K_CACHE_MAX_AGE],
                         "cache-max-age", 0, TR_SITE_MAX_CACHE_MAX_AGE, &x);
        if (rc < 0)
            return rc;
        m->cache_max_age = (long)x;
    }
    if (val[K_CGI_TIMEOUT] != NULL) {
        rc = get_integer(ld, val[K_CGI_TIMEOUT], vp[K_CGI_TIMEOUT],
                         "cgi-timeout", 1, TR_SITE_MAX_CGI_TIMEOUT, &x);
        if (rc < 0)
            return rc;
        m->cgi_timeout = (unsigned)x;
    }
    const struct {
        enum mount_key key;
        const struct string_map *map;
        const struct tr_site_pair **out;
        size_t *n_out;
    } maps[] = {
        {K_EXTRA_MIMETYPES, &mimetypes_map, &m->extra_mimetypes,
         &m->n_extra_mimetypes},
        {K_HEADERS, &headers_map, &m->headers, &m->n_headers},
        {K_CGI_ENV, &cgi_env_map, &m->cgi_env, &m->n_cgi_env},
    };
    for (size_t k = 0; k < sizeof(maps) / sizeof(maps[0]); k++) {
        if (val[maps[k].key] == NULL)
            continue;
        rc = load_string_map(ld, val[maps[k].key], vp[maps[k].key], maps[k].map,
                             maps[k].out, maps[k].n_out);
        if (rc < 0)
            return rc;
    }
    if (val[K_BASIC_AUTH] != NULL) {
        rc = load_basic_auth(ld, val[K_BASIC_AUTH], vp[K_BASIC_AUTH], m);
        if (rc < 0)
            return rc;
    }
    return 0;
}

struct mount_ref {
    const struct tr_site_mount *mount;
    size_t off;
    size_t index;
};

static int
cmp_mount_name(const void *a, const void *b)
{
    const struct mount_ref *x = a, *y = b;
    int c = strcmp(x->mount->mountpoint, y->mount->mountpoint);
    return c != 0 ? c : (x->index < y->index ? -1 : x->index > y->index);
}

static int
cmp_mount_length(const void *a, const void *b)
{
    const struct tr_site_mount *const *x = a, *const *y = b;
    if ((*x)->mountpoint_len != (*y)->mountpoint_len)
        return (*x)->mountpoint_len > (*y)->mountpoint_len ? -1 : 1;
    return strcmp((*x)->mountpoint, (*y)->mountpoint);
}

static int
load_mounts(struct loader *ld, json_t *v, const struct pos *p,
            struct tr_site_vhost *vh)
{
    size_t n;
    int rc = get_array(ld, v, p, "mounts", TR_SITE_MAX_MOUNTS,
                       "a vhost needs at least one mount", &n);
    if (rc < 0)
        return rc;
    struct tr_site_mount *mounts =
        pr_arena_alloc(ld->arena, n * sizeof(*mounts));
    const struct tr_site_mount **by_length =
        pr_arena_alloc(ld->arena, n * sizeof(*by_length));
    struct mount_ref *refs = pr_arena_alloc(&ld->tmp, n * sizeof(*refs));
    if (mounts == NULL || by_length == NULL || refs == NULL)
        return oom(ld);
    for (size_t i = 0; i < n; i++) {
        rc = load_mount(ld, json_array_get(v, i), &p->kids[i], &mounts[i]);
        if (rc < 0)
            return rc;
        /* the mountpoint's position, for a duplicate */
        const struct pos *mp = &p->kids[i];
        size_t off = mp->off;
        void *it = json_object_iter(json_array_get(v, i));
        for (size_t k = 0; it != NULL;
             it = json_object_iter_next(json_array_get(v, i), it), k++)
            if (strcmp(json_object_iter_key(it), "mountpoint") == 0)
                off = mp->kids[k].off;
        refs[i] = (struct mount_ref){&mounts[i], off, i};
        by_length[i] = &mounts[i];
    }
    qsort(refs, n, sizeof(*refs), cmp_mount_name);
    for (size_t i = 1; i < n; i++)
        if (strcmp(refs[i - 1].mount->mountpoint, refs[i].mount->mountpoint) ==
            0)
            return fail(ld, refs[i].off,
                        "duplicate mountpoint \"%s\" in this vhost (first at "
                        "line %u)",
                        refs[i].mount->mountpoint, refs[i - 1].mount->line);
    qsort(by_length, n, sizeof(*by_length), cmp_mount_length);
    vh->mounts = mounts;
    vh->n_mounts = n;
    vh->by_length = by_length;
    return 0;
}

static int
load_host_name(struct loader *ld, json_t *v, const struct pos *p,
               const char *key, const char **out)
{
    const char *s;
    size_t n;
    int rc = get_string(ld, v, p, key, MAX_HOST_NAME + 2, &s, &n);
    if (rc < 0)
        return rc;
    const char *why = host_problem(s, n);
    char b[80];
    if (why != NULL)
        return fail(ld, p->off, "\"%s\": \"%s\" is not a host name: %s", key,
                    shown(b, sizeof(b), s, n), why);
    *out = adup_lower(ld, s, n);
    return *out != NULL ? 0 : oom(ld);
}

static int
load_vhost(struct loader *ld, json_t *v, const struct pos *p,
           struct tr_site_vhost *vh, size_t *name_off, size_t **alias_offs)
{
    if (!json_is_object(v))
        return fail(ld, p->off, "a vhost must be an object, got %s",
                    type_name(v));
    vh->line = line_index(ld, p->off) + 1;
    json_t *mounts = NULL;
    const struct pos *mounts_pos = NULL;
    char b[80];
    size_t i = 0;
    int rc = 0;
    for (void *it = json_object_iter(v); it != NULL;
         it = json_object_iter_next(v, it), i++) {
        const char *key = json_object_iter_key(it);
        json_t *val = json_object_iter_value(it);
        const struct pos *vp = &p->kids[i];
        if (strcmp(key, "name") == 0) {
            rc = load_host_name(ld, val, vp, "name", &vh->name);
            *name_off = vp->off;
        } else if (strcmp(key, "aliases") == 0) {
            if (!json_is_array(val))
                return fail(ld, vp->off,
                            "\"aliases\": expected an array of host names, "
                            "got %s",
                            type_name(val));
            size_t n = json_array_size(val);
            if (n > TR_SITE_MAX_ALIASES)
                return fail(ld, vp->off, "\"aliases\": more than %d aliases",
                            TR_SITE_MAX_ALIASES);
            const char **al =
                pr_arena_alloc(ld->arena, (n ? n : 1) * sizeof(*al));
            *alias_offs =
                pr_arena_alloc(&ld->tmp, (n ? n : 1) * sizeof(size_t));
            if (al == NULL || *alias_offs == NULL)
                return oom(ld);
            for (size_t k = 0; k < n && rc == 0; k++) {
                rc = load_host_name(ld, json_array_get(val, k), &vp->kids[k],
                                    "aliases", &al[k]);
                (*alias_offs)[k] = vp->kids[k].off;
            }
            vh->aliases = al;
            vh->n_aliases = n;
        } else if (strcmp(key, "listener-tag") == 0) {
            const char *s;
            size_t n;
            rc = get_string(ld, val, vp, "listener-tag", MAX_TAG, &s, &n);
            if (rc < 0)
                return rc;
            bool ok = n > 0;
            for (size_t k = 0; ok && k < n; k++)
                ok = s[k] > 0x20 && s[k] < 0x7f;
            if (!ok)
                return fail(ld, vp->off,
                            "\"listener-tag\": must be 1 to %d visible "
                            "ASCII characters",
                            MAX_TAG);
            vh->listener_tag = adup(ld, s, n);
            if (vh->listener_tag == NULL)
                return oom(ld);
        } else if (strcmp(key, "mounts") == 0) {
            mounts = val;
            mounts_pos = vp;
        } else {
            return fail(ld, vp->key_off,
                        "unknown key \"%s\" in a vhost; valid keys: name, "
                        "aliases, listener-tag, mounts",
                        shown(b, sizeof(b), key, strlen(key)));
        }
        if (rc < 0)
            return rc;
    }
    if (vh->name == NULL)
        return fail(ld, p->off, "vhost without \"name\"");
    if (mounts == NULL)
        return fail(ld, p->off, "vhost without \"mounts\"");
    return load_mounts(ld, mounts, mounts_pos, vh);
}

static int
cmp_host(const void *a, const void *b)
{
    const struct host_entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : (x->order < y->order ? -1 : x->order > y->order);
}

static bool
same_tag(const char *a, const char *b)
{
    return (a == NULL && b == NULL) ||
           (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int
load_root(struct loader *ld, json_t *root, const struct pos *p)
{
    if (!json_is_object(root))
        return fail(ld, p->off,
                    "the site must be an object holding \"vhosts\", got %s",
                    type_name(root));
    json_t *vhosts = NULL;
    const struct pos *vp = NULL;
    char b[80];
    size_t i = 0;
    for (void *it = json_object_iter(root); it != NULL;
         it = json_object_iter_next(root, it), i++) {
        const char *key = json_object_iter_key(it);
        if (strcmp(key, "vhosts") != 0)
            return fail(ld, p->kids[i].key_off,
                        "unknown key \"%s\" at the top level; valid keys: "
                        "vhosts",
                        shown(b, sizeof(b), key, strlen(key)));
        vhosts = json_object_iter_value(it);
        vp = &p->kids[i];
    }
    if (vhosts == NULL)
        return fail(ld, p->off, "the site has no \"vhosts\"");
    size_t n;
    int rc = get_array(ld, vhosts, vp, "vhosts", TR_SITE_MAX_VHOSTS,
                       "the site needs a vhost", &n);
    if (rc < 0)
        return rc;
    struct tr_site *site = ld->site;
    site->vhosts = pr_arena_alloc(ld->arena, n * sizeof(*site->vhosts));
    size_t *name_offs = pr_arena_alloc(&ld->tmp, n * sizeof(size_t));
    size_t **alias_offs = pr_arena_alloc(&ld->tmp, n * sizeof(size_t *));
    if (site->vhosts == NULL || name_offs == NULL || alias_offs == NULL)
        return oom(ld);
    site->n_vhosts = n;
    size_t n_hosts = 0;
    for (size_t k = 0; k < n; k++) {
        rc = load_vhost(ld, json_array_get(vhosts, k), &vp->kids[k],
                        &site->vhosts[k], &name_offs[k], &alias_offs[k]);
        if (rc < 0)
            return rc;
        n_hosts += 1 + site->vhosts[k].n_aliases;
    }

    /* The host index: every name and alias with its listener tag. */
    struct host_entry *h = pr_arena_alloc(ld->arena, n_hosts * sizeof(*h));
    if (h == NULL)
        return oom(ld);
    size_t o = 0;
    for (size_t k = 0; k < n; k++) {
        const struct tr_site_vhost *vh = &site->vhosts[k];
        h[o] = (struct host_entry){vh->name, vh->listener_tag, vh, name_offs[k],
                                   o};
        o++;
        for (size_t a = 0; a < vh->n_aliases; a++, o++)
            h[o] = (struct host_entry){vh->aliases[a], vh->listener_tag, vh,
                                       alias_offs[k][a], o};
    }
    qsort(h, n_hosts, sizeof(*h), cmp_host);
    for (size_t k = 0; k < n_hosts; k++)
        for (size_t j = k + 1; j < n_hosts && strcmp(h[k].name, h[j].name) == 0;
             j++)
            if (same_tag(h[k].tag, h[j].tag)) {
                /* report the later one in the file */
                const struct host_entry *later =
                    h[k].off > h[j].off ? &h[k] : &h[j];
                const struct host_entry *first = later == &h[k] ? &h[j] : &h[k];
                return fail(ld, later->off,
                            "host \"%s\" is already served by the vhost at "
                            "line %u%s",
                            later->name, first->vhost->line,
                            later->tag != NULL ? " (same listener-tag)" : "");
            }
    site->hosts = h;
    site->n_hosts = n_hosts;
    return 0;
}

/* --- loading ------------------------------------------------------------ */

int
tr_site_parse(const char *name, const char *data, size_t len,
              const char *base_dir, struct tr_site **out, char *err,
              size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (len > TR_SITE_MAX_FILE_SIZE) {
        message(err, errlen, "%s: file of %zu bytes is over the limit of %u",
                name, len, TR_SITE_MAX_FILE_SIZE);
        return -EFBIG;
    }
    if (base_dir != NULL && base_dir[0] != '/') {
        message(err, errlen, "%s: the base directory must be absolute", name);
        return -EINVAL;
    }
    struct loader ld = {
        .name = name,
        .len = len,
        .base_dir = base_dir,
        .err = err,
        .errlen = errlen,
    };
    char *text = malloc(len + 1);
    struct tr_site *site = calloc(1, sizeof(*site));
    json_t *root = NULL;
    int rc = 0;
    if (text == NULL || site == NULL) {
        rc = oom(&ld);
        goto done;
    }
    memcpy(text, data, len);
    text[len] = '\0';
    strip_comments(text, len);
    ld.text = text;
    ld.site = site;
    ld.arena = &site->arena;

    ld.n_lines = 1;
    for (size_t i = 0; i < len; i++)
        if (text[i] == '\n')
            ld.n_lines++;
    ld.line_starts = pr_arena_alloc(&ld.tmp, ld.n_lines * sizeof(size_t));
    if (ld.line_starts == NULL) {
        rc = oom(&ld);
        goto done;
    }
    for (size_t i = 0, l = 1; i < len; i++)
        if (text[i] == '\n')
            ld.line_starts[l++] = i + 1;

    json_error_t jerr;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        if (jerr.line > 0)
            message(err, errlen, "%s:%d:%d: %s", name, jerr.line,
                    jerr.column > 0 ? jerr.column : 1, jerr.text);
        else
            message(err, errlen, "%s: %s", name, jerr.text);
        rc = -EINVAL;
        goto done;
    }
    struct pos top = {0};
    size_t i = 0;
    rc = scan_value(&ld, &i, 0, &top);
    if (rc == 0)
        rc = check_shape(&ld, root, &top);
    if (rc == 0)
        rc = load_root(&ld, root, &top);

done:
    json_decref(root);
    pr_arena_free(&ld.tmp);
    free(text);
    if (rc < 0) {
        tr_site_free(site);
        return rc;
    }
    *out = site;
    return 0;
}

int
tr_site_load(const char *path, struct tr_site **out, char *err, size_t errlen)
{
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    char *data = NULL;
    size_t len = 0;
    char eb[128];
    int rc = read_file(path, TR_SITE_MAX_FILE_SIZE, &data, &len);
    if (rc == -EFBIG) {
        message(err, errlen, "%s: file is over the limit of %u bytes", path,
                TR_SITE_MAX_FILE_SIZE);
        return rc;
    }
    if (rc < 0) {
        message(err, errlen, "%s: %s", path, errno_text(rc, eb, sizeof(eb)));
        return rc;
    }
    char *real = realpath(path, NULL);
    if (real == NULL) {
        rc = -errno;
        message(err, errlen, "%s: %s", path, errno_text(rc, eb, sizeof(eb)));
        free(data);
        return rc;
    }
    char *slash = strrchr(real, '/');
    if (slash == real)
        slash[1] = '\0'; /* a file in "/" */
    else if (slash != NULL)
        *slash = '\0';
    rc = tr_site_parse(path, data, len, real, out, err, errlen);
    free(real);
    free(data);
    return rc;
}

void
tr_site_free(struct tr_site *site)
{
    if (site == NULL)
        return;
    pr_arena_free(&site->arena);
    free(site);
}

size_t
tr_site_vhost_count(const struct tr_site *site)
{
    return site->n_vhosts;
}

const struct tr_site_vhost *
tr_site_vhost_at(const struct tr_site *site, size_t i)
{
    return i < site->n_vhosts ? &site->vhosts[i] : NULL;
}

/* --- lookups ------------------------------------------------------------ */

static const struct tr_site_vhost *
find_name(const struct tr_site *site, const char *name, const char *tag)
{
    size_t lo = 0, hi = site->n_hosts; /* first entry >= name */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(site->hosts[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    const struct tr_site_vhost *untagged = NULL;
    for (size_t i = lo;
         i < site->n_hosts && strcmp(site->hosts[i].name, name) == 0; i++) {
        const struct host_entry *e = &site->hosts[i];
        if (e->tag == NULL) {
            if (untagged == NULL)
                untagged = e->vhost;
        } else if (tag != NULL && strcmp(e->tag, tag) == 0) {
            return e->vhost;
        }
    }
    return untagged;
}

const struct tr_site_vhost *
tr_site_find_vhost(const struct tr_site *site, const char *host,
                   const char *listener_tag)
{
    if (host != NULL && host[0] != '\0') {
        size_t n;
        if (host[0] == '[') {
            const char *e = strchr(host, ']');
            n = e != NULL ? (size_t)(e - host) + 1 : strlen(host);
        } else {
            n = strcspn(host, ":");
            if (n > 1 && host[n - 1] == '.')
                n--;
        }
        char name[MAX_HOST_NAME + 3];
        if (n < sizeof(name)) {
            for (size_t i = 0; i < n; i++)
                name[i] = (char)to_lower((unsigned char)host[i]);
            name[n] = '\0';
            const struct tr_site_vhost *vh =
                find_name(site, name, listener_tag);
            if (vh != NULL)
                return vh;
        }
    }
    return find_name(site, "default", listener_tag);
}

const struct tr_site_mount *
tr_site_find_mount(const struct tr_site_vhost *vhost, const char *path,
                   const char **remainder)
{
    size_t n = strlen(path);
    for (size_t i = 0; i < vhost->n_mounts; i++) {
        const struct tr_site_mount *m = vhost->by_length[i];
        size_t ml = m->mountpoint_len;
        if (ml == 1) { /* "/" */
            if (path[0] != '/')
                continue;
            *remainder = path;
            return m;
        }
        if (n >= ml && memcmp(path, m->mountpoint, ml) == 0 &&
            (path[ml] == '\0' || path[ml] == '/')) {
            *remainder = path + ml;
            return m;
        }
    }
    *remainder = NULL;
    return NULL;
}

int
tr_site_status_http(enum tr_site_status status)
{
    switch (status) {
    case TR_SITE_OK:
        return 200;
    case TR_SITE_NO_VHOST:
    case TR_SITE_NO_MOUNT:
        return 404;
    case TR_SITE_BAD_PATH:
        return 400;
    case TR_SITE_PATH_TOO_LONG:
        return 414;
    }
    return 500;
}

/* Strict UTF-8: no overlong forms, no surrogates, nothing over U+10FFFF. */
static bool
valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len;
        uint32_t cp, min;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
            cp = c & 0x1f;
            min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            cp = c & 0x0f;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return false;
        }
        if (n - i < len)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

/* True when out[start..end) is "." or "..". */
static bool
dot_segment(const char *out, size_t start, size_t end)
{
    size_t n = end - start;
    return (n == 1 && out[start] == '.') ||
           (n == 2 && out[start] == '.' && out[start + 1] == '.');
}

enum tr_site_status
tr_site_normalize_path(const char *raw, size_t len, char *buf, size_t buf_size)
{
    if (buf_size < len + 1 || len == SIZE_MAX)
        return TR_SITE_PATH_TOO_LONG;
    if (len == 0 || raw[0] != '/')
        return TR_SITE_BAD_PATH;
    size_t o = 0, seg = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (c == '%') {
            int hi = i + 2 < len ? h1_hex_value((unsigned char)raw[i + 1]) : -1;
            int lo = i + 2 < len ? h1_hex_value((unsigned char)raw[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return TR_SITE_BAD_PATH;
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
            /* an encoded separator, NUL or control character */
            if (c == '/' || c == '\\' || c == 0 || is_control(c))
                return TR_SITE_BAD_PATH;
            buf[o++] = (char)c;
            continue;
        }
        if (c <= 0x20 || c >= 0x7f || c == '\\' || c == '?' || c == '#')
            return TR_SITE_BAD_PATH;
        if (c == '/') {
            if (dot_segment(buf, seg, o))
                return TR_SITE_BAD_PATH;
            if (o > 0 && buf[o - 1] == '/')
                continue; /* collapse "//" */
            buf[o++] = '/';
            seg = o;
            continue;
        }
        buf[o++] = (char)c;
    }
    if (dot_segment(buf, seg, o))
        return TR_SITE_BAD_PATH;
    buf[o] = '\0';
    if (!valid_utf8((const unsigned char *)buf, o))
        return TR_SITE_BAD_PATH;
    return TR_SITE_OK;
}

enum tr_site_status
tr_site_lookup(const struct tr_site *site, const char *host,
               const char *listener_tag, const char *raw_path, size_t raw_len,
               char *buf, size_t buf_size, struct tr_site_match *m)
{
    *m = (struct tr_site_match){0};
    m->vhost = tr_site_find_vhost(site, host, listener_tag);
    if (m->vhost == NULL)
        return TR_SITE_NO_VHOST;
    enum tr_site_status st =
        tr_site_normalize_path(raw_path, raw_len, buf, buf_size);
    if (st != TR_SITE_OK)
        return st;
    m->path = buf;
    m->mount = tr_site_find_mount(m->vhost, buf, &m->remainder);
    return m->mount != NULL ? TR_SITE_OK : TR_SITE_NO_MOUNT;
}

const char *
tr_site_path_suffix(const char *path)
{
    const char *seg = strrchr(path, '/');
    seg = seg != NULL ? seg + 1 : path;
    const char *dot = strrchr(seg, '.');
    return dot != NULL && dot != seg ? dot + 1 : seg + strlen(seg);
}

/* Suffix (lower case) to type; kept in alphabetical order. */
static const struct tr_site_pair builtin_types[] = {
    {"apng", "image/apng"},
    {"atom", "application/atom+xml"},
    {"avif", "image/avif"},
    {"bmp", "image/bmp"},
    {"bz2", "application/x-bzip2"},
    {"css", "text/css"},
    {"csv", "text/csv"},
    {"eot", "application/vnd.ms-fontobject"},
    {"flac", "audio/flac"},
    {"gif", "image/gif"},
    {"gz", "application/gzip"},
    {"htm", "text/html"},
    {"html", "text/html"},
    {"ico", "image/x-icon"},
    {"ics", "text/calendar"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript"},
    {"json", "application/json"},
    {"jsonld", "application/ld+json"},
    {"m4a", "audio/mp4"},
    {"map", "application/json"},
    {"md", "text/markdown"},
    {"mjs", "text/javascript"},
    {"mov", "video/quicktime"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"oga", "audio/ogg"},
    {"ogg", "audio/ogg"},
    {"ogv", "video/ogg"},
    {"opus", "audio/ogg"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"rss", "application/rss+xml"},
    {"svg", "image/svg+xml"},
    {"tar", "application/x-tar"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"ttf", "font/ttf"},
    {"txt", "text/plain"},
    {"vtt", "text/vtt"},
    {"wasm", "application/wasm"},
    {"wav", "audio/wav"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json"},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xhtml", "application/xhtml+xml"},
    {"xml", "application/xml"},
    {"xz", "application/x-xz"},
    {"zip", "application/zip"},
    {"zst", "application/zstd"},
};

static int
cmp_pair_name(const void *key, const void *elem)
{
    return strcmp(key, ((const struct tr_site_pair *)elem)->name);
}

const char *
tr_site_content_type(const struct tr_site_mount *mount, const char *suffix)
{
    char low[MAX_SUFFIX + 1];
    size_t n = 0;
    bool usable = false;
    if (suffix != NULL) {
        if (suffix[0] == '.')
            suffix++;
        n = strlen(suffix);
        usable = n > 0 && n <= MAX_SUFFIX;
    }
    if (usable) {
        for (size_t i = 0; i < n; i++)
            low[i] = (char)to_lower((unsigned char)suffix[i]);
        low[n] = '\0';
        const struct tr_site_pair *p = NULL;
        if (mount != NULL && mount->n_extra_mimetypes > 0)
            p = bsearch(low, mount->extra_mimetypes, mount->n_extra_mimetypes,
                        sizeof(*p), cmp_pair_name);
        if (p == NULL)
            p = bsearch(low, builtin_types,
                        sizeof(builtin_types) / sizeof(builtin_types[0]),
                        sizeof(*p), cmp_pair_name);
        if (p != NULL)
            return p->value;
    }
    if (mount != NULL && mount->n_extra_mimetypes > 0) {
        const struct tr_site_pair *p =
            bsearch("*", mount->extra_mimetypes, mount->n_extra_mimetypes,
                    sizeof(*p), cmp_pair_name);
        if (p != NULL)
            return p->value;
    }
    return NULL;
}

static int
cmp_user_key(const void *key, const void *elem)
{
    return strcmp(key, ((const struct htpasswd_entry *)elem)->user);
}

int
tr_site_check_password(const struct tr_site_mount *mount, const char *user,
                       const char *password)
{
    if (mount == NULL || mount->htpasswd == NULL || user == NULL ||
        password == NULL)
        return 0;
    const struct tr_site_htpasswd *hp = mount->htpasswd;
    const struct htpasswd_entry *e =
        bsearch(user, hp->entries, hp->n, sizeof(*e), cmp_user_key);
    /* An unknown user costs a hash computation too, so that the answer's
     * timing does not tell which users exist. */
    const char *hash = e != NULL ? e->hash : hp->entries[0].hash;
    struct crypt_data *cd = calloc(1, sizeof(*cd));
    if (cd == NULL)
        return 0;
    const char *got = crypt_r(password, hash, cd);
    int ok = 0;
    if (got != NULL && got[0] != '*') {
        size_t n = strlen(hash);
        if (strlen(got) == n) {
            unsigned char diff = 0;
            for (size_t i = 0; i < n; i++)
                diff |= (unsigned char)(got[i] ^ hash[i]);
            ok = diff == 0 && e != NULL;
        }
    }
    explicit_bzero(cd, sizeof(*cd));
    free(cd);
    return ok;
}
