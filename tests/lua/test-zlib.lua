local zlib = require('zlib')
local fs = require('fs')
local uv = require('uv')
local childprocess = require('childprocess')
local bit = require('bit')

local dir = fs.mkdtempSync('/tmp/luvit-test-zlib-')

local function fromhex(h)
  return (h:gsub('%x%x', function(x) return string.char(tonumber(x, 16)) end))
end

-- Incompressible bytes from a fixed-seed generator (repeatable failures).
local function noise(n, seed)
  local x, parts, chunk = seed or 12345, {}, {}
  for _ = 1, n do
    x = (x * 1103515245 + 12345) % 2147483648
    chunk[#chunk + 1] = math.floor(x / 65536) % 256
    if #chunk == 4096 then
      parts[#parts + 1] = string.char(unpack(chunk))
      chunk = {}
    end
  end
  if #chunk > 0 then parts[#parts + 1] = string.char(unpack(chunk)) end
  return table.concat(parts)
end

-- Several MB: compressible text, then noise, then runs.
local function large()
  local lines = {}
  for i = 1, 60000 do lines[i] = ('line %d: the quick brown fox %d\n'):format(i, i * 7919 % 1000) end
  return table.concat(lines) .. noise(1500000, 99) .. string.rep('\0', 1000000) .. string.rep('ab', 300000)
end

local function u32le(n)
  return string.char(n % 256, math.floor(n / 256) % 256, math.floor(n / 65536) % 256,
    math.floor(n / 16777216) % 256)
end

-- Vectors made by the C zlib (Python's zlib module).
local HELLO_ZLIB = fromhex('789ccb48cdc9c90700062c0215')
local HELLO_RAW = fromhex('cb48cdc9c90700')
local EMPTY_ZLIB = fromhex('789c030000000001')
local HELLO_GZIP_NAMED = fromhex('1f8b08080000000002ff68656c6c6f2e74787400cb48cdc9c95748afca2ce00200397c63560b000000')

local PAIRS = {
  { 'deflateSync', 'inflateSync' },
  { 'gzipSync', 'gunzipSync' },
  { 'deflateRawSync', 'inflateRawSync' },
  { 'deflateSync', 'unzipSync' },
  { 'gzipSync', 'unzipSync' },
}

local function raises(fn, pattern, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, 'expected an error matching ' .. pattern)
  assert(tostring(err):find(pattern), tostring(err))
  return err
end

require('tap')(function(test)
  ---------------------------------------------------------------------------- lua-zlib
  test('lua-zlib: version is numeric, constants are there', function()
    local major, minor = zlib.version()
    assert(type(major) == 'number' and type(minor) == 'number' and major >= 1)
    assert(zlib.BEST_SPEED == 1 and zlib.BEST_COMPRESSION == 9)
  end)

  test('lua-zlib: inflate reads what C zlib wrote (zlib, raw, gzip with a name)', function()
    local out, eof, bin, bout = zlib.inflate()(HELLO_ZLIB)
    assert(out == 'hello' and eof == true and bin == #HELLO_ZLIB and bout == 5)
    out, eof = zlib.inflate(-15)(HELLO_RAW)
    assert(out == 'hello' and eof == true)
    out, eof = zlib.inflate()(HELLO_GZIP_NAMED)
    assert(out == 'hello gzip\n' and eof, out)
    out, eof = zlib.inflate(31)(HELLO_GZIP_NAMED)
    assert(out == 'hello gzip\n' and eof)
    out, eof = zlib.inflate()(EMPTY_ZLIB)
    assert(out == '' and eof)
  end)

  test('lua-zlib: gzip header with every optional field', function()
    -- FHCRC | FEXTRA | FNAME | FCOMMENT, then C zlib's raw deflate of 'hello'.
    local head = '\31\139\8\30' .. '\0\0\0\0' .. '\0\3' .. '\4\0abcd' .. 'name\0' .. 'comment\0'
    local hcrc = zlib.crc32(head) % 65536
    local gz = head .. string.char(hcrc % 256, math.floor(hcrc / 256)) .. HELLO_RAW ..
      u32le(zlib.crc32('hello')) .. u32le(5)
    -- Fed a byte at a time: every partial header and trailer state.
    local stream, out, eof = zlib.inflate(), {}, false
    for i = 1, #gz do
      local o, e, bin = stream(gz:sub(i, i))
      out[#out + 1] = o
      eof = e
      assert(bin == i, bin)
    end
    assert(table.concat(out) == 'hello' and eof)
    assert(zlib.gunzipSync(gz) == 'hello')
  end)

  test('lua-zlib: deflate headers follow windowBits', function()
    local z = zlib.deflate()('hello', 'finish')
    assert(z:sub(1, 2) == '\120\156', 'zlib header 78 9c')
    assert(zlib.inflate()(z) == 'hello')
    local g = zlib.deflate(6, 31)('hello', 'finish')
    assert(g:sub(1, 3) == '\31\139\8', 'gzip magic')
    assert(zlib.inflate(31)(g) == 'hello')
    local r = zlib.deflate(9, -15)('hello', 'finish')
    assert(r:byte(1) ~= 0x78 and zlib.inflate(-15)(r) == 'hello')
    assert(zlib.deflate(1)('x', 'finish'):sub(1, 2) == '\120\1')
    assert(zlib.deflate(9)('x', 'finish'):sub(1, 2) == '\120\218')
  end)

  test('lua-zlib: chunked deflate, eof only on finish, byte counters', function()
    local data = large():sub(1, 700000)
    local stream = zlib.deflate()
    local parts, eof, bin, bout = {}, nil, nil, nil
    local produced = 0
    for i = 1, #data, 65536 do
      local out
      out, eof, bin, bout = stream(data:sub(i, i + 65535))
      assert(eof == false)
      assert(bin == math.min(i + 65535, #data), 'bytes_in counts all input so far')
      produced = produced + #out
      assert(bout == produced, 'bytes_out counts all output so far')
      parts[#parts + 1] = out
    end
    -- An empty string without a flush is a no-op.
    local out, e = stream('')
    assert(out == '' and e == false)
    out, eof, bin, bout = stream('', 'finish')
    parts[#parts + 1] = out
    assert(eof == true and bin == #data)
    local z = table.concat(parts)
    assert(bout == #z)
    assert(zlib.inflateSync(z) == data)
    -- Finished: nothing more may be written, but a bare call is harmless.
    local again, eof2 = stream()
    assert(again == '' and eof2 == true)
    raises(stream, '^IllegalState', 'more')
  end)

  test('lua-zlib: calling the deflate stream with nothing finishes it', function()
    local stream = zlib.deflate()
    local a = stream('abc')
    local b, eof = stream()
    assert(eof == true and zlib.inflateSync(a .. b) == 'abc')
  end)

  test('lua-zlib: sync and full flushes make all input so far decodable', function()
    for _, mode in ipairs({ 'sync', 'full' }) do
      local d, i = zlib.deflate(), zlib.inflate()
      local first = d('first part ', mode)
      assert(first:sub(-4) == '\0\0\255\255', mode .. ' flush ends with an empty stored block')
      local out, eof = i(first)
      assert(out == 'first part ' and eof == false, out)
      local rest = d('second part', 'finish')
      out, eof = i(rest)
      assert(out == 'second part' and eof == true, out)
    end
    raises(function() zlib.deflate()('x', 'bogus') end, "invalid option 'bogus'")
  end)

  test('lua-zlib: chunked inflate, counters, input after the end is not consumed', function()
    local data = large():sub(1, 500000)
    local z = zlib.deflateSync(data)
    local stream = zlib.inflate()
    local parts, eof, bin, bout = {}, false, 0, 0
    local input = z .. 'TRAILING'
    for i = 1, #input, 1000 do
      local out
      out, eof, bin, bout = stream(input:sub(i, i + 999))
      parts[#parts + 1] = out
      if eof then break end
    end
    assert(eof == true)
    assert(bin == #z, 'bytes_in stops at the end of the stream: ' .. bin .. ' vs ' .. #z)
    assert(bout == #data)
    assert(table.concat(parts) == data)
    raises(stream, '^IllegalState', 'more')
    local none, eof2 = stream()
    assert(none == '' and eof2 == true)
  end)

  test('lua-zlib: concatenated gzip members, one inflate per member via bytes_in', function()
    local all = zlib.gzipSync('one ') .. zlib.gzipSync('two ') .. zlib.gzipSync('three')
    local out, pos = {}, 1
    while pos <= #all do
      local o, eof, bin = zlib.inflate()(all:sub(pos))
      assert(eof)
      out[#out + 1] = o
      pos = pos + bin
    end
    assert(table.concat(out) == 'one two three')
  end)

  test('lua-zlib: corrupt input raises InvalidInput; windowBits are checked', function()
    raises(zlib.inflate(), '^InvalidInput: incorrect header check', 'definitely not zlib')
    raises(zlib.inflate(15), '^InvalidInput', HELLO_GZIP_NAMED)
    local bad = HELLO_ZLIB:sub(1, -2) .. string.char((HELLO_ZLIB:byte(-1) + 1) % 256)
    raises(zlib.inflate(), 'incorrect data check', bad)
    -- A broken stream stays broken.
    local s = zlib.inflate()
    pcall(s, 'garbage!')
    raises(s, 'IllegalState', 'x')
    raises(zlib.deflate, 'level', 12)
    raises(zlib.deflate, 'windowBits', 6, 99)
    raises(zlib.inflate, 'windowBits', 3)
  end)

  test('checksums: known values, running, joined; node-style one-shot crc32', function()
    assert(zlib.crc32('123456789') == 0xCBF43926)
    assert(zlib.crc32('hello') == 907060870)
    assert(zlib.crc32('') == 0)
    assert(zlib.crc32('lo', zlib.crc32('hel')) == 907060870, 'crc32 with a starting value')
    assert(zlib.adler32('Wikipedia') == 0x11E60398)
    assert(zlib.adler32('hello') == 103547413)
    local csum, len = zlib.crc32()('one two')
    assert(csum == zlib.crc32('one two') and len == 7)
    local compute = zlib.crc32()
    compute('one')
    assert(compute(' two') == csum)
    local c1, c2 = zlib.crc32(), zlib.crc32()
    c1('one')
    c2(' two')
    local joined, jlen = c1(c2)
    assert(joined == csum and jlen == 7)
    local a1, a2 = zlib.adler32(), zlib.adler32()
    a1('Wiki')
    a2('pedia')
    assert(a1(a2) == 0x11E60398)
    assert(select(2, a1()) == 9)
    assert(zlib.adler32()() == 1)
  end)

  ---------------------------------------------------------------------------- node
  test('node: the C zlib vectors decode, headers look like node output', function()
    assert(zlib.inflateSync(HELLO_ZLIB) == 'hello')
    assert(zlib.inflateRawSync(HELLO_RAW) == 'hello')
    assert(zlib.gunzipSync(HELLO_GZIP_NAMED) == 'hello gzip\n')
    assert(zlib.unzipSync(HELLO_GZIP_NAMED) == 'hello gzip\n')
    assert(zlib.unzipSync(HELLO_ZLIB) == 'hello')
    local g = zlib.gzipSync('x')
    assert(g:sub(1, 10) == '\31\139\8\0\0\0\0\0\0\3', 'node-like gzip header')
    assert(g:sub(-4) == u32le(1))
    assert(zlib.deflateSync('x'):sub(1, 2) == '\120\156')
  end)

  test('node: small, empty, random and large data round-trip through every format', function()
    local big = large()
    assert(#big > 4000000)
    local samples = { '', 'a', 'hello world', noise(100000, 7), big }
    for _, pair in ipairs(PAIRS) do
      for _, s in ipairs(samples) do
        local z = zlib[pair[1]](s)
        assert(zlib[pair[2]](z) == s, pair[1] .. ' -> ' .. pair[2] .. ' of ' .. #s .. ' bytes')
      end
    end
    local z = zlib.gzipSync(big)
    assert(#z < #big / 2, 'big compresses: ' .. #z)
  end)

  test('node: levels', function()
    local text = string.rep('compress me please ', 5000)
    local sizes = {}
    for _, level in ipairs({ 0, 1, 6, 9, -1 }) do
      local z = zlib.deflateSync(text, { level = level })
      assert(zlib.inflateSync(z) == text)
      sizes[level] = #z
    end
    assert(sizes[0] > #text, 'level 0 stores')
    assert(sizes[9] <= sizes[1] and sizes[-1] == sizes[6])
    raises(zlib.gzipSync, 'options.level', 'x', { level = 10 })
    raises(zlib.gzipSync, 'options.windowBits', 'x', { windowBits = 3 })
    raises(zlib.gzipSync, 'dictionary', 'x', { dictionary = 'abc' })
  end)

  test('node: corrupt and truncated input raise clear errors', function()
    raises(zlib.gunzipSync, '^gunzipSync: incorrect header check', 'not gzip at all')
    raises(zlib.inflateSync, 'inflateSync: incorrect header check', HELLO_GZIP_NAMED)
    raises(zlib.gunzipSync, 'unexpected end of file', '')
    raises(zlib.inflateSync, 'unexpected end of file', '')
    local g = zlib.gzipSync(string.rep('data ', 1000))
    raises(zlib.gunzipSync, 'unexpected end of file', g:sub(1, #g - 3))
    raises(zlib.gunzipSync, 'unexpected end of file', g:sub(1, 5))
    -- A changed CRC or length in the trailer.
    local crcBad = g:sub(1, -9) .. string.char(bit.bxor(g:byte(-8), 1)) .. g:sub(-7)
    raises(zlib.gunzipSync, 'incorrect data check', crcBad)
    local lenBad = g:sub(1, -2) .. string.char(bit.bxor(g:byte(-1), 1))
    raises(zlib.gunzipSync, 'incorrect length check', lenBad)
    -- A damaged body: invalid block type 3.
    raises(zlib.inflateRawSync, 'inflateRawSync: ', '\255\255\255\255')
    raises(zlib.gunzipSync, 'unknown compression method', '\31\139\9\0\0\0\0\0\0\3')
    raises(zlib.gzipSync, 'data must be a string or Buffer', {})
  end)

  test('node: gunzip reads every member; zero padding is fine, garbage is not', function()
    local two = zlib.gzipSync('abc') .. zlib.gzipSync('def')
    assert(zlib.gunzipSync(two) == 'abcdef')
    assert(zlib.unzipSync(two) == 'abcdef')
    assert(zlib.gunzipSync(two .. '\0\0\0\0') == 'abcdef')
    raises(zlib.gunzipSync, 'incorrect header check', two .. 'garbage')
    -- inflate (zlib format) ignores what follows the stream, as node does.
    assert(zlib.inflateSync(HELLO_ZLIB .. 'extra') == 'hello')
  end)

  test('node: async functions call back on a later tick', function(expect)
    local data = large():sub(1, 300000)
    local sync = true
    zlib.gzip(data, expect(function(err, gz)
      assert(not sync, 'callback ran synchronously')
      assert(err == nil, tostring(err))
      zlib.gunzip(gz, expect(function(err2, back)
        assert(err2 == nil and back == data)
      end))
    end))
    zlib.deflate(data, { level = 1 }, expect(function(err, z)
      assert(err == nil)
      zlib.inflate(z, expect(function(err2, back) assert(err2 == nil and back == data) end))
    end))
    zlib.deflateRaw('raw', expect(function(err, z)
      assert(err == nil)
      zlib.inflateRaw(z, expect(function(_, back) assert(back == 'raw') end))
    end))
    zlib.unzip(HELLO_GZIP_NAMED, expect(function(err, back)
      assert(err == nil and back == 'hello gzip\n')
    end))
    sync = false
  end)

  test('node: async errors are Error objects with zlib codes', function(expect)
    zlib.gunzip('this is not gzip', expect(function(err, result)
      assert(result == nil)
      assert(err and err.code == 'Z_DATA_ERROR' and err.errno == -3, tostring(err and err.code))
      assert(tostring(err):find('incorrect header check'), tostring(err))
    end))
    zlib.inflate(HELLO_ZLIB:sub(1, 5), expect(function(err)
      assert(err.code == 'Z_BUF_ERROR' and err.message == 'unexpected end of file', err.message)
    end))
    raises(zlib.gzip, 'callback must be a function', 'x')
    raises(zlib.deflate, 'callback must be a function', 'data')
  end)

  ---------------------------------------------------------------------------- streams
  test('streams: fs read stream -> createGzip -> fs write stream, then gunzip', function(expect)
    local data = large()
    local src, dst = dir .. '/big.bin', dir .. '/big.bin.gz'
    assert(fs.writeFileSync(src, data))
    local gz = zlib.createGzip()
    local w = fs.createWriteStream(dst)
    w:on('close', expect(function()
      local z = fs.readFileSync(dst)
      assert(zlib.gunzipSync(z) == data, 'the piped file gunzips to the original')
      assert(gz.bytesWritten == #data, tostring(gz.bytesWritten))
    end))
    fs.createReadStream(src):pipe(gz):pipe(w)
  end)

  test('streams: gzip -> gunzip and deflate -> inflate chains give the input back', function(expect)
    local data = large():sub(1, 2000000)
    for _, pair in ipairs({ { 'createGzip', 'createGunzip' }, { 'createDeflate', 'createInflate' },
      { 'createDeflateRaw', 'createInflateRaw' }, { 'createGzip', 'createUnzip' } }) do
      local c, d = zlib[pair[1]]({ level = 3 }), zlib[pair[2]]()
      local out = {}
      d:on('data', function(chunk) out[#out + 1] = chunk end)
      d:on('end', expect(function()
        assert(table.concat(out) == data, pair[1] .. ' -> ' .. pair[2])
      end))
      c:pipe(d)
      for i = 1, #data, 100000 do c:write(data:sub(i, i + 99999)) end
      c:_end()
    end
  end)

  test('streams: corrupt input emits error', function(expect)
    local g = zlib.createGunzip()
    g:on('error', expect(function(err)
      assert(err.code == 'Z_DATA_ERROR', tostring(err.code))
      assert(tostring(err):find('incorrect header check'))
    end))
    g:on('data', function() error('no data expected') end)
    g:write('this is not gzip data')
    g:_end()
  end)

  test('streams: truncated input emits error at the end', function(expect)
    local i = zlib.createInflate()
    i:on('error', expect(function(err)
      assert(err.code == 'Z_BUF_ERROR' and err.message == 'unexpected end of file', err.message)
    end))
    i:resume()
    i:write(zlib.deflateSync(string.rep('abc', 1000)):sub(1, 20))
    i:_end()
  end)

  test('streams: the classes exist and bad options raise at creation', function()
    assert(zlib.Gzip and zlib.Gunzip and zlib.Deflate and zlib.Inflate and zlib.Unzip)
    assert(zlib.DeflateRaw and zlib.InflateRaw)
    raises(zlib.createGzip, 'zlib.createGzip: options.level', { level = 99 })
  end)

  ---------------------------------------------------------------------------- system gzip
  test('system gzip: we gunzip its output, it gunzips ours', function(expect)
    local data = large():sub(1, 3000000)
    local plain = dir .. '/plain.txt'
    assert(fs.writeFileSync(plain, data))
    -- gzip -c keeps the file name in the header (FNAME).
    childprocess.exec('gzip -c ' .. plain .. ' > ' .. plain .. '.gz', expect(function(err)
      assert(not err, tostring(err))
      assert(zlib.gunzipSync(fs.readFileSync(plain .. '.gz')) == data, 'gunzip of gzip output')
    end))
    local ours = dir .. '/ours.gz'
    assert(fs.writeFileSync(ours, zlib.gzipSync(data, { level = 9 })))
    childprocess.exec('gzip -t ' .. ours .. ' && gzip -dc ' .. ours .. ' > ' .. dir .. '/ours.out',
      expect(function(err)
        assert(not err, tostring(err))
        assert(fs.readFileSync(dir .. '/ours.out') == data, 'gzip -d of our output')
      end))
    -- Two members, as `cat a.gz b.gz` makes them.
    local multi = dir .. '/multi.gz'
    assert(fs.writeFileSync(multi, zlib.gzipSync('first\n') .. zlib.gzipSync('second\n')))
    childprocess.exec('gzip -dc ' .. multi, expect(function(err, stdout)
      assert(not err and stdout == 'first\nsecond\n', tostring(stdout))
    end))
  end)

  test('clean up the temp folder', function()
    for _, name in ipairs(fs.readdirSync(dir)) do fs.unlinkSync(dir .. '/' .. name) end
    assert(fs.rmdirSync(dir))
    assert(not uv.fs_stat(dir))
  end)
end)
