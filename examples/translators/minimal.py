#!/usr/bin/env python3
"""A minimal translation server in Python, standard library only.

It shows the wire format of the translation protocol (docs/translator-sdk.md,
spec: every packet is a u16 payload length and a u16 command, both in host
byte order, then the payload; a request and a response each run from BEGIN
to END).  It serves one directory for every host:

    minimal.py --socket @minimal /var/www
    portierd --listen 127.0.0.1:8080 --translation-socket @minimal

Each answer covers the whole site (BASE "/" with EASY_BASE), so portierd
asks only once and appends the rest of the URI to PATH itself.
"""
import argparse
import os
import socket
import struct
import sys
import threading

# Command numbers (spec/protocols.md §1.4).
BEGIN, END, HOST, URI, STATUS, PATH = 1, 2, 3, 4, 5, 6
MAX_AGE, BASE, EASY_BASE = 36, 40, 117


def packet(command, payload=b''):
    if isinstance(payload, str):
        payload = payload.encode()
    return struct.pack('=HH', len(payload), command) + payload


def read_request(conn, buf):
    """Packets up to END as {command: payload} (the last of each), plus
    the bytes left over; (None, b'') when the data plane closed."""
    packets = {}
    while True:
        while len(buf) >= 4:
            length, command = struct.unpack_from('=HH', buf)
            if len(buf) < 4 + length:
                break
            packets[command] = buf[4:4 + length]
            buf = buf[4 + length:]
            if command == END:
                return packets, buf
        data = conn.recv(65536)
        if not data:
            return None, b''
        buf += data


def answer(root, request):
    uri = request.get(URI, b'/')
    if not uri.startswith(b'/'):
        return packet(STATUS, struct.pack('=H', 400))
    return (packet(BASE, '/') + packet(EASY_BASE) +
            packet(PATH, root.rstrip('/') + '/') +
            packet(MAX_AGE, struct.pack('=I', 60)))


def serve(conn, root):
    buf = b''
    with conn:
        while True:
            request, buf = read_request(conn, buf)
            if request is None:
                return
            # BEGIN with protocol version 3, the answer, END.
            conn.sendall(packet(BEGIN, b'\x03') + answer(root, request) +
                         packet(END))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--socket', default='@minimal',
                        help='@abstract name or socket path')
    parser.add_argument('root', help='the directory to serve')
    args = parser.parse_args()
    address = args.socket
    if address.startswith('@'):
        address = '\0' + address[1:]
    elif os.path.exists(address):
        os.unlink(address)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(address)
    listener.listen(64)
    print('minimal.py: serving %s on %s' % (args.root, args.socket),
          file=sys.stderr, flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, os.path.abspath(args.root)),
                         daemon=True).start()


if __name__ == '__main__':
    main()
