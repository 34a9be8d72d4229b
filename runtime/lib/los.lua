--[[
los: the name of the operating system, as luvit spells it: type() returns 'linux', 'win32',
'darwin', 'bsd', 'posix' or 'other' (what other modules compare against, e.g. == 'win32').
]]

local los = {}

local byJitName = {
  Linux = 'linux',
  Windows = 'win32',
  OSX = 'darwin',
  BSD = 'bsd',
  POSIX = 'posix',
  Other = 'other',
}

-- For a name that is not one of LuaJIT's (from uname), the first family it belongs to.
local families = {
  { '^linux', 'linux' },
  { 'windows', 'win32' }, { '^mingw', 'win32' }, { '^msys', 'win32' }, { '^cygwin', 'win32' },
  { 'darwin', 'darwin' }, { '^mac', 'darwin' },
  { 'bsd$', 'bsd' },
  { 'posix', 'posix' },
}

local function detect()
  local jitOk, jitLib = pcall(require, 'jit')
  if jitOk and type(jitLib) == 'table' and byJitName[jitLib.os] then
    return byJitName[jitLib.os]
  end
  local uvOk, uv = pcall(require, 'uv')
  local info = uvOk and type(uv) == 'table' and uv.os_uname and uv.os_uname()
  local name = info and info.sysname and info.sysname:lower() or ''
  for _, family in ipairs(families) do
    if name:find(family[1]) then return family[2] end
  end
  return 'other'
end

local name = detect()

function los.type()
  return name
end

return los
