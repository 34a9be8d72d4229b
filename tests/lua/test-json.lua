local json = require('json')

require('tap')(function(test)
  test('parse objects, arrays, strings with escapes, numbers, booleans', function()
    local v = json.parse('{"a":[1,2.5,-3e2],"s":"q\\"\\u00e9\\n","t":true,"f":false}')
    assert(v.a[1] == 1 and v.a[2] == 2.5 and v.a[3] == -300)
    assert(v.s == 'q"\195\169\n')
    assert(v.t == true and v.f == false)
  end)

  test('bad input returns nil, position and a message', function()
    local v, pos, msg = json.parse('{"a": }')
    assert(v == nil and type(pos) == 'number' and type(msg) == 'string', tostring(msg))
    assert(pos >= 6, pos)
    v, pos, msg = json.parse('[1, 2')
    assert(v == nil and msg)
  end)

  test('null becomes nil by default and json.null when asked', function()
    local v = json.parse('[1,null,3]')
    assert(v[1] == 1 and v[2] == nil and v[3] == 3)
    local w = json.parse('[1,null,3]', 1, json.null)
    assert(w[2] == json.null)
    assert(json.stringify(w) == '[1,null,3]')
  end)

  test('stringify: empty table is [], sparse arrays fill holes with null', function()
    assert(json.stringify({}) == '[]')
    assert(json.stringify({ 1, nil, 3 }) == '[1,null,3]')
    assert(json.stringify({ a = 1 }) == '{"a":1}')
    assert(json.stringify('a"b\n') == '"a\\"b\\n"')
    assert(json.stringify(12) == '12' and json.stringify(1.5) == '1.5')
  end)

  test('decoded objects and arrays keep their kind when re-encoded', function()
    assert(json.stringify(json.parse('{}')) == '{}')
    assert(json.stringify(json.parse('[]')) == '[]')
  end)

  test('indent pretty-prints', function()
    local s = json.stringify({ a = { 1, 2 } }, { indent = true })
    assert(s == '{\n  "a": [\n    1,\n    2\n  ]\n}', s)
  end)

  -- fuzz finding json_parse_huge_numbers (tests/fuzz/regressions/json/): serde_json refuses
  -- numbers past a double and parse answered nil, pos, 'number out of range'; luvit's dkjson
  -- reads them with tonumber, as math.huge (and -math.huge); a tiny one is 0.
  test('json_parse_huge_numbers: numbers past a double are math.huge, as in luvit', function()
    local v, pos = json.parse('1e400')
    assert(v == math.huge and pos == 6, tostring(v))
    assert(json.parse('-1e400') == -math.huge)
    assert(json.parse('1' .. string.rep('0', 400)) == math.huge)
    assert(json.parse('1e-400') == 0)
    local t = json.parse('{"a": [1, 2e999, "1e400", -9.5E+400, 3], "1e400": 1e400}')
    assert(t.a[1] == 1 and t.a[2] == math.huge and t.a[3] == '1e400', json.stringify(t))
    assert(t.a[4] == -math.huge and t.a[5] == 3 and t['1e400'] == math.huge)
    -- written back as null, as dkjson writes infinities
    assert(json.stringify({ (json.parse('1e400')) }) == '[null]')
    -- a bad text with a huge number in it is still an error, at the same place
    local bad, at, msg = json.parse('[1e400, }')
    assert(bad == nil and at == 9 and not msg:find('range'), tostring(at) .. ' ' .. tostring(msg))
    -- json_parse_huge_number_then_junk: a huge number run into junk is refused for the junk
    bad, at, msg = json.parse('[1e400.-19e400]')
    assert(bad == nil and at == 7 and not msg:find('range'), tostring(at) .. ' ' .. tostring(msg))
    -- json_parse_huge_number_next_to_a_number: blanking -1e4000 to 0 right after -1e40 made
    -- a new huge number, -1e400, and the retry refused it
    for _, text in ipairs({ '[1e400,-1e40-1e4000]', '[1e400,[1e40-1e400]' }) do
      bad, at, msg = json.parse(text)
      assert(bad == nil and not msg:find('range'), text .. ': ' .. tostring(msg))
    end
  end)

  -- fuzz crash json_stringify_huge_indent (tests/fuzz/regressions/json/): indent = 2^40 asked
  -- for a terabyte of spaces and aborted the process.
  test('json_stringify_huge_indent: a numeric indent is clamped to 10 spaces', function()
    for _, n in ipairs({ 2^40, 1e300, 1/0, 12 }) do
      local s = json.stringify({ 1 }, { indent = n })
      assert(s == '[\n' .. string.rep(' ', 10) .. '1\n]', s)
    end
    assert(json.stringify({ 1 }, { indent = 0.5 }) == '[1]')
  end)

  -- fuzz finding json_parse_null_holes_round_trip: a parsed array with a null in it was
  -- written back cut at the first hole ('[1,null,3]' became '[1]').
  test('json_parse_null_holes_round_trip: nulls in arrays survive a round trip', function()
    assert(json.stringify(json.parse('[1,null,3]')) == '[1,null,3]')
    assert(json.stringify(json.parse('[null,null,"x"]')) == '[null,null,"x"]')
    assert(json.stringify(json.parse('{"a":[1,2,3,4,5,null,7]}')) == '{"a":[1,2,3,4,5,null,7]}')
    local arr = getmetatable(json.parse('[]'))
    local ok, err = pcall(json.stringify, setmetatable({ [2^40] = 1 }, arr))
    assert(not ok and err:find('sparse'), err)
  end)

  test('cycles and functions are errors, not crashes', function()
    local t = {}
    t.self = t
    local ok, err = pcall(json.stringify, t)
    assert(not ok and err:find('cycle'), err)
    ok, err = pcall(json.stringify, { f = print, [true] = 1 })
    assert(not ok, 'boolean key should fail')
  end)

  test('deep nesting is refused cleanly', function()
    local deep = string.rep('[', 5000) .. string.rep(']', 5000)
    local v, pos, msg = json.parse(deep)
    assert(v == nil and msg:find('deeper'), msg)
  end)

  test('tables of changing sizes at one depth parse whole (sizes are guessed per depth)', function()
    local big = {}
    for i = 1, 200 do big[i] = i end
    local doc = { big, { 1 }, {}, big, { a = 1, b = 2, c = 3, d = 4, e = 5 }, { z = 1 }, {} }
    local back = json.parse(json.stringify(doc))
    assert(#back == 7 and #back[1] == 200 and back[1][200] == 200)
    assert(#back[2] == 1 and back[2][1] == 1 and next(back[3]) == nil and #back[4] == 200)
    assert(back[5].e == 5 and back[6].z == 1 and next(back[7]) == nil)
  end)

  -- Objects with the same keys in a row are built by a compiled constructor (shape.rs);
  -- every way a later object can differ must still read exactly what the text says.
  test('objects that repeat their keys, then differ in every way, read exactly', function()
    local objs = {
      '{"a":1,"b":"x"}', '{"a":2,"b":"y"}', '{"a":3,"b":"z"}', '{"a":4,"b":"w"}',
      '{"b":5,"a":6}', '{"a":7}', '{"a":8,"b":9,"c":10}', '{}', '{"a":11,"a":12}',
      '{"a":null,"b":13}', '{"a":14,"b":15}', '{"a":16,"b":17}', '{"a":18,"c":19}',
      '{"\\u0061":20,"b":21}', '{"a":22,"b":{"a":23,"b":24}}', '{"a":25,"b":26}',
      '{"\\u0061":27,"b":28}', '{"a":29}', '{"a":30,"b":31,"c":32}', '{"a":33,"b":34}',
      '{"a":35,"b":36}', '{"a":37,"b":38,"c":39}', '{"a":40,"b":41}', '{"a":42,"b":43}', '{}',
    }
    local want = {
      { a = 1, b = 'x' }, { a = 2, b = 'y' }, { a = 3, b = 'z' }, { a = 4, b = 'w' },
      { b = 5, a = 6 }, { a = 7 }, { a = 8, b = 9, c = 10 }, {}, { a = 12 },
      { b = 13 }, { a = 14, b = 15 }, { a = 16, b = 17 }, { a = 18, c = 19 },
      { a = 20, b = 21 }, { a = 22, b = { a = 23, b = 24 } }, { a = 25, b = 26 },
      { a = 27, b = 28 }, { a = 29 }, { a = 30, b = 31, c = 32 }, { a = 33, b = 34 },
      { a = 35, b = 36 }, { a = 37, b = 38, c = 39 }, { a = 40, b = 41 }, { a = 42, b = 43 }, {},
    }
    local function same(x, y)
      if type(x) ~= 'table' or type(y) ~= 'table' then return x == y end
      for k, v in pairs(x) do if not same(v, y[k]) then return false end end
      for k in pairs(y) do if x[k] == nil then return false end end
      return true
    end
    for _, wrap in ipairs({ '[%s]', '{"list":[%s]}', '[[%s]]' }) do
      local text = wrap:format(table.concat(objs, ','))
      local v = assert(json.parse(text))
      local list = v.list or (type(v[1][1]) == 'table' and v[1]) or v
      for i, w in ipairs(want) do
        assert(same(list[i], w), i .. ': ' .. json.stringify(list[i]) .. ' in ' .. wrap)
        -- built either way, it is an object: {} writes back as {}
        assert(getmetatable(list[i]) == getmetatable(json.parse('{}')), i)
      end
      assert(json.stringify(list[8]) == '{}')
    end
    -- nulls become json.null when asked, through the constructor too
    local t = json.parse('[{"a":null,"b":1},{"a":null,"b":2},{"a":null,"b":3}]', 1, json.null)
    assert(t[3].a == json.null and t[3].b == 3)
    -- keys of any bytes, long keys, many keys
    local keys = {}
    for i = 1, 30 do keys[i] = ('"k%d \\"\\u00e9\\\\ a key longer than sixteen bytes"'):format(i) end
    local one = '{' .. table.concat(keys, ':1,') .. ':1}'
    local many = assert(json.parse('[' .. string.rep(one, 4, ',') .. ']'))
    assert(many[4]['k30 "\195\169\\ a key longer than sixteen bytes'] == 1)
    local n = 0
    for _ in pairs(many[4]) do n = n + 1 end
    assert(n == 30, n)
  end)

  test('the end position is just after the value, as in dkjson', function()
    local v, pos = json.parse('[1] x')
    assert(v[1] == 1 and pos == 4, pos)
    v, pos = json.parse('  {"a":1}  ')
    assert(v.a == 1 and pos == 10, pos)
    v, pos = json.parse('[1][2]', 4)
    assert(v[1] == 2 and pos == 7, pos)
    assert(select(2, json.parse('12 ')) == 3)
  end)

  -- Numbers are written shortest-round-trip (ryu's form); short decimals take a faster path
  -- that must write the very same text.
  test('numbers are written in their shortest form, decimals included', function()
    local s = json.stringify({ 0.1 + 0.2, 2347.24, -0.07, 1234.5678, 0.001, 0.0012, 999999999.5,
      1e21, 1e-7, 123456789.123, 5e-324, 2 ^ 53 + 2, -1e15, 12, -0.5 })
    assert(s == '[0.30000000000000004,2347.24,-0.07,1234.5678,0.001,0.0012,999999999.5,1e21,'
      .. '1e-7,123456789.123,5e-324,9007199254740994.0,-1000000000000000.0,12,-0.5]', s)
    for i = 1, 2000 do
      for _, x in ipairs({ i * 1.25, i / 3, i * 0.1, i * 0.001, -i / 16, i * 12345.6789 }) do
        assert(tonumber(json.stringify(x)) == x, x)
      end
    end
  end)

  -- json.stringify reads tables in place (runtime/src/modules/json/walk.rs) and hands the
  -- rare cases to the C API walk: metatables of the script's own, __tojson, key 0.
  test('__jsontype and __tojson on metatables of the script\'s own', function()
    assert(json.stringify(setmetatable({ 1, 2 }, { __jsontype = 'object' })) == '{"1":1,"2":2}')
    local arr = setmetatable({ [1] = 'a', [3] = 'c', x = 1 }, { __jsontype = 'array' })
    assert(json.stringify(arr) == '["a",null,"c"]', json.stringify(arr))
    local seen
    local point = setmetatable({ x = 1 }, { __tojson = function(self, state)
      seen = { self, type(state) }
      return '"point"'
    end })
    assert(json.stringify({ p = point, q = { point } }) == '{"p":"point","q":["point"]}'
      or json.stringify({ p = point, q = { point } }) == '{"q":["point"],"p":"point"}')
    assert(seen[1] == point and seen[2] == 'table')
    assert(json.stringify({ setmetatable({}, { __tojson = function() return 12 end }) }) == '[12]')
    -- dkjson's refusal: nil (or false) and a message
    local ok, err = pcall(json.stringify, { setmetatable({}, { __tojson = function()
      return nil, 'no way'
    end }) })
    assert(not ok and err == 'no way', err)
    ok, err = pcall(json.stringify, { setmetatable({}, { __tojson = function() return false end }) })
    assert(not ok and err:find('custom encoder'), err)
    -- a table is no JSON text: refused, not written as nothing ('{"a":}')
    ok, err = pcall(json.stringify, { a = setmetatable({}, { __tojson = function() return {} end }) })
    assert(not ok and err:find('returned a table'), err)
    ok, err = pcall(json.stringify, { setmetatable({}, { __tojson = function() error('boom') end }) })
    assert(not ok and err:find('boom') and not err:find('traceback'), err)
    -- an __index does not make keys
    assert(json.stringify(setmetatable({}, { __index = { a = 1 } })) == '[]')
  end)

  test('key 0 and keys before the border make an object (dkjson\'s rule)', function()
    local s = json.stringify({ [0] = 'z', 1, 2 })
    assert(s == '{"0":"z","1":1,"2":2}', s)
    local t = json.parse(json.stringify({ [1] = 1, [2] = 2, x = 'y' }))
    assert(t['1'] == 1 and t['2'] == 2 and t.x == 'y')
    assert(json.stringify({ [1.5] = 1 }) == '{"1.5":1}')
    assert(json.stringify({ [-1] = 1 }) == '{"-1":1}')
    local sparse = json.parse(json.stringify({ [1] = 1, [30] = 2 }))
    assert(sparse['1'] == 1 and sparse['30'] == 2)
    assert(json.stringify({ [1] = 1, [10] = 2 }) == '[1,null,null,null,null,null,null,null,null,2]')
  end)

  -- A __tojson runs Lua while tables are being read in place: it may grow, empty or drop
  -- them and run the collector; the walk re-reads what it holds and never crashes.
  test('__tojson that changes the tables being walked', function()
    for variant = 1, 6 do
      local root = { list = {}, obj = {} }
      for i = 1, 30 do root.list[i] = { i, 'v' .. i } root.obj['k' .. i] = { i } end
      local mt = {}
      mt.__tojson = function()
        if variant == 1 then for i = 31, 400 do root.list[i] = i end
        elseif variant == 2 then for i = 1, 400 do root.obj['n' .. i] = i end
        elseif variant == 3 then root.list = nil root.obj = nil
        elseif variant == 4 then for k in pairs(root.obj) do root.obj[k] = nil end
        elseif variant == 5 then for i = 1, 30 do root.list[i] = nil end
        else root.obj = setmetatable({}, mt) end
        collectgarbage()
        collectgarbage()
        return '"T"'
      end
      root.list[3] = setmetatable({}, mt)
      root.obj.k7 = setmetatable({}, mt)
      local ok, s = pcall(json.stringify, root)
      assert(type(s) == 'string', variant)
      if ok then assert(json.parse(s), s) end
    end
  end)

  test('a large document of every kind of value round-trips', function()
    local list = {}
    for i = 1, 2000 do
      list[i] = { id = i, name = 'item ' .. i, price = i * 1.25, tags = { 'a', 'b' },
        on = i % 2 == 0, nested = { x = i, y = -i, label = 'q"uoted\n' }, empty = {} }
    end
    local text = json.stringify({ list = list, n = #list })
    local back = json.parse(text)
    assert(back.n == 2000 and #back.list == 2000)
    local b = back.list[1234]
    assert(b.id == 1234 and b.name == 'item 1234' and b.price == 1542.5 and b.tags[2] == 'b')
    assert(b.on == true and b.nested.y == -1234 and b.nested.label == 'q"uoted\n')
    -- written back from the parsed tables: the same length, and the same values again
    local again = json.stringify(back)
    assert(#again == #text, #again .. ' vs ' .. #text)
    assert(json.parse(again).list[2000].nested.x == 2000)
    local pretty = json.stringify(back, { indent = true })
    assert(json.parse(pretty).list[7].tags[1] == 'a')
  end)

  -- dkjson's state.keyorder: the keys an object writes first, in that order; its other keys
  -- follow (in table order). runtime/src/modules/json/encode.rs, `ordered_object`.
  test('keyorder: listed keys first, in order, in nested objects too, and not in arrays', function()
    local s = json.stringify({ c = 3, a = 1, d = 4, b = 2 }, { keyorder = { 'b', 'a' } })
    assert(s:sub(1, 14) == '{"b":2,"a":1,"', s)
    local back = json.parse(s)
    assert(back.a == 1 and back.b == 2 and back.c == 3 and back.d == 4, s)
    s = json.stringify({ x = { b = 1, a = 2 }, list = { { a = 1, b = 2 }, { 'b', 'a' } } },
      { keyorder = { 'x', 'b', 'a' } })
    assert(s == '{"x":{"b":1,"a":2},"list":[{"b":2,"a":1},["b","a"]]}', s)
    -- the tables json.parse makes, and a script's own __jsontype = 'object'
    s = json.stringify(json.parse('{"z":{"m":1,"k":2},"k":3}'), { keyorder = { 'k', 'z' } })
    assert(s == '{"k":3,"z":{"k":2,"m":1}}', s)
    s = json.stringify(json.parse('{"z":{"m":1,"k":2},"k":3}'), { keyorder = { 'k', 'm', 'z' } })
    assert(s == '{"k":3,"z":{"k":2,"m":1}}', s)
    s = json.stringify(setmetatable({ 1, 2 }, { __jsontype = 'object' }), { keyorder = { 2, 1 } })
    assert(s == '{"2":2,"1":1}', s)
    assert(json.stringify(setmetatable({ 1, 2 }, { __jsontype = 'array' }), { keyorder = { 2, 1 } }) == '[1,2]')
    assert(json.stringify({}, { keyorder = { 'a' } }) == '[]')
    assert(json.stringify(json.parse('{}'), { keyorder = { 'a' } }) == '{}')
  end)

  test('keyorder with indent', function()
    local s = json.stringify({ b = { 1, { y = 1, x = 2 } }, a = true }, { indent = true, keyorder = { 'a', 'b', 'x', 'y' } })
    assert(s == '{\n  "a": true,\n  "b": [\n    1,\n    {\n      "x": 2,\n      "y": 1\n    }\n  ]\n}', s)
    s = json.stringify({ b = { 1, { y = 1, x = 2 } }, a = true }, { indent = 1, keyorder = { 'b', 'a', 'y', 'x' } })
    assert(s == '{\n "b": [\n  1,\n  {\n   "y": 1,\n   "x": 2\n  }\n ],\n "a": true\n}', s)
    s = json.stringify({ b = 1, a = 2 }, { indent = '\t', keyorder = { 'a', 'b' } })
    assert(s == '{\n\t"a": 2,\n\t"b": 1\n}', s)
    s = json.stringify({ b = 1, a = 2 }, { indent = '\t', keyorder = { 'b', 'a' } })
    assert(s == '{\n\t"b": 1,\n\t"a": 2\n}', s)
  end)

  test('keyorder: numbers match numeric keys as Lua compares them, missing keys are skipped', function()
    -- 1 and "1" are different keys: each matches only its own
    local s = json.stringify({ ['1'] = 's', x = 1 }, { keyorder = { 1, 'x' } })
    assert(s == '{"x":1,"1":"s"}', s)
    s = json.stringify({ [1] = 'one', [30] = 'thirty', x = 'x' }, { keyorder = { 'x', 30.0, '1', 1 } })
    assert(s == '{"x":"x","30":"thirty","1":"one"}', s)
    s = json.stringify({ [1.5] = 'a', [-2] = 'b' }, { keyorder = { -2, 1.5 } })
    assert(s == '{"-2":"b","1.5":"a"}', s)
    -- absent keys, repeats (written once, where first listed), NaN and odd keys are passed over
    s = json.stringify({ b = 1, a = 2 }, { keyorder = { 'nope', 'a', 0 / 0, 'a', {}, 'b', 'b', true } })
    assert(s == '{"a":2,"b":1}', s)
    -- an empty list changes nothing
    assert(json.stringify({ a = 1 }, { keyorder = {} }) == '{"a":1}')
  end)

  test('keyorder: values as objects write them, json.null, false, left-out values', function()
    local s = json.stringify({ c = json.null, b = false, a = 0 }, { keyorder = { 'c', 'b', 'a' } })
    assert(s == '{"c":null,"b":false,"a":0}', s)
    -- functions are left out of objects, listed or not
    s = json.stringify({ f = print, b = 1, g = print }, { keyorder = { 'f', 'b' } })
    assert(s == '{"b":1}', s)
    -- keys are read raw: __index makes none
    s = json.stringify(setmetatable({ b = 1 }, { __index = { a = 2 } }), { keyorder = { 'a', 'b' } })
    assert(s == '{"b":1}', s)
    -- refusals still come out of listed keys
    local cyc = {}
    cyc.a = { cyc }
    local ok, err = pcall(json.stringify, cyc, { keyorder = { 'a' } })
    assert(not ok and err:find('reference cycle'), err)
    ok, err = pcall(json.stringify, { [true] = 1, x = 1 }, { keyorder = { true } })
    assert(not ok and err:find('cannot use a boolean as an object key'), err)
    ok, err = pcall(json.stringify, { a = 1, b = { f = 1, [{}] = 2 } }, { keyorder = { 'b' } })
    assert(not ok and err:find('cannot use a table as an object key'), err)
  end)

  test('keyorder: __tojson gets it in its state; changing it there changes nothing', function()
    local order = { 'x', 'y' }
    local got
    local v = { y = setmetatable({}, { __tojson = function(_, state)
      got = state.keyorder
      return json.stringify({ y = 1, x = 2 }, state)
    end }), x = 0 }
    local s = json.stringify(v, { keyorder = order })
    assert(s == '{"x":0,"y":{"x":2,"y":1}}', s)
    assert(got == order)
    -- a __tojson that empties the list: the walk goes on with the order it started with
    local w = { a = setmetatable({}, { __tojson = function(_, state)
      for i = #state.keyorder, 1, -1 do state.keyorder[i] = nil end
      collectgarbage()
      return '1'
    end }), b = { b = 1, a = 2 } }
    s = json.stringify(w, { keyorder = { 'a', 'b' } })
    assert(s == '{"a":1,"b":{"a":2,"b":1}}', s)
  end)

  test('keyorder that is not a table is refused; nil and false mean none', function()
    for _, bad in ipairs({ 5, 'ab', true, print }) do
      local ok, err = pcall(json.stringify, { a = 1 }, { keyorder = bad })
      assert(not ok and err:find('keyorder must be a table') and err:find(type(bad)), err)
    end
    assert(json.stringify({ a = 1 }, { keyorder = false }) == '{"a":1}')
    assert(json.stringify({ a = 1 }, { keyorder = nil, indent = false }) == '{"a":1}')
  end)

  test('encode/decode are aliases', function()
    assert(json.encode == json.stringify and json.decode == json.parse)
  end)
end)
