#!/usr/bin/env python3
"""The profilers' cost, side by side in one run: requests/s of the hello server plain and under
each profiler (`--cpu-prof`, `--loop-prof`, and `--heap-prof` when the binary has it), with
node's own `--cpu-prof` cost on its hello server in the same run for comparison. Also requests
per CPU-second of the server process (utime + stime from /proc), which a machine busy with
other work disturbs much less than requests/s.

Usage: python3 tests/bench/profile/run.py [path/to/luvit] [--duration S] [--rounds N]
Needs wrk (installed with apt-get when missing). Every server binds 127.0.0.1; each wrk run is
`-t1 -c20`; the servers take turns, alternating, for several rounds; a figure is the median.
Profile files go to a temporary directory that is removed at the end.
"""
import os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
VALUED = ('--duration', '--rounds')
ARGS = [a for i, a in enumerate(sys.argv[1:], 1)
        if not a.startswith('--') and sys.argv[i - 1] not in VALUED]
LUVIT = os.path.abspath(ARGS[0]) if ARGS else os.path.join(ROOT, 'target', 'release', 'luvit')
SERVER = os.path.join(ROOT, 'examples', 'debug', 'bench-server.lua')
NODE_SERVER = os.path.join(ROOT, 'tests', 'bench', 'http', 'hello.js')


def opt(name, default):
    if name in sys.argv:
        return int(sys.argv[sys.argv.index(name) + 1])
    return default


DURATION = opt('--duration', 5)
ROUNDS = opt('--rounds', 3)


def ensure_wrk():
    if not shutil.which('wrk'):
        print('installing wrk ...', flush=True)
        subprocess.run(['apt-get', 'install', '-y', '-qq', 'wrk'], check=True,
                       stdout=subprocess.DEVNULL)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(('127.0.0.1', port), 0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f'nothing listens on {port}')


class Server:
    def __init__(self, argv, cwd):
        self.port = free_port()
        env = dict(os.environ, PORT=str(self.port))
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def wrk(port, duration):
    out = subprocess.run(['wrk', '-t1', '-c20', f'-d{duration}s', f'http://127.0.0.1:{port}/'],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))
    total = int(re.search(r'(\d+) requests in', out).group(1))
    return rps, total


def cpu_seconds(pid):
    fields = open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def has_flag(flag):
    out = subprocess.run([LUVIT, '-h'], capture_output=True, text=True).stdout
    return flag in out


def main():
    ensure_wrk()
    tmp = tempfile.mkdtemp(prefix='luvit-prof-bench-')
    configs = {
        'luvit plain': ([LUVIT, SERVER], ''),
        'luvit --cpu-prof': ([LUVIT, '--cpu-prof', SERVER], 'goal >= 0.95'),
        'luvit --loop-prof': ([LUVIT, '--loop-prof', SERVER], 'goal >= 0.97'),
    }
    if has_flag('--heap-prof'):
        configs['luvit --heap-prof'] = ([LUVIT, '--heap-prof', SERVER], 'goal >= 0.80')
    if shutil.which('node'):
        configs['node plain'] = (['node', NODE_SERVER], '')
        configs['node --cpu-prof'] = (['node', '--cpu-prof', NODE_SERVER], '')
    servers = {}
    try:
        for name, (argv, _) in configs.items():
            servers[name] = Server(argv, tmp)
        for s in servers.values():
            wait_port(s.port)
            wrk(s.port, 1)  # warm up (JIT, caches)
        results = {name: [] for name in servers}
        per_cpu = {name: [] for name in servers}
        for _ in range(ROUNDS):
            for name, s in servers.items():
                c0 = cpu_seconds(s.proc.pid)
                rps, total = wrk(s.port, DURATION)
                results[name].append(rps)
                per_cpu[name].append(total / max(cpu_seconds(s.proc.pid) - c0, 1e-3))
    finally:
        for s in servers.values():
            s.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f'\nwrk -t1 -c20, {DURATION}s per run, {ROUNDS} rounds, medians, ratios to the same '
          f'runtime plain:')
    print(f'  {"":<22}{"req/s":>10}{"ratio":>8}{"req/CPU-s":>12}{"ratio":>8}')
    for name in servers:
        plain = 'node plain' if name.startswith('node') else 'luvit plain'
        med = statistics.median(results[name])
        base = statistics.median(results[plain])
        cpu = statistics.median(per_cpu[name])
        cbase = statistics.median(per_cpu[plain])
        print(f'  {name:<22}{med:>10.0f}{med / base:>8.3f}{cpu:>12.0f}{cpu / cbase:>8.3f}  '
              f'{configs[name][1]}')


if __name__ == '__main__':
    main()
