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
      local onSecure = expect(function(socket)
        assert(socket.authorized == true, tostring(socket.authorizationError))
        local peer = socket:getPeerCertificate()
        assert(peer and peer.subject.CN == 'client')
        socket:on('data', function() end)
        socket:write('welcome')
      end)
      -- luvit's contract: the listener also hears of a failed socket, with an error.
      local onFailed = expect(function(socket, err)
        assert(err == 'ssl' and socket.destroyed, err)
      end)
      local server = tls.createServer({ key = KEY, cert = CERT, requestCert = true, ca = CA_CERT },
        function(socket, err)
          if err then return onFailed(socket, err) end
          onSecure(socket)
        end)
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

  -- An X.509 v1 certificate (no extensions, as `openssl x509 -req` makes them and luvit's
  -- fixtures are), self-signed for CN=localhost, made for this file with the openssl CLI.
  local V1_KEY = [[
-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCfaXnjJZcL1XFB
bOA7o6wVzj5BNRFL0mvKYDTLDByeIZmLgw5R53CagPQ8JcNsIgCjUD0xVzmzVaEf
7zlwnEnbr9XMGgGO1usN83UlndueHNWoQSeZTay861O2P1Ov1GE0thg78peL1VCi
cdIwYwl7VnIRioEZ9SRqY8I8fRPtElf2MTVJSAODqKdy2itoovKyJV4NMoUay9UV
fM0NsorUCVZ37jkfN4DnMK5knEx2u4oZt+qLEBBkTNBmlRNXdLG8JKgz9evKngMT
S8S7Fp2LR3PAUxyx3Na7x7dtXJVdJzny/9GZdp3IfuN+VQCOfXJpwVQjAOwhjt30
DS9ddQYrAgMBAAECggEARw8P36KKdaJz5TugqsUXOPMiChQbPSazmNcQwXAJM637
kVZepEDcD2srM8KLnaB8k0/5rwxYMqoZdDBBdQKd47k6Psxa5G7GAYaEMjvvQUhO
Lz235pzawq3Nt3/8EHVFzWbcX6CQUCtK0daV4K7M87dBirMoQEdnr6r/UtJYdwTQ
1Sp+c5arutjXOOq55EjJLrWcd03+v55aXR+6DpMjn01GBNJavd3VZn1u1EUnSpeS
08RUay3QSZR2LhAampFKv5RHe2pybzRyNuZBKsbw0T9HW2n9COaZTXrhC8TEjMmA
bPF93tQw7ZFXhwnOtp0NVLBkIQ9FkVY2BWm7SCrOPQKBgQDeZPSJewxtzs3E3+bt
17h24w9iXVDOIpxjgdneKwI9vJgGEZD5YwG1CZHrHV4hyNHfYNDRrm/XslSFQGVK
QR1dwd+OaKQGWko/Dd7Jd0WZCB6l4HY/zTyjvWh7iGf4jDIQyc6N7co538YyWqa1
H6dmz49l0ylTEcGugY7lA4uyxwKBgQC3gCDtG3cLOBcVFiR+uUts5yoKUDcwc3EB
NmEJovLhmHHZpXEj/UeYoAxDaz3fY6a7GhM2kqwZoGyOKh+IbWzRE3NLdQxPXG+j
KlhE92kJ36p5jxKtZe/XMOX2KlEd/OHRnkkLaKugKWP7niaNbsbeQFYotrwSbMi1
an6rf+BtfQKBgFVUsydVGU3Avd8+ceLslJC5SpvZZjnRuePMXQYLxo5doI8jilbG
EE+gXmayG/4mibCF+1mY7rz6ZcfDD5pQJa5lxxtjNxxg5IARGFyA8SloninTWEve
udexwzcy/YG2eTdL139JsABIxkln0vNIM/kUxtaxEPgYphIJEAT7OUzdAoGAC35q
EY/71+cOgxKc/JcMo2ijWHwHyPAiLupCD8F2Jy1OTEyxloiB2IyF2B86g+iRA/0x
IOT1BLHousrmqLv56eqm+R3+xGXM1FKNrtw0ZxrsaarNh7Dv4fG9Jbsm05MIbgHV
H3LR9TlCevs//PHoYPl0rB4uD5ViyQI/puxemV0CgYAzZheALC7w/5imkMUGO9u3
i97I1VGoZS7E0nU+MvvlWjPzKUiL7XCu24lQt9aQz7tq7T+XubgRx/QvDCscGSNA
UGJOUJ5ziZYVOroVOenxmwjNyPvMhw8FGQ/G1Bfr/CUcoEdzUSQ0zJt7yYG8o4pr
Cwtcw3H0zrfJF/2BZ9sbaQ==
-----END PRIVATE KEY-----
]]
  local V1_CERT = [[
-----BEGIN CERTIFICATE-----
MIIC4TCCAckCFEmmAsG8IN7wxgt+RYFH7/8oZG9zMA0GCSqGSIb3DQEBCwUAMCwx
EjAQBgNVBAMMCWxvY2FsaG9zdDEWMBQGA1UECgwNbHV2aXQtcnMgdGVzdDAgFw0y
NjExMjYxNTE5MTVaGA8yMTI2MTEwMjE1MTkxNVowLDESMBAGA1UEAwwJbG9jYWxo
b3N0MRYwFAYDVQQKDA1sdXZpdC1ycyB0ZXN0MIIBIjANBgkqhkiG9w0BAQEFAAOC
AQ8AMIIBCgKCAQEAn2l54yWXC9VxQWzgO6OsFc4+QTURS9JrymA0ywwcniGZi4MO
UedwmoD0PCXDbCIAo1A9MVc5s1WhH+85cJxJ26/VzBoBjtbrDfN1JZ3bnhzVqEEn
mU2svOtTtj9Tr9RhNLYYO/KXi9VQonHSMGMJe1ZyEYqBGfUkamPCPH0T7RJX9jE1
SUgDg6inctoraKLysiVeDTKFGsvVFXzNDbKK1AlWd+45HzeA5zCuZJxMdruKGbfq
ixAQZEzQZpUTV3SxvCSoM/Xryp4DE0vEuxadi0dzwFMcsdzWu8e3bVyVXSc58v/R
mXadyH7jflUAjn1yacFUIwDsIY7d9A0vXXUGKwIDAQABMA0GCSqGSIb3DQEBCwUA
A4IBAQBe+E4Yzxp8dailqJ+cFlZ0+y8kgyikVTqS9KylkHZjES4WQTTp6/Ju8rm6
mSvZnf7gcXEy0atq5L8vxu5a5MWY+BZby/C8CSzXOc/NizuFp2f+HHc8n7ooRt2W
xgiJJ9K2NTqCZ6wdlPilHbuDsT6TJEhNb+dfoIpOGkb++NvOfc3l/xkJDleRhPl5
soBhcL2BLR2VfXpygjnwHNaPoiHSkJVT913sDrFdghQl+Bh1AWD+ntEVQ8eEONbj
j2nVJ28Pa6w/Dkv1WBVcLgkElfXnCLWOLFzkE2eeY+PoG/5tYCs0dyfU+L8y7lw3
SRtpWmo2deGCnWBz+YP0VYJIMJm5
-----END CERTIFICATE-----
]]

  test('X.509 v1 certificates serve; a key that is not the certificate\'s is refused',
    function(expect)
      local server = echoServer({ key = V1_KEY, cert = V1_CERT })
      listen(server, function(port)
        local c
        c = tls.connect({ host = '127.0.0.1', port = port, rejectUnauthorized = false },
          expect(function()
            assert(c.authorized == false)
            c:write('v1')
          end))
        c:on('data', expect(function(d)
          assert(d == 'v1', d)
          c:destroy()
          server:close()
        end))
      end)
      local ok, err = pcall(tls.createServer, { key = KEY, cert = V1_CERT })
      assert(not ok and tostring(err):find('does not match', 1, true), tostring(err))
    end)
end)
