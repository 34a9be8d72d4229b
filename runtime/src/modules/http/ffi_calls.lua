--[[
The Lua half of ffi_calls.rs: the HTTP server's per-request calls through LuaJIT's FFI, as
`native.fast` (loaded with http-parser; absent where the state has no ffi).

fast.encodeResponse(code, reason, headers, flags, length, body, [writeId]) has
native.encodeResponse's contract: the response's bytes (with writeId: written at once as far as
the socket takes them, and only the rest comes back, '' when all of it left), then chunked,
keepAlive, noBody; a refusal raises the same message.
fast.readHead(pointer) parses the read chunk lent now into the parser at `pointer`
(fast.pointer(parser)): headers, method, path, minor, flags as nextMessage gives a complete
bodyless request head, or nil, -1 (nothing taken: call nextMessage(chunk)) or nil, -2 (an event
waits: call nextMessage()).

An FFI call compiles into the caller's trace; a call of a Lua C function ends it, and each value
it reads costs a C API call. No loops of a few rounds here either (see encodeResponse).
]]
local native = ...
local ok, ffi = pcall(require, 'ffi')
if not ok or type(ffi) ~= 'table' then return nil end

local calls = native.ffi
local format = string.format
local newTable = require('table.new')
local HeadOut = ffi.typeof('struct { const char *base; int32_t flags, minor; '
  .. 'int32_t method[2], path[2]; int32_t headers[' .. 4 * calls.maxHeaders .. ']; }')
local HEAD = HeadOut()
local nextHead = ffi.cast(ffi.typeof('int (*)(void *, $ *)', HeadOut), calls.nextHead)
local encBegin = ffi.cast('int (*)(double, const char *, size_t, int)', calls.begin)
local encHeader = ffi.cast('int (*)(const char *, size_t, const char *, size_t)', calls.header)
local encHeaderNumber = ffi.cast('int (*)(const char *, size_t, double)', calls.headerNumber)
local encFinish = ffi.cast('double (*)(double, const char *, size_t, double, void *)',
  calls.finish)
-- (pointers as cdata: a userdata or light userdata argument is not compiled, NYI)
local LOOP = ffi.cast('void *', calls.loop)
local encodedRest, encodeError = calls.encodedRest, calls.encodeError
local cstring = ffi.string

local function badHeader(i)
  error(format('encodeResponse: header %d needs a string name and a string or number value', i),
    0)
end

-- Writes header i of `headers` into the response begun; false when there is none.
local function encodeHeader(headers, i)
  local h = rawget(headers, i)
  if h == nil then return false end
  if type(h) ~= 'table' then error('encodeResponse: headers must be {name, value} pairs', 0) end
  local name, value = rawget(h, 1), rawget(h, 2)
  local kind = type(name)
  if kind == 'number' then
    name = tostring(name)
  elseif kind ~= 'string' then
    badHeader(i)
  end
  local rc
  kind = type(value)
  if kind == 'string' then
    rc = encHeader(name, #name, value, #value)
  elseif kind == 'number' then
    rc = encHeaderNumber(name, #name, value)
    if rc == 2 then
      value = tostring(value)
      rc = encHeader(name, #name, value, #value)
    end
  else
    badHeader(i)
  end
  if rc ~= 0 then error(encodeError(), 0) end
  return true
end

local function encodeResponse(code, reason, headers, flags, length, body, writeId)
  if type(reason) ~= 'string' then reason = nil end
  if encBegin(tonumber(code) or 0, reason, reason and #reason or 0, flags) ~= 0 then
    error(encodeError(), 0)
  end
  if type(headers) ~= 'table' then error('encodeResponse: headers must be a table', 0) end
  -- The first eight without a loop: a loop of a few rounds inside the request's path keeps
  -- LuaJIT from compiling the path as one trace ("inner loop in root trace").
  if encodeHeader(headers, 1) and encodeHeader(headers, 2) and encodeHeader(headers, 3)
    and encodeHeader(headers, 4) and encodeHeader(headers, 5) and encodeHeader(headers, 6)
    and encodeHeader(headers, 7) and encodeHeader(headers, 8) then
    local i = 9
    while encodeHeader(headers, i) do i = i + 1 end
  end
  local kind = type(body)
  if kind == 'number' then
    body = tostring(body)
  elseif kind ~= 'string' then
    body = nil
  end
  local r = encFinish(length == nil and -1 or tonumber(length) or 0, body, body and #body or 0,
    writeId or -1, LOOP)
  if r < 0 then error(encodeError(), 0) end
  local bits = r % 8
  return r >= 8 and encodedRest() or '', bits % 2 == 1, bits % 4 >= 2, bits >= 4
end

-- Header i of the head nextHead put in HEAD, as a {name, value} pair.
local function headPair(i)
  local base, at, j = HEAD.base, HEAD.headers, 4 * i
  return { cstring(base + at[j], at[j + 1]), cstring(base + at[j + 2], at[j + 3]) }
end

-- The {name, value} list of that head (the first eight without a loop, as above).
local function headHeaders(n)
  local list = newTable(n, 0)
  if n > 0 then list[1] = headPair(0) end
  if n > 1 then list[2] = headPair(1) end
  if n > 2 then list[3] = headPair(2) end
  if n > 3 then list[4] = headPair(3) end
  if n > 4 then list[5] = headPair(4) end
  if n > 5 then list[6] = headPair(5) end
  if n > 6 then list[7] = headPair(6) end
  if n > 7 then
    list[8] = headPair(7)
    for i = 8, n - 1 do list[i + 1] = headPair(i) end
  end
  return list
end

local function readHead(pointer)
  local n = nextHead(pointer, HEAD)
  if n < 0 then return nil, n end
  local base = HEAD.base
  return headHeaders(n), cstring(base + HEAD.method[0], HEAD.method[1]),
    cstring(base + HEAD.path[0], HEAD.path[1]), HEAD.minor, HEAD.flags
end

return {
  encodeResponse = encodeResponse,
  readHead = readHead,
  -- (a pointer as cdata: a userdata argument to an FFI call is not compiled, NYI)
  pointer = function(parser) return ffi.cast('void *', parser) end,
}
