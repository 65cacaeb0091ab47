#!/usr/bin/python3
"""edge_fcgi: a misbehaving FastCGI application for the backend edge-case
table (integration/test_backend_edges.py), speaking the record protocol
itself so it can break it.  portierd spawns it with the listener on fd 0
(spec/protocols.md §6.2); one connection and one request at a time.  It
answers what edge_cgi.py would print, in STDOUT records; 'close' ends the
connection and the program, 'hold' goes silent for 30 s."""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import edge_cgi  # noqa: E402

BEGIN, ABORT, END, PARAMS, STDIN, STDOUT = 1, 2, 3, 4, 5, 6


def record(rtype, rid, content=b''):
    pad = -len(content) % 8
    return struct.pack('>BBHHBB', 1, rtype, rid, len(content), pad, 0) + \
        content + b'\0' * pad


def end_request(rid):
    return record(END, rid, struct.pack('>IB3x', 0, 0))


def pairs(data):
    out, pos = {}, 0

    def length():
        nonlocal pos
        if data[pos] < 128:
            pos += 1
            return data[pos - 1]
        v = struct.unpack_from('>I', data, pos)[0] & 0x7fffffff
        pos += 4
        return v
    while pos < len(data):
        n = length()
        v = length()
        out[data[pos:pos + n].decode('latin-1')] = \
            data[pos + n:pos + n + v].decode('latin-1')
        pos += n + v
    return out


class Closed(Exception):
    pass


def read_exact(conn, n):
    data = b''
    while len(data) < n:
        d = conn.recv(n - len(data))
        if not d:
            raise Closed
        data += d
    return data


def serve(conn):
    rid, params, stdin, done, keep = 0, b'', b'', True, False
    env = {}

    def respond():
        pieces, after = edge_cgi.response(
            edge_cgi.mode_of(env.get('REQUEST_URI', '')),
            env.get('REQUEST_METHOD', 'GET'), lambda: stdin)
        for p in pieces:
            for i in range(0, len(p), 32768):
                conn.sendall(record(STDOUT, rid, p[i:i + 32768]))
        if after == 'close':
            conn.close()
            sys.exit(0)
        if after == 'hold':
            time.sleep(30)
            sys.exit(0)
        conn.sendall(record(STDOUT, rid) + end_request(rid))

    while True:
        h = read_exact(conn, 8)
        _, rtype, r, clen, plen, _ = struct.unpack('>BBHHBB', h)
        content = read_exact(conn, clen + plen)[:clen]
        if rtype == BEGIN:
            rid, params, stdin, done = r, b'', b'', False
            keep = bool(content[2] & 1)
            env = {}
        elif r != rid or done:
            continue                # a record of a finished request
        elif rtype == PARAMS:
            params += content
            if clen == 0:
                env = pairs(params)
                if edge_cgi.mode_of(env.get('REQUEST_URI', '')) == 'ignore':
                    respond()
                    done = True
        elif rtype == STDIN:
            stdin += content
            if clen == 0:
                respond()
                done = True
        elif rtype == ABORT:
            conn.sendall(end_request(rid))
            done = True
        if done and not keep:
            return


def main():
    listener = socket.socket(fileno=0)
    while True:
        conn, _ = listener.accept()
        try:
            serve(conn)
        except (Closed, OSError):
            pass
        finally:
            conn.close()


if __name__ == '__main__':
    main()
