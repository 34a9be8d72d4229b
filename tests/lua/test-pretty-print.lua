local pp = require('pretty-print')
local uv = require('uv')

local dump = pp.dump

local function same(actual, expected)
  if actual ~= expected then
    error(('expected %q\n     got %q'):format(expected, actual), 2)
  end
end

-- What the module chose at load time; the tests below then run without colors at width 80
-- (whatever the terminal), changing them only inside with().
local startWidth, startColored = pp.width, pp.dump(1) ~= '1'
pp.loadColors(false)
pp.width = 80

-- Runs fn with colors set by loadColors(index) and the given width, restoring both after.
local function with(index, width, fn)
  pp.loadColors(index)
  pp.width = width
  local ok, err = pcall(fn)
  pp.loadColors(false)
  pp.width = 80
  if not ok then error(err, 0) end
end

-- Runs fn with pp.stdout pointed at a temporary file; returns what was written.
local function captured(fn)
  local name = os.tmpname()
  local fd = assert(uv.fs_open(name, 'w', 420))
  local old = pp.stdout
  pp.stdout = fd
  local ok, err = pcall(fn)
  pp.stdout = old
  uv.fs_close(fd)
  local file = assert(io.open(name, 'rb'))
  local text = file:read('*a')
  file:close()
  os.remove(name)
  if not ok then error(err, 0) end
  return text
end

require('tap')(function(test)
  test('scalars print as Lua would write them', function()
    with(false, 80, function()
      same(dump(42), '42')
      same(dump(-0.5), '-0.5')
      same(dump(1e100), '1e+100')
      same(dump(1 / 0), 'inf')
      same(dump(true), 'true')
      same(dump(nil), 'nil')
    end)
  end)

  test('strings are single-quoted unless only a single quote occurs in them', function()
    same(dump('plain', nil, true), "'plain'")
    same(dump('', nil, true), "''")
    same(dump("it's", nil, true), '"it\'s"')
    same(dump('say "x"', nil, true), '\'say "x"\'')
    same(dump("both ' and \"", nil, true), "'both \\' and \"'")
  end)

  test('control characters, backslashes and bytes >= 127 are escaped', function()
    same(dump('\0\1\7\8\9\10\11\12\13\14\27\31', nil, true),
      "'\\000\\001\\a\\b\\t\\n\\v\\f\\r\\014\\027\\031'")
    same(dump('a\\b', nil, true), "'a\\\\b'")
    same(dump('\127\128\255', nil, true), "'\\127\\128\\255'")
    same(dump('é', nil, true), "'\\195\\169'")
    same(dump("\"it's\"\n", nil, true), "'\"it\\'s\"\\n'")
  end)

  test('tables: list items bare, then keys; identifiers bare, other keys in brackets', function()
    same(dump({}, nil, true), '{ }')
    same(dump({ 1, 2, 'x' }, nil, true), "{ 1, 2, 'x' }")
    same(dump({ 1, 2, 'x', n = 5 }, nil, true), "{ 1, 2, 'x', n = 5 }")
    local two = dump({ a = 1, b = { 1, 2, 'x' } }, nil, true)
    assert(two == "{ a = 1, b = { 1, 2, 'x' } }" or two == "{ b = { 1, 2, 'x' }, a = 1 }", two)
    same(dump({ _x1 = 2 }, nil, true), '{ _x1 = 2 }')
    same(dump({ ['a b'] = 1 }, nil, true), "{ ['a b'] = 1 }")
    same(dump({ ['1x'] = 1 }, nil, true), "{ ['1x'] = 1 }")
    same(dump({ [10] = true }, nil, true), '{ [10] = true }')
    same(dump({ [1.5] = 'f' }, nil, true), "{ [1.5] = 'f' }")
    same(dump({ [true] = 1 }, nil, true), '{ [true] = 1 }')
    same(dump({ [{ 1 }] = 2 }, nil, true), '{ [{ 1 }] = 2 }')
    same(dump({ a = { b = { c = { d = { 'end' } } } } }, nil, true),
      "{ a = { b = { c = { d = { 'end' } } } } }")
  end)

  test('a hole ends the list part; later items get their index as key', function()
    same(dump({ 1, nil, 3 }, nil, true), '{ 1, [3] = 3 }')
  end)

  test('functions, threads, userdata and cdata print through tostring', function()
    local fn = function() end
    local co = coroutine.create(fn)
    local ud = newproxy(false)
    same(dump(fn, nil, true), tostring(fn))
    same(dump(co, nil, true), tostring(co))
    same(dump(ud, nil, true), tostring(ud))
    assert(dump({ f = fn }, nil, true):match('^{ f = function: 0?x?%x+ }$'))
    local ffi = require('ffi')
    local cdata = ffi.new('int[1]')
    same(dump(cdata, nil, true), tostring(cdata))
  end)

  test('a table already printed shows as its address (cycles and shared tables)', function()
    local t = { 'v' }
    t.self = t
    assert(dump(t, nil, true):match("^{ 'v', self = table: 0?x?%x+ }$"), dump(t, nil, true))
    local shared = { 1 }
    assert(dump({ shared, shared }, nil, true):match('^{ { 1 }, table: 0?x?%x+ }$'))
  end)

  test('recurse prints shared tables in full but still stops at cycles', function()
    local shared = { 1 }
    same(dump({ shared, shared }, true, true), '{ { 1 }, { 1 } }')
    local t = { 'v' }
    t.self = t
    assert(dump(t, true, true):match("^{ 'v', self = table: 0?x?%x+ }$"))
  end)

  test('long output breaks after a comma and indents two spaces per level', function()
    local numbers = {}
    for i = 1, 30 do numbers[i] = i * 111 end
    with(false, 80, function()
      same(dump(numbers),
        '{ 111, 222, 333, 444, 555, 666, 777, 888, 999, 1110, 1221, 1332, 1443, 1554, \n' ..
        '  1665, 1776, 1887, 1998, 2109, 2220, 2331, 2442, 2553, 2664, 2775, 2886, 2997, \n' ..
        '  3108, 3219, 3330 }')
    end)
  end)

  test('breaking starts with the outermost table', function()
    local value = { { 'alpha', 'beta', 'gamma', 'delta' }, { 'epsilon', 'zeta', 'eta', 'theta' },
      { 'iota', 'kappa', 'lambda', 'mu' } }
    with(false, 40, function()
      same(dump(value),
        "{ { 'alpha', 'beta', 'gamma', 'delta' }, \n" ..
        "  { 'epsilon', 'zeta', 'eta', 'theta' }, \n" ..
        "  { 'iota', 'kappa', 'lambda', 'mu' } }")
    end)
    with(false, 24, function()
      same(dump({ list = { 'aaaa', 'bbbb', 'cccc', 'dddd', 'eeee' } }),
        "{ \n" ..
        "  list = { 'aaaa', 'bbbb', 'cccc', \n" ..
        "    'dddd', 'eeee' } }")
    end)
  end)

  test('output that fits the width stays on one line', function()
    with(false, 30, function()
      same(dump({ 1, 2, 3 }), '{ 1, 2, 3 }')
      same(dump({ 'one', 'two', 'three', 'four', 'five', 'six' }),
        "{ 'one', 'two', 'three', 'four', 'five', 'six' }")
    end)
    with(false, 20, function()
      same(dump({ 'one', 'two', 'three', 'four', 'five', 'six' }),
        "{ 'one', 'two', 'three', 'four', \n  'five', 'six' }")
    end)
  end)

  test("a string's text does not count toward the width, as in luvit", function()
    local long = string.rep('x', 200)
    with(false, 80, function()
      same(dump({ long, 'short' }), "{ '" .. long .. "', 'short' }")
    end)
  end)

  test('a width too small for any token does not fail', function()
    with(false, 1, function()
      same(dump({ 1, 2 }), '{ \n  1, \n  2 }')
    end)
  end)

  test('16-color theme: exact escape sequences', function()
    with(16, 80, function()
      same(dump({ 42, true, 'A\nstring' }),
        '\27[1;30m{ \27[0m\27[1;33m42\27[0m\27[1;30m, \27[0m\27[0;33mtrue\27[0m\27[1;30m, ' ..
        "\27[0m\27[1;32m'\27[0;32mA\27[1;32m\\n\27[0;32mstring\27[1;32m'\27[0m \27[1;30m}\27[0m")
      same(dump({ n = 1 }), '\27[1;30m{ \27[0m\27[0;37mn\27[0m\27[1;30m = \27[0m' ..
        '\27[1;33m1\27[0m \27[1;30m}\27[0m')
      same(dump(nil), '\27[1;30mnil\27[0m')
    end)
  end)

  test('256-color theme: exact escape sequences', function()
    with(256, 80, function()
      same(dump({ "it's", {} }),
        '\27[38;5;247m{ \27[0m\27[38;5;40m"\27[38;5;34mit\'s\27[38;5;40m"\27[0m' ..
        '\27[38;5;240m, \27[0m\27[38;5;247m{ \27[0m\27[38;5;247m}\27[0m \27[38;5;247m}\27[0m')
    end)
  end)

  test('colored output breaks lines by its visible width', function()
    local numbers = {}
    for i = 1, 30 do numbers[i] = i * 111 end
    local plain
    with(false, 80, function() plain = dump(numbers) end)
    with(256, 80, function()
      same(pp.strip(dump(numbers)), plain)
      same(dump(numbers, nil, true), plain)
    end)
  end)

  test('a theme table of our own can be loaded', function()
    with({ number = '35', braces = '1' }, 80, function()
      same(dump({ 7 }), '\27[1m{ \27[0m\27[35m7\27[0m \27[1m}\27[0m')
      same(pp.color('number'), '\27[35m')
      same(pp.color('nothing'), '\27[0m') -- a name the theme lacks resets
    end)
  end)

  test('loadColors(false) turns colors off and rejects unknown indexes', function()
    with(false, 80, function()
      same(pp.colorize('number', 5), '5')
      same(dump({ 'x' }), "{ 'x' }")
      assert(next(pp.theme) == nil)
    end)
    assert(not pcall(pp.loadColors, 17))
  end)

  test('color, colorize and strip', function()
    with(16, 80, function()
      same(pp.color('err'), '\27[1;31m')
      same(pp.colorize('err', 'bad'), '\27[1;31mbad\27[0m')
      same(pp.colorize('err', 'bad', 'string'), '\27[1;31mbad\27[0;32m')
      same(pp.theme.string, '0;32')
    end)
    local text, count = pp.strip('\27[1;31mbad\27[0m!')
    assert(text == 'bad!' and count == 2)
  end)

  test('without a terminal on stdout: no colors by default, width 80', function()
    if uv.guess_handle(1) == 'tty' then return end
    same(startWidth, 80)
    assert(not startColored)
  end)

  test('stdio fields are handles or fd numbers', function()
    for _, h in ipairs({ pp.stdin, pp.stdout, pp.stderr }) do
      assert(type(h) == 'userdata' or type(h) == 'number', type(h))
    end
  end)

  test('prettyPrint joins dumped arguments with tabs and ends the line', function()
    local out = captured(function()
      pp.prettyPrint({ 1, 'a' }, 'str', nil, 2)
      pp.prettyPrint()
    end)
    same(out, "{ 1, 'a' }\t'str'\tnil\t2\n\n")
  end)

  test('print joins tostring of each argument with tabs', function()
    local out = captured(function()
      pp.print('a', 1, nil, true)
      pp.print()
    end)
    same(out, 'a\t1\tnil\ttrue\n\n')
  end)
end)
