-- A CPU-bound program to try the profiler on: `luvit --cpu-prof examples/profile-hot.lua`
-- writes CPU.*.cpuprofile (open it in VS Code or Chrome DevTools), .folded and .svg.
local function fib(n)
  if n < 2 then return n end
  return fib(n - 1) + fib(n - 2)
end

local function busy()
  local t = 0
  for i = 1, 2e7 do t = t + i % 7 end
  return t
end

require('timer').setTimeout(20, function()
  print('fib', fib(25), 'busy', busy())
end)
