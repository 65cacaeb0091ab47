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


def pattern_pieces(n):
    """n bytes of the 251-byte cycle the test checks against, as pieces:
    one block of whole cycles (about 1 MiB), repeated, and the rest.  The
    n bytes are never made at once: a program that built its 8 MiB before
    the response head would spend most of its time before the head doing
    that, and on a loaded machine miss the test's 2 s head timeout; the
    backend of a case must only be as slow as the case says."""
    block = bytes(range(251)) * (MiB // 251 + 1)
    full, rest = divmod(n, len(block))
    return [block] * full + ([block[:rest]] if rest else [])


def pattern(n):
    """n bytes of the 251-byte cycle, at once."""
    return b''.join(pattern_pieces(n))


CT = b'Content-Type: application/octet-stream\r\n'


def response(mode, method, read_body):
    """(the pieces of the CGI output, the head first, what to do after
    them: 'end', 'close' (the connection or the program ends at once) or
    'hold' (nothing more for 30 s)).  Cheap to make: the pieces of a big
    body are one block repeated (pattern_pieces)."""
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
        return [CT + b'\r\n'] + pattern_pieces(HUGE), 'end'
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
            out.flush()     # the head goes out before the body
    except BrokenPipeError:
        os._exit(0)
    if after == 'hold':
        time.sleep(30)


if __name__ == '__main__':
    main()
