//! Target `json`: luvit's `json` module (runtime/src/modules/json/) both ways.
//!
//! Parse mode feeds the bytes to `json.parse(text, pos, nullval)`: it must return
//! `value, endpos` or luvit's `nil, pos, msg` (never raise); what serde_json accepts (within the
//! depth limit) it must accept too; what it accepts, serde_json must accept too, up to the end
//! position it gives, and read as the same value (serde_json is the oracle for our own reader);
//! a parsed value must stringify, and parse back equal.
//! Stringify mode builds a Lua value from the bytes (nested and cyclic tables, sparse arrays,
//! `json.null`, nan/inf, huge numbers, every byte in strings and keys, functions, options):
//! `json.stringify` returns text that is valid JSON, or raises a plain string error; and
//! the fast walk (tables read in place, `walk.rs`) writes exactly what the C API walk writes
//! (`json::stringify_by_api`), or refuses what it refuses.

use mlua::{Function, Lua, Table, Value};

use crate::Input;

/// Checks the parse contract on one text; returns a description of a broken rule, or nil.
const PARSE_CHECK: &str = r#"
local json, text, pos, usenull = ...
local nullval = usenull and json.null or nil
local ok, v, endpos, msg = pcall(json.parse, text, pos, nullval)
if not ok then return 'json.parse raised: ' .. tostring(v) end
if v == nil and endpos ~= nil and msg ~= nil then
  if type(endpos) ~= 'number' or type(msg) ~= 'string' then
    return 'bad failure triple: ' .. tostring(endpos) .. ', ' .. tostring(msg)
  end
  if endpos < 1 or endpos > math.max(#text, pos or 1) + 1 then
    return 'failure position ' .. endpos .. ' outside the text (' .. #text .. ' bytes)'
  end
  -- numbers past a double read as ±math.huge, as luvit's dkjson reads them
  if msg:find('number out of range', 1, true) then return 'refused a huge number: ' .. msg end
  return nil, false
end
if type(endpos) ~= 'number' then return 'no end position after a value' end
-- a parsed value stringifies and parses back to the same text
local ok2, s = pcall(json.stringify, v)
if not ok2 then
  if tostring(s):find('too deep', 1, true) then return nil, true end
  return 'stringify of a parsed value failed: ' .. tostring(s)
end
local v2 = json.parse(s, 1, nullval)
local function same(a, b)
  -- ±inf is written as null (as dkjson writes it)
  if a == math.huge or a == -math.huge then return b == nil or b == nullval end
  if type(a) ~= 'table' or type(b) ~= 'table' then return a == b or (a ~= a and b ~= b) end
  if getmetatable(a) ~= getmetatable(b) then return false end
  for k, x in pairs(a) do if not same(x, b[k]) then return false end end
  for k in pairs(b) do if a[k] == nil then return false end end
  return true
end
if not same(v, v2) then return 'round trip changed the value: ' .. s .. ' vs ' .. json.stringify(v2) end
return nil, true
"#;

/// Stringifies a generated value; returns the text, or nil and the error.
const STRINGIFY: &str = r#"
local json, v, state = ...
local ok, s = pcall(json.stringify, v, state)
if ok then
  if type(s) ~= 'string' then return nil, 'stringify returned a ' .. type(s) end
  return s
end
if type(s) ~= 'string' then return nil, 'stringify raised a non-string: ' .. tostring(s) end
return nil, s, true
"#;

pub struct Target {
    lua: Lua,
    json: Table,
    parse_check: Function,
    stringify: Function,
    /// A `__tojson` for generated metatables: `"t"`, or dkjson's refusal when `self[1]` is true.
    tojson: Function,
}

impl Target {
    pub fn new() -> Target {
        let lua = Lua::new();
        let json = luvit::modules::json::register(&lua).expect("json module");
        let parse_check = lua
            .load(PARSE_CHECK)
            .set_name("=fuzz-json")
            .into_function()
            .expect("check");
        let stringify = lua
            .load(STRINGIFY)
            .set_name("=fuzz-json")
            .into_function()
            .expect("stringify");
        let tojson = lua
            .load("return function(self) if rawget(self, 1) == true then return nil, 'refused' end return '\"t\"' end")
            .set_name("=fuzz-json")
            .call(())
            .expect("tojson");
        Target {
            lua,
            json,
            parse_check,
            stringify,
            tojson,
        }
    }

    pub fn run(&self, data: &[u8]) {
        let mut input = Input::new(data);
        let mode = input.byte();
        if mode & 1 == 0 {
            self.parse(mode, input.rest());
        } else {
            self.generate(&mut input);
        }
    }

    fn parse(&self, mode: u8, text: &[u8]) {
        let pos: Value = match (mode >> 1) & 3 {
            0 => Value::Nil,
            1 => Value::Integer(1),
            2 => Value::Integer(1 + (mode >> 3) as i64),
            _ => Value::Number(f64::from(mode >> 3) + 0.5),
        };
        let usenull = mode & 0x80 != 0;
        let s = self.lua.create_string(text).expect("string");
        let r: mlua::Result<(Option<String>, Option<bool>)> =
            self.parse_check
                .call((self.json.clone(), s, pos.clone(), usenull));
        let accepted = match r {
            // `true`: accepted, or refused for a known reason
            Ok((None, acc)) => acc.unwrap_or(false),
            Ok((Some(why), _)) => panic!("json.parse: {why}"),
            Err(e) => panic!("json.parse check: {e}"),
        };
        if matches!(pos, Value::Nil | Value::Integer(1)) && depth(text) <= 1000 {
            self.agree_with_serde(text);
        }
        // What serde_json (strict) accepts from position 1, ours accepts. Read into a Value,
        // not IgnoredAny: that skips strings without pairing `\u` surrogates, and a lone
        // surrogate has no UTF-8 form (both readers refuse it).
        if matches!(pos, Value::Nil | Value::Integer(1)) && !accepted && depth(text) <= 1000 {
            if let Ok(t) = std::str::from_utf8(text) {
                let mut de = serde_json::Deserializer::from_str(t);
                de.disable_recursion_limit();
                let ok = serde::Deserialize::deserialize(&mut de)
                    .map(|_: serde_json::Value| ())
                    .and_then(|_| de.end())
                    .is_ok();
                if ok {
                    panic!("json.parse refused valid JSON: {t:?}");
                }
            }
        }
    }

    /// What `json.parse` reads from position 1 (to the end position it gives), serde_json
    /// reads too, as the same value, unless serde_json refuses only for a number past a double
    /// (which we read as ±inf, as dkjson does).
    fn agree_with_serde(&self, text: &[u8]) {
        let parse: Function = self.json.get("parse").expect("parse");
        let s = self.lua.create_string(text).expect("string");
        let (v, end, msg): (Value, Option<i64>, Option<mlua::LuaString>) =
            parse.call(s).expect("json.parse raised");
        let (Some(end), None) = (end, msg) else {
            return;
        };
        let read = usize::try_from(end - 1)
            .ok()
            .and_then(|e| text.get(..e))
            .unwrap_or_else(|| panic!("json.parse end position {end} outside the text"));
        let mut de = serde_json::Deserializer::from_slice(read);
        de.disable_recursion_limit();
        let theirs = serde::Deserialize::deserialize(&mut de).and_then(|v| de.end().map(|()| v));
        let theirs: serde_json::Value = match theirs {
            Ok(t) => t,
            Err(e) if e.to_string().starts_with("number out of range") => return,
            Err(e) => panic!(
                "json.parse accepted what serde_json refuses ({e}): {:?}",
                String::from_utf8_lossy(read)
            ),
        };
        if let Err(why) = same_value(&v, &theirs) {
            panic!(
                "json.parse read {:?} differently from serde_json: {why}",
                String::from_utf8_lossy(read)
            );
        }
    }

    fn generate(&self, input: &mut Input) {
        let lua = &self.lua;
        let opts = input.byte();
        let mut made: Vec<Table> = Vec::new();
        let v = self.value(input, 0, &mut made);
        let state: Value = match opts & 7 {
            0 => Value::Nil,
            1 => Value::Integer(3),
            _ => {
                let st = lua.create_table().expect("table");
                let indent: Value = match opts >> 3 {
                    0 => Value::Boolean(true),
                    1 => Value::Integer(2),
                    2 => Value::Number(2.5),
                    3 => Value::Integer(-1),
                    4 => Value::Number(f64::NAN),
                    5 => Value::Number(1e300),
                    6 => Value::Integer(1 << 40),
                    7 => Value::String(lua.create_string("\t").expect("string")),
                    _ => Value::Nil,
                };
                st.set("indent", indent).expect("set");
                Value::Table(st)
            }
        };
        // sometimes a `keyorder` (dkjson's): keys of the tables made, and some no table has
        let mut keyorder = None;
        if let Value::Table(st) = &state {
            let kb = input.byte();
            match kb & 7 {
                1..=5 => {
                    let list = self.keyorder(input, kb >> 3, &made);
                    st.set("keyorder", list.clone()).expect("set");
                    keyorder = Some(list);
                }
                6 => st.set("keyorder", false).expect("set"),
                7 => st.set("keyorder", kb >> 3).expect("set"),
                _ => {}
            }
        }
        let by_api = luvit::modules::json::stringify_by_api(lua, v.clone(), state.clone());
        let r: mlua::Result<(Option<mlua::LuaString>, Option<String>, Option<bool>)> = self
            .stringify
            .call((self.json.clone(), v.clone(), state.clone()));
        match (&r, &by_api) {
            (Ok((Some(fast), _, _)), Ok(slow)) => assert_eq!(
                fast.as_bytes(),
                slow.as_bytes(),
                "json.stringify's two walks wrote different text"
            ),
            (Ok((None, Some(_), Some(true))), Err(_)) => {}
            _ => panic!("json.stringify's two walks disagree: {r:?} vs {by_api:?}"),
        }
        if let (Some(order), Value::Table(st)) = (&keyorder, &state) {
            self.check_order(
                &v,
                st,
                order,
                &made,
                r.as_ref().ok().and_then(|r| r.0.clone()),
            );
        }
        match r {
            Ok((Some(text), _, _)) => {
                let bytes = text.as_bytes();
                let valid = match std::str::from_utf8(&bytes) {
                    Ok(t) => valid_json(t),
                    // Lua strings are bytes: invalid UTF-8 passes through as dkjson's does.
                    Err(_) => valid_json(&String::from_utf8_lossy(&bytes)),
                };
                assert!(
                    valid,
                    "json.stringify wrote invalid JSON: {:?}",
                    String::from_utf8_lossy(&bytes)
                );
            }
            Ok((None, Some(_), Some(true))) => {}
            Ok((_, why, _)) => panic!("json.stringify: {why:?}"),
            Err(e) => panic!("json.stringify check: {e}"),
        }
    }

    /// A `keyorder` list: up to 8 keys, each a key of one of the tables made or one that no
    /// table has (numbers, a string, a table, NaN, `true`), repeats allowed.
    fn keyorder(&self, input: &mut Input, n: u8, made: &[Table]) -> Table {
        let lua = &self.lua;
        let mut keys: Vec<Value> = vec![
            Value::String(lua.create_string("absent").expect("string")),
            Value::Integer(123_456),
            Value::Number(-0.5),
            Value::Number(f64::NAN),
            Value::Boolean(true),
            Value::Table(lua.create_table().expect("table")),
        ];
        for t in made {
            for pair in t.pairs::<Value, Value>() {
                keys.push(pair.expect("pair").0);
            }
        }
        let list = lua.create_table().expect("table");
        for i in 0..=(n % 8) as usize {
            let k = keys[input.byte() as usize % keys.len()].clone();
            list.raw_set(i + 1, k).expect("set");
        }
        list
    }

    /// `keyorder`'s contract on one written text: the same value as without it (or refused
    /// with it iff refused without it), and in every object the listed keys it holds come
    /// first, in the list's order. Skipped when two keys are written the same way (`1` and
    /// `"1"`, or bytes that are not UTF-8): then a written key does not tell which it was.
    fn check_order(
        &self,
        v: &Value,
        st: &Table,
        order: &Table,
        made: &[Table],
        text: Option<mlua::LuaString>,
    ) {
        let plain_state = self.lua.create_table().expect("table");
        plain_state
            .set("indent", st.get::<Value>("indent").expect("indent"))
            .expect("set");
        let plain: mlua::Result<(Option<mlua::LuaString>, Option<String>, Option<bool>)> = self
            .stringify
            .call((self.json.clone(), v.clone(), plain_state));
        let plain = plain.expect("stringify").0;
        assert_eq!(
            plain.is_some(),
            text.is_some(),
            "keyorder changed whether json.stringify refuses: {plain:?} vs {text:?}"
        );
        let (Some(plain), Some(text)) = (plain, text) else {
            return;
        };
        // the written form of each key (the table's and the list's), and what it was
        let mut forms: std::collections::HashMap<String, Vec<u8>> = Default::default();
        let mut clash = false;
        let mut form_of = |k: &Value| -> Option<String> {
            let (form, id) = match k {
                Value::String(s) => {
                    let b = s.as_bytes().to_vec();
                    (
                        String::from_utf8_lossy(&b).into_owned(),
                        [b"s".to_vec(), b].concat(),
                    )
                }
                Value::Integer(_) | Value::Number(_) => {
                    let n = match k {
                        Value::Integer(i) => *i as f64,
                        Value::Number(n) => *n,
                        _ => 0.0,
                    };
                    if n.is_nan() {
                        return None;
                    }
                    let stringify: Function = self.json.get("stringify").expect("stringify");
                    let form: String = stringify.call(n).expect("number");
                    let n = if n == 0.0 { 0.0 } else { n };
                    (
                        form,
                        [b"n".to_vec(), n.to_bits().to_le_bytes().to_vec()].concat(),
                    )
                }
                _ => return None,
            };
            match forms.get(&form) {
                Some(seen) if *seen != id => clash = true,
                _ => {
                    forms.insert(form.clone(), id);
                }
            }
            Some(form)
        };
        for t in made {
            for pair in t.pairs::<Value, Value>() {
                form_of(&pair.expect("pair").0);
            }
        }
        let mut listed: Vec<String> = Vec::new();
        for k in order.sequence_values::<Value>() {
            if let Some(form) = form_of(&k.expect("key")) {
                if !listed.contains(&form) {
                    listed.push(form);
                }
            }
        }
        if clash {
            return;
        }
        let (text, plain) = (text.as_bytes(), plain.as_bytes());
        let (text, plain) = (
            String::from_utf8_lossy(&text),
            String::from_utf8_lossy(&plain),
        );
        let read = |t: &str| -> serde_json::Value {
            let mut de = serde_json::Deserializer::from_str(t);
            de.disable_recursion_limit();
            serde::Deserialize::deserialize(&mut de).expect("json.stringify wrote invalid JSON")
        };
        assert!(
            read(&text) == read(&plain),
            "keyorder changed the value: {text} vs {plain}"
        );
        let mut objects = Vec::new();
        let mut de = serde_json::Deserializer::from_str(&text);
        de.disable_recursion_limit();
        serde::de::DeserializeSeed::deserialize(KeyLists(&mut objects), &mut de)
            .expect("key lists");
        for keys in &objects {
            let mut sorted = keys.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(
                sorted.len(),
                keys.len(),
                "a key written twice: {keys:?} in {text}"
            );
            let first: Vec<&String> = listed.iter().filter(|k| keys.contains(k)).collect();
            assert!(
                keys.iter().zip(&first).all(|(a, b)| a == *b),
                "keyorder {listed:?} not followed: {keys:?} in {text}"
            );
        }
    }

    /// A Lua value from the input; tables made so far can be referenced again (cycles).
    fn value(&self, input: &mut Input, depth: usize, made: &mut Vec<Table>) -> Value {
        let lua = &self.lua;
        let b = input.byte();
        match b % 16 {
            0 => Value::Nil,
            1 => Value::Boolean(b & 16 != 0),
            2 => Value::Integer(input.i64()),
            3 => Value::Number(f64::from_bits(input.u64())),
            4 => Value::Number(
                [f64::NAN, f64::INFINITY, -f64::INFINITY, -0.0, 1e308, 5e-324]
                    [(b >> 4) as usize % 6],
            ),
            5 | 6 => {
                let n = (b >> 4) as usize * 2;
                Value::String(lua.create_string(input.bytes(n)).expect("string"))
            }
            7 => self.json.get("null").expect("null"),
            // a table again: a cycle, or a shared one (a few only: a DAG of shared tables
            // writes out exponentially, in any JSON encoder)
            8 if !made.is_empty() && made.len() < 12 => {
                Value::Table(made[(b >> 4) as usize % made.len()].clone())
            }
            9 => Value::Function(lua.create_function(|_, ()| Ok(())).expect("function")),
            10 if depth < 2 => {
                // a deep chain of one-element arrays, around the 1000-level limit (one or two
                // per input: indented, their text grows with the square of the depth)
                let n = 1 + input.byte() as usize * 4;
                let mut v = Value::Integer(1);
                for _ in 0..n {
                    let t = lua.create_table().expect("table");
                    t.raw_set(1, v).expect("set");
                    v = Value::Table(t);
                }
                v
            }
            // tables: nested up to 24 deep, at most 500 of them (the input's bytes run out
            // long before a real document's would; this keeps a run short)
            _ if depth < 24 && made.len() < 500 => {
                let t = lua.create_table().expect("table");
                made.push(t.clone());
                if b & 0x10 != 0 {
                    let mt = lua.create_table().expect("table");
                    if b >> 5 == 7 {
                        mt.set("__tojson", self.tojson.clone()).expect("set");
                    } else {
                        let kind = ["array", "object", "null", "other"][(b >> 5) as usize % 4];
                        mt.set("__jsontype", kind).expect("set");
                    }
                    t.set_metatable(Some(mt)).ok();
                }
                let n = input.byte() % 8;
                for _ in 0..n {
                    let kb = input.byte();
                    let key: Value = match kb % 5 {
                        0 | 1 => Value::Integer((kb >> 3) as i64),
                        2 => Value::String(lua.create_string(input.bytes(4)).expect("string")),
                        3 => Value::Number(f64::from(kb) / 4.0 - 10.0),
                        _ => Value::Boolean(true),
                    };
                    let val = self.value(input, depth + 1, made);
                    if !matches!(key, Value::Nil) {
                        t.raw_set(key, val).expect("set");
                    }
                }
                Value::Table(t)
            }
            _ => Value::Integer(0),
        }
    }
}

impl Default for Target {
    fn default() -> Self {
        Target::new()
    }
}

/// Whether a value from `json.parse` (nulls as nil) is serde_json's reading of the same text.
fn same_value(ours: &Value, theirs: &serde_json::Value) -> Result<(), String> {
    use serde_json::Value as J;
    let differ = || Err(format!("{ours:?} vs {theirs}"));
    match (ours, theirs) {
        (Value::Nil, J::Null) => Ok(()),
        (Value::Boolean(a), J::Bool(b)) if a == b => Ok(()),
        (Value::Integer(a), J::Number(n)) if n.as_f64() == Some(*a as f64) => Ok(()),
        (Value::Number(a), J::Number(n)) if n.as_f64() == Some(*a) => Ok(()),
        (Value::String(a), J::String(b)) if a.as_bytes().as_ref() == b.as_bytes() => Ok(()),
        (Value::Table(t), J::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                same_value(&t.raw_get(i + 1).map_err(|e| e.to_string())?, item)?;
            }
            let keys = t.pairs::<Value, Value>().count();
            let present = items.iter().filter(|v| !v.is_null()).count();
            if keys != present {
                return Err(format!(
                    "{keys} entries in a table for {present} in an array"
                ));
            }
            Ok(())
        }
        (Value::Table(t), J::Object(map)) => {
            for (k, item) in map {
                same_value(&t.raw_get(k.as_str()).map_err(|e| e.to_string())?, item)?;
            }
            let keys = t.pairs::<Value, Value>().count();
            let present = map.values().filter(|v| !v.is_null()).count();
            if keys != present {
                return Err(format!("{keys} keys in a table for {present} in an object"));
            }
            Ok(())
        }
        _ => differ(),
    }
}

/// Reads a JSON text, keeping the keys of each of its objects in the order written.
struct KeyLists<'a>(&'a mut Vec<Vec<String>>);

impl<'de> serde::de::DeserializeSeed<'de> for KeyLists<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeyLists<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let at = self.0.len();
        self.0.push(Vec::new());
        let mut keys = Vec::new();
        while let Some(k) = map.next_key::<String>()? {
            keys.push(k);
            map.next_value_seed(KeyLists(self.0))?;
        }
        self.0[at] = keys;
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(KeyLists(self.0))?.is_some() {}
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// serde_json's strict reading, with no recursion limit.
fn valid_json(text: &str) -> bool {
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    serde::Deserialize::deserialize(&mut de)
        .map(|_: serde::de::IgnoredAny| ())
        .and_then(|_| de.end())
        .is_ok()
}

/// The deepest nesting of `[`/`{` outside strings (rough: enough to skip the depth limit).
fn depth(text: &[u8]) -> usize {
    let (mut d, mut max, mut in_str, mut esc) = (0usize, 0usize, false, false);
    for &b in text {
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
                d += 1;
                max = max.max(d);
            }
            b']' | b'}' => d = d.saturating_sub(1),
            _ => {}
        }
    }
    max
}
