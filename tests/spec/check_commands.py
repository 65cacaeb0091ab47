#!/usr/bin/python3
"""Compare protocol/tp_commands.def with the command table of
spec/protocols.md (§1.4), number by number, name by name, direction by
direction.  Prints TAP.  Skips (exit 0, one 'skip' line) when the spec is
not beside the repository."""
import os
import re
import sys

from spec_table import print_tap, read_table

def main():
    def_path, spec_path = sys.argv[1], sys.argv[2]
    ours = {}
    for line in open(def_path, encoding='utf-8'):
        m = re.match(r'TP_COMMAND\(\s*(\d+),\s*([A-Z0-9_]+),\s*(QR|Q|R),', line)
        if m:
            num = int(m.group(1))
            if num in ours:
                print('1..1\nnot ok 1 - duplicate number %d in %s' % (num, def_path))
                return 1
            ours[num] = (m.group(2), m.group(3))
    if not os.path.exists(spec_path):
        print('1..0 # SKIP %s not found' % spec_path)
        return 0
    spec = read_table(spec_path, '### 1.4 ',
                      r'^\| (\d+) \| `([A-Z0-9_]+)` \| (QR|Q|R) \|')
    checks = [
        ('spec lists 285 commands', len(spec) == 285),
        ('we list 285 commands', len(ours) == 285),
        ('numbers run 1..286 without 25',
         sorted(ours) == [n for n in range(1, 287) if n != 25]),
    ]
    for num in sorted(set(spec) | set(ours)):
        checks.append(('command %d is %s' % (num, spec.get(num, ('absent',))[0]),
                       spec.get(num) == ours.get(num)))
    return print_tap(checks)

if __name__ == '__main__':
    sys.exit(main())
