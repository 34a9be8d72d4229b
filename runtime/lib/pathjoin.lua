--[[
pathjoin: luvit's small path joiner (the one luvi used to carry), for '/' separated paths.
  pathJoin(...)                  joins the arguments from the last absolute one on, resolving
                                 '.' and '..'; a '..' with nothing left to remove is dropped
  splitPath(path)                the non-empty segments
  joinParts(prefix, parts, i, j) prefix (or '') .. parts i..j joined with '/'
  getPrefix(path)                '/' for an absolute path, else nil
  isWindows                      false: only the POSIX flavour is provided
]]

local concat = table.concat

local pathjoin = {
  isWindows = require('los').type() == 'win32',
}

local function getPrefix(path)
  return path:match('^/')
end

local function splitPath(path)
  local parts = {}
  for part in path:gmatch('[^/]+') do
    parts[#parts + 1] = part
  end
  return parts
end

local function joinParts(prefix, parts, i, j)
  local body = concat(parts, '/', i, j)
  if prefix then return prefix .. body end
  return body
end

local function pathJoin(...)
  local count = select('#', ...)
  local inputs = { ... }
  -- Everything before the last absolute argument is irrelevant.
  local first, prefix = 1, nil
  for i = count, 1, -1 do
    prefix = getPrefix(inputs[i])
    if prefix then
      first = i
      break
    end
  end
  -- Walk the segments from the right, letting each '..' cancel the nearest name to its left.
  local reversed, pending = {}, 0
  for i = count, first, -1 do
    local segments = splitPath(inputs[i])
    for k = #segments, 1, -1 do
      local segment = segments[k]
      if segment == '..' then
        pending = pending + 1
      elseif segment ~= '.' then
        if pending > 0 then
          pending = pending - 1
        else
          reversed[#reversed + 1] = segment
        end
      end
    end
  end
  local parts = {}
  for i = #reversed, 1, -1 do parts[#parts + 1] = reversed[i] end
  return joinParts(prefix, parts)
end

pathjoin.getPrefix = getPrefix
pathjoin.splitPath = splitPath
pathjoin.joinParts = joinParts
pathjoin.pathJoin = pathJoin

return pathjoin
