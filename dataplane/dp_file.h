/*
 * dp_file: the LOCAL resource (PATH): serving a regular file.
 *
 * Promises:
 * - Only a regular file is served.  A directory, a device, a missing file
 *   or one that cannot be opened is 404 (403 for EACCES), never a
 *   listing.  The path is the translation server's (after the cache
 *   appended a BASE tail that dp_uri and dp_tcache checked for dot
 *   segments).  With BENEATH the path must resolve below that directory,
 *   symbolic links included (openat2 RESOLVE_BENEATH); an escape is 404
 *   with a log line.  Without BENEATH symbolic links are followed as the
 *   file system resolves them, as in nginx.
 * - GET and HEAD only; any other method is 405 with Allow: GET, HEAD.
 * - Validators and metadata (ETag, Last-Modified, Content-Type,
 *   Cache-Control from user.MaxAge) from dp_file_meta; preconditions and
 *   ranges from dp_conditional and dp_range (RFC 9110 §13, §14): 304,
 *   412, 206 (one range, or several as multipart/byteranges) and 416.
 * - The body of a whole file or one range is a file body (sendfile); a
 *   multipart body is read with pread().
 * - dp_file_answer() is that decision (validators, preconditions, ranges,
 *   headers, body) for a file found anywhere: LOCAL passes its fstat() and
 *   descriptor, NFS (dp_nfs) a struct stat filled from the NFS attributes
 *   and a body factory of its own, so both answer alike.
 */
#ifndef PORTIER_DP_FILE_H
#define PORTIER_DP_FILE_H

#include "dp_file_meta.h"
#include "dp_http.h"
#include "tp_response.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

/**
 * Serve `address` (type LOCAL) for `req`.  `status` overrides 200 when
 * not 0 (STATUS with PATH); `headers` already hold the translation's
 * response headers.
 */
void
dp_file_serve(struct dp_request *req, const struct tp_address *address,
              unsigned status, struct dp_response_headers *headers);

/** A regular file found and ready to be answered. */
struct dp_file_found {
    const struct stat *st;            /* st_dev, st_ino, st_size, st_mtim */
    const struct dp_file_xattrs *xattrs;  /* NULL: none */
    /** Metadata built before from st and xattrs with no content type
     *  (dp_fcache_file.meta), or NULL: built per request. */
    const struct dp_file_meta *meta;
    const char *content_type;         /* the translation's, or NULL */
    const char *encoding;             /* "gzip"/"br" variant, or NULL */
    const char *path;                 /* for messages */
    /** A descriptor for pread() (the parts of multipart/byteranges), or
     *  -1: then the parts come from body() too. */
    int fd;
    /** The body of [offset, offset+length); NULL when out of memory.
     *  Called once, or once per part of a multipart answer when fd is -1
     *  (each body ends or is closed before the next is made), any time
     *  while the request lives: what it uses must live in req->pool. */
    struct dp_body *(*body)(const struct dp_file_found *f,
                            struct dp_request *req, uint64_t offset,
                            uint64_t length);
    const void *body_ctx;
    void *body_arg;
};

/** For GET and HEAD true; else answers 405 (with Allow) and false. */
bool
dp_file_method_allowed(struct dp_request *req,
                       struct dp_response_headers *headers);

/**
 * Answer `req` (GET or HEAD) with the file `f`: 304/412, 206/416 or
 * `status` (0: 200) with its validators, Content-Type and body.  `f`
 * itself may be on the caller's stack (it is copied when a multipart
 * body needs it later).
 */
void
dp_file_answer(struct dp_request *req, unsigned status,
               struct dp_response_headers *headers,
               const struct dp_file_found *f);

#endif
