"""The container side of WAS (spec/protocols.md §3) in Python, byte-exact
and independent of portierd: starts a WAS application with a socketpair
on fd 3 and pipes on fds 0 and 1, sends request packets, reads response
packets and body bytes.  Used by test_was_app.py to test the was_app
library (was/was_app.c) through the programs built on it.

Packets are struct was_header {u16 length; u16 command} in host order
(little-endian here) plus the payload."""
import os
import select
import signal
import socket
import struct
import subprocess
import time

NOP, REQUEST, METHOD, URI, SCRIPT_NAME, PATH_INFO, QUERY_STRING, HEADER, \
    PARAMETER, STATUS, NO_DATA, DATA, LENGTH, STOP, PREMATURE, \
    REMOTE_HOST, METRIC, DOCUMENT_ROOT, TLS = range(19)

NAMES = ['NOP', 'REQUEST', 'METHOD', 'URI', 'SCRIPT_NAME', 'PATH_INFO',
         'QUERY_STRING', 'HEADER', 'PARAMETER', 'STATUS', 'NO_DATA', 'DATA',
         'LENGTH', 'STOP', 'PREMATURE', 'REMOTE_HOST', 'METRIC',
         'DOCUMENT_ROOT', 'TLS']

METHODS = {'HEAD': 1, 'GET': 2, 'POST': 3, 'PUT': 4, 'DELETE': 5}


def packet(command, payload=b''):
    if isinstance(payload, str):
        payload = payload.encode()
    return struct.pack('=HH', len(payload), command) + payload


def u64(command, value):
    return packet(command, struct.pack('=Q', value))


class App:
    """One WAS application process and the container's ends."""

    def __init__(self, argv, timeout=10):
        self.timeout = timeout
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        req_r, self.req_w = os.pipe()
        self.resp_r, resp_w = os.pipe()
        fd = theirs.fileno()
        self.proc = subprocess.Popen(
            ['/bin/bash', '-c', 'exec "$@" 3<&%d %d<&-' % (fd, fd), 'bash']
            + list(argv),
            stdin=req_r, stdout=resp_w, pass_fds=(fd,))
        theirs.close()
        os.close(req_r)
        os.close(resp_w)
        self.control = ours
        self.control.settimeout(timeout)
        self.buf = b''

    # -- container to application
    def send(self, *packets):
        self.control.sendall(b''.join(packets))

    def request(self, uri, method='GET', headers=(), body=None,
                length=True, extra=()):
        """Send one request's metadata; body=None: NO_DATA."""
        p = [packet(REQUEST)]
        if method != 'GET':
            p.append(packet(METHOD, struct.pack('=I', METHODS[method])))
        p.append(packet(URI, uri))
        if '?' in uri:
            p.append(packet(QUERY_STRING, uri.split('?', 1)[1]))
        for n, v in headers:
            p.append(packet(HEADER, '%s=%s' % (n, v)))
        p += list(extra)
        if body is None:
            p.append(packet(NO_DATA))
        else:
            p.append(packet(DATA))
            if length:
                p.append(u64(LENGTH, len(body)))
        self.send(*p)

    def write_body(self, data):
        """Write data into the request pipe; an AssertionError when the
        application takes nothing from it for `timeout` seconds."""
        os.set_blocking(self.req_w, False)
        view = memoryview(data)
        while view:
            _, w, _ = select.select([], [self.req_w], [], self.timeout)
            if not w:
                raise AssertionError(
                    'the application read nothing of the request body '
                    'pipe for %s s (%d bytes left)' % (self.timeout,
                                                      len(view)))
            try:
                n = os.write(self.req_w, view[:65536])
            except BlockingIOError:
                continue
            view = view[n:]

    # -- application to container
    def packet(self):
        """The next control packet: (command, payload)."""
        while True:
            if len(self.buf) >= 4:
                n, cmd = struct.unpack('=HH', self.buf[:4])
                if len(self.buf) >= 4 + n:
                    payload = self.buf[4:4 + n]
                    self.buf = self.buf[4 + n:]
                    return cmd, payload
            chunk = self.control.recv(65536)
            if not chunk:
                raise EOFError('control socket closed')
            self.buf += chunk

    def packet_ready(self, wait=0.0):
        if len(self.buf) >= 4:
            return True
        r, _, _ = select.select([self.control], [], [], wait)
        return bool(r)

    def head(self):
        """STATUS, HEADERs up to DATA/NO_DATA: (status, headers, has_body,
        the raw packets)."""
        status, headers, raw = None, [], []
        while True:
            cmd, payload = self.packet()
            raw.append((cmd, payload))
            if cmd == STATUS:
                status = struct.unpack('=I' if len(payload) == 4 else '=H',
                                       payload)[0]
            elif cmd == HEADER:
                n, v = payload.split(b'=', 1)
                headers.append((n.decode(), v.decode()))
            elif cmd in (DATA, NO_DATA):
                return status, headers, cmd == DATA, raw
            else:
                raise AssertionError('unexpected %s in the head'
                                     % NAMES[cmd])

    def read_pipe(self, n):
        """Exactly n bytes from the response pipe."""
        out = bytearray()
        deadline = time.monotonic() + self.timeout
        while len(out) < n:
            r, _, _ = select.select([self.resp_r], [], [],
                                    max(0, deadline - time.monotonic()))
            if not r:
                raise TimeoutError('%d of %d body bytes' % (len(out), n))
            chunk = os.read(self.resp_r, min(65536, n - len(out)))
            if not chunk:
                raise EOFError('response pipe closed')
            out += chunk
        return bytes(out)

    def body(self):
        """The response body after DATA: reads the pipe and the control
        socket until LENGTH is reached; (body, 'LENGTH'|'PREMATURE')."""
        out = bytearray()
        end, how = None, None
        deadline = time.monotonic() + self.timeout
        while end is None or len(out) < end:
            if self.packet_ready():
                cmd, payload = self.packet()
                if cmd in (LENGTH, PREMATURE):
                    end = struct.unpack('=Q', payload)[0]
                    how = NAMES[cmd]
                    continue
                raise AssertionError('unexpected %s in the body'
                                     % NAMES[cmd])
            r, _, _ = select.select([self.resp_r, self.control], [], [],
                                    max(0, deadline - time.monotonic()))
            if not r:
                raise TimeoutError('body: %d bytes, end %r' % (len(out),
                                                               end))
            if self.resp_r in r:
                want = 65536 if end is None else end - len(out)
                if want > 0:
                    chunk = os.read(self.resp_r, want)
                    if not chunk:
                        raise EOFError('response pipe closed')
                    out += chunk
        return bytes(out), how

    def response(self, **kw):
        status, headers, has_body, raw = self.head()
        body, how = (b'', None)
        if has_body:
            body, how = self.body()
        return status, headers, body, how

    def pipe_empty(self):
        r, _, _ = select.select([self.resp_r], [], [], 0.05)
        return not r

    def close(self):
        """Close the control socket (the normal end); the exit status."""
        self.control.close()
        os.close(self.req_w)
        try:
            code = self.proc.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            os.close(self.resp_r)
        return code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
