#!/usr/bin/env python3
"""Write the seed corpus of fuzz_h1_chunked: chunked bodies the decoder
accepts (several chunks, extensions, trailers, a following request) and
the rejection set (bad sizes, overflow, bare LF, missing CRLF after data,
bad extensions and trailers).  Each file is one configuration byte
(fuzz_h1_chunked.c: bits 0-1 the limits, bits 2-7 the piece size minus
one) and the bytes.

usage: make_corpus_h1_chunked.py [DIR]   (default: corpus/fuzz_h1_chunked
next to this script)
"""
import os
import sys

SEEDS = {
    "one": b"5\r\nhello\r\n0\r\n\r\n",
    "several": b"3\r\nabc\r\nA\r\n0123456789\r\nb\r\nhello world\r\n"
               b"0\r\n\r\n",
    "empty": b"0\r\n\r\n",
    "leading_zeros": b"0005\r\nhello\r\n000\r\n\r\n",
    "extensions": b"5;name=value\r\nhello\r\n1 ; a = b ;c=\"q \\\" x\""
                  b";flag\r\n!\r\n0;last\r\n\r\n",
    "trailers": b"2\r\nhi\r\n0\r\nX-Sum: abc\r\nY:\r\n\r\n",
    "next_request": b"1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n",
    "largest": b"7fffffffffffffff\r\nabc",
    "big_chunk": b"100\r\n" + b"x" * 256 + b"\r\n0\r\n\r\n",
    "bad_size": b"g\r\n",
    "negative": b"-5\r\nhello\r\n0\r\n\r\n",
    "hex_prefix": b"0x5\r\nhello\r\n0\r\n\r\n",
    "ws_after_size": b"5 \r\nhello\r\n0\r\n\r\n",
    "digits17": b"00000000000000005\r\nhello\r\n0\r\n\r\n",
    "overflow": b"10000000000000000\r\n\r\n",
    "over_2_63": b"8000000000000000\r\n",
    "bare_lf_size": b"5\nhello\r\n0\r\n\r\n",
    "bare_lf_data": b"5\r\nhello\n0\r\n\r\n",
    "no_crlf_after_data": b"3\r\nabc0\r\n\r\n",
    "ext_bare_lf": b"2;a\nxx\r\n0\r\n\r\n",
    "ext_unterminated": b"2;a=\"b\r\nxx\r\n0\r\n\r\n",
    "trailer_fold": b"0\r\nX: a\r\n b\r\n\r\n",
    "trailer_space_colon": b"0\r\nX : a\r\n\r\n",
    "end_bare_lf": b"0\r\n\n",
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus",
        "fuzz_h1_chunked")
    os.makedirs(out, exist_ok=True)
    for i, (name, body) in enumerate(SEEDS.items(), 1):
        # Vary the limits and the piece size (1, 2, 4, 7 bytes).
        cfg = (i % 4) | ((0, 1, 3, 6)[(i // 4) % 4] << 2)
        with open(os.path.join(out, "%02d_%s" % (i, name)), "wb") as f:
            f.write(bytes([cfg]) + body)


if __name__ == "__main__":
    main()
