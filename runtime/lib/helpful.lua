--[[
helpful: luvit's "did you mean?" helper. helpful(prefix, mod) gives mod (require(prefix) when
mod is nil) a metatable whose __index, on a missing string key, prints a warning naming the
existing key closest to it (Levenshtein distance) and returns nil. Like luvit, loading it also
adds two functions to the string library: string.levenshtein(a, b), and
string.luvitGlobalExtend(), which makes `fmt % { ... }` mean fmt:format(...).
]]

local colorize = require('pretty-print').colorize

local byte, min = string.byte, math.min

-- Edit distance between two strings, keeping one row of the table at a time.
local function levenshtein(a, b)
  if a == b then return 0 end
  local la, lb = #a, #b
  if la == 0 then return lb end
  if lb == 0 then return la end
  local previous = {}
  for j = 0, lb do previous[j] = j end
  for i = 1, la do
    local current = { [0] = i }
    local ca = byte(a, i)
    for j = 1, lb do
      local cost = ca == byte(b, j) and 0 or 1
      current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
    end
    previous = current
  end
  return previous[lb]
end

string.levenshtein = levenshtein

function string.luvitGlobalExtend()
  getmetatable('').__mod = function(fmt, values)
    return fmt:format(unpack(values))
  end
end

return function(prefix, mod)
  if mod == nil then mod = require(prefix) end
  return setmetatable(mod, {
    __index = function(tbl, wanted)
      if type(wanted) ~= 'string' then return nil end
      local best, bestDistance = nil, math.huge
      for key in pairs(tbl) do
        if type(key) == 'string' then
          local distance = levenshtein(key, wanted)
          if distance < bestDistance then best, bestDistance = key, distance end
        end
      end
      local message = 'Warning: ' .. colorize('failure', prefix .. '.' .. wanted) .. ' is nil'
      if best then
        message = message .. ', did you mean ' .. colorize('success', prefix .. '.' .. best) .. '?'
      end
      print(message)
      return nil
    end,
  })
end
