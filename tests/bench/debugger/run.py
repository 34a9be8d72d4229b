#!/usr/bin/env python3
"""The debugger's cost, side by side in one run: requests/s of the hello server plain, under
`--inspect` with no client, and with a DAP client attached and a breakpoint in a function the
request path never runs; then how fast a breakpoint set while the program runs takes effect.

Usage: python3 tests/bench/debugger/run.py [path/to/luvit] [--duration S] [--rounds N]
Needs wrk (installed with apt-get when missing). The client speaks DAP over TCP
(`--inspect-dap-tcp`): the same session as the websocket, simpler to script.
"""
import json, os, re, signal, socket, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
VALUED = ('--duration', '--rounds')
ARGS = [a for i, a in enumerate(sys.argv[1:], 1)
        if not a.startswith('--') and sys.argv[i - 1] not in VALUED]
LUVIT = os.path.abspath(ARGS[0]) if ARGS else os.path.join(ROOT, 'target', 'release', 'luvit')


def opt(name, default):
    if name in sys.argv:
        return int(sys.argv[sys.argv.index(name) + 1])
    return default


DURATION = opt('--duration', 5)
ROUNDS = opt('--rounds', 3)
SERVER = os.path.join(ROOT, 'examples', 'debug', 'bench-server.lua')
BUSY = os.path.join(ROOT, 'examples', 'debug', 'busy.lua')


def ensure_wrk():
    if subprocess.run(['sh', '-c', 'command -v wrk'], capture_output=True).returncode != 0:
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


class Dap:
    """A DAP client over TCP with Content-Length framing."""

    def __init__(self, addr):
        host, port = addr.rsplit(':', 1)
        self.sock = socket.create_connection((host, int(port)))
        self.buf = b''
        self.seq = 0
        self.events = []

    def send(self, command, args=None):
        self.seq += 1
        body = json.dumps({'seq': self.seq, 'type': 'request', 'command': command,
                           'arguments': args or {}}).encode()
        self.sock.sendall(b'Content-Length: %d\r\n\r\n' % len(body) + body)
        return self.seq

    def read(self):
        while b'\r\n\r\n' not in self.buf:
            self.buf += self.sock.recv(65536)
        head, rest = self.buf.split(b'\r\n\r\n', 1)
        n = int(re.search(rb'Content-Length:\s*(\d+)', head).group(1))
        while len(rest) < n:
            rest += self.sock.recv(65536)
        self.buf = rest[n:]
        return json.loads(rest[:n])

    def request(self, command, args=None):
        seq = self.send(command, args)
        while True:
            m = self.read()
            if m.get('type') == 'response' and m.get('request_seq') == seq:
                return m
            self.events.append(m)

    def wait_event(self, name):
        for i, e in enumerate(self.events):
            if e.get('event') == name:
                return self.events.pop(i)
        while True:
            m = self.read()
            if m.get('type') == 'event' and m.get('event') == name:
                return m
            self.events.append(m)


class Program:
    def __init__(self, flags, script, env=None):
        self.port = free_port()
        e = dict(os.environ, PORT=str(self.port), **(env or {}))
        self.proc = subprocess.Popen([LUVIT] + flags + [script], env=e, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, start_new_session=True)
        self.addr = None
        if flags:
            line = self.proc.stderr.readline().decode()
            m = re.search(r'Debugger listening on (?:tcp://)?(\S+)', line)
            self.addr = m.group(1)

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def wrk(port, duration):
    out = subprocess.run(['wrk', '-t1', '-c20', f'-d{duration}s', f'http://127.0.0.1:{port}/'],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r'Requests/sec:\s+([\d.]+)', out).group(1))


def attach(addr, breakpoints):
    d = Dap(addr)
    d.request('initialize', {'adapterID': 'bench'})
    d.request('attach')
    for path, lines in breakpoints.items():
        r = d.request('setBreakpoints', {'source': {'path': path},
                                         'breakpoints': [{'line': l} for l in lines]})
        assert r['success'], r
    d.request('configurationDone')
    return d


def main():
    ensure_wrk()
    plain = Program([], SERVER)
    quiet = Program(['--inspect=127.0.0.1:0'], SERVER)
    attached = Program(['--inspect-dap-tcp=127.0.0.1:0'], SERVER)
    progs = {'plain': plain, '--inspect, no client': quiet,
             'client + breakpoint elsewhere': attached}
    try:
        for p in progs.values():
            wait_port(p.port)
        client = attach(attached.addr, {SERVER: [8]})
        for p in progs.values():
            wrk(p.port, 1)  # warm up
        results = {name: [] for name in progs}
        for _ in range(ROUNDS):
            for name, p in progs.items():
                results[name].append(wrk(p.port, DURATION))
        base = statistics.median(results['plain'])
        print(f'\nwrk -t1 -c20, {DURATION}s per run, {ROUNDS} rounds, median requests/s:')
        for name in progs:
            med = statistics.median(results[name])
            goal = {'plain': '', '--inspect, no client': '  (goal >= 0.98)',
                    'client + breakpoint elsewhere': '  (goal >= 0.90)'}[name]
            print(f'  {name:<32}{med:>10.0f}{med / base:>8.3f}{goal}')
        client.sock.close()
    finally:
        for p in progs.values():
            p.stop()

    # A breakpoint set while a hot (JIT-compiled) loop runs: time from sending setBreakpoints
    # to its response, and to the stopped event.
    times_resp, times_stop = [], []
    for _ in range(5):
        p = Program(['--inspect-dap-tcp=127.0.0.1:0'], BUSY)
        try:
            d = attach(p.addr, {})
            time.sleep(0.3)
            t0 = time.perf_counter()
            seq = d.send('setBreakpoints', {'source': {'path': BUSY}, 'breakpoints': [{'line': 6}]})
            while True:
                m = d.read()
                if m.get('type') == 'response' and m.get('request_seq') == seq:
                    times_resp.append(time.perf_counter() - t0)
                    break
                d.events.append(m)
            d.wait_event('stopped')
            times_stop.append(time.perf_counter() - t0)
        finally:
            p.stop()
    print(f'\nbreakpoint set in a running hot loop (5 runs, goal < 50 ms): in place after '
          f'{1000 * statistics.median(times_resp):.1f} ms (median), hit after '
          f'{1000 * statistics.median(times_stop):.1f} ms (median, max {1000 * max(times_stop):.1f})')


if __name__ == '__main__':
    main()
