--[[
core: luvit's object model and event emitter.

  Object      prototype classes. Class:extend() makes a subclass: its instances' metatable is
              Class.meta (a copy of the parent's meta, so __tostring and friends carry over,
              with __index = the class and super = the parent; Class.super is the parent too).
              Class:new(...) makes an instance and calls its initialize(...); Class:create()
              makes a bare instance without calling anything.
  Emitter     on / once (both return self), emit, removeListener (also finds once wrappers;
              returns how many it removed, or nil), removeAllListeners([name]),
              listenerCount, listeners, wrap, propagate, missingHandlerType.
              An 'error' with no listener goes to process's 'error' listeners when there are
              any; otherwise it is raised.
  Error       Error:new(message): .message (and .code when the message starts 'NUMBER: ');
              tostring gives the message.
  instanceof(obj, class)
]]

local core = {}

--------------------------------------------------------------------------------------------
-- Object

local Object = {}
Object.meta = { __index = Object }
core.Object = Object

-- A bare instance whose metatable is the class's meta. Only classes (tables that own a
-- `meta`) can make instances.
function Object:create()
  local meta = rawget(self, 'meta')
  if not meta then
    error("create/new/extend must be called on a class, not on an instance", 2)
  end
  return setmetatable({}, meta)
end

function Object:new(...)
  local obj = self:create()
  if type(obj.initialize) == 'function' then
    obj:initialize(...)
  end
  return obj
end

-- The subclass is itself an instance of the parent (its metatable is the parent's meta), so
-- class-level lookups fall through to the parent. Its own meta starts as a copy of the
-- parent's, which keeps metamethods defined by ancestors working for the new instances.
function Object:extend()
  local class = self:create()
  local meta = {}
  for key, value in pairs(rawget(self, 'meta')) do
    meta[key] = value
  end
  meta.__index = class
  meta.super = self
  class.meta = meta
  class.super = self
  return class
end

-- Walks a metatable chain upwards (meta -> meta.super.meta -> ...) looking for class.
local function descends(meta, class)
  local classMeta = rawget(class, 'meta')
  while type(meta) == 'table' do
    if meta == classMeta or rawget(meta, '__index') == class then return true end
    local parent = rawget(meta, 'super')
    if parent == nil then return false end
    if parent == class then return true end
    meta = type(parent) == 'table' and rawget(parent, 'meta') or nil
  end
  return false
end

-- True when obj was made by class or one of its subclasses (found from obj's metatable, so
-- classes whose meta.__index is a function count too). As in luvit, a class counts as an
-- instance of itself and of its ancestors.
function core.instanceof(obj, class)
  if type(obj) ~= 'table' or type(class) ~= 'table' then return false end
  return descends(getmetatable(obj), class) or descends(obj.meta, class)
end

--------------------------------------------------------------------------------------------
-- Emitter

local Emitter = Object:extend()
core.Emitter = Emitter

-- Listener lists live in self.handlers[name]. A removed listener leaves `false` in its slot
-- while an emit of that list is running (so indices stay put); the holes are squeezed out
-- once no emit of the list is in progress.
local emitting = setmetatable({}, { __mode = 'k' }) -- list -> depth of emits running over it
local holed = setmetatable({}, { __mode = 'k' }) -- list -> true while it has `false` slots

local function listOf(self, name)
  local handlers = rawget(self, 'handlers')
  return handlers and rawget(handlers, name)
end

local function compact(list)
  if emitting[list] then
    holed[list] = true
    return
  end
  holed[list] = nil
  local j = 0
  local n = #list
  for i = 1, n do
    local fn = list[i]
    if fn then
      j = j + 1
      list[j] = fn
    end
  end
  for i = n, j + 1, -1 do list[i] = nil end
end

local function callable(fn)
  local t = type(fn)
  if t == 'function' then return true end
  if t == 'table' or t == 'userdata' then
    local mt = getmetatable(fn)
    return type(mt) == 'table' and mt.__call ~= nil
  end
  return false
end

function Emitter:on(name, callback)
  if callback == nil or callback == false then return self end
  if not callable(callback) then
    error("Emitter:on('" .. tostring(name) .. "', listener): listener must be a function, got " ..
      type(callback), 2)
  end
  local handlers = rawget(self, 'handlers')
  if not handlers then
    handlers = {}
    rawset(self, 'handlers', handlers)
  end
  local list = rawget(handlers, name)
  if not list then
    if self.addHandlerType then self:addHandlerType(name) end
    list = {}
    rawset(handlers, name, list)
  end
  list[#list + 1] = callback
  return self
end

function Emitter:addListener(name, callback)
  return self:on(name, callback)
end

-- A once listener is a small callable record: it unregisters itself, then calls through.
-- `callback` stays readable so removeListener(name, callback) can find it.
local OnceListener = {}
OnceListener.__index = OnceListener
function OnceListener:__call(...)
  self.emitter:removeListener(self.name, self)
  return self.callback(...)
end

function Emitter:once(name, callback)
  if callback == nil or callback == false then return self end
  if not callable(callback) then
    error("Emitter:once('" .. tostring(name) .. "', listener): listener must be a function, got " ..
      type(callback), 2)
  end
  return self:on(name, setmetatable({ emitter = self, name = name, callback = callback },
    OnceListener))
end

function Emitter:listenerCount(name)
  local list = listOf(self, name)
  if not list then return 0 end
  local count = 0
  for i = 1, #list do
    if list[i] then count = count + 1 end
  end
  return count
end

-- The active listeners for `name`, in registration order (a fresh table; once listeners
-- appear as the callback they were given).
function Emitter:listeners(name)
  local out = {}
  local list = listOf(self, name)
  if list then
    for i = 1, #list do
      local fn = list[i]
      if fn then
        if getmetatable(fn) == OnceListener then fn = fn.callback end
        out[#out + 1] = fn
      end
    end
  end
  return out
end

-- Called by emit when nobody listens for `name`. Only 'error' matters: it is handed to
-- process's own 'error' listeners when there are some (luvit's catch-all), else raised.
function Emitter:missingHandlerType(name, ...)
  if name ~= 'error' then return end
  local err = ...
  local proc = rawget(_G, 'process')
  if type(proc) == 'table' and proc ~= self and type(proc.emit) == 'function' then
    local handlers = rawget(proc, 'handlers')
    local list = handlers and rawget(handlers, 'error')
    if list then
      for i = 1, #list do
        if list[i] then
          proc:emit('error', err, self)
          return
        end
      end
    end
  end
  if err == nil then err = "Unhandled 'error' event" end
  error(err, 0)
end

-- Calls every listener registered for `name` when the emit starts (listeners added during
-- the emit wait for the next one; listeners removed during it are skipped). Returns self
-- when there was a listener, nil otherwise. Listeners are called directly (no pcall), so an
-- error keeps its own traceback; the list it escapes from then just keeps its holes.
function Emitter:emit(name, ...)
  local list = listOf(self, name)
  local n = list and #list or 0
  local any = false
  if n > 0 then
    emitting[list] = (emitting[list] or 0) + 1
    for i = 1, n do
      local fn = list[i]
      if fn then
        any = true
        fn(...)
      end
    end
    local depth = emitting[list] - 1
    emitting[list] = depth > 0 and depth or nil
    if holed[list] then compact(list) end
  end
  if not any then
    self:missingHandlerType(name, ...)
    return nil
  end
  return self
end

-- Removes every registration of `callback` (or of a once wrapper around it) for `name`;
-- without a callback, every listener for `name`. Returns the number removed, or nil.
function Emitter:removeListener(name, callback)
  local list = listOf(self, name)
  if not list then return nil end
  local removed = 0
  for i = 1, #list do
    local fn = list[i]
    if fn and (callback == nil or fn == callback or
        (getmetatable(fn) == OnceListener and fn.callback == callback)) then
      list[i] = false
      removed = removed + 1
    end
  end
  if removed > 0 then compact(list) end
  return removed > 0 and removed or nil
end

function Emitter:removeAllListeners(name)
  local handlers = rawget(self, 'handlers')
  if not handlers then return end
  if name ~= nil then
    local list = rawget(handlers, name)
    if list then
      for i = 1, #list do list[i] = false end
      compact(list)
    end
    return
  end
  for _, list in pairs(handlers) do
    for i = 1, #list do list[i] = false end
  end
  rawset(self, 'handlers', {})
end

-- Replaces method self[name] with a plain callback: called as fn(err, ...), it emits 'error'
-- when err is set and otherwise calls the method as self:name(...).
function Emitter:wrap(name)
  local method = self[name]
  self[name] = function(err, ...)
    if err then return self:emit('error', err) end
    return method(self, ...)
  end
end

-- Re-emits this emitter's `eventName` events on target. Returns target (so propagation can
-- be chained), or self when target is not an emitter.
function Emitter:propagate(eventName, target)
  if target and target.emit then
    self:on(eventName, function(...) target:emit(eventName, ...) end)
    return target
  end
  return self
end

--------------------------------------------------------------------------------------------
-- Error

local Error = Object:extend()
core.Error = Error

function Error:initialize(message)
  self.message = message
  if type(message) == 'string' then
    self.code = tonumber(message:match('^([^:]+): '))
  end
end

function Error.meta.__tostring(err)
  return tostring(err.message)
end

return core
