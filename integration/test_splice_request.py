"""Zero-copy request bodies (issue 6; the readable-descriptor fast path of
dp_body.h offered by dp_request_body() and taken by dp_http_client):
uploads with a Content-Length from a plain client connection reach a
plain HTTP backend (the Python backend, nginx's DAV module, an LHTTP
program) byte-exact through splice(), which the STATS field
"request_bytes_spliced" shows; chunked uploads and TLS clients take the
copy path; an early answer, a client that goes away, a stalled client,
Expect: 100-continue and a request pipelined behind the body all end as
on the copy path, and the backend connection is only reused after a
whole body."""
import hashlib
import json
import os
import socket
import ssl
import threading
import time

import pytest

from conftest import free_port
from dphelp import self_signed, wait_log
from httpbackend import pattern
from test_dataplane_proxy import CONFIG, Nginx, http_answer
from test_splice import abstract, control, stats
from tplib import ScriptedTranslationServer

MiB = 1 << 20


def req_spliced(ctl, sock):
    return stats(ctl, sock)['request_bytes_spliced']


def body_parts(size, piece=MiB):
    for off in range(0, size, piece):
        yield pattern(min(piece, size - off), off)


def digest(size):
    h = hashlib.sha256()
    for part in body_parts(size):
        h.update(part)
    return h.hexdigest()


def read_all(s):
    out = b''
    try:
        while True:
            part = s.recv(1 << 20)
            if not part:
                break
            out += part
    except OSError:
        pass        # reset after the answer: what came is kept
    return out


def upload(port, path, size, chunked=False, extra=b'', timeout=60,
           method='POST'):
    """POST (or `method`) `size` bytes of pattern() on a new connection
    (Connection: close), sent by a thread while the answer is read.
    Returns (status, head, body)."""
    s = socket.create_connection(('127.0.0.1', port), timeout=timeout)
    framing = (b'Transfer-Encoding: chunked\r\n' if chunked
               else b'Content-Length: %d\r\n' % size)
    s.sendall(b'%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
              b'%s%s\r\n' % (method.encode(), path.encode(), framing,
                             extra))

    def send():
        try:
            for part in body_parts(size):
                if chunked:
                    s.sendall(b'%x\r\n%s\r\n' % (len(part), part))
                else:
                    s.sendall(part)
            if chunked:
                s.sendall(b'0\r\n\r\n')
        except OSError:
            pass    # the proxy may close once it answered
    t = threading.Thread(target=send, daemon=True)
    t.start()
    out = read_all(s)
    t.join(timeout)
    s.close()
    head, _, body = out.partition(b'\r\n\r\n')
    status = int(head.split(b' ', 2)[1]) if head.startswith(b'HTTP/') \
        else 0
    return status, head, body


def echoed(body):
    info = json.loads(body)
    return info['length'], info['sha256']


def start_proxy(portierd_factory, port, config=CONFIG):
    srv = ScriptedTranslationServer(
        lambda req: http_answer([port], req.text('URI')))
    srv.start()
    sock = abstract()
    d = portierd_factory([srv.address], config=config + control(sock))
    return d, sock, srv


@pytest.fixture
def proxy(portierd_factory, backend):
    d, sock, srv = start_proxy(portierd_factory, backend.port)
    yield d, sock
    srv.stop()


# ---- the fast path ----

def test_upload_64mib_spliced_and_reused(proxy, backend, ctl):
    d, sock = proxy
    size = 64 * MiB
    want = digest(size)
    s0 = req_spliced(ctl, sock)
    for _ in range(2):
        status, head, body = upload(d.port, '/echo/up', size)
        assert status == 200, head
        assert echoed(body) == (size, want)
    # all but what came with the head (at most the 16 KiB input buffer)
    delta = req_spliced(ctl, sock) - s0
    assert 2 * size - 2 * MiB <= delta <= 2 * size, delta
    # the backend connection went back to the pool after a whole body
    assert backend.connections == 1


def test_upload_nginx_spliced_and_reused(portierd_factory, ctl, tmp_path):
    """PUT to nginx's DAV module, which reads the whole body into a file
    before it answers: the files are byte-exact, the one upstream
    connection serves every upload."""
    ngx = Nginx(str(tmp_path / 'nginx'), extra='    client_max_body_size '
                '100m;\n    location /dav/ { dav_methods PUT; }\n'
                '    location /small { client_max_body_size 1m;\n'
                '      dav_methods PUT; }\n')
    os.makedirs(os.path.join(ngx.root, 'dav'))
    try:
        d, sock, srv = start_proxy(portierd_factory, ngx.port)
        try:
            size = 32 * MiB
            want = digest(size)
            s0 = req_spliced(ctl, sock)
            for i in range(3):
                status, head, body = upload(d.port, '/dav/f%d' % i, size,
                                            method='PUT')
                assert status in (201, 204), head
                h = hashlib.sha256()
                with open(os.path.join(ngx.root, 'dav', 'f%d' % i),
                          'rb') as f:
                    for part in iter(lambda: f.read(MiB), b''):
                        h.update(part)
                assert h.hexdigest() == want
            delta = req_spliced(ctl, sock) - s0
            assert 3 * size - 3 * MiB <= delta <= 3 * size, delta
            serials = ngx.connections(3)
            assert len(serials) == 3 and len(set(serials)) == 1, serials
            # nginx refuses a body over its limit at once (413 before
            # reading it): the answer comes through, the client
            # connection closes, the next upload is fine
            status, head, body = upload(d.port, '/small', 16 * MiB,
                                        method='PUT')
            assert status == 413, head
            assert b'connection: close' in head.lower()
            status, head, body = upload(d.port, '/dav/g', MiB,
                                        method='PUT')
            assert status in (201, 204), head
            with open(os.path.join(ngx.root, 'dav', 'g'), 'rb') as f:
                assert f.read() == pattern(MiB)
        finally:
            srv.stop()
    finally:
        ngx.stop()


def test_expect_continue(proxy, ctl):
    """The 100 Continue goes out when the body is first asked for, then
    every body byte is spliced (none came with the head)."""
    d, sock = proxy
    size = 8 * MiB
    s0 = req_spliced(ctl, sock)
    s = socket.create_connection(('127.0.0.1', d.port), timeout=30)
    s.sendall(b'POST /echo/c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
              b'Expect: 100-continue\r\nContent-Length: %d\r\n\r\n' % size)
    got = b''
    while b'\r\n\r\n' not in got:
        part = s.recv(4096)
        assert part, got
        got += part
    assert got.startswith(b'HTTP/1.1 100 Continue\r\n\r\n'), got
    for part in body_parts(size):
        s.sendall(part)
    out = got[len(b'HTTP/1.1 100 Continue\r\n\r\n'):] + read_all(s)
    s.close()
    head, _, body = out.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200'), head
    assert echoed(body) == (size, digest(size))
    assert req_spliced(ctl, sock) - s0 == size


def test_pipelined_request_behind_the_body(proxy, ctl):
    """The splice takes the body's bytes only: a request sent right
    behind it stays for the server and is answered next."""
    d, sock = proxy
    size = 4 * MiB
    s = socket.create_connection(('127.0.0.1', d.port), timeout=30)
    s.sendall(b'POST /echo/first HTTP/1.1\r\nHost: x\r\n'
              b'Content-Length: %d\r\n\r\n' % size)
    for part in body_parts(size):
        s.sendall(part)
    s.sendall(b'GET /echo/second HTTP/1.1\r\nHost: x\r\n'
              b'Connection: close\r\n\r\n')
    out = read_all(s)
    s.close()
    first, _, rest = out.partition(b'\r\n\r\n')
    assert first.startswith(b'HTTP/1.1 200'), first
    n = int([x for x in first.lower().split(b'\r\n')
             if x.startswith(b'content-length:')][0].split(b':')[1])
    assert echoed(rest[:n]) == (size, digest(size))
    second, _, body2 = rest[n:].partition(b'\r\n\r\n')
    assert second.startswith(b'HTTP/1.1 200'), second
    assert json.loads(body2)['target'] == '/echo/second'


def test_slow_client(proxy, ctl):
    """A client that sends in small pieces with pauses: the splice waits
    for the socket (dp_body_fd_wait) and goes on."""
    d, sock = proxy
    size = 2 * MiB
    s0 = req_spliced(ctl, sock)
    s = socket.create_connection(('127.0.0.1', d.port), timeout=30)
    s.sendall(b'POST /echo/slow HTTP/1.1\r\nHost: x\r\nConnection: close'
              b'\r\nContent-Length: %d\r\n\r\n' % size)
    for i, part in enumerate(body_parts(size, 64 * 1024)):
        s.sendall(part)
        if i % 4 == 3:
            time.sleep(0.02)
    out = read_all(s)
    s.close()
    head, _, body = out.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200'), head
    assert echoed(body) == (size, digest(size))
    assert req_spliced(ctl, sock) - s0 >= size - 64 * 1024


# ---- the ends ----

def test_early_answer(proxy, backend, ctl):
    """The backend answers 413 without reading the body and closes: the
    client gets the answer and the connection closes (the rest of the
    body is not waited for); the next request works."""
    d, sock = proxy
    status, head, body = upload(d.port, '/early/413', 32 * MiB)
    assert status == 413 and body == b'early', head
    assert b'connection: close' in head.lower()
    assert d.request('GET', '/echo/next')[0] == 200


def backend_closed_all(backend, timeout=5):
    """Wait until the backend has no connection open."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with backend._lock:
            if not backend._conns:
                return True
        time.sleep(0.02)
    return False


def test_client_aborts_mid_upload(proxy, backend, ctl):
    """The client closes after 8 MiB of 64: the backend connection is
    closed (not pooled: its request is incomplete) and the next upload
    goes over a new one, byte-exact."""
    d, sock = proxy
    assert d.request('GET', '/echo/warm')[0] == 200
    assert backend.connections == 1
    s0 = req_spliced(ctl, sock)
    s = socket.create_connection(('127.0.0.1', d.port), timeout=30)
    s.sendall(b'POST /echo/cut HTTP/1.1\r\nHost: x\r\n'
              b'Content-Length: %d\r\n\r\n' % (64 * MiB))
    for part in body_parts(8 * MiB):
        s.sendall(part)
    time.sleep(0.2)
    s.close()
    # portierd closes the backend connection of the cut request (the
    # only one the backend has open): it is not pooled
    assert backend_closed_all(backend), d.log()
    # the log names the cause when the splice saw the end ("connection
    # closed after N body bytes"); when portierd heard the hang-up while
    # it waited for the backend, the request ends without a line, as on
    # the copy path
    assert req_spliced(ctl, sock) - s0 >= 6 * MiB
    size = 4 * MiB
    status, head, body = upload(d.port, '/echo/after', size)
    assert status == 200, head
    assert echoed(body) == (size, digest(size))
    assert backend.connections == 2
    # the backend saw the cut request end early, not the next one in it
    targets = [r['target'] for r in backend.requests]
    assert targets == ['/echo/warm', '/echo/after'], targets


def test_client_stalls_mid_upload(portierd_factory, backend, ctl):
    """No byte for request_body_timeout while the splice waits: the
    connection is closed with a log line, the backend connection too."""
    d, sock, srv = start_proxy(
        portierd_factory, backend.port,
        CONFIG + 'set request_body_timeout = "1 s"\n')
    try:
        s = socket.create_connection(('127.0.0.1', d.port), timeout=30)
        s.sendall(b'POST /echo/stall HTTP/1.1\r\nHost: x\r\n'
                  b'Content-Length: %d\r\n\r\n' % (8 * MiB))
        for part in body_parts(MiB):
            s.sendall(part)
        t0 = time.monotonic()
        s.settimeout(10)
        out = read_all(s)
        s.close()
        assert time.monotonic() - t0 < 5
        assert not out.startswith(b'HTTP/1.1 200'), out[:200]
        lines = wait_log(d, 'timeout reading the request body')
        assert lines, d.log()
        assert backend_closed_all(backend), d.log()
        size = MiB
        status, head, body = upload(d.port, '/echo/after', size)
        assert status == 200, head
        assert echoed(body) == (size, digest(size))
        assert [r['target'] for r in backend.requests] == ['/echo/after']
    finally:
        srv.stop()


# ---- the copy path ----

def test_chunked_upload_takes_the_copy_path(proxy, ctl):
    d, sock = proxy
    size = 4 * MiB
    s0 = req_spliced(ctl, sock)
    status, head, body = upload(d.port, '/echo/chunked', size, chunked=True)
    assert status == 200, head
    assert echoed(body) == (size, digest(size))
    assert req_spliced(ctl, sock) == s0


def test_tls_client_upload_takes_the_copy_path(portierd_factory, backend,
                                               ctl, tmp_path):
    d0 = self_signed(tmp_path)
    port = free_port()
    d, sock, srv = start_proxy(
        portierd_factory, backend.port,
        CONFIG + 'listener {\n  bind "127.0.0.1:%d"\n  ssl yes\n'
        '  ssl_cert "%s/c.pem" "%s/k.pem"\n}\n' % (port, d0, d0))
    try:
        size = 4 * MiB
        s0 = req_spliced(ctl, sock)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', port),
                                                     timeout=30),
                            server_hostname='a.test')
        s.sendall(b'POST /echo/tls HTTP/1.1\r\nHost: a.test\r\n'
                  b'Connection: close\r\nContent-Length: %d\r\n\r\n' % size)
        for part in body_parts(size):
            s.sendall(part)
        out = bytearray()
        while True:
            try:
                part = s.recv(1 << 20)
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break
            if not part:
                break
            out += part
        s.close()
        head, _, body = bytes(out).partition(b'\r\n\r\n')
        assert head.startswith(b'HTTP/1.1 200'), head
        assert echoed(body) == (size, digest(size))
        assert req_spliced(ctl, sock) == s0
        # the plain listener of the same portierd splices
        status, head, body = upload(d.port, '/echo/plain', size)
        assert echoed(body) == (size, digest(size))
        assert req_spliced(ctl, sock) - s0 >= size - MiB
    finally:
        srv.stop()


def fds(pid):
    out = []
    for n in sorted(os.listdir('/proc/%d/fd' % pid), key=int):
        try:
            out.append('%s:%s' % (n, os.readlink('/proc/%d/fd/%s'
                                                % (pid, n))))
        except OSError:
            pass
    return out


def kinds(pid):
    """(sockets, pipe ends) the process has open."""
    links = [x.split(':', 1)[1] for x in fds(pid)]
    return (sum(x.startswith('socket:') for x in links),
            sum(x.startswith('pipe:') for x in links))


def test_no_descriptor_leak(proxy, ctl):
    """Whole uploads, early answers and clients that go away, four times:
    the worker's sockets come back to the same count, its pipes too but
    for one more pooled pair (a client that went away may still hold its
    pipe when the next upload starts, so two can be busy at once); a pipe
    or a socket lost per case would show four times over."""
    d, sock = proxy
    pid = d.proc.pid
    assert upload(d.port, '/echo/a', MiB)[0] == 200
    time.sleep(0.5)
    base_sockets, base_pipes = kinds(pid)
    for _ in range(4):
        assert upload(d.port, '/echo/a', 4 * MiB)[0] == 200
        assert upload(d.port, '/early/413', 4 * MiB)[0] == 413
        s = socket.create_connection(('127.0.0.1', d.port), timeout=10)
        s.sendall(b'POST /echo/x HTTP/1.1\r\nHost: x\r\n'
                  b'Content-Length: %d\r\n\r\n' % (16 * MiB))
        for part in body_parts(2 * MiB):
            s.sendall(part)
        s.close()
    assert d.request('GET', '/echo/x')[0] == 200
    # the cut backend connections and lingering clients close a moment
    # later
    for _ in range(50):
        sockets, pipes = kinds(pid)
        if sockets <= base_sockets and pipes <= base_pipes + 2:
            break
        time.sleep(0.1)
    assert sockets <= base_sockets, (base_sockets, fds(pid))
    assert pipes <= base_pipes + 2, (base_pipes, fds(pid))


def test_proxied_response_through_a_filter(portierd_factory, backend, ctl):
    """A backend's 16 MiB answer (Content-Length) as the request body of
    an HTTP FILTER: the HTTP client may splice it from the first backend
    socket into the filter's (the descriptor path of a response body);
    the filter gets it byte-exact, and both connections are reused."""
    from tplib import packet
    size = 16 * MiB

    def handler(req):
        return http_answer([backend.port], '/big/%d' % size) + [
            packet('FILTER'),
            packet('HTTP', 'http://127.0.0.1:%d/echo/f' % backend.port),
            packet('ADDRESS_STRING', '127.0.0.1:%d' % backend.port)]
    srv = ScriptedTranslationServer(handler)
    srv.start()
    try:
        d = portierd_factory([srv.address], config=CONFIG)
        for _ in range(2):
            status, r, body = d.request('GET', '/x')
            assert status == 200, d.log()
            info = json.loads(body)
            assert info['target'] == '/echo/f'
            assert (info['length'], info['sha256']) == (size, digest(size))
        assert backend.connections == 2
    finally:
        srv.stop()


def test_lhttp_upload_spliced(portierd_factory, build_dir, ctl):
    """LHTTP goes through the HTTP client over a local socket: an 8 MiB
    upload is spliced client socket -> pipe -> the program's socket, and
    its echo comes back whole."""
    from tplib import packet
    prog = os.path.abspath(os.path.join(build_dir, 'examples',
                                        'lhttp-hello'))
    if not os.path.exists(prog):
        pytest.skip('lhttp-hello not built')
    srv = ScriptedTranslationServer(
        lambda req: [packet('LHTTP_PATH', prog),
                     packet('LHTTP_URI', req.text('URI'))])
    srv.start()
    try:
        sock = abstract()
        conf = control(sock)
        if os.geteuid() == 0:
            conf = 'spawn {\n  default_user "nobody"\n}\n' + conf
        d = portierd_factory([srv.address], config=conf)
        size = 8 * MiB
        s0 = req_spliced(ctl, sock)
        status, head, body = upload(d.port, '/echo', size)
        assert status == 200, head
        assert len(body) == size
        assert hashlib.sha256(body).hexdigest() == digest(size)
        assert req_spliced(ctl, sock) - s0 >= size - MiB
    finally:
        srv.stop()
