#!/usr/bin/env python3
"""Write the seed corpus of fuzz_h1_response_head: response heads the
parser accepts (Content-Length, chunked, close-delimited, HEAD, 1xx, 204,
304, HTTP/1.0) and the rejection set (conflicting framing, bare CR/LF,
obsolete folding, NUL, bad status lines).  Each file is one configuration
byte (fuzz_h1_response_head.c: bit 0 HEAD, bit 1 small limits, bits 2-7
the feed step minus one) and the bytes.

usage: make_corpus_h1_response_head.py [DIR]   (default:
corpus/fuzz_h1_response_head next to this script)
"""
import os
import sys

SEEDS = [
    ("length", 0x00, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                     b"Content-Type: text/plain\r\n\r\nhello"),
    ("chunked", 0x04, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                      b"\r\n5\r\nhello\r\n0\r\n\r\n"),
    ("close", 0x08, b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\nbody"),
    ("head", 0x01, b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"),
    ("continue", 0x00, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"
                       b"Content-Length: 0\r\n\r\n"),
    ("no_content", 0x00, b"HTTP/1.1 204 No Content\r\n\r\n"),
    ("not_modified", 0x00, b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n"
                           b"\r\n"),
    ("http10", 0x00, b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
                     b"Content-Length: 2\r\n\r\nok"),
    ("no_reason", 0x00, b"HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n"),
    ("small_limits", 0x02, b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n"
                           b"D: 4\r\nE: 5\r\n\r\n"),
    ("cl_te", 0x00, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n"),
    ("cl_differ", 0x00, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                        b"Content-Length: 6\r\n\r\n"),
    ("te_gzip", 0x00, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, "
                      b"chunked\r\n\r\n"),
    ("obs_fold", 0x00, b"HTTP/1.1 200 OK\r\nA: b\r\n c\r\n\r\n"),
    ("bare_cr", 0x00, b"HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n"),
    ("bare_lf", 0x00, b"HTTP/1.1 200 OK\nA: b\n\n"),
    ("nul", 0x00, b"HTTP/1.1 200 OK\r\nA: b\x00c\r\n\r\n"),
    ("http2", 0x00, b"HTTP/2.0 200 OK\r\n\r\n"),
    ("junk", 0x00, b"<html><body>hello</body></html>"),
    ("status_600", 0x00, b"HTTP/1.1 600 X\r\n\r\n"),
]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "corpus", "fuzz_h1_response_head")
    os.makedirs(out, exist_ok=True)
    for i, (name, cfg, data) in enumerate(SEEDS, 1):
        with open(os.path.join(out, "%02d_%s" % (i, name)), "wb") as f:
            f.write(bytes([cfg]) + data)


if __name__ == "__main__":
    main()
