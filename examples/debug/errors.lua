-- Debugger example: an uncaught error inside a timer callback stops with reason exception.
local timer = require('timer')

local function explode(what)
  local reason = 'bad ' .. what
  error(reason)
end

timer.setTimeout(5, function()
  explode('thing')
end)
