"""The bound on waiting for a backend connection slot (tcp_stock_limit).

While every connection to a backend address is busy (held by slow
requests, or by a tunnel), a further request waits at most
backend_connect_timeout: then it gets 503 and one log line naming the
backend address, the limit and the wait; a slot that frees before the
bound serves it; a client that goes away while waiting leaves the
queue.  The bound is 1.5 s here so the suite stays short."""
import socket
import threading
import time

import pytest

from dphelp import log_lines, one_failure_line, read_to_end
from proclib import fd_count, fds_back_to
from test_dataplane_proxy import http_answer

BOUND = 1.5
CONFIG = ('set backend_response_timeout = "30 s"\n'
          'set backend_body_timeout = "30 s"\n'
          'set backend_connect_timeout = "1500 ms"\n'
          'set tcp_stock_limit = 2\n')
CAUSE = 'no free connection after waiting'


class HoldBackend:
    """A keep-alive HTTP backend in threads: a request for /hold/... is
    answered only once the test releases it (release()); any other at
    once.  It counts connections and the requests it holds."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.gate = threading.Semaphore(0)
        self.connections = 0
        self.held = 0
        self.conns = []
        self.stopped = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.conns.append(c)
            threading.Thread(target=self.serve, args=(c,),
                             daemon=True).start()

    def serve(self, c):
        c.settimeout(30)
        buf = b''
        try:
            while True:
                while b'\r\n\r\n' not in buf:
                    data = c.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b'\r\n\r\n', 1)
                target = head.split(b' ')[1]
                if target.startswith(b'/hold/'):
                    with self.lock:
                        self.held += 1
                    released = self.gate.acquire(timeout=30)
                    with self.lock:
                        self.held -= 1
                    if not released or self.stopped:
                        return
                c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s'
                          % (len(target), target))
        except OSError:
            return
        finally:
            c.close()

    def wait_held(self, n, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if self.held == n:
                    return True
            time.sleep(0.01)
        return False

    def release(self, n=1):
        for _ in range(n):
            self.gate.release()

    def stop(self):
        self.stopped = True
        self.sock.close()
        self.release(64)
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture
def held(portierd_factory, servers):
    b = HoldBackend()
    try:
        srv = servers(lambda req: http_answer([b.port], req.text('URI')))
        d = portierd_factory([srv.address], config=CONFIG)
        d.tserver = srv
        yield d, b
    finally:
        b.stop()


def send(port, path):
    """A request on a new connection (Connection: close), not read yet."""
    s = socket.create_connection(('127.0.0.1', port), 10)
    s.sendall(b'GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
              % path)
    return s


def answer(s, timeout=10):
    """The whole answer on s (read to the end), and the time it took."""
    t0 = time.monotonic()
    s.settimeout(timeout)
    data = read_to_end(s)
    s.close()
    return data, time.monotonic() - t0






def fill(d, b):
    """Two held requests: both slots of the backend address are busy."""
    busy = [send(d.port, b'/hold/%d' % i) for i in range(2)]
    assert b.wait_held(2)
    return busy


def test_wait_ends_with_503_and_one_log_line(held):
    d, b = held
    assert d.request('GET', '/warm')[0] == 200    # translation connection
    base = fd_count(d.proc.pid)
    translation = d.tserver.connections()
    busy = fill(d, b)
    s = send(d.port, b'/third')
    data, took = answer(s)
    assert data.startswith(b'HTTP/1.1 503 '), data[:200]
    assert BOUND - 0.1 <= took < BOUND + 2.5, took
    line = one_failure_line(d, '/third', 503, CAUSE)
    assert '127.0.0.1:%d' % b.port in line
    assert 'tcp_stock_limit 2 reached' in line
    waited = int(line.split(CAUSE + ' ')[1].split(' ms')[0])
    assert 1500 <= waited < 1500 + 2500, line
    assert len(log_lines(d, '/third')) == 1
    # no third connection was opened, the held ones go on
    assert b.connections == 2
    b.release(2)
    for c in busy:
        data, _ = answer(c)
        assert data.startswith(b'HTTP/1.1 200 ') and b'/hold/' in data
    # nothing left behind: the client sockets are gone; of the backend
    # connections, the one /warm left idle and a second are pooled; the
    # translation connections stay pooled too (requests that arrive
    # together open one each: a second one under load)
    more = d.tserver.connections() - translation
    assert fds_back_to(d.proc.pid, base + 1 + more), (base, more)
    assert d.request('GET', '/after')[0] == 200
    assert d.proc.poll() is None


def test_slot_freed_in_time_serves_the_waiter(held):
    """A held request ends while another waits: the waiter gets its
    connection (reused, no third one) well before the bound."""
    d, b = held
    busy = fill(d, b)
    s = send(d.port, b'/waiter')
    time.sleep(0.3)
    t0 = time.monotonic()
    b.release(1)
    data, _ = answer(s)
    took = time.monotonic() - t0
    assert data.startswith(b'HTTP/1.1 200 ') and data.endswith(b'/waiter'), \
        data[:200]
    assert took < BOUND, took
    assert b.connections == 2
    assert log_lines(d, CAUSE) == []
    b.release(1)
    for c in busy:
        assert answer(c)[0].startswith(b'HTTP/1.1 200 ')


def test_waiters_in_order_each_bounded(held):
    """Two waiters: one slot frees for the first; the second still gets
    503 at its own bound, and only it is logged."""
    d, b = held
    busy = fill(d, b)
    first = send(d.port, b'/hold/first')
    time.sleep(0.2)
    second = send(d.port, b'/second')
    time.sleep(0.2)
    b.release(1)                    # /hold/0 or /hold/1 ends
    assert b.wait_held(2)           # /hold/first took the slot
    data, took = answer(second)
    assert data.startswith(b'HTTP/1.1 503 '), data[:200]
    assert took < BOUND + 2.5
    one_failure_line(d, '/second', 503, CAUSE)
    assert log_lines(d, '/hold/first') == []
    b.release(2)
    assert answer(first)[0].startswith(b'HTTP/1.1 200 ')
    answers = [answer(c)[0] for c in busy]
    assert sum(a.startswith(b'HTTP/1.1 200 ') for a in answers) == 2
    assert b.connections == 2


def test_client_gone_while_waiting_leaves_the_queue(held):
    """A waiter whose client hangs up is removed: it is not answered or
    logged when its bound passes, and the next freed slot goes to the
    waiter behind it at once."""
    d, b = held
    busy = fill(d, b)
    gone = send(d.port, b'/gone')
    time.sleep(0.3)
    gone.close()
    time.sleep(0.2)
    nxt = send(d.port, b'/next')
    time.sleep(0.2)
    t0 = time.monotonic()
    b.release(1)
    data, _ = answer(nxt)
    assert data.startswith(b'HTTP/1.1 200 ') and data.endswith(b'/next')
    assert time.monotonic() - t0 < BOUND
    time.sleep(BOUND)               # /gone's bound has passed
    assert log_lines(d, '/gone') == []
    assert log_lines(d, CAUSE) == []
    b.release(1)
    for c in busy:
        assert answer(c)[0].startswith(b'HTTP/1.1 200 ')
    assert d.proc.poll() is None
