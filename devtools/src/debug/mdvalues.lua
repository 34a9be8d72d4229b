--[==[
mdvalues: the MobDebug side of the debugger's Lua code. Values become the Lua literals that
MobDebug's controller (ZeroBrane Studio) loads with loadstring, written as serpent (MobDebug's
serializer) writes them: `line` for each EXEC result, `dump` (`do local _=...;return _;end`)
for STACK and for EXEC's list of results. Also STACK's frames in MobDebug's shape, EXEC in a
frame, and SETW's compile check. Loaded after inspect.lua, whose module table it extends.

The params a controller sends after `-- ` are honoured as MobDebug honours them:
  maxlevel   table depth (nested tables past it are `{}`)
  maxnum     entries written per table
  maxlength  a budget of characters for a whole value (tables stop once it is spent)
  numformat  how numbers are written (default '%.16g')
  comment    false: no comments; a number n: comments on the first n levels; true: all
  nocode     false: Lua functions as their bytecode (string.dump), loadable; otherwise (the
             default) `function() --[[..skipped..]] end`
  metatostring  false: values are written as they are; otherwise (the default) a value whose
             metatable has __tostring or __serialize is written as what that returns
Where serpent runs the program's code (__tostring, __serialize) only metatostring allows it.
]==]

local M = ...
local U = M._util
local rawtostring, isident, keyorder, frameenv = U.rawtostring, U.isident, U.keyorder, U.frameenv

local type, next, rawget, pcall, tostring, tonumber, select = type, next, rawget, pcall, tostring, tonumber, select
local loadstring, setfenv, sort, concat, format = loadstring, setfenv, table.sort, table.concat, string.format
local getmeta, huge = debug.getmetatable, math.huge

-- Names that look like identifiers but are Lua's reserved words (`{['end'] = 1}`, not `{end = 1}`).
local KEYWORDS = {}
for w in ('and break do else elseif end false for function goto if in local nil not or repeat '
  .. 'return then true until while'):gmatch('%a+') do KEYWORDS[w] = true end

local function plainkey(k) return isident(k) and not KEYWORDS[k] end

--- The options of one serialization. `comment` is the default when the params leave it out
-- (MobDebug's EXEC comments the top level; STACK and dump comment nothing).
local function options(params, comment)
  params = type(params) == 'table' and params or {}
  if params.comment ~= nil then comment = params.comment end
  local o = {
    maxlevel = tonumber(params.maxlevel) or 1000,
    numformat = type(params.numformat) == 'string' and params.numformat or '%.16g',
    maxnum = tonumber(params.maxnum),
    maxlength = tonumber(params.maxlength),
    comment = comment and (tonumber(comment) or huge) or nil,
    nocode = params.nocode ~= false,
    metatostring = params.metatostring ~= false,
  }
  if not pcall(format, o.numformat, 1.5) then o.numformat = '%.16g' end
  return o
end

local function numliteral(v, o)
  if v ~= v then return '0/0' end
  if v == huge then return '1/0 --[[math.huge]]' end
  if v == -huge then return '-1/0 --[[-math.huge]]' end
  local ok, s = pcall(format, o.numformat, v)
  if not ok or tonumber(s) == nil then s = format('%.16g', v) end
  return s
end

-- The bytes of a run of non-ASCII text that form valid UTF-8 stay; the others become `\ddd`
-- escapes (the reply travels as text; loadstring gives the same bytes back either way).
local function utf8safe(run)
  local out, i, n = {}, 1, #run
  while i <= n do
    local c = run:byte(i)
    local len, lo, hi = 0, 0x80, 0xBF
    if c >= 0xC2 and c <= 0xDF then len = 2
    elseif c >= 0xE0 and c <= 0xEF then
      len = 3
      if c == 0xE0 then lo = 0xA0 elseif c == 0xED then hi = 0x9F end
    elseif c >= 0xF0 and c <= 0xF4 then
      len = 4
      if c == 0xF0 then lo = 0x90 elseif c == 0xF4 then hi = 0x8F end
    end
    local ok = len > 0 and i + len - 1 <= n
    for j = 1, len - 1 do
      if not ok then break end
      local b = run:byte(i + j)
      if j == 1 then ok = b >= lo and b <= hi else ok = b >= 0x80 and b <= 0xBF end
    end
    if ok then
      out[#out + 1] = run:sub(i, i + len - 1)
      i = i + len
    else
      out[#out + 1] = '\\' .. c
      i = i + 1
    end
  end
  return concat(out)
end

local function strliteral(v)
  return (format('%q', v):gsub('\010', 'n'):gsub('\026', '\\026'):gsub('[\128-\255]+', utf8safe))
end

local function keyliteral(k, o)
  local t = type(k)
  if t == 'string' then return strliteral(k) end
  if t == 'number' then return numliteral(k, o) end
  return tostring(k)
end

-- Values of the standard libraries by name (serpent writes `print`, `io.stdout` for values it
-- cannot write otherwise).
local function globalnames()
  local g = {}
  for k, v in next, _G do
    if plainkey(k) then g[v] = k end
  end
  for _, lib in ipairs({ 'coroutine', 'debug', 'io', 'math', 'string', 'table', 'os' }) do
    local t = rawget(_G, lib)
    if type(t) == 'table' then
      for k, v in next, t do
        if plainkey(k) then g[v] = lib .. '.' .. k end
      end
    end
  end
  return g
end

-- A writer: the options, what has been written (value -> its path, or false), the shared
-- references found (dump: assignments after the body; line: only a warning), the length budget.
local function writer(o, dump)
  return { o = o, dump = dump, seen = {}, refs = {}, cut = false, budget = o.maxlength }
end

local function comment(w, s, level)
  local c = w.o.comment
  if c and level < c then return ' --[[' .. tostring(s):gsub('%]%]', '] ]') .. ']]' end
  return ''
end

local function childpath(path, k, o)
  if not path then return nil end
  if plainkey(k) then return path .. '.' .. k end
  return path .. '[' .. keyliteral(k, o) .. ']'
end

-- What serpent writes for a value it has no literal for: the name it has in the standard
-- libraries, else its tostring as a string.
local function byname(w, v, level)
  w.globals = w.globals or globalnames()
  local name = w.globals[v]
  if name then return name .. comment(w, rawtostring(v), level) end
  local ok, s = pcall(w.o.metatostring and tostring or rawtostring, v)
  return strliteral(ok and type(s) == 'string' and s or rawtostring(v))
end

local value

local function tableliteral(w, t, level, path)
  local o = w.o
  if level >= o.maxlevel then return '{}' .. comment(w, 'maxlvl', level) end
  w.seen[t] = path or false
  if next(t) == nil then return '{}' .. comment(w, rawtostring(t), level) end
  if w.budget and w.budget < 0 then return '{}' .. comment(w, 'maxlen', level) end
  local n = #t
  local limit = o.maxnum or huge
  local parts = {}
  local function add(s)
    parts[#parts + 1] = s
    if w.budget then w.budget = w.budget - #s end
  end
  for i = 1, n do
    if #parts >= limit or (w.budget and w.budget < 0) then break end
    add(value(w, rawget(t, i), level + 1, path and (path .. '[' .. i .. ']')))
  end
  local keys = {}
  for k in next, t do
    if not (type(k) == 'number' and k >= 1 and k <= n and k % 1 == 0) then keys[#keys + 1] = k end
  end
  pcall(sort, keys, keyorder)
  for _, k in ipairs(keys) do
    if #parts >= limit or (w.budget and w.budget < 0) then break end
    local kt = type(k)
    -- a key with no literal (userdata, thread, a table already written) cannot be loaded back:
    -- `{[nil] = 1}` is an error; such entries are left out
    if not (kt == 'userdata' or kt == 'thread' or kt == 'cdata' or kt == 'function'
        or (kt == 'table' and w.seen[k] ~= nil)) then
      local key, kpath
      if kt == 'table' then key = '[' .. value(w, k, level + 1, nil) .. ']'
      else
        key = plainkey(k) and k or ('[' .. keyliteral(k, o) .. ']')
        kpath = childpath(path, k, o)
      end
      add(key .. ' = ' .. value(w, rawget(t, k), level + 1, kpath))
    end
  end
  local more = (n + #keys > limit) and ' --[[more]]' or ''
  return '{' .. concat(parts, ', ') .. '}' .. more .. comment(w, rawtostring(t), level)
end

local function funcliteral(w, f, level, path)
  w.seen[f] = path or false
  if w.o.nocode then
    return 'function() --[[..skipped..]] end' .. comment(w, rawtostring(f), level)
  end
  local ok, code = pcall(string.dump, f)
  if ok then
    return "((loadstring or load)(" .. strliteral(code) .. ",'@serialized'))"
      .. comment(w, rawtostring(f), level)
  end
  return byname(w, f, level)
end

--- One value as a literal; `path` is where it sits in a dump (nil where it has none).
function value(w, v, level, path)
  local t = type(v)
  if t == 'string' then return strliteral(v) end
  if t == 'number' then return numliteral(v, w.o) end
  if t == 'boolean' or t == 'nil' then return tostring(v) end
  local seenat = w.seen[v]
  -- written before where it had no path (inside a table key): a dump cannot link back to
  -- that, so it writes the value again here, where it has one (a copy, not nil)
  if seenat == false and w.dump and path then seenat = nil end
  if seenat ~= nil then
    -- written before: a dump links it back after the body; a line only says so
    if w.dump and seenat and path then
      w.refs[#w.refs + 1] = path .. '=' .. seenat
    else
      w.cut = true
    end
    return 'nil' .. comment(w, 'ref', level)
  end
  local orig = v
  if w.o.metatostring then
    local mt = getmeta(v)
    if type(mt) == 'table' then
      local tsf, serf = rawget(mt, '__tostring'), rawget(mt, '__serialize')
      local tok, ts, sok, ser
      if tsf ~= nil then tok, ts = pcall(tsf, v) end
      if serf ~= nil then sok, ser = pcall(serf, v) end
      if tok or sok then
        w.seen[v] = path or false
        if sok then v = ser else v = ts end
        t = type(v)
      end
    end
  end
  local s
  if t == 'table' then s = tableliteral(w, v, level, path)
  elseif t == 'function' then s = funcliteral(w, v, level, path)
  elseif t == 'string' then s = strliteral(v)
  elseif t == 'number' then s = numliteral(v, w.o)
  elseif t == 'boolean' or t == 'nil' then s = tostring(v)
  else
    w.seen[v] = path or false
    s = byname(w, v, level)
  end
  if not w.dump then
    -- a line marks only the tables it is inside of: a value met twice is written twice
    w.seen[orig] = nil
    w.seen[v] = nil
  end
  return s
end

--- md_line(v, params) -> one line, comments on the top level unless the params say otherwise
-- (MobDebug's `line`, as EXEC uses it).
function M.md_line(v, params)
  local w = writer(options(params, 1), false)
  local s = value(w, v, 0, nil)
  if w.cut and w.o.comment then
    s = s .. ' --[[incomplete output with shared/self-references skipped]]'
  end
  return s
end

--- md_dump(v, params) -> `do local _=<literal>;<links>;return _;end` (MobDebug's `dump`): a
-- value met again is written nil and linked back after the body, so the loaded value has the
-- same shape (cycles included).
function M.md_dump(v, params)
  local w = writer(options(params, nil), true)
  local body = value(w, v, 0, '_')
  local links = #w.refs > 0 and (concat(w.refs, ';') .. ';') or ''
  return 'do local _=' .. body .. ';' .. links .. 'return _;end'
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

local function isinternal(source)
  return source == nil or source:sub(1, 9) == '@builtin:' or source == '=dispatch'
    or source == '=luvit-debugger'
end

--- md_stack(co, level, basedir, params) -> MobDebug's STACK payload: one entry per frame,
-- `{{name, source, linedefined, currentline, what, namewhat, short_src}, locals, upvalues}`,
-- each variable as `{value, tostring}`.
function M.md_stack(co, level, basedir, paramtext)
  local params = parseparams(paramtext)
  -- frames nest values three deep ({frame, locals, ups} -> name -> {value, tostring})
  if tonumber(params.maxlevel) then params.maxlevel = tonumber(params.maxlevel) + 4 end
  local show = params.metatostring ~= false and tostring or rawtostring
  local function pair(v)
    local ok, s = pcall(show, v)
    return { v, ok and type(s) == 'string' and s or rawtostring(v) }
  end
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
      local name, namewhat = info.name, info.namewhat
      if info.what == 'main' then
        -- Lua names a main chunk only when Lua code called it by a name; the runtime's loader
        -- stands where Lua's C loaders (lua.c, require, dofile) do, which give it none
        local caller = debug.getinfo(co, i + 1, 'S')
        if not caller or caller.what == 'C' or isinternal(caller.source) then
          name, namewhat = nil, ''
        end
      end
      local locals, ups = {}, {}
      if info.what ~= 'C' then
        for _, l in ipairs(M.locals(co, i)) do locals[l[1]] = pair(l[2]) end
        for j, v in ipairs(M.varargs(co, i)) do locals['(*vararg ' .. j .. ')'] = pair(v[2]) end
        for _, u in ipairs(M.upvalues(co, i)) do ups[u[1]] = pair(u[2]) end
      end
      out[#out + 1] = {
        { name, src, info.linedefined, info.currentline, info.what, namewhat, info.short_src },
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
  -- named by its text, as MobDebug's loadstring names it: errors read `[string "..."]:1:`,
  -- which ZeroBrane trims from what it shows
  local fn, err = loadstring(chunk)
  if not fn then return false, err end
  setfenv(fn, frameenv(co, level))
  local res = (function(...) return { n = select('#', ...), ... } end)(pcall(fn))
  if not res[1] then return false, tostring(res[2]) end
  local lines = {}
  for i = 2, res.n do
    local ok, s = pcall(M.md_line, res[i], params)
    lines[i - 1] = ok and s or strliteral(tostring(s))
  end
  return true, M.md_dump(lines)
end

--- md_check(exp) -> nil, or the message if `return(exp)` does not compile (SETW).
function M.md_check(exp)
  local fn, err = loadstring('return(' .. exp .. ')')
  if fn then return nil end
  return err
end
