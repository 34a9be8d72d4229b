--[[
stream-transform: Transform, PassThrough and Observable.

  Transform    a Duplex whose output is computed from its input. Implementations define
               self:_transform(chunk, callback): push() zero or more output chunks, then call
               callback([err], [data]) (data, when given, is pushed too). The next chunk is
               transformed only once the readable side wants more, so backpressure on the
               output reaches the writer. When the writable side finishes, the optional
               _flush(callback) may push what is left; then the readable side ends.
               _flush is called as luvit calls it, self._flush(callback), when declared with
               one parameter, and as a method, self:_flush(callback), when declared with two.
  PassThrough  a Transform that outputs its input unchanged.
  Observable   a PassThrough whose data can also be watched: observe() returns a Readable
               that receives a copy of every chunk (without affecting backpressure) and ends
               when the Observable's input ends.
]]

local core = require('core')
local Duplex = require('stream-duplex').Duplex
local Readable = require('stream-readable').Readable

local Error = core.Error

local exports = {}

local Transform = Duplex:extend()
exports.Transform = Transform

-- The callback given to _transform: passes data on, then lets the next chunk in.
local function afterTransform(stream, err, data)
  local ts = stream._transformState
  ts.transforming = false
  local cb = ts.writecb
  if not cb then
    return stream:emit('error', Error:new('no writecb in Transform class'))
  end
  ts.writechunk = nil
  ts.writecb = nil
  if data ~= nil then stream:push(data) end
  cb(err)
  local rs = stream._readableState
  rs.reading = false
  if rs.needReadable or rs.length < rs.highWaterMark then
    stream:_read(rs.highWaterMark)
  end
end

-- Called after _flush: the readable side gets its end.
local function done(stream, err, data)
  if err then return stream:emit('error', err) end
  if data ~= nil then stream:push(data) end
  local ts = stream._transformState
  if stream._writableState.length ~= 0 then
    error('Transform: flushed while writes were still pending')
  end
  if ts.transforming then
    error('Transform: flushed while a chunk was still being transformed')
  end
  return stream:push(nil)
end

local function callFlush(stream, flush, callback)
  local info = debug.getinfo(flush, 'u')
  if info and info.nparams and info.nparams >= 2 then
    return flush(stream, callback)
  end
  return flush(callback)
end

function Transform:initialize(options)
  Duplex.initialize(self, options)
  local stream = self
  self._transformState = {
    afterTransform = function(err, data) return afterTransform(stream, err, data) end,
    needTransform = false,
    transforming = false,
    writecb = nil,
    writechunk = nil,
  }
  -- Ask for a 'readable' as soon as output appears; _read needs no synchronous guard.
  self._readableState.needReadable = true
  self._readableState.sync = false
  self:once('prefinish', function()
    if type(stream._flush) == 'function' then
      callFlush(stream, stream._flush, function(err, data) done(stream, err, data) end)
    else
      done(stream)
    end
  end)
end

function Transform:push(chunk)
  self._transformState.needTransform = false
  return Duplex.push(self, chunk)
end

-- Implementations override this.
function Transform:_transform()
  error('Transform: _transform is not implemented')
end

-- The writable side holds one chunk at a time; it is transformed when the readable side
-- has room (or immediately when someone is already waiting for output).
function Transform:_write(chunk, callback)
  local ts = self._transformState
  ts.writecb = callback
  ts.writechunk = chunk
  if not ts.transforming then
    local rs = self._readableState
    if ts.needTransform or rs.needReadable or rs.length < rs.highWaterMark then
      self:_read(rs.highWaterMark)
    end
  end
end

function Transform:_read()
  local ts = self._transformState
  if ts.writechunk ~= nil and ts.writecb and not ts.transforming then
    ts.transforming = true
    self:_transform(ts.writechunk, ts.afterTransform)
  else
    ts.needTransform = true -- transform the next chunk as soon as it is written
  end
end

local PassThrough = Transform:extend()
exports.PassThrough = PassThrough

function PassThrough:initialize(options)
  Transform.initialize(self, options)
end

function PassThrough:_transform(chunk, callback)
  callback(nil, chunk)
end

local Observable = Transform:extend()
exports.Observable = Observable

function Observable:initialize(options)
  Transform.initialize(self, options)
  self.options = options
  self.observers = {}
end

function Observable:_transform(chunk, callback)
  for _, observer in ipairs(self.observers) do observer:push(chunk) end
  callback(nil, chunk)
end

function Observable:_flush(callback)
  for _, observer in ipairs(self.observers) do observer:push(nil) end
  callback()
end

-- observe(): a Readable fed with a copy of every chunk that passes through.
function Observable:observe()
  local observer = Readable:new(self.options)
  observer._read = function() end
  self.observers[#self.observers + 1] = observer
  return observer
end

return exports
