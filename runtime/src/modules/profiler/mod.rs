//! `require('profiler')`: the profilers driven from Lua. One file per profiler adds its
//! functions to the module's table; the profilers themselves live in devtools' `profile/`.

pub mod heap;

use mlua::{Lua, Table};

/// Builds the `profiler` module's table.
pub fn register(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    heap::register(lua, &t)?;
    Ok(t)
}
