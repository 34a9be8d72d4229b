local thread = require('thread')

require('tap')(function(test)
  test('start runs a function on another thread and join returns its results', function()
    local t = thread.start(function(a, b) return a + b, 'sum' end, 20, 22)
    local ok, sum, word = t:join()
    assert(ok and sum == 42 and word == 'sum', tostring(sum))
  end)

  test('work queues run on the pool and notify on the loop', function(expect)
    local results = {}
    local w = thread.work(function(n)
      local acc = 0
      for i = 1, n do acc = acc + i end
      return acc
    end, expect(function(acc) results[#results + 1] = acc end, 2))
    thread.queue(w, 10)
    thread.queue(w, 100)
  end)

  test('only plain values cross threads', function()
    local ok, err = pcall(thread.start, function() end, {})
    assert(not ok and tostring(err):find('cannot pass'), tostring(err))
  end)
end)
