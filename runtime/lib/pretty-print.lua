--[[
pretty-print: luvit's value printer (the global `p`) and the stdio handles.
dump(value, recurse, nocolor) formats a value like luvit: strings in single quotes (double
when they contain a single quote) with escapes, tables as `{ 1, 2, key = 'v', [k] = v }`, a
table seen before printed by address, long tables broken over indented lines. Colors (16 or
256 themes) only when stdout is a terminal. print(...) writes tostring'ed arguments joined by
tabs through the loop's stdout.
]]

local uv = require('uv')

local pp = {}

local themes = {
  [16] = {
    property = '0;37', braces = '1;30', sep = '1;30', ['nil'] = '1;30', boolean = '0;33',
    number = '1;33', string = '0;32', quotes = '1;32', escape = '1;32', ['function'] = '0;35',
    thread = '1;35', table = '1;34', userdata = '1;36', cdata = '0;36', err = '1;31',
    success = '1;33;42', failure = '1;33;41', highlight = '1;36;44',
  },
  [256] = {
    property = '38;5;253', braces = '38;5;247', sep = '38;5;240', ['nil'] = '38;5;244',
    boolean = '38;5;220', number = '38;5;202', string = '38;5;34', quotes = '38;5;40',
    escape = '38;5;46', ['function'] = '38;5;129', thread = '38;5;199', table = '38;5;27',
    userdata = '38;5;39', cdata = '38;5;69', err = '38;5;196', success = '38;5;120;48;5;22',
    failure = '38;5;215;48;5;52', highlight = '38;5;45;48;5;236',
  },
}

local theme = {}
local useColors = false
pp.theme = theme
pp.width = 80

function pp.color(name)
  return '\27[' .. (theme[name] or '0') .. 'm'
end

function pp.colorize(name, text, resetName)
  if not useColors then return tostring(text) end
  return pp.color(name) .. tostring(text) .. pp.color(resetName)
end

function pp.strip(str)
  return (string.gsub(str, '\027%[[^m]*m', ''))
end

function pp.loadColors(index)
  for k in pairs(theme) do theme[k] = nil end
  if type(index) == 'table' then
    for k, v in pairs(index) do theme[k] = v end
    useColors = true
  elseif index then
    local t = themes[index]
    if not t then error('Invalid theme index: ' .. tostring(index), 2) end
    for k, v in pairs(t) do theme[k] = v end
    useColors = true
  else
    useColors = false
  end
end

local escapes = { [7] = '\\a', [8] = '\\b', [9] = '\\t', [10] = '\\n', [11] = '\\v', [12] = '\\f',
  [13] = '\\r', [92] = '\\\\', [39] = "\\'", [34] = '\\"' }
local function escapeChar(c)
  local b = string.byte(c)
  local e = escapes[b]
  if not e then e = ('\\%03d'):format(b) end
  return pp.colorize('escape', e, 'string')
end

local function quoteString(s)
  if s:find("'") and not s:find('"') then
    return pp.colorize('quotes', '"', 'string') .. s:gsub('[%c\\\128-\255]', escapeChar) ..
      pp.colorize('quotes', '"')
  end
  return pp.colorize('quotes', "'", 'string') .. s:gsub("[%c\\'\128-\255]", escapeChar) ..
    pp.colorize('quotes', "'")
end

local function isIdentifier(k)
  return type(k) == 'string' and k:find('^[%a_][%a%d_]*$') ~= nil
end

-- Builds a tree of parts: strings, or {open, items, close} for tables.
local function build(value, seen, recurse)
  local t = type(value)
  if t == 'string' then return quoteString(value) end
  if t ~= 'table' or seen[value] then
    return pp.colorize(t, tostring(value))
  end
  if not recurse then seen[value] = true end
  local items = {}
  local nextIndex = 1
  for k, v in pairs(value) do
    local item
    if k == nextIndex then
      nextIndex = k + 1
      item = build(v, seen, recurse)
    else
      local key
      if isIdentifier(k) then
        key = pp.colorize('property', k)
      else
        key = pp.colorize('property', '[') .. pp.strip(type(build(k, seen, recurse)) == 'string'
          and build(k, seen, recurse) or tostring(k)) .. pp.colorize('property', ']')
      end
      item = { key = key .. pp.colorize('sep', ' = '), value = build(v, seen, recurse) }
    end
    items[#items + 1] = item
  end
  return { items = items }
end

local function flat(node)
  if type(node) == 'string' then return node end
  if node.key then return node.key .. flat(node.value) end
  if #node.items == 0 then return pp.colorize('braces', '{ ') .. pp.colorize('braces', '}') end
  local parts = {}
  for i, item in ipairs(node.items) do parts[i] = flat(item) end
  return pp.colorize('braces', '{ ') .. table.concat(parts, pp.colorize('sep', ', ')) .. ' ' ..
    pp.colorize('braces', '}')
end

local function render(node, indent)
  local one = flat(node)
  if type(node) == 'string' or #pp.strip(one) + indent * 2 <= pp.width then return one end
  if node.key then return node.key .. render(node.value, indent) end
  local pad = string.rep('  ', indent + 1)
  local parts = {}
  for i, item in ipairs(node.items) do parts[i] = pad .. render(item, indent + 1) end
  return pp.colorize('braces', '{') .. '\n' .. table.concat(parts, pp.colorize('sep', ',') .. '\n') ..
    '\n' .. string.rep('  ', indent) .. pp.colorize('braces', '}')
end

function pp.dump(value, recurse, nocolor)
  local s = render(build(value, {}, recurse), 0)
  return nocolor and pp.strip(s) or s
end

-- The process's stdio as uv handles (a tty, a pipe, or a file descriptor for files).
local function openStdio(fd, readable)
  local kind = uv.guess_handle(fd)
  if kind == 'tty' then return uv.new_tty(fd, readable) end
  if kind == 'pipe' or kind == 'tcp' then
    local pipe = uv.new_pipe(false)
    uv.pipe_open(pipe, fd)
    return pipe
  end
  return fd
end

pp.stdin = openStdio(0, true)
pp.stdout = openStdio(1, false)
pp.stderr = openStdio(2, false)

local function writeOut(handle, text)
  if type(handle) == 'number' then
    uv.fs_write(handle, text, -1)
  else
    uv.write(handle, text)
  end
end

function pp.print(...)
  local n = select('#', ...)
  local parts = {}
  for i = 1, n do parts[i] = tostring((select(i, ...))) end
  writeOut(pp.stdout, table.concat(parts, '\t') .. '\n')
end

function pp.prettyPrint(...)
  local n = select('#', ...)
  local parts = {}
  for i = 1, n do parts[i] = pp.dump((select(i, ...))) end
  writeOut(pp.stdout, table.concat(parts, '\t') .. '\n')
end

if uv.guess_handle(1) == 'tty' then
  local term = os.getenv('TERM') or ''
  pp.loadColors(term:find('256') and 256 or 16)
  local w = pp.stdout.get_winsize and pp.stdout:get_winsize()
  if w then pp.width = w end
else
  pp.loadColors(false)
end

return pp
