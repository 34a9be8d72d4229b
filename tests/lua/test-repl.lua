-- luvit's embeddable REPL API: require('repl')(stdin, stdout, greeting).
local uv = require('uv')

local function sink()
  local out = { text = '' }
  function out:write(s) self.text = self.text .. s end
  return out
end

require('tap')(function(test)
  test('expressions print their values, statements run, locals need globals', function()
    local out = sink()
    local repl = require('repl')(nil, out, 'hello')
    assert(out.text == 'hello\n', out.text)
    assert(repl.evaluateLine('1 + 2') == '> ')
    assert(out.text:find('3\n', 1, true), out.text)
    out.text = ''
    repl.evaluateLine('x = 40')
    repl.evaluateLine('x + 2, "s"')
    assert(out.text:find("42\t's'", 1, true) or out.text:find('42\t"s"', 1, true), out.text)
  end)

  test('an incomplete chunk waits for more lines; errors print and the session goes on', function()
    local out = sink()
    local repl = require('repl')(nil, out)
    assert(repl.evaluateLine('function twice(n)') == '>> ')
    assert(repl.evaluateLine('  return n * 2') == '>> ')
    assert(repl.evaluateLine('end') == '> ')
    repl.evaluateLine('twice(21)')
    assert(out.text:find('42', 1, true), out.text)
    out.text = ''
    assert(repl.evaluateLine('error("boom")') == '> ')
    assert(out.text:find('boom', 1, true), out.text)
    out.text = ''
    assert(repl.evaluateLine('1 +* 2') == '> ')
    assert(out.text:find('unexpected symbol', 1, true), out.text)
  end)

  test('completion walks tables and __index chains without calling anything', function()
    local repl = require('repl')(nil, sink())
    repl.evaluateLine('obj = require("core").Emitter:new()')
    local c = repl.completionCallback('obj:emi')
    assert(c == 'obj:emit' or (type(c) == 'table' and c[1] == 'obj:emit'), tostring(c))
    local g = repl.completionCallback('pri')
    assert(g == 'print' or (type(g) == 'table' and g[1]:find('^print')), tostring(g))
  end)

  test('start reads lines from a stream and saves history at the end', function(expect)
    local input = uv.new_pipe(false)
    local child
    child = uv.spawn('/bin/sh', { args = { '-c', 'printf "6 * 7\\n"' }, stdio = { nil, input, nil } },
      function() child:close() end)
    local out = sink()
    local repl = require('repl')(input, out)
    repl.start(nil, expect(function(lines)
      assert(lines:find('6 * 7', 1, true), lines)
      assert(out.text:find('42', 1, true), out.text)
      input:close()
    end))
  end)
end)
