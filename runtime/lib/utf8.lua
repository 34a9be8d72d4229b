--[[
utf8: Lua 5.3's utf8 library for LuaJIT (luvi provides one as the global `utf8`): char,
charpattern, codes, codepoint, len, offset. Strict UTF-8: overlong forms, surrogates and
code points above U+10FFFF are invalid.
]]

local byte, char, floor = string.byte, string.char, math.floor

local utf8 = {}

utf8.charpattern = '[\0-\x7F\xC2-\xFD][\x80-\xBF]*'

local function encode(cp)
  if cp < 0 or cp > 0x7FFFFFFF or cp ~= floor(cp) then
    error("bad argument to 'char' (value out of range)", 3)
  end
  if cp < 0x80 then return char(cp) end
  if cp < 0x800 then
    return char(0xC0 + floor(cp / 0x40), 0x80 + cp % 0x40)
  end
  if cp < 0x10000 then
    return char(0xE0 + floor(cp / 0x1000), 0x80 + floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
  end
  return char(0xF0 + floor(cp / 0x40000), 0x80 + floor(cp / 0x1000) % 0x40,
    0x80 + floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
end

function utf8.char(...)
  local out = {}
  for i = 1, select('#', ...) do out[i] = encode((select(i, ...))) end
  return table.concat(out)
end

-- Decodes the character starting at byte i: returns its code point and the next index, or
-- nil when the bytes there are not valid UTF-8.
local function decode(s, i)
  local c = byte(s, i)
  if not c then return nil end
  if c < 0x80 then return c, i + 1 end
  local n, min, cp
  if c >= 0xF0 and c <= 0xF4 then n, min, cp = 3, 0x10000, c - 0xF0
  elseif c >= 0xE0 then n, min, cp = 2, 0x800, c - 0xE0
  elseif c >= 0xC2 and c < 0xE0 then n, min, cp = 1, 0x80, c - 0xC0
  else return nil end
  for k = 1, n do
    local cc = byte(s, i + k)
    if not cc or cc < 0x80 or cc > 0xBF then return nil end
    cp = cp * 0x40 + (cc - 0x80)
  end
  if cp < min or cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF) then return nil end
  return cp, i + n + 1
end

local function position(i, len)
  if i < 0 then return len + i + 1 end
  return i
end

function utf8.codepoint(s, i, j)
  i = position(i or 1, #s)
  j = position(j or i, #s)
  if i < 1 or j > #s then error("bad argument to 'codepoint' (out of range)", 2) end
  local out, n = {}, 0
  local pos = i
  while pos <= j do
    local cp, nxt = decode(s, pos)
    if not cp then error("invalid UTF-8 code", 2) end
    n = n + 1
    out[n] = cp
    pos = nxt
  end
  return unpack(out, 1, n)
end

-- len(s, i, j): the number of characters, or nil and the position of the first invalid byte.
function utf8.len(s, i, j)
  i = position(i or 1, #s)
  j = position(j or -1, #s)
  local n, pos = 0, i
  while pos <= j do
    local cp, nxt = decode(s, pos)
    if not cp then return nil, pos end
    n = n + 1
    pos = nxt
  end
  return n
end

local function isCont(s, i)
  local c = byte(s, i)
  return c and c >= 0x80 and c <= 0xBF
end

-- offset(s, n, i): the byte position where the n-th character (counting from i) starts.
function utf8.offset(s, n, i)
  local len = #s
  i = position(i or (n >= 0 and 1 or len + 1), len)
  if i < 1 or i > len + 1 then error("bad argument to 'offset' (position out of range)", 2) end
  if n == 0 then
    while i > 1 and isCont(s, i) do i = i - 1 end
    return i
  end
  if isCont(s, i) then error("initial position is a continuation byte", 2) end
  if n > 0 then
    n = n - 1
    while n > 0 and i <= len do
      i = i + 1
      while isCont(s, i) do i = i + 1 end
      n = n - 1
    end
    if n == 0 then return i end
    return nil
  end
  while n < 0 and i > 1 do
    i = i - 1
    while i > 1 and isCont(s, i) do i = i - 1 end
    n = n + 1
  end
  if n == 0 then return i end
  return nil
end

-- codes(s): for position, codepoint in utf8.codes(s)
function utf8.codes(s)
  local pos = 1
  return function()
    if pos > #s then return nil end
    local start = pos
    local cp, nxt = decode(s, pos)
    if not cp then error("invalid UTF-8 code", 2) end
    pos = nxt
    return start, cp
  end
end

return utf8
