--[[
tls: TLS sockets and servers on rustls (tls-native), no OpenSSL.
  TLSSocket  a Duplex over a plain net.Socket (or any Duplex carrying bytes): ciphertext read
             from it is fed to a native session, the plaintext that comes out is pushed;
             plaintext written is encrypted and written to it. (A session over any stream:
             no change to the uv layer, as luvit's tls does with OpenSSL memory BIOs.)
             Fields after the handshake: authorized, authorizationError, alpnProtocol,
             servername, encrypted. Methods: getPeerCertificate() -> {subject = {CN=, O=, ...},
             issuer, valid_from, valid_to, fingerprint (SHA-1, 'AB:CD:..'), fingerprint256,
             serialNumber, subjectaltname, ca, raw (DER)} or nil; version() -> 'TLSv1.3' |
             'TLSv1.2'; getCipher(); and net.Socket's write/_end/destroy/pause/resume/
             setTimeout/address/setNoDelay/setKeepAlive. Events: 'secure', then
             'secureConnect' and 'secureConnection' (luvit's name) on clients and servers'
             sockets; 'data', 'end', 'close', 'error', 'timeout'.
  connect(options, cb)  options: host (or hostname), port, servername (SNI and the name the
             certificate must match; defaults to host, an IP is matched against IP names and
             sends no SNI), ca (PEM string or list; default: the bundled Mozilla roots of
             webpki-roots, the same on every machine, as node bundles its own), rejectUnauthorized
             (default true: a certificate that does not verify is an 'error' naming the reason
             and the socket is destroyed; false: it connects with authorized = false and
             authorizationError set), key/cert (client certificate), ALPNProtocols (list),
             minVersion/maxVersion ('TLSv1.2' | 'TLSv1.3'). cb runs on 'secureConnection'.
  createServer(options, secureCallback)  options: key, cert (PEM; cert may be a chain), hosts
             (SNI: {['name'] = {key=, cert=}}, '*.example.com' entries match one label; the
             default key/cert serve other names), ALPNProtocols, requestCert with ca (client
             certificates; rejectUnauthorized, default true, makes one required), min/maxVersion.
             server:sni(hosts) sets hosts later (luvit's API). Events: 'secureConnection'
             (tlsSocket), also given to secureCallback; 'tlsClientError'(err, tlsSocket) when a
             handshake fails (that socket is destroyed; the server goes on), and then, as in
             luvit, secureCallback(tlsSocket, 'ssl' | 'ECONNRESET').
  createCredentials(options) -> {context = native context}: options parsed once, to share as
             options.secureContext.
  generateCertificate{commonName=, altNames={...}, organization=, isCa=, ca={key=, cert=}}
             -> keyPem, certPem: a development aid (self-signed or CA-signed, ECDSA P-256).
Errors are strings 'CODE: message' (UNABLE_TO_GET_ISSUER_CERT_LOCALLY, ERR_TLS_CERT_ALTNAME_INVALID,
CERT_HAS_EXPIRED, ERR_SSL_ALERT, ERR_SSL_PROTOCOL, ECONNRESET ...).
]]

local native = require('tls-native')
local net = require('net')
local Duplex = require('stream').Duplex
local timer = require('timer')

-- How long a socket whose handshake failed waits for the peer to take the alert and close.
local LINGER_MS = 2000

local tls = {}
tls.DEFAULT_SECUREPROTOCOL = 'TLS'
tls.isTLSv1_3 = true

-- A Rust error reaches Lua as an error object with a traceback; keep its first line.
local function plain(err)
  local msg = tostring(err):match('[^\n]*')
  return (msg:gsub('^runtime error: ', ''))
end

local function call(fn, ...)
  local ok, a, b = pcall(fn, ...)
  if not ok then error(plain(a), 3) end
  return a, b
end

function tls.createCredentials(options, context)
  options = options or {}
  local ctx = call(native.newContext, {
    isServer = options.server == true or options.isServer == true,
    key = options.key,
    cert = options.cert,
    ca = options.ca,
    hosts = options.hosts,
    rejectUnauthorized = options.rejectUnauthorized,
    requestCert = options.requestCert,
    ALPNProtocols = options.ALPNProtocols,
    minVersion = options.minVersion,
    maxVersion = options.maxVersion,
  })
  return { context = ctx, options = options, parent = context }
end

function tls.generateCertificate(options)
  return call(native.generateCertificate, options)
end

-- TLSSocket ---------------------------------------------------------------------------------

local TLSSocket = Duplex:extend()
tls.TLSSocket = TLSSocket

-- TLSSocket:new(socket, options): options.secureContext (from createCredentials),
-- isServer, servername (clients), allowHalfOpen.
function TLSSocket:initialize(socket, options)
  options = options or {}
  Duplex.initialize(self, { allowHalfOpen = options.allowHalfOpen == true })
  self.options = options
  self.encrypted = true
  self.authorized = false
  self._server = options.isServer == true or options.server == true
  self.ctx = options.secureContext or options.credentials or tls.createCredentials(options)
  self._servername = options.servername
  socket = socket or net.Socket:new({ allowHalfOpen = true })
  self._socket = socket
  self.socket = socket

  socket:on('data', function(chunk) self:_onCipher(chunk) end)
  socket:on('end', function() self:_onSocketEnd() end)
  socket:on('error', function(err) self:_onSocketError(err) end)
  socket:on('close', function() self:_onSocketClose() end)
  socket:on('timeout', function() self:emit('timeout') end)
  self:once('finish', function() self:_onFinish() end)

  if self._server or socket._connected then self:_init() end
end

-- Makes the session; a client sends its hello.
function TLSSocket:_init()
  if self._session or self.destroyed then return end
  local ok, session = pcall(self.ctx.context.newSession, self.ctx.context, self._servername)
  if not ok then return self:_fail(plain(session)) end
  self._session = session
  self:_flush()
end

-- connect(port, host, cb) | connect({port=, host=}, cb): connects the plain socket; cb runs
-- once the connection is secure.
function TLSSocket:connect(...)
  local args = { ... }
  local n = select('#', ...)
  local callback = args[n]
  if type(callback) == 'function' then
    args[n] = nil
    n = n - 1
    self:once('secureConnection', callback)
  end
  local socket = self._socket
  socket:once('connect', function()
    self:emit('connect')
    self:_init()
  end)
  socket:connect(unpack(args, 1, n))
  return self
end

-- Sends whatever ciphertext the session has ready; cb after the plain socket took it.
function TLSSocket:_flush(callback)
  local session = self._session
  local out = session and session:pending()
  if out and #out > 0 and not self._socketClosed then
    return self._socket:write(out, callback)
  end
  if callback then callback() end
end

function TLSSocket:_onCipher(chunk)
  local session = self._session
  if not session or self._failed then return end
  local text, eof, code = session:feed(chunk)
  if text == nil then
    -- Let the alert that says why reach the peer before the socket goes.
    self._linger = true
    self:_flush()
    return self:_fail(eof, code)
  end
  self:_flush()
  if not self._secure and not session:handshaking() then
    self:_onSecure()
    if self.destroyed then return end
  end
  if #text > 0 and not self._readEnded then
    if not self:push(text) then
      self._socketPaused = true
      self._socket:pause()
    end
  end
  if eof then self:_peerEnded() end
end

function TLSSocket:_onSecure()
  self._secure = true
  local info = self._session:info()
  self._info = info
  self.authorized = info.authorized
  self.authorizationError = info.authorizationError
  self.alpnProtocol = info.alpnProtocol or false
  if self._server then self.servername = info.servername or false end
  self:emit('secure')
  if self.destroyed then return end
  if not self._server then self:emit('secureConnect') end
  self:emit('secureConnection', self)
end

function TLSSocket:_read()
  if self._socketPaused then
    self._socketPaused = false
    self._socket:resume()
  end
end

function TLSSocket:_write(data, callback)
  if self.destroyed or not self._session then
    if not self.destroyed and not self._session then
      -- Not connected yet: write once the session exists.
      return self._socket:once('connect', function() self:_write(data, callback) end)
    end
    return callback('EPIPE: socket is closed')
  end
  local ok, err = pcall(self._session.write, self._session, data)
  if not ok then return callback(plain(err)) end
  self:_flush(callback)
end

-- Our side is done writing: close_notify, then end the plain socket's write side.
function TLSSocket:_onFinish()
  local function finish()
    if self.destroyed or not self._session then return end
    self._session:closeNotify()
    self:_flush(function()
      if not self._socketClosed then self._socket:_end() end
    end)
  end
  if self._secure then return finish() end
  self:once('secure', finish)
end

-- The peer going away after its side ended (EPIPE while sending our close_notify) is a close,
-- not an error.
function TLSSocket:_onSocketError(err)
  local text = tostring(err)
  if self._readEnded and (text:find('^EPIPE') or text:find('^ECONNRESET')) then
    return self:destroy()
  end
  self:_fail(err)
end

-- The plain socket ended without (or after) close_notify.
function TLSSocket:_onSocketEnd()
  if not self._secure then
    return self:_fail('ECONNRESET: socket hang up before the TLS handshake finished')
  end
  self:_peerEnded()
end

-- No more data will come ('end' once a reader has taken the rest; then, unless half-open is
-- allowed, our side ends too, as with net sockets).
function TLSSocket:_peerEnded()
  if self._readEnded then return end
  self._readEnded = true
  self:push(nil)
  -- Nothing more to push: keep reading the plain socket so its end and close are seen.
  if self._socketPaused then
    self._socketPaused = false
    self._socket:resume()
  end
end

function TLSSocket:_onSocketClose()
  self._socketClosed = true
  if self._lingerTimer then
    timer.clearTimer(self._lingerTimer)
    self._lingerTimer = nil
  end
  if not self._secure and not self._failed and not self.destroyed then
    self:_fail('ECONNRESET: socket closed before the TLS handshake finished')
  end
  self.destroyed = true
  self.readable, self.writable = false, false
  if not self._closeEmitted then
    self._closeEmitted = true
    self:emit('close')
  end
end

-- A failure of the connection: servers report a failed handshake through 'tlsClientError'
-- (set by the server as _onHandshakeError); everything else is this socket's 'error'.
function TLSSocket:_fail(err, code)
  if self._failed or self.destroyed then return end
  self._failed = true
  self.code = code
  if not self._secure and self._onHandshakeError then
    self:destroy()
    return self._onHandshakeError(err)
  end
  self:destroy(err)
end

function TLSSocket:destroy(err, callback)
  if self.destroyed then
    if callback then callback() end
    return
  end
  self.destroyed = true
  self.readable, self.writable = false, false
  if callback then self:once('close', callback) end
  if self._socketClosed then
    if not self._closeEmitted then
      self._closeEmitted = true
      process.nextTick(function() self:emit('close') end)
    end
  elseif self._linger then
    -- End gracefully after the queued alert; a peer that never closes is cut off.
    local socket = self._socket
    socket:_end()
    self._lingerTimer = timer.setTimeout(LINGER_MS, function() socket:destroy() end)
  else
    self._socket:destroy()
  end
  if err then self:emit('error', err) end
end

function TLSSocket:getPeerCertificate()
  return self._session and self._session:peerCertificate()
end

function TLSSocket:version()
  local info = self._info or (self._session and self._session:info())
  return info and info.version
end
TLSSocket.getProtocol = TLSSocket.version

function TLSSocket:getCipher()
  local info = self._info or (self._session and self._session:info())
  return info and { name = info.cipher, version = info.version }
end

function TLSSocket:setTimeout(msecs, callback)
  if self._socket.setTimeout then self._socket:setTimeout(msecs) end
  if callback then
    if msecs and msecs > 0 then
      self:once('timeout', callback)
    else
      self:removeListener('timeout', callback)
    end
  end
  return self
end

function TLSSocket:address()
  return self._socket.address and self._socket:address()
end

function TLSSocket:getsockname()
  return self._socket.getsockname and self._socket:getsockname()
end

function TLSSocket:setNoDelay(enable)
  return self._socket.setNoDelay and self._socket:setNoDelay(enable)
end
TLSSocket.nodelay = TLSSocket.setNoDelay

function TLSSocket:setKeepAlive(enable, delay)
  return self._socket.setKeepAlive and self._socket:setKeepAlive(enable, delay)
end
TLSSocket.keepalive = TLSSocket.setKeepAlive

-- luvit's names.
function TLSSocket:flush(callback) return self:_flush(callback) end
function TLSSocket:shutdown(callback) return self:_end(callback) end

-- Server ------------------------------------------------------------------------------------

local Server = net.Server:extend()
tls.Server = Server

function Server:init(options, secureCallback)
  if type(options) == 'function' then options, secureCallback = nil, options end
  options = options or {}
  local creds = {}
  for k, v in pairs(options) do creds[k] = v end
  creds.isServer = true
  -- Options are checked before the listening handle exists.
  self._credentials = options.secureContext or tls.createCredentials(creds)
  net.Server.init(self, { allowHalfOpen = true, backlog = options.backlog })
  self._tlsOptions = options
  if secureCallback then self:on('secureConnection', secureCallback) end
  self._secureCallback = secureCallback
  self:on('connection', function(socket) self:_accept(socket) end)
end
Server.initialize = Server.init

-- Serves SNI names with their own key and cert: hosts = {['name'] = {key=, cert=}}.
function Server:sni(hosts)
  local creds = {}
  for k, v in pairs(self._tlsOptions) do creds[k] = v end
  creds.isServer = true
  creds.hosts = hosts
  self._credentials = tls.createCredentials(creds)
end

function Server:_accept(socket)
  local tlsSocket = TLSSocket:new(socket, {
    isServer = true,
    secureContext = self._credentials,
    allowHalfOpen = self._tlsOptions.allowHalfOpen,
  })
  tlsSocket._onHandshakeError = function(err)
    if self:listenerCount('tlsClientError') > 0 then self:emit('tlsClientError', err, tlsSocket) end
    -- luvit calls the connection listener with (socket, err) when a socket fails; err is
    -- 'ECONNRESET' when the peer went away, else 'ssl' (OpenSSL's name for a failed handshake).
    if self._secureCallback then
      local reason = tostring(err):find('^ECONNRESET') and 'ECONNRESET' or 'ssl'
      self._secureCallback(tlsSocket, reason)
    end
  end
  tlsSocket:once('secure', function()
    if tlsSocket.destroyed then return end
    self:emit('secureConnection', tlsSocket)
  end)
end

function tls.createServer(options, secureCallback)
  return Server:new(options, secureCallback)
end

-- Client ------------------------------------------------------------------------------------

function tls.connect(options, callback)
  if type(options) == 'function' then options, callback = nil, options end
  options = options or {}
  local host = options.host or options.hostname or '127.0.0.1'
  host = host:match('^%[(.-)%]$') or host:match('^([^:]+):%d+$') or host
  local creds = options.secureContext
  if not creds then
    local copy = {}
    for k, v in pairs(options) do copy[k] = v end
    copy.isServer, copy.server = false, false
    creds = tls.createCredentials(copy)
  end
  local socket = TLSSocket:new(nil, {
    isServer = false,
    secureContext = creds,
    servername = options.servername or host,
    allowHalfOpen = options.allowHalfOpen,
  })
  socket:connect(options.port, host, callback)
  return socket
end

return tls
