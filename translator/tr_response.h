/*
 * tr_response: build a translation RESPONSE (spec/protocols.md §1) with
 * one typed call per packet a Portier data plane accepts.
 *
 * Promises:
 * - A response always starts with BEGIN carrying protocol version 3 and,
 *   once tr_response_finish() succeeded, ends with END.  The bytes are
 *   one contiguous buffer in host byte order, ready to be written.
 * - Every packet is checked as it is added, by feeding it to the data
 *   plane's own response parser (protocol/tp_response): whatever the
 *   builder accepts, a data plane accepts, and a combination the parser
 *   refuses ("REGEX without BASE", "misplaced GZIPPED packet: not valid
 *   for a CGI address", "duplicate CONTENT_TYPE packet") is refused at
 *   the call that adds the offending packet.  Checks that need the end of
 *   the response ("no ADDRESS for HTTP address", "missing LHTTP_URI")
 *   fail tr_response_finish().
 * - The first error sticks: the call that caused it and every later call
 *   return the same negative errno and add nothing; tr_response_error()
 *   names the cause.  The refused packet's bytes are not kept.
 * - Calls return 0, -EINVAL (a value the protocol cannot carry, or a
 *   packet the parser refuses) or -ENOMEM.
 * - Packets go out in call order.  Order matters in the protocol: an
 *   address packet (PATH, HTTP, CGI, ...) comes before its modifiers,
 *   FILTER opens a new slot for the address that follows it, BASE comes
 *   before REGEX, REGEX before any EXPAND_ packet, and after LAYOUT every
 *   URI, BASE and REGEX is a layout item.
 * - A struct tr_response is owned by its creator until it is handed to
 *   tr_request_ctx_reply() (tr_server.h), which takes it over, or freed
 *   with tr_response_free().  Not thread-safe; one response per thread.
 *
 * A NULL response (what tr_response_new() returns when out of memory) is
 * accepted everywhere: every call returns -ENOMEM and
 * tr_request_ctx_reply() reports it, so a program may build first and
 * check once.
 *
 * String arguments are NUL-terminated C strings (so they carry no NUL
 * byte, as the protocol requires); a NULL string is refused.  Opaque
 * packets take (data, len); data may be NULL only when len is 0.
 */
#ifndef PORTIER_TR_RESPONSE_H
#define PORTIER_TR_RESPONSE_H

#include "tp_request.h"
#include "tp_response.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

/** The protocol version every response announces in BEGIN. */
#define TR_RESPONSE_VERSION 3

struct tr_response;

/* ---- lifetime ---- */

/**
 * A new response for an ordinary request, holding BEGIN (version 3).
 * NULL when out of memory.
 */
struct tr_response *
tr_response_new(void);

/**
 * A new response answering `request` (NULL: an ordinary request).  The
 * request decides a few parser rules: the answer to a
 * CONTENT_TYPE_LOOKUP request may carry CONTENT_TYPE, AUTO_GZIPPED and
 * AUTO_BROTLI_PATH without an address; BREAK_CHAIN is only valid in the
 * answer to a CHAIN request; a request that carried WANT (or
 * WANT_FULL_URI) must not be answered with another one.  The request is
 * only read during this call.  NULL when out of memory.
 */
struct tr_response *
tr_response_new_for(const struct tp_request *request);

/** Release the response and its bytes.  NULL is accepted. */
void
tr_response_free(struct tr_response *r);

/**
 * Add END and run the checks that need the whole response.  Returns 0
 * (the response is complete; calling again returns 0 and adds nothing)
 * or the sticky error.
 */
int
tr_response_finish(struct tr_response *r);

/**
 * The bytes so far (after a successful tr_response_finish(): the whole
 * response, BEGIN to END).  Stores the length in *len.  The pointer is
 * valid until the next call that adds a packet, or tr_response_free().
 */
const uint8_t *
tr_response_data(const struct tr_response *r, size_t *len);

/** 0, or the sticky error (-EINVAL or -ENOMEM). */
int
tr_response_error_code(const struct tr_response *r);

/** The sticky error's message ("" when there is none). */
const char *
tr_response_error(const struct tr_response *r);

/**
 * The response as the data plane's parser read it, once
 * tr_response_finish() succeeded; NULL before that or after an error.
 * Owned by `r`.
 */
const struct tp_response *
tr_response_parsed(const struct tr_response *r);

/**
 * The escape hatch: add any packet with a raw payload (len at most
 * 65535).  It is checked like every other packet, so packets a data plane
 * refuses (request-only, removed, unsupported) are refused here too; the
 * ignored ones (TIMEOUT, ...) pass.  BEGIN and END are refused: the
 * builder writes them.
 */
int
tr_response_packet(struct tr_response *r, uint16_t command, const void *data,
                   size_t len);

/* ---- resource addresses (§1.7): one per slot ---- */

/** PATH: a static file (absolute path).  After NFS_SERVER and NFS_EXPORT
 *  it is the path inside the export. */
int tr_response_path(struct tr_response *r, const char *path);
/** NFS_SERVER, then NFS_EXPORT (absolute), then PATH: a file on NFS. */
int tr_response_nfs_server(struct tr_response *r, const char *server);
int tr_response_nfs_export(struct tr_response *r, const char *export_path);
/** HTTP: "http://host[:port]/path", "https://..." or "unix:/path"; at
 *  least one ADDRESS or ADDRESS_STRING must follow. */
int tr_response_http(struct tr_response *r, const char *url);
/** CGI, FASTCGI, WAS, LHTTP_PATH: the program (absolute path). */
int tr_response_cgi(struct tr_response *r, const char *program);
int tr_response_fastcgi(struct tr_response *r, const char *program);
int tr_response_was(struct tr_response *r, const char *program);
int tr_response_lhttp_path(struct tr_response *r, const char *program);
/** PIPE: a filter program (only after FILTER). */
int tr_response_pipe(struct tr_response *r, const char *program);
/** FILTER: the next address is a filter for the response. */
int tr_response_filter(struct tr_response *r);

/* Address lists of HTTP, FASTCGI and WAS. */

/** ADDRESS: an AF_INET, AF_INET6 or AF_LOCAL socket address. */
int tr_response_address(struct tr_response *r, const struct sockaddr *addr,
                        socklen_t len);
/** ADDRESS_STRING: "ip[:port]", "[ipv6]:port", "/path" or "@abstract". */
int tr_response_address_string(struct tr_response *r, const char *address);
/** STICKY: session-sticky choice among the addresses. */
int tr_response_sticky(struct tr_response *r);

/* ---- modifiers of the current address ---- */

/* Files (PATH, NFS). */
int tr_response_content_type(struct tr_response *r, const char *type);
int tr_response_content_type_lookup(struct tr_response *r, const void *data,
                                    size_t len);
int tr_response_gzipped(struct tr_response *r, const char *path);
int tr_response_auto_gzipped(struct tr_response *r);
int tr_response_auto_brotli_path(struct tr_response *r);
int tr_response_beneath(struct tr_response *r, const char *path);
int tr_response_append_path(struct tr_response *r, const char *suffix);
/** EXPAND_PATH: files, HTTP, CGI-like and PIPE; needs REGEX. */
int tr_response_expand_path(struct tr_response *r, const char *tmpl);

/* HTTP. */
int tr_response_http2(struct tr_response *r);
int tr_response_certificate(struct tr_response *r, const char *name);

/* CGI, FASTCGI, WAS. */
int tr_response_path_info(struct tr_response *r, const char *path_info);
int tr_response_expand_path_info(struct tr_response *r, const char *tmpl);
int tr_response_script_name(struct tr_response *r, const char *name);
int tr_response_expand_script_name(struct tr_response *r, const char *tmpl);
/** DOCUMENT_ROOT: for the current CGI-like address, or (before one) the
 *  default of every later one. */
int tr_response_document_root(struct tr_response *r, const char *path);
int tr_response_expand_document_root(struct tr_response *r,
                                     const char *tmpl);
int tr_response_interpreter(struct tr_response *r, const char *program);
int tr_response_action(struct tr_response *r, const char *program);
int tr_response_request_uri_verbatim(struct tr_response *r);
int tr_response_auto_base(struct tr_response *r);

/* Arguments, parameters and environment of spawned children. */
int tr_response_append(struct tr_response *r, const char *arg);
int tr_response_expand_append(struct tr_response *r, const char *tmpl);
/** PAIR "name=value": a FastCGI/WAS parameter, or an environment
 *  variable for CGI, LHTTP and PIPE.  name must be non-empty and must not
 *  contain '='. */
int tr_response_pair(struct tr_response *r, const char *name,
                     const char *value);
int tr_response_expand_pair(struct tr_response *r, const char *name,
                            const char *tmpl);
/** SETENV "name=value": an environment variable of the child. */
int tr_response_setenv(struct tr_response *r, const char *name,
                       const char *value);
int tr_response_expand_setenv(struct tr_response *r, const char *name,
                              const char *tmpl);

/* Server processes (FASTCGI, WAS, LHTTP). */
int tr_response_concurrency(struct tr_response *r, unsigned n);
int tr_response_parallelism(struct tr_response *r, unsigned n);
int tr_response_disposable(struct tr_response *r);
int tr_response_instant_fade(struct tr_response *r);
int tr_response_process_name(struct tr_response *r, const char *name);

/* LHTTP. */
int tr_response_lhttp_uri(struct tr_response *r, const char *uri);
int tr_response_expand_lhttp_uri(struct tr_response *r, const char *tmpl);
int tr_response_lhttp_host(struct tr_response *r, const char *host);
int tr_response_non_blocking(struct tr_response *r);

/* Child-process options (§1.8), for the current CGI, FASTCGI, WAS, LHTTP
 * or PIPE child. */
int tr_response_child_tag(struct tr_response *r, const char *tag);
int tr_response_stderr_path(struct tr_response *r, const char *path);
int tr_response_expand_stderr_path(struct tr_response *r, const char *tmpl);
int tr_response_stderr_null(struct tr_response *r);
int tr_response_chdir(struct tr_response *r, const char *path);
/** UID_GID: uid, gid and up to 32 supplementary groups. */
int tr_response_uid_gid(struct tr_response *r, uid_t uid, gid_t gid,
                        const gid_t *groups, size_t n_groups);
/** UMASK: at most 0777. */
int tr_response_umask(struct tr_response *r, unsigned mode);
/** RLIMITS: the letter syntax, e.g. "c!Sv1000000". */
int tr_response_rlimits(struct tr_response *r, const char *limits);
int tr_response_no_new_privs(struct tr_response *r);
/** SIGKILL_ */
int tr_response_sigkill(struct tr_response *r);

/* Filters (after FILTER and its address). */
int tr_response_filter_4xx(struct tr_response *r);
int tr_response_filter_no_body(struct tr_response *r);
int tr_response_reveal_user(struct tr_response *r);
int tr_response_transparent(struct tr_response *r);
/** CACHE_TAG: before any address a translation-cache tag (repeatable);
 *  after an address or FILTER the tag of its cache item. */
int tr_response_cache_tag(struct tr_response *r, const char *tag);

/* ---- policy packets ---- */

/* Generated responses (§1.7.9). */
/** STATUS: an HTTP status the data plane knows (100..599). */
int tr_response_status(struct tr_response *r, unsigned status);
int tr_response_redirect(struct tr_response *r, const char *location);
int tr_response_expand_redirect(struct tr_response *r, const char *tmpl);
int tr_response_redirect_query_string(struct tr_response *r);
int tr_response_redirect_full_uri(struct tr_response *r);
int tr_response_bounce(struct tr_response *r, const char *url);
/** MESSAGE: a text/plain body, printable US-ASCII, at most 1024 bytes. */
int tr_response_message(struct tr_response *r, const char *text);
int tr_response_tiny_image(struct tr_response *r);

/* Access. */
/** HTTPS_ONLY: redirect plain HTTP to this port (0: 443, sent empty). */
int tr_response_https_only(struct tr_response *r, unsigned port);
/** ALLOW_REMOTE_NETWORK: an AF_INET/AF_INET6 network, host bits zero. */
int tr_response_allow_remote_network(struct tr_response *r,
                                     const struct sockaddr *addr,
                                     socklen_t len, unsigned prefix_len);
int tr_response_no_query_string(struct tr_response *r);
int tr_response_discard_query_string(struct tr_response *r);
/** RATE_LIMIT_SITE_*: token bucket (both > 0); needs SITE. */
int tr_response_rate_limit_site_requests(struct tr_response *r, float rate,
                                         float burst);
int tr_response_rate_limit_site_traffic(struct tr_response *r, float rate,
                                        float burst);

/* Headers. */
/** HEADER "name:value": an extra response header. */
int tr_response_header(struct tr_response *r, const char *name,
                       const char *value);
int tr_response_expand_header(struct tr_response *r, const char *name,
                              const char *tmpl);
/** REQUEST_HEADER: an extra or overriding header to the backend. */
int tr_response_request_header(struct tr_response *r, const char *name,
                               const char *value);
int tr_response_expand_request_header(struct tr_response *r,
                                      const char *name, const char *tmpl);

/** The group value that sets every group but SECURE, SSL and AUTH. */
#define TR_HEADER_GROUP_ALL (-1)

/** One entry of REQUEST_/RESPONSE_HEADER_FORWARD (§1.13). */
struct tr_header_forward {
    int group;                        /* enum tp_header_group, or
                                         TR_HEADER_GROUP_ALL */
    enum tp_header_forward_mode mode;
};

int tr_response_request_header_forward(struct tr_response *r,
                                       const struct tr_header_forward *v,
                                       size_t n);
int tr_response_response_header_forward(struct tr_response *r,
                                        const struct tr_header_forward *v,
                                        size_t n);
int tr_response_www_authenticate(struct tr_response *r, const char *value);
int tr_response_authentication_info(struct tr_response *r,
                                    const char *value);

/* Request metadata, logging and statistics. */
int tr_response_scheme(struct tr_response *r, const char *scheme);
int tr_response_host(struct tr_response *r, const char *host);
int tr_response_site(struct tr_response *r, const char *site);
int tr_response_expand_site(struct tr_response *r, const char *tmpl);
/** URI: an absolute URI path; after LAYOUT a layout item (exact match). */
int tr_response_uri(struct tr_response *r, const char *uri);
int tr_response_expand_uri(struct tr_response *r, const char *tmpl);
/** GENERATOR: a name of [A-Za-z0-9_-]. */
int tr_response_generator(struct tr_response *r, const char *name);
int tr_response_analytics_id(struct tr_response *r, const char *id);
int tr_response_stats_tag(struct tr_response *r, const char *tag);
int tr_response_listener_tag(struct tr_response *r, const char *tag);
/** EXPIRES_RELATIVE(_WITH_QUERY): the Expires of the resource, seconds. */
int tr_response_expires_relative(struct tr_response *r, uint32_t seconds);
int tr_response_expires_relative_with_query(struct tr_response *r,
                                            uint32_t seconds);
/** DEFER: ask the next translation server. */
int tr_response_defer(struct tr_response *r);

/* Translation cache (§1.11, §1.14, §1.15). */
/** MAX_AGE: seconds; after USER the user's validity. */
int tr_response_max_age(struct tr_response *r, uint32_t seconds);
/** VARY, INVALIDATE: 1 to 16 request command numbers. */
int tr_response_vary(struct tr_response *r, const uint16_t *commands,
                     size_t n);
int tr_response_invalidate(struct tr_response *r, const uint16_t *commands,
                           size_t n);
/** BASE: an absolute URI path ending in '/'; after LAYOUT a layout item
 *  (prefix match). */
int tr_response_base(struct tr_response *r, const char *base);
int tr_response_easy_base(struct tr_response *r);
int tr_response_unsafe_base(struct tr_response *r);
/** REGEX: needs BASE; after LAYOUT a layout item. */
int tr_response_regex(struct tr_response *r, const char *regex);
int tr_response_inverse_regex(struct tr_response *r, const char *regex);
int tr_response_regex_tail(struct tr_response *r);
int tr_response_regex_unescape(struct tr_response *r);
int tr_response_inverse_regex_unescape(struct tr_response *r);
int tr_response_regex_on_host_uri(struct tr_response *r);
int tr_response_regex_on_user_uri(struct tr_response *r);
int tr_response_regex_raw(struct tr_response *r);
/** VALIDATE_MTIME: the cached answer holds while `path` has this mtime
 *  (seconds; 0: while it does not exist). */
int tr_response_validate_mtime(struct tr_response *r, uint64_t mtime,
                               const char *path);
int tr_response_uncached(struct tr_response *r);
int tr_response_eager_cache(struct tr_response *r);
int tr_response_ignore_no_cache(struct tr_response *r);
int tr_response_auto_flush_cache(struct tr_response *r);

/* Repeated requests (§1.5.2), chains and error documents. */
/** WANT: request packets the data plane shall add to a repeated request. */
int tr_response_want(struct tr_response *r, const uint16_t *commands,
                     size_t n);
int tr_response_want_full_uri(struct tr_response *r, const void *data,
                              size_t len);
int tr_response_check(struct tr_response *r, const void *data, size_t len);
/** CHECK_HEADER: a lower-case header name; needs CHECK. */
int tr_response_check_header(struct tr_response *r, const char *name);
int tr_response_previous(struct tr_response *r);
/** INTERNAL_REDIRECT: needs URI (or EXPAND_URI) in the response. */
int tr_response_internal_redirect(struct tr_response *r, const void *data,
                                  size_t len);
int tr_response_like_host(struct tr_response *r, const char *host);
/** LAYOUT: at least one layout item (URI, BASE, REGEX) must follow. */
int tr_response_layout(struct tr_response *r, const void *data, size_t len);
/** ACCESS_CONTROL_ALLOW_ALL: for the layout item before it. */
int tr_response_access_control_allow_all(struct tr_response *r);
int tr_response_chain(struct tr_response *r, const void *data, size_t len);
/** BREAK_CHAIN: only in the answer to a CHAIN request. */
int tr_response_break_chain(struct tr_response *r);
int tr_response_transparent_chain(struct tr_response *r);
int tr_response_error_document(struct tr_response *r, const void *data,
                               size_t len);

/* File-system probing (§1.10). */
int tr_response_file_not_found(struct tr_response *r, const void *data,
                               size_t len);
int tr_response_directory_index(struct tr_response *r, const void *data,
                                 size_t len);
int tr_response_directory_index_slash(struct tr_response *r);
/** ENOTDIR_ */
int tr_response_enotdir(struct tr_response *r, const void *data, size_t len);
int tr_response_path_exists(struct tr_response *r);
/** PROBE_PATH_SUFFIXES (needs TEST_PATH), then 1..16 PROBE_SUFFIX. */
int tr_response_probe_path_suffixes(struct tr_response *r, const void *data,
                                    size_t len);
int tr_response_probe_suffix(struct tr_response *r, const char *suffix);
int tr_response_test_path(struct tr_response *r, const char *path);
int tr_response_expand_test_path(struct tr_response *r, const char *tmpl);
int tr_response_read_file(struct tr_response *r, const char *path);
int tr_response_expand_read_file(struct tr_response *r, const char *tmpl);

/* Sessions and authentication (§1.12). */
int tr_response_session(struct tr_response *r, const void *data, size_t len);
int tr_response_realm_session(struct tr_response *r, const void *data,
                              size_t len);
/** REALM: only "" is accepted by the data plane. */
int tr_response_realm(struct tr_response *r, const char *realm);
int tr_response_realm_from_auth_base(struct tr_response *r);
/** USER: the authenticated user ("" logs out). */
int tr_response_user(struct tr_response *r, const char *user);
int tr_response_language(struct tr_response *r, const char *language);
int tr_response_discard_session(struct tr_response *r);
int tr_response_discard_realm_session(struct tr_response *r);
int tr_response_attach_session(struct tr_response *r, const void *data,
                               size_t len);
int tr_response_session_site(struct tr_response *r, const char *site);
int tr_response_secure_cookie(struct tr_response *r);
int tr_response_cookie_domain(struct tr_response *r, const char *domain);
int tr_response_cookie_path(struct tr_response *r, const char *path);
int tr_response_cookie_host(struct tr_response *r, const char *host);
int tr_response_expand_cookie_host(struct tr_response *r, const char *tmpl);
/** SESSION_COOKIE_SAME_SITE: STRICT, LAX or NONE. */
int tr_response_session_cookie_same_site(struct tr_response *r,
                                         enum tp_same_site value);
int tr_response_recover_session(struct tr_response *r, const char *token);
int tr_response_require_csrf_token(struct tr_response *r);
int tr_response_send_csrf_token(struct tr_response *r);
int tr_response_auth(struct tr_response *r, const void *data, size_t len);
int tr_response_auth_file(struct tr_response *r, const char *path);
int tr_response_expand_auth_file(struct tr_response *r, const char *tmpl);
int tr_response_append_auth(struct tr_response *r, const void *data,
                            size_t len);
int tr_response_expand_append_auth(struct tr_response *r, const char *tmpl);
int tr_response_http_auth(struct tr_response *r, const void *data,
                          size_t len);
int tr_response_token_auth(struct tr_response *r, const void *data,
                           size_t len);

#endif
