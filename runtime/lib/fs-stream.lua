--[[
fs-stream: luvit's fs.ReadStream, fs.WriteStream and fs.WriteStreamSync (streams2 over uv
file descriptors). Options: fd, flags, mode, start/offset, length/end, chunkSize.
]]

local uv = require('uv')
local Readable = require('stream').Readable
local Writable = require('stream').Writable

local ReadStream = Readable:extend()

function ReadStream:initialize(path, options)
  Readable.initialize(self, options)
  options = options or {}
  self.path = path
  self.fd = options.fd
  self.mode = options.mode or 438
  self.flags = options.flags or 'r'
  self.offset = options.offset or options.start
  self.chunkSize = options.chunkSize or 65536
  self.length = options.length
  if options['end'] and self.offset then
    self.length = options['end'] - self.offset + 1
  end
  if not self.fd then self:open() end
end

function ReadStream:open(callback)
  if self.fd then return callback and callback() end
  uv.fs_open(self.path, self.flags, self.mode, function(err, fd)
    if err then
      self:destroy(err)
      if callback then callback(err) end
      return
    end
    self.fd = fd
    self:emit('open', fd)
    if callback then callback(nil, fd) end
  end)
end

function ReadStream:_read(n)
  if not self.fd then
    return self:once('open', function() self:_read(n) end)
  end
  local want = self.chunkSize or n
  if self.length then
    if self.length <= 0 then return self:push(nil) end
    want = math.min(want, self.length)
  end
  uv.fs_read(self.fd, want, self.offset or -1, function(err, chunk)
    if err then return self:destroy(err) end
    if not chunk or #chunk == 0 then
      self:push(nil)
      return self:close()
    end
    if self.offset then self.offset = self.offset + #chunk end
    if self.length then self.length = self.length - #chunk end
    self:push(chunk)
  end)
end

function ReadStream:close()
  self:destroy()
end

function ReadStream:destroy(err)
  if err then self:emit('error', err) end
  if self.fd then
    local fd = self.fd
    self.fd = nil
    uv.fs_close(fd, function() self:emit('close') end)
  end
end

local WriteStream = Writable:extend()

function WriteStream:initialize(path, options)
  Writable.initialize(self, options)
  options = options or {}
  self.path = path
  self.fd = options.fd
  self.mode = options.mode or 438
  self.flags = options.flags or 'w'
  self.offset = options.offset or options.start
  self.bytesWritten = 0
  if not self.fd then self:open() end
  self:on('finish', function() self:close() end)
end

function WriteStream:open(callback)
  if self.fd then return callback and callback() end
  uv.fs_open(self.path, self.flags, self.mode, function(err, fd)
    if err then
      self:destroy()
      self:emit('error', err)
      if callback then callback(err) end
      return
    end
    self.fd = fd
    self:emit('open', fd)
    if callback then callback(nil, fd) end
  end)
end

function WriteStream:_write(data, callback)
  if not self.fd then
    return self:once('open', function() self:_write(data, callback) end)
  end
  uv.fs_write(self.fd, data, self.offset or -1, function(err, written)
    if err then
      self:destroy()
      return callback(err)
    end
    self.bytesWritten = self.bytesWritten + written
    if self.offset then self.offset = self.offset + written end
    callback()
  end)
end

function WriteStream:close()
  self:destroy()
end

function WriteStream:destroy()
  if self.fd then
    local fd = self.fd
    self.fd = nil
    uv.fs_close(fd, function() self:emit('close') end)
  end
end

local WriteStreamSync = WriteStream:extend()

function WriteStreamSync:open(callback)
  if self.fd then return callback and callback() end
  local fd, err = uv.fs_open(self.path, self.flags, self.mode)
  if not fd then
    self:emit('error', err)
    if callback then callback(err) end
    return
  end
  self.fd = fd
  if callback then callback(nil, fd) end
end

function WriteStreamSync:_write(data, callback)
  local written, err = uv.fs_write(self.fd, data, self.offset or -1)
  if not written then return callback(err) end
  self.bytesWritten = self.bytesWritten + written
  if self.offset then self.offset = self.offset + written end
  callback()
end

return { ReadStream = ReadStream, WriteStream = WriteStream, WriteStreamSync = WriteStreamSync }
