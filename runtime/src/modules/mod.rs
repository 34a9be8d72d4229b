//! The native modules, listed once. Each is `modules/<name>.rs` with a `register` that builds
//! its table; `require` finds them in `package.preload` under their luvit names. `zlib-native`,
//! `crypto-native`, `dns-native`, `tls-native` and `http-parser` are internal: `lib/zlib.lua`,
//! `lib/crypto.lua`, `lib/dns.lua`, `lib/tls.lua` and `lib/http*.lua` wrap them (the Lua side
//! owns the API, its errors, callbacks and streams; Rust does the byte work).

pub mod crypto;
pub mod dns;
pub mod http;
pub mod json;
pub mod profiler;
pub mod tls;
pub mod uv;
pub mod zlib;

use std::cell::RefCell;

use mlua::{Lua, Table};

/// Installs every native module into `package.preload`. `uv` is built now (the bootstrap
/// needs it); the others on their first `require`: most programs load few of them, and
/// building them all made a third of start-up's work and memory.
pub fn install(lua: &Lua) -> mlua::Result<()> {
    let preload: Table = lua.globals().get::<Table>("package")?.get("preload")?;
    let uv = uv::register(lua)?;
    preload.set("uv", lua.create_function(move |_, ()| Ok(uv.clone()))?)?;
    preload.set(
        "luv",
        lua.create_function(|lua, ()| {
            let require: mlua::Function = lua.globals().get("require")?;
            require.call::<Table>("uv")
        })?,
    )?;
    lazy(lua, &preload, "http-parser", http::register)?;
    lazy(lua, &preload, "json", json::register)?;
    lazy(lua, &preload, "profiler", profiler::register)?;
    lazy(lua, &preload, "zlib-native", zlib::register)?;
    lazy(lua, &preload, "dns-native", dns::register)?;
    lazy(lua, &preload, "crypto-native", crypto::register)?;
    lazy(lua, &preload, "tls-native", tls::register)?;
    Ok(())
}

/// `n` zeroed bytes, or `None` when the allocator refuses. For sizes a program chooses:
/// `vec![0; n]` aborts the process when the allocation fails (`crypto-native.random(1e15)`
/// did); this fails like any call that runs out of memory. Zeroed by the allocator (calloc:
/// pages the kernel has not handed out cost nothing until touched), as `vec!` does.
pub fn try_zeroed(n: usize) -> Option<Vec<u8>> {
    if n == 0 {
        return Some(Vec::new());
    }
    let layout = std::alloc::Layout::array::<u8>(n).ok()?;
    // SAFETY: the layout's size is not zero (checked above).
    let p = unsafe { std::alloc::alloc_zeroed(layout) };
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` came from the global allocator with the layout of a `Vec<u8>` of capacity
    // `n`, and its `n` bytes are initialized (zeroed).
    Some(unsafe { Vec::from_raw_parts(p, n, n) })
}

/// `package.preload[name]`: the module's table, built by `build` the first time and the same
/// table every time after (a program that clears `package.loaded` gets it back, not a twin).
fn lazy(
    lua: &Lua,
    preload: &Table,
    name: &str,
    build: fn(&Lua) -> mlua::Result<Table>,
) -> mlua::Result<()> {
    let made: RefCell<Option<Table>> = RefCell::new(None);
    let loader = lua.create_function(move |lua, ()| {
        if let Some(t) = made.borrow().as_ref() {
            return Ok(t.clone());
        }
        let t = build(lua)?;
        *made.borrow_mut() = Some(t.clone());
        Ok(t)
    })?;
    preload.set(name, loader)
}
