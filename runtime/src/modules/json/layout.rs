//! A read-only view of LuaJIT's values for `json.stringify`'s fast walk (`walk.rs`): how a
//! stack slot, a string and a table are laid out in memory, so a table's array and hash parts
//! can be read in place instead of through `lua_next` (which finds the previous key's slot
//! again by hashing it, on every call) and a C API call per value.
//!
//! Why this is allowed at all: the LuaJIT we link is vendored and pinned by Cargo.lock
//! (`luajit-src` through mlua), built for x86-64/arm64 in GC64 mode, so these layouts are
//! fixed for our build. The facts below are LuaJIT's documented object layout (lj_obj.h's
//! GC64 value format: NaN-boxed 64-bit slots, a 4-bit internal tag above a 47-bit pointer),
//! declared here in our own terms. They are never trusted blindly: [`Layout::get`] runs a
//! self-check once per process that builds probe values and tables through the public C API
//! and compares what these readers see with what `lua_next`, `lua_tolstring`,
//! `lua_topointer` and `lua_gettop` say. If anything disagrees (another LuaJIT, a 32-bit
//! build, a changed struct), the check fails and `json.stringify` keeps to the C API walk.
//!
//! Only reads, plus pushing and popping whole slots on the Lua stack exactly as
//! `lua_pushvalue`/`lua_settop` do (within space reserved with `lua_checkstack`): nothing is
//! ever written into a table, so the collector's write barrier is not involved.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicU8, Ordering};

use mlua::ffi;

/// A Lua value as LuaJIT stores it in a stack slot or a table (GC64 format).
pub type Tv = u64;

/// The internal tag of a value: its top 17 bits, sign-extended. Numbers (plain doubles) are
/// every tag below [`T_NUM`]; the rest are `!n` for a small `n`.
#[inline(always)]
pub fn tag(tv: Tv) -> u32 {
    ((tv as i64) >> 47) as u32
}

pub const T_NIL: u32 = !0;
pub const T_FALSE: u32 = !1;
pub const T_TRUE: u32 = !2;
pub const T_STR: u32 = !4;
pub const T_THREAD: u32 = !6;
pub const T_FUNC: u32 = !8;
pub const T_TAB: u32 = !11;
pub const T_UDATA: u32 = !12;
/// Tags below this are numbers.
pub const T_NUM: u32 = !13;

/// The object address held by a value of a collectable type (string, table, ...).
#[inline(always)]
pub fn gcptr(tv: Tv) -> *const u8 {
    (tv & ((1u64 << 47) - 1)) as usize as *const u8
}

/// The value that refers to the table at `t`.
#[inline(always)]
pub fn tab_value(t: *const u8) -> Tv {
    ((T_TAB as u64) << 47) | (t as u64)
}

// Field offsets (bytes), GC64. Every object starts with an 8-byte link and two bytes (mark,
// type).
/// `lua_State`: the base of the current frame and the first free slot.
const L_BASE: usize = 32;
const L_TOP: usize = 40;
/// A string: its length (u32); the bytes follow the 24-byte header.
const STR_LEN: usize = 20;
const STR_DATA: usize = 24;
/// A table: the array part (slots for keys 0..asize-1), the metatable, the hash part, and
/// the array size and the hash mask (hash part size - 1), both u32.
const TAB_ARRAY: usize = 16;
const TAB_META: usize = 32;
const TAB_NODE: usize = 40;
const TAB_ASIZE: usize = 48;
const TAB_HMASK: usize = 52;

/// One hash part entry: value, key, then the chain link.
#[repr(C)]
pub struct Node {
    pub val: Tv,
    pub key: Tv,
    _next: u64,
}

/// The parts of a table, as read at one moment (they move when the table is resized).
#[derive(Clone, Copy)]
pub struct Tab {
    pub array: *const Tv,
    pub asize: u32,
    pub node: *const Node,
    pub hmask: u32,
}

/// The bytes of the string object at `s`.
///
/// # Safety
/// `s` is a live string object; the slice is used only while it stays alive.
#[inline(always)]
pub unsafe fn str_bytes<'a>(s: *const u8) -> &'a [u8] {
    let len = (s.add(STR_LEN) as *const u32).read() as usize;
    std::slice::from_raw_parts(s.add(STR_DATA), len)
}

/// The metatable of the table object at `t` (null when it has none).
///
/// # Safety
/// `t` is a live table object.
#[inline(always)]
pub unsafe fn tab_meta(t: *const u8) -> *const c_void {
    (t.add(TAB_META) as *const *const c_void).read()
}

/// The parts of the table object at `t`.
///
/// # Safety
/// `t` is a live table object.
#[inline(always)]
pub unsafe fn tab_parts(t: *const u8) -> Tab {
    Tab {
        array: (t.add(TAB_ARRAY) as *const *const Tv).read(),
        asize: (t.add(TAB_ASIZE) as *const u32).read(),
        node: (t.add(TAB_NODE) as *const *const Node).read(),
        hmask: (t.add(TAB_HMASK) as *const u32).read(),
    }
}

impl Tab {
    /// The array slot for key `i` (`i < asize`).
    #[inline(always)]
    pub unsafe fn slot(&self, i: u32) -> Tv {
        self.array.add(i as usize).read()
    }

    /// The `j`th hash entry (`j <= hmask`).
    #[inline(always)]
    pub unsafe fn node(&self, j: u32) -> &Node {
        &*self.node.add(j as usize)
    }
}

/// Proof that the self-check passed: the stack helpers and readers above may be used.
#[derive(Clone, Copy)]
pub struct Layout(());

/// 0: not checked yet, 1: the layout holds, 2: it does not.
static CHECKED: AtomicU8 = AtomicU8::new(0);

impl Layout {
    /// The layout, if it holds for this build (checked on first use, on the state `l`, which
    /// needs a few free stack slots and may allocate).
    ///
    /// # Safety
    /// `l` is a live state inside a protected call (the probes allocate).
    pub unsafe fn get(l: *mut ffi::lua_State) -> Option<Layout> {
        match CHECKED.load(Ordering::Relaxed) {
            1 => return Some(Layout(())),
            2 => return None,
            _ => {}
        }
        let ok = !forced_off() && check(l);
        CHECKED.store(if ok { 1 } else { 2 }, Ordering::Relaxed);
        ok.then_some(Layout(()))
    }

    fn top_ptr(self, l: *mut ffi::lua_State) -> *mut *mut Tv {
        (l as *mut u8).wrapping_add(L_TOP) as *mut *mut Tv
    }

    /// The value in absolute stack slot `idx` (1-based, within the current frame).
    ///
    /// # Safety
    /// `idx` is a valid absolute index of `l`.
    #[inline(always)]
    pub unsafe fn at(self, l: *mut ffi::lua_State, idx: c_int) -> Tv {
        let base = ((l as *const u8).add(L_BASE) as *const *const Tv).read();
        base.add(idx as usize - 1).read()
    }

    /// Pushes `tv`, as `lua_pushvalue` does.
    ///
    /// # Safety
    /// A free slot was reserved with `lua_checkstack`; `tv` is a value of a live object or not
    /// collectable.
    #[inline(always)]
    pub unsafe fn push(self, l: *mut ffi::lua_State, tv: Tv) {
        let top = self.top_ptr(l);
        (*top).write(tv);
        *top = (*top).add(1);
    }
}

/// `LUVIT_JSON_RAW=0` keeps `json.stringify` on the C API walk (to compare the two).
fn forced_off() -> bool {
    std::env::var_os("LUVIT_JSON_RAW").is_some_and(|v| v == "0")
}

/// The probes: values of each kind on the stack, and tables of every shape, each seen both
/// through the C API and through the readers above; true when they agree on everything.
unsafe fn check(l: *mut ffi::lua_State) -> bool {
    let lay = Layout(());
    if ffi::lua_checkstack(l, 16) == 0 {
        return false;
    }
    let top0 = ffi::lua_gettop(l);
    let ok = check_stack(l, lay) && check_string(l, lay) && check_tables(l, lay);
    ffi::lua_settop(l, top0);
    ok
}

/// The slot `lua_gettop` counts to and the frame base agree with what pushes do.
unsafe fn check_stack(l: *mut ffi::lua_State, lay: Layout) -> bool {
    let top = *lay.top_ptr(l);
    let base = ((l as *const u8).add(L_BASE) as *const *const Tv).read();
    if top.is_null() || base.is_null() || !top.is_aligned() || !base.is_aligned() {
        return false;
    }
    let n = ffi::lua_gettop(l);
    if (top as usize).wrapping_sub(base as usize) != n as usize * 8 {
        return false;
    }
    let probe = 1234.5f64;
    ffi::lua_pushnumber(l, probe);
    ffi::lua_pushboolean(l, 1);
    ffi::lua_pushboolean(l, 0);
    ffi::lua_pushnil(l);
    let after = *lay.top_ptr(l);
    if after != top.wrapping_add(4)
        || lay.at(l, n + 1) != probe.to_bits()
        || tag(lay.at(l, n + 2)) != T_TRUE
        || tag(lay.at(l, n + 3)) != T_FALSE
        || tag(lay.at(l, n + 4)) != T_NIL
    {
        return false;
    }
    // our push is lua_pushvalue
    lay.push(l, lay.at(l, n + 1));
    let same = ffi::lua_gettop(l) == n + 5 && ffi::lua_tonumber(l, -1) == probe;
    ffi::lua_settop(l, n);
    same && *lay.top_ptr(l) == top
}

/// A string's value points at an object whose length and bytes are where we read them.
unsafe fn check_string(l: *mut ffi::lua_State, lay: Layout) -> bool {
    let text = b"luvit json layout probe";
    ffi::lua_pushlstring(l, text.as_ptr() as *const _, text.len());
    let tv = lay.at(l, ffi::lua_gettop(l));
    let mut len = 0;
    let p = ffi::lua_tolstring(l, -1, &mut len);
    let ok = tag(tv) == T_STR
        && !p.is_null()
        && str_bytes(gcptr(tv)).as_ptr() == p as *const u8
        && str_bytes(gcptr(tv)) == text
        && len == text.len();
    ffi::lua_settop(l, -2);
    ok
}

/// Lua source of the probe tables: array parts with holes and key 0, hash parts small and
/// large (chains), keys of each kind, a metatable, an empty table.
const PROBES: &str = r#"
local t = {}
t[1] = setmetatable({ 10, 'two', true, [0] = 0.5, a = 'x', b = false, [2.5] = 1,
  [-1] = 'n', [100] = {}, [true] = 3 }, { __index = {} })
local big = { 1, 2, nil, 4 }
for i = 1, 70 do big['k' .. i] = i end
for i = 10, 200, 7 do big[i] = -i end
big[4] = nil
t[2] = big
t[3] = {}
local sparse = {}
sparse[3] = 'c'
sparse[1] = 'a'
sparse[1e9] = 'far'
t[4] = sparse
return t
"#;

unsafe fn check_tables(l: *mut ffi::lua_State, lay: Layout) -> bool {
    if ffi::luaL_loadbuffer(
        l,
        PROBES.as_ptr() as *const _,
        PROBES.len(),
        c"=json-probe".as_ptr(),
    ) != 0
        || ffi::lua_pcall(l, 0, 1, 0) != 0
    {
        return false;
    }
    let list = ffi::lua_gettop(l);
    for i in 1..=4 {
        ffi::lua_rawgeti_(l, list, i);
        let ok = check_table(l, lay, ffi::lua_gettop(l));
        ffi::lua_settop(l, list);
        if !ok {
            return false;
        }
    }
    true
}

/// The table at `idx`: its value, metatable and every entry in `lua_next`'s order.
unsafe fn check_table(l: *mut ffi::lua_State, lay: Layout, idx: c_int) -> bool {
    let tv = lay.at(l, idx);
    let t = gcptr(tv);
    if tag(tv) != T_TAB || t as *const c_void != ffi::lua_topointer(l, idx) {
        return false;
    }
    let mt = if ffi::lua_getmetatable(l, idx) != 0 {
        let p = ffi::lua_topointer(l, -1);
        ffi::lua_settop(l, -2);
        p
    } else {
        std::ptr::null()
    };
    if tab_meta(t) != mt {
        return false;
    }
    let parts = tab_parts(t);
    if (parts.array.is_null() && parts.asize != 0)
        || parts.node.is_null()
        || parts.asize > 1 << 27
        || parts.hmask > 1 << 26
        || !(parts.hmask as u64 + 1).is_power_of_two()
    {
        return false;
    }
    // the entries as we read them, in lua_next's order: array part, then hash part
    let mut mine = Vec::new();
    for i in 0..parts.asize {
        let v = parts.slot(i);
        if tag(v) != T_NIL {
            mine.push(((i as f64).to_bits(), v));
        }
    }
    for j in 0..=parts.hmask {
        let n = parts.node(j);
        if tag(n.val) != T_NIL {
            mine.push((n.key, n.val));
        }
    }
    let mut k = 0;
    ffi::lua_pushnil(l);
    while ffi::lua_next(l, idx) != 0 {
        let top = ffi::lua_gettop(l);
        let theirs = (lay.at(l, top - 1), lay.at(l, top));
        ffi::lua_settop(l, -2);
        if mine.get(k) != Some(&theirs) {
            ffi::lua_settop(l, idx);
            return false;
        }
        k += 1;
    }
    k == mine.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_holds_for_the_linked_luajit() {
        let lua = mlua::Lua::new();
        // SAFETY: raw API calls inside mlua's protected call on its state.
        let ok =
            unsafe { lua.exec_raw::<bool>((), |l| ffi::lua_pushboolean(l, check(l) as c_int)) };
        assert!(ok.expect("probe"), "LuaJIT layout self-check failed");
    }
}
