/*
 * dp_msgpack: msgpack output into a struct pr_buf, shared by the STATS
 * encoders (dp_control for one process, dp_relay for the master's sum).
 *
 * Promises:
 * - struct dp_msgpack_out collects what a msgpack_packer initialised with
 *   dp_msgpack_write() writes.  Once an append fails (out of memory) it
 *   stays failed and takes nothing more, so the caller checks `failed`
 *   once, at the end, and frees `buf` either way.
 * - dp_msgpack_key() packs a C string as a msgpack str (a map key).
 */
#ifndef PORTIER_DP_MSGPACK_H
#define PORTIER_DP_MSGPACK_H

#include "pr_bytes.h"

#include <msgpack.h>

#include <stdbool.h>
#include <stddef.h>

struct dp_msgpack_out {
    struct pr_buf buf;
    bool failed;
};

/** The msgpack_packer write callback; data is a struct dp_msgpack_out. */
int
dp_msgpack_write(void *data, const char *buf, size_t len);

void
dp_msgpack_key(msgpack_packer *pk, const char *key);

#endif
