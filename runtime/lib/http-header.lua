--[[
http-header: header lists as luvit keeps them: an array of {name, value} pairs (order and case
kept, repeats allowed) whose metatable makes `headers.name` a case-insensitive lookup of the
first value and `headers.name = v` replace every pair of that name (a table value adds one pair
per element; nil removes). newHeaders(t), toHeaders(t) (from {name=value} and/or {{n, v}}),
combineHeaders(...), getHeaders(head) (the pairs of a codec head).
]]

local strlower = string.lower

-- Header names lowercased, remembered: every header set or read compares lowercased names,
-- and a table lookup costs far less than string.lower's copy and interning. Bounded (names
-- can come from peers): it starts over past 512 names.
local lowered, count = {}, 0
local function lower(name)
  local l = lowered[name]
  if l then return l end
  l = strlower(name)
  if count >= 512 then lowered, count = {}, 0 end
  lowered[name] = l
  count = count + 1
  return l
end

local headerMeta = {}

headerMeta.__index = function(list, name)
  if type(name) ~= 'string' then return rawget(list, name) end
  name = lower(name)
  for i = 1, #list do
    local pair = list[i]
    if lower(pair[1]) == name then return pair[2] end
  end
end

headerMeta.__newindex = function(list, name, value)
  if type(name) ~= 'string' then return rawset(list, name, value) end
  local lname = lower(name)
  -- Drop every pair of that name, keeping the others in order.
  local n, j = #list, 0
  for i = 1, n do
    local pair = list[i]
    if lower(pair[1]) ~= lname then
      j = j + 1
      list[j] = pair
    end
  end
  for i = j + 1, n do list[i] = nil end
  if value == nil then return end
  if type(value) == 'table' then
    for i = 1, #value do rawset(list, #list + 1, { name, tostring(value[i]) }) end
  else
    rawset(list, #list + 1, { name, tostring(value) })
  end
end

local function newHeaders(tbl)
  return setmetatable(tbl or {}, headerMeta)
end

-- Adds every entry of tbl to headers: {name, value} pairs are appended, name = value
-- entries replace that name.
local function addTo(headers, tbl)
  if not tbl then return headers end
  for k, v in pairs(tbl) do
    if type(k) == 'number' then
      rawset(headers, #headers + 1, v)
    else
      headers[k] = v
    end
  end
  return headers
end

local function toHeaders(tbl)
  return addTo(newHeaders(), tbl)
end

local function combineHeaders(...)
  local out = newHeaders()
  for i = 1, select('#', ...) do addTo(out, (select(i, ...))) end
  return out
end

local function getHeaders(head)
  local out = newHeaders()
  if head then
    for i = 1, #head do
      local pair = head[i]
      if type(pair) == 'table' then rawset(out, i, pair) end
    end
  end
  return out
end

return {
  headerMeta = headerMeta,
  newHeaders = newHeaders,
  toHeaders = toHeaders,
  combineHeaders = combineHeaders,
  getHeaders = getHeaders,
}
