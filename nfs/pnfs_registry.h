/*
 * pnfs_registry: the clients of one worker loop, one per (server,
 * export), created on first use and shared by every request.
 *
 * Promises:
 * - pnfs_registry_get() returns the same client for the same (server,
 *   export) pair (compared byte for byte) for the registry's life;
 *   clients are created with the registry's defaults (ports, identity,
 *   timeouts, read-ahead) on first use.  A client that idles closes its
 *   connection by itself (pnfs_client), so keeping it is cheap.
 * - Clients are owned by the registry: callers never free them.
 * - pnfs_registry_free() frees every client; precondition as for
 *   pnfs_client_free(): nothing pending, no file open.
 */
#ifndef PORTIER_PNFS_REGISTRY_H
#define PORTIER_PNFS_REGISTRY_H

#include <stddef.h>
#include <uv.h>

#include "pnfs_client.h"

struct pnfs_registry;

/** A registry whose clients use `defaults` (its server and export_path
 *  are ignored; strings are not kept).  NULL when out of memory. */
struct pnfs_registry *
pnfs_registry_new(uv_loop_t *loop, const struct pnfs_client_config *defaults);

/** The client for (server, export_path), created when absent.  NULL when
 *  the pair is invalid or memory is short; err (errlen bytes) says why. */
struct pnfs_client *
pnfs_registry_get(struct pnfs_registry *reg, const char *server,
                  const char *export_path, char *err, size_t errlen);

/** How many clients the registry holds. */
size_t
pnfs_registry_count(const struct pnfs_registry *reg);

void
pnfs_registry_free(struct pnfs_registry *reg);

#endif
