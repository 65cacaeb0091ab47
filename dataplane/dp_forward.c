/*
 * Header forwarding: every header name is classified once (a small
 * switch on its length-independent prefix), then the group's mode
 * decides.  The generated headers (User-Agent, Via, X-Forwarded-For,
 * X-Forwarded-Host) are written after the forwarded ones.
 */
#include "dp_forward.h"

#include "h1_chars.h"
#include "tp_response.h"

#include <stdio.h>
#include <string.h>

/* Classes besides the groups (enum tp_header_group, 0..TP_HG_COUNT). */
enum {
    C_ALWAYS = -1,
    C_DROP = -2,
    C_USER_AGENT = -3,
    C_VIA = -4,
    C_XFF = -5,
    C_HOST = -6,
    C_GENERATOR = -7,
};

static bool
eq_n(const struct pr_slice *s, const char *lower, size_t n)
{
    if (s->len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (h1_lower(s->data[i]) != (uint8_t)lower[i])
            return false;
    return true;
}

/* Compare with a lower-case string literal (its length at compile time,
 * so most names are refused by their length alone). */
#define eq(s, literal) eq_n((s), "" literal, sizeof(literal) - 1)

/* The rest of s after the lower-case prefix, or false. */
static bool
after(const struct pr_slice *s, const char *prefix, struct pr_slice *rest)
{
    size_t n = strlen(prefix);
    if (s->len < n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (h1_lower(s->data[i]) != (uint8_t)prefix[i])
            return false;
    rest->data = s->data + n;
    rest->len = s->len - n;
    return true;
}

static bool
is_hop_by_hop(const struct pr_slice *n)
{
#define NAME(x) { x, sizeof(x) - 1 }
    static const struct {
        const char *s;
        size_t n;
    } names[] = {
        NAME("connection"), NAME("keep-alive"), NAME("proxy-authenticate"),
        NAME("proxy-authorization"), NAME("proxy-connection"), NAME("te"),
        NAME("trailer"), NAME("transfer-encoding"), NAME("upgrade"),
        NAME("content-length"), NAME("expect"),
    };
#undef NAME
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (eq_n(n, names[i].s, names[i].n))
            return true;
    return false;
}

/* "1.1 <local host>" for Via, in via (the host cut to fit size), or NULL
 * without a local host. */
static const char *
own_via(char *via, size_t size, const char *local_host)
{
    if (local_host == NULL)
        return NULL;
    size_t ln = strlen(local_host);
    if (ln > size - 5)
        ln = size - 5;
    memcpy(via, "1.1 ", 4);
    memcpy(via + 4, local_host, ln);
    via[4 + ln] = '\0';
    return via;
}

/* The token of a Connection value v at *i, after the commas and OWS in
 * front of it; *i moves past it.  Empty at the end of v. */
static struct pr_slice
connection_token(const struct pr_slice *v, size_t *i)
{
    size_t k = *i;
    while (k < v->len && (v->data[k] == ',' || h1_is_ows(v->data[k])))
        k++;
    size_t s = k;
    while (k < v->len && v->data[k] != ',' && !h1_is_ows(v->data[k]))
        k++;
    *i = k;
    return (struct pr_slice){ v->data + s, k - s };
}

/* True when `name` is one of the tokens of the Connection headers. */
static bool
named_by_connection(const struct h1_header *h, size_t n,
                    const struct pr_slice *name)
{
    for (size_t k = 0; k < n; k++) {
        if (!eq(&h[k].name, "connection"))
            continue;
        size_t i = 0;
        while (i < h[k].value.len) {
            struct pr_slice t = connection_token(&h[k].value, &i);
            if (t.len != name->len)
                continue;
            size_t j = 0;
            while (j < t.len && h1_lower(t.data[j]) == h1_lower(name->data[j]))
                j++;
            if (j == t.len)
                return true;
        }
    }
    return false;
}

/* True when some Connection header names a header (a token other than
 * close and keep-alive, which name nothing to drop). */
static bool
connection_names_headers(const struct h1_header *h, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (!eq(&h[k].name, "connection"))
            continue;
        size_t i = 0;
        while (i < h[k].value.len) {
            struct pr_slice t = connection_token(&h[k].value, &i);
            if (t.len > 0 && !eq(&t, "close") && !eq(&t, "keep-alive"))
                return true;
        }
    }
    return false;
}

/* Upgrade and Sec-WebSocket-*, and in a request Origin: passed on an
 * upgrade whatever the groups say. */
static bool
is_upgrade_header(const struct pr_slice *n, bool request)
{
    struct pr_slice r;
    return eq(n, "upgrade") || after(n, "sec-websocket-", &r) ||
           (request && eq(n, "origin"));
}

static bool
is_body_header(const struct pr_slice *rest)
{
    return eq(rest, "encoding") || eq(rest, "language") ||
           eq(rest, "md5") || eq(rest, "range") || eq(rest, "type") ||
           eq(rest, "disposition");
}

static int
classify_request(const struct pr_slice *n, bool with_body)
{
    struct pr_slice r;
    if (is_hop_by_hop(n))
        return C_DROP;
    if (eq(n, "accept") || eq(n, "cache-control") || eq(n, "from"))
        return C_ALWAYS;
    if (eq(n, "accept-charset") || eq(n, "accept-encoding") ||
        eq(n, "accept-language") || eq(n, "range") ||
        eq(n, "if-modified-since") || eq(n, "if-unmodified-since") ||
        eq(n, "if-match") || eq(n, "if-none-match") || eq(n, "if-range"))
        return C_ALWAYS;
    if (after(n, "content-", &r))
        return is_body_header(&r) ? (with_body ? C_ALWAYS : C_DROP)
                                  : TP_HG_OTHER;
    if (eq(n, "host"))
        return C_HOST;
    if (eq(n, "user-agent"))
        return C_USER_AGENT;
    if (eq(n, "via"))
        return C_VIA;
    if (eq(n, "x-forwarded-for"))
        return C_XFF;
    if (eq(n, "cookie") || eq(n, "cookie2"))
        return TP_HG_COOKIE;
    if (eq(n, "authorization"))
        return TP_HG_AUTH;
    if (eq(n, "referer"))
        return TP_HG_LINK;
    if (eq(n, "origin") || eq(n, "access-control-request-method") ||
        eq(n, "access-control-request-headers"))
        return TP_HG_CORS;
    if (after(n, "x-cm4all-", &r)) {
        struct pr_slice b;
        if (eq(&r, "docroot"))
            return C_DROP;
        if (eq(&r, "https"))
            return TP_HG_SSL;
        if (after(&r, "beng-", &b)) {
            if (eq(&b, "user"))
                return C_DROP;
            if (eq(&b, "peer-subject") || eq(&b, "peer-issuer-subject"))
                return TP_HG_SSL;
            return TP_HG_SECURE;
        }
    }
    return TP_HG_OTHER;
}

static int
emit_slice(dp_forward_emit emit, void *ctx, const struct h1_header *h)
{
    return emit(ctx, (const char *)h->name.data, h->name.len,
                (const char *)h->value.data, h->value.len);
}

/* Cookie without the pairs named `exclude`; written into out (room for
 * the whole value).  Returns the length (0: nothing left). */
static size_t
cookie_exclude(const struct pr_slice *v, const char *exclude, char *out)
{
    size_t o = 0, i = 0, xn = exclude != NULL ? strlen(exclude) : 0;
    while (i < v->len) {
        while (i < v->len && (v->data[i] == ';' || h1_is_ows(v->data[i])))
            i++;
        size_t s = i;
        while (i < v->len && v->data[i] != ';')
            i++;
        size_t e = i;
        while (e > s && h1_is_ows(v->data[e - 1]))
            e--;
        if (e == s)
            continue;
        size_t nl = 0;
        while (s + nl < e && v->data[s + nl] != '=')
            nl++;
        while (nl > 0 && h1_is_ows(v->data[s + nl - 1]))
            nl--;
        if (xn > 0 && nl == xn && memcmp(v->data + s, exclude, xn) == 0)
            continue;
        if (o > 0) {
            out[o++] = ';';
            out[o++] = ' ';
        }
        memcpy(out + o, v->data + s, e - s);
        o += e - s;
    }
    return o;
}

/* The values of every header named `lower`, joined with ", " into out
 * (cap bytes); the length, or 0 when there is none.  Values that do
 * not fit are left out. */
static size_t
join_values(const struct h1_header *h, size_t n, const char *lower,
            char *out, size_t cap)
{
    size_t o = 0;
    for (size_t k = 0; k < n; k++) {
        if (!eq_n(&h[k].name, lower, strlen(lower)) || h[k].value.len == 0)
            continue;
        size_t need = h[k].value.len + (o > 0 ? 2 : 0);
        if (o + need > cap)
            continue;
        if (o > 0) {
            out[o++] = ',';
            out[o++] = ' ';
        }
        memcpy(out + o, h[k].value.data, h[k].value.len);
        o += h[k].value.len;
    }
    return o;
}

/* Emit `name` with the joined values of the header, and `append` after
 * them (", " between) when not NULL. */
static int
emit_joined(dp_forward_emit emit, void *ctx, const struct h1_header *h,
            size_t n, const char *lower, const char *name,
            const char *append)
{
    char buf[4096];
    size_t an = append != NULL ? strlen(append) : 0;
    size_t len = join_values(h, n, lower, buf, sizeof(buf) - an - 2);
    if (an > 0) {
        if (len > 0) {
            buf[len++] = ',';
            buf[len++] = ' ';
        }
        memcpy(buf + len, append, an);
        len += an;
    }
    if (len == 0)
        return 0;
    return emit(ctx, name, strlen(name), buf, len);
}

int
dp_forward_request_headers(const struct dp_forward_request *in,
                           dp_forward_emit emit, void *ctx)
{
    const struct h1_header *h = in->headers;
    size_t n = in->n_headers;
    const uint8_t *m = in->modes;
    const struct h1_header *host = NULL, *agent = NULL;
    bool named = connection_names_headers(h, n);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct pr_slice *name = &h[i].name;
        int c = classify_request(name, in->with_body);
        if (c != C_DROP && named && named_by_connection(h, n, name))
            c = C_DROP;
        if (in->upgrade && is_upgrade_header(name, true))
            c = C_ALWAYS;
        switch (c) {
        case C_ALWAYS:
            rc = emit_slice(emit, ctx, &h[i]);
            break;
        case C_DROP:
        case C_VIA:
        case C_XFF:
            break;
        case C_HOST:
            if (host == NULL)
                host = &h[i];
            break;
        case C_USER_AGENT:
            if (agent == NULL)
                agent = &h[i];
            break;
        default:
            if (m[c] == TP_HF_YES) {
                rc = emit_slice(emit, ctx, &h[i]);
            } else if (m[c] == TP_HF_BOTH && c == TP_HG_COOKIE) {
                if (eq(name, "cookie2")) {
                    rc = emit_slice(emit, ctx, &h[i]);
                    break;
                }
                char buf[8192];
                if (h[i].value.len > sizeof(buf))
                    break;
                size_t len = cookie_exclude(&h[i].value,
                                            in->session_cookie, buf);
                if (len > 0)
                    rc = emit(ctx, (const char *)name->data, name->len, buf,
                              len);
            }
            break;
        }
    }
    if (rc == 0 && in->upgrade)
        rc = emit(ctx, "Connection", 10, "Upgrade", 7);
    if (rc != 0)
        return rc;

    uint8_t cap = m[TP_HG_CAPABILITIES];
    if (cap != TP_HF_NO) {
        const char *product = in->product != NULL ? in->product : "Portier";
        if (cap == TP_HF_MANGLE || agent == NULL)
            rc = emit(ctx, "User-Agent", 10, product, strlen(product));
        else
            rc = emit_slice(emit, ctx, agent);
        if (rc != 0)
            return rc;
    }
    uint8_t id = m[TP_HG_IDENTITY];
    if (id != TP_HF_NO) {
        bool mangle = id == TP_HF_MANGLE;
        char via[300];
        const char *own =
            mangle ? own_via(via, sizeof(via), in->local_host) : NULL;
        rc = emit_joined(emit, ctx, h, n, "via", "Via", own);
        if (rc == 0)
            rc = emit_joined(emit, ctx, h, n, "x-forwarded-for",
                             "X-Forwarded-For",
                             mangle ? in->remote_host : NULL);
        if (rc != 0)
            return rc;
    }
    if (m[TP_HG_FORWARD] == TP_HF_MANGLE && host != NULL)
        rc = emit(ctx, "X-Forwarded-Host", 16,
                  (const char *)host->value.data, host->value.len);
    if (rc == 0 && m[TP_HG_SECURE] == TP_HF_MANGLE && in->user != NULL &&
        in->user[0] != '\0' && h1_is_field_value(in->user, strlen(in->user)))
        rc = emit(ctx, "X-CM4all-BENG-User", 18, in->user, strlen(in->user));
    if (rc == 0 && m[TP_HG_SSL] == TP_HF_MANGLE) {
        if (in->peer_subject != NULL)
            rc = emit(ctx, "X-CM4all-BENG-Peer-Subject", 26,
                      in->peer_subject, strlen(in->peer_subject));
        if (rc == 0 && in->peer_issuer_subject != NULL)
            rc = emit(ctx, "X-CM4all-BENG-Peer-Issuer-Subject", 33,
                      in->peer_issuer_subject,
                      strlen(in->peer_issuer_subject));
    }
    return rc;
}

static int
classify_response(const struct pr_slice *n)
{
    struct pr_slice r;
    if (is_hop_by_hop(n) || eq(n, "date") || eq(n, "server"))
        return C_DROP;
    if (eq(n, "accept-ranges") || eq(n, "age") || eq(n, "allow") ||
        eq(n, "cache-control") || eq(n, "digest") || eq(n, "etag") ||
        eq(n, "expires") || eq(n, "last-modified") ||
        eq(n, "retry-after") || eq(n, "vary") ||
        eq(n, "x-content-type-options") || eq(n, "x-frame-options"))
        return C_ALWAYS;
    if (after(n, "content-", &r))
        return eq(&r, "location") ? TP_HG_LINK : C_ALWAYS;
    if (eq(n, "location"))
        return TP_HG_LINK;
    if (after(n, "access-control-", &r))
        return TP_HG_CORS;
    if (eq(n, "www-authenticate") || eq(n, "authentication-info"))
        return TP_HG_AUTH;
    if (eq(n, "set-cookie") || eq(n, "set-cookie2"))
        return TP_HG_COOKIE;
    if (eq(n, "via"))
        return C_VIA;
    if (after(n, "x-cm4all-", &r)) {
        struct pr_slice b;
        if (eq(&r, "generator"))
            return C_GENERATOR;
        if (eq(&r, "https"))
            return TP_HG_SSL;
        if (eq(&r, "view"))
            return TP_HG_TRANSFORMATION;
        if (after(&r, "beng-", &b)) {
            if (eq(&b, "peer-subject") || eq(&b, "peer-issuer-subject"))
                return TP_HG_OTHER;
            return TP_HG_SECURE;
        }
    }
    return TP_HG_OTHER;
}

/* The cookie name of a Set-Cookie value is `name`. */
static bool
set_cookie_is(const struct pr_slice *v, const char *name)
{
    size_t n = name != NULL ? strlen(name) : 0;
    if (n == 0 || v->len <= n || memcmp(v->data, name, n) != 0)
        return false;
    return v->data[n] == '=' || h1_is_ows(v->data[n]);
}

int
dp_forward_response_headers(const struct dp_forward_response *in,
                            dp_forward_emit emit, void *ctx)
{
    const struct h1_header *h = in->headers;
    size_t n = in->n_headers;
    const uint8_t *m = in->modes;
    bool named = connection_names_headers(h, n);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        int c = classify_response(&h[i].name);
        if (c != C_DROP && named && named_by_connection(h, n, &h[i].name))
            c = C_DROP;
        if (in->upgrade && is_upgrade_header(&h[i].name, false))
            c = C_ALWAYS;
        switch (c) {
        case C_ALWAYS:
            rc = emit_slice(emit, ctx, &h[i]);
            break;
        case C_DROP:
        case C_VIA:
            break;
        case C_GENERATOR:
            if (m[TP_HG_IDENTITY] != TP_HF_NO)
                rc = emit_slice(emit, ctx, &h[i]);
            break;
        default:
            switch (m[c]) {
            case TP_HF_YES:
                rc = emit_slice(emit, ctx, &h[i]);
                break;
            case TP_HF_MANGLE:
                if (c == TP_HG_LINK || c == TP_HG_AUTH ||
                    c == TP_HG_CAPABILITIES)
                    rc = emit_slice(emit, ctx, &h[i]);
                break;
            case TP_HF_BOTH:
                if (c == TP_HG_COOKIE &&
                    !set_cookie_is(&h[i].value, in->session_cookie))
                    rc = emit_slice(emit, ctx, &h[i]);
                break;
            default:
                break;
            }
            break;
        }
    }
    if (rc != 0)
        return rc;
    uint8_t id = m[TP_HG_IDENTITY];
    if (id != TP_HF_NO) {
        char via[300];
        const char *own = id == TP_HF_MANGLE
                              ? own_via(via, sizeof(via), in->local_host)
                              : NULL;
        rc = emit_joined(emit, ctx, h, n, "via", "Via", own);
    }
    return rc;
}

/* ---- relocation ---- */

bool
dp_forward_relocate(const char *uri, size_t uri_len,
                    const char *internal_host, const char *internal_path,
                    size_t internal_path_len, const char *external_scheme,
                    const char *external_host, const char *external_path,
                    size_t external_path_len, const char *base, char *out,
                    size_t size)
{
    /* the authority, if any: after "scheme://" or "//" */
    const char *p = uri, *end = uri + uri_len;
    const char *auth = NULL;
    const char *sep = NULL;
    for (const char *q = uri; q + 2 < end; q++) {
        if (*q == ':' && q[1] == '/' && q[2] == '/') {
            sep = q + 3;
            break;
        }
        if (*q == '/' || *q == '?' || *q == '#')
            break;
    }
    if (sep != NULL)
        auth = sep;
    else if (uri_len >= 2 && uri[0] == '/' && uri[1] == '/')
        auth = uri + 2;
    if (auth != NULL) {
        const char *ae = auth;
        while (ae < end && *ae != '/' && *ae != '?' && *ae != '#')
            ae++;
        if (internal_host == NULL ||
            (size_t)(ae - auth) != strlen(internal_host) ||
            memcmp(auth, internal_host, (size_t)(ae - auth)) != 0)
            return false;
        p = ae;
    }
    if (p == end || *p != '/')
        return false;           /* relative URIs are not relocated */

    size_t bn = base != NULL ? strlen(base) : 0;
    if (external_path_len < bn || memcmp(external_path, base, bn) != 0)
        return false;
    const char *tail = external_path + bn;
    size_t tn = external_path_len - bn;
    if (internal_path_len < tn ||
        memcmp(internal_path + internal_path_len - tn, tail, tn) != 0)
        return false;
    size_t pn = internal_path_len - tn;     /* the prefix */
    if (pn == 0 || internal_path[pn - 1] != '/')
        return false;
    if ((size_t)(end - p) < pn || memcmp(p, internal_path, pn) != 0)
        return false;
    const char *tail2 = p + pn;
    size_t t2 = (size_t)(end - tail2);
    int n = snprintf(out, size, "%s://%s%s%.*s", external_scheme,
                     external_host, base != NULL ? base : "", (int)t2,
                     tail2);
    return n > 0 && (size_t)n < size;
}
