/*
 * dp_client_ban: the clients an operator rejected or tarpitted with the
 * control commands REJECT_CLIENT and TARPIT_CLIENT (spec/protocols.md
 * §2.3; docs/control.md).
 *
 * Promises:
 * - Pure: no I/O, no clock (callers pass the time in ms), one allocation
 *   at creation.
 * - dp_client_ban_parse() decodes a command payload exactly: a u32
 *   big-endian number of seconds, then an IPv4 or IPv6 address as text
 *   (optionally in brackets), nothing else; errors are sentences.
 * - Addresses are compared as IPv6 (an IPv4 client and its v4-mapped IPv6
 *   form are the same client); the port never matters.
 * - A table holds at most `capacity` clients.  Adding a client that is
 *   there replaces its kind and deadline; 0 seconds removes it; when the
 *   table is full, the entry that ends first gives way (the caller is
 *   told, to log it).  Expired entries never match.
 */
#ifndef PORTIER_DP_CLIENT_BAN_H
#define PORTIER_DP_CLIENT_BAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

enum dp_ban_kind {
    DP_BAN_NONE = 0,
    DP_BAN_REJECT,     /* REJECT_CLIENT: connections are closed at once */
    DP_BAN_TARPIT,     /* TARPIT_CLIENT: each request waits first */
};

/** Most seconds a ban may last (one week); longer values are capped. */
#define DP_BAN_MAX_SECONDS (7u * 24 * 3600)

struct dp_ban_request {
    uint32_t seconds;
    uint8_t addr[16];        /* IPv6, IPv4 as ::ffff:a.b.c.d */
    char text[64];           /* the address as given, for logs */
};

/** Decode a REJECT_CLIENT/TARPIT_CLIENT payload.  0, or -1 with a
 *  sentence in err. */
int
dp_client_ban_parse(const uint8_t *payload, size_t len,
                    struct dp_ban_request *out, char *err, size_t errlen);

struct dp_client_ban;

/** A table for `capacity` clients (0: 4096); NULL when out of memory. */
struct dp_client_ban *
dp_client_ban_new(size_t capacity);

void
dp_client_ban_free(struct dp_client_ban *b);

/** Add (or with seconds 0 remove) a client.  Returns true when another,
 *  still active entry had to give way because the table was full. */
bool
dp_client_ban_add(struct dp_client_ban *b, enum dp_ban_kind kind,
                  const struct dp_ban_request *r, uint64_t now_ms);

/** What applies to `peer` (AF_INET or AF_INET6; others: NONE). */
enum dp_ban_kind
dp_client_ban_check(const struct dp_client_ban *b,
                    const struct sockaddr *peer, uint64_t now_ms);

/** Active entries at now_ms. */
size_t
dp_client_ban_count(const struct dp_client_ban *b, uint64_t now_ms);

#endif
