/*
 * dp_conditional: entity-tags and conditional requests (RFC 9110 §8.8.3,
 * §13) for a representation that exists (a file).
 *
 * Promises:
 * - Pure: no I/O, no allocation, no clock (the caller passes `now`).
 *   Header values are borrowed (pointer + length, not NUL-terminated) and
 *   only read during the call.  A NULL value means "header absent"; a
 *   request that repeats a list header is expected to be joined with ", "
 *   by the caller (RFC 9110 §5.3), a repeated date header thereby becomes
 *   invalid and is ignored, as RFC 9110 asks.
 * - dp_conditional_evaluate() applies the precondition order of RFC 9110
 *   §13.2.2 steps 1-4: If-Match (strong comparison), else
 *   If-Unmodified-Since; If-None-Match (weak comparison), else
 *   If-Modified-Since (GET and HEAD only).  The outcome is one of 200
 *   (go on), 304 (GET/HEAD only) or 412.
 * - Invalid dates are ignored (RFC 9110 §13.1.3/§13.1.4), and so is an
 *   If-Modified-Since date later than `now` (RFC 2616 §14.25 called it
 *   invalid; ignoring it can only cost a full response, never a stale
 *   304).
 * - A malformed entity-tag list (anything outside `"*" / #entity-tag`,
 *   e.g. an unquoted tag or "*" inside a list) is all-or-nothing: it is
 *   kept as present but matches nothing.  So a malformed If-Match fails
 *   (412: never act under a precondition we cannot read) and a malformed
 *   If-None-Match lets the request go on (200: never a 304 on garbage);
 *   either way the date header it takes precedence over stays ignored.
 *   Empty list elements (", ,") are accepted as RFC 9110 §5.6.1 asks.
 * - dp_if_range_matches() is §13.1.5: an entity-tag must equal the
 *   current strong ETag; a date must equal Last-Modified exactly and be a
 *   strong validator, which we take to mean Last-Modified lies at least
 *   one second before `now`.  Anything else (a weak tag, garbage) is
 *   false, i.e. the Range is ignored and the full representation sent.
 */
#ifndef PORTIER_DP_CONDITIONAL_H
#define PORTIER_DP_CONDITIONAL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/** The request method, as far as conditional requests care. */
enum dp_method_class {
    DP_METHOD_GET = 1,
    DP_METHOD_HEAD,
    /** Any other method (a file handler answers those with 405 first). */
    DP_METHOD_OTHER,
};

/**
 * Classify a request method (case-sensitive, RFC 9110 §9.1): "GET",
 * "HEAD", anything else.  A file handler answers DP_METHOD_OTHER with 405
 * and `Allow: GET, HEAD` before looking at any precondition.
 */
enum dp_method_class
dp_method_classify(const char *method, size_t len);

/** The validators of the selected representation. */
struct dp_validators {
    /** The ETag field value exactly as sent (`"x"` or `W/"x"`), or NULL
     *  when the representation has none.  Must be a valid entity-tag. */
    const char *etag;
    size_t etag_len;
    /** Last-Modified as sent (already clamped to the Date), if any. */
    bool has_last_modified;
    time_t last_modified;
};

/** The conditional request headers; NULL data = header absent. */
struct dp_cond_headers {
    const char *if_match;
    size_t if_match_len;
    const char *if_none_match;
    size_t if_none_match_len;
    const char *if_modified_since;
    size_t if_modified_since_len;
    const char *if_unmodified_since;
    size_t if_unmodified_since_len;
};

/** Outcome of the preconditions: the status code to answer with. */
enum dp_cond_result {
    /** No precondition stops the request: go on (200 or 206). */
    DP_COND_PROCEED = 200,
    DP_COND_NOT_MODIFIED = 304,
    DP_COND_PRECONDITION_FAILED = 412,
};

/** How an entity-tag list header compares with the current ETag. */
enum dp_etag_list_result {
    /** The value is "*". */
    DP_ETAG_LIST_ANY = 1,
    /** A valid list and one of its tags matches. */
    DP_ETAG_LIST_MATCH,
    /** A valid list (possibly empty) and no tag matches. */
    DP_ETAG_LIST_NO_MATCH,
    /** The value is not `"*" / #entity-tag`. */
    DP_ETAG_LIST_MALFORMED,
};

/** The longest opaque-tag (between the quotes) we hand out or accept from
 *  a user.ETag attribute.  Request lists may hold longer tags. */
#define DP_ETAG_MAX 128

/**
 * Parse one entity-tag at the start of `s[0..len)`:
 * `[ "W/" ] DQUOTE *etagc DQUOTE`, etagc = %x21 / %x23-7E / %x80-FF.
 * Returns the number of bytes it spans (0 if `s` does not start with a
 * valid entity-tag); `*weak` says whether it had the W/ prefix, and
 * `*opaque`/`*opaque_len` give the characters between the quotes.
 */
size_t
dp_etag_scan(const char *s, size_t len, bool *weak, const char **opaque,
             size_t *opaque_len);

/**
 * Whether `s[0..len)` is exactly one valid entity-tag (no surrounding
 * whitespace).
 */
bool
dp_etag_valid(const char *s, size_t len);

/**
 * Compare entity-tags (RFC 9110 §8.8.3.2): strong comparison needs both
 * tags strong and equal opaque-tags, weak comparison only the latter.
 * Invalid tags never match.
 */
bool
dp_etag_equal(const char *a, size_t a_len, const char *b, size_t b_len,
              bool strong);

/**
 * Compare the header value `list[0..len)` (`"*" / #entity-tag`) with the
 * current ETag `etag[0..etag_len)` (NULL: none, then only "*" can give
 * ANY and every valid list NO_MATCH).
 */
enum dp_etag_list_result
dp_etag_list_match(const char *list, size_t len, const char *etag,
                   size_t etag_len, bool strong);

/**
 * Evaluate the preconditions of `h` for `method` against `v`, in the
 * order of RFC 9110 §13.2.2 (steps 1 to 4).  `now` is the server's clock
 * (the Date of the response).
 */
enum dp_cond_result
dp_conditional_evaluate(enum dp_method_class method,
                        const struct dp_cond_headers *h,
                        const struct dp_validators *v, time_t now);

/**
 * Evaluate an If-Range value (RFC 9110 §13.1.5): true means "serve the
 * Range", false "ignore the Range, send 200 with everything".
 */
bool
dp_if_range_matches(const char *value, size_t len,
                    const struct dp_validators *v, time_t now);

/**
 * Step 5 of RFC 9110 §13.2.2: whether the Range header is to be
 * processed at all.  True iff the method is GET, a Range header is
 * present, and If-Range is absent (NULL) or matches.  HEAD and other
 * methods never get 206 (RFC 9110 §14.2: range handling is defined for
 * GET only).
 */
bool
dp_range_wanted(enum dp_method_class method, bool has_range,
                const char *if_range, size_t if_range_len,
                const struct dp_validators *v, time_t now);

#endif
