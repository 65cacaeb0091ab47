"""portier-translate: the packets it answers for each origin kind and
option of a site file, --check, SIGHUP reload, and the example site
served end to end through portierd."""
import json
import os
import signal
import subprocess
import time

import pytest

from dphelp import started
from tplib import CMD, translate, u16

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def binary(build_dir):
    path = os.path.join(build_dir, 'translator', 'portier-translate')
    if not os.path.exists(path):
        pytest.skip('portier-translate not built')
    return path


def write_site(tmp_path, site, name='site.json'):
    path = tmp_path / name
    path.write_text(json.dumps(site, indent=2))
    return str(path)


class Translate:
    def __init__(self, binary, site_path, tmp_path):
        self.address = '@portier-test-pt-%d-%d' % (os.getpid(),
                                                   time.monotonic_ns())
        self.log_path = str(tmp_path / ('pt-%d.log' % time.monotonic_ns()))
        self._log = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(
            [binary, '--socket', self.address, '--max-age', '30',
             site_path], stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.ask(('HOST', 'x'), ('URI', '/'))
                return
            except OSError:
                if self.proc.poll() is not None or \
                        time.monotonic() > deadline:
                    raise RuntimeError(self.log())
                time.sleep(0.05)

    def ask(self, *packets):
        """The response as {name: [payloads]} (without BEGIN/END)."""
        out = {}
        for name, payload in translate(self.address, *packets)[1:-1]:
            out.setdefault(name, []).append(payload)
        return out

    def get(self, host, uri, tag=None):
        packets = [('HOST', host), ('URI', uri)]
        if tag is not None:
            packets.insert(0, ('LISTENER_TAG', tag))
        return self.ask(*packets)

    def log(self):
        with open(self.log_path, 'rb') as f:
            return f.read().decode(errors='replace')

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        self._log.close()


@pytest.fixture
def start(binary, tmp_path):
    yield from started(
        lambda site: Translate(binary, write_site(tmp_path, site), tmp_path),
        Translate.stop)


def site_of(tmp_path):
    www = tmp_path / 'www'
    (www / 'sub').mkdir(parents=True)
    (www / 'index.html').write_text('x')
    return {
        'vhosts': [
            {'name': 'example.com', 'aliases': ['www.example.com'],
             'mounts': [
                 {'mountpoint': '/', 'origin': 'file://' + str(www),
                  'default': 'index.html', 'cache-max-age': 120,
                  'headers': {'X-Site': 'example'},
                  'extra-mimetypes': {'foo': 'application/x-foo',
                                      'bare': ''}},
                 {'mountpoint': '/docs', 'origin': 'file://' + str(www)},
                 {'mountpoint': '/api',
                  'origin': 'http://127.0.0.1:8081/v1'},
                 {'mountpoint': '/old', 'origin': '>https://new.example/',
                  'redirect-status': 302},
                 {'mountpoint': '/cgi-bin', 'origin': 'cgi:///usr/bin/env',
                  'cgi-env': {'FOO': 'bar'}},
                 {'mountpoint': '/nfs', 'origin': 'nfs://10.0.0.1/export'},
             ]},
            {'name': 'tagged.example', 'listener-tag': 'internal',
             'mounts': [{'mountpoint': '/', 'origin': 'file://' + str(www)}]},
        ],
    }


def test_file_mount_packets(start, tmp_path):
    t = start(site_of(tmp_path))
    r = t.get('example.com', '/sub/a.html')
    assert r['BASE'] == [b'/']
    assert 'EASY_BASE' in r
    # the other mounts are below "/": their URIs never use this answer
    assert r['INVERSE_REGEX'] == [
        b'.*/$|^/docs(?:/|$)|^/api(?:/|$)|^/old(?:/|$)|^/cgi-bin(?:/|$)'
        b'|^/nfs(?:/|$)']
    assert r['PATH'] == [str(tmp_path / 'www').encode() + b'/']
    assert r['BENEATH'] == [str(tmp_path / 'www').encode()]
    assert 'CONTENT_TYPE_LOOKUP' in r
    assert r['HEADER'] == [b'X-Site:example']
    assert r['EXPIRES_RELATIVE'] == [(120).to_bytes(4, 'little')]
    assert r['MAX_AGE'] == [(30).to_bytes(4, 'little')]
    # an alias and a port in Host select the same vhost
    assert t.get('WWW.example.com:8080', '/a')['BASE'] == [b'/']


def test_directory_gets_the_index_document(start, tmp_path):
    t = start(site_of(tmp_path))
    r = t.get('example.com', '/')
    assert r['PATH'] == [str(tmp_path / 'www').encode() + b'/index.html']
    assert r['CONTENT_TYPE'] == [b'text/html']
    assert 'BASE' not in r
    # a mount without "default": no listing, 404
    assert t.get('example.com', '/docs/')['STATUS'] == [u16(404)]
    # the mountpoint without its slash is redirected
    r = t.get('example.com', '/docs')
    assert r['REDIRECT'] == [b'/docs/'] and r['STATUS'] == [u16(301)]


def test_content_type_lookup(start, tmp_path):
    t = start(site_of(tmp_path))
    payload = t.get('example.com', '/a.foo')['CONTENT_TYPE_LOOKUP'][0]
    look = lambda suffix: t.ask(('CONTENT_TYPE_LOOKUP', payload),
                                ('SUFFIX', suffix))
    assert look('css')['CONTENT_TYPE'] == [b'text/css']
    assert look('foo')['CONTENT_TYPE'] == [b'application/x-foo']
    assert 'CONTENT_TYPE' not in look('bare')        # served untyped
    assert look('nosuchsuffix')['STATUS'] == [u16(404)]


def test_other_origins(start, tmp_path):
    t = start(site_of(tmp_path))
    r = t.get('example.com', '/api/users')
    assert r['HTTP'] == [b'http://127.0.0.1:8081/v1/']
    assert r['ADDRESS_STRING'] == [b'127.0.0.1:8081']
    assert r['BASE'] == [b'/api/']
    r = t.get('example.com', '/old/page')
    assert r['REDIRECT'] == [b'https://new.example/page']
    assert r['STATUS'] == [u16(302)]
    assert 'REDIRECT_QUERY_STRING' in r
    r = t.get('example.com', '/cgi-bin/x/y')
    assert r['CGI'] == [b'/usr/bin/env']
    assert r['SCRIPT_NAME'] == [b'/cgi-bin']
    assert r['PATH_INFO'] == [b'/x/y']
    assert r['SETENV'] == [b'FOO=bar']
    r = t.get('example.com', '/nfs/f.txt')
    assert r['NFS_SERVER'] == [b'10.0.0.1']
    assert r['NFS_EXPORT'] == [b'/export']
    assert r['PATH'] == [b'/']


def test_hosts_tags_and_bad_paths(start, tmp_path):
    t = start(site_of(tmp_path))
    assert t.get('unknown.example', '/')['STATUS'] == [u16(404)]
    assert t.get('tagged.example', '/x', tag='internal')['BASE'] == [b'/']
    assert t.get('tagged.example', '/x')['STATUS'] == [u16(404)]
    for uri in ('/../etc/passwd', '/%2e%2e/x', '/a%00b', '/a%2fb'):
        assert t.get('example.com', uri)['STATUS'] == [u16(400)], uri


def test_check(binary, tmp_path):
    good = write_site(tmp_path, site_of(tmp_path))
    out = subprocess.run([binary, '--check', good], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 0 and 'is valid' in out.stdout
    bad = tmp_path / 'bad.json'
    bad.write_text('{\n  "vhosts": [\n    {"name": "a", "mounts": 3}\n'
                   '  ]\n}\n')
    out = subprocess.run([binary, '--check', str(bad)], capture_output=True,
                         text=True, timeout=10)
    assert out.returncode == 1
    assert 'bad.json:3:' in out.stderr and 'mounts' in out.stderr
    out = subprocess.run([binary, '--check', str(tmp_path / 'none.json')],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 1 and 'none.json' in out.stderr


def test_sighup_reload(binary, tmp_path):
    site = site_of(tmp_path)
    path = write_site(tmp_path, site)
    t = Translate(binary, path, tmp_path)
    try:
        assert t.get('new.example', '/')['STATUS'] == [u16(404)]
        site['vhosts'][0]['aliases'].append('new.example')
        write_site(tmp_path, site)
        t.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while 'STATUS' in t.get('new.example', '/x'):
            assert time.monotonic() < deadline, t.log()
            time.sleep(0.05)
        # an invalid file: logged, the old site stays
        with open(path, 'w') as f:
            f.write('{ "vhosts": [ }')
        t.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while 'reload failed' not in t.log():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert t.get('new.example', '/x')['BASE'] == [b'/']
    finally:
        t.stop()


def test_example_site_end_to_end(binary, portierd_factory, tmp_path):
    t = Translate(binary, os.path.join(ROOT, 'examples', 'site',
                                       'site.json'), tmp_path)
    try:
        d = portierd_factory([t.address])
        status, r, body = d.request('GET', '/')
        assert status == 200 and b'<!DOCTYPE html>' in body
        assert r.getheader('Content-Type') == 'text/html'
        assert r.getheader('X-Content-Type-Options') == 'nosniff'
        status, r, _ = d.request('GET', '/style.css')
        assert status == 200 and r.getheader('Content-Type') == 'text/css'
        assert d.request('GET', '/missing.html')[0] == 404
        assert d.request('GET', '/../site.json')[0] == 400
    finally:
        t.stop()


def test_symlink_out_of_the_mount_is_refused(binary, portierd_factory,
                                              tmp_path):
    www = tmp_path / 'www'
    www.mkdir()
    (tmp_path / 'outside.txt').write_text('secret')
    (www / 'inside.txt').write_text('public')
    os.symlink(str(tmp_path / 'outside.txt'), str(www / 'escape.txt'))
    os.symlink('inside.txt', str(www / 'alias.txt'))
    site = {'vhosts': [{'name': 'default', 'mounts': [
        {'mountpoint': '/', 'origin': 'file://' + str(www)}]}]}
    t = Translate(binary, write_site(tmp_path, site), tmp_path)
    try:
        d = portierd_factory([t.address])
        assert d.request('GET', '/inside.txt')[2] == b'public'
        assert d.request('GET', '/alias.txt')[2] == b'public'
        status, _, body = d.request('GET', '/escape.txt')
        assert status == 404 and b'secret' not in body
        assert 'outside its BENEATH directory' in d.log()
    finally:
        t.stop()


def test_root_mount_answer_never_serves_another_mount(binary,
                                                     portierd_factory,
                                                     tmp_path):
    """The "/" mount's cached answer (BASE "/") must not serve URIs of the
    mounts below it: its INVERSE_REGEX names them."""
    root = tmp_path / 'root'
    (root / 's').mkdir(parents=True)
    (root / 'a.txt').write_text('root a')
    (root / 's' / 'y.txt').write_text('root s/y')
    sub = tmp_path / 'sub'
    sub.mkdir()
    (sub / 'y.txt').write_text('sub y')
    (sub / 'z+1.txt').write_text('sub z')
    site = {'vhosts': [{'name': 'default', 'mounts': [
        {'mountpoint': '/', 'origin': 'file://' + str(root)},
        {'mountpoint': '/s', 'origin': 'file://' + str(sub)}]}]}
    t = Translate(binary, write_site(tmp_path, site), tmp_path)
    try:
        d = portierd_factory([t.address])
        for _ in range(2):      # the second round runs from the cache
            assert d.request('GET', '/a.txt')[2] == b'root a'
            assert d.request('GET', '/s/y.txt')[2] == b'sub y'
            assert d.request('GET', '/s/z+1.txt')[2] == b'sub z'
            assert d.request('GET', '/sx.txt')[0] == 404
    finally:
        t.stop()


def test_basic_auth(binary, portierd_factory, tmp_path):
    import base64
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        import crypt
    www = tmp_path / 'private'
    www.mkdir()
    (www / 'secret.txt').write_text('top secret')
    htpasswd = tmp_path / 'htpasswd'
    htpasswd.write_text('alice:%s\n' % crypt.crypt(
        'wonderland', crypt.mksalt(crypt.METHOD_SHA512)))
    site = {'vhosts': [{'name': 'default', 'mounts': [
        {'mountpoint': '/', 'origin': 'file://' + str(www),
         'basic-auth': str(htpasswd)}]}]}
    t = Translate(binary, write_site(tmp_path, site), tmp_path)
    try:
        r = t.get('any', '/secret.txt')
        assert r['HTTP_AUTH'] == [b'default /']
        assert r['WWW_AUTHENTICATE'] == [
            b'Basic realm="default", charset="UTF-8"']

        def auth(user, password):
            token = base64.b64encode(('%s:%s' % (user, password)).encode())
            return t.ask(('HOST', 'any'), ('AUTHORIZATION', b'Basic ' + token),
                         ('HTTP_AUTH', b'default /'))
        assert auth('alice', 'wonderland')['USER'] == [b'alice']
        bad = auth('alice', 'wrong')
        assert 'USER' not in bad and bad['STATUS'] == [u16(401)]
        assert 'USER' not in auth('bob', 'wonderland')

        d = portierd_factory([t.address])
        status, r, _ = d.request('GET', '/secret.txt')
        assert status == 401
        assert r.getheader('WWW-Authenticate').startswith('Basic realm=')
        token = base64.b64encode(b'alice:wrong').decode()
        assert d.request('GET', '/secret.txt',
                         {'Authorization': 'Basic ' + token})[0] == 401
        token = base64.b64encode(b'alice:wonderland').decode()
        status, r, body = d.request('GET', '/secret.txt',
                                    {'Authorization': 'Basic ' + token})
        assert status == 200 and body == b'top secret'
    finally:
        t.stop()
