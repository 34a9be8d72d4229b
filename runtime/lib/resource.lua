--[[
resource: luvit's resource module: read files that sit next to the calling module.
resolve(relative) resolves against the caller's folder; load(relative) reads the file.
]]

local uv = require('uv')
local pathJoin = require('pathjoin').pathJoin

local resource = {}

local function callerDir(level)
  local info = debug.getinfo(level + 1, 'S')
  local source = info and info.source or ''
  if source:sub(1, 1) == '@' and not source:match('^@builtin:') then
    return source:sub(2):match('^(.*)/[^/]*$') or '.'
  end
  return uv.cwd()
end

-- resolve(path): the absolute path of `path` relative to the calling module's folder.
function resource.resolve(path)
  return pathJoin(callerDir(2), path)
end

function resource.load(path)
  local full = pathJoin(callerDir(2), path)
  local fd, err = uv.fs_open(full, 'r', 420)
  if not fd then error(err, 2) end
  local st = uv.fs_fstat(fd)
  local data = uv.fs_read(fd, st.size, 0)
  uv.fs_close(fd)
  return data
end

return resource
