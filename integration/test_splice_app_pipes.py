"""Request bodies spliced into application pipes: a Content-Length upload
from a plain client connection goes from the client socket straight into
a WAS application's request pipe (examples/was/echo) or a CGI program's
stdin (examples/cgi/echo) with splice(2), which the STATS field
"request_bytes_spliced" shows; the answers are byte-exact.  Chunked
uploads and TLS clients take the copy path (the counter stays);
Expect: 100-continue still works; a client that goes away mid-body
leaves neither a descriptor nor a child behind, and the WAS process
serves the next request (PREMATURE, docs/was.md)."""
import hashlib
import os
import socket
import ssl
import threading
import time

import pytest

from conftest import free_port
from dphelp import abstract, self_signed, spawn_block, stats
from dphelp import control_config as control
from proclib import child_pids as children_of
from test_cgi import alive, cgi_processes
from test_splice_request import (MiB, body_parts, digest, kinds, read_all,
                                 upload)
from tplib import ScriptedTranslationServer, packet, u16


def req_spliced(ctl, sock):
    return stats(ctl, sock)['request_bytes_spliced']


def sha(body):
    return hashlib.sha256(body).hexdigest()


def was_children(pid, prog):
    return [p for p in children_of(pid) if alive(p) and
            os.path.realpath('/proc/%d/exe' % p) == prog]


@pytest.fixture
def apps(portierd_factory, build_dir, tmp_path):
    """start(extra_config=''): portierd with a control socket whose
    translation server maps /was/... to examples' was-echo, /cgi/... to
    cgi-echo and /hello/... to was-hello (which reads no body).  Returns (portierd, control socket, programs)."""
    b = os.path.abspath(build_dir)
    progs = {'was': os.path.join(b, 'examples', 'was-echo'),
             'cgi': os.path.join(b, 'examples', 'cgi-echo'),
             'hello': os.path.join(b, 'examples', 'was-hello')}
    for p in progs.values():
        if not os.path.exists(p):
            pytest.skip('%s not built' % p)
    servers = []

    def answer(req):
        uri = req.text('URI', '')
        if uri.startswith('/was/'):
            return [packet('WAS', progs['was'])]
        if uri.startswith('/cgi/'):
            return [packet('CGI', progs['cgi'])]
        if uri.startswith('/hello/'):
            return [packet('WAS', progs['hello'])]
        return [packet('STATUS', u16(404))]

    def start(extra=''):
        srv = ScriptedTranslationServer(answer)
        srv.start()
        servers.append(srv)
        sock = abstract()
        d = portierd_factory([srv.address],
                             config=spawn_block() + control(sock) + extra)
        return d, sock, progs

    yield start
    for s in servers:
        s.stop()


def dechunk(body):
    out = bytearray()
    pos = 0
    while True:
        eol = body.index(b'\r\n', pos)
        n = int(body[pos:eol].split(b';')[0], 16)
        if n == 0:
            return bytes(out)
        out += body[eol + 2:eol + 2 + n]
        pos = eol + 2 + n + 2


def unframe(head, body):
    if b'\r\ntransfer-encoding: chunked' in head.lower():
        return dechunk(body)
    return body


def check_upload(d, path, size, **kw):
    status, head, body = upload(d.port, path, size, **kw)
    assert status == 200, head
    body = unframe(head, body)
    assert len(body) == size
    assert sha(body) == digest(size)


@pytest.mark.parametrize('kind', ['was', 'cgi'])
def test_upload_64mib_spliced(apps, ctl, kind):
    d, sock, progs = apps()
    size = 64 * MiB
    s0 = req_spliced(ctl, sock)
    check_upload(d, '/%s/up' % kind, size)
    delta = req_spliced(ctl, sock) - s0
    # all but what came with the head (at most the input buffer)
    assert size - MiB <= delta <= size, delta
    if kind == 'was':
        pids = was_children(d.proc.pid, progs['was'])
        assert len(pids) == 1
        # the process is in step: it serves the next upload
        check_upload(d, '/was/again', 16 * MiB)
        assert was_children(d.proc.pid, progs['was']) == pids
        assert req_spliced(ctl, sock) - s0 >= delta + 15 * MiB


@pytest.mark.parametrize('kind', ['was', 'cgi'])
def test_chunked_upload_takes_the_copy_path(apps, ctl, kind):
    d, sock, progs = apps()
    size = 16 * MiB
    s0 = req_spliced(ctl, sock)
    check_upload(d, '/%s/chunked' % kind, size, chunked=True)
    assert req_spliced(ctl, sock) == s0


@pytest.mark.parametrize('kind', ['was', 'cgi'])
def test_body_with_the_head_and_small_bodies(apps, ctl, kind):
    """A body that comes in one segment with the head is handed over
    from the input buffer (copied); the answer is the same."""
    d, sock, progs = apps()
    for n in (1, 1000, 60000):
        data = os.urandom(n)
        s = socket.create_connection(('127.0.0.1', d.port), timeout=30)
        s.sendall(b'POST /%s/small HTTP/1.1\r\nHost: x\r\n'
                  b'Connection: close\r\nContent-Length: %d\r\n\r\n%s'
                  % (kind.encode(), n, data))
        out = read_all(s)
        s.close()
        head, _, body = out.partition(b'\r\n\r\n')
        assert head.startswith(b'HTTP/1.1 200'), head
        assert unframe(head, body) == data


def tls_exchange(s, data):
    """Send data on the TLS socket s while reading the answer, in one
    thread (an SSL socket is not for two threads at once); the answer
    until the server closes."""
    s.setblocking(False)
    out = bytearray()
    pos = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        moved = False
        if pos < len(data):
            try:
                pos += s.send(data[pos:pos + 256 * 1024])
                moved = True
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError,
                    BlockingIOError):
                pass
        try:
            part = s.recv(1 << 20)
            if not part:
                break
            out += part
            moved = True
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError,
                BlockingIOError):
            pass
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
        if not moved:
            time.sleep(0.001)
    assert pos == len(data)
    return out


def test_tls_upload_takes_the_copy_path(apps, ctl, tmp_path):
    d0 = self_signed(tmp_path)
    port = free_port()
    d, sock, progs = apps(
        'listener {\n  bind "127.0.0.1:%d"\n  ssl yes\n'
        '  ssl_cert "%s/c.pem" "%s/k.pem"\n}\n' % (port, d0, d0))
    size = 8 * MiB
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    for kind in ('was', 'cgi'):
        s0 = req_spliced(ctl, sock)
        s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', port),
                                                     timeout=60),
                            server_hostname='a.test')
        s.sendall(b'POST /%s/tls HTTP/1.1\r\nHost: a.test\r\n'
                  b'Connection: close\r\nContent-Length: %d\r\n\r\n'
                  % (kind.encode(), size))
        out = tls_exchange(s, b''.join(body_parts(size)))
        s.close()
        head, _, body = bytes(out).partition(b'\r\n\r\n')
        assert head.startswith(b'HTTP/1.1 200'), head
        body = unframe(head, body)
        assert sha(body) == digest(size), (kind, len(body))
        assert req_spliced(ctl, sock) == s0, kind
    # the plain listener of the same portierd splices
    s0 = req_spliced(ctl, sock)
    check_upload(d, '/was/plain', size)
    assert req_spliced(ctl, sock) - s0 >= size - MiB


@pytest.mark.parametrize('kind', ['was', 'cgi'])
def test_expect_continue(apps, ctl, kind):
    """The 100 Continue goes out when the body is first asked for, then
    every body byte is spliced (none came with the head)."""
    d, sock, progs = apps()
    size = 8 * MiB
    s0 = req_spliced(ctl, sock)
    s = socket.create_connection(('127.0.0.1', d.port), timeout=30)
    s.sendall(b'POST /%s/c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
              b'Expect: 100-continue\r\nContent-Length: %d\r\n\r\n'
              % (kind.encode(), size))
    got = b''
    while b'\r\n\r\n' not in got:
        part = s.recv(4096)
        assert part, got
        got += part
    assert got.startswith(b'HTTP/1.1 100 Continue\r\n\r\n'), got

    def send():
        for part in body_parts(size):
            s.sendall(part)
    t = threading.Thread(target=send, daemon=True)
    t.start()
    out = got[len(b'HTTP/1.1 100 Continue\r\n\r\n'):] + read_all(s)
    t.join(60)
    s.close()
    head, _, body = out.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200'), head
    assert sha(unframe(head, body)) == digest(size)
    assert req_spliced(ctl, sock) - s0 == size


def cut_upload(d, path, total, sent):
    s = socket.create_connection(('127.0.0.1', d.port), timeout=30)
    s.sendall(b'POST %s HTTP/1.1\r\nHost: x\r\n'
              b'Content-Length: %d\r\n\r\n' % (path.encode(), total))
    s.setblocking(False)
    # the echo answers while it reads: keep reading what it sends back
    # so that it never stalls on its output
    view = b''.join(body_parts(sent))
    pos = got = 0
    deadline = time.monotonic() + 30
    # send `sent` bytes, then go on reading until the echo has sent back
    # as much (the application has read them all; a fixed pause let the
    # client go away with megabytes still queued on a loaded machine)
    while got < len(view) and time.monotonic() < deadline:
        if pos < len(view):
            try:
                pos += s.send(view[pos:pos + MiB])
            except BlockingIOError:
                pass
        try:
            chunk = s.recv(1 << 20)
        except BlockingIOError:
            time.sleep(0.001)
            continue
        if not chunk:
            break
        got += len(chunk)
    assert pos == len(view)
    assert got >= len(view), 'the echo sent back %d bytes of the %d ' \
        'sent within 30 s' % (got, len(view))
    s.close()


def test_client_aborts_mid_upload_was(apps, ctl):
    """The client goes away after 8 MiB of 64: portierd cuts the request
    body with PREMATURE, the process drains and serves the next upload;
    the worker's descriptors come back to the same count."""
    d, sock, progs = apps('set was_stock_limit = "1"\n')
    pid = d.proc.pid
    check_upload(d, '/was/warm', MiB)
    pids = was_children(pid, progs['was'])
    time.sleep(0.3)
    base = kinds(pid)
    s0 = req_spliced(ctl, sock)
    for _ in range(3):
        cut_upload(d, '/was/cut', 64 * MiB, 8 * MiB)
        check_upload(d, '/was/after', 4 * MiB)
    assert req_spliced(ctl, sock) - s0 >= 3 * (6 * MiB + 3 * MiB)
    assert was_children(pid, progs['was']) == pids, d.log()
    for _ in range(50):
        now = kinds(pid)
        if now[0] <= base[0] and now[1] <= base[1]:
            break
        time.sleep(0.1)
    assert now[0] <= base[0] and now[1] <= base[1], (base, now)


def test_client_aborts_mid_upload_cgi(apps, ctl, build_dir):
    """The client goes away after 8 MiB of 64: the CGI child is gone, and
    the worker's descriptors come back to the same count."""
    d, sock, progs = apps()
    pid = d.proc.pid
    check_upload(d, '/cgi/warm', MiB)
    time.sleep(0.3)
    base = kinds(pid)
    s0 = req_spliced(ctl, sock)
    for _ in range(3):
        cut_upload(d, '/cgi/cut', 64 * MiB, 8 * MiB)
    assert req_spliced(ctl, sock) - s0 >= 3 * 6 * MiB
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (
            [p for p in children_of(pid) if alive(p)] or
            cgi_processes(build_dir)):
        time.sleep(0.05)
    assert [p for p in children_of(pid) if alive(p)] == []
    assert cgi_processes(build_dir) == []
    for _ in range(50):
        now = kinds(pid)
        if now[0] <= base[0] and now[1] <= base[1]:
            break
        time.sleep(0.1)
    assert now[0] <= base[0] and now[1] <= base[1], (base, now)
    check_upload(d, '/cgi/after', 4 * MiB)


def test_was_application_stops_the_body(apps, ctl):
    """was-hello answers without reading a 16 MiB body: the library sends
    STOP, portierd stops splicing and answers PREMATURE with the bytes
    in the pipe, the application drains them, and the same process
    serves the next requests (a byte miscounted would leave it out of
    step: ended, or its next answer broken)."""
    d, sock, progs = apps('set was_stock_limit = "1"\n')
    pid = d.proc.pid
    assert d.request('GET', '/hello/')[2] == b'Hello, world!\n'
    pids = was_children(pid, progs['hello'])
    assert len(pids) == 1
    for _ in range(3):
        status, head, body = upload(d.port, '/hello/up', 16 * MiB)
        assert status == 200, head
        assert unframe(head, body) == b'Hello, world!\n'
        assert d.request('GET', '/hello/')[2] == b'Hello, world!\n'
    assert was_children(pid, progs['hello']) == pids, d.log()
