--[[
stream: luvit's `stream` module, node's streams2 in luvit's shape. It gathers the classes,
each defined in its own file:
  Stream        the legacy base with the old-style pipe (stream-core.lua)
  Readable      push/read/unshift, flowing and paused modes, pipe/unpipe (stream-readable.lua)
  Writable      write/_end/cork/uncork over _write/_writev (stream-writable.lua)
  Duplex        both sides, allowHalfOpen (stream-duplex.lua)
  Transform     _transform/_flush; PassThrough; Observable (stream-transform.lua)
`_end` is node's end() (a Lua keyword); pipe's option is { _end = false }.
]]

local transform = require('stream-transform')

local exports = {
  Stream = require('stream-core').Stream,
  Readable = require('stream-readable').Readable,
  Writable = require('stream-writable').Writable,
  Duplex = require('stream-duplex').Duplex,
  Transform = transform.Transform,
  PassThrough = transform.PassThrough,
  Observable = transform.Observable,
}

return exports
