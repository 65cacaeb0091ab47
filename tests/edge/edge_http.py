#!/usr/bin/python3
"""edge_http: a misbehaving HTTP/1.1 server for the backend edge-case table
(integration/test_backend_edges.py).  It accepts on the listening socket
it inherits as fd 0: the test starts it so for the HTTP kind, portierd
spawns it as a local HTTP server (LHTTP_PATH) for the LHTTP kind.  One
thread per connection, keep-alive.  The second segment of the request
target picks what it does (/edge/MODE/...); see MODES in the test."""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from edge_cgi import HUGE, MiB, STREAM, pattern, pattern_pieces  # noqa: E402


def head(status=200, length=None, extra=b''):
    h = b'HTTP/1.1 %d X\r\nContent-Type: application/octet-stream\r\n' \
        % status
    if length is not None:
        h += b'Content-Length: %d\r\n' % length
    return h + extra + b'\r\n'


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b''

    def recv_more(self):
        d = self.sock.recv(MiB)
        if not d:
            raise EOFError
        self.buf += d

    def line(self):
        while b'\r\n' not in self.buf:
            self.recv_more()
        line, self.buf = self.buf.split(b'\r\n', 1)
        return line

    def read(self, n):
        while len(self.buf) < n:
            self.recv_more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def request(self):
        """(method, target, headers dict); the body is left unread."""
        while b'\r\n\r\n' not in self.buf:
            self.recv_more()
        h, self.buf = self.buf.split(b'\r\n\r\n', 1)
        lines = h.decode('latin-1').split('\r\n')
        method, target, _ = lines[0].split(' ', 2)
        headers = {}
        for x in lines[1:]:
            k, _, v = x.partition(':')
            headers[k.strip().lower()] = v.strip()
        return method, target, headers

    def body(self, headers):
        if 'content-length' in headers:
            return self.read(int(headers['content-length']))
        if headers.get('transfer-encoding', '').lower() == 'chunked':
            out = b''
            while True:
                size = int(self.line().split(b';')[0], 16)
                out += self.read(size)
                self.read(2)
                if size == 0:
                    return out
        return b''


def serve(sock):
    c = Conn(sock)
    s = sock.sendall
    try:
        while True:
            method, target, headers = c.request()
            mode = (target.split('?')[0].split('/') + ['', '', ''])[2]
            if mode == 'ignore':
                # answer without reading the body, then close
                s(head(200, 7, b'Connection: close\r\n') + b'ignored')
                return
            data = c.body(headers)
            body = None if method == 'HEAD' else True
            if mode == 'empty':
                s(head(200, 0))
            elif mode == 'body':
                s(head(200, 11) + (b'hello world' if body else b''))
            elif mode == 'huge':
                s(head(200, HUGE))
                if body:
                    for p in pattern_pieces(HUGE):
                        s(p)
            elif mode == 'stream':
                s(head(200, STREAM))
                block = pattern(MiB)
                for _ in range(STREAM // MiB):
                    s(block)
            elif mode == 'echo':
                s(head(200, len(data)) + data)
            elif mode == 'slow':
                time.sleep(0.5)
                s(head(200, 4) + b'slow')
            elif mode == 'close_head':
                s(b'HTTP/1.1 200 OK\r\nContent-Le')
                return
            elif mode == 'premature_end':
                s(head(200, 100) + b'ten bytes.')
                return
            elif mode == 'excess':
                # and keep the connection: a client that reuses it reads
                # "EXTRA" as the next response
                s(head(200, 2) + b'okEXTRA')
            elif mode == 'bad_name':
                s(head(200, 2, b'Bad Name: x\r\n') + b'ok')
            elif mode == 'bad_value':
                s(head(200, 2, b'X-A: a\x00b\r\n') + b'ok')
            elif mode == 'bogus100':
                s(b'HTTP/1.1 100 Continue\r\n\r\n' + head(200, 2) + b'ok')
            elif mode == 'twice100':
                s(b'HTTP/1.1 100 Continue\r\n\r\n'
                  b'HTTP/1.1 102 Processing\r\n\r\n'
                  b'HTTP/1.1 100 Continue\r\n\r\n' + head(201, 2) + b'ok')
            elif mode == 'close100':
                s(b'HTTP/1.1 100 Continue\r\n\r\n')
                return
            elif mode == 'hold':
                s(head(200, 100) + b'ten bytes.')
                time.sleep(30)
                return
            else:
                s(head(404, 0))
    except (EOFError, OSError):
        pass
    finally:
        sock.close()


def main():
    listener = socket.socket(fileno=0)
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            sys.exit(0)
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == '__main__':
    main()
