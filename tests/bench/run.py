#!/usr/bin/env python3
"""Runtime benchmarks: luvit-rs against node, side by side in one run, with ratios.

Usage: python3 tests/bench/run.py [path/to/luvit]   (default: target/release/luvit)
Each figure is the median of several runs, luvit and node alternating (A B A B).
Idle RSS is mostly file-backed pages of the binary: `resident.py` shows which (per mapping,
section and crate), and `order/gen.py` regenerates the list of start-up functions the release
link packs together (runtime/startup-order.txt).
"""
import os, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
LUVIT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, '..', '..', 'target', 'release', 'luvit')
NODE = 'node'


def wall(cmd, runs=15):
    """Median wall time of a whole process, in ms, runs interleaved by the caller."""
    t0 = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - t0) * 1000


def paired(a, b, runs):
    xs, ys = [], []
    for _ in range(runs):
        xs.append(a())
        ys.append(b())
    return statistics.median(xs), statistics.median(ys)


def output(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()


def rss_kb(cmd, settle=0.5):
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(settle)
    kb = 0
    with open(f'/proc/{p.pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                kb = int(line.split()[1])
    p.kill()
    p.wait()
    return kb


def row(name, ours, theirs, unit, goal):
    ratio = ours / theirs if theirs else float('inf')
    print(f'{name:<34} {ours:>10.1f} {theirs:>10.1f} {unit:<5} ratio {ratio:6.3f}   goal: {goal}')


def main():
    print(f'{"benchmark":<34} {"luvit-rs":>10} {"node":>10}')
    s_l, s_n = paired(lambda: wall([LUVIT, '-e', '']), lambda: wall([NODE, '-e', '']), 21)
    row("startup: -e ''", s_l, s_n, 'ms', '<= 0.1')

    r_l = statistics.median(rss_kb([LUVIT, os.path.join(HERE, 'idle.lua')]) for _ in range(3))
    r_n = statistics.median(rss_kb([NODE, os.path.join(HERE, 'idle.js')]) for _ in range(3))
    row('idle RSS, one timer', r_l / 1024, r_n / 1024, 'MB', 'luvit <= 5 MB')

    i_l, i_n = paired(lambda: float(output([LUVIT, os.path.join(HERE, 'immediate.lua')])[0]),
                      lambda: float(output([NODE, os.path.join(HERE, 'immediate.js')])[0]), 3)
    row('1M chained setImmediate', i_l, i_n, 'ms', '< 1')

    # node clamps setTimeout(0) to 1 ms: time 2,000 there and scale to 1M per callback.
    t_l = float(output([LUVIT, os.path.join(HERE, 'timeout0.lua'), '1000000'])[0])
    t_n = float(output([NODE, os.path.join(HERE, 'timeout0.js'), '2000'])[0]) * 500
    row('1M chained setTimeout(0)', t_l, t_n, 'ms', '< 1 (node scaled from 2k)')

    j_l = [float(x) for x in output([LUVIT, os.path.join(HERE, 'json.lua')])]
    j_n = [float(x) for x in output([NODE, os.path.join(HERE, 'json.js')])]
    row(f'json.parse {j_l[2] / 1e6:.1f} MB', j_l[0], j_n[0], 'ms', '<= 1')
    row(f'json.stringify {j_l[2] / 1e6:.1f} MB', j_l[1], j_n[1], 'ms', '<= 1')


if __name__ == '__main__':
    main()
