--[[
uv-stream: streams2 wrappers over uv stream handles (what luvit's process.stdin/stdout/stderr
are). `readable(fd)` / `writable(fd)` make them for the process's stdio; `Readable`/`Writable`
wrap any uv stream handle.
]]

local uv = require('uv')
local stream = require('stream')

local UvReadable = stream.Readable:extend()

function UvReadable:initialize(handle)
  stream.Readable.initialize(self)
  self.handle = handle
end

function UvReadable:_read()
  if self.reading then return end
  self.reading = true
  uv.read_start(self.handle, function(err, data)
    if err then return self:emit('error', err) end
    if data == nil then
      uv.read_stop(self.handle)
      self.reading = false
      return self:push(nil)
    end
    if not self:push(data) then
      uv.read_stop(self.handle)
      self.reading = false
    end
  end)
end

function UvReadable:pause()
  stream.Readable.pause(self)
  if self.reading then
    uv.read_stop(self.handle)
    self.reading = false
  end
  return self
end

local UvWritable = stream.Writable:extend()

function UvWritable:initialize(handle)
  stream.Writable.initialize(self)
  self.handle = handle
end

function UvWritable:_write(data, callback)
  uv.write(self.handle, data, callback)
end

local function handleFor(fd)
  local kind = uv.guess_handle(fd)
  if kind == 'tty' then
    return uv.new_tty(fd, fd == 0)
  end
  local pipe = uv.new_pipe(false)
  uv.pipe_open(pipe, fd)
  return pipe
end

local function readable(fd)
  local h = handleFor(fd)
  return UvReadable:new(h)
end

local function writable(fd)
  local pp = require('pretty-print')
  local h = (fd == 1 and pp.stdout) or (fd == 2 and pp.stderr) or handleFor(fd)
  if type(h) ~= 'userdata' then h = handleFor(fd) end
  return UvWritable:new(h)
end

return { Readable = UvReadable, Writable = UvWritable, readable = readable, writable = writable }
