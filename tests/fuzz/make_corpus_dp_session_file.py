#!/usr/bin/python3
"""Write the seed corpus of fuzz_dp_session_file
(tests/fuzz/corpus/fuzz_dp_session_file/): session save files
(dataplane/dp_session_file.h) written out by hand from the msgpack format:
empty, one and two sessions with realms, the wide encodings, and broken
ones (truncated, foreign, huge counts, NUL in text, a bad version).
Run it from anywhere; it (re)writes its own files only.
"""
import os
import struct

MAGIC = b'\xb0portier-sessions'


def head(n):
    return b'\x93' + MAGIC + b'\x01' + bytes([0x90 | n])


def session(idbyte, realms=(), translate=b'ab', site=b's'):
    out = (b'\x97\xc4\x10' + bytes([idbyte]) * 16 + b'\xcd\x12\x34'
           + b'\xc4' + bytes([len(translate)]) + translate + b'\xc0'
           + bytes([0xa0 | len(site)]) + site + b'\xc0'
           + bytes([0x90 | len(realms)]))
    for name, user in realms:
        out += (b'\x94' + bytes([0xa0 | len(name)]) + name
                + (bytes([0xa0 | len(user)]) + user if user else b'\xc0')
                + b'\xce' + struct.pack('>I', 70000) + b'\xc0')
    return out


FILES = {
    'empty': head(0),
    'one': head(1) + session(0x11, [(b'h', b'u')]),
    'two': head(2) + session(0x11, [(b'h', b'u'), (b'k', None)])
    + session(0x22),
    'wide': (b'\xdc\x00\x03\xd9\x10portier-sessions'
             + b'\xcf' + struct.pack('>Q', 1) + b'\xdd\x00\x00\x00\x01'
             + b'\x97\xc5\x00\x10' + b'\x33' * 16 + b'\xce\x00\x01\x00\x00'
             + b'\xc0\xc6\x00\x00\x00\x01A\xc0\xda\x00\x02de\x90'),
    'truncated': (head(1) + session(0x11, [(b'h', b'u')]))[:40],
    'foreign_json': b'{"sessions": []}\n',
    'huge_count': b'\x93' + MAGIC + b'\x01\xdd\xff\xff\xff\xff',
    'nul_site': head(1) + session(0x11, site=b'a\x00b'),
    'version2': b'\x93' + MAGIC + b'\x02\x90',
    'trailing': head(0) + b'\x00',
}


def main():
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus',
                     'fuzz_dp_session_file')
    os.makedirs(d, exist_ok=True)
    for name, data in FILES.items():
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)


if __name__ == '__main__':
    main()
