/* Unit tests: dp_slot_wait, the bounded queue of requests waiting for a
 * backend connection slot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_slot_wait.h"

#include <string.h>

/* The queue's links, walked both ways, match `want` (n owners). */
static void
assert_order(const struct dp_slot_queue *q, void *const *want, size_t n)
{
    assert_int_equal(q->n, n);
    const struct dp_slot_waiter *w = q->head, *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        assert_non_null(w);
        assert_ptr_equal(w->owner, want[i]);
        assert_ptr_equal(w->prev, prev);
        assert_true(w->waiting);
        prev = w;
        w = w->next;
    }
    assert_null(w);
    assert_ptr_equal(q->tail, prev);
}

static void
test_fifo(void **state)
{
    (void)state;
    struct dp_slot_queue q;
    struct dp_slot_waiter w[4];
    int owners[4];
    memset(&q, 0, sizeof(q));
    memset(w, 0, sizeof(w));
    assert_null(dp_slot_queue_first(&q));
    assert_null(dp_slot_queue_pop(&q));
    for (int i = 0; i < 4; i++)
        dp_slot_queue_push(&q, &w[i], &owners[i], 100 + (uint64_t)i);
    void *all[] = { &owners[0], &owners[1], &owners[2], &owners[3] };
    assert_order(&q, all, 4);
    assert_ptr_equal(dp_slot_queue_first(&q), &owners[0]);
    assert_ptr_equal(dp_slot_queue_pop(&q), &owners[0]);
    assert_false(w[0].waiting);
    assert_null(w[0].next);
    assert_ptr_equal(dp_slot_queue_pop(&q), &owners[1]);
    assert_ptr_equal(dp_slot_queue_pop(&q), &owners[2]);
    assert_ptr_equal(dp_slot_queue_pop(&q), &owners[3]);
    assert_null(dp_slot_queue_pop(&q));
    assert_null(q.head);
    assert_null(q.tail);
    assert_int_equal(q.n, 0);
}

/* A waiter leaves from the head, the middle, the tail, or as the only
 * one (a client that went away); the rest keep their order. */
static void
test_remove_anywhere(void **state)
{
    (void)state;
    struct dp_slot_queue q;
    struct dp_slot_waiter w[5];
    int o[5];
    memset(&q, 0, sizeof(q));
    memset(w, 0, sizeof(w));
    for (int i = 0; i < 5; i++)
        dp_slot_queue_push(&q, &w[i], &o[i], 0);
    dp_slot_queue_remove(&q, &w[2]);           /* middle */
    assert_false(w[2].waiting);
    void *a[] = { &o[0], &o[1], &o[3], &o[4] };
    assert_order(&q, a, 4);
    dp_slot_queue_remove(&q, &w[0]);           /* head */
    void *b[] = { &o[1], &o[3], &o[4] };
    assert_order(&q, b, 3);
    dp_slot_queue_remove(&q, &w[4]);           /* tail */
    void *c[] = { &o[1], &o[3] };
    assert_order(&q, c, 2);
    /* not waiting: nothing happens */
    dp_slot_queue_remove(&q, &w[4]);
    dp_slot_queue_remove(&q, &w[2]);
    assert_order(&q, c, 2);
    /* a removed waiter may wait again, at the end */
    dp_slot_queue_push(&q, &w[0], &o[0], 5);
    void *d[] = { &o[1], &o[3], &o[0] };
    assert_order(&q, d, 3);
    dp_slot_queue_remove(&q, &w[1]);
    dp_slot_queue_remove(&q, &w[3]);
    dp_slot_queue_remove(&q, &w[0]);           /* the only one */
    assert_order(&q, NULL, 0);
    assert_null(q.head);
    assert_null(q.tail);
}

/* The bound: the first waiter is due exactly when it has waited
 * `bound` ms; waiters behind it are due later, in order. */
static void
test_expiry(void **state)
{
    (void)state;
    struct dp_slot_queue q;
    struct dp_slot_waiter w[3];
    int o[3];
    memset(&q, 0, sizeof(q));
    memset(w, 0, sizeof(w));
    assert_int_equal(dp_slot_queue_next_expiry(&q, 0, 500), UINT64_MAX);
    assert_null(dp_slot_queue_pop_expired(&q, 1000, 500));
    dp_slot_queue_push(&q, &w[0], &o[0], 1000);
    dp_slot_queue_push(&q, &w[1], &o[1], 1200);
    dp_slot_queue_push(&q, &w[2], &o[2], 1200);
    assert_int_equal(w[0].since, 1000);
    assert_int_equal(dp_slot_queue_next_expiry(&q, 1000, 500), 500);
    assert_int_equal(dp_slot_queue_next_expiry(&q, 1499, 500), 1);
    assert_null(dp_slot_queue_pop_expired(&q, 1499, 500));
    assert_int_equal(q.n, 3);
    assert_int_equal(dp_slot_queue_next_expiry(&q, 1500, 500), 0);
    assert_ptr_equal(dp_slot_queue_pop_expired(&q, 1500, 500), &o[0]);
    assert_false(w[0].waiting);
    /* the next one started 200 ms later */
    assert_null(dp_slot_queue_pop_expired(&q, 1500, 500));
    assert_int_equal(dp_slot_queue_next_expiry(&q, 1500, 500), 200);
    /* long past: both come out, in order, then nothing */
    assert_ptr_equal(dp_slot_queue_pop_expired(&q, 9000, 500), &o[1]);
    assert_ptr_equal(dp_slot_queue_pop_expired(&q, 9000, 500), &o[2]);
    assert_null(dp_slot_queue_pop_expired(&q, 9000, 500));
    assert_int_equal(q.n, 0);
}

/* When the first waiter leaves before its bound (its slot came, or its
 * client went away), the next expiry is the new first one's. */
static void
test_expiry_after_remove(void **state)
{
    (void)state;
    struct dp_slot_queue q;
    struct dp_slot_waiter w[2];
    int o[2];
    memset(&q, 0, sizeof(q));
    memset(w, 0, sizeof(w));
    dp_slot_queue_push(&q, &w[0], &o[0], 0);
    dp_slot_queue_push(&q, &w[1], &o[1], 300);
    dp_slot_queue_remove(&q, &w[0]);
    assert_null(dp_slot_queue_pop_expired(&q, 400, 400));
    assert_int_equal(dp_slot_queue_next_expiry(&q, 400, 400), 300);
    assert_ptr_equal(dp_slot_queue_pop_expired(&q, 700, 400), &o[1]);
}

/* A `now` behind the last waiter's start counts as that start, so the
 * queue stays in the order of the bound; a `now` before the first
 * waiter's start counts as no wait at all. */
static void
test_clock_not_backwards(void **state)
{
    (void)state;
    struct dp_slot_queue q;
    struct dp_slot_waiter w[2];
    int o[2];
    memset(&q, 0, sizeof(q));
    memset(w, 0, sizeof(w));
    dp_slot_queue_push(&q, &w[0], &o[0], 1000);
    dp_slot_queue_push(&q, &w[1], &o[1], 900);
    assert_int_equal(w[1].since, 1000);
    assert_int_equal(dp_slot_queue_next_expiry(&q, 800, 100), 100);
    assert_null(dp_slot_queue_pop_expired(&q, 800, 100));
    /* a zero bound: due at once */
    assert_ptr_equal(dp_slot_queue_pop_expired(&q, 1000, 0), &o[0]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo),
        cmocka_unit_test(test_remove_anywhere),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_expiry_after_remove),
        cmocka_unit_test(test_clock_not_backwards),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
