"""portierd as a reverse proxy (the HTTP resource address, spec §1.7.2):
request and response forwarding, bodies both ways (Content-Length and
chunked, large ones byte-exact in bounded memory), the keep-alive pool,
failover, timeouts and malformed backend responses (spec §8's edge
cases).  Backends: a real nginx from Debian and a small Python backend
(httpbackend.py) for what nginx will not do."""
import hashlib
import http.client
import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import free_port
from dphelp import log_lines, wait_log
from httpbackend import Backend, pattern
from tplib import ScriptedTranslationServer, packet, u16

MiB = 1 << 20


@pytest.fixture
def backend():
    b = Backend()
    yield b
    b.stop()


@pytest.fixture
def servers():
    started = []

    def start(handler):
        srv = ScriptedTranslationServer(handler)
        srv.start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def http_answer(ports, uri, *extra, host='127.0.0.1'):
    """HTTP address of the backend(s) on `ports` for `uri`."""
    packets = [packet('HTTP', 'http://%s:%d%s' % (host, ports[0], uri))]
    for p in ports:
        packets.append(packet('ADDRESS_STRING', '127.0.0.1:%d' % p))
    return packets + list(extra)


CONFIG = ('set backend_response_timeout = "2 s"\n'
          'set backend_body_timeout = "2 s"\n'
          'set backend_connect_timeout = "2 s"\n')


@pytest.fixture
def proxy(portierd_factory, servers, backend):
    """portierd whose translation server sends every URI to `backend`."""
    extra = {}

    def handler(req):
        uri = req.text('URI')
        return http_answer([backend.port], uri, *extra.get(uri, []))

    srv = servers(handler)
    d = portierd_factory([srv.address], config=CONFIG)
    return d, backend, extra


def conn(d, timeout=10):
    return http.client.HTTPConnection('127.0.0.1', d.port, timeout=timeout)


def test_get_forwarding(proxy):
    d, b, _ = proxy
    status, r, body = d.request('GET', '/echo/a?x=1&y=2', {
        'Accept': 'text/plain', 'User-Agent': 'ua/1',
        'Cookie': 'c=1', 'X-Other': 'o', 'X-CM4all-BENG-User': 'mallory',
        'Connection': 'keep-alive, X-Hop', 'X-Hop': 'h',
        'X-Forwarded-For': '198.51.100.1'})
    assert status == 200
    info = json.loads(body)
    assert info['method'] == 'GET'
    assert info['target'] == '/echo/a?x=1&y=2'
    h = {k.lower(): v for k, v in info['headers']}
    assert h['host'] == '127.0.0.1:%d' % b.port
    assert h['accept'] == 'text/plain'
    assert h['user-agent'] == 'ua/1'
    assert h['x-forwarded-for'] == '198.51.100.1, 127.0.0.1'
    assert h['via'].startswith('1.1 ')
    for absent in ('cookie', 'x-other', 'x-cm4all-beng-user', 'x-hop',
                   'connection', 'keep-alive'):
        assert absent not in h, absent
    # response: ETag and Content-Type pass, X-Custom and Set-Cookie not
    # (groups OTHER and COOKIE by default), hop-by-hop never
    assert r.getheader('Content-Type') == 'application/json'
    assert r.getheader('ETag') == '"e1"'
    assert r.getheader('X-Custom') is None
    assert r.getheader('Set-Cookie') is None
    assert r.getheader('Keep-Alive') is None
    assert r.getheader('Server') == 'Portier'


def test_header_forward_modes(proxy):
    d, b, extra = proxy
    # OTHER and COOKIE: YES both ways; IDENTITY: NO
    modes = u16(3) + b'\x01\x00' + u16(2) + b'\x01\x00' + u16(0) + b'\x00\x00'
    extra['/echo/m'] = [packet('REQUEST_HEADER_FORWARD', modes),
                        packet('RESPONSE_HEADER_FORWARD', modes),
                        packet('REQUEST_HEADER', 'x-from-tr:t')]
    status, r, body = d.request('GET', '/echo/m', {
        'Cookie': 'c=1', 'X-Other': 'o', 'X-CM4all-BENG-User': 'mallory',
        'X-Forwarded-For': '198.51.100.1'})
    assert status == 200
    h = {k.lower(): v for k, v in json.loads(body)['headers']}
    assert h['cookie'] == 'c=1' and h['x-other'] == 'o'
    assert h['x-from-tr'] == 't'
    assert 'x-cm4all-beng-user' not in h
    assert 'x-forwarded-for' not in h and 'via' not in h
    assert r.getheader('X-Custom') == 'yes'
    assert r.getheader('Set-Cookie') == 'a=b'


def test_head(proxy):
    d, b, _ = proxy
    status, r, body = d.request('HEAD', '/big/12345')
    assert status == 200 and body == b''
    assert r.getheader('Content-Length') == '12345'
    status, r, body = d.request('HEAD', '/chunked')
    assert status == 200 and body == b''


def test_chunked_response(proxy):
    d, _, _ = proxy
    status, r, body = d.request('GET', '/chunked/x')
    assert status == 200
    assert r.getheader('Transfer-Encoding') == 'chunked'
    assert json.loads(body)['target'] == '/chunked/x'


def test_post_content_length_and_chunked(proxy):
    d, _, _ = proxy
    data = pattern(300000)
    status, _, body = d.request('POST', '/echo/p', body=data)
    assert status == 200
    info = json.loads(body)
    assert info['length'] == len(data)
    assert info['sha256'] == hashlib.sha256(data).hexdigest()
    h = {k.lower(): v for k, v in info['headers']}
    assert h['content-length'] == str(len(data))

    def gen():
        for i in range(0, len(data), 10000):
            yield data[i:i + 10000]
    c = conn(d)
    c.request('POST', '/echo/c', body=gen(), encode_chunked=True,
              headers={'Transfer-Encoding': 'chunked',
                       'Content-Type': 'application/x-test'})
    r = c.getresponse()
    info = json.loads(r.read())
    c.close()
    assert info['length'] == len(data)
    assert info['sha256'] == hashlib.sha256(data).hexdigest()
    h = {k.lower(): v for k, v in info['headers']}
    assert h['transfer-encoding'] == 'chunked'
    assert h['content-type'] == 'application/x-test'
    # POST without a body: Content-Length: 0 to the backend
    status, _, body = d.request('POST', '/echo/e')
    h = {k.lower(): v for k, v in json.loads(body)['headers']}
    assert status == 200 and h['content-length'] == '0'


def test_status_passes(proxy):
    d, _, _ = proxy
    for s in (201, 204, 304, 404, 500, 503):
        status, r, body = d.request('GET', '/status/%d' % s)
        assert status == s and body == b''


def test_keepalive_reuse(proxy):
    d, b, _ = proxy
    c = conn(d)
    for i in range(20):
        c.request('GET', '/echo/%d' % i)
        assert c.getresponse().read()
    c.close()
    assert b.connections == 1
    # several clients one after another share it too
    for i in range(5):
        assert d.request('GET', '/echo/k%d' % i)[0] == 200
    assert b.connections == 1


def test_retry_after_backend_closed_idle(proxy):
    d, b, _ = proxy
    assert d.request('GET', '/echo/1')[0] == 200
    # the backend drops its idle connection without the proxy noticing
    # in time (the keep-alive race): the next GET is retried once
    with b._lock:
        conns = list(b._conns)
    for c in conns:
        c.shutdown(socket.SHUT_RDWR)
    status, _, body = d.request('GET', '/echo/2')
    assert status == 200 and json.loads(body)['target'] == '/echo/2'


def pattern_sha256(n):
    """SHA-256 of pattern(n), computed 1 MiB at a time (the test process
    stays small: processes it forks later inherit its peak RSS)."""
    h = hashlib.sha256()
    for off in range(0, n, MiB):
        h.update(pattern(min(MiB, n - off), off))
    return h.hexdigest()


def rss_kib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1])
    return 0


def test_large_download_and_upload(proxy):
    d, _, _ = proxy
    n = 100 * MiB
    c = conn(d, timeout=60)
    c.request('GET', '/big/%d' % n)
    r = c.getresponse()
    assert r.status == 200 and r.getheader('Content-Length') == str(n)
    h = hashlib.sha256()
    got = 0
    peak = 0
    while True:
        part = r.read(MiB)
        if not part:
            break
        h.update(part)
        got += len(part)
        if got % (8 * MiB) < MiB:
            peak = max(peak, rss_kib(d.proc.pid))
            time.sleep(0.01)    # a slow reader: back-pressure
    c.close()
    assert got == n
    assert h.hexdigest() == pattern_sha256(n)
    assert peak < 64 * 1024, peak

    # upload 100 MiB (Content-Length)
    def gen():
        for off in range(0, n, MiB):
            yield pattern(MiB, off)
    c = conn(d, timeout=60)
    c.request('POST', '/echo/up', body=gen(),
              headers={'Content-Length': str(n)})
    info = json.loads(c.getresponse().read())
    c.close()
    assert info['length'] == n
    assert info['sha256'] == pattern_sha256(n)
    assert rss_kib(d.proc.pid) < 64 * 1024


@pytest.mark.parametrize('name,cause', [
    ('bare_lf', 'bare LF at the end of the status line'),
    ('cl_te', 'Content-Length and Transfer-Encoding both present'),
    ('cl_differ', 'Content-Length values differ'),
    ('obs_fold', 'obsolete line folding'),
    ('nul', 'NUL in header'),
    ('bare_cr', 'bare CR in header'),
    ('not_http', 'does not start with "HTTP/"'),
    ('http2', 'HTTP version 2.0'),
    ('empty', 'closed the connection without a response'),
    ('head_cut', 'in the middle of the response head'),
    ('te_gzip', 'transfer coding "gzip" not supported'),
    ('switching', '101 Switching Protocols'),
])
def test_malformed_response_502(proxy, name, cause):
    d, b, _ = proxy
    path = '/raw/%s' % name
    status, _, _ = d.request('GET', path)
    assert status == 502
    lines = wait_log(d, '"GET %s HTTP/1.1": 502: ' % path)
    assert len(lines) == 1, d.log()
    assert cause in lines[0] and '127.0.0.1:%d' % b.port in lines[0], \
        lines[0]


@pytest.mark.parametrize('name', ['body_cut', 'chunk_cut', 'bad_chunk'])
def test_body_failure_closes_connection(proxy, name):
    d, b, _ = proxy
    path = '/raw/%s' % name
    out = d.raw(b'GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % path.encode())
    assert out.startswith(b'HTTP/1.1 200 ')
    head, _, body = out.partition(b'\r\n\r\n')
    if name == 'body_cut':
        assert b'Content-Length: 100' in head and len(body) < 100
    else:
        assert not body.endswith(b'0\r\n\r\n')
    lines = wait_log(d, 'response body failed')
    assert len(lines) == 1 and ('127.0.0.1:%d' % b.port) in lines[0], \
        d.log()


def test_close_delimited_interim_excess(proxy):
    d, _, _ = proxy
    status, _, body = d.request('GET', '/raw/close_delimited')
    assert status == 200 and body == b'until the end'
    status, _, body = d.request('GET', '/raw/continue_then_ok')
    assert status == 200 and body == b'ok'
    status, _, body = d.request('GET', '/raw/excess')
    assert status == 200 and body == b'ok'


def test_slow_backend_504(proxy):
    d, b, _ = proxy
    t0 = time.monotonic()
    status, _, _ = d.request('GET', '/slow/4')
    assert status == 504
    assert time.monotonic() - t0 < 3.5
    lines = wait_log(d, '"GET /slow/4 HTTP/1.1": 504: ')
    assert len(lines) == 1 and '127.0.0.1:%d' % b.port in lines[0]


def test_failover_and_all_dead(portierd_factory, servers, backend):
    dead1, dead2 = free_port(), free_port()

    def handler(req):
        uri = req.text('URI')
        if uri.startswith('/dead'):
            return http_answer([dead1, dead2], uri)
        return http_answer([dead1, backend.port, dead2], uri)

    srv = servers(handler)
    d = portierd_factory([srv.address], config=CONFIG)
    for i in range(6):
        status, _, body = d.request('GET', '/echo/f%d' % i)
        assert status == 200, d.log()
    assert len(backend.requests) == 6
    status, _, _ = d.request('GET', '/dead')
    assert status == 502
    lines = wait_log(d, '"GET /dead HTTP/1.1": 502: ')
    assert len(lines) == 1
    assert '127.0.0.1:%d' % dead1 in lines[0]
    assert '127.0.0.1:%d' % dead2 in lines[0]


def test_unix_socket_backend(portierd_factory, servers, tmp_path):
    path = str(tmp_path / 'backend.sock')
    b = Backend(socket.AF_UNIX, path)
    try:
        def handler(req):
            return [packet('HTTP', 'unix:%s' % req.text('URI')),
                    packet('ADDRESS_STRING', path)]
        srv = servers(handler)
        d = portierd_factory([srv.address], config=CONFIG)
        status, _, body = d.request('GET', '/echo/u', {'Host': 'h.example'})
        assert status == 200
        info = json.loads(body)
        h = {k.lower(): v for k, v in info['headers']}
        assert info['target'] == '/echo/u' and h['host'] == 'h.example'
    finally:
        b.stop()


def test_client_abort_mid_body(proxy):
    d, b, _ = proxy
    s = socket.create_connection(('127.0.0.1', d.port), 10)
    s.sendall(b'GET /big/%d HTTP/1.1\r\nHost: x\r\n\r\n' % (50 * MiB))
    got = 0
    while got < 2 * MiB:
        got += len(s.recv(65536))
    s.close()
    time.sleep(0.3)
    # the proxy is fine and serves the next request
    status, _, body = d.request('GET', '/echo/after')
    assert status == 200 and json.loads(body)['target'] == '/echo/after'
    assert d.proc.poll() is None
