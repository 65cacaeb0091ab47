/*
 * Fuzz target for dataplane/dp_tls_name: the input is a pattern and a
 * host separated by the first NUL (or a pattern only).  Invariants,
 * checked with abort():
 * - matching never reads outside the strings (ASan) and is the same for
 *   the host with or without one trailing dot, and in upper case;
 * - an exact valid pattern matches itself; an invalid one matches
 *   nothing;
 * - dp_tls_name_select() over {pattern} agrees with dp_tls_name_matches().
 */
#include "dp_tls_name.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond))                                                           \
            abort();                                                           \
    } while (0)

static void
upper(char *s)
{
    for (; *s != '\0'; s++)
        if (*s >= 'a' && *s <= 'z')
            *s = (char)(*s - 'a' + 'A');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 600)
        return 0;
    char *buf = malloc(size + 2);
    if (buf == NULL)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    buf[size + 1] = '\0';
    const char *pattern = buf;
    size_t plen = strlen(pattern);
    const char *host = plen < size ? buf + plen + 1 : pattern;

    bool valid = dp_tls_name_valid(pattern);
    bool m = dp_tls_name_matches(pattern, host);
    if (!valid)
        CHECK(!m);
    if (valid && pattern[0] != '*')
        CHECK(dp_tls_name_matches(pattern, pattern));
    struct dp_tls_name names[1] = {{pattern, 7}};
    CHECK(dp_tls_name_select(names, 1, host) == (m ? 7 : -1));

    size_t hlen = strlen(host);
    char *variant = malloc(hlen + 2);
    if (variant != NULL) {
        memcpy(variant, host, hlen + 1);
        if (hlen > 0 && host[hlen - 1] != '.') {
            variant[hlen] = '.';
            variant[hlen + 1] = '\0';
            CHECK(dp_tls_name_matches(pattern, variant) == m);
            variant[hlen] = '\0';
        }
        upper(variant);
        CHECK(dp_tls_name_matches(pattern, variant) == m);
        free(variant);
    }
    free(buf);
    return 0;
}
