/*
 * dp_msgpack: see dp_msgpack.h.
 */
#include "dp_msgpack.h"

#include <string.h>

int
dp_msgpack_write(void *data, const char *buf, size_t len)
{
    struct dp_msgpack_out *o = data;
    if (o->failed || pr_buf_append(&o->buf, buf, len) != 0) {
        o->failed = true;
        return -1;
    }
    return 0;
}

void
dp_msgpack_key(msgpack_packer *pk, const char *key)
{
    size_t n = strlen(key);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, key, n);
}
