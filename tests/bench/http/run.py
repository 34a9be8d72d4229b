#!/usr/bin/env python3
"""HTTP benchmark: luvit-rs, node and nginx-lua (OpenResty's engine) serving the same hello
response, side by side in one run, with ratios.

Usage: python3 tests/bench/http/run.py [path/to/luvit] [--duration S] [--rounds N] [--quick]
       [--growth-only]  (only the RSS growth part)
Installs wrk, nginx-light and libnginx-mod-http-lua with apt-get when missing. Every server
binds 127.0.0.1 with one worker/thread; each wrk run (`-t1 -cC -dS`) targets the servers in
turn, alternating, for several rounds; a figure is the median over rounds. Also prints each
server's peak RSS (VmHWM, master + worker for nginx), requests/s with `Connection: close`, and
luvit's RSS after 100,000 and 1,000,000 keep-alive requests (growth would mean a leak).
"""
import os, re, shutil, signal, socket, statistics, subprocess, sys, tempfile, time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
VALUED = ('--duration', '--rounds')
args = [a for i, a in enumerate(sys.argv[1:], 1)
        if not a.startswith('--') and sys.argv[i - 1] not in VALUED]
LUVIT = args[0] if args else os.path.join(ROOT, 'target', 'release', 'luvit')
QUICK = '--quick' in sys.argv
# only the RSS-growth part (100k vs 1M requests)
GROWTH_ONLY = '--growth-only' in sys.argv


def opt(name, default):
    for i, a in enumerate(sys.argv):
        if a == name and i + 1 < len(sys.argv):
            return int(sys.argv[i + 1])
    return default


DURATION = opt('--duration', 3 if QUICK else 10)
ROUNDS = opt('--rounds', 1 if QUICK else 3)


def ensure_tools():
    missing = [p for p, exe in (('wrk', 'wrk'), ('nginx-light', 'nginx')) if not shutil.which(exe)]
    if not os.path.exists('/usr/lib/nginx/modules/ngx_http_lua_module.so'):
        missing.append('libnginx-mod-http-lua')
    if missing:
        print('installing', ' '.join(missing), '...', flush=True)
        subprocess.run(['apt-get', 'install', '-y'] + missing, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f'nothing listening on {port}')


def status_kb(pid, field):
    try:
        with open(f'/proc/{pid}/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(pid):
    try:
        with open(f'/proc/{pid}/task/{pid}/children') as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class Server:
    def __init__(self, name, cmd, port, env=None, cwd=None):
        self.name, self.port = name, port
        e = dict(os.environ, PORT=str(port), HOST='127.0.0.1')
        e.update(env or {})
        self.proc = subprocess.Popen(cmd, env=e, cwd=cwd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        wait_port(port)

    def pids(self):
        return [self.proc.pid] + children(self.proc.pid)

    def peak_rss_mb(self):
        return sum(status_kb(p, 'VmHWM') for p in self.pids()) / 1024

    def rss_mb(self):
        return sum(status_kb(p, 'VmRSS') for p in self.pids()) / 1024

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except OSError:
            pass
        self.proc.wait(timeout=10)


def nginx_server(port, tmp):
    conf = os.path.join(tmp, 'nginx.conf')
    with open(conf, 'w') as f:
        f.write(f"""
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp};
  server {{
    listen 127.0.0.1:{port};
    location / {{
      default_type text/plain;
      content_by_lua_block {{
        ngx.header["Content-Length"] = 12
        ngx.print("Hello world\\n")
      }}
    }}
  }}
}}
""")
    return Server('nginx-lua', ['nginx', '-p', tmp, '-c', conf], port)


def wrk(port, conns, duration, close=False, script=None):
    cmd = ['wrk', '-t1', f'-c{conns}', f'-d{duration}s']
    if close:
        cmd += ['-H', 'Connection: close']
    if script:
        cmd += ['-s', script]
    out = subprocess.run(cmd + [f'http://127.0.0.1:{port}/'], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(r'Requests/sec:\s+([\d.]+)', out)
    n = re.search(r'(\d+) requests in', out)
    errors = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    if errors:
        raise RuntimeError(f'{errors.group(1)} bad responses on port {port}')
    return float(m.group(1)) if m else 0.0, int(n.group(1)) if n else 0


def compare(tmp):
    servers = [
        Server('luvit-rs', [LUVIT, os.path.join(ROOT, 'examples', 'http-hello.lua')], free_port()),
        Server('node', ['node', os.path.join(HERE, 'hello.js')], free_port()),
        nginx_server(free_port(), tmp),
    ]
    try:
        results = {}
        runs = [('keep-alive -c20', 20, False), ('keep-alive -c100', 100, False),
                ('Connection: close -c20', 20, True)]
        for label, conns, close in runs:
            for s in servers:  # warm up (JIT, caches, connection pools)
                wrk(s.port, conns, 1, close)
            for _ in range(ROUNDS):
                for s in servers:
                    rps, _ = wrk(s.port, conns, DURATION, close)
                    results.setdefault((label, s.name), []).append(rps)
        peak = {s.name: s.peak_rss_mb() for s in servers}

        print(f'\nwrk -t1, {DURATION}s per run, {ROUNDS} round(s), median requests/s:')
        print(f'{"":<26}' + ''.join(f'{s.name:>12}' for s in servers) + '   luvit/node  luvit/nginx')
        for label, _, _ in runs:
            med = {s.name: statistics.median(results[(label, s.name)]) for s in servers}
            print(f'{label:<26}' + ''.join(f'{med[s.name]:>12.0f}' for s in servers) +
                  f'{med["luvit-rs"] / med["node"]:>12.2f}{med["luvit-rs"] / med["nginx-lua"]:>13.2f}')
        print(f'{"peak RSS (MB)":<26}' + ''.join(f'{peak[s.name]:>12.1f}' for s in servers) +
              f'{peak["luvit-rs"] / peak["node"]:>12.3f}{peak["luvit-rs"] / peak["nginx-lua"]:>13.2f}')
    finally:
        for s in servers:
            s.stop()



def main():
    ensure_tools()
    tmp = tempfile.mkdtemp(prefix='luvit-bench-')
    if not GROWTH_ONLY:
        compare(tmp)

    # Growth: RSS of a fresh luvit server after 100k, then 1M keep-alive requests. wrk always
    # runs for its whole duration, so the runs are short ones that add up to each count (the
    # counts printed are wrk's own).
    s = Server('luvit-rs', [LUVIT, os.path.join(ROOT, 'examples', 'http-hello.lua')], free_port())
    try:
        small, big = (20_000, 200_000) if QUICK else (100_000, 1_000_000)
        done = 0

        def serve_until(target):
            nonlocal done
            while done < target:
                _, n = wrk(s.port, 20, 1)
                if n == 0:
                    raise RuntimeError('the server answered no requests')
                done += n

        serve_until(small)
        after_small, at_small = s.rss_mb(), done
        serve_until(big)
        after_big = s.rss_mb()
        print(f'\nluvit RSS after {at_small:,} requests: {after_small:.1f} MB; after {done:,}: '
              f'{after_big:.1f} MB (growth {100 * (after_big / after_small - 1):+.1f}%, goal within 10%)')
    finally:
        s.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    main()
