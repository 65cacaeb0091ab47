/*
 * The response builder.  Every packet goes through emit(): append header
 * and payload to the buffer, feed the packet to a tp_response_parser, and
 * take the bytes back out when the parser refuses it.  The parser is the
 * single source of the rules; this file only encodes typed arguments.
 */
#include "tr_response.h"

#include "pr_bytes.h"
#include "tp_command.h"
#include "tp_reader.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tr_response {
    struct pr_buf buf;
    struct tp_response_parser parser;
    struct tp_response parsed;
    bool finished;
    int code;                  /* 0 or the sticky -errno */
    char error[256];
};

static int
set_error(struct tr_response *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
set_error(struct tr_response *r, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof(r->error), fmt, ap);
    va_end(ap);
    r->code = code;
    return code;
}

/* Append one packet and have the parser judge it. */
static int
emit(struct tr_response *r, uint16_t command, const void *payload,
     size_t len)
{
    if (r == NULL)
        return -ENOMEM;
    if (r->code != 0)
        return r->code;
    const char *name = tp_command_name(command);
    if (r->finished)
        return set_error(r, -EINVAL, "%s packet after tr_response_finish()",
                         name);
    if (len > TP_MAX_PAYLOAD)
        return set_error(r, -EINVAL, "payload of %zu bytes over the limit "
                         "of %d (%s)", len, TP_MAX_PAYLOAD, name);
    if (payload == NULL && len > 0)
        return set_error(r, -EINVAL, "NULL payload for %s", name);
    if (pr_buf_reserve(&r->buf, TP_HEADER_SIZE + len) < 0)
        return set_error(r, -ENOMEM, "out of memory for a %zu-byte %s "
                         "packet", len, name);

    size_t start = r->buf.len;
    uint8_t *p = r->buf.data + start;
    pr_store_u16(p, (uint16_t)len);
    pr_store_u16(p + 2, command);
    if (len > 0)
        memcpy(p + TP_HEADER_SIZE, payload, len);
    r->buf.len += TP_HEADER_SIZE + len;

    struct tp_packet pkt = {
        .command = command,
        .length = (uint16_t)len,
        .payload = p + TP_HEADER_SIZE,
    };
    enum tp_parse_status st = tp_response_parser_feed(&r->parser, &pkt);
    if (st == TP_PARSE_ERROR) {
        r->buf.len = start;
        const char *why = tp_response_parser_error(&r->parser);
        return set_error(r, strcmp(why, "out of memory") == 0 ? -ENOMEM
                                                              : -EINVAL,
                         "%s", why);
    }
    if (st == TP_PARSE_DONE)
        r->finished = true;
    return 0;
}

static int
emit_str(struct tr_response *r, uint16_t command, const char *s)
{
    if (r == NULL)
        return -ENOMEM;
    if (r->code == 0 && s == NULL)
        return set_error(r, -EINVAL, "NULL string for %s",
                         tp_command_name(command));
    return emit(r, command, s, s != NULL ? strlen(s) : 0);
}

/* "name<sep>value" (HEADER "name:value", PAIR/SETENV "name=value"). */
static int
emit_pair(struct tr_response *r, uint16_t command, const char *name,
          char sep, const char *value)
{
    if (r == NULL)
        return -ENOMEM;
    if (r->code != 0)
        return r->code;
    const char *cmd = tp_command_name(command);
    if (name == NULL || value == NULL)
        return set_error(r, -EINVAL, "NULL name or value for %s", cmd);
    if (*name == '\0' || strchr(name, sep) != NULL)
        return set_error(r, -EINVAL, "%s name must be non-empty and "
                         "without '%c'", cmd, sep);
    size_t nlen = strlen(name), vlen = strlen(value);
    if (nlen + 1 + vlen > TP_MAX_PAYLOAD)
        return set_error(r, -EINVAL, "payload of %zu bytes over the limit "
                         "of %d (%s)", nlen + 1 + vlen, TP_MAX_PAYLOAD, cmd);
    char *tmp = malloc(nlen + 1 + vlen);
    if (tmp == NULL)
        return set_error(r, -ENOMEM, "out of memory for %s", cmd);
    memcpy(tmp, name, nlen);
    tmp[nlen] = sep;
    memcpy(tmp + nlen + 1, value, vlen);
    int rc = emit(r, command, tmp, nlen + 1 + vlen);
    free(tmp);
    return rc;
}

static int
emit_u16(struct tr_response *r, uint16_t command, unsigned v)
{
    if (r == NULL)
        return -ENOMEM;
    if (r->code == 0 && v > UINT16_MAX)
        return set_error(r, -EINVAL, "%s value %u does not fit in 16 bits",
                         tp_command_name(command), v);
    uint8_t b[2];
    pr_store_u16(b, (uint16_t)v);
    return emit(r, command, b, sizeof(b));
}

static int
emit_u32(struct tr_response *r, uint16_t command, uint32_t v)
{
    if (r == NULL)
        return -ENOMEM;
    uint8_t b[4];
    memcpy(b, &v, sizeof(b));   /* host order */
    return emit(r, command, b, sizeof(b));
}

static int
emit_u16_list(struct tr_response *r, uint16_t command, const uint16_t *v,
              size_t n)
{
    if (r == NULL)
        return -ENOMEM;
    if (r->code != 0)
        return r->code;
    /* The parser bounds VARY/INVALIDATE at 16; WANT shares the 64 of
     * requests.  Checked here first only to size the stack buffer. */
    uint8_t b[2 * TP_REQUEST_MAX_WANT];
    if (n > TP_REQUEST_MAX_WANT)
        return set_error(r, -EINVAL, "%s lists %zu commands (limit %d)",
                         tp_command_name(command), n, TP_REQUEST_MAX_WANT);
    if (v == NULL && n > 0)
        return set_error(r, -EINVAL, "NULL list for %s",
                         tp_command_name(command));
    for (size_t i = 0; i < n; i++)
        pr_store_u16(b + 2 * i, v[i]);
    return emit(r, command, b, 2 * n);
}

/* ---- lifetime ---- */

struct tr_response *
tr_response_new(void)
{
    return tr_response_new_for(NULL);
}

struct tr_response *
tr_response_new_for(const struct tp_request *request)
{
    struct tr_response *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return NULL;
    tp_response_parser_init(&r->parser, &r->parsed);
    unsigned flags = 0;
    if (request != NULL) {
        if (request->content_type_lookup.data != NULL)
            flags |= TP_REQUEST_CONTENT_TYPE_LOOKUP;
        if (request->chain.data != NULL)
            flags |= TP_REQUEST_CHAIN;
        if (request->want_count > 0)
            flags |= TP_REQUEST_WANT;
        if (request->want_full_uri.data != NULL)
            flags |= TP_REQUEST_WANT_FULL_URI;
    }
    tp_response_parser_set_request(&r->parser, flags);
    uint8_t version = TR_RESPONSE_VERSION;
    if (emit(r, TP_CMD_BEGIN, &version, 1) < 0) {
        tr_response_free(r);
        return NULL;
    }
    return r;
}

void
tr_response_free(struct tr_response *r)
{
    if (r == NULL)
        return;
    pr_buf_free(&r->buf);
    tp_response_free(&r->parsed);
    free(r);
}

int
tr_response_finish(struct tr_response *r)
{
    if (r == NULL)
        return -ENOMEM;
    if (r->code != 0 || r->finished)
        return r->code;
    return emit(r, TP_CMD_END, NULL, 0);
}

const uint8_t *
tr_response_data(const struct tr_response *r, size_t *len)
{
    *len = r != NULL ? r->buf.len : 0;
    return r != NULL ? r->buf.data : NULL;
}

int
tr_response_error_code(const struct tr_response *r)
{
    return r != NULL ? r->code : -ENOMEM;
}

const char *
tr_response_error(const struct tr_response *r)
{
    return r != NULL ? r->error : "out of memory (no response)";
}

const struct tp_response *
tr_response_parsed(const struct tr_response *r)
{
    return r != NULL && r->finished && r->code == 0 ? &r->parsed : NULL;
}

int
tr_response_packet(struct tr_response *r, uint16_t command, const void *data,
                   size_t len)
{
    if (r == NULL)
        return -ENOMEM;
    if (r->code == 0 &&
        (command == TP_CMD_BEGIN || command == TP_CMD_END))
        return set_error(r, -EINVAL, "%s is written by the builder, not by "
                         "tr_response_packet()", tp_command_name(command));
    return emit(r, command, data, len);
}

/* ---- the typed calls with a plain payload: one line each ---- */

#define FLAG_CALL(fn, CMD)                                                 \
    int tr_response_##fn(struct tr_response *r)                            \
    {                                                                      \
        return emit(r, TP_CMD_##CMD, NULL, 0);                             \
    }
#define STR_CALL(fn, CMD)                                                  \
    int tr_response_##fn(struct tr_response *r, const char *s)             \
    {                                                                      \
        return emit_str(r, TP_CMD_##CMD, s);                               \
    }
#define BYTES_CALL(fn, CMD)                                                \
    int tr_response_##fn(struct tr_response *r, const void *data,          \
                         size_t len)                                       \
    {                                                                      \
        return emit(r, TP_CMD_##CMD, data, len);                           \
    }
#define U16_CALL(fn, CMD)                                                  \
    int tr_response_##fn(struct tr_response *r, unsigned v)                \
    {                                                                      \
        return emit_u16(r, TP_CMD_##CMD, v);                               \
    }
#define U32_CALL(fn, CMD)                                                  \
    int tr_response_##fn(struct tr_response *r, uint32_t v)                \
    {                                                                      \
        return emit_u32(r, TP_CMD_##CMD, v);                               \
    }
#define U16_LIST_CALL(fn, CMD)                                             \
    int tr_response_##fn(struct tr_response *r, const uint16_t *v,         \
                         size_t n)                                         \
    {                                                                      \
        return emit_u16_list(r, TP_CMD_##CMD, v, n);                       \
    }
#define PAIR_CALL(fn, CMD, SEP)                                            \
    int tr_response_##fn(struct tr_response *r, const char *name,          \
                         const char *value)                                \
    {                                                                      \
        return emit_pair(r, TP_CMD_##CMD, name, SEP, value);               \
    }

/* addresses */
STR_CALL(path, PATH)
STR_CALL(nfs_server, NFS_SERVER)
STR_CALL(nfs_export, NFS_EXPORT)
STR_CALL(http, HTTP)
STR_CALL(cgi, CGI)
STR_CALL(fastcgi, FASTCGI)
STR_CALL(was, WAS)
STR_CALL(lhttp_path, LHTTP_PATH)
STR_CALL(pipe, PIPE)
FLAG_CALL(filter, FILTER)
STR_CALL(address_string, ADDRESS_STRING)
FLAG_CALL(sticky, STICKY)

/* files */
STR_CALL(content_type, CONTENT_TYPE)
BYTES_CALL(content_type_lookup, CONTENT_TYPE_LOOKUP)
STR_CALL(gzipped, GZIPPED)
FLAG_CALL(auto_gzipped, AUTO_GZIPPED)
FLAG_CALL(auto_brotli_path, AUTO_BROTLI_PATH)
STR_CALL(beneath, BENEATH)
STR_CALL(append_path, APPEND_PATH)
STR_CALL(expand_path, EXPAND_PATH)

/* HTTP */
FLAG_CALL(http2, HTTP2)
STR_CALL(certificate, CERTIFICATE)

/* CGI-like */
STR_CALL(path_info, PATH_INFO)
STR_CALL(expand_path_info, EXPAND_PATH_INFO)
STR_CALL(script_name, SCRIPT_NAME)
STR_CALL(expand_script_name, EXPAND_SCRIPT_NAME)
STR_CALL(document_root, DOCUMENT_ROOT)
STR_CALL(expand_document_root, EXPAND_DOCUMENT_ROOT)
STR_CALL(interpreter, INTERPRETER)
STR_CALL(action, ACTION)
FLAG_CALL(request_uri_verbatim, REQUEST_URI_VERBATIM)
FLAG_CALL(auto_base, AUTO_BASE)

/* arguments and environment */
STR_CALL(append, APPEND)
STR_CALL(expand_append, EXPAND_APPEND)
PAIR_CALL(pair, PAIR, '=')
PAIR_CALL(expand_pair, EXPAND_PAIR, '=')
PAIR_CALL(setenv, SETENV, '=')
PAIR_CALL(expand_setenv, EXPAND_SETENV, '=')

/* server processes */
U16_CALL(concurrency, CONCURRENCY)
U16_CALL(parallelism, PARALLELISM)
FLAG_CALL(disposable, DISPOSABLE)
FLAG_CALL(instant_fade, INSTANT_FADE)
STR_CALL(process_name, PROCESS_NAME)

/* LHTTP */
STR_CALL(lhttp_uri, LHTTP_URI)
STR_CALL(expand_lhttp_uri, EXPAND_LHTTP_URI)
STR_CALL(lhttp_host, LHTTP_HOST)
FLAG_CALL(non_blocking, NON_BLOCKING)

/* child options */
STR_CALL(child_tag, CHILD_TAG)
STR_CALL(stderr_path, STDERR_PATH)
STR_CALL(expand_stderr_path, EXPAND_STDERR_PATH)
FLAG_CALL(stderr_null, STDERR_NULL)
STR_CALL(chdir, CHDIR)
U16_CALL(umask, UMASK)
STR_CALL(rlimits, RLIMITS)
FLAG_CALL(no_new_privs, NO_NEW_PRIVS)
FLAG_CALL(sigkill, SIGKILL_)

/* filters */
FLAG_CALL(filter_4xx, FILTER_4XX)
FLAG_CALL(filter_no_body, FILTER_NO_BODY)
FLAG_CALL(reveal_user, REVEAL_USER)
FLAG_CALL(transparent, TRANSPARENT)
STR_CALL(cache_tag, CACHE_TAG)

/* generated responses */
U16_CALL(status, STATUS)
STR_CALL(redirect, REDIRECT)
STR_CALL(expand_redirect, EXPAND_REDIRECT)
FLAG_CALL(redirect_query_string, REDIRECT_QUERY_STRING)
FLAG_CALL(redirect_full_uri, REDIRECT_FULL_URI)
STR_CALL(bounce, BOUNCE)
STR_CALL(message, MESSAGE)
FLAG_CALL(tiny_image, TINY_IMAGE)

/* access */
FLAG_CALL(no_query_string, NO_QUERY_STRING)
FLAG_CALL(discard_query_string, DISCARD_QUERY_STRING)

/* headers */
PAIR_CALL(header, HEADER, ':')
PAIR_CALL(expand_header, EXPAND_HEADER, ':')
PAIR_CALL(request_header, REQUEST_HEADER, ':')
PAIR_CALL(expand_request_header, EXPAND_REQUEST_HEADER, ':')
STR_CALL(www_authenticate, WWW_AUTHENTICATE)
STR_CALL(authentication_info, AUTHENTICATION_INFO)

/* metadata */
STR_CALL(scheme, SCHEME)
STR_CALL(host, HOST)
STR_CALL(site, SITE)
STR_CALL(expand_site, EXPAND_SITE)
STR_CALL(uri, URI)
STR_CALL(expand_uri, EXPAND_URI)
STR_CALL(generator, GENERATOR)
STR_CALL(analytics_id, ANALYTICS_ID)
STR_CALL(stats_tag, STATS_TAG)
STR_CALL(listener_tag, LISTENER_TAG)
U32_CALL(expires_relative, EXPIRES_RELATIVE)
U32_CALL(expires_relative_with_query, EXPIRES_RELATIVE_WITH_QUERY)
FLAG_CALL(defer, DEFER)

/* translation cache */
U32_CALL(max_age, MAX_AGE)
U16_LIST_CALL(vary, VARY)
U16_LIST_CALL(invalidate, INVALIDATE)
STR_CALL(base, BASE)
FLAG_CALL(easy_base, EASY_BASE)
FLAG_CALL(unsafe_base, UNSAFE_BASE)
STR_CALL(regex, REGEX)
STR_CALL(inverse_regex, INVERSE_REGEX)
FLAG_CALL(regex_tail, REGEX_TAIL)
FLAG_CALL(regex_unescape, REGEX_UNESCAPE)
FLAG_CALL(inverse_regex_unescape, INVERSE_REGEX_UNESCAPE)
FLAG_CALL(regex_on_host_uri, REGEX_ON_HOST_URI)
FLAG_CALL(regex_on_user_uri, REGEX_ON_USER_URI)
FLAG_CALL(regex_raw, REGEX_RAW)
FLAG_CALL(uncached, UNCACHED)
FLAG_CALL(eager_cache, EAGER_CACHE)
FLAG_CALL(ignore_no_cache, IGNORE_NO_CACHE)
FLAG_CALL(auto_flush_cache, AUTO_FLUSH_CACHE)

/* repeated requests */
U16_LIST_CALL(want, WANT)
BYTES_CALL(want_full_uri, WANT_FULL_URI)
BYTES_CALL(check, CHECK)
STR_CALL(check_header, CHECK_HEADER)
FLAG_CALL(previous, PREVIOUS)
BYTES_CALL(internal_redirect, INTERNAL_REDIRECT)
STR_CALL(like_host, LIKE_HOST)
BYTES_CALL(layout, LAYOUT)
FLAG_CALL(access_control_allow_all, ACCESS_CONTROL_ALLOW_ALL)
BYTES_CALL(chain, CHAIN)
FLAG_CALL(break_chain, BREAK_CHAIN)
FLAG_CALL(transparent_chain, TRANSPARENT_CHAIN)
BYTES_CALL(error_document, ERROR_DOCUMENT)

/* probing */
BYTES_CALL(file_not_found, FILE_NOT_FOUND)
BYTES_CALL(directory_index, DIRECTORY_INDEX)
FLAG_CALL(directory_index_slash, DIRECTORY_INDEX_SLASH)
BYTES_CALL(enotdir, ENOTDIR_)
FLAG_CALL(path_exists, PATH_EXISTS)
BYTES_CALL(probe_path_suffixes, PROBE_PATH_SUFFIXES)
STR_CALL(probe_suffix, PROBE_SUFFIX)
STR_CALL(test_path, TEST_PATH)
STR_CALL(expand_test_path, EXPAND_TEST_PATH)
STR_CALL(read_file, READ_FILE)
STR_CALL(expand_read_file, EXPAND_READ_FILE)

/* sessions and authentication */
BYTES_CALL(session, SESSION)
BYTES_CALL(realm_session, REALM_SESSION)
STR_CALL(realm, REALM)
FLAG_CALL(realm_from_auth_base, REALM_FROM_AUTH_BASE)
STR_CALL(user, USER)
STR_CALL(language, LANGUAGE)
FLAG_CALL(discard_session, DISCARD_SESSION)
FLAG_CALL(discard_realm_session, DISCARD_REALM_SESSION)
BYTES_CALL(attach_session, ATTACH_SESSION)
STR_CALL(session_site, SESSION_SITE)
FLAG_CALL(secure_cookie, SECURE_COOKIE)
STR_CALL(cookie_domain, COOKIE_DOMAIN)
STR_CALL(cookie_path, COOKIE_PATH)
STR_CALL(cookie_host, COOKIE_HOST)
STR_CALL(expand_cookie_host, EXPAND_COOKIE_HOST)
STR_CALL(recover_session, RECOVER_SESSION)
FLAG_CALL(require_csrf_token, REQUIRE_CSRF_TOKEN)
FLAG_CALL(send_csrf_token, SEND_CSRF_TOKEN)
BYTES_CALL(auth, AUTH)
STR_CALL(auth_file, AUTH_FILE)
STR_CALL(expand_auth_file, EXPAND_AUTH_FILE)
BYTES_CALL(append_auth, APPEND_AUTH)
STR_CALL(expand_append_auth, EXPAND_APPEND_AUTH)
BYTES_CALL(http_auth, HTTP_AUTH)
BYTES_CALL(token_auth, TOKEN_AUTH)

/* ---- the typed calls with a binary payload ---- */

int
tr_response_address(struct tr_response *r, const struct sockaddr *addr,
                    socklen_t len)
{
    if (r == NULL)
        return -ENOMEM;
    if (r->code == 0 && addr == NULL)
        return set_error(r, -EINVAL, "NULL socket address for ADDRESS");
    return emit(r, TP_CMD_ADDRESS, addr, len);
}

int
tr_response_uid_gid(struct tr_response *r, uid_t uid, gid_t gid,
                    const gid_t *groups, size_t n_groups)
{
    if (r == NULL)
        return -ENOMEM;
    if (r->code != 0)
        return r->code;
    if (n_groups > TP_MAX_GROUPS || (groups == NULL && n_groups > 0))
        return set_error(r, -EINVAL, "UID_GID with %zu supplementary "
                         "groups (limit %d)", n_groups, TP_MAX_GROUPS);
    uint8_t b[4 * (2 + TP_MAX_GROUPS)];
    uint32_t v = (uint32_t)uid;
    memcpy(b, &v, 4);
    v = (uint32_t)gid;
    memcpy(b + 4, &v, 4);
    for (size_t i = 0; i < n_groups; i++) {
        v = (uint32_t)groups[i];
        memcpy(b + 8 + 4 * i, &v, 4);
    }
    return emit(r, TP_CMD_UID_GID, b, 8 + 4 * n_groups);
}

int
tr_response_https_only(struct tr_response *r, unsigned port)
{
    if (r == NULL)
        return -ENOMEM;
    if (port == 0)
        return emit(r, TP_CMD_HTTPS_ONLY, NULL, 0);
    return emit_u16(r, TP_CMD_HTTPS_ONLY, port);
}

int
tr_response_allow_remote_network(struct tr_response *r,
                                 const struct sockaddr *addr, socklen_t len,
                                 unsigned prefix_len)
{
    if (r == NULL)
        return -ENOMEM;
    if (r->code != 0)
        return r->code;
    /* the prefix length byte first, then the sockaddr (spec §1.7.9) */
    uint8_t b[1 + sizeof(struct sockaddr_storage)];
    if (addr == NULL || len > sizeof(struct sockaddr_storage))
        return set_error(r, -EINVAL, "ALLOW_REMOTE_NETWORK needs an IPv4 "
                         "or IPv6 socket address");
    if (prefix_len > 255)
        return set_error(r, -EINVAL, "ALLOW_REMOTE_NETWORK prefix length "
                         "%u does not fit in a byte", prefix_len);
    b[0] = (uint8_t)prefix_len;
    memcpy(b + 1, addr, len);
    return emit(r, TP_CMD_ALLOW_REMOTE_NETWORK, b, 1 + (size_t)len);
}

static int
emit_bucket(struct tr_response *r, uint16_t command, float rate, float burst)
{
    if (r == NULL)
        return -ENOMEM;
    uint8_t b[2 * sizeof(float)];
    memcpy(b, &rate, sizeof(float));
    memcpy(b + sizeof(float), &burst, sizeof(float));
    return emit(r, command, b, sizeof(b));
}

int
tr_response_rate_limit_site_requests(struct tr_response *r, float rate,
                                     float burst)
{
    return emit_bucket(r, TP_CMD_RATE_LIMIT_SITE_REQUESTS, rate, burst);
}

int
tr_response_rate_limit_site_traffic(struct tr_response *r, float rate,
                                    float burst)
{
    return emit_bucket(r, TP_CMD_RATE_LIMIT_SITE_TRAFFIC, rate, burst);
}

static int
emit_forward(struct tr_response *r, uint16_t command,
             const struct tr_header_forward *v, size_t n)
{
    if (r == NULL)
        return -ENOMEM;
    if (r->code != 0)
        return r->code;
    const char *name = tp_command_name(command);
    /* every group at most once, plus ALL */
    uint8_t b[4 * (TP_HG_COUNT + 1)];
    if (n == 0 || n > TP_HG_COUNT + 1 || v == NULL)
        return set_error(r, -EINVAL, "%s needs 1 to %d entries", name,
                         TP_HG_COUNT + 1);
    for (size_t i = 0; i < n; i++) {
        if (v[i].group < TR_HEADER_GROUP_ALL || v[i].group >= TP_HG_COUNT)
            return set_error(r, -EINVAL, "%s: no header group %d", name,
                             v[i].group);
        if ((unsigned)v[i].mode > TP_HF_BOTH)
            return set_error(r, -EINVAL, "%s: no forward mode %d", name,
                             (int)v[i].mode);
        pr_store_u16(b + 4 * i, (uint16_t)(int16_t)v[i].group);
        b[4 * i + 2] = (uint8_t)v[i].mode;
        b[4 * i + 3] = 0;
    }
    return emit(r, command, b, 4 * n);
}

int
tr_response_request_header_forward(struct tr_response *r,
                                   const struct tr_header_forward *v,
                                   size_t n)
{
    return emit_forward(r, TP_CMD_REQUEST_HEADER_FORWARD, v, n);
}

int
tr_response_response_header_forward(struct tr_response *r,
                                    const struct tr_header_forward *v,
                                    size_t n)
{
    return emit_forward(r, TP_CMD_RESPONSE_HEADER_FORWARD, v, n);
}

int
tr_response_validate_mtime(struct tr_response *r, uint64_t mtime,
                           const char *path)
{
    if (r == NULL)
        return -ENOMEM;
    if (r->code != 0)
        return r->code;
    if (path == NULL)
        return set_error(r, -EINVAL, "NULL path for VALIDATE_MTIME");
    size_t plen = strlen(path);
    if (plen > TP_MAX_PAYLOAD - 8)
        return set_error(r, -EINVAL, "payload of %zu bytes over the limit "
                         "of %d (VALIDATE_MTIME)", plen + 8, TP_MAX_PAYLOAD);
    uint8_t *b = malloc(8 + plen);
    if (b == NULL)
        return set_error(r, -ENOMEM, "out of memory for VALIDATE_MTIME");
    memcpy(b, &mtime, 8);   /* host order */
    memcpy(b + 8, path, plen);
    int rc = emit(r, TP_CMD_VALIDATE_MTIME, b, 8 + plen);
    free(b);
    return rc;
}

int
tr_response_session_cookie_same_site(struct tr_response *r,
                                     enum tp_same_site value)
{
    if (r == NULL)
        return -ENOMEM;
    switch (value) {
    case TP_SAME_SITE_STRICT:
        return emit_str(r, TP_CMD_SESSION_COOKIE_SAME_SITE, "strict");
    case TP_SAME_SITE_LAX:
        return emit_str(r, TP_CMD_SESSION_COOKIE_SAME_SITE, "lax");
    case TP_SAME_SITE_NONE:
        return emit_str(r, TP_CMD_SESSION_COOKIE_SAME_SITE, "none");
    default:
        if (r->code != 0)
            return r->code;
        return set_error(r, -EINVAL, "SESSION_COOKIE_SAME_SITE must be "
                         "STRICT, LAX or NONE, not %d", (int)value);
    }
}
