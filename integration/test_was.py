"""portierd's WAS client (dataplane/dp_was.c) end to end: a scripted
translation server answers WAS with the programs of examples/was/ and
tests/was/was_test_app.c; requests go through portierd."""
import hashlib
import os
import signal
import socket
import subprocess
import uuid
import threading
import time

import pytest

from dphelp import concurrent_requests, spawn_block
from proclib import child_pids, join_within, rss_kib, wait_for, wchan
from tplib import packet, u16


def _exists(path):
    if not os.path.exists(path):
        pytest.skip('%s not built' % path)
    return path


@pytest.fixture
def progs(build_dir):
    b = os.path.abspath(build_dir)
    return {
        'hello': _exists(os.path.join(b, 'examples', 'was-hello')),
        'echo': _exists(os.path.join(b, 'examples', 'was-echo')),
        'stream': _exists(os.path.join(b, 'examples', 'was-stream')),
        'test': _exists(os.path.join(b, 'tests', 'was', 'was-test-app')),
    }


def children(pid):
    """PIDs whose parent is pid, without the zombies."""
    return child_pids(pid, zombies=False)


def running_programs(paths):
    """PIDs of live processes whose executable is one of paths."""
    out = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            exe = os.readlink('/proc/%s/exe' % d)
            with open('/proc/%s/stat' % d) as f:
                state = f.read().rsplit(')', 1)[1].split()[0]
        except OSError:
            continue
        if exe in paths and state != 'Z':
            out.append(int(d))
    return out


@pytest.fixture
def was_server(portierd_factory, servers, progs):
    """start(settings=''): portierd with a translation server mapping the
    first path segment to a program: /hello, /echo, /stream, else the
    test app.  Extra packets per request come from `extra`."""
    def start(settings='', extra=lambda uri: []):
        def handler(req):
            uri = req.text('URI')
            name = uri.split('/')[1] if uri.count('/') > 1 else ''
            prog = progs.get(name, progs['test'])
            return [packet('WAS', prog)] + extra(uri)
        srv = servers(handler)
        # as root a child needs a user: nobody (never root)
        return portierd_factory([srv.address],
                                config=spawn_block(allow_nobody=False) +
                                settings)

    return start


def test_hello(was_server):
    d = was_server()
    status, r, body = d.request('GET', '/hello/')
    assert status == 200 and body == b'Hello, world!\n'
    assert r.getheader('Content-Type') == 'text/plain'


def test_reuse_one_process(was_server):
    d = was_server()
    pids = {d.request('GET', '/x')[2] for _ in range(5)}
    assert len(pids) == 1
    assert len(children(d.proc.pid)) == 1


def test_request_metadata(was_server):
    d = was_server(extra=lambda uri: [packet('PAIR', 'FOO=bar'),
                                      packet('DOCUMENT_ROOT', '/srv/www')])
    status, _, body = d.request('PUT', '/info/x;a=b?q=1',
                                headers={'X-Test': 'v',
                                         'X-CM4all-HTTPS': 'on'},
                                body=b'abc')
    text = body.decode()
    assert status == 200
    for line in ('method=PUT', 'uri=/info/x?q=1', 'query_string=q=1',
                 'remote_host=127.0.0.1', 'document_root=/srv/www', 'tls',
                 'header x-test=v', 'parameter FOO=bar'):
        assert line + '\n' in text, line
    assert 'header content-length' not in text


def test_script_name_rebuilds_uri(was_server):
    d = was_server(extra=lambda uri: [packet('SCRIPT_NAME', '/info'),
                                      packet('PATH_INFO', '/p')])
    body = d.request('GET', '/other?z=9')[2].decode()
    assert 'uri=/info/p?z=9\n' in body and 'script_name=/info\n' in body
    assert 'path_info=/p\n' in body


def test_echo_content_length(was_server):
    d = was_server()
    data = os.urandom(1 << 20)
    status, r, body = d.request('POST', '/echo/', body=data,
                                headers={'Content-Type': 'x/y'})
    assert status == 200 and body == data
    assert r.getheader('Content-Length') == str(len(data))
    assert r.getheader('Content-Type') == 'x/y'


def test_echo_chunked(was_server):
    d = was_server()
    parts = [os.urandom(n) for n in (1, 5000, 70000, 3)]
    req = (b'POST /echo/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
           b'Transfer-Encoding: chunked\r\n\r\n')
    for p in parts:
        req += b'%x\r\n' % len(p) + p + b'\r\n'
    req += b'0\r\n\r\n'
    out = d.raw(req, timeout=10)
    head, _, rest = out.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200')
    if b'transfer-encoding: chunked' not in head.lower():
        # the echo had the whole body (and its LENGTH) before answering
        assert b'content-length: %d' % len(rest) in head.lower()
        assert rest == b''.join(parts)
        return
    body, pos = b'', 0
    while True:
        line_end = rest.index(b'\r\n', pos)
        n = int(rest[pos:line_end], 16)
        if n == 0:
            break
        body += rest[line_end + 2:line_end + 2 + n]
        pos = line_end + 4 + n
    assert body == b''.join(parts)


def test_echo_large_body_bounded_rss(was_server):
    """256 MiB through portierd and the echo, streamed both ways: the
    bytes come back intact and portierd's memory stays bounded."""
    d = was_server()
    size = 256 << 20
    block = os.urandom(1 << 20)
    s = socket.create_connection(('127.0.0.1', d.port), timeout=30)
    s.sendall(b'POST /echo/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
              b'Content-Length: %d\r\n\r\n' % size)
    sent_hash = hashlib.sha256()

    def send():
        for _ in range(size // len(block)):
            s.sendall(block)
            sent_hash.update(block)
    t = threading.Thread(target=send)
    t.start()
    got = hashlib.sha256()
    buf = b''
    while b'\r\n\r\n' not in buf:
        buf += s.recv(65536)
    head, _, rest = buf.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200')
    assert b'content-length: %d' % size in head.lower()
    got.update(rest)
    n = len(rest)
    peak = 0
    while n < size:
        chunk = s.recv(1 << 20)
        assert chunk, 'connection closed after %d bytes' % n
        got.update(chunk)
        n += len(chunk)
        if n % (16 << 20) < len(chunk):
            peak = max(peak, rss_kib(d.proc.pid))
    join_within(t, 60, 'the upload did not finish sending')
    s.close()
    assert got.digest() == sent_hash.digest()
    assert peak < 64 * 1024, 'portierd RSS %d KiB' % peak


def test_echo_large_chunked_both_ways(was_server):
    """A 24 MiB chunked request: LENGTH reaches the echo only at the end,
    so its answer is chunked too; the bytes come back intact."""
    d = was_server()
    piece = os.urandom(1 << 16)
    n_pieces = 384
    s = socket.create_connection(('127.0.0.1', d.port), timeout=30)
    s.sendall(b'POST /echo/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
              b'Transfer-Encoding: chunked\r\n\r\n')

    def send():
        for _ in range(n_pieces):
            s.sendall(b'%x\r\n' % len(piece) + piece + b'\r\n')
        s.sendall(b'0\r\n\r\n')
    t = threading.Thread(target=send)
    t.start()
    f = s.makefile('rb')
    status = f.readline()
    assert status.startswith(b'HTTP/1.1 200')
    head = b''
    while True:
        line = f.readline()
        if line == b'\r\n':
            break
        head += line.lower()
    assert b'transfer-encoding: chunked' in head
    got = hashlib.sha256()
    total = 0
    while True:
        size = int(f.readline().split(b';')[0], 16)
        if size == 0:
            break
        got.update(f.read(size))
        total += size
        assert f.read(2) == b'\r\n'
    join_within(t, 60, 'the chunked upload did not finish sending')
    s.close()
    assert total == len(piece) * n_pieces
    assert got.digest() == hashlib.sha256(piece * n_pieces).digest()


def test_stream(was_server):
    d = was_server()
    status, r, body = d.request('GET', '/stream/?size=5000000&piece=1000')
    assert status == 200 and len(body) == 5000000
    assert body == bytes(ord('a') + i % 26 for i in range(5000000))
    status, r, body = d.request('GET', '/stream/?size=300000&length=1')
    assert r.getheader('Content-Length') == '300000'


def test_head_stops_body_and_reuses(was_server):
    """HEAD: the body is not wanted, portierd sends STOP and drains up to
    the application's PREMATURE; the process serves the next request."""
    d = was_server('set was_stock_limit = "1"\n')
    status, r, body = d.request('HEAD', '/stream/?size=50000000')
    assert status == 200 and body == b''
    pids = children(d.proc.pid)
    status, _, body = d.request('GET', '/stream/?size=26')
    assert body == b'abcdefghijklmnopqrstuvwxyz'
    assert children(d.proc.pid) == pids


def test_client_gone_mid_body_reuses(was_server):
    d = was_server('set was_stock_limit = "1"\n')
    s = socket.create_connection(('127.0.0.1', d.port), timeout=10)
    s.sendall(b'GET /stream/?size=500000000 HTTP/1.1\r\nHost: x\r\n\r\n')
    got = 0
    while got < 1 << 20:
        got += len(s.recv(65536))
    pids = children(d.proc.pid)
    s.close()
    status, _, body = d.request('GET', '/stream/?size=3')
    assert (status, body) == (200, b'abc')
    assert children(d.proc.pid) == pids


def test_client_aborts_request_body_reuses(was_server):
    """The client sends part of the body and goes away: portierd cuts
    the request body with PREMATURE, the echo cuts its answer, and after
    the drain the same process serves the next request."""
    d = was_server('set was_stock_limit = "1"\n')
    assert d.request('POST', '/echo/', body=b'warm')[2] == b'warm'
    pids = children(d.proc.pid)
    s = socket.create_connection(('127.0.0.1', d.port), timeout=10)
    s.sendall(b'POST /echo/ HTTP/1.1\r\nHost: x\r\n'
              b'Content-Length: 10000000\r\n\r\n' + b'p' * 300000)
    got = 0
    while got < 1000:
        got += len(s.recv(65536))
    s.close()
    status, _, body = d.request('POST', '/echo/', body=b'again')
    assert (status, body) == (200, b'again')
    assert children(d.proc.pid) == pids, d.log()


def test_app_abort_before_head(was_server):
    d = was_server()
    status, _, body = d.request('GET', '/abort-early')
    assert status == 500


def test_app_abort_mid_body_cuts_response(was_server):
    d = was_server()
    out = d.raw(b'GET /abort-mid HTTP/1.1\r\nHost: x\r\n\r\n', timeout=5)
    head, _, body = out.partition(b'\r\n\r\n')
    assert b'content-length: 5000' in head.lower()
    assert body == b'x' * 1000      # cut: the connection closed
    assert d.request('GET', '/x')[0] == 200


def test_crash_gives_502_and_next_works(was_server):
    d = was_server()
    first = d.request('GET', '/x')[2]
    status, _, _ = d.request('GET', '/crash')
    assert status == 502
    assert 'WAS application' in d.log() and 'was-test-app' in d.log()
    status, _, body = d.request('GET', '/x')
    assert status == 200 and body != first


def test_crash_mid_body_cuts_response(was_server):
    d = was_server()
    out = d.raw(b'GET /crash-mid HTTP/1.1\r\nHost: x\r\n\r\n', timeout=5)
    assert out.startswith(b'HTTP/1.1 200')
    assert not out.endswith(b'0\r\n\r\n')
    assert d.request('GET', '/x')[0] == 200


def test_hung_application_times_out(was_server):
    d = was_server('set was_timeout = "500 ms"\n')
    t0 = time.monotonic()
    status, _, _ = d.request('GET', '/hang')
    assert status == 504 and time.monotonic() - t0 < 5
    assert 'was_timeout' in d.log()
    assert d.request('GET', '/x')[0] == 200
    # the hung process is ended (SIGTERM after the grace period)
    assert wait_for(lambda: len(children(d.proc.pid)) == 1, 10)


def test_pool_limit(was_server):
    d = was_server('set was_stock_limit = "2"\nset was_stock_max_idle = "8"\n')
    results, elapsed = concurrent_requests(d, '/slow?300', 6)
    assert [r[0] for r in results] == [200] * 6
    assert len({r[2] for r in results}) == 2
    assert elapsed >= 0.85          # three rounds of 300 ms
    assert len(children(d.proc.pid)) == 2


def test_max_idle(was_server):
    d = was_server('set was_stock_max_idle = "1"\n')
    concurrent_requests(d, '/slow?200', 4)
    assert wait_for(lambda: len(children(d.proc.pid)) == 1, 10)


def test_multi_was_refused(was_server):
    d = was_server(extra=lambda uri: [packet('CONCURRENCY', u16(4))])
    status, _, _ = d.request('GET', '/x')
    assert status == 502
    assert 'CONCURRENCY' in d.log()


def test_no_orphans(was_server, progs):
    d = was_server()
    for p in ('/hello/', '/echo/', '/x', '/crash', '/stream/?size=10'):
        d.request('GET', p)
    assert running_programs(set(progs.values()))
    d.stop()
    assert wait_for(lambda: not running_programs(set(progs.values())), 10)


def test_sighup_fades_processes(was_server):
    """SIGHUP fades every child: the idle WAS process ends, the next
    request gets a new one."""
    d = was_server()
    first = d.request('GET', '/x')[2]
    d.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: '1 child process(es) fading' in d.log(), 5)
    assert wait_for(lambda: children(d.proc.pid) == [], 10)
    status, _, body = d.request('GET', '/x')
    assert status == 200 and body != first


def test_fade_children_by_tag(was_server, build_dir):
    """FADE_CHILDREN with a CHILD_TAG fades only the pools with that tag;
    a busy process finishes its request first."""
    ctl = os.path.join(build_dir, 'ctl', 'portierctl')
    if not os.path.exists(ctl):
        pytest.skip('portierctl not built')
    sock = '@portier-test-was-ctl-%s' % uuid.uuid4().hex[:8]

    def tags(uri):
        return [packet('CHILD_TAG', 'blue' if 'blue' in uri else 'red')]
    d = was_server('control {\n  bind "%s"\n}\n' % sock, extra=tags)
    blue = d.request('GET', '/x/blue')[2]
    red = d.request('GET', '/x/red')[2]
    assert blue != red
    results = []
    t = threading.Thread(target=lambda: results.append(
        d.request('GET', '/slow/blue?600')))
    t.start()
    # the blue process is busy once it sleeps in /slow (a fixed pause
    # here faded it idle on a loaded machine, before the request came)
    wait_for(lambda: 'nanosleep' in wchan(int(blue)))
    p = subprocess.run([ctl, '--server', sock, 'fade-children', 'blue'],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    join_within(t, 60, 'the busy request /slow/blue did not end')
    assert results[0][0] == 200     # the busy one finished its request
    assert d.request('GET', '/x/red')[2] == red
    assert d.request('GET', '/x/blue')[2] not in (blue, results[0][2])


def test_http_cache(was_server):
    """WAS responses go through the HTTP cache (docs/http-cache.md): the
    application's request count shows whether it was asked."""
    d = was_server('set http_cache_size = "1 MB"\n')
    s1, _, b1 = d.request('GET', '/cacheable')
    s2, r2, b2 = d.request('GET', '/cacheable')
    assert (s1, s2) == (200, 200) and b1 == b2
    assert r2.getheader('Cache-Control') == 'max-age=60'
    assert r2.getheader('Age') is not None
    n1 = d.request('GET', '/cacheable?nostore')[2]
    n2 = d.request('GET', '/cacheable?nostore')[2]
    assert n1 != n2 and n1 != b1


def test_http_cache_revalidation(was_server):
    """A WAS entry with ETag and no-cache is revalidated on each use: the
    application gets the entry's ETag in If-None-Match (not the
    client's), its 304 refreshes the entry and the client gets the stored
    body, so the application's 200 count stays 1."""
    d = was_server('set http_cache_size = "1 MB"\n')
    s1, _, b1 = d.request('GET', '/etag')
    assert s1 == 200 and b1.endswith(b'/1\n')
    for h in ({}, {'If-None-Match': '"other"'}):
        s2, r2, b2 = d.request('GET', '/etag', h)
        assert (s2, b2) == (200, b1)
        assert r2.getheader('ETag') == '"e1"'
    assert d.request('GET', '/etag', {'If-None-Match': '"e1"'})[0] == 304
    # without the cache the application answers 200 each time
    d2 = was_server('set http_cache_size = "0"\n')
    assert d2.request('GET', '/etag')[2] != d2.request('GET', '/etag')[2]
