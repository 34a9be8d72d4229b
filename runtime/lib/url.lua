--[[
url: luvit's node-style URL codec.
  parse(url, parseQueryString)  -> { href, protocol, auth, host, hostname, port, path,
                                   pathname, search, query, hash }; protocol without '://',
                                   port a string, query the text after '?' (a table when
                                   parseQueryString is set), path and pathname default to '/'.
                                   Given a table, returns it unchanged.
  format(parsed)                the reverse (a string is parsed first)
  resolveObject(source, rel)    rel taken relative to source, as a parsed table
  resolve(source, rel)          the same, as a string
]]

local querystring = require('querystring')

local byte, format, sub = string.byte, string.format, string.sub
local concat, insert, remove = table.concat, table.insert, table.remove

local url = {}

local function nonEmpty(value)
  return value ~= nil and value ~= false and value ~= ''
end

local function percent(c)
  return format('%%%02X', byte(c))
end

-- Encodes the userinfo part: newlines become CRLF, and everything except letters, digits and
-- the characters : ~ and ! " # $ % & ' ( ) * + , - . is percent-encoded.
local function encodeAuth(auth)
  auth = auth:gsub('\n', '\r\n')
  auth = auth:gsub('[^%w:~!-.]', percent)
  return auth
end

local function withPrefix(text, prefix)
  if nonEmpty(text) and sub(text, 1, #prefix) ~= prefix then return prefix .. text end
  return text
end

local function withSuffix(text, suffix)
  if nonEmpty(text) and sub(text, -#suffix) ~= suffix then return text .. suffix end
  return text
end

function url.parse(input, parseQueryString)
  if type(input) == 'table' then return input end
  assert(type(input) == 'string', 'url must be a string')
  local rest = input

  local protocol = rest:match('^([a-z0-9+]+)://')
  local auth, host, hostname, port
  if protocol then
    rest = rest:sub(#protocol + 4)
    -- userinfo: whatever precedes the last '@' of the authority (up to the first / ? #)
    local authority = rest:match('^[^/?#]*')
    auth = authority:match('^(.+)@')
    if auth then rest = rest:sub(#auth + 2) end
    host = rest:match('^[%w%.%-]+:?%d*')
    if host then
      hostname = host:match('^[^:/]+')
      port = host:match(':(%d+)$')
      rest = rest:sub(#host + 1)
    end
  end

  local hash = rest:match('#.*$')
  if hash then rest = rest:sub(1, #rest - #hash) end

  local path, pathname, search, query
  if rest ~= '' then
    path = rest
    pathname = rest:match('^[^?]*')
    if pathname == '' then pathname = nil end
    search = rest:sub(#(pathname or '') + 1)
    if search == '' then search = nil end
    query = search and search:sub(2)
    if query == '' then query = nil end
  end
  if parseQueryString then
    query = querystring.parse(query)
  end

  local parsed = {
    protocol = protocol,
    auth = auth,
    host = host,
    hostname = hostname,
    port = port,
    path = path or '/',
    pathname = pathname or '/',
    search = search,
    query = query,
    hash = hash,
  }
  parsed.href = url.format(parsed)
  return parsed
end

function url.format(parsed)
  if type(parsed) == 'string' then parsed = url.parse(parsed) end
  assert(type(parsed) == 'table', 'parsed must be a table')

  local auth = parsed.auth or ''
  if auth ~= '' then auth = encodeAuth(auth) .. '@' end

  local host
  if nonEmpty(parsed.host) then
    host = auth .. parsed.host
  elseif nonEmpty(parsed.hostname) then
    host = auth .. parsed.hostname
    if parsed.port then host = host .. ':' .. parsed.port end
  end

  local query = ''
  if type(parsed.query) == 'table' then query = querystring.stringify(parsed.query) end
  local search = parsed.search or (query ~= '' and '?' .. query) or ''

  local protocol = withSuffix(parsed.protocol or '', ':')
  -- Only '?' and '#' would change the meaning of a pathname.
  local pathname = (parsed.pathname or ''):gsub('[?#]', percent)
  if host then
    host = '//' .. host
    pathname = withPrefix(pathname, '/')
  else
    host = ''
  end
  search = withPrefix((search:gsub('#', '%%23')), '?')
  local hash = withPrefix(parsed.hash or '', '#')
  return protocol .. host .. pathname .. search .. hash
end

-- Every piece between separators, empty ones included: '/a//b/' -> '', 'a', '', 'b', ''.
local function splitAll(text, sep)
  local parts, from = {}, 1
  while true do
    local at = text:find(sep, from, true)
    if not at then break end
    parts[#parts + 1] = text:sub(from, at - 1)
    from = at + #sep
  end
  parts[#parts + 1] = text:sub(from)
  return parts
end

local function setPath(result)
  if result.pathname or result.search then
    result.path = (result.pathname or '') .. (result.search or '')
  end
end

local function finish(result)
  result.href = url.format(result)
  return result
end

function url.resolveObject(source, relative)
  source = url.parse(source)
  relative = url.parse(relative)

  local result = {}
  for k, v in pairs(source) do result[k] = v end
  -- The hash always comes from the relative part, even an empty one.
  result.hash = relative.hash
  if relative.href == '' then return finish(result) end

  -- Another protocol: the relative URL stands on its own.
  if relative.protocol and relative.protocol ~= result.protocol then
    result.protocol = relative.protocol
    result.auth = relative.auth
    result.host = relative.host or ''
    result.hostname = relative.hostname or relative.host
    result.port = relative.port
    result.pathname = relative.pathname
    result.search = relative.search
    result.query = relative.query
    setPath(result)
    return finish(result)
  end

  local function rooted(p) return nonEmpty(p) and sub(p, 1, 1) == '/' end
  local relativeIsAbsolute = nonEmpty(relative.host) or rooted(relative.pathname)
  local mustBeAbsolute = relativeIsAbsolute or rooted(result.pathname) or
    (nonEmpty(result.host) and nonEmpty(relative.pathname))
  local segments = nonEmpty(result.pathname) and splitAll(result.pathname, '/') or {}
  local relativeSegments = nonEmpty(relative.pathname) and splitAll(relative.pathname, '/') or {}

  if relativeIsAbsolute then
    if relative.host then
      result.host = relative.host
      result.auth = nil
    end
    if relative.hostname then
      result.hostname = relative.hostname
      result.auth = nil
    end
    result.search = relative.search
    result.query = relative.query
    segments = relativeSegments
  elseif #relativeSegments > 0 then
    -- Replace the last segment of the source path with the relative path.
    remove(segments)
    for _, segment in ipairs(relativeSegments) do segments[#segments + 1] = segment end
    result.search = relative.search
    result.query = relative.query
  elseif relative.search then
    result.search = relative.search
    result.query = relative.query
    setPath(result)
    return finish(result)
  end

  local last = segments[#segments]
  local trailingSlash = (nonEmpty(result.host) or nonEmpty(relative.host) or #segments > 1) and
    (last == '.' or last == '..' or last == '')

  -- Drop '.' and let each '..' remove the nearest segment before it.
  local up = 0
  for i = #segments, 1, -1 do
    local segment = segments[i]
    if segment == '.' then
      remove(segments, i)
    elseif segment == '..' then
      remove(segments, i)
      up = up + 1
    elseif up > 0 then
      remove(segments, i)
      up = up - 1
    end
  end
  if not mustBeAbsolute then
    for _ = 1, up do insert(segments, 1, '..') end
  end

  local function startsAbsolute()
    local first = segments[1]
    return first == '' or (first ~= nil and sub(first, 1, 1) == '/')
  end
  if mustBeAbsolute and not startsAbsolute() then insert(segments, 1, '') end
  if trailingSlash and sub(concat(segments, '/'), -1) ~= '/' then segments[#segments + 1] = '' end
  if (nonEmpty(result.host) and #segments > 0) and not startsAbsolute() then
    insert(segments, 1, '')
  end

  if #segments == 0 then
    result.pathname = nil
    result.path = nil
  else
    result.pathname = concat(segments, '/')
  end
  setPath(result)
  result.auth = relative.auth or result.auth
  return finish(result)
end

function url.resolve(source, relative)
  return url.resolveObject(source, relative).href
end

return url
