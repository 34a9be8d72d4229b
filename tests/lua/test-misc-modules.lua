local los = require('los')
local pathjoin = require('pathjoin')
local hooks = require('hooks')
local helpful = require('helpful')
local Emitter = require('core').Emitter

local function list(t)
  return table.concat(t, '|')
end

-- Calls fn with the global print replaced; returns the lines it printed.
local function printed(fn)
  local lines = {}
  local original = _G.print
  _G.print = function(...)
    local parts = {}
    for i = 1, select('#', ...) do parts[i] = tostring((select(i, ...))) end
    lines[#lines + 1] = table.concat(parts, '\t')
  end
  local ok, err = pcall(fn)
  _G.print = original
  if not ok then error(err, 0) end
  return lines
end

require('tap')(function(test)
  test("los.type names the OS the way luvit does ('linux' here)", function()
    local expected = ({ Linux = 'linux', OSX = 'darwin', Windows = 'win32', BSD = 'bsd',
      POSIX = 'posix' })[jit.os] or 'other'
    assert(los.type() == expected, los.type())
    assert(los.type() == los.type(), 'stable between calls')
  end)

  test('pathJoin joins and resolves . and ..', function()
    assert(pathjoin.pathJoin('a', 'b/../c', './d') == 'a/c/d')
    assert(pathjoin.pathJoin('a//b/', 'c/') == 'a/b/c')
    assert(pathjoin.pathJoin('/usr', 'lib', '..', 'bin') == '/usr/bin')
  end)

  test('pathJoin starts over at the last absolute argument', function()
    assert(pathjoin.pathJoin('/x', '/y', 'z') == '/y/z')
    assert(pathjoin.pathJoin('rel', '/abs') == '/abs')
    assert(pathjoin.pathJoin('/') == '/')
  end)

  test('pathJoin drops .. that has nothing left to remove', function()
    assert(pathjoin.pathJoin('..', 'a') == 'a')
    assert(pathjoin.pathJoin('/', '..', '..', 'etc') == '/etc')
    assert(pathjoin.pathJoin('a', '..') == '')
    assert(pathjoin.pathJoin('.') == '')
  end)

  test('splitPath, getPrefix, joinParts and isWindows', function()
    assert(list(pathjoin.splitPath('/a//b/c/')) == 'a|b|c')
    assert(#pathjoin.splitPath('/') == 0)
    assert(pathjoin.getPrefix('/abs') == '/' and pathjoin.getPrefix('rel') == nil)
    assert(pathjoin.joinParts('/', { 'a', 'b', 'c' }) == '/a/b/c')
    assert(pathjoin.joinParts('/', { 'a', 'b', 'c' }, 2, 3) == '/b/c')
    assert(pathjoin.joinParts(nil, { 'a', 'b' }) == 'a/b')
    assert(pathjoin.isWindows == false)
  end)

  test('hooks is one shared emitter', function(expect)
    assert(getmetatable(hooks) == Emitter.meta)
    assert(require('hooks') == hooks)
    local onTest = expect(function(a, b)
      assert(a == 1 and b == 'two')
    end)
    hooks:on('test.event', onTest)
    hooks:emit('test.event', 1, 'two')
    hooks:removeListener('test.event', onTest)
    hooks:emit('test.event', 'not delivered')
  end)

  test('string.levenshtein is the edit distance', function()
    assert(string.levenshtein('kitten', 'sitting') == 3)
    assert(string.levenshtein('flaw', 'lawn') == 2)
    assert(string.levenshtein('same', 'same') == 0)
    assert(string.levenshtein('', 'abc') == 3 and string.levenshtein('abc', '') == 3)
  end)

  test('string.luvitGlobalExtend makes % format a string', function()
    string.luvitGlobalExtend()
    assert('%s-%03d' % { 'id', 7 } == 'id-007')
  end)

  test('helpful warns about a missing key and names the closest one', function()
    local mod = helpful('mymod', { connect = 1, close = 2, listen = 3 })
    assert(mod.connect == 1, 'existing keys are unaffected')
    local value
    local lines = printed(function() value = mod.conect end)
    assert(value == nil)
    assert(#lines == 1)
    local plain = require('pretty-print').strip(lines[1])
    assert(plain == 'Warning: mymod.conect is nil, did you mean mymod.connect?', plain)
    lines = printed(function() value = mod[42] end)
    assert(value == nil and #lines == 0, 'non-string keys are ignored')
  end)

  test('helpful requires the module by name when none is given', function()
    local pj = helpful('pathjoin')
    assert(pj == pathjoin)
    local lines = printed(function() return pj.pathjion end)
    assert(require('pretty-print').strip(lines[1]):find('did you mean pathjoin.pathJoin%?'))
    setmetatable(pathjoin, nil)
  end)
end)
