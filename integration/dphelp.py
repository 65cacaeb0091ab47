"""Small helpers shared by the portierd integration suites (not a test
file): a document root, answers for it, log checks, portierctl on a
control socket (addresses, the config block, STATS as JSON), the spawn
block a root run needs, a multicast group, concurrent requests, chunked
bodies, the body of factory fixtures, and a directory for programs that
a child running as nobody executes."""
import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

from proclib import join_within
from tplib import packet


@contextlib.contextmanager
def program_dir(prefix):
    """A temporary directory that a child running as nobody can enter
    (pytest's tmp_path is private to root); yields write(name, text),
    which puts an executable program there and returns its path.  The
    directory is removed at the end."""
    path = tempfile.mkdtemp(prefix=prefix)
    try:
        os.chmod(path, 0o755)

        def write(name, text):
            prog = os.path.join(path, name)
            with open(prog, 'w') as f:
                f.write(text)
            os.chmod(prog, 0o755)
            return prog
        yield write
    finally:
        shutil.rmtree(path, ignore_errors=True)


def read_to_end(sock):
    """Every byte sock receives until the peer closes (its own timeout
    bounds each wait)."""
    data = bytearray()
    while True:
        chunk = sock.recv(1 << 20)
        if not chunk:
            return bytes(data)
        data += chunk


def make_docroot(tmp_path):
    root = tmp_path / 'www'
    root.mkdir()
    (root / 'index.html').write_text('<p>hello</p>\n')
    (root / 'a.txt').write_text('a' * 100)
    return root


def file_answer(root, name='index.html', *extra):
    """A per-URI answer (no BASE): the named file, plus extra packets."""
    return [packet('PATH', '%s/%s' % (root, name))] + list(extra)


def log_lines(d, needle):
    """The lines of portierd's log that contain `needle`."""
    return [line for line in d.log().splitlines() if needle in line]


def wait_log(d, needle, count=1, timeout=3):
    """Wait until `count` log lines contain `needle`; return them."""
    deadline = time.monotonic() + timeout
    while True:
        lines = log_lines(d, needle)
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def one_failure_line(d, path, status, cause):
    """Exactly one log line for the request `path`, with its status and a
    text naming the cause; returns it."""
    lines = wait_log(d, '"GET %s HTTP/1.1": %u: ' % (path, status))
    assert len(lines) == 1, d.log()
    assert cause in lines[0], lines[0]
    # nothing else was logged about it
    assert len(log_lines(d, path)) == 1, d.log()
    return lines[0]


def abstract():
    """An abstract socket address unique to this process and call."""
    return '@portier-test-%d-%s' % (os.getpid(), uuid.uuid4().hex[:8])


def free_udp_port():
    """A UDP port on 127.0.0.1 nobody is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def control_config(*binds):
    """portierd config text: one control block per address."""
    return ''.join('control {\n  bind "%s"\n}\n' % b for b in binds)


def run_ctl(ctl, *args, timeout=20, **kw):
    """Run portierctl with args; the CompletedProcess (text output)."""
    return subprocess.run([ctl, *args], capture_output=True, text=True,
                          timeout=timeout, **kw)


def stats(ctl, server):
    """`portierctl --server SERVER stats --json`, which must succeed,
    parsed."""
    p = run_ctl(ctl, '--server', server, 'stats', '--json')
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def spawn_block(*lines, allow_nobody=True):
    """As root, a spawn block that runs children as nobody (never root):
    default_user "nobody", allow_user "nobody" unless `allow_nobody` is
    false, then the given lines ('allow_group "nogroup"'...); as any
    other user the empty string."""
    if os.geteuid() != 0:
        return ''
    body = ['default_user "nobody"']
    if allow_nobody:
        body.append('allow_user "nobody"')
    return 'spawn {\n%s}\n' % ''.join('  %s\n' % line
                                      for line in body + list(lines))


def multicast_group():
    """A multicast group for this process's tests, once this machine has
    shown that it can join it on lo (else the test is skipped)."""
    group = '239.255.%d.%d' % (os.getpid() % 250, 2 + os.getpid() % 200)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        mreq = socket.inet_aton(group) + socket.inet_aton('127.0.0.1')
        try:
            probe.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                             mreq)
        except OSError as e:
            pytest.skip('cannot join a multicast group on lo: %s' % e)
    return group


def multicast_control(port, group):
    """portierd config text: a control block on UDP `port` of every
    address that also joins the multicast `group` on lo."""
    return ('control {\n  bind "0.0.0.0:%d"\n  multicast_group "%s"\n'
            '  interface "lo"\n}\n' % (port, group))


def concurrent_requests(d, path, n):
    """n GET requests for path, each on a connection of its own, all at
    the same time: ([(status, response, body)] in the order they ended,
    the seconds they took together)."""
    results = []
    threads = [threading.Thread(
        target=lambda: results.append(d.request('GET', path)))
        for _ in range(n)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        join_within(t, 60, 'a concurrent GET %s did not end' % path)
    return results, time.monotonic() - t0


def dechunk(body):
    """The data of a chunked body (size lines without extensions, up to
    the last chunk; trailers are not read)."""
    out, rest = b'', body
    while True:
        size, _, rest = rest.partition(b'\r\n')
        n = int(size, 16)
        if n == 0:
            return out
        out += rest[:n]
        rest = rest[n + 2:]


def started(make, stop):
    """The body of a factory fixture (`yield from started(...)`): it
    yields a function that calls make(*args, **kw), remembers and returns
    the result; when the test is over, stop() is called on each result,
    in the order they were made."""
    made = []

    def start(*args, **kw):
        thing = make(*args, **kw)
        made.append(thing)
        return thing

    yield start
    for thing in made:
        stop(thing)


def self_signed(directory, cn='a.test', key='k.pem', cert='c.pem'):
    """A self-signed EC certificate for `cn` (two days) written to
    directory/cert with its key in directory/key; the test is skipped
    without the openssl command.  Returns the directory as a string."""
    import shutil
    if shutil.which('openssl') is None:
        pytest.skip('needs the openssl command')
    d = str(directory)
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
                    'ec_paramgen_curve:P-256', '-nodes', '-keyout', key,
                    '-out', cert, '-subj', '/CN=' + cn, '-days', '2'],
                   cwd=d, check=True, capture_output=True, timeout=30)
    return d
