#!/usr/bin/env python3
"""Writes runtime/startup-order.txt: the functions a release `luvit` runs from start-up to
an idle loop, which the release link places side by side (lld --symbol-ordering-file, see
runtime/build.rs) so their pages are few and contiguous.

Why: the kernel maps a file-backed page together with the cached pages of its 64 KB window
(fault-around), so every function start-up touches keeps up to 64 KB of .text resident. Spread
over the binary, ~650 KB of start-up code kept ~3.6 MB of .text resident; packed, it keeps
about its own size.

Usage: python3 tests/bench/order/gen.py [path/to/release/luvit]
Runs the binary under callgrind (valgrind) on a few idle programs, takes every function of the
executable that ran at least one instruction, and writes their symbol names (as the linker
sees them: mangled), sorted, one a line (lld reads no comments in this file). Then the same for
the hello HTTP server under keep-alive and Connection: close requests: the functions only it
ran follow, so a server's hot path (http, the FFI, the trace compiler, tokio's sockets) is
packed too, after the start-up set (an idle program's pages stay as few as before).
Regenerate after large changes to start-up code; stale names only cost locality (the
link ignores names it does not find). Compare with tests/bench/resident.py.
"""
import bisect, os, re, signal, socket, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, '..', '..', '..')
OUT = os.path.join(ROOT, 'runtime', 'startup-order.txt')

# What start-up runs for: a script holding a timer (the idle benchmark, timer fired and
# exit included), -e, and a script that requires nothing.
PROGRAMS = [
    [os.path.join(ROOT, 'tests', 'bench', 'idle.lua')],
    ['-e', "require('timer').setTimeout(5, function() end)"],
    ['-e', ''],
]


def executed_addresses(cg_file, exe):
    """Instruction addresses (file-relative) run in `exe`, read off a callgrind
    --dump-instr=yes profile (positions: absolute 0x.., relative +n/-n, or * for the same)."""
    names, mine, cur, addrs = {}, False, 0, set()
    with open(cg_file) as f:
        for line in f:
            if line.startswith(('cob=', 'ob=')):
                m = re.match(r'c?ob=\((\d+)\)(?: (.*))?', line)
                if m.group(2):
                    names[m.group(1)] = m.group(2).strip()
                if line.startswith('ob='):
                    mine = os.path.realpath(names.get(m.group(1), '')) == exe
                continue
            if not mine or line.startswith(('calls=', 'c', 'f', 'j')):
                continue
            head = line.split(' ', 1)[0]
            if head.startswith('0x'):
                cur = int(head, 16)
            elif head.startswith('+'):
                cur += int(head[1:])
            elif head.startswith('-'):
                cur -= int(head[1:])
            elif head != '*':
                continue
            addrs.add(cur)
    return addrs


def serve(exe, cg):
    """The hello server under callgrind, answering keep-alive and Connection: close
    requests (enough for LuaJIT to compile the request path), then stopped."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    env = dict(os.environ, PORT=str(port), HOST='127.0.0.1')
    proc = subprocess.Popen(['valgrind', '--tool=callgrind', '--dump-instr=yes',
                             f'--callgrind-out-file={cg}', exe,
                             os.path.join(ROOT, 'examples', 'http-hello.lua')],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(('127.0.0.1', port), 1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        req = b'GET / HTTP/1.1\r\nHost: x\r\n\r\n'
        conns = [socket.create_connection(('127.0.0.1', port), 30) for _ in range(10)]
        for _ in range(300):
            for c in conns:
                c.sendall(req)
            for c in conns:
                got = b''
                while not got.endswith(b'Hello world\n'):
                    chunk = c.recv(4096)
                    if not chunk:
                        raise RuntimeError('server closed')
                    got += chunk
        for c in conns:
            c.close()
        for _ in range(50):
            with socket.create_connection(('127.0.0.1', port), 30) as c:
                c.sendall(b'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
                while c.recv(4096):
                    pass
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


# A local copy of a Rust function that several crates instantiate is named with a number
# (`...5write.2348`), and the numbers shift when code anywhere changes: the next build's
# copy is `.2346`. The link ignores names it does not find, so such a function would fall out
# of the packed region (and pull a far 64 KB window into every process). Each is listed with
# the numbers around its own; the few other copies this catches are small.
SHIFT = 40

# crtbegin.o's functions, which the loader runs before main and callgrind does not report:
# unlisted, their section lands mid-.text and keeps a far 64 KB window resident.
CRT = ['frame_dummy', 'register_tm_clones', 'deregister_tm_clones', '__do_global_dtors_aux']


def expand(names):
    out, seen = [], set()
    for name in names:
        m = re.match(r'^(_R.*|_ZN.*)\.(\d+)$', name)
        group = [name] if not m else [name] + [
            f'{m.group(1)}.{k}' for d in range(1, SHIFT + 1)
            for k in (int(m.group(2)) - d, int(m.group(2)) + d) if k >= 0]
        for n in group:
            if n not in seen:
                seen.add(n)
                out.append(n)
    return out


def functions(exe):
    out = subprocess.run(['nm', '-S', '--defined-only', exe], capture_output=True, text=True,
                         check=True).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split(' ', 3)
        if len(parts) == 4 and parts[2] in 'tTwW':
            syms.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
    syms.sort()
    return syms


def main():
    exe = os.path.realpath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(ROOT, 'target', 'release', 'luvit'))
    syms = functions(exe)
    starts = [s[0] for s in syms]
    def ran_in(cg):
        found = set()
        for a in executed_addresses(cg, exe):
            k = bisect.bisect_right(starts, a) - 1
            if k >= 0 and syms[k][0] <= a < syms[k][0] + max(syms[k][1], 1):
                found.add(syms[k])
        return found

    ran = set()
    with tempfile.TemporaryDirectory() as tmp:
        for i, args in enumerate(PROGRAMS):
            cg = os.path.join(tmp, f'cg.{i}')
            subprocess.run(['valgrind', '--tool=callgrind', '--dump-instr=yes',
                            f'--callgrind-out-file={cg}', exe, *args],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            ran |= ran_in(cg)
        cg = os.path.join(tmp, 'cg.serve')
        serve(exe, cg)
        served = ran_in(cg) - ran
    startup = CRT + sorted({s[2] for s in ran} - set(CRT))
    server = sorted({s[2] for s in served} - set(startup))
    with open(OUT, 'w') as f:
        for name in expand(startup + server):
            f.write(name + '\n')
    print(f'{len(ran)} start-up functions ({sum(s[1] for s in ran) // 1024} kB), then '
          f'{len(served)} of the server ({sum(s[1] for s in served) // 1024} kB), written to '
          f'{os.path.relpath(OUT)}')


if __name__ == '__main__':
    main()
