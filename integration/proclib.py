"""Processes as /proc shows them, for the integration suites and the bench
scripts (not a test file): children, descendants and process groups, the
state of one process, CPU time, sizes from /proc/PID/status, open
descriptors, polling until a condition holds, and bounded waits for a
line from a child's pipe and for a thread's end.

Linux only; standard library only (Debian's /usr/bin/python3).  A process
that ends while it is read is left out, never an error."""
import os
import select
import time


def stat_fields(pid):
    """The fields of /proc/PID/stat after `comm` (state, parent, process
    group, ...: field 3 and on), or None when pid is gone.  They are
    split after the last ')', since the command name may hold spaces and
    parentheses."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(')') + 2:].split()


def proc_stat(pid):
    """(state, parent, process group) of pid, or None when it is gone."""
    fields = stat_fields(pid)
    if fields is None:
        return None
    return fields[0], int(fields[1]), int(fields[2])


def all_pids():
    """Every PID in /proc right now."""
    return [int(p) for p in os.listdir('/proc') if p.isdigit()]


def proc_table():
    """{pid: (state, parent, process group)} of every process."""
    out = {}
    for pid in all_pids():
        st = proc_stat(pid)
        if st is not None:
            out[pid] = st
    return out


def children(pid):
    """The children of pid's main thread (/proc/PID/task/PID/children),
    in PID order."""
    with open('/proc/%d/task/%d/children' % (pid, pid)) as f:
        return sorted(int(x) for x in f.read().split())


def child_pids(pid, zombies=True):
    """The PIDs whose parent is pid, by a scan of /proc (children of
    every thread); without the zombies when `zombies` is false."""
    return [p for p, (state, parent, _) in proc_table().items()
            if parent == pid and (zombies or state != 'Z')]


def descendants(pid):
    """PIDs of every process below pid (children, their children...),
    in PID order."""
    parent = {p: st[1] for p, st in proc_table().items()}
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return sorted(out)


def group_pids(pgid):
    """PIDs of the processes in process group pgid, in PID order."""
    return sorted(p for p, st in proc_table().items() if st[2] == pgid)


def cpu_ticks(pids):
    """utime + stime of the processes, in clock ticks (a process that is
    gone counts nothing)."""
    total = 0
    for pid in pids:
        fields = stat_fields(pid)
        if fields is not None:      # utime and stime: fields 14 and 15
            total += int(fields[11]) + int(fields[12])
    return total


def status_kib(pid, field, missing=None):
    """A size field of /proc/PID/status ('VmRSS', 'VmHWM'...) in KiB;
    `missing` when the field is absent, or an AssertionError when
    `missing` is None."""
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1])
    if missing is None:
        raise AssertionError('no %s for %d' % (field, pid))
    return missing


def rss_kib(pid):
    """The resident set of pid (VmRSS), KiB; 0 without one."""
    return status_kib(pid, 'VmRSS', 0)


def vm_hwm_kib(pid):
    """The peak resident set of pid (VmHWM), KiB; 0 without one."""
    return status_kib(pid, 'VmHWM', 0)


def fd_count(pid):
    """How many descriptors pid has open."""
    return len(os.listdir('/proc/%d/fd' % pid))


def drops_to(measure, limit, timeout=5):
    """True once measure() is no more than `limit` (polled every 20 ms),
    False when it is still more after `timeout` s."""
    deadline = time.monotonic() + timeout
    while measure() > limit:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def fds_back_to(pid, count, timeout=5):
    """True once pid has no more than `count` descriptors open, False
    when it still has more after `timeout` s."""
    return drops_to(lambda: fd_count(pid), count, timeout)


def wait_for(cond, timeout=10):
    """Call cond() every 50 ms until it returns a true value, and return
    that; cond is called once more at the deadline, then an
    AssertionError says the condition was not met."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError('condition not met within %s s' % timeout)
        time.sleep(0.05)


def wchan(pid):
    """Where in the kernel pid waits (/proc/PID/wchan: a function name,
    such as hrtimer_nanosleep), '' when it runs or is gone."""
    try:
        with open('/proc/%d/wchan' % pid) as f:
            w = f.read().strip()
    except OSError:
        return ''
    return '' if w == '0' else w


def readline_within(pipe, timeout, what):
    """The first line a child writes on `pipe` (a binary file from
    Popen), waited for at most `timeout` seconds: an AssertionError names
    `what` did not happen when no whole line came by then.  Reads the
    descriptor byte by byte, so nothing past the line is taken from
    it."""
    fd = pipe.fileno()
    deadline = time.monotonic() + timeout
    line = b''
    while not line.endswith(b'\n'):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError('%s: no line within %s s (got %r)' % (
                what, timeout, line))
        byte = os.read(fd, 1)
        if not byte:
            break
        line += byte
    return line


def join_within(thread, timeout, what):
    """Wait for `thread` to end, at most `timeout` seconds; an
    AssertionError names `what` did not happen when it is still
    running."""
    thread.join(timeout)
    assert not thread.is_alive(), '%s within %s s' % (what, timeout)
