-- An HTTP client: `luvit examples/http-client.lua [url]` fetches the url (default: a server it
-- starts itself on 127.0.0.1) and prints the status, the headers and the body.
local http = require('http')

local function fetch(url, done)
  local req = http.get(url, function(res)
    print(res.statusCode .. ' ' .. tostring(res.statusMessage))
    for _, pair in ipairs(res.headers) do print(pair[1] .. ': ' .. pair[2]) end
    local body = {}
    res:on('data', function(chunk) body[#body + 1] = chunk end)
    res:on('end', function()
      print('\n' .. table.concat(body))
      if done then done() end
    end)
  end)
  req:on('error', function(err)
    print('request failed: ' .. tostring(err))
    if done then done() end
  end)
end

if args[2] then return fetch(args[2]) end

local server
server = http.createServer(function(req, res)
  res:setHeader('Content-Type', 'text/plain')
  res:finish('You asked for ' .. req.url .. '\n')
end)
server:listen(0, '127.0.0.1', function()
  fetch('http://127.0.0.1:' .. server:address().port .. '/example', function() server:close() end)
end)
