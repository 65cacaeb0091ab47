#!/usr/bin/python3
"""Write the seed corpus of fuzz_fcgi_codec
(tests/fuzz/corpus/fuzz_fcgi_codec/): application answers for request id
1 (plain, padded, with management records, with STDERR), broken streams
(bad version, other request id, forbidden types, bad lengths, truncated),
and name-value pair blocks.

The bytes follow the FastCGI 1.0 specification directly (this script does
not use our encoder).  It (re)writes its own files and leaves any other
file there (e.g. a crash reproducer added later) alone.
"""
import os
import struct
import sys

(BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR,
 DATA, GET_VALUES, GET_VALUES_RESULT, UNKNOWN_TYPE) = range(1, 12)


def record(rtype, content=b'', rid=1, pad=0, version=1, clen=None):
    if clen is None:
        clen = len(content)
    return (struct.pack('>BBHHBB', version, rtype, rid, clen, pad, 0) +
            content + b'\0' * pad)


def end(app=0, proto=0, rid=1, pad=0):
    return record(END_REQUEST, struct.pack('>IB3x', app, proto), rid, pad)


def nv_len(n):
    return bytes([n]) if n < 128 else struct.pack('>I', n | 0x80000000)


def nv(name, value):
    return nv_len(len(name)) + nv_len(len(value)) + name + value


def corpus():
    head = b'Status: 200 OK\r\nContent-Type: text/plain\r\n\r\n'
    f = {}
    f['hello'] = (record(STDOUT, head + b'Hello, world!\n') +
                  record(STDOUT) + end())
    f['padded'] = (record(STDOUT, b'abc', pad=5) + record(STDERR, b'x', pad=7)
                   + record(STDOUT, pad=3) + record(STDERR) + end(pad=8))
    f['management'] = (record(GET_VALUES_RESULT,
                              nv(b'FCGI_MAX_CONNS', b'10') +
                              nv(b'FCGI_MPXS_CONNS', b'0'), rid=0) +
                       record(UNKNOWN_TYPE, b'\x2a' + b'\0' * 7, rid=0) +
                       record(STDOUT, b'x') + end(7, 0))
    f['statuses'] = end(0xffffffff, 3)
    f['many_records'] = b''.join(record(STDOUT, bytes([i]) * i)
                                 for i in range(1, 40)) + end()
    f['big_record'] = record(STDOUT, b'B' * 3000) + end()
    f['bad_version'] = record(STDOUT, b'x', version=2)
    f['other_id'] = record(STDOUT, b'x', rid=2)
    f['id_zero'] = record(STDERR, b'x', rid=0)
    f['forbidden'] = (record(PARAMS) +
                      record(BEGIN_REQUEST, b'\0\1\1' + b'\0' * 5))
    f['unknown_type'] = record(12, b'abc')
    f['end_length'] = record(END_REQUEST, b'\0' * 9)
    f['gvr_big'] = record(GET_VALUES_RESULT, b'\0' * 1100, rid=0)
    f['after_end'] = record(STDOUT) + record(STDOUT, b'x') + end()
    f['trailing'] = end() + b'\x01'
    f['truncated_header'] = record(STDOUT, b'abc')[:5]
    f['truncated_content'] = record(STDOUT, b'abcdef')[:11]
    f['truncated_padding'] = end(pad=4)[:18]
    f['nv_pairs'] = (nv(b'SCRIPT_NAME', b'/x') + nv(b'A' * 130, b'v' * 200)
                     + nv(b'', b'') + b'\x80\x00\x00\x01\x00Z')
    f['nv_truncated'] = nv(b'NAME', b'value')[:-2]
    return f


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus',
                       'fuzz_fcgi_codec')
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(corpus().items()):
        with open(os.path.join(out, name), 'wb') as fh:
            fh.write(data)
    return 0


if __name__ == '__main__':
    sys.exit(main())
