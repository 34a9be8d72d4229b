-- Debugger example: a program written for ZeroBrane Studio that starts the debugger itself
-- (require('mobdebug').start()); its coroutine exists before the IDE attaches.
local timer = require('timer')
local co = coroutine.create(function()
  for i = 1, 3 do
    local v = i * 10
    coroutine.yield(v)
  end
end)
print('first', coroutine.resume(co))
require('mobdebug').start('127.0.0.1', tonumber(process.env.IDE_PORT) or 8172)
timer.setTimeout(10, function()
  print('timer', coroutine.resume(co))
end)
