/*
 * dp_fcgi_params: the PARAMS of a FastCGI request (spec/protocols.md
 * §6.2, §6.3 for REQUEST_URI, §1.13 for the forwarded request headers).
 *
 * Promises:
 * - Pure: no I/O, no clock, no global state.  Everything it returns
 *   lives in the pool it is given; the inputs are only borrowed during
 *   the call.
 * - The order is the spec's: REQUEST_METHOD, REQUEST_URI,
 *   SCRIPT_FILENAME, SCRIPT_NAME, PATH_INFO, QUERY_STRING, DOCUMENT_ROOT,
 *   SERVER_SOFTWARE, REMOTE_ADDR (only when known and the IDENTITY group
 *   is forwarded), HTTP_CONTENT_LENGTH and CONTENT_LENGTH (only when the
 *   body length is known; "0" without a body), CONTENT_TYPE (when the
 *   request has a body with one), HTTPS=on (when the SSL group is
 *   forwarded and X-CM4all-HTTPS is "on"), one HTTP_<NAME> per forwarded
 *   request header, then the translation's PAIR values.  Unset strings
 *   are sent empty.  GATEWAY_INTERFACE, SERVER_PROTOCOL,
 *   PATH_TRANSLATED, SERVER_NAME, SERVER_PORT and REMOTE_PORT are not
 *   sent (§6.2).
 * - The forwarded request headers are dp_forward's (§1.13 with the
 *   response's REQUEST_HEADER_FORWARD modes, exactly as for an HTTP
 *   backend), plus Host (the client's), then the REQUEST_HEADER packets;
 *   each becomes HTTP_<NAME>: upper-cased, every character that is not a
 *   letter or digit turned into '_'.  X-CM4all-HTTPS is not passed on
 *   (HTTPS=on says it).
 * - A PAIR without '=' is sent as a name with an empty value.
 */
#ifndef PORTIER_DP_FCGI_PARAMS_H
#define PORTIER_DP_FCGI_PARAMS_H

#include "dp_http.h"
#include "dp_pool.h"
#include "fcgi_codec.h"
#include "tp_response.h"

#include <stddef.h>
#include <stdint.h>

/** What the parameters are made of. */
struct dp_fcgi_params_input {
    const char *method;               /* "GET" */
    const char *path;                 /* request path, still encoded */
    const char *query;                /* after '?', or NULL */
    const struct dp_header *headers;
    size_t n_headers;
    bool has_body;
    int64_t content_length;           /* -1: unknown (chunked) */
    const char *remote_addr;          /* client IP without port, or NULL */
    const char *server_software;      /* SERVER_SOFTWARE */
    const struct tp_address *address; /* the FASTCGI address */
    const uint8_t *header_forward;    /* TP_HG_COUNT modes (§1.13) */
    const struct tp_header_list *request_headers; /* REQUEST_HEADER; may
                                                     be NULL */
    const char *local_host;           /* for Via (MANGLE); NULL: none */
    const char *session_cookie;       /* NULL: "beng_proxy_session" */
};

/** The parameters, in order. */
struct dp_fcgi_params {
    struct fcgi_pair *v;
    size_t n;
};

/**
 * Build the parameters into *out (arrays and strings from `pool`).
 * Returns 0, or -ENOMEM (then *out is unspecified).
 */
int
dp_fcgi_params_build(struct dp_pool *pool,
                     const struct dp_fcgi_params_input *in,
                     struct dp_fcgi_params *out);

#endif
