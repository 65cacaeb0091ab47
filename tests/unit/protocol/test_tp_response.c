/* Unit tests for protocol/tp_response: the translation RESPONSE parser
 * (spec/protocols.md §1.2-§1.15).
 *
 * Vectors are built by hand from the spec, never by an encoder of ours:
 * a few are literal byte arrays (u16 length, u16 command, payload; the
 * command numbers written as the numbers of §1.4, little-endian as the
 * spec's x86-64 examples; skipped on a big-endian host); the others go
 * through put(), a five-line test-local helper that appends one packet
 * header in host byte order (§1.2) and its payload.
 *
 * Every response that parses is also fed through tp_reader split at every
 * byte offset and byte by byte into tp_response_parser_feed(), and the
 * typed result (dumped field by field to text) must equal the one of
 * tp_response_parse() on the whole buffer.  Every error case asserts the
 * message and that the response was freed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tp_command.h"
#include "tp_response.h"

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

/* A packet header in little-endian order: u16 length, u16 command. */
#define HDR(len, cmd)                                                      \
    (uint8_t)((len)&0xff), (uint8_t)((len) >> 8), (uint8_t)((cmd)&0xff),   \
        (uint8_t)((cmd) >> 8)

static void
need_little_endian(void)
{
    const uint16_t one = 1;
    if (*(const uint8_t *)&one != 1)
        skip();
}

/* ---- the test-local packet builder (host byte order, §1.2) ---- */

struct msg {
    size_t len;
    uint8_t data[40000];
};

static void
put(struct msg *m, uint16_t cmd, const void *payload, size_t len)
{
    uint16_t l = (uint16_t)len;
    assert_true(len <= 0xffff && m->len + 4 + len <= sizeof(m->data));
    memcpy(m->data + m->len, &l, 2);
    memcpy(m->data + m->len + 2, &cmd, 2);
    if (len > 0)
        memcpy(m->data + m->len + 4, payload, len);
    m->len += 4 + len;
}

/* A string literal as payload (may contain NULs). */
#define P(m, cmd, lit) put(m, cmd, lit, sizeof(lit) - 1)

static void
put_s(struct msg *m, uint16_t cmd, const char *s)
{
    put(m, cmd, s, strlen(s));
}

static void
put0(struct msg *m, uint16_t cmd)
{
    put(m, cmd, NULL, 0);
}

static void
put_u16(struct msg *m, uint16_t cmd, uint16_t v)
{
    put(m, cmd, &v, sizeof(v));
}

static void
put_u32(struct msg *m, uint16_t cmd, uint32_t v)
{
    put(m, cmd, &v, sizeof(v));
}

/* Start a response: BEGIN with a version byte (version < 0: empty). */
static void
begin(struct msg *m, int version)
{
    m->len = 0;
    if (version < 0) {
        put0(m, TP_CMD_BEGIN);
    } else {
        uint8_t v = (uint8_t)version;
        put(m, TP_CMD_BEGIN, &v, 1);
    }
}

static void
end(struct msg *m)
{
    put0(m, TP_CMD_END);
}

/* struct sockaddr payloads for ADDRESS and ALLOW_REMOTE_NETWORK. */
static size_t
sa_in(void *out, const char *ip, uint16_t port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    memcpy(out, &a, sizeof(a));
    return sizeof(a);
}

static size_t
sa_in6(void *out, const char *ip, uint16_t port)
{
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof(a));
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(port);
    assert_int_equal(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
    memcpy(out, &a, sizeof(a));
    return sizeof(a);
}

/* AF_LOCAL with the path's NUL ('@' first: abstract, no NUL). */
static size_t
sa_un(void *out, const char *path)
{
    struct sockaddr_un a;
    size_t n = strlen(path);
    memset(&a, 0, sizeof(a));
    a.sun_family = AF_LOCAL;
    assert_true(n < sizeof(a.sun_path));
    memcpy(a.sun_path, path, n);
    if (path[0] == '@') {
        a.sun_path[0] = '\0';
    } else {
        n++;
    }
    memcpy(out, &a, sizeof(a));
    return offsetof(struct sockaddr_un, sun_path) + n;
}

/* ---- a text dump of every field of a response (for comparisons) ---- */

struct text {
    char *s;
    size_t len, cap;
};

static void tx(struct text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
tx(struct text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->s ? t->s + t->len : NULL,
                          t->s ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        assert_true(n >= 0);
        if (t->s != NULL && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap + (size_t)n + 1) * 2;
        char *s = realloc(t->s, cap);
        assert_non_null(s);
        t->s = s;
        t->cap = cap;
    }
}

static void
tx_str(struct text *t, const char *name, const char *s)
{
    if (s == NULL)
        tx(t, "%s=-\n", name);
    else
        tx(t, "%s=\"%s\"\n", name, s);
}

static void
tx_bytes(struct text *t, const void *data, size_t len)
{
    const uint8_t *d = data;
    for (size_t i = 0; i < len; i++)
        tx(t, "%02x", d[i]);
}

static void
tx_slice(struct text *t, const char *name, struct pr_slice s)
{
    if (s.data == NULL) {
        assert_int_equal(s.len, 0);
        tx(t, "%s=-\n", name);
        return;
    }
    tx(t, "%s=[%zu]", name, s.len);
    tx_bytes(t, s.data, s.len);
    tx(t, "\n");
}

static void
tx_expandables(struct text *t, const char *name,
               const struct tp_expandable_list *l)
{
    tx(t, "%s: %zu\n", name, l->n);
    for (size_t i = 0; i < l->n; i++) {
        tx_str(t, " value", l->v[i].value);
        tx_str(t, " expand", l->v[i].expand);
    }
}

static void
tx_strings(struct text *t, const char *name, const struct tp_string_list *l)
{
    tx(t, "%s: %zu\n", name, l->n);
    for (size_t i = 0; i < l->n; i++)
        tx_str(t, " item", l->v[i]);
}

static void
tx_headers(struct text *t, const char *name, const struct tp_header_list *l)
{
    tx(t, "%s: %zu\n", name, l->n);
    for (size_t i = 0; i < l->n; i++)
        tx(t, " %s:%s%s\n", l->v[i].name, l->v[i].value,
           l->v[i].expand ? " (expand)" : "");
}

static void
tx_u16s(struct text *t, const char *name, const struct tp_u16_list *l)
{
    tx(t, "%s:%s", name, l->v == NULL ? " -" : "");
    for (size_t i = 0; i < l->n; i++)
        tx(t, " %u", (unsigned)l->v[i]);
    tx(t, "\n");
}

static void
tx_child(struct text *t, const struct tp_child_options *c)
{
    tx_strings(t, "tags", &c->tags);
    tx_expandables(t, "env", &c->env);
    tx_str(t, "stderr_path", c->stderr_path);
    tx_str(t, "expand_stderr_path", c->expand_stderr_path);
    tx_str(t, "chdir", c->chdir);
    tx_str(t, "rlimits", c->rlimits);
    tx(t, "stderr_null=%d uid_gid=%d:%d:%d:%zu umask=%d nnp=%d sigkill=%d\n",
       c->stderr_null, c->uid_gid.present, (int)c->uid_gid.uid,
       (int)c->uid_gid.gid, c->uid_gid.n_groups, (int)c->umask,
       c->no_new_privs, c->sigkill);
    for (size_t i = 0; i < c->uid_gid.n_groups; i++)
        tx(t, " group %d\n", (int)c->uid_gid.groups[i]);
}

static void
tx_address(struct text *t, const struct tp_address *a)
{
    tx(t, "type=%d\n", (int)a->type);
    tx_str(t, "path", a->path);
    tx_str(t, "expand_path", a->expand_path);
    tx_str(t, "content_type", a->content_type);
    tx_slice(t, "content_type_lookup", a->content_type_lookup);
    tx_str(t, "gzipped", a->gzipped);
    tx(t, "auto_gzipped=%d auto_brotli_path=%d\n", a->auto_gzipped,
       a->auto_brotli_path);
    tx_str(t, "append_path", a->append_path);
    tx_str(t, "beneath", a->beneath);
    tx_str(t, "nfs_server", a->nfs_server);
    tx_str(t, "nfs_export", a->nfs_export);
    tx_str(t, "document_root", a->document_root);
    tx_str(t, "expand_document_root", a->expand_document_root);
    tx_str(t, "script_name", a->script_name);
    tx_str(t, "expand_script_name", a->expand_script_name);
    tx_str(t, "path_info", a->path_info);
    tx_str(t, "expand_path_info", a->expand_path_info);
    tx_str(t, "interpreter", a->interpreter);
    tx_str(t, "action", a->action);
    tx(t, "request_uri_verbatim=%d\n", a->request_uri_verbatim);
    tx_expandables(t, "params", &a->params);
    tx_expandables(t, "args", &a->args);
    tx_str(t, "process_name", a->process_name);
    tx(t, "concurrency=%u parallelism=%u disposable=%d instant_fade=%d\n",
       (unsigned)a->concurrency, (unsigned)a->parallelism, a->disposable,
       a->instant_fade);
    tx_child(t, &a->child);
    tx(t, "scheme=%d http2=%d\n", (int)a->scheme, a->http2);
    tx_str(t, "host_and_port", a->host_and_port);
    tx_str(t, "certificate", a->certificate);
    tx(t, "addresses: %zu sticky=%d\n", a->addresses.n, a->addresses.sticky);
    for (size_t i = 0; i < a->addresses.n; i++) {
        const struct tp_socket_address *s = &a->addresses.v[i];
        tx(t, " len=%u ", (unsigned)s->len);
        tx_bytes(t, &s->addr, s->len);
        tx(t, " host=%s port=%u\n", s->host ? s->host : "-",
           (unsigned)s->port);
    }
    tx_str(t, "lhttp_uri", a->lhttp_uri);
    tx_str(t, "expand_lhttp_uri", a->expand_lhttp_uri);
    tx_str(t, "lhttp_host", a->lhttp_host);
    tx(t, "non_blocking=%d\n", a->non_blocking);
}

static char *
dump(const struct tp_response *r)
{
    struct text t = { NULL, 0, 0 };
    tx(&t, "version=%u\n", (unsigned)r->version);
    tx_address(&t, &r->address);
    tx_str(&t, "address_cache_tag", r->address_cache_tag);
    tx(&t, "filters: %zu\n", r->n_filters);
    for (size_t i = 0; i < r->n_filters; i++) {
        tx_address(&t, &r->filters[i]->address);
        tx(&t, "no_body=%d reveal_user=%d\n", r->filters[i]->no_body,
           r->filters[i]->reveal_user);
        tx_str(&t, "filter cache_tag", r->filters[i]->cache_tag);
    }
    tx(&t, "filter_4xx=%d transparent=%d status=%u\n", r->filter_4xx,
       r->transparent, (unsigned)r->status);
    tx_str(&t, "redirect", r->redirect);
    tx_str(&t, "expand_redirect", r->expand_redirect);
    tx(&t, "rqs=%d rfu=%d\n", r->redirect_query_string, r->redirect_full_uri);
    tx_str(&t, "bounce", r->bounce);
    tx_str(&t, "message", r->message);
    tx(&t, "tiny_image=%d https_only=%u\n", r->tiny_image,
       (unsigned)r->https_only);
    tx(&t, "networks: %zu\n", r->n_allow_remote_networks);
    for (size_t i = 0; i < r->n_allow_remote_networks; i++) {
        const struct tp_network *n = &r->allow_remote_networks[i];
        tx(&t, " /%u ", (unsigned)n->prefix_len);
        tx_bytes(&t, &n->addr, n->len);
        tx(&t, "\n");
    }
    tx(&t, "nqs=%d dqs=%d\n", r->no_query_string, r->discard_query_string);
    tx_str(&t, "scheme", r->scheme);
    tx_str(&t, "host", r->host);
    tx_str(&t, "site", r->site);
    tx_str(&t, "expand_site", r->expand_site);
    tx_str(&t, "uri", r->uri);
    tx_str(&t, "expand_uri", r->expand_uri);
    tx_headers(&t, "response_headers", &r->response_headers);
    tx_headers(&t, "request_headers", &r->request_headers);
    tx_str(&t, "www_authenticate", r->www_authenticate);
    tx_str(&t, "authentication_info", r->authentication_info);
    tx_str(&t, "generator", r->generator);
    tx_str(&t, "analytics_id", r->analytics_id);
    tx_str(&t, "stats_tag", r->stats_tag);
    tx_str(&t, "listener_tag", r->listener_tag);
    tx_str(&t, "document_root", r->document_root);
    tx_str(&t, "expand_document_root", r->expand_document_root);
    tx(&t, "expires=%u/%u\nforward:", (unsigned)r->expires_relative,
       (unsigned)r->expires_relative_with_query);
    for (int g = 0; g < TP_HG_COUNT; g++)
        tx(&t, " %u/%u", (unsigned)r->request_header_forward[g],
           (unsigned)r->response_header_forward[g]);
    tx(&t, "\ndefer=%d rl=%g/%g %g/%g\n", r->defer,
       (double)r->rate_limit_site_requests.rate,
       (double)r->rate_limit_site_requests.burst,
       (double)r->rate_limit_site_traffic.rate,
       (double)r->rate_limit_site_traffic.burst);
    tx(&t, "max_age=%u user_max_age=%u\n", (unsigned)r->max_age,
       (unsigned)r->user_max_age);
    tx_u16s(&t, "vary", &r->vary);
    tx_u16s(&t, "invalidate", &r->invalidate);
    tx_str(&t, "base", r->base);
    tx(&t, "easy=%d unsafe=%d auto=%d\n", r->easy_base, r->unsafe_base,
       r->auto_base);
    tx_str(&t, "regex", r->regex);
    tx_str(&t, "inverse_regex", r->inverse_regex);
    tx(&t, "rx tail=%d unesc=%d iunesc=%d host=%d user=%d raw=%d\n",
       r->regex_tail, r->regex_unescape, r->inverse_regex_unescape,
       r->regex_on_host_uri, r->regex_on_user_uri, r->regex_raw);
    tx_strings(&t, "cache_tags", &r->cache_tags);
    tx_str(&t, "validate_mtime_path", r->validate_mtime_path);
    tx(&t, "validate_mtime=%llu\n", (unsigned long long)r->validate_mtime);
    tx(&t, "uncached=%d eager=%d inc=%d afc=%d\n", r->uncached,
       r->eager_cache, r->ignore_no_cache, r->auto_flush_cache);
    tx_u16s(&t, "want", &r->want);
    tx_slice(&t, "want_full_uri", r->want_full_uri);
    tx_slice(&t, "check", r->check);
    tx_str(&t, "check_header", r->check_header);
    tx(&t, "previous=%d\n", r->previous);
    tx_slice(&t, "internal_redirect", r->internal_redirect);
    tx_str(&t, "like_host", r->like_host);
    tx_slice(&t, "layout", r->layout);
    tx(&t, "layout items: %zu\n", r->n_layout_items);
    for (size_t i = 0; i < r->n_layout_items; i++)
        tx(&t, " %d %s%s\n", (int)r->layout_items[i].type,
           r->layout_items[i].value,
           r->layout_items[i].access_control_allow_all ? " (acaa)" : "");
    tx_slice(&t, "file_not_found", r->file_not_found);
    tx_slice(&t, "directory_index", r->directory_index);
    tx(&t, "dis=%d\n", r->directory_index_slash);
    tx_slice(&t, "enotdir", r->enotdir);
    tx(&t, "path_exists=%d\n", r->path_exists);
    tx_slice(&t, "probe_path_suffixes", r->probe_path_suffixes);
    tx_strings(&t, "probe_suffixes", &r->probe_suffixes);
    tx_str(&t, "test_path", r->test_path);
    tx_str(&t, "expand_test_path", r->expand_test_path);
    tx_str(&t, "read_file", r->read_file);
    tx_str(&t, "expand_read_file", r->expand_read_file);
    tx_slice(&t, "error_document", r->error_document);
    tx_slice(&t, "chain", r->chain);
    tx(&t, "break_chain=%d transparent_chain=%d\n", r->break_chain,
       r->transparent_chain);
    tx_str(&t, "content_type", r->content_type);
    tx(&t, "ag=%d abp=%d\n", r->auto_gzipped, r->auto_brotli_path);
    tx_slice(&t, "session", r->session);
    tx_slice(&t, "realm_session", r->realm_session);
    tx_str(&t, "realm", r->realm);
    tx(&t, "rfab=%d\n", r->realm_from_auth_base);
    tx_str(&t, "user", r->user);
    tx_str(&t, "language", r->language);
    tx(&t, "ds=%d drs=%d\n", r->discard_session, r->discard_realm_session);
    tx_slice(&t, "attach_session", r->attach_session);
    tx_str(&t, "session_site", r->session_site);
    tx(&t, "secure_cookie=%d\n", r->secure_cookie);
    tx_str(&t, "cookie_domain", r->cookie_domain);
    tx_str(&t, "cookie_path", r->cookie_path);
    tx_str(&t, "cookie_host", r->cookie_host);
    tx_str(&t, "expand_cookie_host", r->expand_cookie_host);
    tx(&t, "same_site=%d\n", (int)r->session_cookie_same_site);
    tx_str(&t, "recover_session", r->recover_session);
    tx(&t, "csrf=%d/%d\n", r->require_csrf_token, r->send_csrf_token);
    tx_slice(&t, "auth", r->auth);
    tx_str(&t, "auth_file", r->auth_file);
    tx_str(&t, "expand_auth_file", r->expand_auth_file);
    tx_slice(&t, "append_auth", r->append_auth);
    tx_str(&t, "expand_append_auth", r->expand_append_auth);
    tx_slice(&t, "http_auth", r->http_auth);
    tx_slice(&t, "token_auth", r->token_auth);
    tx(&t, "unattached child:\n");
    tx_child(&t, &r->unattached_child);
    return t.s;
}

/* ---- parsing helpers ---- */

/*
 * Feed data[0..len) through tp_reader into a fresh parser in two chunks
 * split at k (k == SIZE_MAX: byte by byte).  Returns the parser's final
 * status (MORE when the input ran out first); a reader error counts as
 * ERROR with the reader's message in err.
 */
static enum tp_parse_status
feed_split(const uint8_t *data, size_t len, size_t k, unsigned flags,
           struct tp_response *out, char *err, size_t errlen)
{
    struct tp_reader reader;
    struct tp_response_parser parser;
    tp_reader_init(&reader, 0);
    tp_response_parser_init(&parser, out);
    tp_response_parser_set_request(&parser, flags);
    snprintf(err, errlen, "%s", "");

    enum tp_parse_status st = TP_PARSE_MORE;
    size_t pos = 0;
    while (pos < len && st == TP_PARSE_MORE) {
        size_t stop = k == SIZE_MAX ? pos + 1 : (pos < k ? k : len);
        while (pos < stop && st == TP_PARSE_MORE) {
            size_t used = 0;
            struct tp_packet pkt;
            enum tp_reader_status rs =
                tp_reader_feed(&reader, data + pos, stop - pos, &used, &pkt);
            if (rs == TP_READER_ERROR) {
                snprintf(err, errlen, "%s", tp_reader_error(&reader));
                st = TP_PARSE_ERROR;
                break;
            }
            pos += used;
            if (rs == TP_READER_PACKET) {
                st = tp_response_parser_feed(&parser, &pkt);
                if (st == TP_PARSE_ERROR)
                    snprintf(err, errlen, "%s",
                             tp_response_parser_error(&parser));
            }
        }
    }
    tp_reader_destroy(&reader);
    return st;
}

/* Commands seen in responses that parsed (test_every_command_exercised
 * runs last and checks that every interpreted command is among them). */
static bool seen_ok[TP_CMD_MAX + 1];

static void
mark_seen(const uint8_t *data, size_t len)
{
    size_t pos = 0;
    while (pos + 4 <= len) {
        uint16_t l, c;
        memcpy(&l, data + pos, 2);
        memcpy(&c, data + pos + 2, 2);
        if (c <= TP_CMD_MAX)
            seen_ok[c] = true;
        pos += 4 + (size_t)l;
    }
}

/*
 * The buffer must parse (tp_response_parse_request with `flags`) into *out;
 * the same typed result must come out of the incremental path at every
 * split offset and byte by byte.  The caller frees *out.
 */
static void
parse_ok_at(const uint8_t *data, size_t len, unsigned flags,
            struct tp_response *out, const char *file, int line)
{
    char err[256] = "(unset)";
    int rc = tp_response_parse_request(data, len, flags, out, err,
                                       sizeof(err));
    if (rc != 0) {
        print_error("parse failed: %s\n", err);
        _fail(file, line);
    }
    _assert_string_equal(err, "", file, line);
    mark_seen(data, len);
    char *want = dump(out);

    for (size_t k = 0; k <= len + 1; k++) {
        size_t split = k <= len ? k : SIZE_MAX;
        struct tp_response again;
        enum tp_parse_status st =
            feed_split(data, len, split, flags, &again, err, sizeof(err));
        if (st != TP_PARSE_DONE) {
            print_error("split at %zu: status %d: %s\n", split, (int)st, err);
            tp_response_free(&again);
            free(want);
            _fail(file, line);
        }
        char *got = dump(&again);
        tp_response_free(&again);
        bool same = strcmp(got, want) == 0;
        if (!same)
            print_error("split at %zu differs:\n%s\n--- whole:\n%s\n", split,
                        got, want);
        free(got);
        if (!same) {
            free(want);
            _fail(file, line);
        }
    }
    free(want);
}

#define parse_ok(m, out) parse_ok_at((m)->data, (m)->len, 0, out, __FILE__, \
                                     __LINE__)
#define parse_ok_flags(m, flags, out)                                      \
    parse_ok_at((m)->data, (m)->len, flags, out, __FILE__, __LINE__)
#define PARSE_OK_BYTES(bytes, out)                                         \
    parse_ok_at(bytes, sizeof(bytes), 0, out, __FILE__, __LINE__)

static bool
all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != 0)
            return false;
    return true;
}

/*
 * The buffer must fail to parse with a message containing `want`; the
 * response must come back freed (all zero).  When the incremental path
 * also ends in ERROR on the same bytes, its message must be the same.
 */
static void
parse_err_at(const uint8_t *data, size_t len, unsigned flags,
             const char *want, const char *file, int line)
{
    char err[256] = "(unset)";
    struct tp_response r;
    memset(&r, 0xa5, sizeof(r));
    int rc = tp_response_parse_request(data, len, flags, &r, err,
                                       sizeof(err));
    if (rc != -1) {
        print_error("parsed, but expected error \"%s\"\n", want);
        tp_response_free(&r);
        _fail(file, line);
    }
    if (strstr(err, want) == NULL) {
        print_error("error \"%s\" does not contain \"%s\"\n", err, want);
        _fail(file, line);
    }
    if (!all_zero(&r, sizeof(r))) {
        print_error("response not freed after \"%s\"\n", err);
        _fail(file, line);
    }

    /* The incremental path in one piece: the same message when it ends in
     * ERROR (it ends in MORE on truncated input, in DONE before bytes
     * after END).  Split anywhere, it must end the same way. */
    char err2[256], err3[256];
    struct tp_response again;
    enum tp_parse_status st =
        feed_split(data, len, len, flags, &again, err2, sizeof(err2));
    tp_response_free(&again);
    if (st == TP_PARSE_ERROR && strcmp(err, err2) != 0) {
        print_error("incremental error \"%s\" != \"%s\"\n", err2, err);
        _fail(file, line);
    }
    for (size_t k = 0; k <= len + 1; k++) {
        size_t split = k <= len ? k : SIZE_MAX;
        enum tp_parse_status st3 =
            feed_split(data, len, split, flags, &again, err3, sizeof(err3));
        tp_response_free(&again);
        if (st3 != st || strcmp(err2, err3) != 0) {
            print_error("split at %zu: %d \"%s\", whole: %d \"%s\"\n", split,
                        (int)st3, err3, (int)st, err2);
            _fail(file, line);
        }
    }
}

#define parse_err(m, want)                                                 \
    parse_err_at((m)->data, (m)->len, 0, want, __FILE__, __LINE__)
#define parse_err_flags(m, flags, want)                                    \
    parse_err_at((m)->data, (m)->len, flags, want, __FILE__, __LINE__)
#define PARSE_ERR_BYTES(bytes, want)                                       \
    parse_err_at(bytes, sizeof(bytes), 0, want, __FILE__, __LINE__)

/* BEGIN(3), one packet, END must fail with `want`. */
static void
one_err_at(uint16_t cmd, const void *payload, size_t len, const char *want,
           const char *file, int line)
{
    struct msg *m = malloc(sizeof(*m));
    assert_non_null(m);
    begin(m, 3);
    put(m, cmd, payload, len);
    end(m);
    parse_err_at(m->data, m->len, 0, want, file, line);
    free(m);
}

#define one_err(cmd, lit, want)                                            \
    one_err_at(cmd, lit, sizeof(lit) - 1, want, __FILE__, __LINE__)

static struct msg *
new_msg(int version)
{
    struct msg *m = malloc(sizeof(*m));
    assert_non_null(m);
    begin(m, version);
    return m;
}

/* ==== literal vectors: command numbers as written in §1.4 ==== */

/* The spec's own bytes (§1.2): BEGIN with version 3 and END. */
static void
test_spec_example_bytes(void **state)
{
    (void)state;
    need_little_endian();
    static const uint8_t spec_begin_end[] = { 0x01, 0x00, 0x01, 0x00, 0x03,
                                              0x00, 0x00, 0x02, 0x00 };
    static const uint8_t ours[] = { HDR(1, 1), 3, HDR(0, 2) };
    assert_memory_equal(spec_begin_end, ours, sizeof(ours));

    struct tp_response r;
    PARSE_OK_BYTES(spec_begin_end, &r);
    assert_int_equal(r.version, 3);
    assert_int_equal(r.address.type, TP_ADDRESS_NONE);
    assert_false(tp_response_has_answer(&r));
    tp_response_free(&r);

    /* The builder produces the same bytes in host order. */
    struct msg *m = new_msg(3);
    end(m);
    assert_int_equal(m->len, sizeof(spec_begin_end));
    assert_memory_equal(m->data, spec_begin_end, m->len);
    free(m);
}

static void
test_literal_static_file(void **state)
{
    (void)state;
    need_little_endian();
    static const uint8_t v[] = {
        HDR(1, 1), 0x02,                                     /* BEGIN 2 */
        HDR(15, 6), '/', 'v', 'a', 'r', '/', 'w', 'w', 'w', '/', 'i', 'n',
        'd', 'e', 'x', '.',                                  /* PATH */
        HDR(9, 7), 't', 'e', 'x', 't', '/', 'h', 't', 'm', 'l', /* C_T */
        HDR(0, 140),                                         /* AUTO_GZIPPED */
        HDR(4, 36), 0x2c, 0x01, 0x00, 0x00,                  /* MAX_AGE 300 */
        HDR(4, 124), 0x10, 0x0e, 0x00, 0x00,                 /* EXPIRES 3600 */
        HDR(2, 37), 0x04, 0x00,                              /* VARY URI */
        HDR(0, 2),                                           /* END */
    };
    struct tp_response r;
    PARSE_OK_BYTES(v, &r);
    assert_int_equal(r.version, 2);
    assert_int_equal(r.address.type, TP_ADDRESS_LOCAL);
    assert_string_equal(r.address.path, "/var/www/index.");
    assert_string_equal(r.address.content_type, "text/html");
    assert_true(r.address.auto_gzipped);
    assert_int_equal(r.max_age, 300);
    assert_int_equal(r.user_max_age, TP_MAX_AGE_UNSET);
    assert_int_equal(r.expires_relative, 3600);
    assert_int_equal(r.vary.n, 1);
    assert_int_equal(r.vary.v[0], 4);
    assert_true(tp_response_has_answer(&r));
    tp_response_free(&r);
}

static void
test_literal_http_proxy(void **state)
{
    (void)state;
    need_little_endian();
    static const uint8_t v[] = {
        HDR(1, 1), 0x03,                                   /* BEGIN 3 */
        HDR(19, 8), 'h', 't', 't', 'p', ':', '/', '/', 'b', 'e', ':', '8',
        '0', '8', '0', '/', 'a', 'p', 'p', '/',            /* HTTP */
        HDR(12, 24), '1', '0', '.', '0', '.', '0', '.', '1', ':', '8', '0',
        '8',                                               /* ADDRESS_STRING */
        HDR(7, 24), '[', ':', ':', '1', ']', ':', '9',     /* ADDRESS_STRING */
        HDR(0, 71),                                        /* STICKY */
        HDR(0, 211),                                       /* HTTP2 */
        HDR(4, 59), 'x', '-', 'a', ':',                    /* HEADER x-a: */
        HDR(5, 18), 's', 'i', 't', 'e', '1',               /* SITE */
        HDR(0, 2),
    };
    struct tp_response r;
    PARSE_OK_BYTES(v, &r);
    const struct tp_address *a = &r.address;
    assert_int_equal(a->type, TP_ADDRESS_HTTP);
    assert_int_equal(a->scheme, TP_HTTP_SCHEME_HTTP);
    assert_string_equal(a->host_and_port, "be:8080");
    assert_string_equal(a->path, "/app/");
    assert_true(a->http2);
    assert_true(a->addresses.sticky);
    assert_int_equal(a->addresses.n, 2);
    const struct sockaddr_in *in =
        (const struct sockaddr_in *)&a->addresses.v[0].addr;
    assert_int_equal(a->addresses.v[0].len, sizeof(*in));
    assert_int_equal(in->sin_family, AF_INET);
    assert_int_equal(ntohs(in->sin_port), 808);
    assert_int_equal(ntohl(in->sin_addr.s_addr), 0x0a000001);
    const struct sockaddr_in6 *in6 =
        (const struct sockaddr_in6 *)&a->addresses.v[1].addr;
    assert_int_equal(a->addresses.v[1].len, sizeof(*in6));
    assert_int_equal(in6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(in6->sin6_port), 9);
    assert_true(IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr));
    assert_int_equal(r.response_headers.n, 1);
    assert_string_equal(r.response_headers.v[0].name, "x-a");
    assert_string_equal(r.response_headers.v[0].value, "");
    assert_string_equal(r.site, "site1");
    tp_response_free(&r);
}

static void
test_literal_generated_responses(void **state)
{
    (void)state;
    need_little_endian();
    static const uint8_t status_message[] = {
        HDR(0, 1),                                 /* BEGIN, no version */
        HDR(2, 5), 0x94, 0x01,                     /* STATUS 404 */
        HDR(4, 188), 'g', 'o', 'n', 'e',           /* MESSAGE */
        HDR(0, 2),
    };
    struct tp_response r;
    PARSE_OK_BYTES(status_message, &r);
    assert_int_equal(r.version, 0);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.message, "gone");
    assert_true(tp_response_has_answer(&r));
    tp_response_free(&r);

    static const uint8_t redirect[] = {
        HDR(1, 1), 0x03,
        HDR(10, 9), 'h', 't', 't', 'p', ':', '/', '/', 'x', '/', 'y',
        HDR(0, 129),                               /* REDIRECT_QUERY_STRING */
        HDR(2, 5), 0x2d, 0x01,                     /* STATUS 301 */
        HDR(0, 2),
    };
    PARSE_OK_BYTES(redirect, &r);
    assert_string_equal(r.redirect, "http://x/y");
    assert_true(r.redirect_query_string);
    assert_int_equal(r.status, 301);
    tp_response_free(&r);

    static const uint8_t bounce_https_only[] = {
        HDR(1, 1), 0x03,
        HDR(4, 54), 'h', 't', 't', 'p',            /* BOUNCE */
        HDR(0, 197),                               /* HTTPS_ONLY (443) */
        HDR(0, 223),                               /* TINY_IMAGE */
        HDR(0, 2),
    };
    PARSE_OK_BYTES(bounce_https_only, &r);
    assert_string_equal(r.bounce, "http");
    assert_int_equal(r.https_only, 443);
    assert_true(r.tiny_image);
    tp_response_free(&r);
}

static void
test_literal_base_regex_expand(void **state)
{
    (void)state;
    need_little_endian();
    static const uint8_t v[] = {
        HDR(1, 1), 0x03,
        HDR(3, 40), '/', 'a', '/',                         /* BASE */
        HDR(0, 117),                                       /* EASY_BASE */
        HDR(6, 79), '^', '(', '.', '*', ')', '$',          /* REGEX */
        HDR(4, 80), '\\', '.', 'p', 'y',                   /* INVERSE_REGEX */
        HDR(0, 118),                                       /* REGEX_TAIL */
        HDR(3, 6), '/', 's', '/',                          /* PATH */
        HDR(5, 84), '/', 's', '/', '\\', '1',              /* EXPAND_PATH */
        HDR(0, 2),
    };
    /* EASY_BASE with EXPAND_PATH is refused at END (§1.11). */
    PARSE_ERR_BYTES(v, "cannot combine EASY_BASE with EXPAND_PATH");

    static const uint8_t ok[] = {
        HDR(1, 1), 0x03,
        HDR(3, 40), '/', 'a', '/',                         /* BASE */
        HDR(6, 79), '^', '(', '.', '*', ')', '$',          /* REGEX */
        HDR(3, 6), '/', 's', '/',                          /* PATH */
        HDR(5, 84), '/', 's', '/', '\\', '1',              /* EXPAND_PATH */
        HDR(4, 136), '/', 'u', '\\', '1',                  /* EXPAND_URI */
        HDR(0, 2),
    };
    struct tp_response r;
    PARSE_OK_BYTES(ok, &r);
    assert_string_equal(r.base, "/a/");
    assert_string_equal(r.regex, "^(.*)$");
    assert_string_equal(r.address.path, "/s/");
    assert_string_equal(r.address.expand_path, "/s/\\1");
    assert_string_equal(r.expand_uri, "/u\\1");
    tp_response_free(&r);
}

/* Binary payload layouts written out from the spec (§1.4, §1.7.9, §1.8,
 * §1.13, §1.15), with the command numbers as numbers. */
static void
test_literal_binary_layouts(void **state)
{
    (void)state;
    need_little_endian();
    static const uint8_t v[] = {
        HDR(1, 1), 0x03,
        /* REQUEST_HEADER_FORWARD: {ALL(-1), YES}, {COOKIE(2), BOTH} */
        HDR(8, 48), 0xff, 0xff, 0x01, 0x00, 0x02, 0x00, 0x03, 0x00,
        /* RESPONSE_HEADER_FORWARD: {LINK(8), NO} */
        HDR(4, 49), 0x08, 0x00, 0x00, 0x00,
        /* ALLOW_REMOTE_NETWORK: prefix 24, sockaddr_in 192.168.1.0 */
        HDR(17, 263), 24, 0x02, 0x00, 0x00, 0x00, 192, 168, 1, 0,
        0, 0, 0, 0, 0, 0, 0, 0,
        /* SITE, then RATE_LIMIT_SITE_REQUESTS 10.0f, 20.0f */
        HDR(1, 18), 's',
        HDR(8, 264), 0x00, 0x00, 0x20, 0x41, 0x00, 0x00, 0xa0, 0x41,
        /* VALIDATE_MTIME: u64 0x0102030405060708, "/etc/f" */
        HDR(14, 94), 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
        '/', 'e', 't', 'c', '/', 'f',
        /* HTTP + ADDRESS sockaddr_in 127.0.0.1:8080 */
        HDR(9, 8), 'h', 't', 't', 'p', ':', '/', '/', 'h', '/',
        HDR(16, 23), 0x02, 0x00, 0x1f, 0x90, 127, 0, 0, 1,
        0, 0, 0, 0, 0, 0, 0, 0,
        /* FILTER, PIPE "gzip", UID_GID 1000/1001 + group 100, UMASK 022 */
        HDR(0, 10),
        HDR(4, 39), 'g', 'z', 'i', 'p',
        HDR(12, 165), 0xe8, 0x03, 0x00, 0x00, 0xe9, 0x03, 0x00, 0x00,
        0x64, 0x00, 0x00, 0x00,
        HDR(2, 193), 0x12, 0x00,
        /* HTTPS_ONLY 8443 */
        HDR(2, 197), 0xfb, 0x20,
        HDR(0, 2),
    };
    struct tp_response r;
    PARSE_OK_BYTES(v, &r);
    for (int g = 0; g < TP_HG_COUNT; g++) {
        uint8_t want = g == TP_HG_COOKIE ? TP_HF_BOTH : TP_HF_YES;
        if (g == TP_HG_SECURE || g == TP_HG_SSL || g == TP_HG_AUTH)
            want = TP_HF_NO;
        assert_int_equal(r.request_header_forward[g], want);
    }
    assert_int_equal(r.response_header_forward[TP_HG_LINK], TP_HF_NO);
    assert_int_equal(r.n_allow_remote_networks, 1);
    assert_int_equal(r.allow_remote_networks[0].prefix_len, 24);
    const struct sockaddr_in *in =
        (const struct sockaddr_in *)&r.allow_remote_networks[0].addr;
    assert_int_equal(in->sin_family, AF_INET);
    assert_int_equal(ntohl(in->sin_addr.s_addr), 0xc0a80100);
    assert_true(r.rate_limit_site_requests.rate == 10.0f);
    assert_true(r.rate_limit_site_requests.burst == 20.0f);
    assert_int_equal(r.validate_mtime, 0x0102030405060708ull);
    assert_string_equal(r.validate_mtime_path, "/etc/f");
    assert_int_equal(r.address.addresses.v[0].len, sizeof(*in));
    const struct sockaddr_in *a =
        (const struct sockaddr_in *)&r.address.addresses.v[0].addr;
    assert_int_equal(a->sin_family, AF_INET);
    assert_int_equal(ntohs(a->sin_port), 8080);
    assert_int_equal(ntohl(a->sin_addr.s_addr), 0x7f000001);
    const struct tp_child_options *c = &r.filters[0]->address.child;
    assert_true(c->uid_gid.present);
    assert_int_equal(c->uid_gid.uid, 1000);
    assert_int_equal(c->uid_gid.gid, 1001);
    assert_int_equal(c->uid_gid.n_groups, 1);
    assert_int_equal(c->uid_gid.groups[0], 100);
    assert_int_equal(c->umask, 022);
    assert_int_equal(r.https_only, 8443);
    tp_response_free(&r);
}

static void
test_literal_errors(void **state)
{
    (void)state;
    need_little_endian();
    static const uint8_t no_begin[] = { HDR(0, 2) };
    PARSE_ERR_BYTES(no_begin, "first packet must be BEGIN, not END (2)");
    static const uint8_t param[] = { HDR(1, 1), 3, HDR(1, 13), 'x',
                                     HDR(0, 2) };
    PARSE_ERR_BYTES(param, "misplaced translate request packet PARAM");
    static const uint8_t n25[] = { HDR(1, 1), 3, HDR(0, 25), HDR(0, 2) };
    PARSE_ERR_BYTES(n25, "unknown translation packet 25");
    static const uint8_t n287[] = { HDR(1, 1), 3, HDR(0, 287), HDR(0, 2) };
    PARSE_ERR_BYTES(n287, "unknown translation packet 287");
    static const uint8_t ajp[] = { HDR(1, 1), 3, HDR(1, 30), 'x', HDR(0, 2) };
    PARSE_ERR_BYTES(ajp, "obsolete translation packet AJP (30): AJP support "
                         "has been removed");
    static const uint8_t mount_proc[] = { HDR(1, 1), 3, HDR(0, 109),
                                          HDR(0, 2) };
    PARSE_ERR_BYTES(mount_proc, "unsupported translation packet MOUNT_PROC "
                                "(109)");
    static const uint8_t after_end[] = { HDR(1, 1), 3, HDR(0, 2), HDR(0, 2) };
    PARSE_ERR_BYTES(after_end, "4 bytes after END");
    static const uint8_t dup_ct[] = {
        HDR(1, 1), 3, HDR(2, 6), '/', 'f', HDR(1, 7), 'a', HDR(1, 7), 'b',
        HDR(0, 2),
    };
    PARSE_ERR_BYTES(dup_ct, "duplicate CONTENT_TYPE packet");
    static const uint8_t rel_path[] = { HDR(1, 1), 3, HDR(1, 6), 'f',
                                        HDR(0, 2) };
    PARSE_ERR_BYTES(rel_path, "malformed PATH packet: payload must be an "
                              "absolute path");
    static const uint8_t nul_ct[] = {
        HDR(1, 1), 3, HDR(2, 6), '/', 'f', HDR(3, 7), 'a', 0, 'b', HDR(0, 2),
    };
    PARSE_ERR_BYTES(nul_ct, "malformed CONTENT_TYPE packet: payload "
                            "contains a NUL byte");
    static const uint8_t truncated[] = { HDR(1, 1), 3, HDR(4, 6), '/', 'a' };
    PARSE_ERR_BYTES(truncated, "stream ended after 2 of 4 payload bytes");
}

/* ==== BEGIN, END and framing ==== */

static void
test_begin_versions(void **state)
{
    (void)state;
    static const int versions[] = { -1, 0, 1, 2, 3, 255 };
    for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
        struct msg *m = new_msg(versions[i]);
        end(m);
        struct tp_response r;
        parse_ok(m, &r);
        assert_int_equal(r.version, versions[i] < 0 ? 0 : versions[i]);
        tp_response_free(&r);
        free(m);
    }
}

static void
test_begin_end_errors(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);

    /* bad version payload */
    m->len = 0;
    P(m, TP_CMD_BEGIN, "\x03\x00");
    end(m);
    parse_err(m, "malformed BEGIN packet: payload must be empty or one "
                 "byte");

    /* missing BEGIN: any first packet */
    m->len = 0;
    P(m, TP_CMD_PATH, "/a");
    end(m);
    parse_err(m, "first packet must be BEGIN, not PATH (6)");
    m->len = 0;
    P(m, 25, "");
    parse_err(m, "first packet must be BEGIN, not ? (25)");

    /* double BEGIN */
    begin(m, 3);
    put0(m, TP_CMD_BEGIN);
    end(m);
    parse_err(m, "double BEGIN packet");

    /* END with a payload */
    begin(m, 3);
    P(m, TP_CMD_END, "x");
    parse_err(m, "malformed END packet: payload must be empty");

    /* no END */
    begin(m, 3);
    P(m, TP_CMD_PATH, "/a");
    parse_err(m, "response ended before END");

    /* truncated header and payload */
    begin(m, 3);
    P(m, TP_CMD_PATH, "/abc");
    m->len -= 1;
    parse_err(m, "stream ended after 3 of 4 payload bytes (PATH)");
    begin(m, 3);
    memset(m->data + m->len, 0, 3);
    m->len += 3;
    parse_err(m, "stream ended after 3 of 4 header bytes");
    begin(m, 3);
    m->len = 3;
    parse_err(m, "stream ended after 3 of 4 header bytes");

    /* bytes after END: a whole packet, or one stray byte */
    begin(m, 3);
    end(m);
    end(m);
    parse_err(m, "4 bytes after END");
    begin(m, 3);
    end(m);
    m->data[m->len++] = 0;
    parse_err(m, "1 bytes after END");

    /* empty input */
    parse_err_at((const uint8_t *)"", 0, 0, "response ended before END",
                 __FILE__, __LINE__);
    char err[64];
    struct tp_response r;
    assert_int_equal(tp_response_parse(NULL, 0, &r, err, sizeof(err)), -1);
    assert_string_equal(err, "response ended before END");
    /* errlen 0: no message written, still an error */
    strcpy(err, "kept");
    assert_int_equal(tp_response_parse(NULL, 0, &r, err, 0), -1);
    assert_string_equal(err, "kept");
    free(m);
}

/* Packets after END and after an ERROR, through the incremental API. */
static void
test_parser_states(void **state)
{
    (void)state;
    struct tp_response_parser p;
    struct tp_response r;
    tp_response_parser_init(&p, &r);
    assert_string_equal(tp_response_parser_error(&p), "");
    /* init defaults */
    assert_int_equal(r.max_age, TP_MAX_AGE_UNSET);
    assert_int_equal(r.user_max_age, TP_MAX_AGE_UNSET);
    assert_int_equal(r.address.child.umask, TP_UMASK_UNSET);
    assert_int_equal(r.unattached_child.umask, TP_UMASK_UNSET);
    assert_int_equal(r.address.type, TP_ADDRESS_NONE);
    static const uint8_t req_defaults[TP_HG_COUNT] = {
        [TP_HG_IDENTITY] = TP_HF_MANGLE, [TP_HG_CAPABILITIES] = TP_HF_YES,
        [TP_HG_COOKIE] = TP_HF_MANGLE,
    };
    static const uint8_t resp_defaults[TP_HG_COUNT] = {
        [TP_HG_CAPABILITIES] = TP_HF_YES, [TP_HG_COOKIE] = TP_HF_MANGLE,
        [TP_HG_TRANSFORMATION] = TP_HF_MANGLE, [TP_HG_LINK] = TP_HF_YES,
        [TP_HG_AUTH] = TP_HF_MANGLE,
    };
    assert_memory_equal(r.request_header_forward, req_defaults, TP_HG_COUNT);
    assert_memory_equal(r.response_header_forward, resp_defaults,
                        TP_HG_COUNT);

    uint8_t three = 3;
    struct tp_packet begin_pkt = { TP_CMD_BEGIN, 1, &three };
    struct tp_packet end_pkt = { TP_CMD_END, 0, (const uint8_t *)"" };
    struct tp_packet path = { TP_CMD_PATH, 2, (const uint8_t *)"/x" };
    assert_int_equal(tp_response_parser_feed(&p, &begin_pkt), TP_PARSE_MORE);
    assert_int_equal(tp_response_parser_feed(&p, &path), TP_PARSE_MORE);
    assert_int_equal(tp_response_parser_feed(&p, &end_pkt), TP_PARSE_DONE);
    assert_string_equal(tp_response_parser_error(&p), "");
    assert_string_equal(r.address.path, "/x");
    /* packet after END */
    assert_int_equal(tp_response_parser_feed(&p, &path), TP_PARSE_ERROR);
    assert_string_equal(tp_response_parser_error(&p),
                        "packet PATH (6) after END");
    /* ERROR is final and keeps its message */
    assert_int_equal(tp_response_parser_feed(&p, &end_pkt), TP_PARSE_ERROR);
    assert_string_equal(tp_response_parser_error(&p),
                        "packet PATH (6) after END");
    tp_response_free(&r);
    tp_response_free(&r); /* harmless twice */
    assert_true(all_zero(&r, sizeof(r)));

    /* END after END, BEGIN after END */
    tp_response_parser_init(&p, &r);
    assert_int_equal(tp_response_parser_feed(&p, &begin_pkt), TP_PARSE_MORE);
    assert_int_equal(tp_response_parser_feed(&p, &end_pkt), TP_PARSE_DONE);
    assert_int_equal(tp_response_parser_feed(&p, &begin_pkt), TP_PARSE_ERROR);
    assert_string_equal(tp_response_parser_error(&p),
                        "packet BEGIN (1) after END");
    tp_response_free(&r);

    /* an error mid-way is final */
    tp_response_parser_init(&p, &r);
    struct tp_packet bad = { 25, 0, (const uint8_t *)"" };
    assert_int_equal(tp_response_parser_feed(&p, &begin_pkt), TP_PARSE_MORE);
    assert_int_equal(tp_response_parser_feed(&p, &bad), TP_PARSE_ERROR);
    assert_string_equal(tp_response_parser_error(&p),
                        "unknown translation packet 25");
    assert_int_equal(tp_response_parser_feed(&p, &end_pkt), TP_PARSE_ERROR);
    assert_string_equal(tp_response_parser_error(&p),
                        "unknown translation packet 25");
    tp_response_free(&r);

    /* the payload is copied: the caller's buffer may change afterwards */
    tp_response_parser_init(&p, &r);
    char buf[] = "/copied";
    struct tp_packet copied = { TP_CMD_PATH, 7, (const uint8_t *)buf };
    assert_int_equal(tp_response_parser_feed(&p, &begin_pkt), TP_PARSE_MORE);
    assert_int_equal(tp_response_parser_feed(&p, &copied), TP_PARSE_MORE);
    memset(buf, 'X', 7);
    assert_int_equal(tp_response_parser_feed(&p, &end_pkt), TP_PARSE_DONE);
    assert_string_equal(r.address.path, "/copied");
    tp_response_free(&r);
}

/* ==== classification ==== */

static void
test_packet_support_table(void **state)
{
    (void)state;
    size_t counts[TP_SUPPORT_UNSUPPORTED + 1] = { 0 };
    for (unsigned n = 0; n <= 300; n++) {
        const struct tp_command_info *info = tp_command_info((uint16_t)n);
        enum tp_packet_support s = tp_response_packet_support((uint16_t)n);
        const char *reason = tp_response_packet_reason((uint16_t)n);
        assert_true(s <= TP_SUPPORT_UNSUPPORTED);
        counts[s]++;
        if (info == NULL) {
            if (s != TP_SUPPORT_UNKNOWN)
                fail_msg("unassigned %u classified %d", n, (int)s);
            assert_null(reason);
            continue;
        }
        if (s == TP_SUPPORT_UNKNOWN)
            fail_msg("assigned command %s (%u) is unknown", info->name, n);
        /* request-only exactly for the Q-only commands */
        if ((info->direction == TP_DIR_Q) != (s == TP_SUPPORT_REQUEST_ONLY))
            fail_msg("%s (%u): direction %d, support %s", info->name, n,
                     (int)info->direction, tp_packet_support_name(s));
        if (s == TP_SUPPORT_REMOVED || s == TP_SUPPORT_UNSUPPORTED) {
            if (reason == NULL || reason[0] == '\0')
                fail_msg("%s (%u) has no reason", info->name, n);
        } else {
            assert_null(reason);
        }
    }
    /* 25 and 287..300 unassigned, plus 0 */
    assert_int_equal(counts[TP_SUPPORT_UNKNOWN], 1 + 1 + 14);
    assert_int_equal(301 - counts[TP_SUPPORT_UNKNOWN], tp_command_count());
    assert_int_equal(tp_response_packet_support(0), TP_SUPPORT_UNKNOWN);
    assert_int_equal(tp_response_packet_support(25), TP_SUPPORT_UNKNOWN);
    assert_int_equal(tp_response_packet_support(287), TP_SUPPORT_UNKNOWN);
    assert_int_equal(tp_response_packet_support(0xffff), TP_SUPPORT_UNKNOWN);
    assert_null(tp_response_packet_reason(0xffff));

    /* BEGIN and END */
    assert_int_equal(tp_response_packet_support(1), TP_SUPPORT_ACCEPTED);
    assert_int_equal(tp_response_packet_support(2), TP_SUPPORT_ACCEPTED);

    /* names */
    assert_string_equal(tp_packet_support_name(TP_SUPPORT_ACCEPTED),
                        "accepted");
    assert_string_equal(tp_packet_support_name(TP_SUPPORT_IGNORED), "ignored");
    assert_string_equal(tp_packet_support_name(TP_SUPPORT_REQUEST_ONLY),
                        "request-only");
    assert_string_equal(tp_packet_support_name(TP_SUPPORT_REMOVED), "removed");
    assert_string_equal(tp_packet_support_name(TP_SUPPORT_UNSUPPORTED),
                        "unsupported");
    assert_string_equal(tp_packet_support_name(TP_SUPPORT_UNKNOWN), "unknown");
    assert_string_equal(tp_packet_support_name((enum tp_packet_support)99),
                        "unknown");
}

/* The spec's lists of what a response may not carry (§1.4 after the
 * table), by number. */
static void
test_packet_support_spec_lists(void **state)
{
    (void)state;
    /* request-only: PARAM, REMOTE_HOST, WIDGET_TYPE, USER_AGENT, ARGS,
     * QUERY_STRING, LOCAL_ADDRESS(_STRING), AUTHORIZATION, UA_CLASS,
     * SUFFIX, LOGIN, CRON, PASSWORD, ALT_HOST, CHAIN_HEADER, AUTH_TOKEN,
     * PLAN, PEEK */
    static const uint16_t request_only[] = {
        13, 16, 21, 35, 55, 38, 43, 44, 58, 88, 122, 164, 181, 166, 206,
        217, 221, 241, 276,
    };
    for (size_t i = 0; i < sizeof(request_only) / 2; i++)
        assert_int_equal(tp_response_packet_support(request_only[i]),
                         TP_SUPPORT_REQUEST_ONLY);
    /* refused as removed/deprecated or reported unknown by beng-proxy:
     * DOMAIN_, AJP, DELEGATE, JAILCGI, REFENCE, SUBST_YAML_FILE,
     * SUBST_ALT_SYNTAX */
    static const uint16_t removed[] = { 31, 30, 41, 26, 167, 205, 207 };
    for (size_t i = 0; i < sizeof(removed) / 2; i++)
        assert_int_equal(tp_response_packet_support(removed[i]),
                         TP_SUPPORT_REMOVED);
    /* silently ignored: DEFLATED, AUTO_DEFLATE, TIMEOUT */
    assert_int_equal(tp_response_packet_support(50), TP_SUPPORT_IGNORED);
    assert_int_equal(tp_response_packet_support(158), TP_SUPPORT_IGNORED);
    assert_int_equal(tp_response_packet_support(256), TP_SUPPORT_IGNORED);
    /* LOGIN-family beng-proxy rejects: SERVICE, NO_PASSWORD,
     * AUTHORIZED_KEYS, NO_HOME_AUTHORIZED_KEYS */
    static const uint16_t login[] = { 168, 244, 248, 255 };
    for (size_t i = 0; i < sizeof(login) / 2; i++) {
        enum tp_packet_support s = tp_response_packet_support(login[i]);
        assert_true(s == TP_SUPPORT_UNSUPPORTED || s == TP_SUPPORT_REMOVED);
    }
    /* VIEW and PROCESS: not supported (yet) */
    assert_int_equal(tp_response_packet_support(34), TP_SUPPORT_UNSUPPORTED);
    assert_int_equal(tp_response_packet_support(11), TP_SUPPORT_UNSUPPORTED);
}

/* Every refused command fails a response with a message naming it. */
static void
test_refused_packets_named(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    char want[200];
    for (unsigned n = 0; n <= 300; n++) {
        enum tp_packet_support s = tp_response_packet_support((uint16_t)n);
        const char *name = tp_command_name((uint16_t)n);
        switch (s) {
        case TP_SUPPORT_REQUEST_ONLY:
            snprintf(want, sizeof(want),
                     "misplaced translate request packet %s", name);
            break;
        case TP_SUPPORT_REMOVED:
            snprintf(want, sizeof(want),
                     "obsolete translation packet %s (%u): %s", name, n,
                     tp_response_packet_reason((uint16_t)n));
            break;
        case TP_SUPPORT_UNSUPPORTED:
            snprintf(want, sizeof(want),
                     "unsupported translation packet %s (%u)", name, n);
            break;
        case TP_SUPPORT_UNKNOWN:
            snprintf(want, sizeof(want), "unknown translation packet %u", n);
            break;
        default:
            continue;
        }
        /* empty and non-empty payloads alike */
        begin(m, 3);
        put0(m, (uint16_t)n);
        end(m);
        parse_err(m, want);
        begin(m, 3);
        P(m, (uint16_t)n, "/x\0y");
        end(m);
        parse_err(m, want);
    }
    static const uint16_t unknown[] = { 1000, 0x7fff, 0xfffe, 0xffff };
    for (size_t i = 0; i < sizeof(unknown) / 2; i++) {
        begin(m, 3);
        put0(m, unknown[i]);
        end(m);
        snprintf(want, sizeof(want), "unknown translation packet %u",
                 (unsigned)unknown[i]);
        parse_err(m, want);
    }
    free(m);
}

/* IGNORED packets are shape-checked, then dropped. */
static void
test_ignored_packets(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    P(m, TP_CMD_DEFLATED, "/x.deflate");
    put0(m, TP_CMD_AUTO_DEFLATE);
    put_u32(m, TP_CMD_TIMEOUT, 30);
    put_u32(m, TP_CMD_TIMEOUT, 30); /* not even a duplicate */
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    struct tp_response empty;
    struct tp_response_parser p;
    tp_response_parser_init(&p, &empty);
    empty.version = 3;
    char *a = dump(&r), *b = dump(&empty);
    assert_string_equal(a, b);
    free(a);
    free(b);
    tp_response_free(&r);
    tp_response_free(&empty);

    one_err(TP_CMD_TIMEOUT, "\x1e\x00\x00",
            "malformed TIMEOUT packet: payload must be a 4-byte integer");
    one_err(TP_CMD_AUTO_DEFLATE, "x",
            "malformed AUTO_DEFLATE packet: payload must be empty");
    one_err(TP_CMD_DEFLATED, "a\0b",
            "malformed DEFLATED packet: payload contains a NUL byte");
    free(m);
}

/* ==== resource addresses (§1.7) ==== */

static void
test_local_file(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    P(m, TP_CMD_BASE, "/static/");
    P(m, TP_CMD_PATH, "/srv/www/");
    P(m, TP_CMD_CONTENT_TYPE, "text/plain; charset=utf-8");
    P(m, TP_CMD_GZIPPED, "/srv/www/index.gz");
    put0(m, TP_CMD_AUTO_BROTLI_PATH);
    P(m, TP_CMD_BENEATH, "/srv");
    P(m, TP_CMD_APPEND_PATH, "index.html");
    P(m, TP_CMD_PATH_INFO, "/ignored");           /* accepted, ignored */
    P(m, TP_CMD_PATH_INFO, "/ignored-again");     /* not even a duplicate */
    put_u16(m, TP_CMD_STATUS, 203);
    put_u32(m, TP_CMD_EXPIRES_RELATIVE, 60);
    put_u32(m, TP_CMD_EXPIRES_RELATIVE_WITH_QUERY, 7);
    P(m, TP_CMD_CACHE_TAG, "files");
    put0(m, TP_CMD_AUTO_FLUSH_CACHE);
    put0(m, TP_CMD_UNCACHED);
    put0(m, TP_CMD_EAGER_CACHE);
    put0(m, TP_CMD_IGNORE_NO_CACHE);
    P(m, TP_CMD_FILE_NOT_FOUND, "fnf");
    P(m, TP_CMD_DIRECTORY_INDEX, "");
    put0(m, TP_CMD_DIRECTORY_INDEX_SLASH);
    P(m, TP_CMD_ENOTDIR_, "\x00\x01");
    put0(m, TP_CMD_PATH_EXISTS);
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    const struct tp_address *a = &r.address;
    assert_int_equal(a->type, TP_ADDRESS_LOCAL);
    assert_string_equal(a->path, "/srv/www/");
    assert_string_equal(a->content_type, "text/plain; charset=utf-8");
    assert_null(a->content_type_lookup.data);
    assert_string_equal(a->gzipped, "/srv/www/index.gz");
    assert_false(a->auto_gzipped);
    assert_true(a->auto_brotli_path);
    assert_string_equal(a->beneath, "/srv");
    assert_string_equal(a->append_path, "index.html");
    assert_null(a->path_info);
    assert_int_equal(r.status, 203);
    assert_int_equal(r.expires_relative, 60);
    assert_int_equal(r.expires_relative_with_query, 7);
    assert_string_equal(r.address_cache_tag, "files");
    assert_int_equal(r.cache_tags.n, 0);
    assert_true(r.auto_flush_cache && r.uncached && r.eager_cache &&
                r.ignore_no_cache);
    assert_int_equal(r.file_not_found.len, 3);
    assert_memory_equal(r.file_not_found.data, "fnf", 3);
    assert_non_null(r.directory_index.data); /* present though empty */
    assert_int_equal(r.directory_index.len, 0);
    assert_true(r.directory_index_slash);
    assert_int_equal(r.enotdir.len, 2);
    assert_memory_equal(r.enotdir.data, "\x00\x01", 2);
    assert_true(r.path_exists);
    /* a file address has no CGI, HTTP or child fields */
    assert_null(a->document_root);
    assert_int_equal(a->args.n, 0);
    assert_int_equal(a->addresses.n, 0);
    assert_int_equal(a->child.umask, TP_UMASK_UNSET);
    tp_response_free(&r);

    /* CONTENT_TYPE_LOOKUP and AUTO_GZIPPED variant */
    begin(m, 3);
    P(m, TP_CMD_PATH, "/f");
    P(m, TP_CMD_CONTENT_TYPE_LOOKUP, "ctl\0data");
    put0(m, TP_CMD_AUTO_GZIPPED);
    end(m);
    parse_ok(m, &r);
    assert_int_equal(r.address.content_type_lookup.len, 8);
    assert_memory_equal(r.address.content_type_lookup.data, "ctl\0data", 8);
    assert_null(r.address.content_type);
    assert_true(r.address.auto_gzipped);
    assert_null(r.address.gzipped);
    tp_response_free(&r);
    free(m);
}

static void
test_local_file_errors(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    /* modifiers without an address */
    one_err(TP_CMD_CONTENT_TYPE, "text/html",
            "misplaced CONTENT_TYPE packet: no resource address before it");
    one_err(TP_CMD_GZIPPED, "/a.gz",
            "misplaced GZIPPED packet: no resource address before it");
    one_err(TP_CMD_AUTO_GZIPPED, "",
            "misplaced AUTO_GZIPPED packet: no resource address before it");
    one_err(TP_CMD_AUTO_BROTLI_PATH, "", "misplaced AUTO_BROTLI_PATH "
                                         "packet: no resource address "
                                         "before it");
    one_err(TP_CMD_CONTENT_TYPE_LOOKUP, "x", "misplaced CONTENT_TYPE_LOOKUP "
                                             "packet: no resource address "
                                             "before it");
    one_err(TP_CMD_BENEATH, "/a",
            "misplaced BENEATH packet: no resource address before it");
    one_err(TP_CMD_PATH_INFO, "/a",
            "misplaced PATH_INFO packet: no resource address before it");

    /* ... and at a wrong address */
    static const uint16_t file_mods[] = {
        TP_CMD_CONTENT_TYPE, TP_CMD_GZIPPED, TP_CMD_AUTO_GZIPPED,
        TP_CMD_AUTO_BROTLI_PATH, TP_CMD_CONTENT_TYPE_LOOKUP, TP_CMD_BENEATH,
    };
    for (size_t i = 0; i < sizeof(file_mods) / 2; i++) {
        char want[128];
        begin(m, 3);
        P(m, TP_CMD_CGI, "/cgi-bin/x");
        if (file_mods[i] == TP_CMD_AUTO_GZIPPED ||
            file_mods[i] == TP_CMD_AUTO_BROTLI_PATH)
            put0(m, file_mods[i]);
        else
            P(m, file_mods[i], "/x");
        end(m);
        snprintf(want, sizeof(want),
                 "misplaced %s packet: not valid for a CGI address",
                 tp_command_name(file_mods[i]));
        parse_err(m, want);
    }
    begin(m, 3);
    P(m, TP_CMD_NFS_SERVER, "nfs1");
    P(m, TP_CMD_NFS_EXPORT, "/e");
    P(m, TP_CMD_PATH, "/p");
    P(m, TP_CMD_BENEATH, "/p");
    end(m);
    parse_err(m, "misplaced BENEATH packet: not valid for a NFS address");
    begin(m, 3);
    P(m, TP_CMD_HTTP, "http://h/");
    P(m, TP_CMD_PATH_INFO, "/x");
    end(m);
    parse_err(m, "misplaced PATH_INFO packet: not valid for a HTTP address");

    /* duplicates and exclusive pairs */
    static const struct {
        uint16_t first, second;
        const char *want;
    } pairs[] = {
        { TP_CMD_CONTENT_TYPE, TP_CMD_CONTENT_TYPE,
          "duplicate CONTENT_TYPE packet" },
        { TP_CMD_CONTENT_TYPE_LOOKUP, TP_CMD_CONTENT_TYPE_LOOKUP,
          "duplicate CONTENT_TYPE_LOOKUP packet" },
        { TP_CMD_CONTENT_TYPE, TP_CMD_CONTENT_TYPE_LOOKUP,
          "cannot combine CONTENT_TYPE with CONTENT_TYPE_LOOKUP" },
        { TP_CMD_CONTENT_TYPE_LOOKUP, TP_CMD_CONTENT_TYPE,
          "cannot combine CONTENT_TYPE with CONTENT_TYPE_LOOKUP" },
        { TP_CMD_GZIPPED, TP_CMD_GZIPPED, "duplicate GZIPPED packet" },
        { TP_CMD_AUTO_GZIPPED, TP_CMD_AUTO_GZIPPED,
          "duplicate AUTO_GZIPPED packet" },
        { TP_CMD_GZIPPED, TP_CMD_AUTO_GZIPPED,
          "cannot combine GZIPPED with AUTO_GZIPPED" },
        { TP_CMD_AUTO_GZIPPED, TP_CMD_GZIPPED,
          "cannot combine GZIPPED with AUTO_GZIPPED" },
        { TP_CMD_AUTO_BROTLI_PATH, TP_CMD_AUTO_BROTLI_PATH,
          "duplicate AUTO_BROTLI_PATH packet" },
        { TP_CMD_BENEATH, TP_CMD_BENEATH, "duplicate BENEATH packet" },
        { TP_CMD_UNCACHED, TP_CMD_UNCACHED, "duplicate UNCACHED packet" },
        { TP_CMD_EXPIRES_RELATIVE, TP_CMD_EXPIRES_RELATIVE,
          "duplicate EXPIRES_RELATIVE packet" },
        { TP_CMD_FILE_NOT_FOUND, TP_CMD_FILE_NOT_FOUND,
          "duplicate FILE_NOT_FOUND packet" },
        { TP_CMD_DIRECTORY_INDEX, TP_CMD_DIRECTORY_INDEX,
          "duplicate DIRECTORY_INDEX packet" },
        { TP_CMD_ENOTDIR_, TP_CMD_ENOTDIR_, "duplicate ENOTDIR_ packet" },
        { TP_CMD_PATH_EXISTS, TP_CMD_PATH_EXISTS,
          "duplicate PATH_EXISTS packet" },
        { TP_CMD_PATH, TP_CMD_PATH, "misplaced PATH packet: the main slot "
                                    "already has a PATH address" },
        { TP_CMD_PATH, TP_CMD_CGI, "misplaced CGI packet: the main slot "
                                   "already has a PATH address" },
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        begin(m, 3);
        P(m, TP_CMD_PATH, "/f");
        uint16_t c[2] = { pairs[i].first, pairs[i].second };
        for (int j = 0; j < 2; j++) {
            enum tp_payload_kind k = tp_command_info(c[j])->payload;
            if (j == 0 && c[j] == TP_CMD_PATH)
                continue;
            if (k == TP_PL_NONE)
                put0(m, c[j]);
            else if (k == TP_PL_U32)
                put_u32(m, c[j], 5);
            else
                P(m, c[j], "/x");
        }
        end(m);
        parse_err(m, pairs[i].want);
    }

    /* payload shapes */
    one_err(TP_CMD_PATH, "", "malformed PATH packet: payload must be an "
                             "absolute path");
    one_err(TP_CMD_PATH, "rel/x", "malformed PATH packet: payload must be "
                                  "an absolute path");
    one_err(TP_CMD_PATH, "/a\0b", "malformed PATH packet: payload contains "
                                  "a NUL byte");
    begin(m, 3);
    P(m, TP_CMD_PATH, "/f");
    P(m, TP_CMD_CONTENT_TYPE, "");
    end(m);
    parse_err(m, "malformed CONTENT_TYPE packet: payload must not be empty");
    begin(m, 3);
    P(m, TP_CMD_PATH, "/f");
    P(m, TP_CMD_GZIPPED, "f.gz");
    end(m);
    parse_err(m, "malformed GZIPPED packet: payload must be an absolute "
                 "path");
    begin(m, 3);
    P(m, TP_CMD_PATH, "/f");
    P(m, TP_CMD_BENEATH, "srv");
    end(m);
    parse_err(m, "malformed BENEATH packet: payload must be an absolute "
                 "path");
    begin(m, 3);
    P(m, TP_CMD_PATH, "/f");
    P(m, TP_CMD_AUTO_GZIPPED, "x");
    end(m);
    parse_err(m, "malformed AUTO_GZIPPED packet: payload must be empty");
    begin(m, 3);
    P(m, TP_CMD_PATH, "/f");
    P(m, TP_CMD_EXPIRES_RELATIVE, "\x01\x00");
    end(m);
    parse_err(m, "malformed EXPIRES_RELATIVE packet: payload must be a "
                 "4-byte integer");
    /* APPEND_PATH needs BASE */
    begin(m, 3);
    P(m, TP_CMD_PATH, "/f");
    P(m, TP_CMD_APPEND_PATH, "x");
    end(m);
    parse_err(m, "APPEND_PATH without BASE");
    free(m);
}

static void
test_nfs(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    P(m, TP_CMD_NFS_SERVER, "nfs.example.com");
    P(m, TP_CMD_NFS_EXPORT, "/export/www");
    P(m, TP_CMD_PATH, "/site/index.html");
    P(m, TP_CMD_CONTENT_TYPE, "text/html");
    put0(m, TP_CMD_AUTO_GZIPPED);
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    assert_int_equal(r.address.type, TP_ADDRESS_NFS);
    assert_string_equal(r.address.nfs_server, "nfs.example.com");
    assert_string_equal(r.address.nfs_export, "/export/www");
    assert_string_equal(r.address.path, "/site/index.html");
    assert_string_equal(r.address.content_type, "text/html");
    assert_true(r.address.auto_gzipped);
    tp_response_free(&r);

    one_err(TP_CMD_NFS_EXPORT, "/e", "NFS_EXPORT without NFS_SERVER");
    begin(m, 3);
    P(m, TP_CMD_NFS_SERVER, "s");
    P(m, TP_CMD_PATH, "/p");
    end(m);
    parse_err(m, "misplaced PATH packet: NFS_EXPORT must come first");
    begin(m, 3);
    P(m, TP_CMD_NFS_SERVER, "s");
    P(m, TP_CMD_NFS_EXPORT, "/e");
    P(m, TP_CMD_NFS_EXPORT, "/e");
    end(m);
    parse_err(m, "duplicate NFS_EXPORT packet");
    begin(m, 3);
    P(m, TP_CMD_NFS_SERVER, "s");
    P(m, TP_CMD_NFS_EXPORT, "/e");
    P(m, TP_CMD_PATH, "/p");
    P(m, TP_CMD_PATH, "/q");
    end(m);
    parse_err(m, "duplicate PATH packet");
    begin(m, 3);
    P(m, TP_CMD_NFS_SERVER, "s");
    end(m);
    parse_err(m, "NFS_SERVER without NFS_EXPORT");
    begin(m, 3);
    P(m, TP_CMD_NFS_SERVER, "s");
    P(m, TP_CMD_NFS_EXPORT, "/e");
    end(m);
    parse_err(m, "NFS address without PATH");
    begin(m, 3);
    P(m, TP_CMD_PATH, "/p");
    P(m, TP_CMD_NFS_SERVER, "s");
    end(m);
    parse_err(m, "misplaced NFS_SERVER packet: the main slot already has a "
                 "PATH address");
    one_err(TP_CMD_NFS_SERVER, "", "malformed NFS_SERVER packet: payload "
                                   "must not be empty");
    one_err(TP_CMD_NFS_SERVER, "a b", "malformed NFS_SERVER packet: not a "
                                      "valid host");
    one_err(TP_CMD_NFS_SERVER, "a/b", "malformed NFS_SERVER packet: not a "
                                      "valid host");
    begin(m, 3);
    P(m, TP_CMD_NFS_SERVER, "s");
    P(m, TP_CMD_NFS_EXPORT, "e");
    end(m);
    parse_err(m, "malformed NFS_EXPORT packet: must be an absolute path");
    begin(m, 3);
    P(m, TP_CMD_NFS_SERVER, "s");
    P(m, TP_CMD_NFS_EXPORT, "");
    end(m);
    parse_err(m, "malformed NFS_EXPORT packet: must be an absolute path");
    free(m);
}

static const struct sockaddr_in *
sin_of(const struct tp_socket_address *s)
{
    assert_int_equal(s->len, sizeof(struct sockaddr_in));
    assert_int_equal(s->addr.ss_family, AF_INET);
    return (const struct sockaddr_in *)&s->addr;
}

static const struct sockaddr_in6 *
sin6_of(const struct tp_socket_address *s)
{
    assert_int_equal(s->len, sizeof(struct sockaddr_in6));
    assert_int_equal(s->addr.ss_family, AF_INET6);
    return (const struct sockaddr_in6 *)&s->addr;
}

static void
assert_sun(const struct tp_socket_address *s, const char *path)
{
    size_t n = strlen(path);
    const struct sockaddr_un *un = (const struct sockaddr_un *)&s->addr;
    assert_int_equal(s->addr.ss_family, AF_LOCAL);
    if (path[0] == '@') {
        assert_int_equal(s->len, offsetof(struct sockaddr_un, sun_path) + n);
        assert_int_equal(un->sun_path[0], 0);
        assert_memory_equal(un->sun_path + 1, path + 1, n - 1);
    } else {
        assert_int_equal(s->len,
                         offsetof(struct sockaddr_un, sun_path) + n + 1);
        assert_string_equal(un->sun_path, path);
    }
}

static void
test_http(void **state)
{
    (void)state;
    uint8_t sa[sizeof(struct sockaddr_storage)];
    struct msg *m = new_msg(3);
    P(m, TP_CMD_HTTP, "http://www.example.com:81/a/b?q=1");
    P(m, TP_CMD_ADDRESS_STRING, "192.0.2.1");        /* default port 80 */
    P(m, TP_CMD_ADDRESS_STRING, "192.0.2.2:8080");
    P(m, TP_CMD_ADDRESS_STRING, "[2001:db8::1]:8443");
    P(m, TP_CMD_ADDRESS_STRING, "[2001:db8::2]");    /* default port */
    P(m, TP_CMD_ADDRESS_STRING, "2001:db8::3");      /* bare IPv6 */
    P(m, TP_CMD_ADDRESS_STRING, "backend.local:8081");/* kept unresolved */
    P(m, TP_CMD_ADDRESS_STRING, "backend2");
    P(m, TP_CMD_ADDRESS_STRING, "/run/backend.sock");
    P(m, TP_CMD_ADDRESS_STRING, "@backend");
    put(m, TP_CMD_ADDRESS, sa, sa_in(sa, "198.51.100.7", 9090));
    put(m, TP_CMD_ADDRESS, sa, sa_in6(sa, "::1", 9091));
    put(m, TP_CMD_ADDRESS, sa, sa_un(sa, "/run/raw.sock"));
    put(m, TP_CMD_ADDRESS, sa, sa_un(sa, "@raw"));
    put0(m, TP_CMD_STICKY);
    put0(m, TP_CMD_HTTP2);
    P(m, TP_CMD_REQUEST_HEADER, "X-Backend:1");
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    const struct tp_address *a = &r.address;
    assert_int_equal(a->type, TP_ADDRESS_HTTP);
    assert_int_equal(a->scheme, TP_HTTP_SCHEME_HTTP);
    assert_string_equal(a->host_and_port, "www.example.com:81");
    assert_string_equal(a->path, "/a/b?q=1");
    assert_true(a->http2);
    assert_true(a->addresses.sticky);
    assert_null(a->certificate);
    assert_int_equal(a->addresses.n, 13);
    const struct tp_socket_address *v = a->addresses.v;
    assert_int_equal(ntohs(sin_of(&v[0])->sin_port), 80);
    assert_int_equal(ntohl(sin_of(&v[0])->sin_addr.s_addr), 0xc0000201);
    assert_int_equal(ntohs(sin_of(&v[1])->sin_port), 8080);
    assert_int_equal(ntohs(sin6_of(&v[2])->sin6_port), 8443);
    struct in6_addr want6;
    inet_pton(AF_INET6, "2001:db8::1", &want6);
    assert_memory_equal(&sin6_of(&v[2])->sin6_addr, &want6, 16);
    assert_int_equal(ntohs(sin6_of(&v[3])->sin6_port), 80);
    assert_int_equal(ntohs(sin6_of(&v[4])->sin6_port), 80);
    inet_pton(AF_INET6, "2001:db8::3", &want6);
    assert_memory_equal(&sin6_of(&v[4])->sin6_addr, &want6, 16);
    assert_int_equal(v[5].len, 0);
    assert_string_equal(v[5].host, "backend.local");
    assert_int_equal(v[5].port, 8081);
    assert_int_equal(v[6].len, 0);
    assert_string_equal(v[6].host, "backend2");
    assert_int_equal(v[6].port, 80);
    assert_sun(&v[7], "/run/backend.sock");
    assert_sun(&v[8], "@backend");
    assert_int_equal(ntohs(sin_of(&v[9])->sin_port), 9090);
    assert_int_equal(ntohs(sin6_of(&v[10])->sin6_port), 9091);
    assert_sun(&v[11], "/run/raw.sock");
    assert_sun(&v[12], "@raw");
    for (size_t i = 0; i < 13; i++)
        if (i != 5 && i != 6)
            assert_null(v[i].host);
    assert_int_equal(r.request_headers.n, 1);
    assert_string_equal(r.request_headers.v[0].name, "x-backend");
    assert_string_equal(r.request_headers.v[0].value, "1");
    assert_false(r.request_headers.v[0].expand);
    tp_response_free(&r);

    /* https: default port 443, CERTIFICATE; a URL without path is "/" */
    begin(m, 3);
    P(m, TP_CMD_HTTP, "https://secure.example");
    P(m, TP_CMD_ADDRESS_STRING, "203.0.113.5");
    P(m, TP_CMD_ADDRESS_STRING, "secure.example");
    P(m, TP_CMD_CERTIFICATE, "client-cert_1");
    end(m);
    parse_ok(m, &r);
    assert_int_equal(r.address.scheme, TP_HTTP_SCHEME_HTTPS);
    assert_string_equal(r.address.host_and_port, "secure.example");
    assert_string_equal(r.address.path, "/");
    assert_string_equal(r.address.certificate, "client-cert_1");
    assert_int_equal(ntohs(sin_of(&r.address.addresses.v[0])->sin_port), 443);
    assert_int_equal(r.address.addresses.v[1].port, 443);
    assert_false(r.address.addresses.sticky);
    tp_response_free(&r);

    /* unix: URL */
    begin(m, 3);
    P(m, TP_CMD_HTTP, "unix:/run/app.sock");
    P(m, TP_CMD_ADDRESS_STRING, "/run/app.sock");
    P(m, TP_CMD_BASE, "/app/");
    P(m, TP_CMD_REGEX, "^(.*)");
    P(m, TP_CMD_EXPAND_PATH, "/\\1");
    end(m);
    parse_ok(m, &r);
    assert_int_equal(r.address.scheme, TP_HTTP_SCHEME_UNIX);
    assert_string_equal(r.address.path, "/run/app.sock");
    assert_null(r.address.host_and_port);
    assert_string_equal(r.address.expand_path, "/\\1");
    assert_sun(&r.address.addresses.v[0], "/run/app.sock");
    tp_response_free(&r);

    /* host names: labels of [A-Za-z0-9_-], the last one not all digits,
     * at most 253 characters; IPv4-mapped IPv6 */
    char host[300];
    memset(host, 'a', sizeof(host));
    for (size_t i = 63; i < 253; i += 64)
        host[i] = '.';
    begin(m, 3);
    P(m, TP_CMD_HTTP, "http://h/");
    put(m, TP_CMD_ADDRESS_STRING, host, 253);
    P(m, TP_CMD_ADDRESS_STRING, "1.2.3.a-b_c:65535");
    P(m, TP_CMD_ADDRESS_STRING, "[::ffff:192.0.2.9]:1");
    end(m);
    parse_ok(m, &r);
    assert_int_equal(strlen(r.address.addresses.v[0].host), 253);
    assert_string_equal(r.address.addresses.v[1].host, "1.2.3.a-b_c");
    assert_int_equal(r.address.addresses.v[1].port, 65535);
    assert_int_equal(ntohs(sin6_of(&r.address.addresses.v[2])->sin6_port),
                     1);
    assert_true(IN6_IS_ADDR_V4MAPPED(
        &sin6_of(&r.address.addresses.v[2])->sin6_addr));
    tp_response_free(&r);
    begin(m, 3);
    P(m, TP_CMD_HTTP, "http://h/");
    put(m, TP_CMD_ADDRESS_STRING, host, 254);
    end(m);
    parse_err(m, "malformed ADDRESS_STRING packet: malformed host");
    begin(m, 3);
    P(m, TP_CMD_HTTP, "http://h/");
    P(m, TP_CMD_ADDRESS_STRING, "a.b.123");
    end(m);
    parse_err(m, "malformed ADDRESS_STRING packet: malformed host");

    /* the longest socket paths that fit */
    char longpath[sizeof(((struct sockaddr_un *)0)->sun_path) + 2];
    memset(longpath, 'p', sizeof(longpath));
    longpath[0] = '/';
    begin(m, 3);
    P(m, TP_CMD_HTTP, "http://h/");
    put(m, TP_CMD_ADDRESS_STRING, longpath, sizeof(longpath) - 3);
    longpath[0] = '@';
    put(m, TP_CMD_ADDRESS_STRING, longpath, sizeof(longpath) - 2);
    end(m);
    parse_ok(m, &r);
    assert_int_equal(r.address.addresses.v[0].len,
                     sizeof(struct sockaddr_un));
    assert_int_equal(r.address.addresses.v[1].len,
                     sizeof(struct sockaddr_un));
    tp_response_free(&r);
    free(m);
}

static void
http_err_at(const char *url, uint16_t cmd, const void *payload, size_t len,
            const char *want, const char *file, int line)
{
    struct msg *m = new_msg(3);
    put_s(m, TP_CMD_HTTP, url);
    if (cmd != 0)
        put(m, cmd, payload, len);
    end(m);
    parse_err_at(m->data, m->len, 0, want, file, line);
    free(m);
}

#define http_err(url, cmd, lit, want)                                      \
    http_err_at(url, cmd, lit, sizeof(lit) - 1, want, __FILE__, __LINE__)

static void
test_http_errors(void **state)
{
    (void)state;
    one_err(TP_CMD_HTTP, "", "malformed HTTP packet: payload must not be "
                             "empty");
    one_err(TP_CMD_HTTP, "ftp://h/", "malformed HTTP packet: not http://, "
                                     "https:// or unix:/");
    one_err(TP_CMD_HTTP, "/run/sock", "malformed HTTP packet: not http://, "
                                      "https:// or unix:/");
    one_err(TP_CMD_HTTP, "http://", "malformed HTTP packet: malformed host");
    one_err(TP_CMD_HTTP, "http:///x", "malformed HTTP packet: malformed "
                                      "host");
    one_err(TP_CMD_HTTP, "http://a b/", "malformed HTTP packet: malformed "
                                        "host");
    one_err(TP_CMD_HTTP, "http://h/a b", "malformed HTTP packet: malformed "
                                         "path");
    one_err(TP_CMD_HTTP, "http://h/\xc3\xa4", "malformed HTTP packet: "
                                              "malformed path");
    one_err(TP_CMD_HTTP, "unix:/a b", "malformed HTTP packet: malformed "
                                      "path");
    one_err(TP_CMD_HTTP, "http://h/\0", "malformed HTTP packet: payload "
                                        "contains a NUL byte");
    http_err("http://h/", 0, "", "no ADDRESS for HTTP address");

    /* ADDRESS without a list */
    one_err(TP_CMD_ADDRESS_STRING, "1.2.3.4", "misplaced ADDRESS_STRING "
            "packet: no HTTP, FASTCGI or WAS address before it");
    struct msg *m = new_msg(3);
    P(m, TP_CMD_CGI, "/c");
    P(m, TP_CMD_ADDRESS_STRING, "1.2.3.4");
    end(m);
    parse_err(m, "misplaced ADDRESS_STRING packet: no HTTP, FASTCGI or WAS "
                 "address before it");
    begin(m, 3);
    P(m, TP_CMD_LHTTP_PATH, "/l");
    P(m, TP_CMD_ADDRESS, "\x01\x00/x");
    end(m);
    parse_err(m, "misplaced ADDRESS packet: no HTTP, FASTCGI or WAS address "
                 "before it");

    /* binary ADDRESS */
    uint8_t sa[sizeof(struct sockaddr_storage) + 8];
    size_t n = sa_in(sa, "1.2.3.4", 80);
    http_err_at("http://h/", TP_CMD_ADDRESS, sa, n - 1,
                "malformed ADDRESS packet: wrong size for its family",
                __FILE__, __LINE__);
    http_err_at("http://h/", TP_CMD_ADDRESS, sa, n + 1,
                "malformed ADDRESS packet: wrong size for its family",
                __FILE__, __LINE__);
    n = sa_in6(sa, "::1", 80);
    http_err_at("http://h/", TP_CMD_ADDRESS, sa, n - 4,
                "malformed ADDRESS packet: wrong size for its family",
                __FILE__, __LINE__);
    sa_un(sa, "/x");
    http_err_at("http://h/", TP_CMD_ADDRESS, sa, 2,
                "malformed ADDRESS packet: wrong size for AF_LOCAL",
                __FILE__, __LINE__);
    http_err_at("http://h/", TP_CMD_ADDRESS, sa,
                sizeof(struct sockaddr_un) + 1,
                "malformed ADDRESS packet: wrong size for AF_LOCAL",
                __FILE__, __LINE__);
    uint16_t family = AF_PACKET;
    memcpy(sa, &family, 2);
    http_err_at("http://h/", TP_CMD_ADDRESS, sa, 20,
                "malformed ADDRESS packet: unsupported address family",
                __FILE__, __LINE__);
    http_err("http://h/", TP_CMD_ADDRESS, "\x02",
             "malformed ADDRESS packet: payload is too short for a socket "
             "address");
    http_err("http://h/", TP_CMD_ADDRESS, "",
             "malformed ADDRESS packet: payload is too short for a socket "
             "address");

    /* ADDRESS_STRING */
    static const struct {
        const char *s, *why;
    } bad[] = {
        { "1.2.3.4:", "malformed port" },
        { "1.2.3.4:x", "malformed port" },
        { "1.2.3.4:123456", "malformed port" },
        { "1.2.3.4:0", "port out of range" },
        { "1.2.3.4:65536", "port out of range" },
        { "[::1", "missing ']'" },
        { "[::1]x", "garbage after ']'" },
        { "[::1]:", "malformed port" },
        { "[::1]:99999", "port out of range" },
        { "[::g]:80", "malformed IPv6 address" },
        { "1::2::3", "malformed IPv6 address" },
        { "[]:80", "malformed host" },
        { ":80", "malformed host" },
        { "1.2.3", "malformed host" },
        { "1.2.3.256", "malformed host" },
        { "a..b", "malformed host" },
        { ".a", "malformed host" },
        { "a.", "malformed host" },
        { "a b", "malformed host" },
        { "a/b", "malformed host" },
    };
    char want[128];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(want, sizeof(want), "malformed ADDRESS_STRING packet: %s",
                 bad[i].why);
        http_err_at("http://h/", TP_CMD_ADDRESS_STRING, bad[i].s,
                    strlen(bad[i].s), want, __FILE__, __LINE__);
    }
    char longpath[sizeof(((struct sockaddr_un *)0)->sun_path) + 2];
    memset(longpath, 'p', sizeof(longpath));
    longpath[0] = '/';
    http_err_at("http://h/", TP_CMD_ADDRESS_STRING, longpath,
                sizeof(longpath) - 2,
                "malformed ADDRESS_STRING packet: socket path too long",
                __FILE__, __LINE__);
    longpath[0] = '@';
    http_err_at("http://h/", TP_CMD_ADDRESS_STRING, longpath,
                sizeof(longpath) - 1,
                "malformed ADDRESS_STRING packet: socket path too long",
                __FILE__, __LINE__);
    http_err("http://h/", TP_CMD_ADDRESS_STRING, "",
             "malformed ADDRESS_STRING packet: payload must not be empty");
    http_err("http://h/", TP_CMD_ADDRESS_STRING, "1.2.3.4\0",
             "malformed ADDRESS_STRING packet: payload contains a NUL byte");

    /* list limit */
    begin(m, 3);
    P(m, TP_CMD_HTTP, "http://h/");
    for (int i = 0; i <= TP_MAX_ADDRESSES; i++)
        P(m, TP_CMD_ADDRESS_STRING, "10.0.0.1");
    end(m);
    parse_err(m, "too many ADDRESS_STRING packets (limit 32)");
    begin(m, 3);
    P(m, TP_CMD_HTTP, "http://h/");
    for (int i = 0; i < TP_MAX_ADDRESSES; i++)
        P(m, TP_CMD_ADDRESS_STRING, "10.0.0.1");
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    assert_int_equal(r.address.addresses.n, TP_MAX_ADDRESSES);
    tp_response_free(&r);

    /* STICKY, HTTP2, CERTIFICATE */
    one_err(TP_CMD_STICKY, "", "misplaced STICKY packet: no address list "
                               "before it");
    begin(m, 3);
    P(m, TP_CMD_PATH, "/p");
    put0(m, TP_CMD_STICKY);
    end(m);
    parse_err(m, "misplaced STICKY packet: no address list before it");
    http_err("http://h/", TP_CMD_STICKY, "x", "malformed STICKY packet: "
                                              "payload must be empty");
    begin(m, 3);
    P(m, TP_CMD_HTTP, "http://h/");
    P(m, TP_CMD_ADDRESS_STRING, "10.0.0.1");
    put0(m, TP_CMD_STICKY);
    put0(m, TP_CMD_STICKY);
    end(m);
    parse_err(m, "duplicate STICKY packet");
    begin(m, 3);
    P(m, TP_CMD_HTTP, "http://h/");
    put0(m, TP_CMD_HTTP2);
    put0(m, TP_CMD_HTTP2);
    end(m);
    parse_err(m, "duplicate HTTP2 packet");
    one_err(TP_CMD_HTTP2, "", "misplaced HTTP2 packet: no resource address "
                              "before it");
    begin(m, 3);
    P(m, TP_CMD_PATH, "/p");
    put0(m, TP_CMD_HTTP2);
    end(m);
    parse_err(m, "misplaced HTTP2 packet: not valid for a PATH address");
    http_err("http://h/", TP_CMD_CERTIFICATE, "c",
             "misplaced CERTIFICATE packet: needs an https:// HTTP address");
    one_err(TP_CMD_CERTIFICATE, "c",
            "misplaced CERTIFICATE packet: needs an https:// HTTP address");
    http_err("https://h/", TP_CMD_CERTIFICATE, "a b",
             "malformed CERTIFICATE packet: must be a name of [A-Za-z0-9_-]");
    http_err("https://h/", TP_CMD_CERTIFICATE, "",
             "malformed CERTIFICATE packet: must be a name of [A-Za-z0-9_-]");
    begin(m, 3);
    P(m, TP_CMD_HTTP, "https://h/");
    P(m, TP_CMD_CERTIFICATE, "c");
    P(m, TP_CMD_CERTIFICATE, "c");
    end(m);
    parse_err(m, "duplicate CERTIFICATE packet");
    begin(m, 3);
    P(m, TP_CMD_HTTP, "http://h/");
    P(m, TP_CMD_HTTP, "http://h/");
    end(m);
    parse_err(m, "misplaced HTTP packet: the main slot already has a HTTP "
                 "address");
    free(m);
}

/* ==== spawned programs: CGI, FASTCGI, WAS, LHTTP (§1.7.3-§1.7.6) ==== */

static void
assert_expandable(const struct tp_expandable_list *l, size_t i,
                  const char *value, const char *expand)
{
    assert_true(i < l->n);
    assert_string_equal(l->v[i].value, value);
    if (expand == NULL)
        assert_null(l->v[i].expand);
    else
        assert_string_equal(l->v[i].expand, expand);
}

static void
test_cgi(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    P(m, TP_CMD_DOCUMENT_ROOT, "/srv/default");   /* copied into the CGI */
    P(m, TP_CMD_BASE, "/cgi/");
    P(m, TP_CMD_REGEX, "^cgi/(.*)$");
    P(m, TP_CMD_CGI, "/usr/lib/cgi-bin/app.cgi");
    P(m, TP_CMD_SCRIPT_NAME, "/cgi/app.cgi");
    P(m, TP_CMD_PATH_INFO, "/x");
    P(m, TP_CMD_EXPAND_PATH_INFO, "/\\1");
    P(m, TP_CMD_EXPAND_SCRIPT_NAME, "/cgi/\\1");
    P(m, TP_CMD_INTERPRETER, "/usr/bin/perl");
    P(m, TP_CMD_ACTION, "/usr/bin/action");
    P(m, TP_CMD_APPEND, "-w");
    P(m, TP_CMD_APPEND, "--arg");
    P(m, TP_CMD_EXPAND_APPEND, "--arg=\\1");
    P(m, TP_CMD_PAIR, "CGI_PAIR=1");               /* environment for CGI */
    P(m, TP_CMD_EXPAND_PAIR, "CGI_PAIR=\\1");
    P(m, TP_CMD_SETENV, "LANG=C");
    P(m, TP_CMD_EXPAND_SETENV, "LANG=\\1");
    P(m, TP_CMD_SETENV, "EMPTY=");
    P(m, TP_CMD_PROCESS_NAME, "app");
    put0(m, TP_CMD_REQUEST_URI_VERBATIM);
    P(m, TP_CMD_EXPAND_PATH, "/usr/lib/cgi-bin/\\1");
    P(m, TP_CMD_CHILD_TAG, "site1");
    P(m, TP_CMD_CHILD_TAG, "group");
    P(m, TP_CMD_STDERR_PATH, "/var/log/cgi.err");
    P(m, TP_CMD_CHDIR, "/srv/app");
    {
        int32_t ids[] = { 1000, 1001, 20, 21, -1 };
        put(m, TP_CMD_UID_GID, ids, sizeof(ids));
    }
    put_u16(m, TP_CMD_UMASK, 022);
    P(m, TP_CMD_RLIMITS, "c!Sv1Gn256Hn512 t60");
    put0(m, TP_CMD_NO_NEW_PRIVS);
    put0(m, TP_CMD_SIGKILL_);
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    const struct tp_address *a = &r.address;
    assert_int_equal(a->type, TP_ADDRESS_CGI);
    assert_string_equal(a->path, "/usr/lib/cgi-bin/app.cgi");
    assert_string_equal(a->expand_path, "/usr/lib/cgi-bin/\\1");
    assert_string_equal(a->document_root, "/srv/default");
    assert_null(a->expand_document_root);
    assert_string_equal(a->script_name, "/cgi/app.cgi");
    assert_string_equal(a->expand_script_name, "/cgi/\\1");
    assert_string_equal(a->path_info, "/x");
    assert_string_equal(a->expand_path_info, "/\\1");
    assert_string_equal(a->interpreter, "/usr/bin/perl");
    assert_string_equal(a->action, "/usr/bin/action");
    assert_int_equal(a->args.n, 2);
    assert_expandable(&a->args, 0, "-w", NULL);
    assert_expandable(&a->args, 1, "--arg", "--arg=\\1");
    assert_int_equal(a->params.n, 0);
    const struct tp_child_options *c = &a->child;
    assert_int_equal(c->env.n, 3);
    assert_expandable(&c->env, 0, "CGI_PAIR=1", "CGI_PAIR=\\1");
    assert_expandable(&c->env, 1, "LANG=C", "LANG=\\1");
    assert_expandable(&c->env, 2, "EMPTY=", NULL);
    assert_string_equal(a->process_name, "app");
    assert_true(a->request_uri_verbatim);
    assert_int_equal(c->tags.n, 2);
    assert_string_equal(c->tags.v[0], "site1");
    assert_string_equal(c->tags.v[1], "group");
    assert_string_equal(c->stderr_path, "/var/log/cgi.err");
    assert_false(c->stderr_null);
    assert_string_equal(c->chdir, "/srv/app");
    assert_true(c->uid_gid.present);
    assert_int_equal(c->uid_gid.uid, 1000);
    assert_int_equal(c->uid_gid.gid, 1001);
    assert_int_equal(c->uid_gid.n_groups, 3);
    assert_int_equal(c->uid_gid.groups[0], 20);
    assert_int_equal(c->uid_gid.groups[2], -1);
    assert_int_equal(c->umask, 022);
    assert_string_equal(c->rlimits, "c!Sv1Gn256Hn512 t60");
    assert_true(c->no_new_privs);
    assert_true(c->sigkill);
    /* the response-wide default stays too */
    assert_string_equal(r.document_root, "/srv/default");
    /* nothing leaked to the unattached block */
    assert_int_equal(r.unattached_child.env.n, 0);
    assert_int_equal(r.unattached_child.tags.n, 0);
    tp_response_free(&r);

    /* DOCUMENT_ROOT after the CGI: this CGI's own, overwriting (§1.6) */
    begin(m, 3);
    P(m, TP_CMD_DOCUMENT_ROOT, "/srv/default");
    P(m, TP_CMD_CGI, "/c");
    P(m, TP_CMD_DOCUMENT_ROOT, "/srv/own");
    P(m, TP_CMD_DOCUMENT_ROOT, "/srv/own2");
    P(m, TP_CMD_PATH_INFO, "/p/");
    put0(m, TP_CMD_AUTO_BASE);
    end(m);
    parse_ok(m, &r);
    assert_string_equal(r.address.document_root, "/srv/own2");
    assert_string_equal(r.document_root, "/srv/default");
    assert_true(r.auto_base);
    tp_response_free(&r);

    /* the same for EXPAND_DOCUMENT_ROOT: the inherited default is no
     * duplicate, a second one for the CGI itself is */
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, "(.*)");
    P(m, TP_CMD_EXPAND_DOCUMENT_ROOT, "/srv/\\1");
    P(m, TP_CMD_CGI, "/c");
    P(m, TP_CMD_EXPAND_DOCUMENT_ROOT, "/own/\\1");
    end(m);
    parse_ok(m, &r);
    assert_string_equal(r.address.expand_document_root, "/own/\\1");
    assert_string_equal(r.expand_document_root, "/srv/\\1");
    tp_response_free(&r);
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, "(.*)");
    P(m, TP_CMD_EXPAND_DOCUMENT_ROOT, "/srv/\\1");
    P(m, TP_CMD_WAS, "/c");
    end(m);
    parse_ok(m, &r);
    assert_string_equal(r.address.expand_document_root, "/srv/\\1");
    tp_response_free(&r);
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, "(.*)");
    P(m, TP_CMD_EXPAND_DOCUMENT_ROOT, "/srv/\\1");
    P(m, TP_CMD_CGI, "/c");
    P(m, TP_CMD_EXPAND_DOCUMENT_ROOT, "/own/\\1");
    P(m, TP_CMD_EXPAND_DOCUMENT_ROOT, "/own/\\1");
    end(m);
    parse_err(m, "duplicate EXPAND_DOCUMENT_ROOT packet");
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, "(.*)");
    P(m, TP_CMD_EXPAND_DOCUMENT_ROOT, "/srv/\\1");
    P(m, TP_CMD_EXPAND_DOCUMENT_ROOT, "/srv/\\1");
    end(m);
    parse_err(m, "duplicate EXPAND_DOCUMENT_ROOT packet");

    /* DOCUMENT_ROOT after a file address, before END: the default, which
     * a CGI in a FILTER slot inherits when it starts */
    begin(m, 3);
    P(m, TP_CMD_PATH, "/f");
    P(m, TP_CMD_DOCUMENT_ROOT, "/srv/late");
    put0(m, TP_CMD_FILTER);
    P(m, TP_CMD_CGI, "/filter.cgi");
    end(m);
    parse_ok(m, &r);
    assert_null(r.address.document_root);
    assert_string_equal(r.document_root, "/srv/late");
    assert_string_equal(r.filters[0]->address.document_root, "/srv/late");
    tp_response_free(&r);
    free(m);
}

static void
test_cgi_errors(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    one_err(TP_CMD_CGI, "", "malformed CGI packet: payload must be an "
                            "absolute path");
    one_err(TP_CMD_CGI, "app.cgi", "malformed CGI packet: payload must be "
                                   "an absolute path");
    one_err(TP_CMD_DOCUMENT_ROOT, "srv", "malformed DOCUMENT_ROOT packet: "
                                         "payload must be an absolute path");
    one_err(TP_CMD_SCRIPT_NAME, "/s", "misplaced SCRIPT_NAME packet: no "
                                      "resource address before it");
    one_err(TP_CMD_APPEND, "x", "misplaced APPEND packet: no resource "
                                "address before it");
    one_err(TP_CMD_AUTO_BASE, "", "misplaced AUTO_BASE packet: needs a "
                                  "CGI-like address with PATH_INFO");

    static const struct {
        const char *addr;     /* command name: PATH, HTTP or CGI */
        uint16_t cmd;
        const char *payload, *want;
    } cases[] = {
        { "PATH", TP_CMD_APPEND, "x", "misplaced APPEND packet: not valid "
                                      "for a PATH address" },
        { "HTTP", TP_CMD_APPEND, "x", "misplaced APPEND packet: not valid "
                                      "for a HTTP address" },
        { "PATH", TP_CMD_SCRIPT_NAME, "/s", "misplaced SCRIPT_NAME packet: "
                                            "not valid for a PATH address" },
        { "PATH", TP_CMD_INTERPRETER, "/i", "misplaced INTERPRETER packet: "
                                            "not valid for a PATH address" },
        { "PATH", TP_CMD_PROCESS_NAME, "p", "misplaced PROCESS_NAME packet: "
                                            "not valid for a PATH address" },
        { "PATH", TP_CMD_REQUEST_URI_VERBATIM, "",
          "misplaced REQUEST_URI_VERBATIM packet: not valid for a PATH "
          "address" },
        { "CGI", TP_CMD_CONCURRENCY, "\x01\x00",
          "misplaced CONCURRENCY packet: not valid for a CGI address" },
        { "CGI", TP_CMD_PARALLELISM, "\x01\x00",
          "misplaced PARALLELISM packet: not valid for a CGI address" },
        { "CGI", TP_CMD_INSTANT_FADE, "",
          "misplaced INSTANT_FADE packet: not valid for a CGI address" },
        { "CGI", TP_CMD_DISPOSABLE, "", "misplaced DISPOSABLE packet: needs "
                                        "a WAS address without "
                                        "CONCURRENCY" },
        { "CGI", TP_CMD_NON_BLOCKING, "", "misplaced NON_BLOCKING packet: "
                                          "not valid for a CGI address" },
        { "CGI", TP_CMD_LHTTP_URI, "/u", "misplaced LHTTP_URI packet: not "
                                         "valid for a CGI address" },
        { "CGI", TP_CMD_AUTO_BASE, "", "misplaced AUTO_BASE packet: needs a "
                                       "CGI-like address with PATH_INFO" },
        { "CGI", TP_CMD_APPEND, "", "malformed APPEND packet: payload must "
                                    "not be empty" },
        { "CGI", TP_CMD_PAIR, "NOVALUE", "malformed PAIR packet: must be "
                                         "NAME=VALUE" },
        { "CGI", TP_CMD_PAIR, "=x", "malformed PAIR packet: must be "
                                    "NAME=VALUE" },
        { "CGI", TP_CMD_PAIR, "", "malformed PAIR packet: must be "
                                  "NAME=VALUE" },
        { "CGI", TP_CMD_SETENV, "X", "malformed SETENV packet: must be "
                                     "NAME=VALUE" },
        { "CGI", TP_CMD_SETENV, "=", "malformed SETENV packet: must be "
                                     "NAME=VALUE" },
        { "CGI", TP_CMD_PROCESS_NAME, "", "malformed PROCESS_NAME packet: "
                                          "payload must not be empty" },
        { "CGI", TP_CMD_EXPAND_APPEND, "x", "EXPAND_APPEND without REGEX" },
        { "CGI", TP_CMD_EXPAND_PAIR, "A=x", "EXPAND_PAIR without REGEX" },
        { "CGI", TP_CMD_EXPAND_SETENV, "A=x", "EXPAND_SETENV without REGEX" },
        { "CGI", TP_CMD_EXPAND_SCRIPT_NAME, "x", "EXPAND_SCRIPT_NAME without "
                                                 "REGEX" },
        { "CGI", TP_CMD_EXPAND_PATH_INFO, "x", "EXPAND_PATH_INFO without "
                                               "REGEX" },
        { "CGI", TP_CMD_EXPAND_PATH, "x", "EXPAND_PATH without REGEX" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        begin(m, 3);
        if (strcmp(cases[i].addr, "PATH") == 0)
            P(m, TP_CMD_PATH, "/f");
        else if (strcmp(cases[i].addr, "HTTP") == 0)
            P(m, TP_CMD_HTTP, "http://h/");
        else
            P(m, TP_CMD_CGI, "/c");
        put(m, cases[i].cmd, cases[i].payload,
            cases[i].cmd == TP_CMD_CONCURRENCY ||
                    cases[i].cmd == TP_CMD_PARALLELISM
                ? 2
                : strlen(cases[i].payload));
        end(m);
        parse_err(m, cases[i].want);
    }
    begin(m, 3);
    P(m, TP_CMD_CGI, "/c");
    P(m, TP_CMD_SCRIPT_NAME, "a\0b");
    end(m);
    parse_err(m, "malformed SCRIPT_NAME packet: payload contains a NUL byte");

    /* EXPAND_APPEND/PAIR/SETENV need their item right before */
    static const struct {
        uint16_t item, expand;
    } exp[] = {
        { TP_CMD_APPEND, TP_CMD_EXPAND_APPEND },
        { TP_CMD_PAIR, TP_CMD_EXPAND_PAIR },
        { TP_CMD_SETENV, TP_CMD_EXPAND_SETENV },
    };
    for (size_t i = 0; i < 3; i++) {
        char want[128];
        snprintf(want, sizeof(want), "misplaced %s packet: needs the item "
                 "it expands right before it",
                 tp_command_name(exp[i].expand));
        begin(m, 3);
        P(m, TP_CMD_BASE, "/");
        P(m, TP_CMD_REGEX, ".");
        P(m, TP_CMD_CGI, "/c");
        P(m, exp[i].expand, "A=B");
        end(m);
        parse_err(m, want);
        begin(m, 3);
        P(m, TP_CMD_BASE, "/");
        P(m, TP_CMD_REGEX, ".");
        P(m, TP_CMD_CGI, "/c");
        P(m, exp[i].item, "A=B");
        P(m, exp[i].expand, "A=B");
        P(m, exp[i].expand, "A=C");
        end(m);
        parse_err(m, want);
    }
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, ".");
    P(m, TP_CMD_CGI, "/c");
    P(m, TP_CMD_EXPAND_PAIR, "=B");
    end(m);
    parse_err(m, "malformed EXPAND_PAIR packet: must be NAME=VALUE");
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, ".");
    P(m, TP_CMD_CGI, "/c");
    P(m, TP_CMD_APPEND, "a");
    P(m, TP_CMD_EXPAND_APPEND, "");
    end(m);
    parse_err(m, "malformed EXPAND_APPEND packet: payload must not be "
                 "empty");

    /* duplicates */
    static const uint16_t dups[] = {
        TP_CMD_SCRIPT_NAME, TP_CMD_PATH_INFO, TP_CMD_INTERPRETER,
        TP_CMD_ACTION, TP_CMD_PROCESS_NAME, TP_CMD_REQUEST_URI_VERBATIM,
        TP_CMD_EXPAND_PATH_INFO, TP_CMD_EXPAND_SCRIPT_NAME,
        TP_CMD_EXPAND_PATH, TP_CMD_EXPAND_DOCUMENT_ROOT, TP_CMD_AUTO_BASE,
    };
    for (size_t i = 0; i < sizeof(dups) / 2; i++) {
        char want[128];
        snprintf(want, sizeof(want), "duplicate %s packet",
                 tp_command_name(dups[i]));
        begin(m, 3);
        if (dups[i] != TP_CMD_AUTO_BASE) {
            P(m, TP_CMD_BASE, "/");
            P(m, TP_CMD_REGEX, ".");
        }
        P(m, TP_CMD_CGI, "/c");
        if (dups[i] == TP_CMD_AUTO_BASE)
            P(m, TP_CMD_PATH_INFO, "/i");
        for (int j = 0; j < 2; j++) {
            if (tp_command_info(dups[i])->payload == TP_PL_NONE)
                put0(m, dups[i]);
            else
                P(m, dups[i], "/x");
        }
        end(m);
        parse_err(m, want);
    }

    /* AUTO_BASE and BASE exclude each other; AUTO_BASE not in FILTER */
    begin(m, 3);
    P(m, TP_CMD_BASE, "/b/");
    P(m, TP_CMD_CGI, "/c");
    P(m, TP_CMD_PATH_INFO, "/i");
    put0(m, TP_CMD_AUTO_BASE);
    end(m);
    parse_err(m, "cannot combine AUTO_BASE with BASE");
    begin(m, 3);
    P(m, TP_CMD_CGI, "/c");
    P(m, TP_CMD_PATH_INFO, "/i");
    put0(m, TP_CMD_AUTO_BASE);
    P(m, TP_CMD_BASE, "/b/");
    end(m);
    parse_err(m, "cannot combine BASE with AUTO_BASE");
    begin(m, 3);
    P(m, TP_CMD_PATH, "/f");
    put0(m, TP_CMD_FILTER);
    P(m, TP_CMD_CGI, "/c");
    P(m, TP_CMD_PATH_INFO, "/i");
    put0(m, TP_CMD_AUTO_BASE);
    end(m);
    parse_err(m, "misplaced AUTO_BASE packet: needs a CGI-like address with "
                 "PATH_INFO");
    begin(m, 3);
    P(m, TP_CMD_LHTTP_PATH, "/l");
    P(m, TP_CMD_LHTTP_URI, "/");
    put0(m, TP_CMD_AUTO_BASE);
    end(m);
    parse_err(m, "misplaced AUTO_BASE packet: needs a CGI-like address with "
                 "PATH_INFO");

    /* list limits */
    begin(m, 3);
    P(m, TP_CMD_CGI, "/c");
    for (int i = 0; i <= TP_MAX_ARGS; i++)
        P(m, TP_CMD_APPEND, "a");
    end(m);
    parse_err(m, "too many APPEND packets (limit 64)");
    begin(m, 3);
    P(m, TP_CMD_CGI, "/c");
    for (int i = 0; i <= TP_MAX_ENV; i++)
        P(m, i % 2 ? TP_CMD_PAIR : TP_CMD_SETENV, "A=1");
    end(m);
    parse_err(m, "too many SETENV packets (limit 64)");
    begin(m, 3);
    P(m, TP_CMD_CGI, "/c");
    for (int i = 0; i < TP_MAX_ARGS; i++)
        P(m, TP_CMD_APPEND, "a");
    for (int i = 0; i < TP_MAX_ENV; i++)
        P(m, TP_CMD_SETENV, "A=1");
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    assert_int_equal(r.address.args.n, TP_MAX_ARGS);
    assert_int_equal(r.address.child.env.n, TP_MAX_ENV);
    tp_response_free(&r);
    free(m);
}

static void
test_fastcgi(void **state)
{
    (void)state;
    uint8_t sa[sizeof(struct sockaddr_storage)];
    struct msg *m = new_msg(3);
    /* spawned: PAIR is a FastCGI parameter, SETENV the environment */
    P(m, TP_CMD_FASTCGI, "/usr/bin/php-cgi");
    P(m, TP_CMD_PAIR, "SCRIPT_FILENAME=/srv/index.php");
    P(m, TP_CMD_SETENV, "PHP_FCGI_CHILDREN=0");
    P(m, TP_CMD_APPEND, "-c");
    put_u16(m, TP_CMD_CONCURRENCY, 4);
    put_u16(m, TP_CMD_PARALLELISM, 8);
    put0(m, TP_CMD_INSTANT_FADE);
    P(m, TP_CMD_INTERPRETER, "/bin/sh");
    P(m, TP_CMD_SCRIPT_NAME, "/index.php");
    P(m, TP_CMD_DOCUMENT_ROOT, "/srv");
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    const struct tp_address *a = &r.address;
    assert_int_equal(a->type, TP_ADDRESS_FASTCGI);
    assert_string_equal(a->path, "/usr/bin/php-cgi");
    assert_int_equal(a->params.n, 1);
    assert_expandable(&a->params, 0, "SCRIPT_FILENAME=/srv/index.php", NULL);
    assert_int_equal(a->child.env.n, 1);
    assert_expandable(&a->child.env, 0, "PHP_FCGI_CHILDREN=0", NULL);
    assert_int_equal(a->args.n, 1);
    assert_int_equal(a->concurrency, 4);
    assert_int_equal(a->parallelism, 8);
    assert_true(a->instant_fade);
    assert_string_equal(a->interpreter, "/bin/sh");
    assert_string_equal(a->document_root, "/srv");
    assert_null(r.document_root);
    assert_int_equal(a->addresses.n, 0);
    tp_response_free(&r);

    /* remote: default port 9000 */
    begin(m, 3);
    P(m, TP_CMD_FASTCGI, "/srv/index.php");
    P(m, TP_CMD_ADDRESS_STRING, "127.0.0.1");
    P(m, TP_CMD_ADDRESS_STRING, "fpm.local");
    P(m, TP_CMD_ADDRESS_STRING, "[::1]:9001");
    put(m, TP_CMD_ADDRESS, sa, sa_un(sa, "/run/php-fpm.sock"));
    put0(m, TP_CMD_STICKY);
    end(m);
    parse_ok(m, &r);
    a = &r.address;
    assert_int_equal(a->addresses.n, 4);
    assert_int_equal(ntohs(sin_of(&a->addresses.v[0])->sin_port), 9000);
    assert_int_equal(a->addresses.v[1].port, 9000);
    assert_int_equal(ntohs(sin6_of(&a->addresses.v[2])->sin6_port), 9001);
    assert_sun(&a->addresses.v[3], "/run/php-fpm.sock");
    assert_true(a->addresses.sticky);
    tp_response_free(&r);

    /* limits and duplicates */
    begin(m, 3);
    P(m, TP_CMD_FASTCGI, "/f");
    for (int i = 0; i <= TP_MAX_PAIRS; i++)
        P(m, TP_CMD_PAIR, "A=1");
    end(m);
    parse_err(m, "too many PAIR packets (limit 64)");
    begin(m, 3);
    P(m, TP_CMD_FASTCGI, "/f");
    put_u16(m, TP_CMD_CONCURRENCY, 1);
    put_u16(m, TP_CMD_CONCURRENCY, 2);
    end(m);
    parse_err(m, "duplicate CONCURRENCY packet");
    begin(m, 3);
    P(m, TP_CMD_FASTCGI, "/f");
    put_u16(m, TP_CMD_PARALLELISM, 1);
    put_u16(m, TP_CMD_PARALLELISM, 2);
    end(m);
    parse_err(m, "duplicate PARALLELISM packet");
    begin(m, 3);
    P(m, TP_CMD_FASTCGI, "/f");
    put0(m, TP_CMD_INSTANT_FADE);
    put0(m, TP_CMD_INSTANT_FADE);
    end(m);
    parse_err(m, "duplicate INSTANT_FADE packet");
    begin(m, 3);
    P(m, TP_CMD_FASTCGI, "/f");
    P(m, TP_CMD_CONCURRENCY, "\x01");
    end(m);
    parse_err(m, "malformed CONCURRENCY packet: payload must be a 2-byte "
                 "integer");
    begin(m, 3);
    P(m, TP_CMD_FASTCGI, "/f");
    put0(m, TP_CMD_DISPOSABLE);
    end(m);
    parse_err(m, "misplaced DISPOSABLE packet: needs a WAS address without "
                 "CONCURRENCY");
    one_err(TP_CMD_FASTCGI, "php", "malformed FASTCGI packet: payload must "
                                   "be an absolute path");
    free(m);
}

static void
test_was(void **state)
{
    (void)state;
    uint8_t sa[sizeof(struct sockaddr_storage)];
    struct msg *m = new_msg(3);
    /* classic WAS with DISPOSABLE; PAIR = WAS parameter */
    P(m, TP_CMD_WAS, "/usr/lib/was/app");
    put0(m, TP_CMD_DISPOSABLE);
    P(m, TP_CMD_PAIR, "k=v");
    P(m, TP_CMD_SETENV, "E=1");
    P(m, TP_CMD_SCRIPT_NAME, "/");
    P(m, TP_CMD_PATH_INFO, "/x");
    put_u16(m, TP_CMD_PARALLELISM, 2);
    put0(m, TP_CMD_REQUEST_URI_VERBATIM);
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    assert_int_equal(r.address.type, TP_ADDRESS_WAS);
    assert_true(r.address.disposable);
    assert_int_equal(r.address.concurrency, 0);
    assert_int_equal(r.address.params.n, 1);
    assert_expandable(&r.address.params, 0, "k=v", NULL);
    assert_int_equal(r.address.child.env.n, 1);
    assert_int_equal(r.address.parallelism, 2);
    tp_response_free(&r);

    /* Multi-WAS: CONCURRENCY, no address */
    begin(m, 3);
    P(m, TP_CMD_WAS, "/w");
    put_u16(m, TP_CMD_CONCURRENCY, 16);
    end(m);
    parse_ok(m, &r);
    assert_int_equal(r.address.concurrency, 16);
    assert_int_equal(r.address.addresses.n, 0);
    tp_response_free(&r);

    /* Remote WAS: CONCURRENCY and one AF_LOCAL address */
    begin(m, 3);
    P(m, TP_CMD_WAS, "/w");
    P(m, TP_CMD_ADDRESS_STRING, "@was-app");
    put_u16(m, TP_CMD_CONCURRENCY, 8);
    end(m);
    parse_ok(m, &r);
    assert_int_equal(r.address.addresses.n, 1);
    assert_sun(&r.address.addresses.v[0], "@was-app");
    tp_response_free(&r);
    begin(m, 3);
    P(m, TP_CMD_WAS, "/w");
    put_u16(m, TP_CMD_CONCURRENCY, 8);
    put(m, TP_CMD_ADDRESS, sa, sa_un(sa, "/run/was.sock"));
    end(m);
    parse_ok(m, &r);
    assert_sun(&r.address.addresses.v[0], "/run/was.sock");
    tp_response_free(&r);

    /* remote WAS errors (checked at END, §1.7.5) */
    begin(m, 3);
    P(m, TP_CMD_WAS, "/w");
    P(m, TP_CMD_ADDRESS_STRING, "/run/was.sock");
    end(m);
    parse_err(m, "remote WAS address without CONCURRENCY");
    begin(m, 3);
    P(m, TP_CMD_WAS, "/w");
    put_u16(m, TP_CMD_CONCURRENCY, 8);
    P(m, TP_CMD_ADDRESS_STRING, "/run/a.sock");
    P(m, TP_CMD_ADDRESS_STRING, "/run/b.sock");
    end(m);
    parse_err(m, "remote WAS address with more than one ADDRESS");
    begin(m, 3);
    P(m, TP_CMD_WAS, "/w");
    put_u16(m, TP_CMD_CONCURRENCY, 8);
    P(m, TP_CMD_ADDRESS_STRING, "127.0.0.1:80");
    end(m);
    parse_err(m, "remote WAS address is not AF_LOCAL");
    begin(m, 3);
    P(m, TP_CMD_WAS, "/w");
    put_u16(m, TP_CMD_CONCURRENCY, 8);
    P(m, TP_CMD_ADDRESS_STRING, "was.example:80");
    end(m);
    parse_err(m, "remote WAS address is not AF_LOCAL");
    /* DISPOSABLE only without CONCURRENCY, in either order */
    begin(m, 3);
    P(m, TP_CMD_WAS, "/w");
    put_u16(m, TP_CMD_CONCURRENCY, 2);
    put0(m, TP_CMD_DISPOSABLE);
    end(m);
    parse_err(m, "misplaced DISPOSABLE packet: needs a WAS address without "
                 "CONCURRENCY");
    begin(m, 3);
    P(m, TP_CMD_WAS, "/w");
    put0(m, TP_CMD_DISPOSABLE);
    put_u16(m, TP_CMD_CONCURRENCY, 2);
    end(m);
    parse_err(m, "cannot combine DISPOSABLE with CONCURRENCY");
    begin(m, 3);
    P(m, TP_CMD_WAS, "/w");
    put0(m, TP_CMD_DISPOSABLE);
    put0(m, TP_CMD_DISPOSABLE);
    end(m);
    parse_err(m, "duplicate DISPOSABLE packet");
    /* INTERPRETER/ACTION are CGI/FastCGI only */
    begin(m, 3);
    P(m, TP_CMD_WAS, "/w");
    P(m, TP_CMD_INTERPRETER, "/i");
    end(m);
    parse_err(m, "misplaced INTERPRETER packet: not valid for a WAS "
                 "address");
    begin(m, 3);
    P(m, TP_CMD_WAS, "/w");
    P(m, TP_CMD_ACTION, "/a");
    end(m);
    parse_err(m, "misplaced ACTION packet: not valid for a WAS address");
    one_err(TP_CMD_WAS, "w", "malformed WAS packet: payload must be an "
                             "absolute path");
    free(m);
}

static void
test_lhttp(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    P(m, TP_CMD_BASE, "/l/");
    P(m, TP_CMD_REGEX, "^(.*)");
    P(m, TP_CMD_LHTTP_PATH, "/usr/bin/lhttp-app");
    P(m, TP_CMD_LHTTP_URI, "/app/");
    P(m, TP_CMD_EXPAND_LHTTP_URI, "/app/\\1");
    P(m, TP_CMD_LHTTP_HOST, "app.local");
    put_u16(m, TP_CMD_CONCURRENCY, 1);
    put_u16(m, TP_CMD_PARALLELISM, 3);
    put0(m, TP_CMD_NON_BLOCKING);
    put0(m, TP_CMD_INSTANT_FADE);
    P(m, TP_CMD_APPEND, "--listen");
    P(m, TP_CMD_PAIR, "P=1");         /* environment for LHTTP */
    P(m, TP_CMD_SETENV, "S=2");
    P(m, TP_CMD_PROCESS_NAME, "lhttp");
    P(m, TP_CMD_CHILD_TAG, "t");
    P(m, TP_CMD_FILE_NOT_FOUND, "x");
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    const struct tp_address *a = &r.address;
    assert_int_equal(a->type, TP_ADDRESS_LHTTP);
    assert_string_equal(a->path, "/usr/bin/lhttp-app");
    assert_string_equal(a->lhttp_uri, "/app/");
    assert_string_equal(a->expand_lhttp_uri, "/app/\\1");
    assert_string_equal(a->lhttp_host, "app.local");
    assert_int_equal(a->concurrency, 1);
    assert_int_equal(a->parallelism, 3);
    assert_true(a->non_blocking && a->instant_fade);
    assert_int_equal(a->params.n, 0);
    assert_int_equal(a->child.env.n, 2);
    assert_expandable(&a->child.env, 0, "P=1", NULL);
    assert_expandable(&a->child.env, 1, "S=2", NULL);
    assert_string_equal(a->process_name, "lhttp");
    assert_null(a->document_root);
    tp_response_free(&r);

    /* EXPAND_LHTTP_URI alone satisfies "LHTTP_URI" */
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, ".");
    P(m, TP_CMD_LHTTP_PATH, "/l");
    P(m, TP_CMD_EXPAND_LHTTP_URI, "/\\0");
    end(m);
    parse_ok(m, &r);
    assert_null(r.address.lhttp_uri);
    tp_response_free(&r);

    begin(m, 3);
    P(m, TP_CMD_LHTTP_PATH, "/l");
    end(m);
    parse_err(m, "missing LHTTP_URI");
    begin(m, 3);
    P(m, TP_CMD_LHTTP_PATH, "/l");
    P(m, TP_CMD_LHTTP_URI, "app/");
    end(m);
    parse_err(m, "malformed LHTTP_URI packet: payload must be an absolute "
                 "path");
    begin(m, 3);
    P(m, TP_CMD_LHTTP_PATH, "/l");
    P(m, TP_CMD_LHTTP_URI, "/");
    P(m, TP_CMD_LHTTP_URI, "/");
    end(m);
    parse_err(m, "duplicate LHTTP_URI packet");
    begin(m, 3);
    P(m, TP_CMD_LHTTP_PATH, "/l");
    P(m, TP_CMD_LHTTP_URI, "/");
    P(m, TP_CMD_LHTTP_HOST, "");
    end(m);
    parse_err(m, "malformed LHTTP_HOST packet: payload must not be empty");
    begin(m, 3);
    P(m, TP_CMD_LHTTP_PATH, "/l");
    P(m, TP_CMD_LHTTP_URI, "/");
    put0(m, TP_CMD_NON_BLOCKING);
    put0(m, TP_CMD_NON_BLOCKING);
    end(m);
    parse_err(m, "duplicate NON_BLOCKING packet");
    one_err(TP_CMD_LHTTP_URI, "/", "misplaced LHTTP_URI packet: no resource "
                                   "address before it");
    one_err(TP_CMD_LHTTP_HOST, "h", "misplaced LHTTP_HOST packet: no "
                                    "resource address before it");
    one_err(TP_CMD_LHTTP_PATH, "l", "malformed LHTTP_PATH packet: payload "
                                    "must be an absolute path");
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, ".");
    P(m, TP_CMD_LHTTP_PATH, "/l");
    P(m, TP_CMD_LHTTP_URI, "/");
    P(m, TP_CMD_EXPAND_PATH, "/x");
    end(m);
    parse_err(m, "misplaced EXPAND_PATH packet: not valid for a LHTTP "
                 "address");
    begin(m, 3);
    P(m, TP_CMD_LHTTP_PATH, "/l");
    P(m, TP_CMD_LHTTP_URI, "/");
    P(m, TP_CMD_EXPAND_LHTTP_URI, "/x");
    end(m);
    parse_err(m, "EXPAND_LHTTP_URI without REGEX");
    begin(m, 3);
    P(m, TP_CMD_LHTTP_PATH, "/l");
    P(m, TP_CMD_LHTTP_URI, "/");
    P(m, TP_CMD_SCRIPT_NAME, "/x");
    end(m);
    parse_err(m, "misplaced SCRIPT_NAME packet: not valid for a LHTTP "
                 "address");
    free(m);
}

/* ==== FILTER slots and PIPE (§1.7.7, §1.9) ==== */

static void
test_filters(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    P(m, TP_CMD_SITE, "s");                       /* top level only */
    P(m, TP_CMD_PATH, "/srv/page.html");
    P(m, TP_CMD_CACHE_TAG, "main-tag");
    put0(m, TP_CMD_FILTER);
    P(m, TP_CMD_PIPE, "sed");                     /* need not be absolute */
    P(m, TP_CMD_APPEND, "-e");
    P(m, TP_CMD_APPEND, "s/a/b/");
    P(m, TP_CMD_SETENV, "LC_ALL=C");
    P(m, TP_CMD_PAIR, "P=1");                     /* environment for PIPE */
    P(m, TP_CMD_DOCUMENT_ROOT, "/pipe-root");
    P(m, TP_CMD_CHILD_TAG, "pipe");
    put0(m, TP_CMD_STDERR_NULL);
    put0(m, TP_CMD_FILTER_NO_BODY);
    put0(m, TP_CMD_REVEAL_USER);
    P(m, TP_CMD_CACHE_TAG, "filter-tag");
    put0(m, TP_CMD_FILTER);
    P(m, TP_CMD_HTTP, "http://filter/");
    P(m, TP_CMD_ADDRESS_STRING, "10.1.1.1");
    put0(m, TP_CMD_FILTER_4XX);
    put0(m, TP_CMD_FILTER);
    P(m, TP_CMD_CGI, "/filter.cgi");
    P(m, TP_CMD_PATH_INFO, "/pi");
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    assert_int_equal(r.address.type, TP_ADDRESS_LOCAL);
    assert_string_equal(r.address_cache_tag, "main-tag");
    assert_true(r.filter_4xx);
    assert_int_equal(r.n_filters, 3);
    const struct tp_filter *f = r.filters[0];
    assert_int_equal(f->address.type, TP_ADDRESS_PIPE);
    assert_string_equal(f->address.path, "sed");
    assert_int_equal(f->address.args.n, 2);
    assert_expandable(&f->address.args, 1, "s/a/b/", NULL);
    assert_int_equal(f->address.child.env.n, 2);
    assert_expandable(&f->address.child.env, 1, "P=1", NULL);
    assert_string_equal(f->address.document_root, "/pipe-root");
    assert_null(r.document_root);
    assert_int_equal(f->address.child.tags.n, 1);
    assert_true(f->address.child.stderr_null);
    assert_int_equal(f->address.child.umask, TP_UMASK_UNSET);
    assert_true(f->no_body && f->reveal_user);
    assert_string_equal(f->cache_tag, "filter-tag");
    f = r.filters[1];
    assert_int_equal(f->address.type, TP_ADDRESS_HTTP);
    assert_int_equal(f->address.addresses.n, 1);
    assert_false(f->no_body || f->reveal_user);
    assert_null(f->cache_tag);
    assert_int_equal(f->address.child.umask, TP_UMASK_UNSET);
    f = r.filters[2];
    assert_int_equal(f->address.type, TP_ADDRESS_CGI);
    assert_string_equal(f->address.path_info, "/pi");
    /* the main address stayed untouched */
    assert_int_equal(r.address.args.n, 0);
    assert_int_equal(r.address.child.env.n, 0);
    tp_response_free(&r);

    /* a FILTER slot holds one address; limits */
    begin(m, 3);
    put0(m, TP_CMD_FILTER);
    P(m, TP_CMD_PIPE, "/a");
    P(m, TP_CMD_PIPE, "/b");
    end(m);
    parse_err(m, "misplaced PIPE packet: the FILTER slot already has a PIPE "
                 "address");
    begin(m, 3);
    P(m, TP_CMD_PATH, "/f");
    put0(m, TP_CMD_FILTER);
    end(m);
    parse_err(m, "FILTER without resource address");
    begin(m, 3);
    P(m, TP_CMD_PATH, "/f");
    put0(m, TP_CMD_FILTER);
    put0(m, TP_CMD_FILTER);
    P(m, TP_CMD_PIPE, "/a");
    end(m);
    parse_err(m, "FILTER without resource address");
    begin(m, 3);
    put0(m, TP_CMD_FILTER);
    P(m, TP_CMD_HTTP, "http://f/");
    end(m);
    parse_err(m, "no ADDRESS for HTTP address");
    begin(m, 3);
    P(m, TP_CMD_PATH, "/f");
    for (int i = 0; i <= TP_MAX_FILTERS; i++) {
        put0(m, TP_CMD_FILTER);
        P(m, TP_CMD_PIPE, "p");
    }
    end(m);
    parse_err(m, "too many FILTER packets (limit 32)");
    begin(m, 3);
    P(m, TP_CMD_PATH, "/f");
    for (int i = 0; i < TP_MAX_FILTERS; i++) {
        put0(m, TP_CMD_FILTER);
        P(m, TP_CMD_PIPE, "p");
    }
    end(m);
    parse_ok(m, &r);
    assert_int_equal(r.n_filters, TP_MAX_FILTERS);
    tp_response_free(&r);

    /* PIPE only in a FILTER slot */
    one_err(TP_CMD_PIPE, "/p", "misplaced PIPE packet: PIPE is only valid "
                               "after FILTER");
    begin(m, 3);
    put0(m, TP_CMD_FILTER);
    P(m, TP_CMD_PIPE, "");
    end(m);
    parse_err(m, "malformed PIPE packet: payload must not be empty");
    begin(m, 3);
    put0(m, TP_CMD_FILTER);
    P(m, TP_CMD_PIPE, "a\0b");
    end(m);
    parse_err(m, "malformed PIPE packet: payload contains a NUL byte");
    /* what a PIPE does not take */
    begin(m, 3);
    put0(m, TP_CMD_FILTER);
    P(m, TP_CMD_PIPE, "p");
    P(m, TP_CMD_SCRIPT_NAME, "/s");
    end(m);
    parse_err(m, "misplaced SCRIPT_NAME packet: not valid for a PIPE "
                 "address");
    begin(m, 3);
    put0(m, TP_CMD_FILTER);
    P(m, TP_CMD_PIPE, "p");
    put_u16(m, TP_CMD_CONCURRENCY, 1);
    end(m);
    parse_err(m, "misplaced CONCURRENCY packet: not valid for a PIPE "
                 "address");

    /* filter modifiers */
    one_err(TP_CMD_REVEAL_USER, "", "REVEAL_USER without FILTER");
    one_err(TP_CMD_FILTER_NO_BODY, "", "FILTER_NO_BODY without FILTER");
    one_err(TP_CMD_FILTER, "x", "malformed FILTER packet: payload must be "
                                "empty");
    begin(m, 3);
    put0(m, TP_CMD_FILTER);
    put0(m, TP_CMD_REVEAL_USER);
    put0(m, TP_CMD_REVEAL_USER);
    end(m);
    parse_err(m, "duplicate REVEAL_USER packet");
    begin(m, 3);
    put0(m, TP_CMD_FILTER);
    put0(m, TP_CMD_FILTER_NO_BODY);
    put0(m, TP_CMD_FILTER_NO_BODY);
    end(m);
    parse_err(m, "duplicate FILTER_NO_BODY packet");
    begin(m, 3);
    put0(m, TP_CMD_FILTER);
    P(m, TP_CMD_PIPE, "p");
    P(m, TP_CMD_CACHE_TAG, "a");
    P(m, TP_CMD_CACHE_TAG, "b");
    end(m);
    parse_err(m, "duplicate CACHE_TAG packet");
    begin(m, 3);
    put0(m, TP_CMD_FILTER_4XX);
    put0(m, TP_CMD_FILTER_4XX);
    end(m);
    parse_err(m, "duplicate FILTER_4XX packet");
    /* SITE and EXPAND_SITE only at top level */
    begin(m, 3);
    put0(m, TP_CMD_FILTER);
    P(m, TP_CMD_SITE, "s");
    end(m);
    parse_err(m, "misplaced SITE packet: not allowed after FILTER");
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, ".");
    P(m, TP_CMD_SITE, "s");
    put0(m, TP_CMD_FILTER);
    P(m, TP_CMD_EXPAND_SITE, "s");
    end(m);
    parse_err(m, "misplaced EXPAND_SITE packet: not allowed after FILTER");
    /* VIEW slots are not supported */
    begin(m, 3);
    P(m, TP_CMD_PATH, "/f");
    P(m, TP_CMD_VIEW, "v1");
    end(m);
    parse_err(m, "unsupported translation packet VIEW (34)");
    free(m);
}

/* ==== child options (§1.8) ==== */

static void
test_child_options(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    /* before any address: the unattached block (valid, unused) */
    P(m, TP_CMD_CHILD_TAG, "early");
    P(m, TP_CMD_SETENV, "A=1");
    P(m, TP_CMD_PAIR, "B=2");
    put_u16(m, TP_CMD_UMASK, 0);
    put0(m, TP_CMD_STDERR_NULL);
    P(m, TP_CMD_CHDIR, "/");
    P(m, TP_CMD_RLIMITS, "");
    {
        int32_t ids[2 + TP_MAX_GROUPS];
        for (int i = 0; i < 2 + TP_MAX_GROUPS; i++)
            ids[i] = 100 + i;
        put(m, TP_CMD_UID_GID, ids, sizeof(ids));
    }
    put0(m, TP_CMD_NO_NEW_PRIVS);
    put0(m, TP_CMD_SIGKILL_);
    /* ... and after a file address too */
    P(m, TP_CMD_PATH, "/f");
    P(m, TP_CMD_CHILD_TAG, "late");
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    const struct tp_child_options *c = &r.unattached_child;
    assert_int_equal(c->tags.n, 2);
    assert_string_equal(c->tags.v[1], "late");
    assert_int_equal(c->env.n, 2);
    assert_expandable(&c->env, 1, "B=2", NULL);
    assert_int_equal(c->umask, 0);
    assert_true(c->stderr_null);
    assert_string_equal(c->chdir, "/");
    assert_string_equal(c->rlimits, "");
    assert_int_equal(c->uid_gid.n_groups, TP_MAX_GROUPS);
    assert_int_equal(c->uid_gid.uid, 100);
    assert_int_equal(c->uid_gid.groups[TP_MAX_GROUPS - 1],
                     100 + 1 + TP_MAX_GROUPS);
    assert_true(c->no_new_privs && c->sigkill);
    assert_int_equal(r.address.child.tags.n, 0);
    tp_response_free(&r);

    /* EXPAND_STDERR_PATH; RLIMITS syntax */
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, ".");
    P(m, TP_CMD_CGI, "/c");
    P(m, TP_CMD_EXPAND_STDERR_PATH, "/log/\\0");
    P(m, TP_CMD_RLIMITS, "Sc0 Hd1024K\tf!m99T\nn7M\rq1G");
    end(m);
    parse_ok(m, &r);
    assert_string_equal(r.address.child.expand_stderr_path, "/log/\\0");
    assert_null(r.address.child.stderr_path);
    tp_response_free(&r);

    static const struct {
        uint16_t cmd;
        const char *payload;
        size_t len;
        const char *want;
    } bad[] = {
        { TP_CMD_UID_GID, "\x01\x00\x00\x00", 4,
          "malformed UID_GID packet: must be 2 to 34 32-bit ids" },
        { TP_CMD_UID_GID, "\x01\x00\x00\x00\x02\x00", 6,
          "malformed UID_GID packet: must be 2 to 34 32-bit ids" },
        { TP_CMD_UID_GID, "", 0,
          "malformed UID_GID packet: must be 2 to 34 32-bit ids" },
        { TP_CMD_UMASK, "\x00\x02", 2,
          "malformed UMASK packet: umask above 0777" },
        { TP_CMD_UMASK, "\x12", 1,
          "malformed UMASK packet: payload must be a 2-byte integer" },
        { TP_CMD_RLIMITS, "x1", 2,
          "malformed RLIMITS packet: unknown resource letter" },
        { TP_CMD_RLIMITS, "c", 1, "malformed RLIMITS packet: missing value" },
        { TP_CMD_RLIMITS, "S", 1, "" /* only a prefix: accepted */ },
        { TP_CMD_RLIMITS, "cK", 2,
          "malformed RLIMITS packet: malformed value" },
        { TP_CMD_RLIMITS, "c12345678901234567890", 21,
          "malformed RLIMITS packet: malformed value" },
        { TP_CMD_RLIMITS, "c1\0", 3,
          "malformed RLIMITS packet: payload contains a NUL byte" },
        { TP_CMD_STDERR_PATH, "log", 3,
          "malformed STDERR_PATH packet: payload must be an absolute path" },
        { TP_CMD_CHDIR, "tmp", 3,
          "malformed CHDIR packet: payload must be an absolute path" },
        { TP_CMD_CHILD_TAG, "", 0,
          "malformed CHILD_TAG packet: payload must not be empty" },
        { TP_CMD_NO_NEW_PRIVS, "x", 1,
          "malformed NO_NEW_PRIVS packet: payload must be empty" },
        { TP_CMD_SIGKILL_, "x", 1,
          "malformed SIGKILL_ packet: payload must be empty" },
        { TP_CMD_STDERR_NULL, "x", 1,
          "malformed STDERR_NULL packet: payload must be empty" },
        { TP_CMD_EXPAND_STDERR_PATH, "/x", 2,
          "EXPAND_STDERR_PATH without REGEX" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        begin(m, 3);
        P(m, TP_CMD_CGI, "/c");
        put(m, bad[i].cmd, bad[i].payload, bad[i].len);
        end(m);
        if (bad[i].want[0] == '\0') {
            parse_ok(m, &r);
            tp_response_free(&r);
        } else {
            parse_err(m, bad[i].want);
        }
    }
    {
        int32_t ids[3 + TP_MAX_GROUPS] = { 0 };
        begin(m, 3);
        P(m, TP_CMD_CGI, "/c");
        put(m, TP_CMD_UID_GID, ids, sizeof(ids));
        end(m);
        parse_err(m, "malformed UID_GID packet: must be 2 to 34 32-bit ids");
    }

    /* duplicates and exclusions, in a child and in the unattached block */
    static const struct {
        uint16_t a, b;
        const char *want;
    } pairs[] = {
        { TP_CMD_UID_GID, TP_CMD_UID_GID, "duplicate UID_GID packet" },
        { TP_CMD_UMASK, TP_CMD_UMASK, "duplicate UMASK packet" },
        { TP_CMD_RLIMITS, TP_CMD_RLIMITS, "duplicate RLIMITS packet" },
        { TP_CMD_CHDIR, TP_CMD_CHDIR, "duplicate CHDIR packet" },
        { TP_CMD_NO_NEW_PRIVS, TP_CMD_NO_NEW_PRIVS,
          "duplicate NO_NEW_PRIVS packet" },
        { TP_CMD_SIGKILL_, TP_CMD_SIGKILL_, "duplicate SIGKILL_ packet" },
        { TP_CMD_STDERR_PATH, TP_CMD_STDERR_PATH,
          "duplicate STDERR_PATH packet" },
        { TP_CMD_STDERR_NULL, TP_CMD_STDERR_NULL,
          "duplicate STDERR_NULL packet" },
        { TP_CMD_STDERR_PATH, TP_CMD_STDERR_NULL,
          "cannot combine STDERR_NULL with STDERR_PATH" },
        { TP_CMD_STDERR_NULL, TP_CMD_STDERR_PATH,
          "cannot combine STDERR_PATH with STDERR_NULL" },
        { TP_CMD_EXPAND_STDERR_PATH, TP_CMD_STDERR_NULL,
          "cannot combine STDERR_NULL with STDERR_PATH" },
        { TP_CMD_STDERR_NULL, TP_CMD_EXPAND_STDERR_PATH,
          "cannot combine EXPAND_STDERR_PATH with STDERR_NULL" },
        { TP_CMD_EXPAND_STDERR_PATH, TP_CMD_EXPAND_STDERR_PATH,
          "duplicate EXPAND_STDERR_PATH packet" },
    };
    for (int where = 0; where < 2; where++) {
        for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
            begin(m, 3);
            P(m, TP_CMD_BASE, "/");
            P(m, TP_CMD_REGEX, ".");
            if (where == 0)
                P(m, TP_CMD_FASTCGI, "/c");
            uint16_t cmds[2] = { pairs[i].a, pairs[i].b };
            for (int j = 0; j < 2; j++) {
                switch (cmds[j]) {
                case TP_CMD_UID_GID:
                    P(m, cmds[j], "\x01\x00\x00\x00\x01\x00\x00\x00");
                    break;
                case TP_CMD_UMASK:
                    put_u16(m, cmds[j], 077);
                    break;
                case TP_CMD_RLIMITS:
                    P(m, cmds[j], "c0");
                    break;
                default:
                    if (tp_command_info(cmds[j])->payload == TP_PL_NONE)
                        put0(m, cmds[j]);
                    else
                        P(m, cmds[j], "/x");
                }
            }
            end(m);
            parse_err(m, pairs[i].want);
        }
    }

    /* CHILD_TAG limit */
    begin(m, 3);
    P(m, TP_CMD_LHTTP_PATH, "/l");
    P(m, TP_CMD_LHTTP_URI, "/");
    for (int i = 0; i <= TP_MAX_CHILD_TAGS; i++)
        P(m, TP_CMD_CHILD_TAG, "t");
    end(m);
    parse_err(m, "too many CHILD_TAG packets (limit 32)");
    free(m);
}

/* ==== response-wide packets (§1.7.9) ==== */

static void
put_floats(struct msg *m, uint16_t cmd, float rate, float burst)
{
    uint8_t b[8];
    memcpy(b, &rate, 4);
    memcpy(b + 4, &burst, 4);
    put(m, cmd, b, 8);
}

static void
test_response_wide(void **state)
{
    (void)state;
    uint8_t net[1 + sizeof(struct sockaddr_in6)];
    struct msg *m = new_msg(3);
    put_u16(m, TP_CMD_STATUS, 200);
    P(m, TP_CMD_REDIRECT, "https://example.com/");
    put0(m, TP_CMD_REDIRECT_QUERY_STRING);
    P(m, TP_CMD_BOUNCE, "https://login.example.com/?next=");
    P(m, TP_CMD_MESSAGE, "Hello,\tworld!\r\n~");
    put0(m, TP_CMD_TINY_IMAGE);
    P(m, TP_CMD_HEADER, "X-Frame-Options:DENY");
    P(m, TP_CMD_HEADER, "x-empty:");
    P(m, TP_CMD_HEADER, "X-Odd!#$%&'*+-.^_`|~:v:w");
    P(m, TP_CMD_REQUEST_HEADER, "X-Request:r");
    P(m, TP_CMD_WWW_AUTHENTICATE, "Basic realm=\"x\"");
    P(m, TP_CMD_AUTHENTICATION_INFO, "nextnonce=\"1\"");
    P(m, TP_CMD_SCHEME, "https");
    P(m, TP_CMD_HOST, "www.example.com");
    P(m, TP_CMD_SITE, "site-a");
    P(m, TP_CMD_URI, "/override");
    P(m, TP_CMD_GENERATOR, "gen-1_A");
    P(m, TP_CMD_ANALYTICS_ID, "UA 123");
    P(m, TP_CMD_STATS_TAG, "stats");
    P(m, TP_CMD_LISTENER_TAG, "l1");
    put_u32(m, TP_CMD_EXPIRES_RELATIVE, 86400);
    put_u16(m, TP_CMD_HTTPS_ONLY, 8443);
    net[0] = 8;
    put(m, TP_CMD_ALLOW_REMOTE_NETWORK, net,
        1 + sa_in(net + 1, "10.0.0.0", 0));
    net[0] = 32;
    put(m, TP_CMD_ALLOW_REMOTE_NETWORK, net,
        1 + sa_in(net + 1, "192.0.2.1", 0));
    net[0] = 0;
    put(m, TP_CMD_ALLOW_REMOTE_NETWORK, net,
        1 + sa_in(net + 1, "0.0.0.0", 0));
    net[0] = 64;
    put(m, TP_CMD_ALLOW_REMOTE_NETWORK, net,
        1 + sa_in6(net + 1, "2001:db8:1:2::", 0));
    net[0] = 128;
    put(m, TP_CMD_ALLOW_REMOTE_NETWORK, net,
        1 + sa_in6(net + 1, "::1", 0));
    put0(m, TP_CMD_NO_QUERY_STRING);
    put0(m, TP_CMD_DISCARD_QUERY_STRING);
    put_floats(m, TP_CMD_RATE_LIMIT_SITE_REQUESTS, 10.5f, 20.0f);
    put_floats(m, TP_CMD_RATE_LIMIT_SITE_TRAFFIC, 1e6f, 2e6f);
    put0(m, TP_CMD_DEFER);
    put0(m, TP_CMD_TRANSPARENT);
    P(m, TP_CMD_ERROR_DOCUMENT, "");
    P(m, TP_CMD_LANGUAGE, "de");
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.redirect, "https://example.com/");
    assert_true(r.redirect_query_string);
    assert_string_equal(r.bounce, "https://login.example.com/?next=");
    assert_string_equal(r.message, "Hello,\tworld!\r\n~");
    assert_true(r.tiny_image);
    assert_int_equal(r.response_headers.n, 3);
    assert_string_equal(r.response_headers.v[0].name, "x-frame-options");
    assert_string_equal(r.response_headers.v[0].value, "DENY");
    assert_string_equal(r.response_headers.v[1].value, "");
    assert_string_equal(r.response_headers.v[2].name, "x-odd!#$%&'*+-.^_`|~");
    assert_string_equal(r.response_headers.v[2].value, "v:w");
    assert_int_equal(r.request_headers.n, 1);
    assert_string_equal(r.request_headers.v[0].name, "x-request");
    assert_string_equal(r.www_authenticate, "Basic realm=\"x\"");
    assert_string_equal(r.authentication_info, "nextnonce=\"1\"");
    assert_string_equal(r.scheme, "https");
    assert_string_equal(r.host, "www.example.com");
    assert_string_equal(r.site, "site-a");
    assert_string_equal(r.uri, "/override");
    assert_string_equal(r.generator, "gen-1_A");
    assert_string_equal(r.analytics_id, "UA 123");
    assert_string_equal(r.stats_tag, "stats");
    assert_string_equal(r.listener_tag, "l1");
    assert_int_equal(r.expires_relative, 86400);
    assert_int_equal(r.https_only, 8443);
    assert_int_equal(r.n_allow_remote_networks, 5);
    assert_int_equal(r.allow_remote_networks[0].prefix_len, 8);
    assert_int_equal(r.allow_remote_networks[0].len,
                     sizeof(struct sockaddr_in));
    const struct sockaddr_in *in =
        (const struct sockaddr_in *)&r.allow_remote_networks[0].addr;
    assert_int_equal(ntohl(in->sin_addr.s_addr), 0x0a000000);
    assert_int_equal(r.allow_remote_networks[3].prefix_len, 64);
    assert_int_equal(r.allow_remote_networks[3].len,
                     sizeof(struct sockaddr_in6));
    assert_int_equal(r.allow_remote_networks[4].prefix_len, 128);
    assert_true(r.no_query_string && r.discard_query_string);
    assert_true(r.rate_limit_site_requests.rate == 10.5f);
    assert_true(r.rate_limit_site_requests.burst == 20.0f);
    assert_true(r.rate_limit_site_traffic.rate == 1e6f);
    assert_true(r.rate_limit_site_traffic.burst == 2e6f);
    assert_true(r.defer && r.transparent);
    assert_non_null(r.error_document.data);
    assert_int_equal(r.error_document.len, 0);
    assert_string_equal(r.language, "de");
    assert_true(tp_response_has_answer(&r));
    tp_response_free(&r);

    /* HTTPS_ONLY: empty and 0 both mean 443 */
    begin(m, 3);
    put0(m, TP_CMD_HTTPS_ONLY);
    end(m);
    parse_ok(m, &r);
    assert_int_equal(r.https_only, 443);
    tp_response_free(&r);
    begin(m, 3);
    put_u16(m, TP_CMD_HTTPS_ONLY, 0);
    end(m);
    parse_ok(m, &r);
    assert_int_equal(r.https_only, 443);
    tp_response_free(&r);

    /* MESSAGE of exactly 1024 bytes */
    char big[TP_MAX_MESSAGE + 1];
    memset(big, 'm', sizeof(big));
    begin(m, 3);
    put(m, TP_CMD_MESSAGE, big, TP_MAX_MESSAGE);
    end(m);
    parse_ok(m, &r);
    assert_int_equal(strlen(r.message), TP_MAX_MESSAGE);
    tp_response_free(&r);
    begin(m, 3);
    put(m, TP_CMD_MESSAGE, big, TP_MAX_MESSAGE + 1);
    end(m);
    parse_err(m, "malformed MESSAGE packet: longer than 1024 bytes");
    free(m);
}

/* §1.6: these single-valued packets silently overwrite. */
static void
test_overwriting_packets(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    put_u16(m, TP_CMD_STATUS, 404);
    put_u16(m, TP_CMD_STATUS, 410);
    P(m, TP_CMD_HOST, "a");
    P(m, TP_CMD_HOST, "b");
    P(m, TP_CMD_URI, "/a");
    P(m, TP_CMD_URI, "/b");
    P(m, TP_CMD_REDIRECT, "/a");
    P(m, TP_CMD_REDIRECT, "/b");
    P(m, TP_CMD_BOUNCE, "a");
    P(m, TP_CMD_BOUNCE, "b");
    P(m, TP_CMD_SESSION, "a");
    P(m, TP_CMD_SESSION, "");
    P(m, TP_CMD_USER, "a");
    P(m, TP_CMD_USER, "b");
    P(m, TP_CMD_LANGUAGE, "a");
    P(m, TP_CMD_LANGUAGE, "b");
    P(m, TP_CMD_SITE, "a");
    P(m, TP_CMD_SITE, "b");
    P(m, TP_CMD_DOCUMENT_ROOT, "/a");
    P(m, TP_CMD_DOCUMENT_ROOT, "/b");
    P(m, TP_CMD_MESSAGE, "a");
    P(m, TP_CMD_MESSAGE, "b");
    P(m, TP_CMD_ERROR_DOCUMENT, "a");
    P(m, TP_CMD_ERROR_DOCUMENT, "b");
    put0(m, TP_CMD_PREVIOUS);
    put0(m, TP_CMD_PREVIOUS);
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    assert_int_equal(r.status, 410);
    assert_string_equal(r.host, "b");
    assert_string_equal(r.uri, "/b");
    assert_string_equal(r.redirect, "/b");
    assert_string_equal(r.bounce, "b");
    assert_non_null(r.session.data);
    assert_int_equal(r.session.len, 0);
    assert_string_equal(r.user, "b");
    assert_string_equal(r.language, "b");
    assert_string_equal(r.site, "b");
    assert_string_equal(r.document_root, "/b");
    assert_string_equal(r.message, "b");
    assert_memory_equal(r.error_document.data, "b", 1);
    assert_true(r.previous);
    tp_response_free(&r);
    free(m);
}

static void
test_response_wide_errors(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    /* STATUS */
    static const uint16_t bad_status[] = { 0, 1, 99, 199, 209, 309, 499,
                                           599, 600, 999, 65535 };
    for (size_t i = 0; i < sizeof(bad_status) / 2; i++) {
        char want[96];
        begin(m, 3);
        put_u16(m, TP_CMD_STATUS, bad_status[i]);
        end(m);
        snprintf(want, sizeof(want), "malformed STATUS packet: invalid HTTP "
                 "status code %u", (unsigned)bad_status[i]);
        parse_err(m, want);
    }
    static const uint16_t good_status[] = { 100, 204, 226, 308, 418, 451,
                                            511 };
    for (size_t i = 0; i < sizeof(good_status) / 2; i++) {
        struct tp_response r;
        begin(m, 3);
        put_u16(m, TP_CMD_STATUS, good_status[i]);
        end(m);
        parse_ok(m, &r);
        assert_int_equal(r.status, good_status[i]);
        tp_response_free(&r);
    }
    one_err(TP_CMD_STATUS, "\xc8", "malformed STATUS packet: payload must be "
                                   "a 2-byte integer");
    one_err(TP_CMD_STATUS, "\xc8\x00\x00", "malformed STATUS packet: payload "
                                           "must be a 2-byte integer");
    /* MESSAGE */
    one_err(TP_CMD_MESSAGE, "", "malformed MESSAGE packet: payload must not "
                                "be empty");
    one_err(TP_CMD_MESSAGE, "caf\xc3\xa9", "malformed MESSAGE packet: not "
                                           "printable US-ASCII");
    one_err(TP_CMD_MESSAGE, "a\x01", "malformed MESSAGE packet: not "
                                     "printable US-ASCII");
    one_err(TP_CMD_MESSAGE, "a\x7f", "malformed MESSAGE packet: not "
                                     "printable US-ASCII");
    one_err(TP_CMD_MESSAGE, "a\0", "malformed MESSAGE packet: payload "
                                   "contains a NUL byte");
    /* REDIRECT family */
    one_err(TP_CMD_REDIRECT, "", "malformed REDIRECT packet: payload must "
                                 "not be empty");
    one_err(TP_CMD_REDIRECT, "/a\0", "malformed REDIRECT packet: payload "
                                     "contains a NUL byte");
    one_err(TP_CMD_BOUNCE, "", "malformed BOUNCE packet: payload must not be "
                               "empty");
    one_err(TP_CMD_REDIRECT_QUERY_STRING, "", "REDIRECT_QUERY_STRING without "
                                              "REDIRECT");
    one_err(TP_CMD_REDIRECT_FULL_URI, "", "REDIRECT_FULL_URI without BASE");
    one_err(TP_CMD_EXPAND_REDIRECT, "x", "EXPAND_REDIRECT without REGEX");
    begin(m, 3);
    P(m, TP_CMD_BASE, "/b/");
    put0(m, TP_CMD_REDIRECT_FULL_URI);
    end(m);
    parse_err(m, "REDIRECT_FULL_URI without EASY_BASE");
    begin(m, 3);
    P(m, TP_CMD_BASE, "/b/");
    P(m, TP_CMD_REGEX, ".");
    P(m, TP_CMD_EXPAND_REDIRECT, "x");
    end(m);
    parse_err(m, "EXPAND_REDIRECT without REDIRECT");
    begin(m, 3);
    P(m, TP_CMD_BASE, "/b/");
    P(m, TP_CMD_REGEX, ".");
    P(m, TP_CMD_REDIRECT, "x");
    P(m, TP_CMD_EXPAND_REDIRECT, "");
    end(m);
    parse_err(m, "malformed EXPAND_REDIRECT packet: payload must not be "
                 "empty");
    begin(m, 3);
    P(m, TP_CMD_BASE, "/b/");
    P(m, TP_CMD_REGEX, ".");
    P(m, TP_CMD_REDIRECT, "x");
    P(m, TP_CMD_EXPAND_REDIRECT, "y");
    P(m, TP_CMD_EXPAND_REDIRECT, "z");
    end(m);
    parse_err(m, "duplicate EXPAND_REDIRECT packet");
    begin(m, 3);
    P(m, TP_CMD_REDIRECT, "x");
    put0(m, TP_CMD_REDIRECT_QUERY_STRING);
    put0(m, TP_CMD_REDIRECT_QUERY_STRING);
    end(m);
    parse_err(m, "duplicate REDIRECT_QUERY_STRING packet");
    begin(m, 3);
    P(m, TP_CMD_REDIRECT, "x");
    P(m, TP_CMD_REDIRECT_QUERY_STRING, "x");
    end(m);
    parse_err(m, "malformed REDIRECT_QUERY_STRING packet: payload must be "
                 "empty");

    /* HEADER and REQUEST_HEADER */
    static const uint16_t hcmds[] = { TP_CMD_HEADER, TP_CMD_REQUEST_HEADER };
    for (size_t i = 0; i < 2; i++) {
        const char *n = tp_command_name(hcmds[i]);
        char want[128];
        static const struct {
            const char *payload, *why;
        } bad[] = {
            { "novalue", "must be name:value" },
            { ":v", "must be name:value" },
            { "", "must be name:value" },
            { "a b:v", "malformed header name" },
            { "a\"b:v", "malformed header name" },
            { "a(b):v", "malformed header name" },
            { "a\x80:v", "malformed header name" },
            { "x:a\rb", "CR or LF in the value" },
            { "x:a\nb", "CR or LF in the value" },
        };
        for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
            begin(m, 3);
            put_s(m, hcmds[i], bad[j].payload);
            end(m);
            snprintf(want, sizeof(want), "malformed %s packet: %s", n,
                     bad[j].why);
            parse_err(m, want);
        }
        begin(m, 3);
        P(m, hcmds[i], "x:\0");
        end(m);
        snprintf(want, sizeof(want),
                 "malformed %s packet: payload contains a NUL byte", n);
        parse_err(m, want);
        static const char *const hop[] = {
            "connection", "Content-Length", "EXPECT", "keep-alive",
            "proxy-authenticate", "proxy-authorization", "te", "trailer",
            "trailers", "transfer-encoding", "Upgrade",
        };
        for (size_t j = 0; j < sizeof(hop) / sizeof(hop[0]); j++) {
            char payload[64], lower[64];
            snprintf(payload, sizeof(payload), "%s:x", hop[j]);
            size_t k = 0;
            for (; hop[j][k] != '\0'; k++)
                lower[k] = (char)(hop[j][k] >= 'A' && hop[j][k] <= 'Z'
                                      ? hop[j][k] - 'A' + 'a'
                                      : hop[j][k]);
            lower[k] = '\0';
            begin(m, 3);
            put_s(m, hcmds[i], payload);
            end(m);
            snprintf(want, sizeof(want), "hop-by-hop %s packet (%s)", n,
                     lower);
            parse_err(m, want);
        }
    }
    /* the two header lists have separate limits */
    begin(m, 3);
    for (int i = 0; i < TP_MAX_HEADERS; i++) {
        P(m, TP_CMD_HEADER, "x-h:1");
        P(m, TP_CMD_REQUEST_HEADER, "x-r:1");
    }
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    assert_int_equal(r.response_headers.n, TP_MAX_HEADERS);
    assert_int_equal(r.request_headers.n, TP_MAX_HEADERS);
    tp_response_free(&r);
    begin(m, 3);
    for (int i = 0; i <= TP_MAX_HEADERS; i++)
        P(m, TP_CMD_HEADER, "x-h:1");
    end(m);
    parse_err(m, "too many HEADER packets (limit 64)");
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, ".");
    for (int i = 0; i < TP_MAX_HEADERS; i++)
        P(m, TP_CMD_REQUEST_HEADER, "x-h:1");
    P(m, TP_CMD_EXPAND_REQUEST_HEADER, "x-h:\\0");
    end(m);
    parse_err(m, "too many EXPAND_REQUEST_HEADER packets (limit 64)");

    /* other response-wide strings */
    one_err(TP_CMD_SCHEME, "ftp", "malformed SCHEME packet: must start with "
                                  "\"http\"");
    one_err(TP_CMD_SCHEME, "", "malformed SCHEME packet: must start with "
                               "\"http\"");
    one_err(TP_CMD_SITE, "", "malformed SITE packet: payload must not be "
                             "empty");
    one_err(TP_CMD_WWW_AUTHENTICATE, "", "malformed WWW_AUTHENTICATE packet: "
                                         "payload must not be empty");
    one_err(TP_CMD_AUTHENTICATION_INFO, "", "malformed AUTHENTICATION_INFO "
                                            "packet: payload must not be "
                                            "empty");
    one_err(TP_CMD_GENERATOR, "a b", "malformed GENERATOR packet: payload "
                                     "must be a name of [A-Za-z0-9_-]");
    one_err(TP_CMD_GENERATOR, "", "malformed GENERATOR packet: payload must "
                                  "be a non-empty name");
    one_err(TP_CMD_STATS_TAG, "", "malformed STATS_TAG packet: payload must "
                                  "not be empty");
    one_err(TP_CMD_LISTENER_TAG, "", "malformed LISTENER_TAG packet: payload "
                                     "must not be empty");
    one_err(TP_CMD_URI, "rel", "malformed URI packet: must be an absolute "
                               "URI path");
    one_err(TP_CMD_URI, "", "malformed URI packet: must be an absolute URI "
                            "path");
    one_err(TP_CMD_HOST, "a\0", "malformed HOST packet: payload contains a "
                                "NUL byte");
    static const uint16_t dups[] = {
        TP_CMD_WWW_AUTHENTICATE, TP_CMD_AUTHENTICATION_INFO, TP_CMD_SCHEME,
        TP_CMD_GENERATOR, TP_CMD_ANALYTICS_ID, TP_CMD_STATS_TAG,
        TP_CMD_LISTENER_TAG, TP_CMD_TINY_IMAGE, TP_CMD_NO_QUERY_STRING,
        TP_CMD_DISCARD_QUERY_STRING, TP_CMD_DEFER, TP_CMD_TRANSPARENT,
        TP_CMD_HTTPS_ONLY, TP_CMD_EXPIRES_RELATIVE_WITH_QUERY,
    };
    for (size_t i = 0; i < sizeof(dups) / 2; i++) {
        char want[96];
        enum tp_payload_kind k = tp_command_info(dups[i])->payload;
        begin(m, 3);
        for (int j = 0; j < 2; j++) {
            if (k == TP_PL_NONE || k == TP_PL_OPT_U16)
                put0(m, dups[i]);
            else if (k == TP_PL_U32)
                put_u32(m, dups[i], 1);
            else
                P(m, dups[i], "http");
        }
        end(m);
        snprintf(want, sizeof(want), "duplicate %s packet",
                 tp_command_name(dups[i]));
        parse_err(m, want);
    }
    one_err(TP_CMD_HTTPS_ONLY, "\x01", "malformed HTTPS_ONLY packet: payload "
                                       "must be empty or a 2-byte integer");
    one_err(TP_CMD_TINY_IMAGE, "x", "malformed TINY_IMAGE packet: payload "
                                    "must be empty");

    /* ALLOW_REMOTE_NETWORK: prefix byte first, then the sockaddr (§1.7.9) */
    uint8_t net[1 + sizeof(struct sockaddr_in6) + 1];
    size_t n;
    one_err(TP_CMD_ALLOW_REMOTE_NETWORK, "", "malformed ALLOW_REMOTE_NETWORK "
                                             "packet: too short");
    one_err(TP_CMD_ALLOW_REMOTE_NETWORK, "\x08\x02", "malformed "
            "ALLOW_REMOTE_NETWORK packet: too short");
    net[0] = 8;
    n = 1 + sa_in(net + 1, "10.0.0.0", 0);
    one_err_at(TP_CMD_ALLOW_REMOTE_NETWORK, net, n - 1,
               "malformed ALLOW_REMOTE_NETWORK packet: not an IPv4 or IPv6 "
               "socket address", __FILE__, __LINE__);
    one_err_at(TP_CMD_ALLOW_REMOTE_NETWORK, net, n + 1,
               "malformed ALLOW_REMOTE_NETWORK packet: not an IPv4 or IPv6 "
               "socket address", __FILE__, __LINE__);
    /* the documented-but-wrong order: sockaddr, then the prefix byte */
    sa_in(net, "10.0.0.0", 0);
    net[sizeof(struct sockaddr_in)] = 8;
    one_err_at(TP_CMD_ALLOW_REMOTE_NETWORK, net, n,
               "malformed ALLOW_REMOTE_NETWORK packet: not an IPv4 or IPv6 "
               "socket address", __FILE__, __LINE__);
    net[0] = 33;
    sa_in(net + 1, "10.0.0.0", 0);
    one_err_at(TP_CMD_ALLOW_REMOTE_NETWORK, net, n,
               "malformed ALLOW_REMOTE_NETWORK packet: prefix length too "
               "large", __FILE__, __LINE__);
    net[0] = 7;
    sa_in(net + 1, "11.0.0.0", 0);
    one_err_at(TP_CMD_ALLOW_REMOTE_NETWORK, net, n,
               "malformed ALLOW_REMOTE_NETWORK packet: host bits are not "
               "zero", __FILE__, __LINE__);
    net[0] = 31;
    sa_in(net + 1, "192.0.2.1", 0);
    one_err_at(TP_CMD_ALLOW_REMOTE_NETWORK, net, n,
               "malformed ALLOW_REMOTE_NETWORK packet: host bits are not "
               "zero", __FILE__, __LINE__);
    net[0] = 129;
    n = 1 + sa_in6(net + 1, "::", 0);
    one_err_at(TP_CMD_ALLOW_REMOTE_NETWORK, net, n,
               "malformed ALLOW_REMOTE_NETWORK packet: prefix length too "
               "large", __FILE__, __LINE__);
    net[0] = 127;
    sa_in6(net + 1, "::1", 0);
    one_err_at(TP_CMD_ALLOW_REMOTE_NETWORK, net, n,
               "malformed ALLOW_REMOTE_NETWORK packet: host bits are not "
               "zero", __FILE__, __LINE__);
    uint16_t family = AF_LOCAL;
    memcpy(net + 1, &family, 2);
    one_err_at(TP_CMD_ALLOW_REMOTE_NETWORK, net, 1 + 16,
               "malformed ALLOW_REMOTE_NETWORK packet: not an IPv4 or IPv6 "
               "socket address", __FILE__, __LINE__);
    begin(m, 3);
    net[0] = 32;
    n = 1 + sa_in(net + 1, "10.0.0.1", 0);
    for (int i = 0; i <= TP_MAX_NETWORKS; i++)
        put(m, TP_CMD_ALLOW_REMOTE_NETWORK, net, n);
    end(m);
    parse_err(m, "too many ALLOW_REMOTE_NETWORK packets (limit 32)");

    /* RATE_LIMIT_SITE_*: two positive floats, after SITE */
    static const uint16_t rl[] = { TP_CMD_RATE_LIMIT_SITE_REQUESTS,
                                   TP_CMD_RATE_LIMIT_SITE_TRAFFIC };
    for (size_t i = 0; i < 2; i++) {
        const char *nm = tp_command_name(rl[i]);
        char want[128];
        begin(m, 3);
        put_floats(m, rl[i], 1, 1);
        end(m);
        snprintf(want, sizeof(want), "%s without SITE", nm);
        parse_err(m, want);
        static const float bad[][2] = {
            { 0, 1 }, { 1, 0 }, { -1, 1 }, { 1, -1 }, { NAN, 1 },
            { 1, INFINITY }, { INFINITY, 1 },
        };
        snprintf(want, sizeof(want),
                 "malformed %s packet: rate and burst must be positive", nm);
        for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
            begin(m, 3);
            P(m, TP_CMD_SITE, "s");
            put_floats(m, rl[i], bad[j][0], bad[j][1]);
            end(m);
            parse_err(m, want);
        }
        begin(m, 3);
        P(m, TP_CMD_SITE, "s");
        P(m, rl[i], "\x00\x00\x80\x3f");
        end(m);
        snprintf(want, sizeof(want),
                 "malformed %s packet: must be two 32-bit floats", nm);
        parse_err(m, want);
        begin(m, 3);
        P(m, TP_CMD_SITE, "s");
        put_floats(m, rl[i], 1, 2);
        put_floats(m, rl[i], 1, 2);
        end(m);
        snprintf(want, sizeof(want), "duplicate %s packet", nm);
        parse_err(m, want);
    }
    free(m);
}

/* The expanded response-wide packets (§1.11). */
static void
test_expand_response_wide(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, "^([a-z]+)/(.*)$");
    P(m, TP_CMD_SITE, "default");
    P(m, TP_CMD_EXPAND_SITE, "site-\\1");
    P(m, TP_CMD_HEADER, "X-Plain:p");
    P(m, TP_CMD_EXPAND_HEADER, "X-Site:\\1");
    P(m, TP_CMD_EXPAND_REQUEST_HEADER, "X-Rest:\\2");
    P(m, TP_CMD_REDIRECT, "/r");
    P(m, TP_CMD_EXPAND_REDIRECT, "/r/\\2");
    P(m, TP_CMD_URI, "/u");
    P(m, TP_CMD_EXPAND_URI, "/u/\\2");
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    assert_string_equal(r.site, "default");
    assert_string_equal(r.expand_site, "site-\\1");
    assert_int_equal(r.response_headers.n, 2);
    assert_false(r.response_headers.v[0].expand);
    assert_string_equal(r.response_headers.v[1].name, "x-site");
    assert_string_equal(r.response_headers.v[1].value, "\\1");
    assert_true(r.response_headers.v[1].expand);
    assert_int_equal(r.request_headers.n, 1);
    assert_string_equal(r.request_headers.v[0].name, "x-rest");
    assert_string_equal(r.request_headers.v[0].value, "\\2");
    assert_true(r.request_headers.v[0].expand);
    assert_string_equal(r.redirect, "/r");
    assert_string_equal(r.expand_redirect, "/r/\\2");
    assert_string_equal(r.uri, "/u");
    assert_string_equal(r.expand_uri, "/u/\\2");
    tp_response_free(&r);

    /* the expanded headers are checked like the plain ones */
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, ".");
    P(m, TP_CMD_EXPAND_HEADER, "Connection:\\0");
    end(m);
    parse_err(m, "hop-by-hop EXPAND_HEADER packet (connection)");
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, ".");
    P(m, TP_CMD_EXPAND_REQUEST_HEADER, "no-colon");
    end(m);
    parse_err(m, "malformed EXPAND_REQUEST_HEADER packet: must be "
                 "name:value");
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, ".");
    P(m, TP_CMD_SITE, "s");
    P(m, TP_CMD_EXPAND_SITE, "a");
    P(m, TP_CMD_EXPAND_SITE, "b");
    end(m);
    parse_err(m, "duplicate EXPAND_SITE packet");
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, ".");
    for (int i = 0; i < TP_MAX_HEADERS; i++)
        P(m, TP_CMD_HEADER, "x-h:1");
    P(m, TP_CMD_EXPAND_HEADER, "x-h:\\0");
    end(m);
    parse_err(m, "too many EXPAND_HEADER packets (limit 64)");
    free(m);
}

/* ==== header forwarding (§1.13) ==== */

static void
put_forward(struct msg *m, uint16_t cmd, const int16_t *groups,
            const uint8_t *modes, size_t n)
{
    uint8_t b[64];
    assert_true(n * 4 <= sizeof(b));
    for (size_t i = 0; i < n; i++) {
        memcpy(b + 4 * i, &groups[i], 2);
        b[4 * i + 2] = modes[i];
        b[4 * i + 3] = 0;
    }
    put(m, cmd, b, 4 * n);
}

static void
test_header_forward(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    /* ALL = every group except SECURE, AUTH and SSL; later entries win;
     * repeated packets accumulate */
    static const int16_t g1[] = { -1, TP_HG_COOKIE };
    static const uint8_t m1[] = { TP_HF_YES, TP_HF_BOTH };
    put_forward(m, TP_CMD_REQUEST_HEADER_FORWARD, g1, m1, 2);
    static const int16_t g2[] = { TP_HG_SSL };
    static const uint8_t m2[] = { TP_HF_MANGLE };
    put_forward(m, TP_CMD_REQUEST_HEADER_FORWARD, g2, m2, 1);
    static const int16_t g3[] = { TP_HG_AUTH, TP_HG_LINK, TP_HG_SECURE };
    static const uint8_t m3[] = { TP_HF_NO, TP_HF_MANGLE, TP_HF_YES };
    put_forward(m, TP_CMD_RESPONSE_HEADER_FORWARD, g3, m3, 3);
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    for (int g = 0; g < TP_HG_COUNT; g++) {
        uint8_t want = TP_HF_YES;
        if (g == TP_HG_COOKIE)
            want = TP_HF_BOTH;
        else if (g == TP_HG_SSL)
            want = TP_HF_MANGLE;
        else if (g == TP_HG_SECURE || g == TP_HG_AUTH)
            want = TP_HF_NO; /* default, not touched by ALL */
        assert_int_equal(r.request_header_forward[g], want);
    }
    assert_int_equal(r.response_header_forward[TP_HG_AUTH], TP_HF_NO);
    assert_int_equal(r.response_header_forward[TP_HG_LINK], TP_HF_MANGLE);
    assert_int_equal(r.response_header_forward[TP_HG_SECURE], TP_HF_YES);
    assert_int_equal(r.response_header_forward[TP_HG_COOKIE], TP_HF_MANGLE);
    assert_int_equal(r.response_header_forward[TP_HG_IDENTITY], TP_HF_NO);
    tp_response_free(&r);

    /* an empty packet changes nothing */
    begin(m, 3);
    put0(m, TP_CMD_RESPONSE_HEADER_FORWARD);
    end(m);
    parse_ok(m, &r);
    assert_int_equal(r.response_header_forward[TP_HG_TRANSFORMATION],
                     TP_HF_MANGLE);
    tp_response_free(&r);

    static const uint16_t cmds[] = { TP_CMD_REQUEST_HEADER_FORWARD,
                                     TP_CMD_RESPONSE_HEADER_FORWARD };
    for (size_t i = 0; i < 2; i++) {
        char want[128];
        const char *nm = tp_command_name(cmds[i]);
        snprintf(want, sizeof(want),
                 "malformed %s packet: length is not a multiple of 4", nm);
        begin(m, 3);
        P(m, cmds[i], "\x00\x00\x01");
        end(m);
        parse_err(m, want);
        begin(m, 3);
        P(m, cmds[i], "\x00\x00\x01\x00\x01");
        end(m);
        parse_err(m, want);
        snprintf(want, sizeof(want),
                 "malformed %s packet: bad group, mode or reserved byte", nm);
        static const int16_t bg[] = { TP_HG_COUNT, -2, 0, 0 };
        static const uint8_t bm[] = { 1, 1, 4, 255 };
        for (size_t j = 0; j < 4; j++) {
            begin(m, 3);
            put_forward(m, cmds[i], &bg[j], &bm[j], 1);
            end(m);
            parse_err(m, want);
        }
        begin(m, 3);
        P(m, cmds[i], "\x00\x00\x01\x01");
        end(m);
        parse_err(m, want);
    }

    /* a bad entry changes nothing, even after good ones in the packet */
    struct tp_response_parser p;
    tp_response_parser_init(&p, &r);
    uint8_t three = 3;
    struct tp_packet b = { TP_CMD_BEGIN, 1, &three };
    assert_int_equal(tp_response_parser_feed(&p, &b), TP_PARSE_MORE);
    static const uint8_t good_then_bad[] = { 3, 0, 3, 0, 99, 0, 1, 0 };
    uint8_t payload[8];
    memcpy(payload, good_then_bad, 8);
    int16_t g = TP_HG_OTHER;
    memcpy(payload, &g, 2);
    g = 99;
    memcpy(payload + 4, &g, 2);
    struct tp_packet f = { TP_CMD_REQUEST_HEADER_FORWARD, 8, payload };
    assert_int_equal(tp_response_parser_feed(&p, &f), TP_PARSE_ERROR);
    assert_int_equal(r.request_header_forward[TP_HG_OTHER], TP_HF_NO);
    tp_response_free(&r);
    free(m);
}

/* ==== translation-cache packets (§1.11, §1.14, §1.15) ==== */

static void
test_max_age_anchor(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    /* before USER: the whole response; after USER: the user's validity */
    put_u32(m, TP_CMD_MAX_AGE, 300);
    P(m, TP_CMD_PATH, "/f");
    P(m, TP_CMD_USER, "alice");
    put_u32(m, TP_CMD_MAX_AGE, 60);
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    assert_int_equal(r.max_age, 300);
    assert_int_equal(r.user_max_age, 60);
    assert_string_equal(r.user, "alice");
    tp_response_free(&r);

    /* the anchor is not reset by other packets: a MAX_AGE anywhere before
     * USER is the response's */
    begin(m, 3);
    P(m, TP_CMD_PATH, "/f");
    P(m, TP_CMD_CONTENT_TYPE, "a/b");
    put_u32(m, TP_CMD_MAX_AGE, 0);
    end(m);
    parse_ok(m, &r);
    assert_int_equal(r.max_age, 0);
    assert_int_equal(r.user_max_age, TP_MAX_AGE_UNSET);
    tp_response_free(&r);

    /* only after USER */
    begin(m, 3);
    P(m, TP_CMD_USER, "");
    P(m, TP_CMD_STATUS, "\xc8\x00");
    put_u32(m, TP_CMD_MAX_AGE, 5);
    end(m);
    parse_ok(m, &r);
    assert_int_equal(r.max_age, TP_MAX_AGE_UNSET);
    assert_int_equal(r.user_max_age, 5);
    assert_string_equal(r.user, "");
    tp_response_free(&r);

    /* each USER opens a new anchor */
    begin(m, 3);
    P(m, TP_CMD_USER, "a");
    put_u32(m, TP_CMD_MAX_AGE, 1);
    P(m, TP_CMD_USER, "b");
    put_u32(m, TP_CMD_MAX_AGE, 2);
    end(m);
    parse_ok(m, &r);
    assert_string_equal(r.user, "b");
    assert_int_equal(r.user_max_age, 2);
    assert_int_equal(r.max_age, TP_MAX_AGE_UNSET);
    tp_response_free(&r);

    begin(m, 3);
    put_u32(m, TP_CMD_MAX_AGE, 1);
    P(m, TP_CMD_PATH, "/f");
    put_u32(m, TP_CMD_MAX_AGE, 2);
    end(m);
    parse_err(m, "duplicate MAX_AGE packet");
    begin(m, 3);
    P(m, TP_CMD_USER, "a");
    put_u32(m, TP_CMD_MAX_AGE, 1);
    put_u32(m, TP_CMD_MAX_AGE, 2);
    end(m);
    parse_err(m, "duplicate MAX_AGE packet");
    one_err(TP_CMD_MAX_AGE, "\x01\x00", "malformed MAX_AGE packet: payload "
                                        "must be a 4-byte integer");
    one_err(TP_CMD_MAX_AGE, "", "malformed MAX_AGE packet: payload must be a "
                                "4-byte integer");
    one_err(TP_CMD_USER, "a\0b", "malformed USER packet: payload contains a "
                                 "NUL byte");
    free(m);
}

static void
test_vary_invalidate(void **state)
{
    (void)state;
    static const uint16_t cmds[] = { TP_CMD_VARY, TP_CMD_INVALIDATE };
    struct msg *m = new_msg(3);
    for (size_t i = 0; i < 2; i++) {
        uint16_t list[TP_MAX_VARY + 1];
        for (int j = 0; j <= TP_MAX_VARY; j++)
            list[j] = (uint16_t)(j + 1);
        begin(m, 3);
        put(m, cmds[i], list, 2 * TP_MAX_VARY);
        end(m);
        struct tp_response r;
        parse_ok(m, &r);
        const struct tp_u16_list *l =
            cmds[i] == TP_CMD_VARY ? &r.vary : &r.invalidate;
        assert_int_equal(l->n, TP_MAX_VARY);
        assert_int_equal(l->v[0], 1);
        assert_int_equal(l->v[TP_MAX_VARY - 1], TP_MAX_VARY);
        tp_response_free(&r);

        const char *nm = tp_command_name(cmds[i]);
        char want[128];
        begin(m, 3);
        put(m, cmds[i], list, 2 * (TP_MAX_VARY + 1));
        end(m);
        snprintf(want, sizeof(want), "malformed %s packet: more than 16 "
                 "commands", nm);
        parse_err(m, want);
        snprintf(want, sizeof(want), "malformed %s packet: payload must be "
                 "a non-empty array of 2-byte integers", nm);
        begin(m, 3);
        put0(m, cmds[i]);
        end(m);
        parse_err(m, want);
        begin(m, 3);
        put(m, cmds[i], list, 3);
        end(m);
        parse_err(m, want);
        begin(m, 3);
        put_u16(m, cmds[i], TP_CMD_HOST);
        put_u16(m, cmds[i], TP_CMD_URI);
        end(m);
        snprintf(want, sizeof(want), "duplicate %s packet", nm);
        parse_err(m, want);
    }
    free(m);
}

static void
test_base_regex(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    P(m, TP_CMD_BASE, "/base/");
    put0(m, TP_CMD_UNSAFE_BASE);
    P(m, TP_CMD_REGEX, "^base/(.+)\\.php$");
    P(m, TP_CMD_INVERSE_REGEX, "\\.\\./");
    put0(m, TP_CMD_REGEX_TAIL);
    put0(m, TP_CMD_REGEX_UNESCAPE);
    put0(m, TP_CMD_INVERSE_REGEX_UNESCAPE);
    put0(m, TP_CMD_REGEX_ON_HOST_URI);
    put0(m, TP_CMD_REGEX_ON_USER_URI);
    put0(m, TP_CMD_REGEX_RAW);
    P(m, TP_CMD_CACHE_TAG, "t1");                  /* before the address */
    P(m, TP_CMD_CACHE_TAG, "t2");
    P(m, TP_CMD_FASTCGI, "/php");
    P(m, TP_CMD_EXPAND_PATH, "/srv/\\1.php");
    P(m, TP_CMD_CACHE_TAG, "http-cache");          /* after the address */
    {
        uint8_t vm[8 + 6];
        uint64_t t = 1700000000;
        memcpy(vm, &t, 8);
        memcpy(vm + 8, "/etc/x", 6);
        put(m, TP_CMD_VALIDATE_MTIME, vm, sizeof(vm));
    }
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    assert_string_equal(r.base, "/base/");
    assert_true(r.unsafe_base);
    assert_false(r.easy_base || r.auto_base);
    assert_string_equal(r.regex, "^base/(.+)\\.php$");
    assert_string_equal(r.inverse_regex, "\\.\\./");
    assert_true(r.regex_tail && r.regex_unescape &&
                r.inverse_regex_unescape && r.regex_on_host_uri &&
                r.regex_on_user_uri && r.regex_raw);
    assert_int_equal(r.cache_tags.n, 2);
    assert_string_equal(r.cache_tags.v[0], "t1");
    assert_string_equal(r.cache_tags.v[1], "t2");
    assert_string_equal(r.address_cache_tag, "http-cache");
    assert_string_equal(r.validate_mtime_path, "/etc/x");
    assert_int_equal(r.validate_mtime, 1700000000);
    tp_response_free(&r);

    /* VALIDATE_MTIME 0 with the shortest path ("/" and one byte) */
    begin(m, 3);
    P(m, TP_CMD_VALIDATE_MTIME, "\0\0\0\0\0\0\0\0/a");
    end(m);
    parse_ok(m, &r);
    assert_int_equal(r.validate_mtime, 0);
    assert_string_equal(r.validate_mtime_path, "/a");
    tp_response_free(&r);

    /* EASY_BASE: the address must describe the base itself */
    static const struct {
        uint16_t addr;
        const char *addr_payload;
        uint16_t mod;          /* 0 = none */
        const char *mod_payload;
        const char *want;      /* NULL = accepted */
    } easy[] = {
        { TP_CMD_PATH, "/srv/", 0, NULL, NULL },
        { TP_CMD_PATH, "/srv", 0, NULL, "PATH is not a valid base for "
                                        "EASY_BASE" },
        { TP_CMD_HTTP, "http://h/app/", 0, NULL, NULL },
        { TP_CMD_HTTP, "http://h", 0, NULL, NULL },
        { TP_CMD_HTTP, "http://h/app", 0, NULL, "HTTP path is not a valid "
                                                "base for EASY_BASE" },
        { TP_CMD_HTTP, "http://h/app", TP_CMD_EXPAND_PATH, "/\\1", NULL },
        { TP_CMD_CGI, "/c", TP_CMD_SCRIPT_NAME, "/s/", NULL },
        { TP_CMD_CGI, "/c", TP_CMD_SCRIPT_NAME, "/s", "SCRIPT_NAME is not a "
                                                      "valid base for "
                                                      "EASY_BASE" },
        { TP_CMD_CGI, "/c", 0, NULL, "SCRIPT_NAME is not a valid base for "
                                     "EASY_BASE" },
        { TP_CMD_WAS, "/c", TP_CMD_PATH_INFO, "/p/", NULL },
        { TP_CMD_WAS, "/c", TP_CMD_PATH_INFO, "/p", "PATH_INFO is not a "
                                                    "valid base for "
                                                    "EASY_BASE" },
        { TP_CMD_FASTCGI, "/c", TP_CMD_EXPAND_SCRIPT_NAME, "/\\1", NULL },
        { TP_CMD_FASTCGI, "/c", TP_CMD_EXPAND_PATH_INFO, "/\\1", NULL },
        { TP_CMD_CGI, "/c", TP_CMD_EXPAND_DOCUMENT_ROOT, "/\\1", NULL },
        { TP_CMD_CGI, "/c", TP_CMD_EXPAND_PATH, "/\\1", NULL },
        { TP_CMD_LHTTP_PATH, "/l", TP_CMD_LHTTP_URI, "/u/", NULL },
        { TP_CMD_LHTTP_PATH, "/l", TP_CMD_LHTTP_URI, "/u", "LHTTP_URI is not "
                                                           "a valid base for "
                                                           "EASY_BASE" },
        { TP_CMD_LHTTP_PATH, "/l", TP_CMD_EXPAND_LHTTP_URI, "/\\1", NULL },
        { TP_CMD_MESSAGE, "no address", 0, NULL, NULL },
    };
    for (size_t i = 0; i < sizeof(easy) / sizeof(easy[0]); i++) {
        begin(m, 3);
        P(m, TP_CMD_BASE, "/b/");
        put0(m, TP_CMD_EASY_BASE);
        P(m, TP_CMD_REGEX, "^(.*)");
        put_s(m, easy[i].addr, easy[i].addr_payload);
        if (easy[i].addr == TP_CMD_HTTP)
            P(m, TP_CMD_ADDRESS_STRING, "10.0.0.1");
        if (easy[i].mod != 0)
            put_s(m, easy[i].mod, easy[i].mod_payload);
        if (easy[i].addr == TP_CMD_LHTTP_PATH &&
            easy[i].mod == TP_CMD_EXPAND_LHTTP_URI)
            P(m, TP_CMD_LHTTP_URI, "/no-slash");
        put0(m, TP_CMD_REDIRECT_FULL_URI);
        end(m);
        if (easy[i].want == NULL) {
            parse_ok(m, &r);
            assert_true(r.easy_base && r.redirect_full_uri);
            tp_response_free(&r);
        } else {
            parse_err(m, easy[i].want);
        }
    }
    free(m);
}

static void
test_base_regex_errors(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    /* ordering: BASE -> REGEX -> EXPAND_* */
    one_err(TP_CMD_REGEX, ".", "REGEX without BASE");
    one_err(TP_CMD_INVERSE_REGEX, ".", "INVERSE_REGEX without BASE");
    begin(m, 3);
    P(m, TP_CMD_REGEX, ".");
    P(m, TP_CMD_BASE, "/");
    end(m);
    parse_err(m, "REGEX without BASE");
    one_err(TP_CMD_EASY_BASE, "", "EASY_BASE without BASE");
    one_err(TP_CMD_UNSAFE_BASE, "", "UNSAFE_BASE without BASE");
    one_err(TP_CMD_REGEX_TAIL, "", "REGEX_TAIL without REGEX, INVERSE_REGEX "
                                   "or LAYOUT");
    one_err(TP_CMD_REGEX_UNESCAPE, "", "REGEX_UNESCAPE without REGEX or "
                                       "INVERSE_REGEX");
    one_err(TP_CMD_REGEX_ON_HOST_URI, "", "REGEX_ON_HOST_URI without REGEX "
                                          "or INVERSE_REGEX");
    one_err(TP_CMD_REGEX_ON_USER_URI, "", "REGEX_ON_USER_URI without REGEX "
                                          "or INVERSE_REGEX");
    one_err(TP_CMD_REGEX_RAW, "", "REGEX_RAW without REGEX");
    one_err(TP_CMD_INVERSE_REGEX_UNESCAPE, "", "INVERSE_REGEX_UNESCAPE "
                                               "without INVERSE_REGEX");
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, ".");
    put0(m, TP_CMD_INVERSE_REGEX_UNESCAPE);
    end(m);
    parse_err(m, "INVERSE_REGEX_UNESCAPE without INVERSE_REGEX");
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_INVERSE_REGEX, ".");
    put0(m, TP_CMD_REGEX_RAW);
    end(m);
    parse_err(m, "REGEX_RAW without REGEX");
    /* ... but REGEX_UNESCAPE, REGEX_TAIL accept an INVERSE_REGEX alone */
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_INVERSE_REGEX, ".");
    put0(m, TP_CMD_REGEX_UNESCAPE);
    put0(m, TP_CMD_REGEX_TAIL);
    P(m, TP_CMD_PATH, "/f");
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    assert_null(r.regex);
    tp_response_free(&r);

    /* every EXPAND_ packet needs REGEX first, even with BASE */
    static const uint16_t expands[] = {
        TP_CMD_EXPAND_PATH_INFO, TP_CMD_EXPAND_PATH, TP_CMD_EXPAND_LHTTP_URI,
        TP_CMD_EXPAND_APPEND, TP_CMD_EXPAND_PAIR, TP_CMD_EXPAND_REDIRECT,
        TP_CMD_EXPAND_SCRIPT_NAME, TP_CMD_EXPAND_TEST_PATH,
        TP_CMD_EXPAND_SETENV, TP_CMD_EXPAND_URI, TP_CMD_EXPAND_SITE,
        TP_CMD_EXPAND_REQUEST_HEADER, TP_CMD_EXPAND_DOCUMENT_ROOT,
        TP_CMD_EXPAND_AUTH_FILE, TP_CMD_EXPAND_APPEND_AUTH,
        TP_CMD_EXPAND_COOKIE_HOST, TP_CMD_EXPAND_READ_FILE,
        TP_CMD_EXPAND_HEADER, TP_CMD_EXPAND_STDERR_PATH,
    };
    size_t n_accepted_expand = 0;
    for (unsigned c = 1; c <= TP_CMD_MAX; c++)
        if (strncmp(tp_command_name((uint16_t)c), "EXPAND_", 7) == 0 &&
            tp_response_packet_support((uint16_t)c) == TP_SUPPORT_ACCEPTED)
            n_accepted_expand++;
    assert_int_equal(n_accepted_expand, sizeof(expands) / 2);
    for (size_t i = 0; i < sizeof(expands) / 2; i++) {
        char want[96];
        snprintf(want, sizeof(want), "%s without REGEX",
                 tp_command_name(expands[i]));
        for (int with_base = 0; with_base < 2; with_base++) {
            begin(m, 3);
            if (with_base)
                P(m, TP_CMD_BASE, "/");
            P(m, expands[i], "x=y:z");
            end(m);
            parse_err(m, want);
        }
    }

    /* BASE payloads */
    one_err(TP_CMD_BASE, "", "malformed BASE packet: payload must be an "
                             "absolute path");
    one_err(TP_CMD_BASE, "b/", "malformed BASE packet: payload must be an "
                               "absolute path");
    one_err(TP_CMD_BASE, "/b", "malformed BASE packet: must end with '/'");
    one_err(TP_CMD_BASE, "/\0/", "malformed BASE packet: payload contains a "
                                 "NUL byte");
    one_err(TP_CMD_REGEX, "", "malformed REGEX packet: payload must not be "
                              "empty");
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_INVERSE_REGEX, "");
    end(m);
    parse_err(m, "malformed INVERSE_REGEX packet: payload must not be "
                 "empty");
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, "a\0");
    end(m);
    parse_err(m, "malformed REGEX packet: payload contains a NUL byte");

    /* duplicates */
    static const uint16_t dups[] = {
        TP_CMD_BASE, TP_CMD_REGEX, TP_CMD_INVERSE_REGEX, TP_CMD_EASY_BASE,
        TP_CMD_UNSAFE_BASE, TP_CMD_REGEX_TAIL, TP_CMD_REGEX_UNESCAPE,
        TP_CMD_INVERSE_REGEX_UNESCAPE, TP_CMD_REGEX_ON_HOST_URI,
        TP_CMD_REGEX_ON_USER_URI, TP_CMD_REGEX_RAW, TP_CMD_EXPAND_URI,
        TP_CMD_EAGER_CACHE, TP_CMD_IGNORE_NO_CACHE, TP_CMD_VALIDATE_MTIME,
    };
    for (size_t i = 0; i < sizeof(dups) / 2; i++) {
        char want[96];
        begin(m, 3);
        if (dups[i] == TP_CMD_BASE)
            P(m, TP_CMD_BASE, "/");
        P(m, TP_CMD_BASE, "/");
        if (dups[i] != TP_CMD_REGEX)
            P(m, TP_CMD_REGEX, ".");
        if (dups[i] != TP_CMD_INVERSE_REGEX)
            P(m, TP_CMD_INVERSE_REGEX, ".");
        for (int j = 0; j < 2; j++) {
            if (dups[i] == TP_CMD_VALIDATE_MTIME)
                P(m, dups[i], "\0\0\0\0\0\0\0\0/a");
            else if (tp_command_info(dups[i])->payload == TP_PL_NONE)
                put0(m, dups[i]);
            else if (dups[i] != TP_CMD_BASE)
                P(m, dups[i], "/");
        }
        end(m);
        snprintf(want, sizeof(want), "duplicate %s packet",
                 tp_command_name(dups[i]));
        parse_err(m, want);
    }

    /* translation-cache CACHE_TAGs */
    begin(m, 3);
    P(m, TP_CMD_CACHE_TAG, "a");
    P(m, TP_CMD_CACHE_TAG, "b");
    P(m, TP_CMD_CACHE_TAG, "a");
    end(m);
    parse_err(m, "duplicate CACHE_TAG packet");
    begin(m, 3);
    P(m, TP_CMD_CACHE_TAG, "ab");
    P(m, TP_CMD_CACHE_TAG, "a");        /* a prefix is another tag */
    P(m, TP_CMD_CACHE_TAG, "abc");
    end(m);
    parse_ok(m, &r);
    assert_int_equal(r.cache_tags.n, 3);
    tp_response_free(&r);
    begin(m, 3);
    for (int i = 0; i <= TP_MAX_CACHE_TAGS; i++) {
        char tag[8];
        snprintf(tag, sizeof(tag), "t%d", i);
        put_s(m, TP_CMD_CACHE_TAG, tag);
    }
    end(m);
    parse_err(m, "too many CACHE_TAG packets (limit 32)");
    one_err(TP_CMD_CACHE_TAG, "", "malformed CACHE_TAG packet: payload must "
                                  "not be empty");
    begin(m, 3);
    P(m, TP_CMD_PATH, "/f");
    P(m, TP_CMD_CACHE_TAG, "a");
    P(m, TP_CMD_CACHE_TAG, "b");
    end(m);
    parse_err(m, "duplicate CACHE_TAG packet");
    one_err(TP_CMD_AUTO_FLUSH_CACHE, "", "AUTO_FLUSH_CACHE without address "
                                         "CACHE_TAG");
    begin(m, 3);
    P(m, TP_CMD_CACHE_TAG, "translation-cache-only");
    P(m, TP_CMD_PATH, "/f");
    put0(m, TP_CMD_AUTO_FLUSH_CACHE);
    end(m);
    parse_err(m, "AUTO_FLUSH_CACHE without address CACHE_TAG");

    /* VALIDATE_MTIME: u64 + absolute path, >= 10 bytes, no NUL */
    static const struct {
        const char *p;
        size_t len;
    } vm[] = {
        { "", 0 },
        { "\0\0\0\0\0\0\0\0/", 9 },
        { "\0\0\0\0\0\0\0\0ab", 10 },
        { "\0\0\0\0\0\0\0\0/a\0", 11 },
        { "\0\0\0\0\0\0\0/a", 9 },
    };
    for (size_t i = 0; i < sizeof(vm) / sizeof(vm[0]); i++)
        one_err_at(TP_CMD_VALIDATE_MTIME, vm[i].p, vm[i].len,
                   "malformed VALIDATE_MTIME packet: must be a 64-bit mtime "
                   "and an absolute path", __FILE__, __LINE__);
    free(m);
}

/* ==== repeat requests and probing (§1.5.2, §1.10) ==== */

static void
test_repeat_requests(void **state)
{
    (void)state;
    struct msg *m = new_msg(1);
    static const uint16_t want[] = { TP_CMD_REMOTE_HOST, TP_CMD_USER_AGENT,
                                     TP_CMD_QUERY_STRING, TP_CMD_USER };
    put(m, TP_CMD_WANT, want, sizeof(want));
    P(m, TP_CMD_WANT_FULL_URI, "wfu");
    P(m, TP_CMD_CHECK, "check\0bytes");
    P(m, TP_CMD_CHECK_HEADER, "x-api-key");
    P(m, TP_CMD_LIKE_HOST, "other.example");
    put0(m, TP_CMD_PREVIOUS);
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    assert_int_equal(r.version, 1);
    assert_int_equal(r.want.n, 4);
    assert_memory_equal(r.want.v, want, sizeof(want));
    assert_int_equal(r.want_full_uri.len, 3);
    assert_int_equal(r.check.len, 11);
    assert_memory_equal(r.check.data, "check\0bytes", 11);
    assert_string_equal(r.check_header, "x-api-key");
    assert_string_equal(r.like_host, "other.example");
    assert_true(r.previous);
    assert_true(tp_response_has_answer(&r));
    tp_response_free(&r);

    /* WANT: protocol version >= 1, no loops */
    begin(m, 0);
    put_u16(m, TP_CMD_WANT, TP_CMD_USER);
    end(m);
    parse_err(m, "WANT requires protocol version 1");
    begin(m, -1);
    put_u16(m, TP_CMD_WANT, TP_CMD_USER);
    end(m);
    parse_err(m, "WANT requires protocol version 1");
    begin(m, 3);
    put_u16(m, TP_CMD_WANT, TP_CMD_USER);
    end(m);
    parse_ok(m, &r);
    tp_response_free(&r);
    parse_err_flags(m, TP_REQUEST_WANT, "WANT loop");
    parse_ok_flags(m, TP_REQUEST_WANT_FULL_URI, &r);
    tp_response_free(&r);
    begin(m, 3);
    put_u16(m, TP_CMD_WANT, TP_CMD_USER);
    put_u16(m, TP_CMD_WANT, TP_CMD_USER);
    end(m);
    parse_err(m, "duplicate WANT packet");
    one_err(TP_CMD_WANT, "", "malformed WANT packet: payload must be a "
                             "non-empty array of 2-byte integers");
    one_err(TP_CMD_WANT, "\x0e", "malformed WANT packet: payload must be a "
                                 "non-empty array of 2-byte integers");

    /* WANT_FULL_URI */
    begin(m, 3);
    P(m, TP_CMD_WANT_FULL_URI, "");
    end(m);
    parse_ok(m, &r);
    assert_non_null(r.want_full_uri.data);
    tp_response_free(&r);
    parse_err_flags(m, TP_REQUEST_WANT_FULL_URI, "WANT_FULL_URI loop");
    begin(m, 3);
    P(m, TP_CMD_WANT_FULL_URI, "a");
    P(m, TP_CMD_WANT_FULL_URI, "a");
    end(m);
    parse_err(m, "duplicate WANT_FULL_URI packet");

    /* CHECK and CHECK_HEADER */
    one_err(TP_CMD_CHECK_HEADER, "x", "CHECK_HEADER without CHECK");
    begin(m, 3);
    P(m, TP_CMD_CHECK, "c");
    P(m, TP_CMD_CHECK_HEADER, "X-Api-Key");
    end(m);
    parse_err(m, "malformed CHECK_HEADER packet: must be a lower-case header "
                 "name");
    begin(m, 3);
    P(m, TP_CMD_CHECK, "c");
    P(m, TP_CMD_CHECK_HEADER, "");
    end(m);
    parse_err(m, "malformed CHECK_HEADER packet: must be a lower-case header "
                 "name");
    begin(m, 3);
    P(m, TP_CMD_CHECK, "c");
    P(m, TP_CMD_CHECK, "c");
    end(m);
    parse_err(m, "duplicate CHECK packet");
    begin(m, 3);
    P(m, TP_CMD_CHECK, "c");
    P(m, TP_CMD_CHECK_HEADER, "a");
    P(m, TP_CMD_CHECK_HEADER, "b");
    end(m);
    parse_err(m, "duplicate CHECK_HEADER packet");
    one_err(TP_CMD_PREVIOUS, "x", "malformed PREVIOUS packet: payload must "
                                  "be empty");

    /* INTERNAL_REDIRECT needs URI (or EXPAND_URI), not WANT_FULL_URI */
    begin(m, 3);
    P(m, TP_CMD_INTERNAL_REDIRECT, "ir");
    P(m, TP_CMD_URI, "/new");
    end(m);
    parse_ok(m, &r);
    assert_int_equal(r.internal_redirect.len, 2);
    assert_string_equal(r.uri, "/new");
    tp_response_free(&r);
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, "(.*)");
    P(m, TP_CMD_EXPAND_URI, "/\\1");
    P(m, TP_CMD_INTERNAL_REDIRECT, "");
    end(m);
    parse_ok(m, &r);
    tp_response_free(&r);
    one_err(TP_CMD_INTERNAL_REDIRECT, "ir", "INTERNAL_REDIRECT without URI");
    begin(m, 3);
    P(m, TP_CMD_INTERNAL_REDIRECT, "ir");
    P(m, TP_CMD_URI, "/new");
    P(m, TP_CMD_WANT_FULL_URI, "w");
    end(m);
    parse_err(m, "cannot combine INTERNAL_REDIRECT with WANT_FULL_URI");
    begin(m, 3);
    P(m, TP_CMD_INTERNAL_REDIRECT, "a");
    P(m, TP_CMD_INTERNAL_REDIRECT, "b");
    P(m, TP_CMD_URI, "/");
    end(m);
    parse_err(m, "duplicate INTERNAL_REDIRECT packet");

    /* LIKE_HOST */
    one_err(TP_CMD_LIKE_HOST, "", "malformed LIKE_HOST packet: payload must "
                                  "not be empty");
    begin(m, 3);
    P(m, TP_CMD_LIKE_HOST, "a");
    P(m, TP_CMD_LIKE_HOST, "b");
    end(m);
    parse_err(m, "duplicate LIKE_HOST packet");

    /* CHAIN family */
    begin(m, 3);
    P(m, TP_CMD_PATH, "/f");
    P(m, TP_CMD_CHAIN, "chain");
    put0(m, TP_CMD_TRANSPARENT_CHAIN);
    end(m);
    parse_ok(m, &r);
    assert_int_equal(r.chain.len, 5);
    assert_true(r.transparent_chain);
    tp_response_free(&r);
    one_err(TP_CMD_TRANSPARENT_CHAIN, "", "TRANSPARENT_CHAIN without CHAIN");
    one_err(TP_CMD_BREAK_CHAIN, "", "BREAK_CHAIN without CHAIN request");
    begin(m, 3);
    put0(m, TP_CMD_BREAK_CHAIN);
    end(m);
    parse_ok_flags(m, TP_REQUEST_CHAIN, &r);
    assert_true(r.break_chain);
    assert_true(tp_response_has_answer(&r));
    tp_response_free(&r);
    begin(m, 3);
    P(m, TP_CMD_CHAIN, "a");
    P(m, TP_CMD_CHAIN, "a");
    end(m);
    parse_err(m, "duplicate CHAIN packet");
    begin(m, 3);
    put0(m, TP_CMD_DEFER);
    end(m);
    parse_ok(m, &r);
    assert_true(r.defer);
    tp_response_free(&r);
    free(m);
}

static void
test_layout(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    /* the response's own URI/BASE/REGEX go before LAYOUT */
    P(m, TP_CMD_URI, "/own");
    P(m, TP_CMD_BASE, "/app/");
    P(m, TP_CMD_REGEX, "^app/");
    P(m, TP_CMD_LAYOUT, "layout\0opaque");
    P(m, TP_CMD_URI, "/app/exact");
    put0(m, TP_CMD_ACCESS_CONTROL_ALLOW_ALL);
    P(m, TP_CMD_BASE, "/app/static/");
    P(m, TP_CMD_REGEX, "api/v[0-9]+/");
    put0(m, TP_CMD_ACCESS_CONTROL_ALLOW_ALL);
    P(m, TP_CMD_URI, "relative");               /* relative URI items */
    P(m, TP_CMD_URI, "");
    put0(m, TP_CMD_REGEX_TAIL);                  /* interleaved packets */
    P(m, TP_CMD_SITE, "s");
    P(m, TP_CMD_REGEX, "x");
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    assert_string_equal(r.uri, "/own");
    assert_string_equal(r.base, "/app/");
    assert_string_equal(r.regex, "^app/");
    assert_int_equal(r.layout.len, 13);
    assert_int_equal(r.n_layout_items, 6);
    static const struct {
        enum tp_layout_type type;
        const char *value;
        bool acaa;
    } items[] = {
        { TP_LAYOUT_URI, "/app/exact", true },
        { TP_LAYOUT_BASE, "/app/static/", false },
        { TP_LAYOUT_REGEX, "api/v[0-9]+/", true },
        { TP_LAYOUT_URI, "relative", false },
        { TP_LAYOUT_URI, "", false },
        { TP_LAYOUT_REGEX, "x", false },
    };
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(r.layout_items[i].type, items[i].type);
        assert_string_equal(r.layout_items[i].value, items[i].value);
        assert_int_equal(r.layout_items[i].access_control_allow_all,
                         items[i].acaa);
    }
    assert_true(r.regex_tail);
    assert_true(tp_response_has_answer(&r));
    tp_response_free(&r);

    /* REGEX items need no BASE; REGEX_TAIL after a bare LAYOUT */
    begin(m, 3);
    P(m, TP_CMD_LAYOUT, "l");
    put0(m, TP_CMD_REGEX_TAIL);
    P(m, TP_CMD_REGEX, "^a");
    end(m);
    parse_ok(m, &r);
    assert_null(r.base);
    assert_null(r.regex);
    assert_int_equal(r.n_layout_items, 1);
    tp_response_free(&r);

    one_err(TP_CMD_LAYOUT, "l", "empty LAYOUT");
    one_err(TP_CMD_LAYOUT, "", "malformed LAYOUT packet: payload must not "
                               "be empty");
    one_err(TP_CMD_ACCESS_CONTROL_ALLOW_ALL, "", "misplaced "
            "ACCESS_CONTROL_ALLOW_ALL packet: needs a LAYOUT item before "
            "it");
    begin(m, 3);
    P(m, TP_CMD_LAYOUT, "l");
    put0(m, TP_CMD_ACCESS_CONTROL_ALLOW_ALL);
    end(m);
    parse_err(m, "misplaced ACCESS_CONTROL_ALLOW_ALL packet: needs a LAYOUT "
                 "item before it");
    begin(m, 3);
    P(m, TP_CMD_LAYOUT, "l");
    P(m, TP_CMD_URI, "/a");
    put0(m, TP_CMD_ACCESS_CONTROL_ALLOW_ALL);
    put0(m, TP_CMD_ACCESS_CONTROL_ALLOW_ALL);
    end(m);
    parse_err(m, "duplicate ACCESS_CONTROL_ALLOW_ALL packet");
    begin(m, 3);
    P(m, TP_CMD_LAYOUT, "l");
    P(m, TP_CMD_URI, "/a");
    P(m, TP_CMD_ACCESS_CONTROL_ALLOW_ALL, "x");
    end(m);
    parse_err(m, "malformed ACCESS_CONTROL_ALLOW_ALL packet: payload must be "
                 "empty");
    begin(m, 3);
    P(m, TP_CMD_LAYOUT, "l");
    P(m, TP_CMD_URI, "/a");
    P(m, TP_CMD_LAYOUT, "l");
    end(m);
    parse_err(m, "duplicate LAYOUT packet");
    /* BASE items are checked as BASE (absolute, trailing '/', §1.11) */
    begin(m, 3);
    P(m, TP_CMD_LAYOUT, "l");
    P(m, TP_CMD_BASE, "bar/");
    end(m);
    parse_err(m, "malformed BASE packet: payload must be an absolute path");
    begin(m, 3);
    P(m, TP_CMD_LAYOUT, "l");
    P(m, TP_CMD_BASE, "/bar");
    end(m);
    parse_err(m, "malformed BASE packet: must end with '/'");
    begin(m, 3);
    P(m, TP_CMD_LAYOUT, "l");
    P(m, TP_CMD_REGEX, "");
    end(m);
    parse_err(m, "malformed REGEX packet: payload must not be empty");
    begin(m, 3);
    P(m, TP_CMD_LAYOUT, "l");
    for (int i = 0; i <= TP_MAX_LAYOUT_ITEMS; i++)
        P(m, i % 3 == 0 ? TP_CMD_URI : i % 3 == 1 ? TP_CMD_BASE
                                                  : TP_CMD_REGEX,
          "/x/");
    end(m);
    parse_err(m, "too many BASE packets (limit 64)"); /* the 65th */
    begin(m, 3);
    P(m, TP_CMD_LAYOUT, "l");
    for (int i = 0; i < TP_MAX_LAYOUT_ITEMS; i++)
        P(m, TP_CMD_BASE, "/x/");
    end(m);
    parse_ok(m, &r);
    assert_int_equal(r.n_layout_items, TP_MAX_LAYOUT_ITEMS);
    tp_response_free(&r);
    free(m);
}

static void
test_probing(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    /* TEST_PATH makes probes valid without an address */
    P(m, TP_CMD_TEST_PATH, "/srv/test");
    P(m, TP_CMD_FILE_NOT_FOUND, "f");
    P(m, TP_CMD_DIRECTORY_INDEX, "d");
    P(m, TP_CMD_ENOTDIR_, "e");
    P(m, TP_CMD_PROBE_PATH_SUFFIXES, "pps");
    for (int i = 0; i < TP_MAX_PROBE_SUFFIXES; i++)
        P(m, TP_CMD_PROBE_SUFFIX, ".html");
    P(m, TP_CMD_READ_FILE, "/etc/small");
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    assert_string_equal(r.test_path, "/srv/test");
    assert_int_equal(r.probe_suffixes.n, TP_MAX_PROBE_SUFFIXES);
    assert_string_equal(r.probe_suffixes.v[0], ".html");
    assert_int_equal(r.probe_path_suffixes.len, 3);
    assert_string_equal(r.read_file, "/etc/small");
    assert_true(tp_response_has_answer(&r));
    tp_response_free(&r);

    /* expanded variants */
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, "(.*)");
    P(m, TP_CMD_EXPAND_TEST_PATH, "/srv/\\1");
    P(m, TP_CMD_EXPAND_READ_FILE, "/srv/\\1/.conf");
    P(m, TP_CMD_FILE_NOT_FOUND, "f");
    P(m, TP_CMD_PROBE_PATH_SUFFIXES, "");
    P(m, TP_CMD_PROBE_SUFFIX, "");
    end(m);
    parse_ok(m, &r);
    assert_string_equal(r.expand_test_path, "/srv/\\1");
    assert_string_equal(r.expand_read_file, "/srv/\\1/.conf");
    assert_null(r.test_path);
    assert_null(r.read_file);
    tp_response_free(&r);

    /* which addresses can be probed */
    static const struct {
        uint16_t addr;
        const char *payload;
        uint16_t probe;
        const char *want;
    } kinds[] = {
        { TP_CMD_CGI, "/c", TP_CMD_FILE_NOT_FOUND, NULL },
        { TP_CMD_FASTCGI, "/c", TP_CMD_ENOTDIR_, NULL },
        { TP_CMD_WAS, "/c", TP_CMD_FILE_NOT_FOUND, NULL },
        { TP_CMD_LHTTP_PATH, "/c", TP_CMD_FILE_NOT_FOUND, NULL },
        { TP_CMD_NFS_SERVER, "s", TP_CMD_DIRECTORY_INDEX, NULL },
        { TP_CMD_HTTP, "http://h/", TP_CMD_FILE_NOT_FOUND,
          "FILE_NOT_FOUND not compatible with a HTTP address" },
        { TP_CMD_HTTP, "http://h/", TP_CMD_ENOTDIR_,
          "ENOTDIR_ not compatible with a HTTP address" },
        { TP_CMD_CGI, "/c", TP_CMD_DIRECTORY_INDEX,
          "DIRECTORY_INDEX not compatible with a CGI address" },
        { TP_CMD_LHTTP_PATH, "/c", TP_CMD_DIRECTORY_INDEX,
          "DIRECTORY_INDEX not compatible with a LHTTP address" },
        { 0, NULL, TP_CMD_FILE_NOT_FOUND,
          "FILE_NOT_FOUND without resource address" },
        { 0, NULL, TP_CMD_DIRECTORY_INDEX,
          "DIRECTORY_INDEX without resource address" },
        { 0, NULL, TP_CMD_ENOTDIR_, "ENOTDIR_ without resource address" },
    };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        begin(m, 3);
        if (kinds[i].addr != 0)
            put_s(m, kinds[i].addr, kinds[i].payload);
        if (kinds[i].addr == TP_CMD_HTTP)
            P(m, TP_CMD_ADDRESS_STRING, "10.0.0.1");
        if (kinds[i].addr == TP_CMD_LHTTP_PATH)
            P(m, TP_CMD_LHTTP_URI, "/");
        if (kinds[i].addr == TP_CMD_NFS_SERVER) {
            P(m, TP_CMD_NFS_EXPORT, "/e");
            P(m, TP_CMD_PATH, "/p");
        }
        P(m, kinds[i].probe, "x");
        end(m);
        if (kinds[i].want == NULL) {
            parse_ok(m, &r);
            tp_response_free(&r);
        } else {
            parse_err(m, kinds[i].want);
        }
    }
    /* the main address counts, not a FILTER's */
    begin(m, 3);
    P(m, TP_CMD_HTTP, "http://h/");
    P(m, TP_CMD_ADDRESS_STRING, "10.0.0.1");
    put0(m, TP_CMD_FILTER);
    P(m, TP_CMD_CGI, "/c");
    P(m, TP_CMD_FILE_NOT_FOUND, "x");
    end(m);
    parse_err(m, "FILE_NOT_FOUND not compatible with a HTTP address");

    one_err(TP_CMD_DIRECTORY_INDEX_SLASH, "", "DIRECTORY_INDEX_SLASH without "
                                              "DIRECTORY_INDEX");
    one_err(TP_CMD_PROBE_PATH_SUFFIXES, "p", "PROBE_PATH_SUFFIXES without "
                                             "TEST_PATH or EXPAND_TEST_PATH");
    one_err(TP_CMD_PROBE_SUFFIX, ".x", "PROBE_SUFFIX without "
                                       "PROBE_PATH_SUFFIXES");
    begin(m, 3);
    P(m, TP_CMD_TEST_PATH, "/t");
    P(m, TP_CMD_PROBE_PATH_SUFFIXES, "p");
    end(m);
    parse_err(m, "PROBE_PATH_SUFFIXES without PROBE_SUFFIX");
    begin(m, 3);
    P(m, TP_CMD_TEST_PATH, "/t");
    P(m, TP_CMD_PROBE_PATH_SUFFIXES, "p");
    P(m, TP_CMD_PROBE_SUFFIX, "a/b");
    end(m);
    parse_err(m, "malformed PROBE_SUFFIX packet: contains '/'");
    begin(m, 3);
    P(m, TP_CMD_TEST_PATH, "/t");
    P(m, TP_CMD_PROBE_PATH_SUFFIXES, "p");
    P(m, TP_CMD_PROBE_SUFFIX, "a\0");
    end(m);
    parse_err(m, "malformed PROBE_SUFFIX packet: payload contains a NUL "
                 "byte");
    begin(m, 3);
    P(m, TP_CMD_TEST_PATH, "/t");
    P(m, TP_CMD_PROBE_PATH_SUFFIXES, "p");
    for (int i = 0; i <= TP_MAX_PROBE_SUFFIXES; i++)
        P(m, TP_CMD_PROBE_SUFFIX, ".x");
    end(m);
    parse_err(m, "too many PROBE_SUFFIX packets (limit 16)");
    begin(m, 3);
    P(m, TP_CMD_TEST_PATH, "/t");
    P(m, TP_CMD_PROBE_PATH_SUFFIXES, "p");
    P(m, TP_CMD_PROBE_PATH_SUFFIXES, "p");
    end(m);
    parse_err(m, "duplicate PROBE_PATH_SUFFIXES packet");

    /* TEST_PATH and READ_FILE: one of plain/expanded */
    one_err(TP_CMD_TEST_PATH, "t", "malformed TEST_PATH packet: payload must "
                                   "be an absolute path");
    one_err(TP_CMD_READ_FILE, "t", "malformed READ_FILE packet: payload must "
                                   "be an absolute path");
    static const struct {
        uint16_t a, b;
        const char *want;
    } pairs[] = {
        { TP_CMD_TEST_PATH, TP_CMD_TEST_PATH, "duplicate TEST_PATH packet" },
        { TP_CMD_TEST_PATH, TP_CMD_EXPAND_TEST_PATH,
          "cannot combine EXPAND_TEST_PATH with TEST_PATH or "
          "EXPAND_TEST_PATH" },
        { TP_CMD_EXPAND_TEST_PATH, TP_CMD_TEST_PATH,
          "cannot combine TEST_PATH with TEST_PATH or EXPAND_TEST_PATH" },
        { TP_CMD_EXPAND_TEST_PATH, TP_CMD_EXPAND_TEST_PATH,
          "duplicate EXPAND_TEST_PATH packet" },
        { TP_CMD_READ_FILE, TP_CMD_READ_FILE, "duplicate READ_FILE packet" },
        { TP_CMD_READ_FILE, TP_CMD_EXPAND_READ_FILE,
          "cannot combine EXPAND_READ_FILE with READ_FILE or "
          "EXPAND_READ_FILE" },
        { TP_CMD_EXPAND_READ_FILE, TP_CMD_READ_FILE,
          "cannot combine READ_FILE with READ_FILE or EXPAND_READ_FILE" },
        { TP_CMD_EXPAND_READ_FILE, TP_CMD_EXPAND_READ_FILE,
          "duplicate EXPAND_READ_FILE packet" },
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        begin(m, 3);
        P(m, TP_CMD_BASE, "/");
        P(m, TP_CMD_REGEX, ".");
        P(m, pairs[i].a, "/a");
        P(m, pairs[i].b, "/b");
        end(m);
        parse_err(m, pairs[i].want);
    }
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, ".");
    P(m, TP_CMD_EXPAND_TEST_PATH, "");
    end(m);
    parse_err(m, "malformed EXPAND_TEST_PATH packet: payload must not be "
                 "empty");
    one_err(TP_CMD_PATH_EXISTS, "x", "malformed PATH_EXISTS packet: payload "
                                     "must be empty");
    free(m);
}

/* ==== sessions and authentication (§1.12) ==== */

static void
test_sessions(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    P(m, TP_CMD_SESSION, "sess\0ion");
    P(m, TP_CMD_REALM_SESSION, "");
    P(m, TP_CMD_REALM, "");
    P(m, TP_CMD_USER, "bob");
    P(m, TP_CMD_LANGUAGE, "en");
    put0(m, TP_CMD_DISCARD_SESSION);
    put0(m, TP_CMD_DISCARD_REALM_SESSION);
    P(m, TP_CMD_ATTACH_SESSION, "\x01\x02");
    P(m, TP_CMD_SESSION_SITE, "");
    put0(m, TP_CMD_SECURE_COOKIE);
    P(m, TP_CMD_COOKIE_DOMAIN, "example.com");
    P(m, TP_CMD_COOKIE_PATH, "/app");
    P(m, TP_CMD_SESSION_COOKIE_SAME_SITE, "Strict");
    P(m, TP_CMD_RECOVER_SESSION, "abc-123_~!");
    put0(m, TP_CMD_REQUIRE_CSRF_TOKEN);
    put0(m, TP_CMD_SEND_CSRF_TOKEN);
    P(m, TP_CMD_HTTP_AUTH, "ha");
    P(m, TP_CMD_TOKEN_AUTH, "");
    P(m, TP_CMD_APPEND_AUTH, "\0x");
    P(m, TP_CMD_PATH, "/f");
    P(m, TP_CMD_COOKIE_HOST, "cookies.example");
    end(m);
    struct tp_response r;
    parse_ok(m, &r);
    assert_int_equal(r.session.len, 8);
    assert_memory_equal(r.session.data, "sess\0ion", 8);
    assert_non_null(r.realm_session.data);
    assert_int_equal(r.realm_session.len, 0);
    assert_string_equal(r.realm, "");
    assert_string_equal(r.user, "bob");
    assert_string_equal(r.language, "en");
    assert_true(r.discard_session && r.discard_realm_session);
    assert_int_equal(r.attach_session.len, 2);
    assert_string_equal(r.session_site, "");
    assert_true(r.secure_cookie);
    assert_string_equal(r.cookie_domain, "example.com");
    assert_string_equal(r.cookie_path, "/app");
    assert_int_equal(r.session_cookie_same_site, TP_SAME_SITE_STRICT);
    assert_string_equal(r.recover_session, "abc-123_~!");
    assert_true(r.require_csrf_token && r.send_csrf_token);
    assert_int_equal(r.http_auth.len, 2);
    assert_non_null(r.token_auth.data);
    assert_int_equal(r.append_auth.len, 2);
    assert_string_equal(r.cookie_host, "cookies.example");
    assert_null(r.auth.data);
    tp_response_free(&r);

    static const struct {
        const char *value;
        enum tp_same_site want;
    } ss[] = {
        { "lax", TP_SAME_SITE_LAX }, { "NONE", TP_SAME_SITE_NONE },
        { "sTrIcT", TP_SAME_SITE_STRICT },
    };
    for (size_t i = 0; i < 3; i++) {
        begin(m, 3);
        put_s(m, TP_CMD_SESSION_COOKIE_SAME_SITE, ss[i].value);
        end(m);
        parse_ok(m, &r);
        assert_int_equal(r.session_cookie_same_site, ss[i].want);
        tp_response_free(&r);
    }

    /* AUTH with REALM_FROM_AUTH_BASE; AUTH_FILE; EXPAND variants */
    begin(m, 3);
    P(m, TP_CMD_AUTH, "auth\0payload");
    put0(m, TP_CMD_REALM_FROM_AUTH_BASE);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, "(.*)");
    P(m, TP_CMD_EXPAND_APPEND_AUTH, "\\1");
    P(m, TP_CMD_PATH, "/f");
    P(m, TP_CMD_EXPAND_COOKIE_HOST, "\\1.example");
    end(m);
    parse_ok(m, &r);
    assert_int_equal(r.auth.len, 12);
    assert_true(r.realm_from_auth_base);
    assert_string_equal(r.expand_append_auth, "\\1");
    assert_string_equal(r.expand_cookie_host, "\\1.example");
    tp_response_free(&r);
    begin(m, 3);
    P(m, TP_CMD_AUTH_FILE, "/etc/auth");
    put0(m, TP_CMD_REALM_FROM_AUTH_BASE);
    P(m, TP_CMD_APPEND_AUTH, "");
    end(m);
    parse_ok(m, &r);
    assert_string_equal(r.auth_file, "/etc/auth");
    assert_non_null(r.append_auth.data);
    tp_response_free(&r);
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, "(.*)");
    P(m, TP_CMD_EXPAND_AUTH_FILE, "/etc/\\1");
    P(m, TP_CMD_TOKEN_AUTH, "t");
    end(m);
    parse_ok(m, &r);
    assert_string_equal(r.expand_auth_file, "/etc/\\1");
    assert_null(r.auth_file);
    tp_response_free(&r);
    free(m);
}

static void
test_session_errors(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    one_err(TP_CMD_REALM, "r", "malformed REALM packet: only an empty REALM "
                               "is accepted");
    one_err(TP_CMD_ATTACH_SESSION, "", "malformed ATTACH_SESSION packet: "
                                       "payload must not be empty");
    one_err(TP_CMD_SESSION_COOKIE_SAME_SITE, "always", "malformed "
            "SESSION_COOKIE_SAME_SITE packet: must be strict, lax or none");
    one_err(TP_CMD_SESSION_COOKIE_SAME_SITE, "", "malformed "
            "SESSION_COOKIE_SAME_SITE packet: must be strict, lax or none");
    one_err(TP_CMD_SESSION_COOKIE_SAME_SITE, "laxx", "malformed "
            "SESSION_COOKIE_SAME_SITE packet: must be strict, lax or none");
    static const char *const bad_cookie[] = { "a b", "a\"b", "a,b", "a;b",
                                              "a\\b", "a\x7f", "\xc3\xa4",
                                              "a\tb" };
    for (size_t i = 0; i < sizeof(bad_cookie) / sizeof(bad_cookie[0]); i++) {
        begin(m, 3);
        put_s(m, TP_CMD_RECOVER_SESSION, bad_cookie[i]);
        end(m);
        parse_err(m, "malformed RECOVER_SESSION packet: not a valid cookie "
                     "value");
    }
    one_err(TP_CMD_RECOVER_SESSION, "", "malformed RECOVER_SESSION packet: "
                                        "payload must not be empty");
    one_err(TP_CMD_COOKIE_DOMAIN, "", "malformed COOKIE_DOMAIN packet: "
                                      "payload must not be empty");
    one_err(TP_CMD_COOKIE_PATH, "app", "malformed COOKIE_PATH packet: "
                                       "payload must be an absolute path");
    one_err(TP_CMD_AUTH_FILE, "auth", "malformed AUTH_FILE packet: payload "
                                      "must be an absolute path");
    one_err(TP_CMD_COOKIE_HOST, "h", "COOKIE_HOST without resource address");
    begin(m, 3);
    P(m, TP_CMD_PATH, "/f");
    P(m, TP_CMD_COOKIE_HOST, "");
    end(m);
    parse_err(m, "malformed COOKIE_HOST packet: payload must not be empty");
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, ".");
    P(m, TP_CMD_EXPAND_COOKIE_HOST, "h");
    end(m);
    parse_err(m, "EXPAND_COOKIE_HOST without resource address");
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, ".");
    P(m, TP_CMD_SITE, "s");
    P(m, TP_CMD_EXPAND_SITE, "");
    end(m);
    parse_err(m, "malformed EXPAND_SITE packet: payload must not be empty");
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, ".");
    P(m, TP_CMD_EXPAND_SITE, "s");
    end(m);
    parse_err(m, "EXPAND_SITE without SITE");

    /* exclusions between the authentication kinds */
    static const struct {
        uint16_t a, b;
        const char *want;
    } pairs[] = {
        { TP_CMD_AUTH, TP_CMD_HTTP_AUTH, "cannot combine HTTP_AUTH with "
                                         "AUTH" },
        { TP_CMD_HTTP_AUTH, TP_CMD_AUTH, "cannot combine AUTH with "
                                         "HTTP_AUTH" },
        { TP_CMD_AUTH, TP_CMD_TOKEN_AUTH, "cannot combine TOKEN_AUTH with "
                                          "AUTH" },
        { TP_CMD_TOKEN_AUTH, TP_CMD_AUTH, "cannot combine AUTH with "
                                          "TOKEN_AUTH" },
        { TP_CMD_AUTH, TP_CMD_AUTH_FILE, "cannot combine AUTH_FILE with "
                                         "AUTH" },
        { TP_CMD_AUTH_FILE, TP_CMD_AUTH, "cannot combine AUTH with "
                                         "AUTH_FILE or EXPAND_AUTH_FILE" },
        { TP_CMD_EXPAND_AUTH_FILE, TP_CMD_AUTH, "cannot combine AUTH with "
                                                "AUTH_FILE or "
                                                "EXPAND_AUTH_FILE" },
        { TP_CMD_EXPAND_AUTH_FILE, TP_CMD_AUTH_FILE,
          "cannot combine AUTH_FILE with AUTH_FILE or EXPAND_AUTH_FILE" },
        { TP_CMD_AUTH_FILE, TP_CMD_EXPAND_AUTH_FILE,
          "cannot combine EXPAND_AUTH_FILE with AUTH_FILE or "
          "EXPAND_AUTH_FILE" },
        { TP_CMD_AUTH, TP_CMD_EXPAND_AUTH_FILE, "cannot combine "
                                                "EXPAND_AUTH_FILE with "
                                                "AUTH" },
        { TP_CMD_AUTH, TP_CMD_AUTH, "duplicate AUTH packet" },
        { TP_CMD_AUTH_FILE, TP_CMD_AUTH_FILE, "duplicate AUTH_FILE packet" },
        { TP_CMD_HTTP_AUTH, TP_CMD_HTTP_AUTH, "duplicate HTTP_AUTH packet" },
        { TP_CMD_TOKEN_AUTH, TP_CMD_TOKEN_AUTH,
          "duplicate TOKEN_AUTH packet" },
        { TP_CMD_HTTP_AUTH, TP_CMD_APPEND_AUTH, NULL },
        { TP_CMD_HTTP_AUTH, TP_CMD_TOKEN_AUTH, NULL },
        { TP_CMD_AUTH, TP_CMD_REALM_FROM_AUTH_BASE, NULL },
        { TP_CMD_HTTP_AUTH, TP_CMD_REALM_FROM_AUTH_BASE,
          "REALM_FROM_AUTH_BASE without AUTH or AUTH_FILE" },
        { TP_CMD_REALM, TP_CMD_REALM_FROM_AUTH_BASE,
          "REALM_FROM_AUTH_BASE without AUTH or AUTH_FILE" },
        { TP_CMD_SESSION_COOKIE_SAME_SITE, TP_CMD_SESSION_COOKIE_SAME_SITE,
          "duplicate SESSION_COOKIE_SAME_SITE packet" },
        { TP_CMD_REALM, TP_CMD_REALM, "duplicate REALM packet" },
        { TP_CMD_REALM_SESSION, TP_CMD_REALM_SESSION,
          "duplicate REALM_SESSION packet" },
        { TP_CMD_ATTACH_SESSION, TP_CMD_ATTACH_SESSION,
          "duplicate ATTACH_SESSION packet" },
        { TP_CMD_SESSION_SITE, TP_CMD_SESSION_SITE,
          "duplicate SESSION_SITE packet" },
        { TP_CMD_DISCARD_SESSION, TP_CMD_DISCARD_SESSION,
          "duplicate DISCARD_SESSION packet" },
        { TP_CMD_DISCARD_REALM_SESSION, TP_CMD_DISCARD_REALM_SESSION,
          "duplicate DISCARD_REALM_SESSION packet" },
        { TP_CMD_SECURE_COOKIE, TP_CMD_SECURE_COOKIE,
          "duplicate SECURE_COOKIE packet" },
        { TP_CMD_COOKIE_DOMAIN, TP_CMD_COOKIE_DOMAIN,
          "duplicate COOKIE_DOMAIN packet" },
        { TP_CMD_COOKIE_PATH, TP_CMD_COOKIE_PATH,
          "duplicate COOKIE_PATH packet" },
        { TP_CMD_RECOVER_SESSION, TP_CMD_RECOVER_SESSION,
          "duplicate RECOVER_SESSION packet" },
        { TP_CMD_REQUIRE_CSRF_TOKEN, TP_CMD_REQUIRE_CSRF_TOKEN,
          "duplicate REQUIRE_CSRF_TOKEN packet" },
        { TP_CMD_SEND_CSRF_TOKEN, TP_CMD_SEND_CSRF_TOKEN,
          "duplicate SEND_CSRF_TOKEN packet" },
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        begin(m, 3);
        P(m, TP_CMD_BASE, "/");
        P(m, TP_CMD_REGEX, ".");
        uint16_t c[2] = { pairs[i].a, pairs[i].b };
        for (int j = 0; j < 2; j++) {
            if (c[j] == TP_CMD_REALM)
                put0(m, c[j]);
            else if (c[j] == TP_CMD_SESSION_COOKIE_SAME_SITE)
                P(m, c[j], "lax");
            else if (tp_command_info(c[j])->payload == TP_PL_NONE)
                put0(m, c[j]);
            else
                P(m, c[j], "/x");
        }
        end(m);
        if (pairs[i].want == NULL) {
            struct tp_response r;
            parse_ok(m, &r);
            tp_response_free(&r);
        } else {
            parse_err(m, pairs[i].want);
        }
    }
    /* REALM vs REALM_FROM_AUTH_BASE, both orders */
    begin(m, 3);
    P(m, TP_CMD_AUTH, "a");
    put0(m, TP_CMD_REALM);
    put0(m, TP_CMD_REALM_FROM_AUTH_BASE);
    end(m);
    parse_err(m, "cannot combine REALM_FROM_AUTH_BASE with REALM");
    begin(m, 3);
    P(m, TP_CMD_AUTH, "a");
    put0(m, TP_CMD_REALM_FROM_AUTH_BASE);
    put0(m, TP_CMD_REALM);
    end(m);
    parse_err(m, "cannot combine REALM with REALM_FROM_AUTH_BASE");
    begin(m, 3);
    P(m, TP_CMD_AUTH, "a");
    put0(m, TP_CMD_REALM_FROM_AUTH_BASE);
    put0(m, TP_CMD_REALM_FROM_AUTH_BASE);
    end(m);
    parse_err(m, "duplicate REALM_FROM_AUTH_BASE packet");
    /* APPEND_AUTH */
    one_err(TP_CMD_APPEND_AUTH, "x", "APPEND_AUTH without AUTH, AUTH_FILE, "
                                     "HTTP_AUTH or TOKEN_AUTH");
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, ".");
    P(m, TP_CMD_EXPAND_APPEND_AUTH, "x");
    end(m);
    parse_err(m, "EXPAND_APPEND_AUTH without AUTH, AUTH_FILE, HTTP_AUTH or "
                 "TOKEN_AUTH");
    begin(m, 3);
    P(m, TP_CMD_TOKEN_AUTH, "t");
    P(m, TP_CMD_APPEND_AUTH, "x");
    P(m, TP_CMD_APPEND_AUTH, "x");
    end(m);
    parse_err(m, "duplicate APPEND_AUTH packet");
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, ".");
    P(m, TP_CMD_TOKEN_AUTH, "t");
    P(m, TP_CMD_APPEND_AUTH, "x");
    P(m, TP_CMD_EXPAND_APPEND_AUTH, "x");
    end(m);
    parse_err(m, "cannot combine EXPAND_APPEND_AUTH with APPEND_AUTH or "
                 "EXPAND_APPEND_AUTH");
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, ".");
    P(m, TP_CMD_TOKEN_AUTH, "t");
    P(m, TP_CMD_EXPAND_APPEND_AUTH, "x");
    P(m, TP_CMD_APPEND_AUTH, "x");
    end(m);
    parse_err(m, "cannot combine APPEND_AUTH with APPEND_AUTH or "
                 "EXPAND_APPEND_AUTH");
    free(m);
}

/* ==== the answer to a CONTENT_TYPE_LOOKUP request (§1.10) ==== */

static void
test_content_type_lookup_answer(void **state)
{
    (void)state;
    const unsigned ctl = TP_REQUEST_CONTENT_TYPE_LOOKUP;
    struct msg *m = new_msg(3);
    P(m, TP_CMD_CONTENT_TYPE, "image/png");
    put0(m, TP_CMD_AUTO_GZIPPED);
    put0(m, TP_CMD_AUTO_BROTLI_PATH);
    end(m);
    struct tp_response r;
    parse_ok_flags(m, ctl, &r);
    assert_string_equal(r.content_type, "image/png");
    assert_true(r.auto_gzipped && r.auto_brotli_path);
    assert_int_equal(r.address.type, TP_ADDRESS_NONE);
    assert_null(r.address.content_type);
    tp_response_free(&r);
    /* ... but not for an ordinary request */
    parse_err(m, "misplaced CONTENT_TYPE packet: no resource address before "
                 "it");

    /* an empty answer is fine */
    begin(m, 3);
    end(m);
    parse_ok_flags(m, ctl, &r);
    assert_null(r.content_type);
    tp_response_free(&r);

    /* with an address they belong to the address as usual */
    begin(m, 3);
    P(m, TP_CMD_PATH, "/f");
    P(m, TP_CMD_CONTENT_TYPE, "text/css");
    put0(m, TP_CMD_AUTO_GZIPPED);
    end(m);
    parse_ok_flags(m, ctl, &r);
    assert_null(r.content_type);
    assert_false(r.auto_gzipped);
    assert_string_equal(r.address.content_type, "text/css");
    assert_true(r.address.auto_gzipped);
    tp_response_free(&r);

    begin(m, 3);
    P(m, TP_CMD_CONTENT_TYPE, "a/b");
    P(m, TP_CMD_CONTENT_TYPE, "a/b");
    end(m);
    parse_err_flags(m, ctl, "duplicate CONTENT_TYPE packet");
    begin(m, 3);
    put0(m, TP_CMD_AUTO_GZIPPED);
    put0(m, TP_CMD_AUTO_GZIPPED);
    end(m);
    parse_err_flags(m, ctl, "duplicate AUTO_GZIPPED packet");
    begin(m, 3);
    put0(m, TP_CMD_AUTO_BROTLI_PATH);
    put0(m, TP_CMD_AUTO_BROTLI_PATH);
    end(m);
    parse_err_flags(m, ctl, "duplicate AUTO_BROTLI_PATH packet");
    begin(m, 3);
    P(m, TP_CMD_GZIPPED, "/a.gz");
    end(m);
    parse_err_flags(m, ctl, "misplaced GZIPPED packet: no resource address "
                            "before it");
    begin(m, 3);
    P(m, TP_CMD_CONTENT_TYPE_LOOKUP, "x");
    end(m);
    parse_err_flags(m, ctl, "misplaced CONTENT_TYPE_LOOKUP packet: no "
                            "resource address before it");
    /* a FILTER slot is not the answer's top level */
    begin(m, 3);
    put0(m, TP_CMD_FILTER);
    P(m, TP_CMD_CONTENT_TYPE, "a/b");
    end(m);
    parse_err_flags(m, ctl, "misplaced CONTENT_TYPE packet: no resource "
                            "address before it");
    begin(m, 3);
    P(m, TP_CMD_HTTP, "http://h/");
    P(m, TP_CMD_CONTENT_TYPE, "a/b");
    end(m);
    parse_err_flags(m, ctl, "misplaced CONTENT_TYPE packet: not valid for a "
                            "HTTP address");
    free(m);
}

/* ==== tp_response_has_answer() ==== */

static void
test_has_answer(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    struct tp_response r;
    /* empty, and responses with only side information */
    static const uint16_t no_answer[] = {
        0, TP_CMD_SITE, TP_CMD_MAX_AGE, TP_CMD_SESSION, TP_CMD_USER,
        TP_CMD_HEADER, TP_CMD_CHAIN, TP_CMD_ERROR_DOCUMENT, TP_CMD_BASE,
        TP_CMD_TEST_PATH, TP_CMD_AUTH, TP_CMD_HTTP_AUTH, TP_CMD_VARY,
        TP_CMD_AUTHENTICATION_INFO, TP_CMD_HTTPS_ONLY,
    };
    for (size_t i = 0; i < sizeof(no_answer) / 2; i++) {
        begin(m, 3);
        switch (no_answer[i]) {
        case 0:
            break;
        case TP_CMD_MAX_AGE:
            put_u32(m, TP_CMD_MAX_AGE, 10);
            break;
        case TP_CMD_VARY:
            put_u16(m, TP_CMD_VARY, TP_CMD_HOST);
            break;
        case TP_CMD_HTTPS_ONLY:
            put0(m, TP_CMD_HTTPS_ONLY);
            break;
        case TP_CMD_HEADER:
            P(m, TP_CMD_HEADER, "x:y");
            break;
        default:
            P(m, no_answer[i], "/x/");
        }
        end(m);
        parse_ok(m, &r);
        if (tp_response_has_answer(&r))
            fail_msg("%s alone is an answer",
                     tp_command_name(no_answer[i]));
        tp_response_free(&r);
    }

    /* each documented answer on its own */
    static const struct {
        uint16_t cmd;
        const char *payload;
        size_t len;
        unsigned flags;
    } answers[] = {
        { TP_CMD_PATH, "/f", 2, 0 },
        { TP_CMD_CGI, "/c", 2, 0 },
        { TP_CMD_REDIRECT, "/r", 2, 0 },
        { TP_CMD_BOUNCE, "/b", 2, 0 },
        { TP_CMD_STATUS, "\x94\x01", 2, 0 },
        { TP_CMD_MESSAGE, "m", 1, 0 },
        { TP_CMD_TINY_IMAGE, "", 0, 0 },
        { TP_CMD_WWW_AUTHENTICATE, "Basic", 5, 0 },
        { TP_CMD_CHECK, "", 0, 0 },
        { TP_CMD_WANT, "\x0e\x00", 2, 0 },
        { TP_CMD_WANT_FULL_URI, "", 0, 0 },
        { TP_CMD_DEFER, "", 0, 0 },
        { TP_CMD_LIKE_HOST, "h", 1, 0 },
        { TP_CMD_PREVIOUS, "", 0, 0 },
        { TP_CMD_BREAK_CHAIN, "", 0, TP_REQUEST_CHAIN },
        { TP_CMD_READ_FILE, "/r", 2, 0 },
        { TP_CMD_PATH_EXISTS, "", 0, 0 },
    };
    for (size_t i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
        begin(m, 3);
        put(m, answers[i].cmd, answers[i].payload, answers[i].len);
        end(m);
        parse_ok_flags(m, answers[i].flags, &r);
        if (!tp_response_has_answer(&r))
            fail_msg("%s is not an answer", tp_command_name(answers[i].cmd));
        tp_response_free(&r);
    }
    /* answers that need company */
    begin(m, 3);
    P(m, TP_CMD_INTERNAL_REDIRECT, "");
    P(m, TP_CMD_URI, "/u");
    end(m);
    parse_ok(m, &r);
    assert_true(tp_response_has_answer(&r));
    tp_response_free(&r);
    begin(m, 3);
    P(m, TP_CMD_LAYOUT, "l");
    P(m, TP_CMD_URI, "/u");
    end(m);
    parse_ok(m, &r);
    assert_true(tp_response_has_answer(&r));
    tp_response_free(&r);
    begin(m, 3);
    P(m, TP_CMD_TEST_PATH, "/t");
    P(m, TP_CMD_PROBE_PATH_SUFFIXES, "");
    P(m, TP_CMD_PROBE_SUFFIX, "x");
    end(m);
    parse_ok(m, &r);
    assert_true(tp_response_has_answer(&r));
    tp_response_free(&r);
    begin(m, 3);
    P(m, TP_CMD_BASE, "/");
    P(m, TP_CMD_REGEX, ".");
    P(m, TP_CMD_REDIRECT, "/r");
    P(m, TP_CMD_EXPAND_REDIRECT, "/e");
    P(m, TP_CMD_EXPAND_READ_FILE, "/e");
    end(m);
    parse_ok(m, &r);
    assert_true(tp_response_has_answer(&r));
    r.redirect = NULL;           /* each of the two alone */
    assert_true(tp_response_has_answer(&r));
    r.expand_redirect = NULL;
    assert_true(tp_response_has_answer(&r));
    r.expand_read_file = NULL;
    assert_false(tp_response_has_answer(&r));
    tp_response_free(&r);
    /* a FILTER alone is not an answer */
    begin(m, 3);
    put0(m, TP_CMD_FILTER);
    P(m, TP_CMD_PIPE, "p");
    end(m);
    parse_ok(m, &r);
    assert_false(tp_response_has_answer(&r));
    tp_response_free(&r);
    /* a freed response has none */
    struct tp_response zero;
    memset(&zero, 0, sizeof(zero));
    assert_false(tp_response_has_answer(&zero));
    free(m);
}


/* ==== payload sizes and split input ==== */

/* The largest payload a packet can carry (§1.2: u16 length). */
static void
test_largest_payload(void **state)
{
    (void)state;
    size_t len = 5 + 4 + TP_MAX_PAYLOAD + 4;
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    uint16_t h[2] = { 1, TP_CMD_BEGIN };
    memcpy(buf, h, 4);
    buf[4] = 3;
    h[0] = TP_MAX_PAYLOAD;
    h[1] = TP_CMD_ERROR_DOCUMENT;
    memcpy(buf + 5, h, 4);
    for (size_t i = 0; i < TP_MAX_PAYLOAD; i++)
        buf[9 + i] = (uint8_t)i;
    h[0] = 0;
    h[1] = TP_CMD_END;
    memcpy(buf + 9 + TP_MAX_PAYLOAD, h, 4);
    struct tp_response r;
    char err[128];
    assert_int_equal(tp_response_parse(buf, len, &r, err, sizeof(err)), 0);
    assert_int_equal(r.error_document.len, TP_MAX_PAYLOAD);
    assert_int_equal(r.error_document.data[TP_MAX_PAYLOAD - 1],
                     (uint8_t)(TP_MAX_PAYLOAD - 1));
    tp_response_free(&r);
    /* byte by byte through the reader */
    assert_int_equal(feed_split(buf, len, SIZE_MAX, 0, &r, err, sizeof(err)),
                     TP_PARSE_DONE);
    assert_int_equal(r.error_document.len, TP_MAX_PAYLOAD);
    tp_response_free(&r);
    /* one byte short: truncated */
    assert_int_equal(tp_response_parse(buf, len - 1, &r, err, sizeof(err)),
                     -1);
    assert_string_equal(err, "stream ended after 3 of 4 header bytes");
    free(buf);
}

/* A response touching most of the struct, fed through tp_reader split at
 * every byte offset and byte by byte (parse_ok() does it for every
 * response in this file; this one checks the fields on each pass). */
static void
test_split_feed_composite(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    P(m, TP_CMD_CACHE_TAG, "tc");
    put_u32(m, TP_CMD_MAX_AGE, 30);
    put_u16(m, TP_CMD_VARY, TP_CMD_HOST);
    P(m, TP_CMD_BASE, "/app/");
    P(m, TP_CMD_REGEX, "^app/(.*)$");
    P(m, TP_CMD_SITE, "site");
    P(m, TP_CMD_FASTCGI, "/usr/bin/app");
    P(m, TP_CMD_ADDRESS_STRING, "[::1]:9000");
    P(m, TP_CMD_PAIR, "A=1");
    P(m, TP_CMD_EXPAND_PAIR, "A=\\1");
    P(m, TP_CMD_EXPAND_PATH_INFO, "/\\1");
    P(m, TP_CMD_HEADER, "X-A:b");
    P(m, TP_CMD_USER, "u");
    put_u32(m, TP_CMD_MAX_AGE, 10);
    put0(m, TP_CMD_FILTER);
    P(m, TP_CMD_PIPE, "/bin/cat");
    P(m, TP_CMD_SETENV, "X=y");
    P(m, TP_CMD_SESSION, "s\0s");
    end(m);
    for (size_t k = 0; k <= m->len + 1; k++) {
        struct tp_response r;
        char err[128];
        size_t split = k <= m->len ? k : SIZE_MAX;
        assert_int_equal(feed_split(m->data, m->len, split, 0, &r, err,
                                    sizeof(err)),
                         TP_PARSE_DONE);
        assert_string_equal(err, "");
        assert_int_equal(r.cache_tags.n, 1);
        assert_int_equal(r.max_age, 30);
        assert_int_equal(r.user_max_age, 10);
        assert_int_equal(r.vary.v[0], TP_CMD_HOST);
        assert_int_equal(r.address.type, TP_ADDRESS_FASTCGI);
        assert_int_equal(ntohs(sin6_of(&r.address.addresses.v[0])->sin6_port),
                         9000);
        assert_expandable(&r.address.params, 0, "A=1", "A=\\1");
        assert_string_equal(r.address.expand_path_info, "/\\1");
        assert_int_equal(r.n_filters, 1);
        assert_expandable(&r.filters[0]->address.child.env, 0, "X=y", NULL);
        assert_int_equal(r.session.len, 3);
        tp_response_free(&r);
    }
    free(m);
}


/* A deterministic mutation run: whatever the bytes, tp_response_parse()
 * and the incremental path (whole, and split at a few offsets) agree on
 * the outcome, the message and the typed result, and nothing leaks. */
static uint32_t
lcg(uint32_t *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 8;
}

static void
check_consistent(const uint8_t *data, size_t len, uint32_t *seed)
{
    char err[256], err2[256];
    struct tp_response r, again;
    int rc = tp_response_parse(data, len, &r, err, sizeof(err));
    char *want = rc == 0 ? dump(&r) : NULL;
    if (rc != 0)
        assert_true(all_zero(&r, sizeof(r)));
    tp_response_free(&r);

    for (int i = 0; i < 4; i++) {
        size_t k = i == 0 ? len : i == 3 ? SIZE_MAX : lcg(seed) % (len + 1);
        enum tp_parse_status st =
            feed_split(data, len, k, 0, &again, err2, sizeof(err2));
        if (rc == 0) {
            assert_int_equal(st, TP_PARSE_DONE);
            char *got = dump(&again);
            assert_string_equal(got, want);
            free(got);
        } else if (st == TP_PARSE_ERROR) {
            assert_string_equal(err2, err);
        } else if (st == TP_PARSE_DONE) {
            assert_non_null(strstr(err, "bytes after END"));
        } else {
            assert_true(strstr(err, "ended") != NULL);
        }
        tp_response_free(&again);
    }
    free(want);
}

static void
test_mutations_consistent(void **state)
{
    (void)state;
    struct msg *base = new_msg(3);
    P(base, TP_CMD_BASE, "/a/");
    P(base, TP_CMD_REGEX, "^a/(.*)");
    P(base, TP_CMD_CGI, "/c");
    P(base, TP_CMD_PATH_INFO, "/p/");
    P(base, TP_CMD_EXPAND_PATH_INFO, "/\\1");
    P(base, TP_CMD_APPEND, "x");
    P(base, TP_CMD_SETENV, "A=1");
    put_u16(base, TP_CMD_UMASK, 022);
    P(base, TP_CMD_HEADER, "x-a:b");
    put0(base, TP_CMD_FILTER);
    P(base, TP_CMD_HTTP, "http://h/");
    P(base, TP_CMD_ADDRESS_STRING, "10.0.0.1:81");
    put_u32(base, TP_CMD_MAX_AGE, 5);
    end(base);

    struct msg *m = new_msg(3);
    uint32_t seed = 20261123;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(m->data, base->data, base->len);
        m->len = base->len;
        int edits = 1 + (int)(lcg(&seed) % 3);
        for (int e = 0; e < edits && m->len > 0; e++) {
            size_t at = lcg(&seed) % m->len;
            switch (lcg(&seed) % 5) {
            case 0: /* flip a byte */
                m->data[at] ^= (uint8_t)(1u << (lcg(&seed) % 8));
                break;
            case 1: /* set a byte */
                m->data[at] = (uint8_t)lcg(&seed);
                break;
            case 2: /* truncate */
                m->len = at;
                break;
            case 3: /* a command number anywhere in 0..300 */
                if (at + 1 < m->len) {
                    uint16_t c = (uint16_t)(lcg(&seed) % 301);
                    memcpy(m->data + at, &c, 2);
                }
                break;
            default: /* insert a random packet before END */
                if (m->len >= 4 && m->len + 12 < sizeof(m->data)) {
                    uint8_t pk[12];
                    uint16_t l = (uint16_t)(lcg(&seed) % 9);
                    uint16_t c = (uint16_t)(lcg(&seed) % 301);
                    memcpy(pk, &l, 2);
                    memcpy(pk + 2, &c, 2);
                    for (int b = 0; b < 8; b++)
                        pk[4 + b] = (uint8_t)lcg(&seed);
                    size_t tail = 4;
                    memmove(m->data + m->len - tail + 4 + l,
                            m->data + m->len - tail, tail);
                    memcpy(m->data + m->len - tail, pk, 4 + (size_t)l);
                    m->len += 4 + (size_t)l;
                }
                break;
            }
        }
        check_consistent(m->data, m->len, &seed);
    }
    free(m);
    free(base);
}

/* ==== systematic checks over the command table ==== */

/* The shape checks of §1.2/§1.4 come before any context rule: every
 * interpreted or ignored command with a text payload refuses a NUL byte,
 * fixed-size integers refuse other sizes, empty-payload commands refuse
 * a byte — whatever came before the packet. */
static void
test_payload_shapes_all_commands(void **state)
{
    (void)state;
    struct msg *m = new_msg(3);
    size_t checked = 0;
    for (unsigned n = 3; n <= TP_CMD_MAX; n++) {
        enum tp_packet_support s = tp_response_packet_support((uint16_t)n);
        if (s != TP_SUPPORT_ACCEPTED && s != TP_SUPPORT_IGNORED)
            continue;
        const struct tp_command_info *info = tp_command_info((uint16_t)n);
        const char *why;
        const char *payload;
        size_t len;
        switch (info->payload) {
        case TP_PL_STR:
        case TP_PL_ABS_PATH:
            if (n == TP_CMD_VALIDATE_MTIME)
                continue; /* own binary format, tested above */
            payload = "/a\0b";
            len = 4;
            why = "payload contains a NUL byte";
            break;
        case TP_PL_NAME:
            payload = "a\0b";
            len = 3;
            why = "payload must be a name of [A-Za-z0-9_-]";
            break;
        case TP_PL_NONE:
            payload = "\0";
            len = 1;
            why = "payload must be empty";
            break;
        case TP_PL_U16:
            payload = "\0\0\0";
            len = 3;
            why = "payload must be a 2-byte integer";
            break;
        case TP_PL_U32:
            payload = "\0\0";
            len = 2;
            why = "payload must be a 4-byte integer";
            break;
        case TP_PL_OPT_U16:
            payload = "\0";
            len = 1;
            why = "payload must be empty or a 2-byte integer";
            break;
        case TP_PL_U16_ARRAY:
            payload = "\0\0\0";
            len = 3;
            why = "payload must be a non-empty array of 2-byte integers";
            break;
        case TP_PL_SOCKADDR:
            payload = "\2";
            len = 1;
            why = "payload is too short for a socket address";
            break;
        default:
            continue; /* BYTES, STR0, BINARY: no generic shape */
        }
        char want[160];
        snprintf(want, sizeof(want), "malformed %s packet: %s", info->name,
                 why);
        /* alone, and after a context in which the packet is valid */
        begin(m, 3);
        put(m, (uint16_t)n, payload, len);
        end(m);
        parse_err(m, want);
        begin(m, 3);
        P(m, TP_CMD_BASE, "/");
        P(m, TP_CMD_REGEX, ".");
        P(m, TP_CMD_SITE, "s");
        P(m, TP_CMD_CGI, "/c");
        put(m, (uint16_t)n, payload, len);
        end(m);
        parse_err(m, want);
        checked++;
    }
    assert_int_equal(checked, 144);
    free(m);
}

/* Runs last: every command the parser interprets or ignores appeared in
 * at least one response of this file that parsed. */
static void
test_every_command_exercised(void **state)
{
    (void)state;
    size_t missing = 0;
    for (unsigned n = 1; n <= TP_CMD_MAX; n++) {
        enum tp_packet_support s = tp_response_packet_support((uint16_t)n);
        if ((s == TP_SUPPORT_ACCEPTED || s == TP_SUPPORT_IGNORED) &&
            !seen_ok[n]) {
            print_error("never parsed successfully: %s (%u)\n",
                        tp_command_name((uint16_t)n), n);
            missing++;
        }
    }
    assert_int_equal(missing, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example_bytes),
        cmocka_unit_test(test_literal_static_file),
        cmocka_unit_test(test_literal_http_proxy),
        cmocka_unit_test(test_literal_generated_responses),
        cmocka_unit_test(test_literal_base_regex_expand),
        cmocka_unit_test(test_literal_binary_layouts),
        cmocka_unit_test(test_literal_errors),
        cmocka_unit_test(test_begin_versions),
        cmocka_unit_test(test_begin_end_errors),
        cmocka_unit_test(test_parser_states),
        cmocka_unit_test(test_packet_support_table),
        cmocka_unit_test(test_packet_support_spec_lists),
        cmocka_unit_test(test_refused_packets_named),
        cmocka_unit_test(test_ignored_packets),
        cmocka_unit_test(test_local_file),
        cmocka_unit_test(test_local_file_errors),
        cmocka_unit_test(test_nfs),
        cmocka_unit_test(test_http),
        cmocka_unit_test(test_http_errors),
        cmocka_unit_test(test_cgi),
        cmocka_unit_test(test_cgi_errors),
        cmocka_unit_test(test_fastcgi),
        cmocka_unit_test(test_was),
        cmocka_unit_test(test_lhttp),
        cmocka_unit_test(test_filters),
        cmocka_unit_test(test_child_options),
        cmocka_unit_test(test_response_wide),
        cmocka_unit_test(test_overwriting_packets),
        cmocka_unit_test(test_response_wide_errors),
        cmocka_unit_test(test_expand_response_wide),
        cmocka_unit_test(test_header_forward),
        cmocka_unit_test(test_max_age_anchor),
        cmocka_unit_test(test_vary_invalidate),
        cmocka_unit_test(test_base_regex),
        cmocka_unit_test(test_base_regex_errors),
        cmocka_unit_test(test_repeat_requests),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_probing),
        cmocka_unit_test(test_sessions),
        cmocka_unit_test(test_session_errors),
        cmocka_unit_test(test_content_type_lookup_answer),
        cmocka_unit_test(test_has_answer),
        cmocka_unit_test(test_largest_payload),
        cmocka_unit_test(test_split_feed_composite),
        cmocka_unit_test(test_payload_shapes_all_commands),
        cmocka_unit_test(test_mutations_consistent),
        /* keep last */
        cmocka_unit_test(test_every_command_exercised),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
