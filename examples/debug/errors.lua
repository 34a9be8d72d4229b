-- Debugger example: an error caught by pcall (stops only with the "All Errors" filter), then an
-- uncaught error inside a timer callback (stops with reason exception).
local timer = require('timer')

local function explode(what)
  local reason = 'bad ' .. what
  error(reason)
end

print('pcall caught:', pcall(explode, 'caught'))

timer.setTimeout(5, function()
  explode('thing')
end)
