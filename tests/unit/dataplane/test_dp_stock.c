/* Unit tests: dp_stock, the identity, tags and wait queue shared by the
 * LHTTP and WAS stocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dp_stock.h"

#include <stdlib.h>
#include <string.h>

static void
address_init(struct tp_address *a, struct tp_expandable *args,
             struct tp_expandable *env, const char **tags)
{
    memset(a, 0, sizeof(*a));
    a->path = "/bin/app";
    args[0].value = "-x";
    args[1].value = "y";
    a->args.v = args;
    a->args.n = 2;
    env[0].value = "A=1";
    a->child.env.v = env;
    a->child.env.n = 1;
    tags[0] = "red";
    tags[1] = "blue";
    a->child.tags.v = tags;
    a->child.tags.n = 2;
    a->child.umask = TP_UMASK_UNSET;
    a->child.uid_gid.present = true;
    a->child.uid_gid.uid = 1000;
    a->child.uid_gid.gid = 100;
    a->child.uid_gid.n_groups = 1;
    a->child.uid_gid.groups[0] = 27;
    a->child.chdir = "/srv";
    a->child.sigkill = true;
}

static void
test_key_bytes(void **state)
{
    (void)state;
    struct tp_address a;
    struct tp_expandable args[2], env[1];
    const char *tags[2];
    address_init(&a, args, env, tags);
    struct pr_buf k = PR_BUF_INIT;
    assert_int_equal(dp_stock_key(&k, &a, ""), 0);
    /* path, process name (none), arguments, the environment's marker
     * and entries, the option numbers, groups, chdir, stderr path
     * (none), rlimits (none), sigkill, tags: each NUL-terminated */
    static const char want[] =
        "/bin/app\0" "\0" "-x\0" "y\0" "\1env\0" "A=1\0"
        "1:1000:100:-1:0:0\0" "g27\0" "/srv\0" "\0" "\0" "k\0"
        "red\0" "blue";
    assert_int_equal(k.len, sizeof(want));
    assert_memory_equal(k.data, want, sizeof(want));
    pr_buf_free(&k);

    /* `extra` stands before the option numbers, in the same string */
    assert_int_equal(dp_stock_key(&k, &a, "4:0:1:"), 0);
    static const char want2[] =
        "/bin/app\0" "\0" "-x\0" "y\0" "\1env\0" "A=1\0"
        "4:0:1:1:1000:100:-1:0:0\0" "g27\0" "/srv\0" "\0" "\0" "k\0"
        "red\0" "blue";
    assert_int_equal(k.len, sizeof(want2));
    assert_memory_equal(k.data, want2, sizeof(want2));
    pr_buf_free(&k);
}

static void
test_key_distinguishes(void **state)
{
    (void)state;
    struct tp_address a;
    struct tp_expandable args[2], env[1];
    const char *tags[2];
    address_init(&a, args, env, tags);
    struct pr_buf k1 = PR_BUF_INIT, k2 = PR_BUF_INIT;
    assert_int_equal(dp_stock_key(&k1, &a, ""), 0);
    /* an argument split differently is another program */
    args[0].value = "-xy";
    a.args.n = 1;
    assert_int_equal(dp_stock_key(&k2, &a, ""), 0);
    assert_false(k1.len == k2.len && memcmp(k1.data, k2.data, k1.len) == 0);

    struct dp_stock_id id;
    memset(&id, 0, sizeof(id));
    struct pr_buf k3 = k1;
    assert_int_equal(dp_stock_id_init(&id, &k3, "was", &a), 0);
    assert_null(k3.data);
    assert_int_equal(k3.len, 0);
    assert_false(dp_stock_id_is(&id, &k2));
    pr_buf_free(&k2);
    args[0].value = "-x";
    a.args.n = 2;
    assert_int_equal(dp_stock_key(&k2, &a, ""), 0);
    assert_true(dp_stock_id_is(&id, &k2));
    pr_buf_free(&k2);
    free(id.key);
    free(id.name);
    free(id.tags);
}

static void
test_id_name_and_tags(void **state)
{
    (void)state;
    struct tp_address a;
    struct tp_expandable args[2], env[1];
    const char *tags[2];
    address_init(&a, args, env, tags);
    struct pr_buf k = PR_BUF_INIT;
    assert_int_equal(dp_stock_key(&k, &a, ""), 0);
    size_t len = k.len;
    struct dp_stock_id id;
    assert_int_equal(dp_stock_id_init(&id, &k, "lhttp", &a), 0);
    assert_string_equal(id.name, "lhttp /bin/app");
    assert_int_equal(id.key_len, len);
    assert_int_equal(id.tags_len, 9);
    assert_memory_equal(id.tags, "red\0blue\0", 9);
    assert_true(dp_stock_id_tagged(&id, "", 0));
    assert_true(dp_stock_id_tagged(&id, "red", 3));
    assert_true(dp_stock_id_tagged(&id, "blue", 4));
    assert_true(dp_stock_id_tagged(&id, "bluex", 4)); /* tag_len counts */
    assert_false(dp_stock_id_tagged(&id, "re", 2));
    assert_false(dp_stock_id_tagged(&id, "green", 5));
    free(id.key);
    free(id.name);
    free(id.tags);

    /* no tags: only the empty tag matches */
    a.child.tags.n = 0;
    assert_int_equal(dp_stock_key(&k, &a, ""), 0);
    assert_int_equal(dp_stock_id_init(&id, &k, "was", &a), 0);
    assert_string_equal(id.name, "was /bin/app");
    assert_int_equal(id.tags_len, 0);
    assert_true(dp_stock_id_tagged(&id, "", 0));
    assert_false(dp_stock_id_tagged(&id, "red", 3));
    free(id.key);
    free(id.name);
    free(id.tags);
}

static void
test_queue(void **state)
{
    (void)state;
    struct dp_stock_queue q = { NULL, NULL };
    struct dp_stock_waiter w[4];
    int owners[4];                    /* what the waiters are part of */
    memset(w, 0, sizeof(w));
    assert_null(dp_stock_queue_pop(&q));
    assert_null(dp_stock_queue_first(&q));
    for (int i = 0; i < 4; i++) {
        dp_stock_queue_push(&q, &w[i], &owners[i]);
        assert_true(w[i].waiting);
    }
    assert_ptr_equal(dp_stock_queue_first(&q), &owners[0]);
    /* from the middle, then the tail: the order of the rest stays */
    dp_stock_queue_remove(&q, &w[1]);
    assert_false(w[1].waiting);
    dp_stock_queue_remove(&q, &w[3]);
    assert_ptr_equal(q.tail, &w[2]);
    /* not waiting: nothing happens */
    dp_stock_queue_remove(&q, &w[3]);
    dp_stock_queue_push(&q, &w[1], &owners[1]);
    assert_ptr_equal(dp_stock_queue_pop(&q), &owners[0]);
    assert_false(w[0].waiting);
    assert_ptr_equal(dp_stock_queue_first(&q), &owners[2]);
    assert_ptr_equal(dp_stock_queue_pop(&q), &owners[2]);
    assert_ptr_equal(dp_stock_queue_pop(&q), &owners[1]);
    assert_null(q.head);
    assert_null(q.tail);
    assert_null(dp_stock_queue_pop(&q));

    /* the only one removed: empty, and pushing works again */
    dp_stock_queue_push(&q, &w[3], &owners[3]);
    dp_stock_queue_remove(&q, &w[3]);
    assert_null(q.head);
    assert_null(q.tail);
    dp_stock_queue_push(&q, &w[0], &owners[0]);
    assert_ptr_equal(q.head, &w[0]);
    assert_ptr_equal(q.tail, &w[0]);
    assert_ptr_equal(dp_stock_queue_pop(&q), &owners[0]);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_bytes),
        cmocka_unit_test(test_key_distinguishes),
        cmocka_unit_test(test_id_name_and_tags),
        cmocka_unit_test(test_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
