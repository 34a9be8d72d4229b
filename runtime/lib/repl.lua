--[[
repl: luvit's embeddable REPL API, `require('repl')(stdin, stdout, greeting)` returning
{ start(historyLines, onSaveHistoryLines), evaluateLine(line) -> next prompt }. A program can
offer a prompt on any stream pair (a socket, a pipe). Lines evaluate as expressions first,
then as statements, in an environment that reads through to the globals; an incomplete chunk
waits for more lines ('>> '); results print like `p`. (The `luvit` command's own REPL is
devtools' richer one; this module is for programs.)
]]

local readline = require('readline')
local pp = require('pretty-print')

local select, type, tostring, pcall, xpcall = select, type, tostring, pcall, xpcall
local loadstring, setfenv, setmetatable = loadstring, setfenv, setmetatable

return function(stdin, stdout, greeting)
  stdin = stdin or pp.stdin
  stdout = stdout or pp.stdout
  local function write(text)
    if type(stdout) == 'table' and stdout.write then
      stdout:write(text)
    elseif stdout and stdout.write then
      stdout:write(text)
    end
  end

  local env = setmetatable({}, { __index = _G })
  local buffer = ''

  if greeting then write(greeting .. '\n') end

  local function show(n, ...)
    local parts = {}
    for i = 1, n do parts[i] = pp.dump((select(i, ...))) end
    write(table.concat(parts, '\t') .. '\n')
  end

  local function run(fn)
    local results = { xpcall(fn, debug.traceback) }
    local n = table.maxn(results)
    if results[1] then
      if n > 1 then show(n - 1, unpack(results, 2, n)) end
    else
      local err = results[2]
      write((type(err) == 'string' and err or
        ('error with unexpected error message type (' .. type(err) .. ')')) .. '\n')
    end
  end

  local function evaluateLine(line)
    local chunk = buffer .. line
    local fn, err = loadstring('return ' .. chunk, 'REPL')
    if not fn then fn, err = loadstring(chunk, 'REPL') end
    if fn then
      buffer = ''
      setfenv(fn, env)
      run(fn)
      return '> '
    end
    if tostring(err):match("'<eof>'$") then
      buffer = chunk .. '\n'
      return '>> '
    end
    buffer = ''
    write(tostring(err) .. '\n')
    return '> '
  end

  -- Names that complete the last identifier of `line` (walks tables, calls nothing).
  local function completionCallback(line)
    local prefix, partial = line:match('([%w_%.:]-)([%w_]*)$')
    local scope = env
    if prefix ~= '' then
      scope = nil
      local cur = env
      for part in prefix:gmatch('([%w_]+)[%.:]') do
        local ok, v = pcall(rawget, cur, part)
        if not ok or v == nil then v = (cur == env) and _G[part] or nil end
        if type(v) ~= 'table' then cur = nil break end
        cur = v
      end
      scope = cur
    end
    local out, seen = {}, {}
    local function add(t, depth)
      if type(t) ~= 'table' or depth > 4 then return end
      for k in pairs(t) do
        if type(k) == 'string' and k:sub(1, #partial) == partial and not seen[k] then
          seen[k] = true
          out[#out + 1] = line:sub(1, #line - #partial) .. k
        end
      end
      local mt = getmetatable(t)
      if type(mt) == 'table' and type(rawget(mt, '__index')) == 'table' then
        add(rawget(mt, '__index'), depth + 1)
      end
    end
    add(scope, 0)
    if scope == env then add(_G, 0) end
    table.sort(out)
    if #out == 1 then return out[1] end
    return out
  end

  local function start(historyLines, onSaveHistoryLines)
    local history = readline.History.new()
    if historyLines then history:load(historyLines) end
    local editor = readline.Editor.new({
      stdin = stdin, stdout = stdout, history = history,
      completionCallback = completionCallback,
    })
    local prompt = '> '
    local function onLine(err, line)
      if err then error(err) end
      coroutine.wrap(function()
        if line then
          history:add(line) -- (the editor adds lines typed on a terminal; this covers the rest)
          prompt = evaluateLine(line)
          editor:readLine(prompt, onLine)
        elseif onSaveHistoryLines then
          onSaveHistoryLines(history:dump())
        end
      end)()
    end
    editor:readLine(prompt, onLine)
  end

  return {
    start = start,
    evaluateLine = evaluateLine,
    completionCallback = completionCallback,
  }
end
