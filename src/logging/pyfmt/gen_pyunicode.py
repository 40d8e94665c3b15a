#!/usr/bin/env python3
"""Print the tables of pyunicode.rs (from its first line `#[rustfmt::skip]` to
the test module at its end) from this CPython's own Unicode data.

usage: python3 src/logging/pyfmt/gen_pyunicode.py > tables.txt

The committed tables come from CPython 3.11 (Unicode 14.0.0). A different
CPython may have another Unicode version and print other tables: check
`unicodedata.unidata_version` first (the test that compares them does).

Code points below U+0080 are left out: the Rust callers handle ASCII inline.
"""

import sys
import unicodedata

UNICODE_VERSION = "14.0.0"
FIRST = 0x80
END = 0x110000


def ranges(pred):
    """Maximal runs [lo, hi] of code points >= FIRST where pred holds."""
    out, lo = [], None
    for cp in range(FIRST, END):
        if pred(chr(cp)):
            if lo is None:
                lo = cp
        elif lo is not None:
            out.append((lo, cp - 1))
            lo = None
    if lo is not None:
        out.append((lo, END - 1))
    return out


def decimal_runs():
    """Runs of decimal digits whose values go up by one modulo 10, with the
    first one's value: `(v0 + cp - lo) % 10` is then each one's value."""
    out = []
    for cp in range(FIRST, END):
        c = chr(cp)
        if not c.isdecimal():
            continue
        v = unicodedata.decimal(c)
        if out and out[-1][1] == cp - 1 and (out[-1][3] + 1) % 10 == v:
            lo, _, v0, _ = out[-1]
            out[-1] = (lo, cp, v0, v)
        else:
            out.append((cp, cp, v, v))
    return [(lo, hi, v0) for lo, hi, v0, _ in out]


def table(doc, name, typ, rows, per_line):
    lines = ["#[rustfmt::skip]", f"/// {doc}", f"pub(crate) static {name}: [{typ}; {len(rows)}] = ["]
    for i in range(0, len(rows), per_line):
        lines.append("    " + " ".join(rows[i : i + per_line]))
    lines.append("];")
    return "\n".join(lines) + "\n"


def main():
    if unicodedata.unidata_version != UNICODE_VERSION:
        sys.stderr.write(
            f"warning: this CPython has Unicode {unicodedata.unidata_version}, "
            f"the committed tables are Unicode {UNICODE_VERSION}\n"
        )
    pair = lambda r: f"(0x{r[0]:X}, 0x{r[1]:X}),"
    triple = lambda r: f"(0x{r[0]:X}, 0x{r[1]:X}, {r[2]}),"
    parts = [
        table(
            "Ranges of non-printable code points (`not str.isprintable()`).",
            "NON_PRINTABLE",
            "(u32, u32)",
            [pair(r) for r in ranges(lambda c: not c.isprintable())],
            6,
        ),
        table(
            "Ranges of `str.isalnum()` code points.",
            "ALNUM",
            "(u32, u32)",
            [pair(r) for r in ranges(str.isalnum)],
            6,
        ),
        table(
            "Ranges of decimal digits, with the value of the first one.",
            "DECIMAL",
            "(u32, u32, u8)",
            [triple(r) for r in decimal_runs()],
            4,
        ),
    ]
    sys.stdout.write("\n".join(parts))


if __name__ == "__main__":
    main()
