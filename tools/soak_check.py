#!/usr/bin/env python3
"""The soak's verifier: counts every flood line the collector wrote, once.

Runs beside the soak (tools/soak.sh). Each rotated output file the soak hands
it (a name in OUT_DIR matching out.log.*) is read, counted and deleted, so the
disk holds about a minute of output however long the soak runs. When the soak
writes OUT_DIR/.done, the live file is read too and the report printed as one
JSON object:

  lines       lines expected (from the manifest the soak writes)
  seen        distinct lines found
  lost        expected lines never found
  duplicated  extra copies (a killed writer replays at most one batch)
  bad         lines that are not a whole flood line of a known run

The manifest (one 'RUNID CONNECTIONS LINES' per flood process) tells what
was sent. A line is `<14>flood RUNID c=CCCC n=NNNNNNNNN filler`: the
collector writes it with `%(message)s`, so the file holds exactly it. With a
fourth argument `forwarded`, OUT_DIR is the forwarding target's: each line
came through the collector's SysLogHandler, which put its own priority
(`<14>`) in front, and that is taken off first.

  soak_check.py OUT_DIR MANIFEST LINE_SIZE [forwarded]
"""

import json
import os
import sys
import time


class Counts:
    """One byte per sent line: how often it was seen (saturates at 255)."""

    def __init__(self, prefix=b""):
        self.prefix = prefix
        self.per_conn = {}  # (run, conn) -> bytearray
        self.bad = 0
        self.bad_examples = []

    def note_bad(self, line):
        self.bad += 1
        if len(self.bad_examples) < 3:
            self.bad_examples.append(line[:120].decode("latin-1"))

    def add_file(self, path, size):
        with open(path, "rb") as f:
            data = f.read()
        for line in data.split(b"\n"):
            if line:
                self.add_line(line, size)

    def add_line(self, line, size):
        if self.prefix:
            if not line.startswith(self.prefix):
                self.note_bad(line)
                return
            line = line[len(self.prefix):]
        parts = line.split(b" ", 4)
        if (
            len(parts) != 5
            or parts[0] != b"<14>flood"
            or not parts[2].startswith(b"c=")
            or not parts[3].startswith(b"n=")
            or len(line) != size - 1
        ):
            self.note_bad(line)
            return
        try:
            conn = int(parts[2][2:])
            n = int(parts[3][2:])
        except ValueError:
            self.note_bad(line)
            return
        key = (parts[1], conn)
        seen = self.per_conn.get(key)
        if seen is None:
            seen = self.per_conn[key] = bytearray()
        if n >= len(seen):
            seen.extend(bytes(n + 1 - len(seen)))
        if seen[n] < 255:
            seen[n] += 1

    def report(self, manifest):
        expected = 0
        seen = lost = duplicated = 0
        known = set()
        for run, conns, lines in manifest:
            for c in range(conns):
                known.add((run, c))
                counts = self.per_conn.get((run, c), bytearray())
                expected += lines
                present = sum(1 for x in counts[:lines] if x)
                seen += present
                lost += lines - present
                duplicated += sum(x - 1 for x in counts[:lines] if x > 1)
                if len(counts) > lines:
                    self.bad += sum(counts[lines:])
        stray = sum(sum(v) for k, v in self.per_conn.items() if k not in known)
        return {
            "lines": expected,
            "seen": seen,
            "lost": lost,
            "duplicated": duplicated,
            "bad": self.bad + stray,
            "bad_examples": self.bad_examples,
        }


def read_manifest(path):
    out = []
    with open(path, "rb") as f:
        for row in f:
            run, conns, lines = row.split()
            out.append((run, int(conns), int(lines)))
    return out


def rotated(out_dir):
    names = [n for n in os.listdir(out_dir) if n.startswith("out.log.")]
    # out.log.N: oldest first, as the soak numbers them.
    return sorted(names, key=lambda n: int(n.rsplit(".", 1)[1]))


def main():
    out_dir, manifest, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    forwarded = sys.argv[4:5] == ["forwarded"]
    counts = Counts(b"<14>" if forwarded else b"")
    done = os.path.join(out_dir, ".done")
    while True:
        finished = os.path.exists(done)
        for name in rotated(out_dir):
            path = os.path.join(out_dir, name)
            counts.add_file(path, size)
            os.unlink(path)
        if finished:
            break
        time.sleep(1)
    live = os.path.join(out_dir, "out.log")
    if os.path.exists(live):
        counts.add_file(live, size)
    print(json.dumps(counts.report(read_manifest(manifest))))


if __name__ == "__main__":
    main()
