/*
 * dp_session: session ids, the session cookie and the session store.
 */
#include "dp_session.h"
#include "dp_session_file.h"

#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
        /* (not snprintf: this runs for every request) */
        size_t bn = strlen(base);
        if (bn >= size)
            return -1;
        memcpy(out, base, bn + 1);
        return (int)bn;
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

/* ---- the store: one shared region, indices instead of pointers ---- */

#define NIL UINT32_MAX
#define CHUNK_SIZE 256
#define CHUNK_DATA (CHUNK_SIZE - sizeof(uint32_t))
#define STORE_MAGIC 0x70737331u     /* "pss1" */
/* A record: attach length (NIL: none), the attach bytes, then the
 * session in the save file's layout. */
#define RECORD_HEAD 4
#define RECORD_MAX (RECORD_HEAD + DP_SESSION_MAX_VALUE + DP_SESSION_MAX_RECORD)

struct slot {
    struct dp_session_id id;
    uint64_t expires_ms;
    uint64_t attach_hash;         /* FNV-1a of ATTACH_SESSION, 0 = none */
    uint32_t hash_next;           /* also the free list */
    uint32_t lru_prev, lru_next;  /* head = least recent = next to expire */
    uint32_t first_chunk;         /* the record */
    uint32_t len;                 /* 0 while it is being written */
    uint32_t used;                /* linked; cleared first on removal */
};

struct chunk {
    uint32_t next;
    uint8_t data[CHUNK_DATA];
};

struct store {
    pthread_mutex_t lock;
    uint32_t magic;
    uint32_t changing;            /* set while the holder changes links */
    uint64_t idle_timeout_ms;
    uint32_t n_slots, n_buckets, n_chunks;
    uint32_t slot_brk, free_slot; /* slots >= slot_brk were never used */
    uint32_t chunk_brk, free_chunk;
    uint32_t chunks_used;
    uint32_t lru_head, lru_tail;
    size_t buckets_off, slots_off, chunks_off;
    struct dp_session_stats stats;
};

struct dp_session_manager {
    struct dp_session_config config;
    struct store *st;
    size_t map_size;
    uint8_t *scratch;             /* RECORD_MAX bytes: a record copied out */
    int recovered;                /* 0, or a dead holder: 1 reading, 2
                                     changing (logged after the unlock) */
    size_t lost;
};

static uint32_t *
buckets(struct store *st)
{
    return (uint32_t *)((uint8_t *)st + st->buckets_off);
}

static struct slot *
slot_at(struct store *st, uint32_t i)
{
    return (struct slot *)((uint8_t *)st + st->slots_off) + i;
}

static struct chunk *
chunk_at(struct store *st, uint32_t i)
{
    return (struct chunk *)((uint8_t *)st + st->chunks_off) + i;
}

static size_t
align64(size_t n)
{
    return (n + 63) & ~(size_t)63;
}

static void
store_reset(struct store *st)
{
    memset(buckets(st), 0xff, st->n_buckets * sizeof(uint32_t));
    st->slot_brk = 0;
    st->free_slot = NIL;
    st->chunk_brk = 0;
    st->free_chunk = NIL;
    st->chunks_used = 0;
    st->lru_head = st->lru_tail = NIL;
    st->stats.sessions = 0;
}

/* The order of a few stores matters to store_repair(): keep the
 * compiler from moving them (a killed process stops between two
 * instructions; the stores it made before are in the region). */
#define ORDER() atomic_signal_fence(memory_order_seq_cst)

static int
by_expiry(const void *a, const void *b, void *ctx)
{
    struct store *st = ctx;
    uint64_t x = slot_at(st, *(const uint32_t *)a)->expires_ms;
    uint64_t y = slot_at(st, *(const uint32_t *)b)->expires_ms;
    return x < y ? -1 : x > y;
}

static uint32_t lookup_index(struct store *st,
                             const struct dp_session_id *id);
static size_t bucket_of(const struct store *st,
                        const struct dp_session_id *id);

/*
 * A process died changing the store: rebuild every link from the slots.
 * A slot counts when it is marked used, has a whole record (len > 0, set
 * last when a record is written) and its chunk chain has exactly the
 * chunks of that length, none shared; the hash, the LRU list (by expiry)
 * and both free lists are made anew.  Returns how many sessions were
 * dropped, or -1 (out of memory: the caller empties the store).
 */
static long
store_repair(struct store *st)
{
    size_t before = st->stats.sessions;
    uint8_t *owned = calloc(st->chunk_brk / 8 + 1, 1);
    uint32_t *keep = malloc(((size_t)st->slot_brk + 1) * sizeof(*keep));
    if (owned == NULL || keep == NULL) {
        free(owned);
        free(keep);
        return -1;
    }
    memset(buckets(st), 0xff, st->n_buckets * sizeof(uint32_t));
    size_t n = 0, chunks = 0;
    for (uint32_t i = 0; i < st->slot_brk; i++) {
        struct slot *s = slot_at(st, i);
        bool ok = s->used && s->len > 0 && s->len <= RECORD_MAX &&
                  lookup_index(st, &s->id) == NIL;
        size_t need = ok ? (s->len + CHUNK_DATA - 1) / CHUNK_DATA : 0;
        size_t got = 0;
        uint32_t c = ok ? s->first_chunk : NIL;
        while (ok && got < need) {
            if (c == NIL || c >= st->chunk_brk ||
                (owned[c / 8] & (1u << (c % 8)))) {
                ok = false;
                break;
            }
            owned[c / 8] |= (uint8_t)(1u << (c % 8));
            got++;
            c = chunk_at(st, c)->next;
        }
        if (ok && c != NIL)
            ok = false;
        if (!ok) {
            /* give back what this slot marked */
            c = s->first_chunk;
            for (size_t k = 0; k < got; k++) {
                owned[c / 8] &= (uint8_t)~(1u << (c % 8));
                c = chunk_at(st, c)->next;
            }
            s->used = 0;
            continue;
        }
        chunks += got;
        uint32_t *b = &buckets(st)[bucket_of(st, &s->id)];
        s->hash_next = *b;
        *b = i;
        keep[n++] = i;
    }
    qsort_r(keep, n, sizeof(*keep), by_expiry, st);
    st->lru_head = st->lru_tail = NIL;
    for (size_t k = 0; k < n; k++) {
        struct slot *s = slot_at(st, keep[k]);
        s->lru_prev = st->lru_tail;
        s->lru_next = NIL;
        if (st->lru_tail != NIL)
            slot_at(st, st->lru_tail)->lru_next = keep[k];
        else
            st->lru_head = keep[k];
        st->lru_tail = keep[k];
    }
    st->free_slot = NIL;
    for (uint32_t i = st->slot_brk; i-- > 0;)
        if (!slot_at(st, i)->used) {
            slot_at(st, i)->hash_next = st->free_slot;
            st->free_slot = i;
        }
    st->free_chunk = NIL;
    for (uint32_t c = st->chunk_brk; c-- > 0;)
        if (!(owned[c / 8] & (1u << (c % 8)))) {
            chunk_at(st, c)->next = st->free_chunk;
            st->free_chunk = c;
        }
    st->chunks_used = (uint32_t)chunks;
    st->stats.sessions = n;
    free(owned);
    free(keep);
    return before > n ? (long)(before - n) : 0;
}

/* Lock the store.  A holder that died: the next locker takes over, and
 * empties the store when the dead one was changing it. */
static struct store *
store_lock(struct dp_session_manager *m, bool changing)
{
    struct store *st = m->st;
    int rc = pthread_mutex_lock(&st->lock);
    if (rc == EOWNERDEAD) {
        m->recovered = st->changing ? 2 : 1;
        m->lost = 0;
        if (st->changing) {
            long lost = store_repair(st);
            if (lost < 0) {
                m->recovered = 3;
                lost = (long)st->stats.sessions;
                store_reset(st);
            }
            m->lost = (size_t)lost;
        }
        st->stats.recovered++;
        pthread_mutex_consistent(&st->lock);
    } else if (rc != 0) {
        fprintf(stderr, "portierd: session store: cannot lock: %s\n",
                strerror(rc));
        abort();
    }
    st->changing = changing;
    return st;
}

static void
store_unlock(struct dp_session_manager *m)
{
    m->st->changing = 0;
    pthread_mutex_unlock(&m->st->lock);
    if (m->recovered == 2)
        fprintf(stderr, "portierd: session store: a process died while "
                "changing the store under its lock; the lock is recovered "
                "and the store rebuilt from its slots (%zu session(s) "
                "lost)\n", m->lost);
    else if (m->recovered == 3)
        fprintf(stderr, "portierd: session store: a process died while "
                "changing the store under its lock; out of memory for the "
                "repair: the store is emptied (%zu session(s) lost)\n",
                m->lost);
    else if (m->recovered == 1)
        fprintf(stderr, "portierd: session store: a process died holding "
                "the lock while reading; the lock is recovered, no session "
                "lost\n");
    m->recovered = 0;
}

static size_t
bucket_of(const struct store *st, const struct dp_session_id *id)
{
    /* The id is random: its first bytes are a fine hash. */
    uint64_t h;
    memcpy(&h, id->b, sizeof(h));
    return (size_t)(h & (st->n_buckets - 1));
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
    if (m->config.max_sessions > (1u << 24))
        m->config.max_sessions = 1u << 24;
    size_t n_slots = m->config.max_sessions;
    size_t n_buckets = 64;
    while (n_buckets < n_slots)
        n_buckets <<= 1;
    size_t n_chunks = n_slots * (DP_SESSION_AVG_RECORD / CHUNK_SIZE);
    size_t min_chunks = 2 * (RECORD_MAX / CHUNK_DATA + 1);
    if (n_chunks < min_chunks)
        n_chunks = min_chunks;
    size_t buckets_off = align64(sizeof(struct store));
    size_t slots_off = align64(buckets_off + n_buckets * sizeof(uint32_t));
    size_t chunks_off = align64(slots_off + n_slots * sizeof(struct slot));
    m->map_size = chunks_off + n_chunks * sizeof(struct chunk);
    m->scratch = malloc(RECORD_MAX);
    void *p = mmap(NULL, m->map_size, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m->scratch == NULL || p == MAP_FAILED) {
        free(m->scratch);
        free(m);
        return NULL;
    }
    struct store *st = p;
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a) != 0 ||
        pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED) != 0 ||
        pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) != 0 ||
        pthread_mutex_init(&st->lock, &a) != 0) {
        munmap(p, m->map_size);
        free(m->scratch);
        free(m);
        return NULL;
    }
    pthread_mutexattr_destroy(&a);
    st->magic = STORE_MAGIC;
    st->idle_timeout_ms = m->config.idle_timeout_ms;
    st->n_slots = (uint32_t)n_slots;
    st->n_buckets = (uint32_t)n_buckets;
    st->n_chunks = (uint32_t)n_chunks;
    st->buckets_off = buckets_off;
    st->slots_off = slots_off;
    st->chunks_off = chunks_off;
    st->stats.chunks_total = n_chunks;
    store_reset(st);
    m->st = st;
    return m;
}

void
dp_session_manager_free(struct dp_session_manager *m)
{
    if (m == NULL)
        return;
    munmap(m->st, m->map_size);
    free(m->scratch);
    free(m);
}

const struct dp_session_config *
dp_session_manager_config(const struct dp_session_manager *m)
{
    return &m->config;
}

void
dp_session_manager_set_idle_timeout(struct dp_session_manager *m,
                                    uint64_t idle_timeout_ms)
{
    m->config.idle_timeout_ms = idle_timeout_ms;
    struct store *st = store_lock(m, false);
    st->idle_timeout_ms = idle_timeout_ms;
    store_unlock(m);
}

void
dp_session_manager_test_hold_lock(struct dp_session_manager *m,
                                  bool changing)
{
    store_lock(m, changing);
}

/* -- links (all under the lock) -- */

static void
lru_unlink(struct store *st, uint32_t i)
{
    struct slot *s = slot_at(st, i);
    if (s->lru_prev != NIL)
        slot_at(st, s->lru_prev)->lru_next = s->lru_next;
    else
        st->lru_head = s->lru_next;
    if (s->lru_next != NIL)
        slot_at(st, s->lru_next)->lru_prev = s->lru_prev;
    else
        st->lru_tail = s->lru_prev;
    s->lru_prev = s->lru_next = NIL;
}

/* Insert keeping the list ordered by expiry (new and refreshed sessions
 * normally go to the tail; adopted ones come with their own expiry). */
static void
lru_insert_sorted(struct store *st, uint32_t i)
{
    struct slot *s = slot_at(st, i);
    uint32_t after = st->lru_tail;
    while (after != NIL && slot_at(st, after)->expires_ms > s->expires_ms)
        after = slot_at(st, after)->lru_prev;
    s->lru_prev = after;
    s->lru_next = after != NIL ? slot_at(st, after)->lru_next : st->lru_head;
    if (s->lru_next != NIL)
        slot_at(st, s->lru_next)->lru_prev = i;
    else
        st->lru_tail = i;
    if (after != NIL)
        slot_at(st, after)->lru_next = i;
    else
        st->lru_head = i;
}

static uint32_t
lookup(struct store *st, const struct dp_session_id *id)
{
    for (uint32_t i = buckets(st)[bucket_of(st, id)]; i != NIL;
         i = slot_at(st, i)->hash_next)
        if (dp_session_id_equal(&slot_at(st, i)->id, id))
            return i;
    return NIL;
}

static uint32_t
lookup_index(struct store *st, const struct dp_session_id *id)
{
    return lookup(st, id);
}

static void
chunks_free(struct store *st, uint32_t c)
{
    while (c != NIL) {
        struct chunk *k = chunk_at(st, c);
        uint32_t next = k->next;
        k->next = st->free_chunk;
        st->free_chunk = c;
        st->chunks_used--;
        c = next;
    }
}

static uint32_t
chunk_alloc(struct store *st)
{
    uint32_t c;
    if (st->free_chunk != NIL) {
        c = st->free_chunk;
        st->free_chunk = chunk_at(st, c)->next;
    } else if (st->chunk_brk < st->n_chunks) {
        c = st->chunk_brk++;
    } else {
        return NIL;
    }
    chunk_at(st, c)->next = NIL;
    st->chunks_used++;
    return c;
}

/* Remove slot i from the hash, the LRU list and the heap. */
static void
remove_slot(struct store *st, uint32_t i)
{
    struct slot *s = slot_at(st, i);
    s->used = 0;
    ORDER();
    uint32_t *pp = &buckets(st)[bucket_of(st, &s->id)];
    while (*pp != NIL && *pp != i)
        pp = &slot_at(st, *pp)->hash_next;
    if (*pp == i)
        *pp = s->hash_next;
    lru_unlink(st, i);
    chunks_free(st, s->first_chunk);
    s->first_chunk = NIL;
    s->len = 0;
    s->hash_next = st->free_slot;
    st->free_slot = i;
    st->stats.sessions--;
}

static size_t
expire_locked(struct store *st, uint64_t now_ms)
{
    size_t n = 0;
    while (st->lru_head != NIL &&
           now_ms >= slot_at(st, st->lru_head)->expires_ms) {
        remove_slot(st, st->lru_head);
        st->stats.expired++;
        n++;
    }
    return n;
}

/* Evict the least recently used session other than `keep`; false when
 * there is none. */
static bool
evict_one(struct store *st, uint32_t keep)
{
    uint32_t v = st->lru_head;
    if (v == keep && v != NIL)
        v = slot_at(st, v)->lru_next;
    if (v == NIL)
        return false;
    remove_slot(st, v);
    st->stats.evicted++;
    return true;
}

/* A free slot, making room at the limit (expired ones first, then the
 * least recently used); *evicted counts evictions. */
static uint32_t
slot_alloc(struct store *st, uint64_t now_ms, size_t *evicted)
{
    if (st->stats.sessions >= st->n_slots &&
        expire_locked(st, now_ms) == 0 && evict_one(st, NIL))
        ++*evicted;
    uint32_t i;
    if (st->free_slot != NIL) {
        i = st->free_slot;
        st->free_slot = slot_at(st, i)->hash_next;
    } else if (st->slot_brk < st->n_slots) {
        i = st->slot_brk++;
    } else {
        return NIL;
    }
    struct slot *s = slot_at(st, i);
    memset(s, 0, sizeof(*s));
    s->hash_next = s->lru_prev = s->lru_next = NIL;
    s->first_chunk = NIL;
    return i;
}

/* Insert slot i (id and expiry set) into the hash and the LRU list. */
static void
link_slot(struct store *st, uint32_t i)
{
    struct slot *s = slot_at(st, i);
    uint32_t *b = &buckets(st)[bucket_of(st, &s->id)];
    s->hash_next = *b;
    *b = i;
    lru_insert_sorted(st, i);
    st->stats.sessions++;
    ORDER();
    s->used = 1;
}

static size_t
chunks_for(size_t len)
{
    return (len + CHUNK_DATA - 1) / CHUNK_DATA;
}

/* Replace slot i's record with rec[0..len), evicting other sessions
 * while the heap is too full.  The caller checked that len fits an
 * empty heap. */
static void
write_record(struct store *st, uint32_t i, const uint8_t *rec, size_t len,
             size_t *evicted)
{
    struct slot *s = slot_at(st, i);
    uint32_t old = s->first_chunk;
    s->len = 0;
    s->first_chunk = NIL;
    ORDER();
    chunks_free(st, old);
    size_t need = chunks_for(len);
    while (st->n_chunks - st->chunks_used < need && evict_one(st, i))
        ++*evicted;
    uint32_t *link = &s->first_chunk;
    size_t done = 0;
    for (; done < len; done += CHUNK_DATA) {
        uint32_t c = chunk_alloc(st);
        if (c == NIL)
            break;              /* cannot happen: the caller checked */
        size_t n = len - done < CHUNK_DATA ? len - done : CHUNK_DATA;
        memcpy(chunk_at(st, c)->data, rec + done, n);
        *link = c;
        link = &chunk_at(st, c)->next;
    }
    if (done < len) {           /* no partial record: none at all */
        chunks_free(st, s->first_chunk);
        s->first_chunk = NIL;
        return;
    }
    ORDER();
    s->len = (uint32_t)len;
}

/* Copy slot i's record into out (RECORD_MAX bytes); its length. */
static size_t
read_record(struct store *st, uint32_t i, uint8_t *out)
{
    const struct slot *s = slot_at(st, i);
    size_t done = 0;
    if (s->len > RECORD_MAX)
        return 0;               /* never written so: read as nothing */
    for (uint32_t c = s->first_chunk; c < st->n_chunks && done < s->len;
         c = chunk_at(st, c)->next) {
        size_t n = s->len - done < CHUNK_DATA ? s->len - done : CHUNK_DATA;
        memcpy(out + done, chunk_at(st, c)->data, n);
        done += n;
    }
    return done;
}

static uint64_t
attach_hash(const void *attach, size_t len)
{
    uint64_t h = 14695981039346656037u;
    const uint8_t *p = attach;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211u;
    }
    return h != 0 ? h : 1;
}

/* Does slot i's ATTACH_SESSION equal attach[0..len)?  Compares the
 * record's head in place. */
static bool
attached_to(struct store *st, uint32_t i, uint64_t hash, const void *attach,
            size_t len)
{
    const struct slot *s = slot_at(st, i);
    if (s->attach_hash != hash || s->len < RECORD_HEAD + len)
        return false;
    uint8_t head[RECORD_HEAD];
    const uint8_t *want = attach;
    size_t pos = 0;             /* offset into the record */
    for (uint32_t c = s->first_chunk;
         c < st->n_chunks && pos < RECORD_HEAD + len;
         c = chunk_at(st, c)->next) {
        const uint8_t *d = chunk_at(st, c)->data;
        for (size_t k = 0; k < CHUNK_DATA && pos < RECORD_HEAD + len;
             k++, pos++) {
            if (pos < RECORD_HEAD)
                head[pos] = d[k];
            else if (d[k] != want[pos - RECORD_HEAD])
                return false;
            if (pos == RECORD_HEAD - 1) {
                uint32_t n = (uint32_t)head[0] << 24 |
                             (uint32_t)head[1] << 16 |
                             (uint32_t)head[2] << 8 | head[3];
                if (n != len)
                    return false;
            }
        }
    }
    return pos == RECORD_HEAD + len;
}

/* -- records (outside the lock) -- */

/* Encode s into b: 0, -ENOMEM or -ENOSPC. */
static int
encode_record(const struct dp_session *s, struct pr_buf *b)
{
    uint8_t head[RECORD_HEAD];
    uint32_t n = s->attach.data != NULL ? (uint32_t)s->attach.len : NIL;
    head[0] = (uint8_t)(n >> 24);
    head[1] = (uint8_t)(n >> 16);
    head[2] = (uint8_t)(n >> 8);
    head[3] = (uint8_t)n;
    if (pr_buf_append(b, head, sizeof(head)) != 0 ||
        (s->attach.data != NULL &&
         pr_buf_append(b, s->attach.data, s->attach.len) != 0) ||
        dp_session_file_encode_one(s, b) != 0)
        return -ENOMEM;
    return b->len <= RECORD_MAX ? 0 : -ENOSPC;
}

static struct dp_session *
decode_record(const uint8_t *rec, size_t len, const struct dp_session_id *id,
              uint64_t expires_ms)
{
    if (len < RECORD_HEAD)
        return NULL;
    uint32_t n = (uint32_t)rec[0] << 24 | (uint32_t)rec[1] << 16 |
                 (uint32_t)rec[2] << 8 | rec[3];
    size_t skip = RECORD_HEAD + (n != NIL ? n : 0);
    if (skip > len)
        return NULL;
    struct dp_session *s = dp_session_new();
    if (s == NULL)
        return NULL;
    if (dp_session_file_decode_one(rec + skip, len - skip, s, NULL, 0) != 0) {
        dp_session_free(s);
        return NULL;
    }
    s->id = *id;
    s->expires_ms = expires_ms;
    return s;
}

/* -- the API -- */

static uint32_t
find_live(struct store *st, const struct dp_session_id *id, uint64_t now_ms)
{
    uint32_t i = lookup(st, id);
    if (i == NIL)
        return NIL;
    if (now_ms >= slot_at(st, i)->expires_ms) {
        remove_slot(st, i);
        st->stats.expired++;
        return NIL;
    }
    return i;
}

static void
refresh(struct store *st, uint32_t i, uint64_t now_ms)
{
    slot_at(st, i)->expires_ms = now_ms + st->idle_timeout_ms;
    lru_unlink(st, i);
    lru_insert_sorted(st, i);
}

bool
dp_session_touch(struct dp_session_manager *m, const struct dp_session_id *id,
                 uint64_t now_ms)
{
    struct store *st = store_lock(m, true);
    uint32_t i = find_live(st, id, now_ms);
    if (i != NIL)
        refresh(st, i, now_ms);
    store_unlock(m);
    return i != NIL;
}

struct dp_session *
dp_session_get(struct dp_session_manager *m, const struct dp_session_id *id,
               uint64_t now_ms)
{
    struct store *st = store_lock(m, true);
    uint32_t i = find_live(st, id, now_ms);
    if (i == NIL) {
        store_unlock(m);
        return NULL;
    }
    refresh(st, i, now_ms);
    uint64_t expires = slot_at(st, i)->expires_ms;
    size_t len = read_record(st, i, m->scratch);
    store_unlock(m);
    return decode_record(m->scratch, len, id, expires);
}

struct dp_session *
dp_session_peek(struct dp_session_manager *m, const struct dp_session_id *id)
{
    struct store *st = store_lock(m, false);
    uint32_t i = lookup(st, id);
    if (i == NIL) {
        store_unlock(m);
        return NULL;
    }
    uint64_t expires = slot_at(st, i)->expires_ms;
    size_t len = read_record(st, i, m->scratch);
    store_unlock(m);
    return decode_record(m->scratch, len, id, expires);
}

int
dp_session_put(struct dp_session_manager *m, const struct dp_session *s,
               uint64_t now_ms, size_t *evicted)
{
    size_t ev = 0;
    if (evicted != NULL)
        *evicted = 0;
    struct pr_buf b = PR_BUF_INIT;
    int rc = encode_record(s, &b);
    if (rc == 0 && chunks_for(b.len) > m->st->n_chunks)
        rc = -ENOSPC;
    if (rc != 0) {
        pr_buf_free(&b);
        return rc;
    }
    struct store *st = store_lock(m, true);
    uint32_t i = find_live(st, &s->id, now_ms);
    if (i == NIL) {
        rc = -ENOENT;
    } else {
        write_record(st, i, b.data, b.len, &ev);
        slot_at(st, i)->attach_hash =
            s->attach.data != NULL ? attach_hash(s->attach.data,
                                                 s->attach.len) : 0;
        refresh(st, i, now_ms);
    }
    store_unlock(m);
    pr_buf_free(&b);
    if (evicted != NULL)
        *evicted = ev;
    return rc;
}

/* Store a new session (id and expiry set in s): 0, -EEXIST or -ENOSPC. */
static int
insert_new(struct dp_session_manager *m, const struct dp_session *s,
           const struct pr_buf *b, uint64_t now_ms, size_t *evicted)
{
    struct store *st = store_lock(m, true);
    if (lookup(st, &s->id) != NIL) {
        store_unlock(m);
        return -EEXIST;
    }
    uint32_t i = slot_alloc(st, now_ms, evicted);
    if (i == NIL) {
        store_unlock(m);
        return -ENOSPC;
    }
    struct slot *sl = slot_at(st, i);
    sl->id = s->id;
    sl->expires_ms = s->expires_ms;
    sl->attach_hash = s->attach.data != NULL
                          ? attach_hash(s->attach.data, s->attach.len) : 0;
    link_slot(st, i);
    write_record(st, i, b->data, b->len, evicted);
    store_unlock(m);
    return 0;
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
    s->expires_ms = now_ms + m->st->idle_timeout_ms;
    size_t ev = 0;
    int rc;
    /* 2^-128 chance of a collision; still, never hand out an id twice. */
    do {
        if (dp_session_id_generate(&s->id, m->config.cluster_size,
                                   m->config.cluster_node) != 0) {
            dp_session_free(s);
            *err = "getrandom() failed: no session id";
            return NULL;
        }
        struct pr_buf b = PR_BUF_INIT;
        rc = encode_record(s, &b);
        if (rc == 0)
            rc = insert_new(m, s, &b, now_ms, &ev);
        pr_buf_free(&b);
    } while (rc == -EEXIST);
    if (rc != 0) {
        dp_session_free(s);
        *err = rc == -ENOMEM ? "out of memory" : "session store is full";
        return NULL;
    }
    struct store *st = store_lock(m, false);
    st->stats.created++;
    store_unlock(m);
    if (evicted != NULL)
        *evicted = ev > 0;
    return s;
}

bool
dp_session_adopt(struct dp_session_manager *m, struct dp_session *s,
                 uint64_t now_ms)
{
    uint64_t idle = m->st->idle_timeout_ms;
    if (now_ms >= s->expires_ms) {
        dp_session_free(s);
        return false;
    }
    if (s->expires_ms > now_ms + idle)
        s->expires_ms = now_ms + idle;
    struct pr_buf b = PR_BUF_INIT;
    size_t ev = 0;
    int rc = encode_record(s, &b);
    if (rc == 0 && chunks_for(b.len) > m->st->n_chunks)
        rc = -ENOSPC;
    if (rc == 0)
        rc = insert_new(m, s, &b, now_ms, &ev);
    pr_buf_free(&b);
    dp_session_free(s);
    return rc == 0;
}

bool
dp_session_discard(struct dp_session_manager *m,
                   const struct dp_session_id *id)
{
    struct store *st = store_lock(m, true);
    uint32_t i = lookup(st, id);
    if (i != NIL) {
        remove_slot(st, i);
        st->stats.discarded++;
    }
    store_unlock(m);
    return i != NIL;
}

size_t
dp_session_discard_attached(struct dp_session_manager *m, const void *attach,
                            size_t len)
{
    uint64_t h = attach_hash(attach, len);
    size_t n = 0;
    struct store *st = store_lock(m, true);
    uint32_t i = st->lru_head;
    while (i != NIL) {
        uint32_t next = slot_at(st, i)->lru_next;
        if (attached_to(st, i, h, attach, len)) {
            remove_slot(st, i);
            st->stats.discarded++;
            n++;
        }
        i = next;
    }
    store_unlock(m);
    return n;
}

bool
dp_session_find_attached(struct dp_session_manager *m,
                         const struct dp_session_id *except,
                         const void *attach, size_t len, uint64_t now_ms,
                         struct dp_session_id *out)
{
    uint64_t h = attach_hash(attach, len);
    bool found = false;
    struct store *st = store_lock(m, false);
    for (uint32_t i = st->lru_tail; i != NIL; i = slot_at(st, i)->lru_prev) {
        const struct slot *s = slot_at(st, i);
        if ((except == NULL || !dp_session_id_equal(&s->id, except)) &&
            now_ms < s->expires_ms && attached_to(st, i, h, attach, len)) {
            *out = s->id;
            found = true;
            break;
        }
    }
    store_unlock(m);
    return found;
}

size_t
dp_session_expire(struct dp_session_manager *m, uint64_t now_ms)
{
    struct store *st = store_lock(m, true);
    size_t n = expire_locked(st, now_ms);
    store_unlock(m);
    return n;
}

int
dp_session_foreach(struct dp_session_manager *m,
                   void (*fn)(const struct dp_session *s, void *ctx),
                   void *ctx)
{
    struct dp_session_id *ids = malloc((size_t)m->st->n_slots * sizeof(*ids));
    if (ids == NULL)
        return -ENOMEM;
    size_t n = 0;
    struct store *st = store_lock(m, false);
    for (uint32_t i = st->lru_head; i != NIL && n < st->n_slots;
         i = slot_at(st, i)->lru_next)
        ids[n++] = slot_at(st, i)->id;
    store_unlock(m);
    for (size_t k = 0; k < n; k++) {
        struct dp_session *s = dp_session_peek(m, &ids[k]);
        if (s != NULL) {
            fn(s, ctx);
            dp_session_free(s);
        }
    }
    free(ids);
    return 0;
}

void
dp_session_get_stats(struct dp_session_manager *m,
                     struct dp_session_stats *out)
{
    struct store *st = store_lock(m, false);
    *out = st->stats;
    out->chunks_used = st->chunks_used;
    out->chunks_total = st->n_chunks;
    store_unlock(m);
}
