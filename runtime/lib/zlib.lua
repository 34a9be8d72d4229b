--[[
zlib: compression in two dialects over one native codec (zlib-native: flate2, no C zlib).

lua-zlib's API (luvi bundles lua-zlib, so code written for luvit uses it):
  deflate([level] [, windowBits]) -> stream; stream(input [, 'sync'|'full'|'finish'])
      -> output, eof, bytes_in, bytes_out. No input (or nil) finishes the stream.
  inflate([windowBits]) -> stream; stream(input) -> output, eof, bytes_in, bytes_out.
      eof is true at the end of the compressed stream; input past it is not consumed
      (bytes_in says how much was). A closed stream called with input raises 'IllegalState: ...'.
  windowBits: 8..15 zlib, 16 + that gzip, negative raw; for inflate 32 + that (the default)
  takes zlib or gzip by the header. Corrupt input raises 'InvalidInput: <zlib's message>'.
  adler32(), crc32(): running checksums f; f(data) and f() -> checksum, length; f(g) appends
  the data another checksum function g has seen. crc32(data [, value]) is also node's one-shot.
  version() -> 1, 3, 1: the zlib release whose formats and messages we follow.

node's API:
  deflateSync, inflateSync, gzipSync, gunzipSync, deflateRawSync, inflateRawSync, unzipSync
      (data [, options]) -> string; bad input raises '<name>Sync: <zlib's message>'.
  deflate, inflate (with a callback; without one they are lua-zlib's), gzip, gunzip,
      deflateRaw, inflateRaw, unzip (data [, options], callback(err, result)): the callback
      runs on the next tick; err is a core.Error with node's .code ('Z_DATA_ERROR', ...).
  createDeflate, createInflate, createGzip, createGunzip, createDeflateRaw, createInflateRaw,
      createUnzip(options) and the classes Deflate, Inflate, ...: Transform streams; bad
      input emits 'error'. gunzip and unzip read every member of a multi-member gzip file.
  options: level (-1..9, default 6); windowBits is checked but the window is always 32K;
  dictionaries are not supported. Data is a string or a Buffer.
]]

local native = require('zlib-native')
local core = require('core')
local runtime = require('runtime')
local Transform = require('stream').Transform
local Buffer = require('buffer').Buffer

local exports = {}

exports.BEST_SPEED = 1
exports.BEST_COMPRESSION = 9
exports._VERSION = 'lua-zlib API, luvit-rs implementation'
exports.constants = {
  Z_NO_FLUSH = 0, Z_PARTIAL_FLUSH = 1, Z_SYNC_FLUSH = 2, Z_FULL_FLUSH = 3, Z_FINISH = 4,
  Z_OK = 0, Z_STREAM_END = 1, Z_NEED_DICT = 2, Z_STREAM_ERROR = -2, Z_DATA_ERROR = -3,
  Z_BUF_ERROR = -5, Z_NO_COMPRESSION = 0, Z_BEST_SPEED = 1, Z_BEST_COMPRESSION = 9,
  Z_DEFAULT_COMPRESSION = -1,
}

local ERRNO = { Z_NEED_DICT = 2, Z_STREAM_ERROR = -2, Z_DATA_ERROR = -3, Z_BUF_ERROR = -5 }
-- lua-zlib's error prefixes by zlib code.
local LZ_PREFIX = {
  Z_DATA_ERROR = 'InvalidInput', Z_NEED_DICT = 'RequiresDictionary',
  Z_STREAM_ERROR = 'InternalError', Z_BUF_ERROR = 'InternalError',
}

-- The bytes of a string, number or Buffer; anything else is an error naming `name`, blamed
-- on the function `level` frames up from bytes' caller (default 2: the caller's caller).
local function bytes(data, name, level)
  local t = type(data)
  if t == 'string' then return data end
  if t == 'number' then return tostring(data) end
  if Buffer.isBuffer(data) then return data:toString() end
  error(name .. ': data must be a string or Buffer, got ' .. t, (level or 2) + 1)
end

local function isInteger(n)
  return type(n) == 'number' and n == math.floor(n)
end

function exports.version()
  local major, minor, patch = native.version:match('^(%d+)%.(%d+)%.?(%d*)')
  return tonumber(major), tonumber(minor), tonumber(patch)
end

----------------------------------------------------------------------------------------------
-- lua-zlib

-- The format a zlib windowBits value selects, or nil when it is out of range.
local function deflateFormat(wb)
  if wb >= 8 and wb <= 15 then return 'zlib' end
  if wb >= 24 and wb <= 31 then return 'gzip' end
  if wb >= -15 and wb <= -8 then return 'raw' end
end

local function inflateFormat(wb)
  if wb == 0 or (wb >= 8 and wb <= 15) then return 'zlib' end
  if wb >= 24 and wb <= 31 then return 'gzip' end
  if wb == 32 or (wb >= 40 and wb <= 47) then return 'auto' end
  if wb >= -15 and wb <= -8 then return 'raw' end
end

local FLUSH = { none = true, sync = true, full = true, finish = true }

-- The stream function over one codec; `deflating` tells which of lua-zlib's two it is.
local function streamFunction(codec, deflating)
  local name = deflating and 'deflate' or 'inflate'
  local closed, total_in, total_out = false, 0, 0
  return function(...)
    local input, flush = ...
    if deflating and flush ~= nil and not FLUSH[flush] then
      error("bad argument #2 to '" .. name .. "' (invalid option '" .. tostring(flush) .. "')", 2)
    end
    if input ~= nil then input = bytes(input, name .. ' stream') end
    if closed then
      if input ~= nil and input ~= '' then
        error('IllegalState: calling ' .. name .. ' function when stream was previously closed', 2)
      end
      return '', true, total_in, total_out
    end
    local out, eof, bin, bout
    if deflating then
      if input == nil then flush = 'finish' end
      out, eof, bin, bout = codec:write(input or '', flush)
    else
      out, eof, bin, bout = codec:write(input or '')
    end
    if not out then
      -- eof and bin are the message and code here.
      closed = true
      error((LZ_PREFIX[bin] or 'ZLibError') .. ': ' .. eof, 2)
    end
    closed, total_in, total_out = eof, bin, bout
    return out, eof, bin, bout
  end
end

local function luaDeflate(level, windowBits)
  if level == nil or level == -1 then level = 6 end
  if not isInteger(level) or level < 0 or level > 9 then
    error("bad argument #1 to 'deflate' (level must be an integer from -1 to 9)", 3)
  end
  local wb = windowBits == nil and 15 or windowBits
  local format = isInteger(wb) and deflateFormat(wb)
  if not format then
    error("bad argument #2 to 'deflate' (windowBits " .. tostring(wb) .. ' is out of range)', 3)
  end
  return streamFunction(native.deflater(format, level), true)
end

local function luaInflate(windowBits)
  local wb = windowBits == nil and 47 or windowBits
  local format = isInteger(wb) and inflateFormat(wb)
  if not format then
    error("bad argument #1 to 'inflate' (windowBits " .. tostring(wb) .. ' is out of range)', 3)
  end
  return streamFunction(native.inflater(format, false), false)
end

-- A factory of running checksums: f(data) and f() -> checksum, length; f(g) appends g's.
local function checksumFactory(name, update, combine, initial)
  return function()
    local sum, len = initial, 0
    return function(...)
      if select('#', ...) == 0 then return sum, len end
      local input = ...
      if type(input) == 'function' then
        local other, otherLen = input()
        if type(other) ~= 'number' or type(otherLen) ~= 'number' then
          error("bad argument #1 to '" .. name .. "' (expected function to return two numbers)", 2)
        end
        sum = combine(sum, other, otherLen)
        len = len + otherLen
      else
        input = bytes(input, name)
        sum = update(input, sum)
        len = len + #input
      end
      return sum, len
    end
  end
end

local crc32Factory = checksumFactory('crc32', native.crc32, native.crc32_combine, 0)
local adler32Factory = checksumFactory('adler32', native.adler32, native.adler32_combine, 1)

-- crc32() is lua-zlib's factory; crc32(data [, value]) is node's one-shot.
function exports.crc32(data, value)
  if data == nil then return crc32Factory() end
  if value ~= nil and (not isInteger(value) or value < 0 or value > 0xffffffff) then
    error("zlib.crc32: value must be a 32-bit unsigned integer", 2)
  end
  return native.crc32(bytes(data, 'zlib.crc32'), value or 0)
end

function exports.adler32(data, value)
  if data == nil then return adler32Factory() end
  if value ~= nil and (not isInteger(value) or value < 0 or value > 0xffffffff) then
    error("zlib.adler32: value must be a 32-bit unsigned integer", 2)
  end
  return native.adler32(bytes(data, 'zlib.adler32'), value or 1)
end

----------------------------------------------------------------------------------------------
-- node

-- Per node name: the codec kind, the format, and whether every gzip member is read.
local KINDS = {
  deflate = { deflating = true, format = 'zlib' },
  inflate = { format = 'zlib' },
  gzip = { deflating = true, format = 'gzip' },
  gunzip = { format = 'gzip', multi = true },
  deflateRaw = { deflating = true, format = 'raw' },
  inflateRaw = { format = 'raw' },
  unzip = { format = 'auto', multi = true },
}

local function zlibError(message, code)
  local err = core.Error:new(message)
  err.code = code
  err.errno = ERRNO[code]
  return err
end

-- Checks node's options; errors name `name` and are blamed as bytes' are.
local function checkOptions(options, name, level)
  level = (level or 2) + 1
  if options ~= nil and type(options) ~= 'table' then
    error(name .. ': options must be a table', level)
  end
  options = options or {}
  local lvl = options.level
  if lvl == nil or lvl == -1 then lvl = 6 end
  if not isInteger(lvl) or lvl < 0 or lvl > 9 then
    error(name .. ': options.level must be an integer from -1 to 9, got ' .. tostring(options.level), level)
  end
  local wb = options.windowBits
  if wb ~= nil and (not isInteger(wb) or wb < 8 or wb > 15) then
    error(name .. ': options.windowBits must be an integer from 8 to 15, got ' .. tostring(wb), level)
  end
  if options.dictionary ~= nil then
    error(name .. ': options.dictionary is not supported', level)
  end
  return lvl
end

-- A codec for node's `kind` (options already checked).
local function newCodec(kind, options)
  local k = KINDS[kind]
  if k.deflating then return native.deflater(k.format, checkOptions(options, kind)) end
  return native.inflater(k.format, k.multi)
end

-- All of `data` through a fresh codec: the result, or nil, message, code.
local function whole(codec, deflating, data)
  local out, ended, code
  if deflating then
    out, ended, code = codec:write(data, 'finish')
  else
    out, ended, code = codec:write(data)
  end
  if not out then return nil, ended, code end
  if not ended then return nil, 'unexpected end of file', 'Z_BUF_ERROR' end
  return out
end

for kind, k in pairs(KINDS) do
  local syncName = kind .. 'Sync'
  exports[syncName] = function(data, options)
    local input = bytes(data, syncName)
    checkOptions(options, syncName)
    local codec = newCodec(kind, options)
    local out, message = whole(codec, k.deflating, input)
    if not out then error(syncName .. ': ' .. message, 2) end
    return out
  end

  -- Called by the exported function, so errors blame the frame above that (level 3).
  local function async(data, options, callback)
    if callback == nil and type(options) == 'function' then options, callback = nil, options end
    local name = 'zlib.' .. kind
    if type(callback) ~= 'function' then error(name .. ': callback must be a function', 3) end
    local input = bytes(data, name, 3)
    checkOptions(options, name, 3)
    local codec = newCodec(kind, options)
    runtime.nextTick(function()
      local out, message, code = whole(codec, k.deflating, input)
      if out then return callback(nil, out) end
      callback(zlibError(message, code))
    end)
  end

  if kind == 'deflate' or kind == 'inflate' then
    -- With a callback: node's; otherwise lua-zlib's stream constructor.
    local luaStyle = kind == 'deflate' and luaDeflate or luaInflate
    exports[kind] = function(a, b, c)
      if type(b) == 'function' or type(c) == 'function' then
        async(a, b, c)
        return
      end
      if type(a) == 'string' or type(a) == 'table' then
        error('zlib.' .. kind .. '(data, [options,] callback): callback must be a function', 2)
      end
      local stream = luaStyle(a, b) -- not a tail call: errors blame our caller
      return stream
    end
  else
    exports[kind] = function(data, options, callback)
      async(data, options, callback)
    end
  end
end

-- The Transform stream of every kind: input is pushed through the codec as it arrives.
local Zlib = Transform:extend()
exports.Zlib = Zlib

function Zlib:initialize(kind, options)
  Transform.initialize(self, options)
  self._kind = kind
  self._deflating = KINDS[kind].deflating
  checkOptions(options, 'zlib stream')
  self._codec = newCodec(kind, options)
  self.bytesWritten = 0
end

function Zlib:_transform(chunk, callback)
  if self._failed then return callback() end
  local ok, input = pcall(bytes, chunk, 'zlib stream')
  if not ok then
    self._failed = true
    return callback(core.Error:new(input))
  end
  local out, ended, totalIn = self._codec:write(input)
  if not out then
    -- ended and totalIn are the message and code here.
    self._failed = true
    return callback(zlibError(ended, totalIn))
  end
  self.bytesWritten = totalIn
  if #out > 0 then self:push(out) end
  callback()
end

function Zlib:_flush(callback)
  if self._failed then return callback() end
  local out, ended, code
  if self._deflating then
    out, ended, code = self._codec:write('', 'finish')
  else
    out, ended, code = self._codec:write('')
    if out and not ended then out, ended, code = nil, 'unexpected end of file', 'Z_BUF_ERROR' end
  end
  if not out then
    self._failed = true
    return callback(zlibError(ended, code))
  end
  if #out > 0 then self:push(out) end
  callback()
end

local CLASSES = {
  Deflate = 'deflate', Inflate = 'inflate', Gzip = 'gzip', Gunzip = 'gunzip',
  DeflateRaw = 'deflateRaw', InflateRaw = 'inflateRaw', Unzip = 'unzip',
}

for className, kind in pairs(CLASSES) do
  local Class = Zlib:extend()
  function Class:initialize(options)
    Zlib.initialize(self, kind, options)
  end
  exports[className] = Class
  local name = 'zlib.create' .. className
  exports['create' .. className] = function(options)
    checkOptions(options, name)
    local stream = Class:new(options)
    return stream
  end
end

return exports
