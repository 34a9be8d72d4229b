local ustring = require('ustring')

-- 1-, 2-, 3- and 4-byte characters
local mixed = 'aé中😀b'

local function chars(u)
  local list = {}
  for i = 1, #u do list[i] = rawget(u, i) end
  return table.concat(list, '|')
end

require('tap')(function(test)
  test('new splits text into characters of 1 to 4 bytes', function()
    local u = ustring.new(mixed)
    assert(chars(u) == 'a|é|中|😀|b')
    assert(ustring.len(u) == 5 and #u == 5)
    assert(tostring(u) == mixed)
    assert(tostring(ustring.new()) == '' and #ustring.new('') == 0)
    assert(tostring(ustring.new(42)) == '42', 'non-strings go through tostring')
  end)

  test('chlen reads the sequence length from the lead byte', function()
    assert(ustring.chlen(0x41) == 1 and ustring.chlen(0xC3) == 2)
    assert(ustring.chlen(0xE4) == 3 and ustring.chlen(0xF0) == 4)
    assert(ustring.chlen(0x80) == 0 and ustring.chlen(0xFF) == 0)
  end)

  test('new rejects bytes that are not UTF-8 unless allowed', function()
    assert(not pcall(ustring.new, 'ok\255'))
    assert(not pcall(ustring.new, '\195x'), 'a lead byte must be followed by continuation bytes')
    assert(not pcall(ustring.new, '\128'))
    local u = ustring.new('a\255b', true)
    assert(tostring(u) == 'a\255b')
    assert(chars(u) == 'a|\255|b', 'a stray byte is one character')
  end)

  test('sub counts characters, with negative positions from the end', function()
    local u = ustring.new(mixed)
    assert(tostring(u:sub(2, 3)) == 'é中')
    assert(tostring(u:sub(-2)) == '😀b')
    assert(tostring(u:sub(2, -2)) == 'é中😀')
    assert(tostring(u:sub(-100, 1)) == 'a')
    assert(tostring(u:sub(4, 2)) == '')
  end)

  test('find returns character positions and takes a character init', function()
    local u = ustring.new('日本語の日本')
    local first, last = u:find('日本')
    assert(first == 1 and last == 2)
    first, last = u:find('日本', 2)
    assert(first == 5 and last == 6)
    first, last = u:find('語.', 1)
    assert(first == 3 and last == 4, 'a pattern item matches one byte, not a character')
    assert(u:find('x') == nil)
    first = u:find('.', 3, true)
    assert(first == nil, 'plain find')
  end)

  test('match and gmatch work on the text; match takes a character init', function()
    local u = ustring.new('é=1;ü=2')
    assert(u:match('(%d)', 4) == '2')
    local seen = {}
    for k, v in u:gmatch('([^=;]+)=(%d)') do seen[#seen + 1] = k .. v end
    assert(table.concat(seen, ',') == 'é1,ü2')
  end)

  test('gsub returns a ustring and accepts string, table and function replacements', function()
    local u = ustring.new('añb')
    local r = u:gsub('ñ', 'n')
    assert(getmetatable(r) == getmetatable(u) and tostring(r) == 'anb')
    assert(tostring(u:gsub('[ab]', { a = 'A' })) == 'Añb')
    assert(tostring(u:gsub('b', function(c) return c:upper() end)) == 'añB')
  end)

  test('lower and upper change ASCII letters only and return new ustrings', function()
    local u = ustring.new('Äbc Déf')
    assert(tostring(u:upper()) == 'ÄBC DéF')
    assert(tostring(u:lower()) == 'Äbc déf')
    assert(tostring(u) == 'Äbc Déf', 'the original is unchanged')
  end)

  test('rep and reverse work on whole characters', function()
    assert(tostring(ustring.rep(ustring.new('ab€'), 3)) == 'ab€ab€ab€')
    assert(tostring(ustring.rep(ustring.new('x'), 0)) == '')
    assert(tostring(ustring.new('été 中文'):reverse()) == '文中 été')
  end)

  test('copy, == and .. behave like values', function()
    local a = ustring.new('grüß')
    local b = a:copy()
    assert(a == b and rawequal(a, b) == false)
    b[1] = 'G'
    assert(a ~= b and tostring(a) == 'grüß')
    local joined = a .. ustring.new(' dich')
    assert(tostring(joined) == 'grüß dich' and #joined == 9)
    assert(tostring(a .. '!') == 'grüß!', 'a plain string joins too')
    assert(tostring('¡' .. a) == '¡grüß')
  end)

  test('format formats then splits', function()
    local u = ustring.format('%s→%d', 'ñ', 7)
    assert(tostring(u) == 'ñ→7' and #u == 3)
  end)

  test('index2uindex and uindex2index convert between byte and character positions', function()
    local u = ustring.new(mixed) -- bytes: a=1 é=2-3 中=4-6 😀=7-10 b=11
    assert(u:index2uindex(1) == 1 and u:index2uindex(3) == 2 and u:index2uindex(5) == 3)
    assert(u:index2uindex(10) == 4 and u:index2uindex(11) == 5)
    assert(u:index2uindex(12) == nil, 'past the end')
    assert(u:index2uindex(8, 7, 4) == 4, 'counting from a known character')
    assert(u:uindex2index(1) == 1 and u:uindex2index(3) == 4 and u:uindex2index(5) == 11)
    assert(u:uindex2index(-1) == -1 and u:uindex2index(-2) == -5)
    assert(u:uindex2index(5, 4, 3) == 11, 'counting from a known character')
  end)
end)
