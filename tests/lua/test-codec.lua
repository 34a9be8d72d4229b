local codec = require('codec')
local Emitter = require('core').Emitter
local timer = require('timer')
local uv = require('uv')

-- Runs fn in a new coroutine (errors surface with the coroutine's traceback).
local function spawn(fn, ...)
  local co = coroutine.create(fn)
  local ok, err = coroutine.resume(co, ...)
  if not ok then error(debug.traceback(co, tostring(err)), 0) end
  return co
end

-- A stand-in for a uv stream handle: records what is done to it; test code plays the
-- peer by calling h.onread(err, chunk) and h.finishWrite().
local function fakeHandle()
  local h = { written = {}, pending = {}, closing = false, reading = false, starts = 0 }
  function h:read_start(cb)
    self.reading, self.onread, self.starts = true, cb, self.starts + 1
    return 0
  end
  function h:read_stop()
    self.reading = false
    return 0
  end
  function h:write(chunk, cb)
    self.written[#self.written + 1] = chunk
    self.pending[#self.pending + 1] = cb
    return 0
  end
  function h:finishWrite(err)
    table.remove(self.pending, 1)(err)
  end
  function h:shutdown(cb)
    self.shut = true
    timer.setImmediate(cb)
    return 0
  end
  function h:is_closing() return self.closing end
  function h:close() self.closing = true end
  return h
end

require('tap')(function(test)
  test('chain connects stages: each write feeds the next read, in order', function()
    local inputs, outputs = { 'a', 'b', 'c' }, {}
    local i = 0
    local function read() i = i + 1; return inputs[i] end
    local function write(value) outputs[#outputs + 1] = value end
    local function upper(r, w)
      for item in r do w(item:upper()) end
      w()
    end
    local function double(r, w)
      for item in r do w(item); w(item) end
      w()
    end
    codec.chain(upper, double)(read, write)
    assert(table.concat(outputs, ',') == 'A,A,B,B,C,C', table.concat(outputs, ','))
  end)

  test('chain with one stage connects it straight to read and write', function()
    local outputs = {}
    codec.chain(function(r, w)
      w(r() .. '!')
    end)(function() return 'x' end, function(v) outputs[#outputs + 1] = v end)
    assert(outputs[1] == 'x!')
  end)

  test('chain passes several values per write, nils included', function()
    local seen
    codec.chain(function(_, w) w('k', nil, 'v') end, function(r)
      seen = { n = select('#', r()), r }
    end)(function() end, function() end)
    local count = 0
    codec.chain(function(_, w) w('k', nil, 'v') end, function(r)
      local a, b, c = r()
      count = select('#', r)
      seen = { a, b, c }
    end)(function() end, function() end)
    assert(seen[1] == 'k' and seen[2] == nil and seen[3] == 'v')
    assert(count == 1)
  end)

  test('wrapEmitter: emitter:write feeds read() in order; drain; shutdown ends it', function(expect)
    local e = Emitter:new()
    local read = codec.wrapEmitter(e)
    local drains = 0
    e:on('drain', function() drains = drains + 1 end)
    assert(e:write('e1') == false, 'nobody is reading yet: queued')
    assert(e:write('e2') == false)
    local got = {}
    spawn(function()
      for item in read do got[#got + 1] = item end
      assert(table.concat(got, ',') == 'e1,e2,e3', table.concat(got, ','))
    end)
    assert(drains == 1, 'the queue emptied once: ' .. drains)
    timer.setImmediate(expect(function()
      assert(e:write('e3') == true, 'a reader was waiting: handed over directly')
      e:shutdown()
      assert(#got == 3)
    end))
  end)

  test("wrapEmitter: write emits 'data' / 'end'; pause makes the writer wait for resume", function(expect)
    local e = Emitter:new()
    local _, write = codec.wrapEmitter(e)
    local data = {}
    e:on('data', function(d) data[#data + 1] = d end)
    e:on('end', expect(function()
      assert(table.concat(data, ',') == 'w1,w2', table.concat(data, ','))
    end))
    local writer = spawn(function()
      write('w1')
      e:pause()
      write('w2')
      write()
    end)
    assert(#data == 1 and coroutine.status(writer) == 'suspended', 'waiting while paused')
    timer.setImmediate(expect(function()
      e:resume()
      assert(#data == 2 and coroutine.status(writer) == 'dead')
    end))
  end)

  test('wrapEmitter read outside a coroutine with nothing queued is an error', function(expect)
    local e = Emitter:new()
    local read = codec.wrapEmitter(e)
    -- Loop callbacks run on the main thread (the script itself runs in a coroutine).
    timer.setImmediate(expect(function()
      local ok, err = pcall(read)
      assert(not ok and tostring(err):find('coroutine'), tostring(err))
      e:write('queued')
      assert(read() == 'queued', 'queued data needs no coroutine')
    end))
  end)

  test('wrapStream read: starts reading on demand, queues and stops while unread, nil at EOF', function(expect)
    local h = fakeHandle()
    local read = codec.wrapStream(h)
    assert(h.starts == 0, 'nothing is read before read() is called')
    local got = {}
    local reader = spawn(function()
      got[#got + 1] = read()
      assert(h.reading, 'reading started')
      coroutine.yield() -- let the test push more while nobody is in read()
      got[#got + 1] = read()
      got[#got + 1] = read()
      got[#got + 1] = tostring(read())
    end)
    h.onread(nil, 'one')
    assert(got[1] == 'one')
    h.onread(nil, 'two')
    assert(not h.reading, 'an unread chunk stops the reading')
    h.onread(nil, nil) -- EOF while nobody waits: queued too
    assert(coroutine.resume(reader))
    assert(table.concat(got, ',') == 'one,two,nil', table.concat(got, ','))
    local after = 'unset'
    spawn(function() after = read() end)
    assert(after == nil, 'reads after EOF return nil at once')
    timer.setImmediate(expect(function() end))
  end)

  test('wrapStream read returns nil and the error on a read error', function()
    local h = fakeHandle()
    local read = codec.wrapStream(h)
    local a, b
    spawn(function() a, b = read() end)
    h.onread('ECONNRESET', nil)
    assert(a == nil and b == 'ECONNRESET')
  end)

  test('wrapStream write waits until the chunk is written; errors come back', function()
    local h = fakeHandle()
    local _, write = codec.wrapStream(h)
    local results = {}
    local writer = spawn(function()
      results[1] = write('first')
      results[2], results[3] = write('second')
    end)
    assert(h.written[1] == 'first' and #h.written == 1, 'the second write waits for the first')
    assert(coroutine.status(writer) == 'suspended')
    h:finishWrite()
    assert(results[1] == true and h.written[2] == 'second')
    h:finishWrite('EPIPE')
    assert(results[2] == nil and results[3] == 'EPIPE')
    assert(coroutine.status(writer) == 'dead')
  end)

  test('wrapStream closes the handle once both EOF and write(nil) happened', function(expect)
    local h = fakeHandle()
    local read, write = codec.wrapStream(h)
    spawn(function()
      assert(read() == nil)
      assert(not h.closing, 'still writable')
      assert(write() == true, 'shutdown completed')
      assert(h.shut and h.closing, 'shut down, then closed')
    end)
    h.onread(nil, nil)
    timer.setImmediate(expect(function() assert(h.closing) end))
  end)

  test('wrapStream outside a coroutine: write does not wait', function(expect)
    local h = fakeHandle()
    local _, write = codec.wrapStream(h)
    timer.setImmediate(expect(function()
      assert(write('sync') == true and h.written[1] == 'sync')
      h:finishWrite()
    end))
  end)

  test('wrapStream over TCP: an upper-casing echo server and a client', function(expect)
    local server = uv.new_tcp()
    assert(server:bind('127.0.0.1', 0))
    server:listen(16, expect(function(err)
      assert(not err, err)
      local conn = uv.new_tcp()
      assert(server:accept(conn))
      spawn(function()
        local read, write = codec.wrapStream(conn)
        for chunk in read do write(chunk:upper()) end
        write()
        server:close()
      end)
    end))
    local port = server:getsockname().port
    local client = uv.new_tcp()
    client:connect('127.0.0.1', port, expect(function(err)
      assert(not err, err)
      spawn(function()
        local read, write = codec.wrapStream(client)
        assert(write('hello ') == true)
        assert(write('world') == true)
        write()
        local parts = {}
        for chunk in read do parts[#parts + 1] = chunk end
        assert(table.concat(parts) == 'HELLO WORLD', table.concat(parts))
      end)
    end))
  end)

  test('wrapStream + chain: a line splitter stage over a socket', function(expect)
    local server = uv.new_tcp()
    assert(server:bind('127.0.0.1', 0))
    server:listen(16, expect(function()
      local conn = uv.new_tcp()
      assert(server:accept(conn))
      spawn(function()
        local read, write = codec.wrapStream(conn)
        write('alpha\nbe')
        write('ta\ngamma\n')
        write()
        for _ in read do end -- until the client hangs up; then the handle closes itself
        assert(conn:is_closing())
        server:close()
      end)
    end))
    local client = uv.new_tcp()
    client:connect('127.0.0.1', server:getsockname().port, expect(function()
      local lines = {}
      local function splitLines(read, write)
        local buffer = ''
        for chunk in read do
          buffer = buffer .. chunk
          while true do
            local line, rest = buffer:match('^([^\n]*)\n(.*)$')
            if not line then break end
            write(line)
            buffer = rest
          end
        end
        write()
      end
      local function collect(read)
        for line in read do lines[#lines + 1] = line end
        assert(table.concat(lines, ',') == 'alpha,beta,gamma', table.concat(lines, ','))
        client:close()
      end
      spawn(function()
        local read = codec.wrapStream(client)
        codec.chain(splitLines, collect)(read, function() end)
      end)
    end))
  end)
end)
