-- The debugger benchmark's server: the hello-world response of examples/http-hello.lua, plus
-- a function the request path never runs (tests/bench/debugger/run.py sets a breakpoint in it).
local http = require('http')

local body = 'Hello world\n'

local function report(count)
  local line = 'served ' .. count
  print(line)
end

http.createServer(function(req, res)
  res:setHeader('Content-Type', 'text/plain')
  res:setHeader('Content-Length', #body)
  res:finish(body)
end):listen(tonumber(process.env.PORT) or 8080, '127.0.0.1')

if process.env.REPORT then report(0) end
