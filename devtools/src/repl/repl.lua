--[[
repl.lua: the REPL's Lua half, loaded once per session by session.rs with a table: { declare,
values, chunk (names), scope (where globals are read and written: _G, or the -i script's
environment), module (name -> loaded module or nil, never running user code) }. Owns the
session environment (top-level locals kept across lines, `_`, globals through the scope), compiling entries into it, running one in a coroutine and handing
its results to Rust, and the table walks behind tab completion: raw reads only (rawget, next,
debug.getmetatable), so completing never runs user code.
]]

local config = ...
local DECLARE, VALUES, CHUNK, peekModule = config.declare, config.values, config.chunk, config.module
local G = config.scope or _G
local rawget, next, type, select, setfenv, loadstring = rawget, next, type, select, setfenv, loadstring
local getmetatable = debug.getmetatable
local traceback = debug.traceback
local find, sub, match = string.find, string.sub, string.match
local concat, tostring, pcall, xpcall = table.concat, tostring, pcall, xpcall

local M = {}

local declared, locals = {}, {}
-- `return VALUES(expr)`: the expression's calls are not tail calls, so their frames and
-- error positions stay.
local function values(...) return ... end
-- `DECLARE.name = value` (what rewrite.rs makes of `local name = value`) declares a local.
local declarer = setmetatable({}, {
  __newindex = function(_, k, v)
    declared[k] = true
    locals[k] = v
  end,
})

M.env = setmetatable({}, {
  __index = function(_, k)
    if declared[k] then return locals[k] end
    if k == DECLARE then return declarer end
    if k == VALUES then return values end
    return G[k]
  end,
  __newindex = function(_, k, v)
    if declared[k] then locals[k] = v else G[k] = v end
  end,
})

-- The globals as the session found them, for `.clear`.
local snapshot = {}
for k, v in next, G do snapshot[k] = v end

-- `.clear`: forget the prompt's locals and `_`, and put the globals back as they were when the
-- session started (those added at the prompt go, changed ones come back).
function M.clear()
  declared, locals = {}, {}
  local added = {}
  for k in next, G do
    if snapshot[k] == nil then added[#added + 1] = k end
  end
  for _, k in ipairs(added) do rawset(G, k, nil) end
  for k, v in next, snapshot do
    if rawget(G, k) ~= v then rawset(G, k, v) end
  end
end

function M.setLast(v)
  declared._ = true
  locals._ = v
end

function M.compile(src)
  local fn, err = loadstring(src, CHUNK)
  if not fn then return nil, err end
  setfenv(fn, M.env)
  return fn
end

-- The message and the frames of the entry itself: the frames of this file and below are cut.
local function handler(err)
  local ok, text = pcall(tostring, err)
  if not ok or type(text) ~= 'string' then text = '(error object is not a string)' end
  local tb = traceback(text, 2)
  local lines, frames = {}, 0
  for line in (tb .. '\n'):gmatch('([^\n]*)\n') do
    if find(line, 'repl-internal', 1, true) or find(line, "in function 'xpcall'", 1, true) then
      break
    end
    if find(line, '^\t%[builtin#%d+%]') then
      -- a fast function such as error(): nothing to read there
    elseif sub(line, 1, 1) == '\t' then
      frames = frames + 1
      if frames > 8 then
        lines[#lines + 1] = '\t...'
        break
      end
    end
    if not find(line, '^\t%[builtin#%d+%]') then lines[#lines + 1] = line end
  end
  if frames == 0 and lines[#lines] == 'stack traceback:' then lines[#lines] = nil end
  return concat(lines, '\n')
end

local function pack(...)
  return { n = select('#', ...), ... }
end

-- The body of the coroutine an entry runs in: `done` gets { n, ok, results or message }.
function M.runner(fn, done)
  done(pack(xpcall(fn, handler)))
end

-- Completion --------------------------------------------------------------------------------

local function indexTable(v)
  local mt = getmetatable(v)
  local idx = mt and rawget(mt, '__index')
  if type(idx) == 'table' then return idx end
end

-- v[k] as Lua would find it through __index tables (never __index functions).
local function lookup(v, k)
  for _ = 1, 32 do
    if type(v) == 'table' then
      local r = rawget(v, k)
      if r ~= nil then return r end
    end
    v = indexTable(v)
    if v == nil then return nil end
  end
end

local function collect(v, prefix, onlyFunctions, out)
  local seen, n = {}, #prefix
  for _ = 1, 32 do
    if type(v) == 'table' and not seen[v] then
      seen[v] = true
      for k, val in next, v do
        if type(k) == 'string' and sub(k, 1, n) == prefix and match(k, '^[%a_][%w_]*$')
          and (not onlyFunctions or type(val) == 'function' or type(val) == 'table') then
          out[#out + 1] = k
        end
      end
    end
    v = indexTable(v)
    if v == nil then return end
  end
end

-- steps: { {'root', name} | {'require', name} | {'field', name} | {'instance'} ... }
function M.complete(steps, method, prefix)
  local out = {}
  if #steps == 0 then
    for k in next, declared do
      if sub(k, 1, #prefix) == prefix then out[#out + 1] = k end
    end
    collect(G, prefix, false, out)
    return out
  end
  local v
  for i = 1, #steps do
    local kind, name = steps[i][1], steps[i][2]
    if kind == 'root' then
      if declared[name] then v = locals[name] else v = lookup(G, name) end
    elseif kind == 'require' then
      v = peekModule(name)
    elseif kind == 'field' then
      v = lookup(v, name)
    end
    -- 'instance': an object of class v finds its methods through v itself.
    if v == nil then return out end
  end
  collect(v, prefix, method, out)
  return out
end

function M.loadedModules(prefix)
  local out = {}
  local package = rawget(G, 'package')
  local loaded = type(package) == 'table' and rawget(package, 'loaded')
  if type(loaded) ~= 'table' then return out end
  for k in next, loaded do
    if type(k) == 'string' and sub(k, 1, #prefix) == prefix and not find(k, '[/\\]') then
      out[#out + 1] = k
    end
  end
  return out
end

return M
