"""portierd serving local files (PATH), with a scripted translation server
that states the packets each test wants, and real clients (http.client,
curl, raw sockets)."""
import os
import re
import subprocess

import pytest

from tplib import (CMD, HANG, ScriptedTranslationServer, packet, u16, u32)


@pytest.fixture
def docroot(tmp_path):
    root = tmp_path / 'www'
    root.mkdir()
    (root / 'index.html').write_text('<p>hello</p>\n')
    (root / 'sub').mkdir()
    (root / 'sub' / 'a.txt').write_text('a' * 100)
    (root / 'digits').write_bytes(b'0123456789' * 10)
    (root / 'big').write_bytes(bytes(range(256)) * 40)
    return root


def base_response(root):
    """A cacheable answer for a whole site: one translation per BASE."""
    return [packet('BASE', '/'), packet('EASY_BASE'),
            packet('PATH', str(root) + '/'), packet('MAX_AGE', u32(300))]


@pytest.fixture
def site(portierd_factory, docroot):
    srv = ScriptedTranslationServer(lambda req: base_response(docroot))
    srv.start()
    d = portierd_factory([srv.address])
    yield d, srv
    srv.stop()


def test_get_head_and_headers(site, docroot):
    d, srv = site
    status, r, body = d.request('GET', '/index.html')
    assert status == 200
    assert body == b'<p>hello</p>\n'
    assert r.getheader('Content-Length') == str(len(body))
    assert r.getheader('Server') == 'Portier'
    assert r.getheader('Date').endswith(' GMT')
    etag = r.getheader('ETag')
    assert etag.startswith('"') and etag.endswith('"')
    assert r.getheader('Last-Modified').endswith(' GMT')
    assert r.getheader('Accept-Ranges') == 'bytes'

    status, r, body = d.request('HEAD', '/index.html')
    assert status == 200 and body == b''
    assert r.getheader('Content-Length') == '13'
    assert r.getheader('ETag') == etag


def test_translation_is_cached_per_base(site):
    d, srv = site
    for path in ('/index.html', '/sub/a.txt', '/digits', '/index.html'):
        assert d.request('GET', path)[0] == 200
    # the first request activates the cache (§1.15), then one BASE item
    # serves every URI below it
    assert srv.count() <= 2


def test_translation_request_packets(site):
    d, srv = site
    d.request('GET', '/sub/a.txt;x=1/info?q=1', headers={'Host': 'h.example'})
    req = srv.requests[0]
    assert req.text('HOST') == 'h.example'
    assert req.text('URI') == '/sub/a.txt'
    assert req.packets[0] == ('BEGIN', b'\x03')


def test_missing_directory_and_methods(site):
    d, _ = site
    assert d.request('GET', '/nope.html')[0] == 404
    assert d.request('GET', '/sub')[0] == 404
    assert d.request('GET', '/sub/')[0] == 404
    status, r, body = d.request('POST', '/index.html', body=b'x')
    assert status == 405
    assert r.getheader('Allow') == 'GET, HEAD'
    assert b'405' in body


def test_conditional_requests(site):
    d, _ = site
    status, r, _ = d.request('GET', '/index.html')
    etag, lm = r.getheader('ETag'), r.getheader('Last-Modified')
    assert d.request('GET', '/index.html',
                     {'If-None-Match': etag})[0] == 304
    assert d.request('GET', '/index.html',
                     {'If-None-Match': '"other"'})[0] == 200
    assert d.request('GET', '/index.html',
                     {'If-Modified-Since': lm})[0] == 304
    assert d.request('GET', '/index.html',
                     {'If-Match': '"other"'})[0] == 412
    assert d.request('GET', '/index.html', {'If-Match': etag})[0] == 200
    status, r, body = d.request('GET', '/index.html',
                                {'If-None-Match': etag})
    assert body == b'' and r.getheader('ETag') == etag


def test_ranges(site):
    d, _ = site
    status, r, body = d.request('GET', '/digits', {'Range': 'bytes=2-5'})
    assert status == 206 and body == b'2345'
    assert r.getheader('Content-Range') == 'bytes 2-5/100'
    status, r, body = d.request('GET', '/digits', {'Range': 'bytes=-3'})
    assert status == 206 and body == b'789'
    # ranges close together are coalesced (docs/static-files.md)
    status, r, body = d.request('GET', '/digits',
                                {'Range': 'bytes=0-0,5-6'})
    assert status == 206 and body == b'0123456'
    status, r, body = d.request('GET', '/big',
                                {'Range': 'bytes=0-0,5000-5001'})
    assert status == 206
    ctype = r.getheader('Content-Type')
    assert ctype.startswith('multipart/byteranges; boundary=')
    boundary = ctype.split('boundary=')[1].encode()
    assert body.count(b'--' + boundary) == 3
    assert b'Content-Range: bytes 0-0/10240' in body
    assert b'Content-Range: bytes 5000-5001/10240' in body
    assert b'\r\n\r\n\x00\r\n' in body
    assert bytes([5000 % 256, 5001 % 256]) in body
    assert int(r.getheader('Content-Length')) == len(body)
    status, r, _ = d.request('GET', '/digits', {'Range': 'bytes=100-'})
    assert status == 416
    assert r.getheader('Content-Range') == 'bytes */100'
    # a changed validator in If-Range: the whole file
    status, _, body = d.request('GET', '/digits', {'Range': 'bytes=0-1',
                                                   'If-Range': '"x"'})
    assert status == 200 and len(body) == 100


def test_keepalive_and_pipelining(site):
    d, _ = site
    reqs = b''.join(b'GET /%s HTTP/1.1\r\nHost: x\r\n\r\n' % p
                    for p in (b'index.html', b'digits', b'nope'))
    reqs += b'GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
    out = d.raw(reqs)
    statuses = re.findall(rb'HTTP/1\.1 (\d{3}) ', out)
    assert statuses == [b'200', b'200', b'404', b'200']
    assert out.index(b'<p>hello</p>') < out.index(b'0123456789')


def test_reused_buffers_and_metadata(site, docroot):
    """Two keep-alive connections take turns with answers of every kind
    and size (output buffers and translation-cache scratch are reused
    between them, metadata comes from the open-file cache): every answer
    is exactly right; then a rewritten file gets new metadata once its
    open-file cache entry is stale (1 s)."""
    import http.client
    import time
    d, _ = site
    (docroot / 'huge').write_bytes(bytes(range(251)) * 400)   # > 16 KiB
    files = {'/index.html': b'<p>hello</p>\n',
             '/digits': b'0123456789' * 10,
             '/big': bytes(range(256)) * 40,
             '/huge': bytes(range(251)) * 400}
    conns = [http.client.HTTPConnection('127.0.0.1', d.port, timeout=10)
             for _ in range(2)]
    etags = {}
    try:
        for rnd in range(3):
            for i, (path, want) in enumerate(files.items()):
                c = conns[(i + rnd) % 2]
                c.request('GET', path)
                r = c.getresponse()
                body = r.read()
                assert (r.status, body) == (200, want), path
                assert r.getheader('Content-Length') == str(len(want))
                etag = r.getheader('ETag')
                assert etags.setdefault(path, etag) == etag
                c = conns[(i + rnd + 1) % 2]
                c.request('HEAD', path)
                r = c.getresponse()
                assert (r.status, r.read()) == (200, b'')
                assert r.getheader('ETag') == etag
                c.request('GET', path, headers={'If-None-Match': etag})
                r = c.getresponse()
                assert (r.status, r.read()) == (304, b'')
                c.request('GET', path, headers={'Range': 'bytes=2-5'})
                r = c.getresponse()
                assert (r.status, r.read()) == (206, want[2:6])
                c.request('GET', '/nope%d' % rnd)
                r = c.getresponse()
                r.read()
                assert r.status == 404
        c = conns[0]
        c.request('GET', '/digits')
        r = c.getresponse()
        assert r.read() == files['/digits']
        old_lm = r.getheader('Last-Modified')
        (docroot / 'digits').write_bytes(b'changed!')
        t = time.time() - 86400 * 400
        os.utime(docroot / 'digits', (t, t))
        time.sleep(1.3)
        c.request('GET', '/digits')
        r = c.getresponse()
        assert r.read() == b'changed!'
        assert r.getheader('ETag') != etags['/digits']
        assert r.getheader('Last-Modified') != old_lm
        c.request('GET', '/digits',
                  headers={'If-None-Match': etags['/digits']})
        r = c.getresponse()
        assert (r.status, r.read()) == (200, b'changed!')
    finally:
        for c in conns:
            c.close()


def test_http10(site):
    d, _ = site
    out = d.raw(b'GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n')
    assert out.startswith(b'HTTP/1.1 200 ')
    assert b'Connection: close' in out
    out = d.raw(b'GET /index.html HTTP/1.0\r\nHost: x\r\n'
                b'Connection: keep-alive\r\n\r\n', timeout=1)
    assert b'Connection: keep-alive' in out


def test_curl(site):
    d, _ = site
    out = subprocess.run(['curl', '-sS', '-o', '/dev/null', '-w',
                          '%{http_code} %{size_download}',
                          d.url + '/digits'], capture_output=True,
                         text=True, timeout=20)
    assert out.stdout == '200 100'


@pytest.mark.parametrize('path', [
    '/../etc/passwd', '/sub/../../etc/passwd', '/%2e%2e/etc/passwd',
    '/sub/%2E%2E/%2e%2e/etc/passwd', '/a%2f..%2fb', '/a%00b', '/a\\b',
])
def test_traversal_refused(site, path):
    d, srv = site
    out = d.raw(b'GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
                % path.encode())
    assert out.startswith(b'HTTP/1.1 400 ')
    assert srv.count() == 0     # refused before translation


def test_bad_heads(site):
    d, _ = site
    cases = [
        (b'GET / HTTP/1.1\r\n\r\n', b'400'),                  # no Host
        (b'GET / HTTP/2.0\r\nHost: x\r\n\r\n', b'505'),
        (b'GET /' + b'a' * 20000 + b' HTTP/1.1\r\nHost: x\r\n\r\n', None),
        (b'GET / HTTP/1.1\r\nHost: x\r\n' + b'X-A: b\r\n' * 200 + b'\r\n',
         b'431'),
        (b'GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n', b'400'),
        (b'GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n', b'400'),
        (b'GET / HTTP/1.1\nHost: x\n\n', b'400'),
        (b'GET / HTTP/1.1\r\nHost : x\r\n\r\n', b'400'),
    ]
    for raw, want in cases:
        out = d.raw(raw)
        status = out.split(b' ')[1] if out.startswith(b'HTTP/1.1 ') else out
        if want is None:
            assert status in (b'414', b'431'), raw[:40]
        else:
            assert status == want, (raw[:60], out[:80])
    assert 'bad request head' in d.log()


def test_smuggling_corpus(site):
    """Classic request-smuggling shapes (CL.TE, TE.CL, TE.TE, duplicate
    or malformed Content-Length): each is refused with 400 (or 501 for a
    coding we do not implement) and the connection is closed, so no
    second request can hide in the body."""
    d, _ = site
    corpus = [
        b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n'
        b'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nG',
        b'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n'
        b'Content-Length: 3\r\n\r\n8\r\nSMUGGLED\r\n0\r\n\r\n',
        b'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n',
        b'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n',
        b'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n'
        b'Transfer-encoding: cow\r\n\r\n',
        b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n'
        b'Content-Length: 6\r\n\r\nhello!',
        b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello',
        b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 5\r\n\r\nhello',
        b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
        b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: '
        b'99999999999999999999999\r\n\r\n',
        b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\n',
        b'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n'
        b' , identity\r\n\r\n',
        b'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\tchunked\x0b'
        b'\r\n\r\n',
        b'GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n',
        b'GET / HTTP/1.1\r\nHost: x\r\n\x00: y\r\n\r\n',
        b'POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
        b'0\r\n\r\n',
    ]
    for raw in corpus:
        out = d.raw(raw + b'GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n')
        assert out.startswith(b'HTTP/1.1 400 ') or \
            out.startswith(b'HTTP/1.1 501 '), (raw, out[:60])
        assert out.count(b'HTTP/1.1 ') == 1, raw


def test_unread_body_is_drained_or_closed(site):
    d, _ = site
    # a small body the file handler does not read: drained, keep-alive
    out = d.raw(b'GET /index.html HTTP/1.1\r\nHost: x\r\n'
                b'Content-Length: 5\r\n\r\nhello'
                b'GET /digits HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    assert out.count(b'HTTP/1.1 200 ') == 2
    # a chunked body: answered, then the connection is closed
    out = d.raw(b'GET /index.html HTTP/1.1\r\nHost: x\r\n'
                b'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'
                b'GET /digits HTTP/1.1\r\nHost: x\r\n\r\n')
    assert out.count(b'HTTP/1.1 200 ') == 1
    assert b'Connection: close' in out


def test_compressed_variants(portierd_factory, docroot):
    import gzip
    (docroot / 'page.html').write_text('plain ' * 50)
    (docroot / 'page.html.gz').write_bytes(gzip.compress(b'plain ' * 50))
    (docroot / 'page.html.br').write_bytes(b'not really brotli')
    (docroot / 'only.txt').write_text('identity only')

    def handler(req):
        uri = req.text('URI')
        packets = [packet('PATH', str(docroot) + uri),
                   packet('CONTENT_TYPE', 'text/html')]
        if uri == '/explicit':
            packets = [packet('PATH', str(docroot) + '/page.html'),
                       packet('CONTENT_TYPE', 'text/html'),
                       packet('GZIPPED', str(docroot) + '/page.html.gz')]
        else:
            packets += [packet('AUTO_GZIPPED'), packet('AUTO_BROTLI_PATH')]
        return packets

    with ScriptedTranslationServer(handler) as srv:
        d = portierd_factory([srv.address])
        status, r, body = d.request('GET', '/page.html',
                                    {'Accept-Encoding': 'gzip'})
        assert status == 200
        assert r.getheader('Content-Encoding') == 'gzip'
        assert r.getheader('Vary') == 'Accept-Encoding'
        assert r.getheader('Content-Type') == 'text/html'
        assert gzip.decompress(body) == b'plain ' * 50
        status, r, body = d.request('GET', '/page.html',
                                    {'Accept-Encoding': 'gzip, br'})
        assert r.getheader('Content-Encoding') == 'br'
        assert body == b'not really brotli'
        status, r, body = d.request('GET', '/page.html')
        assert r.getheader('Content-Encoding') is None
        assert r.getheader('Vary') == 'Accept-Encoding'
        assert body == b'plain ' * 50
        status, r, body = d.request('GET', '/page.html',
                                    {'Accept-Encoding': 'gzip;q=0'})
        assert r.getheader('Content-Encoding') is None
        # no variant on disk: the file itself
        status, r, body = d.request('GET', '/only.txt',
                                    {'Accept-Encoding': 'gzip, br'})
        assert r.getheader('Content-Encoding') is None
        assert body == b'identity only'
        status, r, body = d.request('GET', '/explicit',
                                    {'Accept-Encoding': 'gzip'})
        assert r.getheader('Content-Encoding') == 'gzip'
        # variants have validators of their own
        etag_gz = r.getheader('ETag')
        status, r, _ = d.request('GET', '/explicit')
        assert r.getheader('ETag') != etag_gz


def test_xattrs(portierd_factory, docroot):
    path = docroot / 'x.bin'
    path.write_bytes(b'data')
    try:
        os.setxattr(path, 'user.Content-Type', b'text/x-custom')
        os.setxattr(path, 'user.ETag', b'"v1"')
        os.setxattr(path, 'user.MaxAge', b'600')
    except OSError as e:
        pytest.skip('no user xattrs on this file system: %s' % e)
    with ScriptedTranslationServer(
            lambda req: [packet('PATH', str(path))]) as srv:
        d = portierd_factory([srv.address])
        status, r, body = d.request('GET', '/x')
        assert status == 200 and body == b'data'
        assert r.getheader('Content-Type') == 'text/x-custom'
        assert r.getheader('ETag') == '"v1"'
        assert r.getheader('Cache-Control') == 'max-age=600'
        assert d.request('GET', '/x', {'If-None-Match': '"v1"'})[0] == 304
