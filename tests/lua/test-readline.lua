local readline = require('readline')
local uv = require('uv')

require('tap')(function(test)
  test('History keeps order, skips repeats and empty lines, bounds its length', function()
    local h = readline.History.new()
    h:add('a'); h:add('a'); h:add(''); h:add('b')
    assert(h:dump() == 'a\nb', h:dump())
    h:setMaxLength(1)
    assert(h:dump() == 'b')
    h:load('x\ny\n')
    assert(#h.entries == 2 and h.entries[2] == 'y')
  end)

  test('without a terminal, lines are read one at a time until EOF', function(expect)
    local out = uv.new_pipe(false)
    local child
    child = uv.spawn('/bin/sh', { args = { '-c', 'printf "one\\ntwo\\r\\nlast"' }, stdio = { nil, out, nil } },
      function() child:close() end)
    local sink = uv.new_pipe(false)
    local ed = readline.Editor.new({ stdin = out, stdout = 1 })
    local lines = {}
    local function next()
      ed:readLine('', function(err, line, reason)
        assert(not err, err)
        if line then
          lines[#lines + 1] = line
          return next()
        end
        assert(reason == 'eof')
        assert(table.concat(lines, '|') == 'one|two|last', table.concat(lines, '|'))
        out:close()
        sink:close()
      end)
    end
    next()
    local _ = expect
  end)

  test('editing keys change the line and the cursor', function()
    local ed = readline.Editor.new({ stdout = 2 })
    ed.prompt, ed.line, ed.position = '', '', 1
    ed.historyIndex = 1
    for _, k in ipairs({ 'a', 'c', '\27[D', 'b', '\5', 'd' }) do ed:onKey(k) end
    assert(ed.line == 'abcd', ed.line)
    ed:onKey('\23')
    assert(ed.line == '', ed.line)
    assert(ed:onKey('\r') == 'line')
  end)
end)
