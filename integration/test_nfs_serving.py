"""portierd serving NFS_SERVER + NFS_EXPORT + PATH from a real NFSv3
server (nfs-ganesha on loopback, integration/nfs_server.py), with a
scripted translation server: contents and headers, conditional requests
and ranges, the 200 MiB file in bounded memory, 404/403, the server
stopped and restarted, concurrency, FLUSH_NFS_CACHE through portierctl.

The export squashes every client to uid/gid 65534 ("uid in the export"),
so the root-only file is refused by the server itself.  portierd talks to
ganesha's fixed ports (settings nfs_port, nfs_mount_port) because several
ganesha instances on one machine overwrite each other at the
portmapper."""
import concurrent.futures
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import uuid

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nfs_server  # noqa: E402
from dphelp import wait_log  # noqa: E402
from proclib import status_kib  # noqa: E402
from tplib import ScriptedTranslationServer, packet  # noqa: E402

REASON = nfs_server.why_unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=REASON or '')

BIG_SIZE = nfs_server.BIG_SIZE
TIMEOUT_S = 2


class SquashingGanesha(nfs_server.Ganesha):
    """Every client is uid/gid 65534 on this export."""

    def _write_config(self, anon_uid):
        super()._write_config(anon_uid)
        with open(self.conf) as f:
            conf = f.read()
        conf = conf.replace('Squash = None;',
                            'Squash = All_Squash; Anonymous_Gid = 65534;')
        with open(self.conf, 'w') as f:
            f.write(conf)


def start_ganesha(rpcbind, tmp_path_factory, name):
    root = str(tmp_path_factory.mktemp(name))
    export = nfs_server.make_export(root,
                                    [('digits', b'0123456789' * 10)])
    run = os.path.join(root, 'run')
    os.makedirs(run)
    g = SquashingGanesha(run, export)
    try:
        start_retrying(g)
    except RuntimeError as e:
        pytest.skip('nfs-ganesha could not start here: %s' % e)
    return g


def start_retrying(g, attempts=3):
    """Start ganesha; again when it exits at once because registering
    with the shared portmapper failed (several ganesha instances on the
    machine, ours and other test runs', unset and set the same programs
    there).  The shared 2 cores can make a start slow."""
    for i in range(attempts):
        try:
            g.start(timeout=30)
            return
        except RuntimeError as e:
            if 'Cannot register' not in str(e) or i == attempts - 1:
                raise
            time.sleep(0.5)


@pytest.fixture(scope='module')
def server(rpcbind, tmp_path_factory):
    g = start_ganesha(rpcbind, tmp_path_factory, 'nfs-serve')
    yield g
    g.stop()


def nfs_answer(g, *extra):
    """A whole site on the export: one translation per BASE."""
    return [packet('BASE', '/'), packet('EASY_BASE'),
            packet('NFS_SERVER', '127.0.0.1'),
            packet('NFS_EXPORT', g.export_path),
            packet('PATH', '/'), *extra]


def config(g, cache='64 MB', control=None):
    text = ('set nfs_port = "%d"\nset nfs_mount_port = "%d"\n'
            'set nfs_timeout = "%d s"\nset nfs_cache_size = "%s"\n'
            % (g.nfs_port, g.mount_port, TIMEOUT_S, cache))
    if control is not None:
        text += 'control {\n  bind "%s"\n}\n' % control
    return text


@pytest.fixture
def site(portierd_factory, server):
    srv = ScriptedTranslationServer(lambda req: nfs_answer(server))
    srv.start()
    started = []

    def start(cache='64 MB', control=None, workers=1):
        d = portierd_factory([srv.address],
                             config=config(server, cache, control),
                             workers=workers)
        started.append(d)
        return d

    yield start
    srv.stop()


def on_disk(g, name):
    with open(os.path.join(g.export_path, name.lstrip('/')), 'rb') as f:
        return f.read()


@pytest.mark.parametrize('cache', ['64 MB', '0'])
@pytest.mark.parametrize('name', ['/small.txt', '/sub/one-mib.bin',
                                  '/empty'])
def test_contents_and_headers(site, server, cache, name):
    d = site(cache)
    want = on_disk(server, name)
    st = os.stat(server.export_path + name)
    for _ in range(2):      # the second from the cache when it is on
        status, r, body = d.request('GET', name)
        assert status == 200, d.log()
        assert body == want
        assert r.getheader('Content-Length') == str(len(want))
        assert r.getheader('Accept-Ranges') == 'bytes'
        assert r.getheader('Content-Type') == 'application/octet-stream'
        etag = r.getheader('ETag')
        assert etag.startswith('"') and etag.endswith('"')
        # ino and size as dp_file_meta formats them (fsid differs)
        fields = etag.strip('"').split('-')
        assert fields[1] == '%x' % st.st_ino
        assert fields[2] == '%x' % st.st_size
        assert r.getheader('Last-Modified') == time.strftime(
            '%a, %d %b %Y %H:%M:%S GMT', time.gmtime(int(st.st_mtime)))
    status, r, body = d.request('HEAD', name)
    assert status == 200 and body == b''
    assert r.getheader('Content-Length') == str(len(want))
    assert r.getheader('ETag') == etag


def test_content_type_from_translation(portierd_factory, server):
    srv = ScriptedTranslationServer(lambda req: nfs_answer(
        server, packet('CONTENT_TYPE', 'text/plain; charset=utf-8')))
    srv.start()
    try:
        d = portierd_factory([srv.address], config=config(server))
        status, r, body = d.request('GET', '/small.txt')
        assert status == 200
        assert r.getheader('Content-Type') == 'text/plain; charset=utf-8'
    finally:
        srv.stop()


@pytest.mark.parametrize('cache', ['64 MB', '0'])
def test_conditional_and_range(site, server, cache):
    d = site(cache)
    status, r, body = d.request('GET', '/digits')
    assert status == 200
    etag, lm = r.getheader('ETag'), r.getheader('Last-Modified')
    status, r, body = d.request('GET', '/digits', {'If-None-Match': etag})
    assert status == 304 and body == b''
    assert r.getheader('ETag') == etag
    status, r, body = d.request('GET', '/digits',
                                {'If-Modified-Since': lm})
    assert status == 304
    status, r, body = d.request('GET', '/digits', {'If-Match': '"other"'})
    assert status == 412
    status, r, body = d.request('GET', '/digits', {'Range': 'bytes=5-14'})
    assert status == 206
    assert body == b'5678901234'
    assert r.getheader('Content-Range') == 'bytes 5-14/100'
    status, r, body = d.request('GET', '/digits', {'Range': 'bytes=-3'})
    assert status == 206 and body == b'789'
    status, r, body = d.request('GET', '/digits', {'Range': 'bytes=200-'})
    assert status == 416
    assert r.getheader('Content-Range') == 'bytes */100'
    # A range deep inside the large file, streamed from NFS.
    status, r, body = d.request('GET', '/huge.bin',
                                {'Range': 'bytes=%d-%d' % (
                                    BIG_SIZE // 8 + 4000,
                                    BIG_SIZE // 8 + 4000 + 99999)})
    assert status == 206 and len(body) == 100000
    with open(os.path.join(server.export_path, 'huge.bin'), 'rb') as f:
        f.seek(BIG_SIZE // 8 + 4000)
        assert body == f.read(100000)
    # Several ranges: multipart/byteranges, for a small file (from
    # memory) and for parts of the large one (streamed one by one).
    status, r, body = d.request('GET', '/digits',
                                {'Range': 'bytes=0-1,90-95'})
    assert status == 206
    ctype = r.getheader('Content-Type')
    assert ctype.startswith('multipart/byteranges; boundary=')
    boundary = ctype.split('boundary=')[1].encode()
    assert body.count(b'--' + boundary) == 3
    assert b'Content-Range: bytes 0-1/100\r\n\r\n01\r\n' in body
    assert b'Content-Range: bytes 90-95/100\r\n\r\n012345\r\n' in body
    assert int(r.getheader('Content-Length')) == len(body)
    a, b = BIG_SIZE // 8 + 4000, BIG_SIZE // 2 + 4000
    status, r, body = d.request('GET', '/huge.bin', {
        'Range': 'bytes=%d-%d,%d-%d' % (a, a + 299999, b, b + 199999)})
    assert status == 206
    assert int(r.getheader('Content-Length')) == len(body)
    with open(os.path.join(server.export_path, 'huge.bin'), 'rb') as f:
        f.seek(a)
        part1 = f.read(300000)
        f.seek(b)
        part2 = f.read(200000)
    i = body.index(b'\r\n\r\n') + 4
    assert body[i:i + 300000] == part1
    j = body.index(b'\r\n\r\n', i + 300000) + 4
    assert body[j:j + 200000] == part2
    status, r, body = d.request('POST', '/digits')
    assert status == 405
    assert r.getheader('Allow') == 'GET, HEAD'


def test_huge_file_streamed_in_bounded_memory(site, server, monkeypatch):
    # Under ASan, freed blocks wait in a quarantine (256 MiB by default)
    # before their memory is reused; keep it small so that the bound below
    # measures portierd, not the sanitizer.  Other builds ignore it.
    monkeypatch.setenv('ASAN_OPTIONS', os.environ.get('ASAN_OPTIONS', '') +
                       ':quarantine_size_mb=4')
    d = site()
    before = status_kib(d.proc.pid, 'VmRSS')
    conn = http.client.HTTPConnection('127.0.0.1', d.port, timeout=30)
    try:
        conn.request('GET', '/huge.bin')
        r = conn.getresponse()
        assert r.status == 200
        assert r.getheader('Content-Length') == str(BIG_SIZE)
        total = 0
        peak = before
        with open(server.export_path + '/huge.bin', 'rb') as f:
            while True:
                block = r.read(1 << 20)
                if not block:
                    break
                assert block == f.read(len(block)), 'at %d' % total
                total += len(block)
                if total % (16 << 20) < (1 << 20):
                    peak = max(peak, status_kib(d.proc.pid, 'VmRSS'))
        assert total == BIG_SIZE
    finally:
        conn.close()
    hwm = status_kib(d.proc.pid, 'VmHWM')
    # portierd's whole peak stays far below the file: read-ahead and the
    # output buffer are bounded.
    assert hwm < 40 * 1024, (before, peak, hwm)


def test_slow_client_holds_back_reading(site):
    d = site()
    conn = http.client.HTTPConnection('127.0.0.1', d.port, timeout=30)
    try:
        conn.request('GET', '/huge.bin')
        r = conn.getresponse()
        assert r.status == 200
        r.read(1 << 20)
        time.sleep(1.0)     # the client stops reading
        hwm = status_kib(d.proc.pid, 'VmHWM')
        assert hwm < 40 * 1024, hwm
    finally:
        conn.close()
    # portierd is fine afterwards.
    assert d.request('GET', '/small.txt')[0] == 200


def failure_line(d, path, status):
    lines = wait_log(d, '"GET %s HTTP/1.1": %d: ' % (path, status))
    assert len(lines) == 1, lines
    return lines[0]


def test_missing_forbidden_directory(site, server):
    d = site()
    where = 'on NFS server 127.0.0.1 export ' + server.export_path
    status, r, body = d.request('GET', '/nope.txt')
    assert status == 404
    assert where in failure_line(d, '/nope.txt', 404)
    assert '/nope.txt' in failure_line(d, '/nope.txt', 404)
    status, r, body = d.request('GET', '/secret.txt')
    assert status == 403
    assert b'root only' not in body
    line = failure_line(d, '/secret.txt', 403)
    assert where in line and '/secret.txt' in line
    # A directory is never listed.
    status, r, body = d.request('GET', '/sub')
    assert status == 404
    assert b'one-mib' not in body
    status, r, body = d.request('GET', '/small.txt/x')
    assert status == 404


def test_many_concurrent_requests(site, server):
    d = site('0')
    names = ['/small.txt', '/sub/one-mib.bin', '/digits'] * 40
    want = {n: on_disk(server, n) for n in set(names)}

    def get(name):
        status, r, body = d.request('GET', name)
        return name, status, body

    with concurrent.futures.ThreadPoolExecutor(32) as ex:
        for name, status, body in ex.map(get, names):
            assert status == 200
            assert body == want[name], name


@pytest.fixture
def own_server(rpcbind, tmp_path_factory):
    g = start_ganesha(rpcbind, tmp_path_factory, 'nfs-serve-restart')
    yield g
    g.stop(hard=True)


def test_server_stopped_and_restarted(portierd_factory, own_server):
    g = own_server
    srv = ScriptedTranslationServer(lambda req: nfs_answer(g))
    srv.start()
    try:
        d = portierd_factory([srv.address], config=config(g, cache='0'))
        assert d.request('GET', '/small.txt')[0] == 200
        # A large response in flight when the server goes away: cut off
        # (the head was sent), within the bound.
        conn = http.client.HTTPConnection('127.0.0.1', d.port, timeout=20)
        conn.request('GET', '/huge.bin')
        r = conn.getresponse()
        assert r.status == 200
        total = len(r.read(1 << 20))
        t0 = time.monotonic()
        g.stop()
        try:
            while True:
                block = r.read(1 << 20)
                if not block:
                    break
                total += len(block)
        except (http.client.IncompleteRead, ConnectionError):
            pass
        assert total < BIG_SIZE
        assert time.monotonic() - t0 < TIMEOUT_S + 10
        conn.close()
        wait_log(d, 'response body failed after')
        # While it is down: a quick 502 naming server, export and path.
        t0 = time.monotonic()
        status, r, body = d.request('GET', '/digits')
        assert status in (502, 504), status
        assert time.monotonic() - t0 < TIMEOUT_S + 2
        line = failure_line(d, '/digits', status)
        assert ('/digits on NFS server 127.0.0.1 export ' +
                g.export_path) in line
        # Back again: the next request mounts anew.
        start_retrying(g)
        status, r, body = d.request('GET', '/sub/one-mib.bin')
        assert status == 200, d.log()
        assert body == on_disk(g, '/sub/one-mib.bin')
    finally:
        srv.stop()


def wait_stopped(pid, timeout=5):
    """SIGSTOP takes effect when each thread is next scheduled: wait until
    every thread of pid is stopped (state T)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = []
        for tid in os.listdir('/proc/%d/task' % pid):
            try:
                with open('/proc/%d/task/%s/stat' % (pid, tid)) as f:
                    stat = f.read()
            except OSError:
                continue
            states.append(stat[stat.rindex(')') + 2])
        if states and all(st in 'Tt' for st in states):
            return
        time.sleep(0.01)
    raise AssertionError('ganesha (%d) did not stop' % pid)


def test_server_not_answering_gives_504(portierd_factory, own_server):
    g = own_server
    srv = ScriptedTranslationServer(lambda req: nfs_answer(g))
    srv.start()
    try:
        d = portierd_factory([srv.address], config=config(g, cache='0'))
        assert d.request('GET', '/small.txt')[0] == 200
        g.pause()
        wait_stopped(g.proc.pid)
        try:
            # A client that gives up while the open waits: the operation
            # is cancelled with the request.
            with socket.create_connection(('127.0.0.1', d.port)) as s:
                s.sendall(b'GET /sub/one-mib.bin HTTP/1.1\r\n'
                          b'Host: x\r\n\r\n')
                time.sleep(0.2)
            t0 = time.monotonic()
            status, r, body = d.request('GET', '/digits')
            elapsed = time.monotonic() - t0
            assert status == 504, status
            assert elapsed < TIMEOUT_S + 2, elapsed
            line = failure_line(d, '/digits', 504)
            assert 'export ' + g.export_path in line
        finally:
            g.resume()
        status, r, body = d.request('GET', '/digits')
        assert status == 200
    finally:
        srv.stop()


def test_flush_nfs_cache(site, server, build_dir):
    ctl = os.path.join(build_dir, 'ctl', 'portierctl')
    if not os.access(ctl, os.X_OK):
        pytest.skip('portierctl is not built')
    sock = '@portier-test-nfs-ctl-%d-%s' % (os.getpid(),
                                             uuid.uuid4().hex[:8])
    d = site(control=sock)
    path = os.path.join(server.export_path, 'flush.txt')
    with open(path, 'wb') as f:
        f.write(b'version 1\n')
    try:
        assert d.request('GET', '/flush.txt')[2] == b'version 1\n'
        assert d.request('GET', '/flush.txt')[2] == b'version 1\n'
        p = subprocess.run([ctl, '--server', sock, 'stats', '--json'],
                           capture_output=True, text=True, timeout=20)
        assert p.returncode == 0, p.stderr
        nc = json.loads(p.stdout)['nfs_cache']
        assert nc['entries'] == 1 and nc['hits'] >= 1, nc
        p = subprocess.run([ctl, '--server', sock, 'flush-nfs-cache'],
                           capture_output=True, text=True, timeout=20)
        assert p.returncode == 0, p.stderr
        line = wait_log(d, 'FLUSH_NFS_CACHE from')[0]
        assert 'NFS cache flushed (1 entries dropped)' in line
        # Empty now: a second flush drops nothing.
        subprocess.run([ctl, '--server', sock, 'flush-nfs-cache'],
                       check=True, timeout=20)
        lines = wait_log(d, 'FLUSH_NFS_CACHE from', count=2)
        assert '(0 entries dropped)' in lines[1]
        with open(path, 'wb') as f:
            f.write(b'version 2\n')
        assert d.request('GET', '/flush.txt')[2] == b'version 2\n'
    finally:
        os.unlink(path)


def test_portier_translate_nfs_origin(portierd_factory, server, build_dir,
                                      tmp_path):
    """portier-translate's nfs://server/export and nfs://server/export//sub
    origins, end to end through portierd to ganesha."""
    binary = os.path.join(build_dir, 'translator', 'portier-translate')
    if not os.path.exists(binary):
        pytest.skip('portier-translate not built')
    site = {'vhosts': [{'name': 'default', 'mounts': [
        {'mountpoint': '/s',
         'origin': 'nfs://127.0.0.1%s//sub' % server.export_path,
         'extra-mimetypes': {'bin': 'application/x-test'}},
        {'mountpoint': '/whole',
         'origin': 'nfs://127.0.0.1%s' % server.export_path},
    ]}]}
    site_path = tmp_path / 'site.json'
    site_path.write_text(json.dumps(site))
    address = '@portier-test-nfs-pt-%d-%s' % (os.getpid(),
                                              uuid.uuid4().hex[:8])
    log = open(str(tmp_path / 'pt.log'), 'wb')
    pt = subprocess.Popen([binary, '--socket', address, str(site_path)],
                          stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        d = None
        while d is None:
            try:
                d = portierd_factory([address], config=config(server))
                if d.request('GET', '/s/one-mib.bin')[0] == 502 and \
                        time.monotonic() < deadline:
                    d = None    # portier-translate not listening yet
                    time.sleep(0.1)
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
        status, r, body = d.request('GET', '/s/one-mib.bin')
        assert status == 200
        assert body == on_disk(server, '/sub/one-mib.bin')
        assert r.getheader('Content-Type') == 'application/x-test'
        status, r, body = d.request('GET', '/whole/small.txt')
        assert status == 200 and body == b'Hello from NFS.\n', d.log()
        assert r.getheader('Content-Type') == 'text/plain'
        # A suffix the mount does not know is not served (site-file.md).
        assert d.request('GET', '/whole/sub/one-mib.bin')[0] == 404
        status, r, body = d.request('GET', '/s/one-mib.bin',
                                    {'Range': 'bytes=10-19'})
        assert status == 206
        assert body == on_disk(server, '/sub/one-mib.bin')[10:20]
        assert d.request('GET', '/whole/nope.txt')[0] == 404
        assert d.request('GET', '/s/small.txt')[0] == 404   # not in //sub
        assert d.request('GET', '/whole/sub/')[0] == 404    # no listing
    finally:
        pt.send_signal(15)
        pt.wait(timeout=10)
        log.close()


def test_cached_file_changed_on_server(site, server):
    """With the cache on, a changed file shows once the cached attributes
    (1 s) expire; an unchanged one keeps coming from the cache."""
    d = site()
    path = os.path.join(server.export_path, 'change.txt')
    with open(path, 'wb') as f:
        f.write(b'first\n')
    try:
        status, r, body = d.request('GET', '/change.txt')
        assert body == b'first\n'
        etag = r.getheader('ETag')
        time.sleep(1.2)     # attributes expire, contents stay valid
        status, r, body = d.request('GET', '/change.txt')
        assert body == b'first\n' and r.getheader('ETag') == etag
        with open(path, 'wb') as f:
            f.write(b'second\n')
        time.sleep(1.2)
        status, r, body = d.request('GET', '/change.txt')
        assert status == 200 and body == b'second\n'
        assert r.getheader('ETag') != etag
    finally:
        os.unlink(path)


def test_expand_path(portierd_factory, server):
    """REGEX + EXPAND_PATH on an NFS address: /files/NAME serves
    /sub/NAME, through the translation cache's expansion."""
    srv = ScriptedTranslationServer(lambda req: [
        packet('BASE', '/files/'), packet('REGEX', '^/files/(.+)$'),
        packet('NFS_SERVER', '127.0.0.1'),
        packet('NFS_EXPORT', server.export_path),
        packet('PATH', '/unused'), packet('EXPAND_PATH', '/sub/\\1')])
    srv.start()
    try:
        d = portierd_factory([srv.address], config=config(server))
        status, r, body = d.request('GET', '/files/one-mib.bin')
        assert status == 200, d.log()
        assert body == on_disk(server, '/sub/one-mib.bin')
        assert d.request('GET', '/files/missing')[0] == 404
    finally:
        srv.stop()


def nfs_connections(port):
    """Established TCP connections to 127.0.0.1:port (client side)."""
    n = 0
    with open('/proc/net/tcp') as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            rem, state = fields[2], fields[3]
            if state == '01' and int(rem.split(':')[1], 16) == port:
                n += 1
    return n


def test_client_unmounts_after_idling(portierd_factory, server):
    """nfs_idle_timeout: the connection to the export goes away when
    unused, the next request mounts again."""
    srv = ScriptedTranslationServer(lambda req: nfs_answer(server))
    srv.start()
    try:
        before = nfs_connections(server.nfs_port)
        d = portierd_factory([srv.address], config=config(
            server, cache='0') + 'set nfs_idle_timeout = "1 s"\n')
        assert d.request('GET', '/digits')[0] == 200
        assert nfs_connections(server.nfs_port) == before + 1
        deadline = time.monotonic() + 5
        while nfs_connections(server.nfs_port) > before:
            assert time.monotonic() < deadline, 'still connected'
            time.sleep(0.1)
        assert d.request('GET', '/digits')[0] == 200
        assert nfs_connections(server.nfs_port) == before + 1
    finally:
        srv.stop()


def test_flush_nfs_cache_reaches_every_worker(site, server, build_dir):
    ctl = os.path.join(build_dir, 'ctl', 'portierctl')
    if not os.access(ctl, os.X_OK):
        pytest.skip('portierctl is not built')
    sock = '@portier-test-nfs-ctl-%d-%s' % (os.getpid(),
                                             uuid.uuid4().hex[:8])
    d = site(control=sock, workers=2)
    for _ in range(8):      # some requests on each worker, probably
        assert d.request('GET', '/small.txt')[0] == 200
    subprocess.run([ctl, '--server', sock, 'flush-nfs-cache'], check=True,
                   timeout=20)
    lines = wait_log(d, 'FLUSH_NFS_CACHE from', count=2)
    assert len(lines) == 2, lines
    assert all('(via the master)' in line for line in lines), lines
    # Both workers still serve.
    for _ in range(4):
        assert d.request('GET', '/small.txt')[2] == b'Hello from NFS.\n'
