/*
 * dp_client_ban: a small open table.  Bans are rare and few (an operator
 * or an abuse detector names addresses), and the check runs once per
 * accepted connection: a linear scan of a compact array is cheaper than
 * hashing for the sizes that occur, and the scan stops at `used`.
 */
#include "dp_client_ban.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ban_entry {
    uint8_t addr[16];
    uint64_t until_ms;
    enum dp_ban_kind kind;
};

struct dp_client_ban {
    size_t capacity, used;
    struct ban_entry entries[];
};

int
dp_client_ban_parse(const uint8_t *payload, size_t len,
                    struct dp_ban_request *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (len < 5) {
        snprintf(err, errlen, "payload of %zu bytes: expected 4 bytes of "
                 "seconds and an address", len);
        return -1;
    }
    out->seconds = (uint32_t)payload[0] << 24 | (uint32_t)payload[1] << 16 |
                   (uint32_t)payload[2] << 8 | payload[3];
    const char *a = (const char *)payload + 4;
    size_t n = len - 4;
    if (n >= sizeof(out->text)) {
        snprintf(err, errlen, "address of %zu bytes is too long", n);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (a[i] <= ' ' || a[i] > '~') {
            snprintf(err, errlen, "address contains byte 0x%02x",
                     (unsigned char)a[i]);
            return -1;
        }
    memcpy(out->text, a, n);
    out->text[n] = '\0';
    char ip[64];
    memcpy(ip, a, n);
    ip[n] = '\0';
    char *p = ip;
    if (p[0] == '[' && n >= 2 && p[n - 1] == ']') {
        p[n - 1] = '\0';
        p++;
    }
    struct in_addr v4;
    if (inet_pton(AF_INET, p, &v4) == 1) {
        memset(out->addr, 0, 10);
        out->addr[10] = 0xff;
        out->addr[11] = 0xff;
        memcpy(out->addr + 12, &v4, 4);
        return 0;
    }
    if (inet_pton(AF_INET6, p, out->addr) == 1)
        return 0;
    snprintf(err, errlen, "'%s' is not an IPv4 or IPv6 address",
             out->text);
    return -1;
}

struct dp_client_ban *
dp_client_ban_new(size_t capacity)
{
    if (capacity == 0)
        capacity = 4096;
    struct dp_client_ban *b =
        calloc(1, sizeof(*b) + capacity * sizeof(b->entries[0]));
    if (b != NULL)
        b->capacity = capacity;
    return b;
}

void
dp_client_ban_free(struct dp_client_ban *b)
{
    free(b);
}

static size_t
find(const struct dp_client_ban *b, const uint8_t addr[16])
{
    for (size_t i = 0; i < b->used; i++)
        if (memcmp(b->entries[i].addr, addr, 16) == 0)
            return i;
    return SIZE_MAX;
}

bool
dp_client_ban_add(struct dp_client_ban *b, enum dp_ban_kind kind,
                  const struct dp_ban_request *r, uint64_t now_ms)
{
    size_t i = find(b, r->addr);
    struct ban_entry *e = i != SIZE_MAX ? &b->entries[i] : NULL;
    if (r->seconds == 0 || kind == DP_BAN_NONE) {
        if (e != NULL)
            *e = b->entries[--b->used];
        return false;
    }
    uint32_t secs = r->seconds < DP_BAN_MAX_SECONDS ? r->seconds
                                                     : DP_BAN_MAX_SECONDS;
    bool evicted = false;
    if (e == NULL) {
        if (b->used < b->capacity) {
            e = &b->entries[b->used++];
        } else {
            /* Full: reuse the entry that ends first (an expired one when
             * there is one). */
            e = &b->entries[0];
            for (size_t j = 1; j < b->used; j++)
                if (b->entries[j].until_ms < e->until_ms)
                    e = &b->entries[j];
            evicted = e->until_ms > now_ms;
        }
        memcpy(e->addr, r->addr, 16);
    }
    e->kind = kind;
    e->until_ms = now_ms + (uint64_t)secs * 1000;
    return evicted;
}

enum dp_ban_kind
dp_client_ban_check(const struct dp_client_ban *b,
                    const struct sockaddr *peer, uint64_t now_ms)
{
    if (b == NULL || b->used == 0)
        return DP_BAN_NONE;
    uint8_t addr[16];
    if (peer->sa_family == AF_INET) {
        memset(addr, 0, 10);
        addr[10] = 0xff;
        addr[11] = 0xff;
        memcpy(addr + 12,
               &((const struct sockaddr_in *)(const void *)peer)->sin_addr,
               4);
    } else if (peer->sa_family == AF_INET6) {
        memcpy(addr,
               &((const struct sockaddr_in6 *)(const void *)peer)->sin6_addr,
               16);
    } else {
        return DP_BAN_NONE;
    }
    size_t i = find(b, addr);
    return i != SIZE_MAX && b->entries[i].until_ms > now_ms
               ? b->entries[i].kind : DP_BAN_NONE;
}

size_t
dp_client_ban_count(const struct dp_client_ban *b, uint64_t now_ms)
{
    size_t n = 0;
    for (size_t i = 0; i < b->used; i++)
        if (b->entries[i].until_ms > now_ms)
            n++;
    return n;
}
