#!/usr/bin/env python3
"""Fails when the modules of a crate import each other in a circle.

    scripts/check-import-cycles.py CRATE_DIR [CRATE_DIR ...]

Each crate's files are read as a module tree (`src/lib.rs`, `a.rs` or
`a/mod.rs`, `a/b.rs`, ...). Every path that starts with `crate::`, `super::` or
`self::`, in a `use` (with nested braces expanded) or inline in code, is resolved
to the module it names. A reference from inside module `a` to inside a sibling
module `b` is an edge a -> b at their parent's level; a parent using its own
children, or a child its parent, is how Rust nests modules and counts for
nothing. Each level's edges must form no cycle: then the files of one folder can
be read bottom-up, and a newcomer never meets two files that each need the
other first.

Why a script instead of `cargo modules`: that tool builds rust-analyzer (many
minutes on two cores, for every CI run without a cache) to answer a question
these few regular expressions answer on this code base. It reads text, not the
compiler's resolution: a glob import or a macro that names a path it cannot see
is not followed, so it can miss a circle but never invents one.
"""

import os
import re
import sys

USE_RE = re.compile(r"\buse\s+([^;]*);", re.S)
PATH_RE = re.compile(r"\b(crate|super|self)((?:\s*::\s*\w+)+)")


def strip(text):
    """Removes comments, string and char literals, keeping line structure."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and (i == 0 or not text[i - 1].isalnum()):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            i = n if j < 0 else j + len(end)
            out.append('""')
        elif c == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            out.append('""')
        elif c == "'" and re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'", text[i:i + 12]):
            m = re.match(r"'(\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'", text[i:])
            i += len(m.group(0))
            out.append("' '")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def expand_use(tree):
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e] (as lists of names)."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)
    tree = re.sub(r"\s+", "", tree)
    results = []

    def walk(prefix, s):
        # s is a comma-separated list at one brace level
        depth, start = 0, 0
        parts = []
        for k, ch in enumerate(s):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                parts.append(s[start:k])
                start = k + 1
        parts.append(s[start:])
        for p in parts:
            if not p:
                continue
            b = p.find("{")
            if b >= 0:
                head = [x for x in p[:b].split("::") if x]
                walk(prefix + head, p[b + 1:p.rfind("}")])
            else:
                results.append(prefix + [x for x in p.split("::") if x])

    walk([], tree)
    return results


def modules(src):
    """Maps module paths (tuples) to files, following `mod x;` from lib.rs/main.rs."""
    found = {}

    def visit(path, file, dirname, is_mod_rs):
        found[path] = file
        text = strip(open(file, encoding="utf-8").read())
        for m in re.finditer(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", text, re.M):
            name = m.group(1)
            sub_dir = dirname if is_mod_rs else os.path.join(dirname, os.path.basename(file)[:-3])
            for cand, mod_rs in ((os.path.join(sub_dir, name + ".rs"), False),
                                 (os.path.join(sub_dir, name, "mod.rs"), True)):
                if os.path.exists(cand):
                    visit(path + (name,), cand, os.path.dirname(cand) if mod_rs else sub_dir, mod_rs)
                    break

    for root in ("lib.rs", "main.rs"):
        f = os.path.join(src, root)
        if os.path.exists(f):
            visit((), f, src, True)
    return found


def references(path, text, mods):
    """Module paths that the file of module `path` refers to."""
    raw = []
    for m in USE_RE.finditer(text):
        raw.extend(expand_use(m.group(1)))
    for m in PATH_RE.finditer(text):
        raw.append([m.group(1)] + [x.strip() for x in m.group(2).split("::") if x.strip()])
    out = set()
    for names in raw:
        base = None
        if names and names[0] == "crate":
            base, rest = (), names[1:]
        elif names and names[0] in ("super", "self"):
            base = path
            rest = names
            while rest and rest[0] in ("super", "self"):
                if rest[0] == "super":
                    base = base[:-1]
                rest = rest[1:]
        elif names and path + (names[0],) in mods:
            base, rest = path, names
        if base is None:
            continue
        target = base
        for name in rest:
            if target + (name,) in mods:
                target = target + (name,)
            else:
                break
        out.add(target)
    return out


def find_cycle(nodes, edges):
    state = {}
    stack = []

    def dfs(u):
        state[u] = 1
        stack.append(u)
        for v in sorted(edges.get(u, ())):
            if state.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if v not in state:
                c = dfs(v)
                if c:
                    return c
        stack.pop()
        state[u] = 2
        return None

    for u in sorted(nodes):
        if u not in state:
            c = dfs(u)
            if c:
                return c
    return None


def check(crate):
    src = os.path.join(crate, "src")
    mods = modules(src)
    levels = {}
    why = {}
    for path, file in mods.items():
        text = strip(open(file, encoding="utf-8").read())
        for target in references(path, text, mods):
            k = 0
            while k < min(len(path), len(target)) and path[k] == target[k]:
                k += 1
            if k == len(path) or k == len(target):
                continue  # a module and its own ancestor or descendant
            parent = path[:k]
            levels.setdefault(parent, {}).setdefault(path[k], set()).add(target[k])
            why.setdefault((parent, path[k], target[k]), (file, "::".join(target)))
    failed = False
    for parent, edges in sorted(levels.items()):
        nodes = set(edges) | {t for ts in edges.values() for t in ts}
        cycle = find_cycle(nodes, edges)
        if cycle:
            where = "::".join(parent) or "crate root"
            print(f"{crate}: import circle among the modules of {where}: {' -> '.join(cycle)}")
            for a, b in zip(cycle, cycle[1:]):
                file, target = why[(parent, a, b)]
                print(f"    {a} -> {b}: {os.path.relpath(file, crate)} uses crate::{target}")
            failed = True
    if not failed:
        print(f"{crate}: {len(mods)} modules, no import circle")
    return not failed


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    ok = all([check(c) for c in sys.argv[1:]])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
