-- An HTTP server whose handler blocks the loop, to try the profilers on:
-- `luvit --loop-prof examples/profile-http.lua` names the request handler (an `http request`
-- made where the server was created) as the callback that ran past the threshold, and
-- `--cpu-prof` puts its samples under an `[http request]` frame. It asks itself a few
-- requests, then stops.
local http = require('http')

local function render(n)
  local t, deadline = 0, os.clock() + 0.08
  while os.clock() < deadline do t = t + n % 7 end
  return tostring(t)
end

local server = http.createServer(function(req, res) -- the request handler
  local body = render(#req.url)
  res:setHeader('Content-Length', tostring(#body))
  res:finish(body)
end)

server:listen(0, '127.0.0.1', function()
  local port = server:address().port
  local left = 3
  local function ask()
    http.get({ host = '127.0.0.1', port = port, path = '/' .. left }, function(res)
      res:on('data', function() end)
      res:on('end', function()
        left = left - 1
        if left > 0 then ask() else server:close() end
      end)
    end)
  end
  ask()
end)
