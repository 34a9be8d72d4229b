#!/usr/bin/env python3
"""Which pages of a running process are resident, and why: per mapping, per ELF section,
and (for the executable's code) per function and per crate.

Usage: python3 tests/bench/resident.py [--symbols] [--windows] -- CMD ARGS...
Starts CMD, waits --settle seconds (default 0.5), reads /proc/PID/smaps and
/proc/PID/pagemap (bit 63: page present in this process's page tables), kills it.
Needs read access to the process's pagemap (same user is enough for the present bit).
"""
import argparse, bisect, collections, os, re, struct, subprocess, sys, time

PAGE = os.sysconf('SC_PAGE_SIZE')


def maps(pid):
    out = []
    with open(f'/proc/{pid}/maps') as f:
        for line in f:
            parts = line.split(maxsplit=5)
            lo, hi = (int(x, 16) for x in parts[0].split('-'))
            off = int(parts[2], 16)
            name = parts[5].strip() if len(parts) > 5 else ''
            out.append((lo, hi, parts[1], off, name))
    return out


def present_pages(pid, lo, hi):
    """Addresses of pages in [lo, hi) mapped in the process (pagemap bit 63)."""
    n = (hi - lo) // PAGE
    with open(f'/proc/{pid}/pagemap', 'rb') as f:
        f.seek(lo // PAGE * 8)
        data = f.read(n * 8)
    res = []
    for i in range(len(data) // 8):
        (v,) = struct.unpack_from('<Q', data, i * 8)
        if v >> 63:
            res.append(lo + i * PAGE)
    return res


def sections(path):
    """(file offset, size, name) of each allocated section with file contents."""
    out = subprocess.run(['readelf', '-SW', path], capture_output=True, text=True).stdout
    res = []
    for line in out.splitlines():
        m = re.match(r'\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+\S+\s+(\S*)', line)
        if m and 'A' in m.group(6) and m.group(2) != 'NOBITS':
            res.append((int(m.group(4), 16), int(m.group(5), 16), m.group(1), int(m.group(3), 16)))
    return sorted(res)


def text_symbols(path):
    """Sorted (vaddr, size, demangled name) of the function symbols."""
    out = subprocess.run(['nm', '-S', '--defined-only', '-C', path], capture_output=True, text=True).stdout
    res = []
    for line in out.splitlines():
        parts = line.split(' ', 3)
        if len(parts) == 4 and parts[2] in 'tTwW':
            res.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
    res.sort()
    return res


def crate_of(name):
    n = name.lstrip('<').replace('<impl ', '')
    for prefix in ('lj_', 'lua_', 'luaL_', 'luaJIT_', 'lj_vm', 'luaopen_'):
        if n.startswith(prefix):
            return 'luajit'
    m = re.match(r'([A-Za-z_][A-Za-z0-9_]*)::', n)
    return m.group(1) if m else '(C/other)'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--settle', type=float, default=0.5)
    ap.add_argument('--symbols', action='store_true', help='list the resident functions of the executable')
    ap.add_argument('--windows', action='store_true', help='list 64 KB windows of the executable code with their pages')
    ap.add_argument('cmd', nargs='+')
    a = ap.parse_args()
    p = subprocess.Popen(a.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(a.settle)
    try:
        exe = os.path.realpath(f'/proc/{p.pid}/exe')
        mp = maps(p.pid)
        res = {(lo, hi): present_pages(p.pid, lo, hi) for lo, hi, _, _, _ in mp}
        with open(f'/proc/{p.pid}/status') as f:
            status = [l.strip() for l in f if l.startswith(('VmRSS', 'RssAnon', 'RssFile'))]
    finally:
        p.kill()
        p.wait()
    print(' '.join(status))
    total = collections.Counter()
    for lo, hi, perm, off, name in mp:
        n = len(res[(lo, hi)])
        if n:
            total[(os.path.basename(name) or '[anon]', perm)] += n
    for (name, perm), n in total.most_common():
        print(f'{n * PAGE // 1024:>7} kB  {perm}  {name}')
    secs = sections(exe)
    per_sec = collections.Counter()
    base = min(lo - off for lo, hi, perm, off, name in mp if name == exe)
    pages_exe = []
    for lo, hi, perm, off, name in mp:
        if name != exe:
            continue
        for addr in res[(lo, hi)]:
            foff = addr - lo + off
            pages_exe.append(addr - base)
            hit = [s for s in secs if s[0] <= foff + PAGE - 1 and foff < s[0] + s[1]]
            for s in hit or [(0, 0, '(no section)', 0)]:
                per_sec[s[2]] += 1
    print('\nexecutable, pages touching each section (a page may touch two):')
    for s in secs:
        if per_sec[s[2]]:
            print(f'  {s[2]:<20} {per_sec[s[2]] * 4:>6} kB of {s[1] // 1024:>6} kB')
    if a.symbols or a.windows:
        syms = text_symbols(exe)
        starts = [s[0] for s in syms]
        text = next(s for s in secs if s[2] == '.text')
        code_pages = sorted(v for v in pages_exe if text[3] <= v < text[3] + text[1])
        crates = collections.Counter()
        names = collections.defaultdict(list)
        for v in code_pages:
            i = bisect.bisect_right(starts, v + PAGE - 1) - 1
            j = bisect.bisect_left(starts, v)
            for k in range(max(j - 1, 0), i + 1):
                sv, sz, nm = syms[k]
                if sv < v + PAGE and sv + max(sz, 1) > v:
                    crates[crate_of(nm)] += min(sv + sz, v + PAGE) - max(sv, v)
                    names[v].append(nm)
        print('\nresident code bytes by crate:')
        for c, b in crates.most_common(30):
            print(f'  {b // 1024:>6} kB  {c}')
        if a.windows:
            win = collections.defaultdict(list)
            for v in code_pages:
                win[v // 65536].append(v)
            print(f'\n{len(win)} windows of 64 KB hold resident code')
            for w in sorted(win):
                first = names[win[w][0]][0] if names[win[w][0]] else '?'
                print(f'  {w * 65536:#9x}: {len(win[w]):2} pages, from {first[:80]}')
        if a.symbols:
            for v in code_pages:
                print(f'{v:#x}: ' + ' | '.join(n[:70] for n in names[v][:4]))


if __name__ == '__main__':
    main()
