local https = require('https')
local tls = require('tls')

local CA_KEY, CA_CERT = tls.generateCertificate({ commonName = 'Test CA', isCa = true })
local KEY, CERT = tls.generateCertificate({ commonName = 'localhost',
  altNames = { 'localhost', '127.0.0.1' }, ca = { key = CA_KEY, cert = CA_CERT } })

local function listen(server, fn)
  server:listen(0, '127.0.0.1', function() fn(server:address().port) end)
end

require('tap')(function(test)
  test('https server and https.get with the CA', function(expect)
    local server = https.createServer({ key = KEY, cert = CERT }, function(req, res)
      assert(req.url == '/hello', req.url)
      assert(req.socket.encrypted)
      res:setHeader('Content-Type', 'text/plain')
      res:finish('hello over tls')
    end)
    listen(server, function(port)
      https.get({ host = '127.0.0.1', port = port, path = '/hello', ca = CA_CERT },
        expect(function(res)
          assert(res.statusCode == 200, res.statusCode)
          local body = {}
          res:on('data', function(d) body[#body + 1] = d end)
          res:on('end', expect(function()
            assert(table.concat(body) == 'hello over tls', table.concat(body))
            server:close()
          end))
        end))
    end)
  end)

  test('https.request with a url string, servername and a POST body', function(expect)
    local server = https.createServer({ key = KEY, cert = CERT }, function(req, res)
      local body = {}
      req:on('data', function(d) body[#body + 1] = d end)
      req:on('end', function()
        res:finish(req.method .. ' ' .. table.concat(body))
      end)
    end)
    listen(server, function(port)
      local req = https.request({ hostname = '127.0.0.1', port = port, method = 'POST',
        path = '/', servername = 'localhost', ca = CA_CERT }, expect(function(res)
          local body = {}
          res:on('data', function(d) body[#body + 1] = d end)
          res:on('end', expect(function()
            assert(table.concat(body) == 'POST abc', table.concat(body))
            -- A url string: the certificate's IP name matches.
            https.get('https://127.0.0.1:' .. port .. '/', function() end):on('error',
              expect(function(err)
                -- no ca given: the bundled roots do not know our test CA
                assert(tostring(err):find('UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 1, true), err)
                server:close()
              end))
          end))
        end))
      req:write('abc')
      req:done()
    end)
  end)

  test('keep-alive: two requests on one TLS socket', function(expect)
    local count = 0
    local server = https.createServer({ key = KEY, cert = CERT }, function(req, res)
      count = count + 1
      res:finish('reply ' .. count)
    end)
    listen(server, function(port)
      local c
      local got = ''
      c = tls.connect({ port = port, servername = 'localhost', ca = CA_CERT }, function()
        c:write('GET /1 HTTP/1.1\r\nHost: x\r\n\r\n')
      end)
      local sentSecond = false
      c:on('data', function(d)
        got = got .. d
        if not sentSecond and got:find('reply 1', 1, true) then
          sentSecond = true
          c:write('GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        end
      end)
      c:on('end', expect(function()
        assert(select(2, got:gsub('HTTP/1.1 200', '')) == 2, got)
        assert(got:find('reply 1', 1, true) and got:find('reply 2', 1, true), got)
        assert(count == 2)
        server:close()
      end))
    end)
  end)

  test('a bad certificate fails https.get with rejectUnauthorized, passes without',
    function(expect)
      local server = https.createServer({ key = KEY, cert = CERT }, function(req, res)
        res:finish('ok')
      end)
      listen(server, function(port)
        https.get({ host = '127.0.0.1', port = port, path = '/', rejectUnauthorized = false },
          expect(function(res)
            assert(res.statusCode == 200)
            res:on('data', function() end)
            res:on('end', expect(function() server:close() end))
          end))
      end)
    end)
  test('an idle keep-alive TLS connection is closed after keepAliveTimeout', function(expect)
    local server = https.createServer({ key = KEY, cert = CERT, keepAliveTimeout = 300 },
      function(req, res) res:finish('once') end)
    listen(server, function(port)
      local c
      local started = require('uv').now()
      c = tls.connect({ port = port, servername = 'localhost', ca = CA_CERT }, function()
        c:write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
      end)
      c:on('data', function() end)
      c:on('error', function() end)
      c:on('close', expect(function()
        assert(require('uv').now() - started >= 250)
        server:close()
      end))
    end)
  end)
end)
