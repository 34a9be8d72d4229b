-- Debugger example: a coroutine that starts before any debugger attaches, and a module loaded
-- later. Run with `luvit --inspect examples/debug/late-attach.lua`, attach within a second,
-- set breakpoints on line 9 here and in lib/later.lua.
local timer = require('timer')

local worker = coroutine.wrap(function()
  for i = 1, 60 do
    timer.sleep(50)
    local v = i * 2
    if i == 40 then
      require('./lib/later').run(v)
    end
  end
  print('worker done')
end)
worker()
