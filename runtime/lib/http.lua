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
-- a response's header list made with room for a few pairs: no regrowth as they are set
local newTable = require('table.new')
local lower, format = string.lower, string.format
local newHeaders, toHeaders = httpHeader.newHeaders, httpHeader.toHeaders
local headerMeta = httpHeader.headerMeta

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

-- The per-request calls through LuaJIT's FFI (runtime/src/modules/http/ffi_calls.lua)
local fast = native.fast
local encodeResponse, readHead = fast.encodeResponse, fast.readHead

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

-- A message with no body (most requests) makes its Readable state only when someone uses it
-- as a stream; until then it is already complete. This saves a state table and a scheduled
-- end per request on the hot path. A message with a body has _hasBody.
-- (Defaults in the class: fields a request need not hold keep its table small, see onHead.)
IncomingMessage.readable = true
IncomingMessage._hasBody = false

function IncomingMessage:initialize(head, socket)
  if head.bodyless then
    self.complete = true
  else
    Readable.initialize(self)
    self._hasBody = true
  end
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

local function ensureStream(self)
  if not rawget(self, '_readableState') then
    Readable.initialize(self)
    if not self._hasBody then self:push(nil) end
  end
end

for _, name in ipairs({ 'on', 'addListener', 'once', 'read', 'resume', 'pause', 'pipe',
  'unpipe', 'unshift', 'isPaused', 'setEncoding', 'wrap', 'push' }) do
  local method = Readable[name]
  if method then
    IncomingMessage[name] = function(self, ...)
      ensureStream(self)
      return method(self, ...)
    end
  end
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
-- (defaults in the class: a response made per request holds only the fields it must, so its
-- table stays small; these are set on it when they are true)
ServerResponse.writable = true
ServerResponse._isHead = false
ServerResponse._http10 = false
ServerResponse._chunked = false
ServerResponse._noBody = false

-- No Writable state: write/finish go straight to the connection (a response is made per
-- request, so what it does not allocate counts).
-- ServerResponse:new(socket) alone (luvit's signature) answers an HTTP/1.1 keep-alive GET.
local DEFAULT_REQUEST = { keepAlive = true, method = 'GET', httpVersion = '1.1' }

function ServerResponse:initialize(socket, conn, req)
  req = req or DEFAULT_REQUEST
  self.writable = true
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

local F_HTTP10, F_KEEP_ALIVE, F_SEND_DATE, F_HEAD = 1, 2, 4, 8

-- The response's head (and `body`, framed to match) as bytes. `length` is the whole body's
-- size when finish() carries all of it; nil means the body streams (chunked on HTTP/1.1).
-- With `writeId` the bytes are written at once, as far as the socket takes them, and only
-- the rest comes back ('' when all of it left).
function ServerResponse:_start(length, body, writeId)
  local bytes, chunked, keep, noBody = encodeResponse(self.statusCode, self.statusMessage,
    self.headers, self:_flags(), length, body, writeId)
  self.keepAlive = keep
  if chunked then self._chunked = true end
  if noBody then self._noBody = true end
  return bytes
end

-- encodeResponse's flags for this response; its head counts as sent from here on.
function ServerResponse:_flags()
  self.headersSent = true
  local conn = self._conn
  local keepAlive = self.keepAlive and not (conn and conn.closing)
  return (self._http10 and F_HTTP10 or 0) + (keepAlive and F_KEEP_ALIVE or 0)
    + (self.sendDate and F_SEND_DATE or 0) + (self._isHead and F_HEAD or 0)
end

-- Writes through the connection when there is one (a response made by hand writes to
-- its socket).
local function send(self, data, callback)
  local conn = self._conn
  if conn then return conn:write(data, callback) end
  return self.socket:write(data, callback)
end

function ServerResponse:flushHeaders()
  if self.headersSent then return end
  send(self, self:_start(nil, nil))
end

-- Sends the informational 100 Continue (for 'checkContinue' handlers).
function ServerResponse:writeContinue()
  send(self, 'HTTP/1.1 100 Continue\r\n\r\n')
end

function ServerResponse:write(chunk, callback)
  if self.finished then
    local err = 'write after end'
    if callback then callback(err) end
    self:emit('error', err)
    return false
  end
  local data
  if not self.headersSent then
    data = self:_start(nil, chunk)
  elseif chunk and #chunk > 0 and not self._noBody then
    data = self._chunked and chunkFrame(chunk) or chunk
  end
  if not data then
    if callback then callback() end
    return true
  end
  return send(self, data, callback)
end

function ServerResponse:_finished(callback)
  self:emit('finish')
  if callback then callback() end
  local conn = self._conn
  if conn then conn:responseDone(self) end
end

-- finish's rare paths, kept out of it so that it makes no closure (see queueWrite).
local function finishLater(self, data, callback)
  if data then
    self.socket:write(data, function() self:_finished(callback) end)
  else
    process.nextTick(function() self:_finished(callback) end)
  end
end

-- finish([chunk], [callback]): the last chunk; the response is done once it is written.
function ServerResponse:finish(chunk, callback)
  if type(chunk) == 'function' then chunk, callback = nil, chunk end
  if self.finished then
    if callback then callback() end
    return
  end
  self.finished = true
  local conn = self._conn
  local data
  if not self.headersSent then
    if conn and conn.inRead then
      -- Inside the connection's own read (see readFast): sent as that read's handling
      -- returns, as node corks a socket until the next tick.
      conn.deferred, conn.deferredBody, conn.deferredCb = self, chunk or false, callback or false
      self.headersSent = true
      return
    end
    -- written at once when nothing is queued before it (no closure, no Lua string for the
    -- response)
    local writeId = conn and conn.writeId
    data = self:_start(chunk and #chunk or 0, chunk, writeId)
    if data == '' then return self:_finished(callback) end
  elseif self._noBody then
    data = nil
  elseif self._chunked then
    data = (chunk and #chunk > 0) and chunkFrame(chunk) .. '0\r\n\r\n' or '0\r\n\r\n'
  elseif chunk and #chunk > 0 then
    data = chunk
  end
  if data and conn then
    conn:writeThen(data, self._finished, self, callback)
  else
    finishLater(self, data, callback)
  end
end
ServerResponse.done = ServerResponse.finish
ServerResponse._end = ServerResponse.finish
ServerResponse['end'] = ServerResponse.finish

-- Writable's buffering is not used: writes go straight to the connection.
function ServerResponse:cork() end
function ServerResponse:uncork() end

-- Server connections ------------------------------------------------------------------------

local Connection = {}
Connection.__index = Connection

-- uv.now() read in place: a call into C would end the compiled trace of every request.
local nowCell = require('ffi').cast('const double*', uv._now_cell())
local function now() return nowCell[0] end

-- A plain socket is read with each chunk lent as a token the parser takes, not made a Lua
-- string (the chunk is only ever handed to the parser).
local readStart = uv._read_start_tokens

-- The write queue size above which res:write() returns false (then 'drain' follows).
local HIGH_WATER = 16 * 1024

local function serve(server, socket)
  -- A plain net.Socket is read and written through its uv handle directly (its Readable and
  -- Writable stay unused and cheap); any other Duplex (a TLS socket) through its stream API.
  local raw = getmetatable(socket) == net.Socket.meta and socket._handle ~= nil
  local parser = newParser('request')
  local conn = setmetatable({
    server = server,
    socket = socket,
    handle = raw and socket._handle or nil,
    -- the handle's id for uv._try_write (a plain C function: the response path's write)
    writeId = raw and uv._stream_id(socket._handle) or nil,
    parser = parser,
    -- the parser for nextHead (the connection keeps the parser itself alive)
    parserPtr = fast.pointer(parser),
    lastActive = now(),
    -- made now, so that setting them per request adds no keys (see readFast)
    processing = false, inRead = false, deferred = false, deferredBody = false,
    deferredCb = false,
  }, Connection)
  conn.parser:setMaxHeaderSize(server.maxHeaderSize or 16384)
  -- each head parsed starts an `http request` (for the profilers and the debugger)
  if server._requestOrigin then conn.parser:setOrigin(server._requestOrigin) end
  server._connections[conn] = true
  if raw then
    -- (not a tail call: a compiled trace cannot return into xpcall's frame)
    conn.onRead = function(err, chunk) conn:readFast(err, chunk) end
    readStart(conn.handle, conn.onRead)
  else
    conn.dataListener = function(chunk) conn:read(nil, chunk) end
    conn.endListener = function() conn:read(nil, nil) end
    socket:on('data', conn.dataListener)
    socket:on('end', conn.endListener)
    socket:on('error', function(err) conn:onError(err) end)
    socket:on('drain', function()
      local res = conn.res
      if res then res:emit('drain') end
    end)
  end
  socket:on('close', function() conn:onClose() end)
  return conn
end

function Connection:read(err, chunk)
  if self.detached then return end
  if err then
    self:onError(err)
    return self.socket:destroy()
  end
  if chunk == nil then return self:onEnd() end
  self.lastActive = now()
  if self.processing then
    -- read from inside a request handler (a nested loop run): parsed when process() goes on
    self.parser:push(chunk)
    self.pushedInside = true
    return
  end
  self:process(chunk)
end

function Connection:_resumeReading()
  if self.paused and not self.detached then
    self.paused = false
    if self.handle then
      readStart(self.handle, self.onRead)
    else
      self.socket:resume()
    end
  end
end

function Connection:_pauseReading()
  if not self.paused then
    self.paused = true
    if self.handle then
      uv.read_stop(self.handle)
    else
      self.socket:pause()
    end
  end
end

-- Stops reading for good (the socket is handed over or going away).
function Connection:_stopReading()
  if self.handle then
    uv.read_stop(self.handle)
  else
    self.socket:removeListener('data', self.dataListener)
    self.socket:removeListener('end', self.endListener)
    self.socket:pause()
  end
end

-- The slow paths of writeThen live outside it: a function that makes a closure closes
-- upvalues (bytecode UCLO) at every return, which LuaJIT cannot compile, and writeThen is on
-- every response's path.
local function writeThroughStream(self, data, fn, a, b)
  return self.socket:write(data, fn and function(err) fn(a, b, err) end)
end

local function queueWrite(self, handle, data, fn, a, b)
  uv.write(handle, data, function(werr)
    if werr then self.socket:destroy() end
    if fn then fn(a, b, werr) end
    if self.needDrain and uv.stream_get_write_queue_size(handle) == 0 then
      self.needDrain = false
      local res = self.res
      if res then res:emit('drain') end
    end
  end)
  if uv.stream_get_write_queue_size(handle) >= HIGH_WATER then
    self.needDrain = true
    return false
  end
  return true
end

-- Writes now what the kernel takes; the rest queues. Calls fn(a, b) once all of `data` is
-- written (at once when nothing had to queue: no closure on the common path). Returns false
-- above the high-water mark (then the response emits 'drain').
function Connection:writeThen(data, fn, a, b)
  local handle = self.handle
  if not handle then return writeThroughStream(self, data, fn, a, b) end
  local n, err, code = uv._try_write(self.writeId, data)
  if n == #data then
    if fn then fn(a, b) end
    return true
  end
  if n then
    data = data:sub(n + 1)
  elseif code ~= 'EAGAIN' then
    -- The peer is gone (reset, broken pipe): close, so the response sees 'close' instead of
    -- waiting for a 'drain' that never comes.
    self.socket:destroy()
    if fn then fn(a, b, err) end
    return false
  end
  return queueWrite(self, handle, data, fn, a, b)
end

local function callWith(callback, _, err)
  callback(err)
end

function Connection:write(data, callback)
  if callback then return self:writeThen(data, callWith, callback) end
  return self:writeThen(data)
end

local F_KEEP_ALIVE_IN, F_UPGRADE, F_EXPECT, F_BODYLESS = 1, 2, 4, 8
local F_COMPLETE, F_MORE = 16, 32
local band = bit.band

-- Hands on one message event from the parser; returns whether to go on, and how many bytes
-- stay buffered when that is known; `false, false` once the connection was refused
-- (nothing more to do).
local function handle(self, ev, a, b, minor, flags)
  if ev == nil then return false, a end
  if ev == false then
    self.processing = false
    self:refuse(b, a)
    return false, false
  end
  local kind = type(ev)
  if kind == 'table' then
    self.headStart = nil
    self:onHead(ev, a, b, minor, flags)
    if band(flags, F_COMPLETE) ~= 0 and not self.detached then
      -- what the message's end ('' below) does, for a bodyless request
      self.req = nil
      if band(flags, F_MORE) == 0 and not self.pushedInside then return false, 0 end
    end
  elseif ev == '' then
    local req = self.req
    self.req = nil
    if req and req._hasBody then
      req.complete = true
      req:push(nil)
    end
  else
    local req = self.req
    if req and not req:push(ev) then self:_pauseReading() end
  end
  return true
end

-- One parser event (pushing `chunk` first, when given), handed on.
local function step(self, chunk)
  -- Responses leave in order: the next head waits for the current response to finish.
  if self.res and not self.req then return false end
  return handle(self, self.parser:nextMessage(chunk))
end

-- The rest of process(): steps while there is more, then puts a partial head on the clock.
local function processRest(self, more, buffered)
  while more and not self.detached do
    more, buffered = step(self, nil)
  end
  if buffered == false then return end
  self.processing = false
  self.pushedInside = nil
  -- A partial head is on the clock (headersTimeout).
  if not self.req and not self.headStart and (buffered or self.parser:buffered()) > 0 then
    self.headStart = now()
  end
end

-- Parses what is buffered (after `chunk`, when given) and hands each message on. The first
-- step is outside the loop: a request's path then has no loop in it for the JIT to trip on.
function Connection:process(chunk)
  if self.processing then return end
  self.processing = true
  local more, buffered = true, nil
  if not self.detached then more, buffered = step(self, chunk) end
  return processRest(self, more, buffered)
end

-- The connection whose request handler readFast is running (nil outside of it).
local handling

-- A plain socket's read callback. Its common case, one whole bodyless request per read,
-- makes its two calls into C here, in this frame: the parse (one call: the head says the
-- message is complete and nothing follows it), then the response's encoding and write,
-- which finish() leaves to this frame (conn.deferred). A call from compiled Lua into C
-- ends the trace, and what follows it is compiled only until the frame it was made in
-- returns; made here, the whole request runs compiled. The rest goes the general way.
function Connection:readFast(err, chunk)
  if err or not chunk or self.processing or self.detached or self.res then
    return self:read(err, chunk)
  end
  self.lastActive = now()
  self.processing = true
  -- (readHead parses the chunk lent to this read callback: `chunk` is its token)
  local ev, a, b, minor, flags = readHead(self.parserPtr)
  if not ev then
    -- a: -1, nothing taken (nextMessage takes the chunk); -2, the event waits there
    ev, a, b, minor, flags = self.parser:nextMessage(a == -1 and chunk or nil)
    if type(ev) ~= 'table' or band(flags, F_COMPLETE + F_MORE + F_UPGRADE) ~= F_COMPLETE then
      return processRest(self, handle(self, ev, a, b, minor, flags))
    end
  end
  self.headStart = nil
  self.inRead = true
  handling = self
  self:onHead(ev, a, b, minor, flags)
  handling = nil
  return self:_afterHead()
end

-- What follows the request handler in readFast: the message's end (it has no body), and
-- the response finish() left to it. Also run when the handler raised (then after its
-- finish() the response still leaves, as it would have outside readFast).
function Connection:_afterHead()
  self.inRead = false
  if not self.detached then self.req = nil end
  local res = self.deferred
  if res then
    local body, callback = self.deferredBody or nil, self.deferredCb or nil
    self.deferred, self.deferredBody, self.deferredCb = false, false, false
    local data, chunked, keep, noBody = encodeResponse(res.statusCode, res.statusMessage,
      res.headers, res:_flags(), body and #body or 0, body, self.writeId)
    res.keepAlive = keep
    if chunked then res._chunked = true end
    if noBody then res._noBody = true end
    if data == '' then
      res:_finished(callback)
    else
      self:writeThen(data, res._finished, res, callback)
    end
  end
  if self.pushedInside then return processRest(self, true, nil) end
  self.processing = false
end

-- A request handler raised inside readFast: finish that request's part as if it had not.
require('runtime').onCallbackError(function()
  local conn = handling
  if conn then
    handling = nil
    conn:_afterHead()
  end
end)

-- A request head: `headers` is its {name, value} list, the rest as nextMessage gives them.
function Connection:onHead(headers, method, path, minor, flags)
  local server, socket = self.server, self.socket
  local bodyless = band(flags, F_BODYLESS) ~= 0
  local keepAlive = band(flags, F_KEEP_ALIVE_IN) ~= 0
  local version = minor == 0 and '1.0' or '1.1'
  -- Built with constructors (one allocation each, no rehashing as fields arrive), of at most
  -- 8 fields each: a table of 9 to 16 has a hash part twice the size, to copy and collect on
  -- every request. What a request rarely needs defaults in its class.
  local req = setmetatable({
    httpVersion = version, headers = setmetatable(headers, headerMeta), keepAlive = keepAlive,
    method = method, url = path, socket = socket, connection = socket, complete = bodyless,
  }, IncomingMessage.meta)
  if not bodyless then
    Readable.initialize(req)
    req._hasBody, req._owner = true, self
  end
  local res = setmetatable({
    socket = socket, connection = socket, _conn = self, statusCode = 200, headersSent = false,
    finished = false, headers = setmetatable(newTable(4, 0), headerMeta),
    keepAlive = keepAlive and server.keepAlive ~= false,
  }, ServerResponse.meta)
  if minor == 0 then res._http10 = true end
  if method == 'HEAD' then res._isHead = true end
  self.req, self.res = req, res
  if band(flags, F_UPGRADE) ~= 0 then return self:upgrade(req, res) end
  if band(flags, F_EXPECT) ~= 0 and minor == 1 then
    if server:listenerCount('checkContinue') > 0 then
      return server:emit('checkContinue', req, res)
    end
    self:write('HTTP/1.1 100 Continue\r\n\r\n')
  end
  server:emit('request', req, res)
end

-- Upgrade and CONNECT: the socket leaves HTTP; what followed the head goes with it.
function Connection:upgrade(req, res)
  local server, socket = self.server, self.socket
  self:detach()
  req.upgrade = true
  req.is_upgraded = true
  -- The new protocol's socket ends itself when the peer ends (net's default).
  socket.allowHalfOpen = false
  local rest = self.parser:rest()
  -- Hand the socket over as if fresh: paused with nothing lost, reading again as soon as
  -- someone listens for 'data' (node does the same).
  self:_stopReading()
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

-- Answers with a bare status and closes once it is written.
function Connection:reject(status)
  local socket = self.socket
  self:detach()
  self:_stopReading()
  local reason = http.STATUS_CODES[status] or 'Bad Request'
  self:write(format('HTTP/1.1 %d %s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
    status, reason), function() socket:destroy() end)
end

function Connection:refuse(status, message)
  local server, socket = self.server, self.socket
  local err = { code = status == 431 and 'HPE_HEADER_OVERFLOW' or 'HPE_INVALID', status = status,
                message = message }
  setmetatable(err, { __tostring = function(e) return e.message end })
  if self.req then self.req:emit('aborted') end
  if server:listenerCount('clientError') > 0 then
    -- The socket goes back to net's normal life: it reads (so the peer's end is seen) and
    -- closes once both sides are done.
    self:detach()
    self:_stopReading()
    socket.allowHalfOpen = false
    socket:resume()
    return server:emit('clientError', err, socket)
  end
  if self.res and self.res.headersSent then
    self:detach()
    return socket:destroy()
  end
  self:reject(status)
end

-- Ends the connection once what was written has left: shut down our side, then close.
function Connection:close()
  local socket, handle = self.socket, self.handle
  self:detach()
  self:_stopReading()
  if not handle then
    socket:once('finish', function() socket:destroy() end)
    return socket:_end()
  end
  if uv.is_closing(handle) then return end
  local ok = uv.shutdown(handle, function() socket:destroy() end)
  if not ok then socket:destroy() end
end

function Connection:responseDone(res)
  if self.res ~= res then return end
  self.res = nil
  self.lastActive = now()
  local req = self.req
  if not res.keepAlive or self.closing or self.peerEnded then return self:close() end
  -- An unread request body is read and dropped, so the next request can be parsed.
  if req and req._hasBody and req._readableState.flowing ~= true then req:resume() end
  if self.paused and not self.req then self:_resumeReading() end
  -- (inside process(), its loop goes on by itself)
  if not self.processing and self.parser:buffered() > 0 then self:process() end
end

-- The peer finished sending: answer what is in flight, then close.
function Connection:onEnd()
  self.peerEnded = true
  local req = self.req
  if req then
    self.req = nil
    req:emit('aborted')
    if req._hasBody then req:push(nil) end
  end
  if not self.res then self:close() end
end

function Connection:onError(err)
  local req, res = self.req, self.res
  if req and req:listenerCount('error') > 0 then req:emit('error', err) end
  if res and res:listenerCount('error') > 0 then res:emit('error', err) end
  if self.server:listenerCount('clientError') > 0 then
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
      conn:reject(408)
    elseif not conn.req and not conn.res and not conn.headStart and keepAliveTimeout > 0
        and t - conn.lastActive >= keepAliveTimeout then
      conn:detach()
      conn.socket:destroy()
    elseif server.timeout > 0 and t - conn.lastActive >= server.timeout then
      -- node's server.timeout: 'timeout' listeners decide, else the socket goes.
      conn.lastActive = t
      if server:listenerCount('timeout') > 0 then
        server:emit('timeout', conn.socket)
      else
        conn:detach()
        conn.socket:destroy()
      end
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
  -- where the server was made: its requests show there in profiles and async stacks
  self._requestOrigin = uv._origin('http request', onRequest)
  self:on('connection', function(socket) serve(self, socket) end)
end
Server.initialize = Server.init

-- Starts the timer that enforces headersTimeout, keepAliveTimeout and timeout (listen does;
-- https starts it for the http server behind its TLS server).
function Server:_startSweeper()
  if not self._sweeper then
    local t = uv.new_timer()
    t:unref()
    self._sweeper = t
    local period = math.max(250, math.min(1000, math.floor(math.min(self.headersTimeout,
      self.keepAliveTimeout) / 4)))
    t:start(period, period, function() sweep(self) end)
  end
end

function Server:listen(...)
  self:_startSweeper()
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

-- Serves HTTP on an already connected socket: a net.Socket or any Duplex such as a TLS
-- socket (https does this for each secure connection).
function Server:handleSocket(socket)
  return serve(self, socket)
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
    if res and res._hasBody then
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
  if hasLength and hasEncoding then
    -- A message with Transfer-Encoding must not also carry Content-Length (RFC 9112 §6.2;
    -- servers refuse both as request smuggling): the encoding frames the body.
    local kept = { method = head.method, path = head.path }
    for i = 1, #head do
      if lower(head[i][1]) ~= 'content-length' then kept[#kept + 1] = head[i] end
    end
    head = kept
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
