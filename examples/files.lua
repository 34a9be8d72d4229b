-- fs with callbacks and with coroutines: write a file, read it back, list a folder, clean up.
local fs = require('fs')
local path = require('path')

local dir = fs.mkdtempSync('/tmp/luvit-example-')
local file = path.join(dir, 'hello.txt')

fs.writeFile(file, 'hello from luvit-rs\n', function(err)
  assert(not err, err)
  fs.readFile(file, function(err2, data)
    assert(not err2, err2)
    print('callback read: ' .. data:gsub('\n$', ''))

    -- The same calls, coroutine style: pass the coroutine instead of a callback.
    coroutine.wrap(function()
      local co = coroutine.running()
      local names = fs.readdir(dir, co)
      p('files in the folder', names)
      local stat = fs.stat(file, co)
      print('size', stat.size)
      fs.unlink(file, co)
      fs.rmdir(dir, co)
      print('cleaned up', not fs.existsSync(dir))
    end)()
  end)
end)
