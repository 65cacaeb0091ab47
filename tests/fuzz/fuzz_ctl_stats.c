/*
 * Fuzz target for ctl/ctl_stats: STATS reply datagrams and their payloads
 * (msgpack maps, the 120-byte struct).
 *
 * The input is formatted as a reply datagram and as a bare payload, in
 * both text forms.  Invariants, checked with abort():
 * - the walk and msgpack-c agree: what ctl_stats_msgpack_check() accepts,
 *   msgpack_unpack_next() decodes completely;
 * - a failure has a message, and is never -ENOMEM (the walk keeps
 *   msgpack-c's allocations proportional to the input);
 * - JSON output is one line: it ends with the only newline, has no other
 *   control byte and is valid UTF-8 that starts with '{';
 * - "key: value" output is lines that each contain ": " and no control
 *   byte, and is valid UTF-8.
 */
#include "ctl_stats.h"

#include <msgpack.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond))                                                       \
            abort();                                                       \
    } while (0)

static bool
valid_utf8(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t b = s[i];
        size_t n = b < 0x80 ? 1 : b >= 0xc2 && b <= 0xdf ? 2
                 : b >= 0xe0 && b <= 0xef ? 3 : b >= 0xf0 && b <= 0xf4 ? 4
                 : 0;
        if (n == 0 || n > len - i)
            return false;
        for (size_t k = 1; k < n; k++)
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
        i += n;
    }
    return true;
}

static void
check_output(const struct pr_buf *out, enum ctl_stats_format f)
{
    CHECK(valid_utf8(out->data, out->len));
    if (f == CTL_STATS_JSON) {
        CHECK(out->len >= 3 && out->data[0] == '{');
        CHECK(out->data[out->len - 1] == '\n');
        for (size_t i = 0; i + 1 < out->len; i++)
            CHECK(out->data[i] >= 0x20 && out->data[i] != 0x7f);
        return;
    }
    size_t start = 0;
    for (size_t i = 0; i < out->len; i++) {
        uint8_t c = out->data[i];
        if (c == '\n') {
            CHECK(memmem(out->data + start, i - start, ": ", 2) != NULL);
            start = i + 1;
        } else {
            CHECK(c >= 0x20 && c != 0x7f);
        }
    }
    CHECK(start == out->len);   /* the last line is complete */
}

static void
format(const uint8_t *data, size_t size, bool reply, enum ctl_stats_format f)
{
    struct pr_buf out = PR_BUF_INIT;
    char err[256] = "";
    int r = reply ? ctl_stats_format_reply(&out, data, size, f, err,
                                           sizeof(err))
                  : ctl_stats_format_payload(&out, data, size, f, err,
                                             sizeof(err));
    CHECK(r == 0 || r == -EBADMSG);
    if (r == 0)
        check_output(&out, f);
    else
        CHECK(err[0] != '\0');
    pr_buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    if (ctl_stats_msgpack_check(data, size, err, sizeof(err)) == 0) {
        msgpack_unpacked result;
        msgpack_unpacked_init(&result);
        size_t off = 0;
        msgpack_unpack_return ur = msgpack_unpack_next(
            &result, (const char *)data, size, &off);
        CHECK(ur == MSGPACK_UNPACK_SUCCESS && off == size);
        msgpack_unpacked_destroy(&result);
    } else {
        CHECK(err[0] != '\0');
    }
    for (int reply = 0; reply < 2; reply++) {
        format(data, size, reply, CTL_STATS_LINES);
        format(data, size, reply, CTL_STATS_JSON);
    }
    return 0;
}
