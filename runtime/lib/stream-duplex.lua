--[[
stream-duplex: Duplex, a stream that is both Readable (its class) and Writable (whose
methods it borrows). Options go to both sides; readableObjectMode / writableObjectMode set
objectMode for one side only; readable = false / writable = false mark a side unusable;
allowHalfOpen = false ends the writable side when the readable side ends (default: true,
each side ends on its own).
]]

local Readable = require('stream-readable').Readable
local Writable = require('stream-writable').Writable
local defer = require('stream-core').defer

local exports = {}

local Duplex = Readable:extend()
exports.Duplex = Duplex

-- Writable's methods, where Readable has none of the same name (pipe, on, destroy and the
-- class plumbing stay Readable's).
for key, value in pairs(Writable) do
  if key ~= 'meta' and key ~= 'super' and Duplex[key] == nil then
    Duplex[key] = value
  end
end

local function sideOptions(options, objectModeKey)
  local side = {}
  for key, value in pairs(options) do side[key] = value end
  side.objectMode = options.objectMode or options[objectModeKey] or false
  return side
end

function Duplex:initialize(options)
  options = options or {}
  Readable.initialize(self, sideOptions(options, 'readableObjectMode'))
  Writable.initialize(self, sideOptions(options, 'writableObjectMode'))
  if options.readable == false then self.readable = false end
  if options.writable == false then self.writable = false end
  self.allowHalfOpen = options.allowHalfOpen ~= false
  self:once('end', function()
    if self.allowHalfOpen or self._writableState.ended then return end
    -- No more data can come in; let writes made in this tick through, then end.
    defer(function() self:_end() end)
  end)
end

return exports
