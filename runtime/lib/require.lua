--[[
require: luvit's module system.

Each module gets its own `require`, `module` ({path, dir, exports}) and `exports`, in an
environment that reads through to _G. Names resolve in this order:
  1. modules already in package.loaded (ffi, bit, jit, string ...);
  2. './x' and '../x' relative to the requiring file, '/x' absolute;
  3. bare names in 'libs/' then 'deps/' folders, walking up from the requiring file's folder;
  4. the built-in modules embedded in the binary, then native ones (package.preload: uv, json);
  5. Lua's own package.path / package.cpath.
For a path P the candidates are P, P.lua and P/init.lua. Modules are cached by resolved path,
so a cycle sees the partial exports. A failed require names the module and every path tried.
]]

local runtime, uv = ...
if not runtime then
  -- Loaded by a program as require('require'): init has put the live instance in
  -- package.loaded, so this only runs when something loads the file some other way.
  runtime, uv = require('runtime'), require('uv')
end
local realRequire = _G.require
local package = package
local loadstring, setfenv, setmetatable = loadstring, setfenv, setmetatable

local statCache = {}
local function kind(path)
  local k = statCache[path]
  if k == nil then
    local st = uv.fs_stat(path)
    k = st and st.type or false
    statCache[path] = k
  end
  return k
end

-- Joins and normalizes POSIX paths ('.' and '..' resolved, duplicate slashes removed).
local function pathJoin(...)
  local parts, absolute = {}, false
  local n = select('#', ...)
  for i = 1, n do
    local p = select(i, ...)
    if p ~= '' then
      if p:byte(1) == 47 then parts, absolute = {}, true end
      for seg in p:gmatch('[^/]+') do
        if seg == '..' then
          if #parts > 0 and parts[#parts] ~= '..' then
            parts[#parts] = nil
          elseif not absolute then
            parts[#parts + 1] = '..'
          end
        elseif seg ~= '.' then
          parts[#parts + 1] = seg
        end
      end
    end
  end
  local joined = table.concat(parts, '/')
  if absolute then return '/' .. joined end
  return joined == '' and '.' or joined
end

local function dirname(path)
  return path:match('^(.*)/[^/]*$') or '.'
end

local function resolveFile(base, tried)
  local candidates = { base, base .. '.lua', base .. '/init.lua' }
  for i = 1, #candidates do
    local c = candidates[i]
    if kind(c) == 'file' then return c end
    tried[#tried + 1] = c
  end
end

local function resolveBare(dir, name, tried)
  while true do
    for _, folder in ipairs({ 'libs', 'deps' }) do
      local d = pathJoin(dir, folder)
      if kind(d) == 'directory' then
        local found = resolveFile(pathJoin(d, name), tried)
        if found then return found end
      end
    end
    if dir == '/' or dir == '.' or dir == '' then return end
    dir = dirname(dir)
    if dir == '' then dir = '/' end
  end
end

local moduleCache = {}
local Module = {}
Module.__index = Module

local function makeModule(path, dir)
  return setmetatable({ path = path, dir = dir or dirname(path), exports = {} }, Module)
end

local function readFile(path)
  local fd, err = uv.fs_open(path, 'r', 420)
  if not fd then return nil, err end
  local st = uv.fs_fstat(fd)
  local data = uv.fs_read(fd, st and st.size or 0, 0)
  uv.fs_close(fd)
  return data
end

local function run(module, source, chunkname)
  local body, err = loadstring(source, chunkname)
  if not body then error(err, 0) end
  -- not kept alive while the module runs (a debugger's stack view showed every loading
  -- module's whole text in this frame)
  source = nil
  runtime.chunkLoaded(chunkname)
  local env = setmetatable({
    module = module,
    exports = module.exports,
    require = function(...) return module:require(...) end,
  }, { __index = _G })
  setfenv(body, env)
  local ret = body()
  if ret ~= nil then module.exports = ret end
  return module.exports
end

local function loadBuiltin(name)
  local key = 'builtin:' .. name
  local cached = moduleCache[key]
  if cached then return cached.exports end
  local source, chunkname = runtime.builtin(name)
  if not source then return end
  local module = makeModule(key, 'builtin:')
  moduleCache[key] = module
  return run(module, source, chunkname)
end

function Module:resolve(name, tried)
  tried = tried or {}
  local first = name:byte(1)
  if first == 46 then -- '.'
    return resolveFile(pathJoin(self.dir == 'builtin:' and uv.cwd() or self.dir, name), tried), tried
  elseif first == 47 then -- '/'
    return resolveFile(pathJoin(name), tried), tried
  end
  if self.dir ~= 'builtin:' then
    return resolveBare(self.dir, name, tried), tried
  end
  return nil, tried
end

function Module:load(path)
  return readFile(pathJoin(self.dir, path))
end

function Module:stat(path)
  return uv.fs_stat(pathJoin(self.dir, path))
end

function Module:require(name)
  if type(name) ~= 'string' then
    error("bad argument #1 to 'require' (string expected, got " .. type(name) .. ")", 2)
  end
  local loaded = package.loaded[name]
  if loaded ~= nil then return loaded end

  local path, tried = self:resolve(name)
  if not path then
    if name:byte(1) ~= 46 and name:byte(1) ~= 47 then
      local exports = loadBuiltin(name)
      if exports ~= nil then return exports end
      if package.preload[name] then return realRequire(name) end
      local ok, value = pcall(realRequire, name)
      if ok then return value end
      tried[#tried + 1] = 'builtin:' .. name
      tried[#tried + 1] = 'package.path and package.cpath'
    end
    error("No such module '" .. name .. "' in '" .. self.path .. "'\n  tried:\n    " ..
      table.concat(tried, '\n    '), 2)
  end

  local module = moduleCache[path]
  if module then return module.exports end
  local source, err = readFile(path)
  if not source then error("cannot read module '" .. path .. "': " .. tostring(err), 2) end
  module = makeModule(path)
  moduleCache[path] = module
  return run(module, source, '@' .. path)
end

-- Makes the `require` of the module at `path`; returns it and the module table.
local function generator(path)
  local module = makeModule(path)
  return function(...) return module:require(...) end, module
end

-- require('require') is luvit's generator: makeRequire(path) -> require, module.
return setmetatable({
  generator = generator, pathJoin = pathJoin, makeModule = makeModule, run = run,
  builtin = loadBuiltin,
}, { __call = function(_, path) return generator(path) end })
