--[[
luvit-rs for ZeroBrane Studio. Install: copy this file into ZeroBrane's `packages/` folder (or
`~/.zbstudio/packages/`) and restart. It adds "luvit-rs" to Project > Lua Interpreter:
Run starts the current file with `luvit`; Debug starts ZeroBrane's debugger server and runs
`luvit --mobdebug=localhost:<port> file`, whose built-in MobDebug support answers the IDE
(every coroutine and loop callback is debugged; no `require('mobdebug')` needed). The luvit
binary is `path.luvit` from ZeroBrane's settings (`path.luvit = "/path/to/luvit"`), else the
first `luvit` on PATH. Auto-complete knows luvit's modules: their exports are read from the
binary once, when the plugin loads.
]]

local NAME = "luvit-rs"

local function findLuvit()
  local configured = ide.config.path and ide.config.path.luvit
  if configured then return configured end
  local sep = ide.osname == "Windows" and ";" or ":"
  local exe = ide.osname == "Windows" and "luvit.exe" or "luvit"
  for dir in (os.getenv("PATH") or ""):gmatch("[^" .. sep .. "]+") do
    local candidate = dir .. "/" .. exe
    local f = io.open(candidate, "rb")
    if f then f:close() return candidate end
  end
  return nil
end

-- Asks the binary for its modules' exports, as a Lua table literal ZeroBrane's API format
-- accepts: { fs = { type = "lib", childs = { readFile = { type = "function" }, ... } }, ... }.
local LIST_API = [[
local runtime = require('runtime')
local out = {}
for _, name in ipairs(runtime.builtins()) do
  if not name:find('^_') and name ~= 'init' and name ~= 'require' then
    local ok, m = pcall(require, name)
    if ok and type(m) == 'table' then
      local kids = {}
      for k, v in pairs(m) do
        if type(k) == 'string' and k:match('^[%a_][%w_]*$') then
          kids[#kids + 1] = ('[%q]={type=%q}'):format(k, type(v) == 'function' and 'function' or 'value')
        end
      end
      out[#out + 1] = ('[%q]={type="lib",childs={%s}}'):format(name:gsub('[^%w_]', '_'), table.concat(kids, ','))
    end
  end
end
print('return {' .. table.concat(out, ',') .. '}')
]]

local function loadApi(luvit)
  local cmd = ('"%s" -e "%s"'):format(luvit, LIST_API:gsub('\n', ' '):gsub('"', '\\"'))
  local pipe = io.popen(cmd)
  if not pipe then return nil end
  local text = pipe:read("*a")
  pipe:close()
  local fn = loadstring(text)
  if not fn then return nil end
  local ok, api = pcall(fn)
  return ok and type(api) == "table" and api or nil
end

local function startDebuggerServer(options)
  local debugger = ide.GetDebugger and ide:GetDebugger()
  if debugger and debugger.SetOptions then
    debugger:SetOptions(options)
    if not debugger:IsListening() then debugger:Listen() end
    return debugger:GetPortNumber() or ide.config.debugger.port or 8172
  end
  DebuggerAttachDefault(options) -- ZeroBrane before 1.90
  return ide.config.debugger.port or 8172
end

local interpreter = {
  name = NAME,
  description = "luvit-rs: luvit on LuaJIT, debugged through its built-in MobDebug support",
  api = {"baselib", "luajit2", "luvit"},
  hasdebugger = true,
  skipcompile = true,
  takeparameters = true,
  unhideconsolewindow = true,
  frun = function(self, wfilename, rundebug)
    local luvit = findLuvit()
    if not luvit then
      ide:Print("luvit-rs: can't find `luvit`; set path.luvit in the settings or add it to PATH")
      return
    end
    local file = wfilename:GetFullPath()
    local cmd
    if rundebug then
      -- ZeroBrane picks the base directory (the project, else the file's folder) and sends
      -- it as BASEDIR; luvit names files relative to it
      local port = startDebuggerServer({ runstart = ide.config.debugger.runonstart == true })
      cmd = ('"%s" --mobdebug=localhost:%d "%s"'):format(luvit, port, file)
    else
      cmd = ('"%s" "%s"'):format(luvit, file)
    end
    local params = self:GetCommandLineArg("luvit")
    if params and #params > 0 then cmd = cmd .. " " .. params end
    -- CommandLineRun(cmd, wdir, tooutput, nohide, stringcallback, uid, endcallback);
    -- fworkdir is ZeroBrane's default: the project folder, else the file's
    return CommandLineRun(cmd, self:fworkdir(wfilename), true, false)
  end,
}

return {
  name = NAME,
  description = "Run and debug luvit programs with luvit-rs (MobDebug built in).",
  author = "luvit-rs",
  version = 0.1,
  onRegister = function(self)
    ide:AddInterpreter("luvit", interpreter)
    local luvit = findLuvit()
    local api = luvit and loadApi(luvit)
    if api then ide:AddAPI("lua", "luvit", api) end
  end,
  onUnRegister = function(self)
    ide:RemoveInterpreter("luvit")
    ide:RemoveAPI("lua", "luvit")
  end,
}
