"""Running portierd: the access log and SIGHUP, graceful SIGTERM,
max_connections, the head and keep-alive timeouts, server_string, the
configuration file's errors and --check, Expect: 100-continue, and
listeners on local and IPv6 sockets."""
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest

from dphelp import file_answer, wait_log
from proclib import fd_count
from tplib import ScriptedTranslationServer

HELLO = b'<p>hello</p>\n'


@pytest.fixture
def srv(docroot):
    """A translation server: /a.txt is that file, anything else
    index.html; /slow answers after a delay of .delay seconds."""
    def handler(req):
        uri = req.text('URI')
        if uri == '/slow':
            time.sleep(server.delay)
        return file_answer(docroot, 'a.txt' if uri == '/a.txt'
                           else 'index.html')

    server = ScriptedTranslationServer(handler)
    server.delay = 1.0
    server.start()
    yield server
    server.stop()


def read_response(sock, timeout=3):
    """Read one response (head and Content-Length body) from a socket;
    (head bytes, body bytes), or (b'', b'') when the peer closed."""
    sock.settimeout(timeout)
    buf = b''
    while b'\r\n\r\n' not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return buf, b''
        buf += chunk
    head, rest = buf.split(b'\r\n\r\n', 1)
    m = re.search(rb'\r\nContent-Length: (\d+)', head)
    length = int(m.group(1)) if m else 0
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head, rest


def connect(d):
    return socket.create_connection(('127.0.0.1', d.port), 3)


GET = b'GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n'


def wait_file(path, count, timeout=3):
    deadline = time.monotonic() + timeout
    while True:
        lines = path.read_text().splitlines() if path.exists() else []
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


# ---- access log ----

Q = r'(?:[^"\\]|\\.)*'     # a quoted field: '"' and '\\' escaped
COMBINED = re.compile(
    r'^(?P<host>\S+) - - \[(?P<time>\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d '
    r'[+-]\d{4})\] "(?P<request>%s)" (?P<status>\d{3}) (?P<bytes>\d+|-) '
    r'"(?P<referer>%s)" "(?P<agent>%s)"$' % (Q, Q, Q))


def test_access_log_and_sighup(portierd_factory, srv, tmp_path):
    log = tmp_path / 'access.log'
    d = portierd_factory([srv.address],
                         config='set access_log = "%s"\n' % log)
    assert d.request('GET', '/index.html',
                     {'Referer': 'http://ref.example/p',
                      'User-Agent': 'agent/1.0 (test)'})[0] == 200
    assert d.request('HEAD', '/a.txt')[0] == 200
    status, _, body = d.request('GET', '/q?x=1')
    assert status == 200
    lines = wait_file(log, 3)
    assert len(lines) == 3, lines
    m = [COMBINED.match(line) for line in lines]
    assert all(m), lines
    assert m[0]['host'] == '127.0.0.1'
    assert m[0]['request'] == 'GET /index.html HTTP/1.1'
    assert (m[0]['status'], m[0]['bytes']) == ('200', str(len(HELLO)))
    assert m[0]['referer'] == 'http://ref.example/p'
    assert m[0]['agent'] == 'agent/1.0 (test)'
    assert m[1]['request'] == 'HEAD /a.txt HTTP/1.1'
    assert m[1]['bytes'] == '-'
    assert m[1]['referer'] == '-' and m[1]['agent'] == '-'
    assert m[2]['request'] == 'GET /q?x=1 HTTP/1.1'
    # an error page and a refused head are logged too
    d.raw(b'GET / HTTP/1.1\r\n\r\n')
    lines = wait_file(log, 4)
    assert len(lines) == 4 and ' 400 ' in lines[3], lines

    # quotes, backslashes and bytes outside ASCII cannot forge fields
    out = d.raw(b'GET /esc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
                b'User-Agent: a" 200 1 "b\\c\xe9\r\n'
                b'Referer: "\r\n\r\n')
    assert out.startswith(b'HTTP/1.1 200 ')
    lines = wait_file(log, 5)
    m = COMBINED.match(lines[4])
    assert m, lines[4]
    assert m['agent'] == 'a\\" 200 1 \\"b\\\\c\\xe9'
    assert m['referer'] == '\\"'
    d.raw(b'GET /q"x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    # a very long field is cut, the line stays whole
    d.raw(b'GET /long HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
          b'User-Agent: ' + b'\xe9"' * 1500 + b'\r\n\r\n')
    lines = wait_file(log, 7)
    assert len(lines) == 7
    m = COMBINED.match(lines[5])
    assert m and m['request'] == 'GET /q\\"x HTTP/1.1', lines[5]
    m = COMBINED.match(lines[6])
    assert m and m['agent'].startswith('\\xe9\\"\\xe9'), lines[6]

    # log rotation: rename, SIGHUP, the new lines go to a new file
    rotated = tmp_path / 'access.log.1'
    os.rename(log, rotated)
    d.proc.send_signal(signal.SIGHUP)
    assert wait_log(d, 'access log %s reopened' % log)
    assert d.request('GET', '/after-hup')[0] == 200
    assert wait_file(log, 1)[0].startswith('127.0.0.1 - - [')
    assert '"GET /after-hup HTTP/1.1" 200' in log.read_text()
    assert len(rotated.read_text().splitlines()) == 7
    assert d.proc.poll() is None


# ---- stopping ----

def test_sigterm_finishes_requests_in_progress(portierd_factory, srv):
    d = portierd_factory([srv.address])
    srv.delay = 1.0
    result = []

    def slow():
        s = connect(d)
        s.sendall(b'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n')
        result.append(read_response(s, 10))
        result.append(s.recv(100))      # then closed
        s.close()

    t = threading.Thread(target=slow)
    t.start()
    idle = connect(d)                    # an idle keep-alive connection
    idle.sendall(GET)
    read_response(idle)
    deadline = time.monotonic() + 5
    while srv.count('URI', b'/slow') == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    d.proc.send_signal(signal.SIGTERM)
    assert wait_log(d, 'shutting down')
    # the idle connection is closed, no new connection is accepted
    idle.settimeout(3)
    assert idle.recv(100) == b''
    idle.close()
    deadline = time.monotonic() + 2
    while True:
        try:
            connect(d).close()
        except ConnectionRefusedError:
            break
        assert time.monotonic() < deadline, 'still accepting'
        time.sleep(0.02)
    t.join(10)
    head, body = result[0]
    assert head.startswith(b'HTTP/1.1 200 ') and body == HELLO
    assert b'Connection: close' in head
    assert result[1] == b''
    assert d.proc.wait(10) == 0
    assert 'portierd: stopped' in d.log()


# ---- connection limits and timeouts ----

def test_max_connections(portierd_factory, srv):
    d = portierd_factory([srv.address],
                         config='set max_connections = "3"\n')
    held = []
    for _ in range(3):
        s = connect(d)
        s.sendall(GET)
        assert read_response(s)[0].startswith(b'HTTP/1.1 200 ')
        held.append(s)
    fourth = connect(d)                  # the kernel queues it
    fourth.sendall(GET)
    fourth.settimeout(0.7)
    with pytest.raises(socket.timeout):
        fourth.recv(100)
    held.pop().close()
    head, body = read_response(fourth, 3)
    assert head.startswith(b'HTTP/1.1 200 ') and body == HELLO
    # the three still work
    for s in held:
        s.sendall(GET)
        assert read_response(s)[0].startswith(b'HTTP/1.1 200 ')
        s.close()
    fourth.close()




def test_listener_resumes_after_emfile(portierd_factory, srv):
    """Out of descriptors (the worker's soft limit lowered to what it has
    open plus one): the next accept() fails with EMFILE and the listeners
    pause with a log line; the close of any connection resumes them (not
    only one that ends a full max_connections), and the waiting client is
    served."""
    import resource
    d = portierd_factory([srv.address])
    pid = d.proc.pid
    warm = connect(d)
    warm.sendall(GET)           # translation connection, cached file
    assert read_response(warm)[0].startswith(b'HTTP/1.1 200 ')
    warm.close()
    deadline = time.monotonic() + 5
    base = fd_count(pid)
    while time.monotonic() < deadline:      # the warm socket's close
        time.sleep(0.1)
        n = fd_count(pid)
        if n == base:
            break
        base = n
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (base + 1, hard))
    try:
        first = connect(d)      # takes the last descriptor
        first.sendall(GET)
        assert read_response(first)[0].startswith(b'HTTP/1.1 200 ')
        second = connect(d)     # the kernel queues it; accept() fails
        second.sendall(GET)
        wait_log(d, 'pausing until a connection closes')
        second.settimeout(0.5)
        with pytest.raises(socket.timeout):
            second.recv(100)
        first.close()
        head, body = read_response(second, 5)
        assert head.startswith(b'HTTP/1.1 200 ') and body == HELLO
        second.close()
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))


def test_request_head_timeout(portierd_factory, srv):
    d = portierd_factory([srv.address], config=(
        'set request_header_timeout = "1 s"\n'
        'set keepalive_timeout = "10 s"\n'))
    silent = connect(d)             # sends nothing at all
    t_silent = time.monotonic()
    s = connect(d)
    s.sendall(b'GET /index.html HTTP/1.1\r\nHost: x\r\n')
    t0 = time.monotonic()
    s.settimeout(5)
    data = s.recv(100)
    elapsed = time.monotonic() - t0
    assert data == b'' or data.startswith(b'HTTP/1.1 408 ')
    assert 0.8 < elapsed < 3
    s.close()
    assert wait_log(d, 'timeout reading the request head')
    # a head that arrives slowly but in time is served
    s = connect(d)
    for part in (b'GET /index.html', b' HTTP/1.1\r\n', b'Host: x\r\n\r\n'):
        s.sendall(part)
        time.sleep(0.2)
    assert read_response(s)[1] == HELLO
    s.close()
    # the silent one is closed too (the kernel holds it up to 1 s more:
    # TCP_DEFER_ACCEPT)
    silent.settimeout(5)
    assert silent.recv(100) == b''
    assert time.monotonic() - t_silent < 4
    silent.close()


def test_keepalive_timeout(portierd_factory, srv):
    d = portierd_factory([srv.address], config=(
        'set keepalive_timeout = "1 s"\n'
        'set request_header_timeout = "10 s"\n'))
    s = connect(d)
    s.sendall(GET)
    assert read_response(s)[1] == HELLO
    # still open shortly after the response
    time.sleep(0.3)
    s.sendall(GET)
    assert read_response(s)[1] == HELLO
    t0 = time.monotonic()
    s.settimeout(5)
    assert s.recv(100) == b''
    assert 0.8 < time.monotonic() - t0 < 3
    s.close()


def test_server_string(portierd_factory, srv):
    d = portierd_factory([srv.address],
                         config='set server_string = "TestServer/9.1"\n')
    status, r, _ = d.request('GET', '/index.html')
    assert status == 200 and r.getheader('Server') == 'TestServer/9.1'
    status, r, _ = d.request('GET', '/../x')
    assert status == 400 and r.getheader('Server') == 'TestServer/9.1'


# ---- the configuration file ----

def run_portierd(build_dir, *args):
    binary = os.path.join(build_dir, 'dataplane', 'portierd')
    if not os.path.exists(binary):
        pytest.skip('portierd not built')
    return subprocess.run([binary] + list(args), capture_output=True,
                          text=True, timeout=10)


@pytest.mark.parametrize('text,line,message', [
    ('set nosuch = "1"\n', 1, "unknown setting 'nosuch'"),
    ('# c\n\nset verbose_response = "yes"\n', 3,
     "setting 'verbose_response' is not supported yet"),
    ('set max_connections = "0"\n', 1, 'max_connections'),
    ('set translation_timeout = "fast"\n', 1, 'translation_timeout'),
    ('listener {\n  bind "127.0.0.1:0"\n  ssl yes\n}\n', 4, 'ssl_cert'),
    ('listener {\n  bind "127.0.0.1:0"\n', 1, 'listener'),
])
def test_config_errors(build_dir, tmp_path, text, line, message):
    conf = tmp_path / 'bad.conf'
    conf.write_text(text)
    for extra in ((), ('--check',)):
        out = run_portierd(build_dir, '--config', str(conf), *extra)
        assert out.returncode == 1, out
        first = out.stderr.splitlines()[0]
        assert '%s:%d: ' % (conf, line) in first, first
        assert message in first, first


def test_config_check(build_dir, tmp_path):
    conf = tmp_path / 'good.conf'
    conf.write_text('@set port = "0"\n'
                    'listener {\n  bind "127.0.0.1:${port}"\n}\n'
                    'translation_socket "@portier-test-none"\n'
                    'set server_string = "S"\n'
                    'set translation_timeout = "2 s"\n')
    out = run_portierd(build_dir, '--check', '--config', str(conf))
    assert out.returncode == 0, out
    assert 'valid' in out.stdout
    assert run_portierd(build_dir, '--config',
                        str(tmp_path / 'missing.conf')).returncode == 1


# ---- Expect: 100-continue ----

def test_expect_continue_not_read(portierd_factory, srv):
    d = portierd_factory([srv.address])
    s = connect(d)
    s.sendall(b'GET /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n'
              b'Expect: 100-continue\r\n\r\n')
    head, body = read_response(s, 3)
    if head.startswith(b'HTTP/1.1 100 '):
        head, body = read_response(s, 3)     # the final response follows
    assert head.startswith(b'HTTP/1.1 200 ') and body == HELLO
    if b'Connection: close' not in head:
        # the connection goes on: the client sends the body after all
        s.sendall(b'hello' + GET)
        head, body = read_response(s, 3)
        assert head.startswith(b'HTTP/1.1 200 ') and body == HELLO
    s.close()


def test_expect_continue_curl(portierd_factory, srv, tmp_path):
    d = portierd_factory([srv.address])
    data = tmp_path / 'body'
    data.write_bytes(b'x' * 200000)
    t0 = time.monotonic()
    out = subprocess.run(['curl', '-sS', '-o', '/dev/null', '-w',
                          '%{http_code}', '-H', 'Expect: 100-continue',
                          '--expect100-timeout', '5',
                          '--data-binary', '@%s' % data,
                          d.url + '/index.html'],
                         capture_output=True, text=True, timeout=20)
    # a file takes no body: 405 at once, without waiting for the body
    assert out.stdout == '405', out
    assert time.monotonic() - t0 < 4


# ---- listener kinds ----

def unix_get(address, path=b'/index.html'):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(3)
        s.connect('\0' + address[1:] if address.startswith('@')
                  else address)
        s.sendall(b'GET %s HTTP/1.1\r\nHost: local\r\n'
                  b'Connection: close\r\n\r\n' % path)
        return read_response(s)


def test_local_listeners(portierd_factory, srv, tmp_path):
    sock_path = str(tmp_path / 'p.sock')
    abstract = '@portier-test-listen-%d-%d' % (os.getpid(), id(tmp_path))
    d = portierd_factory([srv.address],
                         extra=['--listen', sock_path, '--listen', abstract])
    for address in (sock_path, abstract):
        head, body = unix_get(address)
        assert head.startswith(b'HTTP/1.1 200 ') and body == HELLO, address
    assert os.path.exists(sock_path)
    # a path listener's client has no address: REMOTE_HOST-less, "local"
    assert srv.requests[-1].text('HOST') == 'local'


def test_listener_tag(portierd_factory, srv, tmp_path):
    abstract = '@portier-test-tag-%d-%d' % (os.getpid(), id(tmp_path))
    d = portierd_factory([srv.address], config=(
        'listener {\n  bind "%s"\n  tag "inner"\n}\n' % abstract))
    head, _ = unix_get(abstract)
    assert head.startswith(b'HTTP/1.1 200 ')
    assert srv.requests[-1].text('LISTENER_TAG') == 'inner'
    assert d.request('GET', '/index.html')[0] == 200
    assert not srv.requests[-1].has('LISTENER_TAG')


def ipv6_loopback():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(('::1', 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason='no IPv6 loopback')
def test_ipv6_listener(portierd_factory, srv):
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(('::1', 0))
        port = s.getsockname()[1]
    d = portierd_factory([srv.address],
                         extra=['--listen', '[::1]:%d' % port])
    with socket.create_connection(('::1', port), 3) as s:
        s.sendall(b'GET /index.html HTTP/1.1\r\nHost: [::1]\r\n\r\n')
        head, body = read_response(s)
    assert head.startswith(b'HTTP/1.1 200 ') and body == HELLO
    assert srv.requests[-1].text('HOST') == '[::1]'


def test_write_timeout(portierd_factory, srv, docroot):
    with open(docroot / 'a.txt', 'r+b') as f:
        f.truncate(64 << 20)            # sparse: nothing to write to disk
    d = portierd_factory([srv.address],
                         config='set write_timeout = "1 s"\n')
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(3)
    s.connect(('127.0.0.1', d.port))
    s.sendall(b'GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n')
    # the client reads nothing: the server gives up after 1 s
    lines = wait_log(d, 'write timeout', timeout=5)
    assert len(lines) == 1 and '"GET /a.txt HTTP/1.1"' in lines[0]
    got = 0
    try:
        while True:
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    assert 0 < got < (64 << 20)
    assert d.request('GET', '/index.html')[0] == 200


def test_sighup_without_access_log(portierd_factory, srv):
    d = portierd_factory([srv.address])
    d.proc.send_signal(signal.SIGHUP)
    time.sleep(0.2)
    assert d.proc.poll() is None
    assert d.request('GET', '/index.html')[0] == 200


def test_listener_translation_socket(portierd_factory, srv, docroot,
                                     tmp_path):
    """A listener with its own translation_socket list asks only those
    servers; the others use the global list."""
    own = ScriptedTranslationServer(
        lambda req: file_answer(docroot, 'a.txt'))
    own.start()
    try:
        abstract = '@portier-test-own-%d-%d' % (os.getpid(), id(tmp_path))
        d = portierd_factory([srv.address], config=(
            'listener {\n  bind "%s"\n  translation_socket "%s"\n}\n'
            % (abstract, own.address)))
        head, body = unix_get(abstract, b'/x')
        assert head.startswith(b'HTTP/1.1 200 ') and body == b'a' * 100
        assert own.count() == 1 and srv.count() == 0
        assert d.request('GET', '/x')[2] == HELLO
        assert own.count() == 1 and srv.count() == 1
    finally:
        own.stop()


def test_sigterm_during_a_large_body(portierd_factory, srv, docroot):
    size = 32 << 20
    with open(docroot / 'a.txt', 'r+b') as f:
        f.truncate(size)
    d = portierd_factory([srv.address])
    s = connect(d)
    s.settimeout(5)
    s.sendall(b'GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n')
    got = s.recv(65536)
    assert got.startswith(b'HTTP/1.1 200 ')
    d.proc.send_signal(signal.SIGTERM)
    assert wait_log(d, 'shutting down')
    received = len(got) - (got.index(b'\r\n\r\n') + 4)
    while True:
        chunk = s.recv(1 << 20)
        if not chunk:
            break
        received += len(chunk)
    s.close()
    assert received == size
    assert d.proc.wait(10) == 0
