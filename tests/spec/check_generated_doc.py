#!/usr/bin/env python3
"""TAP test: the generated block of a document equals a generator's output.

usage: check_generated_doc.py DOC GENERATOR [ARG...]
The block lies between the lines `<!-- BEGIN GENERATED: ... -->` and
`<!-- END GENERATED -->`.  On a mismatch, prints the first differing line
and how to regenerate (`make docs`).
"""
import subprocess
import sys


def main():
    doc, generator = sys.argv[1], sys.argv[2:]
    print("1..1")
    want = subprocess.run(generator, check=True, capture_output=True,
                          text=True).stdout.splitlines()
    lines = open(doc, encoding="utf-8").read().splitlines()
    try:
        begin = next(i for i, l in enumerate(lines)
                     if l.startswith("<!-- BEGIN GENERATED"))
        end = next(i for i, l in enumerate(lines)
                   if l.startswith("<!-- END GENERATED"))
    except StopIteration:
        print(f"not ok 1 - {doc}: no GENERATED block")
        return 1
    have = lines[begin + 1:end]
    if have == want:
        print(f"ok 1 - {doc} is current")
        return 0
    for i, (h, w) in enumerate(zip(have + [""] * len(want),
                                   want + [""] * len(have))):
        if h != w:
            print(f"not ok 1 - {doc} is stale at block line {i + 1}: "
                  f"has {h!r}, generator says {w!r} (run `make docs`)")
            return 1
    return 1


if __name__ == "__main__":
    sys.exit(main())
