/*
 * Fuzz target for dataplane/dp_filter_cache: the input is a list of
 * header lines ("Name: value", LF-separated) of a filter's result; a
 * line "--" ends them, and the rest is the result's body.  The first
 * byte picks the store's size and the tag.
 *
 * Invariants, checked with abort():
 * - dp_filter_cache_lifetime() says why when it refuses, and gives a
 *   positive lifetime when it accepts;
 * - a key is built, and two different ETags give two different keys;
 * - an accepted result within the per-entry limit is stored and found
 *   again (same status, headers and body) before its lifetime ends, and
 *   not after it;
 * - a flush by its tag (or of all) drops it and leaves no bytes.
 */
#include "dp_filter_cache.h"

#include <stdlib.h>
#include <string.h>

#define MAX_HEADERS 64

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    const char *s = (const char *)data + 1;
    size_t n = size - 1;
    struct dp_hc_header h[MAX_HEADERS];
    size_t nh = 0, i = 0;
    while (i < n && nh < MAX_HEADERS) {
        size_t st = i;
        while (i < n && s[i] != '\n')
            i++;
        size_t len = i - st;
        i++;
        if (len == 2 && memcmp(s + st, "--", 2) == 0)
            break;
        const char *colon = memchr(s + st, ':', len);
        if (colon == NULL)
            continue;
        const char *v = colon + 1;
        while (v < s + st + len && *v == ' ')
            v++;
        h[nh].name = s + st;
        h[nh].name_len = (size_t)(colon - (s + st));
        h[nh].value = v;
        h[nh].value_len = (size_t)(s + st + len - v);
        nh++;
    }
    const uint8_t *body = i < n ? (const uint8_t *)s + i : NULL;
    size_t body_len = i < n ? n - i : 0;

    const int64_t now = 784111777LL * 1000;
    int64_t life = 0;
    const char *why = NULL;
    bool ok = dp_filter_cache_lifetime(h, nh, now, &life, &why);
    if (ok && life <= 0)
        abort();
    if (!ok && why == NULL)
        abort();

    struct tp_filter f = { 0 };
    f.address.type = TP_ADDRESS_PIPE;
    f.address.path = "/bin/x";
    const struct tp_filter *fs[] = { &f };
    struct pr_buf k1 = PR_BUF_INIT, k2 = PR_BUF_INIT;
    if (dp_filter_cache_key(&k1, "src", 200, "\"a\"", fs, 1) != 0 ||
        dp_filter_cache_key(&k2, "src", 200, "\"b\"", fs, 1) != 0 ||
        (k1.len == k2.len && memcmp(k1.data, k2.data, k1.len) == 0))
        abort();
    char *key = malloc(k1.len + 1);
    if (key == NULL)
        abort();
    memcpy(key, k1.data, k1.len);
    key[k1.len] = '\0';
    pr_buf_free(&k1);
    pr_buf_free(&k2);

    size_t cap = (size_t)(flags & 0x0f) * 4096;
    const char *tag = (flags & 0x10) != 0 ? "t" : NULL;
    if (dp_filter_cache_configure(cap) != 0)
        abort();
    if (ok) {
        const char *lines = "X: 1\r\n";
        bool stored = dp_filter_cache_put(key, 200, lines, strlen(lines),
                                          body, body_len, tag, life, now);
        if (cap == 0 && stored)
            abort();
        if (stored) {
            struct dp_hc_entry *e = dp_filter_cache_get(key, now);
            if (e == NULL || e->status != 200 ||
                e->headers_len != strlen(lines) ||
                e->body_len != body_len ||
                (body_len > 0 && memcmp(e->body, body, body_len) != 0))
                abort();
            dp_hc_entry_unref(e);
            if (life < INT64_MAX - now &&
                dp_filter_cache_get(key, now + life) != NULL)
                abort();
            dp_filter_cache_put(key, 200, lines, strlen(lines), body,
                                body_len, tag, life, now);
            if (dp_filter_cache_flush(tag) != 1)
                abort();
            struct dp_hc_stats st;
            dp_filter_cache_stats(&st);
            if (st.entries != 0 || st.bytes != 0)
                abort();
        }
    }
    dp_filter_cache_shutdown();
    free(key);
    return 0;
}
