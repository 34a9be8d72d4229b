-- The hello server of examples/http-hello.lua with its timeouts from the environment, on a free
-- port it prints ("listening PORT"): what tests/load.rs and tests/faults.rs load and starve.
local http = require('http')

local body = 'Hello world\n'
local options = {
  headersTimeout = tonumber(process.env.HEADERS_TIMEOUT),
  keepAliveTimeout = tonumber(process.env.KEEP_ALIVE_TIMEOUT),
}
local server = http.createServer(options, function(req, res)
  res:setHeader('Content-Type', 'text/plain')
  res:setHeader('Content-Length', #body)
  res:finish(body)
end)
server:listen(0, '127.0.0.1', function()
  print('listening ' .. server:address().port)
end)
