-- A server whose responses take DELAY ms (`/slow`), for SIGTERM while requests are in flight.
-- With GRACEFUL=1 it does what a node program does to drain: on SIGTERM, close the server (no
-- new connections; idle keep-alive ones close) and let in-flight responses finish, then the
-- loop empties and the process exits 0. Without it, SIGTERM ends the process at once (node's
-- default). Prints "listening PORT", then "request" as each request arrives.
local http = require('http')
local timer = require('timer')

local delay = tonumber(process.env.DELAY) or 500
local server = http.createServer(function(req, res)
  print('request')
  timer.setTimeout(delay, function()
    local body = 'finished after ' .. delay .. ' ms\n'
    res:setHeader('Content-Length', #body)
    res:finish(body)
  end)
end)
server:listen(0, '127.0.0.1', function()
  print('listening ' .. server:address().port)
end)

if process.env.GRACEFUL == '1' then
  process:on('SIGTERM', function()
    print('draining')
    server:close()
  end)
end
