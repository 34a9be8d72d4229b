-- A program under the debugger that shows whether it runs: "tick N" on stdout every 20 ms
-- (tests/debug_faults.rs stops it at the tick line, then kills or starves its debugger).
-- With IDE_PORT set it dials a MobDebug IDE there again on every 25th tick (a no-op while one
-- is attached), so a new IDE can take over after the old one died.
local timer = require('timer')

local count = 0
local function tick()
  count = count + 1
  print('tick ' .. count)
end

timer.setInterval(20, function()
  tick()
  if process.env.IDE_PORT and count % 25 == 0 then
    require('mobdebug').start('127.0.0.1', process.env.IDE_PORT)
  end
end)
