/*
 * dp_cgi_vars: the CGI/1.1 meta-variables that the CGI environment
 * (dp_cgi) and the FastCGI PARAMS (dp_fcgi_params) build the same way
 * (spec/protocols.md §6.2, §6.3).
 *
 * Promises:
 * - Pure: no I/O, no global state; the results live in the pool given,
 *   the inputs are only borrowed during the call.  NULL means out of
 *   memory.
 * - dp_cgi_http_var(): "HTTP_" + the header name upper-cased, every
 *   byte that is not an ASCII letter or digit turned into '_'.
 * - dp_cgi_request_uri(): REQUEST_URI (§6.3): SCRIPT_NAME + PATH_INFO
 *   when the address has a SCRIPT_NAME and no REQUEST_URI_VERBATIM, else
 *   the client's path without ";args" (dp_uri_dissect()); then "?" and
 *   the query when there is one (also an empty one).
 */
#ifndef PORTIER_DP_CGI_VARS_H
#define PORTIER_DP_CGI_VARS_H

#include "dp_pool.h"
#include "tp_response.h"

char *
dp_cgi_http_var(struct dp_pool *pool, const char *name);

/** path: the request path, still encoded; query: after '?', or NULL. */
char *
dp_cgi_request_uri(struct dp_pool *pool, const struct tp_address *a,
                   const char *path, const char *query);

#endif
