--[[
pretty-print: luvit's value printer (the global `p`) and the process's stdio handles.
  dump(value, recurse, nocolor)  a value as text, exactly as luvit shows it: strings quoted
        ('...', or "..." when only a single quote occurs) with escapes, tables as
        `{ 1, 2, key = 'v', [k] = v }` in pairs() order (list items bare), a table shown
        before printed as its address (with recurse: only a table nested in itself), and
        lines broken (outermost table first) when the output would pass `width` columns
  prettyPrint(...) / print(...)  dump / tostring each argument, join with tabs, write a line
  color, colorize, strip, loadColors(false | 16 | 256 | theme table), theme
  stdin, stdout, stderr  uv handles (tty, else pipe)
  width  the terminal width (80 when stdout is not a terminal)
Colors are on by default only when stdout is a terminal (256 colors for xterm and *-256color).
Without a `uv` module (plain LuaJIT) it falls back to io.write.
]]

local uvOk, uv = pcall(require, 'uv')
if not uvOk or type(uv) ~= 'table' then uv = nil end

local find, gsub, match, rep = string.find, string.gsub, string.match, string.rep
local concat, insert = table.concat, table.insert

local pp = {}

-- Escape sequences (SGR parameters) for each kind of token.
local themes = {
  [16] = {
    property = '0;37', sep = '1;30', braces = '1;30',
    ['nil'] = '1;30', boolean = '0;33', number = '1;33',
    string = '0;32', quotes = '1;32', escape = '1;32',
    ['function'] = '0;35', thread = '1;35',
    table = '1;34', userdata = '1;36', cdata = '0;36',
    err = '1;31', success = '1;33;42', failure = '1;33;41', highlight = '1;36;44',
  },
  [256] = {
    property = '38;5;253', sep = '38;5;240', braces = '38;5;247',
    ['nil'] = '38;5;244', boolean = '38;5;220', number = '38;5;202',
    string = '38;5;34', quotes = '38;5;40', escape = '38;5;46',
    ['function'] = '38;5;129', thread = '38;5;199',
    table = '38;5;27', userdata = '38;5;39', cdata = '38;5;69',
    err = '38;5;196', success = '38;5;120;48;5;22', failure = '38;5;215;48;5;52',
    highlight = '38;5;45;48;5;236',
  },
}

local theme = {}
local useColors = false
local defaultTheme -- chosen from the terminal below; nil means no colors

pp.theme = theme
pp.width = 80

local function color(name)
  return '\27[' .. (theme[name] or '0') .. 'm'
end

local function colorize(name, text, resetName)
  if not useColors then return tostring(text) end
  return color(name) .. tostring(text) .. color(resetName)
end

-- Removes color sequences; returns the text and how many were removed.
local function strip(text)
  return gsub(text, '\27%[[^m]*m', '')
end

pp.color = color
pp.colorize = colorize
pp.strip = strip

-- Colored punctuation and string escapes, rebuilt whenever the theme changes.
local token = {}
local escapeOf = {}

local letterEscapes = { [7] = 'a', [8] = 'b', [9] = 't', [10] = 'n', [11] = 'v', [12] = 'f',
  [13] = 'r' }

local function buildTokens()
  token.quote = colorize('quotes', "'", 'string')
  token.quoteEnd = colorize('quotes', "'")
  token.dquote = colorize('quotes', '"', 'string')
  token.dquoteEnd = colorize('quotes', '"')
  token.open = colorize('braces', '{ ')
  token.close = colorize('braces', '}')
  token.lbracket = colorize('property', '[')
  token.rbracket = colorize('property', ']')
  token.comma = colorize('sep', ', ')
  token.equals = colorize('sep', ' = ')
  for b = 0, 255 do
    local text
    if b < 32 then
      text = letterEscapes[b] and '\\' .. letterEscapes[b] or ('\\%03d'):format(b)
    elseif b >= 127 then
      text = '\\' .. b
    elseif b == 92 or b == 34 or b == 39 then
      text = '\\' .. string.char(b)
    end
    escapeOf[string.char(b)] = text and colorize('escape', text, 'string') or nil
  end
end

-- index: nil for the default theme, false for none, 16 or 256, or a theme table of its own.
function pp.loadColors(index)
  if index == nil then index = defaultTheme end
  local chosen
  if type(index) == 'table' then
    chosen = {}
    for k, v in pairs(index) do chosen[k] = v end
  elseif index then
    chosen = themes[index]
    if not chosen then error('Invalid theme index: ' .. tostring(index), 2) end
  end
  for k in pairs(theme) do theme[k] = nil end
  if chosen then
    for k, v in pairs(chosen) do theme[k] = v end
  end
  useColors = chosen ~= nil
  buildTokens()
end

local function visibleLength(text)
  return #(strip(text))
end

function pp.dump(value, recurse, nocolor)
  local width = tonumber(pp.width) or 80
  local out = {}      -- the output, in pieces
  local column = 0    -- where the last piece ends
  -- Break points, one per nesting level: `at` is the piece after which a newline (and the
  -- level's indentation) goes if the content does not fit; `broken` once it went in.
  local points = {}
  local seen, showing = {}, {}

  -- The column after out[from..], where out[from] starts a new line.
  local function recount(from)
    for i = from, #out do
      local lastLine = match(out[i], '\n([^\n]*)$')
      if lastLine then
        column = visibleLength(lastLine)
      else
        column = column + visibleLength(out[i])
      end
    end
  end

  -- Appends a piece counted `length` columns wide. When it would overflow, break points are
  -- taken from the outermost level inwards until it fits (or none are left).
  local function emit(text, length)
    length = length or visibleLength(text)
    local level = 1
    while column + length > width and points[level] do
      local point = points[level]
      if not point.broken then
        point.broken = true
        insert(out, point.at + 1, '\n' .. rep('  ', level))
        recount(point.at + 1)
        for deeper = level + 1, #points do
          points[deeper].at = points[deeper].at + 1
        end
      end
      level = level + 1
    end
    out[#out + 1] = text
    column = column + length
  end

  local function openLevel()
    points[#points + 1] = { at = #out, broken = false }
  end

  local function closeLevel()
    points[#points] = nil
  end

  local visit

  local function visitString(s)
    -- The text counts as wide as the number of escapes in it (luvit's measure), so long
    -- strings stay on the line they start on.
    if find(s, "'", 1, true) and not find(s, '"', 1, true) then
      emit(token.dquote)
      emit(gsub(s, '[%c\\\128-\255]', escapeOf))
      emit(token.dquoteEnd)
    else
      emit(token.quote)
      emit(gsub(s, "[%c\\'\128-\255]", escapeOf))
      emit(token.quoteEnd)
    end
  end

  local function visitTable(t)
    if recurse then showing[t] = true else seen[t] = true end
    emit(token.open)
    local total = 0
    for _ in pairs(t) do total = total + 1 end
    local position, nextIndex = 1, 1
    for k, v in pairs(t) do
      openLevel()
      if k == nextIndex then
        -- The list part prints without keys.
        nextIndex = k + 1
        visit(v)
      else
        if type(k) == 'string' and find(k, '^[%a_][%a%d_]*$') then
          emit(colorize('property', k))
        else
          emit(token.lbracket)
          visit(k)
          emit(token.rbracket)
        end
        emit(token.equals)
        if type(v) == 'table' then
          visit(v)
        else
          -- A scalar value may move to its own line after ' = '.
          openLevel()
          visit(v)
          closeLevel()
        end
      end
      emit(position < total and token.comma or ' ')
      position = position + 1
      closeLevel()
    end
    emit(token.close)
    showing[t] = nil
  end

  visit = function(v)
    local kind = type(v)
    if kind == 'string' then
      visitString(v)
    elseif kind == 'table' and not seen[v] and not showing[v] then
      visitTable(v)
    else
      emit(colorize(kind, tostring(v)))
    end
  end

  visit(value)
  local text = concat(out)
  if nocolor then return (strip(text)) end
  return text
end

-- stdio: a tty handle on a terminal, else a pipe handle over the fd (files too, as luvit
-- does: the runtime writes the process's stdio synchronously whatever it is).
local function openStdio(fd, readable)
  if not uv then
    return ({ [0] = io.stdin, [1] = io.stdout, [2] = io.stderr })[fd]
  end
  local kind = uv.guess_handle(fd)
  if kind == 'tty' then
    local tty = uv.new_tty(fd, readable)
    if tty then return tty end
  end
  do
    local pipe = uv.new_pipe(false)
    if pipe and uv.pipe_open(pipe, fd) then return pipe end
    if pipe then uv.close(pipe) end
  end
  return fd
end

local function writeTo(handle, text)
  if type(handle) == 'number' then
    uv.fs_write(handle, text, -1)
  elseif io.type(handle) == 'file' then
    handle:write(text)
  else
    uv.write(handle, text)
  end
end

pp.stdin = openStdio(0, true)
pp.stdout = openStdio(1, false)
pp.stderr = openStdio(2, false)

if uv and uv.guess_handle(1) == 'tty' and type(pp.stdout) == 'userdata' then
  local columns = uv.tty_get_winsize(pp.stdout)
  if type(columns) == 'number' and columns > 0 then pp.width = columns end
  local term = os.getenv('TERM')
  if term and (term == 'xterm' or find(term, '%-256color$')) then
    defaultTheme = 256
  else
    defaultTheme = 16
  end
end

pp.loadColors()

local function writeLine(parts)
  writeTo(pp.stdout, concat(parts, '\t') .. '\n')
end

function pp.print(...)
  local parts = {}
  for i = 1, select('#', ...) do parts[i] = tostring((select(i, ...))) end
  writeLine(parts)
end

function pp.prettyPrint(...)
  local parts = {}
  for i = 1, select('#', ...) do parts[i] = pp.dump((select(i, ...))) end
  writeLine(parts)
end

return pp
