--[[
stream-writable: Writable, the sink half of luvit's streams2 (node 0.12's design).

Implementations define self:_write(chunk, callback) (and optionally self:_writev(entries,
callback), called with a list of { chunk = ... } when several writes were queued, e.g. by
cork()). write(chunk, cb) queues while a write is in progress and returns false once
highWaterMark bytes (objects in objectMode) are pending; 'drain' follows when they are all
written. _end([chunk], [cb]) is node's end(): 'prefinish' then 'finish' once everything is
written (cb runs on 'finish'). cork()/uncork() batch writes. Events: 'drain', 'finish',
'prefinish', 'error', 'pipe', 'unpipe', 'close' (after destroy); a plain Writable also emits
'end' when _end() is called, as luvit's does.
The state lives in self._writableState, with node's field names.
]]

local core = require('core')
local base = require('stream-core')

local Stream, defer = base.Stream, base.defer
local Error = core.Error

local exports = {}

local function noop() end

local function newState(options)
  local objectMode = not not options.objectMode
  return {
    objectMode = objectMode,
    highWaterMark = options.highWaterMark or (objectMode and 16 or 16 * 1024),
    needDrain = false,
    ending = false, -- _end() has started
    ended = false, -- _end() has returned
    finished = false, -- 'finish' was emitted
    length = 0, -- bytes (objects) written but not yet acknowledged by _write's callback
    writing = false,
    corked = 0,
    sync = true, -- set while _write runs: its callback's effects then wait for a later tick
    bufferProcessing = false,
    writecb = nil,
    writelen = 0,
    buffer = {}, bufferHead = 1, bufferTail = 0, -- queued { chunk =, callback = } requests
    pendingcb = 0, -- user callbacks still to call; 'finish' waits for them
    prefinished = false,
    errorEmitted = false,
    destroyed = false,
  }
end

local function queued(s) return s.bufferTail - s.bufferHead + 1 end

local function clearQueue(s)
  s.buffer, s.bufferHead, s.bufferTail = {}, 1, 0
end

local Writable = Stream:extend()
exports.Writable = Writable

function Writable:initialize(options)
  self._writableState = newState(options or {})
  self.writable = true
end

-- Writables are not readable.
function Writable:pipe()
  self:emit('error', Error:new('Cannot pipe. Not readable.'))
end

local clearBuffer, finishMaybe

local function sizeOf(s, chunk)
  return s.objectMode and 1 or #chunk
end

local function needFinish(s)
  return s.ending and s.length == 0 and queued(s) == 0 and not s.finished and not s.writing
end

local function afterWrite(stream, s, finished, cb)
  if not finished and s.length == 0 and s.needDrain then
    s.needDrain = false
    stream:emit('drain')
  end
  s.pendingcb = s.pendingcb - 1
  cb()
  finishMaybe(stream, s)
end

-- The callback handed to _write/_writev (one per call; a second call is an error).
local function onWrite(stream, s, err)
  local sync = s.sync
  local cb = s.writecb
  s.writing = false
  s.writecb = nil
  s.length = s.length - s.writelen
  s.writelen = 0
  if err then
    if sync then
      defer(function()
        s.pendingcb = s.pendingcb - 1
        cb(err)
      end)
    else
      s.pendingcb = s.pendingcb - 1
      cb(err)
    end
    s.errorEmitted = true
    stream:emit('error', err)
    return
  end
  local finished = needFinish(s)
  if not finished and s.corked == 0 and not s.bufferProcessing and queued(s) > 0 then
    clearBuffer(stream, s)
  end
  -- A synchronous _write must not emit 'drain' before write() has returned false.
  if sync then
    defer(afterWrite, stream, s, finished, cb)
  else
    afterWrite(stream, s, finished, cb)
  end
end

local function doWrite(stream, s, writev, len, chunk, cb)
  s.writelen = len
  s.writecb = cb
  s.writing = true
  s.sync = true
  local called = false
  local function done(err)
    if called then
      return stream:emit('error', Error:new('write callback called multiple times'))
    end
    called = true
    onWrite(stream, s, err)
  end
  if writev then
    stream:_writev(chunk, done)
  else
    stream:_write(chunk, done)
  end
  s.sync = false
end

-- Writes out queued requests: all at once through _writev when there is one and more than
-- one request waits, else one by one for as long as _write completes synchronously.
function clearBuffer(stream, s)
  s.bufferProcessing = true
  if stream._writev and queued(s) > 1 then
    local entries, callbacks = {}, {}
    for i = s.bufferHead, s.bufferTail do
      local req = s.buffer[i]
      entries[#entries + 1] = { chunk = req.chunk }
      callbacks[#callbacks + 1] = req.callback
    end
    clearQueue(s)
    s.pendingcb = s.pendingcb + 1 -- for the combined callback below
    doWrite(stream, s, true, s.length, entries, function(err)
      for i = 1, #callbacks do
        s.pendingcb = s.pendingcb - 1
        callbacks[i](err)
      end
    end)
  else
    while queued(s) > 0 do
      local i = s.bufferHead
      local req = s.buffer[i]
      s.buffer[i] = nil
      s.bufferHead = i + 1
      doWrite(stream, s, false, sizeOf(s, req.chunk), req.chunk, req.callback)
      if s.writing then break end -- asynchronous: wait for its callback
    end
    if queued(s) == 0 then clearQueue(s) end
  end
  s.bufferProcessing = false
end

-- write(chunk, [cb]): returns false when the caller should wait for 'drain'.
function Writable:write(chunk, cb)
  local s = self._writableState
  if type(cb) ~= 'function' then cb = noop end
  if s.ended then
    local err = Error:new('write after end')
    self:emit('error', err)
    defer(cb, err)
    return false
  end
  if s.destroyed then
    defer(cb, Error:new('write after destroy'))
    return false
  end
  if chunk == nil or (not s.objectMode and type(chunk) ~= 'string') then
    local err = Error:new(chunk == nil and 'May not write nil values to stream' or
      'Invalid non-string/buffer chunk')
    self:emit('error', err)
    defer(cb, err)
    return false
  end
  s.pendingcb = s.pendingcb + 1
  local len = sizeOf(s, chunk)
  s.length = s.length + len
  local ok = s.length < s.highWaterMark
  if not ok then s.needDrain = true end
  if s.writing or s.corked ~= 0 then
    s.bufferTail = s.bufferTail + 1
    s.buffer[s.bufferTail] = { chunk = chunk, callback = cb }
  else
    doWrite(self, s, false, len, chunk, cb)
  end
  return ok
end

-- Implementations override this: write chunk, then call callback([err]).
function Writable:_write(_, callback)
  callback(Error:new('not implemented'))
end

function Writable:cork()
  local s = self._writableState
  s.corked = s.corked + 1
end

function Writable:uncork()
  local s = self._writableState
  if s.corked == 0 then return end
  s.corked = s.corked - 1
  if s.corked == 0 and not s.writing and not s.finished and not s.bufferProcessing and
      queued(s) > 0 then
    clearBuffer(self, s)
  end
end

local function prefinish(stream, s)
  if not s.prefinished then
    s.prefinished = true
    stream:emit('prefinish')
  end
end

function finishMaybe(stream, s)
  local need = needFinish(s)
  if need then
    prefinish(stream, s)
    if s.pendingcb == 0 and not s.destroyed then
      s.finished = true
      stream:emit('finish')
    end
  end
  return need
end

-- _end([chunk], [cb]): node's end(). Writes chunk if given, fully uncorks, and finishes
-- once everything is written; cb runs on 'finish'. Further calls are ignored.
function Writable:_end(chunk, cb)
  local s = self._writableState
  if type(chunk) == 'function' then chunk, cb = nil, chunk end
  if chunk ~= nil then self:write(chunk) end
  if s.corked ~= 0 then
    s.corked = 1
    self:uncork()
  end
  if s.ending or s.finished then return end
  s.ending = true
  finishMaybe(self, s)
  if cb then
    if s.finished then defer(cb) else self:once('finish', cb) end
  end
  s.ended = true
  -- luvit's Writable announces the end of writing as 'end'. On a duplex 'end' belongs to
  -- the readable side (no more data to read), so only plain writables do this.
  if self._readableState == nil then self:emit('end') end
end

Writable.destroy = base.destroy

return exports
