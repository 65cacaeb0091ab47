"""A real NFSv3 server for the tests: nfs-ganesha (VFS FSAL) on 127.0.0.1.

ganesha 4.3 refuses to start without a portmapper, so rpcbind runs too
(one per machine on port 111, shared; started here only when nothing
listens there yet, and then stopped here too).  ganesha runs in the
foreground (-F) as our child, with NFS and MOUNT on fixed free ports so
clients need not ask the portmapper (several instances overwrite each
other's registrations there).  Everything started here is stopped by the
PID we got when starting it.

`why_unavailable()` says precisely why the server cannot run on this
machine (None when it can); tests skip with that reason.  `make_export()`
writes the files the NFS suites read.

Usable from the shell too:
    python3 integration/nfs_server.py DIR EXPORT_PATH   (runs until Ctrl-C)
"""
import os
import signal
import socket
import subprocess
import sys
import time

GANESHA = '/usr/bin/ganesha.nfsd'
RPCBIND = '/usr/sbin/rpcbind'
NFS_LS = '/usr/bin/nfs-ls'
VFS_FSAL = '/usr/lib/x86_64-linux-gnu/ganesha/libfsalvfs.so'


BIG_SIZE = 200 * 1024 * 1024


def make_export(root, extra=()):
    """ROOT/export with the files every NFS suite reads: small.txt,
    an empty file, sub/one-mib.bin (random), huge.bin (BIG_SIZE, sparse
    with random blocks spread over it, so not just zeros) and secret.txt
    (mode 0600), plus the (name, bytes) pairs of `extra`; the directories
    are mode 0755.  Returns the export's path."""
    export = os.path.join(root, 'export')
    os.makedirs(os.path.join(export, 'sub'))
    files = [('small.txt', b'Hello from NFS.\n'), ('empty', b''),
             ('sub/one-mib.bin', os.urandom(1 << 20))] + list(extra)
    for name, data in files:
        with open(os.path.join(export, name), 'wb') as f:
            f.write(data)
    with open(os.path.join(export, 'huge.bin'), 'wb') as f:
        f.truncate(BIG_SIZE)
        for i in range(8):
            f.seek(i * (BIG_SIZE // 8) + 4095)
            f.write(os.urandom(65536 + i))
    secret = os.path.join(export, 'secret.txt')
    with open(secret, 'wb') as f:
        f.write(b'root only\n')
    os.chmod(secret, 0o600)
    for d in (root, export, os.path.join(export, 'sub')):
        os.chmod(d, 0o755)
    return export


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _port_open(port, host='127.0.0.1'):
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def why_unavailable():
    """None when ganesha can run here, else a sentence saying why not."""
    missing = []
    for path, pkg in ((GANESHA, 'nfs-ganesha'), (RPCBIND, 'rpcbind'),
                      (NFS_LS, 'libnfs-utils')):
        if not os.access(path, os.X_OK):
            missing.append('%s (package %s)' % (path, pkg))
    if not any(os.path.exists(p) for p in _vfs_candidates()):
        missing.append('the VFS FSAL libfsalvfs.so (package nfs-ganesha-vfs)')
    if missing:
        return ('nfs-ganesha cannot run: missing ' + ', '.join(missing) +
                '; `make deps` installs them')
    if os.geteuid() != 0:
        return ('nfs-ganesha cannot run: its VFS FSAL opens files by handle '
                '(open_by_handle_at needs CAP_DAC_READ_SEARCH) and rpcbind '
                'binds port 111, both need root; this runs as uid %d'
                % os.geteuid())
    return None


def _vfs_candidates():
    return [VFS_FSAL, '/usr/lib/ganesha/libfsalvfs.so',
            '/usr/lib64/ganesha/libfsalvfs.so']


def _wait_gone(proc, seconds):
    try:
        proc.wait(timeout=seconds)
        return True
    except subprocess.TimeoutExpired:
        return False


class Rpcbind:
    """The portmapper: ours when we started it, else someone else's."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.proc = None

    def start(self):
        if _port_open(111):
            return  # a running portmapper serves every instance
        log = open(os.path.join(self.workdir, 'rpcbind.log'), 'wb')
        # -f: stay in the foreground, our child.  No -h: Debian 12's
        # rpcbind aborts with a double free when given a host.
        self.proc = subprocess.Popen([RPCBIND, '-f'], stdout=log,
                                     stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('rpcbind exited with %d, see %s'
                                   % (self.proc.returncode, self.workdir))
            if _port_open(111):
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError('rpcbind did not listen on port 111 within 5 s')

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if not _wait_gone(self.proc, 5):
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class Ganesha:
    """One ganesha instance exporting `export_path` on loopback."""

    def __init__(self, workdir, export_path, anon_uid=65534):
        self.workdir = workdir
        self.export_path = export_path
        self.nfs_port = _free_port()
        self.mount_port = _free_port()
        while self.mount_port == self.nfs_port:
            self.mount_port = _free_port()
        self.proc = None
        self.conf = os.path.join(workdir, 'ganesha.conf')
        self.log = os.path.join(workdir, 'ganesha.log')
        os.makedirs(os.path.join(workdir, 'recovery'), exist_ok=True)
        self._write_config(anon_uid)

    def _write_config(self, anon_uid):
        w = self.workdir
        conf = f"""
# Written by integration/nfs_server.py for one test run.
NFS_CORE_PARAM {{
    Protocols = 3;
    Bind_addr = 127.0.0.1;
    NFS_Port = {self.nfs_port};
    MNT_Port = {self.mount_port};
    Enable_NLM = false;
    Enable_RQUOTA = false;
    Enable_UDP = false;
    Dbus_Name_Prefix = portier{self.nfs_port};
}}
NFSv4 {{ Graceless = true; RecoveryRoot = {w}/recovery; }}
NFS_KRB5 {{ Active_krb5 = false; CCacheDir = {w}; }}
# Files change under the running server in tests: never serve stale
# attributes or directory entries.
MDCACHE {{ Use_Getattr_Directory_Invalidation = true; }}
EXPORT {{
    Export_Id = 1;
    Path = {self.export_path};
    Pseudo = /portier;
    Protocols = 3;
    Transports = TCP;
    Access_Type = RO;
    Squash = None;
    Anonymous_Uid = {anon_uid};
    SecType = sys;
    PrivilegedPort = false;
    Attr_Expiration_Time = 0;
    FSAL {{ Name = VFS; }}
}}
LOG {{ Default_Log_Level = EVENT; }}
"""
        with open(self.conf, 'w') as f:
            f.write(conf)

    def url(self, path=''):
        return 'nfs://127.0.0.1%s%s?nfsport=%d&mountport=%d' % (
            self.export_path, path, self.nfs_port, self.mount_port)

    def start(self, timeout=10):
        out = open(os.path.join(self.workdir, 'ganesha.out'), 'ab')
        self.proc = subprocess.Popen(
            [GANESHA, '-F', '-f', self.conf, '-L', self.log,
             '-p', os.path.join(self.workdir, 'ganesha.pid'),
             '-N', 'NIV_EVENT'],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    'ganesha exited with %d; its log %s says:\n%s'
                    % (self.proc.returncode, self.log, self.log_tail()))
            if self.answers():
                return
            time.sleep(0.03)
        self.stop()
        raise RuntimeError('ganesha did not answer within %d s' % timeout)

    def answers(self):
        """True when the export can be mounted and listed (nfs-ls)."""
        try:
            r = subprocess.run([NFS_LS, self.url()], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=3)
            return r.returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def pause(self):
        """SIGSTOP: the sockets stay open but nothing answers."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self, hard=False):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
            if not _wait_gone(self.proc, 10):
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log_tail(self, n=20):
        """The log's FATAL and MAJ lines (the rest at EVENT level is noise
        here: no D-Bus, no Kerberos), else its last n lines."""
        try:
            with open(self.log, errors='replace') as f:
                lines = f.readlines()
        except OSError:
            return '(no log)'
        bad = [ln for ln in lines if ' :FATAL :' in ln or ' :MAJ :' in ln]
        return ''.join(bad[-n:] if bad else lines[-n:])


if __name__ == '__main__':
    if len(sys.argv) != 3:
        sys.exit('usage: nfs_server.py WORKDIR EXPORT_PATH')
    reason = why_unavailable()
    if reason:
        sys.exit(reason)
    workdir, export = map(os.path.abspath, sys.argv[1:])
    os.makedirs(workdir, exist_ok=True)
    rpc = Rpcbind(workdir)
    rpc.start()
    g = Ganesha(workdir, export)
    try:
        g.start()
        print(g.url())
        sys.stdout.flush()
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        g.stop()
        rpc.stop()
