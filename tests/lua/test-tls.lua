local tls = require('tls')
local net = require('net')

-- Certificates made for this run: a CA, a server certificate it signed for localhost and
-- 127.0.0.1, SNI certificates, a client certificate, and an unrelated CA.
local CA_KEY, CA_CERT = tls.generateCertificate({ commonName = 'Test CA', isCa = true,
  organization = 'luvit-rs tests' })
local CA = { key = CA_KEY, cert = CA_CERT }
local KEY, CERT = tls.generateCertificate({ commonName = 'localhost', organization = 'luvit-rs',
  altNames = { 'localhost', '127.0.0.1' }, ca = CA })
local A_KEY, A_CERT = tls.generateCertificate({ commonName = 'a.test', ca = CA })
local B_KEY, B_CERT = tls.generateCertificate({ commonName = 'b.test', ca = CA })
local C_KEY, C_CERT = tls.generateCertificate({ commonName = 'client', ca = CA })
local OTHER_KEY, OTHER_CERT = tls.generateCertificate({ commonName = 'Other CA', isCa = true })
local _, OTHER_CA_CERT = OTHER_KEY, OTHER_CERT

local function listen(server, fn)
  server:listen(0, '127.0.0.1', function() fn(server:address().port) end)
end

local function echoServer(options)
  options = options or {}
  options.key = options.key or KEY
  options.cert = options.cert or CERT
  return tls.createServer(options, function(socket)
    socket:on('data', function(d) socket:write(d) end)
    socket:on('end', function() socket:_end() end)
    socket:on('error', function() end)
  end)
end

require('tap')(function(test)
  test('echo over TLS with a CA the client trusts', function(expect)
    local server = echoServer()
    listen(server, function(port)
      local got = {}
      local c
      c = tls.connect({ host = '127.0.0.1', port = port, servername = 'localhost', ca = CA_CERT },
        expect(function()
          assert(c.authorized == true, tostring(c.authorizationError))
          assert(c:version() == 'TLSv1.3', c:version())
          c:write('hello ')
          c:write('tls')
          c:_end()
        end))
      c:on('data', function(d) got[#got + 1] = d end)
      c:on('end', expect(function()
        assert(table.concat(got) == 'hello tls', table.concat(got))
      end))
      c:on('close', expect(function() server:close() end))
    end)
  end)

  test('the connect callback is secureConnection; secureConnect and secure fire too',
    function(expect)
      local server = echoServer()
      listen(server, function(port)
        local c = tls.connect({ port = port, servername = 'localhost', ca = { CA_CERT } })
        local seen = {}
        c:on('secure', function() seen[#seen + 1] = 'secure' end)
        c:on('secureConnect', function() seen[#seen + 1] = 'secureConnect' end)
        c:on('secureConnection', expect(function()
          assert(table.concat(seen, ',') == 'secure,secureConnect', table.concat(seen, ','))
          c:destroy()
          server:close()
        end))
      end)
    end)

  test('an unknown CA is an error with rejectUnauthorized; the server reports it',
    function(expect)
      local server = echoServer()
      server:on('tlsClientError', expect(function(err, socket)
        assert(type(err) == 'string' and socket.destroyed)
      end))
      listen(server, function(port)
        local c = tls.connect({ port = port, servername = 'localhost', ca = OTHER_CA_CERT })
        c:on('secureConnection', function() error('should not connect') end)
        c:on('error', expect(function(err)
          assert(tostring(err):find('UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 1, true), err)
          assert(tostring(err):find('unknown authority', 1, true), err)
        end))
        c:on('close', expect(function() server:close() end))
      end)
    end)

  test('rejectUnauthorized = false connects with authorized = false', function(expect)
    local server = echoServer()
    listen(server, function(port)
      local c
      c = tls.connect({ port = port, servername = 'localhost', rejectUnauthorized = false },
        expect(function()
          assert(c.authorized == false)
          assert(c.authorizationError:find('UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 1, true),
            c.authorizationError)
          c:write('ping')
        end))
      c:on('data', expect(function(d)
        assert(d == 'ping')
        c:destroy()
        server:close()
      end))
    end)
  end)

  test('a servername the certificate does not name is an error', function(expect)
    local server = echoServer()
    listen(server, function(port)
      local c = tls.connect({ port = port, servername = 'wrong.example', ca = CA_CERT })
      c:on('error', expect(function(err)
        assert(tostring(err):find('ERR_TLS_CERT_ALTNAME_INVALID', 1, true), err)
        server:close()
      end))
    end)
  end)

  test('an IP address as host is checked against the IP names', function(expect)
    local server = echoServer()
    listen(server, function(port)
      local c
      c = tls.connect({ host = '127.0.0.1', port = port, ca = CA_CERT }, expect(function()
        assert(c.authorized)
        c:destroy()
        server:close()
      end))
    end)
  end)

  test('SNI picks the certificate for each name, the default otherwise', function(expect)
    local names = {}
    local clientsDone, server = false, nil
    local finish = expect(function()
      assert(table.concat(names, ',') == 'a.test,b.test,localhost', table.concat(names, ','))
      server:close()
    end)
    local function check()
      if clientsDone and #names == 3 then finish() end
    end
    server = tls.createServer({
      key = KEY, cert = CERT,
      hosts = { ['a.test'] = { key = A_KEY, cert = A_CERT }, ['b.test'] = { key = B_KEY, cert = B_CERT } },
    }, function(socket)
      names[#names + 1] = tostring(socket.servername)
      socket:on('error', function() end)
      socket:_end()
      check()
    end)
    listen(server, function(port)
      local function try(name, want, nextStep)
        local c
        c = tls.connect({ port = port, servername = name, ca = CA_CERT }, expect(function()
          local cert = c:getPeerCertificate()
          assert(cert.subject.CN == want, name .. ' got ' .. tostring(cert.subject.CN))
          c:destroy()
          nextStep()
        end))
      end
      try('a.test', 'a.test', function()
        try('b.test', 'b.test', function()
          try('localhost', 'localhost', function()
            clientsDone = true
            check()
          end)
        end)
      end)
    end)
  end)

  test('server:sni(hosts) (luvit) sets names later', function(expect)
    local server = echoServer()
    server:sni({ ['a.test'] = { key = A_KEY, cert = A_CERT } })
    listen(server, function(port)
      local c
      c = tls.connect({ port = port, servername = 'a.test', ca = CA_CERT }, expect(function()
        assert(c:getPeerCertificate().subject.CN == 'a.test')
        c:destroy()
        server:close()
      end))
    end)
  end)

  test('ALPN negotiation', function(expect)
    local server = tls.createServer({ key = KEY, cert = CERT, ALPNProtocols = { 'h2', 'http/1.1' } },
      expect(function(socket)
        assert(socket.alpnProtocol == 'http/1.1', tostring(socket.alpnProtocol))
        socket:destroy()
      end))
    listen(server, function(port)
      local c
      c = tls.connect({ port = port, servername = 'localhost', ca = CA_CERT,
        ALPNProtocols = { 'spdy/1', 'http/1.1' } }, expect(function()
          assert(c.alpnProtocol == 'http/1.1', tostring(c.alpnProtocol))
          c:destroy()
          server:close()
        end))
    end)
  end)

  test('client certificates: missing fails that socket only; presented is authorized',
    function(expect)
      local server = tls.createServer({ key = KEY, cert = CERT, requestCert = true, ca = CA_CERT },
        expect(function(socket)
          assert(socket.authorized == true, tostring(socket.authorizationError))
          local peer = socket:getPeerCertificate()
          assert(peer and peer.subject.CN == 'client')
          socket:on('data', function() end)
          socket:write('welcome')
        end))
      server:on('tlsClientError', expect(function(err)
        assert(tostring(err):find('certificate', 1, true), err)
      end))
      listen(server, function(port)
        local c = tls.connect({ port = port, servername = 'localhost', ca = CA_CERT })
        c:on('error', expect(function(err)
          assert(type(err) == 'string')
          local c2 = tls.connect({ port = port, servername = 'localhost', ca = CA_CERT,
            key = C_KEY, cert = C_CERT })
          c2:on('data', expect(function(d)
            assert(d == 'welcome')
            c2:destroy()
            server:close()
          end))
        end))
      end)
    end)

  test('getPeerCertificate fields', function(expect)
    local server = echoServer()
    listen(server, function(port)
      local c
      c = tls.connect({ port = port, servername = 'localhost', ca = CA_CERT }, expect(function()
        local cert = c:getPeerCertificate()
        assert(cert.subject.CN == 'localhost' and cert.subject.O == 'luvit-rs')
        assert(cert.issuer.CN == 'Test CA' and cert.issuer.O == 'luvit-rs tests')
        assert(cert.valid_from:match('^%a%a%a [ %d]%d %d%d:%d%d:%d%d %d+ GMT$'), cert.valid_from)
        assert(cert.valid_to:match('GMT$'), cert.valid_to)
        assert(#cert.fingerprint == 59 and cert.fingerprint:match('^%x%x:'), cert.fingerprint)
        assert(cert.fingerprint:match('^[%dA-F:]+$'), cert.fingerprint)
        assert(#cert.fingerprint256 == 95, cert.fingerprint256)
        assert(cert.serialNumber:match('^[%dA-F]+$'), cert.serialNumber)
        assert(cert.subjectaltname == 'DNS:localhost, IP Address:127.0.0.1', cert.subjectaltname)
        assert(cert.ca == false)
        assert(#cert.raw > 100 and cert.raw:byte(1) == 0x30)
        c:destroy()
        server:close()
      end))
    end)
  end)

  test('version(): TLSv1.3 by default, TLSv1.2 when forced', function(expect)
    local server = echoServer()
    listen(server, function(port)
      local c
      c = tls.connect({ port = port, servername = 'localhost', ca = CA_CERT,
        maxVersion = 'TLSv1.2' }, expect(function()
          assert(c:version() == 'TLSv1.2', c:version())
          c:write('twelve')
        end))
      c:on('data', expect(function(d)
        assert(d == 'twelve')
        c:destroy()
        server:close()
      end))
    end)
  end)

  test('junk from a plain-text peer fails that socket only; the server goes on',
    function(expect)
      local server = echoServer()
      server:on('tlsClientError', expect(function(err)
        assert(tostring(err):find('ERR_SSL', 1, true), err)
      end))
      listen(server, function(port)
        local raw
        raw = net.connect(port, '127.0.0.1', function()
          raw:write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
        end)
        raw:on('data', function() end)
        raw:on('error', function() end)
        raw:on('close', expect(function()
          local c
          c = tls.connect({ port = port, servername = 'localhost', ca = CA_CERT }, expect(function()
            c:destroy()
            server:close()
          end))
        end))
      end)
    end)

  test('several MB both ways with backpressure', function(expect)
    local server = tls.createServer({ key = KEY, cert = CERT }, function(socket)
      socket:pipe(socket)
    end)
    local TOTAL = 6 * 1024 * 1024
    local chunk = string.rep('0123456789abcdef', 4096) -- 64 KiB
    listen(server, function(port)
      local c
      local received, sent = 0, 0
      local sum = 0
      local function pump()
        while sent < TOTAL do
          sent = sent + #chunk
          if not c:write(chunk) then return c:once('drain', pump) end
        end
        c:_end()
      end
      c = tls.connect({ port = port, servername = 'localhost', ca = CA_CERT }, pump)
      c:on('data', function(d)
        received = received + #d
        sum = (sum + d:byte(1) + d:byte(#d)) % 65536
      end)
      c:on('end', expect(function()
        assert(received == TOTAL, received)
        server:close()
      end))
    end)
  end)

  test('bad options raise plain errors', function()
    local ok, err = pcall(tls.createServer, { key = 'nope', cert = 'nope' })
    assert(not ok and tostring(err):find('tls:', 1, true), err)
    ok, err = pcall(tls.createServer, {})
    assert(not ok and tostring(err):find('key and cert', 1, true), err)
  end)
  test('sessions survive random and truncated peer bytes (no panic, an error or more input)',
    function()
      local native = require('tls-native')
      local server = native.newContext({ isServer = true, key = KEY, cert = CERT })
      local client = native.newContext({ ca = CA_CERT })
      math.randomseed(7)
      local function junk(n)
        local t = {}
        for i = 1, n do t[i] = string.char(math.random(0, 255)) end
        return table.concat(t)
      end
      for round = 1, 200 do
        local s = server:newSession()
        -- Sometimes a real record header first, so the parser goes deeper.
        local prefix = round % 2 == 0 and '\22\3\1\0\200' or ''
        local text, err = s:feed(prefix .. junk(math.random(0, 300)))
        assert(text ~= nil or type(err) == 'string')
        s:pending()
        local c = client:newSession('localhost')
        local hello = c:pending()
        assert(#hello > 0)
        local s2 = server:newSession()
        s2:feed(hello:sub(1, math.random(0, #hello)))
        local reply = s2:pending()
        c:feed(reply:sub(1, math.random(0, #reply)) .. junk(math.random(0, 50)))
        assert(c:handshaking())
      end
    end)
end)
