--[[
luvi: what luvit programs expect of the luvi host. `version`, `options`, `path` (join and
friends from pathjoin) and a read-only `bundle` over the built-in modules (luvit apps read their
own files with it; here it serves the runtime's embedded modules as bundle:/deps/NAME.lua).
]]

local runtime = require('runtime')
local pathjoin = require('pathjoin')

local luvi = {
  version = runtime.versions.luvit,
  options = { luvit = true },
}

luvi.path = {
  join = pathjoin.pathJoin,
  getPrefix = pathjoin.getPrefix,
  splitPath = pathjoin.splitPath,
  joinParts = pathjoin.joinParts,
}

local function builtinName(path)
  return path:match('^/?deps/([^/]+)%.lua$')
end

luvi.bundle = {
  base = 'bundle:',
  stat = function(path)
    path = path:gsub('^/+', '')
    if path == '' or path == 'deps' then return { type = 'directory', size = 0 } end
    local name = builtinName(path)
    local src = name and runtime.builtin(name)
    if src then return { type = 'file', size = #src } end
  end,
  readdir = function(path)
    path = path:gsub('^/+', '')
    if path == '' then return { 'deps' } end
    if path == 'deps' then
      local names = {}
      for i, name in ipairs(runtime.builtins()) do names[i] = name .. '.lua' end
      return names
    end
    return nil, 'ENOENT: no such file or directory: bundle:' .. path
  end,
  readfile = function(path)
    local name = builtinName(path)
    return name and runtime.builtin(name) or nil
  end,
}

function luvi.makeBundle()
  return luvi.bundle
end

return luvi
