/*
 * dp_stock: the identity, tags and wait queue of a child-process stock
 * (see dp_stock.h).
 */
#include "dp_stock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
key_add(struct pr_buf *k, const char *s)
{
    return pr_buf_append(k, s != NULL ? s : "", s != NULL ? strlen(s) + 1
                                                          : 1);
}

int
dp_stock_key(struct pr_buf *k, const struct tp_address *a,
             const char *extra)
{
    const struct tp_child_options *c = &a->child;
    char num[160];
    int rc = key_add(k, a->path) | key_add(k, a->process_name);
    for (size_t i = 0; i < a->args.n; i++)
        rc |= key_add(k, a->args.v[i].value);
    rc |= key_add(k, "\1env");
    for (size_t i = 0; i < c->env.n; i++)
        rc |= key_add(k, c->env.v[i].value);
    snprintf(num, sizeof(num), "%s%d:%d:%d:%d:%d:%d", extra,
             c->uid_gid.present, c->uid_gid.uid, c->uid_gid.gid,
             (int)c->umask, c->no_new_privs, c->stderr_null);
    rc |= key_add(k, num);
    for (size_t i = 0; i < c->uid_gid.n_groups; i++) {
        snprintf(num, sizeof(num), "g%d", c->uid_gid.groups[i]);
        rc |= key_add(k, num);
    }
    rc |= key_add(k, c->chdir) | key_add(k, c->stderr_path) |
          key_add(k, c->rlimits) | key_add(k, c->sigkill ? "k" : "");
    for (size_t i = 0; i < c->tags.n; i++)
        rc |= key_add(k, c->tags.v[i]);
    return rc != 0 ? -1 : 0;
}

bool
dp_stock_id_is(const struct dp_stock_id *id, const struct pr_buf *k)
{
    return id->key_len == k->len && memcmp(id->key, k->data, k->len) == 0;
}

/* The tags as NUL-separated strings, their length in *len. */
static char *
tags_copy(const struct tp_string_list *tags, size_t *len)
{
    size_t n = 0;
    for (size_t i = 0; i < tags->n; i++)
        n += strlen(tags->v[i]) + 1;
    char *out = malloc(n > 0 ? n : 1);
    if (out == NULL)
        return NULL;
    size_t pos = 0;
    for (size_t i = 0; i < tags->n; i++) {
        size_t l = strlen(tags->v[i]) + 1;
        memcpy(out + pos, tags->v[i], l);
        pos += l;
    }
    *len = n;
    return out;
}

int
dp_stock_id_init(struct dp_stock_id *id, struct pr_buf *k,
                 const char *kind, const struct tp_address *a)
{
    size_t nl = strlen(kind) + strlen(a->path) + 2;
    char *name = malloc(nl);
    size_t tags_len = 0;
    char *tags = tags_copy(&a->child.tags, &tags_len);
    if (name == NULL || tags == NULL) {
        free(name);
        free(tags);
        return -1;
    }
    snprintf(name, nl, "%s %s", kind, a->path);
    id->name = name;
    id->tags = tags;
    id->tags_len = tags_len;
    id->key = (char *)k->data;
    id->key_len = k->len;
    *k = (struct pr_buf)PR_BUF_INIT;
    return 0;
}

bool
dp_stock_id_tagged(const struct dp_stock_id *id, const char *tag,
                   size_t tag_len)
{
    if (tag_len == 0)
        return true;
    for (size_t pos = 0; pos < id->tags_len;) {
        size_t l = strlen(id->tags + pos);
        if (l == tag_len && memcmp(id->tags + pos, tag, tag_len) == 0)
            return true;
        pos += l + 1;
    }
    return false;
}

void
dp_stock_queue_push(struct dp_stock_queue *q, struct dp_stock_waiter *w,
                    void *owner)
{
    w->next = NULL;
    w->owner = owner;
    w->waiting = true;
    if (q->tail != NULL)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
}

void *
dp_stock_queue_first(const struct dp_stock_queue *q)
{
    return q->head != NULL ? q->head->owner : NULL;
}

void *
dp_stock_queue_pop(struct dp_stock_queue *q)
{
    struct dp_stock_waiter *w = q->head;
    if (w == NULL)
        return NULL;
    q->head = w->next;
    if (q->head == NULL)
        q->tail = NULL;
    w->next = NULL;
    w->waiting = false;
    return w->owner;
}

void
dp_stock_queue_remove(struct dp_stock_queue *q, struct dp_stock_waiter *w)
{
    if (!w->waiting)
        return;
    struct dp_stock_waiter **pp = &q->head, *prev = NULL;
    while (*pp != NULL && *pp != w) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (*pp == w) {
        *pp = w->next;
        if (q->tail == w)
            q->tail = prev;
    }
    w->next = NULL;
    w->waiting = false;
}
