#!/usr/bin/env python3
"""Write the seed corpus of fuzz_h1_request: requests of every shape the
parser accepts, the rejection set (RFC 9112 framing rules and the
request-smuggling literature: CL.TE, TE.CL, TE.TE obfuscations), and
limit cases.  Each file is one configuration byte (fuzz_h1_request.c:
bits 0-1 the limits, bits 2-7 the feed step minus one) and the bytes.

usage: make_corpus_h1_request.py [DIR]   (default: corpus/fuzz_h1_request
next to this script)
"""
import os
import sys

H = b"Host: example.com\r\n"
P = b"POST /upload HTTP/1.1\r\n" + H

SEEDS = {
    # Accepted shapes.
    "get_minimal": b"GET / HTTP/1.1\r\n" + H + b"\r\n",
    "get_query": b"GET /a/b%20c?x=1&y=2 HTTP/1.1\r\n" + H +
                 b"User-Agent: curl/8.0\r\nAccept: */*\r\n\r\n",
    "get_browser": b"GET /p?{a}|^ HTTP/1.1\r\n" + H +
                   b"Accept-Language: de, en;q=0.5\r\n"
                   b"Cookie: a=b; c=d\r\nConnection: keep-alive\r\n\r\n",
    "http10": b"GET /x HTTP/1.0\r\n\r\n",
    "http10_keepalive": b"GET /x HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
    "http19": b"GET / HTTP/1.9\r\n" + H + b"\r\n",
    "close": b"GET / HTTP/1.1\r\n" + H + b"Connection: close\r\n\r\n",
    "upgrade": b"GET /ws HTTP/1.1\r\n" + H +
               b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
    "head": b"HEAD /f HTTP/1.1\r\n" + H + b"\r\n",
    "post_cl": P + b"Content-Length: 5\r\n\r\nhello",
    "post_cl_pipelined": P + b"Content-Length: 2\r\n\r\nhiGET / HTTP/1.1\r\n"
                         + H + b"\r\n",
    "post_cl_dup_same": P + b"Content-Length: 5\r\ncontent-length: 005\r\n"
                        b"\r\nhello",
    "post_chunked": P + b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
                    b"0\r\n\r\n",
    "put_expect": b"PUT /f HTTP/1.1\r\n" + H + b"Content-Length: 10\r\n"
                  b"Expect: 100-continue\r\n\r\n",
    "absolute_form": b"GET http://example.com:8080/p?q HTTP/1.1\r\n"
                     b"Host: other\r\n\r\n",
    "absolute_https_ipv6": b"GET https://[::1]/ HTTP/1.1\r\nHost: [::1]\r\n"
                           b"\r\n",
    "connect": b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443"
               b"\r\n\r\n",
    "options_star": b"OPTIONS * HTTP/1.1\r\n" + H + b"\r\n",
    "other_method": b"PROPFIND /d HTTP/1.1\r\n" + H + b"Depth: 1\r\n\r\n",
    "leading_crlf": b"\r\n\r\nGET / HTTP/1.1\r\n" + H + b"\r\n",
    "values": b"GET / HTTP/1.1\r\n" + H + b"X-Empty:\r\nX-Ws: a  b \t\r\n"
              b"X-Obs: caf\xc3\xa9\r\n\r\n",
    # Rejections.
    "lf_only": b"GET / HTTP/1.1\nHost: h\n\n",
    "bare_cr": b"GET / HTTP/1.1\r\n" + H + b"X: a\rb\r\n\r\n",
    "nul_value": b"GET / HTTP/1.1\r\n" + H + b"X: a\0b\r\n\r\n",
    "ctl_value": b"GET / HTTP/1.1\r\n" + H + b"X: \x1b[0m\r\n\r\n",
    "obs_fold": b"GET / HTTP/1.1\r\n" + H + b"X: a\r\n b\r\n\r\n",
    "ws_first_header": b"GET / HTTP/1.1\r\n Host: h\r\n\r\n",
    "space_before_colon": b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
    "bad_method": b"G(ET / HTTP/1.1\r\n" + H + b"\r\n",
    "tls_hello": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32),
    "two_spaces": b"GET  / HTTP/1.1\r\n" + H + b"\r\n",
    "fragment": b"GET /a#b HTTP/1.1\r\n" + H + b"\r\n",
    "http09": b"GET /\r\n\r\n",
    "http2": b"GET / HTTP/2.0\r\n" + H + b"\r\n",
    "bad_version": b"GET / HTTP/1.10\r\n" + H + b"\r\n",
    "missing_host": b"GET / HTTP/1.1\r\n\r\n",
    "two_hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "userinfo": b"GET http://u@h/ HTTP/1.1\r\n" + H + b"\r\n",
    "asterisk_get": b"GET * HTTP/1.1\r\n" + H + b"\r\n",
    "connect_path": b"CONNECT / HTTP/1.1\r\n" + H + b"\r\n",
    "cl_te": P + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"0\r\n\r\nG",
    "te_cl": P + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
             b"8\r\nSMUGGLED\r\n0\r\n\r\n",
    "te_xchunked": P + b"Transfer-Encoding: xchunked\r\n\r\n",
    "te_chunked_identity": P + b"Transfer-Encoding: chunked, identity\r\n\r\n",
    "te_gzip_chunked": P + b"Transfer-Encoding: gzip, chunked\r\n\r\n",
    "te_twice": P + b"Transfer-Encoding: chunked\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n",
    "te_tab": P + b"Transfer-Encoding:\tchunked\r\n\r\n",
    "te_space_colon": P + b"Transfer-Encoding : chunked\r\n\r\n",
    "te_folded": P + b"X: y\r\n Transfer-Encoding: chunked\r\n\r\n",
    "te_params": P + b"Transfer-Encoding: gzip;q=\"a,b\", chunked\r\n\r\n",
    "te_http10": b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    "te_underscore": P + b"Transfer_Encoding: chunked\r\n\r\n",
    "cl_plus": P + b"Content-Length: +5\r\n\r\n",
    "cl_comma": P + b"Content-Length: 5, 5\r\n\r\n",
    "cl_negative": P + b"Content-Length: -1\r\n\r\n",
    "cl_huge": P + b"Content-Length: 99999999999999999999\r\n\r\n",
    "cl_differ": P + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
}

# Limit cases: (name, config byte, bytes).
LIMITS = [
    ("small_limits_ok", 1, b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n"
                           b"C: 3\r\n\r\n"),
    ("small_limits_headers", 1, b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n"
                                b"B: 2\r\nC: 3\r\nD: 4\r\n\r\n"),
    ("small_limits_line", 1, b"GET /" + b"a" * 80 + b" HTTP/1.1\r\n\r\n"),
    ("tiny_limits", 2, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("tiny_limits_head", 2, b"GET / HTTP/1.1\r\nHost: hhhhhhhhhhhhhhhhhhhhhh"
                            b"hhhhhhhhh\r\n\r\n"),
    ("cap8", 3, b"GET / HTTP/1.1\r\n" + b"".join(
        b"X%d: y\r\n" % i for i in range(9)) + b"\r\n"),
    ("default_line_8192", 0, b"GET /" + b"a" * (8192 - 14) +
                             b" HTTP/1.1\r\nHost: h\r\n\r\n"),
    ("default_line_8193", 0, b"GET /" + b"a" * (8193 - 14) +
                             b" HTTP/1.1\r\nHost: h\r\n\r\n"),
]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus",
        "fuzz_h1_request")
    os.makedirs(out, exist_ok=True)
    i = 0
    for name, body in SEEDS.items():
        i += 1
        # Vary the feed step: 1, 2, 3, 5 bytes (config bits 2-7).
        step = (0, 1, 2, 4)[i % 4]
        with open(os.path.join(out, "%02d_%s" % (i, name)), "wb") as f:
            f.write(bytes([step << 2]) + body)
    for name, cfg, body in LIMITS:
        i += 1
        with open(os.path.join(out, "%02d_%s" % (i, name)), "wb") as f:
            f.write(bytes([cfg | (3 << 2)]) + body)


if __name__ == "__main__":
    main()
