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
 */
#ifndef PORTIER_DP_FILE_H
#define PORTIER_DP_FILE_H

#include "dp_http.h"
#include "tp_response.h"

/**
 * Serve `address` (type LOCAL) for `req`.  `status` overrides 200 when
 * not 0 (STATUS with PATH); `headers` already hold the translation's
 * response headers.
 */
void
dp_file_serve(struct dp_request *req, const struct tp_address *address,
              unsigned status, struct dp_response_headers *headers);

#endif
