#!/usr/bin/env python3
"""Write the seed corpus of fuzz_tr_server: a mode byte (bits 0-5: write
chunk size - 1; bit 6: the handler answers from the next loop turn), then
the bytes a data plane sends: single and back-to-back requests, requests
cut off, bad requests.  Little-endian; command numbers of spec §1.4.

usage: make_corpus_tr_server.py [DIR]   (default: corpus/fuzz_tr_server next
to this script)
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def p(command, payload=b""):
    return struct.pack("<HH", len(payload), command) + payload


REQ = p(1, b"\x03") + p(3, b"example.com") + p(4, b"/") + p(2)
REQ2 = (p(1, b"\x03") + p(4, b"/y") + p(115, struct.pack("<H", 35)) +
        p(35, b"ua") + p(2))
CTL = p(1, b"\x03") + p(121, b"x") + p(122, b"html") + p(2)

CORPUS = {
    "01_one_request": bytes([0x3f]) + REQ,
    "02_two_pipelined": bytes([0x3f]) + REQ + REQ2,
    "03_byte_by_byte_deferred": bytes([0x40]) + REQ + REQ2,
    "04_request_then_garbage": bytes([0x07]) + REQ + b"\x05\x00\x06\x00/x",
    "05_partial": bytes([0x3f]) + REQ[:9],
    "06_response_packet": bytes([0x3f]) + p(1, b"\x03") + p(6, b"/x") + p(2),
    "07_three_deferred_chunks": bytes([0x43]) + REQ + CTL + REQ,
    "08_not_begin": bytes([0x3f]) + p(4, b"/"),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        HERE, "corpus", "fuzz_tr_server")
    os.makedirs(out, exist_ok=True)
    for name, data in CORPUS.items():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
