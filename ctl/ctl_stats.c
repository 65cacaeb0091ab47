#include "ctl_stats.h"

#include "ctl_protocol.h"
#include "pr_internal.h"

#include <msgpack.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int
bad(char *err, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Write a message into the caller's buffer; returns -EBADMSG. */
static int
bad(char *err, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pr_verrf(err, size, fmt, ap);
    va_end(ap);
    return -EBADMSG;
}

/* ------------------------------------------------------------------ */
/* The msgpack walk                                                    */

struct walk {
    const uint8_t *p;
    size_t len;
    size_t pos;
    char *err;
    size_t err_size;
};

static uint64_t
load_be(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Consume `n` bytes of the object that starts at `start`. */
static int
walk_take(struct walk *w, size_t start, uint64_t n, const char *what)
{
    if (n > w->len - w->pos)
        return bad(w->err, w->err_size,
                   "truncated msgpack %s at offset %zu: %" PRIu64
                   " bytes needed, %zu follow", what, start, n,
                   w->len - w->pos);
    w->pos += (size_t)n;
    return 0;
}

static int
walk_object(struct walk *w, unsigned depth);

/* A container of `n` objects (2n for a map) whose header ended. */
static int
walk_container(struct walk *w, size_t start, uint64_t n, bool map,
               unsigned depth)
{
    const char *what = map ? "map" : "array";
    if (depth > CTL_STATS_MAX_DEPTH)
        return bad(w->err, w->err_size,
                   "msgpack %s at offset %zu nests deeper than %d levels",
                   what, start, CTL_STATS_MAX_DEPTH);
    uint64_t objects = map ? 2 * n : n;
    /* Every object takes at least one byte. */
    if (objects > w->len - w->pos)
        return bad(w->err, w->err_size,
                   "msgpack %s at offset %zu declares %" PRIu64
                   " elements, %zu bytes follow", what, start, n,
                   w->len - w->pos);
    for (uint64_t i = 0; i < objects; i++) {
        int r = walk_object(w, depth + 1);
        if (r < 0)
            return r;
    }
    return 0;
}

static int
walk_object(struct walk *w, unsigned depth)
{
    size_t start = w->pos;
    if (w->pos >= w->len)
        return bad(w->err, w->err_size,
                   "truncated msgpack data: an object is missing at offset "
                   "%zu", start);
    uint8_t b = w->p[w->pos++];
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3)
        return 0;
    if (b >= 0x80 && b <= 0x8f)
        return walk_container(w, start, b & 0x0f, true, depth);
    if (b >= 0x90 && b <= 0x9f)
        return walk_container(w, start, b & 0x0f, false, depth);
    if (b >= 0xa0 && b <= 0xbf)
        return walk_take(w, start, b & 0x1f, "str");

    /* Sizes of the fixed-size forms: number bytes after the marker. */
    switch (b) {
    case 0xcc: case 0xd0: return walk_take(w, start, 1, "integer");
    case 0xcd: case 0xd1: return walk_take(w, start, 2, "integer");
    case 0xce: case 0xd2: return walk_take(w, start, 4, "integer");
    case 0xcf: case 0xd3: return walk_take(w, start, 8, "integer");
    case 0xca: return walk_take(w, start, 4, "float");
    case 0xcb: return walk_take(w, start, 8, "float");
    case 0xd4: return walk_take(w, start, 2, "ext");
    case 0xd5: return walk_take(w, start, 3, "ext");
    case 0xd6: return walk_take(w, start, 5, "ext");
    case 0xd7: return walk_take(w, start, 9, "ext");
    case 0xd8: return walk_take(w, start, 17, "ext");
    default: break;
    }

    /* Forms with a length field: its width, and what follows it. */
    size_t width = 0;
    const char *what = "";
    switch (b) {
    case 0xc4: width = 1; what = "bin"; break;
    case 0xc5: width = 2; what = "bin"; break;
    case 0xc6: width = 4; what = "bin"; break;
    case 0xc7: width = 1; what = "ext"; break;
    case 0xc8: width = 2; what = "ext"; break;
    case 0xc9: width = 4; what = "ext"; break;
    case 0xd9: width = 1; what = "str"; break;
    case 0xda: width = 2; what = "str"; break;
    case 0xdb: width = 4; what = "str"; break;
    case 0xdc: width = 2; what = "array"; break;
    case 0xdd: width = 4; what = "array"; break;
    case 0xde: width = 2; what = "map"; break;
    case 0xdf: width = 4; what = "map"; break;
    default:
        return bad(w->err, w->err_size,
                   "invalid msgpack marker 0x%02x at offset %zu", b, start);
    }
    if (width > w->len - w->pos)
        return bad(w->err, w->err_size,
                   "truncated msgpack %s header at offset %zu", what, start);
    uint64_t n = load_be(w->p + w->pos, width);
    w->pos += width;
    if (b == 0xdc || b == 0xdd)
        return walk_container(w, start, n, false, depth);
    if (b == 0xde || b == 0xdf)
        return walk_container(w, start, n, true, depth);
    if (b >= 0xc7 && b <= 0xc9)
        n += 1;   /* the ext type byte */
    return walk_take(w, start, n, what);
}

int
ctl_stats_msgpack_check(const uint8_t *payload, size_t len, char *err,
                        size_t err_size)
{
    struct walk w = {
        .p = payload, .len = len, .pos = 0, .err = err, .err_size = err_size,
    };
    if (err != NULL && err_size > 0)
        err[0] = '\0';
    int r = walk_object(&w, 1);
    if (r < 0)
        return r;
    if (w.pos != len)
        return bad(err, err_size,
                   "%zu bytes after the msgpack object at offset %zu",
                   len - w.pos, w.pos);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Text output                                                         */

static int
put(struct pr_buf *out, const char *s, size_t len)
{
    return pr_buf_append(out, s, len);
}

static int
puts_(struct pr_buf *out, const char *s)
{
    return put(out, s, strlen(s));
}

static int
putf(struct pr_buf *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
putf(struct pr_buf *out, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return -EINVAL;
    return put(out, tmp, (size_t)n);
}

/* Length of the valid UTF-8 sequence at s[0..len), or 0. */
static size_t
utf8_seq(const uint8_t *s, size_t len)
{
    uint8_t b = s[0];
    size_t n = 0;
    uint32_t cp = 0;
    if (b < 0x80)
        return 1;
    if (b >= 0xc2 && b <= 0xdf) {
        n = 2;
        cp = b & 0x1f;
    } else if (b >= 0xe0 && b <= 0xef) {
        n = 3;
        cp = b & 0x0f;
    } else if (b >= 0xf0 && b <= 0xf4) {
        n = 4;
        cp = b & 0x07;
    } else {
        return 0;
    }
    if (n > len)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    /* overlong forms, surrogates, beyond U+10FFFF */
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
        (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
        return 0;
    return n;
}

/* Append s escaped as the inside of a JSON string; for plain text (not
 * `json`) double quotes stay as they are. */
static int
put_escaped(struct pr_buf *out, const uint8_t *s, size_t len, bool json)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        int r = 0;
        if ((c == '"' && json) || c == '\\') {
            char e[2] = { '\\', (char)c };
            r = put(out, e, 2);
            i++;
        } else if (c == '\n') {
            r = puts_(out, "\\n");
            i++;
        } else if (c == '\t') {
            r = puts_(out, "\\t");
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            r = putf(out, "\\u%04x", c);
            i++;
        } else {
            size_t n = utf8_seq(s + i, len - i);
            if (n == 0) {
                r = puts_(out, "\\ufffd");
                i++;
            } else {
                r = put(out, (const char *)s + i, n);
                i += n;
            }
        }
        if (r < 0)
            return r;
    }
    return 0;
}

static int
put_hex(struct pr_buf *out, const char *p, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        uint8_t b = (uint8_t)p[i];
        char h[2] = { digits[b >> 4], digits[b & 15] };
        int r = put(out, h, 2);
        if (r < 0)
            return r;
    }
    return 0;
}

/* A scalar as text: JSON syntax when `json`, else the plain form
 * (strings without quotes). */
static int
put_scalar(struct pr_buf *out, const msgpack_object *o, bool json)
{
    const char *q = json ? "\"" : "";
    int r = 0;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        return puts_(out, "null");
    case MSGPACK_OBJECT_BOOLEAN:
        return puts_(out, o->via.boolean ? "true" : "false");
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return putf(out, "%" PRIu64, o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return putf(out, "%" PRId64, o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(o->via.f64))
            return puts_(out, "null");
        return putf(out, json ? "%.17g" : "%.15g", o->via.f64);
    case MSGPACK_OBJECT_STR:
        if ((r = puts_(out, q)) < 0 ||
            (r = put_escaped(out, (const uint8_t *)o->via.str.ptr,
                             o->via.str.size, json)) < 0)
            return r;
        return puts_(out, q);
    case MSGPACK_OBJECT_BIN:
        if ((r = puts_(out, q)) < 0 ||
            (r = put_hex(out, o->via.bin.ptr, o->via.bin.size)) < 0)
            return r;
        return puts_(out, q);
    case MSGPACK_OBJECT_EXT:
        if ((r = puts_(out, q)) < 0 ||
            (r = put_hex(out, o->via.ext.ptr, o->via.ext.size)) < 0)
            return r;
        return puts_(out, q);
    case MSGPACK_OBJECT_ARRAY:
    case MSGPACK_OBJECT_MAP:
        break;
    }
    return -EINVAL;
}

static int
put_json(struct pr_buf *out, const msgpack_object *o);

/* A map key as a JSON string: strings as they are, anything else as its
 * JSON text, quoted. */
static int
put_json_key(struct pr_buf *out, const msgpack_object *k)
{
    if (k->type == MSGPACK_OBJECT_STR)
        return put_scalar(out, k, true);
    struct pr_buf tmp = PR_BUF_INIT;
    int r = put_json(&tmp, k);
    if (r == 0 && (r = puts_(out, "\"")) == 0 &&
        (r = put_escaped(out, tmp.data, tmp.len, true)) == 0)
        r = puts_(out, "\"");
    pr_buf_free(&tmp);
    return r;
}

static int
put_json(struct pr_buf *out, const msgpack_object *o)
{
    int r = 0;
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        if ((r = puts_(out, "[")) < 0)
            return r;
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if ((i > 0 && (r = puts_(out, ", ")) < 0) ||
                (r = put_json(out, &o->via.array.ptr[i])) < 0)
                return r;
        return puts_(out, "]");
    }
    if (o->type == MSGPACK_OBJECT_MAP) {
        if ((r = puts_(out, "{")) < 0)
            return r;
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if ((i > 0 && (r = puts_(out, ", ")) < 0) ||
                (r = put_json_key(out, &kv->key)) < 0 ||
                (r = puts_(out, ": ")) < 0 ||
                (r = put_json(out, &kv->val)) < 0)
                return r;
        }
        return puts_(out, "}");
    }
    return put_scalar(out, o, true);
}

/* "key: value" lines; `path` holds the dotted key of o so far. */
static int
put_lines(struct pr_buf *out, struct pr_buf *path, const msgpack_object *o)
{
    int r = 0;
    size_t mark = path->len;
    bool map = o->type == MSGPACK_OBJECT_MAP;
    if (map || o->type == MSGPACK_OBJECT_ARRAY) {
        uint32_t n = map ? o->via.map.size : o->via.array.size;
        if (n == 0 && mark > 0) {
            if ((r = put(out, (const char *)path->data, path->len)) < 0)
                return r;
            return puts_(out, map ? ": {}\n" : ": []\n");
        }
        for (uint32_t i = 0; i < n; i++) {
            path->len = mark;
            if (mark > 0 && (r = puts_(path, ".")) < 0)
                return r;
            if (!map)
                r = putf(path, "%" PRIu32, i);
            else if (o->via.map.ptr[i].key.type == MSGPACK_OBJECT_ARRAY ||
                     o->via.map.ptr[i].key.type == MSGPACK_OBJECT_MAP)
                r = put_json(path, &o->via.map.ptr[i].key);
            else
                r = put_scalar(path, &o->via.map.ptr[i].key, false);
            if (r < 0)
                return r;
            r = put_lines(out, path, map ? &o->via.map.ptr[i].val
                                         : &o->via.array.ptr[i]);
            if (r < 0)
                return r;
        }
        path->len = mark;
        return 0;
    }
    if ((r = put(out, (const char *)path->data, path->len)) < 0 ||
        (r = puts_(out, ": ")) < 0 || (r = put_scalar(out, o, false)) < 0)
        return r;
    return puts_(out, "\n");
}

/* ------------------------------------------------------------------ */
/* Payloads                                                            */

/* The binary STATS struct of spec §2.5: name, offset, width. */
static const struct {
    const char *name;
    uint8_t offset;
    uint8_t width;
} legacy_fields[] = {
    { "incoming_connections", 0, 4 },
    { "outgoing_connections", 4, 4 },
    { "children", 8, 4 },
    { "sessions", 12, 4 },
    { "http_requests", 16, 8 },
    { "translation_cache_size", 24, 8 },
    { "http_cache_size", 32, 8 },
    { "filter_cache_size", 40, 8 },
    { "translation_cache_brutto_size", 48, 8 },
    { "http_cache_brutto_size", 56, 8 },
    { "filter_cache_brutto_size", 64, 8 },
    { "nfs_cache_size", 72, 8 },
    { "nfs_cache_brutto_size", 80, 8 },
    { "io_buffers_size", 88, 8 },
    { "io_buffers_brutto_size", 96, 8 },
    { "http_traffic_received", 104, 8 },
    { "http_traffic_sent", 112, 8 },
};

static int
format_legacy(struct pr_buf *out, const uint8_t *p,
              enum ctl_stats_format format)
{
    bool json = format == CTL_STATS_JSON;
    size_t n = sizeof(legacy_fields) / sizeof(legacy_fields[0]);
    int r = json ? puts_(out, "{") : 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        uint64_t v = load_be(p + legacy_fields[i].offset,
                             legacy_fields[i].width);
        if (json)
            r = putf(out, "%s\"", i > 0 ? ", " : "");
        if (r == 0)
            r = puts_(out, legacy_fields[i].name);
        if (r == 0)
            r = putf(out, json ? "\": %" PRIu64 : ": %" PRIu64 "\n", v);
    }
    if (r == 0 && json)
        r = puts_(out, "}\n");
    return r;
}

static bool
is_map_marker(uint8_t b)
{
    return (b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf;
}

int
ctl_stats_format_payload(struct pr_buf *out, const uint8_t *payload,
                         size_t len, enum ctl_stats_format format, char *err,
                         size_t err_size)
{
    if (err != NULL && err_size > 0)
        err[0] = '\0';
    if (len == 0 || !is_map_marker(payload[0])) {
        if (len == CTL_STATS_LEGACY_SIZE)
            return format_legacy(out, payload, format);
        return bad(err, err_size,
                   "STATS payload of %zu bytes is neither a msgpack map nor "
                   "the %d-byte STATS struct", len, CTL_STATS_LEGACY_SIZE);
    }

    char msg[192];
    if (ctl_stats_msgpack_check(payload, len, msg, sizeof(msg)) < 0)
        return bad(err, err_size, "STATS payload: %s", msg);

    msgpack_unpacked result;
    msgpack_unpacked_init(&result);
    size_t off = 0;
    msgpack_unpack_return ur =
        msgpack_unpack_next(&result, (const char *)payload, len, &off);
    int r = 0;
    if (ur == MSGPACK_UNPACK_NOMEM_ERROR) {
        r = -ENOMEM;
    } else if (ur != MSGPACK_UNPACK_SUCCESS || off != len ||
               result.data.type != MSGPACK_OBJECT_MAP) {
        /* The walk accepted it, so msgpack-c disagrees with it. */
        r = bad(err, err_size,
                "STATS payload: msgpack-c rejected the map (status %d)",
                (int)ur);
    } else if (format == CTL_STATS_JSON) {
        r = put_json(out, &result.data);
        if (r == 0)
            r = puts_(out, "\n");
    } else {
        struct pr_buf path = PR_BUF_INIT;
        r = put_lines(out, &path, &result.data);
        pr_buf_free(&path);
    }
    msgpack_unpacked_destroy(&result);
    return r;
}

int
ctl_stats_format_reply(struct pr_buf *out, const uint8_t *data, size_t len,
                       enum ctl_stats_format format, char *err,
                       size_t err_size)
{
    size_t pos = 0;
    if (len >= CTL_MAGIC_SIZE && pr_load_be32(data) == CTL_MAGIC)
        pos = CTL_MAGIC_SIZE;
    if (len - pos < CTL_HEADER_SIZE)
        return bad(err, err_size,
                   "reply of %zu bytes is too short for a header", len);
    size_t plen = pr_load_be16(data + pos);
    uint16_t command = pr_load_be16(data + pos + 2);
    pos += CTL_HEADER_SIZE;
    if (command != CTL_CMD_STATS)
        return bad(err, err_size,
                   "reply carries command %u (%s), expected STATS (%d)",
                   (unsigned)command, ctl_command_name(command),
                   CTL_CMD_STATS);
    if (plen > len - pos)
        return bad(err, err_size,
                   "truncated reply: STATS declares %zu bytes, %zu follow",
                   plen, len - pos);
    if (len - pos - plen > ctl_padding(plen))
        return bad(err, err_size,
                   "%zu bytes after the %zu-byte STATS payload of the reply",
                   len - pos - plen, plen);
    return ctl_stats_format_payload(out, data + pos, plen, format, err,
                                    err_size);
}
