--[[
fs: luvit's file system module. Every asynchronous call takes a callback (err, result) or a
coroutine (suspended until done; returns result, or nil and err) as its last argument, and
has a *Sync twin that returns the result, or nil and the error (like luvit, Sync calls do not
raise). Errors are strings like "ENOENT: no such file or directory: /path".
Streams: ReadStream, WriteStream, WriteStreamSync.
]]

local uv = require('uv')
local adapt = require('utils').adapt

local fs = {}

-- Builds `name` (async) and `nameSync` from a uv function and a list of argument defaults.
local function define(name, uvfn, arity)
  fs[name] = function(...)
    local n = select('#', ...)
    local args = { ... }
    local c = args[arity + 1]
    if n <= arity and (type(args[n]) == 'function' or type(args[n]) == 'thread') then
      c, args[n] = args[n], nil
    end
    return adapt(c, uvfn, unpack(args, 1, arity))
  end
  fs[name .. 'Sync'] = uvfn
end

define('close', uv.fs_close, 1)
define('open', function(path, flags, mode, cb)
  if type(mode) == 'string' then mode = tonumber(mode, 8) end
  return uv.fs_open(path, flags or 'r', mode or 438, cb)
end, 3)
define('read', function(fd, size, offset, cb)
  return uv.fs_read(fd, size or 4096, offset or -1, cb)
end, 3)
define('unlink', uv.fs_unlink, 1)
define('write', function(fd, offset, data, cb)
  return uv.fs_write(fd, data, offset or -1, cb)
end, 3)
define('mkdir', function(path, mode, cb)
  if type(mode) == 'string' then mode = tonumber(mode, 8) end
  return uv.fs_mkdir(path, mode or 511, cb)
end, 2)
define('mkdtemp', uv.fs_mkdtemp, 1)
define('rmdir', uv.fs_rmdir, 1)
define('stat', uv.fs_stat, 1)
define('fstat', uv.fs_fstat, 1)
define('lstat', uv.fs_lstat, 1)
define('rename', uv.fs_rename, 2)
define('fsync', uv.fs_fsync, 1)
define('fdatasync', uv.fs_fdatasync, 1)
define('ftruncate', function(fd, offset, cb) return uv.fs_ftruncate(fd, offset or 0, cb) end, 2)
define('sendfile', uv.fs_sendfile, 4)
define('access', function(path, flags, cb) return uv.fs_access(path, flags or '', cb) end, 2)
define('chmod', function(path, mode, cb)
  if type(mode) == 'string' then mode = tonumber(mode, 8) end
  return uv.fs_chmod(path, mode, cb)
end, 2)
define('fchmod', function(fd, mode, cb)
  if type(mode) == 'string' then mode = tonumber(mode, 8) end
  return uv.fs_fchmod(fd, mode, cb)
end, 2)
define('utime', uv.fs_utime, 3)
define('futime', uv.fs_futime, 3)
define('link', uv.fs_link, 2)
define('symlink', function(path, newPath, options, cb)
  return uv.fs_symlink(path, newPath, options or 0, cb)
end, 3)
define('readlink', uv.fs_readlink, 1)
define('chown', uv.fs_chown, 3)
define('fchown', uv.fs_fchown, 3)

-- scandir: an iterator of (name, type).
local function scanIterator(req)
  return function() return uv.fs_scandir_next(req) end
end
define('scandir', function(path, cb)
  if cb then
    return uv.fs_scandir(path, function(err, req)
      if err then return cb(err) end
      cb(nil, scanIterator(req))
    end)
  end
  local req, err = uv.fs_scandir(path)
  if not req then return nil, err end
  return scanIterator(req)
end, 1)

local function namesOf(req)
  local names = {}
  while true do
    local name = uv.fs_scandir_next(req)
    if not name then break end
    names[#names + 1] = name
  end
  return names
end
define('readdir', function(path, cb)
  if cb then
    return uv.fs_scandir(path, function(err, req)
      if err then return cb(err) end
      cb(nil, namesOf(req))
    end)
  end
  local req, err = uv.fs_scandir(path)
  if not req then return nil, err end
  return namesOf(req)
end, 1)

-- exists(path, cb(err, bool)): a missing file is not an error.
function fs.exists(path, c)
  return adapt(c, function(p, cb)
    uv.fs_stat(p, function(err, st)
      if err and not err:match('^ENOENT') then return cb(err) end
      cb(nil, st ~= nil)
    end)
  end, path)
end
function fs.existsSync(path)
  local st, err, code = uv.fs_stat(path)
  if st then return true end
  if code == 'ENOENT' or code == 'ENOTDIR' then return false end
  return false, err
end

define('truncate', function(path, offset, cb)
  local function doit(done)
    uv.fs_open(path, 'r+', 438, function(err, fd)
      if err then return done(err) end
      uv.fs_ftruncate(fd, offset or 0, function(err2)
        uv.fs_close(fd, function() done(err2, not err2 or nil) end)
      end)
    end)
  end
  if cb then return doit(cb) end
  local fd, err = uv.fs_open(path, 'r+', 438)
  if not fd then return nil, err end
  local ok, terr = uv.fs_ftruncate(fd, offset or 0)
  uv.fs_close(fd)
  if not ok then return nil, terr end
  return true
end, 2)

-- Whole-file helpers.
local CHUNK = 65536

local function readAll(path, cb)
  uv.fs_open(path, 'r', 438, function(err, fd)
    if err then return cb(err) end
    local parts = {}
    local function step()
      uv.fs_read(fd, CHUNK, -1, function(rerr, chunk)
        if rerr then
          return uv.fs_close(fd, function() cb(rerr) end)
        end
        if chunk and #chunk > 0 then
          parts[#parts + 1] = chunk
          return step()
        end
        uv.fs_close(fd, function() cb(nil, table.concat(parts)) end)
      end)
    end
    step()
  end)
end

function fs.readFile(path, c)
  return adapt(c, readAll, path)
end

function fs.readFileSync(path)
  local fd, err = uv.fs_open(path, 'r', 438)
  if not fd then return nil, err end
  local parts = {}
  while true do
    local chunk, rerr = uv.fs_read(fd, CHUNK, -1)
    if not chunk then
      uv.fs_close(fd)
      return nil, rerr
    end
    if #chunk == 0 then break end
    parts[#parts + 1] = chunk
  end
  uv.fs_close(fd)
  return table.concat(parts)
end

local function writeAll(path, data, flags, cb)
  uv.fs_open(path, flags, 438, function(err, fd)
    if err then return cb(err) end
    uv.fs_write(fd, data, -1, function(werr)
      uv.fs_close(fd, function(cerr) cb(werr or cerr, not (werr or cerr) or nil) end)
    end)
  end)
end

local function writeAllSync(path, data, flags)
  local fd, err = uv.fs_open(path, flags, 438)
  if not fd then return false, err end
  local ok, werr = uv.fs_write(fd, data, -1)
  uv.fs_close(fd)
  if not ok then return false, werr end
  return true
end

function fs.writeFile(path, data, c) return adapt(c, writeAll, path, data, 'w') end
function fs.writeFileSync(path, data) return writeAllSync(path, data, 'w') end
function fs.appendFile(path, data, c) return adapt(c, writeAll, path, data, 'a') end
-- luvit's contract: nothing on success, the error message on failure.
function fs.appendFileSync(path, data)
  local ok, err = writeAllSync(path, data, 'a')
  if not ok then return err end
end

-- mkdirpSync: make a directory and its missing parents.
function fs.mkdirpSync(path, mode)
  if type(mode) == 'string' then mode = tonumber(mode, 8) end
  local ok, err, code = uv.fs_mkdir(path, mode or 511)
  if ok or code == 'EEXIST' then return true end
  if code ~= 'ENOENT' then return nil, err end
  local parent = path:match('^(.*)/[^/]+/?$')
  if not parent or parent == '' then return nil, err end
  local pok, perr = fs.mkdirpSync(parent, mode)
  if not pok then return nil, perr end
  ok, err, code = uv.fs_mkdir(path, mode or 511)
  if not ok and code ~= 'EEXIST' then return nil, err end
  return true
end

-- Streams live in their own file (loaded on first use: most scripts only make calls).
function fs.createReadStream(path, options) return fs.ReadStream:new(path, options) end
function fs.createWriteStream(path, options) return fs.WriteStream:new(path, options) end

return setmetatable(fs, {
  __index = function(t, key)
    if key == 'ReadStream' or key == 'WriteStream' or key == 'WriteStreamSync' then
      local streams = require('fs-stream')
      rawset(t, 'ReadStream', streams.ReadStream)
      rawset(t, 'WriteStream', streams.WriteStream)
      rawset(t, 'WriteStreamSync', streams.WriteStreamSync)
      return streams[key]
    end
  end,
})
