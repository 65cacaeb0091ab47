/*
 * dp_tcache: the translation cache.  See dp_tcache.h for the promises and
 * docs/translation-cache.md for the user-facing description.
 *
 * Structure: every item sits in one hash table (key → chain of items, as
 * VARY allows several items per key) and in one LRU list; items that
 * stored HOST through VARY are also in a second table by that host, so
 * INVALIDATE with HOST looks at the items of one host only (§1.15).  An
 * item owns the response it was stored from (moved in, never modified), the
 * request values its VARY asked for, the compiled REGEX/INVERSE_REGEX and,
 * for BASE responses, the "base" forms of the fields that get the URI
 * tail appended on a hit.  Items are refcounted: the cache holds one
 * reference while the item is in it, every hit one more.
 */
#include "dp_tcache.h"

#include "h1_chars.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Size limits of §1.15 for request packets that are part of the key. */
#define SMALL_LIMIT 256

/* A request value stored because of VARY. */
struct vary_value {
    uint16_t command;
    bool present;
    struct pr_slice value;               /* in the item's arena */
};

struct dp_tcache_item {
    unsigned refs;
    bool in_cache;

    struct dp_tcache_item *hnext;        /* hash chain */
    struct dp_tcache_item *host_next;    /* host index chain */
    uint64_t host_hash;
    bool host_indexed;                   /* stored a HOST through VARY */
    struct dp_tcache_item *lru_prev, *lru_next;

    uint64_t hash;
    const char *key;                     /* in arena, NUL-terminated */
    size_t key_len;
    bool uri_key;                        /* a URI request's key */
    size_t uri_off;                      /* then: where the URI (or BASE)
                                            part starts */
    uint64_t expires_ms;
    size_t bytes;

    struct tp_response resp;             /* owned, unchanged */
    struct pr_arena arena;               /* key, vary values, bases */

    size_t n_vary;
    struct vary_value vary[TP_MAX_VARY];

    /* BASE (or AUTO_BASE) */
    const char *base;                    /* NULL: not a BASE item */
    size_t base_len;
    bool subtree;                        /* serves URIs below BASE (false
                                            when a classic response for
                                            the BASE itself has fields
                                            that cannot take a tail) */
    bool easy;                           /* EASY_BASE */
    bool expandable;                     /* REGEX + some EXPAND_* */
    const char *addr_base;               /* the address field's base */
    bool addr_base_set;
    const char *uri_base, *redirect_base, *test_path_base;

    pcre2_code *regex, *inverse_regex;
};

struct dp_tcache {
    size_t max_items, max_bytes;
    bool active;

    struct dp_tcache_item **buckets;
    struct dp_tcache_item **host_buckets; /* items by their VARY HOST */
    size_t n_buckets;                    /* power of two, both tables */
    size_t n_base_items;

    struct dp_tcache_item *lru_head, *lru_tail;   /* head = most recent */
    struct dp_tcache_stats stats;
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */

static int
hit_error(struct dp_tcache_hit *hit, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
hit_error(struct dp_tcache_hit *hit, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(hit->error, sizeof(hit->error), fmt, ap);
    va_end(ap);
    hit->error_status = status;
    return -1;
}

/*
 * The hit's scratch memory: small heap blocks, so that the few strings a
 * BASE hit rewrites cost one small malloc() (pr_arena's blocks are 4 KiB)
 * and stay valid when the caller moves the hit struct.
 */
struct dp_tcache_scratch {
    struct dp_tcache_scratch *next;
    size_t used, size;
    max_align_t data[];
};

#define SCRATCH_BLOCK 448               /* + header: a malloc() below 512 */

/* Freed blocks of SCRATCH_BLOCK bytes kept for the next hits (a worker
 * is one thread): a BASE hit then costs no malloc() and free(). */
static struct {
    struct dp_tcache_scratch *blocks[8];
    unsigned n;
} spare;

static void *
hit_alloc(struct dp_tcache_hit *hit, size_t n)
{
    const size_t align = _Alignof(max_align_t);
    if (n > SIZE_MAX / 2)
        return NULL;
    n = n == 0 ? align : (n + align - 1) & ~(align - 1);
    struct dp_tcache_scratch *b = hit->scratch;
    if (b == NULL || b->size - b->used < n) {
        size_t size = n > SCRATCH_BLOCK ? n : SCRATCH_BLOCK;
        if (size == SCRATCH_BLOCK && spare.n > 0)
            b = spare.blocks[--spare.n];
        else
            b = malloc(sizeof(*b) + size);
        if (b == NULL)
            return NULL;
        b->next = hit->scratch;
        b->used = 0;
        b->size = size;
        hit->scratch = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

static char *
hit_strndup(struct dp_tcache_hit *hit, const void *src, size_t len)
{
    char *s = len < SIZE_MAX ? hit_alloc(hit, len + 1) : NULL;
    if (s == NULL)
        return NULL;
    if (len > 0)
        memcpy(s, src, len);
    s[len] = '\0';
    return s;
}

static void
scratch_free(struct dp_tcache_hit *hit)
{
    while (hit->scratch != NULL) {
        struct dp_tcache_scratch *b = hit->scratch;
        hit->scratch = b->next;
        if (b->size == SCRATCH_BLOCK &&
            spare.n < sizeof(spare.blocks) / sizeof(spare.blocks[0]))
            spare.blocks[spare.n++] = b;
        else
            free(b);
    }
}

static bool
slice_set(struct pr_slice s)
{
    return s.data != NULL;
}

static bool
slice_eq(struct pr_slice a, struct pr_slice b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0);
}

static uint64_t
fnv_step(uint64_t h, const void *data, size_t len)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

#define FNV_INIT 0xcbf29ce484222325ull

static char *
hit_concat(struct dp_tcache_hit *hit, const char *x, size_t xl,
           const char *y, size_t yl)
{
    if (xl > SIZE_MAX / 4 || yl > SIZE_MAX / 4)
        return NULL;
    char *s = hit_alloc(hit, xl + yl + 1);
    if (s == NULL)
        return NULL;
    if (xl > 0)
        memcpy(s, x, xl);
    if (yl > 0)
        memcpy(s + xl, y, yl);
    s[xl + yl] = '\0';
    return s;
}

/*
 * %-unescape s[0..n) into the hit's scratch (NUL-terminated, *out_len
 * set).
 * NULL with *bad = true for a malformed escape or an escaped NUL (which
 * would cut a C string short); NULL with *bad = false when out of memory.
 */
static char *
unescape(struct dp_tcache_hit *hit, const char *s, size_t n, size_t *out_len,
         bool *bad)
{
    *bad = false;
    char *o = hit_alloc(hit, n + 1);
    if (o == NULL)
        return NULL;
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\0') {
            *bad = true;
            return NULL;
        }
        if (s[i] != '%') {
            o[j++] = s[i];
            continue;
        }
        if (n - i < 3) {
            *bad = true;
            return NULL;
        }
        int hi = h1_hex_value((uint8_t)s[i + 1]);
        int lo = h1_hex_value((uint8_t)s[i + 2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
            *bad = true;
            return NULL;
        }
        o[j++] = (char)(hi << 4 | lo);
        i += 2;
    }
    o[j] = '\0';
    if (out_len != NULL)
        *out_len = j;
    return o;
}

/*
 * Normalise a path: runs of '/' become one, "." segments vanish.  With
 * strip_leading, leading slashes are dropped (a BASE tail); otherwise a
 * leading '/' is kept.  ".." is kept (the safety check refuses it).
 */
static char *
normalize(struct dp_tcache_hit *hit, const char *s, size_t n,
          bool strip_leading, size_t *out_len)
{
    char *o = hit_alloc(hit, n + 1);
    if (o == NULL)
        return NULL;
    size_t j = 0, i = 0;
    if (!strip_leading && n > 0 && s[0] == '/')
        o[j++] = '/';
    while (i < n) {
        while (i < n && s[i] == '/')
            i++;
        size_t start = i;
        while (i < n && s[i] != '/')
            i++;
        size_t seg = i - start;
        if (seg == 0)
            break;
        if (seg == 1 && s[start] == '.') {
            continue;
        }
        memcpy(o + j, s + start, seg);
        j += seg;
        if (i < n)
            o[j++] = '/';
    }
    /* "a/." and "a/./" end in a directory: keep the slash */
    if (j > 0 && o[j - 1] != '/' && n > 0 &&
        (s[n - 1] == '/' || (s[n - 1] == '.' && (n == 1 || s[n - 2] == '/'))))
        o[j++] = '/';
    /* "a/b/" case was written while copying; drop a doubled slash */
    while (j > 1 && o[j - 1] == '/' && o[j - 2] == '/')
        j--;
    o[j] = '\0';
    *out_len = j;
    return o;
}

/*
 * The paranoid check of a (raw, %-encoded) path: no "." or ".." segment,
 * neither literal nor after unescaping (".%2e" is ".."), no segment that
 * starts with an encoded dot, no encoded '/' or NUL, no malformed escape,
 * no literal control character or backslash.  Empty segments are
 * harmless and allowed.
 */
static bool
path_is_safe(const char *s, size_t n)
{
    size_t i = 0;
    while (i <= n) {
        size_t start = i;
        size_t dlen = 0;
        bool dots_only = true;
        while (i < n && s[i] != '/') {
            uint8_t c = (uint8_t)s[i];
            if (c < 0x20 || c == 0x7f || c == '\\')
                return false;
            if (c == '%') {
                if (n - i < 3)
                    return false;
                int hi = h1_hex_value((uint8_t)s[i + 1]);
                int lo = h1_hex_value((uint8_t)s[i + 2]);
                if (hi < 0 || lo < 0)
                    return false;
                c = (uint8_t)(hi << 4 | lo);
                if (c == '\0' || c == '/' || c == '\\')
                    return false;
                if (c == '.' && i == start)
                    return false;
                i += 3;
            } else {
                i++;
            }
            if (c != '.')
                dots_only = false;
            dlen++;
        }
        if (dlen > 0 && dlen <= 2 && dots_only)
            return false;
        i++;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Keys                                                                */

/* A key under construction: a stack buffer that spills to the heap. */
struct keybuf {
    char *p;
    size_t len, cap;
    bool failed;
    char stack[768];
};

static void
kb_init(struct keybuf *k)
{
    k->p = k->stack;
    k->len = 0;
    k->cap = sizeof(k->stack);
    k->failed = false;
}

static void
kb_free(struct keybuf *k)
{
    if (k->p != k->stack)
        free(k->p);
}

/* Append data[0..len); with data NULL only make room for len bytes. */
static void
kb_add(struct keybuf *k, const void *data, size_t len)
{
    if (k->failed)
        return;
    if (len > k->cap - k->len) {
        size_t cap = k->cap;
        while (len > cap - k->len) {
            if (cap > SIZE_MAX / 2) {
                k->failed = true;
                return;
            }
            cap *= 2;
        }
        char *p = malloc(cap);
        if (p == NULL) {
            k->failed = true;
            return;
        }
        memcpy(p, k->p, k->len);
        if (k->p != k->stack)
            free(k->p);
        k->p = p;
        k->cap = cap;
    }
    if (data == NULL)
        return;                         /* only reserve */
    if (len > 0)
        memcpy(k->p + k->len, data, len);
    k->len += len;
}

static void
kb_str(struct keybuf *k, const char *s)
{
    kb_add(k, s, strlen(s));
}

/* Escape everything but a few safe bytes, so the key's delimiters stay
 * unambiguous whatever an opaque payload holds. */
#define KEY_SAFE_DIGITS ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, \
    ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1
#define KEY_SAFE_UPPER ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, \
    ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, \
    ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, \
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, \
    ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1
#define KEY_SAFE_LOWER ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, \
    ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, \
    ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, \
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, \
    ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1

/* The bytes a key keeps as they are (a table: this runs over the Host of
 * every lookup). */
static const uint8_t key_safe[256] = {
    KEY_SAFE_DIGITS, KEY_SAFE_UPPER, KEY_SAFE_LOWER,
    ['.'] = 1, ['/'] = 1, ['@'] = 1, ['+'] = 1, [','] = 1,
};

static void
kb_escaped(struct keybuf *k, struct pr_slice s)
{
    static const char hex[] = "0123456789ABCDEF";
    if (s.data == NULL || k->failed)
        return;
    /* room for the worst case (every byte escaped), written in place */
    size_t len = k->len;
    if (s.len > SIZE_MAX / 4) {
        k->failed = true;
        return;
    }
    kb_add(k, NULL, 3 * s.len);         /* reserves */
    if (k->failed)
        return;
    char *o = k->p + len;
    for (size_t i = 0; i < s.len; i++) {
        uint8_t c = s.data[i];
        if (key_safe[c]) {
            *o++ = (char)c;
        } else {
            o[0] = '%';
            o[1] = hex[c >> 4];
            o[2] = hex[c & 15];
            o += 3;
        }
    }
    k->len = (size_t)(o - k->p);
}

enum key_kind {
    KEY_NONE = 0,
    KEY_FULL,          /* the whole key is in the buffer */
    KEY_URI,           /* the buffer holds the prefix; the URI follows */
};

/*
 * Build the key (or, for URI requests, the part before the URI) of a
 * cacheable request, as §1.15 lists it.
 */
static enum key_kind
build_key(struct keybuf *k, const struct tp_request *req)
{
    char num[32];

    if (slice_set(req->content_type_lookup) && slice_set(req->suffix)) {
        kb_str(k, "CTL|");
        kb_escaped(k, req->content_type_lookup);
        kb_str(k, "|");
        kb_escaped(k, req->suffix);
        return KEY_FULL;
    }
    if (slice_set(req->chain)) {
        kb_str(k, "CHAIN|");
        kb_escaped(k, req->chain);
        snprintf(num, sizeof(num), "=%u", (unsigned)req->status);
        kb_str(k, num);
        return KEY_FULL;
    }
    if (slice_set(req->mount_listen_stream)) {
        kb_str(k, "MLS|");
        kb_escaped(k, req->mount_listen_stream);
        return KEY_FULL;
    }
    if (slice_set(req->widget_type)) {
        kb_str(k, "WT|");
        kb_escaped(k, req->widget_type);
        return KEY_FULL;
    }
    if (!slice_set(req->uri))
        return KEY_NONE;

    if (slice_set(req->read_file)) {
        kb_escaped(k, req->read_file);
        kb_str(k, "=RF]");
    }
    if (slice_set(req->directory_index)) {
        kb_escaped(k, req->directory_index);
        kb_str(k, "=DIR]");
    }
    if (slice_set(req->file_not_found)) {
        kb_escaped(k, req->file_not_found);
        kb_str(k, "=FNF]");
    }
    if (slice_set(req->probe_path_suffixes)) {
        kb_escaped(k, req->probe_path_suffixes);
        kb_str(k, "=PPS");
        if (slice_set(req->probe_suffix)) {
            kb_str(k, ":");
            kb_escaped(k, req->probe_suffix);
        }
        kb_str(k, "]");
    }
    if (req->path_exists)
        kb_str(k, "|PE_");
    if (req->want_count > 0)
        kb_str(k, "|W_");
    if (slice_set(req->want_full_uri)) {
        kb_str(k, "|WFU=");
        kb_escaped(k, req->want_full_uri);
    }
    if (slice_set(req->layout)) {
        kb_escaped(k, req->layout);
        switch (req->layout_item.kind) {
        case TP_LAYOUT_ITEM_URI:
            kb_str(k, "-=");
            kb_escaped(k, req->layout_item.value);
            break;
        case TP_LAYOUT_ITEM_BASE:
            kb_str(k, "--");
            kb_escaped(k, req->layout_item.value);
            break;
        case TP_LAYOUT_ITEM_REGEX:
            kb_str(k, "-~");
            kb_escaped(k, req->layout_item.value);
            break;
        default:
            break;
        }
        kb_str(k, "=L|");
    }
    if (slice_set(req->check)) {
        kb_str(k, "|CHECK=");
        kb_escaped(k, req->check);
    }
    if (slice_set(req->check_header)) {
        kb_str(k, "|CH=");
        kb_escaped(k, req->check_header);
    }
    /* HOST always (§1.15); an absent Host is keyed apart from "" */
    if (slice_set(req->host))
        kb_escaped(k, req->host);
    else
        kb_str(k, "%");
    kb_str(k, ":");
    if (req->status != 0) {
        snprintf(num, sizeof(num), "ERR%u_", (unsigned)req->status);
        kb_str(k, num);
    }
    return KEY_URI;
}

bool
dp_tcache_request_cacheable(const struct tp_request *req)
{
    bool kind = slice_set(req->uri) || slice_set(req->widget_type) ||
                slice_set(req->mount_listen_stream) ||
                slice_set(req->chain) ||
                (slice_set(req->content_type_lookup) &&
                 slice_set(req->suffix));
    if (!kind)
        return false;
    if (slice_set(req->chain_header) || slice_set(req->recover_session) ||
        slice_set(req->http_auth) || slice_set(req->token_auth) ||
        slice_set(req->auth) || slice_set(req->authorization))
        return false;
    if (req->check.len >= SMALL_LIMIT ||
        req->mount_listen_stream.len >= SMALL_LIMIT)
        return false;
    if (req->want_full_uri.len > SMALL_LIMIT ||
        req->probe_path_suffixes.len > SMALL_LIMIT ||
        req->file_not_found.len > SMALL_LIMIT ||
        req->directory_index.len > SMALL_LIMIT ||
        req->read_file.len > SMALL_LIMIT ||
        req->content_type_lookup.len > SMALL_LIMIT)
        return false;
    return true;
}

/* ------------------------------------------------------------------ */
/* Request values for VARY / INVALIDATE (§1.14)                        */

static bool
vary_supported(uint16_t cmd)
{
    switch (cmd) {
    case TP_CMD_URI:
    case TP_CMD_PARAM:
    case TP_CMD_SESSION:
    case TP_CMD_REALM_SESSION:
    case TP_CMD_LISTENER_TAG:
    case TP_CMD_REMOTE_HOST:
    case TP_CMD_HOST:
    case TP_CMD_LANGUAGE:
    case TP_CMD_USER_AGENT:
    case TP_CMD_QUERY_STRING:
    case TP_CMD_INTERNAL_REDIRECT:
    case TP_CMD_ENOTDIR_:
    case TP_CMD_USER:
        return true;
    default:
        return false;
    }
}

/* The request's value for a supported command other than URI. */
static struct pr_slice
request_value(const struct tp_request *req, uint16_t cmd)
{
    switch (cmd) {
    case TP_CMD_URI: return req->uri;
    case TP_CMD_PARAM: return req->param;
    case TP_CMD_SESSION: return req->session;
    case TP_CMD_REALM_SESSION: return req->realm_session;
    case TP_CMD_LISTENER_TAG: return req->listener_tag;
    case TP_CMD_REMOTE_HOST: return req->remote_host;
    case TP_CMD_HOST: return req->host;
    case TP_CMD_LANGUAGE: return req->language;
    case TP_CMD_USER_AGENT: return req->user_agent;
    case TP_CMD_QUERY_STRING: return req->query_string;
    case TP_CMD_INTERNAL_REDIRECT: return req->internal_redirect;
    case TP_CMD_ENOTDIR_: return req->enotdir;
    case TP_CMD_USER: return req->user;
    default: return (struct pr_slice){ NULL, 0 };
    }
}

/* The URI (or BASE) part of a URI key. */
static struct pr_slice
item_key_uri(const struct dp_tcache_item *it)
{
    return (struct pr_slice){ (const uint8_t *)it->key + it->uri_off,
                              it->key_len - it->uri_off };
}

/* VARY matching at lookup: every stored command must match. */
static bool
vary_match(const struct dp_tcache_item *it, const struct tp_request *req)
{
    for (size_t i = 0; i < it->n_vary; i++) {
        const struct vary_value *v = &it->vary[i];
        if (v->command == TP_CMD_URI) {
            if (!slice_set(req->uri) || !it->uri_key ||
                !slice_eq(item_key_uri(it), req->uri))
                return false;
            continue;
        }
        struct pr_slice r = request_value(req, v->command);
        if (!v->present && !slice_set(r))
            continue;
        if (v->present != slice_set(r) || !slice_eq(v->value, r))
            return false;
    }
    return true;
}

/* Strict matching of one (command, value) pair for INVALIDATE. */
static bool
strict_match(const struct dp_tcache_item *it, uint16_t cmd,
             struct pr_slice value)
{
    if (!slice_set(value) || !vary_supported(cmd))
        return false;
    if (cmd == TP_CMD_URI)
        return it->uri_key && slice_eq(item_key_uri(it), value);
    for (size_t i = 0; i < it->n_vary; i++)
        if (it->vary[i].command == cmd)
            return it->vary[i].present && slice_eq(it->vary[i].value, value);
    return false;
}

/* ------------------------------------------------------------------ */
/* Items                                                               */

static void
item_unref(struct dp_tcache_item *it)
{
    if (--it->refs > 0)
        return;
    pcre2_code_free(it->regex);
    pcre2_code_free(it->inverse_regex);
    tp_response_free(&it->resp);
    pr_arena_free(&it->arena);
    free(it);
}

static void
hash_unlink(struct dp_tcache *c, struct dp_tcache_item *it)
{
    struct dp_tcache_item **pp = &c->buckets[it->hash & (c->n_buckets - 1)];
    while (*pp != NULL && *pp != it)
        pp = &(*pp)->hnext;
    if (*pp == it)
        *pp = it->hnext;
    it->hnext = NULL;
}

static void
host_unlink(struct dp_tcache *c, struct dp_tcache_item *it)
{
    if (!it->host_indexed)
        return;
    struct dp_tcache_item **pp =
        &c->host_buckets[it->host_hash & (c->n_buckets - 1)];
    while (*pp != NULL && *pp != it)
        pp = &(*pp)->host_next;
    if (*pp == it)
        *pp = it->host_next;
    it->host_next = NULL;
}

static void
lru_unlink(struct dp_tcache *c, struct dp_tcache_item *it)
{
    if (it->lru_prev != NULL)
        it->lru_prev->lru_next = it->lru_next;
    else
        c->lru_head = it->lru_next;
    if (it->lru_next != NULL)
        it->lru_next->lru_prev = it->lru_prev;
    else
        c->lru_tail = it->lru_prev;
    it->lru_prev = it->lru_next = NULL;
}

static void
lru_push_front(struct dp_tcache *c, struct dp_tcache_item *it)
{
    it->lru_prev = NULL;
    it->lru_next = c->lru_head;
    if (c->lru_head != NULL)
        c->lru_head->lru_prev = it;
    else
        c->lru_tail = it;
    c->lru_head = it;
}

/* Take an item out of the cache and drop the cache's reference. */
static void
cache_remove(struct dp_tcache *c, struct dp_tcache_item *it)
{
    hash_unlink(c, it);
    host_unlink(c, it);
    lru_unlink(c, it);
    it->in_cache = false;
    c->stats.entries--;
    c->stats.bytes -= it->bytes;
    if (it->subtree)
        c->n_base_items--;
    item_unref(it);
}

static int
cache_grow(struct dp_tcache *c)
{
    size_t n = c->n_buckets * 2;
    struct dp_tcache_item **b = calloc(n, sizeof(*b));
    struct dp_tcache_item **hb = calloc(n, sizeof(*hb));
    if (b == NULL || hb == NULL) {
        free(b);
        free(hb);
        return -ENOMEM;
    }
    for (size_t i = 0; i < c->n_buckets; i++) {
        struct dp_tcache_item *it = c->buckets[i];
        while (it != NULL) {
            struct dp_tcache_item *next = it->hnext;
            size_t j = it->hash & (n - 1);
            it->hnext = b[j];
            b[j] = it;
            it = next;
        }
        it = c->host_buckets[i];
        while (it != NULL) {
            struct dp_tcache_item *next = it->host_next;
            size_t j = it->host_hash & (n - 1);
            it->host_next = hb[j];
            hb[j] = it;
            it = next;
        }
    }
    free(c->buckets);
    free(c->host_buckets);
    c->buckets = b;
    c->host_buckets = hb;
    c->n_buckets = n;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Cache object                                                        */

struct dp_tcache *
dp_tcache_new(size_t max_items, size_t max_bytes)
{
    struct dp_tcache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->max_items = max_items;
    c->max_bytes = max_bytes;
    c->n_buckets = 64;
    c->buckets = calloc(c->n_buckets, sizeof(*c->buckets));
    c->host_buckets = calloc(c->n_buckets, sizeof(*c->host_buckets));
    if (c->buckets == NULL || c->host_buckets == NULL) {
        free(c->buckets);
        free(c->host_buckets);
        free(c);
        return NULL;
    }
    return c;
}

void
dp_tcache_flush(struct dp_tcache *cache)
{
    if (cache == NULL)
        return;
    while (cache->lru_head != NULL)
        cache_remove(cache, cache->lru_head);
}

void
dp_tcache_free(struct dp_tcache *cache)
{
    if (cache == NULL)
        return;
    dp_tcache_flush(cache);
    free(cache->buckets);
    free(cache->host_buckets);
    free(cache);
}

void
dp_tcache_activate(struct dp_tcache *cache)
{
    if (cache != NULL)
        cache->active = true;
}

void
dp_tcache_get_stats(const struct dp_tcache *cache,
                    struct dp_tcache_stats *stats)
{
    if (cache == NULL) {
        memset(stats, 0, sizeof(*stats));
        return;
    }
    *stats = cache->stats;
}

/* ------------------------------------------------------------------ */
/* Match input (§1.11) and expansion                                   */

/*
 * The subject REGEX (inverse = false) or INVERSE_REGEX is matched
 * against.  for_expand adds the normalisation and the paranoid check of
 * step 6.  Returns 0 with *out and *out_len set, or -1 with the hit's error.
 */
static int
match_input(const struct dp_tcache_item *it, const struct tp_request *req,
            bool inverse, bool for_expand, struct dp_tcache_hit *hit,
            const char **out, size_t *out_len)
{
    const struct tp_response *r = &it->resp;
    const char *s = req->uri.data != NULL ? (const char *)req->uri.data : "";
    size_t n = req->uri.len;

    if (r->regex_tail && it->base != NULL) {
        if (n < it->base_len)
            return hit_error(hit, 502, "BASE mismatches request URI");
        s += it->base_len;
        n -= it->base_len;
    }
    if (inverse ? r->inverse_regex_unescape : r->regex_unescape) {
        bool bad;
        s = unescape(hit, s, n, &n, &bad);
        if (s == NULL)
            return bad ? hit_error(hit, 400, "Malformed URI")
                       : hit_error(hit, 502, "out of memory");
    }
    if (r->regex_on_host_uri) {
        struct pr_slice h = req->host;
        if (h.len > 0 && memchr(h.data, '/', h.len) != NULL)
            return hit_error(hit, 400, "Malformed Host header");
        if (n > 0 && s[0] == '/') {
            s++;
            n--;
        }
        char *t = hit_alloc(hit, h.len + 1 + n + 1);
        if (t == NULL)
            return hit_error(hit, 502, "out of memory");
        if (h.len > 0)
            memcpy(t, h.data, h.len);
        t[h.len] = '/';
        if (n > 0)
            memcpy(t + h.len + 1, s, n);
        n += h.len + 1;
        t[n] = '\0';
        s = t;
    }
    if (r->regex_on_user_uri) {
        struct pr_slice u = req->user;
        char *t = hit_alloc(hit, u.len + 1 + n + 1);
        if (t == NULL)
            return hit_error(hit, 502, "out of memory");
        if (u.len > 0)
            memcpy(t, u.data, u.len);
        t[u.len] = '@';
        if (n > 0)
            memcpy(t + u.len + 1, s, n);
        n += u.len + 1;
        t[n] = '\0';
        s = t;
    }
    if (for_expand) {
        if (!r->regex_raw) {
            s = normalize(hit, s, n, false, &n);
            if (s == NULL)
                return hit_error(hit, 502, "out of memory");
        }
        if (!r->unsafe_base && !path_is_safe(s, n))
            return hit_error(hit, 400, "Malformed URI");
    }
    *out = s;
    *out_len = n;
    return 0;
}

/* 1 = matches, 0 = does not, -1 = error (message in hit). */
static int
regex_matches(const pcre2_code *code, const char *s, size_t n,
              struct dp_tcache_hit *hit)
{
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (md == NULL)
        return hit_error(hit, 502, "out of memory");
    int rc = pcre2_match(code, (PCRE2_SPTR)s, n, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    if (rc >= 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    char msg[120];
    pcre2_get_error_message(rc, (PCRE2_UCHAR *)msg, sizeof(msg));
    return hit_error(hit, 502, "REGEX match failed: %s", msg);
}

/* The state of one expansion: the subject and its captures. */
struct expander {
    struct dp_tcache_hit *hit;
    const char *subject;
    PCRE2_SIZE *ovector;
    uint32_t n_pairs;                    /* pairs pcre2_match() set */
    uint32_t n_groups;                   /* groups of the pattern + 1 */
    bool raw;                            /* insert captures as they are */
};

/*
 * Expand a template (§1.11): \0..\9 insert the group, "\\" a backslash;
 * anything else after a backslash is an error.  The group is inserted
 * URI-unescaped, except into templates whose result is itself a URI
 * (x->raw: HTTP EXPAND_PATH, EXPAND_LHTTP_URI, EXPAND_URI,
 * EXPAND_REDIRECT): decoding there would let "%252e%252e" become a ".."
 * that the next hop decodes again.  Returns the result in the hit's
 * arena, or NULL with the hit's error.
 */
static char *
expand(struct expander *x, const char *what, const char *tmpl)
{
    struct pr_buf b = PR_BUF_INIT;
    int err = 0;
    for (const char *p = tmpl; *p != '\0' && err == 0; p++) {
        if (*p != '\\') {
            err = pr_buf_append(&b, p, 1);
            continue;
        }
        p++;
        if (*p == '\\') {
            err = pr_buf_append(&b, "\\", 1);
            continue;
        }
        if (*p < '0' || *p > '9') {
            pr_buf_free(&b);
            hit_error(x->hit, 502, "%s: %s in template", what,
                      *p == '\0' ? "trailing backslash"
                                 : "invalid backslash escape");
            return NULL;
        }
        uint32_t g = (uint32_t)(*p - '0');
        if (g >= x->n_groups) {
            pr_buf_free(&b);
            hit_error(x->hit, 502,
                      "%s: template refers to group %u, the REGEX has %u",
                      what, g, x->n_groups - 1);
            return NULL;
        }
        if (g >= x->n_pairs || x->ovector[2 * g] == PCRE2_UNSET)
            continue;
        size_t start = x->ovector[2 * g], end = x->ovector[2 * g + 1];
        if (end <= start)
            continue;
        if (x->raw) {
            err = pr_buf_append(&b, x->subject + start, end - start);
            continue;
        }
        size_t ulen;
        bool bad;
        char *u = unescape(x->hit, x->subject + start, end - start,
                           &ulen, &bad);
        if (u == NULL) {
            pr_buf_free(&b);
            if (bad)
                hit_error(x->hit, 400, "Malformed URI escape in %s capture",
                          what);
            else
                hit_error(x->hit, 502, "out of memory");
            return NULL;
        }
        err = pr_buf_append(&b, u, ulen);
    }
    char *r = err == 0 ? hit_strndup(x->hit, b.data, b.len) : NULL;
    pr_buf_free(&b);
    if (r == NULL)
        hit_error(x->hit, 502, "out of memory");
    return r;
}

/* Expand a field in place: *field = expand(*tmpl); *tmpl = NULL. */
static int
expand_field(struct expander *x, const char *what, const char **field,
             const char **tmpl)
{
    if (*tmpl == NULL)
        return 0;
    const char *v = expand(x, what, *tmpl);
    if (v == NULL)
        return -1;
    *field = v;
    *tmpl = NULL;
    return 0;
}

/* The same for a field whose value is a URI: captures go in raw. */
static int
expand_uri_field(struct expander *x, const char *what, const char **field,
                 const char **tmpl)
{
    x->raw = true;
    int ret = expand_field(x, what, field, tmpl);
    x->raw = false;
    return ret;
}

static bool
list_has_expand(const struct tp_expandable_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].expand != NULL)
            return true;
    return false;
}

static int
expand_list(struct expander *x, const char *what,
            struct tp_expandable_list *l)
{
    if (!list_has_expand(l))
        return 0;
    struct tp_expandable *v = hit_alloc(x->hit, l->n * sizeof(*v));
    if (v == NULL)
        return hit_error(x->hit, 502, "out of memory");
    for (size_t i = 0; i < l->n; i++) {
        v[i] = l->v[i];
        if (v[i].expand != NULL) {
            v[i].value = expand(x, what, v[i].expand);
            if (v[i].value == NULL)
                return -1;
            v[i].expand = NULL;
        }
    }
    l->v = v;
    l->cap = l->n;
    return 0;
}

static bool
headers_have_expand(const struct tp_header_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].expand)
            return true;
    return false;
}

static int
expand_headers(struct expander *x, const char *what, struct tp_header_list *l)
{
    if (!headers_have_expand(l))
        return 0;
    struct tp_header *v = hit_alloc(x->hit, l->n * sizeof(*v));
    if (v == NULL)
        return hit_error(x->hit, 502, "out of memory");
    for (size_t i = 0; i < l->n; i++) {
        v[i] = l->v[i];
        if (v[i].expand) {
            v[i].value = expand(x, what, v[i].value);
            if (v[i].value == NULL)
                return -1;
            v[i].expand = false;
        }
    }
    l->v = v;
    l->cap = l->n;
    return 0;
}

static bool
address_has_expand(const struct tp_address *a)
{
    return a->expand_path != NULL || a->expand_path_info != NULL ||
           a->expand_script_name != NULL ||
           a->expand_document_root != NULL || a->expand_lhttp_uri != NULL ||
           a->child.expand_stderr_path != NULL || list_has_expand(&a->args) ||
           list_has_expand(&a->params) || list_has_expand(&a->child.env);
}

static int
expand_address(struct expander *x, struct tp_address *a)
{
    if ((a->type == TP_ADDRESS_HTTP
             ? expand_uri_field(x, "EXPAND_PATH", &a->path, &a->expand_path)
             : expand_field(x, "EXPAND_PATH", &a->path, &a->expand_path)) <
            0 ||
        expand_field(x, "EXPAND_PATH_INFO", &a->path_info,
                     &a->expand_path_info) < 0 ||
        expand_field(x, "EXPAND_SCRIPT_NAME", &a->script_name,
                     &a->expand_script_name) < 0 ||
        expand_field(x, "EXPAND_DOCUMENT_ROOT", &a->document_root,
                     &a->expand_document_root) < 0 ||
        expand_uri_field(x, "EXPAND_LHTTP_URI", &a->lhttp_uri,
                     &a->expand_lhttp_uri) < 0 ||
        expand_field(x, "EXPAND_STDERR_PATH", &a->child.stderr_path,
                     &a->child.expand_stderr_path) < 0 ||
        expand_list(x, "EXPAND_APPEND", &a->args) < 0 ||
        expand_list(x, "EXPAND_PAIR", &a->params) < 0 ||
        expand_list(x, "EXPAND_SETENV", &a->child.env) < 0)
        return -1;
    return 0;
}

/* Does the response contain any EXPAND_* template? */
static bool
response_has_expand(const struct tp_response *r)
{
    if (address_has_expand(&r->address))
        return true;
    for (size_t i = 0; i < r->n_filters; i++)
        if (address_has_expand(&r->filters[i]->address))
            return true;
    return r->expand_redirect != NULL || r->expand_site != NULL ||
           r->expand_uri != NULL || r->expand_test_path != NULL ||
           r->expand_read_file != NULL || r->expand_cookie_host != NULL ||
           r->expand_auth_file != NULL || r->expand_append_auth != NULL ||
           r->expand_document_root != NULL ||
           headers_have_expand(&r->response_headers) ||
           headers_have_expand(&r->request_headers);
}

/* Match REGEX against the request and expand every template of r. */
static int
expand_response(const struct dp_tcache_item *it, const struct tp_request *req,
                struct tp_response *r, struct dp_tcache_hit *hit)
{
    const char *s;
    size_t n;
    if (match_input(it, req, false, true, hit, &s, &n) < 0)
        return -1;

    uint32_t captures = 0;
    pcre2_pattern_info(it->regex, PCRE2_INFO_CAPTURECOUNT, &captures);
    pcre2_match_data *md = pcre2_match_data_create(captures + 1, NULL);
    if (md == NULL)
        return hit_error(hit, 502, "out of memory");
    int rc = pcre2_match(it->regex, (PCRE2_SPTR)s, n, 0, 0, md, NULL);
    if (rc < 0) {
        pcre2_match_data_free(md);
        if (rc == PCRE2_ERROR_NOMATCH)
            return hit_error(hit, 400, "REGEX does not match the "
                                       "normalized URI");
        return hit_error(hit, 502, "REGEX match failed (%d)", rc);
    }
    struct expander x = {
        .hit = hit,
        .subject = s,
        .ovector = pcre2_get_ovector_pointer(md),
        .n_pairs = rc == 0 ? captures + 1 : (uint32_t)rc,
        .n_groups = captures + 1,
    };

    int ret = -1;
    if (expand_address(&x, &r->address) < 0)
        goto out;
    if (r->n_filters > 0) {
        bool any = false;
        for (size_t i = 0; i < r->n_filters; i++)
            any = any || address_has_expand(&r->filters[i]->address);
        if (any) {
            struct tp_filter **f =
                hit_alloc(hit, r->n_filters * sizeof(*f));
            if (f == NULL) {
                hit_error(hit, 502, "out of memory");
                goto out;
            }
            for (size_t i = 0; i < r->n_filters; i++) {
                f[i] = r->filters[i];
                if (!address_has_expand(&f[i]->address))
                    continue;
                struct tp_filter *copy =
                    hit_alloc(hit, sizeof(*copy));
                if (copy == NULL) {
                    hit_error(hit, 502, "out of memory");
                    goto out;
                }
                *copy = *f[i];
                if (expand_address(&x, &copy->address) < 0)
                    goto out;
                f[i] = copy;
            }
            r->filters = f;
            r->filters_cap = r->n_filters;
        }
    }
    if (expand_uri_field(&x, "EXPAND_REDIRECT", &r->redirect,
                     &r->expand_redirect) < 0 ||
        expand_field(&x, "EXPAND_SITE", &r->site, &r->expand_site) < 0 ||
        expand_uri_field(&x, "EXPAND_URI", &r->uri, &r->expand_uri) < 0 ||
        expand_field(&x, "EXPAND_TEST_PATH", &r->test_path,
                     &r->expand_test_path) < 0 ||
        expand_field(&x, "EXPAND_READ_FILE", &r->read_file,
                     &r->expand_read_file) < 0 ||
        expand_field(&x, "EXPAND_COOKIE_HOST", &r->cookie_host,
                     &r->expand_cookie_host) < 0 ||
        expand_field(&x, "EXPAND_AUTH_FILE", &r->auth_file,
                     &r->expand_auth_file) < 0 ||
        expand_field(&x, "EXPAND_DOCUMENT_ROOT", &r->document_root,
                     &r->expand_document_root) < 0 ||
        expand_headers(&x, "EXPAND_HEADER", &r->response_headers) < 0 ||
        expand_headers(&x, "EXPAND_REQUEST_HEADER", &r->request_headers) < 0)
        goto out;
    if (r->expand_append_auth != NULL) {
        const char *v = expand(&x, "EXPAND_APPEND_AUTH",
                               r->expand_append_auth);
        if (v == NULL)
            goto out;
        r->append_auth = (struct pr_slice){ (const uint8_t *)v, strlen(v) };
        r->expand_append_auth = NULL;
    }
    ret = 0;
out:
    pcre2_match_data_free(md);
    return ret;
}

/* ------------------------------------------------------------------ */
/* BASE tails (§1.11)                                                  */

/* The tail of a request below BASE, checked: raw (still %-encoded) and
 * unescaped (lazily). */
struct tail {
    const char *raw;
    size_t raw_len;
    const char *plain;                   /* unescaped, NULL until needed */
    size_t plain_len;
};

/*
 * Compute the tail of the request URI below the item's BASE: leading
 * slashes stripped and normalised, then the paranoid check, unless
 * UNSAFE_BASE.  Both forms are computed.  0 or -1 (400/502 in the hit).
 */
static int
make_tail(const struct dp_tcache_item *it, const struct tp_request *req,
          struct dp_tcache_hit *hit, struct tail *t)
{
    if (!slice_set(req->uri) || req->uri.len < it->base_len ||
        memcmp(req->uri.data, it->base, it->base_len) != 0)
        return hit_error(hit, 502, "BASE mismatches request URI");
    const char *s = (const char *)req->uri.data + it->base_len;
    size_t n = req->uri.len - it->base_len;
    if (!it->resp.unsafe_base) {
        s = normalize(hit, s, n, true, &n);
        if (s == NULL)
            return hit_error(hit, 502, "out of memory");
        if (!path_is_safe(s, n))
            return hit_error(hit, 400, "Malformed URI");
    }
    t->raw = s;
    t->raw_len = n;
    if (!it->resp.unsafe_base && memchr(s, '%', n) == NULL) {
        /* normalised and checked (no NUL): already plain, terminated */
        t->plain = s;
        t->plain_len = n;
        return 0;
    }
    bool bad;
    t->plain = unescape(hit, s, n, &t->plain_len, &bad);
    if (t->plain == NULL)
        return bad ? hit_error(hit, 400, "Malformed URI")
                   : hit_error(hit, 502, "out of memory");
    return 0;
}

/* base + tail into the hit's scratch. */
static const char *
join(struct dp_tcache_hit *hit, const char *base, const char *tail,
     size_t tail_len)
{
    const char *b = base != NULL ? base : "";
    const char *r = hit_concat(hit, b, strlen(b), tail, tail_len);
    if (r == NULL)
        hit_error(hit, 502, "out of memory");
    return r;
}

/*
 * Which address field carries the tail, and whether it gets the raw
 * (URI) or the unescaped (file system) form.
 */
static const char **
address_tail_field(struct tp_address *a, bool *raw)
{
    switch (a->type) {
    case TP_ADDRESS_LOCAL:
    case TP_ADDRESS_NFS:
        *raw = false;
        return &a->path;
    case TP_ADDRESS_CGI:
    case TP_ADDRESS_FASTCGI:
    case TP_ADDRESS_WAS:
        *raw = false;
        return &a->path_info;
    case TP_ADDRESS_HTTP:
        *raw = true;
        return &a->path;
    case TP_ADDRESS_LHTTP:
        *raw = true;
        return &a->lhttp_uri;
    default:
        return NULL;
    }
}

/* Append the tail to every base field of r (the hit's copy). */
static int
load_base(const struct dp_tcache_item *it, struct tp_response *r,
          const struct tail *t, struct dp_tcache_hit *hit)
{
    if (it->addr_base_set) {
        bool raw = false;
        const char **f = address_tail_field(&r->address, &raw);
        if (f != NULL) {
            /* no PATH_INFO: the tail becomes it (SCRIPT_NAME ends with
             * '/' then, as EASY_BASE demands) */
            const char *b = it->addr_base;
            *f = raw ? join(hit, b, t->raw, t->raw_len)
                     : join(hit, b, t->plain, t->plain_len);
            if (*f == NULL)
                return -1;
        }
    }
    if (r->expand_uri == NULL) {
        r->uri = it->uri_base == NULL ? NULL
                                      : join(hit, it->uri_base, t->raw,
                                             t->raw_len);
        if (it->uri_base != NULL && r->uri == NULL)
            return -1;
    }
    if (r->expand_redirect == NULL) {
        r->redirect = it->redirect_base == NULL
                          ? NULL
                          : join(hit, it->redirect_base, t->raw, t->raw_len);
        if (it->redirect_base != NULL && r->redirect == NULL)
            return -1;
    }
    if (r->expand_test_path == NULL) {
        r->test_path = it->test_path_base == NULL
                           ? NULL
                           : join(hit, it->test_path_base, t->plain,
                                  t->plain_len);
        if (it->test_path_base != NULL && r->test_path == NULL)
            return -1;
    }
    return 0;
}

/*
 * Cut `tail` off the end of `s` (the classic BASE store).  Returns the
 * base in the arena; NULL when s does not end with the tail at a '/'
 * boundary (*mismatch) or out of memory.  s equal to the tail leaves the
 * empty base.
 */
static const char *
strip_tail(struct pr_arena *a, const char *s, const char *tail,
           size_t tail_len, bool *mismatch)
{
    *mismatch = false;
    if (tail_len == 0)
        return s;
    size_t n = strlen(s);
    if (n < tail_len || memcmp(s + n - tail_len, tail, tail_len) != 0 ||
        (n > tail_len && s[n - tail_len - 1] != '/')) {
        *mismatch = true;
        return NULL;
    }
    return pr_arena_strndup(a, s, n - tail_len);
}

/*
 * Prepare the base fields of a fresh BASE item for the request that
 * produced it.  Classic BASE: the fields describe the request URI; cut
 * the tail off (the address must end with it: "Base mismatch"; URI,
 * REDIRECT and TEST_PATH are dropped when they do not).  When the request
 * was for the BASE itself (empty tail), a field that does not end with
 * '/' cannot take a tail later (a file "/srv/index.html" would become
 * "/srv/index.htmlx"): such an item only serves its exact key.  EASY_BASE:
 * the fields are the bases already.
 */
static int
prepare_base(struct dp_tcache_item *it, const struct tail *t,
             struct dp_tcache_hit *hit)
{
    struct tp_response *r = &it->resp;
    struct tp_address *a = &r->address;
    bool raw = false;
    const char **f = address_tail_field(a, &raw);

    if (it->easy) {
        if (f != NULL) {
            it->addr_base = *f;
            it->addr_base_set = true;
        }
        it->uri_base = r->uri;
        it->redirect_base = r->redirect;
        it->test_path_base = r->test_path;
        return 0;
    }

    if (t->raw_len == 0) {
        const char *fields[4] = { f != NULL ? *f : NULL, r->uri, r->redirect,
                                  r->test_path };
        for (size_t i = 0; i < 4; i++) {
            size_t n = fields[i] != NULL ? strlen(fields[i]) : 0;
            if (fields[i] != NULL && (n == 0 || fields[i][n - 1] != '/'))
                it->subtree = false;
        }
    }

    if (f != NULL) {
        bool mismatch;
        if (*f == NULL) {
            if (t->raw_len > 0)
                return hit_error(hit, 502, "Base mismatch: the address has "
                                           "no path to take the URI tail");
            it->addr_base = NULL;
        } else {
            it->addr_base = raw ? strip_tail(&it->arena, *f, t->raw,
                                             t->raw_len, &mismatch)
                                : strip_tail(&it->arena, *f, t->plain,
                                             t->plain_len, &mismatch);
            if (it->addr_base == NULL)
                return mismatch
                           ? hit_error(hit, 502, "Base mismatch: \"%s\" does "
                                                 "not end with the URI tail",
                                       *f)
                           : hit_error(hit, 502, "out of memory");
        }
        it->addr_base_set = true;
    }

    bool mismatch = false;
    if (r->uri != NULL) {
        it->uri_base = strip_tail(&it->arena, r->uri, t->raw, t->raw_len,
                                  &mismatch);
        if (it->uri_base == NULL && mismatch &&
            slice_set(r->internal_redirect))
            return hit_error(hit, 502, "Base mismatch: URI of the "
                                       "INTERNAL_REDIRECT does not end with "
                                       "the URI tail");
        if (it->uri_base == NULL && !mismatch)
            return hit_error(hit, 502, "out of memory");
    }
    if (r->redirect != NULL) {
        it->redirect_base = strip_tail(&it->arena, r->redirect, t->raw,
                                       t->raw_len, &mismatch);
        if (it->redirect_base == NULL && !mismatch)
            return hit_error(hit, 502, "out of memory");
    }
    if (r->test_path != NULL) {
        it->test_path_base = strip_tail(&it->arena, r->test_path, t->plain,
                                        t->plain_len, &mismatch);
        if (it->test_path_base == NULL && !mismatch)
            return hit_error(hit, 502, "out of memory");
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* The effective response                                              */

/* APPEND_PATH (PATH only): appended after BASE/EXPAND_PATH handling. */
static int
apply_append_path(struct tp_response *r, struct dp_tcache_hit *hit)
{
    struct tp_address *a = &r->address;
    if (a->append_path == NULL || a->path == NULL)
        return 0;
    a->path = join(hit, a->path, a->append_path, strlen(a->append_path));
    if (a->path == NULL)
        return -1;
    a->append_path = NULL;
    return 0;
}

/*
 * Fill hit->response for `req` from the item.  `fresh`: the item's
 * response just came from the server for this very request (a classic
 * BASE response already describes it).
 */
static enum dp_tcache_status
make_effective(struct dp_tcache_item *it, const struct tp_request *req,
               bool fresh, struct dp_tcache_hit *hit)
{
    hit->item = it;
    it->refs++;
    struct tp_response *r = &hit->response;
    *r = it->resp;
    r->arena = (struct pr_arena)PR_ARENA_INIT;
    r->max_age = TP_MAX_AGE_UNSET;
    r->cache_tags = (struct tp_string_list){ NULL, 0, 0 };
    r->invalidate = (struct tp_u16_list){ NULL, 0 };

    if (it->base != NULL && !it->expandable && (!fresh || it->easy)) {
        struct tail t;
        if (make_tail(it, req, hit, &t) < 0 || load_base(it, r, &t, hit) < 0)
            goto fail;
    }
    if (it->expandable && expand_response(it, req, r, hit) < 0)
        goto fail;
    if (apply_append_path(r, hit) < 0)
        goto fail;
    return DP_TCACHE_HIT;

fail:
    /* an error holds nothing but its message */
    memset(r, 0, sizeof(*r));
    scratch_free(hit);
    hit->item = NULL;
    item_unref(it);
    return DP_TCACHE_ERROR;
}

void
dp_tcache_hit_init(struct dp_tcache_hit *hit)
{
    /* not the 1.9 KB response: lookup and store fill it */
    hit->stored = false;
    hit->error_status = 0;
    hit->error[0] = '\0';
    hit->item = NULL;
    hit->scratch = NULL;
}

void
dp_tcache_hit_release(struct dp_tcache_hit *hit)
{
    if (hit->item != NULL)
        item_unref(hit->item);
    scratch_free(hit);
    dp_tcache_hit_init(hit);
}

/* ------------------------------------------------------------------ */
/* Lookup                                                              */

/* The file named by VALIDATE_MTIME still has the recorded mtime? */
static bool
mtime_valid(const struct tp_response *r)
{
    if (r->validate_mtime_path == NULL)
        return true;
    struct stat st;
    if (lstat(r->validate_mtime_path, &st) < 0)
        return r->validate_mtime == 0 && (errno == ENOENT || errno == ENOTDIR);
    if (r->validate_mtime == 0)
        return false;
    return S_ISREG(st.st_mode) && (uint64_t)st.st_mtime == r->validate_mtime;
}

/*
 * Is the item usable for the request?  1 = yes, 0 = no (an expired or
 * stale item is removed), -1 = error in the hit.
 */
static int
accept_item(struct dp_tcache *c, struct dp_tcache_item *it,
            const struct tp_request *req, uint64_t now_ms,
            struct dp_tcache_hit *hit)
{
    if (now_ms >= it->expires_ms || !mtime_valid(&it->resp)) {
        c->stats.expirations++;
        cache_remove(c, it);
        return 0;
    }
    if (!vary_match(it, req))
        return 0;
    const char *s;
    size_t n;
    if (it->inverse_regex != NULL) {
        if (match_input(it, req, true, false, hit, &s, &n) < 0)
            return -1;
        int m = regex_matches(it->inverse_regex, s, n, hit);
        if (m != 0)
            return m < 0 ? -1 : 0;
    }
    if (it->regex != NULL) {
        if (match_input(it, req, false, false, hit, &s, &n) < 0)
            return -1;
        int m = regex_matches(it->regex, s, n, hit);
        if (m <= 0)
            return m;
    }
    return 1;
}

/* Search one key's chain.  1 = found (*found), 0 = none, -1 = error. */
static int
probe(struct dp_tcache *c, uint64_t h, const char *prefix, size_t plen,
      const char *rest, size_t rlen, bool base_only,
      const struct tp_request *req, uint64_t now_ms,
      struct dp_tcache_hit *hit, struct dp_tcache_item **found)
{
    struct dp_tcache_item *it = c->buckets[h & (c->n_buckets - 1)];
    while (it != NULL) {
        struct dp_tcache_item *next = it->hnext;
        if (it->hash == h && it->key_len == plen + rlen &&
            (!base_only || it->subtree) &&
            memcmp(it->key, prefix, plen) == 0 &&
            (rlen == 0 || memcmp(it->key + plen, rest, rlen) == 0)) {
            int a = accept_item(c, it, req, now_ms, hit);
            if (a < 0)
                return -1;
            if (a > 0) {
                *found = it;
                return 1;
            }
        }
        it = next;
    }
    return 0;
}

enum dp_tcache_status
dp_tcache_lookup(struct dp_tcache *cache, const struct tp_request *req,
                 uint64_t now_ms, struct dp_tcache_hit *hit)
{
    /* The response is zeroed only when nothing is found: on a hit
     * make_effective() copies it whole. */
    dp_tcache_hit_init(hit);
    if (cache == NULL || !cache->active || cache->max_items == 0 ||
        !dp_tcache_request_cacheable(req)) {
        if (cache != NULL)
            cache->stats.skipped++;
        memset(&hit->response, 0, sizeof(hit->response));
        return DP_TCACHE_MISS;
    }

    struct keybuf k;
    kb_init(&k);
    enum key_kind kind = build_key(&k, req);
    if (k.failed || kind == KEY_NONE) {
        kb_free(&k);
        cache->stats.skipped++;
        memset(&hit->response, 0, sizeof(hit->response));
        return DP_TCACHE_MISS;
    }

    const char *uri = kind == KEY_URI ? (const char *)req->uri.data : "";
    size_t ulen = kind == KEY_URI ? req->uri.len : 0;
    uint64_t hp = fnv_step(FNV_INIT, k.p, k.len);
    struct dp_tcache_item *found = NULL;
    int r = probe(cache, fnv_step(hp, uri, ulen), k.p, k.len, uri, ulen,
                  false, req, now_ms, hit, &found);

    /* BASE items: the URI's prefixes ending in '/', longest first.  The
     * hash of each prefix comes from one pass over the URI. */
    if (r == 0 && kind == KEY_URI && cache->n_base_items > 0 && ulen > 0) {
        uint64_t small[64];
        uint64_t *hs = small;
        size_t *pos = NULL, small_pos[64], n = 0, cap = 64;
        pos = small_pos;
        uint64_t h = hp;
        for (size_t i = 0; i + 1 < ulen; i++) {
            h = fnv_step(h, uri + i, 1);
            if (uri[i] != '/')
                continue;
            if (n == cap) {
                size_t ncap = cap * 2;
                uint64_t *nh = malloc(ncap * sizeof(*nh));
                size_t *np = malloc(ncap * sizeof(*np));
                if (nh == NULL || np == NULL) {
                    free(nh);
                    free(np);
                    break;
                }
                memcpy(nh, hs, n * sizeof(*nh));
                memcpy(np, pos, n * sizeof(*np));
                if (hs != small) {
                    free(hs);
                    free(pos);
                }
                hs = nh;
                pos = np;
                cap = ncap;
            }
            hs[n] = h;
            pos[n] = i + 1;
            n++;
        }
        while (n > 0 && r == 0) {
            n--;
            r = probe(cache, hs[n], k.p, k.len, uri, pos[n], true, req,
                      now_ms, hit, &found);
        }
        if (hs != small) {
            free(hs);
            free(pos);
        }
    }
    kb_free(&k);

    /* a miss or an error holds nothing (the match inputs were scratch) */
    if (r <= 0) {
        scratch_free(hit);
        memset(&hit->response, 0, sizeof(hit->response));
    }
    if (r < 0)
        return DP_TCACHE_ERROR;
    if (r == 0) {
        cache->stats.misses++;
        return DP_TCACHE_MISS;
    }
    cache->stats.hits++;
    lru_unlink(cache, found);
    lru_push_front(cache, found);
    /* the match inputs are not needed any more */
    scratch_free(hit);
    return make_effective(found, req, false, hit);
}

/* ------------------------------------------------------------------ */
/* Store                                                               */

/* May the response be stored at all (§1.15)? */
static bool
response_storable(const struct tp_response *r)
{
    return r->max_age != 0 && r->www_authenticate == NULL &&
           r->authentication_info == NULL;
}

static int
compile(struct dp_tcache_item *it, const char *what, const char *pattern,
        bool captures, pcre2_code **out, struct dp_tcache_hit *hit)
{
    uint32_t opts = PCRE2_DOTALL;
    if (it->resp.version >= 3)
        opts |= PCRE2_ANCHORED;
    if (!captures)
        opts |= PCRE2_NO_AUTO_CAPTURE;
    int errcode;
    PCRE2_SIZE erroff;
    *out = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts,
                         &errcode, &erroff, NULL);
    if (*out == NULL) {
        char msg[120];
        pcre2_get_error_message(errcode, (PCRE2_UCHAR *)msg, sizeof(msg));
        return hit_error(hit, 502, "%s does not compile at offset %zu: %s",
                         what, (size_t)erroff, msg);
    }
    return 0;
}

static size_t
code_size(const pcre2_code *code)
{
    size_t n = 0;
    if (code != NULL)
        pcre2_pattern_info(code, PCRE2_INFO_SIZE, &n);
    return n;
}

/* AUTO_BASE: BASE = request URI minus PATH_INFO, up to a '/'.  NULL when
 * the URI does not end with the PATH_INFO. */
static const char *
auto_base(struct dp_tcache_item *it, const struct tp_request *req)
{
    const char *pi = it->resp.address.path_info;
    if (pi == NULL || !slice_set(req->uri))
        return NULL;
    size_t pl = strlen(pi), ul = req->uri.len;
    const char *u = (const char *)req->uri.data;
    if (pl == 0 || pl > ul || memcmp(u + ul - pl, pi, pl) != 0)
        return NULL;
    size_t bl = ul - pl;
    if (pi[0] == '/')
        bl++;                           /* the base ends with that slash */
    if (bl == 0 || u[bl - 1] != '/')
        return NULL;
    return pr_arena_strndup(&it->arena, u, bl);
}

/*
 * Remove every item `pred` accepts.  With `host` (a strict HOST value the
 * predicate requires) only the items of the host index are visited; all
 * others cannot match.  Returns how many were removed.
 */
static size_t
remove_matching(struct dp_tcache *c, const struct pr_slice *host,
                bool (*pred)(const struct dp_tcache_item *it,
                             const void *ctx),
                const void *ctx)
{
    size_t removed = 0;
    struct dp_tcache_item *it;
    uint64_t hh = 0;
    if (host != NULL) {
        hh = fnv_step(FNV_INIT, host->data, host->len);
        it = c->host_buckets[hh & (c->n_buckets - 1)];
    } else {
        it = c->lru_head;
    }
    while (it != NULL) {
        struct dp_tcache_item *next = host != NULL ? it->host_next
                                                   : it->lru_next;
        if ((host == NULL || it->host_hash == hh) && pred(it, ctx)) {
            c->stats.invalidations++;
            cache_remove(c, it);
            removed++;
        }
        it = next;
    }
    return removed;
}

struct response_invalidate {
    const struct tp_request *req;
    const struct tp_u16_list *inv;
};

static bool
response_invalidate_pred(const struct dp_tcache_item *it, const void *ctx)
{
    const struct response_invalidate *x = ctx;
    for (size_t i = 0; i < x->inv->n; i++) {
        uint16_t cmd = x->inv->v[i];
        if (!strict_match(it, cmd, request_value(x->req, cmd)))
            return false;
    }
    return true;
}

/* Remove every item for which all INVALIDATE commands match the request
 * strictly (§1.15). */
static void
apply_invalidate(struct dp_tcache *c, const struct tp_request *req,
                 const struct tp_u16_list *inv)
{
    const struct pr_slice *host = NULL;
    for (size_t i = 0; i < inv->n; i++)
        if (inv->v[i] == TP_CMD_HOST)
            host = &req->host;
    if (host != NULL && !slice_set(*host))
        return;                         /* nothing can match strictly */
    struct response_invalidate x = { req, inv };
    remove_matching(c, host, response_invalidate_pred, &x);
}

/* Put the item into the cache: replace items of the same key that match
 * the same request, then evict down to the limits. */
static void
cache_insert(struct dp_tcache *c, struct dp_tcache_item *it,
             const struct tp_request *req)
{
    struct dp_tcache_item *o = c->buckets[it->hash & (c->n_buckets - 1)];
    while (o != NULL) {
        struct dp_tcache_item *next = o->hnext;
        if (o->hash == it->hash && o->key_len == it->key_len &&
            memcmp(o->key, it->key, it->key_len) == 0 && vary_match(o, req)) {
            c->stats.invalidations++;
            cache_remove(c, o);
        }
        o = next;
    }
    if (c->stats.entries >= c->n_buckets)
        (void)cache_grow(c);    /* longer chains are fine if this fails */
    size_t b = it->hash & (c->n_buckets - 1);
    it->hnext = c->buckets[b];
    c->buckets[b] = it;
    for (size_t i = 0; i < it->n_vary; i++) {
        const struct vary_value *v = &it->vary[i];
        if (v->command == TP_CMD_HOST && v->present) {
            it->host_hash = fnv_step(FNV_INIT, v->value.data, v->value.len);
            it->host_indexed = true;
            size_t hb = it->host_hash & (c->n_buckets - 1);
            it->host_next = c->host_buckets[hb];
            c->host_buckets[hb] = it;
        }
    }
    lru_push_front(c, it);
    it->in_cache = true;
    it->refs++;
    c->stats.entries++;
    c->stats.bytes += it->bytes;
    c->stats.stores++;
    if (it->subtree)
        c->n_base_items++;
    while (c->stats.entries > c->max_items ||
           (c->max_bytes != 0 && c->stats.bytes > c->max_bytes)) {
        c->stats.evictions++;
        cache_remove(c, c->lru_tail);
    }
}

enum dp_tcache_status
dp_tcache_store(struct dp_tcache *cache, const struct tp_request *req,
                struct tp_response *resp, uint64_t now_ms,
                struct dp_tcache_hit *hit)
{
    memset(hit, 0, sizeof(*hit));
    struct dp_tcache_item *it = calloc(1, sizeof(*it));
    if (it == NULL) {
        tp_response_free(resp);
        hit_error(hit, 502, "out of memory");
        return DP_TCACHE_ERROR;
    }
    it->refs = 1;                       /* ours, until the end */
    it->resp = *resp;
    memset(resp, 0, sizeof(*resp));
    struct tp_response *r = &it->resp;
    enum dp_tcache_status st = DP_TCACHE_ERROR;

    /* BASE: the request URI must start with it */
    if (r->base != NULL) {
        it->base = r->base;
    } else if (r->auto_base) {
        it->base = auto_base(it, req);
    }
    if (it->base != NULL) {
        it->base_len = strlen(it->base);
        if (!slice_set(req->uri) || req->uri.len < it->base_len ||
            memcmp(req->uri.data, it->base, it->base_len) != 0) {
            hit_error(hit, 502, "BASE mismatches request URI");
            goto out;
        }
        it->easy = r->easy_base;
        it->subtree = true;
    }

    it->expandable = r->regex != NULL && response_has_expand(r);
    if ((r->regex != NULL &&
         compile(it, "REGEX", r->regex, it->expandable, &it->regex, hit) <
             0) ||
        (r->inverse_regex != NULL &&
         compile(it, "INVERSE_REGEX", r->inverse_regex, false,
                 &it->inverse_regex, hit) < 0))
        goto out;

    /* An expandable response keeps its templates: the expansion of each
     * request does what the BASE tail does for the others. */
    if (it->base != NULL && !it->expandable) {
        struct tail t;
        if (make_tail(it, req, hit, &t) < 0 || prepare_base(it, &t, hit) < 0)
            goto out;
        /* the tails live in the hit's scratch; nothing keeps them */
    }

    /* §1.15: a cache starts working with the first response of its
     * server; that response itself is neither looked up nor stored. */
    bool was_active = cache != NULL && cache->active;
    if (cache != NULL)
        cache->active = true;
    bool cacheable = was_active && cache->max_items > 0 &&
                     dp_tcache_request_cacheable(req);
    if (cacheable && r->invalidate.n > 0)
        apply_invalidate(cache, req, &r->invalidate);

    /* The response for this request first: one that cannot be used for
     * it (a bad template, a malformed URI) is not stored either. */
    scratch_free(hit);         /* the tails above were scratch */
    st = make_effective(it, req, true, hit);

    if (st == DP_TCACHE_HIT && cacheable && response_storable(r)) {
        struct keybuf k;
        kb_init(&k);
        enum key_kind kind = build_key(&k, req);
        size_t plen = k.len;
        if (kind == KEY_URI) {
            if (it->base != NULL)
                kb_add(&k, it->base, it->base_len);
            else
                kb_add(&k, req->uri.data, req->uri.len);
        }
        char *key = kind != KEY_NONE && !k.failed
                        ? pr_arena_strndup(&it->arena, k.p, k.len)
                        : NULL;
        it->key = key;
        it->key_len = k.len;
        it->uri_key = kind == KEY_URI;
        it->uri_off = kind == KEY_URI ? plen : k.len;
        it->hash = fnv_step(FNV_INIT, k.p, k.len);
        kb_free(&k);

        bool ok = key != NULL;
        for (size_t i = 0; ok && i < r->vary.n; i++) {
            uint16_t cmd = r->vary.v[i];
            bool dup = false;
            for (size_t j = 0; j < it->n_vary; j++)
                dup = dup || it->vary[j].command == cmd;
            if (dup || !vary_supported(cmd) || it->n_vary >= TP_MAX_VARY)
                continue;
            struct vary_value *v = &it->vary[it->n_vary++];
            v->command = cmd;
            if (cmd == TP_CMD_URI)
                continue;
            struct pr_slice val = request_value(req, cmd);
            v->present = slice_set(val);
            if (v->present) {
                char *copy = pr_arena_strndup(&it->arena, val.data, val.len);
                ok = copy != NULL;
                v->value = (struct pr_slice){ (const uint8_t *)copy, val.len };
            }
        }

        uint64_t life = r->max_age == TP_MAX_AGE_UNSET
                            ? DP_TCACHE_MAX_LIFETIME_MS
                            : (uint64_t)r->max_age * 1000u;
        if (life > DP_TCACHE_MAX_LIFETIME_MS)
            life = DP_TCACHE_MAX_LIFETIME_MS;
        it->expires_ms = now_ms + life;
        it->bytes = sizeof(*it) + r->arena.total + it->arena.total +
                    code_size(it->regex) + code_size(it->inverse_regex);
        if (ok && (cache->max_bytes == 0 || it->bytes <= cache->max_bytes)) {
            cache_insert(cache, it, req);
            hit->stored = true;
        }
    }

out:
    item_unref(it);
    return st;
}

/* ------------------------------------------------------------------ */
/* Invalidation and expiry                                             */

static bool
item_has_tag(const struct dp_tcache_item *it, struct pr_slice tag)
{
    for (size_t i = 0; i < it->resp.cache_tags.n; i++) {
        const char *t = it->resp.cache_tags.v[i];
        if (strlen(t) == tag.len && memcmp(t, tag.data, tag.len) == 0)
            return true;
    }
    return false;
}

static bool
control_invalidate_pred(const struct dp_tcache_item *it, const void *ctx)
{
    const struct ctl_tcache_invalidate *inv = ctx;
    if (inv->has_site) {
        const char *s = it->resp.site;
        if (s == NULL || strlen(s) != inv->site.len ||
            memcmp(s, inv->site.data, inv->site.len) != 0)
            return false;
    }
    if (inv->has_cache_tag && !item_has_tag(it, inv->cache_tag))
        return false;
    for (size_t i = 0; i < inv->n_values; i++)
        if (!strict_match(it, inv->values[i].command, inv->values[i].value))
            return false;
    return true;
}

size_t
dp_tcache_invalidate(struct dp_tcache *cache,
                     const struct ctl_tcache_invalidate *inv)
{
    if (cache == NULL)
        return 0;
    if (inv->flush_all) {
        size_t n = cache->stats.entries;
        dp_tcache_flush(cache);
        return n;
    }
    if (inv->n_values == 0 && !inv->has_site && !inv->has_cache_tag)
        return 0;
    const struct pr_slice *host = NULL;
    for (size_t i = 0; i < inv->n_values; i++)
        if (inv->values[i].command == TP_CMD_HOST)
            host = &inv->values[i].value;
    return remove_matching(cache, host, control_invalidate_pred, inv);
}

/* djb hash (xor variant) of a string. */
static uint64_t
djb_hash(const char *s)
{
    uint64_t h = 5381;
    for (; *s != '\0'; s++)
        h = (h * 33) ^ (uint8_t)*s;
    return h;
}

size_t
dp_tcache_expire_tag(struct dp_tcache *cache, struct pr_slice tag,
                     uint64_t now_ms,
                     void (*on_item)(const struct tp_response *resp,
                                     uint64_t expires_ms, void *ctx),
                     void *ctx)
{
    if (cache == NULL || tag.len == 0)
        return 0;
    size_t n = 0;
    for (struct dp_tcache_item *it = cache->lru_head; it != NULL;
         it = it->lru_next) {
        if (!item_has_tag(it, tag))
            continue;
        uint64_t delay_ms = 0;
        if (it->resp.site != NULL)
            delay_ms = (djb_hash(it->resp.site) & ((1ull << 39) - 1)) /
                       1000000u;
        if (now_ms + delay_ms < it->expires_ms)
            it->expires_ms = now_ms + delay_ms;
        if (on_item != NULL)
            on_item(&it->resp, it->expires_ms, ctx);
        n++;
    }
    return n;
}

size_t
dp_tcache_expire(struct dp_tcache *cache, uint64_t now_ms)
{
    if (cache == NULL)
        return 0;
    size_t n = 0;
    struct dp_tcache_item *it = cache->lru_head;
    while (it != NULL) {
        struct dp_tcache_item *next = it->lru_next;
        if (now_ms >= it->expires_ms) {
            cache->stats.expirations++;
            cache_remove(cache, it);
            n++;
        }
        it = next;
    }
    return n;
}
