--[[
utils: luvit's grab bag. Re-exports pretty-print (dump, prettyPrint, print, colors, stdio
handles) and adds bind, noop, assertResume and adapt (run a uv-style async function with a
callback, or suspend the calling coroutine until it completes).
]]

local pp = require('pretty-print')

local utils = {}
for k, v in pairs(pp) do utils[k] = v end

function utils.bind(fn, self, ...)
  local bound = select('#', ...)
  if bound == 0 then
    return function(...) return fn(self, ...) end
  end
  local args = { ... }
  return function(...)
    local n = select('#', ...)
    local all = { unpack(args, 1, bound) }
    for i = 1, n do all[bound + i] = select(i, ...) end
    return fn(self, unpack(all, 1, bound + n))
  end
end

function utils.noop(err)
  if err then print("Unhandled callback error", err) end
end

-- Resumes `thread`, raising its error (with the coroutine's traceback) if it fails.
function utils.assertResume(thread, ...)
  local ok, err = coroutine.resume(thread, ...)
  if not ok then
    error(debug.traceback(thread, tostring(err)), 0)
  end
end

-- adapt(c, fn, ...): c is a callback (passed as fn's last argument), a coroutine (suspended
-- until fn calls back; returns the results, or nil and the error), or nil (a noop callback).
function utils.adapt(c, fn, ...)
  local n = select('#', ...)
  local args = { ... }
  if c == nil then c = utils.noop end
  local kind = type(c)
  if kind == 'function' then
    args[n + 1] = c
    return fn(unpack(args, 1, n + 1))
  elseif kind ~= 'thread' then
    error("adapt: the continuation must be a function or a coroutine, got " .. kind, 2)
  end
  local done, results, count
  local waiting = false
  args[n + 1] = function(err, ...)
    if err then
      results, count = { nil, err }, 2
    else
      results = { ... }
      count = select('#', ...)
    end
    if waiting then
      utils.assertResume(c, unpack(results, 1, count))
    else
      done = true
    end
  end
  fn(unpack(args, 1, n + 1))
  if done then return unpack(results, 1, count) end
  waiting = true
  return coroutine.yield()
end

return utils
