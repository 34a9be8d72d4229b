-- A TCP echo server: `luvit examples/tcp-echo.lua`, then `nc 127.0.0.1 1337` and type.
-- With --selftest it connects to itself, checks the echo and exits.
local net = require('net')

local port = tonumber(process.env.PORT) or 1337
local server = net.createServer(function(client)
  client:on('error', function(err) print('client error: ' .. tostring(err)) end)
  client:pipe(client)
end)

server:listen(port, '127.0.0.1', function()
  print('echo server on 127.0.0.1:' .. server:address().port)
  if args[2] ~= '--selftest' then return end
  local c
  c = net.connect(server:address().port, '127.0.0.1', function() c:write('ping') end)
  c:on('data', function(data)
    print('echoed: ' .. data)
    c:destroy()
    server:close()
  end)
end)
