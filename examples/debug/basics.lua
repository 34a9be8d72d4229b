-- Debugger example: a breakpoint in the main chunk, in a timer callback and in a coroutine.
-- Run with `luvit --inspect-brk examples/debug/basics.lua` and attach a DAP client.
local timer = require('timer')

local function add(a, b)
  local sum = a + b
  return sum
end

local total = add(1, 2)
print('total', total)

timer.setTimeout(10, function()
  local late = add(total, 10)
  print('late', late)
end)

local co = coroutine.create(function(x)
  local y = x * 2
  coroutine.yield(y)
  local z = y + 1
  return z
end)
print('co', coroutine.resume(co, 5))
print('co', coroutine.resume(co))
