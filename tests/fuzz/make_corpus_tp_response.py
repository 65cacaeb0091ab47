#!/usr/bin/env python3
"""Write the seed corpus of fuzz_tp_response: one response per resource
kind and per group of response packets of spec/protocols.md §1.6-1.7,
plus responses the parser must reject.

Command numbers are read from protocol/tp_commands.def (itself checked
against the spec by tests/spec/check_commands.py).  The protocol is in
host byte order; the corpus is little-endian (x86-64).

usage: make_corpus_tp_response.py [DIR]   (default: corpus/fuzz_tp_response
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


def u16(*v):
    return b"".join(struct.pack("<H", x) for x in v)


def u32(v):
    return struct.pack("<I", v)


def sockaddr_in(host, port):
    return (struct.pack("<H", socket.AF_INET) + struct.pack(">H", port) +
            socket.inet_aton(host) + bytes(8))


def sockaddr_in6(host, port):
    return (struct.pack("<H", socket.AF_INET6) + struct.pack(">H", port) +
            bytes(4) + socket.inet_pton(socket.AF_INET6, host) + bytes(4))


def sockaddr_un(path):
    return struct.pack("<H", socket.AF_UNIX) + path.encode()


def response(*packets, version=3):
    return p("BEGIN", bytes([version])) + b"".join(packets) + p("END")


CORPUS = {
    "01_path": response(p("PATH", "/var/www/index.html"),
                        p("CONTENT_TYPE", "text/html"), p("MAX_AGE", u32(60))),
    "02_path_base": response(p("BASE", "/static/"), p("EASY_BASE"),
                             p("PATH", "/srv/static/"),
                             p("AUTO_GZIPPED"), p("MAX_AGE", u32(300))),
    "03_regex_expand": response(
        p("BASE", "/u/"), p("REGEX", "^/u/([^/]+)/(.*)$"),
        p("PATH", "/home/"), p("EXPAND_PATH", "/home/\\1/public/\\2")),
    "04_http_ipv4": response(
        p("HTTP", "http://backend:8080/app/"),
        p("ADDRESS", sockaddr_in("127.0.0.1", 8080)),
        p("ADDRESS_STRING", "127.0.0.2:8081"),
        p("REQUEST_HEADER_FORWARD", struct.pack("<hBB", 2, 1, 0)),
        p("RESPONSE_HEADER_FORWARD", struct.pack("<hBB", -1, 1, 0))),
    "05_http_ipv6": response(p("HTTP", "http://[::1]:80/"),
                             p("ADDRESS", sockaddr_in6("::1", 80)),
                             p("STICKY")),
    "06_cgi": response(p("CGI", "/usr/lib/cgi-bin/app"),
                       p("DOCUMENT_ROOT", "/var/www"),
                       p("SCRIPT_NAME", "/cgi-bin/app"),
                       p("PATH_INFO", "/x"), p("APPEND", "--verbose"),
                       p("PAIR", "FOO=bar"), p("CHILD_TAG", "site1")),
    "07_fastcgi_local": response(p("FASTCGI", "/usr/lib/app.fcgi"),
                                 p("CONCURRENCY", u16(4)),
                                 p("PAIR", "A=b"), p("SETENV", "LANG=C"),
                                 p("UID_GID", struct.pack("<iii", 1000, 1000,
                                                          100))),
    "08_fastcgi_remote": response(
        p("FASTCGI", "/app.fcgi"),
        p("ADDRESS", sockaddr_in("127.0.0.1", 9000))),
    "09_was": response(p("WAS", "/usr/lib/was-app"), p("PAIR", "k=v"),
                       p("CONCURRENCY", u16(2))),
    "10_lhttp": response(p("LHTTP_PATH", "/usr/lib/lhttp-app"),
                         p("LHTTP_URI", "/"), p("LHTTP_HOST", "localhost"),
                         p("CONCURRENCY", u16(1))),
    "11_nfs": response(p("NFS_SERVER", "127.0.0.1"),
                       p("NFS_EXPORT", "/export"), p("PATH", "/file.txt"),
                       p("CONTENT_TYPE", "text/plain")),
    "12_filter_pipe": response(p("PATH", "/srv/a.txt"), p("FILTER"),
                               p("PIPE", "/usr/bin/tr"), p("APPEND", "a-z"),
                               p("APPEND", "A-Z")),
    "13_status_message": response(p("STATUS", u16(403)),
                                  p("MESSAGE", "Forbidden")),
    "14_redirect": response(p("REDIRECT", "https://example.com/"),
                            p("STATUS", u16(301)),
                            p("REDIRECT_QUERY_STRING")),
    "15_headers": response(p("PATH", "/srv/x"), p("HEADER", "x-a:1"),
                           p("REQUEST_HEADER", "x-b:2"),
                           p("EXPIRES_RELATIVE", u32(60))),
    "16_vary_invalidate": response(p("PATH", "/srv/x"),
                                   p("VARY", u16(C["HOST"], C["LANGUAGE"])),
                                   p("INVALIDATE", u16(C["HOST"])),
                                   p("MAX_AGE", u32(10))),
    "17_want": response(p("WANT", u16(C["USER_AGENT"], C["LANGUAGE"]))),
    "18_check": response(p("CHECK", b"\x01\x02"), p("MAX_AGE", u32(0))),
    "19_session": response(p("SESSION", b"\x00\x01"), p("USER", "alice"),
                           p("MAX_AGE", u32(5)), p("PATH", "/srv/x")),
    "20_layout": response(p("LAYOUT", b"L"), p("BASE", "/a/"),
                          p("BASE", "/b/")),
    "21_file_not_found": response(p("BASE", "/x/"), p("PATH", "/srv/x/"),
                                  p("FILE_NOT_FOUND", b"404"),
                                  p("DIRECTORY_INDEX", b"idx")),
    "22_bounce_https_only": response(p("BOUNCE", "https://login/?u="),
                                     p("HTTPS_ONLY", u16(443))),
    "23_www_auth": response(p("WWW_AUTHENTICATE", "Basic realm=\"x\""),
                            p("STATUS", u16(401))),
    "24_http_unix": response(p("HTTP", "unix:/run/app.sock"),
                             p("ADDRESS", sockaddr_un("/run/app.sock"))),
    "25_internal_redirect": response(p("INTERNAL_REDIRECT", b"x"),
                                     p("URI", "/other")),
    # rejected
    "50_no_begin": p("PATH", "/x") + p("END"),
    "51_relative_path": response(p("PATH", "relative")),
    "52_duplicate_content_type": response(p("PATH", "/x"),
                                          p("CONTENT_TYPE", "a/b"),
                                          p("CONTENT_TYPE", "c/d")),
    "53_regex_without_base": response(p("REGEX", "^x"), p("PATH", "/x")),
    "54_request_only": response(p("REMOTE_HOST", "1.2.3.4")),
    "55_truncated": response(p("PATH", "/x"))[:-3],
    "56_after_end": response(p("PATH", "/x")) + p("PATH", "/y"),
    "57_nul_in_path": response(p("PATH", b"/x\x00y")),
    "58_bad_status": response(p("STATUS", u16(99))),
    "59_unknown_command": response(struct.pack("<HH", 0, 287)),
}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        HERE, "corpus", "fuzz_tp_response")
    write_corpus(out, CORPUS)


if __name__ == "__main__":
    main()
