//! `json`: luvit's JSON module (the dkjson contract): our own reader (`parse/`, `shape.rs`)
//! and writer (`encode.rs`, with `walk.rs` reading tables in place where `layout.rs`'s
//! self-check allows); this file holds the Lua entry points and the module table.
//!
//! `parse(str, pos, nullval)` returns the value and the position after it, or `nil, pos, msg`;
//! objects and arrays come back with a `__jsontype` metatable so they re-encode the same way.
//! `stringify(value, state)` encodes (`state.indent` pretty-prints, `state.keyorder` lists the
//! keys objects write first); `json.null` is JSON's null.
//! Both work on the raw Lua stack (inside mlua's protected `exec_raw`): going through mlua's
//! safe API per value costs a protected call each and made a 5 MB document 4x slower than node.

use mlua::ffi;
use mlua::{Function, Lua, MultiValue, Table, Value};

mod encode;
mod layout;
mod order;
mod parse;
mod shape;
mod walk;

/// The most spaces a numeric `state.indent` gives.
const MAX_INDENT: i64 = 10;
const META_KEY: &str = "luvit.json.meta";

// ---- parsing -------------------------------------------------------------------------------

/// What the raw reader leaves for the caller: the end position or the error.
enum Parsed {
    Ok(usize),
    Err(usize, String),
}

/// `json.parse(str, pos, nullval)`: the value and the (1-based) position just after it, or
/// `nil, pos, msg`. Like dkjson, what follows the value is not looked at.
fn parse(
    lua: &Lua,
    (s, pos, nullval): (mlua::LuaString, Option<f64>, Value),
) -> mlua::Result<MultiValue> {
    let meta: Table = lua.named_registry_value(META_KEY)?;
    let (array_mt, object_mt): (Table, Table) = (meta.get("array")?, meta.get("object")?);
    // nil when the base library's setmetatable was missing: then no shapes
    let setmt: Value = meta.get("setmetatable")?;
    // dkjson's position is 1-based; anything below 1 (or not a number) reads from the start.
    let start = match pos {
        Some(p) if p >= 1.0 => (p.min(usize::MAX as f64) as usize) - 1,
        _ => 0,
    };
    let mut outcome = Parsed::Err(start + 1, "no input".into());
    let out = &mut outcome;
    // SAFETY: the closure only uses the Lua C API on the state mlua passes, within the stack
    // space it checks; errors from Lua (memory) are caught by exec_raw's protected call.
    let value = unsafe {
        lua.exec_raw::<MultiValue>((s, nullval, array_mt, object_mt, setmt), |l| {
            let top = ffi::lua_gettop(l);
            let (sidx, null, amt, omt) = (top - 4, top - 3, top - 2, top - 1);
            if ffi::lua_checkstack(l, parse::CACHE_STACK + 8) == 0 {
                *out = Parsed::Err(start + 1, "out of Lua stack space".into());
                ffi::lua_pushnil(l);
                ffi::lua_replace(l, sidx);
                ffi::lua_settop(l, sidx);
                return;
            }
            let mut len = 0usize;
            let p = ffi::lua_tolstring(l, sidx, &mut len);
            // SAFETY: the string stays in slot `sidx` (alive, unmoved) until the reader is done.
            let bytes: &[u8] = if p.is_null() {
                &b"\0"[..0]
            } else {
                std::slice::from_raw_parts(p as *const u8, len)
            };
            // the reader's string cache (nils to start with), then its table of shapes
            ffi::lua_settop(l, top + parse::CACHE_STACK);
            ffi::lua_createtable(l, 0, 0);
            let slots = parse::Slots {
                null,
                array_mt: amt,
                object_mt: omt,
                cache: top + 1,
                setmt: top,
                shapes: top + parse::CACHE_STACK + 1,
            };
            let mut reader = parse::Reader::new(l, bytes, start.min(bytes.len()), slots);
            match reader.read() {
                Ok(end) => {
                    *out = Parsed::Ok(end + 1);
                }
                Err(e) => {
                    ffi::lua_settop(l, top);
                    ffi::lua_pushnil(l);
                    *out = Parsed::Err(e.at.max(start) + 1, e.msg.into_owned());
                }
            }
            // Leave only the value: move it over the first argument and drop the rest.
            ffi::lua_replace(l, sidx);
            ffi::lua_settop(l, sidx);
        })?
    };
    let mut ret = value;
    match outcome {
        Parsed::Ok(end) => ret.push_back(Value::Integer(end as _)),
        Parsed::Err(at, msg) => {
            ret.clear();
            ret.push_back(Value::Nil);
            ret.push_back(Value::Integer(at as _));
            ret.push_back(Value::String(lua.create_string(msg)?));
        }
    }
    Ok(ret)
}

// ---- encoding ------------------------------------------------------------------------------

fn stringify(lua: &Lua, (v, state): (Value, Value)) -> mlua::Result<mlua::LuaString> {
    encode_value(lua, v, state, true)
}

/// `json.stringify` done by the C API walk alone, never reading tables in place: for tests
/// and the fuzz target, which check that both walks write the same text (or the same error).
#[doc(hidden)]
pub fn stringify_by_api(lua: &Lua, v: Value, state: Value) -> mlua::Result<mlua::LuaString> {
    encode_value(lua, v, state, false)
}

/// `stringify`; `in_place` lets it read tables in place when the layout check passes.
fn encode_value(
    lua: &Lua,
    v: Value,
    state: Value,
    in_place: bool,
) -> mlua::Result<mlua::LuaString> {
    // dkjson's `state` is an options table; anything else (a position from parse) is ignored.
    let mut indent = None;
    let mut keyorder = Value::Nil;
    if let Value::Table(st) = &state {
        match st.get::<Value>("indent")? {
            Value::Boolean(true) => indent = Some(b"  ".to_vec()),
            // A number of spaces, at most 10 (node's JSON.stringify rule): `indent = 2^40`
            // must not ask for a terabyte.
            Value::Integer(n) if n > 0 => indent = Some(vec![b' '; n.min(MAX_INDENT) as usize]),
            Value::Number(n) if n >= 1.0 => {
                indent = Some(vec![b' '; n.min(MAX_INDENT as f64) as usize])
            }
            Value::String(s) => indent = Some(s.as_bytes().to_vec()),
            _ => {}
        }
        if indent.is_none() && st.get::<Option<bool>>("beautify")?.unwrap_or(false) {
            indent = Some(b"  ".to_vec());
        }
        // dkjson's `keyorder`: a list of keys each object writes first (order.rs).
        // nil or false: none. Anything else but a table is refused (dkjson would fail taking
        // its length, or quietly ignore a string).
        match st.get::<Value>("keyorder")? {
            Value::Nil | Value::Boolean(false) => {}
            Value::Table(t) => keyorder = Value::Table(t),
            other => {
                let name = match other {
                    Value::Integer(_) | Value::Number(_) => "number",
                    o => o.type_name(),
                };
                return Err(mlua::Error::runtime(format!(
                    "json.stringify: state.keyorder must be a table of keys, not a {name}"
                )));
            }
        }
    }
    let meta: Table = lua.named_registry_value::<Table>(META_KEY)?;
    let (null, object_mt, array_mt): (Table, Table, Table) =
        (meta.get("null")?, meta.get("object")?, meta.get("array")?);
    let mut error = None;
    let err = &mut error;
    // SAFETY: as in `parse`: raw API calls on the state mlua passes, stack space checked.
    let s = unsafe {
        lua.exec_raw::<mlua::LuaString>((v, null, object_mt, array_mt, keyorder), |l| {
            let top = ffi::lua_gettop(l) - 3;
            ffi::lua_pushstring(l, c"__jsontype".as_ptr());
            ffi::lua_pushstring(l, c"__tojson".as_ptr());
            // the key order, copied: (list, set) slots above the two strings; an empty one
            // orders nothing (and leaves the fast walk on)
            let order = if ffi::lua_type(l, top + 3) == ffi::LUA_TTABLE
                && order::copy_keyorder(l, top + 3) > 0
            {
                Some(order::Order {
                    given: top + 3,
                    list: top + 6,
                    set: top + 7,
                })
            } else {
                None
            };
            let setup = encode::Setup {
                k_jsontype: top + 4,
                k_tojson: top + 5,
                null: ffi::lua_topointer(l, top),
                object_mt: ffi::lua_topointer(l, top + 1),
                array_mt: ffi::lua_topointer(l, top + 2),
                indent,
                order,
            };
            // with a key order, objects take the C API walk's ordered path (order.rs); the
            // fast walk stays as it is for the common case
            let raw = if in_place && order.is_none() {
                layout::Layout::get(l)
            } else {
                None
            };
            let mut enc = encode::Enc::new(l, setup, raw);
            match enc.value(top - 1) {
                Ok(()) => {
                    ffi::lua_settop(l, top);
                    ffi::lua_pushlstring(l, enc.out.as_ptr() as *const _, enc.out.len());
                }
                Err(e) => {
                    ffi::lua_settop(l, top);
                    ffi::lua_pushlstring(l, c"".as_ptr(), 0);
                    *err = Some(e);
                }
            }
            ffi::lua_replace(l, top - 1);
            ffi::lua_settop(l, top - 1);
        })?
    };
    match error {
        Some(e) => Err(mlua::Error::runtime(e)),
        None => Ok(s),
    }
}

pub fn register(lua: &Lua) -> mlua::Result<Table> {
    let json = lua.create_table()?;
    let meta = lua.create_table()?;
    let object_mt = lua.create_table()?;
    object_mt.set("__jsontype", "object")?;
    let array_mt = lua.create_table()?;
    array_mt.set("__jsontype", "array")?;
    let null = lua.create_table()?;
    let null_mt = lua.create_table()?;
    null_mt.set("__tostring", lua.create_function(|_, _: Value| Ok("null"))?)?;
    null_mt.set("__jsontype", "null")?;
    null.set_metatable(Some(null_mt))?;
    meta.set("object", object_mt)?;
    meta.set("array", array_mt)?;
    meta.set("null", null.clone())?;
    // json.parse's shape functions set metatables with the original, whatever a script does
    // to the global later
    meta.set(
        "setmetatable",
        lua.globals().get::<Option<Function>>("setmetatable")?,
    )?;
    lua.set_named_registry_value(META_KEY, meta)?;
    let parse_fn = lua.create_function(parse)?;
    // Errors reach Lua as plain strings (like dkjson's), not as Rust error objects.
    let stringify_fn: Function = lua
        .load(
            "local native = ...\n\
             return function(value, state)\n\
               local ok, res = pcall(native, value, state)\n\
               if ok then return res end\n\
               res = tostring(res):gsub('^runtime error: ', '')\n\
               error((res:gsub('\\nstack traceback:\\n.*$', '')), 2)\n\
             end",
        )
        .set_name("=json")
        .call(lua.create_function(stringify)?)?;
    json.set("parse", parse_fn.clone())?;
    json.set("decode", parse_fn)?;
    json.set("stringify", stringify_fn.clone())?;
    json.set("encode", stringify_fn)?;
    json.set("null", null)?;
    json.set("version", "luvit-rs json 1.0")?;
    json.set(
        "original_version",
        "dkjson 2.5 (API), luvit-rs implementation",
    )?;
    json.set(
        "quotestring",
        lua.create_function(|lua, s: mlua::LuaString| {
            let mut out = Vec::with_capacity(s.as_bytes().len() + 2);
            encode::write_str(&mut out, &s.as_bytes());
            lua.create_string(out)
        })?,
    )?;
    // The rest of dkjson's helpers, for code written against it.
    let helpers: Function = lua
        .load(
            r#"
local json = ...
-- addnewline(state): a newline and the current indentation into state.buffer (when indenting).
function json.addnewline(state)
  if state.indent then
    local buffer = state.buffer or {}
    state.buffer = buffer
    buffer[#buffer + 1] = '\n' .. string.rep(type(state.indent) == 'string' and state.indent or '  ', state.level or 0)
  end
end
-- encodeexception: what an `exception` handler returns for values JSON cannot hold.
function json.encodeexception(reason, value, state, defaultmessage)
  return json.quotestring('<' .. tostring(defaultmessage or reason) .. '>')
end
-- There is no lpeg here; the native parser is already the fast path.
function json.use_lpeg() return json end
"#,
        )
        .set_name("=json")
        .into_function()?;
    helpers.call::<()>(json.clone())?;
    Ok(json)
}
