"""portierd and FASTCGI addresses (spec/protocols.md §1.7.4, §6.2) with
the real libfcgi applications of examples/fastcgi/: spawned by portierd
(pooled) and as separately started servers on a unix socket and on a TCP
port.  Every process a test starts is stopped by its PID; the suite
checks that portierd leaves no child behind."""
import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

from conftest import free_port
from dphelp import log_lines, spawn_block, started, wait_log
from proclib import child_pids, rss_kib
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
    yield from started(Site, lambda s: s.srv.stop())


def start(portierd_factory, s, config=''):
    config = spawn_block() + config
    return portierd_factory([s.srv.address],
                            config=config if config else None)


def stop_and_check_children(d):
    pid = d.proc.pid
    kids = child_pids(pid)
    d.stop()
    # every child was reaped by portierd before it exited
    for k in kids:
        assert not os.path.exists('/proc/%d' % k) or \
            open('/proc/%d/stat' % k).read().rsplit(')', 1)[1].split()[0] \
            != 'Z', 'child %d of portierd left as a zombie' % k
    return kids


def held_post(d, path, body, sent):
    """A POST whose body stops after `sent` bytes: the application (the
    echo, which reads all of STDIN before it ends its answer) stays busy
    with it until the test sends the rest (held_finish)."""
    sock = socket.create_connection(('127.0.0.1', d.port), timeout=20)
    sock.sendall(b'POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n'
                 b'\r\n' % (path.encode(), len(body)) + body[:sent])
    return sock


def held_finish(sock, body, sent):
    """Send the rest of a held_post's body; (status, response body)."""
    with sock:
        sock.sendall(body[sent:])
        r = http.client.HTTPResponse(sock)
        r.begin()
        return r.status, r.read()


def wait_until(probe, timeout=10):
    """probe() once it is true, or its last (false) value after a bounded
    wait."""
    deadline = time.monotonic() + timeout
    value = probe()
    while not value and time.monotonic() < deadline:
        time.sleep(0.02)
        value = probe()
    return value


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
    pids = processes_running(apps['hello'])
    assert len(pids) == 1
    with open('/proc/%d/status' % pids[0]) as f:
        uid = [l for l in f if l.startswith('Uid:')][0].split()[1]
    if os.geteuid() == 0:       # the spawn block's default user
        assert int(uid) != 0
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


# ---- request bodies ----

def pattern(n):
    block = bytes((i * 7 + (i >> 8)) & 0xff for i in range(65536))
    full, rest = divmod(n, len(block))
    return block, full, rest


def post_streaming(d, path, size, chunked, sample=None):
    """POST `size` bytes of a pattern while reading the answer (both ways
    at once, as a real client would); returns (status, headers, the
    number of bytes, whether they equal what was sent)."""
    block, full, rest = pattern(size)
    sock = socket.create_connection(('127.0.0.1', d.port), timeout=30)
    head = 'POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-test\r\n' % path
    if chunked:
        head += 'Transfer-Encoding: chunked\r\n\r\n'
    else:
        head += 'Content-Length: %d\r\n\r\n' % size
    errors = []

    def send():
        try:
            sock.sendall(head.encode())
            for i in range(full + (1 if rest else 0)):
                part = block if i < full else block[:rest]
                if chunked:
                    sock.sendall(b'%x\r\n' % len(part) + part + b'\r\n')
                else:
                    sock.sendall(part)
            if chunked:
                sock.sendall(b'0\r\n\r\n')
        except OSError as e:
            errors.append(e)

    t = threading.Thread(target=send, daemon=True)
    t.start()
    r = http.client.HTTPResponse(sock)
    r.begin()
    got, same, offset = 0, True, 0
    while True:
        data = r.read(65536)
        if not data:
            break
        # compare against the pattern at this offset
        pos = 0
        while pos < len(data):
            boff = (got + pos) % len(block)
            n = min(len(data) - pos, len(block) - boff)
            if data[pos:pos + n] != block[boff:boff + n]:
                same = False
            pos += n
        got += len(data)
        if sample is not None:
            sample()
    t.join(timeout=30)
    sock.close()
    assert not errors, errors
    return r.status, r, got, same


@pytest.mark.parametrize('chunked', [False, True],
                         ids=['content-length', 'chunked'])
def test_echo_post(portierd_factory, site, apps, chunked):
    s = site({'/': spawned(apps['echo'])})
    d = start(portierd_factory, s)
    for size in (0, 1, 100000, 3 * 65536 + 17):
        if size == 0 and chunked:
            continue
        status, r, got, same = post_streaming(d, '/echo', size, chunked)
        assert status == 200, d.log()
        assert got == size and same
        if size > 0:    # without a body no CONTENT_TYPE (§6.2)
            assert r.getheader('Content-Type') == 'application/x-test'
        if chunked and size >= 100000:
            assert r.getheader('Transfer-Encoding') == 'chunked'
        elif chunked:
            # the whole answer was there with its head: Content-Length
            assert r.getheader('Content-Length') == str(size)
        else:
            assert r.getheader('Content-Length') == str(size)
    # the same process served them all: the connection was kept
    kids = stop_and_check_children(d)
    assert len(kids) == 1


@pytest.mark.parametrize('chunked', [False, True],
                         ids=['content-length', 'chunked'])
def test_echo_100mib_bounded_memory(portierd_factory, site, apps, chunked):
    s = site({'/': spawned(apps['echo'])})
    d = start(portierd_factory, s)
    status, _, got, same = post_streaming(d, '/warm', 1000, chunked)
    assert status == 200
    base = rss_kib(d.proc.pid)
    peak = [base]

    def sample():
        peak[0] = max(peak[0], rss_kib(d.proc.pid))

    size = 100 * 1024 * 1024
    status, _, got, same = post_streaming(d, '/big', size, chunked, sample)
    assert status == 200, d.log()
    assert got == size and same
    # 100 MiB went through; portierd grew by a few buffers at most
    assert peak[0] - base < 16 * 1024, (base, peak[0])
    d.stop()


# ---- failures ----

def test_crash_gives_502_and_is_replaced(portierd_factory, site, apps):
    s = site({'/': spawned(apps['crash'])})
    d = start(portierd_factory, s)
    status, _, body = d.request('GET', '/c?ok')
    assert status == 200 and body.startswith(b'alive ')
    first = int(body.split()[1])
    status, _, _ = d.request('GET', '/c?early')
    assert status == 502
    lines = wait_log(d, '"GET /c?early HTTP/1.1": 502')
    assert len(lines) == 1 and apps['crash'] in lines[0], d.log()
    # the next request works, on a new process
    status, _, body = d.request('GET', '/c?ok')
    assert status == 200, d.log()
    second = int(body.split()[1])
    assert second != first
    assert not os.path.exists('/proc/%d' % first) or \
        'Z' not in open('/proc/%d/stat' % first).read().rsplit(')', 1)[1]
    d.stop()


def test_crash_after_head_closes_connection(portierd_factory, site, apps):
    s = site({'/': spawned(apps['crash'])})
    d = start(portierd_factory, s)
    raw = d.raw(b'GET /c?late HTTP/1.1\r\nHost: x\r\n\r\n', timeout=10)
    head, _, body = raw.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200'), raw[:200]
    assert b'Content-Length: 1000' in head
    # the connection was closed after the 100 bytes it had
    assert body == b'x' * 100
    lines = wait_log(d, 'response body failed after 100 bytes')
    assert len(lines) == 1 and apps['crash'] in lines[0], d.log()
    status, _, body = d.request('GET', '/c?ok')
    assert status == 200
    d.stop()


def test_slow_hits_timeout(portierd_factory, site, apps):
    s = site({'/': spawned(apps['slow'])})
    d = start(portierd_factory, s, 'set fastcgi_timeout = "500 ms"\n')
    t0 = time.monotonic()
    status, _, _ = d.request('GET', '/s?30')
    assert status == 504
    assert time.monotonic() - t0 < 5
    lines = wait_log(d, '"GET /s?30 HTTP/1.1": 504')
    assert len(lines) == 1 and 'no answer within 500 ms' in lines[0] and \
        apps['slow'] in lines[0], d.log()
    # the hung process was stopped; a quick request works
    status, _, body = d.request('GET', '/s?0')
    assert status == 200 and body == b'slept 0\n'
    deadline = time.monotonic() + 5
    while len(processes_running(apps['slow'])) > 1 and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(processes_running(apps['slow'])) == 1
    d.stop()


# ---- pools ----

def test_pool_limit_queues(portierd_factory, site, apps):
    s = site({'/': spawned(apps['slow'])})
    d = start(portierd_factory, s, 'set fastcgi_stock_limit = "2"\n')
    results = []

    def one():
        results.append(d.request('GET', '/s?1')[0])

    t0 = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(5)]
    for t in threads:
        t.start()
    # (bounded waits, not a fixed sleep: spawning is slow on a loaded
    # machine)
    wait_until(lambda: len(processes_running(apps['slow'])) >= 2)
    # never more than the limit
    assert len(processes_running(apps['slow'])) == 2
    for t in threads:
        t.join(timeout=20)
    assert results == [200] * 5
    # 5 requests of 1 s on 2 processes: three rounds
    assert time.monotonic() - t0 >= 2.5
    assert len(child_pids(d.proc.pid)) == 2
    d.stop()


def test_parallelism_lowers_limit(portierd_factory, site, apps):
    s = site({'/': spawned(apps['slow'], packet('PARALLELISM', u16(1)))})
    d = start(portierd_factory, s)
    results = []
    threads = [threading.Thread(
        target=lambda: results.append(d.request('GET', '/s?1')[0]))
        for _ in range(2)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    wait_until(lambda: processes_running(apps['slow']))
    assert len(processes_running(apps['slow'])) == 1
    for t in threads:
        t.join(timeout=20)
    assert results == [200, 200] and time.monotonic() - t0 >= 1.9
    d.stop()


def held_four(d, apps):
    """Four requests held at once by the echo (held_post): four
    processes, as none is free while the others are busy."""
    body = b'0123456789'
    held = [held_post(d, '/e', body, 3) for _ in range(4)]
    busy = wait_until(lambda: len(processes_running(apps['echo'])) >= 4)
    assert busy and len(processes_running(apps['echo'])) == 4
    assert len(child_pids(d.proc.pid)) == 4
    for sock in held:
        assert held_finish(sock, body, 3) == (200, body)


def test_idle_reaping(portierd_factory, site, apps):
    # Two portierd, one per rule.  With a 1 s idle timeout, the two
    # processes max_idle keeps may be reaped before the test looks at the
    # pool (a loaded machine), and the "2 left" moment is missed.  Here
    # the idle timeout is far away: what leaves is what max_idle stopped.
    s = site({'/': spawned(apps['echo'])})
    d = start(portierd_factory, s, 'set fastcgi_idle_timeout = "600 s"\n'
              'set fastcgi_stock_max_idle = "2"\n')
    held_four(d, apps)
    # over max_idle: two stopped at once
    deadline = time.monotonic() + 3
    while len(child_pids(d.proc.pid)) > 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(child_pids(d.proc.pid)) == 2
    assert len(processes_running(apps['echo'])) == 2
    d.stop()
    assert processes_running(apps['echo']) == []

    d = start(portierd_factory, s, 'set fastcgi_idle_timeout = "1 s"\n'
              'set fastcgi_stock_max_idle = "2"\n')
    held_four(d, apps)
    # idle longer than fastcgi_idle_timeout: the rest go too
    deadline = time.monotonic() + 5
    while child_pids(d.proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert child_pids(d.proc.pid) == []
    assert processes_running(apps['echo']) == []
    d.stop()


def test_sighup_fades(portierd_factory, site, apps):
    s = site({'/': spawned(apps['hello'], packet('CHILD_TAG', 'a'))})
    d = start(portierd_factory, s)
    status, _, body = d.request('GET', '/h?pid')
    first = int(body)
    assert child_pids(d.proc.pid) == [first]
    d.proc.send_signal(signal.SIGHUP)
    assert len(wait_log(d, '1 child process(es) fading')) == 1
    deadline = time.monotonic() + 5
    while child_pids(d.proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child_pids(d.proc.pid) == []
    status, _, body = d.request('GET', '/h?pid')
    assert status == 200 and int(body) != first
    d.stop()


def test_no_orphans_after_shutdown(portierd_factory, site, apps):
    s = site({'/h': spawned(apps['hello']), '/s': spawned(apps['slow'])})
    d = start(portierd_factory, s)
    assert d.request('GET', '/h')[0] == 200
    t = threading.Thread(target=lambda: d.request('GET', '/s?1'))
    t.start()
    wait_until(lambda: len(child_pids(d.proc.pid)) >= 2)
    kids = child_pids(d.proc.pid)
    assert len(kids) == 2
    d.stop()
    t.join(timeout=10)
    for k in kids:
        assert not os.path.exists('/proc/%d' % k), 'orphan %d' % k


# ---- a scripted FastCGI server: STDOUT handling ----

def record(rtype, rid, content=b'', padding=0):
    return struct.pack('>BBHHBB', 1, rtype, rid, len(content), padding,
                       0) + content + b'\0' * padding


STDOUT, STDERR, END = 6, 7, 3


def end_request(rid, app_status=0, protocol_status=0):
    return record(END, rid, struct.pack('>IB3x', app_status,
                                        protocol_status))


class ScriptedFcgi:
    """A FastCGI server whose answers the test writes: script(params,
    stdin, rid) returns a list of byte strings, each sent with its own
    send() (a short pause between them)."""

    def __init__(self, script):
        self.script = script
        self.address = '@portier-test-sfcgi-%d-%d' % (os.getpid(), id(self))
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind('\0' + self.address[1:])
        self.sock.listen(8)
        self.connections = 0
        self.begins = []
        self.thread = threading.Thread(target=self.accept, daemon=True)
        self.thread.start()

    def accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.serve, args=(conn,),
                             daemon=True).start()

    @staticmethod
    def read_exact(conn, n):
        data = b''
        while len(data) < n:
            chunk = conn.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def serve(self, conn):
        try:
            while True:
                params, stdin, rid = b'', b'', 0
                params_done = stdin_done = False
                while not (params_done and stdin_done):
                    h = self.read_exact(conn, 8)
                    _, rtype, rid, clen, plen, _ = struct.unpack('>BBHHBB', h)
                    content = self.read_exact(conn, clen + plen)[:clen]
                    if rtype == 1:
                        self.begins.append((rid, content))
                    elif rtype == 4:
                        params += content
                        params_done = clen == 0
                    elif rtype == 5:
                        stdin += content
                        stdin_done = clen == 0
                for part in self.script(parse_pairs(params), stdin, rid):
                    conn.sendall(part)
                    time.sleep(0.001)
        except (EOFError, OSError):
            pass
        finally:
            conn.close()

    def stop(self):
        self.sock.close()


def parse_pairs(data):
    out, pos = {}, 0

    def length():
        nonlocal pos
        if data[pos] < 128:
            pos += 1
            return data[pos - 1]
        v = struct.unpack_from('>I', data, pos)[0] & 0x7fffffff
        pos += 4
        return v
    while pos < len(data):
        n = length()
        v = length()
        out[data[pos:pos + n].decode()] = data[pos + n:pos + n + v].decode()
        pos += n + v
    return out


def stdout_records(rid, data, size=7, padding=3):
    return [record(STDOUT, rid, data[i:i + size], padding)
            for i in range(0, len(data), size)]


@pytest.fixture
def scripted():
    yield from started(ScriptedFcgi, ScriptedFcgi.stop)


def test_stdout_split_padded_with_stderr(portierd_factory, site, scripted):
    body = b''.join(b'line %d\n' % i for i in range(200))

    def script(params, stdin, rid):
        out = stdout_records(rid, b'Content-Type: text/x-split\r\n'
                             b'X-App: yes\r\n\r\n' + body)
        out.insert(3, record(STDERR, rid, b'warn one\nwarn '))
        out.insert(5, record(STDERR, rid, b'two\n'))
        # one record cut into single bytes
        tail = record(STDOUT, rid, b'!', 5)
        out += [tail[i:i + 1] for i in range(len(tail))]
        out += [record(STDOUT, rid), record(STDERR, rid), end_request(rid)]
        return out

    f = scripted(script)
    s = site({'/': remote('/app', f.address)})
    # The client has its answer at the empty STDOUT record, a moment
    # before END_REQUEST frees the connection: with one connection at
    # most, the second request waits for it rather than for a sleep that
    # a loaded machine may outlast (then a second connection was opened).
    d = start(portierd_factory, s, 'set fastcgi_stock_limit = "1"\n')
    for i in range(2):
        status, r, got = d.request('GET', '/split')
        assert status == 200, d.log()
        assert got == body + b'!'
        assert r.getheader('Content-Type') == 'text/x-split'
        assert r.getheader('X-App') == 'yes'
    assert len(wait_log(d, 'fastcgi @%s: stderr: warn one' % f.address[1:])) \
        == 2
    assert len(log_lines(d, 'stderr: warn two')) == 2
    # one connection, kept (KEEP_CONN), request ids not 0, role RESPONDER
    assert f.connections == 1
    for rid, content in f.begins:
        assert rid != 0 and content[:3] == b'\x00\x01\x01'
    d.stop()


@pytest.mark.parametrize('head,cause', [
    (b'Foo\r\n\r\n', 'malformed response head'),
    (b'Location: /local\r\n\r\n', 'local redirect'),
    (b'Status: 99\r\nContent-Type: a/b\r\n\r\n', 'malformed response head'),
])
def test_bad_head_is_502(portierd_factory, site, scripted, head, cause):
    f = scripted(lambda p, i, rid: [record(STDOUT, rid, head),
                                    record(STDOUT, rid), end_request(rid)])
    s = site({'/': remote('/app', f.address)})
    d = start(portierd_factory, s)
    status, _, _ = d.request('GET', '/bad')
    assert status == 502
    lines = wait_log(d, '"GET /bad HTTP/1.1": 502')
    assert len(lines) == 1 and cause in lines[0], d.log()
    d.stop()


def test_bad_record_is_502(portierd_factory, site, scripted):
    f = scripted(lambda p, i, rid: [b'\x02' + record(STDOUT, rid, b'x')[1:]])
    s = site({'/': remote('/app', f.address)})
    d = start(portierd_factory, s)
    status, _, _ = d.request('GET', '/rec')
    assert status == 502
    lines = wait_log(d, '"GET /rec HTTP/1.1": 502')
    assert len(lines) == 1 and 'bad record' in lines[0], d.log()
    d.stop()


def test_status_and_content_length(portierd_factory, site, scripted):
    def script(params, stdin, rid):
        q = params['QUERY_STRING']
        if q == 'short':
            head = b'Content-Type: a/b\r\nContent-Length: 10\r\n\r\nabc'
        elif q == 'long':
            head = b'Content-Type: a/b\r\nContent-Length: 3\r\n\r\nabcdef'
        else:
            head = (b'Status: 404 Not Found\r\nContent-Type: text/plain\r\n'
                    b'Connection: x\r\n\r\nnope')
        # in one piece: END_REQUEST is there before the client is done
        return [record(STDOUT, rid, head) + record(STDOUT, rid) +
                end_request(rid)]

    f = scripted(script)
    s = site({'/': remote('/app', f.address)})
    d = start(portierd_factory, s)
    status, r, body = d.request('GET', '/cl?404')
    assert status == 404 and body == b'nope'
    assert r.getheader('Connection') is None
    # more than Content-Length: cut at it, the connection stays usable
    status, r, body = d.request('GET', '/cl?long')
    assert status == 200 and body == b'abc'
    # less: the client's connection is closed after what there was
    raw = d.raw(b'GET /cl?short HTTP/1.1\r\nHost: x\r\n\r\n')
    assert raw.endswith(b'\r\n\r\nabc'), raw
    assert len(wait_log(d, '7 bytes short of the Content-Length')) == 1
    # HEAD: the body is not sent, the connection still reused
    status, r, body = d.request('HEAD', '/cl?404')
    assert status == 404 and body == b''
    assert f.connections == 1, f.connections
    d.stop()


# ---- clients that go away ----

def test_client_gone_before_head(portierd_factory, site, apps):
    s = site({'/': spawned(apps['slow'])})
    d = start(portierd_factory, s, 'set fastcgi_stock_limit = "1"\n')
    with socket.create_connection(('127.0.0.1', d.port), 10) as c:
        sent = time.monotonic()
        c.sendall(b'GET /s?1 HTTP/1.1\r\nHost: x\r\n\r\n')
        busy = wait_until(lambda: processes_running(apps['slow']))
        assert len(busy) == 1
    # The process finishes for nobody (its answer is discarded) and stays
    # in the pool: the next request waits for it and gets it.  (Its 1 s
    # began after `sent`; a fixed "more than 0.4 s from here" failed when
    # the machine was slow to spawn it.)
    status, _, body = d.request('GET', '/s?0')
    assert status == 200 and body == b'slept 0\n'
    assert time.monotonic() - sent >= 1.0
    assert processes_running(apps['slow']) == busy
    d.stop()


def test_client_gone_during_upload(portierd_factory, site, apps):
    s = site({'/': spawned(apps['echo'])})
    d = start(portierd_factory, s)
    assert post_streaming(d, '/e', 10, False)[0] == 200
    first = processes_running(apps['echo'])
    assert len(first) == 1
    with socket.create_connection(('127.0.0.1', d.port), 10) as c:
        c.sendall(b'POST /e HTTP/1.1\r\nHost: x\r\n'
                  b'Content-Length: 1000000\r\n\r\n' + b'a' * 300000)
        head = c.recv(100)
        assert head.startswith(b'HTTP/1.1 200'), head
    # the echo waits for STDIN that will never come: stopped at once
    deadline = time.monotonic() + 5
    while first[0] in processes_running(apps['echo']) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert first[0] not in processes_running(apps['echo'])
    status, _, got, same = post_streaming(d, '/e', 1000, True)
    assert status == 200 and got == 1000 and same
    d.stop()


# ---- FADE_CHILDREN / TERMINATE_CHILDREN through the control socket ----

def test_control_fade_and_terminate_by_tag(portierd_factory, site, apps,
                                           build_dir):
    ctl = os.path.join(build_dir, 'ctl', 'portierctl')
    if not os.access(ctl, os.X_OK):
        pytest.skip('portierctl is not built')
    sock = '@portier-test-fcgictl-%d' % os.getpid()
    # The busy processes are held by the test, never by a clock: the echo
    # ends its answer only once the request body is complete, the slow one is
    # terminated long before its 30 s are over.  (A fixed request length
    # raced with the portierctl round trips on a loaded machine.)
    s = site({'/a': spawned(apps['hello'], packet('CHILD_TAG', 'blue')),
              '/b': spawned(apps['echo'], packet('CHILD_TAG', 'green')),
              '/c': spawned(apps['slow'], packet('CHILD_TAG', 'green'))})
    d = start(portierd_factory, s, 'control {\n  bind "%s"\n}\n' % sock)

    def portierctl(*args):
        p = subprocess.run([ctl, '--server', sock, *args],
                           capture_output=True, text=True, timeout=20)
        assert p.returncode == 0, p.stderr
        # a STATS round trip: the datagram before it was handled
        subprocess.run([ctl, '--server', sock, 'stats'],
                       capture_output=True, timeout=20)

    assert d.request('GET', '/a?pid')[0] == 200
    body = b'0123456789'
    held = held_post(d, '/b', body, 4)
    # spawned for the held request, which is attached to it from then on
    echo = wait_until(lambda: processes_running(apps['echo']))
    hello = processes_running(apps['hello'])
    assert len(hello) == 1 and len(echo) == 1
    # STATS counts them, per pool and in total
    p = subprocess.run([ctl, '--server', sock, 'stats', '--json'],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    children = json.loads(p.stdout)['children']
    assert children['fastcgi'] == 2 and children['total'] == 2, children
    # another tag: nothing happens
    portierctl('fade-children', 'red')
    assert processes_running(apps['hello']) == hello
    # fade "green": the busy process finishes its request, then goes
    portierctl('fade-children', 'green')
    assert processes_running(apps['echo']) == echo
    assert held_finish(held, body, 4) == (200, body)
    deadline = time.monotonic() + 5
    while processes_running(apps['echo']) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_running(apps['echo']) == []
    assert processes_running(apps['hello']) == hello
    # terminate "blue": the idle hello goes at once
    portierctl('terminate-children', 'blue')
    deadline = time.monotonic() + 5
    while processes_running(apps['hello']) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_running(apps['hello']) == []
    # terminate during a request: it fails, the next one gets a new process
    results = []
    t = threading.Thread(
        target=lambda: results.append(d.request('GET', '/c?30')[0]))
    t.start()
    slow = wait_until(lambda: processes_running(apps['slow']))
    assert len(slow) == 1
    portierctl('terminate-children', 'green')
    t.join(timeout=10)
    assert results == [502]
    assert d.request('GET', '/c?0')[0] == 200
    assert processes_running(apps['slow']) not in ([], slow)
    d.stop()


def test_remote_binary_address_and_failover(portierd_factory, site, apps,
                                            remote_apps):
    """ADDRESS with a raw sockaddr_in; a dead address before it is
    skipped (connection refused) and the live one used."""
    address, proc = remote_apps(apps['hello'], tcp=True)
    host, port = address.split(':')
    live = struct.pack('<H', socket.AF_INET) + struct.pack('>H', int(port)) \
        + socket.inet_aton(host) + b'\0' * 8
    dead = struct.pack('<H', socket.AF_INET) + \
        struct.pack('>H', free_port()) + socket.inet_aton(host) + b'\0' * 8
    s = site({'/': [packet('FASTCGI', apps['hello']),
                    packet('ADDRESS', dead), packet('ADDRESS', live)]})
    d = start(portierd_factory, s)
    for _ in range(3):
        status, _, body = d.request('GET', '/x?pid')
        assert status == 200, d.log()
        assert int(body) == proc.pid
    # tried once; then portierd stays with the address that works
    lines = log_lines(d, 'trying the next address')
    assert len(lines) == 1 and 'Connection refused' in lines[0], d.log()
    assert child_pids(d.proc.pid) == []
    d.stop()


def test_suite_left_no_process(apps):
    """Last in this file: after every test above (each stopped its
    portierd and its separately started servers), no process of the
    example applications of this build is left running (the tests
    above check for zombies of each portierd)."""
    deadline = time.monotonic() + 5
    left = []
    while time.monotonic() < deadline:
        left = []
        for entry in os.listdir('/proc'):
            if not entry.isdigit():
                continue
            try:
                with open('/proc/%s/cmdline' % entry, 'rb') as f:
                    argv0 = f.read().split(b'\0')[0].decode(errors='replace')
            except OSError:
                continue
            if argv0 in apps.values():
                left.append((entry, argv0))
        if not left:
            break
        time.sleep(0.1)
    assert left == []


def test_http_cache(portierd_factory, site, apps):
    """FastCGI responses go through the HTTP cache (docs/http-cache.md):
    the application's request count shows whether it was asked."""
    s = site({'/': spawned(apps['hello'])})
    d = start(portierd_factory, s, 'set http_cache_size = "1 MB"\n')
    s1, _, b1 = d.request('GET', '/c?cacheable')
    s2, r2, b2 = d.request('GET', '/c?cacheable')
    assert (s1, s2) == (200, 200) and b1 == b2 and b1.endswith(b'/1\n')
    assert r2.getheader('Age') is not None
    # another target is another entry: the application is asked again
    assert d.request('GET', '/d?cacheable')[2].endswith(b'/2\n')
    # without Cache-Control nothing is stored
    assert d.request('GET', '/x')[2] == b'Hello, world!\n'
    stop_and_check_children(d)


def test_http_cache_revalidation(portierd_factory, site, apps):
    """A FastCGI entry with ETag and no-cache is revalidated on each use:
    the application gets the entry's ETag in HTTP_IF_NONE_MATCH (not the
    client's), its 304 refreshes the entry and the client gets the stored
    body, so the application's 200 count stays 1."""
    s = site({'/': spawned(apps['hello'])})
    d = start(portierd_factory, s, 'set http_cache_size = "1 MB"\n')
    s1, r1, b1 = d.request('GET', '/c?etag')
    assert s1 == 200 and b1.endswith(b'/1\n')
    for h in ({}, {'If-None-Match': '"other"'}):
        s2, r2, b2 = d.request('GET', '/c?etag', h)
        assert (s2, b2) == (200, b1)
        assert r2.getheader('ETag') == '"e1"'
        assert r2.getheader('Age') is not None
    # the client's own matching conditional: its 304, from the entry
    assert d.request('GET', '/c?etag', {'If-None-Match': '"e1"'})[0] == 304
    # without the cache the application answers 200 each time
    d2 = start(portierd_factory, s, 'set http_cache_size = "0"\n')
    assert d2.request('GET', '/c?etag')[2] != \
        d2.request('GET', '/c?etag')[2]
    stop_and_check_children(d)
