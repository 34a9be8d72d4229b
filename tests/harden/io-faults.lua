-- A server whose routes each meet an I/O fault and answer with what the API reported, so
-- tests/faults.rs can check the error path and that the process goes on serving:
--   /devfull      fs.writeFile and a write stream onto /dev/full (ENOSPC)
--   /vanish       a read stream whose file is truncated after its first chunk, and
--                 fs.readFile of a file removed before it is opened
--   /child        a child killed by SIGKILL: its 'exit' code and signal
--   /big          an 8 MB response sent in chunks (for a peer that resets mid-response)
--   /stats        how many /big responses were cut short ('close' before 'finish')
--   /print        print() and process.stdout:write() a line (stdout may be a closed pipe)
-- Also an https server with a certificate made at start (for a peer that resets mid-handshake).
-- Prints "listening PORT" and "tls PORT".
local http = require('http')
local https = require('https')
local tls = require('tls')
local fs = require('fs')
local childprocess = require('childprocess')

local tmp = (process.env.TMPDIR or '/tmp') .. '/luvit-io-faults-' .. process.pid
local cutShort, finished, stdoutErrors = 0, 0, 0

process.stdout:on('error', function() stdoutErrors = stdoutErrors + 1 end)

local function answer(res, text)
  res:setHeader('Content-Length', #text)
  res:finish(text)
end

local routes = {}

function routes.devfull(res)
  fs.writeFile('/dev/full', string.rep('x', 65536), function(err)
    local ws = fs.createWriteStream('/dev/full')
    ws:on('error', function(err2)
      answer(res, 'writeFile: ' .. tostring(err and err.code or err) .. '; stream: '
        .. tostring(err2 and err2.code or err2))
    end)
    ws:write(string.rep('y', 65536))
  end)
end

function routes.vanish(res)
  local path = tmp .. '-vanish'
  fs.writeFileSync(path, string.rep('z', 4 * 1024 * 1024))
  local got, first = 0, true
  local rs = fs.createReadStream(path, { chunkSize = 65536 })
  rs:on('data', function(chunk)
    got = got + #chunk
    if first then
      first = false
      fs.truncateSync(path, 0)
      fs.unlinkSync(path)
    end
  end)
  rs:on('error', function(err)
    answer(res, 'stream error ' .. tostring(err))
  end)
  rs:on('end', function()
    fs.readFile(path, function(err)
      answer(res, 'stream ended after ' .. got .. ' bytes; readFile: '
        .. tostring(err and err.code or err))
    end)
  end)
end

function routes.child(res)
  local child = childprocess.spawn('sleep', { '10' })
  child:on('exit', function(code, signal)
    answer(res, 'exit code ' .. tostring(code) .. ' signal ' .. tostring(signal))
  end)
  child:kill('SIGKILL')
end

function routes.big(res)
  local chunk = string.rep('b', 64 * 1024)
  local sent = 0
  res:on('close', function() cutShort = cutShort + 1 end)
  res:on('finish', function() finished = finished + 1 end)
  res:setHeader('Content-Length', 128 * #chunk)
  local function more()
    while sent < 128 do
      sent = sent + 1
      if sent == 128 then return res:finish(chunk) end
      if not res:write(chunk) then return res:once('drain', more) end
    end
  end
  more()
end

function routes.stats(res)
  answer(res, 'cut short ' .. cutShort .. ' finished ' .. finished .. ' stdout errors '
    .. stdoutErrors)
end

function routes.print(res)
  print('a line for stdout')
  process.stdout:write('another line\n')
  answer(res, 'printed')
end

local function handler(req, res)
  local route = routes[req.url:sub(2)]
  if route then return route(res) end
  answer(res, 'hello')
end

local server = http.createServer(handler)
server:listen(0, '127.0.0.1', function()
  print('listening ' .. server:address().port)
end)

local key, cert = tls.generateCertificate({ commonName = 'localhost', altNames = { '127.0.0.1' } })
local secure = https.createServer({ key = key, cert = cert }, handler)
secure:listen(0, '127.0.0.1', function()
  print('tls ' .. secure:address().port)
end)
