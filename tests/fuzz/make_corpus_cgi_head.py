#!/usr/bin/python3
"""Write the seed corpus of fuzz_cgi_head (tests/fuzz/corpus/fuzz_cgi_head/):
CGI response heads as programs print them (RFC 3875 §6): documents,
redirects of each kind, CRLF and bare LF, hop-by-hop headers, and broken
heads (bad Status, obs-fold, control characters, no CGI field, NPH status
lines, truncated).

It (re)writes its own files and leaves any other file there (e.g. a crash
reproducer added later) alone.
"""
import os
import sys


def corpus():
    f = {}
    f['document_lf'] = b'Content-type: text/html\n\n<html>hello</html>\n'
    f['document_crlf'] = (b'Status: 200 OK\r\nContent-Type: text/plain\r\n'
                          b'Content-Length: 3\r\nX-Powered-By: PHP\r\n\r\nabc')
    f['not_found'] = b'Status: 404 Not Found\r\nContent-Type: text/html\r\n\r\n'
    f['local_redirect'] = b'Location: /other/path?x=1\n\n'
    f['client_redirect'] = b'Location: https://example.com/\r\n\r\n'
    f['redirect_with_doc'] = (b'Status: 303 See Other\nLocation: http://a/\n'
                              b'Content-Type: text/html\n\n'
                              b'<a href="http://a/">')
    f['relative_location'] = b'Location: //host/x\nSet-Cookie: a=b\n\n'
    f['status_only'] = b'Status: 204\n\n'
    f['hop_by_hop'] = (b'Connection: close\r\nKeep-Alive: 5\r\n'
                       b'Transfer-Encoding: chunked\r\nTE: trailers\r\n'
                       b'Trailer: X\r\nUpgrade: h2c\r\n'
                       b'Proxy-Connection: x\r\nContent-Type: a/b\r\n\r\n')
    f['many_headers'] = (b''.join(b'X-H%d: v%d\n' % (i, i) for i in range(20))
                         + b'Content-Type: a/b\n\n')
    f['bad_status'] = b'Status: 20x\n\n'
    f['status_101'] = b'Status: 101 Switching Protocols\n\n'
    f['obs_fold'] = b'Content-Type: a/b\n continued\n\n'
    f['control_char'] = b'X-A: a\x01b\nStatus: 200\n\n'
    f['bare_cr'] = b'X-A: a\rb\nStatus: 200\n\n'
    f['no_cgi_field'] = b'X-Foo: bar\n\nbody'
    f['nph'] = b'HTTP/1.1 200 OK\r\nContent-Type: a/b\r\n\r\n'
    f['truncated'] = b'Status: 200 OK\r\nContent-Ty'
    f['empty_head'] = b'\r\nbody'
    f['duplicates'] = b'Content-Type: a\nContent-Type: b\n\n'
    f['content_length_big'] = (b'Status: 200\n'
                               b'Content-Length: 99999999999999999999\n\n')
    f['long_line'] = b'Content-Type: a/b\nX: ' + b'v' * 600 + b'\n\n'
    return f


def main():
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus',
                       'fuzz_cgi_head')
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(corpus().items()):
        with open(os.path.join(out, name), 'wb') as fh:
            fh.write(data)
    return 0


if __name__ == '__main__':
    sys.exit(main())
