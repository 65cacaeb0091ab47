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
from proclib import rss_kib, wait_for
from tplib import packet, u16

MiB = 1 << 20


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
    assert r.getheader('Transfer-Encoding') == 'chunked'
    assert r.getheader('Content-Length') is None


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
    # the backend closes the reused connection instead of answering (the
    # keep-alive race): the GET is retried once on a new connection
    status, _, body = d.request('GET', '/drop-reused/2')
    assert status == 200 and json.loads(body)['target'] == '/drop-reused/2'
    assert b.connections == 2
    # not with a request body: 502
    status, _, _ = d.request('PUT', '/drop-reused/3', body=b'data')
    assert status == 502
    lines = wait_log(d, '"PUT /drop-reused/3 HTTP/1.1": 502: ')
    assert len(lines) == 1 and 'without a response' in lines[0], d.log()


def pattern_sha256(n):
    """SHA-256 of pattern(n), computed 1 MiB at a time (the test process
    stays small: processes it forks later inherit its peak RSS)."""
    h = hashlib.sha256()
    for off in range(0, n, MiB):
        h.update(pattern(min(MiB, n - off), off))
    return h.hexdigest()


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
    ('continue_close', 'in the middle of the response head'),
    ('status_600', 'status code 600 out of range'),
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
    status, _, body = d.request('GET', '/raw/twice_continue')
    assert status == 201 and body == b'ok'
    status, r, body = d.request('GET', '/raw/http10_close')
    assert status == 200 and body == b'one-zero'
    assert r.getheader('Transfer-Encoding') == 'chunked'


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
    # a request body survives a failed connection attempt: it is read
    # only once a backend is connected
    for i in range(3):
        status, _, body = d.request('POST', '/echo/fp%d' % i,
                                    body=b'payload-%d' % i)
        assert status == 200
        assert json.loads(body)['length'] == 9
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


# ---- a real nginx as the backend ----

class Nginx:
    """nginx from Debian on a free loopback port, one worker, its access
    log naming the connection serial of every request."""

    def __init__(self, tmp, tls=None, extra=''):
        """tls: (certificate, key) files: the port speaks TLS; extra:
        more lines for the server block."""
        if shutil.which('nginx') is None:
            pytest.skip('nginx is not installed')
        self.dir = tmp
        self.root = os.path.join(tmp, 'www')
        os.makedirs(self.root)
        self.port = free_port()
        self.access = os.path.join(tmp, 'access.log')
        user = 'user root;\n' if os.geteuid() == 0 else ''
        conf = os.path.join(tmp, 'nginx.conf')
        with open(conf, 'w') as f:
            f.write(
                'worker_processes 1;\ndaemon off;\n%s'
                'pid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n'
                'events {{ worker_connections 256; }}\n'
                'http {{\n'
                '  log_format c "$connection $request $status";\n'
                '  access_log {d}/access.log c;\n'
                '  keepalive_requests 100000;\n'
                '  client_body_temp_path {d}/body;\n'
                '  proxy_temp_path {d}/proxy;\n'
                '  fastcgi_temp_path {d}/fcgi;\n'
                '  uwsgi_temp_path {d}/uwsgi;\n'
                '  scgi_temp_path {d}/scgi;\n'
                '  server {{\n'
                '    listen 127.0.0.1:{port}{ssl};\n'
                '{certs}'
                '{extra}'
                '    root {d}/www;\n'
                '    location /post {{ return 200 "posted\\n"; }}\n'
                '  }}\n'
                '}}\n'.format(
                    d=tmp, port=self.port, ssl=' ssl' if tls else '',
                    extra=extra,
                    certs=('    ssl_certificate %s;\n'
                           '    ssl_certificate_key %s;\n' % tls)
                    if tls else '') % user)
        self.proc = subprocess.Popen(
            ['nginx', '-p', tmp + '/', '-e', tmp + '/error.log', '-c', conf],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(('127.0.0.1', self.port),
                                         0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None or \
                        time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError('nginx did not start')
                time.sleep(0.05)

    def connections(self, count=0):
        """The connection serials of the requests logged so far (nginx
        logs a request after its response: wait up to 3 s for `count`)."""
        deadline = time.monotonic() + 3
        while True:
            with open(self.access) as f:
                serials = [line.split()[0] for line in f if line.strip()]
            if len(serials) >= count or time.monotonic() > deadline:
                return serials
            time.sleep(0.02)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def nginx_proxy(portierd_factory, servers, tmp_path):
    ngx = Nginx(str(tmp_path / 'nginx'))
    try:
        srv = servers(lambda req: http_answer([ngx.port], req.text('URI')))
        d = portierd_factory([srv.address], config=CONFIG)
        yield d, ngx
    finally:
        ngx.stop()


def test_nginx_get_head_post(nginx_proxy):
    d, ngx = nginx_proxy
    with open(os.path.join(ngx.root, 'a.txt'), 'wb') as f:
        f.write(b'hello nginx\n')
    status, r, body = d.request('GET', '/a.txt')
    assert status == 200 and body == b'hello nginx\n'
    assert r.getheader('ETag') and r.getheader('Last-Modified')
    assert r.getheader('Server') == 'Portier'
    status, r, body = d.request('HEAD', '/a.txt')
    assert status == 200 and body == b''
    assert r.getheader('Content-Length') == '12'
    # a conditional request passes through: 304
    status, _, body = d.request('GET', '/a.txt',
                                {'If-None-Match': r.getheader('ETag')})
    assert status == 304 and body == b''
    assert d.request('GET', '/missing')[0] == 404
    status, _, body = d.request('POST', '/post', body=b'x' * 100000)
    assert status == 200 and body == b'posted\n'
    c = conn(d)
    c.request('POST', '/post', body=iter([b'a' * 5000, b'b' * 7000]),
              encode_chunked=True, headers={'Transfer-Encoding': 'chunked'})
    r = c.getresponse()
    assert r.status == 200 and r.read() == b'posted\n'
    c.close()


def test_nginx_large_download_and_reuse(nginx_proxy):
    d, ngx = nginx_proxy
    n = 32 * MiB
    with open(os.path.join(ngx.root, 'big.bin'), 'wb') as f:
        for off in range(0, n, MiB):
            f.write(pattern(MiB, off))
    c = conn(d, timeout=60)
    c.request('GET', '/big.bin')
    r = c.getresponse()
    h = hashlib.sha256()
    got = 0
    while True:
        part = r.read(MiB)
        if not part:
            break
        h.update(part)
        got += len(part)
    assert got == n and h.hexdigest() == pattern_sha256(n)
    assert rss_kib(d.proc.pid) < 64 * 1024
    # keep-alive to nginx: further requests on one backend connection
    # (each must reach nginx: "no-cache" keeps the HTTP cache, on by
    # default, from answering them when k.txt's Last-Modified lies a
    # second before nginx's Date and gives it 100 ms of heuristic
    # freshness, as it did once in CI)
    with open(os.path.join(ngx.root, 'k.txt'), 'wb') as f:
        f.write(b'k')
    for i in range(10):
        c.request('GET', '/k.txt', headers={'Cache-Control': 'no-cache'})
        assert c.getresponse().read() == b'k'
    c.close()
    serials = ngx.connections(11)
    assert len(serials) == 11
    assert len(set(serials)) == 1, serials


def test_body_silence_closes_connection(proxy):
    d, b, _ = proxy
    t0 = time.monotonic()
    out = d.raw(b'GET /stall/5 HTTP/1.1\r\nHost: x\r\n\r\n', timeout=8)
    assert out.startswith(b'HTTP/1.1 200 ') and out.endswith(b'ten bytes.')
    assert time.monotonic() - t0 < 4.5
    lines = wait_log(d, 'response body failed')
    assert len(lines) == 1, d.log()
    assert 'no response body data within 2000 ms' in lines[0]
    assert '127.0.0.1:%d' % b.port in lines[0]


def test_early_response_to_upload(proxy):
    d, _, _ = proxy
    s = socket.create_connection(('127.0.0.1', d.port), 10)
    n = 8 * MiB
    s.sendall(b'POST /early/413 HTTP/1.1\r\nHost: x\r\n'
              b'Content-Length: %d\r\n\r\n' % n)
    out = b''
    try:
        for off in range(0, n, MiB):
            s.sendall(pattern(MiB, off))
    except OSError:
        pass    # the proxy may close once it answered
    try:
        while True:
            part = s.recv(65536)
            if not part:
                break
            out += part
    except OSError:
        pass
    s.close()
    assert out.startswith(b'HTTP/1.1 413 '), out[:200]
    assert out.endswith(b'early')
    assert d.request('GET', '/echo/next')[0] == 200


def test_stock_limit_queues(portierd_factory, servers, backend):
    srv = servers(lambda req: http_answer([backend.port], req.text('URI')))
    # the last of the four waits about 0.9 s: well within its bound
    d = portierd_factory([srv.address],
                         config=CONFIG + 'set tcp_stock_limit = 1\n'
                         'set backend_connect_timeout = "10 s"\n')
    results = []

    def one(i):
        results.append(d.request('GET', '/slow/0.3')[0])
    threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert results == [200] * 4
    assert backend.connections == 1
    assert time.monotonic() - t0 >= 1.1     # one at a time


def test_client_gone_while_waiting(proxy):
    d, b, _ = proxy
    s = socket.create_connection(('127.0.0.1', d.port), 10)
    s.sendall(b'GET /slow/1 HTTP/1.1\r\nHost: x\r\n\r\n')
    time.sleep(0.2)
    s.close()
    time.sleep(1.2)
    assert d.request('GET', '/echo/after')[0] == 200
    assert d.proc.poll() is None


def test_client_gone_while_waiting_ends_the_backend_request(proxy):
    """The hang-up is heard while the backend works (the poll for the
    request head stays on for it): the backend connection is closed, not
    kept for the next request."""
    d, b, _ = proxy
    assert d.request('GET', '/echo/warm')[0] == 200
    assert b.connections == 1
    s = socket.create_connection(('127.0.0.1', d.port), 10)
    s.sendall(b'GET /slow/1 HTTP/1.1\r\nHost: x\r\n\r\n')
    # the backend works on it (a fixed 0.3 s could end before the request
    # reached the backend on a loaded machine: nothing to close then)
    wait_for(lambda: [r for r in b.requests if r['target'] == '/slow/1'])
    s.close()
    time.sleep(1.5)     # the slow answer would have come by now
    assert d.request('GET', '/echo/after')[0] == 200
    assert b.connections == 2


def test_pipelined_behind_a_backend(proxy):
    """Input during a proxied request (a pipelined request) is no
    hang-up: both answers come, in order."""
    d, b, _ = proxy
    with socket.create_connection(('127.0.0.1', d.port), 10) as s:
        s.sendall(b'GET /slow/0.3 HTTP/1.1\r\nHost: x\r\n\r\n')
        time.sleep(0.1)
        s.sendall(b'GET /echo/p HTTP/1.1\r\nHost: x\r\n'
                  b'Connection: close\r\n\r\n')
        out = b''
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    assert out.count(b'HTTP/1.1 200 ') == 2, out
    assert out.index(b'slow') < out.index(b'/echo/p')


def test_connect_timeout_504(portierd_factory, servers):
    # a listener whose accept queue is full: the kernel drops further
    # SYNs, so connecting hangs
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.bind(('127.0.0.1', 0))
    lst.listen(0)
    port = lst.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(('127.0.0.1', port))
            fillers.append(s)
        time.sleep(0.2)
        srv = servers(lambda req: http_answer([port], req.text('URI')))
        d = portierd_factory([srv.address], config=CONFIG)
        t0 = time.monotonic()
        status, _, _ = d.request('GET', '/hang')
        assert status == 504
        assert 1.5 < time.monotonic() - t0 < 4
        lines = wait_log(d, '"GET /hang HTTP/1.1": 504: ')
        assert len(lines) == 1
        assert '127.0.0.1:%d: connect timeout' % port in lines[0], lines[0]
    finally:
        for s in fillers:
            s.close()
        lst.close()


def test_expect_100_continue(proxy):
    d, _, _ = proxy
    with socket.create_connection(('127.0.0.1', d.port), 10) as s:
        s.sendall(b'POST /echo/x HTTP/1.1\r\nHost: x\r\n'
                  b'Content-Length: 5\r\nExpect: 100-continue\r\n\r\n')
        interim = s.recv(100)
        assert interim == b'HTTP/1.1 100 Continue\r\n\r\n'
        s.sendall(b'hello')
        out = b''
        while b'"sha256"' not in out:
            part = s.recv(65536)
            if not part:
                break
            out += part
    assert out.startswith(b'HTTP/1.1 200 ')
    info = json.loads(out.partition(b'\r\n\r\n')[2])
    assert info['length'] == 5
    h = {k.lower() for k, _ in info['headers']}
    assert 'expect' not in h


def test_idle_timeout_closes_pooled(portierd_factory, servers, backend):
    srv = servers(lambda req: http_answer([backend.port], req.text('URI')))
    d = portierd_factory([srv.address], config=CONFIG +
                         'set backend_idle_timeout = "300 ms"\n')
    assert d.request('GET', '/echo/1')[0] == 200
    assert d.request('GET', '/echo/2')[0] == 200
    assert backend.connections == 1
    time.sleep(0.8)
    assert d.request('GET', '/echo/3')[0] == 200
    assert backend.connections == 2


def test_address_string_host_name(portierd_factory, servers, backend):
    # "localhost" comes from /etc/hosts: no DNS query leaves the machine
    dead = free_port()

    def handler(req):
        uri = req.text('URI')
        return [packet('HTTP', 'http://localhost:%d%s' % (backend.port, uri)),
                packet('ADDRESS_STRING', 'localhost:%d' % dead),
                packet('ADDRESS_STRING', 'localhost:%d' % backend.port)]

    srv = servers(handler)
    d = portierd_factory([srv.address], config=CONFIG)
    for i in range(4):
        status, _, body = d.request('GET', '/echo/n%d' % i)
        assert status == 200, d.log()
        h = {k.lower(): v for k, v in json.loads(body)['headers']}
        assert h['host'] == 'localhost:%d' % backend.port



# ---- https:// backends ----

def openssl(*args, cwd):
    subprocess.run(['openssl'] + list(args), cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=60)


@pytest.fixture
def test_ca(tmp_path):
    """A CA and a server certificate for localhost, 127.0.0.1 and
    backend.test signed by it (EC keys, two days)."""
    if shutil.which('openssl') is None:
        pytest.skip('openssl is not installed')
    d = tmp_path / 'pki'
    d.mkdir()
    ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
          '-nodes']
    openssl('req', '-x509', *ec, '-keyout', 'ca.key', '-out', 'ca.pem',
            '-days', '2', '-subj', '/CN=Portier test CA', cwd=d)
    openssl('req', *ec, '-keyout', 'srv.key', '-out', 'srv.csr',
            '-subj', '/CN=localhost', cwd=d)
    (d / 'ext').write_text('subjectAltName=DNS:localhost,DNS:backend.test,'
                           'IP:127.0.0.1\n')
    openssl('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey',
            'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '2',
            '-extfile', 'ext', cwd=d)
    openssl('req', *ec, '-keyout', 'client.key', '-out', 'client.csr',
            '-subj', '/CN=portier-client', cwd=d)
    openssl('x509', '-req', '-in', 'client.csr', '-CA', 'ca.pem', '-CAkey',
            'ca.key', '-CAcreateserial', '-out', 'client.pem', '-days', '2',
            cwd=d)
    (d / 'empty.pem').write_text('')
    return d


@pytest.fixture
def tls_nginx(tmp_path, test_ca):
    ngx = Nginx(str(tmp_path / 'nginx-tls'),
                tls=(str(test_ca / 'srv.pem'), str(test_ca / 'srv.key')))
    with open(os.path.join(ngx.root, 'a.txt'), 'wb') as f:
        f.write(b'over tls\n')
    yield ngx
    ngx.stop()


def https_answer(port, uri, host='localhost'):
    return [packet('HTTP', 'https://%s:%d%s' % (host, port, uri)),
            packet('ADDRESS_STRING', '127.0.0.1:%d' % port)]


def test_https_backend_verified(portierd_factory, servers, tls_nginx,
                                test_ca, monkeypatch):
    ngx = tls_nginx
    monkeypatch.setenv('SSL_CERT_FILE', str(test_ca / 'ca.pem'))

    def handler(req):
        uri = req.text('URI')
        if uri.startswith('/ip/'):
            return https_answer(ngx.port, uri[3:], host='127.0.0.1')
        if uri.startswith('/wrong/'):
            return https_answer(ngx.port, uri[6:], host='wrong.test')
        return https_answer(ngx.port, uri)

    srv = servers(handler)
    d = portierd_factory([srv.address], config=CONFIG)
    c = conn(d)
    for i in range(5):
        c.request('GET', '/a.txt')
        r = c.getresponse()
        assert r.status == 200 and r.read() == b'over tls\n'
    c.close()
    # one TLS connection to nginx for all five
    assert len(set(ngx.connections(5))) == 1
    # an IP literal is verified as an address (no SNI)
    status, _, body = d.request('GET', '/ip/a.txt')
    assert status == 200 and body == b'over tls\n'
    # a name the certificate does not carry: 502
    status, _, _ = d.request('GET', '/wrong/a.txt')
    assert status == 502
    lines = wait_log(d, '"GET /wrong/a.txt HTTP/1.1": 502: ')
    assert len(lines) == 1 and 'certificate verify failed' in lines[0], \
        d.log()
    # bodies both ways, larger than TLS records and the client's buffer
    n = 8 * MiB
    with open(os.path.join(ngx.root, 'big.bin'), 'wb') as f:
        for off in range(0, n, MiB):
            f.write(pattern(MiB, off))
    c = conn(d, timeout=60)
    c.request('GET', '/big.bin')
    r = c.getresponse()
    h = hashlib.sha256()
    while True:
        part = r.read(256 * 1024)
        if not part:
            break
        h.update(part)
        time.sleep(0.001)
    assert h.hexdigest() == pattern_sha256(n)
    c.close()
    status, _, body = d.request('POST', '/post', body=b'y' * 300000)
    assert status == 200 and body == b'posted\n'


def test_https_backend_unverified(portierd_factory, servers, tls_nginx,
                                  test_ca, monkeypatch):
    ngx = tls_nginx
    monkeypatch.setenv('SSL_CERT_FILE', str(test_ca / 'empty.pem'))
    srv = servers(lambda req: https_answer(ngx.port, req.text('URI')))
    # the CA is unknown: refused
    d = portierd_factory([srv.address], config=CONFIG)
    status, _, _ = d.request('GET', '/a.txt')
    assert status == 502
    lines = wait_log(d, '"GET /a.txt HTTP/1.1": 502: ')
    assert len(lines) == 1, d.log()
    assert 'certificate verify failed' in lines[0]
    assert '127.0.0.1:%d' % ngx.port in lines[0]
    # verification off: served
    d2 = portierd_factory([srv.address], config=CONFIG +
                          'set backend_tls_verify = "no"\n')
    status, _, body = d2.request('GET', '/a.txt')
    assert status == 200 and body == b'over tls\n'


def test_https_plain_port_and_unknown_certificate(portierd_factory, servers,
                                                  backend, test_ca,
                                                  monkeypatch):
    monkeypatch.setenv('SSL_CERT_FILE', str(test_ca / 'ca.pem'))

    def handler(req):
        uri = req.text('URI')
        if uri == '/cert':
            return https_answer(backend.port, uri) + [
                packet('CERTIFICATE', 'nope')]
        return https_answer(backend.port, uri)
    srv = servers(handler)
    d = portierd_factory([srv.address], config=CONFIG)
    # TLS to a plain HTTP server that waits for a request head: the
    # handshake times out (the connect timeout), 504
    status, _, _ = d.request('GET', '/echo/x')
    assert status == 504
    lines = wait_log(d, '"GET /echo/x HTTP/1.1": 504: ')
    assert len(lines) == 1 and 'TLS handshake timeout' in lines[0], d.log()
    status, _, _ = d.request('GET', '/cert')
    assert status == 502
    lines = wait_log(d, '"GET /cert HTTP/1.1": 502: ')
    assert len(lines) == 1
    assert 'CERTIFICATE "nope": no ssl_client certificate' in lines[0]


def test_https_client_certificate(portierd_factory, servers, tmp_path,
                                  test_ca, monkeypatch):
    monkeypatch.setenv('SSL_CERT_FILE', str(test_ca / 'ca.pem'))
    ngx = Nginx(str(tmp_path / 'nginx-mtls'),
                tls=(str(test_ca / 'srv.pem'), str(test_ca / 'srv.key')),
                extra='    ssl_client_certificate %s;\n'
                      '    ssl_verify_client on;\n'
                      '    location /who { return 200 "$ssl_client_s_dn"; }\n'
                      % (test_ca / 'ca.pem'))
    try:
        def handler(req):
            uri = req.text('URI')
            if uri == '/with':
                return https_answer(ngx.port, '/who') + [
                    packet('CERTIFICATE', 'mine')]
            return https_answer(ngx.port, '/who')
        srv = servers(handler)
        d = portierd_factory([srv.address], config=CONFIG + (
            'ssl_client {\n  cert "%s" "%s" "mine"\n}\n'
            % (test_ca / 'client.pem', test_ca / 'client.key')))
        status, _, body = d.request('GET', '/with')
        assert status == 200 and body == b'CN=portier-client', d.log()
        # without a certificate nginx refuses: 400 passes through
        status, _, _ = d.request('GET', '/without')
        assert status == 400
    finally:
        ngx.stop()


# ---- FILTER with an HTTP address ----

def test_http_filter(portierd_factory, servers, backend, tmp_path):
    doc = tmp_path / 'doc.txt'
    data = pattern(200000)
    doc.write_bytes(data)

    def flt(uri):
        return [packet('FILTER'),
                packet('HTTP', 'http://127.0.0.1:%d%s' % (backend.port, uri)),
                packet('ADDRESS_STRING', '127.0.0.1:%d' % backend.port)]

    def handler(req):
        uri = req.text('URI')
        if uri == '/one':
            return [packet('PATH', str(doc))] + flt('/echo/filter')
        if uri == '/status':
            return [packet('PATH', str(doc))] + flt('/status/404')
        if uri == '/two':
            return [packet('PATH', str(doc))] + flt('/chunked/a') + \
                flt('/echo/b')
        if uri == '/proxied':
            return http_answer([backend.port], '/big/1000') + \
                flt('/echo/c')
        return [packet('STATUS', u16(404))]

    srv = servers(handler)
    d = portierd_factory([srv.address], config=CONFIG)
    status, r, body = d.request('GET', '/one')
    assert status == 200, d.log()
    info = json.loads(body)
    assert info['method'] == 'POST' and info['target'] == '/echo/filter'
    assert info['length'] == len(data)
    assert info['sha256'] == hashlib.sha256(data).hexdigest()
    h = {k.lower(): v for k, v in info['headers']}
    assert 'content-type' in h
    # the filter's own headers come back (ETag: by the always-forwarded
    # group), its status 200 keeps the original one
    assert r.getheader('ETag') == '"e1"'
    # a filter status other than 200 and 204 replaces the status
    status, _, _ = d.request('GET', '/status')
    assert status == 404
    # two filters in a row: the second sees the first one's output
    status, _, body = d.request('GET', '/two')
    assert status == 200
    info = json.loads(body)
    assert info['target'] == '/echo/b' and info['length'] > 100
    # a proxied response through a filter
    status, _, body = d.request('GET', '/proxied')
    info = json.loads(body)
    assert status == 200 and info['length'] == 1000
    assert info['sha256'] == hashlib.sha256(pattern(1000)).hexdigest()


def test_http_filter_down(portierd_factory, servers, tmp_path):
    doc = tmp_path / 'doc.txt'
    doc.write_bytes(b'x' * 100)
    dead = free_port()
    srv = servers(lambda req: [
        packet('PATH', str(doc)), packet('FILTER'),
        packet('HTTP', 'http://127.0.0.1:%d/f' % dead),
        packet('ADDRESS_STRING', '127.0.0.1:%d' % dead)])
    d = portierd_factory([srv.address], config=CONFIG)
    status, _, _ = d.request('GET', '/x')
    assert status == 502
    lines = wait_log(d, '"GET /x HTTP/1.1": 502: ')
    assert len(lines) == 1 and 'FILTER: connecting to the backend' in \
        lines[0], d.log()


def test_peer_subject_forwarded(portierd_factory, servers, backend, test_ca):
    """SSL MANGLE: the verified client certificate of a TLS listener
    becomes X-CM4all-BENG-Peer-Subject / -Peer-Issuer-Subject."""
    import ssl
    port = free_port()
    modes = u16(9) + b'\x02\x00'        # SSL: MANGLE

    def handler(req):
        uri = req.text('URI')
        extra = [packet('REQUEST_HEADER_FORWARD', modes)] \
            if uri == '/echo/m' else []
        return http_answer([backend.port], uri, *extra)

    srv = servers(handler)
    d = portierd_factory([srv.address], config=CONFIG + (
        'listener {\n  bind "127.0.0.1:%d"\n  ssl yes\n'
        '  ssl_cert "%s" "%s"\n  ssl_verify yes\n  ssl_ca_cert "%s"\n}\n'
        % (port, test_ca / 'srv.pem', test_ca / 'srv.key',
           test_ca / 'ca.pem')))
    ctx = ssl.create_default_context(cafile=str(test_ca / 'ca.pem'))
    ctx.load_cert_chain(str(test_ca / 'client.pem'),
                        str(test_ca / 'client.key'))
    for uri, want in (('/echo/m', True), ('/echo/d', False)):
        c = http.client.HTTPSConnection('localhost', port, context=ctx,
                                        timeout=10)
        c.request('GET', uri, headers={
            'X-CM4all-BENG-Peer-Subject': 'CN=forged'})
        r = c.getresponse()
        assert r.status == 200, d.log()
        h = {k.lower(): v for k, v in json.loads(r.read())['headers']}
        c.close()
        if want:
            assert h['x-cm4all-beng-peer-subject'] == 'CN=portier-client'
            assert h['x-cm4all-beng-peer-issuer-subject'] == \
                'CN=Portier test CA'
        else:
            assert 'x-cm4all-beng-peer-subject' not in h


def test_location_relocated(portierd_factory, servers, backend):
    """LINK MANGLE: a Location into the backend's URL space comes back in
    the client's (BASE /ext/ maps to the backend's /int/)."""
    link = {'mode': b'\x02'}

    def handler(req):
        return [packet('BASE', '/ext/'), packet('EASY_BASE'),
                packet('HTTP', 'http://127.0.0.1:%d/int/' % backend.port),
                packet('ADDRESS_STRING', '127.0.0.1:%d' % backend.port),
                packet('RESPONSE_HEADER_FORWARD',
                       u16(8) + link['mode'] + b'\x00')]

    srv = servers(handler)
    d = portierd_factory([srv.address], config=CONFIG)
    status, r, _ = d.request('GET', '/ext/sub/redir',
                             {'Host': 'www.example'})
    assert status == 302, d.log()
    assert r.getheader('Location') == 'http://www.example/ext/sub/c'
    assert backend.requests[-1]['target'] == '/int/sub/redir'
    status, r, _ = d.request('GET', '/ext/sub/redir',
                             {'Host': 'www.example',
                              'X-CM4all-HTTPS': 'on'})
    assert r.getheader('Location') == 'https://www.example/ext/sub/c'


def test_session_user_forwarded(portierd_factory, servers, backend):
    """SECURE MANGLE: the session's USER goes to the backend as
    X-CM4all-BENG-User; the client's header never does."""
    secure = u16(6) + b'\x02\x00'

    def handler(req):
        uri = req.text('URI')
        packets = http_answer([backend.port], uri,
                              packet('REQUEST_HEADER_FORWARD', secure))
        if uri == '/echo/login':
            packets.insert(0, packet('USER', 'alice'))
        return packets

    srv = servers(handler)
    d = portierd_factory([srv.address], config=CONFIG)
    status, r, body = d.request('GET', '/echo/login',
                                {'X-CM4all-BENG-User': 'mallory'})
    assert status == 200, d.log()
    h = {k.lower(): v for k, v in json.loads(body)['headers']}
    assert h.get('x-cm4all-beng-user') == 'alice', h
    cookie = r.getheader('Set-Cookie')
    assert cookie, d.log()
    # the next request of the session runs as alice too
    status, _, body = d.request('GET', '/echo/next', {
        'Cookie': cookie.split(';')[0],
        'X-CM4all-BENG-User': 'mallory'})
    h = {k.lower(): v for k, v in json.loads(body)['headers']}
    assert h.get('x-cm4all-beng-user') == 'alice', h
    # without a session: no user, and not the client's
    status, _, body = d.request('GET', '/echo/anon',
                                {'X-CM4all-BENG-User': 'mallory'})
    h = {k.lower(): v for k, v in json.loads(body)['headers']}
    assert 'x-cm4all-beng-user' not in h
