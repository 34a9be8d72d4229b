-- Streams: a Readable that counts, a Transform that upper-cases, piped into a Writable.
local stream = require('stream')

local Counter = stream.Readable:extend()
function Counter:initialize(limit)
  stream.Readable.initialize(self)
  self.n, self.limit = 0, limit
end
function Counter:_read()
  self.n = self.n + 1
  if self.n > self.limit then return self:push(nil) end
  self:push('line ' .. self.n .. '\n')
end

local Upper = stream.Transform:extend()
function Upper:_transform(chunk, cb)
  self:push(chunk:upper())
  cb()
end

local Sink = stream.Writable:extend()
function Sink:_write(chunk, cb)
  print((chunk:gsub('\n$', '')))
  cb()
end

local sink = Sink:new()
sink:on('finish', function() print('done') end)
Counter:new(3):pipe(Upper:new()):pipe(sink)
