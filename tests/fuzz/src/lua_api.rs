//! Target `lua_api`: generated Lua programs against the runtime's API surface — `uv`, `fs`,
//! `net`, `timer`, `buffer` — with arguments of random types and counts, and handles used after
//! they are closed, in a real `luvit::runtime::Runtime` (booted as a thread body is).
//!
//! The input is a program: each byte pair picks a function and how many arguments it gets,
//! the following bytes pick each argument from a pool (nil, booleans, edge numbers, strings,
//! tables, functions, and every value earlier calls returned: handles, sockets, buffers, fds).
//! Each call runs under `pcall`; at the end every handle is closed and the loop runs out.
//! Programs are bounded and start alike: a budget of VM instructions (a count hook) stops a
//! program that runs long, as a normal outcome; the argument pool's tables are made afresh
//! and the working directory is emptied before each program, so none sees what an earlier
//! one did (a Buffer:initialize(t, 2^31) on a shared table once made a later program's
//! Buffer:inspect(t) loop for minutes); files are capped at 64 MiB.
//!
//! Oracle: each call returns or raises a Lua error (a string or an error table): no Rust panic
//! crosses into Lua (a panic is recorded by the hook even when `pcall` would swallow it), no
//! segfault, no abort.
//!
//! What is left out, and why: calls that end or change the whole process (spawn, kill, chdir,
//! setuid, signals, setenv, threads, `uv.run`/`stop`, sleep) and name lookups that would leave
//! the machine (`uv.getaddrinfo` resolves IP literals and `localhost` only here), Buffers over
//! 16 MiB (zeroing 2 GB took 3 s: a cost, not a fault). Files are
//! made under a fresh temporary directory, four levels deep, that is the working directory,
//! and no call may name anything outside it: a string argument (or a string in a table
//! argument) that is absolute, holds `..` or starts with `~` skips the call (a campaign once
//! renamed /root into the sandbox with a path the pool had collected from `uv.os_homedir()`).

use std::cell::Cell;

use luvit::runtime::Runtime;
use mlua::Function;

thread_local! {
    /// Set by the panic hook: a panic inside a Lua call that `pcall` swallowed still counts.
    static PANICKED: Cell<bool> = const { Cell::new(false) };
}

const BOOT: &str = r#"
local uv = require('uv')
-- No name leaves the machine: IP literals and localhost only. (Anything else is a DNS query
-- that, on a machine with no reachable name server, waits 5 s now and then: '.' did, and afl
-- saved those runs as hangs that did not reproduce.) Reverse lookups: loopback only.
local function literal(host)
  return host == 'localhost' or host:match('^%d+%.%d+%.%d+%.%d+$') ~= nil
    or (host:find(':', 1, true) ~= nil and host:match('^[%x:%.]+$') ~= nil)
end
local getaddrinfo, getnameinfo = uv.getaddrinfo, uv.getnameinfo
-- 'localhost' is in /etc/hosts for IPv4 only: asked for IPv6 it goes to the name server (a
-- 5 s wait now and then, seen as 5 s stalls inside afl's persistent runs).
local function v4ok(hints)
  local fam = type(hints) == 'table' and hints.family or nil
  return fam ~= 'inet6' and not (type(fam) == 'number' and fam ~= 0 and fam ~= 2)
end
uv.getaddrinfo = function(host, service, hints, ...)
  -- a number is a name too (1/0 is looked up as 'inf')
  local name = type(host) == 'number' and tostring(host) or host
  if type(name) == 'string' and not (literal(name) and (name ~= 'localhost' or v4ok(hints))) then
    error('fuzz: name resolution of ' .. name .. ' is blocked')
  end
  return getaddrinfo(host, service, hints, ...)
end
uv.getnameinfo = function(addr, ...)
  if type(addr) == 'table' and addr.ip ~= '127.0.0.1' and addr.ip ~= '::1' then
    error('fuzz: reverse lookup of ' .. tostring(addr.ip) .. ' is blocked')
  end
  return getnameinfo(addr, ...)
end
-- An 'error' event nobody listens for is thrown, and from a callback that is an uncaught
-- exception, which ends the process (luvit's rule, node's too): a program may catch those.
process:on('uncaughtException', function() end)
local fs, net, timer = require('fs'), require('net'), require('timer')
local Buffer = require('buffer').Buffer

local DENY = {
  spawn = 1, kill = 1, process_kill = 1, chdir = 1, os_setenv = 1, os_unsetenv = 1,
  set_process_title = 1, disable_stdio_inheritance = 1, run = 1, stop = 1, loop_close = 1,
  loop_configure = 1, library_shutdown = 1, sleep = 1, new_thread = 1, thread_join = 1,
  thread_self = 1, thread_equal = 1, new_work = 1, queue_work = 1, new_signal = 1,
  signal_start = 1, signal_start_oneshot = 1, signal_stop = 1, os_setpriority = 1,
  setuid = 1, setgid = 1, print_all_handles = 1, print_active_handles = 1, new_tty = 1,
  tty_set_mode = 1, tty_reset_mode = 1, tty_get_winsize = 1, thread_setaffinity = 1,
  thread_getaffinity = 1, thread_setpriority = 1, os_getpriority = 1, set_stdio = 1,
}
local FNS = {}
local function add(prefix, t, deny)
  local names = {}
  for k, v in pairs(t) do
    if type(v) == 'function' and not (deny and deny[k]) then names[#names + 1] = k end
  end
  table.sort(names)
  for _, k in ipairs(names) do FNS[#FNS + 1] = { prefix .. k, t[k] } end
end
add('uv.', uv, DENY)
add('fs.', fs)
add('net.', net)
add('timer.', timer)
local function methods(prefix, class)
  local names, seen = {}, {}
  local c = class
  while type(c) == 'table' and #names < 200 do
    for k, v in pairs(c) do
      if type(v) == 'function' and not seen[k] and k ~= 'extend' then
        seen[k] = true
        names[#names + 1] = k
      end
    end
    local mt = getmetatable(c)
    c = mt and mt.__index
    if type(c) ~= 'table' then break end
  end
  table.sort(names)
  for _, k in ipairs(names) do
    local f = class[k]
    FNS[#FNS + 1] = { prefix .. k, function(self, ...) return f(self, ...) end, method = true }
  end
end
methods('Buffer:', Buffer)
methods('Socket:', net.Socket)
methods('Server:', net.Server)

-- Nothing outside the sandbox may be named: no call gets a string that is absolute, holds
-- '..' or starts with '~', nor a table holding one. (The pool collects what calls return:
-- uv.os_homedir(), os_tmpdir(), exepath(), realpath results. Before this rule a campaign moved
-- /root into the sandbox with uv.fs_rename and chmod'ed /tmp to 000; symlinks made from such
-- strings reached further.) A symlink's target obeys the rule too, so links stay inside.
local function outside(v)
  if type(v) == 'string' then
    local c = v:sub(1, 1)
    return c == '/' or c == '~' or v:find('..', 1, true) ~= nil
  end
  if type(v) == 'table' then
    for _, x in next, v do
      if type(x) == 'string' and outside(x) then return true end
    end
  end
  return false
end

-- Names that take a file descriptor: never one the process had open before the program began
-- (`reserved`, listed by the harness from /proc/self/fd: stdio, and the runtime's own epoll and
-- wake fds). A number counts as the fd it converts to: 3.84 and "3" are fd 3, -0.5 is fd 0. A
-- program once closed fd 3, the loop's epoll, with fs.close(3.84...) and the next poll panicked
-- in tokio (libuv aborts there too: the loop's own fd is not the program's to close).
local function fdOf(v)
  local n = tonumber(v)
  if not n or n ~= n then return nil end
  return n >= 0 and math.floor(n) or math.ceil(n)
end

local function fdlike(name)
  return name:find('close') or name:find('read') or name:find('write') or name:find('open')
    or name:find('^fs%.f') or name:find('^uv%.fs_f') or name:find('sendfile')
    or name:find('tty') or name:find('Sync$') or name:find('guess_handle') or name:find('poll')
end

-- The values every program starts from, made afresh for each program: a call given one of
-- these tables as `self` writes into it (Buffer:initialize(t, 2^31) set t.length and
-- t.ctype), and before they were rebuilt one program's writes reached every later one (a
-- later Buffer:inspect(t) looped 2^31 times).
local function base()
  return {
    false, true, 0, 1, -1, 0.5, 2^31, 2^53, 1e15, -2^63, 1/0, -1/0, 0/0, 65536, 80,
    '', 'a', 'a/b', '.', '..', 'b', '127.0.0.1', '::1', 'localhost', '\0', ('x'):rep(300),
    'r', 'w', 'a+', 'hex', 'utf8', 'tcp', { 1, 2 }, { family = 'inet' }, {},
    function() end, function(...) return ... end, coroutine.create(function() end),
    newproxy(false),
  }
end

-- A Buffer's memory is zeroed when it is made: 2^31 bytes took 3 s and 2 GB of memory, a
-- cost of the request, not a fault; lengths past this skip the call.
local BUFFER_MAX = 2^24

-- The bound on a program's run time, in VM instructions: a count hook every HOOK_EVERY
-- instructions (LuaJIT is built with LUAJIT_ENABLE_CHECKHOOK, so a compiled loop leaves its
-- trace for the hook too) raises an error when the budget is spent. Counted, not timed: the
-- same program stops at the same instruction on any machine and under any load, as afl
-- wants its runs to be; a program stopped there is a normal outcome, not a finding.
--   The error is raised once; the code it unwinds (error handlers, and at cleanup the
-- runtime's report of an error a callback did not catch, which ends the process if it
-- fails) gets a grace of GRACE ticks. Past that, every instruction raises (but the harness's
-- own `bounded`), so code that catches the error and carries on is stopped too; at cleanup
-- the runtime's report of that error fails in turn and ends the process: an end, loud, where
-- there would be a hang (luvit's lib has no such loop; tests/lua_api_bounds.rs stops one
-- among the calls).
-- Budgets: 500,000 instructions for the calls (the programs of the saved afl queue need
-- 18,000 at most), 250,000 for the callbacks run at cleanup.
local HOOK_EVERY = 1000
local CALL_TICKS, CLEANUP_TICKS, GRACE = 500, 250, 250
local SPENT = 'fuzz: instruction budget spent'
local sethook, getinfo = debug.sethook, debug.getinfo
local ticks, used = 0, 0
local bounded
local function tick()
  used = used + 1
  ticks = ticks - 1
  if ticks > 0 or (ticks < 0 and ticks > -GRACE) then return end
  if ticks == -GRACE then sethook(tick, '', 1) end
  if getinfo(2, 'f').func == bounded then return end
  error(SPENT, 0)
end

local DEBUG = os.getenv('LUVIT_FUZZ_DEBUG')

-- The calls a program makes, read from its bytes; returns a message if a call broke the
-- oracle.
local function calls(input, reserved)
  local pos = 0
  local function byte()
    pos = pos + 1
    return input:byte(pos)
  end
  local pool = {}
  local BASE = base()
  local function pick(b)
    local n = #BASE + #pool + 1
    local i = b % n
    if i == 0 then return nil end
    if i <= #BASE then return BASE[i] end
    return pool[i - #BASE]
  end
  for _ = 1, 24 do
    if ticks <= 0 then return end
    local fb, cb = byte(), byte()
    if not fb or not cb then return end
    local entry = FNS[(fb * 256 + cb) % #FNS + 1]
    local name, f = entry[1], entry[2]
    local argc = cb % 5
    local args = {}
    for i = 1, argc do args[i] = pick(byte() or 0) end
    if entry.method then
      -- a method gets an object of any kind as self, often a fitting one
      args = { pick(byte() or 0), unpack(args, 1, argc) }
      argc = argc + 1
    end
    local skip = false
    for i = 1, argc do
      if outside(args[i]) then skip = true end
    end
    if name:find('^Buffer:') then
      for i = 1, argc do
        local a = args[i]
        if type(a) == 'number' and a > BUFFER_MAX then skip = true end
      end
    end
    if fdlike(name) then
      for i = 1, argc do
        local fd = fdOf(args[i])
        if fd and reserved[fd] then skip = true end
      end
    end
    if not skip then
      if DEBUG then
        local shown = {}
        for i = 1, argc do shown[i] = type(args[i]) == 'string' and ('%q'):format(args[i]:sub(1, 20)) or tostring(args[i]) end
        io.stderr:write('call ', name, '(', table.concat(shown, ', '), ')\n')
      end
      local r = { pcall(f, unpack(args, 1, argc)) }
      if DEBUG then io.stderr:write(name, ' ', tostring(r[1]), ' ', tostring(r[2]), '\n') end
      if r[1] then
        for i = 2, math.min(#r, 4) do
          if r[i] ~= nil and #pool < 48 then pool[#pool + 1] = r[i] end
        end
      else
        -- a Lua error: a message, a luvit error table, mlua's error userdata, or whatever the
        -- program handed over (an unhandled 'error' event re-raises its argument as is); a
        -- swallowed Rust panic is caught by the hook, and shows in mlua's message too
        local shown, text = pcall(tostring, r[2])
        if shown and type(text) == 'string' and text:find('panic', 1, true) then
          return name .. ' raised a panic: ' .. text
        end
      end
    end
  end
end

local function closeAll()
  uv.walk(function(h)
    if not h:is_closing() then pcall(h.close, h) end
  end)
end

-- Runs `body()` under the calls' budget, then closes every handle and lets the loop run
-- out (100 turns at most, their callbacks under the cleanup's budget; once that is spent the
-- handles are closed and their close callbacks left to the next program's cleanup). Returns a
-- message if the program broke the oracle, or the loop did not run out.
function bounded(body)
  ticks, used = CALL_TICKS, 0
  sethook(tick, '', HOOK_EVERY)
  local ok, bad = pcall(body)
  local spent = ticks <= 0
  ticks = CLEANUP_TICKS
  sethook(tick, '', HOOK_EVERY)
  if not ok and not spent then
    bad = 'the harness failed: ' .. tostring(bad)
  elseif not ok then
    bad = nil
  end
  local drained, turns = false, 0
  for _ = 1, 100 do
    turns = turns + 1
    if ticks <= 0 then break end
    local turned = pcall(function()
      closeAll()
      if not uv.loop_alive() then
        drained = true
        return
      end
      uv.run('once')
    end)
    if drained or not turned then break end
  end
  sethook()
  if not drained then
    closeAll()
    -- Every handle closed, the loop turned 100 times (each turn waits for an event), and it
    -- still has work: something keeps it alive that no program can end (the check handle
    -- behind setImmediate, closed, once left it so for good).
    if ticks > 0 and not bad then
      bad = 'the loop stayed alive after every handle was closed (100 turns)'
    end
  end
  if DEBUG then
    io.stderr:write(('fuzz: %d hook ticks, %d turns%s%s\n'):format(used, turns,
      spent and ', the calls\' budget spent' or '', ticks <= 0 and ', the cleanup\'s spent' or ''))
  end
  return bad
end

-- LUVIT_FUZZ_MEM=N: every N programs, a full collection and a report on stderr: the Lua heap,
-- the live handles, and the largest tables reachable from the registry with the path to each
-- (how a queue of setImmediate callbacks that grew by one per program was found).
local MEM = tonumber(os.getenv('LUVIT_FUZZ_MEM') or '')
local programs = 0

local function memReport()
  collectgarbage()
  collectgarbage()
  local handles = 0
  uv.walk(function() handles = handles + 1 end)
  local seen, sizes = {}, {}
  local function reach(v, path, depth)
    local t = type(v)
    if (t ~= 'table' and t ~= 'function' and t ~= 'userdata') or seen[v] or depth > 40 then return end
    seen[v] = true
    local mt = debug.getmetatable(v)
    if mt then reach(mt, path .. '<mt>', depth + 1) end
    if t == 'table' then
      local n = 0
      for k, x in next, v do
        n = n + 1
        reach(k, path .. '<key>', depth + 1)
        reach(x, path .. '.' .. tostring(k):sub(1, 30), depth + 1)
      end
      sizes[#sizes + 1] = { n, path }
    else
      for i = 1, t == 'function' and math.huge or 0 do
        local name, x = debug.getupvalue(v, i)
        if not name then break end
        reach(x, path .. '^' .. name, depth + 1)
      end
      reach(debug.getfenv(v), path .. '<env>', depth + 1)
    end
  end
  reach(debug.getregistry(), 'R', 0)
  table.sort(sizes, function(a, b) return a[1] > b[1] end)
  -- mlua keeps the Lua values Rust holds on a thread in the registry (8,000 slots at most):
  -- its stack's high-water mark rising program after program is a leak of those
  local slots = 0
  for _, v in next, debug.getregistry() do
    if type(v) == 'thread' then slots = math.max(slots, FUZZ_STACK_TOP(v)) end
  end
  io.stderr:write(('mem %d programs: lua %.0f KB, %d handles, mlua slots %d; largest tables:\n'):format(
    programs, collectgarbage('count'), handles, slots))
  for i = 1, math.min(8, #sizes) do
    io.stderr:write(('  %d %s\n'):format(sizes[i][1], sizes[i][2]))
  end
end

function FUZZ(input, reserved)
  local bad = bounded(function() return calls(input, reserved) end)
  programs = programs + 1
  if MEM and programs % MEM == 0 then memReport() end
  return bad
end

-- For the harness's own tests: `code` (Lua source) run as a program is, under the same bounds.
-- For the harness's own tests: the functions a program's bytes choose from.
FUZZ_FNS = FNS

function FUZZ_SOURCE(code)
  return bounded(assert(loadstring(code, '=program')))
end
"#;

/// The largest file a program may write (RLIMIT_FSIZE, with SIGXFSZ ignored so a write past
/// it fails with EFBIG): programs stay off the disk's capacity and out of seconds-long copies
/// (a file truncated to 2^31 bytes and copied took 3 to 6 s).
const FILE_MAX: u64 = 64 << 20;

pub struct Target {
    rt: Runtime,
    fuzz: Function,
    sandbox: std::path::PathBuf,
    /// The working directory, emptied before every program.
    deep: std::path::PathBuf,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.sandbox);
    }
}

/// Removes everything inside `dir` (made writable and searchable first: a program may have
/// chmod'ed it or anything below). Best effort: what cannot go stays.
fn empty_dir(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        if is_dir {
            empty_dir(&path);
            let _ = std::fs::remove_dir(&path);
        } else {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// The file descriptors open in this process now (but the one reading the list: it names the
/// lowest free number, the next a program would get).
fn open_fds() -> Vec<i64> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        // no /proc: at least stdio and the first few (the runtime's own)
        return (0..16).collect();
    };
    dir.flatten()
        .filter(|e| {
            std::fs::read_link(e.path())
                .map_or(true, |t| !t.ends_with("fd") || !t.starts_with("/proc"))
        })
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

fn limit_file_size() {
    let lim = libc::rlimit {
        rlim_cur: FILE_MAX as libc::rlim_t,
        rlim_max: FILE_MAX as libc::rlim_t,
    };
    // SAFETY: ignoring SIGXFSZ and lowering our own limit touch no memory of ours; a failure
    // leaves the default (files unbounded).
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        libc::setrlimit(libc::RLIMIT_FSIZE, &lim);
    }
}

impl Target {
    pub fn new() -> Target {
        let sandbox = std::env::temp_dir().join(format!("luvit-fuzz-api-{}", std::process::id()));
        let deep = sandbox.join("1/2/3/4");
        std::fs::create_dir_all(&deep).expect("sandbox");
        // as /proc/self/fd names it (TMPDIR may pass through a symlink)
        let sandbox = std::fs::canonicalize(&sandbox).expect("sandbox");
        let deep = sandbox.join("1/2/3/4");
        std::env::set_current_dir(&deep).expect("cd sandbox");
        limit_file_size();
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICKED.set(true);
            prev(info);
        }));
        let rt = Runtime::new().expect("runtime");
        let top = rt
            .lua
            .create_function(|_, t: mlua::Thread| {
                // SAFETY: a thread value's pointer is its lua_State, alive while `t` is held;
                // reading its stack top changes nothing.
                Ok(unsafe { mlua::ffi::lua_gettop(t.to_pointer() as *mut mlua::ffi::lua_State) })
            })
            .expect("FUZZ_STACK_TOP");
        rt.lua
            .globals()
            .set("FUZZ_STACK_TOP", top)
            .expect("FUZZ_STACK_TOP");
        // Booted as a thread body: luvit's globals and modules, and no process exit at the end.
        rt.run_thread(BOOT.as_bytes(), mlua::MultiValue::new())
            .expect("boot script");
        let fuzz: Function = rt.lua.globals().get("FUZZ").expect("FUZZ");
        Target {
            rt,
            fuzz,
            sandbox,
            deep,
        }
    }

    pub fn run(&self, data: &[u8]) {
        let before = open_fds();
        let input = self.rt.lua.create_string(data).expect("string");
        let reserved = self.rt.lua.create_table().expect("table");
        for &fd in &before {
            reserved.raw_set(fd, true).expect("set");
        }
        match self.call(&self.fuzz, (input, reserved), &before) {
            Ok(None) => {}
            Ok(Some(why)) => panic!("lua_api: {why}"),
            Err(e) => panic!("lua_api driver failed: {e}"),
        }
    }

    /// Runs Lua `code` as a generated program is run (the same instruction budgets, sandbox and
    /// cleanup): `Ok(Some(message))` when the code returned a message or the oracle broke.
    pub fn run_source(&self, code: &str) -> mlua::Result<Option<String>> {
        let f: Function = self.rt.lua.globals().get("FUZZ_SOURCE")?;
        self.call(&f, code, &open_fds())
    }

    /// The runtime itself, for the harness's own tests.
    pub fn lua(&self) -> &mlua::Lua {
        &self.rt.lua
    }

    fn call(
        &self,
        f: &Function,
        arg: impl mlua::IntoLuaMulti,
        before: &[i64],
    ) -> mlua::Result<Option<String>> {
        empty_dir(&self.deep);
        let _enter = self.rt.el.enter();
        let r = f.call(arg);
        assert!(!PANICKED.replace(false), "a Rust panic crossed into Lua");
        self.close_leaked_files(before);
        r
    }

    /// Closes the descriptors the program left open on files in the sandbox (fs.open's and
    /// fs.openSync's fds are plain numbers no one else owns; about one program in 15 left one,
    /// and a campaign would reach the open-file limit within some 300,000 runs). Sockets, pipes
    /// and the like are left to the runtime, which may own them.
    fn close_leaked_files(&self, before: &[i64]) {
        for fd in open_fds() {
            if before.contains(&fd) {
                continue;
            }
            let Ok(target) = std::fs::read_link(format!("/proc/self/fd/{fd}")) else {
                continue;
            };
            if target.starts_with(&self.sandbox) {
                // SAFETY: a descriptor on a sandbox file the program opened with a Lua call and
                // left open; nothing in the process holds it but that number.
                unsafe { libc::close(fd as libc::c_int) };
            }
        }
    }
}

impl Default for Target {
    fn default() -> Self {
        Target::new()
    }
}
