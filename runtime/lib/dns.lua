--[[
dns: luvit's DNS client over dns-native (hickory-proto's wire format, our own UDP/TCP exchange).

  resolve4/resolve6/resolveSrv/resolveMx/resolveNs/resolveCname/resolveTxt(name, callback)
  query(servers, name, dnsclass, qtype, callback(err, answers))
      Servers ({ {host=, port=, tcp=}, ... }) are asked in order, each once, with the timeout
      per server; a truncated UDP answer is asked again over TCP. SERVFAIL and REFUSED move on
      to the next server; any other answer (NXDOMAIN included) ends the query.
      A callback of nil is a noop; a coroutine waits for the answer (utils.adapt).
  Answers (luvit's shapes): { name, type, class, ttl, server (the server table that answered),
      and address (A, AAAA: every group written, as luvit does) | cname | nsdname | ptrdname |
      preference+priority, exchange (MX) | priority, weight, port, target (SRV) |
      txt (TXT: a string, or a list when the record holds several) | rdata (other types) }.
      A/AAAA questions for an IP literal are answered locally (ttl 0, empty server).
  Errors are core.Error: an answer's response code gives message 'N: text (name)' and numeric
      .code N (3 = NXDOMAIN, 2 = SERVFAIL, 5 = REFUSED); failures to get any answer have a
      string .code: ETIMEDOUT, ECONNREFUSED, EBADRESP (malformed answer), EBADNAME, ENOSERVERS.
  Until setServers or loadResolver, queries use the servers of /etc/resolv.conf (luvit's
  defaults, 8.8.8.8 and 8.8.4.4, when it has none).
  setServers(list), setDefaultServers() (luvit's: 8.8.8.8, 8.8.4.4), setTimeout(ms),
  setDefaultTimeout() (2000 ms)
  loadResolver({file=}) / loadResolverUnix: reads resolv.conf ('/etc/resolv.conf' unless told):
      nameserver lines become the servers, 'options timeout:N' the timeout (seconds); returns
      the servers read. loadResolverWin is there for the API and raises off Windows.
  lookup(name, [options], callback(err, address, family)): the system resolver
      (uv.getaddrinfo); options is a family (4 or 6) or {family=, all=}; with all=true the
      callback gets a list of {address=, family=}.
  TYPE_A, TYPE_NS, TYPE_CNAME, TYPE_PTR, TYPE_MX, TYPE_TXT, TYPE_AAAA, TYPE_SRV, CLASS_IN.
--]]

local native = require('dns-native')
local uv = require('uv')
local fs = require('fs')
local Error = require('core').Error
local adapt = require('utils').adapt

local TYPE_A = 1
local TYPE_NS = 2
local TYPE_CNAME = 5
local TYPE_PTR = 12
local TYPE_MX = 15
local TYPE_TXT = 16
local TYPE_AAAA = 28
local TYPE_SRV = 33
local CLASS_IN = 1

local DEFAULT_SERVERS = {
  { host = '8.8.8.8', port = 53, tcp = false },
  { host = '8.8.4.4', port = 53, tcp = false },
}
local DEFAULT_TIMEOUT = 2000

-- nil until the first query: then the system's resolv.conf, or luvit's defaults without one
-- (a machine whose network only reaches its own resolver would fail with Google's).
local SERVERS
local TIMEOUT = DEFAULT_TIMEOUT

local function makeError(info)
  local err = Error:new(info.message)
  err.code = info.code
  return err
end

local function checkServers(servers, fname)
  if type(servers) ~= 'table' then
    error(fname .. ': servers must be a list of {host=, port=} tables', 3)
  end
  for i, s in ipairs(servers) do
    if type(s) ~= 'table' or type(s.host) ~= 'string' then
      error(fname .. ': server ' .. i .. ' needs a host string', 3)
    end
    if s.port ~= nil and (type(s.port) ~= 'number' or s.port < 1 or s.port > 65535) then
      error(fname .. ': server ' .. i .. ' has a bad port', 3)
    end
  end
end

local function _query(servers, name, dnsclass, qtype, callback)
  if (qtype == TYPE_A and name:match('^%d+%.%d+%.%d+%.%d+$'))
    or (qtype == TYPE_AAAA and name:match('^%x*:[.:%x]+$')) then
    -- An IP literal answers itself, as in luvit (on the next tick: always asynchronous).
    return process.nextTick(callback, nil, {
      { address = name, type = qtype, class = dnsclass or CLASS_IN, server = {}, ttl = 0 },
    })
  end
  native.query(servers, name, dnsclass, qtype, math.ceil(TIMEOUT), function(info, answers, index)
    if info then return callback(makeError(info)) end
    local server = servers[index]
    for _, a in ipairs(answers) do a.server = server end
    callback(nil, answers)
  end)
end

local function query(servers, name, dnsclass, qtype, callback)
  checkServers(servers, 'dns.query')
  if type(name) ~= 'string' then error('dns.query: name must be a string', 2) end
  dnsclass = dnsclass or CLASS_IN
  if type(dnsclass) ~= 'number' or type(qtype) ~= 'number' then
    error('dns.query: dnsclass and qtype must be numbers', 2)
  end
  return adapt(callback, _query, servers, name, dnsclass, qtype)
end

local loadResolverUnix

local function systemServers()
  if not SERVERS then
    local ok, servers = pcall(loadResolverUnix)
    if not (ok and servers and #servers > 0) then SERVERS = DEFAULT_SERVERS end
  end
  return SERVERS
end

local function resolver(qtype)
  return function(name, callback)
    return query(systemServers(), name, CLASS_IN, qtype, callback)
  end
end

local function setServers(servers)
  checkServers(servers, 'dns.setServers')
  SERVERS = servers
end

local function setTimeout(timeout)
  if type(timeout) ~= 'number' or timeout <= 0 then
    error('dns.setTimeout: timeout must be a positive number of milliseconds', 2)
  end
  TIMEOUT = timeout
end

local function setDefaultTimeout()
  TIMEOUT = DEFAULT_TIMEOUT
end

local function setDefaultServers()
  SERVERS = DEFAULT_SERVERS
end

function loadResolverUnix(options)
  local file = (options and options.file) or '/etc/resolv.conf'
  local data = fs.readFileSync(file)
  if not data then return end
  local servers = {}
  local timeout
  for line in (data .. '\n'):gmatch('([^\r\n]*)\r?\n') do
    line = line:gsub('[#;].*$', '')
    local ip = line:match('^%s*nameserver%s+([%x:%.]+)')
    if ip then
      -- 'fe80::1%eth0': the zone is not part of the address we can use.
      servers[#servers + 1] = { host = ip, port = 53 }
    end
    local opts = line:match('^%s*options%s+(.*)$')
    if opts then
      local secs = tonumber(opts:match('timeout:(%d+)'))
      if secs and secs > 0 then timeout = secs * 1000 end
    end
  end
  if #servers > 0 then SERVERS = servers end
  if timeout then TIMEOUT = timeout end
  return servers
end

local function loadResolverWin()
  error('dns.loadResolverWin: only on Windows', 2)
end

local function loadResolver(options)
  return loadResolverUnix(options)
end

local function lookup(name, options, callback)
  if type(options) == 'function' then callback, options = options, nil end
  if type(name) ~= 'string' then error('dns.lookup: name must be a string', 2) end
  if type(callback) ~= 'function' then error('dns.lookup: callback must be a function', 2) end
  local family, all
  if type(options) == 'number' then
    family = options
  elseif type(options) == 'table' then
    family, all = options.family, options.all
  elseif options ~= nil then
    error('dns.lookup: options must be a family number or a table', 2)
  end
  if family ~= nil and family ~= 0 and family ~= 4 and family ~= 6 then
    error('dns.lookup: family must be 4 or 6', 2)
  end
  local hints = { socktype = 'stream' }
  if family == 4 then hints.family = 'inet' elseif family == 6 then hints.family = 'inet6' end
  uv.getaddrinfo(name, nil, hints, function(err, res)
    if err then
      local e = Error:new(err .. ': getaddrinfo ' .. name)
      e.code = err
      return callback(e)
    end
    local list = {}
    for _, r in ipairs(res or {}) do
      list[#list + 1] = { address = r.addr, family = r.family == 'inet6' and 6 or 4 }
    end
    if #list == 0 then
      local e = Error:new('ENOTFOUND: getaddrinfo ' .. name)
      e.code = 'ENOTFOUND'
      return callback(e)
    end
    if all then return callback(nil, list) end
    callback(nil, list[1].address, list[1].family)
  end)
end

return {
  query = query,
  TYPE_A = TYPE_A,
  TYPE_NS = TYPE_NS,
  TYPE_CNAME = TYPE_CNAME,
  TYPE_PTR = TYPE_PTR,
  TYPE_MX = TYPE_MX,
  TYPE_TXT = TYPE_TXT,
  TYPE_AAAA = TYPE_AAAA,
  TYPE_SRV = TYPE_SRV,
  CLASS_IN = CLASS_IN,
  resolve4 = resolver(TYPE_A),
  resolve6 = resolver(TYPE_AAAA),
  resolveSrv = resolver(TYPE_SRV),
  resolveMx = resolver(TYPE_MX),
  resolveNs = resolver(TYPE_NS),
  resolveCname = resolver(TYPE_CNAME),
  resolveTxt = resolver(TYPE_TXT),
  setServers = setServers,
  setTimeout = setTimeout,
  setDefaultTimeout = setDefaultTimeout,
  setDefaultServers = setDefaultServers,
  loadResolverWin = loadResolverWin,
  loadResolverUnix = loadResolverUnix,
  loadResolver = loadResolver,
  lookup = lookup,
}
