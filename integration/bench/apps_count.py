#!/usr/bin/python3
"""Deterministic per-request costs of one row of apps.py: the system
calls (strace -c) of portierd's worker and, apart, of the application
processes, or the worker's instructions (callgrind), over a fixed number
of requests.

The rig is apps.py's: one portierd (one worker) behind the scripted
translation server, the example programs, pools of up to --conns
processes.  The client is either one keep-alive connection sending
--requests requests one after the other (`--client seq`, the default:
the same work every run), or wrk with --conns connections for
--duration (`--client wrk`: the benchmark's pattern; the request count
is wrk's).  --warmup requests go first (the pool is started, the
translation cached), then the counters start.

    apps_count.py --row was-1m --tool strace
    apps_count.py --row fcgi-1m --tool strace --client wrk --duration 3s
    apps_count.py --row was-1m --tool callgrind --build build
    apps_count.py --row was-1m --tool trace --requests 2   # the calls

The output is a few lines: per system call the count and the count per
request, for the worker and for the application processes.
"""
import argparse
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import apps                                               # noqa: E402
import bench                                              # noqa: E402
from conftest import Portierd, free_port                  # noqa: E402
from proclib import cpu_ticks                             # noqa: E402
from tplib import ScriptedTranslationServer               # noqa: E402


class Client:
    """One keep-alive connection, one request at a time."""

    def __init__(self, port, path):
        self.sock = socket.create_connection(('127.0.0.1', port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.req = ('GET %s HTTP/1.1\r\nHost: localhost\r\n'
                    'User-Agent: apps_count\r\n\r\n' % path).encode()
        self.buf = b''

    def one(self):
        self.sock.sendall(self.req)
        while b'\r\n\r\n' not in self.buf:
            self.more()
        head, self.buf = self.buf.split(b'\r\n\r\n', 1)
        status = int(head.split(b' ', 2)[1])
        m = re.search(rb'\r\ncontent-length: *([0-9]+)', head, re.I)
        if status == 200 and m is None and \
                re.search(rb'\r\ntransfer-encoding: *chunked', head, re.I):
            self.chunked()
            return
        if status != 200 or m is None:
            raise RuntimeError('unexpected response: %r' % head[:300])
        n = int(m.group(1))
        while len(self.buf) < n:
            self.more(n - len(self.buf))
        self.buf = self.buf[n:]

    def chunked(self):
        while True:
            while b'\r\n' not in self.buf:
                self.more()
            line, self.buf = self.buf.split(b'\r\n', 1)
            n = int(line.split(b';')[0], 16)
            while len(self.buf) < n + 2:
                self.more()
            self.buf = self.buf[n + 2:]
            if n == 0:
                return

    def more(self, want=65536):
        data = self.sock.recv(max(want, 65536))
        if not data:
            raise RuntimeError('connection closed')
        self.buf += data


def strace_table(path, requests):
    """(lines, total) of an strace -c summary, per request."""
    with open(path) as f:
        text = f.read()
    lines, total = [], 0
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0][0].isdigit() and \
                fields[-1] != 'total':
            calls = int(fields[3])
            errors = int(fields[4]) if len(fields) == 6 else 0
            total += calls
            lines.append('  %-18s %8d  %7.2f per request%s' % (
                fields[-1], calls, calls / requests,
                '  (%d failed)' % errors if errors else ''))
    return lines, total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--row', default='was-1m',
                    choices=sorted(apps.ROWS))
    ap.add_argument('--tool', choices=('strace', 'trace', 'callgrind',
                                       'cpu'), default='strace')
    ap.add_argument('--client', choices=('seq', 'wrk'), default='seq')
    ap.add_argument('--build', default=os.environ.get(
        'PORTIER_BUILD', os.path.join(bench.ROOT, 'build')))
    ap.add_argument('--path', default=None,
                    help="the URL path instead of the row's (the row "
                    "still picks the program)")
    ap.add_argument('--requests', type=int, default=500)
    ap.add_argument('--warmup', type=int, default=50)
    ap.add_argument('--conns', type=int, default=8)
    ap.add_argument('--duration', default='3s')
    ap.add_argument('--no-apps', action='store_true',
                    help='trace the worker only')
    ap.add_argument('--wrk-prefix', default=None,
                    help='a command wrk runs under, e.g. "perf record -g '
                    '-o wrk.data"')
    ap.add_argument('--perf', default=None, metavar='FILE',
                    help='also perf record -g the worker and the '
                    'applications into FILE during the run')
    ap.add_argument('--strace-filter', default=None,
                    help="strace's -e argument, e.g. trace=epoll_ctl")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    ex = os.path.join(build, 'examples')
    binary = os.path.join(build, 'dataplane', 'portierd')

    tmp = tempfile.mkdtemp(prefix='portier-apps-count.')
    os.chmod(tmp, 0o755)
    www = os.path.join(tmp, 'www')
    os.makedirs(www)
    os.chmod(www, 0o755)
    with open(os.path.join(www, 'big'), 'wb') as f:
        f.write(b'b' * apps.MIB)
    os.chmod(os.path.join(www, 'big'), 0o644)
    srv = ScriptedTranslationServer(apps.translation_handler(ex, www,
                                                             args.conns))
    srv.start()
    conf = os.path.join(tmp, 'portierd.conf')
    with open(conf, 'w') as f:
        f.write(apps.portierd_conf(args.conns))
    port = free_port()
    prefix = []
    if args.tool == 'callgrind':
        prefix = ['valgrind', '--tool=callgrind', '--trace-children=yes',
                  '--trace-children-skip=%s/*' % ex,
                  '--callgrind-out-file=%s/callgrind.out.%%p' % tmp]
    d = None
    tracers = []
    path = args.path or apps.ROWS[args.row][1]
    try:
        argv = [binary, '--listen', '127.0.0.1:%d' % port,
                '--translation-socket', srv.address, '--config', conf,
                '--workers', '1']
        if prefix:
            # Portierd() runs one binary with arguments
            d = Portierd(prefix[0], prefix[1:] + argv, port,
                         os.path.join(tmp, 'portierd.log'))
        else:
            d = Portierd(binary, argv[1:], port,
                         os.path.join(tmp, 'portierd.log'))
        worker = d.proc.pid     # --workers 1: portierd is the worker
        # warm up with as many connections as the measured run uses, so
        # that the pool has its processes
        if args.client == 'wrk':
            bench.run_wrk(argparse.Namespace(
                threads=1, conns=args.conns, duration='1s', wrk_cpus=None),
                'http://127.0.0.1:%d%s' % (port, path), tmp, 'warmup')
        client = Client(port, path)
        for _ in range(args.warmup):
            client.one()
        app_pids = [p for p in bench.descendants(worker)
                    if p != worker]
        targets = [('worker', [worker])]
        if not args.no_apps and app_pids:
            targets.append(('applications', app_pids))
        if args.tool == 'callgrind':
            subprocess.run(['callgrind_control', '-z', str(worker)],
                           check=True, capture_output=True, timeout=60)
        elif args.tool in ('strace', 'trace'):
            for name, pids in targets:
                out = os.path.join(tmp, 'strace-%s.txt' % name)
                cmd = ['strace', '-o', out] + \
                    (['-c'] if args.tool == 'strace' else ['-tt'])
                if args.strace_filter:
                    cmd += ['-e', args.strace_filter]
                for p in pids:
                    cmd += ['-p', str(p)]
                tracers.append((name, out, subprocess.Popen(
                    cmd, stderr=subprocess.DEVNULL)))
            time.sleep(1.0)     # attached
        if args.perf:
            pids = ','.join(str(p) for _, ps in targets for p in ps)
            tracers.append(('perf', None, subprocess.Popen(
                ['perf', 'record', '-g', '-o', args.perf, '-p', pids],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
            time.sleep(0.5)
        cpu0 = {name: cpu_ticks(pids) for name, pids in targets}
        kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        if args.client == 'seq':
            for _ in range(args.requests):
                client.one()
            requests = args.requests
        else:
            wrk = ['wrk', '-t1', '-c%d' % args.conns,
                   '-d%s' % args.duration, 'http://127.0.0.1:%d%s'
                   % (port, path)]
            wrk_out = os.path.join(tmp, 'strace-wrk.txt')
            if args.wrk_prefix:
                wrk = args.wrk_prefix.split() + wrk
            elif args.tool == 'strace':
                wrk = ['strace', '-f', '-c', '-o', wrk_out] + wrk
                tracers.append(('wrk', wrk_out, None))
            text = subprocess.run(wrk, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True,
                                  timeout=bench.parse_time(args.duration)
                                  + 60).stdout
            m = re.search(r'(\d+) requests in', text)
            if m is None:
                raise RuntimeError('wrk failed:\n' + text)
            requests = int(m.group(1))
        elapsed = time.monotonic() - t0
        kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu1 = {name: cpu_ticks(pids) for name, pids in targets}
        print('# %s (%s), %d requests (%s client%s) after %d warm-up, '
              'worker pid %d, %d application process(es), %.1fs'
              % (args.row, path, requests, args.client,
                 ', %d connections' % args.conns
                 if args.client == 'wrk' else '', args.warmup, worker,
                 len(app_pids), elapsed))
        if args.tool == 'cpu':
            hz = os.sysconf('SC_CLK_TCK')
            for name, _ in targets:
                ms = (cpu1[name] - cpu0[name]) * 1000.0 / hz
                print('%s: %.0f ms CPU, %.3f ms per request'
                      % (name, ms, ms / requests))
            if args.client == 'wrk':
                for line in text.splitlines():
                    if 'Latency' in line or 'errors' in line:
                        print('wrk:' + line)
                ms = 1000.0 * (kids1.ru_utime + kids1.ru_stime -
                               kids0.ru_utime - kids0.ru_stime)
                print('wrk: %.0f ms CPU, %.3f ms per request'
                      % (ms, ms / requests))
        if args.tool == 'callgrind':
            ir, dump = bench.callgrind_instructions(worker, tmp)
            print('worker instructions: %d total, %.0f per request (%s)'
                  % (ir, ir / requests, dump))
        for name, out, tracer in tracers:
            if tracer is not None:
                tracer.send_signal(signal.SIGINT)
                tracer.wait(timeout=30)
            if out is None:
                continue
            if args.tool == 'trace':
                print('## %s' % name)
                with open(out) as f:
                    sys.stdout.write(f.read())
                continue
            lines, total = strace_table(out, requests)
            print('%s: %d system calls, %.2f per request'
                  % (name, total, total / requests))
            print('\n'.join(lines))
        client.sock.close()
    finally:
        for _, _, tracer in tracers:
            if tracer is not None and tracer.poll() is None:
                tracer.kill()
                tracer.wait()
        if d is not None:
            d.stop()
        srv.stop()
        if args.tool == 'callgrind':
            print('# kept %s' % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
