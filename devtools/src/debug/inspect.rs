//! Runs `inspect.lua` (the debugger's Lua side) on a Lua thread of the debugger's own, and turns
//! what it reads into DAP variables.
//!
//! Helpers run on their own thread so that the stopped coroutine (even the main thread, stopped
//! inside its own hook) is never the running one: `debug.getlocal(co, level)` then counts levels
//! from the stopped code, not from the helper.

use mlua::ffi;
use mlua::{FromLuaMulti, IntoLuaMulti, Lua, MultiValue, Table, Thread, Value};
use serde_json::{json, Value as Json};

/// The debugger's Lua side.
pub const SOURCE: &str = include_str!("inspect.lua");
/// Its MobDebug half (the `md_*` functions: MobDebug's serializer, STACK, EXEC), which extends
/// the module `SOURCE` returns.
pub const MD_SOURCE: &str = include_str!("mdvalues.lua");

pub struct Helper {
    /// A coroutine that calls `inspect.<name>(...)` each time it is resumed with a name and
    /// arguments, and yields `ok, results...`.
    thread: Thread,
}

/// The helper coroutine's body: resumed with (name, args...), yields pcall's results.
const LOOP: &str = r#"
local M = ...
local select, unpack, pcall, yield = select, unpack, pcall, coroutine.yield
local function pack(...) return { n = select('#', ...), ... } end
return coroutine.create(function(...)
  local args = pack(...)
  while true do
    local f = M[args[1]]
    args = pack(yield(pcall(f, unpack(args, 2, args.n))))
  end
end)
"#;

impl Helper {
    pub fn new(lua: &Lua) -> mlua::Result<Helper> {
        let module: Table = lua.load(SOURCE).set_name("=luvit-debugger").call(())?;
        lua.load(MD_SOURCE)
            .set_name("=luvit-debugger")
            .call::<()>(module.clone())?;
        let thread: Thread = lua.load(LOOP).set_name("=luvit-debugger").call(module)?;
        Ok(Helper { thread })
    }

    /// Calls `inspect.<name>(args...)` on the helper coroutine.
    ///
    /// A resume runs the helper on that coroutine's own stack: nothing is called on the
    /// stopped state (mlua's `exec_raw` would add a frame there and shift every level).
    pub fn call<R: FromLuaMulti>(
        &self,
        lua: &Lua,
        name: &str,
        args: impl IntoLuaMulti,
    ) -> mlua::Result<R> {
        let mut all = MultiValue::new();
        all.push_back(Value::String(lua.create_string(name)?));
        all.extend(args.into_lua_multi(lua)?);
        let mut out: MultiValue = self.thread.resume(all)?;
        let ok = matches!(out.pop_front(), Some(Value::Boolean(true)));
        if !ok {
            let msg = match out.pop_front() {
                Some(Value::String(s)) => s.to_string_lossy(),
                _ => "debugger helper failed".to_string(),
            };
            return Err(mlua::Error::runtime(msg));
        }
        R::from_lua_multi(out, lua)
    }
}

/// The Lua thread object for a raw state (the stopped coroutine).
pub fn thread_of(lua: &Lua, l: *mut ffi::lua_State) -> mlua::Result<Thread> {
    // SAFETY: `l` is a live state of this Lua state; pushing it and moving it to mlua's stack
    // leaves `l`'s stack as it was.
    unsafe {
        lua.exec_raw((), |cur| {
            ffi::lua_pushthread(l);
            if l != cur {
                ffi::lua_xmove(l, cur, 1);
            }
        })
    }
}

/// What a variables handle points at while the program is stopped.
pub enum Target {
    Locals(usize),
    Varargs(usize),
    Upvalues(usize),
    Globals(usize),
    /// A value's children (table fields, function upvalues, metatable). In the registry: a
    /// stop may hand out any number of these (one per expandable value shown), and mlua holds
    /// a value kept as itself in one of 8,000 C-stack slots.
    Value(mlua::RegistryKey),
}

/// One DAP variable for `value` named `name`; `refs` gains a handle when it has children.
pub fn variable(
    lua: &Lua,
    helper: &Helper,
    refs: &mut Vec<Target>,
    name: &str,
    value: Value,
) -> Json {
    let (display, ty, expandable, indexed, named): (String, String, bool, i64, i64) = helper
        .call(lua, "describe", value.clone())
        .unwrap_or_else(|e| (format!("<{e}>"), "error".into(), false, 0, 0));
    let mut v = json!({ "name": name, "value": display, "type": ty, "variablesReference": 0 });
    // (not expandable if the registry cannot take it: out of memory)
    let key = if expandable {
        lua.create_registry_value(value).ok()
    } else {
        None
    };
    if let Some(key) = key {
        refs.push(Target::Value(key));
        v["variablesReference"] = json!(refs.len());
        if indexed > 0 {
            v["indexedVariables"] = json!(indexed);
        }
        if named > 0 {
            v["namedVariables"] = json!(named);
        }
    }
    if ty == "function" {
        v["presentationHint"] = json!({ "kind": "method" });
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MobDebug's controller reads our values with `loadstring`: every generated value (strings
    /// with every byte, nested tables, nan/inf/huge numbers, odd keys) must come back equal.
    #[test]
    fn md_dump_round_trips_through_loadstring() {
        // SAFETY: a test state with the debug library, as the runtime's has.
        let lua = unsafe { Lua::unsafe_new() };
        let helper = Helper::new(&lua).unwrap();
        let gen: mlua::Function = lua
            .load(
                r#"
                local seed = 88172645463325252
                local function rnd(n)
                  seed = (seed * 6364136223846793005 + 1442695040888963407) % 18446744073709551616
                  return math.floor(seed / 4294967296) % n
                end
                local function str()
                  local t = {}
                  for i = 1, rnd(12) do t[i] = string.char(rnd(256)) end
                  return table.concat(t)
                end
                local specials = { 0/0, 1/0, -1/0, 2^53, -2^63, 1e-300, 0.1, -0.0, 123456789012 }
                local function value(depth)
                  local k = rnd(depth > 3 and 4 or 6)
                  if k == 0 then return str()
                  elseif k == 1 then return specials[rnd(#specials) + 1]
                  elseif k == 2 then return rnd(1000) - 500
                  elseif k == 3 then return rnd(2) == 0
                  else
                    local t = {}
                    for i = 1, rnd(5) do t[i] = value(depth + 1) end
                    for _ = 1, rnd(5) do
                      local key = rnd(3) == 0 and (rnd(100) + 0.5) or str()
                      if key ~= key then key = 'nan' end
                      t[key] = value(depth + 1)
                    end
                    return t
                  end
                end
                return function() return value(0) end
                "#,
            )
            .eval()
            .unwrap();
        let same: mlua::Function = lua
            .load(
                r#"
                local function same(a, b)
                  if type(a) ~= type(b) then return false end
                  if type(a) == 'number' then
                    if a ~= a then return b ~= b end
                    return a == b
                  end
                  if type(a) ~= 'table' then return a == b end
                  for k, v in pairs(a) do if not same(v, b[k]) then return false end end
                  for k in pairs(b) do if a[k] == nil then return false end end
                  return true
                end
                return function(a, text)
                  local f = loadstring(text)
                  if not f then return false end
                  return same(a, f())
                end
                "#,
            )
            .eval()
            .unwrap();
        for i in 0..500 {
            let v: Value = gen.call(()).unwrap();
            let text: String = helper.call(&lua, "md_dump", v.clone()).unwrap();
            assert!(!text.contains('\n'), "one line: {text}");
            let ok: bool = same.call((v, text.clone())).unwrap();
            assert!(ok, "value {i} did not round-trip: {text}");
        }
        // cycles are cut, functions skipped, userdata shown as a comment: still loadable
        let text: String = lua
            .load("local t = {1} t.self = t t.f = print t.u = io.stdout return t")
            .eval::<Value>()
            .and_then(|t| helper.call(&lua, "md_dump", t))
            .unwrap();
        let loaded: bool = lua
            .load(format!("return type(loadstring({text:?})()) == 'table'"))
            .eval()
            .unwrap();
        assert!(loaded, "{text}");
    }

    /// Fuzz finding dap_hot_tostring_of_an_io_file (tests/fuzz/regressions/dap/): showing a
    /// userdata took its metatable off for a moment (tostring without __tostring); LuaJIT's
    /// trace compiler holds an io file's metatable to be fixed, and recording that tostring
    /// once the code got hot read the missing metatable: a segfault (the DAP Globals scope
    /// shows io.stdin, the MobDebug serializer writes userdata as comments).
    #[test]
    fn dap_hot_tostring_of_an_io_file() {
        // SAFETY: as above.
        let lua = unsafe { Lua::unsafe_new() };
        let helper = Helper::new(&lua).unwrap();
        let files: Value = lua
            .load("local t = {} for i = 1, 1000 do t[i] = io.stdin end return t")
            .eval()
            .unwrap();
        let text: String = helper.call(&lua, "md_dump", files).unwrap();
        assert!(text.contains("file (0x"), "{text}");
        let stdin: Value = lua.load("return io.stdin").eval().unwrap();
        for _ in 0..2000 {
            let (shown, ty): (String, String) =
                helper.call(&lua, "describe", stdin.clone()).unwrap();
            assert!(
                shown.starts_with("userdata: 0x") && ty == "userdata",
                "{shown} {ty}"
            );
        }
        // the file keeps its metatable and works
        let ok: bool = lua
            .load("return getmetatable(io.stdin) ~= nil and io.type(io.stdin) == 'file'")
            .eval()
            .unwrap();
        assert!(ok);
    }

    /// Fuzz finding serializer_keyword_keys (tests/fuzz/regressions/serializer/): a key that
    /// is a reserved word was written bare (`{end = 1}`), which does not load.
    #[test]
    fn serializer_keyword_keys() {
        // SAFETY: a test state with the debug library, as the runtime's has.
        let lua = unsafe { Lua::unsafe_new() };
        let helper = Helper::new(&lua).unwrap();
        let t: Value = lua
            .load("return { ['end'] = 1, ['nil'] = 2, ['goto'] = 3, x = 4, ['and'] = { ['or'] = 5 } }")
            .eval()
            .unwrap();
        let text: String = helper.call(&lua, "md_dump", t).unwrap();
        let ok: bool = lua
            .load(format!(
                "local t = loadstring({text:?})() return t['end'] == 1 and t['nil'] == 2 \
                 and t['goto'] == 3 and t.x == 4 and t['and']['or'] == 5"
            ))
            .eval()
            .unwrap();
        assert!(ok, "{text}");
    }

    /// Fuzz finding serializer_nil_keys (tests/fuzz/regressions/serializer/): keys written as
    /// nil (userdata, coroutines, a table inside itself) made `{[nil --[[ref]]] = 1}`, which
    /// raises "table index is nil" when loaded. Those entries are left out now.
    #[test]
    fn serializer_nil_keys() {
        // SAFETY: as above.
        let lua = unsafe { Lua::unsafe_new() };
        let helper = Helper::new(&lua).unwrap();
        let t: Value = lua
            .load(
                "local t = { a = 1 } t[t] = 2 t[io.stdout] = 3 \
                 t[coroutine.create(print)] = 4 t[{}] = 5 return t",
            )
            .eval()
            .unwrap();
        let text: String = helper.call(&lua, "md_dump", t).unwrap();
        let ok: bool = lua
            .load(format!(
                "local f = loadstring({text:?}) local ok, t = pcall(f) \
                 if not ok then return false end local n = 0 \
                 for k in pairs(t) do n = n + 1 end return t.a == 1 and n == 2"
            ))
            .eval()
            .unwrap();
        assert!(ok, "{text}");
    }

    /// Fuzz finding serializer_table_first_met_under_a_key_is_written_again
    /// (tests/fuzz/regressions/serializer/): a table written first inside a table key (where
    /// it has no path to link back to) and met again as a value came back as nil. It is
    /// written again where it has a path (a copy), and later references link to that.
    #[test]
    fn serializer_table_first_met_under_a_key_is_written_again() {
        // SAFETY: as above.
        let lua = unsafe { Lua::unsafe_new() };
        let helper = Helper::new(&lua).unwrap();
        let t: Value = lua
            .load(
                "local k = { name = 'k' } local t = { inner = { [k] = 1 }, z = k, zz = k } \
                 k.self = k return t",
            )
            .eval()
            .unwrap();
        let text: String = helper.call(&lua, "md_dump", t).unwrap();
        let ok: bool = lua
            .load(format!(
                "local t = loadstring({text:?})() return t.z.name == 'k' and t.zz == t.z \
                 and t.z.self == t.z"
            ))
            .eval()
            .unwrap();
        assert!(ok, "{text}");
    }

    /// MobDebug's dump (STACK) writes a value met again as nil and links it back after the
    /// body, as serpent does: the loaded value has the same shape, cycles and shared tables
    /// included; a line (EXEC) writes shared tables twice and cuts only cycles.
    #[test]
    fn md_dump_links_shared_and_cyclic_tables_back() {
        // SAFETY: a test state with the debug library, as the runtime's has.
        let lua = unsafe { Lua::unsafe_new() };
        let helper = Helper::new(&lua).unwrap();
        let t: Value = lua
            .load(
                "local shared = { n = 1 } local t = { a = shared, list = { shared }, ['odd key'] = {} } \
                 t.self = t t['odd key'].back = t.list return t",
            )
            .eval()
            .unwrap();
        let text: String = helper.call(&lua, "md_dump", t.clone()).unwrap();
        let ok: bool = lua
            .load(format!(
                "local t = loadstring({text:?})() return t.self == t and t.a == t.list[1] \
                 and t.a.n == 1 and t['odd key'].back == t.list"
            ))
            .eval()
            .unwrap();
        assert!(ok, "{text}");
        let line: String = helper.call(&lua, "md_line", t).unwrap();
        let ok: bool = lua
            .load(format!(
                "local t = loadstring('return ' .. {line:?})() return t.self == nil \
                 and t.a.n == 1 and t.list[1].n == 1"
            ))
            .eval()
            .unwrap();
        assert!(ok, "{line}");
    }
}
