local Buffer = require('buffer').Buffer

require('tap')(function(test)
  test('new from a length is zero-filled and 1-based', function()
    local b = Buffer:new(4)
    assert(b.length == 4 and #b == 4)
    for i = 1, 4 do assert(b[i] == 0) end
    b[1], b[4] = 65, 66
    assert(b:toString() == 'A\0\0B')
  end)

  -- fuzz crash lua_api_buffer_new_huge_length (tests/fuzz/regressions/lua_api/): malloc's NULL
  -- for Buffer:new(1e15) was filled with zeros: a segfault.
  test('lua_api_buffer_new_huge_length: an impossible length is an error', function()
    local ok, err = pcall(Buffer.new, Buffer, 1e15)
    assert(not ok and tostring(err):find('cannot allocate 1000000000000000 bytes', 1, true), tostring(err))
  end)

  test('new from a string and toString ranges', function()
    local b = Buffer:new('hello')
    assert(tostring(b) == 'hello')
    assert(b:toString(2, 4) == 'ell')
    assert(not pcall(b.toString, b, 0, 2), 'start 0 is out of range')
    assert(not pcall(b.toString, b, 1, 6), 'past the end is out of range')
    assert(Buffer:new(0):toString() == '')
  end)

  test('integer reads and writes in both byte orders', function()
    local b = Buffer:new(8)
    b:writeUInt32BE(1, 0xDEADBEEF)
    assert(b:readUInt32BE(1) == 0xDEADBEEF)
    assert(b:readUInt8(1) == 0xDE and b:readUInt8(4) == 0xEF)
    b:writeInt16LE(5, -2)
    assert(b:readInt16LE(5) == -2 and b:readUInt16LE(5) == 0xFFFE)
    b:writeInt8(7, -1)
    assert(b:readInt8(7) == -1 and b:readUInt8(7) == 255)
    b:writeUInt32LE(1, 0x01020304)
    assert(b:readUInt32BE(1) == 0x04030201)
    assert(b:readInt32BE(1) == 0x04030201)
  end)

  test('out of range index is an error', function()
    local b = Buffer:new(2)
    assert(not pcall(function() return b[3] end))
    assert(not pcall(function() b[0] = 1 end))
  end)

  test('isBuffer and inspect', function()
    assert(Buffer.isBuffer(Buffer:new(1)) and not Buffer.isBuffer({}))
    assert(Buffer:new('AB'):inspect() == '<Buffer 41 42>')
  end)
end)
