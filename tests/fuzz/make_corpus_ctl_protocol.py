#!/usr/bin/python3
"""Write the seed corpus of fuzz_ctl_protocol
(tests/fuzz/corpus/fuzz_ctl_protocol/): one datagram per control command,
batches, NUL and space padding, and malformed datagrams and
TCACHE_INVALIDATE payloads.

The bytes follow spec/protocols.md §2 directly (this script does not use
our encoder).  Run it from anywhere; it (re)writes its own files and
leaves any other file there (e.g. a crash reproducer added later) alone.
"""
import os
import struct
import sys

from corpus_lib import write_corpus

MAGIC = struct.pack('>I', 0x63046101)


def packet(command, payload=b'', pad=b'\0'):
    """One control (or TCACHE_INVALIDATE) packet, big-endian header."""
    padding = (4 - len(payload) % 4) % 4
    return struct.pack('>HH', len(payload), command) + payload + pad * padding


def datagram(*packets):
    return MAGIC + b''.join(packets)


# translation command numbers (spec §1.4)
URI, HOST, SESSION, PARAM, USER, LANGUAGE, REMOTE_HOST, SITE = \
    4, 3, 12, 13, 14, 15, 16, 18
USER_AGENT, QUERY_STRING, ENOTDIR, LISTENER_TAG = 35, 38, 130, 148
INTERNAL_REDIRECT, CACHE_TAG, REALM_SESSION, STATUS = 163, 208, 245, 5

TCACHE_FULL = b''.join([
    packet(URI, b'/foo'),
    packet(HOST, b'example.com'),
    packet(SITE, b's1'),
    packet(SESSION, b'\0\xff'),
    packet(REALM_SESSION, b'realm'),
    packet(PARAM, b'p'),
    packet(LISTENER_TAG, b'l1'),
    packet(REMOTE_HOST, b'192.0.2.1'),
    packet(LANGUAGE, b'de'),
    packet(USER_AGENT, b'curl/8.0'),
    packet(QUERY_STRING, b'a=b'),
    packet(INTERNAL_REDIRECT, b'\0ir'),
    packet(ENOTDIR, b'/x'),
    packet(USER, b''),
    packet(CACHE_TAG, b't'),
])

# one valid payload per control command (spec §2.3), by number
SINGLE = [
    ('NOP', b''),
    ('TCACHE_INVALIDATE', TCACHE_FULL),
    ('ENABLE_NODE', b'web1:80'),
    ('FADE_NODE', b'web2:8080'),
    ('NODE_STATUS', b'web1:80'),
    ('DUMP_POOLS', b''),
    ('STATS', b''),
    ('VERBOSE', b'\x05'),
    ('FADE_CHILDREN', b'foo'),
    ('DISABLE_ZEROCONF', b''),
    ('ENABLE_ZEROCONF', b''),
    ('FLUSH_NFS_CACHE', b''),
    ('FLUSH_FILTER_CACHE', b'ftag'),
    ('STOPWATCH_PIPE', b''),
    ('DISCARD_SESSION', b'0123456789abcdef'),
    ('FLUSH_HTTP_CACHE', b'htag1'),
    ('TERMINATE_CHILDREN', b'child'),
    ('DISABLE_QUEUE', b'q'),
    ('ENABLE_QUEUE', b''),
    ('RELOAD_STATE', b''),
    ('DISCONNECT_DATABASE', b'account'),
    ('DISABLE_URING', struct.pack('>I', 60)),
    ('RESET_LIMITER', b'site'),
    ('REJECT_CLIENT', struct.pack('>I', 300) + b'192.0.2.7'),
    ('TARPIT_CLIENT', struct.pack('>I', 60) + b'2001:db8::1'),
    ('CANCEL_JOB', b'partition\0job42'),
    ('EXPIRE_TCACHE_TAG', b'tag1'),
]


def corpus():
    files = {}
    for number, (name, payload) in enumerate(SINGLE):
        # alternate the padding: spaces (Python client) and NUL (C++)
        pad = b' ' if number % 2 == 0 else b'\0'
        files['cmd_%02d_%s' % (number, name.lower())] = \
            datagram(packet(number, payload, pad))

    files['batch_all_commands'] = datagram(
        *[packet(n, p) for n, (_, p) in enumerate(SINGLE)])
    files['batch_space_padding'] = datagram(
        packet(8, b'a', b' '), packet(15, b'ab', b' '),
        packet(12, b'abc', b' '), packet(0))
    files['magic_only'] = MAGIC
    files['bad_magic'] = struct.pack('>I', 0x63046102) + packet(0)
    # the spec example without its padding byte: "odd control packet"
    files['odd_length'] = datagram(struct.pack('>HH', 3, 8) + b'foo')
    files['truncated_header'] = datagram(packet(0)) + b'\0\0'
    files['truncated_payload'] = datagram(
        packet(19), struct.pack('>HH', 8, 14) + b'ABCD')
    files['unknown_commands'] = datagram(
        packet(27, b'A'), packet(0xffff), packet(19))
    files['malformed_payloads'] = datagram(
        packet(7, b'\x01\x02'), packet(14), packet(26),
        packet(1, packet(STATUS, b'20')), packet(21, b'\0\0\x3c'),
        packet(23, b'\0\0\0\x01'), packet(25, b'nojob'), packet(2, b'web1'))
    files['tcache_33_values'] = datagram(
        packet(1, packet(URI) * 33))
    files['tcache_duplicates'] = datagram(packet(1, b''.join([
        packet(URI, b'/a'), packet(HOST, b'h'), packet(URI, b'/b'),
        packet(SITE, b'1'), packet(SITE, b'2')])))
    # a bare TCACHE_INVALIDATE payload (the target decodes its input as
    # one, too)
    files['tcache_bare_payload'] = TCACHE_FULL
    return files


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, 'corpus', 'fuzz_ctl_protocol')
    count = write_corpus(out, corpus())
    print('%d files in %s' % (count, out), file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
