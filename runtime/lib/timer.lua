--[[
timer: luvit's timer module. setTimeout/setInterval take the delay FIRST and return the uv
timer handle itself (so :unref()/:ref() work); setImmediate runs callbacks in the loop's check
phase; sleep(ms) suspends the calling coroutine.
]]

local uv = require('uv')

local timer = {}

local function checkArgs(name, delay, callback)
  if type(delay) ~= 'number' then
    error(name .. "(delay, callback): delay must be a number, got " .. type(delay), 3)
  end
  if type(callback) ~= 'function' and not (type(callback) == 'table' and getmetatable(callback)
      and getmetatable(callback).__call) then
    error(name .. "(delay, callback): callback must be a function, got " .. type(callback), 3)
  end
end

local function bindArgs(callback, ...)
  local n = select('#', ...)
  if n == 0 then return callback end
  local args = { ... }
  return function() return callback(unpack(args, 1, n)) end
end

function timer.setTimeout(delay, callback, ...)
  checkArgs('setTimeout', delay, callback)
  local t = uv.new_timer()
  local fn = bindArgs(callback, ...)
  t:start(delay, 0, function()
    t:close()
    fn()
  end)
  return t
end

function timer.setInterval(interval, callback, ...)
  checkArgs('setInterval', interval, callback)
  local t = uv.new_timer()
  t:start(interval, interval, bindArgs(callback, ...))
  return t
end

function timer.clearTimer(t)
  if t and not t:is_closing() then
    t:stop()
    t:close()
  end
end
timer.clearTimeout = timer.clearTimer
timer.clearInterval = timer.clearTimer

-- setImmediate: one queue run by a check handle. While callbacks wait, the runtime keeps the
-- loop alive and its poll from blocking (what luvit does with an extra idle handle, without a
-- Lua call per loop iteration).
local runtime = require('runtime')
local queue = {}
local checking = false
-- The check handle is the module's own: registered with the runtime when made, so uv.walk
-- does not list it. Should a program reach it anyway (debug.getupvalue) and close it, the
-- next setImmediate makes another (the runtime dropped the pending mark when it closed; the
-- queue it left runs then).
local checker

local function onCheck()
  local current = queue
  queue = {}
  runtime.setImmediatesPending(false)
  for i = 1, #current do
    current[i]()
  end
  if #queue == 0 then
    checker:stop()
    checking = false
  end
end

local function newChecker()
  checker = uv.new_check()
  checker:unref()
  checking = false
  runtime.setImmediatesPending(false, checker)
end
newChecker()

function timer.setImmediate(callback, ...)
  local mark = #queue == 0
  if checker:is_closing() then
    newChecker()
    mark = true
  end
  if not checking then
    checking = true
    checker:start(onCheck)
  end
  if mark then runtime.setImmediatesPending(true, checker) end
  queue[#queue + 1] = bindArgs(callback, ...)
end

function timer.sleep(delay)
  local thread = coroutine.running()
  if not thread then error("timer.sleep must be called from inside a coroutine", 2) end
  local t = uv.new_timer()
  t:start(delay, 0, function()
    t:close()
    local ok, err = coroutine.resume(thread)
    if not ok then error(debug.traceback(thread, err), 0) end
  end)
  return coroutine.yield()
end

-- Node's legacy enroll/unenroll/active API, on a uv timer kept in the object.
function timer.unenroll(item)
  local t = rawget(item, '_idleTimeoutHandle')
  if t then
    timer.clearTimer(t)
    item._idleTimeoutHandle = nil
  end
  item._idleTimeout = -1
end

function timer.enroll(item, msecs)
  timer.unenroll(item)
  item._idleTimeout = msecs
end

function timer.active(item)
  local msecs = item._idleTimeout
  if not msecs or msecs < 0 then return end
  local t = rawget(item, '_idleTimeoutHandle')
  if not t then
    -- Ref'd, as luvit's timer lists are: a pending socket timeout keeps the loop alive
    -- until it fires or the socket is destroyed (which unenrolls it).
    t = uv.new_timer()
    item._idleTimeoutHandle = t
  end
  t:stop()
  t:start(msecs, 0, function()
    if item.emit then item:emit('timeout') end
    if item._onTimeout then item:_onTimeout() end
  end)
end

return timer
