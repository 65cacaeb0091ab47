"""The benchmark harness (integration/bench/bench.py) on a tiny scale: its
wrk parsing on real wrk output, its summaries and verdicts on canned
figures, its peer configurations (checked by the peers' own config tests
when they are installed), and the skip of a portierd that is not built.
No benchmark runs here."""
import http.server
import importlib.util
import os
import shutil
import subprocess
import threading
import time

import pytest

import tplib

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location(
    'portier_bench', os.path.join(HERE, 'bench', 'bench.py'))
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)
_spec = importlib.util.spec_from_file_location(
    'portier_wrk_syscalls', os.path.join(HERE, 'bench', 'wrk_syscalls.py'))
wrk_syscalls = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(wrk_syscalls)

# Real wrk 4.1.0 output (Debian 4.1.0-3+b2), from this machine.
WRK_1K = """\
Running 1s test @ http://127.0.0.1:34795/1k
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.43ms    1.76ms  16.82ms   88.12%
    Req/Sec    23.97k     6.47k   36.01k    72.73%
  Latency Distribution
     50%  705.00us
     75%    1.51ms
     90%    3.47ms
     99%    8.99ms
  26194 requests in 1.10s, 31.93MB read
Requests/sec:  23764.05
Transfer/sec:     28.96MB
"""

WRK_404 = """\
Running 1s test @ http://127.0.0.1:56695/missing
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.87ms    2.15ms  14.40ms   84.70%
    Req/Sec    19.58k     3.36k   23.97k    70.00%
  Latency Distribution
     50%  664.00us
     75%    2.92ms
     90%    4.84ms
     99%    9.44ms
  19785 requests in 1.02s, 8.96MB read
  Non-2xx or 3xx responses: 19785
Requests/sec:  19397.50
Transfer/sec:      8.79MB
"""

# The same format with socket errors and short 1 MiB answers (edited).
WRK_BAD = """\
Running 5s test @ http://127.0.0.1:1234/1m
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     8.11ms    2.00ms   1.20s    90.00%
    Req/Sec     2.01k   100.00     2.20k    80.00%
  Latency Distribution
     50%    8.11ms
     75%    9.00ms
     90%   12.00ms
     99%   20.13ms
  10000 requests in 5.00s, 512.00MB read
  Socket errors: connect 0, read 3, write 0, timeout 7
Requests/sec:   2000.00
Transfer/sec:    102.40MB
"""


def test_parse_real_wrk_output():
    r = bench.parse_wrk(WRK_1K)
    assert r['rps'] == pytest.approx(23764.05)
    assert r['latency'][50.0] == pytest.approx(705e-6)
    assert r['latency'][99.0] == pytest.approx(8.99e-3)
    assert sorted(r['latency']) == [50.0, 75.0, 90.0, 99.0]
    assert r['lat_avg'] == pytest.approx(1.43e-3)
    assert r['lat_max'] == pytest.approx(16.82e-3)
    assert r['transfer'] == pytest.approx(28.96 * 1024 ** 2)
    assert r['requests'] == 26194
    assert r['duration'] == pytest.approx(1.10)
    assert r['bytes'] == pytest.approx(31.93 * 1024 ** 2)
    assert r['non2xx3xx'] == 0 and r['socket_errors'] == {}
    assert bench.run_notes(r, 200, 1024) == []
    # the 1 KiB answers cannot pass for 64 KiB ones
    assert 'bytes per response' in bench.run_notes(r, 200, 65536)[0]


def test_parse_404_run():
    r = bench.parse_wrk(WRK_404)
    assert r['non2xx3xx'] == 19785 == r['requests']
    assert bench.run_notes(r, 404, None) == []
    assert bench.run_notes(r, 200, None) == ['19785 non-2xx/3xx']
    r['non2xx3xx'] = 19000
    assert bench.run_notes(r, 404, None) == \
        ['785 of 19785 answers were not errors']


def test_parse_errors_and_failures():
    r = bench.parse_wrk(WRK_BAD)
    assert r['socket_errors'] == {'connect': 0, 'read': 3, 'write': 0,
                                  'timeout': 7}
    assert r['lat_max'] == pytest.approx(1.2)
    notes = bench.run_notes(r, 200, 1048576)
    assert notes[0] == 'socket errors read 3 timeout 7'
    assert notes[1].startswith('53687 bytes per response')
    with pytest.raises(ValueError):
        bench.parse_wrk('unable to connect to 127.0.0.1:1 '
                        'Connection refused\n')


def test_units():
    assert bench.parse_time('294.00us') == pytest.approx(294e-6)
    assert bench.parse_time('2.5m') == 150.0
    assert bench.parse_time('5') == 5.0
    assert bench.parse_size('512.00B') == 512
    assert bench.parse_size('1.96GB') == pytest.approx(1.96 * 1024 ** 3)
    for bad in ('5 s', 'ms', '1.2.3s'):
        with pytest.raises(ValueError):
            bench.parse_time(bad)
    with pytest.raises(ValueError):
        bench.parse_size('12.0Mb')
    assert bench.fmt_time(294e-6) == '294us'
    assert bench.fmt_time(8.99e-3) == '8.99ms'
    assert bench.fmt_bytes(28.96 * 1024 ** 2) == '28.96MB'


def run(rps, p99, transfer=1.0):
    return {'rps': rps, 'latency': {50.0: p99 / 3, 99.0: p99},
            'transfer': transfer, 'cpu': 99.0}


def test_summarize_takes_the_median_run():
    s = bench.summarize([run(120, 1e-3), run(100, 2e-3), run(130, 5e-3)])
    assert s['median']['rps'] == 120 and s['median']['latency'][99.0] == 1e-3
    assert (s['lo'], s['hi'], s['n']) == (100, 130, 3)
    s = bench.summarize([run(130, 1e-3), run(100, 2e-3)])
    assert s['median']['rps'] == 100     # the lower middle run of two
    assert bench.summarize([]) is None


def test_verdicts_and_table():
    def cell(*runs):
        s = bench.summarize(list(runs))
        s['notes'] = []
        return s
    results = {
        '1k': {'nginx': cell(run(87000, 0.8e-3)),
               'lighttpd': cell(run(130000, 1.0e-3)),
               'h2o': cell(run(115000, 0.9e-3)),
               'portier': cell(run(140000, 0.7e-3))},
        '1m': {'nginx': cell(run(2000, 20e-3)),
               'lighttpd': {'failed': 'probe failed: HTTP 500, want 200'},
               'portier': cell(run(1500, 30e-3))},
        '404': {'h2o': cell(run(160000, 0.5e-3)),
                'portier': {'failed': 'probe failed: HTTP 502, want 404'}},
    }
    assert bench.fastest_peer(results['1k'])[0] == 'lighttpd'
    assert bench.fastest_peer(results['1m'])[0] == 'nginx'
    lines = bench.verdicts(results)
    assert lines[0].startswith('- static 1 KiB: Portier 140,000 req/s = '
                               '1.08 x lighttpd (met); p99 700us vs 1.00ms '
                               '(met)')
    assert '0.75 x nginx (not met)' in lines[1]
    assert 'p99 30.00ms vs 20.00ms (not met)' in lines[1]
    assert lines[2] == ('- 404 missing file: no Portier result (probe '
                        'failed: HTTP 502, want 404)')
    assert bench.verdicts({'1k': {'portier': results['1k']['portier']}}) \
        == ['- static 1 KiB: no peer result']
    table = bench.throughput_table(results, list(bench.SERVERS))
    rows = table.splitlines()
    assert len(rows) == 2 + 4 + 3 + 2
    assert '| static 1 KiB | lighttpd | 130,000 | 130,000-130,000 |' \
        in table
    assert '| 1.00 (fastest) |' in rows[3]
    assert '| static 1 KiB | portier | 140,000 |' in rows[5]
    assert '| 1.08 |' in rows[5]
    assert 'probe failed: HTTP 500, want 200' in table


def test_machine_line():
    assert bench.machine_line({'other': [], 'steal': []}) == ''
    line = bench.machine_line({'other': [3.0, 5.0, 40.0],
                               'steal': [0.0, 4.0, 1.0]})
    assert line == ('# other CPU load before the runs: median 5%, max 40%; '
                    'VM steal during the runs: max 4%')
    busy = bench.machine_line({'other': [99.0, 100.0], 'steal': [0.0]})
    assert busy.endswith('WARNING: something else kept the CPUs busy: '
                         'these numbers are not a benchmark')


def test_memory_table_states_the_target():
    rows = [{'server': 'nginx', 'opened': 100, 'alive': 100, 'before': 1000,
             'after': 1050, 'procs': 2, 'problems': [], 'per_conn': 0.5},
            {'server': 'portier', 'opened': 98, 'alive': 90, 'before': 500,
             'after': 800, 'procs': 2, 'problems': ['HTTP 503'] * 2,
             'per_conn': 300 / 98}]
    table = bench.memory_table(rows, 100)
    assert '| nginx | 100 (100) | 1000 KiB | 1050 KiB | 0.50 | 2 |  |' \
        in table
    assert '| portier | 98 (90) |' in table
    assert '8 closed by the server within 1 s' in table
    assert '2 of 100 failed: HTTP 503 (2)' in table
    assert 'target <= 2 KiB: not met' in table


def test_nginx_config_is_the_fair_one():
    conf = bench.nginx_conf(8081, '/srv/www', '/tmp/x')
    for line in ('worker_processes 1;', 'daemon off;', 'access_log off;',
                 'sendfile on;', 'keepalive_requests 1000000;',
                 'open_file_cache max=1024;', 'log_not_found off;',
                 'listen 127.0.0.1:8081;', 'root /srv/www;',
                 'worker_connections 4096;'):
        assert line in conf
    assert 'tcp_nopush' not in conf        # nginx's default: off
    assert 'keepalive_timeout' not in conf
    mem = bench.nginx_conf(8081, '/srv/www', '/tmp/x', max_conns=10256,
                           idle_timeout=300)
    assert 'worker_connections 10256;' in mem
    assert 'keepalive_timeout 300s;' in mem


def test_lighttpd_and_h2o_configs():
    conf = bench.lighttpd_conf(8082, '/srv/www', '/tmp/x')
    assert 'server.max-keep-alive-requests = 1000000' in conf
    assert 'server.port = 8082' in conf
    assert 'max-worker' not in conf and 'accesslog' not in conf
    mem = bench.lighttpd_conf(8082, '/srv/www', '/tmp/x', max_conns=10256,
                              idle_timeout=300)
    assert 'server.max-connections = 10256' in mem
    assert 'server.max-keep-alive-idle = 300' in mem
    conf = bench.h2o_conf(8083, '/srv/www', '/tmp/x', as_root=True)
    assert conf.startswith('num-threads: 1\n')
    assert 'user: nobody' in conf and 'port: 8083' in conf
    assert 'file.dir: /srv/www' in conf and 'access-log' not in conf
    assert 'user:' not in bench.h2o_conf(8083, '/r', '/t', as_root=False)
    # two workers each
    assert 'worker_processes 2;' in bench.nginx_conf(1, '/r', '/t',
                                                     workers=2)
    assert 'server.max-worker = 2' in bench.lighttpd_conf(1, '/r', '/t',
                                                          workers=2)
    assert bench.h2o_conf(1, '/r', '/t', workers=2).startswith(
        'num-threads: 2\n')
    cgi = bench.lighttpd_conf(8082, '/srv/www', '/tmp/x',
                              cgi_program='/b/examples/cgi-hello')
    assert '"mod_cgi"' in cgi
    assert 'alias.url = ("/cgi/hello" => "/b/examples/cgi-hello")' in cgi
    assert 'mod_cgi' not in bench.lighttpd_conf(8082, '/srv/www', '/tmp/x')


def test_cgi_workload_options():
    a = bench.parse_args(['--workloads', 'cgi'])
    assert a.workloads == ['cgi']
    assert 'cgi' in bench.TARGET_WORKLOADS
    assert bench.WORKLOADS['cgi'][1] == '/cgi/hello'
    assert ('spawn {' in bench.portier_conf(cgi=True)) == \
        (os.geteuid() == 0)
    assert 'spawn' not in bench.portier_conf()
    packets = tplib.parse_packets(b''.join(bench.cgi_answer('/b/x')))
    assert packets[0] == ('CGI', b'/b/x')


def _docroot(tmp_path):
    root = tmp_path / 'www'
    root.mkdir()
    (root / '1k').write_bytes(b'x' * 1024)
    os.chmod(tmp_path, 0o755)
    return str(root)


@pytest.mark.parametrize('peer', bench.PEERS)
def test_peer_accepts_its_config(peer, tmp_path):
    """The peer's own configuration check (no server is started)."""
    if not shutil.which(peer):
        pytest.skip('%s is not installed' % peer)
    root = _docroot(tmp_path)
    tmp = str(tmp_path)
    conf = tmp_path / (peer + '.conf')
    port = 20000 + os.getpid() % 10000
    if peer == 'nginx':
        conf.write_text(bench.nginx_conf(port, root, tmp))
        argv = ['nginx', '-t', '-q', '-p', tmp + '/', '-e',
                tmp + '/nginx.err', '-c', str(conf)]
    elif peer == 'lighttpd':
        conf.write_text(bench.lighttpd_conf(port, root, tmp,
                                            cgi_program='/bin/true'))
        argv = ['lighttpd', '-tt', '-f', str(conf)]
    else:
        conf.write_text(bench.h2o_conf(port, root, tmp))
        argv = ['h2o', '-t', '-c', str(conf)]
    p = subprocess.run(argv, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=20)
    assert p.returncode == 0, p.stdout


def test_portier_command_and_translation_answer():
    argv = bench.portier_argv(bench.DEFAULT_PORTIER_CMD, 8084, '@bench-1',
                              '/srv/www', '/tmp/x', '/b', '/tmp/x/p.conf')
    assert argv == ['/b/dataplane/portierd', '--listen', '127.0.0.1:8084',
                    '--translation-socket', '@bench-1',
                    '--config', '/tmp/x/p.conf', '--workers', '1']
    argv = bench.portier_argv(bench.DEFAULT_PORTIER_CMD, 8084, '@bench-1',
                              '/srv/www', '/tmp/x', '/b', '/tmp/x/p.conf', 2)
    assert argv[-2:] == ['--workers', '2']
    argv = bench.portier_argv("{build}/p --x '{tmp}/a b.conf' "
                              "--root {root} --config {config}", 1, '@s',
                              '/r b', '/t', '/b', '/t/c.conf')
    assert argv == ['/b/p', '--x', '/t/a b.conf', '--root', '/r b',
                    '--config', '/t/c.conf']
    assert 'set' not in bench.portier_conf()
    assert bench.portier_conf(12756).endswith(
        '\nset max_connections = "12756"\n')
    packets = tplib.parse_packets(b''.join(
        bench.translation_answer('/srv/www')))
    assert packets == [('BASE', b'/'), ('EASY_BASE', b''),
                       ('PATH', b'/srv/www/'),
                       ('MAX_AGE', (3600).to_bytes(4, 'little'))]


def test_response_framing_of_the_idle_client():
    head = b'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n'
    assert bench.response_complete(head[:10]) is None
    assert bench.response_complete(head + b'ab') is None
    assert bench.response_complete(head + b'abcd') == (200, len(head) + 4)
    chunked = (b'HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n'
               b'\r\n3\r\nabc\r\n')
    assert bench.response_complete(chunked) is None
    assert bench.response_complete(chunked + b'0\r\n\r\n') == \
        (404, len(chunked) + 5)
    with pytest.raises(ValueError):
        bench.response_complete(b'SSH-2.0\r\n\r\n')


def test_options_defaults_and_environment(monkeypatch):
    for name in ('REPEAT', 'WRK_DURATION', 'SERVERS', 'WORKLOADS',
                 'PORTIER_CMD', 'MEM_CONNS'):
        monkeypatch.delenv(name, raising=False)
    a = bench.parse_args([])
    assert (a.repeat, a.threads, a.conns, a.duration) == (3, 1, 32, '5s')
    assert a.servers == ['nginx', 'lighttpd', 'h2o', 'portier']
    assert a.workloads == ['1k', '64k', '1m', '404']
    assert a.conns_idle == 10000 and a.mode == 'all'
    monkeypatch.setenv('REPEAT', '5')
    monkeypatch.setenv('WORKLOADS', '1k 404')
    monkeypatch.setenv('PORTIER_CMD', 'x {port}')
    a = bench.parse_args(['--duration', '2s'])
    assert (a.repeat, a.workloads, a.duration, a.portier_cmd) == \
        (5, ['1k', '404'], '2s', 'x {port}')
    for bad in (['--servers', 'apache'], ['--workloads', '2k'],
                ['--repeat', '0'], ['--duration', 'soon']):
        with pytest.raises(SystemExit):
            bench.parse_args(bad)


def test_process_group_accounting():
    pgid = os.getpgid(0)
    assert os.getpid() in bench.group_pids(pgid)
    assert bench.group_rss_kib(pgid) > 1000     # a Python is > 1 MiB
    assert bench.group_cpu_ticks(pgid) >= 0
    total, idle, steal = bench.cpu_snapshot()
    assert total >= idle >= 0 and steal >= 0


def test_missing_portierd_is_skipped(capsys):
    """Only Portier, not built: said so, nothing started, exit 0."""
    rc = bench.main(['--mode', 'memory', '--servers', 'portier',
                     '--conns-idle', '10', '--no-install',
                     '--portier-cmd', '/nonexistent/portierd {port}'])
    out = capsys.readouterr().out
    assert rc == 0
    assert 'portierd not built: skipped' in out
    assert '| portier |' not in out


class _TinyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'

    def do_GET(self):
        status = 500 if self.path == '/500' else 200
        self.send_response(status)
        self.send_header('Content-Length', '1024')
        if self.path == '/close':
            self.send_header('Connection', 'close')
        self.end_headers()
        self.wfile.write(b'x' * 1024)

    def log_message(self, *args):
        pass


class _TinyServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64     # the default 5 drops SYNs: 1 s retries


def test_idle_connections_client():
    """The memory check's client against a tiny in-process server: idle
    connections stay open, closed ones are counted, errors reported."""
    server = _TinyServer(('127.0.0.1', 0), _TinyHandler)
    threading.Thread(target=server.serve_forever, args=(0.05,),
                     daemon=True).start()
    port = server.server_address[1]
    socks = []
    try:
        socks, problems = bench.open_idle_connections(port, '/1k', 20,
                                                      parallel=8,
                                                      timeout=10)
        assert (len(socks), problems) == (20, [])
        assert bench.count_still_open(socks) == 20
        closing, problems = bench.open_idle_connections(port, '/close', 3,
                                                        timeout=10)
        socks += closing
        assert (len(closing), problems) == (3, [])
        deadline = time.monotonic() + 5
        while bench.count_still_open(closing) and \
                time.monotonic() < deadline:
            time.sleep(0.02)
        assert bench.count_still_open(closing) == 0
        failed, problems = bench.open_idle_connections(port, '/500', 2,
                                                       timeout=10)
        assert (failed, problems) == ([], ['HTTP 500', 'HTTP 500'])
        body = b'x' * 1024
        assert bench.probe(port, '/1k', 200, body) == ([], [])
        assert bench.probe(port, '/close', 200, body) == \
            ([], ['connection not kept alive'])
        assert bench.probe(port, '/1k', 200, b'y' * 1024)[0] == \
            ['body of 1024 bytes differs from the file (1024 bytes)']
        assert bench.probe(port, '/500', 404, None)[0] == \
            ['HTTP 500, want 404']
    finally:
        for s in socks:
            s.close()
        server.shutdown()
        server.server_close()


STANDIN = '''\
import functools, http.server, os, sys
sys.path.insert(0, %r)
import tplib
port, tsock, pidfile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
got = dict(tplib.translate(tsock, ('URI', '/1k'), ('HOST', 'x')))
assert set(got) >= {'BASE', 'EASY_BASE', 'PATH', 'MAX_AGE'}, got
assert open(sys.argv[4]).read().count('max_connections') == 1
with open(pidfile, 'w') as f:
    f.write(str(os.getpid()))
class H(http.server.SimpleHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
S(('127.0.0.1', port), functools.partial(
    H, directory=got['PATH'].decode())).serve_forever()
'''


def test_memory_check_through_the_portier_slot(tmp_path, capsys):
    """The Portier slot end to end with a stand-in for portierd (a Python
    file server that asks the harness's translation server for its
    PATH): 20 idle connections, the table, and the stand-in stopped."""
    script = tmp_path / 'standin.py'
    script.write_text(STANDIN % HERE)
    pidfile = tmp_path / 'pid'
    rc = bench.main(['--mode', 'memory', '--servers', 'portier',
                     '--conns-idle', '20', '--no-install',
                     '--portier-cmd', '/usr/bin/python3 %s {port} {tsock} '
                     '%s {config}' % (script, pidfile)])
    out = capsys.readouterr().out
    assert rc == 0
    assert '| portier | 20 (20) |' in out, out
    assert 'target <= 2 KiB' in out
    pid = int(pidfile.read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_nfs_table_and_answer():
    """The nfs mode's pure parts: the translation answer names the export,
    the table shows each variant and its ratio to local files."""
    answer = bench.nfs_translation_answer('/srv/www')
    want = [('BASE', b'/'), ('EASY_BASE', b''), ('NFS_SERVER', b'127.0.0.1'),
            ('NFS_EXPORT', b'/srv/www'), ('PATH', b'/')]
    assert answer[:5] == [tplib.packet(n, v) for n, v in want]

    def cell(rps, cpu):
        return {'median': {'rps': rps, 'cpu_us': cpu}, 'lo': rps,
                'hi': rps, 'n': 1}
    results = {'1k': {'local': cell(20000, 10.0),
                      'nfs-cache': cell(16000, 12.0),
                      'nfs-nocache': {'failed': 'probe failed: HTTP 502'}},
               '1m': {}}
    table = bench.nfs_table(results, ['local', 'nfs-cache', 'nfs-nocache'])
    lines = table.splitlines()
    assert lines[0] == '| workload | local | nfs-cache | nfs-nocache |'
    assert '16,000 req/s' in lines[2] and 'local/NFS 1.25x' in lines[2]
    assert 'probe failed: HTTP 502' in lines[2]
    assert 'no result' in lines[3]


def test_proxy_mode_configs(tmp_path):
    """Proxy mode: nginx proxy_pass with upstream keepalive (checked by
    nginx -t when installed) and portierd's HTTP answer for the origin."""
    conf = bench.nginx_conf(8085, '/srv/www', '/tmp/x', origin=9090)
    for line in ('upstream origin { server 127.0.0.1:9090; keepalive 64;',
                 'proxy_pass http://origin;', 'proxy_http_version 1.1;',
                 'proxy_set_header Connection "";',
                 'listen 127.0.0.1:8085;'):
        assert line in conf
    assert 'root /srv/www;' not in conf
    names = [tplib.parse_packets(p)[0][0]
             for p in bench.translation_answer_proxy(9090)]
    assert names == ['BASE', 'EASY_BASE', 'HTTP', 'ADDRESS_STRING',
                     'MAX_AGE']
    assert tplib.parse_packets(bench.translation_answer_proxy(9090)[2]) == \
        [('HTTP', b'http://127.0.0.1:9090/')]
    if shutil.which('nginx'):
        tmp = str(tmp_path)
        path = tmp_path / 'proxy.conf'
        path.write_text(bench.nginx_conf(20000 + os.getpid() % 10000,
                                         '/srv/www', tmp, origin=9090))
        p = subprocess.run(['nginx', '-t', '-q', '-p', tmp + '/', '-e',
                            tmp + '/nginx.err', '-c', str(path)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=20)
        assert p.returncode == 0, p.stdout


# ---- the HTTPS mode (--tls) ----

def test_tls_configs():
    tls = ('/t/cert.pem', '/t/key.pem')
    conf = bench.nginx_conf(8081, '/srv/www', '/tmp/x', tls=tls)
    for line in ('listen 127.0.0.1:8081 ssl;',
                 'ssl_certificate /t/cert.pem;',
                 'ssl_certificate_key /t/key.pem;',
                 'ssl_protocols TLSv1.2 TLSv1.3;',
                 'ssl_session_cache shared:SSL:10m;', 'sendfile on;'):
        assert line in conf
    assert 'ssl' not in bench.nginx_conf(8081, '/srv/www', '/tmp/x')
    conf = bench.lighttpd_conf(8082, '/srv/www', '/tmp/x', tls=tls)
    assert 'ssl.engine = "enable"' in conf
    assert 'server.modules += ("mod_openssl")' in conf
    assert 'ssl.pemfile = "/t/cert.pem"' in conf
    assert 'ssl.privkey = "/t/key.pem"' in conf
    conf = bench.h2o_conf(8083, '/srv/www', '/tmp/x', as_root=False,
                          tls=tls)
    assert ('  port: 8083\n  ssl:\n    certificate-file: /t/cert.pem\n'
            '    key-file: /t/key.pem\nhosts:\n') in conf
    conf = bench.portier_conf(tls=tls, port=8084)
    assert ('listener {\n  bind "127.0.0.1:8084"\n  ssl yes\n'
            '  ssl_cert "/t/cert.pem" "/t/key.pem"\n}\n') in conf


def test_tls_options(monkeypatch):
    for name in ('TLS', 'PORTIER_CMD', 'MODE'):
        monkeypatch.delenv(name, raising=False)
    a = bench.parse_args([])
    assert not a.tls and a.portier_cmd == bench.DEFAULT_PORTIER_CMD
    a = bench.parse_args(['--tls'])
    assert a.tls and a.portier_cmd == bench.DEFAULT_PORTIER_TLS_CMD
    assert '--listen' not in a.portier_cmd
    monkeypatch.setenv('TLS', '1')
    assert bench.parse_args([]).tls
    with pytest.raises(SystemExit):
        bench.parse_args(['--tls', '--mode', 'memory'])
    assert bench.parse_args(['--tls']).mode == 'throughput'


@pytest.mark.parametrize('peer', bench.PEERS)
def test_peer_accepts_its_tls_config(peer, tmp_path):
    if not shutil.which(peer) or not shutil.which('openssl'):
        pytest.skip('%s or openssl is not installed' % peer)
    if peer == 'lighttpd' and not os.path.exists(bench.LIGHTTPD_OPENSSL):
        pytest.skip('lighttpd-mod-openssl is not installed')
    root = _docroot(tmp_path)
    tmp = str(tmp_path)
    tls = bench.make_tls_cert(tmp)
    conf = tmp_path / (peer + '.conf')
    port = 20000 + os.getpid() % 10000
    if peer == 'nginx':
        conf.write_text(bench.nginx_conf(port, root, tmp, tls=tls))
        argv = ['nginx', '-t', '-q', '-p', tmp + '/', '-e',
                tmp + '/nginx.err', '-c', str(conf)]
    elif peer == 'lighttpd':
        conf.write_text(bench.lighttpd_conf(port, root, tmp, tls=tls))
        argv = ['lighttpd', '-tt', '-f', str(conf)]
    else:
        conf.write_text(bench.h2o_conf(port, root, tmp, tls=tls))
        argv = ['h2o', '-t', '-c', str(conf)]
    p = subprocess.run(argv, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=20)
    assert p.returncode == 0, p.stdout


def test_portier_serves_the_tls_bench_config(build_dir, tmp_path):
    """portierd with the --tls command and configuration: the probe
    passes over HTTPS and names the protocol."""
    build_dir = os.path.abspath(build_dir)
    binary = os.path.join(build_dir, 'dataplane', 'portierd')
    if not os.path.exists(binary) or not shutil.which('openssl'):
        pytest.skip('portierd not built or no openssl')
    root = _docroot(tmp_path)
    tls = bench.make_tls_cert(str(tmp_path))
    port = bench.free_port()
    tsock = '@portier-bench-test-%d' % os.getpid()
    config = tmp_path / 'p.conf'
    config.write_text(bench.portier_conf(tls=tls, port=port))
    argv = bench.portier_argv(bench.DEFAULT_PORTIER_TLS_CMD, port, tsock,
                              root, str(tmp_path), build_dir, str(config),
                              1)
    answer = bench.translation_answer(root)
    ts = tplib.ScriptedTranslationServer(handler=lambda req: answer,
                                         address=tsock)
    ts.start()
    server = bench.Server('portier', argv, port, str(tmp_path))
    try:
        server.start()
        with open(os.path.join(root, '1k'), 'rb') as f:
            body = f.read()
        problems, warnings = bench.probe(port, '/1k', 200, body, tls=True)
        assert problems == []
        assert any(w.startswith('TLSv1.3 ') for w in warnings), warnings
        problems, _ = bench.probe(port, '/1k', 200, body, tls=False)
        assert problems          # plain HTTP on the TLS port: a 400
    finally:
        server.stop()
        ts.stop()


# ---- the peer modes of issues 6, 7, 8 and 11 ----

def test_h2o_proxy_config_and_mode_servers(tmp_path):
    """h2o in the proxy mode: proxy.reverse.url to the origin instead of
    the files (checked by h2o -t when installed); h2o has no proxy cache
    and stays out of proxy-cache."""
    conf = bench.h2o_conf(8083, '/srv/www', '/tmp/x', as_root=False,
                          origin=9090)
    assert '      /:\n        proxy.reverse.url: http://127.0.0.1:9090/\n' \
        in conf
    assert 'file.dir' not in conf
    assert bench.PROXY_SERVERS['proxy'] == ('nginx', 'h2o', 'portier')
    assert 'h2o' not in bench.PROXY_SERVERS['proxy-cache']
    if shutil.which('h2o'):
        path = tmp_path / 'h2o.conf'
        path.write_text(bench.h2o_conf(20000 + os.getpid() % 10000,
                                       '/srv/www', str(tmp_path),
                                       origin=9090))
        p = subprocess.run(['h2o', '-t', '-c', str(path)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=20)
        assert p.returncode == 0, p.stdout


def test_mode_workloads_and_labels(monkeypatch):
    monkeypatch.delenv('WORKLOADS', raising=False)
    monkeypatch.delenv('MODE', raising=False)
    assert bench.parse_args(['--mode', 'proxy']).workloads == ['1k', '1m']
    assert bench.parse_args(['--mode', 'proxy-cache']).workloads == ['1k']
    assert bench.parse_args(['--mode', 'cgi']).workloads == ['cgi']
    assert bench.parse_args(['--mode', 'proxy', '--workloads',
                             '404']).workloads == ['404']
    monkeypatch.setenv('WORKLOADS', '64k')
    assert bench.parse_args(['--mode', 'proxy']).workloads == ['64k']
    assert bench.workload_label('1m', 'proxy') == 'proxied 1 MiB'
    assert bench.workload_label('1k', 'proxy-cache') == 'cached 1 KiB'
    assert bench.workload_label('1k') == 'static 1 KiB'
    s = bench.summarize([run(100, 1e-3)])
    s['notes'] = []
    table = bench.throughput_table({'1k': {'nginx': s}}, ['nginx'], 'proxy')
    assert '| proxied 1 KiB | nginx | 100 |' in table


def _have(*tools):
    return all(shutil.which(t) for t in tools)


def _portierd(build_dir):
    return os.path.join(os.path.abspath(build_dir), 'dataplane', 'portierd')


SHORT = ['--repeat', '1', '--duration', '1s', '--idle-sample', '0',
         '--conns', '4', '--no-install']


def _rows(out):
    """server -> the first table row of that server."""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.split('|')]
        if len(cells) > 3 and cells[2] in bench.SERVERS:
            rows.setdefault(cells[2], line)
    return rows


def test_proxy_mode_runs(build_dir, capsys):
    """--mode proxy, one 1 s round of 1 KiB: nginx, h2o and portierd in
    front of one origin nginx each get a measured row."""
    if not _have('nginx', 'h2o', 'wrk') or \
            not os.path.exists(_portierd(build_dir)):
        pytest.skip('nginx, h2o, wrk or portierd missing')
    rc = bench.main(['--mode', 'proxy', '--workloads', '1k',
                     '--build', os.path.abspath(build_dir)] + SHORT)
    out = capsys.readouterr().out
    assert rc == 0, out
    rows = _rows(out)
    assert sorted(rows) == ['h2o', 'nginx', 'portier'], out
    for line in rows.values():
        assert line.startswith('| proxied 1 KiB |') and \
            'probe failed' not in line, out
    assert '- proxied 1 KiB: Portier' in out


def test_proxy_cache_mode_leaves_h2o_out(build_dir, capsys):
    if not _have('nginx', 'wrk') or \
            not os.path.exists(_portierd(build_dir)):
        pytest.skip('nginx, wrk or portierd missing')
    rc = bench.main(['--mode', 'proxy-cache', '--servers', 'h2o,portier',
                     '--build', os.path.abspath(build_dir)] + SHORT)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert '# h2o: left out, h2o 2.2 has no proxy cache' in out
    rows = _rows(out)
    assert list(rows) == ['portier'], out
    assert rows['portier'].startswith('| cached 1 KiB | portier |')
    assert 'probe failed' not in rows['portier']


def test_cgi_mode_runs(build_dir, capsys):
    """--mode cgi: lighttpd mod_cgi and portierd run the same program;
    nginx and h2o are left out."""
    prog = bench.cgi_program(os.path.abspath(build_dir))
    if not _have('lighttpd', 'wrk') or not os.path.exists(prog) or \
            not os.path.exists(_portierd(build_dir)):
        pytest.skip('lighttpd, wrk, cgi-hello or portierd missing')
    rc = bench.main(['--mode', 'cgi', '--servers', 'nginx,lighttpd,portier',
                     '--build', os.path.abspath(build_dir)] + SHORT)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert '# nginx: left out, it has no CGI' in out
    assert prog in out
    rows = _rows(out)
    assert sorted(rows) == ['lighttpd', 'portier'], out
    for line in rows.values():
        assert line.startswith('| CGI hello |') and \
            'probe failed' not in line, out


def test_fastcgi_mode_runs(build_dir, capsys):
    """--mode fastcgi with lighttpd and portierd: the table says how many
    server and application processes each side ran."""
    build = os.path.abspath(build_dir)
    if not _have('lighttpd', 'wrk') or \
            not os.path.exists(os.path.join(build, 'examples',
                                            'fcgi-hello')) or \
            not os.path.exists(_portierd(build_dir)):
        pytest.skip('lighttpd, wrk, fcgi-hello or portierd missing')
    rc = bench.main(['--mode', 'fastcgi', '--servers', 'lighttpd,portier',
                     '--build', build] + SHORT)
    out = capsys.readouterr().out
    assert rc == 0, out
    assert '| server | requests/s (median, range) | p99 | server ' \
        'processes | application processes |' in out
    lines = [l for l in out.splitlines() if l.startswith('| lighttpd |') or
             l.startswith('| portier |')]
    assert len(lines) == 2, out
    assert '| 1 | 1 (shared pool of 1, ' in lines[0], out
    assert '| 1 (spawned by portierd) |' in lines[1], out
    assert 'Target (FastCGI hello >= the fastest peer)' in out


def test_apps_fastcgi_next_to_was(build_dir, capsys):
    """apps.py: FastCGI hello beside WAS hello and the two 1 MiB bodies,
    each row checked before it is measured, and the ratios of issue 8."""
    if not _have('wrk'):
        pytest.skip('wrk missing')
    spec = importlib.util.spec_from_file_location(
        'portier_bench_apps', os.path.join(HERE, 'bench', 'apps.py'))
    apps = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(apps)
    assert apps.stream_body(30) == b'abcdefghijklmnopqrstuvwxyzabcd'
    build = os.path.abspath(build_dir)
    needed = [os.path.join(build, 'examples', apps.PROGRAMS[r])
              for r in ('was', 'fcgi', 'was-1m', 'fcgi-1m')]
    if not all(os.path.exists(p) for p in needed + [_portierd(build)]):
        pytest.skip('portierd or an example program is not built')
    rc = apps.main(['--build', build, '--duration', '1s', '--conns', '2',
                    '--rows', 'was,fcgi,was-1m,fcgi-1m'])
    out = capsys.readouterr().out
    assert rc == 0, out
    for label in ('WAS hello', 'FastCGI hello', 'WAS 1 MiB',
                  'FastCGI 1 MiB'):
        line = [l for l in out.splitlines()
                if l.startswith('| %s |' % label)]
        assert line and 'check failed' not in line[0] and \
            'wrk failed' not in line[0], out
    assert '- WAS hello / FastCGI hello: ' in out
    assert '- WAS 1 MiB / FastCGI 1 MiB (target: above 1' in out


# `strace -c -f` summary as strace 6.1 writes it (edited counts).
STRACE_C = """\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 40.10    0.120000          10     12000           epoll_ctl
 30.00    0.090000          15      6000           write
 29.00    0.087000          14      6000           read
  0.90    0.002700           6       450        12 epoll_wait
------ ----------- ----------- --------- --------- ----------------
100.00    0.299700          12     24450        12 total
"""


def test_wrk_syscalls_reads_strace_summaries(tmp_path):
    path = tmp_path / 'summary'
    path.write_text(STRACE_C)
    assert wrk_syscalls.strace_counts(str(path)) == {
        'epoll_ctl': 12000, 'write': 6000, 'read': 6000, 'epoll_wait': 450}


def test_wrk_syscalls_against_portierd(build_dir, capsys):
    """One second of wrk under strace against portierd's 1 KiB file: one
    read and one write per request, about four calls in all."""
    if not _have('wrk', 'strace') or \
            not os.path.exists(_portierd(build_dir)):
        pytest.skip('wrk, strace or portierd missing')
    wrk_syscalls.main(['--build', os.path.abspath(build_dir), '--servers',
                       'portier', '--duration', '1s', '/1k.bin'])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines()
            if line.startswith('| portier | /1k.bin |')]
    assert len(rows) == 1, out
    cells = [c.strip() for c in rows[0].strip('|').split('|')]
    assert int(cells[2]) > 0 and 3.0 <= float(cells[3]) <= 6.0, out
    assert 'read 1.0' in cells[4] and 'write 1.0' in cells[4], out
