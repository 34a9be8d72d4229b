-- Debugger example: an error no one catches, raised in a function the main chunk calls (the
-- debugger stops where it was raised).
local function parse(text)
  local n = tonumber(text)
  return n + 1
end
print(parse('12'))
print(parse('twelve'))
