"""The HTTP cache (docs/http-cache.md) in front of an HTTP backend: a hit
costs the backend nothing, max-age expiry, no-store and private, Vary,
revalidation with 304, Authorization, request no-cache, FLUSH_HTTP_CACHE
through portierctl (all and by CACHE_TAG), a body larger than the
per-entry limit, and http_cache_size 0.  The backend is a small Python
server that counts the requests of each path."""
import json
import os
import shutil
import socket
import tempfile
import time
import uuid

import pytest

from dphelp import log_lines, program_dir, run_ctl, spawn_block
from httpbackend import CountingServer, QuietHandler
from tplib import ScriptedTranslationServer, packet

# as root a child needs a user: nobody (and never root)
SPAWN = spawn_block('allow_group "nogroup"')


class CountingBackend(CountingServer):
    """Answers each path from `routes` (path -> function(headers) giving
    (status, [(name, value)], body)); counts requests and keeps the last
    request headers per path."""

    def __init__(self, unix_path=None):
        super().__init__()
        self.routes = {}
        self.extra = {}         # path -> more translation packets
        self.seen = {}
        outer = self

        class H(QuietHandler):
            def answer(self, head_only):
                path = self.path.split('?')[0]
                outer.counted(self.path)
                with outer.lock:
                    outer.seen[self.path] = dict(
                        (k.lower(), v) for k, v in self.headers.items())
                fn = outer.routes.get(path)
                cut = None
                if fn is None:
                    status, headers, body = 404, [], b'none'
                else:
                    answer = fn(self.headers)
                    status, headers, body = answer[:3]
                    if len(answer) > 3:
                        cut = answer[3]     # close after this many bytes
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                if status != 304:
                    self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                if not head_only and status != 304:
                    if cut is not None:
                        self.wfile.write(body[:cut])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    self.wfile.write(body)

            def do_GET(self):
                self.answer(False)

            def do_HEAD(self):
                self.answer(True)

            def do_POST(self):
                n = int(self.headers.get('Content-Length', '0'))
                self.rfile.read(n)
                self.answer(False)

        self.serve(H, unix_path)


@pytest.fixture
def cached(portierd_factory):
    """portierd with a control socket whose translation server sends
    every URI to the counting backend; tags[uri] adds a CACHE_TAG."""
    backend = CountingBackend()
    tags = {}
    sock = '@portier-test-hcache-%d-%s' % (os.getpid(),
                                           uuid.uuid4().hex[:8])

    def handler(req):
        uri = req.text('URI')
        path = uri.split('?')[0]
        out = [packet('HTTP', 'http://127.0.0.1:%d%s' % (backend.port, path)),
               packet('ADDRESS_STRING', '127.0.0.1:%d' % backend.port)]
        if path in tags:
            out.append(packet('CACHE_TAG', tags[path]))
        out += backend.extra.get(path, [])
        return out

    srv = ScriptedTranslationServer(handler)
    srv.start()
    config = ('set http_cache_size = "1 MB"\n'
              'control {\n  bind "%s"\n}\n' % sock)
    d = portierd_factory([srv.address], config=config)
    yield d, backend, tags, sock
    srv.stop()
    backend.stop()


def fixed(status, headers, body):
    return lambda h: (status, headers, body)


def get(d, path, headers=None, method='GET'):
    status, r, body = d.request(method, path, headers or {})
    return status, r, body


def test_hit(cached):
    d, b, _, _ = cached
    b.routes['/a'] = fixed(200, [('Cache-Control', 'max-age=60'),
                                 ('Content-Type', 'text/plain'),
                                 ('ETag', '"a1"')], b'hello')
    s1, r1, body1 = get(d, '/a')
    s2, r2, body2 = get(d, '/a')
    assert (s1, body1) == (200, b'hello')
    assert (s2, body2) == (200, b'hello')
    assert b.count('/a') == 1
    assert r2.getheader('Content-Type') == 'text/plain'
    assert r2.getheader('ETag') == '"a1"'
    assert r2.getheader('Age') is not None
    assert int(r2.getheader('Age')) <= 1
    # HEAD is answered from the GET entry, with its length
    s3, r3, body3 = get(d, '/a', method='HEAD')
    assert s3 == 200 and body3 == b''
    assert r3.getheader('Content-Length') == '5'
    assert b.count('/a') == 1
    # the client's own conditional on a fresh entry: 304 from the cache
    s4, _, _ = get(d, '/a', {'If-None-Match': '"a1"'})
    assert s4 == 304
    assert b.count('/a') == 1
    # another query string is another resource
    assert get(d, '/a?x=1')[0] == 200
    assert b.count('/a?x=1') == 1
    # POST never uses the cache
    assert d.request('POST', '/a', {}, b'x')[0] == 200
    assert b.count('/a') == 2


def test_max_age_expiry(cached):
    d, b, _, _ = cached
    b.routes['/e'] = fixed(200, [('Cache-Control', 'max-age=1')], b'e')
    assert get(d, '/e')[0] == 200
    assert get(d, '/e')[0] == 200
    assert b.count('/e') == 1
    time.sleep(2.1)
    assert get(d, '/e')[0] == 200
    assert b.count('/e') == 2
    assert get(d, '/e')[0] == 200
    assert b.count('/e') == 2


@pytest.mark.parametrize('cc', ['no-store, max-age=60',
                                'private, max-age=60'])
def test_not_stored(cached, cc):
    d, b, _, _ = cached
    b.routes['/n'] = fixed(200, [('Cache-Control', cc)], b'n')
    for _ in range(3):
        assert get(d, '/n')[0] == 200
    assert b.count('/n') == 3


def test_no_freshness_no_validator_not_stored(cached):
    d, b, _, _ = cached
    b.routes['/plain'] = fixed(200, [], b'p')
    get(d, '/plain')
    get(d, '/plain')
    assert b.count('/plain') == 2


def test_vary(cached):
    d, b, _, _ = cached

    def route(h):
        enc = h.get('Accept-Encoding', 'none')
        return (200, [('Cache-Control', 'max-age=60'),
                      ('Vary', 'Accept-Encoding')], enc.encode())

    b.routes['/v'] = route
    assert get(d, '/v', {'Accept-Encoding': 'gzip'})[2] == b'gzip'
    assert get(d, '/v', {'Accept-Encoding': 'br'})[2] == b'br'
    assert b.count('/v') == 2
    assert get(d, '/v', {'Accept-Encoding': 'gzip'})[2] == b'gzip'
    assert get(d, '/v', {'Accept-Encoding': 'br'})[2] == b'br'
    assert b.count('/v') == 2
    # another value is another variant (http.client sends identity)
    assert get(d, '/v')[2] == b'identity'
    assert b.count('/v') == 3
    assert get(d, '/v')[2] == b'identity'
    assert b.count('/v') == 3


def test_revalidation_304(cached):
    d, b, _, _ = cached
    state = {'etag': '"v1"', 'body': b'version one'}

    def route(h):
        if h.get('If-None-Match') == state['etag']:
            return 304, [('ETag', state['etag']),
                         ('Cache-Control', 'max-age=1')], b''
        return 200, [('ETag', state['etag']), ('Cache-Control', 'max-age=1'),
                     ('Content-Type', 'text/plain')], state['body']

    b.routes['/r'] = route
    assert get(d, '/r')[2] == b'version one'
    time.sleep(1.2)
    # stale: the backend is asked with If-None-Match and answers 304
    s, r, body = get(d, '/r')
    assert (s, body) == (200, b'version one')
    assert r.getheader('Content-Type') == 'text/plain'
    assert b.count('/r') == 2
    assert b.seen['/r'].get('if-none-match') == '"v1"'
    # refreshed: fresh again
    assert get(d, '/r')[2] == b'version one'
    assert b.count('/r') == 2
    # the client's own conditional after a revalidation: its 304
    time.sleep(1.2)
    s, _, _ = get(d, '/r', {'If-None-Match': '"v1"'})
    assert s == 304
    assert b.count('/r') == 3
    # a changed resource: 200 replaces the entry
    time.sleep(1.2)
    state['etag'] = '"v2"'
    state['body'] = b'version two'
    assert get(d, '/r')[2] == b'version two'
    assert b.count('/r') == 4
    assert get(d, '/r')[2] == b'version two'
    assert b.count('/r') == 4


def test_authorization(cached):
    d, b, _, _ = cached
    b.routes['/priv'] = fixed(200, [('Cache-Control', 'max-age=60')], b'x')
    b.routes['/pub'] = fixed(200, [('Cache-Control', 'public, max-age=60')],
                             b'y')
    auth = {'Authorization': 'Basic dTpw'}
    # not stored when requested with Authorization
    get(d, '/priv', auth)
    get(d, '/priv', auth)
    assert b.count('/priv') == 2
    # an anonymous entry does not answer a request with Authorization
    get(d, '/priv')
    get(d, '/priv')
    assert b.count('/priv') == 3
    get(d, '/priv', auth)
    assert b.count('/priv') == 4
    # public: stored and shared
    get(d, '/pub', auth)
    get(d, '/pub', auth)
    get(d, '/pub')
    assert b.count('/pub') == 1


def test_request_no_cache(cached):
    d, b, _, _ = cached
    b.routes['/nc'] = fixed(200, [('Cache-Control', 'max-age=60')], b'z')
    get(d, '/nc')
    get(d, '/nc', {'Cache-Control': 'no-cache'})
    get(d, '/nc', {'Pragma': 'no-cache'})
    assert b.count('/nc') == 3
    get(d, '/nc')
    assert b.count('/nc') == 3


def barrier(ctl, sock):
    p = run_ctl(ctl, '--server', sock, 'stats', '--json')
    assert p.returncode == 0, p.stderr


def test_flush(cached, ctl):
    d, b, tags, sock = cached
    for path in ('/t1', '/t2', '/u'):
        b.routes[path] = fixed(200, [('Cache-Control', 'max-age=60')], b'f')
    tags['/t1'] = 'news'
    tags['/t2'] = 'sport'
    for path in ('/t1', '/t2', '/u'):
        get(d, path)
        get(d, path)
        assert b.count(path) == 1
    p = run_ctl(ctl, '--server', sock, 'flush-http-cache', 'news')
    assert p.returncode == 0, p.stderr
    barrier(ctl, sock)
    for path in ('/t1', '/t2', '/u'):
        get(d, path)
    assert (b.count('/t1'), b.count('/t2'), b.count('/u')) == (2, 1, 1)
    p = run_ctl(ctl, '--server', sock, 'flush-http-cache')
    assert p.returncode == 0, p.stderr
    barrier(ctl, sock)
    for path in ('/t1', '/t2', '/u'):
        get(d, path)
    assert (b.count('/t1'), b.count('/t2'), b.count('/u')) == (3, 2, 2)
    assert log_lines(d, 'FLUSH_HTTP_CACHE is not implemented') == []
    p = run_ctl(ctl, '--server', sock, 'stats', '--json')
    st = json.loads(p.stdout)['http_cache']
    assert st['entries'] == 3
    # 3 misses + 3 hits, 1 miss + 2 hits after 'news', 3 misses after all
    assert st['hits'] == 5 and st['misses'] == 7


def test_too_large_not_stored(cached):
    d, b, _, _ = cached
    # 1 MB cache: the per-entry limit is 125000 bytes
    big = b'x' * 200000
    b.routes['/big'] = fixed(200, [('Cache-Control', 'max-age=60')], big)
    assert get(d, '/big')[2] == big
    assert get(d, '/big')[2] == big
    assert b.count('/big') == 2


def test_disabled(portierd_factory):
    backend = CountingBackend()
    backend.routes['/a'] = fixed(200, [('Cache-Control', 'max-age=60')],
                                 b'a')

    def handler(req):
        return [packet('HTTP', 'http://127.0.0.1:%d/a' % backend.port),
                packet('ADDRESS_STRING', '127.0.0.1:%d' % backend.port)]

    srv = ScriptedTranslationServer(handler)
    srv.start()
    try:
        d = portierd_factory([srv.address],
                             config='set http_cache_size = "0"\n')
        get(d, '/a')
        get(d, '/a')
        assert backend.count('/a') == 2
    finally:
        srv.stop()
        backend.stop()


CGI_SCRIPT = '''#!/bin/sh
echo "Content-Type: text/plain"
case "$QUERY_STRING" in
  nostore) echo "Cache-Control: no-store" ;;
  *) echo "Cache-Control: max-age=60" ;;
esac
echo ""
echo "pid $$"
'''


def test_cgi(portierd_factory):
    """CGI responses are cached too: the program's PID in the body shows
    whether it ran again."""
    with program_dir('portier-hcache-cgi-') as write:
        script = write('counter.sh', CGI_SCRIPT)
        tags = {}

        def handler(req):
            path = req.text('URI').split('?')[0]
            out = [packet('CGI', script)]
            if path in tags:
                out.append(packet('CACHE_TAG', tags[path]))
            return out

        srv = ScriptedTranslationServer(handler)
        srv.start()
        try:
            d = portierd_factory([srv.address], config=SPAWN +
                                 'set http_cache_size = "1 MB"\n')
            s1, _, b1 = get(d, '/x')
            s2, r2, b2 = get(d, '/x')
            assert (s1, s2) == (200, 200)
            assert b1.startswith(b'pid ') and b1 == b2
            assert r2.getheader('Age') is not None
            # another target is another entry
            assert get(d, '/y')[2] != b1
            # no-store: the program runs each time
            n1 = get(d, '/x?nostore')[2]
            n2 = get(d, '/x?nostore')[2]
            assert n1 != n2
        finally:
            srv.stop()


def test_cut_body_not_stored(cached):
    """A backend that closes early: the client's response is cut, and
    nothing is stored."""
    d, b, _, _ = cached
    b.routes['/cut'] = lambda h: (200, [('Cache-Control', 'max-age=60')],
                                  b'y' * 10000, 4000)
    for _ in range(2):
        try:
            d.request('GET', '/cut')
        except Exception:
            pass     # the cut shows as an incomplete read
    assert b.count('/cut') == 2
    # the server still works, and a complete body is stored
    b.routes['/cut'] = fixed(200, [('Cache-Control', 'max-age=60')], b'ok')
    assert get(d, '/cut')[2] == b'ok'
    assert get(d, '/cut')[2] == b'ok'
    assert b.count('/cut') == 3


def test_client_gone_not_stored(cached):
    """The client goes away after the head: the tee's copy is dropped
    (the entry would be incomplete)."""
    d, b, _, _ = cached
    big = b'z' * 120000          # under the 125000-byte entry limit
    b.routes['/gone'] = fixed(200, [('Cache-Control', 'max-age=60')], big)
    s = socket.create_connection(('127.0.0.1', d.port), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.sendall(b'GET /gone HTTP/1.1\r\nHost: x\r\n\r\n')
    s.recv(100)
    s.close()
    time.sleep(0.5)
    s1, _, body = get(d, '/gone')
    assert s1 == 200 and body == big
    # stored or not, the entry is never a partial body
    assert get(d, '/gone')[2] == big


def test_age(cached):
    """The backend's Age counts in the entry's age, and a hit sends one
    Age header (the stored one is not replayed)."""
    d, b, _, _ = cached
    b.routes['/age'] = fixed(200, [('Cache-Control', 'max-age=60'),
                                   ('Age', '5')], b'a')
    assert get(d, '/age')[0] == 200
    s, r, _ = get(d, '/age')
    assert s == 200 and b.count('/age') == 1
    assert 5 <= int(r.getheader('Age')) <= 6
    # max-age 10 with Age 9: fresh for about one second only
    b.routes['/old'] = fixed(200, [('Cache-Control', 'max-age=10'),
                                   ('Age', '9')], b'o')
    get(d, '/old')
    get(d, '/old')
    assert b.count('/old') == 1
    time.sleep(1.2)
    get(d, '/old')
    assert b.count('/old') == 2


def test_session_user(portierd_factory):
    """A request that runs as a session user is answered only from an
    entry whose response allowed it (public), and its own response is
    stored only then."""
    backend = CountingBackend()
    backend.routes['/login'] = fixed(200, [], b'in')
    backend.routes['/p'] = fixed(200, [('Cache-Control', 'max-age=60')],
                                 b'p')
    backend.routes['/pub'] = fixed(200, [('Cache-Control',
                                          'public, max-age=60')], b'q')

    def handler(req):
        path = req.text('URI').split('?')[0]
        out = [packet('HTTP', 'http://127.0.0.1:%d%s' % (backend.port, path)),
               packet('ADDRESS_STRING', '127.0.0.1:%d' % backend.port)]
        if path == '/login':
            out.append(packet('USER', 'hans'))
        return out

    srv = ScriptedTranslationServer(handler)
    srv.start()
    try:
        d = portierd_factory([srv.address],
                             config='set http_cache_size = "1 MB"\n')
        _, r, _ = get(d, '/login')
        cookie = r.getheader('Set-Cookie').split(';')[0]
        user = {'Cookie': cookie}
        get(d, '/p')                       # anonymous: stored
        get(d, '/p')
        assert backend.count('/p') == 1
        get(d, '/p', user)                 # not from the anonymous entry
        get(d, '/p', user)                 # and not stored for the user
        assert backend.count('/p') == 3
        get(d, '/p')                       # the anonymous entry is intact
        assert backend.count('/p') == 3
        get(d, '/pub', user)               # public: stored and shared
        get(d, '/pub', user)
        get(d, '/pub')
        assert backend.count('/pub') == 1
    finally:
        srv.stop()
        backend.stop()


# ---- EAGER_CACHE, IGNORE_NO_CACHE, AUTO_FLUSH_CACHE ----

def test_eager_cache(cached):
    """EAGER_CACHE stores a response without cache headers; without it the
    same response is not stored; no-store still wins."""
    d, b, _, _ = cached
    for path in ('/eager', '/plain-e', '/eager-ns'):
        b.routes[path] = fixed(200, [('Content-Type', 'text/plain')], b'e')
    b.routes['/eager-ns'] = fixed(200, [('Cache-Control', 'no-store')], b'n')
    b.extra['/eager'] = [packet('EAGER_CACHE')]
    b.extra['/eager-ns'] = [packet('EAGER_CACHE')]
    for _ in range(3):
        assert get(d, '/eager')[2] == b'e'
        assert get(d, '/plain-e')[2] == b'e'
        assert get(d, '/eager-ns')[2] == b'n'
    assert b.count('/eager') == 1
    assert b.count('/plain-e') == 3
    assert b.count('/eager-ns') == 3
    r = get(d, '/eager')[1]
    assert r.getheader('Age') is not None


def test_ignore_no_cache(cached):
    """IGNORE_NO_CACHE: the client's no-cache does not reach past a fresh
    entry of that address; other addresses still obey it."""
    d, b, _, _ = cached
    b.routes['/inc'] = fixed(200, [('Cache-Control', 'max-age=60')], b'i')
    b.routes['/obey'] = fixed(200, [('Cache-Control', 'max-age=60')], b'o')
    b.extra['/inc'] = [packet('IGNORE_NO_CACHE')]
    for h in ({}, {'Cache-Control': 'no-cache'}, {'Pragma': 'no-cache'},
              {'Cache-Control': 'max-age=0'}):
        assert get(d, '/inc', h)[2] == b'i'
        assert get(d, '/obey', h)[2] == b'o'
    assert b.count('/inc') == 1
    assert b.count('/obey') == 4
    # no-store still bypasses the cache
    get(d, '/inc', {'Cache-Control': 'no-store'})
    assert b.count('/inc') == 2


def test_auto_flush_cache(cached):
    """AUTO_FLUSH_CACHE: a modifying request flushes the address's
    CACHE_TAG (every entry with it); GET and HEAD do not, and a tagged
    address without the packet does not flush."""
    d, b, tags, _ = cached
    for path in ('/af', '/af2', '/other', '/noflush'):
        b.routes[path] = fixed(200, [('Cache-Control', 'max-age=60')],
                               path.encode())
    tags['/af'] = 'shop'
    tags['/af2'] = 'shop'
    tags['/other'] = 'blog'
    tags['/noflush'] = 'shop'
    b.extra['/af'] = [packet('AUTO_FLUSH_CACHE')]
    b.extra['/af2'] = [packet('AUTO_FLUSH_CACHE')]

    def fill():
        for path in ('/af', '/af2', '/other'):
            assert get(d, path)[0] == 200

    fill()
    fill()
    assert [b.count(p) for p in ('/af', '/af2', '/other')] == [1, 1, 1]
    # HEAD and GET keep the entries
    get(d, '/af', method='HEAD')
    fill()
    assert [b.count(p) for p in ('/af', '/af2', '/other')] == [1, 1, 1]
    # a modifying request to a tagged address without AUTO_FLUSH_CACHE
    assert d.request('POST', '/noflush', {}, b'x')[0] == 200
    fill()
    assert [b.count(p) for p in ('/af', '/af2', '/other')] == [1, 1, 1]
    # POST to /af flushes "shop": /af and /af2 are asked again, /other not
    assert d.request('POST', '/af', {}, b'x')[0] == 200
    assert b.count('/af') == 2          # the POST itself
    fill()
    assert [b.count(p) for p in ('/af', '/af2', '/other')] == [3, 2, 1]
    fill()
    assert [b.count(p) for p in ('/af', '/af2', '/other')] == [3, 2, 1]
    # DELETE, PUT and PATCH flush too (the backend answers 501 to them)
    for method in ('DELETE', 'PUT', 'PATCH'):
        d.request(method, '/af2', {}, b'y')
        before = b.count('/af')
        fill()
        assert b.count('/af') == before + 1


# ---- unix: HTTP addresses ----

def test_unix_backend(portierd_factory):
    """HTTP addresses with unix: URLs are cached; the socket is part of the
    key, so two sockets with the same path are two resources."""
    names = ['@portier-test-hcache-unix-%d-%s-%d' % (
        os.getpid(), uuid.uuid4().hex[:8], i) for i in range(2)]
    backends = [CountingBackend('\0' + n[1:]) for n in names]
    for i, be in enumerate(backends):
        be.routes['/same'] = fixed(200, [('Cache-Control', 'max-age=60')],
                                   b'backend %d' % i)

    def handler(req):
        i = 1 if req.text('URI').startswith('/two') else 0
        return [packet('HTTP', 'unix:/same'),
                packet('ADDRESS_STRING', names[i])]

    srv = ScriptedTranslationServer(handler)
    srv.start()
    try:
        d = portierd_factory([srv.address],
                             config='set http_cache_size = "1 MB"\n')
        for _ in range(3):
            assert get(d, '/one')[2] == b'backend 0'
            assert get(d, '/two')[2] == b'backend 1'
        assert backends[0].count('/same') == 1
        assert backends[1].count('/same') == 1
        r = get(d, '/one')[1]
        assert r.getheader('Age') is not None
    finally:
        srv.stop()
        for be in backends:
            be.stop()


# ---- CGI revalidation ----

CGI_ETAG_SCRIPT = '''#!/bin/sh
echo "${HTTP_IF_NONE_MATCH:-none}" >> "%(log)s"
if [ "$HTTP_IF_NONE_MATCH" = '"c1"' ]; then
  echo "Status: 304 Not Modified"
  echo 'ETag: "c1"'
  echo "Cache-Control: max-age=1"
  echo ""
  exit 0
fi
echo "Content-Type: text/plain"
echo 'ETag: "c1"'
echo "Cache-Control: max-age=1"
echo ""
echo "pid $$"
'''


def test_cgi_revalidation(portierd_factory):
    """A stale CGI entry is revalidated: the program sees the entry's
    ETag in HTTP_IF_NONE_MATCH (not the client's), its 304 refreshes the
    entry, and the client gets the stored body (or its own 304)."""
    tmp = tempfile.mkdtemp(prefix='portier-hcache-cgi-')
    try:
        os.chmod(tmp, 0o777)
        log = os.path.join(tmp, 'log')
        with open(log, 'w'):
            pass
        os.chmod(log, 0o666)
        script = os.path.join(tmp, 'etag.sh')
        with open(script, 'w') as f:
            f.write(CGI_ETAG_SCRIPT % {'log': log})
        os.chmod(script, 0o755)
        srv = ScriptedTranslationServer(lambda req: [packet('CGI', script)])
        srv.start()

        def seen():
            with open(log) as f:
                return f.read().split()

        try:
            d = portierd_factory([srv.address], config=SPAWN +
                                 'set http_cache_size = "1 MB"\n')
            s1, _, b1 = get(d, '/x')
            assert s1 == 200 and b1.startswith(b'pid ')
            assert get(d, '/x')[2] == b1
            assert seen() == ['none']
            time.sleep(1.2)
            # stale: the client's own If-None-Match is replaced by ours
            s2, r2, b2 = get(d, '/x', {'If-None-Match': '"other"'})
            assert (s2, b2) == (200, b1)
            assert r2.getheader('ETag') == '"c1"'
            assert seen() == ['none', '"c1"']
            # refreshed: fresh again without the program
            assert get(d, '/x')[2] == b1
            assert len(seen()) == 2
            # stale again, the client's matching conditional: its 304
            time.sleep(1.2)
            assert get(d, '/x', {'If-None-Match': '"c1"'})[0] == 304
            assert seen() == ['none', '"c1"', '"c1"']
        finally:
            srv.stop()
    finally:
        shutil.rmtree(tmp)


# ---- more of RFC 9111 end to end ----

def http_date(t):
    return time.strftime('%a, %d %b %Y %H:%M:%S GMT', time.gmtime(t))


def test_expires(cached):
    """Expires minus Date is the lifetime; an Expires in the past or an
    invalid one is stale at once (without a validator: not stored)."""
    d, b, _, _ = cached

    def future(h):
        now = time.time()
        return 200, [('Date', http_date(now)),
                     ('Expires', http_date(now + 60))], b'f'

    def past(h):
        now = time.time()
        return 200, [('Date', http_date(now)),
                     ('Expires', http_date(now - 60))], b'p'

    b.routes['/exp-f'] = future
    b.routes['/exp-p'] = past
    b.routes['/exp-bad'] = fixed(200, [('Expires', '0')], b'b')
    for _ in range(3):
        assert get(d, '/exp-f')[2] == b'f'
        assert get(d, '/exp-p')[2] == b'p'
        assert get(d, '/exp-bad')[2] == b'b'
    assert b.count('/exp-f') == 1
    assert b.count('/exp-p') == 3
    assert b.count('/exp-bad') == 3


def test_s_maxage_and_must_revalidate_shared(cached):
    """With Authorization, s-maxage and must-revalidate make a response
    storable and the entry answers requests with and without it; max-age
    alone does not (test_authorization)."""
    d, b, _, _ = cached
    auth = {'Authorization': 'Basic dTpw'}
    b.routes['/sm'] = fixed(200, [('Cache-Control', 's-maxage=60')], b's')
    b.routes['/mr'] = fixed(200, [('Cache-Control',
                                   'max-age=60, must-revalidate')], b'm')
    for path in ('/sm', '/mr'):
        get(d, path, auth)
        get(d, path, auth)
        get(d, path)
        assert b.count(path) == 1


def test_revalidation_last_modified(cached):
    """A stale entry with only Last-Modified is revalidated with
    If-Modified-Since; the 304's max-age refreshes it."""
    d, b, _, _ = cached
    lm = http_date(time.time() - 3600)

    def route(h):
        if h.get('If-Modified-Since') == lm:
            return 304, [('Cache-Control', 'max-age=60')], b''
        return 200, [('Last-Modified', lm), ('Cache-Control', 'no-cache'),
                     ('Content-Type', 'text/plain')], b'lm body'

    b.routes['/lm'] = route
    assert get(d, '/lm')[2] == b'lm body'
    # no-cache: lifetime 0, the next use revalidates
    s, r, body = get(d, '/lm')
    assert (s, body) == (200, b'lm body')
    assert b.count('/lm') == 2
    assert b.seen['/lm'].get('if-modified-since') == lm
    assert 'if-none-match' not in b.seen['/lm']
    assert r.getheader('Last-Modified') == lm
    # the 304 said max-age=60: fresh now
    assert get(d, '/lm')[2] == b'lm body'
    assert b.count('/lm') == 2
    # the client's If-Modified-Since at Last-Modified: 304 from the entry
    assert get(d, '/lm', {'If-Modified-Since': lm})[0] == 304
    assert b.count('/lm') == 2


def test_unsafe_request_invalidates(cached):
    """RFC 9111 section 4.4: a POST (PUT, DELETE...) answered with 2xx or
    3xx drops the entries of its URI, every Vary variant; an error
    answer and other URIs keep theirs."""
    d, b, _, _ = cached
    state = {'post': 200}

    def route(h):
        enc = h.get('Accept-Encoding', 'none')
        return (200, [('Cache-Control', 'max-age=60'),
                      ('Vary', 'Accept-Encoding')], enc.encode())

    def maybe_post(h):
        if 'Content-Length' in h:       # the POST
            return state['post'], [], b'posted'
        return route(h)

    b.routes['/inv'] = maybe_post
    b.routes['/keep'] = route

    def fill():
        assert get(d, '/inv', {'Accept-Encoding': 'gzip'})[2] == b'gzip'
        assert get(d, '/inv', {'Accept-Encoding': 'br'})[2] == b'br'
        assert get(d, '/keep')[2] == b'identity'

    fill()
    fill()
    assert (b.count('/inv'), b.count('/keep')) == (2, 1)
    # an error answer invalidates nothing
    state['post'] = 500
    assert d.request('POST', '/inv', {}, b'x')[0] == 500
    fill()
    assert (b.count('/inv'), b.count('/keep')) == (3, 1)
    # a 200: both variants of /inv go, /keep stays
    state['post'] = 200
    assert d.request('POST', '/inv', {}, b'x')[0] == 200
    fill()
    assert (b.count('/inv'), b.count('/keep')) == (6, 1)
    fill()
    assert (b.count('/inv'), b.count('/keep')) == (6, 1)


CGI_REDIRECT_SCRIPT = '''#!/bin/sh
case "$REQUEST_URI" in
  /other*)
    echo "Content-Type: text/plain"
    echo ""
    echo "inm ${HTTP_IF_NONE_MATCH:-none}"
    exit 0 ;;
esac
if [ -n "$HTTP_IF_NONE_MATCH" ]; then
  echo "Location: /other"
  echo ""
  exit 0
fi
echo "Content-Type: text/plain"
echo 'ETag: "c1"'
echo "Cache-Control: max-age=1"
echo ""
echo "first"
'''


def test_cgi_revalidation_local_redirect(portierd_factory):
    """A CGI program that answers our revalidation with a local redirect:
    the redirected request sees the client's headers again, not the
    entry's If-None-Match."""
    with program_dir('portier-hcache-cgi-') as write:
        script = write('redir.sh', CGI_REDIRECT_SCRIPT)
        srv = ScriptedTranslationServer(lambda req: [packet('CGI', script)])
        srv.start()
        try:
            d = portierd_factory([srv.address], config=SPAWN +
                                 'set http_cache_size = "1 MB"\n')
            assert get(d, '/x')[2] == b'first\n'
            time.sleep(1.2)
            assert get(d, '/x')[2] == b'inm none\n'
            assert get(d, '/x', {'If-None-Match': '"zz"'})[2] == \
                b'inm "zz"\n'
        finally:
            srv.stop()
