#!/usr/bin/env python3
"""Write the seed corpus of fuzz_tp_request: one file per request kind of
spec/protocols.md §1.5.2 and §1.5.3 (packets in the order of §1.5.1),
plus an all-fields request and a few broken ones.

The translation protocol is in host byte order; the corpus is written
little-endian (x86-64, the spec's examples).

usage: make_corpus_tp_request.py [DIR]   (default: corpus/fuzz_tp_request
next to this script)
"""
import os
import struct
import sys

# Command numbers, spec §1.4.
BEGIN, END, HOST, URI, STATUS = 1, 2, 3, 4, 5
SESSION, PARAM, USER, LANGUAGE, REMOTE_HOST = 12, 13, 14, 15, 16
WIDGET_TYPE, USER_AGENT, QUERY_STRING, BASE, ARGS = 21, 35, 38, 40, 55
AUTHORIZATION, ERROR_DOCUMENT, CHECK, REGEX = 58, 63, 64, 79
WANT_FULL_URI, WANT, FILE_NOT_FOUND, CONTENT_TYPE_LOOKUP = 102, 115, 120, 121
SUFFIX, DIRECTORY_INDEX, ENOTDIR_, AUTH = 122, 123, 130, 133
PROBE_PATH_SUFFIXES, PROBE_SUFFIX, LISTENER_TAG, READ_FILE = 142, 143, 148, 152
INTERNAL_REDIRECT, POOL, ALT_HOST, CHAIN, CHAIN_HEADER = 163, 187, 206, 215, 217
HTTP_AUTH, TOKEN_AUTH, AUTH_TOKEN, LAYOUT = 219, 220, 221, 227
RECOVER_SESSION, CHECK_HEADER, REALM_SESSION = 228, 240, 245
PATH_EXISTS, MOUNT_LISTEN_STREAM = 247, 257


def packet(command, payload=b""):
    if isinstance(payload, str):
        payload = payload.encode()
    return struct.pack("<HH", len(payload), command) + payload


def u16(*values):
    return b"".join(struct.pack("<H", v) for v in values)


def request(*packets, version=3):
    return packet(BEGIN, bytes([version])) + b"".join(packets) + packet(END)


MAIN = [packet(LISTENER_TAG, "main"), packet(HOST, "example.com"),
        packet(URI, "/index.html")]

CORPUS = {
    # §1.5.2
    "01_main": request(*MAIN, packet(SESSION, b"\x01\x02\x00\xff"),
                       packet(PARAM, "foo")),
    "02_main_minimal": request(packet(HOST, "h"), packet(URI, "/")),
    "03_want_repeat": request(
        packet(REMOTE_HOST, "[2001:db8::1]:4711"), packet(HOST, "h"),
        packet(USER_AGENT, "curl/8.0"), packet(LANGUAGE, "de, en;q=0.5"),
        packet(URI, "/x"), packet(ARGS, "a=b;c=d"), packet(QUERY_STRING, "q=1"),
        packet(WANT, u16(REMOTE_HOST, USER_AGENT, LANGUAGE, ARGS,
                         QUERY_STRING, USER)),
        packet(USER, "alice")),
    "04_want_full_uri": request(packet(HOST, "h"),
                                packet(URI, "/a;x=y/path/info"),
                                packet(WANT_FULL_URI, "wfu")),
    "05_check": request(packet(HOST, "h"),
                        packet(AUTHORIZATION, "Basic Zm9vOmJhcg=="),
                        packet(URI, "/c"), packet(CHECK, b"chk\x00"),
                        packet(CHECK_HEADER, "x-foo:bar")),
    "06_internal_redirect": request(*MAIN, packet(INTERNAL_REDIRECT, "ir")),
    "07_layout_uri": request(packet(HOST, "h"), packet(URI, "/a/b"),
                             packet(LAYOUT, "L1"), packet(URI, "/a/")),
    "08_layout_base": request(packet(HOST, "h"), packet(URI, "/a/b"),
                              packet(LAYOUT, "L2"), packet(BASE, "/a/")),
    "09_layout_regex": request(packet(HOST, "h"), packet(URI, "/a/b"),
                               packet(LAYOUT, "L3"), packet(REGEX, "^/a/")),
    "10_layout_no_item": request(packet(HOST, "h"), packet(URI, "/z"),
                                 packet(LAYOUT, "L4")),
    "11_enotdir": request(*MAIN, packet(ENOTDIR_, "en")),
    "12_file_not_found": request(*MAIN, packet(FILE_NOT_FOUND, "fnf")),
    "13_directory_index": request(*MAIN, packet(DIRECTORY_INDEX, "di")),
    "14_path_exists": request(packet(STATUS, u16(200)), *MAIN,
                              packet(PATH_EXISTS)),
    "15_probe_path_suffixes": request(*MAIN,
                                      packet(PROBE_PATH_SUFFIXES, "pps"),
                                      packet(PROBE_SUFFIX, ".html")),
    "16_read_file": request(*MAIN, packet(READ_FILE, b"line\n\x00bin")),
    # §1.5.3
    "17_content_type_lookup": request(packet(CONTENT_TYPE_LOOKUP, "ctl"),
                                      packet(SUFFIX, "html")),
    "18_error_document": request(packet(ERROR_DOCUMENT, "ed"),
                                 packet(STATUS, u16(404)), *MAIN,
                                 packet(SESSION, b"\x07")),
    "19_chain": request(packet(STATUS, u16(502)), packet(CHAIN, "ch"),
                        packet(CHAIN_HEADER, "next")),
    "20_auth": request(packet(LISTENER_TAG, "lt"), packet(HOST, "h"),
                       packet(ALT_HOST, "alt.example"),
                       packet(URI, "/p;a=b?q=1"), packet(SESSION, b"\x00s"),
                       packet(AUTH, b"auth\x00append")),
    "21_http_auth": request(packet(LISTENER_TAG, "lt"), packet(HOST, "h"),
                            packet(AUTHORIZATION, "Bearer xyz"),
                            packet(HTTP_AUTH, "ha")),
    "22_token_auth_token": request(
        packet(LISTENER_TAG, "lt"), packet(HOST, "h"), packet(URI, "/t"),
        packet(SESSION, b"\x05"), packet(REALM_SESSION, b"\x06"),
        packet(TOKEN_AUTH, "ta"), packet(AUTH_TOKEN, "tok")),
    "23_token_auth_recover": request(
        packet(HOST, "h"), packet(URI, "/t"),
        packet(RECOVER_SESSION, "rc"), packet(TOKEN_AUTH)),
    "24_widget_type": request(packet(WIDGET_TYPE, "foo")),
    "25_mount_listen_stream": request(
        packet(MOUNT_LISTEN_STREAM, b"/run/s\x00key")),
    "26_pool": request(packet(LISTENER_TAG, "lt"), packet(HOST, "h"),
                       packet(POOL, "pool1")),
    "27_all_fields": request(
        packet(ERROR_DOCUMENT, "E"), packet(STATUS, u16(404)),
        packet(LISTENER_TAG, "lt"), packet(REMOTE_HOST, "rh"),
        packet(HOST, "ho"), packet(ALT_HOST, "ah"),
        packet(USER_AGENT, "ua"), packet(LANGUAGE, "la"),
        packet(AUTHORIZATION, "az"), packet(URI, "/u"), packet(ARGS, "ar"),
        packet(QUERY_STRING, "qs"), packet(WIDGET_TYPE, "wt"),
        packet(SESSION, b"\x00\x01"), packet(REALM_SESSION, b"\x02"),
        packet(RECOVER_SESSION, "rs"), packet(LAYOUT, "LY"),
        packet(REGEX, "^/r"), packet(INTERNAL_REDIRECT, "ir"),
        packet(CHECK, "ck"), packet(CHECK_HEADER, "a:b"),
        packet(AUTH, "au"), packet(HTTP_AUTH, "ha"),
        packet(TOKEN_AUTH, "ta"), packet(AUTH_TOKEN, "at"),
        packet(MOUNT_LISTEN_STREAM, b"/s\x00k"),
        packet(WANT_FULL_URI, "wf"), packet(CHAIN, "ch"),
        packet(CHAIN_HEADER, "cx"), packet(WANT, u16(3, 16)),
        packet(FILE_NOT_FOUND, "fn"), packet(CONTENT_TYPE_LOOKUP, "ct"),
        packet(SUFFIX, "sx"), packet(ENOTDIR_, "en"),
        packet(DIRECTORY_INDEX, "di"), packet(PARAM, "pa"),
        packet(PROBE_PATH_SUFFIXES, "pp"), packet(PROBE_SUFFIX, "ps"),
        packet(READ_FILE, b"r\x00"), packet(USER, "us"),
        packet(POOL, "po"), packet(PATH_EXISTS), version=2),
    # Variants and broken ones (the parser must refuse them cleanly).
    "28_begin_without_version": packet(BEGIN) + packet(HOST, "h")
    + packet(URI, "/") + packet(END),
    "29_bad_duplicate_host": request(packet(HOST, "a"), packet(HOST, "b")),
    "30_bad_truncated": request(*MAIN)[:-3],
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "corpus", "fuzz_tp_request")
    os.makedirs(out, exist_ok=True)
    for name, data in CORPUS.items():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(data)
    print(f"{len(CORPUS)} files in {out}")


if __name__ == "__main__":
    main()
