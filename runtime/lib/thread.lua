--[[
thread: luvit's thread module over uv's threads and work queue. Functions run in their own
Lua state: they see their arguments (nil, booleans, numbers, strings), not upvalues.
]]

local uv = require('uv')

local thread = {}

function thread.start(fn, ...)
  return uv.new_thread(fn, ...)
end

function thread.join(t)
  return t:join()
end

function thread.self()
  return uv.thread_self()
end

function thread.equals(a, b)
  return uv.thread_equal(a, b)
end

-- work(fn, notify): a reusable worker; queue(worker, ...) runs fn(...) on the pool and calls
-- notify with its results on the loop thread.
function thread.work(fn, notify)
  return uv.new_work(fn, notify)
end

function thread.queue(worker, ...)
  return uv.queue_work(worker, ...)
end

return thread
