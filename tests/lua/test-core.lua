local core = require('core')
local Object, Emitter, Error, instanceof = core.Object, core.Emitter, core.Error, core.instanceof

require('tap')(function(test)
  test('Class:new makes distinct instances and calls initialize with its arguments', function()
    local Point = Object:extend()
    function Point:initialize(x, y)
      self.x, self.y = x, y
    end
    function Point:sum() return self.x + self.y end
    local a, b = Point:new(1, 2), Point:new(1, 2)
    assert(a ~= b, 'each new() makes a new table')
    assert(a:sum() == 3 and b.x == 1 and b.y == 2)
    assert(getmetatable(a) == Point.meta, "an instance's metatable is its class's meta")
    assert(Point.meta.__index == Point)
  end)

  test('extend: subclasses inherit methods, meta.super and .super name the parent', function()
    local Animal = Object:extend()
    function Animal:initialize(name) self.name = name end
    function Animal:speak() return self.name .. ' makes a sound' end
    local Dog = Animal:extend()
    function Dog:speak() return self.name .. ' barks' end
    local Puppy = Dog:extend()
    local pup = Puppy:new('rex')
    assert(pup.name == 'rex', 'initialize is inherited')
    assert(pup:speak() == 'rex barks', 'the nearest override wins')
    assert(Animal:new('cat'):speak() == 'cat makes a sound', 'the parent is unchanged')
    assert(Dog.meta.super == Animal and Puppy.meta.super == Dog)
    assert(Dog.super == Animal and pup.super == Dog)
    assert(Dog.initialize == Animal.initialize, 'class-level lookups reach the parent')
  end)

  test('metamethods in a parent meta carry over to subclasses created afterwards', function()
    local Foo = Object:extend()
    function Foo:initialize(bar) self.bar = bar end
    function Foo.meta.__tostring(t) return 'Foo(' .. tostring(t.bar) .. ')' end
    function Foo.meta.__eq(x, y) return x.bar == y.bar end
    local Baz = Foo:extend()
    assert(tostring(Foo:new(1)) == 'Foo(1)')
    assert(tostring(Baz:new('x')) == 'Foo(x)', '__tostring copied into the subclass meta')
    assert(Baz:new(2) == Baz:new(2), '__eq copied too')
    assert(Baz.meta ~= Foo.meta, 'but the subclass has its own meta table')
  end)

  test('create makes a bare instance without initialize; instances cannot make instances', function()
    local called = 0
    local C = Object:extend()
    function C:initialize() called = called + 1 end
    local bare = C:create()
    assert(getmetatable(bare) == C.meta and called == 0)
    C:new()
    assert(called == 1)
    local ok = pcall(function() return bare:new() end)
    assert(not ok, 'new() on an instance is an error')
    ok = pcall(function() return bare:extend() end)
    assert(not ok, 'extend() on an instance is an error')
  end)

  test('a plain Object has no __tostring of its own', function()
    local s = tostring(Object:new())
    assert(s:find('^table: '), s)
  end)

  test('instanceof follows the class chain and rejects non-objects', function()
    local object, emitter = Object:new(), Emitter:new()
    assert(instanceof(object, Object) and not instanceof(object, Emitter))
    assert(instanceof(emitter, Object) and instanceof(emitter, Emitter))
    local Sub = Emitter:extend()
    local SubSub = Sub:extend()
    local s = SubSub:new()
    assert(instanceof(s, SubSub) and instanceof(s, Sub) and instanceof(s, Emitter))
    assert(not instanceof(emitter, Sub), 'a parent instance is not a child instance')
    assert(not instanceof(2, Object) and not instanceof('a', Object))
    assert(not instanceof({}, Object) and not instanceof(function() end, Object))
    assert(not instanceof(object, nil))
    assert(instanceof(Object, Object) and instanceof(Emitter, Object), 'classes count (as in luvit)')
  end)

  test('instanceof works for classes whose meta.__index is a function', function()
    local Box = Object:extend()
    function Box.meta.__index(_, key) return Box[key] end
    local Sub = Box:extend()
    assert(instanceof(Box:new(), Box))
    assert(instanceof(Sub:new(), Box) and instanceof(Sub:new(), Sub))
    assert(not instanceof(Box:new(), Sub))
  end)

  test('emitter on/once return self, so registrations chain', function(expect)
    local e = Emitter:new()
    local got = {}
    local ret = e:on('foo', function(x) got[#got + 1] = 'on:' .. x end)
      :once('foo', expect(function(x) got[#got + 1] = 'once:' .. x end))
    assert(ret == e)
    assert(e:emit('foo', 'a') == e, 'emit returns self when someone listened')
    e:emit('foo', 'b')
    assert(table.concat(got, ',') == 'on:a,once:a,on:b', table.concat(got, ','))
  end)

  test('emit passes every argument, including nils in the middle', function(expect)
    local e = Emitter:new()
    e:on('args', expect(function(a, b, c, d)
      assert(a == 1 and b == nil and c == 'three' and d == nil)
    end))
    e:emit('args', 1, nil, 'three')
  end)

  test('once listener runs once, and removeListener finds it by its callback', function(expect)
    local e = Emitter:new()
    local count = 0
    local function incr() count = count + 1 end
    local function never() error('removed listener was called') end
    e:once('t', incr)
    e:once('t', never)
    e:once('t', incr)
    assert(e:listenerCount('t') == 3)
    assert(e:removeListener('t', never) == 1, 'returns how many it removed')
    e:emit('t')
    e:emit('t')
    assert(count == 2, 'each once listener ran exactly once: ' .. count)
    assert(e:listenerCount('t') == 0)
    e:once('x', expect(function() end))
    e:emit('x')
    e:emit('x')
  end)

  test('removeListener removes every registration of the callback; nil when none', function()
    local e = Emitter:new()
    local count = 0
    local function incr() count = count + 1 end
    local function keep() count = count + 10 end
    e:on('t', incr):on('t', keep):on('t', incr)
    assert(e:removeListener('t', incr) == 2)
    assert(e:removeListener('t', incr) == nil)
    assert(e:removeListener('nothing', incr) == nil)
    e:emit('t')
    assert(count == 10 and e:listenerCount('t') == 1)
    assert(e:removeListener('t') == 1, 'no callback: all listeners of that name')
    assert(e:listenerCount('t') == 0)
  end)

  test('a listener removed during an emit is not called; one added waits for the next emit', function()
    local e = Emitter:new()
    local log = {}
    local second
    local function first()
      log[#log + 1] = 'first'
      e:removeListener('ev', second)
      e:on('ev', function() log[#log + 1] = 'late' end)
    end
    function second() log[#log + 1] = 'second' end
    local function third() log[#log + 1] = 'third' end
    e:on('ev', first):on('ev', second):on('ev', third)
    e:emit('ev')
    assert(table.concat(log, ',') == 'first,third', table.concat(log, ','))
    log = {}
    e:removeListener('ev', first)
    e:emit('ev')
    assert(table.concat(log, ',') == 'third,late', table.concat(log, ','))
  end)

  test('a listener that removes itself while the same event is re-emitted skips no one', function()
    local e = Emitter:new()
    local log = {}
    local a
    function a(depth)
      log[#log + 1] = 'a' .. depth
      e:removeListener('ev', a)
      if depth == 1 then e:emit('ev', 2) end
    end
    e:on('ev', a)
    e:on('ev', function(depth) log[#log + 1] = 'b' .. depth end)
    e:on('ev', function(depth) log[#log + 1] = 'c' .. depth end)
    e:emit('ev', 1)
    assert(table.concat(log, ',') == 'a1,b2,c2,b1,c1', table.concat(log, ','))
  end)

  test('listenerCount and listeners', function()
    local e = Emitter:new()
    assert(e:listenerCount('foo') == 0 and #e:listeners('foo') == 0)
    local f1, f2 = function() end, function() end
    e:on('foo', f1):once('foo', f2):on('bar', f1)
    assert(e:listenerCount('foo') == 2 and e:listenerCount('bar') == 1)
    local list = e:listeners('foo')
    assert(#list == 2 and list[1] == f1 and list[2] == f2, 'once listeners listed as given')
    list[1] = nil
    assert(e:listenerCount('foo') == 2, 'listeners() returns a copy')
  end)

  test('removeAllListeners with and without a name', function(expect)
    local e = Emitter:new()
    e:on('data', function() end)
    e:removeAllListeners()
    e:on('data', expect(function() end))
    e:emit('data', 'x')
    e:on('event', function() end):on('event', function() end)
    assert(e:listenerCount('data') == 1 and e:listenerCount('event') == 2)
    e:removeAllListeners('data')
    assert(e:listenerCount('data') == 0 and e:listenerCount('event') == 2)
    assert(#e:listeners('data') == 0)
    e:removeAllListeners('unused')
    assert(e:listenerCount('event') == 2)
    e:removeAllListeners()
    assert(e:listenerCount('event') == 0 and #e:listeners('event') == 0)
  end)

  test('removeAllListeners during an emit stops the remaining listeners', function()
    local e = Emitter:new()
    local calls = 0
    e:on('x', function() calls = calls + 1; e:removeAllListeners() end)
    e:on('x', function() calls = calls + 100 end)
    e:emit('x')
    assert(calls == 1, calls)
  end)

  test("emitting 'error' with no listener raises the error value", function()
    local e = Emitter:new()
    local ok, err = pcall(e.emit, e, 'error', 'boom')
    assert(not ok and err == 'boom', tostring(err))
    local obj = Error:new('bad thing')
    ok, err = pcall(e.emit, e, 'error', obj)
    assert(not ok and err == obj, 'the error object itself is raised')
    ok, err = pcall(e.emit, e, 'error')
    assert(not ok and tostring(err):find("Unhandled 'error' event"), tostring(err))
  end)

  test("an 'error' listener receives the error instead; other events need no listener", function(expect)
    local e = Emitter:new()
    assert(e:emit('nobody-listens', 1) == nil)
    e:on('error', expect(function(err) assert(err == 'oops') end))
    e:emit('error', 'oops')
  end)

  test("after the last 'error' listener is removed, errors raise again", function()
    local e = Emitter:new()
    local function onError() end
    e:on('error', onError)
    assert(pcall(e.emit, e, 'error', 'handled'))
    e:removeListener('error', onError)
    assert(not pcall(e.emit, e, 'error', 'unhandled'))
  end)

  test("an unhandled 'error' goes to process 'error' listeners when there are some", function(expect)
    local e = Emitter:new()
    local onProcessError = expect(function(err, source)
      assert(err == 'delegated' and source == e, 'gets the error and the emitter it came from')
    end)
    process:on('error', onProcessError)
    local ok, err = pcall(e.emit, e, 'error', 'delegated')
    process:removeListener('error', onProcessError)
    assert(ok, tostring(err))
    assert(not pcall(e.emit, e, 'error', 'raised again'), 'without them it is raised')
  end)

  test('addHandlerType is called when an event name gets its first listener', function()
    local Tracked = Emitter:extend()
    local added = {}
    function Tracked:addHandlerType(name) added[#added + 1] = name end
    local t = Tracked:new()
    t:on('a', function() end):on('a', function() end):once('b', function() end)
    assert(table.concat(added, ',') == 'a,b', table.concat(added, ','))
  end)

  test('missingHandlerType can be overridden per class', function(expect)
    local Quiet = Emitter:extend()
    Quiet.missingHandlerType = expect(function(self, name, value)
      assert(name == 'error' and value == 'ignored' and self)
    end)
    assert(Quiet:new():emit('error', 'ignored') == nil)
  end)

  test('a throwing listener propagates its error and the emitter keeps working', function()
    local e = Emitter:new()
    local calls = 0
    local function bad() error('listener failed') end
    e:on('x', bad)
    local ok, err = pcall(e.emit, e, 'x')
    assert(not ok and tostring(err):find('listener failed'), tostring(err))
    e:removeListener('x', bad)
    e:on('x', function() calls = calls + 1 end)
    e:emit('x')
    assert(calls == 1 and e:listenerCount('x') == 1)
  end)

  test('on rejects listeners that cannot be called', function()
    local e = Emitter:new()
    assert(not pcall(e.on, e, 'x', 42))
    assert(not pcall(e.on, e, 'x', 'string'))
    local callable = setmetatable({}, { __call = function() end })
    assert(pcall(e.on, e, 'x', callable), 'callable tables are accepted')
  end)

  test('wrap turns a method into an err-first callback that emits errors', function(expect)
    local Thing = Emitter:extend()
    function Thing:onOpen(a, b)
      assert(self.isThing and a == 1 and b == 2)
      return 'opened'
    end
    local t = Thing:new()
    t.isThing = true
    t:wrap('onOpen')
    assert(t.onOpen(nil, 1, 2) == 'opened', 'success calls the method with self')
    t:on('error', expect(function(err) assert(err == 'EACCES') end))
    t.onOpen('EACCES')
  end)

  test('propagate re-emits an event on a target and returns the target', function(expect)
    local a, b, c = Emitter:new(), Emitter:new(), Emitter:new()
    assert(a:propagate('msg', b) == b)
    b:propagate('msg', c)
    c:on('msg', expect(function(x, y) assert(x == 'hi' and y == 2) end))
    a:emit('msg', 'hi', 2)
    assert(a:propagate('msg', {}) == a, 'a non-emitter target is refused')
  end)

  test('subclass overrides of on are used by once', function(expect)
    local Watched = Emitter:extend()
    local seen = {}
    function Watched:on(name, fn)
      seen[#seen + 1] = name
      return Emitter.on(self, name, fn)
    end
    local w = Watched:new()
    w:once('ready', expect(function() end))
    assert(seen[1] == 'ready', 'once registers through self:on')
    w:emit('ready')
  end)

  test('Error has a message, tostring gives it, and it subclasses', function()
    local err = Error:new('something failed')
    assert(err.message == 'something failed')
    assert(tostring(err) == 'something failed')
    assert(instanceof(err, Error) and instanceof(err, Object))
    assert(Error:new('42: answer').code == 42, 'a numeric prefix becomes .code')
    assert(Error:new('ENOENT: no file').code == nil)
    local MyError = Error:extend()
    function MyError:initialize(msg, extra)
      Error.initialize(self, msg)
      self.extra = extra
    end
    local mine = MyError:new('mine', 7)
    assert(tostring(mine) == 'mine' and mine.extra == 7 and instanceof(mine, Error))
  end)
end)
