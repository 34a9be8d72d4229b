--[[
buffer: luvit's Buffer, a fixed-size byte array on ffi memory with 1-based indexing
(`buf[1]`), `length`, toString(i, j), read/write of 8/16/32-bit integers in both byte orders,
and Buffer.isBuffer.
]]

local ffi = require('ffi')
local bit = require('bit')
local core = require('core')

ffi.cdef [[
  void *malloc(size_t size);
  void free(void *ptr);
]]

local Buffer = core.Object:extend()
local exports = { Buffer = Buffer }

function Buffer:initialize(length)
  if type(length) == 'number' then
    if length < 0 or length ~= math.floor(length) then
      error("Buffer:new(length): length must be a non-negative integer", 3)
    end
    -- malloc says no to a length no memory can hold (1e15): an error, not a write to NULL
    local p = ffi.C.malloc(length > 0 and length or 1)
    if p == nil then
      error("Buffer:new(length): cannot allocate " .. string.format('%.0f', length) .. " bytes", 3)
    end
    self.length = length
    self.ctype = ffi.gc(ffi.cast('unsigned char*', p), ffi.C.free)
    ffi.fill(self.ctype, length, 0)
  elseif type(length) == 'string' then
    local s = length
    self.length = #s
    self.ctype = ffi.gc(ffi.cast('unsigned char*', ffi.C.malloc(#s > 0 and #s or 1)), ffi.C.free)
    ffi.copy(self.ctype, s, #s)
  else
    error("Buffer:new(length|string): expected a number or a string, got " .. type(length), 3)
  end
end

local function checkIndex(self, i)
  if type(i) ~= 'number' or i < 1 or i > self.length or i ~= math.floor(i) then
    error("buffer index " .. tostring(i) .. " out of range 1.." .. self.length, 3)
  end
end

function Buffer.meta:__index(key)
  if type(key) == 'number' then
    checkIndex(self, key)
    return self.ctype[key - 1]
  end
  return Buffer[key]
end

function Buffer.meta:__newindex(key, value)
  if type(key) == 'number' then
    checkIndex(self, key)
    self.ctype[key - 1] = value
    return
  end
  rawset(self, key, value)
end

function Buffer.meta:__tostring()
  return ffi.string(self.ctype, self.length)
end

function Buffer.meta:__concat(other)
  return tostring(self) .. tostring(other)
end

function Buffer.meta:__len()
  return self.length
end

function Buffer:inspect()
  local parts = {}
  for i = 1, self.length do
    parts[i] = bit.tohex(self.ctype[i - 1], 2)
  end
  return '<Buffer ' .. table.concat(parts, ' ') .. '>'
end

function Buffer:toString(i, j)
  i = i or 1
  j = j or self.length
  if j == i - 1 then return '' end
  if i < 1 or j > self.length or j < i then
    error(("buffer:toString(%d, %d): range out of bounds 1..%d"):format(i, j, self.length), 2)
  end
  return ffi.string(self.ctype + i - 1, j - i + 1)
end

function Buffer.isBuffer(b)
  return type(b) == 'table' and core.instanceof(b, Buffer)
end

local function u8(self, offset)
  checkIndex(self, offset)
  return self.ctype[offset - 1]
end

function Buffer:readUInt8(offset) return u8(self, offset) end
function Buffer:readInt8(offset)
  local v = u8(self, offset)
  return v >= 128 and v - 256 or v
end
function Buffer:readUInt16LE(offset) return u8(self, offset) + u8(self, offset + 1) * 256 end
function Buffer:readUInt16BE(offset) return u8(self, offset) * 256 + u8(self, offset + 1) end
function Buffer:readInt16LE(offset)
  local v = self:readUInt16LE(offset)
  return v >= 32768 and v - 65536 or v
end
function Buffer:readInt16BE(offset)
  local v = self:readUInt16BE(offset)
  return v >= 32768 and v - 65536 or v
end
function Buffer:readUInt32LE(offset)
  return u8(self, offset) + u8(self, offset + 1) * 0x100 + u8(self, offset + 2) * 0x10000 +
    u8(self, offset + 3) * 0x1000000
end
function Buffer:readUInt32BE(offset)
  return u8(self, offset) * 0x1000000 + u8(self, offset + 1) * 0x10000 +
    u8(self, offset + 2) * 0x100 + u8(self, offset + 3)
end
function Buffer:readInt32LE(offset)
  local v = self:readUInt32LE(offset)
  return v >= 0x80000000 and v - 0x100000000 or v
end
function Buffer:readInt32BE(offset)
  local v = self:readUInt32BE(offset)
  return v >= 0x80000000 and v - 0x100000000 or v
end

local function w8(self, offset, value)
  checkIndex(self, offset)
  self.ctype[offset - 1] = bit.band(value, 0xff)
end

function Buffer:writeUInt8(offset, value) w8(self, offset, value) end
function Buffer:writeInt8(offset, value) w8(self, offset, value % 256) end
function Buffer:writeUInt16LE(offset, value)
  w8(self, offset, value)
  w8(self, offset + 1, bit.rshift(value, 8))
end
function Buffer:writeUInt16BE(offset, value)
  w8(self, offset, bit.rshift(value, 8))
  w8(self, offset + 1, value)
end
Buffer.writeInt16LE = function(self, offset, value) Buffer.writeUInt16LE(self, offset, value % 65536) end
Buffer.writeInt16BE = function(self, offset, value) Buffer.writeUInt16BE(self, offset, value % 65536) end
function Buffer:writeUInt32LE(offset, value)
  value = value % 0x100000000
  w8(self, offset, value % 256)
  w8(self, offset + 1, math.floor(value / 0x100) % 256)
  w8(self, offset + 2, math.floor(value / 0x10000) % 256)
  w8(self, offset + 3, math.floor(value / 0x1000000) % 256)
end
function Buffer:writeUInt32BE(offset, value)
  value = value % 0x100000000
  w8(self, offset, math.floor(value / 0x1000000) % 256)
  w8(self, offset + 1, math.floor(value / 0x10000) % 256)
  w8(self, offset + 2, math.floor(value / 0x100) % 256)
  w8(self, offset + 3, value % 256)
end
Buffer.writeInt32LE = Buffer.writeUInt32LE
Buffer.writeInt32BE = Buffer.writeUInt32BE

return exports
