-- Deep recursion and memory exhaustion inside Lua (`luvit exhaustion.lua MODE`):
--   recursion  runaway recursion in a timer callback, uncaught
--   memory     allocation without end in a timer callback, uncaught (run it under a ulimit)
--   recover    both under pcall (memory twice), then a timer still fires and the program
--              prints 'recovered'
local timer = require('timer')

local function recurse(n)
  return recurse(n + 1) + 1
end

local function hoard()
  local t = {}
  while true do
    t[#t + 1] = string.rep('x', 1024 * 1024) .. #t
  end
end

local mode = args[2]
if mode == 'recursion' then
  timer.setTimeout(1, function() recurse(1) end)
elseif mode == 'memory' then
  timer.setTimeout(1, function() hoard() end)
else
  timer.setTimeout(1, function()
    local ok1, e1 = pcall(recurse, 1)
    local ok2, e2 = pcall(hoard)
    collectgarbage()
    local ok3, e3 = pcall(hoard)
    collectgarbage()
    print('recursion: ' .. tostring(ok1) .. ' ' .. tostring(e1))
    print('memory: ' .. tostring(ok2) .. ' ' .. tostring(e2))
    print('again: ' .. tostring(ok3) .. ' ' .. tostring(e3))
    timer.setTimeout(1, function() print('recovered') end)
  end)
end
