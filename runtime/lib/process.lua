--[[
process: luvit's process module. `globalProcess(args)` builds the global `process`: an Emitter
with argv, env (a live proxy; pairs works), pid, exitCode, exit, cwd, kill, nextTick,
memoryUsage, cpuUsage, hrtime, uptime, versions, and stdin/stdout/stderr streams made on first
use. Listening for a signal name ('SIGINT', 'SIGUSR1' ...) watches that signal without keeping
the process alive; 'exit' is emitted once, with the exit code, when the process ends.
]]

local uv = require('uv')
local runtime = require('runtime')
local core = require('core')

local exports = {}

-- env.iterate(): luvit's iterator over the variables (pairs(process.env) works too).
local function iterateEnv()
  local all = uv.os_environ()
  return function(_, k) return next(all, k) end, all, nil
end

local env = setmetatable({}, {
  __index = function(_, key)
    if key == 'iterate' then return iterateEnv end
    return uv.os_getenv(key)
  end,
  __newindex = function(_, key, value)
    if value == nil then uv.os_unsetenv(key) else uv.os_setenv(key, tostring(value)) end
  end,
  __pairs = iterateEnv,
})
exports.env = env

function exports.nextTick(callback, ...)
  runtime.nextTick(callback, ...)
end

function exports.cwd()
  return assert(uv.cwd())
end

function exports.kill(pid, signal)
  return uv.kill(pid, signal or 'sigterm')
end

function exports.memoryUsage()
  return {
    rss = uv.resident_set_memory(),
    heapUsed = collectgarbage('count') * 1024,
    heapTotal = collectgarbage('count') * 1024,
  }
end

function exports.cpuUsage(previous)
  local r = uv.getrusage()
  local user = r.utime.sec * 1e6 + r.utime.usec
  local system = r.stime.sec * 1e6 + r.stime.usec
  if previous then
    user, system = user - previous.user, system - previous.system
  end
  return { user = user, system = system }
end

-- hrtime([previous]) -> { seconds, nanoseconds }, like node's process.hrtime.
function exports.hrtime(previous)
  local ns = uv.hrtime()
  local sec, nsec = math.floor(ns / 1e9), ns % 1e9
  if previous then
    sec, nsec = sec - previous[1], nsec - previous[2]
    if nsec < 0 then sec, nsec = sec - 1, nsec + 1e9 end
  end
  return { sec, nsec }
end

local signalNames = {
  SIGHUP = true, SIGINT = true, SIGQUIT = true, SIGUSR1 = true, SIGUSR2 = true, SIGPIPE = true,
  SIGALRM = true, SIGTERM = true, SIGCHLD = true, SIGCONT = true, SIGTSTP = true, SIGTTIN = true,
  SIGTTOU = true, SIGWINCH = true, SIGBREAK = true, SIGPROF = true, SIGXCPU = true,
}

local Process = core.Emitter:extend()

-- Each function works called either way: process.cpuUsage(prev) or process:cpuUsage(prev).
local function method(fn)
  return function(self, ...)
    if self == process or getmetatable(self) == Process.meta then return fn(...) end
    return fn(self, ...)
  end
end

function Process:initialize(args)
  self.argv = args
  self.env = env
  self.pid = uv.os_getpid()
  self.exitCode = 0
  self.versions = runtime.versions
  self.version = 'v' .. runtime.versions.luvit
  self.platform = 'linux'
  self.arch = jit and jit.arch or 'x64'
  self.execPath = uv.exepath()
  self.title = 'luvit'
  self.nextTick = method(exports.nextTick)
  self.cwd = method(exports.cwd)
  self.kill = method(exports.kill)
  self.memoryUsage = method(exports.memoryUsage)
  self.cpuUsage = method(exports.cpuUsage)
  self.hrtime = method(exports.hrtime)
  self.uptime = method(function() return uv.uptime() end)
  self._signals = {}
end

-- process.exit(code): emits 'exit', flushes output, ends the process.
function Process:exit(code)
  if type(self) == 'number' or self == nil then code = self end
  return runtime.exit(code or process.exitCode or 0)
end

-- Signal listeners start a (non-ref'd) watcher; removing the last one stops it.
function Process:on(name, callback)
  core.Emitter.on(self, name, callback)
  local upper = type(name) == 'string' and name:upper()
  if upper and signalNames[upper] and not self._signals[upper] then
    local h = uv.new_signal()
    h:unref()
    h:start(upper:lower(), function() self:emit(name, upper) end)
    self._signals[upper] = h
  end
  return self
end

function Process:removeListener(name, callback)
  core.Emitter.removeListener(self, name, callback)
  local upper = type(name) == 'string' and name:upper()
  local h = upper and self._signals[upper]
  if h and self:listenerCount(name) == 0 then
    h:stop()
    h:close()
    self._signals[upper] = nil
  end
  return self
end

-- stdin/stdout/stderr are made on first use (most scripts never touch them).
local streams = {
  stdin = function() return require('uv-stream').readable(0) end,
  stdout = function() return require('uv-stream').writable(1) end,
  stderr = function() return require('uv-stream').writable(2) end,
}
local classIndex = Process.meta.__index
Process.meta.__index = function(self, key)
  local make = streams[key]
  if make then
    local s = make()
    rawset(self, key, s)
    return s
  end
  if type(classIndex) == 'function' then return classIndex(self, key) end
  return classIndex[key]
end

exports.Process = Process

function exports.globalProcess(args)
  local process = Process:new(args or {})
  -- luvit's hooks: 'process.exit' / 'process.uncaughtException' emitted there reach process.
  local hooks = require('hooks')
  hooks:on('process.exit', function(...) process:emit('exit', ...) end)
  hooks:on('process.uncaughtException', function(...) process:emit('uncaughtException', ...) end)
  return process
end

return exports
