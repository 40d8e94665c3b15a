#!/usr/bin/env python3
"""Report import cycles between the modules of a Rust crate.

A module is a file; `mod.rs` (and `lib.rs`/`main.rs`) stands for its
directory's module. An edge A -> B means A's code names B through a path:
`use crate::...`, `super::...`, `self::...`, a child module declared in A
(`mod b;` then `use b::x` or `b::f()`), or a `crate::`/`super::` path inline.
A path is followed as deep as a module file exists, so `crate::logging::X`
(X re-exported by `logging/mod.rs`) is an edge to `logging/mod.rs`, while
`crate::logging::level::X` is an edge to `logging/level.rs`. Declaring a
child (`mod b;`) is not an import: a parent owns its children. Unit tests
are left out, inline (`#[cfg(test)] mod tests { ... }`) or in files named
`*tests.rs`: they import their parent (`use super::*`) by design. Comments
and string literals are ignored.

Usage: scripts/import_cycles.py [--folders] [SRC_DIR [PREFIX]]
  SRC_DIR defaults to src/; only cycles whose modules all start with PREFIX
  (a module path such as `logging`) are printed when PREFIX is given.
  --folders: the crate's top-level modules (a folder and everything in it,
  or a file beside them) are the nodes: a cycle between folders, which the
  per-file check cannot see, is reported.
Exit status: 1 when a cycle was printed, else 0.
"""

import os
import re
import sys

COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
STRING = re.compile(r'"(?:\\.|[^"\\])*"')
TEST_MOD = re.compile(r"#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*\{", re.S)
USE = re.compile(r"\buse\s+([^;]+);", re.S)
MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", re.M)
INLINE = re.compile(r"(?<![\w:])((?:crate|super|self)(?:::\w+)+)")


def module_of(rel):
    """`logging/config/mod.rs` -> ('logging', 'config'); `lib.rs` -> ()."""
    parts = rel[:-3].split("/")
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def strip_inline_tests(text):
    """Drop `#[cfg(test)] mod tests { ... }` bodies (brace-matched)."""
    out = []
    pos = 0
    for m in TEST_MOD.finditer(text):
        if m.start() < pos:
            continue
        out.append(text[pos : m.start()])
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        pos = i
    out.append(text[pos:])
    return "".join(out)


def expand_use(tree):
    """`a::{b, c::{d}}` -> ['a::b', 'a::c::d'] (enough for module resolution)."""
    tree = re.sub(r"\s+", "", tree)
    m = re.match(r"^(.*?)\{(.*)\}$", tree)
    if not m:
        return [re.sub(r"as\w+$", "", tree)]
    prefix, body = m.group(1), m.group(2)
    items, depth, cur = [], 0, ""
    for ch in body:
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    items.append(cur)
    paths = []
    for item in items:
        if item:
            paths.extend(expand_use(prefix + item))
    return paths


def resolve(path, here, children, modules):
    """The deepest existing module a path names, or None outside the crate."""
    segs = path.split("::")
    if segs[0] == "crate":
        base, segs = (), segs[1:]
    elif segs[0] == "super":
        base = here
        while segs and segs[0] == "super":
            base, segs = base[:-1], segs[1:]
    elif segs[0] == "self":
        base, segs = here, segs[1:]
    elif segs[0] in children:
        base = here
    else:
        return None
    cur = base
    for s in segs:
        if cur + (s,) in modules:
            cur = cur + (s,)
        else:
            break
    return cur


def graph(src):
    files = {}
    for root, _dirs, names in os.walk(src):
        for n in names:
            if n.endswith(".rs"):
                rel = os.path.relpath(os.path.join(root, n), src)
                if n.endswith("tests.rs"):
                    continue
                files[module_of(rel)] = rel
    modules = set(files)
    edges = {m: set() for m in modules}
    for mod, rel in files.items():
        with open(os.path.join(src, rel), encoding="utf-8") as f:
            text = f.read()
        text = strip_inline_tests(STRING.sub('""', COMMENT.sub("", text)))
        children = set(MOD_DECL.findall(text))
        paths = []
        for u in USE.findall(text):
            paths.extend(expand_use(u))
        body = USE.sub("", text)
        paths.extend(INLINE.findall(body))
        for child in children:
            paths.extend(m.group(0) for m in re.finditer(rf"(?<![\w:]){child}(?:::\w+)+", body))
        for p in paths:
            target = resolve(p, mod, children, modules)
            if target is not None and target != mod:
                edges[mod].add(target)
    return edges


def cycles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(out)


def name(m):
    return "::".join(("crate",) + m)


def folders(edges):
    """The graph between top-level modules (`logging`, `cli`, ...)."""
    out = {}
    for m, targets in edges.items():
        a = m[:1]
        out.setdefault(a, set())
        for t in targets:
            b = t[:1]
            out.setdefault(b, set())
            if a != b:
                out[a].add(b)
    return out


def main():
    args = sys.argv[1:]
    by_folder = "--folders" in args
    args = [a for a in args if a != "--folders"]
    src = args[0] if args else "src"
    prefix = tuple(args[1].split("::")) if len(args) > 1 else ()
    edges = graph(src)
    if by_folder:
        edges = folders(edges)
    found = [c for c in cycles(edges) if all(m[: len(prefix)] == prefix for m in c)]
    for comp in found:
        members = set(comp)
        print(f"cycle of {len(comp)} modules:")
        for m in comp:
            inside = sorted(name(t) for t in edges[m] if t in members)
            print(f"  {name(m)} -> {', '.join(inside)}")
    if not found:
        print("no import cycles" + (f" under {name(prefix)}" if prefix else ""))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
