-- A hello-world HTTPS server on 127.0.0.1:8443 with a self-signed certificate made at start
-- (tls.generateCertificate, for local development). Try:
--   curl -k https://127.0.0.1:8443/       (-k: the certificate is self-signed)
local https = require('https')
local tls = require('tls')

local key, cert = tls.generateCertificate({
  commonName = 'localhost',
  altNames = { 'localhost', '127.0.0.1' },
})

local server = https.createServer({ key = key, cert = cert }, function(req, res)
  local body = 'hello over https: ' .. req.method .. ' ' .. req.url .. '\n'
  res:setHeader('Content-Type', 'text/plain')
  res:setHeader('Content-Length', #body)
  res:finish(body)
end)

server:listen(8443, '127.0.0.1', function()
  print('listening on https://127.0.0.1:8443/')
end)
