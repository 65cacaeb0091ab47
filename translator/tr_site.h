/*
 * tr_site: the site file of portier-translate (docs/site-file.md): load it,
 * validate it, and answer "which vhost and mount serves this request?".
 *
 * Promises:
 * - tr_site_load() reads a JSON site file ('#' starts a comment that runs
 *   to the end of the line, outside strings), checks every key and value,
 *   reads the basic-auth files it names, and either hands back a complete
 *   site or fails with one precise message, "FILE:LINE:COLUMN: what is
 *   wrong" ("FILE: ..." when the whole file is at fault).  A failed load
 *   leaves nothing allocated.
 * - A site is immutable once loaded.  The lookup functions only read it,
 *   never touch the file system, and may run in several threads at once;
 *   every pointer they return (vhost, mount, string) lives until
 *   tr_site_free().
 * - Local paths in the site are absolute and lexically normalised (no "."
 *   or ".." segments, no "//", no trailing '/'); a relative path in the file
 *   is resolved against the directory that holds the site file.
 *
 * Path safety is split between the translation server and the data plane.
 * For a TR_SITE_OK answer, tr_site_lookup() guarantees that the remainder
 * (the part of the path below the mountpoint):
 * - is percent-decoded exactly once and is valid UTF-8;
 * - is "" or starts with '/', has no empty segment ("//" collapsed), no "."
 *   or ".." segment, whether written literally or encoded (%2e, %2E, mixed);
 * - contains no '/' that came from %2F, no NUL, no control character
 *   (0x01-0x1f, 0x7f) and no backslash.
 * So origin-path + remainder never names a path lexically above the origin.
 * Requests that break these rules are refused (TR_SITE_BAD_PATH: 400).
 * The data plane must still:
 * - resolve the path without leaving the origin directory through
 *   symbolic links (openat2() with RESOLVE_BENEATH|RESOLVE_NO_MAGICLINKS,
 *   or O_NOFOLLOW on every component), and serve regular files only;
 * - use the bytes it was given: never decode them again, never re-add
 *   dot segments.
 */
#ifndef PORTIER_TR_SITE_H
#define PORTIER_TR_SITE_H

#include <stddef.h>

/* Limits (documented in docs/site-file.md). */
#define TR_SITE_MAX_FILE_SIZE      (4u * 1024 * 1024)
#define TR_SITE_MAX_VHOSTS         1024
#define TR_SITE_MAX_MOUNTS         1024     /* per vhost */
#define TR_SITE_MAX_ALIASES        256      /* per vhost */
#define TR_SITE_MAX_HEADERS        64       /* per mount */
#define TR_SITE_MAX_CGI_ENV        256      /* per mount */
#define TR_SITE_MAX_MIMETYPES      1024     /* per mount */
#define TR_SITE_MAX_STRING         4096     /* bytes in any one string value */
#define TR_SITE_MAX_MOUNTPOINT     1024     /* bytes */
#define TR_SITE_MAX_CACHE_MAX_AGE  31536000 /* one year, in seconds */
#define TR_SITE_MAX_CGI_TIMEOUT    86400    /* one day, in seconds */
#define TR_SITE_MAX_HTPASSWD_SIZE  (1024u * 1024)
#define TR_SITE_MAX_HTPASSWD_USERS 65536

enum tr_site_origin_kind {
    TR_SITE_ORIGIN_FILE = 1, /* file:///dir */
    TR_SITE_ORIGIN_NFS,      /* nfs://server/export[//subdir] */
    TR_SITE_ORIGIN_HTTP,     /* http://host[:port][/prefix] */
    TR_SITE_ORIGIN_HTTPS,    /* https://host[:port][/prefix] */
    TR_SITE_ORIGIN_CGI,      /* cgi:///dir-or-program */
    TR_SITE_ORIGIN_FASTCGI,  /* fastcgi:///program, fastcgi://host:port */
    TR_SITE_ORIGIN_WAS,      /* was:///program */
    TR_SITE_ORIGIN_LHTTP,    /* lhttp:///program */
    TR_SITE_ORIGIN_REDIRECT, /* >https://host/path, >http://... */
};

/** Where a mount's requests go.  Which fields are set depends on kind. */
struct tr_site_origin {
    enum tr_site_origin_kind kind;
    const char *text; /* the origin exactly as written in the file */
    /* FILE, CGI, WAS, LHTTP, local FASTCGI: the absolute normalised local
     * path.  NFS: the subdirectory inside the export ("" or "/sub/dir").
     * HTTP, HTTPS, REDIRECT: the URL's path as written ("" or "/..."). */
    const char *path;
    /* NFS, HTTP, HTTPS, REDIRECT, remote FASTCGI: the host in lower case
     * (IPv6 addresses keep their brackets); NULL for the local kinds. */
    const char *host;
    /* HTTP, HTTPS, REDIRECT, remote FASTCGI: the port (the scheme's
     * default, 80 or 443, when not written); 0 otherwise. */
    unsigned port;
    /* NFS: the export, absolute and normalised ("/srv/nfs").  NULL else. */
    const char *nfs_export;
    /* HTTP, HTTPS: the URL as written, scheme in lower case; REDIRECT:
     * the same for the target (the text after '>').  NULL otherwise. */
    const char *url;
};

/** A name and a value (headers, cgi-env, extra-mimetypes). */
struct tr_site_pair {
    const char *name;
    const char *value;
};

struct tr_site_htpasswd; /* private to tr_site.c */

struct tr_site_mount {
    /* Starts with '/'; no trailing '/' except for "/" itself. */
    const char *mountpoint;
    size_t mountpoint_len;
    struct tr_site_origin origin;
    unsigned redirect_status; /* REDIRECT: 301 (default), 302, 303, 307,
                               * 308; 0 for the other kinds */
    const char *default_doc;  /* "default": index document; NULL */
    long cache_max_age;       /* seconds; -1 when not given */
    unsigned cgi_timeout;     /* seconds; 0 when not given */
    const char *basic_auth;   /* absolute path of the htpasswd file;
                               * NULL when the mount is open */
    /* Extra response headers, in file order (names as written). */
    const struct tr_site_pair *headers;
    size_t n_headers;
    /* CGI environment, in file order. */
    const struct tr_site_pair *cgi_env;
    size_t n_cgi_env;
    /* extra-mimetypes: suffix (lower case, no dot; "*" for the fallback)
     * to type ("" = serve without a Content-Type), sorted by suffix. */
    const struct tr_site_pair *extra_mimetypes;
    size_t n_extra_mimetypes;
    unsigned line; /* where the mount starts in the file */
    const struct tr_site_htpasswd *htpasswd; /* private */
};

struct tr_site_vhost {
    const char *name;           /* lower case; "default" answers unknown
                                 * hosts */
    const char *const *aliases; /* lower case */
    size_t n_aliases;
    const char *listener_tag;           /* NULL: requests from any listener */
    const struct tr_site_mount *mounts; /* in file order */
    size_t n_mounts;
    unsigned line; /* where the vhost starts in the file */
    /* private: the mounts, longest mountpoint first */
    const struct tr_site_mount *const *by_length;
};

struct tr_site;

/**
 * Load and validate the site file at `path`.  On success returns 0 and
 * stores a new site in *out (the caller frees it with tr_site_free()).  On
 * failure returns -errno (-EINVAL for an invalid file or one that is not
 * a regular file, -EISDIR for a directory, -EFBIG when it is over
 * TR_SITE_MAX_FILE_SIZE, -ENOMEM, or the error of open()/read()),
 * leaves *out unchanged and writes one NUL-terminated message naming file,
 * line and column into err (truncated to errlen; err may be NULL when
 * errlen is 0).  Relative local paths in the file are resolved against the
 * directory of `path` (after resolving symbolic links in it).
 */
int tr_site_load(const char *path, struct tr_site **out, char *err,
                 size_t errlen);

/**
 * Like tr_site_load(), for a site file already in memory: `name` is used
 * in messages, `base_dir` (absolute) resolves relative local paths.
 * `data` need not be NUL-terminated.  basic-auth files are still read from
 * the file system.
 */
int tr_site_parse(const char *name, const char *data, size_t len,
                  const char *base_dir, struct tr_site **out, char *err,
                  size_t errlen);

/** Release a site and everything it handed out.  NULL is accepted. */
void tr_site_free(struct tr_site *site);

/** The number of vhosts (at least one). */
size_t tr_site_vhost_count(const struct tr_site *site);

/** The i-th vhost in file order; NULL when i >= tr_site_vhost_count(). */
const struct tr_site_vhost *tr_site_vhost_at(const struct tr_site *site,
                                             size_t i);

/**
 * The vhost for a Host header value (NULL or "" when the request had
 * none) on a listener with tag `listener_tag` (NULL when it has none).
 * The port (":8080", after "]" for an IPv6 literal) and one trailing '.'
 * are ignored and names compare case-insensitively.  Preference: a vhost
 * whose name or alias matches and whose listener-tag equals the
 * listener's; then one that matches with no listener-tag; then the same
 * two steps for the vhost named "default".  NULL when none answers (the
 * caller answers 404).
 */
const struct tr_site_vhost *tr_site_find_vhost(const struct tr_site *site,
                                               const char *host,
                                               const char *listener_tag);

/**
 * The mount of `vhost` for a normalised path (as tr_site_normalize_path()
 * produces): the longest mountpoint that equals the path or is followed in
 * it by '/'.  "/app" serves "/app" and "/app/x", not "/apple".  Stores in
 * *remainder the rest of the path after the mountpoint ("" or starting with
 * '/'; for the mountpoint "/" the whole path).  NULL when no mount matches.
 */
const struct tr_site_mount *
tr_site_find_mount(const struct tr_site_vhost *vhost, const char *path,
                   const char **remainder);

enum tr_site_status {
    TR_SITE_OK = 0,        /* the match is filled in */
    TR_SITE_NO_VHOST,      /* no vhost for that host: answer 404 */
    TR_SITE_NO_MOUNT,      /* no mount for that path: answer 404 */
    TR_SITE_BAD_PATH,      /* unsafe or malformed path: answer 400 */
    TR_SITE_PATH_TOO_LONG, /* the buffer is too small: answer 414 */
};

/** The HTTP status a caller answers for a lookup status (200 for OK). */
int tr_site_status_http(enum tr_site_status status);

/**
 * Percent-decode and check a raw request path (bytes, not NUL-terminated;
 * no query string) into buf, collapsing "//".  The rules are those of the
 * header comment; also refused: a path that is empty or does not start
 * with '/', a malformed %-escape, a raw byte that is not visible ASCII, a
 * raw '?' or '#'.  Returns TR_SITE_OK (buf holds the NUL-terminated path),
 * TR_SITE_BAD_PATH, or TR_SITE_PATH_TOO_LONG when buf_size < len + 1.
 */
enum tr_site_status tr_site_normalize_path(const char *raw, size_t len,
                                           char *buf, size_t buf_size);

struct tr_site_match {
    const struct tr_site_vhost *vhost;
    const struct tr_site_mount *mount;
    const char *path;      /* the normalised path, in the caller's buf */
    const char *remainder; /* inside path: "" or starts with '/' */
};

/**
 * The whole lookup: tr_site_find_vhost(), tr_site_normalize_path() into
 * buf (at least raw_len + 1 bytes), tr_site_find_mount().  On TR_SITE_OK
 * fills *m; otherwise *m holds what was found before the failure (NULL
 * fields for the rest).  The match points into the site and into buf.
 */
enum tr_site_status tr_site_lookup(const struct tr_site *site, const char *host,
                                   const char *listener_tag,
                                   const char *raw_path, size_t raw_len,
                                   char *buf, size_t buf_size,
                                   struct tr_site_match *m);

/**
 * The suffix of the last segment of a path, without the dot ("gz" for
 * "/a/b.tar.gz"), or "" when it has none (also for ".profile" and for a
 * path ending in '/').  Points into path.
 */
const char *tr_site_path_suffix(const char *path);

/**
 * The Content-Type for a file suffix (with or without the leading dot,
 * compared case-insensitively) on a mount: the mount's extra-mimetypes,
 * then the built-in table, then the mount's "*" entry.  Returns the type,
 * "" when the file is served without a Content-Type, or NULL when the
 * suffix is unknown and the file must not be served (404).  mount may be
 * NULL (built-in table only).
 */
const char *tr_site_content_type(const struct tr_site_mount *mount,
                                 const char *suffix);

/**
 * Check HTTP basic credentials against the mount's basic-auth file.
 * Returns 1 when the user exists and the password matches its crypt(3)
 * hash, 0 otherwise (also when the mount has no basic-auth, so a caller
 * that forgets to check fails closed).  Takes about as long for an
 * unknown user as for a wrong password.  Thread-safe (crypt_r()).
 */
int tr_site_check_password(const struct tr_site_mount *mount, const char *user,
                           const char *password);

/** The name of an origin kind ("file", "nfs", ..., "redirect"). */
const char *tr_site_origin_kind_name(enum tr_site_origin_kind kind);

#endif
