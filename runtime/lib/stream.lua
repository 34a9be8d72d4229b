--[[
stream: node's streams2 in luvit's shape. Stream (legacy pipe), Readable (push/read/pipe,
'data' switches to flowing mode, pause/resume, unshift), Writable (write returns false above
highWaterMark and 'drain' follows; `_end` is node's end; cork/uncork), Duplex (both sides,
allowHalfOpen), Transform (`_transform(chunk, cb)`, `_flush(cb)`), PassThrough, Observable.
Deferred work (flowing, 'end', 'finish') runs through process.nextTick.
]]

local core = require('core')
local Emitter = core.Emitter

local stream = {}

local function nextTick(fn, ...)
  local process = _G.process
  if process and process.nextTick then return process.nextTick(fn, ...) end
  return require('timer').setImmediate(fn, ...)
end

local function sizeOf(state, chunk)
  if state.objectMode then return 1 end
  return #tostring(chunk)
end

-- Stream: the legacy base; pipe() moves 'data' to dest and honours backpressure.
local Stream = Emitter:extend()
stream.Stream = Stream

function Stream:pipe(dest, options)
  local source = self
  source:on('data', function(chunk)
    if dest.write and dest:write(chunk) == false and source.pause then source:pause() end
  end)
  dest:on('drain', function() if source.resume then source:resume() end end)
  if not options or options['end'] ~= false then
    source:on('end', function() if dest._end then dest:_end() end end)
  end
  dest:emit('pipe', source)
  return dest
end

-- Readable ---------------------------------------------------------------------------------

local Readable = Stream:extend()
stream.Readable = Readable

function Readable:initialize(options)
  options = options or {}
  self._readableState = {
    objectMode = options.objectMode or false,
    highWaterMark = options.highWaterMark or (options.objectMode and 16 or 16384),
    buffer = {}, head = 1, tail = 0, length = 0,
    ended = false, endEmitted = false, reading = false, flowing = nil,
    flowScheduled = false, inFlow = false, pipes = {},
  }
  self.readable = true
end

local function scheduleEnd(self)
  local s = self._readableState
  if s.endEmitted or s.endScheduled then return end
  s.endScheduled = true
  nextTick(function()
    if not s.endEmitted and s.length == 0 then
      s.endEmitted = true
      self.readable = false
      self:emit('end')
    end
  end)
end

local function takeChunk(s)
  local chunk = s.buffer[s.head]
  s.buffer[s.head] = nil
  s.head = s.head + 1
  s.length = s.length - sizeOf(s, chunk)
  return chunk
end

local function callRead(self)
  local s = self._readableState
  if s.reading or s.ended then return end
  s.reading = true
  self:_read(s.highWaterMark)
end

local function flow(self)
  local s = self._readableState
  s.flowScheduled = false
  if s.inFlow then return end
  s.inFlow = true
  while s.flowing do
    if s.head <= s.tail then
      self:emit('data', takeChunk(s))
    elseif s.ended then
      scheduleEnd(self)
      break
    else
      local before = s.length
      callRead(self)
      if s.length == before and not s.ended then break end
    end
  end
  s.inFlow = false
end

local function scheduleFlow(self)
  local s = self._readableState
  if s.flowScheduled or s.inFlow then return end
  s.flowScheduled = true
  nextTick(flow, self)
end

function Readable:push(chunk)
  local s = self._readableState
  s.reading = false
  if chunk == nil then
    s.ended = true
    if s.length == 0 then
      if s.flowing ~= false then scheduleEnd(self) end
    end
    if s.flowing then scheduleFlow(self) else self:emit('readable') end
    return false
  end
  if not s.objectMode and type(chunk) ~= 'string' then chunk = tostring(chunk) end
  s.tail = s.tail + 1
  s.buffer[s.tail] = chunk
  s.length = s.length + sizeOf(s, chunk)
  if s.flowing then
    scheduleFlow(self)
  elseif not s.readableScheduled then
    s.readableScheduled = true
    nextTick(function()
      s.readableScheduled = false
      if s.length > 0 or s.ended then self:emit('readable') end
    end)
  end
  return s.length < s.highWaterMark
end

function Readable:unshift(chunk)
  local s = self._readableState
  if s.head <= 1 then
    -- No room before the head: shift everything up by one.
    for i = s.tail, s.head, -1 do s.buffer[i + 1] = s.buffer[i] end
    s.tail = s.tail + 1
    s.buffer[s.head] = chunk
  else
    s.head = s.head - 1
    s.buffer[s.head] = chunk
  end
  s.length = s.length + sizeOf(s, chunk)
end

-- read(n): n bytes (or one object in objectMode, or everything buffered when n is nil).
function Readable:read(n)
  local s = self._readableState
  if s.length == 0 then
    if s.ended then
      scheduleEnd(self)
      return nil
    end
    callRead(self)
    if s.length == 0 then return nil end
  end
  local out
  if s.objectMode then
    out = takeChunk(s)
  elseif n == nil or n >= s.length then
    if n ~= nil and n > s.length and not s.ended then return nil end
    local parts = {}
    while s.head <= s.tail do parts[#parts + 1] = takeChunk(s) end
    out = table.concat(parts)
  else
    local parts, got = {}, 0
    while got < n do
      local chunk = takeChunk(s)
      if got + #chunk > n then
        local keep = n - got
        self:unshift(chunk:sub(keep + 1))
        chunk = chunk:sub(1, keep)
      end
      parts[#parts + 1] = chunk
      got = got + #chunk
    end
    out = table.concat(parts)
  end
  if s.head > s.tail then s.buffer, s.head, s.tail = {}, 1, 0 end
  if s.length == 0 and s.ended then scheduleEnd(self)
  elseif s.length < s.highWaterMark then callRead(self) end
  return out
end

function Readable:_read()
  self:emit('error', 'not implemented: Readable:_read')
end

function Readable:on(name, callback)
  Emitter.on(self, name, callback)
  local s = self._readableState
  if name == 'data' and s and s.flowing ~= false then
    self:resume()
  elseif name == 'readable' and s and not s.flowing then
    callRead(self)
  end
  return self
end
Readable.addListener = Readable.on

function Readable:resume()
  local s = self._readableState
  s.flowing = true
  scheduleFlow(self)
  return self
end

function Readable:pause()
  self._readableState.flowing = false
  return self
end

function Readable:isPaused()
  return self._readableState.flowing == false
end

function Readable:setEncoding()
  return self
end

function Readable:pipe(dest, pipeOpts)
  local source = self
  local s = self._readableState
  local function ondata(chunk)
    if dest:write(chunk) == false then
      source:pause()
      dest:once('drain', function() source:resume() end)
    end
  end
  local function onend()
    if dest._end then dest:_end() end
  end
  s.pipes[#s.pipes + 1] = { dest = dest, ondata = ondata, onend = onend }
  self:on('data', ondata)
  if not pipeOpts or pipeOpts['end'] ~= false then self:once('end', onend) end
  dest:emit('pipe', source)
  return dest
end

function Readable:unpipe(dest)
  local s = self._readableState
  for i = #s.pipes, 1, -1 do
    local p = s.pipes[i]
    if dest == nil or p.dest == dest then
      self:removeListener('data', p.ondata)
      self:removeListener('end', p.onend)
      table.remove(s.pipes, i)
      p.dest:emit('unpipe', self)
    end
  end
  if #s.pipes == 0 then self:pause() end
  return self
end

-- wrap(old): reads an old-style ('data'/'end') stream through this Readable.
function Readable:wrap(old)
  old:on('data', function(chunk)
    if not self:push(chunk) and old.pause then old:pause() end
  end)
  old:on('end', function() self:push(nil) end)
  function self._read() if old.resume then old:resume() end end
  return self
end

-- Writable ---------------------------------------------------------------------------------

local Writable = Stream:extend()
stream.Writable = Writable

local function initWritable(self, options)
  options = options or {}
  self._writableState = {
    objectMode = options.objectMode or false,
    highWaterMark = options.highWaterMark or (options.objectMode and 16 or 16384),
    queue = {}, length = 0, writing = false, corked = 0,
    ended = false, finished = false, needDrain = false,
  }
  self.writable = true
end

function Writable:initialize(options)
  initWritable(self, options)
end

local doWrite

local function maybeFinish(self)
  local w = self._writableState
  if w.ended and not w.finished and not w.writing and #w.queue == 0 and not w.finishing then
    w.finishing = true
    local function finish()
      w.finished = true
      self:emit('finish')
    end
    if self._final then
      self:_final(function(err)
        if err then return self:emit('error', err) end
        nextTick(finish)
      end)
    else
      nextTick(finish)
    end
  end
end

local function afterWrite(self, entry, err)
  local w = self._writableState
  w.writing = false
  w.length = w.length - sizeOf(w, entry.chunk)
  if entry.cb then entry.cb(err) end
  if err then
    self:emit('error', err)
    return
  end
  if #w.queue > 0 and w.corked == 0 then
    return doWrite(self, table.remove(w.queue, 1))
  end
  if w.needDrain and w.length == 0 then
    w.needDrain = false
    self:emit('drain')
  end
  maybeFinish(self)
end

doWrite = function(self, entry)
  local w = self._writableState
  w.writing = true
  local sync, done = true, false
  self:_write(entry.chunk, function(err)
    if done then return end
    done = true
    if sync then
      nextTick(afterWrite, self, entry, err)
    else
      afterWrite(self, entry, err)
    end
  end)
  sync = false
end

function Writable:write(chunk, cb)
  local w = self._writableState
  if w.ended then
    local err = 'write after end'
    if cb then nextTick(cb, err) end
    self:emit('error', err)
    return false
  end
  if not w.objectMode and type(chunk) ~= 'string' then chunk = tostring(chunk) end
  local entry = { chunk = chunk, cb = cb }
  w.length = w.length + sizeOf(w, chunk)
  local ok = w.length < w.highWaterMark
  if not ok then w.needDrain = true end
  if w.writing or w.corked > 0 then
    w.queue[#w.queue + 1] = entry
  else
    doWrite(self, entry)
  end
  return ok
end

function Writable:_write(_, cb)
  cb('not implemented: Writable:_write')
end

-- _end([chunk], [cb]): node's end().
function Writable:_end(chunk, cb)
  if type(chunk) == 'function' then chunk, cb = nil, chunk end
  local w = self._writableState
  if chunk ~= nil then self:write(chunk) end
  if w.corked > 0 then
    w.corked = 1
    self:uncork()
  end
  if cb then
    if w.finished then nextTick(cb) else self:once('finish', cb) end
  end
  if not w.ended then
    w.ended = true
    self.writable = false
    maybeFinish(self)
  end
  return self
end

function Writable:cork()
  self._writableState.corked = self._writableState.corked + 1
end

function Writable:uncork()
  local w = self._writableState
  if w.corked == 0 then return end
  w.corked = w.corked - 1
  if w.corked > 0 or w.writing or #w.queue == 0 then return end
  if self._writev and #w.queue > 1 then
    local entries = w.queue
    w.queue = {}
    local chunks, total = {}, 0
    for i, e in ipairs(entries) do
      chunks[i] = e.chunk
      total = total + sizeOf(w, e.chunk)
    end
    w.writing = true
    self:_writev(chunks, function(err)
      w.writing = false
      w.length = w.length - total
      for _, e in ipairs(entries) do if e.cb then e.cb(err) end end
      if err then return self:emit('error', err) end
      if w.needDrain and w.length == 0 then
        w.needDrain = false
        self:emit('drain')
      end
      maybeFinish(self)
    end)
  else
    doWrite(self, table.remove(w.queue, 1))
  end
end

function Writable:pipe()
  self:emit('error', 'Cannot pipe. Not readable.')
end

-- Duplex -----------------------------------------------------------------------------------

local Duplex = Readable:extend()
stream.Duplex = Duplex

for _, name in ipairs({ 'write', '_write', '_end', 'cork', 'uncork' }) do
  Duplex[name] = Writable[name]
end

function Duplex:initialize(options)
  Readable.initialize(self, options)
  initWritable(self, options)
  options = options or {}
  if options.readable == false then self.readable = false end
  if options.writable == false then self.writable = false end
  self.allowHalfOpen = options.allowHalfOpen ~= false
  if not self.allowHalfOpen then
    self:once('end', function() nextTick(function() self:_end() end) end)
  end
end

-- Transform --------------------------------------------------------------------------------

local Transform = Duplex:extend()
stream.Transform = Transform

function Transform:initialize(options)
  Duplex.initialize(self, options)
  self._readableState.sync = false
  self:once('prefinish', function() end)
  local transform = self
  -- When the writable side finishes, flush and end the readable side.
  self._final = function(_, done)
    if transform._flush then
      transform:_flush(function(err, data)
        if data ~= nil then transform:push(data) end
        transform:push(nil)
        done(err)
      end)
    else
      transform:push(nil)
      done()
    end
  end
end

function Transform:_write(chunk, cb)
  self:_transform(chunk, function(err, data)
    if data ~= nil then self:push(data) end
    cb(err)
  end)
end

function Transform:_read()
  -- Data arrives through _transform; nothing to pull.
  self._readableState.reading = false
end

function Transform:_transform()
  error('not implemented: Transform:_transform')
end

-- PassThrough ------------------------------------------------------------------------------

local PassThrough = Transform:extend()
stream.PassThrough = PassThrough

function PassThrough:initialize(options)
  Transform.initialize(self, options)
end

function PassThrough:_transform(chunk, cb)
  cb(nil, chunk)
end

-- Observable: a pass-through whose chunks are also copied to observers.
local Observable = Transform:extend()
stream.Observable = Observable

function Observable:initialize(options)
  Transform.initialize(self, options)
  self.observers = {}
end

function Observable:observe()
  local observer = PassThrough:new()
  self.observers[#self.observers + 1] = observer
  return observer
end

function Observable:_transform(chunk, cb)
  for _, o in ipairs(self.observers) do o:write(chunk) end
  cb(nil, chunk)
end

return stream
