/*
 * dp_file_meta: the response metadata of a static file — ETag,
 * Last-Modified, Content-Type, max-age — from its struct stat and the
 * extended attributes beng-proxy defines (user.Content-Type, user.ETag,
 * user.MaxAge; beng-proxy manual, "Static files").
 *
 * Promises:
 * - Everything but dp_file_xattrs_read() is pure (no I/O, no clock, no
 *   allocation).  dp_file_xattrs_read() only calls fgetxattr() on the fd
 *   it is given, with fixed-size buffers.
 * - Attribute values are validated, and an invalid one is ignored as if
 *   it were absent (no error, no partial use):
 *   user.ETag: either a complete entity-tag (`"x"` or `W/"x"`), sent as
 *   is, or bare etagc characters (`x`, what beng-proxy stores), sent
 *   quoted as `"x"`; at most DP_ETAG_MAX characters inside the quotes;
 *   user.Content-Type: a media type (type "/" subtype *( ";" parameter ))
 *   per RFC 9110 §8.3.1, at most DP_CONTENT_TYPE_MAX bytes;
 *   user.MaxAge: 1*DIGIT seconds, 0 meaning "none" (as in beng-proxy),
 *   values above one year (31536000) clamped to one year.
 *   No trimming: a trailing NUL, newline or space makes a value invalid.
 * - Without a user.ETag the ETag is strong and made from the stat:
 *   `"DEV-INO-SIZE-MTIMESEC-MTIMENSEC"`, each field lowercase hex without
 *   leading zeros (st_dev, st_ino, st_size, st_mtim as unsigned 64-bit).
 *   The format is stable; it changes when the file is replaced (new
 *   inode), rewritten (mtime, nanoseconds) or truncated (size).
 * - Last-Modified is the mtime in whole seconds, but never later than
 *   `now` (RFC 9110 §8.8.2.1); a date IMF-fixdate cannot express (years
 *   outside 0000-9999) means no Last-Modified.
 * - Content-Type precedence: the translation's CONTENT_TYPE, then
 *   user.Content-Type, then "application/octet-stream" (beng-proxy's
 *   order).  A CONTENT_TYPE with control characters is not used.
 * - A dp_file_meta borrows the content type from the translation string
 *   or the dp_file_xattrs it was built from; both must outlive it.
 */
#ifndef PORTIER_DP_FILE_META_H
#define PORTIER_DP_FILE_META_H

#include "dp_conditional.h"
#include "dp_http_date.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

/** Longest accepted user.Content-Type value. */
#define DP_CONTENT_TYPE_MAX 255
/** user.MaxAge is clamped to this (one year, as beng-proxy does). */
#define DP_MAX_AGE_LIMIT 31536000u
/** Longest user.MaxAge value read (digits). */
#define DP_MAX_AGE_TEXT_MAX 31
/** Room for an ETag field value with its NUL: W/ + quotes + opaque. */
#define DP_ETAG_SIZE (2 + 2 + DP_ETAG_MAX + 1)
/** The default Content-Type. */
#define DP_DEFAULT_CONTENT_TYPE "application/octet-stream"
/** The Allow value of a 405 from the file handler. */
#define DP_FILE_ALLOW "GET, HEAD"

/** What the extended attributes of a file say (only valid values). */
struct dp_file_xattrs {
    bool has_content_type;
    size_t content_type_len;
    char content_type[DP_CONTENT_TYPE_MAX + 1];

    /** The ETag field value to send (quoted, maybe W/), NUL-terminated. */
    bool has_etag;
    size_t etag_len;
    char etag[DP_ETAG_SIZE];

    bool has_max_age;
    uint32_t max_age;
};

/** The response metadata of one file. */
struct dp_file_meta {
    /** The ETag field value, NUL-terminated; strong unless user.ETag
     *  said W/. */
    size_t etag_len;
    char etag[DP_ETAG_SIZE];
    bool etag_weak;

    bool has_last_modified;
    time_t last_modified;
    char last_modified_text[DP_HTTP_DATE_SIZE];

    /** Borrowed, not NUL-terminated. */
    const char *content_type;
    size_t content_type_len;

    bool has_max_age;
    uint32_t max_age;

    uint64_t size;
};

/**
 * Validate a raw user.ETag value; on success write the field value to
 * send (NUL-terminated) into `out` (DP_ETAG_SIZE bytes), its length into
 * `*out_len` and return 0.  Returns -1 if the value is not usable.
 */
int
dp_xattr_etag(const char *raw, size_t len, char out[DP_ETAG_SIZE],
              size_t *out_len);

/**
 * Whether `s[0..len)` is a media type with optional parameters
 * (RFC 9110 §8.3.1), e.g. "text/html; charset=utf-8".
 */
bool
dp_media_type_valid(const char *s, size_t len);

/**
 * Parse a raw user.MaxAge value (1*DIGIT); returns 0 and the clamped
 * number of seconds (> 0), or -1 if invalid or zero.
 */
int
dp_xattr_max_age(const char *raw, size_t len, uint32_t *out);

/**
 * Read user.Content-Type, user.ETag and user.MaxAge from the open file
 * `fd` (a real descriptor: fgetxattr() refuses O_PATH ones) into `*x`.
 * Missing, oversized or invalid attributes leave their has_ flag false.
 * Returns 0, or -errno for an error other than "no such attribute" /
 * "attributes not supported" / "value too large" (e.g. EBADF); `*x` is
 * usable in every case.
 */
int
dp_file_xattrs_read(int fd, struct dp_file_xattrs *x);

/**
 * Build the metadata of the file described by `st`, with the attributes
 * `x` (NULL: none) and the translation's CONTENT_TYPE
 * `content_type[0..content_type_len)` (NULL: none); `now` is the Date of
 * the response.
 */
void
dp_file_meta_build(struct dp_file_meta *m, const struct stat *st,
                   const struct dp_file_xattrs *x, const char *content_type,
                   size_t content_type_len, time_t now);

/**
 * Set only the Content-Type of `m` as dp_file_meta_build() chooses it
 * (the translation's `content_type`, then x's, then the default), so
 * that metadata built once per file serves requests with different
 * translations.
 */
void
dp_file_meta_set_content_type(struct dp_file_meta *m,
                              const struct dp_file_xattrs *x,
                              const char *content_type,
                              size_t content_type_len);

/** The validators of `m`, for dp_conditional (borrowing m's ETag). */
void
dp_file_meta_validators(const struct dp_file_meta *m,
                        struct dp_validators *v);

/** Enough for "max-age=4294967295" and the NUL. */
#define DP_CACHE_CONTROL_SIZE 24

/**
 * Write the Cache-Control value "max-age=N" for `m`; returns its length,
 * or -1 when `m` has no max-age or the buffer is too small.
 */
int
dp_file_meta_cache_control(const struct dp_file_meta *m, char *buf,
                           size_t cap);

/**
 * Write the Expires value now + seconds as IMF-fixdate (for user.MaxAge
 * and the translation's EXPIRES_RELATIVE); returns 0 or -1 if the date
 * cannot be expressed.
 */
int
dp_expires_format(time_t now, uint32_t seconds,
                  char out[DP_HTTP_DATE_SIZE]);

#endif
