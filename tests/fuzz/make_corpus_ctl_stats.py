#!/usr/bin/python3
"""Write the seed corpus of fuzz_ctl_stats (tests/fuzz/corpus/fuzz_ctl_stats/):
STATS reply datagrams (spec §2.5 framing: length:u16 BE, command:u16 BE,
payload) and bare payloads: msgpack maps using every msgpack type, the
120-byte binary STATS struct, and malformed ones (truncated, huge counts,
deep nesting, wrong command).

The msgpack bytes are written out by hand from the msgpack format (no
encoder).  Run it from anywhere; it (re)writes its own files and leaves
any other file there alone.
"""
import os
import struct
import sys

from corpus_lib import write_corpus


def reply(payload, command=6, magic=False, pad=0):
    head = struct.pack('>I', 0x63046101) if magic else b''
    return (head + struct.pack('>HH', len(payload), command) + payload
            + b'\0' * pad)


def fixstr(s):
    b = s.encode()
    assert len(b) < 32
    return bytes([0xa0 | len(b)]) + b


MAP = (b'\x8b'
       + fixstr('connections') + b'\x03'
       + fixstr('requests') + b'\x82' + fixstr('2xx') + b'\x0a'
       + fixstr('5xx') + b'\xcc\xff'
       + fixstr('workers') + b'\x92' + b'\x81' + fixstr('c') + b'\x01'
       + b'\x81' + fixstr('c') + b'\xcd\x01\x2c'
       + fixstr('bytes') + b'\xcf' + struct.pack('>Q', 2 ** 40)
       + fixstr('ratio') + b'\xcb' + struct.pack('>d', 0.5)
       + fixstr('f32') + b'\xca' + struct.pack('>f', 1.5)
       + fixstr('delta') + b'\xd3' + struct.pack('>q', -2 ** 63)
       + fixstr('none') + b'\xc0'
       + fixstr('up') + b'\xc3'
       + fixstr('name') + b'\xd9\x06' + b'a"b\n\xc3\xa9'
       + fixstr('id') + b'\xc4\x02\x01\xff')

ODD_KEYS = (b'\x85'
            + b'\x01' + b'\xa0'
            + b'\xff' + b'\x90'
            + b'\xc0' + b'\x80'
            + b'\x81\x01\x02' + b'\xd4\x05\x2a'
            + b'\x92\xc2\xc3' + b'\xc7\x01\x05\x00')

STRINGS = (b'\x83'
           + fixstr('ctl') + b'\xa6' + b'\x01\t\x7f\\\x00"'
           + fixstr('bad') + b'\xa6' + b'\x80\xc0\xaf\xed\xa0\x80'
           + fixstr('long') + b'\xda\x00\x28' + b'x' * 40)

LEGACY = (struct.pack('>IIII', 1, 2, 3, 4)
          + struct.pack('>13Q', *range(100, 113)))


def corpus():
    files = {
        'reply_map': reply(MAP),
        'reply_map_magic': reply(MAP, magic=True),
        'reply_map_padded': reply(b'\x81\x01\x02', pad=1),
        'reply_odd_keys': reply(ODD_KEYS),
        'reply_strings': reply(STRINGS),
        'reply_empty_map': reply(b'\x80'),
        'reply_map16': reply(b'\xde\x00\x01\x01\x02'),
        'reply_map32': reply(b'\xdf\x00\x00\x00\x01\x01\x02'),
        'reply_legacy': reply(LEGACY),
        'reply_wrong_command': reply(b'\x80', command=4),
        'reply_truncated': reply(MAP)[:-3],
        'reply_extra_bytes': reply(b'\x80') + b'\0\0\0\0',
        'reply_array_top': reply(b'\x91\x01'),
        'reply_huge_array': reply(b'\x81\xa1a\xdd\xff\xff\xff\xff'),
        'reply_huge_map': reply(b'\xdf\xff\xff\xff\xff\x00'),
        'reply_huge_str': reply(b'\x81\xa1a\xdb\xff\xff\xff\xff'),
        'reply_deep_16': reply(b'\x81\x00' + b'\x91' * 14 + b'\x90'),
        'reply_deep_17': reply(b'\x81\x00' + b'\x91' * 15 + b'\x90'),
        'reply_deep_40': reply(b'\x81\x00' + b'\x91' * 38 + b'\x90'),
        'reply_marker_c1': reply(b'\x81\x00\xc1'),
        'reply_short': b'\x00\x01',
        'payload_map': MAP,
        'payload_legacy': LEGACY,
        'payload_odd_keys': ODD_KEYS,
        'payload_trailing': b'\x80\x80',
    }
    return files


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = os.path.join(here, 'corpus', 'fuzz_ctl_stats')
    count = write_corpus(out, corpus())
    print('%d files in %s' % (count, out), file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
