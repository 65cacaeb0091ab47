/*
 * dp_fcgi_head: what the client gets for the CGI head a FastCGI
 * application wrote on STDOUT (spec/protocols.md §6.2; RFC 3875 §6).
 *
 * Promises:
 * - No I/O: the head (parsed by cgi_head) becomes a status, the body
 *   length and response headers; strings are copied into the headers'
 *   pool.
 * - The status is the head's (Status field, 302 for a client redirect,
 *   200 otherwise).  Every header the head passes on is kept in order,
 *   except Content-Length (the body's length frames the response), Date
 *   and Server (the server's own); hop-by-hop headers were dropped by
 *   cgi_head already.
 * - A local redirect (Location with a local path and no Status) is
 *   refused with a sentence naming the path: FastCGI responses do not
 *   restart the request in Portier yet.
 */
#ifndef PORTIER_DP_FCGI_HEAD_H
#define PORTIER_DP_FCGI_HEAD_H

#include "cgi_head.h"
#include "dp_http.h"

#include <stddef.h>
#include <stdint.h>

struct dp_fcgi_head {
    unsigned status;
    int64_t length;                   /* Content-Length, or -1 */
};

/**
 * Fill *out and append the headers to `headers`.  Returns 0; -EPROTO for
 * a local redirect or a header name over 127 bytes (msg says which);
 * -ENOMEM.
 */
int
dp_fcgi_head_response(const struct cgi_head *head,
                      struct dp_response_headers *headers,
                      struct dp_fcgi_head *out, char *msg, size_t msglen);

#endif
