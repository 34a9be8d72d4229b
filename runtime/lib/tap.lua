--[[
tap: the test harness (luvit's tap contract, our implementation).

  require('tap')(function(test)
    test('name', function(expect) ... end)
  end)

A test passes when its function returns without error, the event loop then drains, every
callback wrapped with expect(fn, count) ran exactly `count` times (default 1), no handle it
opened is left unclosed, and the cwd is unchanged. tap(fn) runs the tests at once; tap(false)
collects suites (optionally named with tap('prefix')) until tap(true) runs them all. Output is
TAP; the process exits non-zero when a test failed.
]]

local uv = require('uv')
local timer = require('timer') -- its handles exist before any test snapshot

local tests = {}
local prefix
local single = true

local function say(...)
  print(...)
end

local function unclosedHandles(preexisting)
  local list = {}
  uv.walk(function(handle)
    if not preexisting[handle] and not handle:is_closing() then
      list[#list + 1] = handle
    end
  end)
  return list
end

local function runOne(test)
  local cwd = uv.cwd()
  local preexisting = {}
  uv.walk(function(handle) preexisting[handle] = true end)
  local expected, calls = 0, 0
  local problem
  local function expect(fn, count)
    count = count or 1
    expected = expected + count
    local seen = 0
    return function(...)
      seen = seen + 1
      calls = calls + 1
      if seen > count and not problem then
        problem = "an expected callback ran " .. seen .. " times (expected " .. count .. ")"
      end
      return fn(...)
    end
  end
  local ok, err = xpcall(function()
    test.fn(expect, uv)
    uv.run()
  end, debug.traceback)
  if ok and problem then ok, err = false, problem end
  if ok and calls < expected then
    local missing = expected - calls
    ok, err = false, "Missing " .. missing .. " expected call" .. (missing == 1 and "" or "s")
  end
  local left = unclosedHandles(preexisting)
  if ok and #left > 0 then
    local names = {}
    for i = 1, #left do names[i] = tostring(left[i]) end
    ok, err = false, #left .. " unclosed handle" .. (#left == 1 and "" or "s") .. ": " ..
      table.concat(names, ", ")
  end
  if ok and uv.cwd() ~= cwd then
    ok, err = false, "the test changed the cwd from " .. cwd .. " to " .. tostring(uv.cwd())
  end
  -- Clean up whatever the test left behind so the next test starts fresh.
  for i = 1, #left do left[i]:close() end
  uv.run()
  uv.chdir(cwd)
  return ok, err
end

local function run()
  if #tests == 0 then error("tap: no tests were registered", 2) end
  local list = tests
  tests = {}
  say("1.." .. #list)
  local passed, failed = 0, 0
  for i, test in ipairs(list) do
    say("# Starting Test: " .. test.name)
    local ok, err = runOne(test)
    if ok then
      passed = passed + 1
      say("ok " .. i .. " " .. test.name)
    else
      failed = failed + 1
      say("not ok " .. i .. " " .. test.name)
      say("# " .. tostring(err):gsub("\n", "\n# "))
    end
  end
  say(("tap: %d passed, %d failed"):format(passed, failed))
  if failed > 0 then process.exitCode = 1 end
  return failed == 0
end

local function tap(suite)
  if type(suite) == 'function' then
    suite(function(name, fn)
      if prefix then name = prefix .. ' - ' .. name end
      tests[#tests + 1] = { name = name, fn = fn }
    end)
    prefix = nil
  elseif type(suite) == 'string' then
    prefix = suite
    single = false
  else
    single = suite
  end
  if single then return run() end
end

local _ = timer
return tap
