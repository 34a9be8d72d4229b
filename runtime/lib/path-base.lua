--[[
path-base: luvit's `path/base`: the two path flavours as objects (`posix` and `nt`); the
`path` module answers with one of them for this OS.
]]

local path = require('path')

return { posix = path.posix, nt = path.nt }
