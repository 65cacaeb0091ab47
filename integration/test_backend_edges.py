"""The shared backend edge-case table (spec/protocols.md §8: beng-proxy's
t_client cases Empty, Body, Huge, Cancel, CloseResponseBody,
CloseRequestBody, DataBlocking, Head, IgnoredBody, Bogus100/Twice100/
Close100, Hold, PrematureClose, PostEmpty, PrematureEnd, ExcessData,
ValidPremature, MalformedPremature, MalformedHeaderName/Value), run
through portierd against every backend kind: HTTP, CGI, FastCGI, WAS and
LHTTP.

CASES is the one table: what the backend does, what the client does and
what the client must see.  Each kind has a misbehaving backend that
does what the URI's second segment (the case's mode) says:
  http     tests/edge/edge_http.py, started by the test with its
           listener on fd 0 (HTTP address)
  cgi      tests/edge/edge_cgi.py (CGI)
  fastcgi  tests/edge/edge_fcgi.py, the record protocol in Python,
           spawned and pooled by portierd (FASTCGI)
  was      tests/was/was_edge.c on the was_app library (WAS)
  lhttp    tests/edge/edge_http.py spawned by portierd (LHTTP_PATH)
A case that cannot apply to a kind says why in its `na` entry; pytest
reports it as skipped with that reason.

After every case: portierd still runs and serves a fresh request, it
left no child behind (CGI: none at all; pools: at most their limit of
one, and every process of the backend program is portierd's child, so
a process that hangs or was not cleaned up would block the next
request), no zombie, and for each error exactly one log line with the
request and a text naming the cause.  One portierd per kind serves all
cases (the limit of one process per pool makes a leaked or dirty
process show in the following cases too)."""
import hashlib
import os
import socket
import subprocess
import time
from collections import namedtuple

import pytest

from conftest import Portierd, free_port
from dphelp import spawn_block
from proclib import all_pids, proc_stat, rss_kib
from tplib import ScriptedTranslationServer, packet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EDGE = os.path.join(ROOT, 'tests', 'edge')
MiB = 1 << 20
# portierd's backend timeouts (the hold case waits for them once per
# kind); the client of data_blocking stops reading for longer than that:
# a slow client is not a slow backend
TIMEOUT_MS = 2000
BLOCK = 2.5
HUGE = 8 * MiB          # as the backends (edge_*.py, was_edge.c) say
KINDS = ('http', 'cgi', 'fastcgi', 'was', 'lhttp')
POOLED = ('fastcgi', 'was', 'lhttp')


def pattern(n):
    block = bytes(range(251)) * (MiB // 251 + 1)
    out = bytearray()
    while len(out) < n:
        out += block[:n - len(out)]
    return bytes(out)


class P:
    """n bytes of pattern(), made when a case runs: pytest's peak RSS
    stays small (a process it forks inherits its peak as ru_maxrss, and
    test_nfs.py bounds that of one); answers are hashed as they come."""

    def __init__(self, n):
        self.n = n

    def __repr__(self):
        return 'P(%d)' % self.n


def materialize(v):
    return pattern(v.n) if isinstance(v, P) else v


def size_and_sha(v):
    """(length, SHA-256) of bytes or P(n), made 1 MiB at a time."""
    if not isinstance(v, P):
        return len(v), hashlib.sha256(v).hexdigest()
    h = hashlib.sha256()
    block = bytes(range(251)) * (MiB // 251 + 1)
    off = 0
    while off < v.n:
        start = off % 251
        part = block[start:start + min(MiB, v.n - off)]
        h.update(part)
        off += len(part)
    return v.n, h.hexdigest()


# ---- the table ----

Case = namedtuple('Case', 'name mode method body client does expect na')
# name     the case (beng-proxy's t_client name in the comment)
# mode     what the backend does (the URI's second segment)
# method   the request method; body: the request body (None: none; P(n):
#          n bytes of pattern())
# client   'plain' (send, read the answer), 'cancel' (close before the
#          head), 'close_response' (close after 1 MiB of the body),
#          'close_request' (send 300 KB of a 10 MB body, then close),
#          'blocking' (read the head, stop reading for a while, go on),
#          'expect' (Expect: 100-continue; the body after 100 Continue)
# does     what the backend does, in words (docs/testing.md)
# expect   what the client must see: dict with status, body (bytes, P(n)
#          or None: not checked), 'cut' (the body ends early and the
#          connection is closed), 'reuse' (the connection serves the
#          next request), 'log' (a text of the one log line naming the
#          cause; a dict per kind where the words differ)
# na       kind -> why the case cannot apply to it

OK_REUSE = {'status': 200, 'reuse': True}
NO_1XX = 'a CGI, FastCGI or WAS response head has no interim responses'
HTTP_ONLY_1XX = 'an HTTP 1xx head is interim (bogus100, twice100, close100)'
ONLY_WAS = 'only WAS can cut a body and keep the process (PREMATURE)'

CASES = [
    Case('empty', 'empty', 'GET', None, 'plain',            # Empty
         'status 200 without a body byte',
         dict(OK_REUSE, body=b''), {}),
    Case('body', 'body', 'GET', None, 'plain',              # Body
         '"hello world"',
         dict(OK_REUSE, body=b'hello world'), {}),
    Case('huge', 'huge', 'GET', None, 'plain',              # Huge
         '8 MiB of a pattern',
         dict(OK_REUSE, body=P(HUGE)), {}),
    Case('head', 'huge', 'HEAD', None, 'plain',             # Head
         'the 8 MiB answer to a HEAD (CGI, FastCGI, WAS send the body '
         'anyway)',
         dict(OK_REUSE, body=b''), {}),
    Case('post_empty', 'echo', 'POST', b'', 'plain',        # PostEmpty
         'echoes an empty POST body',
         dict(OK_REUSE, body=b''), {}),
    Case('post_echo', 'echo', 'POST', P(300000), 'plain',
         'echoes a 300 KB POST body',
         dict(OK_REUSE, body=P(300000)), {}),
    Case('ignored_body', 'ignore', 'POST', P(MiB), 'plain',
         # IgnoredBody
         'answers "ignored" without reading the 1 MiB request body '
         '(HTTP: and closes)',
         {'status': 200, 'body': b'ignored'}, {}),
    Case('expect_continue', 'echo', 'POST', P(100000), 'expect',
         'echoes 100 KB; the client sends Expect: 100-continue and the '
         'body only after 100 Continue',
         dict(OK_REUSE, body=P(100000), continued=True), {}),
    Case('expect_ignored', 'ignore', 'POST', P(MiB), 'expect',
         'answers "ignored" without reading; the client sent Expect: '
         '100-continue and waits for 100 Continue (or the answer)',
         {'status': 200, 'body': b'ignored'}, {}),
    Case('cancel', 'slow', 'GET', None, 'cancel',           # Cancel
         'answers after 0.5 s; the client is gone before that',
         {}, {}),
    Case('close_response_body', 'stream', 'GET', None,      # CloseResponse-
         'close_response',                                   # Body
         '256 MiB; the client closes after 1 MiB',
         {}, {}),
    Case('close_request_body', 'echo', 'POST', None,        # CloseRequest-
         'close_request',                                    # Body
         'echoes a 10 MB body of which the client sends 300 KB, then '
         'closes',
         {}, {}),
    Case('data_blocking', 'huge', 'GET', None, 'blocking',  # DataBlocking
         '8 MiB; the client stops reading after the head for longer '
         'than the backend timeouts (portierd stays under 64 MiB)',
         dict(OK_REUSE, body=P(HUGE)), {}),
    Case('bogus100', 'bogus100', 'GET', None, 'plain',      # Bogus100
         '100 Continue nobody asked for, then 200 "ok"',
         dict(OK_REUSE, body=b'ok'),
         {'cgi': NO_1XX, 'fastcgi': NO_1XX, 'was': NO_1XX}),
    Case('twice100', 'twice100', 'GET', None, 'plain',      # Twice100
         '100, 102 and 100 again, then 201 "ok"',
         {'status': 201, 'body': b'ok', 'reuse': True},
         {'cgi': NO_1XX, 'fastcgi': NO_1XX, 'was': NO_1XX}),
    Case('close100', 'close100', 'GET', None, 'plain',      # Close100
         '100 Continue, then closes',
         {'status': 502, 'log': 'in the middle of the response head'},
         {'cgi': NO_1XX, 'fastcgi': NO_1XX, 'was': NO_1XX}),
    Case('status100', 'status100', 'GET', None, 'plain',
         'Status: 100 (WAS: STATUS 100) as the final status',
         {'status': 502, 'log': {
             'cgi': 'Status 100 is not a final status',
             'fastcgi': 'Status 100 is not a final status',
             'was': 'STATUS 100 is not a final HTTP status'}},
         {'http': HTTP_ONLY_1XX, 'lhttp': HTTP_ONLY_1XX}),
    Case('hold', 'hold', 'GET', None, 'plain',              # Hold
         'head with length 100 and 10 bytes, then silence',
         {'status': 200, 'body': b'ten bytes.', 'cut': True, 'log': {
             'http': 'no response body data within %d ms' % TIMEOUT_MS,
             'cgi': 'no output for %d ms' % TIMEOUT_MS,
             'fastcgi': 'no answer within %d ms' % TIMEOUT_MS,
             'was': 'no progress for %d ms (was_timeout)' % TIMEOUT_MS,
             'lhttp': 'no response body data within %d ms' %
             TIMEOUT_MS}}, {}),
    Case('premature_close', 'close_head', 'GET', None, 'plain',
         # PrematureClose
         'closes in the middle of the response head (CGI, FastCGI: '
         'exits; WAS: exits after STATUS and a HEADER)',
         {'status': 502, 'log': {
             'http': 'closed the connection in the middle of the response '
                     'head',
             'cgi': 'output ended before the response head was complete',
             'fastcgi': 'connection closed by the application: stream '
                        'ended before END_REQUEST',
             # whichever portierd sees first
             'was': ('closed the control socket', 'exited with status 0'),
             'lhttp': 'closed the connection in the middle of the response '
                      'head'}}, {}),
    Case('premature_end', 'premature_end', 'GET', None, 'plain',
         # PrematureEnd
         'head with length 100 and 10 bytes, then closes (CGI, FastCGI, '
         'WAS: exits)',
         {'status': 200, 'body': b'ten bytes.', 'cut': True, 'log': {
             'http': 'closed the connection before the end of the response '
                     'body',
             'cgi': 'output ended 90 bytes before its Content-Length',
             'fastcgi': 'stream ended before END_REQUEST',
             'was': ('response pipe closed after 10 body bytes',
                     'closed the control socket', 'exited with status 0'),
             'lhttp': 'closed the connection before the end of the response '
                      'body'}}, {}),
    Case('excess_data', 'excess', 'GET', None, 'plain',     # ExcessData
         'length 2, sends "okEXTRA" and keeps the connection (WAS: '
         '"okEXTRA" on the pipe, then the head with LENGTH 2)',
         dict(OK_REUSE, body=b'ok'), {}),
    Case('valid_premature', 'valid_premature', 'GET', None, 'plain',
         # ValidPremature
         'LENGTH 5000, 1000 bytes, PREMATURE 1000',
         {'status': 200, 'body': P(1000), 'cut': True,
          'log': 'cut the response body after 1000 bytes (PREMATURE)'},
         {'http': ONLY_WAS, 'cgi': ONLY_WAS, 'fastcgi': ONLY_WAS,
          'lhttp': ONLY_WAS}),
    Case('malformed_premature', 'malformed_premature', 'GET', None,
         'plain',                                            # Malformed-
         'LENGTH 5000, 1000 bytes, PREMATURE 500',           # Premature
         # which sentence depends on timing: the 1,000 bytes are still
         # on the pipe when PREMATURE arrives, or already passed on
         # (with splice, straight to the client)
         {'status': 200, 'body': None, 'cut': True,
          'log': ('PREMATURE 500, but 500 more body byte(s) were on the '
                  'response pipe (malformed PREMATURE)',
                  'PREMATURE 500 out of place (1000 body bytes received)')},
         {'http': ONLY_WAS, 'cgi': ONLY_WAS, 'fastcgi': ONLY_WAS,
          'lhttp': ONLY_WAS}),
    Case('malformed_header_name', 'bad_name', 'GET', None, 'plain',
         'a header named "Bad Name"',
         {'status': 502, 'log': {
             'http': 'whitespace between the name and the colon',
             'cgi': 'invalid character 0x20 in the header name',
             'fastcgi': 'invalid character 0x20 in the header name',
             'was': 'HEADER: invalid character 0x20 in the name',
             'lhttp': 'whitespace between the name and the colon'}}, {}),
    Case('malformed_header_value', 'bad_value', 'GET', None, 'plain',
         'a header value with a NUL byte',
         {'status': 502, 'log': {
             'http': 'malformed response head: NUL in header',
             'cgi': 'control character 0x00 in the value of X-A',
             'fastcgi': 'control character 0x00 in the value of X-A',
             'was': 'HEADER: NUL byte',
             'lhttp': 'malformed response head: NUL in header'}}, {}),
]


def table_params():
    out = []
    for c in CASES:
        for kind in KINDS:
            marks = ()
            if kind in c.na:
                marks = pytest.mark.skip(reason='not applicable to %s: %s'
                                         % (kind, c.na[kind]))
            out.append(pytest.param(kind, c, marks=marks,
                                    id='%s-%s' % (c.name, kind)))
    return out


# ---- processes ----

def children(pid):
    """{child: state} of pid."""
    out = {}
    for p in all_pids():
        st = proc_stat(p)
        if st is not None and st[1] == pid:
            out[p] = st[0]
    return out


# the backend processes the test started itself (the HTTP kind's server)
OWN_BACKENDS = set()


def running(program):
    """Live processes running `program` (as argv[0] or, for scripts,
    argv[1]) that portierd started (not the test)."""
    out = []
    for p in all_pids():
        if p in OWN_BACKENDS:
            continue
        try:
            with open('/proc/%d/cmdline' % p, 'rb') as f:
                argv = f.read().split(b'\0')[:2]
        except OSError:
            continue
        st = proc_stat(p)
        if program.encode() in argv and st is not None and st[0] != 'Z':
            out.append(p)
    return out


# ---- one portierd per kind ----

class Setup:
    def __init__(self, kind, d, program, backend=None):
        self.kind, self.d, self.program = kind, d, program
        self.backend = backend      # the HTTP kind's server process


CONFIG = ('set backend_response_timeout = "%(t)d ms"\n'
          'set backend_body_timeout = "%(t)d ms"\n'
          'set cgi_timeout = "%(t)d ms"\n'
          'set fastcgi_timeout = "%(t)d ms"\n'
          'set was_timeout = "%(t)d ms"\n'
          'set fastcgi_stock_limit = "1"\n'
          'set was_stock_limit = "1"\n'
          'set lhttp_stock_limit = "1"\n') % {'t': TIMEOUT_MS}


@pytest.fixture(scope='module')
def setups(build_dir, tmp_path_factory):
    made = {}
    tmp = tmp_path_factory.mktemp('edges')
    binary = os.path.join(build_dir, 'dataplane', 'portierd')
    was_edge = os.path.abspath(os.path.join(build_dir, 'tests', 'was',
                                            'was-edge'))
    if not os.path.exists(binary) or not os.path.exists(was_edge):
        pytest.skip('portierd or was-edge not built')
    started = []

    def get(kind):
        if kind in made:
            return made[kind]
        backend = None
        if kind == 'http':
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(('127.0.0.1', 0))
            sock.listen(64)
            bport = sock.getsockname()[1]
            backend = subprocess.Popen(
                ['/usr/bin/python3', os.path.join(EDGE, 'edge_http.py')],
                stdin=sock.fileno(), stdout=subprocess.DEVNULL)
            sock.close()
            started.append(backend)
            OWN_BACKENDS.add(backend.pid)
            program = os.path.join(EDGE, 'edge_http.py')

            def answer(uri):
                return [packet('HTTP', 'http://127.0.0.1:%d%s' % (bport, uri)),
                        packet('ADDRESS_STRING', '127.0.0.1:%d' % bport)]
        elif kind == 'cgi':
            program = os.path.join(EDGE, 'edge_cgi.py')

            def answer(uri):
                return [packet('CGI', program)]
        elif kind == 'fastcgi':
            program = os.path.join(EDGE, 'edge_fcgi.py')

            def answer(uri):
                return [packet('FASTCGI', program)]
        elif kind == 'was':
            program = was_edge

            def answer(uri):
                return [packet('WAS', program)]
        else:
            program = os.path.join(EDGE, 'edge_http.py')

            def answer(uri):
                return [packet('LHTTP_PATH', program),
                        packet('LHTTP_URI', uri)]
        srv = ScriptedTranslationServer(lambda req: answer(req.text('URI')))
        srv.start()
        started.append(srv)
        port = free_port()
        conf = tmp / ('%s.conf' % kind)
        conf.write_text(spawn_block() + CONFIG)
        d = Portierd(binary, ['--listen', '127.0.0.1:%d' % port,
                              '--workers', '1', '--translation-socket',
                              srv.address, '--config', str(conf)],
                     port, str(tmp / ('%s.log' % kind)))
        started.append(d)
        made[kind] = Setup(kind, d, program, backend)
        return made[kind]

    yield get
    for s in reversed(started):
        if isinstance(s, subprocess.Popen):
            s.kill()
            s.wait()
        else:
            s.stop()
    # nothing of the edge programs is left running, no leak report
    for s in made.values():
        assert not sanitizer_reports(s.d), s.d.log()
        deadline = time.monotonic() + 5
        while running(s.program) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert running(s.program) == [], s.kind


# ---- the client ----

class Answer:
    def feed(self, data):
        if self.size < MiB:
            self.body += data[:MiB - self.size]
        self.size += len(data)
        self.sha.update(data)

    def __init__(self):
        self.status = None
        self.headers = {}
        self.body = b''             # the first MiB of it
        self.size = 0
        self.sha = hashlib.sha256()
        self.complete = False       # the body as long as announced
        self.closed = False         # the server closed the connection
        self.rss_kib = None         # portierd's VmRSS while blocked
        self.continued = False      # 100 Continue before the answer


class Client:
    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout)
        self.buf = b''
        self.eof = False

    def close(self):
        self.sock.close()

    def more(self):
        if self.eof:
            return False
        try:
            d = self.sock.recv(MiB)
        except ConnectionResetError:
            d = b''
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def send_request(self, method, path, body=None, length=None,
                     expect=False):
        head = '%s %s HTTP/1.1\r\nHost: edge.test\r\n' % (method, path)
        if length is not None or body is not None:
            head += 'Content-Length: %d\r\n' % (
                length if length is not None else len(body))
        if expect:
            head += 'Expect: 100-continue\r\n'
            body = None
        self.sock.sendall(head.encode() + b'\r\n' + (body or b''))

    def read_continue(self):
        """After a request with Expect: True when the server said 100
        Continue (consumed), False when a final answer comes first."""
        while b'\r\n\r\n' not in self.buf:
            if not self.more():
                return False
        if self.buf.split(b' ', 2)[1] != b'100':
            return False
        self.buf = self.buf.split(b'\r\n\r\n', 1)[1]
        return True

    def read_head(self, a):
        while True:
            while b'\r\n\r\n' not in self.buf:
                if not self.more():
                    a.closed = True
                    return False
            head, self.buf = self.buf.split(b'\r\n\r\n', 1)
            lines = head.decode('latin-1').split('\r\n')
            a.status = int(lines[0].split(' ')[1])
            a.headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(':')
                a.headers[k.strip().lower()] = v.strip()
            if a.status >= 200:
                return True
            # an interim response the client never asked for is wrong
            raise AssertionError('interim response %d passed to the '
                                 'client' % a.status)

    def take(self, a, n):
        """Move up to n body bytes from the buffer into the answer."""
        part, self.buf = self.buf[:n], self.buf[n:]
        a.feed(part)
        return len(part)

    def read_body(self, a, method):
        """Read the body as it comes (hashed, the first MiB kept: a body
        of megabytes never sits in memory whole)."""
        if method == 'HEAD' or a.status in (204, 304):
            a.complete = True
            return
        if 'content-length' in a.headers:
            left = int(a.headers['content-length'])
            while left > 0:
                if not self.buf and not self.more():
                    return
                left -= self.take(a, left)
            a.complete = True
        elif a.headers.get('transfer-encoding') == 'chunked':
            while True:
                while b'\r\n' not in self.buf:
                    if not self.more():
                        return
                line, self.buf = self.buf.split(b'\r\n', 1)
                size = int(line.split(b';')[0], 16)
                left = size
                while left > 0:
                    if not self.buf and not self.more():
                        return
                    left -= self.take(a, left)
                while len(self.buf) < 2:
                    if not self.more():
                        return
                self.buf = self.buf[2:]
                if size == 0:
                    a.complete = True
                    return
        else:
            while True:
                self.take(a, len(self.buf))
                if not self.more():
                    break
            a.complete = True

    def is_closed(self, wait=3):
        """True when the server closes the connection within `wait`."""
        self.sock.settimeout(wait)
        try:
            return not self.more()
        except socket.timeout:
            return False


def run_client(d, case, path):
    """Play the case's client; an Answer (status None: no answer)."""
    a = Answer()
    body = materialize(case.body)
    c = Client(d.port)
    try:
        if case.client == 'cancel':
            c.send_request(case.method, path)
            time.sleep(0.15)
            return a, c
        if case.client == 'close_request':
            c.send_request(case.method, path, length=10000000)
            c.sock.sendall(pattern(300000))
            time.sleep(0.15)
            return a, c
        if case.client == 'expect':
            c.send_request(case.method, path, body, expect=True)
            a.continued = c.read_continue()
            if a.continued:
                c.sock.sendall(body)
        else:
            c.send_request(case.method, path, body)
        if not c.read_head(a):
            return a, c
        if case.client == 'close_response':
            while len(c.buf) < MiB and c.more():
                pass
            return a, c
        if case.client == 'blocking':
            # back-pressure: portierd does not take the body in meanwhile
            time.sleep(BLOCK)
            a.rss_kib = rss_kib(d.proc.pid)
        c.read_body(a, case.method)
        a.closed = not a.complete and c.is_closed()
        return a, c
    except BaseException:
        c.close()
        raise


def backend_name(s):
    """How portierd's log lines name the backend of a kind."""
    return {'http': 'backend 127.0.0.1:', 'cgi': 'cgi ' + s.program,
            'fastcgi': 'fastcgi ' + s.program,
            'was': 'WAS application ' + s.program,
            'lhttp': 'backend @portier-lhttp-'}[s.kind]


def log_lines(d, needle):
    return [line for line in d.log().splitlines() if needle in line]


# what a sanitizer build of portierd (or of was-edge) writes on a finding
SANITIZER = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer',
             'runtime error:')


def sanitizer_reports(d):
    return [m for m in SANITIZER if m in d.log()]


def check_afterwards(s, case, path):
    """portierd serves, left no child process behind, no zombie, no
    sanitizer report."""
    d = s.d
    assert d.proc.poll() is None, 'portierd died:\n' + d.log()
    assert not sanitizer_reports(d), d.log()
    status, _, body = d.request('GET', '/edge/body/after-%s' % case.name)
    assert (status, body) == (200, b'hello world'), d.log()[-3000:]
    deadline = time.monotonic() + 5
    while True:
        kids = children(d.proc.pid)
        live = [p for p, st in kids.items() if st != 'Z']
        zombies = [p for p, st in kids.items() if st == 'Z']
        # (the HTTP kind's server is the test's; portierd spawns none)
        programs = running(s.program) if s.kind != 'http' else []
        if s.kind in POOLED:
            # the pool's one process, portierd's own child
            good = len(live) <= 1 and set(programs) <= set(live)
        else:
            good = not live and not programs
        good = good and not zombies
        if good or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not zombies, 'zombie children %r' % zombies
    assert good, 'children %r, %s processes %r' % (kids, s.program,
                                                   programs)


@pytest.mark.parametrize('kind,case', table_params())
def test_edge(setups, kind, case):
    s = setups(kind)
    d = s.d
    path = '/edge/%s/%s-%s' % (case.mode, case.name, kind)
    a, c = run_client(d, case, path)
    e = case.expect
    try:
        if 'status' in e:
            assert a.status == e['status'], (a.status, d.log()[-2000:])
        if e.get('body') is not None:
            assert (a.size, a.sha.hexdigest()) == size_and_sha(e['body']), \
                (a.size, a.body[:100])
        if e.get('cut'):
            assert not a.complete and a.closed, (a.complete, a.closed)
        elif case.client in ('plain', 'blocking', 'expect') and \
                a.status < 500:
            assert a.complete, 'body of %d bytes incomplete' % a.size
        if 'continued' in e:
            assert a.continued == e['continued']
        if a.rss_kib is not None:
            assert a.rss_kib < 64 * 1024, 'portierd VmRSS %d KiB' % a.rss_kib
        if e.get('reuse'):
            # the same connection serves the next request right
            c.sock.settimeout(10)
            c.send_request('GET', '/edge/body/again-%s-%s'
                           % (case.name, kind))
            b = Answer()
            assert c.read_head(b), 'connection closed after the answer'
            c.read_body(b, 'GET')
            assert (b.status, b.body) == (200, b'hello world'), \
                (b.status, b.body[:100])
    finally:
        c.close()
    if 'log' in e:
        want = e['log']
        if isinstance(want, dict):
            want = want[kind]
        if isinstance(want, str):
            want = (want,)
        deadline = time.monotonic() + 3
        while not log_lines(d, path) and time.monotonic() < deadline:
            time.sleep(0.02)
        lines = log_lines(d, path)
        assert len(lines) == 1, lines
        assert any(w in lines[0] for w in want), lines[0]
        assert backend_name(s) in lines[0], lines[0]
    check_afterwards(s, case, path)
