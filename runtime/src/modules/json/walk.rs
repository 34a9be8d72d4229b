//! `json.stringify`'s fast walk: tables are read in place (`layout.rs`) instead of through
//! `lua_next` and a C API call per value. It writes exactly what the C API walk in
//! `encode.rs` writes (same rules, same order: the array part, then the hash part, as `next`
//! goes), and hands that walk what is rare: a metatable of the script's own (`__jsontype`,
//! `__tojson`), light userdata, values it must refuse.
//!
//! Why reading in place is safe: nothing here runs Lua or allocates from Lua's heap, so the
//! collector cannot run and no table can change while it is read — except inside a
//! `__tojson` call. Around that call every table being walked is put on the Lua stack (so
//! none can be collected, whatever the function does), and afterwards every loop re-reads
//! its table's parts (a resize moves them) and goes on by index within the new bounds.

use std::ffi::{c_int, c_void};

use mlua::ffi;

use super::encode::{
    mostly_filled, not_too_sparse, write_num, write_str, write_u64, Enc, Step, MAX_DEPTH,
};
use super::layout::{
    gcptr, str_bytes, tab_meta, tab_parts, tab_value, tag, Layout, Tv, T_FALSE, T_FUNC, T_NIL,
    T_NUM, T_STR, T_TAB, T_THREAD, T_TRUE, T_UDATA,
};

/// Stack slots a hand-over to the C API walk may use.
const API_SLOTS: c_int = 8;

/// Values an object leaves out (dkjson skips them; elsewhere they are refused).
#[inline(always)]
fn skipped(t: u32) -> bool {
    t == T_FUNC || t == T_THREAD || t == T_UDATA
}

/// A positive integer key (as dkjson sees one: `k >= 1` and no fraction).
#[inline(always)]
fn positive_int(tv: Tv) -> Option<usize> {
    if tag(tv) >= T_NUM {
        return None;
    }
    let k = f64::from_bits(tv);
    (k >= 1.0 && k.fract() == 0.0).then(|| k.min(usize::MAX as f64) as usize)
}

impl Enc {
    /// Encodes the value `tv`, read from a stack slot or a table.
    ///
    /// # Safety
    /// `tv` is a value of a live object (or not collectable), reachable from the root value
    /// or from a table being walked.
    #[inline(always)]
    pub(super) unsafe fn raw_value(&mut self, lay: Layout, tv: Tv, level: usize) -> Step {
        let t = tag(tv);
        if t < T_NUM {
            write_num(&mut self.out, f64::from_bits(tv));
            return Ok(());
        }
        match t {
            T_STR => write_str(&mut self.out, str_bytes(gcptr(tv))),
            T_TAB => return self.raw_table(lay, gcptr(tv), level),
            T_TRUE => self.out.extend_from_slice(b"true"),
            T_FALSE => self.out.extend_from_slice(b"false"),
            T_NIL => self.out.extend_from_slice(b"null"),
            _ => return self.api_value(lay, tv, level),
        }
        Ok(())
    }

    /// Reserves `n` stack slots, or refuses.
    unsafe fn reserve(&mut self, n: usize) -> Step {
        if n > 100_000 || ffi::lua_checkstack(self.l, n as c_int) == 0 {
            return self.fail("json.stringify: nesting too deep");
        }
        Ok(())
    }

    /// A value that is no number, string, boolean, nil or table: the C API walk says what
    /// it is (null for a null light userdata) or refuses it.
    #[inline(never)]
    unsafe fn api_value(&mut self, lay: Layout, tv: Tv, level: usize) -> Step {
        self.reserve(API_SLOTS as usize)?;
        lay.push(self.l, tv);
        let idx = ffi::lua_gettop(self.l);
        let r = self.typed(idx, ffi::lua_type(self.l, idx), level);
        ffi::lua_settop(self.l, idx - 1);
        r
    }

    /// Lua's name for the type of `tv` (for messages).
    unsafe fn type_name(&mut self, lay: Layout, tv: Tv) -> String {
        if self.reserve(1).is_err() {
            return "value".into();
        }
        lay.push(self.l, tv);
        let t = ffi::lua_type(self.l, -1);
        ffi::lua_settop(self.l, -2);
        std::ffi::CStr::from_ptr(ffi::lua_typename(self.l, t))
            .to_string_lossy()
            .into_owned()
    }

    #[inline(never)]
    unsafe fn raw_table(&mut self, lay: Layout, t: *const u8, level: usize) -> Step {
        let ptr = t as *const c_void;
        if ptr == self.s.null {
            self.out.extend_from_slice(b"null");
            return Ok(());
        }
        if level > MAX_DEPTH {
            return self.fail("json.stringify: nesting too deep");
        }
        let mt = tab_meta(t);
        let kind = if mt.is_null() {
            None
        } else if mt == self.s.object_mt {
            Some(b'o')
        } else if mt == self.s.array_mt {
            Some(b'a')
        } else {
            // the script's own metatable: its fields are read through the C API
            self.reserve(API_SLOTS as usize)?;
            lay.push(self.l, tab_value(t));
            let idx = ffi::lua_gettop(self.l);
            let (kind, tojson) = self.meta(idx);
            let r = if tojson {
                self.raw_tojson(lay, idx)
            } else {
                Ok(())
            };
            ffi::lua_settop(self.l, idx - 1);
            if tojson {
                return r;
            }
            kind
        };
        if self.seen.contains(&ptr) {
            return self.fail("json.stringify: reference cycle");
        }
        let as_array = match kind {
            Some(b'o') => None,
            Some(b'a') => match self.raw_max_index(t) {
                Some(n) if n <= c_int::MAX as usize => Some(n),
                _ => return self.fail("json.stringify: array too sparse to write"),
            },
            _ => self.raw_array_len(t).filter(|&n| n <= c_int::MAX as usize),
        };
        self.seen.push(ptr);
        let r = match as_array {
            Some(len) => self.raw_array(lay, t, len as u32, level),
            None => self.raw_object(lay, t, level),
        };
        self.seen.pop();
        r
    }

    /// `__tojson` of the table at stack slot `idx`, with every table being walked held on
    /// the stack while Lua runs.
    unsafe fn raw_tojson(&mut self, lay: Layout, idx: c_int) -> Step {
        self.reserve(self.seen.len() + API_SLOTS as usize)?;
        for &t in &self.seen {
            lay.push(self.l, tab_value(t as *const u8));
        }
        let r = self.tojson(idx);
        ffi::lua_settop(self.l, idx);
        r
    }

    /// The largest positive integer key of a table marked as an array (see `not_too_sparse`).
    unsafe fn raw_max_index(&mut self, t: *const u8) -> Option<usize> {
        let p = tab_parts(t);
        let (mut max, mut n) = (0usize, 0usize);
        for j in 0..=p.hmask {
            let node = p.node(j);
            if tag(node.val) != T_NIL {
                if let Some(k) = positive_int(node.key) {
                    max = max.max(k);
                    n += 1;
                }
            }
        }
        // the array part's last key (found from the end); its count matters only when the
        // largest key is huge
        let top = (1..p.asize).rev().find(|&i| tag(p.slot(i)) != T_NIL);
        max = max.max(top.unwrap_or(0) as usize);
        if max > 1 << 24 {
            n += (1..p.asize).filter(|&i| tag(p.slot(i)) != T_NIL).count();
        }
        not_too_sparse(max, n)
    }

    /// dkjson's array test for a table without `__jsontype`: the length when every key is a
    /// positive integer (see `mostly_filled`).
    unsafe fn raw_array_len(&mut self, t: *const u8) -> Option<usize> {
        let p = tab_parts(t);
        if p.asize > 0 && tag(p.slot(0)) != T_NIL {
            return None;
        }
        let (mut max, mut n) = (0usize, 0usize);
        for i in 1..p.asize {
            if tag(p.slot(i)) != T_NIL {
                max = i as usize;
                n += 1;
            }
        }
        for j in 0..=p.hmask {
            let node = p.node(j);
            if tag(node.val) != T_NIL {
                let k = positive_int(node.key)?;
                max = max.max(k);
                n += 1;
            }
        }
        mostly_filled(max, n)
    }

    /// `t[i]` for a key past the array part, through the C API.
    #[inline(never)]
    unsafe fn raw_geti(
        &mut self,
        lay: Layout,
        t: *const u8,
        i: u32,
    ) -> Result<Tv, super::encode::Stop> {
        self.reserve(2)?;
        lay.push(self.l, tab_value(t));
        ffi::lua_rawgeti_(self.l, -1, i as _);
        let tv = lay.at(self.l, ffi::lua_gettop(self.l));
        ffi::lua_settop(self.l, -3);
        Ok(tv)
    }

    /// Entries 1..=len of the table `t`.
    unsafe fn raw_array(&mut self, lay: Layout, t: *const u8, len: u32, level: usize) -> Step {
        self.out.push(b'[');
        let mut p = tab_parts(t);
        let mut epoch = self.epoch;
        for i in 1..=len {
            if i > 1 {
                self.out.push(b',');
            }
            self.newline(level + 1);
            let tv = if i < p.asize {
                p.slot(i)
            } else {
                self.raw_geti(lay, t, i)?
            };
            self.raw_value(lay, tv, level + 1)?;
            if self.epoch != epoch {
                p = tab_parts(t);
                epoch = self.epoch;
            }
        }
        if len > 0 {
            self.newline(level);
        }
        self.out.push(b']');
        Ok(())
    }

    /// Every entry of the table `t`, in `next`'s order.
    unsafe fn raw_object(&mut self, lay: Layout, t: *const u8, level: usize) -> Step {
        self.out.push(b'{');
        let mut first = true;
        let mut p = tab_parts(t);
        let mut epoch = self.epoch;
        let mut i = 0;
        while i < p.asize {
            let v = p.slot(i);
            let vt = tag(v);
            if vt != T_NIL && !skipped(vt) {
                self.open_entry(level, &mut first);
                self.out.push(b'"');
                write_u64(&mut self.out, i as u64);
                self.out.push(b'"');
                self.sep();
                self.raw_value(lay, v, level + 1)?;
                if self.epoch != epoch {
                    p = tab_parts(t);
                    epoch = self.epoch;
                }
            }
            i += 1;
        }
        let mut j = 0;
        while j <= p.hmask {
            let node = p.node(j);
            let (k, v) = (node.key, node.val);
            let vt = tag(v);
            if vt != T_NIL && !skipped(vt) {
                self.open_entry(level, &mut first);
                let kt = tag(k);
                if kt == T_STR {
                    self.key(str_bytes(gcptr(k)));
                } else if kt < T_NUM {
                    self.out.push(b'"');
                    write_num(&mut self.out, f64::from_bits(k));
                    self.out.push(b'"');
                    self.sep();
                } else {
                    let name = self.type_name(lay, k);
                    return self.fail(format!(
                        "json.stringify: cannot use a {name} as an object key"
                    ));
                }
                self.raw_value(lay, v, level + 1)?;
                if self.epoch != epoch {
                    p = tab_parts(t);
                    epoch = self.epoch;
                }
            }
            j += 1;
        }
        self.close_object(level, first);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use mlua::{Lua, Table, Value};

    use super::super::{register, stringify_by_api};

    /// Values of every shape the two walks must agree on (text or error), built in Lua.
    const CASES: &str = r#"
local json = ...
local c = {}
local function add(v, st) c[#c + 1] = { v, st } end
add(1) add(-0.0) add(1 / 0) add(0 / 0) add(2 ^ 53 + 2) add(1e300) add(0.1 + 0.2) add('a"b\n\0\127')
add(true) add(false) add(json.null) add({}) add({ 1, 2, 3 }) add({ 1, nil, 3 }) add({ [0] = 'z', 1, 2 })
add({ [1] = 1, [30] = 2 }) add({ [1] = 1, [20] = 2 }) add({ a = 1, [1] = 2 }) add({ [1.5] = 1 })
add({ [-1] = 1 }) add({ [1e300] = 1 }) add({ f = print, co = coroutine.create(print), x = 1 })
add({ print }) add({ [true] = 1 }) add({ [{}] = 1 }) add({ [print] = 1 }) add(print)
local deep = {}
local d = deep
for _ = 1, 1100 do d[1] = {} d = d[1] end
add(deep)
local cyc = { a = {} }
cyc.a.b = cyc
add(cyc)
local shared = { 1 }
add({ shared, shared, { shared } })
local obj = getmetatable(json.parse('{}'))
local arr = getmetatable(json.parse('[]'))
add(setmetatable({ 1, 2 }, obj)) add(setmetatable({ a = 1 }, arr)) add(setmetatable({ [3] = 1 }, arr))
add(setmetatable({ [2 ^ 40] = 1 }, arr)) add(setmetatable({}, arr)) add(setmetatable({}, obj))
add(setmetatable({ 1 }, { __jsontype = 'object' })) add(setmetatable({ a = 1 }, { __jsontype = 'array' }))
add(setmetatable({ 1 }, { __jsontype = 5 })) add(setmetatable({ 1 }, { __index = { a = 1 } }))
add(setmetatable({}, { __tojson = function() return '"x"' end }))
add({ a = setmetatable({}, { __tojson = function() return 12 end }), b = 2 })
add({ setmetatable({}, { __tojson = function() return nil end }) })
local holes = {}
for i = 1, 50 do holes[i * 3] = i end
add(holes) add(setmetatable(holes, nil))
local mixed = { 1, 2, 3 }
for i = 1, 40 do mixed['k' .. i] = { i, tostring(i), i / 7 } end
add(mixed) add(mixed, { indent = true }) add(mixed, { indent = '\t' })
local list = {}
for i = 1, 300 do
  list[i] = { id = i, name = 'item ' .. i, price = i * 1.25, tags = { 'a', 'b' },
    on = i % 2 == 0, nested = { x = i, y = -i, label = 'q"uoted' } }
end
local text = json.stringify({ list = list })
add(list) add(json.parse(text)) add(json.parse(text, 1, json.null), { indent = 3 })
add(json.parse('[1,null,3,{"a":null}]')) add(json.parse('[1,null,3,{"a":null}]', 1, json.null))
local grown = {}
for i = 1, 20 do grown[i] = i end
for i = 21, 40 do grown[i] = 'x' .. i end
grown[10] = nil
add(grown)
return c
"#;

    #[test]
    fn the_fast_walk_writes_what_the_api_walk_writes() {
        let lua = Lua::new();
        let json = register(&lua).expect("json");
        let stringify: mlua::Function = json.get("stringify").expect("stringify");
        let cases: Table = lua.load(CASES).call(json).expect("cases");
        let mut n = 0;
        for case in cases.sequence_values::<Table>() {
            let case = case.expect("case");
            let (v, st): (Value, Value) = (case.get(1).unwrap(), case.get(2).unwrap());
            let fast = stringify.call::<mlua::LuaString>((v.clone(), st.clone()));
            let slow = stringify_by_api(&lua, v, st);
            match (fast, slow) {
                (Ok(a), Ok(b)) => assert_eq!(a.as_bytes(), b.as_bytes(), "case {}", n + 1),
                (Err(a), Err(b)) => {
                    let (a, b) = (a.to_string(), b.to_string());
                    let b = b.trim_start_matches("runtime error: ");
                    assert!(a.contains(b), "case {}: {a} vs {b}", n + 1);
                }
                (a, b) => panic!("case {}: {a:?} vs {b:?}", n + 1),
            }
            n += 1;
        }
        assert!(n > 50, "{n} cases");
    }

    /// `__tojson` functions that change, shrink, grow and drop the tables being walked, and
    /// run the collector: the walk must neither crash nor read freed memory (run this under
    /// valgrind to see the latter), and still write JSON or a clear error.
    const MUTATIONS: &str = r#"
local json = ...
local out = {}
local function filler(n)
  local t = {}
  for i = 1, n do t[i] = { i, 'v' .. i } end
  return t
end
for variant = 1, 6 do
  local root = { list = filler(30), obj = {} }
  for i = 1, 30 do root.obj['k' .. i] = { i } end
  local mt = {}
  mt.__tojson = function()
    if variant == 1 then for i = 31, 400 do root.list[i] = i end
    elseif variant == 2 then for i = 1, 400 do root.obj['n' .. i] = i end
    elseif variant == 3 then root.list = nil root.obj = nil
    elseif variant == 4 then for k in pairs(root.obj) do root.obj[k] = nil end
    elseif variant == 5 then for i = 1, 30 do root.list[i] = nil end
    else root.obj = setmetatable({}, mt) end
    collectgarbage() collectgarbage()
    return '"T"'
  end
  root.list[3] = setmetatable({}, mt)
  root.obj.k7 = setmetatable({}, mt)
  local ok, s = pcall(json.stringify, root)
  out[#out + 1] = ok and json.parse(s) ~= nil or type(s) == 'string'
end
return out
"#;

    #[test]
    fn tojson_that_changes_the_tables_being_walked_is_survived() {
        let lua = Lua::new();
        let json = register(&lua).expect("json");
        let out: Vec<bool> = lua.load(MUTATIONS).call(json).expect("mutations");
        assert_eq!(out, vec![true; 6]);
    }
}
