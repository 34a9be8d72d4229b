--[[
https: HTTP over TLS. The TLS layer is lib/tls.lua; HTTP is lib/http.lua serving (or talking
over) each TLS socket as a stream.
  createServer(options, onRequest) -> Server (a tls.Server): options are tls.createServer's
      (key, cert, hosts, ALPNProtocols, requestCert, ca ...) and http.Server's (timeouts,
      maxHeaderSize); each secure connection is served by an http.Server (server.httpServer:
      'request', 'clientError' ... are its events; onRequest is its 'request' listener).
      close() stops listening and closes idle connections. ALPN offers http/1.1 by default.
  request(options | url, onResponse) -> http.ClientRequest, get(...) (ends the request):
      default port 443; ca, rejectUnauthorized, servername, key, cert, ALPNProtocols go to
      tls.connect; options.socket may give an already made TLS socket.
]]

local tls = require('tls')
local http = require('http')

local https = {}

local Server = tls.Server:extend()
https.Server = Server

function Server:init(options, onRequest)
  if type(options) == 'function' then options, onRequest = nil, options end
  options = options or {}
  if options.ALPNProtocols == nil then
    -- Offer http/1.1 by ALPN (what clients such as curl ask for).
    local copy = {}
    for k, v in pairs(options) do copy[k] = v end
    copy.ALPNProtocols = { 'http/1.1' }
    options = copy
  end
  local httpServer = http.Server:new(options, onRequest)
  self.httpServer = httpServer
  tls.Server.init(self, options, function(socket, err)
    -- A socket whose handshake failed comes with err (luvit's contract): nothing to serve.
    if not err then httpServer:handleSocket(socket) end
  end)
  -- The http server's own 'request' listeners are the public ones.
  self.on = function(me, name, fn)
    if name == 'request' or name == 'clientError' or name == 'checkContinue'
      or name == 'upgrade' then
      httpServer:on(name, fn)
      return me
    end
    return tls.Server.on(me, name, fn)
  end
end
Server.initialize = Server.init

function Server:listen(...)
  self.httpServer:_startSweeper()
  return tls.Server.listen(self, ...)
end

function Server:setTimeout(msecs, callback)
  self.httpServer:setTimeout(msecs, callback)
  return self
end

function Server:close(callback)
  tls.Server.close(self, callback)
  -- Also closes the http server's unused handle and its idle keep-alive connections.
  self.httpServer:close()
end

function https.createServer(options, onRequest)
  return Server:new(options, onRequest)
end

function https.request(options, onResponse)
  options = http.parseUrl(options)
  local opts = {}
  for k, v in pairs(options) do opts[k] = v end
  if opts.protocol and opts.protocol ~= 'https' and opts.protocol ~= 'https:' then
    error(string.format("https.request: protocol '%s' not supported", tostring(opts.protocol)), 2)
  end
  opts.defaultPort = 443
  opts.port = tonumber(opts.port) or 443
  if not opts.socket then
    local host = opts.hostname or opts.host or 'localhost'
    if not opts.hostname and type(opts.host) == 'string' then
      host = opts.host:match('^%[(.-)%]') or opts.host:match('^([^:]+):%d+$') or opts.host
    end
    opts.socket = tls.connect({
      host = host,
      port = opts.port,
      servername = opts.servername,
      ca = opts.ca,
      rejectUnauthorized = opts.rejectUnauthorized,
      key = opts.key,
      cert = opts.cert,
      ALPNProtocols = opts.ALPNProtocols,
      minVersion = opts.minVersion,
      maxVersion = opts.maxVersion,
      secureContext = opts.secureContext,
    })
  end
  opts.connect_emitter = 'secureConnection'
  return http.request(opts, onResponse)
end

function https.get(options, onResponse)
  options = http.parseUrl(options)
  local opts = {}
  for k, v in pairs(options) do opts[k] = v end
  opts.method = 'GET'
  local req = https.request(opts, onResponse)
  req:done()
  return req
end

return https
