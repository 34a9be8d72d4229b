-- Debugger example: frames as Lua names them (a local, a global, a method, a field, an
-- anonymous function, varargs, a table that holds itself), for MobDebug's STACK.
local function localfn(a, ...)
  local x = a + 1
  return x
end
function globalfn(b)
  local r = localfn(b, 'va1', 'va2')
  return r
end
local obj = { name = 'obj' }
obj.self = obj
function obj:method(c)
  local r = globalfn(c)
  return r
end
local t = { field = function(d) local r = obj:method(d) return r end }
local co = coroutine.create(function(e)
  local r = t.field(e)
  coroutine.yield(r)
end)
print(coroutine.resume(co, 1))
print(pcall(t.field, 2))
