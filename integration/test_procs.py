"""portierd's processes under load and its control server with workers
(docs/operations.md, docs/control.md): kill -9 of a worker and SIGTERM
while Python client threads send requests, the shutdown timeout, the
restart back-off, and control commands that the master hands to every
worker (STATS summed, a worker that does not answer, refusals over UDP,
multicast on loopback).

Every portierd listens on a free 127.0.0.1 port, control sockets are
abstract names unique to this process; client loops are bounded in time
and every process is stopped by its PID."""
import http.client
import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from dphelp import (abstract, control_config, free_udp_port, log_lines,
                    make_docroot, multicast_control, multicast_group,
                    run_ctl, stats, wait_log)
from proclib import children, wait_for
from tplib import HANG, packet, u32


def two_children(master, gone=()):
    """The master's two workers, none of them in `gone`, or None; the
    process list is read once, so the answer is consistent."""
    c = children(master)
    return c if len(c) == 2 and not set(gone) & set(c) else None


def base_answer(root):
    """One cacheable answer for every URI: files below root."""
    return [packet('BASE', '/'), packet('EASY_BASE'),
            packet('PATH', str(root) + '/'), packet('MAX_AGE', u32(60))]


def get(port, path, timeout=10):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        c.request('GET', path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


class ClientLoop:
    """`threads` clients, each sending requests on fresh connections
    until stopped (at most `limit` seconds); counts successes and keeps
    the failures."""

    def __init__(self, port, path, body, threads=4, limit=20):
        self.port, self.path, self.body = port, path, body
        self.ok, self.failures = 0, []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._limit = time.monotonic() + limit
        self._threads = [threading.Thread(target=self._run)
                         for _ in range(threads)]
        for t in self._threads:
            t.start()

    def _run(self):
        while not self._done.is_set() and time.monotonic() < self._limit:
            try:
                status, body = get(self.port, self.path, timeout=5)
                good = status == 200 and body == self.body
                with self._lock:
                    if good:
                        self.ok += 1
                    else:
                        self.failures.append(status)
            except OSError as e:
                with self._lock:
                    self.failures.append(repr(e))

    def wait_ok(self, n, timeout=10):
        wait_for(lambda: self.ok >= n, timeout)

    def stop(self):
        self._done.set()
        for t in self._threads:
            t.join(timeout=10)


# ---------------------------------------------------------------------
# crashes and signals under load

def test_kill9_worker_under_load(portierd_factory, servers, tmp_path):
    root = make_docroot(tmp_path)
    body = (root / 'a.txt').read_bytes()
    srv = servers(lambda req: base_answer(root))
    d = portierd_factory([srv.address], workers=2)
    master = d.proc.pid
    old = wait_for(lambda: two_children(master))
    load = ClientLoop(d.port, '/a.txt', body, threads=4)
    try:
        load.wait_ok(200)
        victim = old[0]
        os.kill(victim, signal.SIGKILL)
        new = wait_for(lambda: two_children(master, [victim]))
        assert old[1] in new
        before = load.ok
        load.wait_ok(before + 200)
    finally:
        load.stop()
    # Only what the killed worker had in progress may fail: at most one
    # request per client thread.
    assert len(load.failures) <= 4, load.failures
    assert all(not isinstance(f, int) for f in load.failures), load.failures
    line = wait_log(d, 'worker %d killed by signal 9 (Killed)' % victim)
    assert len(line) == 1 and 'starting a new one' in line[0]
    assert len(log_lines(d, 'worker %d started' % (set(new) - set(old))
                                                  .pop())) == 1


def test_sigterm_under_load_completes_requests(portierd_factory, servers,
                                               tmp_path):
    root = make_docroot(tmp_path)
    body = (root / 'a.txt').read_bytes()

    def handler(req):
        # per-URI answers (no BASE): /slow is never served from the cache
        if req.text('URI') == '/slow':
            time.sleep(1.5)         # a slow translation server
        return [packet('PATH', '%s/a.txt' % root)]

    srv = servers(handler)
    for workers in (2, 1):
        d = portierd_factory([srv.address], workers=workers)
        load = ClientLoop(d.port, '/a.txt', body, threads=2)
        slow = []

        def slow_client():
            try:
                slow.append(get(d.port, '/slow'))
            except OSError as e:
                slow.append(repr(e))
        before = srv.count('URI', b'/slow')
        threads = [threading.Thread(target=slow_client) for _ in range(4)]
        try:
            load.wait_ok(50)
            for t in threads:
                t.start()
            # all four are in progress (at the translation server)
            wait_for(lambda: srv.count('URI', b'/slow') == before + 4)
            t0 = time.monotonic()
            d.proc.send_signal(signal.SIGTERM)
            assert d.proc.wait(timeout=15) == 0
            assert time.monotonic() - t0 < 10
        finally:
            load.stop()
            for t in threads:
                t.join(timeout=10)
        assert slow == [(200, body)] * 4, (workers, slow)
        # the load loop sees refused connections after the stop, never a
        # broken response
        assert all(not isinstance(f, int) for f in load.failures)
        assert 'shutdown timeout' not in d.log()


def test_shutdown_timeout_cuts(portierd_factory, servers, tmp_path):
    root = make_docroot(tmp_path)

    def handler(req):
        if req.text('URI') == '/hang':
            return HANG             # never answers
        return [packet('PATH', '%s/a.txt' % root)]

    srv = servers(handler)
    for workers in (1, 2):
        d = portierd_factory([srv.address], workers=workers,
                             config='set shutdown_timeout = "1 s"\n')
        results = []

        def client():
            try:
                results.append(get(d.port, '/hang', timeout=20))
            except (OSError, http.client.HTTPException) as e:
                results.append(type(e).__name__)
        before = srv.count('URI', b'/hang')
        t = threading.Thread(target=client)
        t.start()
        wait_for(lambda: srv.count('URI', b'/hang') == before + 1)
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(timeout=15) == 0
        took = time.monotonic() - t0
        t.join(timeout=10)
        assert 0.9 < took < 5, took
        assert results and results[0] in ('RemoteDisconnected',
                                           'ConnectionResetError'), results
        lines = log_lines(d, 'shutdown timeout (1000 ms) reached')
        assert len(lines) == 1, d.log()
        assert '1 connection(s) still busy were cut' in lines[0]


def test_restart_backoff(portierd_factory, servers, tmp_path):
    root = make_docroot(tmp_path)
    srv = servers(lambda req: base_answer(root))
    d = portierd_factory([srv.address], workers=2)
    master = d.proc.pid
    first = wait_for(lambda: two_children(master))
    # Killed young (within 5 s of its start): 1 s before the next one,
    # then 2 s.
    os.kill(first[0], signal.SIGKILL)
    line = wait_log(d, 'worker %d killed' % first[0])
    assert 'starting a new one in 1 s (1 death(s) in a row' in line[0]
    second = wait_for(lambda: two_children(master, [first[0]]))
    young = (set(second) - set(first)).pop()
    t0 = time.monotonic()
    os.kill(young, signal.SIGKILL)
    line = wait_log(d, 'worker %d killed' % young)
    assert 'starting a new one in 2 s (2 death(s) in a row' in line[0]
    wait_for(lambda: two_children(master, [young]))
    assert time.monotonic() - t0 > 1.5
    assert get(d.port, '/a.txt')[0] == 200


def test_workers_default_one_per_core(build_dir, tmp_path):
    binary = os.path.join(build_dir, 'dataplane', 'portierd')
    if not os.path.exists(binary):
        pytest.skip('portierd not built')
    cores = os.sysconf('SC_NPROCESSORS_ONLN')
    port = socket.socket()
    port.bind(('127.0.0.1', 0))
    addr = '127.0.0.1:%d' % port.getsockname()[1]
    port.close()
    log = open(tmp_path / 'default.log', 'wb')
    p = subprocess.Popen([binary, '--listen', addr, '--translation-socket',
                          abstract()], stdout=log, stderr=subprocess.STDOUT)
    try:
        if cores == 1:
            wait_for(lambda: 'portierd: ready' in
                     (tmp_path / 'default.log').read_text())
            assert children(p.pid) == []
        else:
            wait_for(lambda: len(children(p.pid)) == cores)
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=15) == 0
        log.close()


# ---------------------------------------------------------------------
# control with workers

def test_control_with_workers(portierd_factory, servers, tmp_path, ctl):
    root = make_docroot(tmp_path)
    body = (root / 'a.txt').read_bytes()
    srv = servers(lambda req: base_answer(root))
    sock = abstract()
    udp = '127.0.0.1:%d' % free_udp_port()
    d = portierd_factory([srv.address], workers=2,
                         config=control_config(sock, udp))
    master = d.proc.pid
    kids = wait_for(lambda: two_children(master))
    s0 = stats(ctl, sock)
    assert s0['workers'] == 2 and s0['workers_asked'] == 2
    assert sorted(w['pid'] for w in s0['per_worker']) == kids
    # Stats summed over the workers move with traffic.
    for _ in range(30):
        assert get(d.port, '/a.txt') == (200, body)
    s1 = stats(ctl, sock)
    assert s1['requests']['total'] - s0['requests']['total'] == 30
    assert s1['requests']['2xx'] - s0['requests']['2xx'] == 30
    assert s1['accepted'] - s0['accepted'] >= 30
    for key in ('accepted', 'bytes_out'):
        assert s1[key] == sum(w[key] for w in s1['per_worker'])
    assert s1['requests']['total'] == sum(w['requests']['total']
                                          for w in s1['per_worker'])
    assert (s1['translation']['requests'] ==
            sum(w['translation']['requests'] for w in s1['per_worker']))
    # Every worker executes a command (log level 2 logs invalidations).
    assert run_ctl(ctl, '--server', sock, 'verbose', '2').returncode == 0
    assert len(wait_log(d, 'log level 2 (was 1)', count=2)) == 2
    p = run_ctl(ctl, '--server', sock, 'tcache-invalidate', 'URI=/a.txt')
    assert p.returncode == 0, p.stderr
    lines = wait_log(d, 'TCACHE_INVALIDATE from ', count=2)
    assert len(lines) == 2, d.log()
    assert all('(via the master)' in x for x in lines)
    # Forbidden over UDP: refused once, by the master, and no worker acts.
    p = run_ctl(ctl, '--server', udp, 'verbose', '5')
    assert p.returncode == 0, p.stderr
    lines = wait_log(d, 'refused VERBOSE')
    assert len(lines) == 1 and 'from 127.0.0.1:' in lines[0]
    stats(ctl, sock)                    # barrier for both workers
    assert log_lines(d, 'log level 5') == []
    # Allowed over UDP: reaches both workers.
    assert run_ctl(ctl, '--server', udp, 'tcache-invalidate').returncode == 0
    assert len(wait_log(d, 'every translation cache flushed',
                        count=2)) == 2
    # FADE_CHILDREN and TERMINATE_CHILDREN reach the (empty) FastCGI, WAS
    # and LHTTP pools of both workers: nothing to report at this level.
    assert run_ctl(ctl, '--server', sock, 'fade-children').returncode == 0
    assert run_ctl(ctl, '--server', sock, 'terminate-children',
               'blue').returncode == 0
    stats(ctl, sock)
    assert log_lines(d, 'no child process pool') == []
    # A worker that does not answer: named, left out of the sum.
    os.kill(kids[0], signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        s2 = stats(ctl, sock)
        assert time.monotonic() - t0 >= 0.9
    finally:
        os.kill(kids[0], signal.SIGCONT)
    assert s2['workers'] == 1 and s2['workers_asked'] == 2
    assert [w['pid'] for w in s2['per_worker']] == [kids[1]]
    lines = log_lines(d, 'did not answer within 1000 ms')
    assert len(lines) == 1
    assert 'worker(s) %d did not answer' % kids[0] in lines[0]
    assert 'the reply sums 1 of 2' in lines[0]
    # A restarted worker gets its channel too.
    os.kill(kids[0], signal.SIGKILL)
    new = wait_for(lambda: two_children(master, [kids[0]]))
    s3 = stats(ctl, sock)
    assert s3['workers'] == 2
    assert sorted(w['pid'] for w in s3['per_worker']) == new


def test_multicast_with_workers(portierd_factory, servers, tmp_path, ctl):
    group = multicast_group()
    root = make_docroot(tmp_path)
    srv = servers(lambda req: base_answer(root))
    port = free_udp_port()
    instances = []
    for _ in range(2):
        sock = abstract()
        conf = control_config(sock) + multicast_control(port, group)
        d = portierd_factory([srv.address], workers=2, config=conf)
        assert run_ctl(ctl, '--server', sock, 'verbose', '2').returncode == 0
        wait_log(d, 'log level 2', count=2)
        instances.append(d)
    p = run_ctl(ctl, '--server', '%s%%lo:%d' % (group, port),
            'tcache-invalidate', 'URI=/m')
    assert p.returncode == 0, p.stderr
    # Both data planes, each in both workers.
    for d in instances:
        lines = wait_log(d, 'TCACHE_INVALIDATE from ', count=2)
        assert len(lines) == 2, d.log()


def test_sighup_flushes_and_fades(portierd_factory, servers, tmp_path):
    root = make_docroot(tmp_path)
    srv = servers(lambda req: base_answer(root))
    # One process: SIGHUP flushes the translation cache (the next request
    # is translated again) and fades the (empty) FastCGI, WAS and LHTTP
    # pools.
    d = portierd_factory([srv.address], workers=1)
    for _ in range(3):
        assert get(d.port, '/a.txt')[0] == 200
    n = srv.count()
    assert get(d.port, '/a.txt')[0] == 200 and srv.count() == n
    d.proc.send_signal(signal.SIGHUP)
    line = wait_log(d, 'portierd: SIGHUP: 1 translation cache(s) flushed')
    assert len(line) == 1
    assert '0 child process(es) fading' in line[0]
    assert get(d.port, '/a.txt')[0] == 200
    assert srv.count() == n + 1
    # Workers: a reload the master refuses still reaches every worker.
    conf = tmp_path / 'refused.conf'
    conf.write_text('')
    d = portierd_factory([srv.address], workers=2,
                         extra=['--config', str(conf)])
    wait_for(lambda: len(children(d.proc.pid)) == 2)
    conf.write_text('set no_such_setting = "1"\n')
    d.proc.send_signal(signal.SIGHUP)
    wait_log(d, 'reload refused')
    assert len(wait_log(d, 'translation cache(s) flushed', count=2)) == 2
