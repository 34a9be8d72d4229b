-- Debugger example: a breakpoint in an HTTP request handler while a client makes requests.
local http = require('http')

local count = 0
local server = http.createServer(function(req, res)
  count = count + 1
  local body = 'hello ' .. count .. '\n'
  res:setHeader('Content-Length', #body)
  res:finish(body)
end)
server:listen(tonumber(process.env.PORT) or 8080, '127.0.0.1', function()
  print('listening on ' .. server:address().port)
end)
