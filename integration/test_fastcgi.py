"""portierd and FASTCGI addresses (spec/protocols.md §1.7.4, §6.2) with
the real libfcgi applications of examples/fastcgi/: spawned by portierd
(pooled) and as separately started servers on a unix socket and on a TCP
port.  Every process a test starts is stopped by its PID; the suite
checks that portierd leaves no child behind."""
import http.client
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import free_port
from dphelp import log_lines, wait_log
from tplib import ScriptedTranslationServer, packet, u16

APPS = ('hello', 'echo', 'slow', 'crash')


@pytest.fixture
def apps(build_dir):
    paths = {a: os.path.join(build_dir, 'examples', 'fcgi-' + a)
             for a in APPS}
    if not all(os.path.exists(p) for p in paths.values()):
        pytest.skip('FastCGI examples not built (libfcgi-dev missing)')
    return paths


@pytest.fixture
def remote_apps():
    """Start an application as a separate FastCGI server: the listener
    (abstract unix or TCP) is its fd 0, as spawn-fcgi would do."""
    started = []

    def start(path, tcp=False):
        if tcp:
            port = free_port()
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(('127.0.0.1', port))
            address = '127.0.0.1:%d' % port
        else:
            name = 'portier-test-fcgi-%d-%d' % (os.getpid(), len(started))
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind('\0' + name)
            address = '@' + name
        sock.listen(16)
        proc = subprocess.Popen([path], stdin=sock.fileno(),
                                stdout=subprocess.DEVNULL)
        sock.close()
        started.append(proc)
        return address, proc

    yield start
    for p in started:
        if p.poll() is None:
            p.kill()
            p.wait()


def children(pid):
    """The PIDs whose parent is `pid` (from /proc)."""
    out = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(')') + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(entry))
    return out


def processes_running(path):
    """PIDs of live processes whose argv[0] is `path`."""
    out = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                argv0 = f.read().split(b'\0')[0]
            with open('/proc/%s/stat' % entry) as f:
                state = f.read().rsplit(')', 1)[1].split()[0]
        except OSError:
            continue
        if argv0 == path.encode() and state != 'Z':
            out.append(int(entry))
    return out


class Site:
    """A translation server: URI prefix -> FASTCGI answer."""

    def __init__(self, routes):
        self.routes = routes
        self.srv = ScriptedTranslationServer(self.handle)
        self.srv.start()

    def handle(self, req):
        uri = req.text('URI', '')
        for prefix, answer in self.routes.items():
            if uri.startswith(prefix):
                return answer
        return [packet('STATUS', u16(404))]


def spawned(path, *extra):
    return [packet('FASTCGI', path)] + list(extra)


def remote(path, address):
    return [packet('FASTCGI', path), packet('ADDRESS_STRING', address)]


@pytest.fixture
def site():
    made = []

    def make(routes):
        s = Site(routes)
        made.append(s)
        return s

    yield make
    for s in made:
        s.srv.stop()


def start(portierd_factory, s, config=''):
    return portierd_factory([s.srv.address],
                            config=config if config else None)


def stop_and_check_children(d):
    pid = d.proc.pid
    kids = children(pid)
    d.stop()
    # every child was reaped by portierd before it exited
    for k in kids:
        assert not os.path.exists('/proc/%d' % k) or \
            open('/proc/%d/stat' % k).read().rsplit(')', 1)[1].split()[0] \
            != 'Z', 'child %d of portierd left as a zombie' % k
    return kids


# ---- spawned ----

def test_hello_spawned(portierd_factory, site, apps):
    s = site({'/': spawned(apps['hello'])})
    d = start(portierd_factory, s)
    for i in range(3):
        status, r, body = d.request('GET', '/x?')
        assert status == 200, d.log()
        assert body == b'Hello, world!\n'
        assert r.getheader('Content-Type') == 'text/plain'
    # one process served the three requests one after the other
    assert len(processes_running(apps['hello'])) >= 1
    kids = stop_and_check_children(d)
    assert len(kids) == 1
    assert processes_running(apps['hello']) == []


def test_params(portierd_factory, site, apps):
    s = site({'/': spawned(apps['hello'],
                           packet('SCRIPT_NAME', '/app'),
                           packet('PATH_INFO', '/more'),
                           packet('DOCUMENT_ROOT', '/srv/www'),
                           packet('PAIR', 'APP_MODE=test'))})
    d = start(portierd_factory, s)
    status, _, body = d.request('GET', '/app/more?params',
                                {'User-Agent': 'pytest', 'X-Custom': 'no'})
    assert status == 200, d.log()
    # libfcgi puts its own FCGI_ROLE first
    lines = [l for l in body.decode().splitlines()
             if not l.startswith('FCGI_ROLE=')]
    params = dict(l.split('=', 1) for l in lines)
    names = [l.split('=', 1)[0] for l in lines]
    assert names[:8] == ['REQUEST_METHOD', 'REQUEST_URI', 'SCRIPT_FILENAME',
                         'SCRIPT_NAME', 'PATH_INFO', 'QUERY_STRING',
                         'DOCUMENT_ROOT', 'SERVER_SOFTWARE']
    assert params['REQUEST_METHOD'] == 'GET'
    assert params['REQUEST_URI'] == '/app/more?params'
    assert params['SCRIPT_FILENAME'] == apps['hello']
    assert params['SCRIPT_NAME'] == '/app'
    assert params['PATH_INFO'] == '/more'
    assert params['QUERY_STRING'] == 'params'
    assert params['DOCUMENT_ROOT'] == '/srv/www'
    assert params['SERVER_SOFTWARE'] == 'Portier'
    assert params['REMOTE_ADDR'] == '127.0.0.1'
    assert params['CONTENT_LENGTH'] == '0'
    assert params['HTTP_USER_AGENT'] == 'pytest'
    assert params['HTTP_HOST'] == '127.0.0.1:%d' % d.port
    assert params['HTTP_X_FORWARDED_FOR'] == '127.0.0.1'
    assert params['APP_MODE'] == 'test' and names[-1] == 'APP_MODE'
    assert 'HTTP_X_CUSTOM' not in params
    assert 'GATEWAY_INTERFACE' not in params
    d.stop()


def test_stderr_logged_with_name(portierd_factory, site, apps):
    s = site({'/': spawned(apps['hello'])})
    d = start(portierd_factory, s)
    status, _, body = d.request('GET', '/x?stderr')
    assert status == 200 and body == b'Hello, world!\n'
    lines = wait_log(d, 'fcgi-hello: a line on STDERR')
    assert len(lines) == 1 and apps['hello'] in lines[0], d.log()
    d.stop()


# ---- remote servers ----

@pytest.mark.parametrize('tcp', [False, True], ids=['unix', 'tcp'])
def test_hello_remote(portierd_factory, site, apps, remote_apps, tcp):
    address, proc = remote_apps(apps['hello'], tcp=tcp)
    s = site({'/': remote(apps['hello'], address)})
    d = start(portierd_factory, s)
    pids = set()
    for i in range(5):
        status, _, body = d.request('GET', '/x?pid')
        assert status == 200, d.log()
        pids.add(int(body))
    assert pids == {proc.pid}
    # portierd spawned nothing
    kids = stop_and_check_children(d)
    assert kids == []
    assert proc.poll() is None      # and left the server running


def test_remote_down_is_502(portierd_factory, site, apps):
    name = '@portier-test-fcgi-absent-%d' % os.getpid()
    s = site({'/': remote(apps['hello'], name)})
    d = start(portierd_factory, s)
    status, _, _ = d.request('GET', '/x')
    assert status == 502
    lines = wait_log(d, '"GET /x HTTP/1.1": 502')
    assert len(lines) == 1 and 'connect to FastCGI server ' + name in \
        lines[0], d.log()
    d.stop()
