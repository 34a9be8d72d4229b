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
local function rawtostring(v)
  local mt = getmeta(v)
  if mt == nil then return tostring(v) end
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

-- MobDebug's side: values as Lua literals that a controller reads with loadstring, the way
-- it reads serpent's output (one line; `%q` strings; functions skipped; cycles, userdata and
-- threads as nil with a comment), the stack in MobDebug's shape, and EXEC in a frame.

-- Options (MobDebug's EXEC/STACK params): maxlevel (table depth), numformat (default
-- '%.16g'), maxnum (entries shown per table), comment (false: no address comments).
local function options(params)
  params = type(params) == 'table' and params or {}
  local o = {
    maxlevel = tonumber(params.maxlevel) or 1000,
    numformat = type(params.numformat) == 'string' and params.numformat or '%.16g',
    maxnum = tonumber(params.maxnum),
    comment = params.comment ~= false,
  }
  if not pcall(string.format, o.numformat, 1.5) then o.numformat = '%.16g' end
  return o
end

local function numliteral(v, o)
  if v ~= v then return '0/0' end
  if v == math.huge then return 'math.huge' end
  if v == -math.huge then return '-math.huge' end
  local ok, s = pcall(string.format, o.numformat, v)
  if not ok or tonumber(s) == nil then s = ('%.16g'):format(v) end
  return s
end

local function strliteral(v)
  return (('%q'):format(v):gsub('\010', 'n'):gsub('\026', '\\026'))
end

-- Names that look like identifiers but are Lua's reserved words (`{['end'] = 1}`, not `{end = 1}`).
local KEYWORDS = {}
for w in ('and break do else elseif end false for function goto if in local nil not or repeat '
  .. 'return then true until while'):gmatch('%a+') do KEYWORDS[w] = true end

local literal
local function tableliteral(t, o, seen, depth)
  if seen[t] then return 'nil --[[ref]]' end
  if depth > o.maxlevel then return '{} --[[...]]' end
  seen[t] = true
  local parts, n = {}, arraylen(t)
  local budget = o.maxnum or math.huge
  for i = 1, n do
    if #parts >= budget then break end
    parts[#parts + 1] = literal(rawget(t, i), o, seen, depth + 1)
  end
  local keys = {}
  for k in next, t do
    if not (type(k) == 'number' and k >= 1 and k <= n and k % 1 == 0) then keys[#keys + 1] = k end
  end
  pcall(sort, keys, keyorder)
  for _, k in ipairs(keys) do
    if #parts >= budget then break end
    local kt = type(k)
    -- a key that would be written as nil (userdata, thread, a table being written) cannot be
    -- loaded back: `{[nil] = 1}` is an error; such entries are left out
    if not (kt == 'userdata' or kt == 'thread' or (kt == 'table' and seen[k])) then
      local key
      if isident(k) and not KEYWORDS[k] then key = k
      else key = '[' .. literal(k, o, seen, depth + 1) .. ']' end
      parts[#parts + 1] = key .. ' = ' .. literal(rawget(t, k), o, seen, depth + 1)
    end
  end
  seen[t] = nil
  local more = (n + #keys > budget) and ' --[[more]]' or ''
  return '{' .. concat(parts, ', ') .. '}' .. more
end

function literal(v, o, seen, depth)
  local t = type(v)
  if t == 'string' then return strliteral(v)
  elseif t == 'number' then return numliteral(v, o)
  elseif t == 'boolean' or t == 'nil' then return tostring(v)
  elseif t == 'table' then return tableliteral(v, o, seen, depth)
  elseif t == 'function' then return 'function() --[[..skipped..]] end'
  end
  return 'nil --[[' .. rawtostring(v):gsub('%]%]', '] ]') .. ']]'
end

--- md_line(v, params) -> one line, with the table's address as a comment (MobDebug's `line`).
function M.md_line(v, params)
  local o = options(params)
  local s = literal(v, o, {}, 1)
  if type(v) == 'table' and o.comment then s = s .. ' --[[' .. rawtostring(v) .. ']]' end
  return s
end

--- md_dump(v, params) -> `do local _=<literal>;return _;end` (MobDebug's `dump`).
function M.md_dump(v, params)
  return 'do local _=' .. literal(v, options(params), {}, 1) .. ';return _;end'
end

local function withtostring(v)
  local ok, s = pcall(rawtostring, v)
  return { v, ok and s or '?' }
end

-- MobDebug's EXEC/STACK params (`-- {maxlevel = 1, stack = 2}`) are read as data, never run:
-- one table constructor of numbers, strings, booleans, nil, math.huge and nested tables, with
-- comments. Anything else (a call, an operator, a loop) makes the params unreadable: {}.
local PARAM_ESCAPES = { n = '\n', t = '\t', r = '\r', a = '\a', b = '\b', f = '\f', v = '\v',
  ['\\'] = '\\', ['"'] = '"', ["'"] = "'", ['\n'] = '\n' }
local PARAMS_MAX_DEPTH = 16

local function readparams(text)
  local pos = 1
  local function fail() error('unreadable params', 0) end
  local function skip()
    while true do
      pos = text:find('[^%s]', pos) or #text + 1
      if text:sub(pos, pos + 1) ~= '--' then return end
      local _, e = text:find('^%-%-%[(=*)%[.-%]%1%]', pos)
      if not e then e = text:find('\n', pos, true) or #text end
      pos = e + 1
    end
  end
  local function quoted(q)
    local out = {}
    pos = pos + 1
    while true do
      local c = text:sub(pos, pos)
      if c == q then
        pos = pos + 1
        return concat(out)
      elseif c == '' or c == '\n' then
        fail()
      elseif c == '\\' then
        local n = text:sub(pos + 1, pos + 1)
        local digits = text:match('^%d%d?%d?', pos + 1)
        local hex = n == 'x' and text:match('^%x%x', pos + 2)
        if PARAM_ESCAPES[n] then
          out[#out + 1], pos = PARAM_ESCAPES[n], pos + 2
        elseif digits and tonumber(digits) < 256 then
          out[#out + 1], pos = string.char(tonumber(digits)), pos + 1 + #digits
        elseif hex then
          out[#out + 1], pos = string.char(tonumber(hex, 16)), pos + 4
        else
          fail()
        end
      else
        local e = text:find(q == '"' and '[\\\n"]' or "[\\\n']", pos) or #text + 1
        out[#out + 1], pos = text:sub(pos, e - 1), e
      end
    end
  end
  local value
  local function number(sign)
    local s = text:match('^0[xX]%x+', pos) or text:match('^%.?%d[%d%.]*', pos)
    if not s then fail() end
    local ex = not s:find('^0[xX]') and text:match('^[eE][%+%-]?%d+', pos + #s) or ''
    local n = tonumber(s .. ex)
    if not n then fail() end
    pos = pos + #s + #ex
    return sign * n
  end
  local function tableval(depth)
    if depth > PARAMS_MAX_DEPTH then fail() end
    local t, n = {}, 0
    pos = pos + 1
    while true do
      skip()
      local c = text:sub(pos, pos)
      if c == '}' then
        pos = pos + 1
        return t
      end
      local k, v
      local name = text:match('^[%a_][%w_]*', pos)
      local after = name and text:find('[^%s]', pos + #name)
      if c == '[' and text:sub(pos + 1, pos + 1) ~= '[' and text:sub(pos + 1, pos + 1) ~= '=' then
        pos = pos + 1
        skip()
        k = value(depth)
        skip()
        if text:sub(pos, pos) ~= ']' then fail() end
        pos = pos + 1
        skip()
        if text:sub(pos, pos) ~= '=' then fail() end
        pos = pos + 1
        skip()
        v = value(depth)
      elseif after and text:sub(after, after) == '=' and text:sub(after + 1, after + 1) ~= '=' then
        k, pos = name, after + 1
        skip()
        v = value(depth)
      else
        n = n + 1
        k, v = n, value(depth)
      end
      if k == nil or k ~= k then fail() end
      t[k] = v
      skip()
      c = text:sub(pos, pos)
      if c == ',' or c == ';' then
        pos = pos + 1
      elseif c ~= '}' then
        fail()
      end
    end
  end
  value = function(depth)
    local c = text:sub(pos, pos)
    if c == '{' then return tableval(depth + 1) end
    if c == '"' or c == "'" then return quoted(c) end
    local long = text:match('^%[(=*)%[', pos)
    if long then
      local close = ']' .. long .. ']'
      local s = pos + #long + 2
      if text:sub(s, s) == '\n' then s = s + 1 end
      local e = text:find(close, s, true)
      if not e then fail() end
      pos = e + #close
      return text:sub(s, e - 1)
    end
    local sign = 1
    if c == '-' then
      sign, pos = -1, pos + 1
      skip()
    end
    if text:find('^math%.huge', pos) and not text:find('^[%w_]', pos + 9) then
      pos = pos + 9
      return sign * math.huge
    end
    local word = sign == 1 and text:match('^[%a_][%w_]*', pos)
    if word == 'true' or word == 'false' or word == 'nil' then
      pos = pos + #word
      if word == 'nil' then return nil end
      return word == 'true'
    end
    return number(sign)
  end
  local ok, t = pcall(function()
    skip()
    if text:sub(pos, pos) ~= '{' then fail() end
    local t = tableval(1)
    skip()
    if pos <= #text then fail() end
    return t
  end)
  return ok and t or {}
end
M.readparams = readparams

local function parseparams(text)
  if type(text) ~= 'string' then return {} end
  return readparams(text)
end

--- md_stack(co, level, basedir, params) -> MobDebug's STACK payload.
function M.md_stack(co, level, basedir, paramtext)
  local params = parseparams(paramtext)
  -- frames nest values three deep ({frame, locals, ups} -> name -> {value, tostring})
  if tonumber(params.maxlevel) then params.maxlevel = tonumber(params.maxlevel) + 4 end
  local out = {}
  for i = level, level + 200 do
    local info = debug.getinfo(co, i, 'nSl')
    if not info then break end
    if info.source == '=dispatch' then break end
    if info.source ~= '=luvit-debugger' then
      local src = info.source
      if src:sub(1, 1) == '@' then
        src = src:sub(2)
        if basedir ~= '' and src:sub(1, #basedir) == basedir then src = src:sub(#basedir + 1) end
      end
      local locals, ups = {}, {}
      if info.what ~= 'C' then
        for _, l in ipairs(M.locals(co, i)) do locals[l[1]] = withtostring(l[2]) end
        for j, v in ipairs(M.varargs(co, i)) do locals['(vararg ' .. j .. ')'] = withtostring(v[2]) end
        for _, u in ipairs(M.upvalues(co, i)) do ups[u[1]] = withtostring(u[2]) end
      end
      out[#out + 1] = {
        { info.name, src, info.linedefined, info.currentline, info.what, info.namewhat,
          info.short_src },
        locals, ups,
      }
    end
  end
  return M.md_dump(out, params)
end

--- md_exec(co, level, chunk, params) -> ok, payload: EXEC in a frame; each result as a
-- line, all of them dumped as one table (what MobDebug's controller loads).
function M.md_exec(co, level, chunk, paramtext)
  local params = parseparams(paramtext)
  if co and tonumber(params.stack) then level = level + tonumber(params.stack) - 1 end
  chunk = chunk:gsub('\r?\012', '\n')
  local fn, err = loadstring(chunk, '=(exec)')
  if not fn then return false, err end
  setfenv(fn, frameenv(co, level))
  local res = (function(...) return { n = select('#', ...), ... } end)(pcall(fn))
  if not res[1] then return false, tostring(res[2]) end
  local lines = {}
  for i = 2, res.n do lines[i - 1] = M.md_line(res[i], params) end
  return true, M.md_dump(lines)
end

--- md_check(exp) -> nil, or the message if `return(exp)` does not compile (SETW).
function M.md_check(exp)
  local fn, err = loadstring('return(' .. exp .. ')', '=(watch)')
  if fn then return nil end
  return err
end

--- The first line of a chunk that holds code (LOAD's `201 Started <file> <line>`).
function M.firstline(text, chunkname)
  local lines = M.codelines(text, chunkname)
  return lines and lines[1] or 1
end

return M
