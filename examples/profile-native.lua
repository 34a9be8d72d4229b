-- Work done on the native side (JSON in Rust, gzip in flate2), to try the native profiler on:
-- `luvit --native-prof examples/profile-native.lua` writes NATIVE.*.pb.gz (open it with
-- `go tool pprof` or speedscope) and NATIVE.*.svg, a flamegraph of the Rust and C stacks.
local json = require('json')
local zlib = require('zlib')
local timer = require('timer')

local doc = {}
for i = 1, 3000 do
  doc[i] = { id = i, name = 'item ' .. i, tags = { 'red', 'green', 'blue' }, price = i * 1.25 }
end

local rounds = 0
local function round()
  rounds = rounds + 1
  local text = json.stringify(doc)
  local back = json.parse(text)
  local packed = zlib.gzipSync(text)
  assert(#zlib.gunzipSync(packed) == #text and #back == #doc)
  if rounds < 60 then
    timer.setTimeout(0, round)
  else
    print('rounds', rounds, 'bytes', #text, 'gzipped', #packed)
  end
end
round()
