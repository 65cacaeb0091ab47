/*
 * Fuzz target for dataplane/dp_session_file: the session save file
 * decoder over arbitrary bytes.
 *
 * Invariants (abort() on failure): decoding never crashes or leaks; on
 * success every session satisfies the limits of dp_session.h, and
 * encoding the decoded sessions and decoding that again gives the same
 * bytes (the encoder's canonical form is a fixed point); on failure the
 * list is empty and the message is not.
 */
#include "dp_session_file.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_session(const struct dp_session *s)
{
    if (s->n_realms > DP_SESSION_MAX_REALMS ||
        s->translate.len > DP_SESSION_MAX_VALUE ||
        s->attach.len > DP_SESSION_MAX_VALUE)
        abort();
    if ((s->translate.data != NULL && s->translate.data[s->translate.len]) ||
        (s->attach.data != NULL && s->attach.data[s->attach.len]))
        abort();
    for (size_t i = 0; i < s->n_realms; i++)
        if (s->realms[i].realm == NULL ||
            strlen(s->realms[i].realm) > DP_SESSION_MAX_VALUE)
            abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dp_session_list l;
    char err[300];
    if (dp_session_file_decode(data, size, &l, err, sizeof(err)) != 0) {
        if (l.v != NULL || l.n != 0 || err[0] == '\0')
            abort();
        return 0;
    }
    for (size_t i = 0; i < l.n; i++)
        check_session(l.v[i]);
    /* re-encode through a store: the canonical image is a fixed point */
    struct dp_session_config c = { .idle_timeout_ms = UINT64_MAX / 4,
                                   .max_sessions = l.n + 1 };
    struct dp_session_manager *m = dp_session_manager_new(&c);
    if (m == NULL)
        abort();
    for (size_t i = 0; i < l.n; i++) {
        l.v[i]->expires_ms = 1000 + i;   /* keep every one, in order */
        if (!dp_session_adopt(m, l.v[i], 0))
            abort();
        l.v[i] = NULL;
    }
    l.n = 0;
    dp_session_list_free(&l);
    struct pr_buf a = PR_BUF_INIT, b = PR_BUF_INIT;
    if (dp_session_file_encode(m, &a) != 0)
        abort();
    struct dp_session_list l2;
    if (dp_session_file_decode(a.data, a.len, &l2, err, sizeof(err)) != 0)
        abort();
    struct dp_session_manager *m2 = dp_session_manager_new(&c);
    if (m2 == NULL)
        abort();
    for (size_t i = 0; i < l2.n; i++) {
        if (!dp_session_adopt(m2, l2.v[i], 0))
            abort();
        l2.v[i] = NULL;
    }
    l2.n = 0;
    dp_session_list_free(&l2);
    if (dp_session_file_encode(m2, &b) != 0 || a.len != b.len ||
        memcmp(a.data, b.data, a.len) != 0)
        abort();
    pr_buf_free(&a);
    pr_buf_free(&b);
    dp_session_manager_free(m);
    dp_session_manager_free(m2);
    return 0;
}
