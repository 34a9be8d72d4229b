// node's side of the HTTP benchmark: the same response bytes as hello.lua.
const http = require('http');
const body = 'Hello world\n';
http.createServer((req, res) => {
  res.setHeader('Content-Type', 'text/plain');
  res.setHeader('Content-Length', body.length);
  res.end(body);
}).listen(Number(process.env.PORT || 8080), '127.0.0.1');
