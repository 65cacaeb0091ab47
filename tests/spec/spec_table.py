"""Shared by the spec checks (check_commands.py, check_was_commands.py):
one command table of spec/protocols.md read into a dict, and the checks
printed as TAP."""
import re


def read_table(spec_path, heading, row):
    """{number: (name, direction)} from the rows matching the regular
    expression `row` (groups: number, name, direction) in the section
    whose heading line starts with `heading`, up to the next ### one."""
    table = {}
    in_table = False
    for line in open(spec_path, encoding='utf-8'):
        if line.startswith(heading):
            in_table = True
        elif line.startswith('### ') and in_table:
            break
        if not in_table:
            continue
        m = re.match(row, line)
        if m:
            table[int(m.group(1))] = (m.group(2), m.group(3))
    return table


def print_tap(checks):
    """Print the (description, passed) pairs as TAP; the exit status."""
    print('1..%d' % len(checks))
    failed = 0
    for i, (what, ok) in enumerate(checks, 1):
        print('%s %d - %s' % ('ok' if ok else 'not ok', i, what))
        failed += not ok
    return 1 if failed else 0
