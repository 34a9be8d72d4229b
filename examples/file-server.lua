-- A static file server with streaming and gzip: `luvit examples/file-server.lua [dir]` serves
-- dir (default: this examples folder) on http://127.0.0.1:8080/. Files stream from disk
-- (fs.createReadStream piped into the response, with backpressure); clients that send
-- `Accept-Encoding: gzip` get them compressed on the fly through zlib.createGzip().
local http = require('http')
local fs = require('fs')
local pathJoin = require('path').join
local zlib = require('zlib')

local root = args[2] or module.dir
local port = tonumber(process.env.PORT) or 8080

local types = {
  lua = 'text/plain; charset=utf-8', txt = 'text/plain; charset=utf-8', html = 'text/html',
  json = 'application/json', js = 'text/javascript', css = 'text/css', png = 'image/png',
}

local function fail(res, code, text)
  res.statusCode = code
  res:setHeader('Content-Type', 'text/plain')
  res:finish(text .. '\n')
end

http.createServer(function(req, res)
  local path = req.url:match('^[^?]*')
  if path:find('%.%.') then return fail(res, 403, 'Forbidden') end
  local file = pathJoin(root, path)
  fs.stat(file, function(err, stat)
    if err or stat.type ~= 'file' then return fail(res, 404, 'Not found: ' .. path) end
    res:setHeader('Content-Type', types[file:match('%.(%w+)$') or ''] or 'application/octet-stream')
    local source = fs.createReadStream(file)
    source:on('error', function() res:finish() end)
    if (req.headers['accept-encoding'] or ''):find('gzip', 1, true) then
      res:setHeader('Content-Encoding', 'gzip')
      source:pipe(zlib.createGzip()):pipe(res)
    else
      res:setHeader('Content-Length', stat.size)
      source:pipe(res)
    end
  end)
end):listen(port, '127.0.0.1')

print('serving ' .. root .. ' at http://127.0.0.1:' .. port .. '/')
