--[[
ustring: luvit's UTF-8 strings. A ustring is a list of characters (each a Lua string of 1 to 4
bytes) with a metatable: tostring() gives the text back, == compares text, .. joins, and the
string-like functions below work on character positions.
  new(str, allowInvalid)  raises on bytes that are not UTF-8 unless allowInvalid
  chlen(byte)             the length of the sequence a lead byte starts (0: not a lead byte)
  len, sub, copy, rep, reverse, lower, upper (ASCII letters only), format
  find, match, gmatch, gsub   Lua patterns over the text; find's init and results, and
                              match's init, count characters
  index2uindex(u, rawIndex[, startRaw, startChar])  byte position -> character position
  uindex2index(u, charIndex[, startRaw, startChar]) character position -> byte position
]]

local bit = require('bit')

local ustring = {}
local meta = {}

local byte, sub = string.byte, string.sub
local rshift = bit.rshift
local concat = table.concat

function ustring.chlen(lead)
  if rshift(lead, 7) == 0 then return 1 end       -- 0xxxxxxx
  if rshift(lead, 5) == 6 then return 2 end       -- 110xxxxx
  if rshift(lead, 4) == 14 then return 3 end      -- 1110xxxx
  if rshift(lead, 3) == 30 then return 4 end      -- 11110xxx
  return 0
end

local chlen = ustring.chlen

local function isContinuation(b)
  return rshift(b, 6) == 2 -- 10xxxxxx
end

function ustring.new(str, allowInvalid)
  str = str and tostring(str) or ''
  local chars = {}
  local i, n = 1, #str
  while i <= n do
    local size = chlen(byte(str, i))
    if size == 0 then
      if not allowInvalid then
        error(('Invalid UTF-8 sequence at byte %d (0x%02X)'):format(i, byte(str, i)), 2)
      end
      size = 1
    end
    if not allowInvalid then
      for k = i + 1, math.min(i + size - 1, n) do
        if not isContinuation(byte(str, k)) then
          error(('Invalid UTF-8 sequence at byte %d'):format(k), 2)
        end
      end
    end
    chars[#chars + 1] = sub(str, i, i + size - 1)
    i = i + size
  end
  return setmetatable(chars, meta)
end

local function fromChars(list)
  return setmetatable(list, meta)
end

local function asUstring(value)
  if getmetatable(value) == meta then return value end
  return ustring.new(value)
end

function ustring.copy(ustr)
  local list = {}
  for i = 1, #ustr do list[i] = ustr[i] end
  return fromChars(list)
end

ustring.len = rawlen or function(ustr) return #ustr end

-- The character that holds byte rawIndex (counting from startRaw, which is the first byte of
-- character startChar); nil past the end. A negative rawIndex counts bytes from the end and
-- gives a negative character index.
function ustring.index2uindex(ustr, rawIndex, startRaw, startChar)
  if rawIndex < 0 then
    local remaining, index = rawIndex, 0
    repeat
      index = index + 1
      local char = ustr[index]
      if char == nil then return nil end
      remaining = remaining + #char
    until remaining >= 0
    return -index
  end
  local remaining = rawIndex - (startRaw or 1) + 1
  local index = (startChar or 1) - 1
  repeat
    index = index + 1
    local char = ustr[index]
    if char == nil then return nil end
    remaining = remaining - #char
  until remaining <= 0
  return index
end

-- The first byte of character charIndex (default 1). A negative charIndex counts characters
-- from the end and gives a negative byte offset.
function ustring.uindex2index(ustr, charIndex, startRaw, startChar)
  charIndex = charIndex or 1
  if charIndex < 0 then
    local bytes = 0
    for i = #ustr, #ustr + charIndex + 1, -1 do bytes = bytes + #ustr[i] end
    return -bytes
  end
  local raw = startRaw or 1
  for i = startChar or 1, charIndex - 1 do raw = raw + #ustr[i] end
  return raw
end

function ustring.sub(ustr, i, j)
  local n = #ustr
  j = j or -1
  if i < 0 then i = n + i + 1 end
  if j < 0 then j = n + j + 1 end
  local list = {}
  for k = math.max(i, 1), math.min(j, n) do list[#list + 1] = ustr[k] end
  return fromChars(list)
end

function ustring.find(ustr, pattern, init, plain)
  local first, last = string.find(tostring(ustr), tostring(pattern),
    ustring.uindex2index(ustr, init), plain)
  if first == nil then return nil end
  local firstChar = ustring.index2uindex(ustr, first)
  return firstChar, ustring.index2uindex(ustr, last, first, firstChar)
end

function ustring.match(ustr, pattern, init)
  return string.match(tostring(ustr), tostring(pattern), ustring.uindex2index(ustr, init))
end

function ustring.gmatch(ustr, pattern)
  return string.gmatch(tostring(ustr), pattern)
end

-- repl may be a string, a table or a function, as for string.gsub. The result is a ustring
-- (bytes that are not UTF-8 are kept as single characters).
function ustring.gsub(ustr, pattern, repl, n)
  if type(repl) ~= 'function' and type(repl) ~= 'table' then repl = tostring(repl) end
  local text = string.gsub(tostring(ustr), tostring(pattern), repl, n)
  return ustring.new(text, true)
end

function ustring.format(formatString, ...)
  return ustring.new(string.format(tostring(formatString), ...))
end

local function mapChars(ustr, fn)
  local list = {}
  for i = 1, #ustr do list[i] = fn(ustr[i]) end
  return fromChars(list)
end

function ustring.lower(ustr)
  return mapChars(ustr, string.lower)
end

function ustring.upper(ustr)
  return mapChars(ustr, string.upper)
end

function ustring.rep(ustr, n)
  local list, size = {}, #ustr
  for r = 0, n - 1 do
    for i = 1, size do list[r * size + i] = ustr[i] end
  end
  return fromChars(list)
end

function ustring.reverse(ustr)
  local list, n = {}, #ustr
  for i = 1, n do list[i] = ustr[n - i + 1] end
  return fromChars(list)
end

meta.__index = ustring
meta.__len = ustring.len

function meta.__tostring(ustr)
  return concat(ustr)
end

function meta.__eq(a, b)
  return #a == #b and concat(a) == concat(b)
end

-- Either side may also be a plain string.
function meta.__concat(a, b)
  local joined = ustring.copy(asUstring(a))
  local tail = asUstring(b)
  for i = 1, #tail do joined[#joined + 1] = tail[i] end
  return joined
end

return ustring
