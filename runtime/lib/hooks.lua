--[[
hooks: luvit's process-wide event emitter for internal events. The module is itself a
core.Emitter: the runtime emits 'process.exit' and 'process.uncaughtException' (with the error)
on it, and the process module forwards them as process 'exit' / 'uncaughtException'.
]]

local Emitter = require('core').Emitter

local hooks = setmetatable({}, Emitter.meta)
if type(hooks.initialize) == 'function' then hooks:initialize() end

return hooks
