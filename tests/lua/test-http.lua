local http = require('http')
local net = require('net')
local timer = require('timer')

-- Starts `server` on a free port and calls fn(port).
local function listen(server, fn)
  server:listen(0, '127.0.0.1', function() fn(server:address().port) end)
end

-- Sends raw bytes and collects everything until the server closes (or `untilText` is seen).
local function raw(port, bytes, onDone, untilText)
  local got, done = {}, false
  local c
  c = net.connect(port, '127.0.0.1', function() c:write(bytes) end)
  local function finish()
    if done then return end
    done = true
    c:destroy()
    onDone(table.concat(got))
  end
  c:on('data', function(d)
    got[#got + 1] = d
    if untilText and table.concat(got):find(untilText, 1, true) then finish() end
  end)
  c:on('end', finish)
  c:on('error', function() end)
  return c
end

local function count(s, pat)
  local n = 0
  for _ in s:gmatch(pat) do n = n + 1 end
  return n
end

require('tap')(function(test)
  test('get: status, headers, body; head and body leave in one write', function(expect)
    local server
    server = http.createServer(function(req, res)
      assert(req.method == 'GET' and (req.url == '/hello?x=1' or req.url == '/'), req.url)
      assert(req.headers.host, 'a Host header')
      assert(req.httpVersion == '1.1')
      res:setHeader('Content-Type', 'text/plain')
      res:finish('hello world')
    end)
    listen(server, function(port)
      http.get('http://127.0.0.1:' .. port .. '/hello?x=1', expect(function(res)
        assert(res.statusCode == 200, res.statusCode)
        assert(res.headers['content-type'] == 'text/plain')
        assert(res.headers['Content-Length'] == '11', res.headers['content-length'])
        assert(res.headers.date, 'a Date header')
        local body = {}
        res:on('data', function(d) body[#body + 1] = d end)
        res:on('end', expect(function()
          assert(table.concat(body) == 'hello world')
          -- A raw client sees the whole response in its first read.
          local c
          c = net.connect(port, '127.0.0.1', function()
            c:write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
          end)
          c:once('data', expect(function(d)
            assert(d:find('\r\n\r\nhello world$'), d)
            c:destroy()
            server:close()
          end))
        end))
      end))
    end)
  end)

  test('keep-alive pipelining: responses leave in request order', function(expect)
    local server
    server = http.createServer(function(req, res)
      -- The first answer is the slowest; order must still hold.
      local delay = req.url == '/1' and 60 or (req.url == '/2' and 20 or 0)
      timer.setTimeout(delay, function() res:finish('body' .. req.url) end)
    end)
    listen(server, function(port)
      local reqs = 'GET /1 HTTP/1.1\r\nHost: x\r\n\r\n' ..
                   'GET /2 HTTP/1.1\r\nHost: x\r\n\r\n' ..
                   'GET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
      raw(port, reqs, expect(function(out)
        local a, b, c = out:find('body/1', 1, true), out:find('body/2', 1, true),
          out:find('body/3', 1, true)
        assert(a and b and c and a < b and b < c, out)
        assert(count(out, 'HTTP/1.1 200 OK') == 3, out)
        assert(out:find('Connection: close', 1, true), out)
        server:close()
      end))
    end)
  end)

  test('pipelined requests answered at once: bodyless, with a body, a head split', function(expect)
    local server
    local seen = {}
    server = http.createServer(function(req, res)
      local body = {}
      req:on('data', function(d) body[#body + 1] = d end)
      local function answer()
        seen[#seen + 1] = req.method .. ' ' .. req.url
        res:finish('got ' .. req.url .. ':' .. table.concat(body))
      end
      -- a bodyless request is complete at once; one with a body once it has ended
      if req.method == 'GET' then answer() else req:on('end', answer) end
    end)
    listen(server, function(port)
      local got = ''
      local c
      c = net.connect(port, '127.0.0.1', function()
        c:write('GET /1 HTTP/1.1\r\nHost: x\r\n\r\n' ..
                'POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc' ..
                'GET /3 HTTP/1.1\r\nHo')
        timer.setTimeout(30, function() c:write('st: x\r\n\r\nGET /4 HTTP/1.1\r\nHost: x\r\n\r\n') end)
      end)
      c:on('data', function(d)
        got = got .. d
        if count(got, 'HTTP/1.1 200 OK') == 4 and got:find('got /4:', 1, true) then
          local a, b = got:find('got /1:', 1, true), got:find('got /2:abc', 1, true)
          local d3, d4 = got:find('got /3:', 1, true), got:find('got /4:', 1, true)
          assert(a and b and d3 and d4 and a < b and b < d3 and d3 < d4, got)
          assert(table.concat(seen, ',') == 'GET /1,POST /2,GET /3,GET /4', table.concat(seen, ','))
          c:destroy()
          server:close()
        end
      end)
    end)
  end)

  test('per-request state does not pile up on a keep-alive socket', function(expect)
    local socket
    local server
    server = http.createServer(function(req, res) res:finish('ok') end)
    server:on('connection', function(s) socket = s end)
    listen(server, function(port)
      local n, total = 0, 200
      local before
      local c
      local buf = ''
      c = net.connect(port, '127.0.0.1', function() c:write('GET / HTTP/1.1\r\nHost: x\r\n\r\n') end)
      c:on('data', function(d)
        buf = buf .. d
        while buf:find('\r\n\r\nok', 1, true) do
          local _, e = buf:find('\r\n\r\nok', 1, true)
          buf = buf:sub(e + 1)
          n = n + 1
          if n == 1 then
            before = {}
            for _, ev in ipairs({ 'data', 'end', 'close', 'drain', 'error' }) do
              before[ev] = socket:listenerCount(ev)
            end
          end
          if n == total then
            for ev, k in pairs(before) do
              assert(socket:listenerCount(ev) == k, ev .. ' listeners grew')
            end
            c:destroy()
            server:close()
            return
          end
          c:write('GET / HTTP/1.1\r\nHost: x\r\n\r\n')
        end
      end)
      c:on('close', expect(function() assert(n == total, n) end))
    end)
  end)

  test('chunked request body streams in; chunked response when no length', function(expect)
    local server
    server = http.createServer(function(req, res)
      local got = {}
      req:on('data', function(d) got[#got + 1] = d end)
      req:on('end', function()
        res:writeHead(201, { ['X-Seen'] = #table.concat(got) })
        res:write('you sent ')
        res:write(table.concat(got))
        res:finish()
      end)
    end)
    listen(server, function(port)
      local req = http.request({ port = port, host = '127.0.0.1', method = 'POST', path = '/up' },
        expect(function(res)
          assert(res.statusCode == 201, res.statusCode)
          assert(res.headers['transfer-encoding'] == 'chunked')
          assert(res.headers['x-seen'] == '10')
          local body = {}
          res:on('data', function(d) body[#body + 1] = d end)
          res:on('end', expect(function()
            assert(table.concat(body) == 'you sent abcdefghij', table.concat(body))
            server:close()
          end))
        end))
      req:write('abc')
      req:write('defg')
      req:done('hij')
    end)
  end)

  test('a 4 MB upload arrives whole (body backpressure)', function(expect)
    local size = 4 * 1024 * 1024
    local server
    server = http.createServer(function(req, res)
      local n = 0
      req:on('data', function(d)
        n = n + #d
        -- Read slowly: the socket must pause rather than buffer without bound.
        req:pause()
        timer.setTimeout(0, function() req:resume() end)
      end)
      req:on('end', function() res:finish(tostring(n)) end)
    end)
    listen(server, function(port)
      local req = http.request({ port = port, host = '127.0.0.1', method = 'PUT',
        headers = { ['Content-Length'] = size } }, expect(function(res)
        local body = ''
        res:on('data', function(d) body = body .. d end)
        res:on('end', expect(function()
          assert(body == tostring(size), body)
          server:close()
        end))
      end))
      local chunk = string.rep('x', 64 * 1024)
      for _ = 1, size / #chunk do req:write(chunk) end
      req:done()
    end)
  end)

  test('HEAD gets headers and no body; 204 gets no framing', function(expect)
    local server
    server = http.createServer(function(req, res)
      if req.url == '/empty' then
        res.statusCode = 204
        return res:finish()
      end
      res:finish('twelve bytes')
    end)
    listen(server, function(port)
      raw(port, 'HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /empty HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
        expect(function(out)
          assert(out:find('Content-Length: 12\r\n', 1, true), out)
          assert(not out:find('twelve', 1, true), out)
          local second = out:sub(out:find('HTTP/1.1 204', 1, true) or #out)
          assert(second:find('^HTTP/1.1 204 No Content'), out)
          assert(not second:find('Content-Length') and not second:find('Transfer-Encoding'), out)
          server:close()
        end))
    end)
  end)

  -- fuzz crash http_encode_response_control_bytes (tests/fuzz/regressions/http/): a header
  -- value with control bytes went out as is, and our own client refused the response.
  -- Both encoders: the C function, and the FFI calls the server makes (native.fast).
  local function encoders()
    local native = require('http-parser')
    assert(native.fast, 'http-parser has its FFI calls')
    return ipairs({ native.encodeResponse, native.fast.encodeResponse })
  end

  test('http_encode_response_control_bytes: control bytes in values become a space', function()
    local native = require('http-parser')
    for _, encode in encoders() do
      local bytes = encode(200, 'O\1K', { { 'X-A', 'a\2\3b\127c\td' } }, 0, 0, '')
      assert(bytes:find('X-A: a b c\td\r\n', 1, true), bytes)
      assert(bytes:find('^HTTP/1.1 200 O K\r\n'), bytes)
      local p = native.newParser('response')
      p:expect('GET')
      local head = p:next(bytes)
      assert(type(head) == 'table' and head[1][2] == 'a b c\td', tostring(head))
    end
  end)

  test('header values that are numbers go out as tostring shows them', function()
    for _, encode in encoders() do
      for _, v in ipairs({ 0, 1, -5, 12, 4096, 99999999999999, 123456789012345, 1e300, 1.5,
                           -0.0, 2^53, -2^53 - 2, 0/0, 1/0 }) do
        local bytes = encode(200, 'OK', { { 'X-N', v } }, 0, 0, '')
        local want = 'X-N: ' .. tostring(v) .. '\r\n'
        assert(bytes:find(want, 1, true), want .. ' in ' .. bytes)
      end
    end
  end)

  test('both encoders refuse the same bad input with the same message', function()
    local cases = {
      { 99, nil, {}, 0, 0, '' },
      { '404', nil, { { 'X', 'y' } }, 0, 0, '' },
      { 200, nil, 'headers', 0, 0, '' },
      { 200, nil, { 'X: y' }, 0, 0, '' },
      { 200, nil, { { 'Bad Name', 'x' } }, 0, 0, '' },
      { 200, nil, { { 'X', 'y' }, { 'X-B', true } }, 0, 0, '' },
      { 200, nil, { { 42, 'answer' } }, 0, 5, 'hello' },
      { 204, 'Empty', { { 'Connection', 'close' } }, 15, nil, 'x' },
      { 200, 12, { { 'Transfer-Encoding', 'chunked' } }, 2, nil, 'abc' },
      { 200, nil, { { 'Date', 'then' } }, 7, 3, 123 },
    }
    local native = require('http-parser')
    for i, c in ipairs(cases) do
      local a = { pcall(native.encodeResponse, unpack(c, 1, 6)) }
      local b = { pcall(native.fast.encodeResponse, unpack(c, 1, 6)) }
      for k = 1, 5 do
        assert(a[k] == b[k], 'case ' .. i .. ' result ' .. k .. ': ' .. tostring(a[k]) .. ' vs '
          .. tostring(b[k]))
      end
    end
  end)

  test('many headers both ways: more than the FFI path unrolls', function(expect)
    local server
    server = http.createServer(expect(function(req, res)
      assert(#req.headers == 13, #req.headers)
      assert(req.headers[1][1] == 'Host' and req.headers.host == 'x')
      for i = 1, 12 do assert(req.headers['x-h' .. i] == 'v' .. i, i) end
      for i = 1, 11 do res:setHeader('X-R' .. i, i % 2 == 0 and i or 'r' .. i) end
      res:finish('ok')
    end))
    listen(server, function(port)
      local lines = { 'GET /many HTTP/1.1', 'Host: x' }
      for i = 1, 12 do lines[#lines + 1] = 'X-H' .. i .. ': v' .. i end
      raw(port, table.concat(lines, '\r\n') .. '\r\n\r\n', expect(function(got)
        for i = 1, 11 do
          local want = 'X-R' .. i .. ': ' .. (i % 2 == 0 and tostring(i) or 'r' .. i) .. '\r\n'
          assert(got:find(want, 1, true), want .. ' in ' .. got)
        end
        assert(got:find('\r\n\r\nok$'), got)
        server:close()
      end), '\r\n\r\nok')
    end)
  end)

  test('parser:setOrigin takes only what uv._origin made, or nil', function()
    local native, uv = require('http-parser'), require('uv')
    local p = native.newParser('request')
    for _, bad in ipairs({ 1, 'x', {}, p, true }) do
      local ok, err = pcall(p.setOrigin, p, bad)
      assert(not ok and tostring(err):find('must come from uv._origin'), tostring(err))
    end
    p:setOrigin(uv._origin('http request', function() end))
    -- a head parsed with nothing observing the loop: parsed as ever
    local head = p:nextMessage('GET / HTTP/1.1\r\nHost: a\r\n\r\n')
    assert(type(head) == 'table' and head[1][1] == 'Host', tostring(head))
    p:setOrigin(nil)
  end)

  test('a read chunk token works only inside its read callback', function(expect)
    local native, uv = require('http-parser'), require('uv')
    local p = native.newParser('request')
    local srv, peer, c = uv.new_tcp(), uv.new_tcp(), uv.new_tcp()
    uv.tcp_bind(srv, '127.0.0.1', 0)
    uv.listen(srv, 8, expect(function()
      uv.accept(srv, peer)
      uv._read_start_tokens(peer, expect(function(err, token)
        assert(not err and type(token) == 'userdata', tostring(token))
        local head = p:nextMessage(token)
        assert(type(head) == 'table' and head[1][1] == 'Host', tostring(head))
        uv.read_stop(peer)
        timer.setTimeout(1, expect(function()
          -- kept past its callback (or made up): an error, and nothing is read
          local ok, e = pcall(p.nextMessage, p, token)
          assert(not ok and tostring(e):find('after its read callback'), tostring(e))
          ok, e = pcall(p.push, p, token)
          assert(not ok and tostring(e):find('after its read callback'), tostring(e))
          assert(p:buffered() == 0)
          for _, h in ipairs({ peer, srv, c }) do uv.close(h) end
        end))
      end))
    end))
    uv.tcp_connect(c, '127.0.0.1', uv.tcp_getsockname(srv).port, expect(function(err)
      assert(not err, err)
      uv.write(c, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n')
    end))
  end)

  test('malformed request: 400, closed, and the server goes on serving', function(expect)
    local server
    server = http.createServer(function(req, res) res:finish('fine') end)
    listen(server, function(port)
      raw(port, 'BAD\1REQUEST / HTTP/1.1\r\n\r\n', expect(function(out)
        assert(out:find('^HTTP/1.1 400 Bad Request'), out)
        raw(port, 'POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n',
          expect(function(out2)
            assert(out2:find('^HTTP/1.1 400'), out2)
            http.get('http://127.0.0.1:' .. port .. '/', expect(function(res)
              assert(res.statusCode == 200)
              res:on('end', function() server:close() end)
              res:resume()
            end))
          end))
      end))
    end)
  end)

  test('oversized head gets 431; clientError listeners take over', function(expect)
    local server
    server = http.createServer({ maxHeaderSize = 1024 }, function(req, res) res:finish('no') end)
    listen(server, function(port)
      raw(port, 'GET / HTTP/1.1\r\nX-Big: ' .. string.rep('a', 4000) .. '\r\n\r\n',
        expect(function(out)
          assert(out:find('^HTTP/1.1 431 Request Header Fields Too Large'), out)
          server:on('clientError', expect(function(err, socket)
            assert(err.status == 400 and err.code == 'HPE_INVALID', tostring(err.code))
            socket:write('HTTP/1.1 418 I\'m a Teapot\r\nContent-Length: 0\r\n\r\n')
            socket:_end()
          end))
          raw(port, 'GET / HTTP/9\r\n\r\n', expect(function(out2)
            assert(out2:find('^HTTP/1.1 418'), out2)
            server:close()
          end))
        end))
    end)
  end)

  test('a client that stalls mid-head is answered 408 and dropped', function(expect)
    local server
    server = http.createServer({ headersTimeout = 300 }, function(req, res) res:finish('x') end)
    listen(server, function(port)
      local start = require('uv').now()
      raw(port, 'GET / HTTP/1.1\r\nHost: x\r\n', expect(function(out)
        local waited = require('uv').now() - start
        assert(out:find('^HTTP/1.1 408'), out)
        assert(waited >= 250 and waited < 3000, waited)
        server:close()
      end))
    end)
  end)

  test('idle keep-alive sockets close after keepAliveTimeout', function(expect)
    local server
    server = http.createServer({ keepAliveTimeout = 200 }, function(req, res) res:finish('x') end)
    listen(server, function(port)
      local start = require('uv').now()
      raw(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', expect(function(out)
        assert(out:find('^HTTP/1.1 200'), out)
        local waited = require('uv').now() - start
        assert(waited >= 150 and waited < 3000, waited)
        server:close()
      end))
    end)
  end)

  test('upgrade: the server and client get the raw socket and the bytes after the head',
    function(expect)
      local server
      server = http.createServer(function() error('not a plain request') end)
      server:on('upgrade', expect(function(req, socket, head)
        assert(req.headers.upgrade == 'echo')
        -- The bytes sent after the head come first: in `head` and/or the socket's data.
        local early = head
        local replied = false
        local function onData(d)
          if replied then return socket:write(d) end
          early = early .. d
          if #early >= 5 then
            assert(early == 'early', early)
            replied = true
            socket:write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nhi:')
          end
        end
        socket:on('data', onData)
        onData('')
        socket:resume()
      end))
      listen(server, function(port)
        local req = http.request({ port = port, host = '127.0.0.1',
          headers = { Connection = 'Upgrade', Upgrade = 'echo' } })
        req:on('upgrade', expect(function(res, socket, head)
          assert(res.statusCode == 101)
          assert(head == 'hi:', head)
          socket:on('data', expect(function(d)
            assert(d == 'ping', d)
            socket:destroy()
            server:close()
          end))
          socket:resume()
          socket:write('ping')
        end))
        req:flushHeaders()
        req.socket:write('early')
      end)
    end)

  test("luvit-style upgrade: onRequest gets the request and the raw socket", function(expect)
    local server
    server = http.createServer(expect(function(req, res)
      assert(req.is_upgraded)
      req.socket:write('HTTP/1.1 101 Switching Protocols\r\n\r\n')
      req.socket:on('data', function(d)
        assert(d == 'after', d)
        req.socket:write('got ' .. d)
        req.socket:_end()
      end)
    end))
    listen(server, function(port)
      raw(port, 'GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\nafter', expect(function(out)
        assert(out:find('got after$'), out)
        server:close()
      end))
    end)
  end)

  test('Expect: 100-continue gets a 100 before the body is sent', function(expect)
    local server
    server = http.createServer(function(req, res)
      local body = ''
      req:on('data', function(d) body = body .. d end)
      req:on('end', function() res:finish('got ' .. body) end)
    end)
    listen(server, function(port)
      local req = http.request({ port = port, host = '127.0.0.1', method = 'POST',
        headers = { Expect = '100-continue', ['Content-Length'] = 4 } }, expect(function(res)
          local body = ''
          res:on('data', function(d) body = body .. d end)
          res:on('end', expect(function()
            assert(body == 'got data', body)
            server:close()
          end))
        end))
      req:on('continue', expect(function() req:done('data') end))
      req:flushHeaders()
    end)
  end)

  test('HTTP/1.0 without keep-alive: close-delimited, then closed', function(expect)
    local server
    server = http.createServer(function(req, res)
      assert(req.httpVersion == '1.0')
      res:write('streamed ')
      res:finish('body')
    end)
    listen(server, function(port)
      raw(port, 'GET / HTTP/1.0\r\n\r\n', expect(function(out)
        assert(out:find('Connection: close', 1, true), out)
        assert(not out:find('chunked', 1, true), out)
        assert(out:find('\r\n\r\nstreamed body$'), out)
        server:close()
      end))
    end)
  end)

  test('client errors: connection refused, unknown host, server resets', function(expect)
    -- A port with nothing listening: bind one, note it, close it.
    local probe = net.createServer(function() end)
    probe:listen(0, '127.0.0.1', function()
      local port = probe:address().port
      probe:close(function()
        local req = http.get({ host = '127.0.0.1', port = port, path = '/' })
        req:on('error', expect(function(err)
          assert(tostring(err):find('ECONNREFUSED'), tostring(err))
        end))
      end)
    end)
    local req2 = http.get({ host = 'no-such-host.invalid', port = 80, path = '/' })
    req2:on('error', expect(function(err) assert(err, 'an error') end))
    local server
    server = net.createServer(function(socket) socket:destroy() end)
    listen(server, function(port)
      local req3 = http.get({ host = '127.0.0.1', port = port, path = '/' })
      req3:on('error', expect(function(err)
        assert(tostring(err):find('ECONNRESET'), tostring(err))
        server:close()
      end))
    end)
  end)

  test('writeHead keeps headers set before it; setHeader after send errors', function(expect)
    local server
    server = http.createServer(function(req, res)
      res:setHeader('X-A', 'a')
      res:setHeader('Set-Cookie', { 'a=1', 'b=2' })
      res:writeHead(202, 'Fine', { ['X-B'] = 'b' })
      res:finish('x')
      assert(not pcall(res.setHeader, res, 'X-C', 'c'))
    end)
    listen(server, function(port)
      raw(port, 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n', expect(function(out)
        assert(out:find('^HTTP/1.1 202 Fine\r\n'), out)
        assert(out:find('X-A: a\r\n', 1, true) and out:find('X-B: b\r\n', 1, true), out)
        assert(count(out, 'Set%-Cookie: ') == 2, out)
        server:close()
      end))
    end)
  end)

  test('any Duplex can carry HTTP (the stream path https uses)', function(expect)
    local Wrapped = net.Socket:extend()
    local app = http.createServer(function(req, res)
      local body = ''
      req:on('data', function(d) body = body .. d end)
      req:on('end', function() res:finish('stream path got ' .. body) end)
    end)
    local server
    server = net.createServer(function(socket)
      setmetatable(socket, Wrapped.meta)
      app:handleSocket(socket)
    end)
    listen(server, function(port)
      raw(port, 'POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /2 HTTP/1.1\r\nConnection: close\r\n\r\n',
        expect(function(out)
          assert(out:find('stream path got hi', 1, true), out)
          assert(count(out, 'HTTP/1.1 200 OK') == 2, out)
          server:close()
          app:close()
        end))
    end)
  end)

  test('gzip on the fly: a Transform piped into the response', function(expect)
    local zlib = require('zlib')
    local text = string.rep('compress me, please. ', 50000)
    local server
    server = http.createServer(function(req, res)
      res:setHeader('Content-Encoding', 'gzip')
      local gz = zlib.createGzip()
      gz:pipe(res)
      -- Written in pieces, as a stream would.
      for i = 1, #text, 65536 do gz:write(text:sub(i, i + 65535)) end
      gz:_end()
    end)
    listen(server, function(port)
      http.get('http://127.0.0.1:' .. port .. '/', expect(function(res)
        assert(res.headers['content-encoding'] == 'gzip')
        assert(res.headers['transfer-encoding'] == 'chunked')
        local parts = {}
        res:on('data', function(d) parts[#parts + 1] = d end)
        res:on('end', expect(function()
          local body = table.concat(parts)
          assert(#body < #text / 10, #body)
          assert(zlib.gunzipSync(body) == text)
          server:close()
        end))
      end))
    end)
  end)

  test('a request with no body still streams: data never, end once, pipe works', function(expect)
    local server
    server = http.createServer(function(req, res)
      local data = 0
      req:on('data', function() data = data + 1 end)
      req:on('end', expect(function()
        assert(data == 0)
        res:finish('ended')
      end))
    end)
    listen(server, function(port)
      raw(port, 'GET / HTTP/1.1\r\nConnection: close\r\n\r\n', expect(function(out)
        assert(out:find('ended$'), out)
        server:close()
      end))
    end)
  end)

  -- Feeds `inputs` to a luvit codec decoder the way luvit's callers do (the unconsumed rest
  -- plus new bytes each time) and returns the events.
  local function decodeAll(inputs)
    local decode = require('http-codec').decoder()
    local out, buf, i = {}, inputs[1], 2
    while true do
      local ev, rest = decode(buf)
      if ev then
        out[#out + 1] = ev
        buf = rest
      else
        local more = inputs[i]
        i = i + 1
        if not more then break end
        buf = buf .. more
      end
    end
    local ev = decode()
    if ev then out[#out + 1] = ev end
    return out
  end

  test('http-codec decoder: luvit framing (raw bodies, whole chunks, "" is not EOF)', function()
    local out = decodeAll({ 'GET /p HTTP/1.1\r\n', 'A: b\r\n\r\n' })
    assert(#out == 2 and out[1].path == '/p' and out[1].bodyless == nil and out[2] == '')
    -- A request that closes the connection with no length: its body is read until close.
    out = decodeAll({ 'POST / HTTP/1.0\r\n\r\n', 'abc', 'def' })
    assert(#out == 4 and out[2] == 'abc' and out[3] == 'def' and out[4] == '', #out)
    -- Chunks split across reads come whole.
    out = decodeAll({ 'PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWi',
      'ki\r\n12\r', '\n in broken ch', 'unks.\r\n0\r\n\r\n' })
    assert(#out == 4 and out[2] == 'Wiki' and out[3] == ' in broken chunks.' and out[4] == '')
  end)

  test('ServerResponse:new(socket) alone forwards errors (luvit signature)', function()
    local res = http.ServerResponse:new(require('core').Emitter:new())
    local got
    res:on('error', function(e) got = e end)
    res:emit('error', 7)
    assert(got == 7 and res.statusCode == 200)
  end)

  test('client: Transfer-Encoding wins over a Content-Length the caller also set', function(expect)
    local server
    server = http.createServer(function(req, res)
      assert(req.headers['content-length'] == nil)
      local body = {}
      req:on('data', function(d) body[#body + 1] = d end)
      req:on('end', expect(function()
        res:finish(table.concat(body))
      end))
    end)
    listen(server, function(port)
      local req = http.request({ host = '127.0.0.1', port = port, method = 'POST',
        headers = { { 'Content-Length', 5 }, { 'Transfer-Encoding', 'chunked' } } },
        expect(function(res)
          assert(res.statusCode == 200, res.statusCode)
          local got = {}
          res:on('data', function(d) got[#got + 1] = d end)
          res:on('end', expect(function()
            assert(table.concat(got) == 'hello')
            server:close()
          end))
        end))
      req:write('hello')
      req:done()
    end)
  end)

  test("client: a response that is not HTTP is an error saying 'expected HTTP data'",
    function(expect)
      local server
      server = net.createServer(function(c)
        c:on('error', function() end)
        c:write('test\n\n', function() c:destroy() end)
      end)
      listen(server, function(port)
        local req = http.request({ host = '127.0.0.1', port = port })
        req:on('error', expect(function(err)
          assert(tostring(err):find('expected HTTP data', 1, true), err)
          server:close()
        end))
        req:done()
      end)
    end)
end)
