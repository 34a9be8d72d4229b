--[[
stream-core: what the stream modules share.
  Stream       luvit's legacy stream base (an Emitter). Its pipe(dest, opts) forwards 'data'
               to dest:write(), pauses the source when write returns false and resumes it on
               'drain', and calls dest:_end() on the source's 'end' (dest:destroy() on 'close')
               unless opts._end == false. Readable overrides pipe with the streams2 one.
  defer        runs fn(...) on the next tick (process.nextTick, looked up at call time).
  destroy      the destroy(err) shared by Readable, Writable and Duplex.
  isStdio      whether a destination is the process's stdout/stderr (never ended by pipe).
  wantsEnd     reads pipe options: { _end = false } (luvit) or { ['end'] = false } (node).
]]

local core = require('core')

local exports = {}

local function defer(fn, ...)
  local proc = rawget(_G, 'process')
  if type(proc) == 'table' and type(proc.nextTick) == 'function' then
    return proc.nextTick(fn, ...)
  end
  return require('timer').setImmediate(fn, ...)
end
exports.defer = defer

-- stdout/stderr are looked up raw: the process makes them on first access, and asking must
-- not create a handle.
local function isStdio(dest)
  if type(dest) ~= 'table' then return false end
  if rawget(dest, '_isStdio') then return true end
  local proc = rawget(_G, 'process')
  if type(proc) ~= 'table' then return false end
  return dest == rawget(proc, 'stdout') or dest == rawget(proc, 'stderr')
end
exports.isStdio = isStdio

local function wantsEnd(options)
  if type(options) ~= 'table' then return true end
  return options._end ~= false and options['end'] ~= false
end
exports.wantsEnd = wantsEnd

-- destroy(err): marks the stream destroyed (no more data in either direction), lets the
-- implementation release what it holds through an optional self:_destroy(err, callback),
-- then emits 'error' (when there is an error) and 'close' on a later tick.
function exports.destroy(self, err)
  if self.destroyed then return self end
  self.destroyed = true
  local rs, ws = self._readableState, self._writableState
  if rs then
    rs.destroyed = true
    self.readable = false
  end
  if ws then
    ws.destroyed = true
    self.writable = false
  end
  local function finish(reason)
    if reason ~= nil then err = reason end
    defer(function()
      if err ~= nil then self:emit('error', err) end
      self:emit('close')
    end)
  end
  if type(self._destroy) == 'function' then
    self:_destroy(err, finish)
  else
    finish()
  end
  return self
end

local Stream = core.Emitter:extend()
exports.Stream = Stream

function Stream:pipe(dest, options)
  local source = self
  local ended = false
  local ondata, ondrain, onend, onclose, onSourceError, onDestError, cleanup

  function ondata(chunk)
    if dest.writable and dest:write(chunk) == false and source.pause then
      source:pause()
    end
  end

  function ondrain()
    if source.readable and source.resume then source:resume() end
  end

  function onend()
    if ended then return end
    ended = true
    dest:_end()
  end

  function onclose()
    if ended then return end
    ended = true
    if type(dest.destroy) == 'function' then dest:destroy() end
  end

  -- An error on either side breaks the pipe; it is raised when nobody else listens for it
  -- on the emitter that had it.
  local function errorFrom(emitter)
    return function(err)
      cleanup()
      if core.Emitter.listenerCount(emitter, 'error') == 0 then error(err, 0) end
    end
  end
  onSourceError, onDestError = errorFrom(source), errorFrom(dest)

  function cleanup()
    source:removeListener('data', ondata)
    dest:removeListener('drain', ondrain)
    source:removeListener('end', onend)
    source:removeListener('close', onclose)
    source:removeListener('error', onSourceError)
    dest:removeListener('error', onDestError)
    source:removeListener('end', cleanup)
    source:removeListener('close', cleanup)
    dest:removeListener('close', cleanup)
  end

  source:on('data', ondata)
  dest:on('drain', ondrain)
  if not isStdio(dest) and wantsEnd(options) then
    source:on('end', onend)
    source:on('close', onclose)
  end
  source:on('error', onSourceError)
  dest:on('error', onDestError)
  source:on('end', cleanup)
  source:on('close', cleanup)
  dest:on('close', cleanup)

  dest:emit('pipe', source)
  return dest -- a:pipe(b):pipe(c)
end

return exports
