--[[
querystring: luvit's query-string codec.
  urlencode(str)         percent-encodes every byte except A-Z a-z 0-9 * - . _ (space -> %20)
  urldecode(str)         '+' -> space, then %XX -> byte
  parse(str, sep, eq)    'a=1&b=2&a=3' -> { a = { '1', '3' }, b = '2' }; a key without eq
                         maps to ''. sep (default '&') splits at any of its characters.
  stringify(tbl, sep, eq) the reverse; a list value gives one pair per element. Key order
                         follows pairs().
]]

local byte, char, format = string.byte, string.char, string.format
local concat = table.concat

local querystring = {}

local function decodeHex(hex)
  return char(tonumber(hex, 16))
end

local function encodeByte(c)
  return format('%%%02X', byte(c))
end

function querystring.urldecode(str)
  if not str then return str end
  str = str:gsub('%+', ' ')
  str = str:gsub('%%(%x%x)', decodeHex)
  return str
end

function querystring.urlencode(str)
  if not str then return str end
  str = str:gsub('[^%w%*%-%._]', encodeByte)
  return str
end

local urlencode, urldecode = querystring.urlencode, querystring.urldecode

function querystring.stringify(tbl, sep, eq)
  if type(tbl) ~= 'table' then return '' end
  sep, eq = sep or '&', eq or '='
  local fields = {}
  for key, value in pairs(tbl) do
    local prefix = urlencode(tostring(key)) .. eq
    if type(value) == 'table' then
      for _, item in ipairs(value) do
        fields[#fields + 1] = prefix .. urlencode(tostring(item))
      end
    else
      fields[#fields + 1] = prefix .. urlencode(tostring(value))
    end
  end
  return concat(fields, sep)
end

-- Escapes every punctuation character so the text can sit inside a pattern (or a [set]).
local function literal(text)
  return (text:gsub('%p', '%%%0'))
end

function querystring.parse(str, sep, eq)
  local parsed = {}
  if str == nil then return parsed end
  sep, eq = sep or '&', eq or '='
  local pairPattern = '[^' .. literal(sep) .. ']+'
  local keyValue = '([^' .. literal(eq) .. ']*)' .. literal(eq) .. '(.*)'
  for piece in tostring(str):gmatch(pairPattern) do
    if not piece:find(eq, 1, true) then
      parsed[urldecode(piece)] = ''
    else
      local key, value = piece:match(keyValue)
      if key then
        key, value = urldecode(key), urldecode(value)
        local existing = parsed[key]
        if existing == nil then
          parsed[key] = value
        elseif type(existing) == 'table' then
          existing[#existing + 1] = value
        else
          parsed[key] = { existing, value }
        end
      end
    end
  end
  return parsed
end

return querystring
