--[[
readline: luvit's line editor. `readLine(prompt, [options], callback(err, line, reason))`
reads one line; `Editor:new(options)` keeps state across lines (history, completion);
`History` stores entries. On a terminal the editor runs in raw mode with the usual keys
(arrows, Home/End, Ctrl-A/E/K/U/W/L, Backspace/Delete, history with Up/Down, Tab completion
through options.completionCallback); without one it reads plain lines.
]]

local uv = require('uv')
local pp = require('pretty-print')

local readline = {}

-- History --------------------------------------------------------------------------------

local History = {}
History.__index = History
readline.History = History

function History.new()
  return setmetatable({ entries = {}, maxLength = 100 }, History)
end

function History:add(line)
  if line == '' or self.entries[#self.entries] == line then return end
  self.entries[#self.entries + 1] = line
  while #self.entries > self.maxLength do table.remove(self.entries, 1) end
end

function History:updateLastLine(line)
  self.entries[#self.entries] = line
end

function History:setMaxLength(n)
  self.maxLength = n
  while #self.entries > n do table.remove(self.entries, 1) end
end

function History:clean()
  self.entries = {}
end

function History:dump()
  return table.concat(self.entries, '\n')
end

function History:load(text)
  self.entries = {}
  for line in (text .. '\n'):gmatch('([^\n]*)\n') do
    if line ~= '' then self.entries[#self.entries + 1] = line end
  end
end

-- Editor ---------------------------------------------------------------------------------

local Editor = {}
Editor.__index = Editor
readline.Editor = Editor

function Editor.new(options)
  options = options or {}
  local self = setmetatable({}, Editor)
  self.stdin = options.stdin or pp.stdin
  self.stdout = options.stdout or pp.stdout
  self.history = options.history or History.new()
  self.completionCallback = options.completionCallback
  return self
end

local function write(self, text)
  local out = self.stdout
  if type(out) == 'number' then
    uv.fs_write(out, text, -1)
  elseif type(out) == 'table' then
    -- a stream object (net.Socket, a Writable) or anything with a write method
    out:write(text)
  else
    uv.write(out, text)
  end
end

function Editor:refreshLine()
  write(self, '\r\27[K' .. self.prompt .. self.line ..
    (self.position <= #self.line and ('\27[' .. (#self.line - self.position + 1) .. 'D') or ''))
end

function Editor:insert(text)
  self.line = self.line:sub(1, self.position - 1) .. text .. self.line:sub(self.position)
  self.position = self.position + #text
  self:refreshLine()
end

function Editor:backspace()
  if self.position <= 1 then return self:beep() end
  self.line = self.line:sub(1, self.position - 2) .. self.line:sub(self.position)
  self.position = self.position - 1
  self:refreshLine()
end

function Editor:delete()
  if self.position > #self.line then return self:beep() end
  self.line = self.line:sub(1, self.position - 1) .. self.line:sub(self.position + 1)
  self:refreshLine()
end

function Editor:deleteEnd()
  self.line = self.line:sub(1, self.position - 1)
  self:refreshLine()
end

function Editor:deleteLine()
  self.line, self.position = '', 1
  self:refreshLine()
end

function Editor:deleteWord()
  local before = self.line:sub(1, self.position - 1):gsub('%s*[^%s]*$', '')
  self.line = before .. self.line:sub(self.position)
  self.position = #before + 1
  self:refreshLine()
end

function Editor:moveLeft()
  if self.position > 1 then self.position = self.position - 1; self:refreshLine() end
end

function Editor:moveRight()
  if self.position <= #self.line then self.position = self.position + 1; self:refreshLine() end
end

function Editor:moveHome() self.position = 1; self:refreshLine() end
function Editor:moveEnd() self.position = #self.line + 1; self:refreshLine() end

function Editor:jumpLeft()
  local before = self.line:sub(1, self.position - 1)
  self.position = (before:find('[^%s]*%s*$') or 1)
  self:refreshLine()
end

function Editor:jumpRight()
  local s, e = self.line:find('^%s*[^%s]*', self.position)
  self.position = (e or #self.line) + 1
  self:refreshLine()
end

function Editor:swap()
  if self.position < 2 or self.position > #self.line then return self:beep() end
  local p = self.position
  self.line = self.line:sub(1, p - 2) .. self.line:sub(p, p) .. self.line:sub(p - 1, p - 1) .. self.line:sub(p + 1)
  self.position = p + 1
  self:refreshLine()
end

function Editor:clearScreen()
  write(self, '\27[H\27[2J')
  self:refreshLine()
end

function Editor:beep()
  write(self, '\7')
end

function Editor:getHistory(delta)
  local entries = self.history.entries
  local index = self.historyIndex + delta
  if index < 1 or index > #entries + 1 then return self:beep() end
  if self.historyIndex == #entries + 1 then self.pending = self.line end
  self.historyIndex = index
  self.line = entries[index] or self.pending or ''
  self.position = #self.line + 1
  self:refreshLine()
end

function Editor:complete()
  if not self.completionCallback then return self:beep() end
  local result = self.completionCallback(self.line:sub(1, self.position - 1))
  if type(result) == 'string' then
    self.line = result .. self.line:sub(self.position)
    self.position = #result + 1
    self:refreshLine()
  elseif type(result) == 'table' and #result > 0 then
    write(self, '\r\n' .. table.concat(result, '  ') .. '\r\n')
    self:refreshLine()
  else
    self:beep()
  end
end

function Editor:insertAbove(text)
  write(self, '\r\27[K' .. text .. '\r\n')
  self:refreshLine()
end

local keys = {
  ['\1'] = 'moveHome', ['\2'] = 'moveLeft', ['\5'] = 'moveEnd', ['\6'] = 'moveRight',
  ['\8'] = 'backspace', ['\127'] = 'backspace', ['\9'] = 'complete', ['\11'] = 'deleteEnd',
  ['\12'] = 'clearScreen', ['\20'] = 'swap', ['\21'] = 'deleteLine', ['\23'] = 'deleteWord',
  ['\27[A'] = 'up', ['\27[B'] = 'down', ['\27[C'] = 'moveRight', ['\27[D'] = 'moveLeft',
  ['\27[H'] = 'moveHome', ['\27[F'] = 'moveEnd', ['\27OH'] = 'moveHome', ['\27OF'] = 'moveEnd',
  ['\27[1~'] = 'moveHome', ['\27[4~'] = 'moveEnd', ['\27[3~'] = 'delete',
  ['\27b'] = 'jumpLeft', ['\27f'] = 'jumpRight', ['\27[1;5D'] = 'jumpLeft', ['\27[1;5C'] = 'jumpRight',
}

-- onKey(key): handles one key sequence; returns the finished line (or nil, reason).
function Editor:onKey(key)
  if key == '\r' or key == '\n' then
    write(self, '\r\n')
    return 'line'
  elseif key == '\3' then
    write(self, '^C\r\n')
    return 'interrupt'
  elseif key == '\4' then
    if #self.line == 0 then
      write(self, '\r\n')
      return 'eof'
    end
    return self:delete()
  end
  local action = keys[key]
  if action == 'up' then return self:getHistory(-1) end
  if action == 'down' then return self:getHistory(1) end
  if action then return self[action](self) end
  if key:byte(1) >= 32 then return self:insert(key) end
end

local function splitKeys(data)
  local out, i = {}, 1
  while i <= #data do
    local c = data:sub(i, i)
    if c == '\27' then
      local seq = data:match('^\27%[[%d;]*[%a~]', i) or data:match('^\27O%a', i) or data:sub(i, i + 1)
      out[#out + 1] = seq
      i = i + #seq
    else
      out[#out + 1] = c
      i = i + 1
    end
  end
  return out
end

function Editor:readLine(prompt, callback)
  self.prompt, self.line, self.position = prompt or '> ', '', 1
  self.historyIndex = #self.history.entries + 1
  local stdin = self.stdin
  local isTTY = type(stdin) == 'userdata' and stdin:get_type() == 'tty'
  write(self, self.prompt)
  if not isTTY then
    return self:readPlain(callback)
  end
  stdin:set_mode(1)
  local function finish(err, line, reason)
    stdin:read_stop()
    stdin:set_mode(0)
    if line and line ~= '' then self.history:add(line) end
    callback(err, line, reason)
  end
  stdin:read_start(function(err, data)
    if err then return finish(err) end
    if not data then return finish(nil, nil, 'eof') end
    for _, key in ipairs(splitKeys(data)) do
      local result = self:onKey(key)
      if result == 'line' then return finish(nil, self.line) end
      if result == 'interrupt' then return finish(nil, nil, 'interrupt') end
      if result == 'eof' then return finish(nil, nil, 'eof') end
    end
  end)
end

-- Without a terminal: buffer input and hand out one line at a time.
function Editor:readPlain(callback)
  local stdin = self.stdin
  self.buffered = self.buffered or ''
  local function take()
    local line, rest = self.buffered:match('^([^\n]*)\n(.*)$')
    if line then
      self.buffered = rest
      callback(nil, (line:gsub('\r$', '')))
      return true
    end
  end
  if take() then return end
  if type(stdin) == 'number' then
    while true do
      local chunk = uv.fs_read(stdin, 4096, -1)
      if not chunk or #chunk == 0 then
        local last = self.buffered
        self.buffered = ''
        if last ~= '' then return callback(nil, last) end
        return callback(nil, nil, 'eof')
      end
      self.buffered = self.buffered .. chunk
      if take() then return end
    end
  end
  stdin:read_start(function(err, data)
    if err then stdin:read_stop(); return callback(err) end
    if not data then
      stdin:read_stop()
      local last = self.buffered
      self.buffered = ''
      if last ~= '' then return callback(nil, last) end
      return callback(nil, nil, 'eof')
    end
    self.buffered = self.buffered .. data
    if self.buffered:find('\n') then
      stdin:read_stop()
      take()
    end
  end)
end

function readline.readLine(prompt, options, callback)
  if type(options) == 'function' then options, callback = nil, options end
  local editor = (options and options.editor) or Editor.new(options)
  return editor:readLine(prompt, callback)
end

return readline
