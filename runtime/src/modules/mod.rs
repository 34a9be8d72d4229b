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

use mlua::{Lua, Table};

/// Installs every native module into `package.preload`.
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
    let http = http::register(lua)?;
    preload.set(
        "http-parser",
        lua.create_function(move |_, ()| Ok(http.clone()))?,
    )?;
    let json = json::register(lua)?;
    preload.set("json", lua.create_function(move |_, ()| Ok(json.clone()))?)?;
    let profiler = profiler::register(lua)?;
    preload.set(
        "profiler",
        lua.create_function(move |_, ()| Ok(profiler.clone()))?,
    )?;
    let zlib = zlib::register(lua)?;
    preload.set(
        "zlib-native",
        lua.create_function(move |_, ()| Ok(zlib.clone()))?,
    )?;
    let dns = dns::register(lua)?;
    preload.set(
        "dns-native",
        lua.create_function(move |_, ()| Ok(dns.clone()))?,
    )?;
    let crypto = crypto::register(lua)?;
    preload.set(
        "crypto-native",
        lua.create_function(move |_, ()| Ok(crypto.clone()))?,
    )?;
    let tls = tls::register(lua)?;
    preload.set(
        "tls-native",
        lua.create_function(move |_, ()| Ok(tls.clone()))?,
    )?;
    Ok(())
}
