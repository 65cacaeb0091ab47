/*
 * dp_session: session ids, the session cookie and the session store.
 */
#include "dp_session.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* ---- ids ---- */

uint32_t
dp_session_id_cluster_hash(const struct dp_session_id *id)
{
    const uint8_t *p = id->b + DP_SESSION_ID_SIZE - 4;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

void
dp_session_id_set_node(struct dp_session_id *id, unsigned size,
                       unsigned node)
{
    if (size <= 1 || node >= size)
        return;
    uint32_t h = dp_session_id_cluster_hash(id);
    uint64_t v = (uint64_t)h - h % size + node;
    if (v > UINT32_MAX)
        v -= size;      /* the last, partial bucket: one bucket down */
    uint8_t *p = id->b + DP_SESSION_ID_SIZE - 4;
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

int
dp_session_id_generate(struct dp_session_id *id, unsigned cluster_size,
                       unsigned cluster_node)
{
    size_t got = 0;
    while (got < sizeof(id->b)) {
        ssize_t n = getrandom(id->b + got, sizeof(id->b) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        got += (size_t)n;
    }
    dp_session_id_set_node(id, cluster_size, cluster_node);
    return 0;
}

void
dp_session_id_format(const struct dp_session_id *id,
                     char out[DP_SESSION_ID_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < DP_SESSION_ID_SIZE; i++) {
        out[2 * i] = hex[id->b[i] >> 4];
        out[2 * i + 1] = hex[id->b[i] & 15];
    }
    out[DP_SESSION_ID_HEX] = '\0';
}

static int
hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool
dp_session_id_parse(const char *s, size_t n, struct dp_session_id *id)
{
    if (n != DP_SESSION_ID_HEX)
        return false;
    struct dp_session_id out;
    for (size_t i = 0; i < DP_SESSION_ID_SIZE; i++) {
        int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out.b[i] = (uint8_t)(hi << 4 | lo);
    }
    *id = out;
    return true;
}

bool
dp_session_id_equal(const struct dp_session_id *a,
                    const struct dp_session_id *b)
{
    return memcmp(a->b, b->b, sizeof(a->b)) == 0;
}

/* ---- the cookie ---- */

int
dp_session_cookie_name(char *out, size_t size, const char *base,
                       bool dynamic, const char *host)
{
    int n;
    if (!dynamic || host == NULL) {
        n = snprintf(out, size, "%s", base);
    } else {
        /* FNV-1a over the lower-cased host name without the port. */
        size_t hn = strlen(host);
        if (host[0] == '[') {
            const char *end = strchr(host, ']');
            if (end != NULL)
                hn = (size_t)(end - host) + 1;
        } else {
            const char *colon = strchr(host, ':');
            if (colon != NULL)
                hn = (size_t)(colon - host);
        }
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < hn; i++) {
            h ^= (uint8_t)tolower((unsigned char)host[i]);
            h *= 16777619u;
        }
        n = snprintf(out, size, "%s%04x", base, (unsigned)((h ^ h >> 16)
                                                           & 0xffff));
    }
    return n < 0 || (size_t)n >= size ? -1 : n;
}

bool
dp_session_cookie_find(const char *header, const char *name,
                       struct pr_slice *value)
{
    size_t name_len = strlen(name);
    const char *p = header;
    while (*p != '\0') {
        while (*p == ' ' || *p == '\t' || *p == ';')
            p++;
        const char *start = p;
        while (*p != '\0' && *p != '=' && *p != ';')
            p++;
        const char *name_end = p;
        while (name_end > start &&
               (name_end[-1] == ' ' || name_end[-1] == '\t'))
            name_end--;
        if (*p != '=') {
            continue;       /* a pair without '=': skipped */
        }
        p++;
        while (*p == ' ' || *p == '\t')
            p++;
        const char *v = p;
        while (*p != '\0' && *p != ';')
            p++;
        const char *v_end = p;
        while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t'))
            v_end--;
        if ((size_t)(name_end - start) == name_len &&
            memcmp(start, name, name_len) == 0) {
            if (v_end - v >= 2 && v[0] == '"' && v_end[-1] == '"') {
                v++;
                v_end--;
            }
            value->data = (const uint8_t *)v;
            value->len = (size_t)(v_end - v);
            return true;
        }
    }
    return false;
}

static bool
attribute_ok(const char *s)
{
    for (; s != NULL && *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == ';')
            return false;
    return true;
}

int
dp_session_set_cookie(char *out, size_t size, const char *name,
                      const struct dp_session_id *id,
                      const struct dp_session_cookie_options *o)
{
    if (!attribute_ok(o->domain) || !attribute_ok(o->path))
        return -1;
    static const char *const same_site[] = {
        [DP_SESSION_SAME_SITE_NONE_SET] = "",
        [DP_SESSION_SAME_SITE_STRICT] = "; SameSite=Strict",
        [DP_SESSION_SAME_SITE_LAX] = "; SameSite=Lax",
        [DP_SESSION_SAME_SITE_NONE] = "; SameSite=None",
    };
    char hex[DP_SESSION_ID_HEX + 1];
    dp_session_id_format(id, hex);
    int n = snprintf(out, size, "%s=%s; HttpOnly; Path=%s%s%s%s%s", name,
                     hex, o->path != NULL ? o->path : "/",
                     o->domain != NULL ? "; Domain=" : "",
                     o->domain != NULL ? o->domain : "",
                     o->secure ? "; Secure" : "",
                     same_site[o->same_site]);
    return n < 0 || (size_t)n >= size ? -1 : n;
}

/* ---- sessions ---- */

int
dp_session_bytes_set(struct dp_session_bytes *dst, const void *data,
                     size_t len)
{
    if (data == NULL) {
        free(dst->data);
        dst->data = NULL;
        dst->len = 0;
        return 0;
    }
    if (len > DP_SESSION_MAX_VALUE)
        return -E2BIG;
    uint8_t *copy = malloc(len + 1);
    if (copy == NULL)
        return -ENOMEM;
    memcpy(copy, data, len);
    copy[len] = '\0';
    free(dst->data);
    dst->data = copy;
    dst->len = len;
    return 0;
}

int
dp_session_string_set(char **dst, const char *s)
{
    if (s == NULL) {
        free(*dst);
        *dst = NULL;
        return 0;
    }
    size_t n = strlen(s);
    if (n > DP_SESSION_MAX_VALUE)
        return -E2BIG;
    char *copy = malloc(n + 1);
    if (copy == NULL)
        return -ENOMEM;
    memcpy(copy, s, n + 1);
    free(*dst);
    *dst = copy;
    return 0;
}

static void
realm_clear(struct dp_realm_session *r)
{
    free(r->realm);
    free(r->user);
    free(r->translate.data);
    memset(r, 0, sizeof(*r));
}

struct dp_realm_session *
dp_session_realm(struct dp_session *s, const char *realm)
{
    for (size_t i = 0; i < s->n_realms; i++)
        if (strcmp(s->realms[i].realm, realm) == 0)
            return &s->realms[i];
    return NULL;
}

struct dp_realm_session *
dp_session_realm_make(struct dp_session *s, const char *realm)
{
    struct dp_realm_session *r = dp_session_realm(s, realm);
    if (r != NULL)
        return r;
    struct dp_realm_session fresh;
    memset(&fresh, 0, sizeof(fresh));
    if (dp_session_string_set(&fresh.realm, realm) != 0)
        return NULL;
    if (s->n_realms == DP_SESSION_MAX_REALMS) {
        /* the oldest realm goes */
        realm_clear(&s->realms[0]);
        memmove(&s->realms[0], &s->realms[1],
                (DP_SESSION_MAX_REALMS - 1) * sizeof(s->realms[0]));
        s->n_realms--;
    }
    s->realms[s->n_realms] = fresh;
    return &s->realms[s->n_realms++];
}

void
dp_session_realm_discard(struct dp_session *s, const char *realm)
{
    struct dp_realm_session *r = dp_session_realm(s, realm);
    if (r == NULL)
        return;
    size_t i = (size_t)(r - s->realms);
    realm_clear(r);
    memmove(&s->realms[i], &s->realms[i + 1],
            (s->n_realms - i - 1) * sizeof(s->realms[0]));
    s->n_realms--;
    memset(&s->realms[s->n_realms], 0, sizeof(s->realms[0]));
}

const char *
dp_realm_session_user(const struct dp_realm_session *r, uint64_t now_ms)
{
    if (r == NULL || r->user == NULL)
        return NULL;
    if (r->user_expires_ms != 0 && now_ms >= r->user_expires_ms)
        return NULL;
    return r->user;
}

struct dp_session *
dp_session_new(void)
{
    return calloc(1, sizeof(struct dp_session));
}

void
dp_session_free(struct dp_session *s)
{
    if (s == NULL)
        return;
    free(s->translate.data);
    free(s->attach.data);
    free(s->site);
    free(s->language);
    for (size_t i = 0; i < s->n_realms; i++)
        realm_clear(&s->realms[i]);
    free(s);
}

/* ---- the store ---- */

struct dp_session_manager {
    struct dp_session_config config;
    struct dp_session **buckets;
    size_t n_buckets;             /* a power of two */
    struct dp_session *lru_head, *lru_tail;   /* head = least recent */
    struct dp_session_stats stats;
};

static size_t
bucket_of(const struct dp_session_manager *m, const struct dp_session_id *id)
{
    /* The id is random: its first bytes are a fine hash. */
    uint64_t h;
    memcpy(&h, id->b, sizeof(h));
    return (size_t)(h & (m->n_buckets - 1));
}

struct dp_session_manager *
dp_session_manager_new(const struct dp_session_config *config)
{
    struct dp_session_manager *m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->config = *config;
    if (m->config.max_sessions == 0)
        m->config.max_sessions = DP_SESSION_DEFAULT_MAX;
    m->n_buckets = 64;
    while (m->n_buckets < m->config.max_sessions && m->n_buckets < (1u << 20))
        m->n_buckets <<= 1;
    m->buckets = calloc(m->n_buckets, sizeof(*m->buckets));
    if (m->buckets == NULL) {
        free(m);
        return NULL;
    }
    return m;
}

const struct dp_session_config *
dp_session_manager_config(const struct dp_session_manager *m)
{
    return &m->config;
}

static void
lru_unlink(struct dp_session_manager *m, struct dp_session *s)
{
    if (s->lru_prev != NULL)
        s->lru_prev->lru_next = s->lru_next;
    else
        m->lru_head = s->lru_next;
    if (s->lru_next != NULL)
        s->lru_next->lru_prev = s->lru_prev;
    else
        m->lru_tail = s->lru_prev;
    s->lru_prev = s->lru_next = NULL;
}

static void
lru_append(struct dp_session_manager *m, struct dp_session *s)
{
    s->lru_prev = m->lru_tail;
    s->lru_next = NULL;
    if (m->lru_tail != NULL)
        m->lru_tail->lru_next = s;
    else
        m->lru_head = s;
    m->lru_tail = s;
}

/* Insert keeping the list ordered by expiry (adopted sessions come with
 * their own; new and refreshed ones always go to the tail). */
static void
lru_insert_sorted(struct dp_session_manager *m, struct dp_session *s)
{
    struct dp_session *after = m->lru_tail;
    while (after != NULL && after->expires_ms > s->expires_ms)
        after = after->lru_prev;
    if (after == m->lru_tail) {
        lru_append(m, s);
        return;
    }
    s->lru_prev = after;
    s->lru_next = after != NULL ? after->lru_next : m->lru_head;
    s->lru_next->lru_prev = s;
    if (after != NULL)
        after->lru_next = s;
    else
        m->lru_head = s;
}

static void
unlink_session(struct dp_session_manager *m, struct dp_session *s)
{
    struct dp_session **pp = &m->buckets[bucket_of(m, &s->id)];
    while (*pp != NULL && *pp != s)
        pp = &(*pp)->hash_next;
    if (*pp == s)
        *pp = s->hash_next;
    s->hash_next = NULL;
    lru_unlink(m, s);
    m->stats.sessions--;
}

void
dp_session_manager_free(struct dp_session_manager *m)
{
    if (m == NULL)
        return;
    struct dp_session *s = m->lru_head;
    while (s != NULL) {
        struct dp_session *next = s->lru_next;
        dp_session_free(s);
        s = next;
    }
    free(m->buckets);
    free(m);
}

static struct dp_session *
lookup(struct dp_session_manager *m, const struct dp_session_id *id)
{
    for (struct dp_session *s = m->buckets[bucket_of(m, id)]; s != NULL;
         s = s->hash_next)
        if (dp_session_id_equal(&s->id, id))
            return s;
    return NULL;
}

struct dp_session *
dp_session_find(struct dp_session_manager *m, const struct dp_session_id *id,
                uint64_t now_ms)
{
    struct dp_session *s = lookup(m, id);
    if (s == NULL)
        return NULL;
    if (now_ms >= s->expires_ms) {
        unlink_session(m, s);
        dp_session_free(s);
        m->stats.expired++;
        return NULL;
    }
    s->expires_ms = now_ms + m->config.idle_timeout_ms;
    lru_unlink(m, s);
    lru_insert_sorted(m, s);
    return s;
}

static void
insert(struct dp_session_manager *m, struct dp_session *s)
{
    size_t b = bucket_of(m, &s->id);
    s->hash_next = m->buckets[b];
    m->buckets[b] = s;
    lru_insert_sorted(m, s);
    m->stats.sessions++;
}

/* Make room for one more session: expired ones first, then the least
 * recently used.  True when one had to be evicted. */
static bool
make_room(struct dp_session_manager *m, uint64_t now_ms)
{
    if (m->stats.sessions < m->config.max_sessions)
        return false;
    if (dp_session_expire(m, now_ms) > 0)
        return false;
    struct dp_session *victim = m->lru_head;
    if (victim == NULL)
        return false;
    unlink_session(m, victim);
    dp_session_free(victim);
    m->stats.evicted++;
    return true;
}

struct dp_session *
dp_session_create(struct dp_session_manager *m, uint64_t now_ms,
                  bool *evicted, const char **err)
{
    struct dp_session *s = dp_session_new();
    if (s == NULL) {
        *err = "out of memory";
        return NULL;
    }
    /* 2^-128 chance of a collision; still, never hand out an id twice. */
    do {
        if (dp_session_id_generate(&s->id, m->config.cluster_size,
                                   m->config.cluster_node) != 0) {
            free(s);
            *err = "getrandom() failed: no session id";
            return NULL;
        }
    } while (lookup(m, &s->id) != NULL);
    bool ev = make_room(m, now_ms);
    if (evicted != NULL)
        *evicted = ev;
    s->expires_ms = now_ms + m->config.idle_timeout_ms;
    insert(m, s);
    m->stats.created++;
    return s;
}

bool
dp_session_adopt(struct dp_session_manager *m, struct dp_session *s,
                 uint64_t now_ms)
{
    if (now_ms >= s->expires_ms || lookup(m, &s->id) != NULL) {
        dp_session_free(s);
        return false;
    }
    if (s->expires_ms > now_ms + m->config.idle_timeout_ms)
        s->expires_ms = now_ms + m->config.idle_timeout_ms;
    make_room(m, now_ms);
    s->hash_next = s->lru_prev = s->lru_next = NULL;
    insert(m, s);
    return true;
}

void
dp_session_discard(struct dp_session_manager *m, struct dp_session *s)
{
    unlink_session(m, s);
    dp_session_free(s);
    m->stats.discarded++;
}

static bool
attached_to(const struct dp_session *s, const void *attach, size_t len)
{
    return s->attach.data != NULL && s->attach.len == len &&
           memcmp(s->attach.data, attach, len) == 0;
}

size_t
dp_session_discard_attached(struct dp_session_manager *m, const void *attach,
                            size_t len)
{
    size_t n = 0;
    struct dp_session *s = m->lru_head;
    while (s != NULL) {
        struct dp_session *next = s->lru_next;
        if (attached_to(s, attach, len)) {
            dp_session_discard(m, s);
            n++;
        }
        s = next;
    }
    return n;
}

struct dp_session *
dp_session_find_attached(struct dp_session_manager *m,
                         const struct dp_session *except, const void *attach,
                         size_t len, uint64_t now_ms)
{
    for (struct dp_session *s = m->lru_tail; s != NULL; s = s->lru_prev)
        if (s != except && now_ms < s->expires_ms &&
            attached_to(s, attach, len))
            return s;
    return NULL;
}

size_t
dp_session_expire(struct dp_session_manager *m, uint64_t now_ms)
{
    size_t n = 0;
    while (m->lru_head != NULL && now_ms >= m->lru_head->expires_ms) {
        struct dp_session *s = m->lru_head;
        unlink_session(m, s);
        dp_session_free(s);
        m->stats.expired++;
        n++;
    }
    return n;
}

void
dp_session_foreach(const struct dp_session_manager *m,
                   void (*fn)(const struct dp_session *s, void *ctx),
                   void *ctx)
{
    for (const struct dp_session *s = m->lru_head; s != NULL;
         s = s->lru_next)
        fn(s, ctx);
}

void
dp_session_get_stats(const struct dp_session_manager *m,
                     struct dp_session_stats *out)
{
    *out = m->stats;
}
