"""Small helpers shared by the portierd integration suites (not a test
file): a document root, answers for it, and log checks."""
import time

from tplib import packet


def make_docroot(tmp_path):
    root = tmp_path / 'www'
    root.mkdir()
    (root / 'index.html').write_text('<p>hello</p>\n')
    (root / 'a.txt').write_text('a' * 100)
    return root


def file_answer(root, name='index.html', *extra):
    """A per-URI answer (no BASE): the named file, plus extra packets."""
    return [packet('PATH', '%s/%s' % (root, name))] + list(extra)


def log_lines(d, needle):
    """The lines of portierd's log that contain `needle`."""
    return [line for line in d.log().splitlines() if needle in line]


def wait_log(d, needle, count=1, timeout=3):
    """Wait until `count` log lines contain `needle`; return them."""
    deadline = time.monotonic() + timeout
    while True:
        lines = log_lines(d, needle)
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.02)


def one_failure_line(d, path, status, cause):
    """Exactly one log line for the request `path`, with its status and a
    text naming the cause; returns it."""
    lines = wait_log(d, '"GET %s HTTP/1.1": %u: ' % (path, status))
    assert len(lines) == 1, d.log()
    assert cause in lines[0], lines[0]
    # nothing else was logged about it
    assert len(log_lines(d, path)) == 1, d.log()
    return lines[0]
