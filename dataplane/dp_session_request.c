/*
 * dp_session_request: the session side of one request.
 */
#include "dp_session_request.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct dp_sessions {
    struct dp_sessions_config config;
    char *cookie_name;
    struct dp_session_manager *manager;
};

struct dp_sessions *
dp_sessions_new(const struct dp_sessions_config *config)
{
    struct dp_sessions *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->config = *config;
    s->cookie_name = strdup(config->cookie_name != NULL
                                ? config->cookie_name
                                : "beng_proxy_session");
    s->manager = dp_session_manager_new(&config->store);
    if (s->cookie_name == NULL || s->manager == NULL) {
        dp_sessions_free(s);
        return NULL;
    }
    s->config.cookie_name = s->cookie_name;
    return s;
}

void
dp_sessions_free(struct dp_sessions *s)
{
    if (s == NULL)
        return;
    dp_session_manager_free(s->manager);
    free(s->cookie_name);
    free(s);
}

int
dp_sessions_reconfigure(struct dp_sessions *s,
                        const struct dp_sessions_config *config)
{
    char *name = strdup(config->cookie_name != NULL
                            ? config->cookie_name
                            : "beng_proxy_session");
    if (name == NULL)
        return -ENOMEM;
    free(s->cookie_name);
    s->cookie_name = name;
    s->config.cookie_name = name;
    s->config.dynamic_cookie = config->dynamic_cookie;
    s->config.same_site = config->same_site;
    s->config.store.idle_timeout_ms = config->store.idle_timeout_ms;
    dp_session_manager_set_idle_timeout(s->manager,
                                        config->store.idle_timeout_ms);
    return 0;
}

struct dp_session_manager *
dp_sessions_manager(struct dp_sessions *s)
{
    return s->manager;
}

uint64_t
dp_sessions_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool
dp_session_request_over_tls(const struct dp_request *req)
{
    return req->tls;
}

static const char *
lower_host(struct dp_pool *pool, const char *host)
{
    if (host == NULL)
        return "";
    /* usually lower case already: the request's own copy then */
    const char *c = host;
    while (*c != '\0' && !(*c >= 'A' && *c <= 'Z'))
        c++;
    if (*c == '\0')
        return host;
    char *s = dp_pool_strdup(pool, host);
    for (char *p = s; p != NULL && *p != '\0'; p++)
        *p = (char)tolower((unsigned char)*p);
    return s;
}

void
dp_session_request_begin(struct dp_session_request *sr,
                         struct dp_sessions *ctx, struct dp_request *req)
{
    memset(sr, 0, sizeof(*sr));
    sr->ctx = ctx;
    sr->req = req;
    if (ctx == NULL)
        return;
    sr->realm = lower_host(req->pool, req->host);
    char name[256];
    if (dp_session_cookie_name(name, sizeof(name), ctx->config.cookie_name,
                               ctx->config.dynamic_cookie, req->host) < 0)
        snprintf(name, sizeof(name), "%s", "beng_proxy_session");
    sr->cookie_name = dp_pool_strdup(req->pool, name);
    if (sr->cookie_name == NULL)
        return;
    for (size_t i = 0; i < req->n_headers; i++) {
        const char *hn = req->headers[i].name;
        if ((hn[0] | 0x20) != 'c' || strcasecmp(hn, "Cookie") != 0)
            continue;
        struct pr_slice v;
        struct dp_session_id id;
        if (!dp_session_cookie_find(req->headers[i].value, sr->cookie_name,
                                    &v) ||
            !dp_session_id_parse((const char *)v.data, v.len, &id))
            continue;
        if (dp_session_touch(ctx->manager, &id, dp_sessions_now())) {
            sr->has_session = true;
            sr->id = id;
            return;
        }
    }
}

struct dp_session *
dp_session_request_session(struct dp_session_request *sr)
{
    if (sr->ctx == NULL || !sr->has_session)
        return NULL;
    struct dp_session *s = dp_session_get(sr->ctx->manager, &sr->id,
                                          dp_sessions_now());
    if (s == NULL)
        sr->has_session = false;
    return s;
}

static struct pr_slice
pool_copy(struct dp_pool *pool, const struct dp_session_bytes *b)
{
    struct pr_slice out = { NULL, 0 };
    if (b->data == NULL)
        return out;
    char *copy = dp_pool_strndup(pool, b->data, b->len);
    if (copy != NULL) {
        out.data = (const uint8_t *)copy;
        out.len = b->len;
    }
    return out;
}

struct pr_slice
dp_session_request_translate(struct dp_session_request *sr)
{
    struct dp_session *s = dp_session_request_session(sr);
    struct pr_slice out = { NULL, 0 };
    if (s != NULL)
        out = pool_copy(sr->req->pool, &s->translate);
    dp_session_free(s);
    return out;
}

struct pr_slice
dp_session_request_realm_translate(struct dp_session_request *sr)
{
    struct dp_session *s = dp_session_request_session(sr);
    struct pr_slice out = { NULL, 0 };
    struct dp_realm_session *r =
        s != NULL ? dp_session_realm(s, sr->realm) : NULL;
    if (r != NULL)
        out = pool_copy(sr->req->pool, &r->translate);
    dp_session_free(s);
    return out;
}

void
dp_session_request_set_realm(struct dp_session_request *sr,
                             const char *realm, size_t len)
{
    if (sr->ctx == NULL)
        return;
    /* a realm name is text: stop at a NUL of an opaque AUTH payload */
    const char *nul = memchr(realm, 0, len);
    if (nul != NULL)
        len = (size_t)(nul - realm);
    const char *copy = dp_pool_strndup(sr->req->pool, realm, len);
    if (copy != NULL)
        sr->realm = copy;
}

bool
dp_session_managed(const struct tp_response *r)
{
    uint8_t in = r->request_header_forward[TP_HG_COOKIE];
    uint8_t out = r->response_header_forward[TP_HG_COOKIE];
    return (in == TP_HF_MANGLE || in == TP_HF_BOTH) &&
           (out == TP_HF_MANGLE || out == TP_HF_BOTH);
}

static bool
needs_session(const struct tp_response *r)
{
    return (r->session.data != NULL && r->session.len > 0) ||
           (r->realm_session.data != NULL && r->realm_session.len > 0) ||
           (r->user != NULL && r->user[0] != '\0') ||
           r->attach_session.data != NULL ||
           (r->language != NULL && r->language[0] != '\0') ||
           (r->session_site != NULL && r->session_site[0] != '\0');
}

static const char *
stored(int rc, const char *what)
{
    if (rc == 0)
        return NULL;
    return rc == -E2BIG ? what : "session: out of memory";
}

/* Move what `from` has and `to` lacks into `to` (ATTACH_SESSION). */
static void
merge_into(struct dp_session *to, struct dp_session *from)
{
    if (to->translate.data == NULL) {
        to->translate = from->translate;
        from->translate.data = NULL;
    }
    if (to->language == NULL) {
        to->language = from->language;
        from->language = NULL;
    }
    if (to->site == NULL) {
        to->site = from->site;
        from->site = NULL;
    }
    for (size_t i = 0; i < from->n_realms; i++) {
        struct dp_realm_session *fr = &from->realms[i];
        if (dp_session_realm(to, fr->realm) != NULL ||
            to->n_realms == DP_SESSION_MAX_REALMS)
            continue;
        to->realms[to->n_realms++] = *fr;
        memset(fr, 0, sizeof(*fr));
    }
}

/* One line per eviction event: at the session limit (create) or with the
 * value heap full (put). */
static void
log_evicted(struct dp_session_manager *m, size_t n, bool heap)
{
    if (n == 0)
        return;
    struct dp_session_stats st;
    dp_session_get_stats(m, &st);
    if (heap)
        fprintf(stderr, "portierd: session value heap full (%zu KiB): %zu "
                "least recently used session(s) evicted (%llu so far)\n",
                st.chunks_total / 4, n, (unsigned long long)st.evicted);
    else
        fprintf(stderr, "portierd: session limit %zu reached: the least "
                "recently used session was evicted (%llu so far)\n",
                dp_session_manager_config(m)->max_sessions,
                (unsigned long long)st.evicted);
}

const char *
dp_session_request_apply(struct dp_session_request *sr,
                         const struct tp_response *r)
{
    if (sr->ctx == NULL || !dp_session_managed(r))
        return NULL;
    struct dp_session_manager *m = sr->ctx->manager;
    uint64_t now = dp_sessions_now();
    const char *why = NULL;
    struct dp_session *s = dp_session_request_session(sr);
    if (r->discard_session && s != NULL) {
        dp_session_discard(m, &s->id);
        dp_session_free(s);
        s = NULL;
        sr->has_session = false;
    }
    if (s == NULL && needs_session(r)) {
        bool evicted = false;
        const char *err = NULL;
        s = dp_session_create(m, now, &evicted, &err);
        if (s == NULL)
            return err;
        log_evicted(m, evicted ? 1 : 0, false);
        sr->has_session = true;
        sr->id = s->id;
        sr->send_cookie = true;
    }
    if (s == NULL)
        return NULL;
    if (r->session.data != NULL)
        why = stored(dp_session_bytes_set(&s->translate,
                                          r->session.len > 0
                                              ? r->session.data : NULL,
                                          r->session.len),
                     "SESSION is too long to keep");
    if (r->language != NULL && why == NULL)
        why = stored(dp_session_string_set(&s->language,
                                           r->language[0] != '\0'
                                               ? r->language : NULL),
                     "LANGUAGE is too long to keep");
    if (r->session_site != NULL && why == NULL)
        why = stored(dp_session_string_set(&s->site,
                                           r->session_site[0] != '\0'
                                               ? r->session_site : NULL),
                     "SESSION_SITE is too long to keep");
    if (r->discard_realm_session)
        dp_session_realm_discard(s, sr->realm);
    bool realm_needed =
        (r->realm_session.data != NULL && r->realm_session.len > 0) ||
        (r->user != NULL && r->user[0] != '\0');
    struct dp_realm_session *rs =
        realm_needed ? dp_session_realm_make(s, sr->realm)
                     : dp_session_realm(s, sr->realm);
    if (realm_needed && rs == NULL && why == NULL)
        why = "session: out of memory (realm)";
    if (rs != NULL) {
        if (r->realm_session.data != NULL && why == NULL)
            why = stored(dp_session_bytes_set(
                             &rs->translate,
                             r->realm_session.len > 0 ? r->realm_session.data
                                                      : NULL,
                             r->realm_session.len),
                         "REALM_SESSION is too long to keep");
        if (r->user != NULL && why == NULL) {
            why = stored(dp_session_string_set(&rs->user,
                                               r->user[0] != '\0' ? r->user
                                                                  : NULL),
                         "USER is too long to keep");
            rs->user_expires_ms =
                r->user[0] != '\0' && r->user_max_age != TP_MAX_AGE_UNSET
                    ? now + (uint64_t)r->user_max_age * 1000u
                    : 0;
        }
    }
    if (r->attach_session.data != NULL && why == NULL) {
        struct dp_session_id other_id;
        struct dp_session *other =
            dp_session_find_attached(m, &s->id, r->attach_session.data,
                                     r->attach_session.len, now, &other_id)
                ? dp_session_get(m, &other_id, now)
                : NULL;
        if (other != NULL) {
            /* join the other session: it gets what it lacks, this one
             * goes */
            merge_into(other, s);
            dp_session_discard(m, &s->id);
            dp_session_free(s);
            s = other;
            sr->id = other_id;
            sr->send_cookie = true;
        } else {
            why = stored(dp_session_bytes_set(&s->attach,
                                              r->attach_session.data,
                                              r->attach_session.len),
                         "ATTACH_SESSION is too long to keep");
        }
    }
    /* write the changed copy back */
    size_t evicted = 0;
    int rc = dp_session_put(m, s, now, &evicted);
    log_evicted(m, evicted, true);
    dp_session_free(s);
    if (rc == -ENOENT) {
        sr->has_session = false;
        if (why == NULL)
            why = "session: removed by another request meanwhile; the "
                  "response's session changes are lost";
    } else if (rc != 0 && why == NULL) {
        why = rc == -ENOMEM ? "session: out of memory"
                            : "session: too large for the session store";
    }
    return why;
}

const char *
dp_session_request_session_user(struct dp_session_request *sr)
{
    struct dp_session *s = dp_session_request_session(sr);
    if (s == NULL)
        return NULL;
    const char *u = dp_realm_session_user(dp_session_realm(s, sr->realm),
                                          dp_sessions_now());
    const char *out = u != NULL ? dp_pool_strdup(sr->req->pool, u) : NULL;
    dp_session_free(s);
    return out;
}

const char *
dp_session_request_user(struct dp_session_request *sr)
{
    if (sr->http_auth_user != NULL)
        return sr->http_auth_user;
    return dp_session_request_session_user(sr);
}

int
dp_session_request_add_cookie(struct dp_session_request *sr,
                              const struct tp_response *r,
                              struct dp_response_headers *h)
{
    if (sr->ctx == NULL || !sr->send_cookie ||
        (r != NULL && !dp_session_managed(r)))
        return 0;
    if (!sr->has_session ||
        !dp_session_touch(sr->ctx->manager, &sr->id, dp_sessions_now())) {
        sr->has_session = false;
        return 0;
    }
    struct dp_session_cookie_options o = {
        .secure = dp_session_request_over_tls(sr->req) ||
                  (r != NULL && r->secure_cookie),
        .same_site = sr->ctx->config.same_site,
        .domain = r != NULL ? r->cookie_domain : NULL,
        .path = r != NULL ? r->cookie_path : NULL,
    };
    if (r != NULL) {
        switch (r->session_cookie_same_site) {
        case TP_SAME_SITE_STRICT:
            o.same_site = DP_SESSION_SAME_SITE_STRICT;
            break;
        case TP_SAME_SITE_LAX:
            o.same_site = DP_SESSION_SAME_SITE_LAX;
            break;
        case TP_SAME_SITE_NONE:
            o.same_site = DP_SESSION_SAME_SITE_NONE;
            break;
        case TP_SAME_SITE_DEFAULT:
            break;
        }
    }
    char value[1024];
    if (dp_session_set_cookie(value, sizeof(value), sr->cookie_name, &sr->id,
                              &o) < 0) {
        /* COOKIE_DOMAIN/COOKIE_PATH unfit for a cookie: without them */
        o.domain = o.path = NULL;
        if (dp_session_set_cookie(value, sizeof(value), sr->cookie_name,
                                  &sr->id, &o) < 0)
            return 0;
    }
    return dp_response_header(h, "Set-Cookie", value);
}
