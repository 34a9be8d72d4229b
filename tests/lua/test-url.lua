local url = require('url')

local fields = { 'href', 'protocol', 'auth', 'host', 'hostname', 'port', 'path', 'pathname',
  'search', 'query', 'hash' }

-- Every field of `parsed` equals the one in `expected` (absent ones must be nil).
local function matches(parsed, expected)
  for _, name in ipairs(fields) do
    if parsed[name] ~= expected[name] then
      error(('%s: expected %s, got %s'):format(name, tostring(expected[name]),
        tostring(parsed[name])), 2)
    end
  end
end

require('tap')(function(test)
  test('parse splits a full URL into its parts', function()
    matches(url.parse('https://ann:s3cret@example.com:8443/a/b.html?x=1&y=2#top'), {
      href = 'https://ann:s3cret@example.com:8443/a/b.html?x=1&y=2#top',
      protocol = 'https', auth = 'ann:s3cret', host = 'example.com:8443',
      hostname = 'example.com', port = '8443', path = '/a/b.html?x=1&y=2',
      pathname = '/a/b.html', search = '?x=1&y=2', query = 'x=1&y=2', hash = '#top',
    })
  end)

  test('parse gives a bare host the path / and an href ending in /', function()
    matches(url.parse('http://example.org'), {
      href = 'http://example.org/', protocol = 'http', host = 'example.org',
      hostname = 'example.org', path = '/', pathname = '/',
    })
  end)

  test('parse without a protocol treats everything as the path', function()
    matches(url.parse('example.org/x?q'), {
      href = 'example.org/x?q', path = 'example.org/x?q', pathname = 'example.org/x',
      search = '?q', query = 'q',
    })
    matches(url.parse('/files/@me'), { href = '/files/@me', path = '/files/@me',
      pathname = '/files/@me' })
  end)

  test('parse takes the userinfo only from before the host', function()
    local u = url.parse('http://host.net/users/@bob')
    assert(u.auth == nil and u.host == 'host.net' and u.pathname == '/users/@bob')
    u = url.parse('ftp://me@files.net/')
    assert(u.auth == 'me' and u.host == 'files.net')
  end)

  test('parse with parseQueryString decodes the query into a table', function()
    local u = url.parse('/search?q=lua+jit&page=2&page=3', true)
    assert(u.pathname == '/search' and u.search == '?q=lua+jit&page=2&page=3')
    assert(u.query.q == 'lua jit')
    assert(type(u.query.page) == 'table' and u.query.page[2] == '3')
    u = url.parse('http://h/', true)
    assert(type(u.query) == 'table' and next(u.query) == nil, 'no query: an empty table')
    assert(u.href == 'http://h/')
  end)

  test('parse returns a table argument unchanged', function()
    local t = { pathname = '/' }
    assert(url.parse(t) == t)
    assert(not pcall(url.parse, 42))
  end)

  test('format builds the URL from its parts', function()
    assert(url.format({ protocol = 'http', hostname = 'localhost', port = 8080,
      pathname = 'api' }) == 'http://localhost:8080/api')
    assert(url.format({ protocol = 'https:', host = 'h.io', pathname = '/',
      query = { a = 'b c' }, hash = 'frag' }) == 'https://h.io/?a=b%20c#frag')
    assert(url.format({ pathname = '/p', search = 'x=1' }) == '/p?x=1')
  end)

  test('format prefers host (with its port) to hostname and port', function()
    local u = url.parse('http://localhost')
    u.host = 'localhost:9000'
    u.port = '1'
    assert(url.format(u) == 'http://localhost:9000/')
  end)

  test('format escapes ? and # in the pathname and # in the search', function()
    assert(url.format({ pathname = '/a?b#c' }) == '/a%3Fb%23c')
    assert(url.format({ pathname = '/', search = '?a#b' }) == '/?a%23b')
  end)

  test('format percent-encodes the userinfo', function()
    assert(url.format({ protocol = 'http', auth = 'a b@c', host = 'h', pathname = '/' }) ==
      'http://a%20b%40c@h/')
  end)

  test('format(parse(s)).href round-trips', function()
    for _, s in ipairs({ 'http://u:p@h.com:81/a/b?c=d#e', 'file://srv/share', '/only/path?q',
      'mailto://me@y.z/' }) do
      local parsed = url.parse(s)
      assert(url.format(parsed) == parsed.href)
      assert(url.format(parsed.href) == parsed.href)
    end
  end)

  test('resolve replaces the last segment or the whole path', function()
    assert(url.resolve('http://a.com/x/y/z', 'w') == 'http://a.com/x/y/w')
    assert(url.resolve('http://a.com/x/y/', 'w') == 'http://a.com/x/y/w')
    assert(url.resolve('http://a.com/x/y/z', '/w') == 'http://a.com/w')
    assert(url.resolve('/one/two/three', '../four') == '/one/four')
  end)

  test('resolve handles dot segments and never climbs above the root', function()
    assert(url.resolve('/p/q/r', '.') == '/p/q/')
    assert(url.resolve('/p/q/', '..') == '/p/')
    assert(url.resolve('/p', '../../../../etc') == '/etc')
    assert(url.resolve('rel/path', '../../../x') == '../../x')
  end)

  test('resolve with another protocol or host takes the relative URL whole', function()
    assert(url.resolve('http://a.com/x', 'https://b.org/y?z#w') == 'https://b.org/y?z#w')
    assert(url.resolve('http://a.com/x', 'ftp://me:pw@c.net/f') == 'ftp://me:pw@c.net/f')
  end)

  test('resolveObject returns a parsed table whose href is the resolved URL', function()
    local r = url.resolveObject('http://a.com/x/y', 'z?k=v#h')
    assert(r.href == 'http://a.com/x/z?k=v#h')
    assert(r.pathname == '/x/z' and r.search == '?k=v' and r.hash == '#h')
    assert(r.host == 'a.com' and r.path == '/x/z?k=v')
  end)
end)
