-- The hello-world HTTP server: `luvit examples/http-hello.lua`, then visit http://127.0.0.1:8080/
-- (PORT and HOST in the environment change where it listens).
local http = require('http')

local port = tonumber(process.env.PORT) or 8080
local host = process.env.HOST or '127.0.0.1'
local body = 'Hello world\n'

http.createServer(function(req, res)
  res:setHeader('Content-Type', 'text/plain')
  res:setHeader('Content-Length', #body)
  res:finish(body)
end):listen(port, host)

print('Server listening at http://' .. host .. ':' .. port .. '/')
