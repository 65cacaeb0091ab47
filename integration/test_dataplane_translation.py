"""portierd and its translation servers: failures of the server (502, 504
for the timeout, one log line naming the cause, recovery by itself),
repeated requests (WANT, DEFER), the translation cache as seen from the
server, and the response-wide policy packets.  Each test states the
packets it wants through a ScriptedTranslationServer."""
import email.utils
import http.client
import os
import re
import socket
import struct
import threading
import time

import pytest

from dphelp import file_answer, log_lines, one_failure_line
from tplib import (CMD, HANG, CloseAfter, Trickle, packet, response, u16,
                   u32)


def get(d, path, headers=None):
    status, r, body = d.request('GET', path, headers)
    return status, r, body


# ---- failures of the translation server ----

def test_server_not_running(portierd_factory, docroot, servers):
    address = '@portier-test-absent-%d-%d' % (os.getpid(), id(docroot))
    d = portierd_factory([address])
    status, _, body = get(d, '/absent-1')
    assert status == 502 and b'502' in body
    one_failure_line(d, '/absent-1', 502,
                     'cannot connect to translation server %s' % address)
    # it comes up: the next request works without any intervention
    servers(lambda req: file_answer(docroot), address)
    status, _, body = get(d, '/absent-2')
    assert status == 200 and body == b'<p>hello</p>\n'


def test_server_killed_and_restarted(portierd_factory, docroot, servers):
    srv = servers(lambda req: file_answer(docroot))
    d = portierd_factory([srv.address])
    # MAX_AGE 0 is not cached: every request reaches the server
    srv.handler = lambda req: file_answer(docroot, 'index.html',
                                          packet('MAX_AGE', u32(0)))
    assert get(d, '/k1')[0] == 200
    assert get(d, '/k1')[0] == 200
    srv.stop()              # a crash: listener and connections gone
    status, _, _ = get(d, '/k2')
    assert status == 502
    one_failure_line(d, '/k2', 502, srv.address)
    srv.start()             # back on the same address
    before = srv.count()
    for _ in range(3):
        assert get(d, '/k3')[0] == 200
    assert srv.count() - before == 3
    assert log_lines(d, '/k3') == []


def test_server_dies_while_answering(portierd_factory, docroot, servers):
    srv = servers(lambda req: HANG)
    d = portierd_factory([srv.address])
    srv.handler = lambda req: HANG if req.text('URI') == '/hang' else \
        file_answer(docroot)
    conn_result = []
    t = threading.Thread(target=lambda: conn_result.append(
        get(d, '/hang')[0]))
    t.start()
    deadline = time.monotonic() + 5
    while srv.count() == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    srv.stop()
    t.join(10)
    assert conn_result == [502]
    one_failure_line(d, '/hang', 502, 'closed the connection without '
                     'answering')
    srv.start()
    assert get(d, '/after')[0] == 200


def test_garbage(portierd_factory, docroot, servers):
    # each answer with a piece of the cause its log line names
    answers = {
        '/g-command': (struct.pack('<HH', 0, 0xfff0), 'BEGIN'),
        '/g-no-begin': (packet('PATH', str(docroot) + '/index.html') +
                        packet('END'), 'BEGIN'),
        # its first bytes read as a packet of 21576 bytes: refused at
        # once, without waiting for them
        '/g-text': (b'HTTP/1.1 200 OK\r\n\r\n', 'BEGIN'),
        '/g-double-begin': (packet('BEGIN', b'\x03') + response(),
                            'double BEGIN'),
        '/g-bad-status': (response(packet('STATUS', b'\x01')), 'STATUS'),
        '/g-unknown': (response(packet(0xfff0)), '65520'),
    }
    srv = servers(lambda req: answers[req.text('URI')][0]
                  if req.text('URI') in answers else file_answer(docroot))
    d = portierd_factory([srv.address])
    for path, (_, cause) in answers.items():
        t0 = time.monotonic()
        status, _, _ = get(d, path)
        assert status == 502, path
        assert time.monotonic() - t0 < 2, path
        line = one_failure_line(d, path, 502, srv.address)
        assert cause in line
    # the broken connections are gone, a good answer works
    assert get(d, '/good')[0] == 200


def test_closing_mid_response(portierd_factory, docroot, servers):
    whole = response(packet('PATH', str(docroot) + '/index.html'))
    srv = servers(lambda req: CloseAfter(whole[:9]) if
                  req.text('URI') == '/cut' else file_answer(docroot))
    d = portierd_factory([srv.address])
    assert get(d, '/cut')[0] == 502
    one_failure_line(d, '/cut', 502, 'in the middle of the response')
    # a truncated packet header, too
    srv.handler = lambda req: CloseAfter(whole[:3])
    assert get(d, '/cut2')[0] == 502
    one_failure_line(d, '/cut2', 502, 'closed the connection')
    srv.handler = lambda req: file_answer(docroot)
    assert get(d, '/ok')[0] == 200


def test_timeout(portierd_factory, docroot, servers):
    srv = servers(lambda req: HANG if req.text('URI') == '/slow' else
                  file_answer(docroot))
    d = portierd_factory([srv.address],
                         config='set translation_timeout = "500 ms"\n')
    t0 = time.monotonic()
    status, _, _ = get(d, '/slow')
    elapsed = time.monotonic() - t0
    assert status == 504
    assert 0.4 < elapsed < 5
    one_failure_line(d, '/slow', 504, 'within 500 ms')
    assert get(d, '/fast')[0] == 200


def test_old_protocol_version(portierd_factory, docroot, servers):
    srv = servers(lambda req: response(
        packet('PATH', str(docroot) + '/index.html'), version=1))
    d = portierd_factory([srv.address])
    assert get(d, '/v1')[0] == 502
    one_failure_line(d, '/v1', 502, 'version 1')
    # no version byte at all is version 0
    srv.handler = lambda req: packet('BEGIN') + packet(
        'PATH', str(docroot) + '/index.html') + packet('END')
    assert get(d, '/v0')[0] == 502
    one_failure_line(d, '/v0', 502, 'version 0')
    srv.handler = lambda req: file_answer(docroot)
    assert get(d, '/v3')[0] == 200


def test_empty_response(portierd_factory, servers):
    srv = servers(lambda req: [])
    d = portierd_factory([srv.address])
    assert get(d, '/empty')[0] == 502
    one_failure_line(d, '/empty', 502, 'Empty response')


# ---- repeated requests: WANT, DEFER ----

def test_want(portierd_factory, docroot, servers):
    wanted = u16(CMD['USER_AGENT'], CMD['QUERY_STRING'], CMD['REMOTE_HOST'],
                 CMD['LANGUAGE'])

    def handler(req):
        if req.has('WANT'):
            return file_answer(docroot, 'a.txt')
        return [packet('WANT', wanted)]

    srv = servers(handler)
    d = portierd_factory([srv.address])
    status, _, body = get(d, '/w?x=1&y', {'User-Agent': 'test-agent/1.0',
                                         'Accept-Language': 'de-CH'})
    assert status == 200 and body == b'a' * 100
    assert srv.count() == 2
    first, second = srv.requests
    for name in ('WANT', 'USER_AGENT', 'QUERY_STRING', 'REMOTE_HOST',
                 'LANGUAGE'):
        assert not first.has(name), name
    assert second.get('WANT') == wanted
    assert second.text('URI') == first.text('URI') == '/w'
    assert second.text('HOST') == first.text('HOST')
    assert second.text('USER_AGENT') == 'test-agent/1.0'
    assert second.text('QUERY_STRING') == 'x=1&y'
    assert second.text('LANGUAGE') == 'de-CH'
    assert second.text('REMOTE_HOST').startswith('127.0.0.1:')
    # what the client does not send is not invented
    del srv.requests[:]
    assert get(d, '/w2', {'User-Agent': 'b'})[0] == 200
    second = srv.requests[-1]
    assert second.has('WANT') and not second.has('QUERY_STRING')
    assert not second.has('LANGUAGE')


def test_want_listener_tag_and_loop(portierd_factory, docroot, servers):
    srv = servers(lambda req: [packet('WANT', u16(CMD['LISTENER_TAG']))])
    d = portierd_factory([srv.address])
    assert get(d, '/wl')[0] == 502
    one_failure_line(d, '/wl', 502, 'WANT/LISTENER_TAG')
    assert srv.count() == 1
    # a WANT answered with another WANT
    srv.handler = lambda req: [packet('WANT', u16(CMD['USER_AGENT']))]
    assert get(d, '/loop')[0] == 502
    one_failure_line(d, '/loop', 502, 'WANT loop')


def test_defer(portierd_factory, docroot, servers):
    first = servers(lambda req: [packet('DEFER')])
    second = servers(lambda req: file_answer(docroot, 'a.txt'))
    d = portierd_factory([first.address, second.address])
    status, _, body = get(d, '/deferred?q')
    assert status == 200 and body == b'a' * 100
    assert first.count() == 1 and second.count() == 1
    assert second.requests[0].text('URI') == '/deferred'
    # not deferred: the second server is not asked
    first.handler = lambda req: file_answer(docroot)
    status, _, body = get(d, '/direct')
    assert status == 200 and body == b'<p>hello</p>\n'
    assert second.count() == 1
    # the last server defers too
    first.handler = lambda req: [packet('DEFER')]
    second.handler = lambda req: [packet('DEFER')]
    assert get(d, '/nowhere')[0] == 502
    one_failure_line(d, '/nowhere', 502, 'DEFER from the last')


def test_defer_from_the_only_server(portierd_factory, servers):
    srv = servers(lambda req: [packet('DEFER')])
    d = portierd_factory([srv.address])
    assert get(d, '/only')[0] == 502
    one_failure_line(d, '/only', 502, 'DEFER')


# ---- response-wide packets ----

def sockaddr_in(ip, port=0):
    return struct.pack('=H', socket.AF_INET) + struct.pack('>H', port) + \
        socket.inet_aton(ip) + bytes(8)


def allow_network(ip, prefix):
    return packet('ALLOW_REMOTE_NETWORK', bytes([prefix]) + sockaddr_in(ip))


@pytest.fixture
def policy(portierd_factory, docroot, servers):
    """portierd and a server answering with answers[URI] (uncached)."""
    answers = {}

    def handler(req):
        return answers[req.text('URI')] + [packet('MAX_AGE', u32(0))]

    srv = servers(handler)
    return portierd_factory([srv.address]), answers, srv


def test_status_and_message(policy):
    d, answers, _ = policy
    answers['/s204'] = [packet('STATUS', u16(204))]
    status, r, body = get(d, '/s204')
    assert status == 204 and body == b''
    answers['/s410'] = [packet('STATUS', u16(410))]
    status, r, body = get(d, '/s410')
    assert status == 410 and b'410' in body
    answers['/m'] = [packet('MESSAGE', 'just a message\n')]
    status, r, body = get(d, '/m')
    assert status == 200 and body == b'just a message\n'
    assert r.getheader('Content-Type').startswith('text/plain')
    answers['/sm'] = [packet('STATUS', u16(418)), packet('MESSAGE', 'tea')]
    status, r, body = get(d, '/sm')
    assert status == 418 and body == b'tea'


def test_status_with_path(policy, docroot):
    d, answers, _ = policy
    answers['/p'] = [packet('STATUS', u16(404))] + file_answer(docroot)
    status, _, body = get(d, '/p')
    assert status == 404 and body == b'<p>hello</p>\n'


def test_redirect(policy):
    d, answers, _ = policy
    answers['/r'] = [packet('REDIRECT', 'http://e.example/there')]
    status, r, body = get(d, '/r?a=1')
    assert status == 303
    assert r.getheader('Location') == 'http://e.example/there'
    assert body == b'redirection\n'
    answers['/r301'] = [packet('STATUS', u16(301)),
                        packet('REDIRECT', 'http://e.example/perm')]
    status, r, _ = get(d, '/r301')
    assert status == 301 and r.getheader('Location') == \
        'http://e.example/perm'
    answers['/rq'] = [packet('REDIRECT', 'http://e.example/q'),
                      packet('REDIRECT_QUERY_STRING')]
    status, r, _ = get(d, '/rq?a=1&b=2')
    assert status == 303
    assert r.getheader('Location') == 'http://e.example/q?a=1&b=2'
    status, r, _ = get(d, '/rq')
    assert r.getheader('Location') == 'http://e.example/q'
    answers['/rq2'] = [packet('REDIRECT', 'http://e.example/q?x=0'),
                       packet('REDIRECT_QUERY_STRING')]
    status, r, _ = get(d, '/rq2?a=1')
    assert r.getheader('Location') == 'http://e.example/q?x=0&a=1'
    answers['/rm'] = [packet('REDIRECT', 'http://e.example/'),
                      packet('MESSAGE', 'go away')]
    status, r, body = get(d, '/rm')
    assert status == 303 and body == b'go away'


def test_bounce(policy):
    d, answers, _ = policy
    answers['/b'] = [packet('BOUNCE', 'http://login.example/?next=')]
    status, r, _ = get(d, '/b?x=1', {'Host': 'site.example'})
    assert status == 303
    assert r.getheader('Location') == \
        'http://login.example/?next=http%3A%2F%2Fsite.example%2Fb%3Fx%3D1'
    answers['/b307'] = [packet('STATUS', u16(307)),
                        packet('BOUNCE', 'http://login.example/?u=')]
    status, r, _ = get(d, '/b307', {'Host': 'site.example'})
    assert status == 307
    # an absolute-form request target: the URL is built once, not twice
    out = d.raw(b'GET http://site.example/b?x=1 HTTP/1.1\r\nHost: other\r\n'
                b'Connection: close\r\n\r\n')
    assert (b'\r\nLocation: http://login.example/?next=http%3A%2F%2F'
            b'site.example%2Fb%3Fx%3D1\r\n') in out, out


def test_header_and_expires(policy, docroot):
    d, answers, _ = policy
    answers['/h'] = file_answer(docroot, 'index.html',
                                packet('HEADER', 'X-Test:yes'),
                                packet('HEADER', 'x-other:a b c'),
                                packet('EXPIRES_RELATIVE', u32(3600)))
    status, r, body = get(d, '/h')
    assert status == 200 and body == b'<p>hello</p>\n'
    assert r.getheader('X-Test') == 'yes'
    assert r.getheader('X-Other') == 'a b c'
    expires = email.utils.parsedate_to_datetime(r.getheader('Expires'))
    assert abs(expires.timestamp() - time.time() - 3600) < 10
    # another lifetime for URLs with a query string
    answers['/hq'] = file_answer(docroot, 'index.html',
                                 packet('EXPIRES_RELATIVE', u32(3600)),
                                 packet('EXPIRES_RELATIVE_WITH_QUERY',
                                        u32(60)))
    for path, seconds in (('/hq', 3600), ('/hq?a=1', 60)):
        status, r, _ = get(d, path)
        expires = email.utils.parsedate_to_datetime(r.getheader('Expires'))
        assert abs(expires.timestamp() - time.time() - seconds) < 10, path
    # on a generated response too
    answers['/hm'] = [packet('MESSAGE', 'm'), packet('HEADER', 'x-m:1')]
    status, r, body = get(d, '/hm')
    assert r.getheader('X-M') == '1' and body == b'm'
    # and on an error page
    answers['/h410'] = [packet('STATUS', u16(410)),
                        packet('HEADER', 'x-gone:since yesterday')]
    status, r, body = get(d, '/h410')
    assert status == 410 and b'410' in body
    assert r.getheader('X-Gone') == 'since yesterday'


def test_allow_remote_network(policy, docroot):
    d, answers, _ = policy
    answers['/net-yes'] = [allow_network('10.0.0.0', 8),
                           allow_network('127.0.0.0', 8)] + \
        file_answer(docroot)
    answers['/net-no'] = [allow_network('10.0.0.0', 8),
                          allow_network('127.0.0.2', 32)] + \
        file_answer(docroot)
    answers['/net-host'] = [allow_network('127.0.0.1', 32)] + \
        file_answer(docroot)
    assert get(d, '/net-yes')[0] == 200
    assert get(d, '/net-host')[0] == 200
    status, _, body = get(d, '/net-no')
    assert status == 403 and b'<p>hello' not in body


def test_no_query_string(policy, docroot):
    d, answers, _ = policy
    answers['/nq'] = [packet('NO_QUERY_STRING')] + file_answer(docroot)
    assert get(d, '/nq')[0] == 200
    assert get(d, '/nq?x=1')[0] == 404


def test_https_only(policy, docroot):
    d, answers, _ = policy
    answers['/tls'] = [packet('HTTPS_ONLY')] + file_answer(docroot)
    status, r, _ = get(d, '/tls?a=b', {'Host': 'site.example:8080'})
    assert status == 301
    assert r.getheader('Location') == 'https://site.example/tls?a=b'
    answers['/tls2'] = [packet('HTTPS_ONLY', u16(8443))] + \
        file_answer(docroot)
    status, r, _ = get(d, '/tls2', {'Host': 'site.example'})
    assert status == 301
    assert r.getheader('Location') == 'https://site.example:8443/tls2'
    out = d.raw(b'GET http://site.example/tls?a=b HTTP/1.1\r\n'
                b'Host: other\r\nConnection: close\r\n\r\n')
    assert b'\r\nLocation: https://site.example/tls?a=b\r\n' in out, out
    out = d.raw(b'GET http://[::1]:8080/tls HTTP/1.1\r\n'
                b'Host: [::1]:8080\r\nConnection: close\r\n\r\n')
    assert b'\r\nLocation: https://[::1]/tls\r\n' in out, out
    # a TLS front end says the request came over TLS: served
    status, _, body = get(d, '/tls', {'X-CM4all-HTTPS': 'on'})
    assert status == 200 and body == b'<p>hello</p>\n'
    assert get(d, '/tls', {'X-CM4all-HTTPS': 'off'})[0] == 301


def test_www_authenticate(policy):
    d, answers, _ = policy
    answers['/auth'] = [packet('WWW_AUTHENTICATE', 'Basic realm="x"')]
    status, r, _ = get(d, '/auth')
    assert status == 401
    assert r.getheader('WWW-Authenticate') == 'Basic realm="x"'
    answers['/auth-m'] = [packet('WWW_AUTHENTICATE', 'Bearer'),
                          packet('MESSAGE', 'log in first')]
    status, r, body = get(d, '/auth-m')
    assert status == 401 and body == b'log in first'


@pytest.mark.parametrize('name,packets', [
    ('HTTP2', [packet('HTTP', 'http://127.0.0.1:1/x'),
               packet('ADDRESS_STRING', '127.0.0.1:1'), packet('HTTP2')]),
    ('FILTER', [packet('PATH', '/tmp/x'), packet('FILTER'),
                packet('CGI', '/bin/true')]),
    ('TINY_IMAGE', [packet('TINY_IMAGE')]),
    # WAS itself is served (dp_was); Multi-WAS is not
    ('CONCURRENCY', [packet('WAS', '/bin/true'),
                     packet('CONCURRENCY', b'\x04\x00')]),
])
def test_feature_not_built(policy, name, packets):
    d, answers, _ = policy
    answers['/nf'] = packets
    status, _, _ = get(d, '/nf')
    assert status == 502
    one_failure_line(d, '/nf', 502, 'translation packet %s' % name)


# ---- the translation cache, seen from the server ----
#
# A cache starts inactive: the first response of a server activates it
# and is used but not stored (docs/translation-cache.md).

def activate(d, srv):
    assert get(d, '/activate')[0] in (200, 404)
    return srv.count()


def test_cache_max_age(portierd_factory, docroot, servers):
    def handler(req):
        uri = req.text('URI')
        if uri == '/never':
            return file_answer(docroot, 'index.html',
                               packet('MAX_AGE', u32(0)))
        if uri == '/short':
            return file_answer(docroot, 'index.html',
                               packet('MAX_AGE', u32(1)))
        return file_answer(docroot)         # no MAX_AGE: 24 hours

    srv = servers(handler)
    d = portierd_factory([srv.address])
    n = activate(d, srv)
    for _ in range(4):
        assert get(d, '/never')[0] == 200
    assert srv.count('URI', b'/never') == 4
    for _ in range(4):
        assert get(d, '/forever')[0] == 200
    assert srv.count('URI', b'/forever') == 1
    for _ in range(3):
        assert get(d, '/short')[0] == 200
    assert srv.count('URI', b'/short') == 1
    time.sleep(1.1)
    assert get(d, '/short')[0] == 200
    assert srv.count('URI', b'/short') == 2
    assert srv.count() == n + 4 + 1 + 2


def test_cache_per_uri(portierd_factory, docroot, servers):
    srv = servers(lambda req: file_answer(
        docroot, 'a.txt' if req.text('URI') == '/a' else 'index.html'))
    d = portierd_factory([srv.address])
    activate(d, srv)
    for _ in range(3):
        for path, body in (('/a', b'a' * 100), ('/b', b'<p>hello</p>\n'),
                           ('/b/c', b'<p>hello</p>\n')):
            status, _, got = get(d, path)
            assert status == 200 and got == body, path
    # one request per URI: no BASE, so /b does not answer for /b/c
    for uri in (b'/a', b'/b', b'/b/c'):
        assert srv.count('URI', uri) == 1, uri
    # HOST is always part of the key
    assert get(d, '/a', {'Host': 'other.example'})[0] == 200
    assert srv.count('URI', b'/a') == 2


def want_vary_handler(docroot, final):
    """WANT USER_AGENT first; then final(req) with VARY USER_AGENT."""
    def handler(req):
        if not req.has('WANT'):
            return [packet('WANT', u16(CMD['USER_AGENT']))]
        return [packet('VARY', u16(CMD['USER_AGENT']))] + final(req)
    return handler


def test_cache_vary(portierd_factory, docroot, servers):
    srv = servers(want_vary_handler(docroot, lambda req: file_answer(
        docroot, 'a.txt' if req.text('USER_AGENT') == 'A' else
        'index.html')))
    d = portierd_factory([srv.address])
    activate(d, srv)
    for _ in range(3):
        for agent, body in (('A', b'a' * 100), ('B', b'<p>hello</p>\n')):
            status, _, got = get(d, '/v', {'User-Agent': agent})
            assert status == 200 and got == body, agent
    # one WANT answer (no VARY: shared), one final answer per agent
    assert srv.count('URI', b'/v') == 3
    assert srv.count('USER_AGENT', b'A') == 1
    assert srv.count('USER_AGENT', b'B') == 1


def test_cache_invalidate(portierd_factory, docroot, servers):
    def final(req):
        out = file_answer(docroot, 'a.txt' if req.text('USER_AGENT') == 'A'
                          else 'index.html')
        if req.text('USER_AGENT') == 'B':
            out.append(packet('INVALIDATE', u16(CMD['URI'])))
        return out

    srv = servers(want_vary_handler(docroot, final))
    d = portierd_factory([srv.address])
    activate(d, srv)
    for _ in range(2):
        assert get(d, '/i', {'User-Agent': 'A'})[2] == b'a' * 100
    assert srv.count('USER_AGENT', b'A') == 1
    # B's answer invalidates every item of URI /i (A's too)
    assert get(d, '/i', {'User-Agent': 'B'})[2] == b'<p>hello</p>\n'
    assert get(d, '/i', {'User-Agent': 'A'})[2] == b'a' * 100
    assert srv.count('USER_AGENT', b'A') == 2
    # items of other URIs stay
    assert get(d, '/other', {'User-Agent': 'A'})[0] == 200
    assert get(d, '/other', {'User-Agent': 'A'})[0] == 200
    n = srv.count()
    assert get(d, '/other', {'User-Agent': 'A'})[0] == 200
    assert srv.count() == n


def test_cache_size(portierd_factory, docroot, servers):
    srv = servers(lambda req: file_answer(docroot))
    d = portierd_factory([srv.address],
                         config='set translate_cache_size = "2"\n')
    activate(d, srv)
    for path in ('/s1', '/s2', '/s1', '/s2'):
        assert get(d, path)[0] == 200
    assert srv.count('URI', b'/s1') == 1 and srv.count('URI', b'/s2') == 1
    # a third item pushes out the least recently used one (/s1)
    assert get(d, '/s3')[0] == 200
    assert get(d, '/s2')[0] == 200
    assert srv.count('URI', b'/s2') == 1
    assert get(d, '/s1')[0] == 200
    assert srv.count('URI', b'/s1') == 2


def test_cache_disabled(portierd_factory, docroot, servers):
    srv = servers(lambda req: file_answer(docroot))
    d = portierd_factory([srv.address],
                         config='set translate_cache_size = "0"\n')
    for _ in range(4):
        assert get(d, '/nc')[0] == 200
    assert srv.count() == 4


# ---- the connection pool to the translation server ----

class Concurrency:
    """A handler wrapper that counts answers in progress at once (most).

    Each translation waits (at most `patience` seconds) until `meet` of
    them were in progress together, then `delay` seconds more, and only
    then answers: how many portierd has in flight at once is seen
    whatever the pace at which the client threads get their requests
    out (on a loaded machine a fixed delay alone does not overlap
    them)."""

    def __init__(self, inner, delay, meet, patience=10):
        self.inner, self.delay = inner, delay
        self.meet, self.patience = meet, patience
        self.now = self.most = 0
        self.cond = threading.Condition()

    def __call__(self, req):
        with self.cond:
            self.now += 1
            self.most = max(self.most, self.now)
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.most >= self.meet,
                               self.patience)
        time.sleep(self.delay)
        with self.cond:
            self.now -= 1
        return self.inner(req)

    def reset(self, meet):
        with self.cond:
            self.most, self.meet = 0, meet


def parallel(d, paths):
    results = {}

    def one(path):
        results[path] = get(d, path)[0]

    threads = [threading.Thread(target=one, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    return results


def test_stock_limit(portierd_factory, docroot, servers):
    # Two in flight at once, then 0.2 s in which a third one would be
    # seen: never more than the limit.
    c = Concurrency(lambda req: file_answer(docroot, 'index.html',
                                            packet('MAX_AGE', u32(0))),
                    0.2, 2)
    srv = servers(c)
    d = portierd_factory([srv.address],
                         config='set translate_stock_limit = "2"\n')
    results = parallel(d, ['/p%d' % i for i in range(6)])
    assert set(results.values()) == {200}, results
    assert srv.count() == 6
    assert c.most == 2
    # and without the limit: all at once (each translation waits for the
    # sixth; were they one by one, the first would wait 10 s in vain)
    d2 = portierd_factory([srv.address])
    c.reset(6)
    results = parallel(d2, ['/q%d' % i for i in range(6)])
    assert set(results.values()) == {200}
    assert c.most == 6


def test_client_gone_during_translation(portierd_factory, docroot, servers):
    srv = servers(lambda req: HANG if req.text('URI') == '/gone' else
                  file_answer(docroot))
    d = portierd_factory([srv.address])
    for _ in range(3):
        s = socket.create_connection(('127.0.0.1', d.port), 3)
        s.sendall(b'GET /gone HTTP/1.1\r\nHost: x\r\n\r\n')
        deadline = time.monotonic() + 3
        n = srv.count()
        while srv.count() == n and time.monotonic() < deadline:
            time.sleep(0.01)
        s.close()
    # the abandoned requests neither crash nor block others (their
    # translations run on until the server answers or times out: portierd
    # does not watch a connection while its request is translated)
    time.sleep(0.2)
    assert get(d, '/fine')[0] == 200
    assert d.proc.poll() is None
    assert log_lines(d, '/gone') == []


def test_pipelined_behind_translation(portierd_factory, docroot, servers):
    delays = {'/slow': 0.5}

    def handler(req):
        time.sleep(delays.get(req.text('URI'), 0))
        return file_answer(docroot, 'a.txt' if req.text('URI') == '/slow'
                           else 'index.html')

    srv = servers(handler)
    d = portierd_factory([srv.address])
    out = d.raw(b'GET /slow HTTP/1.1\r\nHost: x\r\n\r\n'
                b'GET /fast HTTP/1.1\r\nHost: x\r\n\r\n'
                b'GET /fast2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    assert out.count(b'HTTP/1.1 200 ') == 3
    assert out.index(b'a' * 100) < out.index(b'<p>hello</p>')


@pytest.mark.parametrize('name,packets', [
    ('REDIRECT', [packet('REDIRECT', 'http://l/x\r\nSet-Cookie: a=b')]),
    ('BOUNCE', [packet('BOUNCE', 'http://l/?u=\nX-Evil: 1\n')]),
    ('WWW_AUTHENTICATE', [packet('WWW_AUTHENTICATE', 'Basic\r\nX-Evil: 1')]),
    ('AUTHENTICATION_INFO', [packet('STATUS', u16(200)),
                             packet('AUTHENTICATION_INFO', 'a\rX-Evil: 1')]),
    ('HEADER', [packet('HEADER', 'x-a:b\x01c'), packet('MESSAGE', 'm')]),
])
def test_no_header_injection(policy, name, packets):
    """A translation server's text never breaks the response head."""
    d, answers, _ = policy
    answers['/inj'] = packets
    out = d.raw(b'GET /inj HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    assert out.startswith(b'HTTP/1.1 502 '), out
    assert b'X-Evil' not in out and b'Set-Cookie' not in out
    one_failure_line(d, '/inj', 502, 'translation packet %s' % name)


def test_server_closes_after_each_answer(portierd_factory, docroot,
                                         servers):
    """A server that closes every connection after its answer: a pooled
    connection found dead is replaced without the client noticing."""
    srv = servers(lambda req: CloseAfter(file_answer(
        docroot, 'index.html', packet('MAX_AGE', u32(0)))))
    d = portierd_factory([srv.address])
    conn = http.client.HTTPConnection('127.0.0.1', d.port, timeout=5)
    for i in range(20):
        conn.request('GET', '/c%d' % i)
        r = conn.getresponse()
        assert r.status == 200 and r.read() == b'<p>hello</p>\n'
    conn.close()
    assert srv.count() == 20
    assert log_lines(d, ': 502: ') == []


def test_waiting_for_a_slot_behind_a_timeout(portierd_factory, docroot,
                                             servers):
    srv = servers(lambda req: HANG if req.text('URI') == '/stuck' else
                  file_answer(docroot, 'index.html',
                              packet('MAX_AGE', u32(0))))
    d = portierd_factory([srv.address], config=(
        'set translate_stock_limit = "1"\n'
        'set translation_timeout = "500 ms"\n'))
    results = {}

    def one(path):
        results[path] = get(d, path)[0]

    t = threading.Thread(target=one, args=('/stuck',))
    t.start()
    deadline = time.monotonic() + 3
    while srv.count() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    one('/queued')
    t.join(5)
    assert results == {'/stuck': 504, '/queued': 200}
    one_failure_line(d, '/stuck', 504, 'within 500 ms')


# ---- the repeated requests of spec §1.5.2 ----


def test_want_full_uri(policy, docroot):
    d, answers, srv = policy

    def handler(req):
        if req.has('WANT_FULL_URI'):
            return file_answer(docroot)
        return [packet('WANT_FULL_URI', 'wf')]

    srv.handler = handler
    status, _, body = get(d, '/a;b=1/c/d?q=1')
    assert status == 200 and body == b'<p>hello</p>\n'
    first, second = srv.requests
    assert first.text('URI') == '/a'
    assert second.text('URI') == '/a;b=1/c/d'
    assert second.text('WANT_FULL_URI') == 'wf'
    srv.handler = lambda req: [packet('WANT_FULL_URI', 'wf')]
    assert get(d, '/loop')[0] == 502
    one_failure_line(d, '/loop', 502, 'WANT_FULL_URI loop')


def test_internal_redirect(policy, docroot):
    d, answers, srv = policy

    def handler(req):
        if req.text('URI') == '/target':
            assert req.text('INTERNAL_REDIRECT') == 'ir'
            return file_answer(docroot, 'a.txt')
        return [packet('INTERNAL_REDIRECT', 'ir'), packet('URI', '/target')]

    srv.handler = handler
    status, _, body = get(d, '/start')
    assert status == 200 and body == b'a' * 100
    assert [r.text('URI') for r in srv.requests] == ['/start', '/target']
    # a redirect loop ends after 4 repetitions
    del srv.requests[:]
    srv.handler = lambda req: [packet('INTERNAL_REDIRECT', 'ir'),
                               packet('URI', '/again')]
    assert get(d, '/round')[0] == 502
    # the repeats come from the translation cache after the first answer
    # for '/again' (INTERNAL_REDIRECT requests are cacheable, §1.15)
    assert 2 <= srv.count() <= 6
    assert 'more than 4 INTERNAL_REDIRECT repeat requests' in d.log()


def test_like_host(policy, docroot):
    d, answers, srv = policy

    def handler(req):
        if req.text('HOST') == 'model.example':
            return file_answer(docroot, 'a.txt')
        return [packet('LIKE_HOST', 'model.example')]

    srv.handler = handler
    status, _, body = get(d, '/lh', {'Host': 'copy.example'})
    assert status == 200 and body == b'a' * 100
    assert [r.text('HOST') for r in srv.requests] == ['copy.example',
                                                      'model.example']
    assert srv.requests[1].text('URI') == '/lh'
    srv.handler = lambda req: [packet('LIKE_HOST', 'x%d.example' %
                                      srv.count())]
    assert get(d, '/lh-loop')[0] == 502


def test_file_not_found(policy, docroot):
    d, answers, srv = policy

    def handler(req):
        if req.has('FILE_NOT_FOUND'):
            assert req.text('FILE_NOT_FOUND') == 'fnf'
            return file_answer(docroot, 'a.txt')
        return [packet('PATH', '%s%s' % (docroot, req.text('URI'))),
                packet('FILE_NOT_FOUND', 'fnf')]

    srv.handler = handler
    status, _, body = get(d, '/index.html')     # exists: no repetition
    assert status == 200 and body == b'<p>hello</p>\n'
    assert srv.count() == 1
    status, _, body = get(d, '/missing.html')
    assert status == 200 and body == b'a' * 100
    assert srv.count() == 3
    assert srv.requests[2].text('URI') == '/missing.html'


def test_directory_index(policy, docroot):
    d, answers, srv = policy
    (docroot / 'dir').mkdir()
    (docroot / 'dir' / 'index.html').write_text('index of dir\n')

    def handler(req):
        if req.has('DIRECTORY_INDEX'):
            assert req.text('DIRECTORY_INDEX') == 'di'
            return file_answer(docroot, 'dir/index.html')
        return [packet('PATH', '%s/dir' % docroot),
                packet('DIRECTORY_INDEX', 'di')]

    srv.handler = handler
    status, _, body = get(d, '/dir/')
    assert status == 200 and body == b'index of dir\n'
    assert srv.count() == 2


def test_enotdir(policy, docroot):
    d, answers, srv = policy

    # Every answer maps the URI to a path and asks for ENOTDIR_; portierd
    # drops one segment per repeat (as beng-proxy does) until the path
    # is no longer below a file.
    def handler(req):
        if req.has('ENOTDIR_'):
            assert req.text('ENOTDIR_') == 'en'
        return [packet('PATH', '%s%s' % (docroot, req.text('URI'))),
                packet('ENOTDIR_', 'en')]

    srv.handler = handler
    status, _, body = get(d, '/index.html/more/tail')
    assert status == 200 and body == b'<p>hello</p>\n'
    uris = [r.text('URI') for r in srv.requests]
    assert uris == ['/index.html/more/tail', '/index.html/more',
                    '/index.html']
    # below a missing file nothing is shortened: 404
    assert get(d, '/nosuch/x')[0] == 404


def test_answer_in_pieces(portierd_factory, docroot, servers):
    """An answer that arrives a byte (or three) at a time, and one with
    bytes after END (used, then the connection is not reused)."""
    answer = file_answer(docroot, 'a.txt', packet('HEADER', 'x-p:1'),
                         packet('MAX_AGE', u32(0)))
    srv = servers(lambda req: Trickle(answer))
    d = portierd_factory([srv.address])
    for step in (1, 3):
        srv.handler = lambda req: Trickle(answer, step)
        status, r, body = get(d, '/piece%d' % step)
        assert status == 200 and body == b'a' * 100
        assert r.getheader('X-P') == '1'
    srv.handler = lambda req: response(*answer) + b'\x00\x00'
    for i in range(3):
        assert get(d, '/extra%d' % i)[0] == 200
    assert log_lines(d, ': 502: ') == []


def test_targets_without_a_path(portierd_factory, docroot, servers):
    """OPTIONS * and CONNECT host:port name no path: 400 before
    translation (as beng-proxy's "Malformed URI"), not a request for "/"."""
    srv = servers(lambda req: [packet('MESSAGE', 'translated')])
    d = portierd_factory([srv.address])
    for raw in (b'OPTIONS * HTTP/1.1\r\nHost: x\r\n',
                b'CONNECT x.example:443 HTTP/1.1\r\nHost: x.example:443\r\n'):
        out = d.raw(raw + b'Connection: close\r\n\r\n')
        assert out.startswith(b'HTTP/1.1 400 '), out
        assert b'translated' not in out
    assert srv.count() == 0
    # an absolute-form target without a path means "/"
    out = d.raw(b'GET http://x.example HTTP/1.1\r\nHost: x.example\r\n'
                b'Connection: close\r\n\r\n')
    assert out.startswith(b'HTTP/1.1 200 ') and out.endswith(b'translated')
    assert srv.requests[0].text('URI') == '/'


def test_failures_in_a_pipeline(portierd_factory, docroot, servers):
    """A failed translation answers its own request only: pipelined
    requests around it are served in order on the same connection."""
    srv = servers(lambda req: [] if req.text('URI') == '/bad' else
                  file_answer(docroot, 'a.txt' if req.text('URI') == '/a'
                              else 'index.html'))
    d = portierd_factory([srv.address])
    out = d.raw(b'GET /a HTTP/1.1\r\nHost: x\r\n\r\n'
                b'HEAD /bad HTTP/1.1\r\nHost: x\r\n\r\n'
                b'GET /bad HTTP/1.1\r\nHost: x\r\n\r\n'
                b'GET /i HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    statuses = re.findall(rb'HTTP/1\.1 (\d{3}) ', out)
    assert statuses == [b'200', b'502', b'502', b'200'], out
    assert out.index(b'a' * 100) < out.index(b'<p>hello</p>')
    # the HEAD answer has no body: the next response follows its head
    head_502 = out.index(b'HTTP/1.1 502 ')
    second_502 = out.index(b'HTTP/1.1 502 ', head_502 + 1)
    assert out[head_502:second_502].endswith(b'\r\n\r\n')
    assert len(log_lines(d, 'Empty response')) == 2


def test_server_down_concurrent(portierd_factory, docroot):
    address = '@portier-test-down-%d-%d' % (os.getpid(), id(docroot))
    d = portierd_factory([address])
    results = parallel(d, ['/down%d' % i for i in range(8)])
    assert set(results.values()) == {502}
    for i in range(8):
        one_failure_line(d, '/down%d' % i, 502, 'cannot connect')
    out = d.raw(b'GET /down-10 HTTP/1.0\r\nHost: x\r\n\r\n')
    assert out.startswith(b'HTTP/1.1 502 ') and b'Connection: close' in out


def test_want_args(portierd_factory, docroot, servers):
    def handler(req):
        if req.has('WANT'):
            return file_answer(docroot, 'a.txt', packet('MAX_AGE', u32(0)))
        return [packet('WANT', u16(CMD['ARGS'])), packet('MAX_AGE', u32(0))]

    srv = servers(handler)
    d = portierd_factory([srv.address])
    assert get(d, '/p;a=1;b=2/info?q')[0] == 200
    second = srv.requests[-1]
    assert second.text('ARGS') == 'a=1;b=2'
    assert second.text('URI') == '/p'
    assert get(d, '/plain')[0] == 200
    assert not srv.requests[-1].has('ARGS')
