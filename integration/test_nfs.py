"""nfs/pnfs_client against a real NFSv3 server (nfs-ganesha on loopback).

tests/nfs/pnfs_probe runs one pnfs client on a libuv loop and takes
commands on stdin (see its header); these tests compare what it reads
with the files on disk (CRC-32), check error mapping, bounded memory,
cancellation, idling, and recovery when the server stops, hangs and
comes back."""
import os
import select
import subprocess
import sys
import time
import zlib

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nfs_server  # noqa: E402

REASON = nfs_server.why_unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or '')

BIG_SIZE = nfs_server.BIG_SIZE


def crc_file(path):
    crc = 0
    with open(path, 'rb') as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                return '%08x' % crc
            crc = zlib.crc32(block, crc)


def start_or_skip(g):
    """Start ganesha; when it cannot run on this machine although it is
    installed, skip with what it said (the first start only: a restart
    inside a test must work)."""
    try:
        g.start()
    except RuntimeError as e:
        pytest.skip('nfs-ganesha could not start here: %s' % e)


class Probe:
    """One pnfs_probe process: one client for its whole life."""

    def __init__(self, build_dir, server, *options):
        exe = os.path.join(build_dir, 'tests', 'nfs', 'pnfs_probe')
        if not os.path.exists(exe):
            pytest.skip('%s is not built (libnfs missing at setup?)' % exe)
        self.proc = subprocess.Popen(
            [exe, '--nfs-port', str(server.nfs_port),
             '--mount-port', str(server.mount_port), *options,
             '127.0.0.1', server.export_path],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=self._env())
        self.fd = self.proc.stdout.fileno()
        self.buf = b''

    @staticmethod
    def _env():
        # Under AddressSanitizer freed memory waits in a quarantine of up
        # to 256 MiB, which would hide what the read-ahead bound promises;
        # keep it small so the RSS check means the same in both builds.
        env = dict(os.environ)
        opts = env.get('ASAN_OPTIONS', '')
        env['ASAN_OPTIONS'] = (opts + ':' if opts else '') + \
            'quarantine_size_mb=4'
        return env

    def send(self, line):
        self.proc.stdin.write(line + '\n')
        self.proc.stdin.flush()

    def line(self, timeout=30):
        """The next output line (the probe is bounded by its own
        timeouts; this only guards against a hang)."""
        deadline = time.monotonic() + timeout
        while b'\n' not in self.buf:
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.fd], [], [], max(left, 0))
            assert r, 'pnfs_probe printed nothing within %d s' % timeout
            chunk = os.read(self.fd, 65536)
            assert chunk, 'pnfs_probe exited (%s)' % self.proc.poll()
            self.buf += chunk
        out, self.buf = self.buf.split(b'\n', 1)
        return out.decode()

    def result(self, timeout=30):
        while True:
            out = self.line(timeout)
            if out.startswith('ok') or out.startswith('error'):
                return out

    def cmd(self, line, timeout=30):
        self.send(line)
        return self.result(timeout)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                assert self.proc.wait(timeout=10) == 0
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise


def fields(result):
    return dict(f.split('=', 1) for f in result.split()[1:] if '=' in f)


def ganesha(tmp_path_factory, name):
    """A started ganesha serving a new export with odd.bin besides the
    files of nfs_server.make_export()."""
    root = str(tmp_path_factory.mktemp(name))
    export = nfs_server.make_export(
        root, [('odd.bin', os.urandom(3 * 65536 + 12345))])
    run = os.path.join(root, 'run')
    os.makedirs(run)
    g = nfs_server.Ganesha(run, export)
    start_or_skip(g)
    return g


@pytest.fixture(scope='module')
def server(rpcbind, tmp_path_factory):
    g = ganesha(tmp_path_factory, 'nfs')
    yield g
    g.stop()


@pytest.fixture
def probe(server, build_dir):
    p = Probe(build_dir, server, '--timeout', '5000')
    yield p
    p.close()


def test_stat_attributes(probe, server):
    path = os.path.join(server.export_path, 'odd.bin')
    st = os.stat(path)
    r = probe.cmd('stat /odd.bin')
    assert r.startswith('ok '), r
    f = fields(r)
    assert int(f['size']) == st.st_size
    assert int(f['ino']) == st.st_ino
    assert int(f['mtime']) == int(st.st_mtime)
    assert int(f['mode'], 8) == st.st_mode


@pytest.mark.parametrize('name', ['small.txt', 'empty', 'sub/one-mib.bin',
                                  'odd.bin'])
def test_read_contents(probe, server, name):
    local = os.path.join(server.export_path, name)
    r = probe.cmd('read /' + name)
    assert r.startswith('ok '), r
    f = fields(r)
    assert int(f['bytes']) == os.path.getsize(local)
    assert f['crc32'] == crc_file(local)


def test_read_small_buffers(probe, server):
    """A consumer that takes 1000 bytes at a time gets the same bytes."""
    local = os.path.join(server.export_path, 'odd.bin')
    r = probe.cmd('read /odd.bin 0 1000')
    assert r.startswith('ok '), r
    assert fields(r)['crc32'] == crc_file(local)


def test_random_access_ranges(probe, server):
    """Ranges in any order on one open file: forwards, backwards, inside
    the read-ahead window, across chunk boundaries, past the end."""
    for name, ranges in (
            ('odd.bin', [(0, 10), (65530, 20), (5, 100000), (196600, 99999),
                         (3 * 65536 + 12345, 10), (100, 0), (7, 1)]),
            ('huge.bin', [(BIG_SIZE - 100, 500), (4000, 70000),
                          (BIG_SIZE // 2, 1 << 20), (0, 4096)])):
        local = os.path.join(server.export_path, name)
        size = os.path.getsize(local)
        want = []
        with open(local, 'rb') as f:
            for off, length in ranges:
                f.seek(off)
                data = f.read(length) if off < size else b''
                want.append('%d:%08x' % (len(data), zlib.crc32(data)))
        spec = ' '.join('%d:%d' % r for r in ranges)
        r = probe.cmd('ranges /%s %s' % (name, spec))
        assert r == 'ok ranges=' + ','.join(want), r


def test_changed_file_seen(probe, server):
    """No stale attributes: a file rewritten on the server shows its new
    size and contents at once (no cache in pnfs_client itself)."""
    local = os.path.join(server.export_path, 'changing.txt')
    with open(local, 'wb') as f:
        f.write(b'short\n')
    r = probe.cmd('read /changing.txt')
    assert fields(r)['bytes'] == '6', r
    with open(local, 'wb') as f:
        f.write(b'a longer second version\n')
    r = probe.cmd('read /changing.txt')
    assert r.startswith('ok '), r
    assert fields(r)['bytes'] == '24', r
    assert fields(r)['crc32'] == '%08x' % zlib.crc32(
        b'a longer second version\n')
    os.unlink(local)
    r = probe.cmd('stat /changing.txt')
    assert r.startswith('error ENOENT'), r


def test_huge_file_bounded_memory(probe, server):
    local = os.path.join(server.export_path, 'huge.bin')
    r = probe.cmd('read /huge.bin', timeout=120)
    assert r.startswith('ok '), r
    f = fields(r)
    assert int(f['bytes']) == BIG_SIZE
    assert f['crc32'] == crc_file(local)
    # Read-ahead is 256 KiB per file: the probe's own peak stays far
    # below the file's size (about 3 MiB, also under load).  It is VmHWM,
    # not ru_maxrss: Linux carries that across exec, so it reported the
    # peak of the pytest process that started the probe (34 MiB alone,
    # up to 185 MiB after other tests).
    assert 0 < int(f['peak_rss_kb']) < 16 * 1024, r


def test_huge_file_rss_measure_sees_read_ahead(server, build_dir):
    """The bound above can fail: with 32 MiB of read-ahead the probe's
    peak shows it, so a broken read-ahead bound would be seen."""
    p = Probe(build_dir, server, '--read-ahead', str(32 << 20))
    try:
        r = p.cmd('read /huge.bin', timeout=120)
        assert r.startswith('ok '), r
        f = fields(r)
        assert int(f['bytes']) == BIG_SIZE
        assert int(f['peak_rss_kb']) > 32 * 1024, r
    finally:
        p.close()


def test_errors_are_mapped_and_named(probe, server):
    where = 'on NFS server 127.0.0.1 export %s' % server.export_path
    r = probe.cmd('read /no-such-file')
    assert r.startswith('error ENOENT open /no-such-file ' + where), r
    r = probe.cmd('stat /no/such/dir')
    assert r.startswith('error ENOENT stat /no/such/dir ' + where), r
    r = probe.cmd('read /sub')
    assert r.startswith('error EISDIR open /sub ' + where), r
    r = probe.cmd('read /small.txt/x')
    assert r.startswith('error ENOTDIR open /small.txt/x ' + where), r


def test_permission_denied(server, build_dir):
    """AUTH_SYS as nobody: a root-only file is refused with EACCES."""
    p = Probe(build_dir, server, '--uid', '65534', '--gid', '65534')
    try:
        r = p.cmd('read /secret.txt')
        assert r.startswith('error EACCES open /secret.txt on NFS server '
                            '127.0.0.1 export ' + server.export_path), r
        r = p.cmd('read /small.txt')
        assert r.startswith('ok '), r
    finally:
        p.close()


def test_cancel(probe):
    assert probe.cmd('cancel-open /small.txt') == 'ok'
    assert probe.cmd('cancel-read /sub/one-mib.bin') == 'ok'
    # The client still works after cancelled operations.
    assert probe.cmd('read /small.txt').startswith('ok ')


def test_many_concurrent_reads(probe, server):
    names = ['/small.txt', '/sub/one-mib.bin', '/odd.bin', '/empty']
    crcs = {n: crc_file(server.export_path + n) for n in names}
    r = probe.cmd('parallel 64 ' + ' '.join(names), timeout=60)
    assert r == 'ok n=64', r
    for _ in range(64):
        out = probe.line()
        name, rest = out.split(' ', 1)
        assert not rest.startswith('error'), out
        assert fields('x ' + rest)['crc32'] == crcs[name], out


def test_idle_unmount(server, build_dir):
    p = Probe(build_dir, server, '--idle', '300')
    try:
        assert p.cmd('mounted') == 'ok mounted=0'
        assert p.cmd('read /small.txt').startswith('ok ')
        assert p.cmd('mounted') == 'ok mounted=1'
        assert p.cmd('sleep 700') == 'ok'
        assert p.cmd('mounted') == 'ok mounted=0'
        assert p.cmd('read /small.txt').startswith('ok ')
    finally:
        p.close()


@pytest.fixture
def own_server(rpcbind, tmp_path_factory):
    """A server of its own, for tests that stop it."""
    g = ganesha(tmp_path_factory, 'nfs-restart')
    yield g
    g.stop(hard=True)


def test_server_stopped_and_restarted(own_server, build_dir):
    g = own_server
    p = Probe(build_dir, g, '--timeout', '3000')
    where = 'on NFS server 127.0.0.1 export ' + g.export_path
    try:
        assert p.cmd('read /small.txt').startswith('ok ')
        # A slow reader of a large file when the server goes away.
        p.send('read /huge.bin 20')
        assert p.line() == 'started'
        t0 = time.monotonic()
        g.stop()
        r = p.result()
        assert time.monotonic() - t0 < 3 + 5, 'no clean error in time'
        assert r.startswith('error '), r
        assert 'read /huge.bin ' + where in r, r
        # While it is down: a quick, clear failure, no hang.
        t0 = time.monotonic()
        r = p.cmd('read /small.txt')
        assert r.startswith('error ECONNREFUSED open /small.txt ' + where), r
        assert time.monotonic() - t0 < 3
        # Back again: the next request mounts anew and works.
        g.start()
        r = p.cmd('read /sub/one-mib.bin')
        assert r.startswith('ok '), r
        assert fields(r)['crc32'] == crc_file(g.export_path +
                                              '/sub/one-mib.bin')
        assert p.cmd('mounted') == 'ok mounted=1'
    finally:
        p.close()


def test_server_not_answering_times_out(own_server, build_dir):
    g = own_server
    p = Probe(build_dir, g, '--timeout', '1500')
    where = 'on NFS server 127.0.0.1 export ' + g.export_path
    try:
        assert p.cmd('read /small.txt').startswith('ok ')
        g.pause()
        try:
            t0 = time.monotonic()
            r = p.cmd('read /odd.bin')
            elapsed = time.monotonic() - t0
            # The open normally times out; if the server still answered it
            # while being stopped, the first read does.
            assert (r.startswith('error ETIMEDOUT open /odd.bin ' + where) or
                    r.startswith('error ETIMEDOUT read /odd.bin ' + where)), r
            assert 1.2 < elapsed < 4, elapsed
            # A fresh mount against the frozen server times out too.
            r = p.cmd('stat /small.txt')
            assert r.startswith('error ETIMEDOUT stat /small.txt ' + where), r
        finally:
            g.resume()
        # Frozen in the middle of a read, with read-ahead in flight.
        p.send('read /huge.bin 20')
        assert p.line() == 'started'
        g.pause()
        try:
            t0 = time.monotonic()
            r = p.result()
            assert r.startswith('error ETIMEDOUT read /huge.bin ' + where), r
            assert time.monotonic() - t0 < 4
        finally:
            g.resume()
        r = p.cmd('read /odd.bin')
        assert r.startswith('ok '), r
        assert fields(r)['crc32'] == crc_file(g.export_path + '/odd.bin')
    finally:
        p.close()
