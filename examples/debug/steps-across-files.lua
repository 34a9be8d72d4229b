-- Debugger example: step into a function defined in another file.
local later = require('./lib/later')

local result = later.run(21)
print('result', result)
