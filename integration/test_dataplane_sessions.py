"""portierd's browser sessions and authentication flows (spec/protocols.md
§1.12, docs/sessions.md), end to end with a ScriptedTranslationServer: the
session cookie and SESSION round trip, USER login and logout, the cluster
node in the id, the manual's CHECK examples 1 and 2, AUTH, HTTP_AUTH and
TOKEN_AUTH conversations, DISCARD_SESSION as packet and control command,
and sessions that survive a restart through session_save_path."""
import http.client
import os
import re
import ssl
import subprocess
import time
import uuid

import pytest

from conftest import free_port
from dphelp import file_answer, one_failure_line, self_signed, wait_log
from tplib import CMD, packet, u16, u32

HELLO = b'<p>hello</p>\n'
COOKIE_RE = re.compile(r'^beng_proxy_session=([0-9a-f]{32}); HttpOnly; '
                       r'Path=/$')


def get(d, path, headers=None):
    return d.request('GET', path, headers)


def cookie_of(r, name='beng_proxy_session'):
    """The session id the response sets, or None."""
    v = r.getheader('Set-Cookie')
    if v is None:
        return None
    m = re.match(r'^%s=([0-9a-f]{32});' % re.escape(name), v)
    assert m, v
    return m.group(1)


def with_cookie(sid, name='beng_proxy_session', headers=None):
    h = dict(headers or {})
    h['Cookie'] = 'other=1; %s=%s' % (name, sid)
    return h


NOCACHE = packet('MAX_AGE', u32(0))


def test_session_round_trip(portierd_factory, docroot, servers):
    def handler(req):
        uri = req.text('URI')
        if uri == '/login':
            return file_answer(docroot) + [packet('SESSION', b'abc\x00z'),
                                           NOCACHE]
        if uri == '/clear':
            return file_answer(docroot) + [packet('SESSION'), NOCACHE]
        return file_answer(docroot) + [NOCACHE]

    srv = servers(handler)
    d = portierd_factory([srv.address])
    # no session yet: no SESSION packet, no cookie
    status, r, body = get(d, '/page')
    assert status == 200 and r.getheader('Set-Cookie') is None
    assert not srv.requests[-1].has('SESSION')
    # SESSION creates the session; the cookie carries its id
    status, r, body = get(d, '/login')
    assert status == 200 and body == HELLO
    assert COOKIE_RE.match(r.getheader('Set-Cookie'))
    sid = cookie_of(r)
    # the opaque value comes back with the cookie, and only with it
    status, r, _ = get(d, '/page', with_cookie(sid))
    assert status == 200 and r.getheader('Set-Cookie') is None
    assert srv.requests[-1].get('SESSION') == b'abc\x00z'
    get(d, '/page', with_cookie('0' * 32))
    assert not srv.requests[-1].has('SESSION')
    get(d, '/page', with_cookie(sid.upper() + 'x'))
    assert not srv.requests[-1].has('SESSION')
    get(d, '/page', {'Cookie': 'beng_proxy_sessionx=' + sid})
    assert not srv.requests[-1].has('SESSION')
    # an empty SESSION clears the value (the session itself stays)
    get(d, '/clear', with_cookie(sid))
    get(d, '/page', with_cookie(sid))
    assert not srv.requests[-1].has('SESSION')


def test_cookie_settings(portierd_factory, docroot, servers):
    def handler(req):
        extra = [packet('SESSION', 's'), NOCACHE]
        if req.text('URI') == '/secure':
            extra += [packet('SECURE_COOKIE'),
                      packet('COOKIE_DOMAIN', 'example.com'),
                      packet('SESSION_COOKIE_SAME_SITE', 'strict')]
        return file_answer(docroot) + extra

    srv = servers(handler)
    d = portierd_factory([srv.address], config=(
        'set session_cookie = "sid"\n'
        'set session_cookie_same_site = "lax"\n'
        'set dynamic_session_cookie = "yes"\n'))
    _, r1, _ = get(d, '/a', {'Host': 'one.example'})
    _, r2, _ = get(d, '/a', {'Host': 'ONE.example:8080'})
    _, r3, _ = get(d, '/a', {'Host': 'two.example'})
    c1, c2, c3 = (r.getheader('Set-Cookie') for r in (r1, r2, r3))
    m = re.match(r'^(sid[0-9a-f]{4})=[0-9a-f]{32}; HttpOnly; Path=/; '
                 r'SameSite=Lax$', c1)
    assert m, c1
    # the suffix follows the host (case and port aside)
    assert c2.startswith(m.group(1) + '=')
    assert not c3.startswith(m.group(1) + '=')
    # the cookie under its dynamic name finds the session
    sid = c1.split('=')[1].split(';')[0]
    get(d, '/b', {'Host': 'one.example',
                  'Cookie': '%s=%s' % (m.group(1), sid)})
    assert srv.requests[-1].get('SESSION') == b's'
    _, r, _ = get(d, '/secure', {'Host': 'one.example'})
    assert re.match(r'^sid[0-9a-f]{4}=[0-9a-f]{32}; HttpOnly; Path=/; '
                    r'Domain=example.com; Secure; SameSite=Strict$',
                    r.getheader('Set-Cookie'))


def test_cluster_node_in_cookie(portierd_factory, docroot, servers):
    srv = servers(lambda req: file_answer(docroot) +
                  [packet('SESSION', 'x'), NOCACHE])
    d = portierd_factory([srv.address],
                         extra=['--cluster-size', '3', '--cluster-node', '2'])
    ids = set()
    for i in range(24):
        _, r, _ = get(d, '/n%d' % i)
        sid = cookie_of(r)
        # the last 32 bits modulo the cluster size name the node
        assert int(sid[-8:], 16) % 3 == 2, sid
        ids.add(sid)
    assert len(ids) == 24
    assert 'cluster node 2 of 3' in d.log()


def test_cluster_options_checked(build_dir):
    binary = os.path.join(build_dir, 'dataplane', 'portierd')
    for args, msg in ((['--cluster-size', '0'], '--cluster-size'),
                      (['--cluster-size', '2', '--cluster-node', '2'],
                       'needs --cluster-size'),
                      (['--cluster-node', '1'], 'needs --cluster-size'),
                      (['--cluster-node', 'x'], '--cluster-node')):
        p = subprocess.run([binary, '--check'] + args, capture_output=True,
                           text=True, timeout=10)
        assert p.returncode == 2 and msg in p.stderr, (args, p.stderr)


def want_user_handler(docroot, answers):
    """/who asks for USER with WANT; other URIs answer from `answers`."""
    def handler(req):
        uri = req.text('URI')
        if uri == '/who':
            if req.has('WANT'):
                return file_answer(docroot) + [NOCACHE]
            return [packet('WANT', u16(CMD['USER'])), NOCACHE]
        # MAX_AGE first: after USER it would be the user's max age
        return [NOCACHE] + file_answer(docroot) + answers[uri]
    return handler


def who(d, srv, sid, headers=None):
    assert get(d, '/who', with_cookie(sid, headers=headers))[0] == 200
    return srv.requests[-1].text('USER')


def test_user_login_logout(portierd_factory, docroot, servers):
    answers = {
        '/login': [packet('USER', 'hans')],
        '/brief': [packet('USER', 'kurz'), packet('MAX_AGE', u32(1))],
        '/logout': [packet('USER', '')],
    }
    srv = servers(want_user_handler(docroot, answers))
    d = portierd_factory([srv.address])
    _, r, _ = get(d, '/login')
    sid = cookie_of(r)
    assert who(d, srv, sid) == 'hans'
    # without the cookie there is no user
    get(d, '/who')
    assert not srv.requests[-1].has('USER')
    get(d, '/logout', with_cookie(sid))
    assert who(d, srv, sid) is None
    # MAX_AGE after USER bounds the login
    get(d, '/brief', with_cookie(sid))
    assert who(d, srv, sid) == 'kurz'
    time.sleep(1.1)
    assert who(d, srv, sid) is None


def test_session_idle_timeout(portierd_factory, docroot, servers):
    srv = servers(lambda req: file_answer(docroot) +
                  [packet('SESSION', 'idle'), NOCACHE]
                  if req.text('URI') == '/s' else file_answer(docroot) +
                  [NOCACHE])
    d = portierd_factory([srv.address],
                         config='set session_idle_timeout = "2 s"\n')
    sid = cookie_of(get(d, '/s')[1])
    # each use refreshes it: three uses 0.5 s apart outlive the 2 s
    # (a request may take up to 1.5 s on a loaded machine)
    for _ in range(3):
        time.sleep(0.5)
        get(d, '/p', with_cookie(sid))
        assert srv.requests[-1].get('SESSION') == b'idle'
    time.sleep(2.3)
    get(d, '/p', with_cookie(sid))
    assert not srv.requests[-1].has('SESSION')


def test_check_example_1(portierd_factory, docroot, servers):
    """The manual's CHECK example 1: an unauthenticated user logs in."""
    state = {'logged_in': False}
    path = str(docroot / 'index.html')

    def handler(req):
        uri = req.text('URI')
        if uri == '/activate':
            return file_answer(docroot)
        assert uri == '/protected/foo.html'
        if not req.has('CHECK'):
            return [packet('PATH', path), packet('SESSION', '1234'),
                    packet('CHECK', 'xyz')]
        if not state['logged_in']:
            return [NOCACHE, packet('STATUS', u16(403)),
                    packet('MESSAGE', 'please log in')]
        return [packet('MAX_AGE', u32(300)),
                packet('VARY', u16(CMD['SESSION'])), packet('PREVIOUS')]

    srv = servers(handler)
    d = portierd_factory([srv.address])
    assert get(d, '/activate')[0] == 200     # the cache is active now
    n = srv.count()
    status, r, body = get(d, '/protected/foo.html')
    assert status == 403 and body == b'please log in'
    sid = cookie_of(r)
    first, second = srv.requests[n:]
    assert not first.has('SESSION') and not first.has('CHECK')
    assert second.get('SESSION') == b'1234'
    assert second.get('CHECK') == b'xyz'
    assert second.text('URI') == '/protected/foo.html'
    # login.pl marks the session, the user comes back: the first response
    # is cached, only the CHECK request goes to the server
    state['logged_in'] = True
    n = srv.count()
    status, r, body = get(d, '/protected/foo.html', with_cookie(sid))
    assert status == 200 and body == HELLO
    assert srv.count() == n + 1
    again = srv.requests[-1]
    assert again.get('CHECK') == b'xyz' and again.get('SESSION') == b'1234'
    # and now both answers are cached (VARY=SESSION, MAX_AGE=300)
    status, _, body = get(d, '/protected/foo.html', with_cookie(sid))
    assert status == 200 and body == HELLO
    assert srv.count() == n + 1


def test_check_example_2(portierd_factory, docroot, servers):
    """The manual's CHECK example 2: an authenticated user."""
    path = str(docroot / 'a.txt')

    def handler(req):
        if req.text('URI') == '/start':
            return file_answer(docroot) + [packet('SESSION', '2345'),
                                           NOCACHE]
        if not req.has('CHECK'):
            return [packet('PATH', path), packet('CHECK', 'xyz')]
        return [packet('MAX_AGE', u32(300)),
                packet('VARY', u16(CMD['SESSION'])), packet('PREVIOUS')]

    srv = servers(handler)
    d = portierd_factory([srv.address])
    sid = cookie_of(get(d, '/start')[1])
    n = srv.count()
    status, _, body = get(d, '/protected/foo.html', with_cookie(sid))
    assert status == 200 and body == b'a' * 100
    first, second = srv.requests[n:]
    assert first.get('SESSION') == b'2345' and not first.has('CHECK')
    assert second.get('SESSION') == b'2345'
    assert second.get('CHECK') == b'xyz'


def test_check_header_and_limits(portierd_factory, docroot, servers):
    def handler(req):
        uri = req.text('URI')
        if uri == '/key':
            if not req.has('CHECK'):
                return file_answer(docroot) + [
                    packet('CHECK', 'k'), packet('CHECK_HEADER', 'x-api-key'),
                    NOCACHE]
            if req.text('CHECK_HEADER') == 'x-api-key:secret':
                return [packet('PREVIOUS'), NOCACHE]
            return [packet('STATUS', u16(403)), NOCACHE]
        if uri == '/loop':
            return file_answer(docroot) + [packet('CHECK', 'again'), NOCACHE]
        return [packet('PREVIOUS'), NOCACHE]

    srv = servers(handler)
    d = portierd_factory([srv.address])
    assert get(d, '/key', {'X-Api-Key': 'secret',
                           'Authorization': 'Bearer t'})[0] == 200
    assert srv.requests[-1].text('AUTHORIZATION') == 'Bearer t'
    assert get(d, '/key', {'X-Api-Key': 'wrong'})[0] == 403
    assert get(d, '/key')[0] == 403
    assert srv.requests[-1].text('CHECK_HEADER') == 'x-api-key:'
    assert get(d, '/loop')[0] == 502
    one_failure_line(d, '/loop', 502, 'more than 4 CHECK repeat requests')
    assert get(d, '/prev')[0] == 502
    one_failure_line(d, '/prev', 502, 'No previous translation response')


def test_auth_example(portierd_factory, docroot, servers):
    """The manual's AUTH example, then the logged-in session."""
    def handler(req):
        if req.has('AUTH'):
            if req.get('AUTH') == b'opaque2':
                return [NOCACHE, packet('USER', 'hans'),
                        packet('MAX_AGE', u32(300))]
            if req.get('AUTH') == b'opaque2-deny':
                return [NOCACHE, packet('STATUS', u16(403)),
                        packet('MESSAGE', 'denied')]
            if req.get('AUTH') == b'opaque2-once':
                return [NOCACHE, packet('USER', 'once'),
                        packet('MAX_AGE', u32(0))]
            if req.get('AUTH') == b'opaque2-login':
                return [NOCACHE, packet('REDIRECT', 'http://login.example/')]
            return [NOCACHE]           # neither user nor decision
        uri = req.text('URI')
        if uri == '/start':
            return file_answer(docroot) + [packet('SESSION', 'opaque1'),
                                           NOCACHE]
        if uri == '/who':
            if req.has('WANT'):
                return file_answer(docroot) + [NOCACHE]
            return [packet('WANT', u16(CMD['USER'])), NOCACHE]
        tail = {'/foo.html': b'', '/deny': b'-deny', '/login': b'-login',
                '/nothing': b'-nothing', '/once': b'-once'}[uri]
        return file_answer(docroot) + [packet('AUTH', b'opaque2' + tail),
                                       NOCACHE]

    srv = servers(handler)
    d = portierd_factory([srv.address])
    host = {'Host': 'example.com'}
    sid = cookie_of(get(d, '/start', host)[1])
    status, r, body = get(d, '/foo.html;a=b?c=d', with_cookie(sid, headers=host))
    assert status == 200 and body == HELLO
    auth = srv.requests[-1]
    assert auth.get('AUTH') == b'opaque2'
    assert auth.get('SESSION') == b'opaque1'
    assert auth.text('URI') == '/foo.html;a=b?c=d'
    assert auth.text('HOST') == 'example.com'
    # logged in to this realm: no AUTH request any more
    n = srv.count()
    assert get(d, '/foo.html', with_cookie(sid, headers=host))[0] == 200
    assert srv.count() == n + 1 and not srv.requests[-1].has('AUTH')
    get(d, '/who', with_cookie(sid, headers=host))
    assert srv.requests[-1].text('USER') == 'hans'
    # another realm (host) is not logged in
    get(d, '/foo.html', with_cookie(sid, headers={'Host': 'other.example'}))
    assert srv.requests[-1].has('AUTH')
    # answers that decide, and one that does not
    status, _, body = get(d, '/deny', {'Host': 'x.example'})
    assert status == 403 and body == b'denied'
    status, r, _ = get(d, '/login', {'Host': 'x.example'})
    assert status == 303
    assert r.getheader('Location') == 'http://login.example/'
    assert get(d, '/nothing', {'Host': 'x.example'})[0] == 403
    # USER with MAX_AGE 0 admits this request; the login does not last
    once = {'Host': 'once.example'}
    _, r, _ = get(d, '/once', once)
    assert r.status == 200
    n = srv.count('AUTH')
    assert get(d, '/once', with_cookie(cookie_of(r), headers=once))[0] == 200
    assert srv.count('AUTH') == n + 1


def test_auth_file_and_append(portierd_factory, docroot, servers, tmp_path):
    (tmp_path / 'auth').write_bytes(b'from-file')
    (tmp_path / 'big').write_bytes(b'x' * 65)

    def handler(req):
        if req.has('AUTH'):
            return [NOCACHE, packet('USER', 'u')]
        uri = req.text('URI')
        if uri == '/file':
            return file_answer(docroot) + [
                packet('AUTH_FILE', str(tmp_path / 'auth')),
                packet('APPEND_AUTH', '+tail'), NOCACHE]
        if uri == '/big':
            return file_answer(docroot) + [
                packet('AUTH_FILE', str(tmp_path / 'big')), NOCACHE]
        return file_answer(docroot) + [packet('AUTH', 'a'),
                                       packet('APPEND_AUTH', 'b'), NOCACHE]

    srv = servers(handler)
    d = portierd_factory([srv.address])
    assert get(d, '/file')[0] == 200
    assert srv.requests[-1].get('AUTH') == b'from-file+tail'
    assert get(d, '/plain')[0] == 200
    assert srv.requests[-1].get('AUTH') == b'ab'
    assert get(d, '/big')[0] == 500
    one_failure_line(d, '/big', 500, 'more than 64 bytes')


def test_http_auth_example(portierd_factory, docroot, servers):
    """The manual's HTTP_AUTH example."""
    creds = 'Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=='

    def handler(req):
        if req.has('HTTP_AUTH'):
            if req.text('AUTHORIZATION') == creds:
                return [packet('USER', 'Aladdin'), packet('MAX_AGE', u32(300))]
            return [packet('STATUS', u16(401))]
        return file_answer(docroot) + [
            packet('HTTP_AUTH', 'opaque'),
            packet('APPEND_AUTH', '-x'),
            packet('WWW_AUTHENTICATE', 'Basic realm="Foo"'),
            packet('AUTHENTICATION_INFO', 'nextnonce="n"')]

    srv = servers(handler)
    d = portierd_factory([srv.address])
    # no Authorization: 401 at once, the server is not asked
    status, r, _ = get(d, '/protected/foo.html')
    assert status == 401
    assert r.getheader('WWW-Authenticate') == 'Basic realm="Foo"'
    assert r.getheader('Authentication-Info') == 'nextnonce="n"'
    n = srv.count()
    status, _, body = get(d, '/protected/foo.html', {'Authorization': creds})
    assert status == 200 and body == HELLO
    sub = srv.requests[-1]
    assert sub.get('HTTP_AUTH') == b'opaque-x'
    assert sub.text('AUTHORIZATION') == creds
    assert not sub.has('URI')
    status, r, _ = get(d, '/protected/foo.html', {'Authorization': 'Basic x'})
    assert status == 401
    assert r.getheader('WWW-Authenticate') == 'Basic realm="Foo"'
    # HTTP_AUTH requests are never answered from the cache
    assert get(d, '/protected/foo.html', {'Authorization': creds})[0] == 200
    assert srv.count('HTTP_AUTH') == 3
    assert srv.count() > n


def test_token_auth(portierd_factory, docroot, servers):
    def handler(req):
        if req.has('TOKEN_AUTH'):
            if req.text('AUTH_TOKEN') == 'good token':
                return [packet('USER', 'tok-user')]
            if not req.has('AUTH_TOKEN'):
                return [packet('REDIRECT', 'http://login.example/')]
            return [packet('STATUS', u16(403))]
        return file_answer(docroot) + [packet('TOKEN_AUTH', 'ta'), NOCACHE]

    srv = servers(handler)
    d = portierd_factory([srv.address])
    host = {'Host': 'site.example'}
    status, r, _ = get(d, '/t?x=1&access_token=good%20token&y=2', host)
    assert status == 303
    assert r.getheader('Location') == 'http://site.example/t?x=1&y=2'
    sid = cookie_of(r)
    sub = srv.requests[-1]
    assert sub.get('TOKEN_AUTH') == b'ta'
    assert sub.text('AUTH_TOKEN') == 'good token'
    assert sub.text('URI') == '/t?x=1&y=2'
    assert sub.text('HOST') == 'site.example'
    # following the redirect with the cookie: no TOKEN_AUTH request
    n = srv.count()
    status, _, body = get(d, '/t?x=1&y=2', with_cookie(sid, headers=host))
    assert status == 200 and body == HELLO
    assert srv.count() == n + 1 and not srv.requests[-1].has('TOKEN_AUTH')
    # no token and no session: asked without AUTH_TOKEN, redirected
    status, r, _ = get(d, '/t', host)
    assert status == 303
    assert r.getheader('Location') == 'http://login.example/'
    assert srv.requests[-1].text('URI') == '/t'
    # a wrong token; a malformed one
    assert get(d, '/t?access_token=bad', host)[0] == 403
    assert get(d, '/t?access_token=%zz', host)[0] == 400


def test_discard_session_packet(portierd_factory, docroot, servers):
    def handler(req):
        uri = req.text('URI')
        extra = {'/s': [packet('SESSION', 'v')],
                 '/discard': [packet('DISCARD_SESSION')],
                 '/renew': [packet('DISCARD_SESSION'),
                            packet('SESSION', 'new')]}.get(uri, [])
        return file_answer(docroot) + extra + [NOCACHE]

    srv = servers(handler)
    d = portierd_factory([srv.address])
    sid = cookie_of(get(d, '/s')[1])
    get(d, '/p', with_cookie(sid))
    assert srv.requests[-1].get('SESSION') == b'v'
    get(d, '/discard', with_cookie(sid))
    get(d, '/p', with_cookie(sid))
    assert not srv.requests[-1].has('SESSION')
    # DISCARD_SESSION with SESSION: a new session, a new cookie
    sid = cookie_of(get(d, '/s')[1])
    new = cookie_of(get(d, '/renew', with_cookie(sid))[1])
    assert new is not None and new != sid
    get(d, '/p', with_cookie(sid))
    assert not srv.requests[-1].has('SESSION')
    get(d, '/p', with_cookie(new))
    assert srv.requests[-1].get('SESSION') == b'new'


def test_attach_and_discard_by_control(portierd_factory, docroot, servers,
                                       build_dir):
    ctl = os.path.join(build_dir, 'ctl', 'portierctl')
    if not os.access(ctl, os.X_OK):
        pytest.skip('portierctl is not built')

    def handler(req):
        uri = req.text('URI')
        extra = {'/a1': [packet('SESSION', 'one'),
                         packet('ATTACH_SESSION', 'acct1')],
                 '/a2': [packet('ATTACH_SESSION', 'acct1')],
                 '/b': [packet('SESSION', 'b'),
                        packet('ATTACH_SESSION', 'acct2')]}.get(uri, [])
        return file_answer(docroot) + extra + [NOCACHE]

    srv = servers(handler)
    sock = '@portier-test-sess-%d-%s' % (os.getpid(), uuid.uuid4().hex[:8])
    d = portierd_factory([srv.address],
                         config='control {\n  bind "%s"\n}\n' % sock)
    s1 = cookie_of(get(d, '/a1')[1])
    # a second browser attaches to the same id: it joins the first session
    s2 = cookie_of(get(d, '/x')[1]) or None
    assert s2 is None
    _, r, _ = get(d, '/a2')
    joined = cookie_of(r)
    assert joined == s1
    sb = cookie_of(get(d, '/b')[1])
    # portierctl discard-session acct1: that session goes, the other stays
    p = subprocess.run([ctl, '--server', sock, 'discard-session', 'acct1'],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([ctl, '--server', sock, 'stats', '--json'],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr      # a barrier
    get(d, '/p', with_cookie(s1))
    assert not srv.requests[-1].has('SESSION')
    get(d, '/p', with_cookie(sb))
    assert srv.requests[-1].get('SESSION') == b'b'


def test_session_survives_restart(portierd_factory, docroot, servers,
                                  tmp_path):
    save = tmp_path / 'sessions.msgpack'
    answers = {'/login': [packet('SESSION', 'persist'),
                          packet('USER', 'hans')], '/p': []}
    srv = servers(want_user_handler(docroot, answers))
    config = 'set session_save_path = "%s"\n' % save
    d = portierd_factory([srv.address], config=config)
    # the realm is the Host: the same for both instances
    host = {'Host': 'h.example'}
    sid = cookie_of(get(d, '/login', host)[1])
    d.stop()                               # SIGTERM: saved on shutdown
    assert save.exists()
    assert not [p for p in os.listdir(tmp_path) if '.tmp.' in p]
    d2 = portierd_factory([srv.address], config=config)
    assert '1 session(s) loaded from' in d2.log()
    assert who(d2, srv, sid, host) == 'hans'
    assert srv.requests[-1].get('SESSION') == b'persist'
    d2.stop()
    # a corrupt file is logged and skipped; portierd serves anyway
    save.write_bytes(b'\x93\xb0portier-sessions\x01\x91\x97')
    d3 = portierd_factory([srv.address], config=config)
    assert wait_log(d3, 'skipped')
    assert 'declares 7 items, only 0 bytes remain' in d3.log()
    assert get(d3, '/p', with_cookie(sid))[0] == 200
    assert not srv.requests[-1].has('SESSION')
    d3.stop()
    # a foreign file, likewise
    save.write_text('{"not": "msgpack"}\n')
    d4 = portierd_factory([srv.address], config=config)
    assert wait_log(d4, 'skipped')
    assert get(d4, '/p')[0] == 200


def test_save_path_with_workers_accepted(build_dir, tmp_path):
    """The store is shared by the workers: session_save_path works with
    any number of them (test_dataplane_sessions_workers.py runs it)."""
    binary = os.path.join(build_dir, 'dataplane', 'portierd')
    conf = tmp_path / 'p.conf'
    conf.write_text('set session_save_path = "%s"\nset workers = 2\n'
                    % (tmp_path / 's'))
    p = subprocess.run([binary, '--config', str(conf), '--check'],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr


def test_session_limit_evicts_oldest(portierd_factory, docroot, servers):
    srv = servers(lambda req: file_answer(docroot) + [NOCACHE] + (
        [] if req.text('URI') == '/x'
        else [packet('SESSION', req.text('URI'))]))
    d = portierd_factory([srv.address], config='set max_sessions = "2"\n')
    first = cookie_of(get(d, '/1')[1])
    second = cookie_of(get(d, '/2')[1])
    get(d, '/x', with_cookie(first))       # the first is used again
    third = cookie_of(get(d, '/3')[1])
    assert wait_log(d, 'session limit 2 reached')
    get(d, '/x', with_cookie(second))      # evicted: least recently used
    assert not srv.requests[-1].has('SESSION')
    get(d, '/x', with_cookie(first))
    assert srv.requests[-1].get('SESSION') == b'/1'
    get(d, '/x', with_cookie(third))
    assert srv.requests[-1].get('SESSION') == b'/3'


def test_secure_cookie_over_tls(portierd_factory, docroot, servers,
                                tmp_path):
    self_signed(tmp_path, 's.test', 's.key', 's.pem')
    srv = servers(lambda req: file_answer(docroot) + [
        packet('SESSION', 'v'), packet('TOKEN_AUTH', 't'), NOCACHE]
        if not req.has('TOKEN_AUTH') else [packet('USER', 'u')])
    port = free_port()
    d = portierd_factory([srv.address], config=(
        'listener {\n  bind "127.0.0.1:%d"\n  ssl yes\n'
        '  ssl_cert "%s/s.pem" "%s/s.key"\n}\n' % (port, tmp_path,
                                                   tmp_path)))
    ctx = ssl._create_unverified_context()
    conn = http.client.HTTPSConnection('127.0.0.1', port, timeout=10,
                                       context=ctx)
    try:
        conn.request('GET', '/t?access_token=x', headers={'Host': 's.test'})
        r = conn.getresponse()
        r.read()
    finally:
        conn.close()
    # over TLS: Secure, and the token redirect stays on https
    assert r.status == 303
    assert re.match(r'^beng_proxy_session=[0-9a-f]{32}; HttpOnly; Path=/; '
                    r'Secure$', r.getheader('Set-Cookie'))
    assert r.getheader('Location') == 'https://s.test/t'
    # the plain listener: no Secure
    _, r, _ = get(d, '/t?access_token=x', {'Host': 's.test'})
    assert COOKIE_RE.match(r.getheader('Set-Cookie'))
    assert r.getheader('Location') == 'http://s.test/t'


def test_expand_auth_file_and_append(portierd_factory, docroot, servers,
                                     tmp_path):
    (tmp_path / 'alpha.auth').write_bytes(b'key-alpha')

    def handler(req):
        if req.has('AUTH'):
            return [NOCACHE, packet('USER', 'x')]
        return [packet('BASE', '/exp/'), packet('REGEX', '^/exp/(\\w+)$'),
                packet('PATH', str(docroot / 'index.html')),
                packet('EXPAND_AUTH_FILE', str(tmp_path) + '/\\1.auth'),
                packet('EXPAND_APPEND_AUTH', '+\\1'), NOCACHE]

    srv = servers(handler)
    d = portierd_factory([srv.address])
    status, _, body = get(d, '/exp/alpha')
    assert status == 200 and body == HELLO
    assert srv.requests[-1].get('AUTH') == b'key-alpha+alpha'
    # a file that does not exist: 500, named in the log
    assert get(d, '/exp/beta')[0] == 500
    one_failure_line(d, '/exp/beta', 500, 'beta.auth')
