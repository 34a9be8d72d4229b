local fs = require('fs')
local uv = require('uv')

local dir = fs.mkdtempSync('/tmp/luvit-test-fs-')

require('tap')(function(test)
  test('writeFileSync then readFileSync round-trips bytes', function()
    local path = dir .. '/a.bin'
    local data = 'line1\n\0binary\255'
    fs.writeFileSync(path, data)
    assert(fs.readFileSync(path) == data)
  end)

  test('readFile with a callback gets err, data', function(expect)
    local path = dir .. '/b.txt'
    fs.writeFileSync(path, 'hello')
    fs.readFile(path, expect(function(err, data)
      assert(err == nil, err)
      assert(data == 'hello')
    end))
  end)

  test('a missing file is an ENOENT error naming the path', function(expect)
    fs.readFile(dir .. '/missing', expect(function(err, data)
      assert(data == nil)
      assert(err:match('^ENOENT') and err:find('missing', 1, true), err)
    end))
    -- Sync calls return nil and the error, like luvit's; they do not raise.
    local none, err = fs.readFileSync(dir .. '/missing2')
    assert(none == nil and err:find('ENOENT'), err)
    local fd, oerr = fs.openSync('/no/such/dir/file', 'r')
    assert(fd == nil and oerr:match('^ENOENT'), oerr)
  end)

  test('coroutine style: pass the coroutine instead of a callback', function(expect)
    coroutine.wrap(expect(function()
      local co = coroutine.running()
      local path = dir .. '/c.txt'
      assert(fs.writeFile(path, 'co data', co))
      assert(fs.readFile(path, co) == 'co data')
      local st = fs.stat(path, co)
      assert(st.size == 7 and st.type == 'file')
      local missing, err = fs.stat(dir .. '/nope', co)
      assert(missing == nil and err:match('ENOENT'), err)
    end))()
  end)

  test('open, write at offsets, read back, close', function()
    local path = dir .. '/d.txt'
    local fd = fs.openSync(path, 'w+')
    fs.writeSync(fd, 0, 'abcdef')
    fs.writeSync(fd, 2, 'XY')
    assert(fs.readSync(fd, 100, 0) == 'abXYef')
    fs.closeSync(fd)
  end)

  test('appendFile, exists, rename, unlink', function(expect)
    local path = dir .. '/e.txt'
    fs.writeFileSync(path, 'a')
    assert(fs.appendFileSync(path, 'b') == nil, 'luvit: nothing on success')
    assert(fs.appendFileSync('/no/such/dir/f', 'x'):match('^ENOENT'))
    assert(fs.readFileSync(path) == 'ab')
    assert(fs.existsSync(path) == true)
    fs.renameSync(path, path .. '.2')
    assert(fs.existsSync(path) == false)
    fs.exists(path .. '.2', expect(function(err, yes)
      assert(err == nil and yes == true)
      fs.unlinkSync(path .. '.2')
    end))
  end)

  test('mkdir, readdir, scandir, rmdir', function()
    local sub = dir .. '/sub'
    fs.mkdirSync(sub)
    fs.writeFileSync(sub .. '/x', '1')
    fs.mkdirSync(sub .. '/inner')
    local names = fs.readdirSync(sub)
    table.sort(names)
    assert(names[1] == 'inner' and names[2] == 'x', table.concat(names, ','))
    local kinds = {}
    for name, kind in fs.scandirSync(sub) do kinds[name] = kind end
    assert(kinds.x == 'file' and kinds.inner == 'directory')
    fs.unlinkSync(sub .. '/x')
    fs.rmdirSync(sub .. '/inner')
    fs.rmdirSync(sub)
  end)

  test('mkdirpSync creates missing parents', function()
    fs.mkdirpSync(dir .. '/p/q/r')
    assert(fs.statSync(dir .. '/p/q/r').type == 'directory')
    fs.rmdirSync(dir .. '/p/q/r'); fs.rmdirSync(dir .. '/p/q'); fs.rmdirSync(dir .. '/p')
  end)

  test('symlink, readlink, lstat', function()
    local target = dir .. '/target'
    fs.writeFileSync(target, 't')
    fs.symlinkSync(target, dir .. '/link')
    assert(fs.readlinkSync(dir .. '/link') == target)
    assert(fs.lstatSync(dir .. '/link').type == 'link')
    assert(fs.statSync(dir .. '/link').type == 'file')
    fs.unlinkSync(dir .. '/link'); fs.unlinkSync(target)
  end)

  test('chmod with an octal string and truncate', function()
    local path = dir .. '/m'
    fs.writeFileSync(path, '123456')
    fs.chmodSync(path, '600')
    assert(fs.statSync(path).mode % 512 == 384)
    fs.truncateSync(path, 2)
    assert(fs.readFileSync(path) == '12')
    fs.unlinkSync(path)
  end)

  test('read and write streams pipe a file', function(expect)
    local src, dst = dir .. '/src', dir .. '/dst'
    fs.writeFileSync(src, string.rep('0123456789', 20000))
    local r = fs.createReadStream(src)
    local w = fs.createWriteStream(dst)
    w:on('close', expect(function()
      assert(fs.readFileSync(dst) == fs.readFileSync(src))
      fs.unlinkSync(src); fs.unlinkSync(dst)
    end))
    r:pipe(w)
  end)

  test('clean up the temp folder', function()
    for _, name in ipairs(fs.readdirSync(dir)) do fs.unlinkSync(dir .. '/' .. name) end
    assert(fs.rmdirSync(dir))
    assert(not uv.fs_stat(dir))
  end)
end)
