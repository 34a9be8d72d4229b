//! Target `serializer`: the debugger's Lua-literal writer (`mdvalues.lua`'s `md_dump` and
//! `md_line`, what MobDebug's IDE reads with `loadstring`) on values built from the input:
//! strings with every byte, keys that are keywords or not identifiers, nested, shared and
//! cyclic tables, nan, ±inf, -0, subnormals, functions, coroutines, userdata, and options.
//!
//! Oracle: the literal loads with LuaJIT's own `loadstring` and gives back an equal value
//! (numbers as `numformat` prints them, a table met again as itself or nil, functions as
//! functions, coroutines and userdata as their names or strings); `md_line` stays on one line.

use mlua::{Function, Lua};

const CHECK: &str = r#"
local M, input = ...
local pos = 0
local function byte()
  pos = pos + 1
  return input:byte(pos) or 0
end
local function bytes(max)
  local n = byte() % (max + 1)
  local s = input:sub(pos + 1, pos + n)
  pos = pos + n
  return s
end
local KEYS = { 'end', 'x', '', '_G', 'nil', 'and', 'goto', 'a b', '1', 'z_9', 'true', 'local' }
local NUMS = { 0/0, 1/0, -1/0, -0.0, 1e308, 5e-324, 0.1 + 0.2, 2^53 + 1, -2^63, 1/3 }
local made = {}
local function value(depth)
  local b = byte()
  local k = b % 14
  if k == 0 then return nil
  elseif k == 1 then return b >= 128
  elseif k == 2 then return NUMS[b % #NUMS + 1]
  elseif k == 3 then
    local x = 0
    for _ = 1, 4 do x = x * 256 + byte() end
    return (b % 2 == 0) and x or x / 65536 - 32768
  elseif k <= 5 then return bytes(24)
  elseif k == 6 then
    local t = {}
    for i = 0, 255 do t[#t + 1] = string.char((i + b) % 256) end
    return table.concat(t)
  elseif k == 7 and #made > 0 then return made[b % #made + 1]
  elseif k == 8 then return print
  elseif k == 9 then return coroutine.create(print)
  elseif k == 10 then return newproxy(false)
  elseif depth < 12 then
    local t = {}
    made[#made + 1] = t
    for _ = 1, byte() % 9 do
      local kb = byte()
      local key
      if kb % 4 == 0 then key = KEYS[kb % #KEYS + 1]
      elseif kb % 4 == 1 then key = kb % 7 + 1
      elseif kb % 4 == 2 then key = bytes(6)
      else key = value(depth + 1) end
      if key ~= nil and key == key then t[key] = value(depth + 1) end
    end
    return t
  end
  return 0
end

local v = value(0)
local ob = byte()
local params = {}
if ob % 2 == 1 then
  params.maxlevel = ob % 5
  params.maxnum = ob % 7 > 3 and ob % 7 or nil
  params.numformat = ({ '%.3f', '%d', '%s', '%5.1e', '%q', '%', '%.17g' })[ob % 8]
  params.comment = ob >= 128
end
local limited = params.maxlevel ~= nil or params.maxnum ~= nil

local line = M.md_line(v, params)
if line:find('[\r\n]') then return 'md_line wrote more than one line: ' .. line end
local dump = M.md_dump(v, params)
local f, err = loadstring(dump)
if not f then return 'md_dump does not load: ' .. err .. '\n' .. dump end
local got = f()
local lf, lerr = loadstring('return ' .. line)
if not lf then return 'md_line does not load: ' .. lerr .. '\n' .. line end

local fmt = params.numformat
if not fmt or not pcall(string.format, fmt, 1.5) then fmt = '%.16g' end
local function num(x)
  if x ~= x then return 'nan' end
  if x == 1/0 or x == -1/0 then return x end
  local ok, s = pcall(string.format, fmt, x)
  local n = ok and tonumber(s)
  if n == nil then n = tonumber(('%.16g'):format(x)) end
  return n
end

local seen = {}
local function same(a, b, path)
  local ta = type(a)
  if ta == 'number' then
    local want = num(a)
    if want == 'nan' then if b == b then return path .. ': nan came back as ' .. tostring(b) end return end
    if b ~= want then return path .. ': ' .. tostring(a) .. ' came back as ' .. tostring(b) end
    return
  end
  if ta == 'string' or ta == 'boolean' or ta == 'nil' then
    if a ~= b then return path .. ': ' .. string.format('%q', tostring(a)) .. ' came back as ' .. string.format('%q', tostring(b)) end
    return
  end
  if ta == 'function' then
    if type(b) ~= 'function' then return path .. ': function came back as ' .. type(b) end
    return
  end
  if ta ~= 'table' then
    -- serpent writes what has no literal as its name in the standard libraries or a string
    if type(b) ~= 'string' then return path .. ': ' .. ta .. ' came back as ' .. type(b) end
    return
  end
  if seen[a] then
    -- met again: linked back after the body (or nil where it has no path, under a table key)
    if b ~= nil and type(b) ~= 'table' then return path .. ': cycle came back as ' .. type(b) end
    return
  end
  if type(b) ~= 'table' then return path .. ': table came back as ' .. type(b) end
  if limited then return end
  seen[a] = true
  for k, x in pairs(a) do
    local tk = type(k)
    -- number keys printed with a lossy numformat may collide: compared only at '%.16g'
    local comparable = tk == 'string' or tk == 'boolean' or (tk == 'number' and not params.numformat)
    if comparable then
      local kk = k
      if type(k) == 'number' then kk = num(k) end
      local why = same(x, b[kk], path .. '[' .. tostring(k) .. ']')
      if why then seen[a] = nil return why end
    end
  end
  seen[a] = nil
end
local why = same(v, got, 'value')
if why then return why .. '\n' .. dump end
return nil
"#;

pub struct Target {
    check: Function,
    module: mlua::Table,
    lua: Lua,
}

impl Target {
    pub fn new() -> Target {
        // SAFETY: the debug library is what inspect.lua reads values with; nothing here loads
        // C modules.
        let lua = unsafe { Lua::unsafe_new() };
        let module: mlua::Table = lua
            .load(luvit_devtools::debug::INSPECT_LUA)
            .set_name("=luvit-debugger")
            .call(())
            .expect("inspect.lua");
        lua.load(luvit_devtools::debug::INSPECT_MD_LUA)
            .set_name("=luvit-debugger")
            .call::<()>(module.clone())
            .expect("mdvalues.lua");
        let check = lua
            .load(CHECK)
            .set_name("=fuzz-serializer")
            .into_function()
            .expect("check");
        Target { check, module, lua }
    }

    pub fn run(&self, data: &[u8]) {
        let input = self.lua.create_string(data).expect("string");
        let r: mlua::Result<Option<mlua::LuaString>> =
            self.check.call((self.module.clone(), input));
        match r {
            Ok(None) => {}
            Ok(Some(why)) => panic!("serializer: {}", why.to_string_lossy()),
            Err(e) => panic!("serializer raised: {e}"),
        }
    }
}

impl Default for Target {
    fn default() -> Self {
        Target::new()
    }
}
