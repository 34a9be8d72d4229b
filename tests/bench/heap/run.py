#!/usr/bin/env python3
"""Memory profiler benchmarks (issue 8's targets), figures printed:

1. A heap snapshot of a program holding 1,000,000 small tables (in an array, then under
   distinct string keys): the time to write it (the full
   collection before the walk included) and the extra memory while writing: the peak RSS
   (VmHWM, reset through /proc/self/clear_refs just before) minus the RSS before, against the
   Lua heap (collectgarbage('count')). Targets: under 3 s, under 20% of the heap. The time is
   given as wall clock and as the process's CPU time (os.clock), which other load on a shared
   machine disturbs less.
2. HTTP hello-world requests/s, plain and with --heap-prof (default interval), wrk -t1 -c20,
   alternating for several rounds in one run; the ratio of the medians. Target: at least 0.8.
   Also requests per CPU-second of the server process (utime+stime), which other load on a
   shared machine disturbs less than requests/s.

Usage: python3 tests/bench/heap/run.py [path/to/luvit] [--tables N] [--duration S]
       [--rounds R] [--snapshot-only | --http-only]
Build first: cargo build --release -j1 -p luvit (the default binary is target/release/luvit).
Needs wrk for part 2 (apt-get install wrk). Servers bind 127.0.0.1 only.
"""
import json, os, shutil, signal, socket, statistics, subprocess, sys, tempfile, time, re

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
args = [a for a in sys.argv[1:] if not a.startswith('--')]


def opt(name, default):
    for i, a in enumerate(sys.argv):
        if a == name and i + 1 < len(sys.argv):
            return int(sys.argv[i + 1])
    return default


LUVIT = os.path.abspath(args[0]) if args else os.path.join(ROOT, 'target', 'release', 'luvit')
TABLES = opt('--tables', 1_000_000)
DURATION = opt('--duration', 5)
ROUNDS = opt('--rounds', 3)

SNAPSHOT = r'''
local uv = require('uv')
local profiler = require('profiler')
local function status(field)
  local f = assert(io.open('/proc/self/status'))
  local s = f:read('*a')
  f:close()
  return tonumber(s:match(field .. ':%s+(%d+)'))
end
local keep = {}
for i = 1, TABLES do FILL end
collectgarbage() collectgarbage()
local heap_kb = collectgarbage('count')
local f = assert(io.open('/proc/self/clear_refs', 'w'))
f:write('5')
f:close()
local rss_before = status('VmRSS')
local t0, c0 = uv.hrtime(), os.clock()
local path = assert(profiler.heapSnapshot(OUT))
local secs, cpu = (uv.hrtime() - t0) / 1e9, os.clock() - c0
local peak = status('VmHWM')
print(require('json').stringify({
  tables = TABLES, seconds = secs, cpu = cpu, heap_kb = heap_kb, rss_before_kb = rss_before,
  peak_kb = peak,
}))
'''


SHAPES = [
    ('small tables in an array', "keep[i] = { id = i }"),
    ('small tables under distinct string keys', "keep['session-' .. i] = { i }"),
]


def snapshot_bench(tmp, label, fill):
    out = os.path.join(tmp, 'big.heapsnapshot')
    script = os.path.join(tmp, 'big.lua')
    with open(script, 'w') as f:
        f.write(SNAPSHOT.replace('TABLES', str(TABLES)).replace('OUT', json.dumps(out))
                .replace('FILL', fill))
    r = subprocess.run([LUVIT, script], capture_output=True, text=True, check=True)
    fig = json.loads(r.stdout.strip().splitlines()[-1])
    extra = fig['peak_kb'] - fig['rss_before_kb']
    size = os.path.getsize(out) / 1e6
    print(f"snapshot of {fig['tables']:,} {label}: {fig['seconds']:.2f} s wall, "
          f"{fig['cpu']:.2f} s CPU "
          f"(target < 3 s), file {size:.0f} MB")
    print(f"  Lua heap {fig['heap_kb'] / 1024:.1f} MB; RSS before {fig['rss_before_kb'] / 1024:.1f} MB, "
          f"peak while writing {fig['peak_kb'] / 1024:.1f} MB: extra {extra / 1024:.1f} MB = "
          f"{100 * extra / fig['heap_kb']:.1f}% of the heap (target < 20%)")
    # the file is well formed (our reader checks it against its meta)
    r = subprocess.run([LUVIT, 'heapdiff', out, out, '--json'], capture_output=True, text=True)
    print('  heapdiff reads it back:', 'yes' if r.returncode == 0 else r.stderr.strip())
    os.remove(out)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def start(extra, tmp):
    port = free_port()
    env = dict(os.environ, PORT=str(port), HOST='127.0.0.1')
    p = subprocess.Popen([LUVIT] + extra + [os.path.join(ROOT, 'examples', 'http-hello.lua')],
                         env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)
    end = time.time() + 10
    while time.time() < end:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.2):
                return p, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError('server did not start')


def cpu_seconds(pid):
    with open(f'/proc/{pid}/stat') as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def wrk(port, pid):
    cpu0 = cpu_seconds(pid)
    out = subprocess.run(['wrk', '-t1', '-c20', f'-d{DURATION}s', f'http://127.0.0.1:{port}/'],
                         capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pid) - cpu0
    m = re.search(r'Requests/sec:\s+([\d.]+)', out)
    n = re.search(r'(\d+) requests in', out)
    rps = float(m.group(1)) if m else 0.0
    per_cpu = int(n.group(1)) / cpu if n and cpu > 0 else 0.0
    return rps, per_cpu


def http_bench(tmp):
    if not shutil.which('wrk'):
        print('wrk not found: apt-get install wrk')
        return
    modes = [('plain', []), ('--heap-prof', ['--heap-prof', f'--heap-prof-dir={tmp}'])]
    servers = [(name, *start(extra, tmp)) for name, extra in modes]
    results = {name: [] for name, _ in modes}
    per_cpu = {name: [] for name, _ in modes}
    try:
        for _ in range(ROUNDS):
            for name, p, port in servers:
                rps, pc = wrk(port, p.pid)
                results[name].append(rps)
                per_cpu[name].append(pc)
    finally:
        for _, p, _ in servers:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=10)
    med = {k: statistics.median(v) for k, v in results.items()}
    for k, v in results.items():
        print(f"  {k:12} {med[k]:10.0f} req/s  (rounds: {', '.join(f'{x:.0f}' for x in v)})")
    print(f"HTTP hello-world with --heap-prof: {med['--heap-prof'] / med['plain']:.3f}x of plain "
          f"(target >= 0.8)")
    # requests per CPU-second of the server: less sensitive to other load on the machine
    eff = {k: statistics.median(v) for k, v in per_cpu.items()}
    print(f"  requests per server CPU-second: plain {eff['plain']:.0f}, --heap-prof "
          f"{eff['--heap-prof']:.0f}: {eff['--heap-prof'] / eff['plain']:.3f}x")
    written = [f for f in os.listdir(tmp) if f.endswith('.heapprofile')]
    print('  .heapprofile written at SIGTERM:', written[0] if written else 'none')


def main():
    print('luvit:', LUVIT)
    with tempfile.TemporaryDirectory() as tmp:
        if '--http-only' not in sys.argv:
            for label, fill in SHAPES:
                snapshot_bench(tmp, label, fill)
        if '--snapshot-only' not in sys.argv:
            http_bench(tmp)


main()
