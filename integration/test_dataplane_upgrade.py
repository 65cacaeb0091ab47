"""WebSocket through the reverse proxy (Upgrade, RFC 9110 §7.8; issue 6):
a python3-websockets backend (wsbackend.py), the same library or a raw
socket as the client.  Echo of text and binary messages, 8 MiB both ways,
a close from either side, a half-close, bytes sent right behind the
request head, a backend that refuses the upgrade, an Upgrade request with
a body, the idle timeout (backend_body_timeout), a TLS listener in
front of an https:// backend, tunnels counting toward max_connections
and tcp_stock_limit, shutdown with tunnels open (they get until
shutdown_timeout, then are cut), and a file resource that ignores
Upgrade."""
import asyncio
import base64
import hashlib
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

import pytest

from conftest import free_port
from dphelp import file_answer, make_docroot
from dphelp import read_to_end as read_all
from proclib import drops_to, fd_count, fds_back_to, vm_hwm_kib
from test_dataplane_proxy import CONFIG, http_answer, https_answer
from test_dataplane_proxy import test_ca  # noqa: F401 (fixture)

websockets = pytest.importorskip('websockets')

HERE = os.path.dirname(os.path.abspath(__file__))
MiB = 1 << 20
WS_GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'


class WsBackend:
    """wsbackend.py on a free port, stopped by its PID."""

    def __init__(self, cert=None, key=None):
        self.port = free_port()
        args = [sys.executable, os.path.join(HERE, 'wsbackend.py'),
                str(self.port)]
        if cert is not None:
            args += [cert, key]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT)
        line = self.proc.stdout.readline()
        if line.strip() != b'ready':
            self.stop()
            raise RuntimeError('wsbackend did not start: %r' % line)
        self.lines = []

    def wait_line(self, prefix, timeout=5):
        """The next output line starting with prefix (bounded wait)."""
        deadline = time.monotonic() + timeout
        os.set_blocking(self.proc.stdout.fileno(), False)
        buf = b''
        while time.monotonic() < deadline:
            chunk = self.proc.stdout.read()
            if chunk:
                buf += chunk
                for line in buf.decode().splitlines():
                    if line.startswith(prefix):
                        return line
            time.sleep(0.02)
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


# The tunnels here are cut by their idle timeout (backend_body_timeout)
# only in test_idle_timeout, which keeps CONFIG's 2 s.  Elsewhere a peer
# may legitimately move no byte for a while: the websockets library
# masks a message in pure Python (8 MiB: about 0.35 s of CPU, on the
# client before it sends and on the backend before it echoes), and on a
# loaded machine that is seconds of wall time in which the tunnel is
# idle.  These tests check what flows, not when the tunnel gives up.
TUNNEL_CONFIG = CONFIG.replace('backend_body_timeout = "2 s"',
                               'backend_body_timeout = "60 s"')
assert TUNNEL_CONFIG != CONFIG


def start_ws_proxy(portierd_factory, servers, config):  # noqa: F811
    b = WsBackend()
    try:
        srv = servers(lambda req: http_answer([b.port], req.text('URI')))
        d = portierd_factory([srv.address], config=config)
    except BaseException:
        b.stop()
        raise
    return d, b


@pytest.fixture
def ws_proxy(portierd_factory, servers):  # noqa: F811
    d, b = start_ws_proxy(portierd_factory, servers, TUNNEL_CONFIG)
    try:
        yield d, b
    finally:
        b.stop()


@pytest.fixture
def ws_proxy_idle_2s(portierd_factory, servers):  # noqa: F811
    d, b = start_ws_proxy(portierd_factory, servers, CONFIG)
    try:
        yield d, b
    finally:
        b.stop()


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def base_fds(d, b):
    """portierd's open descriptors once its translation server connection
    exists (a request went through), and both its connection to the
    backend, which the backend closes after a plain answer, and the
    client connection of that request are gone (a bounded wait on that
    condition: a fixed 0.3 s counted the backend connection still open
    on a loaded machine, and a leak of one descriptor went unseen; the
    client's close reaches portierd after the answer, too)."""
    assert d.request('GET', '/plain')[0] == 200
    deadline = time.monotonic() + 5
    while (sockets_to(d.proc.pid, b.port) or
           sockets_to(d.proc.pid, d.port, local=True)) and \
            time.monotonic() < deadline:
        time.sleep(0.02)
    assert sockets_to(d.proc.pid, b.port) == 0
    assert sockets_to(d.proc.pid, d.port, local=True) == 0
    return fd_count(d.proc.pid)


def sockets_to(pid, port, local=False):
    """How many of pid's descriptors are TCP sockets whose peer is
    127.0.0.1:port (with `local`: connected sockets whose own address is
    127.0.0.1:port, the clients accepted on that listener), from /proc:
    its fds and its network namespace's /proc/PID/net/tcp."""
    inodes = set()
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            link = os.readlink('/proc/%d/fd/%s' % (pid, fd))
        except OSError:
            continue
        if link.startswith('socket:['):
            inodes.add(link[len('socket:['):-1])
    addr = '0100007F:%04X' % port
    n = 0
    with open('/proc/%d/net/tcp' % pid) as f:
        next(f)
        for line in f:
            fields = line.split()
            if fields[9] not in inodes:
                continue
            if local:
                n += fields[1] == addr and fields[3] != '0A'   # not LISTEN
            else:
                n += fields[2] == addr
    return n






def test_echo_text_binary_large(ws_proxy):
    d, b = ws_proxy
    base = base_fds(d, b)
    big = os.urandom(8 * MiB)

    async def go():
        async with websockets.connect(
                'ws://127.0.0.1:%d/echo' % d.port, max_size=None,
                compression=None, close_timeout=5) as ws:
            await ws.send('hello, tunnel')
            assert await ws.recv() == 'hello, tunnel'
            await ws.send(b'\x00\x01\xfe\xff')
            assert await ws.recv() == b'\x00\x01\xfe\xff'
            await ws.send(big)
            got = await ws.recv()
            assert len(got) == len(big)
            assert hashlib.sha256(got).digest() == \
                hashlib.sha256(big).digest()
            t0 = time.monotonic()
        return time.monotonic() - t0     # the close handshake and FINs

    assert run(go()) < 3
    assert b.wait_line('closed /echo') == 'closed /echo 1000'
    # both sockets of the tunnel are closed
    assert fds_back_to(d.proc.pid, base)
    assert 'tunnel' not in d.log()
    # the access log line says 101
    status, _, _ = d.request('GET', '/plain')
    assert status == 200


def test_backend_closes(ws_proxy):
    d, b = ws_proxy
    base = base_fds(d, b)

    async def go():
        async with websockets.connect(
                'ws://127.0.0.1:%d/close' % d.port, close_timeout=5) as ws:
            await ws.send('last')
            assert await ws.recv() == 'last'
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await ws.recv()
            await asyncio.wait_for(ws.wait_closed(), 3)
            return ws.close_code, ws.close_reason

    assert run(go()) == (4000, 'bye')
    assert b.wait_line('closed /close') == 'closed /close 4000'
    assert fds_back_to(d.proc.pid, base)


def ws_key():
    return base64.b64encode(os.urandom(16))


def frame(payload, opcode=1):
    """A masked client frame."""
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = struct.pack('!BB', 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        head = struct.pack('!BBH', 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack('!BBQ', 0x80 | opcode, 0x80 | 127, n)
    data = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return head + mask + data


def read_until(s, marker):
    data = b''
    while marker not in data:
        chunk = s.recv(65536)
        assert chunk, 'closed early: %r' % data
        data += chunk
    return data


def upgrade_head(path, key, extra=b''):
    return (b'GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n'
            b'Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: %s\r\n'
            b'Sec-WebSocket-Version: 13\r\n%s\r\n' % (path, key, extra))


def test_raw_pipelined_frame(ws_proxy):
    """The first frame rides in the same packet as the head: the bytes
    after the head are handed over to the tunnel."""
    d, b = ws_proxy
    base = base_fds(d, b)
    key = ws_key()
    with socket.create_connection(('127.0.0.1', d.port), 10) as s:
        s.sendall(upgrade_head(b'/echo', key) + frame(b'early bird'))
        data = read_until(s, b'\r\n\r\n')
        s.sendall(frame(b'late', opcode=2))
        while data.count(b'late') == 0:
            chunk = s.recv(65536)
            assert chunk
            data += chunk
    head, _, rest = data.partition(b'\r\n\r\n')
    lines = head.split(b'\r\n')
    assert lines[0] == b'HTTP/1.1 101 Switching Protocols'
    h = {}
    for line in lines[1:]:
        k, _, v = line.partition(b':')
        h[k.strip().lower()] = v.strip()
    accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
    assert h[b'sec-websocket-accept'] == accept
    assert h[b'upgrade'].lower() == b'websocket'
    assert h[b'connection'].lower() == b'upgrade'
    assert b'content-length' not in h and b'transfer-encoding' not in h
    assert h[b'server'] == b'Portier'
    # the echoes: unmasked server frames
    assert rest == b'\x81\x0aearly bird\x82\x04late'
    assert b.wait_line('closed /echo') is not None
    assert fds_back_to(d.proc.pid, base)


class HalfCloseBackend:
    """A raw upgrade backend in a thread: answers 101 (Upgrade: echo),
    echoes until the end of the client's stream, then sends "bye" and
    closes: it needs the half-close passed on to finish."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(4)
        self.sock.settimeout(10)
        self.port = self.sock.getsockname()[1]
        self.error = None
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            c, _ = self.sock.accept()
            with c:
                c.settimeout(10)
                data = read_until(c, b'\r\n\r\n')
                head, _, rest = data.partition(b'\r\n\r\n')
                assert b'\r\nupgrade: echo' in head.lower(), head
                c.sendall(b'HTTP/1.1 101 Switching Protocols\r\n'
                          b'Upgrade: echo\r\nConnection: Upgrade\r\n\r\n')
                if rest:
                    c.sendall(rest)
                while True:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    c.sendall(chunk)
                c.sendall(b'bye')
        except Exception as e:    # reported by the test
            self.error = e

    def stop(self):
        self.thread.join(10)
        self.sock.close()


def test_half_close(portierd_factory, servers):  # noqa: F811
    """The client shuts its writing side: the backend gets the end of
    the stream, its answers still reach the client, then both close.
    32 MiB go each way, the client pausing its reading for 1.2 s on the
    way (every buffer fills, then the flow resumes); portierd's peak RSS
    stays small (the tunnel buffers 64 KiB per direction)."""
    b = HalfCloseBackend()
    try:
        srv = servers(lambda req: http_answer([b.port], req.text('URI')))
        d = portierd_factory([srv.address], config=TUNNEL_CONFIG)
        with socket.create_connection(('127.0.0.1', d.port), 10) as s:
            s.sendall(b'GET /x HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\n'
                      b'Connection: Upgrade\r\n\r\nfirst,')
            data = read_until(s, b'first,')
            assert data.startswith(b'HTTP/1.1 101 ')
            big = os.urandom(32 * MiB)
            got = []

            def paused_reader():
                first = b''
                while len(first) < 4 * MiB:
                    chunk = s.recv(1 << 20)
                    assert chunk
                    first += chunk
                time.sleep(1.2)     # back-pressure all the way round
                got.append(first + read_all(s))

            reader = threading.Thread(target=paused_reader, daemon=True)
            reader.start()      # the echo flows while the client sends
            s.sendall(big)
            s.shutdown(socket.SHUT_WR)
            reader.join(20)
        assert got and got[0] == big + b'bye'
    finally:
        b.stop()
    assert b.error is None, b.error
    assert vm_hwm_kib(d.proc.pid) < 64 * 1024
    assert 'tunnel' not in d.log()


def test_backend_refuses_upgrade(ws_proxy):
    d, b = ws_proxy

    async def go():
        await websockets.connect('ws://127.0.0.1:%d/refuse' % d.port)

    with pytest.raises(websockets.exceptions.InvalidStatusCode) as e:
        run(go())
    assert e.value.status_code == 403
    # an ordinary response: the client connection stays HTTP and alive
    with socket.create_connection(('127.0.0.1', d.port), 10) as s:
        s.sendall(upgrade_head(b'/refuse', ws_key()))
        data = read_until(s, b'no upgrade here\n')
        assert data.startswith(b'HTTP/1.1 403 ')
        assert b'\r\nupgrade:' not in data.lower()
        s.sendall(b'GET /plain HTTP/1.1\r\nHost: x\r\n'
                  b'Connection: close\r\n\r\n')
        data = read_all(s)
        assert data.startswith(b'HTTP/1.1 200 ') and data.endswith(
            b'plain\n')


def test_upgrade_with_body_is_ordinary(ws_proxy):
    """RFC 9110 §7.8: the switch would follow the request body; the
    proxy ignores Upgrade on a request with a body (forwards it without
    Upgrade), so the backend answers it as plain HTTP; so it does on an
    HTTP/1.0 request."""
    d, b = ws_proxy
    with socket.create_connection(('127.0.0.1', d.port), 10) as s:
        s.sendall(upgrade_head(b'/echo', ws_key(),
                               b'Content-Length: 5\r\n') + b'hello')
        data = read_until(s, b'\r\n\r\n')
    assert data.startswith(b'HTTP/1.1 ')
    assert not data.startswith(b'HTTP/1.1 101')
    # HTTP/1.0: Upgrade must be ignored (§7.8)
    with socket.create_connection(('127.0.0.1', d.port), 10) as s:
        s.sendall(upgrade_head(b'/echo', ws_key()).replace(
            b'HTTP/1.1', b'HTTP/1.0', 1))
        data = read_until(s, b'\r\n\r\n')
    assert data.startswith(b'HTTP/1.1 ')
    assert not data.startswith(b'HTTP/1.1 101')


def test_idle_timeout(ws_proxy_idle_2s):
    """No byte either way for backend_body_timeout (2 s here): both
    connections are closed."""
    d, b = ws_proxy_idle_2s
    base = base_fds(d, b)

    async def go():
        async with websockets.connect(
                'ws://127.0.0.1:%d/echo' % d.port, ping_interval=None,
                close_timeout=1) as ws:
            await ws.send('x')
            assert await ws.recv() == 'x'
            t0 = time.monotonic()
            with pytest.raises(websockets.exceptions.ConnectionClosed):
                await ws.recv()
            return time.monotonic() - t0

    waited = run(go())
    assert 1.5 < waited < 6
    assert fds_back_to(d.proc.pid, base)
    assert 'no data for 2000 ms' in d.log()


def test_tls_listener_and_https_backend(portierd_factory, servers,  # noqa
                                        test_ca, monkeypatch):
    """Client -TLS-> portierd -TLS-> backend: SSL_read/SSL_write on
    both sides of the tunnel."""
    b = WsBackend(str(test_ca / 'srv.pem'), str(test_ca / 'srv.key'))
    try:
        monkeypatch.setenv('SSL_CERT_FILE', str(test_ca / 'ca.pem'))
        srv = servers(lambda req: https_answer(b.port, req.text('URI')))
        port = free_port()
        config = TUNNEL_CONFIG + (
            'listener {\n  bind "127.0.0.1:%d"\n  ssl yes\n'
            '  ssl_cert "%s" "%s"\n}\n' % (port, test_ca / 'srv.pem',
                                           test_ca / 'srv.key'))
        d = portierd_factory([srv.address], config=config)
        ctx = ssl.create_default_context(cafile=str(test_ca / 'ca.pem'))
        big = os.urandom(4 * MiB)

        async def go():
            async with websockets.connect(
                    'wss://localhost:%d/echo' % port, ssl=ctx,
                    max_size=None, compression=None, close_timeout=5) as ws:
                await ws.send('over tls')
                assert await ws.recv() == 'over tls'
                await ws.send(big)
                got = await ws.recv()
                assert got == big
                await ws.send(b'\x01' * 70000)
                assert await ws.recv() == b'\x01' * 70000

        run(go())
        assert b.wait_line('closed /echo') == 'closed /echo 1000'
        assert 'tunnel' not in d.log()
    finally:
        b.stop()


# Limits and shutdown: the tunnels live longer than the 2 s of CONFIG.
LONG = ('set backend_response_timeout = "2 s"\n'
        'set backend_body_timeout = "30 s"\n'
        'set backend_connect_timeout = "2 s"\n')


@pytest.fixture
def ws_factory(portierd_factory, servers):  # noqa: F811
    """factory(config) -> (portierd, WsBackend), both stopped after."""
    backends = []

    def start(config):
        b = WsBackend()
        backends.append(b)
        srv = servers(lambda req: http_answer([b.port], req.text('URI')))
        return portierd_factory([srv.address], config=config), b

    yield start
    for b in backends:
        b.stop()


def socket_count(pid):
    """portierd's open sockets (the pipes its splice pool keeps are not
    counted: a spliced response leaves a pipe pair in the pool)."""
    n = 0
    for fd in os.listdir('/proc/%d/fd' % pid):
        try:
            n += os.readlink('/proc/%d/fd/%s' % (pid, fd)).startswith(
                'socket:')
        except OSError:
            pass
    return n


def sockets_back_to(pid, count, timeout=10):
    """True once portierd has no more than `count` sockets open."""
    return drops_to(lambda: socket_count(pid), count, timeout)


def base_sockets(d, b):
    base_fds(d, b)
    return socket_count(d.proc.pid)


def open_tunnel(port, path=b'/echo'):
    """A raw client socket upgraded through portierd to the echo
    backend, checked with one message."""
    s = socket.create_connection(('127.0.0.1', port), 10)
    s.sendall(upgrade_head(path, ws_key()))
    assert read_until(s, b'\r\n\r\n').startswith(b'HTTP/1.1 101 ')
    echo(s, b'ping')
    return s


def echo(s, payload):
    """One text frame through the tunnel and back."""
    s.sendall(frame(payload))
    want = b'\x81' + bytes([len(payload)]) + payload
    got = b''
    while len(got) < len(want):
        chunk = s.recv(65536)
        assert chunk, 'tunnel closed: %r' % got
        got += chunk
    assert got == want


def plain_request(s):
    s.sendall(b'GET /plain HTTP/1.1\r\nHost: x\r\n'
              b'Connection: close\r\n\r\n')


def not_answered(s, seconds):
    """True when nothing arrives on s for `seconds`."""
    s.settimeout(seconds)
    try:
        s.recv(1)                   # data or the end: an answer
        return False
    except socket.timeout:
        return True
    finally:
        s.settimeout(10)


def test_tunnels_count_toward_max_connections(ws_factory, build_dir):
    """max_connections 4: four tunnels fill the worker; a fifth
    connection is not accepted (the listener pauses) until a tunnel
    ends, then it is served.  STATS counts the tunnels apart from the
    HTTP connections; every descriptor is closed at the end."""
    from dphelp import abstract, control_config, run_ctl as ctl_run
    sock = abstract()
    d, b = ws_factory(LONG + 'set max_connections = 4\n' +
                      control_config(sock))
    ctl = os.path.join(build_dir, 'ctl', 'portierctl')

    def stats():
        p = ctl_run(ctl, '--server', sock, 'stats', '--json')
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)

    base = base_sockets(d, b)
    tunnels = [open_tunnel(d.port) for _ in range(4)]
    try:
        st = stats()
        assert (st['tunnels'], st['connections']) == (4, 0)
        # the kernel completes the handshake (backlog); portierd does not
        # accept, so the request gets no answer
        with socket.create_connection(('127.0.0.1', d.port), 10) as fifth:
            plain_request(fifth)
            assert not_answered(fifth, 1.0)
            for t in tunnels[1:]:
                echo(t, b'still relayed')
            n = socket_count(d.proc.pid)
            assert n == base + 4 * 2, (n, base, d.log())
            tunnels.pop(0).close()      # one slot frees
            t0 = time.monotonic()
            data = read_all(fifth)
            took = time.monotonic() - t0
            assert took < 3, (took, d.log())
            assert data.startswith(b'HTTP/1.1 200 ') and \
                data.endswith(b'plain\n'), (data[:300], d.log())
        st = stats()
        assert st['tunnels'] == 3, st
    finally:
        for t in tunnels:
            t.close()
    assert sockets_back_to(d.proc.pid, base)
    deadline = time.monotonic() + 5
    while stats()['tunnels'] != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stats()['tunnels'] == 0
    # the listener is active again: four fresh tunnels fit
    tunnels = [open_tunnel(d.port) for _ in range(4)]
    for t in tunnels:
        t.close()
    assert sockets_back_to(d.proc.pid, base), (socket_count(d.proc.pid),
                                               base)
    assert 'tunnel' not in d.log(), d.log()


def test_tunnel_counts_toward_tcp_stock_limit(ws_factory):
    """tcp_stock_limit 1: while a tunnel holds the backend connection, a
    request to the same backend waits; it goes out when the tunnel
    ends (before its bound, backend_connect_timeout, here 10 s)."""
    d, b = ws_factory(LONG + 'set tcp_stock_limit = 1\n'
                      'set backend_connect_timeout = "10 s"\n')
    base = base_sockets(d, b)
    t = open_tunnel(d.port)
    try:
        with socket.create_connection(('127.0.0.1', d.port), 10) as s:
            plain_request(s)
            assert not_answered(s, 1.0)
            echo(t, b'alive')
            t.close()
            t0 = time.monotonic()
            data = read_all(s)
            assert time.monotonic() - t0 < 3
            assert data.startswith(b'HTTP/1.1 200 ') and \
                data.endswith(b'plain\n')
    finally:
        t.close()
    assert sockets_back_to(d.proc.pid, base)


def test_tunnel_holds_the_slot_waiter_gets_503(ws_factory):
    """tcp_stock_limit 1: while a tunnel holds the backend connection, a
    request to the same backend waits at most backend_connect_timeout
    (1 s here), then gets 503 with one log line naming the backend, the
    limit and the wait; the tunnel goes on relaying."""
    d, b = ws_factory(LONG + 'set tcp_stock_limit = 1\n'
                      'set backend_connect_timeout = "1 s"\n')
    base = base_sockets(d, b)
    t = open_tunnel(d.port)
    try:
        with socket.create_connection(('127.0.0.1', d.port), 10) as s:
            t0 = time.monotonic()
            plain_request(s)
            data = read_all(s)
            took = time.monotonic() - t0
        assert data.startswith(b'HTTP/1.1 503 '), data[:200]
        assert 0.9 <= took < 4, took
        lines = [line for line in d.log().splitlines()
                 if '"GET /plain HTTP/1.1": 503: ' in line]
        assert len(lines) == 1, d.log()
        assert ('backend 127.0.0.1:%d: no free connection after waiting '
                % b.port) in lines[0]
        assert 'tcp_stock_limit 1 reached' in lines[0]
        echo(t, b'still relayed')
    finally:
        t.close()
    assert sockets_back_to(d.proc.pid, base)
    # the slot is free again: a request goes through at once
    with socket.create_connection(('127.0.0.1', d.port), 10) as s:
        plain_request(s)
        assert read_all(s).startswith(b'HTTP/1.1 200 ')


def test_shutdown_waits_for_tunnels_then_cuts(ws_factory):
    """SIGTERM: an open tunnel goes on relaying until shutdown_timeout,
    then it is cut, with one line saying how many; exit status 0."""
    d, b = ws_factory(LONG + 'set shutdown_timeout = "2 s"\n')
    tunnels = [open_tunnel(d.port) for _ in range(2)]
    try:
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        for t in tunnels:
            echo(t, b'during shutdown')
        assert d.proc.poll() is None
        for t in tunnels:
            assert read_all(t) == b''
        waited = time.monotonic() - t0
        assert d.proc.wait(timeout=10) == 0
        assert 1.8 < waited < 5
    finally:
        for t in tunnels:
            t.close()
    log = d.log()
    assert ('shutdown timeout (2000 ms) reached: 2 tunnel(s) still open '
            'were cut') in log
    assert log.count('tunnel(s) still open') == 1
    assert 'portierd: tunnel ' not in log


def test_shutdown_tunnel_ends_by_itself(ws_factory):
    """SIGTERM with a tunnel open: the worker waits for it; when the
    client ends it, the worker exits at once, nothing is cut."""
    d, b = ws_factory(LONG + 'set shutdown_timeout = "20 s"\n')
    t = open_tunnel(d.port)
    try:
        d.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        echo(t, b'still here')
        assert d.proc.poll() is None
        t.shutdown(socket.SHUT_WR)  # the backend closes in turn
        t0 = time.monotonic()
        assert d.proc.wait(timeout=10) == 0
        assert time.monotonic() - t0 < 3
    finally:
        t.close()
    assert 'were cut' not in d.log()


def test_file_resource_ignores_upgrade(portierd_factory, servers,  # noqa
                                       tmp_path):
    """Resources other than HTTP answer an Upgrade request normally."""
    root = make_docroot(tmp_path)
    srv = servers(lambda req: file_answer(root, 'index.html'))
    d = portierd_factory([srv.address])
    with socket.create_connection(('127.0.0.1', d.port), 10) as s:
        s.sendall(upgrade_head(b'/', ws_key()))
        data = read_until(s, b'<p>hello</p>\n')
    assert data.startswith(b'HTTP/1.1 200 ')
    assert b'\r\nupgrade:' not in data.lower()
