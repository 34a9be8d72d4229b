-- Debugger example: a hot loop (compiled by LuaJIT) that a pause or a new breakpoint must stop.
local n = 0
local i = 0
while true do
  i = i + 1
  n = n + i % 7
  if i > 2e9 then break end
end
print(n)
