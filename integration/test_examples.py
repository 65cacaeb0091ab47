"""The example translation servers of examples/translators/ work with
portierd: minimal.py (Python, standard library only)."""
import os
import subprocess
import sys

from proclib import readline_within

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_minimal_py(portierd_factory, tmp_path):
    www = tmp_path / 'www'
    www.mkdir()
    (www / 'hello.txt').write_text('hello from minimal.py\n')
    address = '@portier-test-minimal-%d' % os.getpid()
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, 'examples', 'translators',
                                      'minimal.py'),
         '--socket', address, str(www)],
        stderr=subprocess.PIPE)
    try:
        assert b'serving' in readline_within(
            proc.stderr, 10, 'minimal.py did not say it is serving')
        d = portierd_factory([address])
        status, _, body = d.request('GET', '/hello.txt')
        assert status == 200 and body == b'hello from minimal.py\n'
        assert d.request('GET', '/nothing')[0] == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)
