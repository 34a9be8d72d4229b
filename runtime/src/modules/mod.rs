//! The native modules, listed once. Each is `modules/<name>.rs` with a `register` that builds
//! its table; `require` finds them in `package.preload` under their luvit names.

pub mod http;
pub mod json;
pub mod uv;

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
    Ok(())
}
