-- Debugger example: values to inspect (a paged table, a metatable, a class instance, strings
-- that need escaping, functions), a logpoint and a hit-count breakpoint in a loop.
local Emitter = require('core').Emitter

local list = {}
for i = 1, 250 do list[i] = i * i end
local text = 'tab\there "quoted"\nnext'
local point = setmetatable({ x = 1, y = 2 }, { __tostring = function() return 'P' end })
local emitter = Emitter:new()
local function helper(a) return a end

local total = 0
for i = 1, 10 do
  total = total + i
  local note = i
end
print('done', total, #list, text:len(), point.x, emitter ~= nil, helper(1))
