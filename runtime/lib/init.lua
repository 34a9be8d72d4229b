--[[
init: the runtime's bootstrap (luvit's main.lua). Installs require and the globals (process,
p, print, args), runs the main program inside a coroutine, runs the event loop until nothing
is left, and returns the exit code. Called by the Rust runtime with a `boot` table:
{ mode = 'script'|'eval'|'stdin'|'thread', target = path, code or bytecode, exe = argv[0],
  args = {...}, nargs = n }.
A pool thread's runtime runs many work items ('thread' mode): the globals are set up once.
]]

local boot = ...
local realRequire = require
local runtime = realRequire('runtime')
local uv = realRequire('uv')

local function runThreadBody()
  local fn = assert(loadstring(boot.target, '=thread'))
  local results = { n = 0 }
  local co = coroutine.create(function(...)
    local packed = { fn(...) }
    results = { n = select('#', unpack(packed)) }
    for i = 1, #packed do results[i] = packed[i] end
  end)
  local ok, err = coroutine.resume(co, unpack(boot.args, 1, boot.nargs or #boot.args))
  if not ok then error(debug.traceback(co, tostring(err)), 0) end
  runtime.runTicks()
  uv.run()
  return results
end

if boot.mode == 'thread' and package.loaded['require'] then
  return runThreadBody()
end

local source, chunkname = runtime.builtin('require')
local requireLib = assert(loadstring(source, chunkname))(runtime, uv)
-- One module system: require('require') from a program gets this same instance (and cache).
package.loaded['require'] = requireLib

local cwd = uv.cwd()
local mainPath
if boot.mode == 'script' then
  mainPath = requireLib.pathJoin(cwd, boot.target)
else
  mainPath = requireLib.pathJoin(cwd, '[' .. boot.mode .. ']')
end
local require = requireLib.generator(mainPath)
_G.require = require

-- luvit's `args`: [0] is the executable, then the script and its arguments.
local args = { [0] = boot.exe }
if boot.mode == 'script' then args[1] = boot.target end
for i = 1, #boot.args do args[#args + 1] = boot.args[i] end
_G.args = args

-- The runtime's own modules come from the binary, whatever deps/ folders the script sits in.
_G.process = requireLib.builtin('process').globalProcess(args)
-- An error in a __gc finalizer reaches 'uncaughtException' like a callback's (LuaJIT alone
-- would print it and go on): raised again from the next tick, through the dispatch point.
jit.attach(function(err)
  process.nextTick(function() error(err, 0) end)
end, 'errfin')
local pp = requireLib.builtin('pretty-print')
_G.p = pp.prettyPrint
_G.print = pp.print
-- utf8 (as luvi provides it) is loaded on first use: most programs never touch it.
_G.utf8 = _G.utf8 or setmetatable({}, {
  __index = function(proxy, key)
    local lib = requireLib.builtin('utf8')
    for k, v in pairs(lib) do rawset(proxy, k, v) end
    setmetatable(proxy, nil)
    return lib[key]
  end,
})

local function readStdin()
  local chunks = {}
  while true do
    local data = uv.fs_read(0, 65536, -1)
    if not data or #data == 0 then break end
    chunks[#chunks + 1] = data
  end
  return table.concat(chunks)
end

local function main()
  if boot.mode == 'script' then
    return require(mainPath)
  end
  local code, name
  if boot.mode == 'eval' then
    code, name = boot.target, '=(command line)'
  else
    -- On a terminal (or with -i): the REPL, after the -i script if there is one.
    local host = package.preload['repl-host'] and realRequire('repl-host')
    if host and (host.interactive or uv.guess_handle(0) == 'tty') then
      local scope
      if host.script then
        -- -i app.lua: the script runs as the main module does, and the prompt then reads and
        -- writes its globals.
        local path = requireLib.pathJoin(cwd, host.script)
        local file = assert(io.open(path, 'rb'))
        local fn, err = loadstring(file:read('*a'), '@' .. path)
        file:close()
        if not fn then error(err, 0) end
        local scriptRequire, module = requireLib.generator(path)
        scope = setmetatable({
          module = module, exports = module.exports, require = scriptRequire,
        }, { __index = _G })
        setfenv(fn, scope)
        fn(unpack(boot.args, 2, boot.nargs))
      end
      return host.start(scope)
    end
    code, name = readStdin(), '=stdin'
  end
  local fn, err = loadstring(code, name)
  if not fn then error(err, 0) end
  local module = requireLib.makeModule(mainPath)
  setfenv(fn, setmetatable({
    module = module, exports = module.exports, require = require,
  }, { __index = _G }))
  return fn(unpack(boot.args))
end

-- A thread started by uv.new_thread / thread.start, or a work item: run the function (given
-- as bytecode) with its arguments, run its loop, and hand the results back.
if boot.mode == 'thread' then
  return runThreadBody()
end

local co = coroutine.create(main)
local ok, err = coroutine.resume(co)
if not ok then
  runtime.mainError(co, err)
  local shown, text = pcall(tostring, err)
  if not shown then text = '(error object is not a string)' end
  runtime.uncaught(err, debug.traceback(co, (tostring(text):gsub('^runtime error: ', ''))))
end
runtime.runTicks()
uv.run()
return runtime.exit(process.exitCode or 0)
