--[[
path: luvit's path module. Two flavours of the same operations:
  posix  '/' separated, root '/'
  nt     '\' separated ('/' accepted on input), roots 'c:\', UNC '\\server\share\', and
         drive-relative paths such as 'd:foo'
The module itself answers for the flavour of the host OS (posix here): path.join, normalize,
resolve (against the process's cwd at call time), relative, dirname, basename(p, ext), extname,
isAbsolute, getRoot, getSep, pathsEqual, sep, root; luvit's helpers (_splitPath,
_normalizeArray, _commonParts, ...) too. path._internal is that flavour's object, and
path.posix / path.nt are both flavours: call them either way, path.nt.join(a, b) or
path.nt:join(a, b).
]]

local Object = require('core').Object
local los = require('los')

local concat = table.concat

local Flavour = Object:extend()

function Flavour:initialize(root, sep)
  self.root = root
  self.sep = sep
  -- Lua pattern pieces for "a separator" and "not a separator".
  self.sepClass = '[' .. sep:gsub('%W', '%%%0') .. ']'
  self.nonSepClass = '[^' .. sep:gsub('%W', '%%%0') .. ']'
end

function Flavour:_get(key)
  return self[key]
end

function Flavour:getRoot()
  return self.root
end

function Flavour:getSep()
  return self.sep
end

function Flavour:pathsEqual(a, b)
  return a == b
end

-- The part of filepath that a root occupies ('' when it has none).
function Flavour:_rootOf(filepath)
  if self:isAbsolute(filepath) or self:isDriveRelative(filepath) then
    return self:getRoot(filepath)
  end
  return ''
end

-- Splits filepath into root, directory (with its trailing separator) and base name; trailing
-- separators are ignored.
function Flavour:_splitPath(filepath)
  filepath = self:normalizeSeparators(filepath)
  local root = self:_rootOf(filepath)
  local rest = filepath:sub(#root + 1):gsub(self.sepClass .. '+$', '')
  local base = rest:match(self.nonSepClass .. '+$') or ''
  return root, rest:sub(1, #rest - #base), base
end

-- Resolves '.' and '..' entries of a list of segments, in place. Leading '..' that cannot be
-- resolved are kept only when isRelative is set.
function Flavour:_normalizeArray(parts, isRelative)
  local kept, pending = {}, 0
  for i = #parts, 1, -1 do
    local part = parts[i]
    if part == '..' then
      pending = pending + 1
    elseif part ~= '.' then
      if pending > 0 then
        pending = pending - 1
      else
        kept[#kept + 1] = part
      end
    end
  end
  for i = #parts, 1, -1 do parts[i] = nil end
  if isRelative then
    for _ = 1, pending do parts[#parts + 1] = '..' end
  end
  for i = #kept, 1, -1 do parts[#parts + 1] = kept[i] end
  return parts
end

function Flavour:_splitBySeparators(filepath)
  local parts = {}
  for part in filepath:gmatch(self.nonSepClass .. '+') do
    parts[#parts + 1] = part
  end
  return parts
end

function Flavour:normalize(filepath)
  filepath = self:normalizeSeparators(filepath)
  local absolute = self:isAbsolute(filepath)
  local root = absolute and self:getRoot(filepath) or ''
  local trailing = filepath:sub(-1) == self.sep
  local parts = self:_splitBySeparators(filepath:sub(#root + 1))
  self:_normalizeArray(parts, not absolute)
  local body = concat(parts, self.sep)
  if body == '' then
    return absolute and root or '.'
  end
  if trailing then body = body .. self.sep end
  return root .. body
end

-- Drops empty parts, then the separators where two parts meet.
function Flavour:_filterparts(parts)
  local list = {}
  for _, part in ipairs(parts) do
    if part ~= '' then list[#list + 1] = part end
  end
  local lead, tail = '^' .. self.sepClass .. '+', self.sepClass .. '+$'
  for i = 1, #list do
    local part = list[i]
    if i > 1 then part = part:gsub(lead, '') end
    if i < #list then part = part:gsub(tail, '') end
    list[i] = part
  end
  return list
end

function Flavour:_rawjoin(parts)
  return concat(parts, self.sep)
end

function Flavour:_filteredjoin(...)
  local parts = { ... }
  for i, part in ipairs(parts) do
    parts[i] = self:normalizeSeparators(part)
  end
  local filtered = self:_filterparts(parts)
  return self:_rawjoin(filtered), filtered
end

function Flavour:join(...)
  return self:normalize((self:_filteredjoin(...)))
end

local function environment(name)
  local proc = rawget(_G, 'process')
  if type(proc) == 'table' and type(proc.env) == 'table' then return proc.env[name] end
  return os.getenv(name)
end

-- Joins the arguments from the right until the result is absolute; what is still relative is
-- taken against the cwd (or, for an nt drive-relative path, that drive's cwd or its root).
function Flavour:resolve(...)
  local count = select('#', ...)
  local paths = { ... }
  local resolved, drive, absolute = '', nil, false
  for i = count, 1, -1 do
    local item = paths[i]
    if item and item ~= '' then
      local root = drive and self:getRoot(item)
      if self:isDriveRelative(item) then
        root = root or self:getRoot(item)
        drive = drive or root
        item = item:sub(#root + 1)
      end
      if not root or drive:sub(1, 2) == root:sub(1, 2) then
        resolved = self:join(self:normalize(item), resolved)
        if self:isAbsolute(resolved) then
          absolute = true
          break
        end
      end
    end
  end
  if absolute then return resolved end
  if drive then
    local driveCwd = environment('=' .. drive)
    if driveCwd and self:pathsEqual(driveCwd:sub(1, 2), drive) then
      return self:join(driveCwd, resolved)
    end
    return self:join(drive, resolved)
  end
  return self:join(require('uv').cwd(), resolved)
end

-- The leading segments all the given paths share.
function Flavour:_commonParts(...)
  local lists = {}
  for i, filepath in ipairs({ ... }) do
    lists[i] = self:_splitBySeparators(filepath)
  end
  local common = {}
  for index, part in ipairs(lists[1]) do
    for other = 2, #lists do
      if not self:pathsEqual(part, lists[other][index]) then return common end
    end
    common[#common + 1] = part
  end
  return common
end

-- The path that leads from `from` to `to`; `to` itself (resolved) when their roots differ.
function Flavour:relative(from, to)
  from, to = self:resolve(from), self:resolve(to)
  local fromRoot, fromDir, fromBase = self:_splitPath(from)
  local toRoot, toDir, toBase = self:_splitPath(to)
  if not self:pathsEqual(fromRoot, toRoot) then return to end
  local fromPath, toPath = fromDir .. fromBase, toDir .. toBase
  local shared = #self:_commonParts(fromPath, toPath)
  local fromParts = self:_splitBySeparators(fromPath)
  local toParts = self:_splitBySeparators(toPath)
  local steps = {}
  for _ = shared + 1, #fromParts do steps[#steps + 1] = '..' end
  for i = shared + 1, #toParts do steps[#steps + 1] = toParts[i] end
  return self:_rawjoin(steps)
end

function Flavour:dirname(filepath)
  filepath = self:normalizeSeparators(filepath)
  if filepath:sub(-1) == self.sep then filepath = filepath:sub(1, -2) end
  local root, dir = self:_splitPath(filepath)
  if dir ~= '' then return root .. dir:sub(1, -2) end
  if root ~= '' then return root end
  return '.'
end

-- The last segment; without `ext` when it ends with that (compared literally).
function Flavour:basename(filepath, ext)
  local _, _, base = self:_splitPath(filepath)
  if ext and ext ~= '' and #ext <= #base and base:sub(-#ext) == ext then
    base = base:sub(1, #base - #ext)
  end
  return base
end

-- From the last '.' of the base name on, unless that '.' is its first character.
function Flavour:extname(filepath)
  local base = self:basename(filepath)
  if base == '..' then return '' end
  return base:match('.(%.[^.]*)$') or ''
end

local Posix = Flavour:extend()

function Posix:initialize()
  Flavour.initialize(self, '/', '/')
end

function Posix:isAbsolute(filepath)
  return filepath:sub(1, 1) == '/'
end

function Posix:isUNC()
  return false
end

function Posix:isDriveRelative()
  return false
end

function Posix:normalizeSeparators(filepath)
  return filepath
end

function Posix:_makeLong(filepath)
  return filepath
end

local Nt = Flavour:extend()

function Nt:initialize()
  Flavour.initialize(self, 'c:\\', '\\')
end

-- Windows paths compare case-insensitively.
function Nt:pathsEqual(a, b)
  return a ~= nil and b ~= nil and a:lower() == b:lower()
end

function Nt:isAbsolute(filepath)
  return filepath ~= nil and not self:isDriveRelative(filepath) and self:getRoot(filepath) ~= nil
end

-- '\\server...' (either slash), where the server name does not start with '.' or '?'.
function Nt:isUNC(filepath)
  return filepath ~= nil and filepath:find('^[\\/][\\/][^?\\/.]') ~= nil
end

-- 'd:foo': a drive letter followed by something other than a separator.
function Nt:isDriveRelative(filepath)
  return filepath ~= nil and filepath:match('^%a:[^\\/]') ~= nil
end

-- Without an argument the default root (c:\); otherwise '\\server\' or '\\server\share\' for
-- UNC paths, 'd:\' for absolute ones, 'd:' for drive-relative ones, nil for relative ones.
function Nt:getRoot(filepath)
  if filepath == nil then return self.root end
  if self:isUNC(filepath) then
    local server = filepath:match('^..([^\\/]+)')
    local share = filepath:sub(#server + 3):match('^[\\/]([^\\/.][^\\/]*)')
    if share then return '\\\\' .. server .. '\\' .. share .. '\\' end
    return '\\\\' .. server .. '\\'
  end
  local drive = filepath:match('^%a:')
  if not drive then return nil end
  if self:isDriveRelative(filepath) then return drive end
  return drive .. '\\'
end

-- Leading separators collapse to one unless the first part is itself a UNC path.
function Nt:join(...)
  local joined, parts = self:_filteredjoin(...)
  if not self:isUNC(parts[1]) then
    joined = joined:gsub('^\\+', '\\')
  end
  return self:normalize(joined)
end

function Nt:normalizeSeparators(filepath)
  return (filepath:gsub('/', '\\'))
end

-- The '\\?\' form Windows needs for paths longer than MAX_PATH.
function Nt:_makeLong(filepath)
  if self:isUNC(filepath) then
    return '\\\\?\\UNC\\' .. self:resolve(filepath)
  elseif self:isAbsolute(filepath) then
    return '\\\\?\\' .. self:resolve(filepath)
  end
  return filepath
end

-- An instance whose methods also work when called with a dot: each one is stored on the
-- instance as a function that drops a leading self argument.
local function flavour(class)
  local object = class:new()
  local names = {}
  local c = class
  while c do
    for name, value in pairs(c) do
      if type(value) == 'function' and name ~= 'initialize' and name ~= 'new' and
          name ~= 'create' and name ~= 'extend' then
        names[name] = true
      end
    end
    c = rawget(c, 'super')
  end
  for name in pairs(names) do
    local method = class[name]
    object[name] = function(first, ...)
      if first == object then return method(object, ...) end
      return method(object, first, ...)
    end
  end
  return object
end

local posix = flavour(Posix)
local nt = flavour(Nt)

local path = {
  posix = posix,
  nt = nt,
  _internal = los.type() == 'win32' and nt or posix,
}

return setmetatable(path, { __index = path._internal })
