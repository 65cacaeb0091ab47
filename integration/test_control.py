"""portierd's control server (docs/control.md) driven by the real
portierctl: TCACHE_INVALIDATE seen from the translation server, STATS
counters that move with traffic, the permission rule (UDP, other uids),
multicast reaching two instances, and the rate-limited log lines.

Control sockets are abstract names unique to this process and test, UDP
ports are free ports on 127.0.0.1.  A `stats` request on the same local
socket serves as a barrier: datagrams on one socket are handled in order,
so when its answer is back every earlier command has been executed."""
import os
import socket
import subprocess
import time

import pytest

from dphelp import (abstract, control_config, file_answer, free_udp_port,
                    log_lines, multicast_control, multicast_group,
                    run_ctl, stats, wait_log)

MAGIC = b'\x63\x04\x61\x01'


def get(d, path):
    return d.request('GET', path)[0]


def activate(d, srv):
    """The first response activates the cache but is not stored."""
    assert get(d, '/activate') == 200
    return srv.count()


def test_tcache_invalidate(portierd_factory, servers, docroot, ctl):
    srv = servers(lambda req: file_answer(docroot))
    sock = abstract()
    d = portierd_factory([srv.address], config=control_config(sock))
    activate(d, srv)
    for _ in range(3):
        assert get(d, '/a') == 200
        assert get(d, '/b') == 200
    assert srv.count('URI', b'/a') == 1 and srv.count('URI', b'/b') == 1
    # Only the items that match: /a goes, /b stays.
    p = run_ctl(ctl, '--server', sock, 'tcache-invalidate', 'URI=/a')
    assert p.returncode == 0, p.stderr
    stats(ctl, sock)                       # barrier
    assert get(d, '/a') == 200 and get(d, '/b') == 200
    assert srv.count('URI', b'/a') == 2 and srv.count('URI', b'/b') == 1
    # Empty payload: everything.
    p = run_ctl(ctl, '--server', sock, 'tcache-invalidate')
    assert p.returncode == 0, p.stderr
    stats(ctl, sock)
    assert get(d, '/a') == 200 and get(d, '/b') == 200
    assert srv.count('URI', b'/a') == 3 and srv.count('URI', b'/b') == 2
    # And they are cached again afterwards.
    assert get(d, '/a') == 200
    assert srv.count('URI', b'/a') == 3


def test_stats_moves_with_traffic(portierd_factory, servers, docroot, ctl):
    def handler(req):
        if req.text('URI') == '/missing':
            return file_answer(docroot, 'no-such-file')
        return file_answer(docroot)

    srv = servers(handler)
    sock = abstract()
    d = portierd_factory([srv.address], config=control_config(sock))
    s0 = stats(ctl, sock)
    assert set(s0) == {'workers', 'connections', 'tunnels', 'accepted',
                       'requests',
                       'bytes_out', 'bytes_spliced',
                       'request_bytes_spliced', 'translation',
                       'translation_cache', 'file_cache', 'nfs_cache',
                       'http_cache', 'filter_cache', 'children'}
    assert s0['workers'] == 1
    assert s0['children'] == {'total': 0, 'fastcgi': 0, 'was': 0,
                              'lhttp': 0}
    assert set(s0['requests']) == {'total', '1xx', '2xx', '3xx', '4xx',
                                   '5xx'}
    for key in ('translation_cache', 'file_cache', 'nfs_cache',
                'http_cache', 'filter_cache'):
        assert set(s0[key]) == {'entries', 'hits', 'misses'}
    assert get(d, '/x') == 200          # activates the cache
    assert get(d, '/x') == 200          # stored
    assert get(d, '/x') == 200          # a hit
    assert get(d, '/missing') == 404
    s1 = stats(ctl, sock)
    req0, req1 = s0['requests'], s1['requests']
    assert req1['total'] - req0['total'] == 4
    assert req1['2xx'] - req0['2xx'] == 3
    assert req1['4xx'] - req0['4xx'] == 1
    assert s1['accepted'] - s0['accepted'] >= 4
    assert s1['bytes_out'] > s0['bytes_out']
    tr0, tr1 = s0['translation'], s1['translation']
    assert tr1['requests'] - tr0['requests'] == srv.count()
    assert tr1['failures'] == tr0['failures']
    assert s1['translation_cache']['hits'] > s0['translation_cache']['hits']
    assert s1['translation_cache']['entries'] >= 1
    assert (s1['file_cache']['hits'] + s1['file_cache']['misses'] >
            s0['file_cache']['hits'] + s0['file_cache']['misses'])
    # The translation server goes away: failures count.
    srv.stop()
    assert get(d, '/other') == 502
    s2 = stats(ctl, sock)
    assert (s2['translation']['failures'] - s1['translation']['failures']
            == 1)
    assert s2['requests']['5xx'] - s1['requests']['5xx'] == 1


def test_udp_permissions(portierd_factory, servers, docroot, ctl):
    srv = servers(lambda req: file_answer(docroot))
    sock = abstract()
    port = free_udp_port()
    udp = '127.0.0.1:%d' % port
    d = portierd_factory([srv.address],
                         config=control_config(sock, udp))
    wait_log(d, 'control socket ' + udp)
    # VERBOSE over UDP: refused, logged, no effect.
    p = run_ctl(ctl, '--server', udp, 'verbose', '5')
    assert p.returncode == 0, p.stderr      # UDP: sent is all it knows
    lines = wait_log(d, 'refused VERBOSE')
    assert len(lines) == 1
    assert 'from 127.0.0.1:' in lines[0]
    assert 'only TCACHE_INVALIDATE and FLUSH_FILTER_CACHE are accepted ' \
        'over UDP' in lines[0]
    assert log_lines(d, 'log level') == []
    # STATS over UDP: refused, so no answer comes.
    time.sleep(1.1)                         # past the log rate limit
    p = run_ctl(ctl, '--server', udp, 'stats', '--timeout', '0.5')
    assert p.returncode == 2
    assert 'no answer' in p.stderr
    assert len(wait_log(d, 'refused STATS')) == 1
    # TCACHE_INVALIDATE over UDP is allowed and works.
    activate(d, srv)
    assert get(d, '/u') == 200 and get(d, '/u') == 200
    assert srv.count('URI', b'/u') == 1
    p = run_ctl(ctl, '--server', udp, 'tcache-invalidate', 'URI=/u')
    assert p.returncode == 0, p.stderr
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        get(d, '/u')
        if srv.count('URI', b'/u') == 2:
            break
        time.sleep(0.05)
    assert srv.count('URI', b'/u') == 2
    assert log_lines(d, 'refused TCACHE_INVALIDATE') == []
    # VERBOSE from the local socket (our uid) is accepted.
    p = run_ctl(ctl, '--server', sock, 'verbose', '4')
    assert p.returncode == 0, p.stderr
    stats(ctl, sock)
    assert len(log_lines(d, 'log level 4 (was 1)')) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason='needs root to send as '
                    'another uid')
def test_local_other_uid_refused(portierd_factory, servers, docroot, ctl):
    srv = servers(lambda req: file_answer(docroot))
    sock = abstract()
    d = portierd_factory([srv.address], config=control_config(sock))
    p = run_ctl(ctl, '--server', sock, 'verbose', '7', user=65534)
    assert p.returncode == 0, p.stderr
    lines = wait_log(d, 'refused VERBOSE')
    assert len(lines) == 1
    assert 'uid 65534' in lines[0]
    assert "must run as portierd's uid or as root" in lines[0]
    stats(ctl, sock)
    assert log_lines(d, 'log level') == []


def test_multicast_two_instances(portierd_factory, servers, docroot, ctl):
    group = multicast_group()
    port = free_udp_port()
    srv = servers(lambda req: file_answer(docroot))
    instances = []
    for _ in range(2):
        sock = abstract()
        conf = control_config(sock) + multicast_control(port, group)
        d = portierd_factory([srv.address], config=conf)
        instances.append((d, sock))
    for d, sock in instances:
        activate(d, srv)
        assert get(d, '/m') == 200 and get(d, '/m') == 200
        # log level 2: invalidations are logged, so we can wait for them
        assert run_ctl(ctl, '--server', sock, 'verbose', '2').returncode == 0
    assert srv.count('URI', b'/m') == 2          # one per instance
    p = run_ctl(ctl, '--server', '%s%%lo:%d' % (group, port),
            'tcache-invalidate', 'URI=/m')
    assert p.returncode == 0, p.stderr
    for d, sock in instances:
        lines = wait_log(d, 'TCACHE_INVALIDATE from ')
        assert len(lines) == 1, d.log()
        assert '1 items removed' in lines[0]
    for d, sock in instances:
        assert get(d, '/m') == 200
    assert srv.count('URI', b'/m') == 4


def test_malformed_and_unimplemented(portierd_factory, servers, docroot,
                                     ctl):
    srv = servers(lambda req: file_answer(docroot))
    sock = abstract()
    d = portierd_factory([srv.address], config=control_config(sock))
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        target = b'\0' + sock[1:].encode()
        for _ in range(5):
            s.sendto(b'garbage!', target)
        stats(ctl, sock)
        lines = log_lines(d, 'malformed datagram')
        assert len(lines) == 1
        assert 'wrong magic 0x67617262 at offset 0' in lines[0]
        time.sleep(1.1)
        # a truncated payload: the next line reports the suppressed ones
        s.sendto(MAGIC + b'\x00\x08\x00\x08ab', target)
        stats(ctl, sock)
    lines = log_lines(d, 'malformed datagram')
    assert len(lines) == 2
    assert ('truncated payload at offset 8: FADE_CHILDREN declares 8 bytes, '
            '2 follow') in lines[1]
    assert '(4 similar lines suppressed)' in lines[1]
    # A command portierd does not implement: logged once, the rest
    # ignored.  FLUSH_FILTER_CACHE is implemented (no such line).
    # FADE_CHILDREN reaches the WAS and LHTTP pools (with nothing in them).
    for _ in range(3):
        assert run_ctl(ctl, '--server', sock,
                   'flush-filter-cache').returncode == 0
        assert run_ctl(ctl, '--server', sock, 'reload-state').returncode == 0
        assert run_ctl(ctl, '--server', sock, 'fade-children').returncode == 0
    stats(ctl, sock)
    assert log_lines(d, 'FLUSH_FILTER_CACHE is not implemented') == []
    assert len(log_lines(d, 'RELOAD_STATE is not implemented')) == 1
    assert log_lines(d, 'FADE_CHILDREN: no child process pool') == []
    # The server still works.
    assert get(d, '/ok') == 200


def test_path_socket_removed(portierd_factory, servers, docroot, ctl,
                             tmp_path):
    srv = servers(lambda req: file_answer(docroot))
    path = str(tmp_path / 'control.sock')
    d = portierd_factory([srv.address], config=control_config(path))
    assert os.path.exists(path)
    assert stats(ctl, path)['workers'] == 1
    d.stop()
    assert not os.path.exists(path)


def test_udp_port_taken_fails_start(build_dir, tmp_path):
    binary = os.path.join(build_dir, 'dataplane', 'portierd')
    if not os.path.exists(binary):
        pytest.skip('portierd not built')
    conf = tmp_path / 'taken.conf'
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(('127.0.0.1', 0))
        port = taken.getsockname()[1]
        conf.write_text(control_config('127.0.0.1:%d' % port))
        # port 0: the listener needs no free port of its own
        p = subprocess.run([binary, '--config', str(conf), '--listen',
                            '127.0.0.1:0', '--translation-socket',
                            abstract()],
                           capture_output=True, text=True, timeout=20)
    assert p.returncode == 1
    assert ('%s:1: cannot bind control socket 127.0.0.1:%d: Address '
            'already in use' % (conf, port)) in p.stderr


def test_udp_ipv6(portierd_factory, servers, docroot, ctl):
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(('::1', 0))
            port = s.getsockname()[1]
    except OSError as e:
        pytest.skip('no IPv6 on lo: %s' % e)
    srv = servers(lambda req: file_answer(docroot))
    d = portierd_factory([srv.address],
                         config=control_config('[::1]:%d' % port))
    p = run_ctl(ctl, '--server', '[::1]:%d' % port, 'nop')
    assert p.returncode == 0, p.stderr
    lines = wait_log(d, 'refused NOP from [::1]:')
    assert len(lines) == 1
    assert 'on [::1]:%d' % port in lines[0]


def test_reject_and_tarpit_client(portierd_factory, servers, docroot, ctl):
    """REJECT_CLIENT closes 127.0.0.1's connections at accept, 0 seconds
    lifts it; TARPIT_CLIENT makes each request wait tarpit_delay; both are
    refused over UDP (docs/control.md)."""
    srv = servers(lambda req: file_answer(docroot))
    sock = abstract()
    port = free_udp_port()
    d = portierd_factory([srv.address],
                         config=control_config(sock, '127.0.0.1:%d' % port) +
                         'set tarpit_delay = "600 ms"\n')
    assert get(d, '/a') == 200
    p = run_ctl(ctl, '--server', sock, 'reject-client', '60', '127.0.0.1')
    assert p.returncode == 0, p.stderr
    stats(ctl, sock)                       # barrier
    with pytest.raises((ConnectionError, OSError)):
        d.request('GET', '/a')
    assert wait_log(d, 'REJECT_CLIENT from ')[0].endswith(
        '127.0.0.1 for 60 s')
    p = run_ctl(ctl, '--server', sock, 'reject-client', '0', '127.0.0.1')
    assert p.returncode == 0, p.stderr
    stats(ctl, sock)
    assert get(d, '/a') == 200
    assert wait_log(d, 'REJECT_CLIENT from ')[-1].endswith(
        '127.0.0.1 lifted')

    # Tarpit: every request waits, also on a kept-alive connection.
    p = run_ctl(ctl, '--server', sock, 'tarpit-client', '60',
                '::ffff:127.0.0.1')
    assert p.returncode == 0, p.stderr
    stats(ctl, sock)
    t0 = time.monotonic()
    assert get(d, '/a') == 200
    assert time.monotonic() - t0 >= 0.5
    p = run_ctl(ctl, '--server', sock, 'tarpit-client', '0', '127.0.0.1')
    assert p.returncode == 0, p.stderr
    stats(ctl, sock)
    t0 = time.monotonic()
    assert get(d, '/a') == 200
    assert time.monotonic() - t0 < 0.5

    # Over UDP: refused, nothing changes.
    p = run_ctl(ctl, '--server', '127.0.0.1:%d' % port, 'reject-client', '60',
            '127.0.0.1')
    assert p.returncode == 0, p.stderr
    line = wait_log(d, 'refused REJECT_CLIENT from 127.0.0.1:')
    assert line and 'only TCACHE_INVALIDATE and FLUSH_FILTER_CACHE' in line[0]
    assert get(d, '/a') == 200

    # A malformed address is named in the log and ignored.
    p = run_ctl(ctl, '--server', sock, 'reject-client', '60', 'not-an-ip')
    assert p.returncode == 0, p.stderr
    line = wait_log(d, "'not-an-ip' is not an IPv4 or IPv6 address")
    assert 'ignored' in line[0]
    assert get(d, '/a') == 200
