#!/usr/bin/python3
"""Run every test suite of Portier and print one summary line.

Suites:
  unit, fuzz, spec   `meson test` in the build directory; every program
                     speaks TAP, so each case counts (not each program).
  integration        pytest over integration/ (skipped with --no-integration
                     or while the folder has no test files).

Time limits, so that a hung test is reported and never stalls the run:
every integration test (setup, call and teardown) has PYTEST_TIMEOUT
seconds (pytest-timeout, python3-pytest-timeout: the test fails with the
stack where it waited, and the run goes on); the whole pytest run has
PYTEST_BUDGET seconds, after which it is interrupted (SIGINT: teardown
runs, the results so far are counted, the rest is one failure).  Both
can be set in the environment; a test that needs longer than the
per-test limit says so with @pytest.mark.timeout(N).

The last line is "N passed, N failed[, N skipped]"; the exit status is 1
when anything failed (a crashed program counts as one failure even when it
printed no "not ok" line).
"""
import argparse
import glob
import json
import os
import re
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The slowest integration test takes about 20 s here on an idle machine.
PYTEST_TIMEOUT = int(os.environ.get('PYTEST_TIMEOUT', '180'))
# Lines of a failed integration test's traceback repeated at the end.
DETAIL_LINES = 12
# The whole integration suite takes about 6 minutes here.
PYTEST_BUDGET = int(os.environ.get('PYTEST_BUDGET', str(45 * 60)))


class Tally:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0
        self.failures = []
        self.details = []    # (name, message, text) of failed pytest cases

    def add(self, other):
        self.passed += other.passed
        self.failed += other.failed
        self.skipped += other.skipped
        self.failures += other.failures
        self.details += other.details


def count_tap(name, result, stdout):
    t = Tally()
    for line in stdout.splitlines():
        m = re.match(r'^(not ok|ok)\b(.*)$', line)
        if m:
            directive = m.group(2)
            if re.search(r'#\s*SKIP', directive, re.I):
                t.skipped += 1
            elif m.group(1) == 'ok':
                t.passed += 1
            else:
                t.failed += 1
                t.failures.append('%s: %s' % (name, line.strip()))
        elif re.match(r'^1\.\.0\b.*#\s*SKIP', line, re.I):
            t.skipped += 1
    if result not in ('OK', 'SKIP', 'EXPECTEDFAIL') and t.failed == 0:
        # Crashed, timed out or broke its plan without a "not ok" line.
        t.failed += 1
        t.failures.append('%s: %s' % (name, result))
    if result == 'OK' and t.passed + t.skipped == 0:
        t.passed += 1
    return t


def run_meson(build):
    log = os.path.join(build, 'meson-logs', 'testlog.json')
    if os.path.exists(log):
        os.unlink(log)
    proc = subprocess.run(['meson', 'test', '-C', build, '--print-errorlogs'],
                          cwd=ROOT)
    t = Tally()
    if not os.path.exists(log):
        t.failed += 1
        t.failures.append('meson test did not run (exit %d)' % proc.returncode)
        return t
    for line in open(log, encoding='utf-8', errors='replace'):
        entry = json.loads(line)
        t.add(count_tap(entry['name'], entry['result'],
                        entry.get('stdout') or ''))
    if proc.returncode != 0 and t.failed == 0:
        t.failed += 1
        t.failures.append('meson test exited %d' % proc.returncode)
    return t


def _default_sigint():
    # Python keeps SIGINT ignored when it starts with it ignored (as a
    # background job of a non-interactive shell does): then the budget's
    # interrupt would not reach pytest.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_pytest(build):
    t = Tally()
    tests = glob.glob(os.path.join(ROOT, 'integration', '**', 'test_*.py'),
                      recursive=True)
    if not tests:
        print('integration: no test files yet')
        return t
    xml_path = os.path.abspath(os.path.join(build, 'integration-junit.xml'))
    env = dict(os.environ, PORTIER_BUILD=os.path.abspath(build))
    if os.path.exists(xml_path):
        os.unlink(xml_path)
    proc = subprocess.Popen(['/usr/bin/python3', '-m', 'pytest', '-q',
                             '-p', 'no:cacheprovider',
                             '--timeout', str(PYTEST_TIMEOUT),
                             '--timeout-method', 'signal',
                             '--durations', '10',
                             '--junitxml', xml_path, 'integration'],
                            cwd=ROOT, env=env, preexec_fn=_default_sigint)
    overrun = False
    try:
        proc.wait(timeout=PYTEST_BUDGET)
    except subprocess.TimeoutExpired:
        overrun = True
        print('run_all: pytest still running after %d s: interrupting it'
              % PYTEST_BUDGET, flush=True)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if overrun:
        t.failed += 1
        t.failures.append('integration: the suite overran its budget of '
                          '%d s (PYTEST_BUDGET)' % PYTEST_BUDGET)
    if proc.returncode == 5:
        return t
    if not os.path.exists(xml_path):
        t.failed += 1
        t.failures.append('pytest did not run (exit %d)' % proc.returncode)
        return t
    for case in ET.parse(xml_path).getroot().iter('testcase'):
        name = '%s::%s' % (case.get('classname'), case.get('name'))
        bad = case.find('failure')
        if bad is None:
            bad = case.find('error')
        if bad is not None:
            t.failed += 1
            t.failures.append('integration: ' + name)
            t.details.append((name, bad.get('message') or '',
                              bad.text or ''))
        elif case.find('skipped') is not None:
            t.skipped += 1
        else:
            t.passed += 1
    if proc.returncode not in (0, 5) and t.failed == 0:
        t.failed += 1
        t.failures.append('pytest exited %d' % proc.returncode)
    return t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--build', default='build')
    ap.add_argument('--no-integration', action='store_true')
    args = ap.parse_args()

    total = Tally()
    total.add(run_meson(args.build))
    if not args.no_integration:
        total.add(run_pytest(args.build))

    # The cause of each failed integration test once more, short, next
    # to the summary (CI shows the end of the output).
    for name, message, text in total.details:
        lines = text.splitlines()
        print('--- %s: %s' % (name, message.splitlines()[0][:300]
                              if message else ''))
        for line in lines[-DETAIL_LINES:]:
            print('    ' + line[:300])
    for f in total.failures:
        print('FAILED ' + f)
    line = '%d passed, %d failed' % (total.passed, total.failed)
    if total.skipped:
        line += ', %d skipped' % total.skipped
    sys.stdout.flush()
    print(line)
    return 1 if total.failed else 0


if __name__ == '__main__':
    sys.exit(main())
