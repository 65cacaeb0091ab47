"""Shared fixtures for the integration suites.

Every server a test starts listens on loopback on a free port, is stopped
by the PID the test got when it started it, and is bounded in time.  The
build directory comes from $PORTIER_BUILD (set by tests/run_all.py)."""
import os
import socket

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='session')
def build_dir():
    return os.environ.get('PORTIER_BUILD', os.path.join(ROOT, 'build'))


def free_port(host='127.0.0.1'):
    """A TCP port nobody listens on right now (bind to port 0, release)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
