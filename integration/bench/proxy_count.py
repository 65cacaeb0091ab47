#!/usr/bin/python3
"""Deterministic per-request costs of the reverse proxy: instructions
(callgrind) or system calls (strace -c) of one server worker for a fixed
number of proxied requests.

The rig is that of `bench.py --mode proxy`: an origin nginx serving a
1 KiB file with keep-alive, and in front of it portierd (one worker, the
HTTP cache off, the scripted translation server) or nginx (one worker,
proxy_pass with upstream keepalive).  One client connection sends
--warmup requests, then the counters are reset, then --requests requests
are sent one after the other on the same keep-alive connection; the
figures are those of the worker process over these requests only.

    proxy_count.py --server portier --tool callgrind --build build-prof
    proxy_count.py --server portier --tool strace
    proxy_count.py --server nginx --tool strace
    proxy_count.py --server portier --tool trace --requests 3   # the calls

Run as root (nginx).  The output is a few lines: the totals and the
per-request figures; with callgrind the profile is kept (the path is
printed) for callgrind_annotate.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import bench  # noqa: E402
import tplib  # noqa: E402
from proclib import child_pids  # noqa: E402


def worker_pid(leader, timeout=60.0):
    """The one worker: the leader's child (portierd, nginx), else the
    leader itself."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = child_pids(leader)
        if kids:
            return kids[0]
        time.sleep(0.1)
    return leader


class Client:
    """One keep-alive connection, one request at a time."""

    def __init__(self, port, path):
        self.sock = socket.create_connection(('127.0.0.1', port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.req = ('GET %s HTTP/1.1\r\nHost: localhost\r\n'
                    'User-Agent: proxy_count\r\nAccept: */*\r\n\r\n'
                    % path).encode()
        self.buf = b''

    def one(self):
        self.sock.sendall(self.req)
        while b'\r\n\r\n' not in self.buf:
            self.more()
        head, self.buf = self.buf.split(b'\r\n\r\n', 1)
        status = int(head.split(b' ', 2)[1])
        m = re.search(rb'\r\ncontent-length: *([0-9]+)', head, re.I)
        if status != 200 or m is None:
            raise RuntimeError('unexpected response: %r' % head[:300])
        n = int(m.group(1))
        while len(self.buf) < n:
            self.more()
        self.buf = self.buf[n:]
        return n

    def more(self):
        data = self.sock.recv(65536)
        if not data:
            raise RuntimeError('connection closed')
        self.buf += data


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--server', choices=('portier', 'nginx'),
                    default='portier')
    ap.add_argument('--tool', choices=('callgrind', 'strace', 'trace',
                                       'none'),
                    default='callgrind')
    ap.add_argument('--build', default='build')
    ap.add_argument('--requests', type=int, default=2000)
    ap.add_argument('--warmup', type=int, default=200)
    ap.add_argument('--path', default='/1k')
    ap.add_argument('--out', default=None,
                    help='callgrind output file (default: in the temporary '
                         'directory, kept)')
    args = ap.parse_args()
    if args.server == 'nginx' and args.tool == 'callgrind':
        # callgrind_control reaches a process through vgdb, which waits
        # for it to leave a system call: nginx's worker sleeps in
        # epoll_wait() without a timeout (portierd's wakes every second).
        ap.error('--tool callgrind measures portierd only')

    tmp = tempfile.mkdtemp(prefix='portier-proxycount.')
    os.chmod(tmp, 0o755)
    started = []
    tserver = None
    try:
        root, _ = bench.make_docroot(tmp)
        origin = bench.Server('origin', [], bench.free_port(), tmp)
        odir = os.path.join(tmp, 'origin')
        os.makedirs(odir)
        os.chmod(odir, 0o755)
        with open(os.path.join(odir, 'nginx.conf'), 'w') as f:
            f.write(bench.nginx_conf(origin.port, root, odir))
        origin.argv = ['nginx', '-p', odir + '/', '-e', odir + '/nginx.err',
                       '-c', os.path.join(odir, 'nginx.conf')]
        origin.tmp = odir
        origin.start()
        started.append(origin)

        port = bench.free_port()
        sdir = os.path.join(tmp, args.server)
        os.makedirs(sdir)
        os.chmod(sdir, 0o755)
        prefix = []
        cg_out = args.out or os.path.join(tmp, 'callgrind.out.%p')
        if args.tool == 'callgrind':
            prefix = ['valgrind', '--tool=callgrind', '--trace-children=yes',
                      '--callgrind-out-file=' + cg_out]
        if args.server == 'portier':
            tsock = '@portier-proxycount-%d' % os.getpid()
            config = os.path.join(sdir, 'portierd.conf')
            with open(config, 'w') as f:
                f.write(bench.portier_conf(http_cache=False))
            argv = bench.portier_argv(bench.DEFAULT_PORTIER_CMD, port, tsock,
                                      root, sdir, os.path.abspath(args.build),
                                      config, 1)
            tserver = tplib.ScriptedTranslationServer(
                handler=lambda req: bench.translation_answer_proxy(
                    origin.port), address=tsock)
            tserver.start()
        else:
            path = os.path.join(sdir, 'nginx.conf')
            with open(path, 'w') as f:
                f.write(bench.nginx_conf(port, root, sdir,
                                         origin=origin.port))
            argv = ['nginx', '-p', sdir + '/', '-e', sdir + '/nginx.err',
                    '-c', path]
        server = bench.Server(args.server, prefix + argv, port, sdir)
        server.start()
        started.append(server)
        worker = worker_pid(server.proc.pid)

        client = Client(port, args.path)
        for _ in range(args.warmup):
            client.one()
        tracer = None
        if args.tool == 'callgrind':
            subprocess.run(['callgrind_control', '-z', str(worker)],
                           check=True, capture_output=True, timeout=60)
        elif args.tool == 'strace':
            sfile = os.path.join(tmp, 'strace.txt')
            tracer = subprocess.Popen(['strace', '-f', '-c', '-o', sfile,
                                       '-p', str(worker)],
                                      stderr=subprocess.DEVNULL)
            time.sleep(1.0)     # attached
        elif args.tool == 'trace':
            sfile = os.path.join(tmp, 'strace.txt')
            tracer = subprocess.Popen(['strace', '-f', '-o', sfile,
                                       '-p', str(worker)],
                                      stderr=subprocess.DEVNULL)
            time.sleep(1.0)     # attached
        t0 = time.monotonic()
        for _ in range(args.requests):
            client.one()
        elapsed = time.monotonic() - t0
        print('# %s, %d requests of %s after %d warm-up, one keep-alive '
              'connection, worker pid %d, %.1fs'
              % (args.server, args.requests, args.path, args.warmup, worker,
                 elapsed))
        if args.tool == 'callgrind':
            ir, dump = bench.callgrind_instructions(worker, tmp)
            print('instructions: %d total, %.0f per request (%s)'
                  % (ir, ir / args.requests, dump))
        elif args.tool == 'strace':
            tracer.send_signal(signal.SIGINT)
            tracer.wait(timeout=30)
            with open(sfile) as f:
                text = f.read()
            total = 0
            for line in text.splitlines():
                fields = line.split()
                if len(fields) >= 5 and fields[0][0].isdigit() and \
                        fields[-1] != 'total':
                    calls = int(fields[3])
                    total += calls
                    print('  %-16s %8d  %.2f per request'
                          % (fields[-1], calls, calls / args.requests))
            print('syscalls: %d total, %.2f per request'
                  % (total, total / args.requests))
        elif args.tool == 'trace':
            tracer.send_signal(signal.SIGINT)
            tracer.wait(timeout=30)
            with open(sfile) as f:
                sys.stdout.write(f.read())
        client.sock.close()
    finally:
        for s in reversed(started):
            s.stop()
        if tserver is not None:
            tserver.stop()
        if args.tool == 'callgrind' and args.out is None:
            print('# kept %s' % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
