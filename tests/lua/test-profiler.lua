local profiler = require('profiler')
local timer = require('timer')

local function spin(ms)
  local t = os.clock() + ms / 1000
  while os.clock() < t do end
end

require('tap')(function(test)
  test('createHistogram records, answers percentiles and resets', function()
    local h = profiler.createHistogram()
    assert(h.count == 0 and h.min == 0 and h.max == 0)
    for i = 1, 1000 do h:record(i * 1000) end
    assert(h.count == 1000 and h.min == 1000 and h.max == 1000000)
    local p50 = h:percentile(50)
    assert(p50 > 470000 and p50 < 540000, p50)
    assert(h:percentiles()[100] == 1000000)
    assert(math.abs(h.mean - 500500) < 1)
    assert(not pcall(h.record, h, -1), 'negative values are refused')
    assert(not pcall(h.percentile, h, 101))
    h:reset()
    assert(h.count == 0)
  end)

  test('the loop profiler reports a blocking timer live, then writes its files', function(expect)
    local dir = os.getenv('TMPDIR') or '/tmp'
    assert(profiler.loopStart({ threshold = 30, dir = dir }))
    local ok, err = profiler.loopStart()
    assert(not ok and err:find('already running'), err)
    local monitor = profiler.monitorEventLoopDelay({ resolution = 5 })
    assert(monitor:enable() == true and monitor:enable() == false)
    local before = profiler.eventLoopUtilization()
    timer.setTimeout(20, function() spin(80) end)
    timer.setTimeout(150, expect(function()
      local r = assert(profiler.loop())
      assert(r.slow_count == 1, r.slow_count)
      local s = r.slow[1]
      assert(s.kind == 'setTimeout' and s.site:find('test%-profiler%.lua:33$'), s.site)
      assert(s.duration_ms >= 70, s.duration_ms)
      assert(s.samples > 0 and s.stack[1].name == 'spin', s.stack[1] and s.stack[1].name)
      assert(r.lag.count >= 1 and r.utilization > 0 and r.utilization <= 1)
      assert(r.callbacks[1].site:find('test%-profiler%.lua:33$'), 'slowest site first')
      monitor:disable()
      assert(monitor.count >= 3 and monitor.max >= 40e6, monitor.max)
      local u = profiler.eventLoopUtilization(before)
      assert(u.active >= 70 and u.utilization > 0.3 and u.utilization <= 1, u.utilization)
      local files = assert(profiler.loopStop())
      assert(#files == 2 and files[1]:find('/LOOP%.[%d.]+%.json$') and files[2]:find('%.trace%.json$'))
      for _, f in ipairs(files) do os.remove(f) end
      local none, why = profiler.loopStop()
      assert(none == nil and why:find('not running'))
    end))
  end)

  test('a loop profiler started at run time sees requests of a server made before it', function(expect)
    local http = require('http')
    local server = http.createServer(function(req, res) -- the handler
      spin(40)
      res:finish('ok')
    end)
    server:listen(0, '127.0.0.1', expect(function()
      assert(profiler.loopStart({ threshold = 20 }))
      http.get({ host = '127.0.0.1', port = server:address().port }, expect(function(res)
        res:on('data', function() end)
        res:on('end', expect(function()
          local r = assert(profiler.loop())
          local found
          for _, c in ipairs(r.callbacks) do
            if c.kind == 'http request' then found = c end
          end
          assert(found and found.count == 1, 'an http request site')
          assert(found.site:find('test%-profiler%.lua:%d+$') and found.max_ms >= 35, found.site)
          assert(r.slow[1].kind == 'http request', r.slow[1].kind)
          for _, f in ipairs(assert(profiler.loopStop())) do os.remove(f) end
          server:close()
        end))
      end))
    end))
  end)

  test('bad options are errors', function()
    assert(not pcall(profiler.monitorEventLoopDelay, { resolution = 0 }))
    assert(not pcall(profiler.loopStart, { threshold = -1 }))
    local ok, err = profiler.loopStart({ dir = '/nonexistent/dir' })
    assert(not ok and err:find('/nonexistent/dir'), err)
  end)
end)
