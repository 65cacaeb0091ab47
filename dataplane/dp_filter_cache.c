/*
 * dp_filter_cache: the filter cache.  See dp_filter_cache.h.
 */
#include "dp_filter_cache.h"

#include "dp_http_date.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ---- pure ---- */

static int
put_str(struct pr_buf *out, const char *s)
{
    if (s == NULL)
        s = "";
    /* a length prefix keeps "ab"+"c" apart from "a"+"bc" */
    char len[24];
    int n = snprintf(len, sizeof(len), "%zu:", strlen(s));
    return pr_buf_append(out, len, (size_t)n) != 0 ||
                   pr_buf_append(out, s, strlen(s)) != 0
               ? -ENOMEM
               : 0;
}

static int
put_list(struct pr_buf *out, const struct tp_expandable_list *l)
{
    char n[24];
    int k = snprintf(n, sizeof(n), "[%zu]", l->n);
    if (pr_buf_append(out, n, (size_t)k) != 0)
        return -ENOMEM;
    for (size_t i = 0; i < l->n; i++)
        if (put_str(out, l->v[i].value) != 0)
            return -ENOMEM;
    return 0;
}

int
dp_filter_cache_address_id(struct pr_buf *out, const struct tp_address *a)
{
    char t[32];
    int n = snprintf(t, sizeof(t), "t%d/%d", (int)a->type, (int)a->scheme);
    if (pr_buf_append(out, t, (size_t)n) != 0 ||
        put_str(out, a->host_and_port) != 0 || put_str(out, a->path) != 0 ||
        put_str(out, a->document_root) != 0 ||
        put_str(out, a->script_name) != 0 ||
        put_str(out, a->path_info) != 0 ||
        put_str(out, a->interpreter) != 0 || put_str(out, a->action) != 0 ||
        put_str(out, a->nfs_server) != 0 || put_str(out, a->nfs_export) != 0 ||
        put_str(out, a->lhttp_uri) != 0 || put_list(out, &a->args) != 0 ||
        put_list(out, &a->params) != 0 ||
        put_list(out, &a->child.env) != 0)
        return -ENOMEM;
    return 0;
}

int
dp_filter_cache_key(struct pr_buf *out, const char *source_id,
                    unsigned status, const char *etag,
                    const struct tp_filter *const *filters, size_t n)
{
    char st[16];
    int k = snprintf(st, sizeof(st), "%u", status);
    if (pr_buf_append(out, "filter\n", 7) != 0 ||
        put_str(out, source_id) != 0 ||
        pr_buf_append(out, st, (size_t)k) != 0 || put_str(out, etag) != 0)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (pr_buf_append(out, "\n", 1) != 0 ||
            dp_filter_cache_address_id(out, &filters[i]->address) != 0)
            return -ENOMEM;
    return 0;
}

const struct dp_hc_header *
dp_filter_cache_find_header(const struct dp_hc_header *h, size_t n,
                            const char *name)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (h[i].name_len == nl && strncasecmp(h[i].name, name, nl) == 0)
            return &h[i];
    return NULL;
}

bool
dp_filter_cache_lifetime(const struct dp_hc_header *h, size_t n,
                         int64_t now_ms, int64_t *lifetime_ms,
                         const char **why)
{
    struct dp_hc_cc cc;
    dp_hc_cc_init(&cc);
    for (size_t i = 0; i < n; i++)
        if (h[i].name_len == 13 &&
            strncasecmp(h[i].name, "Cache-Control", 13) == 0)
            dp_hc_parse_cache_control(&cc, h[i].value, h[i].value_len);
    if (cc.no_store) {
        *why = "no-store";
        return false;
    }
    if (cc.no_cache) {
        *why = "no-cache";
        return false;
    }
    if (cc.private_) {
        *why = "private";
        return false;
    }
    int64_t life = DP_FILTER_CACHE_DEFAULT_TTL_MS;
    const struct dp_hc_header *ex =
        dp_filter_cache_find_header(h, n, "Expires");
    if (cc.s_maxage >= 0) {
        life = cc.s_maxage * 1000;
    } else if (cc.max_age >= 0) {
        life = cc.max_age * 1000;
    } else if (ex != NULL) {
        time_t now = (time_t)(now_ms / 1000), e, d;
        const struct dp_hc_header *date =
            dp_filter_cache_find_header(h, n, "Date");
        if (dp_http_date_parse(ex->value, ex->value_len, now, &e) != 0) {
            life = 0;   /* an invalid Expires means "already expired" */
        } else {
            if (date == NULL ||
                dp_http_date_parse(date->value, date->value_len, now,
                                   &d) != 0)
                d = now;
            life = e > d ? ((int64_t)e - (int64_t)d) * 1000 : 0;
        }
    }
    if (life <= 0) {
        *why = "expired at once";
        return false;
    }
    *lifetime_ms = life;
    return true;
}

/* ---- the worker's store ---- */

static struct dp_hc_store *store;

int
dp_filter_cache_configure(size_t size)
{
    dp_filter_cache_shutdown();
    if (size == 0)
        return 0;
    store = dp_hc_store_new(size);
    return store != NULL ? 0 : -1;
}

void
dp_filter_cache_shutdown(void)
{
    dp_hc_store_free(store);
    store = NULL;
}

bool
dp_filter_cache_enabled(void)
{
    return store != NULL;
}

size_t
dp_filter_cache_flush(const char *tag)
{
    if (store == NULL)
        return 0;
    return dp_hc_store_flush(store, tag != NULL && tag[0] != '\0' ? tag
                                                                   : NULL);
}

void
dp_filter_cache_stats(struct dp_hc_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (store != NULL)
        dp_hc_store_stats(store, out);
}

bool
dp_filter_cache_put(const char *key, unsigned status, const char *headers,
                    size_t headers_len, const uint8_t *body, size_t body_len,
                    const char *tag, int64_t lifetime_ms, int64_t now_ms)
{
    if (store == NULL || body_len > dp_hc_store_entry_limit(store))
        return false;
    struct dp_hc_facts f = {
        .lifetime_ms = lifetime_ms,
        .initial_age_ms = 0,
        .response_ms = now_ms,
        .shared = true,
    };
    if (headers == NULL) {
        headers = "";
        headers_len = 0;
    }
    struct dp_hc_entry *e = dp_hc_entry_new(key, status, headers,
                                            headers_len, body, body_len, tag,
                                            &f, NULL, 0);
    if (e == NULL)
        return false;
    bool ok = dp_hc_store_put(store, e);
    dp_hc_entry_unref(e);
    return ok;
}

struct dp_hc_entry *
dp_filter_cache_get(const char *key, int64_t now_ms)
{
    if (store == NULL)
        return NULL;
    struct dp_hc_entry *e = dp_hc_store_lookup(store, key, NULL, 0);
    if (e == NULL)
        return NULL;
    if (e->facts.lifetime_ms <=
        dp_hc_current_age(e->facts.initial_age_ms, e->facts.response_ms,
                          now_ms)) {
        dp_hc_store_remove(store, e);
        dp_hc_entry_unref(e);
        return NULL;
    }
    return e;
}

size_t
dp_filter_cache_entry_limit(void)
{
    return store != NULL ? dp_hc_store_entry_limit(store) : 0;
}

void
dp_filter_cache_count(bool hit)
{
    if (store != NULL)
        dp_hc_store_count(store, hit, !hit, false);
}

int
dp_filter_cache_source(struct pr_buf *out, const char *host,
                       const char *path, const char *query,
                       const struct tp_address *a)
{
    if (put_str(out, host) != 0 || put_str(out, path) != 0 ||
        pr_buf_append(out, query != NULL ? "?" : "-", 1) != 0 ||
        put_str(out, query) != 0 || dp_filter_cache_address_id(out, a) != 0)
        return -ENOMEM;
    return 0;
}
