#!/usr/bin/python3
"""Requests/s of portierd's application backends in one run (issues 7
and 8): WAS hello, LHTTP hello and FastCGI hello side by side, CGI hello,
and a 1 MiB body over WAS, over FastCGI and from a static file, measured
with wrk against one portierd (one worker) behind a scripted translation
server.  The benchmark is not part of make test (test_bench_smoke.py
runs four rows for 1 s as a check); it prints a Markdown table
(docs/performance.md) and, below it, the ratios issue 8 asks about.

    /usr/bin/python3 integration/bench/apps.py [--duration 5s] [--conns 8]
        [--repeat 3] [--rows was,lhttp,fcgi,cgi,was-1m,fcgi-1m,static-1m]

The programs are the examples' (build/examples/): was-hello, was-stream,
lhttp-hello, fcgi-hello, fcgi-stream (libfcgi), cgi-hello.  Each pool
may grow to --conns processes (was_stock_max_idle,
fastcgi_stock_max_idle, LHTTP CONCURRENCY), so every backend can serve
every wrk connection at once; the table says how many application
processes portierd ran.  Every translation answer carries MAX_AGE, so
the run measures the backends, not the translation server.  Each row is
checked first (status 200, the body); rows rotate from round to round.
"""
import argparse
import http.client
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)

import bench                                              # noqa: E402
from conftest import Portierd, free_port                  # noqa: E402
from tplib import (ScriptedTranslationServer, packet, u16,  # noqa: E402
                   u32)

MIB = 1 << 20
HELLO = b'Hello, world!\n'

# id -> (label, URL path, body check)
ROWS = {
    'was': ('WAS hello', '/was', lambda b: b == HELLO),
    'lhttp': ('LHTTP hello', '/lhttp',
              lambda b: b.startswith(b'Hello from LHTTP')),
    'fcgi': ('FastCGI hello', '/fcgi', lambda b: b == HELLO),
    'cgi': ('CGI hello', '/cgi', lambda b: b == HELLO),
    'was-1m': ('WAS 1 MiB', '/was-1m?size=%d&length=1' % MIB,
               lambda b: b == stream_body(MIB)),
    'fcgi-1m': ('FastCGI 1 MiB', '/fcgi-1m?size=%d' % MIB,
                lambda b: b == stream_body(MIB)),
    'static-1m': ('static 1 MiB', '/big', lambda b: len(b) == MIB),
}
# The pairs issue 8 asks about: (numerator, denominator, what).
COMPARISONS = (('was', 'fcgi', 'WAS hello / FastCGI hello'),
               ('lhttp', 'fcgi', 'LHTTP hello / FastCGI hello'),
               ('was-1m', 'fcgi-1m',
                'WAS 1 MiB / FastCGI 1 MiB (target: above 1; the WAS pipe is '
                'copied to loopback clients, docs/was.md)'))
# The application processes of each row (argv[0] of portierd's children).
PROGRAMS = {'was': 'was-hello', 'lhttp': 'lhttp-hello', 'fcgi': 'fcgi-hello',
            'cgi': 'cgi-hello', 'was-1m': 'was-stream',
            'fcgi-1m': 'fcgi-stream'}


def stream_body(n):
    """The body of was-stream and fcgi-stream: byte i is 'a' + i % 26."""
    pattern = bytes(range(ord('a'), ord('a') + 26))
    return (pattern * (n // 26 + 1))[:n]


def translation_handler(ex, www, conns):
    def handler(req):
        uri = req.text('URI')
        if uri.startswith('/was-1m'):
            answer = [packet('WAS', ex + '/was-stream')]
        elif uri.startswith('/was'):
            answer = [packet('WAS', ex + '/was-hello')]
        elif uri.startswith('/lhttp'):
            answer = [packet('LHTTP_PATH', ex + '/lhttp-hello'),
                      packet('LHTTP_URI', '/'),
                      packet('CONCURRENCY', u16(conns))]
        elif uri.startswith('/fcgi-1m'):
            answer = [packet('FASTCGI', ex + '/fcgi-stream')]
        elif uri.startswith('/fcgi'):
            answer = [packet('FASTCGI', ex + '/fcgi-hello')]
        elif uri.startswith('/cgi'):
            answer = [packet('CGI', ex + '/cgi-hello')]
        else:
            answer = [packet('PATH', www + '/big')]
        return answer + [packet('MAX_AGE', u32(3600))]
    return handler


def portierd_conf(conns):
    text = ('# written by integration/bench/apps.py\n'
            'set was_stock_max_idle = "%d"\n'
            'set fastcgi_stock_max_idle = "%d"\n'
            'set lhttp_stock_max_idle = "%d"\n' % (conns, conns, conns))
    if os.geteuid() == 0:
        text += 'spawn {\n  default_user "nobody"\n}\n'
    return text


def check(port, path, ok):
    """One GET: None when the answer is right, else what is wrong."""
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
    try:
        conn.request('GET', path)
        resp = conn.getresponse()
        body = resp.read()
    except (OSError, http.client.HTTPException) as e:
        return '%s: %s' % (type(e).__name__, e)
    finally:
        conn.close()
    if resp.status != 200:
        return 'HTTP %d' % resp.status
    if not ok(body):
        return 'unexpected body (%d bytes)' % len(body)
    return None


def app_processes(pid, ex):
    """Application processes below portierd (pid), by program name."""
    counts = {}
    for child in bench.descendants(pid):
        try:
            with open('/proc/%d/cmdline' % child, 'rb') as f:
                exe = f.read().split(b'\0')[0].decode(errors='replace')
        except OSError:
            continue
        if exe.startswith(ex + '/'):
            name = exe[len(ex) + 1:]
            counts[name] = counts.get(name, 0) + 1
    return counts


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--build', default=os.environ.get(
        'PORTIER_BUILD', os.path.join(bench.ROOT, 'build')))
    ap.add_argument('--duration', default='5s')
    ap.add_argument('--conns', type=int, default=8)
    ap.add_argument('--repeat', type=int, default=1)
    ap.add_argument('--rows', default=','.join(ROWS),
                    help='comma-separated, from: ' + ', '.join(ROWS))
    args = ap.parse_args(argv)
    args.rows = [r for r in args.rows.split(',') if r]
    for r in args.rows:
        if r not in ROWS:
            ap.error('unknown row %r' % r)
    if args.repeat < 1:
        ap.error('--repeat must be at least 1')
    args.build = os.path.abspath(args.build)
    return args


def main(argv=None):
    args = parse_args(argv)
    if not shutil.which('wrk'):
        print('wrk is not installed')
        return 1
    ex = os.path.join(args.build, 'examples')
    binary = os.path.join(args.build, 'dataplane', 'portierd')
    missing = [p for p in [binary] + [os.path.join(ex, PROGRAMS[r])
                                      for r in args.rows if r in PROGRAMS]
               if not os.access(p, os.X_OK)]
    if missing:
        print('not built: %s' % ', '.join(missing))
        return 1
    tmp = tempfile.mkdtemp(prefix='portier-bench-apps.')
    os.chmod(tmp, 0o755)
    www = os.path.join(tmp, 'www')
    os.makedirs(www)
    os.chmod(www, 0o755)
    with open(os.path.join(www, 'big'), 'wb') as f:
        f.write(b'b' * MIB)
    os.chmod(os.path.join(www, 'big'), 0o644)
    srv = ScriptedTranslationServer(translation_handler(ex, www, args.conns))
    srv.start()
    conf = os.path.join(tmp, 'portierd.conf')
    with open(conf, 'w') as f:
        f.write(portierd_conf(args.conns))
    port = free_port()
    d = None
    try:
        d = Portierd(binary, ['--listen', '127.0.0.1:%d' % port,
                              '--translation-socket', srv.address,
                              '--config', conf, '--workers', '1'], port,
                     os.path.join(tmp, 'portierd.log'))
        print('# apps.py %s | loadavg %s' % (
            time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
            bench.loadavg()))
        print('# wrk -t1 -c%d -d%s --latency, %d round(s), rows rotating; '
              'one portierd worker; pools up to %d processes each'
              % (args.conns, args.duration, args.repeat, args.conns))
        rows, failed = [], {}
        for r in args.rows:
            problem = check(port, ROWS[r][1], ROWS[r][2])
            if problem:
                failed[r] = problem
                bench.log('%s: check failed: %s' % (r, problem))
            else:
                rows.append(r)
        runs = {r: [] for r in rows}
        procs = {}
        for rnd in range(args.repeat):
            k = rnd % len(rows) if rows else 0
            for r in rows[k:] + rows[:k]:
                text = bench.run_wrk(argparse.Namespace(
                    threads=1, conns=args.conns, duration=args.duration,
                    wrk_cpus=None), 'http://127.0.0.1:%d%s' % (
                        port, ROWS[r][1]), tmp, '%s-%d' % (r, rnd + 1))
                if r in PROGRAMS:
                    got = app_processes(d.proc.pid, ex).get(PROGRAMS[r], 0)
                    procs[r] = max(procs.get(r, 0), got)
                try:
                    run = bench.parse_wrk(text)
                except ValueError:
                    bench.log('round %d %s: wrk failed' % (rnd + 1, r))
                    continue
                size = MIB if r.endswith('-1m') else None
                run['notes'] = bench.run_notes(run, 200, size)
                runs[r].append(run)
                bench.log('round %d %-9s %10s req/s  p99 %s %s' % (
                    rnd + 1, r, bench.fmt_rate(run['rps']),
                    bench.fmt_time(run['latency'].get(99.0)),
                    '; '.join(run['notes'])))
        print()
        print('| workload | req/s (median) | range | MiB/s | p50 | p99 | '
              'app processes | notes |')
        print('|---|---:|---:|---:|---:|---:|---:|---|')
        medians = {}
        for r in args.rows:
            label = ROWS[r][0]
            if r in failed:
                print('| %s | - | - | - | - | - | - | check failed: %s |'
                      % (label, failed[r]))
                continue
            s = bench.summarize(runs[r])
            if s is None:
                print('| %s | - | - | - | - | - | - | wrk failed |' % label)
                continue
            m = s['median']
            medians[r] = m['rps']
            notes = sorted({n for run in runs[r] for n in run['notes']})
            print('| %s | %s | %s-%s | %.1f | %s | %s | %s | %s |' % (
                label, bench.fmt_rate(m['rps']), bench.fmt_rate(s['lo']),
                bench.fmt_rate(s['hi']), m.get('transfer', 0) / MIB,
                bench.fmt_time(m['latency'].get(50.0)),
                bench.fmt_time(m['latency'].get(99.0)),
                procs.get(r, '-') if r != 'cgi' else 'one per request',
                '; '.join(notes)))
        lines = ['- %s: %.2f' % (what, medians[a] / medians[b])
                 for a, b, what in COMPARISONS
                 if a in medians and b in medians]
        if lines:
            print()
            print('Ratios of the medians, same run:')
            print('\n'.join(lines))
        print()
        print('# translation requests in the run: %d; loadavg at end: %s'
              % (srv.count(), bench.loadavg()))
    finally:
        if d is not None:
            d.stop()
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
