#!/usr/bin/python3
"""The client's side of the throughput table: the system calls wrk makes
per request against each server (`strace -c -f` on wrk, -t1 -c32, 2 s a
path), for the 1 KiB file and the 404 of bench.py's document root.  Where
wrk is the bottleneck (its "wrk CPU" column near 100%), a server could
only be faster by costing its client less: this shows whether any server
does (fewer reads, writes or wake-ups per response).  Counts, not times:
strace slows wrk, so the request numbers are small and say nothing of
throughput.  Not part of make test.

    /usr/bin/python3 integration/bench/wrk_syscalls.py [--build build]
        [--servers nginx,lighttpd,h2o,portier] [--duration 2s] [PATH...]

Needs strace, wrk and the peers (bench.py installs them)."""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import bench  # noqa: E402


def strace_counts(path):
    """{syscall: calls} from an `strace -c` summary file."""
    calls = {}
    with open(path) as f:
        for line in f:
            fields = line.split()
            # % time, seconds, usecs/call, calls, [errors,] syscall
            if len(fields) >= 5 and fields[3].isdigit() and \
                    fields[-1].isidentifier() and fields[-1] != 'total':
                calls[fields[-1]] = int(fields[3])
    return calls


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default='build')
    ap.add_argument('--servers', default='nginx,lighttpd,h2o,portier')
    ap.add_argument('--duration', default='2s', help='wrk -d, a path')
    ap.add_argument('paths', nargs='*', default=['/1k.bin', '/missing'])
    a = ap.parse_args(argv)
    for tool in ('strace', 'wrk'):
        if shutil.which(tool) is None:
            sys.exit('wrk_syscalls: %s is not installed' % tool)
    args = bench.parse_args(['--no-install', '--build',
                             os.path.abspath(a.build)])
    tmp = tempfile.mkdtemp(prefix='portier-wrk-syscalls.')
    os.chmod(tmp, 0o755)
    root, _ = bench.make_docroot(tmp)
    print('| server | path | requests | system calls per request | '
          'the most frequent, per request |')
    print('|---|---|---:|---:|---|')
    try:
        for name in a.servers.split(','):
            server = bench.make_server(name, tmp, root, args)
            bench.start_server(server)
            try:
                for path in a.paths:
                    out = os.path.join(tmp, 'strace-%s' % name)
                    w = subprocess.run(
                        ['strace', '-c', '-f', '-o', out, 'wrk', '-t1',
                         '-c32', '-d' + a.duration,
                         'http://127.0.0.1:%d%s' % (server.port, path)],
                        capture_output=True, text=True, timeout=60)
                    m = re.search(r'(\d+) requests in', w.stdout)
                    if m is None or int(m.group(1)) == 0:
                        print('| %s | %s | wrk failed: %s | | |' % (
                            name, path, (w.stderr or w.stdout).strip()))
                        continue
                    n = int(m.group(1))
                    calls = strace_counts(out)
                    top = sorted(calls.items(), key=lambda kv: -kv[1])[:4]
                    print('| %s | %s | %d | %.2f | %s |' % (
                        name, path, n, sum(calls.values()) / n,
                        ', '.join('%s %.2f' % (k, v / n) for k, v in top)),
                        flush=True)
            finally:
                server.stop()
    finally:
        bench._stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
