"""portierctl end to end against Python receivers (docs/portierctl.md).

Every receiver is a datagram socket this test binds itself: UDP on
127.0.0.1 (and ::1, multicast on lo) with a free port, AF_LOCAL at an
abstract name unique to this process or at a path in tmp_path.  The
expected datagrams are written out byte by byte from spec/protocols.md §2:
magic 63 04 61 01, then length:u16 BE, command:u16 BE, payload, NUL padding
to a multiple of 4.  STATS answers are hand-encoded msgpack (python3-msgpack
is not a dependency) in the reply framing of §2.5.  Every portierctl run is
bounded by a subprocess timeout."""
import json
import os
import re
import socket
import struct
import subprocess
import threading
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAGIC = b'\x63\x04\x61\x01'


@pytest.fixture(scope='module')
def ctl(build_dir):
    path = os.path.join(build_dir, 'ctl', 'portierctl')
    assert os.access(path, os.X_OK), 'portierctl is not built: ' + path
    return path


def run(ctl, *args, timeout=20):
    return subprocess.run([ctl, *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('127.0.0.1', 0))
    s.settimeout(5)
    yield s, '127.0.0.1:%d' % s.getsockname()[1]
    s.close()


@pytest.fixture
def abstract():
    name = 'portier-test-ctl-%d-%s' % (os.getpid(), uuid.uuid4().hex[:8])
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind('\0' + name)
    s.settimeout(5)
    yield s, '@' + name
    s.close()


def nothing_arrives(sock):
    sock.settimeout(0.3)
    with pytest.raises(socket.timeout):
        sock.recv(65536)


# (arguments, datagram) pairs, the datagrams written out from the spec.
VECTORS = [
    (['nop'], MAGIC + b'\x00\x00\x00\x00'),
    # spec §2.2's example, with NUL instead of the Python client's space
    (['fade-children', 'foo'], MAGIC + b'\x00\x03\x00\x08' b'foo\x00'),
    (['fade-children'], MAGIC + b'\x00\x00\x00\x08'),
    (['tcache-invalidate'], MAGIC + b'\x00\x00\x00\x01'),
    (['tcache-invalidate', 'HOST=example.com', 'URI=/x'],
     MAGIC + b'\x00\x18\x00\x01'
     + b'\x00\x0b\x00\x03' b'example.com\x00'
     + b'\x00\x02\x00\x04' b'/x\x00\x00'),
    (['tcache-invalidate', 'SITE=s1', 'cache_tag=t'],
     MAGIC + b'\x00\x10\x00\x01'
     + b'\x00\x02\x00\x12' b's1\x00\x00'
     + b'\x00\x01\x00\xd0' b't\x00\x00\x00'),
    (['expire-tcache-tag', 'blue'], MAGIC + b'\x00\x04\x00\x1a' b'blue'),
    (['flush-http-cache'], MAGIC + b'\x00\x00\x00\x0f'),
    (['flush-http-cache', 'news'], MAGIC + b'\x00\x04\x00\x0f' b'news'),
    (['flush-filter-cache'], MAGIC + b'\x00\x00\x00\x0c'),
    (['flush-filter-cache', 'abcde'],
     MAGIC + b'\x00\x05\x00\x0c' b'abcde\x00\x00\x00'),
    (['flush-nfs-cache'], MAGIC + b'\x00\x00\x00\x0b'),
    (['terminate-children', 'app'], MAGIC + b'\x00\x03\x00\x10' b'app\x00'),
    (['discard-session', '0123456789abcdef'],
     MAGIC + b'\x00\x10\x00\x0e' b'0123456789abcdef'),
    (['verbose', '3'], MAGIC + b'\x00\x01\x00\x07' b'\x03\x00\x00\x00'),
    (['reload-state'], MAGIC + b'\x00\x00\x00\x13'),
    (['reset-limiter', 'site1'],
     MAGIC + b'\x00\x05\x00\x16' b'site1\x00\x00\x00'),
    (['enable-zeroconf'], MAGIC + b'\x00\x00\x00\x0a'),
    (['disable-zeroconf'], MAGIC + b'\x00\x00\x00\x09'),
    (['disable-uring'], MAGIC + b'\x00\x00\x00\x15'),
    (['disable-uring', '2m'],
     MAGIC + b'\x00\x04\x00\x15' b'\x00\x00\x00\x78'),
    (['enable-uring'], MAGIC + b'\x00\x04\x00\x15' b'\x00\x00\x00\x00'),
    (['reject-client', '300', '192.0.2.1', '2001:db8::1'],
     MAGIC + b'\x00\x0d\x00\x17' b'\x00\x00\x01\x2c' b'192.0.2.1\x00\x00\x00'
     + b'\x00\x0f\x00\x17' b'\x00\x00\x01\x2c' b'2001:db8::1\x00'),
    (['tarpit-client', '1h', 'h'],
     MAGIC + b'\x00\x05\x00\x18' b'\x00\x00\x0e\x10' b'h\x00\x00\x00'),
    (['enable-node', 'n1:80'],
     MAGIC + b'\x00\x05\x00\x02' b'n1:80\x00\x00\x00'),
    (['fade-node', 'n1:80'], MAGIC + b'\x00\x05\x00\x03' b'n1:80\x00\x00\x00'),
    (['disconnect-database', 'acc'], MAGIC + b'\x00\x03\x00\x14' b'acc\x00'),
    (['enable-queue'], MAGIC + b'\x00\x00\x00\x12'),
    (['disable-queue', 'q1'], MAGIC + b'\x00\x02\x00\x11' b'q1\x00\x00'),
    (['cancel-job', 'part', 'j7'],
     MAGIC + b'\x00\x07\x00\x19' b'part\x00j7\x00'),
]


@pytest.mark.parametrize('args,datagram', VECTORS,
                         ids=[' '.join(v[0]) for v in VECTORS])
def test_udp_bytes(ctl, udp, args, datagram):
    sock, addr = udp
    p = run(ctl, '--server', addr, *args)
    assert p.returncode == 0, p.stderr
    assert p.stderr == '' and p.stdout == ''
    assert sock.recv(65536) == datagram


@pytest.mark.parametrize('args,datagram', VECTORS[:6],
                         ids=[' '.join(v[0]) for v in VECTORS[:6]])
def test_abstract_bytes(ctl, abstract, args, datagram):
    sock, addr = abstract
    p = run(ctl, '--server=' + addr, *args)
    assert p.returncode == 0, p.stderr
    assert sock.recv(65536) == datagram


def test_path_socket(ctl, tmp_path):
    path = str(tmp_path / 'ctl.sock')
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(path)
        s.settimeout(5)
        p = run(ctl, '--server', path, 'flush-http-cache', 'x')
        assert p.returncode == 0, p.stderr
        assert s.recv(100) == MAGIC + b'\x00\x01\x00\x0f' b'x\x00\x00\x00'


def test_ipv6(ctl):
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind(('::1', 0))
    except OSError:
        pytest.skip('no IPv6 loopback')
    with s:
        s.settimeout(5)
        p = run(ctl, '--server', '[::1]:%d' % s.getsockname()[1], 'nop')
        assert p.returncode == 0, p.stderr
        assert s.recv(100) == MAGIC + b'\x00\x00\x00\x00'


def test_localhost_name(ctl, udp):
    """A host name is resolved with getaddrinfo() and its first address
    is used; skipped where 'localhost' resolves to ::1 first (the receiver
    listens on 127.0.0.1 only)."""
    sock, addr = udp
    infos = socket.getaddrinfo('localhost', 1, type=socket.SOCK_DGRAM)
    if infos[0][0] != socket.AF_INET:
        pytest.skip('localhost does not resolve to 127.0.0.1 first')
    port = addr.rsplit(':', 1)[1]
    p = run(ctl, '--server', 'localhost:' + port, 'nop')
    assert p.returncode == 0, p.stderr
    assert sock.recv(100) == MAGIC + b'\x00\x00\x00\x00'


def test_multicast_lo(ctl):
    group = '239.255.%d.%d' % (os.getpid() % 250, 1 + os.getpid() % 200)
    receivers = []
    try:
        for _ in range(2):   # two receivers in the group: both get it
            r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            receivers.append(r)
            r.bind((group, receivers[0].getsockname()[1]
                    if len(receivers) > 1 else 0))
            mreq = socket.inet_aton(group) + socket.inet_aton('127.0.0.1')
            try:
                r.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                             mreq)
            except OSError as e:
                pytest.skip('cannot join a multicast group on lo: %s' % e)
            r.settimeout(5)
        port = receivers[0].getsockname()[1]
        p = run(ctl, '--server', '%s%%lo:%d' % (group, port),
                'fade-children', 'foo')
        assert p.returncode == 0, p.stderr
        for r in receivers:
            assert r.recv(100) == MAGIC + b'\x00\x03\x00\x08' b'foo\x00'
    finally:
        for r in receivers:
            r.close()


def test_interface_errors(ctl):
    p = run(ctl, '--server', '127.0.0.1%lo:9', 'nop')
    assert p.returncode == 1
    assert p.stderr == ('portierctl: 127.0.0.1%lo:9: %interface is only for '
                        'a multicast or an IPv6 link-local address\n')
    p = run(ctl, '--server', '239.1.2.3%nosuchif0:9', 'nop')
    assert p.returncode == 2
    assert p.stderr.startswith("portierctl: unknown interface 'nosuchif0' "
                               "in 239.1.2.3%nosuchif0:9")


# ---------------------------------------------------------------------
# stats

def reply(payload, command=6):
    """The reply framing of spec §2.5: length, command, payload."""
    return struct.pack('>HH', len(payload), command) + payload


# {"connections": 3, "requests": {"2xx": 10, "5xx": 1},
#  "workers": [{"connections": 1}, {"connections": 2}],
#  "hit_rate": 0.25, "name": "w\u00e9"}, hand-encoded msgpack
STATS_MAP = (
    b'\x85'
    + b'\xab' b'connections' + b'\x03'
    + b'\xa8' b'requests' + b'\x82' + b'\xa3' b'2xx' + b'\x0a'
    + b'\xa3' b'5xx' + b'\x01'
    + b'\xa7' b'workers' + b'\x92'
    + b'\x81' + b'\xab' b'connections' + b'\x01'
    + b'\x81' + b'\xab' b'connections' + b'\x02'
    + b'\xa8' b'hit_rate' + b'\xcb' + struct.pack('>d', 0.25)
    + b'\xa4' b'name' + b'\xa3' + 'wé'.encode())

STATS_LINES = ('connections: 3\n'
               'requests.2xx: 10\n'
               'requests.5xx: 1\n'
               'workers.0.connections: 1\n'
               'workers.1.connections: 2\n'
               'hit_rate: 0.25\n'
               'name: wé\n')

STATS_OBJECT = {'connections': 3, 'requests': {'2xx': 10, '5xx': 1},
                'workers': [{'connections': 1}, {'connections': 2}],
                'hit_rate': 0.25, 'name': 'wé'}


class Responder:
    """Answers the first datagram on sock with `answer` (if not None),
    after checking that it is a STATS request."""

    def __init__(self, sock, answer):
        self.sock, self.answer = sock, answer
        self.request = None
        self.error = None
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            data, peer = self.sock.recvfrom(65536)
            self.request = data
            if self.answer is not None:
                self.sock.sendto(self.answer, peer)
        except Exception as e:   # reported by join()
            self.error = e

    def join(self):
        self.thread.join(10)
        assert not self.thread.is_alive()
        assert self.error is None, self.error
        assert self.request == MAGIC + b'\x00\x00\x00\x06'


@pytest.mark.parametrize('kind', ['udp', 'abstract'])
def test_stats_lines(ctl, request, kind):
    sock, addr = request.getfixturevalue(kind)
    r = Responder(sock, reply(STATS_MAP))
    p = run(ctl, '--server', addr, 'stats')
    r.join()
    assert p.returncode == 0, p.stderr
    assert p.stdout == STATS_LINES
    assert p.stderr == ''


@pytest.mark.parametrize('kind', ['udp', 'abstract'])
def test_stats_json(ctl, request, kind):
    sock, addr = request.getfixturevalue(kind)
    r = Responder(sock, reply(STATS_MAP))
    p = run(ctl, '--server', addr, 'stats', '--json')
    r.join()
    assert p.returncode == 0, p.stderr
    assert p.stdout.endswith('\n') and p.stdout.count('\n') == 1
    assert json.loads(p.stdout) == STATS_OBJECT


def test_stats_legacy_struct(ctl, udp):
    sock, addr = udp
    fields = struct.pack('>IIII', 5, 6, 7, 8) + struct.pack(
        '>13Q', 100, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 2 ** 40, 12)
    assert len(fields) == 120
    r = Responder(sock, reply(fields))
    p = run(ctl, '--server', addr, 'stats', '--json')
    r.join()
    assert p.returncode == 0, p.stderr
    got = json.loads(p.stdout)
    assert got['incoming_connections'] == 5
    assert got['sessions'] == 8
    assert got['http_requests'] == 100
    assert got['http_traffic_received'] == 2 ** 40
    assert got['http_traffic_sent'] == 12
    assert len(got) == 17


def test_stats_timeout(ctl, udp):
    sock, addr = udp
    r = Responder(sock, None)
    start = time.monotonic()
    p = run(ctl, '--server', addr, '--timeout', '0.5', 'stats')
    elapsed = time.monotonic() - start
    r.join()
    assert p.returncode == 2
    assert p.stderr == 'portierctl: no answer from %s within 0.5 s\n' % addr
    assert p.stdout == ''
    assert 0.45 <= elapsed < 4


def test_stats_timeout_abstract(ctl, abstract):
    sock, addr = abstract
    r = Responder(sock, None)
    p = run(ctl, '--server', addr, 'stats', '--timeout', '0.3')
    r.join()
    assert p.returncode == 2
    assert p.stderr == 'portierctl: no answer from %s within 0.3 s\n' % addr


def test_stats_malformed(ctl, udp):
    sock, addr = udp
    r = Responder(sock, reply(b'\x81\x01', command=4))
    p = run(ctl, '--server', addr, 'stats')
    r.join()
    assert p.returncode == 2
    assert p.stderr == ('portierctl: malformed STATS reply from %s: reply '
                        'carries command 4 (NODE_STATUS), expected STATS '
                        '(6)\n' % addr)
    assert p.stdout == ''


def test_stats_huge_count(ctl, udp):
    """An array32 that claims 2^32-1 elements is refused before msgpack-c
    allocates anything for it."""
    sock, addr = udp
    r = Responder(sock, reply(b'\x81\xa1a\xdd\xff\xff\xff\xff'))
    p = run(ctl, '--server', addr, 'stats')
    r.join()
    assert p.returncode == 2
    assert p.stderr == ('portierctl: malformed STATS reply from %s: STATS '
                        'payload: msgpack array at offset 3 declares '
                        '4294967295 elements, 0 bytes follow\n' % addr)


def test_no_local_server(ctl):
    name = '@portier-test-absent-%d-%s' % (os.getpid(), uuid.uuid4().hex[:8])
    for args in (['nop'], ['stats']):
        p = run(ctl, '--server', name, *args)
        assert p.returncode == 2
        assert p.stderr == ('portierctl: cannot send to %s: Connection '
                            'refused\n' % name)


def test_stats_multicast_refused(ctl):
    p = run(ctl, '--server', '239.1.2.3%lo', 'stats')
    assert p.returncode == 1
    assert p.stderr == ('portierctl: stats needs a unicast or local server, '
                        'not the multicast address 239.1.2.3%lo\n')


# ---------------------------------------------------------------------
# usage

USAGE_ERRORS = [
    ([], 'missing COMMAND (see portierctl --help)'),
    (['frobnicate'], "unknown command 'frobnicate' (see portierctl --help)"),
    (['--bogus', 'nop'], "unknown option '--bogus' (see portierctl --help)"),
    (['tcache-invalidate', 'STATUS=200'],
     "tcache-invalidate: unknown NAME 'STATUS' (accepted: HOST, URI, "
     "SESSION, PARAM, USER, LANGUAGE, REMOTE_HOST, SITE, USER_AGENT, "
     "QUERY_STRING, ENOTDIR, LISTENER_TAG, INTERNAL_REDIRECT, CACHE_TAG, "
     "REALM_SESSION)"),
    (['tcache-invalidate', 'HOST'],
     "tcache-invalidate: 'HOST' is not NAME=VALUE"),
    (['verbose', 'loud'],
     "verbose: LEVEL must be a number from 0 to 255, got 'loud'"),
    (['terminate-children'], 'terminate-children: missing argument (usage: '
     'portierctl terminate-children TAG)'),
    (['nop', 'x'], 'nop: takes no arguments'),
    (['stats', '--timeout', '-1'], "--timeout: SECONDS must be a number "
     "above 0 and at most 3600, got '-1'"),
]


@pytest.mark.parametrize('args,message', USAGE_ERRORS,
                         ids=[' '.join(u[0]) or '(none)'
                              for u in USAGE_ERRORS])
def test_usage_errors(ctl, udp, args, message):
    sock, addr = udp
    p = run(ctl, '--server', addr, *args)
    assert p.returncode == 1
    assert p.stderr == 'portierctl: %s\n' % message
    assert p.stdout == ''
    nothing_arrives(sock)


def test_bad_server(ctl):
    p = run(ctl, '--server', 'host:99999', 'nop')
    assert p.returncode == 1
    assert p.stderr == ("portierctl: server address 'host:99999': port must "
                        "be a number from 1 to 65535, got '99999'\n")
    p = run(ctl, '--server', 'no-such-host.invalid', 'nop')
    assert p.returncode == 2
    assert p.stderr.startswith(
        "portierctl: cannot resolve 'no-such-host.invalid': ")


def test_help_and_version(ctl):
    p = run(ctl, '--help')
    assert p.returncode == 0
    assert p.stdout.startswith('Usage: portierctl [--server ADDR]')
    assert '@portier-control' in p.stdout
    md = run(ctl, '--help-markdown').stdout
    names = re.findall(r'^\| `([a-z-]+)', md, re.M)
    assert len(names) >= 20
    for name in names:
        assert re.search(r'^  %s( |$)' % re.escape(name), p.stdout, re.M)
    p = run(ctl, '--version')
    assert p.returncode == 0
    assert re.match(r'^portierctl \S+\n$', p.stdout)


def test_docs_list_every_command(ctl):
    """docs/portierctl.md carries the --help-markdown output verbatim."""
    md = run(ctl, '--help-markdown').stdout
    with open(os.path.join(ROOT, 'docs', 'portierctl.md'),
              encoding='utf-8') as f:
        doc = f.read()
    m = re.search(r'<!-- BEGIN GENERATED: make docs '
                  r'\(portierctl --help-markdown\) -->\n'
                  r'(.*?)'
                  r'<!-- END GENERATED -->', doc, re.S)
    assert m, 'docs/portierctl.md lacks the generated command section'
    assert m.group(1) == md, 'docs/portierctl.md is stale: run make docs'
    for name in re.findall(r'^\| `([a-z-]+)', md, re.M):
        assert '`%s' % name in m.group(1)
