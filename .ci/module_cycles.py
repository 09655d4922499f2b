"""Checks that no crate has a loop between its modules (ARCHITECTURE.md,
"Layering, checked"): the import graph of each crate's top-level modules
(from `crate::x` paths) and of the sibling modules in each folder (from
`super::x` paths), unit tests left out. Prints each crate's result and
exits 1 when any graph has a cycle. Run from the repository root."""
import os, re, sys, itertools
def modules(src):
    mods = {}
    for root, _, files in os.walk(src):
        for f in files:
            if not f.endswith('.rs'): continue
            p = os.path.join(root, f)
            rel = os.path.relpath(p, src)
            parts = rel[:-3].split(os.sep)
            if parts[-1] in ('mod',): parts = parts[:-1]
            if parts in (['lib'], ['main']): top = None
            else: top = parts[0]
            if top is None or top.startswith('tests') : continue
            # skip unit-test files
            if parts[-1] == 'tests': continue
            mods.setdefault(top, []).append(p)
    return mods
def strip_tests(text):
    i = text.find('#[cfg(test)]\nmod tests {')
    return text if i < 0 else text[:i]
def deps(mods, level2=False):
    g = {m: set() for m in mods}
    for m, files in mods.items():
        for p in files:
            t = strip_tests(open(p).read())
            t = re.sub(r'//[^\n]*', '', t)
            for x in re.findall(r'crate::(\w+)', t):
                if x in g and x != m: g[m].add(x)
            for grp in re.findall(r'use crate::\{([^}]*)\}', t, re.S):
                for x in re.findall(r'(\w+)', grp):
                    if x in g and x != m: g[m].add(x)
    return g
def cycles(g):
    # Tarjan SCC
    idx = {}; low = {}; st = []; on = set(); out = []; n = [0]
    def sc(v):
        idx[v] = low[v] = n[0]; n[0] += 1; st.append(v); on.add(v)
        for w in g[v]:
            if w not in idx: sc(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], idx[w])
        if low[v] == idx[v]:
            comp = []
            while True:
                w = st.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(sorted(comp))
    sys.setrecursionlimit(10000)
    for v in g:
        if v not in idx: sc(v)
    return out
def sub_deps(dirpath):
    """Sibling modules inside a folder module (domain/, store/, service/)."""
    files = [f for f in os.listdir(dirpath) if f.endswith('.rs') and f not in ('mod.rs', 'tests.rs')]
    names = {f[:-3] for f in files} | {d for d in os.listdir(dirpath) if os.path.isdir(os.path.join(dirpath, d)) and os.path.exists(os.path.join(dirpath, d + '.rs'))}
    g = {m: set() for m in names}
    for m in names:
        p = os.path.join(dirpath, m + '.rs')
        if not os.path.exists(p): continue
        t = re.sub(r'//[^\n]*', '', strip_tests(open(p).read()))
        for x in re.findall(r'super::(\w+)', t):
            if x in g and x != m: g[m].add(x)
        for grp in re.findall(r'use super::\{([^}]*)\}', t, re.S):
            for x in re.findall(r'(\w+)', grp):
                if x in g and x != m: g[m].add(x)
    return g
bad = 0
for crate in sorted(os.listdir('crates')):
    src = os.path.join('crates', crate, 'src')
    if not os.path.isdir(src): continue
    g = deps(modules(src))
    c = cycles(g)
    print(f'{crate}: {len(g)} modules, cycles: {c or "none"}')
    bad += len(c)
    for root, dirs, _ in os.walk(src):
        for d in dirs:
            dp = os.path.join(root, d)
            sg = sub_deps(dp)
            sc_ = cycles(sg) if sg else []
            if sc_:
                print(f'  {os.path.relpath(dp, src)}/: cycles: {sc_}')
                bad += len(sc_)
sys.exit(1 if bad else 0)
