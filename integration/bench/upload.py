#!/usr/bin/python3
"""Time and CPU of large uploads through the reverse proxy (issue 6,
docs/performance.md "Request bodies, session 5"): a raw-socket client
POSTs N bytes with a Content-Length (or chunked) through one portierd
worker to a sink backend on loopback that counts them and answers the
count.  The figure is portierd's own CPU time, read from
/proc/PID/stat (utime + stime, in clock ticks) right before and after
each upload, next to the wall time.  Not part of make test.

    /usr/bin/python3 integration/bench/upload.py [--build build]
        [--size-mib 1024] [--rounds 3] [--chunked]

With --build-before it starts a second portierd from another build and
measures the two alternately, round by round, which evens out the other
load of a shared machine.
"""
import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from conftest import Portierd, free_port                  # noqa: E402
from tplib import ScriptedTranslationServer, packet       # noqa: E402

MIB = 1 << 20
TICK = os.sysconf('SC_CLK_TCK')

# The sink: reads a head, then Content-Length bytes (or chunked framing,
# parsed only as far as needed), answers the count.  Several connections
# in turn; each is kept alive.
SINK = r'''
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
print("ready", flush=True)
buf = bytearray(1 << 20)
view = memoryview(buf)

def serve(c):
    rest = b""
    while True:
        while b"\r\n\r\n" not in rest:
            d = c.recv(65536)
            if not d:
                return
            rest += d
        h, _, rest = rest.partition(b"\r\n\r\n")
        n, chunked = 0, False
        for line in h.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            k = k.strip().lower()
            if k == b"content-length":
                n = int(v)
            elif k == b"transfer-encoding":
                chunked = True
        got = 0
        if not chunked:
            got = min(len(rest), n)
            rest = rest[got:]
            while got < n:
                k = c.recv_into(view[:min(len(buf), n - got)])
                if k == 0:
                    return
                got += k
        else:
            while True:
                while b"\r\n" not in rest:
                    d = c.recv(65536)
                    if not d:
                        return
                    rest += d
                line, _, rest = rest.partition(b"\r\n")
                size = int(line.split(b";")[0], 16)
                need = size + 2         # the data and its CRLF
                take = min(len(rest), need)
                rest = rest[take:]
                need -= take
                while need > 0:
                    k = c.recv_into(view[:min(len(buf), need)])
                    if k == 0:
                        return
                    need -= k
                got += size
                if size == 0:
                    break
        body = b"%d" % got
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s"
                  % (len(body), body))

while True:
    c, _ = s.accept()
    try:
        serve(c)
    except OSError:
        pass
    c.close()
'''


def cpu_ticks(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    # after the command: state is field 3, utime 14, stime 15
    return int(fields[11]), int(fields[12])


def loadavg():
    with open('/proc/loadavg') as f:
        return ' '.join(f.read().split()[:3])


def upload(port, size, chunked):
    """One upload on a new connection; (wall seconds, the sink's count)."""
    piece = bytes(MIB)
    s = socket.create_connection(('127.0.0.1', port), 60)
    framing = (b'Transfer-Encoding: chunked\r\n' if chunked
               else b'Content-Length: %d\r\n' % size)
    t0 = time.monotonic()
    s.sendall(b'POST /sink HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
              b'%s\r\n' % framing)
    for off in range(0, size, MIB):
        part = piece[:min(MIB, size - off)]
        if chunked:
            s.sendall(b'%x\r\n' % len(part))
            s.sendall(part)
            s.sendall(b'\r\n')
        else:
            s.sendall(part)
    if chunked:
        s.sendall(b'0\r\n\r\n')
    out = b''
    while True:
        d = s.recv(65536)
        if not d:
            break
        out += d
    wall = time.monotonic() - t0
    s.close()
    head, _, body = out.partition(b'\r\n\r\n')
    if not head.startswith(b'HTTP/1.1 200'):
        raise RuntimeError('upload answered %r' % out[:200])
    return wall, int(body)


class Setup:
    """The sink, the translation server and one portierd of `build`."""

    def __init__(self, build, tmp):
        self.sink_port = free_port()
        self.sink = subprocess.Popen(
            [sys.executable, '-c', SINK, str(self.sink_port)],
            stdout=subprocess.PIPE)
        if self.sink.stdout.readline().strip() != b'ready':
            raise RuntimeError('the sink did not start')
        url = 'http://127.0.0.1:%d/sink' % self.sink_port
        self.srv = ScriptedTranslationServer(
            lambda req: [packet('HTTP', url),
                         packet('ADDRESS_STRING',
                                '127.0.0.1:%d' % self.sink_port)])
        self.srv.start()
        port = free_port()
        binary = os.path.join(build, 'dataplane', 'portierd')
        self.d = Portierd(binary, ['--listen', '127.0.0.1:%d' % port,
                                   '--translation-socket', self.srv.address,
                                   '--workers', '1'], port,
                          os.path.join(tmp, 'portierd-%d.log' % port))
        self.port = port

    def measure(self, size, chunked):
        pid = self.d.proc.pid
        u0, s0 = cpu_ticks(pid)
        wall, got = upload(self.port, size, chunked)
        u1, s1 = cpu_ticks(pid)
        if got != size:
            raise RuntimeError('the sink counted %d of %d bytes'
                               % (got, size))
        return wall, (u1 - u0) / TICK, (s1 - s0) / TICK

    def stop(self):
        self.d.stop()
        self.srv.stop()
        self.sink.kill()
        self.sink.wait()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--build', default='build')
    ap.add_argument('--build-before', default=None,
                    help='a second build, measured alternately')
    ap.add_argument('--size-mib', type=int, default=1024)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--chunked', action='store_true')
    args = ap.parse_args(argv)
    builds = [('after', os.path.abspath(args.build))]
    if args.build_before:
        builds.insert(0, ('before', os.path.abspath(args.build_before)))
    size = args.size_mib * MIB
    tmp = tempfile.mkdtemp(prefix='portier-bench-upload.')
    setups = {}
    try:
        for name, b in builds:
            setups[name] = Setup(b, tmp)
            setups[name].measure(4 * MIB, args.chunked)     # warm up
        print('# upload.py %s | loadavg %s | %d MiB %s, %d round(s)'
              % (time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
                 loadavg(), args.size_mib,
                 'chunked' if args.chunked else 'Content-Length',
                 args.rounds))
        print('| build | round | wall s | MiB/s | portierd user s '
              '| portierd sys s | portierd CPU s |')
        print('|---|---:|---:|---:|---:|---:|---:|')
        for r in range(args.rounds):
            for name, _ in builds:
                wall, user, system = setups[name].measure(size,
                                                          args.chunked)
                print('| %s | %d | %.2f | %.0f | %.2f | %.2f | %.2f |'
                      % (name, r + 1, wall, args.size_mib / wall, user,
                         system, user + system), flush=True)
    finally:
        for s in setups.values():
            s.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
