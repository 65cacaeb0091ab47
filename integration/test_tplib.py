"""The suites' translation-protocol helper against hand-built bytes."""
import socket
import struct

import pytest

from tplib import (CLOSE, CMD, ScriptedTranslationServer, packet,
                   parse_packets, response, translate, u16)


def test_command_numbers_are_the_specs():
    # spec/protocols.md §1.4
    assert (CMD['BEGIN'], CMD['END'], CMD['PATH'], CMD['STATUS']) == \
        (1, 2, 6, 5)
    assert CMD['MAX_AGE'] == 36 and CMD['TOKEN_AUTH'] == 220
    assert len(CMD) == 285


def test_packet_bytes():
    assert packet('PATH', '/x') == b'\x02\x00\x06\x00/x'
    assert response(version=3) == b'\x01\x00\x01\x00\x03\x00\x00\x02\x00'
    assert parse_packets(b'\x02\x00\x06\x00/x\x00\x00\x02\x00') == \
        [('PATH', b'/x'), ('END', b'')]
    with pytest.raises(ValueError):
        parse_packets(b'\x05\x00\x06\x00/x')


def test_scripted_server_answers_and_records():
    def handler(req):
        if req.text('URI') == '/drop':
            return CLOSE
        return [packet('PATH', '/srv' + req.text('URI'))]

    with ScriptedTranslationServer(handler) as srv:
        got = translate(srv.address, ('HOST', 'h'), ('URI', '/a'))
        assert got == [('BEGIN', b'\x03'), ('PATH', b'/srv/a'),
                       ('END', b'')]
        with pytest.raises(ConnectionError):
            translate(srv.address, ('URI', '/drop'))
        assert srv.count() == 2 and srv.count('URI', b'/a') == 1
        # two requests on one connection, split oddly
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(srv.sockaddr)
            data = response(('URI', '/1')) + response(('URI', '/2'))
            s.sendall(data[:5])
            s.sendall(data[5:])
            buf = b''
            while buf.count(struct.pack('<HH', 0, CMD['END'])) < 2:
                buf += s.recv(4096)
        assert [p for p in parse_packets(buf) if p[0] == 'PATH'] == \
            [('PATH', b'/srv/1'), ('PATH', b'/srv/2')]
    # stopped: nobody listens any more
    with pytest.raises(OSError):
        translate(srv.address, ('URI', '/a'))
    srv.start()
    try:
        assert translate(srv.address, ('URI', '/b'))[1] == \
            ('PATH', b'/srv/b')
    finally:
        srv.stop()
    assert u16(404) == b'\x94\x01'
