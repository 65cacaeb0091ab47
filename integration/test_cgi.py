"""portierd running CGI programs (spec/protocols.md §1.7.3, §6.3) and PIPE
filters (§1.7.7): the programs of examples/cgi/ are the real peers; a
scripted translation server maps /cgi/NAME to them."""
import hashlib
import os
import signal
import socket
import struct
import threading
import time

import pytest

from dphelp import dechunk, program_dir, read_to_end, spawn_block
from dphelp import wait_log
from proclib import child_pids, join_within, vm_hwm_kib
from tplib import ScriptedTranslationServer, packet, u16

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# as root a child needs a user: nobody (and never root)
SPAWN = spawn_block('allow_user "4000-4099"', 'allow_group "nogroup"',
                    'allow_group "4000-"')


def cgi_processes(build_dir):
    """Live (not zombie) processes running one of our CGI programs."""
    prefix = os.path.join(build_dir, 'examples', 'cgi-').encode()
    out = []
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/cmdline' % name, 'rb') as f:
                cmd = f.read()
            with open('/proc/%s/stat' % name) as f:
                stat = f.read()
        except OSError:
            continue
        state = stat[stat.rfind(')') + 2:].split()[0]
        if cmd.startswith(prefix) and state != 'Z':
            out.append(int(name))
    return out


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rfind(')') + 2:].split()[0] != 'Z'


def wait_gone(pid, timeout=5):
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not alive(pid)


class Site:
    """The translation server: /cgi/NAME[/...] -> examples' cgi-NAME, with
    per-name extra packets in .extra."""

    def __init__(self, build_dir):
        self.build_dir = build_dir
        self.extra = {}
        self.scripts = {}     # NAME -> a program of the test's own
        self.srv = ScriptedTranslationServer(self.answer)

    def program(self, name):
        return os.path.join(self.build_dir, 'examples', 'cgi-' + name)

    def answer(self, req):
        uri = req.text('URI', '')
        parts = uri.split('/')
        if len(parts) < 3 or parts[1] != 'cgi':
            return [packet('STATUS', u16(404))]
        name = parts[2]
        if name == 'upper-file':
            return self.extra[name]
        if name in self.scripts:
            return [packet('CGI', self.scripts[name])]
        return [packet('CGI', self.program(name))] + \
            self.extra.get(name, [])


@pytest.fixture
def cgi(portierd_factory, build_dir):
    if not os.path.exists(os.path.join(build_dir, 'examples', 'cgi-hello')):
        pytest.skip('examples not built')
    site = Site(build_dir)
    site.srv.start()
    d = portierd_factory([site.srv.address],
                         config=SPAWN +
                         'set cgi_timeout = "1500 ms"\n')
    yield d, site
    # no child left behind: none of portierd's children, no orphan
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (
            [p for p in child_pids(d.proc.pid) if alive(p)] or
            cgi_processes(build_dir)):
        time.sleep(0.05)
    assert [p for p in child_pids(d.proc.pid) if alive(p)] == []
    assert cgi_processes(build_dir) == []
    d.stop()
    site.srv.stop()
    assert cgi_processes(build_dir) == []


def env_of(body):
    out = {}
    for line in body.decode().splitlines():
        k, _, v = line.partition('=')
        out[k] = v
    return out


def test_hello(cgi):
    d, site = cgi
    status, r, body = d.request('GET', '/cgi/hello')
    assert status == 200
    assert body == b'Hello, world!\n'
    assert r.getheader('Content-Type') == 'text/plain'
    assert r.getheader('Server') == 'Portier'
    # HEAD: the head only, the child is ended
    status, r, body = d.request('HEAD', '/cgi/hello')
    assert status == 200 and body == b''


def test_environment(cgi):
    d, site = cgi
    site.extra['env'] = [
        packet('SCRIPT_NAME', '/cgi/env'), packet('PATH_INFO', '/more'),
        packet('DOCUMENT_ROOT', '/srv/www'), packet('APPEND', 'arg1'),
        packet('APPEND', 'arg 2'), packet('SETENV', 'FROM_SETENV=yes'),
        packet('PAIR', 'FROM_PAIR=1'),
        packet('SETENV', 'SERVER_SOFTWARE=overridden'),
    ]
    conn = socket.create_connection(('127.0.0.1', d.port), timeout=5)
    port = conn.getsockname()[1]
    conn.sendall(b'GET /cgi/env/more?a=1&b=%20 HTTP/1.1\r\n'
                 b'Host: www.example.com:8080\r\nX-Foo: one\r\n'
                 b'x-foo: two\r\nX-Dash-Name: v\r\nProxy: evil\r\n'
                 b'Connection: close\r\n\r\n')
    data = read_to_end(conn)
    conn.close()
    head, _, body = data.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200 '), head
    if b'Transfer-Encoding: chunked' in head:
        body = dechunk(body)
    lines = body.decode().splitlines()
    assert lines[0] == 'argv[0]=' + site.program('env')
    assert lines[1:3] == ['argv[1]=arg1', 'argv[2]=arg 2']
    uid = 65534 if os.geteuid() == 0 else os.geteuid()
    assert lines[3].startswith('uid=%d ' % uid)
    env = env_of('\n'.join(lines[4:]).encode())
    expect = {
        'GATEWAY_INTERFACE': 'CGI/1.1',
        'SERVER_PROTOCOL': 'HTTP/1.1',
        'REQUEST_METHOD': 'GET',
        'SCRIPT_FILENAME': site.program('env'),
        'PATH_TRANSLATED': site.program('env'),
        'REQUEST_URI': '/cgi/env/more?a=1&b=%20',
        'SCRIPT_NAME': '/cgi/env',
        'PATH_INFO': '/more',
        'QUERY_STRING': 'a=1&b=%20',
        'DOCUMENT_ROOT': '/srv/www',
        'SERVER_SOFTWARE': 'overridden',
        'SERVER_NAME': 'www.example.com',
        'SERVER_PORT': '8080',
        'REMOTE_ADDR': '127.0.0.1',
        'REMOTE_PORT': str(port),
        'HTTP_HOST': 'www.example.com:8080',
        'HTTP_X_FOO': 'one, two',
        'HTTP_X_DASH_NAME': 'v',
        'FROM_SETENV': 'yes',
        'FROM_PAIR': '1',
    }
    for k, v in expect.items():
        assert env.get(k) == v, (k, env)
    # a clean environment: nothing inherited, no httpoxy, no hop-by-hop
    for k in ('PATH', 'HOME', 'HTTP_PROXY', 'HTTP_CONNECTION',
              'CONTENT_LENGTH', 'CONTENT_TYPE', 'HTTPS'):
        assert k not in env, k


def test_environment_post_and_https(cgi):
    d, site = cgi
    status, r, body = d.request('POST', '/cgi/env', body=b'12345',
                                headers={'Content-Type': 'text/x-test',
                                         'X-CM4all-HTTPS': 'on'})
    assert status == 200
    env = env_of(body)
    assert env['REQUEST_METHOD'] == 'POST'
    assert env['CONTENT_LENGTH'] == '5'
    assert env['CONTENT_TYPE'] == 'text/x-test'
    assert env['HTTPS'] == 'on'
    assert env['SERVER_PORT'] == '%d' % d.port
    assert 'HTTP_CONTENT_TYPE' not in env
    assert 'HTTP_X_CM4ALL_HTTPS' not in env
    assert env['REQUEST_URI'] == '/cgi/env'
    assert env['DOCUMENT_ROOT'] == '/var/www'


def test_post_echo_byte_exact(cgi):
    d, site = cgi
    data = os.urandom(1 << 20) + b'\r\n\0end'
    status, r, body = d.request('POST', '/cgi/echo', body=data)
    assert status == 200
    assert body == data
    assert r.getheader('Content-Type') == 'application/octet-stream'
    # with Content-Length from the program, and an empty body
    status, r, body = d.request('POST', '/cgi/echo?length', body=data)
    assert status == 200 and body == data
    assert r.getheader('Content-Length') == str(len(data))
    status, r, body = d.request('POST', '/cgi/echo', body=b'')
    assert status == 200 and body == b''
    # the program's stderr is in the log with its name
    assert wait_log(d, 'cgi %s[' % site.program('echo'))
    assert wait_log(d, ']: echo: %d bytes' % len(data))


PIPE_SIZE_SCRIPT = """#!/usr/bin/python3
import fcntl, sys
size = fcntl.fcntl(0, 1032)    # F_GETPIPE_SZ
n = len(sys.stdin.buffer.read())
sys.stdout.write('Content-Type: text/plain\\r\\n\\r\\n%d %d\\n' % (size, n))
"""


def test_stdin_pipe_size_follows_the_body(cgi):
    """A request body larger than the default pipe gets a 256 KiB stdin
    pipe (each splice step moves that much); small bodies keep 64 KiB."""
    d, site = cgi
    with program_dir('portier-cgi-pipe-') as write:
        site.scripts['pipe-size'] = write('pipe-size', PIPE_SIZE_SCRIPT)
        big = os.urandom(1 << 20)
        status, _, body = d.request('POST', '/cgi/pipe-size', body=big)
        assert status == 200, d.log()
        size, n = map(int, body.split())
        assert n == len(big)
        if os.geteuid() == 0:
            assert size == 256 * 1024
        else:       # best effort: an unprivileged user's limit may be lower
            assert size >= 64 * 1024
        status, _, body = d.request('POST', '/cgi/pipe-size', body=b'x' * 1000)
        assert status == 200, d.log()
        assert body.split() == [b'65536', b'1000']


def test_post_chunked(cgi):
    d, site = cgi
    chunks = [b'a' * 1000, b'b' * 70000, b'c']
    req = (b'POST /cgi/echo HTTP/1.1\r\nHost: x\r\n'
           b'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n' +
           b''.join(b'%x\r\n%s\r\n' % (len(c), c) for c in chunks) +
           b'0\r\n\r\n')
    out = d.raw(req, timeout=10)
    head, _, body = out.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200 ')
    assert dechunk(body) == b''.join(chunks)


def read_response(sock, limit_check=None):
    """Read one Content-Length response; returns (head, sha256, length)."""
    buf = b''
    while b'\r\n\r\n' not in buf:
        chunk = sock.recv(65536)
        assert chunk, buf
        buf += chunk
    head, _, rest = buf.partition(b'\r\n\r\n')
    h = hashlib.sha256()
    n = 0
    chunked = b'chunked' in head.lower()
    assert not chunked, head
    length = None
    for line in head.split(b'\r\n'):
        if line.lower().startswith(b'content-length:'):
            length = int(line.split(b':')[1])
    h.update(rest)
    n += len(rest)
    while length is None or n < length:
        chunk = sock.recv(1 << 20)
        if not chunk:
            break
        h.update(chunk)
        n += len(chunk)
    return head, h.hexdigest(), n


def test_100mib_up_and_down_bounded_memory(cgi):
    d, site = cgi
    size = 100 << 20
    pattern = b'abcdefghijklmnopqrstuvwxyz'
    block = pattern * (65536 // 26)      # 65520 bytes, pattern aligned
    expect = hashlib.sha256()
    full, rem = divmod(size, len(block))
    for _ in range(full):
        expect.update(block)
    expect.update(block[:rem])

    # download: the program generates 100 MiB
    s = socket.create_connection(('127.0.0.1', d.port), timeout=30)
    s.sendall(b'GET /cgi/echo?gen=%d HTTP/1.1\r\nHost: x\r\n\r\n' % size)
    head, digest, n = read_response(s)
    s.close()
    assert head.startswith(b'HTTP/1.1 200 ')
    assert n == size and digest == expect.hexdigest()

    # upload: 100 MiB echoed back while it is sent
    s = socket.create_connection(('127.0.0.1', d.port), timeout=30)
    s.sendall(b'POST /cgi/echo?length HTTP/1.1\r\nHost: x\r\n'
              b'Content-Length: %d\r\n\r\n' % size)

    def send():
        for _ in range(full):
            s.sendall(block)
        s.sendall(block[:rem])
    t = threading.Thread(target=send)
    t.start()
    head, digest, n = read_response(s)
    join_within(t, 60, 'the 100 MiB upload did not finish sending')
    s.close()
    assert head.startswith(b'HTTP/1.1 200 ')
    assert n == size and digest == expect.hexdigest()
    # portierd never held the bodies: far below 100 MiB at its peak
    assert vm_hwm_kib(d.proc.pid) < 48 * 1024


def test_redirects(cgi):
    d, site = cgi
    status, r, body = d.request('GET', '/cgi/bad_header/1?location')
    assert status == 302
    assert r.getheader('Location') == 'http://example.com/elsewhere'
    # local redirect: handled again as /cgi/hello (a GET, new translation)
    site.extra['hello'] = []
    status, r, body = d.request('POST', '/cgi/bad_header?redirect',
                                body=b'xyz')
    assert status == 200
    assert body == b'Hello, world!\n'
    assert any(req.text('URI') == '/cgi/hello' for req in site.srv.requests)


def test_local_redirect_loop(cgi):
    d, site = cgi
    status, r, body = d.request('GET', '/cgi/bad_header?loop')
    assert status == 502
    assert wait_log(d, 'more than 4 CGI local redirect repeat requests')


def test_malformed_head(cgi):
    d, site = cgi
    status, r, body = d.request('GET', '/cgi/bad_header')
    assert status == 502
    line = wait_log(d, 'malformed response head')
    assert line and 'cgi %s' % site.program('bad_header') in line[0]
    assert 'line 2' in line[0]
    status, r, body = d.request('GET', '/cgi/bad_header/2?nohead')
    assert status == 502
    assert wait_log(d, 'output ended before the response head')


def test_cannot_start(cgi, tmp_path):
    d, site = cgi
    status, r, body = d.request('GET', '/cgi/nonexistent')
    assert status == 502
    assert wait_log(d, 'cannot start cgi %s: No such file or directory'
                    % site.program('nonexistent'))
    # a failure between fork and exec, reported from the child
    site.extra['env'] = [packet('CHDIR', '/nonexistent-dir')]
    status, r, body = d.request('GET', '/cgi/env/1')
    assert status == 502
    lines = wait_log(d, '"GET /cgi/env/1 HTTP/1.1": 502')
    assert lines and 'chdir (CHDIR): No such file or directory' in lines[0]
    # the child's own log line, and no "exited with status 127"
    assert wait_log(d, ']: cannot start cgi %s: chdir' % site.program('env'))
    assert not wait_log(d, 'exited with status 127', timeout=0.3)


@pytest.fixture
def open_dir():
    """A directory every user may write (the child opens STDERR_PATH as
    its own user); removed afterwards."""
    import shutil
    import tempfile
    path = tempfile.mkdtemp(prefix='portier-test-cgi-')
    os.chmod(path, 0o777)
    yield path
    shutil.rmtree(path)


def test_stderr_path_and_null(cgi, open_dir):
    d, site = cgi
    import pathlib
    path = pathlib.Path(open_dir) / 'echo.err'
    # a file the child may not open: it does not start
    site.extra['echo'] = [packet('STDERR_PATH', '/proc/no/such/file')]
    status, r, body = d.request('POST', '/cgi/echo/0', body=b'1')
    assert status == 502
    assert wait_log(d, 'opening STDERR_PATH: No such file or directory')
    site.extra['echo'] = [packet('STDERR_PATH', str(path))]
    status, r, body = d.request('POST', '/cgi/echo/1', body=b'12345')
    assert status == 200 and body == b'12345'
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not (
            path.exists() and path.read_text()):
        time.sleep(0.02)
    assert path.read_text() == 'echo: 5 bytes\n'
    if os.geteuid() == 0:
        assert path.stat().st_uid == 65534     # opened as the child
    # appended, not truncated
    site.extra['echo'] = [packet('STDERR_PATH', str(path))]
    d.request('POST', '/cgi/echo/2', body=b'123')
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and \
            path.read_text().count('\n') < 2:
        time.sleep(0.02)
    assert path.read_text() == 'echo: 5 bytes\necho: 3 bytes\n'
    # STDERR_NULL: nothing in portierd's log
    site.extra['echo'] = [packet('STDERR_NULL')]
    d.request('POST', '/cgi/echo/3', body=b'1234567')
    time.sleep(0.3)
    assert 'echo: 7 bytes' not in d.log()
    assert 'echo: 5 bytes' not in d.log()


def slow_pid(d, count):
    lines = wait_log(d, 'slow: pid ', count=count, timeout=5)
    assert len(lines) >= count, d.log()
    return int(lines[count - 1].rsplit(' ', 1)[1])


def test_timeout_kills_the_child(cgi):
    d, site = cgi
    t0 = time.monotonic()
    status, r, body = d.request('GET', '/cgi/slow')
    assert status == 504
    assert 1.2 < time.monotonic() - t0 < 5
    pid = slow_pid(d, 1)
    assert wait_gone(pid)
    assert wait_log(d, 'no response head within 1500 ms')
    # after the head: the response is cut off, the child killed
    s = socket.create_connection(('127.0.0.1', d.port), timeout=10)
    s.sendall(b'GET /cgi/slow?head HTTP/1.1\r\nHost: x\r\n\r\n')
    data = b''
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data.startswith(b'HTTP/1.1 200 ')
    assert b'first line' in data
    assert not data.endswith(b'0\r\n\r\n')     # not a complete body
    assert wait_gone(slow_pid(d, 2))


def test_client_abort_kills_the_child(cgi):
    d, site = cgi
    s = socket.create_connection(('127.0.0.1', d.port), timeout=5)
    s.sendall(b'GET /cgi/slow HTTP/1.1\r\nHost: x\r\n\r\n')
    pid = slow_pid(d, 1)
    assert alive(pid)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                 struct.pack('ii', 1, 0))
    s.close()
    t0 = time.monotonic()
    assert wait_gone(pid, timeout=3)
    assert time.monotonic() - t0 < 1.4     # before cgi_timeout


def test_user_not_allowed(cgi):
    d, site = cgi
    site.extra['env'] = [packet('UID_GID', struct.pack('<ii', 4242, 4242))]
    status, r, body = d.request('GET', '/cgi/env')
    assert status == 502
    assert wait_log(d, 'user 4242 is not allowed by spawn { allow_user }')
    if os.geteuid() == 0:
        site.extra['env'] = [packet('UID_GID',
                                    struct.pack('<ii', 4001, 4002))]
        status, r, body = d.request('GET', '/cgi/env/2')
        assert status == 200
        assert b'uid=4001 gid=4002' in body



def test_child_inherits_nothing(portierd_factory, build_dir):
    """What a CGI starts with (clone(CLONE_VM | CLONE_VFORK) and raw
    system calls up to execve(), docs/operations.md "Child processes"):
    only stdin, stdout and stderr, whatever the worker has open (client
    connections, other children's pipes); no blocked or ignored signal;
    its own process group; the spawn user.  Its own portierd with a long
    cgi_timeout: the slow children must outlive the checks even when
    sanitizer builds start slowly.  portierd is started with a real-time
    signal ignored (as a shell or a supervisor may leave it): ignored
    dispositions survive execve(), so the child must undo it too."""
    site = Site(build_dir)
    site.srv.start()
    held = []
    rt = signal.SIGRTMIN + 6
    old = signal.signal(rt, signal.SIG_IGN)
    try:
        try:
            d = portierd_factory([site.srv.address],
                                 config=SPAWN +
                                 'set cgi_timeout = "60 s"\n')
        finally:
            signal.signal(rt, old)
        held = [socket.create_connection(('127.0.0.1', d.port))
                for _ in range(4)]
        for s in held:
            s.sendall(b'GET /cgi/slow HTTP/1.1\r\nHost: x\r\n\r\n')
        # the worker has these connections and the slow children's
        # pipes open while it starts the next ones
        pids = [slow_pid(d, 4)]
        for i in range(3):
            status, r, body = d.request('GET', '/cgi/fds/%d' % i)
            assert status == 200, body
            lines = body.decode().splitlines()
            assert lines[0] == 'fds: 0 1 2', body
            if os.geteuid() == 0:
                assert lines[1] == 'uid=65534 gid=65534 groups=0', body
            assert 'pgid=pid yes' in lines
            assert 'SigBlk:\t0000000000000000' in lines
            assert 'SigIgn:\t0000000000000000' in lines
        assert alive(pids[0])
        for s in held:
            s.close()
        held = []
        # the clients went away: their children are ended
        assert wait_gone(pids[0])
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and cgi_processes(build_dir):
            time.sleep(0.05)
        assert cgi_processes(build_dir) == []
    finally:
        for s in held:
            s.close()
        site.srv.stop()

def test_many_children_at_once(portierd_factory, build_dir):
    """Concurrent requests each get their own child's output; every
    child is reaped.  A long cgi_timeout: under a sanitizer each start
    costs tens of milliseconds of CPU, on a busy machine much more."""
    site = Site(build_dir)
    site.srv.start()
    try:
        d = portierd_factory([site.srv.address],
                             config=SPAWN +
                             'set cgi_timeout = "60 s"\n')
        results = []

        def client(k):
            for i in range(6):
                status, r, body = d.request('GET',
                                            '/cgi/env?%d-%d' % (k, i))
                results.append((status,
                                b'QUERY_STRING=%d-%d\n' % (k, i) in body))

        threads = [threading.Thread(target=client, args=(k,))
                   for k in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert len(results) == 30
        assert all(r == (200, True) for r in results), results
        assert not wait_log(d, 'exited with status', timeout=0.2)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and \
                [p for p in child_pids(d.proc.pid) if alive(p)]:
            time.sleep(0.05)
        assert [p for p in child_pids(d.proc.pid) if alive(p)] == []
        assert cgi_processes(build_dir) == []
    finally:
        site.srv.stop()

def test_shutdown_leaves_no_orphan(cgi, build_dir):
    d, site = cgi
    s = socket.create_connection(('127.0.0.1', d.port), timeout=5)
    s.sendall(b'GET /cgi/slow?head HTTP/1.1\r\nHost: x\r\n\r\n')
    pid = slow_pid(d, 1)
    d.proc.send_signal(signal.SIGTERM)
    d.proc.wait(timeout=10)
    s.close()
    assert wait_gone(pid, timeout=3)
    assert cgi_processes(build_dir) == []


def test_portierd_killed_leaves_no_orphan(cgi, build_dir):
    d, site = cgi
    s = socket.create_connection(('127.0.0.1', d.port), timeout=5)
    s.sendall(b'GET /cgi/slow HTTP/1.1\r\nHost: x\r\n\r\n')
    pid = slow_pid(d, 1)
    d.proc.kill()
    d.proc.wait(timeout=10)
    s.close()
    assert wait_gone(pid, timeout=3)    # PR_SET_PDEATHSIG


def test_spawn_config_errors(portierd_factory, tmp_path, build_dir):
    conf = tmp_path / 'bad.conf'
    conf.write_text('spawn {\n  allow_user "no-such-user-zz"\n}\n')
    import subprocess
    binary = os.path.join(build_dir, 'dataplane', 'portierd')
    r = subprocess.run([binary, '--check', '--config', str(conf)],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1
    assert '%s:2: spawn: unknown user "no-such-user-zz"' % conf in r.stderr


# ---- PIPE filters (§1.7.7) ----

def test_pipe_filter_on_a_file(cgi, tmp_path):
    d, site = cgi
    www = tmp_path / 'www'
    www.mkdir()
    os.chmod(str(tmp_path), 0o755)
    f = www / 'a.txt'
    f.write_bytes(b'hello pipe\n' * 10000)
    plain = [packet('PATH', str(f))]
    filtered = plain + [packet('FILTER'), packet('PIPE', site.program('upper')),
                        packet('APPEND', '--prefix=>>')]
    site.extra['upper-file'] = plain
    status, r, body = d.request('GET', '/cgi/upper-file')
    assert status == 200
    etag = r.getheader('ETag')
    assert etag and r.getheader('Content-Length') == '110000'
    site.extra['upper-file'] = filtered
    status, r, body = d.request('GET', '/cgi/upper-file/1')
    assert status == 200
    assert body == b'>>' + b'HELLO PIPE\n' * 10000
    assert r.getheader('Content-Length') is None
    new_etag = r.getheader('ETag')
    assert new_etag and new_etag != etag and new_etag.startswith(etag[:-1])
    # two filters in a row, the second without the prefix
    site.extra['upper-file'] = filtered + [
        packet('FILTER'), packet('PIPE', site.program('upper')),
        packet('APPEND', '--prefix=2:')]
    status, r, body = d.request('GET', '/cgi/upper-file/2',
                                headers={'Range': 'bytes=0-9'})
    assert status == 200
    assert body == b'2:>>' + b'HELLO PIPE\n' * 10000
    # a 404 passes unfiltered
    site.extra['upper-file'] = [packet('PATH', str(www / 'missing'))] + \
        filtered[1:]
    status, r, body = d.request('GET', '/cgi/upper-file/3')
    assert status == 404
    assert b'HELLO' not in body and b'>>' not in body


def test_pipe_filter_on_cgi_output(cgi):
    d, site = cgi
    site.extra['echo'] = [packet('FILTER'),
                          packet('PIPE', site.program('upper'))]
    data = b'abc' * 300000
    status, r, body = d.request('POST', '/cgi/echo', body=data)
    assert status == 200
    assert body == b'ABC' * 300000
    # a filter that cannot start: 502 with the reason in the log
    site.extra['echo'] = [packet('FILTER'), packet('PIPE', '/nonexistent')]
    status, r, body = d.request('POST', '/cgi/echo/2', body=b'x')
    assert status == 502
    assert wait_log(d, 'cannot start pipe /nonexistent: No such file')


def test_with_workers(portierd_factory, build_dir):
    """Each worker spawns and reaps its own children; the master has
    none; stopping leaves no process behind."""
    site = Site(build_dir)
    site.srv.start()
    try:
        d = portierd_factory([site.srv.address], extra=['--workers', '2'],
                             config=SPAWN +
                             'set cgi_timeout = "1 s"\n')
        for i in range(6):
            status, r, body = d.request('GET', '/cgi/hello/%d' % i)
            assert status == 200 and body == b'Hello, world!\n'
        s = socket.create_connection(('127.0.0.1', d.port), timeout=5)
        s.sendall(b'GET /cgi/slow HTTP/1.1\r\nHost: x\r\n\r\n')
        pid = slow_pid(d, 1)
        workers = child_pids(d.proc.pid)
        assert len(workers) == 2
        assert pid not in workers
        assert any(pid in child_pids(w) for w in workers)
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(timeout=8) == 0
        assert time.monotonic() - t0 < 5
        s.close()
        assert wait_gone(pid, timeout=3)
        assert cgi_processes(build_dir) == []
    finally:
        site.srv.stop()


def test_body_not_read_and_expect_continue(cgi):
    d, site = cgi
    # hello ignores stdin: the body is dropped, the answer comes
    status, r, body = d.request('POST', '/cgi/hello', body=b'z' * 32768)
    assert status == 200 and body == b'Hello, world!\n'
    # a large one: the answer comes while the client still sends (the
    # server may close after it rather than read megabytes for nothing)
    s = socket.create_connection(('127.0.0.1', d.port), timeout=10)
    s.sendall(b'POST /cgi/hello HTTP/1.1\r\nHost: x\r\n'
              b'Content-Length: %d\r\n\r\n' % (8 << 20))

    def send():
        try:
            for _ in range(128):
                s.sendall(b'z' * 65536)
        except OSError:
            pass
    t = threading.Thread(target=send)
    t.start()
    data = b''
    while not data.endswith(b'\r\n0\r\n\r\n'):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    assert data.startswith(b'HTTP/1.1 200 ')
    assert b'\r\n\r\ne\r\nHello, world!\n\r\n0\r\n\r\n' in data
    try:
        s.shutdown(socket.SHUT_RDWR)    # stops the sender
    except OSError:
        pass                            # the server closed first
    join_within(t, 30, 'the body sender did not stop')
    s.close()
    # Expect: 100-continue: the body is asked for when the CGI reads it
    s = socket.create_connection(('127.0.0.1', d.port), timeout=10)
    s.sendall(b'POST /cgi/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n'
              b'Expect: 100-continue\r\nConnection: close\r\n\r\n')
    first = s.recv(100)
    assert first.startswith(b'HTTP/1.1 100 Continue\r\n\r\n'), first
    s.sendall(b'hello')
    data = first
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, rest = data.split(b'\r\n\r\n', 1)[1].partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200 ')
    assert b'hello' in rest
