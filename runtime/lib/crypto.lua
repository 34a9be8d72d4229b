--[[
crypto: node's hashing API over RustCrypto crates (crypto-native); no OpenSSL.

  createHash(alg) -> Hash: update(data) (chainable), digest([encoding]), copy()
  createHmac(alg, key) -> Hmac: update(data), digest([encoding])
  hash(alg, data [, encoding]) -> the digest at once ('hex' unless told, as node's)
  randomBytes(n [, callback(err, bytes)]) -> n random bytes (the callback runs on the next tick)
  timingSafeEqual(a, b) -> whether a == b, in time independent of the contents; inputs of
      different lengths are an error, as in node
  getHashes() -> the algorithms: md5, sha1, sha224, sha256, sha384, sha512 (names are
      case-insensitive)
Digest encodings: 'hex', 'base64', 'base64url'; none (or 'latin1', 'binary', 'buffer') gives
the raw bytes as a string. Data and keys are strings or Buffers. A context digests once.
]]

local native = require('crypto-native')
local core = require('core')
local runtime = require('runtime')
local Buffer = require('buffer').Buffer

local exports = {}

local SUPPORTED = {}
for _, name in ipairs(native.algorithms) do SUPPORTED[name] = true end
local LIST = table.concat(native.algorithms, ', ')

local RAW = { latin1 = true, binary = true, buffer = true }
local ENCODED = { hex = true, base64 = true, base64url = true }
local INPUT = { utf8 = true, ['utf-8'] = true, latin1 = true, binary = true }

-- The bytes of a string or Buffer; anything else is an error naming `name`.
local function bytes(data, name, what)
  local t = type(data)
  if t == 'string' then return data end
  if Buffer.isBuffer(data) then return data:toString() end
  error(name .. ': ' .. (what or 'data') .. ' must be a string or Buffer, got ' .. t, 3)
end

local function algorithm(alg, name)
  if type(alg) ~= 'string' then
    error(name .. ': algorithm must be a string, got ' .. type(alg), 3)
  end
  local key = alg:lower()
  if not SUPPORTED[key] then
    error(name .. ": unknown hash algorithm '" .. alg .. "' (supported: " .. LIST .. ')', 3)
  end
  return key
end

local function checkEncoding(encoding, name)
  if encoding == nil or RAW[encoding] or ENCODED[encoding] then return end
  error(name .. ": unknown encoding '" .. tostring(encoding) ..
    "' (use 'hex', 'base64', 'base64url', or none for the raw bytes)", 3)
end

local function encode(raw, encoding)
  if ENCODED[encoding] then return native.encode(raw, encoding) end
  return raw
end

-- Hash and Hmac share one shape over a native context.
local Hash = core.Object:extend()
exports.Hash = Hash
local Hmac = Hash:extend()
exports.Hmac = Hmac

function Hash:initialize(alg)
  self.algorithm = algorithm(alg, 'createHash')
  self._ctx = native.hash(self.algorithm)
end

function Hmac:initialize(alg, key)
  self.algorithm = algorithm(alg, 'createHmac')
  self._ctx = native.hmac(self.algorithm, bytes(key, 'createHmac', 'key'))
end

function Hash:update(data, inputEncoding)
  if inputEncoding ~= nil and not INPUT[inputEncoding] then
    error("update: input encoding '" .. tostring(inputEncoding) .. "' is not supported", 2)
  end
  if not self._ctx:update(bytes(data, 'update')) then
    error('update: digest already called', 2)
  end
  return self
end

function Hash:digest(encoding)
  checkEncoding(encoding, 'digest')
  local raw = self._ctx:digest()
  if raw == nil then error('digest: digest already called', 2) end
  return encode(raw, encoding)
end

function Hash:copy()
  local ctx = self._ctx:copy()
  if ctx == nil then error('copy: digest already called', 2) end
  local copy = setmetatable({ algorithm = self.algorithm, _ctx = ctx }, getmetatable(self))
  return copy
end

-- The checks run here too so that an error points at the caller, not at core's new().
function exports.createHash(alg)
  algorithm(alg, 'createHash')
  return Hash:new(alg)
end

function exports.createHmac(alg, key)
  algorithm(alg, 'createHmac')
  bytes(key, 'createHmac', 'key')
  return Hmac:new(alg, key)
end

function exports.hash(alg, data, encoding)
  local key = algorithm(alg, 'hash')
  local input = bytes(data, 'hash')
  if encoding == nil then encoding = 'hex' end
  checkEncoding(encoding, 'hash')
  local ctx = native.hash(key)
  ctx:update(input)
  return encode(ctx:digest(), encoding)
end

function exports.getHashes()
  local list = {}
  for i, name in ipairs(native.algorithms) do list[i] = name end
  return list
end

local MAX_RANDOM = 2 ^ 31 - 1

function exports.randomBytes(size, callback)
  if type(size) ~= 'number' or size ~= math.floor(size) or size < 0 or size > MAX_RANDOM then
    error('randomBytes: size must be an integer from 0 to ' .. MAX_RANDOM .. ', got ' ..
      tostring(size), 2)
  end
  if callback ~= nil and type(callback) ~= 'function' then
    error('randomBytes: callback must be a function', 2)
  end
  local buf, err = native.random(size)
  if callback then
    if buf then
      runtime.nextTick(callback, nil, buf)
    else
      runtime.nextTick(callback, core.Error:new('randomBytes: ' .. tostring(err)))
    end
    return
  end
  if not buf then error('randomBytes: ' .. tostring(err), 2) end
  return buf
end

function exports.timingSafeEqual(a, b)
  a = bytes(a, 'timingSafeEqual', 'a')
  b = bytes(b, 'timingSafeEqual', 'b')
  if #a ~= #b then
    error('timingSafeEqual: Input buffers must have the same byte length', 2)
  end
  return native.equal(a, b)
end

return exports
