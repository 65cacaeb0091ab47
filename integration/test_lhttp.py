"""portierd's local HTTP servers (dataplane/dp_lhttp.c): LHTTP_PATH with
examples/lhttp/hello.c behind a scripted translation server."""
import os
import signal

import pytest

from dphelp import concurrent_requests, spawn_block
from proclib import wait_for
from test_was import children, running_programs
from tplib import ScriptedTranslationServer, packet, u16

# as root a child needs a user: nobody (never root)
SPAWN = spawn_block(allow_nobody=False)


@pytest.fixture
def prog(build_dir):
    path = os.path.abspath(os.path.join(build_dir, 'examples',
                                        'lhttp-hello'))
    if not os.path.exists(path):
        pytest.skip('lhttp-hello not built')
    return path


@pytest.fixture
def lhttp_server(portierd_factory, servers, prog):
    """start(settings, extra): LHTTP_PATH prog with LHTTP_URI = the
    request's URI, plus the packets extra(uri) returns."""
    def start(settings='', extra=lambda uri: []):
        def handler(req):
            uri = req.text('URI')
            return [packet('LHTTP_PATH', prog),
                    packet('LHTTP_URI', uri)] + extra(uri)
        srv = servers(handler)
        return portierd_factory([srv.address],
                                config=SPAWN + settings)

    return start


def test_hello_append_setenv_host(lhttp_server):
    d = lhttp_server(extra=lambda uri: [
        packet('APPEND', 'one'), packet('APPEND', 'two words'),
        packet('SETENV', 'GREETING=hi'), packet('LHTTP_HOST', 'app.local')])
    status, r, body = d.request('GET', '/')
    text = body.decode()
    assert status == 200 and text.startswith('Hello from LHTTP pid ')
    assert 'arg one\narg two words\ngreeting hi\n' in text
    assert r.getheader('Content-Type') == 'text/plain'
    status, _, body = d.request('GET', '/info?x=1')
    assert b'target=/info?x=1\n' in body and b'host=app.local\n' in body


def test_client_host_without_lhttp_host(lhttp_server):
    d = lhttp_server()
    body = d.request('GET', '/info', headers={'Host': 'example.org'})[2]
    assert b'host=example.org\n' in body


def test_process_and_connection_reused(lhttp_server):
    d = lhttp_server()
    pids = {d.request('GET', '/slow?0')[2] for _ in range(5)}
    assert len(pids) == 1
    assert len(children(d.proc.pid)) == 1


def test_post_body(lhttp_server):
    d = lhttp_server()
    data = os.urandom(3 << 20)
    status, r, body = d.request('POST', '/echo', body=data)
    assert status == 200 and body == data


def test_concurrency_several_requests_per_process(lhttp_server):
    """CONCURRENCY 4 and one process at most: four slow requests run at
    the same time in that one process."""
    d = lhttp_server('set lhttp_stock_limit = "1"\n',
                     extra=lambda uri: [packet('CONCURRENCY', u16(4))])
    results, elapsed = concurrent_requests(d, '/slow?800', 4)
    assert [r[0] for r in results] == [200] * 4
    assert len({r[2] for r in results}) == 1
    assert elapsed < 2.4, elapsed       # not four rounds of 800 ms


def test_concurrency_one_spreads_over_processes(lhttp_server):
    d = lhttp_server('set lhttp_stock_limit = "2"\n'
                     'set lhttp_stock_max_idle = "4"\n')
    results, elapsed = concurrent_requests(d, '/slow?300', 4)
    assert [r[0] for r in results] == [200] * 4
    assert len({r[2] for r in results}) == 2
    assert elapsed >= 0.55                # two rounds
    assert len(children(d.proc.pid)) == 2


def test_crash_recovery(lhttp_server):
    d = lhttp_server()
    first = d.request('GET', '/slow?0')[2]
    status, _, _ = d.request('GET', '/crash')
    assert status == 502
    assert 'crashing as asked' in d.log()
    # A request in the moment between the crash and the process's end
    # may still be sent to its (closed) socket and get 502, as in
    # beng-proxy; once it has exited, the next one starts a new process.
    assert wait_for(lambda: children(d.proc.pid) == [], 10)
    status, _, body = d.request('GET', '/slow?0')
    assert status == 200 and body != first, d.log()
    assert wait_for(lambda: len(children(d.proc.pid)) == 1, 10)


def test_max_idle(lhttp_server):
    d = lhttp_server('set lhttp_stock_max_idle = "1"\n')
    concurrent_requests(d, '/slow?200', 3)
    assert wait_for(lambda: len(children(d.proc.pid)) == 1, 10)


def test_missing_program_is_502(portierd_factory):
    srv = ScriptedTranslationServer(lambda req: [
        packet('LHTTP_PATH', '/nonexistent/lhttp'),
        packet('LHTTP_URI', '/')])
    srv.start()
    try:
        d = portierd_factory([srv.address], config=SPAWN)
        assert d.request('GET', '/')[0] == 502
        assert '/nonexistent/lhttp' in d.log()
    finally:
        srv.stop()


def test_no_orphans(lhttp_server, prog):
    d = lhttp_server(extra=lambda uri: [packet('CONCURRENCY', u16(2))])
    for p in ('/', '/slow?0', '/info'):
        d.request('GET', p)
    assert running_programs({prog})
    d.stop()
    assert wait_for(lambda: not running_programs({prog}), 10)


def test_sighup_fades_processes(lhttp_server):
    d = lhttp_server()
    first = d.request('GET', '/slow?0')[2]
    d.proc.send_signal(signal.SIGHUP)
    assert wait_for(lambda: '1 child process(es) fading' in d.log(), 5)
    status, _, body = d.request('GET', '/slow?0')
    assert status == 200 and body != first, d.log()
    assert wait_for(lambda: len(children(d.proc.pid)) == 1, 10)


def test_http_cache(lhttp_server):
    """LHTTP responses go through the HTTP cache (docs/http-cache.md),
    keyed by the program, not by the process's socket: the program's
    request count shows whether it was asked."""
    d = lhttp_server(settings='set http_cache_size = "1 MB"\n',
                     extra=lambda uri: (
                         [packet('EAGER_CACHE')] if uri == '/count' else []))
    s1, _, b1 = d.request('GET', '/cacheable')
    s2, r2, b2 = d.request('GET', '/cacheable')
    assert (s1, s2) == (200, 200) and b1 == b2 and b1.endswith(b'/1\n')
    assert r2.getheader('Age') is not None
    # no cache headers, but EAGER_CACHE: stored
    c1 = d.request('GET', '/count')[2]
    assert c1.endswith(b'/2\n') and d.request('GET', '/count')[2] == c1
    # /info has no cache headers and no EAGER_CACHE: asked each time
    d.request('GET', '/info')
    assert d.request('GET', '/cacheable')[2] == b1


def test_http_cache_other_program(portierd_factory, prog):
    """Two programs (here: the same binary with other arguments) are two
    backends: one's entry does not answer for the other, though the
    LHTTP_URI and the Host are the same."""
    def handler(req):
        out = [packet('LHTTP_PATH', prog), packet('LHTTP_URI', '/cacheable')]
        if req.text('URI').startswith('/b'):
            out.append(packet('APPEND', 'b'))
        return out

    srv = ScriptedTranslationServer(handler)
    srv.start()
    try:
        d = portierd_factory([srv.address],
                             config=SPAWN + 'set http_cache_size = "1 MB"\n')
        a = d.request('GET', '/a')[2]
        b = d.request('GET', '/b')[2]
        assert a.endswith(b'/1\n') and b.endswith(b'/1\n') and a != b
        assert d.request('GET', '/a')[2] == a
        assert d.request('GET', '/b')[2] == b
    finally:
        srv.stop()
