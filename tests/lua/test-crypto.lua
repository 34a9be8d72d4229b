local crypto = require('crypto')
local Buffer = require('buffer').Buffer

local function hex(s)
  return (s:gsub('.', function(c) return ('%02x'):format(c:byte()) end))
end

local function raises(fn, pattern, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, 'expected an error matching ' .. pattern)
  assert(tostring(err):find(pattern, 1, true), tostring(err))
end

-- FIPS 180 / RFC 1321 digests of 'abc' and of ''.
local ABC = {
  md5 = '900150983cd24fb0d6963f7d28e17f72',
  sha1 = 'a9993e364706816aba3e25717850c26c9cd0d89d',
  sha224 = '23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7',
  sha256 = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  sha384 = 'cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7',
  sha512 = 'ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f',
}
local EMPTY = {
  md5 = 'd41d8cd98f00b204e9800998ecf8427e',
  sha1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709',
  sha224 = 'd14a028c2a3a2bc9476102bb288234c415a2b01f828ea62ac5b3e42f',
  sha256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  sha384 = '38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b',
  sha512 = 'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e',
}

-- RFC 4231 test cases 1, 2 and 6 (a key longer than the block).
local RFC4231 = {
  {
    key = string.rep('\11', 20), data = 'Hi There',
    sha224 = '896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22',
    sha256 = 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
    sha384 = 'afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6',
    sha512 = '87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854',
  },
  {
    key = 'Jefe', data = 'what do ya want for nothing?',
    sha224 = 'a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44',
    sha256 = '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843',
    sha384 = 'af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649',
    sha512 = '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737',
  },
  {
    key = string.rep('\170', 131), data = 'Test Using Larger Than Block-Size Key - Hash Key First',
    sha224 = '95e9a0db962095adaebe9b2d6f0dbce2d499f112f2d2b7273fa6870e',
    sha256 = '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
    sha384 = '4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952',
    sha512 = '80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598',
  },
}

require('tap')(function(test)
  test('createHash: known digests of abc and the empty string, every algorithm', function()
    for alg, want in pairs(ABC) do
      assert(crypto.createHash(alg):update('abc'):digest('hex') == want, alg)
      assert(crypto.createHash(alg):digest('hex') == EMPTY[alg], alg .. ' of nothing')
      assert(crypto.createHash(alg):update(''):digest('hex') == EMPTY[alg], alg .. " of ''")
    end
  end)

  test('createHash: update is chainable and incremental; names are case-insensitive', function()
    local h = crypto.createHash('SHA256')
    assert(h:update('a') == h)
    h:update('b'):update('c')
    assert(h:digest('hex') == ABC.sha256)
    -- A million 'a's in uneven pieces (FIPS 180 long-message vector).
    local m = crypto.createHash('sha256')
    local left = 1000000
    local piece = 1
    while left > 0 do
      local n = math.min(piece, left)
      m:update(string.rep('a', n))
      left = left - n
      piece = piece * 3 + 1
    end
    assert(m:digest('hex') == 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0')
    assert(crypto.hash('md5', string.rep('a', 1000000)) == '7707d6ae4e027c70eea2a935c2296f21')
  end)

  test('digest encodings: raw bytes by default, hex, base64, base64url', function()
    local raw = crypto.createHash('sha256'):update('abc'):digest()
    assert(#raw == 32 and hex(raw) == ABC.sha256)
    assert(crypto.createHash('sha256'):update('abc'):digest('base64') ==
      'ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=')
    assert(crypto.createHash('sha256'):update('abc'):digest('base64url') ==
      'ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0')
    assert(crypto.createHash('md5'):update('abc'):digest('latin1') == crypto.hash('md5', 'abc', 'buffer'))
    raises(function() crypto.createHash('md5'):digest('klingon') end, "digest: unknown encoding 'klingon'")
  end)

  test('a context digests once; copy() forks a running hash', function()
    local h = crypto.createHash('sha1'):update('ab')
    local fork = h:copy()
    h:update('c')
    fork:update('x')
    assert(h:digest('hex') == ABC.sha1)
    assert(fork:digest('hex') == crypto.hash('sha1', 'abx'))
    raises(function() h:digest() end, 'digest already called')
    raises(function() h:update('more') end, 'digest already called')
    raises(function() h:copy() end, 'digest already called')
  end)

  test('createHmac: RFC 4231 vectors (sha224..sha512) and RFC 2202 (md5, sha1)', function()
    for i, case in ipairs(RFC4231) do
      for _, alg in ipairs({ 'sha224', 'sha256', 'sha384', 'sha512' }) do
        local got = crypto.createHmac(alg, case.key):update(case.data):digest('hex')
        assert(got == case[alg], ('case %d %s: %s'):format(i, alg, got))
      end
    end
    local jefe = 'what do ya want for nothing?'
    assert(crypto.createHmac('md5', 'Jefe'):update(jefe):digest('hex') == '750c783e6ab0b503eaa86e310a5db738')
    assert(crypto.createHmac('sha1', 'Jefe'):update(jefe):digest('hex') ==
      'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79')
    assert(crypto.createHmac('sha256', ''):digest('hex') ==
      'b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad')
    -- Incremental updates give the same MAC.
    local m = crypto.createHmac('sha256', 'Jefe')
    for c in jefe:gmatch('.') do m:update(c) end
    assert(m:digest('hex') == RFC4231[2].sha256)
  end)

  test('hash(): one-shot, hex unless told', function()
    assert(crypto.hash('sha256', 'abc') == ABC.sha256)
    assert(crypto.hash('sha512', '', 'hex') == EMPTY.sha512)
    assert(#crypto.hash('sha384', 'abc', 'buffer') == 48)
    assert(crypto.hash('sha1', 'abc', 'base64') == 'qZk+NkcGgWq6PiVxeFDCbJzQ2J0=')
  end)

  test('Buffers are accepted as data and keys', function()
    assert(crypto.createHash('md5'):update(Buffer:new('abc')):digest('hex') == ABC.md5)
    assert(crypto.createHmac('sha256', Buffer:new('Jefe')):update('what do ya want for nothing?')
      :digest('hex') == RFC4231[2].sha256)
  end)

  test('getHashes lists the algorithms', function()
    local list = crypto.getHashes()
    local seen = {}
    for _, name in ipairs(list) do seen[name] = true end
    for alg in pairs(ABC) do assert(seen[alg], alg) end
    list[1] = 'changed'
    assert(crypto.getHashes()[1] ~= 'changed', 'a fresh list each call')
  end)

  test('randomBytes: sizes, variety, async on a later tick', function(expect)
    assert(crypto.randomBytes(0) == '')
    local a, b = crypto.randomBytes(32), crypto.randomBytes(32)
    assert(#a == 32 and #b == 32 and a ~= b)
    local big = crypto.randomBytes(1000000)
    local counts = {}
    for i = 1, #big, 97 do
      local c = big:byte(i)
      counts[c] = (counts[c] or 0) + 1
    end
    local distinct = 0
    for _ in pairs(counts) do distinct = distinct + 1 end
    assert(distinct > 200, 'random bytes spread over the byte values: ' .. distinct)
    local sync = true
    crypto.randomBytes(16, expect(function(err, bytes)
      assert(not sync, 'callback ran synchronously')
      assert(err == nil and #bytes == 16)
    end))
    sync = false
    raises(crypto.randomBytes, 'randomBytes: size must be an integer', -1)
    raises(crypto.randomBytes, 'randomBytes: size must be an integer', 1.5)
    raises(crypto.randomBytes, 'randomBytes: size must be an integer', 'ten')
    raises(crypto.randomBytes, 'randomBytes: callback must be a function', 4, 'nope')
  end)

  test('the native random refuses a size the allocator cannot give, without aborting', function()
    -- crypto-native is internal, yet require() reaches it; 1e15 bytes once aborted the process
    local bytes, err = require('crypto-native').random(1e15)
    assert(bytes == nil and tostring(err):find('cannot allocate', 1, true), tostring(err))
    assert(#require('crypto-native').random(8) == 8)
  end)

  test('timingSafeEqual: equal, unequal, different lengths are an error', function()
    assert(crypto.timingSafeEqual('secret', 'secret') == true)
    assert(crypto.timingSafeEqual('secret', 'secreT') == false)
    assert(crypto.timingSafeEqual('', '') == true)
    assert(crypto.timingSafeEqual(Buffer:new('abc'), 'abc') == true)
    raises(crypto.timingSafeEqual, 'timingSafeEqual: Input buffers must have the same byte length', 'a', 'ab')
    raises(crypto.timingSafeEqual, 'timingSafeEqual: a must be a string or Buffer', nil, 'a')
  end)

  test('unknown algorithms and bad arguments name the function', function()
    raises(crypto.createHash, "createHash: unknown hash algorithm 'sha3-256'", 'sha3-256')
    raises(crypto.createHmac, "createHmac: unknown hash algorithm 'whirlpool'", 'whirlpool', 'k')
    raises(crypto.hash, "hash: unknown hash algorithm 'md4'", 'md4', 'x')
    raises(crypto.createHash, 'createHash: algorithm must be a string', nil)
    raises(crypto.createHmac, 'createHmac: key must be a string or Buffer', 'sha256', 42)
    raises(function() crypto.createHash('md5'):update(nil) end, 'update: data must be a string or Buffer')
    raises(function() crypto.createHash('md5'):update({}) end, 'update: data must be a string or Buffer')
    raises(crypto.hash, 'hash: data must be a string or Buffer', 'md5', 12)
    raises(crypto.hash, "hash: unknown encoding 'nope'", 'md5', 'x', 'nope')
  end)
end)
