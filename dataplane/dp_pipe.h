/*
 * dp_pipe: PIPE filter programs in the transformation chain of a
 * translation response (spec/protocols.md §1.7.7, §1.9, §6.5;
 * docs/translation.md "PIPE filters").
 *
 * Promises:
 * - This is the minimal chain Portier has: FILTER slots whose address is
 *   PIPE or HTTP (dp_proxy_filter(): the response is POSTed to the
 *   filter, whose answer replaces it; 200 and 204 keep the status), after
 *   any resource the handler serves.  Other filter kinds (CGI, FastCGI,
 *   WAS filters, PROCESS) and FILTER_NO_BODY are refused by the handler
 *   before anything runs (dp_pipe_supported()).
 * - The response of the resource is held in dp_request_respond() (the
 *   dp_http response hook): when its status is 2xx (or 4xx with
 *   FILTER_4XX) and it has a body, the body is streamed through each
 *   program in order (stdin = the body so far, stdout = the filtered
 *   body; argv = PIPE path + APPEND, environment = PAIR/SETENV, child
 *   options as for every child).  Status and headers are kept, except:
 *   Content-Length goes (the length is unknown), Digest is dropped, and
 *   an ETag is rewritten to one derived from the old ETag, the program and
 *   its arguments.  Other responses pass unchanged.  The resource does
 *   not see Range and If-Range (a range of the unfiltered body is none of
 *   the filtered one): it answers 200, and the client gets the whole
 *   filtered body.
 * - Each stage asks the filter cache first (dp_filter_cache_begin(); on
 *   with filter_cache_size, docs/filter-cache.md): when the response
 *   entering it has an ETag and the store has the stage's result, the
 *   filter does not run; otherwise its result is teed into the store
 *   (dp_filter_cache_result()).
 * - Every stage streams with back-pressure; cgi_timeout applies to each
 *   program's output; a program that cannot start is 502 (the log says
 *   why); each child dies with the request.
 */
#ifndef PORTIER_DP_PIPE_H
#define PORTIER_DP_PIPE_H

#include "dp_http.h"
#include "tp_response.h"

#include <stdbool.h>

/** True when every FILTER of r is a PIPE (or there is none). */
bool
dp_pipe_supported(const struct tp_response *r);

/**
 * Install r's filter chain on req (r must outlive the request's
 * response head).  0, or -1 when out of memory.
 */
int
dp_pipe_install(struct dp_request *req, const struct tp_response *r);

/** Pure: the ETag a filter gives a response whose ETag was `etag`
 *  (quoted, maybe weak), for program `path` with `args`; in pool; NULL
 *  when out of memory. */
char *
dp_pipe_etag(struct dp_pool *pool, const char *etag, const char *path,
             const struct tp_expandable_list *args);

#endif
