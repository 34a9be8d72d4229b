//! `json`: luvit's JSON module (the dkjson contract) on serde_json's parser and our own writer.
//!
//! `parse(str, pos, nullval)` returns the value and the position after it, or `nil, pos, msg`;
//! objects and arrays come back with a `__jsontype` metatable so they re-encode the same way.
//! `stringify(value, state)` encodes; `state.indent` pretty-prints; `json.null` is JSON's null.

use std::fmt::Write as _;

use mlua::{Function, IntoLuaMulti, Lua, MultiValue, Table, Value};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

const MAX_DEPTH: usize = 1000;

struct Ctx<'a> {
    lua: &'a Lua,
    null: Value,
    object_mt: Table,
    array_mt: Table,
}

struct Seed<'a, 'b>(&'b Ctx<'a>);

impl<'de> DeserializeSeed<'de> for Seed<'_, '_> {
    type Value = Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_, '_> {
    type Value = Value;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Boolean(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v as f64))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v as f64))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Number(v))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        self.0
            .lua
            .create_string(v)
            .map(Value::String)
            .map_err(E::custom)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(self.0.null.clone())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        use serde::de::Error;
        let t = self.0.lua.create_table().map_err(A::Error::custom)?;
        let mut i = 1;
        while let Some(v) = seq.next_element_seed(Seed(self.0))? {
            t.raw_set(i, v).map_err(A::Error::custom)?;
            i += 1;
        }
        t.set_metatable(Some(self.0.array_mt.clone()))
            .map_err(A::Error::custom)?;
        Ok(Value::Table(t))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        use serde::de::Error;
        let t = self.0.lua.create_table().map_err(A::Error::custom)?;
        while let Some(k) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let v = map.next_value_seed(Seed(self.0))?;
            t.raw_set(&*k, v).map_err(A::Error::custom)?;
        }
        t.set_metatable(Some(self.0.object_mt.clone()))
            .map_err(A::Error::custom)?;
        Ok(Value::Table(t))
    }
}

fn byte_pos(s: &str, line: usize, col: usize) -> usize {
    let mut off = 0;
    for (i, l) in s.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            return off + col;
        }
        off += l.len();
    }
    s.len()
}

fn parse(
    lua: &Lua,
    (s, pos, nullval): (mlua::String, Option<usize>, Value),
) -> mlua::Result<MultiValue> {
    let bytes = s.as_bytes();
    let start = pos.unwrap_or(1).max(1) - 1;
    let text = match std::str::from_utf8(bytes.get(start..).unwrap_or(&[])) {
        Ok(t) => t,
        Err(e) => {
            let at = start + e.valid_up_to() + 1;
            return (Value::Nil, at, "invalid UTF-8 in JSON text").into_lua_multi(lua);
        }
    };
    let reg: Table = lua.named_registry_value("luvit.json.meta")?;
    let ctx = Ctx {
        lua,
        null: nullval,
        object_mt: reg.get("object")?,
        array_mt: reg.get("array")?,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    let depth_ok = check_depth(text);
    if !depth_ok {
        return (
            Value::Nil,
            start + 1,
            format!("JSON nesting deeper than {MAX_DEPTH} levels"),
        )
            .into_lua_multi(lua);
    }
    match Seed(&ctx).deserialize(&mut de) {
        Ok(v) => {
            // Like dkjson: the value, then the position after it (trailing text is the caller's).
            let rest = text.len() - trailing_len(text, &mut de);
            (v, start + rest + 1).into_lua_multi(lua)
        }
        Err(e) => {
            let at = start + byte_pos(text, e.line(), e.column());
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
            (Value::Nil, at.max(1), msg).into_lua_multi(lua)
        }
    }
}

/// How many bytes after the value serde_json has not consumed.
fn trailing_len(text: &str, de: &mut serde_json::Deserializer<serde_json::de::StrRead>) -> usize {
    // Consume trailing whitespace; anything else is left to the caller, as in dkjson.
    let _ = de;
    let trimmed = text.trim_end();
    text.len() - trimmed.len()
}

fn check_depth(text: &str) -> bool {
    let (mut depth, mut in_str, mut esc) = (0usize, false, false);
    for b in text.bytes() {
        if in_str {
            if esc {
                esc = false;
            } else if b == b'\\' {
                esc = true;
            } else if b == b'"' {
                in_str = false;
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return false;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

// ---- encoding ------------------------------------------------------------------------------

struct Enc<'a> {
    lua: &'a Lua,
    out: String,
    indent: Option<String>,
    null: Table,
    seen: Vec<*const std::ffi::c_void>,
}

fn write_str(out: &mut String, s: &[u8]) {
    out.push('"');
    let text = String::from_utf8_lossy(s);
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_num(out: &mut String, n: f64) {
    if !n.is_finite() {
        out.push_str("null");
    } else if n.fract() == 0.0 && n.abs() < 1e15 {
        let _ = write!(out, "{}", n as i64);
    } else {
        let _ = write!(out, "{n}");
    }
}

/// dkjson's rule: a table is an array when every key is a positive integer and it is not
/// mostly holes; returns its length.
fn array_len(t: &Table) -> mlua::Result<Option<usize>> {
    let (mut max, mut n) = (0usize, 0usize);
    for pair in t.pairs::<Value, Value>() {
        let (k, _) = pair?;
        let idx = match k {
            Value::Integer(i) if i >= 1 => i as usize,
            Value::Number(f) if f >= 1.0 && f.fract() == 0.0 => f as usize,
            _ => return Ok(None),
        };
        max = max.max(idx);
        n += 1;
    }
    if max > 10 && max > n * 2 {
        return Ok(None);
    }
    Ok(Some(max))
}

impl Enc<'_> {
    fn newline(&mut self, level: usize) {
        if let Some(ind) = &self.indent {
            self.out.push('\n');
            for _ in 0..level {
                self.out.push_str(ind);
            }
        }
    }

    fn value(&mut self, v: &Value, level: usize) -> mlua::Result<()> {
        match v {
            Value::Nil => self.out.push_str("null"),
            Value::Boolean(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Integer(i) => write_num(&mut self.out, *i as f64),
            Value::Number(n) => write_num(&mut self.out, *n),
            Value::String(s) => write_str(&mut self.out, &s.as_bytes()),
            Value::Table(t) => self.table(t, level)?,
            Value::LightUserData(p) if p.0.is_null() => self.out.push_str("null"),
            other => {
                return Err(mlua::Error::runtime(format!(
                    "json.stringify: cannot encode a value of type {}",
                    other.type_name()
                )))
            }
        }
        Ok(())
    }

    fn table(&mut self, t: &Table, level: usize) -> mlua::Result<()> {
        if t == &self.null {
            self.out.push_str("null");
            return Ok(());
        }
        let mt = t.metatable();
        if let Some(mt) = &mt {
            if let Ok(f) = mt.raw_get::<Function>("__tojson") {
                let s: String = f.call((t.clone(), self.lua.create_table()?))?;
                self.out.push_str(&s);
                return Ok(());
            }
        }
        let ptr = t.to_pointer();
        if self.seen.contains(&ptr) {
            return Err(mlua::Error::runtime("json.stringify: reference cycle"));
        }
        if level > MAX_DEPTH {
            return Err(mlua::Error::runtime("json.stringify: nesting too deep"));
        }
        self.seen.push(ptr);
        let kind: Option<String> = mt.as_ref().and_then(|m| m.raw_get("__jsontype").ok());
        let as_array = match kind.as_deref() {
            Some("object") => None,
            Some("array") => Some(t.raw_len()),
            _ => array_len(t)?,
        };
        let sep = if self.indent.is_some() { ": " } else { ":" };
        match as_array {
            Some(len) => {
                self.out.push('[');
                for i in 1..=len {
                    if i > 1 {
                        self.out.push(',');
                    }
                    self.newline(level + 1);
                    let v: Value = t.raw_get(i)?;
                    self.value(&v, level + 1)?;
                }
                if len > 0 {
                    self.newline(level);
                }
                self.out.push(']');
            }
            None => {
                self.out.push('{');
                let mut first = true;
                let mut entries: Vec<(Value, Value)> = Vec::new();
                for pair in t.pairs::<Value, Value>() {
                    entries.push(pair?);
                }
                if self.indent.is_some() {
                    entries.sort_by(|a, b| key_text(&a.0).cmp(&key_text(&b.0)));
                }
                for (k, v) in entries {
                    let key = match &k {
                        Value::String(s) => s.as_bytes().to_vec(),
                        Value::Integer(i) => i.to_string().into_bytes(),
                        Value::Number(n) => {
                            let mut s = String::new();
                            write_num(&mut s, *n);
                            s.into_bytes()
                        }
                        other => {
                            return Err(mlua::Error::runtime(format!(
                                "json.stringify: cannot use a {} as an object key",
                                other.type_name()
                            )))
                        }
                    };
                    if matches!(
                        v,
                        Value::Function(_) | Value::Thread(_) | Value::UserData(_)
                    ) {
                        continue;
                    }
                    if !first {
                        self.out.push(',');
                    }
                    first = false;
                    self.newline(level + 1);
                    write_str(&mut self.out, &key);
                    self.out.push_str(sep);
                    self.value(&v, level + 1)?;
                }
                if !first {
                    self.newline(level);
                }
                self.out.push('}');
            }
        }
        self.seen.pop();
        Ok(())
    }
}

fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.to_string_lossy(),
        other => format!("{other:?}"),
    }
}

fn stringify(lua: &Lua, (v, state): (Value, Value)) -> mlua::Result<String> {
    // dkjson's `state` is an options table; anything else (a position from parse) is ignored.
    let state = match state {
        Value::Table(t) => Some(t),
        _ => None,
    };
    let mut indent = None;
    if let Some(st) = &state {
        match st.get::<Value>("indent")? {
            Value::Boolean(true) => indent = Some("  ".to_string()),
            Value::Integer(n) if n > 0 => indent = Some(" ".repeat(n as usize)),
            Value::Number(n) if n > 0.0 => indent = Some(" ".repeat(n as usize)),
            Value::String(s) => indent = Some(s.to_str()?.to_string()),
            _ => {}
        }
        if indent.is_none() && st.get::<Option<bool>>("beautify")?.unwrap_or(false) {
            indent = Some("  ".to_string());
        }
    }
    let null: Table = lua
        .named_registry_value::<Table>("luvit.json.meta")?
        .get("null")?;
    let mut enc = Enc {
        lua,
        out: String::new(),
        indent,
        null,
        seen: Vec::new(),
    };
    enc.value(&v, 0)?;
    Ok(enc.out)
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
    lua.set_named_registry_value("luvit.json.meta", meta)?;
    let parse_fn = lua.create_function(parse)?;
    // Errors reach Lua as plain strings (like dkjson's), not as Rust error objects.
    let stringify_fn: Function = lua
        .load(
            "local native = ...\n\
             return function(value, state)\n\
               local ok, res = pcall(native, value, state)\n\
               if ok then return res end\n\
               error((tostring(res):gsub('^runtime error: ', '')), 2)\n\
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
    Ok(json)
}
