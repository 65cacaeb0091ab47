#!/usr/bin/env python3
"""Replace the generated block of a document with a generator's output.

usage: update_generated_doc.py DOC GENERATOR [ARG...]
The block lies between `<!-- BEGIN GENERATED: ... -->` and
`<!-- END GENERATED -->` (see check_generated_doc.py).
"""
import subprocess
import sys


def main():
    doc, generator = sys.argv[1], sys.argv[2:]
    out = subprocess.run(generator, check=True, capture_output=True,
                         text=True).stdout
    lines = open(doc, encoding="utf-8").read().splitlines(keepends=True)
    begin = next(i for i, l in enumerate(lines)
                 if l.startswith("<!-- BEGIN GENERATED"))
    end = next(i for i, l in enumerate(lines)
               if l.startswith("<!-- END GENERATED"))
    with open(doc, "w", encoding="utf-8") as f:
        f.writelines(lines[:begin + 1])
        f.write(out)
        f.writelines(lines[end:])
    print(f"{doc}: generated block refreshed")


if __name__ == "__main__":
    sys.exit(main())
