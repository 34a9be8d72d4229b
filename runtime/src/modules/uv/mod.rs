//! The `uv` module: luv's API (names, argument orders, `nil, "ENOENT: ...", "ENOENT"` errors)
//! implemented over tokio. One file per family of functions; this file lists them once.

pub mod chunk_token;
pub mod dns;
pub mod errors;
pub mod fast_write;
pub mod fs;
pub mod handle;
pub mod misc;
pub mod net;
pub mod origin;
pub mod process;
pub mod signal;
pub mod stream;
pub mod timer;
pub mod udp;
pub mod work;

use mlua::{Lua, Table};

/// Builds the `uv` table and the method table every handle shares.
pub fn register(lua: &Lua) -> mlua::Result<Table> {
    let mut r = handle::Reg::new(lua.create_table()?);
    handle::register(lua, &mut r)?;
    timer::register(lua, &mut r)?;
    misc::register(lua, &mut r)?;
    fs::register(lua, &mut r)?;
    net::register(lua, &mut r)?;
    fast_write::register(lua, &mut r)?;
    signal::register(lua, &mut r)?;
    process::register(lua, &mut r)?;
    udp::register(lua, &mut r)?;
    dns::register(lua, &mut r)?;
    work::register(lua, &mut r)?;
    origin::register(lua, &mut r)?;
    let uv = r.uv.clone();
    r.finish(lua)?;
    Ok(uv)
}

#[cfg(test)]
mod tests;
