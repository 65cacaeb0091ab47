"""portierd with several worker processes: the master starts them,
replaces one that dies, and stops them all on SIGTERM."""
import os
import signal

from proclib import children, wait_for
from tplib import ScriptedTranslationServer, packet, u32


def test_workers_replace_and_stop(portierd_factory, tmp_path):
    www = tmp_path / 'www'
    www.mkdir()
    (www / 'a.txt').write_text('from a worker\n')
    srv = ScriptedTranslationServer(lambda req: [
        packet('BASE', '/'), packet('EASY_BASE'),
        packet('PATH', str(www) + '/'), packet('MAX_AGE', u32(60))])
    srv.start()
    try:
        d = portierd_factory([srv.address], extra=['--workers', '2'])
        master = d.proc.pid
        workers = wait_for(lambda: len(children(master)) == 2 and
                           children(master))
        for _ in range(20):
            assert d.request('GET', '/a.txt')[2] == b'from a worker\n'
        # a worker killed: the master starts another, service goes on
        os.kill(workers[0], signal.SIGKILL)
        replaced = wait_for(lambda: len(children(master)) == 2 and
                            workers[0] not in children(master) and
                            children(master))
        assert workers[1] in replaced
        for _ in range(20):
            assert d.request('GET', '/a.txt')[0] == 200
        assert 'killed by signal 9 (Killed); starting a new one' in d.log()
        # SIGTERM: every worker stops, the master exits 0
        d.proc.send_signal(signal.SIGTERM)
        assert d.proc.wait(timeout=10) == 0
        for pid in replaced:
            assert not os.path.exists('/proc/%d/stat' % pid) or \
                open('/proc/%d/stat' % pid).read().split()[2] == 'Z'
    finally:
        srv.stop()


def uid_of(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('Uid:'):
                return int(line.split()[1])
    return None


def test_user_drops_privileges(portierd_factory):
    import pwd
    import shutil
    import tempfile
    if os.geteuid() != 0:
        import pytest
        pytest.skip('needs root to switch users')
    nobody = pwd.getpwnam('nobody').pw_uid
    www = tempfile.mkdtemp(prefix='portier-test-user-')
    try:
        os.chmod(www, 0o755)
        with open(os.path.join(www, 'a.txt'), 'w') as f:
            f.write('public\n')
        os.chmod(os.path.join(www, 'a.txt'), 0o644)
        with open(os.path.join(www, 'private.txt'), 'w') as f:
            f.write('root only\n')
        os.chmod(os.path.join(www, 'private.txt'), 0o600)
        srv = ScriptedTranslationServer(lambda req: [
            packet('BASE', '/'), packet('EASY_BASE'),
            packet('PATH', www + '/'), packet('MAX_AGE', u32(60))])
        srv.start()
        try:
            for workers in ('1', '2'):
                d = portierd_factory(
                    [srv.address], extra=['--workers', workers],
                    config='set user = "nobody"\nset group = "nogroup"\n')
                if workers == '1':
                    assert uid_of(d.proc.pid) == nobody
                else:
                    assert uid_of(d.proc.pid) == 0      # the master
                    # A forked worker switches users a moment after it
                    # appears: wait until both have (read the list once).
                    def switched():
                        kids = children(d.proc.pid)
                        uids = [uid_of(k) for k in kids]
                        return len(kids) == 2 and uids == [nobody] * 2
                    assert wait_for(switched)
                assert d.request('GET', '/a.txt')[2] == b'public\n'
                assert d.request('GET', '/private.txt')[0] == 403
        finally:
            srv.stop()
    finally:
        shutil.rmtree(www)


def test_unknown_user_is_a_config_error(portierd_factory):
    import pytest
    with pytest.raises(RuntimeError, match="unknown user"):
        portierd_factory([], config='set user = "no-such-user-x"\n')


def test_reload_with_workers(portierd_factory, tmp_path):
    import http.client
    import threading
    www = tmp_path / 'www'
    www.mkdir()
    (www / 'a.txt').write_text('x' * 100)
    srv = ScriptedTranslationServer(lambda req: [
        packet('BASE', '/'), packet('EASY_BASE'),
        packet('PATH', str(www) + '/'), packet('MAX_AGE', u32(60))])
    srv.start()
    try:
        d = portierd_factory([srv.address], extra=['--workers', '2'],
                             config='set server_string = "one"\n')
        conf = [a for a in d.proc.args if a.endswith('.conf')][0]
        master = d.proc.pid
        old = wait_for(lambda: len(children(master)) == 2 and
                       children(master))
        # a client loop that must see no failure during the reloads
        failures, done, count = [], threading.Event(), [0]

        def client():
            while not done.is_set():
                try:
                    c = http.client.HTTPConnection('127.0.0.1', d.port,
                                                   timeout=5)
                    c.request('GET', '/a.txt')
                    r = c.getresponse()
                    if r.status != 200 or len(r.read()) != 100:
                        failures.append(r.status)
                    c.close()
                    count[0] += 1
                except OSError as e:
                    failures.append(repr(e))
        t = threading.Thread(target=client)
        t.start()
        try:
            with open(conf, 'w') as f:
                f.write('set server_string = "two"\n')
            d.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: d.request('GET', '/a.txt')[1]
                     .getheader('Server') == 'two')
            new = wait_for(lambda: len(children(master)) == 2 and
                           not set(old) & set(children(master)) and
                           children(master))
            assert 'configuration reloaded' in d.log()
            # an invalid file: logged, the running configuration stays
            with open(conf, 'w') as f:
                f.write('set no_such_setting = "1"\n')
            d.proc.send_signal(signal.SIGHUP)
            wait_for(lambda: 'reload refused' in d.log())
            assert "unknown setting 'no_such_setting'" in d.log()
            assert sorted(children(master)) == sorted(new)
            assert d.request('GET', '/a.txt')[1].getheader('Server') == 'two'
        finally:
            done.set()
            t.join(timeout=10)
        assert failures == [] and count[0] > 0
    finally:
        srv.stop()
