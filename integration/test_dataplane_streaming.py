"""1 GiB through the reverse proxy each way (issue 6): a download from
nginx (a sparse file) and an upload to a Python sink that counts, with
portierd's VmRSS sampled while the bytes flow and bounded by 64 MiB.
The client is a raw socket reading and writing 1 MiB at a time, so the
test process stays small and fast."""
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from conftest import free_port
from proclib import rss_kib
from test_dataplane_proxy import CONFIG, Nginx, http_answer

MiB = 1 << 20
GiB = 1 << 30
RSS_LIMIT_KIB = 64 * 1024

# The sink: one connection at a time; reads a head with Content-Length,
# counts the body, answers with the count.
SINK = r'''
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
print("ready", flush=True)
buf = bytearray(1 << 20)
while True:
    c, _ = s.accept()
    head = b""
    while b"\r\n\r\n" not in head:
        d = c.recv(65536)
        if not d:
            break
        head += d
    h, _, rest = head.partition(b"\r\n\r\n")
    n = 0
    for line in h.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v)
    got = len(rest)
    while got < n:
        k = c.recv_into(buf)
        if k == 0:
            break
        got += k
    body = b"%d" % got
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
              b"Connection: close\r\n\r\n%s" % (len(body), body))
    c.close()
'''


class Sampler:
    """Samples portierd's VmRSS every 20 ms in a thread; peak in KiB."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = 0
        self.samples = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_kib(self.pid))
                self.samples += 1
            except OSError:
                return
            self._stop.wait(0.02)

    def stop(self):
        self._stop.set()
        self._t.join(5)
        return self.peak


@pytest.fixture
def stream_proxy(portierd_factory, servers, tmp_path):  # noqa: F811
    st = os.statvfs(str(tmp_path))
    if st.f_bavail * st.f_frsize < 64 * MiB:
        pytest.skip('no room for the test files')
    ngx = Nginx(str(tmp_path / 'nginx'))
    sink_port = free_port()
    sink = subprocess.Popen([sys.executable, '-c', SINK, str(sink_port)],
                            stdout=subprocess.PIPE)
    try:
        assert sink.stdout.readline().strip() == b'ready'

        def handler(req):
            uri = req.text('URI')
            port = sink_port if uri.startswith('/sink') else ngx.port
            return http_answer([port], uri)

        srv = servers(handler)
        d = portierd_factory([srv.address], config=CONFIG)
        yield d, ngx
    finally:
        sink.kill()
        sink.wait()
        ngx.stop()


def read_head(s):
    head = b''
    while b'\r\n\r\n' not in head:
        d = s.recv(65536)
        assert d, 'closed in the head: %r' % head
        head += d
    h, _, rest = head.partition(b'\r\n\r\n')
    return h.decode('latin-1'), rest


def test_gib_download_and_upload(stream_proxy):
    d, ngx = stream_proxy
    path = os.path.join(ngx.root, 'gib.bin')
    with open(path, 'wb') as f:
        f.truncate(GiB)             # sparse: zeros, no disk space
    t0 = time.monotonic()

    # download
    sampler = Sampler(d.proc.pid)
    with socket.create_connection(('127.0.0.1', d.port), 30) as s:
        s.sendall(b'GET /gib.bin HTTP/1.1\r\nHost: x\r\n'
                  b'Connection: close\r\n\r\n')
        head, rest = read_head(s)
        assert head.startswith('HTTP/1.1 200'), head
        assert 'Content-Length: %d' % GiB in head, head
        got = len(rest)
        buf = bytearray(MiB)
        view = memoryview(buf)
        nonzero = any(rest)
        while True:
            k = s.recv_into(buf)
            if k == 0:
                break
            if got % (64 * MiB) < k:
                nonzero = nonzero or any(view[:k])
            got += k
    peak = sampler.stop()
    t_down = time.monotonic() - t0
    assert got == GiB
    assert not nonzero
    assert sampler.samples >= 2
    assert peak < RSS_LIMIT_KIB, 'download: peak VmRSS %d KiB' % peak

    # upload
    t1 = time.monotonic()
    sampler = Sampler(d.proc.pid)
    with socket.create_connection(('127.0.0.1', d.port), 30) as s:
        s.sendall(b'POST /sink HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
                  b'Content-Length: %d\r\n\r\n' % GiB)
        chunk = bytes(MiB)
        for _ in range(GiB // MiB):
            s.sendall(chunk)
        head, rest = read_head(s)
        while True:
            k = s.recv(65536)
            if not k:
                break
            rest += k
    peak = sampler.stop()
    t_up = time.monotonic() - t1
    assert head.startswith('HTTP/1.1 200'), head
    assert rest == b'%d' % GiB
    assert peak < RSS_LIMIT_KIB, 'upload: peak VmRSS %d KiB' % peak
    print('1 GiB down %.1f s, up %.1f s, peak VmRSS %d KiB'
          % (t_down, t_up, peak))
    assert t_down + t_up < 50
