//! The main Lua state's allocator: mimalloc, called straight from LuaJIT's `lua_Alloc` hook.
//!
//! A Lua program makes and frees many small objects (tables, their hash parts, strings), and a
//! JSON document of 6 MB is 160,000 of them per parse. LuaJIT's built-in allocator (a dlmalloc)
//! spends much of that time in `free`, merging neighbours into its trees of large chunks;
//! mimalloc frees into per-page lists. Measured on tests/bench/json.lua (CPU time, median of
//! 9 runs each): json.parse 27.5 ms -> 23.5 ms, stringify 18.1 -> 18.5. Rust's global
//! allocator through mlua's accounting wrapper was slower than either (57 ms then, against
//! LuaJIT's 45). Idle RSS stays under 5 MB (mimalloc's first pages replace LuaJIT's arena;
//! `runtime/startup-order.txt` must be regenerated when the binary's symbols change, see
//! tests/bench/order/gen.py).
//!
//! `LUVIT_LUA_ALLOC=luajit` in the environment selects LuaJIT's own allocator instead (to
//! compare, or to rule the allocator out).

use std::ffi::c_void;

use mlua::ffi;

/// LuaJIT's allocator hook over mimalloc: `nsize == 0` frees, a null `ptr` allocates, the
/// rest reallocates. A shrink never fails (Lua's contract for allocators): if mimalloc cannot
/// move the block to a smaller one, the old block, big enough, stays.
unsafe extern "C" fn mi_alloc(
    _ud: *mut c_void,
    ptr: *mut c_void,
    osize: usize,
    nsize: usize,
) -> *mut c_void {
    if nsize == 0 {
        libmimalloc_sys::mi_free(ptr);
        std::ptr::null_mut()
    } else if ptr.is_null() {
        libmimalloc_sys::mi_malloc(nsize)
    } else {
        let p = libmimalloc_sys::mi_realloc(ptr, nsize);
        if p.is_null() && nsize <= osize {
            return ptr;
        }
        p
    }
}

/// A new LuaJIT state (no libraries opened) on mimalloc, or on LuaJIT's own allocator when
/// `LUVIT_LUA_ALLOC=luajit` or LuaJIT refuses an outside allocator (a build without GC64).
/// Null when out of memory.
///
/// # Safety
/// The caller owns the state (closes it, or lets the process end with it).
pub unsafe fn new_state() -> *mut ffi::lua_State {
    if std::env::var_os("LUVIT_LUA_ALLOC").is_some_and(|v| v == "luajit") {
        return ffi::luaL_newstate();
    }
    let state = ffi::lua_newstate(mi_alloc, std::ptr::null_mut());
    if state.is_null() {
        return ffi::luaL_newstate();
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The state runs on mimalloc, through growth, shrinking (a table emptied and collected,
    /// a string buffer reused) and `lua_close`, which frees every object through the hook.
    #[test]
    fn a_state_on_mimalloc_allocates_shrinks_and_frees() {
        // SAFETY: a state of our own, closed at the end; chunks run in protected calls.
        unsafe {
            let l = new_state();
            assert!(!l.is_null());
            let mut ud = std::ptr::null_mut();
            let f = ffi::lua_getallocf(l, &mut ud);
            if std::env::var_os("LUVIT_LUA_ALLOC").is_none() {
                assert!(
                    std::ptr::fn_addr_eq(f, mi_alloc as ffi::lua_Alloc),
                    "not on mimalloc"
                );
            }
            ffi::luaL_openlibs(l);
            let code = c"local t = {}
                for i = 1, 200000 do t[i] = ('x'):rep(i % 300) .. i end
                local n = 0
                for i = 1, #t do n = n + #t[i] end
                for i = 1, #t do t[i] = nil end
                collectgarbage(); collectgarbage()
                local parts = {}
                for i = 1, 1000 do parts[i] = tostring(i) end
                return n, #table.concat(parts, ',')";
            assert_eq!(ffi::luaL_loadstring(l, code.as_ptr()), 0);
            assert_eq!(ffi::lua_pcall(l, 0, 2, 0), 0);
            assert!(ffi::lua_tonumber(l, -2) > 30_000_000.0);
            assert_eq!(ffi::lua_tonumber(l, -1), 3892.0);
            ffi::lua_close(l);
        }
    }
}
