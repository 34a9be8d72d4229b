--[[
http: luvit's HTTP/1.1 server and client, parsing and writing heads natively (http-parser).

Server   createServer([options], onRequest) -> Server (a net.Server). Each request gives
         onRequest(req, res) (also the 'request' event). Keep-alive and pipelining (responses
         leave in request order), chunked bodies both ways, HEAD, Expect: 100-continue
         ('checkContinue' or an automatic 100), Upgrade and CONNECT (the 'upgrade' / 'connect'
         events get (req, socket, head); without listeners the request reaches onRequest with
         req.is_upgraded and the raw socket, as in luvit). Request bodies stream with
         backpressure. A malformed request gets 400, an oversized head 431 ('clientError'
         listeners take over when present); a client that stalls mid-head is answered 408 after
         headersTimeout; idle keep-alive sockets close after keepAliveTimeout.
         Options/fields: maxHeaderSize (16384), headersTimeout (60000), keepAliveTimeout (5000),
         timeout (0: no socket idle timeout).
IncomingMessage  a Readable: method, url, httpVersion, headers (luvit's {name, value} list with
         case-insensitive lookup), keepAlive, socket; statusCode/statusMessage on responses.
ServerResponse   statusCode, statusMessage, setHeader/getHeader/removeHeader/hasHeader,
         writeHead(code, [reason], [headers]), write, finish(chunk) (= node's end), flushHeaders,
         headersSent, sendDate. finish() with the whole body sends Content-Length and the head
         and body in one write; streamed bodies are chunked (HTTP/1.1) or close-delimited.
ClientRequest    request(options|url, onResponse), get: write, done(data) / finish, setTimeout,
         destroy; events response, continue, information, upgrade, connect, socket, error.
]]

local net = require('net')
local url = require('url')
local uv = require('uv')
local native = require('http-parser')
local httpHeader = require('http-header')
local stream = require('stream')
local luvi = require('luvi')

local Readable, Writable = stream.Readable, stream.Writable
local encodeHead, newParser = native.encodeHead, native.newParser
local lower, format = string.lower, string.format
local newHeaders, toHeaders = httpHeader.newHeaders, httpHeader.toHeaders

local http = {}
http.STATUS_CODES = native.statusCodes
http.headerMeta = httpHeader.headerMeta

local dateSecond, dateText
local function httpDate()
  local now = os.time()
  if now ~= dateSecond then
    dateSecond = now
    dateText = os.date('!%a, %d %b %Y %H:%M:%S GMT', now)
  end
  return dateText
end

local function chunkFrame(chunk)
  return format('%x\r\n', #chunk) .. chunk .. '\r\n'
end

-- Adds headers given as {name = value} and/or {{name, value}} to a header list.
local function mergeHeaders(list, extra)
  if not extra then return list end
  for k, v in pairs(extra) do
    if type(k) == 'number' then
      rawset(list, #list + 1, { tostring(v[1]), tostring(v[2]) })
    else
      list[k] = v
    end
  end
  return list
end

-- IncomingMessage ---------------------------------------------------------------------------

local IncomingMessage = Readable:extend()
http.IncomingMessage = IncomingMessage

function IncomingMessage:initialize(head, socket)
  Readable.initialize(self)
  self.httpVersion = head.version == 1.0 and '1.0' or '1.1'
  local headers = newHeaders()
  for i = 1, #head do rawset(headers, i, head[i]) end
  self.headers = headers
  self.keepAlive = head.keepAlive
  if head.method then
    self.method = head.method
    self.url = head.path
  else
    self.statusCode = head.code
    self.statusMessage = head.reason
    self.reason = head.reason
  end
  self.socket = socket
  self.connection = socket
end

function IncomingMessage:_read()
  local owner = self._owner
  if owner then owner:_resumeReading() end
end

function IncomingMessage:setTimeout(msecs, callback)
  self.socket:setTimeout(msecs, callback)
  return self
end

function IncomingMessage:destroy(err)
  self.socket:destroy(err)
end

-- ServerResponse ----------------------------------------------------------------------------

local ServerResponse = Writable:extend()
http.ServerResponse = ServerResponse

ServerResponse.sendDate = true

function ServerResponse:initialize(socket, conn, req)
  Writable.initialize(self)
  self.socket = socket
  self.connection = socket
  self._conn = conn
  self.statusCode = 200
  self.headersSent = false
  self.finished = false
  self.headers = newHeaders()
  self.keepAlive = req.keepAlive
  self._isHead = req.method == 'HEAD'
  self._http10 = req.httpVersion == '1.0'
end

function ServerResponse:setHeader(name, value)
  assert(not self.headersSent, 'headers already sent')
  self.headers[name] = value
  return self
end

function ServerResponse:getHeader(name)
  return self.headers[name]
end

function ServerResponse:hasHeader(name)
  return self.headers[name] ~= nil
end

function ServerResponse:removeHeader(name)
  assert(not self.headersSent, 'headers already sent')
  self.headers[name] = nil
end

-- writeHead(code, [reason], [headers]): headers join those set with setHeader (replacing names).
function ServerResponse:writeHead(code, reason, headers)
  assert(not self.headersSent, 'headers already sent')
  if type(reason) == 'table' then reason, headers = nil, reason end
  self.statusCode = code
  if reason then self.statusMessage = reason end
  mergeHeaders(self.headers, headers)
  return self
end

local function bodyAllowed(code)
  return not (code < 200 or code == 204 or code == 304)
end

-- The head's bytes. `length` is the whole body's size when finish() carries all of it.
function ServerResponse:_headBytes(length)
  self.headersSent = true
  local code = self.statusCode
  local headers = self.headers
  local head = { code = code, reason = self.statusMessage, version = self._http10 and 1.0 or 1.1 }
  local hasDate, hasConnection, hasLength, hasEncoding
  for i = 1, #headers do
    local pair = headers[i]
    head[i] = pair
    local key = lower(pair[1])
    if key == 'content-length' then
      hasLength = true
    elseif key == 'transfer-encoding' then
      hasEncoding = true
      self._chunked = lower(tostring(pair[2])):find('chunked', 1, true) ~= nil
    elseif key == 'connection' then
      hasConnection = true
      if lower(tostring(pair[2])) == 'close' then self.keepAlive = false end
    elseif key == 'date' then
      hasDate = true
    end
  end
  local n = #headers
  if self.sendDate and not hasDate then
    n = n + 1
    head[n] = { 'Date', httpDate() }
  end
  self._noBody = self._isHead or not bodyAllowed(code)
  if not bodyAllowed(code) then
    -- no framing headers on 1xx, 204, 304
  elseif not hasLength and not hasEncoding then
    if length then
      n = n + 1
      head[n] = { 'Content-Length', length }
    elseif self._http10 then
      self.keepAlive = false
    else
      n = n + 1
      head[n] = { 'Transfer-Encoding', 'chunked' }
      self._chunked = true
    end
  end
  local conn = self._conn
  if conn and conn.closing then self.keepAlive = false end
  if not hasConnection then
    n = n + 1
    head[n] = { 'Connection', self.keepAlive and 'keep-alive' or 'close' }
  end
  return encodeHead(head)
end

function ServerResponse:flushHeaders()
  if self.headersSent then return end
  self.socket:write(self:_headBytes(nil))
end

-- Sends the informational 100 Continue (for 'checkContinue' handlers).
function ServerResponse:writeContinue()
  self.socket:write('HTTP/1.1 100 Continue\r\n\r\n')
end

function ServerResponse:write(chunk, callback)
  if self.finished then
    local err = 'write after end'
    if callback then callback(err) end
    self:emit('error', err)
    return false
  end
  local data
  if not self.headersSent then data = self:_headBytes(nil) end
  if chunk and #chunk > 0 and not self._noBody then
    chunk = self._chunked and chunkFrame(chunk) or chunk
    data = data and data .. chunk or chunk
  end
  if not data then
    if callback then callback() end
    return true
  end
  return self.socket:write(data, callback)
end

-- finish([chunk], [callback]): the last chunk; the response is done once it is written.
function ServerResponse:finish(chunk, callback)
  if type(chunk) == 'function' then chunk, callback = nil, chunk end
  if self.finished then
    if callback then callback() end
    return
  end
  self.finished = true
  local data
  if not self.headersSent then
    data = self:_headBytes(chunk and #chunk or 0)
    if chunk and #chunk > 0 and not self._noBody then data = data .. chunk end
  elseif self._noBody then
    data = nil
  elseif self._chunked then
    data = (chunk and #chunk > 0) and chunkFrame(chunk) .. '0\r\n\r\n' or '0\r\n\r\n'
  elseif chunk and #chunk > 0 then
    data = chunk
  end
  local function done()
    self:emit('finish')
    if callback then callback() end
    local conn = self._conn
    if conn then conn:responseDone(self) end
  end
  if data then
    self.socket:write(data, done)
  else
    process.nextTick(done)
  end
end
ServerResponse.done = ServerResponse.finish
ServerResponse._end = ServerResponse.finish
ServerResponse['end'] = ServerResponse.finish

-- Server connections ------------------------------------------------------------------------

local Connection = {}
Connection.__index = Connection

local function now() return uv.now() end

local function serve(server, socket, onRequest)
  local conn = setmetatable({
    server = server,
    socket = socket,
    onRequest = onRequest,
    parser = newParser('request'),
    lastActive = now(),
  }, Connection)
  conn.parser:setMaxHeaderSize(server.maxHeaderSize or 16384)
  server._connections[conn] = true
  conn.dataListener = function(chunk) conn:onData(chunk) end
  conn.endListener = function() conn:onEnd() end
  socket:on('data', conn.dataListener)
  socket:on('end', conn.endListener)
  socket:on('error', function(err) conn:onError(err) end)
  socket:on('close', function() conn:onClose() end)
  socket:on('drain', function()
    local res = conn.res
    if res then res:emit('drain') end
  end)
  if server.timeout and server.timeout > 0 then
    socket:setTimeout(server.timeout, function()
      if server:listenerCount('timeout') > 0 then
        server:emit('timeout', socket)
      else
        socket:destroy()
      end
    end)
  end
  return conn
end

function Connection:onData(chunk)
  if self.detached then return end
  self.lastActive = now()
  self.parser:push(chunk)
  self:process()
end

function Connection:_resumeReading()
  if self.paused and not self.detached then
    self.paused = false
    self.socket:resume()
  end
end

function Connection:process()
  local parser = self.parser
  while not self.detached do
    -- Responses leave in order: the next head waits for the current response to finish.
    if self.res and not self.req then break end
    local ev, msg, status = parser:next()
    if ev == nil then break end
    if ev == false then return self:refuse(status, msg) end
    local kind = type(ev)
    if kind == 'table' then
      self.headStart = nil
      self:onHead(ev)
    elseif ev == '' then
      local req = self.req
      self.req = nil
      if req then
        req.complete = true
        req:push(nil)
      end
    else
      local req = self.req
      if req and not req:push(ev) and not self.paused then
        self.paused = true
        self.socket:pause()
      end
    end
  end
  -- A partial head is on the clock (headersTimeout).
  if not self.req and not self.headStart and parser:buffered() > 0 then
    self.headStart = now()
  end
end

function Connection:onHead(head)
  local server, socket = self.server, self.socket
  local req = IncomingMessage:new(head, socket)
  req._owner = self
  local res = ServerResponse:new(socket, self, req)
  if server.keepAlive == false then res.keepAlive = false end
  self.req, self.res = req, res
  if head.upgrade then return self:upgrade(req, res, head) end
  if head.expectContinue and req.httpVersion == '1.1' then
    if server:listenerCount('checkContinue') > 0 then
      return server:emit('checkContinue', req, res)
    end
    socket:write('HTTP/1.1 100 Continue\r\n\r\n')
  end
  server:emit('request', req, res)
end

-- Upgrade and CONNECT: the socket leaves HTTP; what followed the head goes with it.
function Connection:upgrade(req, res, head)
  local server, socket = self.server, self.socket
  self:detach()
  req.upgrade = true
  req.is_upgraded = true
  -- The new protocol's socket ends itself when the peer ends (net's default).
  socket.allowHalfOpen = false
  local rest = self.parser:rest()
  -- Hand the socket over as if fresh: paused with nothing lost, reading again as soon as
  -- someone listens for 'data' (node does the same).
  socket:removeListener('data', self.dataListener)
  socket:removeListener('end', self.endListener)
  socket:pause()
  socket._readableState.flowing = nil
  local event = req.method == 'CONNECT' and 'connect' or 'upgrade'
  if server:listenerCount(event) > 0 then
    return server:emit(event, req, socket, rest)
  end
  -- luvit's way: the request handler gets the raw socket with the rest unread in it.
  if #rest > 0 then socket:unshift(rest) end
  server:emit('request', req, res)
end

-- Stops parsing: the socket belongs to someone else now (or is going away).
function Connection:detach()
  self.detached = true
  self.server._connections[self] = nil
end

function Connection:refuse(status, message)
  local server, socket = self.server, self.socket
  self:detach()
  local err = { code = status == 431 and 'HPE_HEADER_OVERFLOW' or 'HPE_INVALID', status = status,
                message = message }
  setmetatable(err, { __tostring = function(e) return e.message end })
  if self.req then self.req:emit('aborted') end
  if server:listenerCount('clientError') > 0 then
    return server:emit('clientError', err, socket)
  end
  if not self.res or self.res.finished == false and not self.res.headersSent then
    local reason = http.STATUS_CODES[status] or 'Bad Request'
    socket:write(format('HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
      status, reason))
  end
  socket:_end()
  socket:destroy()
end

function Connection:responseDone(res)
  if self.res ~= res then return end
  self.res = nil
  self.lastActive = now()
  local req = self.req
  if not res.keepAlive or self.closing then
    self:detach()
    self.socket:_end()
    return
  end
  -- An unread request body is read and dropped, so the next request can be parsed.
  if req and req._readableState.flowing ~= true then req:resume() end
  if self.parser:buffered() > 0 then self:process() end
end

function Connection:onEnd()
  if self.detached then return end
  local req = self.req
  if req then
    self.req = nil
    req:emit('aborted')
    req:push(nil)
  end
  self:detach()
  if not self.res then self.socket:destroy() end
end

function Connection:onError(err)
  local req, res = self.req, self.res
  if req and req:listenerCount('error') > 0 then req:emit('error', err) end
  if res and res:listenerCount('error') > 0 then res:emit('error', err) end
  if self.server:listenerCount('clientError') > 0 and not self.detached then
    self.server:emit('clientError', err, self.socket)
  end
end

function Connection:onClose()
  self:detach()
  local req, res = self.req, self.res
  self.req, self.res = nil, nil
  if req then
    req:emit('aborted')
    req:emit('close')
  end
  if res and not res.finished then res:emit('close') end
end

-- Closes on timeouts: a head that takes too long (408), an idle keep-alive socket.
local function sweep(server)
  local t = now()
  local headersTimeout = server.headersTimeout or 60000
  local keepAliveTimeout = server.keepAliveTimeout or 5000
  for conn in pairs(server._connections) do
    if conn.headStart and headersTimeout > 0 and t - conn.headStart >= headersTimeout then
      conn:detach()
      conn.socket:write('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      conn.socket:_end()
      conn.socket:destroy()
    elseif not conn.req and not conn.res and not conn.headStart and keepAliveTimeout > 0
        and t - conn.lastActive >= keepAliveTimeout then
      conn:detach()
      conn.socket:destroy()
    end
  end
end

-- Server ------------------------------------------------------------------------------------

local Server = net.Server:extend()
http.Server = Server

function Server:init(options, onRequest)
  if type(options) == 'function' then options, onRequest = nil, options end
  options = options or {}
  net.Server.init(self, { allowHalfOpen = true, backlog = options.backlog })
  self._connections = {}
  self.maxHeaderSize = options.maxHeaderSize or 16384
  self.headersTimeout = options.headersTimeout or 60000
  self.keepAliveTimeout = options.keepAliveTimeout or 5000
  self.timeout = options.timeout or 0
  if options.keepAlive == false then self.keepAlive = false end
  if onRequest then self:on('request', onRequest) end
  self:on('connection', function(socket) serve(self, socket) end)
end
Server.initialize = Server.init

function Server:listen(...)
  if not self._sweeper then
    local t = uv.new_timer()
    t:unref()
    self._sweeper = t
    local period = math.max(250, math.min(1000, math.floor(math.min(self.headersTimeout,
      self.keepAliveTimeout) / 4)))
    t:start(period, period, function() sweep(self) end)
  end
  return net.Server.listen(self, ...)
end

function Server:setTimeout(msecs, callback)
  self.timeout = msecs
  if callback then self:on('timeout', callback) end
  return self
end

-- Closes connections that have no request in progress.
function Server:closeIdleConnections()
  for conn in pairs(self._connections) do
    conn.closing = true
    if not conn.req and not conn.res then
      conn:detach()
      conn.socket:destroy()
    end
  end
end

function Server:closeAllConnections()
  for conn in pairs(self._connections) do
    conn:detach()
    conn.socket:destroy()
  end
end

function Server:close(callback)
  if self._sweeper then
    self._sweeper:close()
    self._sweeper = nil
  end
  net.Server.close(self, callback)
  self:closeIdleConnections()
end

function http.createServer(options, onRequest)
  return Server:new(options, onRequest)
end

-- luvit's entry point for serving an accepted socket.
function http.handleConnection(socket, onRequest)
  local server = http.__defaultServer
  if not server then
    server = Server:new()
    http.__defaultServer = server
  end
  local conn = serve(server, socket)
  server:removeAllListeners('request')
  server:on('request', onRequest)
  return conn
end

-- ClientRequest -----------------------------------------------------------------------------

local ClientRequest = Writable:extend()
http.ClientRequest = ClientRequest

function ClientRequest.getDefaultUserAgent()
  if ClientRequest._defaultUserAgent == nil then
    ClientRequest._defaultUserAgent = 'luvit/http luvi/' .. tostring(luvi.version)
  end
  return ClientRequest._defaultUserAgent
end

function ClientRequest:initialize(options, callback)
  Writable.initialize(self)
  local headers = toHeaders(options.headers)
  self.headers = headers
  self.method = (options.method or 'GET'):upper()
  self.path = options.path or '/'
  local defaultPort = options.defaultPort or 80
  self.port = tonumber(options.port) or defaultPort
  local host = options.hostname or options.host or 'localhost'
  if not options.hostname and type(options.host) == 'string' then
    host = options.host:match('^%[(.-)%]') or options.host:match('^([^:]+):%d+$') or options.host
  end
  self.host = host
  if headers.host == nil then
    local hostHeader = host:find(':', 1, true) and '[' .. host .. ']' or host
    if self.port ~= defaultPort then hostHeader = hostHeader .. ':' .. self.port end
    headers.Host = hostHeader
  end
  if headers['user-agent'] == nil then
    local ua = self.getDefaultUserAgent()
    if ua ~= '' then headers['User-Agent'] = ua end
  end
  if headers.connection == nil then headers.Connection = 'close' end
  self.parser = newParser('response')
  self.parser:expect(self.method)
  if callback then self:once('response', callback) end

  local socket = options.socket or net.createConnection(self.port, host)
  self.socket = socket
  local connectEvent = options.connect_emitter or 'connect'
  socket:on('error', function(err) self:_fail(err) end)
  socket:on('timeout', function() self:emit('timeout') end)
  socket:once(connectEvent, function()
    self.connected = true
    self:emit('socket', socket)
  end)
  socket:on('data', function(chunk) self:_onData(chunk) end)
  socket:on('end', function() self:_onEnd() end)
  socket:on('close', function() self:_onClose() end)
end

function ClientRequest:_fail(err)
  if self._failed then return end
  self._failed = true
  local res = self.res
  if res then
    self.res = nil
    res:emit('aborted')
    if res:listenerCount('error') > 0 then res:emit('error', err) end
  end
  self:emit('error', err)
end

function ClientRequest:_resumeReading()
  if self.paused then
    self.paused = false
    self.socket:resume()
  end
end

function ClientRequest:_onData(chunk)
  if self.detached then return end
  local parser = self.parser
  parser:push(chunk)
  while not self.detached do
    local ev, msg = parser:next()
    if ev == nil then break end
    if ev == false then
      self.detached = true
      self:_fail(msg)
      self.socket:destroy()
      return
    end
    self:_onEvent(ev)
  end
end

function ClientRequest:_onEvent(ev)
  if type(ev) == 'table' then
    local code = ev.code
    if code >= 100 and code < 200 and code ~= 101 then
      if code == 100 then self:emit('continue') else self:emit('information', ev) end
      return
    end
    local res = IncomingMessage:new(ev, self.socket)
    res._owner = self
    self.res = res
    self.response = res
    if ev.upgrade then
      local event = self.method == 'CONNECT' and 'connect' or 'upgrade'
      self.detached = true
      if self:listenerCount(event) > 0 then
        local socket = self.socket
        socket:pause()
        return self:emit(event, res, socket, self.parser:rest())
      end
      return self.socket:destroy()
    end
    self:emit('response', res)
  elseif ev == '' then
    local res = self.res
    self.res = nil
    if res then
      res.complete = true
      res:push(nil)
    end
    if not res or not res.keepAlive then self.socket:_end() end
  else
    local res = self.res
    if res and not res:push(ev) and not self.paused then
      self.paused = true
      self.socket:pause()
    end
  end
end

function ClientRequest:_onEnd()
  if self.detached then return end
  local ev, msg = self.parser:finish()
  if ev == false then
    self:_fail(self.res and 'ECONNRESET: ' .. msg or 'ECONNRESET: socket hang up')
  elseif ev then
    self:_onEvent(ev)
  elseif not self.response then
    self:_fail('ECONNRESET: socket hang up')
  end
end

function ClientRequest:_onClose()
  if self.res then
    local res = self.res
    self.res = nil
    res:emit('aborted')
    res:push(nil)
  end
  if not self.response and not self._failed and not self.detached then
    self:_fail('ECONNRESET: socket hang up')
  end
  self:emit('close')
end

function ClientRequest:setHeader(name, value)
  assert(not self.headersSent, 'headers already sent')
  self.headers[name] = value
end

function ClientRequest:getHeader(name) return self.headers[name] end

function ClientRequest:removeHeader(name)
  assert(not self.headersSent, 'headers already sent')
  self.headers[name] = nil
end

-- The head's bytes; `length` is the whole body's size when done() carries all of it.
function ClientRequest:_headBytes(length)
  self.headersSent = true
  self.headers_sent = true
  local headers = self.headers
  local head = { method = self.method, path = self.path }
  local hasLength, hasEncoding
  for i = 1, #headers do
    local pair = headers[i]
    head[i] = pair
    local key = lower(pair[1])
    if key == 'content-length' then
      hasLength = true
    elseif key == 'transfer-encoding' then
      hasEncoding = true
      self._chunked = lower(tostring(pair[2])):find('chunked', 1, true) ~= nil
    end
  end
  if not hasLength and not hasEncoding then
    local n = #headers
    if length then
      if length > 0 or not (self.method == 'GET' or self.method == 'HEAD'
          or self.method == 'DELETE' or self.method == 'OPTIONS' or self.method == 'CONNECT') then
        head[n + 1] = { 'Content-Length', length }
      end
    else
      head[n + 1] = { 'Transfer-Encoding', 'chunked' }
      self._chunked = true
    end
  end
  return encodeHead(head)
end

function ClientRequest:flushHeaders()
  if self.headersSent then return end
  self.socket:write(self:_headBytes(nil))
end

function ClientRequest:write(data, callback)
  local out
  if not self.headersSent then out = self:_headBytes(nil) end
  if data and #data > 0 then
    data = self._chunked and chunkFrame(data) or data
    out = out and out .. data or data
  end
  if not out then
    if callback then callback() end
    return true
  end
  return self.socket:write(out, callback)
end

-- done([data], [callback]): the last of the body (node's end).
function ClientRequest:done(data, callback)
  if type(data) == 'function' then data, callback = nil, data end
  if self.ended then return end
  self.ended = true
  local out
  if not self.headersSent then
    out = self:_headBytes(data and #data or 0)
    if data then out = out .. data end
  elseif self._chunked then
    out = (data and #data > 0) and chunkFrame(data) .. '0\r\n\r\n' or '0\r\n\r\n'
  else
    out = data
  end
  local function finished()
    self:emit('finish')
    if callback then callback() end
  end
  if out and #out > 0 then
    self.socket:write(out, finished)
  else
    process.nextTick(finished)
  end
end
ClientRequest.finish = ClientRequest.done
ClientRequest._end = ClientRequest.done
ClientRequest['end'] = ClientRequest.done

function ClientRequest:setTimeout(msecs, callback)
  if callback then self:once('timeout', callback) end
  self.socket:setTimeout(msecs)
  return self
end

function ClientRequest:destroy(err)
  self.detached = true
  self.socket:destroy(err)
end
ClientRequest.abort = ClientRequest.destroy

function http.parseUrl(options)
  if type(options) == 'string' then
    local parsed = url.parse(options)
    options = {
      protocol = parsed.protocol,
      hostname = parsed.hostname,
      host = parsed.host,
      port = parsed.port,
      path = parsed.path,
      auth = parsed.auth,
      href = parsed.href,
    }
  end
  return options
end

function http.request(options, onResponse)
  return ClientRequest:new(http.parseUrl(options), onResponse)
end

function http.get(options, onResponse)
  options = http.parseUrl(options)
  options.method = 'GET'
  local req = http.request(options, onResponse)
  req:done()
  return req
end

return http
