"""libportier-translator from the outside: examples/translators/hello
(built against the shared library) on an abstract socket, spoken to with
requests written out byte by byte from the spec (§1.2: u16 length, u16
command, host order = little-endian here; numbers from §1.4), and the SDK
as installed (headers + pkg-config) compiling hello.c again."""
import glob
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from conftest import ROOT
from tplib import parse_packets

pytestmark = pytest.mark.skipif(sys.byteorder != 'little',
                                reason='vectors are little-endian')

# BEGIN 3, HOST "example.com", URI "/", END
REQ_ROOT = (b'\x01\x00\x01\x00\x03'
            b'\x0b\x00\x03\x00example.com'
            b'\x01\x00\x04\x00/'
            b'\x00\x00\x02\x00')

# BEGIN 3, MESSAGE (188) "Hello, world!\n", MAX_AGE (36) 60, END
RESP_ROOT = (b'\x01\x00\x01\x00\x03'
             b'\x0e\x00\xbc\x00Hello, world!\n'
             b'\x04\x00\x24\x00\x3c\x00\x00\x00'
             b'\x00\x00\x02\x00')


def req(uri=None, host=b'example.com'):
    """BEGIN 3, HOST, URI, END, packed by hand."""
    out = b'\x01\x00\x01\x00\x03'
    if host is not None:
        out += struct.pack('<HH', len(host), 3) + host
    if uri is not None:
        out += struct.pack('<HH', len(uri), 4) + uri
    return out + b'\x00\x00\x02\x00'


def sanitized(build_dir):
    """True when the build uses sanitizers: a program compiled without
    them cannot load that library."""
    path = os.path.join(build_dir, 'meson-info', 'intro-buildoptions.json')
    try:
        with open(path) as f:
            options = json.load(f)
    except OSError:
        return False
    return any(o['name'] == 'b_sanitize' and o['value'] not in ('none', '')
               for o in options)


def recv_response(sock):
    """Read one response up to END; raises ConnectionError on EOF."""
    buf = b''
    while True:
        try:
            got = parse_packets(buf)
        except ValueError:
            got = None
        if got and got[-1][0] == 'END':
            return buf
        data = sock.recv(65536)
        if not data:
            raise ConnectionError('closed after %d bytes' % len(buf))
        buf += data


def connect(address, timeout=5):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect('\0' + address[1:])
    return s


def ask(address, request):
    with connect(address) as s:
        s.sendall(request)
        return parse_packets(recv_response(s))


class Server:
    """A translation server process on an abstract socket, stopped by its
    PID; its stderr is collected in a file."""

    def __init__(self, argv_prefix, address):
        self.address = address
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv_prefix + [address],
                                     stderr=self.log)
        deadline = time.monotonic() + 5
        while True:
            try:
                connect(address, timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None or \
                        time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError('server did not start')
                time.sleep(0.01)

    def stderr(self):
        self.log.seek(0)
        return self.log.read().decode(errors='replace')

    def wait_for_log(self, text, timeout=5):
        deadline = time.monotonic() + timeout
        while text not in self.stderr():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def hello(build_dir):
    binary = os.path.join(build_dir, 'examples', 'hello')
    if not os.path.exists(binary):
        pytest.fail('examples/hello is not built in %s' % build_dir)
    address = '@portier-test-hello-%d-%d' % (os.getpid(), time.monotonic_ns())
    srv = Server([binary], address)
    yield srv
    assert srv.stop() == 0, srv.stderr()


def test_root_bytes(hello):
    with connect(hello.address) as s:
        s.sendall(REQ_ROOT)
        assert recv_response(s) == RESP_ROOT


def test_every_answer(hello):
    def packets(*items):
        return [('BEGIN', b'\x03')] + list(items) + [('END', b'')]

    assert ask(hello.address, req(b'/hello/Ada')) == packets(
        ('MESSAGE', b'Hello, Ada!\n'))
    assert ask(hello.address, req(b'/old')) == packets(
        ('STATUS', b'\x2d\x01'), ('REDIRECT', b'/'))
    assert ask(hello.address, req(b'/nope')) == packets(
        ('STATUS', b'\x94\x01'), ('MESSAGE', b'Not found\n'))
    # no URI: some other kind of request
    assert ask(hello.address, req(None)) == packets(('STATUS', b'\x90\x01'))
    # a name MESSAGE cannot carry: the builder refuses, hello says 400
    assert ask(hello.address, req(b'/hello/\x01')) == packets(
        ('STATUS', b'\x90\x01'))
    assert hello.wait_for_log('hello: malformed MESSAGE packet: '
                              'not printable US-ASCII')


def test_requests_one_after_another_on_one_connection(hello):
    with connect(hello.address) as s:
        for i in range(5):
            s.sendall(REQ_ROOT)
            assert recv_response(s) == RESP_ROOT
            s.sendall(req(b'/hello/n%d' % i))
            got = parse_packets(recv_response(s))
            assert got[1] == ('MESSAGE', b'Hello, n%d!\n' % i)


def test_concurrent_connections(hello):
    # 40 connections open at once, every request sent before any answer
    # is read
    socks = [connect(hello.address) for _ in range(40)]
    try:
        for i, s in enumerate(socks):
            s.sendall(req(b'/hello/c%d' % i))
        for i, s in enumerate(socks):
            got = parse_packets(recv_response(s))
            assert got[1] == ('MESSAGE', b'Hello, c%d!\n' % i)
    finally:
        for s in socks:
            s.close()

    # and clients in threads, several requests each
    errors = []

    def client(n):
        try:
            with connect(hello.address) as s:
                for j in range(10):
                    s.sendall(req(b'/hello/t%d-%d' % (n, j)))
                    got = parse_packets(recv_response(s))
                    if got[1] != ('MESSAGE', b'Hello, t%d-%d!\n' % (n, j)):
                        errors.append(got)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors


def test_malformed_request_closes_only_that_connection(hello):
    other = connect(hello.address)
    try:
        with connect(hello.address) as s:
            # BEGIN 3, then PATH (6), a packet only responses carry
            s.sendall(b'\x01\x00\x01\x00\x03\x02\x00\x06\x00/x'
                      b'\x00\x00\x02\x00')
            assert s.recv(100) == b''
        assert hello.wait_for_log(
            'bad request: response-only packet PATH in request; closing')
        # garbage that does not start with BEGIN
        with connect(hello.address) as s:
            s.sendall(b'\x03\x00\x04\x00abc')
            assert s.recv(100) == b''
        assert hello.wait_for_log(
            'bad request: request does not start with BEGIN (got URI)')
        # a request cut off by the client
        with connect(hello.address) as s:
            s.sendall(REQ_ROOT[:9])
        assert hello.wait_for_log('connection closed inside a request '
                                  '(9 bytes received)')
        # the connection opened before is still served
        other.sendall(REQ_ROOT)
        assert recv_response(other) == RESP_ROOT
    finally:
        other.close()
    # one line per bad connection, each naming it
    lines = [l for l in hello.stderr().splitlines()
             if l.startswith('translation connection ')]
    assert len(lines) == 3, lines


def test_installed_sdk_builds_hello(build_dir, tmp_path):
    """meson install into a DESTDIR, then compile hello.c with nothing but
    pkg-config's flags, and run it."""
    for tool in ('meson', 'pkg-config', 'cc'):
        if shutil.which(tool) is None:
            pytest.skip('%s not installed' % tool)
    if sanitized(build_dir):
        pytest.skip('sanitizer build: an uninstrumented program cannot '
                    'load the library')
    dest = tmp_path / 'dest'
    subprocess.run(['meson', 'install', '-C', build_dir, '--no-rebuild',
                    '--quiet', '--destdir', str(dest)], check=True,
                   stdout=subprocess.DEVNULL, timeout=120)
    pcs = glob.glob(str(dest / '**' / 'libportier-translator.pc'),
                    recursive=True)
    assert len(pcs) == 1, pcs
    headers = glob.glob(str(dest / '**' / 'portier' / '*.h'), recursive=True)
    assert sorted(os.path.basename(h) for h in headers) == [
        'pr_bytes.h', 'pr_frame.h', 'tp_command.h', 'tp_reader.h',
        'tp_request.h', 'tp_response.h', 'tr_response.h', 'tr_server.h']
    env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]),
               PKG_CONFIG_SYSROOT_DIR=str(dest))
    flags = subprocess.run(['pkg-config', '--cflags', '--libs',
                            'libportier-translator'], env=env, check=True,
                           capture_output=True, text=True,
                           timeout=30).stdout.split()
    libdir = [f[2:] for f in flags if f.startswith('-L')]
    assert libdir
    exe = str(tmp_path / 'hello')
    subprocess.run(['cc', '-std=c17', '-Wall', '-Werror', '-o', exe,
                    os.path.join(ROOT, 'examples', 'translators', 'hello.c')]
                   + flags + ['-Wl,-rpath,' + libdir[0]], check=True,
                   timeout=120)
    address = '@portier-test-hello-installed-%d' % os.getpid()
    srv = Server([exe], address)
    try:
        with connect(address) as s:
            s.sendall(REQ_ROOT)
            assert recv_response(s) == RESP_ROOT
    finally:
        assert srv.stop() == 0, srv.stderr()


def test_docs_examples_compile(build_dir, tmp_path):
    """Every C block of docs/translator-sdk.md compiles and links against
    the built library, warnings as errors."""
    if shutil.which('cc') is None:
        pytest.skip('cc not installed')
    with open(os.path.join(ROOT, 'docs', 'translator-sdk.md')) as f:
        blocks = re.findall(r'^```c\n(.*?)^```', f.read(), re.S | re.M)
    assert len(blocks) >= 2
    libdir = os.path.join(build_dir, 'translator')
    for i, code in enumerate(blocks):
        src = tmp_path / ('doc%d.c' % i)
        src.write_text(code)
        subprocess.run(['cc', '-std=c17', '-D_GNU_SOURCE', '-Wall', '-Wextra',
                        '-Werror', '-o', str(tmp_path / ('doc%d' % i)),
                        str(src),
                        '-I' + os.path.join(ROOT, 'translator'),
                        '-I' + os.path.join(ROOT, 'protocol'),
                        '-L' + libdir, '-Wl,-rpath,' + libdir,
                        '-lportier-translator', '-luv'],
                       check=True, timeout=120)
