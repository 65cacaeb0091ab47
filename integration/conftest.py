"""Shared fixtures for the integration suites.

Every server a test starts listens on loopback on a free port, is stopped
by the PID the test got when it started it, and is bounded in time.  The
build directory comes from $PORTIER_BUILD (set by tests/run_all.py)."""
import http.client
import os
import signal
import socket
import subprocess
import time

import pytest

import nfs_server
from dphelp import make_docroot, started
from httpbackend import Backend
from tplib import ScriptedTranslationServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='session')
def build_dir():
    return os.environ.get('PORTIER_BUILD', os.path.join(ROOT, 'build'))


@pytest.fixture
def ctl(build_dir):
    """The path of the built portierctl (the test is skipped without it)."""
    path = os.path.join(build_dir, 'ctl', 'portierctl')
    if not os.access(path, os.X_OK):
        pytest.skip('portierctl is not built')
    return path


@pytest.fixture
def docroot(tmp_path):
    """dphelp.make_docroot: index.html and a.txt below tmp_path/www."""
    return make_docroot(tmp_path)


@pytest.fixture
def servers():
    """Start scripted translation servers: servers(handler, address=None);
    all are stopped at the end of the test."""
    def start(handler, address=None):
        srv = ScriptedTranslationServer(handler, address)
        srv.start()
        return srv

    yield from started(start, ScriptedTranslationServer.stop)


@pytest.fixture
def backend():
    """The Python HTTP backend of httpbackend.py, stopped at the end."""
    b = Backend()
    yield b
    b.stop()


@pytest.fixture(scope='module')
def rpcbind(tmp_path_factory):
    """The portmapper the NFS suites' ganesha needs (nfs_server.Rpcbind);
    the test is skipped when it cannot run here."""
    r = nfs_server.Rpcbind(str(tmp_path_factory.mktemp('rpcbind')))
    try:
        r.start()
    except RuntimeError as e:
        pytest.skip('rpcbind cannot run here: %s' % e)
    yield r
    r.stop()


def free_port(host='127.0.0.1'):
    """A TCP port nobody listens on right now (bind to port 0, release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Portierd:
    """A running portierd, started by a test and stopped by its PID."""

    def __init__(self, binary, args, port, log_path):
        self.port = port
        self.url = 'http://127.0.0.1:%d' % port
        self.log_path = log_path
        self._log = open(log_path, 'wb')
        self.proc = subprocess.Popen([binary] + args, stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.close()
                raise RuntimeError('portierd exited with %d:\n%s' % (
                    self.proc.returncode, self.log()))
            try:
                socket.create_connection(('127.0.0.1', port), 0.2).close()
                # every listener is bound once it says so
                if 'portierd: ready' in self.log():
                    return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError('portierd did not listen on %d' % port)

    def log(self):
        with open(self.log_path, 'rb') as f:
            return f.read().decode(errors='replace')

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def request(self, method, path, headers=None, body=None):
        """One request on a fresh connection; (status, headers, body)."""
        conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, r, r.read()
        finally:
            conn.close()

    def raw(self, data, timeout=5):
        """Send raw bytes, read until the server closes (or timeout)."""
        with socket.create_connection(('127.0.0.1', self.port),
                                      timeout) as s:
            s.sendall(data)
            out = b''
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    out += chunk
            except socket.timeout:
                pass
            return out


@pytest.fixture
def portierd_factory(build_dir, tmp_path):
    """Start portierd instances: factory(translation_addresses, *extra).

    portierd's default is one worker per core; the tests that count
    requests at the translation server or read one process's counters
    need a single process, so the factory asks for `workers` (1) unless
    `extra` says --workers itself."""
    binary = os.path.join(build_dir, 'dataplane', 'portierd')
    if not os.path.exists(binary):
        pytest.skip('portierd not built')
    started = []

    def start(translation=(), extra=(), config=None, workers=1):
        # free_port() releases the port before portierd binds it: in
        # between, another process (a concurrent test run, or a connect()
        # taking it as its local port) may have it.  Only that failure,
        # portierd's bind of this very port, is tried again with another.
        for attempt in range(5):
            port = free_port()
            try:
                p = start_on(port, translation, extra, config, workers)
            except RuntimeError as e:
                taken = 'bind 127.0.0.1:%d: Address already in use' % port
                if taken in str(e) and attempt < 4:
                    continue
                raise
            started.append(p)
            return p

    def start_on(port, translation, extra, config, workers):
        args = ['--listen', '127.0.0.1:%d' % port]
        if '--workers' not in extra:
            args += ['--workers', str(workers)]
        for t in translation:
            args += ['--translation-socket', t]
        if config is not None:
            path = tmp_path / ('portierd-%d.conf' % port)
            path.write_text(config)
            args += ['--config', str(path)]
        args += list(extra)
        return Portierd(binary, args, port,
                        str(tmp_path / ('portierd-%d.log' % port)))

    yield start
    for p in started:
        p.stop()
