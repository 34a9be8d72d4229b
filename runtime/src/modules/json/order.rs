//! `json.stringify`'s `state.keyorder` (dkjson's option): a list of keys that every object
//! writes first, in the list's order, before its other keys (in `next`'s order). The list is
//! copied once per call (`copy_keyorder`), so a `__tojson` that changes the script's table
//! changes nothing mid-walk; objects then take the C API walk (`encode.rs`) through
//! `ordered_object` — the fast walk (`walk.rs`) is left to the common case, with no order.

use std::ffi::c_int;

use mlua::ffi;

use super::encode::{skipped, Enc, Step};

/// Absolute stack indices of `state.keyorder` and of its copy (`copy_keyorder`).
#[derive(Clone, Copy)]
pub struct Order {
    /// The script's table (handed on to `__tojson` in its state).
    pub given: c_int,
    /// The keys, and the set of them.
    pub list: c_int,
    pub set: c_int,
}

/// Pushes a copy of the key list at `ko` (entries 1 to `#ko`, read raw), then the set of
/// its keys; returns how many keys the copy holds. Left out: nil and NaN (no table holds
/// them as keys) and keys listed before.
///
/// # Safety
/// `ko` is a table slot of the live state `l`; the calls may raise a Lua error (memory),
/// so this runs inside a protected call.
pub unsafe fn copy_keyorder(l: *mut ffi::lua_State, ko: c_int) -> c_int {
    let n = ffi::lua_objlen(l, ko).min(c_int::MAX as usize) as c_int;
    // (5 slots at most above `ko`'s: within the 20 a C function is given)
    ffi::lua_createtable(l, n.min(1 << 12), 0);
    ffi::lua_createtable(l, 0, n.min(1 << 12));
    let (list, set) = (ffi::lua_gettop(l) - 1, ffi::lua_gettop(l));
    let mut m = 0;
    for i in 1..=n {
        ffi::lua_rawgeti_(l, ko, i);
        let t = ffi::lua_type(l, -1);
        let nan = t == ffi::LUA_TNUMBER && ffi::lua_tonumber(l, -1).is_nan();
        if t == ffi::LUA_TNIL || nan {
            ffi::lua_settop(l, -2);
            continue;
        }
        ffi::lua_pushvalue(l, -1);
        ffi::lua_rawget(l, set);
        let repeated = ffi::lua_type(l, -1) != ffi::LUA_TNIL;
        ffi::lua_settop(l, -2);
        if repeated {
            ffi::lua_settop(l, -2);
            continue;
        }
        ffi::lua_pushvalue(l, -1);
        ffi::lua_pushboolean(l, 1);
        ffi::lua_rawset(l, set);
        m += 1;
        ffi::lua_rawseti_(l, list, m);
    }
    m
}

impl Enc {
    /// An object under `state.keyorder`: the keys of the list (`order`: the slots of its
    /// copy) that the table holds, in the list's order (read with a raw get: `__index` is
    /// not asked, and a key matches as Lua compares keys, so `1` is not `"1"`); then its
    /// other keys, in `next`'s order. Values an object leaves out are left out here too.
    #[inline(never)]
    pub(super) unsafe fn ordered_object(&mut self, idx: c_int, order: Order, level: usize) -> Step {
        let l = self.l;
        let (list, set) = (order.list, order.set);
        self.out.push(b'{');
        let mut first = true;
        let (key, val) = (ffi::lua_gettop(l) + 1, ffi::lua_gettop(l) + 2);
        let n = ffi::lua_objlen(l, list).min(c_int::MAX as usize) as c_int;
        for i in 1..=n {
            ffi::lua_rawgeti_(l, list, i);
            ffi::lua_pushvalue(l, key);
            ffi::lua_rawget(l, idx);
            let vt = ffi::lua_type(l, val);
            if vt != ffi::LUA_TNIL && !skipped(vt) {
                self.entry(key, val, vt, level, &mut first)?;
            }
            ffi::lua_settop(l, key - 1);
        }
        ffi::lua_pushnil(l);
        while ffi::lua_next(l, idx) != 0 {
            let vt = ffi::lua_type(l, val);
            // written above, or left out
            ffi::lua_pushvalue(l, key);
            ffi::lua_rawget(l, set);
            let listed = ffi::lua_type(l, -1) != ffi::LUA_TNIL;
            ffi::lua_settop(l, val);
            if listed || skipped(vt) {
                ffi::lua_settop(l, key);
                continue;
            }
            self.entry(key, val, vt, level, &mut first)?;
            ffi::lua_settop(l, key);
        }
        self.close_object(level, first);
        Ok(())
    }
}
