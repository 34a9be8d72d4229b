-- Timers: a timeout, an interval that stops itself, an immediate, and a coroutine that sleeps.
local timer = require('timer')

timer.setTimeout(50, function()
  print('timeout fired after 50 ms')
end)

local ticks = 0
local interval
interval = timer.setInterval(20, function()
  ticks = ticks + 1
  print('interval tick', ticks)
  if ticks == 3 then timer.clearInterval(interval) end
end)

timer.setImmediate(function()
  print('immediate runs before any timer')
end)

coroutine.wrap(function()
  print('coroutine: sleeping 30 ms')
  timer.sleep(30)
  print('coroutine: awake')
end)()
