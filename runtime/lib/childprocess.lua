--[[
childprocess: luvit's child processes over uv.spawn.
  spawn(command, args, options) -> a Process emitter with stdin/stdout/stderr (net.Socket over
    pipes, or options.stdio = { socket|nil, ... }), pid, kill(signal); events 'exit'(code,
    signal), 'close'(code, signal) once it exited and its stdio closed, 'error' when it could
    not start (then 'exit' with -127). options: env (a map), cwd, detached, uid, gid.
  exec(command, [options], callback(err, stdout, stderr)) runs through /bin/sh -c;
  execFile(file, args, [options], callback). options.timeout (ms) kills the child,
  options.maxBuffer bounds the output; err (nil on exit code 0) has code, signal and message.
]]

local uv = require('uv')
local net = require('net')
local timer = require('timer')
local core = require('core')
local adapt = require('utils').adapt

local childprocess = {}

local Process = core.Emitter:extend()
childprocess.Process = Process

function Process:initialize(stdin, stdout, stderr)
  self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
end

function Process:setHandle(handle) self.handle = handle end
function Process:setPid(pid) self.pid = pid end

function Process:kill(signal)
  if self.handle and not uv.is_closing(self.handle) then
    return uv.process_kill(self.handle, signal or 'sigterm')
  end
end

function Process:close(err)
  if self.handle and not uv.is_closing(self.handle) then uv.close(self.handle) end
  if err then timer.setImmediate(function() self:emit('error', err) end) end
end
Process.destroy = Process.close

function childprocess.spawn(command, args, options)
  args = args or {}
  options = options or {}
  local stdin, stdout, stderr
  if options.stdio then
    stdin, stdout, stderr = options.stdio[1], options.stdio[2], options.stdio[3]
  else
    stdin = net.Socket:new({ handle = uv.new_pipe(false) })
    stdout = net.Socket:new({ handle = uv.new_pipe(false) })
    stderr = net.Socket:new({ handle = uv.new_pipe(false) })
  end
  local child = Process:new(stdin, stdout, stderr)

  -- 'close' waits for the exit and for every stdio stream to close.
  local pending = 1
  local function maybeClose()
    pending = pending - 1
    if pending == 0 then child:emit('close', child.exitCode, child.signal) end
  end
  for _, s in ipairs({ stdin or false, stdout or false, stderr or false }) do
    if s then
      pending = pending + 1
      s:once('close', maybeClose)
    end
  end

  local env
  if options.env then
    env = {}
    for k, v in pairs(options.env) do
      if type(k) == 'number' then env[#env + 1] = tostring(v) else env[#env + 1] = k .. '=' .. tostring(v) end
    end
  end

  local handle, pid = uv.spawn(command, {
    args = args,
    stdio = { stdin and stdin._handle, stdout and stdout._handle, stderr and stderr._handle },
    env = env,
    cwd = options.cwd,
    detached = options.detached,
    uid = options.uid,
    gid = options.gid,
  }, function(code, signal)
    child.exitCode, child.signal = code, signal
    child:emit('exit', code, signal)
    if child.handle and not uv.is_closing(child.handle) then uv.close(child.handle) end
    -- Nobody reads what we would write to a child that has gone.
    if stdin and not stdin.destroyed then stdin:destroy() end
    maybeClose()
  end)

  if not handle then
    local err = core.Error:new(pid)
    timer.setImmediate(function()
      child.exitCode = -127
      child:emit('exit', child.exitCode)
      -- luvit programs often only watch 'exit' (-127): without an 'error' listener the
      -- failure is reported on stderr rather than raised.
      if child:listenerCount('error') > 0 then
        child:emit('error', err)
      else
        io.stderr:write('childprocess: cannot run ' .. tostring(command) .. ': ' .. tostring(pid) .. '\n')
      end
      for _, s in ipairs({ stdin or false, stdout or false, stderr or false }) do
        -- like luvit, the streams hear about it too (when someone listens)
        if s then
          if s:listenerCount('error') > 0 then s:emit('error', err) end
          s:destroy()
        end
      end
      maybeClose()
    end)
    return child
  end
  child:setHandle(handle)
  child:setPid(pid)
  if stdout then stdout:resume() end
  if stderr then stderr:resume() end
  return child
end

local function run(file, args, options, callback)
  options = options or {}
  local timeout = options.timeout or 0
  local maxBuffer = options.maxBuffer or 4 * 1024 * 1024
  local child = childprocess.spawn(file, args, options)
  local out, errout = {}, {}
  local done, killedBy = false, nil
  local timeoutTimer

  local function finish(code, signal, failure)
    if done then return end
    done = true
    if timeoutTimer then timer.clearTimeout(timeoutTimer) end
    local err
    if failure or killedBy or (code and code ~= 0) or (signal and signal ~= 0) then
      err = {
        code = code,
        signal = killedBy or (signal ~= 0 and signal or nil),
        message = failure and tostring(failure.message or failure) or
          ('Command failed: ' .. file .. ' ' .. table.concat(args, ' ')),
      }
    end
    if callback then callback(err, table.concat(out), table.concat(errout)) end
  end

  local function kill(reason)
    killedBy = options.signal or 'SIGTERM'
    child:kill(killedBy:lower())
    child.killedReason = reason
  end

  if timeout > 0 then
    timeoutTimer = timer.setTimeout(timeout, function() timeoutTimer = nil; kill('timeout') end)
  end
  -- Collects one stream's output, killing the child when it passes maxBuffer.
  local function collect(stream, chunks)
    if not stream then return end
    local length = 0
    stream:on('data', function(chunk)
      length = length + #chunk
      if length > maxBuffer then return kill('maxBuffer') end
      chunks[#chunks + 1] = chunk
    end)
  end
  collect(child.stdout, out)
  collect(child.stderr, errout)
  if child.stdin then child.stdin:_end() end
  child:on('error', function(e) finish(-127, nil, e) end)
  child:on('close', function(code, signal) finish(code, signal) end)
  return child
end

-- exec(command, [options], callback)
function childprocess.exec(command, options, callback)
  if type(options) == 'function' or type(options) == 'thread' then
    options, callback = {}, options
  end
  options = options or {}
  return adapt(callback, function(cb)
    return run(options.shell or '/bin/sh', { '-c', command }, options, cb)
  end)
end

-- execFile(file, [args], [options], callback)
function childprocess.execFile(file, args, options, callback)
  if type(args) == 'function' or type(args) == 'thread' then
    args, options, callback = {}, {}, args
  elseif type(options) == 'function' or type(options) == 'thread' then
    options, callback = {}, options
  end
  return adapt(callback, function(cb)
    return run(file, args or {}, options or {}, cb)
  end)
end

return childprocess
