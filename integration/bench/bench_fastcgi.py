"""bench.py --mode fastcgi: FastCGI hello (examples/fastcgi/hello.c,
libfcgi) behind portierd and behind nginx, lighttpd and h2o.

The peers connect to one separately started pool of the same program:
FCGI_PROCS processes sharing a listening unix socket on their fd 0, the
way spawn-fcgi -F N starts them (spawn-fcgi itself is not needed).
portierd spawns and pools the program itself with fastcgi_stock_limit =
FCGI_PROCS.  Every server runs --workers worker processes; the table says
how many processes each side ran.  Same wrk settings as the throughput
mode, servers alternating per round."""
import os
import shutil
import signal
import socket
import subprocess

import bench
from bench import (Server, fmt_rate, fmt_time, log, parse_wrk, probe,
                   run_wrk)

BODY = b'Hello, world!\n'
PEERS = ('nginx', 'lighttpd', 'h2o')


class AppPool:
    """FCGI_PROCS processes of the app on one unix listener (path),
    started the way spawn-fcgi -F N starts them; used when spawn-fcgi is
    not installed."""

    def __init__(self, app, tmp, n):
        self.n = n
        self.path = os.path.join(tmp, 'fcgi-hello.sock')
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(self.path)
        os.chmod(self.path, 0o777)      # nginx workers run as nobody
        sock.listen(1024)
        self.procs = [subprocess.Popen([app], stdin=sock.fileno(),
                                       stdout=subprocess.DEVNULL,
                                       start_new_session=True)
                      for _ in range(n)]
        sock.close()

    def describe(self):
        return 'shared pool of %d, started like spawn-fcgi -F %d' % (
            self.n, self.n)

    def alive(self):
        return sum(1 for p in self.procs if p.poll() is None)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()


class SpawnFcgiPool:
    """FCGI_PROCS processes of the app started by spawn-fcgi -F N on one
    unix socket (as nobody under root, like portierd's children).
    spawn-fcgi forks them and exits; they are stopped by the PIDs of its
    pid file."""

    def __init__(self, app, tmp, n):
        self.n = n
        self.path = os.path.join(tmp, 'fcgi-hello.sock')
        self.pidfile = os.path.join(tmp, 'spawn-fcgi.pids')
        argv = ['spawn-fcgi', '-s', self.path, '-M', '0666', '-F', str(n),
                '-P', self.pidfile]
        if os.geteuid() == 0:
            argv += ['-u', 'nobody', '-g', 'nogroup']
        p = subprocess.run(argv + ['--', app], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=30)
        self.pids = self._read_pids()
        if p.returncode != 0 or len(self.pids) != n:
            self.stop()
            raise RuntimeError('spawn-fcgi failed (%d of %d processes): %s'
                               % (len(self.pids), n, p.stdout.strip()))

    def _read_pids(self):
        try:
            with open(self.pidfile) as f:
                return [int(w) for w in f.read().split()]
        except (OSError, ValueError):
            return []

    def describe(self):
        return 'shared pool of %d, spawn-fcgi -F %d' % (self.n, self.n)

    def alive(self):
        n = 0
        for pid in self.pids:
            try:
                os.kill(pid, 0)
                n += 1
            except ProcessLookupError:
                pass
            except PermissionError:
                n += 1
        return n

    def stop(self):
        for pid in self.pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.pids = []
        try:
            os.unlink(self.path)
        except OSError:
            pass


def nginx_conf(port, tmp, sock, workers):
    return (
        'worker_processes %d;\n'
        'daemon off;\n'
        'pid %s/nginx.pid;\n'
        'error_log %s/nginx.err warn;\n'
        'events { worker_connections 4096; }\n'
        'http {\n'
        '    access_log off;\n'
        '    keepalive_requests 1000000;\n'
        '    client_body_temp_path %s/nginx-body;\n'
        '    fastcgi_temp_path %s/nginx-fastcgi;\n'
        '    proxy_temp_path %s/nginx-proxy;\n'
        '    uwsgi_temp_path %s/nginx-uwsgi;\n'
        '    scgi_temp_path %s/nginx-scgi;\n'
        '    server {\n'
        '        listen 127.0.0.1:%d;\n'
        '        location / {\n'
        '            fastcgi_pass unix:%s;\n'
        '            fastcgi_param REQUEST_METHOD $request_method;\n'
        '            fastcgi_param QUERY_STRING $query_string;\n'
        '            fastcgi_param SCRIPT_FILENAME /hello;\n'
        '        }\n'
        '    }\n'
        '}\n' % (workers, tmp, tmp, tmp, tmp, tmp, tmp, tmp, port, sock))


def lighttpd_conf(port, tmp, sock, workers):
    lines = [
        'server.modules += ( "mod_fastcgi" )',
        'server.document-root = "%s"' % tmp,
        'server.bind = "127.0.0.1"',
        'server.port = %d' % port,
        'server.errorlog = "%s/lighttpd.err"' % tmp,
        'server.max-keep-alive-requests = 1000000',
        'fastcgi.server = ( "/" => (( "socket" => "%s", '
        '"check-local" => "disable" )) )' % sock,
    ]
    if workers > 1:
        lines.append('server.max-worker = %d' % workers)
    return '\n'.join(lines) + '\n'


def h2o_conf(port, tmp, sock, workers):
    lines = ['num-threads: %d' % workers,
             'error-log: %s/h2o.err' % tmp]
    if os.geteuid() == 0:
        lines.append('user: nobody')
    lines += ['listen:', '  host: 127.0.0.1', '  port: %d' % port,
              'hosts:', '  default:', '    paths:', '      /:',
              '        fastcgi.connect:', '          port: %s' % sock,
              '          type: unix']
    return '\n'.join(lines) + '\n'


def portier_conf(procs):
    text = ('# written by integration/bench/bench.py --mode fastcgi\n'
            'set fastcgi_stock_limit = "%d"\n'
            'set fastcgi_stock_max_idle = "%d"\n' % (procs, procs))
    if os.geteuid() == 0:
        text += ('spawn {\n  default_user "nobody"\n'
                 '  allow_user "nobody"\n}\n')
    return text


def make(name, args, tmp, app, pool):
    port = bench.free_port()
    sdir = os.path.join(tmp, name)
    os.makedirs(sdir, exist_ok=True)
    os.chmod(sdir, 0o755)
    if name == 'portier':
        import tplib
        answer = [tplib.packet('FASTCGI', app),
                  tplib.packet('MAX_AGE', tplib.u32(3600))]
        server = bench.make_portier_variant('portier', tmp, args, answer,
                                            portier_conf(args.fcgi_procs),
                                            args.workers)
        return server
    conf = os.path.join(sdir, name + '.conf')
    text = {'nginx': nginx_conf, 'lighttpd': lighttpd_conf,
            'h2o': h2o_conf}[name](port, sdir, pool.path, args.workers)
    with open(conf, 'w') as f:
        f.write(text)
    argv = {'nginx': ['nginx', '-p', sdir + '/', '-e', sdir + '/nginx.err',
                      '-c', conf],
            'lighttpd': ['lighttpd', '-D', '-f', conf],
            'h2o': ['h2o', '-c', conf]}[name]
    return Server(name, argv, port, sdir, args.srv_cpus)


def process_count(server, pool, app):
    """(the server's own processes, the application processes it used):
    for portierd the running copies of app below it (its children are in
    process groups of their own), for a peer the live processes of the
    shared pool."""
    own = len(bench.group_pids(server.pgid))
    if server.name == 'portier':
        apps = 0
        for pid in bench.descendants(server.proc.pid):
            try:
                with open('/proc/%d/cmdline' % pid, 'rb') as f:
                    if f.read().split(b'\0')[0] == app.encode():
                        apps += 1
            except OSError:
                pass
        return own, apps
    return own, pool.alive()


def run(args, tmp):
    """The fastcgi mode; returns the exit status."""
    app = os.path.join(args.build, 'examples', 'fcgi-hello')
    if not os.access(app, os.X_OK):
        print('fastcgi: %s is not built (libfcgi-dev missing?)' % app)
        return 1
    names = [n for n in args.servers if n in PEERS or n == 'portier']
    pool = None
    if shutil.which('spawn-fcgi'):
        try:
            pool = SpawnFcgiPool(app, tmp, args.fcgi_procs)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            print('# %s; the harness starts the pool itself' % e)
    if pool is None:
        pool = AppPool(app, tmp, args.fcgi_procs)
    print('# peers: nginx, lighttpd and h2o connect to one %s of %s '
          '(unix socket, a connection per request, their default); '
          'portierd spawns and pools its own (fastcgi_stock_limit %d)'
          % (pool.describe(), app, args.fcgi_procs))
    servers, order = {}, []
    try:
        for name in names:
            try:
                server = make(name, args, tmp, app, pool)
                bench.start_server(server)
            except RuntimeError as e:
                print('%s: %s' % (name, e))
                continue
            problems, _ = probe(server.port, '/hello', 200, BODY)
            if problems:
                print('%s: %s' % (name, '; '.join(problems)))
                server.stop()
                continue
            servers[name] = server
            order.append(name)
        runs = {n: [] for n in order}
        procs = {}
        for rnd in range(args.repeat):
            turn = order[rnd % len(order):] + order[:rnd % len(order)] \
                if order else []
            for name in turn:
                text = run_wrk(args, 'http://127.0.0.1:%d/hello' %
                               servers[name].port, tmp,
                               'fastcgi-%s-%d' % (name, rnd + 1))
                own, apps = process_count(servers[name], pool, app)
                was = procs.get(name, (0, 0))
                procs[name] = (max(own, was[0]), max(apps, was[1]))
                try:
                    r = parse_wrk(text)
                except ValueError:
                    log('round %d %s: wrk failed' % (rnd + 1, name))
                    continue
                runs[name].append(r)
                log('round %d %-9s %10s req/s  p99 %-8s non-2xx %d, '
                    'socket errors %s' % (
                        rnd + 1, name, fmt_rate(r['rps']),
                        fmt_time(r['latency'].get(99.0)),
                        r.get('non2xx3xx', 0), r['socket_errors'] or '-'))
        print()
        print('| server | requests/s (median, range) | p99 | server '
              'processes | application processes |')
        print('|---|---|---|---:|---:|')
        best_peer = 0.0
        for name in order:
            rs = sorted(runs[name], key=lambda r: r['rps'])
            if not rs:
                print('| %s | no result | | | |' % name)
                continue
            med = rs[len(rs) // 2]
            if name != 'portier':
                best_peer = max(best_peer, med['rps'])
            own, apps = procs.get(name, ('?', '?'))
            print('| %s | %s (%s-%s) | %s | %d | %d%s |' % (
                name, fmt_rate(med['rps']), fmt_rate(rs[0]['rps']),
                fmt_rate(rs[-1]['rps']), fmt_time(med['latency'].get(99.0)),
                own, apps, ' (spawned by portierd)'
                if name == 'portier' else ' (%s)' % pool.describe()))
        if 'portier' in runs and runs['portier'] and best_peer > 0:
            rs = sorted(r['rps'] for r in runs['portier'])
            ratio = rs[len(rs) // 2] / best_peer
            print()
            print('Target (FastCGI hello >= the fastest peer): %s '
                  '(portier/fastest peer = %.2f)' % (
                      'met' if ratio >= 1.0 else 'NOT met', ratio))
    finally:
        for s in servers.values():
            s.stop()
        pool.stop()
    return 0
