#!/usr/bin/python3
"""System calls of portierd's only worker for one 64 MiB request body
(Content-Length, plain connection) to a WAS application and to a CGI
program (examples/was/echo, examples/cgi/echo: both send the body back,
which the client reads): `strace -c` attached to the worker for the
upload, after a 1 MiB warm-up (the WAS process runs, the CGI program is
in the page cache).  Deterministic evidence for docs/performance.md,
"Request bodies into application pipes"; not part of make test.

    /usr/bin/python3 integration/bench/reqbody_strace.py [--build build]
        [--out DIR]

Prints the summary table of each run (DIR/was.strace, DIR/cgi.strace).
Run it against two builds to compare them.  Needs strace and root (or
ptrace rights over portierd)."""
import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from conftest import free_port  # noqa: E402
from test_splice_request import MiB, upload  # noqa: E402
from tplib import ScriptedTranslationServer, packet  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default='build')
    ap.add_argument('--out', default=None)
    ap.add_argument('--size', type=int, default=64, help='MiB')
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    out_dir = a.out or tempfile.mkdtemp(prefix='portier-reqbody-strace.')
    progs = {'was': os.path.join(build, 'examples', 'was-echo'),
             'cgi': os.path.join(build, 'examples', 'cgi-echo')}

    def answer(req):
        kind = 'was' if req.text('URI', '').startswith('/was/') else 'cgi'
        return [packet(kind.upper(), progs[kind])]

    srv = ScriptedTranslationServer(answer)
    srv.start()
    port = free_port()
    conf = os.path.join(out_dir, 'portierd.conf')
    with open(conf, 'w') as f:
        if os.geteuid() == 0:
            f.write('spawn {\n  default_user "nobody"\n'
                    '  allow_user "nobody"\n}\n')
    log = open(os.path.join(out_dir, 'portierd.log'), 'wb')
    p = subprocess.Popen([os.path.join(build, 'dataplane', 'portierd'),
                          '--listen', '127.0.0.1:%d' % port,
                          '--workers', '1', '--translation-socket',
                          srv.address, '--config', conf],
                         stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(200):
            try:
                socket.create_connection(('127.0.0.1', port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        for kind in ('was', 'cgi'):
            status, head, _ = upload(port, '/%s/warm' % kind, MiB)
            assert status == 200, head
            trace = os.path.join(out_dir, kind + '.strace')
            tracer = subprocess.Popen(['strace', '-c', '-o', trace, '-p',
                                       str(p.pid)], stderr=subprocess.PIPE)
            line = tracer.stderr.readline()    # "Process N attached"
            assert b'attached' in line, line
            status, head, body = upload(port, '/%s/up' % kind,
                                        a.size * MiB)
            assert status == 200, head
            time.sleep(0.3)
            tracer.send_signal(signal.SIGINT)
            tracer.wait(30)
            with open(trace) as f:
                print('== %s, %d MiB up (and back)\n%s'
                      % (kind, a.size, f.read()))
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(10)
        srv.stop()


if __name__ == '__main__':
    main()
