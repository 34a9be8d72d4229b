-- A loop that stalls: run with `luvit --loop-prof examples/profile-loop.lua` and the report
-- names the timer that blocked (scheduled on the line marked below) and where its time went.
local timer = require('timer')
local json = require('json')

local function render(rows)
  -- CPU-bound work done inside a callback: it blocks every other callback meanwhile.
  local deadline = os.clock() + 0.2
  local out
  while os.clock() < deadline do
    out = json.stringify(rows)
  end
  return out
end

local rows = {}
for i = 1, 200 do rows[i] = { id = i, name = 'row ' .. i, tags = { 'a', 'b' } } end

local ticks = 0
local heartbeat
heartbeat = timer.setInterval(10, function()
  ticks = ticks + 1
  if ticks >= 30 then timer.clearInterval(heartbeat) end
end)

timer.setTimeout(50, function() -- the blocking callback
  render(rows)
end)
