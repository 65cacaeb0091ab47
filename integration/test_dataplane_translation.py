"""portierd and its translation servers: failures of the server (502, 504
for the timeout, one log line naming the cause, recovery by itself),
repeated requests (WANT, DEFER), the translation cache as seen from the
server, and the response-wide policy packets.  Each test states the
packets it wants through a ScriptedTranslationServer."""
import socket
import struct
import threading
import time

import pytest

from dphelp import (base_answer, file_answer, log_lines, make_docroot,
                    one_failure_line, wait_log)
from tplib import (CLOSE, CMD, HANG, CloseAfter, ScriptedTranslationServer,
                   packet, response, u16, u32)


@pytest.fixture
def docroot(tmp_path):
    return make_docroot(tmp_path)


@pytest.fixture
def servers():
    """Start scripted translation servers; all are stopped at the end."""
    started = []

    def start(handler, address=None):
        srv = ScriptedTranslationServer(handler, address)
        srv.start()
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def get(d, path, headers=None):
    status, r, body = d.request('GET', path, headers)
    return status, r, body


# ---- failures of the translation server ----

def test_server_not_running(portierd_factory, docroot, servers):
    address = '@portier-test-absent-%d' % id(docroot)
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
