local dns = require('dns')
local dgram = require('dgram')
local fs = require('fs')
local uv = require('uv')
local timer = require('timer')
local dnsServer = require('./fixtures/dns-server')

local ZONE = {
  ['www.test'] = {
    { type = 1, ttl = 60, address = '192.0.2.1' },
    { type = 1, ttl = 60, address = '192.0.2.2' },
    { type = 28, ttl = 120, groups = { 0x2001, 0xdb8, 0, 0, 0, 0, 0xab, 1 } },
    { type = 16, ttl = 30, strings = { 'v=spf1 -all' } },
  },
  ['multi.test'] = {
    { type = 16, ttl = 30, strings = { 'one', 'two', '' } },
  },
  ['mail.test'] = {
    { type = 15, ttl = 300, preference = 10, exchange = 'mx1.mail.test' },
    { type = 15, ttl = 300, preference = 20, exchange = 'mx2.mail.test' },
  },
  ['_sip._tcp.test'] = {
    { type = 33, ttl = 90, priority = 1, weight = 5, port = 5060, target = 'sip.test' },
  },
  ['alias.test'] = {
    { type = 5, ttl = 40, target = 'www.test' },
    { type = 1, ttl = 60, address = '192.0.2.1', name = 'www.test' },
  },
  ['zone.test'] = {
    { type = 2, ttl = 3600, target = 'ns1.zone.test' },
    { type = 2, ttl = 3600, target = 'ns2.zone.test' },
  },
  ['wrongid.test'] = { { type = 1, ttl = 5, address = '198.51.100.7' } },
  ['big.test'] = {
    { type = 1, ttl = 1, address = '203.0.113.1' },
    { type = 1, ttl = 1, address = '203.0.113.2' },
  },
}

-- Every test points the module at fresh servers; put luvit's defaults back afterwards.
local function reset()
  dns.setDefaultServers()
  dns.setDefaultTimeout()
end

local function serverList(...)
  local list = {}
  for i, s in ipairs({ ... }) do list[i] = { host = '127.0.0.1', port = s.port } end
  return list
end

-- Fails the test instead of hanging it.
local function guard(ms, what, ...)
  local servers = { ... }
  local t = timer.setTimeout(ms, function()
    for _, s in ipairs(servers) do s.close() end
    error('timed out waiting for ' .. what)
  end)
  return function() timer.clearTimer(t) end
end

-- One server on ZONE, the module pointed at it; `fn(server, finish)`.
local function withServer(expect, fn, options)
  dnsServer.start(ZONE, options, function(server)
    dns.setServers(serverList(server))
    dns.setTimeout(2000)
    local done = guard(5000, 'a DNS answer', server)
    fn(server, expect(function()
      done()
      server.close()
      reset()
    end))
  end)
end

require('tap')(function(test)
  test('exports luvit constants', function()
    assert(dns.TYPE_A == 1 and dns.TYPE_NS == 2 and dns.TYPE_CNAME == 5 and dns.TYPE_PTR == 12)
    assert(dns.TYPE_MX == 15 and dns.TYPE_TXT == 16 and dns.TYPE_AAAA == 28)
    assert(dns.TYPE_SRV == 33 and dns.CLASS_IN == 1)
  end)

  test('resolve4: A answers field by field, tagged with the server', function(expect)
    withServer(expect, function(server, finish)
      local servers = serverList(server)
      dns.setServers(servers)
      dns.resolve4('www.test', expect(function(err, answers)
        assert(not err, tostring(err))
        assert(#answers == 2, #answers)
        local a = answers[1]
        assert(a.address == '192.0.2.1', a.address)
        assert(a.name == 'www.test', a.name)
        assert(a.type == dns.TYPE_A and a.class == dns.CLASS_IN and a.ttl == 60)
        assert(a.server == servers[1], 'server is the table that answered')
        assert(answers[2].address == '192.0.2.2')
        finish()
      end))
    end)
  end)

  test('resolve6: AAAA written as luvit does (every group)', function(expect)
    withServer(expect, function(_, finish)
      dns.resolve6('WWW.test', expect(function(err, answers)
        assert(not err, tostring(err))
        assert(#answers == 1)
        assert(answers[1].address == '2001:db8:0:0:0:0:ab:1', answers[1].address)
        assert(answers[1].type == dns.TYPE_AAAA and answers[1].ttl == 120)
        finish()
      end))
    end)
  end)

  test('resolveMx: preference (and priority) and exchange', function(expect)
    withServer(expect, function(_, finish)
      dns.resolveMx('mail.test', expect(function(err, answers)
        assert(not err, tostring(err))
        assert(#answers == 2)
        assert(answers[1].preference == 10 and answers[1].priority == 10)
        assert(answers[1].exchange == 'mx1.mail.test', answers[1].exchange)
        assert(answers[2].preference == 20 and answers[2].exchange == 'mx2.mail.test')
        assert(answers[1].type == dns.TYPE_MX and answers[1].ttl == 300)
        finish()
      end))
    end)
  end)

  test('resolveSrv: priority, weight, port, target', function(expect)
    withServer(expect, function(_, finish)
      dns.resolveSrv('_sip._tcp.test', expect(function(err, answers)
        assert(not err, tostring(err))
        local a = answers[1]
        assert(#answers == 1 and a.type == dns.TYPE_SRV)
        assert(a.priority == 1 and a.weight == 5 and a.port == 5060 and a.target == 'sip.test')
        assert(a.name == '_sip._tcp.test', a.name)
        finish()
      end))
    end)
  end)

  test('resolveTxt: one string as is, several as a list', function(expect)
    withServer(expect, function(_, finish)
      dns.resolveTxt('www.test', expect(function(err, answers)
        assert(not err, tostring(err))
        assert(#answers == 1 and answers[1].txt == 'v=spf1 -all', answers[1].txt)
        dns.resolveTxt('multi.test', expect(function(err2, answers2)
          assert(not err2, tostring(err2))
          local t = answers2[1].txt
          assert(type(t) == 'table' and #t == 3, type(t))
          assert(t[1] == 'one' and t[2] == 'two' and t[3] == '')
          finish()
        end))
      end))
    end)
  end)

  test('resolveCname: the chain comes back as the server sent it', function(expect)
    withServer(expect, function(_, finish)
      dns.resolveCname('alias.test', expect(function(err, answers)
        assert(not err, tostring(err))
        assert(#answers == 1, #answers)
        assert(answers[1].type == dns.TYPE_CNAME and answers[1].cname == 'www.test')
        assert(answers[1].ttl == 40 and answers[1].name == 'alias.test')
        dns.resolve4('alias.test', expect(function(err2, answers2)
          assert(not err2, tostring(err2))
          assert(#answers2 == 2 and answers2[1].cname == 'www.test')
          assert(answers2[2].name == 'www.test' and answers2[2].address == '192.0.2.1')
          finish()
        end))
      end))
    end)
  end)

  test('resolveNs: nsdname', function(expect)
    withServer(expect, function(_, finish)
      dns.resolveNs('zone.test', expect(function(err, answers)
        assert(not err, tostring(err))
        assert(#answers == 2 and answers[1].nsdname == 'ns1.zone.test')
        assert(answers[2].nsdname == 'ns2.zone.test' and answers[1].type == dns.TYPE_NS)
        finish()
      end))
    end)
  end)

  test('query(servers, name, class, type) asks the given servers', function(expect)
    withServer(expect, function(server, finish)
      dns.setServers({ { host = '127.0.0.1', port = 9 } }) -- not used by query
      local servers = serverList(server)
      dns.query(servers, 'www.test', dns.CLASS_IN, dns.TYPE_A, expect(function(err, answers)
        assert(not err, tostring(err))
        assert(#answers == 2 and answers[1].server == servers[1])
        finish()
      end))
    end)
  end)

  test('a coroutine waits for the answer (utils.adapt)', function(expect)
    withServer(expect, function(_, finish)
      coroutine.wrap(expect(function()
        local answers = dns.resolve4('www.test', coroutine.running())
        assert(answers and answers[1].address == '192.0.2.1')
        local none, err = dns.resolve4('nx.test', coroutine.running())
        assert(none == nil and err and err.code == 3)
        finish()
      end))()
    end)
  end)

  test('IP literals answer themselves', function(expect)
    dns.resolve4('127.0.0.1', expect(function(err, answers)
      assert(not err and answers[1].address == '127.0.0.1' and answers[1].ttl == 0)
    end))
    dns.resolve6('::1', expect(function(err, answers)
      assert(not err and answers[1].address == '::1' and answers[1].type == dns.TYPE_AAAA)
    end))
  end)

  test('NXDOMAIN, SERVFAIL and REFUSED are errors with the response code', function(expect)
    withServer(expect, function(_, finish)
      dns.resolve4('nx.test', expect(function(err, answers)
        assert(err and answers == nil)
        assert(err.code == 3, tostring(err.code))
        assert(err.message:find('name error', 1, true), err.message)
        dns.resolve4('servfail.test', expect(function(err2)
          assert(err2 and err2.code == 2, tostring(err2))
          dns.resolve4('refused.test', expect(function(err3)
            assert(err3 and err3.code == 5 and err3.message:find('refused'), tostring(err3))
            finish()
          end))
        end))
      end))
    end)
  end)

  test('a server that never answers: ETIMEDOUT within the timeout', function(expect)
    dnsServer.start(ZONE, { silent = true }, function(silent)
      local done = guard(5000, 'the timeout', silent)
      dns.setServers(serverList(silent))
      dns.setTimeout(300)
      local t0 = uv.hrtime()
      dns.resolve4('www.test', expect(function(err, answers)
        local ms = (uv.hrtime() - t0) / 1e6
        assert(err and answers == nil)
        assert(err.code == 'ETIMEDOUT', tostring(err.code))
        assert(ms >= 280 and ms < 1500, ms)
        assert(silent.queries == 1, silent.queries)
        done()
        silent.close()
        reset()
      end))
    end)
  end)

  test('the next server answers when the first does not', function(expect)
    dnsServer.start(ZONE, { silent = true }, function(silent)
      dnsServer.start(ZONE, nil, function(good)
        local done = guard(5000, 'the second server', silent, good)
        local servers = serverList(silent, good)
        dns.setServers(servers)
        dns.setTimeout(200)
        local t0 = uv.hrtime()
        dns.resolve4('www.test', expect(function(err, answers)
          local ms = (uv.hrtime() - t0) / 1e6
          assert(not err, tostring(err))
          assert(answers[1].server == servers[2], 'answered by the second server')
          assert(ms >= 180, ms)
          assert(silent.queries == 1 and good.queries == 1)
          done()
          silent.close()
          good.close()
          reset()
        end))
      end)
    end)
  end)

  test('SERVFAIL moves on to the next server; the last failure is reported', function(expect)
    dnsServer.start({ rcode = 2 }, nil, function(failing)
      dnsServer.start(ZONE, nil, function(good)
        local done = guard(5000, 'the second server', failing, good)
        local servers = serverList(failing, good)
        dns.query(servers, 'www.test', dns.CLASS_IN, dns.TYPE_A, expect(function(err, answers)
          assert(not err, tostring(err))
          assert(answers[1].server == servers[2] and failing.queries == 1)
          dns.query({ servers[1], servers[1] }, 'www.test', dns.CLASS_IN, dns.TYPE_A,
            expect(function(err2)
              assert(err2 and err2.code == 2 and failing.queries == 3, tostring(err2))
              done()
              failing.close()
              good.close()
            end))
        end))
      end)
    end)
  end)

  test('a closed port (ECONNREFUSED) moves on to the next server', function(expect)
    local closed = dgram.createSocket('udp4')
    closed:bind(0, '127.0.0.1')
    local port = closed:address().port
    closed:close()
    dnsServer.start(ZONE, nil, function(good)
      local done = guard(5000, 'the second server', good)
      dns.query({ { host = '127.0.0.1', port = port }, { host = '127.0.0.1', port = good.port } },
        'www.test', dns.CLASS_IN, dns.TYPE_A, expect(function(err, answers)
          assert(not err, tostring(err))
          assert(answers[1].server.port == good.port)
          done()
          good.close()
        end))
    end)
  end)

  test('a truncated UDP answer is asked again over TCP', function(expect)
    withServer(expect, function(server, finish)
      dns.resolve4('big.test', expect(function(err, answers)
        assert(not err, tostring(err))
        assert(#answers == 2 and answers[2].address == '203.0.113.2')
        assert(server.queries == 1 and server.tcpQueries == 1)
        finish()
      end))
    end)
  end)

  test('tcp = true servers are asked over TCP only', function(expect)
    withServer(expect, function(server, finish)
      dns.setServers({ { host = '127.0.0.1', port = server.port, tcp = true } })
      dns.resolveMx('mail.test', expect(function(err, answers)
        assert(not err, tostring(err))
        assert(#answers == 2 and server.queries == 0 and server.tcpQueries == 1)
        finish()
      end))
    end)
  end)

  test('replies with another id are ignored', function(expect)
    withServer(expect, function(_, finish)
      dns.resolve4('wrongid.test', expect(function(err, answers)
        assert(not err, tostring(err))
        assert(answers[1].address == '198.51.100.7')
        finish()
      end))
    end)
  end)

  test('a malformed answer is an error, not a crash', function(expect)
    withServer(expect, function(_, finish)
      dns.resolve4('malformed.test', expect(function(err)
        assert(err and err.code == 'EBADRESP', tostring(err))
        finish()
      end))
    end)
  end)

  test('every cut of a good answer is an answer or an error', function(expect)
    local cut
    local finished = expect(function() end)
    dnsServer.start(ZONE, { mangle = function(reply)
      if #reply > 12 + cut then return reply:sub(1, 12 + cut) end
      return reply
    end }, function(server)
      local done = guard(20000, 'the cut answers', server)
      dns.setServers(serverList(server))
      dns.setTimeout(200)
      local errors = 0
      local function step(n)
        if n > 100 then
          assert(errors > 10, errors)
          finished()
          done()
          server.close()
          reset()
          return
        end
        cut = n
        dns.resolveMx('mail.test', function(err, answers)
          assert(err or type(answers) == 'table')
          if err then errors = errors + 1 end
          step(n + 1)
        end)
      end
      step(0)
    end)
  end)

  test('bad names and arguments', function(expect)
    withServer(expect, function(_, finish)
      assert(not pcall(dns.resolve4, 42, function() end))
      assert(not pcall(dns.setServers, 'x'))
      assert(not pcall(dns.setServers, { { port = 53 } }))
      assert(not pcall(dns.setTimeout, -1))
      dns.resolve4('a..b', expect(function(err)
        assert(err and err.code == 'EBADNAME', tostring(err))
        finish()
      end))
    end)
  end)

  test('loadResolver reads nameservers and options timeout from resolv.conf', function(expect)
    local dir = fs.mkdtempSync('/tmp/luvit-test-dns-')
    local file = dir .. '/resolv.conf'
    fs.writeFileSync(file, table.concat({
      '# a comment',
      'search example.org',
      'nameserver 127.0.0.1',
      '; another comment',
      'nameserver ::1',
      'nameserver   192.0.2.53 # trailing',
      'options ndots:2 timeout:1 attempts:3',
      '',
    }, '\n'))
    local servers = dns.loadResolver({ file = file })
    assert(#servers == 3, #servers)
    assert(servers[1].host == '127.0.0.1' and servers[1].port == 53)
    assert(servers[2].host == '::1' and servers[3].host == '192.0.2.53')
    assert(dns.loadResolver({ file = dir .. '/missing' }) == nil)
    fs.unlinkSync(file)
    fs.rmdirSync(dir)
    -- The timeout read (1 s) is the one used.
    dnsServer.start(ZONE, { silent = true }, function(silent)
      local done = guard(5000, 'the timeout', silent)
      dns.setServers(serverList(silent))
      dns.resolve4('www.test', expect(function(err)
        assert(err and err.code == 'ETIMEDOUT' and err.message:find('1000 ms'), tostring(err))
        done()
        silent.close()
        reset()
      end))
    end)
  end)

  test('lookup: localhost through getaddrinfo', function(expect)
    dns.lookup('localhost', expect(function(err, address, family)
      assert(not err, tostring(err))
      assert((address == '127.0.0.1' and family == 4) or (address == '::1' and family == 6),
        tostring(address))
    end))
    dns.lookup('localhost', 4, expect(function(err, address, family)
      assert(not err and address == '127.0.0.1' and family == 4, tostring(address))
    end))
    dns.lookup('127.0.0.1', { all = true }, expect(function(err, list)
      assert(not err and #list >= 1 and list[1].address == '127.0.0.1' and list[1].family == 4)
    end))
    dns.lookup('no-such-host.invalid', expect(function(err, address)
      assert(err and address == nil and type(err.code) == 'string', tostring(err))
    end))
  end)
end)
