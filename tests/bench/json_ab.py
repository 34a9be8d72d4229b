#!/usr/bin/env python3
"""json.parse/json.stringify of json.lua's ~6 MB document: luvit builds side by side with node.

Usage: python3 tests/bench/json_ab.py [--runs N] [--cpu] LUVIT [LUVIT...]
Runs each binary's json.lua and node's json.js in turn, N rounds (default 9), and prints the
median of each figure (each run's figure is its best of 5 in-process repetitions) with its
ratio to node's. --cpu times the luvit builds with process CPU time (json.lua cpu): steadier
on a busy machine for comparing builds; node is then left out (its CPU time includes its GC
threads). `LUVIT_LUA_ALLOC=luajit` in the environment runs a build on LuaJIT's allocator.
"""
import os, statistics, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))


def figures(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


def main():
    args = sys.argv[1:]
    runs, cpu, bins = 9, False, []
    while args:
        a = args.pop(0)
        if a == '--runs':
            runs = int(args.pop(0))
        elif a == '--cpu':
            cpu = True
        else:
            bins.append(a)
    if not bins:
        sys.exit(__doc__)
    res = {b: [] for b in bins}
    node = []
    for _ in range(runs):
        for b in bins:
            res[b].append(figures([b, os.path.join(HERE, 'json.lua')] + (['cpu'] if cpu else [])))
            if not cpu:
                node.append(figures(['node', os.path.join(HERE, 'json.js')]))
    med = statistics.median
    clock = 'CPU' if cpu else 'wall'
    print(f'{clock} ms, median of {runs} runs (each the best of 5 in-process)')
    np_ = ns = None
    if node:
        np_, ns = med(x[0] for x in node), med(x[1] for x in node)
        print(f'{"node":<40} parse {np_:7.1f}          stringify {ns:7.1f}')
    for b in bins:
        p, s = med(x[0] for x in res[b]), med(x[1] for x in res[b])
        rp = f'({p / np_:.3f}x)' if np_ else ''
        rs = f'({s / ns:.3f}x)' if ns else ''
        print(f'{b:<40} parse {p:7.1f} {rp:<9} stringify {s:7.1f} {rs}')


if __name__ == '__main__':
    main()
