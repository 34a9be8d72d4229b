--[[
core: luvit's object system and event emitter.
  Object   classes: Class:extend() makes a subclass (with .meta, its instances' metatable, and
           .super), Class:new(...) makes an instance and calls initialize, Class:create() a
           bare one.
  Emitter  on/once (return self), emit, removeListener, removeAllListeners, listenerCount,
           listeners, wrap, propagate; emitting 'error' with no listener raises it.
  Error    an error class with a message (tostring gives it).
  instanceof(obj, class)
]]

local core = {}

local Object = {}
Object.meta = { __index = Object }
core.Object = Object

-- A bare instance of the class: its metatable is Class.meta.
function Object:create()
  return setmetatable({}, self.meta)
end

function Object:new(...)
  local obj = self:create()
  if type(obj.initialize) == 'function' then
    obj:initialize(...)
  end
  return obj
end

-- Makes a subclass. Metamethods defined on the parent's meta are inherited.
function Object:extend()
  local class = setmetatable({}, { __index = self, __tostring = Object.meta.__tostring })
  local meta = {}
  for k, v in pairs(self.meta) do meta[k] = v end
  meta.__index = class
  class.meta = meta
  class.super = self
  return class
end

-- instanceof(obj, class): walks obj's class chain.
function core.instanceof(obj, class)
  if type(obj) ~= 'table' or obj.meta == nil or not class then return false end
  if obj.meta.__index == class then return true end
  local m = getmetatable(obj)
  while m do
    if m == class.meta then return true end
    local idx = rawget(m, '__index')
    local parent = type(idx) == 'table' and rawget(idx, 'super')
    m = parent and parent.meta or nil
  end
  return false
end

local Emitter = Object:extend()
core.Emitter = Emitter

local function handlersOf(self, name, create)
  local all = rawget(self, 'handlers')
  if not all then
    if not create then return nil end
    all = {}
    rawset(self, 'handlers', all)
  end
  local list = all[name]
  if not list and create then
    list = {}
    all[name] = list
  end
  return list
end

function Emitter:on(name, callback)
  local list = handlersOf(self, name, true)
  list[#list + 1] = callback
  return self
end
Emitter.addListener = Emitter.on

function Emitter:once(name, callback)
  local function wrapper(...)
    self:removeListener(name, wrapper)
    return callback(...)
  end
  -- removeListener(name, callback) must find the wrapper too.
  local list = handlersOf(self, name, true)
  list[#list + 1] = wrapper
  rawset(self, 'onceWrappers', rawget(self, 'onceWrappers') or setmetatable({}, { __mode = 'k' }))
  self.onceWrappers[wrapper] = callback
  return self
end

function Emitter:listenerCount(name)
  local list = handlersOf(self, name)
  if not list then return 0 end
  local n = 0
  for i = 1, #list do
    if list[i] then n = n + 1 end
  end
  return n
end

function Emitter:listeners(name)
  local out = {}
  local list = handlersOf(self, name)
  if list then
    for i = 1, #list do
      if list[i] then out[#out + 1] = list[i] end
    end
  end
  return out
end

-- What happens when nobody listens for 'error': raise it (the argument, or a message).
function Emitter:missingHandlerType(name, ...)
  if name == 'error' then
    local err = ...
    if type(err) == 'table' and err.message then error(err.message, 0) end
    error(err or ("Unhandled 'error' event"), 0)
  end
end

function Emitter:emit(name, ...)
  local list = handlersOf(self, name)
  if not list or #list == 0 then
    return self:missingHandlerType(name, ...)
  end
  -- Copy first: listeners may add or remove listeners while we call them.
  local n = #list
  local snapshot = {}
  for i = 1, n do snapshot[i] = list[i] end
  for i = 1, n do
    local fn = snapshot[i]
    if fn then fn(...) end
  end
  -- Compact holes left by removals during the emit.
  for i = #list, 1, -1 do
    if not list[i] then table.remove(list, i) end
  end
  return self
end

function Emitter:removeListener(name, callback)
  local list = handlersOf(self, name)
  if not list then return self end
  local wrappers = rawget(self, 'onceWrappers')
  for i = #list, 1, -1 do
    local fn = list[i]
    if fn == callback or (wrappers and fn and wrappers[fn] == callback) then
      table.remove(list, i)
      break
    end
  end
  return self
end

function Emitter:removeAllListeners(name)
  local all = rawget(self, 'handlers')
  if not all then return self end
  if name == nil then
    for k in pairs(all) do all[k] = nil end
  else
    all[name] = nil
  end
  return self
end

-- wrap(name): replaces self[name] with a version whose errors become 'error' events.
function Emitter:wrap(name)
  local fn = self[name]
  self[name] = function(selfArg, ...)
    local ok, err = pcall(fn, selfArg, ...)
    if not ok then self:emit('error', err) end
    return err
  end
end

-- propagate(eventName, target): re-emits this emitter's events on target.
function Emitter:propagate(eventName, target)
  if target and target.emit then
    self:on(eventName, function(...) target:emit(eventName, ...) end)
    return target
  end
  return self
end

local Error = Object:extend()
core.Error = Error

function Error:initialize(message)
  self.message = message
  if message then self.code = nil end
end

Error.meta.__tostring = function(self)
  return tostring(self.message)
end

return core
