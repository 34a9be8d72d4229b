--[[
http-codec: luvit's HTTP/1.1 codec as a pair of closures, on the native parser and writer.
  decoder()  returns decode(buffer) -> event, rest | nil. `buffer` is every unconsumed byte;
             the event is a head table ({method=, path=} or {code=, reason=}, plus version,
             keepAlive and {name, value} pairs), a body chunk, or "" at the end of a message;
             `rest` is what is left of `buffer`; nil means more bytes are needed. A message
             that cannot be parsed raises an error (callers pcall, as in luvit). As luvit's,
             a request with no length that closes the connection (not GET/HEAD) has a body
             read until close, and chunked bodies come one whole chunk per event.
  encoder()  returns encode(item): a head table gives the start line and headers (a
             Transfer-Encoding: chunked head switches to chunked framing), strings are body
             bytes (chunk-framed when chunked), "" ends a chunked body.
The framing follows RFC 9112 (httparse reads the head): chunked, Content-Length, no body;
a response with neither is read until close (decode(nil) ends it; decode("") only asks for
the next event, as luvit's decoder does).
]]

local native = require('http-parser')
local encodeHead = native.encodeHead
local format, lower = string.format, string.lower

local function isChunked(head)
  for i = 1, #head do
    local pair = head[i]
    if lower(pair[1]) == 'transfer-encoding' then
      local v = lower(tostring(pair[2]))
      return v:find('chunked', 1, true) ~= nil
    end
  end
  return false
end

local function encoder()
  local chunked = false
  return function(item)
    if type(item) == 'string' then
      if not chunked then return item end
      if #item == 0 then
        chunked = false
        return '0\r\n\r\n'
      end
      return format('%x\r\n', #item) .. item .. '\r\n'
    end
    local prefix = ''
    if chunked then
      prefix = '0\r\n\r\n'
      chunked = false
    end
    if item == nil or item == '' then
      if prefix == '' then return item end
      return prefix
    end
    if type(item) ~= 'table' then
      error('expected a table but got a ' .. type(item) .. ' when encoding data', 2)
    end
    chunked = isChunked(item)
    return prefix .. encodeHead(item)
  end
end

local function decoder(kind)
  -- Requests unless told; a buffer starting with "HTTP/" is a response (luvit decodes both).
  local parser
  -- After decode returned nil the parser holds (or has consumed) all of that buffer; the
  -- caller calls again with the same buffer plus new bytes, of which only the new are pushed.
  local held = 0
  return function(chunk)
    if not parser then
      if chunk == nil or chunk == '' then return end
      kind = kind or (chunk:sub(1, 5) == 'HTTP/' and 'response' or 'request')
      parser = native.newParser(kind, true)
    end
    if chunk == nil then
      held = 0
      parser:rest()
      local ev, msg = parser:finish()
      if ev == false then error(msg, 2) end
      if ev == nil then return end
      return ev, ''
    end
    if held > 0 and #chunk >= held then
      if #chunk > held then parser:push(chunk:sub(held + 1)) end
    else
      parser:rest()
      if chunk ~= '' then parser:push(chunk) end
    end
    local ev, msg = parser:next()
    if ev == false then
      held = 0
      error(msg, 2)
    end
    if ev == nil then
      held = #chunk
      return
    end
    held = 0
    if type(ev) == 'table' then ev.bodyless = nil end
    return ev, parser:rest()
  end
end

return {
  encoder = encoder,
  decoder = decoder,
  STATUS_CODES = native.statusCodes,
}
