-- N chained setTimeout(0) callbacks; prints elapsed milliseconds.
local timer = require('timer')
local uv = require('uv')
local N = tonumber(args[2]) or 1000000
local n = 0
local t0 = uv.hrtime()
local function step()
  n = n + 1
  if n < N then return timer.setTimeout(0, step) end
  print(('%.1f'):format((uv.hrtime() - t0) / 1e6))
end
timer.setTimeout(0, step)
