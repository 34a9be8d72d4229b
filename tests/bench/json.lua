-- json.parse and json.stringify of a ~5 MB document; prints "parse_ms stringify_ms bytes".
-- `json.lua cpu` times with the process's CPU time instead of the wall clock (steadier on a
-- shared machine, for comparing two luvit builds; json_ab.py --cpu).
local json = require('json')
local uv = require('uv')
local now = uv.hrtime
if args[2] == 'cpu' then
  now = function() return os.clock() * 1e9 end
end
local items = {}
for i = 1, 40000 do
  items[i] = { id = i, name = 'item number ' .. i, price = i * 1.25, tags = { 'a', 'b', 'c' },
    active = i % 2 == 0, nested = { x = i, y = -i, label = 'nested "quoted" text' } }
end
local text = json.stringify({ items = items, count = #items })
local best_p, best_s = math.huge, math.huge
for _ = 1, 5 do
  local t0 = now()
  local doc = json.parse(text)
  local t1 = now()
  local out = json.stringify(doc)
  local t2 = now()
  assert(#out > 0)
  best_p = math.min(best_p, (t1 - t0) / 1e6)
  best_s = math.min(best_s, (t2 - t1) / 1e6)
end
print(('%.1f %.1f %d'):format(best_p, best_s, #text))
