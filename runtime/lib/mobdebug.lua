--[[
mobdebug: programs written for ZeroBrane Studio run unchanged. `start([host, port])` dials the
IDE through the runtime's debugger (the one `luvit --mobdebug` uses) and waits there for the
IDE's RUN or STEP; `on`, `off` and `coro` do nothing (every coroutine and every loop callback
is debugged already); `done()` lets the program go on undebugged; `pause()` stops at the next
line. Already connected (`--mobdebug`), `start()` does nothing; after the IDE went away it dials
again.
]]

local runtime = require('runtime')

local M = {
  port = 8172,
  checkcount = 200,
  yieldtimeout = 0.02,
  connecttimeout = 2,
}

function M.start(host, port)
  host = host or 'localhost'
  port = tonumber(port) or tonumber(os.getenv('MOBDEBUG_PORT')) or M.port
  return runtime.mobdebugStart(host, port)
end

function M.on() end
function M.off() end
function M.coro() end

function M.done()
  runtime.mobdebugDone()
end

function M.pause()
  runtime.mobdebugPause()
end

return M
