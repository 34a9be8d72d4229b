--[[
net: luvit's TCP sockets and servers over uv tcp handles.
  Socket   a Duplex stream: connect(port, host, cb) or connect({port=, host=}, cb) (host names
           resolved with getaddrinfo), write with backpressure (write returns false, 'drain'
           follows), half-close (_end shuts the write side; 'end' when the peer does), destroy,
           pause/resume (stop/start reading), setTimeout ('timeout' after idle ms), nodelay,
           keepalive, address/getsockname, buffer sizes. Writes before connect are queued.
  Server   listen(port, host, cb) (errors such as EADDRINUSE reach 'error' and the callback,
           never swallowed), address, close; 'connection' with a Socket for each client.
Both take a filesystem path instead of a port (listen(path, cb), connect(path, cb) or
connect({path=}, cb)) for Unix domain sockets (uv pipes).
  createServer(options, onConnection), connect/createConnection(port, host, cb).
Sockets set TCP_NODELAY when they connect (small writes leave at once). Unless created with
{ allowHalfOpen = true }, a socket ends its side once the peer ends, then closes (node's default).
]]

local uv = require('uv')
local timer = require('timer')
local Emitter = require('core').Emitter
local Duplex = require('stream').Duplex

local net = {}

-- A listen/connect target that is a filesystem path (a Unix domain socket) rather than a port.
local function isPath(target)
  return type(target) == 'string' and not tonumber(target)
end

-- Swaps a socket's or server's unused tcp handle for a pipe handle.
local function usePipe(obj)
  if obj._handle and uv.handle_get_type and uv.handle_get_type(obj._handle) == 'pipe' then return end
  if obj._handle and not uv.is_closing(obj._handle) then uv.close(obj._handle) end
  obj._handle = uv.new_pipe(false)
  obj._isPipe = true
end

local Socket = Duplex:extend()
net.Socket = Socket

function Socket:initialize(options)
  options = options or {}
  -- Like node: unless allowHalfOpen is asked for, the socket ends its side when the peer does.
  Duplex.initialize(self, {
    allowHalfOpen = options.allowHalfOpen == true,
    highWaterMark = options.highWaterMark,
  })
  if type(options.handle) == 'userdata' then
    self._handle = options.handle
    self._connected = true
  else
    self._handle = uv.new_tcp()
    self._connected = false
  end
  self:once('finish', function() self:_onSocketFinish() end)
  self:once('end', function() self:_onSocketEnd() end)
end

-- Our side finished writing: shut the write side down (half-close), or close if the peer has.
function Socket:_onSocketFinish()
  if self._connecting then return self:once('connect', function() self:_onSocketFinish() end) end
  if not self._handle or uv.is_closing(self._handle) then return end
  if self._readEnded then return self:destroy() end
  self:shutdown()
end

-- The peer finished writing: close once we are done too.
function Socket:_onSocketEnd()
  self._readEnded = true
  if self._writableState and self._writableState.finished then self:destroy() end
end

function Socket:bind(ip, port)
  return uv.tcp_bind(self._handle, ip, port)
end

function Socket:address()
  if self._isPipe then return self._handle and { path = uv.pipe_getsockname(self._handle) } end
  return self._handle and uv.tcp_getpeername(self._handle)
end

function Socket:getsockname()
  if self._isPipe then return self._handle and { path = uv.pipe_getsockname(self._handle) } end
  return self._handle and uv.tcp_getsockname(self._handle)
end

local function touch(self)
  if self._idleTimeout and self._idleTimeout > 0 then timer.active(self) end
end

function Socket:setTimeout(msecs, callback)
  if msecs and msecs > 0 then
    timer.enroll(self, msecs)
    timer.active(self)
    if callback then self:once('timeout', callback) end
  else
    timer.unenroll(self)
    if callback then self:removeListener('timeout', callback) end
  end
  return self
end

function Socket:_write(data, callback)
  if not self._connected then
    return self:once('connect', function() self:_write(data, callback) end)
  end
  if not self._handle or uv.is_closing(self._handle) then
    return callback('EPIPE: socket is closed')
  end
  touch(self)
  local ok, err = uv.write(self._handle, data, function(werr)
    if werr then
      self:destroy(werr)
      return callback(werr)
    end
    touch(self)
    callback()
  end)
  if not ok then callback(err) end
end

function Socket:_read()
  if not self._connected then
    return self:once('connect', function() self:_read() end)
  end
  if self._reading or not self._handle or uv.is_closing(self._handle) then return end
  self._reading = true
  uv.read_start(self._handle, function(err, data)
    if err then return self:destroy(err) end
    touch(self)
    if data == nil then
      self._reading = false
      uv.read_stop(self._handle)
      return self:push(nil)
    end
    if not self:push(data) then
      self._reading = false
      uv.read_stop(self._handle)
    end
  end)
end

function Socket:shutdown(callback)
  if not self._handle or uv.is_closing(self._handle) then
    if callback then callback() end
    return
  end
  uv.shutdown(self._handle, function(err)
    -- ENOTCONN: the peer reset the connection first; there is nothing left to shut down and
    -- nothing lost (node ignores shutdown errors altogether). Any other error is one.
    if err and tostring(err):find('ENOTCONN', 1, true) then
      self:destroy()
    elseif err then
      self:destroy(err)
    end
    if callback then callback(err) end
    if self._readEnded then self:destroy() end
  end)
end

function Socket:nodelay(enable)
  if self._isPipe then return true end
  return uv.tcp_nodelay(self._handle, enable)
end
Socket.setNoDelay = Socket.nodelay

function Socket:keepalive(enable, delay)
  if self._isPipe then return true end
  return uv.tcp_keepalive(self._handle, enable, delay)
end
Socket.setKeepAlive = Socket.keepalive

function Socket:getSendBufferSize() return uv.send_buffer_size(self._handle) end
function Socket:getRecvBufferSize() return uv.recv_buffer_size(self._handle) end
function Socket:setSendBufferSize(size) return uv.send_buffer_size(self._handle, size) end
function Socket:setRecvBufferSize(size) return uv.recv_buffer_size(self._handle, size) end

function Socket:pause()
  Duplex.pause(self)
  if self._reading and self._handle and not uv.is_closing(self._handle) then
    self._reading = false
    uv.read_stop(self._handle)
  end
  return self
end

function Socket:resume()
  Duplex.resume(self)
  self:_read()
  return self
end

-- connect(port, host, cb) | connect({port=, host=}, cb) | connect(path, cb) | connect({path=}, cb)
function Socket:connect(...)
  local port, host, callback
  local first = ...
  if type(first) == 'table' then
    port, host = first.port, first.host
    if first.path then port = first.path end
    callback = select(2, ...)
  else
    port, host, callback = ...
    if type(host) == 'function' then host, callback = nil, host end
  end
  if isPath(port) then return self:_connectPipe(port, callback) end
  host = host or '127.0.0.1'
  port = tonumber(port)
  if not port then error("Socket:connect: a port number is required", 2) end
  if callback then self:once('connect', callback) end
  self._connecting = true
  local function fail(err)
    self._connecting = false
    self:destroy(err)
  end
  uv.getaddrinfo(host, port, { socktype = 'stream' }, function(err, addrs)
    if err then return fail(err) end
    if not self._handle or uv.is_closing(self._handle) then return end
    local addr = addrs and addrs[1]
    if not addr then return fail('ENOTFOUND: ' .. tostring(host)) end
    local ok, cerr = uv.tcp_connect(self._handle, addr.addr, port, function(connErr)
      if connErr then return fail(connErr) end
      self._connecting = false
      self._connected = true
      uv.tcp_nodelay(self._handle, true)
      touch(self)
      self:emit('connect')
      -- flowing sockets start reading now
      if self._readableState.flowing then self:_read() end
    end)
    if not ok then fail(cerr) end
  end)
  return self
end

function Socket:_connectPipe(path, callback)
  usePipe(self)
  if callback then self:once('connect', callback) end
  self._connecting = true
  uv.pipe_connect(self._handle, path, function(err)
    self._connecting = false
    if err then return self:destroy(err) end
    self._connected = true
    touch(self)
    self:emit('connect')
    if self._readableState.flowing then self:_read() end
  end)
  return self
end

function Socket:destroy(exception, callback)
  if self.destroyed then
    if callback then callback() end
    return
  end
  self.destroyed = true
  timer.unenroll(self)
  self.readable, self.writable = false, false
  local handle = self._handle
  if handle and not uv.is_closing(handle) then
    uv.close(handle, function()
      self:emit('close', exception ~= nil)
      if callback then callback() end
    end)
  elseif callback then
    callback()
  end
  if exception then self:emit('error', exception) end
end

-- Node's legacy enroll timers call this when the socket idles past its timeout.
function Socket:_onTimeout() end

function Socket:listen(queueSize)
  return uv.listen(self._handle, queueSize or 128, function(err)
    if err then return self:emit('error', err) end
    self:emit('connection')
  end)
end

-- Server ------------------------------------------------------------------------------------

local Server = Emitter:extend()
net.Server = Server

function Server:init(options, connectionListener)
  if type(options) == 'function' then options, connectionListener = {}, options end
  self.options = options or {}
  self._handle = uv.new_tcp()
  if connectionListener then self:on('connection', connectionListener) end
end
Server.initialize = Server.init

function Server:destroy(err, callback)
  if self._handle and not uv.is_closing(self._handle) then
    uv.close(self._handle, callback)
  elseif callback then
    callback()
  end
  if err then self:emit('error', err) end
end

-- listen(port, [host], [callback]): bind and listen; failures go to 'error' and the callback.
function Server:listen(port, ...)
  local host, callback = ...
  if type(host) == 'function' then host, callback = nil, host end
  host = host or '0.0.0.0'
  local function failed(err)
    -- Reported on the next tick so listeners added after listen() see it.
    process.nextTick(function()
      if callback then callback(err) end
      if self:listenerCount('error') > 0 or not callback then self:emit('error', err) end
    end)
    return self
  end
  local ok, err
  if isPath(port) then
    usePipe(self)
    ok, err = uv.pipe_bind(self._handle, port)
  else
    ok, err = uv.tcp_bind(self._handle, host, tonumber(port) or 0)
  end
  if not ok then return failed(err) end
  ok, err = uv.listen(self._handle, self.options.backlog or 511, function(lerr)
    if lerr then return self:emit('error', lerr) end
    local client = self._isPipe and uv.new_pipe(false) or uv.new_tcp()
    if not uv.accept(self._handle, client) then
      uv.close(client)
      return
    end
    if not self._isPipe then uv.tcp_nodelay(client, true) end
    local socket = Socket:new({ handle = client, allowHalfOpen = self.options.allowHalfOpen })
    socket._isPipe = self._isPipe
    self:emit('connection', socket)
  end)
  if not ok then return failed(err) end
  if callback then self:once('listening', callback) end
  process.nextTick(function() self:emit('listening') end)
  return self
end

function Server:address()
  if self._isPipe then return self._handle and { path = uv.pipe_getsockname(self._handle) } end
  return self._handle and uv.tcp_getsockname(self._handle)
end

function Server:close(callback)
  if self._handle and not uv.is_closing(self._handle) then
    uv.close(self._handle, function()
      self:emit('close')
      if callback then callback() end
    end)
  elseif callback then
    callback()
  end
end

function net.createServer(options, connectionListener)
  local server = Server:new(options, connectionListener)
  return server
end

-- createConnection(port, host, cb) | createConnection({port=, host=}, cb)
function net.createConnection(port, ...)
  local socket = Socket:new()
  socket:connect(port, ...)
  return socket
end
net.connect = net.createConnection

return net
