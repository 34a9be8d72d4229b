-- A program that closes every handle uv.walk shows (stdio among them; the timer module's own
-- check handle is not shown), with an immediate queued before the close: it runs, with no
-- later setImmediate to wake it, and queues another that runs too; the process then ends.
-- Output goes to stderr (stdout is closed).
local timer = require('timer')
local uv = require('uv')
local order = {}
local function done(tag, after)
  return function()
    order[#order + 1] = tag
    io.stderr:write('immediate ', tag, '\n')
    if after then timer.setImmediate(after) end
  end
end
timer.setImmediate(done('a', done('b')))
local kinds = {}
uv.walk(function(h)
  kinds[#kinds + 1] = tostring(h):match('^uv_(%a+)') or tostring(h)
  if not h:is_closing() then h:close() end
end)
io.stderr:write('walked ', table.concat(kinds, ','), '\n')
process:on('exit', function()
  io.stderr:write('order ', table.concat(order, ','), '\n')
end)
