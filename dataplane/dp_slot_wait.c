/*
 * dp_slot_wait: the bounded FIFO of requests waiting for a connection
 * slot (see dp_slot_wait.h).
 */
#include "dp_slot_wait.h"

void
dp_slot_queue_push(struct dp_slot_queue *q, struct dp_slot_waiter *w,
                   void *owner, uint64_t now)
{
    /* a clock that stepped back must not put a later waiter's bound
     * before an earlier one's: the first waiter stays the first due */
    if (q->tail != NULL && now < q->tail->since)
        now = q->tail->since;
    w->owner = owner;
    w->since = now;
    w->waiting = true;
    w->next = NULL;
    w->prev = q->tail;
    if (q->tail != NULL)
        q->tail->next = w;
    else
        q->head = w;
    q->tail = w;
    q->n++;
}

void *
dp_slot_queue_first(const struct dp_slot_queue *q)
{
    return q->head != NULL ? q->head->owner : NULL;
}

void
dp_slot_queue_remove(struct dp_slot_queue *q, struct dp_slot_waiter *w)
{
    if (!w->waiting)
        return;
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        q->head = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    else
        q->tail = w->prev;
    w->prev = w->next = NULL;
    w->waiting = false;
    q->n--;
}

void *
dp_slot_queue_pop(struct dp_slot_queue *q)
{
    struct dp_slot_waiter *w = q->head;
    if (w == NULL)
        return NULL;
    dp_slot_queue_remove(q, w);
    return w->owner;
}

void *
dp_slot_queue_pop_expired(struct dp_slot_queue *q, uint64_t now,
                          uint64_t bound)
{
    if (dp_slot_queue_next_expiry(q, now, bound) != 0)
        return NULL;
    return dp_slot_queue_pop(q);
}

uint64_t
dp_slot_queue_next_expiry(const struct dp_slot_queue *q, uint64_t now,
                          uint64_t bound)
{
    const struct dp_slot_waiter *w = q->head;
    if (w == NULL)
        return UINT64_MAX;
    uint64_t waited = now > w->since ? now - w->since : 0;
    return waited >= bound ? 0 : bound - waited;
}
