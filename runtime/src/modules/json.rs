//! `json`: luvit's JSON module (the dkjson contract) on serde_json's parser and our own writer.
//!
//! `parse(str, pos, nullval)` returns the value and the position after it, or `nil, pos, msg`;
//! objects and arrays come back with a `__jsontype` metatable so they re-encode the same way.
//! `stringify(value, state)` encodes (`state.indent` pretty-prints); `json.null` is JSON's null.
//! Both work on the raw Lua stack (inside mlua's protected `exec_raw`): going through mlua's
//! safe API per value costs a protected call each and made a 5 MB document 4x slower than node.

use std::cell::Cell;
use std::ffi::{c_int, c_void};

use mlua::ffi;
use mlua::{Function, Lua, MultiValue, Table, Value};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

const MAX_DEPTH: usize = 1000;
/// The most spaces a numeric `state.indent` gives.
const MAX_INDENT: i64 = 10;
const META_KEY: &str = "luvit.json.meta";

// ---- parsing -------------------------------------------------------------------------------

/// Pushes one JSON value onto the Lua stack. `null`, `array_mt`, `object_mt` are absolute
/// stack indices of the null value and the two metatables.
#[derive(Clone, Copy)]
struct Push<'h> {
    l: *mut ffi::lua_State,
    null: c_int,
    array_mt: c_int,
    object_mt: c_int,
    depth: usize,
    /// Per depth, the length of the last array and the key count of the last object parsed
    /// there: the next table at that depth is made that size (documents repeat their shapes,
    /// and growing a table 1, 2, 4, 8 rehashes it each time).
    sizes: &'h [Cell<(c_int, c_int)>],
    /// Numbers too large for a double, when the text has any (else null).
    huge: *const HugeNumbers,
}

/// Numbers past a double's range (`1e400`), which serde_json refuses: luvit's dkjson reads
/// them with `tonumber`, as ±inf. [`HugeNumbers::scan`] finds them in a text serde_json just
/// refused and writes a copy with each one blanked to ` 0` (same length, so positions hold);
/// parsing the copy counts the numbers it meets and gives those the infinity instead.
struct HugeNumbers {
    text: String,
    /// (the number's ordinal among the text's numbers, ±inf), in order.
    at: Vec<(usize, f64)>,
    seen: std::cell::Cell<usize>,
    next: std::cell::Cell<usize>,
}

impl HugeNumbers {
    fn scan(text: &str) -> Option<HugeNumbers> {
        let b = text.as_bytes();
        let mut out = b.to_vec();
        let mut at = Vec::new();
        let (mut i, mut ordinal) = (0, 0);
        while i < b.len() {
            match b[i] {
                b'"' => {
                    i += 1;
                    while i < b.len() && b[i] != b'"' {
                        i += if b[i] == b'\\' { 2 } else { 1 };
                    }
                    i += 1;
                }
                b'-' | b'0'..=b'9' => {
                    let start = i;
                    i = Self::number_end(b, i);
                    if let Ok(v) = text[start..i].parse::<f64>() {
                        if v.is_infinite() {
                            at.push((ordinal, v));
                            // ` 0   `: spaces around, so the 0 cannot join a number
                            // next to it (`-1e40-1e4000` must not become `-1e400 ...`);
                            // an overflowing number is at least 5 bytes long
                            out[start..i].fill(b' ');
                            out[start + 1.min(i - start - 1)] = b'0';
                        }
                    }
                    ordinal += 1;
                }
                _ => i += 1,
            }
        }
        if at.is_empty() {
            return None;
        }
        Some(HugeNumbers {
            text: String::from_utf8(out).ok()?,
            at,
            seen: 0.into(),
            next: 0.into(),
        })
    }

    /// Where the JSON number starting at `i` (a `-` or a digit) ends: `-?d+(.d+)?([eE][+-]?d+)?`.
    fn number_end(b: &[u8], mut i: usize) -> usize {
        let digits = |i: &mut usize| {
            while b.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
        };
        if b[i] == b'-' {
            i += 1;
        }
        digits(&mut i);
        if b.get(i) == Some(&b'.') && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 1;
            digits(&mut i);
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            let mut j = i + 1;
            if matches!(b.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            if b.get(j).is_some_and(u8::is_ascii_digit) {
                i = j;
                digits(&mut i);
            }
        }
        i
    }

    /// The value for the next number parsed, `v` as read or the infinity it stands for.
    fn next(&self, v: f64) -> f64 {
        let n = self.seen.get();
        self.seen.set(n + 1);
        let k = self.next.get();
        match self.at.get(k) {
            Some(&(ordinal, inf)) if ordinal == n => {
                self.next.set(k + 1);
                inf
            }
            _ => v,
        }
    }
}

impl Push<'_> {
    /// At most 64 each: small tables are where growing costs most, and a huge array must not
    /// make every later one at its depth huge.
    fn size_hint(&self) -> (c_int, c_int) {
        let (a, r) = self.sizes.get(self.depth).map_or((0, 0), Cell::get);
        (a.min(64), r.min(64))
    }

    fn remember(&self, arr: Option<c_int>, rec: Option<c_int>) {
        if let Some(c) = self.sizes.get(self.depth) {
            let (a, r) = c.get();
            c.set((arr.unwrap_or(a), rec.unwrap_or(r)));
        }
    }

    fn room<E: serde::de::Error>(&self) -> Result<(), E> {
        if self.depth > MAX_DEPTH {
            return Err(E::custom(format!(
                "JSON nesting deeper than {MAX_DEPTH} levels"
            )));
        }
        // SAFETY: `l` is the live state mlua handed to exec_raw.
        if unsafe { ffi::lua_checkstack(self.l, 8) } == 0 {
            return Err(E::custom("out of Lua stack space"));
        }
        Ok(())
    }

    fn number(self, v: f64) {
        // SAFETY: `huge` is null or points at the HugeNumbers that outlives this parse.
        let v = match unsafe { self.huge.as_ref() } {
            Some(h) => h.next(v),
            None => v,
        };
        // SAFETY: `l` is the live state mlua handed to exec_raw, with room checked.
        unsafe { ffi::lua_pushnumber(self.l, v) };
    }

    fn deeper(self) -> Self {
        Push {
            depth: self.depth + 1,
            ..self
        }
    }
}

impl<'de> DeserializeSeed<'de> for Push<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Push<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        unsafe { ffi::lua_pushboolean(self.l, v as c_int) };
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.number(v as f64);
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.number(v as f64);
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.number(v);
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        unsafe { ffi::lua_pushlstring(self.l, v.as_ptr() as *const _, v.len()) };
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        unsafe { ffi::lua_pushvalue(self.l, self.null) };
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.room::<A::Error>()?;
        let l = self.l;
        unsafe { ffi::lua_createtable(l, self.size_hint().0, 0) };
        let mut i: c_int = 1;
        while seq.next_element_seed(self.deeper())?.is_some() {
            unsafe { ffi::lua_rawseti(l, -2, i as _) };
            i += 1;
        }
        self.remember(Some(i - 1), None);
        unsafe {
            ffi::lua_pushvalue(l, self.array_mt);
            ffi::lua_setmetatable(l, -2);
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.room::<A::Error>()?;
        let l = self.l;
        unsafe { ffi::lua_createtable(l, 0, self.size_hint().1) };
        let mut n: c_int = 0;
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self.deeper())?;
            unsafe { ffi::lua_rawset(l, -3) };
            n += 1;
        }
        self.remember(None, Some(n));
        unsafe {
            ffi::lua_pushvalue(l, self.object_mt);
            ffi::lua_setmetatable(l, -2);
        }
        Ok(())
    }
}

fn byte_pos(s: &[u8], line: usize, col: usize) -> usize {
    let mut off = 0;
    for (i, l) in s.split_inclusive(|b| *b == b'\n').enumerate() {
        if i + 1 == line {
            return off + col;
        }
        off += l.len();
    }
    s.len()
}

/// What the raw parser leaves for the caller: the end position or the error.
enum Parsed {
    Ok(usize),
    Err(usize, String),
}

fn parse(
    lua: &Lua,
    (s, pos, nullval): (mlua::LuaString, Option<usize>, Value),
) -> mlua::Result<MultiValue> {
    let meta: Table = lua.named_registry_value(META_KEY)?;
    let (array_mt, object_mt): (Table, Table) = (meta.get("array")?, meta.get("object")?);
    let start = pos.unwrap_or(1).max(1) - 1;
    let mut outcome = Parsed::Err(start + 1, "no input".into());
    let out = &mut outcome;
    // SAFETY: the closure only uses the Lua C API on the state mlua passes, within the stack
    // space it checks; errors from Lua (memory) are caught by exec_raw's protected call.
    let value = unsafe {
        lua.exec_raw::<MultiValue>((s, nullval, array_mt, object_mt), |l| {
            let top = ffi::lua_gettop(l);
            let (sidx, null, amt, omt) = (top - 3, top - 2, top - 1, top);
            let mut len = 0usize;
            let p = ffi::lua_tolstring(l, sidx, &mut len);
            let bytes: &[u8] = if p.is_null() {
                &[]
            } else {
                std::slice::from_raw_parts(p as *const u8, len)
            };
            let text = bytes.get(start..).unwrap_or(&[]);
            let sizes = vec![Cell::new((0, 0)); MAX_DEPTH + 2];
            let push = Push {
                l,
                null,
                array_mt: amt,
                object_mt: omt,
                depth: 0,
                sizes: &sizes,
                huge: std::ptr::null(),
            };
            // Validate UTF-8 once up front: the str reader then skips it per string.
            let text_str = match std::str::from_utf8(text) {
                Ok(t) => t,
                Err(e) => {
                    ffi::lua_pushnil(l);
                    *out = Parsed::Err(
                        start + e.valid_up_to() + 1,
                        "invalid UTF-8 in JSON text".into(),
                    );
                    ffi::lua_replace(l, sidx);
                    ffi::lua_settop(l, sidx);
                    return;
                }
            };
            let mut de = serde_json::Deserializer::from_str(text_str);
            de.disable_recursion_limit();
            let mut parsed = push.deserialize(&mut de);
            // serde_json refuses numbers past a double; dkjson reads them as ±inf: again on
            // a copy with those blanked, putting the infinities back as they come
            let huge = match &parsed {
                Err(e) if e.to_string().starts_with("number out of range") => {
                    HugeNumbers::scan(text_str)
                }
                _ => None,
            };
            if let Some(h) = &huge {
                ffi::lua_settop(l, top);
                let mut de = serde_json::Deserializer::from_str(&h.text);
                de.disable_recursion_limit();
                parsed = Push { huge: h, ..push }.deserialize(&mut de);
            }
            match parsed {
                Ok(()) => {
                    // Like dkjson: the value and the position after it (trailing whitespace
                    // skipped); anything else after it is the caller's business.
                    let mut end = text.len();
                    while end > 0 && text[end - 1].is_ascii_whitespace() {
                        end -= 1;
                    }
                    *out = Parsed::Ok(start + end + 1);
                }
                Err(e) => {
                    let at = start + byte_pos(text, e.line(), e.column());
                    let msg = e.to_string();
                    let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                    ffi::lua_settop(l, top);
                    ffi::lua_pushnil(l);
                    *out = Parsed::Err(at.max(1), msg);
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

struct Enc {
    l: *mut ffi::lua_State,
    /// Stack slots holding the strings "__jsontype" and "__tojson" (pushed once).
    k_jsontype: c_int,
    k_tojson: c_int,
    object_mt: c_int,
    array_mt: c_int,
    out: Vec<u8>,
    indent: Option<Vec<u8>>,
    null: c_int,
    seen: Vec<*const c_void>,
}

/// For each byte: 0 when it is copied as is, else the letter of its short escape (`u` for
/// `\u00XX`).
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x7f] = b'u';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t[b'\n' as usize] = b'n';
    t[b'\r' as usize] = b'r';
    t[b'\t' as usize] = b't';
    t[0x08] = b'b';
    t[0x0c] = b'f';
    t
};

fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut run = 0;
    for (i, &b) in s.iter().enumerate() {
        let esc = ESCAPE[b as usize];
        if esc == 0 {
            continue;
        }
        out.extend_from_slice(&s[run..i]);
        run = i + 1;
        if esc == b'u' {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 15) as usize],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', esc]);
        }
    }
    out.extend_from_slice(&s[run..]);
    out.push(b'"');
}

fn write_num(out: &mut Vec<u8>, n: f64) {
    if !n.is_finite() {
        out.extend_from_slice(b"null");
    } else if n.fract() == 0.0 && n.abs() < 1e15 {
        out.extend_from_slice(itoa::Buffer::new().format(n as i64).as_bytes());
    } else {
        out.extend_from_slice(ryu::Buffer::new().format_finite(n).as_bytes());
    }
}

impl Enc {
    fn newline(&mut self, level: usize) {
        if let Some(ind) = &self.indent {
            self.out.push(b'\n');
            for _ in 0..level {
                self.out.extend_from_slice(ind);
            }
        }
    }

    /// Encodes the value at absolute stack index `idx`.
    unsafe fn value(&mut self, idx: c_int, level: usize) -> Result<(), String> {
        let l = self.l;
        match ffi::lua_type(l, idx) {
            ffi::LUA_TNIL => self.out.extend_from_slice(b"null"),
            ffi::LUA_TBOOLEAN => {
                let b = ffi::lua_toboolean(l, idx) != 0;
                self.out
                    .extend_from_slice(if b { b"true" } else { b"false" });
            }
            ffi::LUA_TNUMBER => write_num(&mut self.out, ffi::lua_tonumber(l, idx)),
            ffi::LUA_TSTRING => {
                let mut len = 0;
                let p = ffi::lua_tolstring(l, idx, &mut len);
                write_str(
                    &mut self.out,
                    std::slice::from_raw_parts(p as *const u8, len),
                );
            }
            ffi::LUA_TTABLE => self.table(idx, level)?,
            ffi::LUA_TLIGHTUSERDATA if ffi::lua_touserdata(l, idx).is_null() => {
                self.out.extend_from_slice(b"null")
            }
            t => {
                let name = std::ffi::CStr::from_ptr(ffi::lua_typename(l, t)).to_string_lossy();
                return Err(format!(
                    "json.stringify: cannot encode a value of type {name}"
                ));
            }
        }
        Ok(())
    }

    /// The `__jsontype` of a table's metatable, and whether it has `__tojson`.
    unsafe fn meta(&mut self, idx: c_int) -> (Option<u8>, bool) {
        let l = self.l;
        if ffi::lua_getmetatable(l, idx) == 0 {
            return (None, false);
        }
        // The metatables json.parse puts on what it makes: no need to look inside.
        if ffi::lua_rawequal(l, -1, self.object_mt) != 0 {
            ffi::lua_pop(l, 1);
            return (Some(b'o'), false);
        }
        if ffi::lua_rawequal(l, -1, self.array_mt) != 0 {
            ffi::lua_pop(l, 1);
            return (Some(b'a'), false);
        }
        ffi::lua_pushvalue(l, self.k_jsontype);
        ffi::lua_rawget(l, -2);
        let mut len = 0;
        let p = ffi::lua_tolstring(l, -1, &mut len);
        let kind = if p.is_null() || len == 0 {
            None
        } else {
            Some(*(p as *const u8))
        };
        ffi::lua_pop(l, 1);
        ffi::lua_pushvalue(l, self.k_tojson);
        ffi::lua_rawget(l, -2);
        let tojson = ffi::lua_type(l, -1) == ffi::LUA_TFUNCTION;
        ffi::lua_pop(l, 2);
        (kind, tojson)
    }

    /// The length of a table marked as an array: its largest positive integer key, so nulls
    /// parsed into holes (`[1,null,3]`) are written back (the border `#t` may stop at a hole).
    /// `None` when that would write more than 2^24 entries, most of them null.
    unsafe fn max_index(&mut self, idx: c_int) -> Option<usize> {
        let l = self.l;
        let (mut max, mut n) = (ffi::lua_objlen(l, idx), 0usize);
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, idx) != 0 {
            ffi::lua_pop(l, 1);
            if ffi::lua_type(l, -1) == ffi::LUA_TNUMBER {
                let k = ffi::lua_tonumber(l, -1);
                if k >= 1.0 && k.fract() == 0.0 {
                    max = max.max(k.min(usize::MAX as f64) as usize);
                    n += 1;
                }
            }
        }
        (max <= 1 << 24 || max / 2 <= n).then_some(max)
    }

    /// dkjson's rule: an array when every key is a positive integer and it is not mostly
    /// holes. A table whose keys are exactly 1..n is recognised without a full scan.
    unsafe fn array_len(&mut self, idx: c_int) -> Option<usize> {
        let l = self.l;
        let len = ffi::lua_objlen(l, idx);
        if len > 0 {
            ffi::lua_pushnumber(l, len as f64);
            if ffi::lua_next(l, idx) == 0 {
                return Some(len);
            }
            ffi::lua_pop(l, 2);
        }
        let (mut max, mut n) = (0usize, 0usize);
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, idx) != 0 {
            ffi::lua_pop(l, 1);
            let k = if ffi::lua_type(l, -1) == ffi::LUA_TNUMBER {
                ffi::lua_tonumber(l, -1)
            } else {
                0.0
            };
            if k >= 1.0 && k.fract() == 0.0 {
                max = max.max(k as usize);
                n += 1;
            } else {
                ffi::lua_pop(l, 1);
                return None;
            }
        }
        if max > 10 && max > n * 2 {
            None
        } else {
            Some(max)
        }
    }

    unsafe fn table(&mut self, idx: c_int, level: usize) -> Result<(), String> {
        let l = self.l;
        if ffi::lua_rawequal(l, idx, self.null) != 0 {
            self.out.extend_from_slice(b"null");
            return Ok(());
        }
        if ffi::lua_checkstack(l, 6) == 0 || level > MAX_DEPTH {
            return Err("json.stringify: nesting too deep".into());
        }
        let (kind, tojson) = self.meta(idx);
        if tojson {
            ffi::lua_getmetatable(l, idx);
            ffi::lua_pushstring(l, c"__tojson".as_ptr());
            ffi::lua_rawget(l, -2);
            ffi::lua_pushvalue(l, idx);
            ffi::lua_createtable(l, 0, 0);
            ffi::lua_call(l, 2, 1);
            let mut len = 0;
            let p = ffi::lua_tolstring(l, -1, &mut len);
            if !p.is_null() {
                self.out
                    .extend_from_slice(std::slice::from_raw_parts(p as *const u8, len));
            }
            ffi::lua_pop(l, 2);
            return Ok(());
        }
        let ptr = ffi::lua_topointer(l, idx);
        if self.seen.contains(&ptr) {
            return Err("json.stringify: reference cycle".into());
        }
        self.seen.push(ptr);
        // dkjson's rule: an array when every key is a positive integer and it is not mostly holes.
        let as_array = match kind {
            Some(b'o') => None,
            Some(b'a') => match self.max_index(idx) {
                Some(n) => Some(n),
                None => {
                    self.seen.pop();
                    return Err("json.stringify: array too sparse to write".into());
                }
            },
            _ => self.array_len(idx),
        };
        let sep: &[u8] = if self.indent.is_some() { b": " } else { b":" };
        match as_array {
            Some(len) => {
                self.out.push(b'[');
                for i in 1..=len {
                    if i > 1 {
                        self.out.push(b',');
                    }
                    self.newline(level + 1);
                    ffi::lua_rawgeti(l, idx, i as _);
                    let r = self.value(ffi::lua_gettop(l), level + 1);
                    ffi::lua_pop(l, 1);
                    r?;
                }
                if len > 0 {
                    self.newline(level);
                }
                self.out.push(b']');
            }
            None => {
                self.out.push(b'{');
                let mut first = true;
                ffi::lua_pushnil(l);
                while ffi::lua_next(l, idx) != 0 {
                    let top = ffi::lua_gettop(l);
                    let vt = ffi::lua_type(l, top);
                    if vt == ffi::LUA_TFUNCTION
                        || vt == ffi::LUA_TTHREAD
                        || vt == ffi::LUA_TUSERDATA
                    {
                        ffi::lua_pop(l, 1);
                        continue;
                    }
                    if !first {
                        self.out.push(b',');
                    }
                    first = false;
                    self.newline(level + 1);
                    match ffi::lua_type(l, top - 1) {
                        ffi::LUA_TSTRING => {
                            let mut len = 0;
                            let p = ffi::lua_tolstring(l, top - 1, &mut len);
                            write_str(
                                &mut self.out,
                                std::slice::from_raw_parts(p as *const u8, len),
                            );
                        }
                        ffi::LUA_TNUMBER => {
                            self.out.push(b'"');
                            write_num(&mut self.out, ffi::lua_tonumber(l, top - 1));
                            self.out.push(b'"');
                        }
                        t => {
                            ffi::lua_pop(l, 2);
                            let name =
                                std::ffi::CStr::from_ptr(ffi::lua_typename(l, t)).to_string_lossy();
                            return Err(format!(
                                "json.stringify: cannot use a {name} as an object key"
                            ));
                        }
                    }
                    self.out.extend_from_slice(sep);
                    let r = self.value(top, level + 1);
                    ffi::lua_pop(l, 1);
                    if let Err(e) = r {
                        ffi::lua_pop(l, 1);
                        return Err(e);
                    }
                }
                if !first {
                    self.newline(level);
                }
                self.out.push(b'}');
            }
        }
        self.seen.pop();
        Ok(())
    }
}

fn stringify(lua: &Lua, (v, state): (Value, Value)) -> mlua::Result<mlua::LuaString> {
    // dkjson's `state` is an options table; anything else (a position from parse) is ignored.
    let mut indent = None;
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
    }
    let meta: Table = lua.named_registry_value::<Table>(META_KEY)?;
    let (null, object_mt, array_mt): (Table, Table, Table) =
        (meta.get("null")?, meta.get("object")?, meta.get("array")?);
    let mut error = None;
    let err = &mut error;
    // SAFETY: as in `parse`: raw API calls on the state mlua passes, stack space checked.
    let s = unsafe {
        lua.exec_raw::<mlua::LuaString>((v, null, object_mt, array_mt), |l| {
            let top = ffi::lua_gettop(l) - 2;
            ffi::lua_pushstring(l, c"__jsontype".as_ptr());
            ffi::lua_pushstring(l, c"__tojson".as_ptr());
            let mut enc = Enc {
                l,
                k_jsontype: top + 3,
                k_tojson: top + 4,
                object_mt: top + 1,
                array_mt: top + 2,
                out: Vec::with_capacity(4096),
                indent,
                null: top,
                seen: Vec::new(),
            };
            match enc.value(top - 1, 0) {
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
    lua.set_named_registry_value(META_KEY, meta)?;
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
    json.set(
        "original_version",
        "dkjson 2.5 (API), luvit-rs implementation",
    )?;
    json.set(
        "quotestring",
        lua.create_function(|lua, s: mlua::LuaString| {
            let mut out = Vec::with_capacity(s.as_bytes().len() + 2);
            write_str(&mut out, &s.as_bytes());
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
