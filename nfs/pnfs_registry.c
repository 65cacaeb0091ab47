/* pnfs_registry: see pnfs_registry.h for what it promises.
 *
 * A worker talks to a handful of exports, so a list searched linearly,
 * most recently created first, is enough. */
#include "pnfs_registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    struct entry *next;
    struct pnfs_client *client;
};

struct pnfs_registry {
    uv_loop_t *loop;
    struct pnfs_client_config defaults;
    struct entry *head;
    size_t count;
};

struct pnfs_registry *
pnfs_registry_new(uv_loop_t *loop, const struct pnfs_client_config *defaults)
{
    struct pnfs_registry *reg = calloc(1, sizeof(*reg));
    if (reg == NULL)
        return NULL;
    reg->loop = loop;
    reg->defaults = *defaults;
    reg->defaults.server = NULL;
    reg->defaults.export_path = NULL;
    return reg;
}

struct pnfs_client *
pnfs_registry_get(struct pnfs_registry *reg, const char *server,
                  const char *export_path, char *err, size_t errlen)
{
    for (struct entry *e = reg->head; e != NULL; e = e->next)
        if (strcmp(pnfs_client_server(e->client), server) == 0 &&
            strcmp(pnfs_client_export(e->client), export_path) == 0)
            return e->client;
    struct entry *e = malloc(sizeof(*e));
    if (e == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    struct pnfs_client_config cfg = reg->defaults;
    cfg.server = server;
    cfg.export_path = export_path;
    e->client = pnfs_client_new(reg->loop, &cfg, err, errlen);
    if (e->client == NULL) {
        free(e);
        return NULL;
    }
    e->next = reg->head;
    reg->head = e;
    reg->count++;
    return e->client;
}

size_t
pnfs_registry_count(const struct pnfs_registry *reg)
{
    return reg->count;
}

void
pnfs_registry_free(struct pnfs_registry *reg)
{
    if (reg == NULL)
        return;
    while (reg->head != NULL) {
        struct entry *e = reg->head;
        reg->head = e->next;
        pnfs_client_free(e->client);
        free(e);
    }
    free(reg);
}
