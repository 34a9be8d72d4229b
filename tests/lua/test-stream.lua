local stream = require('stream')
local core = require('core')
local timer = require('timer')

local Readable, Writable, Duplex = stream.Readable, stream.Writable, stream.Duplex
local Transform, PassThrough, Observable = stream.Transform, stream.PassThrough, stream.Observable

-- A Readable that serves the given chunks, one push per _read (nil ends it).
local function fromList(chunks, options)
  local r = Readable:new(options)
  local i = 0
  r.reads = 0
  function r:_read()
    self.reads = self.reads + 1
    i = i + 1
    self:push(chunks[i])
  end
  return r
end

-- A Writable that records what it gets. delay: nil = synchronous callbacks, a number = the
-- callback comes after that many ms.
local function collector(options, delay)
  local w = Writable:new(options)
  w.chunks = {}
  function w:_write(chunk, cb)
    self.chunks[#self.chunks + 1] = chunk
    if delay then timer.setTimeout(delay, cb) else cb() end
  end
  return w
end

require('tap')(function(test)
  test('the module exposes the streams2 classes with the right ancestry', function()
    for _, name in ipairs({ 'Stream', 'Readable', 'Writable', 'Duplex', 'Transform',
      'PassThrough', 'Observable' }) do
      assert(type(stream[name]) == 'table', name)
    end
    assert(core.instanceof(Readable:new(), stream.Stream))
    assert(core.instanceof(Writable:new(), core.Emitter))
    local d = Duplex:new()
    assert(core.instanceof(d, Readable) and d.write == Writable.write and d._end == Writable._end)
    assert(core.instanceof(PassThrough:new(), Transform))
    assert(core.instanceof(Observable:new(), Transform))
  end)

  test("a 'data' listener switches to flowing mode: chunks in order, then 'end'", function(expect)
    local r = fromList({ 'a', 'b', 'c' })
    local got = {}
    local sync = true
    r:on('data', function(chunk)
      assert(not sync, "data flows on a later tick, not inside on('data')")
      got[#got + 1] = chunk
    end)
    r:on('end', expect(function()
      assert(table.concat(got) == 'abc', table.concat(got, ','))
      assert(r.readable == false)
    end))
    sync = false
  end)

  test("paused mode: 'readable' then read() hands out what is buffered", function(expect)
    local r = Readable:new()
    r._read = function() end
    r:push('hello ')
    r:push('world')
    r:on('readable', expect(function()
      local all = r:read()
      assert(all == 'hello world', tostring(all))
      assert(r:read() == nil, 'nothing left')
    end))
  end)

  test('read(n) returns exactly n bytes across chunks, or nil until n are there', function()
    local r = Readable:new()
    r._read = function() end
    r:push('abc')
    r:push('defg')
    assert(r:read(2) == 'ab')
    assert(r:read(3) == 'cde', 'spans two chunks')
    assert(r:read(5) == nil, 'only 2 bytes buffered and not ended')
    assert(r._readableState.length == 2)
    r:push(nil)
    assert(r:read(5) == 'fg', 'after the end, what is left')
  end)

  test("read() past the end emits 'end' once, on a later tick", function(expect)
    local r = Readable:new()
    r._read = function() end
    r:push('x')
    r:push(nil)
    local ended = 0
    r:on('end', expect(function() ended = ended + 1 end))
    assert(r:read() == 'x')
    assert(r:read() == nil)
    assert(ended == 0, "'end' waits for the next tick")
  end)

  test('read() also emits its result as data (luvit)', function(expect)
    local r = Readable:new()
    r._read = function() end
    r:pause()
    r:push('chunk')
    r:on('data', expect(function(chunk) assert(chunk == 'chunk') end))
    assert(r:read() == 'chunk')
  end)

  test('push returns false at highWaterMark and _read is not called again until read', function(expect)
    local r = Readable:new({ highWaterMark = 4 })
    local reads = 0
    function r:_read(n)
      reads = reads + 1
      assert(n == 4, 'asked for highWaterMark bytes')
      if reads > 1 then return end
      assert(self:push('xx') == true, 'below the mark: more wanted')
      assert(self:push('yy') == false, 'at the mark: stop')
    end
    r:read(0)
    assert(reads == 1 and r._readableState.length == 4)
    timer.setTimeout(5, expect(function()
      assert(reads == 1, '_read is not called while the buffer is full: ' .. reads)
      assert(r:read(3) == 'xxy')
      assert(reads == 2, 'dropping below the mark reads more')
    end))
  end)

  test('read(n) above highWaterMark raises the mark to the next power of two', function()
    local r = Readable:new({ highWaterMark = 4 })
    r._read = function() end
    assert(r:read(100) == nil)
    assert(r._readableState.highWaterMark == 128, r._readableState.highWaterMark)
  end)

  test("pause stops 'data', resume restarts it; isPaused and the events", function(expect)
    local r = Readable:new()
    r._read = function() end
    local got = {}
    r:on('data', function(chunk) got[#got + 1] = chunk end)
    r:on('pause', expect(function() end))
    r:on('resume', expect(function() end, 2))
    assert(not r:isPaused())
    r:push('1')
    process.nextTick(function()
      assert(#got == 1)
      r:pause()
      assert(r:isPaused())
      r:push('2')
      timer.setTimeout(5, expect(function()
        assert(#got == 1, 'no data while paused')
        r:resume()
        assert(not r:isPaused())
        process.nextTick(expect(function()
          assert(#got == 2 and got[2] == '2', table.concat(got, ','))
        end))
      end))
    end)
  end)

  test("a 'data' listener added to an explicitly paused stream does not resume it", function(expect)
    local r = Readable:new()
    r._read = function() end
    r:pause()
    r:push('z')
    r:on('data', function() error('data while paused') end)
    timer.setTimeout(5, expect(function() assert(r:isPaused()) end))
  end)

  test('unshift puts a chunk back in front of the buffer', function()
    local r = Readable:new()
    r._read = function() end
    r:push('world')
    local head = r:read(3)
    assert(head == 'wor')
    r:unshift(head)
    r:unshift('hello ')
    assert(r:read() == 'hello world')
  end)

  test('objectMode: any values, one per read, highWaterMark counts objects', function(expect)
    local r = Readable:new({ objectMode = true, highWaterMark = 2 })
    r._read = function() end
    local obj = { n = 1 }
    assert(r:push(obj) == true)
    assert(r:push(42) == false, 'the second object reaches highWaterMark 2')
    assert(r:read() == obj and r:read() == 42)
    local w = Writable:new({ objectMode = true })
    function w:_write(chunk, cb)
      assert(type(chunk) == 'table' and chunk.k == 'v')
      cb()
    end
    w:write({ k = 'v' }, expect(function(err) assert(err == nil) end))
  end)

  test("pushing a non-string without objectMode is an 'error'", function(expect)
    local r = Readable:new()
    r._read = function() end
    r:on('error', expect(function(err)
      assert(tostring(err):find('Invalid non%-string'), tostring(err))
    end))
    r:push({})
    assert(r._readableState.length == 0)
  end)

  test("push after EOF is an 'error'", function(expect)
    local r = Readable:new()
    r._read = function() end
    r:push(nil)
    r:on('error', expect(function(err)
      assert(tostring(err):find('after EOF'), tostring(err))
    end))
    r:push('late')
  end)

  test('a Readable without _read reports it as an error', function(expect)
    local r = Readable:new()
    r:on('error', expect(function(err) assert(tostring(err):find('not implemented')) end))
    r:read(0)
  end)

  test("setEncoding('utf8') never splits a multi-byte character between chunks", function(expect)
    local r = Readable:new()
    r._read = function() end
    assert(r:setEncoding('utf8') == r)
    local euro = '\226\130\172' -- U+20AC in three bytes
    local got = {}
    r:on('data', function(chunk) got[#got + 1] = chunk end)
    r:push('a' .. euro:sub(1, 1))
    r:push(euro:sub(2, 3) .. 'b')
    r:push(euro:sub(1, 2))
    r:push(nil)
    r:on('end', expect(function()
      assert(got[1] == 'a', got[1])
      assert(got[2] == euro .. 'b', got[2])
      assert(got[3] == euro:sub(1, 2), 'an unfinished tail is flushed at the end')
    end))
    assert(not pcall(r.setEncoding, r, 'klingon'))
  end)

  test('write calls _write one chunk at a time, in order, and runs the callbacks', function(expect)
    local w = Writable:new()
    local active, got = 0, {}
    function w:_write(chunk, cb)
      active = active + 1
      assert(active == 1, 'never two writes at once')
      got[#got + 1] = chunk
      timer.setTimeout(1, function()
        active = active - 1
        cb()
      end)
    end
    local done = 0
    for i = 1, 3 do
      w:write('c' .. i, expect(function(err)
        assert(err == nil)
        done = done + 1
        assert(done == i, 'callbacks in order')
      end))
    end
    w:_end(expect(function()
      assert(table.concat(got, ',') == 'c1,c2,c3')
    end))
  end)

  test("write returns false at highWaterMark; 'drain' once everything is written", function(expect)
    local w = collector({ highWaterMark = 5 }, 1)
    assert(w:write('abc') == true)
    assert(w:write('de') == false, '5 pending bytes reach the mark')
    assert(w:write('f') == false)
    w:on('drain', expect(function()
      assert(w._writableState.length == 0)
      assert(table.concat(w.chunks) == 'abcdef')
    end))
  end)

  test("a synchronous _write still emits 'drain' after write() has returned", function(expect)
    local w = collector({ highWaterMark = 1 })
    local returned = false
    w:on('drain', expect(function() assert(returned) end))
    assert(w:write('x') == false)
    returned = true
  end)

  test("_end(chunk, cb): last write, 'finish' after every callback, cb on finish", function(expect)
    local w = collector(nil, 1)
    local order = {}
    w:write('a', function() order[#order + 1] = 'cb-a' end)
    w:on('prefinish', expect(function() order[#order + 1] = 'prefinish' end))
    w:on('finish', expect(function() order[#order + 1] = 'finish' end))
    w:on('end', expect(function() end)) -- luvit: a plain Writable emits 'end' on _end()
    w:_end('b', expect(function()
      order[#order + 1] = 'end-cb'
      assert(table.concat(w.chunks) == 'ab')
      assert(table.concat(order, ',') == 'cb-a,prefinish,finish,end-cb', table.concat(order, ','))
    end))
    assert(w._writableState.ending)
    w:_end() -- a second _end is ignored
  end)

  test("write after _end is an 'error' and the callback gets it", function(expect)
    local w = collector()
    w:_end()
    w:on('error', expect(function(err) assert(tostring(err) == 'write after end') end))
    assert(w:write('late', expect(function(err) assert(tostring(err) == 'write after end') end)) == false)
  end)

  test("an error passed to the _write callback becomes an 'error' event", function(expect)
    local w = Writable:new()
    function w:_write(_, cb) cb('disk full') end
    w:on('error', expect(function(err) assert(err == 'disk full') end))
    w:write('x', expect(function(err) assert(err == 'disk full') end))
  end)

  test('cork queues writes; uncork hands them to _writev in one call', function(expect)
    local w = Writable:new()
    local batches = {}
    function w:_write() error('_write must not be used for a batch') end
    function w:_writev(entries, cb)
      local chunks = {}
      for i, e in ipairs(entries) do chunks[i] = e.chunk end
      batches[#batches + 1] = table.concat(chunks, '+')
      cb()
    end
    w:cork()
    w:write('a', expect(function() end))
    w:write('b', expect(function() end))
    w:write('c', expect(function() end))
    assert(#batches == 0, 'nothing is written while corked')
    w:uncork()
    assert(batches[1] == 'a+b+c', tostring(batches[1]))
    w:on('finish', expect(function() end))
    w:_end()
  end)

  test('uncork without _writev writes the queued chunks one by one; _end uncorks', function(expect)
    local w = collector()
    w:cork()
    w:cork()
    w:write('1')
    w:write('2')
    w:uncork()
    assert(#w.chunks == 0, 'still corked once')
    w:on('finish', expect(function()
      assert(table.concat(w.chunks, ',') == '1,2')
    end))
    w:_end()
  end)

  test('a Writable cannot be piped from', function(expect)
    local w = collector()
    w:on('error', expect(function(err) assert(tostring(err):find('Not readable')) end))
    w:pipe(collector())
  end)

  test("pipe moves everything, honours backpressure, ends dest; dest gets 'pipe'", function(expect)
    local chunks = {}
    for i = 1, 20 do chunks[i] = string.rep(string.char(64 + i), 10) end
    local src = fromList(chunks, { highWaterMark = 16 })
    local dest = collector({ highWaterMark = 25 }, 1)
    local maxPending, pauses = 0, 0
    local write = dest.write
    function dest.write(self, chunk, cb)
      local ok = write(self, chunk, cb)
      maxPending = math.max(maxPending, self._writableState.length)
      return ok
    end
    src:on('pause', function() pauses = pauses + 1 end)
    dest:on('pipe', expect(function(s) assert(s == src) end))
    dest:on('finish', expect(function()
      assert(table.concat(dest.chunks) == table.concat(chunks), 'all data, in order')
      assert(pauses > 0, 'the source was paused when write returned false')
      assert(maxPending <= 30, 'the source waited for drain: ' .. maxPending)
    end))
    assert(src:pipe(dest) == dest, 'pipe returns dest for chaining')
  end)

  test('pipe with { _end = false } leaves the destination open', function(expect)
    local src = fromList({ 'x', 'y' })
    local dest = collector()
    dest:on('finish', function() error('dest must not be ended') end)
    src:on('end', expect(function()
      process.nextTick(expect(function()
        assert(table.concat(dest.chunks) == 'xy')
        assert(not dest._writableState.ending)
      end))
    end))
    src:pipe(dest, { _end = false })
  end)

  test("unpipe stops the data, emits 'unpipe' on dest and pauses the source", function(expect)
    local src = Readable:new()
    src._read = function() end
    local dest = collector()
    dest:on('unpipe', expect(function(s) assert(s == src) end))
    src:pipe(dest)
    src:push('first')
    timer.setTimeout(2, expect(function()
      assert(table.concat(dest.chunks) == 'first')
      src:unpipe(dest)
      assert(src._readableState.pipesCount == 0 and src:isPaused())
      src:push('second')
      timer.setTimeout(2, expect(function()
        assert(#dest.chunks == 1, 'nothing after unpipe')
        assert(src:listenerCount('data') == 0, 'pipe listeners removed')
      end))
    end))
  end)

  test('a source piped into two destinations feeds both', function(expect)
    local src = fromList({ 'p', 'q' })
    local d1, d2 = collector(), collector(nil, 1)
    d1:on('finish', expect(function() assert(table.concat(d1.chunks) == 'pq') end))
    d2:on('finish', expect(function() assert(table.concat(d2.chunks) == 'pq') end))
    src:pipe(d1)
    src:pipe(d2)
  end)

  test('an error on the destination unpipes it and reaches its error listener', function(expect)
    local src = Readable:new()
    src._read = function() end
    local dest = Writable:new()
    function dest:_write(_, cb) cb('broken') end
    dest:on('error', expect(function(err) assert(err == 'broken') end))
    dest:on('unpipe', expect(function() end))
    src:pipe(dest)
    src:push('data')
  end)

  test('Duplex: independent readable and writable sides', function(expect)
    local d = Duplex:new()
    local written = {}
    function d:_write(chunk, cb)
      written[#written + 1] = chunk
      cb()
    end
    function d:_read() end
    d:push('out')
    d:push(nil)
    d:on('data', expect(function(chunk) assert(chunk == 'out') end))
    d:on('end', expect(function() end))
    d:write('in')
    d:_end(expect(function() assert(written[1] == 'in') end))
    assert(d.allowHalfOpen == true)
  end)

  test('Duplex with allowHalfOpen = false ends writing when reading ends', function(expect)
    local d = Duplex:new({ allowHalfOpen = false })
    d._write = function(_, _, cb) cb() end
    d._read = function() end
    d:on('finish', expect(function() end))
    d:on('data', function() end)
    d:push(nil)
  end)

  test('Duplex objectMode can be set for one side only', function()
    local d = Duplex:new({ readableObjectMode = true })
    assert(d._readableState.objectMode == true and d._writableState.objectMode == false)
    d = Duplex:new({ writableObjectMode = true })
    assert(d._readableState.objectMode == false and d._writableState.objectMode == true)
  end)

  test('Transform: _transform pushes output, _flush adds a trailer, then end', function(expect)
    local Upper = Transform:extend()
    function Upper:_transform(chunk, cb)
      self:push(chunk:upper())
      cb()
    end
    function Upper:_flush(cb)
      assert(self.isUpper, '_flush declared as a method gets self')
      self:push('!')
      cb()
    end
    local t = Upper:new()
    t.isUpper = true
    local out = {}
    t:on('data', function(chunk) out[#out + 1] = chunk end)
    t:on('end', expect(function()
      assert(table.concat(out) == 'HELLO WORLD!', table.concat(out))
    end))
    t:write('hello ')
    t:_end('world')
  end)

  test('Transform: callback(nil, data) pushes data; a chunk may become several', function(expect)
    local t = Transform:new()
    function t:_transform(chunk, cb)
      for c in chunk:gmatch('.') do self:push(c) end
      cb(nil, '|')
    end
    local out = {}
    t:on('data', function(chunk) out[#out + 1] = chunk end)
    t:on('end', expect(function()
      assert(table.concat(out, ' ') == 'a b | c |', table.concat(out, ' '))
    end))
    t:write('ab')
    t:write('c')
    t:_end()
  end)

  test('Transform: luvit-style _flush(callback) receives the callback first', function(expect)
    local t = Transform:new()
    function t:_transform(chunk, cb) cb(nil, chunk) end
    t._flush = function(callback)
      assert(type(callback) == 'function')
      callback(nil, 'tail')
    end
    local out = {}
    t:on('data', function(c) out[#out + 1] = c end)
    t:on('end', expect(function() assert(table.concat(out) == 'bodytail') end))
    t:_end('body')
  end)

  test('Transform: unread output holds back input (backpressure reaches the writer)', function(expect)
    local t = PassThrough:new({ highWaterMark = 4 })
    local results = {}
    for i = 1, 6 do results[i] = t:write('ab') end
    assert(results[1] == true and results[6] == false, 'writes report a full pipeline')
    assert(t._readableState.length <= 8, 'not everything was transformed yet')
    local out = {}
    t:on('data', function(chunk) out[#out + 1] = chunk end)
    t:on('end', expect(function()
      assert(table.concat(out) == string.rep('ab', 6), 'all of it comes out once read')
    end))
    t:_end()
  end)

  test('a transform error reaches the error listener', function(expect)
    local t = Transform:new()
    function t:_transform(_, cb) cb('bad input') end
    t:on('error', expect(function(err) assert(err == 'bad input') end))
    t:write('x')
  end)

  test('PassThrough in a pipe chain: source -> pass -> sink', function(expect)
    local src = fromList({ 'one ', 'two ', 'three' })
    local sink = collector(nil, 1)
    sink:on('finish', expect(function()
      assert(table.concat(sink.chunks) == 'one two three', table.concat(sink.chunks))
    end))
    src:pipe(PassThrough:new()):pipe(sink)
  end)

  test('Observable passes data through and observers get a copy and the end', function(expect)
    local o = Observable:new()
    local watcher = o:observe()
    local seen, out = {}, {}
    watcher:on('data', function(chunk) seen[#seen + 1] = chunk end)
    watcher:on('end', expect(function() assert(table.concat(seen) == 'xyz') end))
    o:on('data', function(chunk) out[#out + 1] = chunk end)
    o:on('end', expect(function() assert(table.concat(out) == 'xyz') end))
    o:write('x')
    o:write('yz')
    o:_end()
  end)

  test('legacy Stream:pipe forwards data, pauses on false, resumes on drain, ends', function(expect)
    local old = stream.Stream:new()
    old.readable = true
    local paused = 0
    function old:pause() paused = paused + 1 end
    old.resume = expect(function()
      assert(paused == 1, 'write returned false: the source was paused')
      old:emit('data', 'cd')
      old:emit('end')
    end)
    local dest = collector({ highWaterMark = 2 }, 1)
    dest:on('finish', expect(function()
      assert(table.concat(dest.chunks) == 'abcd')
    end))
    old:pipe(dest)
    old:emit('data', 'ab')
  end)

  test('Readable:wrap reads an old-style stream', function(expect)
    local old = core.Emitter:new()
    function old:pause() end
    function old:resume() end
    local r = Readable:new():wrap(old)
    local got = {}
    r:on('data', function(chunk) got[#got + 1] = chunk end)
    r:on('end', expect(function() assert(table.concat(got) == 'oldnew') end))
    old:emit('data', 'old')
    old:emit('data', 'new')
    old:emit('end')
  end)

  test("destroy: 'error' (when given) then 'close', and the stream stops", function(expect)
    local r = Readable:new()
    r._read = function() end
    local order = {}
    r:on('error', expect(function(err)
      assert(err == 'gone')
      order[#order + 1] = 'error'
    end))
    r:on('close', expect(function()
      order[#order + 1] = 'close'
      assert(table.concat(order, ',') == 'error,close')
      assert(r:push('more') == false and r:read() == nil)
    end))
    r:destroy('gone')
    r:destroy('twice') -- only the first counts
    local w = collector()
    w:on('close', expect(function() end))
    w:destroy()
    w:write('x', expect(function(err) assert(tostring(err):find('destroy')) end))
  end)
end)
