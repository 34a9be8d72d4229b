local uv = require('uv')
-- made before the tests: tap counts handles a test leaves open
local _ = process.stdout

require('tap')(function(test)
  test('basic fields', function()
    assert(type(process.pid) == 'number' and process.pid == uv.os_getpid())
    assert(process.argv[0] and process.argv[1]:find('test%-process.lua'))
    assert(process.cwd() == uv.cwd())
    assert(process.versions.luvit and process.versions.luajit)
  end)

  test('env reads, writes and iterates', function()
    process.env.LUVIT_TEST_VAR = 'yes'
    assert(process.env.LUVIT_TEST_VAR == 'yes')
    local found = false
    for k, v in pairs(process.env) do
      if k == 'LUVIT_TEST_VAR' and v == 'yes' then found = true end
    end
    assert(found, 'pairs(process.env) should list the variable')
    process.env.LUVIT_TEST_VAR = nil
    assert(process.env.LUVIT_TEST_VAR == nil)
  end)

  test('memoryUsage, cpuUsage and hrtime', function()
    local m = process.memoryUsage()
    assert(m.rss > 0 and m.heapUsed > 0)
    local c = process.cpuUsage()
    assert(c.user >= 0 and c.system >= 0)
    local t = process.hrtime()
    local d = process.hrtime(t)
    assert(d[1] >= 0 and d[2] >= 0)
  end)

  test('process is an emitter; signal listeners receive signals', function(expect)
    -- signal watchers are unref'd: a timer keeps the loop alive until the signal arrives
    local t = uv.new_timer()
    t:start(2000, 0, function() t:close() end)
    local onUsr1
    onUsr1 = expect(function(name)
      assert(name == 'SIGUSR1')
      process:removeListener('SIGUSR1', onUsr1)
      t:close()
    end)
    process:on('SIGUSR1', onUsr1)
    process.kill(process.pid, 'sigusr1')
  end)

  test('stdout is a writable stream', function(expect)
    assert(process.stdout.write)
    process.stdout:write('# written through process.stdout\n', expect(function() end))
  end)
end)
