-- Loaded by late-attach.lua after the debugger attached: breakpoints set here beforehand hit.
local M = {}

function M.run(v)
  local doubled = v * 2
  print('later', doubled)
  return doubled
end

return M
