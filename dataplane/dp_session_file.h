/*
 * dp_session_file: the `session_save_path` file (docs/sessions.md): every
 * session of a store in msgpack, so sessions survive a restart.
 *
 * The format (version 1), one msgpack array:
 *
 *   [ "portier-sessions", 1, [ session, ... ] ]
 *   session = [ id (bin 16), expires_ms (uint, wall clock),
 *               SESSION (bin|nil), ATTACH_SESSION (bin|nil),
 *               SESSION_SITE (str|nil), LANGUAGE (str|nil),
 *               [ realm, ... ] ]
 *   realm   = [ name (str), USER (str|nil), user_expires_ms (uint, 0 =
 *               none), REALM_SESSION (bin|nil) ]
 *
 * Promises:
 * - dp_session_file_encode() and dp_session_file_decode() are pure
 *   functions over bytes (no I/O, no clock, no global state); whatever
 *   the encoder writes the decoder reads back to equal sessions.
 * - The decoder is strict and bounded: exactly the layout above with
 *   the smallest or any valid msgpack encodings of each item, nothing
 *   after it, every value within the limits of dp_session.h (length,
 *   realms, no NUL inside text), counts checked against the bytes that
 *   remain before anything is allocated.  Any other input (truncated,
 *   foreign, corrupt) is refused with a sentence naming the offset; it
 *   never crashes and leaks nothing (fuzzed: tests/fuzz/).
 * - dp_session_file_save() writes a temporary file next to the target,
 *   fsync()s it and renames it over the target, so a reader sees the old
 *   or the new file, never a partial one.  dp_session_file_load() reads
 *   the file, decodes all of it first, and only then adopts the sessions
 *   (expired ones are dropped): a bad file changes nothing.
 */
#ifndef PORTIER_DP_SESSION_FILE_H
#define PORTIER_DP_SESSION_FILE_H

#include "dp_session.h"
#include "pr_bytes.h"

#include <stddef.h>
#include <stdint.h>

#define DP_SESSION_FILE_MAGIC "portier-sessions"
#define DP_SESSION_FILE_VERSION 1
/** The largest file the loader reads. */
#define DP_SESSION_FILE_MAX_SIZE (1u << 30)

/** Decoded sessions (each from dp_session_new()). */
struct dp_session_list {
    struct dp_session **v;
    size_t n;
};

/** Free the sessions that were not adopted, and the array. */
void
dp_session_list_free(struct dp_session_list *l);

/** Append the file image of every session of m (least recently used
 *  first).  0 or -ENOMEM (out unchanged). */
int
dp_session_file_encode(struct dp_session_manager *m, struct pr_buf *out);

/** Append one session in the file's session layout (the shared store
 *  keeps its records so).  0 or -ENOMEM (out unchanged). */
int
dp_session_file_encode_one(const struct dp_session *s, struct pr_buf *out);

/** Decode exactly one session record into s (a dp_session_new() one,
 *  which the caller frees on failure too).  0, -EINVAL with a sentence in
 *  err, or -ENOMEM. */
int
dp_session_file_decode_one(const uint8_t *data, size_t len,
                           struct dp_session *s, char *err, size_t errlen);

/**
 * Decode a file image.  0 with the sessions in *out (which the caller
 * frees with dp_session_list_free() after adopting what it wants), or
 * -EINVAL (with a sentence in err) / -ENOMEM; on failure *out is empty.
 */
int
dp_session_file_decode(const uint8_t *data, size_t len,
                       struct dp_session_list *out, char *err, size_t errlen);

/** Save atomically.  0 or -errno with a sentence in err. */
int
dp_session_file_save(struct dp_session_manager *m, const char *path,
                     char *err, size_t errlen);

/**
 * Load and adopt the sessions of `path` into m.  Returns the number of
 * sessions adopted, 0 when the file does not exist, or -errno with a
 * sentence in err (unreadable, corrupt, foreign): nothing adopted then.
 */
long
dp_session_file_load(struct dp_session_manager *m, const char *path,
                     uint64_t now_ms, char *err, size_t errlen);

#endif
