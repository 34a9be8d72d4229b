--[[
stream-readable: Readable, the source half of luvit's streams2 (node 0.12's design).

Implementations define self:_read(n) and call self:push(chunk) (push(nil) ends the stream).
Consumers either read() in paused mode (driven by 'readable' events) or switch to flowing
mode: listening for 'data', resume() or pipe(). As in luvit, every chunk read() returns is
also emitted as 'data'. Chunks are strings (any value in objectMode; each counts 1 against
highWaterMark). Events: 'readable', 'data', 'end', 'pause', 'resume', 'error', 'close'
(after destroy). Options: highWaterMark (16 KiB, or 16 objects), objectMode.
The state lives in self._readableState, with node's field names (flowing, reading, length,
ended, needReadable ...), since luvit code reaches into it.
]]

local core = require('core')
local base = require('stream-core')

local Stream, defer = base.Stream, base.defer
local Error = core.Error

local exports = {}

local MAX_HWM = 0x800000

--------------------------------------------------------------------------------------------
-- The chunk queue: buffer[head .. tail]; unshift grows it downwards.

local function queued(s) return s.bufferTail - s.bufferHead + 1 end

local function enqueue(s, chunk)
  s.bufferTail = s.bufferTail + 1
  s.buffer[s.bufferTail] = chunk
end

local function enqueueFront(s, chunk)
  s.bufferHead = s.bufferHead - 1
  s.buffer[s.bufferHead] = chunk
end

local function dequeue(s)
  local i = s.bufferHead
  local chunk = s.buffer[i]
  s.buffer[i] = nil
  s.bufferHead = i + 1
  if s.bufferHead > s.bufferTail then s.bufferHead, s.bufferTail = 1, 0 end
  return chunk
end

local function clearQueue(s)
  s.buffer, s.bufferHead, s.bufferTail = {}, 1, 0
end

--------------------------------------------------------------------------------------------
-- setEncoding('utf8') keeps multi-byte characters whole across chunk boundaries.

local function splitUtf8(s)
  local n = #s
  for i = n, math.max(1, n - 2), -1 do
    local b = s:byte(i)
    if b < 0x80 then return s, '' end
    if b >= 0xC0 then
      local size = b >= 0xF0 and 4 or b >= 0xE0 and 3 or 2
      if n - i + 1 < size then return s:sub(1, i - 1), s:sub(i) end
      return s, ''
    end
  end
  return s, ''
end

local passThroughEncodings = { binary = true, latin1 = true, ascii = true, raw = true }

--------------------------------------------------------------------------------------------

local function newState(options)
  local objectMode = not not options.objectMode
  return {
    objectMode = objectMode,
    highWaterMark = options.highWaterMark or (objectMode and 16 or 16 * 1024),
    buffer = {}, bufferHead = 1, bufferTail = 0,
    length = 0,
    pipes = {},
    pipesCount = 0,
    flowing = nil, -- nil: not decided yet; true: flowing; false: paused explicitly
    ended = false,
    endEmitted = false,
    reading = false,
    sync = true, -- set while _read runs, so pushes made inside it defer their events
    needReadable = false,
    emittedReadable = false,
    readableListening = false,
    resumeScheduled = false,
    awaitDrain = 0,
    readingMore = false,
    encoding = nil,
    pending = nil, -- the incomplete utf-8 tail held back by setEncoding('utf8')
    destroyed = false,
  }
end

local Readable = Stream:extend()
exports.Readable = Readable

function Readable:initialize(options)
  self._readableState = newState(options or {})
  self.readable = true
end

local emitReadable, endReadable, flow

local function needMoreData(s)
  return not s.ended and (s.needReadable or s.length < s.highWaterMark or s.length == 0)
end

-- Pre-fetches up to highWaterMark on a later tick when nobody is consuming yet.
local function maybeReadMore(stream, s)
  if s.readingMore then return end
  s.readingMore = true
  defer(function()
    local before = s.length
    while not s.reading and not s.flowing and not s.ended and not s.destroyed and
        s.length < s.highWaterMark do
      stream:read(0)
      if s.length == before then break end
      before = s.length
    end
    s.readingMore = false
  end)
end

local function onEof(stream, s)
  if s.pending and #s.pending > 0 then
    enqueue(s, s.pending)
    s.length = s.length + #s.pending
  end
  s.pending = nil
  s.ended = true
  emitReadable(stream)
end

local function addChunk(stream, s, chunk, front)
  if s.destroyed then return false end
  if chunk == nil then
    s.reading = false
    if not s.ended then onEof(stream, s) end
    return needMoreData(s)
  end
  if not s.objectMode then
    if type(chunk) ~= 'string' then
      stream:emit('error', Error:new('Invalid non-string/buffer chunk'))
      return needMoreData(s)
    end
    if s.pending and not front then
      chunk, s.pending = splitUtf8(s.pending .. chunk)
    end
    if #chunk == 0 then
      if not front then s.reading = false end
      return needMoreData(s)
    end
  end
  if front and s.endEmitted then
    stream:emit('error', Error:new('stream.unshift() after end event'))
    return needMoreData(s)
  end
  if s.ended and not front then
    stream:emit('error', Error:new('stream.push() after EOF'))
    return needMoreData(s)
  end
  if not front then s.reading = false end
  if s.flowing and s.length == 0 and not s.sync and queued(s) == 0 then
    -- Someone is consuming right now: hand the chunk straight over.
    stream:emit('data', chunk)
    stream:read(0)
  else
    s.length = s.length + (s.objectMode and 1 or #chunk)
    if front then enqueueFront(s, chunk) else enqueue(s, chunk) end
    if s.needReadable then emitReadable(stream) end
  end
  maybeReadMore(stream, s)
  return needMoreData(s)
end

-- push(chunk): adds data for consumers; push(nil) signals the end. Returns whether more
-- data is wanted (false once highWaterMark is reached).
function Readable:push(chunk)
  return addChunk(self, self._readableState, chunk, false)
end

-- unshift(chunk): puts data back at the front (for parsers that read too much).
function Readable:unshift(chunk)
  return addChunk(self, self._readableState, chunk, true)
end

local function nextPowerOf2(n)
  if n >= MAX_HWM then return MAX_HWM end
  local p = 1
  while p < n do p = p * 2 end
  return p
end

-- How many units read(n) can hand out now (0 when it must wait).
local function howMuchToRead(n, s)
  if s.length == 0 and s.ended then return 0 end
  if s.objectMode then return n == 0 and 0 or 1 end
  if type(n) ~= 'number' or n ~= n then
    if s.flowing and queued(s) > 0 then return #s.buffer[s.bufferHead] end
    return s.length
  end
  if n <= 0 then return 0 end
  if n > s.highWaterMark then s.highWaterMark = nextPowerOf2(n) end
  if n > s.length then
    if not s.ended then
      s.needReadable = true
      return 0
    end
    return s.length
  end
  return n
end

-- Takes n units off the queue (n <= length): one object, or n bytes as one string.
local function take(n, s)
  if queued(s) == 0 then return nil end
  if s.objectMode then
    s.length = s.length - 1
    return dequeue(s)
  end
  local out
  if n >= s.length then
    out = table.concat(s.buffer, '', s.bufferHead, s.bufferTail)
    clearQueue(s)
    s.length = 0
    return out
  end
  local first = s.buffer[s.bufferHead]
  if n < #first then
    out = first:sub(1, n)
    s.buffer[s.bufferHead] = first:sub(n + 1)
  elseif n == #first then
    out = dequeue(s)
  else
    local parts, got = {}, 0
    while got < n do
      local chunk = s.buffer[s.bufferHead]
      local want = n - got
      if #chunk <= want then
        parts[#parts + 1] = dequeue(s)
        got = got + #chunk
      else
        parts[#parts + 1] = chunk:sub(1, want)
        s.buffer[s.bufferHead] = chunk:sub(want + 1)
        got = n
      end
    end
    out = table.concat(parts)
  end
  s.length = s.length - n
  return out
end

-- read([n]): returns n bytes (everything buffered when n is nil; one object in objectMode),
-- or nil when that much is not there yet. Asks _read for more when below highWaterMark.
-- read(0) only refills. Whatever is returned is also emitted as 'data' (luvit's way).
function Readable:read(n)
  local s = self._readableState
  if s.destroyed then return nil end
  local asked = n
  if type(n) ~= 'number' or n > 0 then s.emittedReadable = false end

  -- read(0) with enough buffered (or the end seen): just announce it.
  if n == 0 and s.needReadable and (s.length >= s.highWaterMark or s.ended) then
    if s.length == 0 and s.ended then endReadable(self) else emitReadable(self) end
    return nil
  end

  n = howMuchToRead(n, s)
  if n == 0 and s.ended then
    if s.length == 0 then endReadable(self) end
    return nil
  end

  -- Refill when what remains after this read would be under highWaterMark. _read may push
  -- synchronously, so decide on the amount to hand out again afterwards.
  local doRead = s.needReadable or s.length == 0 or s.length - n < s.highWaterMark
  if s.ended or s.reading then doRead = false end
  if doRead then
    s.reading = true
    s.sync = true
    if s.length == 0 then s.needReadable = true end
    self:_read(s.highWaterMark)
    s.sync = false
    if not s.reading then n = howMuchToRead(asked, s) end
  end

  local out
  if n > 0 then out = take(n, s) end
  if out == nil then
    s.needReadable = true
    n = 0
  end
  if s.length == 0 and not s.ended then s.needReadable = true end
  -- Asked past the end: the stream is over.
  if asked ~= n and s.ended and s.length == 0 then endReadable(self) end
  if out ~= nil then self:emit('data', out) end
  return out
end

-- Implementations override this: fetch data and push() it (now or later).
function Readable:_read()
  self:emit('error', Error:new('not implemented'))
end

local function emitReadableNow(stream)
  stream:emit('readable')
  flow(stream)
end

function emitReadable(stream)
  local s = stream._readableState
  s.needReadable = false
  if s.emittedReadable then return end
  s.emittedReadable = true
  if s.sync then
    defer(emitReadableNow, stream)
  else
    emitReadableNow(stream)
  end
end

function endReadable(stream)
  local s = stream._readableState
  if s.length > 0 then error('stream: end of a readable stream that still holds data') end
  if s.endEmitted then return end
  s.ended = true
  defer(function()
    if not s.endEmitted and s.length == 0 and not s.destroyed then
      s.endEmitted = true
      stream.readable = false
      stream:emit('end')
    end
  end)
end

-- Flowing mode: keep reading (each read emits 'data') while data comes synchronously.
function flow(stream)
  local s = stream._readableState
  while s.flowing and not s.destroyed do
    if stream:read() == nil then break end
  end
end

-- 'data' listeners switch to flowing mode (unless paused explicitly); the first 'readable'
-- listener gets a 'readable' for data already buffered, or starts reading.
function Readable:on(name, callback)
  local result = Stream.on(self, name, callback)
  local s = self._readableState
  if name == 'data' and s.flowing ~= false then
    self:resume()
  elseif name == 'readable' and self.readable and not s.readableListening then
    s.readableListening = true
    s.emittedReadable = false
    s.needReadable = true
    -- Announce what is already buffered (even while a _read is outstanding), else start
    -- reading; on a later tick either way, never inside on().
    defer(function()
      if s.length > 0 then
        emitReadable(self)
      elseif not s.reading then
        self:read(0)
      end
    end)
  end
  return result
end
Readable.addListener = Readable.on

local function resumeNow(stream, s)
  s.resumeScheduled = false
  stream:emit('resume')
  flow(stream)
  if s.flowing and not s.reading then stream:read(0) end
end

function Readable:resume()
  local s = self._readableState
  if not s.flowing then
    s.flowing = true
    if not s.reading then self:read(0) end
    if not s.resumeScheduled then
      s.resumeScheduled = true
      defer(resumeNow, self, s)
    end
  end
  return self
end

function Readable:pause()
  local s = self._readableState
  if s.flowing ~= false then
    s.flowing = false
    self:emit('pause')
  end
  return self
end

function Readable:isPaused()
  return self._readableState.flowing == false
end

-- setEncoding('utf8'): chunks never end in the middle of a multi-byte character (the tail
-- waits for the next push). 'binary', 'latin1' and 'ascii' leave bytes as they are.
function Readable:setEncoding(encoding)
  local s = self._readableState
  local name = (encoding or 'utf8'):lower()
  if name == 'utf8' or name == 'utf-8' then
    s.encoding = 'utf8'
    s.pending = s.pending or ''
  elseif passThroughEncodings[name] then
    s.encoding = name
    s.pending = nil
  else
    error("setEncoding: unsupported encoding '" .. tostring(encoding) .. "'", 2)
  end
  return self
end

Readable.destroy = base.destroy

--------------------------------------------------------------------------------------------
-- pipe / unpipe

local function removePipe(s, dest)
  for i = 1, #s.pipes do
    if s.pipes[i] == dest then
      table.remove(s.pipes, i)
      s.pipesCount = #s.pipes
      return true
    end
  end
  return false
end

-- Called when a destination drains: once every paused destination has drained, flow again.
local function onDrainOf(src)
  return function()
    local s = src._readableState
    if s.awaitDrain > 0 then s.awaitDrain = s.awaitDrain - 1 end
    if s.awaitDrain == 0 and core.Emitter.listenerCount(src, 'data') > 0 then
      s.flowing = true
      flow(src)
    end
  end
end

-- pipe(dest, opts): writes everything read into dest, pausing while dest:write() returns
-- false until dest emits 'drain'. dest:_end() follows the source's 'end' unless
-- opts._end == false (or dest is stdout/stderr). An error on dest unpipes it. Returns dest.
function Readable:pipe(dest, options)
  local src = self
  local s = self._readableState
  local ondata, ondrain, onend, onerror, onclose, onfinish, onunpipe, unpipe, cleanup

  function onunpipe(readable)
    if readable == src then cleanup() end
  end

  function onend()
    dest:_end()
  end

  function ondata(chunk)
    if dest:write(chunk) == false then
      s.awaitDrain = s.awaitDrain + 1
      src:pause()
    end
  end

  function onerror(err)
    unpipe()
    dest:removeListener('error', onerror)
    if core.Emitter.listenerCount(dest, 'error') == 0 then dest:emit('error', err) end
  end

  function onclose()
    dest:removeListener('finish', onfinish)
    unpipe()
  end

  function onfinish()
    dest:removeListener('close', onclose)
    unpipe()
  end

  function unpipe()
    src:unpipe(dest)
  end

  function cleanup()
    dest:removeListener('close', onclose)
    dest:removeListener('finish', onfinish)
    dest:removeListener('drain', ondrain)
    dest:removeListener('error', onerror)
    dest:removeListener('unpipe', onunpipe)
    src:removeListener('end', onend)
    src:removeListener('end', cleanup)
    src:removeListener('data', ondata)
    -- If we were waiting for this destination to drain we never will: stop waiting.
    if s.awaitDrain > 0 and (not dest._writableState or dest._writableState.needDrain) then
      ondrain()
    end
  end

  s.pipes[#s.pipes + 1] = dest
  s.pipesCount = #s.pipes

  local endFn = (base.wantsEnd(options) and not base.isStdio(dest)) and onend or cleanup
  if s.endEmitted then
    defer(endFn)
  else
    src:once('end', endFn)
  end

  dest:on('unpipe', onunpipe)
  ondrain = onDrainOf(src)
  dest:on('drain', ondrain)
  src:on('data', ondata)
  dest:on('error', onerror)
  dest:once('close', onclose)
  dest:once('finish', onfinish)

  dest:emit('pipe', src)
  if not s.flowing then src:resume() end
  return dest
end

-- unpipe([dest]): stops piping into dest (into every destination without one). Emits
-- 'unpipe' on each destination removed; the source stops flowing when none remain.
function Readable:unpipe(dest)
  local s = self._readableState
  if s.pipesCount == 0 then return self end
  if dest == nil then
    local dests = s.pipes
    s.pipes, s.pipesCount = {}, 0
    s.flowing = false
    for i = 1, #dests do dests[i]:emit('unpipe', self) end
    return self
  end
  if not removePipe(s, dest) then return self end
  if s.pipesCount == 0 then s.flowing = false end
  dest:emit('unpipe', self)
  return self
end

--------------------------------------------------------------------------------------------

-- wrap(old): reads an old-style stream (one that emits 'data' and 'end' and has
-- pause/resume) through this Readable.
function Readable:wrap(old)
  local s = self._readableState
  local paused = false

  old:on('end', function() self:push(nil) end)
  old:on('data', function(chunk)
    if chunk == nil or (not s.objectMode and type(chunk) == 'string' and #chunk == 0) then
      return
    end
    if not self:push(chunk) then
      paused = true
      if old.pause then old:pause() end
    end
  end)

  -- Methods the old stream has of its own and we lack are proxied to it.
  for key, value in pairs(old) do
    if type(value) == 'function' and self[key] == nil then
      self[key] = function(_, ...) return value(old, ...) end
    end
  end

  for _, name in ipairs({ 'error', 'close', 'destroy', 'pause', 'resume' }) do
    old:on(name, function(...) self:emit(name, ...) end)
  end

  self._read = function()
    if paused then
      paused = false
      if old.resume then old:resume() end
    end
  end
  return self
end

return exports
