local timer = require('timer')
local uv = require('uv')

require('tap')(function(test)
  test('setTimeout runs once after the delay with its extra arguments', function(expect)
    local start = uv.now()
    timer.setTimeout(20, expect(function(a, b)
      assert(uv.now() - start >= 19, 'fired early')
      assert(a == 'x' and b == 2)
    end), 'x', 2)
  end)

  test('timeouts fire in due order', function(expect)
    local order = {}
    timer.setTimeout(15, expect(function() order[#order + 1] = 'b' end))
    timer.setTimeout(5, expect(function() order[#order + 1] = 'a' end))
    timer.setTimeout(25, expect(function()
      order[#order + 1] = 'c'
      assert(table.concat(order) == 'abc', table.concat(order))
    end))
  end)

  test('clearTimeout cancels a pending timeout', function()
    local t = timer.setTimeout(10, function() error('should not fire') end)
    timer.clearTimeout(t)
  end)

  test('setInterval repeats until cleared', function(expect)
    local n = 0
    local iv
    iv = timer.setInterval(5, expect(function()
      n = n + 1
      if n == 3 then timer.clearInterval(iv) end
    end, 3))
  end)

  test('setImmediate runs in order, before timers scheduled from a callback', function(expect)
    local order = {}
    timer.setTimeout(1, expect(function()
      -- from inside a callback the check phase comes before the next timers phase
      timer.setTimeout(0, expect(function() order[#order + 1] = 't' end))
      timer.setImmediate(expect(function() order[#order + 1] = 'i1' end))
      timer.setImmediate(expect(function(x) order[#order + 1] = x end), 'i2')
    end))
    timer.setTimeout(20, expect(function()
      assert(table.concat(order, ',') == 'i1,i2,t', table.concat(order, ','))
    end))
  end)

  test('sleep suspends only the calling coroutine', function(expect)
    local log = {}
    coroutine.wrap(expect(function()
      log[#log + 1] = 'before'
      timer.sleep(10)
      log[#log + 1] = 'after'
    end))()
    log[#log + 1] = 'outside'
    timer.setTimeout(30, expect(function()
      assert(table.concat(log, ' ') == 'before outside after', table.concat(log, ' '))
    end))
  end)

  test('an unref timer does not keep the loop alive', function()
    local t = timer.setTimeout(10000, function() error('should not fire') end)
    t:unref()
    local start = uv.now()
    uv.run()
    assert(uv.now() - start < 1000)
    timer.clearTimeout(t)
  end)

  test('wrong argument order is a clear error', function()
    local ok, err = pcall(timer.setTimeout, function() end, 10)
    assert(not ok and err:find('delay must be a number'), err)
  end)

  test('process.nextTick runs before timers and immediates', function(expect)
    local order = {}
    timer.setImmediate(expect(function() order[#order + 1] = 'immediate' end))
    process.nextTick(expect(function() order[#order + 1] = 'tick' end))
    timer.setTimeout(5, expect(function()
      assert(order[1] == 'tick', table.concat(order, ','))
    end))
  end)

  test('a timer restarted 2M times before it is due keeps memory bounded', function()
    -- every stop or restart left its arming in the timer heap until the due time (an hour
    -- here): 2M pairs held 46 MB; now the heap is compacted as stale armings pile up
    local t = uv.new_timer()
    local before = uv.resident_set_memory()
    for _ = 1, 2000000 do t:start(3600000, 0, function() end); t:stop() end
    local grew = (uv.resident_set_memory() - before) / 1048576
    t:close()
    assert(grew < 16, ('grew %.1f MB'):format(grew))
  end)

  test('20,000 nextTicks queued in one turn all run, in order, with their arguments', function(expect)
    -- more than LuaJIT's 8,000 C-stack slots, where mlua keeps the Lua values Rust holds: 10,000
    -- once panicked. Ticks queued while the queue drains go after the rest.
    local seen, N = {}, 20000
    local function tick(i, nilarg, s)
      assert(nilarg == nil and s == 'x' .. i, 'the arguments of tick ' .. i)
      seen[#seen + 1] = i
      if i % 1000 == 0 then process.nextTick(tick, N + i / 1000, nil, 'x' .. (N + i / 1000)) end
    end
    for i = 1, N do process.nextTick(tick, i, nil, 'x' .. i) end
    timer.setImmediate(expect(function()
      assert(#seen == N + N / 1000, #seen)
      for i = 1, N do assert(seen[i] == i, 'tick ' .. i .. ' ran as ' .. tostring(seen[i])) end
      for k = 1, N / 1000 do assert(seen[N + k] == N + k) end
    end))
  end)
end)
