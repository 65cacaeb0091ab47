#!/usr/bin/python3
"""Write the seed corpus of fuzz_was_protocol
(tests/fuzz/corpus/fuzz_was_protocol/): what libwas' hello sends (spec
§3.5), a full request as beng-proxy sends it (§3.4), STOP/PREMATURE
exchanges, METRIC packets, and broken streams (unknown commands, wrong
payload sizes, bad statuses, bad header names, truncated packets).

Packets are little-endian (host order on x86-64/arm64, where the corpus
is replayed).  The bytes follow spec/protocols.md §3 directly (this
script does not use our encoder).  It (re)writes its own files and leaves
any other file there alone.
"""
import os
import struct
import sys

(NOP, REQUEST, METHOD, URI, SCRIPT_NAME, PATH_INFO, QUERY_STRING, HEADER,
 PARAMETER, STATUS, NO_DATA, DATA, LENGTH, STOP, PREMATURE, REMOTE_HOST,
 METRIC, DOCUMENT_ROOT, TLS) = range(19)


def pkt(command, payload=b''):
    return struct.pack('<HH', len(payload), command) + payload


def u32(v):
    return struct.pack('<I', v)


def u16(v):
    return struct.pack('<H', v)


def u64(v):
    return struct.pack('<Q', v)


def corpus():
    f = {}
    f['hello'] = (pkt(STATUS, u32(200)) +
                  pkt(HEADER, b'content-type=text/plain') + pkt(DATA) +
                  pkt(LENGTH, u64(14)))
    f['status_u16_no_data'] = pkt(STATUS, u16(204)) + pkt(NO_DATA)
    f['headers'] = (pkt(STATUS, u32(404)) +
                    b''.join(pkt(HEADER, b'x-h%d=v%d' % (i, i))
                             for i in range(12)) +
                    pkt(HEADER, b'set-cookie=a=b; Path=/') + pkt(NO_DATA))
    f['stop_premature'] = (pkt(STOP) + pkt(STATUS, u32(200)) + pkt(DATA) +
                           pkt(PREMATURE, u64(4096)))
    f['metric'] = (pkt(METRIC, struct.pack('<f', 2.5) + b'db_queries') +
                   pkt(METRIC, struct.pack('<f', -1e10) + b'x_1'))
    f['nop'] = pkt(NOP, b'ignored') + pkt(NOP)
    f['request'] = (pkt(REQUEST) + pkt(METRIC) + pkt(METHOD, u32(3)) +
                    pkt(URI, b'/app/x?y=1') + pkt(SCRIPT_NAME, b'/app') +
                    pkt(PATH_INFO, b'/x') + pkt(QUERY_STRING, b'y=1') +
                    pkt(HEADER, b'host=example.com') +
                    pkt(PARAMETER, b'key=value') +
                    pkt(REMOTE_HOST, b'2001:db8::1') + pkt(TLS) +
                    pkt(DOCUMENT_ROOT, b'/var/www') + pkt(DATA) +
                    pkt(LENGTH, u64(5)))
    f['request_get_u16'] = (pkt(REQUEST) + pkt(METHOD, u16(1)) +
                            pkt(URI, b'/') + pkt(NO_DATA))
    f['unknown'] = pkt(19) + pkt(0xffff, b'x')
    f['wrong_direction'] = pkt(URI, b'/')
    f['bad_sizes'] = pkt(STATUS, b'\xc8\0\0') + pkt(LENGTH, u32(1))
    f['bad_status'] = pkt(STATUS, u32(99))
    f['bad_method'] = pkt(METHOD, u32(18))
    f['bad_header'] = pkt(HEADER, b'a b=c') + pkt(HEADER, b'noequals')
    f['header_ctl'] = pkt(HEADER, b'a=b\x01')
    f['length_huge'] = pkt(LENGTH, u64(1 << 63))
    f['metric_nan'] = pkt(METRIC, b'\0\0\xc0\x7fname')
    f['metric_bad_name'] = pkt(METRIC, struct.pack('<f', 1) + b'a-b')
    f['truncated_header'] = pkt(STATUS, u32(200))[:3]
    f['truncated_payload'] = pkt(HEADER, b'content-type=text/html')[:10]
    f['big_header'] = pkt(HEADER, b'x=' + b'v' * 8190)
    return f


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus',
                       'fuzz_was_protocol')
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(corpus().items()):
        with open(os.path.join(out, name), 'wb') as fh:
            fh.write(data)
    return 0


if __name__ == '__main__':
    sys.exit(main())
