-- Prints FLOOD_MB megabytes (default 200) to stdout, 1 MiB a turn, then creates the
-- file FLOOD_DONE and prints a tick every 50 ms for 20 s before it ends by itself.
-- tests/debug_output.rs runs it under a debugger client that stops reading meanwhile: the
-- program must neither wait for the client nor hold its output in memory, and the client,
-- once it reads again, hears how much output it missed.
local timer = require('timer')
local fs = require('fs')

local block = string.rep(string.rep('x', 1023) .. '\n', 64) -- 64 KiB
local turns = tonumber(process.env.FLOOD_MB) or 200

local function ticks()
  local n = 0
  local t
  t = timer.setInterval(50, function()
    n = n + 1
    print('tick ' .. n)
    if n >= 400 then timer.clearInterval(t) end
  end)
end

local turn = 0
local function flood()
  turn = turn + 1
  if turn > turns then
    fs.writeFileSync(process.env.FLOOD_DONE, 'done')
    return ticks()
  end
  -- the next turn once these writes are done (they are queued on the stream, and the
  -- marker must mean they all went out)
  local left = 16
  for _ = 1, 16 do
    process.stdout:write(block, function()
      left = left - 1
      if left == 0 then timer.setImmediate(flood) end
    end)
  end
end
flood()
