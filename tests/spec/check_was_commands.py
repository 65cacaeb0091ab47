#!/usr/bin/python3
"""Compare the WAS_COMMANDS list of protocol/was_protocol.h with the
command table of spec/protocols.md (§3.3), number by number, name by
name, direction by direction.  Prints TAP.  Skips (exit 0, one 'skip'
line) when the spec is not beside the repository."""
import os
import re
import sys

from spec_table import print_tap, read_table

DIRECTIONS = {'BOTH': 'both', 'C2A': 'C→A', 'A2C': 'A→C'}


def main():
    header_path, spec_path = sys.argv[1], sys.argv[2]
    ours = {}
    in_list = False
    for line in open(header_path, encoding='utf-8'):
        if line.startswith('#define WAS_COMMANDS(X)'):
            in_list = True
            continue
        if not in_list:
            continue
        m = re.match(r'\s*X\(\s*(\d+),\s*([A-Z0-9_]+),\s*(BOTH|C2A|A2C),', line)
        if m:
            num = int(m.group(1))
            if num in ours:
                print('1..1\nnot ok 1 - duplicate number %d in %s'
                      % (num, header_path))
                return 1
            ours[num] = (m.group(2), DIRECTIONS[m.group(3)])
        if not line.rstrip().endswith('\\'):
            break
    if not os.path.exists(spec_path):
        print('1..0 # SKIP %s not found' % spec_path)
        return 0
    spec = read_table(spec_path, '### 3.3 ',
                      r'^\| (\d+) \| `([A-Z0-9_]+)` \| (both|C→A|A→C) \|')
    checks = [
        ('spec lists 19 commands', len(spec) == 19),
        ('we list 19 commands', len(ours) == 19),
        ('numbers run 0..18', sorted(ours) == list(range(19))),
    ]
    for num in sorted(set(spec) | set(ours)):
        want = spec.get(num, ('absent', ''))
        checks.append(('command %d is %s (%s)' % (num, want[0], want[1]),
                       spec.get(num) == ours.get(num)))
    return print_tap(checks)


if __name__ == '__main__':
    sys.exit(main())
