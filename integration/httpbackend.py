"""A small HTTP/1.1 backend on raw sockets for the proxy tests (not a test
file): keep-alive, Content-Length and chunked request bodies, echo of
what it received, large bodies, slow answers, and scripted raw
(malformed) responses.  It counts the connections it accepted.

Paths:
  /echo...        200, JSON of method, target, headers, body length and
                  SHA-256 (Content-Length)
  /chunked...     the same JSON, sent chunked in small chunks
  /big/N          N bytes of pattern() (Content-Length), in 1 MiB writes
  /bigcut/N/M     Content-Length N, M bytes of pattern(), then close
  /slow/S         waits S seconds, then 200 "slow"
  /raw/NAME       the bytes RAW[NAME], then closes the connection
  /status/N       status N with an empty body (Content-Length: 0)
  /stall/S        head (Content-Length: 100) and 10 bytes, then S seconds
                  of silence, then close
  /early/N        status N at once, without reading the request body,
                  then close
  .../redir       302 to http://127.0.0.1:PORT.../c (this backend)
  /drop-reused..  on a connection that served a request before: closed
                  without an answer (the keep-alive race); else /echo

`CountingServer` and `QuietHandler` are the other kind: an http.server
backend whose answers a suite writes itself, counting requests.
"""
import hashlib
import http.server
import json
import socket
import socketserver
import sys
import threading
import time
import traceback


class QuietHandler(http.server.BaseHTTPRequestHandler):
    """An HTTP/1.1 (keep-alive) request handler that logs nothing."""

    protocol_version = 'HTTP/1.1'

    def log_message(self, *a):
        pass


class CountingServer:
    """A threading http.server with a request handler class a suite
    writes (a QuietHandler), on 127.0.0.1 (`port`) or a unix socket
    (`port` None), serving from a daemon thread until stop().  The
    handler calls counted(target) for each request it wants counted;
    count(target) reads the number.  `lock` guards what the handler and
    the test share."""

    def __init__(self):
        self.counts = {}
        self.lock = threading.Lock()

    def serve(self, handler, unix_path=None):
        if unix_path is not None:
            self.server = socketserver.ThreadingUnixStreamServer(unix_path,
                                                                 handler)
            self.port = None
        else:
            self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0),
                                                          handler)
            self.port = self.server.server_address[1]
        self.server.daemon_threads = True
        self.thread = serve_in_thread(self.server)

    def counted(self, target):
        with self.lock:
            self.counts[target] = self.counts.get(target, 0) + 1

    def count(self, target):
        with self.lock:
            return self.counts.get(target, 0)

    def stop(self):
        """Stop serving, bounded in time (stop_serving())."""
        stop_serving(self.server, self.thread)


def serve_in_thread(server, poll_interval=0.5):
    """Run a socketserver's serve_forever() in a daemon thread; returns
    the thread.  The listener is made non-blocking first: serve_forever()
    polls, then accepts, and a blocking accept() would hang the loop when
    the polled connection is gone by then (accept(2) names that case);
    non-blocking, that accept() just fails."""
    server.socket.setblocking(False)
    thread = threading.Thread(target=server.serve_forever,
                              args=(poll_interval,), daemon=True)
    thread.start()
    return thread


def stop_serving(server, thread, seconds=5):
    """Stop a server that `thread` runs serve_forever() of, bounded in
    time: server.shutdown() alone waits for serve_forever() without a
    limit, so a serve loop stuck (in accept(), say) would hang the test's
    teardown for good.  The loop is asked to end; when it has not within
    `seconds`, the listener is shut down (that ends a blocked accept())
    and a RuntimeError says where the loop was stuck.  The listener is
    closed in any case."""
    stopper = threading.Thread(target=server.shutdown, daemon=True)
    stopper.start()
    stopper.join(timeout=seconds)
    where = None
    if stopper.is_alive():
        frame = sys._current_frames().get(thread.ident)
        where = ''.join(traceback.format_stack(frame)) if frame else '?'
        try:
            server.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        thread.join(timeout=seconds)
    server.server_close()
    if where is not None:
        raise RuntimeError('the test backend\'s serve loop did not stop '
                           'within %s s (%s after the listener was shut '
                           'down); it was at:\n%s' % (
                               seconds, 'still running' if thread.is_alive()
                               else 'ended', where))


def pattern(n, offset=0):
    """Deterministic bytes: 251-byte cycle (prime, so misaligned copies
    show)."""
    block = bytes(range(251)) * 4200   # about 1 MiB
    out = bytearray()
    pos = offset % 251
    while len(out) < n:
        out += block[pos:pos + (n - len(out))]
        pos = 0
    return bytes(out)


RAW = {
    'bare_lf': b'HTTP/1.1 200 OK\nContent-Length: 2\n\nok',
    'cl_te': b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n'
             b'Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
    'cl_differ': b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n'
                 b'Content-Length: 3\r\n\r\nok',
    'obs_fold': b'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 2\r\n'
                b'\r\nok',
    'nul': b'HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 2\r\n\r\nok',
    'bare_cr': b'HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 2\r\n\r\nok',
    'not_http': b'<html>hello</html>\r\n\r\n',
    'http2': b'HTTP/2.0 200 OK\r\n\r\n',
    'empty': b'',
    'head_cut': b'HTTP/1.1 200 OK\r\nContent-Le',
    'body_cut': b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b',
    'chunk_cut': b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
                 b'5\r\nhello\r\n',
    'bad_chunk': b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'
                 b'zz\r\nhello\r\n0\r\n\r\n',
    'te_gzip': b'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n'
               b'\r\n0\r\n\r\n',
    'close_delimited': b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n'
                       b'\r\nuntil the end',
    'continue_then_ok': b'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n'
                        b'Content-Length: 2\r\n\r\nok',
    'twice_continue': b'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 102 '
                      b'Processing\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n'
                      b'HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok',
    'continue_close': b'HTTP/1.1 100 Continue\r\n\r\n',
    'http10_close': b'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n'
                    b'one-zero',
    'status_600': b'HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n',
    'switching': b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n',
    'excess': b'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA',
}


class Backend:
    def __init__(self, family=socket.AF_INET, path=None):
        if family == socket.AF_UNIX:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(path)
            self.port = None
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.bind(('127.0.0.1', 0))
            self.port = self.sock.getsockname()[1]
        self.sock.listen(128)
        self.connections = 0
        self.requests = []
        self._lock = threading.Lock()
        self._stop = False
        self._conns = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self._stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
                self._conns.add(c)
            threading.Thread(target=self._serve, args=(c,),
                             daemon=True).start()

    def _serve(self, c):
        c.settimeout(30)
        buf = b''
        served = 0
        try:
            while True:
                while b'\r\n\r\n' not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, buf = buf.split(b'\r\n\r\n', 1)
                lines = head.decode('latin-1').split('\r\n')
                method, target, _ = lines[0].split(' ', 2)
                headers = [tuple(x.split(': ', 1)) for x in lines[1:]]
                hmap = {k.lower(): v for k, v in headers}
                if target.startswith('/early/'):
                    # answer without reading the request body, then close
                    c.sendall(b'HTTP/1.1 %s Early\r\nContent-Length: 5\r\n'
                              b'Connection: close\r\n\r\nearly'
                              % target[7:].encode())
                    return
                h = hashlib.sha256()
                n = 0
                if 'content-length' in hmap:
                    left = int(hmap['content-length'])
                    while left > 0:
                        if not buf:
                            buf = c.recv(1 << 20)
                            if not buf:
                                return
                        part, buf = buf[:left], buf[left:]
                        h.update(part)
                        n += len(part)
                        left -= len(part)
                elif hmap.get('transfer-encoding') == 'chunked':
                    while True:
                        while b'\r\n' not in buf:
                            buf += c.recv(65536)
                        size_line, buf = buf.split(b'\r\n', 1)
                        size = int(size_line.split(b';')[0], 16)
                        while len(buf) < size + 2:
                            d = c.recv(1 << 20)
                            if not d:
                                return
                            buf += d
                        h.update(buf[:size])
                        n += size
                        buf = buf[size + 2:]
                        if size == 0:
                            break
                info = {'method': method, 'target': target,
                        'headers': headers, 'length': n,
                        'sha256': h.hexdigest()}
                with self._lock:
                    self.requests.append(info)
                served += 1
                if target.startswith('/drop-reused') and served > 1:
                    return      # closed without an answer
                if not self._answer(c, method, target, info):
                    return
        except OSError:
            return
        finally:
            with self._lock:
                self._conns.discard(c)
            c.close()

    def _answer(self, c, method, target, info):
        """Send the response; False to close the connection."""
        head_only = method == 'HEAD'
        if target.startswith('/raw/'):
            c.sendall(RAW[target[5:].split('?')[0]])
            return False
        if target.startswith('/bigcut/'):
            n, m = (int(x) for x in target[8:].split('/'))
            c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n' % n)
            sent = 0
            while sent < m:
                part = pattern(min(1 << 20, m - sent), sent)
                c.sendall(part)
                sent += len(part)
            return False
        if target.startswith('/big/'):
            n = int(target[5:])
            c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n'
                      b'Content-Type: application/octet-stream\r\n\r\n' % n)
            if head_only:
                return True
            sent = 0
            while sent < n:
                part = pattern(min(1 << 20, n - sent), sent)
                c.sendall(part)
                sent += len(part)
            return True
        if target.startswith('/stall/'):
            c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n'
                      b'ten bytes.')
            time.sleep(float(target[7:]))
            return False
        if target.startswith('/slow/'):
            time.sleep(float(target[6:]))
            c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow')
            return True
        if target.endswith('/redir'):
            loc = 'http://127.0.0.1:%d%s/c' % (self.port,
                                              target.rsplit('/', 1)[0])
            c.sendall(b'HTTP/1.1 302 Found\r\nLocation: %s\r\n'
                      b'Content-Length: 0\r\n\r\n' % loc.encode())
            return True
        if target.startswith('/status/'):
            c.sendall(b'HTTP/1.1 %s X\r\nContent-Length: 0\r\n\r\n'
                      % target[8:].encode())
            return True
        body = json.dumps(info).encode()
        extra = (b'Content-Type: application/json\r\nX-Custom: yes\r\n'
                 b'ETag: "e1"\r\nSet-Cookie: a=b\r\n'
                 b'Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n')
        if target.startswith('/chunked'):
            out = b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n' + \
                extra + b'\r\n'
            if not head_only:
                for i in range(0, len(body), 7):
                    part = body[i:i + 7]
                    out += b'%x\r\n%s\r\n' % (len(part), part)
                out += b'0\r\n\r\n'
            c.sendall(out)
            return True
        out = b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n' % len(body) + \
            extra + b'\r\n'
        if not head_only:
            out += body
        c.sendall(out)
        return True
