"""The was_app library (was/was_app.c) against a Python container
(washarness.py) that speaks WAS byte-exactly: the examples in
examples/was/ and tests/was/was_test_app.c, every packet checked."""
import os
import struct
import threading
import time

import pytest

from dphelp import started
from proclib import join_within, readline_within
from washarness import (App, packet, u64, DATA, HEADER, LENGTH, NO_DATA,
                        PARAMETER, PREMATURE, REMOTE_HOST, STATUS, STOP,
                        TLS, DOCUMENT_ROOT, SCRIPT_NAME, PATH_INFO)


@pytest.fixture
def app(build_dir):
    def start(name):
        path = os.path.join(build_dir, 'examples', name)
        if name == 'was-test-app':
            path = os.path.join(build_dir, 'tests', 'was', name)
        if not os.path.exists(path):
            pytest.skip('%s not built' % name)
        return App([path])

    yield from started(start, App.kill)


def pattern(n, off=0):
    return bytes(ord('a') + (off + i) % 26 for i in range(n))


def test_hello_byte_exact(app):
    a = app('was-hello')
    a.request('/')
    # STATUS as a 4-byte 200, the header, DATA; 14 bytes; LENGTH 14
    assert a.packet() == (STATUS, struct.pack('=I', 200))
    assert a.packet() == (HEADER, b'content-type=text/plain')
    assert a.packet() == (DATA, b'')
    assert a.read_pipe(14) == b'Hello, world!\n'
    assert a.packet() == (LENGTH, struct.pack('=Q', 14))
    # the process serves the next request the same way
    a.request('/again', method='POST', body=b'')
    status, headers, body, how = a.response()
    assert (status, body, how) == (200, b'Hello, world!\n', 'LENGTH')
    assert a.close() == 0


def test_metadata(app):
    a = app('was-test-app')
    a.request('/info?x=1', method='PUT',
              headers=[('x-a', '1'), ('accept', 'text/*')],
              extra=[packet(SCRIPT_NAME, '/s'), packet(PATH_INFO, '/p'),
                     packet(PARAMETER, 'FOO=bar=baz'),
                     packet(REMOTE_HOST, '192.0.2.1'),
                     packet(DOCUMENT_ROOT, '/srv'), packet(TLS)])
    status, headers, body, how = a.response()
    text = body.decode()
    assert status == 200 and how == 'LENGTH'
    assert ('content-type', 'text/plain') in headers
    for line in ('method=PUT', 'uri=/info?x=1', 'script_name=/s',
                 'path_info=/p', 'query_string=x=1',
                 'remote_host=192.0.2.1', 'document_root=/srv', 'tls',
                 'header x-a=1', 'header accept=text/*',
                 'parameter FOO=bar=baz'):
        assert line + '\n' in text, line
    assert a.close() == 0


def test_method_two_bytes(app):
    """METHOD as a u16 (the spec's width) is accepted too."""
    a = app('was-test-app')
    a.send(packet(1), packet(2, struct.pack('=H', 5)), packet(3, '/info'),
           packet(NO_DATA))
    status, _, body, _ = a.response()
    assert status == 200 and b'method=DELETE\n' in body
    assert a.close() == 0


@pytest.mark.parametrize('length_first', [True, False])
def test_echo_large(app, length_first):
    """4 MiB through the echo, both pipes at once; the length announced
    before the data, or only after it."""
    a = app('was-echo')
    data = os.urandom(4 << 20)
    a.request('/', method='POST', headers=[('content-type', 'x/y')],
              body=data, length=length_first)

    def feed():
        a.write_body(data)
        if not length_first:
            a.send(u64(LENGTH, len(data)))
    t = threading.Thread(target=feed)
    t.start()
    status, headers, body, how = a.response()
    join_within(t, 60, 'the body feeder did not finish writing')
    assert status == 200 and ('content-type', 'x/y') in headers
    assert how == 'LENGTH' and body == data
    assert a.close() == 0


def test_echo_no_body_is_204(app):
    a = app('was-echo')
    a.request('/')
    assert a.packet() == (STATUS, struct.pack('=I', 204))
    assert a.packet() == (NO_DATA, b'')
    assert a.close() == 0


def test_stream_announced_length(app):
    a = app('was-stream')
    a.request('/?size=100000&piece=777&length=1')
    status, headers, raw = a.head()[0], None, None
    # LENGTH comes right after DATA when announced
    assert a.packet() == (LENGTH, struct.pack('=Q', 100000))
    assert a.read_pipe(100000) == pattern(100000)
    assert a.pipe_empty()
    assert status == 200
    assert a.close() == 0


def test_container_stop_response(app):
    """STOP from the container: PREMATURE with exactly the bytes in the
    pipe; after draining them the process serves the next request."""
    a = app('was-stream')
    a.request('/?size=50000000')
    status, _, has_body, _ = a.head()
    assert status == 200 and has_body
    got = a.read_pipe(100000)
    a.send(packet(STOP))
    # drain while waiting for PREMATURE
    premature = None
    total = len(got)
    deadline = time.monotonic() + 30
    while premature is None or total < premature:
        assert time.monotonic() < deadline, \
            'PREMATURE %s, %d bytes drained within 30 s' % (premature, total)
        if a.packet_ready(0.01):
            cmd, payload = a.packet()
            assert cmd == PREMATURE
            premature = struct.unpack('=Q', payload)[0]
            continue
        if not a.pipe_empty():
            total += len(os.read(a.resp_r, 65536))
    assert total == premature and premature < 50000000
    assert a.pipe_empty()
    a.request('/?size=10')
    assert a.response()[2:] == (pattern(10), 'LENGTH')
    assert a.close() == 0


def test_container_premature_request_body(app):
    """PREMATURE from the container: the echo's read fails, it cuts its
    response with PREMATURE; the connection stays usable."""
    a = app('was-echo')
    a.request('/', method='POST', body=b'', length=False)
    a.write_body(b'z' * 1000)
    a.send(u64(PREMATURE, 1000))
    status, _, body, how = a.response()
    assert status == 200 and how == 'PREMATURE'
    assert body == b'z' * len(body) and len(body) <= 1000
    a.request('/', method='POST', body=b'ok')
    a.write_body(b'ok')
    assert a.response()[2:] == (b'ok', 'LENGTH')
    assert a.close() == 0


def test_app_ignores_body_sends_stop(app):
    """An application that does not read the body: the library sends STOP
    and drains up to our PREMATURE."""
    a = app('was-test-app')
    a.request('/ignore-body', method='POST', body=b'', length=False)
    a.write_body(b'q' * 3000)
    # the body is discarded before the response ends
    status, _, has_body, _ = a.head()
    assert (status, has_body) == (200, True)
    assert a.read_pipe(8) == b'ignored\n'
    assert a.packet() == (STOP, b'')
    assert not a.packet_ready(0.05)
    a.send(u64(PREMATURE, 3000))
    assert a.packet() == (LENGTH, struct.pack('=Q', 8))
    a.request('/info')
    status, _, body, _ = a.response()
    assert status == 200 and b'uri=/info\n' in body
    assert a.close() == 0


def test_app_ignores_complete_body(app):
    """The whole body and its LENGTH were sent: the container ignores
    the STOP, and the library drains up to LENGTH."""
    a = app('was-test-app')
    a.request('/ignore-body', method='POST', body=b'w' * 5000)
    a.write_body(b'w' * 5000)
    status, _, has_body, _ = a.head()
    assert a.read_pipe(8) == b'ignored\n'
    assert a.packet() == (STOP, b'')
    assert a.packet() == (LENGTH, struct.pack('=Q', 8))
    a.request('/info')
    assert a.response()[0] == 200
    assert not a.packet_ready(0.05)
    assert a.close() == 0


def test_stop_crossing_the_end_is_ignored(app):
    """A STOP sent while the response ended (it crossed LENGTH or
    PREMATURE) reaches the application between requests: ignored."""
    a = app('was-stream')
    a.request('/?size=10')
    assert a.response()[2:] == (pattern(10), 'LENGTH')
    a.send(packet(STOP))
    a.request('/?size=5')
    assert a.response()[2:] == (pattern(5), 'LENGTH')
    assert a.close() == 0


def test_abort_early_is_500(app):
    a = app('was-test-app')
    a.request('/abort-early')
    assert a.packet() == (STATUS, struct.pack('=I', 500))
    assert a.packet() == (NO_DATA, b'')
    a.request('/info')
    assert a.response()[0] == 200
    assert a.close() == 0


def test_abort_mid_body(app):
    a = app('was-test-app')
    a.request('/abort-mid')
    status, _, has_body, _ = a.head()
    assert a.packet() == (LENGTH, struct.pack('=Q', 5000))
    assert a.read_pipe(1000) == b'x' * 1000
    assert a.packet() == (PREMATURE, struct.pack('=Q', 1000))
    a.request('/info')
    assert a.response()[0] == 200
    assert a.close() == 0


def test_status_without_body(app):
    a = app('was-test-app')
    a.request('/status?304')
    assert a.packet() == (STATUS, struct.pack('=I', 304))
    assert a.packet() == (NO_DATA, b'')
    assert a.close() == 0


def test_bad_packet_ends_app(app):
    """A packet the application may not receive (STATUS) is an error: the
    library gives up and the program exits non-zero."""
    a = app('was-hello')
    a.send(packet(1), packet(STATUS, struct.pack('=I', 200)))
    with pytest.raises(EOFError):
        a.packet()
    assert a.proc.wait(timeout=5) == 1


def test_eof_between_requests_exits_zero(app):
    a = app('was-echo')
    assert a.close() == 0


def test_stream_writes_without_a_wait_per_piece(app):
    """A 768 KiB body in 16 KiB pieces into a pipe with room for all of
    it: one write() per piece, and the control socket looked at every 256
    KiB, not a poll() and a recv() before every piece (strace -c)."""
    import fcntl
    import shutil
    import signal
    import subprocess
    import tempfile
    if shutil.which('strace') is None:
        pytest.skip('strace is not installed')
    a = app('was-stream')
    F_SETPIPE_SZ = 1031
    try:
        fcntl.fcntl(a.resp_r, F_SETPIPE_SZ, 1 << 20)
    except OSError:
        pytest.skip('the pipe cannot hold 1 MiB here')
    out = os.path.join(tempfile.mkdtemp(prefix='portier-test-was-app.'),
                       'strace')
    tracer = subprocess.Popen(['strace', '-c', '-o', out, '-p',
                               str(a.proc.pid)], stderr=subprocess.PIPE)
    try:
        assert b'attached' in readline_within(
            tracer.stderr, 30, 'strace did not attach')
        size = 768 << 10
        a.request('/?size=%d&piece=16384&length=1' % size)
        status, _, has_body, _ = a.head()
        assert status == 200 and has_body
        assert a.packet() == (LENGTH, struct.pack('=Q', size))
        assert a.read_pipe(size) == pattern(size)
    finally:
        tracer.send_signal(signal.SIGINT)
        tracer.wait(timeout=30)
    calls = {}
    with open(out) as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 5 and fields[0][0].isdigit() and \
                    fields[-1] != 'total':
                calls[fields[-1]] = int(fields[3])
    shutil.rmtree(os.path.dirname(out), ignore_errors=True)
    assert calls.get('write', 0) <= 48 + 2, calls
    assert calls.get('poll', 0) + calls.get('recvfrom', 0) + \
        calls.get('recv', 0) <= 10, calls
    assert a.close() == 0
