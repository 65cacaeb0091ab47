"""What the seed-corpus scripts (make_corpus_*.py) share.

Promises: tp_commands() is the translation protocol's command numbers by
name, read from protocol/tp_commands.def; tp_packet() is one translation
packet in host (here little-endian) order; write_corpus() writes every
{file name: bytes} into a folder it creates and returns how many it
wrote.  Standard library only.
"""
import os
import re
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
TP_COMMANDS_DEF = os.path.join(HERE, "..", "..", "protocol",
                               "tp_commands.def")


def tp_commands():
    with open(TP_COMMANDS_DEF) as f:
        return {m.group(2): int(m.group(1)) for m in re.finditer(
            r"^TP_COMMAND\(\s*(\d+),\s*(\w+),", f.read(), re.M)}


def tp_packet(commands, name, payload=b""):
    if isinstance(payload, str):
        payload = payload.encode()
    return struct.pack("<HH", len(payload), commands[name]) + payload


def write_corpus(out, files):
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(files.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    return len(files)
