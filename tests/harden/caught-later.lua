-- A program that catches an error with pcall some time after it starts (tests/debug_faults.rs:
-- a debugger client that asked to stop on all errors leaves first, and the next client, which
-- asked for nothing, must not stop there).
local timer = require('timer')

timer.setTimeout(1500, function()
  print('pcall caught:', pcall(error, 'late'))
end)
