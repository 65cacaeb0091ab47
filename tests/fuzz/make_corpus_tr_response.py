#!/usr/bin/env python3
"""Write the seed corpus of fuzz_tr_response: responses as a translation
server builds them (the target adds every packet with the builder), one
per resource kind and policy group, plus ones the builder must refuse at a
call or at the finish.

Command numbers come from protocol/tp_commands.def; little-endian.

usage: make_corpus_tr_response.py [DIR]   (default: corpus/fuzz_tr_response
next to this script)
"""
import os
import socket
import struct
import sys

from corpus_lib import HERE, tp_commands, tp_packet, write_corpus

C = tp_commands()


def p(name, payload=b""):
    return tp_packet(C, name, payload)


def response(*packets):
    return p("BEGIN", b"\x03") + b"".join(packets) + p("END")


SOCKADDR_IN = (struct.pack("<H", socket.AF_INET) + struct.pack(">H", 8080) +
               socket.inet_aton("127.0.0.1") + bytes(8))

CORPUS = {
    "01_path": response(p("BASE", "/s/"), p("EASY_BASE"), p("PATH", "/srv/"),
                        p("AUTO_GZIPPED"), p("MAX_AGE", struct.pack("<I", 60)),
                        p("VARY", struct.pack("<HH", 3, 4))),
    "02_http": response(p("HTTP", "http://app:8080/x/"), p("HTTP2"),
                        p("ADDRESS", SOCKADDR_IN),
                        p("ADDRESS_STRING", "[::1]:8080"), p("STICKY"),
                        p("REQUEST_HEADER", "x-a:1")),
    "03_cgi": response(p("DOCUMENT_ROOT", "/srv"), p("CGI", "/cgi/app"),
                       p("SCRIPT_NAME", "/app"), p("PATH_INFO", "/x"),
                       p("SETENV", "LANG=C"), p("APPEND", "-v"),
                       p("UID_GID", struct.pack("<iii", 1000, 1000, 27)),
                       p("UMASK", struct.pack("<H", 0o22))),
    "04_regex": response(p("BASE", "/a/"), p("REGEX", "^/a/(.*)$"),
                         p("PATH", "/srv/x"), p("EXPAND_PATH", "/srv/\\1"),
                         p("EXPAND_HEADER", "x-p:\\1")),
    "05_filter": response(p("PATH", "/f.html"), p("FILTER"),
                          p("PIPE", "/usr/bin/tidy"), p("APPEND", "-q"),
                          p("FILTER_NO_BODY")),
    "06_redirect": response(p("STATUS", struct.pack("<H", 301)),
                            p("REDIRECT", "https://e/"),
                            p("REDIRECT_QUERY_STRING")),
    "07_layout": response(p("LAYOUT", "L"), p("URI", "/x"),
                          p("BASE", "/api/"), p("ACCESS_CONTROL_ALLOW_ALL")),
    "08_refused_regex": response(p("REGEX", "^x"), p("PATH", "/f")),
    "09_unfinished_http": response(p("HTTP", "http://h/")),
    "10_content_type_answer": response(p("CONTENT_TYPE", "text/html"),
                                       p("AUTO_BROTLI_PATH")),
    "11_break_chain": response(p("BREAK_CHAIN")),
    "12_auth": response(p("AUTH", "realm"), p("APPEND_AUTH", "+x"),
                        p("MAX_AGE", struct.pack("<I", 0))),
    "13_ignored": response(p("TIMEOUT", struct.pack("<I", 5)), p("DEFLATED"),
                           p("MESSAGE", "hi")),
    "14_unsupported": response(p("MOUNT_PROC")),
    "15_after_end": response(p("STATUS", struct.pack("<H", 404))) +
    p("STATUS", struct.pack("<H", 200)),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        HERE, "corpus", "fuzz_tr_response")
    write_corpus(out, {name + ".bin": data
                       for name, data in CORPUS.items()})


if __name__ == "__main__":
    main()
