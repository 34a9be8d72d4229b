--[[
codec: luvit's coroutine-style plumbing between emitters, uv streams and processing stages.
A stage is a function(read, write) run in its own coroutine: read() returns the next value
(suspending the coroutine until one is there; nil at the end) and write(value) passes one on
(write(nil) ends the output).

  wrapEmitter(emitter) -> read, write
      Turns an emitter into both ends of a chain. Data given to emitter:write(data) comes
      out of read() (emitter:shutdown() ends it; 'drain' is emitted when the queue empties);
      write(data) emits 'data' on the emitter and write(nil) emits 'end'. emitter:pause()
      makes the next write() wait until emitter:resume(). (The emitter gets write, shutdown,
      pause and resume methods.)
  wrapStream(socket) -> read, write
      Over a uv stream handle (tcp, pipe, tty; anything with read_start, read_stop, write,
      shutdown, is_closing and close methods). read() returns the next chunk, or nil at EOF,
      or nil and an error; reading starts on the first read() and stops while unread chunks
      wait. write(chunk) writes; inside a coroutine it waits until the chunk is written and
      returns true, or nil and the error. write(nil) shuts the writing side down. The handle
      is closed once both sides are done.
  chain(...) -> function(read, write)
      Connects stages: each stage's write feeds the next stage's read; the first reads from
      `read`, the last writes to `write`.
]]

local exports = {}

local unpack = unpack or table.unpack

-- Resumes a coroutine, raising its error with the coroutine's own traceback.
local function resume(thread, ...)
  local ok, err = coroutine.resume(thread, ...)
  if not ok then error(debug.traceback(thread, tostring(err)), 0) end
end

-- Suspends the running coroutine until someone resumes it: park(thread) is called first so
-- the resumer can find it. Returns true and the values it was resumed with, or false when
-- this code cannot be suspended (the main thread, or a callback entered from C, where
-- coroutine.running() may still name a coroutine).
local function suspend(park)
  local thread, isMain = coroutine.running()
  if thread == nil or isMain then return false end
  park(thread)
  return pcall(coroutine.yield)
end

local function mustSuspend(what, park, unpark)
  local results = { n = 0 }
  local function collect(ok, ...)
    results = { n = select('#', ...), ... }
    return ok
  end
  if not collect(suspend(park)) then
    unpark()
    error("codec: " .. what .. " must be called from inside a coroutine (and not from a " ..
      "callback) when it has to wait", 3)
  end
  return unpack(results, 1, results.n)
end

function exports.wrapEmitter(emitter)
  local read, write

  -- Chain output -> 'data' / 'end' events, paused by emitter:pause().
  do
    local paused = false
    local waiting

    function emitter:pause()
      paused = true
    end

    function emitter:resume()
      if not paused then return end
      paused = false
      local thread = waiting
      waiting = nil
      if thread then resume(thread) end
    end

    local function park(thread) waiting = thread end
    local function unpark() waiting = nil end

    function write(data)
      if paused then mustSuspend('write', park, unpark) end
      if data ~= nil then
        emitter:emit('data', data)
      else
        emitter:emit('end')
      end
    end
  end

  -- emitter:write(data) -> chain input, in order.
  do
    local queue, head = {}, 1
    local waiting
    local ended = false

    function emitter:write(data)
      if waiting then
        local thread = waiting
        waiting = nil
        resume(thread, data)
        return true
      end
      queue[#queue + 1] = data
      return false
    end

    function emitter:shutdown()
      ended = true
      local thread = waiting
      waiting = nil
      if thread then resume(thread) end
    end

    local function park(thread) waiting = thread end
    local function unpark() waiting = nil end

    function read()
      if head <= #queue then
        local data = queue[head]
        queue[head] = nil
        head = head + 1
        if head > #queue then
          queue, head = {}, 1
          emitter:emit('drain')
        end
        return data
      end
      if ended then return nil end
      return mustSuspend('read', park, unpark)
    end
  end

  return read, write
end

function exports.wrapStream(socket)
  local queue, head = {}, 1 -- results not yet read: { n = count, ... }
  local waiting -- the coroutine blocked in read()
  local paused = true -- not reading from the handle
  local reading, writing = true, true -- each side until it is done

  local function closeIfDone()
    if not reading and not writing and not socket:is_closing() then socket:close() end
  end

  local function onRead(err, chunk)
    local result = err and { n = 2, nil, err } or { n = 1, chunk }
    if chunk == nil then
      reading = false
      closeIfDone()
    end
    if waiting then
      local thread = waiting
      waiting = nil
      resume(thread, unpack(result, 1, result.n))
    else
      queue[#queue + 1] = result
      if not paused then
        paused = true
        if not socket:is_closing() then socket:read_stop() end
      end
    end
  end

  local function parkReader(thread) waiting = thread end
  local function unparkReader() waiting = nil end

  local function read()
    if head <= #queue then
      local result = queue[head]
      queue[head] = nil
      head = head + 1
      if head > #queue then queue, head = {}, 1 end
      return unpack(result, 1, result.n)
    end
    if not reading or socket:is_closing() then return nil end
    if paused then
      local ok, err = socket:read_start(onRead)
      if not ok then return nil, err end
      paused = false
    end
    return mustSuspend('read', parkReader, unparkReader)
  end

  -- Runs a request (write or shutdown) with a completion callback. In a coroutine it waits
  -- for the completion and returns true or nil, err; elsewhere it returns at once.
  local function request(start)
    local blocked -- the coroutine waiting for this request
    local finished, failure
    local ok, err = start(function(e)
      finished, failure = true, e
      local thread = blocked
      blocked = nil
      if thread then
        if e then resume(thread, nil, e) else resume(thread, true) end
      end
    end)
    if not ok then return nil, err end
    if finished then
      if failure then return nil, failure end
      return true
    end
    local function collect(suspended, ...)
      if suspended then return ... end
      blocked = nil
      return true -- cannot wait here: the request completes in the background
    end
    return collect(suspend(function(thread) blocked = thread end))
  end

  local function write(chunk)
    if chunk == nil then
      if not writing then return true end
      writing = false
      if socket:is_closing() then return true end
      return request(function(callback)
        return socket:shutdown(function(err)
          closeIfDone()
          callback(err)
        end)
      end)
    end
    if socket:is_closing() then return nil, 'EPIPE: the stream is closed' end
    return request(function(callback)
      return socket:write(chunk, callback)
    end)
  end

  return read, write
end

function exports.chain(...)
  local stages = { ... }
  local count = select('#', ...)
  return function(read, write)
    local threads = {}
    local waiting = {} -- waiting[i]: stage i is suspended in read(), wanting a value
    local boxes = {} -- boxes[i]: what stage i wrote while stage i + 1 was not waiting
    for i = 1, count do
      threads[i] = coroutine.create(stages[i])
      waiting[i] = false
      local stageRead, stageWrite = read, write
      if i > 1 then
        stageRead = function()
          local box = boxes[i - 1]
          if box then
            boxes[i - 1] = nil
            resume(threads[i - 1]) -- the writer can go on
            return unpack(box, 1, box.n)
          end
          waiting[i] = true
          return coroutine.yield()
        end
      end
      if i < count then
        stageWrite = function(...)
          if waiting[i + 1] then
            waiting[i + 1] = false
            resume(threads[i + 1], ...)
          else
            boxes[i] = { n = select('#', ...), ... }
            coroutine.yield()
          end
        end
      end
      resume(threads[i], stageRead, stageWrite)
    end
  end
end

return exports
