-- A program that closes every handle uv.walk shows (stdio and the timer module's own check
-- handle among them), then uses setImmediate: an immediate queued before the close and one
-- after both run, in order, and the process ends. Output goes to stderr (stdout is closed).
local timer = require('timer')
local uv = require('uv')
local order = {}
local function done(tag)
  return function()
    order[#order + 1] = tag
    io.stderr:write('immediate ', tag, '\n')
  end
end
timer.setImmediate(done('a'))
uv.walk(function(h)
  if not h:is_closing() then h:close() end
end)
timer.setImmediate(done('b'))
process:on('exit', function()
  io.stderr:write('order ', table.concat(order, ','), '\n')
end)
