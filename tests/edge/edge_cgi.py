#!/usr/bin/python3
"""edge_cgi: a misbehaving CGI program for the backend edge-case table
(integration/test_backend_edges.py); edge_fcgi.py sends the same output
in FastCGI records.  The second segment of REQUEST_URI picks what it does
(/edge/MODE/...); see MODES in the test."""
import os
import sys
import time

MiB = 1 << 20
HUGE = 8 * MiB
STREAM = 256 * MiB


def pattern(n):
    """n bytes of the 251-byte cycle the test checks against."""
    block = bytes(range(251)) * (MiB // 251 + 1)
    out = bytearray()
    while len(out) < n:
        out += block[:n - len(out)]
    return bytes(out)


CT = b'Content-Type: application/octet-stream\r\n'


def response(mode, method, read_body):
    """(the pieces of the CGI output, what to do after them: 'end',
    'close' (the connection or the program ends at once) or 'hold'
    (nothing more for 30 s))."""
    if mode == 'ignore':
        return [CT + b'\r\nignored'], 'end'
    if mode == 'echo':
        data = read_body()
        return [CT + b'Content-Length: %d\r\n\r\n' % len(data), data], 'end'
    if mode == 'empty':
        return [CT + b'\r\n'], 'end'
    if mode == 'body':
        return [CT + b'\r\nhello world'], 'end'
    if mode == 'huge':
        return [CT + b'\r\n', pattern(HUGE)], 'end'
    if mode == 'stream':
        block = pattern(MiB)
        return [CT + b'\r\n'] + [block] * (STREAM // MiB), 'end'
    if mode == 'slow':
        time.sleep(0.5)
        return [CT + b'\r\nslow'], 'end'
    if mode == 'close_head':
        return [b'Content-Type: text/pl'], 'close'
    if mode == 'premature_end':
        return [CT + b'Content-Length: 100\r\n\r\nten bytes.'], 'close'
    if mode == 'excess':
        return [CT + b'Content-Length: 2\r\n\r\nokEXTRA'], 'end'
    if mode == 'bad_name':
        return [CT + b'Bad Name: x\r\n\r\nok'], 'end'
    if mode == 'bad_value':
        return [CT + b'X-A: a\x00b\r\n\r\nok'], 'end'
    if mode == 'status100':
        return [b'Status: 100 Continue\r\n' + CT + b'\r\nok'], 'end'
    if mode == 'hold':
        return [CT + b'Content-Length: 100\r\n\r\nten bytes.'], 'hold'
    return [b'Status: 404 Not Found\r\n\r\n'], 'end'


def mode_of(uri):
    return (uri.split('?')[0].split('/') + ['', '', ''])[2]


def main():
    env = os.environ

    def read_body():
        n = int(env.get('CONTENT_LENGTH') or 0)
        out = bytearray()
        while len(out) < n:
            d = os.read(0, min(MiB, n - len(out)))
            if not d:
                break
            out += d
        return bytes(out)

    pieces, after = response(mode_of(env.get('REQUEST_URI', '')),
                             env.get('REQUEST_METHOD', 'GET'), read_body)
    out = sys.stdout.buffer
    try:
        for p in pieces:
            out.write(p)
        out.flush()
    except BrokenPipeError:
        os._exit(0)
    if after == 'hold':
        time.sleep(30)


if __name__ == '__main__':
    main()
