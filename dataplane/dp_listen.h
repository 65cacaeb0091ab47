/*
 * dp_listen: listening sockets from configured addresses.
 *
 * Promises: dp_listen_open() returns a non-blocking, close-on-exec socket
 * that is bound and listening with the options of the listener block
 * (SO_REUSEADDR always for TCP; SO_REUSEPORT, IP_FREEBIND, SO_KEEPALIVE,
 * IPV6_V6ONLY, SO_BINDTODEVICE, TCP_USER_TIMEOUT when configured, TCP
 * Fast Open and TCP_DEFER_ACCEPT where available), or -1 with a message
 * naming the address and the failing call ("bind 127.0.0.1:80: Address
 * already in use").  A stale unix socket file is replaced; an abstract
 * socket has no file.
 */
#ifndef PORTIER_DP_LISTEN_H
#define PORTIER_DP_LISTEN_H

#include "dp_config.h"

#include <stddef.h>

#define DP_LISTEN_BACKLOG 1024

int
dp_listen_open(const struct dp_config_listener *listener, char *err,
               size_t errlen);

#endif
