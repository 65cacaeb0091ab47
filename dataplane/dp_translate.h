/*
 * dp_translate: the translation client (spec/protocols.md §1.1): a stock
 * of stream connections to one translation server, one request in flight
 * per connection.
 *
 * Promises:
 * - At most `limit` connections to the server (translate_stock_limit);
 *   requests beyond that wait in order of arrival for a free one.
 * - The whole request is written before anything is read.  Writing has
 *   `write_timeout_ms` (10 s in beng-proxy), the complete response after
 *   that `read_timeout_ms` (2 min).
 * - The callback runs exactly once per dp_translate() that returned an
 *   operation, never from inside dp_translate() itself, and never after
 *   dp_translate_cancel().  On success it gets the parsed, validated
 *   response (status 0), which it then owns (tp_response_free()).  On
 *   failure response is NULL, status is 502 (server not running, closed
 *   early, garbage, a response the parser refused) or 504 (a timeout), and
 *   msg names the server and the cause, ready for one log line.
 * - A connection goes back to the stock only after a complete response
 *   with nothing after END; an idle connection that becomes readable (data
 *   or EOF) is closed; any error closes the connection.  A request on a
 *   reused connection that fails before a single response byte arrived is
 *   retried once on a new connection (the server may close idle ones at
 *   any time).  So a restarted server is used again by the next request,
 *   without any state to reset.
 * - dp_translate_stock_free() closes every connection and fails nothing:
 *   the caller cancels its operations first.
 */
#ifndef PORTIER_DP_TRANSLATE_H
#define PORTIER_DP_TRANSLATE_H

#include "tp_request.h"
#include "tp_response.h"

#include <uv.h>

#include <stdint.h>

struct dp_translate_stock;
struct dp_translate_op;

struct dp_translate_options {
    unsigned limit;               /* 0 = 32 */
    uint64_t write_timeout_ms;    /* 0 = 10 s */
    uint64_t read_timeout_ms;     /* 0 = 120 s */
};

/**
 * callback: response is NULL on failure (then status is 502 or 504);
 * otherwise the caller owns it.  msg is valid during the call.
 */
typedef void (*dp_translate_cb)(void *ctx, struct tp_response *response,
                                int status, const char *msg);

/**
 * A stock for the server at `address`: "@abstract" or an absolute path
 * (spec §1.1: local sockets only).  Returns NULL with a message in err
 * for an address that is not one of those.
 */
struct dp_translate_stock *
dp_translate_stock_new(uv_loop_t *loop, const char *address,
                       const struct dp_translate_options *options,
                       char *err, size_t errlen);

void
dp_translate_stock_free(struct dp_translate_stock *stock);

/** The server address as given ("@translation"). */
const char *
dp_translate_stock_address(const struct dp_translate_stock *stock);

/**
 * Send `req` (marshalled now: the caller may free it on return) and read
 * the response with the TP_REQUEST_* `request_flags`.  Returns the
 * operation, or NULL when the request cannot be marshalled or memory
 * runs out (then msg_out, when not NULL, says why and cb never runs).
 */
struct dp_translate_op *
dp_translate(struct dp_translate_stock *stock, const struct tp_request *req,
             unsigned request_flags, dp_translate_cb cb, void *ctx,
             const char **msg_out);

/** Abandon an operation: the callback will not run; its connection, if
 *  it had one, is closed. */
void
dp_translate_cancel(struct dp_translate_op *op);

/** Statistics of one stock (for STATS). */
struct dp_translate_stats {
    uint64_t requests, failures, timeouts;
    unsigned connections, idle, waiting;
};

void
dp_translate_stock_stats(const struct dp_translate_stock *stock,
                         struct dp_translate_stats *out);

#endif
