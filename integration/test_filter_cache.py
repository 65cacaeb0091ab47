"""The filter cache (docs/filter-cache.md): a FILTER stage's result is
reused for a source response with the same ETag, never stored for a
source without one; the filter's no-store is obeyed and its own errors
are not stored; FLUSH_FILTER_CACHE through portierctl (all and by
CACHE_TAG, local socket and UDP) makes the filters run again; two workers;
filter_cache_size 0 disables it; STATS has a filter_cache entry.  The
filters count their runs: an HTTP filter (a small Python server) and a
PIPE filter (a shell script appending to a file)."""
import os
import pathlib
import shutil
import tempfile
import time
import uuid

import pytest

from conftest import free_port
from dphelp import log_lines, run_ctl, spawn_block, stats
from httpbackend import CountingServer, QuietHandler
from tplib import ScriptedTranslationServer, packet


class Backend(CountingServer):
    """GET /src/etag/X: body "source X" with ETag "X"; GET /src/plain:
    no ETag.  POST /filter/NAME: the body upper-cased (a Cache-Control
    given by self.filter_cc[NAME]); every POST counted per path."""

    def __init__(self):
        super().__init__()
        self.filter_cc = {}
        outer = self

        class H(QuietHandler):
            def reply(self, status, headers, body):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                parts = self.path.split('/')
                if self.path == '/src/etag/big':
                    self.reply(200, [('ETag', '"big"')], b'x' * 20000)
                elif self.path.startswith('/src/etag/'):
                    self.reply(200, [('ETag', '"%s"' % parts[3]),
                                     ('Content-Type', 'text/plain')],
                               b'source ' + parts[3].encode())
                elif self.path == '/src/plain':
                    self.reply(200, [('Content-Type', 'text/plain')],
                               b'source plain')
                else:
                    self.reply(404, [], b'no')

            def do_POST(self):
                n = int(self.headers.get('Content-Length', '0'))
                data = self.rfile.read(n)
                name = self.path.split('/')[-1]
                outer.counted(self.path)
                headers = [('Content-Type', 'text/plain'),
                           ('ETag', '"f-%s"' % name)]
                cc = outer.filter_cc.get(name)
                if cc:
                    headers.append(('Cache-Control', cc))
                self.reply(500 if name == 'err' else 200, headers,
                           data.upper())

        self.serve(H)


@pytest.fixture
def site(portierd_factory, tmp_path):
    """portierd whose translation server maps
    /h/SRC/FILTER -> source /src/SRC... through the HTTP filter FILTER,
    /p/SRC/NAME  -> the same source through the PIPE script NAME;
    tags[FILTER or NAME] is a CACHE_TAG after the FILTER."""
    backend = Backend()
    tags = {}
    # the program may run as nobody, who cannot enter pytest's tmp_path
    progs = pathlib.Path(tempfile.mkdtemp(prefix='portier-fcache-'))
    os.chmod(str(progs), 0o755)
    counts = progs / 'counts'
    counts.mkdir()
    os.chmod(str(counts), 0o777)    # the program may run as nobody
    sock = '@portier-test-fcache-%d-%s' % (os.getpid(), uuid.uuid4().hex[:8])

    def pipe_program(name):
        path = progs / ('pipe-' + name)
        if not path.exists():
            path.write_text('#!/bin/sh\necho run >> "%s"\n'
                            'exec tr a-z A-Z\n' % (counts / name))
            os.chmod(str(path), 0o755)
        return str(path)

    def handler(req):
        parts = req.text('URI').split('/')
        kind, src, name = parts[1], parts[2], parts[3]
        src_path = '/src/plain' if src == 'plain' else '/src/etag/' + src
        out = [packet('HTTP', 'http://127.0.0.1:%d%s' % (backend.port,
                                                         src_path)),
               packet('ADDRESS_STRING', '127.0.0.1:%d' % backend.port),
               packet('FILTER')]
        if kind == 'h':
            out += [packet('HTTP', 'http://127.0.0.1:%d/filter/%s' %
                           (backend.port, name)),
                    packet('ADDRESS_STRING', '127.0.0.1:%d' % backend.port)]
        else:
            out.append(packet('PIPE', pipe_program(name)))
        if name in tags:
            out.append(packet('CACHE_TAG', tags[name]))
        return out

    def pipe_count(name):
        path = counts / name
        return len(path.read_text().splitlines()) if path.exists() else 0

    srv = ScriptedTranslationServer(handler)
    srv.start()

    def start(size='1 MB', control=sock, workers=1):
        config = (spawn_block() + 'set filter_cache_size = "%s"\n'
                  'set http_cache_size = "0"\n'
                  'control {\n  bind "%s"\n}\n' % (size, control))
        return portierd_factory([srv.address], config=config,
                                workers=workers)

    yield start, backend, pipe_count, tags, sock
    srv.stop()
    backend.stop()
    shutil.rmtree(str(progs), ignore_errors=True)


def get(d, path):
    status, r, body = d.request('GET', path)
    assert status == 200, d.log()
    return r, body


def test_http_filter_cached_by_source_etag(site, ctl):
    start, b, _, _, sock = site
    d = start()
    r1, body1 = get(d, '/h/e1/up')
    r2, body2 = get(d, '/h/e1/up')
    assert body1 == body2 == b'SOURCE E1'
    assert b.count('/filter/up') == 1
    # the stored status and headers come back with the body
    assert r1.getheader('ETag') == r2.getheader('ETag') == '"f-up"'
    assert r2.getheader('Content-Type') == 'text/plain'
    # another source ETag (another resource here) runs the filter
    assert get(d, '/h/e2/up')[1] == b'SOURCE E2'
    assert b.count('/filter/up') == 2
    # another filter on the same source runs too
    assert get(d, '/h/e1/other')[1] == b'SOURCE E1'
    assert b.count('/filter/other') == 1
    st = stats(ctl, sock)['filter_cache']
    assert st == {'entries': 3, 'hits': 1, 'misses': 3}


def test_source_without_etag_always_filtered(site, ctl):
    start, b, _, _, sock = site
    d = start()
    for _ in range(3):
        assert get(d, '/h/plain/up')[1] == b'SOURCE PLAIN'
    assert b.count('/filter/up') == 3
    st = stats(ctl, sock)['filter_cache']
    assert st == {'entries': 0, 'hits': 0, 'misses': 0}


def test_filter_no_store(site):
    start, b, _, _, _ = site
    b.filter_cc['ns'] = 'no-store'
    b.filter_cc['short'] = 'max-age=0'
    d = start()
    for _ in range(3):
        assert get(d, '/h/e1/ns')[1] == b'SOURCE E1'
        assert get(d, '/h/e1/short')[1] == b'SOURCE E1'
    assert b.count('/filter/ns') == 3
    assert b.count('/filter/short') == 3
    # a filter's own error is not stored
    for _ in range(2):
        assert d.request('GET', '/h/e1/err')[0] == 500
    assert b.count('/filter/err') == 2


def test_pipe_filter_cached(site):
    start, _, pipe_count, _, _ = site
    d = start()
    r1, body1 = get(d, '/p/e1/upper')
    r2, body2 = get(d, '/p/e1/upper')
    assert body1 == body2 == b'SOURCE E1'
    assert pipe_count('upper') == 1
    # the filtered ETag is the same on a hit
    assert r1.getheader('ETag') == r2.getheader('ETag') is not None
    for _ in range(2):
        assert get(d, '/p/plain/upper')[1] == b'SOURCE PLAIN'
    assert pipe_count('upper') == 3


def test_flush(site, ctl):
    start, b, _, tags, sock = site
    tags['news'] = 'tag-news'
    d = start()
    for name in ('news', 'other'):
        get(d, '/h/e1/%s' % name)
        get(d, '/h/e1/%s' % name)
        assert b.count('/filter/%s' % name) == 1
    p = run_ctl(ctl, '--server', sock, 'flush-filter-cache', 'tag-news')
    assert p.returncode == 0, p.stderr
    stats(ctl, sock)       # a barrier: the flush was handled
    for name in ('news', 'other'):
        get(d, '/h/e1/%s' % name)
    assert (b.count('/filter/news'), b.count('/filter/other')) == (2, 1)
    p = run_ctl(ctl, '--server', sock, 'flush-filter-cache')
    assert p.returncode == 0, p.stderr
    stats(ctl, sock)
    for name in ('news', 'other'):
        get(d, '/h/e1/%s' % name)
    assert (b.count('/filter/news'), b.count('/filter/other')) == (3, 2)
    assert log_lines(d, 'FLUSH_FILTER_CACHE is not implemented') == []


def test_flush_over_udp(site, ctl):
    """FLUSH_FILTER_CACHE is one of the two commands accepted over IP."""
    start, b, _, _, _ = site
    port = free_port()
    d = start(control='127.0.0.1:%d' % port)
    get(d, '/h/e1/udp')
    get(d, '/h/e1/udp')
    assert b.count('/filter/udp') == 1
    p = run_ctl(ctl, '--server', '127.0.0.1:%d' % port, 'flush-filter-cache')
    assert p.returncode == 0, p.stderr
    deadline = time.monotonic() + 10
    while b.count('/filter/udp') < 2 and time.monotonic() < deadline:
        get(d, '/h/e1/udp')
        time.sleep(0.05)
    assert b.count('/filter/udp') >= 2


def test_workers(site, ctl):
    """Each worker has its own store; STATS sums them and a flush
    reaches every worker."""
    start, b, _, _, sock = site
    d = start(workers=2)
    for _ in range(12):
        assert get(d, '/h/e1/w')[1] == b'SOURCE E1'
    runs = b.count('/filter/w')
    assert 1 <= runs <= 2
    st = stats(ctl, sock)
    assert st['filter_cache']['entries'] == runs
    assert st['filter_cache']['hits'] == 12 - runs
    p = run_ctl(ctl, '--server', sock, 'flush-filter-cache')
    assert p.returncode == 0, p.stderr
    assert stats(ctl, sock)['filter_cache']['entries'] == 0


def test_disabled(site, ctl):
    start, b, pipe_count, _, sock = site
    d = start('0')
    for _ in range(2):
        get(d, '/h/e1/up')
        get(d, '/p/e1/upper')
    assert b.count('/filter/up') == 2
    assert pipe_count('upper') == 2
    st = stats(ctl, sock)['filter_cache']
    assert st == {'entries': 0, 'hits': 0, 'misses': 0}


def test_too_large_not_stored(site):
    start, b, _, _, _ = site
    # 64 kB: the per-entry limit is an eighth, 8 kB
    d = start('64 kB')
    for _ in range(2):
        assert get(d, '/h/big/up')[1] == b'X' * 20000
        assert get(d, '/h/small/up')[1] == b'SOURCE SMALL'
    assert b.count('/filter/up') == 3
