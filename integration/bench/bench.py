#!/usr/bin/python3
"""Portier's benchmark harness: portierd against nginx, lighttpd and h2o.

One command (see README.md beside this file):

    /usr/bin/python3 integration/bench/bench.py

Two measurements, both on loopback with the same number of workers per
server (--workers, default 1: nginx worker_processes, lighttpd
server.max-worker, h2o num-threads, portierd --workers):

- throughput: wrk with the same settings against every server, on the same
  files (1 KiB, 64 KiB, 1 MiB) and a missing path (404), several rounds
  with the servers' order rotated each round; a table of the median run,
  the range, latency percentiles, and each server's ratio to the fastest
  peer.
- memory: N idle keep-alive connections (each has sent one request and
  read the answer), the server's resident memory before and after, and
  the cost per connection.
- nfs (only with --mode nfs): portierd serving the 1 KiB and 1 MiB files
  from an NFSv3 export (nfs-ganesha on loopback, integration/nfs_server.py)
  with the NFS cache on and off, next to the same files served locally,
  in one run; the ratio of NFS to local requests/s.
- proxy (only with --mode proxy): nginx, h2o and portierd in front of one
  origin nginx, keep-alive to it, 1 KiB and 1 MiB (issue 6).
- proxy-cache: nginx proxy_cache and portierd's HTTP cache in front of
  an origin sending max-age=3600, 1 KiB (issue 11; h2o 2.2 has no proxy
  cache and is left out).
- cgi: portierd and lighttpd mod_cgi running the same CGI program
  (issue 7).
- fastcgi: FastCGI hello through portierd's own pool and through nginx,
  lighttpd and h2o on a spawn-fcgi pool (bench_fastcgi.py, issue 7).
  apps.py beside this file measures WAS, LHTTP and FastCGI (issue 8).

portierd gets a scripted translation server (integration/tplib.py) that
answers every request with one cacheable response (BASE "/", EASY_BASE,
PATH "<docroot>/", MAX_AGE 3600), so the translation is done once and
the benchmark measures the cached path.  When portierd is not built the
harness says so and still runs the peers.

Standard library only (Debian's /usr/bin/python3).  Every server runs in
its own process group on a free 127.0.0.1 port and is stopped by its PID
when the harness ends; nothing else is touched.
"""
import argparse
import atexit
import contextlib
import http.client
import os
import re
import resource
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.dirname(HERE))   # integration/: tplib, proclib

from proclib import cpu_ticks, group_pids  # noqa: E402
# descendants: for apps.py, apps_count.py and bench_fastcgi.py
from proclib import descendants  # noqa: E402,F401

PEERS = ('nginx', 'lighttpd', 'h2o')
SERVERS = PEERS + ('portier',)
PACKAGES = {'nginx': 'nginx', 'lighttpd': 'lighttpd', 'h2o': 'h2o',
            'wrk': 'wrk', 'curl': 'curl', 'openssl': 'openssl',
            'spawn-fcgi': 'spawn-fcgi',
            'lighttpd-mod-openssl': 'lighttpd-mod-openssl'}
# lighttpd's TLS module is a package of its own, not a command.
LIGHTTPD_OPENSSL = '/usr/lib/lighttpd/mod_openssl.so'
PRESENT = {'lighttpd-mod-openssl':
           lambda name: os.path.exists(LIGHTTPD_OPENSSL)}


def present(name):
    return PRESENT.get(name, shutil.which)(name)

# id -> (label, URL path, expected status, expected body size or None)
WORKLOADS = {
    '1k': ('static 1 KiB', '/1k', 200, 1024),
    '64k': ('static 64 KiB', '/64k', 200, 65536),
    '1m': ('static 1 MiB', '/1m', 200, 1048576),
    '404': ('404 missing file', '/missing', 404, None),
    'cgi': ('CGI hello', '/cgi/hello', 200, None),
}
# What runs without --workloads: the static workloads; `--workloads cgi`
# compares portierd with lighttpd's mod_cgi on examples/cgi/hello.c (the
# other peers have no CGI and are left out of that row).
DEFAULT_WORKLOADS = ('1k', '64k', '1m', '404')
CGI_SERVERS = ('lighttpd', 'portier')
# The servers with a configuration for each proxy mode.  h2o 2.2 (Debian
# 12's 2.2.5) has no proxy cache (its proxy.* directives have none), so
# it is left out of proxy-cache; lighttpd has no cache either.
PROXY_SERVERS = {'proxy': ('nginx', 'h2o', 'portier'),
                 'proxy-cache': ('nginx', 'portier')}
# What each mode runs when --workloads / WORKLOADS is not given.
MODE_WORKLOADS = {'proxy': ('1k', '1m'), 'proxy-cache': ('1k',),
                  'cgi': ('cgi',)}
CGI_BODY = b'Hello, world!\n'
FILES = {'1k': 1024, '64k': 65536, '1m': 1048576}

# The targets: Portier >= the fastest peer on these workloads.
TARGET_WORKLOADS = ('1k', '1m', '404', 'cgi')
MEMORY_TARGET_KIB = 2.0

DEFAULT_PORTIER_CMD = ('{build}/dataplane/portierd --listen 127.0.0.1:{port}'
                       ' --translation-socket {tsock} --config {config}'
                       ' --workers {workers}')
# With --tls the listener is in the configuration file (portier_conf).
DEFAULT_PORTIER_TLS_CMD = ('{build}/dataplane/portierd'
                           ' --translation-socket {tsock} --config {config}'
                           ' --workers {workers}')


def log(msg):
    print('>> ' + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Peer configurations (pure: text from parameters)

def nginx_conf(port, root, tmp, max_conns=4096, idle_timeout=None,
               workers=1, origin=None, tls=None, cache=False):
    """nginx, `workers` worker processes: sendfile, access log off, unlimited keep-alive
    requests, open file cache (lighttpd and h2o cache by default), no
    error-log line per 404, and tcp_nopush left at its default (off: with
    it on, TCP_CORK and delayed ACKs gave a 40 ms p99 at 64 KiB).  With
    origin (a port): a reverse proxy to 127.0.0.1:origin instead, HTTP/1.1
    with upstream keepalive.  tls=(cert, key): HTTPS with TLS 1.2/1.3 and
    a session cache.  cache (with origin): proxy_cache in a keys zone,
    obeying the origin's Cache-Control."""
    idle = ('    keepalive_timeout %ds;\n' % idle_timeout
            if idle_timeout else '')
    upstream = site = ''
    if origin:
        upstream = ('    upstream origin {{ server 127.0.0.1:%d; '
                    'keepalive 64; keepalive_requests 1000000; }}\n'
                    % origin)
        site = ('        location / {{ proxy_pass http://origin; '
                'proxy_http_version 1.1; '
                'proxy_set_header Connection "";%s }}\n'
                % (' proxy_cache bench;' if cache else ''))
        if cache:
            upstream += ('    proxy_cache_path {tmp}/nginx-cache '
                         'keys_zone=bench:10m;\n')
    else:
        site = '        root {root};\n'
    if tls:
        site = ('        ssl_certificate %s;\n'
                '        ssl_certificate_key %s;\n'
                '        ssl_protocols TLSv1.2 TLSv1.3;\n'
                '        ssl_session_cache shared:SSL:10m;\n'
                % tls).replace('{', '{{').replace('}', '}}') + site
    return (
        'worker_processes %d;\n'
        'worker_rlimit_nofile %d;\n'
        'daemon off;\n'
        'pid {tmp}/nginx.pid;\n'
        'error_log {tmp}/nginx.err warn;\n'
        'events {{ worker_connections %d; }}\n'
        'http {{\n'
        '    access_log off;\n'
        '    sendfile on;\n'
        '    keepalive_requests 1000000;\n'
        '%s'
        '    open_file_cache max=1024;\n'
        '    log_not_found off;\n'
        '    default_type application/octet-stream;\n'
        '    client_body_temp_path {tmp}/nginx-body;\n'
        '    proxy_temp_path {tmp}/nginx-proxy;\n'
        '    fastcgi_temp_path {tmp}/nginx-fastcgi;\n'
        '    uwsgi_temp_path {tmp}/nginx-uwsgi;\n'
        '    scgi_temp_path {tmp}/nginx-scgi;\n'
        '%s'
        '    server {{\n'
        '        listen 127.0.0.1:{port}%s;\n'
        '%s'
        '    }}\n'
        '}}\n' % (workers, 2 * max_conns + 64, max_conns, idle, upstream,
                  ' ssl' if tls else '', site)
    ).format(port=port, root=root, tmp=tmp)


def lighttpd_conf(port, root, tmp, max_conns=None, idle_timeout=None,
                  workers=1, tls=None, cgi_program=None):
    """lighttpd, a single process (server.max-worker unset) or, with
    workers > 1, server.max-worker = workers: sendfile is
    its default network backend on Linux, no access log unless
    mod_accesslog is loaded, its stat cache is on by default; keep-alive
    requests made unlimited.  tls=(cert, key): mod_openssl with its
    defaults (TLS 1.2 and 1.3).  With cgi_program, /cgi/hello runs it with
    mod_cgi (a fork and exec per request, like portierd)."""
    lines = []
    if cgi_program:
        lines += ['server.modules += ("mod_alias", "mod_cgi")',
                  'alias.url = ("/cgi/hello" => "%s")' % cgi_program,
                  '$HTTP["url"] =~ "^/cgi/" {',
                  '    cgi.assign = ("" => "")',
                  '}']
    lines += [
        'server.document-root = "%s"' % root,
        'server.bind = "127.0.0.1"',
        'server.port = %d' % port,
        'server.errorlog = "%s/lighttpd.err"' % tmp,
        'server.max-keep-alive-requests = 1000000',
    ]
    if max_conns:
        lines += ['server.max-connections = %d' % max_conns,
                  'server.max-fds = %d' % (2 * max_conns + 64)]
    if idle_timeout:
        lines.append('server.max-keep-alive-idle = %d' % idle_timeout)
    if workers > 1:
        lines.append('server.max-worker = %d' % workers)
    if tls:
        lines += ['server.modules += ("mod_openssl")',
                  'ssl.engine = "enable"',
                  'ssl.pemfile = "%s"' % tls[0],
                  'ssl.privkey = "%s"' % tls[1]]
    return '\n'.join(lines) + '\n'


def h2o_conf(port, root, tmp, max_conns=None, idle_timeout=None,
             as_root=None, workers=1, tls=None, origin=None):
    """h2o, `workers` threads (num-threads): its open-file cache is a
    default, no access log unless configured, no limit on keep-alive
    requests.  (h2o has no sendfile path: it reads files and writes them
    with writev.)  tls=(cert, key): an ssl listener with its defaults.
    With origin (a port): a reverse proxy to 127.0.0.1:origin instead
    (proxy.reverse.url; h2o keeps its upstream connections alive by
    default, proxy.timeout.keepalive 2 s).  h2o 2.2 has no proxy cache."""
    if as_root is None:
        as_root = os.geteuid() == 0
    lines = ['num-threads: %d' % workers,
             'error-log: %s/h2o.err' % tmp]
    if as_root:
        lines.append('user: nobody')
    if max_conns:
        lines.append('max-connections: %d' % max_conns)
    if idle_timeout:
        lines.append('http1-request-timeout: %d' % idle_timeout)
    lines += ['listen:',
              '  host: 127.0.0.1',
              '  port: %d' % port]
    if tls:
        lines += ['  ssl:',
                  '    certificate-file: %s' % tls[0],
                  '    key-file: %s' % tls[1]]
    lines += ['hosts:',
              '  default:',
              '    paths:',
              '      /:']
    if origin:
        lines.append('        proxy.reverse.url: http://127.0.0.1:%d/'
                     % origin)
    else:
        lines.append('        file.dir: %s' % root)
    return '\n'.join(lines) + '\n'


def portier_argv(template, port, tsock, root, tmp, build, config='',
                 workers=1):
    """The portierd command line from its template (split like a shell
    line, then the placeholders replaced in each word): {port}, {tsock}
    (abstract @name), {root}, {tmp}, {build}, {config}, {workers}."""
    values = {'port': str(port), 'tsock': tsock, 'root': root, 'tmp': tmp,
              'build': build, 'config': config, 'workers': str(workers)}
    argv = []
    for word in shlex.split(template):
        for key, value in values.items():
            word = word.replace('{%s}' % key, value)
        argv.append(word)
    return argv


def portier_conf(max_conns=None, tls=None, port=None, cgi=False,
                 http_cache=True):
    """The configuration file behind {config}: nothing but comments for
    the throughput run; max_connections for the memory check (portierd's
    default, 8192, is below 10,000); with tls=(cert, key) the TLS listener
    on 127.0.0.1:port (DEFAULT_PORTIER_TLS_CMD has no --listen); for CGI
    under root, the user the children run as (portierd never starts a
    child as root).  http_cache False: the HTTP cache off (the proxy
    mode measures forwarding)."""
    text = ('# written by integration/bench/bench.py for PORTIER_CMD '
            '--config {config}\n')
    if not http_cache:
        text += 'set http_cache_size = "0"\n'
    if max_conns:
        text += 'set max_connections = "%d"\n' % max_conns
    if tls:
        text += ('listener {\n  bind "127.0.0.1:%d"\n  ssl yes\n'
                 '  ssl_cert "%s" "%s"\n}\n' % (port, tls[0], tls[1]))
    if cgi and os.geteuid() == 0:
        text += 'spawn {\n  default_user "nobody"\n}\n'
    return text


def make_tls_cert(tmp):
    """A self-signed ECDSA P-256 certificate for localhost and 127.0.0.1
    in tmp: (cert path, key path); raises RuntimeError without openssl."""
    cert = os.path.join(tmp, 'bench-cert.pem')
    key = os.path.join(tmp, 'bench-key.pem')
    try:
        subprocess.run(['openssl', 'req', '-x509', '-newkey', 'ec',
                        '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
                        '-keyout', key, '-out', cert, '-subj',
                        '/CN=localhost', '-addext',
                        'subjectAltName=DNS:localhost,IP:127.0.0.1',
                        '-days', '2'], check=True, capture_output=True,
                       timeout=30)
    except (OSError, subprocess.CalledProcessError) as e:
        raise RuntimeError('cannot make a TLS certificate: %s' % e)
    for path in (cert, key):
        os.chmod(path, 0o644)   # nginx/h2o workers run as nobody
    return cert, key


def translation_answer(root):
    """The packets of the one cacheable translation response: valid for
    every URI below "/", the tail appended to the document root."""
    import tplib
    return [tplib.packet('BASE', '/'),
            tplib.packet('EASY_BASE'),
            tplib.packet('PATH', root.rstrip('/') + '/'),
            tplib.packet('MAX_AGE', tplib.u32(3600))]


def cgi_answer(program):
    """The cacheable answer for /cgi/hello: the CGI program."""
    import tplib
    return [tplib.packet('CGI', program),
            tplib.packet('MAX_AGE', tplib.u32(3600))]


def cgi_program(build):
    return os.path.join(build, 'examples', 'cgi-hello')


def translation_answer_proxy(origin):
    """Proxy mode: the one cacheable response sends every URI below "/"
    to the origin server (the tail appended to the URL path)."""
    import tplib
    return [tplib.packet('BASE', '/'),
            tplib.packet('EASY_BASE'),
            tplib.packet('HTTP', 'http://127.0.0.1:%d/' % origin),
            tplib.packet('ADDRESS_STRING', '127.0.0.1:%d' % origin),
            tplib.packet('MAX_AGE', tplib.u32(3600))]


# ---------------------------------------------------------------------------
# wrk output

_TIME_UNITS = {'us': 1e-6, 'ms': 1e-3, 's': 1.0, 'm': 60.0, 'h': 3600.0}
_SIZE_UNITS = {'B': 1, 'KB': 1024, 'MB': 1024 ** 2, 'GB': 1024 ** 3,
               'TB': 1024 ** 4, 'PB': 1024 ** 5}


def parse_time(text):
    """wrk's latency text ('294.00us', '8.11ms', '1.20s') -> seconds."""
    m = re.fullmatch(r'([0-9]+(?:\.[0-9]+)?)(us|ms|s|m|h)?', text.strip())
    if not m:
        raise ValueError('not a wrk time: %r' % text)
    return float(m.group(1)) * _TIME_UNITS[m.group(2) or 's']


def parse_size(text):
    """wrk's byte text ('106.40MB', '512.00B') -> bytes."""
    m = re.fullmatch(r'([0-9.]+)([KMGTP]?B)', text.strip())
    if not m:
        raise ValueError('not a wrk size: %r' % text)
    return float(m.group(1)) * _SIZE_UNITS[m.group(2)]


def parse_wrk(text):
    """The figures of one wrk --latency run; raises ValueError when the
    output has no Requests/sec line (wrk failed)."""
    r = {'latency': {}, 'non2xx3xx': 0, 'socket_errors': {}}
    for line in text.splitlines():
        s = line.strip()
        m = re.match(r'Requests/sec:\s+([0-9.]+)$', s)
        if m:
            r['rps'] = float(m.group(1))
            continue
        m = re.match(r'Transfer/sec:\s+(\S+)$', s)
        if m:
            r['transfer'] = parse_size(m.group(1))
            continue
        m = re.match(r'(\d+(?:\.\d+)?)%\s+(\S+)$', s)
        if m:
            r['latency'][float(m.group(1))] = parse_time(m.group(2))
            continue
        m = re.match(r'Latency\s+(\S+)\s+(\S+)\s+(\S+)', s)
        if m:
            r['lat_avg'] = parse_time(m.group(1))
            r['lat_max'] = parse_time(m.group(3))
            continue
        m = re.match(r'(\d+) requests in ([0-9.]+\w+), (\S+) read$', s)
        if m:
            r['requests'] = int(m.group(1))
            r['duration'] = parse_time(m.group(2))
            r['bytes'] = parse_size(m.group(3))
            continue
        m = re.match(r'wrk CPU seconds:\s+([0-9.]+)$', s)
        if m:
            r['client_cpu_s'] = float(m.group(1))
            continue
        m = re.match(r'Non-2xx or 3xx responses:\s+(\d+)$', s)
        if m:
            r['non2xx3xx'] = int(m.group(1))
            continue
        m = re.match(r'Socket errors:\s+(.*)$', s)
        if m:
            for part in m.group(1).split(','):
                name, _, count = part.strip().partition(' ')
                r['socket_errors'][name] = int(count)
    if 'rps' not in r:
        raise ValueError('no Requests/sec line in the wrk output')
    return r


def run_notes(r, want_status, want_size):
    """Problems one wrk run shows: wrong statuses, socket errors, short
    responses."""
    notes = []
    requests = r.get('requests', 0)
    if want_status == 200 and r['non2xx3xx']:
        notes.append('%d non-2xx/3xx' % r['non2xx3xx'])
    if want_status != 200 and requests and r['non2xx3xx'] < requests:
        notes.append('%d of %d answers were not errors'
                     % (requests - r['non2xx3xx'], requests))
    errors = {k: v for k, v in r['socket_errors'].items() if v}
    if errors:
        notes.append('socket errors ' + ' '.join(
            '%s %d' % kv for kv in sorted(errors.items())))
    if want_size and requests and r.get('bytes') is not None:
        # wrk prints two decimals: allow 1% of rounding.
        if r['bytes'] / requests < want_size * 0.99:
            notes.append('%.0f bytes per response, want > %d'
                         % (r['bytes'] / requests, want_size))
    return notes


# ---------------------------------------------------------------------------
# Formatting

def fmt_rate(rps):
    return '{:,.0f}'.format(rps)


def fmt_time(seconds):
    if seconds is None:
        return '-'
    if seconds < 1e-3:
        return '%.0fus' % (seconds * 1e6)
    if seconds < 1.0:
        return '%.2fms' % (seconds * 1e3)
    return '%.2fs' % seconds


def fmt_bytes(n):
    for unit, size in (('GB', 1024 ** 3), ('MB', 1024 ** 2), ('KB', 1024)):
        if n >= size:
            return '%.2f%s' % (n / size, unit)
    return '%.0fB' % n


# ---------------------------------------------------------------------------
# Summaries (pure: from a list of runs)

def summarize(runs):
    """Runs of one (workload, server) cell -> the median run by req/s
    (the lower middle one for an even count) with the range."""
    ok = sorted((r for r in runs if r.get('rps') is not None),
                key=lambda r: r['rps'])
    if not ok:
        return None
    return {'median': ok[(len(ok) - 1) // 2], 'n': len(ok),
            'lo': ok[0]['rps'], 'hi': ok[-1]['rps']}


def fastest_peer(cells):
    """cells: server -> summary.  The peer with the highest median req/s
    (name, summary), or (None, None) when no peer has a result."""
    best = (None, None)
    for name in PEERS:
        s = cells.get(name)
        if not s or 'median' not in s:
            continue
        if best[1] is None or s['median']['rps'] > best[1]['median']['rps']:
            best = (name, s)
    return best


def workload_label(wl, mode=None):
    """The workload's name in the tables: static files are "proxied"
    in the proxy mode and "cached" in the proxy-cache mode."""
    label = WORKLOADS[wl][0]
    if mode == 'proxy':
        return label.replace('static ', 'proxied ')
    if mode == 'proxy-cache':
        return label.replace('static ', 'cached ')
    return label


def verdicts(results, mode=None):
    """results: workload -> server -> summary.  One line per target
    workload: Portier's req/s ratio and p99 against the fastest peer."""
    lines = []
    for wl in TARGET_WORKLOADS:
        cells = results.get(wl)
        if not cells:
            continue
        peer, best = fastest_peer(cells)
        mine = cells.get('portier')
        label = workload_label(wl, mode)
        if best is None:
            lines.append('- %s: no peer result' % label)
            continue
        if mine is None or 'median' not in mine:
            lines.append('- %s: no Portier result%s' % (
                label, ' (%s)' % mine['failed'] if mine else ''))
            continue
        ratio = mine['median']['rps'] / best['median']['rps']
        p99 = mine['median']['latency'].get(99.0)
        peer_p99 = best['median']['latency'].get(99.0)
        rate_ok = ratio >= 1.0
        lat_ok = (p99 is not None and peer_p99 is not None and
                  p99 <= peer_p99)
        lines.append('- %s: Portier %s req/s = %.2f x %s (%s); p99 %s vs '
                     '%s (%s)' % (
                         label, fmt_rate(mine['median']['rps']), ratio, peer,
                         'met' if rate_ok else 'not met', fmt_time(p99),
                         fmt_time(peer_p99), 'met' if lat_ok else 'not met'))
    return lines


def throughput_table(results, order, mode=None):
    out = ['| workload | server | req/s (median) | range | p50 | p99 | '
           'transfer/s | server CPU | wrk CPU | ratio to fastest peer | '
           'notes |',
           '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|']
    for wl in WORKLOADS:
        cells = results.get(wl)
        if not cells:
            continue
        peer, best = fastest_peer(cells)
        for name in order:
            s = cells.get(name)
            if s is None:
                continue
            if s.get('failed'):
                out.append('| %s | %s | - | - | - | - | - | - | - | - | %s |' % (
                    workload_label(wl, mode), name, s['failed']))
                continue
            m = s['median']
            ratio = ('%.2f' % (m['rps'] / best['median']['rps'])
                     if best else '-')
            if name == peer:
                ratio += ' (fastest)'
            out.append('| %s | %s | %s | %s-%s | %s | %s | %s/s | %s | %s '
                       '| %s | %s |' % (
                           workload_label(wl, mode), name,
                           fmt_rate(m['rps']),
                           fmt_rate(s['lo']), fmt_rate(s['hi']),
                           fmt_time(m['latency'].get(50.0)),
                           fmt_time(m['latency'].get(99.0)),
                           fmt_bytes(m.get('transfer', 0)),
                           '%.0f%%' % m['cpu'] if 'cpu' in m else '-',
                           '%.0f%%' % m['client_cpu'] if 'client_cpu' in m
                           else '-',
                           ratio, '; '.join(s.get('notes', []))))
    return '\n'.join(out)


# ---------------------------------------------------------------------------
# /proc

def cpu_snapshot(path='/proc/stat'):
    """(total, idle, steal) jiffies of all CPUs."""
    with open(path) as f:
        for line in f:
            if line.startswith('cpu '):
                v = [int(x) for x in line.split()[1:9]]
                # user nice system idle iowait irq softirq steal
                return sum(v), v[3] + v[4], v[7]
    raise ValueError('no cpu line in ' + path)


def busy_percent(a, b):
    total = b[0] - a[0]
    return 100.0 * (total - (b[1] - a[1])) / total if total > 0 else 0.0


def steal_percent(a, b):
    total = b[0] - a[0]
    return 100.0 * (b[2] - a[2]) / total if total > 0 else 0.0


def group_rss_kib(pgid):
    """Sum of VmRSS (KiB) over the processes of a group."""
    total = 0
    for pid in group_pids(pgid):
        try:
            with open('/proc/%d/status' % pid) as f:
                for line in f:
                    if line.startswith('VmRSS:'):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def group_cpu_ticks(pgid):
    """utime + stime (clock ticks) summed over the processes of a group."""
    return cpu_ticks(group_pids(pgid))


def callgrind_instructions(pid, tmp):
    """Have callgrind dump the counts of pid (run with --callgrind-out-
    file below tmp), then read the newest dump: (instructions, path)."""
    subprocess.run(['callgrind_control', '-d', str(pid)],
                   check=True, capture_output=True, timeout=60)
    time.sleep(0.5)
    dumps = sorted(p for p in os.listdir(tmp)
                   if p.startswith('callgrind.out.%d' % pid))
    dump = os.path.join(tmp, dumps[-1])
    ir = None
    with open(dump) as f:
        for line in f:
            if line.startswith(('summary:', 'totals:')):
                ir = int(line.split()[1])
    return ir, dump


# ---------------------------------------------------------------------------
# HTTP helpers

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    """True once something accepts on 127.0.0.1:port; False if proc exits
    or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def probe(port, path, want_status, want_body, tls=False):
    """Two GETs on one connection: status, body (size and bytes) and
    keep-alive.  Returns (problems, warnings): a problem (wrong status or
    body, no answer) rules the server out of the workload; a warning (the
    connection was not kept alive) goes into the notes.  With tls, over
    HTTPS (the certificate is not verified), and the negotiated protocol
    and cipher become a note."""
    problems, warnings = [], []
    if tls:
        import ssl
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection('127.0.0.1', port, timeout=5,
                                           context=ctx)
    else:
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=5)
    try:
        for i in range(2):
            conn.request('GET', path)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != want_status:
                problems.append('HTTP %d, want %d' % (resp.status,
                                                      want_status))
                break
            if want_body is not None and body != want_body:
                problems.append('body of %d bytes differs from the file '
                                '(%d bytes)' % (len(body), len(want_body)))
                break
            if i == 0 and resp.will_close:
                warnings.append('connection not kept alive')
            if i == 0 and tls and conn.sock is not None:
                warnings.append('%s %s' % (conn.sock.version(),
                                           conn.sock.cipher()[0]))
    except (OSError, http.client.HTTPException) as e:
        problems.append('%s: %s' % (type(e).__name__, e))
    finally:
        conn.close()
    return problems, warnings


def response_complete(buf):
    """For a buffer holding the start of one HTTP/1.1 response: None while
    incomplete, else (status, total length).  Content-Length and chunked
    framing; raises ValueError on a malformed head."""
    end = buf.find(b'\r\n\r\n')
    if end < 0:
        return None
    head = buf[:end].decode('latin-1').split('\r\n')
    m = re.match(r'HTTP/1\.[01] (\d{3})', head[0])
    if not m:
        raise ValueError('bad status line %r' % head[0])
    status = int(m.group(1))
    length, chunked = None, False
    for line in head[1:]:
        name, _, value = line.partition(':')
        name = name.strip().lower()
        if name == 'content-length':
            length = int(value.strip())
        elif name == 'transfer-encoding' and 'chunked' in value.lower():
            chunked = True
    body = end + 4
    if chunked:
        stop = buf.find(b'\r\n0\r\n\r\n', body - 2)
        return None if stop < 0 else (status, stop + 7)
    if length is None:
        raise ValueError('response without Content-Length')
    return (status, body + length) if len(buf) >= body + length else None


def open_idle_connections(port, path, n, parallel=128, timeout=60.0):
    """Open n connections to 127.0.0.1:port; on each send one GET and read
    the whole answer, then leave it open and idle.  Returns (sockets,
    problems)."""
    request = ('GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n'
               % (path, port)).encode()
    sel = selectors.DefaultSelector()
    done, problems = [], []
    started = 0
    in_flight = 0
    deadline = time.monotonic() + timeout

    def start_one():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.connect_ex(('127.0.0.1', port))
        sel.register(s, selectors.EVENT_WRITE, {'state': 'connect',
                                                'buf': b''})

    try:
        while len(done) + len(problems) < n:
            while in_flight < parallel and started < n:
                start_one()
                started += 1
                in_flight += 1
            if time.monotonic() > deadline:
                problems.append('timed out with %d connections pending'
                                % in_flight)
                break
            for key, _ in sel.select(timeout=1.0):
                s, st = key.fileobj, key.data
                try:
                    if st['state'] == 'connect':
                        err = s.getsockopt(socket.SOL_SOCKET,
                                           socket.SO_ERROR)
                        if err:
                            raise OSError(err, os.strerror(err))
                        s.sendall(request)
                        st['state'] = 'read'
                        sel.modify(s, selectors.EVENT_READ, st)
                        continue
                    data = s.recv(262144)
                    if not data:
                        raise OSError('closed before the answer was read')
                    st['buf'] += data
                    got = response_complete(st['buf'])
                    if got is None:
                        continue
                    if got[0] != 200:
                        raise OSError('HTTP %d' % got[0])
                    sel.unregister(s)
                    in_flight -= 1
                    done.append(s)
                except (OSError, ValueError) as e:
                    sel.unregister(s)
                    s.close()
                    in_flight -= 1
                    problems.append(str(e))
    finally:
        for key in list(sel.get_map().values()):
            key.fileobj.close()
        sel.close()
    return done, problems


def count_still_open(socks):
    """How many of the idle connections the server has not closed."""
    alive = 0
    for s in socks:
        try:
            data = s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            if data:
                alive += 1   # unexpected bytes, but open
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    return alive


def raise_nofile(want):
    """Raise RLIMIT_NOFILE (soft, and hard when allowed) to at least want;
    servers started later inherit it.  Returns the soft limit reached."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            want = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


# ---------------------------------------------------------------------------
# Servers

class Server:
    """One server under test, in its own process group (its PID)."""

    def __init__(self, name, argv, port, tmp, cpus=None):
        self.name, self.argv, self.port, self.tmp = name, argv, port, tmp
        self.cpus = cpus
        self.proc = None
        self.tserver = None   # Portier's translation server

    def start(self):
        argv = self.argv
        if self.cpus:
            argv = ['taskset', '-c', self.cpus] + argv
        out = open(os.path.join(self.tmp, self.name + '.log'), 'ab')
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=out,
                                         cwd=self.tmp,
                                         start_new_session=True)
        finally:
            out.close()
        _STARTED.append(self)
        up = wait_port(self.port, self.proc)
        if up:
            time.sleep(0.2)   # a server that dies right after listening
            up = self.proc.poll() is None
        if not up:
            tail = self.log_tail()
            self.stop()
            raise RuntimeError('%s did not listen on 127.0.0.1:%d%s' % (
                self.name, self.port, (': ' + tail) if tail else ''))

    def log_tail(self):
        text = ''
        for suffix in ('.log', '.err'):
            try:
                with open(os.path.join(self.tmp, self.name + suffix),
                          errors='replace') as f:
                    text += f.read()
            except OSError:
                pass
        return ' | '.join(text.strip().splitlines()[-3:])

    @property
    def pgid(self):
        return self.proc.pid

    def stop(self):
        if self.proc is not None and self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            # the leader may be gone while its workers linger (the group
            # keeps its id while any member lives)
            if group_pids(self.proc.pid):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self.tserver is not None:
            self.tserver.stop()
            self.tserver = None
        if self in _STARTED:
            _STARTED.remove(self)


_STARTED = []


def _stop_all():
    for server in list(_STARTED):
        server.stop()


def make_server(name, tmp, root, args, memory_mode=False):
    """The Server for name (not started), or raises RuntimeError with the
    reason it cannot run."""
    port = free_port()
    sdir = os.path.join(tmp, name)
    os.makedirs(sdir, exist_ok=True)
    os.chmod(sdir, 0o755)
    limits = {'workers': args.workers}
    if memory_mode:
        # Headroom: nginx starts closing idle keep-alive connections when
        # fewer than 1/16 of its worker_connections are free.
        limits.update({'max_conns': args.conns_idle * 5 // 4 + 256,
                       'idle_timeout': 300})
    origin = getattr(args, 'origin_port', None)
    mode = getattr(args, 'mode', '')
    if origin and name not in PROXY_SERVERS.get(mode, ()):
        raise RuntimeError('no %s configuration for %s' % (mode, name))
    tls = getattr(args, 'tls_files', None)
    if tls:
        limits['tls'] = tls
    if name == 'nginx':
        path = os.path.join(sdir, 'nginx.conf')
        with open(path, 'w') as f:
            f.write(nginx_conf(port, root, sdir, origin=origin,
                               cache=getattr(args, 'mode', '') ==
                               'proxy-cache', **limits))
        argv = ['nginx', '-p', sdir + '/', '-e', sdir + '/nginx.err',
                '-c', path]
    elif name == 'lighttpd':
        path = os.path.join(sdir, 'lighttpd.conf')
        if 'cgi' in getattr(args, 'workloads', ()) and not memory_mode:
            limits['cgi_program'] = cgi_program(args.build)
        with open(path, 'w') as f:
            f.write(lighttpd_conf(port, root, sdir, **limits))
        argv = ['lighttpd', '-D', '-f', path]
    elif name == 'h2o':
        path = os.path.join(sdir, 'h2o.conf')
        with open(path, 'w') as f:
            f.write(h2o_conf(port, root, sdir, origin=origin, **limits))
        argv = ['h2o', '-c', path]
    elif name == 'portier':
        import tplib
        tsock = '@portier-bench-%d-%d' % (os.getpid(), port)
        config = os.path.join(sdir, 'portierd.conf')
        cgi = 'cgi' in getattr(args, 'workloads', ()) and not memory_mode
        with open(config, 'w') as f:
            f.write(portier_conf(limits.get('max_conns'), tls, port, cgi,
                                 http_cache=getattr(args, 'mode', '') !=
                                 'proxy'))
        argv = portier_argv(args.portier_cmd, port, tsock, root, sdir,
                            args.build, config, args.workers)
        if not argv:
            raise RuntimeError('the portierd command is empty')
        exe = argv[0]
        if not (os.access(exe, os.X_OK) if '/' in exe
                else shutil.which(exe)):
            raise RuntimeError('portierd not built: skipped (%s is missing)'
                               % exe)
        server = Server(name, argv, port, sdir, args.srv_cpus)
        answer = (translation_answer_proxy(origin) if origin
                  else translation_answer(root))
        cgi_packets = cgi_answer(cgi_program(args.build))
        server.tserver = tplib.ScriptedTranslationServer(
            handler=lambda req: cgi_packets
            if req.text('URI', '').startswith('/cgi/') else answer,
            address=tsock)
        return server
    else:
        raise RuntimeError('unknown server %s' % name)
    return Server(name, argv, port, sdir, args.srv_cpus)


def start_server(server):
    if server.tserver is not None:
        server.tserver.start()
    server.start()


# ---------------------------------------------------------------------------
# Setup

def install_missing(names, allow):
    """apt-get install the Debian packages of the missing commands, with a
    temporary policy-rc.d so apt starts no system service."""
    need = sorted({PACKAGES[n] for n in names if not present(n)})
    if not need:
        return []
    if not allow:
        return need
    if os.geteuid() != 0:
        log('missing %s and not root: install them or run as root'
            % ' '.join(need))
        return need
    log('apt-get install ' + ' '.join(need))
    policy = '/usr/sbin/policy-rc.d'
    added = False
    if not os.path.exists(policy):
        with open(policy, 'w') as f:
            f.write('#!/bin/sh\n# portier bench: no services from apt\n'
                    'exit 101\n')
        os.chmod(policy, 0o755)
        added = True
    try:
        env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
        rc = subprocess.run(['apt-get', '-o', 'DPkg::Lock::Timeout=600',
                             'install', '-y', '-q', '--no-install-recommends']
                            + need, env=env, stdout=sys.stderr).returncode
        if rc != 0:
            subprocess.run(['apt-get', 'update', '-q'], env=env,
                           stdout=sys.stderr)
            subprocess.run(['apt-get', '-o', 'DPkg::Lock::Timeout=600',
                            'install', '-y', '-q',
                            '--no-install-recommends'] + need, env=env,
                           stdout=sys.stderr)
    finally:
        if added:
            os.unlink(policy)
    return sorted({PACKAGES[n] for n in names if not present(n)})


def make_docroot(tmp):
    root = os.path.join(tmp, 'www')
    os.makedirs(root)
    contents = {}
    for name, size in FILES.items():
        data = os.urandom(size)
        with open(os.path.join(root, name), 'wb') as f:
            f.write(data)
        os.chmod(os.path.join(root, name), 0o644)
        contents[name] = data
    os.chmod(root, 0o755)
    return root, contents


def versions():
    out = []
    for argv in (['nginx', '-v'], ['lighttpd', '-v'], ['h2o', '--version'],
                 ['wrk', '-v']):
        if not shutil.which(argv[0]):
            continue
        p = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        first = (p.stdout.strip().splitlines() or [''])[0]
        out.append(first.split(' [')[0].split(' - ')[0])
    return out


def loadavg():
    with open('/proc/loadavg') as f:
        return ' '.join(f.read().split()[:3])


# ---------------------------------------------------------------------------
# The two modes

def run_wrk(args, url, tmp, tag):
    argv = ['wrk', '-t%d' % args.threads, '-c%d' % args.conns,
            '-d%s' % args.duration, '--latency', url]
    if args.wrk_cpus:
        argv = ['taskset', '-c', args.wrk_cpus] + argv
    # wrk's own CPU time (user + system), from the rusage of reaped
    # children: it tells whether the client was the bottleneck
    u0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True,
                           timeout=parse_time(args.duration) + 60)
        text = p.stdout
        u1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        text += '\nwrk CPU seconds: %.3f\n' % (
            u1.ru_utime - u0.ru_utime + u1.ru_stime - u0.ru_stime)
    except subprocess.TimeoutExpired as e:
        text = (e.stdout or b'').decode(errors='replace') + '\nwrk timed out'
    with open(os.path.join(tmp, 'wrk-%s.txt' % tag), 'w') as f:
        f.write(text)
    return text


def throughput(args, names, tmp, root, contents):
    servers, order = {}, []
    for name in names:
        try:
            server = make_server(name, tmp, root, args)
            start_server(server)
        except RuntimeError as e:
            print('%s' % e if 'not built' in str(e) else
                  '%s: %s' % (name, e))
            continue
        servers[name] = server
        order.append(name)
        n = len(group_pids(server.pgid))
        log('%s on 127.0.0.1:%d, %d process(es) in its group'
            % (name, server.port, n))
        want = 1 if args.workers == 1 else args.workers + 1
        if name == 'portier' and n != want:
            print('note: portierd runs %d processes; --workers %d means %d '
                  '(adapt --portier-cmd)' % (n, args.workers, want))

    results = {wl: {} for wl in args.workloads}
    machine = {'other': [], 'steal': []}
    runs = {(wl, name): [] for wl in args.workloads for name in order}
    extra = {(wl, name): [] for wl in args.workloads for name in order}
    usable = {}
    for wl in args.workloads:
        label, path, status, size = WORKLOADS[wl]
        body = contents.get(wl) if status == 200 else None
        if wl == 'cgi':
            body = CGI_BODY
        for name in order:
            if wl == 'cgi' and name not in CGI_SERVERS:
                usable[(wl, name)] = False
                continue
            problems, warnings = probe(servers[name].port, path, status,
                                       body, tls=getattr(args, 'tls', False))
            extra[(wl, name)] += warnings
            usable[(wl, name)] = not problems
            if problems:
                results[wl][name] = {'failed': 'probe failed: ' +
                                     '; '.join(problems)}
                log('%s %s: probe failed: %s' % (wl, name,
                                                 '; '.join(problems)))

    for rnd in range(args.repeat):
        turn = order[rnd % len(order):] + order[:rnd % len(order)] \
            if order else []
        for wl in args.workloads:
            label, path, status, size = WORKLOADS[wl]
            for name in turn:
                if not usable[(wl, name)]:
                    continue
                server = servers[name]
                notes = []
                if args.idle_sample > 0:
                    a = cpu_snapshot()
                    time.sleep(args.idle_sample)
                    b = cpu_snapshot()
                    other = busy_percent(a, b)
                    machine['other'].append(other)
                    if other > 10:
                        notes.append('other load %.0f%%' % other)
                s0, c0, t0 = cpu_snapshot(), group_cpu_ticks(server.pgid), \
                    time.monotonic()
                text = run_wrk(args, '%s://127.0.0.1:%d%s'
                               % ('https' if getattr(args, 'tls', False)
                                  else 'http', server.port, path), tmp,
                               '%s-%s-%d' % (wl, name, rnd + 1))
                s1, c1, t1 = cpu_snapshot(), group_cpu_ticks(server.pgid), \
                    time.monotonic()
                steal = steal_percent(s0, s1)
                machine['steal'].append(steal)
                if steal > 2:
                    notes.append('steal %.0f%%' % steal)
                try:
                    r = parse_wrk(text)
                except ValueError:
                    last = (text.strip().splitlines() or ['no output'])[-1]
                    extra[(wl, name)].append('round %d: wrk failed: %s'
                                             % (rnd + 1, last))
                    log('round %d %s %s: wrk failed: %s'
                        % (rnd + 1, wl, name, last))
                    continue
                r['cpu'] = 100.0 * (c1 - c0) / os.sysconf('SC_CLK_TCK') \
                    / (t1 - t0)
                if 'client_cpu_s' in r:
                    r['client_cpu'] = 100.0 * r['client_cpu_s'] / (t1 - t0)
                notes += run_notes(r, status, size)
                runs[(wl, name)].append(r)
                extra[(wl, name)] += ['round %d: %s' % (rnd + 1, n)
                                      for n in notes]
                log('round %d %-4s %-8s %10s req/s  p99 %-8s %s' % (
                    rnd + 1, wl, name, fmt_rate(r['rps']),
                    fmt_time(r['latency'].get(99.0)), '; '.join(notes)))

    for (wl, name), rs in runs.items():
        if not usable[(wl, name)]:
            continue
        s = summarize(rs)
        if s is None:
            results[wl][name] = {'failed': '; '.join(extra[(wl, name)])
                                 or 'no result'}
            continue
        s['notes'] = extra[(wl, name)]
        results[wl][name] = s

    if 'portier' in servers and servers['portier'].tserver is not None:
        n = servers['portier'].tserver.count()
        # The probe warms one worker's cache; another worker's cache is
        # cold when wrk starts, and its first concurrent requests (up to
        # one per connection) each ask before the answer is cached.
        expected = len(args.workloads) * 2 + (args.workers - 1) * args.conns
        print('portier: %d translation request(s) in the whole run%s' % (
            n, '' if n <= expected else
            ' (more than expected: is the translation cached?)'))
    for server in servers.values():
        server.stop()
    return results, order, machine


def machine_line(machine):
    """One line on the machine's state during a throughput run."""
    parts = []
    if machine['other']:
        o = sorted(machine['other'])
        parts.append('other CPU load before the runs: median %.0f%%, max '
                     '%.0f%%' % (o[(len(o) - 1) // 2], o[-1]))
    if machine['steal']:
        parts.append('VM steal during the runs: max %.0f%%'
                     % max(machine['steal']))
    line = '# ' + '; '.join(parts) if parts else ''
    if machine['other'] and sorted(machine['other'])[
            (len(machine['other']) - 1) // 2] > 10:
        line += ('\n# WARNING: something else kept the CPUs busy: these '
                 'numbers are not a benchmark')
    return line


def memory(args, names, tmp, root):
    want = args.conns_idle * 2 + 512
    got = raise_nofile(want)
    if got < args.conns_idle + 64:
        print('memory: RLIMIT_NOFILE is %d, too low for %d connections'
              % (got, args.conns_idle))
        return []
    rows = []
    for name in names:
        try:
            server = make_server(name, tmp, root, args, memory_mode=True)
            start_server(server)
        except RuntimeError as e:
            print('%s' % e if 'not built' in str(e) else
                  '%s: %s' % (name, e))
            continue
        try:
            rows.append(memory_one(args, server))
        finally:
            server.stop()
    return rows


def memory_one(args, server):
    # Warm up: a few connections opened and closed, so one-time
    # allocations (buffers, caches, the file's first open) are in "before".
    warm, problems = open_idle_connections(server.port, '/1k', 64)
    for s in warm:
        s.close()
    time.sleep(0.5)
    before = group_rss_kib(server.pgid)
    t0 = time.monotonic()
    socks, problems = open_idle_connections(server.port, '/1k',
                                            args.conns_idle)
    took = time.monotonic() - t0
    time.sleep(1.0)
    after = group_rss_kib(server.pgid)
    alive = count_still_open(socks)
    nprocs = len(group_pids(server.pgid))
    for s in socks:
        s.close()
    row = {'server': server.name, 'opened': len(socks), 'alive': alive,
           'before': before, 'after': after, 'procs': nprocs,
           'took': took, 'problems': problems}
    if socks:
        row['per_conn'] = (after - before) / len(socks)
    log('memory %s: %d opened in %.1f s (%d still open), RSS %d -> %d KiB'
        % (server.name, len(socks), took, alive, before, after))
    return row


def memory_table(rows, n):
    out = ['| server | idle connections (still open) | RSS before | '
           'RSS after | KiB per connection | processes | notes |',
           '|---|---:|---:|---:|---:|---:|---|']
    for r in rows:
        notes = []
        if r['opened'] < n:
            notes.append('%d of %d failed: %s' % (
                n - r['opened'], n, _first_kinds(r['problems'])))
        if r['alive'] < r['opened']:
            notes.append('%d closed by the server within 1 s'
                         % (r['opened'] - r['alive']))
        if r['server'] == 'portier' and 'per_conn' in r:
            notes.append('target <= %.0f KiB: %s' % (
                MEMORY_TARGET_KIB, 'met' if r['per_conn'] <= MEMORY_TARGET_KIB
                else 'not met'))
        out.append('| %s | %d (%d) | %d KiB | %d KiB | %s | %d | %s |' % (
            r['server'], r['opened'], r['alive'], r['before'], r['after'],
            '%.2f' % r['per_conn'] if 'per_conn' in r else '-',
            r['procs'], '; '.join(notes)))
    return '\n'.join(out)


def _first_kinds(problems):
    kinds = {}
    for p in problems:
        kinds[p] = kinds.get(p, 0) + 1
    return ', '.join('%s (%d)' % kv for kv in list(kinds.items())[:3])


# ---------------------------------------------------------------------------

# ---------------------------------------------------------------------------
# NFS: portierd on NFS (cache on and off) next to portierd on local files

NFS_WORKLOADS = ('1k', '1m')
NFS_TARGET_RATIO = 1.2     # small files, cache on: within 1.2x of local


def nfs_translation_answer(export):
    """Like translation_answer(), with the files on NFS."""
    import tplib
    return [tplib.packet('BASE', '/'),
            tplib.packet('EASY_BASE'),
            tplib.packet('NFS_SERVER', '127.0.0.1'),
            tplib.packet('NFS_EXPORT', export),
            tplib.packet('PATH', '/'),
            tplib.packet('MAX_AGE', tplib.u32(3600))]


def nfs_conf(ganesha, cache_size):
    return ('# written by integration/bench/bench.py --mode nfs\n'
            'set nfs_port = "%d"\nset nfs_mount_port = "%d"\n'
            'set nfs_cache_size = "%s"\n'
            % (ganesha.nfs_port, ganesha.mount_port, cache_size))


def make_portier_variant(name, tmp, args, answer, conf_text, workers=1):
    """A portierd Server (not started) with its own translation server and
    configuration file, `workers` worker processes."""
    import tplib
    port = free_port()
    sdir = os.path.join(tmp, name)
    os.makedirs(sdir, exist_ok=True)
    tsock = '@portier-bench-%d-%d' % (os.getpid(), port)
    config = os.path.join(sdir, 'portierd.conf')
    with open(config, 'w') as f:
        f.write(conf_text)
    argv = portier_argv(args.portier_cmd, port, tsock, '', sdir, args.build,
                        config, workers)
    exe = argv[0] if argv else ''
    if not (os.access(exe, os.X_OK) if '/' in exe else shutil.which(exe)):
        raise RuntimeError('portierd not built: skipped (%s is missing)'
                           % exe)
    server = Server(name, argv, port, sdir, args.srv_cpus)
    server.tserver = tplib.ScriptedTranslationServer(
        handler=lambda req: answer, address=tsock)
    return server


def nfs_table(results, order):
    """results: workload -> variant -> summary.  Requests/s (median and
    range) and the ratio to local files."""
    head = '| workload | ' + ' | '.join(order) + ' |'
    lines = [head, '|' + '---|' * (len(order) + 1)]
    for wl in NFS_WORKLOADS:
        cells = results.get(wl, {})
        local = cells.get('local')
        row = [WORKLOADS[wl][0]]
        for name in order:
            c = cells.get(name)
            if not c or 'median' not in c:
                row.append((c or {}).get('failed', 'no result'))
                continue
            text = '%s req/s (%s-%s), %.1f us CPU/req' % (
                fmt_rate(c['median']['rps']), fmt_rate(c['lo']),
                fmt_rate(c['hi']), c['median']['cpu_us'])
            if name != 'local' and local and 'median' in local:
                text += ', local/NFS %.2fx' % (local['median']['rps'] /
                                               c['median']['rps'])
            row.append(text)
        lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


def nfs_run(args, tmp, root, contents):
    """The nfs mode.  Returns the exit status."""
    sys.path.insert(0, os.path.dirname(HERE))
    import nfs_server
    reason = nfs_server.why_unavailable()
    if reason:
        print('nfs: %s' % reason)
        return 1
    ndir = os.path.join(tmp, 'nfs')
    os.makedirs(ndir)
    rpc = nfs_server.Rpcbind(ndir)
    rpc.start()
    ganesha = nfs_server.Ganesha(ndir, root)
    try:
        ganesha.start()
        variants = [
            ('local', translation_answer(root), portier_conf()),
            ('nfs-cache', nfs_translation_answer(root),
             nfs_conf(ganesha, '64 MB')),
            ('nfs-nocache', nfs_translation_answer(root),
             nfs_conf(ganesha, '0')),
        ]
        servers, order = {}, []
        for name, answer, conf in variants:
            server = make_portier_variant(name, tmp, args, answer, conf)
            start_server(server)
            servers[name] = server
            order.append(name)
        runs = {(wl, n): [] for wl in NFS_WORKLOADS for n in order}
        results = {wl: {} for wl in NFS_WORKLOADS}
        for wl in NFS_WORKLOADS:
            label, path, status, size = WORKLOADS[wl]
            for name in order:
                problems, _ = probe(servers[name].port, path, status,
                                    contents[wl])
                if problems:
                    results[wl][name] = {'failed': '; '.join(problems)}
        for rnd in range(args.repeat):
            turn = order[rnd % len(order):] + order[:rnd % len(order)]
            for wl in NFS_WORKLOADS:
                path = WORKLOADS[wl][1]
                for name in turn:
                    if name in results[wl]:
                        continue
                    c0 = group_cpu_ticks(servers[name].pgid)
                    text = run_wrk(args, 'http://127.0.0.1:%d%s' % (
                        servers[name].port, path), tmp,
                        'nfs-%s-%s-%d' % (wl, name, rnd + 1))
                    c1 = group_cpu_ticks(servers[name].pgid)
                    try:
                        r = parse_wrk(text)
                    except ValueError:
                        log('round %d %s %s: wrk failed' % (rnd + 1, wl,
                                                           name))
                        continue
                    # portierd's own CPU per request: steadier than req/s
                    # when other processes share the cores.
                    r['cpu_us'] = 1e6 * (c1 - c0) / os.sysconf(
                        'SC_CLK_TCK') / max(r.get('requests', 1), 1)
                    notes = run_notes(r, 200, WORKLOADS[wl][3])
                    runs[(wl, name)].append(r)
                    log('round %d %-3s %-12s %10s req/s  p99 %-8s '
                        '%5.1f us CPU/req %s' % (
                            rnd + 1, wl, name, fmt_rate(r['rps']),
                            fmt_time(r['latency'].get(99.0)), r['cpu_us'],
                            '; '.join(notes)))
        for (wl, name), rs in runs.items():
            if name in results[wl]:
                continue
            s = summarize(rs)
            results[wl][name] = s if s else {'failed': 'no result'}
        print()
        print(nfs_table(results, order))
        local = results['1k'].get('local', {})
        cached = results['1k'].get('nfs-cache', {})
        if 'median' in local and 'median' in cached:
            ratio = local['median']['rps'] / cached['median']['rps']
            print()
            cpu = cached['median']['cpu_us'] / local['median']['cpu_us']
            print('Target: 1 KiB from NFS with the cache within %.1fx of '
                  'local files: local/NFS req/s %.2fx, %s; portierd CPU per '
                  'request NFS/local %.2fx' % (
                      NFS_TARGET_RATIO, ratio,
                      'met' if ratio <= NFS_TARGET_RATIO else 'NOT met',
                      cpu))
        for server in servers.values():
            server.stop()
    finally:
        ganesha.stop()
        rpc.stop()
    return 0


def parse_args(argv=None):
    env = os.environ.get
    ap = argparse.ArgumentParser(
        description='Benchmark portierd against nginx, lighttpd and h2o '
        '(--workers each, loopback, wrk).  Every option has an environment '
        'variable named in its help.')
    ap.add_argument('--mode', choices=('all', 'throughput', 'memory',
                                       'nfs', 'proxy', 'proxy-cache',
                                       'fastcgi', 'cgi'),
                    default=env('MODE', 'all'),
                    help='MODE [all]; none of the following is part of '
                    'all: nfs: portierd on NFS against local files; '
                    'proxy: nginx (proxy_pass, upstream keepalive), h2o '
                    '(proxy.reverse.url) and portierd (HTTP address, '
                    'HTTP cache off) in front of one origin nginx, 1k and '
                    '1m; proxy-cache: nginx proxy_cache and portierd\'s '
                    'HTTP cache, the origin sending Cache-Control: '
                    'max-age=3600, 1k (h2o 2.2 has no proxy cache); '
                    'fastcgi: FastCGI hello against nginx, lighttpd and '
                    'h2o (bench_fastcgi.py); cgi: CGI hello against '
                    'lighttpd mod_cgi, the same program')
    ap.add_argument('--fcgi-procs', type=int,
                    default=int(env('FCGI_PROCS', '1')),
                    help='FCGI_PROCS: FastCGI application processes of '
                    'each server in the fastcgi mode [%(default)s]')
    ap.add_argument('--servers', default=env('SERVERS', ','.join(SERVERS)),
                    help='SERVERS, comma-separated [%(default)s]')
    ap.add_argument('--workloads', default=env('WORKLOADS'),
                    help='WORKLOADS, comma-separated [%s; proxy: 1k,1m; '
                    'proxy-cache: 1k; cgi: cgi]' % ','.join(
                        DEFAULT_WORKLOADS))
    ap.add_argument('--repeat', type=int, default=int(env('REPEAT', '3')),
                    help='REPEAT: wrk runs per cell, servers alternating '
                    '[%(default)s]')
    ap.add_argument('--workers', type=int, default=int(env('WORKERS', '1')),
                    help='WORKERS: worker processes (threads for h2o) of '
                    'every server [%(default)s]')
    ap.add_argument('--threads', type=int,
                    default=int(env('WRK_THREADS', '1')),
                    help='WRK_THREADS [%(default)s]')
    ap.add_argument('--conns', type=int, default=int(env('WRK_CONNS', '32')),
                    help='WRK_CONNS [%(default)s]')
    ap.add_argument('--duration', default=env('WRK_DURATION', '5s'),
                    help='WRK_DURATION [%(default)s]')
    ap.add_argument('--idle-sample', type=float,
                    default=float(env('IDLE_SAMPLE', '1')),
                    help='IDLE_SAMPLE: seconds of other load measured '
                    'before each run, 0 = off [%(default)s]')
    ap.add_argument('--conns-idle', type=int,
                    default=int(env('MEM_CONNS', '10000')),
                    help='MEM_CONNS: idle connections of the memory check '
                    '[%(default)s]')
    ap.add_argument('--build', default=env('PORTIER_BUILD',
                                           os.path.join(ROOT, 'build')),
                    help='PORTIER_BUILD [%(default)s]')
    ap.add_argument('--portier-cmd', default=env('PORTIER_CMD'),
                    help='PORTIER_CMD: portierd command line, placeholders '
                    '{build} {port} {tsock} {root} {tmp} {config} '
                    '{workers} [%s; with --tls %s]'
                    % (DEFAULT_PORTIER_CMD, DEFAULT_PORTIER_TLS_CMD))
    ap.add_argument('--wrk-cpus', default=env('WRK_CPUS'),
                    help='WRK_CPUS: taskset CPU list for wrk')
    ap.add_argument('--srv-cpus', default=env('SRV_CPUS'),
                    help='SRV_CPUS: taskset CPU list for every server')
    ap.add_argument('--no-install', action='store_true',
                    default=env('NO_INSTALL') == '1',
                    help='NO_INSTALL=1: never run apt-get')
    ap.add_argument('--tls', action='store_true',
                    default=env('TLS') == '1',
                    help='TLS=1: the throughput run over HTTPS (one '
                    'certificate for every server; no memory check)')
    ap.add_argument('--keep-tmp', action='store_true',
                    default=env('KEEP_TMP') == '1',
                    help='KEEP_TMP=1: keep configs, logs and wrk output')
    args = ap.parse_args(argv)
    args.servers = [s for s in args.servers.replace(' ', ',').split(',') if s]
    if args.workloads is None:
        args.workloads = ','.join(MODE_WORKLOADS.get(args.mode,
                                                     DEFAULT_WORKLOADS))
    args.workloads = [w for w in args.workloads.replace(' ', ',').split(',')
                      if w]
    for s in args.servers:
        if s not in SERVERS:
            ap.error('unknown server %r (known: %s)' % (s, ', '.join(SERVERS)))
    for w in args.workloads:
        if w not in WORKLOADS:
            ap.error('unknown workload %r (known: %s)'
                     % (w, ', '.join(WORKLOADS)))
    if args.repeat < 1:
        ap.error('--repeat must be at least 1')
    if not 1 <= args.workers <= 256:
        ap.error('--workers must be from 1 to 256')
    try:
        parse_time(args.duration)
    except ValueError:
        ap.error('--duration like 5s or 500ms')
    args.build = os.path.abspath(args.build)
    if args.portier_cmd is None:
        args.portier_cmd = (DEFAULT_PORTIER_TLS_CMD if args.tls
                            else DEFAULT_PORTIER_CMD)
    if args.tls and args.mode not in ('all', 'throughput'):
        ap.error('--tls measures throughput only (--mode throughput)')
    if args.tls:
        args.mode = 'throughput'
    return args


@contextlib.contextmanager
def bench_tmp(args):
    """A new temporary directory for a run (mode 0755: nginx workers and
    h2o run as nobody under root); at the end every server is stopped
    and the directory removed, unless --keep-tmp."""
    tmp = tempfile.mkdtemp(prefix='portier-bench.')
    os.chmod(tmp, 0o755)
    try:
        yield tmp
    finally:
        _stop_all()
        if args.keep_tmp:
            log('kept ' + tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def print_header(mode=None):
    """The report's first line: mode, time, system, CPUs, load."""
    print('# Portier bench %s%s | %s | %d CPUs | loadavg %s' % (
        '--mode %s ' % mode if mode else '',
        time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
        ' '.join(os.uname()[i] for i in (0, 2)), os.cpu_count(),
        loadavg()))


def main(argv=None):
    args = parse_args(argv)
    if args.mode == 'nfs':
        return main_nfs(args)
    if args.mode == 'fastcgi':
        return main_fastcgi(args)
    peers = [s for s in args.servers if s in PEERS]
    # install only the peers the mode runs (and the proxy modes' origin)
    if args.mode == 'cgi':
        peers = [s for s in peers if s in CGI_SERVERS]
    elif args.mode in PROXY_SERVERS:
        peers = sorted({s for s in peers if s in PROXY_SERVERS[args.mode]}
                       | {'nginx'})
    tools = peers + (['wrk'] if args.mode != 'memory' else [])
    if args.tls:
        tools.append('openssl')
        if 'lighttpd' in peers:
            tools.append('lighttpd-mod-openssl')
    still = install_missing(tools, not args.no_install)
    if 'openssl' in still:
        print('openssl is not installed: no certificate for --tls')
        return 1
    if 'lighttpd-mod-openssl' in still and 'lighttpd' not in still:
        print('lighttpd: mod_openssl (lighttpd-mod-openssl) is missing: '
              'no TLS for it')
        still.append('lighttpd')
    names = [s for s in args.servers
             if s == 'portier' or PACKAGES[s] not in still]
    for s in args.servers:
        if s not in names:
            print('%s: not installed, skipped' % s)
    if args.mode == 'cgi' and not os.access(cgi_program(args.build),
                                             os.X_OK):
        print('cgi: %s is not built' % cgi_program(args.build))
        return 1
    if args.mode in ('proxy', 'proxy-cache') and 'nginx' in still:
        print('nginx is not installed: no origin server for the proxy mode')
        return 1
    if args.mode != 'memory' and 'wrk' in still:
        print('wrk is not installed: no throughput run')
        if args.mode != 'all':
            return 1
        args.mode = 'memory'

    with bench_tmp(args) as tmp:
        root, contents = make_docroot(tmp)
        args.tls_files = make_tls_cert(tmp) if args.tls else None
        print_header()
        print('# %s' % ' | '.join(versions()))
        if args.mode in ('proxy', 'proxy-cache'):
            origin = Server('origin', [], free_port(), tmp)
            odir = os.path.join(tmp, 'origin')
            os.makedirs(odir, exist_ok=True)
            os.chmod(odir, 0o755)
            path = os.path.join(odir, 'nginx.conf')
            conf = nginx_conf(origin.port, root, odir)
            if args.mode == 'proxy-cache':
                conf = conf.replace('        root ',
                                    '        expires 1h;\n        root ', 1)
            with open(path, 'w') as f:
                f.write(conf)
            origin.argv = ['nginx', '-p', odir + '/', '-e',
                           odir + '/nginx.err', '-c', path]
            origin.tmp = odir
            origin.start()
            args.origin_port = origin.port
            left_out = [n for n in names
                        if n not in PROXY_SERVERS[args.mode]]
            names = [n for n in names if n in PROXY_SERVERS[args.mode]]
            for n in left_out:
                print('# %s: left out, %s' % (n, (
                    'h2o 2.2 has no proxy cache'
                    if n == 'h2o' else 'no %s configuration here'
                    % args.mode)))
            print('# %s mode: every server proxies to one origin nginx '
                  'on 127.0.0.1:%d (keep-alive to it)%s' % (
                      args.mode, origin.port,
                      '; nginx proxy_cache and portierd\'s HTTP cache, '
                      'origin max-age=3600' if args.mode == 'proxy-cache'
                      else '; no cache'))
        if args.mode == 'cgi':
            for n in names:
                if n not in CGI_SERVERS:
                    print('# %s: left out, it has no CGI' % n)
            names = [n for n in names if n in CGI_SERVERS]
            print('# cgi mode: GET /cgi/hello runs %s (examples/cgi/'
                  'hello.c), a fork and exec per request, in portierd '
                  '(CGI address) and in lighttpd (mod_cgi)'
                  % cgi_program(args.build))
        if args.mode in ('all', 'throughput', 'proxy', 'proxy-cache', 'cgi'):
            print('# wrk -t%d -c%d -d%s --latency, %d round(s), servers '
                  'alternating; %d worker(s) each%s' % (
                      args.threads, args.conns, args.duration, args.repeat,
                      args.workers,
                      '; HTTPS (keep-alive), one ECDSA P-256 certificate'
                      if args.tls else ''))
            results, order, machine = throughput(args, names, tmp, root,
                                                 contents)
            print()
            print(throughput_table(results, order, args.mode))
            line = machine_line(machine)
            if line:
                print(line)
            lines = verdicts(results, args.mode)
            if lines and 'portier' in order:
                print()
                print('Targets (Portier against the fastest peer, same run):')
                print('\n'.join(lines))
        if args.mode in ('all', 'memory'):
            print()
            print('# memory: %d idle keep-alive connections (one GET /1k '
                  'each), VmRSS summed over the server\'s process group'
                  % args.conns_idle)
            rows = memory(args, names, tmp, root)
            if rows:
                print()
                print(memory_table(rows, args.conns_idle))
        print()
        print('# loadavg at end: %s' % loadavg())
    return 0


def main_nfs(args):
    if install_missing(['wrk'], not args.no_install):
        print('wrk is not installed: no nfs run')
        return 1
    with bench_tmp(args) as tmp:
        root, contents = make_docroot(tmp)
        print_header('nfs')
        print('# wrk -t%d -c%d -d%s --latency, %d round(s), variants '
              'alternating; one portierd worker each; nfs-ganesha on '
              'loopback' % (args.threads, args.conns, args.duration,
                            args.repeat))
        status = nfs_run(args, tmp, root, contents)
        print()
        print('# loadavg at end: %s' % loadavg())
        return status


def main_fastcgi(args):
    if HERE not in sys.path:
        sys.path.insert(0, HERE)   # loaded as a module (the smoke test)
    import bench_fastcgi
    still = install_missing(['wrk', 'spawn-fcgi'] +
                            [s for s in args.servers if s in PEERS],
                            not args.no_install)
    args.servers = [s for s in args.servers
                    if s == 'portier' or PACKAGES[s] not in still]
    if 'wrk' in still:
        print('wrk is not installed: no fastcgi run')
        return 1
    with bench_tmp(args) as tmp:
        print_header('fastcgi')
        print('# wrk -t%d -c%d -d%s --latency, %d round(s), servers '
              'alternating; %d worker(s) each; %d FastCGI process(es) of '
              'examples/fastcgi/hello.c per side' % (
                  args.threads, args.conns, args.duration, args.repeat,
                  args.workers, args.fcgi_procs))
        status = bench_fastcgi.run(args, tmp)
        print()
        print('# loadavg at end: %s' % loadavg())
        return status


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)   # unwinds: every server is stopped


if __name__ == '__main__':
    atexit.register(_stop_all)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    sys.exit(main())
