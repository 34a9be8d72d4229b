-- A Lua error raised inside each kind of loop callback (`luvit callback-errors.lua KIND`, or
-- `all` under an 'uncaughtException' listener that prints what it caught and goes on).
-- tests/faults.rs finds each `error('boom-KIND')` line in this file to check the reported site.
local timer = require('timer')
local fs = require('fs')
local net = require('net')
local http = require('http')
local childprocess = require('childprocess')

local kinds = {}

function kinds.timer(done)
  timer.setTimeout(1, function()
    done()
    error('boom-timer')
  end)
end

function kinds.fs(done)
  fs.readFile(module.path, function()
    done()
    error('boom-fs')
  end)
end

function kinds.net(done)
  local server
  server = net.createServer(function(sock)
    sock:destroy()
    server:close()
    done()
    error('boom-net')
  end)
  server:listen(0, '127.0.0.1', function()
    local c = net.connect(server:address().port, '127.0.0.1')
    c:on('error', function() end)
  end)
end

function kinds.http(done)
  local server
  server = http.createServer(function(req, res)
    res:finish('')
    server:close()
    done()
    error('boom-http')
  end)
  server:listen(0, '127.0.0.1', function()
    local req = http.get('http://127.0.0.1:' .. server:address().port .. '/', function(res)
      res:resume()
    end)
    req:on('error', function() end)
  end)
end

function kinds.child(done)
  local child = childprocess.spawn('true', {})
  child:on('exit', function()
    done()
    error('boom-child')
  end)
end

function kinds.signal(done)
  -- Signal watchers do not keep the loop alive (as in node): a timer does, until it arrives.
  local keep = timer.setTimeout(5000, function() end)
  local function handler()
    process:removeListener('SIGUSR2', handler)
    timer.clearTimeout(keep)
    done()
    error('boom-signal')
  end
  process:on('SIGUSR2', handler)
  process.kill(process.pid, 'SIGUSR2')
end

function kinds.coroutine(done)
  local resume = coroutine.wrap(function()
    coroutine.yield()
    done()
    error('boom-coroutine')
  end)
  resume()
  timer.setTimeout(1, function() resume() end)
end

function kinds.gc(done)
  local p = newproxy(true)
  getmetatable(p).__gc = function()
    done()
    error('boom-gc')
  end
  p = nil
  timer.setTimeout(1, function() collectgarbage() collectgarbage() end)
end

local order = { 'timer', 'fs', 'net', 'http', 'child', 'signal', 'coroutine', 'gc' }
local which = args[2] or 'all'

if which ~= 'all' then
  kinds[which](function() end)
  return
end

-- All kinds, one after the other, each error caught by the listener.
local i = 0
local function nextKind()
  i = i + 1
  local kind = order[i]
  if not kind then return print('all done') end
  kinds[kind](function() end)
end
process:on('uncaughtException', function(err)
  print('caught: ' .. tostring(err))
  timer.setTimeout(1, nextKind)
end)
nextKind()
