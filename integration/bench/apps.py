#!/usr/bin/python3
"""Requests/s of portierd's application backends in one run: WAS hello,
LHTTP hello, CGI hello, and 1 MiB bodies over WAS, FastCGI and a static
file, measured with wrk against one portierd behind a scripted
translation server.  Not part of make
test; prints a Markdown table (docs/performance.md).

    /usr/bin/python3 integration/bench/apps.py [--duration 5s] [--conns 8]
"""
import argparse
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from conftest import Portierd, free_port          # noqa: E402
from tplib import ScriptedTranslationServer, packet, u16   # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default=os.environ.get('PORTIER_BUILD',
                                                      'build'))
    ap.add_argument('--duration', default='5s')
    ap.add_argument('--conns', type=int, default=8)
    ap.add_argument('--repeat', type=int, default=1)
    args = ap.parse_args()
    ex = os.path.abspath(os.path.join(args.build, 'examples'))
    www = '/tmp/portier-bench-apps-www'
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, 'big'), 'wb') as f:
        f.write(b'b' * (1 << 20))

    def handler(req):
        uri = req.text('URI')
        if uri.startswith('/fcgi-1m'):
            return [packet('FASTCGI', ex + '/fcgi-hello')]
        if uri.startswith('/was-1m'):
            return [packet('WAS', ex + '/was-stream')]
        if uri.startswith('/was'):
            return [packet('WAS', ex + '/was-hello')]
        if uri.startswith('/lhttp'):
            return [packet('LHTTP_PATH', ex + '/lhttp-hello'),
                    packet('LHTTP_URI', '/'),
                    packet('CONCURRENCY', u16(args.conns))]
        if uri.startswith('/cgi'):
            return [packet('CGI', ex + '/cgi-hello')]
        return [packet('PATH', www + '/big')]
    srv = ScriptedTranslationServer(handler)
    srv.start()
    conf = '/tmp/portier-bench-apps.conf'
    with open(conf, 'w') as f:
        if os.geteuid() == 0:
            f.write('spawn {\n  default_user "nobody"\n}\n')
        f.write('set was_stock_max_idle = "%d"\n' % args.conns)
    port = free_port()
    d = Portierd(os.path.join(args.build, 'dataplane', 'portierd'),
                 ['--listen', '127.0.0.1:%d' % port, '--translation-socket',
                  srv.address, '--config', conf], port,
                 '/tmp/portier-bench-apps.log')
    rows = [('WAS hello', '/was'), ('LHTTP hello', '/lhttp'),
            ('CGI hello', '/cgi'),
            ('WAS 1 MiB', '/was-1m?size=1048576&length=1'),
            ('FastCGI 1 MiB', '/fcgi-1m?size=1048576'),
            ('static 1 MiB', '/big')]
    print('| workload | req/s | MiB/s | p50 | p99 |')
    print('|---|---:|---:|---:|---:|')
    try:
        for name, path in rows:
            for _ in range(args.repeat):
                out = subprocess.run(
                    ['wrk', '-t1', '-c%d' % args.conns, '-d' + args.duration,
                     '--latency', 'http://127.0.0.1:%d%s' % (port, path)],
                    capture_output=True, text=True, check=True).stdout
                rps = re.search(r'Requests/sec:\s+([\d.]+)', out).group(1)
                tr = re.search(r'Transfer/sec:\s+([\d.]+)(\w+)', out)
                mib = float(tr.group(1)) * {'B': 1 / 1048576, 'KB': 1 / 1024,
                                            'MB': 1, 'GB': 1024}[tr.group(2)]
                p50 = re.search(r'50%\s+(\S+)', out).group(1)
                p99 = re.search(r'99%\s+(\S+)', out).group(1)
                errs = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
                note = ' (%s errors)' % errs.group(1) if errs else ''
                print('| %s | %s%s | %.1f | %s | %s |' % (
                    name, format(int(float(rps)), ','), note, mib, p50, p99))
                sys.stdout.flush()
    finally:
        d.stop()
        srv.stop()


if __name__ == '__main__':
    main()
