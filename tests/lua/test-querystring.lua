local qs = require('querystring')

local function count(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

require('tap')(function(test)
  test('urlencode keeps letters, digits and * - . _ and percent-encodes the rest', function()
    assert(qs.urlencode('AZaz09*-._') == 'AZaz09*-._')
    assert(qs.urlencode('a b&c=d/e?') == 'a%20b%26c%3Dd%2Fe%3F')
    assert(qs.urlencode('~!\n\0\255') == '%7E%21%0A%00%FF')
    assert(qs.urlencode(nil) == nil)
  end)

  test('urldecode turns + into space and %XX into bytes, leaving bad escapes alone', function()
    assert(qs.urldecode('a+b%20c') == 'a b c')
    assert(qs.urldecode('%41%62%2b') == 'Ab+')
    assert(qs.urldecode('100%') == '100%')
    assert(qs.urldecode('%zz') == '%zz')
    assert(qs.urldecode(nil) == nil)
  end)

  test('encode then decode gives back every byte', function()
    local all = {}
    for b = 0, 255 do all[#all + 1] = string.char(b) end
    local s = table.concat(all)
    assert(qs.urldecode(qs.urlencode(s)) == s)
  end)

  test('parse splits pairs and decodes keys and values', function()
    local t = qs.parse('name=J%C3%BCrgen&city=New+York&empty=')
    assert(count(t) == 3)
    assert(t.name == 'Jürgen' and t.city == 'New York' and t.empty == '')
  end)

  test('parse collects a repeated key into a list in order', function()
    local t = qs.parse('tag=a&x=1&tag=b&tag=c')
    assert(type(t.tag) == 'table' and #t.tag == 3)
    assert(t.tag[1] == 'a' and t.tag[2] == 'b' and t.tag[3] == 'c')
    assert(t.x == '1')
  end)

  test('parse: a key without = maps to the empty string; empty pairs are skipped', function()
    local t = qs.parse('&&flag&&k=v&')
    assert(count(t) == 2)
    assert(t.flag == '' and t.k == 'v')
  end)

  test('parse splits a value at the first = only', function()
    local t = qs.parse('expr=a=b==c')
    assert(t.expr == 'a=b==c')
  end)

  test('parse takes custom separators, including pattern characters', function()
    local t = qs.parse('a:1;b:2', ';', ':')
    assert(t.a == '1' and t.b == '2')
    t = qs.parse('a%1.b%2', '.', '%')
    assert(t.a == '1' and t.b == '2', 'magic characters are taken literally')
  end)

  test('parse of nothing is an empty table', function()
    assert(next(qs.parse('')) == nil)
    assert(next(qs.parse(nil)) == nil)
  end)

  test('stringify encodes keys and values and expands lists', function()
    assert(qs.stringify({ q = 'a b&c' }) == 'q=a%20b%26c')
    assert(qs.stringify({ id = { 1, 2, 3 } }) == 'id=1&id=2&id=3')
    assert(qs.stringify({ n = 5 }, ';', ':') == 'n:5')
    assert(qs.stringify({ e = {} }) == '')
  end)

  test('stringify joins several keys with the separator', function()
    local s = qs.stringify({ a = '1', b = '2' })
    assert(s == 'a=1&b=2' or s == 'b=2&a=1', s)
  end)

  test('stringify of a non-table is the empty string', function()
    assert(qs.stringify(nil) == '')
    assert(qs.stringify('a=1') == '')
  end)

  test('parse(stringify(t)) gives t back', function()
    local t = { ['key with space'] = 'välue/?', list = { 'x', 'y' } }
    local back = qs.parse(qs.stringify(t))
    assert(back['key with space'] == 'välue/?')
    assert(#back.list == 2 and back.list[1] == 'x' and back.list[2] == 'y')
  end)
end)
