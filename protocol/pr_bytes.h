/*
 * pr_bytes: the byte types every codec in protocol/ reads and writes.
 *
 * Promises:
 * - struct pr_slice is a borrowed view: {data, len}; data may be NULL only
 *   when len is 0.  Nothing here frees or keeps it.
 * - struct pr_buf is a growable, heap-owned byte buffer with the invariant
 *   len <= cap, and data == NULL exactly when cap == 0.  Appending never
 *   leaves the buffer half-written: on failure it is unchanged.
 * - struct pr_arena hands out memory that lives until pr_arena_free(); it
 *   is how decoded objects (a translation response) own their strings.
 *   Allocations are aligned for any scalar type.  Failure returns NULL and
 *   leaves the arena usable.
 */
#ifndef PORTIER_PR_BYTES_H
#define PORTIER_PR_BYTES_H

#include <stddef.h>
#include <stdint.h>

struct pr_slice {
    const uint8_t *data;
    size_t len;
};

struct pr_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
};

/** An empty buffer; same as zero-initialising it. */
#define PR_BUF_INIT { NULL, 0, 0 }

/** Make room for at least `extra` more bytes.  Returns 0 or -ENOMEM. */
int
pr_buf_reserve(struct pr_buf *b, size_t extra);

/** Append `len` bytes (data may be NULL when len is 0).  0 or -ENOMEM. */
int
pr_buf_append(struct pr_buf *b, const void *data, size_t len);

/** Release the memory and reset to the empty buffer. */
void
pr_buf_free(struct pr_buf *b);

struct pr_arena_block;

struct pr_arena {
    struct pr_arena_block *head;
    size_t total;     /* bytes handed out, for statistics */
};

#define PR_ARENA_INIT { NULL, 0 }

/** Allocate `size` bytes (zero-filled).  NULL when out of memory. */
void *
pr_arena_alloc(struct pr_arena *a, size_t size);

/** Copy `len` bytes and append a NUL; NULL when out of memory. */
char *
pr_arena_strndup(struct pr_arena *a, const void *src, size_t len);

/** Free everything the arena handed out; the arena is empty afterwards. */
void
pr_arena_free(struct pr_arena *a);

/* Unaligned host-order loads and stores (the translation protocol is in
 * host order and its integers may sit at any offset). */
uint16_t
pr_load_u16(const uint8_t *p);
uint32_t
pr_load_u32(const uint8_t *p);
uint64_t
pr_load_u64(const uint8_t *p);
void
pr_store_u16(uint8_t *p, uint16_t v);

/* Big-endian loads and stores (the control protocol). */
uint16_t
pr_load_be16(const uint8_t *p);
uint32_t
pr_load_be32(const uint8_t *p);
void
pr_store_be16(uint8_t *p, uint16_t v);
void
pr_store_be32(uint8_t *p, uint32_t v);

#endif
