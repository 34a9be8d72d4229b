#!/usr/bin/env python3
"""The REPL's speed, measured in a pseudo-terminal as a user would see it.

  start-up: from fork until the first prompt ("> ") is on the screen, luvit and `node -i`;
  completion: with 10,000 globals defined, from Tab until the completed name is on the screen.

Usage: python3 tests/bench/repl/run.py [path/to/luvit]   (default: target/release/luvit, else
target/debug/luvit; CARGO_TARGET_DIR is honoured). Prints medians of several runs.
"""

import os
import pty
import select
import shutil
import statistics
import sys
import tempfile
import time

RUNS = 15


def find_luvit():
    if len(sys.argv) > 1:
        return sys.argv[1]
    root = os.environ.get("CARGO_TARGET_DIR") or os.path.join(
        os.path.dirname(__file__), "..", "..", "..", "target")
    for profile in ("release", "debug"):
        p = os.path.join(root, profile, "luvit")
        if os.path.exists(p):
            return p
    sys.exit("build luvit first (cargo build --release)")


class Pty:
    def __init__(self, argv, env):
        self.t0 = time.perf_counter()
        pid, fd = pty.fork()
        if pid == 0:
            os.execvpe(argv[0], argv, env)
        self.pid, self.fd, self.buf = pid, fd, b""

    def wait_for(self, needle, timeout=10.0):
        deadline = time.perf_counter() + timeout
        while needle not in self.buf:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"no {needle!r} in {self.buf[-300:]!r}")
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:
                    chunk = b""
                if not chunk:
                    raise EOFError(f"ended before {needle!r}: {self.buf[-300:]!r}")
                self.buf += chunk
        return time.perf_counter()

    def send(self, data):
        os.write(self.fd, data)

    def drain(self):
        self.buf = b""

    def close(self):
        try:
            os.kill(self.pid, 9)
        except ProcessLookupError:
            pass
        os.waitpid(self.pid, 0)
        os.close(self.fd)


def start_to_prompt(argv, env):
    times = []
    for _ in range(RUNS):
        p = Pty(argv, env)
        t = p.wait_for(b"> ")
        times.append((t - p.t0) * 1000)
        p.close()
    return statistics.median(times), min(times)


def completion(luvit, env):
    p = Pty([luvit], env)
    p.wait_for(b"> ")
    p.send(b"for i = 1, 10000 do _G['global' .. i] = i end uniqueNameXYZ = 1\r")
    p.wait_for(b"\n")
    p.wait_for(b"> ")
    times = []
    for _ in range(RUNS):
        p.drain()
        p.send(b"uniqueNa")
        p.wait_for(b"uniqueNa")
        time.sleep(0.05)  # let the echo settle
        while select.select([p.fd], [], [], 0)[0]:
            os.read(p.fd, 65536)
        p.drain()
        t0 = time.perf_counter()
        p.send(b"\t")
        t1 = p.wait_for(b"meXYZ")
        times.append((t1 - t0) * 1000)
        if os.environ.get("BENCH_DEBUG"):
            print(repr(p.buf))
        p.send(b"\x15")  # Ctrl-U: clear the line
        time.sleep(0.05)
    p.close()
    return statistics.median(times), min(times)


def main():
    luvit = find_luvit()
    home = tempfile.mkdtemp(prefix="luvit-repl-bench-")
    env = dict(os.environ, HOME=home, TERM="xterm")
    print(f"luvit: {luvit}")
    med, low = start_to_prompt([luvit], env)
    print(f"start to prompt, luvit:            median {med:6.1f} ms  (min {low:.1f})")
    node = shutil.which("node")
    if node:
        med, low = start_to_prompt([node, "-i"], dict(env, NODE_REPL_HISTORY=""))
        print(f"start to prompt, node -i:          median {med:6.1f} ms  (min {low:.1f})")
    med, low = completion(luvit, env)
    print(f"Tab completion, 10,000 globals:    median {med:6.1f} ms  (min {low:.1f})")
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
