-- A stop under ten coroutines, each resumed by the one before, each 900 calls deep: 9,000
-- frames, more than LuaJIT's 8,000 C-stack slots, where mlua keeps the Lua values Rust holds.
-- tests/debug_faults.rs stops at the marked line and walks the whole stack.
local DEPTH, LEVELS = 900, 10
local function dive(n, k)
  if n > 0 then return dive(n - 1, k) + 0 end
  if k > 1 then
    return coroutine.wrap(function() return dive(DEPTH, k - 1) end)()
  end
  local marker = k -- stop here (line 10)
  return marker
end
print(dive(DEPTH, LEVELS))
