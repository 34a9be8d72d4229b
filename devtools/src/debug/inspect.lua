--[[
inspect: the debugger's Lua side. Reads a stopped program's frames, locals, upvalues and
values, evaluates expressions in a frame, and lists the lines of a chunk that hold code.
The Rust side (devtools/src/debug/) calls these functions on a thread of its own while the
program is stopped, passing the stopped coroutine; nothing here runs the program's code
except `evaluate` (which the user asked for) and never a metamethod when showing a value.
]]

local debug, type, next, pairs, rawget, rawequal = debug, type, next, pairs, rawget, rawequal
local tostring, select, pcall, setmetatable, getfenv, setfenv = tostring, select, pcall, setmetatable, getfenv, setfenv
local loadstring, sort, concat, format = loadstring, table.sort, table.concat, string.format
local getmeta, setmeta = debug.getmetatable, debug.setmetatable

local M = {}

-- tostring without __tostring/__name: the program's code never runs to show a value.
-- A userdata's metatable is not taken off for it: LuaJIT's trace compiler holds the metatable
-- of its own userdata (io files, string buffers, C library namespaces) to be fixed, and
-- recording tostring on a file left without one for the moment crashed the process (fuzz
-- finding dap_hot_tostring_of_an_io_file): '%p' prints the address tostring would.
local function rawtostring(v)
  local mt = getmeta(v)
  if mt == nil then return tostring(v) end
  if type(v) == 'userdata' then return format('userdata: %p', v) end
  setmeta(v, nil)
  local s = tostring(v)
  setmeta(v, mt)
  return s
end

local function escape(s, limit)
  local cut = false
  if limit and #s > limit then s, cut = s:sub(1, limit), true end
  s = s:gsub('[%c"\\\128-\255]', function(c)
    local b = c:byte()
    if c == '"' then return '\\"' elseif c == '\\' then return '\\\\'
    elseif c == '\n' then return '\\n' elseif c == '\r' then return '\\r'
    elseif c == '\t' then return '\\t' elseif b >= 128 then return c end
    return format('\\%d', b)
  end)
  return '"' .. s .. (cut and '…"' or '"')
end

local function where(f)
  local info = debug.getinfo(f, 'S')
  if not info or info.what == 'C' then return nil end
  local src = info.source:gsub('^[@=]', '')
  return src .. ':' .. info.linedefined
end

local function isident(k)
  return type(k) == 'string' and k:match('^[%a_][%w_]*$') ~= nil
end

local function keyname(k)
  if isident(k) then return k end
  if type(k) == 'string' then return '[' .. escape(k, 60) .. ']' end
  if type(k) == 'number' then return '[' .. tostring(k) .. ']' end
  return '[' .. rawtostring(k) .. ']'
end

-- The length of the array part as the debugger shows it: 1..n with no hole.
local function arraylen(t)
  local n = 0
  while rawget(t, n + 1) ~= nil do n = n + 1 end
  return n
end

local function classname(t)
  local mt = getmeta(t)
  if type(mt) ~= 'table' then return nil end
  local name = rawget(mt, '__name')
  if type(name) == 'string' then return name end
  -- luvit classes: instances have `meta` as metatable, whose `__index` is the class
  local cls = rawget(mt, '__index')
  if type(cls) == 'table' then
    local n = rawget(cls, 'name') or rawget(cls, '__name')
    if type(n) == 'string' then return n end
  end
  return nil
end

local preview
-- One line that shows a value: strings escaped, tables previewed, functions with their site.
local function show(v, depth)
  local t = type(v)
  if t == 'string' then return escape(v, depth and 40 or 4096)
  elseif t == 'number' or t == 'boolean' or t == 'nil' then return tostring(v)
  elseif t == 'table' then
    if depth then return classname(v) or '{…}' end
    return preview(v)
  elseif t == 'function' then
    local site = where(v)
    return site and ('function ' .. site) or 'function (native)'
  elseif t == 'thread' then
    return rawtostring(v) .. ' (' .. coroutine.status(v) .. ')'
  end
  return rawtostring(v)
end

function preview(t)
  local parts, len, n = {}, 0, arraylen(t)
  local more = false
  for i = 1, n do
    if len > 60 then more = true break end
    local s = show(rawget(t, i), 1)
    parts[#parts + 1] = s
    len = len + #s + 2
  end
  if not more then
    for k, v in next, t do
      if not (type(k) == 'number' and k >= 1 and k <= n and k % 1 == 0) then
        if len > 60 then more = true break end
        local s = keyname(k) .. ' = ' .. show(v, 1)
        parts[#parts + 1] = s
        len = len + #s + 2
      end
    end
  end
  if more then parts[#parts + 1] = '…' end
  local name = classname(t)
  return (name and name .. ' ' or '') .. '{' .. concat(parts, ', ') .. '}'
end

-- Whether a value has children to expand, and how many indexed/named ones.
local function counts(v)
  local t = type(v)
  if t == 'table' then
    local n = arraylen(v)
    local named = 0
    for k in next, v do
      if not (type(k) == 'number' and k >= 1 and k <= n and k % 1 == 0) then named = named + 1 end
    end
    if getmeta(v) ~= nil then named = named + 1 end
    return true, n, named
  elseif t == 'function' then
    local info = debug.getinfo(v, 'u')
    return info and info.nups > 0, 0, info and info.nups or 0
  elseif t == 'userdata' then
    return getmeta(v) ~= nil or debug.getfenv(v) ~= nil, 0, 1
  end
  return false, 0, 0
end

--- describe(v) -> display, type, expandable, indexed, named
function M.describe(v)
  local ok, s = pcall(show, v)
  if not ok then s = '<' .. type(v) .. '>' end
  local expandable, indexed, named = counts(v)
  local t = type(v)
  if t == 'table' then t = classname(v) or 'table' end
  return s, t, expandable, indexed, named
end

local function keyorder(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then
    if ta == 'number' then return true elseif tb == 'number' then return false end
    if ta == 'string' then return true elseif tb == 'string' then return false end
    return ta < tb
  end
  if ta == 'number' or ta == 'string' then return a < b end
  return rawtostring(a) < rawtostring(b)
end

--- children(v, filter, start, count) -> list of { name, value, key } (1-based list)
-- filter: 'indexed' (the array part), 'named' (everything else, sorted) or nil (both).
function M.children(v, filter, start, count)
  local out = {}
  start = start or 0
  local t = type(v)
  if t == 'table' then
    local n = arraylen(v)
    local list = {}
    if filter ~= 'named' then
      for i = 1, n do list[#list + 1] = { '[' .. i .. ']', rawget(v, i), i } end
    end
    if filter ~= 'indexed' then
      local keys = {}
      for k in next, v do
        if not (type(k) == 'number' and k >= 1 and k <= n and k % 1 == 0) then keys[#keys + 1] = k end
      end
      pcall(sort, keys, keyorder)
      for _, k in ipairs(keys) do list[#list + 1] = { keyname(k), rawget(v, k), k } end
      local mt = getmeta(v)
      if mt ~= nil then list[#list + 1] = { '[metatable]', mt } end
    end
    local last = count and count > 0 and math.min(#list, start + count) or #list
    for i = start + 1, last do out[#out + 1] = list[i] end
  elseif t == 'function' then
    for i = 1, math.huge do
      local name, val = debug.getupvalue(v, i)
      if not name then break end
      out[#out + 1] = { name ~= '' and name or ('[upvalue ' .. i .. ']'), val }
    end
  elseif t == 'userdata' then
    local mt = getmeta(v)
    if mt ~= nil then out[#out + 1] = { '[metatable]', mt } end
    local env = debug.getfenv(v)
    if env ~= nil then out[#out + 1] = { '[environment]', env } end
  end
  return out
end

--- A frame's function, or nil.
local function framefunc(co, level)
  local info = debug.getinfo(co, level, 'f')
  return info and info.func
end

--- frames(co, level) -> list of { name, source, line, what, linedefined } from `level` down.
function M.frames(co, level, max)
  local out = {}
  max = max or 1000
  while #out < max do
    local info = debug.getinfo(co, level, 'nSl')
    if not info then break end
    local name = info.name
    if info.what == 'main' then name = 'main chunk' end
    if not name then
      if info.what == 'main' then name = 'main chunk'
      elseif info.what == 'C' then name = '[native]'
      else name = 'function <' .. info.short_src .. ':' .. info.linedefined .. '>' end
    end
    out[#out + 1] = { name = name, source = info.source, line = info.currentline,
                      what = info.what, linedefined = info.linedefined, level = level }
    level = level + 1
  end
  return out
end

--- How many frames a coroutine has from `level` down.
function M.depth(co, level)
  local n = 0
  while debug.getinfo(co, level + n, 'l') do n = n + 1 end
  return n
end

--- locals(co, level) -> list of { name, value, index }; vars(...) -> varargs.
function M.locals(co, level)
  local out, seen = {}, {}
  for i = 1, math.huge do
    local name, val = debug.getlocal(co, level, i)
    if not name then break end
    if name:sub(1, 1) ~= '(' then
      -- a later local of the same name shadows the earlier one: show the live one only
      if seen[name] then out[seen[name]].shadowed = true end
      out[#out + 1] = { name, val, i }
      seen[name] = #out
    end
  end
  local live = {}
  for _, l in ipairs(out) do if not l.shadowed then live[#live + 1] = l end end
  return live
end

function M.varargs(co, level)
  local out = {}
  for i = 1, math.huge do
    local name, val = debug.getlocal(co, level, -i)
    if not name then break end
    out[#out + 1] = { '[' .. i .. ']', val, -i }
  end
  return out
end

function M.upvalues(co, level)
  local out = {}
  local f = framefunc(co, level)
  if not f then return out end
  for i = 1, math.huge do
    local name, val = debug.getupvalue(f, i)
    if not name then break end
    out[#out + 1] = { name ~= '' and name or ('[upvalue ' .. i .. ']'), val, i }
  end
  return out
end

function M.globals(co, level)
  local f = framefunc(co, level)
  local env = f and getfenv(f) or _G
  return env
end

function M.setlocal(co, level, index, value)
  return debug.setlocal(co, level, index, value) ~= nil
end

function M.setupvalue(co, level, index, value)
  local f = framefunc(co, level)
  return f ~= nil and debug.setupvalue(f, index, value) ~= nil
end

-- An environment that reads and writes a frame's locals, then upvalues, then its globals.
local function frameenv(co, level, extra)
  local genv = _G
  local locals, ups = {}, {}
  local f
  if co then
    f = framefunc(co, level)
    if f then genv = getfenv(f) or _G end
    for i = 1, math.huge do
      local name = debug.getlocal(co, level, i)
      if not name then break end
      if name:sub(1, 1) ~= '(' then locals[name] = i end
    end
    if f then
      for i = 1, math.huge do
        local name = debug.getupvalue(f, i)
        if not name then break end
        ups[name] = i
      end
    end
  end
  return setmetatable({}, {
    __index = function(_, k)
      if extra and extra[k] ~= nil then return extra[k] end
      local li = locals[k]
      if li then local _, v = debug.getlocal(co, level, li) return v end
      local ui = ups[k]
      if ui then local _, v = debug.getupvalue(f, ui) return v end
      return genv[k]
    end,
    __newindex = function(_, k, v)
      local li = locals[k]
      if li then debug.setlocal(co, level, li, v) return end
      local ui = ups[k]
      if ui then debug.setupvalue(f, ui, v) return end
      genv[k] = v
    end,
  })
end

local function compile(expr)
  local fn = loadstring('return ' .. expr, '=(debug console)')
  if fn then return fn end
  local err
  fn, err = loadstring(expr, '=(debug console)')
  return fn, err
end

--- evaluate(co, level, expr, out) -> ok, { n = k, ... } or message.
-- `out(text)` receives what `print` and `p` write while it runs.
function M.evaluate(co, level, expr, out)
  local fn, err = compile(expr)
  if not fn then return false, (err:gsub('^%(debug console%):1: ', '')) end
  local extra
  if out then
    extra = {
      print = function(...)
        local parts = {}
        for i = 1, select('#', ...) do parts[i] = tostring((select(i, ...))) end
        out(concat(parts, '\t') .. '\n')
      end,
      p = function(...)
        local ok, pp = pcall(require, 'pretty-print')
        local parts = {}
        for i = 1, select('#', ...) do
          local v = select(i, ...)
          parts[i] = ok and pp.dump and pp.dump(v, nil, true) or tostring(v)
        end
        out(concat(parts, '\t') .. '\n')
      end,
    }
  end
  setfenv(fn, frameenv(co, level, extra))
  local res = (function(...) return { n = select('#', ...), ... } end)(pcall(fn))
  local n = res.n
  if not res[1] then
    local e = res[2]
    if type(e) == 'string' then e = e:gsub('^%(debug console%):1: ', '') else e = tostring(e) end
    return false, e
  end
  local vals = { n = n - 1 }
  for i = 2, n do vals[i - 1] = res[i] end
  return true, vals
end

--- Whether `cond` is true in a frame (a condition that fails to run counts as true, so the
-- user sees the breakpoint and can fix it).
function M.condition(co, level, cond)
  local ok, vals = M.evaluate(co, level, cond)
  if not ok then return true, vals end
  return vals[1] ~= nil and vals[1] ~= false
end

--- A logpoint's message: `{expr}` parts evaluated in the frame.
function M.interpolate(co, level, msg)
  return (msg:gsub('%b{}', function(part)
    local ok, vals = M.evaluate(co, level, part:sub(2, -2))
    if not ok then return '{' .. tostring(vals) .. '}' end
    if vals.n == 0 then return 'nil' end
    local v = vals[1]
    if type(v) == 'string' then return v end
    return (show(v))
  end))
end

--- The lines of a chunk that hold code, as a sorted list: compiled, never run.
function M.codelines(text, chunkname)
  local fn = loadstring(text, chunkname)
  if not fn then return nil end
  local ok, ju = pcall(require, 'jit.util')
  local acc = {}
  if ok then
    local function walk(f)
      local fi = ju.funcinfo(f)
      for pc = 1, (fi.bytecodes or 1) - 1 do
        local li = ju.funcinfo(f, pc)
        if li and li.currentline then acc[li.currentline] = true end
      end
      local k = -1
      while true do
        local c = ju.funck(f, k)
        if c == nil then break end
        if type(c) == 'proto' then walk(c) end
        k = k - 1
      end
    end
    walk(fn)
  end
  local lines = {}
  for l in pairs(acc) do lines[#lines + 1] = l end
  sort(lines)
  return lines
end

--- What completes `text` at the end (names of locals, upvalues, globals, or fields after
-- `a.b.` / `a:`), without calling any function.
function M.completions(co, level, text)
  local prefix, sep, partial = text:match('([%w_%.:]-)([%.:]?)([%w_]*)$')
  local out, seen = {}, {}
  local function add(k)
    if type(k) == 'string' and k:sub(1, #partial) == partial and not seen[k] and isident(k) then
      seen[k] = true
      out[#out + 1] = k
    end
  end
  local function addtable(t, depth)
    depth = depth or 0
    if type(t) ~= 'table' or depth > 8 then return end
    for k in next, t do add(k) end
    local mt = getmeta(t)
    if mt and type(rawget(mt, '__index')) == 'table' then addtable(rawget(mt, '__index'), depth + 1) end
  end
  if sep == '' then
    if co then
      for _, l in ipairs(M.locals(co, level)) do add(l[1]) end
      for _, u in ipairs(M.upvalues(co, level)) do add(u[1]) end
    end
    addtable(co and M.globals(co, level) or _G)
  else
    local env = frameenv(co, level)
    local v = env[prefix:match('^[%w_]+')]
    for field in prefix:gmatch('[%.:]([%w_]+)') do
      if type(v) ~= 'table' then v = nil break end
      v = rawget(v, field)
    end
    addtable(v)
  end
  sort(out)
  return out
end

-- What the MobDebug side (mdvalues.lua) shares.
M._util = { rawtostring = rawtostring, isident = isident, keyorder = keyorder, frameenv = frameenv }

--- The first line of a chunk that holds code (LOAD's `201 Started <file> <line>`).
-- The main chunk's own first instruction, not its functions' bodies (`local function f()`
-- on line 3 has its body's lines first, but runs nothing before its `end`).
function M.firstline(text, chunkname)
  local fn = loadstring(text, chunkname)
  local ok, ju = pcall(require, 'jit.util')
  if not fn or not ok then return 1 end
  for pc = 1, (ju.funcinfo(fn).bytecodes or 1) - 1 do
    local li = ju.funcinfo(fn, pc)
    if li and li.currentline and li.currentline > 0 then return li.currentline end
  end
  return 1
end

return M
