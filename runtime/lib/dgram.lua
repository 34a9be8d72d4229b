--[[
dgram: luvit's UDP sockets over uv udp handles.
  createSocket(type | {type=, reuseAddr=, ipv6Only=}, onMessage) -> Socket ('udp4' by default;
           onMessage becomes a 'message' listener).
  Socket   an Emitter. bind(port, host, [options | callback]) binds and starts receiving, then
           'listening' (host defaults to 0.0.0.0 / ::; names are resolved first). Failures such
           as EADDRINUSE or a bad address reach 'error', never thrown from bind.
           send(data, port, host, callback(err)): data is a string, a Buffer or a table of
           them; without a callback a failure goes to 'error'. A socket that only sends is not
           receiving: recvStart() reads replies (luvit's behaviour, so it does not hold the loop).
           recvStart/recvStop, close(callback) -> 'close', address() -> {ip, address, port,
           family}, setBroadcast, setTTL, setMulticastTTL, setMulticastLoopback,
           setMulticastInterface, addMembership/dropMembership(group, interface) (these return
           luv's `0` or `nil, err`), ref/unref/hasRef, setTimeout(ms, cb) -> 'timeout',
           buffer sizes.
  Events   'message'(msg, rinfo) with rinfo {ip, address, port, family ('inet'/'inet6'), size},
           'listening', 'close', 'error'(err), 'timeout'.
]]

local uv = require('uv')
local timer = require('timer')
local Emitter = require('core').Emitter

local dgram = {}

local Socket = Emitter:extend()
dgram.Socket = Socket

local function later(fn, ...)
  local n, args = select('#', ...), { ... }
  process.nextTick(function() fn(unpack(args, 1, n)) end)
end

local function isIP(host)
  return host:match('^%d+%.%d+%.%d+%.%d+$') ~= nil or host:find(':', 1, true) ~= nil
end

local function touch(self)
  if self._idleTimeout and self._idleTimeout > 0 then timer.active(self) end
end

-- A live handle, or nil once the socket is closed (or closing).
local function live(self)
  local h = self._handle
  if h and not uv.is_closing(h) then return h end
end

local CLOSED = 'EBADF: bad file descriptor: the socket is closed'
local UNBOUND = 'EBADF: bad file descriptor: the socket is not bound'

-- Strings pass as they are; Buffers (luvit's, on ffi memory) are turned into strings.
local function toData(data)
  if type(data) == 'string' then return data end
  if type(data) == 'table' then
    if data.ctype and data.toString then return data:toString() end
    local out
    for i = 1, #data do
      local part = data[i]
      if type(part) ~= 'string' then
        out = out or { unpack(data, 1, i - 1) }
        if type(part) == 'table' and part.ctype and part.toString then
          part = part:toString()
        elseif type(part) == 'number' then
          part = tostring(part)
        else
          error("Socket:send(data, ...): data must be a string, a Buffer or a table of them, got a "
            .. type(part) .. " at index " .. i, 3)
        end
      end
      if out then out[i] = part end
    end
    return out or data
  end
  error("Socket:send(data, ...): data must be a string, a Buffer or a table of them, got "
    .. type(data), 3)
end

local function checkPort(port, fname)
  local n = tonumber(port)
  if not n or n < 0 or n > 65535 or n ~= math.floor(n) then
    error("Socket:" .. fname .. ": port must be an integer from 0 to 65535, got " .. tostring(port), 3)
  end
  return n
end

-- Resolves `host` for this socket's family; cb(err, ip). Literal addresses answer at once.
local function lookup(self, host, cb)
  if isIP(host) then return cb(nil, host) end
  local family = self._family == 'udp6' and 'inet6' or 'inet'
  uv.getaddrinfo(host, nil, { family = family, socktype = 'dgram' }, function(err, addrs)
    if err then return cb(err .. ': ' .. host) end
    local a = addrs and addrs[1]
    if not a then return cb('ENOTFOUND: ' .. host) end
    cb(nil, a.addr)
  end)
end

function Socket:initialize(kind, callback)
  local options = {}
  if type(kind) == 'table' then options, kind = kind, kind.type end
  kind = kind or 'udp4'
  if kind ~= 'udp4' and kind ~= 'udp6' then
    error("dgram.createSocket: type must be 'udp4' or 'udp6', got " .. tostring(kind), 3)
  end
  self._family = kind
  self._options = options
  self._handle = uv.new_udp()
  self._idleTimeout = -1
  if callback then self:on('message', callback) end
end

function Socket:recvStart()
  local h = live(self)
  if not h then
    later(self.emit, self, 'error', CLOSED)
    return self
  end
  local ok, err = uv.udp_recv_start(h, function(rerr, msg, rinfo, flags)
    touch(self)
    if rerr then return self:emit('error', rerr) end
    if msg == nil then return end
    if rinfo then
      rinfo.address = rinfo.address or rinfo.ip
      rinfo.size = #msg
    end
    self:emit('message', msg, rinfo, flags)
  end)
  if ok then
    self._bound = true
    self._receiving = true
  else
    later(self.emit, self, 'error', err)
  end
  return self
end

function Socket:recvStop()
  local h = live(self)
  self._receiving = false
  if h then return uv.udp_recv_stop(h) end
end

-- Runs the sends queued while a bind was under way: sent once it is done, or failed with
-- its error (a bind failure also went to 'error', so only callbacks hear it again).
local function flushQueue(self, err, queue)
  queue = queue or self._queue
  if queue == self._queue then self._queue = nil end
  if queue then
    for i = 1, #queue do queue[i](err) end
  end
end

-- bind(port, host, options) | bind(port, host, callback) | bind(port, callback) |
-- bind({port=, address=}, callback)
function Socket:bind(port, host, options)
  local callback
  if type(port) == 'table' then
    local o = port
    port, host, callback = o.port, o.address or o.host, host
    options = { reuseaddr = o.reuseAddr or o.reuseaddr, ipv6only = o.ipv6Only or o.ipv6only }
  elseif type(port) == 'function' then
    port, host, callback = 0, nil, port
  elseif type(host) == 'function' then
    host, callback, options = nil, host, nil
  elseif type(options) == 'function' then
    callback, options = options, nil
  end
  port = checkPort(port or 0, 'bind(port, host)')
  host = host or (self._family == 'udp6' and '::' or '0.0.0.0')
  local flags = {
    reuseaddr = (options and (options.reuseaddr or options.reuseAddr)) or self._options.reuseAddr or nil,
    ipv6only = (options and (options.ipv6only or options.ipv6Only)) or self._options.ipv6Only or nil,
  }
  if self._bound or self._queue then
    later(self.emit, self, 'error', 'EINVAL: invalid argument: the socket is already bound')
    return self
  end
  if callback then self:once('listening', callback) end
  local queue = {}
  self._queue = queue
  local function fail(err)
    if self._queue == queue then self._queue = nil end
    self:emit('error', err)
    flushQueue(self, err, queue)
  end
  lookup(self, host, function(lerr, ip)
    if lerr then return later(fail, lerr) end
    local h = live(self)
    if not h then return later(fail, CLOSED) end
    local ok, err = uv.udp_bind(h, ip, port, flags)
    if not ok then return later(fail, err) end
    self._bound = true
    self:recvStart()
    later(function()
      if self._queue ~= queue then return end -- closed meanwhile
      self:emit('listening')
      flushQueue(self, nil, queue)
    end)
  end)
  return self
end

-- send(data, port, host, callback) | send(data, port, callback)
function Socket:send(data, port, host, callback)
  if type(host) == 'function' then host, callback = nil, host end
  data = toData(data)
  port = checkPort(port, 'send(data, port, host, callback)')
  host = host or (self._family == 'udp6' and '::1' or '127.0.0.1')
  local function done(err)
    if callback then return callback(err) end
    if err then self:emit('error', err) end
  end
  if self._queue then
    -- a bind is under way: send once it is done
    self._queue[#self._queue + 1] = function(err)
      if not err then return self:send(data, port, host, callback) end
      if callback then callback(err) end
    end
    return
  end
  touch(self)
  lookup(self, host, function(lerr, ip)
    if lerr then return later(done, lerr) end
    local h = live(self)
    if not h then return later(done, CLOSED) end
    local ok, err = uv.udp_send(h, data, ip, port, function(serr)
      touch(self)
      done(serr)
    end)
    if ok then
      self._bound = true
    else
      later(done, err)
    end
  end)
end

function Socket:close(callback)
  timer.unenroll(self)
  flushQueue(self, CLOSED)
  local h = live(self)
  if not h then
    if callback then later(callback) end
    return
  end
  self._receiving = false
  uv.udp_recv_stop(h)
  uv.close(h, function()
    self:emit('close')
    if callback then callback() end
  end)
end

function Socket:address()
  local h = live(self)
  if not h then return nil, CLOSED end
  if not self._bound then return nil, UNBOUND end
  local addr, err = uv.udp_getsockname(h)
  if addr then addr.address = addr.ip end
  return addr, err
end

-- The setters return luv's results: 0, or nil and the error. Like libuv, they need a bound
-- socket (uv would otherwise bind one to 0.0.0.0 behind the program's back).
local function setter(fname)
  return function(self, value)
    local h = live(self)
    if not h then return nil, CLOSED end
    if not self._bound then return nil, UNBOUND end
    return uv[fname](h, value)
  end
end

Socket.setBroadcast = setter('udp_set_broadcast')
Socket.setTTL = setter('udp_set_ttl')
Socket.setMulticastTTL = setter('udp_set_multicast_ttl')
Socket.setMulticastLoopback = setter('udp_set_multicast_loop')

function Socket:setMulticastInterface(interfaceAddress)
  local h = live(self)
  if not h then return nil, CLOSED end
  if not self._bound then return nil, UNBOUND end
  if not uv.udp_set_multicast_interface then
    return nil, 'ENOSYS: function not implemented: udp_set_multicast_interface'
  end
  return uv.udp_set_multicast_interface(h, interfaceAddress)
end

function Socket:setMembership(multicastAddress, multicastInterface, op)
  if not multicastAddress then
    error("Socket:setMembership: a multicast address is required", 2)
  end
  local h = live(self)
  if not h then return nil, CLOSED end
  if not multicastInterface then
    multicastInterface = self._family == 'udp6' and '::' or '0.0.0.0'
  end
  local r, err = uv.udp_set_membership(h, multicastAddress, multicastInterface, op)
  if r then self._bound = true end
  return r, err
end

function Socket:addMembership(multicastAddress, interfaceAddress)
  return self:setMembership(multicastAddress, interfaceAddress, 'join')
end

function Socket:dropMembership(multicastAddress, interfaceAddress)
  return self:setMembership(multicastAddress, interfaceAddress, 'leave')
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

function Socket:ref()
  local h = live(self)
  if h then uv.ref(h) end
  return self
end

function Socket:unref()
  local h = live(self)
  if h then uv.unref(h) end
  return self
end

function Socket:hasRef()
  local h = live(self)
  return h ~= nil and uv.has_ref(h)
end

function Socket:getSendBufferSize() return uv.send_buffer_size(self._handle) end
function Socket:getRecvBufferSize() return uv.recv_buffer_size(self._handle) end
function Socket:setSendBufferSize(size) return uv.send_buffer_size(self._handle, size) end
function Socket:setRecvBufferSize(size) return uv.recv_buffer_size(self._handle, size) end

function dgram.createSocket(kind, callback)
  return Socket:new(kind, callback)
end

return dgram
