"""The WAS data pipes under many sequential requests (dataplane/dp_was.c):
a pipe's watcher is registered only while the container waits for the
pipe, never once per request for nothing, and never stopped when it is
not registered (libuv issues EPOLL_CTL_DEL on every uv_poll_stop()).
Seen from outside with strace on portierd's worker: the epoll_ctl()
calls on the response pipe's descriptor and their failures.  Skipped
without strace."""
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile

import pytest

from proclib import descendants, readline_within
from tplib import ScriptedTranslationServer, packet

REQUESTS = 40
PRE_SIZE = 64 * 1024        # fits the pipe: written before the head

# A WAS application in raw protocol: for each request it writes the
# whole body to the pipe first, then STATUS, DATA and LENGTH in one
# write to the control socket.  When the container reads DATA, every
# body byte is on the pipe already: it never has to wait for the pipe.
APP = r'''#!/usr/bin/python3
import os, struct
SIZE = %d
body = bytes(range(97, 123)) * (SIZE // 26 + 1)
body = body[:SIZE]
head = (struct.pack('<HHI', 4, 9, 200) + struct.pack('<HH', 0, 11) +
        struct.pack('<HHQ', 8, 12, SIZE))
buf = b''
while True:
    data = os.read(3, 65536)
    if not data:
        break
    buf += data
    while len(buf) >= 4:
        length, command = struct.unpack('<HH', buf[:4])
        if len(buf) < 4 + length:
            break
        buf = buf[4 + length:]
        if command == 10:               # NO_DATA: the request is complete
            view = memoryview(body)
            while view:
                view = view[os.write(1, view):]
            os.write(3, head)
''' % PRE_SIZE


def app_pid(root, name):
    """The one process below root whose command line names `name`."""
    found = []
    for p in descendants(root):
        try:
            with open('/proc/%d/cmdline' % p, 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        if any(a.endswith(name.encode()) for a in argv):
            found.append(p)
    assert len(found) == 1, found
    return found[0]


def pipe_inode(pid, fd):
    link = os.readlink('/proc/%d/fd/%d' % (pid, fd))
    m = re.match(r'pipe:\[(\d+)\]', link)
    return m.group(1) if m else None


def worker_fd_of_pipe(worker, inode):
    for fd in os.listdir('/proc/%d/fd' % worker):
        try:
            if pipe_inode(worker, int(fd)) == inode:
                return int(fd)
        except OSError:
            pass
    return None


def read_response(sock, buf):
    """One response on a keep-alive connection: (status, body, rest)."""
    while b'\r\n\r\n' not in buf:
        data = sock.recv(65536)
        assert data, 'connection closed'
        buf += data
    head, buf = buf.split(b'\r\n\r\n', 1)
    status = int(head.split(b' ', 2)[1])
    m = re.search(rb'\r\ncontent-length: *(\d+)', head, re.I)
    assert m, head
    n = int(m.group(1))
    while len(buf) < n:
        data = sock.recv(max(65536, n - len(buf)))
        assert data, 'connection closed'
        buf += data
    return status, buf[:n], buf[n:]


@pytest.fixture
def rig(portierd_factory, build_dir):
    if shutil.which('strace') is None:
        pytest.skip('strace is not installed')
    # a directory the application's user (nobody, when root) can enter
    tmp = tempfile.mkdtemp(prefix='portier-test-was-pipes.')
    os.chmod(tmp, 0o755)
    app = os.path.join(tmp, 'prewritten.py')
    with open(app, 'w') as f:
        f.write(APP)
    os.chmod(app, 0o755)
    stream = os.path.join(os.path.abspath(build_dir), 'examples',
                          'was-stream')

    def handler(req):
        uri = req.text('URI')
        return [packet('WAS', stream if uri.startswith('/stream')
                       else app)]
    srv = ScriptedTranslationServer(handler)
    srv.start()
    conf = ''
    if os.geteuid() == 0:
        conf = 'spawn {\n  default_user "nobody"\n}\n'
    d = portierd_factory([srv.address], config=conf)
    yield d
    srv.stop()
    shutil.rmtree(tmp, ignore_errors=True)


def traced_requests(d, path, n, name):
    """n sequential requests of path on one connection, the worker under
    strace from the second on: (bodies, epoll_ctl lines naming the
    response pipe's descriptor in the worker, its number)."""
    sock = socket.create_connection(('127.0.0.1', d.port), timeout=30)
    req = ('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % path).encode()
    sock.sendall(req)
    status, body, rest = read_response(sock, b'')
    assert status == 200, body[:200]
    bodies = [body]
    worker = d.proc.pid         # one worker: portierd itself
    app = app_pid(d.proc.pid, name)
    inode = pipe_inode(app, 1)
    assert inode is not None, os.readlink('/proc/%d/fd/1' % app)
    fd = worker_fd_of_pipe(worker, inode)
    assert fd is not None
    out = os.path.join(tempfile.mkdtemp(prefix='portier-test-strace.'),
                       'trace')
    tracer = subprocess.Popen(['strace', '-e', 'trace=epoll_ctl', '-o', out,
                               '-p', str(worker)],
                              stderr=subprocess.PIPE)
    try:
        # strace says "Process N attached" on stderr once it is
        line = readline_within(tracer.stderr, 30, 'strace did not attach')
        assert b'attached' in line, line
        for _ in range(n - 1):
            sock.sendall(req)
            status, body, rest = read_response(sock, rest)
            assert status == 200
            bodies.append(body)
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=30)
        sock.close()
    with open(out) as f:
        lines = [ln for ln in f if re.search(
            r'epoll_ctl\(\d+, EPOLL_CTL_\w+, %d,' % fd, ln)]
    shutil.rmtree(os.path.dirname(out), ignore_errors=True)
    return bodies, lines, fd


def test_pipe_not_registered_per_request(rig):
    """The body is on the pipe before the head: the container never
    waits for the pipe, so its watcher is not registered at all (it was
    registered and removed again once per request while the process was
    idle)."""
    bodies, lines, fd = traced_requests(rig, '/pre', REQUESTS,
                                        '/prewritten.py')
    want = (bytes(range(97, 123)) * (PRE_SIZE // 26 + 1))[:PRE_SIZE]
    assert all(b == want for b in bodies)
    # the first traced request may still find a registration from the
    # one before it
    assert len(lines) <= 2, ''.join(lines)


def test_no_failed_epoll_ctl_on_the_pipe(rig):
    """1 MiB bodies written by the was_app library while the container
    splices them: the watcher comes and goes with the waits, and is never
    removed when it was not there (ENOENT).  libuv's uv_poll_start()
    issues a DEL before its ADD, which fails when the watcher was
    stopped: allowed once per registration, no more."""
    bodies, lines, fd = traced_requests(
        rig, '/stream?size=%d&length=1' % (1 << 20), 10, '/was-stream')
    assert all(len(b) == 1 << 20 for b in bodies)
    adds = [ln for ln in lines if 'EPOLL_CTL_ADD' in ln]
    failed = [ln for ln in lines if '= -1' in ln]
    assert len(failed) <= len(adds), ''.join(lines[:40])
    for i, ln in enumerate(lines):
        if '= -1' in ln:
            # only the DEL that uv_poll_start() issues before its ADD
            assert 'EPOLL_CTL_DEL' in ln and 'ENOENT' in ln, ln
            assert i + 1 < len(lines) and \
                'EPOLL_CTL_ADD' in lines[i + 1], ''.join(lines[i:i + 2])
