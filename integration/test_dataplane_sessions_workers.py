"""Sessions with several worker processes (docs/sessions.md): one store
shared by all workers, so a login made through one worker holds in every
other; session_save_path with workers (the master saves); a worker killed
with -9 and a reload (SIGHUP) keep the sessions."""
import os
import re
import signal
import socket
import struct
import threading

import pytest

from dphelp import file_answer, wait_log
from proclib import children, wait_for
from tplib import CMD, ScriptedTranslationServer, packet, u16, u32

NOCACHE = packet('MAX_AGE', u32(0))
HOST = {'Host': 'h.example'}


class PeerServer(ScriptedTranslationServer):
    """Knows which process (pid, from SO_PEERCRED) sent each request."""

    def __init__(self, handler):
        self._who = threading.local()
        self.peers = []         # (uri, pid) per request
        super().__init__(self._record(handler))

    def _record(self, handler):
        def h(req):
            self.peers.append((req.text('URI'), self._who.pid))
            return handler(req)
        return h

    def _serve(self, conn):
        cred = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                               struct.calcsize('3i'))
        self._who.pid = struct.unpack('3i', cred)[0]
        super()._serve(conn)


@pytest.fixture
def server(docroot):
    """/login logs "hans" in (USER); /who asks for the user (WANT)."""
    def handler(req):
        uri = req.text('URI')
        if uri == '/who':
            if req.has('WANT'):
                return file_answer(docroot) + [NOCACHE]
            return [packet('WANT', u16(CMD['USER'])), NOCACHE]
        extra = {'/login': [packet('USER', 'hans'),
                            packet('SESSION', 'kept')]}.get(uri, [])
        return [NOCACHE] + file_answer(docroot) + extra
    srv = PeerServer(handler)
    srv.start()
    yield srv
    srv.stop()


def login(d):
    st, r, _ = d.request('GET', '/login', HOST)
    assert st == 200
    m = re.match(r'^beng_proxy_session=([0-9a-f]{32});',
                 r.getheader('Set-Cookie') or '')
    assert m, r.getheader('Set-Cookie')
    return m.group(1)


def who_many(d, srv, sid, n=40, parallel=4):
    """n requests for /who over new connections, `parallel` at a time;
    returns the users the translation server saw and the worker pids."""
    headers = dict(HOST, Cookie='beng_proxy_session=%s' % sid)
    before = len(srv.peers)
    errors = []

    def one():
        try:
            st = d.request('GET', '/who', headers)[0]
            if st != 200:
                errors.append(st)
        except OSError as e:
            errors.append(e)

    for _ in range(n // parallel):
        ts = [threading.Thread(target=one) for _ in range(parallel)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(15)
    assert not errors, errors
    users = [r.text('USER') for r in srv.requests[before:]
             if r.text('URI') == '/who' and r.has('WANT')]
    pids = {pid for uri, pid in srv.peers[before:] if uri == '/who'}
    return users, pids


def start(portierd_factory, srv, config=''):
    d = portierd_factory([srv.address], config=config, workers=2)
    wait_for(lambda: len(children(d.proc.pid)) == 2)
    return d


def test_login_seen_by_every_worker(portierd_factory, server):
    d = start(portierd_factory, server)
    workers = set(children(d.proc.pid))
    assert 'session store shared by all workers' in d.log()
    sid = login(d)
    users, pids = who_many(d, server, sid)
    assert len(users) == 40
    assert set(users) == {'hans'}, users
    # both workers served (and so both found the session); the kernel
    # decides who accepts, so a few more rounds if one took them all
    for _ in range(4):
        if pids == workers:
            break
        more, more_pids = who_many(d, server, sid)
        assert set(more) == {'hans'}, more
        pids |= more_pids
    assert pids == workers, (pids, workers)


def test_save_path_with_workers(portierd_factory, server, tmp_path):
    save = tmp_path / 'sessions.msgpack'
    config = ('set session_save_path = "%s"\n'
              'set session_save_interval = "1 s"\n' % save)
    d = start(portierd_factory, server, config)
    sid = login(d)
    # the master saves periodically, not only at shutdown
    wait_for(lambda: save.exists())
    d.stop()
    assert d.proc.returncode == 0
    assert not [p for p in os.listdir(tmp_path) if '.tmp.' in p]
    d2 = start(portierd_factory, server, config)
    assert '1 session(s) loaded from' in d2.log()
    users, _ = who_many(d2, server, sid, n=8)
    assert set(users) == {'hans'}, users
    assert server.requests[-1].get('SESSION') == b'kept'


def test_worker_killed_keeps_sessions(portierd_factory, server):
    d = start(portierd_factory, server)
    master = d.proc.pid
    sid = login(d)
    old = children(master)
    os.kill(old[0], signal.SIGKILL)
    wait_for(lambda: len(children(master)) == 2 and
             old[0] not in children(master))
    users, pids = who_many(d, server, sid)
    assert set(users) == {'hans'}, users
    assert old[0] not in pids


def test_reload_keeps_sessions(portierd_factory, server):
    d = start(portierd_factory, server)
    master = d.proc.pid
    sid = login(d)
    old = set(children(master))
    os.kill(master, signal.SIGHUP)
    assert wait_log(d, 'configuration reloaded', timeout=10)
    wait_for(lambda: len(set(children(master)) - old) == 2)
    # the old workers exit once idle: then only new ones serve
    wait_for(lambda: not set(children(master)) & old)
    users, pids = who_many(d, server, sid, n=12)
    assert set(users) == {'hans'}, users
    assert not pids & old
