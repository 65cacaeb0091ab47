"""The translation protocol for the integration suites (spec/protocols.md §1).

- `CMD`: command name -> number, read from protocol/tp_commands.def (which
  tests/spec/check_commands.py checks against the spec).
- `packet()`, `response()`, `parse_packets()`: the wire format, host byte
  order (little-endian here).
- `ScriptedTranslationServer`: a translation server a test controls.  It
  listens on an abstract AF_LOCAL stream socket, reads each request up to
  END, records it, and answers with whatever the test's handler returns:
  a list of packets, raw bytes (garbage, a truncated response), one of
  the actions HANG (never answer) and CLOSE (drop the connection), or
  CloseAfter(bytes) (send them, then drop the connection) or
  Trickle(bytes) (send them a few bytes at a time, with pauses).  It can
  be stopped and started again on the same address, to play a translation
  server that crashes and comes back.

Standard library only (Debian's /usr/bin/python3).
"""
import os
import re
import socket
import struct
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load_commands():
    path = os.path.join(ROOT, 'protocol', 'tp_commands.def')
    with open(path) as f:
        text = f.read()
    return {m.group(2): int(m.group(1)) for m in re.finditer(
        r'^TP_COMMAND\(\s*(\d+),\s*(\w+),', text, re.M)}


CMD = _load_commands()
NAME = {number: name for name, number in CMD.items()}

HANG = object()   # handler result: read the request, never answer
CLOSE = object()  # handler result: close the connection without answering


class Trickle:
    """Handler result: send `data` (bytes or a list of packets) `step`
    bytes at a time with `pause` seconds between, so that the client
    reads it in pieces split anywhere."""

    def __init__(self, data, step=1, pause=0.002):
        self.data, self.step, self.pause = data, step, pause


class CloseAfter:
    """Handler result: send `data` (bytes or a list of packets), then close
    the connection, like a server that dies in the middle of an answer."""

    def __init__(self, data):
        self.data = data


def packet(command, payload=b''):
    """One packet; command is a name ('PATH') or a number."""
    if isinstance(command, str):
        command = CMD[command]
    if isinstance(payload, str):
        payload = payload.encode()
    if len(payload) > 0xffff:
        raise ValueError('payload of %d bytes does not fit' % len(payload))
    return struct.pack('<HH', len(payload), command) + payload


def u16(*values):
    return b''.join(struct.pack('<H', v) for v in values)


def u32(value):
    return struct.pack('<I', value)


def response(*packets, version=3):
    """BEGIN(version) + packets + END; each item is a packet's bytes or a
    (command, payload) pair."""
    body = b''.join(p if isinstance(p, bytes) else packet(*p)
                    for p in packets)
    return packet('BEGIN', bytes([version])) + body + packet('END')


def parse_packets(data):
    """Split bytes into [(name, payload)]; raises ValueError on bad
    framing."""
    out, pos = [], 0
    while pos < len(data):
        if len(data) - pos < 4:
            raise ValueError('truncated packet header at %d' % pos)
        length, command = struct.unpack_from('<HH', data, pos)
        pos += 4
        if len(data) - pos < length:
            raise ValueError('truncated payload of %s' %
                             NAME.get(command, command))
        out.append((NAME.get(command, str(command)),
                    bytes(data[pos:pos + length])))
        pos += length
    return out


class Request:
    """A translation request as received: packets in order, plus helpers."""

    def __init__(self, packets):
        self.packets = packets

    def get(self, name, default=None):
        for n, payload in self.packets:
            if n == name:
                return payload
        return default

    def text(self, name, default=None):
        payload = self.get(name)
        return default if payload is None else payload.decode()

    def has(self, name):
        return any(n == name for n, _ in self.packets)

    def __repr__(self):
        return 'Request(%r)' % (self.packets,)


class ScriptedTranslationServer:
    """A translation server whose answers the test decides.

    handler(request) returns bytes (sent as they are), a list of packets
    (wrapped in BEGIN/END), HANG or CLOSE.  Every request is appended to
    .requests (thread-safe to read after the client has its answer).
    """

    def __init__(self, handler=None, address=None):
        self.handler = handler or (lambda req: [packet('STATUS', u16(404))])
        self.address = address or '@portier-test-tp-%d-%d' % (
            os.getpid(), id(self))
        self.requests = []
        self._lock = threading.Lock()
        self._sock = None
        self._conns = set()
        self._thread = None

    @property
    def sockaddr(self):
        if self.address.startswith('@'):
            return '\0' + self.address[1:]
        return self.address

    def start(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(self.sockaddr)
        sock.listen(64)
        self._sock = sock
        self._thread = threading.Thread(target=self._accept_loop,
                                        args=(sock,), daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Close the listener and every open connection (like a crash)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        with self._lock:
            conns, self._conns = self._conns, set()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def connections(self):
        """How many client connections are open right now."""
        with self._lock:
            return len(self._conns)

    def count(self, name=None, value=None):
        """How many requests were received (with packet name = value)."""
        with self._lock:
            reqs = list(self.requests)
        if name is None:
            return len(reqs)
        return sum(1 for r in reqs if (r.get(name) == value if value
                                       is not None else r.has(name)))

    def _accept_loop(self, sock):
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with self._lock:
                self._conns.add(conn)
            threading.Thread(target=self._serve, args=(conn,),
                             daemon=True).start()

    def _serve(self, conn):
        buf = b''
        try:
            while True:
                packets, buf = self._read_request(conn, buf)
                if packets is None:
                    return
                req = Request(packets)
                with self._lock:
                    self.requests.append(req)
                answer = self.handler(req)
                if answer is HANG:
                    while conn.recv(65536):
                        pass
                    return
                if answer is CLOSE:
                    return
                if isinstance(answer, Trickle):
                    data = answer.data
                    if not isinstance(data, bytes):
                        data = response(*data)
                    for i in range(0, len(data), answer.step):
                        conn.sendall(data[i:i + answer.step])
                        time.sleep(answer.pause)
                    continue
                if isinstance(answer, CloseAfter):
                    data = answer.data
                    conn.sendall(data if isinstance(data, bytes)
                                 else response(*data))
                    return
                if not isinstance(answer, bytes):
                    answer = response(*answer)
                conn.sendall(answer)
        except OSError:
            return
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    @staticmethod
    def _read_request(conn, buf):
        """Read packets up to END; (None, b'') when the peer closed."""
        packets = []
        while True:
            while len(buf) >= 4:
                length, command = struct.unpack_from('<HH', buf)
                if len(buf) < 4 + length:
                    break
                name = NAME.get(command, str(command))
                packets.append((name, buf[4:4 + length]))
                buf = buf[4 + length:]
                if name == 'END':
                    return packets, buf
            data = conn.recv(65536)
            if not data:
                return None, b''
            buf += data


def translate(address, *packets, version=3, timeout=5):
    """Send one request (BEGIN version + packets + END) to a translation
    server and return the response's packets up to END."""
    sockaddr = '\0' + address[1:] if address.startswith('@') else address
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(sockaddr)
        s.sendall(response(*packets, version=version))
        buf = b''
        while True:
            try:
                got = parse_packets(buf)
            except ValueError:
                got = None
            if got and got[-1][0] == 'END':
                return got
            data = s.recv(65536)
            if not data:
                raise ConnectionError('translation server closed after %d '
                                      'bytes' % len(buf))
            buf += data
