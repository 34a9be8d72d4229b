-- Two hot functions doing 3:1 of the work, one in a coroutine, one in a timer callback (both
-- compiled by LuaJIT). `luvit --cpu-prof examples/profile-ratio.lua` shows that ratio, the
-- timer's samples under a `[setTimeout]` origin frame, the coroutine's under `[coroutine]`.
local timer = require('timer')

local function heavy_in_coroutine(n)
  local x = 0
  for i = 1, n do x = (x + i * 7) % 1000003 end
  return x
end

local function light_in_timer(n)
  local x = 0
  for i = 1, n do x = (x + i * 7) % 1000003 end
  return x
end

local N, ROUNDS = 1e6, 25
local rounds = 0
local function round()
  rounds = rounds + 1
  local co = coroutine.create(function()
    for _ = 1, 3 do heavy_in_coroutine(N) end
  end)
  assert(coroutine.resume(co))
  timer.setTimeout(1, function() -- the timer's origin
    light_in_timer(N)
    if rounds < ROUNDS then round() end
  end)
end
round()
