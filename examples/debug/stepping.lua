-- Debugger example: stepping over a line that yields (timer.sleep) inside a coroutine while
-- other timers keep running, and async stack traces.
local timer = require('timer')

local state = { ticks = 0 }
local ticker = timer.setInterval(1, function()
  state.ticks = state.ticks + 1
end)

local function work(n)
  local before = n
  timer.sleep(20)
  local after = before + 1 + state.ticks * 0
  return after
end

coroutine.wrap(function()
  local r = work(41)
  print('result', r)
  timer.clearInterval(ticker)
end)()
