#!/usr/bin/env python3
"""What each profiler costs a request, in CPU instructions: the hello server runs under
valgrind's callgrind (which counts every instruction the process executes, whatever else the
machine is doing), serves N keep-alive requests from one client, then M more; the difference
over M - N is the instructions per request, plain and under each profiler, and their ratio.
Only --loop-prof and --heap-prof are measured this way (see main). A machine busy with other
work moves requests/s (tests/bench/profile/run.py) by more than the
effects measured; it does not move these counts. Instructions are not time (cache misses and
syscalls cost more than their count), so run.py stays the figure of record when the machine
is quiet.

Usage: python3 tests/bench/profile/instructions.py [path/to/luvit] [--requests N] [--top K]
                                                  [--rounds R]
Needs valgrind (installed with apt-get when missing). The server binds 127.0.0.1.
--top K prints the K functions whose counts changed most between plain and --loop-prof, code
that LuaJIT compiled counted as one `[JIT code]` (its traces land at other addresses each run).
--rounds R (default 1) measures each configuration R times, interleaved, and reports the median:
which traces LuaJIT forms varies from run to run and moves a count by a percent or two.
"""
import os, re, shutil, signal, socket, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
VALUED = ('--requests', '--top', '--rounds')
ARGS = [a for i, a in enumerate(sys.argv[1:], 1)
        if not a.startswith('--') and sys.argv[i - 1] not in VALUED]
LUVIT = os.path.abspath(ARGS[0]) if ARGS else os.path.join(ROOT, 'target', 'release', 'luvit')
SERVER = os.path.join(ROOT, 'examples', 'debug', 'bench-server.lua')


def opt(name, default):
    if name in sys.argv:
        return int(sys.argv[sys.argv.index(name) + 1])
    return default


REQUESTS = opt('--requests', 2000)
TOP = opt('--top', 0)
ROUNDS = max(1, opt('--rounds', 1))
REQUEST = b'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def ask(port, n):
    """n requests on one keep-alive connection, each answer read before the next."""
    with socket.create_connection(('127.0.0.1', port), 30) as s:
        for _ in range(n):
            s.sendall(REQUEST)
            got = b''
            while b'Hello world\n' not in got:
                chunk = s.recv(4096)
                if not chunk:
                    raise RuntimeError('the server closed the connection')
                got += chunk


# a function callgrind knows only by its address: machine code LuaJIT generated
JIT = re.compile(r"0x[0-9a-f]+('\d+)?$")


def dump_total(path):
    """The total Ir of a callgrind dump, and the self Ir of each function."""
    total, by_fn, fn, names = 0, {}, None, {}

    def name(ref):
        # compressed names: "(12) name" defines id 12, "(12)" uses it
        m = re.match(r'\((\d+)\)(?: (.*))?$', ref)
        if not m:
            return ref
        if m.group(2):
            names[m.group(1)] = m.group(2)
        return names.get(m.group(1), ref)

    skip = False
    with open(path) as f:
        for line in f:
            line = line.rstrip('\n')
            if line.startswith(('summary:', 'totals:')):
                total = int(line.split()[1])
            elif line.startswith('fn='):
                fn = name(line[3:])
            elif line.startswith(('cfn=', 'cfi=', 'cfl=')):
                if line.startswith('cfn='):
                    name(line[4:])
            elif line.startswith('calls='):
                skip = True  # the next cost line is the call's inclusive cost
            elif fn and line[:1] in '0123456789+-*':
                if skip:
                    skip = False
                    continue
                parts = line.split()
                if len(parts) >= 2:
                    try:
                        key = '[JIT code]' if JIT.match(fn) else fn
                        by_fn[key] = by_fn.get(key, 0) + int(parts[1])
                    except ValueError:
                        pass
    return total, by_fn


def measure(flags, tmp):
    """Instructions for REQUESTS requests (a dump before and after them)."""
    port = free_port()
    out = os.path.join(tmp, 'cg.%p')
    proc = subprocess.Popen(
        ['valgrind', '--tool=callgrind', '--smc-check=all-non-file', '--callgrind-out-file=' + out,
         LUVIT] + flags + [SERVER],
        cwd=tmp, env=dict(os.environ, PORT=str(port)),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.time() + 120
    while True:
        try:
            socket.create_connection(('127.0.0.1', port), 0.5).close()
            break
        except OSError:
            if time.time() > end or proc.poll() is not None:
                raise RuntimeError('the server did not start under valgrind')
            time.sleep(0.2)
    ask(port, 200)  # warm up: JIT traces, caches, the profilers' tables
    subprocess.run(['callgrind_control', '--dump=before', str(proc.pid)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    ask(port, REQUESTS)
    subprocess.run(['callgrind_control', '--dump=after', str(proc.pid)],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(120)
    except subprocess.TimeoutExpired:
        proc.kill()
    dumps = sorted((p for p in os.listdir(tmp) if p.startswith('cg.') and '.' in p[3:]),
                   key=lambda p: os.path.getmtime(os.path.join(tmp, p)))
    # callgrind_control dumps are numbered cg.<pid>.1 (before, from start) and .2 (since before)
    parts = [p for p in dumps if re.match(r'cg\.\d+\.\d+$', p)]
    if len(parts) < 2:
        raise RuntimeError(f'callgrind dumps missing: {dumps}')
    total, by_fn = dump_total(os.path.join(tmp, parts[1]))
    for p in os.listdir(tmp):
        if p.startswith('cg.'):
            os.remove(os.path.join(tmp, p))
    return total / REQUESTS, by_fn


def main():
    if not shutil.which('valgrind'):
        print('installing valgrind ...', flush=True)
        subprocess.run(['apt-get', 'install', '-y', '-qq', 'valgrind'], check=True,
                       stdout=subprocess.DEVNULL)
    print(f'{LUVIT}: instructions per keep-alive request, {REQUESTS} requests, under callgrind')
    tmp = tempfile.mkdtemp(prefix='luvit-instr-')
    try:
        # Only the profilers whose work follows events: a sampling profiler (--cpu-prof,
        # --native-prof) samples per CPU second, and under valgrind a request takes ~50x the
        # CPU seconds, so its count here would be ~50x its real cost.
        rows = [('plain', []), ('--loop-prof', ['--loop-prof']), ('--heap-prof', ['--heap-prof'])]
        got = {name: [] for name, _ in rows}
        for _ in range(ROUNDS):
            for name, flags in rows:
                got[name].append(measure(flags, tmp))
        median = {name: sorted(runs)[len(runs) // 2] for name, runs in got.items()}
        plain, plain_fn = median['plain']
        for name, _ in rows:
            n, by_fn = median[name]
            jit = by_fn.get('[JIT code]', 0) / REQUESTS
            spread = ''
            if ROUNDS > 1:
                counts = sorted(c for c, _ in got[name])
                spread = f'  [{counts[0]:,.0f} .. {counts[-1]:,.0f}]'
            print(f'  {name:14} {n:12,.0f}   {plain / n:.3f}  JIT code {jit:8,.0f}{spread}',
                  flush=True)
            if TOP and name == '--loop-prof':
                keys = set(by_fn) | set(plain_fn)
                moved = sorted(((by_fn.get(k, 0) - plain_fn.get(k, 0), k) for k in keys),
                               key=lambda t: -abs(t[0]))[:TOP]
                for d, k in moved:
                    print(f'      {d / REQUESTS:+10,.0f}  {k}')
        print('  (ratio: plain/this, the throughput ratio if time followed instructions)')
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
